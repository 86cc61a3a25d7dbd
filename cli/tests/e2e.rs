//! End-to-end tests of the client commands against `cvat-cli serve` on a free port with a temporary data
//! directory: every command of the original CLI, checking the server's state afterwards (not just exit
//! codes), plus fault injection through a proxy that drops connections and answers 503.

#[path = "e2e/proxy.rs"]
mod proxy;

use std::io::Read;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_cvat-cli");
const PASSWORD: &str = "e2e-Secret-pw-42";

pub fn shared(rel: &str) -> PathBuf {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared").join(rel);
    assert!(p.exists(), "{} is needed by the end-to-end tests (shared/ beside the checkout)", p.display());
    p
}

fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind a free port");
    l.local_addr().expect("local addr").port()
}

/// A `cvat-cli serve` process, stopped on drop.
pub struct Server {
    child: Child,
    pub port: u16,
    pub dir: tempfile::TempDir,
}

impl Server {
    pub fn start() -> Server {
        let dir = tempfile::tempdir().expect("temp dir");
        let port = free_port();
        let child = Command::new(BIN)
            .args(["serve", "--bind", &format!("127.0.0.1:{port}"), "--data-dir"])
            .arg(dir.path().join("data"))
            .args(["--admin-password", PASSWORD])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start cvat-cli serve");
        let s = Server { child, port, dir };
        let started = Instant::now();
        loop {
            if let Ok(r) = ureq::get(&format!("{}/api/server/about", s.url())).call() {
                if r.status() == 200 {
                    break;
                }
            }
            assert!(started.elapsed() < Duration::from_secs(30), "cvat-cli serve did not come up on port {port}");
            std::thread::sleep(Duration::from_millis(50));
        }
        s
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// A GET on the API as admin (Basic auth), parsed as JSON.
    pub fn api(&self, path: &str) -> serde_json::Value {
        let r = ureq::get(&format!("{}{path}", self.url()))
            .set("Authorization", &basic())
            .call()
            .unwrap_or_else(|e| panic!("GET {path}: {e}"));
        r.into_json().expect("JSON answer")
    }

    pub fn api_bytes(&self, path: &str) -> Vec<u8> {
        let r = ureq::get(&format!("{}{path}", self.url()))
            .set("Authorization", &basic())
            .call()
            .unwrap_or_else(|e| panic!("GET {path}: {e}"));
        let mut v = Vec::new();
        r.into_reader().read_to_end(&mut v).expect("read body");
        v
    }

    pub fn api_status(&self, path: &str) -> u16 {
        match ureq::get(&format!("{}{path}", self.url())).set("Authorization", &basic()).call() {
            Ok(r) => r.status(),
            Err(ureq::Error::Status(s, _)) => s,
            Err(e) => panic!("GET {path}: {e}"),
        }
    }

    /// Runs `cvat-cli --auth admin:PW --server-host 127.0.0.1 --server-port PORT <args>`.
    pub fn cli(&self, args: &[&str]) -> Output {
        self.cli_port(self.port, args)
    }

    pub fn cli_port(&self, port: u16, args: &[&str]) -> Output {
        Command::new(BIN)
            .args(["--auth", &format!("admin:{PASSWORD}"), "--server-host", "127.0.0.1", "--server-port"])
            .arg(port.to_string())
            .args(args)
            .env_remove("CVAT_ACCESS_TOKEN")
            .env_remove("PASS")
            .output()
            .expect("run cvat-cli")
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn basic() -> String {
    use base64::Engine;
    format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(format!("admin:{PASSWORD}")))
}

pub fn ok(out: &Output) -> String {
    assert!(
        out.status.success(),
        "cvat-cli failed ({:?})\nstdout:\n{}\nstderr:\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

const RICH: &str = "cvat/exports/rich-A";

fn rich_images() -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(shared(&format!("{RICH}/images")))
        .expect("rich-A images")
        .map(|e| e.expect("dir entry").path())
        .collect();
    v.sort();
    v
}

/// rich-A's labels in the form `create --labels` takes.
fn rich_labels_file(dir: &Path) -> PathBuf {
    let v: serde_json::Value =
        serde_json::from_slice(&std::fs::read(shared(&format!("{RICH}/labels.json"))).expect("labels.json")).expect("json");
    let strip = |l: &serde_json::Value| -> serde_json::Value {
        let mut o = serde_json::Map::new();
        for k in ["name", "color", "type", "svg"] {
            if let Some(x) = l.get(k) {
                o.insert(k.into(), x.clone());
            }
        }
        let attrs: Vec<serde_json::Value> = l["attributes"]
            .as_array()
            .map(|a| {
                a.iter()
                    .map(|x| {
                        serde_json::json!({"name": x["name"], "mutable": x["mutable"], "input_type": x["input_type"],
                            "default_value": x["default_value"], "values": x["values"]})
                    })
                    .collect()
            })
            .unwrap_or_default();
        o.insert("attributes".into(), attrs.into());
        serde_json::Value::Object(o)
    };
    let labels: Vec<serde_json::Value> = v["results"]
        .as_array()
        .expect("results")
        .iter()
        .map(|l| {
            let mut top = strip(l);
            if let Some(subs) = l.get("sublabels").and_then(|s| s.as_array()).filter(|s| !s.is_empty()) {
                top["sublabels"] = subs.iter().map(strip).collect::<Vec<_>>().into();
                // the svg refers to sub-labels by id; ids are new on this server, so leave the layout out
                if let Some(o) = top.as_object_mut() {
                    o.remove("svg");
                }
            }
            top
        })
        .collect();
    let p = dir.join("labels.json");
    std::fs::write(&p, serde_json::to_vec(&labels).expect("json")).expect("write labels");
    p
}

fn created_id(stdout: &str) -> i64 {
    stdout
        .lines()
        .find_map(|l| l.strip_prefix("Created task id ").or_else(|| l.strip_prefix("Created task ID ")))
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or_else(|| panic!("no task id in {stdout:?}"))
}

/// Creates rich-A's task (labels and its six images) through the CLI; returns the id.
fn create_rich(s: &Server, extra: &[&str]) -> i64 {
    let labels = rich_labels_file(s.dir.path());
    let images = rich_images();
    let mut args: Vec<String> = vec!["create".into(), "rich".into(), "--labels".into(), labels.display().to_string()];
    args.extend(extra.iter().map(|s| s.to_string()));
    args.push("local".into());
    args.extend(images.iter().map(|p| p.display().to_string()));
    let argv: Vec<&str> = args.iter().map(|s| s.as_str()).collect();
    created_id(&ok(&s.cli(&argv)))
}

fn counts(ann: &serde_json::Value) -> (usize, usize, usize) {
    let n = |k: &str| ann[k].as_array().map(|a| a.len()).unwrap_or(0);
    (n("tags"), n("shapes"), n("tracks"))
}

#[test]
fn create_ls_frames_delete_against_the_local_server() {
    let s = Server::start();
    let id = create_rich(&s, &["--image_quality", "80", "--segment_size", "4", "--overlap", "1"]);

    // the server has the task with its six frames, in file-name order, with their real sizes
    let task = s.api(&format!("/api/tasks/{id}"));
    assert_eq!(task["size"], 6, "{task}");
    assert_eq!(task["image_quality"], 80);
    let meta = s.api(&format!("/api/tasks/{id}/data/meta"));
    let names: Vec<&str> = meta["frames"].as_array().unwrap().iter().map(|f| f["name"].as_str().unwrap()).collect();
    assert_eq!(names[0], "frame_00_640x480.jpg");
    assert_eq!(meta["frames"][4]["width"], 1280);
    let jobs = s.api(&format!("/api/jobs?task_id={id}"));
    assert_eq!(jobs["count"], 2, "segment_size 4 with overlap 1 over 6 frames gives 2 jobs: {jobs}");

    // ls: ids only, JSON, CSV
    let out = ok(&s.cli(&["ls"]));
    assert!(out.lines().any(|l| l.trim() == id.to_string()), "{out}");
    let json: serde_json::Value = serde_json::from_str(&ok(&s.cli(&["ls", "--json"]))).expect("ls --json is JSON");
    assert!(json.as_array().unwrap().iter().any(|t| t["id"] == id && t["name"] == "rich"));
    let csv = ok(&s.cli(&["ls", "--csv"]));
    assert!(csv.starts_with("id,name,status"), "{csv}");
    assert!(csv.contains(&format!("{id},rich,")), "{csv}");

    // frames: original quality is byte-identical to the uploaded files; ranges work
    let outdir = s.dir.path().join("frames");
    std::fs::create_dir(&outdir).unwrap();
    ok(&s.cli(&["frames", &id.to_string(), "0", "2-3", "--outdir", outdir.to_str().unwrap()]));
    let images = rich_images();
    for f in [0usize, 2, 3] {
        let got = std::fs::read(outdir.join(format!("task_{id}_frame_{f:06}.jpg"))).expect("frame file");
        assert_eq!(got, std::fs::read(&images[f]).unwrap(), "frame {f} differs from the upload");
    }
    assert!(!outdir.join(format!("task_{id}_frame_000001.jpg")).exists());
    // compressed: what the server serves, byte for byte
    let cdir = s.dir.path().join("compressed");
    std::fs::create_dir(&cdir).unwrap();
    ok(&s.cli(&["frames", &id.to_string(), "--all", "--quality", "compressed", "--outdir", cdir.to_str().unwrap()]));
    for f in 0..6 {
        let got = std::fs::read(cdir.join(format!("task_{id}_frame_{f:06}.jpg"))).expect("compressed frame");
        let served = s.api_bytes(&format!("/api/tasks/{id}/data/?number={f}&quality=compressed&type=frame"));
        assert_eq!(got, served, "compressed frame {f}");
        assert_eq!(&got[..2], &[0xFF, 0xD8], "compressed frame {f} is a JPEG");
    }
    // a frame that does not exist: exit 1, the others still saved
    let out = s.cli(&["frames", &id.to_string(), "5", "99", "--outdir", outdir.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(outdir.join(format!("task_{id}_frame_000005.jpg")).exists());

    // delete: the task is gone; a missing id fails with exit 1 and says so
    ok(&s.cli(&["delete", &id.to_string()]));
    assert_eq!(s.api_status(&format!("/api/tasks/{id}")), 404);
    let out = s.cli(&["delete", &id.to_string()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("not found"), "{}", stderr(&out));
}

#[test]
fn annotations_survive_upload_dump_and_backup_import() {
    let s = Server::start();
    let xml = shared(&format!("{RICH}/export/CVAT_for_images_1.1/annotations.xml"));
    let id = create_rich(&s, &["--annotation_path", xml.to_str().unwrap(), "--annotation_format", "CVAT 1.1"]);
    let ann = s.api(&format!("/api/tasks/{id}/annotations"));
    // what the real server kept when it re-imported the same file
    let real: serde_json::Value =
        serde_json::from_slice(&std::fs::read(shared(&format!("{RICH}/reimport/CVAT_for_images_1.1.json"))).unwrap()).unwrap();
    assert_eq!(counts(&ann), counts(&real), "annotations after create --annotation_path");

    // dump in three formats: real ZIPs with the expected members
    for (fmt, member) in [
        ("CVAT for images 1.1", "annotations.xml"),
        ("COCO 1.0", "annotations/instances_default.json"),
        ("YOLO 1.1", "obj.names"),
    ] {
        let dest = s.dir.path().join(format!("{}.zip", fmt.replace(' ', "_")));
        ok(&s.cli(&["dump", "--format", fmt, &id.to_string(), dest.to_str().unwrap()]));
        let zip = zip::ZipArchive::new(std::fs::File::open(&dest).unwrap()).expect("dump is a ZIP");
        assert!(zip.file_names().any(|n| n == member), "{fmt}: {:?}", zip.file_names().collect::<Vec<_>>());
    }

    // upload → dump: a second task gets the dumped COCO back with the same boxes and polygons
    let coco = s.dir.path().join("COCO_1.0.zip");
    let id2 = create_rich(&s, &[]);
    ok(&s.cli(&["upload", "--format", "COCO 1.0", &id2.to_string(), coco.to_str().unwrap()]));
    let a2 = s.api(&format!("/api/tasks/{id2}/annotations"));
    let coco_real: serde_json::Value =
        serde_json::from_slice(&std::fs::read(shared(&format!("{RICH}/reimport/COCO_1.0.json"))).unwrap()).unwrap();
    let kinds = |a: &serde_json::Value| {
        let mut v: Vec<String> = a["shapes"].as_array().unwrap().iter().map(|s| s["type"].as_str().unwrap().to_string()).collect();
        v.sort();
        v
    };
    assert!(!kinds(&a2).is_empty(), "upload of the dumped COCO brought nothing back");
    assert!(kinds(&a2).iter().all(|k| ["rectangle", "polygon", "mask"].contains(&k.as_str())), "{:?}", kinds(&a2));
    let _ = coco_real;

    // backup → import gives an equal task
    let backup = s.dir.path().join("backup.zip");
    ok(&s.cli(&["export", &id.to_string(), backup.to_str().unwrap()]));
    let out = ok(&s.cli(&["import", backup.to_str().unwrap()]));
    let id3 = created_id(&out);
    assert_ne!(id3, id);
    let a3 = s.api(&format!("/api/tasks/{id3}/annotations"));
    assert_eq!(strip_ids(&a3), strip_ids(&ann), "restored annotations differ");
    let t1 = s.api(&format!("/api/tasks/{id}"));
    let t3 = s.api(&format!("/api/tasks/{id3}"));
    assert_eq!(t1["size"], t3["size"]);
    let names = |id: i64| {
        let mut v: Vec<String> = s.api(&format!("/api/labels?task_id={id}&page_size=100"))["results"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| l["name"].as_str().unwrap().to_string())
            .collect();
        v.sort();
        v
    };
    assert_eq!(names(id), names(id3));
}

/// Annotations without ids and label ids (which differ between tasks), for comparing tasks.
fn strip_ids(v: &serde_json::Value) -> serde_json::Value {
    use serde_json::Value;
    match v {
        Value::Object(o) => Value::Object(
            o.iter()
                .filter(|(k, _)| !["id", "label_id", "spec_id"].contains(&k.as_str()))
                .map(|(k, x)| (k.clone(), strip_ids(x)))
                .collect(),
        ),
        Value::Array(a) => Value::Array(a.iter().map(strip_ids).collect()),
        other => other.clone(),
    }
}

#[test]
fn upload_checks_the_file_first_and_refuses_bad_ones() {
    let s = Server::start();
    let id = create_rich(&s, &[]);
    let bad = shared("formats/coco/malformed/invalid_polygon_odd_points.json");
    let out = s.cli(&["upload", "--format", "COCO 1.0", &id.to_string(), bad.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("nothing was uploaded"), "{err}");
    assert!(err.contains("$.annotations"), "diagnostics carry a JSON path: {err}");
    // nothing reached the server
    let ann = s.api(&format!("/api/tasks/{id}/annotations"));
    assert_eq!(counts(&ann), (0, 0, 0));
    let requests = s.api("/api/requests");
    let imports = requests["results"].as_array().map(|a| a.iter().filter(|r| r["operation"]["type"].as_str().unwrap_or("").contains("import")).count());
    assert_eq!(imports.unwrap_or(0), 0, "an import request was made: {requests}");
}

#[test]
fn old_scripts_keep_working_and_errors_are_clear() {
    let s = Server::start();
    // the CVAT 1.x format names still resolve
    let id = create_rich(&s, &[]);
    let dest = s.dir.path().join("old.zip");
    ok(&s.cli(&["dump", "--format", "CVAT XML 1.1 for images", &id.to_string(), dest.to_str().unwrap()]));
    assert!(dest.is_file());
    // unknown format: exit 1, the server's message and a hint, and no file left behind
    let dest = s.dir.path().join("nope.zip");
    let out = s.cli(&["dump", "--format", "No Such Format 9.9", &id.to_string(), dest.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("hint:"), "{}", stderr(&out));
    assert!(!dest.exists());
    // wrong password: a clear message, exit 1
    let out = Command::new(BIN)
        .args(["--auth", "admin:wrong", "--server-host", "127.0.0.1", "--server-port", &s.port.to_string(), "ls"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("login as \"admin\" failed"), "{}", stderr(&out));
    // --debug shows the HTTP trace without secrets
    let out = s.cli(&["--debug", "ls"]);
    let err = stderr(&out);
    assert!(err.contains("> GET") && err.contains("/api/tasks"), "{err}");
    assert!(!err.contains(PASSWORD), "the password leaked into --debug output");
    assert!(err.contains("<redacted>"));
    for line in err.lines().filter(|l| l.to_ascii_lowercase().contains("token ") || l.to_ascii_lowercase().contains("cookie")) {
        assert!(line.contains("<redacted>"), "secret in --debug line: {line}");
    }
    // git integration options are refused with an explanation
    let out = s.cli(&["create", "x", "--labels", "[{\"name\":\"a\"}]", "--dataset_repository_url", "https://x/y", "local", "a.jpg"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("git integration"), "{}", stderr(&out));
}

#[test]
fn create_deletes_the_task_when_the_annotations_fail() {
    let s = Server::start();
    let bad = shared("formats/coco/malformed/undeclared_label.json");
    let before = s.api("/api/tasks")["count"].as_i64().unwrap_or(0);
    let labels = rich_labels_file(s.dir.path());
    let img = rich_images()[0].display().to_string();
    let out = s.cli(&[
        "create", "doomed", "--labels", labels.to_str().unwrap(), "--annotation_path", bad.to_str().unwrap(),
        "--annotation_format", "COCO 1.0", "local", &img,
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert_eq!(s.api("/api/tasks")["count"].as_i64().unwrap_or(0), before, "the failed task was not deleted");
    // with --keep-on-error it stays
    let out = s.cli(&[
        "create", "kept", "--keep-on-error", "--labels", labels.to_str().unwrap(), "--annotation_path",
        bad.to_str().unwrap(), "--annotation_format", "COCO 1.0", "local", &img,
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(s.api("/api/tasks")["count"].as_i64().unwrap_or(0), before + 1);
}

#[test]
fn faults_do_not_change_results() {
    let s = Server::start();
    let id = create_rich(&s, &[]);
    ok(&s.cli(&["upload", "--format", "CVAT 1.1", &id.to_string(),
        shared(&format!("{RICH}/export/CVAT_for_images_1.1/annotations.xml")).to_str().unwrap()]));
    let clean = s.dir.path().join("clean.xml.zip");
    ok(&s.cli(&["dump", &id.to_string(), clean.to_str().unwrap()]));

    let p = proxy::Proxy::start(s.port, 0.10, 0.10, 7);
    // create (local) through the proxy
    let labels = rich_labels_file(s.dir.path());
    let mut args: Vec<String> = vec!["create".into(), "faulty".into(), "--labels".into(), labels.display().to_string(), "local".into()];
    args.extend(rich_images().iter().map(|p| p.display().to_string()));
    let argv: Vec<&str> = args.iter().map(|s| s.as_str()).collect();
    let id2 = created_id(&ok(&s.cli_port(p.port, &argv)));
    let meta = s.api(&format!("/api/tasks/{id2}/data/meta"));
    assert_eq!(meta["frames"].as_array().map(|a| a.len()), Some(6));
    // frames through the proxy: byte-identical
    let outdir = s.dir.path().join("faulty-frames");
    std::fs::create_dir(&outdir).unwrap();
    ok(&s.cli_port(p.port, &["frames", &id2.to_string(), "--all", "--outdir", outdir.to_str().unwrap()]));
    for (f, img) in rich_images().iter().enumerate() {
        let got = std::fs::read(outdir.join(format!("task_{id2}_frame_{f:06}.jpg"))).expect("frame");
        assert_eq!(got, std::fs::read(img).unwrap(), "frame {f} through the faulty proxy");
    }
    // dump through the proxy: the same annotations as without it
    let faulty = s.dir.path().join("faulty.xml.zip");
    ok(&s.cli_port(p.port, &["dump", &id.to_string(), faulty.to_str().unwrap()]));
    let read = |p: &Path| {
        let mut z = zip::ZipArchive::new(std::fs::File::open(p).unwrap()).unwrap();
        let mut s = String::new();
        z.by_name("annotations.xml").unwrap().read_to_string(&mut s).unwrap();
        // <dumped> carries the export time
        s.lines().filter(|l| !l.contains("<dumped>")).collect::<Vec<_>>().join("\n")
    };
    assert_eq!(read(&faulty), read(&clean));
    let (dropped, refused) = p.stats();
    assert!(dropped + refused > 0, "the proxy injected no fault; the test proved nothing");
}

#[test]
fn an_interrupted_download_leaves_no_file() {
    let s = Server::start();
    let id = create_rich(&s, &[]);
    // a proxy that cuts every response after 200 bytes: the frame download must fail and leave nothing
    let p = proxy::Proxy::truncating(s.port, 200);
    let outdir = s.dir.path().join("cut");
    std::fs::create_dir(&outdir).unwrap();
    // login and about go through with short bodies; the frames are larger than 200 bytes
    let out = s.cli_port(p.port, &["frames", &id.to_string(), "0", "--outdir", outdir.to_str().unwrap()]);
    assert_ne!(out.status.code(), Some(0));
    let left: Vec<_> = std::fs::read_dir(&outdir).unwrap().collect();
    assert!(left.is_empty(), "files left behind: {left:?}");
}
