//! "YOLO 1.1": fidelity against the real server's export of rich-A, re-import against what the server
//! kept, upstream samples, round trips, validation, truncation.

use cvat_format_api::{
    Dataset, Format, Input, MemorySink, ReadOptions, Registry, Severity, Shape, ShapeType,
    WriteOptions,
};
use cvat_format_yolo::Yolo11;
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

fn write(ds: &Dataset) -> (BTreeMap<String, Vec<u8>>, cvat_format_api::DropReport) {
    let mut sink = MemorySink::default();
    let drops = Yolo11
        .write(ds, &mut sink, &WriteOptions::default())
        .expect("write");
    (sink.into_files(), drops)
}

/// Compares two text files line by line; numeric fields must agree to 1e-9, others exactly.
fn assert_same_lines(name: &str, ours: &[u8], theirs: &[u8]) {
    let a = String::from_utf8_lossy(ours);
    let b = String::from_utf8_lossy(theirs);
    let la: Vec<&str> = a.lines().collect();
    let lb: Vec<&str> = b.lines().collect();
    assert_eq!(
        la.len(),
        lb.len(),
        "{name}: line count\nours:\n{a}\ntheirs:\n{b}"
    );
    for (i, (x, y)) in la.iter().zip(&lb).enumerate() {
        let fx: Vec<&str> = x.split_whitespace().collect();
        let fy: Vec<&str> = y.split_whitespace().collect();
        assert_eq!(fx.len(), fy.len(), "{name}:{}: field count", i + 1);
        for (p, q) in fx.iter().zip(&fy) {
            match (p.parse::<f64>(), q.parse::<f64>()) {
                (Ok(u), Ok(v)) => assert!((u - v).abs() < 1e-9, "{name}:{}: {p} vs {q}", i + 1),
                _ => assert_eq!(p, q, "{name}:{}", i + 1),
            }
        }
    }
}

#[test]
fn export_matches_the_real_server_file_for_file() {
    let (ours, drops) = write(&rich_a());
    let theirs = dir_files(&shared("cvat/exports/rich-A/export/YOLO_1.1"));
    assert_eq!(
        ours.keys().collect::<Vec<_>>(),
        theirs.keys().collect::<Vec<_>>()
    );
    for (name, bytes) in &theirs {
        assert_same_lines(name, &ours[name], bytes);
        // and byte for byte: same "%.6f" formatting and line ends
        assert_eq!(
            String::from_utf8_lossy(&ours[name]),
            String::from_utf8_lossy(bytes),
            "{name}"
        );
    }
    // nothing dropped silently: the rotated box, the tags, the other shape types
    assert_eq!(drops.count("rotated rectangles"), 1);
    assert_eq!(drops.count("tags"), 2);
    assert!(drops.count("polygon shapes") >= 3);
    assert!(drops.count("attribute values") > 0);
}

#[test]
fn export_with_images_layout_has_the_same_annotation_files() {
    let (ours, _) = write(&rich_a());
    let theirs = dir_files(&shared("cvat/exports/rich-A/export_with_images/YOLO_1.1"));
    for (name, bytes) in theirs.iter().filter(|(n, _)| !n.ends_with(".jpg")) {
        assert_same_lines(name, &ours[name], bytes);
    }
    // the images the server adds are exactly the frames listed in train.txt
    let listed: Vec<String> = String::from_utf8_lossy(&theirs["train.txt"])
        .lines()
        .map(|l| l.trim_start_matches("data/").to_string())
        .collect();
    for l in &listed {
        assert!(theirs.contains_key(l), "{l} listed but not in the export");
    }
}

fn reimport_shapes(name: &str) -> Vec<serde_json::Value> {
    let p = shared(&format!("cvat/exports/rich-A/reimport/{name}.json"));
    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(p).unwrap()).unwrap();
    v["shapes"].as_array().unwrap().clone()
}

fn shape_key(frame: u64, kind: &str, points: &[f64]) -> String {
    let pts: Vec<String> = points.iter().map(|p| format!("{p:.2}")).collect();
    format!("{frame} {kind} {}", pts.join(","))
}

#[test]
fn reading_the_real_export_gives_what_the_server_kept() {
    let task = rich_a();
    let input = Input::open(&shared("cvat/exports/rich-A/export/YOLO_1.1")).unwrap();
    let ds = Yolo11.read(&input, &task_opts(&task)).expect("read");
    let theirs = reimport_shapes("YOLO_1.1");
    assert_eq!(ds.shapes.len(), theirs.len());
    assert!(ds.tags.is_empty() && ds.tracks.is_empty());
    let mut a: Vec<String> = ds
        .shapes
        .iter()
        .map(|s| shape_key(s.frame as u64, s.kind.as_str(), &s.points))
        .collect();
    let mut b: Vec<String> = theirs
        .iter()
        .map(|s| {
            let pts: Vec<f64> = s["points"]
                .as_array()
                .unwrap()
                .iter()
                .map(|p| p.as_f64().unwrap())
                .collect();
            shape_key(
                s["frame"].as_u64().unwrap(),
                s["type"].as_str().unwrap(),
                &pts,
            )
        })
        .collect();
    a.sort();
    b.sort();
    assert_eq!(a, b);
    // every box is a car (the server's re-import uses one label for all of them too)
    let car = task.label_by_name("car").unwrap().id;
    assert!(ds.shapes.iter().all(|s| s.label_id == car));
    let ids: std::collections::HashSet<i64> = theirs
        .iter()
        .map(|s| s["label_id"].as_i64().unwrap())
        .collect();
    assert_eq!(ids.len(), 1);
    assert_eq!(ds.frames.len(), 6);
}

#[test]
fn sizes_come_from_images_beside_the_labels() {
    let task = rich_a();
    let input = Input::open(&shared("cvat/exports/rich-A/export_with_images/YOLO_1.1")).unwrap();
    let from_images = Yolo11.read(&input, &ReadOptions::default()).expect("read");
    let from_task = Yolo11
        .read(
            &input,
            &ReadOptions::default().with_frames(task.frames.clone()),
        )
        .expect("read");
    assert_eq!(from_images.frames, from_task.frames);
    assert_eq!(from_images.shapes, from_task.shapes);
    for (f, t) in from_images.frames.iter().zip(&task.frames) {
        assert_eq!((f.width, f.height), (t.width, t.height), "{}", f.name);
    }
}

#[test]
fn missing_sizes_fail_with_a_hint() {
    let input = Input::open(&shared("cvat/exports/rich-A/export/YOLO_1.1")).unwrap();
    let err = Yolo11.read(&input, &ReadOptions::default()).unwrap_err();
    assert!(err.to_string().contains("frame_00_640x480"), "{err}");
    let hint = err.hint().unwrap_or_default();
    assert!(
        hint.contains("frame list") && hint.contains("images"),
        "{hint}"
    );
}

fn upstream_dir() -> PathBuf {
    shared("formats/yolo/cvat-ai_datumaro/tests/assets/yolo_dataset/yolo")
}

#[test]
fn upstream_sample_reads_as_datumaro_expects() {
    // datumaro's test_yolo_format builds this sample from a 15x10 image with
    // Bbox(0, 2, 4, 2, label=2) and Bbox(3, 3, 2, 3, label=4) (x, y, w, h).
    let input = Input::open(&upstream_dir()).unwrap();
    let ds = Yolo11.read(&input, &ReadOptions::default()).expect("read");
    assert_eq!(ds.labels.len(), 10);
    assert_eq!(ds.frames.len(), 1);
    assert_eq!(ds.frames[0].name, "1.jpg");
    assert_eq!((ds.frames[0].width, ds.frames[0].height), (15, 10));
    let got: Vec<(String, Vec<f64>)> = ds
        .shapes
        .iter()
        .map(|s| {
            let name = ds
                .labels
                .iter()
                .find(|l| l.id == s.label_id)
                .unwrap()
                .name
                .clone();
            (name, s.points.clone())
        })
        .collect();
    assert_eq!(
        got,
        vec![
            ("label_2".to_string(), vec![0.0, 2.0, 4.0, 4.0]),
            ("label_4".to_string(), vec![3.0, 3.0, 5.0, 6.0]),
        ]
    );
    assert!(Yolo11.sniff(&input) >= 90);
}

#[test]
fn round_trip_of_the_upstream_sample() {
    let input = Input::open(&upstream_dir()).unwrap();
    let ds = Yolo11.read(&input, &ReadOptions::default()).unwrap();
    let (files, drops) = write(&ds);
    assert!(drops.is_empty(), "{drops}");
    // the written label file is the sample's, byte for byte
    let orig = dir_files(&upstream_dir());
    for name in ["obj_train_data/1.txt", "obj.names", "obj.data", "train.txt"] {
        assert_eq!(
            String::from_utf8_lossy(&files[name]),
            String::from_utf8_lossy(&orig[name]),
            "{name}"
        );
    }
    let back = Yolo11
        .read(
            &Input::from_files("rt", files),
            &ReadOptions::default().with_frames(ds.frames.clone()),
        )
        .unwrap();
    assert_eq!(back.shapes, ds.shapes);
    assert_eq!(back.labels, ds.labels);
}

#[test]
fn round_trip_of_rich_a_keeps_the_boxes() {
    let task = rich_a();
    let (files, _) = write(&task);
    let back = Yolo11
        .read(&Input::from_files("rt", files.clone()), &task_opts(&task))
        .unwrap();
    let (again, _) = write(&back);
    assert_eq!(files, again, "write(read(write(x))) == write(x)");
}

fn sample_with(edit: impl FnOnce(&mut BTreeMap<String, Vec<u8>>)) -> Input {
    let mut files = dir_files(&upstream_dir());
    edit(&mut files);
    Input::from_files("sample", files)
}

fn errors(input: &Input) -> Vec<cvat_format_api::Diagnostic> {
    Yolo11
        .validate(input, &ReadOptions::default())
        .into_items()
        .into_iter()
        .filter(|d| d.severity == Severity::Error)
        .collect()
}

#[test]
fn validation_locates_every_bad_line() {
    let input = sample_with(|f| {
        f.insert(
            "obj_train_data/1.txt".into(),
            b"2 0.1 0.3 0.2 0.2\n2 0.1 0.3\n2 0.1 x 0.2 0.2\n12 0.1 0.3 0.2 0.2\n2 0.1 1.5 0.2 0.2\n".to_vec(),
        );
    });
    let all = Yolo11
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
        Some((Severity::Warning, Some(5), Some(7)))
    );
    assert!(all
        .iter()
        .all(|d| d.location.file.ends_with("obj_train_data/1.txt")));
    // read stops at the first error, with the same location
    let err = Yolo11.read(&input, &ReadOptions::default()).unwrap_err();
    assert!(err.to_string().contains("1.txt:2:1"), "{err}");
}

#[test]
fn missing_files_are_reported() {
    let no_names = sample_with(|f| {
        f.remove("obj.names");
    });
    let e = Yolo11.read(&no_names, &ReadOptions::default()).unwrap_err();
    assert!(e.to_string().contains("obj.names"), "{e}");

    let no_data = sample_with(|f| {
        f.remove("obj.data");
    });
    assert!(Yolo11.read(&no_data, &ReadOptions::default()).is_err());
    assert!(Yolo11.sniff(&no_data) < Yolo11.sniff(&sample_with(|_| {})));

    let dangling = sample_with(|f| {
        f.insert(
            "train.txt".into(),
            b"data/obj_train_data/1.jpg\ndata/obj_train_data/2.jpg\n".to_vec(),
        );
    });
    let errs = errors(&dangling);
    assert_eq!(errs.len(), 1, "{errs:?}");
    assert_eq!(errs[0].code, "missing-file");
    assert_eq!(errs[0].location.line, Some(2));
    assert!(errs[0].location.file.ends_with("train.txt"));

    let bad_data = sample_with(|f| {
        f.insert(
            "obj.data".into(),
            b"classes = ten\ntrain data/train.txt\n".to_vec(),
        );
    });
    let errs = errors(&bad_data);
    assert!(errs
        .iter()
        .any(|d| d.location.line == Some(1) && d.code == "not-a-number"));
    assert!(errs
        .iter()
        .any(|d| d.location.line == Some(2) && d.code == "syntax"));
}

#[test]
fn unknown_task_label_is_an_error_at_the_line() {
    let input = Input::open(&upstream_dir()).unwrap();
    let task = rich_a();
    let opts = ReadOptions::default()
        .with_labels(task.labels.clone())
        .with_frames(vec![cvat_format_api::Frame {
            id: 0,
            name: "1.jpg".into(),
            width: 15,
            height: 10,
            subset: None,
        }]);
    let err = Yolo11.read(&input, &opts).unwrap_err();
    let d = err.to_diagnostic("x");
    assert_eq!(d.code, "undeclared-label");
    assert_eq!(d.location.line, Some(1));
}

#[test]
fn truncated_files_never_panic() {
    let mut cases: Vec<BTreeMap<String, Vec<u8>>> = vec![
        dir_files(&upstream_dir()),
        dir_files(&shared("cvat/exports/rich-A/export/YOLO_1.1")),
    ];
    let frames = rich_a().frames;
    let mut checked = 0;
    for files in cases.drain(..) {
        for (name, bytes) in files.iter().filter(|(n, _)| !n.ends_with(".jpg")) {
            let step = (bytes.len() / 200).max(1);
            for cut in (0..bytes.len()).step_by(step) {
                let mut f = files.clone();
                f.insert(name.clone(), bytes[..cut].to_vec());
                let input = Input::from_files("cut", f);
                let opts = ReadOptions::default().with_frames(frames.clone());
                if let Err(e) = Yolo11.read(&input, &opts) {
                    let d = e.to_diagnostic("cut");
                    assert!(!d.location.file.is_empty(), "{name}@{cut}: {e}");
                }
                let _ = Yolo11.validate(&input, &opts);
                checked += 1;
            }
        }
        // and the image itself truncated: the size comes from the header or the error says so
        if let Some(jpg) = files.get("obj_train_data/1.jpg") {
            for cut in (0..jpg.len()).step_by(7) {
                let mut f = files.clone();
                f.insert("obj_train_data/1.jpg".into(), jpg[..cut].to_vec());
                let _ = Yolo11.read(&Input::from_files("cut", f), &ReadOptions::default());
                checked += 1;
            }
        }
    }
    assert!(checked > 200);
}

#[test]
fn registered_under_both_names() {
    let mut r = Registry::new();
    r.register(Box::new(Yolo11), cvat_format_api::Origin::Builtin("t"))
        .unwrap();
    assert_eq!(r.get("YOLO ZIP 1.1").unwrap().info.name, "YOLO 1.1");
    assert!(r.get("YOLO 1.1").unwrap().info.can_import);
}

fn arb_dataset() -> impl Strategy<Value = Dataset> {
    let frame = (1u32..2000, 1u32..2000);
    (
        prop::collection::vec(frame, 1..4),
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
        .prop_map(|(frames, boxes)| {
            let labels = (0..3)
                .map(|i| cvat_format_api::Label {
                    id: i + 1,
                    name: format!("l{i}"),
                    ..Default::default()
                })
                .collect();
            let frames: Vec<cvat_format_api::Frame> = frames
                .iter()
                .enumerate()
                .map(|(i, (w, h))| cvat_format_api::Frame {
                    id: i as u32,
                    name: format!("img_{i}.png"),
                    width: *w,
                    height: *h,
                    subset: None,
                })
                .collect();
            let n = frames.len();
            let mut shapes: Vec<Shape> = boxes
                .into_iter()
                .map(|(f, l, a, b, c, d)| {
                    let fr = &frames[f % n];
                    let (w, h) = (fr.width as f64, fr.height as f64);
                    // coordinates on a 0.01 px grid, as the server stores them
                    let q = |v: f64| (v * 100.0).round() / 100.0;
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
    fn write_then_read_gives_the_boxes_back(ds in arb_dataset()) {
        let (files, drops) = write(&ds);
        prop_assert!(drops.is_empty());
        let back = Yolo11
            .read(&Input::from_files("p", files), &ReadOptions::default().with_frames(ds.frames.clone()))
            .unwrap();
        prop_assert_eq!(back.shapes.len(), ds.shapes.len());
        prop_assert_eq!(&back.frames, &ds.frames);
        for (a, b) in back.shapes.iter().zip(&ds.shapes) {
            prop_assert_eq!(a.frame, b.frame);
            prop_assert_eq!(a.label_id, b.label_id);
            let fr = &ds.frames[a.frame as usize];
            // 6 decimals of a fraction of up to 2000 px, then rounded to 0.01 px
            let tol = 0.5e-6 * fr.width.max(fr.height) as f64 * 2.0 + 0.011;
            for (p, q) in a.points.iter().zip(&b.points) {
                prop_assert!((p - q).abs() <= tol, "{:?} vs {:?}", a.points, b.points);
            }
        }
    }
}

/// (label id, kind, points, z-order, track index, attribute count) of a shape on a frame.
type FlatRow = (i64, ShapeType, Vec<f64>, i64, Option<usize>, usize);

/// The per-frame lists as the exporters built them before `Flat` (a map of copies): the reference.
fn flatten_by_copy(ds: &Dataset) -> BTreeMap<u32, Vec<FlatRow>> {
    use cvat_format_yolo::common::{frame_count, interpolate_track};
    let end = frame_count(ds);
    let mut out: BTreeMap<u32, Vec<_>> = BTreeMap::new();
    for s in ds.shapes.iter().filter(|s| !s.outside) {
        let attrs =
            s.attributes.len() + s.elements.iter().map(|e| e.attributes.len()).sum::<usize>();
        out.entry(s.frame).or_default().push((
            s.label_id,
            s.kind,
            s.points.clone(),
            s.z_order,
            None,
            attrs,
        ));
    }
    for (ti, t) in ds.tracks.iter().enumerate() {
        for (frame, ts) in interpolate_track(&t.shapes, end, false) {
            if !ts.outside {
                let attrs = t.attributes.len() + ts.attributes.len();
                out.entry(frame).or_default().push((
                    t.label_id,
                    ts.kind,
                    ts.points,
                    ts.z_order,
                    Some(ti),
                    attrs,
                ));
            }
        }
    }
    for list in out.values_mut() {
        list.sort_by_key(|s| s.3);
    }
    out
}

#[test]
fn flat_gives_each_frame_the_shapes_in_export_order_without_copies() {
    // rich-A (tracks, skeletons, outside shapes), its shapes shuffled out of frame order, z-orders
    // mixed, and one shape on a frame the frame list lacks
    let mut ds = rich_a();
    let mut extra = ds.shapes[0].clone();
    extra.frame = 40;
    ds.shapes.push(extra);
    ds.shapes.reverse();
    let n = ds.shapes.len();
    for (i, s) in ds.shapes.iter_mut().enumerate() {
        s.z_order = (i * 7 % 3) as i64 - 1;
        if i == n / 2 {
            s.outside = true;
        }
    }
    let want = flatten_by_copy(&ds);
    let flat = cvat_format_yolo::common::Flat::new(&ds);
    let mut buf = Vec::new();
    let mut seen = 0;
    for frame in 0..50 {
        flat.frame_into(frame, &mut buf);
        let got: Vec<_> = buf
            .iter()
            .map(|s| {
                (
                    s.label_id,
                    s.kind,
                    s.points.to_vec(),
                    s.z_order,
                    s.track,
                    s.attributes,
                )
            })
            .collect();
        assert_eq!(
            got,
            want.get(&frame).cloned().unwrap_or_default(),
            "frame {frame}"
        );
        seen += got.len();
    }
    assert_eq!(seen, want.values().map(Vec::len).sum::<usize>());
    assert!(seen > 20 && want.values().any(|l| l.iter().any(|s| s.4.is_some())));
    let known: std::collections::HashSet<u32> = ds.frames.iter().map(|f| f.id).collect();
    assert_eq!(flat.count_where(|f| known.contains(&f)), want[&40].len());
}
