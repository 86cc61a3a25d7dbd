//! COCO formats: "COCO 1.0" (`coco_instances`, alias "COCO JSON 1.0") and "COCO Keypoints 1.0"
//! (`coco_person_keypoints`), import and export, as the CVAT server does them.
//!
//! - [`parse`]: the typed single-pass JSON parser (annotations streamed straight into the model);
//! - [`read`]: files → model (labels, frames, attributes, masks, skeletons, track reassembly);
//! - [`write`]: model → the server's JSON byte for byte (grouping, areas, RLE, tracks per frame);
//! - [`raster`]: pycocotools and OpenCV rasterisation; [`interp`]: the server's track interpolation.

pub mod interp;
pub mod parse;
pub mod raster;
pub mod read;
pub mod split;
pub mod write;

use cvat_format_api::{
    Dataset, Diagnostic, Diagnostics, DropReport, Format, FormatError, FormatInfo, Input,
    OutputSink, ReadOptions, Result, WriteOptions,
};
use std::io::Read;

/// Which COCO task a format reads and writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Task {
    /// `instances_<subset>.json`: boxes, polygons, masks.
    Instances,
    /// `person_keypoints_<subset>.json`: skeletons.
    Keypoints,
}

impl Task {
    fn prefix(self) -> &'static str {
        match self {
            Task::Instances => "instances_",
            Task::Keypoints => "person_keypoints_",
        }
    }
}

/// "COCO 1.0".
#[derive(Debug, Default, Clone, Copy)]
pub struct Coco;

/// "COCO Keypoints 1.0".
#[derive(Debug, Default, Clone, Copy)]
pub struct CocoKeypoints;

cvat_format_api::register_format!(Coco);
cvat_format_api::register_format!(CocoKeypoints);

const OTHER_TASKS: [(&str, &str); 4] = [
    ("captions_", "captions: text, which CVAT cannot hold"),
    (
        "panoptic_",
        "panoptic segmentation: PNG masks, not supported",
    ),
    ("labels_", "image labels"),
    ("image_info_", "image info: no annotations"),
];

fn base_name(rel: &str) -> &str {
    rel.rsplit('/').next().unwrap_or(rel)
}

/// The annotation files of `task` in `input`, with their subset names.
fn find_files(input: &Input, task: Task) -> Result<Vec<(String, String)>> {
    let prefix = task.prefix();
    let jsons: Vec<&str> = input.files_with_suffix(".json").collect();
    let mut out: Vec<(String, String)> = jsons
        .iter()
        .filter(|f| {
            let b = base_name(f);
            b.starts_with(prefix)
                && !(task == Task::Instances && b.starts_with("person_keypoints_"))
        })
        .map(|f| {
            let b = base_name(f);
            let subset = b[prefix.len()..b.len() - 5].to_string();
            (
                f.to_string(),
                if subset.is_empty() {
                    "default".to_string()
                } else {
                    subset
                },
            )
        })
        .collect();
    if out.is_empty() && task == Task::Instances {
        // COCO "stuff" files have the instances layout
        out = jsons
            .iter()
            .filter(|f| base_name(f).starts_with("stuff_"))
            .map(|f| {
                let b = base_name(f);
                (f.to_string(), b["stuff_".len()..b.len() - 5].to_string())
            })
            .collect();
    }
    if out.is_empty()
        && jsons.len() == 1
        && (input.is_single_file()
            || !OTHER_TASKS
                .iter()
                .any(|(p, _)| base_name(jsons[0]).starts_with(p)))
    {
        out.push((jsons[0].to_string(), "default".to_string()));
    }
    if out.is_empty() {
        let other: Vec<String> = jsons
            .iter()
            .filter_map(|f| {
                let b = base_name(f);
                OTHER_TASKS
                    .iter()
                    .chain(
                        [
                            ("person_keypoints_", "person keypoints"),
                            ("instances_", "instances"),
                        ]
                        .iter(),
                    )
                    .find(|(p, _)| b.starts_with(p))
                    .map(|(_, what)| format!("{f} ({what})"))
            })
            .collect();
        let (name, what) = match task {
            Task::Instances => ("COCO 1.0", "annotations/instances_<subset>.json"),
            Task::Keypoints => (
                "COCO Keypoints 1.0",
                "annotations/person_keypoints_<subset>.json",
            ),
        };
        let hint = if other.is_empty() {
            format!("{name} reads {what} (or a single .json file)")
        } else {
            format!(
                "found only other COCO tasks: {}; {name} reads {what}{}",
                other.join(", "),
                if task == Task::Instances {
                    "; use \"COCO Keypoints 1.0\" for person_keypoints files"
                } else {
                    "; use \"COCO 1.0\" for instances files"
                }
            )
        };
        return Err(FormatError::missing(
            format!("{}: no {what} found", input.name()),
            hint,
        ));
    }
    out.sort();
    Ok(out)
}

fn parse_all(input: &Input, task: Task, diags: &mut Diagnostics) -> Result<Vec<read::FileData>> {
    parse_all_with(
        input,
        task,
        diags,
        split::threads(),
        split::MIN_PARALLEL_BYTES,
    )
}

/// [`parse_all`], large files parsed on `threads` threads (see [`split`]).
fn parse_all_with(
    input: &Input,
    task: Task,
    diags: &mut Diagnostics,
    threads: usize,
    min_parallel_bytes: usize,
) -> Result<Vec<read::FileData>> {
    let mut files = Vec::new();
    for (rel, subset) in find_files(input, task)? {
        let name = input.display(&rel);
        let bytes = input.bytes(&rel)?;
        let text = bytes.strip_prefix(b"\xef\xbb\xbf").unwrap_or(&bytes);
        let (raw, store, names) = match split::parse_parallel(
            &name,
            text,
            task,
            diags.limit(),
            threads,
            min_parallel_bytes,
        ) {
            Some(p) => {
                diags.absorb(p.diags, |d| d);
                read::report_duplicate_ids(&name, p.ann_ids, diags);
                (p.raw, p.store, p.names)
            }
            None => {
                let mut names = parse::Interner::default();
                let mut col = read::Collector::new(name.clone(), task, diags);
                let raw = match parse::parse_file(&name, text, &mut col, &mut names) {
                    Ok(raw) => raw,
                    Err(d) => {
                        diags.push(*d);
                        continue;
                    }
                };
                col.report_duplicate_ids();
                (raw, std::mem::take(&mut col.store), names)
            }
        };
        drop(bytes);
        let fd = read::FileData {
            file: name,
            subset,
            raw,
            store,
            names,
        };
        read::check_file(&fd, task, diags);
        files.push(fd);
    }
    Ok(files)
}

fn read_task(input: &Input, opts: &ReadOptions, task: Task) -> Result<Dataset> {
    let mut diags = Diagnostics::with_limit(50);
    let files = parse_all(input, task, &mut diags)?;
    if let Some(d) = first_error(&diags) {
        return Err(FormatError::Invalid(Box::new(d)));
    }
    let ds = read::build(files, task, opts, &mut diags, false);
    match first_error(&diags) {
        Some(d) => Err(FormatError::Invalid(Box::new(d))),
        None => Ok(ds),
    }
}

fn first_error(diags: &Diagnostics) -> Option<Diagnostic> {
    diags
        .items()
        .iter()
        .find(|d| d.severity == cvat_format_api::Severity::Error)
        .cloned()
}

fn validate_task(input: &Input, opts: &ReadOptions, task: Task) -> Diagnostics {
    let mut diags = Diagnostics::default();
    match parse_all(input, task, &mut diags) {
        Ok(files) => {
            let _ = read::build(files, task, opts, &mut diags, true);
        }
        Err(e) => diags.push(e.to_diagnostic(input.name())),
    }
    diags
}

fn sniff_task(input: &Input, task: Task) -> u8 {
    let prefix = task.prefix();
    let jsons: Vec<&str> = input.files_with_suffix(".json").collect();
    if jsons.iter().any(|f| {
        let b = base_name(f);
        b.starts_with(prefix) && !(task == Task::Instances && b.starts_with("person_keypoints_"))
    }) {
        return 90;
    }
    if jsons.len() != 1 {
        return 0;
    }
    // one JSON file: look at its head
    let Ok(mut r) = input.open_file(jsons[0]) else {
        return 0;
    };
    let mut head = vec![0u8; 8192];
    let mut n = 0;
    while n < head.len() {
        match r.read(&mut head[n..]) {
            Ok(0) | Err(_) => break,
            Ok(k) => n += k,
        }
    }
    let head = String::from_utf8_lossy(&head[..n]);
    let coco = [
        "\"images\"",
        "\"annotations\"",
        "\"categories\"",
        "\"licenses\"",
    ]
    .iter()
    .filter(|k| head.contains(*k))
    .count();
    if coco < 2 {
        return 0;
    }
    let kp = head.contains("\"keypoints\"");
    match (task, kp) {
        (Task::Keypoints, true) | (Task::Instances, false) => 60,
        _ => 20,
    }
}

fn write_task(ds: &Dataset, out: &mut dyn OutputSink, task: Task) -> Result<DropReport> {
    let mut w = write::Writer::new(ds, task);
    w.write(out)?;
    Ok(w.report)
}

impl Format for Coco {
    fn info(&self) -> FormatInfo {
        FormatInfo::new("COCO 1.0")
            .aliases(&["COCO JSON 1.0"])
            .import()
            .export()
            .extensions(&["json", "zip"])
            .description(
                "COCO instances: boxes, polygons and masks (annotations/instances_<subset>.json)",
            )
    }
    fn sniff(&self, input: &Input) -> u8 {
        sniff_task(input, Task::Instances)
    }
    fn read(&self, input: &Input, opts: &ReadOptions) -> Result<Dataset> {
        read_task(input, opts, Task::Instances)
    }
    fn write(
        &self,
        ds: &Dataset,
        out: &mut dyn OutputSink,
        _opts: &WriteOptions,
    ) -> Result<DropReport> {
        write_task(ds, out, Task::Instances)
    }
    fn validate(&self, input: &Input, opts: &ReadOptions) -> Diagnostics {
        validate_task(input, opts, Task::Instances)
    }
}

impl Format for CocoKeypoints {
    fn info(&self) -> FormatInfo {
        FormatInfo::new("COCO Keypoints 1.0")
            .import()
            .export()
            .extensions(&["json", "zip"])
            .description(
                "COCO person keypoints: skeletons (annotations/person_keypoints_<subset>.json)",
            )
    }
    fn sniff(&self, input: &Input) -> u8 {
        sniff_task(input, Task::Keypoints)
    }
    fn read(&self, input: &Input, opts: &ReadOptions) -> Result<Dataset> {
        read_task(input, opts, Task::Keypoints)
    }
    fn write(
        &self,
        ds: &Dataset,
        out: &mut dyn OutputSink,
        _opts: &WriteOptions,
    ) -> Result<DropReport> {
        write_task(ds, out, Task::Keypoints)
    }
    fn validate(&self, input: &Input, opts: &ReadOptions) -> Diagnostics {
        validate_task(input, opts, Task::Keypoints)
    }
}
