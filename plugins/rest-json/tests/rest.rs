//! Tests of "CVAT REST JSON" on the real server's recording of rich-A.

use cvat_format_api::{
    Dataset, Format, FormatError, Input, MemorySink, ReadOptions, Severity, WriteOptions,
};
use cvat_format_rest::RestJson;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

fn rich_a() -> PathBuf {
    let p = Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../../shared/cvat/exports/rich-A"
    ))
    .to_path_buf();
    assert!(
        p.join("annotations.json").is_file(),
        "../shared/cvat/exports/rich-A is required by these tests"
    );
    p
}

/// The three server answers of rich-A only (no images, exports...).
fn rich_a_files(names: &[&str]) -> BTreeMap<String, Vec<u8>> {
    names
        .iter()
        .map(|n| (n.to_string(), std::fs::read(rich_a().join(n)).unwrap()))
        .collect()
}

fn write(ds: &Dataset) -> BTreeMap<String, Vec<u8>> {
    let mut sink = MemorySink::default();
    let drops = RestJson
        .write(ds, &mut sink, &WriteOptions::default())
        .unwrap();
    assert!(drops.is_empty(), "nothing should be dropped: {drops}");
    sink.into_files()
}

#[test]
fn reads_the_recorded_task_directory_like_from_task_dir() {
    let expected = Dataset::from_task_dir(&rich_a()).unwrap();
    let input = Input::open(&rich_a()).unwrap();
    assert!(RestJson.sniff(&input) >= 90);
    let ds = RestJson.read(&input, &ReadOptions::default()).unwrap();
    assert_eq!(ds, expected);
    assert_eq!(ds.labels.len(), 9);
    assert_eq!(ds.frames.len(), 6);
    assert!(ds.task.is_some());
}

#[test]
fn write_then_read_is_lossless() {
    let ds = Dataset::from_task_dir(&rich_a()).unwrap();
    let files = write(&ds);
    let names: Vec<&str> = files.keys().map(String::as_str).collect();
    assert_eq!(
        names,
        [
            "annotations.json",
            "data_meta.json",
            "jobs.json",
            "labels.json",
            "task.json"
        ]
    );
    // the annotation file is the server's JSON, value for value
    let original: serde_json::Value =
        serde_json::from_slice(&std::fs::read(rich_a().join("annotations.json")).unwrap()).unwrap();
    let written: serde_json::Value = serde_json::from_slice(&files["annotations.json"]).unwrap();
    assert_eq!(written, original);

    let zip = cvat_format_api::io::zip_files(files).unwrap();
    let input = Input::from_bytes("task.zip", zip).unwrap();
    assert!(RestJson.sniff(&input) >= 90);
    let back = RestJson.read(&input, &ReadOptions::default()).unwrap();
    assert_eq!(back, ds);
}

#[test]
fn frame_subsets_survive() {
    let mut ds = Dataset::from_task_dir(&rich_a()).unwrap();
    ds.frames[1].subset = Some("train".into());
    let input = Input::from_files("t", write(&ds));
    let back = RestJson.read(&input, &ReadOptions::default()).unwrap();
    assert_eq!(back.frames[1].subset.as_deref(), Some("train"));
    assert_eq!(back.frames[0].subset, None);
}

#[test]
fn a_wrapping_folder_in_a_zip_is_found() {
    let files: BTreeMap<String, Vec<u8>> = rich_a_files(&["annotations.json", "labels.json"])
        .into_iter()
        .map(|(k, v)| (format!("rich-A/{k}"), v))
        .collect();
    let input = Input::from_bytes("x.zip", cvat_format_api::io::zip_files(files).unwrap()).unwrap();
    let ds = RestJson.read(&input, &ReadOptions::default()).unwrap();
    assert_eq!(ds.shapes.len(), 13);
    assert_eq!(ds.labels.len(), 9);
}

#[test]
fn a_lone_annotation_file_needs_labels() {
    let bytes = std::fs::read(rich_a().join("annotations.json")).unwrap();
    let input = Input::from_bytes("annotations.json", bytes.clone()).unwrap();
    let err = RestJson.read(&input, &ReadOptions::default()).unwrap_err();
    assert!(matches!(err, FormatError::Missing { .. }), "{err}");
    assert!(err.hint().unwrap().contains("--labels"));

    // a differently named file is recognised by its content
    let input = Input::from_bytes("job_15.json", bytes).unwrap();
    assert!(RestJson.sniff(&input) > 0);
    let labels = cvat_format_api::rest::parse_labels(
        "labels.json",
        &std::fs::read(rich_a().join("labels.json")).unwrap(),
    )
    .unwrap();
    let frames = cvat_format_api::rest::parse_frames(
        "data_meta.json",
        &std::fs::read(rich_a().join("data_meta.json")).unwrap(),
    )
    .unwrap();
    let opts = ReadOptions::default()
        .with_labels(labels.clone())
        .with_frames(frames.clone());
    let ds = RestJson.read(&input, &opts).unwrap();
    assert_eq!(ds.labels, labels);
    assert_eq!(ds.frames, frames);
    assert!(!RestJson.validate(&input, &opts).has_errors());
}

#[test]
fn other_json_is_not_claimed() {
    let coco =
        br#"{"licenses": [], "info": {}, "categories": [], "images": [], "annotations": []}"#;
    let input = Input::from_bytes("instances_default.json", coco.to_vec()).unwrap();
    assert_eq!(RestJson.sniff(&input), 0);
}

#[test]
fn validate_accepts_the_recording() {
    let input = Input::from_files(
        "rich-A",
        rich_a_files(&["annotations.json", "labels.json", "data_meta.json"]),
    );
    let diags = RestJson.validate(&input, &ReadOptions::default());
    assert!(diags.items().is_empty(), "{:?}", diags.items());
}

#[test]
fn validate_locates_every_broken_reference() {
    let mut files = rich_a_files(&["annotations.json", "labels.json", "data_meta.json"]);
    let mut ann: serde_json::Value = serde_json::from_slice(&files["annotations.json"]).unwrap();
    ann["shapes"][2]["label_id"] = serde_json::json!(999);
    ann["shapes"][4]["points"] = serde_json::json!([1.0, 2.0, 3.0]);
    ann["tags"][1]["frame"] = serde_json::json!(77);
    let dup_id = ann["shapes"][0]["id"].clone();
    ann["shapes"][1]["id"] = dup_id;
    files.insert("annotations.json".into(), serde_json::to_vec(&ann).unwrap());
    let input = Input::from_files("task", files);
    let diags = RestJson.validate(&input, &ReadOptions::default());
    let found: Vec<(String, String)> = diags
        .items()
        .iter()
        .filter(|d| d.severity == Severity::Error)
        .map(|d| {
            (
                d.code.clone(),
                d.location.json_path.clone().unwrap_or_default(),
            )
        })
        .collect();
    for (code, path) in [
        ("undeclared-label", "$.shapes[2]"),
        ("geometry", "$.shapes[4]"),
        ("unknown-frame", "$.tags[1]"),
        ("duplicate-id", "$.shapes[1].id"),
    ] {
        assert!(
            found.iter().any(|(c, p)| c == code && p == path),
            "{code} at {path} not in {found:?}"
        );
    }
    for d in diags.items() {
        assert!(d.location.file.ends_with("annotations.json"), "{d}");
    }
}

#[test]
fn truncated_files_fail_with_a_location_and_never_panic() {
    for name in ["annotations.json", "labels.json", "data_meta.json"] {
        let full = rich_a_files(&["annotations.json", "labels.json", "data_meta.json"]);
        let bytes = full[name].clone();
        let step = (bytes.len() / 300).max(1);
        for cut in (0..bytes.len()).step_by(step) {
            if bytes[cut..].iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            let mut files = full.clone();
            files.insert(name.to_string(), bytes[..cut].to_vec());
            let input = Input::from_files("task", files);
            match RestJson.read(&input, &ReadOptions::default()) {
                Err(e) => {
                    let d = e.to_diagnostic("task");
                    assert!(
                        d.location.line.is_some() || d.location.json_path.is_some(),
                        "{name} cut at {cut}: no location in {d}"
                    );
                    assert!(d.location.file.ends_with(name), "{name} cut at {cut}: {d}");
                }
                Ok(_) => panic!("{name} cut at {cut} of {} was accepted", bytes.len()),
            }
            assert!(RestJson
                .validate(&input, &ReadOptions::default())
                .has_errors());
        }
    }
}

#[test]
fn an_object_without_annotation_keys_is_refused() {
    let wrapped =
        br#"{"CVAT for images 1.1": {"version": 0, "tags": [], "shapes": [], "tracks": []}}"#;
    let input = Input::from_bytes("annotations.json", wrapped.to_vec()).unwrap();
    let err = RestJson.read(&input, &ReadOptions::default()).unwrap_err();
    let d = err.to_diagnostic("annotations.json");
    assert_eq!(d.code, "not-annotations");
    assert_eq!(d.location.json_path.as_deref(), Some("$"));
    // an empty task is fine
    let empty = br#"{"version": 3, "tags": [], "shapes": [], "tracks": []}"#;
    let input = Input::from_bytes("annotations.json", empty.to_vec()).unwrap();
    let ds = RestJson.read(&input, &ReadOptions::default()).unwrap();
    assert_eq!(ds.version, 3);
}
