//! Background requests: `/api/requests/{rq_id}` polling until `finished` or `failed`, and downloads of
//! their results (streamed, atomic, resumable by retry).

use super::error::ClientError;
use super::transport::{check, Body, Client, Result};
use crate::progress::Reporter;
use reqwest::Method;
use serde::Deserialize;
use std::io::Write;
use std::path::Path;
use std::time::{Duration, Instant};

/// What a finished request left behind.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct RequestInfo {
    #[serde(default)]
    pub id: String,
    #[serde(default)]
    pub status: String,
    #[serde(default)]
    pub message: Option<String>,
    #[serde(default)]
    pub progress: Option<f64>,
    #[serde(default)]
    pub result_url: Option<String>,
    #[serde(default)]
    pub result_id: Option<i64>,
}

/// `rq_id` as a path segment: CVAT's ids contain `:` and `@`, which must be percent-encoded.
pub fn encode_rq_id(rq_id: &str) -> String {
    const RQ: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
        .remove(b'-')
        .remove(b'_')
        .remove(b'.')
        .remove(b'~');
    percent_encoding::utf8_percent_encode(rq_id, RQ).to_string()
}

#[derive(Deserialize)]
struct RqId {
    rq_id: String,
}

/// Reads `{"rq_id": ...}` from a 202 answer.
pub fn rq_id_of(path: &str, resp: reqwest::blocking::Response) -> Result<String> {
    let v: RqId = super::transport::read_json(path, resp)?;
    Ok(v.rq_id)
}

impl Client {
    /// Polls a request until it ends. `period` is the longest pause between polls (pauses start at 50 ms
    /// and grow with the time waited up to it). A 404 is tolerated for a while: the server may not have queued the job yet.
    pub fn wait_request(
        &self,
        rq_id: &str,
        what: &str,
        period: Duration,
        reporter: &dyn Reporter,
    ) -> Result<RequestInfo> {
        let path = format!("/api/requests/{}", encode_rq_id(rq_id));
        let bar = reporter.start(what, Some(100));
        let started = Instant::now();
        let mut last_status = String::new();
        let outcome = loop {
            let resp = self.send(Method::GET, &path, &[], Body::None)?;
            // the pause grows with the time waited (about a tenth of it), from 50 ms up to `period`: short
            // jobs are seen finished at once, long ones cost few polls
            let delay =
                (started.elapsed() / 10).clamp(Duration::from_millis(50).min(period), period);
            if resp.status().as_u16() == 404 && started.elapsed() < Duration::from_secs(60) {
                std::thread::sleep(delay);
                continue;
            }
            let resp = check(Method::GET, &path, resp)?;
            let info: RequestInfo = super::transport::read_json(&path, resp)?;
            if info.status != last_status {
                reporter.message(bar, &format!("{what}: {}", info.status));
                last_status = info.status.clone();
            }
            if let Some(p) = info.progress {
                reporter.set(bar, (p * 100.0).clamp(0.0, 100.0) as u64);
            }
            match info.status.as_str() {
                "finished" => break Ok(info),
                "failed" => {
                    break Err(ClientError::RequestFailed {
                        rq_id: rq_id.to_string(),
                        message: info.message.unwrap_or_default().trim().to_string(),
                    })
                }
                _ => std::thread::sleep(delay),
            }
        };
        reporter.finish(bar);
        outcome
    }

    /// Downloads `url` (an API path or the server's absolute URL) into `dest`, atomically: the bytes go
    /// to a temporary file beside it that is renamed when complete; on failure nothing is left. Retries
    /// transient failures from the start. Returns the number of bytes and the response content type.
    pub fn download(
        &self,
        url: &str,
        dest: &Path,
        what: &str,
        reporter: &dyn Reporter,
    ) -> Result<(u64, Option<String>)> {
        let disp = dest.display().to_string();
        let parent = match dest.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => std::path::PathBuf::from("."),
        };
        let name = dest
            .file_name()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| "download".into());
        let mut attempt = 0;
        loop {
            let resp = self.call(Method::GET, url, &[], Body::None)?;
            let total = resp.content_length();
            let ctype = super::transport::header(&resp, "content-type");
            let tmp = parent.join(format!(".{name}.part-{}", std::process::id()));
            let guard = TempGuard(tmp.clone());
            let file = std::fs::File::create(&tmp).map_err(|e| ClientError::io(&disp, e))?;
            let mut w = ProgressWriter {
                inner: std::io::BufWriter::with_capacity(256 * 1024, file),
                reporter,
                bar: reporter.start(what, total),
                written: 0,
            };
            let mut resp = resp;
            let copied = resp.copy_to(&mut w);
            reporter.finish(w.bar);
            let written = w.written;
            let complete = match (&copied, total) {
                (Ok(_), Some(t)) => written == t,
                (Ok(_), None) => true,
                _ => false,
            };
            if !complete {
                drop(w);
                drop(guard);
                attempt += 1;
                if attempt > self.retries() {
                    let why = match copied {
                        Err(e) => e.to_string(),
                        Ok(_) => format!(
                            "connection closed after {written} of {} bytes",
                            total.unwrap_or(0)
                        ),
                    };
                    return Err(ClientError::Transport {
                        method: "GET".into(),
                        url: url.to_string(),
                        message: why,
                        hint: None,
                    });
                }
                std::thread::sleep(self.backoff() * 2u32.saturating_pow(attempt - 1).min(32));
                continue;
            }
            let file = w
                .inner
                .into_inner()
                .map_err(|e| ClientError::io(&disp, e.into_error()))?;
            file.sync_all().map_err(|e| ClientError::io(&disp, e))?;
            drop(file);
            std::fs::rename(&tmp, dest).map_err(|e| ClientError::io(&disp, e))?;
            std::mem::forget(guard);
            return Ok((written, ctype));
        }
    }
}

/// Deletes a temporary file unless forgotten.
struct TempGuard(std::path::PathBuf);
impl Drop for TempGuard {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

struct ProgressWriter<'a, W: Write> {
    inner: W,
    reporter: &'a dyn Reporter,
    bar: usize,
    written: u64,
}

impl<W: Write> Write for ProgressWriter<'_, W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.written += n as u64;
        self.reporter.advance(self.bar, n as u64);
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rq_ids_are_percent_encoded() {
        assert_eq!(encode_rq_id("create:task-4"), "create%3Atask-4");
        assert!(encode_rq_id("export:task-4-annotations-in-COCO_1@0-format-by-1").contains("%40"));
    }
}
