//! Integration tests of the CVAT XML formats: fidelity against the real server's exports of rich-A,
//! reading them back as the server's re-import did, golden tests on the upstream samples, round trips,
//! property tests, truncation and validation.

mod util;

use cvat_format_api::{
    Dataset, Frame, Input, Label, LabelType, ReadOptions, Severity, Shape, ShapeType,
};
use std::collections::BTreeMap;
use util::*;

const RICH: &str = "cvat/exports/rich-A";

fn real_export(dir: &str) -> Vec<u8> {
    std::fs::read(shared(&format!("{RICH}/export/{dir}/annotations.xml"))).unwrap()
}

/// Paths whose text is allowed to differ from the real export: the export timestamp, and the owner's
/// e-mail (the server's task answer, which is all `from_task_dir` has, carries no e-mail).
fn ignored(path: &str) -> bool {
    path.ends_with("/dumped") || path.contains("/owner[") && path.ends_with("/email")
}

fn assert_same_tree(ours: &[u8], real: &[u8]) {
    let mut diffs = Vec::new();
    diff_trees(
        &parse_tree(ours),
        &parse_tree(real),
        "",
        &ignored,
        &mut diffs,
    );
    assert!(
        diffs.is_empty(),
        "{} differences:\n{}",
        diffs.len(),
        diffs.join("\n")
    );
}

#[test]
fn images_writer_matches_the_real_export() {
    let (files, report) = write("CVAT for images 1.1", &rich_a());
    assert_eq!(files.keys().collect::<Vec<_>>(), vec!["annotations.xml"]);
    assert!(report.is_empty(), "{report}");
    let ours = &files["annotations.xml"];
    let real = real_export("CVAT_for_images_1.1");
    assert_same_tree(ours, &real);
    // byte for byte, apart from the two ignored lines
    let strip = |b: &[u8]| -> Vec<String> {
        String::from_utf8(b.to_vec())
            .unwrap()
            .split('\n')
            .filter(|l| !l.contains("<dumped>") && !l.contains("<email>"))
            .map(|s| s.to_string())
            .collect()
    };
    assert_eq!(strip(ours), strip(&real));
}

#[test]
fn video_writer_matches_the_real_export() {
    let (files, report) = write("CVAT for video 1.1", &rich_a());
    let ours = &files["annotations.xml"];
    let real = real_export("CVAT_for_video_1.1");
    assert_same_tree(ours, &real);
    assert_eq!(report.count("tags (CVAT for video has no tags)"), 2);
    assert_eq!(report.items.len(), 1, "{report}");
}

fn rich_labels() -> Vec<Label> {
    rich_a().labels
}

fn reimport(name: &str) -> serde_json::Value {
    let bytes = std::fs::read(shared(&format!("{RICH}/reimport/{name}.json"))).unwrap();
    serde_json::from_slice(&bytes).unwrap()
}

/// The re-import task was created with the same labels in the same order, so its label and
/// attribute ids are rich-A's shifted by a constant; find the shifts from the smallest ids used.
fn shifts(v: &serde_json::Value) -> (i64, i64) {
    let text = v.to_string();
    let min_of = |key: &str| {
        let pat = format!("\"{key}\":");
        text.match_indices(&pat)
            .filter_map(|(i, _)| {
                text[i + pat.len()..]
                    .split(|c: char| !c.is_ascii_digit())
                    .next()
                    .and_then(|s| s.parse::<i64>().ok())
            })
            .min()
            .unwrap()
    };
    // rich-A: car (31) and its attribute `color` (13) are the smallest ids used in both re-imports
    (min_of("label_id") - 31, min_of("spec_id") - 13)
}

fn read_real(dir: &str, opts: &ReadOptions) -> Dataset {
    let input = Input::open(&shared(&format!("{RICH}/export/{dir}.zip"))).unwrap();
    format("CVAT 1.1")
        .read(&input, opts)
        .expect("real export reads")
}

#[test]
fn reading_the_images_export_gives_what_the_server_reimported() {
    // as the server does it: into a task with the same labels and frames
    let opts = ReadOptions::default()
        .with_labels(rich_labels())
        .with_frames(rich_a().frames);
    let ds = read_real("CVAT_for_images_1.1", &opts);
    let expected = reimport("CVAT_for_images_1.1");
    let (ls, ss) = shifts(&expected);
    assert_eq!(
        canonical(&ds.annotations_json(), 0, 0),
        canonical(&expected, ls, ss)
    );
    // counts of the README table: rect 9, poly 6, skeleton 6 (18 elements), 2 tags, no tracks
    let count = |k: ShapeType| ds.shapes.iter().filter(|s| s.kind == k).count();
    assert_eq!(count(ShapeType::Rectangle), 9);
    assert_eq!(count(ShapeType::Polygon), 6);
    assert_eq!(count(ShapeType::Skeleton), 6);
    assert_eq!(ds.tags.len(), 2);
    assert!(ds.tracks.is_empty());
    // we keep the file's source where the server forces `file`
    assert_eq!(
        ds.shapes
            .iter()
            .filter(|s| s.source.as_str() == "auto")
            .count(),
        6
    );
}

#[test]
fn reading_the_video_export_gives_what_the_server_reimported() {
    let opts = ReadOptions::default()
        .with_labels(rich_labels())
        .with_frames(rich_a().frames);
    let ds = read_real("CVAT_for_video_1.1", &opts);
    let expected = reimport("CVAT_for_video_1.1");
    let (ls, ss) = shifts(&expected);
    assert_eq!(
        canonical(&ds.annotations_json(), 0, 0),
        canonical(&expected, ls, ss)
    );
    assert_eq!(ds.tracks.len(), 15);
    assert_eq!(ds.shapes.len(), 1, "the mask track becomes a shape");
    assert_eq!(ds.shapes[0].kind, ShapeType::Mask);
}

#[test]
fn images_are_matched_to_task_frames_by_name() {
    // the task knows the frames under other paths and extensions, in another order
    let mut frames = rich_a().frames;
    frames.reverse();
    for (i, f) in frames.iter_mut().enumerate() {
        f.id = 10 + i as u32;
        f.name = format!("upload/{}", f.name.replace(".jpg", ".png"));
    }
    let opts = ReadOptions::default().with_frames(frames.clone());
    let ds = read_real("CVAT_for_images_1.1", &opts);
    assert_eq!(ds.frames, frames);
    // the ellipse was on frame_01 (now task frame 14), the cuboid on frame_02 (now 13)
    let on = |k: ShapeType| ds.shapes.iter().find(|s| s.kind == k).unwrap().frame;
    assert_eq!(on(ShapeType::Ellipse), 14);
    assert_eq!(on(ShapeType::Cuboid), 13);
    // an image the task does not have (by name, nor by id as the server falls back to) is an error
    // at its line
    let opts = ReadOptions::default().with_frames(frames[..5].to_vec());
    let input = Input::open(&shared(&format!("{RICH}/export/CVAT_for_images_1.1.zip"))).unwrap();
    let d = format("CVAT 1.1").validate(&input, &opts);
    let errors: Vec<_> = d
        .items()
        .iter()
        .filter(|d| d.code == "unknown-image")
        .collect();
    assert_eq!(errors.len(), 1, "{:#?}", d.items());
    assert_eq!(errors[0].location.line, Some(172));
}

#[test]
fn labels_come_from_meta_without_a_label_list() {
    let ds = read_real("CVAT_for_images_1.1", &ReadOptions::default());
    let rich = rich_labels();
    let names = |l: &[Label]| l.iter().map(|l| l.name.clone()).collect::<Vec<_>>();
    assert_eq!(names(&ds.labels), names(&rich));
    for (ours, theirs) in ds.labels.iter().zip(&rich) {
        assert_eq!(ours.kind, theirs.kind);
        assert_eq!(ours.color, theirs.color);
        assert_eq!(names(&ours.sublabels), names(&theirs.sublabels));
        let specs = |l: &Label| {
            l.attributes
                .iter()
                .map(|a| {
                    (
                        a.name.clone(),
                        a.mutable,
                        a.input_type,
                        a.default_value.clone(),
                        a.values.clone(),
                    )
                })
                .collect::<Vec<_>>()
        };
        assert_eq!(specs(ours), specs(theirs));
    }
    // ids from 1 in file order, sub-labels included; the svg refers to the sub-labels by id again
    assert_eq!(ds.labels[0].id, 1);
    let body = ds.label_by_name("body").unwrap();
    assert_eq!(body.kind, LabelType::Skeleton);
    let head = &body.sublabels[0];
    assert_eq!((head.id, head.name.as_str()), (9, "head"));
    assert!(body.svg.contains("data-label-id=\"9\""), "{}", body.svg);
    assert!(!body.svg.contains("data-label-name"));
    // frames from <image>, task meta kept
    assert_eq!(ds.frames.len(), 6);
    assert_eq!(ds.frames[4].name, "frame_04_1280x720.jpg");
    assert_eq!((ds.frames[4].width, ds.frames[4].height), (1280, 720));
    let meta = ds.task.as_ref().unwrap();
    assert_eq!(meta.id, Some(13));
    assert_eq!(meta.name, "rich-A");
    assert_eq!(meta.segments.len(), 1);
    assert_eq!(
        meta.owner.as_ref().unwrap().email,
        "admin@localhost.localdomain"
    );
}

#[test]
fn round_trip_images_read_write_read() {
    let ds = rich_a();
    let (files, _) = write("CVAT for images 1.1", &ds);
    let first = read_bytes(
        "a.xml",
        files["annotations.xml"].clone(),
        &ReadOptions::default(),
    )
    .unwrap();
    let (files2, report) = write("CVAT for images 1.1", &first);
    assert!(report.is_empty(), "{report}");
    let second = read_bytes(
        "b.xml",
        files2["annotations.xml"].clone(),
        &ReadOptions::default(),
    )
    .unwrap();
    assert_eq!(first.labels, second.labels);
    assert_eq!(first.frames, second.frames);
    assert_eq!(
        canonical(&first.annotations_json(), 0, 0),
        canonical(&second.annotations_json(), 0, 0)
    );
    // the whole document is stable after one pass (the meta is carried along)
    assert_same_tree(&files2["annotations.xml"], &files["annotations.xml"]);
}

#[test]
fn round_trip_video_read_write_read() {
    let opts = ReadOptions::default().with_labels(rich_labels());
    let mut first = read_real("CVAT_for_video_1.1", &opts);
    let (files, _) = write("CVAT for video 1.1", &first);
    // an element track left without keyframes (its keyframes were all outside) has nothing to write
    for t in first.tracks.iter_mut() {
        t.elements.retain(|e| !e.shapes.is_empty());
    }
    let second = read_bytes("v.xml", files["annotations.xml"].clone(), &opts).unwrap();
    // tracks keep their keyframes; the mask shape becomes a mask track with an outside end, which
    // reads back as a shape again
    assert_eq!(
        canonical(&first.annotations_json(), 0, 0),
        canonical(&second.annotations_json(), 0, 0)
    );
}

fn sample(rel: &str) -> std::path::PathBuf {
    shared(&format!(
        "formats/cvat_xml/cvat-ai_datumaro/tests/assets/cvat_dataset/{rel}"
    ))
}

#[test]
fn golden_upstream_video_sample() {
    let input = Input::open(&sample("for_video/annotations.xml")).unwrap();
    let f = format("CVAT 1.1");
    assert!(f.sniff(&input) >= 90);
    let ds = f.read(&input, &ReadOptions::default()).unwrap();
    // size 4, start_frame 10, step=3, original size 25x20
    let names: Vec<&str> = ds.frames.iter().map(|f| f.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "frame_000010",
            "frame_000013",
            "frame_000016",
            "frame_000019"
        ]
    );
    assert!(ds.frames.iter().all(|f| (f.width, f.height) == (25, 20)));
    let label = |id: i64| ds.label_index().label_name(id).to_string();
    assert_eq!(ds.tracks.len(), 4);
    // track 0: box II, keyframes 10 (occluded), 13 and 16 (outside)
    let t0 = &ds.tracks[0];
    assert_eq!(label(t0.label_id), "II");
    // absolute frames 10, 13, 16 are task frames 0, 1, 2
    let frames: Vec<u32> = t0.shapes.iter().map(|s| s.frame).collect();
    assert_eq!(frames, [0, 1, 2]);
    assert_eq!(t0.shapes[0].points, [3.0, 4.0, 10.0, 5.0]);
    assert!(t0.shapes[0].occluded && !t0.shapes[0].outside);
    assert_eq!(t0.shapes[2].points, [8.0, 7.0, 14.0, 17.0]);
    assert!(t0.shapes[2].outside);
    // track 1: points klhg with the mutable attribute hgl changing from hgkf to jk
    let t1 = &ds.tracks[1];
    assert_eq!(label(t1.label_id), "klhg");
    assert_eq!(t1.shapes[0].points, [21.95, 8.0, 2.55, 15.09, 2.23, 3.16]);
    let vals: Vec<&str> = t1
        .shapes
        .iter()
        .map(|s| s.attributes[0].value.as_str())
        .collect();
    assert_eq!(vals, ["hgkf", "jk"]);
    assert!(t1.attributes.is_empty());
    // track 3: skeleton with datumaro-style nested element tracks; only keyframes are kept
    let t3 = ds
        .tracks
        .iter()
        .find(|t| label(t.label_id) == "skeleton")
        .unwrap();
    assert_eq!(t3.shapes.len(), 1);
    assert_eq!(t3.elements.len(), 4);
    let e3 = &t3.elements[2];
    assert_eq!(label(e3.label_id), "3");
    assert_eq!(e3.shapes.len(), 2);
    assert_eq!(e3.shapes[0].points, [83.27, 106.61]);
    assert!(e3.shapes[1].outside);
    let meta = ds.task.as_ref().unwrap();
    assert_eq!((meta.start_frame, meta.stop_frame), (10, 19));
    assert_eq!(meta.frame_filter, "step=3");
    assert_eq!(meta.original_size, Some((25, 20)));
    assert_eq!(meta.source.as_deref(), Some("t.mp4"));
}

#[test]
fn golden_upstream_images_sample_validation() {
    let input = Input::open(&sample("for_images/train.xml")).unwrap();
    let d = format("CVAT 1.1").validate(&input, &ReadOptions::default());
    let found: Vec<(u32, String)> = d
        .items()
        .iter()
        .filter(|d| d.severity == Severity::Error)
        .map(|d| (d.location.line.unwrap(), d.code.clone()))
        .collect();
    // two shapes with label="" and the a2 value "v3": the sample lists values space-separated
    // ("v1 v2 v3"), which CVAT reads as one value
    assert_eq!(
        found,
        [
            (86, "attribute-value".to_string()),
            (90, "undeclared-label".to_string()),
            (103, "undeclared-label".to_string())
        ]
    );
}

#[test]
fn golden_upstream_images_sample_values() {
    // the sample with its two datumaro-only liberties fixed: a label for the unlabeled shapes and
    // newline-separated attribute values
    let text = std::fs::read_to_string(sample("for_images/train.xml"))
        .unwrap()
        .replace("label=\"\"", "label=\"label2\"")
        .replace("<values>v1 v2 v3</values>", "<values>v1\nv2\nv3</values>");
    let ds = read_bytes("train.xml", text.into_bytes(), &ReadOptions::default()).unwrap();
    let names: Vec<(&str, u32, u32)> = ds
        .frames
        .iter()
        .map(|f| (f.name.as_str(), f.width, f.height))
        .collect();
    assert_eq!(names, [("img0.jpg", 8, 8), ("img1.jpg", 10, 10)]);
    let idx = ds.label_index();
    let on = |frame: u32| {
        ds.shapes
            .iter()
            .filter(|s| s.frame == frame)
            .collect::<Vec<_>>()
    };
    let f0 = on(0);
    assert_eq!(f0.len(), 3);
    let bx = f0.iter().find(|s| s.kind == ShapeType::Rectangle).unwrap();
    assert_eq!(idx.label_name(bx.label_id), "label1");
    assert_eq!(bx.points, [0.0, 2.0, 4.0, 4.0]);
    assert!(bx.occluded);
    assert_eq!(bx.z_order, 1);
    let attrs: Vec<(&str, &str)> = bx
        .attributes
        .iter()
        .map(|a| (idx.spec_name(a.spec_id), a.value.as_str()))
        .collect();
    assert_eq!(
        attrs,
        [("a1", "true"), ("a2", "v3"), ("a3", "0003"), ("a4", "2.4")]
    );
    let line = f0.iter().find(|s| s.kind == ShapeType::Polyline).unwrap();
    assert_eq!(line.points, [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0]);
    let sk = f0.iter().find(|s| s.kind == ShapeType::Skeleton).unwrap();
    assert_eq!(sk.elements.len(), 4);
    assert_eq!(idx.label_name(sk.elements[0].label_id), "1");
    assert!(sk.elements[0].outside);
    assert_eq!(sk.elements[3].points, [4.0, 4.0]);
    let f1 = on(1);
    let pts = f1.iter().find(|s| s.kind == ShapeType::Points).unwrap();
    assert_eq!((pts.points.len(), pts.z_order), (6, 2));
    let sk1 = f1.iter().find(|s| s.kind == ShapeType::Skeleton).unwrap();
    assert!(sk1.elements[2].outside && !sk1.elements[1].outside);
}

#[test]
fn truncated_files_fail_with_a_location_and_never_panic() {
    let f = format("CVAT 1.1");
    let mut cases: Vec<(String, Vec<u8>)> = vec![(
        "video-sample".into(),
        std::fs::read(sample("for_video/annotations.xml")).unwrap(),
    )];
    cases.push(("images-export".into(), real_export("CVAT_for_images_1.1")));
    cases.push(("video-export".into(), real_export("CVAT_for_video_1.1")));
    let mut checked = 0;
    for (name, bytes) in &cases {
        // everything up to the closing </annotations> is needed
        let end = bytes.len() - "</annotations>\n".len();
        let step = (end / 200).max(1);
        let offsets: Vec<usize> = if name == "video-sample" {
            (0..end).collect()
        } else {
            (0..end).step_by(step).collect()
        };
        for off in offsets {
            let input = Input::from_bytes("t.xml", bytes[..off].to_vec()).unwrap();
            let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                f.read(&input, &ReadOptions::default())
            }));
            let r = r.unwrap_or_else(|_| panic!("{name} truncated at {off} panicked"));
            let e = match r {
                Ok(_) => panic!("{name} truncated at {off} was accepted"),
                Err(e) => e.to_diagnostic("t.xml"),
            };
            assert!(e.location.line.is_some(), "{name} at {off}: no line in {e}");
            let v = f.validate(&input, &ReadOptions::default());
            assert!(v.has_errors());
            checked += 1;
        }
    }
    assert!(checked > 1000, "{checked}");
    // a truncated ZIP is refused too
    let zip = std::fs::read(shared(&format!("{RICH}/export/CVAT_for_images_1.1.zip"))).unwrap();
    for off in (0..zip.len()).step_by(zip.len() / 50) {
        let r = Input::from_bytes("t.zip", zip[..off].to_vec())
            .and_then(|i| f.read(&i, &ReadOptions::default()));
        assert!(r.is_err(), "zip truncated at {off} was accepted");
    }
}

#[test]
fn validation_reports_every_problem_with_its_line() {
    let xml = r#"<?xml version="1.0" encoding="utf-8"?>
<annotations>
  <version>1.1</version>
  <meta>
    <task>
      <size>2</size>
      <labels>
        <label>
          <name>car</name>
          <type>rectangle</type>
          <attributes>
            <attribute>
              <name>color</name>
              <mutable>False</mutable>
              <input_type>select</input_type>
              <default_value>red</default_value>
              <values>red
blue</values>
            </attribute>
          </attributes>
        </label>
      </labels>
    </task>
  </meta>
  <image id="0" name="a.jpg" width="100" height="100">
    <box label="truck" source="manual" occluded="0" xtl="1" ytl="1" xbr="2" ybr="2" z_order="0">
    </box>
    <box label="car" source="manual" occluded="0" xtl="1" ytl="x" xbr="2" ybr="2" z_order="0">
    </box>
    <box label="car" source="manual" occluded="0" xtl="1" ytl="1" xbr="2" ybr="2" z_order="0">
      <attribute name="color">green</attribute>
      <attribute name="size">big</attribute>
    </box>
    <polygon label="car" points="1,1;2,2;3" z_order="0">
    </polygon>
    <box label="car" occluded="0" xtl="10" ytl="10" xbr="5" ybr="20">
    </box>
  </image>
  <image id="0" name="b.jpg" width="100" height="100">
  </image>
  <image id="1" name="a.jpg" width="100" height="100">
  </image>
  <track id="0" label="car" source="manual">
    <box frame="7" keyframe="1" outside="0" occluded="0" xtl="1" ytl="1" xbr="2" ybr="2" z_order="0">
    </box>
  </track>
</annotations>
"#;
    let input = Input::from_bytes("bad.xml", xml.as_bytes().to_vec()).unwrap();
    let f = format("CVAT 1.1");
    let d = f.validate(&input, &ReadOptions::default());
    let got: Vec<(u32, &str)> = d
        .items()
        .iter()
        .map(|d| (d.location.line.unwrap(), d.code.as_str()))
        .collect();
    assert_eq!(
        got,
        [
            (26, "undeclared-label"),
            (28, "number"),
            (31, "attribute-value"),
            (32, "undeclared-attribute"),
            (34, "geometry"),
            (36, "geometry"),
            (39, "duplicate-id"),
            (41, "duplicate-name"),
            (44, "unknown-frame"),
            (43, "empty-track"),
        ],
        "{:#?}",
        d.items()
    );
    assert!(d
        .items()
        .iter()
        .all(|d| d.location.file == "bad.xml" && d.location.column.is_some()));
    let err = f
        .read(&input, &ReadOptions::default())
        .unwrap_err()
        .to_string();
    assert!(err.contains("bad.xml:26:5"), "{err}");
    assert!(err.contains("truck"), "{err}");
}

#[test]
fn zip_inputs_with_annotations_anywhere_and_project_meta() {
    // a project export: <project> meta with tasks, images with subset/task_id, annotations.xml in a folder
    let xml = r#"<?xml version="1.0" encoding="utf-8"?>
<annotations>
  <version>1.1</version>
  <meta>
    <project>
      <id>3</id>
      <name>p</name>
      <labels>
        <label>
          <name>cat</name>
          <color>#ff0000</color>
          <type>any</type>
          <attributes>
          </attributes>
        </label>
      </labels>
      <tasks>
        <task>
          <id>7</id>
          <size>2</size>
          <mode>annotation</mode>
          <start_frame>0</start_frame>
          <stop_frame>1</stop_frame>
          <frame_filter></frame_filter>
        </task>
        <task>
          <id>8</id>
          <size>1</size>
          <mode>annotation</mode>
          <start_frame>0</start_frame>
          <stop_frame>0</stop_frame>
          <frame_filter></frame_filter>
        </task>
      </tasks>
    </project>
    <dumped>2026-01-01 00:00:00+00:00</dumped>
  </meta>
  <image id="0" name="x.jpg" subset="Train" task_id="7" width="10" height="10">
    <box label="cat" source="manual" occluded="0" xtl="1.00" ytl="1.00" xbr="2.00" ybr="2.00" z_order="0">
    </box>
  </image>
  <image id="1" name="y.jpg" subset="Train" task_id="7" width="10" height="10">
  </image>
  <image id="0" name="z.jpg" subset="Test" task_id="8" width="20" height="20">
    <tag label="cat" source="auto">
    </tag>
  </image>
</annotations>
"#;
    let mut files = BTreeMap::new();
    files.insert(
        "export/annotations.xml".to_string(),
        xml.as_bytes().to_vec(),
    );
    files.insert("export/images/Train/x.jpg".to_string(), vec![0xff, 0xd8]);
    let zip = cvat_format_api::io::zip_files(files).unwrap();
    let input = Input::from_bytes("p.zip", zip).unwrap();
    let f = format("CVAT 1.1");
    assert!(f.sniff(&input) >= 80);
    let ds = f.read(&input, &ReadOptions::default()).unwrap();
    assert!(ds.task.is_none());
    let frames: Vec<(u32, &str, Option<&str>)> = ds
        .frames
        .iter()
        .map(|f| (f.id, f.name.as_str(), f.subset.as_deref()))
        .collect();
    assert_eq!(
        frames,
        [
            (0, "x.jpg", Some("Train")),
            (1, "y.jpg", Some("Train")),
            (2, "z.jpg", Some("Test"))
        ]
    );
    assert_eq!(ds.shapes.len(), 1);
    assert_eq!(ds.tags.len(), 1);
    assert_eq!(ds.tags[0].frame, 2);
    assert_eq!(ds.tags[0].source.as_str(), "auto");
}

#[test]
fn sniff_tells_cvat_xml_from_other_xml() {
    let f = format("CVAT 1.1");
    let voc = Input::from_bytes("a.xml", b"<annotation><folder/></annotation>".to_vec()).unwrap();
    assert_eq!(f.sniff(&voc), 0);
    let json = Input::from_bytes("a.json", b"{}".to_vec()).unwrap();
    assert_eq!(f.sniff(&json), 0);
    let zip = Input::open(&shared(&format!("{RICH}/export/CVAT_for_video_1.1.zip"))).unwrap();
    assert!(f.sniff(&zip) >= 80);
    let coco = Input::open(&shared(&format!("{RICH}/export/COCO_1.0.zip"))).unwrap();
    assert_eq!(f.sniff(&coco), 0);
}

#[test]
fn names_and_directions() {
    let images = format("CVAT for images 1.1").info();
    let video = format("CVAT for video 1.1").info();
    let import = format("CVAT 1.1").info();
    assert!(images.can_export && !images.can_import);
    assert!(video.can_export && !video.can_import);
    assert!(import.can_import && !import.can_export);
    assert!(images.answers_to("CVAT XML 1.1 for images"));
    assert!(video.answers_to("CVAT XML 1.1 for videos"));
    assert!(import.answers_to("CVAT XML 1.1"));
    // an export-only format refuses to read
    let input = Input::from_bytes("a.xml", real_export("CVAT_for_images_1.1")).unwrap();
    assert!(format("CVAT for images 1.1")
        .read(&input, &ReadOptions::default())
        .is_err());
}

#[test]
fn writers_report_what_they_cannot_carry() {
    let mut ds = rich_a();
    ds.shapes.push(Shape {
        label_id: 31,
        kind: ShapeType::Rectangle,
        frame: 0,
        points: vec![1.0, 2.0, 3.0],
        ..Default::default()
    });
    ds.shapes.push(Shape {
        label_id: 9999,
        kind: ShapeType::Rectangle,
        frame: 0,
        points: vec![1.0, 2.0, 3.0, 4.0],
        ..Default::default()
    });
    ds.shapes.push(Shape {
        label_id: 31,
        kind: ShapeType::Rectangle,
        frame: 77,
        points: vec![1.0, 2.0, 3.0, 4.0],
        ..Default::default()
    });
    let (_, report) = write("CVAT for images 1.1", &ds);
    assert_eq!(
        report.count("shapes with a point list that does not fit their type"),
        1
    );
    assert_eq!(report.count("annotations with an undeclared label id"), 1);
    assert_eq!(
        report.count("annotations on frames not in the frame list"),
        1
    );
}

mod props {
    use super::*;
    use cvat_format_api::{AttributeSpec, AttributeValue, InputType, Tag};
    use proptest::prelude::*;

    fn labels() -> Vec<Label> {
        vec![
            Label {
                id: 1,
                name: "car".into(),
                color: "#ff0000".into(),
                attributes: vec![
                    AttributeSpec {
                        id: 1,
                        name: "kind".into(),
                        mutable: false,
                        input_type: InputType::Select,
                        default_value: "a".into(),
                        values: vec!["a".into(), "b & c".into()],
                    },
                    AttributeSpec {
                        id: 2,
                        name: "note".into(),
                        mutable: true,
                        input_type: InputType::Text,
                        default_value: String::new(),
                        values: vec![String::new()],
                    },
                ],
                ..Default::default()
            },
            Label {
                id: 2,
                name: "sky <\"quoted\">".into(),
                ..Default::default()
            },
        ]
    }

    fn coord() -> impl Strategy<Value = f64> {
        (0i64..100_000).prop_map(|v| v as f64 / 100.0)
    }

    fn shape() -> impl Strategy<Value = Shape> {
        (
            0u32..4,
            prop_oneof![
                Just(ShapeType::Rectangle),
                Just(ShapeType::Polygon),
                Just(ShapeType::Polyline),
                Just(ShapeType::Points),
                Just(ShapeType::Ellipse),
                Just(ShapeType::Cuboid)
            ],
            prop::collection::vec(coord(), 16),
            1i64..3,
            -2i64..3,
            0i64..3,
            any::<bool>(),
            prop_oneof![Just(0.0), Just(30.0), Just(12.5)],
            prop::option::of("[a-z &<>\"]{0,8}"),
        )
            .prop_map(|(frame, kind, c, label, z, group, occ, rot, note)| {
                let points = match kind {
                    ShapeType::Rectangle => vec![
                        c[0].min(c[2]),
                        c[1].min(c[3]),
                        c[0].max(c[2]),
                        c[1].max(c[3]),
                    ],
                    ShapeType::Ellipse => c[..4].to_vec(),
                    ShapeType::Polygon => c[..6].to_vec(),
                    ShapeType::Polyline => c[..4].to_vec(),
                    ShapeType::Points => c[..2].to_vec(),
                    _ => c.clone(),
                };
                let rotation = if matches!(kind, ShapeType::Rectangle | ShapeType::Ellipse) {
                    rot
                } else {
                    0.0
                };
                let mut attributes = Vec::new();
                if label == 1 {
                    attributes.push(AttributeValue {
                        spec_id: 1,
                        value: "b & c".into(),
                    });
                    if let Some(n) = note {
                        attributes.push(AttributeValue {
                            spec_id: 2,
                            value: n,
                        });
                    }
                }
                Shape {
                    label_id: label,
                    kind,
                    frame,
                    group,
                    occluded: occ,
                    z_order: z,
                    rotation,
                    points,
                    attributes,
                    ..Default::default()
                }
            })
    }

    fn dataset() -> impl Strategy<Value = Dataset> {
        (
            prop::collection::vec(shape(), 0..30),
            prop::collection::vec((0u32..4, any::<bool>()), 0..5),
        )
            .prop_map(|(shapes, tags)| Dataset {
                labels: labels(),
                frames: (0..4)
                    .map(|i| Frame {
                        id: i,
                        name: format!("dir/img {i}.png"),
                        width: 2000,
                        height: 2000,
                        subset: None,
                    })
                    .collect(),
                shapes,
                tags: tags
                    .into_iter()
                    .map(|(frame, auto)| Tag {
                        frame,
                        label_id: 2,
                        source: if auto {
                            cvat_format_api::Source::Auto
                        } else {
                            cvat_format_api::Source::Manual
                        },
                        ..Default::default()
                    })
                    .collect(),
                ..Default::default()
            })
    }

    fn track() -> impl Strategy<Value = cvat_format_api::Track> {
        use cvat_format_api::{Track, TrackedShape};
        (
            prop_oneof![
                Just(ShapeType::Rectangle),
                Just(ShapeType::Polygon),
                Just(ShapeType::Points)
            ],
            prop::collection::btree_set(0u32..8, 1..5),
            prop::collection::vec(
                (prop::collection::vec(coord(), 6), any::<bool>(), -1i64..2),
                4,
            ),
            any::<bool>(),
            0i64..3,
        )
            .prop_map(|(kind, frames, keys, with_attrs, group)| {
                let shapes = frames
                    .iter()
                    .zip(&keys)
                    .enumerate()
                    .map(|(i, (&frame, (c, outside, z)))| TrackedShape {
                        kind,
                        frame,
                        // a track starts visible (the server drops leading outside keyframes)
                        outside: i > 0 && *outside,
                        occluded: *outside,
                        z_order: *z,
                        rotation: if kind == ShapeType::Rectangle {
                            45.0
                        } else {
                            0.0
                        },
                        points: match kind {
                            ShapeType::Rectangle => vec![
                                c[0].min(c[2]),
                                c[1].min(c[3]),
                                c[0].max(c[2]),
                                c[1].max(c[3]),
                            ],
                            ShapeType::Points => c[..2].to_vec(),
                            _ => c.clone(),
                        },
                        attributes: if with_attrs {
                            vec![AttributeValue {
                                spec_id: 2,
                                value: format!("k{i} <&>"),
                            }]
                        } else {
                            vec![]
                        },
                        ..Default::default()
                    })
                    .collect::<Vec<_>>();
                Track {
                    label_id: 1,
                    frame: shapes[0].frame,
                    group,
                    attributes: if with_attrs {
                        vec![AttributeValue {
                            spec_id: 1,
                            value: "a".into(),
                        }]
                    } else {
                        vec![]
                    },
                    shapes,
                    ..Default::default()
                }
            })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
        #[test]
        fn video_write_then_read_keeps_track_keyframes(tracks in prop::collection::vec(track(), 1..6)) {
            let ds = Dataset {
                labels: labels(),
                frames: (0..8)
                    .map(|i| Frame { id: i, name: format!("f{i}.jpg"), width: 2000, height: 2000, subset: None })
                    .collect(),
                tracks,
                ..Default::default()
            };
            let (files, report) = write("CVAT for video 1.1", &ds);
            prop_assert!(report.is_empty(), "{}", report);
            let back = read_bytes(
                "v.xml",
                files["annotations.xml"].clone(),
                &ReadOptions::default().with_labels(labels()).with_frames(ds.frames.clone()),
            ).unwrap();
            prop_assert_eq!(
                canonical(&back.annotations_json(), 0, 0),
                canonical(&ds.annotations_json(), 0, 0)
            );
        }

        #[test]
        fn images_write_then_read_gives_the_dataset_back(ds in dataset()) {
            let (files, report) = write("CVAT for images 1.1", &ds);
            prop_assert!(report.is_empty(), "{}", report);
            let back = read_bytes(
                "p.xml",
                files["annotations.xml"].clone(),
                &ReadOptions::default().with_labels(labels()),
            ).unwrap();
            prop_assert_eq!(&back.frames, &ds.frames);
            prop_assert_eq!(
                canonical(&back.annotations_json(), 0, 0),
                canonical(&ds.annotations_json(), 0, 0)
            );
        }
    }
}

#[test]
fn video_tasks_with_a_start_frame_and_a_step() {
    // the upstream video sample: start_frame 10, step=3, 4 frames
    let input = Input::open(&sample("for_video/annotations.xml")).unwrap();
    let mut ds = format("CVAT 1.1")
        .read(&input, &ReadOptions::default())
        .unwrap();
    let label = ds.label_by_name("II").unwrap().id;
    for frame in [1, 3] {
        ds.shapes.push(Shape {
            label_id: label,
            kind: ShapeType::Rectangle,
            frame,
            points: vec![1.0, 1.0, 5.0, 5.0],
            ..Default::default()
        });
    }
    let (files, report) = write("CVAT for video 1.1", &ds);
    assert!(report.is_empty(), "{report}");
    let tree = parse_tree(&files["annotations.xml"]);
    let tracks: Vec<&Elem> = tree.children.iter().filter(|e| e.name == "track").collect();
    let frames_of = |t: &Elem| {
        t.children
            .iter()
            .map(|s| {
                let get = |k: &str| s.attrs.iter().find(|(a, _)| a == k).unwrap().1.clone();
                (get("frame"), get("keyframe"), get("outside"))
            })
            .collect::<Vec<_>>()
    };
    let s = |v: &str| v.to_string();
    // the shape on task frame 1 (absolute 13) closes 3 frames later; the one on the last frame does not
    let n = tracks.len();
    assert_eq!(
        frames_of(tracks[n - 2]),
        [(s("13"), s("1"), s("0")), (s("16"), s("1"), s("1"))]
    );
    assert_eq!(frames_of(tracks[n - 1]), [(s("19"), s("1"), s("0"))]);
    // the box track of the sample: keyframe 10, outside keyframes 13 and 16, nothing interpolated
    assert_eq!(
        frames_of(tracks[0]),
        [
            (s("10"), s("1"), s("0")),
            (s("13"), s("1"), s("1")),
            (s("16"), s("1"), s("1"))
        ]
    );
    // images flavour numbers the images with absolute frame ids (the sample's skeleton lies far
    // outside its 25x20 frames, which the reader would rightly refuse; leave it out)
    let skeleton = ds.label_by_name("skeleton").unwrap().id;
    ds.tracks.retain(|t| t.label_id != skeleton);
    let (files, _) = write("CVAT for images 1.1", &ds);
    let tree = parse_tree(&files["annotations.xml"]);
    let ids: Vec<String> = tree
        .children
        .iter()
        .filter(|e| e.name == "image")
        .map(|e| e.attrs[0].1.clone())
        .collect();
    assert_eq!(ids, ["10", "13", "16", "19"]);
    // and reading back maps them to task frames again
    let back = read_bytes(
        "i.xml",
        files["annotations.xml"].clone(),
        &ReadOptions::default(),
    )
    .unwrap();
    let mut frames: Vec<u32> = back.shapes.iter().map(|s| s.frame).collect();
    frames.dedup();
    assert!(frames.iter().all(|f| *f < 4), "{frames:?}");
}
