//! Integration tests of the local server: transcript replay with OpenAPI validation, the official
//! cvat-cli 2.23.1 and 2.80 end to end, rich-A exports against the real server's, backups, access
//! control, concurrency and restart after a kill.

mod util;

use serde_json::{json, Value};
use std::collections::HashMap;
use std::path::PathBuf;
use util::*;

// ---------------------------------------------------------------------------------------------------
// (a) replay of the recorded transcripts, every JSON response validated against the OpenAPI schema

/// Recorded exchanges where our server answers differently on purpose.
const DELIBERATE: &[(&str, u64, &str)] = &[(
    "rest_tus_without_origin_500.jsonl",
    2,
    "TUS creation without Origin: the real server fails with 500; ours builds Location from Host (201)",
)];

const ORDER: &[&str] = &[
    "rest_server_info.jsonl",
    "auth_token_login.jsonl",
    "auth_session_csrf.jsonl",
    "auth_basic_and_401.jsonl",
    "err_wrong_password.jsonl",
    "err_invalid_labels_schema.jsonl",
    "rest_invalid_labels.jsonl",
    "rest_create_project.jsonl",
    "create_local.jsonl",
    "create_with_annotations.jsonl",
    "create_in_project.jsonl",
    "ls.jsonl",
    "ls_json.jsonl",
    "frames_compressed.jsonl",
    "frames_original.jsonl",
    "dump_cvat_images.jsonl",
    "dump_cvat_images_with_images.jsonl",
    "dump_coco.jsonl",
    "dump_yolo.jsonl",
    "upload_cvat_xml.jsonl",
    "upload_coco.jsonl",
    "upload_yolo.jsonl",
    "export_backup.jsonl",
    "import_backup.jsonl",
];

struct Replay {
    base: String,
    token: String,
    cookies: String,
    csrf: String,
    tasks: HashMap<i64, i64>,
    projects: HashMap<i64, i64>,
    jobs: HashMap<i64, i64>,
    rq: HashMap<String, String>,
    uuids: HashMap<String, String>,
    filenames: HashMap<String, String>,
    downloads: HashMap<String, Vec<u8>>,
    pending: Vec<u8>,
    pending_recorded_len: usize,
}

/// The recorded client files img_a..img_d (320x240 .. 1024x768) get rich-A images of the same sizes.
fn recorded_image(name: &str) -> Vec<u8> {
    let base = name.rsplit('/').next().unwrap_or(name);
    let rich = match base {
        "img_a.jpg" => "frame_03_320x240.jpg",
        "img_b.jpg" => "frame_00_640x480.jpg",
        "img_c.jpg" => "frame_01_800x600.jpg",
        _ => "frame_02_1024x768.jpg",
    };
    std::fs::read(shared("cvat/exports/rich-A/images").join(rich)).expect("image")
}

fn fixture_labels() -> Value {
    json!([
        {"name": "car", "color": "#ff0000", "attributes": [
            {"name": "color", "mutable": false, "input_type": "select", "values": ["red", "green", "blue"], "default_value": "red"},
            {"name": "parked", "mutable": true, "input_type": "checkbox", "values": ["false"], "default_value": "false"}]},
        {"name": "person", "attributes": []}
    ])
}

fn fixture_files() -> Vec<(String, Vec<u8>)> {
    ["img_a.jpg", "img_b.jpg", "img_c.jpg", "img_d.jpg"]
        .iter()
        .map(|n| (n.to_string(), recorded_image(n)))
        .collect()
}

/// A CVAT 1.1 annotation file for the fixture labels and frames, padded to `len` bytes.
fn cvat_xml(len: usize) -> Vec<u8> {
    let mut s = String::from(
        r#"<?xml version="1.0" encoding="utf-8"?>
<annotations><version>1.1</version>
<image id="0" name="img_a.jpg" width="320" height="240">
<box label="car" occluded="0" source="manual" xtl="10.00" ytl="20.00" xbr="110.50" ybr="90.25" z_order="0"><attribute name="color">blue</attribute><attribute name="parked">true</attribute></box>
</image>
<image id="2" name="img_c.jpg" width="800" height="600">
<polygon label="car" occluded="0" source="manual" points="10.00,10.00;200.00,15.00;150.00,160.00" z_order="0"><attribute name="color">green</attribute><attribute name="parked">false</attribute></polygon>
<box label="person" occluded="1" source="manual" xtl="100.00" ytl="100.00" xbr="200.00" ybr="300.00" z_order="1"></box>
</image>
</annotations>
"#,
    );
    while s.len() < len {
        s.push(' ');
    }
    s.into_bytes()
}

impl Replay {
    fn client(&self) -> Client {
        Client {
            base: self.base.clone(),
            token: self.token.clone(),
        }
    }
    fn task(&mut self, rec: i64) -> i64 {
        if let Some(t) = self.tasks.get(&rec) {
            return *t;
        }
        if rec >= 90000 {
            return rec; // deliberately missing ids stay missing
        }
        let id = self.client().create_task(
            &format!("fixture-{rec}"),
            fixture_labels(),
            &fixture_files(),
        );
        self.tasks.insert(rec, id);
        id
    }
    fn project(&mut self, rec: i64) -> i64 {
        if let Some(p) = self.projects.get(&rec) {
            return *p;
        }
        let r = self.client().json(
            "POST",
            "/api/projects",
            &json!({"name": format!("fixture-project-{rec}"), "labels": fixture_labels()}),
        );
        assert_eq!(r.status, 201);
        let id = r.json()["id"].as_i64().expect("id");
        self.projects.insert(rec, id);
        id
    }
    fn map_rq(&mut self, rec: &str) -> String {
        if let Some(x) = self.rq.get(rec) {
            return x.clone();
        }
        // export:task-4-... / create:task-4 / import:task-4-annotations
        let mut out = String::new();
        let mut rest = rec;
        while let Some(i) = rest.find("task-") {
            out.push_str(&rest[..i + 5]);
            rest = &rest[i + 5..];
            let digits: String = rest.chars().take_while(|c| c.is_ascii_digit()).collect();
            if !digits.is_empty() {
                let n: i64 = digits.parse().unwrap_or(0);
                out.push_str(&self.task(n).to_string());
                rest = &rest[digits.len()..];
            }
        }
        out.push_str(rest);
        out
    }
    fn map_path(&mut self, path: &str) -> String {
        let trailing = path.ends_with('/');
        let segs: Vec<String> = path
            .split('/')
            .filter(|s| !s.is_empty())
            .map(|s| {
                percent_encoding::percent_decode_str(s)
                    .decode_utf8_lossy()
                    .into_owned()
            })
            .collect();
        let mut out = Vec::new();
        for (i, s) in segs.iter().enumerate() {
            let prev = if i > 0 { segs[i - 1].as_str() } else { "" };
            let num = s.parse::<i64>().ok();
            let mapped = match (prev, num) {
                ("tasks", Some(n)) => self.task(n).to_string(),
                ("projects", Some(n)) => self.project(n).to_string(),
                ("jobs", Some(n)) => self.jobs.get(&n).copied().unwrap_or(n).to_string(),
                ("requests", _) => self.map_rq(s),
                _ => self.uuids.get(s).cloned().unwrap_or_else(|| s.clone()),
            };
            out.push(
                mapped
                    .replace('%', "%25")
                    .replace(':', "%3A")
                    .replace('@', "%40")
                    .replace(' ', "%20"),
            );
        }
        format!("/{}{}", out.join("/"), if trailing { "/" } else { "" })
    }
    fn map_query(&mut self, q: &Value) -> String {
        let mut pairs = Vec::new();
        if let Some(m) = q.as_object() {
            for (k, v) in m {
                let vals: Vec<String> = match v {
                    Value::Array(a) => a
                        .iter()
                        .filter_map(|x| x.as_str().map(str::to_string))
                        .collect(),
                    Value::String(s) => vec![s.clone()],
                    other => vec![other.to_string()],
                };
                for v in vals {
                    let v = match k.as_str() {
                        "task_id" => v.parse().map(|n| self.task(n).to_string()).unwrap_or(v),
                        "project_id" => v.parse().map(|n| self.project(n).to_string()).unwrap_or(v),
                        "filename" => self.filenames.get(&v).cloned().unwrap_or(v),
                        _ => v,
                    };
                    pairs.push(format!(
                        "{}={}",
                        k,
                        percent_encoding::utf8_percent_encode(
                            &v,
                            percent_encoding::NON_ALPHANUMERIC
                        )
                    ));
                }
            }
        }
        pairs.join("&")
    }
    fn synth(&self, filename: &str, recorded_len: usize) -> Vec<u8> {
        match filename {
            "bad_coco.json" => b"this is not json!!!!".to_vec(),
            "bad_coco.zip" => {
                let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
                w.start_file(
                    "annotations/instances_default.json",
                    zip::write::SimpleFileOptions::default(),
                )
                .expect("zip");
                use std::io::Write;
                w.write_all(br#"{"images": 5, "annotations": "nope"}"#)
                    .expect("zip");
                w.finish().expect("zip").into_inner()
            }
            "dump_coco.zip" => self
                .downloads
                .get("COCO 1.0")
                .cloned()
                .expect("COCO dump replayed before"),
            "dump_yolo.zip" => self
                .downloads
                .get("YOLO 1.1")
                .cloned()
                .expect("YOLO dump replayed before"),
            "backup.zip" => self
                .downloads
                .get("backup")
                .cloned()
                .expect("backup export replayed before"),
            _ => cvat_xml(recorded_len),
        }
    }
}

#[test]
fn replay_transcripts_and_validate_against_openapi() {
    let srv = TestServer::start();
    let admin = Client::login(&srv.base, "admin", ADMIN_PW);
    let mut openapi = OpenApi::load();
    let dir = shared("cvat/transcripts");
    let mut files: Vec<String> = ORDER.iter().map(|s| s.to_string()).collect();
    let mut others: Vec<String> = std::fs::read_dir(&dir)
        .expect("transcripts")
        .filter_map(Result::ok)
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".jsonl") && !files.contains(n))
        .collect();
    others.sort();
    // deletions last
    others.sort_by_key(|n| n.starts_with("delete_"));
    files.extend(others);
    let mut rp = Replay {
        base: srv.base.clone(),
        token: admin.token.clone(),
        cookies: String::new(),
        csrf: String::new(),
        tasks: HashMap::new(),
        projects: HashMap::new(),
        jobs: HashMap::new(),
        rq: HashMap::new(),
        uuids: HashMap::new(),
        filenames: HashMap::new(),
        downloads: HashMap::new(),
        pending: Vec::new(),
        pending_recorded_len: 0,
    };
    let mut mismatches = Vec::new();
    let mut invalid = Vec::new();
    let (mut exchanges, mut validated, mut deliberate, mut undocumented) = (0, 0, 0, 0);
    for f in &files {
        let text = std::fs::read_to_string(dir.join(f)).expect("transcript");
        for (ln, line) in text.lines().enumerate() {
            let rec: Value =
                serde_json::from_str(line).unwrap_or_else(|e| panic!("{f}:{}: {e}", ln + 1));
            exchanges += 1;
            let seq = rec["seq"].as_u64().unwrap_or(0);
            let method = rec["method"].as_str().unwrap_or("GET").to_string();
            let rec_status = rec["status"].as_u64().unwrap_or(0) as u16;
            let path = rp.map_path(rec["path"].as_str().unwrap_or("/"));
            let query = rp.map_query(&rec["query"]);
            let url = if query.is_empty() {
                format!("{}{path}", rp.base)
            } else {
                format!("{}{path}?{query}", rp.base)
            };
            let rec_headers: Vec<(String, String)> = rec["request_headers"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(|p| {
                            Some((p[0].as_str()?.to_string(), p[1].as_str()?.to_string()))
                        })
                        .collect()
                })
                .unwrap_or_default();
            let has = |n: &str| rec_headers.iter().any(|(k, _)| k.eq_ignore_ascii_case(n));
            let mut headers: Vec<(String, String)> = Vec::new();
            for (k, v) in &rec_headers {
                let kl = k.to_ascii_lowercase();
                if [
                    "host",
                    "content-length",
                    "authorization",
                    "cookie",
                    "x-csrftoken",
                    "accept-encoding",
                    "connection",
                    "user-agent",
                    "upload-length",
                    "origin",
                ]
                .contains(&kl.as_str())
                {
                    continue;
                }
                headers.push((k.clone(), v.clone()));
            }
            if has("origin") {
                headers.push(("Origin".into(), rp.base.clone()));
            }
            if has("authorization") {
                use base64::Engine;
                let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
                let v = match (f.as_str(), seq, rec_status) {
                    ("auth_basic_and_401.jsonl", _, 401) => {
                        format!("Basic {}", b64("admin:wrong-password"))
                    }
                    ("auth_basic_and_401.jsonl", _, _) => {
                        format!("Basic {}", b64(&format!("admin:{ADMIN_PW}")))
                    }
                    ("auth_token_login.jsonl", 4, _) => format!("Bearer {}", rp.token),
                    (_, _, 401) => "Token 0000000000000000000000000000000000000000".to_string(),
                    _ => format!("Token {}", rp.token),
                };
                headers.push(("Authorization".into(), v));
            }
            if has("cookie") && !rp.cookies.is_empty() {
                headers.push(("Cookie".into(), rp.cookies.clone()));
            }
            if has("x-csrftoken") {
                headers.push(("X-CSRFToken".into(), rp.csrf.clone()));
            }
            // body
            let rb = &rec["request_body"];
            let mut body: Option<Vec<u8>> = None;
            if let Some(j) = rb.get("json") {
                let mut j = j.clone();
                if let Some(p) = j.get("project_id").and_then(Value::as_i64) {
                    j["project_id"] = json!(rp.project(p));
                }
                if j.get("password").is_some() {
                    j["password"] = json!(if rec_status == 400 {
                        "wrong-password"
                    } else {
                        ADMIN_PW
                    });
                }
                body = Some(j.to_string().into_bytes());
            } else if let Some(parts) = rb.get("multipart").and_then(Value::as_array) {
                let mut ps = Vec::new();
                for p in parts {
                    let name = p["name"].as_str().unwrap_or("");
                    match p["filename"].as_str() {
                        Some(fname) if name.starts_with("client_files") => {
                            ps.push(Part::file(name, fname, recorded_image(fname)))
                        }
                        Some(fname) => ps.push(Part::file(
                            name,
                            fname,
                            cvat_xml(p["size"].as_u64().unwrap_or(0) as usize),
                        )),
                        None => ps.push(Part::field(name, p["value"].as_str().unwrap_or(""))),
                    }
                }
                let (ct, b) = multipart_body(&ps);
                headers.retain(|(k, _)| !k.eq_ignore_ascii_case("content-type"));
                headers.push(("Content-Type".into(), ct));
                body = Some(b);
            } else if rb.get("content_type").is_some() && method == "PATCH" {
                let size = rb["size"].as_u64().unwrap_or(0) as usize;
                let offset: usize = rec_headers
                    .iter()
                    .find(|(k, _)| k.eq_ignore_ascii_case("upload-offset"))
                    .and_then(|(_, v)| v.parse().ok())
                    .unwrap_or(0);
                let chunk = if rp.pending.len() == rp.pending_recorded_len {
                    rp.pending
                        .get(offset..(offset + size).min(rp.pending.len()))
                        .unwrap_or(&[])
                        .to_vec()
                } else {
                    rp.pending.get(offset..).unwrap_or(&[]).to_vec()
                };
                body = Some(chunk);
            } else if rb["content_type"]
                .as_str()
                .is_some_and(|c| c.contains("json"))
            {
                // recorded as unparsable JSON: send some
                body = Some(br#"{"name": "bad1", "labels": ["#.to_vec());
            } else if rb.get("form").is_some() {
                panic!("{f}:{seq}: form bodies are not replayed");
            }
            if has("upload-length") {
                let md = rec_headers
                    .iter()
                    .find(|(k, _)| k.eq_ignore_ascii_case("upload-metadata"))
                    .map(|(_, v)| v.clone())
                    .unwrap_or_default();
                use base64::Engine;
                let fname = md
                    .split_whitespace()
                    .nth(1)
                    .and_then(|b| base64::engine::general_purpose::STANDARD.decode(b).ok())
                    .and_then(|b| String::from_utf8(b).ok())
                    .unwrap_or_default();
                let rec_len: usize = rec_headers
                    .iter()
                    .find(|(k, _)| k.eq_ignore_ascii_case("upload-length"))
                    .and_then(|(_, v)| v.parse().ok())
                    .unwrap_or(0);
                rp.pending = rp.synth(&fname, rec_len);
                rp.pending_recorded_len = rec_len;
                headers.push(("Upload-Length".into(), rp.pending.len().to_string()));
            }
            // poll requests until they settle like the recording
            let mut resp = send(
                &method,
                &url,
                &headers,
                body.as_deref().or(
                    if method == "POST" || method == "PATCH" || method == "PUT" {
                        Some(b"")
                    } else {
                        None
                    },
                ),
            );
            if path.starts_with("/api/requests/") && resp.status == 200 {
                let rec_st = rec["response_body"]["json"]["status"]
                    .as_str()
                    .unwrap_or("");
                let start = std::time::Instant::now();
                while (rec_st == "finished" || rec_st == "failed")
                    && !matches!(resp.json()["status"].as_str(), Some("finished" | "failed"))
                    && start.elapsed().as_secs() < 60
                {
                    std::thread::sleep(std::time::Duration::from_millis(50));
                    resp = send(&method, &url, &headers, None);
                }
                let ours = resp.json()["status"].as_str().unwrap_or("").to_string();
                let same = ours == rec_st
                    || (rec_st == "started"
                        && ["queued", "started", "finished"].contains(&ours.as_str()));
                if !same {
                    mismatches.push(format!(
                        "{f}:{seq} {method} {path}: request status {ours} (message {}), recorded {rec_st}",
                        resp.json()["message"]
                    ));
                }
            }
            // learn ids
            let rec_json = rec["response_body"]
                .get("json")
                .cloned()
                .unwrap_or(Value::Null);
            let ct = resp.header("content-type").unwrap_or("").to_string();
            let ours_json: Option<Value> = if ct.contains("json") && !resp.body.is_empty() {
                serde_json::from_slice(&resp.body).ok()
            } else {
                None
            };
            if let Some(o) = &ours_json {
                if method == "POST" && rec_status == 201 && resp.status == 201 {
                    if let (Some(r), Some(n)) = (rec_json["id"].as_i64(), o["id"].as_i64()) {
                        if path.starts_with("/api/projects") {
                            rp.projects.insert(r, n);
                        } else if path.starts_with("/api/tasks") {
                            rp.tasks.insert(r, n);
                        }
                    }
                }
                if let (Some(r), Some(n)) = (rec_json["rq_id"].as_str(), o["rq_id"].as_str()) {
                    rp.rq.insert(r.to_string(), n.to_string());
                }
                if let (Some(r), Some(n)) =
                    (rec_json["result_id"].as_i64(), o["result_id"].as_i64())
                {
                    rp.tasks.insert(r, n);
                }
                if path.starts_with("/api/jobs") {
                    if let (Some(r), Some(n)) =
                        (rec_json["results"].as_array(), o["results"].as_array())
                    {
                        for (a, b) in r.iter().zip(n) {
                            if let (Some(a), Some(b)) = (a["id"].as_i64(), b["id"].as_i64()) {
                                rp.jobs.insert(a, b);
                            }
                        }
                    }
                }
                if path == "/api/auth/login" && resp.status == 200 {
                    if let Some(k) = o["key"].as_str() {
                        rp.token = k.to_string();
                    }
                    let mut cookies = Vec::new();
                    for c in resp.all("set-cookie") {
                        let kv = c.split(';').next().unwrap_or("").to_string();
                        if let Some(v) = kv.strip_prefix("csrftoken=") {
                            rp.csrf = v.to_string();
                        }
                        cookies.push(kv);
                    }
                    rp.cookies = cookies.join("; ");
                }
            }
            let rec_rh: Vec<(String, String)> = rec["response_headers"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(|p| {
                            Some((p[0].as_str()?.to_lowercase(), p[1].as_str()?.to_string()))
                        })
                        .collect()
                })
                .unwrap_or_default();
            let rec_h = |n: &str| rec_rh.iter().find(|(k, _)| k == n).map(|(_, v)| v.clone());
            if let (Some(r), Some(o)) = (rec_h("location"), resp.header("location")) {
                let rl = r.rsplit('/').next().unwrap_or("").to_string();
                let ol = o.rsplit('/').next().unwrap_or("").to_string();
                rp.uuids.insert(rl, ol);
            }
            if let (Some(r), Some(o)) = (rec_h("upload-filename"), resp.header("upload-filename")) {
                rp.filenames.insert(r, o.to_string());
            }
            if ct == "application/zip" && method == "GET" && resp.status == 200 {
                let key = if path.contains("/backup") {
                    "backup".to_string()
                } else {
                    url.split("format=")
                        .nth(1)
                        .and_then(|s| s.split('&').next())
                        .map(|s| {
                            percent_encoding::percent_decode_str(s)
                                .decode_utf8_lossy()
                                .replace('+', " ")
                        })
                        .unwrap_or_default()
                };
                rp.downloads.insert(key, resp.body.clone());
            }
            // compare
            if resp.status != rec_status {
                match DELIBERATE.iter().find(|(df, ds, _)| *df == f.as_str() && *ds == seq) {
                    Some(_) => deliberate += 1,
                    None => mismatches.push(format!(
                        "{f}:{seq} {method} {path}?{query}: status {} (recorded {rec_status}); body {}",
                        resp.status,
                        String::from_utf8_lossy(&resp.body).chars().take(300).collect::<String>()
                    )),
                }
            }
            // successful JSON answers carry every field the real server sent (top level, and in list items)
            if resp.status < 300 && resp.status == rec_status {
                if let (Some(Value::Object(r)), Some(Value::Object(o))) =
                    (Some(&rec_json), ours_json.as_ref())
                {
                    let mut missing: Vec<String> =
                        r.keys().filter(|k| !o.contains_key(*k)).cloned().collect();
                    if let (Some(Value::Object(r0)), Some(Value::Object(o0))) = (
                        r.get("results").and_then(|x| x.get(0)),
                        o.get("results").and_then(|x| x.get(0)),
                    ) {
                        missing.extend(
                            r0.keys()
                                .filter(|k| !o0.contains_key(*k))
                                .map(|k| format!("results[].{k}")),
                        );
                    }
                    if !missing.is_empty() {
                        mismatches.push(format!(
                            "{f}:{seq} {method} {path}: fields missing: {missing:?}"
                        ));
                    }
                }
            }
            // error bodies keep CVAT's shape: bare string, bare list, or an object with the same keys
            if resp.status >= 400 && resp.status == rec_status && !rec_json.is_null() {
                let shape = |v: &Value| match v {
                    Value::String(_) => "string".to_string(),
                    Value::Array(_) => "list".to_string(),
                    Value::Object(m) => {
                        let mut k: Vec<&String> = m.keys().collect();
                        k.sort();
                        format!("object {k:?}")
                    }
                    other => format!("{other}"),
                };
                let ours_shape = ours_json
                    .as_ref()
                    .map(shape)
                    .unwrap_or_else(|| "no JSON".into());
                if ours_shape != shape(&rec_json) {
                    mismatches.push(format!(
                        "{f}:{seq} {method} {path}: error body {ours_shape}, recorded {} ({rec_json})",
                        shape(&rec_json)
                    ));
                }
            }
            if let Some(o) = &ours_json {
                let q = url.split('?').next().unwrap_or("");
                let p = q.strip_prefix(&rp.base).unwrap_or(q);
                match openapi.validate(&method, p, resp.status, o) {
                    Ok(true) => validated += 1,
                    Ok(false) => undocumented += 1,
                    Err(e) => invalid.push(format!("{f}:{seq}: {e}")),
                }
            }
        }
    }
    eprintln!(
        "replayed {exchanges} exchanges from {} transcripts; {validated} JSON responses validated against the schema ({undocumented} with no schema: TUS, errors); {deliberate} deliberate differences",
        files.len()
    );
    assert!(files.len() >= 40, "expected the whole transcript set");
    assert!(validated >= 100, "too few responses validated: {validated}");
    assert!(
        mismatches.is_empty() && invalid.is_empty(),
        "status mismatches ({}):\n{}\n\nschema violations ({}):\n{}",
        mismatches.len(),
        mismatches.join("\n"),
        invalid.len(),
        invalid.join("\n")
    );
}

#[test]
fn openapi_validator_rejects_wrong_shapes() {
    // the validator must catch what the replay relies on it to catch
    let srv = TestServer::start();
    let c = Client::login(&srv.base, "admin", ADMIN_PW);
    let id = c.create_task("shape-check", fixture_labels(), &fixture_files()[..1]);
    let mut task = c.get(&format!("/api/tasks/{id}")).json();
    let mut api = OpenApi::load();
    assert_eq!(
        api.validate("GET", &format!("/api/tasks/{id}"), 200, &task),
        Ok(true)
    );
    // TaskRead requires `jobs` and `labels`; `id` is an integer
    let mut no_jobs = task.clone();
    no_jobs.as_object_mut().expect("object").remove("jobs");
    assert!(api
        .validate("GET", &format!("/api/tasks/{id}"), 200, &no_jobs)
        .is_err());
    task["id"] = json!("not a number");
    assert!(api
        .validate("GET", &format!("/api/tasks/{id}"), 200, &task)
        .is_err());
    let mut about = c.get("/api/server/about").json();
    assert_eq!(
        api.validate("GET", "/api/server/about", 200, &about),
        Ok(true)
    );
    about["version"] = json!(2);
    assert!(api
        .validate("GET", "/api/server/about", 200, &about)
        .is_err());
}

// ---------------------------------------------------------------------------------------------------
// (c) rich-A through the server: PUT its annotations, export, compare with the real server's exports

/// Creates rich-A's task (labels, 6 images) and PUTs its annotations with ids remapped by name.
fn rich_a_task(c: &Client) -> i64 {
    let dir = shared("cvat/exports/rich-A");
    let labels_v: Value =
        serde_json::from_slice(&std::fs::read(dir.join("labels.json")).expect("labels"))
            .expect("json");
    let old_labels = labels_v["results"].as_array().expect("results").clone();
    // creation payload: no ids, skeleton svg by sub-label name
    let mut create = Vec::new();
    for l in &old_labels {
        let mut l2 = l.clone();
        let o = l2.as_object_mut().expect("label");
        for k in ["id", "task_id", "project_id", "parent_id", "has_parent"] {
            o.remove(k);
        }
        if let Some(svg) = l["svg"].as_str() {
            let mut svg = svg.to_string();
            for s in l["sublabels"].as_array().into_iter().flatten() {
                svg = svg.replace(
                    &format!("data-label-id=\"{}\"", s["id"]),
                    &format!("data-label-name=\"{}\"", s["name"].as_str().unwrap_or("")),
                );
            }
            o.insert("svg".into(), json!(svg));
        }
        for a in o
            .get_mut("attributes")
            .and_then(Value::as_array_mut)
            .into_iter()
            .flatten()
        {
            a.as_object_mut().expect("attr").remove("id");
        }
        for s in o
            .get_mut("sublabels")
            .and_then(Value::as_array_mut)
            .into_iter()
            .flatten()
        {
            let so = s.as_object_mut().expect("sublabel");
            so.remove("id");
            so.remove("has_parent");
        }
        create.push(l2);
    }
    let id = c.create_task("rich-A", Value::Array(create), &rich_images());
    let new_labels = c
        .get(&format!("/api/labels?task_id={id}&page_size=100"))
        .json();
    let new_labels = new_labels["results"].as_array().expect("results").clone();
    // old id -> new id, by name (sub-labels within their skeleton)
    let mut lmap: HashMap<i64, i64> = HashMap::new();
    let mut amap: HashMap<i64, i64> = HashMap::new();
    let pair =
        |o: &Value, n: &Value, lmap: &mut HashMap<i64, i64>, amap: &mut HashMap<i64, i64>| {
            lmap.insert(o["id"].as_i64().expect("id"), n["id"].as_i64().expect("id"));
            for oa in o["attributes"].as_array().into_iter().flatten() {
                let na = n["attributes"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .find(|a| a["name"] == oa["name"])
                    .expect("attribute recreated");
                amap.insert(
                    oa["id"].as_i64().expect("id"),
                    na["id"].as_i64().expect("id"),
                );
            }
        };
    for o in &old_labels {
        let n = new_labels
            .iter()
            .find(|n| n["name"] == o["name"])
            .expect("label recreated");
        pair(o, n, &mut lmap, &mut amap);
        for os in o["sublabels"].as_array().into_iter().flatten() {
            let ns = n["sublabels"]
                .as_array()
                .into_iter()
                .flatten()
                .find(|s| s["name"] == os["name"])
                .expect("sublabel recreated");
            pair(os, ns, &mut lmap, &mut amap);
        }
    }
    fn remap(v: &mut Value, lmap: &HashMap<i64, i64>, amap: &HashMap<i64, i64>) {
        match v {
            Value::Object(m) => {
                for (k, x) in m.iter_mut() {
                    match (k.as_str(), x.as_i64()) {
                        ("label_id", Some(n)) => *x = json!(lmap.get(&n).copied().unwrap_or(n)),
                        ("spec_id", Some(n)) => *x = json!(amap.get(&n).copied().unwrap_or(n)),
                        _ => remap(x, lmap, amap),
                    }
                }
            }
            Value::Array(a) => a.iter_mut().for_each(|x| remap(x, lmap, amap)),
            _ => {}
        }
    }
    let mut ann: Value = serde_json::from_slice(
        &std::fs::read(dir.join("annotations_put_request.json")).expect("put request"),
    )
    .expect("json");
    remap(&mut ann, &lmap, &amap);
    let r = c.json("PUT", &format!("/api/tasks/{id}/annotations"), &ann);
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    id
}

fn export_zip(c: &Client, task: i64, format: &str, save_images: bool) -> Vec<u8> {
    let enc = format.replace(' ', "%20");
    let si = if save_images { "True" } else { "False" };
    let r = c.post_empty(&format!(
        "/api/tasks/{task}/dataset/export?format={enc}&save_images={si}"
    ));
    assert_eq!(
        r.status,
        202,
        "{format}: {}",
        String::from_utf8_lossy(&r.body)
    );
    let rq = r.json()["rq_id"].as_str().expect("rq").to_string();
    let v = c.wait(&rq);
    assert_eq!(v["status"], "finished", "{format}: {v}");
    let url = v["result_url"].as_str().expect("result_url");
    let path = url.strip_prefix(&c.base).expect("result_url on our host");
    let r = c.get(path);
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), Some("application/zip"));
    let disp = r
        .header("content-disposition")
        .expect("content-disposition");
    assert!(
        disp.starts_with("attachment; filename=\"task_rich-a_")
            && disp.ends_with(&format!("_{}.zip\"", format.to_lowercase())),
        "{disp}"
    );
    r.body
}

fn real_export(format_dir: &str) -> std::collections::BTreeMap<String, Vec<u8>> {
    let dir = shared("cvat/exports/rich-A/export").join(format_dir);
    let mut out = std::collections::BTreeMap::new();
    fn walk(
        root: &std::path::Path,
        d: &std::path::Path,
        out: &mut std::collections::BTreeMap<String, Vec<u8>>,
    ) {
        for e in std::fs::read_dir(d).expect("dir").filter_map(Result::ok) {
            let p = e.path();
            if p.is_dir() {
                walk(root, &p, out);
            } else {
                let rel = p
                    .strip_prefix(root)
                    .expect("rel")
                    .to_string_lossy()
                    .replace('\\', "/");
                out.insert(rel, std::fs::read(&p).expect("read"));
            }
        }
    }
    walk(&dir, &dir, &mut out);
    out
}

/// (tag, label, image name) of every annotation element in a CVAT for images XML, outside `<meta>`.
fn cvat_xml_elements(xml: &[u8]) -> Vec<String> {
    let text = String::from_utf8_lossy(xml);
    let body = match (text.find("<meta>"), text.find("</meta>")) {
        (Some(a), Some(b)) => format!("{}{}", &text[..a], &text[b..]),
        _ => text.to_string(),
    };
    let mut out = Vec::new();
    let mut image = String::new();
    for chunk in body.split('<').skip(1) {
        let tag: String = chunk
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect();
        let attr = |name: &str| {
            chunk
                .split(&format!(" {name}=\""))
                .nth(1)
                .and_then(|s| s.split('"').next())
                .unwrap_or("")
                .to_string()
        };
        match tag.as_str() {
            "image" => image = attr("name"),
            "box" | "polygon" | "polyline" | "points" | "ellipse" | "cuboid" | "mask"
            | "skeleton" | "tag" => out.push(format!("{image}|{tag}|{}", attr("label"))),
            _ => {}
        }
    }
    out.sort();
    out
}

fn coco_summary(json_bytes: &[u8]) -> (Vec<String>, Vec<String>, Vec<String>) {
    let v: Value = serde_json::from_slice(json_bytes).expect("COCO json");
    let cats: HashMap<i64, String> = v["categories"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|c| {
            (
                c["id"].as_i64().unwrap_or(0),
                c["name"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect();
    let imgs: HashMap<i64, String> = v["images"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|i| {
            (
                i["id"].as_i64().unwrap_or(0),
                i["file_name"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect();
    let mut images: Vec<String> = v["images"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|i| {
            format!(
                "{}:{}x{}",
                i["file_name"].as_str().unwrap_or(""),
                i["width"],
                i["height"]
            )
        })
        .collect();
    images.sort();
    let mut names: Vec<String> = cats.values().cloned().collect();
    names.sort();
    let mut anns: Vec<String> = v["annotations"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|a| {
            let bbox: Vec<String> = a["bbox"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|x| format!("{:.2}", x.as_f64().unwrap_or(0.0)))
                .collect();
            format!(
                "{}|{}|{}|crowd={}",
                imgs.get(&a["image_id"].as_i64().unwrap_or(-1))
                    .cloned()
                    .unwrap_or_default(),
                cats.get(&a["category_id"].as_i64().unwrap_or(-1))
                    .cloned()
                    .unwrap_or_default(),
                bbox.join(","),
                a["iscrowd"]
            )
        })
        .collect();
    anns.sort();
    (images, names, anns)
}

fn yolo_lines(b: &[u8]) -> Vec<Vec<String>> {
    let mut v: Vec<Vec<String>> = String::from_utf8_lossy(b)
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            l.split_whitespace()
                .map(|t| match t.parse::<f64>() {
                    Ok(x) if t.contains('.') => format!("{x:.6}"),
                    _ => t.to_string(),
                })
                .collect()
        })
        .collect();
    v.sort();
    v
}

fn datumaro_summary(b: &[u8]) -> (Vec<String>, Vec<String>) {
    let v: Value = serde_json::from_slice(b).expect("datumaro json");
    let labels: Vec<String> = v["categories"]["label"]["labels"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|l| l["name"].as_str().unwrap_or("").to_string())
        .collect();
    let mut anns = Vec::new();
    for it in v["items"].as_array().into_iter().flatten() {
        for a in it["annotations"].as_array().into_iter().flatten() {
            let label = a["label_id"]
                .as_u64()
                .and_then(|i| labels.get(i as usize))
                .cloned()
                .unwrap_or_default();
            anns.push(format!(
                "{}|{}|{}|g{}",
                it["id"].as_str().unwrap_or(""),
                a["type"].as_str().unwrap_or(""),
                label,
                a["group"]
            ));
        }
    }
    anns.sort();
    (labels, anns)
}

#[test]
fn rich_a_exports_match_the_real_server() {
    let srv = TestServer::start();
    let c = Client::login(&srv.base, "admin", ADMIN_PW);
    let id = rich_a_task(&c);
    // the stored annotations keep every object of the PUT
    let ann = c.get(&format!("/api/tasks/{id}/annotations")).json();
    let real: Value = serde_json::from_slice(
        &std::fs::read(shared("cvat/exports/rich-A/annotations.json")).expect("annotations"),
    )
    .expect("json");
    for k in ["tags", "shapes", "tracks"] {
        assert_eq!(
            ann[k].as_array().map(Vec::len),
            real[k].as_array().map(Vec::len),
            "{k}"
        );
    }
    // CVAT for images 1.1
    let ours = unzip(&export_zip(&c, id, "CVAT for images 1.1", false));
    let theirs = real_export("CVAT_for_images_1.1");
    assert_eq!(
        ours.keys().collect::<Vec<_>>(),
        theirs.keys().collect::<Vec<_>>()
    );
    assert_eq!(
        cvat_xml_elements(&ours["annotations.xml"]),
        cvat_xml_elements(&theirs["annotations.xml"])
    );
    // COCO 1.0
    let ours = unzip(&export_zip(&c, id, "COCO 1.0", false));
    let theirs = real_export("COCO_1.0");
    assert_eq!(
        ours.keys().collect::<Vec<_>>(),
        theirs.keys().collect::<Vec<_>>()
    );
    let f = "annotations/instances_default.json";
    assert_eq!(coco_summary(&ours[f]), coco_summary(&theirs[f]));
    // YOLO 1.1: same files, same lines (numbers compared at 6 decimals)
    let ours = unzip(&export_zip(&c, id, "YOLO 1.1", false));
    let theirs = real_export("YOLO_1.1");
    assert_eq!(
        ours.keys().collect::<Vec<_>>(),
        theirs.keys().collect::<Vec<_>>()
    );
    for (k, v) in &theirs {
        if k.ends_with(".txt") || k.ends_with(".names") {
            assert_eq!(yolo_lines(&ours[k]), yolo_lines(v), "{k}");
        }
    }
    // Datumaro 1.0
    let ours = unzip(&export_zip(&c, id, "Datumaro 1.0", false));
    let theirs = real_export("Datumaro_1.0");
    assert_eq!(
        ours.keys().collect::<Vec<_>>(),
        theirs.keys().collect::<Vec<_>>()
    );
    let f = "annotations/default.json";
    assert_eq!(datumaro_summary(&ours[f]), datumaro_summary(&theirs[f]));
    // with images: the images are the uploaded bytes, where the real server puts them
    let ours = unzip(&export_zip(&c, id, "CVAT for images 1.1", true));
    for (name, bytes) in rich_images() {
        assert_eq!(ours.get(&format!("images/{name}")), Some(&bytes), "{name}");
    }
}

#[test]
fn rich_a_backup_from_the_real_server_restores_and_round_trips() {
    let srv = TestServer::start();
    let c = Client::login(&srv.base, "admin", ADMIN_PW);
    let backup = std::fs::read(shared("cvat/exports/rich-A/backup.zip")).expect("backup");
    let r = c.multipart(
        "POST",
        "/api/tasks/backup",
        &[Part::file("task_file", "backup.zip", backup)],
    );
    assert_eq!(r.status, 202, "{}", String::from_utf8_lossy(&r.body));
    let v = c.wait(r.json()["rq_id"].as_str().expect("rq"));
    assert_eq!(v["status"], "finished", "{v}");
    let id = v["result_id"].as_i64().expect("result_id");
    let real: Value = serde_json::from_slice(
        &std::fs::read(shared("cvat/exports/rich-A/annotations.json")).expect("annotations"),
    )
    .expect("json");
    let count = |a: &Value| {
        let shapes = a["shapes"].as_array().map(Vec::len).unwrap_or(0);
        let mut kinds: Vec<String> = a["shapes"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|s| {
                format!(
                    "{}:{}:{}",
                    s["type"],
                    s["frame"],
                    s["elements"].as_array().map(Vec::len).unwrap_or(0)
                )
            })
            .collect();
        kinds.sort();
        let track_shapes: usize = a["tracks"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|t| {
                t["shapes"].as_array().map(Vec::len).unwrap_or(0)
                    + t["elements"].as_array().map(Vec::len).unwrap_or(0)
            })
            .sum();
        (
            a["tags"].as_array().map(Vec::len),
            shapes,
            a["tracks"].as_array().map(Vec::len),
            track_shapes,
            kinds,
        )
    };
    let restored = c.get(&format!("/api/tasks/{id}/annotations")).json();
    assert_eq!(count(&restored), count(&real));
    let meta = c.get(&format!("/api/tasks/{id}/data/meta")).json();
    let real_meta: Value = serde_json::from_slice(
        &std::fs::read(shared("cvat/exports/rich-A/data_meta.json")).expect("meta"),
    )
    .expect("json");
    let frames = |m: &Value| -> Vec<String> {
        m["frames"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|f| format!("{}:{}x{}", f["name"], f["width"], f["height"]))
            .collect()
    };
    assert_eq!(frames(&meta), frames(&real_meta));
    // our backup of it restores to the same annotations again
    let r = c.post_empty(&format!("/api/tasks/{id}/backup/export"));
    assert_eq!(r.status, 202);
    let v = c.wait(r.json()["rq_id"].as_str().expect("rq"));
    let url = v["result_url"].as_str().expect("result_url");
    let ours = c.get(url.strip_prefix(&c.base).expect("our host")).body;
    let files = unzip(&ours);
    for k in ["task.json", "annotations.json", "data/manifest.jsonl"] {
        assert!(files.contains_key(k), "{k} missing from our backup");
    }
    let r = c.multipart(
        "POST",
        "/api/tasks/backup",
        &[Part::file("task_file", "ours.zip", ours)],
    );
    let v = c.wait(r.json()["rq_id"].as_str().expect("rq"));
    assert_eq!(v["status"], "finished", "{v}");
    let again = c
        .get(&format!("/api/tasks/{}/annotations", v["result_id"]))
        .json();
    assert_eq!(count(&again), count(&real));
}

// ---------------------------------------------------------------------------------------------------
// (b) the official clients against our server

struct Cli {
    exe: std::path::PathBuf,
    args: Vec<String>,
    cwd: std::path::PathBuf,
}

impl Cli {
    fn run(&self, args: &[&str]) -> (i32, String, String) {
        let out = std::process::Command::new(&self.exe)
            .args(&self.args)
            .args(args)
            .current_dir(&self.cwd)
            .env_remove("CVAT_ACCESS_TOKEN")
            .output()
            .expect("run the official cvat-cli");
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }
    fn ok(&self, args: &[&str]) -> String {
        let (code, out, err) = self.run(args);
        assert_eq!(
            code, 0,
            "cvat-cli {args:?} failed:\nstdout: {out}\nstderr: {err}"
        );
        out
    }
}

fn created_id(out: &str) -> i64 {
    out.lines()
        .find_map(|l| {
            l.strip_prefix("Created task id ")
                .or_else(|| l.strip_prefix("Created task ID "))
        })
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or_else(|| panic!("no task id in: {out}"))
}

#[test]
fn official_cli_2_23_1_end_to_end() {
    let exe = official_cli("CVAT_CLI_223", ".venv");
    let srv = TestServer::start();
    let work = tempfile::tempdir().expect("tmp");
    let cli = Cli {
        exe,
        args: vec![
            "--auth".into(),
            format!("admin:{ADMIN_PW}"),
            "--server-host".into(),
            "127.0.0.1".into(),
            "--server-port".into(),
            srv.port().to_string(),
        ],
        cwd: work.path().to_path_buf(),
    };
    let c = Client::login(&srv.base, "admin", ADMIN_PW);
    let imgs: Vec<String> = ["img_a.jpg", "img_b.jpg", "img_c.jpg", "img_d.jpg"]
        .iter()
        .map(|n| {
            let p = work.path().join("data").join(n);
            write(&p, &recorded_image(n));
            p.display().to_string()
        })
        .collect();
    let labels = fixture_labels().to_string();
    let xml = work.path().join("ann_cvat.xml");
    write(&xml, &cvat_xml(0));
    // create (local), create with --annotation_path
    let mut args = vec!["create", "cli-local", "--labels", &labels, "local"];
    args.extend(imgs.iter().map(String::as_str));
    let t1 = created_id(&cli.ok(&args));
    let mut args = vec![
        "create",
        "cli-with-ann",
        "--labels",
        &labels,
        "--annotation_path",
        xml.to_str().expect("path"),
        "--annotation_format",
        "CVAT 1.1",
        "local",
    ];
    args.extend(imgs.iter().map(String::as_str));
    let t2 = created_id(&cli.ok(&args));
    let ann = c.get(&format!("/api/tasks/{t2}/annotations")).json();
    assert_eq!(ann["shapes"].as_array().map(Vec::len), Some(3), "{ann}");
    let meta = c.get(&format!("/api/tasks/{t1}/data/meta")).json();
    let names: Vec<&str> = meta["frames"]
        .as_array()
        .expect("frames")
        .iter()
        .filter_map(|f| f["name"].as_str())
        .collect();
    assert_eq!(
        names,
        ["img_a.jpg", "img_b.jpg", "img_c.jpg", "img_d.jpg"],
        "basenames of the client paths"
    );
    // ls, ls --json
    let ids: Vec<i64> = cli
        .ok(&["ls"])
        .lines()
        .filter_map(|l| l.trim().parse().ok())
        .collect();
    assert_eq!(ids, vec![t2, t1]);
    let listed: Value =
        serde_json::from_str(&cli.ok(&["ls", "--json"])).expect("ls --json is JSON");
    let names: Vec<&str> = listed
        .as_array()
        .expect("list")
        .iter()
        .filter_map(|t| t["name"].as_str())
        .collect();
    assert_eq!(names, ["cli-with-ann", "cli-local"]);
    // frames, both qualities (the CLI re-encodes what it receives; check what it wrote decodes to the right size)
    cli.ok(&[
        "frames",
        "--quality",
        "original",
        "--outdir",
        "orig",
        &t1.to_string(),
        "0",
        "3",
    ]);
    cli.ok(&[
        "frames",
        "--quality",
        "compressed",
        "--outdir",
        "comp",
        &t1.to_string(),
        "1",
    ]);
    let dims = |p: std::path::PathBuf| {
        image::image_dimensions(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
    };
    let found = |dir: &str, frame: u32| {
        std::fs::read_dir(work.path().join(dir))
            .expect("frames dir")
            .filter_map(Result::ok)
            .map(|e| e.path())
            .find(|p| {
                p.file_name()
                    .is_some_and(|n| n.to_string_lossy().contains(&format!("frame_{frame:06}")))
            })
            .unwrap_or_else(|| panic!("frame {frame} not written in {dir}"))
    };
    assert_eq!(dims(found("orig", 0)), (320, 240));
    assert_eq!(dims(found("orig", 3)), (1024, 768));
    assert_eq!(dims(found("comp", 1)), (640, 480));
    // dump in three formats
    let expect = [
        ("CVAT for images 1.1", "annotations.xml"),
        ("COCO 1.0", "annotations/instances_default.json"),
        ("YOLO 1.1", "obj.data"),
    ];
    for (fmt, member) in expect {
        let out = format!("dump-{}.zip", fmt.replace(' ', "_"));
        cli.ok(&["dump", "--format", fmt, &t2.to_string(), &out]);
        let files = unzip(&std::fs::read(work.path().join(&out)).expect("dump written"));
        assert!(files.contains_key(member), "{fmt}: {:?}", files.keys());
    }
    // upload into the first task: CVAT xml, then the COCO and YOLO dumps
    let count = |t: i64| {
        let a = c.get(&format!("/api/tasks/{t}/annotations")).json();
        a["shapes"].as_array().map(Vec::len).unwrap_or(0)
    };
    cli.ok(&[
        "upload",
        "--format",
        "CVAT 1.1",
        &t1.to_string(),
        xml.to_str().expect("path"),
    ]);
    assert_eq!(count(t1), 3);
    cli.ok(&[
        "upload",
        "--format",
        "COCO 1.0",
        &t1.to_string(),
        "dump-COCO_1.0.zip",
    ]);
    assert_eq!(count(t1), 3, "COCO keeps the 2 rectangles and the polygon");
    cli.ok(&[
        "upload",
        "--format",
        "YOLO 1.1",
        &t1.to_string(),
        "dump-YOLO_1.1.zip",
    ]);
    assert_eq!(count(t1), 2, "YOLO keeps only the rectangles");
    // export (backup) and import
    cli.ok(&["export", &t2.to_string(), "backup.zip"]);
    let out = cli.ok(&["import", "backup.zip"]);
    let t3 = created_id(&out);
    assert_eq!(count(t3), 3);
    // delete, including a missing task (logged, exit 0)
    let (code, out, err) = cli.run(&["delete", &t3.to_string(), "99999"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        format!("{out}{err}").contains("99999 not found"),
        "{out}{err}"
    );
    assert_eq!(c.get(&format!("/api/tasks/{t3}")).status, 404);
    // wrong password: the CLI fails
    let bad = Cli {
        exe: cli.exe.clone(),
        args: vec![
            "--auth".into(),
            "admin:nope".into(),
            "--server-host".into(),
            "127.0.0.1".into(),
            "--server-port".into(),
            srv.port().to_string(),
        ],
        cwd: work.path().to_path_buf(),
    };
    assert_ne!(bad.run(&["ls"]).0, 0);
    // original frames over HTTP are the uploaded bytes
    let r = c.get(&format!(
        "/api/tasks/{t1}/data/?number=1&quality=original&type=frame"
    ));
    assert_eq!(r.body, recorded_image("img_b.jpg"));
    let r = c.get(&format!(
        "/api/tasks/{t1}/data/?number=1&quality=compressed&type=frame"
    ));
    assert_eq!(r.header("content-type"), Some("image/jpeg"));
    assert_ne!(
        r.body,
        recorded_image("img_b.jpg"),
        "compressed frames are re-encoded"
    );
}

#[test]
fn official_cli_2_80_task_commands_and_personal_access_token() {
    let exe = official_cli("CVAT_CLI_280", ".venv280");
    let srv = TestServer::start();
    let work = tempfile::tempdir().expect("tmp");
    let cli = Cli {
        exe: exe.clone(),
        args: vec![
            "--auth".into(),
            format!("admin:{ADMIN_PW}"),
            "--server-host".into(),
            "http://127.0.0.1".into(),
            "--server-port".into(),
            srv.port().to_string(),
        ],
        cwd: work.path().to_path_buf(),
    };
    let img = work.path().join("img_a.jpg");
    write(&img, &recorded_image("img_a.jpg"));
    let labels = fixture_labels().to_string();
    let out = cli.ok(&[
        "task",
        "create",
        "t280",
        "--labels",
        &labels,
        "--completion_verification_period",
        "0.2",
        "local",
        img.to_str().expect("path"),
    ]);
    let id: i64 = out
        .lines()
        .rev()
        .find_map(|l| l.trim().parse().ok())
        .unwrap_or_else(|| panic!("no id: {out}"));
    let ids: Vec<i64> = cli
        .ok(&["task", "ls"])
        .lines()
        .filter_map(|l| l.trim().parse().ok())
        .collect();
    assert_eq!(ids, vec![id]);
    cli.ok(&[
        "task",
        "export-dataset",
        "--format",
        "COCO 1.0",
        "--completion_verification_period",
        "0.2",
        &id.to_string(),
        "coco.zip",
    ]);
    let files = unzip(&std::fs::read(work.path().join("coco.zip")).expect("export written"));
    assert!(files.contains_key("annotations/instances_default.json"));
    cli.ok(&[
        "task",
        "backup",
        "--completion_verification_period",
        "0.2",
        &id.to_string(),
        "backup.zip",
    ]);
    let files = unzip(&std::fs::read(work.path().join("backup.zip")).expect("backup written"));
    assert!(files.contains_key("task.json") && files.contains_key("data/img_a.jpg"));
    // a personal access token (Authorization: Bearer) instead of a password
    let c = Client::login(&srv.base, "admin", ADMIN_PW);
    let r = c.json("POST", "/api/auth/access_tokens", &json!({"name": "ci"}));
    assert_eq!(r.status, 201);
    let pat = r.json()["value"].as_str().expect("value").to_string();
    let out = std::process::Command::new(&exe)
        .args([
            "--server-host",
            "http://127.0.0.1",
            "--server-port",
            &srv.port().to_string(),
            "task",
            "ls",
        ])
        .current_dir(work.path())
        .env("CVAT_ACCESS_TOKEN", &pat)
        .output()
        .expect("run cvat-cli");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), id.to_string());
    let r = send(
        "GET",
        &format!("{}/api/users/self", srv.base),
        &[("Authorization".into(), "Bearer wrong".into())],
        None,
    );
    assert_eq!(r.status, 401);
}

// ---------------------------------------------------------------------------------------------------
// access control, errors, data options

#[test]
fn authentication_and_ownership() {
    let srv = TestServer::start();
    let base = &srv.base;
    // no credentials: 401 everywhere but about
    assert_eq!(
        send("GET", &format!("{base}/api/server/about"), &[], None).status,
        200
    );
    let r = send("GET", &format!("{base}/api/tasks"), &[], None);
    assert_eq!(r.status, 401);
    assert_eq!(r.header("www-authenticate"), Some("Token"));
    assert_eq!(
        r.json(),
        json!({"detail": "Authentication credentials were not provided."})
    );
    // wrong password on login: 400 with non_field_errors
    let r = send(
        "POST",
        &format!("{base}/api/auth/login"),
        &[("Content-Type".into(), "application/json".into())],
        Some(br#"{"username":"admin","password":"nope"}"#),
    );
    assert_eq!(r.status, 400);
    assert!(r.json()["non_field_errors"].is_array());
    // a second user sees only their own tasks
    let r = send("POST", &format!("{base}/api/auth/register"), &[("Content-Type".into(), "application/json".into())],
        Some(json!({"username": "bob", "email": "bob@x", "password1": "bob-password-1", "password2": "bob-password-1"}).to_string().as_bytes()));
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    let admin = Client::login(base, "admin", ADMIN_PW);
    let bob = Client::login(base, "bob", "bob-password-1");
    let files = fixture_files();
    let ta = admin.create_task("admins", fixture_labels(), &files[..1]);
    let tb = bob.create_task("bobs", fixture_labels(), &files[..1]);
    assert_eq!(bob.get(&format!("/api/tasks/{ta}")).status, 403);
    assert_eq!(bob.get(&format!("/api/tasks/{ta}/annotations")).status, 403);
    assert_eq!(bob.delete(&format!("/api/tasks/{ta}")).status, 403);
    let ids = |c: &Client| -> Vec<i64> {
        c.get("/api/tasks").json()["results"]
            .as_array()
            .expect("results")
            .iter()
            .filter_map(|t| t["id"].as_i64())
            .collect()
    };
    assert_eq!(ids(&bob), vec![tb]);
    assert_eq!(ids(&admin), vec![tb, ta]);
    let bob_self = bob.get("/api/users/self").json();
    assert_eq!(bob_self["is_superuser"], false);
    // session + CSRF
    let r = send(
        "POST",
        &format!("{base}/api/auth/login"),
        &[("Content-Type".into(), "application/json".into())],
        Some(
            json!({"username": "admin", "password": ADMIN_PW})
                .to_string()
                .as_bytes(),
        ),
    );
    let cookies: Vec<String> = r
        .all("set-cookie")
        .iter()
        .map(|c| c.split(';').next().unwrap_or("").to_string())
        .collect();
    let csrf = cookies
        .iter()
        .find_map(|c| c.strip_prefix("csrftoken="))
        .expect("csrftoken")
        .to_string();
    let cookie = ("Cookie".to_string(), cookies.join("; "));
    assert_eq!(
        send(
            "GET",
            &format!("{base}/api/users/self"),
            std::slice::from_ref(&cookie),
            None
        )
        .status,
        200
    );
    let body = json!({"name": "p", "labels": [{"name": "a"}]}).to_string();
    let ct = ("Content-Type".to_string(), "application/json".to_string());
    let r = send(
        "POST",
        &format!("{base}/api/projects"),
        &[cookie.clone(), ct.clone()],
        Some(body.as_bytes()),
    );
    assert_eq!(
        (r.status, r.json()),
        (403, json!({"detail": "CSRF Failed: CSRF token missing."}))
    );
    let r = send(
        "POST",
        &format!("{base}/api/projects"),
        &[
            cookie.clone(),
            ct.clone(),
            ("X-CSRFToken".into(), csrf.clone()),
        ],
        Some(body.as_bytes()),
    );
    assert_eq!(r.status, 201);
    let r = send(
        "POST",
        &format!("{base}/api/auth/logout"),
        &[cookie.clone(), ("X-CSRFToken".into(), csrf)],
        Some(b""),
    );
    assert_eq!(r.status, 200);
    assert_eq!(
        send("GET", &format!("{base}/api/users/self"), &[cookie], None).status,
        401
    );
}

#[test]
fn bad_input_gets_cvat_errors_never_500() {
    let srv = TestServer::start();
    let c = Client::login(&srv.base, "admin", ADMIN_PW);
    let t = c.create_task("errs", fixture_labels(), &fixture_files());
    let mut h = c.auth();
    h.push(("Content-Type".into(), "application/json".into()));
    let cases: Vec<(&str, String, Option<Vec<u8>>, u16)> = vec![
        ("POST", "/api/tasks".into(), Some(b"{\"name\": ".to_vec()), 400),
        ("POST", "/api/tasks".into(), Some(br#"{"name": "x"}"#.to_vec()), 400),
        ("POST", "/api/tasks".into(), Some(br#"{"name": "x", "labels": [{"name": "a"}, {"name": "a"}]}"#.to_vec()), 400),
        ("POST", "/api/tasks".into(), Some(br#"{"name": "x", "labels": "nope"}"#.to_vec()), 400),
        ("POST", "/api/tasks".into(), Some(br#"[1, 2]"#.to_vec()), 400),
        ("GET", "/api/tasks/99999".into(), None, 404),
        ("GET", "/api/tasks/abc".into(), None, 404),
        ("GET", "/api/tasks?page=99".into(), None, 404),
        ("GET", "/api/tasks?sort=bogus".into(), None, 400),
        ("GET", "/api/tasks?filter=%7Bnot%20json".into(), None, 400),
        ("GET", format!("/api/tasks/{t}/data?type=frame&number=99&quality=original"), None, 400),
        ("GET", format!("/api/tasks/{t}/data?type=frame&number=-1"), None, 400),
        ("GET", format!("/api/tasks/{t}/data?type=chunk&number=7"), None, 400),
        ("GET", format!("/api/tasks/{t}/data?type=wat"), None, 400),
        ("PUT", format!("/api/tasks/{t}/annotations"), Some(br#"{"shapes": [{"type": "rectangle"}]}"#.to_vec()), 400),
        ("PUT", format!("/api/tasks/{t}/annotations"), Some(br#"{"shapes": [{"type": "rectangle", "label_id": 999999, "frame": 0, "points": [1,2,3,4]}]}"#.to_vec()), 400),
        ("PATCH", format!("/api/tasks/{t}/annotations?action=explode"), Some(b"{}".to_vec()), 400),
        ("POST", format!("/api/tasks/{t}/dataset/export?format=Nope"), None, 400),
        ("POST", format!("/api/tasks/{t}/data"), Some(br#"{"image_quality": 70}"#.to_vec()), 400),
        ("GET", "/api/requests/nope".into(), None, 404),
        ("GET", "/api/jobs/99999".into(), None, 404),
        ("DELETE", "/api/projects/99999".into(), None, 404),
        ("GET", "/api/nothing/here".into(), None, 404),
    ];
    for (m, p, b, want) in cases {
        let r = send(
            m,
            &format!("{}{p}", c.base),
            &h,
            b.as_deref().or(if m == "GET" || m == "DELETE" {
                None
            } else {
                Some(b"")
            }),
        );
        assert_eq!(
            r.status,
            want,
            "{m} {p}: {}",
            String::from_utf8_lossy(&r.body)
        );
    }
    // a video is refused up front with a clear message
    let r = c.json(
        "POST",
        "/api/tasks",
        &json!({"name": "vid", "labels": [{"name": "a"}]}),
    );
    let vid = r.json()["id"].as_i64().expect("id");
    let r = c.multipart(
        "POST",
        &format!("/api/tasks/{vid}/data"),
        &[Part::file(
            "client_files[0]",
            "clip.mp4",
            b"\0\0\0\x18ftypmp42".to_vec(),
        )],
    );
    assert_eq!(r.status, 400);
    assert!(String::from_utf8_lossy(&r.body).contains("does not decode video"));
    // a file that is not an image fails the request with a message
    let r = c.multipart(
        "POST",
        &format!("/api/tasks/{vid}/data"),
        &[Part::file(
            "client_files[0]",
            "x.jpg",
            b"not an image".to_vec(),
        )],
    );
    let v = c.wait(r.json()["rq_id"].as_str().expect("rq"));
    assert_eq!(v["status"], "failed");
    assert!(v["message"].as_str().unwrap_or("").contains("x.jpg"), "{v}");
    // TUS: wrong offset 409, missing content type 415
    let mut th = c.auth();
    th.extend([
        ("Tus-Resumable".into(), "1.0.0".into()),
        ("Upload-Length".into(), "10".into()),
        ("Upload-Metadata".into(), "filename YS54bWw=".into()),
        ("Origin".into(), c.base.clone()),
    ]);
    let r = send(
        "POST",
        &format!("{}/api/tasks/{t}/annotations/", c.base),
        &th,
        Some(b""),
    );
    assert_eq!(r.status, 201);
    let loc = r.header("location").expect("location").to_string();
    let mut ph = c.auth();
    ph.extend([
        ("Tus-Resumable".into(), "1.0.0".into()),
        ("Upload-Offset".into(), "5".into()),
        (
            "Content-Type".into(),
            "application/offset+octet-stream".into(),
        ),
    ]);
    assert_eq!(send("PATCH", &loc, &ph, Some(b"12345")).status, 409);
    ph.retain(|(k, _)| k != "Content-Type");
    assert_eq!(send("PATCH", &loc, &ph, Some(b"12345")).status, 415);
}

#[test]
fn data_options_jobs_chunks_share_and_remote_files() {
    // a share directory and a local HTTP server for remote files
    let share = tempfile::tempdir().expect("share");
    for (n, b) in rich_images() {
        write(&share.path().join("set").join(&n), &b);
    }
    let srv = TestServer::start_in(
        tempfile::tempdir().expect("tmp"),
        Some(share.path().to_path_buf()),
    );
    let c = Client::login(&srv.base, "admin", ADMIN_PW);
    // frame_filter, start/stop, segment_size/overlap -> jobs
    let r = c.json(
        "POST",
        "/api/tasks",
        &json!({"name": "opts", "labels": [{"name": "a"}], "segment_size": 2, "overlap": 1}),
    );
    let t = r.json()["id"].as_i64().expect("id");
    let r = c.json("POST", &format!("/api/tasks/{t}/data"), &json!({
        "server_files": ["set"], "image_quality": 40, "start_frame": 1, "stop_frame": 5, "frame_filter": "step=2",
        "sorting_method": "natural"}));
    assert_eq!(r.status, 202, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(
        c.wait(r.json()["rq_id"].as_str().expect("rq"))["status"],
        "finished"
    );
    let meta = c.get(&format!("/api/tasks/{t}/data/meta")).json();
    let names: Vec<&str> = meta["frames"]
        .as_array()
        .expect("frames")
        .iter()
        .filter_map(|f| f["name"].as_str())
        .collect();
    assert_eq!(
        names,
        [
            "set/frame_01_800x600.jpg",
            "set/frame_03_320x240.jpg",
            "set/frame_05_500x500.jpg"
        ]
    );
    assert_eq!(meta["image_quality"], 40);
    let jobs = c.get(&format!("/api/jobs?task_id={t}")).json();
    let mut ranges: Vec<(i64, i64)> = jobs["results"]
        .as_array()
        .expect("jobs")
        .iter()
        .map(|j| {
            (
                j["start_frame"].as_i64().unwrap_or(-1),
                j["stop_frame"].as_i64().unwrap_or(-1),
            )
        })
        .collect();
    ranges.sort();
    assert_eq!(ranges, vec![(0, 1), (1, 2)]);
    // chunk: a zip of the chunk's frames; preview: a small JPEG
    let r = c.get(&format!(
        "/api/tasks/{t}/data?type=chunk&number=0&quality=compressed"
    ));
    assert_eq!(r.status, 200);
    assert_eq!(unzip(&r.body).len(), 3);
    let r = c.get(&format!("/api/tasks/{t}/data?type=preview"));
    assert_eq!(r.header("content-type"), Some("image/jpeg"));
    let (w, h) = image::load_from_memory(&r.body)
        .expect("preview decodes")
        .into_rgb8()
        .dimensions();
    assert!(w <= 256 && h <= 256);
    // remote files fetched from a local HTTP server
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let img = recorded_image("img_a.jpg");
    let served = img.clone();
    std::thread::spawn(move || {
        for s in listener.incoming().take(1) {
            let mut s = s.expect("conn");
            use std::io::{Read, Write};
            let mut buf = [0u8; 4096];
            let _ = s.read(&mut buf);
            let _ = write!(s, "HTTP/1.1 200 OK\r\nContent-Type: image/jpeg\r\nContent-Length: {}\r\nConnection: close\r\n\r\n", served.len());
            let _ = s.write_all(&served);
        }
    });
    let r = c.json(
        "POST",
        "/api/tasks",
        &json!({"name": "remote", "labels": [{"name": "a"}]}),
    );
    let t2 = r.json()["id"].as_i64().expect("id");
    let r = c.json(
        "POST",
        &format!("/api/tasks/{t2}/data"),
        &json!({"remote_files": [format!("http://127.0.0.1:{port}/pics/remote.jpg?x=1")]}),
    );
    assert_eq!(r.status, 202, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(
        c.wait(r.json()["rq_id"].as_str().expect("rq"))["status"],
        "finished"
    );
    let r = c.get(&format!(
        "/api/tasks/{t2}/data?type=frame&number=0&quality=original"
    ));
    assert_eq!(r.body, img);
    let meta = c.get(&format!("/api/tasks/{t2}/data/meta")).json();
    assert_eq!(meta["frames"][0]["name"], "remote.jpg");
    // share paths cannot escape the share directory
    let r = c.json(
        "POST",
        "/api/tasks",
        &json!({"name": "escape", "labels": [{"name": "a"}]}),
    );
    let t3 = r.json()["id"].as_i64().expect("id");
    let r = c.json(
        "POST",
        &format!("/api/tasks/{t3}/data"),
        &json!({"server_files": ["../etc"]}),
    );
    assert_eq!(r.status, 400);
    // list options
    let page = c.get("/api/tasks?page_size=1&sort=name").json();
    assert_eq!(page["count"], 3);
    assert_eq!(page["results"][0]["name"], "escape");
    assert!(page["next"]
        .as_str()
        .unwrap_or("")
        .ends_with("/api/tasks?page=2&page_size=1&sort=name"));
    let found = c.get("/api/tasks?search=remo").json();
    assert_eq!(found["count"], 1);
    let filtered = c.get("/api/tasks?filter=%7B%22%3D%3D%22%3A%5B%7B%22var%22%3A%22name%22%7D%2C%22opts%22%5D%7D").json();
    assert_eq!(filtered["results"][0]["id"], t);
}

#[test]
fn sixteen_clients_creating_tasks_at_once_lose_nothing() {
    let srv = TestServer::start();
    let base = srv.base.clone();
    let files = fixture_files();
    let handles: Vec<_> = (0..16)
        .map(|i| {
            let base = base.clone();
            let files = files.clone();
            std::thread::spawn(move || {
                let c = Client::login(&base, "admin", ADMIN_PW);
                let id = c.create_task(
                    &format!("parallel-{i}"),
                    fixture_labels(),
                    &files[i % 4..i % 4 + 1],
                );
                let r = c.json(
                    "PUT",
                    &format!("/api/tasks/{id}/annotations"),
                    &json!({"shapes": [], "tags": [], "tracks": []}),
                );
                assert_eq!(r.status, 200);
                id
            })
        })
        .collect();
    let mut ids: Vec<i64> = handles
        .into_iter()
        .map(|h| h.join().expect("client thread"))
        .collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 16);
    let c = Client::login(&base, "admin", ADMIN_PW);
    let list = c.get("/api/tasks?page_size=100").json();
    assert_eq!(list["count"], 16);
    for t in list["results"].as_array().expect("results") {
        assert_eq!(t["size"], 1, "{t}");
        assert_eq!(t["jobs"]["count"], 1);
    }
}

/// Kills and reaps a child process when dropped (also when a test fails).
struct ChildGuard(std::process::Child);

impl Drop for ChildGuard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Runs a server in a child process (this test binary re-executed), kills it with SIGKILL while a
/// request is running, restarts it on the same data directory and checks the state.
#[test]
fn killed_server_restarts_clean_with_the_running_request_failed() {
    if let Some(dir) = std::env::var_os("CVAT_SERVER_TEST_CHILD") {
        let dir = PathBuf::from(dir);
        let mut cfg = cvat_server::Config::new("127.0.0.1:0", dir.join("data"));
        cfg.admin_password = Some(ADMIN_PW.to_string());
        let s = cvat_server::start(cfg, cvat_formats::builtin_registry().expect("registry"))
            .expect("child server");
        write(&dir.join("port.tmp"), s.addr.port().to_string().as_bytes());
        std::fs::rename(dir.join("port.tmp"), dir.join("port")).expect("port file");
        loop {
            std::thread::sleep(std::time::Duration::from_secs(60));
        }
    }
    let dir = tempfile::tempdir().expect("tmp");
    let spawn = || {
        let _ = std::fs::remove_file(dir.path().join("port"));
        let child = ChildGuard(
            std::process::Command::new(std::env::current_exe().expect("exe"))
                .args([
                    "--exact",
                    "killed_server_restarts_clean_with_the_running_request_failed",
                    "--nocapture",
                ])
                .env("CVAT_SERVER_TEST_CHILD", dir.path())
                .stdout(std::process::Stdio::null())
                .spawn()
                .expect("spawn child server"),
        );
        let start = std::time::Instant::now();
        loop {
            if let Ok(p) = std::fs::read_to_string(dir.path().join("port")) {
                return (child, format!("http://127.0.0.1:{}", p.trim()));
            }
            assert!(start.elapsed().as_secs() < 60, "child server did not start");
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
    };
    // a remote file server that accepts and never answers keeps the data request running
    let stall = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let stall_port = stall.local_addr().expect("addr").port();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for s in stall.incoming().flatten() {
            held.push(s);
        }
    });
    let (mut child, base) = spawn();
    let c = Client::login(&base, "admin", ADMIN_PW);
    let done = c.create_task("before-kill", fixture_labels(), &fixture_files()[..2]);
    let r = c.json(
        "POST",
        "/api/tasks",
        &json!({"name": "killed", "labels": [{"name": "a"}]}),
    );
    let t = r.json()["id"].as_i64().expect("id");
    let r = c.json(
        "POST",
        &format!("/api/tasks/{t}/data"),
        &json!({"remote_files": [format!("http://127.0.0.1:{stall_port}/a.jpg")]}),
    );
    let rq = r.json()["rq_id"].as_str().expect("rq").to_string();
    let enc = rq.replace(':', "%3A");
    let start = std::time::Instant::now();
    while c.get(&format!("/api/requests/{enc}")).json()["status"] != "started" {
        assert!(start.elapsed().as_secs() < 30, "request never started");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    child.0.kill().expect("kill -9");
    let _ = child.0.wait();
    let (child, base) = spawn();
    let c = Client::login(&base, "admin", ADMIN_PW);
    let v = c.get(&format!("/api/requests/{enc}")).json();
    assert_eq!(v["status"], "failed", "{v}");
    assert!(
        v["message"].as_str().unwrap_or("").contains("stopped"),
        "{v}"
    );
    // the finished task is intact; the server works as before
    let meta = c.get(&format!("/api/tasks/{done}/data/meta")).json();
    assert_eq!(meta["size"], 2);
    assert_eq!(c.get(&format!("/api/tasks/{t}")).json()["name"], "killed");
    let again = c.create_task("after-restart", fixture_labels(), &fixture_files()[..1]);
    assert!(again > t);
    drop(child);
}

#[test]
fn format_list_matches_the_real_server_for_shared_names() {
    let srv = TestServer::start();
    let c = Client::login(&srv.base, "admin", ADMIN_PW);
    let ours = c.get("/api/server/annotation/formats").json();
    let real: Value = serde_json::from_slice(
        &std::fs::read(shared("cvat/server-annotation-formats-2.23.1.json")).expect("formats"),
    )
    .expect("json");
    let registry = cvat_formats::builtin_registry().expect("registry");
    for kind in ["importers", "exporters"] {
        let list = ours[kind].as_array().expect("list");
        // built from the registry: one entry per format that can import/export
        let want = registry
            .entries()
            .iter()
            .filter(|e| {
                let i = e.format.info();
                if kind == "importers" {
                    i.can_import
                } else {
                    i.can_export
                }
            })
            .count();
        assert_eq!(list.len(), want, "{kind}");
        let mut shared_names = 0;
        for r in real[kind].as_array().expect("real list") {
            if let Some(o) = list.iter().find(|o| o["name"] == r["name"]) {
                shared_names += 1;
                for k in ["ext", "version", "enabled", "dimension"] {
                    assert_eq!(o[k], r[k], "{kind} {} {k}", r["name"]);
                }
            }
        }
        assert!(
            shared_names >= 8,
            "{kind}: only {shared_names} names in common"
        );
    }
}

#[test]
fn garbage_bodies_never_cause_a_server_error() {
    let srv = TestServer::start();
    let c = Client::login(&srv.base, "admin", ADMIN_PW);
    let t = c.create_task("garbage", fixture_labels(), &fixture_files()[..1]);
    let endpoints = [
        ("POST", "/api/tasks".to_string()),
        ("PATCH", format!("/api/tasks/{t}")),
        ("POST", "/api/projects".to_string()),
        ("PUT", format!("/api/tasks/{t}/annotations")),
        ("PATCH", format!("/api/tasks/{t}/annotations?action=create")),
        ("PATCH", format!("/api/tasks/{t}/annotations?action=update")),
        (
            "POST",
            format!("/api/tasks/{t}/annotations?format=COCO%201.0"),
        ),
        (
            "PUT",
            format!("/api/tasks/{t}/annotations?format=COCO%201.0"),
        ),
        ("POST", format!("/api/tasks/{t}/data")),
        ("POST", "/api/tasks/backup".to_string()),
        ("POST", "/api/auth/login".to_string()),
        ("POST", "/api/auth/access_tokens".to_string()),
    ];
    let bodies: Vec<(&str, Vec<u8>)> = vec![
        ("application/json", b"{".to_vec()),
        ("application/json", b"null".to_vec()),
        ("application/json", b"[]".to_vec()),
        (
            "application/json",
            br#"{"name": 5, "labels": [null], "shapes": 7}"#.to_vec(),
        ),
        (
            "application/json",
            br#"{"shapes": [{"type": "rectangle", "label_id": "x"}], "tracks": [{}]}"#.to_vec(),
        ),
        ("application/json", vec![0xff, 0xfe, 0x00, 0x01]),
        (
            "multipart/form-data; boundary=xyz",
            b"--xyz\r\nnot a part".to_vec(),
        ),
        ("multipart/form-data", b"no boundary".to_vec()),
        ("text/plain", b"hello".to_vec()),
    ];
    for (m, p) in &endpoints {
        for (ct, b) in &bodies {
            let mut h = c.auth();
            h.push(("Content-Type".into(), ct.to_string()));
            let r = send(m, &format!("{}{p}", c.base), &h, Some(b));
            assert!(
                r.status < 500,
                "{m} {p} with {ct} {:?}: {} {}",
                String::from_utf8_lossy(b),
                r.status,
                String::from_utf8_lossy(&r.body)
            );
        }
    }
    // a garbage annotation file fails its import request with a message, not the server
    let r = c.multipart(
        "PUT",
        &format!("/api/tasks/{t}/annotations?format=COCO%201.0"),
        &[Part::file("annotation_file", "a.json", b"{]".to_vec())],
    );
    assert_eq!(r.status, 400, "{}", String::from_utf8_lossy(&r.body));
    // and the task still answers
    assert_eq!(c.get(&format!("/api/tasks/{t}/annotations")).status, 200);
}
