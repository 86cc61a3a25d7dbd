//! Shared helpers of the integration tests.
#![allow(dead_code)]

use cvat_format_api::{Dataset, DropReport, Format, Input, MemorySink, ReadOptions, WriteOptions};
use std::collections::BTreeMap;
use std::path::PathBuf;

pub fn shared(rel: &str) -> PathBuf {
    let p = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/")).join(rel);
    assert!(p.exists(), "shared data missing: {}", p.display());
    p
}

pub fn rich_a() -> Dataset {
    Dataset::from_task_dir(&shared("cvat/exports/rich-A")).expect("rich-A loads")
}

pub fn format(name: &str) -> Box<dyn Format> {
    match name {
        "CVAT for images 1.1" => Box::new(cvat_format_cvat::CvatImages),
        "CVAT for video 1.1" => Box::new(cvat_format_cvat::CvatVideo),
        "CVAT 1.1" => Box::new(cvat_format_cvat::CvatImport),
        _ => panic!("unknown format {name}"),
    }
}

pub fn write(name: &str, ds: &Dataset) -> (BTreeMap<String, Vec<u8>>, DropReport) {
    let mut sink = MemorySink::default();
    let report = format(name)
        .write(ds, &mut sink, &WriteOptions::default())
        .expect("write succeeds");
    (sink.into_files(), report)
}

pub fn read_bytes(name: &str, bytes: Vec<u8>, opts: &ReadOptions) -> cvat_format_api::Result<Dataset> {
    let input = Input::from_bytes(name, bytes).expect("input");
    format("CVAT 1.1").read(&input, opts)
}
