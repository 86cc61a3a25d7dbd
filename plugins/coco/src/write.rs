//! The COCO writers, as the server's export does it (CVAT's `bindings.py` conversion to datumaro, then
//! datumaro's `coco_instances` / `coco_person_keypoints` converters, then `dump_json_file`):
//!
//! 1. per frame: the frame's shapes (model order), then every track expanded to that frame
//!    ([`crate::interp`]), stably sorted by `z_order`; ellipses become masks (OpenCV raster), CVAT masks
//!    become full-image COCO RLE; coordinates are rounded with numpy's `around(.., 2)`;
//! 2. instances: shapes grouped by `group` (group 0 = alone); leader = largest; bbox = union of the
//!    parts' boxes; polygons listed, or rasterised together with masks into one crowd RLE;
//! 3. JSON exactly as the server writes it: compact, the server's key order, Python float repr.

use crate::interp::{interpolated_shapes, FrameShape};
use crate::raster::{self, ColMask};
use crate::Task;
use cvat_format_api::geometry::fmt_py_float;
use cvat_format_api::{
    AttributeSpec, AttributeValue, Dataset, DropReport, Frame, InputType, Label, LabelType,
    OutputSink, Result, ShapeType,
};
use cvat_format_api::{FormatError, Shape};
use std::collections::HashMap;

/// An attribute value as datumaro holds it.
#[derive(Debug, Clone, PartialEq)]
enum AttrOut {
    Str(String),
    Float(f64),
    Bool(bool),
    Int(i64),
}

#[derive(Debug, Clone)]
enum Geom {
    /// Rounded `[x0, y0, x1, y1]`.
    Bbox([f64; 4]),
    Polygon(Vec<f64>),
    /// Full-image column-major counts.
    Mask(Vec<u32>),
    /// Elements in sub-label order: rounded x, y and visibility (0 absent, 1 hidden, 2 visible).
    Skeleton(Vec<(f64, f64, u8)>),
}

#[derive(Debug, Clone)]
struct DmAnn {
    /// Index of the label in the flattened label list (category id - 1).
    cat: usize,
    label_id: i64,
    group: i64,
    attrs: Vec<(String, AttrOut)>,
    geom: Geom,
}

impl DmAnn {
    fn attr(&self, name: &str) -> Option<&AttrOut> {
        self.attrs.iter().find(|(n, _)| n == name).map(|(_, v)| v)
    }
}

/// Labels in the server's category order: every label and sub-label by id.
pub(crate) fn flat_labels(ds: &Dataset) -> Vec<(&Label, Option<&Label>)> {
    let mut all: Vec<(&Label, Option<&Label>)> = Vec::new();
    for l in &ds.labels {
        all.push((l, None));
        for s in &l.sublabels {
            all.push((s, Some(l)));
        }
    }
    all.sort_by_key(|(l, _)| l.id);
    all
}

fn convert_attrs(
    label: Option<&Label>,
    values: &[AttributeValue],
    report: &mut DropReport,
) -> Vec<(String, AttrOut)> {
    let mut out = Vec::new();
    let Some(label) = label else { return out };
    for spec in &label.attributes {
        let raw = values
            .iter()
            .find(|v| v.spec_id == spec.id)
            .map(|v| v.value.as_str())
            .unwrap_or(spec.default_value.as_str());
        out.push((spec.name.clone(), cast_attr(spec, raw, report)));
    }
    out
}

fn cast_attr(spec: &AttributeSpec, raw: &str, report: &mut DropReport) -> AttrOut {
    match spec.input_type {
        InputType::Number => match raw.trim().parse::<f64>() {
            Ok(v) => AttrOut::Float(v),
            Err(_) => {
                report.add(
                    "number attribute values that are not numbers (written as text)",
                    1,
                );
                AttrOut::Str(raw.to_string())
            }
        },
        InputType::Checkbox => AttrOut::Bool(raw.to_lowercase() == "true"),
        _ => AttrOut::Str(raw.to_string()),
    }
}

/// A skeleton element of a frame: (label id, points, occluded, outside, keyframe of its track frame).
type ElementItem = (i64, Vec<f64>, bool, bool, Option<bool>);

/// A shape of one frame before conversion (a plain shape or a track's frame).
struct FrameItem<'a> {
    label_id: i64,
    group: i64,
    z_order: i64,
    kind: ShapeType,
    occluded: bool,
    rotation: f64,
    points: std::borrow::Cow<'a, [f64]>,
    values: Vec<AttributeValue>,
    /// (track index, keyframe) for shapes from tracks.
    track: Option<(usize, bool)>,
    /// Skeleton elements: (label id, points, occluded, outside, keyframe of the element's track frame).
    elements: Vec<ElementItem>,
}

pub(crate) struct Writer<'a> {
    ds: &'a Dataset,
    task: Task,
    flat: Vec<(&'a Label, Option<&'a Label>)>,
    cat_of: HashMap<i64, usize>,
    labels: HashMap<i64, &'a Label>,
    pub report: DropReport,
    /// Track frames per frame number: (track index, frame shape, elements).
    track_frames: HashMap<u32, Vec<TrackFrame>>,
    shapes_by_frame: HashMap<u32, Vec<usize>>,
}

struct TrackFrame {
    track: usize,
    shape: FrameShape,
    elements: Vec<(i64, FrameShape)>,
}

impl<'a> Writer<'a> {
    pub fn new(ds: &'a Dataset, task: Task) -> Self {
        let flat = flat_labels(ds);
        let cat_of = flat
            .iter()
            .enumerate()
            .map(|(i, (l, _))| (l.id, i))
            .collect();
        let labels = flat.iter().map(|(l, _)| (l.id, *l)).collect();
        let mut w = Writer {
            ds,
            task,
            flat,
            cat_of,
            labels,
            report: DropReport::default(),
            track_frames: HashMap::new(),
            shapes_by_frame: HashMap::new(),
        };
        w.expand_tracks();
        for (i, s) in ds.shapes.iter().enumerate() {
            w.shapes_by_frame.entry(s.frame).or_default().push(i);
        }
        w
    }

    fn end_frame(&self) -> u32 {
        let from_frames = self.ds.frames.iter().map(|f| f.id + 1).max();
        from_frames.unwrap_or_else(|| {
            let s = self
                .ds
                .shapes
                .iter()
                .map(|s| s.frame + 1)
                .max()
                .unwrap_or(0);
            let t = self
                .ds
                .tracks
                .iter()
                .flat_map(|t| t.shapes.iter().map(|s| s.frame + 1))
                .max()
                .unwrap_or(0);
            s.max(t)
        })
    }

    fn expand_tracks(&mut self) {
        let end = self.end_frame();
        for (ti, t) in self.ds.tracks.iter().enumerate() {
            let frames = interpolated_shapes(t.frame, &t.shapes, end, false, &|_| true);
            let mut by_frame: Vec<TrackFrame> = frames
                .into_iter()
                .map(|shape| TrackFrame {
                    track: ti,
                    shape,
                    elements: Vec::new(),
                })
                .collect();
            if !t.elements.is_empty() {
                let present: HashMap<u32, usize> = by_frame
                    .iter()
                    .enumerate()
                    .map(|(k, f)| (f.shape.frame, k))
                    .collect();
                for e in &t.elements {
                    let es = interpolated_shapes(e.frame, &e.shapes, end, true, &|f| {
                        present.contains_key(&f)
                    });
                    for s in es {
                        if let Some(tf) = present.get(&s.frame).and_then(|&k| by_frame.get_mut(k)) {
                            tf.elements.push((e.label_id, s));
                        }
                    }
                }
                by_frame.retain(|tf| {
                    tf.elements.is_empty() || !tf.elements.iter().all(|(_, e)| e.outside)
                });
            }
            for tf in by_frame {
                if tf.shape.outside {
                    continue;
                }
                self.track_frames
                    .entry(tf.shape.frame)
                    .or_default()
                    .push(tf);
            }
        }
    }

    fn frame_items(&self, frame: u32) -> Vec<FrameItem<'a>> {
        let mut items: Vec<FrameItem<'a>> = Vec::new();
        if let Some(idx) = self.shapes_by_frame.get(&frame) {
            for &i in idx {
                let s: &'a Shape = &self.ds.shapes[i];
                items.push(FrameItem {
                    label_id: s.label_id,
                    group: s.group,
                    z_order: s.z_order,
                    kind: s.kind,
                    occluded: s.occluded,
                    rotation: s.rotation,
                    points: std::borrow::Cow::Borrowed(&s.points),
                    values: s.attributes.clone(),
                    track: None,
                    elements: s
                        .elements
                        .iter()
                        .map(|e| (e.label_id, e.points.clone(), e.occluded, e.outside, None))
                        .collect(),
                });
            }
        }
        if let Some(tfs) = self.track_frames.get(&frame) {
            for tf in tfs {
                let t = &self.ds.tracks[tf.track];
                let mut values = tf.shape.attributes.clone();
                values.extend(t.attributes.iter().cloned());
                items.push(FrameItem {
                    label_id: t.label_id,
                    group: t.group,
                    z_order: tf.shape.z_order,
                    kind: tf.shape.kind,
                    occluded: tf.shape.occluded,
                    rotation: tf.shape.rotation,
                    points: std::borrow::Cow::Owned(tf.shape.points.clone()),
                    values,
                    track: Some((tf.track, tf.shape.keyframe)),
                    elements: tf
                        .elements
                        .iter()
                        .map(|(l, e)| {
                            (
                                *l,
                                e.points.clone(),
                                e.occluded,
                                e.outside,
                                Some(e.keyframe),
                            )
                        })
                        .collect(),
                });
            }
        }
        items.sort_by_key(|i| i.z_order);
        items
    }

    /// The datumaro annotations of a frame (what `CvatToDmAnnotationConverter` produces).
    fn dm_anns(&mut self, frame: &Frame) -> Vec<DmAnn> {
        let items = self.frame_items(frame.id);
        let mut out = Vec::with_capacity(items.len());
        for it in items {
            let Some(&cat) = self.cat_of.get(&it.label_id) else {
                self.report.add("shapes with an unknown label", 1);
                continue;
            };
            let label = self.labels.get(&it.label_id).copied();
            let mut attrs = convert_attrs(label, &it.values, &mut self.report);
            attrs.push(("occluded".into(), AttrOut::Bool(it.occluded)));
            if it.kind == ShapeType::Rectangle {
                attrs.push(("rotation".into(), AttrOut::Float(it.rotation)));
                if it.rotation != 0.0 {
                    self.report.add("rotations (kept only as the 'rotation' attribute; the bbox is the unrotated box)", 1);
                }
            }
            if let Some((tid, kf)) = it.track {
                if it.kind != ShapeType::Skeleton {
                    attrs.push(("track_id".into(), AttrOut::Int(tid as i64)));
                    attrs.push(("keyframe".into(), AttrOut::Bool(kf)));
                } else {
                    attrs.push(("track_id".into(), AttrOut::Int(tid as i64)));
                }
            }
            let p: &[f64] = &it.points;
            let geom = match it.kind {
                ShapeType::Rectangle if p.len() == 4 => {
                    let (w, h) = (p[2] - p[0], p[3] - p[1]);
                    Some(Geom::Bbox([
                        raster::np_round2(p[0]),
                        raster::np_round2(p[1]),
                        raster::np_round2(p[0] + w),
                        raster::np_round2(p[1] + h),
                    ]))
                }
                ShapeType::Polygon => Some(Geom::Polygon(
                    p.iter().map(|v| raster::np_round2(*v)).collect(),
                )),
                ShapeType::Ellipse if p.len() == 4 && frame.has_size() => {
                    let m = raster::ellipse_mask(
                        p[0],
                        p[1],
                        p[2] - p[0],
                        p[1] - p[3],
                        it.rotation,
                        frame.width,
                        frame.height,
                    );
                    Some(Geom::Mask(m.counts()))
                }
                ShapeType::Mask if frame.has_size() => {
                    match cvat_mask_to_counts(p, frame.width, frame.height) {
                        Some(c) => Some(Geom::Mask(c)),
                        None => {
                            self.report.add("masks with invalid RLE", 1);
                            None
                        }
                    }
                }
                ShapeType::Skeleton => {
                    let sub = label.map(|l| sorted_sublabels(l)).unwrap_or_default();
                    let mut els = Vec::new();
                    for sl in &sub {
                        match it.elements.iter().find(|e| e.0 == sl.id) {
                            Some((_, pts, occ, outside, _)) => {
                                let v = if *outside {
                                    0
                                } else if *occ {
                                    1
                                } else {
                                    2
                                };
                                let x = pts.first().copied().map(raster::np_round2).unwrap_or(0.0);
                                let y = pts.get(1).copied().map(raster::np_round2).unwrap_or(0.0);
                                els.push((x, y, v));
                            }
                            None => els.push((0.0, 0.0, 0)),
                        }
                    }
                    let kf = it.elements.iter().any(|e| e.4 == Some(true));
                    attrs.push(("keyframe".into(), AttrOut::Bool(kf)));
                    Some(Geom::Skeleton(els))
                }
                _ => None,
            };
            if let Some(geom) = geom {
                out.push(DmAnn {
                    cat,
                    label_id: it.label_id,
                    group: it.group,
                    attrs,
                    geom,
                });
            } else if matches!(it.kind, ShapeType::Ellipse | ShapeType::Mask) && !frame.has_size() {
                self.report
                    .add("masks and ellipses on frames of unknown size", 1);
            }
        }
        out
    }
}

fn sorted_sublabels(l: &Label) -> Vec<&Label> {
    let mut v: Vec<&Label> = l.sublabels.iter().collect();
    v.sort_by_key(|s| s.id);
    v
}

/// A CVAT mask (`[runs..., left, top, right, bottom]`, row-major inside the box) as COCO counts over
/// the full `w` x `h` image, working on the box only (what is outside the image is cut off).
pub(crate) fn cvat_mask_to_counts(points: &[f64], w: u32, h: u32) -> Option<Vec<u32>> {
    cvat_format_api::geometry::check_cvat_rle(points).ok()?;
    let (runs, bb) = points.split_at(points.len() - 4);
    let (l, t, r, b) = (bb[0] as i64, bb[1] as i64, bb[2] as i64, bb[3] as i64);
    let (bw, bh) = ((r - l + 1) as usize, (b - t + 1) as usize);
    // clip the box to the image
    let (cl, ct) = (l.max(0), t.max(0));
    let (cr, cb) = (r.min(w as i64 - 1), b.min(h as i64 - 1));
    if cl > cr || ct > cb {
        return Some(vec![w * h]);
    }
    let mut bits = vec![0u8; bw * bh];
    let mut pos = 0usize;
    for (i, run) in runs.iter().enumerate() {
        let n = *run as usize;
        let end = (pos + n).min(bits.len());
        if i % 2 == 1 {
            bits[pos..end].fill(1);
        }
        pos = end;
    }
    let mut out: Vec<u32> = Vec::new();
    let mut cur = 0u8;
    let mut run: u64 = 0;
    let h64 = h as u64;
    let push = |out: &mut Vec<u32>, cur: &mut u8, run: &mut u64, v: u8, n: u64| {
        if n == 0 {
            return;
        }
        if v != *cur {
            out.push(*run as u32);
            *run = 0;
            *cur = v;
        }
        *run += n;
    };
    // columns before the box
    push(&mut out, &mut cur, &mut run, 0, cl as u64 * h64);
    for x in cl..=cr {
        push(&mut out, &mut cur, &mut run, 0, ct as u64);
        let bx = (x - l) as usize;
        for y in ct..=cb {
            let v = bits[(y - t) as usize * bw + bx];
            push(&mut out, &mut cur, &mut run, v, 1);
        }
        push(&mut out, &mut cur, &mut run, 0, h64 - 1 - cb as u64);
    }
    push(
        &mut out,
        &mut cur,
        &mut run,
        0,
        (w as u64 - 1 - cr as u64) * h64,
    );
    out.push(run as u32);
    Some(out)
}

/// A CVAT mask (`[runs..., left, top, right, bottom]`, row-major inside the box) on the full image
/// (the straightforward way, kept to test [`cvat_mask_to_counts`] against).
#[cfg(test)]
pub(crate) fn cvat_mask_to_colmask(points: &[f64], w: u32, h: u32) -> Option<ColMask> {
    cvat_format_api::geometry::check_cvat_rle(points).ok()?;
    let (runs, bb) = points.split_at(points.len() - 4);
    let (l, t, r) = (bb[0] as i64, bb[1] as i64, bb[2] as i64);
    let bw = r - l + 1;
    let mut m = ColMask::new(w, h);
    let mut pos: i64 = 0;
    for (i, run) in runs.iter().enumerate() {
        let n = *run as i64;
        if i % 2 == 1 {
            for p in pos..pos + n {
                let x = l + p % bw;
                let y = t + p / bw;
                if x >= 0 && y >= 0 && x < w as i64 && y < h as i64 {
                    m.data[x as usize * h as usize + y as usize] = 1;
                }
            }
        }
        pos += n;
    }
    Some(m)
}

fn bbox_of(a: &DmAnn, w: u32, h: u32) -> [f64; 4] {
    match &a.geom {
        Geom::Bbox(p) => [p[0], p[1], p[2] - p[0], p[3] - p[1]],
        Geom::Polygon(p) => {
            let (mut x0, mut y0, mut x1, mut y1) = (f64::MAX, f64::MAX, f64::MIN, f64::MIN);
            for c in p.chunks_exact(2) {
                x0 = x0.min(c[0]);
                x1 = x1.max(c[0]);
                y0 = y0.min(c[1]);
                y1 = y1.max(c[1]);
            }
            if p.len() < 2 {
                return [0.0; 4];
            }
            [x0, y0, x1 - x0, y1 - y0]
        }
        Geom::Mask(c) => raster::rle_bbox(c, h, w),
        Geom::Skeleton(els) => {
            let vis: Vec<&(f64, f64, u8)> = els.iter().filter(|e| e.2 != 0).collect();
            if vis.is_empty() {
                return [0.0; 4];
            }
            let x0 = vis.iter().map(|e| e.0).fold(f64::MAX, f64::min);
            let x1 = vis.iter().map(|e| e.0).fold(f64::MIN, f64::max);
            let y0 = vis.iter().map(|e| e.1).fold(f64::MAX, f64::min);
            let y1 = vis.iter().map(|e| e.1).fold(f64::MIN, f64::max);
            [x0, y0, x1 - x0, y1 - y0]
        }
    }
}

fn area_of(a: &DmAnn, w: u32, h: u32) -> f64 {
    match &a.geom {
        Geom::Bbox(p) => (p[2] - p[0]) * (p[3] - p[1]),
        Geom::Polygon(p) => {
            let b = bbox_of(a, w, h);
            let (hh, ww) = ((b[1] + b[3]) as u32, (b[0] + b[2]) as u32);
            raster::rle_area(&raster::poly_to_rle(p, hh, ww)) as f64
        }
        Geom::Mask(c) => raster::rle_area(c) as f64,
        Geom::Skeleton(_) => {
            let b = bbox_of(a, w, h);
            b[2] * b[3]
        }
    }
}

fn max_bbox(boxes: &[[f64; 4]]) -> [f64; 4] {
    if boxes.is_empty() {
        return [0.0; 4];
    }
    let x0 = boxes.iter().map(|b| b[0]).fold(f64::INFINITY, f64::min);
    let y0 = boxes.iter().map(|b| b[1]).fold(f64::INFINITY, f64::min);
    let x1 = boxes
        .iter()
        .map(|b| b[0] + b[2])
        .fold(f64::NEG_INFINITY, f64::max);
    let y1 = boxes
        .iter()
        .map(|b| b[1] + b[3])
        .fold(f64::NEG_INFINITY, f64::max);
    [x0, y0, x1 - x0, y1 - y0]
}

/// (leader, polygons, crowd counts, bbox) of one group, as `find_instance_parts`.
struct Instance<'x> {
    leader: &'x DmAnn,
    polygons: Vec<Vec<f64>>,
    mask: Option<Vec<u32>>,
    bbox: [f64; 4],
}

fn instance_parts<'x>(
    group: &[&'x DmAnn],
    w: u32,
    h: u32,
    report: &mut DropReport,
) -> Option<Instance<'x>> {
    let boxes = group.iter().filter(|a| matches!(a.geom, Geom::Bbox(_)));
    let polys = group.iter().filter(|a| matches!(a.geom, Geom::Polygon(_)));
    let masks = group.iter().filter(|a| matches!(a.geom, Geom::Mask(_)));
    let anns: Vec<&'x DmAnn> = boxes.chain(polys).chain(masks).copied().collect();
    let mut leader: Option<(&DmAnn, f64)> = None;
    if anns.len() == 1 {
        leader = anns.first().map(|a| (*a, 0.0));
    } else {
        for a in &anns {
            let area = area_of(a, w, h);
            if leader.is_none_or(|(_, best)| area > best) {
                leader = Some((a, area));
            }
        }
    }
    let (leader, _) = leader?;
    let bbox = max_bbox(&anns.iter().map(|a| bbox_of(a, w, h)).collect::<Vec<_>>());
    let polygons: Vec<Vec<f64>> = anns
        .iter()
        .filter_map(|a| match &a.geom {
            Geom::Polygon(p) => Some(p.clone()),
            _ => None,
        })
        .collect();
    let masks: Vec<&Vec<u32>> = anns
        .iter()
        .filter_map(|a| match &a.geom {
            Geom::Mask(c) => Some(c),
            _ => None,
        })
        .collect();
    let use_masks = match leader.attr("is_crowd") {
        Some(v) => *v == AttrOut::Bool(true),
        None => anns
            .iter()
            .any(|a| matches!(a.geom, Geom::Mask(_)) && a.label_id == leader.label_id),
    };
    if !use_masks && !masks.is_empty() {
        // the server turns such masks into polygons (OpenCV contours); we keep them as a crowd RLE
        report.add("masks grouped under a non-mask leader (written as crowd RLE instead of contour polygons)", masks.len());
    }
    if masks.len() == 1 && polygons.is_empty() {
        // one mask alone: its counts as they are (no full-image bitmap)
        return Some(Instance {
            leader,
            polygons: Vec::new(),
            mask: Some(masks[0].clone()),
            bbox,
        });
    }
    if use_masks || !masks.is_empty() {
        let mut merged: Option<ColMask> = None;
        if !polygons.is_empty() && w > 0 && h > 0 {
            let mut m = ColMask::new(w, h);
            for p in &polygons {
                m.union(&ColMask::from_counts(&raster::poly_to_rle(p, h, w), w, h));
            }
            merged = Some(m);
        }
        for c in masks {
            let cm = ColMask::from_counts(c, w, h);
            match merged.as_mut() {
                Some(m) => m.union(&cm),
                None => merged = Some(cm),
            }
        }
        if let Some(m) = merged {
            return Some(Instance {
                leader,
                polygons: Vec::new(),
                mask: Some(m.counts()),
                bbox,
            });
        }
    }
    Some(Instance {
        leader,
        polygons,
        mask: None,
        bbox,
    })
}

/// Groups as datumaro's `find_instances`: sorted by group (stable); group 0 = one instance each.
fn find_instances<'x>(anns: &[&'x DmAnn]) -> Vec<Vec<&'x DmAnn>> {
    let mut sorted: Vec<&DmAnn> = anns.to_vec();
    sorted.sort_by_key(|a| a.group);
    let mut out: Vec<Vec<&DmAnn>> = Vec::new();
    let mut i = 0;
    while i < sorted.len() {
        let g = sorted[i].group;
        let mut j = i;
        while j < sorted.len() && sorted[j].group == g {
            j += 1;
        }
        if g == 0 {
            out.extend(sorted[i..j].iter().map(|a| vec![*a]));
        } else {
            out.push(sorted[i..j].to_vec());
        }
        i = j;
    }
    out
}

/// Writes `s` as a JSON string (escaping as orjson/serde_json do).
fn jstr(out: &mut Vec<u8>, s: &str) {
    // serde_json::to_writer on a Vec<u8> cannot fail
    let _ = serde_json::to_writer(&mut *out, s);
}

fn jnum(out: &mut Vec<u8>, v: f64) {
    use std::io::Write as _;
    let a = v.abs();
    if v.is_finite() && v == v.trunc() && a < 1e16 {
        // Python prints whole floats as `50.0`; writing into a Vec cannot fail
        let _ = write!(out, "{}.0", v as i64);
        if v == 0.0 && v.is_sign_negative() {
            // -0.0: `v as i64` lost the sign
            let n = out.len();
            out.truncate(n - 3);
            out.extend_from_slice(b"-0.0");
        }
    } else if v.is_finite() && (1e-4..1e16).contains(&a) {
        // the shortest round-trip form, as Python's repr in this range
        let _ = write!(out, "{v}");
    } else if v.is_finite() {
        out.extend_from_slice(fmt_py_float(v).as_bytes());
    } else if v.is_nan() {
        out.extend_from_slice(b"NaN");
    } else if v > 0.0 {
        out.extend_from_slice(b"Infinity");
    } else {
        out.extend_from_slice(b"-Infinity");
    }
}

fn jfloats(out: &mut Vec<u8>, vs: &[f64]) {
    out.push(b'[');
    for (i, v) in vs.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        jnum(out, *v);
    }
    out.push(b']');
}

fn jattr(out: &mut Vec<u8>, v: &AttrOut) {
    match v {
        AttrOut::Str(s) => jstr(out, s),
        AttrOut::Float(f) => jnum(out, *f),
        AttrOut::Bool(b) => out.extend_from_slice(if *b { b"true" } else { b"false" }),
        AttrOut::Int(i) => out.extend_from_slice(i.to_string().as_bytes()),
    }
}

/// File name as the server writes it: the frame name, or its stem + `.jpg` when it has no extension.
fn file_name(f: &Frame) -> String {
    if f.stem().len() < f.name.len() {
        f.name.clone()
    } else {
        format!("{}.jpg", f.name)
    }
}

impl Writer<'_> {
    /// Writes every subset file into `out`.
    pub fn write(&mut self, out: &mut dyn OutputSink) -> Result<()> {
        // subsets in order of first appearance
        let mut subsets: Vec<&str> = Vec::new();
        for f in &self.ds.frames {
            let s = f
                .subset
                .as_deref()
                .filter(|s| !s.is_empty())
                .unwrap_or("default");
            if !subsets.contains(&s) {
                subsets.push(s);
            }
        }
        if subsets.is_empty() {
            subsets.push("default");
        }
        let mut frames: Vec<&Frame> = self.ds.frames.iter().collect();
        frames.sort_by_key(|f| f.id);
        let mut image_id = 0u64;
        let prefix = match self.task {
            Task::Instances => "instances",
            Task::Keypoints => "person_keypoints",
        };
        for subset in subsets {
            let rel = format!("annotations/{prefix}_{subset}.json");
            let sub_frames: Vec<&Frame> = frames
                .iter()
                .copied()
                .filter(|f| {
                    f.subset
                        .as_deref()
                        .filter(|s| !s.is_empty())
                        .unwrap_or("default")
                        == subset
                })
                .collect();
            let mut buf: Vec<u8> = Vec::with_capacity(1 << 16);
            buf.extend_from_slice(br#"{"licenses":[{"name":"","id":0,"url":""}],"info":{"contributor":"","date_created":"","description":"","url":"","version":"","year":""},"categories":["#);
            self.write_categories(&mut buf);
            buf.extend_from_slice(br#"],"images":["#);
            let first_image_id = image_id;
            for (i, f) in sub_frames.iter().enumerate() {
                if i > 0 {
                    buf.push(b',');
                }
                image_id += 1;
                buf.extend_from_slice(
                    format!(
                        r#"{{"id":{image_id},"width":{},"height":{},"file_name":"#,
                        f.width, f.height
                    )
                    .as_bytes(),
                );
                jstr(&mut buf, &file_name(f));
                buf.extend_from_slice(
                    br#","license":0,"flickr_url":"","coco_url":"","date_captured":0}"#,
                );
            }
            buf.extend_from_slice(br#"],"annotations":["#);
            let w = out.file(&rel)?;
            let io = |e| FormatError::io(rel.clone(), e);
            w.write_all(&buf).map_err(io)?;
            buf.clear();
            let mut ann_id = 0u64;
            for (i, f) in sub_frames.iter().enumerate() {
                let img = first_image_id + i as u64 + 1;
                self.write_frame(f, img, &mut ann_id, &mut buf);
                if buf.len() > 1 << 20 {
                    w.write_all(&buf).map_err(io)?;
                    buf.clear();
                }
            }
            buf.extend_from_slice(b"]}");
            w.write_all(&buf).map_err(io)?;
        }
        self.report_drops();
        Ok(())
    }

    fn report_drops(&mut self) {
        let ds = self.ds;
        self.report.add("tags", ds.tags.len());
        let count = |kind: ShapeType| {
            ds.shapes.iter().filter(|s| s.kind == kind).count()
                + ds.tracks
                    .iter()
                    .filter(|t| t.shapes.first().map(|s| s.kind) == Some(kind))
                    .count()
        };
        let (lines, points, cuboids, skeletons) = (
            count(ShapeType::Polyline),
            count(ShapeType::Points),
            count(ShapeType::Cuboid),
            count(ShapeType::Skeleton),
        );
        let (masks, ellipses) = (count(ShapeType::Mask), count(ShapeType::Ellipse));
        // boxes and polygons reach a keypoints file only as the instance of a skeleton's group
        let unpaired = |kind: ShapeType| {
            ds.shapes
                .iter()
                .filter(|s| s.kind == kind && s.group == 0)
                .count()
                + ds.tracks
                    .iter()
                    .filter(|t| t.group == 0 && t.shapes.first().map(|s| s.kind) == Some(kind))
                    .count()
        };
        match self.task {
            Task::Instances => {
                self.report.add("polylines (shapes and tracks)", lines);
                self.report.add("points (shapes and tracks)", points);
                self.report.add("cuboids (shapes and tracks)", cuboids);
                self.report.add("skeletons (shapes and tracks)", skeletons);
                self.report
                    .add("ellipses (written as crowd masks)", ellipses);
            }
            Task::Keypoints => {
                self.report.add("polylines (shapes and tracks)", lines);
                self.report.add("points (shapes and tracks)", points);
                self.report.add("cuboids (shapes and tracks)", cuboids);
                self.report.add("ellipses (shapes and tracks)", ellipses);
                self.report.add("masks (shapes and tracks)", masks);
                self.report.add(
                    "rectangles and polygons not grouped with a skeleton",
                    unpaired(ShapeType::Rectangle) + unpaired(ShapeType::Polygon),
                );
            }
        }
        self.report.add(
            "z_order values (COCO has no z order)",
            ds.shapes.iter().filter(|s| s.z_order != 0).count(),
        );
        self.report.add(
            "tracks expanded into per-frame shapes (identity kept as the 'track_id' attribute)",
            ds.tracks.len(),
        );
    }

    fn write_categories(&self, buf: &mut Vec<u8>) {
        let mut first = true;
        for (i, (l, parent)) in self.flat.iter().enumerate() {
            if self.task == Task::Keypoints && parent.is_some() {
                continue;
            }
            if !first {
                buf.push(b',');
            }
            first = false;
            buf.extend_from_slice(format!(r#"{{"id":{},"name":"#, i + 1).as_bytes());
            jstr(buf, &l.name);
            buf.extend_from_slice(br#","supercategory":"#);
            jstr(buf, parent.map(|p| p.name.as_str()).unwrap_or(""));
            if self.task == Task::Keypoints {
                buf.extend_from_slice(br#","keypoints":["#);
                let (names, joints) = if l.kind == LabelType::Skeleton || !l.sublabels.is_empty() {
                    (
                        sorted_sublabels(l)
                            .iter()
                            .map(|s| s.name.clone())
                            .collect::<Vec<_>>(),
                        svg_joints(&l.svg),
                    )
                } else {
                    (Vec::new(), Vec::new())
                };
                for (k, n) in names.iter().enumerate() {
                    if k > 0 {
                        buf.push(b',');
                    }
                    jstr(buf, n);
                }
                buf.extend_from_slice(br#"],"skeleton":["#);
                for (k, (a, b)) in joints.iter().enumerate() {
                    if k > 0 {
                        buf.push(b',');
                    }
                    buf.extend_from_slice(format!("[{a},{b}]").as_bytes());
                }
                buf.push(b']');
            }
            buf.push(b'}');
        }
    }

    fn write_frame(&mut self, f: &Frame, image_id: u64, ann_id: &mut u64, buf: &mut Vec<u8>) {
        let anns = self.dm_anns(f);
        if anns.is_empty() {
            return;
        }
        let (w, h) = (f.width, f.height);
        let refs: Vec<&DmAnn> = anns.iter().collect();
        match self.task {
            Task::Instances => {
                let inst: Vec<&DmAnn> = refs
                    .iter()
                    .copied()
                    .filter(|a| !matches!(a.geom, Geom::Skeleton(_)))
                    .collect();
                if !f.has_size() {
                    self.report.add(
                        "shapes on frames of unknown size (the server skips them)",
                        inst.len(),
                    );
                    return;
                }
                for group in find_instances(&inst) {
                    if group.len() > 1 {
                        self.report
                            .add("grouped shapes merged into one annotation", group.len() - 1);
                    }
                    if let Some(i) = instance_parts(&group, w, h, &mut self.report) {
                        self.write_instance(&i, None, f, image_id, ann_id, buf);
                    }
                }
            }
            Task::Keypoints => {
                let skeletons: Vec<&DmAnn> = refs
                    .iter()
                    .copied()
                    .filter(|a| matches!(a.geom, Geom::Skeleton(_)))
                    .collect();
                if skeletons.is_empty() {
                    return;
                }
                // solitary skeletons: group 0, or groups without boxes/polygons/masks
                let mut sorted = refs.clone();
                sorted.sort_by_key(|a| a.group);
                let mut i = 0;
                while i < sorted.len() {
                    let g = sorted[i].group;
                    let mut j = i;
                    while j < sorted.len() && sorted[j].group == g {
                        j += 1;
                    }
                    let grp = &sorted[i..j];
                    if g == 0 || !grp.iter().any(|a| !matches!(a.geom, Geom::Skeleton(_))) {
                        for s in grp.iter().filter(|a| matches!(a.geom, Geom::Skeleton(_))) {
                            let inst = Instance {
                                leader: s,
                                polygons: Vec::new(),
                                mask: None,
                                bbox: bbox_of(s, w, h),
                            };
                            self.write_instance(&inst, Some(s), f, image_id, ann_id, buf);
                        }
                    }
                    i = j;
                }
                if !f.has_size() {
                    return;
                }
                let inst: Vec<&DmAnn> = refs
                    .iter()
                    .copied()
                    .filter(|a| !matches!(a.geom, Geom::Skeleton(_)))
                    .collect();
                for group in find_instances(&inst) {
                    let Some(i) = instance_parts(&group, w, h, &mut self.report) else {
                        continue;
                    };
                    if i.leader.group == 0 {
                        continue;
                    }
                    let Some(sk) = refs
                        .iter()
                        .copied()
                        .find(|a| matches!(a.geom, Geom::Skeleton(_)) && a.group == i.leader.group)
                    else {
                        continue;
                    };
                    self.write_instance(&i, Some(sk), f, image_id, ann_id, buf);
                }
            }
        }
    }

    fn write_instance(
        &mut self,
        inst: &Instance,
        keypoints: Option<&DmAnn>,
        f: &Frame,
        image_id: u64,
        ann_id: &mut u64,
        buf: &mut Vec<u8>,
    ) {
        let (w, h) = (f.width, f.height);
        let bbox = inst.bbox;
        let (crowd, area) = if let Some(c) = &inst.mask {
            (true, raster::rle_area(c) as f64)
        } else if !inst.polygons.is_empty() {
            let (ww, hh) = if f.has_size() {
                (w, h)
            } else {
                ((bbox[0] + bbox[2]) as u32, (bbox[1] + bbox[3]) as u32)
            };
            let area = if inst.polygons.len() == 1 {
                raster::rle_area(&raster::poly_to_rle(&inst.polygons[0], hh, ww))
            } else {
                let mut m = ColMask::new(ww, hh);
                for p in &inst.polygons {
                    m.union(&ColMask::from_counts(
                        &raster::poly_to_rle(p, hh, ww),
                        ww,
                        hh,
                    ));
                }
                m.data.iter().map(|&v| v as u64).sum()
            };
            (false, area as f64)
        } else {
            (false, bbox[2] * bbox[3])
        };
        if *ann_id > 0 {
            buf.push(b',');
        }
        *ann_id += 1;
        buf.extend_from_slice(
            format!(
                r#"{{"id":{},"image_id":{image_id},"category_id":{},"segmentation":"#,
                ann_id,
                inst.leader.cat + 1
            )
            .as_bytes(),
        );
        if let Some(c) = &inst.mask {
            buf.extend_from_slice(br#"{"counts":["#);
            for (i, v) in c.iter().enumerate() {
                if i > 0 {
                    buf.push(b',');
                }
                buf.extend_from_slice(v.to_string().as_bytes());
            }
            buf.extend_from_slice(format!(r#"],"size":[{h},{w}]}}"#).as_bytes());
        } else {
            buf.push(b'[');
            for (i, p) in inst.polygons.iter().enumerate() {
                if i > 0 {
                    buf.push(b',');
                }
                jfloats(buf, p);
            }
            buf.push(b']');
        }
        buf.extend_from_slice(br#","area":"#);
        jnum(buf, area);
        buf.extend_from_slice(br#","bbox":"#);
        jfloats(buf, &bbox.map(raster::py_round2));
        buf.extend_from_slice(format!(r#","iscrowd":{}"#, crowd as u8).as_bytes());
        if let Some(score) = inst.leader.attr("score") {
            let v = match score {
                AttrOut::Float(v) => Some(*v),
                AttrOut::Int(v) => Some(*v as f64),
                AttrOut::Str(s) => s.trim().parse().ok(),
                AttrOut::Bool(b) => Some(*b as u8 as f64),
            };
            if let Some(v) = v {
                buf.extend_from_slice(br#","score":"#);
                jnum(buf, v);
            }
        }
        let attrs: Vec<&(String, AttrOut)> = inst
            .leader
            .attrs
            .iter()
            .filter(|(n, _)| n != "is_crowd" && n != "score")
            .collect();
        if !attrs.is_empty() {
            buf.extend_from_slice(br#","attributes":{"#);
            for (i, (n, v)) in attrs.iter().enumerate() {
                if i > 0 {
                    buf.push(b',');
                }
                jstr(buf, n);
                buf.push(b':');
                jattr(buf, v);
            }
            buf.push(b'}');
        }
        if let Some(sk) = keypoints {
            if let Geom::Skeleton(els) = &sk.geom {
                buf.extend_from_slice(br#","keypoints":["#);
                for (i, (x, y, v)) in els.iter().enumerate() {
                    if i > 0 {
                        buf.push(b',');
                    }
                    jnum(buf, *x);
                    buf.push(b',');
                    jnum(buf, *y);
                    buf.extend_from_slice(format!(",{v}").as_bytes());
                }
                let n = els.iter().filter(|e| e.2 != 0).count();
                buf.extend_from_slice(format!(r#"],"num_keypoints":{n}"#).as_bytes());
            }
        }
        buf.push(b'}');
    }
}

/// Skeleton edges from the label's SVG (`data-node-from` / `data-node-to` of each `<line>`).
pub(crate) fn svg_joints(svg: &str) -> Vec<(i64, i64)> {
    let mut out = Vec::new();
    for line in svg.split("<line").skip(1) {
        let end = line.find('>').unwrap_or(line.len());
        let tag = &line[..end];
        let get = |attr: &str| -> Option<i64> {
            let key = format!("{attr}=\"");
            let start = tag.find(&key)? + key.len();
            let rest = &tag[start..];
            rest[..rest.find('"')?].trim().parse().ok()
        };
        if let (Some(a), Some(b)) = (get("data-node-from"), get("data-node-to")) {
            out.push((a, b));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mask_counts_without_a_full_image_bitmap_equal_the_bitmap_way() {
        use cvat_format_api::geometry::{bitmap_to_cvat_rle, Bitmap};
        for (w, h, px) in [
            (7u32, 5u32, vec![(0u32, 0u32), (6, 4), (3, 2)]),
            (4, 6, vec![(1, 1), (2, 1), (1, 2)]),
            (
                3,
                3,
                vec![
                    (0, 0),
                    (1, 0),
                    (2, 0),
                    (0, 1),
                    (1, 1),
                    (2, 1),
                    (0, 2),
                    (1, 2),
                    (2, 2),
                ],
            ),
        ] {
            let mut bm = Bitmap::new(w, h);
            for (x, y) in px {
                bm.set(x, y, true);
            }
            let rle = bitmap_to_cvat_rle(&bm).unwrap();
            let want = cvat_mask_to_colmask(&rle, w, h).unwrap().counts();
            assert_eq!(cvat_mask_to_counts(&rle, w, h).unwrap(), want);
        }
        // a box reaching past the image is cut
        let rle = [0.0, 4.0, 2.0, 2.0, 3.0, 3.0];
        let want = cvat_mask_to_colmask(&rle, 3, 3).unwrap().counts();
        assert_eq!(cvat_mask_to_counts(&rle, 3, 3).unwrap(), want);
    }
}
