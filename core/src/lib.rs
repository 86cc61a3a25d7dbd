//! `cvat-core`: what cvat-cli does, without any terminal drawing.
//!
//! - [`client`]: the CVAT client: transport, background requests, uploads, task use cases.
//! - [`commands`]: use cases combining the client with local formats (create, upload, dump).
//! - [`ops`]: offline use cases on annotation files: validate, convert.
//! - [`progress`]: the [`progress::Reporter`] trait the binary implements to draw progress.
pub mod client;
pub mod commands;
pub mod ops;
pub mod progress;
