//! "MOT 1.1": `gt/gt.txt` (CSV `frame_id,track_id,x,y,w,h,not_ignored,class_id,visibility`) and
//! `gt/labels.txt`, as the server's `mot_seq_gt` export writes them and its `mot_seq` import reads them.
//!
//! Writing keeps rectangles only (tracks expanded to one box per visible frame, as the server does);
//! reading rebuilds tracks from `track_id` and closes them with an outside keyframe at gaps and at the
//! end of the task.

use cvat_format_api::imagesize::{image_size, is_image_name};
use cvat_format_api::{
    check_dataset, AttributeValue, Dataset, Diagnostic, Diagnostics, DropReport, Format,
    FormatError, FormatInfo, Frame, Input, InputType, Label, Location, OutputSink, ReadOptions,
    Result, Severity, Shape, ShapeType, Source, Track, TrackedShape, WriteOptions,
};
use cvat_format_datumaro::interp::track_frames;
use cvat_format_datumaro::write::round2;
use std::collections::{BTreeMap, HashMap};

/// Labels datumaro assumes when `gt/labels.txt` is missing (its `MotLabel` list).
pub const DEFAULT_LABELS: [&str; 13] = [
    "pedestrian",
    "person on vehicle",
    "car",
    "bicycle",
    "motorbike",
    "non motorized vehicle",
    "static person",
    "distractor",
    "occluder",
    "occluder on the ground",
    "occluder full",
    "reflection",
    "crowd",
];

/// The "MOT 1.1" format.
#[derive(Debug, Default, Clone, Copy)]
pub struct MotFormat;

cvat_format_api::register_format!(MotFormat);

impl Format for MotFormat {
    fn info(&self) -> FormatInfo {
        FormatInfo::new("MOT 1.1")
            .import()
            .export()
            .extensions(&["zip"])
            .description(
                "MOT sequence ground truth: boxes and box tracks (gt/gt.txt, gt/labels.txt)",
            )
    }

    fn sniff(&self, input: &Input) -> u8 {
        match input.find("gt/gt.txt") {
            Some(_) if input.find("gt/labels.txt").is_some() => 90,
            Some(_) => 70,
            None => 0,
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
        let gt = input
            .find("gt/gt.txt")
            .map(|r| input.display(r))
            .unwrap_or_else(|| input.name().to_string());
        check_dataset(
            &ds,
            &mut |r| {
                use cvat_format_api::AnnRef::*;
                let pick = |v: &Vec<Location>, i: usize| {
                    v.get(i).cloned().unwrap_or_else(|| Location::file(&gt))
                };
                match r {
                    Shape(i) | Element(i, _) => pick(&origins.shapes, i),
                    Track(i) => pick(&origins.tracks, i),
                    TrackShape(i, j) => origins
                        .track_shapes
                        .get(i)
                        .and_then(|v| v.get(j))
                        .cloned()
                        .unwrap_or_else(|| pick(&origins.tracks, i)),
                    _ => Location::file(&gt),
                }
            },
            &mut diags,
        );
        diags
    }
}

#[derive(Default)]
struct Origins {
    shapes: Vec<Location>,
    tracks: Vec<Location>,
    track_shapes: Vec<Vec<Location>>,
}

/// One parsed `gt.txt` row.
struct Row {
    line: u32,
    frame_id: i64,
    track_id: i64,
    bbox: [f64; 4],
    not_ignored: bool,
    class: Option<usize>,
    visibility: f64,
}

fn parse_rows(text: &str, file: &str, labels: usize, diags: &mut Diagnostics) -> Vec<Row> {
    let mut rows = Vec::new();
    for (ln, line) in text.lines().enumerate() {
        let line_no = ln as u32 + 1;
        let line = line.trim_end_matches('\r');
        if line.trim().is_empty() {
            continue;
        }
        // fields with their 1-based start columns
        let mut fields = Vec::new();
        let mut col = 1u32;
        for f in line.split(',') {
            fields.push((f.trim(), col));
            col += f.chars().count() as u32 + 1;
        }
        if fields.len() < 6 {
            diags.push(
                Diagnostic::error(
                    Location::line(file, line_no, 1),
                    "missing-field",
                    format!("row has {} fields; at least 6 are needed", fields.len()),
                )
                .with_hint("rows are frame_id,track_id,x,y,w,h[,not_ignored,class_id,visibility]"),
            );
            continue;
        }
        let mut bad = false;
        let mut int = |i: usize, name: &str, diags: &mut Diagnostics| -> Option<i64> {
            let (s, c) = fields.get(i).copied()?;
            if s.is_empty() {
                return None;
            }
            match s.parse::<i64>() {
                Ok(v) => Some(v),
                Err(_) => {
                    diags.error(
                        Location::line(file, line_no, c),
                        "type",
                        format!("{name} {s:?} is not an integer"),
                    );
                    bad = true;
                    None
                }
            }
        };
        let frame_id = int(0, "frame_id", diags);
        let track_id = int(1, "track_id", diags);
        let conf = int(6, "not_ignored", diags);
        let class = int(7, "class_id", diags);
        let mut float = |i: usize, name: &str, diags: &mut Diagnostics| -> Option<f64> {
            let (s, c) = fields.get(i).copied()?;
            if s.is_empty() {
                return None;
            }
            match s.parse::<f64>() {
                Ok(v) if v.is_finite() => Some(v),
                _ => {
                    diags.error(
                        Location::line(file, line_no, c),
                        "type",
                        format!("{name} {s:?} is not a finite number"),
                    );
                    bad = true;
                    None
                }
            }
        };
        let x = float(2, "x", diags);
        let y = float(3, "y", diags);
        let w = float(4, "w", diags);
        let h = float(5, "h", diags);
        let vis = float(8, "visibility", diags);
        if bad {
            continue;
        }
        let (Some(frame_id), Some(track_id), Some(x), Some(y), Some(w), Some(h)) =
            (frame_id, track_id, x, y, w, h)
        else {
            diags.error(
                Location::line(file, line_no, 1),
                "missing-field",
                "frame_id, track_id, x, y, w and h must all be given",
            );
            continue;
        };
        if frame_id < 1 || frame_id > u32::MAX as i64 {
            diags.push(
                Diagnostic::error(
                    Location::line(file, line_no, 1),
                    "geometry",
                    format!("frame_id {frame_id} is out of range"),
                )
                .with_hint("MOT frame ids start at 1"),
            );
            continue;
        }
        if w < 0.0 || h < 0.0 {
            diags.error(
                Location::line(file, line_no, fields.get(4).map(|f| f.1).unwrap_or(1)),
                "geometry",
                format!("box has a negative size ({w} x {h})"),
            );
            continue;
        }
        let class = match class {
            Some(c) if c >= 1 && (c as usize) <= labels => Some(c as usize - 1),
            Some(-1) | None => {
                diags.push(
                    Diagnostic::error(
                        Location::line(file, line_no, fields.get(7).map(|f| f.1).unwrap_or(1)),
                        "missing-label",
                        "row has no class (class_id is -1 or missing)",
                    )
                    .with_hint("the server refuses boxes without a label; set class_id to a line of gt/labels.txt"),
                );
                None
            }
            Some(c) => {
                diags.push(
                    Diagnostic::error(
                        Location::line(file, line_no, fields.get(7).map(|f| f.1).unwrap_or(1)),
                        "undeclared-label",
                        format!("class_id {c} is outside the {labels} labels of labels.txt"),
                    )
                    .with_hint("class_id is the 1-based line number in gt/labels.txt"),
                );
                None
            }
        };
        rows.push(Row {
            line: line_no,
            frame_id,
            track_id,
            bbox: [x, y, w, h],
            not_ignored: conf.map(|c| c != 0).unwrap_or(true),
            class,
            visibility: vis.unwrap_or(1.0),
        });
    }
    rows
}

fn seqinfo(text: &str) -> HashMap<String, String> {
    text.lines()
        .filter_map(|l| {
            let l = l.trim().to_lowercase();
            let (k, v) = l.split_once('=')?;
            Some((k.trim().to_string(), v.trim().to_string()))
        })
        .collect()
}

fn read(input: &Input, opts: &ReadOptions) -> (Dataset, Diagnostics, Origins) {
    let mut diags = Diagnostics::default();
    let mut origins = Origins::default();
    let mut ds = Dataset::default();
    let Some(gt_rel) = input.find("gt/gt.txt").map(str::to_string) else {
        diags.push(
            Diagnostic::error(
                Location::file(input.name()),
                "missing-file",
                "gt/gt.txt not found",
            )
            .with_hint("a MOT 1.1 archive holds gt/gt.txt and gt/labels.txt"),
        );
        return (ds, diags, origins);
    };
    let root = gt_rel.strip_suffix("gt/gt.txt").unwrap_or("").to_string();
    let gt_file = input.display(&gt_rel);

    // labels
    let labels_rel = format!("{root}gt/labels.txt");
    let names: Vec<String> = if input.contains(&labels_rel) {
        match input.read_text(&labels_rel) {
            Ok(t) => t.lines().map(|s| s.trim().to_string()).collect(),
            Err(e) => {
                diags.push(e.to_diagnostic(&input.display(&labels_rel)));
                Vec::new()
            }
        }
    } else {
        DEFAULT_LABELS.iter().map(|s| s.to_string()).collect()
    };
    let class_label: Vec<Option<i64>> = match &opts.labels {
        Some(given) => {
            ds.labels = given.clone();
            names
                .iter()
                .map(|n| given.iter().find(|l| l.name == *n).map(|l| l.id))
                .collect()
        }
        None => {
            let mut ids = Vec::new();
            for n in &names {
                let id = ds.ensure_label(n);
                if let Some(l) = ds.labels.iter_mut().find(|l| l.id == id) {
                    l.kind = cvat_format_api::LabelType::Rectangle;
                }
                ids.push(Some(id));
            }
            ids
        }
    };

    let text = match input.read_text(&gt_rel) {
        Ok(t) => t,
        Err(e) => {
            diags.push(e.to_diagnostic(&gt_file));
            return (ds, diags, origins);
        }
    };
    let rows = parse_rows(&text, &gt_file, names.len(), &mut diags);

    // frames: the task's (CVAT frame = frame_id - 1), else seqinfo.ini, img1/ images and the rows
    match &opts.frames {
        Some(f) => ds.frames = f.clone(),
        None => {
            let mut frames: BTreeMap<u32, Frame> = BTreeMap::new();
            let info = input
                .find(&format!("{root}seqinfo.ini"))
                .and_then(|r| input.read_text(r).ok())
                .map(|t| seqinfo(&t));
            if let Some(info) = &info {
                let n: u32 = info
                    .get("seqlength")
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(0);
                let w = info
                    .get("imwidth")
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(0);
                let h = info
                    .get("imheight")
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(0);
                let ext = info.get("imext").cloned().unwrap_or_else(|| ".jpg".into());
                for id in 1..=n.min(1_000_000) {
                    frames.insert(
                        id - 1,
                        Frame {
                            id: id - 1,
                            name: format!("{id:06}{ext}"),
                            width: w,
                            height: h,
                            subset: None,
                        },
                    );
                }
            } else {
                let dir = format!("{root}img1/");
                for f in input
                    .files()
                    .iter()
                    .filter(|f| f.starts_with(&dir) && is_image_name(f))
                {
                    let rel = &f[dir.len()..];
                    let stem = rel.rsplit_once('.').map(|x| x.0).unwrap_or(rel);
                    let Ok(id) = stem.parse::<u32>() else {
                        continue;
                    };
                    if id == 0 {
                        continue;
                    }
                    let size = input
                        .read(f)
                        .ok()
                        .and_then(|b| image_size(&b))
                        .unwrap_or((0, 0));
                    frames.insert(
                        id - 1,
                        Frame {
                            id: id - 1,
                            name: rel.to_string(),
                            width: size.0,
                            height: size.1,
                            subset: None,
                        },
                    );
                }
            }
            let mut sizeless = 0;
            for r in &rows {
                let id = (r.frame_id - 1) as u32;
                frames.entry(id).or_insert_with(|| {
                    sizeless += 1;
                    Frame {
                        id,
                        name: format!("{:06}.jpg", r.frame_id),
                        ..Default::default()
                    }
                });
            }
            if sizeless > 0 {
                diags.push(
                    Diagnostic::warning(
                        Location::file(&gt_file),
                        "missing-size",
                        format!("{sizeless} frames have no image in img1/ and no seqinfo.ini: their size is unknown (0)"),
                    )
                    .with_hint("import into a task (which knows its frames) or include img1/ or seqinfo.ini"),
                );
            }
            ds.frames = frames.into_values().collect();
        }
    }
    let stop_frame = ds.frames.iter().map(|f| f.id).max().unwrap_or(0);

    // annotations
    let defaults = |ds: &Dataset, label_id: i64, mutable: Option<bool>| -> Vec<AttributeValue> {
        ds.label_index()
            .label(label_id)
            .map(|l| {
                l.attributes
                    .iter()
                    .filter(|a| mutable.is_none_or(|m| a.mutable == m))
                    .map(|a| AttributeValue {
                        spec_id: a.id,
                        value: a.default_value.clone(),
                    })
                    .collect()
            })
            .unwrap_or_default()
    };
    // (MOT track id, label id, keyframes with their line)
    type Pending = (i64, i64, Vec<(TrackedShape, u32)>);
    let mut tracks: Vec<Pending> = Vec::new();
    let mut seen: HashMap<(i64, i64), u32> = HashMap::new();
    for r in &rows {
        let loc = Location::line(&gt_file, r.line, 1);
        let Some(ci) = r.class else { continue };
        let Some(label_id) = class_label.get(ci).copied().flatten() else {
            diags.push(
                Diagnostic::error(
                    loc,
                    "unknown-label",
                    format!(
                        "label {:?} is not a label of the task",
                        names.get(ci).map(String::as_str).unwrap_or("")
                    ),
                )
                .with_hint("add the label to the task, or change the row's class_id"),
            );
            continue;
        };
        let frame = (r.frame_id - 1) as u32;
        if opts.frames.is_some() && ds.frame(frame).is_none() {
            diags.push(
                Diagnostic::error(
                    loc,
                    "unknown-frame",
                    format!(
                        "frame_id {} has no task frame (the task has {} frames)",
                        r.frame_id,
                        ds.frames.len()
                    ),
                )
                .with_hint("MOT frame ids are the task's frame numbers plus 1"),
            );
            continue;
        }
        let [x, y, w, h] = r.bbox;
        let points = vec![x, y, x + w, y + h];
        let occluded = r.visibility <= 0.0;
        let _ = r.not_ignored; // `ignored` has no CVAT attribute unless the label declares one
        if r.track_id <= 0 {
            ds.shapes.push(Shape {
                label_id,
                kind: ShapeType::Rectangle,
                frame,
                occluded,
                points,
                attributes: defaults(&ds, label_id, None),
                source: Source::Manual,
                ..Default::default()
            });
            origins.shapes.push(loc);
            continue;
        }
        if let Some(prev) = seen.insert((r.track_id, r.frame_id), r.line) {
            diags.push(Diagnostic::error(
                loc.clone(),
                "duplicate-id",
                format!(
                    "track {} already has a box on frame {} (line {prev})",
                    r.track_id, r.frame_id
                ),
            ));
            continue;
        }
        let ts = TrackedShape {
            kind: ShapeType::Rectangle,
            frame,
            occluded,
            points,
            attributes: defaults(&ds, label_id, Some(true)),
            ..Default::default()
        };
        match tracks.iter_mut().find(|t| t.0 == r.track_id) {
            Some(t) => t.2.push((ts, r.line)),
            None => tracks.push((r.track_id, label_id, vec![(ts, r.line)])),
        }
    }
    for (_, label_id, mut shapes) in tracks {
        shapes.sort_by_key(|s| s.0.frame);
        let mut out: Vec<(TrackedShape, u32)> = Vec::new();
        for (s, line) in shapes {
            if let Some((prev, pl)) = out.last().cloned() {
                if !prev.outside && prev.frame + 1 < s.frame {
                    let mut closed = prev;
                    closed.outside = true;
                    closed.frame += 1;
                    out.push((closed, pl));
                }
            }
            out.push((s, line));
        }
        if let Some((last, line)) = out.last().cloned() {
            if last.frame < stop_frame {
                let mut closed = last;
                closed.outside = true;
                closed.frame += 1;
                out.push((closed, line));
            }
        }
        origins.tracks.push(Location::line(
            &gt_file,
            out.first().map(|s| s.1).unwrap_or(1),
            1,
        ));
        origins.track_shapes.push(
            out.iter()
                .map(|s| Location::line(&gt_file, s.1, 1))
                .collect(),
        );
        ds.tracks.push(Track {
            label_id,
            frame: out.first().map(|s| s.0.frame).unwrap_or(0),
            source: Source::Manual,
            attributes: defaults(&ds, label_id, Some(false)),
            shapes: out.into_iter().map(|s| s.0).collect(),
            ..Default::default()
        });
    }
    (ds, diags, origins)
}

/// Labels in the server's flattened order (each label followed by its sub-labels).
fn flat_labels(labels: &[Label]) -> Vec<&Label> {
    labels
        .iter()
        .flat_map(|l| std::iter::once(l).chain(l.sublabels.iter()))
        .collect()
}

/// Python's `int(s)` for an item id (digits with optional sign and surrounding spaces).
fn py_int(s: &str) -> Option<i64> {
    let t = s.trim();
    let digits = t.strip_prefix(['+', '-']).unwrap_or(t);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit() || b == b'_') {
        return None;
    }
    t.replace('_', "").parse().ok()
}

fn write(ds: &Dataset, out: &mut dyn OutputSink) -> Result<DropReport> {
    let mut drops = DropReport::default();
    let idx = ds.label_index();
    let flat = flat_labels(&ds.labels);
    let class_of: HashMap<i64, usize> = flat
        .iter()
        .enumerate()
        .map(|(i, l)| (l.id, i + 1))
        .collect();
    let mut frames: Vec<&Frame> = ds.frames.iter().collect();
    frames.sort_by_key(|f| f.id);
    let last_frame = frames.last().map(|f| f.id).unwrap_or(0);

    struct Box_ {
        z: i64,
        track: Option<usize>,
        label_id: i64,
        points: Vec<f64>,
        occluded: bool,
        attrs: Vec<AttributeValue>,
    }
    let mut per_frame: HashMap<u32, Vec<Box_>> = HashMap::new();
    for s in &ds.shapes {
        if s.kind != ShapeType::Rectangle {
            drops.add(
                format!("{} shapes (MOT keeps rectangles only)", s.kind.as_str()),
                1,
            );
            continue;
        }
        if s.rotation != 0.0 {
            drops.add("rectangle rotations", 1);
        }
        per_frame.entry(s.frame).or_default().push(Box_ {
            z: s.z_order,
            track: None,
            label_id: s.label_id,
            points: s.points.clone(),
            occluded: s.occluded,
            attrs: s.attributes.clone(),
        });
    }
    for (ti, t) in ds.tracks.iter().enumerate() {
        let kind = t.shapes.first().map(|s| s.kind).unwrap_or_default();
        if kind != ShapeType::Rectangle {
            drops.add(
                format!("{} tracks (MOT keeps rectangles only)", kind.as_str()),
                1,
            );
            continue;
        }
        for st in track_frames(&t.shapes, last_frame) {
            if st.outside {
                continue;
            }
            if st.rotation != 0.0 {
                drops.add("rectangle rotations", 1);
            }
            let mut attrs = t.attributes.clone();
            attrs.extend(st.attributes.iter().cloned());
            per_frame.entry(st.frame).or_default().push(Box_ {
                z: st.z_order,
                track: Some(ti),
                label_id: t.label_id,
                points: st.points,
                occluded: st.occluded,
                attrs,
            });
        }
    }
    drops.add("tags", ds.tags.len());

    let mut text = String::new();
    let mut track_map: HashMap<usize, i64> = HashMap::new();
    let mut dropped_attrs = 0;
    for (i, f) in frames.iter().enumerate() {
        let frame_id = py_int(f.stem()).unwrap_or(1 + i as i64);
        let mut boxes = per_frame.remove(&f.id).unwrap_or_default();
        boxes.sort_by_key(|b| b.z);
        for b in boxes {
            if b.points.len() != 4 {
                drops.add("rectangles without 4 coordinates", 1);
                continue;
            }
            let tid = match b.track {
                None => -1,
                Some(t) => {
                    let n = track_map.len() as i64 + 1;
                    *track_map.entry(t).or_insert(n)
                }
            };
            let r: Vec<f64> = b.points.iter().map(|v| round2(*v)).collect();
            let label = idx.label(b.label_id);
            let spec =
                |name: &str| label.and_then(|l| l.attributes.iter().find(|a| a.name == name));
            let value = |name: &str| {
                let s = spec(name)?;
                Some((
                    s,
                    b.attrs
                        .iter()
                        .find(|a| a.spec_id == s.id)
                        .map(|a| a.value.clone())
                        .unwrap_or_else(|| s.default_value.clone()),
                ))
            };
            let ignored = matches!(value("ignored"), Some((s, v)) if s.input_type == InputType::Checkbox && v.eq_ignore_ascii_case("true"));
            let visibility = match value("visibility") {
                Some((_, v)) => match v.trim().parse::<f64>() {
                    Ok(x) => x,
                    Err(_) => {
                        drops.add("visibility attribute values that are not numbers (1 - occluded written)", 1);
                        if b.occluded {
                            0.0
                        } else {
                            1.0
                        }
                    }
                },
                None => {
                    if b.occluded {
                        0.0
                    } else {
                        1.0
                    }
                }
            };
            dropped_attrs += b
                .attrs
                .iter()
                .filter(|a| !matches!(idx.spec_name(a.spec_id), "visibility" | "ignored"))
                .count();
            let class = class_of.get(&b.label_id).map(|c| *c as i64).unwrap_or(-1);
            use cvat_format_api::geometry::fmt_py_float as p;
            text.push_str(&format!(
                "{},{},{},{},{},{},{},{},{}\r\n",
                frame_id,
                tid,
                p(r[0]),
                p(r[1]),
                p(r[2] - r[0]),
                p(r[3] - r[1]),
                if ignored { 0 } else { 1 },
                class,
                p(visibility)
            ));
        }
    }
    drops.add(
        "attribute values (MOT keeps only visibility and ignored)",
        dropped_attrs,
    );
    out.file("gt/gt.txt")?
        .write_all(text.as_bytes())
        .map_err(|e| FormatError::io("gt/gt.txt", e))?;
    let names: Vec<&str> = flat.iter().map(|l| l.name.as_str()).collect();
    out.file("gt/labels.txt")?
        .write_all(names.join("\n").as_bytes())
        .map_err(|e| FormatError::io("gt/labels.txt", e))?;
    Ok(drops)
}
