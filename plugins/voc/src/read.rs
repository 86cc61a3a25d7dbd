//! The reader shared by both formats (the server imports "Segmentation mask 1.1" with the same `voc`
//! importer as "PASCAL VOC 1.1"), and its validation.
//!
//! What the server does on import, and we do too:
//! - items come from the `ImageSets/*/<subset>.txt` lists (plus, leniently, any `Annotations/*.xml` or
//!   segmentation PNG not listed, with a warning);
//! - `<object>`s become rectangles: `rotation`, `occluded`, `track_id` and `keyframe` are consumed,
//!   `pose`, `truncated`, `difficult`, actions and `<attributes>` become attribute values of the label's
//!   specs with those names; objects with a `track_id` become tracks (keyframes kept, outside shapes
//!   added after gaps and at the end);
//! - `<label>_<subset>.txt` lines with `1` become tags;
//! - `SegmentationObject` + `SegmentationClass` PNGs become one mask per instance, labelled by the class
//!   under it, then polygons (outer contours, as the server's `masks_to_polygons`);
//! - group ids: every object and every instance carries one (object index, instance id) and, as on the
//!   server, only groups with more than one member on a frame survive, renumbered from 1.

use crate::labelmap::{voc_index, LabelMap, Rgb, BACKGROUND};
use crate::pngio::{self, Pixels};
use crate::raster;
use crate::xmltree::{self, Elem};
use cvat_format_api::geometry::Bitmap;
use cvat_format_api::{
    AttributeSpec, AttributeValue, Dataset, Diagnostic, Frame, Input, InputType, Label, Location,
    ReadOptions, Shape, ShapeType, Source, Tag, Track, TrackedShape,
};
use std::collections::{BTreeMap, HashMap};

/// Where the VOC tree starts inside the input (archives often wrap it in one folder).
pub fn find_root(input: &Input) -> String {
    let markers = [
        "labelmap.txt",
        "ImageSets/",
        "Annotations/",
        "SegmentationClass/",
        "SegmentationObject/",
    ];
    let mut best: Option<String> = None;
    for f in input.files() {
        for m in markers {
            let pos = if let Some(stripped) = m.strip_suffix('/') {
                if f.starts_with(m) {
                    Some(0)
                } else {
                    f.find(&format!("/{stripped}/")).map(|i| i + 1)
                }
            } else if f == m {
                Some(0)
            } else if f.ends_with(&format!("/{m}")) {
                Some(f.len() - m.len())
            } else {
                None
            };
            if let Some(p) = pos {
                let prefix = f[..p].to_string();
                if best
                    .as_ref()
                    .map(|b| prefix.len() < b.len())
                    .unwrap_or(true)
                {
                    best = Some(prefix);
                }
            }
        }
    }
    best.unwrap_or_default()
}

/// One bounding box or mask before it becomes a CVAT annotation.
#[derive(Debug, Clone)]
struct DmAnn {
    kind: ShapeType,
    label: String,
    points: Vec<f64>,
    attrs: Vec<(String, String)>,
    group: i64,
    /// Where it came from, for diagnostics.
    loc: Location,
}

#[derive(Debug, Default)]
struct Item {
    id: String,
    subset: String,
    filename: Option<String>,
    size: Option<(u32, u32)>,
    anns: Vec<DmAnn>,
    tags: Vec<(String, Location)>,
    listed: bool,
}

struct Ctx<'a> {
    input: &'a Input,
    root: String,
    diags: Vec<Diagnostic>,
}

impl Ctx<'_> {
    fn rel(&self, p: &str) -> String {
        format!("{}{p}", self.root)
    }
    fn has(&self, p: &str) -> bool {
        self.input.contains(&self.rel(p))
    }
    fn disp(&self, p: &str) -> String {
        self.input.display(&self.rel(p))
    }
    fn err(&mut self, loc: Location, code: &str, msg: impl Into<String>) {
        self.diags.push(Diagnostic::error(loc, code, msg));
    }
    fn warn(&mut self, loc: Location, code: &str, msg: impl Into<String>) {
        self.diags.push(Diagnostic::warning(loc, code, msg));
    }
    /// Files directly under `dir/` (relative to the root), with the given suffix.
    fn list(&self, dir: &str, suffix: &str) -> Vec<String> {
        let prefix = self.rel(&format!("{dir}/"));
        self.input
            .files()
            .iter()
            .filter_map(|f| f.strip_prefix(&prefix))
            .filter(|f| f.to_ascii_lowercase().ends_with(suffix))
            .map(|f| f.to_string())
            .collect()
    }
    fn text(&mut self, p: &str) -> Option<String> {
        match self.input.read_text(&self.rel(p)) {
            Ok(t) => Some(t),
            Err(e) => {
                let d = e.to_diagnostic(&self.disp(p));
                self.diags.push(d);
                None
            }
        }
    }
}

/// Reads the input, collecting every problem in the returned diagnostics. The dataset is what could
/// be read; it is only trustworthy when no diagnostic is an error.
pub fn load(input: &Input, opts: &ReadOptions) -> (Dataset, Vec<Diagnostic>) {
    let root = find_root(input);
    let mut cx = Ctx {
        input,
        root,
        diags: Vec::new(),
    };
    let lm = if cx.has("labelmap.txt") {
        let file = cx.disp("labelmap.txt");
        match cx.text("labelmap.txt") {
            Some(t) => LabelMap::parse(&t, &file, &mut cx.diags),
            None => LabelMap::voc_default(),
        }
    } else {
        LabelMap::voc_default()
    };

    let mut items: Vec<Item> = Vec::new();
    let mut by_id: HashMap<String, usize> = HashMap::new();
    let mut subsets: Vec<String> = Vec::new();

    // subset lists
    for dir in ["Main", "Segmentation", "Layout", "Action"] {
        let files = cx.list(&format!("ImageSets/{dir}"), ".txt");
        for f in files {
            let stem = f.trim_end_matches(".txt").trim_end_matches(".TXT");
            if stem.contains('/') {
                continue;
            }
            let is_subset_list = !stem.contains('_')
                || (dir != "Main" && dir != "Action")
                || !files_has_label_prefix(&lm, stem);
            if !is_subset_list {
                continue;
            }
            let path = format!("ImageSets/{dir}/{f}");
            let file = cx.disp(&path);
            let Some(text) = cx.text(&path) else { continue };
            if !subsets.iter().any(|s| s == stem) {
                subsets.push(stem.to_string());
            }
            for (ln, line) in text.lines().enumerate() {
                let Some(id) = list_id(line) else { continue };
                if id.is_empty() {
                    cx.err(
                        Location::line(&file, ln as u32 + 1, 1),
                        "list-syntax",
                        "unterminated quoted item id",
                    );
                    continue;
                }
                by_id.entry(id.clone()).or_insert_with(|| {
                    items.push(Item {
                        id: id.clone(),
                        subset: stem.to_string(),
                        listed: true,
                        ..Default::default()
                    });
                    items.len() - 1
                });
            }
        }
    }
    let no_lists = items.is_empty();

    // unlisted annotations and masks
    let mut xmls = cx.list("Annotations", ".xml");
    let flat = !cx.input.files().iter().any(|f| f.contains("Annotations/"))
        && subsets.is_empty()
        && !cx.input.files().iter().any(|f| f.contains("Segmentation"));
    if flat {
        // a flat archive of XML files, as the server accepts
        xmls = cx
            .input
            .files()
            .iter()
            .filter(|f| f.to_ascii_lowercase().ends_with(".xml"))
            .filter_map(|f| f.strip_prefix(&cx.root).map(|s| s.to_string()))
            .collect();
    }
    let mut xml_path: HashMap<String, String> = HashMap::new();
    for x in &xmls {
        let id = if flat {
            let base = x.rsplit('/').next().unwrap_or(x);
            base[..base.len() - 4].to_string()
        } else {
            x[..x.len() - 4].to_string()
        };
        let path = if flat {
            x.clone()
        } else {
            format!("Annotations/{x}")
        };
        xml_path.insert(id.clone(), path.clone());
        if !by_id.contains_key(&id) {
            if !no_lists {
                let file = cx.disp(&path);
                cx.diags.push(
                    Diagnostic::warning(
                        Location::file(file),
                        "unlisted-item",
                        format!("{id:?} is not listed in any ImageSets/*/<subset>.txt"),
                    )
                    .with_hint("the server imports only listed items; add the id to ImageSets/Main/default.txt"),
                );
            }
            by_id.insert(id.clone(), items.len());
            items.push(Item {
                id,
                subset: "default".into(),
                ..Default::default()
            });
        }
    }
    for dir in ["SegmentationClass", "SegmentationObject"] {
        for p in cx.list(dir, ".png") {
            let id = p[..p.len() - 4].to_string();
            if !by_id.contains_key(&id) {
                if !no_lists || !xmls.is_empty() {
                    let file = cx.disp(&format!("{dir}/{p}"));
                    cx.warn(
                        Location::file(file),
                        "unlisted-item",
                        format!("{id:?} is not listed in ImageSets/Segmentation/<subset>.txt"),
                    );
                }
                by_id.insert(id.clone(), items.len());
                items.push(Item {
                    id,
                    subset: "default".into(),
                    ..Default::default()
                });
            }
        }
    }
    if !subsets.is_empty() && cx.input.files().iter().any(|f| f.contains("Annotations/")) {
        for it in items.iter().filter(|i| i.listed) {
            if !xml_path.contains_key(&it.id)
                && !cx.has(&format!("SegmentationClass/{}.png", it.id))
            {
                let f = cx.disp(&format!("Annotations/{}.xml", it.id));
                cx.diags.push(Diagnostic::warning(
                    Location::file(f),
                    "missing-annotation",
                    format!("item {:?} is listed but has no annotation file", it.id),
                ));
            }
        }
    }

    // annotation XML
    for it in items.iter_mut() {
        if let Some(path) = xml_path.get(&it.id).cloned() {
            read_xml(&mut cx, &lm, &path, it);
        }
    }

    // class lists (tags)
    let main = cx.list("ImageSets/Main", ".txt");
    for f in main {
        let stem = f.trim_end_matches(".txt").to_string();
        let Some((label, _subset)) = split_class_list(&lm, &stem, &subsets) else {
            continue;
        };
        let path = format!("ImageSets/Main/{f}");
        let file = cx.disp(&path);
        let Some(text) = cx.text(&path) else { continue };
        for (ln, line) in text.lines().enumerate() {
            let t = line.trim();
            if t.is_empty() || t.starts_with('#') {
                continue;
            }
            let mut parts = t.split_whitespace();
            let id = parts.next().unwrap_or("");
            let presence = parts.next();
            let loc = Location::line(&file, ln as u32 + 1, 1);
            match presence.map(|p| p.parse::<i64>()) {
                Some(Ok(1)) => match by_id.get(id) {
                    Some(&i) => items[i].tags.push((label.clone(), loc)),
                    None => cx.err(
                        loc,
                        "unknown-item",
                        format!("item {id:?} is not in any subset list"),
                    ),
                },
                Some(Ok(-1)) | Some(Ok(0)) => {}
                _ => {
                    let col = line.find(presence.unwrap_or("")).unwrap_or(0) as u32 + 1;
                    cx.diags.push(
                        Diagnostic::error(
                            Location::line(&file, ln as u32 + 1, col),
                            "list-syntax",
                            format!("expected `<id> 1|-1|0`, found {t:?}"),
                        )
                        .with_hint("1 = the image has the label, -1 = it does not, 0 = difficult"),
                    );
                }
            }
        }
    }

    // segmentation masks
    let colormap = lm.colormap();
    for it in items.iter_mut() {
        read_masks(&mut cx, &lm, &colormap, it, opts);
    }

    let ds = build(&mut cx, &lm, items, opts);
    (ds, cx.diags)
}

fn files_has_label_prefix(lm: &LabelMap, stem: &str) -> bool {
    lm.labels
        .iter()
        .map(|l| l.name.as_str())
        .chain(
            lm.labels
                .iter()
                .flat_map(|l| l.actions.iter().map(|s| s.as_str())),
        )
        .any(|n| {
            stem.len() > n.len() + 1 && stem.starts_with(n) && stem[n.len()..].starts_with('_')
        })
}

/// `<label>_<subset>` → (label, subset), for labels of the label map and known subsets.
fn split_class_list(lm: &LabelMap, stem: &str, subsets: &[String]) -> Option<(String, String)> {
    for s in subsets {
        if let Some(label) = stem.strip_suffix(&format!("_{s}")) {
            if lm.index_of(label).is_some() {
                return Some((label.to_string(), s.clone()));
            }
        }
    }
    None
}

/// The item id of a list line (first token, or a quoted id); `None` for blank lines and comments;
/// `Some("")` for an unterminated quote.
fn list_id(line: &str) -> Option<String> {
    let t = line.trim();
    if t.is_empty() || t.starts_with('#') {
        return None;
    }
    if let Some(rest) = t.strip_prefix('"') {
        return Some(
            rest.find('"')
                .map(|e| rest[..e].to_string())
                .unwrap_or_default(),
        );
    }
    t.split_whitespace().next().map(|s| s.to_string())
}

fn read_xml(cx: &mut Ctx, lm: &LabelMap, path: &str, it: &mut Item) {
    let file = cx.disp(path);
    let Some(text) = cx.text(path) else { return };
    let root = match xmltree::parse(&text) {
        Ok(r) => r,
        Err(e) => {
            cx.err(
                Location::at_offset(&file, text.as_bytes(), e.offset),
                "xml-syntax",
                e.message,
            );
            return;
        }
    };
    let at = |el: &Elem| Location::at_offset(&file, text.as_bytes(), el.offset);
    if root.name != "annotation" {
        cx.err(
            at(&root),
            "xml-structure",
            format!("root element is <{}>, expected <annotation>", root.name),
        );
        return;
    }
    if let Some(f) = root.child_text("filename").filter(|s| !s.is_empty()) {
        it.filename = Some(f.to_string());
    }
    if let Some(size) = root.child("size") {
        let num = |n: &str| size.child_text(n).and_then(|t| t.parse::<f64>().ok());
        match (num("width"), num("height")) {
            (Some(w), Some(h)) if w >= 1.0 && h >= 1.0 && w < 1e7 && h < 1e7 => {
                it.size = Some((w as u32, h as u32))
            }
            _ => cx.warn(
                at(size),
                "image-size",
                "<size> has no usable <width> and <height>",
            ),
        }
    }
    for (obj_idx, obj) in root.children_named("object").enumerate() {
        let group = obj_idx as i64 + 1;
        let Some(name) = obj.child_text("name").filter(|s| !s.is_empty()) else {
            cx.err(at(obj), "missing-field", "<object> has no <name>");
            continue;
        };
        if lm.index_of(name).is_none() && !lm.is_part(name) {
            let loc = obj.child("name").map(&at).unwrap_or_else(|| at(obj));
            cx.diags.push(
                Diagnostic::error(
                    loc,
                    "undeclared-label",
                    format!("label {name:?} is not in the label map"),
                )
                .with_hint("add a line `name:r,g,b::` to labelmap.txt"),
            );
            continue;
        }
        let Some(points) = parse_bbox(cx, obj, &at) else {
            continue;
        };
        let mut attrs: Vec<(String, String)> = Vec::new();
        for flag in ["difficult", "truncated", "occluded"] {
            let v = obj.child_text(flag) == Some("1");
            attrs.push((flag.into(), if v { "True" } else { "False" }.into()));
        }
        if let Some(p) = obj.child("pose") {
            attrs.push((
                "pose".into(),
                p.text.clone().unwrap_or_default().trim().to_string(),
            ));
        }
        let mut actions: Vec<(String, String)> = lm
            .actions_of(name)
            .iter()
            .map(|a| (a.clone(), "False".to_string()))
            .collect();
        if let Some(acts) = obj.child("actions") {
            for a in &acts.children {
                let v = matches!(
                    a.text.as_deref().map(str::trim),
                    Some("1") | Some("true") | Some("True")
                );
                let v = if v { "True" } else { "False" }.to_string();
                match actions.iter_mut().find(|(n, _)| n == &a.name) {
                    Some(e) => e.1 = v,
                    None => actions.push((a.name.clone(), v)),
                }
            }
        }
        attrs.extend(actions);
        for part in obj.children_named("part") {
            let Some(pname) = part.child_text("name").filter(|s| !s.is_empty()) else {
                cx.err(at(part), "missing-field", "<part> has no <name>");
                continue;
            };
            if lm.index_of(pname).is_none() && !lm.is_part(pname) {
                cx.err(
                    at(part),
                    "undeclared-label",
                    format!("part {pname:?} is not in the label map"),
                );
                continue;
            }
            if let Some(pp) = parse_bbox(cx, part, &at) {
                it.anns.push(DmAnn {
                    kind: ShapeType::Rectangle,
                    label: pname.to_string(),
                    points: pp,
                    attrs: Vec::new(),
                    group,
                    loc: at(part),
                });
            }
        }
        if let Some(list) = obj.child("attributes") {
            for a in list.children_named("attribute") {
                let Some(n) = a.child_text("name").filter(|s| !s.is_empty()) else {
                    cx.err(at(a), "missing-field", "<attribute> has no <name>");
                    continue;
                };
                let v = a.child_text("value").unwrap_or("").to_string();
                match attrs.iter_mut().find(|(k, _)| k == n) {
                    Some(e) => e.1 = v,
                    None => attrs.push((n.to_string(), v)),
                }
            }
        }
        it.anns.push(DmAnn {
            kind: ShapeType::Rectangle,
            label: name.to_string(),
            points,
            attrs,
            group,
            loc: at(obj),
        });
    }
}

fn parse_bbox(cx: &mut Ctx, el: &Elem, at: &dyn Fn(&Elem) -> Location) -> Option<Vec<f64>> {
    let Some(b) = el.child("bndbox") else {
        cx.err(
            at(el),
            "missing-field",
            format!("<{}> has no <bndbox>", el.name),
        );
        return None;
    };
    let mut v = Vec::with_capacity(4);
    for n in ["xmin", "ymin", "xmax", "ymax"] {
        match b.child_text(n).map(|t| t.parse::<f64>()) {
            Some(Ok(x)) if x.is_finite() => v.push(x),
            Some(_) => {
                let loc = b.child(n).map(at).unwrap_or_else(|| at(b));
                cx.err(loc, "bad-number", format!("<{n}> is not a number"));
                return None;
            }
            None => {
                cx.err(at(b), "missing-field", format!("<bndbox> has no <{n}>"));
                return None;
            }
        }
    }
    if v[2] < v[0] || v[3] < v[1] {
        cx.diags.push(
            Diagnostic::warning(at(b), "geometry", "box has xmax < xmin or ymax < ymin")
                .with_hint("the corners may be swapped"),
        );
    }
    Some(v)
}

fn read_png(cx: &mut Ctx, path: &str) -> Option<pngio::SegImage> {
    if !cx.has(path) {
        return None;
    }
    let file = cx.disp(path);
    let bytes = match cx.input.read(&cx.rel(path)) {
        Ok(b) => b,
        Err(e) => {
            let d = e.to_diagnostic(&file);
            cx.diags.push(d);
            return None;
        }
    };
    match pngio::decode(&bytes) {
        Ok(img) => Some(img),
        Err(e) => {
            cx.err(
                Location::file(file),
                "png",
                format!("not a readable PNG: {e}"),
            );
            None
        }
    }
}

/// Colour/index image → indices, reporting colours not in the map (once per colour, with a count).
fn to_indices(
    cx: &mut Ctx,
    img: &pngio::SegImage,
    file: &str,
    lookup: &dyn Fn(Rgb) -> Option<usize>,
    what: &str,
) -> Vec<usize> {
    match &img.pixels {
        Pixels::Index(v) => v.iter().map(|&i| i as usize).collect(),
        Pixels::Rgb(v) => {
            let mut cache: HashMap<Rgb, Option<usize>> = HashMap::new();
            let mut bad: BTreeMap<Rgb, (usize, usize)> = BTreeMap::new();
            let out = v
                .iter()
                .enumerate()
                .map(|(p, c)| {
                    let r = *cache.entry(*c).or_insert_with(|| lookup(*c));
                    match r {
                        Some(i) => i,
                        None => {
                            bad.entry(*c).or_insert((p, 0)).1 += 1;
                            0
                        }
                    }
                })
                .collect();
            for ((r, g, b), (first, n)) in bad {
                let w = img.width.max(1) as usize;
                cx.diags.push(
                    Diagnostic::error(
                        Location::file(file),
                        "unknown-color",
                        format!(
                            "colour {r},{g},{b} ({n} pixels, first at x={}, y={}) is not {what}",
                            first % w,
                            first / w
                        ),
                    )
                    .with_hint("add the colour to labelmap.txt or repaint those pixels"),
                );
            }
            out
        }
    }
}

fn read_masks(
    cx: &mut Ctx,
    lm: &LabelMap,
    colormap: &[Option<Rgb>],
    it: &mut Item,
    opts: &ReadOptions,
) {
    let cls_path = format!("SegmentationClass/{}.png", it.id);
    let inst_path = format!("SegmentationObject/{}.png", it.id);
    let cls_img = read_png(cx, &cls_path);
    let inst_img = read_png(cx, &inst_path);
    if cls_img.is_none() && inst_img.is_none() {
        return;
    }
    let expected = opts
        .frame_hint(&it.id)
        .filter(|f| f.has_size())
        .map(|f| (f.width, f.height))
        .or(it.size);
    for (img, path) in [(&cls_img, &cls_path), (&inst_img, &inst_path)] {
        if let (Some(img), Some((w, h))) = (img, expected) {
            if (img.width, img.height) != (w, h) {
                let file = cx.disp(path);
                cx.diags.push(
                    Diagnostic::error(
                        Location::file(file),
                        "image-size",
                        format!(
                            "mask is {}x{} but the image is {w}x{h}",
                            img.width, img.height
                        ),
                    )
                    .with_hint("masks must have the size of their image"),
                );
                return;
            }
        }
    }
    if let (Some(a), Some(b)) = (&cls_img, &inst_img) {
        if (a.width, a.height) != (b.width, b.height) {
            let file = cx.disp(&inst_path);
            cx.err(
                Location::file(file),
                "image-size",
                format!(
                    "instance mask is {}x{} but the class mask is {}x{}",
                    b.width, b.height, a.width, a.height
                ),
            );
            return;
        }
    }
    let inverse: HashMap<Rgb, usize> = colormap
        .iter()
        .enumerate()
        .filter_map(|(i, c)| c.map(|c| (c, i)))
        .collect();
    let cls = cls_img.as_ref().map(|img| {
        let file = cx.disp(&cls_path);
        to_indices(
            cx,
            img,
            &file,
            &|c| inverse.get(&c).copied(),
            "a colour of labelmap.txt",
        )
    });
    let inst = inst_img.as_ref().map(|img| {
        let file = cx.disp(&inst_path);
        to_indices(
            cx,
            img,
            &file,
            &voc_index,
            "a colour of the VOC instance colour map",
        )
    });
    let (w, h) = match (&cls_img, &inst_img) {
        (Some(i), _) | (None, Some(i)) => (i.width, i.height),
        _ => return,
    };
    if it.size.is_none() {
        it.size = Some((w, h));
    }
    let file = cx.disp(&inst_path);
    match (cls, inst) {
        (cls, Some(inst)) => {
            // instance id → class (the largest class id under it, as datumaro's get_instance_labels)
            let mut parts = split_by_value(&inst, w);
            let mut inst_class: BTreeMap<usize, Option<usize>> = BTreeMap::new();
            for (p, &i) in inst.iter().enumerate() {
                if i == 0 {
                    continue;
                }
                let c = cls.as_ref().and_then(|c| c.get(p).copied());
                let e = inst_class.entry(i).or_insert(c);
                if let (Some(old), Some(new)) = (*e, c) {
                    *e = Some(old.max(new));
                }
            }
            for (id, class) in inst_class {
                let Some(class) = class else {
                    cx.err(
                        Location::file(file.clone()),
                        "missing-class-mask",
                        format!(
                            "instance {id} has no class: SegmentationClass/{}.png is missing",
                            it.id
                        ),
                    );
                    continue;
                };
                if let Some(part) = parts.remove(&id) {
                    push_mask(cx, lm, it, class, part, id as i64, &file);
                }
            }
        }
        (Some(cls), None) => {
            let file = cx.disp(&cls_path);
            for (c, part) in split_by_value(&cls, w) {
                push_mask(cx, lm, it, c, part, 0, &file);
            }
        }
        (None, None) => {}
    }
}

/// The pixels of an index image, one cropped bitmap per value (0 included) with its offset, in two
/// passes over the image rather than one per value.
fn split_by_value(values: &[usize], width: u32) -> BTreeMap<usize, Part> {
    let w = width.max(1) as usize;
    let mut boxes: BTreeMap<usize, (usize, usize, usize, usize)> = BTreeMap::new();
    for (p, &v) in values.iter().enumerate() {
        let (x, y) = (p % w, p / w);
        let b = boxes.entry(v).or_insert((x, y, x, y));
        b.0 = b.0.min(x);
        b.1 = b.1.min(y);
        b.2 = b.2.max(x);
        b.3 = b.3.max(y);
    }
    let mut parts: BTreeMap<usize, Part> = boxes
        .iter()
        .map(|(&v, &(l, t, r, b))| {
            let bm = Bitmap::new((r - l + 1) as u32, (b - t + 1) as u32);
            (
                v,
                Part {
                    bm,
                    left: l,
                    top: t,
                },
            )
        })
        .collect();
    for (p, &v) in values.iter().enumerate() {
        if let Some(part) = parts.get_mut(&v) {
            let (x, y) = (p % w - part.left, p / w - part.top);
            part.bm.set(x as u32, y as u32, true);
        }
    }
    parts
}

/// A cropped mask and where its top-left pixel lies in the image.
struct Part {
    bm: Bitmap,
    left: usize,
    top: usize,
}

fn push_mask(
    cx: &mut Ctx,
    lm: &LabelMap,
    it: &mut Item,
    class: usize,
    part: Part,
    group: i64,
    file: &str,
) {
    let Some(label) = lm.labels.get(class).map(|l| l.name.clone()) else {
        cx.err(
            Location::file(file),
            "undeclared-label",
            format!(
                "class index {class} is not in the label map ({} labels)",
                lm.labels.len()
            ),
        );
        return;
    };
    if label == BACKGROUND {
        return;
    }
    for mut poly in raster::mask_to_polygons(&part.bm) {
        for (i, v) in poly.iter_mut().enumerate() {
            *v += if i % 2 == 0 { part.left } else { part.top } as f64;
        }
        it.anns.push(DmAnn {
            kind: ShapeType::Polygon,
            label: label.clone(),
            points: poly,
            attrs: Vec::new(),
            group,
            loc: Location::file(file),
        });
    }
}

fn hex(c: Rgb) -> String {
    format!("#{:02x}{:02x}{:02x}", c.0, c.1, c.2)
}

/// Turns the items into the model the way the server's `import_dm_annotations` does.
fn build(cx: &mut Ctx, lm: &LabelMap, mut items: Vec<Item>, opts: &ReadOptions) -> Dataset {
    let mut ds = Dataset::default();
    let task_labels = opts.labels.is_some();
    if let Some(labels) = &opts.labels {
        ds.labels = labels.clone();
    } else {
        let colormap = lm.colormap();
        let mut names: Vec<(String, Option<Rgb>)> = Vec::new();
        let background_used = items.iter().any(|it| {
            it.anns.iter().any(|a| a.label == BACKGROUND)
                || it.tags.iter().any(|(n, _)| n == BACKGROUND)
        });
        for (i, l) in lm.labels.iter().enumerate() {
            if l.name != BACKGROUND || background_used {
                names.push((l.name.clone(), colormap.get(i).copied().flatten()));
            }
        }
        for l in &lm.labels {
            for p in &l.parts {
                if !names.iter().any(|(n, _)| n == p) {
                    names.push((p.clone(), None));
                }
            }
        }
        for (i, (n, c)) in names.into_iter().enumerate() {
            ds.labels.push(Label {
                id: i as i64 + 1,
                name: n,
                color: c.map(hex).unwrap_or_default(),
                ..Default::default()
            });
        }
    }

    // frames
    match &opts.frames {
        Some(frames) => {
            ds.frames = frames.clone();
        }
        None => {
            items.sort_by(|a, b| a.id.cmp(&b.id));
            for (i, it) in items.iter().enumerate() {
                let name = it.filename.clone().map(|f| {
                    // keep the item's directory part with the file name of <filename>
                    match it.id.rfind('/') {
                        Some(p) if !f.contains('/') => format!("{}/{f}", &it.id[..p]),
                        _ => f,
                    }
                });
                let name = name.or_else(|| {
                    let prefix = cx.rel(&format!("JPEGImages/{}.", it.id));
                    cx.input
                        .files()
                        .iter()
                        .find(|f| f.starts_with(&prefix) && !f[prefix.len()..].contains('/'))
                        .map(|f| format!("{}{}", it.id, &f[prefix.len() - 1..]))
                });
                let (width, height) = it.size.unwrap_or((0, 0));
                ds.frames.push(Frame {
                    id: i as u32,
                    name: name.unwrap_or_else(|| format!("{}.jpg", it.id)),
                    width,
                    height,
                    subset: (it.subset != "default" && !it.subset.is_empty())
                        .then(|| it.subset.clone()),
                });
            }
        }
    }
    let stop_frame = ds.frames.iter().map(|f| f.id).max().unwrap_or(0);

    let mut tracks: BTreeMap<String, (Track, Vec<(TrackedShape, bool)>)> = BTreeMap::new();
    for it in &items {
        let frame = match &opts.frames {
            Some(_) => match opts.frame_hint(&it.id) {
                Some(f) => f.id,
                None => {
                    if !it.anns.is_empty() || !it.tags.is_empty() {
                        cx.diags.push(
                            Diagnostic::error(
                                Location::file(cx.disp(&format!("Annotations/{}.xml", it.id))),
                                "unknown-frame",
                                format!("item {:?} does not match any frame of the task", it.id),
                            )
                            .with_hint("item ids are image file names without extension"),
                        );
                    }
                    continue;
                }
            },
            None => match ds
                .frames
                .iter()
                .find(|f| f.stem() == it.id || f.name.starts_with(&format!("{}.", it.id)))
            {
                Some(f) => f.id,
                None => continue,
            },
        };
        for (name, loc) in &it.tags {
            let Some(label_id) = resolve_label(cx, &ds, name, loc, task_labels) else {
                continue;
            };
            ds.tags.push(Tag {
                id: None,
                frame,
                label_id,
                group: 0,
                source: Source::Manual,
                attributes: Vec::new(),
            });
        }
        // one-item groups are not kept; the rest are renumbered by first appearance
        let mut order: Vec<i64> = Vec::new();
        let mut count: HashMap<i64, usize> = HashMap::new();
        let mut anns = it.anns.clone();
        // masks first, then boxes (the order the server creates them in)
        anns.sort_by_key(|a| a.kind != ShapeType::Polygon);
        for a in &anns {
            if !order.contains(&a.group) {
                order.push(a.group);
            }
            *count.entry(a.group).or_default() += 1;
        }
        let kept: Vec<i64> = order
            .into_iter()
            .filter(|g| *g != 0 && count.get(g).copied().unwrap_or(0) > 1)
            .collect();
        let group_of = |g: i64| -> i64 {
            kept.iter()
                .position(|k| *k == g)
                .map(|p| p as i64 + 1)
                .unwrap_or(0)
        };
        for a in anns {
            let Some(label_id) = resolve_label(cx, &ds, &a.label, &a.loc, task_labels) else {
                continue;
            };
            let mut rotation = 0.0;
            let mut occluded = false;
            let mut track_id: Option<String> = None;
            let mut keyframe = false;
            let mut values: Vec<(String, String)> = Vec::new();
            for (n, v) in &a.attrs {
                match n.as_str() {
                    "rotation" => match v.trim().parse::<f64>() {
                        Ok(r) if r.is_finite() => rotation = r,
                        _ => cx.err(
                            a.loc.clone(),
                            "bad-number",
                            format!("rotation {v:?} is not a number"),
                        ),
                    },
                    "occluded" => {
                        occluded = v == "True" || v == "1" || v.eq_ignore_ascii_case("true")
                    }
                    "track_id" => track_id = Some(v.trim().to_string()),
                    "keyframe" => keyframe = v.eq_ignore_ascii_case("true") || v == "1",
                    _ => values.push((n.clone(), v.clone())),
                }
            }
            let attributes = attribute_values(cx, &mut ds, label_id, &values, task_labels, &a.loc);
            match track_id {
                Some(tid) if a.kind == ShapeType::Rectangle => {
                    let entry = tracks.entry(tid).or_insert_with(|| {
                        (
                            Track {
                                id: None,
                                label_id,
                                frame,
                                group: group_of(a.group),
                                source: Source::Manual,
                                shapes: Vec::new(),
                                attributes: Vec::new(),
                                elements: Vec::new(),
                            },
                            Vec::new(),
                        )
                    });
                    entry.1.push((
                        TrackedShape {
                            id: None,
                            kind: a.kind,
                            frame,
                            occluded,
                            outside: false,
                            z_order: 0,
                            rotation,
                            points: a.points.clone(),
                            attributes,
                        },
                        keyframe,
                    ));
                }
                _ => ds.shapes.push(Shape {
                    id: None,
                    label_id,
                    kind: a.kind,
                    frame,
                    group: group_of(a.group),
                    source: Source::Manual,
                    occluded,
                    outside: false,
                    z_order: 0,
                    rotation,
                    points: a.points,
                    attributes,
                    elements: Vec::new(),
                }),
            }
        }
    }

    for (_, (mut track, mut shapes)) in tracks {
        shapes.sort_by_key(|(s, _)| s.frame);
        // outside after gaps and after the last frame, as the server does
        let mut seq: Vec<(TrackedShape, bool)> = Vec::new();
        for (s, kf) in shapes {
            if let Some((prev, _)) = seq.last() {
                if s.frame > prev.frame + 1 && !prev.outside {
                    let mut o = prev.clone();
                    o.outside = true;
                    o.frame = prev.frame + 1;
                    seq.push((o, true));
                }
            }
            seq.push((s, kf));
        }
        if let Some((last, _)) = seq.last() {
            if last.frame < stop_frame {
                let mut o = last.clone();
                o.outside = true;
                o.frame = last.frame + 1;
                seq.push((o, true));
            }
        }
        let mut kept: Vec<TrackedShape> = Vec::new();
        for (i, (s, kf)) in seq.into_iter().enumerate() {
            if i == 0 || kf || s.outside {
                kept.push(s);
            }
        }
        // immutable values belong to the track
        let specs: Vec<AttributeSpec> = ds
            .label_mut(track.label_id)
            .map(|l| l.attributes.clone())
            .unwrap_or_default();
        let immutable = |id: i64| specs.iter().any(|s| s.id == id && !s.mutable);
        if let Some(first) = kept.first() {
            track.frame = first.frame;
            track.attributes = first
                .attributes
                .iter()
                .filter(|a| immutable(a.spec_id))
                .cloned()
                .collect();
        }
        for s in kept.iter_mut() {
            s.attributes.retain(|a| !immutable(a.spec_id));
        }
        track.shapes = kept;
        ds.tracks.push(track);
    }
    ds.sort_by_frame();
    ds
}

fn resolve_label(
    cx: &mut Ctx,
    ds: &Dataset,
    name: &str,
    loc: &Location,
    task_labels: bool,
) -> Option<i64> {
    match ds.label_by_name(name) {
        Some(l) => Some(l.id),
        None => {
            let msg = if task_labels {
                format!("label {name:?} is not a label of the task")
            } else {
                format!("label {name:?} is not declared")
            };
            cx.diags.push(
                Diagnostic::error(loc.clone(), "undeclared-label", msg)
                    .with_hint("add the label to the task (or rename it in the files)"),
            );
            None
        }
    }
}

/// Attribute values for `label_id`: matched to the label's specs by name (unknown names are dropped
/// with a warning when the labels come from the task, else declared as new specs); checkbox values in
/// lower case; with task labels, specs without a value get their default, as the server stores them.
fn attribute_values(
    cx: &mut Ctx,
    ds: &mut Dataset,
    label_id: i64,
    values: &[(String, String)],
    task_labels: bool,
    loc: &Location,
) -> Vec<AttributeValue> {
    let mut out: Vec<AttributeValue> = Vec::new();
    for (n, v) in values {
        let spec = ds
            .label_mut(label_id)
            .and_then(|l| l.attributes.iter().find(|s| &s.name == n).cloned());
        let spec = match spec {
            Some(s) => s,
            None if task_labels => {
                // the VOC flags, pose and actions are always present; only other names are news
                let voc_builtin = matches!(n.as_str(), "difficult" | "truncated" | "pose")
                    || v == "True"
                    || v == "False";
                if !voc_builtin {
                    cx.warn(
                        loc.clone(),
                        "undeclared-attribute",
                        format!(
                            "attribute {n:?} is not declared for this label; its value is dropped"
                        ),
                    );
                }
                continue;
            }
            None => {
                // VOC flags and actions become attributes only when set somewhere
                if (v == "False" || v.is_empty()) && matches!(n.as_str(), "difficult" | "truncated")
                {
                    continue;
                }
                if n == "pose" && v == "Unspecified" {
                    continue;
                }
                let kind = if v == "True" || v == "False" {
                    InputType::Checkbox
                } else {
                    InputType::Text
                };
                let Some(id) = ds.ensure_attribute(label_id, n, kind, true) else {
                    continue;
                };
                let Some(l) = ds.label_mut(label_id) else {
                    continue;
                };
                let Some(s) = l.attributes.iter_mut().find(|s| s.id == id) else {
                    continue;
                };
                if kind == InputType::Checkbox && s.values.is_empty() {
                    s.default_value = "false".into();
                    s.values = vec!["false".into()];
                }
                s.clone()
            }
        };
        let value = if spec.input_type == InputType::Checkbox {
            v.to_lowercase()
        } else {
            v.clone()
        };
        out.retain(|a| a.spec_id != spec.id);
        out.push(AttributeValue {
            spec_id: spec.id,
            value,
        });
    }
    if task_labels {
        if let Some(l) = ds.label_mut(label_id) {
            for s in &l.attributes {
                if !out.iter().any(|a| a.spec_id == s.id) {
                    out.push(AttributeValue {
                        spec_id: s.id,
                        value: s.default_value.clone(),
                    });
                }
            }
        }
    }
    out
}
