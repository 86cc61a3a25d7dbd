//! "Ultralytics YOLO * 1.0" formats (detection, segmentation, pose, oriented boxes, classification, detection track).
