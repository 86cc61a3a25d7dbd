//! The use cases of the original CVAT CLI that combine the client with local format plugins: `create`
//! (task, data, optional annotations, clean-up on failure), `upload` (validate first; convert locally
//! when the server lacks the format) and `dump` (convert locally after download when the server lacks it).

use crate::client::{Client, ClientError, DataSpec, ResourceType, TaskSpec, Wait};
use crate::progress::Reporter;
use cvat_format_api::{
    Dataset, Input, Output, OutputKind, ReadOptions, Registry, Severity, WriteOptions,
};
use std::path::{Path, PathBuf};

type Result<T, E = ClientError> = std::result::Result<T, E>;

/// How a format name given by the user is served.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FormatRoute {
    /// The server offers it under this exact name.
    Server(String),
    /// Only a local format (built-in or plugin) has it: go through the server's CVAT XML and convert here.
    Local(String),
}

/// Chooses how to handle `name` for import (`upload`) or export (`dump`) on this server: the server's own
/// name when it offers the format under the name or under an alias we know (older and newer servers
/// name some formats differently), else a local format that can do it.
pub fn route_format(
    client: &Client,
    registry: &Registry,
    name: &str,
    import: bool,
) -> Result<FormatRoute> {
    let (importers, exporters) = client.server_formats()?;
    let offered = if import { &importers } else { &exporters };
    if offered.iter().any(|n| n == name) {
        return Ok(FormatRoute::Server(name.to_string()));
    }
    if let Some(entry) = local_format(registry, name) {
        let candidates = std::iter::once(&entry.info.name).chain(entry.info.aliases.iter());
        for c in candidates {
            if offered.iter().any(|n| n == c) {
                return Ok(FormatRoute::Server(c.clone()));
            }
        }
        let capable = if import {
            entry.info.can_import
        } else {
            entry.info.can_export
        };
        if capable {
            return Ok(FormatRoute::Local(entry.info.name.clone()));
        }
    }
    // let the server give its own error for names nobody knows
    Ok(FormatRoute::Server(name.to_string()))
}

/// The local format `name` names: exact name or alias (see [`Registry::get`]), else, for a name without a
/// version such as "TensorFlow Object Detection CSV", the one format whose name is `name` plus a version.
pub fn local_format<'r>(
    registry: &'r Registry,
    name: &str,
) -> Option<&'r cvat_format_api::format::Entry> {
    if let Some(e) = registry.get(name) {
        return Some(e);
    }
    let want = name
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_lowercase();
    if want.is_empty() {
        return None;
    }
    let versioned = |n: &str| {
        let n = n
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
            .to_lowercase();
        n.strip_prefix(&want)
            .and_then(|rest| rest.strip_prefix(' '))
            .is_some_and(|v| !v.is_empty() && v.chars().all(|c| c.is_ascii_digit() || c == '.'))
    };
    let mut found = registry
        .entries()
        .iter()
        .filter(|e| versioned(&e.info.name) || e.info.aliases.iter().any(|a| versioned(a)));
    match (found.next(), found.next()) {
        (Some(e), None) => Some(e),
        _ => None,
    }
}

/// Task labels and frames from the server, for local reads and writes.
pub fn task_context(
    client: &Client,
    task_id: i64,
) -> Result<(Vec<cvat_format_api::Label>, Vec<cvat_format_api::Frame>)> {
    let labels_path = format!("/api/labels?task_id={task_id}&page_size=500");
    let resp = client.call(
        reqwest::Method::GET,
        &labels_path,
        &[],
        crate::client::transport::Body::None,
    )?;
    let bytes = resp.bytes().map_err(|e| ClientError::Protocol {
        path: labels_path.clone(),
        message: e.to_string(),
    })?;
    let labels = cvat_format_api::rest::parse_labels(&labels_path, &bytes)?;
    let meta_path = format!("/api/tasks/{task_id}/data/meta");
    let resp = client.call(
        reqwest::Method::GET,
        &meta_path,
        &[],
        crate::client::transport::Body::None,
    )?;
    let bytes = resp.bytes().map_err(|e| ClientError::Protocol {
        path: meta_path.clone(),
        message: e.to_string(),
    })?;
    let frames = cvat_format_api::rest::parse_frames(&meta_path, &bytes)?;
    Ok((labels, frames))
}

/// Validates `file` as `format` with the local plugin. `Ok(None)` when no local plugin knows the format.
pub fn validate_local(
    registry: &Registry,
    format: &str,
    file: &Path,
    opts: &ReadOptions,
) -> Result<Option<usize>> {
    let Some(entry) = local_format(registry, format) else {
        return Ok(None);
    };
    if !entry.info.can_import {
        return Ok(None);
    }
    let input = Input::open(file)?;
    let diags = entry.format.validate(&input, opts);
    let errors: Vec<_> = diags
        .items()
        .iter()
        .filter(|d| d.severity == Severity::Error)
        .cloned()
        .collect();
    if !errors.is_empty() {
        return Err(ClientError::Invalid {
            file: file.display().to_string(),
            diagnostics: errors,
        });
    }
    Ok(Some(diags.warning_count()))
}

/// `upload`: checks the file locally (unless `validate` is false), then imports it into the task,
/// converting it to CVAT XML first when only a local plugin knows the format.
#[allow(clippy::too_many_arguments)] // the original CLI's options, passed through
pub fn upload(
    client: &Client,
    registry: &Registry,
    task_id: i64,
    format: &str,
    file: &Path,
    validate: bool,
    wait: Wait,
    reporter: &dyn Reporter,
) -> Result<()> {
    if !file.is_file() {
        return Err(ClientError::io(
            file.display().to_string(),
            std::io::Error::new(std::io::ErrorKind::NotFound, "no such file"),
        ));
    }
    client.get_task(task_id)?;
    let route = route_format(client, registry, format, true)?;
    let needs_context = validate || matches!(route, FormatRoute::Local(_));
    let (labels, frames) = if needs_context {
        task_context(client, task_id)?
    } else {
        Default::default()
    };
    let opts = ReadOptions::default()
        .with_labels(labels)
        .with_frames(frames);
    if validate {
        let local_name = match &route {
            FormatRoute::Server(n) | FormatRoute::Local(n) => n.as_str(),
        };
        match validate_local(registry, local_name, file, &opts)? {
            Some(w) if w > 0 => reporter.log(&format!(
                "{}: {w} warning(s); uploading anyway",
                file.display()
            )),
            Some(_) => {}
            None => reporter.log(&format!(
                "no local plugin for {format:?}: the server will check the file"
            )),
        }
    }
    match route {
        FormatRoute::Server(name) => {
            client.import_annotations(task_id, &name, file, wait, reporter)
        }
        FormatRoute::Local(name) => {
            reporter.log(&format!(
                "the server has no {name:?}: converting to CVAT XML locally"
            ));
            let entry = registry.resolve(&name)?;
            let ds = entry.format.read(&Input::open(file)?, &opts)?;
            let tmp = TempPath::new(file, "xml");
            let mut out = Output::create(&tmp.0, OutputKind::File)?;
            let report = registry.resolve("CVAT for images 1.1")?.format.write(
                &ds,
                &mut out,
                &WriteOptions::default(),
            )?;
            out.commit()?;
            for (what, n) in &report.items {
                reporter.log(&format!("dropped {n} {what}"));
            }
            client.import_annotations(task_id, "CVAT 1.1", &tmp.0, wait, reporter)
        }
    }
}

/// `dump`: exports annotations in `format`; when only a local plugin has the format, fetches CVAT XML and
/// converts it here. `dest` is written atomically.
#[allow(clippy::too_many_arguments)] // the original CLI's options, passed through
pub fn dump(
    client: &Client,
    registry: &Registry,
    task_id: i64,
    format: &str,
    with_images: bool,
    dest: &Path,
    wait: Wait,
    reporter: &dyn Reporter,
) -> Result<()> {
    client.get_task(task_id)?;
    match route_format(client, registry, format, false)? {
        FormatRoute::Server(name) => {
            client.export_annotations(task_id, &name, with_images, dest, wait, reporter)
        }
        FormatRoute::Local(name) => {
            reporter.log(&format!(
                "the server has no {name:?}: fetching CVAT XML and converting locally"
            ));
            let tmp = TempPath::new(dest, "zip");
            client.export_annotations(
                task_id,
                "CVAT for images 1.1",
                false,
                &tmp.0,
                wait,
                reporter,
            )?;
            let (labels, frames) = task_context(client, task_id)?;
            let opts = ReadOptions::default()
                .with_labels(labels)
                .with_frames(frames);
            let ds: Dataset = registry
                .resolve("CVAT 1.1")?
                .format
                .read(&Input::open(&tmp.0)?, &opts)?;
            let kind = OutputKind::for_path(dest);
            let mut out = Output::create(dest, kind)?;
            let report =
                registry
                    .resolve(&name)?
                    .format
                    .write(&ds, &mut out, &WriteOptions::default())?;
            out.commit()?;
            for (what, n) in &report.items {
                reporter.log(&format!("dropped {n} {what}"));
            }
            Ok(())
        }
    }
}

/// What `create` does after the task object exists.
pub struct CreateRequest<'a> {
    pub spec: TaskSpec,
    pub kind: ResourceType,
    pub resources: Vec<String>,
    pub data: DataSpec,
    pub annotations: Option<(&'a Path, &'a str)>,
    pub validate: bool,
    pub keep_on_error: bool,
    pub jobs: usize,
    pub wait: Wait,
}

/// `create`: makes the task, attaches its data, optionally uploads annotations. On a failure after the
/// task exists, deletes it unless `keep_on_error`. Returns the task id.
pub fn create(
    client: &Client,
    registry: &Registry,
    req: CreateRequest<'_>,
    reporter: &dyn Reporter,
) -> Result<i64> {
    if req.kind == ResourceType::Local {
        for r in &req.resources {
            let p = Path::new(r);
            if !p.is_file() {
                return Err(ClientError::io(
                    r.clone(),
                    std::io::Error::new(std::io::ErrorKind::NotFound, "no such file"),
                ));
            }
        }
    }
    let id = client.create_task_object(&req.spec)?;
    reporter.log(&format!("Created task ID: {id} NAME: {}", req.spec.name));
    let rest = (|| -> Result<()> {
        client.attach_data(
            id,
            req.kind,
            &req.resources,
            &req.data,
            req.jobs,
            req.wait,
            reporter,
        )?;
        if let Some((file, format)) = req.annotations {
            upload(
                client,
                registry,
                id,
                format,
                file,
                req.validate,
                req.wait,
                reporter,
            )?;
        }
        Ok(())
    })();
    if let Err(e) = rest {
        if req.keep_on_error {
            reporter.log(&format!("task {id} kept after the error (--keep-on-error)"));
        } else {
            match client.delete_task(id) {
                Ok(()) => reporter.log(&format!("task {id} deleted after the error")),
                Err(d) => reporter.log(&format!("could not delete task {id} after the error: {d}")),
            }
        }
        return Err(e);
    }
    Ok(id)
}

/// Expands list files: a resource that is a `.txt` file (and not an image) is read as one path or URL per
/// line (blank lines and `#` comments skipped).
pub fn expand_list_files(resources: &[String]) -> Result<Vec<String>> {
    let mut out = Vec::new();
    for r in resources {
        let p = Path::new(r);
        if r.to_ascii_lowercase().ends_with(".txt") && p.is_file() {
            let text = std::fs::read_to_string(p).map_err(|e| ClientError::io(r.clone(), e))?;
            let base = p.parent().unwrap_or(Path::new("."));
            for line in text.lines() {
                let line = line.trim();
                if line.is_empty() || line.starts_with('#') {
                    continue;
                }
                let is_url = line.contains("://");
                if is_url || Path::new(line).is_absolute() || !base.join(line).exists() {
                    out.push(line.to_string());
                } else {
                    out.push(base.join(line).display().to_string());
                }
            }
        } else {
            out.push(r.clone());
        }
    }
    Ok(out)
}

/// A temporary file beside `near`, removed on drop.
struct TempPath(PathBuf);

impl TempPath {
    fn new(near: &Path, ext: &str) -> TempPath {
        let dir = match near.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => std::env::temp_dir(),
        };
        let dir = if dir.is_dir() {
            dir
        } else {
            std::env::temp_dir()
        };
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        TempPath(dir.join(format!(".cvat-cli-{}-{nanos}.{ext}", std::process::id())))
    }
}

impl Drop for TempPath {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}
