//! Writers: "PASCAL VOC 1.1" (datumaro `voc`, `label_map="source"`) and "Segmentation mask 1.1"
//! (datumaro `voc_segmentation` after the server's `RotatedBoxesToPolygons`, `polygons_to_masks`,
//! `boxes_to_masks`, `merge_instance_segments`).

use crate::collect::{self, FrameAnn};
use crate::labelmap::{voc_color, LabelDesc, LabelMap, Rgb, BACKGROUND};
use crate::pngio;
use crate::raster;
use crate::xmltree::XmlWriter;
use cvat_format_api::geometry::{cvat_rle_to_bitmap, fmt_py_float, rotated_corners, Bitmap};
use cvat_format_api::{
    AttributeValue, Dataset, DropReport, FormatError, Frame, InputType, Label, LabelIndex,
    OutputSink, Result, ShapeType,
};
use std::collections::BTreeMap;

fn put(out: &mut dyn OutputSink, rel: &str, bytes: &[u8]) -> Result<()> {
    out.file(rel)?
        .write_all(bytes)
        .map_err(|e| FormatError::io(rel, e))
}

/// Every label followed by its sub-labels, as the server lists its categories.
fn flat_labels(ds: &Dataset) -> Vec<&Label> {
    let mut v = Vec::new();
    for l in &ds.labels {
        v.push(l);
        for s in &l.sublabels {
            v.push(s);
        }
    }
    v
}

fn subset_of(f: &Frame) -> &str {
    match f.subset.as_deref() {
        Some(s) if !s.is_empty() => s,
        _ => "default",
    }
}

fn image_filename(f: &Frame) -> String {
    let stem = f.stem();
    let ext = &f.name[stem.len()..];
    if ext.is_empty() {
        format!("{stem}.jpg")
    } else {
        format!("{stem}{ext}")
    }
}

fn sorted_frames(ds: &Dataset) -> Result<Vec<&Frame>> {
    if ds.frames.is_empty() {
        let any = !ds.shapes.is_empty() || !ds.tracks.is_empty() || !ds.tags.is_empty();
        if any {
            return Err(FormatError::missing(
                "the frame list is empty, so item names and image sizes are unknown",
                "export from a task (or give the task's frame list) so that frames have names and sizes",
            ));
        }
    }
    let mut frames: Vec<&Frame> = ds.frames.iter().collect();
    frames.sort_by_key(|f| f.id);
    Ok(frames)
}

/// Attribute values as datumaro receives them from the server: every spec of the label in spec order,
/// the default where the annotation has none, numbers as Python floats and checkboxes as `True`/`False`.
pub fn dm_attributes(label: Option<&Label>, values: &[AttributeValue]) -> Vec<(String, String)> {
    let Some(label) = label else {
        return Vec::new();
    };
    label
        .attributes
        .iter()
        .map(|spec| {
            let raw = values
                .iter()
                .rev()
                .find(|v| v.spec_id == spec.id)
                .map(|v| v.value.as_str())
                .unwrap_or(spec.default_value.as_str());
            let value = match spec.input_type {
                InputType::Number => match raw.trim().parse::<f64>() {
                    Ok(v) => fmt_py_float(v),
                    Err(_) => raw.to_string(),
                },
                InputType::Checkbox => {
                    if raw.eq_ignore_ascii_case("true") {
                        "True".into()
                    } else {
                        "False".into()
                    }
                }
                _ => raw.to_string(),
            };
            (spec.name.clone(), value)
        })
        .collect()
}

/// `int(value)` of a VOC flag attribute (`truncated`, `difficult`), 0 when it does not convert.
fn flag(attrs: &[(String, String)], name: &str) -> i64 {
    match attrs.iter().find(|(n, _)| n == name) {
        None => 0,
        Some((_, v)) => match v.as_str() {
            "True" => 1,
            "False" => 0,
            s => s
                .parse::<i64>()
                .ok()
                .or_else(|| {
                    s.parse::<f64>()
                        .ok()
                        .filter(|f| f.is_finite())
                        .map(|f| f.trunc() as i64)
                })
                .unwrap_or(0),
        },
    }
}

/// One instance on its way to the PNGs.
struct Instance {
    bm: Bitmap,
    label_id: i64,
    z_order: i64,
    group: i64,
}

/// Paints instances into class and instance index images: instances sorted by `z_order` (stable), each
/// painting over the previous; instance ids are positions in that order (from 1); instances whose class
/// index is 0 are not painted (datumaro's `CompiledMask`).
fn compile(
    instances: &[Instance],
    class_of: &dyn Fn(i64) -> usize,
    w: u32,
    h: u32,
) -> (Vec<usize>, Vec<usize>) {
    let n = w as usize * h as usize;
    let mut cls = vec![0usize; n];
    let mut inst = vec![0usize; n];
    let mut order: Vec<&Instance> = instances.iter().collect();
    order.sort_by_key(|i| i.z_order);
    for (pos, m) in order.iter().enumerate() {
        let c = class_of(m.label_id);
        if c == 0 {
            continue;
        }
        for (p, v) in m.bm.data.iter().enumerate() {
            if *v != 0 && p < n {
                cls[p] = c;
                inst[p] = pos + 1;
            }
        }
    }
    (cls, inst)
}

fn paint(indices: &[usize], colors: &dyn Fn(usize) -> Rgb) -> Vec<u8> {
    let mut rgb = Vec::with_capacity(indices.len() * 3);
    for &i in indices {
        let (r, g, b) = colors(i);
        rgb.extend([r, g, b]);
    }
    rgb
}

fn write_pngs(
    out: &mut dyn OutputSink,
    id: &str,
    frame: &Frame,
    instances: &[Instance],
    class_of: &dyn Fn(i64) -> usize,
    class_colors: &[Option<Rgb>],
) -> Result<()> {
    let (cls, inst) = compile(instances, class_of, frame.width, frame.height);
    let class_rgb = paint(&cls, &|i| {
        class_colors.get(i).copied().flatten().unwrap_or((0, 0, 0))
    });
    let inst_rgb = paint(&inst, &voc_color);
    for (dir, rgb) in [
        ("SegmentationClass", class_rgb),
        ("SegmentationObject", inst_rgb),
    ] {
        let png = pngio::encode_rgb(frame.width, frame.height, &rgb)
            .map_err(|e| FormatError::Other(format!("{dir}/{id}.png: {e}")))?;
        put(out, &format!("{dir}/{id}.png"), &png)?;
    }
    Ok(())
}

fn kind_word(kind: ShapeType, track: bool) -> String {
    let base = match kind {
        ShapeType::Rectangle => "rectangle",
        ShapeType::Polygon => "polygon",
        ShapeType::Polyline => "polyline",
        ShapeType::Points => "points",
        ShapeType::Ellipse => "ellipse",
        ShapeType::Cuboid => "cuboid",
        ShapeType::Mask => "mask",
        ShapeType::Skeleton => "skeleton",
    };
    if track {
        format!("{base} track frames")
    } else {
        format!("{base} shapes")
    }
}

/// Counts what no format of this crate carries at all: skeleton tracks.
fn count_skeleton_tracks(ds: &Dataset, report: &mut DropReport) {
    let n = ds.tracks.iter().filter(|t| !t.elements.is_empty()).count();
    report.add("skeleton tracks", n);
}

/// Whether the frame's pixels can be painted: its size is known and not absurdly large.
fn paintable(frame: &Frame) -> bool {
    frame.has_size() && (frame.width as u64) * (frame.height as u64) <= pngio::MAX_PIXELS
}

/// Mask of one area-like annotation (mask or ellipse; polygons and boxes when `all`), or `None`.
fn rasterise(a: &FrameAnn, frame: &Frame) -> Option<Bitmap> {
    let (w, h) = (frame.width, frame.height);
    match a.kind {
        ShapeType::Mask => cvat_rle_to_bitmap(&a.points, w, h).ok(),
        ShapeType::Ellipse => Some(raster::ellipse(&a.points, a.rotation, w, h)),
        ShapeType::Polygon => Some(raster::coco_polygon(&a.points, w, h)),
        ShapeType::Rectangle if a.points.len() == 4 => {
            if a.rotation != 0.0 {
                let c = rotated_corners(&a.points, a.rotation);
                let pts: Vec<f64> = c.iter().flat_map(|(x, y)| [*x, *y]).collect();
                Some(raster::coco_polygon(&pts, w, h))
            } else {
                let p = &a.points;
                Some(raster::coco_box(p[0], p[1], p[2], p[3], w, h))
            }
        }
        _ => None,
    }
}

/// "PASCAL VOC 1.1".
pub fn write_voc(ds: &Dataset, out: &mut dyn OutputSink) -> Result<DropReport> {
    let mut report = DropReport::default();
    let frames = sorted_frames(ds)?;
    let idx = ds.label_index();
    let labels = flat_labels(ds);

    // label map "source": background first (unless a label has that name), VOC colours by position
    let mut lm = LabelMap::default();
    if !labels.iter().any(|l| l.name == BACKGROUND) {
        lm.labels.push(LabelDesc::new(BACKGROUND, None));
    }
    for l in &labels {
        if lm.index_of(&l.name).is_none() {
            lm.labels.push(LabelDesc::new(&l.name, None));
        }
    }
    for (i, l) in lm.labels.iter_mut().enumerate() {
        l.color = Some(voc_color(i));
    }
    let colors = lm.colormap();
    let class_of = |label_id: i64| -> usize { lm.index_of(idx.label_name(label_id)).unwrap_or(0) };

    let per_frame = collect::by_frame(ds);
    count_skeleton_tracks(ds, &mut report);
    let empty = Vec::new();

    // subset → lists
    #[derive(Default)]
    struct Lists {
        main: Vec<String>,
        class: Vec<(String, Vec<String>)>,
        layout: Vec<String>,
        action: Vec<String>,
        segm: Vec<String>,
    }
    let mut subsets: BTreeMap<String, Lists> = BTreeMap::new();
    let mut tag_attrs = 0;
    for frame in &frames {
        let id = frame.stem().to_string();
        let anns = per_frame.get(&frame.id).unwrap_or(&empty);
        let tags: Vec<_> = ds.tags.iter().filter(|t| t.frame == frame.id).collect();
        tag_attrs += tags.iter().map(|t| t.attributes.len()).sum::<usize>();
        let lists = subsets.entry(subset_of(frame).to_string()).or_default();

        let mut masks = Vec::new();
        let mut n_annotations = tags.len();
        let mut w = XmlWriter::default();
        let bboxes: Vec<&FrameAnn> = anns
            .iter()
            .filter(|a| a.kind == ShapeType::Rectangle && a.points.len() == 4)
            .collect();
        for a in anns {
            let counts = a.kind != ShapeType::Cuboid;
            if counts {
                n_annotations += 1;
            }
            match a.kind {
                ShapeType::Rectangle => {}
                ShapeType::Mask | ShapeType::Ellipse => {
                    if !paintable(frame) {
                        report.add(
                            "masks and ellipses on frames of unknown or too large size",
                            1,
                        );
                    } else if let Some(bm) = rasterise(a, frame) {
                        masks.push(Instance {
                            bm,
                            label_id: a.label_id,
                            z_order: a.z_order,
                            group: a.group,
                        });
                    } else {
                        report.add("masks with invalid RLE", 1);
                    }
                }
                other => report.add(kind_word(other, a.track.is_some()), 1),
            }
        }

        w.open("annotation");
        let folder = match id.find('_') {
            Some(i) => &id[..i],
            None => "",
        };
        w.leaf("folder", folder);
        w.leaf("filename", &image_filename(frame));
        w.open("source");
        w.leaf("database", "Unknown");
        w.leaf("annotation", "Unknown");
        w.leaf("image", "Unknown");
        w.close("source");
        if frame.has_size() {
            w.open("size");
            w.leaf("width", &frame.width.to_string());
            w.leaf("height", &frame.height.to_string());
            w.leaf("depth", "");
            w.close("size");
        }
        w.leaf("segmented", if masks.is_empty() { "0" } else { "1" });
        for a in &bboxes {
            let label = idx.label(a.label_id);
            let name = idx.label_name(a.label_id);
            let mut attrs = dm_attributes(label, &a.attributes);
            w.open("object");
            w.leaf("name", name);
            if let Some((_, pose)) = attrs.iter().find(|(n, _)| n == "pose") {
                w.leaf("pose", pose);
            }
            w.leaf("truncated", &flag(&attrs, "truncated").to_string());
            w.leaf("occluded", if a.occluded { "1" } else { "0" });
            w.leaf("difficult", &flag(&attrs, "difficult").to_string());
            let p = &a.points;
            let (x, y) = (p[0], p[1]);
            let (bw, bh) = (p[2] - p[0], p[3] - p[1]);
            w.open("bndbox");
            w.leaf("xmin", &fmt_py_float(x));
            w.leaf("ymin", &fmt_py_float(y));
            w.leaf("xmax", &fmt_py_float(x + bw));
            w.leaf("ymax", &fmt_py_float(y + bh));
            w.close("bndbox");
            attrs.retain(|(n, _)| {
                !matches!(n.as_str(), "pose" | "truncated" | "difficult" | "occluded")
            });
            attrs.push(("rotation".into(), fmt_py_float(a.rotation)));
            if let Some((ti, keyframe)) = a.track {
                attrs.push(("track_id".into(), ti.to_string()));
                attrs.push((
                    "keyframe".into(),
                    if keyframe { "True" } else { "False" }.into(),
                ));
            }
            w.open("attributes");
            for (n, v) in &attrs {
                w.open("attribute");
                w.leaf("name", n);
                w.leaf("value", v);
                w.close("attribute");
            }
            w.close("attributes");
            w.close("object");
        }
        w.close("annotation");
        put(out, &format!("Annotations/{id}.xml"), w.out.as_bytes())?;

        lists.main.push(id.clone());
        if !tags.is_empty() {
            let names: Vec<String> = tags
                .iter()
                .map(|t| idx.label_name(t.label_id).to_string())
                .collect();
            lists.class.push((id.clone(), names));
        }
        if !masks.is_empty() {
            write_pngs(out, &id, frame, &masks, &class_of, &colors)?;
            lists.segm.push(id.clone());
        }
        if n_annotations == 0 {
            lists.layout.push(id.clone());
            lists.action.push(id.clone());
            if masks.is_empty() {
                lists.segm.push(id.clone());
            }
        }
    }
    report.add("tag attribute values", tag_attrs);

    for (subset, lists) in &subsets {
        let join = |v: &[String]| v.iter().map(|s| format!("{s}\n")).collect::<String>();
        put(
            out,
            &format!("ImageSets/Main/{subset}.txt"),
            join(&lists.main).as_bytes(),
        )?;
        if !lists.class.is_empty() {
            for l in &lm.labels {
                let mut text = String::new();
                for (id, names) in &lists.class {
                    let present = names.iter().any(|n| n == &l.name);
                    text.push_str(&format!("{id} {}\n", if present { " 1" } else { "-1" }));
                }
                put(
                    out,
                    &format!("ImageSets/Main/{}_{subset}.txt", l.name),
                    text.as_bytes(),
                )?;
            }
        }
        if !lists.action.is_empty() {
            put(
                out,
                &format!("ImageSets/Action/{subset}.txt"),
                join(&lists.action).as_bytes(),
            )?;
        }
        if !lists.layout.is_empty() {
            let text: String = lists
                .layout
                .iter()
                .map(|s| {
                    if s.split_whitespace().count() > 1 {
                        format!("\"{s}\"\n")
                    } else {
                        format!("{s}\n")
                    }
                })
                .collect();
            put(
                out,
                &format!("ImageSets/Layout/{subset}.txt"),
                text.as_bytes(),
            )?;
        }
        if !lists.segm.is_empty() {
            put(
                out,
                &format!("ImageSets/Segmentation/{subset}.txt"),
                join(&lists.segm).as_bytes(),
            )?;
        }
    }
    put(out, "labelmap.txt", lm.to_text().as_bytes())?;
    Ok(report)
}

fn hex_color(s: &str) -> Option<Rgb> {
    let h = s.trim().strip_prefix('#')?;
    if h.len() != 6 || !h.is_ascii() {
        return None;
    }
    let v = |i: usize| u8::from_str_radix(&h[i..i + 2], 16).ok();
    Some((v(0)?, v(2)?, v(4)?))
}

/// The label map the server builds for "Segmentation mask": every label with its CVAT colour, plus
/// `background` (black) unless present, sorted by name.
pub fn segmentation_labelmap(ds: &Dataset) -> LabelMap {
    let labels = flat_labels(ds);
    let mut lm = LabelMap::default();
    if !labels.iter().any(|l| l.name == BACKGROUND) {
        lm.labels.push(LabelDesc::new(BACKGROUND, Some((0, 0, 0))));
    }
    for (i, l) in labels.iter().enumerate() {
        if lm.index_of(&l.name).is_some() {
            continue;
        }
        let color = hex_color(&l.color).unwrap_or_else(|| voc_color(i + 1));
        lm.labels.push(LabelDesc::new(&l.name, Some(color)));
    }
    lm.labels.sort_by(|a, b| a.name.cmp(&b.name));
    lm
}

/// "Segmentation mask 1.1".
pub fn write_segmentation(ds: &Dataset, out: &mut dyn OutputSink) -> Result<DropReport> {
    let mut report = DropReport::default();
    let frames = sorted_frames(ds)?;
    let idx: LabelIndex = ds.label_index();
    let lm = segmentation_labelmap(ds);
    let colors = lm.colormap();
    let class_of = |label_id: i64| -> usize {
        let name = idx.label_name(label_id);
        lm.index_of(name)
            .or_else(|| lm.index_of(BACKGROUND))
            .unwrap_or(0)
    };
    let per_frame = collect::by_frame(ds);
    count_skeleton_tracks(ds, &mut report);
    report.add("tags", ds.tags.len());
    let attr_values: usize = ds.shapes.iter().map(|s| s.attributes.len()).sum::<usize>()
        + ds.tracks
            .iter()
            .map(|t| {
                t.attributes.len() + t.shapes.iter().map(|s| s.attributes.len()).sum::<usize>()
            })
            .sum::<usize>();
    report.add("attribute values", attr_values);
    let empty = Vec::new();
    let mut subsets: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for frame in &frames {
        let id = frame.stem().to_string();
        let anns = per_frame.get(&frame.id).unwrap_or(&empty);
        let n_tags = ds.tags.iter().filter(|t| t.frame == frame.id).count();
        let mut n_annotations = n_tags;
        // datumaro annotation order: rotated boxes (turned into polygons) move to the end
        let mut segments: Vec<Instance> = Vec::new();
        let mut rotated: Vec<Instance> = Vec::new();
        for a in anns {
            if a.kind != ShapeType::Cuboid {
                n_annotations += 1;
            }
            let area_like = matches!(
                a.kind,
                ShapeType::Mask | ShapeType::Ellipse | ShapeType::Polygon | ShapeType::Rectangle
            );
            if !area_like {
                report.add(kind_word(a.kind, a.track.is_some()), 1);
                continue;
            }
            if !paintable(frame) {
                report.add("area annotations on frames of unknown or too large size", 1);
                continue;
            }
            let Some(bm) = rasterise(a, frame) else {
                report.add("masks with invalid RLE", 1);
                continue;
            };
            let inst = Instance {
                bm,
                label_id: a.label_id,
                z_order: a.z_order,
                group: a.group,
            };
            if a.kind == ShapeType::Rectangle && a.rotation != 0.0 {
                rotated.push(inst);
            } else {
                segments.push(inst);
            }
        }
        segments.extend(rotated);
        let instances = merge_instances(segments);
        let subset = subsets.entry(subset_of(frame).to_string()).or_default();
        if !instances.is_empty() {
            write_pngs(out, &id, frame, &instances, &class_of, &colors)?;
            subset.push(id);
        } else if n_annotations == 0 {
            subset.push(id);
        }
    }
    for (subset, ids) in &subsets {
        if ids.is_empty() {
            continue;
        }
        let text: String = ids.iter().map(|s| format!("{s}\n")).collect();
        put(
            out,
            &format!("ImageSets/Segmentation/{subset}.txt"),
            text.as_bytes(),
        )?;
    }
    put(out, "labelmap.txt", lm.to_text().as_bytes())?;
    Ok(report)
}

/// datumaro's `merge_instance_segments`: annotations are grouped by `group` (stable; group 0 are each
/// their own instance and come first); a group of several becomes one mask, the union, with the label
/// and z_order of its largest member.
fn merge_instances(segments: Vec<Instance>) -> Vec<Instance> {
    let mut segments = segments;
    segments.sort_by_key(|s| s.group);
    let mut out: Vec<Instance> = Vec::new();
    let mut iter = segments.into_iter().peekable();
    while let Some(first) = iter.next() {
        if first.group == 0 {
            out.push(first);
            continue;
        }
        let mut members = vec![first];
        while let Some(next) = iter.peek() {
            if next.group != members[0].group {
                break;
            }
            if let Some(n) = iter.next() {
                members.push(n);
            }
        }
        if members.len() == 1 {
            out.extend(members);
            continue;
        }
        let mut leader = 0;
        let mut best = 0u64;
        for (i, m) in members.iter().enumerate() {
            let area = m.bm.count();
            if i == 0 || area > best {
                best = area;
                leader = i;
            }
        }
        let mut union = members[0].bm.clone();
        for m in &members[1..] {
            for (u, v) in union.data.iter_mut().zip(&m.bm.data) {
                *u |= *v;
            }
        }
        out.push(Instance {
            bm: union,
            label_id: members[leader].label_id,
            z_order: members[leader].z_order,
            group: members[leader].group,
        });
    }
    out
}
