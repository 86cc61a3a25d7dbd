//! `cvat-formats`: links every built-in format crate so that their `inventory` registrations are part of
//! the binary, and builds the registry from them.

// `extern crate` keeps each format crate linked even though nothing names its items: that is what makes
// its `inventory::submit!` registration visible to `Registry::builtin()`.
extern crate cvat_format_coco;
extern crate cvat_format_cvat;
extern crate cvat_format_datumaro;
extern crate cvat_format_labelme;
extern crate cvat_format_mot;
extern crate cvat_format_rest;
extern crate cvat_format_ultralytics;
extern crate cvat_format_voc;
extern crate cvat_format_yolo;

pub use cvat_format_api as api;
use cvat_format_api::{Registry, RegistryError};

/// The registry of every built-in format.
pub fn builtin_registry() -> Result<Registry, RegistryError> {
    Registry::builtin()
}
