//! Loads real plugin libraries (the example TF CSV plugin and the broken test plugins under
//! `tests/plugins/`), converts through them and the built-in formats, checks every refusal, and runs the
//! `cvat-cli` binary with `--plugin-dir`.
//!
//! The libraries are built by `cargo build` from this test (a no-op when `cargo test --workspace` has
//! built them already), into the target directory this test binary lives in.

use cvat_format_api::{
    Dataset, Format, FormatError, FormatInfo, Input, MemorySink, Origin, ReadOptions, Registry,
    Severity, WriteOptions,
};
use cvat_plugin_host::{load_into, DirSource, LoadReport, SearchDir};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

const TFCSV: &str = "cvat_plugin_tfcsv";
const WRONG_ABI: &str = "cvat_test_plugin_wrong_abi";
const PANICS: &str = "cvat_test_plugin_panics";
const BAD_DESCRIBE: &str = "cvat_test_plugin_bad_describe";
const NO_SYMBOL: &str = "cvat_test_plugin_no_symbol";
const TFCSV_NAME: &str = "TensorFlow Object Detection CSV 1.0";

fn fixture(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(rel)
}

/// `<target>/<profile>`, where this test binary (`<target>/<profile>/deps/host-*`) lives.
fn profile_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("current_exe");
    exe.parent()
        .and_then(Path::parent)
        .expect("test binary lives in <target>/<profile>/deps")
        .to_path_buf()
}

/// Builds the plugins (and the CLI) once per test run into this test's target directory.
fn built() -> &'static Path {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    BUILT.get_or_init(|| {
        let profile = profile_dir();
        let target = profile.parent().expect("target dir").to_path_buf();
        let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        let mut cmd = Command::new(env!("CARGO"));
        cmd.current_dir(&workspace)
            .env("CARGO_TARGET_DIR", &target)
            .args(["build", "--quiet"])
            .args([
                "-p",
                "cvat-plugin-tfcsv",
                "-p",
                "cvat-test-plugin-wrong-abi",
            ])
            .args([
                "-p",
                "cvat-test-plugin-panics",
                "-p",
                "cvat-test-plugin-bad-describe",
            ])
            .args(["-p", "cvat-test-plugin-no-symbol", "-p", "cvat-cli"]);
        if profile.file_name().and_then(|s| s.to_str()) == Some("release") {
            cmd.arg("--release");
        }
        let out = cmd.output().expect("run cargo build");
        assert!(
            out.status.success(),
            "cargo build of the plugins failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        profile
    })
}

fn library(crate_name: &str) -> PathBuf {
    let name = format!(
        "{}{crate_name}{}",
        std::env::consts::DLL_PREFIX,
        std::env::consts::DLL_SUFFIX
    );
    let p = built().join(name);
    assert!(p.is_file(), "{} was not built", p.display());
    p
}

/// A fresh plugin directory holding copies of the given libraries.
fn plugin_dir(crates: &[&str]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for c in crates {
        let lib = library(c);
        std::fs::copy(&lib, dir.path().join(lib.file_name().unwrap())).unwrap();
    }
    dir
}

fn search(dir: &Path) -> Vec<SearchDir> {
    vec![SearchDir {
        path: dir.to_path_buf(),
        source: DirSource::Option,
    }]
}

/// The built-in registry plus the plugins of `dir`.
fn registry_with(dir: &Path) -> (Registry, LoadReport) {
    let mut reg = cvat_formats::builtin_registry().unwrap();
    let report = load_into(&mut reg, &search(dir));
    (reg, report)
}

fn format<'r>(reg: &'r Registry, name: &str) -> &'r dyn Format {
    reg.get(name)
        .unwrap_or_else(|| panic!("format {name:?} is not registered"))
        .format
        .as_ref()
}

fn write_mem(f: &dyn Format, ds: &Dataset) -> BTreeMap<String, Vec<u8>> {
    let mut sink = MemorySink::default();
    f.write(ds, &mut sink, &WriteOptions::default()).unwrap();
    sink.into_files()
}

fn only_file(files: &BTreeMap<String, Vec<u8>>) -> String {
    assert_eq!(files.len(), 1, "{:?}", files.keys().collect::<Vec<_>>());
    String::from_utf8(files.values().next().unwrap().clone()).unwrap()
}

/// The data rows of a TF CSV, sorted (row order is not meaningful in the format).
fn rows(csv: &str) -> Vec<String> {
    let mut lines = csv.lines();
    assert_eq!(
        lines.next(),
        Some("filename,width,height,class,xmin,ymin,xmax,ymax")
    );
    let mut v: Vec<String> = lines.map(str::to_string).collect();
    v.sort();
    v
}

#[test]
fn example_plugin_loads_and_answers_to_its_names() {
    let dir = plugin_dir(&[TFCSV]);
    let (reg, report) = registry_with(dir.path());
    assert!(report.refused.is_empty(), "{:?}", report.refused);
    assert_eq!(report.loaded.len(), 1);
    let loaded = &report.loaded[0];
    assert_eq!(loaded.info.name, TFCSV_NAME);
    assert_eq!(loaded.abi_version, 1);
    let entry = reg.get("tfod csv").expect("alias, any case");
    assert_eq!(entry.info.name, TFCSV_NAME);
    assert!(entry.info.can_import && entry.info.can_export);
    match &entry.origin {
        Origin::Plugin(p) => assert_eq!(p, &loaded.path),
        other => panic!("origin {other}"),
    }
    assert!(entry.origin.to_string().contains(TFCSV));
    // sniffing crosses the ABI too: the CSV header is recognised
    let input = Input::open(&fixture("tfcsv-coco/in/train_labels.csv")).unwrap();
    assert_eq!(
        reg.detect(&input).map(|e| e.info.name.as_str()),
        Some(TFCSV_NAME)
    );
}

#[test]
fn csv_to_coco_to_csv_gives_the_same_boxes() {
    let dir = plugin_dir(&[TFCSV]);
    let (reg, _) = registry_with(dir.path());
    let csv = format(&reg, TFCSV_NAME);
    let coco = format(&reg, "COCO 1.0");
    let src = fixture("tfcsv-coco/in/train_labels.csv");
    let input = Input::open(&src).unwrap();

    let diags = csv.validate(&input, &ReadOptions::default());
    assert_eq!(diags.error_count(), 0, "{:?}", diags.items());
    assert_eq!(diags.warning_count(), 0, "{:?}", diags.items());

    let ds = csv.read(&input, &ReadOptions::default()).unwrap();
    // what the file says, read through the plugin: 6 images sorted by name, 2 labels, 8 boxes
    let names: Vec<&str> = ds.frames.iter().map(|f| f.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "dog-1.jpg",
            "raccoon-1.jpg",
            "raccoon-10.jpg",
            "raccoon-100.jpg",
            "raccoon-101.jpg",
            "raccoon-102.jpg"
        ]
    );
    assert_eq!((ds.frames[0].width, ds.frames[0].height), (500, 375));
    let labels: Vec<&str> = ds.labels.iter().map(|l| l.name.as_str()).collect();
    assert_eq!(labels, ["raccoon", "dog"]);
    assert_eq!(ds.shapes.len(), 8);
    let dog = ds.shapes.iter().find(|s| s.points[0] == 12.5).unwrap();
    assert_eq!(dog.points, [12.5, 30.0, 200.5, 374.0]);
    assert_eq!(dog.frame, 0);

    let coco_files = write_mem(coco, &ds);
    assert!(coco_files.contains_key("annotations/instances_default.json"));
    let coco_input = Input::from_files("coco", coco_files);
    let back = coco.read(&coco_input, &ReadOptions::default()).unwrap();

    let direct = only_file(&write_mem(csv, &ds));
    let via_coco = only_file(&write_mem(csv, &back));
    let original = std::fs::read_to_string(&src).unwrap();
    assert_eq!(rows(&direct), rows(&original));
    assert_eq!(rows(&via_coco), rows(&original));
}

/// Elements of a CVAT XML body (everything after `<meta>`) as (path, sorted attributes, text), plus
/// the label names of `<meta>`.
type XmlItems = Vec<(String, Vec<(String, String)>, String)>;

fn xml_body(xml: &str) -> (XmlItems, Vec<String>) {
    use quick_xml::events::Event;
    let mut reader = quick_xml::Reader::from_str(xml);
    reader.config_mut().trim_text(true);
    let mut path: Vec<String> = Vec::new();
    let mut items: XmlItems = Vec::new();
    let mut labels = Vec::new();
    loop {
        let ev = reader.read_event().expect("well-formed XML");
        match ev {
            Event::Start(e) => {
                path.push(String::from_utf8_lossy(e.name().as_ref()).into_owned());
                record(&path, &e, &mut items);
            }
            Event::Empty(e) => {
                path.push(String::from_utf8_lossy(e.name().as_ref()).into_owned());
                record(&path, &e, &mut items);
                path.pop();
            }
            Event::End(_) => {
                path.pop();
            }
            Event::Text(t) => {
                let text = String::from_utf8_lossy(t.as_ref()).into_owned();
                let p = path.join("/");
                if p == "annotations/meta/task/labels/label/name" {
                    labels.push(text);
                } else if !p.starts_with("annotations/meta") {
                    if let Some(last) = items.last_mut() {
                        last.2.push_str(&text);
                    }
                }
            }
            Event::Eof => break,
            _ => {}
        }
    }
    (items, labels)
}

fn record(path: &[String], e: &quick_xml::events::BytesStart<'_>, items: &mut XmlItems) {
    let p = path.join("/");
    if p.starts_with("annotations/meta") {
        return;
    }
    let mut attrs: Vec<(String, String)> = e
        .attributes()
        .map(|a| {
            let a = a.expect("well-formed attribute");
            (
                String::from_utf8_lossy(a.key.as_ref()).into_owned(),
                String::from_utf8_lossy(&a.value).into_owned(),
            )
        })
        .collect();
    attrs.sort();
    items.push((p, attrs, String::new()));
}

#[test]
fn csv_to_cvat_for_images_matches_hand_written_xml() {
    let dir = plugin_dir(&[TFCSV]);
    let (reg, _) = registry_with(dir.path());
    let csv = format(&reg, TFCSV_NAME);
    let cvat = format(&reg, "CVAT for images 1.1");
    let input = Input::open(&fixture("tfcsv-to-cvat/in/labels.csv")).unwrap();
    let ds = csv.read(&input, &ReadOptions::default()).unwrap();
    let files = write_mem(cvat, &ds);
    let got = String::from_utf8(
        files
            .get("annotations.xml")
            .expect("annotations.xml written")
            .clone(),
    )
    .unwrap();
    let want = std::fs::read_to_string(fixture("tfcsv-to-cvat/out/annotations.xml")).unwrap();
    let (got_body, got_labels) = xml_body(&got);
    let (want_body, want_labels) = xml_body(&want);
    assert_eq!(got_labels, want_labels);
    assert_eq!(got_body, want_body, "got:\n{got}");
}

#[test]
fn validation_through_the_abi_keeps_locations() {
    let dir = plugin_dir(&[TFCSV]);
    let (reg, _) = registry_with(dir.path());
    let csv = format(&reg, TFCSV_NAME);
    let path = fixture("tfcsv-invalid/in/bad.csv");
    let input = Input::open(&path).unwrap();
    let diags = csv.validate(&input, &ReadOptions::default());
    let got: Vec<(Severity, &str, Option<u32>, Option<u32>)> = diags
        .items()
        .iter()
        .map(|d| {
            assert_eq!(d.location.file, path.display().to_string());
            (
                d.severity,
                d.code.as_str(),
                d.location.line,
                d.location.column,
            )
        })
        .collect();
    // columns counted by hand in bad.csv
    assert_eq!(
        got,
        [
            (Severity::Warning, "unknown-column", Some(1), Some(49)),
            (Severity::Error, "bad-number", Some(2), Some(25)),
            (Severity::Error, "outside-image", Some(3), Some(18)),
            (Severity::Error, "outside-image", Some(3), Some(23)),
            (Severity::Error, "bad-number", Some(4), Some(7)),
        ]
    );
    // read fails on the first error, with its location, as a typed error
    match csv.read(&input, &ReadOptions::default()) {
        Err(FormatError::Invalid(d)) => {
            assert_eq!((d.location.line, d.location.column), (Some(2), Some(25)));
            assert!(d.message.contains("ymax"), "{}", d.message);
        }
        other => panic!("expected an invalid-input error, got {other:?}"),
    }
}

fn refused_reason(crate_name: &str) -> String {
    let dir = plugin_dir(&[crate_name]);
    let (reg, report) = registry_with(dir.path());
    assert!(report.loaded.is_empty(), "{:?}", report.loaded);
    assert_eq!(report.refused.len(), 1, "{:?}", report.refused);
    let r = &report.refused[0];
    assert!(r.path.to_string_lossy().contains(crate_name));
    // the refusal is printable with the file name
    assert!(r.to_string().contains(crate_name));
    // nothing of the refused plugin is registered; the built-ins are untouched
    assert!(reg
        .entries()
        .iter()
        .all(|e| matches!(e.origin, Origin::Builtin(_))));
    r.reason.clone()
}

#[test]
fn wrong_abi_version_is_refused_naming_both_versions() {
    let reason = refused_reason(WRONG_ABI);
    assert!(reason.contains("ABI version 2"), "{reason}");
    assert!(reason.contains("ABI version 1"), "{reason}");
}

#[test]
fn invalid_describe_is_refused() {
    let reason = refused_reason(BAD_DESCRIBE);
    assert!(
        reason.contains("describe") && reason.contains("invalid format description JSON"),
        "{reason}"
    );
}

#[test]
fn library_without_the_symbol_is_refused() {
    let reason = refused_reason(NO_SYMBOL);
    assert!(reason.contains("not a cvat-cli format plugin"), "{reason}");
    assert!(reason.contains("cvat_format_plugin_v1"), "{reason}");
}

#[test]
fn panicking_plugin_is_contained_and_the_host_carries_on() {
    let dir = plugin_dir(&[PANICS, TFCSV]);
    let (reg, report) = registry_with(dir.path());
    assert_eq!(report.loaded.len(), 2, "{:?}", report.refused);
    let panics = format(&reg, "Test Panics 1.0");
    let input = Input::from_bytes("x.panic", b"anything".to_vec()).unwrap();

    match panics.read(&input, &ReadOptions::default()) {
        Err(FormatError::Plugin { plugin, message }) => {
            assert!(plugin.contains(PANICS), "{plugin}");
            assert!(message.contains("panicked"), "{message}");
            assert!(message.contains("deliberate panic in import"), "{message}");
        }
        other => panic!("expected a plugin error, got {other:?}"),
    }
    let mut sink = MemorySink::default();
    let err = panics
        .write(&Dataset::default(), &mut sink, &WriteOptions::default())
        .unwrap_err();
    assert!(
        err.to_string().contains("deliberate panic in export"),
        "{err}"
    );
    let diags = panics.validate(&input, &ReadOptions::default());
    assert!(diags.has_errors());
    assert!(diags.items()[0]
        .message
        .contains("deliberate panic in validate"));

    // the process and the other plugin still work, repeatedly
    let csv = format(&reg, TFCSV_NAME);
    let input = Input::open(&fixture("tfcsv-coco/in/train_labels.csv")).unwrap();
    for _ in 0..3 {
        assert!(panics.read(&input, &ReadOptions::default()).is_err());
        assert_eq!(
            csv.read(&input, &ReadOptions::default())
                .unwrap()
                .shapes
                .len(),
            8
        );
    }
}

#[test]
fn name_clashes_refuse_the_plugin_and_builtins_win() {
    #[derive(Default)]
    struct Builtin;
    impl Format for Builtin {
        fn info(&self) -> FormatInfo {
            FormatInfo::new("Something else").aliases(&["TFOD CSV"])
        }
    }
    let mut reg = Registry::new();
    reg.register(Box::new(Builtin), Origin::Builtin("cvat-format-fake"))
        .unwrap();
    let dir = plugin_dir(&[TFCSV]);
    let report = load_into(&mut reg, &search(dir.path()));
    assert!(report.loaded.is_empty());
    let r = &report.refused[0];
    assert!(r.reason.contains("\"TFOD CSV\""), "{}", r.reason);
    assert!(r.reason.contains("cvat-format-fake"), "{}", r.reason);
    assert!(r.hint.as_deref().unwrap_or("").contains("built-in"));
    assert_eq!(reg.entries().len(), 1);
    assert_eq!(reg.get("TFOD CSV").unwrap().info.name, "Something else");

    // the same library under two names: the second is refused, the first stays
    let dir = plugin_dir(&[TFCSV]);
    let lib = library(TFCSV);
    std::fs::copy(
        &lib,
        dir.path()
            .join(format!("zz_copy{}", std::env::consts::DLL_SUFFIX)),
    )
    .unwrap();
    let (_reg, report) = registry_with(dir.path());
    assert_eq!(report.loaded.len(), 1);
    assert_eq!(report.refused.len(), 1);
    assert!(report.refused[0].path.to_string_lossy().contains("zz_copy"));
    assert!(report.refused[0].reason.contains("already taken"));
}

#[test]
fn a_library_found_twice_is_loaded_once() {
    let dir = plugin_dir(&[TFCSV]);
    let mut reg = cvat_formats::builtin_registry().unwrap();
    let mut dirs = search(dir.path());
    dirs.push(SearchDir {
        path: dir.path().to_path_buf(),
        source: DirSource::Env,
    });
    let report = load_into(&mut reg, &dirs);
    assert_eq!(report.loaded.len(), 1);
    assert!(report.refused.is_empty(), "{:?}", report.refused);
}

// ---------------------------------------------------------------------------------------------------
// the binary
// ---------------------------------------------------------------------------------------------------

fn cli(home: &Path) -> Command {
    let exe = built().join(format!("cvat-cli{}", std::env::consts::EXE_SUFFIX));
    let mut cmd = Command::new(exe);
    // no plugins from the environment or the user's real config directory
    cmd.env_remove("CVAT_PLUGIN_PATH")
        .env("HOME", home)
        .env("XDG_CONFIG_HOME", home.join("config"))
        .env("APPDATA", home.join("appdata"));
    cmd
}

fn run(cmd: &mut Command) -> (bool, String, String) {
    let out = cmd.output().expect("run cvat-cli");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn cli_plugin_dir_adds_the_format_to_formats_and_convert() {
    let home = tempfile::tempdir().unwrap();
    let dir = plugin_dir(&[TFCSV, WRONG_ABI]);
    let lib = std::fs::canonicalize(dir.path().join(library(TFCSV).file_name().unwrap())).unwrap();

    // without --plugin-dir the format is unknown
    let (ok, stdout, _) = run(cli(home.path()).arg("formats"));
    assert!(ok);
    assert!(!stdout.contains(TFCSV_NAME));

    // with it, `formats` lists it with its path, and the refusal goes to stderr
    let (ok, stdout, stderr) = run(cli(home.path())
        .arg("formats")
        .arg("--plugin-dir")
        .arg(dir.path()));
    assert!(ok, "{stderr}");
    let line = stdout
        .lines()
        .find(|l| l.starts_with(TFCSV_NAME))
        .unwrap_or_else(|| panic!("not listed:\n{stdout}"));
    assert!(
        line.contains(&format!("plugin {}", lib.display())),
        "{line}"
    );
    assert!(
        stderr.contains("warning:") && stderr.contains(WRONG_ABI),
        "{stderr}"
    );
    assert!(!stdout.contains(WRONG_ABI));

    // `plugins list --json`: loaded and refused, with paths and reasons
    let (ok, stdout, _) = run(cli(home.path())
        .args(["--plugin-dir"])
        .arg(dir.path())
        .args(["plugins", "list", "--json"]));
    assert!(ok);
    let v: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(v["loaded"][0]["info"]["name"], TFCSV_NAME);
    assert_eq!(v["loaded"][0]["path"], lib.display().to_string());
    assert!(v["refused"][0]["reason"]
        .as_str()
        .unwrap()
        .contains("ABI version 2"));

    // the user's config directory is searched too
    let user_dir = home.path().join("config/cvat-cli/plugins");
    if cfg!(all(unix, not(target_os = "macos"))) {
        std::fs::create_dir_all(&user_dir).unwrap();
        std::fs::copy(library(TFCSV), user_dir.join(lib.file_name().unwrap())).unwrap();
        let (ok, stdout, _) = run(cli(home.path()).args(["plugins", "list"]));
        assert!(ok);
        assert!(stdout.contains(TFCSV_NAME), "{stdout}");
        assert!(stdout.contains("config directory"), "{stdout}");
        std::fs::remove_dir_all(&user_dir).unwrap();
    }

    // convert CSV → COCO → CSV with the plugin, through the binary
    let work = tempfile::tempdir().unwrap();
    let coco = work.path().join("coco.zip");
    let back = work.path().join("back.csv");
    let src = fixture("tfcsv-coco/in/train_labels.csv");
    let (ok, _, stderr) = run(cli(home.path())
        .arg("--plugin-dir")
        .arg(dir.path())
        .args(["convert", "--to", "COCO 1.0"])
        .arg(&src)
        .arg(&coco));
    assert!(ok, "{stderr}");
    let (ok, _, stderr) = run(cli(home.path())
        .arg("--plugin-dir")
        .arg(dir.path())
        .args(["convert", "--from", "COCO 1.0", "--to", "TFOD CSV"])
        .arg(&coco)
        .arg(&back));
    assert!(ok, "{stderr}");
    let original = std::fs::read_to_string(&src).unwrap();
    let back = std::fs::read_to_string(&back).unwrap();
    assert_eq!(rows(&back), rows(&original));

    // and validate reports the plugin's located diagnostics
    let bad = fixture("tfcsv-invalid/in/bad.csv");
    let (ok, stdout, stderr) = run(cli(home.path())
        .arg("--plugin-dir")
        .arg(dir.path())
        .args(["validate", "--format", TFCSV_NAME])
        .arg(&bad));
    assert!(!ok);
    let all = format!("{stdout}{stderr}");
    assert!(all.contains(&format!("{}:2:25", bad.display())), "{all}");
}

/// The C header and the minimal C plugin of `docs/plugin-abi.md`, compiled with the system C compiler
/// (the one Rust links with) and loaded: the specification is enough to write a working plugin in C.
#[cfg(unix)]
#[test]
fn c_plugin_from_the_spec_loads_and_exports() {
    let spec = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/plugin-abi.md"),
    )
    .expect("docs/plugin-abi.md");
    let blocks: Vec<&str> = spec
        .split("```c\n")
        .skip(1)
        .filter_map(|b| b.split("```").next())
        .collect();
    let header = blocks
        .iter()
        .find(|b| b.contains("#define CVAT_PLUGIN_H"))
        .expect("the C header block");
    let source = blocks
        .iter()
        .find(|b| b.contains("cvat_format_plugin_v1(void) { return &TABLE; }"))
        .expect("the example plugin block");
    let src = tempfile::tempdir().unwrap();
    std::fs::write(src.path().join("cvat_plugin.h"), header).unwrap();
    std::fs::write(src.path().join("hello.c"), source).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let lib = dir
        .path()
        .join(format!("libhello{}", std::env::consts::DLL_SUFFIX));
    let cc = std::env::var("CC").unwrap_or_else(|_| "cc".to_string());
    let out = Command::new(&cc)
        .args(["-std=c99", "-Wall", "-Werror", "-shared", "-fPIC", "-o"])
        .arg(&lib)
        .arg(src.path().join("hello.c"))
        .output()
        .unwrap_or_else(|e| panic!("cannot run the C compiler {cc:?}: {e}"));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let (reg, report) = registry_with(dir.path());
    assert!(report.refused.is_empty(), "{:?}", report.refused);
    let entry = reg.get("Hello 1.0").expect("the C plugin's format");
    assert!(!entry.info.can_import && entry.info.can_export);
    let files = write_mem(entry.format.as_ref(), &Dataset::default());
    assert_eq!(
        files.get("hello.txt").map(Vec::as_slice),
        Some(&b"hello\n"[..])
    );
    let input = Input::from_bytes("x.txt", b"x".to_vec()).unwrap();
    assert!(matches!(
        entry.format.read(&input, &ReadOptions::default()),
        Err(FormatError::Unsupported(_))
    ));
}
