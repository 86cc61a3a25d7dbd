//! `cvat-tests`: cross-crate tests (in `tests/it/`) and the little they share: where the reference data
//! is, and how to load the rich-A task.
//!
//! CLI end-to-end tests live with the binary, in `cli/tests/cli.rs`.

use cvat_format_api::{Dataset, ReadOptions};
use std::path::{Path, PathBuf};

/// `/work/shared` (beside the checkout). Panics when it is missing: the tests need it and must not pass
/// silently without it.
pub fn shared() -> PathBuf {
    let p = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared")).to_path_buf();
    assert!(
        p.join("formats/SPECS.md").is_file(),
        "{} (the shared reference data) is required by these tests",
        p.display()
    );
    p
}

/// The recorded rich-A task directory.
pub fn rich_a_dir() -> PathBuf {
    shared().join("cvat/exports/rich-A")
}

/// The rich-A task as the server holds it.
pub fn rich_a() -> Dataset {
    match Dataset::from_task_dir(&rich_a_dir()) {
        Ok(ds) => ds,
        Err(e) => panic!("cannot load rich-A: {e}"),
    }
}

/// What the server knows when a file is imported into rich-A: its labels and frames.
pub fn rich_a_hints() -> ReadOptions {
    let ds = rich_a();
    ReadOptions::default()
        .with_labels(ds.labels)
        .with_frames(ds.frames)
}
