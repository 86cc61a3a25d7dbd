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
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../shared")
        .join(rel);
    assert!(
        p.exists(),
        "{} is needed by the end-to-end tests (shared/ beside the checkout)",
        p.display()
    );
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
        Server::start_with(&[])
    }

    /// Starts the server with extra `serve` arguments (e.g. `--share-dir DIR`).
    pub fn start_with(extra: &[&str]) -> Server {
        let dir = tempfile::tempdir().expect("temp dir");
        let port = free_port();
        let child = Command::new(BIN)
            .args([
                "serve",
                "--bind",
                &format!("127.0.0.1:{port}"),
                "--data-dir",
            ])
            .arg(dir.path().join("data"))
            .args(["--admin-password", PASSWORD])
            .args(extra)
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
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "cvat-cli serve did not come up on port {port}"
            );
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

    /// A POST of JSON on the API as admin (Basic auth), parsed as JSON.
    pub fn api_post(&self, path: &str, body: serde_json::Value) -> serde_json::Value {
        let r = ureq::post(&format!("{}{path}", self.url()))
            .set("Authorization", &basic())
            .send_json(body)
            .unwrap_or_else(|e| panic!("POST {path}: {e}"));
        r.into_json().expect("JSON answer")
    }

    pub fn api_status(&self, path: &str) -> u16 {
        match ureq::get(&format!("{}{path}", self.url()))
            .set("Authorization", &basic())
            .call()
        {
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
            .args([
                "--auth",
                &format!("admin:{PASSWORD}"),
                "--server-host",
                "127.0.0.1",
                "--server-port",
            ])
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
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("admin:{PASSWORD}"))
    )
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
    let v: serde_json::Value = serde_json::from_slice(
        &std::fs::read(shared(&format!("{RICH}/labels.json"))).expect("labels.json"),
    )
    .expect("json");
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
            if let Some(subs) = l
                .get("sublabels")
                .and_then(|s| s.as_array())
                .filter(|s| !s.is_empty())
            {
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
        .find_map(|l| {
            l.strip_prefix("Created task id ")
                .or_else(|| l.strip_prefix("Created task ID "))
        })
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or_else(|| panic!("no task id in {stdout:?}"))
}

/// Creates rich-A's task (labels and its six images) through the CLI; returns the id.
fn create_rich(s: &Server, extra: &[&str]) -> i64 {
    let labels = rich_labels_file(s.dir.path());
    let images = rich_images();
    let mut args: Vec<String> = vec![
        "create".into(),
        "rich".into(),
        "--labels".into(),
        labels.display().to_string(),
    ];
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
    let id = create_rich(
        &s,
        &[
            "--image_quality",
            "80",
            "--segment_size",
            "4",
            "--overlap",
            "1",
        ],
    );

    // the server has the task with its six frames, in file-name order, with their real sizes
    let task = s.api(&format!("/api/tasks/{id}"));
    assert_eq!(task["size"], 6, "{task}");
    assert_eq!(task["image_quality"], 80);
    let meta = s.api(&format!("/api/tasks/{id}/data/meta"));
    let names: Vec<&str> = meta["frames"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["name"].as_str().unwrap())
        .collect();
    assert_eq!(names[0], "frame_00_640x480.jpg");
    assert_eq!(meta["frames"][4]["width"], 1280);
    let jobs = s.api(&format!("/api/jobs?task_id={id}"));
    assert_eq!(
        jobs["count"], 2,
        "segment_size 4 with overlap 1 over 6 frames gives 2 jobs: {jobs}"
    );

    // ls: ids only, JSON, CSV
    let out = ok(&s.cli(&["ls"]));
    assert!(out.lines().any(|l| l.trim() == id.to_string()), "{out}");
    let json: serde_json::Value =
        serde_json::from_str(&ok(&s.cli(&["ls", "--json"]))).expect("ls --json is JSON");
    assert!(json
        .as_array()
        .unwrap()
        .iter()
        .any(|t| t["id"] == id && t["name"] == "rich"));
    let csv = ok(&s.cli(&["ls", "--csv"]));
    assert!(csv.starts_with("id,name,status"), "{csv}");
    assert!(csv.contains(&format!("{id},rich,")), "{csv}");

    // frames: original quality is byte-identical to the uploaded files; ranges work
    let outdir = s.dir.path().join("frames");
    std::fs::create_dir(&outdir).unwrap();
    ok(&s.cli(&[
        "frames",
        &id.to_string(),
        "0",
        "2-3",
        "--outdir",
        outdir.to_str().unwrap(),
    ]));
    let images = rich_images();
    for f in [0usize, 2, 3] {
        let got =
            std::fs::read(outdir.join(format!("task_{id}_frame_{f:06}.jpg"))).expect("frame file");
        assert_eq!(
            got,
            std::fs::read(&images[f]).unwrap(),
            "frame {f} differs from the upload"
        );
    }
    assert!(!outdir.join(format!("task_{id}_frame_000001.jpg")).exists());
    // compressed: what the server serves, byte for byte
    let cdir = s.dir.path().join("compressed");
    std::fs::create_dir(&cdir).unwrap();
    ok(&s.cli(&[
        "frames",
        &id.to_string(),
        "--all",
        "--quality",
        "compressed",
        "--outdir",
        cdir.to_str().unwrap(),
    ]));
    for f in 0..6 {
        let got = std::fs::read(cdir.join(format!("task_{id}_frame_{f:06}.jpg")))
            .expect("compressed frame");
        let served = s.api_bytes(&format!(
            "/api/tasks/{id}/data/?number={f}&quality=compressed&type=frame"
        ));
        assert_eq!(got, served, "compressed frame {f}");
        assert_eq!(&got[..2], &[0xFF, 0xD8], "compressed frame {f} is a JPEG");
    }
    // a frame that does not exist: exit 1, the others still saved
    let out = s.cli(&[
        "frames",
        &id.to_string(),
        "5",
        "99",
        "--outdir",
        outdir.to_str().unwrap(),
    ]);
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
    let xml = shared(&format!(
        "{RICH}/export/CVAT_for_images_1.1/annotations.xml"
    ));
    let id = create_rich(
        &s,
        &[
            "--annotation_path",
            xml.to_str().unwrap(),
            "--annotation_format",
            "CVAT 1.1",
        ],
    );
    let ann = s.api(&format!("/api/tasks/{id}/annotations"));
    // what the real server kept when it re-imported the same file
    let real: serde_json::Value = serde_json::from_slice(
        &std::fs::read(shared(&format!("{RICH}/reimport/CVAT_for_images_1.1.json"))).unwrap(),
    )
    .unwrap();
    assert_eq!(
        counts(&ann),
        counts(&real),
        "annotations after create --annotation_path"
    );

    // dump in three formats: real ZIPs with the expected members
    for (fmt, member) in [
        ("CVAT for images 1.1", "annotations.xml"),
        ("COCO 1.0", "annotations/instances_default.json"),
        ("YOLO 1.1", "obj.names"),
    ] {
        let dest = s.dir.path().join(format!("{}.zip", fmt.replace(' ', "_")));
        ok(&s.cli(&[
            "dump",
            "--format",
            fmt,
            &id.to_string(),
            dest.to_str().unwrap(),
        ]));
        let zip = zip::ZipArchive::new(std::fs::File::open(&dest).unwrap()).expect("dump is a ZIP");
        assert!(
            zip.file_names().any(|n| n == member),
            "{fmt}: {:?}",
            zip.file_names().collect::<Vec<_>>()
        );
    }

    // upload → dump: a second task gets the dumped COCO back with the same boxes and polygons
    let coco = s.dir.path().join("COCO_1.0.zip");
    let id2 = create_rich(&s, &[]);
    ok(&s.cli(&[
        "upload",
        "--format",
        "COCO 1.0",
        &id2.to_string(),
        coco.to_str().unwrap(),
    ]));
    let a2 = s.api(&format!("/api/tasks/{id2}/annotations"));
    let coco_real: serde_json::Value = serde_json::from_slice(
        &std::fs::read(shared(&format!("{RICH}/reimport/COCO_1.0.json"))).unwrap(),
    )
    .unwrap();
    let kinds = |a: &serde_json::Value| {
        let mut v: Vec<String> = a["shapes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["type"].as_str().unwrap().to_string())
            .collect();
        v.sort();
        v
    };
    assert!(
        !kinds(&a2).is_empty(),
        "upload of the dumped COCO brought nothing back"
    );
    assert!(
        kinds(&a2)
            .iter()
            .all(|k| ["rectangle", "polygon", "mask"].contains(&k.as_str())),
        "{:?}",
        kinds(&a2)
    );
    let _ = coco_real;

    // backup → import gives an equal task
    let backup = s.dir.path().join("backup.zip");
    ok(&s.cli(&["export", &id.to_string(), backup.to_str().unwrap()]));
    let out = ok(&s.cli(&["import", backup.to_str().unwrap()]));
    let id3 = created_id(&out);
    assert_ne!(id3, id);
    let a3 = s.api(&format!("/api/tasks/{id3}/annotations"));
    assert_eq!(
        strip_ids(&a3),
        strip_ids(&ann),
        "restored annotations differ"
    );
    let t1 = s.api(&format!("/api/tasks/{id}"));
    let t3 = s.api(&format!("/api/tasks/{id3}"));
    assert_eq!(t1["size"], t3["size"]);
    let names = |id: i64| {
        let mut v: Vec<String> = s.api(&format!("/api/labels?task_id={id}&page_size=100"))
            ["results"]
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
    let out = s.cli(&[
        "upload",
        "--format",
        "COCO 1.0",
        &id.to_string(),
        bad.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("nothing was uploaded"), "{err}");
    assert!(
        err.contains("$.annotations"),
        "diagnostics carry a JSON path: {err}"
    );
    // nothing reached the server
    let ann = s.api(&format!("/api/tasks/{id}/annotations"));
    assert_eq!(counts(&ann), (0, 0, 0));
    let requests = s.api("/api/requests");
    let imports = requests["results"].as_array().map(|a| {
        a.iter()
            .filter(|r| {
                r["operation"]["type"]
                    .as_str()
                    .unwrap_or("")
                    .contains("import")
            })
            .count()
    });
    assert_eq!(
        imports.unwrap_or(0),
        0,
        "an import request was made: {requests}"
    );
}

#[test]
fn old_scripts_keep_working_and_errors_are_clear() {
    let s = Server::start();
    // the CVAT 1.x format names still resolve
    let id = create_rich(&s, &[]);
    let dest = s.dir.path().join("old.zip");
    ok(&s.cli(&[
        "dump",
        "--format",
        "CVAT XML 1.1 for images",
        &id.to_string(),
        dest.to_str().unwrap(),
    ]));
    assert!(dest.is_file());
    // unknown format: exit 1, the server's message and a hint, and no file left behind
    let dest = s.dir.path().join("nope.zip");
    let out = s.cli(&[
        "dump",
        "--format",
        "No Such Format 9.9",
        &id.to_string(),
        dest.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("hint:"), "{}", stderr(&out));
    assert!(!dest.exists());
    // wrong password: a clear message, exit 1
    let out = Command::new(BIN)
        .args([
            "--auth",
            "admin:wrong",
            "--server-host",
            "127.0.0.1",
            "--server-port",
            &s.port.to_string(),
            "ls",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("login as \"admin\" failed"),
        "{}",
        stderr(&out)
    );
    // --debug shows the HTTP trace without secrets
    let out = s.cli(&["--debug", "ls"]);
    let err = stderr(&out);
    assert!(err.contains("> GET") && err.contains("/api/tasks"), "{err}");
    assert!(
        !err.contains(PASSWORD),
        "the password leaked into --debug output"
    );
    assert!(err.contains("<redacted>"));
    for line in err.lines().filter(|l| {
        l.to_ascii_lowercase().contains("token ") || l.to_ascii_lowercase().contains("cookie")
    }) {
        assert!(
            line.contains("<redacted>"),
            "secret in --debug line: {line}"
        );
    }
    // git integration options are refused with an explanation
    let out = s.cli(&[
        "create",
        "x",
        "--labels",
        "[{\"name\":\"a\"}]",
        "--dataset_repository_url",
        "https://x/y",
        "local",
        "a.jpg",
    ]);
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
        "create",
        "doomed",
        "--labels",
        labels.to_str().unwrap(),
        "--annotation_path",
        bad.to_str().unwrap(),
        "--annotation_format",
        "COCO 1.0",
        "local",
        &img,
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert_eq!(
        s.api("/api/tasks")["count"].as_i64().unwrap_or(0),
        before,
        "the failed task was not deleted"
    );
    // with --keep-on-error it stays
    let out = s.cli(&[
        "create",
        "kept",
        "--keep-on-error",
        "--labels",
        labels.to_str().unwrap(),
        "--annotation_path",
        bad.to_str().unwrap(),
        "--annotation_format",
        "COCO 1.0",
        "local",
        &img,
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        s.api("/api/tasks")["count"].as_i64().unwrap_or(0),
        before + 1
    );
}

#[test]
fn faults_do_not_change_results() {
    let s = Server::start();
    let id = create_rich(&s, &[]);
    ok(&s.cli(&[
        "upload",
        "--format",
        "CVAT 1.1",
        &id.to_string(),
        shared(&format!(
            "{RICH}/export/CVAT_for_images_1.1/annotations.xml"
        ))
        .to_str()
        .unwrap(),
    ]));
    let clean = s.dir.path().join("clean.xml.zip");
    ok(&s.cli(&["dump", &id.to_string(), clean.to_str().unwrap()]));

    let p = proxy::Proxy::start(s.port, 0.10, 0.10, 7);
    // create (local) through the proxy
    let labels = rich_labels_file(s.dir.path());
    let mut args: Vec<String> = vec![
        "create".into(),
        "faulty".into(),
        "--labels".into(),
        labels.display().to_string(),
        "local".into(),
    ];
    args.extend(rich_images().iter().map(|p| p.display().to_string()));
    let argv: Vec<&str> = args.iter().map(|s| s.as_str()).collect();
    let id2 = created_id(&ok(&s.cli_port(p.port, &argv)));
    let meta = s.api(&format!("/api/tasks/{id2}/data/meta"));
    assert_eq!(meta["frames"].as_array().map(|a| a.len()), Some(6));
    // frames through the proxy: byte-identical
    let outdir = s.dir.path().join("faulty-frames");
    std::fs::create_dir(&outdir).unwrap();
    ok(&s.cli_port(
        p.port,
        &[
            "frames",
            &id2.to_string(),
            "--all",
            "--outdir",
            outdir.to_str().unwrap(),
        ],
    ));
    for (f, img) in rich_images().iter().enumerate() {
        let got =
            std::fs::read(outdir.join(format!("task_{id2}_frame_{f:06}.jpg"))).expect("frame");
        assert_eq!(
            got,
            std::fs::read(img).unwrap(),
            "frame {f} through the faulty proxy"
        );
    }
    // dump through the proxy: the same annotations as without it
    let faulty = s.dir.path().join("faulty.xml.zip");
    ok(&s.cli_port(p.port, &["dump", &id.to_string(), faulty.to_str().unwrap()]));
    let read = |p: &Path| {
        let mut z = zip::ZipArchive::new(std::fs::File::open(p).unwrap()).unwrap();
        let mut s = String::new();
        z.by_name("annotations.xml")
            .unwrap()
            .read_to_string(&mut s)
            .unwrap();
        // <dumped> carries the export time
        s.lines()
            .filter(|l| !l.contains("<dumped>"))
            .collect::<Vec<_>>()
            .join("\n")
    };
    assert_eq!(read(&faulty), read(&clean));
    let (dropped, refused) = p.stats();
    assert!(
        dropped + refused > 0,
        "the proxy injected no fault; the test proved nothing"
    );
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
    let out = s.cli_port(
        p.port,
        &[
            "frames",
            &id.to_string(),
            "0",
            "--outdir",
            outdir.to_str().unwrap(),
        ],
    );
    assert_ne!(out.status.code(), Some(0));
    let left: Vec<_> = std::fs::read_dir(&outdir).unwrap().collect();
    assert!(left.is_empty(), "files left behind: {left:?}");
}

/// The id of every frame's file name, in the order of the task's data/meta.
fn frame_names(s: &Server, id: i64) -> Vec<String> {
    let meta = s.api(&format!("/api/tasks/{id}/data/meta"));
    meta["frames"]
        .as_array()
        .unwrap_or_else(|| panic!("no frames in {meta}"))
        .iter()
        .map(|f| f["name"].as_str().unwrap_or("").to_string())
        .collect()
}

/// Downloads every frame (original quality) through the CLI and compares it with `expected`, byte for byte.
fn assert_frames(s: &Server, id: i64, expected: &[PathBuf]) {
    let outdir = s.dir.path().join(format!("frames-{id}"));
    std::fs::create_dir_all(&outdir).unwrap();
    ok(&s.cli(&[
        "frames",
        &id.to_string(),
        "--all",
        "--outdir",
        outdir.to_str().unwrap(),
    ]));
    let n = std::fs::read_dir(&outdir).unwrap().count();
    assert_eq!(n, expected.len(), "task {id}: {n} frames saved");
    for (f, img) in expected.iter().enumerate() {
        let got =
            std::fs::read(outdir.join(format!("task_{id}_frame_{f:06}.jpg"))).expect("frame file");
        assert_eq!(
            got,
            std::fs::read(img).unwrap(),
            "task {id} frame {f} is not {}",
            img.display()
        );
    }
}

#[test]
fn every_create_option_reaches_the_server() {
    let s = Server::start();
    let project = s.api_post(
        "/api/projects",
        serde_json::json!({"name": "proj", "labels": [{"name": "car", "attributes": []}, {"name": "person", "attributes": []}]}),
    );
    let pid = project["id"]
        .as_i64()
        .unwrap_or_else(|| panic!("no project id in {project}"));
    // a list file naming the six images in reverse order; `predefined` keeps that order
    let images = rich_images();
    let list = s.dir.path().join("files.txt");
    let text: Vec<String> = images
        .iter()
        .rev()
        .map(|p| p.display().to_string())
        .collect();
    std::fs::write(&list, text.join("\n") + "\n").unwrap();
    let out = s.cli(&[
        "--quiet",
        "--jobs",
        "2",
        "create",
        "opts",
        "--project_id",
        &pid.to_string(),
        "--frame_step",
        "2",
        "--start_frame",
        "1",
        "--stop_frame",
        "5",
        "--chunk_size",
        "2",
        "--sorting-method",
        "predefined",
        "--subset",
        "Train",
        "--bug",
        "https://bugs.example/1",
        "--image_quality",
        "55",
        "--use_cache",
        "--segment_size",
        "2",
        "--overlap",
        "0",
        "local",
        list.to_str().unwrap(),
    ]);
    let id = created_id(&ok(&out));
    assert!(
        stderr(&out).trim().is_empty(),
        "--quiet still printed: {}",
        stderr(&out)
    );

    let task = s.api(&format!("/api/tasks/{id}"));
    assert_eq!(task["project_id"], pid, "{task}");
    assert_eq!(task["subset"], "Train");
    assert_eq!(task["bug_tracker"], "https://bugs.example/1");
    assert_eq!(task["image_quality"], 55);
    assert_eq!(task["data_chunk_size"], 2);
    assert_eq!(task["segment_size"], 2);
    assert_eq!(task["overlap"], 0);
    // reversed: 05 04 03 02 01 00; from 1 to 5 every 2nd: 04 02 00
    assert_eq!(task["size"], 3, "{task}");
    let meta = s.api(&format!("/api/tasks/{id}/data/meta"));
    assert_eq!(meta["start_frame"], 1, "{meta}");
    assert_eq!(meta["stop_frame"], 5);
    assert_eq!(meta["frame_filter"], "step=2");
    assert_eq!(meta["chunk_size"], 2);
    let want = [&images[4], &images[2], &images[0]];
    let names = frame_names(&s, id);
    let want_names: Vec<String> = want
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, want_names);
    let jobs = s.api(&format!("/api/jobs?task_id={id}"));
    assert_eq!(jobs["count"], 2, "3 frames in segments of 2: {jobs}");
    // the project's labels are the task's
    let labels = s.api(&format!("/api/labels?task_id={id}&page_size=100"));
    let mut ln: Vec<&str> = labels["results"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|l| l["name"].as_str())
        .collect();
    ln.sort();
    assert_eq!(ln, ["car", "person"], "{labels}");
    assert_frames(
        &s,
        id,
        &want.iter().map(|p| (*p).clone()).collect::<Vec<_>>(),
    );

    // natural sorting orders the reversed list again
    let out = s.cli(&[
        "-q",
        "create",
        "nat",
        "--labels",
        "[{\"name\": \"a\"}]",
        "--sorting-method",
        "natural",
        "--no_use_cache",
        "local",
        list.to_str().unwrap(),
    ]);
    let id2 = created_id(&ok(&out));
    let names = frame_names(&s, id2);
    let sorted: Vec<String> = images
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, sorted);
}

/// Serves the files of `dir` over HTTP on 127.0.0.1 (a thread per connection), for `remote` resources.
fn file_server(dir: PathBuf) -> u16 {
    use std::io::{BufRead, BufReader, Write};
    let l = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = l.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for conn in l.incoming().flatten() {
            let dir = dir.clone();
            std::thread::spawn(move || {
                let mut r = BufReader::new(conn.try_clone().expect("clone"));
                let mut line = String::new();
                if r.read_line(&mut line).is_err() {
                    return;
                }
                let path = line
                    .split_whitespace()
                    .nth(1)
                    .unwrap_or("/")
                    .trim_start_matches('/')
                    .to_string();
                loop {
                    let mut h = String::new();
                    if r.read_line(&mut h).map(|n| n == 0).unwrap_or(true) || h.trim().is_empty() {
                        break;
                    }
                }
                let mut w = conn;
                match std::fs::read(dir.join(&path))
                    .ok()
                    .filter(|_| !path.contains(".."))
                {
                    Some(b) => {
                        let _ = write!(w, "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nContent-Type: image/jpeg\r\nConnection: close\r\n\r\n", b.len());
                        let _ = w.write_all(&b);
                    }
                    None => {
                        let _ = w.write_all(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
                    }
                }
            });
        }
    });
    port
}

#[test]
fn share_and_remote_resources() {
    let share = tempfile::tempdir().unwrap();
    let images = rich_images();
    std::fs::create_dir(share.path().join("sub")).unwrap();
    for (i, img) in images.iter().enumerate() {
        let dest = if i < 3 {
            share.path().join(img.file_name().unwrap())
        } else {
            share.path().join("sub").join(img.file_name().unwrap())
        };
        std::fs::copy(img, dest).unwrap();
    }
    let s = Server::start_with(&["--share-dir", share.path().to_str().unwrap()]);
    let labels = "[{\"name\": \"a\"}]";
    // share: a file and a directory, --copy_data
    let names: Vec<String> = images[..3]
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    let out = s.cli(&[
        "create",
        "shared",
        "--labels",
        labels,
        "--copy_data",
        "share",
        &names[0],
        &names[1],
        &names[2],
        "sub/",
    ]);
    let id = created_id(&ok(&out));
    assert_eq!(s.api(&format!("/api/tasks/{id}"))["size"], 6);
    assert_frames(&s, id, &images);
    // share through a list file
    let list = s.dir.path().join("share.txt");
    std::fs::write(
        &list,
        format!(
            "{}\n\nsub/{}\n",
            names[1],
            images[5].file_name().unwrap().to_string_lossy()
        ),
    )
    .unwrap();
    let id = created_id(&ok(&s.cli(&[
        "create",
        "shared-list",
        "--labels",
        labels,
        "share",
        list.to_str().unwrap(),
    ])));
    assert_frames(&s, id, &[images[1].clone(), images[5].clone()]);
    // a share path that does not exist: exit 1 with the server's message, no task left behind
    let before = s.api("/api/tasks")["count"].clone();
    let out = s.cli(&[
        "create",
        "bad-share",
        "--labels",
        labels,
        "share",
        "no/such.jpg",
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert_eq!(
        s.api("/api/tasks")["count"],
        before,
        "the failed task was kept"
    );

    // remote: URLs served by a tiny HTTP server, given directly and through a list file
    let web = file_server(shared(&format!("{RICH}/images")));
    let urls: Vec<String> = images
        .iter()
        .map(|p| {
            format!(
                "http://127.0.0.1:{web}/{}",
                p.file_name().unwrap().to_string_lossy()
            )
        })
        .collect();
    let mut args = vec!["create", "remote", "--labels", labels, "remote"];
    args.extend(urls[..4].iter().map(|s| s.as_str()));
    let id = created_id(&ok(&s.cli(&args)));
    assert_frames(&s, id, &images[..4]);
    let list = s.dir.path().join("urls.txt");
    std::fs::write(&list, urls[4..].join("\n")).unwrap();
    let id = created_id(&ok(&s.cli(&[
        "create",
        "remote-list",
        "--labels",
        labels,
        "remote",
        list.to_str().unwrap(),
    ])));
    assert_frames(&s, id, &images[4..]);
}

#[test]
fn authentication_org_timeout_and_exit_codes() {
    let s = Server::start();
    let base = |port: u16| {
        vec![
            "--server-host".to_string(),
            "127.0.0.1".into(),
            "--server-port".into(),
            port.to_string(),
        ]
    };
    let run = |args: &[&str], env: &[(&str, &str)]| {
        let mut c = Command::new(BIN);
        c.args(base(s.port))
            .args(args)
            .env_remove("CVAT_ACCESS_TOKEN")
            .env_remove("PASS");
        for (k, v) in env {
            c.env(k, v);
        }
        c.output().expect("run cvat-cli")
    };
    let id = create_rich(&s, &[]);
    // a personal access token, made through the REST API
    let pat = s.api_post(
        "/api/auth/access_tokens",
        serde_json::json!({"name": "e2e"}),
    );
    let key = pat["value"]
        .as_str()
        .unwrap_or_else(|| panic!("no token value in {pat}"));
    let out = run(&["--debug", "ls"], &[("CVAT_ACCESS_TOKEN", key)]);
    assert!(ok(&out).lines().any(|l| l.trim() == id.to_string()));
    let err = stderr(&out);
    assert!(
        !err.contains("/api/auth/login"),
        "a token needs no login: {err}"
    );
    assert!(!err.contains(key), "the token leaked into --debug output");
    let out = run(&["ls"], &[("CVAT_ACCESS_TOKEN", "not-a-token")]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("hint:"), "{}", stderr(&out));
    // --auth USER with the password in PASS
    let out = run(&["--auth", "admin", "ls"], &[("PASS", PASSWORD)]);
    assert!(ok(&out).contains(&id.to_string()));
    // --auth USER without PASS and without a terminal: a usage error
    let out = Command::new(BIN)
        .args(base(s.port))
        .args(["--auth", "admin", "ls"])
        .env_remove("PASS")
        .env_remove("CVAT_ACCESS_TOKEN")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    // --org is sent as X-Organization on every request
    let out = s.cli(&["--debug", "--org", "my-org", "ls"]);
    ok(&out);
    let err = stderr(&out);
    let requests = err
        .lines()
        .filter(|l| l.starts_with("> GET") || l.starts_with("> POST"))
        .count();
    let orgs = err
        .lines()
        .filter(|l| l.to_ascii_lowercase().contains("x-organization: my-org"))
        .count();
    assert!(
        requests > 0 && orgs >= requests,
        "{requests} requests, {orgs} with X-Organization:\n{err}"
    );
    // --timeout: a reachable server within it works; a server that never answers fails in time
    ok(&s.cli(&["--timeout", "30", "ls"]));
    let silent = TcpListener::bind("127.0.0.1:0").unwrap();
    let started = Instant::now();
    let out = s.cli_port(
        silent.local_addr().unwrap().port(),
        &["--timeout", "1", "ls"],
    );
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "--timeout 1 took {:?}",
        started.elapsed()
    );
    drop(silent);
    let out = s.cli(&["--timeout", "0", "ls"]);
    assert_eq!(out.status.code(), Some(2));
    // usage errors: exit 2
    for args in [
        &["nonsense"][..],
        &["frames"],
        &["delete", "x"],
        &["ls", "--json", "--csv"],
        &["create", "n", "local", "a.jpg"],
    ] {
        let out = s.cli(args);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
    }
    // delete several ids, one missing: exit 1, the others deleted
    let a = create_rich(&s, &[]);
    let b = create_rich(&s, &[]);
    let out = s.cli(&["delete", &a.to_string(), "999999", &b.to_string()]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stderr(&out).contains("999999"), "{}", stderr(&out));
    assert_eq!(s.api_status(&format!("/api/tasks/{a}")), 404);
    assert_eq!(s.api_status(&format!("/api/tasks/{b}")), 404);
    assert_eq!(s.api_status(&format!("/api/tasks/{id}")), 200);
    // ls --json / --csv agree with the server
    let json: serde_json::Value = serde_json::from_str(&ok(&s.cli(&["ls", "--json"]))).unwrap();
    let ids: Vec<i64> = json
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|t| t["id"].as_i64())
        .collect();
    assert_eq!(ids, [id]);
    let csv = ok(&s.cli(&["ls", "--csv"]));
    assert_eq!(csv.lines().count(), 2, "{csv}");
}

fn reimport(name: &str) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(shared(&format!("{RICH}/reimport/{name}.json"))).unwrap())
        .unwrap()
}

/// Shapes as (type, label name, rounded points), sorted, for comparing what two tasks hold.
fn shape_set(s: &Server, id: i64) -> Vec<(String, String, Vec<i64>)> {
    let labels = s.api(&format!("/api/labels?task_id={id}&page_size=100"));
    let name = |lid: &serde_json::Value| {
        labels["results"]
            .as_array()
            .unwrap()
            .iter()
            .find(|l| l["id"] == *lid)
            .and_then(|l| l["name"].as_str())
            .unwrap_or("?")
            .to_string()
    };
    let ann = s.api(&format!("/api/tasks/{id}/annotations"));
    let mut v: Vec<_> = ann["shapes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|sh| {
            let pts = sh["points"]
                .as_array()
                .unwrap()
                .iter()
                .map(|p| (p.as_f64().unwrap_or(0.0) * 10.0).round() as i64)
                .collect();
            (
                sh["type"].as_str().unwrap_or("").to_string(),
                name(&sh["label_id"]),
                pts,
            )
        })
        .collect();
    v.sort();
    v
}

#[test]
fn upload_in_three_formats_and_dump_with_images() {
    let s = Server::start();
    let id = create_rich(&s, &[]);
    let export = |d: &str| shared(&format!("{RICH}/export/{d}"));
    for (fmt, file, real) in [
        (
            "CVAT 1.1",
            export("CVAT_for_images_1.1/annotations.xml"),
            "CVAT_for_images_1.1",
        ),
        (
            "COCO 1.0",
            export("COCO_1.0/annotations/instances_default.json"),
            "COCO_1.0",
        ),
        ("YOLO 1.1", export("YOLO_1.1.zip"), "YOLO_1.1"),
        ("COCO 1.0", export("COCO_1.0.zip"), "COCO_1.0"),
    ] {
        ok(&s.cli(&[
            "-q",
            "upload",
            "--format",
            fmt,
            &id.to_string(),
            file.to_str().unwrap(),
        ]));
        let ann = s.api(&format!("/api/tasks/{id}/annotations"));
        assert_eq!(
            counts(&ann),
            counts(&reimport(real)),
            "{fmt} {}: what the real server kept",
            file.display()
        );
    }
    // dump --with-images True: the annotations and the six images as they were uploaded
    let dest = s.dir.path().join("with-images.zip");
    ok(&s.cli(&[
        "dump",
        "--format",
        "CVAT for images 1.1",
        "--with-images",
        "True",
        &id.to_string(),
        dest.to_str().unwrap(),
    ]));
    let mut zip = zip::ZipArchive::new(std::fs::File::open(&dest).unwrap()).expect("a ZIP");
    let members: Vec<String> = zip.file_names().map(String::from).collect();
    assert!(
        members.iter().any(|n| n == "annotations.xml"),
        "{members:?}"
    );
    for img in rich_images() {
        let fname = img.file_name().unwrap().to_string_lossy().into_owned();
        let m = members
            .iter()
            .find(|n| n.ends_with(&format!("/{fname}")))
            .unwrap_or_else(|| panic!("{fname} not in {members:?}"));
        let mut got = Vec::new();
        zip.by_name(m).unwrap().read_to_end(&mut got).unwrap();
        assert_eq!(got, std::fs::read(&img).unwrap(), "{m}");
    }
    let dest = s.dir.path().join("without.zip");
    ok(&s.cli(&[
        "dump",
        "--with-images",
        "False",
        &id.to_string(),
        dest.to_str().unwrap(),
    ]));
    let zip = zip::ZipArchive::new(std::fs::File::open(&dest).unwrap()).unwrap();
    assert!(
        !zip.file_names().any(|n| n.ends_with(".jpg")),
        "images without --with-images"
    );

    // export → import: an equal task, shapes and frames
    let backup = s.dir.path().join("backup.zip");
    ok(&s.cli(&["export", &id.to_string(), backup.to_str().unwrap()]));
    let id2 = created_id(&ok(&s.cli(&["import", backup.to_str().unwrap()])));
    assert_eq!(shape_set(&s, id2), shape_set(&s, id));
    assert_eq!(frame_names(&s, id2), frame_names(&s, id));
    assert_frames(&s, id2, &rich_images());
}

/// Builds the example plugin `cvat-plugin-tfcsv` into this test's target directory; returns a plugin dir
/// holding it.
fn tfcsv_plugin_dir(dest: &Path) -> PathBuf {
    let profile = Path::new(BIN).parent().expect("profile dir");
    let target = profile.parent().expect("target dir");
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut cmd = Command::new(env!("CARGO"));
    cmd.current_dir(&workspace)
        .env("CARGO_TARGET_DIR", target)
        .args(["build", "--quiet", "-p", "cvat-plugin-tfcsv"]);
    if profile.file_name().and_then(|s| s.to_str()) == Some("release") {
        cmd.arg("--release");
    }
    let out = cmd.output().expect("run cargo build");
    assert!(
        out.status.success(),
        "cargo build -p cvat-plugin-tfcsv failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lib = format!(
        "{}cvat_plugin_tfcsv{}",
        std::env::consts::DLL_PREFIX,
        std::env::consts::DLL_SUFFIX
    );
    let dir = dest.join("plugins");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::copy(profile.join(&lib), dir.join(&lib))
        .unwrap_or_else(|e| panic!("{}: {e}", profile.join(&lib).display()));
    dir
}

#[test]
fn a_format_only_a_local_plugin_has_is_converted_locally() {
    const TF: &str = "TensorFlow Object Detection CSV";
    let s = Server::start();
    let plugins = tfcsv_plugin_dir(s.dir.path());
    let id = create_rich(&s, &[]);
    let csv = s.dir.path().join("boxes.csv");
    std::fs::write(
        &csv,
        "filename,width,height,class,xmin,ymin,xmax,ymax\n\
         frame_00_640x480.jpg,640,480,car,10,20,110,220\n\
         frame_03_320x240.jpg,320,240,person,1.5,2.5,30.5,40.5\n",
    )
    .unwrap();
    let pd = plugins.to_str().unwrap();
    ok(&s.cli(&[
        "--plugin-dir",
        pd,
        "upload",
        "--format",
        TF,
        &id.to_string(),
        csv.to_str().unwrap(),
    ]));
    let names = frame_names(&s, id);
    let frame = |n: &str| names.iter().position(|x| x == n).unwrap() as i64;
    let ann = s.api(&format!("/api/tasks/{id}/annotations"));
    let shapes = ann["shapes"].as_array().unwrap();
    assert_eq!(shapes.len(), 2, "{ann}");
    let got = shape_set(&s, id);
    assert_eq!(
        got,
        vec![
            (
                "rectangle".to_string(),
                "car".to_string(),
                vec![100, 200, 1100, 2200]
            ),
            (
                "rectangle".to_string(),
                "person".to_string(),
                vec![15, 25, 305, 405]
            ),
        ]
    );
    let mut frames: Vec<i64> = shapes.iter().filter_map(|s| s["frame"].as_i64()).collect();
    frames.sort();
    assert_eq!(
        frames,
        [frame("frame_00_640x480.jpg"), frame("frame_03_320x240.jpg")]
    );
    // without the plugin the format is unknown: exit 1, nothing uploaded
    let out = s.cli(&[
        "upload",
        "--format",
        TF,
        &id.to_string(),
        csv.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));

    // dump: fetched as CVAT for images, converted by the plugin
    let dest = s.dir.path().join("dump.csv");
    ok(&s.cli(&[
        "--plugin-dir",
        pd,
        "dump",
        "--format",
        TF,
        &id.to_string(),
        dest.to_str().unwrap(),
    ]));
    let bytes = std::fs::read(&dest).expect("dump written");
    // a ZIP or a bare CSV: find the CSV text either way
    let text = if bytes.starts_with(b"PK") {
        let mut z = zip::ZipArchive::new(std::io::Cursor::new(bytes)).unwrap();
        let name = z
            .file_names()
            .find(|n| n.ends_with(".csv"))
            .expect("a CSV member")
            .to_string();
        let mut t = String::new();
        z.by_name(&name).unwrap().read_to_string(&mut t).unwrap();
        t
    } else {
        String::from_utf8(bytes).unwrap()
    };
    let mut rows: Vec<Vec<String>> = text
        .lines()
        .skip(1)
        .map(|l| l.split(',').map(String::from).collect())
        .collect();
    rows.sort();
    assert_eq!(rows.len(), 2, "{text}");
    assert_eq!(rows[0][0], "frame_00_640x480.jpg");
    assert_eq!(rows[0][3], "car");
    let nums = |r: &[String]| {
        r[4..8]
            .iter()
            .map(|x| x.parse::<f64>().unwrap())
            .collect::<Vec<_>>()
    };
    assert_eq!(nums(&rows[0]), [10.0, 20.0, 110.0, 220.0]);
    assert_eq!(rows[1][3], "person");
    assert_eq!(nums(&rows[1]), [1.5, 2.5, 30.5, 40.5]);
}
