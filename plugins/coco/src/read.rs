//! Reading COCO files into the model, as the server's import does (datumaro's COCO extractor, then
//! CVAT's `import_dm_annotations`): polygons (one shape per part), boxes (only when there is no
//! segmentation), RLE masks (`iscrowd`), keypoints as skeletons; `attributes` restored (`occluded`,
//! `rotation`, label attributes); shapes carrying `track_id` + `keyframe` reassembled into tracks with
//! the server's keyframe inference. Every problem is collected with its JSON path.

use crate::parse::{
    self, ann_path, blank_shape, py_str, to_bool, AnnSink, Counts, Interner, Nums, RawAnn, RawFile,
    Seg, Val,
};
use crate::raster::np_round2;
use crate::Task;
use cvat_format_api::geometry::{check_points, coco_rle_string_to_counts};
use cvat_format_api::{
    AttributeSpec, AttributeValue, Dataset, Diagnostic, Diagnostics, Frame, InputType, Label,
    LabelType, Location, ReadOptions, Shape, ShapeType, Source, Track, TrackedShape,
};
use rustc_hash::{FxHashMap, FxHashSet};
use std::collections::HashMap;

/// Where a shape read from an annotation came from, waiting for images and categories to be resolved
/// (kept apart from the shape so that the shapes themselves need no second copy).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Meta {
    pub ann: u32,
    /// `iscrowd`, kept here rather than as an attribute value: it becomes one only when the task's
    /// labels declare an `is_crowd` attribute (an allocation less per annotation)
    pub crowd: Option<bool>,
    /// whether the shape's last attribute value is the annotation's `score`
    pub scored: bool,
    pub image_id: i64,
    pub category_id: i64,
}

const CHUNK: usize = 1 << 16;

/// Shapes as read, in chunks (no reallocation spikes while the file is parsed), with their [`Meta`].
/// Label attributes are held in `shape.attributes` with `spec_id = name index * 4 + kind` (kind 0
/// boolean, 1 number, 2 text) and the value as the server stores it (`str()` of the JSON value).
#[derive(Default)]
pub(crate) struct Store {
    chunks: Vec<Vec<Shape>>,
    pub meta: Vec<Meta>,
    pub tracks: FxHashMap<u32, (TrackKey, bool)>,
    pub rle_sizes: FxHashMap<u32, (u32, u32)>,
}

impl Store {
    fn push(&mut self, shape: Shape, meta: Meta) -> u32 {
        if self.chunks.last().is_none_or(|c| c.len() == CHUNK) {
            self.chunks.push(Vec::with_capacity(CHUNK));
        }
        if let Some(c) = self.chunks.last_mut() {
            c.push(shape);
        }
        self.meta.push(meta);
        (self.meta.len() - 1) as u32
    }
    pub fn len(&self) -> usize {
        self.meta.len()
    }
    pub fn shapes(&self) -> impl Iterator<Item = &Shape> {
        self.chunks.iter().flatten()
    }
    /// Appends the shapes `other` read from the annotations that follow this store's: their annotation
    /// indexes are shifted by `ann_base` and their attribute name indexes mapped through `names`
    /// (`names[i]` = the index here of `other`'s name `i`).
    pub fn append(&mut self, other: Store, ann_base: u32, names: &[u32]) {
        let shape_base = self.meta.len() as u32;
        let identity = names.iter().enumerate().all(|(i, n)| i as u32 == *n);
        for mut chunk in other.chunks {
            if !identity {
                for a in chunk.iter_mut().flat_map(|s| s.attributes.iter_mut()) {
                    let (n, kind) = (a.spec_id / 4, a.spec_id % 4);
                    if let Some(&m) = names.get(n as usize) {
                        a.spec_id = m as i64 * 4 + kind;
                    }
                }
            }
            self.chunks.push(chunk);
        }
        self.meta.extend(other.meta.into_iter().map(|m| Meta {
            ann: m.ann + ann_base,
            ..m
        }));
        self.tracks
            .extend(other.tracks.into_iter().map(|(k, v)| (k + shape_base, v)));
        self.rle_sizes.extend(
            other
                .rle_sizes
                .into_iter()
                .map(|(k, v)| (k + shape_base, v)),
        );
    }
    /// The shapes in order, each chunk freed as soon as it is consumed.
    pub fn drain(&mut self) -> impl Iterator<Item = Shape> + '_ {
        std::mem::take(&mut self.chunks).into_iter().flatten()
    }
}

/// A shape of a track being reassembled: (shape, keyframe flag, label id).
type TrackPart = (Shape, bool, i64);

pub(crate) const KIND_BOOL: i64 = 0;
pub(crate) const KIND_NUMBER: i64 = 1;
pub(crate) const KIND_TEXT: i64 = 2;

#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) enum TrackKey {
    Int(i64),
    Str(String),
}

pub(crate) struct Collector<'d> {
    pub file: String,
    pub task: Task,
    pub diags: &'d mut Diagnostics,
    pub store: Store,
    /// (annotation id, index), for the duplicate check after the parse.
    pub ann_ids: Vec<(i64, u32)>,
    score_name: Option<u32>,
}

impl<'d> Collector<'d> {
    pub fn new(file: String, task: Task, diags: &'d mut Diagnostics) -> Self {
        Collector {
            file,
            task,
            diags,
            store: Store::default(),
            ann_ids: Vec::new(),
            score_name: None,
        }
    }

    fn err(&mut self, path: String, code: &str, msg: impl Into<String>) {
        parse::err(self.diags, &self.file, path, code, msg);
    }

    fn req_int(&mut self, i: usize, field: &str, v: &Option<Val>) -> Option<i64> {
        match v {
            None => {
                self.err(
                    ann_path(i, field),
                    "missing-field",
                    format!("annotation has no {field:?}"),
                );
                None
            }
            Some(Val::Int(n)) => Some(*n),
            Some(other) => {
                self.err(
                    ann_path(i, field),
                    "field-type",
                    format!(
                        "annotation {field:?} must be an integer, found {}",
                        other.kind()
                    ),
                );
                None
            }
        }
    }
}

/// Shape geometry of one annotation, before the shape is built.
/// `[x, y, w, h]` → `[x0, y0, x1, y1]`, rounded as datumaro does (in place: no new vector per box).
fn bbox_points(mut b: Vec<f64>) -> Vec<f64> {
    if let [x, y, w, h] = b[..] {
        b.copy_from_slice(&[
            np_round2(x),
            np_round2(y),
            np_round2(x + w),
            np_round2(y + h),
        ]);
    }
    b
}

/// COCO column-major counts (over `h` x `w`) to a CVAT mask point list (tight box, row-major runs).
/// Works on the box only, never on the whole image.
pub(crate) fn counts_to_cvat(counts: &[u32], h: u32, w: u32) -> Option<Vec<f64>> {
    let h64 = h as u64;
    if h == 0 || w == 0 {
        return None;
    }
    // tight box from the runs of ones
    let (mut x0, mut y0, mut x1, mut y1) = (u64::MAX, u64::MAX, 0u64, 0u64);
    let mut pos = 0u64;
    let mut any = false;
    for (i, &c) in counts.iter().enumerate() {
        let c = c as u64;
        if i % 2 == 1 && c > 0 {
            any = true;
            let (sx, sy) = (pos / h64, pos % h64);
            let end = pos + c - 1;
            let (ex, ey) = (end / h64, end % h64);
            x0 = x0.min(sx);
            x1 = x1.max(ex);
            if sx == ex {
                y0 = y0.min(sy);
                y1 = y1.max(ey);
            } else {
                // the run wraps into the next column: it covers the bottom of one column and the top of
                // the next, so the box spans the full height
                y0 = 0;
                y1 = h64 - 1;
            }
        }
        pos += c;
    }
    if !any || x1 >= w as u64 {
        return None;
    }
    let bw = (x1 - x0 + 1) as usize;
    // the set pixels of the box's columns, as inclusive y intervals, column after column (the counts
    // are column-major, so the columns come in order): column x holds spans[first[x]..first[x + 1]]
    let mut spans: Vec<(u64, u64)> = Vec::new();
    let mut first: Vec<usize> = Vec::with_capacity(bw + 1);
    let mut pos = 0u64;
    for (i, &c) in counts.iter().enumerate() {
        let c = c as u64;
        if i % 2 == 1 {
            let mut p = pos;
            let end = pos + c;
            while p < end {
                let (x, y) = (p / h64, p % h64);
                let col_end = ((x + 1) * h64).min(end);
                let ye = y + (col_end - p) - 1;
                let xi = (x - x0) as usize;
                if xi < bw {
                    if first.len() == xi + 1 {
                        // the column of the previous run (which pushed a span into it): extend its
                        // last interval if they touch
                        match spans.last_mut() {
                            Some(last) if last.1 + 1 == y => last.1 = ye,
                            _ => spans.push((y, ye)),
                        }
                    } else {
                        while first.len() <= xi {
                            first.push(spans.len());
                        }
                        spans.push((y, ye));
                    }
                }
                p = col_end;
            }
        }
        pos += c;
    }
    while first.len() <= bw {
        first.push(spans.len());
    }
    let col = |x: usize| &spans[first[x]..first[x + 1]];
    // consecutive identical columns are scanned as one: a row is then a handful of runs
    let mut groups: Vec<(u64, usize)> = Vec::new(); // (width, index of the first column)
    for x in 0..bw {
        match groups.last_mut() {
            Some((n, f)) if col(*f) == col(x) => *n += 1,
            _ => groups.push((1, x)),
        }
    }
    let mut cursor = vec![0usize; groups.len()];
    let mut out: Vec<f64> = Vec::new();
    let mut cur = false;
    let mut run = 0u64;
    for y in y0..=y1 {
        for (g, (n, f)) in groups.iter().enumerate() {
            let col = col(*f);
            let mut k = cursor[g];
            while k < col.len() && col[k].1 < y {
                k += 1;
            }
            cursor[g] = k;
            let v = k < col.len() && col[k].0 <= y;
            if v != cur {
                out.push(run as f64);
                run = 0;
                cur = v;
            }
            run += n;
        }
    }
    out.push(run as f64);
    out.extend([x0 as f64, y0 as f64, x1 as f64, y1 as f64]);
    Some(out)
}

impl AnnSink for Collector<'_> {
    fn annotation(&mut self, i: usize, mut a: RawAnn, names: &mut Interner) {
        if a.not_object {
            self.err(
                ann_path(i, ""),
                "field-type",
                "annotation must be an object, found a list",
            );
            return;
        }
        let id = self.req_int(i, "id", &a.id);
        let image_id = self.req_int(i, "image_id", &a.image_id);
        let category_id = self.req_int(i, "category_id", &a.category_id);
        if let Some(id) = id {
            self.ann_ids.push((id, i as u32));
        }
        let iscrowd = match &a.iscrowd {
            None => {
                self.err(
                    ann_path(i, "iscrowd"),
                    "missing-field",
                    "annotation has no \"iscrowd\"",
                );
                None
            }
            Some(Val::Int(n)) => Some(*n != 0),
            Some(Val::Bool(b)) => Some(*b),
            Some(o) => {
                let msg = format!(
                    "annotation \"iscrowd\" must be an integer, found {}",
                    o.kind()
                );
                self.err(ann_path(i, "iscrowd"), "field-type", msg);
                None
            }
        };
        // bbox
        let bbox: Option<Vec<f64>> = match std::mem::take(&mut a.bbox) {
            Nums::Missing => {
                self.err(
                    ann_path(i, "bbox"),
                    "missing-field",
                    "annotation has no \"bbox\"",
                );
                None
            }
            Nums::NotList(k) => {
                self.err(
                    ann_path(i, "bbox"),
                    "field-type",
                    format!("\"bbox\" must be a list of 4 numbers, found {k}"),
                );
                None
            }
            Nums::List { bad: true, .. } => {
                self.err(
                    ann_path(i, "bbox"),
                    "field-type",
                    "\"bbox\" must hold numbers only",
                );
                None
            }
            Nums::List { values, .. } if values.is_empty() => None,
            Nums::List { values, .. } if values.len() != 4 => {
                self.err(
                    ann_path(i, "bbox"),
                    "bbox-values",
                    format!(
                        "bbox has wrong value count {}; expected 4 (x, y, width, height)",
                        values.len()
                    ),
                );
                None
            }
            Nums::List { values, .. } => {
                if values[2] < 0.0 || values[3] < 0.0 {
                    self.err(
                        ann_path(i, "bbox"),
                        "geometry",
                        format!("bbox has a negative size ({} x {})", values[2], values[3]),
                    );
                    None
                } else {
                    Some(values)
                }
            }
        };
        // attributes
        let at = &a.attributes;
        if let Some(k) = at.bad {
            self.err(
                ann_path(i, "attributes"),
                "field-type",
                format!("\"attributes\" must be an object, found {k}"),
            );
        }
        let occluded = at.occluded.as_ref().map(to_bool).unwrap_or(false);
        let rotation = match &at.rotation {
            None => 0.0,
            Some(v) => match v.as_f64() {
                Some(r) => r,
                None => {
                    let msg = format!("\"rotation\" must be a number, found {}", v.kind());
                    self.err(ann_path(i, "attributes.rotation"), "field-type", msg);
                    0.0
                }
            },
        };
        let source = at
            .source
            .as_ref()
            .and_then(|v| match v {
                Val::Str(s) => Some(s.to_lowercase()),
                _ => None,
            })
            .filter(|s| matches!(s.as_str(), "auto" | "semi-auto" | "manual" | "file"))
            .map(|s| Source::parse(&s))
            .unwrap_or(Source::Manual);
        let track = match (&at.track_id, &at.keyframe) {
            (Some(t), Some(k)) => {
                let key = match t {
                    Val::Int(n) => Some(TrackKey::Int(*n)),
                    Val::Str(s) => Some(TrackKey::Str(s.clone())),
                    Val::Float(f) if f.fract() == 0.0 => Some(TrackKey::Int(*f as i64)),
                    _ => None,
                };
                key.map(|key| (key, to_bool(k)))
            }
            _ => None,
        };
        let outside = track.is_some() && at.outside.as_ref().map(to_bool).unwrap_or(false);
        let mut attrs: Vec<AttributeValue> = Vec::with_capacity(at.other.len());
        let encode = |n: u32, v: &Val| -> Option<AttributeValue> {
            let kind = match v {
                Val::Bool(_) => KIND_BOOL,
                Val::Int(_) | Val::Float(_) => KIND_NUMBER,
                Val::Str(_) | Val::Null => KIND_TEXT,
                Val::Seq | Val::Map => return None,
            };
            Some(AttributeValue {
                spec_id: n as i64 * 4 + kind,
                value: py_str(v)?,
            })
        };
        attrs.extend(at.other.iter().filter_map(|(n, v)| encode(*n, v)));
        let mut scored = false;
        if let Some(s) = &a.score {
            match s.as_f64() {
                Some(_) => {
                    let n = *self.score_name.get_or_insert_with(|| names.get("score"));
                    attrs.extend(encode(n, s));
                    scored = true;
                }
                None => self.err(
                    ann_path(i, "score"),
                    "field-type",
                    format!("\"score\" must be a number, found {}", s.kind()),
                ),
            }
        }
        let mut shapes: Vec<(Shape, Option<(u32, u32)>)> = Vec::new();
        let mut ok = true;
        if self.task == Task::Keypoints {
            match &a.keypoints {
                Nums::Missing => {
                    self.err(
                        ann_path(i, "keypoints"),
                        "missing-field",
                        "annotation has no \"keypoints\"",
                    );
                    ok = false;
                }
                Nums::NotList(k) => {
                    self.err(
                        ann_path(i, "keypoints"),
                        "field-type",
                        format!("\"keypoints\" must be a list, found {k}"),
                    );
                    ok = false;
                }
                Nums::List { bad: true, .. } => {
                    self.err(
                        ann_path(i, "keypoints"),
                        "field-type",
                        "\"keypoints\" must hold numbers only",
                    );
                    ok = false;
                }
                Nums::List { values, .. } => {
                    if values.len() % 3 != 0 {
                        self.err(
                            ann_path(i, "keypoints"),
                            "keypoints-values",
                            format!("keypoints have {} values, not divisible by 3; expected (x, y, visibility) triplets", values.len()),
                        );
                        ok = false;
                    } else {
                        let mut s = blank_shape(ShapeType::Skeleton);
                        for (k, t) in values.chunks_exact(3).enumerate() {
                            let mut e = blank_shape(ShapeType::Points);
                            e.label_id = -(k as i64) - 1;
                            e.points = vec![np_round2(t[0]), np_round2(t[1])];
                            let v = t[2];
                            if !(v == 0.0 || v == 1.0 || v == 2.0) {
                                self.err(
                                    ann_path(i, &format!("keypoints[{}]", 3 * k + 2)),
                                    "keypoints-values",
                                    format!("keypoint visibility must be 0, 1 or 2, found {v}"),
                                );
                                ok = false;
                            }
                            e.outside = v == 0.0;
                            e.occluded = v == 1.0;
                            s.elements.push(e);
                        }
                        shapes.push((s, None));
                    }
                }
            }
            // the segmentation is read for validation only
            self.check_segmentation(i, &a.segmentation);
        } else {
            match std::mem::take(&mut a.segmentation) {
                Seg::Missing => {
                    self.err(
                        ann_path(i, "segmentation"),
                        "missing-field",
                        "annotation has no \"segmentation\"",
                    );
                    ok = false;
                }
                Seg::Bad(k) => {
                    self.err(
                        ann_path(i, "segmentation"),
                        "field-type",
                        format!("\"segmentation\" must be a list of polygons or an RLE object, found {k}"),
                    );
                    ok = false;
                }
                Seg::Polygons(parts) => {
                    let empty = parts.is_empty()
                        || (parts.len() == 1
                            && matches!(&parts[0], Nums::List { values, .. } if values.is_empty()));
                    if !empty {
                        for (k, p) in parts.into_iter().enumerate() {
                            match self.polygon(i, k, p) {
                                Some(points) => {
                                    let mut s = blank_shape(ShapeType::Polygon);
                                    s.points = points;
                                    shapes.push((s, None));
                                }
                                None => ok = false,
                            }
                        }
                    } else if let Some(b) = bbox {
                        let mut s = blank_shape(ShapeType::Rectangle);
                        s.points = bbox_points(b);
                        shapes.push((s, None));
                    }
                }
                Seg::Rle { counts, size } => match self.rle(i, &counts, &size) {
                    Some((points, hw)) => {
                        let mut s = blank_shape(ShapeType::Mask);
                        s.points = points;
                        shapes.push((s, Some(hw)));
                    }
                    None => ok = false,
                },
            }
        }
        let (Some(image_id), Some(category_id), true) = (image_id, category_id, ok) else {
            return;
        };
        if shapes.is_empty() {
            self.diags.push(Diagnostic::warning(
                Location::json(&self.file, ann_path(i, "")),
                "no-geometry",
                "annotation has neither a segmentation nor a bbox: nothing to import",
            ));
        }
        let n = shapes.len();
        for (k, (mut s, rle_size)) in shapes.into_iter().enumerate() {
            s.occluded = occluded;
            s.outside = outside;
            s.rotation = if s.kind == ShapeType::Rectangle {
                rotation
            } else {
                0.0
            };
            s.source = source.clone();
            s.group = if n > 1 { id.unwrap_or(0).max(1) } else { 0 };
            s.attributes = if k + 1 == n {
                std::mem::take(&mut attrs)
            } else {
                attrs.clone()
            };
            let k = self.store.push(
                s,
                Meta {
                    ann: i as u32,
                    crowd: iscrowd,
                    scored,
                    image_id,
                    category_id,
                },
            );
            if let Some(t) = &track {
                self.store.tracks.insert(k, t.clone());
            }
            if let Some(hw) = rle_size {
                self.store.rle_sizes.insert(k, hw);
            }
        }
    }
}

/// Reports annotation ids used more than once (a warning: the server ignores annotation ids); `ids` holds
/// (annotation id, index in the annotations list).
pub(crate) fn report_duplicate_ids(file: &str, mut ids: Vec<(i64, u32)>, diags: &mut Diagnostics) {
    ids.sort_unstable();
    for w in ids.windows(2) {
        if w[0].0 == w[1].0 {
            let d = Diagnostic::warning(
                Location::json(file, ann_path(w[1].1 as usize, "id")),
                "duplicate-id",
                format!(
                    "annotation id {} is also used by $.annotations[{}]",
                    w[1].0, w[0].1
                ),
            );
            diags.push(d);
        }
    }
}

impl Collector<'_> {
    /// Reports annotation ids used more than once.
    pub fn report_duplicate_ids(&mut self) {
        report_duplicate_ids(&self.file, std::mem::take(&mut self.ann_ids), self.diags);
    }

    fn polygon(&mut self, i: usize, k: usize, p: Nums) -> Option<Vec<f64>> {
        // the path is only made for an error (most polygons have none)
        let path = || ann_path(i, &format!("segmentation[{k}]"));
        match p {
            Nums::Missing => None,
            Nums::NotList(kind) => {
                self.err(
                    path(),
                    "field-type",
                    format!("a polygon must be a list of numbers, found {kind}"),
                );
                None
            }
            Nums::List { bad: true, .. } => {
                self.err(path(), "field-type", "a polygon must hold numbers only");
                None
            }
            Nums::List { mut values, .. } => {
                if values.len() % 2 != 0 {
                    self.err(
                        path(),
                        "polygon-odd",
                        format!("polygon has invalid value count {}, which is not divisible by 2; values must be x, y pairs", values.len()),
                    );
                    None
                } else if values.len() < 6 {
                    self.err(
                        path(),
                        "polygon-too-few-points",
                        format!(
                            "polygon has invalid value count {}; expected at least 3 (x, y) pairs",
                            values.len()
                        ),
                    );
                    None
                } else {
                    values.iter_mut().for_each(|v| *v = np_round2(*v));
                    Some(values)
                }
            }
        }
    }

    fn rle(
        &mut self,
        i: usize,
        counts: &Option<Counts>,
        size: &Nums,
    ) -> Option<(Vec<f64>, (u32, u32))> {
        let hw = match size {
            Nums::List { values, bad: false } if values.len() == 2 => {
                let ok = values
                    .iter()
                    .all(|v| *v >= 0.0 && v.fract() == 0.0 && *v <= u32::MAX as f64);
                if !ok {
                    self.err(
                        ann_path(i, "segmentation.size"),
                        "rle-size",
                        "RLE size must be two non-negative integers [height, width]",
                    );
                    return None;
                }
                (values[0] as u32, values[1] as u32)
            }
            Nums::Missing => {
                self.err(
                    ann_path(i, "segmentation.size"),
                    "missing-field",
                    "RLE has no \"size\"",
                );
                return None;
            }
            Nums::List { values, .. } => {
                self.err(
                    ann_path(i, "segmentation.size"),
                    "rle-size",
                    format!(
                        "RLE size has wrong value count {}; expected 2 values [height, width]",
                        values.len()
                    ),
                );
                return None;
            }
            Nums::NotList(k) => {
                self.err(
                    ann_path(i, "segmentation.size"),
                    "field-type",
                    format!("RLE size must be a list, found {k}"),
                );
                return None;
            }
        };
        let counts: Vec<u32> = match counts {
            None => {
                self.err(
                    ann_path(i, "segmentation.counts"),
                    "missing-field",
                    "RLE has no \"counts\"",
                );
                return None;
            }
            Some(Counts::Bad(m)) => {
                self.err(ann_path(i, "segmentation.counts"), "field-type", *m);
                return None;
            }
            Some(Counts::List(c)) => c.clone(),
            Some(Counts::Compressed(s)) => match coco_rle_string_to_counts(s) {
                Ok(c) if c.iter().all(|v| *v <= u32::MAX as u64) => {
                    c.into_iter().map(|v| v as u32).collect()
                }
                Ok(_) => {
                    self.err(
                        ann_path(i, "segmentation.counts"),
                        "rle-counts",
                        "compressed RLE holds a count that is too large",
                    );
                    return None;
                }
                Err(e) => {
                    self.err(ann_path(i, "segmentation.counts"), "rle-counts", e);
                    return None;
                }
            },
        };
        let total: u64 = counts.iter().map(|&c| c as u64).sum();
        let area = hw.0 as u64 * hw.1 as u64;
        if total != area {
            self.err(
                ann_path(i, "segmentation.counts"),
                "rle-counts",
                format!(
                    "RLE counts cover {total} pixels but its size {}x{} has {area}",
                    hw.0, hw.1
                ),
            );
            return None;
        }
        match counts_to_cvat(&counts, hw.0, hw.1) {
            Some(p) => Some((p, hw)),
            None => {
                self.err(
                    ann_path(i, "segmentation"),
                    "rle-empty",
                    "RLE mask has no pixels set",
                );
                None
            }
        }
    }

    fn check_segmentation(&mut self, i: usize, seg: &Seg) {
        if let Seg::Polygons(parts) = seg {
            let empty = parts.len() == 1
                && matches!(&parts[0], Nums::List { values, .. } if values.is_empty());
            if !empty {
                for (k, p) in parts.iter().enumerate() {
                    self.polygon(i, k, p.clone());
                }
            }
        }
    }
}

/// One parsed file, ready to be merged.
pub(crate) struct FileData {
    pub file: String,
    pub subset: String,
    pub raw: RawFile,
    pub store: Store,
    pub names: Interner,
}

/// Checks the file-level structure and the image and category lists.
pub(crate) fn check_file(fd: &FileData, task: Task, diags: &mut Diagnostics) {
    let file = &fd.file;
    let e = |diags: &mut Diagnostics, path: String, code: &str, msg: String| {
        parse::err(diags, file, path, code, msg);
    };
    if fd.raw.not_an_object {
        e(
            diags,
            "$".into(),
            "field-type",
            "a COCO file must be a JSON object".into(),
        );
        return;
    }
    for (key, present) in [
        ("images", fd.raw.images.is_some()),
        ("annotations", fd.raw.has_annotations),
        ("categories", fd.raw.categories.is_some()),
    ] {
        if !present {
            let d = Diagnostic::error(
                Location::json(file, format!("$.{key}")),
                "missing-field",
                format!("the file has no {key:?} list"),
            )
            .with_hint("a COCO file has \"images\", \"annotations\" and \"categories\" lists");
            diags.push(d);
        }
    }
    let mut seen = FxHashMap::default();
    for (i, im) in fd.raw.images.iter().flatten().enumerate() {
        let p = |f: &str| format!("$.images[{i}].{f}");
        match &im.id {
            None => e(
                diags,
                p("id"),
                "missing-field",
                "image has no \"id\"".into(),
            ),
            Some(Val::Int(id)) => {
                if let Some(prev) = seen.insert(*id, i) {
                    e(
                        diags,
                        p("id"),
                        "duplicate-id",
                        format!("image id {id} is also used by $.images[{prev}]"),
                    );
                }
            }
            Some(v) => e(
                diags,
                p("id"),
                "field-type",
                format!("image \"id\" must be an integer, found {}", v.kind()),
            ),
        }
        match &im.file_name {
            None => e(
                diags,
                p("file_name"),
                "missing-field",
                "image has no \"file_name\"".into(),
            ),
            Some(Val::Str(_)) => {}
            Some(v) => e(
                diags,
                p("file_name"),
                "field-type",
                format!("image \"file_name\" must be a string, found {}", v.kind()),
            ),
        }
        for f in ["width", "height"] {
            let v = if f == "width" { &im.width } else { &im.height };
            match v {
                None | Some(Val::Null) | Some(Val::Int(_)) => {}
                Some(Val::Float(x)) if x.fract() == 0.0 && *x >= 0.0 => {}
                Some(v) => e(
                    diags,
                    p(f),
                    "field-type",
                    format!("image {f:?} must be an integer, found {}", v.kind()),
                ),
            }
            if let Some(Val::Int(n)) = v {
                if *n < 0 || *n > u32::MAX as i64 {
                    e(
                        diags,
                        p(f),
                        "field-type",
                        format!("image {f:?} {n} is out of range"),
                    );
                }
            }
        }
    }
    let mut cats = FxHashMap::default();
    for (i, c) in fd.raw.categories.iter().flatten().enumerate() {
        let p = |f: &str| format!("$.categories[{i}].{f}");
        match &c.id {
            None => e(
                diags,
                p("id"),
                "missing-field",
                "category has no \"id\"".into(),
            ),
            Some(Val::Int(id)) => {
                if let Some(prev) = cats.insert(*id, i) {
                    e(
                        diags,
                        p("id"),
                        "duplicate-id",
                        format!("category id {id} is also used by $.categories[{prev}]"),
                    );
                }
            }
            Some(v) => e(
                diags,
                p("id"),
                "field-type",
                format!("category \"id\" must be an integer, found {}", v.kind()),
            ),
        }
        match &c.name {
            None => e(
                diags,
                p("name"),
                "missing-field",
                "category has no \"name\"".into(),
            ),
            Some(Val::Str(_)) => {}
            Some(v) => e(
                diags,
                p("name"),
                "field-type",
                format!("category \"name\" must be a string, found {}", v.kind()),
            ),
        }
        if task == Task::Keypoints {
            if c.keypoints.is_none() {
                e(
                    diags,
                    p("keypoints"),
                    "missing-field",
                    "category has no \"keypoints\" list".into(),
                );
            }
            if c.skeleton.is_none() {
                e(
                    diags,
                    p("skeleton"),
                    "missing-field",
                    "category has no \"skeleton\" list".into(),
                );
            }
            for (k, kp) in c.keypoints.iter().flatten().enumerate() {
                if !matches!(kp, Val::Str(_)) {
                    e(
                        diags,
                        format!("$.categories[{i}].keypoints[{k}]"),
                        "field-type",
                        format!("keypoint names must be strings, found {}", kp.kind()),
                    );
                }
            }
        }
    }
}

fn int(v: &Option<Val>) -> Option<i64> {
    match v {
        Some(Val::Int(n)) => Some(*n),
        Some(Val::Float(f)) if f.fract() == 0.0 => Some(*f as i64),
        _ => None,
    }
}

fn string(v: &Option<Val>) -> Option<&str> {
    match v {
        Some(Val::Str(s)) => Some(s),
        _ => None,
    }
}

/// Builds the dataset from parsed files. Errors are pushed to `diags`; the dataset is returned anyway.
/// With `thorough`, also reports warnings (geometry far outside the image) that a read does not need.
pub(crate) fn build(
    files: Vec<FileData>,
    task: Task,
    opts: &ReadOptions,
    diags: &mut Diagnostics,
    thorough: bool,
) -> Dataset {
    let mut ds = Dataset::default();
    let multi = files.len() > 1;
    // ---- labels
    let given = opts.labels.clone();
    let mut label_of_name: HashMap<String, i64> = HashMap::new();
    // (file index, category id) -> label id ; keypoint index -> sublabel id per label
    let mut cat_label: Vec<FxHashMap<i64, i64>> = Vec::new();
    let mut kp_sublabels: FxHashMap<i64, Vec<Option<i64>>> = FxHashMap::default();
    let mut used_cats: Vec<FxHashSet<i64>> = Vec::new();
    // most keypoints any annotation of a category has (names are made up for unnamed ones)
    let mut max_kp: Vec<FxHashMap<i64, usize>> = Vec::new();
    for fd in &files {
        used_cats.push(fd.store.meta.iter().map(|p| p.category_id).collect());
        let mut m: FxHashMap<i64, usize> = FxHashMap::default();
        for (p, s) in fd.store.meta.iter().zip(fd.store.shapes()) {
            let e = m.entry(p.category_id).or_default();
            *e = (*e).max(s.elements.len());
        }
        max_kp.push(m);
    }
    if let Some(labels) = &given {
        ds.labels = labels.clone();
    }
    let mut next_id = ds.max_label_id() + 1;
    for (fi, fd) in files.iter().enumerate() {
        let mut map = FxHashMap::default();
        let mut cats: Vec<(i64, &parse::RawCat)> = fd
            .raw
            .categories
            .iter()
            .flatten()
            .filter_map(|c| int(&c.id).map(|id| (id, c)))
            .collect();
        cats.sort_by_key(|(id, _)| *id);
        let names: std::collections::HashSet<&str> =
            cats.iter().filter_map(|(_, c)| string(&c.name)).collect();
        for (cid, c) in &cats {
            let Some(name) = string(&c.name) else {
                continue;
            };
            let parent = string(&c.supercategory).filter(|p| !p.is_empty() && *p != name);
            if given.is_some() {
                let found = ds
                    .labels
                    .iter()
                    .find(|l| l.name == name)
                    .map(|l| l.id)
                    .or_else(|| {
                        parent
                            .and_then(|p| ds.labels.iter().find(|l| l.name == p))
                            .and_then(|l| l.sublabels.iter().find(|s| s.name == name).map(|s| s.id))
                    });
                match found {
                    Some(id) => {
                        map.insert(*cid, id);
                    }
                    None if used_cats[fi].contains(cid) => {
                        let idx = fd
                            .raw
                            .categories
                            .iter()
                            .flatten()
                            .position(|x| int(&x.id) == Some(*cid))
                            .unwrap_or(0);
                        diags.push(
                            Diagnostic::error(
                                Location::json(&fd.file, format!("$.categories[{idx}].name")),
                                "unknown-label",
                                format!("label {name:?} is not in the task"),
                            )
                            .with_hint("add the label to the task, or rename the category"),
                        );
                    }
                    None => {}
                }
                continue;
            }
            // no label list given: create labels
            let as_sublabel = parent.filter(|p| {
                names.contains(p) && !used_cats[fi].contains(cid) && task == Task::Instances
            });
            if let Some(&id) = label_of_name.get(name) {
                map.insert(*cid, id);
                continue;
            }
            let id = next_id;
            next_id += 1;
            let label = Label {
                id,
                name: name.to_string(),
                ..Default::default()
            };
            match as_sublabel.and_then(|p| label_of_name.get(p).copied()) {
                Some(pid) => {
                    if let Some(pl) = ds.labels.iter_mut().find(|l| l.id == pid) {
                        let mut label = label;
                        label.kind = LabelType::Points;
                        pl.sublabels.push(label);
                        pl.kind = LabelType::Skeleton;
                    }
                }
                None => ds.labels.push(label),
            }
            label_of_name.insert(name.to_string(), id);
            map.insert(*cid, id);
        }
        // keypoints: sub-labels of skeleton categories
        if task == Task::Keypoints {
            for (cid, c) in &cats {
                let Some(&lid) = map.get(cid) else { continue };
                let mut kp: Vec<String> = c
                    .keypoints
                    .iter()
                    .flatten()
                    .map(|v| match v {
                        Val::Str(s) => s.clone(),
                        other => py_str(other).unwrap_or_default(),
                    })
                    .collect();
                let most = max_kp[fi].get(cid).copied().unwrap_or(0);
                if given.is_none() && kp.is_empty() && most > 0 {
                    // keypoints without names: name them by their 1-based position
                    kp = (1..=most).map(|k| k.to_string()).collect();
                }
                let used = used_cats[fi].contains(cid);
                if kp.is_empty() && !used {
                    continue;
                }
                let mut subs: Vec<Option<i64>> = Vec::new();
                if given.is_some() {
                    if let Some(l) = ds.labels.iter().find(|l| l.id == lid) {
                        let mut sorted: Vec<&Label> = l.sublabels.iter().collect();
                        sorted.sort_by_key(|s| s.id);
                        for (k, n) in kp.iter().enumerate() {
                            subs.push(
                                l.sublabels
                                    .iter()
                                    .find(|s| &s.name == n)
                                    .or(sorted.get(k).copied())
                                    .map(|s| s.id),
                            );
                        }
                    }
                } else if let Some(l) = ds.labels.iter_mut().find(|l| l.id == lid) {
                    if l.sublabels.is_empty() {
                        l.kind = LabelType::Skeleton;
                        let mut svg = String::new();
                        for j in c.skeleton.iter().flatten() {
                            if let Nums::List { values, .. } = j {
                                if values.len() == 2 {
                                    svg.push_str(&format!(
                                        r#"<line data-type="edge" data-node-from="{}" data-node-to="{}"></line>"#,
                                        values[0], values[1]
                                    ));
                                }
                            }
                        }
                        for (k, n) in kp.iter().enumerate() {
                            let sid = next_id;
                            next_id += 1;
                            svg.push_str(&format!(
                                r#"<circle data-type="element node" data-element-id="{0}" data-node-id="{0}" data-label-id="{sid}"></circle>"#,
                                k + 1
                            ));
                            l.sublabels.push(Label {
                                id: sid,
                                name: n.clone(),
                                kind: LabelType::Points,
                                ..Default::default()
                            });
                        }
                        l.svg = svg;
                    }
                    subs = {
                        let mut sorted: Vec<&Label> = l.sublabels.iter().collect();
                        sorted.sort_by_key(|s| s.id);
                        sorted.iter().map(|s| Some(s.id)).collect()
                    };
                }
                kp_sublabels.insert(lid, subs);
            }
        }
        cat_label.push(map);
    }
    // ---- frames
    let mut frame_of: Vec<FxHashMap<i64, u32>> = Vec::new();
    let mut size_of: FxHashMap<u32, (u32, u32)> = FxHashMap::default();
    if let Some(frames) = &opts.frames {
        ds.frames = frames.clone();
    }
    for fd in &files {
        let mut map = FxHashMap::default();
        let mut images: Vec<(i64, usize, &parse::RawImage)> = fd
            .raw
            .images
            .iter()
            .flatten()
            .enumerate()
            .filter_map(|(k, im)| int(&im.id).map(|id| (id, k, im)))
            .collect();
        images.sort_by_key(|(id, _, _)| *id);
        for (id, k, im) in images {
            if map.contains_key(&id) {
                continue;
            }
            let name = string(&im.file_name).unwrap_or("").to_string();
            let (w, h) = (
                int(&im.width).unwrap_or(0).clamp(0, u32::MAX as i64) as u32,
                int(&im.height).unwrap_or(0).clamp(0, u32::MAX as i64) as u32,
            );
            let frame = if opts.frames.is_some() {
                match opts.frame_hint(&name) {
                    Some(f) => f.id,
                    None => {
                        diags.push(
                            Diagnostic::error(
                                Location::json(&fd.file, format!("$.images[{k}].file_name")),
                                "unknown-frame",
                                format!("image {name:?} does not match any frame of the task"),
                            )
                            .with_hint(
                                "the file names in the COCO file must match the task's frame names",
                            ),
                        );
                        continue;
                    }
                }
            } else {
                let fid = ds.frames.len() as u32;
                ds.frames.push(Frame {
                    id: fid,
                    name,
                    width: w,
                    height: h,
                    subset: multi.then(|| fd.subset.clone()),
                });
                fid
            };
            if w > 0 && h > 0 {
                size_of.insert(frame, (w, h));
            }
            map.insert(id, frame);
        }
        frame_of.push(map);
    }
    for f in &ds.frames {
        if f.has_size() {
            size_of.entry(f.id).or_insert((f.width, f.height));
        }
    }
    let stop_frame = ds.frames.iter().map(|f| f.id).max().unwrap_or(0);
    // ---- attribute specs
    // (label id, name index in file) -> spec id, per file
    let mut tracks: std::collections::BTreeMap<(usize, TrackKey), Vec<TrackPart>> =
        Default::default();
    let mut created: FxHashMap<i64, HashMap<String, (i64, InputType)>> = FxHashMap::default();
    let mut next_spec = ds.max_spec_id() + 1;
    // label id -> the label (labels do not change in the loop below)
    // (the first label with an id wins, and a label wins over a sublabel)
    let mut label_of_id: FxHashMap<i64, &Label> = FxHashMap::default();
    for l in ds
        .labels
        .iter()
        .chain(ds.labels.iter().flat_map(|l| l.sublabels.iter()))
    {
        label_of_id.entry(l.id).or_insert(l);
    }
    let total: usize = files.iter().map(|f| f.store.len()).sum();
    let mut shapes_out: Vec<Shape> = Vec::with_capacity(total);
    for (fi, fd) in files.into_iter().enumerate() {
        let FileData {
            file,
            mut store,
            mut names,
            ..
        } = fd;
        let meta = std::mem::take(&mut store.meta);
        let mut track_of = std::mem::take(&mut store.tracks);
        let rle_sizes = std::mem::take(&mut store.rle_sizes);
        for (k, mut shape) in store.drain().enumerate() {
            let Some(&Meta {
                ann,
                crowd,
                scored,
                image_id,
                category_id,
            }) = meta.get(k)
            else {
                continue;
            };
            let track = track_of.remove(&(k as u32));
            let rle_size = rle_sizes.get(&(k as u32)).copied();
            let mut attrs = std::mem::take(&mut shape.attributes);
            if let (Some(c), Some(_)) = (crowd, &given) {
                // `iscrowd` as the attribute value the server makes of it, before `score`
                let at = attrs.len() - usize::from(scored && !attrs.is_empty());
                attrs.insert(
                    at,
                    AttributeValue {
                        spec_id: names.get("is_crowd") as i64 * 4 + KIND_BOOL,
                        value: if c { "True" } else { "False" }.to_string(),
                    },
                );
            }
            let i = ann as usize;
            let Some(&frame) = frame_of[fi].get(&image_id) else {
                if !diags
                    .items()
                    .iter()
                    .any(|d| d.location.json_path.as_deref() == Some(&ann_path(i, "image_id")))
                {
                    diags.push(
                        Diagnostic::error(
                            Location::json(&file, ann_path(i, "image_id")),
                            "unknown-image-id",
                            format!("unknown image id {image_id}: no entry of \"images\" has it"),
                        )
                        .with_hint(
                            "every annotation's image_id must be the id of an image in \"images\"",
                        ),
                    );
                }
                continue;
            };
            let Some(&label_id) = cat_label[fi].get(&category_id) else {
                if !diags
                    .items()
                    .iter()
                    .any(|d| d.location.json_path.as_deref() == Some(&ann_path(i, "category_id")))
                {
                    diags.push(
                        Diagnostic::error(
                            Location::json(&file, ann_path(i, "category_id")),
                            "undeclared-label",
                            format!("category id {category_id} is not declared in \"categories\""),
                        )
                        .with_hint("add the category to \"categories\" or fix the annotation's category_id"),
                    );
                }
                continue;
            };
            shape.frame = frame;
            shape.label_id = label_id;
            let size = size_of.get(&frame).copied();
            if let (Some((h, w)), Some((iw, ih))) = (rle_size, size) {
                if h != ih || w != iw {
                    diags.push(Diagnostic::error(
                        Location::json(&file, ann_path(i, "segmentation.size")),
                        "rle-size",
                        format!("mask size {h}x{w} (height x width) does not match the image size {ih}x{iw}"),
                    ));
                    continue;
                }
            }
            if thorough && shape.kind != ShapeType::Skeleton {
                if let Some(msg) = check_points(shape.kind, &shape.points, size) {
                    let field = if shape.kind == ShapeType::Rectangle {
                        "bbox"
                    } else {
                        "segmentation"
                    };
                    diags.push(Diagnostic::warning(
                        Location::json(&file, ann_path(i, field)),
                        "geometry",
                        msg,
                    ));
                }
            }
            if shape.kind == ShapeType::Skeleton {
                let subs = kp_sublabels.get(&label_id);
                let n = shape.elements.len();
                let expected = subs.map(|s| s.len()).unwrap_or(0);
                if n != expected {
                    diags.push(Diagnostic::error(
                        Location::json(&file, ann_path(i, "keypoints")),
                        "keypoints-values",
                        format!("{n} keypoints, but the category declares {expected}"),
                    ));
                    continue;
                }
                for (k, e) in shape.elements.iter_mut().enumerate() {
                    e.label_id = subs.and_then(|s| s.get(k).copied().flatten()).unwrap_or(0);
                    e.frame = frame;
                    e.source = shape.source.clone();
                }
            }
            // attributes onto specs
            let label_specs: Option<&Label> = label_of_id.get(&label_id).copied();
            let mut values: Vec<AttributeValue> = Vec::new();
            for av in attrs {
                let (ni, code) = (av.spec_id / 4, av.spec_id % 4);
                let name = names
                    .names
                    .get(ni as usize)
                    .map(|s| s.as_str())
                    .unwrap_or("");
                let text = av.value;
                if given.is_some() {
                    if let Some(spec) =
                        label_specs.and_then(|l| l.attributes.iter().find(|a| a.name == name))
                    {
                        let value = if spec.input_type == InputType::Checkbox {
                            text.to_lowercase()
                        } else {
                            text
                        };
                        if thorough && !spec.accepts(&value) {
                            diags.push(Diagnostic::warning(
                                Location::json(&file, ann_path(i, &format!("attributes.{name}"))),
                                "attribute-value",
                                format!("value {value:?} is not allowed for attribute {name:?} of label {:?}", label_specs.map(|l| l.name.as_str()).unwrap_or("")),
                            ));
                        }
                        values.push(AttributeValue {
                            spec_id: spec.id,
                            value,
                        });
                    } else if thorough && name != "is_crowd" && name != "score" {
                        diags.push(
                            Diagnostic::warning(
                                Location::json(&file, ann_path(i, &format!("attributes.{name}"))),
                                "undeclared-attribute",
                                format!("attribute {name:?} is not declared for label {:?}; it will be dropped", label_specs.map(|l| l.name.as_str()).unwrap_or("")),
                            )
                            .with_hint("add the attribute to the label in the task, or remove it from the file"),
                        );
                    }
                    continue;
                }
                if name == "is_crowd" || name == "score" {
                    continue;
                }
                let kind = match code {
                    KIND_BOOL => InputType::Checkbox,
                    KIND_NUMBER => InputType::Number,
                    _ => InputType::Text,
                };
                let per_label = created.entry(label_id).or_default();
                if !per_label.contains_key(name) {
                    per_label.insert(name.to_string(), (next_spec, kind));
                    next_spec += 1;
                }
                let Some(entry) = per_label.get_mut(name) else {
                    continue;
                };
                if entry.1 != kind {
                    entry.1 = InputType::Text;
                }
                let value = if kind == InputType::Checkbox {
                    text.to_lowercase()
                } else {
                    text
                };
                values.push(AttributeValue {
                    spec_id: entry.0,
                    value,
                });
            }
            shape.attributes = values;
            match track {
                Some((key, keyframe)) => tracks
                    .entry((fi, key))
                    .or_default()
                    .push((shape, keyframe, label_id)),
                None => shapes_out.push(shape),
            }
        }
    }
    // created specs onto labels
    if given.is_none() {
        let mut specs: Vec<((i64, String), (i64, InputType))> = created
            .into_iter()
            .flat_map(|(l, m)| m.into_iter().map(move |(n, v)| ((l, n), v)))
            .collect();
        specs.sort_by_key(|(_, (id, _))| *id);
        for ((label_id, name), (id, kind)) in specs {
            if let Some(l) = ds.label_mut(label_id) {
                let (default_value, values) = match kind {
                    InputType::Checkbox => ("false".to_string(), vec!["false".to_string()]),
                    _ => (String::new(), Vec::new()),
                };
                l.attributes.push(AttributeSpec {
                    id,
                    name,
                    mutable: false,
                    input_type: kind,
                    default_value,
                    values,
                });
            }
        }
        // a created spec is mutable when its value changes along a track
        let mut mutable: std::collections::HashSet<i64> = Default::default();
        for shapes in tracks.values() {
            let mut first: HashMap<i64, &str> = HashMap::new();
            for (s, _, _) in shapes {
                for a in &s.attributes {
                    if let Some(prev) = first.insert(a.spec_id, &a.value) {
                        if prev != a.value {
                            mutable.insert(a.spec_id);
                        }
                    }
                }
            }
        }
        for l in ds.labels.iter_mut() {
            for a in l.attributes.iter_mut() {
                a.mutable = mutable.contains(&a.id);
            }
        }
        for l in ds.labels.iter_mut() {
            if l.kind == LabelType::Any && !l.sublabels.is_empty() {
                l.kind = LabelType::Skeleton;
            }
        }
    }
    // ---- tracks
    let mutable_of: HashMap<i64, bool> = ds
        .labels
        .iter()
        .flat_map(|l| {
            l.attributes
                .iter()
                .chain(l.sublabels.iter().flat_map(|s| s.attributes.iter()))
        })
        .map(|a| (a.id, a.mutable))
        .collect();
    for ((_, _), mut shapes) in tracks {
        shapes.sort_by_key(|(s, _, _)| s.frame);
        let Some((first, _, label_id)) = shapes.first() else {
            continue;
        };
        let (label_id, source, group) = (*label_id, first.source.clone(), 0);
        let mut track_attrs: Vec<AttributeValue> = Vec::new();
        let to_tracked = |s: &Shape, keyframe: bool| {
            (
                TrackedShape {
                    id: None,
                    kind: s.kind,
                    frame: s.frame,
                    occluded: s.occluded,
                    outside: s.outside,
                    z_order: 0,
                    rotation: s.rotation,
                    points: s.points.clone(),
                    attributes: Vec::new(),
                },
                keyframe,
            )
        };
        let mut keyed: Vec<(TrackedShape, bool)> = Vec::new();
        for (s, kf, _) in &shapes {
            let (mut ts, kf) = to_tracked(s, *kf);
            for a in &s.attributes {
                if mutable_of.get(&a.spec_id).copied().unwrap_or(true) {
                    ts.attributes.push(a.clone());
                } else if !track_attrs.iter().any(|t| t.spec_id == a.spec_id) {
                    track_attrs.push(a.clone());
                }
            }
            keyed.push((ts, kf));
        }
        let mut elements: Vec<Track> = Vec::new();
        if first.kind == ShapeType::Skeleton {
            let mut by_label: Vec<(i64, Vec<(TrackedShape, bool)>)> = Vec::new();
            for (s, kf, _) in &shapes {
                for e in &s.elements {
                    let (ts, kf) = to_tracked(e, *kf);
                    match by_label.iter_mut().find(|(l, _)| *l == e.label_id) {
                        Some((_, v)) => v.push((ts, kf)),
                        None => by_label.push((e.label_id, vec![(ts, kf)])),
                    }
                }
            }
            for (lid, ks) in by_label {
                let ks = infer_keyframes(ks, stop_frame);
                elements.push(Track {
                    id: None,
                    label_id: lid,
                    frame: ks.first().map(|s| s.frame).unwrap_or(0),
                    group: 0,
                    source: source.clone(),
                    shapes: ks,
                    attributes: Vec::new(),
                    elements: Vec::new(),
                });
            }
        }
        let ks = infer_keyframes(keyed, stop_frame);
        if ks.is_empty() && elements.is_empty() {
            continue;
        }
        ds.tracks.push(Track {
            id: None,
            label_id,
            frame: ks.first().map(|s| s.frame).unwrap_or(0),
            group,
            source,
            shapes: ks,
            attributes: track_attrs,
            elements,
        });
    }
    // ---- groups: one-shape groups are dropped, the others renumbered per frame
    sort_by_frame(&mut shapes_out);
    let mut i = 0;
    while i < shapes_out.len() {
        let f = shapes_out[i].frame;
        let mut j = i;
        while j < shapes_out.len() && shapes_out[j].frame == f {
            j += 1;
        }
        let mut counts: std::collections::BTreeMap<i64, usize> = Default::default();
        for s in &shapes_out[i..j] {
            *counts.entry(s.group).or_default() += 1;
        }
        let keep: Vec<i64> = counts
            .iter()
            .filter(|(g, n)| **g != 0 && **n > 1)
            .map(|(g, _)| *g)
            .collect();
        for s in &mut shapes_out[i..j] {
            s.group = keep
                .iter()
                .position(|g| *g == s.group)
                .map(|k| k as i64 + 1)
                .unwrap_or(0);
        }
        i = j;
    }
    ds.shapes = shapes_out;
    ds
}

/// The server's `_validate_track_shapes`: keeps keyframes, visibility changes and shapes after gaps;
/// closes gaps and the end of the track with outside shapes.
pub(crate) fn infer_keyframes(
    shapes: Vec<(TrackedShape, bool)>,
    stop_frame: u32,
) -> Vec<TrackedShape> {
    let mut out: Vec<TrackedShape> = Vec::new();
    let mut prev: Option<TrackedShape> = None;
    for (shape, keyframe) in shapes {
        let prev_visible = prev.as_ref().map(|p| !p.outside);
        let cur_visible = !shape.outside;
        let mut has_gap = false;
        if let (Some(p), Some(true)) = (&prev, prev_visible) {
            has_gap = p.frame + 1 < shape.frame;
            if has_gap {
                let mut o = p.clone();
                o.outside = true;
                o.frame = p.frame + 1;
                out.push(o);
            }
        }
        if prev_visible != Some(cur_visible) || (cur_visible && (has_gap || keyframe)) {
            out.push(shape.clone());
        }
        prev = Some(shape);
    }
    if let Some(p) = prev {
        if !p.outside && p.frame < stop_frame {
            let mut o = p.clone();
            o.outside = true;
            o.frame = p.frame + 1;
            out.push(o);
        }
    }
    out
}

/// Stable sort of shapes by frame that moves each shape a few times at most: files usually list annotations
/// image by image (nothing to do); otherwise the order is computed on (frame, index) pairs, not by
/// shuffling 500,000 large structs through a merge sort.
fn sort_by_frame(shapes: &mut [Shape]) {
    if shapes.is_sorted_by_key(|s| s.frame) {
        return;
    }
    let mut order: Vec<(u32, u32)> = shapes
        .iter()
        .enumerate()
        .map(|(i, s)| (s.frame, i as u32))
        .collect();
    order.sort_unstable();
    // apply the permutation in place, cycle by cycle (no second vector of shapes):
    // afterwards shapes[k] is the shape that was at perm[k]
    let mut perm: Vec<u32> = order.into_iter().map(|(_, i)| i).collect();
    for i in 0..perm.len() {
        let mut j = i;
        loop {
            let k = perm[j] as usize;
            perm[j] = j as u32;
            if k == i || k == j {
                break;
            }
            shapes.swap(j, k);
            j = k;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sort_by_frame_is_stable_and_matches_a_stable_sort() {
        // frames in a scrambled order with many ties; ids record the original order
        let mut shapes: Vec<Shape> = (0..1000u32)
            .map(|i| Shape {
                id: Some(i as i64),
                frame: (i * 7919 + 13) % 37,
                ..Default::default()
            })
            .collect();
        let mut want = shapes.clone();
        want.sort_by_key(|s| s.frame);
        sort_by_frame(&mut shapes);
        assert_eq!(shapes, want);
        // sorted input stays as it is; empty and single inputs are fine
        sort_by_frame(&mut shapes);
        assert_eq!(shapes, want);
        let mut none: Vec<Shape> = Vec::new();
        sort_by_frame(&mut none);
        assert!(none.is_empty());
    }

    #[test]
    fn counts_to_cvat_matches_the_geometry_helpers() {
        let counts = [0u32, 20, 30];
        let got = counts_to_cvat(&counts, 10, 5).unwrap();
        let bm = cvat_format_api::geometry::coco_counts_to_bitmap(&[0, 20, 30], 5, 10).unwrap();
        let want = cvat_format_api::geometry::bitmap_to_cvat_rle(&bm).unwrap();
        assert_eq!(got, want);
        // a run wrapping a column
        let counts = [3u32, 4, 3];
        let got = counts_to_cvat(&counts, 5, 2).unwrap();
        let bm = cvat_format_api::geometry::coco_counts_to_bitmap(&[3, 4, 3], 2, 5).unwrap();
        assert_eq!(
            got,
            cvat_format_api::geometry::bitmap_to_cvat_rle(&bm).unwrap()
        );
        // random masks, runs wrapping columns, empty columns inside the box
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        let mut next = |n: u64| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed % n
        };
        let mut checked = 0;
        for _ in 0..3000 {
            let (h, w) = (1 + next(12) as u32, 1 + next(12) as u32);
            let total = h as u64 * w as u64;
            let mut counts = Vec::new();
            let mut left = total;
            while left > 0 {
                let bound = 6 + next(2) * 2 * h as u64;
                let c = next(bound).min(left);
                counts.push(c as u32);
                left -= c;
            }
            let wide: Vec<u64> = counts.iter().map(|c| *c as u64).collect();
            let bm = cvat_format_api::geometry::coco_counts_to_bitmap(&wide, w, h).unwrap();
            let want = cvat_format_api::geometry::bitmap_to_cvat_rle(&bm);
            let got = counts_to_cvat(&counts, h, w);
            assert_eq!(got, want, "counts {counts:?} h {h} w {w}");
            checked += usize::from(got.is_some());
        }
        assert!(checked > 2000, "only {checked} non-empty masks");
    }
}
