//! Datumaro 1.0: fidelity against the real server's export of rich-A, re-import against the server's
//! own re-import, upstream samples, round trips, properties, truncation and validation.

use cvat_format_api::geometry::{coco_counts_to_bitmap, coco_rle_string_to_counts};
use cvat_format_api::rest::parse_annotations;
use cvat_format_api::{
    Dataset, Format, Input, MemorySink, ReadOptions, Severity, ShapeType, WriteOptions,
};
use cvat_format_datumaro::DatumaroFormat;
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::PathBuf;

fn shared(rel: &str) -> PathBuf {
    let p = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/")).join(rel);
    assert!(p.exists(), "shared data missing: {}", p.display());
    p
}

fn rich_a() -> Dataset {
    Dataset::from_task_dir(&shared("cvat/exports/rich-A")).expect("rich-A loads")
}

fn write(ds: &Dataset) -> BTreeMap<String, Vec<u8>> {
    let mut sink = MemorySink::default();
    DatumaroFormat
        .write(ds, &mut sink, &WriteOptions::default())
        .expect("write");
    sink.into_files()
}

fn task_opts(ds: &Dataset) -> ReadOptions {
    ReadOptions::default()
        .with_labels(ds.labels.clone())
        .with_frames(ds.frames.clone())
}

/// Pixels of a Datumaro mask `rle` object.
fn mask_pixels(rle: &Value) -> (Vec<u8>, u32, u32) {
    let h = rle["size"][0].as_u64().unwrap() as u32;
    let w = rle["size"][1].as_u64().unwrap() as u32;
    let counts = coco_rle_string_to_counts(rle["counts"].as_str().unwrap()).unwrap();
    let bm = coco_counts_to_bitmap(&counts, w, h).unwrap();
    let mut px = Vec::new();
    for y in 0..h {
        for x in 0..w {
            px.push(bm.get(x, y) as u8);
        }
    }
    (px, w, h)
}

fn ellipse_label_index(doc: &Value) -> u64 {
    doc["categories"]["label"]["labels"]
        .as_array()
        .unwrap()
        .iter()
        .position(|l| l["name"] == "ball")
        .unwrap() as u64
}

#[test]
fn fidelity_rich_a_matches_the_real_export() {
    let files = write(&rich_a());
    let real_path = shared("cvat/exports/rich-A/export/Datumaro_1.0/annotations/default.json");
    let real_bytes = std::fs::read(&real_path).unwrap();
    assert_eq!(
        files.keys().collect::<Vec<_>>(),
        ["annotations/default.json"],
        "same file list as the real export ZIP"
    );
    let ours_bytes = &files["annotations/default.json"];
    let ours: Value = serde_json::from_slice(ours_bytes).unwrap();
    let real: Value = serde_json::from_slice(&real_bytes).unwrap();
    // structurally (parsed) first, for a readable failure ...
    assert_eq!(ours["categories"], real["categories"]);
    let (oi, ri) = (
        ours["items"].as_array().unwrap(),
        real["items"].as_array().unwrap(),
    );
    assert_eq!(oi.len(), ri.len());
    for (o, r) in oi.iter().zip(ri) {
        assert_eq!(o, r, "item {}", r["id"]);
    }
    assert_eq!(ours, real);
    // ... then byte for byte (key order, number formatting, the ellipse rasterised as OpenCV does)
    assert_eq!(
        String::from_utf8_lossy(ours_bytes),
        String::from_utf8_lossy(&real_bytes)
    );
}

#[test]
fn ellipse_and_mask_pixels_match_the_server() {
    let real: Value = serde_json::from_slice(
        &std::fs::read(shared(
            "cvat/exports/rich-A/export/Datumaro_1.0/annotations/default.json",
        ))
        .unwrap(),
    )
    .unwrap();
    let ours: Value =
        serde_json::from_slice(&write(&rich_a())["annotations/default.json"]).unwrap();
    let masks = |v: &Value| -> Vec<(Vec<u8>, u32, u32)> {
        v["items"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|i| i["annotations"].as_array().unwrap().iter())
            .filter(|a| a["type"] == "mask")
            .map(|a| mask_pixels(&a["rle"]))
            .collect()
    };
    let (a, b) = (masks(&ours), masks(&real));
    assert_eq!(a.len(), 2, "the mask and the ellipse");
    assert_eq!(a, b);
    let ball = ellipse_label_index(&real);
    assert!(real["items"][1]["annotations"]
        .as_array()
        .unwrap()
        .iter()
        .any(|x| x["label_id"] == ball && x["type"] == "mask"));
}

/// Annotations in a comparable form: label names instead of ids, attribute names instead of spec ids,
/// no ids, sorted.
fn normalise(ds: &Dataset) -> Value {
    let idx = ds.label_index();
    let attrs = |a: &[cvat_format_api::AttributeValue]| {
        let mut m: Vec<(String, String)> = a
            .iter()
            .map(|a| (idx.spec_name(a.spec_id).to_string(), a.value.clone()))
            .collect();
        m.sort();
        serde_json::to_value(m).unwrap()
    };
    let shape = |s: &cvat_format_api::Shape| -> Value {
        let mut els: Vec<Value> = s
            .elements
            .iter()
            .map(|e| {
                serde_json::json!([
                    idx.label_name(e.label_id),
                    e.points,
                    e.occluded,
                    e.outside,
                    attrs(&e.attributes)
                ])
            })
            .collect();
        els.sort_by_key(|v| v.to_string());
        serde_json::json!({
            "label": idx.label_name(s.label_id), "type": s.kind.as_str(), "frame": s.frame, "group": s.group,
            "source": s.source.as_str(), "occluded": s.occluded, "outside": s.outside, "z_order": s.z_order,
            "rotation": s.rotation, "points": s.points, "attributes": attrs(&s.attributes), "elements": els,
        })
    };
    let track = |t: &cvat_format_api::Track| -> Value {
        let shapes: Vec<Value> = t
            .shapes
            .iter()
            .map(|s| {
                serde_json::json!({"type": s.kind.as_str(), "frame": s.frame, "occluded": s.occluded,
                    "outside": s.outside, "z_order": s.z_order, "rotation": s.rotation, "points": s.points,
                    "attributes": attrs(&s.attributes)})
            })
            .collect();
        let mut els: Vec<Value> = t
            .elements
            .iter()
            .map(|e| {
                let shapes: Vec<Value> = e
                    .shapes
                    .iter()
                    .map(|s| serde_json::json!([s.frame, s.points, s.occluded, s.outside]))
                    .collect();
                serde_json::json!([
                    idx.label_name(e.label_id),
                    e.frame,
                    e.source.as_str(),
                    shapes
                ])
            })
            .collect();
        els.sort_by_key(|v| v.to_string());
        serde_json::json!({"label": idx.label_name(t.label_id), "frame": t.frame, "group": t.group,
            "source": t.source.as_str(), "attributes": attrs(&t.attributes), "shapes": shapes, "elements": els})
    };
    let mut tags: Vec<Value> = ds
        .tags
        .iter()
        .map(|t| {
            serde_json::json!([
                idx.label_name(t.label_id),
                t.frame,
                t.group,
                t.source.as_str(),
                attrs(&t.attributes)
            ])
        })
        .collect();
    let mut shapes: Vec<Value> = ds.shapes.iter().map(shape).collect();
    let mut tracks: Vec<Value> = ds.tracks.iter().map(track).collect();
    tags.sort_by_key(|v| v.to_string());
    shapes.sort_by_key(|v| v.to_string());
    tracks.sort_by_key(|v| v.to_string());
    serde_json::json!({"tags": tags, "shapes": shapes, "tracks": tracks})
}

fn server_reimport() -> Dataset {
    let task = rich_a();
    let p = shared("cvat/exports/rich-A/reimport/Datumaro_1.0.json");
    let ann = parse_annotations(&p.display().to_string(), &std::fs::read(&p).unwrap()).unwrap();
    // the fresh task has the same labels under other ids: map by name through its labels.json-free
    // REST body, so rebuild the label list with the re-import's ids
    let mut labels = task.labels.clone();
    let names = [
        "car", "person", "road", "lane", "landmark", "ball", "box3d", "body", "daytime",
    ];
    // ids of the fresh task, in label order: 91..98 for the first eight (+ body's sub-labels 99..101), 102
    let new_ids = [91, 92, 93, 94, 95, 96, 97, 98, 102];
    let mut spec = 43;
    for l in labels.iter_mut() {
        let i = names.iter().position(|n| *n == l.name).unwrap();
        l.id = new_ids[i];
        for a in l.attributes.iter_mut() {
            a.id = spec;
            spec += 1;
        }
        for (k, s) in l.sublabels.iter_mut().enumerate() {
            s.id = 99 + k as i64;
        }
    }
    Dataset::from_rest(ann, labels, task.frames.clone())
}

#[test]
fn real_export_reads_back_as_the_server_reimported_it() {
    let task = rich_a();
    let input = Input::open(&shared("cvat/exports/rich-A/export/Datumaro_1.0.zip")).unwrap();
    let ds = DatumaroFormat
        .read(&input, &task_opts(&task))
        .expect("read real export");
    let expected = server_reimport();
    // check the id mapping assumed above against the re-import itself
    let idx = expected.label_index();
    assert!(expected
        .shapes
        .iter()
        .all(|s| idx.label(s.label_id).is_some()));
    assert_eq!(normalise(&ds), normalise(&expected));
}

#[test]
fn round_trip_of_rich_a_equals_the_server_reimport() {
    let task = rich_a();
    let files = write(&task);
    let input = Input::from_files("mem.zip", files.clone());
    let ds = DatumaroFormat.read(&input, &task_opts(&task)).unwrap();
    assert_eq!(normalise(&ds), normalise(&server_reimport()));
    // writing what was read gives the same bytes again except for the dropped ellipse/cuboid
    let again = write(&ds);
    let a: Value = serde_json::from_slice(&again["annotations/default.json"]).unwrap();
    let b: Value = serde_json::from_slice(&files["annotations/default.json"]).unwrap();
    assert_eq!(a["categories"], b["categories"]);
    assert_eq!(
        a["items"].as_array().unwrap().len(),
        b["items"].as_array().unwrap().len()
    );
}

#[test]
fn drop_report_counts_what_datumaro_cannot_carry() {
    let task = rich_a();
    let mut sink = MemorySink::default();
    let drops = DatumaroFormat
        .write(&task, &mut sink, &WriteOptions::default())
        .unwrap();
    let cuboids = task
        .shapes
        .iter()
        .filter(|s| s.kind == ShapeType::Cuboid)
        .count();
    assert_eq!(cuboids, 1);
    assert_eq!(
        drops.count("cuboids (Datumaro 1.0 is a 2D format without cuboids)"),
        cuboids
    );
    let non_manual = task
        .tags
        .iter()
        .filter(|t| t.source.as_str() != "manual")
        .count()
        + task
            .shapes
            .iter()
            .filter(|s| s.source.as_str() != "manual")
            .count()
        + task
            .tracks
            .iter()
            .filter(|t| t.source.as_str() != "manual")
            .count();
    assert_eq!(
        drops.count("annotation sources other than manual (Datumaro keeps no source)"),
        non_manual
    );
}

fn upstream(rel: &str) -> PathBuf {
    shared(&format!(
        "formats/datumaro/cvat-ai_datumaro/tests/assets/datumaro_dataset/{rel}"
    ))
}

#[test]
fn golden_with_skeleton() {
    let dir = upstream("with_skeleton");
    let doc: Value =
        serde_json::from_slice(&std::fs::read(dir.join("annotations/default.json")).unwrap())
            .unwrap();
    let ds = DatumaroFormat
        .read(&Input::open(&dir).unwrap(), &ReadOptions::default())
        .unwrap();
    assert_eq!(ds.labels.len(), 1);
    let sk = &ds.labels[0];
    assert_eq!(sk.name, "skeleton-label");
    let names: Vec<&str> = doc["categories"]["points"]["items"][0]["labels"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert_eq!(
        sk.sublabels
            .iter()
            .map(|s| s.name.as_str())
            .collect::<Vec<_>>(),
        names
    );
    assert_eq!(ds.frames.len(), 1);
    assert_eq!(
        (ds.frames[0].width, ds.frames[0].height),
        (6, 10),
        "size is [h, w]"
    );
    assert_eq!(ds.shapes.len(), 1);
    let s = &ds.shapes[0];
    assert_eq!(s.kind, ShapeType::Skeleton);
    let pts: Vec<f64> = doc["items"][0]["annotations"][0]["points"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_f64().unwrap())
        .collect();
    let idx = ds.label_index();
    for (k, e) in s.elements.iter().enumerate() {
        assert_eq!(idx.label_name(e.label_id), names[k]);
        assert_eq!(e.points, vec![pts[3 * k], pts[3 * k + 1]]);
        assert!(!e.outside && !e.occluded);
    }
    let checkbox = s.elements[1].attributes.first().expect("point3 attribute");
    assert_eq!(idx.spec_name(checkbox.spec_id), "point3-attribute-checkbox");
    assert_eq!(checkbox.value, "true");
    assert_eq!(s.elements[2].attributes[0].value, "some text");
    // writing it back keeps the points category
    let files = write(&ds);
    let out: Value = serde_json::from_slice(&files["annotations/default.json"]).unwrap();
    assert_eq!(
        out["categories"]["points"]["items"][0]["labels"],
        doc["categories"]["points"]["items"][0]["labels"]
    );
    assert_eq!(
        out["categories"]["points"]["items"][0]["joints"],
        doc["categories"]["points"]["items"][0]["joints"]
    );
    assert_eq!(
        out["items"][0]["annotations"][0]["points"],
        doc["items"][0]["annotations"][0]["points"]
    );
}

#[test]
fn golden_diverse_is_refused_like_the_server_with_every_problem_located() {
    // val.json has annotations without a label (label_id null): the server's import raises
    // "annotation has no label"; train.json has captions, which CVAT has no type for.
    let dir = upstream("diverse");
    let input = Input::open(&dir).unwrap();
    let err = DatumaroFormat
        .read(&input, &ReadOptions::default())
        .unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains("label_id"), "{msg}");
    let diags = DatumaroFormat.validate(&input, &ReadOptions::default());
    let errors: Vec<_> = diags
        .items()
        .iter()
        .filter(|d| d.severity == Severity::Error)
        .collect();
    let count = |pred: &dyn Fn(&Value) -> bool| -> usize {
        ["train", "val", "test", "default"]
            .iter()
            .map(|s| {
                let v: Value = serde_json::from_slice(
                    &std::fs::read(dir.join(format!("annotations/{s}.json"))).unwrap(),
                )
                .unwrap();
                v["items"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .flat_map(|i| i["annotations"].as_array().unwrap().iter())
                    .filter(|a| pred(a))
                    .count()
            })
            .sum()
    };
    let raw_null_labels =
        count(&|a| a["type"] != "caption" && a.get("label_id").is_some_and(|l| l.is_null()));
    let raw_captions = count(&|a| a["type"] == "caption");
    let no_label = errors.iter().filter(|d| d.code == "missing-label").count();
    assert_eq!(no_label, raw_null_labels);
    assert!(errors.iter().all(|d| d
        .location
        .json_path
        .as_deref()
        .is_some_and(|p| p.starts_with("$."))));
    let captions = diags
        .items()
        .iter()
        .filter(|d| d.code == "unsupported")
        .count();
    assert_eq!(captions, raw_captions);
}

#[test]
fn golden_diverse_test_subset_cuboid_3d() {
    let dir = upstream("diverse/annotations/test.json");
    let ds = DatumaroFormat
        .read(&Input::open(&dir).unwrap(), &ReadOptions::default())
        .unwrap();
    let doc: Value = serde_json::from_slice(&std::fs::read(&dir).unwrap()).unwrap();
    assert_eq!(ds.frames.len(), doc["items"].as_array().unwrap().len());
    let c = &ds.shapes[0];
    assert_eq!(c.kind, ShapeType::Cuboid);
    assert!(c.occluded);
    assert_eq!(
        &c.points[..9],
        &[1.0, 2.0, 3.0, 2.0, 2.0, 4.0, 1.0, 3.0, 4.0]
    );
}

#[test]
fn validate_reports_many_located_problems() {
    let doc = r#"{"info":{},"categories":{"label":{"labels":[{"name":"a","parent":""},{"name":"a","parent":""}],"attributes":[]}},
    "items":[
      {"id":"x","annotations":[
        {"id":0,"type":"polygon","attributes":{},"group":0,"label_id":7,"points":[1,2,3,4,5,6]},
        {"id":0,"type":"polygon","attributes":{},"group":0,"label_id":0,"points":[1,2,3]},
        {"id":0,"type":"bbox","attributes":{},"group":0,"label_id":0,"bbox":[1,2,3]},
        {"id":0,"type":"mask","attributes":{},"group":0,"label_id":0,"rle":{"counts":[5,5],"size":[2,2]}},
        {"id":0,"type":"blob","label_id":0}
      ],"attr":{"frame":0},"image":{"path":"x.jpg","size":[10,10]}},
      {"id":"x","annotations":[],"attr":{"frame":1}}
    ]}"#;
    let input = Input::from_bytes("bad.json", doc.as_bytes().to_vec()).unwrap();
    let diags = DatumaroFormat.validate(&input, &ReadOptions::default());
    let codes: Vec<(&str, &str)> = diags
        .items()
        .iter()
        .filter(|d| d.severity == Severity::Error)
        .map(|d| {
            (
                d.code.as_str(),
                d.location.json_path.as_deref().unwrap_or(""),
            )
        })
        .collect();
    for (code, path) in [
        ("duplicate-label", "$.categories.label.labels[1]"),
        ("undeclared-label", "$.items[0].annotations[0].label_id"),
        ("geometry", "$.items[0].annotations[1]"),
        ("geometry", "$.items[0].annotations[2].bbox"),
        ("rle", "$.items[0].annotations[3].rle.counts"),
        ("unknown-type", "$.items[0].annotations[4].type"),
        ("duplicate-id", "$.items[1].id"),
    ] {
        assert!(
            codes.contains(&(code, path)),
            "missing {code} at {path} in {codes:?}"
        );
    }
}

#[test]
fn truncated_inputs_fail_with_a_location_and_never_panic() {
    let real = std::fs::read(shared(
        "cvat/exports/rich-A/export/Datumaro_1.0/annotations/default.json",
    ))
    .unwrap();
    let skel = std::fs::read(upstream("with_skeleton/annotations/default.json")).unwrap();
    let mut cases: Vec<(Vec<u8>, usize)> = Vec::new();
    for n in 0..skel.len() {
        cases.push((skel.clone(), n));
    }
    for k in 0..200 {
        cases.push((real.clone(), k * real.len() / 200));
    }
    for (bytes, n) in cases {
        let input = Input::from_bytes("cut.json", bytes[..n].to_vec()).unwrap();
        match DatumaroFormat.read(&input, &ReadOptions::default()) {
            Ok(_) => panic!("truncation at {n} was accepted"),
            Err(e) => {
                let d = e.to_diagnostic("cut.json");
                assert!(
                    d.location.line.is_some() || d.location.json_path.is_some(),
                    "no location at {n}: {d}"
                );
            }
        }
    }
}

mod props {
    use super::*;
    use cvat_format_api::{AttributeSpec, AttributeValue, Frame, InputType, Label, Shape, Tag};
    use proptest::prelude::*;

    fn labels() -> Vec<Label> {
        vec![
            Label {
                id: 1,
                name: "car".into(),
                attributes: vec![
                    AttributeSpec {
                        id: 1,
                        name: "speed".into(),
                        mutable: true,
                        input_type: InputType::Number,
                        default_value: "0".into(),
                        values: vec!["0".into(), "100".into(), "1".into()],
                    },
                    AttributeSpec {
                        id: 2,
                        name: "parked".into(),
                        mutable: false,
                        input_type: InputType::Checkbox,
                        default_value: "false".into(),
                        values: vec!["false".into()],
                    },
                    AttributeSpec {
                        id: 3,
                        name: "note".into(),
                        mutable: false,
                        input_type: InputType::Text,
                        default_value: "".into(),
                        values: vec![],
                    },
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

    fn coord() -> impl Strategy<Value = f64> {
        (0u32..4000).prop_map(|v| v as f64 / 4.0)
    }

    fn shape() -> impl Strategy<Value = Shape> {
        (
            0usize..4,
            0u32..3,
            1i64..3,
            any::<bool>(),
            -2i64..3,
            prop::collection::vec(coord(), 8),
            0u32..100,
            any::<bool>(),
            "[a-z ]{0,6}",
        )
            .prop_map(
                |(k, frame, label_id, occluded, z, pts, speed, parked, note)| {
                    let (kind, points) = match k {
                        0 => (
                            ShapeType::Rectangle,
                            vec![pts[0], pts[1], pts[0] + pts[2], pts[1] + pts[3]],
                        ),
                        1 => (ShapeType::Polygon, pts[..6].to_vec()),
                        2 => (ShapeType::Polyline, pts[..4].to_vec()),
                        _ => (ShapeType::Points, pts),
                    };
                    let attributes = if label_id == 1 {
                        vec![
                            AttributeValue {
                                spec_id: 1,
                                value: format!("{speed}.0"),
                            },
                            AttributeValue {
                                spec_id: 2,
                                value: parked.to_string(),
                            },
                            AttributeValue {
                                spec_id: 3,
                                value: note,
                            },
                        ]
                    } else {
                        vec![]
                    };
                    Shape {
                        label_id,
                        kind,
                        frame,
                        occluded,
                        z_order: z,
                        points,
                        attributes,
                        ..Default::default()
                    }
                },
            )
    }

    fn mask() -> impl Strategy<Value = Shape> {
        (
            0u32..3,
            prop::collection::vec(any::<bool>(), 12),
            0u32..50,
            0u32..50,
        )
            .prop_map(|(frame, bits, x, y)| {
                let mut bm = cvat_format_api::geometry::Bitmap::new(64, 64);
                bm.set(x, y, true);
                for (k, b) in bits.iter().enumerate() {
                    if *b {
                        bm.set(x + (k as u32 % 4), y + (k as u32 / 4), true);
                    }
                }
                let points = cvat_format_api::geometry::bitmap_to_cvat_rle(&bm).unwrap();
                Shape {
                    label_id: 2,
                    kind: ShapeType::Mask,
                    frame,
                    points,
                    ..Default::default()
                }
            })
    }

    /// A rectangle track on frames 0..6 whose keyframes survive a write/read: a keyframe on its first
    /// frame, later keyframes, and either an outside keyframe or visibility to the task's end.
    fn track() -> impl Strategy<Value = cvat_format_api::Track> {
        (
            prop::collection::btree_set(0u32..6, 1..4),
            any::<bool>(),
            prop::collection::vec((coord(), 0u32..100, any::<bool>(), 0u32..8), 4),
            "[a-z]{0,4}",
        )
            .prop_map(|(frames, close, geo, note)| {
                let frames: Vec<u32> = frames.into_iter().collect();
                let mut shapes: Vec<cvat_format_api::TrackedShape> = frames
                    .iter()
                    .enumerate()
                    .map(|(i, f)| {
                        let (x, speed, occluded, rot) = geo[i % geo.len()];
                        cvat_format_api::TrackedShape {
                            kind: ShapeType::Rectangle,
                            frame: *f,
                            occluded,
                            rotation: rot as f64 * 45.0,
                            points: vec![x, x, x + 10.0, x + 20.0],
                            attributes: vec![AttributeValue {
                                spec_id: 1,
                                value: format!("{speed}.0"),
                            }],
                            ..Default::default()
                        }
                    })
                    .collect();
                let last = *frames.last().unwrap();
                if close || last < 5 {
                    let mut end = shapes.last().unwrap().clone();
                    end.frame = last + 1;
                    end.outside = true;
                    if end.frame <= 5 {
                        shapes.push(end);
                    }
                }
                cvat_format_api::Track {
                    label_id: 1,
                    frame: frames[0],
                    shapes,
                    attributes: vec![
                        AttributeValue {
                            spec_id: 2,
                            value: "true".into(),
                        },
                        AttributeValue {
                            spec_id: 3,
                            value: note,
                        },
                    ],
                    ..Default::default()
                }
            })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(48))]
        #[test]
        fn tracks_and_masks_survive_write_then_read(
            tracks in prop::collection::vec(track(), 0..3),
            masks in prop::collection::vec(mask(), 0..3),
        ) {
            let ds = Dataset {
                labels: labels(),
                frames: (0..6).map(|i| Frame { id: i, name: format!("d/img_{i}.png"), width: 64, height: 64, subset: None }).collect(),
                shapes: masks,
                tracks,
                ..Default::default()
            };
            let files = write(&ds);
            let back = DatumaroFormat.read(&Input::from_files("mem", files.clone()), &task_opts(&ds)).unwrap();
            let mut expected = ds.clone();
            expected.sort_by_frame();
            prop_assert_eq!(normalise(&back), normalise(&expected));
            // and the same bytes once more (tracks are numbered in order of first appearance)
            prop_assert!(write(&back) == write(&expected), "second write differs");
            prop_assert!(!files.is_empty());
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
        #[test]
        fn write_then_read_is_identity_up_to_documented_losses(
            shapes in prop::collection::vec(shape(), 0..12),
            tags in prop::collection::vec((0u32..3, 1i64..3), 0..4),
        ) {
            let mut ds = Dataset {
                labels: labels(),
                frames: (0..3).map(|i| Frame { id: i, name: format!("img_{i}.png"), width: 1000, height: 1000, subset: None }).collect(),
                shapes,
                tags: tags.into_iter().map(|(frame, label_id)| Tag { frame, label_id, attributes: if label_id == 1 { vec![
                    AttributeValue { spec_id: 1, value: "0.0".into() }, AttributeValue { spec_id: 2, value: "false".into() }, AttributeValue { spec_id: 3, value: String::new() }] } else { vec![] }, ..Default::default() }).collect(),
                ..Default::default()
            };
            let files = write(&ds);
            let back = DatumaroFormat.read(&Input::from_files("mem", files), &task_opts(&ds)).unwrap();
            // documented: annotations come back ordered by frame, then z_order, tags first
            ds.sort_by_frame();
            prop_assert_eq!(normalise(&back), normalise(&ds));
        }
    }
}

#[test]
fn the_real_export_validates_clean() {
    let task = rich_a();
    for opts in [task_opts(&task), ReadOptions::default()] {
        let input = Input::open(&shared("cvat/exports/rich-A/export/Datumaro_1.0.zip")).unwrap();
        let diags = DatumaroFormat.validate(&input, &opts);
        assert_eq!(diags.error_count(), 0, "{:?}", diags.items());
    }
}

#[test]
fn sniff_recognises_datumaro_and_not_coco() {
    let dm = Input::open(&shared("cvat/exports/rich-A/export/Datumaro_1.0.zip")).unwrap();
    let coco = Input::open(&shared("cvat/exports/rich-A/export/COCO_1.0.zip")).unwrap();
    assert!(DatumaroFormat.sniff(&dm) >= 90);
    assert!(DatumaroFormat.sniff(&coco) <= 5);
    assert!(DatumaroFormat.sniff(&Input::open(&upstream("with_skeleton")).unwrap()) >= 90);
}
