//! COCO formats: "COCO 1.0" and "COCO Keypoints 1.0".
