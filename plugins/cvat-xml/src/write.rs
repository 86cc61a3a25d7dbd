//! The two CVAT XML writers ("CVAT for images 1.1" and "CVAT for video 1.1"), byte-compatible with the
//! server's SAX writer (`cvat/apps/dataset_manager/formats/cvat.py`): 2-space indentation, every element
//! opened and closed explicitly, `{:.2f}` numbers, attributes in the server's order.
//!
//! Output is produced straight into a byte buffer that is handed to the sink in large blocks; numbers
//! are formatted without going through `String`, and text is escaped only when it needs to be.

use crate::interp::{interpolated_shapes, IShape, InterpIssues};
use cvat_format_api::{
    AttributeValue, Dataset, DropReport, FormatError, Frame, Label, LabelIndex, Result, Shape,
    ShapeType, Source, Track, WriteOptions,
};
use std::collections::HashMap;
use std::io::Write;

const FLUSH_AT: usize = 1 << 18;

/// A byte buffer that drains into the sink's writer when it grows large.
pub(crate) struct Out<'w> {
    pub buf: Vec<u8>,
    w: &'w mut dyn Write,
    name: &'static str,
}

impl<'w> Out<'w> {
    fn new(w: &'w mut dyn Write, name: &'static str) -> Self {
        Out {
            buf: Vec::with_capacity(FLUSH_AT + 4096),
            w,
            name,
        }
    }
    fn maybe_flush(&mut self) -> Result<()> {
        if self.buf.len() >= FLUSH_AT {
            self.flush()?;
        }
        Ok(())
    }
    fn flush(&mut self) -> Result<()> {
        self.w
            .write_all(&self.buf)
            .map_err(|e| FormatError::io(self.name, e))?;
        self.buf.clear();
        Ok(())
    }
    fn finish(mut self) -> Result<()> {
        self.flush()?;
        self.w.flush().map_err(|e| FormatError::io(self.name, e))
    }
    #[inline]
    fn raw(&mut self, s: &str) {
        self.buf.extend_from_slice(s.as_bytes());
    }
    #[inline]
    fn indent(&mut self, level: usize) {
        self.buf.push(b'\n');
        for _ in 0..level {
            self.buf.extend_from_slice(b"  ");
        }
    }
    /// `\n<indent><name`
    #[inline]
    fn open(&mut self, level: usize, name: &str) {
        self.indent(level);
        self.buf.push(b'<');
        self.raw(name);
    }
    #[inline]
    fn close(&mut self, level: usize, name: &str) {
        self.indent(level);
        self.buf.extend_from_slice(b"</");
        self.raw(name);
        self.buf.push(b'>');
    }
    /// ` key="value"` with the value escaped.
    #[inline]
    fn attr(&mut self, key: &str, value: &str) {
        self.buf.push(b' ');
        self.raw(key);
        self.buf.extend_from_slice(b"=\"");
        escape_attr(&mut self.buf, value);
        self.buf.push(b'"');
    }
    #[inline]
    fn attr_f2(&mut self, key: &str, v: f64) {
        self.buf.push(b' ');
        self.raw(key);
        self.buf.extend_from_slice(b"=\"");
        push_f2(&mut self.buf, v);
        self.buf.push(b'"');
    }
    #[inline]
    fn attr_int(&mut self, key: &str, v: impl itoa::Integer) {
        self.buf.push(b' ');
        self.raw(key);
        self.buf.extend_from_slice(b"=\"");
        let mut b = itoa::Buffer::new();
        self.buf.extend_from_slice(b.format(v).as_bytes());
        self.buf.push(b'"');
    }
    #[inline]
    fn attr_bool(&mut self, key: &str, v: bool) {
        self.buf.push(b' ');
        self.raw(key);
        self.buf
            .extend_from_slice(if v { b"=\"1\"" } else { b"=\"0\"" });
    }
    /// `\n<indent><name>text</name>`
    fn text_elem(&mut self, level: usize, name: &str, text: &str) {
        self.open(level, name);
        self.buf.push(b'>');
        escape_text(&mut self.buf, text);
        self.buf.extend_from_slice(b"</");
        self.raw(name);
        self.buf.push(b'>');
    }
}

/// Escapes an attribute value as Python's `quoteattr` does (always with double quotes).
pub(crate) fn escape_attr(out: &mut Vec<u8>, s: &str) {
    let b = s.as_bytes();
    if !b
        .iter()
        .any(|c| matches!(c, b'&' | b'<' | b'>' | b'"' | b'\n' | b'\r' | b'\t'))
    {
        out.extend_from_slice(b);
        return;
    }
    for &c in b {
        match c {
            b'&' => out.extend_from_slice(b"&amp;"),
            b'<' => out.extend_from_slice(b"&lt;"),
            b'>' => out.extend_from_slice(b"&gt;"),
            b'"' => out.extend_from_slice(b"&quot;"),
            b'\n' => out.extend_from_slice(b"&#10;"),
            b'\r' => out.extend_from_slice(b"&#13;"),
            b'\t' => out.extend_from_slice(b"&#9;"),
            c => out.push(c),
        }
    }
}

/// Escapes character data as Python's `XMLGenerator.characters` does.
pub(crate) fn escape_text(out: &mut Vec<u8>, s: &str) {
    let b = s.as_bytes();
    if !b.iter().any(|c| matches!(c, b'&' | b'<' | b'>')) {
        out.extend_from_slice(b);
        return;
    }
    for &c in b {
        match c {
            b'&' => out.extend_from_slice(b"&amp;"),
            b'<' => out.extend_from_slice(b"&lt;"),
            b'>' => out.extend_from_slice(b"&gt;"),
            c => out.push(c),
        }
    }
}

/// Appends `v` formatted as Python's `"{:.2f}".format(v)`. Values whose hundredfold is not close to a
/// rounding tie take an integer fast path; the rest go through the exact formatter.
pub(crate) fn push_f2(out: &mut Vec<u8>, v: f64) {
    let a = v.abs();
    if a < 1e9 {
        let s = a * 100.0;
        let r = s.round();
        if (s - r).abs() < 0.49 {
            let n = r as u64;
            if v.is_sign_negative() {
                out.push(b'-');
            }
            let mut b = itoa::Buffer::new();
            out.extend_from_slice(b.format(n / 100).as_bytes());
            let c = (n % 100) as u8;
            out.extend_from_slice(&[b'.', b'0' + c / 10, b'0' + c % 10]);
            return;
        }
    }
    if v.is_nan() {
        out.extend_from_slice(b"nan");
    } else if v.is_infinite() {
        out.extend_from_slice(if v > 0.0 { b"inf" } else { b"-inf" });
    } else {
        let _ = write!(out, "{v:.2}");
    }
}

/// Python's `int(v)` for the mask fields (truncation toward zero).
fn py_int(v: f64) -> i64 {
    if v.is_finite() {
        v.trunc() as i64
    } else {
        0
    }
}

/// Whether `points` has the shape the writer needs for `kind` (the server would crash otherwise).
fn writable(kind: ShapeType, points: &[f64]) -> bool {
    match kind {
        ShapeType::Rectangle | ShapeType::Ellipse => points.len() == 4,
        ShapeType::Cuboid => points.len() == 16,
        ShapeType::Mask => points.len() >= 5,
        ShapeType::Polygon | ShapeType::Polyline | ShapeType::Points => {
            points.len().is_multiple_of(2)
        }
        ShapeType::Skeleton => true,
    }
}

fn tag_name(kind: ShapeType) -> &'static str {
    match kind {
        ShapeType::Rectangle => "box",
        ShapeType::Polygon => "polygon",
        ShapeType::Polyline => "polyline",
        ShapeType::Points => "points",
        ShapeType::Ellipse => "ellipse",
        ShapeType::Cuboid => "cuboid",
        ShapeType::Mask => "mask",
        ShapeType::Skeleton => "skeleton",
    }
}

const CUBOID_KEYS: [&str; 16] = [
    "xtl1", "ytl1", "xbl1", "ybl1", "xtr1", "ytr1", "xbr1", "ybr1", "xtl2", "ytl2", "xbl2", "ybl2",
    "xtr2", "ytr2", "xbr2", "ybr2",
];

/// The geometry attributes of a shape (plus `rotation` where the server writes it).
fn geometry(o: &mut Out, kind: ShapeType, p: &[f64], rotation: f64) {
    match kind {
        ShapeType::Rectangle => {
            o.attr_f2("xtl", p[0]);
            o.attr_f2("ytl", p[1]);
            o.attr_f2("xbr", p[2]);
            o.attr_f2("ybr", p[3]);
            if rotation != 0.0 {
                o.attr_f2("rotation", rotation);
            }
        }
        ShapeType::Ellipse => {
            o.attr_f2("cx", p[0]);
            o.attr_f2("cy", p[1]);
            o.attr_f2("rx", p[2] - p[0]);
            o.attr_f2("ry", p[1] - p[3]);
            if rotation != 0.0 {
                o.attr_f2("rotation", rotation);
            }
        }
        ShapeType::Cuboid => {
            for (k, v) in CUBOID_KEYS.iter().zip(p) {
                o.attr_f2(k, *v);
            }
        }
        ShapeType::Mask => {
            let n = p.len();
            let (runs, bbox) = p.split_at(n - 4);
            o.buf.extend_from_slice(b" rle=\"");
            let mut b = itoa::Buffer::new();
            for (i, r) in runs.iter().enumerate() {
                if i > 0 {
                    o.buf.extend_from_slice(b", ");
                }
                o.buf.extend_from_slice(b.format(py_int(*r)).as_bytes());
            }
            o.buf.push(b'"');
            o.attr_int("left", py_int(bbox[0]));
            o.attr_int("top", py_int(bbox[1]));
            o.attr_int("width", py_int(bbox[2] - bbox[0]).saturating_add(1));
            o.attr_int("height", py_int(bbox[3] - bbox[1]).saturating_add(1));
        }
        ShapeType::Skeleton => {}
        ShapeType::Polygon | ShapeType::Polyline | ShapeType::Points => {
            o.buf.extend_from_slice(b" points=\"");
            for (i, c) in p.chunks_exact(2).enumerate() {
                if i > 0 {
                    o.buf.push(b';');
                }
                push_f2(&mut o.buf, c[0]);
                o.buf.push(b',');
                push_f2(&mut o.buf, c[1]);
            }
            o.buf.push(b'"');
        }
    }
}

/// Counts of what was left out, turned into the drop report at the end.
#[derive(Default)]
struct Drops {
    report: DropReport,
    unknown_attr: usize,
    bad_geometry: usize,
    off_frame: usize,
    unknown_label: usize,
}

impl Drops {
    fn finish(mut self, issues: InterpIssues) -> DropReport {
        self.report.add(
            "attribute values whose spec id is not declared by the label list",
            self.unknown_attr,
        );
        self.report.add(
            "shapes with a point list that does not fit their type",
            self.bad_geometry,
        );
        self.report.add(
            "annotations on frames not in the frame list",
            self.off_frame,
        );
        self.report.add(
            "annotations with an undeclared label id",
            self.unknown_label,
        );
        self.report.add(
            "track keyframes on a frame an earlier keyframe already has",
            issues.duplicate_keyframes,
        );
        self.report.add(
            "track segments between keyframes of different types or point counts (not interpolated; the earlier keyframe is repeated)",
            issues.not_interpolable,
        );
        self.report
    }
}

/// Everything the writers need to know about the task's frame numbering.
pub(crate) struct Frames<'a> {
    /// Frames sorted by id.
    pub list: Vec<Frame>,
    pub start: i64,
    pub step: i64,
    /// Relative end (exclusive) for interpolation: the task size.
    pub end: u32,
    /// Absolute stop frame.
    pub stop_abs: i64,
    _p: std::marker::PhantomData<&'a ()>,
}

impl Frames<'_> {
    pub fn new(ds: &Dataset, opts: &WriteOptions) -> Self {
        let mut list = ds.frames.clone();
        list.sort_by_key(|f| f.id);
        list.dedup_by_key(|f| f.id);
        if list.is_empty() {
            // no frame list: the frames the annotations use
            let mut used: Vec<u32> = ds
                .tags
                .iter()
                .map(|t| t.frame)
                .chain(ds.shapes.iter().map(|s| s.frame))
                .chain(
                    ds.tracks
                        .iter()
                        .flat_map(|t| t.shapes.iter().map(|s| s.frame)),
                )
                .collect();
            used.sort_unstable();
            used.dedup();
            list = used
                .into_iter()
                .map(|i| Frame {
                    id: i,
                    name: format!("frame_{i:06}"),
                    ..Default::default()
                })
                .collect();
        }
        let end = list.last().map(|f| f.id.saturating_add(1)).unwrap_or(0);
        let meta = ds.task.as_ref();
        let start = meta.map(|t| t.start_frame).unwrap_or(0);
        let step = opts
            .frame_step
            .map(|s| s.max(1) as i64)
            .or_else(|| meta.and_then(|t| parse_step(&t.frame_filter)))
            .unwrap_or(1);
        let stop_abs = match meta {
            Some(t) if t.stop_frame > 0 || t.start_frame > 0 => t.stop_frame,
            _ => start.saturating_add((end as i64 - 1).max(0).saturating_mul(step)),
        };
        Frames {
            list,
            start,
            step,
            end,
            stop_abs,
            _p: std::marker::PhantomData,
        }
    }
    pub fn abs(&self, rel: u32) -> i64 {
        self.start
            .saturating_add((rel as i64).saturating_mul(self.step))
    }
    fn has(&self, rel: u32) -> bool {
        self.list.binary_search_by_key(&rel, |f| f.id).is_ok()
    }
}

/// `step=N` of a frame filter.
pub(crate) fn parse_step(filter: &str) -> Option<i64> {
    filter
        .split(',')
        .filter_map(|p| p.trim().strip_prefix("step="))
        .find_map(|v| v.trim().parse::<i64>().ok())
        .filter(|s| *s > 0)
}

/// The current time as the server writes `<dumped>` (UTC).
fn now_string() -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let secs = now.as_secs() as i64;
    let micros = now.subsec_micros();
    let days = secs.div_euclid(86400);
    let tod = secs.rem_euclid(86400);
    // civil from days (Howard Hinnant)
    let z = days + 719468;
    let era = z.div_euclid(146097);
    let doe = z - era * 146097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = if m <= 2 { y + 1 } else { y };
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}.{micros:06}+00:00",
        tod / 3600,
        (tod % 3600) / 60,
        tod % 60
    )
}

/// Labels as the server lists them in `<meta>`: every label and sub-label, ordered by id, sub-labels
/// carrying `<parent>`.
fn flat_labels(labels: &[Label]) -> Vec<(&Label, Option<&Label>)> {
    let mut all: Vec<(&Label, Option<&Label>)> = Vec::new();
    for l in labels {
        all.push((l, None));
        for s in &l.sublabels {
            all.push((s, Some(l)));
        }
    }
    all.sort_by_key(|(l, _)| l.id);
    all
}

fn write_meta(o: &mut Out, ds: &Dataset, frames: &Frames, video: bool) {
    let meta = ds.task.clone().unwrap_or_default();
    o.open(1, "meta");
    o.buf.push(b'>');
    o.open(2, "task");
    o.buf.push(b'>');
    let size = frames.list.len().to_string();
    if let Some(id) = meta.id {
        o.text_elem(3, "id", &id.to_string());
    }
    o.text_elem(3, "name", &meta.name);
    o.text_elem(3, "size", &size);
    let mode = if meta.mode.is_empty() {
        if video {
            "interpolation"
        } else {
            "annotation"
        }
    } else {
        meta.mode.as_str()
    };
    o.text_elem(3, "mode", mode);
    o.text_elem(3, "overlap", &meta.overlap.to_string());
    o.text_elem(3, "bugtracker", &meta.bug_tracker);
    o.text_elem(3, "created", &meta.created);
    o.text_elem(3, "updated", &meta.updated);
    o.text_elem(
        3,
        "subset",
        if meta.subset.is_empty() {
            "default"
        } else {
            &meta.subset
        },
    );
    o.text_elem(3, "start_frame", &frames.start.to_string());
    o.text_elem(3, "stop_frame", &frames.stop_abs.to_string());
    o.text_elem(3, "frame_filter", &meta.frame_filter);
    o.open(3, "segments");
    o.buf.push(b'>');
    for s in &meta.segments {
        o.open(4, "segment");
        o.buf.push(b'>');
        o.text_elem(5, "id", &s.id.to_string());
        o.text_elem(5, "start", &s.start.to_string());
        o.text_elem(5, "stop", &s.stop.to_string());
        o.text_elem(5, "url", &s.url);
        o.close(4, "segment");
    }
    o.close(3, "segments");
    for (key, user) in [("owner", &meta.owner), ("assignee", &meta.assignee)] {
        match user {
            Some(u) => {
                o.open(3, key);
                o.buf.push(b'>');
                o.text_elem(4, "username", &u.username);
                o.text_elem(4, "email", &u.email);
                o.close(3, key);
            }
            None => o.text_elem(3, key, ""),
        }
    }
    o.open(3, "labels");
    o.buf.push(b'>');
    for (l, parent) in flat_labels(&ds.labels) {
        o.open(4, "label");
        o.buf.push(b'>');
        o.text_elem(5, "name", &l.name);
        o.text_elem(5, "color", &l.color);
        o.text_elem(5, "type", l.kind.as_str());
        o.open(5, "attributes");
        o.buf.push(b'>');
        for a in &l.attributes {
            o.open(6, "attribute");
            o.buf.push(b'>');
            o.text_elem(7, "name", &a.name);
            o.text_elem(7, "mutable", if a.mutable { "True" } else { "False" });
            o.text_elem(7, "input_type", a.input_type.as_str());
            o.text_elem(7, "default_value", &a.default_value);
            o.text_elem(7, "values", &a.values.join("\n"));
            o.close(6, "attribute");
        }
        o.close(5, "attributes");
        if let Some(p) = parent {
            o.text_elem(5, "parent", &p.name);
        }
        if l.kind == cvat_format_api::LabelType::Skeleton || !l.svg.is_empty() {
            let mut svg = l.svg.clone();
            for s in &l.sublabels {
                svg = svg.replace(
                    &format!("data-label-id=\"{}\"", s.id),
                    &format!("data-label-name=\"{}\"", s.name),
                );
            }
            o.text_elem(5, "svg", &svg);
        }
        o.close(4, "label");
    }
    o.close(3, "labels");
    if let Some((w, h)) = meta.original_size {
        o.open(3, "original_size");
        o.buf.push(b'>');
        o.text_elem(4, "width", &w.to_string());
        o.text_elem(4, "height", &h.to_string());
        o.close(3, "original_size");
    }
    if let Some(src) = &meta.source {
        o.text_elem(3, "source", src);
    }
    o.close(2, "task");
    o.text_elem(2, "dumped", &now_string());
    o.close(1, "meta");
}

fn open_doc(o: &mut Out) {
    o.raw("<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<annotations>");
    o.text_elem(1, "version", "1.1");
}

fn close_doc(o: &mut Out) {
    o.raw("\n</annotations>\n");
}

/// Attribute children: `<attribute name="...">value</attribute>`.
fn write_attrs<'a>(
    o: &mut Out,
    level: usize,
    idx: &LabelIndex,
    attrs: impl Iterator<Item = &'a AttributeValue>,
    drops: &mut Drops,
) {
    for a in attrs {
        match idx.spec(a.spec_id) {
            Some(spec) => {
                o.open(level, "attribute");
                o.attr("name", &spec.name);
                o.buf.push(b'>');
                escape_text(&mut o.buf, &a.value);
                o.buf.extend_from_slice(b"</attribute>");
            }
            None => drops.unknown_attr += 1,
        }
    }
}

/// A shape of the images flavour: a plain shape or a frame of a track.
struct FlatShape<'a> {
    label: &'a str,
    source: &'a str,
    kind: ShapeType,
    occluded: bool,
    outside: bool,
    z_order: i64,
    rotation: f64,
    points: &'a [f64],
    group: i64,
}

#[allow(clippy::too_many_arguments)]
fn write_flat_shape<'a>(
    o: &mut Out,
    level: usize,
    s: &FlatShape,
    element: bool,
    idx: &LabelIndex,
    attrs: impl Iterator<Item = &'a AttributeValue>,
    drops: &mut Drops,
    children: &mut dyn FnMut(&mut Out, &mut Drops),
) {
    let tag = tag_name(s.kind);
    o.open(level, tag);
    o.attr("label", s.label);
    o.attr("source", s.source);
    if element {
        o.attr_bool("outside", s.outside);
    }
    if s.kind != ShapeType::Skeleton {
        o.attr_bool("occluded", s.occluded);
    }
    geometry(o, s.kind, s.points, s.rotation);
    if !element {
        o.attr_int("z_order", s.z_order);
    }
    if s.group != 0 {
        o.attr_int("group_id", s.group);
    }
    o.buf.push(b'>');
    children(o, drops);
    write_attrs(o, level + 1, idx, attrs, drops);
    o.close(level, tag);
}

/// One frame of a track in the images flavour, with its skeleton elements.
struct TrackFrame<'a> {
    track: &'a Track,
    shape: IShape<'a>,
    elements: Vec<(&'a Track, IShape<'a>)>,
}

fn source_str(s: &Source) -> &str {
    s.as_str()
}

/// Writes "CVAT for images 1.1".
pub(crate) fn write_images(
    ds: &Dataset,
    w: &mut dyn Write,
    opts: &WriteOptions,
) -> Result<DropReport> {
    let idx = ds.label_index();
    let frames = Frames::new(ds, opts);
    let frame_ids: Vec<u32> = frames.list.iter().map(|f| f.id).collect();
    let mut drops = Drops::default();
    let mut issues = InterpIssues::default();

    // flatten tracks
    let mut tracked: Vec<TrackFrame> = Vec::new();
    for t in &ds.tracks {
        if idx.label(t.label_id).is_none() {
            drops.unknown_label += 1;
            continue;
        }
        let shapes = interpolated_shapes(t, &frame_ids, frames.end, false, &mut issues);
        if t.elements.is_empty() {
            tracked.extend(shapes.into_iter().map(|shape| TrackFrame {
                track: t,
                shape,
                elements: Vec::new(),
            }));
            continue;
        }
        let mut by_frame: HashMap<u32, usize> = HashMap::new();
        let mut tf: Vec<TrackFrame> = shapes
            .into_iter()
            .enumerate()
            .map(|(i, shape)| {
                by_frame.insert(shape.frame, i);
                TrackFrame {
                    track: t,
                    shape,
                    elements: Vec::new(),
                }
            })
            .collect();
        for e in &t.elements {
            for es in interpolated_shapes(e, &frame_ids, frames.end, true, &mut issues) {
                if let Some(&i) = by_frame.get(&es.frame) {
                    tf[i].elements.push((e, es));
                }
            }
        }
        tf.retain(|f| f.elements.is_empty() || !f.elements.iter().all(|(_, e)| e.outside));
        tracked.extend(tf);
    }
    tracked.retain(|t| !t.shape.outside);

    // order: by frame, then z_order, then shapes before track frames in dataset order (stable)
    let n_shapes = ds.shapes.len();
    let mut order: Vec<(u32, i64, u32)> = Vec::with_capacity(n_shapes + tracked.len());
    for (i, s) in ds.shapes.iter().enumerate() {
        order.push((s.frame, s.z_order, i as u32));
    }
    for (i, t) in tracked.iter().enumerate() {
        order.push((t.shape.frame, t.shape.z_order, (n_shapes + i) as u32));
    }
    order.sort_by_key(|e| (e.0, e.1));
    let mut tags: Vec<(u32, u32)> = ds
        .tags
        .iter()
        .enumerate()
        .map(|(i, t)| (t.frame, i as u32))
        .collect();
    tags.sort_by_key(|e| e.0);

    for &(f, _, _) in &order {
        if !frames.has(f) {
            drops.off_frame += 1;
        }
    }
    for &(f, _) in &tags {
        if !frames.has(f) {
            drops.off_frame += 1;
        }
    }

    let mut o = Out::new(w, "annotations.xml");
    open_doc(&mut o);
    write_meta(&mut o, ds, &frames, false);
    let (mut oi, mut ti) = (0usize, 0usize);
    let mut ib = itoa::Buffer::new();
    for fr in &frames.list {
        o.open(1, "image");
        o.attr("id", ib.format(frames.abs(fr.id)));
        o.attr("name", &fr.name);
        o.attr_int("width", fr.width);
        o.attr_int("height", fr.height);
        o.buf.push(b'>');
        while oi < order.len() && order[oi].0 < fr.id {
            oi += 1;
        }
        while oi < order.len() && order[oi].0 == fr.id {
            let i = order[oi].2 as usize;
            oi += 1;
            if i < n_shapes {
                write_plain_shape(&mut o, &ds.shapes[i], &idx, &mut drops);
            } else {
                write_track_frame(&mut o, &tracked[i - n_shapes], &idx, &mut drops);
            }
        }
        while ti < tags.len() && tags[ti].0 < fr.id {
            ti += 1;
        }
        while ti < tags.len() && tags[ti].0 == fr.id {
            let t = &ds.tags[tags[ti].1 as usize];
            ti += 1;
            let Some(label) = idx.label(t.label_id) else {
                drops.unknown_label += 1;
                continue;
            };
            o.open(2, "tag");
            o.attr("label", &label.name);
            o.attr("source", source_str(&t.source));
            if t.group != 0 {
                o.attr_int("group_id", t.group);
            }
            o.buf.push(b'>');
            write_attrs(&mut o, 3, &idx, t.attributes.iter(), &mut drops);
            o.close(2, "tag");
        }
        o.close(1, "image");
        o.maybe_flush()?;
    }
    close_doc(&mut o);
    o.finish()?;
    Ok(drops.finish(issues))
}

fn write_plain_shape(o: &mut Out, s: &Shape, idx: &LabelIndex, drops: &mut Drops) {
    let Some(label) = idx.label(s.label_id) else {
        drops.unknown_label += 1;
        return;
    };
    if !writable(s.kind, &s.points) {
        drops.bad_geometry += 1;
        return;
    }
    let flat = FlatShape {
        label: &label.name,
        source: s.source.as_str(),
        kind: s.kind,
        occluded: s.occluded,
        outside: s.outside,
        z_order: s.z_order,
        rotation: s.rotation,
        points: &s.points,
        group: s.group,
    };
    let mut children = |o: &mut Out, drops: &mut Drops| {
        for e in &s.elements {
            let Some(el) = idx.label(e.label_id) else {
                drops.unknown_label += 1;
                continue;
            };
            if !writable(e.kind, &e.points) || e.kind == ShapeType::Skeleton {
                drops.bad_geometry += 1;
                continue;
            }
            let ef = FlatShape {
                label: &el.name,
                source: e.source.as_str(),
                kind: e.kind,
                occluded: e.occluded,
                outside: e.outside,
                z_order: e.z_order,
                rotation: e.rotation,
                points: &e.points,
                group: e.group,
            };
            write_flat_shape(
                o,
                3,
                &ef,
                true,
                idx,
                e.attributes.iter(),
                drops,
                &mut |_, _| {},
            );
        }
    };
    write_flat_shape(
        o,
        2,
        &flat,
        false,
        idx,
        s.attributes.iter(),
        drops,
        &mut children,
    );
}

fn write_track_frame(o: &mut Out, t: &TrackFrame, idx: &LabelIndex, drops: &mut Drops) {
    let Some(label) = idx.label(t.track.label_id) else {
        drops.unknown_label += 1;
        return;
    };
    let s = &t.shape;
    if !writable(s.kind, &s.points) {
        drops.bad_geometry += 1;
        return;
    }
    let flat = FlatShape {
        label: &label.name,
        source: t.track.source.as_str(),
        kind: s.kind,
        occluded: s.occluded,
        outside: false,
        z_order: s.z_order,
        rotation: s.rotation,
        points: &s.points,
        group: t.track.group,
    };
    let mut children = |o: &mut Out, drops: &mut Drops| {
        for (et, es) in &t.elements {
            let Some(el) = idx.label(et.label_id) else {
                drops.unknown_label += 1;
                continue;
            };
            if !writable(es.kind, &es.points) || es.kind == ShapeType::Skeleton {
                drops.bad_geometry += 1;
                continue;
            }
            let ef = FlatShape {
                label: &el.name,
                source: et.source.as_str(),
                kind: es.kind,
                occluded: es.occluded,
                outside: es.outside,
                z_order: es.z_order,
                rotation: es.rotation,
                points: &es.points,
                group: et.group,
            };
            write_flat_shape(
                o,
                3,
                &ef,
                true,
                idx,
                es.attrs.iter().copied().chain(et.attributes.iter()),
                drops,
                &mut |_, _| {},
            );
        }
    };
    write_flat_shape(
        o,
        2,
        &flat,
        false,
        idx,
        s.attrs.iter().copied().chain(t.track.attributes.iter()),
        drops,
        &mut children,
    );
}

/// A shape of the video flavour, with its attributes (mutable then immutable).
struct VShape<'a> {
    frame: u32,
    keyframe: bool,
    outside: bool,
    occluded: bool,
    z_order: i64,
    rotation: f64,
    kind: ShapeType,
    points: &'a [f64],
    attrs: Vec<&'a AttributeValue>,
}

impl<'a> VShape<'a> {
    fn from_interp(s: &'a IShape<'a>, track_attrs: &'a [AttributeValue]) -> Self {
        VShape {
            frame: s.frame,
            keyframe: s.keyframe,
            outside: s.outside,
            occluded: s.occluded,
            z_order: s.z_order,
            rotation: s.rotation,
            kind: s.kind,
            points: &s.points,
            attrs: s.attrs.iter().copied().chain(track_attrs.iter()).collect(),
        }
    }
}

/// One `<track>` of the video flavour: its shapes and, for skeletons, its element tracks' shapes.
struct VTrack<'a> {
    label: &'a str,
    source: &'a str,
    group: i64,
    shapes: Vec<VShape<'a>>,
    /// (element label, shapes)
    elements: Vec<(&'a str, Vec<VShape<'a>>)>,
}

#[allow(clippy::too_many_arguments)]
fn write_vshape(
    o: &mut Out,
    level: usize,
    s: &VShape,
    frames: &Frames,
    element_label: Option<&str>,
    elements: &[(&str, &VShape)],
    idx: &LabelIndex,
    drops: &mut Drops,
) {
    if !writable(s.kind, s.points) {
        drops.bad_geometry += 1;
        return;
    }
    let tag = tag_name(s.kind);
    if s.kind == ShapeType::Skeleton && elements.is_empty() {
        return;
    }
    o.open(level, tag);
    match element_label {
        None => {
            o.buf.extend_from_slice(b" frame=\"");
            let mut b = itoa::Buffer::new();
            o.buf
                .extend_from_slice(b.format(frames.abs(s.frame)).as_bytes());
            o.buf.push(b'"');
        }
        Some(l) => o.attr("label", l),
    }
    o.attr_bool("keyframe", s.keyframe);
    if s.kind != ShapeType::Skeleton {
        o.attr_bool("outside", s.outside);
        o.attr_bool("occluded", s.occluded);
    }
    geometry(o, s.kind, s.points, s.rotation);
    if element_label.is_none() {
        o.attr_int("z_order", s.z_order);
    }
    o.buf.push(b'>');
    for (label, e) in elements {
        write_vshape(o, level + 1, e, frames, Some(label), &[], idx, drops);
    }
    write_attrs(o, level + 1, idx, s.attrs.iter().copied(), drops);
    o.close(level, tag);
}

fn write_vtrack(
    o: &mut Out,
    id: usize,
    t: &VTrack,
    frames: &Frames,
    idx: &LabelIndex,
    drops: &mut Drops,
) {
    o.open(1, "track");
    o.attr_int("id", id);
    o.attr("label", t.label);
    o.attr("source", t.source);
    if t.group != 0 {
        o.attr_int("group_id", t.group);
    }
    o.buf.push(b'>');
    let mut by_frame: HashMap<u32, Vec<(&str, &VShape)>> = HashMap::new();
    for (label, shapes) in &t.elements {
        for s in shapes {
            by_frame.entry(s.frame).or_default().push((label, s));
        }
    }
    for s in &t.shapes {
        let els = by_frame.get(&s.frame).map(|v| v.as_slice()).unwrap_or(&[]);
        write_vshape(o, 2, s, frames, None, els, idx, drops);
    }
    o.close(1, "track");
}

/// Writes "CVAT for video 1.1".
pub(crate) fn write_video(
    ds: &Dataset,
    w: &mut dyn Write,
    opts: &WriteOptions,
) -> Result<DropReport> {
    let idx = ds.label_index();
    let frames = Frames::new(ds, opts);
    let frame_ids: Vec<u32> = frames.list.iter().map(|f| f.id).collect();
    let mut drops = Drops::default();
    let mut issues = InterpIssues::default();
    drops
        .report
        .add("tags (CVAT for video has no tags)", ds.tags.len());
    drops.report.add(
        "mask tracks (written, but the CVAT 1.1 importer keeps only their first keyframe, as a shape)",
        ds.tracks
            .iter()
            .filter(|t| t.shapes.first().map(|s| s.kind) == Some(ShapeType::Mask))
            .filter(|t| t.shapes.iter().filter(|s| !s.outside).count() > 1)
            .count(),
    );

    let mut o = Out::new(w, "annotations.xml");
    open_doc(&mut o);
    write_meta(&mut o, ds, &frames, true);
    let mut counter = 0usize;
    for t in &ds.tracks {
        let Some(label) = idx.label(t.label_id) else {
            drops.unknown_label += 1;
            continue;
        };
        let shapes = interpolated_shapes(t, &frame_ids, frames.end, false, &mut issues);
        let elem_shapes: Vec<(&str, Vec<IShape>)> = t
            .elements
            .iter()
            .filter_map(|e| {
                let l = idx.label(e.label_id);
                if l.is_none() {
                    drops.unknown_label += 1;
                }
                l.map(|l| {
                    (
                        l.name.as_str(),
                        interpolated_shapes(e, &frame_ids, frames.end, false, &mut issues),
                    )
                })
            })
            .collect();
        let vt = VTrack {
            label: &label.name,
            source: t.source.as_str(),
            group: t.group,
            shapes: shapes
                .iter()
                .map(|s| VShape::from_interp(s, &t.attributes))
                .collect(),
            elements: elem_shapes
                .iter()
                .zip(&t.elements)
                .map(|((l, shapes), e)| {
                    (
                        *l,
                        shapes
                            .iter()
                            .map(|s| VShape::from_interp(s, &e.attributes))
                            .collect(),
                    )
                })
                .collect(),
        };
        write_vtrack(&mut o, counter, &vt, &frames, &idx, &mut drops);
        counter += 1;
        o.maybe_flush()?;
    }
    let step = frames.step;
    for s in &ds.shapes {
        let Some(label) = idx.label(s.label_id) else {
            drops.unknown_label += 1;
            continue;
        };
        let closes = |frame: u32| frames.abs(frame).saturating_add(step) < frames.stop_abs;
        fn make(frame: u32, outside: bool, e: &Shape) -> VShape<'_> {
            VShape {
                frame,
                keyframe: true,
                outside,
                occluded: e.occluded,
                z_order: e.z_order,
                rotation: e.rotation,
                kind: e.kind,
                points: &e.points,
                attrs: e.attributes.iter().collect(),
            }
        }
        // the closing frame is one task frame later (`frame_step` absolute frames)
        let next = s.frame.saturating_add(1);
        let mut shapes = vec![make(s.frame, false, s)];
        if closes(s.frame) {
            shapes.push(make(next, true, s));
        }
        let mut elements = Vec::new();
        for e in &s.elements {
            let Some(el) = idx.label(e.label_id) else {
                drops.unknown_label += 1;
                continue;
            };
            let mut es = vec![make(s.frame, e.outside, e)];
            if closes(s.frame) {
                es.push(make(next, true, e));
            }
            elements.push((el.name.as_str(), es));
        }
        let vt = VTrack {
            label: &label.name,
            source: s.source.as_str(),
            group: s.group,
            shapes,
            elements,
        };
        write_vtrack(&mut o, counter, &vt, &frames, &idx, &mut drops);
        counter += 1;
        o.maybe_flush()?;
    }
    close_doc(&mut o);
    o.finish()?;
    Ok(drops.finish(issues))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f2(v: f64) -> String {
        let mut b = Vec::new();
        push_f2(&mut b, v);
        String::from_utf8(b).unwrap()
    }

    #[test]
    fn two_decimals_like_python() {
        // expected values from Python's "{:.2f}".format(v)
        assert_eq!(f2(50.0), "50.00");
        assert_eq!(f2(250.5), "250.50");
        assert_eq!(f2(550.125), "550.12");
        assert_eq!(f2(203.33333333333334), "203.33");
        assert_eq!(f2(2.675), "2.67");
        assert_eq!(f2(0.125), "0.12");
        assert_eq!(f2(0.375), "0.38");
        assert_eq!(f2(-0.001), "-0.00");
        assert_eq!(f2(-12.345), "-12.35");
        assert_eq!(f2(1e20), "100000000000000000000.00");
        assert_eq!(f2(f64::NAN), "nan");
        // fast path and exact path agree everywhere we try
        let mut x = -1000.0;
        while x < 1000.0 {
            assert_eq!(f2(x), format!("{x:.2}"), "{x}");
            x += 0.0037;
        }
    }

    #[test]
    fn escaping() {
        let mut b = Vec::new();
        escape_attr(&mut b, "a<\"&\n");
        assert_eq!(b, b"a&lt;&quot;&amp;&#10;");
        let mut b = Vec::new();
        escape_text(&mut b, "x > y");
        assert_eq!(b, b"x &gt; y");
    }

    #[test]
    fn step_parsing() {
        assert_eq!(parse_step("step=3"), Some(3));
        assert_eq!(parse_step(""), None);
        assert_eq!(parse_step("step=0"), None);
    }
}
