//! MOT 1.1: fidelity against the real export of rich-A, re-import against the server's own re-import,
//! upstream samples, round trips, truncation and validation.

use cvat_format_api::rest::parse_annotations;
use cvat_format_api::{
    Dataset, Format, Input, MemorySink, ReadOptions, Severity, ShapeType, WriteOptions,
};
use cvat_format_mot::MotFormat;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::path::PathBuf;

fn shared(rel: &str) -> PathBuf {
    let p = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/")).join(rel);
    assert!(p.exists(), "shared data missing: {}", p.display());
    p
}

fn rich_a() -> Dataset {
    Dataset::from_task_dir(&shared("cvat/exports/rich-A")).unwrap()
}

fn write(ds: &Dataset) -> BTreeMap<String, Vec<u8>> {
    let mut sink = MemorySink::default();
    MotFormat
        .write(ds, &mut sink, &WriteOptions::default())
        .unwrap();
    sink.into_files()
}

fn task_opts(ds: &Dataset) -> ReadOptions {
    ReadOptions::default()
        .with_labels(ds.labels.clone())
        .with_frames(ds.frames.clone())
}

/// gt.txt rows as numbers.
fn rows(bytes: &[u8]) -> Vec<Vec<f64>> {
    String::from_utf8(bytes.to_vec())
        .unwrap()
        .lines()
        .map(|l| l.split(',').map(|v| v.parse::<f64>().unwrap()).collect())
        .collect()
}

#[test]
fn fidelity_rich_a_matches_the_real_export() {
    let files = write(&rich_a());
    let dir = shared("cvat/exports/rich-A/export/MOT_1.1");
    assert_eq!(
        files.keys().collect::<Vec<_>>(),
        ["gt/gt.txt", "gt/labels.txt"]
    );
    let real_gt = std::fs::read(dir.join("gt/gt.txt")).unwrap();
    assert_eq!(
        rows(&files["gt/gt.txt"]),
        rows(&real_gt),
        "same rows, by numbers"
    );
    assert_eq!(
        files["gt/gt.txt"], real_gt,
        "and byte for byte (\\r\\n, Python floats)"
    );
    assert_eq!(
        files["gt/labels.txt"],
        std::fs::read(dir.join("gt/labels.txt")).unwrap()
    );
}

#[test]
fn drop_report_counts_everything_mot_cannot_carry() {
    let task = rich_a();
    let mut sink = MemorySink::default();
    let drops = MotFormat
        .write(&task, &mut sink, &WriteOptions::default())
        .unwrap();
    let polygons = task
        .shapes
        .iter()
        .filter(|s| s.kind == ShapeType::Polygon)
        .count();
    assert_eq!(
        drops.count("polygon shapes (MOT keeps rectangles only)"),
        polygons
    );
    assert_eq!(drops.count("tags"), task.tags.len());
    assert_eq!(drops.count("polygon tracks (MOT keeps rectangles only)"), 1);
    assert_eq!(
        drops.count("skeleton tracks (MOT keeps rectangles only)"),
        1
    );
    let rotated = task
        .shapes
        .iter()
        .filter(|s| s.kind == ShapeType::Rectangle && s.rotation != 0.0)
        .count();
    assert_eq!(drops.count("rectangle rotations"), rotated);
}

fn normalise(ds: &Dataset) -> Value {
    let idx = ds.label_index();
    let attrs = |a: &[cvat_format_api::AttributeValue]| {
        let mut m: Vec<(String, String)> = a
            .iter()
            .map(|a| (idx.spec_name(a.spec_id).to_string(), a.value.clone()))
            .collect();
        m.sort();
        m
    };
    let mut shapes: Vec<Value> = ds
        .shapes
        .iter()
        .map(|s| {
            json!([
                idx.label_name(s.label_id),
                s.kind.as_str(),
                s.frame,
                s.group,
                s.occluded,
                s.z_order,
                s.rotation,
                s.points,
                attrs(&s.attributes)
            ])
        })
        .collect();
    shapes.sort_by_key(|v| v.to_string());
    let tracks: Vec<Value> = ds.tracks.iter().map(|t| json!({
        "label": idx.label_name(t.label_id), "frame": t.frame, "attributes": attrs(&t.attributes),
        "shapes": t.shapes.iter().map(|s| json!([s.frame, s.occluded, s.outside, s.points, attrs(&s.attributes)])).collect::<Vec<_>>(),
    })).collect();
    json!({"tags": ds.tags.len(), "shapes": shapes, "tracks": tracks})
}

/// The server's re-import, with the fresh task's label/spec ids mapped back by their constant offset
/// (labels and attributes were created in the same order).
fn server_reimport(file: &str, label_offset: i64, spec_offset: i64) -> Dataset {
    let task = rich_a();
    let p = shared(&format!("cvat/exports/rich-A/reimport/{file}"));
    let mut ann = parse_annotations(&p.display().to_string(), &std::fs::read(&p).unwrap()).unwrap();
    for s in ann.shapes.iter_mut() {
        s.label_id -= label_offset;
        s.attributes
            .iter_mut()
            .for_each(|a| a.spec_id -= spec_offset);
    }
    for t in ann.tracks.iter_mut() {
        t.label_id -= label_offset;
        t.attributes
            .iter_mut()
            .for_each(|a| a.spec_id -= spec_offset);
        for s in t.shapes.iter_mut() {
            s.attributes
                .iter_mut()
                .for_each(|a| a.spec_id -= spec_offset);
        }
    }
    let ds = Dataset::from_rest(ann, task.labels.clone(), task.frames.clone());
    let idx = ds.label_index();
    assert!(
        ds.shapes.iter().all(|s| s.attributes.iter().all(|a| idx
            .label(s.label_id)
            .is_some_and(|l| l.attributes.iter().any(|x| x.id == a.spec_id)))),
        "offsets map every id"
    );
    ds
}

#[test]
fn real_export_reads_back_as_the_server_reimported_it() {
    let task = rich_a();
    let input = Input::open(&shared("cvat/exports/rich-A/export/MOT_1.1.zip")).unwrap();
    let ds = MotFormat.read(&input, &task_opts(&task)).unwrap();
    // car 31 -> 139, spec 13 -> 67 in the fresh task
    assert_eq!(
        normalise(&ds),
        normalise(&server_reimport("MOT_1.1.json", 108, 54))
    );
}

#[test]
fn round_trip_is_stable() {
    let task = rich_a();
    let files = write(&task);
    let ds = MotFormat
        .read(&Input::from_files("mem", files.clone()), &task_opts(&task))
        .unwrap();
    assert_eq!(
        normalise(&ds),
        normalise(&server_reimport("MOT_1.1.json", 108, 54))
    );
    // the same rows again; only their order inside a frame may change (z_order is not carried)
    let sorted = |b: &[u8]| {
        let mut r = rows(b);
        r.sort_by(|a, b| a.partial_cmp(b).unwrap());
        r
    };
    assert_eq!(
        sorted(&write(&ds)["gt/gt.txt"]),
        sorted(&files["gt/gt.txt"])
    );
}

fn upstream(rel: &str) -> PathBuf {
    shared(&format!(
        "formats/mot/cvat-ai_datumaro/tests/assets/mot_dataset/{rel}"
    ))
}

#[test]
fn golden_mot_seq_with_images() {
    let dir = upstream("mot_seq");
    let ds = MotFormat
        .read(&Input::open(&dir).unwrap(), &ReadOptions::default())
        .unwrap();
    let labels: Vec<String> = std::fs::read_to_string(dir.join("gt/labels.txt"))
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect();
    assert_eq!(
        ds.labels.iter().map(|l| l.name.clone()).collect::<Vec<_>>(),
        labels
    );
    let img = std::fs::read(dir.join("img1/000001.jpg")).unwrap();
    let (w, h) = cvat_format_api::imagesize::image_size(&img).unwrap();
    assert_eq!(ds.frames.len(), 1);
    assert_eq!(
        (
            ds.frames[0].id,
            ds.frames[0].name.as_str(),
            ds.frames[0].width,
            ds.frames[0].height
        ),
        (0, "000001.jpg", w, h)
    );
    // the one row: 1,-1,0,4,4,8,1,3,1.0
    let row: Vec<f64> = rows(&std::fs::read(dir.join("gt/gt.txt")).unwrap())[0].clone();
    assert_eq!(ds.shapes.len(), 1);
    let s = &ds.shapes[0];
    assert_eq!(s.frame as f64, row[0] - 1.0);
    assert_eq!(
        s.points,
        vec![row[2], row[3], row[2] + row[4], row[3] + row[5]]
    );
    assert_eq!(
        ds.label_index().label_name(s.label_id),
        labels[row[7] as usize - 1]
    );
    assert!(!s.occluded);
    assert!(ds.tracks.is_empty());
}

#[test]
fn golden_mot_seq_with_seqinfo() {
    let dir = upstream("mot_seq_with_seqinfo");
    let ds = MotFormat
        .read(&Input::open(&dir).unwrap(), &ReadOptions::default())
        .unwrap();
    assert_eq!(ds.frames.len(), 1);
    assert_eq!(
        (ds.frames[0].width, ds.frames[0].height),
        (16, 16),
        "from seqinfo.ini imWidth/imHeight"
    );
    assert_eq!(ds.shapes.len(), 1);
}

#[test]
fn tracks_are_closed_at_gaps_and_at_the_end() {
    let gt = "1,5,0,0,10,10,1,1,1.0\n2,5,1,0,10,10,1,1,0.0\n5,5,4,0,10,10,1,1,1.0\n";
    let mut files = BTreeMap::new();
    files.insert("gt/gt.txt".to_string(), gt.as_bytes().to_vec());
    files.insert("gt/labels.txt".to_string(), b"a".to_vec());
    let frames = (0..8)
        .map(|i| cvat_format_api::Frame {
            id: i,
            name: format!("{:06}.jpg", i + 1),
            width: 100,
            height: 100,
            subset: None,
        })
        .collect();
    let ds = MotFormat
        .read(
            &Input::from_files("m", files),
            &ReadOptions::default().with_frames(frames),
        )
        .unwrap();
    assert_eq!(ds.tracks.len(), 1);
    let ks: Vec<(u32, bool, bool)> = ds.tracks[0]
        .shapes
        .iter()
        .map(|s| (s.frame, s.outside, s.occluded))
        .collect();
    assert_eq!(
        ks,
        [
            (0, false, false),
            (1, false, true),
            (2, true, true),
            (4, false, false),
            (5, true, false)
        ]
    );
}

#[test]
fn validate_reports_many_located_problems() {
    let gt = "1,-1,0,0,10,10,1,1,1.0\nx,1,0,0,1,1,1,1,1\n1,2,0,0\n2,1,0,0,-3,1,1,1,1\n3,1,0,0,1,1,1,9,1\n0,1,0,0,1,1,1,1,1\n4,3,0,0,1,1,1,1,1\n4,3,0,0,1,1,1,1,1\n";
    let mut files = BTreeMap::new();
    files.insert("gt/gt.txt".to_string(), gt.as_bytes().to_vec());
    files.insert("gt/labels.txt".to_string(), b"a\nb".to_vec());
    let diags = MotFormat.validate(&Input::from_files("m.zip", files), &ReadOptions::default());
    let found: Vec<(String, u32, u32)> = diags
        .items()
        .iter()
        .filter(|d| d.severity == Severity::Error)
        .map(|d| {
            (
                d.code.clone(),
                d.location.line.unwrap_or(0),
                d.location.column.unwrap_or(0),
            )
        })
        .collect();
    for want in [
        ("type", 2, 1),
        ("missing-field", 3, 1),
        ("geometry", 4, 9),
        ("undeclared-label", 5, 15),
        ("geometry", 6, 1),
        ("duplicate-id", 8, 1),
    ] {
        assert!(
            found.contains(&(want.0.to_string(), want.1, want.2)),
            "missing {want:?} in {found:?}"
        );
    }
}

#[test]
fn truncated_inputs_never_panic() {
    let real = std::fs::read(shared("cvat/exports/rich-A/export/MOT_1.1/gt/gt.txt")).unwrap();
    let labels = std::fs::read(shared("cvat/exports/rich-A/export/MOT_1.1/gt/labels.txt")).unwrap();
    let task = rich_a();
    for n in 0..real.len() {
        let mut files = BTreeMap::new();
        files.insert("gt/gt.txt".to_string(), real[..n].to_vec());
        files.insert("gt/labels.txt".to_string(), labels.clone());
        let input = Input::from_files("cut.zip", files);
        match MotFormat.read(&input, &task_opts(&task)) {
            // a cut at a line end or inside the last field can still be a valid file
            Ok(ds) => assert!(ds.shapes.len() + ds.tracks.len() <= 9),
            Err(e) => {
                let d = e.to_diagnostic("cut.zip");
                assert!(d.location.line.is_some(), "no line at {n}: {d}");
            }
        }
    }
    // and the zip itself, truncated
    let zip = std::fs::read(shared("cvat/exports/rich-A/export/MOT_1.1.zip")).unwrap();
    for n in (0..zip.len()).step_by(7) {
        if let Ok(input) = Input::from_bytes("cut.zip", zip[..n].to_vec()) {
            let _ = MotFormat.read(&input, &task_opts(&task));
        }
    }
}

#[test]
fn the_real_export_validates_clean() {
    let task = rich_a();
    let input = Input::open(&shared("cvat/exports/rich-A/export/MOT_1.1.zip")).unwrap();
    let diags = MotFormat.validate(&input, &task_opts(&task));
    assert_eq!(diags.error_count(), 0, "{:?}", diags.items());
    // without the task's frames the sizes are unknown: a warning, not an error
    let diags = MotFormat.validate(&input, &ReadOptions::default());
    assert_eq!(diags.error_count(), 0, "{:?}", diags.items());
    assert!(diags.items().iter().any(|d| d.code == "missing-size"));
}

#[test]
fn sniff_recognises_mot() {
    let mot = Input::open(&shared("cvat/exports/rich-A/export/MOT_1.1.zip")).unwrap();
    assert!(MotFormat.sniff(&mot) >= 90);
    let yolo = Input::open(&shared("cvat/exports/rich-A/export/YOLO_1.1.zip")).unwrap();
    assert_eq!(MotFormat.sniff(&yolo), 0);
}
