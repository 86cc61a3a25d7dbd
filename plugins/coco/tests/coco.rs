//! Integration tests of the COCO formats: fidelity against the real server's exports of rich-A, reading
//! them back as the server's re-import did, upstream samples, malformed files, truncation, round trips.

use cvat_format_api::{Dataset, Format, Input, MemorySink, ReadOptions, WriteOptions};
use cvat_format_coco::{Coco, CocoKeypoints};
use serde_json::Value;
use std::path::{Path, PathBuf};

fn shared(rel: &str) -> PathBuf {
    let p = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared")).join(rel);
    assert!(p.exists(), "shared data missing: {}", p.display());
    p
}

fn rich_a() -> Dataset {
    Dataset::from_task_dir(&shared("cvat/exports/rich-A")).expect("rich-A loads")
}

fn write_files(f: &dyn Format, ds: &Dataset) -> (std::collections::BTreeMap<String, Vec<u8>>, cvat_format_api::DropReport) {
    let mut sink = MemorySink::default();
    let report = f.write(ds, &mut sink, &WriteOptions::default()).expect("write");
    (sink.into_files(), report)
}

/// Structural comparison; returns the paths that differ.
fn diff(path: &str, a: &Value, b: &Value, out: &mut Vec<String>) {
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            let kx: Vec<&String> = x.keys().collect();
            let ky: Vec<&String> = y.keys().collect();
            if kx != ky {
                out.push(format!("{path}: keys {kx:?} vs {ky:?}"));
            }
            for (k, v) in x {
                if let Some(w) = y.get(k) {
                    diff(&format!("{path}.{k}"), v, w, out);
                }
            }
        }
        (Value::Array(x), Value::Array(y)) => {
            if x.len() != y.len() {
                out.push(format!("{path}: length {} vs {}", x.len(), y.len()));
            }
            for (i, (v, w)) in x.iter().zip(y).enumerate() {
                diff(&format!("{path}[{i}]"), v, w, out);
            }
        }
        (Value::Number(x), Value::Number(y)) => {
            // ints must stay ints and floats floats, as the server writes them
            if x.is_f64() != y.is_f64() || x.as_f64() != y.as_f64() {
                out.push(format!("{path}: {x} vs {y}"));
            }
        }
        _ => {
            if a != b {
                out.push(format!("{path}: {a} vs {b}"));
            }
        }
    }
}

#[test]
fn coco_export_of_rich_a_matches_the_real_server() {
    let (files, report) = write_files(&Coco, &rich_a());
    assert_eq!(files.keys().collect::<Vec<_>>(), vec!["annotations/instances_default.json"]);
    let ours: Value = serde_json::from_slice(&files["annotations/instances_default.json"]).unwrap();
    let real: Value = serde_json::from_slice(&std::fs::read(shared("cvat/exports/rich-A/export/COCO_1.0/annotations/instances_default.json")).unwrap()).unwrap();
    let mut d = Vec::new();
    diff("$", &ours, &real, &mut d);
    assert!(d.is_empty(), "differences:\n{}", d.join("\n"));
    assert_eq!(report.count("tags"), 2);
}

#[test]
fn keypoints_export_of_rich_a_matches_the_real_server() {
    let (files, _) = write_files(&CocoKeypoints, &rich_a());
    assert_eq!(files.keys().collect::<Vec<_>>(), vec!["annotations/person_keypoints_default.json"]);
    let ours: Value = serde_json::from_slice(&files["annotations/person_keypoints_default.json"]).unwrap();
    let real: Value = serde_json::from_slice(&std::fs::read(shared("cvat/exports/rich-A/export/COCO_Keypoints_1.0/annotations/person_keypoints_default.json")).unwrap()).unwrap();
    let mut d = Vec::new();
    diff("$", &ours, &real, &mut d);
    assert!(d.is_empty(), "differences:\n{}", d.join("\n"));
}

#[test]
fn exports_are_byte_identical_to_the_real_files() {
    let ds = rich_a();
    for (f, rel, real) in [
        (&Coco as &dyn Format, "annotations/instances_default.json", "cvat/exports/rich-A/export/COCO_1.0/annotations/instances_default.json"),
        (&CocoKeypoints, "annotations/person_keypoints_default.json", "cvat/exports/rich-A/export/COCO_Keypoints_1.0/annotations/person_keypoints_default.json"),
    ] {
        let (files, _) = write_files(f, &ds);
        let real = std::fs::read(shared(real)).unwrap();
        assert_eq!(String::from_utf8_lossy(&files[rel]), String::from_utf8_lossy(&real), "{rel}");
    }
}

/// A comparable form of the annotations: no ids, label and spec ids shifted by the given offsets,
/// attributes sorted, shapes and tracks sorted.
fn normalized(v: &Value, label_off: i64, spec_off: i64) -> Value {
    fn walk(v: &mut Value, lo: i64, so: i64) {
        match v {
            Value::Object(m) => {
                m.remove("id");
                if let Some(Value::Number(n)) = m.get("label_id").cloned() {
                    m.insert("label_id".into(), Value::from(n.as_i64().unwrap() - lo));
                }
                if let Some(Value::Number(n)) = m.get("spec_id").cloned() {
                    m.insert("spec_id".into(), Value::from(n.as_i64().unwrap() - so));
                }
                for (_, x) in m.iter_mut() {
                    walk(x, lo, so);
                }
                if let Some(Value::Array(a)) = m.get_mut("attributes") {
                    a.sort_by_key(|x| x["spec_id"].as_i64());
                }
                for key in ["shapes", "tracks", "elements"] {
                    if let Some(Value::Array(a)) = m.get_mut(key) {
                        a.sort_by_key(|x| x.to_string());
                    }
                }
            }
            Value::Array(a) => a.iter_mut().for_each(|x| walk(x, lo, so)),
            _ => {}
        }
    }
    let mut v = v.clone();
    walk(&mut v, label_off, spec_off);
    v
}

fn reimport_check(f: &dyn Format, export_dir: &str, reimport: &str, label_off: i64, spec_off: i64) {
    let task = rich_a();
    let input = Input::open(&shared(export_dir)).unwrap();
    let opts = ReadOptions::default().with_labels(task.labels.clone()).with_frames(task.frames.clone());
    let ds = f.read(&input, &opts).expect("reads the real export");
    let ours = normalized(&ds.annotations_json(), 0, 0);
    let real: Value = serde_json::from_slice(&std::fs::read(shared(reimport)).unwrap()).unwrap();
    let real = normalized(&real, label_off, spec_off);
    assert!(real["shapes"].as_array().unwrap().len() + real["tracks"].as_array().unwrap().len() > 0);
    for key in ["tags", "shapes", "tracks"] {
        let mut d = Vec::new();
        diff(&format!("$.{key}"), &ours[key], &real[key], &mut d);
        assert!(d.is_empty(), "{export_dir} {key}:\n{}\nours: {}\nreal: {}", d.join("\n"), ours[key], real[key]);
    }
}

// The re-import tasks were created with the same labels in the same order, so their label and attribute
// ids are rich-A's shifted by a constant (COCO 1.0 task: labels 43.. for 31.., specs 19.. for 13..;
// COCO Keypoints task: labels 62.. for 38..).
#[test]
fn reading_the_real_coco_export_gives_what_the_server_reimport_kept() {
    reimport_check(&Coco, "cvat/exports/rich-A/export/COCO_1.0", "cvat/exports/rich-A/reimport/COCO_1.0.json", 12, 6);
}

#[test]
fn reading_the_real_keypoints_export_gives_what_the_server_reimport_kept() {
    reimport_check(&CocoKeypoints, "cvat/exports/rich-A/export/COCO_Keypoints_1.0", "cvat/exports/rich-A/reimport/COCO_Keypoints_1.0.json", 24, 0);
}

/// Each malformed case of datumaro's COCO tests must give our diagnostic for the error datumaro raises.
#[test]
fn malformed_files_give_the_expected_located_errors() {
    let dir = shared("formats/coco/malformed");
    let expected: std::collections::BTreeMap<String, String> =
        serde_json::from_slice(&std::fs::read(dir.join("EXPECTED.json")).unwrap()).unwrap();
    assert_eq!(expected.len(), 23);
    // datumaro error -> (our code, JSON path, a word the message must contain)
    let map = |err: &str| -> Option<(&'static str, &'static str, &'static str)> {
        let field: &'static str = leak(err.rsplit_once('(').map(|(_, f)| f.trim_end_matches(')')).unwrap_or("").to_string());
        Some(match err {
            "none" => return None,
            e if e.starts_with("ItemImportError <- MissingFieldError") => ("missing-field", leak(format!("$.images[0].{field}")), field),
            e if e.starts_with("ItemImportError <- InvalidFieldTypeError") => ("field-type", leak(format!("$.images[0].{field}")), field),
            e if e.starts_with("AnnotationImportError <- MissingFieldError") => ("missing-field", leak(format!("$.annotations[0].{field}")), field),
            e if e.starts_with("MissingFieldError(") && ["images", "annotations", "categories"].contains(&field) => ("missing-field", leak(format!("$.{field}")), field),
            e if e.starts_with("MissingFieldError(") => ("missing-field", leak(format!("$.categories[0].{field}")), field),
            e if e.starts_with("UndeclaredLabelError") => ("undeclared-label", "$.annotations[0].category_id", "2"),
            e if e.contains("Bbox has wrong value count") => ("bbox-values", "$.annotations[0].bbox", "wrong value count"),
            e if e.contains("not divisible by 2") => ("polygon-odd", "$.annotations[0].segmentation[0]", "not divisible by 2"),
            e if e.contains("at least 3") => ("polygon-too-few-points", "$.annotations[0].segmentation[0]", "at least 3"),
            e if e.contains("Unknown image id") => ("unknown-image-id", "$.annotations[0].image_id", "unknown image id"),
            other => panic!("unmapped expectation {other}"),
        })
    };
    fn leak(s: String) -> &'static str {
        Box::leak(s.into_boxed_str())
    }
    for (file, err) in &expected {
        let input = Input::open(&dir.join(file)).unwrap();
        let diags = Coco.validate(&input, &ReadOptions::default());
        let read = Coco.read(&input, &ReadOptions::default());
        match map(err) {
            None => {
                assert!(!diags.has_errors(), "{file}: {:?}", diags.items());
                assert!(read.is_ok(), "{file}: {read:?}");
            }
            Some((code, path, word)) => {
                let hit = diags.items().iter().find(|d| d.code == code && d.location.json_path.as_deref() == Some(path));
                let hit = hit.unwrap_or_else(|| panic!("{file}: expected {code} at {path}, got {:#?}", diags.items()));
                assert!(hit.message.to_lowercase().contains(&word.to_lowercase()), "{file}: {}", hit.message);
                assert!(hit.location.file.ends_with(file.as_str()));
                let e = read.expect_err(file);
                assert!(e.to_string().contains(path), "{file}: read error {e} has no location");
            }
        }
    }
}

/// One broken file with many problems: every one is reported, each at its own path.
#[test]
fn validation_reports_every_problem_in_one_run() {
    let json = r#"{"images":[{"id":1,"width":10,"height":10,"file_name":"a.jpg"},{"id":1,"width":10,"height":10,"file_name":"b.jpg"}],
    "categories":[{"id":1,"name":"a"},{"id":1,"name":"b"}],
    "annotations":[
      {"id":1,"image_id":7,"category_id":1,"segmentation":[],"area":1,"bbox":[0,0,1,1],"iscrowd":0},
      {"id":2,"image_id":1,"category_id":9,"segmentation":[],"area":1,"bbox":[0,0,1,1],"iscrowd":0},
      {"id":3,"image_id":1,"category_id":1,"segmentation":[[1,2,3]],"area":1,"bbox":[0,0,1,1],"iscrowd":0},
      {"id":4,"image_id":1,"category_id":1,"segmentation":{"counts":[0,5,6],"size":[10,10]},"area":1,"bbox":[0,0,1,1],"iscrowd":1},
      {"id":5,"image_id":1,"category_id":1,"segmentation":{"counts":[0,2,4],"size":[2,3]},"area":1,"bbox":[0,0,1,1],"iscrowd":1},
      {"id":6,"image_id":1,"category_id":1,"segmentation":[],"area":1,"bbox":[500,500,10,10],"iscrowd":0},
      {"id":6,"image_id":1,"category_id":1,"segmentation":[],"area":1,"bbox":[0,0,1],"iscrowd":0}
    ]}"#;
    let input = Input::from_bytes("bad.json", json.as_bytes().to_vec()).unwrap();
    let diags = Coco.validate(&input, &ReadOptions::default());
    let found: Vec<(String, String)> = diags
        .items()
        .iter()
        .map(|d| (d.code.clone(), d.location.json_path.clone().unwrap_or_default()))
        .collect();
    for (code, path) in [
        ("duplicate-id", "$.images[1].id"),
        ("duplicate-id", "$.categories[1].id"),
        ("unknown-image-id", "$.annotations[0].image_id"),
        ("undeclared-label", "$.annotations[1].category_id"),
        ("polygon-odd", "$.annotations[2].segmentation[0]"),
        ("rle-counts", "$.annotations[3].segmentation.counts"),
        ("rle-size", "$.annotations[4].segmentation.size"),
        ("geometry", "$.annotations[5].bbox"),
        ("duplicate-id", "$.annotations[6].id"),
        ("bbox-values", "$.annotations[6].bbox"),
    ] {
        assert!(found.iter().any(|(c, p)| c == code && p == path), "missing {code} at {path} in {found:#?}");
    }
}

#[test]
fn json_syntax_errors_are_located_by_line_and_column() {
    let input = Input::from_bytes("x.json", b"{\n \"images\": [\n  {\"id\": 1,,}\n ]\n}".to_vec()).unwrap();
    let e = Coco.read(&input, &ReadOptions::default()).unwrap_err();
    let d = e.to_diagnostic("x.json");
    assert_eq!(d.code, "json");
    assert_eq!((d.location.line, d.location.column), (Some(3), Some(12)));
}
