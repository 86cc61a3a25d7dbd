//! "Ultralytics YOLO * 1.0": fidelity against the real server's exports of rich-A (recorded on 2.23.1,
//! so under the "YOLOv8 *" names), re-import against what the server kept, upstream samples, round
//! trips, validation, truncation.

use cvat_format_api::{
    Dataset, DropReport, Format, Input, MemorySink, ReadOptions, Registry, Severity, Shape,
    ShapeType, WriteOptions,
};
use cvat_format_ultralytics::{
    Classification, Detection, DetectionTrack, OrientedBoxes, Pose, Segmentation,
};
use proptest::prelude::*;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

fn shared(rel: &str) -> PathBuf {
    let p = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared")).join(rel);
    assert!(p.exists(), "shared data missing: {}", p.display());
    p
}

fn rich_a() -> Dataset {
    Dataset::from_task_dir(&shared("cvat/exports/rich-A")).expect("rich-A loads")
}

fn task_opts(ds: &Dataset) -> ReadOptions {
    ReadOptions::default()
        .with_frames(ds.frames.clone())
        .with_labels(ds.labels.clone())
}

fn dir_files(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<String, Vec<u8>>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                walk(root, &p, out);
            } else {
                let rel = p
                    .strip_prefix(root)
                    .unwrap()
                    .to_string_lossy()
                    .replace('\\', "/");
                out.insert(rel, std::fs::read(&p).unwrap());
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(dir, dir, &mut out);
    out
}

fn write_with(f: &dyn Format, ds: &Dataset) -> (BTreeMap<String, Vec<u8>>, DropReport) {
    let mut sink = MemorySink::default();
    let drops = f
        .write(ds, &mut sink, &WriteOptions::default())
        .expect("write");
    (sink.into_files(), drops)
}

fn lines(b: &[u8]) -> Vec<Vec<String>> {
    String::from_utf8_lossy(b)
        .lines()
        .map(|l| l.split_whitespace().map(str::to_string).collect())
        .collect()
}

/// Line by line: numeric fields equal to 1e-9, others exactly.
fn same_lines(name: &str, ours: &[u8], theirs: &[u8]) {
    let (a, b) = (lines(ours), lines(theirs));
    assert_eq!(a.len(), b.len(), "{name}: line count\n{a:?}\n{b:?}");
    for (i, (x, y)) in a.iter().zip(&b).enumerate() {
        assert_eq!(x.len(), y.len(), "{name}:{}: field count", i + 1);
        for (p, q) in x.iter().zip(y) {
            match (p.parse::<f64>(), q.parse::<f64>()) {
                (Ok(u), Ok(v)) => assert!((u - v).abs() < 1e-9, "{name}:{}: {p} vs {q}", i + 1),
                _ => assert_eq!(p, q, "{name}:{}", i + 1),
            }
        }
    }
}

fn real(name: &str) -> BTreeMap<String, Vec<u8>> {
    dir_files(&shared(&format!("cvat/exports/rich-A/export/{name}")))
}

/// Our export equals the server's file for file and byte for byte.
fn assert_fidelity(f: &dyn Format, real_name: &str) -> DropReport {
    let (ours, drops) = write_with(f, &rich_a());
    let theirs = real(real_name);
    assert_eq!(
        ours.keys().collect::<Vec<_>>(),
        theirs.keys().collect::<Vec<_>>(),
        "{real_name}: file list"
    );
    for (name, bytes) in &theirs {
        same_lines(name, &ours[name], bytes);
        assert_eq!(
            String::from_utf8_lossy(&ours[name]),
            String::from_utf8_lossy(bytes),
            "{real_name}/{name}"
        );
    }
    drops
}

#[test]
fn detection_export_matches_the_server() {
    let drops = assert_fidelity(&Detection, "YOLOv8_Detection_1.0");
    assert_eq!(drops.count("rotated rectangles"), 1);
    assert_eq!(drops.count("tags"), 2);
    assert!(drops.count("polygon shapes") >= 3);
}

#[test]
fn oriented_boxes_export_matches_the_server() {
    let drops = assert_fidelity(&OrientedBoxes, "YOLOv8_Oriented_Bounding_Boxes_1.0");
    assert_eq!(drops.count("rotated rectangles"), 0);
    assert_eq!(drops.count("tags"), 2);
}

#[test]
fn pose_export_matches_the_server() {
    let drops = assert_fidelity(&Pose, "YOLOv8_Pose_1.0");
    assert!(drops.count("rectangle shapes") > 0);
}

#[test]
fn classification_export_matches_the_server() {
    let (ours, drops) = write_with(&Classification, &rich_a());
    let theirs = real("YOLOv8_Classification_1.0");
    assert_eq!(
        ours.keys().collect::<Vec<_>>(),
        theirs.keys().collect::<Vec<_>>()
    );
    let a: serde_json::Value = serde_json::from_slice(&ours["train/labels.json"]).unwrap();
    let b: serde_json::Value = serde_json::from_slice(&theirs["train/labels.json"]).unwrap();
    assert_eq!(a, b);
    assert_eq!(ours["train/labels.json"], theirs["train/labels.json"]);
    assert!(drops.count("shapes") > 0 && drops.count("tracks") == 3);
}

fn poly_area(p: &[f64]) -> f64 {
    let n = p.len() / 2;
    let mut s = 0.0;
    for i in 0..n {
        let j = (i + 1) % n;
        s += p[2 * i] * p[2 * j + 1] - p[2 * j] * p[2 * i + 1];
    }
    s.abs() / 2.0
}

fn poly_bbox(p: &[f64]) -> [f64; 4] {
    let xs = p.iter().step_by(2);
    let ys = p.iter().skip(1).step_by(2);
    [
        xs.clone().copied().fold(f64::INFINITY, f64::min),
        ys.clone().copied().fold(f64::INFINITY, f64::min),
        xs.copied().fold(f64::NEG_INFINITY, f64::max),
        ys.copied().fold(f64::NEG_INFINITY, f64::max),
    ]
}

/// Segmentation: drawn polygons match the server's line for line. The server traces the mask and the
/// ellipse with OpenCV; we trace them ourselves: same class, same outline extent (to a pixel), a
/// similar area (ours keeps the ring's hole filled), the same place in the file.
#[test]
fn segmentation_export_matches_the_server_with_traced_masks_close() {
    let ds = rich_a();
    let (ours, drops) = write_with(&Segmentation, &ds);
    let theirs = real("YOLOv8_Segmentation_1.0");
    assert_eq!(
        ours.keys().collect::<Vec<_>>(),
        theirs.keys().collect::<Vec<_>>()
    );
    let mut traced = 0;
    for (name, bytes) in &theirs {
        if !name.starts_with("labels/") {
            assert_eq!(ours[name], *bytes, "{name}");
            continue;
        }
        let (a, b) = (lines(&ours[name]), lines(bytes));
        assert_eq!(a.len(), b.len(), "{name}");
        let size = ds
            .frames
            .iter()
            .find(|f| name.contains(f.stem()))
            .map(|f| (f.width as f64, f.height as f64))
            .unwrap();
        for (x, y) in a.iter().zip(&b) {
            // the server's traced outlines are the long ones
            if y.len() <= 21 {
                same_lines(
                    name,
                    (x.join(" ") + "\n").as_bytes(),
                    (y.join(" ") + "\n").as_bytes(),
                );
                continue;
            }
            traced += 1;
            assert_eq!(x[0], y[0], "{name}: class");
            let px = |v: &[String]| -> Vec<f64> {
                v[1..]
                    .iter()
                    .enumerate()
                    .map(|(i, t)| {
                        t.parse::<f64>().unwrap() * if i % 2 == 0 { size.0 } else { size.1 }
                    })
                    .collect()
            };
            let (p, q) = (px(x), px(y));
            let (bp, bq) = (poly_bbox(&p), poly_bbox(&q));
            for k in 0..4 {
                assert!(
                    (bp[k] - bq[k]).abs() <= 1.01,
                    "{name}: extent {bp:?} vs {bq:?}"
                );
            }
            // both closed (first point repeated last)
            assert_eq!(&x[1..3], &x[x.len() - 2..], "{name}: ours closed");
            assert_eq!(&y[1..3], &y[y.len() - 2..], "{name}: theirs closed");
            let (ap, aq) = (poly_area(&p), poly_area(&q));
            assert!(ap >= aq * 0.95, "{name}: area {ap} vs {aq}");
        }
    }
    assert_eq!(traced, 2);
    assert_eq!(
        drops
            .count("mask shapes traced into polygon outlines (pixels approximated, holes dropped)"),
        1
    );
    assert_eq!(
        drops.count(
            "ellipse shapes traced into polygon outlines (pixels approximated, holes dropped)"
        ),
        1
    );
}

#[test]
fn detection_track_appends_track_ids() {
    let ds = rich_a();
    let (ours, drops) = write_with(&DetectionTrack, &ds);
    let (plain, _) = write_with(&Detection, &ds);
    assert_eq!(
        ours.keys().collect::<Vec<_>>(),
        plain.keys().collect::<Vec<_>>()
    );
    let car_track = ds
        .tracks
        .iter()
        .position(|t| t.shapes[0].kind == ShapeType::Rectangle)
        .unwrap();
    let mut tracked = 0;
    for (name, bytes) in ours.iter().filter(|(n, _)| n.starts_with("labels/")) {
        let (a, b) = (lines(bytes), lines(&plain[name]));
        for (x, y) in a.iter().zip(&b) {
            assert_eq!(&x[..5], &y[..], "{name}");
            // `<optional track_id>`: only boxes of a track carry one
            if x.len() == 6 {
                assert_eq!(x[5], car_track.to_string());
                tracked += 1;
            } else {
                assert_eq!(x.len(), 5);
            }
        }
    }
    // the car track is visible on frames 0..=4
    assert_eq!(tracked, 5);
    assert_eq!(
        drops.count("track identities (tracks flattened into per-frame shapes)"),
        0
    );
    assert!(DetectionTrack
        .read(
            &Input::from_files("x", ours.clone()),
            &ReadOptions::default()
        )
        .is_err());
    // read back as Detection: the car track again, a keyframe per visible frame, closed at frame 5
    let back = Detection
        .read(&Input::from_files("x", ours), &task_opts(&ds))
        .unwrap();
    assert_eq!(back.tracks.len(), 1);
    let keys: Vec<(u32, bool)> = back.tracks[0]
        .shapes
        .iter()
        .map(|s| (s.frame, s.outside))
        .collect();
    assert_eq!(
        keys,
        vec![
            (0, false),
            (1, false),
            (2, false),
            (3, false),
            (4, false),
            (5, true)
        ]
    );
    assert_eq!(
        back.tracks[0].shapes[2].points,
        ds.tracks[car_track].shapes[1].points
    );
    assert_eq!(back.shapes.len(), 3);
}

fn reimport(name: &str) -> serde_json::Value {
    let p = shared(&format!("cvat/exports/rich-A/reimport/{name}.json"));
    serde_json::from_slice(&std::fs::read(p).unwrap()).unwrap()
}

fn pts(v: &serde_json::Value) -> Vec<f64> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|p| p.as_f64().unwrap())
        .collect()
}

fn close(a: &[f64], b: &[f64], tol: f64) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| (x - y).abs() <= tol)
}

/// Each of the server's re-imported shapes has one of ours on the same frame with the same type,
/// points (within `tol`) and rotation; same counts.
fn assert_matches_reimport(ds: &Dataset, name: &str, tol: f64) {
    let theirs = reimport(name);
    let theirs = theirs["shapes"].as_array().unwrap();
    assert_eq!(ds.shapes.len(), theirs.len(), "{name}: shape count");
    let mut used = vec![false; ds.shapes.len()];
    for t in theirs {
        let frame = t["frame"].as_u64().unwrap() as u32;
        let kind = t["type"].as_str().unwrap();
        let tp = pts(&t["points"]);
        let rot = t["rotation"].as_f64().unwrap();
        let found = ds.shapes.iter().enumerate().position(|(i, s)| {
            !used[i]
                && s.frame == frame
                && s.kind.as_str() == kind
                && close(&s.points, &tp, tol)
                && (s.rotation - rot).abs() < 0.01
                && s.elements.len() == t["elements"].as_array().unwrap().len()
        });
        let Some(i) = found else {
            panic!("{name}: no match for {t}");
        };
        used[i] = true;
    }
}

#[test]
fn reading_real_exports_gives_what_the_server_kept() {
    let task = rich_a();
    let opts = task_opts(&task);
    let open = |n: &str| Input::open(&shared(&format!("cvat/exports/rich-A/export/{n}"))).unwrap();

    let ds = Detection
        .read(&open("YOLOv8_Detection_1.0"), &opts)
        .unwrap();
    assert_matches_reimport(&ds, "YOLOv8_Detection_1.0", 0.005);
    assert_eq!(
        ds.frames.len(),
        6,
        "frame_05 has no label file but is listed"
    );

    let ds = OrientedBoxes
        .read(&open("YOLOv8_Oriented_Bounding_Boxes_1.0"), &opts)
        .unwrap();
    assert_matches_reimport(&ds, "YOLOv8_Oriented_Bounding_Boxes_1.0", 0.011);

    let ds = Segmentation
        .read(&open("YOLOv8_Segmentation_1.0"), &opts)
        .unwrap();
    // polygon points are whole pixels here; ours are the normalised values times the size
    assert_matches_reimport(&ds, "YOLOv8_Segmentation_1.0", 0.005);

    let ds = Pose.read(&open("YOLOv8_Pose_1.0"), &opts).unwrap();
    assert_matches_reimport(&ds, "YOLOv8_Pose_1.0", 0.005);
    // elements: outside and occluded flags survive (v = 0 / 1)
    let theirs = reimport("YOLOv8_Pose_1.0");
    let count = |v: &serde_json::Value, key: &str| {
        v["shapes"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|s| s["elements"].as_array().unwrap().iter())
            .filter(|e| e[key].as_bool().unwrap())
            .count()
    };
    let ours_out = ds
        .shapes
        .iter()
        .flat_map(|s| &s.elements)
        .filter(|e| e.outside)
        .count();
    let ours_occ = ds
        .shapes
        .iter()
        .flat_map(|s| &s.elements)
        .filter(|e| e.occluded)
        .count();
    assert_eq!(ours_out, count(&theirs, "outside"));
    assert_eq!(ours_occ, count(&theirs, "occluded"));

    let ds = Classification
        .read(&open("YOLOv8_Classification_1.0"), &opts)
        .unwrap();
    let theirs = reimport("YOLOv8_Classification_1.0");
    let theirs = theirs["tags"].as_array().unwrap();
    assert_eq!(ds.tags.len(), theirs.len());
    let daytime = task.label_by_name("daytime").unwrap().id;
    for (a, b) in ds.tags.iter().zip(theirs) {
        assert_eq!(a.frame as u64, b["frame"].as_u64().unwrap());
        assert_eq!(a.label_id, daytime);
    }
}

fn upstream(case: &str) -> PathBuf {
    shared(&format!(
        "formats/ultralytics_yolo/cvat-ai_datumaro/tests/assets/yolo_dataset/{case}"
    ))
}

fn label_names(ds: &Dataset, s: &Shape) -> String {
    ds.labels
        .iter()
        .find(|l| l.id == s.label_id)
        .map(|l| l.name.clone())
        .unwrap_or_default()
}

/// datumaro's tests build the detection samples from a 10x15 (h x w) image with
/// Bbox(0, 2, 4, 2, label=2) and Bbox(3, 3, 2, 3, label=4).
#[test]
fn every_detection_sample_variant_reads_the_same() {
    for case in [
        "yolov8_detection",
        "yolov8_detection_with_list_of_imgs",
        "yolov8_detection_with_list_of_names",
        "yolov8_detection_with_subset_txt",
    ] {
        let input = Input::open(&upstream(case)).unwrap();
        assert!(Detection.sniff(&input) > 0, "{case}");
        let ds = Detection
            .read(&input, &ReadOptions::default())
            .unwrap_or_else(|e| panic!("{case}: {e}"));
        assert_eq!(ds.labels.len(), 10, "{case}");
        assert_eq!(ds.frames.len(), 1, "{case}");
        assert_eq!(ds.frames[0].name, "1.jpg", "{case}");
        assert_eq!(
            (ds.frames[0].width, ds.frames[0].height),
            (15, 10),
            "{case}"
        );
        let got: Vec<(String, Vec<f64>)> = ds
            .shapes
            .iter()
            .map(|s| (label_names(&ds, s), s.points.clone()))
            .collect();
        assert_eq!(
            got,
            vec![
                ("label_2".to_string(), vec![0.0, 2.0, 4.0, 4.0]),
                ("label_4".to_string(), vec![3.0, 3.0, 5.0, 6.0]),
            ],
            "{case}"
        );
    }
}

#[test]
fn segmentation_sample() {
    // datumaro: Polygon([1.5, 1.0, 6.0, 1.0, 6.0, 5.0], label=2) and
    // Polygon([3.0, 1.5, 6.0, 1.5, 6.0, 7.5, 4.5, 7.5, 3.75, 3.0], label=4) on the 10x15 image
    let ds = Segmentation
        .read(
            &Input::open(&upstream("yolov8_segmentation")).unwrap(),
            &ReadOptions::default(),
        )
        .unwrap();
    let got: Vec<(String, Vec<f64>)> = ds
        .shapes
        .iter()
        .map(|s| (label_names(&ds, s), s.points.clone()))
        .collect();
    assert_eq!(
        got,
        vec![
            ("label_2".to_string(), vec![1.5, 1.0, 6.0, 1.0, 6.0, 5.0]),
            (
                "label_4".to_string(),
                vec![3.0, 1.5, 6.0, 1.5, 6.0, 7.5, 4.5, 7.5, 3.75, 3.0]
            ),
        ]
    );
}

#[test]
fn oriented_boxes_sample() {
    // datumaro: Bbox(1, 2, 3, 4, rotation=30, label=2) and Bbox(3, 2, 6, 2, rotation=120, label=4)
    // (x, y, w, h; CVAT keeps the rotation in (0, 90] and swaps w/h as needed)
    let ds = OrientedBoxes
        .read(
            &Input::open(&upstream("yolov8_oriented_boxes")).unwrap(),
            &ReadOptions::default(),
        )
        .unwrap();
    assert_eq!(ds.shapes.len(), 2);
    let a = &ds.shapes[0];
    assert!((a.rotation - 30.0).abs() < 0.01, "{}", a.rotation);
    assert!(
        close(&a.points, &[1.0, 2.0, 4.0, 6.0], 0.011),
        "{:?}",
        a.points
    );
    let b = &ds.shapes[1];
    // rotation 120 of a 6x2 box == rotation 30 of a 2x6 box about the same centre (6, 3)
    assert!((b.rotation - 30.0).abs() < 0.01, "{}", b.rotation);
    assert!(
        close(&b.points, &[5.0, 0.0, 7.0, 6.0], 0.011),
        "{:?}",
        b.points
    );
}

#[test]
fn pose_samples_with_three_and_two_values_per_point() {
    for case in ["yolov8_pose", "yolov8_pose_two_values_per_point"] {
        let input = Input::open(&upstream(case)).unwrap();
        assert!(Pose.sniff(&input) > Detection.sniff(&input), "{case}");
        let ds = Pose.read(&input, &ReadOptions::default()).unwrap();
        assert_eq!(ds.labels.len(), 1);
        assert_eq!(ds.labels[0].name, "skeleton_label");
        assert_eq!(ds.labels[0].sublabels.len(), 3);
        assert_eq!(ds.shapes.len(), 1, "{case}");
        let s = &ds.shapes[0];
        assert_eq!(s.kind, ShapeType::Skeleton);
        // points 0.1 0.2 / 0.3 0.4 / 0.5 0.6 of a 15x10 image, all visible
        let pts: Vec<Vec<f64>> = s.elements.iter().map(|e| e.points.clone()).collect();
        assert_eq!(
            pts,
            vec![vec![1.5, 2.0], vec![4.5, 4.0], vec![7.5, 6.0]],
            "{case}"
        );
        assert!(s.elements.iter().all(|e| !e.outside && !e.occluded));
    }
}

#[test]
fn classification_sample_from_folders() {
    let ds = Classification
        .read(
            &Input::open(&upstream("yolov8_classification")).unwrap(),
            &ReadOptions::default(),
        )
        .unwrap();
    let names: Vec<&str> = ds.labels.iter().map(|l| l.name.as_str()).collect();
    assert_eq!(names, vec!["label_0", "label_1"]);
    assert_eq!(ds.frames.len(), 3);
    let got: Vec<(String, String)> = ds
        .tags
        .iter()
        .map(|t| {
            (
                ds.frame(t.frame).unwrap().name.clone(),
                ds.labels
                    .iter()
                    .find(|l| l.id == t.label_id)
                    .unwrap()
                    .name
                    .clone(),
            )
        })
        .collect();
    assert_eq!(
        got,
        vec![
            ("1.jpg".into(), "label_0".into()),
            ("2.jpg".into(), "label_0".into()),
            ("3.jpg".into(), "label_1".into())
        ]
    );
}

#[test]
fn classification_subsets_keep_same_named_images_apart() {
    let jpg = dir_files(&upstream("yolov8_classification"))["train/label_0/1.jpg"].clone();
    let mut files = BTreeMap::new();
    files.insert("train/cat/1.jpg".to_string(), jpg.clone());
    files.insert("val/dog/1.jpg".to_string(), jpg.clone());
    files.insert("val/no_label/2.jpg".to_string(), jpg);
    let ds = Classification
        .read(&Input::from_files("c", files), &ReadOptions::default())
        .unwrap();
    assert_eq!(ds.frames.len(), 3);
    let tag_of = |subset: Option<&str>| {
        let f = ds
            .frames
            .iter()
            .find(|f| f.name == "1.jpg" && f.subset.as_deref() == subset)
            .unwrap();
        let t: Vec<&str> = ds
            .tags
            .iter()
            .filter(|t| t.frame == f.id)
            .map(|t| {
                ds.labels
                    .iter()
                    .find(|l| l.id == t.label_id)
                    .unwrap()
                    .name
                    .as_str()
            })
            .collect();
        t
    };
    assert_eq!(tag_of(None), vec!["cat"]);
    assert_eq!(tag_of(Some("val")), vec!["dog"]);
    assert_eq!(ds.tags.len(), 2);
}

#[test]
fn roboflow_layout_and_trailing_track_ids() {
    let sample = dir_files(&upstream("yolov8_detection"));
    let jpg = sample["images/train/1.jpg"].clone();
    let mut files = BTreeMap::new();
    files.insert(
        "data.yaml".to_string(),
        b"train: ../train/images\nval: ../valid/images\nnc: 5\nnames: [a, b, c, d, e]\n\
          license: CC BY 4.0\nroboflow:\n  workspace: w\n"
            .to_vec(),
    );
    for i in 1..=3 {
        files.insert(format!("train/images/{i}.jpg"), jpg.clone());
    }
    files.insert("valid/images/1.jpg".into(), jpg.clone());
    files.insert("train/labels/1.txt".into(), b"4 0.1 0.1 0.1 0.1\n".to_vec());
    files.insert(
        "train/labels/2.txt".into(),
        b"2 0.5 0.5 0.2 0.2 7\n".to_vec(),
    );
    files.insert(
        "train/labels/3.txt".into(),
        b"2 0.6 0.5 0.2 0.2 7\n".to_vec(),
    );
    files.insert("valid/labels/1.txt".into(), b"0 0.5 0.5 1 1\n".to_vec());
    let input = Input::from_files("rf", files);
    let ds = Detection.read(&input, &ReadOptions::default()).unwrap();
    // 1.jpg is in both subsets: two frames
    let frames: Vec<(&str, Option<&str>)> = ds
        .frames
        .iter()
        .map(|f| (f.name.as_str(), f.subset.as_deref()))
        .collect();
    assert_eq!(frames.len(), 4, "{frames:?}");
    assert!(frames.contains(&("1.jpg", Some("val"))) && frames.contains(&("1.jpg", None)));
    let val_frame = ds
        .frames
        .iter()
        .find(|f| f.subset.as_deref() == Some("val"))
        .unwrap()
        .id;
    let val: Vec<&Shape> = ds.shapes.iter().filter(|s| s.frame == val_frame).collect();
    assert_eq!(val.len(), 1);
    assert_eq!(val[0].points, vec![0.0, 0.0, 15.0, 10.0]);
    // boxes sharing track id 7 on consecutive frames become one track, closed after its last frame
    assert_eq!(ds.tracks.len(), 1);
    let t = &ds.tracks[0];
    let keys: Vec<(u32, bool)> = t.shapes.iter().map(|s| (s.frame, s.outside)).collect();
    let id = |n: &str| ds.frames.iter().find(|f| f.name == n).unwrap().id;
    let (f2, f3) = (id("2.jpg"), id("3.jpg"));
    assert_eq!(f3, f2 + 1);
    // the last frame of the task: nothing to close
    assert_eq!(keys, vec![(f2, false), (f3, false)]);
    assert_eq!(ds.shapes.len(), 2);
    // the licence line is not a subset: a warning, located
    let diags = Detection
        .validate(&input, &ReadOptions::default())
        .into_items();
    let w: Vec<_> = diags.iter().filter(|d| d.code == "unknown-key").collect();
    assert_eq!(w.len(), 1, "{diags:?}");
    assert_eq!(w[0].location.line, Some(5));
    assert!(
        diags.iter().all(|d| d.severity != Severity::Error),
        "{diags:?}"
    );
}

#[test]
fn track_ids_rebuild_tracks_in_pose_and_oriented_boxes() {
    let pose = dir_files(&upstream("yolov8_pose"));
    let mut files = pose.clone();
    files.insert(
        "images/train/2.jpg".into(),
        pose["images/train/1.jpg"].clone(),
    );
    files.insert(
        "images/train/3.jpg".into(),
        pose["images/train/1.jpg"].clone(),
    );
    let line = String::from_utf8_lossy(&pose["labels/train/1.txt"])
        .trim()
        .to_string();
    files.insert(
        "labels/train/1.txt".into(),
        format!("{line} 4\n").into_bytes(),
    );
    files.insert(
        "labels/train/2.txt".into(),
        format!("{} 4\n", line.replace(" 0.5 0.6 2", " 0.5 0.6 0")).into_bytes(),
    );
    let ds = Pose
        .read(&Input::from_files("p", files), &ReadOptions::default())
        .unwrap();
    assert!(ds.shapes.is_empty());
    assert_eq!(ds.tracks.len(), 1);
    let t = &ds.tracks[0];
    let keys: Vec<(u32, bool)> = t.shapes.iter().map(|s| (s.frame, s.outside)).collect();
    assert_eq!(keys, vec![(0, false), (1, false), (2, true)]);
    assert_eq!(t.elements.len(), 3);
    let third: Vec<(u32, bool)> = t.elements[2]
        .shapes
        .iter()
        .map(|s| (s.frame, s.outside))
        .collect();
    assert_eq!(third, vec![(0, false), (1, true), (2, true)]);
    // written back: the skeleton on frames 0 and 1 (the third point absent on 1), nothing on frame 2
    let (out, _) = write_with(&Pose, &ds);
    let labels: Vec<&String> = out.keys().filter(|k| k.starts_with("labels/")).collect();
    assert_eq!(labels, vec!["labels/train/1.txt", "labels/train/2.txt"]);
    let l2 = lines(&out["labels/train/2.txt"]);
    assert_eq!(l2[0].last().map(String::as_str), Some("0"));
    assert_eq!(
        lines(&out["labels/train/1.txt"])[0]
            .last()
            .map(String::as_str),
        Some("2")
    );

    let obb = dir_files(&upstream("yolov8_oriented_boxes"));
    let mut files = obb.clone();
    files.insert(
        "images/train/2.jpg".into(),
        obb["images/train/1.jpg"].clone(),
    );
    let first = String::from_utf8_lossy(&obb["labels/train/1.txt"])
        .lines()
        .next()
        .unwrap()
        .to_string();
    files.insert(
        "labels/train/1.txt".into(),
        format!("{first} 0\n").into_bytes(),
    );
    files.insert(
        "labels/train/2.txt".into(),
        format!("{first} 0\n").into_bytes(),
    );
    let ds = OrientedBoxes
        .read(&Input::from_files("o", files), &ReadOptions::default())
        .unwrap();
    assert_eq!(ds.tracks.len(), 1);
    let t = &ds.tracks[0];
    assert_eq!(
        t.shapes.len(),
        2,
        "ends on the last frame: no outside keyframe"
    );
    assert!(t.shapes.iter().all(|s| (s.rotation - 30.0).abs() < 0.01));
}

#[test]
fn round_trips() {
    let task = rich_a();
    let opts = task_opts(&task);
    let formats: [&dyn Format; 5] = [
        &Detection,
        &OrientedBoxes,
        &Segmentation,
        &Pose,
        &Classification,
    ];
    for f in formats {
        let (files, _) = write_with(f, &task);
        let back = f
            .read(&Input::from_files("rt", files.clone()), &opts)
            .unwrap_or_else(|e| panic!("{}: {e}", f.info().name));
        let (again, _) = write_with(f, &back);
        if f.info().name.contains("Oriented") {
            // corners -> (centre, size, angle in (0, 90]) rounded to 0.01 px -> corners: the same
            // quadrilateral to ~1e-5, possibly starting at another corner (axis-aligned boxes come
            // back as 90° rotations, as on the server)
            assert_eq!(
                files.keys().collect::<Vec<_>>(),
                again.keys().collect::<Vec<_>>()
            );
            for (name, bytes) in files.iter().filter(|(n, _)| n.starts_with("labels/")) {
                let (a, b) = (lines(bytes), lines(&again[name]));
                assert_eq!(a.len(), b.len(), "{name}");
                for (x, y) in a.iter().zip(&b) {
                    assert_eq!(x[0], y[0]);
                    let num = |v: &[String]| -> Vec<f64> {
                        v[1..].iter().map(|t| t.parse().unwrap()).collect()
                    };
                    let (u, v) = (num(x), num(y));
                    let same =
                        (0..4).any(|k| (0..8).all(|i| (u[i] - v[(i + 2 * k) % 8]).abs() < 3e-5));
                    assert!(same, "{name}: {x:?} vs {y:?}");
                }
            }
        } else {
            assert_eq!(
                files,
                again,
                "{}: write(read(write(x))) == write(x)",
                f.info().name
            );
        }
    }
    // upstream samples: read -> write -> read
    for (f, case) in [
        (&Detection as &dyn Format, "yolov8_detection"),
        (&Segmentation, "yolov8_segmentation"),
        (&OrientedBoxes, "yolov8_oriented_boxes"),
        (&Pose, "yolov8_pose"),
    ] {
        let ds = f
            .read(
                &Input::open(&upstream(case)).unwrap(),
                &ReadOptions::default(),
            )
            .unwrap();
        let (files, _) = write_with(f, &ds);
        let back = f
            .read(
                &Input::from_files("rt", files),
                &ReadOptions::default().with_frames(ds.frames.clone()),
            )
            .unwrap();
        assert_eq!(back.shapes.len(), ds.shapes.len(), "{case}");
        for (a, b) in back.shapes.iter().zip(&ds.shapes) {
            assert!(
                close(&a.points, &b.points, 0.011),
                "{case}: {:?} vs {:?}",
                a.points,
                b.points
            );
            assert!((a.rotation - b.rotation).abs() < 0.01, "{case}");
            assert_eq!(a.elements.len(), b.elements.len());
        }
    }
}

fn with_edit(case: &str, edit: impl FnOnce(&mut BTreeMap<String, Vec<u8>>)) -> Input {
    let mut files = dir_files(&upstream(case));
    edit(&mut files);
    Input::from_files(case, files)
}

#[test]
fn validation_reports_located_problems() {
    let input = with_edit("yolov8_detection", |f| {
        f.insert(
            "labels/train/1.txt".into(),
            b"2 0.1 0.3 0.2 0.2\n2 0.1\n2 0.1 abc 0.2 0.2\n10 0.1 0.3 0.2 0.2\n2 1.2 0.3 0.2 0.2\n"
                .to_vec(),
        );
    });
    let all = Detection
        .validate(&input, &ReadOptions::default())
        .into_items();
    let at = |code: &str| {
        all.iter()
            .find(|d| d.code == code)
            .map(|d| (d.severity, d.location.line, d.location.column))
    };
    assert_eq!(at("field-count"), Some((Severity::Error, Some(2), Some(1))));
    assert_eq!(
        at("not-a-number"),
        Some((Severity::Error, Some(3), Some(7)))
    );
    assert_eq!(
        at("class-out-of-range"),
        Some((Severity::Error, Some(4), Some(1)))
    );
    assert_eq!(
        at("out-of-range"),
        Some((Severity::Warning, Some(5), Some(3)))
    );

    // bad YAML is located
    let bad = with_edit("yolov8_detection", |f| {
        f.insert(
            "data.yaml".into(),
            b"path: .\ntrain: [images/train\nnames: {0: a}\n".to_vec(),
        );
    });
    let e = Detection.read(&bad, &ReadOptions::default()).unwrap_err();
    let d = e.to_diagnostic("x");
    assert_eq!(d.code, "syntax");
    assert!(
        d.location.line.is_some() && d.location.file.ends_with("data.yaml"),
        "{d}"
    );

    // no data.yaml
    let none = with_edit("yolov8_detection", |f| {
        f.remove("data.yaml");
    });
    let e = Detection.read(&none, &ReadOptions::default()).unwrap_err();
    assert!(e.to_string().contains("data.yaml"), "{e}");
    assert_eq!(Detection.sniff(&none), 0);

    // train list pointing at a missing file
    let missing = with_edit("yolov8_detection_with_subset_txt", |f| {
        f.insert(
            "data.yaml".into(),
            b"names: [a]\ntrain: nothere.txt\n".to_vec(),
        );
    });
    let errs = Detection
        .validate(&missing, &ReadOptions::default())
        .into_items();
    assert!(
        errs.iter()
            .any(|d| d.code == "missing-file" && d.location.line == Some(2)),
        "{errs:?}"
    );

    // pose: kpt_shape missing, and wrong point counts
    let pose = with_edit("yolov8_pose", |f| {
        f.insert(
            "labels/train/1.txt".into(),
            b"0 0.1 0.2 0.3 0.4 0.1 0.2 2\n".to_vec(),
        );
    });
    let errs = Pose.validate(&pose, &ReadOptions::default()).into_items();
    assert!(
        errs.iter()
            .any(|d| d.code == "field-count" && d.location.line == Some(1)),
        "{errs:?}"
    );
    let pose = with_edit("yolov8_pose", |f| {
        f.insert(
            "labels/train/1.txt".into(),
            b"0 0.1 0.2 0.3 0.4 0.1 0.2 2 0.3 0.4 5 0.5 0.6 2\n".to_vec(),
        );
    });
    let errs = Pose.validate(&pose, &ReadOptions::default()).into_items();
    assert!(
        errs.iter()
            .any(|d| d.code == "bad-value" && d.location.column == Some(37)),
        "{errs:?}"
    );
}

#[test]
fn pose_points_past_the_skeleton_are_reported() {
    let sub = |id: i64, name: &str| cvat_format_api::Label {
        id,
        name: name.into(),
        kind: cvat_format_api::LabelType::Points,
        ..Default::default()
    };
    let skeleton = cvat_format_api::Label {
        id: 1,
        name: "skeleton_label".into(),
        kind: cvat_format_api::LabelType::Skeleton,
        sublabels: vec![sub(2, "a"), sub(3, "b")],
        ..Default::default()
    };
    let input = Input::open(&upstream("yolov8_pose")).unwrap();
    let opts = ReadOptions::default().with_labels(vec![skeleton]);
    let ds = Pose.read(&input, &opts).unwrap();
    assert_eq!(ds.shapes[0].elements.len(), 2);
    let diags = Pose.validate(&input, &opts).into_items();
    let w: Vec<_> = diags.iter().filter(|d| d.code == "extra-point").collect();
    assert_eq!(w.len(), 1, "{diags:?}");
    assert_eq!(w[0].severity, Severity::Warning);
    assert_eq!(
        (w[0].location.line, w[0].location.column),
        (Some(1), Some(59))
    );
}

#[test]
fn missing_sizes_fail_with_a_hint() {
    let input = Input::open(&shared("cvat/exports/rich-A/export/YOLOv8_Detection_1.0")).unwrap();
    let err = Detection.read(&input, &ReadOptions::default()).unwrap_err();
    assert!(err.to_string().contains("frame_00_640x480"), "{err}");
    assert!(err.hint().unwrap_or_default().contains("images"), "{err:?}");
}

#[test]
fn names_are_registered_with_the_old_aliases() {
    let mut r = Registry::new();
    let all: [Box<dyn Format>; 6] = [
        Box::new(Detection),
        Box::new(DetectionTrack),
        Box::new(Segmentation),
        Box::new(Pose),
        Box::new(OrientedBoxes),
        Box::new(Classification),
    ];
    for f in all {
        r.register(f, cvat_format_api::Origin::Builtin("t"))
            .unwrap();
    }
    for (old, new) in [
        ("YOLOv8 Detection 1.0", "Ultralytics YOLO Detection 1.0"),
        (
            "YOLOv8 Segmentation 1.0",
            "Ultralytics YOLO Segmentation 1.0",
        ),
        ("YOLOv8 Pose 1.0", "Ultralytics YOLO Pose 1.0"),
        (
            "YOLOv8 Oriented Bounding Boxes 1.0",
            "Ultralytics YOLO Oriented Bounding Boxes 1.0",
        ),
        (
            "YOLOv8 Classification 1.0",
            "Ultralytics YOLO Classification 1.0",
        ),
        (
            "YOLOv8 Detection Track 1.0",
            "Ultralytics YOLO Detection Track 1.0",
        ),
    ] {
        assert_eq!(r.get(old).unwrap().info.name, new);
    }
    assert!(
        !r.get("Ultralytics YOLO Detection Track 1.0")
            .unwrap()
            .info
            .can_import
    );
}

#[test]
fn truncated_files_never_panic() {
    let frames = rich_a().frames;
    let formats: [(&dyn Format, PathBuf); 9] = [
        (&Detection, upstream("yolov8_detection_with_list_of_imgs")),
        (&Detection, upstream("yolov8_detection_with_list_of_names")),
        (&Segmentation, upstream("yolov8_segmentation")),
        (&OrientedBoxes, upstream("yolov8_oriented_boxes")),
        (&Pose, upstream("yolov8_pose")),
        (&Pose, shared("cvat/exports/rich-A/export/YOLOv8_Pose_1.0")),
        (
            &Segmentation,
            shared("cvat/exports/rich-A/export/YOLOv8_Segmentation_1.0"),
        ),
        (
            &Classification,
            shared("cvat/exports/rich-A/export/YOLOv8_Classification_1.0"),
        ),
        (
            &Detection,
            shared("cvat/exports/rich-A/export/YOLOv8_Detection_1.0"),
        ),
    ];
    let mut checked = 0;
    for (f, dir) in formats {
        let files = dir_files(&dir);
        for (name, bytes) in files.iter().filter(|(n, _)| !n.ends_with(".jpg")) {
            let step = (bytes.len() / 150).max(1);
            for cut in (0..bytes.len()).step_by(step) {
                let mut m = files.clone();
                m.insert(name.clone(), bytes[..cut].to_vec());
                let input = Input::from_files("cut", m);
                let opts = ReadOptions::default().with_frames(frames.clone());
                if let Err(e) = f.read(&input, &opts) {
                    let d = e.to_diagnostic("cut");
                    assert!(!d.location.file.is_empty(), "{name}@{cut}: {e}");
                }
                let _ = f.validate(&input, &opts);
                checked += 1;
            }
        }
    }
    assert!(checked > 500, "{checked}");
}

fn arb_dataset() -> impl Strategy<Value = Dataset> {
    (
        prop::collection::vec((1u32..3000, 1u32..3000), 1..4),
        prop::collection::vec(
            (
                0usize..4,
                0usize..3,
                0.0f64..1.0,
                0.0f64..1.0,
                0.0f64..1.0,
                0.0f64..1.0,
            ),
            0..12,
        ),
    )
        .prop_map(|(sizes, boxes)| {
            let labels = (0..3)
                .map(|i| cvat_format_api::Label {
                    id: i + 1,
                    name: ["car", "yes", "a: b"][i as usize].to_string(),
                    ..Default::default()
                })
                .collect();
            let frames: Vec<cvat_format_api::Frame> = sizes
                .iter()
                .enumerate()
                .map(|(i, (w, h))| cvat_format_api::Frame {
                    id: i as u32,
                    name: format!("img_{i}.jpg"),
                    width: *w,
                    height: *h,
                    subset: None,
                })
                .collect();
            let n = frames.len();
            let q = |v: f64| (v * 100.0).round() / 100.0;
            let mut shapes: Vec<Shape> = boxes
                .into_iter()
                .map(|(f, l, a, b, c, d)| {
                    let fr = &frames[f % n];
                    let (w, h) = (fr.width as f64, fr.height as f64);
                    Shape {
                        label_id: l as i64 + 1,
                        kind: ShapeType::Rectangle,
                        frame: fr.id,
                        points: vec![
                            q(a.min(b) * w),
                            q(c.min(d) * h),
                            q(a.max(b) * w),
                            q(c.max(d) * h),
                        ],
                        ..Default::default()
                    }
                })
                .collect();
            shapes.sort_by_key(|s| s.frame);
            Dataset {
                labels,
                frames,
                shapes,
                ..Default::default()
            }
        })
}

proptest! {
    #[test]
    fn detection_write_then_read_gives_the_boxes_back(ds in arb_dataset()) {
        let (files, drops) = write_with(&Detection, &ds);
        prop_assert!(drops.is_empty(), "{}", drops);
        let back = Detection
            .read(&Input::from_files("p", files), &ReadOptions::default().with_frames(ds.frames.clone()))
            .unwrap();
        let names: Vec<&str> = back.labels.iter().map(|l| l.name.as_str()).collect();
        prop_assert_eq!(names, vec!["car", "yes", "a: b"]);
        prop_assert_eq!(back.shapes.len(), ds.shapes.len());
        for (a, b) in back.shapes.iter().zip(&ds.shapes) {
            prop_assert_eq!(a.frame, b.frame);
            prop_assert_eq!(a.label_id, b.label_id);
            let fr = &ds.frames[a.frame as usize];
            let tol = 1e-6 * fr.width.max(fr.height) as f64 + 0.011;
            for (p, q) in a.points.iter().zip(&b.points) {
                prop_assert!((p - q).abs() <= tol, "{:?} vs {:?}", a.points, b.points);
            }
        }
    }
}

#[test]
fn each_real_export_is_recognised_as_its_own_format() {
    let mut r = Registry::new();
    let all: [Box<dyn Format>; 7] = [
        Box::new(Detection),
        Box::new(DetectionTrack),
        Box::new(Segmentation),
        Box::new(Pose),
        Box::new(OrientedBoxes),
        Box::new(Classification),
        Box::new(cvat_format_yolo::Yolo11),
    ];
    for f in all {
        r.register(f, cvat_format_api::Origin::Builtin("t"))
            .unwrap();
    }
    for (dir, name) in [
        ("YOLOv8_Detection_1.0", "Ultralytics YOLO Detection 1.0"),
        (
            "YOLOv8_Segmentation_1.0",
            "Ultralytics YOLO Segmentation 1.0",
        ),
        ("YOLOv8_Pose_1.0", "Ultralytics YOLO Pose 1.0"),
        (
            "YOLOv8_Oriented_Bounding_Boxes_1.0",
            "Ultralytics YOLO Oriented Bounding Boxes 1.0",
        ),
        (
            "YOLOv8_Classification_1.0",
            "Ultralytics YOLO Classification 1.0",
        ),
        ("YOLO_1.1", "YOLO 1.1"),
    ] {
        let input = Input::open(&shared(&format!("cvat/exports/rich-A/export/{dir}"))).unwrap();
        assert_eq!(
            r.detect(&input).map(|e| e.info.name.as_str()),
            Some(name),
            "{dir}"
        );
    }
}
