//! The "Ultralytics YOLO * 1.0" formats, as the CVAT server exports and imports them (datumaro's
//! `yolo_ultralytics_*` plugins). Servers before 2.24 call them "YOLOv8 * 1.0": those are aliases.
//!
//! - [`yaml`]: `data.yaml` reading (located errors) and writing (PyYAML's layout and quoting).
//! - this module: the six formats ([`Detection`], [`DetectionTrack`] (export only), [`Segmentation`],
//!   [`Pose`], [`OrientedBoxes`], [`Classification`]) over one implementation switched by [`Kind`].
//!
//! Layout (all but classification): `data.yaml`, `train.txt` (`data/images/train/<image>`),
//! `labels/train/<item>.txt` written only for images with annotations. Lines hold a class id (index into
//! `names`: top-level labels, or skeleton labels only for pose) and normalised coordinates (`%.6f`).
//! Classification: `train/labels.json` (`{item: {"labels": [...], "path": "<label>/<image>"}}`) and, on
//! import, also `<subset>/<label>/<image>` folders.

mod trace;
pub mod yaml;

use cvat_format_api::geometry::rotated_corners;
use cvat_format_api::{
    Dataset, Diagnostic, Diagnostics, DropReport, Format, FormatError, FormatInfo, Frame, Input,
    Label, LabelType, Location, OutputSink, ReadOptions, Result, Shape, ShapeType, Tag, Track,
    TrackedShape, WriteOptions,
};
use cvat_format_yolo::common::{
    check_unit, fields, first_error, image_ext, images_for, number_frames, parse_class, parse_num,
    push_fmt6, round2, strip_ext, ClassMap, Field, Flat, FlatShape, FrameIndex, ItemFrame,
    SizeResolver,
};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use yaml::{as_string, DataYaml};
use yaml_rust2::Yaml;

/// Which member of the family.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Detection,
    DetectionTrack,
    Segmentation,
    Pose,
    OrientedBoxes,
    Classification,
}

impl Kind {
    fn names(self) -> (&'static str, &'static str) {
        match self {
            Kind::Detection => ("Ultralytics YOLO Detection 1.0", "YOLOv8 Detection 1.0"),
            Kind::DetectionTrack => (
                "Ultralytics YOLO Detection Track 1.0",
                "YOLOv8 Detection Track 1.0",
            ),
            Kind::Segmentation => (
                "Ultralytics YOLO Segmentation 1.0",
                "YOLOv8 Segmentation 1.0",
            ),
            Kind::Pose => ("Ultralytics YOLO Pose 1.0", "YOLOv8 Pose 1.0"),
            Kind::OrientedBoxes => (
                "Ultralytics YOLO Oriented Bounding Boxes 1.0",
                "YOLOv8 Oriented Bounding Boxes 1.0",
            ),
            Kind::Classification => (
                "Ultralytics YOLO Classification 1.0",
                "YOLOv8 Classification 1.0",
            ),
        }
    }

    fn info(self) -> FormatInfo {
        let (name, alias) = self.names();
        let desc = match self {
            Kind::Detection => "Ultralytics YOLO: data.yaml and `cls cx cy w h` lines per image",
            Kind::DetectionTrack => {
                "Ultralytics YOLO detection lines with a trailing track id (export only)"
            }
            Kind::Segmentation => {
                "Ultralytics YOLO: data.yaml and `cls x1 y1 ... xn yn` polygon lines"
            }
            Kind::Pose => {
                "Ultralytics YOLO: data.yaml with kpt_shape and `cls box x y v ...` skeleton lines"
            }
            Kind::OrientedBoxes => {
                "Ultralytics YOLO: data.yaml and `cls x1 y1 ... x4 y4` rotated box corners"
            }
            Kind::Classification => {
                "Ultralytics YOLO classification: <subset>/<label>/<image> and labels.json"
            }
        };
        let info = FormatInfo::new(name)
            .aliases(&[alias])
            .export()
            .extensions(&["zip"])
            .description(desc);
        if self == Kind::DetectionTrack {
            info
        } else {
            info.import()
        }
    }
}

macro_rules! format_type {
    ($(#[$doc:meta])* $ty:ident, $kind:expr) => {
        $(#[$doc])*
        #[derive(Debug, Default, Clone, Copy)]
        pub struct $ty;
        cvat_format_api::register_format!($ty);
        impl Format for $ty {
            fn info(&self) -> FormatInfo {
                $kind.info()
            }
            fn sniff(&self, input: &Input) -> u8 {
                sniff($kind, input)
            }
            fn read(&self, input: &Input, opts: &ReadOptions) -> Result<Dataset> {
                if $kind == Kind::DetectionTrack {
                    return Err(FormatError::Unsupported(format!(
                        "{} cannot be imported; import it as \"Ultralytics YOLO Detection 1.0\"",
                        $kind.names().0
                    )));
                }
                let mut diags = Diagnostics::default();
                let ds = parse($kind, input, opts, &mut diags)?;
                match first_error(&diags) {
                    Some(e) => Err(e),
                    None => Ok(ds),
                }
            }
            fn write(
                &self,
                ds: &Dataset,
                out: &mut dyn OutputSink,
                _opts: &WriteOptions,
            ) -> Result<DropReport> {
                write($kind, ds, out)
            }
            fn validate(&self, input: &Input, opts: &ReadOptions) -> Diagnostics {
                let mut diags = Diagnostics::default();
                if let Err(e) = parse($kind, input, opts, &mut diags) {
                    diags.push(e.to_diagnostic(input.name()));
                }
                diags
            }
        }
    };
}

format_type!(
    /// "Ultralytics YOLO Detection 1.0" (alias "YOLOv8 Detection 1.0").
    Detection,
    Kind::Detection
);
format_type!(
    /// "Ultralytics YOLO Detection Track 1.0": detection lines with a trailing track id; export only.
    DetectionTrack,
    Kind::DetectionTrack
);
format_type!(
    /// "Ultralytics YOLO Segmentation 1.0" (alias "YOLOv8 Segmentation 1.0").
    Segmentation,
    Kind::Segmentation
);
format_type!(
    /// "Ultralytics YOLO Pose 1.0" (alias "YOLOv8 Pose 1.0").
    Pose,
    Kind::Pose
);
format_type!(
    /// "Ultralytics YOLO Oriented Bounding Boxes 1.0" (alias "YOLOv8 Oriented Bounding Boxes 1.0").
    OrientedBoxes,
    Kind::OrientedBoxes
);
format_type!(
    /// "Ultralytics YOLO Classification 1.0" (alias "YOLOv8 Classification 1.0").
    Classification,
    Kind::Classification
);

fn sniff(kind: Kind, input: &Input) -> u8 {
    if kind == Kind::Classification {
        let has_json = input.files().iter().any(|f| f.ends_with("/labels.json"));
        let has_yaml = input.find("data.yaml").is_some();
        return if has_json && !has_yaml { 70 } else { 0 };
    }
    let Some(rel) = input.find("data.yaml") else {
        return 0;
    };
    let Ok(text) = input.read_text(rel) else {
        return 10;
    };
    let has_kpt = text.lines().any(|l| l.starts_with("kpt_shape"));
    match kind {
        Kind::Pose if has_kpt => 85,
        Kind::Pose => 0,
        _ if has_kpt => 0,
        Kind::Detection => {
            // look at the first label line: 5 (or 6) fields
            let first = input
                .files()
                .iter()
                .find(|f| f.contains("labels/") && f.ends_with(".txt"))
                .and_then(|f| input.read_text(f).ok())
                .and_then(|t| t.lines().next().map(|l| l.split_whitespace().count()));
            match first {
                Some(5) | Some(6) | None => 80,
                _ => 40,
            }
        }
        Kind::OrientedBoxes | Kind::Segmentation => {
            let first = input
                .files()
                .iter()
                .find(|f| f.contains("labels/") && f.ends_with(".txt"))
                .and_then(|f| input.read_text(f).ok())
                .and_then(|t| t.lines().next().map(|l| l.split_whitespace().count()));
            match (kind, first) {
                (Kind::OrientedBoxes, Some(9)) => 82,
                (Kind::Segmentation, Some(n)) if n >= 7 && n % 2 == 1 && n != 9 => 82,
                (Kind::Segmentation, Some(9)) => 60,
                _ => 30,
            }
        }
        _ => 0,
    }
}

// ------------------------------------------------------------------------------------------------
// export

fn subset_of(f: &Frame) -> String {
    match f.subset.as_deref() {
        None | Some("") | Some("default") => "train".to_string(),
        Some(s) => s.to_string(),
    }
}

fn io_err(rel: &str) -> impl Fn(std::io::Error) -> FormatError + '_ {
    move |e| FormatError::io(rel, e)
}

fn write(kind: Kind, ds: &Dataset, out: &mut dyn OutputSink) -> Result<DropReport> {
    let mut drops = DropReport::default();
    let mut frames: Vec<&Frame> = ds.frames.iter().collect();
    frames.sort_by_key(|f| f.id);
    if kind == Kind::Classification {
        return write_classification(ds, &frames, out);
    }
    let classes: Vec<&Label> = ds
        .labels
        .iter()
        .filter(|l| kind != Kind::Pose || l.kind == LabelType::Skeleton || !l.sublabels.is_empty())
        .collect();
    let class_of: BTreeMap<i64, usize> =
        classes.iter().enumerate().map(|(i, l)| (l.id, i)).collect();
    let kpts = classes.iter().map(|l| l.sublabels.len()).max().unwrap_or(0);

    let mut subsets: Vec<(String, Vec<&Frame>)> = Vec::new();
    for f in &frames {
        let s = subset_of(f);
        match subsets.iter_mut().find(|(n, _)| *n == s) {
            Some((_, v)) => v.push(f),
            None => subsets.push((s, vec![f])),
        }
    }
    let names: Vec<&str> = classes.iter().map(|l| l.name.as_str()).collect();
    let subset_names: Vec<String> = subsets.iter().map(|(s, _)| s.clone()).collect();
    let text = yaml::write_data_yaml(&names, &subset_names, (kind == Kind::Pose).then_some(kpts));
    out.file("data.yaml")?
        .write_all(text.as_bytes())
        .map_err(io_err("data.yaml"))?;
    for (s, list) in &subsets {
        let rel = format!("{s}.txt");
        let mut text = String::new();
        for f in list {
            text.push_str(&format!(
                "data/images/{s}/{}{}\n",
                f.stem(),
                image_ext(&f.name)
            ));
        }
        out.file(&rel)?
            .write_all(text.as_bytes())
            .map_err(io_err(&rel))?;
    }

    let flat = Flat::new(ds);
    let mut shapes = Vec::new();
    let idx = ds.label_index();
    for (s, list) in &subsets {
        for f in list {
            flat.frame_into(f.id, &mut shapes);
            let mut lines = String::new();
            for sh in &shapes {
                let Some(line) = line_for(kind, sh, f, &class_of, &idx, kpts, &mut drops)? else {
                    continue;
                };
                lines.push_str(&line);
                lines.push('\n');
                drops.add("attribute values", sh.attributes);
                if sh.occluded && kind != Kind::Pose {
                    drops.add("occluded flags", 1);
                }
            }
            if !lines.is_empty() {
                let rel = format!("labels/{s}/{}.txt", f.stem());
                out.write_file(&rel, lines.into_bytes())?;
            }
        }
    }
    let known: std::collections::HashSet<u32> = frames.iter().map(|f| f.id).collect();
    drops.add(
        "shapes on frames missing from the frame list",
        flat.count_where(|f| known.contains(&f)),
    );
    drops.add("tags", ds.tags.len());
    if kind != Kind::DetectionTrack {
        drops.add(
            "track identities (tracks flattened into per-frame shapes)",
            ds.tracks.len(),
        );
    }
    let groups = ds.shapes.iter().filter(|s| s.group != 0).count()
        + ds.tracks.iter().filter(|t| t.group != 0).count();
    drops.add("group ids", groups);
    Ok(drops)
}

/// The label line of one shape, or `None` (counted in `drops`) when this format does not carry it.
fn line_for(
    kind: Kind,
    sh: &FlatShape,
    f: &Frame,
    class_of: &BTreeMap<i64, usize>,
    idx: &cvat_format_api::LabelIndex<'_>,
    kpts: usize,
    drops: &mut DropReport,
) -> Result<Option<String>> {
    let wanted = match kind {
        Kind::Detection | Kind::DetectionTrack | Kind::OrientedBoxes => ShapeType::Rectangle,
        Kind::Segmentation => ShapeType::Polygon,
        Kind::Pose => ShapeType::Skeleton,
        Kind::Classification => return Ok(None),
    };
    let traced =
        kind == Kind::Segmentation && matches!(sh.kind, ShapeType::Mask | ShapeType::Ellipse);
    if sh.kind != wanted && !traced {
        drops.add(format!("{} shapes", sh.kind.as_str()), 1);
        return Ok(None);
    }
    let rotated = sh.rotation.rem_euclid(360.0) != 0.0;
    if matches!(kind, Kind::Detection | Kind::DetectionTrack) && rotated {
        drops.add("rotated rectangles", 1);
        return Ok(None);
    }
    let Some(class) = class_of.get(&sh.label_id) else {
        drops.add(
            format!("{} shapes with a label not in names", sh.kind.as_str()),
            1,
        );
        return Ok(None);
    };
    if !f.has_size() {
        return Err(FormatError::missing(
            format!("frame {} ({:?}) has no size", f.id, f.name),
            "Ultralytics coordinates are fractions of the image size: give the frames their width and height",
        ));
    }
    let (w, h) = (f.width as f64, f.height as f64);
    let mut line = class.to_string();
    let mut push = |v: f64| {
        line.push(' ');
        push_fmt6(&mut line, v);
    };
    match kind {
        Kind::Detection | Kind::DetectionTrack => {
            let [x0, y0, x1, y1] = match &*sh.points {
                [a, b, c, d] => [*a, *b, *c, *d],
                _ => {
                    drops.add("rectangles with malformed points", 1);
                    return Ok(None);
                }
            };
            push((x0 + x1) / 2.0 / w);
            push((y0 + y1) / 2.0 / h);
            push((x1 - x0) / w);
            push((y1 - y0) / h);
            if kind == Kind::DetectionTrack {
                // shapes outside tracks get no id (the server's documented layout)
                if let Some(t) = sh.track {
                    line.push_str(&format!(" {t}"));
                }
            }
        }
        Kind::OrientedBoxes => {
            if sh.points.len() != 4 {
                drops.add("rectangles with malformed points", 1);
                return Ok(None);
            }
            for (x, y) in rotated_corners(&sh.points, sh.rotation) {
                push(x / w);
                push(y / h);
            }
        }
        Kind::Segmentation if traced => {
            let polys = if sh.kind == ShapeType::Mask {
                trace::mask_polygons(&sh.points)
            } else {
                trace::ellipse_polygons(&sh.points, sh.rotation)
            };
            let what = sh.kind.as_str();
            let Some(polys) = polys.filter(|p| !p.is_empty()) else {
                drops.add(
                    format!("{what} shapes that could not be traced into a polygon"),
                    1,
                );
                return Ok(None);
            };
            drops.add(
                format!("{what} shapes traced into polygon outlines (pixels approximated, holes dropped)"),
                1,
            );
            let mut lines = Vec::new();
            for poly in polys {
                let mut l = class.to_string();
                for p in poly.chunks_exact(2) {
                    l.push(' ');
                    push_fmt6(&mut l, p[0] / w);
                    l.push(' ');
                    push_fmt6(&mut l, p[1] / h);
                }
                lines.push(l);
            }
            return Ok(Some(lines.join("\n")));
        }
        Kind::Segmentation => {
            if sh.points.len() < 6 || sh.points.len() & 1 == 1 {
                drops.add("polygons with malformed points", 1);
                return Ok(None);
            }
            for p in sh.points.chunks_exact(2) {
                push(p[0] / w);
                push(p[1] / h);
            }
        }
        Kind::Pose => {
            let Some(label) = idx.label(sh.label_id) else {
                return Ok(None);
            };
            let mut pts: Vec<(f64, f64, u8)> = Vec::new();
            for sub in &label.sublabels {
                match sh.elements.iter().find(|e| e.label_id == sub.id) {
                    Some(e) if e.points.len() >= 2 => {
                        let v = if e.outside {
                            0
                        } else if e.occluded {
                            1
                        } else {
                            2
                        };
                        pts.push((e.points[0], e.points[1], v));
                    }
                    _ => pts.push((0.0, 0.0, 0)),
                }
            }
            let unknown = sh
                .elements
                .iter()
                .filter(|e| !label.sublabels.iter().any(|s| s.id == e.label_id))
                .count();
            drops.add("skeleton points with a label not in the skeleton", unknown);
            let visible: Vec<f64> = pts
                .iter()
                .filter(|p| p.2 > 0)
                .flat_map(|p| [p.0, p.1])
                .collect();
            let (x0, y0, x1, y1) =
                cvat_format_api::geometry::bbox_of(&visible).unwrap_or((0.0, 0.0, 0.0, 0.0));
            push((x0 + x1) / 2.0 / w);
            push((y0 + y1) / 2.0 / h);
            push((x1 - x0) / w);
            push((y1 - y0) / h);
            for (x, y, v) in pts.iter().copied().chain(std::iter::repeat_n(
                (0.0, 0.0, 0),
                kpts.saturating_sub(pts.len()),
            )) {
                line.push(' ');
                push_fmt6(&mut line, x / w);
                line.push(' ');
                push_fmt6(&mut line, y / h);
                let _ = write!(line, " {v}");
            }
        }
        Kind::Classification => {}
    }
    Ok(Some(line))
}

fn write_classification(
    ds: &Dataset,
    frames: &[&Frame],
    out: &mut dyn OutputSink,
) -> Result<DropReport> {
    let mut drops = DropReport::default();
    let idx = ds.label_index();
    let mut subsets: Vec<(String, serde_json::Map<String, serde_json::Value>)> = Vec::new();
    for f in frames {
        let names: Vec<String> = ds
            .tags
            .iter()
            .filter(|t| t.frame == f.id)
            .filter_map(|t| idx.label(t.label_id).map(|l| l.name.clone()))
            .collect();
        let file = format!(
            "{}{}",
            f.stem().rsplit('/').next().unwrap_or(""),
            image_ext(&f.name)
        );
        let folder = names.first().cloned().unwrap_or_else(|| "no_label".into());
        let entry = serde_json::json!({"labels": names, "path": format!("{folder}/{file}")});
        let s = subset_of(f);
        match subsets.iter_mut().find(|(n, _)| *n == s) {
            Some((_, m)) => {
                m.insert(f.stem().to_string(), entry);
            }
            None => {
                let mut m = serde_json::Map::new();
                m.insert(f.stem().to_string(), entry);
                subsets.push((s, m));
            }
        }
    }
    for (s, m) in subsets {
        let rel = format!("{s}/labels.json");
        let text = serde_json::to_string(&serde_json::Value::Object(m))
            .map_err(|e| FormatError::Other(e.to_string()))?;
        out.file(&rel)?
            .write_all(text.as_bytes())
            .map_err(io_err(&rel))?;
    }
    let tag_attrs: usize = ds.tags.iter().map(|t| t.attributes.len()).sum();
    drops.add("attribute values", tag_attrs);
    let tracked: usize = ds.tracks.len();
    drops.add("shapes", ds.shapes.len());
    drops.add("tracks", tracked);
    Ok(drops)
}

// ------------------------------------------------------------------------------------------------
// import

/// Ultralytics' rule for the label file of an image: the last `/images/` becomes `/labels/`, the
/// extension `.txt`.
fn label_path(image_rel: &str) -> String {
    let with_slash = format!("/{image_rel}");
    let swapped = match with_slash.rfind("/images/") {
        Some(i) => format!(
            "{}/labels/{}",
            &with_slash[..i],
            &with_slash[i + "/images/".len()..]
        ),
        None => with_slash,
    };
    format!("{}.txt", strip_ext(&swapped[1..]))
}

/// The item's file name: the image path after `images/<subset>/` (or `<subset>/images/`).
fn item_name(image_rel: &str, subset: &str) -> String {
    let after = match image_rel.rfind("images/") {
        Some(i) => &image_rel[i + "images/".len()..],
        None => image_rel.rsplit('/').next().unwrap_or(image_rel),
    };
    after
        .strip_prefix(&format!("{subset}/"))
        .unwrap_or(after)
        .to_string()
}

struct Item {
    frame: ItemFrame,
    image_rel: String,
    label_rel: String,
}

/// A path from data.yaml or a list file, relative to the dataset root: leading `./`, `../` (Roboflow
/// writes `../train/images` for folders beside data.yaml) and the server's `data/` prefix removed.
fn clean(p: &str) -> &str {
    let mut p = p.trim();
    while let Some(rest) = p.strip_prefix("./").or_else(|| p.strip_prefix("../")) {
        p = rest;
    }
    p.strip_prefix("data/").unwrap_or(p)
}

fn is_image(p: &str) -> bool {
    cvat_format_api::imagesize::is_image_name(p)
}

/// The items of subset `key` whose value in data.yaml is `value`.
fn subset_items(
    input: &Input,
    root: &str,
    y: &DataYaml,
    key: &str,
    value: &Yaml,
    diags: &mut Diagnostics,
) -> Result<Vec<(String, Location)>> {
    let mut out = Vec::new();
    let loc = y.loc(key);
    let from_path =
        |p: &str, out: &mut Vec<(String, Location)>, diags: &mut Diagnostics| -> Result<()> {
            let rel = format!("{root}{}", clean(p));
            let rel = rel.trim_end_matches('/').to_string();
            if rel.ends_with(".txt") {
                if !input.contains(&rel) {
                    diags.push(
                        Diagnostic::error(
                            loc.clone(),
                            "missing-file",
                            format!("image list {p:?} of subset {key:?} is not in the input"),
                        )
                        .with_hint(format!(
                            "add {rel} with one data/images/{key}/<image> per line"
                        )),
                    );
                    return Ok(());
                }
                let file = input.display(&rel);
                let text = input.read_text(&rel)?;
                for (i, line) in text.lines().enumerate() {
                    if line.trim().is_empty() {
                        continue;
                    }
                    out.push((
                        format!("{root}{}", clean(line)),
                        Location::line(&file, i as u32 + 1, 1),
                    ));
                }
            } else if is_image(&rel) {
                out.push((rel, loc.clone()));
            } else {
                // a folder of images; without images, the matching labels folder
                let prefix = format!("{rel}/");
                let mut found: Vec<String> = input
                    .files()
                    .iter()
                    .filter(|f| f.starts_with(&prefix) && is_image(f))
                    .cloned()
                    .collect();
                if found.is_empty() {
                    let labels_dir = label_path(&format!("{rel}/x.jpg"));
                    let labels_prefix = labels_dir.trim_end_matches("x.txt").to_string();
                    found = input
                        .files()
                        .iter()
                        .filter(|f| f.starts_with(&labels_prefix) && f.ends_with(".txt"))
                        .map(|f| {
                            let stem = strip_ext(&f[labels_prefix.len()..]);
                            format!("{prefix}{stem}.jpg")
                        })
                        .collect();
                }
                if found.is_empty() {
                    diags.push(
                    Diagnostic::error(
                        loc.clone(),
                        "missing-file",
                        format!("subset {key:?}: folder {p:?} holds no images and no labels"),
                    )
                    .with_hint(
                        "point the subset at a folder of images, a list of images or a .txt list",
                    ),
                );
                }
                for f in found {
                    out.push((f, loc.clone()));
                }
            }
            Ok(())
        };
    match value {
        Yaml::Array(list) => {
            for v in list {
                match as_string(v) {
                    Some(p) => from_path(&p, &mut out, diags)?,
                    None => diags.error(
                        loc.clone(),
                        "bad-value",
                        format!("subset {key:?}: list entries must be paths"),
                    ),
                }
            }
        }
        v => match as_string(v) {
            Some(p) => from_path(&p, &mut out, diags)?,
            None => diags.error(
                loc.clone(),
                "bad-value",
                format!("subset {key:?} must be a path, a list of paths or a .txt list"),
            ),
        },
    }
    Ok(out)
}

fn names_of(y: &DataYaml, diags: &mut Diagnostics) -> Vec<String> {
    let loc = y.loc("names");
    match y.get("names") {
        Some(Yaml::Array(list)) => list
            .iter()
            .map(|v| {
                as_string(v).unwrap_or_else(|| {
                    diags.error(loc.clone(), "bad-value", "names must be strings");
                    String::new()
                })
            })
            .collect(),
        Some(Yaml::Hash(h)) => {
            let mut v: Vec<(i64, String)> = Vec::new();
            for (k, n) in h {
                match (k.as_i64(), as_string(n)) {
                    (Some(i), Some(n)) if i >= 0 => v.push((i, n)),
                    _ => diags.error(
                        loc.clone(),
                        "bad-value",
                        "names must map class ids (0, 1, ...) to label names",
                    ),
                }
            }
            v.sort_by_key(|(i, _)| *i);
            for (pos, (i, _)) in v.iter().enumerate() {
                if *i != pos as i64 {
                    diags.push(
                        Diagnostic::error(
                            loc.clone(),
                            "bad-value",
                            format!("names: class ids must run 0, 1, 2, ... without gaps; {pos} is missing"),
                        )
                        .with_hint("number the names from 0"),
                    );
                    break;
                }
            }
            v.into_iter().map(|(_, n)| n).collect()
        }
        Some(_) => {
            diags.error(loc, "bad-value", "names must be a list or a mapping");
            Vec::new()
        }
        None => {
            diags.push(
                Diagnostic::error(
                    Location::file(y.file()),
                    "missing-field",
                    "data.yaml has no `names`",
                )
                .with_hint("add `names:` mapping class ids to label names"),
            );
            Vec::new()
        }
    }
}

/// Parses the whole input, pushing every problem found into `diags`. Returns `Err` only when nothing
/// sensible can be read.
pub fn parse(
    kind: Kind,
    input: &Input,
    opts: &ReadOptions,
    diags: &mut Diagnostics,
) -> Result<Dataset> {
    if kind == Kind::Classification {
        return parse_classification(input, opts, diags);
    }
    let yaml_rel = input.find("data.yaml").map(str::to_string).ok_or_else(|| {
        FormatError::missing(
            format!("{}: no data.yaml found", input.name()),
            "an Ultralytics YOLO dataset has data.yaml (names, path, train) at its root",
        )
    })?;
    let root = match yaml_rel.rfind('/') {
        Some(i) => yaml_rel[..=i].to_string(),
        None => String::new(),
    };
    let y = DataYaml::parse(&input.display(&yaml_rel), &input.read_text(&yaml_rel)?)
        .map_err(FormatError::Invalid)?;
    let names = names_of(&y, diags);

    // pose: kpt_shape
    let mut kpt: Option<(usize, usize)> = None;
    if kind == Kind::Pose {
        let loc = y.loc("kpt_shape");
        match y.get("kpt_shape") {
            Some(Yaml::Array(a)) if a.len() == 2 => match (a[0].as_i64(), a[1].as_i64()) {
                (Some(k), Some(d)) if k > 0 && (d == 2 || d == 3) => {
                    kpt = Some((k as usize, d as usize))
                }
                _ => diags.push(
                    Diagnostic::error(
                        loc,
                        "bad-value",
                        "kpt_shape must be [K, 2] or [K, 3] with K > 0",
                    )
                    .with_hint("K is the number of points per skeleton"),
                ),
            },
            Some(_) => diags.error(loc, "bad-value", "kpt_shape must be [K, 2] or [K, 3]"),
            None => diags.push(
                Diagnostic::error(
                    Location::file(y.file()),
                    "missing-field",
                    "data.yaml has no kpt_shape",
                )
                .with_hint("pose datasets declare `kpt_shape: [K, 3]`"),
            ),
        }
    }

    let mut classmap = ClassMap::new(
        &names,
        opts,
        if kind == Kind::Pose {
            LabelType::Skeleton
        } else {
            LabelType::Any
        },
    );
    if kind == Kind::Pose && opts.labels.is_none() {
        // skeletons with K points named 1..K
        if let Some((k, _)) = kpt {
            let mut next = classmap.labels.len() as i64 + 1;
            for l in classmap.labels.iter_mut() {
                l.sublabels = (1..=k)
                    .map(|i| {
                        let id = next;
                        next += 1;
                        Label {
                            id,
                            name: i.to_string(),
                            kind: LabelType::Points,
                            ..Default::default()
                        }
                    })
                    .collect();
            }
        }
    }

    // items from every subset key
    let reserved = ["names", "path", "kpt_shape", "nc", "download", "flip_idx"];
    let mut items: Vec<Item> = Vec::new();
    let mut seen = std::collections::HashSet::new();
    let mut any_subset = false;
    for key in y.keys() {
        if reserved.contains(&key.as_str()) {
            continue;
        }
        let Some(value) = y.get(&key) else { continue };
        if !matches!(key.as_str(), "train" | "val" | "test")
            && as_string(value).is_none()
            && !matches!(value, Yaml::Array(_))
        {
            continue;
        }
        let standard = matches!(key.as_str(), "train" | "val" | "test");
        let mut local = Diagnostics::default();
        let listed = subset_items(input, &root, &y, &key, value, &mut local)?;
        if !standard && (local.has_errors() || listed.is_empty()) {
            diags.push(
                Diagnostic::warning(
                    y.loc(&key),
                    "unknown-key",
                    format!("key {key:?} is not a subset with images or labels; ignored"),
                )
                .with_hint("subsets are usually train, val and test"),
            );
            continue;
        }
        diags.extend(local.into_items());
        any_subset = true;
        for (image_rel, _listed_at) in listed {
            let name = item_name(&image_rel, &key);
            if !seen.insert((key.clone(), name.clone())) {
                continue;
            }
            items.push(Item {
                frame: ItemFrame {
                    name,
                    hint_id: None,
                    id: 0,
                    width: 0,
                    height: 0,
                    subset: (key != "train").then(|| key.clone()),
                },
                label_rel: label_path(&image_rel),
                image_rel,
            });
        }
    }
    if !any_subset {
        diags.push(
            Diagnostic::error(
                Location::file(y.file()),
                "missing-field",
                "data.yaml names no subset (`train:`)",
            )
            .with_hint("add `train: train.txt` (a list of images) or `train: images/train`"),
        );
    }

    let sizes = SizeResolver::new(input, opts);
    for it in items.iter_mut() {
        let item_id = strip_ext(&it.frame.name).to_string();
        if let Some(h) = sizes.hint(&item_id, &it.frame.name) {
            it.frame.hint_id = Some(h.id);
            it.frame.name = h.name.clone();
        }
        // the listed image, or an image beside the label file
        let mut candidates = vec![it.image_rel.clone()];
        candidates.extend(images_for(input, strip_ext(&it.label_rel)));
        let needs_size = input.contains(&it.label_rel);
        match sizes.size(&item_id, &it.frame.name, &candidates) {
            Ok((w, h)) => {
                it.frame.width = w;
                it.frame.height = h;
            }
            Err(e) if needs_size => return Err(e),
            Err(_) => {}
        }
    }
    let mut frames: Vec<ItemFrame> = items.iter().map(|i| i.frame.clone()).collect();
    number_frames(&mut frames, opts);
    let id_of: BTreeMap<(String, Option<String>), u32> = frames
        .iter()
        .map(|f| ((f.name.clone(), f.subset.clone()), f.id))
        .collect();

    let mut ds = Dataset {
        labels: std::mem::take(&mut classmap.labels),
        ..Default::default()
    };
    for f in &frames {
        ds.frames.push(Frame {
            id: f.id,
            name: f.name.clone(),
            width: f.width,
            height: f.height,
            subset: f.subset.clone(),
        });
    }
    ds.frames.sort_by_key(|f| f.id);
    classmap.labels = ds.labels.clone();

    let mut order: Vec<(u32, &Item)> = items
        .iter()
        .map(|it| {
            let key = (it.frame.name.clone(), it.frame.subset.clone());
            (id_of.get(&key).copied().unwrap_or(0), it)
        })
        .collect();
    order.sort_by_key(|(id, _)| *id);
    // track id -> (label, keyframes)
    let mut tracks: BTreeMap<i64, (i64, Vec<Shape>)> = BTreeMap::new();
    for (frame, it) in order {
        if !input.contains(&it.label_rel) {
            continue; // Ultralytics writes no file for images without annotations
        }
        let file = input.display(&it.label_rel);
        let text = match input.read_text(&it.label_rel) {
            Ok(t) => t,
            Err(e) => {
                diags.push(e.to_diagnostic(&file));
                continue;
            }
        };
        let size = (it.frame.width as f64, it.frame.height as f64);
        for (i, line) in text.lines().enumerate() {
            let ln = i as u32 + 1;
            let f = fields(line);
            if f.is_empty() {
                continue;
            }
            let ctx = LineCtx {
                file: &file,
                ln,
                size,
                names: names.len(),
                classmap: &classmap,
                labels: &ds.labels,
            };
            match parse_line(kind, &ctx, &f, kpt, diags) {
                Some(Parsed::Shape(mut s, track)) => {
                    s.frame = frame;
                    match track {
                        Some(t) if t >= 0 => {
                            let e = tracks.entry(t).or_insert((s.label_id, Vec::new()));
                            if e.0 == s.label_id {
                                e.1.push(s);
                            } else {
                                diags.push(
                                    Diagnostic::error(
                                        Location::line(&file, i as u32 + 1, 1),
                                        "track-label",
                                        format!("track {t} changes its class"),
                                    )
                                    .with_hint(
                                        "a track id names one object: keep its class on every line",
                                    ),
                                );
                            }
                        }
                        _ => ds.shapes.push(s),
                    }
                }
                None => {}
            }
        }
    }
    let last_frame = ds.frames.iter().map(|f| f.id).max().unwrap_or(0);
    for (_, (label_id, shapes)) in tracks {
        ds.tracks.push(build_track(label_id, shapes, last_frame));
    }
    ds.tracks.sort_by_key(|t| t.frame);
    Ok(ds)
}

/// A track from the shapes that share a track id: a keyframe on every frame it appears, closed by an
/// `outside` keyframe after each gap and after its last frame (unless that is the task's last frame).
/// Skeletons get one element track per point.
fn build_track(label_id: i64, mut shapes: Vec<Shape>, last_frame: u32) -> Track {
    shapes.sort_by_key(|s| s.frame);
    shapes.dedup_by_key(|s| s.frame);
    let keyed = |s: &Shape| TrackedShape {
        kind: s.kind,
        frame: s.frame,
        occluded: s.occluded,
        outside: s.outside,
        rotation: s.rotation,
        points: s.points.clone(),
        ..Default::default()
    };
    let mut keys: Vec<TrackedShape> = Vec::new();
    let mut elements: BTreeMap<i64, Vec<TrackedShape>> = BTreeMap::new();
    for (i, s) in shapes.iter().enumerate() {
        keys.push(keyed(s));
        for e in &s.elements {
            elements.entry(e.label_id).or_default().push(TrackedShape {
                frame: s.frame,
                ..keyed(e)
            });
        }
        let next = shapes.get(i + 1).map(|n| n.frame);
        if next != Some(s.frame + 1) && s.frame < last_frame {
            let close = |k: &TrackedShape| TrackedShape {
                frame: s.frame + 1,
                outside: true,
                ..k.clone()
            };
            if let Some(k) = keys.last().map(close) {
                keys.push(k);
            }
            for v in elements.values_mut() {
                if let Some(k) = v.last().filter(|k| k.frame == s.frame).map(close) {
                    v.push(k);
                }
            }
        }
    }
    Track {
        label_id,
        frame: keys.first().map(|s| s.frame).unwrap_or(0),
        shapes: keys,
        elements: elements
            .into_iter()
            .map(|(label_id, shapes)| Track {
                label_id,
                frame: shapes.first().map(|s| s.frame).unwrap_or(0),
                shapes,
                ..Default::default()
            })
            .collect(),
        ..Default::default()
    }
}

struct LineCtx<'a> {
    file: &'a str,
    ln: u32,
    size: (f64, f64),
    names: usize,
    classmap: &'a ClassMap,
    labels: &'a [Label],
}

enum Parsed {
    Shape(Shape, Option<i64>),
}

fn numbers(
    ctx: &LineCtx,
    f: &[Field<'_>],
    what: &str,
    diags: &mut Diagnostics,
) -> Option<Vec<f64>> {
    let mut out = Vec::with_capacity(f.len());
    let mut ok = true;
    for fl in f {
        match parse_num(ctx.file, ctx.ln, *fl, what) {
            Ok(v) => out.push(v),
            Err(d) => {
                diags.push(*d);
                ok = false;
            }
        }
    }
    ok.then_some(out)
}

fn field_count_error(ctx: &LineCtx, expected: &str, found: usize, diags: &mut Diagnostics) {
    diags.push(
        Diagnostic::error(
            Location::line(ctx.file, ctx.ln, 1),
            "field-count",
            format!("expected {expected}, found {found} fields"),
        )
        .with_hint("coordinates are fractions of the image width and height, after the class id"),
    );
}

fn parse_line(
    kind: Kind,
    ctx: &LineCtx,
    f: &[Field<'_>],
    kpt: Option<(usize, usize)>,
    diags: &mut Diagnostics,
) -> Option<Parsed> {
    let (w, h) = ctx.size;
    // an optional trailing integer track id, when the count allows it
    let base = match kind {
        Kind::Detection => 5,
        Kind::OrientedBoxes => 9,
        Kind::Pose => kpt.map(|(k, d)| 5 + k * d).unwrap_or(0),
        _ => 0,
    };
    let (body, track): (&[Field], Option<i64>) = if base > 0 && f.len() == base + 1 {
        match f[base].text.parse::<i64>() {
            Ok(t) => (&f[..base], Some(t)),
            Err(_) => (f, None),
        }
    } else if kind == Kind::Segmentation && f.len() & 1 == 0 && f.len() >= 8 {
        match f[f.len() - 1].text.parse::<i64>() {
            Ok(t) if !f[f.len() - 1].text.contains('.') => (&f[..f.len() - 1], Some(t)),
            _ => (f, None),
        }
    } else {
        (f, None)
    };
    match kind {
        Kind::Detection if body.len() != 5 => {
            field_count_error(
                ctx,
                "5 fields `<class> <cx> <cy> <w> <h>` (and an optional track id)",
                f.len(),
                diags,
            );
            return None;
        }
        Kind::OrientedBoxes if body.len() != 9 => {
            field_count_error(
                ctx,
                "9 fields `<class> x1 y1 x2 y2 x3 y3 x4 y4`",
                f.len(),
                diags,
            );
            return None;
        }
        Kind::Segmentation if body.len() < 7 || body.len() % 2 == 0 => {
            field_count_error(ctx, "a class and at least 3 x y pairs", f.len(), diags);
            return None;
        }
        Kind::Pose => {
            match kpt {
                Some((k, d)) if body.len() != 5 + k * d => {
                    field_count_error(
                    ctx,
                    &format!("5 + {k}×{d} = {} fields (class, box, {k} points of {d} values; kpt_shape)", 5 + k * d),
                    f.len(),
                    diags,
                );
                    return None;
                }
                None => return None,
                _ => {}
            }
        }
        _ => {}
    }
    let class = match parse_class(ctx.file, ctx.ln, body[0], ctx.names) {
        Ok(c) => c,
        Err(d) => {
            diags.push(*d);
            return None;
        }
    };
    let label_id = match ctx
        .classmap
        .label(class, Location::line(ctx.file, ctx.ln, body[0].col))
    {
        Ok(id) => id,
        Err(d) => {
            diags.push(*d);
            return None;
        }
    };
    let vals = numbers(ctx, &body[1..], "coordinate", diags)?;
    let unit = |diags: &mut Diagnostics, i: usize| {
        check_unit(diags, ctx.file, ctx.ln, body[i + 1], vals[i], "coordinate");
    };
    let shape = |kind: ShapeType, points: Vec<f64>| Shape {
        label_id,
        kind,
        points,
        ..Default::default()
    };
    match kind {
        Kind::Detection | Kind::DetectionTrack => {
            for i in 0..4 {
                unit(diags, i);
            }
            let [cx, cy, bw, bh] = [vals[0], vals[1], vals[2], vals[3]];
            if bw < 0.0 || bh < 0.0 {
                diags.error(
                    Location::line(ctx.file, ctx.ln, body[if bw < 0.0 { 3 } else { 4 }].col),
                    "geometry",
                    "box width and height must not be negative",
                );
                return None;
            }
            let pts = vec![
                round2((cx - bw / 2.0) * w),
                round2((cy - bh / 2.0) * h),
                round2((cx + bw / 2.0) * w),
                round2((cy + bh / 2.0) * h),
            ];
            Some(Parsed::Shape(shape(ShapeType::Rectangle, pts), track))
        }
        Kind::Segmentation => {
            for i in 0..vals.len() {
                unit(diags, i);
            }
            let pts = vals
                .chunks_exact(2)
                .flat_map(|p| [round2(p[0] * w), round2(p[1] * h)])
                .collect();
            Some(Parsed::Shape(shape(ShapeType::Polygon, pts), track))
        }
        Kind::OrientedBoxes => {
            for i in 0..8 {
                unit(diags, i);
            }
            let p: Vec<(f64, f64)> = vals.chunks_exact(2).map(|c| (c[0] * w, c[1] * h)).collect();
            let (points, rotation) = obb_to_rect(&p);
            let mut s = shape(ShapeType::Rectangle, points);
            s.rotation = rotation;
            Some(Parsed::Shape(s, track))
        }
        Kind::Pose => {
            let (k, d) = kpt?;
            for i in 0..4 {
                unit(diags, i);
            }
            let label = ctx.labels.iter().find(|l| l.id == label_id)?;
            if label.sublabels.is_empty() {
                diags.push(
                    Diagnostic::error(
                        Location::line(ctx.file, ctx.ln, body[0].col),
                        "undeclared-label",
                        format!("label {:?} is not a skeleton with points", label.name),
                    )
                    .with_hint("pose lines need a skeleton label whose points are its sub-labels"),
                );
                return None;
            }
            if label.sublabels.len() > k {
                diags.push(
                    Diagnostic::error(
                        Location::line(ctx.file, ctx.ln, 1),
                        "kpt-shape",
                        format!(
                            "skeleton {:?} has {} points but kpt_shape declares {k}",
                            label.name,
                            label.sublabels.len()
                        ),
                    )
                    .with_hint(
                        "kpt_shape[0] must be at least the number of points of every skeleton",
                    ),
                );
                return None;
            }
            let mut elements = Vec::new();
            for (i, sub) in label.sublabels.iter().enumerate() {
                let base = 4 + i * d;
                let (x, y) = (vals[base], vals[base + 1]);
                let v = if d == 3 { vals[base + 2] } else { 2.0 };
                if d == 3 && ![0.0, 1.0, 2.0].contains(&v) {
                    diags.push(
                        Diagnostic::error(
                            Location::line(ctx.file, ctx.ln, body[base + 3].col),
                            "bad-value",
                            format!("visibility {} is not 0, 1 or 2", body[base + 3].text),
                        )
                        .with_hint("0: absent, 1: hidden (occluded), 2: visible"),
                    );
                    return None;
                }
                if v != 0.0 {
                    unit(diags, base);
                    unit(diags, base + 1);
                }
                elements.push(Shape {
                    label_id: sub.id,
                    kind: ShapeType::Points,
                    points: vec![round2(x * w), round2(y * h)],
                    outside: v == 0.0,
                    occluded: v == 1.0,
                    ..Default::default()
                });
            }
            // points past the skeleton's own (padding) should be absent
            for i in label.sublabels.len()..k {
                let base = 4 + i * d;
                let v = if d == 3 { vals[base + 2] } else { 2.0 };
                if v != 0.0 || vals[base] != 0.0 || vals[base + 1] != 0.0 {
                    diags.push(
                        Diagnostic::warning(
                            Location::line(ctx.file, ctx.ln, body[base + 1].col),
                            "extra-point",
                            format!(
                                "point {} is past the {} points of skeleton {:?} and is ignored",
                                i + 1,
                                label.sublabels.len(),
                                label.name
                            ),
                        )
                        .with_hint("add the point to the skeleton, or write it as `0 0 0`"),
                    );
                    break;
                }
            }
            let mut s = shape(ShapeType::Skeleton, Vec::new());
            s.elements = elements;
            Some(Parsed::Shape(s, track))
        }
        Kind::Classification => None,
    }
}

/// A rectangle `[xtl, ytl, xbr, ybr]` and rotation (degrees) from four corners, normalised the way the
/// server's import does (OpenCV's `minAreaRect`: angle in (0, 90], width/height swapped accordingly;
/// so an axis-aligned box comes back as a 90° rotation of the same footprint).
pub fn obb_to_rect(p: &[(f64, f64)]) -> (Vec<f64>, f64) {
    let (cx, cy) = (
        p.iter().map(|q| q.0).sum::<f64>() / 4.0,
        p.iter().map(|q| q.1).sum::<f64>() / 4.0,
    );
    let d = |a: (f64, f64), b: (f64, f64)| ((b.0 - a.0).powi(2) + (b.1 - a.1).powi(2)).sqrt();
    let (mut w, mut h) = (d(p[0], p[1]), d(p[1], p[2]));
    let mut a = (p[1].1 - p[0].1).atan2(p[1].0 - p[0].0).to_degrees();
    let mut guard = 0;
    while a <= 1e-9 && guard < 8 {
        a += 90.0;
        std::mem::swap(&mut w, &mut h);
        guard += 1;
    }
    while a > 90.0 + 1e-9 && guard < 16 {
        a -= 90.0;
        std::mem::swap(&mut w, &mut h);
        guard += 1;
    }
    (
        vec![
            round2(cx - w / 2.0),
            round2(cy - h / 2.0),
            round2(cx + w / 2.0),
            round2(cy + h / 2.0),
        ],
        a,
    )
}

fn parse_classification(
    input: &Input,
    opts: &ReadOptions,
    diags: &mut Diagnostics,
) -> Result<Dataset> {
    // (subset, item id, file name, labels, location)
    let mut entries: Vec<(String, String, String, Vec<String>)> = Vec::new();
    let jsons: Vec<String> = input
        .files()
        .iter()
        .filter(|f| f.ends_with("labels.json") && f.matches('/').count() >= 1)
        .cloned()
        .collect();
    let mut covered = std::collections::HashSet::new();
    for rel in &jsons {
        let subset_dir = &rel[..rel.len() - "labels.json".len()];
        let subset = subset_dir
            .trim_end_matches('/')
            .rsplit('/')
            .next()
            .unwrap_or("train")
            .to_string();
        covered.insert(subset_dir.to_string());
        let file = input.display(rel);
        let bytes = input.read(rel)?;
        let v: serde_json::Value = match serde_json::from_slice(&bytes) {
            Ok(v) => v,
            Err(e) => {
                let loc = Location::line(&file, e.line() as u32, e.column() as u32);
                diags.push(Diagnostic::error(
                    loc,
                    "syntax",
                    format!("invalid JSON: {e}"),
                ));
                continue;
            }
        };
        let Some(obj) = v.as_object() else {
            diags.error(
                Location::json(&file, "$"),
                "syntax",
                "labels.json must be an object of items",
            );
            continue;
        };
        for (item, e) in obj {
            let path = format!("$[{item:?}]");
            let labels = match e.get("labels").and_then(|l| l.as_array()) {
                Some(l) => l
                    .iter()
                    .enumerate()
                    .filter_map(|(i, x)| match x.as_str() {
                        Some(s) => Some(s.to_string()),
                        None => {
                            diags.error(
                                Location::json(&file, format!("{path}.labels[{i}]")),
                                "bad-value",
                                "label names must be strings",
                            );
                            None
                        }
                    })
                    .collect(),
                None => {
                    diags.error(
                        Location::json(&file, format!("{path}.labels")),
                        "missing-field",
                        "item has no `labels` list",
                    );
                    continue;
                }
            };
            let fname = e
                .get("path")
                .and_then(|p| p.as_str())
                .and_then(|p| p.rsplit('/').next())
                .map(|b| {
                    let dir = item
                        .rsplit_once('/')
                        .map(|(d, _)| format!("{d}/"))
                        .unwrap_or_default();
                    format!("{dir}{b}")
                })
                .unwrap_or_else(|| format!("{item}.jpg"));
            entries.push((subset.clone(), item.clone(), fname, labels));
        }
    }
    // image folders: <subset>/<label>/<image> not covered by a labels.json
    let mut entry_of: std::collections::HashMap<(String, String), usize> = entries
        .iter()
        .enumerate()
        .map(|(i, e)| ((e.0.clone(), e.1.clone()), i))
        .collect();
    for f in input.files() {
        if !is_image(f) {
            continue;
        }
        let parts: Vec<&str> = f.split('/').collect();
        if parts.len() < 3 {
            continue;
        }
        let subset_dir = parts[..parts.len() - 2].join("/") + "/";
        if covered.contains(&subset_dir) {
            continue;
        }
        let subset = parts[parts.len() - 3].to_string();
        let label = parts[parts.len() - 2];
        let file = parts[parts.len() - 1].to_string();
        let item = strip_ext(&file).to_string();
        let labels = if label == "no_label" {
            vec![]
        } else {
            vec![label.to_string()]
        };
        match entry_of.get(&(subset.clone(), item.clone())) {
            Some(&i) => {
                if let Some(e) = entries.get_mut(i) {
                    e.3.extend(labels);
                }
            }
            None => {
                entry_of.insert((subset.clone(), item.clone()), entries.len());
                entries.push((subset, item, file, labels));
            }
        }
    }
    if entries.is_empty() && jsons.is_empty() {
        return Err(FormatError::missing(
            format!("{}: no <subset>/labels.json and no <subset>/<label>/<image> folders", input.name()),
            "an Ultralytics classification dataset is train/<label>/<image> (CVAT adds train/labels.json)",
        ));
    }
    let mut names: Vec<String> = entries.iter().flat_map(|e| e.3.iter().cloned()).collect();
    names.sort();
    names.dedup();
    let classmap = ClassMap::new(&names, opts, LabelType::Tag);
    let frame_index = FrameIndex::new(opts.frames.as_deref().unwrap_or(&[]));
    let mut items: Vec<ItemFrame> = entries
        .iter()
        .map(|(subset, item, fname, _)| {
            let hint = frame_index.get(fname).or_else(|| frame_index.get(item));
            ItemFrame {
                name: hint
                    .map(|h| h.name.clone())
                    .unwrap_or_else(|| fname.clone()),
                hint_id: hint.map(|h| h.id),
                id: 0,
                width: hint.map(|h| h.width).unwrap_or(0),
                height: hint.map(|h| h.height).unwrap_or(0),
                subset: (subset != "train").then(|| subset.clone()),
            }
        })
        .collect();
    let order: Vec<(String, Option<String>)> = items
        .iter()
        .map(|i| (i.name.clone(), i.subset.clone()))
        .collect();
    number_frames(&mut items, opts);
    let id_of: std::collections::HashMap<(String, Option<String>), u32> = items
        .iter()
        .map(|i| ((i.name.clone(), i.subset.clone()), i.id))
        .collect();
    let mut ds = Dataset {
        labels: classmap.labels.clone(),
        ..Default::default()
    };
    for it in &items {
        ds.frames.push(Frame {
            id: it.id,
            name: it.name.clone(),
            width: it.width,
            height: it.height,
            subset: it.subset.clone(),
        });
    }
    ds.frames.sort_by_key(|f| f.id);
    for (i, e) in entries.iter().enumerate() {
        let Some(&frame) = order.get(i).and_then(|k| id_of.get(k)) else {
            continue;
        };
        for l in &e.3 {
            let c = names.iter().position(|n| n == l).unwrap_or(0);
            match classmap.label(c, Location::file(input.name())) {
                Ok(label_id) => ds.tags.push(Tag {
                    frame,
                    label_id,
                    ..Default::default()
                }),
                Err(d) => diags.push(*d),
            }
        }
    }
    ds.tags.sort_by_key(|t| t.frame);
    Ok(ds)
}
