//! Tasks: list, create (with data and optional annotations), delete, frames, annotation export/import and
//! backups — the use cases of the original CVAT CLI.

use super::error::ClientError;
use super::requests::rq_id_of;
use super::transport::{Body, Client, Result};
use crate::progress::Reporter;
use reqwest::Method;
use serde::Deserialize;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Duration;

#[derive(Deserialize)]
struct Page {
    #[serde(default)]
    next: Option<String>,
    #[serde(default)]
    results: Vec<serde_json::Value>,
}

/// Where the files of a new task come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResourceType {
    Local,
    Share,
    Remote,
}

/// Everything `create` needs besides the files.
#[derive(Debug, Clone, Default)]
pub struct TaskSpec {
    pub name: String,
    /// Label specifications (JSON list); empty when `project_id` is set.
    pub labels: Option<serde_json::Value>,
    pub project_id: Option<i64>,
    pub overlap: Option<u32>,
    pub segment_size: Option<u32>,
    pub bug_tracker: Option<String>,
    pub subset: Option<String>,
}

/// Data options of `create`.
#[derive(Debug, Clone)]
pub struct DataSpec {
    pub image_quality: u32,
    pub frame_step: Option<u32>,
    pub copy_data: bool,
    pub use_cache: bool,
    pub sorting_method: String,
    pub chunk_size: Option<u32>,
    pub start_frame: Option<u32>,
    pub stop_frame: Option<u32>,
}

impl Default for DataSpec {
    fn default() -> Self {
        DataSpec {
            image_quality: 70,
            frame_step: None,
            copy_data: false,
            use_cache: true,
            sorting_method: "lexicographical".into(),
            chunk_size: None,
            start_frame: None,
            stop_frame: None,
        }
    }
}

impl DataSpec {
    fn to_json(&self) -> serde_json::Value {
        let mut v = serde_json::json!({
            "image_quality": self.image_quality,
            "copy_data": self.copy_data,
            "sorting_method": self.sorting_method,
            "use_cache": self.use_cache,
            "use_zip_chunks": false,
        });
        let o = v.as_object_mut().expect("object literal");
        if let Some(s) = self.frame_step {
            o.insert("frame_filter".into(), format!("step={s}").into());
        }
        if let Some(c) = self.chunk_size {
            o.insert("chunk_size".into(), c.into());
        }
        if let Some(s) = self.start_frame {
            o.insert("start_frame".into(), s.into());
        }
        if let Some(s) = self.stop_frame {
            o.insert("stop_frame".into(), s.into());
        }
        v
    }
}

/// How often to poll the server while waiting (`--completion_verification_period`).
#[derive(Debug, Clone, Copy)]
pub struct Wait(pub Duration);

impl Default for Wait {
    fn default() -> Self {
        Wait(Duration::from_secs(1))
    }
}

/// The export name the server uses for result files, and the rq_id format, need nothing from us: we
/// follow `result_url`.
impl Client {
    /// Every task visible to the user (all pages), as the server returns them.
    pub fn list_tasks(&self) -> Result<Vec<serde_json::Value>> {
        let mut out = Vec::new();
        let mut next = Some("/api/tasks?page=1&page_size=100".to_string());
        let mut guard = 0;
        while let Some(path) = next {
            let page: Page = self.get_json(&path)?;
            out.extend(page.results);
            next = page.next;
            guard += 1;
            if guard > 100_000 {
                return Err(ClientError::Protocol {
                    path: "/api/tasks".into(),
                    message: "pagination does not end".into(),
                });
            }
        }
        Ok(out)
    }

    pub fn get_task(&self, id: i64) -> Result<serde_json::Value> {
        self.get_json(&format!("/api/tasks/{id}"))
            .map_err(|e| not_found(e, id))
    }

    /// Creates the task object (no data yet). Returns its id.
    pub fn create_task_object(&self, spec: &TaskSpec) -> Result<i64> {
        let mut body = serde_json::json!({"name": spec.name});
        let o = body.as_object_mut().expect("object literal");
        if let Some(l) = &spec.labels {
            o.insert("labels".into(), l.clone());
        }
        if let Some(p) = spec.project_id {
            o.insert("project_id".into(), p.into());
        }
        if let Some(v) = spec.overlap {
            o.insert("overlap".into(), v.into());
        }
        if let Some(v) = spec.segment_size {
            o.insert("segment_size".into(), v.into());
        }
        if let Some(v) = &spec.bug_tracker {
            o.insert("bug_tracker".into(), v.clone().into());
        }
        if let Some(v) = &spec.subset {
            o.insert("subset".into(), v.clone().into());
        }
        // A lost answer to this POST is ambiguous: the task may exist. So it is not retried blindly: after
        // a connection failure, a task of this name newer than any before the attempt is adopted.
        let newest_before = self.newest_task_id()?;
        let mut attempt = 0;
        loop {
            match self.send_once(Method::POST, "/api/tasks", Body::Json(body.clone())) {
                Ok(resp)
                    if matches!(resp.status().as_u16(), 429 | 502 | 503 | 504)
                        && attempt < self.retries() => {}
                Ok(resp) => {
                    let resp = super::transport::check(Method::POST, "/api/tasks", resp)?;
                    let task: serde_json::Value = super::transport::read_json("/api/tasks", resp)?;
                    return task.get("id").and_then(|v| v.as_i64()).ok_or_else(|| {
                        ClientError::Protocol {
                            path: "/api/tasks".into(),
                            message: "created task has no id".into(),
                        }
                    });
                }
                Err(e) if attempt >= self.retries() => return Err(e),
                Err(_) => {
                    if let Some(id) = self.find_new_task(&spec.name, newest_before)? {
                        return Ok(id);
                    }
                }
            }
            attempt += 1;
            std::thread::sleep(
                self.backoff() * 2u32.saturating_pow(attempt.saturating_sub(1)).min(32),
            );
        }
    }

    fn newest_task_id(&self) -> Result<i64> {
        let page: Page = self.get_json("/api/tasks?sort=-id&page_size=1")?;
        Ok(page
            .results
            .first()
            .and_then(|t| t.get("id"))
            .and_then(|v| v.as_i64())
            .unwrap_or(0))
    }

    /// A task named `name`, without data, with an id above `after`: one our lost request created.
    fn find_new_task(&self, name: &str, after: i64) -> Result<Option<i64>> {
        let mut q = url::form_urlencoded::Serializer::new(String::new());
        q.append_pair("name", name);
        q.append_pair("sort", "-id");
        q.append_pair("page_size", "20");
        let page: Page = self.get_json(&format!("/api/tasks?{}", q.finish()))?;
        Ok(page
            .results
            .iter()
            .filter(|t| t.get("name").and_then(|n| n.as_str()) == Some(name))
            .filter(|t| t.get("size").and_then(|s| s.as_u64()).unwrap_or(0) == 0)
            .filter_map(|t| t.get("id").and_then(|v| v.as_i64()))
            .find(|&id| id > after))
    }

    /// Attaches data to a task and waits until the server has processed it.
    #[allow(clippy::too_many_arguments)] // the original CLI's options, passed through
    pub fn attach_data(
        &self,
        task_id: i64,
        kind: ResourceType,
        resources: &[String],
        data: &DataSpec,
        jobs: usize,
        wait: Wait,
        reporter: &dyn Reporter,
    ) -> Result<()> {
        let endpoint = format!("/api/tasks/{task_id}/data/");
        let rq_id = match kind {
            ResourceType::Local => {
                let files: Vec<PathBuf> = resources.iter().map(PathBuf::from).collect();
                self.upload_task_data(task_id, &files, data.to_json(), jobs, reporter)?
            }
            ResourceType::Share | ResourceType::Remote => {
                let mut body = data.to_json();
                let key = if kind == ResourceType::Share {
                    "server_files"
                } else {
                    "remote_files"
                };
                if let Some(o) = body.as_object_mut() {
                    o.insert(key.into(), serde_json::json!(resources));
                }
                let resp = self.call(Method::POST, &endpoint, &[], Body::Json(body))?;
                rq_id_of(&endpoint, resp)?
            }
        };
        self.wait_request(&rq_id, "processing data", wait.0, reporter)?;
        Ok(())
    }

    pub fn delete_task(&self, id: i64) -> Result<()> {
        self.call(Method::DELETE, &format!("/api/tasks/{id}"), &[], Body::None)
            .map(|_| ())
            .map_err(|e| not_found(e, id))
    }

    /// Downloads frames into `outdir` as `task_<id>_frame_<NNNNNN><ext>`, `jobs` at a time. Returns, per
    /// frame, the file written or the error.
    pub fn download_frames(
        &self,
        task_id: i64,
        frames: &[u32],
        quality: &str,
        outdir: &Path,
        jobs: usize,
        reporter: &dyn Reporter,
    ) -> Vec<(u32, Result<PathBuf>)> {
        let bar = reporter.start(
            &format!("downloading {} frames", frames.len()),
            Some(frames.len() as u64),
        );
        let next = AtomicUsize::new(0);
        let results: Mutex<Vec<(u32, Result<PathBuf>)>> = Mutex::new(Vec::new());
        let jobs = jobs.clamp(1, 64).min(frames.len().max(1));
        std::thread::scope(|scope| {
            for _ in 0..jobs {
                scope.spawn(|| loop {
                    let i = next.fetch_add(1, Ordering::SeqCst);
                    let Some(&frame) = frames.get(i) else { return };
                    let r = self.download_frame(task_id, frame, quality, outdir);
                    reporter.advance(bar, 1);
                    if let Ok(mut v) = results.lock() {
                        v.push((frame, r));
                    }
                });
            }
        });
        reporter.finish(bar);
        let mut v = results.into_inner().unwrap_or_default();
        v.sort_by_key(|(f, _)| *f);
        v
    }

    fn download_frame(
        &self,
        task_id: i64,
        frame: u32,
        quality: &str,
        outdir: &Path,
    ) -> Result<PathBuf> {
        let path =
            format!("/api/tasks/{task_id}/data/?number={frame}&quality={quality}&type=frame");
        // download to a neutral name first: the extension depends on the content type
        let tmp = outdir.join(format!(".task_{task_id}_frame_{frame:06}.download"));
        let (_, ctype) = self.download(
            &path,
            &tmp,
            &format!("frame {frame}"),
            &crate::progress::Silent,
        )?;
        let ext = match ctype
            .as_deref()
            .map(|c| c.split(';').next().unwrap_or("").trim())
        {
            Some("image/jpeg") => ".jpg",
            Some("image/png") => ".png",
            Some("image/bmp") => ".bmp",
            Some("image/gif") => ".gif",
            Some("image/webp") => ".webp",
            Some("image/tiff") => ".tif",
            _ => ".jpg",
        };
        let dest = outdir.join(format!("task_{task_id}_frame_{frame:06}{ext}"));
        std::fs::rename(&tmp, &dest).map_err(|e| {
            let _ = std::fs::remove_file(&tmp);
            ClientError::io(dest.display().to_string(), e)
        })?;
        Ok(dest)
    }

    /// Exports annotations (or the dataset with images) in `format` and downloads the ZIP to `dest`.
    pub fn export_annotations(
        &self,
        task_id: i64,
        format: &str,
        with_images: bool,
        dest: &Path,
        wait: Wait,
        reporter: &dyn Reporter,
    ) -> Result<()> {
        self.get_task(task_id)?;
        let mut q = url::form_urlencoded::Serializer::new(String::new());
        q.append_pair("format", format);
        q.append_pair("save_images", if with_images { "True" } else { "False" });
        let path = format!("/api/tasks/{task_id}/dataset/export?{}", q.finish());
        let resp = self
            .call(Method::POST, &path, &[], Body::None)
            .map_err(|e| unknown_format(e, format))?;
        let rq_id = rq_id_of(&path, resp)?;
        let info = self.wait_request(&rq_id, &format!("exporting {format}"), wait.0, reporter)?;
        let url = info.result_url.ok_or_else(|| ClientError::Protocol {
            path: path.clone(),
            message: "finished export has no result_url".into(),
        })?;
        self.download(&url, dest, "downloading", reporter)?;
        Ok(())
    }

    /// Uploads an annotation file in `format` into a task and waits for the import.
    pub fn import_annotations(
        &self,
        task_id: i64,
        format: &str,
        file: &Path,
        wait: Wait,
        reporter: &dyn Reporter,
    ) -> Result<()> {
        self.get_task(task_id)?;
        let endpoint = format!("/api/tasks/{task_id}/annotations/");
        let rq_id = self
            .upload_with_finish(&endpoint, &[("format", format)], file, reporter)
            .map_err(|e| unknown_format(e, format))?;
        self.wait_request(&rq_id, &format!("importing {format}"), wait.0, reporter)?;
        Ok(())
    }

    /// Makes a task backup and downloads it to `dest`.
    pub fn export_backup(
        &self,
        task_id: i64,
        dest: &Path,
        wait: Wait,
        reporter: &dyn Reporter,
    ) -> Result<()> {
        self.get_task(task_id)?;
        let path = format!("/api/tasks/{task_id}/backup/export");
        let resp = self.call(Method::POST, &path, &[], Body::None)?;
        let rq_id = rq_id_of(&path, resp)?;
        let info = self.wait_request(&rq_id, "making backup", wait.0, reporter)?;
        let url = info
            .result_url
            .unwrap_or_else(|| format!("/api/tasks/{task_id}/backup?action=download"));
        self.download(&url, dest, "downloading backup", reporter)?;
        Ok(())
    }

    /// Restores a backup as a new task; returns its id.
    pub fn import_backup(&self, file: &Path, wait: Wait, reporter: &dyn Reporter) -> Result<i64> {
        let rq_id = self.upload_with_finish("/api/tasks/backup/", &[], file, reporter)?;
        let info = self.wait_request(&rq_id, "restoring backup", wait.0, reporter)?;
        info.result_id.ok_or_else(|| ClientError::Protocol {
            path: "/api/tasks/backup/".into(),
            message: "finished restore has no result_id".into(),
        })
    }

    /// The formats the server offers: (importers, exporters) by display name.
    pub fn server_formats(&self) -> Result<(Vec<String>, Vec<String>)> {
        let v: serde_json::Value = self.get_json("/api/server/annotation/formats")?;
        let names = |k: &str| -> Vec<String> {
            v.get(k)
                .and_then(|a| a.as_array())
                .map(|a| {
                    a.iter()
                        .filter_map(|f| f.get("name").and_then(|n| n.as_str()).map(str::to_string))
                        .collect()
                })
                .unwrap_or_default()
        };
        Ok((names("importers"), names("exporters")))
    }
}

fn not_found(e: ClientError, id: i64) -> ClientError {
    match e {
        ClientError::Http { status: 404, .. } => ClientError::Usage {
            message: format!("task {id} not found"),
            hint: Some("`cvat-cli ls` lists the tasks you can see".into()),
        },
        other => other,
    }
}

fn unknown_format(e: ClientError, format: &str) -> ClientError {
    match e {
        ClientError::Http { status: 400, ref message, .. } if message.to_lowercase().contains("format") => ClientError::Usage {
            message: format!("the server does not know the format {format:?}: {message}"),
            hint: Some("`cvat-cli formats` lists the formats; names are exact, e.g. \"CVAT for images 1.1\"".into()),
        },
        other => other,
    }
}
