//! `cvat-plugin-tfcsv`: the "TensorFlow Object Detection CSV" format as a cvat-cli plugin (a dynamic
//! library loaded at run time, see `docs/plugins.md`), and the template for writing one.
//!
//! The format: one CSV file, header `filename,width,height,class,xmin,ymin,xmax,ymax` (any column
//! order), one row per bounding box in pixels. It is what the TensorFlow Object Detection API's
//! `generate_tfrecord.py` reads, and what many public datasets ship (`train_labels.csv`,
//! `test_labels.csv`). A tree (directory or ZIP) of several CSV files is read as one subset per file
//! (named after the file, `annotations.csv` being the default subset), and written the same way.
//!
//! Only boxes exist in this format: images without boxes, other shapes, tags, tracks, attributes and
//! rotations are dropped on export and counted in the [`DropReport`].

use cvat_format_api::{
    Dataset, Diagnostic, Diagnostics, DropReport, Format, FormatError, FormatInfo, Frame, Input,
    Location, OutputSink, ReadOptions, Shape, ShapeType, WriteOptions,
};
use std::collections::{BTreeMap, HashMap};

/// The display name.
pub const NAME: &str = "TensorFlow Object Detection CSV 1.0";
/// The columns, in the order this format writes them.
pub const COLUMNS: [&str; 8] = [
    "filename", "width", "height", "class", "xmin", "ymin", "xmax", "ymax",
];
/// The file a dataset without subsets is written to.
pub const DEFAULT_FILE: &str = "annotations.csv";

#[derive(Debug, Default, Clone, Copy)]
pub struct TfCsv;

cvat_format_api::export_format_plugin!(TfCsv);

/// A CSV field with where it starts (1-based line and column).
#[derive(Debug, Clone)]
struct Field {
    text: String,
    line: u32,
    column: u32,
}

/// Splits CSV text (RFC 4180: quoted fields, `""` escapes, CRLF or LF) into records of located
/// fields. An unterminated quote is an error at the quote.
fn parse_csv(text: &str, file: &str) -> Result<Vec<Vec<Field>>, Box<Diagnostic>> {
    let mut records = Vec::new();
    let mut record: Vec<Field> = Vec::new();
    let mut field = String::new();
    let (mut line, mut col) = (1u32, 1u32);
    let (mut start_line, mut start_col) = (1u32, 1u32);
    let mut in_quotes = false;
    let mut quote_at = (0, 0);
    let mut any = false; // whether the current record has any content
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        let (cl, cc) = (line, col);
        if c == '\n' {
            line += 1;
            col = 1;
        } else {
            col += 1;
        }
        if in_quotes {
            if c == '"' {
                if chars.peek() == Some(&'"') {
                    chars.next();
                    col += 1;
                    field.push('"');
                } else {
                    in_quotes = false;
                }
            } else {
                field.push(c);
            }
            continue;
        }
        match c {
            '"' if field.is_empty() => {
                in_quotes = true;
                quote_at = (cl, cc);
                any = true;
            }
            ',' => {
                record.push(Field {
                    text: std::mem::take(&mut field),
                    line: start_line,
                    column: start_col,
                });
                (start_line, start_col) = (line, col);
                any = true;
            }
            '\r' if chars.peek() == Some(&'\n') => {}
            '\n' => {
                if any || !field.is_empty() {
                    record.push(Field {
                        text: std::mem::take(&mut field),
                        line: start_line,
                        column: start_col,
                    });
                    records.push(std::mem::take(&mut record));
                }
                any = false;
                (start_line, start_col) = (line, col);
            }
            c => {
                field.push(c);
                any = true;
            }
        }
    }
    if in_quotes {
        return Err(Box::new(
            Diagnostic::error(
                Location::line(file, quote_at.0, quote_at.1),
                "syntax",
                "quoted field is not closed",
            )
            .with_hint(
                "a field that starts with \" must end with \" (write \"\" for a quote inside)",
            ),
        ));
    }
    if any || !field.is_empty() {
        record.push(Field {
            text: field,
            line: start_line,
            column: start_col,
        });
        records.push(record);
    }
    Ok(records)
}

/// The rows of each CSV file, with the subset the file holds.
type Subsets = Vec<(Option<String>, Vec<Row>)>;

/// One parsed row.
#[derive(Debug, Clone)]
struct Row {
    filename: String,
    width: u32,
    height: u32,
    class: String,
    bbox: [f64; 4],
    /// Location of each of the 8 columns, in [`COLUMNS`] order.
    at: [Location; 8],
}

/// The rows of one CSV file, with every problem found (errors make `read` fail; `validate` reports
/// them all).
fn parse_file(text: &str, file: &str, diags: &mut Diagnostics) -> Vec<Row> {
    let records = match parse_csv(text, file) {
        Ok(r) => r,
        Err(d) => {
            diags.push(*d);
            return Vec::new();
        }
    };
    let Some((header, rows)) = records.split_first() else {
        diags.push(
            Diagnostic::error(
                Location::line(file, 1, 1),
                "missing-header",
                "file is empty",
            )
            .with_hint(format!("the first line must be `{}`", COLUMNS.join(","))),
        );
        return Vec::new();
    };
    // column index of each known column
    let mut index: [Option<usize>; 8] = [None; 8];
    for (i, f) in header.iter().enumerate() {
        let name = f.text.trim();
        match COLUMNS.iter().position(|c| c.eq_ignore_ascii_case(name)) {
            Some(k) if index[k].is_none() => index[k] = Some(i),
            Some(_) => diags.error(
                Location::line(file, f.line, f.column),
                "duplicate-column",
                format!("column {name:?} appears twice"),
            ),
            None => diags.push(
                Diagnostic::warning(
                    Location::line(file, f.line, f.column),
                    "unknown-column",
                    format!("unknown column {name:?} is ignored"),
                )
                .with_hint(format!("the columns are {}", COLUMNS.join(","))),
            ),
        }
    }
    let missing: Vec<&str> = COLUMNS
        .iter()
        .zip(index.iter())
        .filter(|(_, i)| i.is_none())
        .map(|(c, _)| *c)
        .collect();
    if !missing.is_empty() {
        let at = header.first().map(|f| (f.line, f.column)).unwrap_or((1, 1));
        diags.push(
            Diagnostic::error(
                Location::line(file, at.0, at.1),
                "missing-column",
                format!("header lacks column(s) {}", missing.join(", ")),
            )
            .with_hint(format!("the first line must be `{}`", COLUMNS.join(","))),
        );
        return Vec::new();
    }
    let mut out = Vec::with_capacity(rows.len());
    for rec in rows {
        let first = rec.first().map(|f| (f.line, f.column)).unwrap_or((1, 1));
        if rec.len() != header.len() {
            diags.error(
                Location::line(file, first.0, first.1),
                "column-count",
                format!(
                    "row has {} fields, the header has {}",
                    rec.len(),
                    header.len()
                ),
            );
            continue;
        }
        let get = |k: usize| index[k].and_then(|i| rec.get(i));
        let loc = |k: usize| {
            get(k)
                .map(|f| Location::line(file, f.line, f.column))
                .unwrap_or_else(|| Location::line(file, first.0, first.1))
        };
        let text = |k: usize| get(k).map(|f| f.text.trim()).unwrap_or("");
        let mut ok = true;
        let mut size = [0u32; 2];
        for (slot, k) in [(0, 1), (1, 2)] {
            match text(k).parse::<f64>() {
                Ok(v) if v.is_finite() && v >= 1.0 && v.fract() == 0.0 && v <= u32::MAX as f64 => {
                    size[slot] = v as u32
                }
                _ => {
                    ok = false;
                    diags.push(
                        Diagnostic::error(
                            loc(k),
                            "bad-number",
                            format!(
                                "{} {:?} is not a positive whole number",
                                COLUMNS[k],
                                text(k)
                            ),
                        )
                        .with_hint("image sizes are in pixels"),
                    );
                }
            }
        }
        let mut bbox = [0f64; 4];
        for (slot, k) in (4..8).enumerate() {
            match text(k).parse::<f64>() {
                Ok(v) if v.is_finite() => bbox[slot] = v,
                _ => {
                    ok = false;
                    diags.error(
                        loc(k),
                        "bad-number",
                        format!("{} {:?} is not a number", COLUMNS[k], text(k)),
                    );
                }
            }
        }
        for k in [0, 3] {
            if text(k).is_empty() {
                ok = false;
                diags.error(loc(k), "missing-value", format!("{} is empty", COLUMNS[k]));
            }
        }
        if !ok {
            continue;
        }
        out.push(Row {
            filename: text(0).to_string(),
            width: size[0],
            height: size[1],
            class: text(3).to_string(),
            bbox,
            at: std::array::from_fn(loc),
        });
    }
    out
}

/// Geometry and consistency checks on parsed rows (what `validate` adds to parsing).
fn check_rows(rows: &[Row], diags: &mut Diagnostics) {
    let mut sizes: HashMap<&str, (u32, u32, &Location)> = HashMap::new();
    for r in rows {
        let [xmin, ymin, xmax, ymax] = r.bbox;
        if xmin >= xmax || ymin >= ymax {
            diags.error(
                r.at[4].clone(),
                "geometry",
                format!("box ({xmin}, {ymin}, {xmax}, {ymax}) is empty: xmin must be below xmax and ymin below ymax"),
            );
        }
        let (w, h) = (f64::from(r.width), f64::from(r.height));
        for (k, v, lo, hi) in [
            (4, xmin, 0.0, w),
            (5, ymin, 0.0, h),
            (6, xmax, 0.0, w),
            (7, ymax, 0.0, h),
        ] {
            if v < lo || v > hi {
                diags.push(
                    Diagnostic::error(
                        r.at[k].clone(),
                        "outside-image",
                        format!(
                            "{} {v} is outside the {}x{} image {:?}",
                            COLUMNS[k], r.width, r.height, r.filename
                        ),
                    )
                    .with_hint(format!("{} must be within 0..={hi}", COLUMNS[k])),
                );
            }
        }
        match sizes.get(r.filename.as_str()) {
            Some(&(w, h, first)) if (w, h) != (r.width, r.height) => diags.error(
                r.at[1].clone(),
                "size-mismatch",
                format!(
                    "image {:?} is {}x{} here but {w}x{h} at {first}",
                    r.filename, r.width, r.height
                ),
            ),
            Some(_) => {}
            None => {
                sizes.insert(&r.filename, (r.width, r.height, &r.at[1]));
            }
        }
    }
}

/// The CSV files of an input and the subset each one holds.
fn csv_files(input: &Input) -> Vec<(String, Option<String>)> {
    let files: Vec<&str> = input.files_with_suffix(".csv").collect();
    let several = files.len() > 1;
    files
        .into_iter()
        .map(|f| {
            let base = f.rsplit('/').next().unwrap_or(f);
            let stem = &base[..base.len().saturating_sub(4)];
            let subset =
                (several && !base.eq_ignore_ascii_case(DEFAULT_FILE)).then(|| stem.to_string());
            (f.to_string(), subset)
        })
        .collect()
}

fn no_csv(input: &Input) -> Diagnostic {
    Diagnostic::error(
        Location::file(input.name()),
        "missing-file",
        "no .csv file in the input",
    )
    .with_hint(format!(
        "give a CSV file whose first line is `{}`",
        COLUMNS.join(",")
    ))
}

impl TfCsv {
    /// Parses every CSV file of `input`; rows come with their subset.
    fn rows(&self, input: &Input, diags: &mut Diagnostics) -> Result<Subsets, FormatError> {
        let files = csv_files(input);
        if files.is_empty() {
            return Err(no_csv(input).into());
        }
        let mut out = Vec::new();
        for (rel, subset) in files {
            let text = input.read_text(&rel)?;
            let rows = parse_file(&text, &input.display(&rel), diags);
            out.push((subset, rows));
        }
        Ok(out)
    }

    fn build(&self, files: Subsets, opts: &ReadOptions) -> Result<Dataset, FormatError> {
        let mut ds = Dataset::default();
        if let Some(labels) = &opts.labels {
            ds.labels = labels.clone();
        }
        // frames: from the hint when given (by name), else every file name sorted
        let mut frame_of: BTreeMap<String, u32> = BTreeMap::new();
        if let Some(frames) = &opts.frames {
            ds.frames = frames.clone();
        } else {
            let mut names: BTreeMap<&str, (&Row, &Option<String>)> = BTreeMap::new();
            for (subset, rows) in &files {
                for r in rows {
                    names.entry(&r.filename).or_insert((r, subset));
                }
            }
            for (i, (name, (r, subset))) in names.into_iter().enumerate() {
                ds.frames.push(Frame {
                    id: i as u32,
                    name: name.to_string(),
                    width: r.width,
                    height: r.height,
                    subset: subset.clone(),
                });
            }
        }
        for (_, rows) in &files {
            for r in rows {
                let frame = match frame_of.get(&r.filename) {
                    Some(&id) => id,
                    None => {
                        let id = opts
                            .frame_hint(&r.filename)
                            .map(|f| f.id)
                            .or_else(|| {
                                ds.frames
                                    .iter()
                                    .find(|f| f.name == r.filename)
                                    .map(|f| f.id)
                            })
                            .ok_or_else(|| {
                                FormatError::from(
                                    Diagnostic::error(
                                        r.at[0].clone(),
                                        "unknown-image",
                                        format!("image {:?} is not in the task", r.filename),
                                    )
                                    .with_hint("check the file names against the task's images"),
                                )
                            })?;
                        frame_of.insert(r.filename.clone(), id);
                        id
                    }
                };
                let label_id = if opts.labels.is_some() {
                    ds.label_by_name(&r.class).map(|l| l.id).ok_or_else(|| {
                        FormatError::from(
                            Diagnostic::error(
                                r.at[3].clone(),
                                "undeclared-label",
                                format!("class {:?} is not a label of the task", r.class),
                            )
                            .with_hint("add the label to the task, or rename the class"),
                        )
                    })?
                } else {
                    ds.ensure_label(&r.class)
                };
                ds.shapes.push(Shape {
                    label_id,
                    kind: ShapeType::Rectangle,
                    frame,
                    points: r.bbox.to_vec(),
                    ..Default::default()
                });
            }
        }
        ds.sort_by_frame();
        Ok(ds)
    }
}

/// A CSV field, quoted when it has to be.
fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) || s.starts_with(' ') || s.ends_with(' ') {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

impl Format for TfCsv {
    fn info(&self) -> FormatInfo {
        FormatInfo::new(NAME)
            .aliases(&["TFOD CSV", "TensorFlow CSV"])
            .import()
            .export()
            .extensions(&["csv"])
            .description(
                "TensorFlow Object Detection CSV: one row per box (filename,width,height,class,xmin,ymin,xmax,ymax)",
            )
    }

    fn sniff(&self, input: &Input) -> u8 {
        let Some(first) = input.files_with_suffix(".csv").next() else {
            return 0;
        };
        let head = input
            .read(first)
            .map(|b| b.into_iter().take(256).collect::<Vec<u8>>())
            .unwrap_or_default();
        let head = String::from_utf8_lossy(&head).to_ascii_lowercase();
        let head = head.trim_start_matches('\u{feff}');
        let line = head.lines().next().unwrap_or("");
        let cols: Vec<&str> = line.split(',').map(str::trim).collect();
        if COLUMNS.iter().all(|c| cols.contains(c)) {
            90
        } else {
            5
        }
    }

    fn read(&self, input: &Input, opts: &ReadOptions) -> Result<Dataset, FormatError> {
        let mut diags = Diagnostics::default();
        let files = self.rows(input, &mut diags)?;
        if let Some(first) = diags
            .items()
            .iter()
            .find(|d| d.severity == cvat_format_api::Severity::Error)
        {
            return Err(first.clone().into());
        }
        self.build(files, opts)
    }

    fn write(
        &self,
        ds: &Dataset,
        out: &mut dyn OutputSink,
        _opts: &WriteOptions,
    ) -> Result<DropReport, FormatError> {
        let mut report = DropReport::default();
        let idx = ds.label_index();
        report.add("tags", ds.tags.len());
        report.add("tracks", ds.tracks.len());
        // one CSV per subset
        let mut by_file: BTreeMap<String, String> = BTreeMap::new();
        let mut boxes_on: HashMap<u32, usize> = HashMap::new();
        let file_of = |f: &Frame| match f.subset.as_deref() {
            None | Some("") | Some("default") => DEFAULT_FILE.to_string(),
            Some(s) => format!("{s}.csv"),
        };
        let mut unsized_frames = std::collections::HashSet::new();
        let mut frames: Vec<&Frame> = ds.frames.iter().collect();
        frames.sort_by_key(|f| f.id);
        let mut shapes: Vec<&Shape> = ds.shapes.iter().collect();
        shapes.sort_by_key(|s| s.frame);
        for s in shapes {
            if s.kind != ShapeType::Rectangle {
                report.add(format!("{} shapes", s.kind.as_str()), 1);
                continue;
            }
            let Some(frame) = ds.frame(s.frame) else {
                report.add("boxes on frames not in the frame list", 1);
                continue;
            };
            let [xmin, ymin, xmax, ymax] = match s.points.as_slice() {
                [a, b, c, d] => [*a, *b, *c, *d],
                _ => {
                    report.add("boxes with malformed points", 1);
                    continue;
                }
            };
            report.add("attribute values", s.attributes.len());
            if s.rotation != 0.0 {
                report.add("box rotations", 1);
            }
            if !frame.has_size() {
                unsized_frames.insert(frame.id);
            }
            *boxes_on.entry(frame.id).or_default() += 1;
            let row = [
                csv_field(&frame.name),
                frame.width.to_string(),
                frame.height.to_string(),
                csv_field(idx.label_name(s.label_id)),
                xmin.to_string(),
                ymin.to_string(),
                xmax.to_string(),
                ymax.to_string(),
            ];
            let text = by_file
                .entry(file_of(frame))
                .or_insert_with(|| format!("{}\n", COLUMNS.join(",")));
            text.push_str(&row.join(","));
            text.push('\n');
        }
        report.add(
            "images without boxes",
            frames
                .iter()
                .filter(|f| !boxes_on.contains_key(&f.id))
                .count(),
        );
        report.add("image sizes (unknown, written as 0)", unsized_frames.len());
        if by_file.is_empty() {
            by_file.insert(DEFAULT_FILE.to_string(), format!("{}\n", COLUMNS.join(",")));
        }
        for (name, text) in by_file {
            out.file(&name)?
                .write_all(text.as_bytes())
                .map_err(|e| FormatError::io(name.clone(), e))?;
        }
        Ok(report)
    }

    fn validate(&self, input: &Input, opts: &ReadOptions) -> Diagnostics {
        let mut diags = Diagnostics::default();
        let files = match self.rows(input, &mut diags) {
            Ok(f) => f,
            Err(e) => {
                diags.push(e.to_diagnostic(input.name()));
                return diags;
            }
        };
        let all: Vec<Row> = files.iter().flat_map(|(_, r)| r.iter().cloned()).collect();
        check_rows(&all, &mut diags);
        if opts.frames.is_some() || opts.labels.is_some() {
            if let Err(e) = self.build(files, opts) {
                diags.push(e.to_diagnostic(input.name()));
            }
        }
        sorted(diags)
    }
}

/// The diagnostics in reading order (file, line, column). When the collector dropped some past its
/// limit, they stay as they are so that the counts remain right.
fn sorted(diags: Diagnostics) -> Diagnostics {
    if diags.truncated() > 0 {
        return diags;
    }
    let mut items = diags.into_items();
    items.sort_by(|a, b| {
        let key = |d: &Diagnostic| {
            (
                d.location.file.clone(),
                d.location.line.unwrap_or(0),
                d.location.column.unwrap_or(0),
            )
        };
        key(a).cmp(&key(b))
    });
    let mut out = Diagnostics::default();
    out.extend(items);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use cvat_format_api::MemorySink;

    fn input(text: &str) -> Input {
        Input::from_bytes("labels.csv", text.as_bytes().to_vec()).unwrap()
    }

    const GOOD: &str = "filename,width,height,class,xmin,ymin,xmax,ymax\n\
        b.jpg,640,480,dog,1,2,30.5,40\n\
        a.jpg,100,80,\"cat, big\",0,0,10,10\n\
        b.jpg,640,480,cat,5,5,6,6\n";

    #[test]
    fn reads_boxes_frames_sorted_labels_in_order() {
        let ds = TfCsv.read(&input(GOOD), &ReadOptions::default()).unwrap();
        let names: Vec<&str> = ds.frames.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(names, ["a.jpg", "b.jpg"]);
        assert_eq!((ds.frames[1].width, ds.frames[1].height), (640, 480));
        let labels: Vec<(i64, &str)> = ds.labels.iter().map(|l| (l.id, l.name.as_str())).collect();
        assert_eq!(labels, [(1, "dog"), (2, "cat, big"), (3, "cat")]);
        assert_eq!(ds.shapes.len(), 3);
        assert_eq!(ds.shapes[0].frame, 0);
        assert_eq!(ds.shapes[0].points, [0.0, 0.0, 10.0, 10.0]);
        assert_eq!(ds.shapes[1].points, [1.0, 2.0, 30.5, 40.0]);
    }

    #[test]
    fn write_then_read_is_stable_and_reports_drops() {
        let mut ds = TfCsv.read(&input(GOOD), &ReadOptions::default()).unwrap();
        ds.shapes.push(Shape {
            kind: ShapeType::Polygon,
            label_id: 1,
            points: vec![0.0, 0.0, 1.0, 1.0, 0.0, 1.0],
            ..Default::default()
        });
        ds.frames.push(Frame {
            id: 2,
            name: "empty.jpg".into(),
            width: 1,
            height: 1,
            subset: None,
        });
        let mut sink = MemorySink::default();
        let report = TfCsv
            .write(&ds, &mut sink, &WriteOptions::default())
            .unwrap();
        assert_eq!(report.count("polygon shapes"), 1);
        assert_eq!(report.count("images without boxes"), 1);
        let files = sink.into_files();
        let text = String::from_utf8(files[DEFAULT_FILE].clone()).unwrap();
        assert!(
            text.contains("a.jpg,100,80,\"cat, big\",0,0,10,10\n"),
            "{text}"
        );
        let again = TfCsv.read(&input(&text), &ReadOptions::default()).unwrap();
        assert_eq!(again.shapes.len(), 3);
        assert_eq!(again.frames.len(), 2);
    }

    #[test]
    fn validate_locates_every_problem() {
        let text = "filename,width,height,class,xmin,ymin,xmax,ymax,score\n\
            a.jpg,100,80,cat,0,0,10,x,1\n\
            a.jpg,100,80,cat,-5,0,120,10,1\n\
            a.jpg,100,81,cat,1,1,2,2,1\n\
            b.jpg,1.5,80,cat,1,1,2,2,1\n";
        let d = TfCsv.validate(&input(text), &ReadOptions::default());
        let got: Vec<(String, u32, u32)> = d
            .items()
            .iter()
            .map(|d| {
                (
                    d.code.clone(),
                    d.location.line.unwrap(),
                    d.location.column.unwrap(),
                )
            })
            .collect();
        let want = [
            ("unknown-column", 1, 49),
            ("bad-number", 2, 25),
            ("outside-image", 3, 18),
            ("outside-image", 3, 23),
            ("size-mismatch", 4, 7),
            ("bad-number", 5, 7),
        ];
        let want: Vec<(String, u32, u32)> = want
            .iter()
            .map(|(c, l, k)| (c.to_string(), *l, *k))
            .collect();
        assert_eq!(got, want);
        assert!(TfCsv.read(&input(text), &ReadOptions::default()).is_err());
    }

    #[test]
    fn broken_syntax_is_located() {
        let e = TfCsv
            .read(
                &input("filename,width,height,class,xmin,ymin,xmax,ymax\n\"a.jpg,1,1"),
                &ReadOptions::default(),
            )
            .unwrap_err();
        let d = e.to_diagnostic("x");
        assert_eq!((d.location.line, d.location.column), (Some(2), Some(1)));
        let e = TfCsv
            .read(&input("filename,width\n"), &ReadOptions::default())
            .unwrap_err();
        assert!(e.to_string().contains("class"), "{e}");
    }

    #[test]
    fn truncation_never_panics() {
        for n in 0..GOOD.len() {
            let t = &GOOD[..n];
            let _ = TfCsv.read(&input(t), &ReadOptions::default());
            let _ = TfCsv.validate(&input(t), &ReadOptions::default());
        }
    }

    #[test]
    fn hints_map_frames_and_labels() {
        let opts = ReadOptions::default()
            .with_frames(vec![Frame {
                id: 7,
                name: "imgs/b.jpg".into(),
                width: 640,
                height: 480,
                subset: None,
            }])
            .with_labels(vec![cvat_format_api::Label {
                id: 42,
                name: "dog".into(),
                ..Default::default()
            }]);
        let text = "filename,width,height,class,xmin,ymin,xmax,ymax\nb.jpg,640,480,dog,1,2,3,4\n";
        let ds = TfCsv.read(&input(text), &opts).unwrap();
        assert_eq!((ds.shapes[0].frame, ds.shapes[0].label_id), (7, 42));
        let bad = text.replace("dog", "cow");
        let e = TfCsv.read(&input(&bad), &opts).unwrap_err();
        assert!(e.to_string().contains("cow"), "{e}");
    }
}
