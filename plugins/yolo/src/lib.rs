//! Darknet "YOLO 1.1".
