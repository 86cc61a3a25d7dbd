//! Integration tests for "PASCAL VOC 1.1" and "Segmentation mask 1.1".

use cvat_format_api::geometry::Bitmap;
use cvat_format_api::{
    Dataset, Format, Input, MemorySink, ReadOptions, Severity, Shape, ShapeType, WriteOptions,
};
use cvat_format_voc::pngio::{self, Pixels};
use cvat_format_voc::raster;
use cvat_format_voc::xmltree::{self, Elem};
use cvat_format_voc::{SegmentationMaskFormat, VocFormat};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

fn shared(rel: &str) -> PathBuf {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared")
        .join(rel);
    assert!(p.exists(), "shared data missing: {}", p.display());
    p
}

fn rich_a() -> Dataset {
    Dataset::from_task_dir(&shared("cvat/exports/rich-A")).expect("rich-A loads")
}

fn read_dir_files(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    let input = Input::open(dir).expect("open dir");
    input
        .files()
        .iter()
        .map(|f| (f.clone(), input.read(f).expect("read")))
        .collect()
}

fn write(
    fmt: &dyn Format,
    ds: &Dataset,
) -> (BTreeMap<String, Vec<u8>>, cvat_format_api::DropReport) {
    let mut sink = MemorySink::default();
    let report = fmt
        .write(ds, &mut sink, &WriteOptions::default())
        .expect("write");
    (sink.into_files(), report)
}

fn xml_equal(a: &Elem, b: &Elem, path: &str) -> Result<(), String> {
    let here = format!("{path}/{}", a.name);
    if a.name != b.name {
        return Err(format!("{here}: element <{}> vs <{}>", a.name, b.name));
    }
    let ta = a.text.as_deref().unwrap_or("").trim();
    let tb = b.text.as_deref().unwrap_or("").trim();
    if ta != tb {
        return Err(format!("{here}: text {ta:?} vs {tb:?}"));
    }
    if a.children.len() != b.children.len() {
        let names = |e: &Elem| {
            e.children
                .iter()
                .map(|c| c.name.clone())
                .collect::<Vec<_>>()
        };
        return Err(format!("{here}: children {:?} vs {:?}", names(a), names(b)));
    }
    for (i, (x, y)) in a.children.iter().zip(&b.children).enumerate() {
        xml_equal(x, y, &format!("{here}[{i}]"))?;
    }
    Ok(())
}

/// An element as a string with its children sorted: equal for trees that differ only in order.
fn canonical(e: &Elem) -> String {
    let mut kids: Vec<String> = e.children.iter().map(canonical).collect();
    kids.sort();
    format!(
        "<{}>{}{}</{}>",
        e.name,
        e.text.as_deref().unwrap_or("").trim(),
        kids.concat(),
        e.name
    )
}

/// Fraction of pixels with the same decoded value.
fn pixel_agreement(ours: &[u8], theirs: &[u8]) -> (usize, usize) {
    let a = pngio::decode(ours).expect("our png");
    let b = pngio::decode(theirs).expect("their png");
    assert_eq!((a.width, a.height), (b.width, b.height), "png sizes");
    match (a.pixels, b.pixels) {
        (Pixels::Rgb(x), Pixels::Rgb(y)) => {
            let same = x.iter().zip(&y).filter(|(p, q)| p == q).count();
            (same, x.len())
        }
        _ => panic!("both PNGs should be RGB"),
    }
}

/// Compares our files with the server's: same names, XML as trees, text by lines, PNGs by pixels.
/// Returns (differing pixels, total pixels).
fn compare_with_export(ours: &BTreeMap<String, Vec<u8>>, dir: &Path) -> (usize, usize) {
    let theirs = read_dir_files(dir);
    let names = |m: &BTreeMap<String, Vec<u8>>| m.keys().cloned().collect::<Vec<_>>();
    assert_eq!(names(ours), names(&theirs), "file lists differ");
    let (mut diff, mut total) = (0, 0);
    for (name, want) in &theirs {
        let got = &ours[name];
        if name.ends_with(".xml") {
            let a = xmltree::parse(std::str::from_utf8(got).unwrap()).expect("our xml");
            let b = xmltree::parse(std::str::from_utf8(want).unwrap()).expect("their xml");
            if let Err(e) = xml_equal(&a, &b, "") {
                panic!("{name}: {e}");
            }
        } else if name.ends_with(".png") {
            let (same, n) = pixel_agreement(got, want);
            eprintln!("{name}: {} of {n} pixels differ", n - same);
            diff += n - same;
            total += n;
        } else {
            let a: Vec<&str> = std::str::from_utf8(got).unwrap().lines().collect();
            let b: Vec<&str> = std::str::from_utf8(want).unwrap().lines().collect();
            assert_eq!(a, b, "{name}");
        }
    }
    (diff, total)
}

#[test]
fn voc_fidelity_with_the_real_export() {
    let (files, report) = write(&VocFormat, &rich_a());
    let (diff, total) =
        compare_with_export(&files, &shared("cvat/exports/rich-A/export/PASCAL_VOC_1.1"));
    eprintln!("VOC: {diff} of {total} pixels differ; dropped: {report}");
    // the rasterisation follows pycocotools and OpenCV step by step: every pixel must agree
    assert!(total > 0);
    assert_eq!(diff, 0, "{diff} of {total} pixels differ");
}

#[test]
fn segmentation_fidelity_with_the_real_export() {
    let (files, report) = write(&SegmentationMaskFormat, &rich_a());
    let (diff, total) = compare_with_export(
        &files,
        &shared("cvat/exports/rich-A/export/Segmentation_mask_1.1"),
    );
    eprintln!("Segmentation mask: {diff} of {total} pixels differ; dropped: {report}");
    // the rasterisation follows pycocotools and OpenCV step by step: every pixel must agree
    assert!(total > 0);
    assert_eq!(diff, 0, "{diff} of {total} pixels differ");
}

// ---------------------------------------------------------------------------------------------
// Reading the real exports back, compared with what the server's own re-import kept.

/// The server re-imported each export into a fresh task whose labels were created in `labels.json`
/// order, so its ids are rich-A's shifted by a constant; derive it from the `car` label, whose
/// attributes are the only ones with those names.
struct Reimport {
    ann: cvat_format_api::rest::Annotations,
    label_shift: i64,
    spec_shift: i64,
}

fn reimport(name: &str, label_shift: i64, spec_shift: i64) -> Reimport {
    let path = shared(&format!("cvat/exports/rich-A/reimport/{name}.json"));
    let bytes = std::fs::read(&path).expect("reimport json");
    let ann = cvat_format_api::rest::parse_annotations(name, &bytes).expect("parse reimport");
    Reimport {
        ann,
        label_shift,
        spec_shift,
    }
}

fn task_opts(ds: &Dataset) -> ReadOptions {
    ReadOptions::default()
        .with_labels(ds.labels.clone())
        .with_frames(ds.frames.clone())
}

fn read_export(fmt: &dyn Format, dir: &str, opts: &ReadOptions) -> Dataset {
    let input = Input::open(&shared(&format!("cvat/exports/rich-A/export/{dir}"))).unwrap();
    fmt.read(&input, opts).expect("read real export")
}

/// Attribute values as (spec id, value), sorted; the server's `None` (an empty XML element read by
/// lxml) counts as empty (see docs/formats.md).
fn attrs(a: &[cvat_format_api::AttributeValue], shift: i64) -> Vec<(i64, String)> {
    let mut v: Vec<(i64, String)> = a
        .iter()
        .map(|x| {
            let value = if x.value == "None" {
                String::new()
            } else {
                x.value.clone()
            };
            (x.spec_id - shift, value)
        })
        .collect();
    v.sort();
    v
}

fn raster_of(s: &Shape, ds: &Dataset) -> Bitmap {
    let f = ds.frame(s.frame).expect("frame");
    raster::coco_polygon(&s.points, f.width, f.height)
}

fn iou(a: &Bitmap, b: &Bitmap) -> f64 {
    let inter = a
        .data
        .iter()
        .zip(&b.data)
        .filter(|(x, y)| **x != 0 && **y != 0)
        .count();
    let union = a
        .data
        .iter()
        .zip(&b.data)
        .filter(|(x, y)| **x != 0 || **y != 0)
        .count();
    if union == 0 {
        1.0
    } else {
        inter as f64 / union as f64
    }
}

/// Polygons grouped by (frame, label, group): the union of their pixels.
/// Polygons as (frame, label, grouped, points), sorted: equal when the vertices are the server's.
fn polygon_points(shapes: &[Shape], shift: i64) -> Vec<(u32, i64, bool, Vec<i64>)> {
    let mut v: Vec<(u32, i64, bool, Vec<i64>)> = shapes
        .iter()
        .filter(|s| s.kind == ShapeType::Polygon)
        .map(|s| {
            let pts = s
                .points
                .iter()
                .map(|p| (p * 1000.0).round() as i64)
                .collect();
            (s.frame, s.label_id - shift, s.group != 0, pts)
        })
        .collect();
    v.sort();
    v
}

fn overall_iou(
    a: &BTreeMap<(u32, i64, i64), (usize, Bitmap)>,
    b: &BTreeMap<(u32, i64, i64), (usize, Bitmap)>,
) -> f64 {
    let (mut inter, mut union) = (0usize, 0usize);
    for (k, (_, x)) in a {
        let Some((_, y)) = b.get(k) else { continue };
        inter += x
            .data
            .iter()
            .zip(&y.data)
            .filter(|(p, q)| **p != 0 && **q != 0)
            .count();
        union += x
            .data
            .iter()
            .zip(&y.data)
            .filter(|(p, q)| **p != 0 || **q != 0)
            .count();
    }
    inter as f64 / union.max(1) as f64
}

fn polygon_areas(
    shapes: &[Shape],
    ds: &Dataset,
    shift: i64,
) -> BTreeMap<(u32, i64, i64), (usize, Bitmap)> {
    let mut m: BTreeMap<(u32, i64, i64), (usize, Bitmap)> = BTreeMap::new();
    for s in shapes.iter().filter(|s| s.kind == ShapeType::Polygon) {
        let bm = raster_of(s, ds);
        let e = m
            .entry((s.frame, s.label_id - shift, s.group.min(1)))
            .or_insert_with(|| (0, Bitmap::new(bm.width, bm.height)));
        e.0 += 1;
        for (u, v) in e.1.data.iter_mut().zip(&bm.data) {
            *u |= *v;
        }
    }
    m
}

fn rects(shapes: &[Shape], shift: i64, spec_shift: i64) -> Vec<String> {
    let mut v: Vec<String> = shapes
        .iter()
        .filter(|s| s.kind == ShapeType::Rectangle)
        .map(|s| {
            format!(
                "f{} l{} g{} occ{} rot{} {:?} {:?}",
                s.frame,
                s.label_id - shift,
                s.group,
                s.occluded,
                s.rotation,
                s.points,
                attrs(&s.attributes, spec_shift)
            )
        })
        .collect();
    v.sort();
    v
}

#[test]
fn voc_real_export_reads_back_like_the_server() {
    let task = rich_a();
    let ours = read_export(&VocFormat, "PASCAL_VOC_1.1", &task_opts(&task));
    let theirs = reimport("PASCAL_VOC_1.1", 132, 66);
    // tags
    let tags = |t: &[cvat_format_api::Tag], shift: i64| {
        let mut v: Vec<(u32, i64)> = t.iter().map(|t| (t.frame, t.label_id - shift)).collect();
        v.sort();
        v
    };
    assert_eq!(
        tags(&ours.tags, 0),
        tags(&theirs.ann.tags, theirs.label_shift)
    );
    // rectangles with attributes, rotation, occlusion and groups
    assert_eq!(
        rects(&ours.shapes, 0, 0),
        rects(&theirs.ann.shapes, theirs.label_shift, theirs.spec_shift)
    );
    // polygons from the segmentation masks: same groups, nearly the same pixels
    let a = polygon_areas(&ours.shapes, &task, 0);
    let b = polygon_areas(&theirs.ann.shapes, &task, theirs.label_shift);
    assert_eq!(a.keys().collect::<Vec<_>>(), b.keys().collect::<Vec<_>>());
    for (k, (n, bm)) in &a {
        let (m, other) = &b[k];
        assert_eq!(n, m, "polygon count of {k:?}");
        let v = iou(bm, other);
        eprintln!(
            "{k:?}: IoU {v:.4} ours {} theirs {}",
            bm.count(),
            other.count()
        );
        // the vertices are compared exactly below; this says how far off a group is when they differ
        assert!(v > 0.95, "{k:?}: IoU {v}");
    }
    let all = overall_iou(&a, &b);
    eprintln!("VOC polygons: overall IoU {all:.4}");
    assert!(all > 0.98, "overall IoU {all}");
    // and the vertices themselves are the server's (OpenCV's TC89-KCOS contours, holes bridged)
    assert_eq!(
        polygon_points(&ours.shapes, 0),
        polygon_points(&theirs.ann.shapes, theirs.label_shift)
    );
    // the car track: keyframes, outside, attributes
    assert_eq!(ours.tracks.len(), theirs.ann.tracks.len());
    for (x, y) in ours.tracks.iter().zip(&theirs.ann.tracks) {
        assert_eq!(x.label_id, y.label_id - theirs.label_shift);
        assert_eq!(
            attrs(&x.attributes, 0),
            attrs(&y.attributes, theirs.spec_shift)
        );
        let frames = |t: &cvat_format_api::Track| {
            t.shapes
                .iter()
                .map(|s| (s.frame, s.outside, s.points.clone(), s.attributes.len()))
                .collect::<Vec<_>>()
        };
        assert_eq!(frames(x), frames(y));
        for (s, r) in x.shapes.iter().zip(&y.shapes) {
            assert_eq!(
                attrs(&s.attributes, 0),
                attrs(&r.attributes, theirs.spec_shift)
            );
        }
    }
}

#[test]
fn segmentation_real_export_reads_back_like_the_server() {
    let task = rich_a();
    let ours = read_export(
        &SegmentationMaskFormat,
        "Segmentation_mask_1.1",
        &task_opts(&task),
    );
    let theirs = reimport("Segmentation_mask_1.1", 96, 48);
    assert!(ours.tags.is_empty() && ours.tracks.is_empty());
    assert!(ours.shapes.iter().all(|s| s.kind == ShapeType::Polygon));
    assert_eq!(ours.shapes.len(), theirs.ann.shapes.len(), "polygon count");
    let a = polygon_areas(&ours.shapes, &task, 0);
    let b = polygon_areas(&theirs.ann.shapes, &task, theirs.label_shift);
    assert_eq!(a.keys().collect::<Vec<_>>(), b.keys().collect::<Vec<_>>());
    for (k, (n, bm)) in &a {
        let (m, other) = &b[k];
        assert_eq!(n, m, "polygon count of {k:?}");
        let v = iou(bm, other);
        eprintln!(
            "{k:?}: IoU {v:.4} ours {} theirs {}",
            bm.count(),
            other.count()
        );
        // the vertices are compared exactly below; this says how far off a group is when they differ
        assert!(v > 0.95, "{k:?}: IoU {v}");
    }
    let all = overall_iou(&a, &b);
    eprintln!("Segmentation polygons: overall IoU {all:.4}");
    assert!(all > 0.99, "overall IoU {all}");
    assert_eq!(
        polygon_points(&ours.shapes, 0),
        polygon_points(&theirs.ann.shapes, theirs.label_shift)
    );
    // every polygon carries the label's default attribute values, as the server stores them
    let mut ours_attrs: Vec<_> = ours
        .shapes
        .iter()
        .map(|s| attrs(&s.attributes, 0))
        .collect();
    let mut their_attrs: Vec<_> = theirs
        .ann
        .shapes
        .iter()
        .map(|s| attrs(&s.attributes, theirs.spec_shift))
        .collect();
    ours_attrs.sort();
    their_attrs.sort();
    assert_eq!(ours_attrs, their_attrs);
}

// ---------------------------------------------------------------------------------------------
// Upstream samples (cvat-ai/datumaro test assets)

fn voc_sample(name: &str) -> PathBuf {
    shared(&format!(
        "formats/voc/cvat-ai_datumaro/tests/assets/voc_dataset/{name}"
    ))
}

fn label(ds: &Dataset, id: i64) -> &str {
    ds.label_index().label_name(id)
}

#[test]
fn golden_voc_dataset1() {
    let input = Input::open(&voc_sample("voc_dataset1")).unwrap();
    assert!(VocFormat.sniff(&input) > SegmentationMaskFormat.sniff(&input));
    let ds = VocFormat
        .read(&input, &ReadOptions::default())
        .expect("read");
    let names: Vec<_> = ds
        .frames
        .iter()
        .map(|f| (f.name.as_str(), f.width, f.height, f.subset.clone()))
        .collect();
    assert_eq!(
        names,
        vec![
            ("2007_000001.jpg", 20, 10, Some("train".to_string())),
            ("2007_000002.jpg", 0, 0, Some("test".to_string()))
        ]
    );
    // tags: the labels marked 1 in ImageSets/Main/<label>_train.txt
    let mut tags: Vec<&str> = ds.tags.iter().map(|t| label(&ds, t.label_id)).collect();
    tags.sort();
    assert_eq!(
        tags,
        vec![
            "aeroplane",
            "bird",
            "bottle",
            "car",
            "chair",
            "diningtable",
            "horse",
            "ignored",
            "person",
            "sheep",
            "train"
        ]
    );
    let rect = |n: &str| {
        ds.shapes
            .iter()
            .find(|s| s.kind == ShapeType::Rectangle && label(&ds, s.label_id) == n)
            .unwrap_or_else(|| panic!("no {n} box"))
    };
    assert_eq!(rect("cat").points, vec![1.0, 2.0, 3.0, 4.0]);
    assert_eq!(rect("person").points, vec![4.0, 5.0, 6.0, 7.0]);
    assert_eq!(rect("head").points, vec![5.5, 6.0, 7.5, 8.0]);
    // the part shares the person's group; the cat's truncated flag and the person's actions are kept
    assert!(rect("head").group != 0 && rect("head").group == rect("person").group);
    let idx = ds.label_index();
    let value = |s: &Shape, n: &str| {
        s.attributes
            .iter()
            .find(|a| idx.spec_name(a.spec_id) == n)
            .map(|a| a.value.clone())
    };
    assert_eq!(value(rect("cat"), "truncated").as_deref(), Some("true"));
    assert_eq!(value(rect("person"), "walking").as_deref(), Some("true"));
    assert_eq!(value(rect("person"), "jumping").as_deref(), Some("false"));
    // the masks became polygons covering the instance pixels of SegmentationObject
    let inst = pngio::decode(
        &std::fs::read(voc_sample("voc_dataset1").join("SegmentationObject/2007_000001.png"))
            .unwrap(),
    )
    .unwrap();
    let Pixels::Rgb(px) = inst.pixels else {
        panic!("rgb")
    };
    let fg = px.iter().filter(|c| **c != (0, 0, 0)).count();
    let polys: Vec<&Shape> = ds
        .shapes
        .iter()
        .filter(|s| s.kind == ShapeType::Polygon)
        .collect();
    assert!(!polys.is_empty() && fg > 0);
    assert!(polys.iter().all(|s| s.frame == 0));
}

#[test]
fn golden_voc_dataset2_and_3() {
    let ds = VocFormat
        .read(
            &Input::open(&voc_sample("voc_dataset2")).unwrap(),
            &ReadOptions::default(),
        )
        .expect("read 2");
    let names: Vec<&str> = ds.frames.iter().map(|f| f.name.as_str()).collect();
    assert_eq!(names, vec!["@.jpg", "a.jpg", "b.jpg", "c.jpg", "d.jpg"]);
    let a = ds.frames.iter().find(|f| f.name == "a.jpg").unwrap();
    let boxes: Vec<_> = ds.shapes.iter().filter(|s| s.frame == a.id).collect();
    assert_eq!(boxes.len(), 1);
    assert_eq!(label(&ds, boxes[0].label_id), "background");
    assert_eq!(boxes[0].points, vec![1.0, 2.0, 4.0, 6.0]);
    assert!(boxes[0].occluded);

    // a comment line in the subset list
    let ds = VocFormat
        .read(
            &Input::open(&voc_sample("voc_dataset3")).unwrap(),
            &ReadOptions::default(),
        )
        .expect("read 3");
    assert_eq!(ds.frames.len(), 1);
    assert_eq!(ds.shapes.len(), 1);
    assert_eq!(label(&ds, ds.shapes[0].label_id), "cat");
}

#[test]
fn common_semantic_segmentation_samples_are_not_cvat_segmentation_masks() {
    // datumaro's "common_semantic_segmentation" layout (images/, masks/, dataset_meta.json) is not what
    // the server's "Segmentation mask 1.1" reads: neither format claims it, and reading says why.
    for d in ["dataset", "non_standard_dataset/segmentation"] {
        let p = shared(&format!(
            "formats/segmentation_mask/cvat-ai_datumaro/tests/assets/common_semantic_segmentation_dataset/{d}"
        ));
        let input = Input::open(&p).unwrap();
        assert_eq!(SegmentationMaskFormat.sniff(&input), 0);
        assert_eq!(VocFormat.sniff(&input), 0);
        let err = SegmentationMaskFormat
            .read(&input, &ReadOptions::default())
            .unwrap_err();
        assert!(err.to_string().contains("no PASCAL VOC items"), "{err}");
        assert!(err.hint().is_some());
    }
}

// ---------------------------------------------------------------------------------------------
// Round trips

#[test]
fn voc_round_trip_keeps_boxes_tags_and_tracks() {
    let task = rich_a();
    let (files, _) = write(&VocFormat, &task);
    let back = VocFormat
        .read(
            &Input::from_files("mem.zip", files.clone()),
            &task_opts(&task),
        )
        .expect("read back");
    // boxes: every non-track rectangle, with its rotation and attribute values
    let mut want: Vec<String> = task
        .shapes
        .iter()
        .filter(|s| s.kind == ShapeType::Rectangle)
        .map(|s| format!("{} {} {:?} {}", s.frame, s.label_id, s.points, s.rotation))
        .collect();
    let mut got: Vec<String> = back
        .shapes
        .iter()
        .filter(|s| s.kind == ShapeType::Rectangle)
        .map(|s| format!("{} {} {:?} {}", s.frame, s.label_id, s.points, s.rotation))
        .collect();
    want.sort();
    got.sort();
    assert_eq!(got, want);
    assert_eq!(back.tags.len(), task.tags.len());
    let rect_tracks = task
        .tracks
        .iter()
        .filter(|t| t.shapes.iter().all(|s| s.kind == ShapeType::Rectangle))
        .count();
    assert_eq!(back.tracks.len(), rect_tracks);
    // writing what we read gives the same objects again, up to their order (z_order, which decides
    // it, is not carried); `segmented` changes because masks come back as polygons, which VOC export
    // does not rasterise (as on the server)
    let (again, _) = write(&VocFormat, &back);
    for (name, bytes) in files.iter().filter(|(n, _)| n.ends_with(".xml")) {
        let a = xmltree::parse(std::str::from_utf8(bytes).unwrap()).unwrap();
        let b = xmltree::parse(std::str::from_utf8(&again[name]).unwrap()).unwrap();
        let objects = |e: &Elem| {
            let mut v: Vec<String> = e.children_named("object").map(canonical).collect();
            v.sort();
            v
        };
        assert_eq!(objects(&a), objects(&b), "{name}");
    }
}

#[test]
fn segmentation_round_trip_keeps_the_pixels() {
    let task = rich_a();
    let (files, _) = write(&SegmentationMaskFormat, &task);
    let back = SegmentationMaskFormat
        .read(
            &Input::from_files("mem.zip", files.clone()),
            &task_opts(&task),
        )
        .expect("read back");
    let (again, _) = write(&SegmentationMaskFormat, &back);
    let (mut same, mut total) = (0, 0);
    for (name, bytes) in files
        .iter()
        .filter(|(n, _)| n.starts_with("SegmentationClass/"))
    {
        let (s, n) = pixel_agreement(&again[name], bytes);
        same += s;
        total += n;
    }
    eprintln!(
        "segmentation round trip: {} of {total} class pixels differ",
        total - same
    );
    // contours through border-pixel centres lose part of the border pixels on the way back
    assert!(same as f64 / total as f64 > 0.995);
}

// ---------------------------------------------------------------------------------------------
// Damaged inputs

fn tree(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    read_dir_files(dir)
}

/// Every offset of small files; 200 spread offsets of bigger text files, 80 of bigger PNGs (each read
/// decodes and traces a whole mask).
fn offsets(len: usize, png: bool) -> Vec<usize> {
    let n = if png { 80 } else { 200 };
    if len <= 400 {
        (0..len).collect()
    } else {
        (0..n).map(|i| i * len / n).collect()
    }
}

/// The victim plus what gives it meaning (label map and lists); other PNGs are left out to keep the
/// hundreds of reads fast.
fn small_tree(dir: &Path, victim: &str) -> BTreeMap<String, Vec<u8>> {
    tree(dir)
        .into_iter()
        .filter(|(n, _)| {
            n == victim || n.ends_with(".txt") || (n.ends_with(".xml") && victim.ends_with(".xml"))
        })
        .collect()
}

#[test]
fn truncated_files_never_panic_and_are_located() {
    let cases = [
        (
            shared("cvat/exports/rich-A/export/PASCAL_VOC_1.1"),
            "Annotations/frame_00_640x480.xml",
        ),
        (
            shared("cvat/exports/rich-A/export/PASCAL_VOC_1.1"),
            "SegmentationObject/frame_02_1024x768.png",
        ),
        (
            shared("cvat/exports/rich-A/export/Segmentation_mask_1.1"),
            "SegmentationClass/frame_03_320x240.png",
        ),
        (voc_sample("voc_dataset1"), "Annotations/2007_000001.xml"),
        (
            voc_sample("voc_dataset1"),
            "SegmentationClass/2007_000001.png",
        ),
        (
            voc_sample("voc_dataset1"),
            "SegmentationObject/2007_000001.png",
        ),
    ];
    let mut checked = 0;
    for (dir, victim) in &cases {
        let files = small_tree(dir, victim);
        let full = files[*victim].clone();
        for cut in offsets(full.len(), victim.ends_with(".png")) {
            let mut f = files.clone();
            f.insert(victim.to_string(), full[..cut].to_vec());
            let input = Input::from_files("cut.zip", f);
            for fmt in [&VocFormat as &dyn Format, &SegmentationMaskFormat] {
                let diags = fmt.validate(&input, &ReadOptions::default());
                let errors: Vec<_> = diags
                    .items()
                    .iter()
                    .filter(|d| d.severity == Severity::Error)
                    .collect();
                assert!(!errors.is_empty(), "{victim} cut at {cut}: no error");
                assert!(
                    errors.iter().any(|d| d.location.file.contains(victim)),
                    "{victim} cut at {cut}: {errors:?}"
                );
                if victim.ends_with(".xml") && cut > 0 {
                    assert!(
                        errors.iter().any(|d| d.location.line.is_some()),
                        "{victim} cut at {cut}: no line"
                    );
                }
                assert!(fmt.read(&input, &ReadOptions::default()).is_err());
            }
            checked += 1;
        }
    }
    // list files and the label map cut anywhere: no panic (a cut list can still be valid)
    let dir = shared("cvat/exports/rich-A/export/PASCAL_VOC_1.1");
    for victim in [
        "labelmap.txt",
        "ImageSets/Main/daytime_default.txt",
        "ImageSets/Main/default.txt",
    ] {
        let files = small_tree(&dir, victim);
        let full = files[victim].clone();
        for cut in offsets(full.len(), false) {
            let mut f = files.clone();
            f.insert(victim.to_string(), full[..cut].to_vec());
            let input = Input::from_files("cut.zip", f);
            let _ = VocFormat.validate(&input, &ReadOptions::default());
            let _ = VocFormat.read(&input, &ReadOptions::default());
            checked += 1;
        }
    }
    eprintln!("{checked} truncations checked");
}

#[test]
fn validate_reports_every_problem_with_its_place() {
    let mut files = tree(&shared("cvat/exports/rich-A/export/PASCAL_VOC_1.1"));
    // 1: XML syntax error
    files.insert(
        "Annotations/frame_03_320x240.xml".into(),
        b"<annotation>\n  <object>\n  </annotation>\n".to_vec(),
    );
    // 2: label not in the label map, 3: a bad coordinate
    let x = String::from_utf8(files["Annotations/frame_04_1280x720.xml"].clone()).unwrap();
    let x = x
        .replacen("<name>car</name>", "<name>truck</name>", 1)
        .replacen("<xmin>100.0</xmin>", "<xmin>abc</xmin>", 1);
    files.insert("Annotations/frame_04_1280x720.xml".into(), x.into_bytes());
    // 4: a bad class-list line
    files.insert(
        "ImageSets/Main/daytime_default.txt".into(),
        b"frame_00_640x480  1\nframe_01_800x600 yes\n".to_vec(),
    );
    // 5: a PNG of the wrong size, 6: a colour that is not in the label map
    let small = pngio::encode_rgb(2, 2, &[0; 12]).unwrap();
    files.insert("SegmentationObject/frame_01_800x600.png".into(), small);
    let mut rgb = vec![0u8; 1024 * 768 * 3];
    rgb[0..3].copy_from_slice(&[1, 2, 3]);
    files.insert(
        "SegmentationClass/frame_02_1024x768.png".into(),
        pngio::encode_rgb(1024, 768, &rgb).unwrap(),
    );
    // 7: an annotation that no list names
    files.insert(
        "Annotations/extra.xml".into(),
        b"<annotation><filename>extra.jpg</filename></annotation>".to_vec(),
    );
    let input = Input::from_files("broken.zip", files);
    let diags = VocFormat.validate(&input, &ReadOptions::default());
    let codes: Vec<(&str, String)> = diags
        .items()
        .iter()
        .map(|d| (d.code.as_str(), d.location.to_string()))
        .collect();
    let has = |code: &str, place: &str| codes.iter().any(|(c, l)| *c == code && l.contains(place));
    assert!(has("xml-syntax", "frame_03_320x240.xml:"), "{codes:?}");
    assert!(
        has("undeclared-label", "frame_04_1280x720.xml:"),
        "{codes:?}"
    );
    assert!(has("bad-number", "frame_04_1280x720.xml:"), "{codes:?}");
    assert!(has("list-syntax", "daytime_default.txt:2:"), "{codes:?}");
    assert!(
        has("image-size", "SegmentationObject/frame_01_800x600.png"),
        "{codes:?}"
    );
    assert!(
        has("unknown-color", "SegmentationClass/frame_02_1024x768.png"),
        "{codes:?}"
    );
    assert!(has("unlisted-item", "extra.xml"), "{codes:?}");
    let xml_err = diags
        .items()
        .iter()
        .find(|d| d.code == "xml-syntax")
        .unwrap();
    assert_eq!(xml_err.location.line, Some(3));
}

#[test]
fn writers_report_what_they_drop() {
    let task = rich_a();
    let (_, voc) = write(&VocFormat, &task);
    // the drawn polygons, the polyline, points, cuboid and skeleton; the road track's frames
    assert_eq!(
        voc.count("polygon shapes"),
        task.shapes
            .iter()
            .filter(|s| s.kind == ShapeType::Polygon)
            .count()
    );
    assert_eq!(voc.count("cuboid shapes"), 1);
    assert_eq!(voc.count("skeleton shapes"), 1);
    assert_eq!(voc.count("skeleton tracks"), 1);
    assert!(voc.count("polygon track frames") > 0);
    let (_, seg) = write(&SegmentationMaskFormat, &task);
    assert_eq!(seg.count("tags"), task.tags.len());
    assert!(seg.count("attribute values") > 0);
    assert_eq!(seg.count("polyline shapes"), 1);
    assert_eq!(seg.count("polygon shapes"), 0);
}

// ---------------------------------------------------------------------------------------------
// Registry, detection, archives, reading without task information

#[test]
fn registry_names_and_detection() {
    let reg = cvat_format_api::Registry::builtin().expect("no name clash");
    for (name, alias) in [
        ("PASCAL VOC 1.1", "PASCAL VOC ZIP 1.1"),
        ("Segmentation mask 1.1", "Segmentation mask ZIP 1.1"),
    ] {
        let e = reg.get(name).expect("registered");
        assert!(e.info.can_import && e.info.can_export);
        assert_eq!(reg.get(alias).map(|e| e.info.name.as_str()), Some(name));
    }
    for (zip, want) in [
        ("PASCAL_VOC_1.1.zip", "PASCAL VOC 1.1"),
        ("Segmentation_mask_1.1.zip", "Segmentation mask 1.1"),
    ] {
        let input = Input::open(&shared(&format!("cvat/exports/rich-A/export/{zip}"))).unwrap();
        assert_eq!(
            reg.detect(&input).map(|e| e.info.name.as_str()),
            Some(want),
            "{zip}"
        );
    }
}

#[test]
fn the_server_zip_reads_like_its_directory() {
    let task = rich_a();
    for (fmt, name) in [
        (&VocFormat as &dyn Format, "PASCAL_VOC_1.1"),
        (&SegmentationMaskFormat, "Segmentation_mask_1.1"),
    ] {
        let dir = read_export(fmt, name, &task_opts(&task));
        let zip = Input::open(&shared(&format!("cvat/exports/rich-A/export/{name}.zip"))).unwrap();
        let from_zip = fmt.read(&zip, &task_opts(&task)).expect("zip");
        assert_eq!(dir, from_zip, "{name}");
    }
}

#[test]
fn without_task_information_labels_and_frames_come_from_the_files() {
    let ds = read_export(&VocFormat, "PASCAL_VOC_1.1", &ReadOptions::default());
    let task = rich_a();
    // frames: names from <filename>, sizes from <size>
    let got: Vec<_> = ds
        .frames
        .iter()
        .map(|f| (f.name.clone(), f.width, f.height))
        .collect();
    let want: Vec<_> = task
        .frames
        .iter()
        .map(|f| (f.name.clone(), f.width, f.height))
        .collect();
    assert_eq!(got, want);
    // labels: the label map without background, in its order
    let names: Vec<&str> = ds.labels.iter().map(|l| l.name.as_str()).collect();
    assert_eq!(
        names,
        vec![
            "car",
            "person",
            "road",
            "lane",
            "landmark",
            "ball",
            "box3d",
            "body",
            "head",
            "left_hand",
            "right_hand",
            "daytime"
        ]
    );
    // attributes found in the files are declared on the label that carries them
    let car = ds.label_by_name("car").unwrap();
    let specs: Vec<&str> = car.attributes.iter().map(|a| a.name.as_str()).collect();
    for n in ["color", "parked", "speed", "plate", "state"] {
        assert!(specs.contains(&n), "{specs:?}");
    }
    let person = ds.label_by_name("person").unwrap();
    assert!(person.attributes.iter().any(|a| a.name == "pose"));
    assert_eq!(ds.tracks.len(), 1);
    assert_eq!(ds.tags.len(), 2);
}

#[test]
fn frames_without_a_usable_size_are_reported_not_painted() {
    let mut task = rich_a();
    task.frames[1].width = 0; // the ellipse's frame
    task.frames[2].width = 200_000; // the mask's frame: too large to paint
    task.frames[2].height = 200_000;
    let (files, report) = write(&VocFormat, &task);
    assert_eq!(
        report.count("masks and ellipses on frames of unknown or too large size"),
        2
    );
    assert!(!files.keys().any(|k| k.starts_with("SegmentationClass/")));
    let (_, report) = write(&SegmentationMaskFormat, &task);
    assert!(report.count("area annotations on frames of unknown or too large size") > 0);
    // and an empty frame list with annotations is refused with a hint
    task.frames.clear();
    let err = VocFormat
        .write(&task, &mut MemorySink::default(), &WriteOptions::default())
        .unwrap_err();
    assert!(err.hint().is_some(), "{err}");
}

#[test]
fn a_flat_archive_of_xml_files_is_voc() {
    // as the server accepts: just the annotation files, no ImageSets
    let dir = shared("cvat/exports/rich-A/export/PASCAL_VOC_1.1");
    let files: BTreeMap<String, Vec<u8>> = tree(&dir)
        .into_iter()
        .filter(|(n, _)| n.starts_with("Annotations/"))
        .map(|(n, b)| (n.trim_start_matches("Annotations/").to_string(), b))
        .collect();
    let input = Input::from_files("flat.zip", files);
    assert!(VocFormat.sniff(&input) >= 50);
    let task = rich_a();
    let ds = VocFormat
        .read(&input, &task_opts(&task))
        .expect("flat read");
    let boxes = ds
        .shapes
        .iter()
        .filter(|s| s.kind == ShapeType::Rectangle)
        .count();
    assert_eq!(
        boxes,
        task.shapes
            .iter()
            .filter(|s| s.kind == ShapeType::Rectangle)
            .count()
    );
    assert_eq!(ds.tracks.len(), 1);
}
