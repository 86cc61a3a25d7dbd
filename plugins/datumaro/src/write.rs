//! Writing `annotations/<subset>.json` the way the server's Datumaro 1.0 export does (CVAT's
//! `CvatToDmAnnotationConverter` followed by datumaro's JSON writer).

use crate::interp::{track_frames, FrameState};
use crate::jsonw::J;
use crate::rle::{counts_to_string, ellipse_bitmap};
use cvat_format_api::geometry::{bitmap_to_coco_counts, cvat_rle_to_bitmap, fmt_fixed};
use cvat_format_api::{
    AttributeValue, Dataset, DropReport, Frame, InputType, Label, LabelIndex, LabelType,
    OutputSink, Result, Shape, ShapeType, Source,
};
use std::collections::{BTreeSet, HashMap};

/// Python's `round(v, 2)`, which is what the server applies to every coordinate it exports.
pub fn round2(v: f64) -> f64 {
    fmt_fixed(v, 2).parse().unwrap_or(v)
}

/// `[[from, to], ...]` node pairs of a skeleton's SVG (`<line data-node-from=".." data-node-to="..">`).
pub fn svg_joints(svg: &str) -> Vec<(i64, i64)> {
    let attr = |tag: &str, name: &str| -> Option<i64> {
        let key = format!("{name}=\"");
        let start = tag.find(&key)? + key.len();
        let end = tag[start..].find('"')? + start;
        tag[start..end].trim().parse().ok()
    };
    let mut out = Vec::new();
    for part in svg.split('<').skip(1) {
        if !part.starts_with("line") {
            continue;
        }
        let tag = part.split('>').next().unwrap_or("");
        if let (Some(a), Some(b)) = (attr(tag, "data-node-from"), attr(tag, "data-node-to")) {
            out.push((a, b));
        }
    }
    out
}

fn is_skeleton(l: &Label) -> bool {
    l.kind == LabelType::Skeleton || !l.sublabels.is_empty()
}

struct Ctx<'a> {
    idx: LabelIndex<'a>,
    dm_index: HashMap<i64, i64>,
    drops: DropReport,
}

impl<'a> Ctx<'a> {
    /// All attributes of `label_id` in declaration order, with defaults, cast like the server
    /// (`number` -> float, `checkbox` -> bool).
    fn attrs(&mut self, label_id: i64, values: &[&[AttributeValue]]) -> J {
        let (pairs, bad) = typed_attributes(&self.idx, label_id, values);
        self.drops.add(
            "number attribute values that are not numbers (written as text)",
            bad,
        );
        J::Obj(pairs)
    }
}

/// The attributes of `label_id` as the server hands them to datumaro: every declared attribute in
/// declaration order, its value from the last of `values` that has it, else the default; `number` cast
/// to float and `checkbox` to bool. Also returns how many number values were not numbers (kept as text).
pub fn typed_attributes(
    idx: &LabelIndex,
    label_id: i64,
    values: &[&[AttributeValue]],
) -> (Vec<(String, J)>, usize) {
    let mut out = Vec::new();
    let mut bad = 0;
    let Some(label) = idx.label(label_id) else {
        return (out, 0);
    };
    for spec in &label.attributes {
        let v = values
            .iter()
            .rev()
            .flat_map(|vs| vs.iter())
            .find(|a| a.spec_id == spec.id)
            .map(|a| a.value.as_str())
            .unwrap_or(spec.default_value.as_str());
        let j = match spec.input_type {
            InputType::Number => match v.trim().parse::<f64>() {
                Ok(f) => J::Float(f),
                Err(_) => {
                    bad += 1;
                    J::str(v)
                }
            },
            InputType::Checkbox => J::Bool(v.eq_ignore_ascii_case("true")),
            _ => J::str(v),
        };
        out.push((spec.name.clone(), j));
    }
    (out, bad)
}

/// One element of a skeleton on one frame.
struct El<'s> {
    label_id: i64,
    points: &'s [f64],
    occluded: bool,
    outside: bool,
    attrs: Vec<&'s [AttributeValue]>,
    track: Option<(i64, bool)>,
}

/// Everything that goes on one frame, before sorting by z_order.
enum Entry<'s> {
    Shape(&'s Shape),
    Track {
        track_id: i64,
        label_id: i64,
        group: i64,
        state: FrameState,
        track_attrs: &'s [AttributeValue],
        elements: Vec<(i64, i64, FrameState, &'s [AttributeValue])>,
    },
}

impl Entry<'_> {
    fn z(&self) -> i64 {
        match self {
            Entry::Shape(s) => s.z_order,
            Entry::Track { state, .. } => state.z_order,
        }
    }
}

pub fn write(ds: &Dataset, out: &mut dyn OutputSink) -> Result<DropReport> {
    let mut ctx = Ctx {
        idx: ds.label_index(),
        dm_index: HashMap::new(),
        drops: DropReport::default(),
    };

    // categories
    let mut labels = Vec::new();
    let mut attr_names = BTreeSet::new();
    attr_names.insert("occluded".to_string());
    let mut points_items = Vec::new();
    for l in &ds.labels {
        let i = labels.len() as i64;
        ctx.dm_index.insert(l.id, i);
        labels.push(
            J::obj()
                .with("name", J::str(&l.name))
                .with("parent", J::str(""))
                .with("attributes", J::Arr(vec![])),
        );
        attr_names.extend(l.attributes.iter().map(|a| a.name.clone()));
        for s in &l.sublabels {
            ctx.dm_index.insert(s.id, labels.len() as i64);
            labels.push(
                J::obj()
                    .with("name", J::str(&s.name))
                    .with("parent", J::str(&l.name))
                    .with("attributes", J::Arr(vec![])),
            );
            attr_names.extend(s.attributes.iter().map(|a| a.name.clone()));
        }
        if is_skeleton(l) {
            points_items.push(
                J::obj()
                    .with("label_id", J::Int(i))
                    .with(
                        "labels",
                        J::Arr(l.sublabels.iter().map(|s| J::str(&s.name)).collect()),
                    )
                    .with(
                        "joints",
                        J::Arr(
                            svg_joints(&l.svg)
                                .into_iter()
                                .map(|(a, b)| J::Arr(vec![J::Int(a), J::Int(b)]))
                                .collect(),
                        ),
                    ),
            );
        }
    }
    let mut categories = J::obj().with(
        "label",
        J::obj().with("labels", J::Arr(labels)).with(
            "attributes",
            J::Arr(attr_names.into_iter().map(J::Str).collect()),
        ),
    );
    if !points_items.is_empty() {
        categories.push("points", J::obj().with("items", J::Arr(points_items)));
    }

    // frames, in number order; annotations on frames that are not listed get synthesised frames
    let mut frames: Vec<Frame> = ds.frames.clone();
    let mut known: BTreeSet<u32> = frames.iter().map(|f| f.id).collect();
    let referenced = ds
        .tags
        .iter()
        .map(|t| t.frame)
        .chain(ds.shapes.iter().map(|s| s.frame))
        .chain(
            ds.tracks
                .iter()
                .flat_map(|t| t.shapes.iter().map(|s| s.frame)),
        );
    let mut synthesised = 0;
    for f in referenced {
        if known.insert(f) {
            frames.push(Frame {
                id: f,
                name: format!("frame_{f:06}"),
                ..Default::default()
            });
            synthesised += 1;
        }
    }
    frames.sort_by_key(|f| f.id);
    let last_frame = frames.last().map(|f| f.id).unwrap_or(0);
    if synthesised > 0 {
        ctx.drops.add(
            "frames missing from the frame list (written as frame_NNNNNN without image size)",
            synthesised,
        );
    }

    // per-frame entries
    let mut per_frame: HashMap<u32, Vec<Entry>> = HashMap::new();
    for s in &ds.shapes {
        per_frame.entry(s.frame).or_default().push(Entry::Shape(s));
    }
    for (ti, t) in ds.tracks.iter().enumerate() {
        let mut el_states: Vec<(i64, HashMap<u32, FrameState>, &[AttributeValue])> = t
            .elements
            .iter()
            .map(|e| {
                let m = track_frames(&e.shapes, last_frame)
                    .into_iter()
                    .map(|s| (s.frame, s))
                    .collect();
                (e.label_id, m, e.attributes.as_slice())
            })
            .collect();
        for st in track_frames(&t.shapes, last_frame) {
            if st.outside {
                continue;
            }
            let elements = el_states
                .iter_mut()
                .enumerate()
                .filter_map(|(ei, (lid, m, a))| {
                    m.remove(&st.frame).map(|s| (ei as i64, *lid, s, *a))
                })
                .collect();
            per_frame.entry(st.frame).or_default().push(Entry::Track {
                track_id: ti as i64,
                label_id: t.label_id,
                group: t.group,
                state: st,
                track_attrs: &t.attributes,
                elements,
            });
        }
    }
    let sources = ds
        .tags
        .iter()
        .filter(|t| t.source != Source::Manual)
        .count()
        + ds.shapes
            .iter()
            .filter(|s| s.source != Source::Manual)
            .count()
        + ds.tracks
            .iter()
            .filter(|t| t.source != Source::Manual)
            .count();
    ctx.drops.add(
        "annotation sources other than manual (Datumaro keeps no source)",
        sources,
    );

    let mut tags_of: HashMap<u32, Vec<&cvat_format_api::Tag>> = HashMap::new();
    for t in &ds.tags {
        tags_of.entry(t.frame).or_default().push(t);
    }

    // items, grouped by subset in first-seen order
    let mut subsets: Vec<(String, Vec<J>)> = Vec::new();
    for f in &frames {
        let subset = f
            .subset
            .clone()
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| "default".to_string());
        let mut anns = Vec::new();
        for t in tags_of.remove(&f.id).unwrap_or_default() {
            let attrs = ctx.attrs(t.label_id, &[&t.attributes]);
            anns.push(
                J::obj()
                    .with("id", J::Int(0))
                    .with("type", J::str("label"))
                    .with("attributes", attrs)
                    .with("group", J::Int(t.group))
                    .with("label_id", label_ref(&ctx, t.label_id)),
            );
        }
        let mut entries = per_frame.remove(&f.id).unwrap_or_default();
        entries.sort_by_key(|e| e.z());
        for e in entries {
            if let Some(j) = convert_entry(&mut ctx, e, f) {
                anns.push(j);
            }
        }
        let mut item = J::obj()
            .with("id", J::str(f.stem()))
            .with("annotations", J::Arr(anns))
            .with("attr", J::obj().with("frame", J::Int(f.id as i64)));
        let mut image = J::obj().with("path", J::str(&f.name));
        if f.has_size() {
            image.push(
                "size",
                J::Arr(vec![J::Int(f.height as i64), J::Int(f.width as i64)]),
            );
        }
        item.push("image", image);
        match subsets.iter_mut().find(|(s, _)| *s == subset) {
            Some((_, items)) => items.push(item),
            None => subsets.push((subset, vec![item])),
        }
    }
    if subsets.is_empty() {
        subsets.push(("default".to_string(), Vec::new()));
    }
    for (subset, items) in subsets {
        let doc = J::obj()
            .with("info", J::obj())
            .with("categories", categories.clone())
            .with("items", J::Arr(items));
        let mut s = String::new();
        doc.write(&mut s);
        let rel = format!("annotations/{subset}.json");
        out.file(&rel)?
            .write_all(s.as_bytes())
            .map_err(|e| cvat_format_api::FormatError::io(rel.clone(), e))?;
    }
    Ok(ctx.drops)
}

fn label_ref(ctx: &Ctx, label_id: i64) -> J {
    ctx.dm_index
        .get(&label_id)
        .map(|i| J::Int(*i))
        .unwrap_or(J::Null)
}

fn header(ctx: &Ctx, kind: &str, attrs: J, group: i64, label_id: i64) -> J {
    J::obj()
        .with("id", J::Int(0))
        .with("type", J::str(kind))
        .with("attributes", attrs)
        .with("group", J::Int(group))
        .with("label_id", label_ref(ctx, label_id))
}

#[allow(clippy::too_many_arguments)]
fn convert_shape(
    ctx: &mut Ctx,
    frame: &Frame,
    kind: ShapeType,
    label_id: i64,
    group: i64,
    points: &[f64],
    occluded: bool,
    z_order: i64,
    rotation: f64,
    attr_sets: &[&[AttributeValue]],
    track: Option<(i64, bool)>,
    elements: Vec<El>,
) -> Option<J> {
    let mut attrs = ctx.attrs(label_id, attr_sets);
    attrs.push("occluded", J::Bool(occluded));
    if kind == ShapeType::Rectangle {
        attrs.push("rotation", J::Float(rotation));
    }
    if let Some((tid, key)) = track {
        attrs.push("track_id", J::Int(tid));
        attrs.push("keyframe", J::Bool(key));
    }
    let pts = || J::floats(points.iter().map(|v| round2(*v)));
    let size = (frame.width, frame.height);
    Some(match kind {
        ShapeType::Rectangle => {
            if points.len() != 4 {
                ctx.drops.add("rectangles without 4 coordinates", 1);
                return None;
            }
            let r: Vec<f64> = points.iter().map(|v| round2(*v)).collect();
            header(ctx, "bbox", attrs, group, label_id)
                .with("z_order", J::Int(z_order))
                .with("bbox", J::floats([r[0], r[1], r[2] - r[0], r[3] - r[1]]))
        }
        ShapeType::Polygon | ShapeType::Polyline => header(
            ctx,
            if kind == ShapeType::Polygon {
                "polygon"
            } else {
                "polyline"
            },
            attrs,
            group,
            label_id,
        )
        .with("points", pts())
        .with("z_order", J::Int(z_order)),
        ShapeType::Points => header(ctx, "points", attrs, group, label_id)
            .with("points", pts())
            .with("z_order", J::Int(z_order))
            .with("visibility", J::Arr(vec![J::Int(2); points.len() / 2])),
        ShapeType::Mask | ShapeType::Ellipse => {
            if !frame.has_size() {
                ctx.drops
                    .add(format!("{}s on frames of unknown size", kind.as_str()), 1);
                return None;
            }
            let bm = if kind == ShapeType::Mask {
                match cvat_rle_to_bitmap(points, size.0, size.1) {
                    Ok(bm) => bm,
                    Err(_) => {
                        ctx.drops.add("masks with an invalid RLE", 1);
                        return None;
                    }
                }
            } else {
                ellipse_bitmap(points, rotation, size.0, size.1)
            };
            let counts = counts_to_string(&bitmap_to_coco_counts(&bm));
            header(ctx, "mask", attrs, group, label_id)
                .with(
                    "rle",
                    J::obj().with("counts", J::Str(counts)).with(
                        "size",
                        J::Arr(vec![J::Int(size.1 as i64), J::Int(size.0 as i64)]),
                    ),
                )
                .with("z_order", J::Int(z_order))
        }
        ShapeType::Cuboid => {
            ctx.drops
                .add("cuboids (Datumaro 1.0 is a 2D format without cuboids)", 1);
            return None;
        }
        ShapeType::Skeleton => {
            let parent = ctx.idx.label(label_id);
            let order = |lid: i64| {
                parent
                    .and_then(|p| p.sublabels.iter().position(|s| s.id == lid))
                    .unwrap_or(usize::MAX)
            };
            let mut elements = elements;
            elements.sort_by_key(|e| order(e.label_id));
            let mut p = Vec::new();
            let mut pattrs = Vec::new();
            let mut any_key = false;
            for e in &elements {
                let (x, y) = (
                    e.points.first().copied().unwrap_or(0.0),
                    e.points.get(1).copied().unwrap_or(0.0),
                );
                let vis = if e.outside {
                    0
                } else if e.occluded {
                    1
                } else {
                    2
                };
                p.push(J::Float(round2(x)));
                p.push(J::Float(round2(y)));
                p.push(J::Int(vis));
                let mut a = ctx.attrs(e.label_id, &e.attrs);
                if let Some((tid, key)) = e.track {
                    a.push("track_id", J::Int(tid));
                    a.push("keyframe", J::Bool(key));
                    any_key |= key;
                }
                pattrs.push(a);
            }
            if let J::Obj(v) = &mut attrs {
                match v.iter_mut().find(|(k, _)| k == "keyframe") {
                    Some((_, val)) => *val = J::Bool(any_key),
                    None => v.push(("keyframe".to_string(), J::Bool(any_key))),
                }
            }
            header(ctx, "skeleton", attrs, group, label_id)
                .with("points", J::Arr(p))
                .with("points_attributes", J::Arr(pattrs))
        }
    })
}

fn convert_entry(ctx: &mut Ctx, e: Entry, frame: &Frame) -> Option<J> {
    match e {
        Entry::Shape(s) => {
            let elements = s
                .elements
                .iter()
                .map(|el| El {
                    label_id: el.label_id,
                    points: &el.points,
                    occluded: el.occluded,
                    outside: el.outside,
                    attrs: vec![&el.attributes],
                    track: None,
                })
                .collect();
            convert_shape(
                ctx,
                frame,
                s.kind,
                s.label_id,
                s.group,
                &s.points,
                s.occluded,
                s.z_order,
                s.rotation,
                &[&s.attributes],
                None,
                elements,
            )
        }
        Entry::Track {
            track_id,
            label_id,
            group,
            state,
            track_attrs,
            elements,
        } => {
            let els = elements
                .iter()
                .map(|(ei, lid, st, ta)| El {
                    label_id: *lid,
                    points: &st.points,
                    occluded: st.occluded,
                    outside: st.outside,
                    attrs: vec![*ta, &st.attributes],
                    track: Some((*ei, st.keyframe)),
                })
                .collect();
            convert_shape(
                ctx,
                frame,
                state.kind,
                label_id,
                group,
                &state.points,
                state.occluded,
                state.z_order,
                state.rotation,
                &[track_attrs, &state.attributes],
                Some((track_id, state.keyframe)),
                els,
            )
        }
    }
}

/// A minimal skeleton SVG holding only the edges (what a Datumaro points category carries), so that a
/// dataset read from Datumaro writes the same joints back.
pub fn svg_for_joints(joints: &[(i64, i64)]) -> String {
    joints
        .iter()
        .map(|(a, b)| {
            format!("<line data-type=\"edge\" data-node-from=\"{a}\" data-node-to=\"{b}\"></line>")
        })
        .collect()
}
