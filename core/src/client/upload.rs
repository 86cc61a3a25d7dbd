//! The CVAT upload flow: `Upload-Start`, then small files in multipart groups (`Upload-Multiple`) and
//! large ones by TUS (resuming from the server's offset after errors), then `Upload-Finish`. Files are
//! streamed from disk; memory stays bounded by the chunk size times the number of parallel jobs.

use super::error::ClientError;
use super::transport::{check, header, Body, Client, Result};
use crate::progress::Reporter;
use base64::Engine;
use reqwest::Method;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

/// Largest TUS chunk sent in one PATCH (the official client uses 10 MiB too).
pub const TUS_CHUNK: u64 = 10 * 1024 * 1024;
/// Files up to this size are sent in multipart groups; larger ones go by TUS.
pub const GROUP_LIMIT: u64 = 8 * 1024 * 1024;

fn empty(name: &str) -> (String, String) {
    (name.to_string(), String::new())
}

impl Client {
    /// Uploads `file` by TUS to `endpoint` (e.g. `/api/tasks/4/annotations/`), returning the file name the
    /// server assigned (`Upload-Filename`, which must be passed to `Upload-Finish`).
    pub fn tus_upload(
        &self,
        endpoint: &str,
        file: &Path,
        filename: &str,
        reporter: &dyn Reporter,
    ) -> Result<String> {
        let disp = file.display().to_string();
        let len = std::fs::metadata(file)
            .map_err(|e| ClientError::io(&disp, e))?
            .len();
        let b64 = base64::engine::general_purpose::STANDARD;
        let meta = format!(
            "filename {},filetype {}",
            b64.encode(filename),
            b64.encode("application/octet-stream")
        );
        let headers = vec![
            ("Tus-Resumable".to_string(), "1.0.0".to_string()),
            ("Upload-Length".to_string(), len.to_string()),
            ("Upload-Metadata".to_string(), meta),
            // the server builds Location from Origin and answers 500 without it
            ("Origin".to_string(), self.origin()),
        ];
        let resp = self.call(Method::POST, endpoint, &headers, Body::None)?;
        let location = header(&resp, "location").ok_or_else(|| ClientError::Protocol {
            path: endpoint.into(),
            message: "TUS creation answered without a Location".into(),
        })?;
        let upload_name = header(&resp, "upload-filename").unwrap_or_else(|| filename.to_string());
        let url = self.url(&location)?;
        let bar = reporter.start(&format!("uploading {filename}"), Some(len));
        let mut f = std::fs::File::open(file).map_err(|e| ClientError::io(&disp, e))?;
        let mut offset = 0u64;
        let mut failures = 0u32;
        let mut buf = Vec::with_capacity(TUS_CHUNK.min(len.max(1)) as usize);
        while offset < len {
            let n = TUS_CHUNK.min(len - offset);
            buf.clear();
            f.seek(SeekFrom::Start(offset))
                .map_err(|e| ClientError::io(&disp, e))?;
            (&mut f)
                .take(n)
                .read_to_end(&mut buf)
                .map_err(|e| ClientError::io(&disp, e))?;
            if buf.len() as u64 != n {
                return Err(ClientError::io(
                    &disp,
                    std::io::Error::other("file changed while uploading"),
                ));
            }
            let h = vec![
                ("Tus-Resumable".to_string(), "1.0.0".to_string()),
                ("Upload-Offset".to_string(), offset.to_string()),
                (
                    "Content-Type".to_string(),
                    "application/offset+octet-stream".to_string(),
                ),
            ];
            let rb = self.raw(Method::PATCH, &url, &h).body(buf.clone());
            let outcome = self.send_raw(&Method::PATCH, &url, rb);
            let ok_offset = match outcome {
                Ok(resp) if resp.status().is_success() => {
                    header(&resp, "upload-offset").and_then(|v| v.parse::<u64>().ok())
                }
                Ok(resp)
                    if !(resp.status().as_u16() == 409
                        || resp.status().is_server_error()
                        || resp.status().as_u16() == 429) =>
                {
                    check(Method::PATCH, url.path(), resp)?;
                    None
                }
                _ => None,
            };
            match ok_offset {
                Some(o) if o > offset && o <= len => {
                    reporter.advance(bar, o - offset);
                    offset = o;
                    failures = 0;
                }
                _ => {
                    failures += 1;
                    if failures > self.retries() {
                        reporter.finish(bar);
                        return Err(ClientError::Transport {
                            method: "PATCH".into(),
                            url: url.path().to_string(),
                            message: format!("upload of {disp} failed at byte {offset} of {len}"),
                            hint: Some(
                                "the server or network keeps failing; try again later".into(),
                            ),
                        });
                    }
                    std::thread::sleep(self.backoff() * 2u32.saturating_pow(failures - 1).min(32));
                    // ask the server where it is and resume from there
                    if let Ok(resp) = self.send(
                        Method::HEAD,
                        url.as_str(),
                        &[("Tus-Resumable".into(), "1.0.0".into())],
                        Body::None,
                    ) {
                        if let Some(o) =
                            header(&resp, "upload-offset").and_then(|v| v.parse::<u64>().ok())
                        {
                            if o <= len && o != offset {
                                if o > offset {
                                    reporter.advance(bar, o - offset);
                                }
                                offset = o;
                            }
                        }
                    }
                }
            }
        }
        reporter.finish(bar);
        Ok(upload_name)
    }

    /// Uploads a single file with the TUS flow framed by `Upload-Start` / `Upload-Finish`, as annotation
    /// and backup imports do. `query` carries e.g. `format=...`; `filename` is added. Returns the rq_id.
    pub fn upload_with_finish(
        &self,
        endpoint: &str,
        query: &[(&str, &str)],
        file: &Path,
        reporter: &dyn Reporter,
    ) -> Result<String> {
        let filename = file
            .file_name()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| "upload".into());
        let q = |name: &str| {
            let mut s = url::form_urlencoded::Serializer::new(String::new());
            for (k, v) in query {
                s.append_pair(k, v);
            }
            s.append_pair("filename", name);
            format!("{endpoint}?{}", s.finish())
        };
        self.call(
            Method::POST,
            &q(&filename),
            &[empty("Upload-Start")],
            Body::None,
        )?;
        let server_name = self.tus_upload(endpoint, file, &filename, reporter)?;
        let resp = self.call(
            Method::POST,
            &q(&server_name),
            &[empty("Upload-Finish")],
            Body::None,
        )?;
        super::requests::rq_id_of(endpoint, resp)
    }

    /// Sends local files as task data: `Upload-Start`, groups of small files by multipart
    /// (`Upload-Multiple`) and large files by TUS, `jobs` at a time, then `Upload-Finish` with `params`.
    /// Returns the rq_id of the data processing request.
    pub fn upload_task_data(
        &self,
        task_id: i64,
        files: &[PathBuf],
        params: serde_json::Value,
        jobs: usize,
        reporter: &dyn Reporter,
    ) -> Result<String> {
        let endpoint = format!("/api/tasks/{task_id}/data/");
        let mut sizes = Vec::with_capacity(files.len());
        for f in files {
            let m =
                std::fs::metadata(f).map_err(|e| ClientError::io(f.display().to_string(), e))?;
            if !m.is_file() {
                return Err(ClientError::usage(
                    format!("{} is not a file", f.display()),
                    None,
                ));
            }
            sizes.push(m.len());
        }
        let total: u64 = sizes.iter().sum();
        self.call(
            Method::POST,
            &endpoint,
            &[empty("Upload-Start")],
            Body::None,
        )?;

        // plan: groups of small files, and single large files
        enum Unit {
            Group(Vec<usize>),
            Large(usize),
        }
        let mut units = Vec::new();
        let mut group = Vec::new();
        let mut group_size = 0;
        for (i, &s) in sizes.iter().enumerate() {
            if s > GROUP_LIMIT {
                units.push(Unit::Large(i));
                continue;
            }
            if group_size + s > GROUP_LIMIT && !group.is_empty() {
                units.push(Unit::Group(std::mem::take(&mut group)));
                group_size = 0;
            }
            group.push(i);
            group_size += s;
        }
        if !group.is_empty() {
            units.push(Unit::Group(group));
        }

        let bar = reporter.start(&format!("uploading {} files", files.len()), Some(total));
        let next = AtomicUsize::new(0);
        let first_error: Mutex<Option<ClientError>> = Mutex::new(None);
        let jobs = jobs.clamp(1, 64).min(units.len().max(1));
        std::thread::scope(|scope| {
            for _ in 0..jobs {
                scope.spawn(|| loop {
                    if first_error.lock().map(|e| e.is_some()).unwrap_or(true) {
                        return;
                    }
                    let i = next.fetch_add(1, Ordering::SeqCst);
                    let Some(unit) = units.get(i) else { return };
                    let res = match unit {
                        Unit::Group(idx) => self
                            .send_group(&endpoint, files, idx)
                            .map(|_| idx.iter().map(|&k| sizes[k]).sum()),
                        Unit::Large(k) => {
                            let name = files[*k]
                                .file_name()
                                .map(|s| s.to_string_lossy().into_owned())
                                .unwrap_or_default();
                            self.tus_upload(&endpoint, &files[*k], &name, &crate::progress::Silent)
                                .map(|_| sizes[*k])
                        }
                    };
                    match res {
                        Ok(n) => reporter.advance(bar, n),
                        Err(e) => {
                            if let Ok(mut slot) = first_error.lock() {
                                slot.get_or_insert(e);
                            }
                            return;
                        }
                    }
                });
            }
        });
        reporter.finish(bar);
        if let Some(e) = first_error.into_inner().ok().flatten() {
            return Err(e);
        }
        let mut params = params;
        if let Some(o) = params.as_object_mut() {
            let order: Vec<String> = files
                .iter()
                .map(|f| {
                    f.file_name()
                        .map(|s| s.to_string_lossy().into_owned())
                        .unwrap_or_default()
                })
                .collect();
            o.entry("upload_file_order")
                .or_insert(serde_json::json!(order));
        }
        let resp = self.call(
            Method::POST,
            &endpoint,
            &[empty("Upload-Finish")],
            Body::Json(params),
        )?;
        super::requests::rq_id_of(&endpoint, resp)
    }

    fn send_group(&self, endpoint: &str, files: &[PathBuf], idx: &[usize]) -> Result<()> {
        let url = self.url(endpoint)?;
        let mut attempt = 0;
        loop {
            let mut form = reqwest::blocking::multipart::Form::new();
            for (n, &k) in idx.iter().enumerate() {
                let path = &files[k];
                let part = reqwest::blocking::multipart::Part::file(path)
                    .map_err(|e| ClientError::io(path.display().to_string(), e))?
                    .file_name(
                        path.file_name()
                            .map(|s| s.to_string_lossy().into_owned())
                            .unwrap_or_default(),
                    );
                form = form.part(format!("client_files[{n}]"), part);
            }
            let rb = self
                .raw(Method::POST, &url, &[empty("Upload-Multiple")])
                .multipart(form);
            match self.send_raw(&Method::POST, &url, rb) {
                Ok(resp) if resp.status().is_success() => return Ok(()),
                Ok(resp) if !(resp.status().is_server_error() || resp.status().as_u16() == 429) => {
                    check(Method::POST, endpoint, resp)?;
                    return Ok(());
                }
                Ok(resp) if attempt >= self.retries() => {
                    check(Method::POST, endpoint, resp)?;
                    return Ok(());
                }
                Err(e) if attempt >= self.retries() => return Err(e),
                _ => {
                    attempt += 1;
                    std::thread::sleep(self.backoff() * 2u32.saturating_pow(attempt - 1).min(32));
                }
            }
        }
    }
}
