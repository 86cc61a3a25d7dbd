//! Every valid sample of every importable format, truncated at many offsets, must fail cleanly: an
//! error or diagnostics with a location, never a panic. Samples: the upstream files under
//! `shared/formats/` (files and dataset directories, not the `malformed/` ones) and the real server's
//! exports of rich-A. A sample counts for a format when the format claims it (`sniff`) and reads it.

use crate::util::{assert_none, no_panic};
use cvat_format_api::{Entry, Input, ReadOptions, Registry};
use cvat_tests::{rich_a_dir, rich_a_hints, shared};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Members worth truncating: the annotation files, not images.
fn is_text(rel: &str) -> bool {
    let l = rel.to_ascii_lowercase();
    [
        ".json", ".xml", ".txt", ".ini", ".csv", ".names", ".data", ".yaml", ".yml",
    ]
    .iter()
    .any(|e| l.ends_with(e))
}

fn is_structured(rel: &str) -> bool {
    let l = rel.to_ascii_lowercase();
    l.ends_with(".json") || l.ends_with(".xml")
}

/// Up to `n` offsets spread over `0..len` (every offset when `len <= n`).
fn offsets(len: usize, n: usize) -> Vec<usize> {
    if len <= n {
        return (0..len).collect();
    }
    let mut v: Vec<usize> = (0..n).map(|i| i * len / n).collect();
    v.push(len - 1);
    v.dedup();
    v
}

fn candidates() -> Vec<PathBuf> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        let Ok(rd) = std::fs::read_dir(dir) else {
            return;
        };
        let mut entries: Vec<PathBuf> = rd.filter_map(|e| e.ok().map(|e| e.path())).collect();
        entries.sort();
        for p in entries {
            let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
            if name == "malformed" || name.starts_with('.') {
                continue;
            }
            out.push(p.clone());
            if p.is_dir() {
                walk(&p, out);
            }
        }
    }
    let mut out = Vec::new();
    walk(&shared().join("formats"), &mut out);
    let exports = rich_a_dir().join("export");
    let mut zips: Vec<PathBuf> = std::fs::read_dir(&exports)
        .unwrap_or_else(|e| panic!("{}: {e}", exports.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "zip"))
        .collect();
    zips.sort();
    out.extend(zips);
    out
}

/// The whole input in memory, to truncate one member at a time.
fn in_memory(input: &Input) -> Option<BTreeMap<String, Vec<u8>>> {
    if input.files().len() > 300 {
        return None;
    }
    input
        .files()
        .iter()
        .map(|rel| input.read(rel).ok().map(|b| (rel.clone(), b)))
        .collect()
}

/// A truncated input taking longer than this (and 20 times a full read) is a problem in itself, and
/// ends the sample's run (the reader is pathological on broken input).
const SLOW: std::time::Duration = std::time::Duration::from_secs(2);

/// Truncated inputs of one sample stop after this much time (coverage, not correctness, is cut).
const SAMPLE_TIME: std::time::Duration = std::time::Duration::from_secs(15);

/// Checks one truncated input; returns a problem, if any.
fn check(
    entry: &Entry,
    input: &Input,
    opts: &ReadOptions,
    what: &str,
    must_fail: bool,
) -> Option<String> {
    let name = &entry.info.name;
    let read = match no_panic(|| entry.format.read(input, opts)) {
        Ok(r) => r,
        Err(p) => return Some(format!("{name}: read panicked on {what}: {p}")),
    };
    let diags = match no_panic(|| entry.format.validate(input, opts)) {
        Ok(d) => d,
        Err(p) => return Some(format!("{name}: validate panicked on {what}: {p}")),
    };
    match read {
        Err(e) => {
            let d = e.to_diagnostic(input.name());
            if d.location.file.trim().is_empty() {
                return Some(format!("{name}: error without a location on {what}: {e}"));
            }
            if !diags.has_errors() {
                return Some(format!(
                    "{name}: read fails on {what} ({e}) but validate reports no error"
                ));
            }
            if let Some(d) = diags
                .items()
                .iter()
                .find(|d| d.location.file.trim().is_empty())
            {
                return Some(format!(
                    "{name}: diagnostic without a location on {what}: {d}"
                ));
            }
            None
        }
        Ok(_) if must_fail => Some(format!("{name}: accepted {what}")),
        Ok(_) => None,
    }
}

/// (format, sample) pairs: the sample is claimed and read by the format. Of nested directories that
/// a format reads, only the deepest count (the dataset root, not every folder above it).
fn samples(reg: &Registry) -> Vec<(&Entry, PathBuf)> {
    let hints = rich_a_hints();
    let mut found: Vec<(&Entry, PathBuf)> = Vec::new();
    for path in candidates() {
        let Ok(input) = Input::open(&path) else {
            continue;
        };
        if input.files().len() > 300 {
            continue;
        }
        for e in reg.entries().iter().filter(|e| e.info.can_import) {
            let sniffed = no_panic(|| e.format.sniff(&input)).unwrap_or_else(|p| {
                panic!("{}: sniff panicked on {}: {p}", e.info.name, path.display())
            });
            if sniffed == 0 {
                continue;
            }
            let opts = if path.starts_with(rich_a_dir()) {
                hints.clone()
            } else {
                ReadOptions::default()
            };
            if matches!(no_panic(|| e.format.read(&input, &opts)), Ok(Ok(_))) {
                found.push((e, path.clone()));
            }
        }
    }
    let deeper = |e: &Entry, dir: &Path, all: &[(&Entry, PathBuf)]| {
        all.iter()
            .any(|(o, p)| o.info.name == e.info.name && p != dir && p.starts_with(dir))
    };
    let keep: Vec<bool> = found
        .iter()
        .map(|(e, p)| !(p.is_dir() && deeper(e, p, &found)))
        .collect();
    found
        .iter()
        .zip(keep)
        .filter(|(_, k)| *k)
        .map(|((e, p), _)| (*e, p.clone()))
        .collect()
}

#[test]
fn truncated_samples_fail_cleanly() {
    let reg = cvat_formats::builtin_registry().unwrap();
    let hints = rich_a_hints();
    let samples = samples(&reg);
    let mut problems = Vec::new();
    let mut cases = 0usize;
    for (entry, path) in &samples {
        let started = std::time::Instant::now();
        let before = cases;
        let input = Input::open(path).unwrap();
        let opts = if path.starts_with(rich_a_dir()) {
            hints.clone()
        } else {
            ReadOptions::default()
        };
        let disp = path.display();
        // about 150 truncated inputs per sample, fewer for samples slow to read (image masks decoded
        // in a debug build), so that the whole run stays within a minute or two
        let timer = std::time::Instant::now();
        let _ = no_panic(|| entry.format.read(&input, &opts));
        let per_read = timer.elapsed().as_secs_f64().max(1e-6);
        let budget = ((2.0 / per_read) as usize).clamp(8, 150);
        let slow = SLOW.max(std::time::Duration::from_secs_f64(per_read * 20.0));
        let sample_start = std::time::Instant::now();
        // runs one case; false when it was too slow or the sample's time is up (its run stops there)
        let timed = |t: &Input, what: &str, must_fail: bool, problems: &mut Vec<String>| {
            let start = std::time::Instant::now();
            problems.extend(check(entry, t, &opts, what, must_fail));
            let took = start.elapsed();
            if took > slow {
                problems.push(format!(
                    "{}: {what} took {took:.1?} (a full read of the intact sample: {per_read:.3}s)",
                    entry.info.name
                ));
                return false;
            }
            sample_start.elapsed() < SAMPLE_TIME
        };
        if input.is_single_file() {
            let bytes = std::fs::read(path).unwrap();
            let rel = input.files()[0].clone();
            let structured = is_structured(&rel);
            for cut in offsets(bytes.len(), budget) {
                if bytes[cut..].iter().all(u8::is_ascii_whitespace) {
                    continue;
                }
                let Ok(t) = Input::from_bytes(&rel, bytes[..cut].to_vec()) else {
                    continue;
                };
                cases += 1;
                let what = format!("{disp} cut at {cut}");
                if !timed(&t, &what, structured, &mut problems) {
                    break;
                }
            }
            eprintln!(
                "{}: {disp}: {} cases in {:.1?}",
                entry.info.name,
                cases - before,
                started.elapsed()
            );
            continue;
        }
        if input.is_archive() {
            // the archive itself cut short
            let bytes = std::fs::read(path).unwrap();
            for cut in offsets(bytes.len(), budget.min(25)) {
                cases += 1;
                let what = format!("{disp} (archive) cut at {cut}");
                match no_panic(|| Input::from_bytes("cut.zip", bytes[..cut].to_vec())) {
                    Err(p) => problems.push(format!("Input::from_bytes panicked on {what}: {p}")),
                    Ok(Err(e)) => {
                        if e.to_diagnostic("cut.zip").location.file.is_empty() {
                            problems.push(format!("archive error without a location on {what}"));
                        }
                    }
                    Ok(Ok(t)) => {
                        if !timed(&t, &what, false, &mut problems) {
                            break;
                        }
                    }
                }
            }
        }
        // each annotation file of the tree cut short, the rest intact
        let Some(files) = in_memory(&input) else {
            continue;
        };
        let texts: Vec<(&String, &Vec<u8>)> = files.iter().filter(|(r, _)| is_text(r)).collect();
        // spread over its annotation files
        let per_file = (budget / texts.len().max(1)).clamp(2, 40);
        'files: for (rel, bytes) in texts {
            for cut in offsets(bytes.len(), per_file) {
                if bytes[cut..].iter().all(u8::is_ascii_whitespace) {
                    continue;
                }
                let mut cut_files = files.clone();
                cut_files.insert(rel.clone(), bytes[..cut].to_vec());
                let t = Input::from_files(&disp.to_string(), cut_files);
                cases += 1;
                let what = format!("{disp}: {rel} cut at {cut}");
                if !timed(&t, &what, false, &mut problems) {
                    break 'files;
                }
            }
        }
        eprintln!(
            "{}: {disp}: {} cases in {:.1?}",
            entry.info.name,
            cases - before,
            started.elapsed()
        );
    }
    eprintln!(
        "truncation: {} (format, sample) pairs, {cases} truncated inputs",
        samples.len()
    );
    assert!(
        !samples.is_empty(),
        "no valid sample found for any format (is shared/ there?)"
    );
    assert_none(&problems, "truncation problems");
}

#[test]
fn every_importable_format_with_an_export_has_a_sample() {
    // guards the harness: a format whose own server export it cannot read would silently get no
    // truncation coverage
    let reg = cvat_formats::builtin_registry().unwrap();
    let samples = samples(&reg);
    let mut problems = Vec::new();
    for e in reg.entries().iter().filter(|e| e.info.can_import) {
        let dir_name: String = e
            .info
            .name
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '.' {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        let export_zip = rich_a_dir().join("export").join(format!("{dir_name}.zip"));
        let has_export = export_zip.is_file()
            || e.info.aliases.iter().any(|a| {
                let d: String = a
                    .chars()
                    .map(|c| {
                        if c.is_ascii_alphanumeric() || c == '.' {
                            c
                        } else {
                            '_'
                        }
                    })
                    .collect();
                rich_a_dir()
                    .join("export")
                    .join(format!("{d}.zip"))
                    .is_file()
            });
        if has_export && !samples.iter().any(|(s, _)| s.info.name == e.info.name) {
            problems.push(format!(
                "{:?} has a server export of rich-A but reads no sample",
                e.info.name
            ));
        }
    }
    assert_none(&problems, "formats without samples");
}
