//! "LabelMe 3.0".
