//! End-to-end tests of the `cvat-cli` binary: exit codes, what goes to stdout and stderr, atomic outputs.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const BIN: &str = env!("CARGO_BIN_EXE_cvat-cli");

fn repo() -> PathBuf {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/..")).to_path_buf()
}

fn shared() -> PathBuf {
    let p = repo().join("../shared");
    assert!(
        p.join("formats/SPECS.md").is_file(),
        "{} (the shared reference data) is required by these tests",
        p.display()
    );
    p
}

fn sample_task() -> PathBuf {
    repo().join("examples/sample-task")
}

/// A fresh scratch directory under cargo's per-target temporary directory.
fn scratch(name: &str) -> PathBuf {
    let p = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("cli-{name}"));
    let _ = std::fs::remove_dir_all(&p);
    std::fs::create_dir_all(&p).unwrap();
    p
}

fn entries(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

fn run(args: &[&str]) -> Run {
    let out: Output = Command::new(BIN)
        .args(args)
        .env("NO_COLOR", "1")
        .env_remove("CVAT_PLUGIN_PATH")
        .output()
        .expect("run cvat-cli");
    let r = Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    };
    assert!(
        !r.stdout.contains('\x1b') && !r.stderr.contains('\x1b'),
        "colour escapes despite NO_COLOR:\n{}{}",
        r.stdout,
        r.stderr
    );
    r
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[track_caller]
fn expect_code(r: &Run, code: i32) {
    assert_eq!(
        r.code, code,
        "exit code\n--- stdout\n{}\n--- stderr\n{}",
        r.stdout, r.stderr
    );
}

// ---------------------------------------------------------------------------------------- formats

#[test]
fn formats_lists_every_format_as_text_and_json() {
    let r = run(&["formats"]);
    expect_code(&r, 0);
    assert!(r.stdout.lines().next().unwrap().starts_with("NAME"));
    let r = run(&["formats", "--json"]);
    expect_code(&r, 0);
    let list: Vec<serde_json::Value> = serde_json::from_str(&r.stdout).unwrap();
    let names: Vec<&str> = list.iter().map(|f| f["name"].as_str().unwrap()).collect();
    for must in [
        "CVAT REST JSON",
        "COCO 1.0",
        "CVAT for images 1.1",
        "CVAT 1.1",
    ] {
        assert!(names.contains(&must), "{must} not in {names:?}");
    }
    let mut unique = names.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), names.len(), "duplicate names in {names:?}");
    for f in &list {
        assert!(f["import"].is_boolean() && f["export"].is_boolean(), "{f}");
        // the text table lists the same formats
        let text = run(&["formats"]).stdout;
        assert!(text.contains(f["name"].as_str().unwrap()));
    }
}

// --------------------------------------------------------------------------------------- validate

#[test]
fn validate_a_valid_task_exits_0_and_names_the_detected_format() {
    let r = run(&["validate", s(&sample_task())]);
    expect_code(&r, 0);
    assert_eq!(r.stdout.trim(), "0 errors, 0 warnings in 1 file");
    assert!(
        r.stderr.contains("detected format \"CVAT REST JSON\""),
        "{}",
        r.stderr
    );
}

/// The sample task with three planted problems.
fn broken_task(name: &str) -> PathBuf {
    let dir = scratch(name);
    for f in ["labels.json", "data_meta.json"] {
        std::fs::copy(sample_task().join(f), dir.join(f)).unwrap();
    }
    let mut ann: serde_json::Value =
        serde_json::from_slice(&std::fs::read(sample_task().join("annotations.json")).unwrap())
            .unwrap();
    ann["shapes"][0]["attributes"][0]["value"] = "purple".into();
    ann["shapes"][1]["label_id"] = 99.into();
    ann["shapes"][2]["points"] = serde_json::json!([1.0, 2.0, 3.0]);
    std::fs::write(
        dir.join("annotations.json"),
        serde_json::to_vec_pretty(&ann).unwrap(),
    )
    .unwrap();
    dir
}

#[test]
fn validate_reports_each_problem_with_its_location_and_exits_1() {
    let dir = broken_task("validate-broken");
    let r = run(&["validate", "--format", "cvat rest json", s(&dir)]);
    expect_code(&r, 1);
    let ann = dir.join("annotations.json");
    let ann = ann.display();
    for (path, code) in [
        ("$.shapes[0]", "attribute-value"),
        ("$.shapes[1]", "undeclared-label"),
        ("$.shapes[2]", "geometry"),
    ] {
        let prefix = format!("{ann}: {path}: error: ");
        assert!(
            r.stdout
                .lines()
                .any(|l| l.starts_with(&prefix) && l.ends_with(&format!("[{code}]"))),
            "no line `{prefix}... [{code}]` in\n{}",
            r.stdout
        );
    }
    assert!(
        r.stdout
            .lines()
            .any(|l| l.trim_start().starts_with("hint: expected one of")),
        "{}",
        r.stdout
    );
    assert_eq!(
        r.stdout.lines().last(),
        Some("3 errors, 0 warnings in 1 file")
    );
    // the format was given: nothing detected
    assert!(!r.stderr.contains("detected"), "{}", r.stderr);
}

#[test]
fn validate_json_is_machine_readable() {
    let dir = broken_task("validate-json");
    let r = run(&["validate", "--json", s(&dir), s(&sample_task())]);
    expect_code(&r, 1);
    let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(v["valid"], false);
    assert_eq!(v["errors"], 3);
    let files = v["files"].as_array().unwrap();
    assert_eq!(files.len(), 2);
    assert_eq!(files[0]["format"], "CVAT REST JSON");
    assert_eq!(files[0]["detected"], true);
    assert_eq!(files[1]["errors"], 0);
    let d = &files[0]["diagnostics"][0];
    assert_eq!(d["severity"], "error");
    assert!(d["location"]["file"]
        .as_str()
        .unwrap()
        .ends_with("annotations.json"));
    assert!(d["location"]["json_path"]
        .as_str()
        .unwrap()
        .starts_with("$.shapes["));
    assert!(d["code"].is_string() && d["message"].is_string());
}

#[test]
fn validate_the_malformed_coco_files() {
    let dir = shared().join("formats/coco/malformed");
    let expected: serde_json::Map<String, serde_json::Value> =
        serde_json::from_slice(&std::fs::read(dir.join("EXPECTED.json")).unwrap()).unwrap();
    assert!(expected.len() > 10);
    let mut problems = Vec::new();
    for (file, what) in &expected {
        let path = dir.join(file);
        let r = run(&["validate", "--format", "COCO 1.0", s(&path)]);
        let want = if what == "none" { 0 } else { 1 };
        if r.code != want {
            problems.push(format!(
                "{file} ({what}): exit {} instead of {want}\n{}{}",
                r.code, r.stdout, r.stderr
            ));
            continue;
        }
        if want == 1 {
            // every diagnostic line is located in that file
            let diags: Vec<&str> = r
                .stdout
                .lines()
                .filter(|l| l.contains(": error: "))
                .collect();
            if diags.is_empty() {
                problems.push(format!("{file}: no error line in\n{}", r.stdout));
            }
            for l in diags {
                let located = l.starts_with(&format!("{}:", path.display()))
                    && (l.contains(": $")
                        || l.split(':')
                            .nth(1)
                            .is_some_and(|n| n.parse::<u32>().is_ok()));
                if !located {
                    problems.push(format!("{file}: unlocated diagnostic `{l}`"));
                }
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn usage_and_io_errors_exit_2() {
    // unknown format, with suggestions
    let r = run(&["validate", "--format", "COCO 1.1", s(&sample_task())]);
    expect_code(&r, 2);
    assert!(
        r.stderr.contains("error: no format named \"COCO 1.1\""),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains("hint: did you mean"), "{}", r.stderr);
    assert!(r.stderr.contains("\"COCO 1.0\""), "{}", r.stderr);
    assert!(r.stdout.is_empty());
    // a path that does not exist
    let r = run(&["validate", "/nonexistent/annotations.json"]);
    expect_code(&r, 2);
    assert!(
        r.stderr.contains("/nonexistent/annotations.json"),
        "{}",
        r.stderr
    );
    // a folder no format claims
    let dir = scratch("undetectable");
    std::fs::write(dir.join("notes.bin"), [0u8, 1, 2, 3]).unwrap();
    let r = run(&["validate", s(&dir)]);
    expect_code(&r, 2);
    assert!(
        r.stderr.contains("could not tell the format"),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains("hint: "), "{}", r.stderr);
    // bad arguments
    expect_code(&run(&["validate"]), 2);
    expect_code(&run(&["convert", "--bogus"]), 2);
}

// ---------------------------------------------------------------------------------------- convert

#[test]
fn convert_reports_what_it_read_and_dropped() {
    let dir = scratch("convert-coco");
    let out = dir.join("out.zip");
    let r = run(&["convert", s(&sample_task()), s(&out), "--to", "COCO 1.0"]);
    expect_code(&r, 0);
    assert_eq!(r.stdout.trim(), out.display().to_string());
    assert!(
        r.stderr.contains(
            "as \"CVAT REST JSON\" (detected): 3 labels, 3 frames, 1 tags, 3 shapes, 1 tracks"
        ),
        "{}",
        r.stderr
    );
    // COCO has no tags: the tag is reported, not silently lost
    assert!(
        r.stderr
            .lines()
            .any(|l| l.starts_with("dropped 1 ") && l.contains("tag")),
        "{}",
        r.stderr
    );
    assert_eq!(entries(&dir), ["out.zip"]);
    let r = run(&["validate", s(&out)]);
    expect_code(&r, 0);
    assert!(r.stderr.contains("\"COCO 1.0\""), "{}", r.stderr);
}

#[test]
fn convert_round_trips_through_the_rest_json_layout() {
    let dir = scratch("convert-rest");
    let zip = dir.join("task.zip");
    expect_code(
        &run(&[
            "convert",
            s(&sample_task()),
            s(&zip),
            "--to",
            "CVAT REST JSON",
        ]),
        0,
    );
    let out_dir = dir.join("again/");
    let r = run(&[
        "convert",
        "--from",
        "CVAT REST JSON",
        s(&zip),
        s(&out_dir),
        "--to",
        "CVAT REST JSON",
    ]);
    expect_code(&r, 0);
    assert!(!r.stderr.contains("dropped"), "{}", r.stderr);
    assert_eq!(
        entries(&dir.join("again")),
        ["annotations.json", "data_meta.json", "labels.json"]
    );
    let a: serde_json::Value =
        serde_json::from_slice(&std::fs::read(sample_task().join("annotations.json")).unwrap())
            .unwrap();
    let b: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("again/annotations.json")).unwrap())
            .unwrap();
    assert_eq!(a, b);
}

#[test]
fn convert_a_lone_annotation_file_with_label_and_frame_hints() {
    let dir = scratch("convert-hints");
    let ann = dir.join("job_1.json");
    std::fs::copy(sample_task().join("annotations.json"), &ann).unwrap();
    let out = dir.join("out.zip");
    // without labels the reader cannot name the labels
    let r = run(&["convert", s(&ann), s(&out), "--to", "COCO 1.0"]);
    expect_code(&r, 1);
    assert!(
        r.stderr.contains("hint: ") && r.stderr.contains("--labels"),
        "{}",
        r.stderr
    );
    assert_eq!(entries(&dir), ["job_1.json"]);
    let r = run(&[
        "convert",
        s(&ann),
        s(&out),
        "--to",
        "COCO 1.0",
        "--labels",
        s(&sample_task().join("labels.json")),
        "--frames",
        s(&sample_task().join("data_meta.json")),
    ]);
    expect_code(&r, 0);
    assert!(
        r.stderr.contains("hints: 3 frames (3 with sizes)"),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains("hints: 3 labels"), "{}", r.stderr);
}

#[test]
fn convert_never_leaves_partial_output() {
    let dir = scratch("convert-atomic");
    // a multi-file format aimed at a single-file path: refused, with a hint, nothing left
    let out = dir.join("out.json");
    let r = run(&[
        "convert",
        s(&sample_task()),
        s(&out),
        "--to",
        "CVAT REST JSON",
    ]);
    expect_code(&r, 2);
    assert!(r.stderr.contains("writes several files"), "{}", r.stderr);
    assert!(
        r.stderr.contains("hint: ") && r.stderr.contains(".zip"),
        "{}",
        r.stderr
    );
    assert!(entries(&dir).is_empty(), "left behind: {:?}", entries(&dir));
    // an existing non-empty directory is not overwritten
    let full = dir.join("full");
    std::fs::create_dir(&full).unwrap();
    std::fs::write(full.join("keep.txt"), b"mine").unwrap();
    let r = run(&["convert", s(&sample_task()), s(&full), "--to", "COCO 1.0"]);
    expect_code(&r, 2);
    assert_eq!(entries(&full), ["keep.txt"]);
    assert_eq!(entries(&dir), ["full"]);
    // an input that fails to read leaves no output either
    let broken = dir.join("broken");
    std::fs::create_dir(&broken).unwrap();
    std::fs::write(
        broken.join("annotations.json"),
        b"{\"version\": 0, \"shapes\": [",
    )
    .unwrap();
    let r = run(&[
        "convert",
        s(&broken),
        s(&dir.join("x.zip")),
        "--to",
        "COCO 1.0",
    ]);
    expect_code(&r, 1);
    assert!(r.stderr.contains("annotations.json:1:"), "{}", r.stderr);
    assert!(
        r.stderr.contains("read as \"CVAT REST JSON\" (detected)"),
        "{}",
        r.stderr
    );
    assert_eq!(entries(&dir), ["broken", "full"]);
}

#[test]
fn convert_refuses_export_only_input_and_import_only_output() {
    let dir = scratch("convert-refuse");
    let out = dir.join("o.zip");
    let r = run(&[
        "convert",
        "--from",
        "CVAT for images 1.1",
        s(&sample_task()),
        s(&out),
        "--to",
        "COCO 1.0",
    ]);
    expect_code(&r, 2);
    assert!(
        r.stderr
            .contains("\"CVAT for images 1.1\" cannot be imported"),
        "{}",
        r.stderr
    );
    assert!(
        r.stderr.contains("CVAT 1.1"),
        "the hint names the importer: {}",
        r.stderr
    );
    let r = run(&["convert", s(&sample_task()), s(&out), "--to", "CVAT 1.1"]);
    expect_code(&r, 2);
    assert!(
        r.stderr.contains("\"CVAT 1.1\" cannot be exported"),
        "{}",
        r.stderr
    );
    let r = run(&["convert", s(&sample_task()), s(&out), "--to", "COCO 2.0"]);
    expect_code(&r, 2);
    assert!(r.stderr.contains("did you mean"), "{}", r.stderr);
    assert!(entries(&dir).is_empty());
}

#[test]
fn convert_the_recorded_rich_a_task_directory() {
    // the directory also holds the server's exports of the task: the task's own JSON must win
    let rich_a = shared().join("cvat/exports/rich-A");
    let dir = scratch("convert-rich-a");
    let out = dir.join("coco.zip");
    let r = run(&["convert", s(&rich_a), s(&out), "--to", "COCO 1.0"]);
    expect_code(&r, 0);
    assert!(
        r.stderr.contains(
            "as \"CVAT REST JSON\" (detected): 9 labels, 6 frames, 2 tags, 13 shapes, 3 tracks"
        ),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains("dropped "), "{}", r.stderr);
    expect_code(&run(&["validate", s(&out)]), 0);
}
