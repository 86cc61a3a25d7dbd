//! CVAT XML formats: "CVAT for images 1.1", "CVAT for video 1.1" (export) and "CVAT 1.1" (import).
