//! `cvat-core`: what cvat-cli does, without any terminal drawing.
//!
//! - [`ops`]: offline use cases on annotation files: validate, convert.
pub mod ops;
