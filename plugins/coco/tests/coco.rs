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
