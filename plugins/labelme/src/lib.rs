//! "LabelMe 3.0": one XML file per image (`<subset>/<item>.xml`) and mask pictures
//! (`<subset>/Masks/<item>_mask_<n>.png`), as the server's `label_me` export writes them.
//!
//! - Writing keeps rectangles (as `bounding_box` polygons), polygons, and masks/ellipses (as mask
//!   pictures); tracks are expanded into one object per visible frame. Groups become
//!   `<parts><hasparts>/<ispartof>`, attributes a `k=v, ...` list.
//! - Reading follows the server's import: rectangles, polygons, masks converted to polygons, groups
//!   from the parts links, `rotation`/`occluded` interpreted, other attributes matched to the labels.

pub mod mask;
pub mod xmltree;

use cvat_format_api::geometry::{cvat_rle_to_bitmap, fmt_fixed, fmt_py_float};
use cvat_format_api::{
    check_dataset, AttributeValue, Dataset, Diagnostic, Diagnostics, DropReport, Format,
    FormatError, FormatInfo, Frame, Input, InputType, Location, OutputSink, ReadOptions, Result,
    Severity, Shape, ShapeType, Source, WriteOptions,
};
use cvat_format_datumaro::interp::track_frames;
use cvat_format_datumaro::jsonw::J;
use cvat_format_datumaro::rle::ellipse_bitmap;
use cvat_format_datumaro::write::typed_attributes;
use std::collections::{BTreeMap, HashMap};
use xmltree::{Elem, XmlWriter};

/// The "LabelMe 3.0" format.
#[derive(Debug, Default, Clone, Copy)]
pub struct LabelMeFormat;

cvat_format_api::register_format!(LabelMeFormat);

impl Format for LabelMeFormat {
    fn info(&self) -> FormatInfo {
        FormatInfo::new("LabelMe 3.0")
            .import()
            .export()
            .extensions(&["zip"])
            .description("LabelMe XML per image: polygons, boxes, masks (PNG), groups as parts")
    }

    fn sniff(&self, input: &Input) -> u8 {
        let Some(first) = xml_files(input).into_iter().next() else {
            return 0;
        };
        let Ok(mut r) = input.open_file(&first) else {
            return 0;
        };
        let mut head = vec![0u8; 2048];
        let n = std::io::Read::read(&mut r, &mut head).unwrap_or(0);
        let head = String::from_utf8_lossy(&head[..n]);
        // `<annotation>` (not CVAT's `<annotations>`) as the root
        if !(head.contains("<annotation>") || head.contains("<annotation ")) {
            return 0;
        }
        if head.contains("<sourceAnnotation>")
            || head.contains("<polygon>")
            || head.contains("<segm>")
        {
            80
        } else if head.contains("<imagesize>") {
            50
        } else {
            10
        }
    }

    fn read(&self, input: &Input, opts: &ReadOptions) -> Result<Dataset> {
        let (ds, diags, _) = read(input, opts);
        if let Some(d) = diags.items().iter().find(|d| d.severity == Severity::Error) {
            return Err(FormatError::Invalid(Box::new(d.clone())));
        }
        Ok(ds)
    }

    fn write(
        &self,
        dataset: &Dataset,
        out: &mut dyn OutputSink,
        _opts: &WriteOptions,
    ) -> Result<DropReport> {
        write(dataset, out)
    }

    fn validate(&self, input: &Input, opts: &ReadOptions) -> Diagnostics {
        let (ds, mut diags, origins) = read(input, opts);
        let name = input.name().to_string();
        check_dataset(
            &ds,
            &mut |r| match r {
                cvat_format_api::AnnRef::Shape(i) | cvat_format_api::AnnRef::Element(i, _) => {
                    origins
                        .get(i)
                        .cloned()
                        .unwrap_or_else(|| Location::file(&name))
                }
                _ => Location::file(&name),
            },
            &mut diags,
        );
        diags
    }
}

// ---------------------------------------------------------------- writing

const EXPORT_ESCAPES: [(&str, &str); 4] =
    [("\\", "\\\\"), ("=", "\\="), ("\"", "\\\""), (",", "\\,")];
const IMPORT_ESCAPES: [(&str, &str); 4] = [
    ("\\=", "%%{eq}%%"),
    ("\\\"", "%%{doublequote}%%"),
    ("\\,", "%%{comma}%%"),
    ("\\\\", "%%{backslash}%%"),
];

fn escape_attr(s: &str) -> String {
    EXPORT_ESCAPES
        .iter()
        .fold(s.to_string(), |acc, (p, r)| acc.replace(p, r))
}

fn unescape_attr(s: &str) -> String {
    let s = IMPORT_ESCAPES
        .iter()
        .fold(s.to_string(), |acc, (p, r)| acc.replace(r, p));
    EXPORT_ESCAPES
        .iter()
        .fold(s, |acc, (p, r)| acc.replace(r, p))
}

/// Python's `str(v)` of a converted attribute value, quoting strings that would read back as numbers.
fn attr_text(v: &J) -> String {
    match v {
        J::Bool(true) => "True".into(),
        J::Bool(false) => "False".into(),
        J::Int(i) => i.to_string(),
        J::Float(f) => fmt_py_float(*f),
        J::Str(s) => {
            let float_like = s
                .parse::<f64>()
                .map(|f| fmt_py_float(f) == *s)
                .unwrap_or(false);
            let int_like = s
                .parse::<i64>()
                .map(|i| i.to_string() == *s)
                .unwrap_or(false);
            if float_like || int_like {
                format!("\"{s}\"")
            } else {
                escape_attr(s)
            }
        }
        J::Null => "None".into(),
        other => {
            let mut s = String::new();
            other.write(&mut s);
            escape_attr(&s)
        }
    }
}

struct Obj<'a> {
    z: i64,
    kind: ShapeType,
    label_id: i64,
    group: i64,
    points: Vec<f64>,
    occluded: bool,
    rotation: f64,
    sets: Vec<&'a [AttributeValue]>,
    track: Option<(i64, bool)>,
}

fn write(ds: &Dataset, out: &mut dyn OutputSink) -> Result<DropReport> {
    let mut drops = DropReport::default();
    let idx = ds.label_index();
    let mut frames: Vec<&Frame> = ds.frames.iter().collect();
    frames.sort_by_key(|f| f.id);
    let last_frame = frames.last().map(|f| f.id).unwrap_or(0);
    let keep = |k: ShapeType| {
        matches!(
            k,
            ShapeType::Rectangle | ShapeType::Polygon | ShapeType::Mask | ShapeType::Ellipse
        )
    };

    let mut per_frame: HashMap<u32, Vec<Obj>> = HashMap::new();
    for s in &ds.shapes {
        if !keep(s.kind) {
            drops.add(
                format!(
                    "{} shapes (LabelMe keeps rectangles, polygons and masks)",
                    s.kind.as_str()
                ),
                1,
            );
            continue;
        }
        per_frame.entry(s.frame).or_default().push(Obj {
            z: s.z_order,
            kind: s.kind,
            label_id: s.label_id,
            group: s.group,
            points: s.points.clone(),
            occluded: s.occluded,
            rotation: s.rotation,
            sets: vec![&s.attributes],
            track: None,
        });
    }
    for (ti, t) in ds.tracks.iter().enumerate() {
        let kind = t.shapes.first().map(|s| s.kind).unwrap_or_default();
        if !keep(kind) {
            drops.add(
                format!(
                    "{} tracks (LabelMe keeps rectangles, polygons and masks)",
                    kind.as_str()
                ),
                1,
            );
            continue;
        }
        for st in track_frames(&t.shapes, last_frame) {
            if st.outside {
                continue;
            }
            per_frame.entry(st.frame).or_default().push(Obj {
                z: st.z_order,
                kind: st.kind,
                label_id: t.label_id,
                group: t.group,
                points: st.points,
                occluded: st.occluded,
                rotation: st.rotation,
                sets: vec![&t.attributes, &[]],
                track: Some((ti as i64, st.keyframe)),
            });
            // the keyframe's own (mutable) attributes
            if let Some(o) = per_frame.get_mut(&st.frame).and_then(|v| v.last_mut()) {
                if let Some(k) = t
                    .shapes
                    .iter()
                    .filter(|s| s.frame <= st.frame)
                    .max_by_key(|s| s.frame)
                {
                    o.sets[1] = &k.attributes;
                }
            }
        }
    }
    drops.add("tags", ds.tags.len());
    let z_orders = ds
        .shapes
        .iter()
        .filter(|s| keep(s.kind) && s.z_order != 0)
        .count();
    drops.add("z_order values (LabelMe keeps object order only)", z_orders);

    for f in frames {
        let subset = f
            .subset
            .clone()
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| "default".into());
        let item_id = f.stem().to_string();
        let (folder, filename) = match f.name.rsplit_once('/') {
            Some((d, b)) => (d.to_string(), b.to_string()),
            None => (String::new(), f.name.clone()),
        };
        let mut objs = per_frame.remove(&f.id).unwrap_or_default();
        objs.sort_by_key(|o| o.z);

        // masks first: they may be dropped, and ids count written objects only
        let mut masks: Vec<Option<cvat_format_api::geometry::Bitmap>> =
            Vec::with_capacity(objs.len());
        for o in &objs {
            let bm = match o.kind {
                ShapeType::Mask | ShapeType::Ellipse if !f.has_size() => {
                    drops.add(format!("{}s on frames of unknown size", o.kind.as_str()), 1);
                    None
                }
                ShapeType::Mask => match cvat_rle_to_bitmap(&o.points, f.width, f.height) {
                    Ok(bm) if bm.count() > 0 => Some(bm),
                    _ => {
                        drops.add("masks with an invalid or empty RLE", 1);
                        None
                    }
                },
                ShapeType::Ellipse => {
                    let bm = ellipse_bitmap(&o.points, o.rotation, f.width, f.height);
                    if bm.count() == 0 {
                        drops.add("ellipses outside their image", 1);
                        None
                    } else {
                        Some(bm)
                    }
                }
                _ => None,
            };
            masks.push(bm);
        }
        let written: Vec<usize> = (0..objs.len())
            .filter(|&i| match objs[i].kind {
                ShapeType::Mask | ShapeType::Ellipse => masks[i].is_some(),
                ShapeType::Rectangle => objs[i].points.len() == 4,
                _ => objs[i].points.len() >= 2,
            })
            .collect();
        // group links
        let mut groups: BTreeMap<i64, Vec<usize>> = BTreeMap::new();
        for (oid, &i) in written.iter().enumerate() {
            if objs[i].group != 0 {
                groups.entry(objs[i].group).or_default().push(oid);
            }
        }
        let parts = |oid: usize, group: i64| -> (String, String) {
            let Some(members) = groups.get(&group).filter(|_| group != 0) else {
                return (String::new(), String::new());
            };
            if members.first() == Some(&oid) {
                let rest: Vec<String> = members.iter().skip(1).map(|m| m.to_string()).collect();
                (rest.join(","), String::new())
            } else {
                (
                    String::new(),
                    members.first().map(|m| m.to_string()).unwrap_or_default(),
                )
            }
        };

        let mut x = XmlWriter::default();
        x.open("annotation");
        x.leaf("filename", &filename);
        x.leaf("folder", &folder);
        x.open("source");
        x.leaf("sourceImage", "");
        x.leaf("sourceAnnotation", "Datumaro");
        x.close("source");
        if f.has_size() {
            x.open("imagesize");
            x.leaf("nrows", &f.height.to_string());
            x.leaf("ncols", &f.width.to_string());
            x.close("imagesize");
        }
        let mut mask_files: Vec<(String, Vec<u8>)> = Vec::new();
        for (oid, &i) in written.iter().enumerate() {
            let o = &objs[i];
            x.open("object");
            x.leaf("name", idx.label_name(o.label_id));
            x.leaf("deleted", "0");
            x.leaf("verified", "0");
            x.leaf("occluded", if o.occluded { "yes" } else { "no" });
            x.leaf("date", "");
            x.leaf("id", &oid.to_string());
            let (has, of) = parts(oid, o.group);
            x.open("parts");
            x.leaf("hasparts", &has);
            x.leaf("ispartof", &of);
            x.close("parts");
            let pt = |x: &mut XmlWriter, px: f64, py: f64| {
                x.open("pt");
                x.leaf("x", &fmt_fixed(px, 2));
                x.leaf("y", &fmt_fixed(py, 2));
                x.close("pt");
            };
            match o.kind {
                ShapeType::Rectangle => {
                    x.leaf("type", "bounding_box");
                    x.open("polygon");
                    let p = &o.points;
                    for (px, py) in [(p[0], p[1]), (p[2], p[1]), (p[2], p[3]), (p[0], p[3])] {
                        pt(&mut x, px, py);
                    }
                    x.leaf("username", "");
                    x.close("polygon");
                }
                ShapeType::Polygon => {
                    x.open("polygon");
                    for c in o.points.chunks_exact(2) {
                        pt(&mut x, c[0], c[1]);
                    }
                    x.leaf("username", "");
                    x.close("polygon");
                }
                _ => {
                    let Some(bm) = masks[i].as_ref() else {
                        continue;
                    };
                    let file = format!("{item_id}_mask_{oid}.png");
                    let png = mask::encode_png(bm)
                        .map_err(|e| FormatError::Other(format!("PNG encoding of {file}: {e}")))?;
                    let (bx, by, bw, bh) = mask::mask_bbox(bm).unwrap_or((0, 0, 0, 0));
                    x.open("segm");
                    x.leaf("mask", &file);
                    x.open("box");
                    x.leaf("xmin", &fmt_fixed(bx as f64, 2));
                    x.leaf("ymin", &fmt_fixed(by as f64, 2));
                    x.leaf("xmax", &fmt_fixed((bx + bw) as f64, 2));
                    x.leaf("ymax", &fmt_fixed((by + bh) as f64, 2));
                    x.close("box");
                    x.leaf("username", "");
                    x.close("segm");
                    mask_files.push((format!("{subset}/Masks/{file}"), png));
                }
            }
            let (mut pairs, bad) = typed_attributes(&idx, o.label_id, &o.sets);
            drops.add(
                "number attribute values that are not numbers (written as text)",
                bad,
            );
            if o.kind == ShapeType::Rectangle {
                pairs.push(("rotation".into(), J::Float(o.rotation)));
            }
            if let Some((tid, key)) = o.track {
                pairs.push(("track_id".into(), J::Int(tid)));
                pairs.push(("keyframe".into(), J::Bool(key)));
            }
            let text: Vec<String> = pairs
                .iter()
                .map(|(k, v)| format!("{}={}", escape_attr(k), attr_text(v)))
                .collect();
            x.leaf("attributes", &text.join(", "));
            x.close("object");
        }
        x.close("annotation");
        let rel = format!("{subset}/{item_id}.xml");
        out.file(&rel)?
            .write_all(x.out.as_bytes())
            .map_err(|e| FormatError::io(rel.clone(), e))?;
        for (rel, png) in mask_files {
            out.file(&rel)?
                .write_all(&png)
                .map_err(|e| FormatError::io(rel.clone(), e))?;
        }
    }
    Ok(drops)
}

// ---------------------------------------------------------------- reading

/// The annotation XML files of an input (everything `.xml` outside `Masks/`), sorted.
fn xml_files(input: &Input) -> Vec<String> {
    input
        .files_with_suffix(".xml")
        .filter(|f| !f.split('/').any(|p| p == "Masks" || p == "Scribbles"))
        .map(str::to_string)
        .collect()
}

fn py_attr_value(raw: &str) -> J {
    let v = raw;
    if v.eq_ignore_ascii_case("true") || v.eq_ignore_ascii_case("false") {
        return J::Bool(v.eq_ignore_ascii_case("true"));
    }
    if v.len() > 1 && v.starts_with('"') && v.ends_with('"') {
        return J::Str(unescape_attr(&v[1..v.len() - 1]));
    }
    if let Ok(i) = v.parse::<i64>() {
        if i.to_string() == v {
            return J::Int(i);
        }
    }
    if let Ok(f) = v.parse::<f64>() {
        if fmt_py_float(f) == v {
            return J::Float(f);
        }
    }
    J::Str(unescape_attr(v))
}

/// datumaro's `_parse_attributes`: `k=v, k2=v2` with `\,`-style escapes.
fn parse_attributes(text: &str) -> Vec<(String, J)> {
    let escaped = IMPORT_ESCAPES
        .iter()
        .fold(text.to_string(), |acc, (p, r)| acc.replace(p, r));
    let mut out = Vec::new();
    for a in escaped.split(',').map(str::trim) {
        if a.is_empty() {
            continue;
        }
        match a.split_once('=') {
            Some((k, v)) => out.push((unescape_attr(k), py_attr_value(v))),
            None => out.push((unescape_attr(a), J::Bool(true))),
        }
    }
    out
}

struct Ann {
    kind: ShapeType,
    label: String,
    points: Vec<f64>,
    attrs: Vec<(String, J)>,
    occluded: bool,
    group: i64,
    loc: Location,
}

type Origins = Vec<Location>;

/// One XML file: item id, subset, image name, image size, objects, where it starts.
struct Item {
    id: String,
    subset: String,
    image: String,
    size: Option<(u32, u32)>,
    anns: Vec<Ann>,
    loc: Location,
}

fn read(input: &Input, opts: &ReadOptions) -> (Dataset, Diagnostics, Origins) {
    let mut diags = Diagnostics::default();
    let mut origins = Vec::new();
    let mut ds = Dataset::default();
    let files = xml_files(input);
    if files.is_empty() {
        diags.push(
            Diagnostic::error(
                Location::file(input.name()),
                "missing-file",
                "no LabelMe XML file found",
            )
            .with_hint("a LabelMe 3.0 archive holds <subset>/<image>.xml files"),
        );
        return (ds, diags, origins);
    }
    if let Some(l) = &opts.labels {
        ds.labels = l.clone();
    }
    // items: (item id, subset, image name, size, annotations)
    let mut items: Vec<Item> = Vec::new();
    for rel in &files {
        let disp = input.display(rel);
        let text = match input.read_text(rel) {
            Ok(t) => t,
            Err(e) => {
                diags.push(e.to_diagnostic(&disp));
                continue;
            }
        };
        let at = |off: usize| Location::at_offset(&disp, text.as_bytes(), off);
        let root = match xmltree::parse(&text) {
            Ok(r) => r,
            Err(e) => {
                diags.push(Diagnostic::error(
                    at(e.offset),
                    "syntax",
                    format!("invalid XML: {}", e.message),
                ));
                continue;
            }
        };
        if root.name != "annotation" {
            diags.push(Diagnostic::error(
                at(root.offset),
                "syntax",
                format!("root element is <{}>, expected <annotation>", root.name),
            ));
            continue;
        }
        let parts: Vec<&str> = rel.split('/').collect();
        let (subset, subset_root) = if parts.len() > 1 {
            (parts[0].to_string(), format!("{}/", parts[0]))
        } else {
            (String::new(), String::new())
        };
        let Some(filename) = root.child_text("filename").filter(|s| !s.is_empty()) else {
            diags.push(Diagnostic::error(
                at(root.offset),
                "missing-field",
                "<annotation> has no <filename>",
            ));
            continue;
        };
        let folder = root.child_text("folder").unwrap_or("");
        let image = if folder.is_empty() {
            filename.to_string()
        } else {
            format!("{folder}/{filename}")
        };
        let item_id = match image.rsplit_once('.') {
            Some((s, _)) if !s.is_empty() && !s.ends_with('/') => s.to_string(),
            _ => image.clone(),
        };
        let size = root.child("imagesize").and_then(|s| {
            let w = s.child_text("ncols")?.parse::<u32>();
            let h = s.child_text("nrows")?.parse::<u32>();
            match (w, h) {
                (Ok(w), Ok(h)) => Some((w, h)),
                _ => {
                    diags.push(Diagnostic::error(
                        at(s.offset),
                        "type",
                        "imagesize nrows/ncols must be non-negative integers",
                    ));
                    None
                }
            }
        });
        let anns = read_objects(input, &root, &disp, &text, &subset_root, size, &mut diags);
        items.push(Item {
            id: item_id,
            subset,
            image,
            size,
            anns,
            loc: at(root.offset),
        });
    }

    // frames
    let mut item_frames: Vec<Option<u32>> = Vec::new();
    match &opts.frames {
        Some(frames) => {
            ds.frames = frames.clone();
            for it in &items {
                let f = opts
                    .frame_hint(&it.image)
                    .or_else(|| opts.frame_hint(&it.id))
                    .map(|f| f.id);
                if f.is_none() {
                    diags.push(
                        Diagnostic::error(
                            it.loc.clone(),
                            "unknown-frame",
                            format!("image {:?} matches no frame of the task", it.image),
                        )
                        .with_hint("<folder>/<filename> must name one of the task's images"),
                    );
                }
                item_frames.push(f);
            }
        }
        None => {
            let mut order: Vec<usize> = (0..items.len()).collect();
            order.sort_by(|a, b| items[*a].id.cmp(&items[*b].id));
            item_frames = vec![None; items.len()];
            for (n, &i) in order.iter().enumerate() {
                let it = &items[i];
                let (w, h) = it.size.unwrap_or((0, 0));
                item_frames[i] = Some(n as u32);
                ds.frames.push(Frame {
                    id: n as u32,
                    name: it.image.clone(),
                    width: w,
                    height: h,
                    subset: (!it.subset.is_empty() && it.subset != "default")
                        .then(|| it.subset.clone()),
                });
            }
        }
    }

    for (it, frame) in items.into_iter().zip(item_frames) {
        let Some(frame) = frame else { continue };
        // groups shared by more than one shape, renumbered from 1 (the server's import)
        let mut sizes: BTreeMap<i64, usize> = BTreeMap::new();
        for a in &it.anns {
            *sizes.entry(a.group).or_default() += 1;
        }
        let groups: HashMap<i64, i64> = sizes
            .iter()
            .filter(|(g, n)| **g != 0 && **n > 1)
            .enumerate()
            .map(|(i, (g, _))| (*g, i as i64 + 1))
            .collect();
        for a in it.anns {
            let label_id = match ds.label_by_name(&a.label) {
                Some(l) => l.id,
                None if opts.labels.is_none() => ds.ensure_label(&a.label),
                None => {
                    diags.push(
                        Diagnostic::error(
                            a.loc.clone(),
                            "unknown-label",
                            format!("label {:?} is not a label of the task", a.label),
                        )
                        .with_hint("add the label to the task, or rename the object"),
                    );
                    continue;
                }
            };
            let mut rotation = 0.0;
            let mut values = Vec::new();
            for (k, v) in &a.attrs {
                match k.as_str() {
                    "rotation" => {
                        rotation = match v {
                            J::Float(f) => *f,
                            J::Int(i) => *i as f64,
                            _ => 0.0,
                        }
                    }
                    "occluded" | "track_id" | "keyframe" | "outside" | "source" | "username" => {}
                    _ => {
                        let spec = ds
                            .label_index()
                            .label(label_id)
                            .and_then(|l| l.attributes.iter().find(|s| s.name == *k))
                            .cloned();
                        let spec = match spec {
                            Some(s) => s,
                            None if opts.labels.is_none() => {
                                let t = match v {
                                    J::Bool(_) => InputType::Checkbox,
                                    J::Int(_) | J::Float(_) => InputType::Number,
                                    _ => InputType::Text,
                                };
                                let Some(id) = ds.ensure_attribute(label_id, k, t, false) else {
                                    continue;
                                };
                                match ds.label_index().spec(id).cloned() {
                                    Some(s) => s,
                                    None => continue,
                                }
                            }
                            None => {
                                diags.warning(a.loc.clone(), "undeclared-attribute", format!("attribute {k:?} is not declared for label {:?}; the server ignores it", a.label));
                                continue;
                            }
                        };
                        let value = match v {
                            J::Bool(b) if spec.input_type == InputType::Checkbox => b.to_string(),
                            J::Bool(true) => "True".into(),
                            J::Bool(false) => "False".into(),
                            J::Int(i) => i.to_string(),
                            J::Float(f) => fmt_py_float(*f),
                            J::Str(s) if spec.input_type == InputType::Checkbox => s.to_lowercase(),
                            J::Str(s) => s.clone(),
                            _ => String::new(),
                        };
                        values.push(AttributeValue {
                            spec_id: spec.id,
                            value,
                        });
                    }
                }
            }
            ds.shapes.push(Shape {
                label_id,
                kind: a.kind,
                frame,
                group: groups.get(&a.group).copied().unwrap_or(0),
                source: Source::Manual,
                occluded: a.occluded,
                rotation,
                points: a.points,
                attributes: values,
                ..Default::default()
            });
            origins.push(a.loc);
        }
    }
    (ds, diags, origins)
}

fn read_objects(
    input: &Input,
    root: &Elem,
    disp: &str,
    text: &str,
    subset_root: &str,
    size: Option<(u32, u32)>,
    diags: &mut Diagnostics,
) -> Vec<Ann> {
    let at = |off: usize| Location::at_offset(disp, text.as_bytes(), off);
    let mut parsed: Vec<(i64, Vec<Ann>)> = Vec::new();
    let mut links: HashMap<i64, (Option<i64>, Vec<i64>)> = HashMap::new();
    let mut roots: Vec<i64> = Vec::new();
    let mut ids = HashMap::new();
    for obj in root.children_named("object") {
        let loc = at(obj.offset);
        let Some(id) = obj.child_text("id").and_then(|s| s.parse::<i64>().ok()) else {
            diags.push(Diagnostic::error(
                loc,
                "missing-field",
                "<object> has no integer <id>",
            ));
            continue;
        };
        if let Some(prev) = ids.insert(id, obj.offset) {
            let (l, _) = cvat_format_api::diag::line_col(text.as_bytes(), prev);
            diags.push(Diagnostic::error(
                loc.clone(),
                "duplicate-id",
                format!("object id {id} is already used on line {l}"),
            ));
        }
        let label = obj.child_text("name").unwrap_or("").to_string();
        if label.is_empty() {
            diags.push(Diagnostic::error(
                loc.clone(),
                "missing-label",
                "object has no <name>; the server refuses annotations without a label",
            ));
        }
        let attrs = obj
            .child_text("attributes")
            .map(parse_attributes)
            .unwrap_or_default();
        let occluded = obj.child_text("occluded") == Some("yes");
        let deleted = obj
            .child_text("deleted")
            .map(|d| d.parse::<i64>().map(|v| v != 0).unwrap_or(false))
            .unwrap_or(false);
        let mut anns = Vec::new();
        if let Some(poly) = obj.child("polygon") {
            let mut points = Vec::new();
            let mut ok = true;
            for p in poly.children_named("pt") {
                let x = p
                    .child_text("x")
                    .and_then(|v| v.parse::<f64>().ok())
                    .filter(|v| v.is_finite());
                let y = p
                    .child_text("y")
                    .and_then(|v| v.parse::<f64>().ok())
                    .filter(|v| v.is_finite());
                match (x, y) {
                    (Some(x), Some(y)) => points.extend([x, y]),
                    _ => {
                        diags.push(Diagnostic::error(
                            at(p.offset),
                            "type",
                            "<pt> needs numeric <x> and <y>",
                        ));
                        ok = false;
                    }
                }
            }
            let is_box = obj.child_text("type") == Some("bounding_box");
            if ok && is_box {
                if points.is_empty() {
                    diags.push(Diagnostic::error(
                        at(poly.offset),
                        "geometry",
                        "bounding box has no points",
                    ));
                } else {
                    let xs = points.iter().step_by(2);
                    let ys = points.iter().skip(1).step_by(2);
                    let (x0, x1) =
                        xs.fold((f64::MAX, f64::MIN), |(a, b), v| (a.min(*v), b.max(*v)));
                    let (y0, y1) =
                        ys.fold((f64::MAX, f64::MIN), |(a, b), v| (a.min(*v), b.max(*v)));
                    anns.push(Ann {
                        kind: ShapeType::Rectangle,
                        label: label.clone(),
                        points: vec![x0, y0, x1, y1],
                        attrs: attrs.clone(),
                        occluded,
                        group: 0,
                        loc: loc.clone(),
                    });
                }
            } else if ok {
                anns.push(Ann {
                    kind: ShapeType::Polygon,
                    label: label.clone(),
                    points,
                    attrs: attrs.clone(),
                    occluded,
                    group: 0,
                    loc: loc.clone(),
                });
            }
        } else if let Some(segm) = obj.child("segm") {
            let file = segm.child_text("mask").unwrap_or("");
            let rel = format!("{subset_root}Masks/{file}");
            let found = input.find(&rel).map(str::to_string);
            match found.map(|r| input.read(&r)) {
                None => diags.push(
                    Diagnostic::error(
                        at(segm.offset),
                        "missing-file",
                        format!("mask picture {rel} not found"),
                    )
                    .with_hint("masks live in <subset>/Masks/ next to the XML files"),
                ),
                Some(Err(e)) => diags.push(e.to_diagnostic(&input.display(&rel))),
                Some(Ok(bytes)) => match mask::decode_png(&bytes) {
                    Err(e) => diags.push(Diagnostic::error(
                        Location::file(input.display(&rel)),
                        "image",
                        format!("unreadable mask picture: {e}"),
                    )),
                    Ok(bm) => {
                        if let Some((w, h)) = size {
                            if (w, h) != (bm.width, bm.height) {
                                diags.warning(
                                    at(segm.offset),
                                    "geometry",
                                    format!(
                                        "mask picture is {}x{} but the image is {w}x{h}",
                                        bm.width, bm.height
                                    ),
                                );
                            }
                        }
                        // the server converts masks to polygons on import
                        for p in mask::mask_to_polygons(&bm) {
                            anns.push(Ann {
                                kind: ShapeType::Polygon,
                                label: label.clone(),
                                points: p,
                                attrs: attrs.clone(),
                                occluded,
                                group: 0,
                                loc: loc.clone(),
                            });
                        }
                    }
                },
            }
        } else {
            diags.push(Diagnostic::error(
                loc.clone(),
                "missing-field",
                "object has neither <polygon> nor <segm>",
            ));
        }
        if let Some(parts) = obj.child("parts") {
            let list = |name: &str, diags: &mut Diagnostics| -> Vec<i64> {
                let Some(t) = parts.child_text(name).filter(|t| !t.is_empty()) else {
                    return vec![];
                };
                let mut v = Vec::new();
                for s in t.split(',') {
                    match s.trim().parse() {
                        Ok(n) => v.push(n),
                        Err(_) => diags.push(Diagnostic::error(
                            at(parts.offset),
                            "type",
                            format!("<{name}> must list object ids, found {s:?}"),
                        )),
                    }
                }
                v
            };
            let children = list("hasparts", diags);
            let parents = list("ispartof", diags);
            if !children.is_empty() && parents.is_empty() {
                roots.push(id);
            }
            links.insert(id, (None, children));
        }
        if !deleted {
            parsed.push((id, anns));
        }
    }
    // groups: one per root object, spread to its parts
    for (id, (_, children)) in &links {
        for c in children {
            if !links.contains_key(c) && !ids.contains_key(c) {
                diags.push(Diagnostic::error(
                    at(root.offset),
                    "unknown-id",
                    format!("object {id} lists part {c}, which does not exist"),
                ));
            }
        }
    }
    let mut group_of: HashMap<i64, i64> = HashMap::new();
    let mut current = 0;
    let mut visit: Vec<(i64, bool)> = roots.iter().rev().map(|r| (*r, true)).collect();
    let mut steps = 0;
    while let Some((id, is_root)) = visit.pop() {
        steps += 1;
        if steps > 1_000_000 || group_of.contains_key(&id) {
            continue;
        }
        if is_root {
            current += 1;
        }
        group_of.insert(id, current);
        if let Some((_, children)) = links.get(&id) {
            visit.extend(children.iter().map(|c| (*c, false)));
        }
    }
    let mut out = Vec::new();
    for (id, anns) in parsed {
        for mut a in anns {
            a.group = group_of.get(&id).copied().unwrap_or(0);
            out.push(a);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attribute_text_round_trip() {
        let pairs = vec![
            ("a".to_string(), J::Str("x, y = \"z\" \\ w".into())),
            ("n".to_string(), J::Str("12".into())),
            ("f".to_string(), J::Float(1.5)),
            ("b".to_string(), J::Bool(false)),
        ];
        let text: Vec<String> = pairs
            .iter()
            .map(|(k, v)| format!("{}={}", escape_attr(k), attr_text(v)))
            .collect();
        let back = parse_attributes(&text.join(", "));
        assert_eq!(back, pairs);
        // datumaro's escaping cannot carry a value that ends in a backslash when another attribute
        // follows (`\\,` reads as an escaped comma); we read such text as the server does
        let odd = parse_attributes("a=x\\\\, b=1");
        assert_eq!(odd.len(), 1);
    }
}
