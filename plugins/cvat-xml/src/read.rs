//! The "CVAT 1.1" reader: one streaming pass over the XML (quick-xml) that builds the model and collects
//! located diagnostics (line:column) for everything wrong it meets, continuing past semantic errors so
//! that `validate` can report many problems in one run.
//!
//! What it keeps, as the server's importer does: labels and attribute specs from `<meta>` (sub-labels via
//! `<parent>`), `<image>` frames, plain shapes and tags of the images flavour, and only the
//! `keyframe="1"` shapes of `<track>`s (mutable attributes on the keyframes, immutable ones on the track);
//! a mask track becomes one mask shape. Unlike the server, `source` is kept as the file says (the server
//! forces `file`), and a missing `source` reads as `manual`.

use crate::write::parse_step;
use cvat_format_api::diag::line_col;
use cvat_format_api::geometry::check_points;
use cvat_format_api::{
    AttributeSpec, AttributeValue, Dataset, Diagnostic, Diagnostics, FormatError, Frame, InputType,
    Label, LabelType, Location, ReadOptions, Result, Shape, ShapeType, Source, Tag, TaskMeta,
    Track, TrackedShape, UserRef,
};
use cvat_format_api::{Input, Segment};
use quick_xml::events::{BytesStart, Event};
use quick_xml::Reader;
use std::borrow::Cow;
use std::collections::HashMap;

/// How sure we are that `input` is CVAT XML.
pub(crate) fn sniff(input: &Input) -> u8 {
    let Some(rel) = find_xml(input) else {
        return 0;
    };
    if !input.is_single_file() {
        return if rel.rsplit('/').next() == Some("annotations.xml") {
            80
        } else {
            0
        };
    }
    let mut head = [0u8; 2048];
    let n = match input.open_file(&rel) {
        Ok(mut f) => {
            let mut n = 0;
            while n < head.len() {
                match f.read(&mut head[n..]) {
                    Ok(0) | Err(_) => break,
                    Ok(k) => n += k,
                }
            }
            n
        }
        Err(_) => return 0,
    };
    let head = &head[..n];
    let has = |needle: &[u8]| head.windows(needle.len()).any(|w| w == needle);
    if has(b"<annotations>") && (has(b"<version>") || has(b"<meta>")) {
        95
    } else if has(b"<annotations") {
        60
    } else {
        0
    }
}

use std::io::Read;

/// The XML file of the input: the single file, `annotations.xml` (at the root or in a folder), or the
/// only `.xml` file.
fn find_xml(input: &Input) -> Option<String> {
    if input.is_single_file() {
        return input.files().first().cloned();
    }
    if let Some(f) = input.find("annotations.xml") {
        return Some(f.to_string());
    }
    let xmls: Vec<&str> = input.files_with_suffix(".xml").collect();
    match xmls.as_slice() {
        [one] => Some(one.to_string()),
        _ => None,
    }
}

pub(crate) fn read(input: &Input, opts: &ReadOptions) -> Result<Dataset> {
    let (ds, diags) = parse(input, opts, 1000)?;
    if let Some(d) = diags
        .items()
        .iter()
        .find(|d| d.severity == cvat_format_api::Severity::Error)
    {
        let mut d = d.clone();
        if diags.error_count() > 1 {
            let more = format!(
                "{} more error(s); run validate to see them all",
                diags.error_count() - 1
            );
            d.hint = Some(match d.hint {
                Some(h) => format!("{h}\n{more}"),
                None => more,
            });
        }
        return Err(FormatError::Invalid(Box::new(d)));
    }
    if diags.has_errors() {
        return Err(FormatError::invalid(
            Location::file(input.name()),
            "invalid",
            format!(
                "{} errors found; run validate to see them",
                diags.error_count()
            ),
        ));
    }
    Ok(ds)
}

pub(crate) fn validate(input: &Input, opts: &ReadOptions) -> Diagnostics {
    match parse(input, opts, 1000) {
        Ok((_, d)) => d,
        Err(e) => {
            let mut d = Diagnostics::default();
            d.push(e.to_diagnostic(input.name()));
            d
        }
    }
}

/// Line/column of byte offsets, scanning forward incrementally (diagnostics come mostly in order).
struct Locator<'a> {
    file: String,
    text: &'a [u8],
    pos: usize,
    line: u32,
    line_start: usize,
}

impl<'a> Locator<'a> {
    fn at(&mut self, off: usize) -> Location {
        let off = off.min(self.text.len());
        if off < self.pos {
            let (l, c) = line_col(self.text, off);
            return Location::line(self.file.clone(), l, c);
        }
        for (i, &b) in self.text[self.pos..off].iter().enumerate() {
            if b == b'\n' {
                self.line += 1;
                self.line_start = self.pos + i + 1;
            }
        }
        self.pos = off;
        let col = self.text[self.line_start..off]
            .iter()
            .filter(|&&b| (b & 0xC0) != 0x80)
            .count() as u32
            + 1;
        Location::line(self.file.clone(), self.line, col)
    }
}

/// A label as `<meta>` declares it.
#[derive(Default)]
struct MetaLabel {
    name: String,
    color: String,
    kind: String,
    attrs: Vec<MetaAttr>,
    parent: Option<String>,
    svg: String,
    pos: usize,
}

#[derive(Default)]
struct MetaAttr {
    name: String,
    mutable: String,
    input_type: String,
    default_value: String,
    values: Option<String>,
    pos: usize,
}

/// One task of the meta (a project has several).
#[derive(Default, Clone)]
struct TaskInfo {
    id: Option<i64>,
    start: i64,
    step: i64,
    size: Option<u32>,
    offset: u32,
    original_size: (Option<u32>, Option<u32>),
}

/// A shape being read (images flavour) or a keyframe (video flavour).
struct PShape {
    kind: ShapeType,
    label_id: Option<i64>,
    frame: Option<u32>,
    keyframe: bool,
    group: i64,
    source: Source,
    occluded: bool,
    outside: bool,
    z_order: i64,
    rotation: f64,
    points: Vec<f64>,
    attrs: Vec<AttributeValue>,
    elements: Vec<PShape>,
    /// element label name (video flavour), for grouping into element tracks
    elem_label: String,
    pos: usize,
    ok: bool,
}

struct PTrack {
    label_id: Option<i64>,
    group: i64,
    source: Source,
    task: usize,
    shapes: Vec<(PShape, usize)>,
    /// element tracks by label id, in order of appearance
    elements: Vec<(i64, Vec<PShape>)>,
    pos: usize,
}

/// A nested `<track>` inside a skeleton track (datumaro writes skeleton element tracks this way).
struct PNested {
    label_id: Option<i64>,
    shapes: Vec<PShape>,
}

struct State<'o> {
    opts: &'o ReadOptions,
    diags: Diagnostics,
    labels: Vec<Label>,
    label_by_name: HashMap<String, usize>,
    meta_labels: Vec<MetaLabel>,
    tasks: Vec<TaskInfo>,
    meta: TaskMeta,
    project: bool,
    frames: Vec<Frame>,
    frame_ids: HashMap<u32, usize>,
    frame_names: HashMap<String, usize>,
    images_seen: bool,
    labels_built: bool,
    hint: HintIndex,
    ds: Dataset,
}

/// Lookups into `ReadOptions::frames`, built once: by id, and by name as `ReadOptions::frame_hint`
/// matches (full name, name without extension, then base names).
#[derive(Default)]
struct HintIndex {
    by_id: HashMap<u32, usize>,
    by_name: HashMap<String, u32>,
    by_stem: HashMap<String, u32>,
    by_base: HashMap<String, u32>,
}

impl HintIndex {
    fn new(frames: Option<&Vec<Frame>>) -> Self {
        let mut h = HintIndex::default();
        for (i, f) in frames.into_iter().flatten().enumerate() {
            h.by_id.entry(f.id).or_insert(i);
            h.by_name.entry(f.name.clone()).or_insert(f.id);
            h.by_stem.entry(f.stem().to_string()).or_insert(f.id);
            let base = |s: &str| s.rsplit('/').next().unwrap_or(s).to_string();
            h.by_base.entry(base(f.stem())).or_insert(f.id);
            h.by_base.entry(base(&f.name)).or_insert(f.id);
        }
        h
    }
    fn find(&self, _frames: &[Frame], name: &str) -> Option<u32> {
        let base = name.rsplit('/').next().unwrap_or(name);
        self.by_name
            .get(name)
            .or_else(|| self.by_stem.get(name))
            .or_else(|| self.by_base.get(base))
            .or_else(|| {
                let stem = Frame {
                    name: base.to_string(),
                    ..Default::default()
                };
                self.by_base.get(stem.stem())
            })
            .copied()
    }
}

fn parse_f64(s: &str) -> Option<f64> {
    s.trim().parse::<f64>().ok()
}

fn parse_i64(s: &str) -> Option<i64> {
    s.trim().parse::<i64>().ok()
}

/// The attributes of an element, unescaped.
struct Attrs<'a>(Vec<(&'a [u8], Cow<'a, str>)>);

impl Attrs<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| *k == key.as_bytes())
            .map(|(_, v)| v.as_ref())
    }
}

fn shape_kind(tag: &[u8]) -> Option<ShapeType> {
    Some(match tag {
        b"box" => ShapeType::Rectangle,
        b"polygon" => ShapeType::Polygon,
        b"polyline" => ShapeType::Polyline,
        b"points" => ShapeType::Points,
        b"ellipse" => ShapeType::Ellipse,
        b"cuboid" => ShapeType::Cuboid,
        b"mask" => ShapeType::Mask,
        b"skeleton" => ShapeType::Skeleton,
        _ => return None,
    })
}

const CUBOID_KEYS: [&str; 16] = [
    "xtl1", "ytl1", "xbl1", "ybl1", "xtr1", "ytr1", "xbr1", "ybr1", "xtl2", "ytl2", "xbl2", "ybl2",
    "xtr2", "ytr2", "xbr2", "ybr2",
];

fn parse(input: &Input, opts: &ReadOptions, limit: usize) -> Result<(Dataset, Diagnostics)> {
    let rel = find_xml(input).ok_or_else(|| {
        FormatError::missing(
            format!("{}: no annotations.xml found", input.name()),
            "a CVAT 1.1 upload is an XML file, or a ZIP with annotations.xml",
        )
    })?;
    let bytes = input.read(&rel)?;
    let file = input.display(&rel);
    let text: &[u8] = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(&bytes);
    let mut loc = Locator {
        file,
        text,
        pos: 0,
        line: 1,
        line_start: 0,
    };
    let mut st = State {
        opts,
        diags: Diagnostics::with_limit(limit),
        labels: Vec::new(),
        label_by_name: HashMap::new(),
        meta_labels: Vec::new(),
        tasks: Vec::new(),
        meta: TaskMeta::default(),
        project: false,
        frames: Vec::new(),
        frame_ids: HashMap::new(),
        frame_names: HashMap::new(),
        images_seen: false,
        labels_built: false,
        hint: HintIndex::new(opts.frames.as_ref()),
        ds: Dataset::default(),
    };
    if std::str::from_utf8(text).is_err() {
        let off = match std::str::from_utf8(text) {
            Err(e) => e.valid_up_to(),
            Ok(_) => 0,
        };
        st.diags.push(
            Diagnostic::error(loc.at(off), "encoding", "file is not valid UTF-8")
                .with_hint("CVAT XML is written in UTF-8"),
        );
        return Ok((st.ds, st.diags));
    }
    body(&mut st, &mut loc, text);
    let ds = finish(st.ds, st.labels, st.frames, st.meta, st.project);
    Ok((ds, st.diags))
}

fn finish(
    mut ds: Dataset,
    labels: Vec<Label>,
    frames: Vec<Frame>,
    meta: TaskMeta,
    project: bool,
) -> Dataset {
    ds.labels = labels;
    ds.frames = frames;
    ds.task = if project { None } else { Some(meta) };
    ds.sort_by_frame();
    ds
}

#[derive(PartialEq, Eq, Clone, Copy)]
enum Phase {
    Start,
    Meta,
    Body,
}

fn body(st: &mut State, loc: &mut Locator, text: &[u8]) {
    let mut reader = Reader::from_reader(text);
    reader.config_mut().trim_text(false);
    let mut phase = Phase::Start;
    // element names inside <meta> (for the meta dispatcher) and in the body
    let mut path: Vec<String> = Vec::new();
    let mut textbuf = String::new();
    let mut depth: usize = 0;
    let mut root_seen = false;
    // body state
    let mut image: Option<(Option<usize>, usize)> = None; // (frame index, task)
    let mut shape: Option<PShape> = None;
    let mut element: Option<PShape> = None;
    let mut track: Option<PTrack> = None;
    let mut nested: Option<PNested> = None;
    let mut tag: Option<(Tag, usize, bool)> = None;
    let mut attr: Option<(String, String, usize)> = None;
    let mut labels_done = false;
    let mut stack: Vec<Vec<u8>> = Vec::new();
    loop {
        let before = reader.buffer_position() as usize;
        let ev = match reader.read_event() {
            Ok(ev) => ev,
            Err(e) => {
                let at = reader.error_position() as usize;
                st.diags.push(
                    Diagnostic::error(loc.at(at), "syntax", format!("malformed XML: {e}"))
                        .with_hint("the file may be truncated or not XML"),
                );
                return;
            }
        };
        let (start, empty) = match &ev {
            Event::Start(e) => (Some(e.clone()), false),
            Event::Empty(e) => (Some(e.clone()), true),
            _ => (None, false),
        };
        if let Some(e) = start {
            let name = e.name().as_ref().to_vec();
            if depth == 0 {
                if root_seen || name != b"annotations" {
                    st.diags.push(
                        Diagnostic::error(
                            loc.at(before),
                            "structure",
                            format!(
                                "expected the root element <annotations>, found <{}>",
                                String::from_utf8_lossy(&name)
                            ),
                        )
                        .with_hint("this is not a CVAT XML annotation file"),
                    );
                    return;
                }
                root_seen = true;
            }
            let attrs = match collect_attrs(&e, &reader) {
                Ok(a) => a,
                Err(msg) => {
                    st.diags
                        .push(Diagnostic::error(loc.at(before), "syntax", msg));
                    return;
                }
            };
            if depth == 1 && name == b"meta" {
                phase = Phase::Meta;
            }
            let skip = depth == 1 && name == b"version";
            if skip {
            } else if phase == Phase::Meta {
                path.push(String::from_utf8_lossy(&name).into_owned());
                textbuf.clear();
                meta_start(st, &path, before);
            } else if depth >= 1 {
                if !labels_done && phase != Phase::Body {
                    phase = Phase::Body;
                }
                if !labels_done {
                    labels_done = true;
                    build_labels(st, loc);
                }
                on_start(
                    st,
                    loc,
                    &name,
                    &attrs,
                    before,
                    depth,
                    &mut image,
                    &mut shape,
                    &mut element,
                    &mut track,
                    &mut nested,
                    &mut tag,
                    &mut attr,
                );
            }
            if empty {
                if phase == Phase::Meta {
                    meta_end(st, &path, &textbuf, loc);
                    path.pop();
                    textbuf.clear();
                } else if depth >= 1 {
                    on_end(
                        st,
                        loc,
                        &name,
                        &mut image,
                        &mut shape,
                        &mut element,
                        &mut track,
                        &mut nested,
                        &mut tag,
                        &mut attr,
                    );
                }
                if depth == 0 {
                    // <annotations/>: nothing inside
                    root_seen = true;
                }
            } else {
                depth += 1;
                stack.push(name);
            }
            continue;
        }
        match ev {
            Event::End(e) => {
                let name = e.name().as_ref().to_vec();
                depth = depth.saturating_sub(1);
                stack.pop();
                if phase == Phase::Meta {
                    meta_end(st, &path, &textbuf, loc);
                    path.pop();
                    textbuf.clear();
                    if depth == 1 && name == b"meta" {
                        phase = Phase::Body;
                        labels_done = true;
                        build_labels(st, loc);
                    }
                } else if depth >= 1 {
                    on_end(
                        st,
                        loc,
                        &name,
                        &mut image,
                        &mut shape,
                        &mut element,
                        &mut track,
                        &mut nested,
                        &mut tag,
                        &mut attr,
                    );
                }
            }
            Event::Text(t) => {
                let s = t.xml_content().unwrap_or_default();
                if phase == Phase::Meta {
                    textbuf.push_str(&s);
                } else if let Some(a) = attr.as_mut() {
                    a.1.push_str(&s);
                }
            }
            Event::CData(t) => {
                let s = String::from_utf8_lossy(&t).into_owned();
                if phase == Phase::Meta {
                    textbuf.push_str(&s);
                } else if let Some(a) = attr.as_mut() {
                    a.1.push_str(&s);
                }
            }
            Event::GeneralRef(r) => {
                let resolved: Option<String> = match r.resolve_char_ref() {
                    Ok(Some(c)) => Some(c.to_string()),
                    Ok(None) => {
                        let n = r.decode().unwrap_or_default();
                        quick_xml::escape::resolve_predefined_entity(&n).map(|s| s.to_string())
                    }
                    Err(_) => None,
                };
                match resolved {
                    Some(s) => {
                        if phase == Phase::Meta {
                            textbuf.push_str(&s);
                        } else if let Some(a) = attr.as_mut() {
                            a.1.push_str(&s);
                        }
                    }
                    None => {
                        st.diags.push(Diagnostic::error(
                            loc.at(before),
                            "syntax",
                            format!("unknown entity reference &{};", String::from_utf8_lossy(&r)),
                        ));
                    }
                }
            }
            Event::Eof => {
                if !root_seen {
                    st.diags.push(
                        Diagnostic::error(loc.at(before), "structure", "no <annotations> element")
                            .with_hint("the file is empty or not CVAT XML"),
                    );
                } else if let Some(open) = stack.last() {
                    st.diags.push(
                        Diagnostic::error(
                            loc.at(before),
                            "syntax",
                            format!(
                                "unexpected end of file: <{}> is not closed",
                                String::from_utf8_lossy(open)
                            ),
                        )
                        .with_hint("the file is truncated"),
                    );
                }
                if !labels_done {
                    build_labels(st, loc);
                }
                break;
            }
            _ => {}
        }
    }
    finish_frames(st);
}

fn collect_attrs<'a>(
    e: &'a BytesStart<'a>,
    reader: &Reader<&[u8]>,
) -> std::result::Result<Attrs<'a>, String> {
    let mut v = Vec::new();
    for a in e.attributes() {
        let a = a.map_err(|e| format!("malformed attribute: {e}"))?;
        let value = a
            .decode_and_unescape_value(reader.decoder())
            .map_err(|e| format!("malformed attribute value: {e}"))?;
        v.push((a.key.0, value));
    }
    Ok(Attrs(v))
}

// ---------------------------------------------------------------- meta

fn meta_start(st: &mut State, path: &[String], pos: usize) {
    let p: Vec<&str> = path.iter().map(|s| s.as_str()).collect();
    match p.as_slice() {
        [.., "labels", "label"] => st.meta_labels.push(MetaLabel {
            pos,
            ..Default::default()
        }),
        [.., "label", "attributes", "attribute"] => {
            if let Some(l) = st.meta_labels.last_mut() {
                l.attrs.push(MetaAttr {
                    pos,
                    ..Default::default()
                });
            }
        }
        ["meta", "task"] => st.tasks.push(TaskInfo {
            step: 1,
            ..Default::default()
        }),
        ["meta", "project"] => st.project = true,
        ["meta", "project", "tasks", "task"] => st.tasks.push(TaskInfo {
            step: 1,
            ..Default::default()
        }),
        ["meta", "task", "segments", "segment"] => st.meta.segments.push(Segment::default()),
        _ => {}
    }
}

fn meta_end(st: &mut State, path: &[String], text: &str, loc: &mut Locator) {
    let p: Vec<&str> = path.iter().map(|s| s.as_str()).collect();
    let num = |st: &mut State, loc: &mut Locator| -> Option<i64> {
        let v = parse_i64(text);
        if v.is_none() && !text.trim().is_empty() {
            let at = loc.pos;
            st.diags.push(Diagnostic::error(
                loc.at(at),
                "number",
                format!("<{}> is not an integer: {text:?}", p.last().unwrap_or(&"")),
            ));
        }
        v
    };
    // label fields
    if let [.., "labels", "label", field] = p.as_slice() {
        if let Some(l) = st.meta_labels.last_mut() {
            match *field {
                "name" => l.name = text.to_string(),
                "color" => l.color = text.to_string(),
                "type" => l.kind = text.trim().to_string(),
                "parent" => l.parent = Some(text.to_string()),
                "svg" => l.svg = text.to_string(),
                _ => {}
            }
        }
        return;
    }
    if let [.., "label", "attributes", "attribute", field] = p.as_slice() {
        if let Some(a) = st.meta_labels.last_mut().and_then(|l| l.attrs.last_mut()) {
            match *field {
                "name" => a.name = text.to_string(),
                "mutable" => a.mutable = text.trim().to_string(),
                "input_type" => a.input_type = text.trim().to_string(),
                "default_value" => a.default_value = text.to_string(),
                "values" => a.values = Some(text.to_string()),
                _ => {}
            }
        }
        return;
    }
    let in_task = matches!(
        p.as_slice(),
        ["meta", "task", _] | ["meta", "project", "tasks", "task", _]
    );
    if in_task {
        let field = p.last().copied().unwrap_or("");
        let top = p.len() == 3;
        match field {
            "id" => {
                let v = num(st, loc);
                if let Some(t) = st.tasks.last_mut() {
                    t.id = v;
                }
                if top {
                    st.meta.id = v;
                }
            }
            "size" => {
                let v = num(st, loc);
                if let Some(t) = st.tasks.last_mut() {
                    t.size = v.and_then(|v| u32::try_from(v).ok());
                }
            }
            "start_frame" => {
                let v = num(st, loc).unwrap_or(0);
                if let Some(t) = st.tasks.last_mut() {
                    t.start = v;
                }
                if top {
                    st.meta.start_frame = v;
                }
            }
            "stop_frame" => {
                let v = num(st, loc).unwrap_or(0);
                if top {
                    st.meta.stop_frame = v;
                }
            }
            "frame_filter" => {
                if let Some(t) = st.tasks.last_mut() {
                    t.step = parse_step(text).unwrap_or(1);
                }
                if top {
                    st.meta.frame_filter = text.to_string();
                }
            }
            "overlap" if top => st.meta.overlap = num(st, loc).unwrap_or(0),
            "name" if top => st.meta.name = text.to_string(),
            "mode" if top => st.meta.mode = text.trim().to_string(),
            "bugtracker" if top => st.meta.bug_tracker = text.to_string(),
            "created" if top => st.meta.created = text.to_string(),
            "updated" if top => st.meta.updated = text.to_string(),
            "subset" if top => st.meta.subset = text.to_string(),
            "source" if top => st.meta.source = Some(text.to_string()),
            "owner" | "assignee" if top && text.trim().is_empty() => {}
            _ => {}
        }
        return;
    }
    match p.as_slice() {
        ["meta", "task", "segments", "segment", f] => {
            if let Some(s) = st.meta.segments.last_mut() {
                match *f {
                    "id" => s.id = parse_i64(text).unwrap_or(0),
                    "start" => s.start = parse_i64(text).unwrap_or(0),
                    "stop" => s.stop = parse_i64(text).unwrap_or(0),
                    "url" => s.url = text.to_string(),
                    _ => {}
                }
            }
        }
        ["meta", "task", who @ ("owner" | "assignee"), f] => {
            let u = if *who == "owner" {
                &mut st.meta.owner
            } else {
                &mut st.meta.assignee
            };
            {
                let u = u.get_or_insert_with(UserRef::default);
                match *f {
                    "username" => u.username = text.to_string(),
                    "email" => u.email = text.to_string(),
                    _ => {}
                }
            }
        }
        [.., "task", "original_size", f] => {
            let v = num(st, loc).and_then(|v| u32::try_from(v).ok());
            if let Some(t) = st.tasks.last_mut() {
                match *f {
                    "width" => t.original_size.0 = v,
                    "height" => t.original_size.1 = v,
                    _ => {}
                }
            }
        }
        ["meta", "dumped"] => st.meta.dumped = text.to_string(),
        // older servers put <original_size> and <source> directly under <meta>
        ["meta", "original_size", f] => {
            let v = num(st, loc).and_then(|v| u32::try_from(v).ok());
            if let Some(t) = st.tasks.last_mut() {
                match *f {
                    "width" => t.original_size.0 = v,
                    "height" => t.original_size.1 = v,
                    _ => {}
                }
            }
        }
        ["meta", "source"] => st.meta.source = Some(text.to_string()),
        _ => {}
    }
}

/// Turns the meta labels (or `ReadOptions::labels`) into the label list.
fn build_labels(st: &mut State, loc: &mut Locator) {
    if st.labels_built {
        return;
    }
    st.labels_built = true;
    if st.tasks.is_empty() {
        st.tasks.push(TaskInfo {
            step: 1,
            ..Default::default()
        });
    }
    // frame offsets of the tasks of a project
    let mut offset = 0u32;
    for t in st.tasks.iter_mut() {
        t.offset = offset;
        offset = offset.saturating_add(t.size.unwrap_or(0));
    }
    if let Some(t) = st.tasks.first() {
        if !st.project {
            st.meta.original_size = match t.original_size {
                (Some(w), Some(h)) => Some((w, h)),
                _ => None,
            };
        }
    }
    if let Some(labels) = &st.opts.labels {
        st.labels = labels.clone();
        for (i, l) in st.labels.iter().enumerate() {
            st.label_by_name.entry(l.name.clone()).or_insert(i);
        }
        return;
    }
    let metas = std::mem::take(&mut st.meta_labels);
    let mut next_spec = 1i64;
    let mut converted: Vec<Option<Label>> = Vec::new();
    for (id, m) in (1i64..).zip(metas.iter()) {
        let kind = if m.kind.is_empty() {
            LabelType::Any
        } else {
            match LabelType::parse(&m.kind) {
                Some(k) => k,
                None => {
                    st.diags.push(
                        Diagnostic::error(
                            loc.at(m.pos),
                            "label-type",
                            format!("label {:?} has an unknown type {:?}", m.name, m.kind),
                        )
                        .with_hint("one of any, rectangle, polygon, polyline, points, ellipse, cuboid, mask, skeleton, tag"),
                    );
                    LabelType::Any
                }
            }
        };
        let mut attributes = Vec::new();
        for a in &m.attrs {
            let input_type = if a.input_type.is_empty() {
                InputType::Text
            } else {
                match InputType::parse(&a.input_type) {
                    Some(t) => t,
                    None => {
                        st.diags.push(
                            Diagnostic::error(
                                loc.at(a.pos),
                                "attribute-type",
                                format!(
                                    "attribute {:?} of label {:?} has an unknown input type {:?}",
                                    a.name, m.name, a.input_type
                                ),
                            )
                            .with_hint("one of select, radio, checkbox, number, text"),
                        );
                        InputType::Text
                    }
                }
            };
            if attributes.iter().any(|x: &AttributeSpec| x.name == a.name) {
                st.diags.error(
                    loc.at(a.pos),
                    "duplicate-attribute",
                    format!(
                        "attribute {:?} of label {:?} is declared twice",
                        a.name, m.name
                    ),
                );
            }
            attributes.push(AttributeSpec {
                id: next_spec,
                name: a.name.clone(),
                mutable: a.mutable.eq_ignore_ascii_case("true"),
                input_type,
                default_value: a.default_value.clone(),
                values: a
                    .values
                    .as_deref()
                    .map(|v| v.split('\n').map(|s| s.to_string()).collect())
                    .unwrap_or_default(),
            });
            next_spec += 1;
        }
        converted.push(Some(Label {
            id,
            name: m.name.clone(),
            color: m.color.clone(),
            kind,
            attributes,
            sublabels: Vec::new(),
            svg: m.svg.clone(),
        }));
    }
    // attach sub-labels to their skeletons
    let mut top: Vec<usize> = Vec::new();
    for (i, m) in metas.iter().enumerate() {
        if m.parent.is_none() {
            top.push(i);
        }
    }
    for (i, m) in metas.iter().enumerate() {
        let Some(parent) = &m.parent else { continue };
        let Some(&pi) = top.iter().find(|&&j| metas[j].name == *parent) else {
            st.diags.error(
                loc.at(m.pos),
                "undeclared-label",
                format!(
                    "label {:?} names a parent {:?} that is not declared",
                    m.name, parent
                ),
            );
            continue;
        };
        if let Some(sub) = converted[i].take() {
            if let Some(Some(p)) = converted.get_mut(pi) {
                p.sublabels.push(sub);
            }
        }
    }
    let mut labels: Vec<Label> = Vec::new();
    for i in top {
        if let Some(mut l) = converted[i].take() {
            if st.label_by_name.contains_key(&l.name) {
                st.diags.error(
                    loc.at(metas[i].pos),
                    "duplicate-label",
                    format!("label {:?} is declared more than once", l.name),
                );
                continue;
            }
            for s in &l.sublabels {
                l.svg = l.svg.replace(
                    &format!("data-label-name=\"{}\"", s.name),
                    &format!("data-label-id=\"{}\"", s.id),
                );
            }
            st.label_by_name.insert(l.name.clone(), labels.len());
            labels.push(l);
        }
    }
    st.labels = labels;
}

/// The most frames a video file's `<size>` may make us list.
const MAX_SYNTH_FRAMES: u32 = 50_000_000;

fn finish_frames(st: &mut State) {
    if let Some(frames) = &st.opts.frames {
        st.frames = frames.clone();
        return;
    }
    if st.images_seen {
        st.frames.sort_by_key(|f| f.id);
        return;
    }
    // video flavour: frames from the task size
    let mut frames = Vec::new();
    for t in &st.tasks {
        let Some(size) = t.size else { continue };
        if size > MAX_SYNTH_FRAMES || frames.len() as u32 > MAX_SYNTH_FRAMES {
            // a frame list this long cannot come from a real task; do not build it
            continue;
        }
        let (w, h) = (
            t.original_size.0.unwrap_or(0),
            t.original_size.1.unwrap_or(0),
        );
        for i in 0..size {
            frames.push(Frame {
                id: t.offset.saturating_add(i),
                name: format!(
                    "frame_{:06}",
                    t.start.saturating_add((i as i64).saturating_mul(t.step))
                ),
                width: w,
                height: h,
                subset: None,
            });
        }
    }
    st.frames = frames;
}

// ---------------------------------------------------------------- body

impl State<'_> {
    fn label(&self, name: &str) -> Option<&Label> {
        self.label_by_name
            .get(name)
            .and_then(|&i| self.labels.get(i))
    }
    fn sublabel(&self, parent: i64, name: &str) -> Option<&Label> {
        self.labels
            .iter()
            .find(|l| l.id == parent)
            .and_then(|p| p.sublabels.iter().find(|s| s.name == name))
    }
    fn label_by_id(&self, id: i64) -> Option<&Label> {
        self.labels.iter().find(|l| l.id == id).or_else(|| {
            self.labels
                .iter()
                .flat_map(|l| &l.sublabels)
                .find(|s| s.id == id)
        })
    }
    fn task_index(&self, task_id: Option<&str>) -> usize {
        match task_id.and_then(parse_i64) {
            Some(id) => self
                .tasks
                .iter()
                .position(|t| t.id == Some(id))
                .unwrap_or(0),
            None => 0,
        }
    }
    /// The model frame of absolute frame `abs` of task `task`.
    fn rel_frame(&self, task: usize, abs: i64) -> std::result::Result<u32, String> {
        let t = self.tasks.get(task).cloned().unwrap_or(TaskInfo {
            step: 1,
            ..Default::default()
        });
        let d = abs.checked_sub(t.start).unwrap_or(-1);
        if d < 0 || d % t.step != 0 {
            return Err(format!(
                "frame {abs} is not a frame of the task (start_frame {}, step {})",
                t.start, t.step
            ));
        }
        let rel = d / t.step;
        if let Some(size) = t.size {
            if rel >= size as i64 {
                return Err(format!(
                    "frame {abs} is past the end of the task ({size} frames)"
                ));
            }
        }
        u32::try_from(rel)
            .ok()
            .and_then(|r| r.checked_add(t.offset))
            .ok_or_else(|| format!("frame {abs} is out of range"))
    }
    fn frame_size(&self, frame: u32) -> Option<(u32, u32)> {
        let f = match &self.opts.frames {
            Some(fr) => self.hint.by_id.get(&frame).and_then(|&i| fr.get(i)),
            None => self.frame_ids.get(&frame).and_then(|&i| self.frames.get(i)),
        };
        f.filter(|f| f.has_size()).map(|f| (f.width, f.height))
    }
}

fn missing(st: &mut State, loc: &mut Locator, pos: usize, tag: &[u8], attr: &str) {
    st.diags.push(Diagnostic::error(
        loc.at(pos),
        "missing-attribute",
        format!(
            "<{}> has no {attr}=\"...\" attribute",
            String::from_utf8_lossy(tag)
        ),
    ));
}

fn bad_number(st: &mut State, loc: &mut Locator, pos: usize, tag: &[u8], attr: &str, v: &str) {
    st.diags.push(Diagnostic::error(
        loc.at(pos),
        "number",
        format!(
            "<{}> {attr}={v:?} is not a number",
            String::from_utf8_lossy(tag)
        ),
    ));
}

/// Reads the geometry attributes of a shape element into CVAT points.
fn read_geometry(
    st: &mut State,
    loc: &mut Locator,
    pos: usize,
    tag: &[u8],
    kind: ShapeType,
    a: &Attrs,
) -> Option<Vec<f64>> {
    let mut f = |st: &mut State, key: &str| -> Option<f64> {
        match a.get(key) {
            None => {
                missing(st, loc, pos, tag, key);
                None
            }
            Some(v) => {
                let r = parse_f64(v);
                if r.is_none() {
                    bad_number(st, loc, pos, tag, key, v);
                }
                r
            }
        }
    };
    match kind {
        ShapeType::Rectangle => {
            let v: Vec<Option<f64>> = ["xtl", "ytl", "xbr", "ybr"]
                .iter()
                .map(|k| f(st, k))
                .collect();
            v.into_iter().collect()
        }
        ShapeType::Ellipse => {
            let v: Vec<Option<f64>> = ["cx", "cy", "rx", "ry"].iter().map(|k| f(st, k)).collect();
            let v: Option<Vec<f64>> = v.into_iter().collect();
            v.map(|v| {
                // as the server: the far corner rounded to two decimals
                let r2 = |x: f64| format!("{x:.2}").parse::<f64>().unwrap_or(x);
                vec![v[0], v[1], r2(v[0] + v[2]), r2(v[1] - v[3])]
            })
        }
        ShapeType::Cuboid => {
            let v: Vec<Option<f64>> = CUBOID_KEYS.iter().map(|k| f(st, k)).collect();
            v.into_iter().collect()
        }
        ShapeType::Skeleton => Some(Vec::new()),
        ShapeType::Mask => {
            let mut i = |st: &mut State, key: &str| -> Option<i64> {
                match a.get(key) {
                    None => {
                        missing(st, loc, pos, tag, key);
                        None
                    }
                    Some(v) => {
                        let r = parse_i64(v);
                        if r.is_none() {
                            bad_number(st, loc, pos, tag, key, v);
                        }
                        r
                    }
                }
            };
            let left = i(st, "left");
            let top = i(st, "top");
            let width = i(st, "width");
            let height = i(st, "height");
            let rle = match a.get("rle") {
                None => {
                    missing(st, loc, pos, tag, "rle");
                    None
                }
                Some(v) => {
                    let runs: Option<Vec<f64>> = v
                        .split(',')
                        .map(|r| parse_i64(r).filter(|n| *n >= 0).map(|n| n as f64))
                        .collect();
                    if runs.is_none() {
                        st.diags.push(Diagnostic::error(
                            loc.at(pos),
                            "number",
                            "<mask> rle is not a comma-separated list of non-negative integers",
                        ));
                    }
                    runs
                }
            };
            let (Some(mut runs), Some(l), Some(t), Some(w), Some(h)) =
                (rle, left, top, width, height)
            else {
                return None;
            };
            let far = |a: i64, b: i64| a.saturating_add(b).saturating_sub(1) as f64;
            runs.extend([l as f64, t as f64, far(l, w), far(t, h)]);
            Some(runs)
        }
        ShapeType::Polygon | ShapeType::Polyline | ShapeType::Points => {
            let Some(v) = a.get("points") else {
                missing(st, loc, pos, tag, "points");
                return None;
            };
            let mut out = Vec::new();
            for pair in v.split(';') {
                let mut n = 0;
                for c in pair.split(',') {
                    match parse_f64(c) {
                        Some(x) => out.push(x),
                        None => {
                            bad_number(st, loc, pos, tag, "points", v);
                            return None;
                        }
                    }
                    n += 1;
                }
                if n != 2 {
                    st.diags.push(
                        Diagnostic::error(
                            loc.at(pos),
                            "geometry",
                            format!(
                                "<{}> point {pair:?} is not an x,y pair",
                                String::from_utf8_lossy(tag)
                            ),
                        )
                        .with_hint("points are written as x1,y1;x2,y2;..."),
                    );
                    return None;
                }
            }
            Some(out)
        }
    }
}

fn flag(a: &Attrs, key: &str) -> bool {
    a.get(key).map(|v| v.trim() == "1").unwrap_or(false)
}

#[allow(clippy::too_many_arguments)]
fn new_pshape(
    st: &mut State,
    loc: &mut Locator,
    tag: &[u8],
    kind: ShapeType,
    a: &Attrs,
    pos: usize,
    label_id: Option<i64>,
    default_source: &Source,
) -> PShape {
    let mut ok = label_id.is_some();
    let mut int = |st: &mut State, key: &str| -> i64 {
        match a.get(key) {
            None => 0,
            Some(v) => match parse_i64(v) {
                Some(n) => n,
                None => {
                    bad_number(st, loc, pos, tag, key, v);
                    ok = false;
                    0
                }
            },
        }
    };
    let z_order = int(st, "z_order");
    let group = int(st, "group_id");
    let rotation = match a.get("rotation") {
        None => 0.0,
        Some(v) => match parse_f64(v) {
            Some(r) => r,
            None => {
                bad_number(st, loc, pos, tag, "rotation", v);
                ok = false;
                0.0
            }
        },
    };
    let points = read_geometry(st, loc, pos, tag, kind, a);
    if points.is_none() {
        ok = false;
    }
    PShape {
        kind,
        label_id,
        frame: None,
        keyframe: a.get("keyframe").map(|v| v.trim() == "1").unwrap_or(true),
        group,
        source: a
            .get("source")
            .map(Source::parse)
            .unwrap_or_else(|| default_source.clone()),
        occluded: flag(a, "occluded"),
        outside: flag(a, "outside"),
        z_order,
        rotation,
        points: points.unwrap_or_default(),
        attrs: Vec::new(),
        elements: Vec::new(),
        elem_label: String::new(),
        pos,
        ok,
    }
}

fn resolve_label(
    st: &mut State,
    loc: &mut Locator,
    a: &Attrs,
    pos: usize,
    tag: &[u8],
    parent: Option<i64>,
) -> Option<i64> {
    let Some(name) = a.get("label") else {
        missing(st, loc, pos, tag, "label");
        return None;
    };
    let found = match parent {
        None => st.label(name).map(|l| l.id),
        Some(p) => st.sublabel(p, name).map(|l| l.id),
    };
    if found.is_none() {
        let known: Vec<String> = match parent {
            None => st.labels.iter().map(|l| l.name.clone()).collect(),
            Some(p) => st
                .label_by_id(p)
                .map(|l| l.sublabels.iter().map(|s| s.name.clone()).collect())
                .unwrap_or_default(),
        };
        let what = if parent.is_some() {
            "is not a sub-label of this skeleton"
        } else {
            "is not declared in <meta>"
        };
        st.diags.push(
            Diagnostic::error(
                loc.at(pos),
                "undeclared-label",
                format!("label {name:?} {what}"),
            )
            .with_hint(format!("declared labels: {}", known.join(", "))),
        );
    }
    found
}

fn frame_of(
    st: &mut State,
    loc: &mut Locator,
    a: &Attrs,
    pos: usize,
    tag: &[u8],
    task: usize,
) -> Option<u32> {
    let Some(v) = a.get("frame") else {
        missing(st, loc, pos, tag, "frame");
        return None;
    };
    let Some(abs) = parse_i64(v) else {
        bad_number(st, loc, pos, tag, "frame", v);
        return None;
    };
    match st.rel_frame(task, abs) {
        Ok(f) => Some(f),
        Err(msg) => {
            st.diags
                .push(Diagnostic::error(loc.at(pos), "unknown-frame", msg));
            None
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn on_start(
    st: &mut State,
    loc: &mut Locator,
    name: &[u8],
    a: &Attrs,
    pos: usize,
    depth: usize,
    image: &mut Option<(Option<usize>, usize)>,
    shape: &mut Option<PShape>,
    element: &mut Option<PShape>,
    track: &mut Option<PTrack>,
    nested: &mut Option<PNested>,
    tag: &mut Option<(Tag, usize, bool)>,
    attr: &mut Option<(String, String, usize)>,
) {
    if name == b"attribute" {
        match a.get("name") {
            Some(n) => *attr = Some((n.to_string(), String::new(), pos)),
            None => missing(st, loc, pos, name, "name"),
        }
        return;
    }
    if depth == 1 {
        match name {
            b"version" => {}
            b"image" => {
                st.images_seen = true;
                let task = st.task_index(a.get("task_id"));
                let Some(id) = a.get("id") else {
                    missing(st, loc, pos, name, "id");
                    *image = Some((None, task));
                    return;
                };
                let Some(abs) = parse_i64(id) else {
                    bad_number(st, loc, pos, name, "id", id);
                    *image = Some((None, task));
                    return;
                };
                let fname = a.get("name").unwrap_or("").to_string();
                let mut dim = |key: &str| -> u32 {
                    match a.get(key) {
                        None => 0,
                        Some(v) => match parse_i64(v).and_then(|n| u32::try_from(n).ok()) {
                            Some(n) => n,
                            None => {
                                bad_number(st, loc, pos, b"image", key, v);
                                0
                            }
                        },
                    }
                };
                let width = dim("width");
                let height = dim("height");
                // the frame: by name in the task's frame list when given, else by id
                let frame = if let Some(hint) = st.opts.frames.as_ref() {
                    let by_name = st.hint.find(hint, &fname);
                    match by_name {
                        Some(f) => Some(f),
                        None => {
                            let rel = st.rel_frame(task, abs).ok();
                            let f = rel.filter(|r| st.hint.by_id.contains_key(r));
                            if f.is_none() {
                                st.diags.push(
                                    Diagnostic::error(
                                        loc.at(pos),
                                        "unknown-image",
                                        format!(
                                            "image {fname:?} (id {abs}) is not a frame of the task"
                                        ),
                                    )
                                    .with_hint("image names must match the task's frame names"),
                                );
                            }
                            f
                        }
                    }
                } else {
                    match st.rel_frame(task, abs) {
                        Ok(f) => Some(f),
                        Err(msg) => {
                            st.diags
                                .push(Diagnostic::error(loc.at(pos), "unknown-frame", msg));
                            None
                        }
                    }
                };
                let mut idx = None;
                if let Some(f) = frame {
                    if !fname.is_empty() && st.frame_names.contains_key(&fname) {
                        st.diags.push(Diagnostic::error(
                            loc.at(pos),
                            "duplicate-name",
                            format!("image name {fname:?} appears more than once"),
                        ));
                    } else if st.frame_ids.contains_key(&f) {
                        st.diags.push(Diagnostic::error(
                            loc.at(pos),
                            "duplicate-id",
                            format!(
                                "image id {abs} ({fname:?}) is frame {f}, which an earlier <image> already is"
                            ),
                        ));
                    } else {
                        let subset = a
                            .get("subset")
                            .filter(|_| st.project)
                            .map(|s| s.to_string());
                        st.frame_ids.insert(f, st.frames.len());
                        st.frame_names.insert(fname.clone(), st.frames.len());
                        st.frames.push(Frame {
                            id: f,
                            name: fname,
                            width,
                            height,
                            subset,
                        });
                        idx = Some(st.frames.len() - 1);
                    }
                }
                *image = Some((idx, task));
            }
            b"track" => {
                let label_id = resolve_label(st, loc, a, pos, name, None);
                let group = a.get("group_id").and_then(parse_i64).unwrap_or(0);
                let task = st.task_index(a.get("task_id"));
                *track = Some(PTrack {
                    label_id,
                    group,
                    source: a.get("source").map(Source::parse).unwrap_or_default(),
                    task,
                    shapes: Vec::new(),
                    elements: Vec::new(),
                    pos,
                });
            }
            b"tag" => {
                st.diags.push(Diagnostic::error(
                    loc.at(pos),
                    "structure",
                    "<tag> outside an <image>",
                ));
            }
            _ => st.diags.push(Diagnostic::warning(
                loc.at(pos),
                "unknown-element",
                format!(
                    "unknown element <{}> ignored",
                    String::from_utf8_lossy(name)
                ),
            )),
        }
        return;
    }
    // inside <image>
    if let Some((frame_idx, _)) = image {
        let frame = frame_idx.and_then(|i| st.frames.get(i)).map(|f| f.id);
        if name == b"tag" && shape.is_none() {
            let label_id = resolve_label(st, loc, a, pos, name, None);
            let group = a.get("group_id").and_then(parse_i64).unwrap_or(0);
            *tag = Some((
                Tag {
                    id: None,
                    frame: frame.unwrap_or(0),
                    label_id: label_id.unwrap_or(0),
                    group,
                    source: a.get("source").map(Source::parse).unwrap_or_default(),
                    attributes: Vec::new(),
                },
                pos,
                label_id.is_some() && frame.is_some(),
            ));
            return;
        }
        let Some(kind) = shape_kind(name) else {
            st.diags.push(Diagnostic::warning(
                loc.at(pos),
                "unknown-element",
                format!(
                    "unknown element <{}> ignored",
                    String::from_utf8_lossy(name)
                ),
            ));
            return;
        };
        match shape {
            None => {
                let label_id = resolve_label(st, loc, a, pos, name, None);
                let mut s = new_pshape(st, loc, name, kind, a, pos, label_id, &Source::Manual);
                s.frame = frame;
                s.ok &= frame.is_some();
                *shape = Some(s);
            }
            Some(parent) if parent.kind == ShapeType::Skeleton => {
                let label_id = resolve_label(st, loc, a, pos, name, parent.label_id);
                let src = parent.source.clone();
                let mut e = new_pshape(st, loc, name, kind, a, pos, label_id, &src);
                e.frame = parent.frame;
                *element = Some(e);
            }
            Some(_) => st.diags.push(Diagnostic::error(
                loc.at(pos),
                "structure",
                format!(
                    "<{}> inside a shape that is not a skeleton",
                    String::from_utf8_lossy(name)
                ),
            )),
        }
        return;
    }
    // inside <track>
    if let Some(t) = track {
        if name == b"track" {
            // datumaro-style element track nested in a skeleton track
            let label_id = resolve_label(st, loc, a, pos, name, t.label_id);
            *nested = Some(PNested {
                label_id,
                shapes: Vec::new(),
            });
            return;
        }
        let Some(kind) = shape_kind(name) else {
            st.diags.push(Diagnostic::warning(
                loc.at(pos),
                "unknown-element",
                format!(
                    "unknown element <{}> ignored",
                    String::from_utf8_lossy(name)
                ),
            ));
            return;
        };
        let (label_id, task, src) = (t.label_id, t.task, t.source.clone());
        if let Some(n) = nested {
            let frame = frame_of(st, loc, a, pos, name, task);
            let mut s = new_pshape(st, loc, name, kind, a, pos, n.label_id, &src);
            s.frame = frame;
            s.ok &= frame.is_some();
            *element = Some(s);
            return;
        }
        match shape {
            None => {
                let frame = frame_of(st, loc, a, pos, name, task);
                let mut s = new_pshape(st, loc, name, kind, a, pos, label_id, &src);
                s.frame = frame;
                s.ok &= frame.is_some();
                *shape = Some(s);
            }
            Some(parent) if parent.kind == ShapeType::Skeleton => {
                let el_label = resolve_label(st, loc, a, pos, name, parent.label_id);
                let frame = parent.frame;
                let mut e = new_pshape(st, loc, name, kind, a, pos, el_label, &src);
                e.frame = frame;
                e.elem_label = a.get("label").unwrap_or("").to_string();
                *element = Some(e);
            }
            Some(_) => st.diags.push(Diagnostic::error(
                loc.at(pos),
                "structure",
                format!(
                    "<{}> inside a shape that is not a skeleton",
                    String::from_utf8_lossy(name)
                ),
            )),
        }
        return;
    }
    st.diags.push(Diagnostic::warning(
        loc.at(pos),
        "unknown-element",
        format!(
            "element <{}> outside <image> or <track> ignored",
            String::from_utf8_lossy(name)
        ),
    ));
}

/// Resolves attribute values by name against the label's specs; reports unknown ones and values
/// the spec does not allow.
fn resolve_attr(
    st: &mut State,
    loc: &mut Locator,
    label_id: Option<i64>,
    name: &str,
    value: String,
    pos: usize,
) -> Option<(AttributeValue, bool)> {
    let label = label_id.and_then(|id| st.label_by_id(id))?;
    let spec = label.attributes.iter().find(|s| s.name == name).cloned();
    let label_name = label.name.clone();
    let known: Vec<String> = label.attributes.iter().map(|s| s.name.clone()).collect();
    let Some(spec) = spec else {
        let d = Diagnostic::error(
            loc.at(pos),
            "undeclared-attribute",
            format!("attribute {name:?} is not declared for label {label_name:?}"),
        )
        .with_hint(if known.is_empty() {
            "the label declares no attributes".to_string()
        } else {
            format!("declared: {}", known.join(", "))
        });
        st.diags.push(d);
        return None;
    };
    if !spec.accepts(&value) {
        let allowed = match spec.input_type {
            InputType::Number => format!("a number in {}", spec.values.join(";")),
            InputType::Checkbox => "true or false".to_string(),
            _ => format!("one of {:?}", spec.values),
        };
        let d = Diagnostic::error(
            loc.at(pos),
            "attribute-value",
            format!("value {value:?} of attribute {name:?} is not allowed"),
        )
        .with_hint(format!("expected {allowed}"));
        st.diags.push(d);
    }
    Some((
        AttributeValue {
            spec_id: spec.id,
            value,
        },
        spec.mutable,
    ))
}

fn check_geometry(st: &mut State, loc: &mut Locator, s: &PShape) {
    if !s.ok {
        return;
    }
    // an outside shape is not drawn: it may lie anywhere (the server's closing keyframes copy the
    // coordinates of a larger frame)
    let size = if s.outside {
        None
    } else {
        s.frame.and_then(|f| st.frame_size(f))
    };
    if let Some(msg) = check_points(s.kind, &s.points, size) {
        st.diags
            .push(Diagnostic::error(loc.at(s.pos), "geometry", msg));
    }
}

fn to_shape(s: PShape, frame: u32) -> Shape {
    Shape {
        id: None,
        label_id: s.label_id.unwrap_or(0),
        kind: s.kind,
        frame,
        group: s.group,
        source: s.source,
        occluded: s.occluded,
        outside: s.outside,
        z_order: s.z_order,
        rotation: s.rotation,
        points: s.points,
        attributes: s.attrs,
        elements: s
            .elements
            .into_iter()
            .map(|e| {
                let mut e = to_shape(e, frame);
                e.z_order = 0;
                e
            })
            .collect(),
    }
}

fn to_tracked(s: &PShape, attrs: Vec<AttributeValue>) -> TrackedShape {
    TrackedShape {
        id: None,
        kind: s.kind,
        frame: s.frame.unwrap_or(0),
        occluded: s.occluded,
        outside: s.outside,
        z_order: s.z_order,
        rotation: s.rotation,
        points: s.points.clone(),
        attributes: attrs,
    }
}

/// Splits attributes into (mutable, immutable) by their specs.
fn split_attrs(
    st: &State,
    label_id: i64,
    attrs: &[AttributeValue],
) -> (Vec<AttributeValue>, Vec<AttributeValue>) {
    let mut m = Vec::new();
    let mut im = Vec::new();
    let label = st.label_by_id(label_id);
    for a in attrs {
        let mutable = label
            .and_then(|l| l.attributes.iter().find(|s| s.id == a.spec_id))
            .map(|s| s.mutable)
            .unwrap_or(true);
        if mutable {
            m.push(a.clone());
        } else {
            im.push(a.clone());
        }
    }
    (m, im)
}

fn build_track(
    st: &State,
    label_id: i64,
    shapes: &[&PShape],
    source: &Source,
    group: i64,
) -> Option<Track> {
    if shapes.is_empty() {
        return None;
    }
    let first_frame = shapes.iter().filter_map(|s| s.frame).min().unwrap_or(0);
    // the server drops the outside keyframes a track starts with
    let lead = shapes.iter().take_while(|s| s.outside).count();
    let mut track_attrs = Vec::new();
    let mut out = Vec::new();
    for s in &shapes[lead..] {
        let (m, im) = split_attrs(st, label_id, &s.attrs);
        if !im.is_empty() {
            track_attrs = im;
        }
        out.push(to_tracked(s, m));
    }
    Some(Track {
        id: None,
        label_id,
        frame: first_frame,
        group,
        source: source.clone(),
        shapes: out,
        attributes: track_attrs,
        elements: Vec::new(),
    })
}

#[allow(clippy::too_many_arguments)]
fn on_end(
    st: &mut State,
    loc: &mut Locator,
    name: &[u8],
    image: &mut Option<(Option<usize>, usize)>,
    shape: &mut Option<PShape>,
    element: &mut Option<PShape>,
    track: &mut Option<PTrack>,
    nested: &mut Option<PNested>,
    tag: &mut Option<(Tag, usize, bool)>,
    attr: &mut Option<(String, String, usize)>,
) {
    if name == b"attribute" {
        let Some((aname, value, pos)) = attr.take() else {
            return;
        };
        let target_label = if let Some(e) = element.as_ref() {
            e.label_id
        } else if let Some(s) = shape.as_ref() {
            s.label_id
        } else if let Some((t, _, ok)) = tag.as_ref() {
            ok.then_some(t.label_id)
        } else {
            st.diags.push(Diagnostic::warning(
                loc.at(pos),
                "unknown-element",
                "<attribute> outside a shape or tag ignored",
            ));
            return;
        };
        if let Some((av, _)) = resolve_attr(st, loc, target_label, &aname, value, pos) {
            if let Some(e) = element.as_mut() {
                e.attrs.push(av);
            } else if let Some(s) = shape.as_mut() {
                s.attrs.push(av);
            } else if let Some((t, _, _)) = tag.as_mut() {
                t.attributes.push(av);
            }
        }
        return;
    }
    if let Some(e) = element.take() {
        if shape_kind(name) == Some(e.kind) {
            check_geometry(st, loc, &e);
            if let Some(n) = nested.as_mut() {
                n.shapes.push(e);
            } else if let Some(s) = shape.as_mut() {
                s.elements.push(e);
            }
            return;
        }
        *element = Some(e);
    }
    if name == b"track" && nested.is_some() {
        if let (Some(n), Some(t)) = (nested.take(), track.as_mut()) {
            if let Some(l) = n.label_id {
                let keys: Vec<PShape> = n
                    .shapes
                    .into_iter()
                    .filter(|s| s.keyframe && s.ok)
                    .collect();
                t.elements.push((l, keys));
            }
        }
        return;
    }
    if let Some(s) = shape.take() {
        if shape_kind(name) == Some(s.kind) {
            check_geometry(st, loc, &s);
            if let Some(t) = track.as_mut() {
                let pos = s.pos;
                if s.kind == ShapeType::Skeleton {
                    // element keyframes go to per-label element tracks
                    let mut s = s;
                    for e in std::mem::take(&mut s.elements) {
                        if !e.keyframe || !e.ok {
                            continue;
                        }
                        let Some(l) = e.label_id else { continue };
                        match t.elements.iter_mut().find(|(id, _)| *id == l) {
                            Some((_, v)) => v.push(e),
                            None => t.elements.push((l, vec![e])),
                        }
                    }
                    if s.keyframe && s.ok {
                        t.shapes.push((s, pos));
                    }
                } else if s.keyframe && s.ok {
                    t.shapes.push((s, pos));
                }
            } else if s.ok {
                if let Some(frame) = s.frame {
                    let elements_ok = s.elements.iter().all(|e| e.ok);
                    if elements_ok {
                        st.ds.shapes.push(to_shape(s, frame));
                    }
                }
            }
            return;
        }
        *shape = Some(s);
    }
    match name {
        b"tag" => {
            if let Some((t, _, ok)) = tag.take() {
                if ok {
                    st.ds.tags.push(t);
                }
            }
        }
        b"image" => *image = None,
        b"track" => {
            if let Some(t) = track.take() {
                end_track(st, loc, t);
            }
        }
        _ => {}
    }
}

fn end_track(st: &mut State, loc: &mut Locator, t: PTrack) {
    let Some(label_id) = t.label_id else { return };
    if t.shapes.is_empty() {
        st.diags.push(
            Diagnostic::error(
                loc.at(t.pos),
                "empty-track",
                "track has no keyframe=\"1\" shape",
            )
            .with_hint("the importer keeps only keyframes; a track needs at least one"),
        );
        return;
    }
    // keyframe order
    let mut last: Option<u32> = None;
    for (s, pos) in &t.shapes {
        let f = s.frame.unwrap_or(0);
        if let Some(prev) = last {
            if f <= prev {
                st.diags.push(Diagnostic::error(
                    loc.at(*pos),
                    "keyframe-order",
                    format!("keyframe on frame {f} does not follow frame {prev}"),
                ));
            }
        }
        last = Some(f);
    }
    let first = &t.shapes[0].0;
    if first.kind == ShapeType::Mask {
        // the server has no mask tracks: the first keyframe becomes a shape
        st.ds.shapes.push(Shape {
            id: None,
            label_id,
            kind: ShapeType::Mask,
            frame: first.frame.unwrap_or(0),
            group: t.group,
            source: t.source.clone(),
            occluded: first.occluded,
            outside: false,
            z_order: first.z_order,
            rotation: first.rotation,
            points: first.points.clone(),
            attributes: first.attrs.clone(),
            elements: Vec::new(),
        });
        return;
    }
    let shapes: Vec<&PShape> = t.shapes.iter().map(|(s, _)| s).collect();
    let Some(mut track) = build_track(st, label_id, &shapes, &t.source, t.group) else {
        return;
    };
    if track.shapes.is_empty() {
        st.diags.push(
            Diagnostic::warning(
                loc.at(t.pos),
                "empty-track",
                "every keyframe of this track is outside; nothing to import",
            )
            .with_hint("the server drops the outside keyframes a track starts with"),
        );
        return;
    }
    for (el, shapes) in &t.elements {
        let refs: Vec<&PShape> = shapes.iter().collect();
        if let Some(e) = build_track(st, *el, &refs, &t.source, 0) {
            track.elements.push(e);
        }
    }
    st.ds.tracks.push(track);
}
