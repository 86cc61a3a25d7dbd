//! "PASCAL VOC 1.1" and "Segmentation mask 1.1".
