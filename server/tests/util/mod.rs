//! Test helpers: a server on a free port with a temporary data directory, a small HTTP client, and an
//! OpenAPI response validator built from the real server's schema.

#![allow(dead_code)]

use serde_json::{json, Value};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

pub const ADMIN_PW: &str = "test-admin-pw";

pub fn shared(rel: &str) -> PathBuf {
    let p = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared")).join(rel);
    assert!(
        p.exists(),
        "{} is missing: the tests need the shared/ reference data beside the checkout",
        p.display()
    );
    p
}

pub struct TestServer {
    pub server: Option<cvat_server::RunningServer>,
    pub dir: tempfile::TempDir,
    pub base: String,
}

impl TestServer {
    pub fn start() -> TestServer {
        let dir = tempfile::tempdir().expect("temp dir");
        Self::start_in(dir, None)
    }
    pub fn start_in(dir: tempfile::TempDir, share: Option<PathBuf>) -> TestServer {
        let mut cfg = cvat_server::Config::new("127.0.0.1:0", dir.path().join("data"));
        cfg.admin_password = Some(ADMIN_PW.to_string());
        cfg.share_dir = share;
        let registry = cvat_formats::builtin_registry().expect("registry");
        let server = cvat_server::start(cfg, registry).expect("server starts");
        let base = server.url();
        TestServer {
            server: Some(server),
            dir,
            base,
        }
    }
    pub fn port(&self) -> u16 {
        self.server.as_ref().map(|s| s.addr.port()).unwrap_or(0)
    }
}

#[derive(Debug, Clone)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "response is not JSON ({e}): {}",
                String::from_utf8_lossy(&self.body)
            )
        })
    }
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
    pub fn all(&self, name: &str) -> Vec<&str> {
        self.headers
            .iter()
            .filter(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
            .collect()
    }
}

pub fn agent() -> ureq::Agent {
    ureq::AgentBuilder::new()
        .redirects(0)
        .timeout(Duration::from_secs(60))
        .build()
}

/// Sends a request and returns the response whatever its status.
pub fn send(
    method: &str,
    url: &str,
    headers: &[(String, String)],
    body: Option<&[u8]>,
) -> Response {
    let mut req = agent().request(method, url);
    for (k, v) in headers {
        req = req.set(k, v);
    }
    let r = match body {
        Some(b) => req.send_bytes(b),
        None => req.call(),
    };
    let resp = match r {
        Ok(r) => r,
        Err(ureq::Error::Status(_, r)) => r,
        Err(e) => panic!("{method} {url}: {e}"),
    };
    let status = resp.status();
    let headers = resp
        .headers_names()
        .into_iter()
        .flat_map(|n| {
            resp.all(&n)
                .into_iter()
                .map(|v| (n.clone(), v.to_string()))
                .collect::<Vec<_>>()
        })
        .collect();
    let mut body = Vec::new();
    use std::io::Read;
    let _ = resp.into_reader().read_to_end(&mut body);
    Response {
        status,
        headers,
        body,
    }
}

/// An authenticated client (Token from `/api/auth/login`).
pub struct Client {
    pub base: String,
    pub token: String,
}

impl Client {
    pub fn login(base: &str, user: &str, pw: &str) -> Client {
        let r = send(
            "POST",
            &format!("{base}/api/auth/login"),
            &[("Content-Type".into(), "application/json".into())],
            Some(
                json!({"username": user, "password": pw})
                    .to_string()
                    .as_bytes(),
            ),
        );
        assert_eq!(r.status, 200, "login: {}", String::from_utf8_lossy(&r.body));
        Client {
            base: base.to_string(),
            token: r.json()["key"].as_str().expect("key").to_string(),
        }
    }
    pub fn auth(&self) -> Vec<(String, String)> {
        vec![("Authorization".into(), format!("Token {}", self.token))]
    }
    pub fn get(&self, path: &str) -> Response {
        send("GET", &format!("{}{path}", self.base), &self.auth(), None)
    }
    pub fn delete(&self, path: &str) -> Response {
        send(
            "DELETE",
            &format!("{}{path}", self.base),
            &self.auth(),
            None,
        )
    }
    pub fn json(&self, method: &str, path: &str, body: &Value) -> Response {
        let mut h = self.auth();
        h.push(("Content-Type".into(), "application/json".into()));
        send(
            method,
            &format!("{}{path}", self.base),
            &h,
            Some(body.to_string().as_bytes()),
        )
    }
    pub fn post_empty(&self, path: &str) -> Response {
        send(
            "POST",
            &format!("{}{path}", self.base),
            &self.auth(),
            Some(b""),
        )
    }
    pub fn multipart(&self, method: &str, path: &str, parts: &[Part]) -> Response {
        let (ct, body) = multipart_body(parts);
        let mut h = self.auth();
        h.push(("Content-Type".into(), ct));
        send(method, &format!("{}{path}", self.base), &h, Some(&body))
    }
    /// Polls a request until it is finished or failed.
    pub fn wait(&self, rq_id: &str) -> Value {
        let enc = rq_id.replace(':', "%3A").replace('@', "%40");
        let start = Instant::now();
        loop {
            let r = self.get(&format!("/api/requests/{enc}"));
            assert_eq!(
                r.status,
                200,
                "request {rq_id}: {}",
                String::from_utf8_lossy(&r.body)
            );
            let v = r.json();
            if v["status"] == "finished" || v["status"] == "failed" {
                return v;
            }
            assert!(
                start.elapsed() < Duration::from_secs(120),
                "request {rq_id} did not finish: {v}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    /// Creates a task with `labels` and uploads `files` (name, bytes) by multipart; waits for it.
    pub fn create_task(&self, name: &str, labels: Value, files: &[(String, Vec<u8>)]) -> i64 {
        let r = self.json(
            "POST",
            "/api/tasks",
            &json!({"name": name, "labels": labels}),
        );
        assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
        let id = r.json()["id"].as_i64().expect("id");
        let mut parts = vec![Part::field("image_quality", "70")];
        for (i, (n, b)) in files.iter().enumerate() {
            parts.push(Part::file(&format!("client_files[{i}]"), n, b.clone()));
        }
        let r = self.multipart("POST", &format!("/api/tasks/{id}/data"), &parts);
        assert_eq!(r.status, 202, "{}", String::from_utf8_lossy(&r.body));
        let rq = r.json()["rq_id"].as_str().expect("rq_id").to_string();
        let v = self.wait(&rq);
        assert_eq!(v["status"], "finished", "{v}");
        id
    }
}

pub struct Part {
    pub name: String,
    pub filename: Option<String>,
    pub data: Vec<u8>,
}

impl Part {
    pub fn field(name: &str, v: &str) -> Part {
        Part {
            name: name.into(),
            filename: None,
            data: v.as_bytes().to_vec(),
        }
    }
    pub fn file(name: &str, filename: &str, data: Vec<u8>) -> Part {
        Part {
            name: name.into(),
            filename: Some(filename.into()),
            data,
        }
    }
}

pub fn multipart_body(parts: &[Part]) -> (String, Vec<u8>) {
    let boundary = "cvatservertestboundary7d1f";
    let mut b = Vec::new();
    for p in parts {
        b.extend_from_slice(format!("--{boundary}\r\n").as_bytes());
        match &p.filename {
            Some(f) => b.extend_from_slice(
                format!(
                    "Content-Disposition: form-data; name=\"{}\"; filename=\"{f}\"\r\nContent-Type: application/octet-stream\r\n\r\n",
                    p.name
                )
                .as_bytes(),
            ),
            None => b.extend_from_slice(
                format!("Content-Disposition: form-data; name=\"{}\"\r\n\r\n", p.name).as_bytes(),
            ),
        }
        b.extend_from_slice(&p.data);
        b.extend_from_slice(b"\r\n");
    }
    b.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), b)
}

/// rich-A's six images as (name, bytes), in name order.
pub fn rich_images() -> Vec<(String, Vec<u8>)> {
    let dir = shared("cvat/exports/rich-A/images");
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .expect("images dir")
        .filter_map(Result::ok)
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
        .into_iter()
        .map(|n| {
            let b = std::fs::read(dir.join(&n)).expect("image");
            (n, b)
        })
        .collect()
}

pub fn unzip(bytes: &[u8]) -> std::collections::BTreeMap<String, Vec<u8>> {
    let mut z = zip::ZipArchive::new(std::io::Cursor::new(bytes)).expect("a zip");
    let mut out = std::collections::BTreeMap::new();
    for i in 0..z.len() {
        let mut f = z.by_index(i).expect("entry");
        if f.is_dir() {
            continue;
        }
        let mut b = Vec::new();
        use std::io::Read;
        f.read_to_end(&mut b).expect("read entry");
        out.insert(f.name().to_string(), b);
    }
    out
}

// ---------------------------------------------------------------------------------------------------
// OpenAPI validation

/// Validates responses against the OpenAPI 3.0 schema of the real server.
pub struct OpenApi {
    doc: Value,
    /// (path template segments, template string)
    paths: Vec<(Vec<String>, String)>,
    cache: HashMap<String, Option<jsonschema::Validator>>,
}

/// OpenAPI 3.0 `nullable: true` -> JSON Schema `anyOf [.., null]`, recursively.
fn convert(v: &Value) -> Value {
    match v {
        Value::Object(m) => {
            let mut out = serde_json::Map::new();
            let mut nullable = false;
            for (k, x) in m {
                if k == "nullable" {
                    nullable = x.as_bool() == Some(true);
                    continue;
                }
                if k == "discriminator" || k == "example" || k == "readOnly" || k == "writeOnly" {
                    continue;
                }
                out.insert(k.clone(), convert(x));
            }
            if nullable {
                if let Some(Value::Array(e)) = out.get_mut("enum") {
                    if !e.contains(&Value::Null) {
                        e.push(Value::Null);
                    }
                }
                json!({"anyOf": [Value::Object(out), {"type": "null"}]})
            } else {
                Value::Object(out)
            }
        }
        Value::Array(a) => Value::Array(a.iter().map(convert).collect()),
        other => other.clone(),
    }
}

impl OpenApi {
    pub fn load() -> OpenApi {
        let text = std::fs::read_to_string(shared("cvat/schema-2.23.1.yml")).expect("schema");
        let doc: Value = serde_yaml::from_str(&text).expect("schema is YAML");
        let paths = doc["paths"]
            .as_object()
            .expect("paths")
            .keys()
            .map(|k| {
                (
                    k.split('/')
                        .filter(|s| !s.is_empty())
                        .map(str::to_string)
                        .collect(),
                    k.clone(),
                )
            })
            .collect();
        OpenApi {
            doc,
            paths,
            cache: HashMap::new(),
        }
    }

    /// The schema path template for a concrete path (literal segments preferred).
    pub fn template(&self, path: &str) -> Option<String> {
        let segs: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
        let mut best: Option<(usize, &String)> = None;
        for (t, name) in &self.paths {
            if t.len() != segs.len() {
                continue;
            }
            let mut literal = 0;
            let ok = t.iter().zip(&segs).all(|(a, b)| {
                if a.starts_with('{') {
                    true
                } else {
                    literal += 1;
                    a == b
                }
            });
            if ok && best.is_none_or(|(l, _)| literal > l) {
                best = Some((literal, name));
            }
        }
        best.map(|(_, n)| n.clone())
    }

    /// Validates a JSON response. `Err` lists the problems; `Ok(false)` when the schema documents no
    /// JSON body for this status.
    pub fn validate(
        &mut self,
        method: &str,
        path: &str,
        status: u16,
        body: &Value,
    ) -> Result<bool, String> {
        // TUS chunk URLs (`.../annotations/<uuid>`) are not in the schema
        let Some(t) = self.template(path) else {
            return Ok(false);
        };
        let op = &self.doc["paths"][&t][method.to_ascii_lowercase()];
        if op.is_null() {
            return Err(format!("{method} {t}: no such operation in the schema"));
        }
        let key = format!("{method} {t} {status}");
        if !self.cache.contains_key(&key) {
            let resp = &op["responses"][status.to_string()];
            let schema = resp["content"]
                .as_object()
                .and_then(|c| c.values().find(|v| !v["schema"].is_null()))
                .map(|v| v["schema"].clone());
            let validator = match schema {
                Some(s) => {
                    let root = json!({
                        "allOf": [convert(&s)],
                        "components": convert(&self.doc["components"]),
                    });
                    Some(
                        jsonschema::options()
                            .with_draft(jsonschema::Draft::Draft7)
                            .build(&root)
                            .map_err(|e| format!("{key}: schema does not compile: {e}"))?,
                    )
                }
                None => None,
            };
            self.cache.insert(key.clone(), validator);
        }
        match self.cache.get(&key).and_then(Option::as_ref) {
            None => Ok(false),
            Some(v) => {
                let errors: Vec<String> = v
                    .iter_errors(body)
                    .take(5)
                    .map(|e| format!("{} at {}", e, e.instance_path))
                    .collect();
                if errors.is_empty() {
                    Ok(true)
                } else {
                    Err(format!("{key}: {}", errors.join("; ")))
                }
            }
        }
    }
}

/// The official cvat-cli of a venv; fails with a message when it is not installed.
pub fn official_cli(env: &str, venv: &str) -> PathBuf {
    if let Some(p) = std::env::var_os(env) {
        let p = PathBuf::from(p);
        assert!(p.exists(), "{env}={} does not exist", p.display());
        return p;
    }
    let p = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
        .join(venv)
        .join("bin/cvat-cli");
    assert!(
        p.exists(),
        "the official cvat-cli is not installed at {} (and {env} is not set): run .ci/run's setup (it creates the venvs from PyPI)",
        p.display()
    );
    p
}

pub fn write(path: &Path, bytes: &[u8]) {
    if let Some(d) = path.parent() {
        std::fs::create_dir_all(d).expect("mkdir");
    }
    std::fs::write(path, bytes).expect("write");
}
