//! "CVAT REST JSON": the CVAT server's own annotation JSON, as cvat-cli saves a task locally.
//!
//! Layout (a directory or a ZIP, possibly wrapped in one top-level folder):
//! - `annotations.json`: `GET /api/tasks/{id}/annotations` (required);
//! - `labels.json`: `GET /api/labels?task_id={id}` (paginated answer or a bare list);
//! - `data_meta.json`: `GET /api/tasks/{id}/data/meta` (frame names and sizes);
//! - `task.json`, `jobs.json`: `GET /api/tasks/{id}` and `GET /api/jobs?task_id={id}` (task metadata).
//!
//! A lone annotation JSON file is accepted too; its labels and frames then come from
//! [`ReadOptions`] (`cvat-cli convert --labels FILE --frames FILE`).
//!
//! This format is local to cvat-cli: the server does not advertise it. It carries everything the model
//! holds, so it is the lossless pivot for conversions.

use cvat_format_api::rest::{parse_annotations, parse_frames, parse_labels, task_meta};
use cvat_format_api::{
    check_dataset, AnnRef, Dataset, Diagnostic, Diagnostics, DropReport, Format, FormatError,
    FormatInfo, Input, Location, OutputSink, ReadOptions, Result, Severity, WriteOptions,
};
use serde_json::{json, Value};
use std::collections::HashSet;
use std::io::Read;

pub const NAME: &str = "CVAT REST JSON";

/// The server's annotation JSON (see the module documentation).
#[derive(Debug, Default, Clone, Copy)]
pub struct RestJson;

cvat_format_api::register_format!(RestJson);

const ANNOTATIONS: &str = "annotations.json";
const LABELS: &str = "labels.json";
const META: &str = "data_meta.json";
const TASK: &str = "task.json";
const JOBS: &str = "jobs.json";

/// Where the files of one task are inside an input.
struct Layout {
    /// The annotation file (relative path in the input).
    annotations: String,
    /// Prefix of the sibling files (`""` or `folder/`); `None` for a lone annotation file.
    prefix: Option<String>,
}

impl Layout {
    fn find(input: &Input) -> Option<Layout> {
        if let Some(rel) = input.find(ANNOTATIONS) {
            let prefix = rel.strip_suffix(ANNOTATIONS).unwrap_or("").to_string();
            return Some(Layout {
                annotations: rel.to_string(),
                prefix: Some(prefix),
            });
        }
        if input.is_single_file() {
            let rel = input.files().first()?;
            return Some(Layout {
                annotations: rel.clone(),
                prefix: None,
            });
        }
        None
    }

    fn sibling(&self, input: &Input, name: &str) -> Option<String> {
        let rel = format!("{}{name}", self.prefix.as_deref()?);
        input.contains(&rel).then_some(rel)
    }
}

/// A dataset with what is needed to locate its parts in the files it came from.
struct Loaded {
    ds: Dataset,
    annotations_file: String,
    /// File and JSON path prefix of the label list (`$.results` or `$`); `None` when labels are unknown.
    labels_at: Option<(String, &'static str)>,
    frames_file: Option<String>,
}

fn head(input: &Input, rel: &str, n: usize) -> Vec<u8> {
    let mut buf = Vec::new();
    if let Ok(r) = input.open_file(rel) {
        let _ = r.take(n as u64).read_to_end(&mut buf);
    }
    buf
}

fn json_value(input: &Input, rel: &str) -> Result<Value> {
    let bytes = input.read(rel)?;
    serde_json::from_slice(&bytes).map_err(|e| {
        FormatError::invalid(
            Location::line(input.display(rel), e.line() as u32, e.column() as u32),
            "json",
            format!("invalid JSON: {e}"),
        )
    })
}

/// Reads the task. With `need_labels`, annotations without any label list are an error (a reader
/// cannot name their labels); `validate` passes `false` and reports a warning instead.
fn load(input: &Input, opts: &ReadOptions, need_labels: bool) -> Result<Loaded> {
    let layout = Layout::find(input).ok_or_else(|| {
        FormatError::missing(
            format!("{}: no {ANNOTATIONS} found", input.name()),
            "a CVAT REST JSON task holds annotations.json, labels.json and data_meta.json \
             (optionally task.json and jobs.json)",
        )
    })?;
    let ann_disp = input.display(&layout.annotations);
    let ann_bytes = input.read(&layout.annotations)?;
    let annotations = parse_annotations(&ann_disp, &ann_bytes)?;
    if annotations.tags.is_empty() && annotations.shapes.is_empty() && annotations.tracks.is_empty()
    {
        // every key is optional: make sure an empty result is the server's JSON, not some other object
        let value: Value = serde_json::from_slice(&ann_bytes).unwrap_or(Value::Null);
        let ours = ["version", "tags", "shapes", "tracks"];
        if !value
            .as_object()
            .is_some_and(|o| ours.iter().any(|k| o.contains_key(*k)))
        {
            return Err(FormatError::invalid(
                Location::json(ann_disp, "$"),
                "not-annotations",
                "not the server's annotation JSON: no version, tags, shapes or tracks at the top level",
            ));
        }
    }

    let (labels, labels_at) = match layout.sibling(input, LABELS) {
        Some(rel) => {
            let disp = input.display(&rel);
            let bytes = input.read(&rel)?;
            let labels = parse_labels(&disp, &bytes)?;
            let paged = bytes
                .iter()
                .find(|b| !b.is_ascii_whitespace())
                .is_some_and(|b| *b == b'{');
            (labels, Some((disp, if paged { "$.results" } else { "$" })))
        }
        None => match &opts.labels {
            Some(l) => (l.clone(), Some(("labels (from options)".to_string(), "$"))),
            None => (Vec::new(), None),
        },
    };
    let has_annotations = !(annotations.tags.is_empty()
        && annotations.shapes.is_empty()
        && annotations.tracks.is_empty());
    if need_labels && labels_at.is_none() && has_annotations {
        return Err(FormatError::missing(
            format!("{ann_disp}: the annotations refer to label ids, but no label list was given"),
            "put labels.json (GET /api/labels?task_id=N) beside annotations.json, \
             or pass --labels FILE",
        ));
    }

    let meta_rel = layout.sibling(input, META);
    let (frames, meta, frames_file) = match &meta_rel {
        Some(rel) => {
            let disp = input.display(rel);
            let bytes = input.read(rel)?;
            let mut frames = parse_frames(&disp, &bytes)?;
            let value: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
            // our own writer keeps a frame's subset; the server's answer has none
            let list = value.get("frames").unwrap_or(&value);
            if let Some(items) = list.as_array() {
                for (f, v) in frames.iter_mut().zip(items) {
                    f.subset = v.get("subset").and_then(Value::as_str).map(str::to_string);
                }
            }
            (frames, Some(value), Some(disp))
        }
        None => (opts.frames.clone().unwrap_or_default(), None, None),
    };

    let task = match layout.sibling(input, TASK) {
        Some(rel) => Some(json_value(input, &rel)?),
        None => None,
    };
    let jobs = match layout.sibling(input, JOBS) {
        Some(rel) => Some(json_value(input, &rel)?),
        None => None,
    };
    let mut ds = Dataset::from_rest(annotations, labels, frames);
    if task.is_some() {
        ds.task = Some(task_meta(task.as_ref(), meta.as_ref(), jobs.as_ref()));
    }
    Ok(Loaded {
        ds,
        annotations_file: ann_disp,
        labels_at,
        frames_file,
    })
}

/// `2026-12-03 18:20:20.585414+00:00` (as the model keeps it) back to the server's ISO form.
fn xml_to_iso_time(s: &str) -> String {
    let t = s.replacen(' ', "T", 1);
    match t.strip_suffix("+00:00") {
        Some(base) => format!("{base}Z"),
        None => t,
    }
}

fn write_json(out: &mut dyn OutputSink, rel: &str, value: &impl serde::Serialize) -> Result<()> {
    let w = out.file(rel)?;
    serde_json::to_writer_pretty(&mut *w, value)
        .map_err(|e| FormatError::io(rel, std::io::Error::other(e)))?;
    w.write_all(b"\n").map_err(|e| FormatError::io(rel, e))
}

impl Format for RestJson {
    fn info(&self) -> FormatInfo {
        FormatInfo::new(NAME)
            .import()
            .export()
            .extensions(&["json", "zip"])
            .description(
                "the server's own annotation JSON (annotations.json + labels.json + data_meta.json \
                 [+ task.json, jobs.json]); local to cvat-cli",
            )
    }

    fn sniff(&self, input: &Input) -> u8 {
        if let Some(rel) = input.find(ANNOTATIONS) {
            let prefix = rel.strip_suffix(ANNOTATIONS).unwrap_or("");
            if input.contains(&format!("{prefix}{LABELS}")) {
                // the server's answers side by side at the root: certain (a saved task directory may
                // hold other things too, such as the server's exports of it)
                return if prefix.is_empty() { 100 } else { 90 };
            }
            return 70;
        }
        if !input.is_single_file() {
            return 0;
        }
        let Some(rel) = input.files().first() else {
            return 0;
        };
        let head = head(input, rel, 256);
        let text = String::from_utf8_lossy(&head);
        let t = text.trim_start_matches('\u{feff}').trim_start();
        let keys = ["\"tags\"", "\"shapes\"", "\"tracks\""];
        if t.starts_with('{') && t.contains("\"version\"") && keys.iter().any(|k| t.contains(k)) {
            60
        } else {
            0
        }
    }

    fn read(&self, input: &Input, opts: &ReadOptions) -> Result<Dataset> {
        Ok(load(input, opts, true)?.ds)
    }

    fn write(
        &self,
        ds: &Dataset,
        out: &mut dyn OutputSink,
        _opts: &WriteOptions,
    ) -> Result<DropReport> {
        let mut drops = DropReport::default();
        {
            let w = out.file(ANNOTATIONS)?;
            ds.write_annotations_json(&mut *w, true)
                .map_err(|e| FormatError::io(ANNOTATIONS, std::io::Error::other(e)))?;
            w.write_all(b"\n")
                .map_err(|e| FormatError::io(ANNOTATIONS, e))?;
        }
        let labels = json!({
            "count": ds.labels.len(),
            "next": null,
            "previous": null,
            "results": ds.labels,
        });
        write_json(out, LABELS, &labels)?;

        // data_meta lists frames by position: frame numbers must be 0..n
        let mut frames: Vec<&cvat_format_api::Frame> = ds.frames.iter().collect();
        frames.sort_by_key(|f| f.id);
        let mut list = Vec::new();
        let mut placeholders = 0;
        for f in frames {
            while (list.len() as u64) < u64::from(f.id) {
                placeholders += 1;
                list.push(json!({"width": 0, "height": 0, "name": ""}));
            }
            if (list.len() as u64) > u64::from(f.id) {
                // a duplicate frame number: the first one wins
                drops.add("frames with a duplicate number", 1);
                continue;
            }
            let mut v = json!({"width": f.width, "height": f.height, "name": f.name});
            if let (Some(s), Some(o)) = (&f.subset, v.as_object_mut()) {
                o.insert("subset".into(), Value::from(s.clone()));
            }
            list.push(v);
        }
        drops.add(
            "missing frame numbers (written as unnamed placeholder frames)",
            placeholders,
        );
        let (start, stop, filter) = match &ds.task {
            Some(t) => (t.start_frame, t.stop_frame, t.frame_filter.clone()),
            None => (0, (list.len() as i64 - 1).max(0), String::new()),
        };
        let meta = json!({
            "size": list.len(),
            "start_frame": start,
            "stop_frame": stop,
            "frame_filter": filter,
            "frames": list,
        });
        write_json(out, META, &meta)?;

        if let Some(t) = &ds.task {
            let user = |u: &Option<cvat_format_api::UserRef>| match u {
                Some(u) => json!({"username": u.username, "email": u.email}),
                None => Value::Null,
            };
            let mut task = json!({
                "name": t.name,
                "mode": t.mode,
                "owner": user(&t.owner),
                "assignee": user(&t.assignee),
                "bug_tracker": t.bug_tracker,
                "created_date": xml_to_iso_time(&t.created),
                "updated_date": xml_to_iso_time(&t.updated),
                "overlap": t.overlap,
                "subset": t.subset,
            });
            if let (Some(id), Some(o)) = (t.id, task.as_object_mut()) {
                o.insert("id".into(), Value::from(id));
            }
            write_json(out, TASK, &task)?;
            let jobs: Vec<Value> = t
                .segments
                .iter()
                .map(|s| {
                    json!({"url": s.url, "id": s.id, "start_frame": s.start, "stop_frame": s.stop})
                })
                .collect();
            write_json(
                out,
                JOBS,
                &json!({"count": jobs.len(), "next": null, "previous": null, "results": jobs}),
            )?;
            let lost = usize::from(t.original_size.is_some())
                + usize::from(!t.dumped.is_empty())
                + usize::from(t.source.is_some());
            drops.add(
                "task meta fields (original_size, dumped, source) the server JSON has no place for",
                lost,
            );
        }
        Ok(drops)
    }

    fn validate(&self, input: &Input, opts: &ReadOptions) -> Diagnostics {
        let mut diags = Diagnostics::default();
        let loaded = match load(input, opts, false) {
            Ok(l) => l,
            Err(e) => {
                diags.push(e.to_diagnostic(input.name()));
                return diags;
            }
        };
        let ds = &loaded.ds;
        let ann = loaded.annotations_file.clone();

        // duplicate annotation ids (the server's ids are unique per kind)
        let dup = |kind: &str, ids: Vec<Option<i64>>, diags: &mut Diagnostics| {
            let mut seen = HashSet::new();
            for (i, id) in ids.into_iter().enumerate() {
                if let Some(id) = id {
                    if !seen.insert(id) {
                        diags.error(
                            Location::json(ann.clone(), format!("$.{kind}[{i}].id")),
                            "duplicate-id",
                            format!("id {id} appears more than once in {kind}"),
                        );
                    }
                }
            }
        };
        dup("tags", ds.tags.iter().map(|t| t.id).collect(), &mut diags);
        dup(
            "shapes",
            ds.shapes.iter().map(|s| s.id).collect(),
            &mut diags,
        );
        dup(
            "tracks",
            ds.tracks.iter().map(|t| t.id).collect(),
            &mut diags,
        );

        let mut model = Diagnostics::with_limit(usize::MAX);
        let frames_file = loaded.frames_file.clone();
        let labels_at = loaded.labels_at.clone();
        check_dataset(
            ds,
            &mut |r| match r {
                AnnRef::Label(i) => match &labels_at {
                    Some((file, base)) => Location::json(file.clone(), format!("{base}[{i}]")),
                    None => Location::file(ann.clone()),
                },
                AnnRef::Frame(i) => match &frames_file {
                    Some(file) => Location::json(file.clone(), format!("$.frames[{i}]")),
                    None => Location::json("frames (from options)", format!("$[{i}]")),
                },
                other => Location::json(ann.clone(), other.path()),
            },
            &mut model,
        );
        if loaded.labels_at.is_none() {
            diags.push(
                Diagnostic::warning(
                    Location::file(ann.clone()),
                    "labels-unknown",
                    "no labels.json beside the annotations: label and attribute references \
                     were not checked",
                )
                .with_hint("put labels.json beside annotations.json, or pass --labels FILE"),
            );
            diags.extend(model.into_items().into_iter().filter(|d| {
                d.code != "undeclared-label" && d.code != "undeclared-attribute"
                    || d.severity != Severity::Error
            }));
        } else {
            diags.extend(model.into_items());
        }
        diags
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iso_times_round_trip() {
        let iso = "2026-12-03T18:20:20.585414Z";
        assert_eq!(
            xml_to_iso_time(&cvat_format_api::rest::iso_to_xml_time(iso)),
            iso
        );
    }
}
