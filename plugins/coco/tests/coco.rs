//! Integration tests of the COCO formats: fidelity against the real server's exports of rich-A, reading
//! them back as the server's re-import did, upstream samples, malformed files, truncation, round trips.

use cvat_format_api::{
    AttributeSpec, Dataset, Format, Input, InputType, Label, MemorySink, ReadOptions, WriteOptions,
};
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

fn write_files(
    f: &dyn Format,
    ds: &Dataset,
) -> (
    std::collections::BTreeMap<String, Vec<u8>>,
    cvat_format_api::DropReport,
) {
    let mut sink = MemorySink::default();
    let report = f
        .write(ds, &mut sink, &WriteOptions::default())
        .expect("write");
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
    assert_eq!(
        files.keys().collect::<Vec<_>>(),
        vec!["annotations/instances_default.json"]
    );
    let ours: Value = serde_json::from_slice(&files["annotations/instances_default.json"]).unwrap();
    let real: Value = serde_json::from_slice(
        &std::fs::read(shared(
            "cvat/exports/rich-A/export/COCO_1.0/annotations/instances_default.json",
        ))
        .unwrap(),
    )
    .unwrap();
    let mut d = Vec::new();
    diff("$", &ours, &real, &mut d);
    assert!(d.is_empty(), "differences:\n{}", d.join("\n"));
    assert_eq!(report.count("tags"), 2);
}

#[test]
fn keypoints_export_of_rich_a_matches_the_real_server() {
    let (files, _) = write_files(&CocoKeypoints, &rich_a());
    assert_eq!(
        files.keys().collect::<Vec<_>>(),
        vec!["annotations/person_keypoints_default.json"]
    );
    let ours: Value =
        serde_json::from_slice(&files["annotations/person_keypoints_default.json"]).unwrap();
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
    let opts = ReadOptions::default()
        .with_labels(task.labels.clone())
        .with_frames(task.frames.clone());
    let ds = f.read(&input, &opts).expect("reads the real export");
    let ours = normalized(&ds.annotations_json(), 0, 0);
    let real: Value = serde_json::from_slice(&std::fs::read(shared(reimport)).unwrap()).unwrap();
    let real = normalized(&real, label_off, spec_off);
    assert!(
        real["shapes"].as_array().unwrap().len() + real["tracks"].as_array().unwrap().len() > 0
    );
    for key in ["tags", "shapes", "tracks"] {
        let mut d = Vec::new();
        diff(&format!("$.{key}"), &ours[key], &real[key], &mut d);
        assert!(
            d.is_empty(),
            "{export_dir} {key}:\n{}\nours: {}\nreal: {}",
            d.join("\n"),
            ours[key],
            real[key]
        );
    }
}

// The re-import tasks were created with the same labels in the same order, so their label and attribute
// ids are rich-A's shifted by a constant (COCO 1.0 task: labels 43.. for 31.., specs 19.. for 13..;
// COCO Keypoints task: labels 62.. for 38..).
#[test]
fn reading_the_real_coco_export_gives_what_the_server_reimport_kept() {
    reimport_check(
        &Coco,
        "cvat/exports/rich-A/export/COCO_1.0",
        "cvat/exports/rich-A/reimport/COCO_1.0.json",
        12,
        6,
    );
}

#[test]
fn reading_the_real_keypoints_export_gives_what_the_server_reimport_kept() {
    reimport_check(
        &CocoKeypoints,
        "cvat/exports/rich-A/export/COCO_Keypoints_1.0",
        "cvat/exports/rich-A/reimport/COCO_Keypoints_1.0.json",
        24,
        0,
    );
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
        let field: &'static str = leak(
            err.rsplit_once('(')
                .map(|(_, f)| f.trim_end_matches(')'))
                .unwrap_or("")
                .to_string(),
        );
        Some(match err {
            "none" => return None,
            e if e.starts_with("ItemImportError <- MissingFieldError") => {
                ("missing-field", leak(format!("$.images[0].{field}")), field)
            }
            e if e.starts_with("ItemImportError <- InvalidFieldTypeError") => {
                ("field-type", leak(format!("$.images[0].{field}")), field)
            }
            e if e.starts_with("AnnotationImportError <- MissingFieldError") => (
                "missing-field",
                leak(format!("$.annotations[0].{field}")),
                field,
            ),
            e if e.starts_with("MissingFieldError(")
                && ["images", "annotations", "categories"].contains(&field) =>
            {
                ("missing-field", leak(format!("$.{field}")), field)
            }
            e if e.starts_with("MissingFieldError(") => (
                "missing-field",
                leak(format!("$.categories[0].{field}")),
                field,
            ),
            e if e.starts_with("UndeclaredLabelError") => {
                ("undeclared-label", "$.annotations[0].category_id", "2")
            }
            e if e.contains("Bbox has wrong value count") => {
                ("bbox-values", "$.annotations[0].bbox", "wrong value count")
            }
            e if e.contains("not divisible by 2") => (
                "polygon-odd",
                "$.annotations[0].segmentation[0]",
                "not divisible by 2",
            ),
            e if e.contains("at least 3") => (
                "polygon-too-few-points",
                "$.annotations[0].segmentation[0]",
                "at least 3",
            ),
            e if e.contains("Unknown image id") => (
                "unknown-image-id",
                "$.annotations[0].image_id",
                "unknown image id",
            ),
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
                let hit = diags
                    .items()
                    .iter()
                    .find(|d| d.code == code && d.location.json_path.as_deref() == Some(path));
                let hit = hit.unwrap_or_else(|| {
                    panic!(
                        "{file}: expected {code} at {path}, got {:#?}",
                        diags.items()
                    )
                });
                assert!(
                    hit.message.to_lowercase().contains(&word.to_lowercase()),
                    "{file}: {}",
                    hit.message
                );
                assert!(hit.location.file.ends_with(file.as_str()));
                let e = read.expect_err(file);
                assert!(
                    e.to_string().contains(path),
                    "{file}: read error {e} has no location"
                );
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
        .map(|d| {
            (
                d.code.clone(),
                d.location.json_path.clone().unwrap_or_default(),
            )
        })
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
        assert!(
            found.iter().any(|(c, p)| c == code && p == path),
            "missing {code} at {path} in {found:#?}"
        );
    }
}

#[test]
fn json_syntax_errors_are_located_by_line_and_column() {
    let input = Input::from_bytes(
        "x.json",
        b"{\n \"images\": [\n  {\"id\": 1,,}\n ]\n}".to_vec(),
    )
    .unwrap();
    let e = Coco.read(&input, &ReadOptions::default()).unwrap_err();
    let d = e.to_diagnostic("x.json");
    assert_eq!(d.code, "json");
    assert_eq!((d.location.line, d.location.column), (Some(3), Some(12)));
}

fn sample(rel: &str) -> Input {
    Input::open(&shared(&format!(
        "formats/coco/cvat-ai_datumaro/tests/assets/coco_dataset/{rel}"
    )))
    .unwrap()
}

fn label_name(ds: &Dataset, id: i64) -> String {
    ds.label_index().label_name(id).to_string()
}

/// Expected content from datumaro's own test (`test_coco_format.py`, `test_can_import_instances`), as the
/// CVAT server keeps it: a box on a.jpg (train), a polygon with attributes and a crowd mask on b.jpg (val).
#[test]
fn upstream_instances_sample_reads_as_datumaro_expects() {
    let ds = Coco
        .read(&sample("coco_instances"), &ReadOptions::default())
        .unwrap();
    let names: Vec<(&str, u32, u32, Option<&str>)> = ds
        .frames
        .iter()
        .map(|f| (f.name.as_str(), f.width, f.height, f.subset.as_deref()))
        .collect();
    assert_eq!(
        names,
        vec![
            ("a.jpg", 10, 5, Some("train")),
            ("b.jpg", 5, 10, Some("val"))
        ]
    );
    let labels: Vec<&str> = ds.labels.iter().map(|l| l.name.as_str()).collect();
    assert_eq!(labels, vec!["a", "b", "c"]);
    assert_eq!(ds.shapes.len(), 3);
    let rect = &ds.shapes[0];
    assert_eq!(
        (rect.kind, rect.frame, label_name(&ds, rect.label_id)),
        (cvat_format_api::ShapeType::Rectangle, 0, "b".into())
    );
    assert_eq!(rect.points, vec![2.0, 2.0, 5.0, 3.0]);
    let poly = ds
        .shapes
        .iter()
        .find(|s| s.kind == cvat_format_api::ShapeType::Polygon)
        .unwrap();
    assert_eq!(poly.points, vec![0.0, 0.0, 1.0, 0.0, 1.0, 2.0, 0.0, 2.0]);
    assert_eq!(label_name(&ds, poly.label_id), "a");
    let idx = ds.label_index();
    let attrs: Vec<(String, String, cvat_format_api::InputType)> = poly
        .attributes
        .iter()
        .map(|a| {
            (
                idx.spec_name(a.spec_id).to_string(),
                a.value.clone(),
                idx.spec(a.spec_id).unwrap().input_type,
            )
        })
        .collect();
    assert_eq!(
        attrs,
        vec![
            ("x".into(), "1".into(), cvat_format_api::InputType::Number),
            ("y".into(), "hello".into(), cvat_format_api::InputType::Text)
        ]
    );
    let mask = ds
        .shapes
        .iter()
        .find(|s| s.kind == cvat_format_api::ShapeType::Mask)
        .unwrap();
    // counts [0, 20, 30] on 10x5 (h x w): the two left columns -> a full 2x10 box
    assert_eq!(mask.points, vec![0.0, 20.0, 0.0, 0.0, 1.0, 9.0]);
}

#[test]
fn upstream_keypoints_sample_reads_skeletons() {
    let ds = CocoKeypoints
        .read(&sample("coco_person_keypoints"), &ReadOptions::default())
        .unwrap();
    assert_eq!(ds.shapes.len(), 3);
    assert!(ds
        .shapes
        .iter()
        .all(|s| s.kind == cvat_format_api::ShapeType::Skeleton && s.elements.len() == 3));
    let a = ds.label_by_name("a").unwrap();
    let subs: Vec<&str> = a.sublabels.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(subs, vec!["a_1", "a_2", "a_3"]);
    // b declares no keypoint names: they are numbered
    let b = ds.label_by_name("b").unwrap();
    assert_eq!(
        b.sublabels
            .iter()
            .map(|s| s.name.as_str())
            .collect::<Vec<_>>(),
        vec!["1", "2", "3"]
    );
    // train: [0,0,0, 0,2,1, 4,1,2] -> absent, hidden, visible
    let s = ds.shapes.iter().find(|s| s.frame == 0).unwrap();
    let vis: Vec<(bool, bool)> = s.elements.iter().map(|e| (e.outside, e.occluded)).collect();
    assert_eq!(vis, vec![(true, false), (false, true), (false, false)]);
    assert_eq!(s.elements[2].points, vec![4.0, 1.0]);
    // joints survive in the skeleton's SVG: writing back gives the same "skeleton" lists
    let (files, _) = write_files(&CocoKeypoints, &ds);
    let v: Value =
        serde_json::from_slice(&files["annotations/person_keypoints_train.json"]).unwrap();
    assert_eq!(
        v["categories"][0]["skeleton"],
        serde_json::json!([[0, 1], [1, 2]])
    );
    assert_eq!(
        v["categories"][0]["keypoints"],
        serde_json::json!(["a_1", "a_2", "a_3"])
    );
}

#[test]
fn upstream_stuff_sample_reads_as_instances() {
    let ds = Coco
        .read(&sample("coco_stuff"), &ReadOptions::default())
        .unwrap();
    assert!(ds
        .shapes
        .iter()
        .any(|s| s.kind == cvat_format_api::ShapeType::Mask));
}

#[test]
fn other_coco_tasks_are_refused_with_a_clear_message() {
    for dir in [
        "coco_captions",
        "coco_labels",
        "coco_panoptic",
        "coco_image_info",
    ] {
        let e = Coco
            .read(&sample(dir), &ReadOptions::default())
            .unwrap_err();
        let msg = format!("{e} {}", e.hint().unwrap_or(""));
        assert!(
            msg.contains("instances_<subset>.json") && msg.contains("found only other COCO tasks"),
            "{dir}: {msg}"
        );
        let e = CocoKeypoints
            .read(&sample(dir), &ReadOptions::default())
            .unwrap_err();
        assert!(e.hint().unwrap_or("").contains("person_keypoints"), "{dir}");
    }
    // the combined sample holds instances next to the other tasks: only instances are read
    let ds = Coco.read(&sample("coco"), &ReadOptions::default()).unwrap();
    assert_eq!(ds.frames.len(), 2);
}

#[test]
fn sniffing_recognises_our_files() {
    assert!(Coco.sniff(&sample("coco_instances")) >= 90);
    assert_eq!(Coco.sniff(&sample("coco_captions")), 0);
    assert!(CocoKeypoints.sniff(&sample("coco_person_keypoints")) >= 90);
    let bare = Input::open(&shared(
        "cvat/exports/rich-A/export/COCO_1.0/annotations/instances_default.json",
    ))
    .unwrap();
    assert!(Coco.sniff(&bare) > CocoKeypoints.sniff(&bare));
    let bare = Input::open(&shared(
        "cvat/exports/rich-A/export/COCO_Keypoints_1.0/annotations/person_keypoints_default.json",
    ))
    .unwrap();
    assert!(CocoKeypoints.sniff(&bare) > Coco.sniff(&bare));
}

/// Every valid file cut at many offsets must fail with a located error, never panic.
#[test]
fn truncated_files_fail_cleanly() {
    let files = [
        shared("cvat/exports/rich-A/export/COCO_1.0/annotations/instances_default.json"),
        shared("cvat/exports/rich-A/export/COCO_Keypoints_1.0/annotations/person_keypoints_default.json"),
        shared("formats/coco/cvat-ai_datumaro/tests/assets/coco_dataset/coco_instances/annotations/instances_val.json"),
        shared("formats/coco/malformed/valid_template.json"),
    ];
    for path in files {
        let bytes = std::fs::read(&path).unwrap();
        let n = bytes.len();
        let offsets: Vec<usize> = if n <= 1500 {
            (0..n).collect()
        } else {
            (0..200).map(|k| k * n / 200).collect()
        };
        for cut in offsets {
            let input = Input::from_bytes("cut.json", bytes[..cut].to_vec()).unwrap();
            for f in [&Coco as &dyn Format, &CocoKeypoints] {
                let e = f.read(&input, &ReadOptions::default());
                let e = match e {
                    Err(e) => e,
                    Ok(_) => panic!("{}: cut at {cut} read without error", path.display()),
                };
                let d = e.to_diagnostic("cut.json");
                assert!(
                    d.location.line.is_some() || d.location.json_path.is_some(),
                    "{}: cut at {cut}: unlocated {d}",
                    path.display()
                );
                let v = f.validate(&input, &ReadOptions::default());
                assert!(v.has_errors());
            }
        }
    }
}

fn rest(ds: &Dataset) -> Value {
    normalized(&ds.annotations_json(), 0, 0)
}

#[test]
fn round_trip_of_the_real_exports_is_stable() {
    for (f, dir) in [
        (&Coco as &dyn Format, "cvat/exports/rich-A/export/COCO_1.0"),
        (
            &CocoKeypoints,
            "cvat/exports/rich-A/export/COCO_Keypoints_1.0",
        ),
    ] {
        let first = f
            .read(&Input::open(&shared(dir)).unwrap(), &ReadOptions::default())
            .unwrap();
        let (files, _) = write_files(f, &first);
        let again = f
            .read(
                &Input::from_files("rt.zip", files.clone()),
                &ReadOptions::default(),
            )
            .unwrap();
        assert_eq!(rest(&first), rest(&again), "{dir}");
        assert_eq!(first.labels, again.labels, "{dir}");
        // writing what was read again gives the same bytes (the first re-export differs from the real
        // file only by the documented losses: a grouped box does not come back, tracks follow shapes)
        let (files2, _) = write_files(f, &again);
        assert_eq!(files, files2, "{dir}");
    }
}

#[test]
fn a_zip_and_a_bare_json_are_read_alike() {
    let zip = Input::open(&shared("cvat/exports/rich-A/export/COCO_1.0.zip")).unwrap();
    let bare = Input::open(&shared(
        "cvat/exports/rich-A/export/COCO_1.0/annotations/instances_default.json",
    ))
    .unwrap();
    let a = Coco.read(&zip, &ReadOptions::default()).unwrap();
    let b = Coco.read(&bare, &ReadOptions::default()).unwrap();
    assert_eq!(rest(&a), rest(&b));
}

#[test]
fn writing_to_a_single_json_file_maps_the_one_file_onto_it() {
    let dir = tempfile::tempdir().unwrap();
    let dest = dir.path().join("out.json");
    let mut out =
        cvat_format_api::Output::create(&dest, cvat_format_api::OutputKind::File).unwrap();
    Coco.write(&rich_a(), &mut out, &WriteOptions::default())
        .unwrap();
    out.commit().unwrap();
    let real = std::fs::read(shared(
        "cvat/exports/rich-A/export/COCO_1.0/annotations/instances_default.json",
    ))
    .unwrap();
    assert_eq!(std::fs::read(&dest).unwrap(), real);
}

#[test]
fn subsets_get_their_own_files() {
    let mut ds = rich_a();
    for f in ds.frames.iter_mut() {
        f.subset = Some(if f.id < 3 { "train" } else { "val" }.into());
    }
    let (files, _) = write_files(&Coco, &ds);
    assert_eq!(
        files.keys().collect::<Vec<_>>(),
        vec![
            "annotations/instances_train.json",
            "annotations/instances_val.json"
        ]
    );
    let val: Value = serde_json::from_slice(&files["annotations/instances_val.json"]).unwrap();
    // image ids continue across subsets, annotation ids restart (as datumaro does)
    assert_eq!(val["images"][0]["id"], 4);
    assert_eq!(val["annotations"][0]["id"], 1);
    let back = Coco
        .read(&Input::from_files("x.zip", files), &ReadOptions::default())
        .unwrap();
    assert_eq!(
        back.frames
            .iter()
            .filter(|f| f.subset.as_deref() == Some("val"))
            .count(),
        3
    );
}

mod generated {
    //! Generated datasets written and read back equal themselves up to COCO's documented losses:
    //! z_order, source and ids are not kept; number attributes come back as Python floats ("10.0");
    //! a track's outside keyframe comes back as the frame after its last visible frame, holding that
    //! frame's geometry.
    use super::*;
    use cvat_format_api::geometry::{bitmap_to_cvat_rle, Bitmap};
    use cvat_format_api::{
        AttributeSpec, AttributeValue, Frame, InputType, Label, Shape, ShapeType, Track,
        TrackedShape,
    };
    use proptest::collection as pc;
    use proptest::prelude::*;

    const W: u32 = 64;
    const H: u32 = 48;

    fn labels() -> Vec<Label> {
        let spec = |id, name: &str, mutable, t, values: &[&str]| AttributeSpec {
            id,
            name: name.into(),
            mutable,
            input_type: t,
            default_value: values.first().map(|s| s.to_string()).unwrap_or_default(),
            values: values.iter().map(|s| s.to_string()).collect(),
        };
        vec![
            Label {
                id: 1,
                name: "car".into(),
                attributes: vec![
                    spec(1, "color", false, InputType::Select, &["red", "blue"]),
                    spec(2, "parked", true, InputType::Checkbox, &["false"]),
                    spec(3, "speed", true, InputType::Number, &["0", "100", "1"]),
                    spec(4, "plate", false, InputType::Text, &[]),
                ],
                ..Default::default()
            },
            Label {
                id: 2,
                name: "road".into(),
                ..Default::default()
            },
        ]
    }

    fn coord(max: u32) -> impl Strategy<Value = f64> {
        (0..max * 100).prop_map(|v| v as f64 / 100.0)
    }

    fn car_attrs() -> impl Strategy<Value = Vec<AttributeValue>> {
        (any::<bool>(), any::<bool>(), 0..100u32, "[a-z]{0,4}").prop_map(|(c, p, s, t)| {
            vec![
                AttributeValue {
                    spec_id: 1,
                    value: if c { "red" } else { "blue" }.into(),
                },
                AttributeValue {
                    spec_id: 2,
                    value: p.to_string(),
                },
                AttributeValue {
                    spec_id: 3,
                    value: s.to_string(),
                },
                AttributeValue {
                    spec_id: 4,
                    value: t,
                },
            ]
        })
    }

    fn shape() -> impl Strategy<Value = Shape> {
        let rect = (
            coord(W / 2),
            coord(H / 2),
            coord(W / 2),
            coord(H / 2),
            car_attrs(),
            any::<bool>(),
            prop_oneof![Just(0.0), Just(30.0)],
        )
            .prop_map(|(x, y, w, h, attributes, occluded, rotation)| Shape {
                label_id: 1,
                kind: ShapeType::Rectangle,
                points: vec![x, y, x + w, y + h]
                    .into_iter()
                    .map(|v| (v * 100.0).round() / 100.0)
                    .collect(),
                attributes,
                occluded,
                rotation,
                ..Default::default()
            });
        let poly = pc::vec((coord(W), coord(H)), 3..8).prop_map(|pts| Shape {
            label_id: 2,
            kind: ShapeType::Polygon,
            points: pts.into_iter().flat_map(|(x, y)| [x, y]).collect(),
            ..Default::default()
        });
        let mask = pc::vec((0..W, 0..H), 1..40).prop_map(|px| {
            let mut bm = Bitmap::new(W, H);
            for (x, y) in px {
                bm.set(x, y, true);
            }
            Shape {
                label_id: 2,
                kind: ShapeType::Mask,
                points: bitmap_to_cvat_rle(&bm).unwrap(),
                ..Default::default()
            }
        });
        prop_oneof![rect, poly, mask]
    }

    fn track() -> impl Strategy<Value = Track> {
        (
            0..3u32,
            pc::vec((1..3u32, coord(W / 2), coord(H / 2), car_attrs()), 1..4),
            any::<bool>(),
        )
            .prop_map(|(start, keys, close)| {
                let mut frame = start;
                let mut shapes = Vec::new();
                for (step, x, y, attrs) in keys {
                    shapes.push(TrackedShape {
                        kind: ShapeType::Rectangle,
                        frame,
                        points: vec![x, y, x + 10.0, y + 10.0]
                            .into_iter()
                            .map(|v| (v * 100.0).round() / 100.0)
                            .collect(),
                        attributes: attrs
                            .into_iter()
                            .filter(|a| a.spec_id == 2 || a.spec_id == 3)
                            .collect(),
                        ..Default::default()
                    });
                    frame += step;
                }
                if close {
                    let mut last = shapes.last().unwrap().clone();
                    last.frame = frame;
                    last.outside = true;
                    shapes.push(last);
                }
                Track {
                    label_id: 1,
                    frame: start,
                    shapes,
                    attributes: vec![
                        AttributeValue {
                            spec_id: 1,
                            value: "red".into(),
                        },
                        AttributeValue {
                            spec_id: 4,
                            value: "T".into(),
                        },
                    ],
                    ..Default::default()
                }
            })
    }

    fn dataset() -> impl Strategy<Value = Dataset> {
        (pc::vec((0..12u32, shape()), 0..12), pc::vec(track(), 0..3)).prop_map(
            |(shapes, tracks)| Dataset {
                labels: labels(),
                frames: (0..12)
                    .map(|i| Frame {
                        id: i,
                        name: format!("f{i:02}.jpg"),
                        width: W,
                        height: H,
                        subset: None,
                    })
                    .collect(),
                shapes: shapes
                    .into_iter()
                    .map(|(f, mut s)| {
                        s.frame = f;
                        s
                    })
                    .collect(),
                tracks,
                ..Default::default()
            },
        )
    }

    /// A comparable form: shapes as sorted JSON strings, numbers in attributes as f64.
    fn canon(ds: &Dataset) -> (Vec<String>, Vec<String>) {
        let attr = |a: &AttributeValue| {
            let v = if a.spec_id == 3 {
                a.value
                    .parse::<f64>()
                    .map(|f| f.to_string())
                    .unwrap_or(a.value.clone())
            } else {
                a.value.clone()
            };
            format!("{}={}", a.spec_id, v)
        };
        let mut shapes: Vec<String> = ds
            .shapes
            .iter()
            .map(|s| {
                let mut a: Vec<String> = s.attributes.iter().map(attr).collect();
                a.sort();
                let rot = if s.kind == ShapeType::Rectangle {
                    s.rotation
                } else {
                    0.0
                };
                format!(
                    "{} {:?} {} {:?} occ={} rot={rot} {:?}",
                    s.frame, s.kind, s.label_id, s.points, s.occluded, a
                )
            })
            .collect();
        shapes.sort();
        let mut tracks: Vec<String> = ds
            .tracks
            .iter()
            .map(|t| {
                let mut ks: Vec<String> = Vec::new();
                for k in &t.shapes {
                    if k.outside {
                        ks.push(format!("{} outside", k.frame));
                    } else {
                        let mut a: Vec<String> = k.attributes.iter().map(attr).collect();
                        a.sort();
                        ks.push(format!("{} {:?} {:?}", k.frame, k.points, a));
                    }
                }
                let mut a: Vec<String> = t.attributes.iter().map(attr).collect();
                a.sort();
                format!("{} {:?} {:?}", t.label_id, a, ks)
            })
            .collect();
        tracks.sort();
        (shapes, tracks)
    }

    /// What COCO keeps of a track: visible keyframes; an outside keyframe only as "the frame after the
    /// last visible one" (and nothing when the track runs to the end of the task).
    fn expected(ds: &Dataset) -> Dataset {
        let mut ds = ds.clone();
        let last_frame = ds.frames.len() as u32 - 1;
        for t in ds.tracks.iter_mut() {
            let mut out: Vec<TrackedShape> = Vec::new();
            let mut prev_visible: Option<TrackedShape> = None;
            for k in t.shapes.clone() {
                if k.outside {
                    if let Some(p) = prev_visible.take() {
                        out.push(TrackedShape {
                            frame: k.frame,
                            outside: true,
                            ..p
                        });
                    }
                } else {
                    prev_visible = Some(k.clone());
                    out.push(k);
                }
            }
            t.shapes = out;
            let _ = last_frame;
        }
        ds
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(128))]
        #[test]
        fn write_then_read_keeps_everything_coco_can_hold(ds in dataset()) {
            // group 0 only (grouped shapes merge by design) and tracks on their own frames
            let (files, _) = write_files(&Coco, &ds);
            let opts = ReadOptions::default().with_labels(ds.labels.clone()).with_frames(ds.frames.clone());
            let back = Coco.read(&Input::from_files("p.zip", files), &opts).unwrap();
            prop_assert_eq!(canon(&back), canon(&expected(&ds)));
        }
    }
}

#[test]
fn drop_reports_count_what_each_format_cannot_hold() {
    let ds = rich_a();
    let (_, r) = write_files(&Coco, &ds);
    // rich-A: 2 tags, 1 polyline, 1 points, 1 cuboid, 1 skeleton shape + 1 skeleton track, 1 ellipse,
    // groups 1 and 2 of two shapes each, one rotated rectangle, four shapes with z_order != 0
    assert_eq!(r.count("tags"), 2);
    assert_eq!(r.count("polylines (shapes and tracks)"), 1);
    assert_eq!(r.count("points (shapes and tracks)"), 1);
    assert_eq!(r.count("cuboids (shapes and tracks)"), 1);
    assert_eq!(r.count("skeletons (shapes and tracks)"), 2);
    assert_eq!(r.count("ellipses (written as crowd masks)"), 1);
    assert_eq!(r.count("grouped shapes merged into one annotation"), 2);
    assert_eq!(r.count("z_order values (COCO has no z order)"), 4);
    assert!(r
        .items
        .iter()
        .any(|(w, n)| w.starts_with("rotations") && *n == 1));
    let (_, r) = write_files(&CocoKeypoints, &ds);
    assert_eq!(r.count("masks (shapes and tracks)"), 1);
    assert!(r.count("rectangles and polygons not grouped with a skeleton") >= 3);
}

#[test]
fn absurd_coordinates_do_not_hang_or_panic() {
    let mut ds = rich_a();
    for s in ds.shapes.iter_mut() {
        if matches!(
            s.kind,
            cvat_format_api::ShapeType::Polygon | cvat_format_api::ShapeType::Ellipse
        ) {
            s.points[0] = 1e12;
        }
    }
    for f in [&Coco as &dyn Format, &CocoKeypoints] {
        let (files, _) = write_files(f, &ds);
        assert_eq!(files.len(), 1);
    }
}

/// The server's Datumaro export holds the rich-A ellipse as a compressed RLE string and its COCO export
/// holds the same mask as uncompressed counts: both forms must read into the same CVAT mask.
#[test]
fn compressed_and_uncompressed_rle_read_alike() {
    let dm: Value = serde_json::from_slice(
        &std::fs::read(shared(
            "cvat/exports/rich-A/export/Datumaro_1.0/annotations/default.json",
        ))
        .unwrap(),
    )
    .unwrap();
    let item = dm["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["id"] == "frame_01_800x600")
        .unwrap();
    let rle = item["annotations"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["type"] == "mask")
        .unwrap()["rle"]
        .clone();
    assert!(rle["counts"].is_string());
    let coco: Value = serde_json::from_slice(
        &std::fs::read(shared(
            "cvat/exports/rich-A/export/COCO_1.0/annotations/instances_default.json",
        ))
        .unwrap(),
    )
    .unwrap();
    let mut compressed = coco.clone();
    for a in compressed["annotations"].as_array_mut().unwrap() {
        if a["image_id"] == 2 && a["iscrowd"] == 1 {
            a["segmentation"] = rle.clone();
        }
    }
    let read = |v: &Value| {
        let input = Input::from_bytes("x.json", serde_json::to_vec(v).unwrap()).unwrap();
        Coco.read(&input, &ReadOptions::default()).unwrap()
    };
    let (a, b) = (read(&coco), read(&compressed));
    let mask = |d: &Dataset| {
        d.shapes
            .iter()
            .find(|s| s.frame == 1 && s.kind == cvat_format_api::ShapeType::Mask)
            .unwrap()
            .points
            .clone()
    };
    assert_eq!(mask(&a), mask(&b));
    assert_eq!(
        &mask(&a)[mask(&a).len() - 4..],
        &[340.0, 260.0, 460.0, 340.0]
    );
}

mod generated_skeletons {
    //! Generated skeletons (elements visible, occluded or outside) written as COCO Keypoints and read
    //! back are unchanged (points keep 2 decimals, as generated).
    use super::*;
    use cvat_format_api::{Frame, Label, LabelType, Shape, ShapeType};
    use proptest::collection as pc;
    use proptest::prelude::*;

    const W: u32 = 64;
    const H: u32 = 48;

    fn coord(max: u32) -> impl Strategy<Value = f64> {
        (0..max * 100).prop_map(|v| v as f64 / 100.0)
    }

    fn labels() -> Vec<Label> {
        let sub = |id, name: &str| Label {
            id,
            name: name.into(),
            kind: LabelType::Points,
            ..Default::default()
        };
        vec![Label {
            id: 10,
            name: "body".into(),
            kind: LabelType::Skeleton,
            sublabels: vec![sub(11, "head"), sub(12, "hand")],
            svg: r#"<line data-node-from="1" data-node-to="2"></line>"#.into(),
            ..Default::default()
        }]
    }

    fn element() -> impl Strategy<Value = (f64, f64, u8)> {
        (coord(W), coord(H), 0..3u8)
    }

    fn skeletons() -> impl Strategy<Value = Dataset> {
        pc::vec((0..6u32, element(), element(), any::<bool>()), 0..6).prop_map(|items| Dataset {
            labels: labels(),
            frames: (0..6)
                .map(|i| Frame {
                    id: i,
                    name: format!("f{i}.jpg"),
                    width: W,
                    height: H,
                    subset: None,
                })
                .collect(),
            shapes: items
                .into_iter()
                .map(|(frame, a, b, occluded)| {
                    let el = |label_id, (x, y, v): (f64, f64, u8)| Shape {
                        label_id,
                        kind: ShapeType::Points,
                        frame,
                        points: vec![x, y],
                        outside: v == 0,
                        occluded: v == 1,
                        ..Default::default()
                    };
                    Shape {
                        label_id: 10,
                        kind: ShapeType::Skeleton,
                        frame,
                        occluded,
                        elements: vec![el(11, a), el(12, b)],
                        ..Default::default()
                    }
                })
                .collect(),
            ..Default::default()
        })
    }

    fn canon(ds: &Dataset) -> Vec<String> {
        let mut v: Vec<String> = ds
            .shapes
            .iter()
            .map(|s| {
                let els: Vec<String> = s
                    .elements
                    .iter()
                    .map(|e| format!("{} {:?} {} {}", e.label_id, e.points, e.outside, e.occluded))
                    .collect();
                format!("{} {} occ={} {:?}", s.frame, s.label_id, s.occluded, els)
            })
            .collect();
        v.sort();
        v
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
        #[test]
        fn keypoints_write_then_read_keeps_skeletons(ds in skeletons()) {
            let (files, _) = write_files(&CocoKeypoints, &ds);
            let opts = ReadOptions::default().with_labels(ds.labels.clone()).with_frames(ds.frames.clone());
            let back = CocoKeypoints.read(&Input::from_files("k.zip", files), &opts).unwrap();
            prop_assert_eq!(canon(&back), canon(&ds));
        }
    }
}

mod generated_groups {
    //! Groups of boxes written as COCO 1.0 come back as one box per group: the union of the group's
    //! boxes, with the label and attributes of the largest (the first of equal ones).
    use super::*;
    use cvat_format_api::{
        AttributeSpec, AttributeValue, Frame, InputType, Label, Shape, ShapeType,
    };
    use proptest::collection as pc;
    use proptest::prelude::*;

    fn labels() -> Vec<Label> {
        let l = |id, name: &str| Label {
            id,
            name: name.into(),
            attributes: vec![AttributeSpec {
                id: id * 10,
                name: "note".into(),
                input_type: InputType::Text,
                ..Default::default()
            }],
            ..Default::default()
        };
        vec![l(1, "a"), l(2, "b")]
    }

    fn boxes() -> impl Strategy<Value = Vec<(i64, i64, [u32; 4], String)>> {
        pc::vec(
            (
                1..3i64,
                1..4i64,
                (0..50u32, 0..50u32, 1..30u32, 1..30u32),
                "[a-z]{1,3}",
            ),
            1..8,
        )
        .prop_map(|v| {
            v.into_iter()
                .map(|(label, group, (x, y, w, h), note)| {
                    (label, group, [x, y, x + w, y + h], note)
                })
                .collect()
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
        #[test]
        fn a_group_of_boxes_becomes_their_union(items in boxes()) {
            let ds = Dataset {
                labels: labels(),
                frames: vec![Frame { id: 0, name: "a.jpg".into(), width: 100, height: 100, subset: None }],
                shapes: items
                    .iter()
                    .map(|(label, group, b, note)| Shape {
                        label_id: *label,
                        kind: ShapeType::Rectangle,
                        group: *group,
                        points: b.iter().map(|v| *v as f64).collect(),
                        attributes: vec![AttributeValue { spec_id: label * 10, value: note.clone() }],
                        ..Default::default()
                    })
                    .collect(),
                ..Default::default()
            };
            let (files, _) = write_files(&Coco, &ds);
            let opts = ReadOptions::default().with_labels(ds.labels.clone()).with_frames(ds.frames.clone());
            let back = Coco.read(&Input::from_files("g.zip", files), &opts).unwrap();
            let mut want: Vec<String> = Vec::new();
            let mut groups: Vec<i64> = items.iter().map(|i| i.1).collect();
            groups.sort();
            groups.dedup();
            for g in groups {
                let members: Vec<&(i64, i64, [u32; 4], String)> = items.iter().filter(|i| i.1 == g).collect();
                let area = |b: &[u32; 4]| (b[2] - b[0]) * (b[3] - b[1]);
                let mut leader = members[0];
                for m in &members {
                    if area(&m.2) > area(&leader.2) {
                        leader = m;
                    }
                }
                let u = [
                    members.iter().map(|m| m.2[0]).min().unwrap(),
                    members.iter().map(|m| m.2[1]).min().unwrap(),
                    members.iter().map(|m| m.2[2]).max().unwrap(),
                    members.iter().map(|m| m.2[3]).max().unwrap(),
                ];
                want.push(format!("{} {:?} {}", leader.0, u.map(|v| v as f64), leader.3));
            }
            want.sort();
            let mut got: Vec<String> = back
                .shapes
                .iter()
                .map(|s| format!("{} {:?} {}", s.label_id, s.points, s.attributes.first().map(|a| a.value.as_str()).unwrap_or("")))
                .collect();
            got.sort();
            prop_assert_eq!(got, want);
        }
    }
}

#[test]
fn valid_files_validate_without_errors() {
    let cases: Vec<(&dyn Format, Input)> = vec![
        (&Coco, sample("coco_instances")),
        (&Coco, sample("coco")),
        (&Coco, sample("coco_stuff")),
        (&CocoKeypoints, sample("coco_person_keypoints")),
        (
            &Coco,
            Input::open(&shared("cvat/exports/rich-A/export/COCO_1.0.zip")).unwrap(),
        ),
        (
            &CocoKeypoints,
            Input::open(&shared("cvat/exports/rich-A/export/COCO_Keypoints_1.0.zip")).unwrap(),
        ),
    ];
    for (f, input) in cases {
        let d = f.validate(&input, &ReadOptions::default());
        assert!(!d.has_errors(), "{}: {:#?}", input.name(), d.items());
    }
}

#[test]
fn attributes_are_checked_against_the_task_labels() {
    let task = rich_a();
    let mut v: Value = serde_json::from_slice(
        &std::fs::read(shared(
            "cvat/exports/rich-A/export/COCO_1.0/annotations/instances_default.json",
        ))
        .unwrap(),
    )
    .unwrap();
    // $.annotations[1] is the car track on frame 0
    v["annotations"][1]["attributes"]["color"] = Value::from("purple");
    v["annotations"][1]["attributes"]["wheels"] = Value::from(4);
    let input = Input::from_bytes("x.json", serde_json::to_vec(&v).unwrap()).unwrap();
    let opts = ReadOptions::default()
        .with_labels(task.labels.clone())
        .with_frames(task.frames.clone());
    let d = Coco.validate(&input, &opts);
    let found: Vec<(&str, &str)> = d
        .items()
        .iter()
        .map(|d| {
            (
                d.code.as_str(),
                d.location.json_path.as_deref().unwrap_or(""),
            )
        })
        .collect();
    assert!(
        found.contains(&("attribute-value", "$.annotations[1].attributes.color")),
        "{found:?}"
    );
    assert!(
        found.contains(&("undeclared-attribute", "$.annotations[1].attributes.wheels")),
        "{found:?}"
    );
    // warnings only: the server imports such files (dropping the unknown attribute)
    assert!(!d.has_errors());
    assert!(Coco.read(&input, &opts).is_ok());
}

#[test]
fn both_formats_register_under_the_server_names() {
    let reg = cvat_format_api::Registry::builtin().expect("no name clash");
    assert_eq!(reg.resolve("COCO JSON 1.0").unwrap().info.name, "COCO 1.0");
    let kp = reg.resolve("COCO Keypoints 1.0").unwrap();
    assert!(kp.info.can_import && kp.info.can_export);
    // detection picks the right one for each real export
    let zip = Input::open(&shared("cvat/exports/rich-A/export/COCO_Keypoints_1.0.zip")).unwrap();
    assert_eq!(reg.detect(&zip).unwrap().info.name, "COCO Keypoints 1.0");
    let zip = Input::open(&shared("cvat/exports/rich-A/export/COCO_1.0.zip")).unwrap();
    assert_eq!(reg.detect(&zip).unwrap().info.name, "COCO 1.0");
}

#[test]
fn iscrowd_and_score_become_attribute_values_only_when_the_task_declares_them() {
    let file = br#"{"images":[{"id":1,"width":100,"height":80,"file_name":"a.jpg"}],
      "categories":[{"id":1,"name":"car"}],
      "annotations":[
        {"id":1,"image_id":1,"category_id":1,"iscrowd":0,"bbox":[1,2,3,4],"segmentation":[],
         "score":0.5,"attributes":{"color":"red"}},
        {"id":2,"image_id":1,"category_id":1,"iscrowd":1,"bbox":[1,2,3,4],"segmentation":[],
         "attributes":{"color":"blue"}}]}"#;
    let input = Input::from_bytes("instances_default.json", file.to_vec()).unwrap();
    let spec = |id: i64, name: &str, input_type: InputType| AttributeSpec {
        id,
        name: name.to_string(),
        mutable: false,
        input_type,
        default_value: String::new(),
        values: Vec::new(),
    };
    let label = Label {
        id: 7,
        name: "car".to_string(),
        attributes: vec![
            spec(70, "color", InputType::Text),
            spec(71, "is_crowd", InputType::Checkbox),
            spec(72, "score", InputType::Number),
        ],
        ..Default::default()
    };
    let opts = ReadOptions::default().with_labels(vec![label]);
    let ds = Coco.read(&input, &opts).unwrap();
    let values = |k: usize| -> Vec<(i64, String)> {
        ds.shapes[k]
            .attributes
            .iter()
            .map(|a| (a.spec_id, a.value.clone()))
            .collect()
    };
    // in the file's order, then is_crowd (a checkbox: lower case), then score
    assert_eq!(
        values(0),
        vec![
            (70, "red".to_string()),
            (71, "false".to_string()),
            (72, "0.5".to_string())
        ]
    );
    assert_eq!(
        values(1),
        vec![(70, "blue".to_string()), (71, "true".to_string())]
    );
    // without the task's labels neither becomes an attribute
    let ds = Coco.read(&input, &ReadOptions::default()).unwrap();
    for s in &ds.shapes {
        let names: Vec<&str> = s
            .attributes
            .iter()
            .filter_map(|a| {
                ds.labels
                    .iter()
                    .flat_map(|l| &l.attributes)
                    .find(|x| x.id == a.spec_id)
                    .map(|x| x.name.as_str())
            })
            .collect();
        assert_eq!(names, vec!["color"]);
    }
}
