//! Pieces shared by the Darknet "YOLO 1.1" format and the "Ultralytics YOLO" family
//! (`cvat-format-ultralytics` depends on this crate for them):
//!
//! - [`Flat`]: every visible annotation per frame, tracks interpolated the way the server does, in
//!   the server's export order (shapes, then tracks, stable-sorted by `z_order`).
//! - [`fields`], [`parse_num`], [`parse_class`]: whitespace-separated text lines with 1-based columns.
//! - [`SizeResolver`]: image sizes from the task's frame list or from images inside the input.
//! - [`ClassMap`]: class names in a file mapped onto the task's labels (or new labels).
//! - [`fmt6`]: Python's `"%.6f"`.

use cvat_format_api::geometry::fmt_fixed;
use cvat_format_api::imagesize::image_size;
use cvat_format_api::{
    Dataset, Diagnostic, Diagnostics, FormatError, Frame, Input, Label, LabelType, Location,
    ReadOptions, Severity, Shape, ShapeType, Track, TrackedShape,
};
use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};
use std::io::Read;

/// `"%.6f" % v`, as Python prints it.
pub fn fmt6(v: f64) -> String {
    fmt_fixed(v, 6)
}

/// Appends `"%.6f" % v` to `out`, exactly as [`fmt6`] writes it but without the general float
/// formatter for the usual case (a non-negative value below 1000, as normalised coordinates are, whose
/// seventh decimal is not a near tie): `v * 10^6` computed in floating point is then within 2e-7 of the
/// exact product (half an ulp of a number below 10^9), so rounding it to the nearest integer gives the
/// digits the exact decimal expansion rounds to, unless the fraction is within 1e-6 of one half. Anything
/// else (a near tie, a negative, large or non-finite value) goes through [`fmt6`].
pub fn push_fmt6(out: &mut String, v: f64) {
    use std::fmt::Write as _;
    if v.is_sign_positive() && v < 1e3 {
        let x = v * 1e6;
        let floor = x.floor();
        let frac = x - floor;
        if (frac - 0.5).abs() > 1e-6 {
            let n = if frac > 0.5 { floor + 1.0 } else { floor } as u64;
            let _ = write!(out, "{}.{:06}", n / 1_000_000, n % 1_000_000);
            return;
        }
    }
    out.push_str(&fmt6(v));
}

/// Rounds to two decimals (the precision the server keeps for imported and interpolated coordinates).
pub fn round2(v: f64) -> f64 {
    let r = (v * 100.0).round() / 100.0;
    if r == 0.0 {
        0.0
    } else {
        r
    }
}

/// A skeleton element on one frame, after track interpolation.
#[derive(Debug, Clone, PartialEq)]
pub struct FlatElement<'a> {
    pub label_id: i64,
    /// Borrowed from the dataset for shapes, owned for interpolated track frames.
    pub points: Cow<'a, [f64]>,
    pub occluded: bool,
    pub outside: bool,
}

/// One annotation on one frame, as the server hands it to the exporters.
#[derive(Debug, Clone, PartialEq)]
pub struct FlatShape<'a> {
    pub label_id: i64,
    pub kind: ShapeType,
    /// Borrowed from the dataset for shapes, owned for interpolated track frames.
    pub points: Cow<'a, [f64]>,
    pub rotation: f64,
    pub occluded: bool,
    pub z_order: i64,
    pub elements: Vec<FlatElement<'a>>,
    /// Index of the track in `Dataset::tracks` this shape comes from.
    pub track: Option<usize>,
    /// Attribute values carried by the shape (for drop counts).
    pub attributes: usize,
}

/// Every visible shape of `ds` per frame number, tracks flattened over `0..frame_count` (frames after
/// the last keyframe continue it until the end of the task, as the server does), each frame's list in
/// the server's export order: the frame's shapes in dataset order, then its track shapes in track
/// order, stably sorted by z-order. Shapes are not copied: a frame's list is made when asked for
/// ([`Flat::frame_into`]), so exporting 500,000 shapes needs no second copy of them.
pub struct Flat<'a> {
    ds: &'a Dataset,
    /// Indexes into `ds.shapes` of the visible shapes, by (frame, index).
    statics: Vec<u32>,
    /// (frame, where its shapes start in `statics`), one entry per frame with shapes, by frame: found
    /// by a binary search that does not touch the shapes themselves.
    starts: Vec<(u32, u32)>,
    /// The interpolated track shapes per frame.
    tracks: BTreeMap<u32, Vec<FlatShape<'a>>>,
}

impl<'a> Flat<'a> {
    pub fn new(ds: &'a Dataset) -> Flat<'a> {
        let mut statics: Vec<u32> = (0..ds.shapes.len() as u32)
            .filter(|&i| !ds.shapes[i as usize].outside)
            .collect();
        // readers usually give shapes in frame order already: then there is nothing to sort
        if !statics.is_sorted_by_key(|&i| ds.shapes[i as usize].frame) {
            statics.sort_by_key(|&i| (ds.shapes[i as usize].frame, i));
        }
        let mut starts: Vec<(u32, u32)> = Vec::new();
        for (k, &i) in statics.iter().enumerate() {
            let frame = ds.shapes[i as usize].frame;
            if starts.last().is_none_or(|(f, _)| *f != frame) {
                starts.push((frame, k as u32));
            }
        }
        Flat {
            ds,
            statics,
            starts,
            tracks: flatten_tracks(ds),
        }
    }

    /// The shapes on frame `frame`, in export order, into `buf` (cleared first).
    pub fn frame_into<'s>(&'s self, frame: u32, buf: &mut Vec<FlatShape<'s>>) {
        buf.clear();
        let shapes = &self.ds.shapes;
        let k = self.starts.partition_point(|(f, _)| *f < frame);
        let range = match self.starts.get(k) {
            Some(&(f, start)) if f == frame => {
                let end = self
                    .starts
                    .get(k + 1)
                    .map_or(self.statics.len(), |&(_, e)| e as usize);
                start as usize..end
            }
            _ => 0..0,
        };
        for &i in &self.statics[range] {
            let s = &shapes[i as usize];
            buf.push(FlatShape {
                label_id: s.label_id,
                kind: s.kind,
                points: Cow::Borrowed(&s.points),
                rotation: s.rotation,
                occluded: s.occluded,
                z_order: s.z_order,
                elements: s.elements.iter().map(FlatElement::of).collect(),
                track: None,
                attributes: s.attributes.len()
                    + s.elements.iter().map(|e| e.attributes.len()).sum::<usize>(),
            });
        }
        if let Some(list) = self.tracks.get(&frame) {
            buf.extend(list.iter().map(FlatShape::borrowed));
        }
        if buf.windows(2).any(|w| w[0].z_order != w[1].z_order) {
            buf.sort_by_key(|s| s.z_order);
        }
    }

    /// How many visible shapes lie on frames for which `known` is false.
    pub fn count_where(&self, known: impl Fn(u32) -> bool) -> usize {
        let shapes = &self.ds.shapes;
        self.statics
            .iter()
            .filter(|&&i| !known(shapes[i as usize].frame))
            .count()
            + self
                .tracks
                .iter()
                .filter(|(f, _)| !known(**f))
                .map(|(_, l)| l.len())
                .sum::<usize>()
    }
}

impl<'a> FlatElement<'a> {
    /// A skeleton element of a shape, its points borrowed.
    fn of(e: &'a Shape) -> FlatElement<'a> {
        FlatElement {
            label_id: e.label_id,
            points: Cow::Borrowed(&e.points),
            occluded: e.occluded,
            outside: e.outside,
        }
    }
    /// The same element, its points borrowed from this one.
    fn borrowed(&self) -> FlatElement<'_> {
        FlatElement {
            label_id: self.label_id,
            points: Cow::Borrowed(&self.points),
            occluded: self.occluded,
            outside: self.outside,
        }
    }
}

impl FlatShape<'_> {
    /// The same shape, its points and elements borrowed from this one.
    fn borrowed(&self) -> FlatShape<'_> {
        FlatShape {
            label_id: self.label_id,
            kind: self.kind,
            points: Cow::Borrowed(&self.points),
            rotation: self.rotation,
            occluded: self.occluded,
            z_order: self.z_order,
            elements: self.elements.iter().map(FlatElement::borrowed).collect(),
            track: self.track,
            attributes: self.attributes,
        }
    }
}

/// The visible shapes of `ds`'s tracks per frame, interpolated over `0..frame_count`.
fn flatten_tracks(ds: &Dataset) -> BTreeMap<u32, Vec<FlatShape<'static>>> {
    let end = frame_count(ds);
    let mut out: BTreeMap<u32, Vec<FlatShape>> = BTreeMap::new();
    for (ti, t) in ds.tracks.iter().enumerate() {
        let frames = interpolate_track(&t.shapes, end, false);
        let elements: Vec<(i64, BTreeMap<u32, TrackedShape>)> = t
            .elements
            .iter()
            .map(|e| (e.label_id, interpolate_track(&e.shapes, end, true)))
            .collect();
        for (frame, ts) in frames {
            if ts.outside {
                continue;
            }
            let elems = elements
                .iter()
                .filter_map(|(label_id, m)| {
                    m.get(&frame).map(|es| FlatElement {
                        label_id: *label_id,
                        points: Cow::Owned(es.points.clone()),
                        occluded: es.occluded,
                        outside: es.outside,
                    })
                })
                .collect();
            out.entry(frame).or_default().push(FlatShape {
                label_id: t.label_id,
                kind: ts.kind,
                points: Cow::Owned(ts.points),
                rotation: ts.rotation,
                occluded: ts.occluded,
                z_order: ts.z_order,
                elements: elems,
                track: Some(ti),
                attributes: t.attributes.len() + ts.attributes.len(),
            });
        }
    }
    out
}

/// Number of frames of the task: one past the largest frame number known.
pub fn frame_count(ds: &Dataset) -> u32 {
    let mut n = ds.frames.iter().map(|f| f.id + 1).max().unwrap_or(0);
    for s in &ds.shapes {
        n = n.max(s.frame + 1);
    }
    for t in &ds.tracks {
        for s in t
            .shapes
            .iter()
            .chain(t.elements.iter().flat_map(|e| &e.shapes))
        {
            n = n.max(s.frame + 1);
        }
    }
    n
}

fn angle_diff(right: f64, left: f64) -> f64 {
    let d = (right - left + 180.0).rem_euclid(360.0) - 180.0;
    if d.abs() >= 180.0 {
        if d > 0.0 {
            360.0 + d.abs()
        } else {
            1.0
        }
    } else {
        d
    }
}

/// The shape of a track on every frame from its first keyframe to `end` (exclusive). Frames between a
/// visible keyframe and the next are interpolated linearly (points rounded to 2 decimals as the server
/// stores them); after an outside keyframe nothing is produced unless `keep_outside` (skeleton elements,
/// whose outside state is reported per point).
pub fn interpolate_track(
    shapes: &[TrackedShape],
    end: u32,
    keep_outside: bool,
) -> BTreeMap<u32, TrackedShape> {
    let mut keys: Vec<&TrackedShape> = shapes.iter().collect();
    keys.sort_by_key(|s| s.frame);
    let mut out = BTreeMap::new();
    let copy_at = |s: &TrackedShape, frame: u32| TrackedShape { frame, ..s.clone() };
    for (i, k) in keys.iter().enumerate() {
        if k.frame >= end && i > 0 {
            break;
        }
        if !k.outside || keep_outside {
            out.insert(k.frame, (*k).clone());
        }
        let next_frame = keys.get(i + 1).map(|n| n.frame.min(end)).unwrap_or(end);
        for frame in k.frame.saturating_add(1)..next_frame {
            if k.outside {
                if keep_outside {
                    out.insert(frame, copy_at(k, frame));
                }
                continue;
            }
            match keys.get(i + 1) {
                Some(n)
                    if n.frame <= end && n.kind == k.kind && n.points.len() == k.points.len() =>
                {
                    let off = (frame - k.frame) as f64 / (n.frame - k.frame) as f64;
                    let points = k
                        .points
                        .iter()
                        .zip(&n.points)
                        .map(|(a, b)| round2(a + (b - a) * off))
                        .collect();
                    let rotation = (k.rotation + angle_diff(n.rotation, k.rotation) * off + 360.0)
                        .rem_euclid(360.0);
                    out.insert(
                        frame,
                        TrackedShape {
                            frame,
                            points,
                            rotation,
                            ..(*k).clone()
                        },
                    );
                }
                _ => {
                    out.insert(frame, copy_at(k, frame));
                }
            }
        }
    }
    out
}

/// A whitespace-separated field of a text line and its 1-based column.
#[derive(Debug, Clone, Copy)]
pub struct Field<'a> {
    pub text: &'a str,
    pub col: u32,
}

/// Splits `line` at whitespace, keeping each field's 1-based (character) column.
pub fn fields(line: &str) -> Vec<Field<'_>> {
    let mut out = Vec::new();
    let mut start: Option<(usize, u32)> = None;
    let mut col = 0u32;
    for (i, ch) in line.char_indices() {
        col += 1;
        if ch.is_whitespace() {
            if let Some((s, c)) = start.take() {
                out.push(Field {
                    text: &line[s..i],
                    col: c,
                });
            }
        } else if start.is_none() {
            start = Some((i, col));
        }
    }
    if let Some((s, c)) = start {
        out.push(Field {
            text: &line[s..],
            col: c,
        });
    }
    out
}

/// A finite number, or an error located at the field.
pub fn parse_num(file: &str, line: u32, f: Field<'_>, what: &str) -> Result<f64, Box<Diagnostic>> {
    match f.text.parse::<f64>() {
        Ok(v) if v.is_finite() => Ok(v),
        _ => Err(Box::new(Diagnostic::error(
            Location::line(file, line, f.col),
            "not-a-number",
            format!("{what} {:?} is not a number", f.text),
        ))),
    }
}

/// A class index in `0..classes`, or an error located at the field.
pub fn parse_class(
    file: &str,
    line: u32,
    f: Field<'_>,
    classes: usize,
) -> Result<usize, Box<Diagnostic>> {
    let loc = || Location::line(file, line, f.col);
    match f.text.parse::<usize>() {
        Ok(c) if c < classes => Ok(c),
        Ok(c) => Err(Box::new(
            Diagnostic::error(
                loc(),
                "class-out-of-range",
                format!(
                    "class id {c} is out of range: {classes} class{} declared",
                    if classes == 1 { " is" } else { "es are" }
                ),
            )
            .with_hint(format!(
                "class ids run from 0 to {}",
                classes.saturating_sub(1)
            )),
        )),
        Err(_) => Err(Box::new(Diagnostic::error(
            loc(),
            "not-a-number",
            format!("class id {:?} is not a non-negative integer", f.text),
        ))),
    }
}

/// Warns (once per value) when a normalised coordinate lies outside `[0, 1]`. The server accepts such
/// values (boxes reaching past the image border), so this is a warning, not an error.
pub fn check_unit(
    diags: &mut Diagnostics,
    file: &str,
    line: u32,
    f: Field<'_>,
    v: f64,
    what: &str,
) {
    if !(-1e-6..=1.0 + 1e-6).contains(&v) {
        diags.push(
            Diagnostic::warning(
                Location::line(file, line, f.col),
                "out-of-range",
                format!("{what} {} is outside [0, 1]", f.text),
            )
            .with_hint("coordinates are fractions of the image width/height"),
        );
    }
}

/// How many header bytes to read to find an image's size.
const HEADER_BYTES: u64 = 256 * 1024;

/// The task's frame list indexed for lookups by file name, item id or base name, with the same
/// precedence as [`ReadOptions::frame_hint`] but without a scan per lookup.
#[derive(Debug, Default)]
pub struct FrameIndex<'a> {
    frames: &'a [Frame],
    by_name: HashMap<&'a str, usize>,
    by_stem: HashMap<&'a str, usize>,
    by_base: HashMap<&'a str, usize>,
}

fn base_name(p: &str) -> &str {
    p.rsplit('/').next().unwrap_or(p)
}

impl<'a> FrameIndex<'a> {
    pub fn new(frames: &'a [Frame]) -> Self {
        let mut idx = FrameIndex {
            frames,
            ..Default::default()
        };
        for (i, f) in frames.iter().enumerate() {
            idx.by_name.entry(f.name.as_str()).or_insert(i);
            idx.by_stem.entry(f.stem()).or_insert(i);
            // a frame answers to the base name of its stem and of its full name
            idx.by_base.entry(base_name(f.stem())).or_insert(i);
            idx.by_base.entry(base_name(&f.name)).or_insert(i);
        }
        idx
    }

    /// The frame named `q` (file name, item id, or either without folders).
    pub fn get(&self, q: &str) -> Option<&'a Frame> {
        let i = self
            .by_name
            .get(q)
            .or_else(|| self.by_stem.get(q))
            .or_else(|| self.by_base.get(base_name(q)))?;
        self.frames.get(*i)
    }
}

/// Image sizes for items: from the task's frame list when given, else from the image file inside the
/// input.
pub struct SizeResolver<'a> {
    pub input: &'a Input,
    frames: FrameIndex<'a>,
}

impl<'a> SizeResolver<'a> {
    pub fn new(input: &'a Input, opts: &'a ReadOptions) -> Self {
        SizeResolver {
            input,
            frames: FrameIndex::new(opts.frames.as_deref().unwrap_or(&[])),
        }
    }

    /// The hint frame for an item (by file name, then item id).
    pub fn hint(&self, item_id: &str, file_name: &str) -> Option<&'a Frame> {
        self.frames
            .get(file_name)
            .or_else(|| self.frames.get(item_id))
    }

    /// `(width, height)` of item `item_id`; `image_rel` is the image path in the input when it may be
    /// there. The error names the image and says how to supply sizes.
    pub fn size(
        &self,
        item_id: &str,
        file_name: &str,
        image_rels: &[String],
    ) -> Result<(u32, u32), FormatError> {
        if let Some(f) = self.hint(item_id, file_name).filter(|f| f.has_size()) {
            return Ok((f.width, f.height));
        }
        for rel in image_rels {
            if !self.input.contains(rel) {
                continue;
            }
            let mut head = Vec::new();
            let read = self.input.open_file(rel).and_then(|r| {
                r.take(HEADER_BYTES)
                    .read_to_end(&mut head)
                    .map_err(|e| FormatError::io(self.input.display(rel), e))
            });
            if read.is_ok() {
                if let Some((w, h)) = image_size(&head).filter(|(w, h)| *w > 0 && *h > 0) {
                    return Ok((w, h));
                }
            }
        }
        Err(FormatError::missing(
            format!(
                "the size of image {file_name:?} is unknown: the labels are normalised to the image \
                 size, and neither the task's frame list nor an image file in the input gives it"
            ),
            "pass the task's frame list (import into a task, or give the frames with their sizes), \
             or put the images beside the labels",
        ))
    }
}

/// Class names of a file mapped onto labels.
pub struct ClassMap {
    /// The labels of the resulting dataset.
    pub labels: Vec<Label>,
    /// Label id per class index (`None`: the name is not a label of the task).
    pub ids: Vec<Option<i64>>,
    pub names: Vec<String>,
}

impl ClassMap {
    /// Maps `names` onto `opts.labels` by name (top-level labels first, then sub-labels) when given;
    /// else creates one label per name (type `kind`) numbered from 1.
    pub fn new(names: &[String], opts: &ReadOptions, kind: LabelType) -> ClassMap {
        match &opts.labels {
            Some(task) => {
                let ids = names
                    .iter()
                    .map(|n| {
                        task.iter()
                            .find(|l| &l.name == n)
                            .or_else(|| {
                                task.iter()
                                    .flat_map(|l| l.sublabels.iter())
                                    .find(|l| &l.name == n)
                            })
                            .map(|l| l.id)
                    })
                    .collect();
                ClassMap {
                    labels: task.clone(),
                    ids,
                    names: names.to_vec(),
                }
            }
            None => {
                let mut labels: Vec<Label> = Vec::new();
                let mut ids = Vec::new();
                for n in names {
                    if let Some(l) = labels.iter().find(|l| &l.name == n) {
                        ids.push(Some(l.id));
                        continue;
                    }
                    let id = labels.len() as i64 + 1;
                    labels.push(Label {
                        id,
                        name: n.clone(),
                        kind,
                        ..Default::default()
                    });
                    ids.push(Some(id));
                }
                ClassMap {
                    labels,
                    ids,
                    names: names.to_vec(),
                }
            }
        }
    }

    /// The label id of class `c`, or an error located at the field.
    pub fn label(&self, c: usize, loc: Location) -> Result<i64, Box<Diagnostic>> {
        match self.ids.get(c).copied().flatten() {
            Some(id) => Ok(id),
            None => Err(Box::new(
                Diagnostic::error(
                    loc,
                    "undeclared-label",
                    format!(
                        "class {c} ({:?}) is not a label of the task",
                        self.names.get(c).map(String::as_str).unwrap_or("")
                    ),
                )
                .with_hint("add the label to the task, or remove its lines"),
            )),
        }
    }
}

/// Frame numbers for items: the hint's frame ids when every item is in the hint, else the position in
/// the name-sorted item list.
pub fn number_frames(items: &mut [ItemFrame], opts: &ReadOptions) {
    items.sort_by(|a, b| a.name.cmp(&b.name));
    let all_hinted = opts.frames.is_some() && items.iter().all(|i| i.hint_id.is_some());
    let mut seen = std::collections::HashSet::new();
    for (i, it) in items.iter_mut().enumerate() {
        it.id = match it.hint_id {
            Some(id) if all_hinted && seen.insert(id) => id,
            _ => i as u32,
        };
    }
}

/// An item while reading: its name, the frame id from the hint, and its final frame number.
#[derive(Debug, Clone)]
pub struct ItemFrame {
    pub name: String,
    pub hint_id: Option<u32>,
    pub id: u32,
    pub width: u32,
    pub height: u32,
    pub subset: Option<String>,
}

/// The first error among `diags` as a `FormatError`, if any.
pub fn first_error(diags: &Diagnostics) -> Option<FormatError> {
    diags
        .items()
        .iter()
        .find(|d| d.severity == Severity::Error)
        .map(|d| FormatError::Invalid(Box::new(d.clone())))
}

/// The item id of an image path relative to its folder: the path without its extension.
pub fn strip_ext(path: &str) -> &str {
    let slash = path.rfind('/').map(|i| i + 1).unwrap_or(0);
    match path[slash..].rfind('.') {
        Some(dot) if dot > 0 => &path[..slash + dot],
        _ => path,
    }
}

/// The extension of a frame name including the dot (`.jpg`), `.jpg` when it has none (as datumaro).
pub fn image_ext(name: &str) -> &str {
    let slash = name.rfind('/').map(|i| i + 1).unwrap_or(0);
    match name[slash..].rfind('.') {
        Some(dot) if dot > 0 => &name[slash + dot..],
        _ => ".jpg",
    }
}

/// Image files next to `stem` (same path, any image extension) present in `input`.
pub fn images_for(input: &Input, stem: &str) -> Vec<String> {
    const EXTS: [&str; 10] = [
        ".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".JPG", ".JPEG", ".PNG", ".BMP",
    ];
    EXTS.iter()
        .map(|e| format!("{stem}{e}"))
        .filter(|p| input.contains(p))
        .collect()
}

/// Label name order the server uses for a label list that includes sub-labels (YOLO 1.1 `obj.names`):
/// each top-level label followed by its sub-labels.
pub fn all_label_names(ds: &Dataset) -> Vec<(i64, &str)> {
    let mut out = Vec::new();
    for l in &ds.labels {
        out.push((l.id, l.name.as_str()));
        for s in &l.sublabels {
            out.push((s.id, s.name.as_str()));
        }
    }
    out
}

/// Counts of what a track contributes, for drop reports: (keyframes, tracks).
pub fn track_is_kind(t: &Track, kind: ShapeType) -> bool {
    t.shapes.first().map(|s| s.kind) == Some(kind)
}

#[cfg(test)]
mod fmt_tests {
    use super::*;

    fn check(v: f64) {
        let mut s = String::new();
        push_fmt6(&mut s, v);
        assert_eq!(s, format!("{v:.6}"), "push_fmt6({v:e})");
    }

    #[test]
    fn push_fmt6_equals_the_exact_formatter() {
        // a deterministic spread of values: fractions of image sizes, near ties, edges, big and negative
        let mut seed = 0x9e3779b97f4a7c15u64;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        for _ in 0..200_000 {
            let a = (next() % 100_000) as f64 / 100.0;
            let b = (next() % 4000 + 1) as f64;
            check(a / b);
            check((next() % 2_000_000) as f64 / 1e6 + 5e-7); // ties in decimal, not in binary
            check(f64::from_bits(next() % 0x4090_0000_0000_0000)); // any double in [0, 1024)
        }
        for v in [
            0.0,
            -0.0,
            0.5,
            1.0,
            0.0000005,
            0.0000015,
            0.1234565,
            999.9999995,
            1e3,
            1e9,
            -1e-9,
            -0.25,
            123456789.5,
            f64::NAN,
            f64::INFINITY,
            f64::MIN_POSITIVE,
        ] {
            check(v);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_keep_columns() {
        let f = fields("  0 0.5\t1");
        assert_eq!(f.len(), 3);
        assert_eq!((f[0].text, f[0].col), ("0", 3));
        assert_eq!((f[1].text, f[1].col), ("0.5", 5));
        assert_eq!((f[2].text, f[2].col), ("1", 9));
    }

    #[test]
    fn interpolation_follows_keyframes_and_stops_at_outside() {
        let k = |frame, x: f64, outside| TrackedShape {
            frame,
            outside,
            points: vec![x, 0.0, x + 10.0, 10.0],
            ..Default::default()
        };
        let m = interpolate_track(
            &[k(0, 0.0, false), k(3, 10.0, false), k(4, 0.0, true)],
            6,
            false,
        );
        assert_eq!(m.keys().copied().collect::<Vec<_>>(), vec![0, 1, 2, 3]);
        assert_eq!(m[&1].points[0], 3.33);
        assert_eq!(m[&2].points[0], 6.67);
        // a track whose last keyframe is visible continues to the end
        let m = interpolate_track(&[k(1, 0.0, false)], 4, false);
        assert_eq!(m.keys().copied().collect::<Vec<_>>(), vec![1, 2, 3]);
    }

    #[test]
    fn frame_index_agrees_with_frame_hint() {
        let f = |id, name: &str| Frame {
            id,
            name: name.into(),
            ..Default::default()
        };
        let frames = vec![f(0, "a/x.jpg"), f(1, "y.png"), f(2, "b/x.jpg"), f(3, "z")];
        let opts = ReadOptions::default().with_frames(frames.clone());
        let idx = FrameIndex::new(&frames);
        for q in [
            "a/x.jpg", "a/x", "x", "x.jpg", "y", "y.png", "c/y.png", "b/x", "z", "w", "q/z",
        ] {
            assert_eq!(
                idx.get(q).map(|f| f.id),
                opts.frame_hint(q).map(|f| f.id),
                "{q}"
            );
        }
    }

    #[test]
    fn angle_difference_takes_the_short_way() {
        assert_eq!(angle_diff(10.0, 350.0), 20.0);
        assert_eq!(angle_diff(350.0, 10.0), -20.0);
    }
}
