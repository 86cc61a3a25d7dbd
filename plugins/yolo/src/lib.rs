//! Darknet "YOLO 1.1" (`obj.names`, `obj.data`, `train.txt`, `obj_train_data/<item>.txt`), as the CVAT
//! server exports and imports it (datumaro's `yolo` plugin). Alias: "YOLO ZIP 1.1".
//!
//! - [`common`]: track flattening, line parsing, image sizes and label mapping, shared with
//!   `cvat-format-ultralytics`.
//! - [`Yolo11`]: the format.
//!
//! Export: one line `<class> <cx> <cy> <w> <h>` (normalised, `%.6f`) per non-rotated rectangle on every
//! frame (tracks flattened with interpolation), an empty `.txt` for frames without boxes; class ids index
//! `obj.names`, which lists every label of the task including skeleton sub-labels. Everything else is
//! reported in the [`DropReport`]. Import needs image sizes: from [`ReadOptions::frames`] or from images
//! beside the labels.

pub mod common;

use common::{
    all_label_names, check_unit, fields, first_error, image_ext, images_for, number_frames,
    parse_class, parse_num, push_fmt6, round2, strip_ext, ClassMap, Flat, ItemFrame, SizeResolver,
};
use cvat_format_api::{
    Dataset, Diagnostic, Diagnostics, DropReport, Format, FormatError, FormatInfo, Frame, Input,
    LabelType, Location, OutputSink, ReadOptions, Result, Shape, ShapeType, WriteOptions,
};
use std::collections::BTreeMap;
use std::fmt::Write as _;

/// "YOLO 1.1".
#[derive(Debug, Default, Clone, Copy)]
pub struct Yolo11;

cvat_format_api::register_format!(Yolo11);

const RESERVED_SUBSETS: [&str; 3] = ["backup", "classes", "names"];

/// The subset name YOLO uses for a frame: `train` for the default subset.
fn subset_of(f: &Frame) -> String {
    match f.subset.as_deref() {
        None | Some("") | Some("default") => "train".to_string(),
        Some(s) => s.to_string(),
    }
}

fn io_err(rel: &str) -> impl Fn(std::io::Error) -> FormatError + '_ {
    move |e| FormatError::io(rel, e)
}

impl Format for Yolo11 {
    fn info(&self) -> FormatInfo {
        FormatInfo::new("YOLO 1.1")
            .aliases(&["YOLO ZIP 1.1"])
            .import()
            .export()
            .extensions(&["zip"])
            .description("Darknet YOLO: obj.names, obj.data, train.txt and one normalised box file per image")
    }

    fn sniff(&self, input: &Input) -> u8 {
        if input.find("obj.data").is_some() {
            if input.find("obj.names").is_some() {
                90
            } else {
                60
            }
        } else if input.find("obj.names").is_some() {
            40
        } else {
            0
        }
    }

    fn read(&self, input: &Input, opts: &ReadOptions) -> Result<Dataset> {
        let mut diags = Diagnostics::default();
        let ds = parse(input, opts, &mut diags)?;
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
        write(ds, out)
    }

    fn validate(&self, input: &Input, opts: &ReadOptions) -> Diagnostics {
        let mut diags = Diagnostics::default();
        if let Err(e) = parse(input, opts, &mut diags) {
            diags.push(e.to_diagnostic(input.name()));
        }
        diags
    }
}

fn write(ds: &Dataset, out: &mut dyn OutputSink) -> Result<DropReport> {
    let mut drops = DropReport::default();
    let names = all_label_names(ds);
    let class_of: BTreeMap<i64, usize> = names
        .iter()
        .enumerate()
        .map(|(i, (id, _))| (*id, i))
        .collect();

    let mut frames: Vec<&Frame> = ds.frames.iter().collect();
    frames.sort_by_key(|f| f.id);
    let mut subsets: Vec<(String, Vec<&Frame>)> = Vec::new();
    for f in &frames {
        let s = subset_of(f);
        if RESERVED_SUBSETS.contains(&s.as_str()) {
            return Err(FormatError::Other(format!(
                "frame {:?} is in subset {s:?}, a name YOLO reserves for obj.data keys",
                f.name
            )));
        }
        match subsets.iter_mut().find(|(n, _)| *n == s) {
            Some((_, v)) => v.push(f),
            None => subsets.push((s, vec![f])),
        }
    }

    let w = out.file("obj.data")?;
    (|| -> std::io::Result<()> {
        writeln!(w, "classes = {}", names.len())?;
        for (s, _) in &subsets {
            writeln!(w, "{s} = data/{s}.txt")?;
        }
        writeln!(w, "names = data/obj.names")?;
        writeln!(w, "backup = backup/")
    })()
    .map_err(io_err("obj.data"))?;

    let w = out.file("obj.names")?;
    for (_, n) in &names {
        writeln!(w, "{n}").map_err(io_err("obj.names"))?;
    }

    let flat = Flat::new(ds);
    let mut shapes = Vec::new();
    let mut other_kinds: BTreeMap<&str, usize> = BTreeMap::new();
    let mut lines = String::new();
    for (s, list) in &subsets {
        let rel = format!("{s}.txt");
        let w = out.file(&rel)?;
        for f in list {
            writeln!(w, "data/obj_{s}_data/{}{}", f.stem(), image_ext(&f.name))
                .map_err(io_err(&rel))?;
        }
    }
    for (s, list) in &subsets {
        for f in list {
            let rel = format!("obj_{s}_data/{}.txt", f.stem());
            flat.frame_into(f.id, &mut shapes);
            for sh in &shapes {
                if sh.kind != ShapeType::Rectangle {
                    *other_kinds.entry(sh.kind.as_str()).or_default() += 1;
                    continue;
                }
                if sh.rotation.rem_euclid(360.0) != 0.0 {
                    drops.add("rotated rectangles", 1);
                    continue;
                }
                let Some(class) = class_of.get(&sh.label_id) else {
                    drops.add("rectangles with an undeclared label", 1);
                    continue;
                };
                if !f.has_size() {
                    return Err(FormatError::missing(
                        format!("frame {} ({:?}) has no size", f.id, f.name),
                        "YOLO coordinates are fractions of the image size: give the frames their width and height",
                    ));
                }
                let (fw, fh) = (f.width as f64, f.height as f64);
                let [x0, y0, x1, y1] = match &*sh.points {
                    [a, b, c, d] => [*a, *b, *c, *d],
                    _ => {
                        drops.add("rectangles with malformed points", 1);
                        continue;
                    }
                };
                let _ = write!(lines, "{class}");
                for v in [
                    (x0 + x1) / 2.0 / fw,
                    (y0 + y1) / 2.0 / fh,
                    (x1 - x0) / fw,
                    (y1 - y0) / fh,
                ] {
                    lines.push(' ');
                    push_fmt6(&mut lines, v);
                }
                lines.push('\n');
                drops.add("attribute values", sh.attributes);
                if sh.occluded {
                    drops.add("occluded flags", 1);
                }
            }
            let cap = lines.capacity();
            out.write_file(
                &rel,
                std::mem::replace(&mut lines, String::with_capacity(cap)).into_bytes(),
            )?;
        }
    }
    for (kind, n) in other_kinds {
        drops.add(format!("{kind} shapes"), n);
    }
    let known: std::collections::HashSet<u32> = frames.iter().map(|f| f.id).collect();
    drops.add(
        "shapes on frames missing from the frame list",
        flat.count_where(|f| known.contains(&f)),
    );
    drops.add("tags", ds.tags.len());
    let tracks = ds
        .tracks
        .iter()
        .filter(|t| common::track_is_kind(t, ShapeType::Rectangle))
        .count();
    drops.add(
        "track identities (rectangle tracks flattened into per-frame boxes)",
        tracks,
    );
    let groups = ds.shapes.iter().filter(|s| s.group != 0).count()
        + ds.tracks.iter().filter(|t| t.group != 0).count();
    drops.add("group ids", groups);
    Ok(drops)
}

/// Parses the whole input, pushing every problem found into `diags` (errors and warnings). Returns
/// `Err` only when nothing sensible can be read (no `obj.data`, no `obj.names`, unknown image sizes).
pub fn parse(input: &Input, opts: &ReadOptions, diags: &mut Diagnostics) -> Result<Dataset> {
    let data_rel = input.find("obj.data").map(str::to_string).ok_or_else(|| {
        FormatError::missing(
            format!("{}: no obj.data found", input.name()),
            "a YOLO 1.1 dataset has obj.data, obj.names, train.txt and obj_train_data/ at its root",
        )
    })?;
    let root = match data_rel.rfind('/') {
        Some(i) => data_rel[..=i].to_string(),
        None => String::new(),
    };
    let data_file = input.display(&data_rel);
    let text = input.read_text(&data_rel)?;
    let mut names_path: Option<(String, u32)> = None;
    let mut subset_lists: Vec<(String, String, u32)> = Vec::new();
    let mut classes: Option<(usize, u32)> = None;
    for (i, line) in text.lines().enumerate() {
        let ln = i as u32 + 1;
        let trimmed = line.trim();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        let Some((k, v)) = line.split_once('=') else {
            diags.push(
                Diagnostic::error(
                    Location::line(&data_file, ln, 1),
                    "syntax",
                    format!("expected `key = value`, found {trimmed:?}"),
                )
                .with_hint("obj.data lines look like `train = data/train.txt`"),
            );
            continue;
        };
        let (k, v) = (k.trim(), v.trim());
        match k {
            "classes" => match v.parse::<usize>() {
                Ok(n) => classes = Some((n, ln)),
                Err(_) => diags.error(
                    Location::line(&data_file, ln, line.find('=').unwrap_or(0) as u32 + 2),
                    "not-a-number",
                    format!("classes = {v:?} is not a number"),
                ),
            },
            "names" => names_path = Some((v.to_string(), ln)),
            "backup" => {}
            subset => subset_lists.push((subset.to_string(), v.to_string(), ln)),
        }
    }
    let strip_data = |p: &str| -> String {
        let p = p.trim_start_matches("./");
        format!("{root}{}", p.strip_prefix("data/").unwrap_or(p))
    };

    // labels
    let names_rel = match &names_path {
        Some((p, _)) => strip_data(p),
        None => format!("{root}obj.names"),
    };
    if !input.contains(&names_rel) {
        let hint = "obj.names lists one label name per line; obj.data names it with `names = data/obj.names`";
        return Err(match &names_path {
            Some((p, ln)) => FormatError::Invalid(Box::new(
                Diagnostic::error(
                    Location::line(&data_file, *ln, 1),
                    "missing-file",
                    format!("names file {p:?} is not in the input"),
                )
                .with_hint(hint),
            )),
            None => FormatError::missing(format!("{}: no obj.names found", input.name()), hint),
        });
    }
    let names_text = input.read_text(&names_rel)?;
    let names: Vec<String> = names_text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect();
    if let Some((n, ln)) = classes {
        if n != names.len() {
            diags.warning(
                Location::line(&data_file, ln, 1),
                "class-count",
                format!(
                    "classes = {n} but {} lists {} names",
                    input.display(&names_rel),
                    names.len()
                ),
            );
        }
    }
    let classmap = ClassMap::new(&names, opts, LabelType::Any);

    if subset_lists.is_empty() {
        diags.push(
            Diagnostic::error(
                Location::file(&data_file),
                "missing-field",
                "obj.data names no image list (e.g. `train = data/train.txt`)",
            )
            .with_hint("add `train = data/train.txt` listing data/obj_train_data/<image> lines"),
        );
    }

    // items
    struct Item {
        frame: ItemFrame,
        label_rel: String,
        images: Vec<String>,
    }
    let sizes = SizeResolver::new(input, opts);
    let mut items: Vec<Item> = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for (subset, list, ln) in &subset_lists {
        let list_rel = strip_data(list);
        if !input.contains(&list_rel) {
            diags.push(
                Diagnostic::error(
                    Location::line(&data_file, *ln, 1),
                    "missing-file",
                    format!("image list {list:?} of subset {subset:?} is not in the input"),
                )
                .with_hint(format!(
                    "add {list_rel} with one data/obj_{subset}_data/<image> per line"
                )),
            );
            continue;
        }
        let list_file = input.display(&list_rel);
        let text = input.read_text(&list_rel)?;
        let folder = format!("obj_{subset}_data/");
        for (i, line) in text.lines().enumerate() {
            let lnum = i as u32 + 1;
            let path = line.trim();
            if path.is_empty() {
                continue;
            }
            let rel = strip_data(path);
            let stem = strip_ext(&rel).to_string();
            let label_rel = format!("{stem}.txt");
            let under_root = rel.strip_prefix(&root).unwrap_or(&rel);
            let name = under_root
                .strip_prefix(&folder)
                .or_else(|| under_root.split_once('/').map(|(_, r)| r))
                .unwrap_or(under_root)
                .to_string();
            if !input.contains(&label_rel) {
                diags.push(
                    Diagnostic::error(
                        Location::line(&list_file, lnum, 1),
                        "missing-file",
                        format!(
                            "{path:?} has no annotation file: {} is not in the input",
                            input.display(&label_rel)
                        ),
                    )
                    .with_hint("every listed image needs a .txt with the same name (empty if it has no boxes)"),
                );
                continue;
            }
            if !seen.insert((subset.clone(), name.clone())) {
                diags.warning(
                    Location::line(&list_file, lnum, 1),
                    "duplicate-item",
                    format!("{path:?} is listed twice"),
                );
                continue;
            }
            let item_id = strip_ext(&name).to_string();
            let images = {
                let mut v = vec![rel.clone()];
                v.extend(images_for(input, &stem));
                v
            };
            let hint_id = sizes.hint(&item_id, &name).map(|f| f.id);
            let hint_name = sizes.hint(&item_id, &name).map(|f| f.name.clone());
            items.push(Item {
                frame: ItemFrame {
                    name: hint_name.unwrap_or(name),
                    hint_id,
                    id: 0,
                    width: 0,
                    height: 0,
                    subset: (subset != "train").then(|| subset.clone()),
                },
                label_rel,
                images,
            });
        }
    }

    // sizes, then frame numbers
    for it in items.iter_mut() {
        let item_id = strip_ext(&it.frame.name).to_string();
        let (w, h) = sizes.size(&item_id, &it.frame.name, &it.images)?;
        it.frame.width = w;
        it.frame.height = h;
    }
    let mut frames: Vec<ItemFrame> = items.iter().map(|i| i.frame.clone()).collect();
    number_frames(&mut frames, opts);
    let id_of: BTreeMap<(String, Option<String>), u32> = frames
        .iter()
        .map(|f| ((f.name.clone(), f.subset.clone()), f.id))
        .collect();

    let mut ds = Dataset {
        labels: classmap.labels.clone(),
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

    let mut by_frame: Vec<(u32, &Item)> = items
        .iter()
        .map(|it| {
            let key = (it.frame.name.clone(), it.frame.subset.clone());
            (id_of.get(&key).copied().unwrap_or(0), it)
        })
        .collect();
    by_frame.sort_by_key(|(id, _)| *id);
    for (frame, it) in by_frame {
        let file = input.display(&it.label_rel);
        let text = match input.read_text(&it.label_rel) {
            Ok(t) => t,
            Err(e) => {
                diags.push(e.to_diagnostic(&file));
                continue;
            }
        };
        let (w, h) = (it.frame.width as f64, it.frame.height as f64);
        for (i, line) in text.lines().enumerate() {
            let ln = i as u32 + 1;
            let f = fields(line);
            if f.is_empty() {
                continue;
            }
            if f.len() != 5 {
                diags.push(
                    Diagnostic::error(
                        Location::line(&file, ln, 1),
                        "field-count",
                        format!("expected 5 fields `<class> <cx> <cy> <w> <h>`, found {}", f.len()),
                    )
                    .with_hint("one box per line: class id, then centre x, centre y, width, height as fractions of the image"),
                );
                continue;
            }
            let class = match parse_class(&file, ln, f[0], names.len()) {
                Ok(c) => c,
                Err(d) => {
                    diags.push(*d);
                    continue;
                }
            };
            let mut v = [0.0; 4];
            let mut bad = false;
            for (k, what) in ["centre x", "centre y", "width", "height"]
                .iter()
                .enumerate()
            {
                match parse_num(&file, ln, f[k + 1], what) {
                    Ok(x) => {
                        check_unit(diags, &file, ln, f[k + 1], x, what);
                        v[k] = x;
                    }
                    Err(d) => {
                        diags.push(*d);
                        bad = true;
                    }
                }
            }
            if bad {
                continue;
            }
            if v[2] < 0.0 || v[3] < 0.0 {
                diags.error(
                    Location::line(&file, ln, f[if v[2] < 0.0 { 3 } else { 4 }].col),
                    "geometry",
                    "box width and height must not be negative",
                );
                continue;
            }
            let label_id = match classmap.label(class, Location::line(&file, ln, f[0].col)) {
                Ok(id) => id,
                Err(d) => {
                    diags.push(*d);
                    continue;
                }
            };
            let [cx, cy, bw, bh] = v;
            ds.shapes.push(Shape {
                label_id,
                kind: ShapeType::Rectangle,
                frame,
                points: vec![
                    round2((cx - bw / 2.0) * w),
                    round2((cy - bh / 2.0) * h),
                    round2((cx + bw / 2.0) * w),
                    round2((cy + bh / 2.0) * h),
                ],
                ..Default::default()
            });
        }
    }
    Ok(ds)
}
