//! The conversion matrix on rich-A: every exporter writes the task, every importer reads every export.
//! Nothing may panic; a failure must say where. A format must read what its own exporter wrote.

use crate::util::{assert_none, no_panic};
use cvat_format_api::{Input, MemorySink, WriteOptions};
use cvat_tests::{rich_a, rich_a_hints};

/// The importer that reads what `exporter` writes, as the server pairs them.
fn own_importer(exporter: &str) -> &str {
    match exporter {
        "CVAT for images 1.1" | "CVAT for video 1.1" => "CVAT 1.1",
        other => other,
    }
}

#[test]
fn every_exporter_and_importer_pair_runs_cleanly() {
    let reg = cvat_formats::builtin_registry().unwrap();
    let ds = rich_a();
    let hints = rich_a_hints();
    let mut problems = Vec::new();
    let mut pairs = 0usize;
    let mut read_ok = 0usize;
    for exp in reg.entries().iter().filter(|e| e.info.can_export) {
        let name = &exp.info.name;
        let mut sink = MemorySink::default();
        let written = match no_panic(|| exp.format.write(&ds, &mut sink, &WriteOptions::default()))
        {
            Err(p) => {
                problems.push(format!("{name}: write panicked: {p}"));
                continue;
            }
            Ok(Err(e)) => {
                problems.push(format!("{name}: cannot write rich-A: {e}"));
                continue;
            }
            Ok(Ok(drops)) => drops,
        };
        for (what, n) in &written.items {
            if *n == 0 || what.trim().is_empty() {
                problems.push(format!("{name}: drop report item {what:?} x{n}"));
            }
        }
        let files = sink.into_files();
        if files.is_empty() {
            problems.push(format!("{name}: wrote no file"));
            continue;
        }
        let input = Input::from_files(&format!("{name} export"), files);
        for imp in reg.entries().iter().filter(|e| e.info.can_import) {
            pairs += 1;
            let pair = format!("{name} -> {}", imp.info.name);
            if let Err(p) = no_panic(|| imp.format.sniff(&input)) {
                problems.push(format!("{pair}: sniff panicked: {p}"));
            }
            match no_panic(|| imp.format.read(&input, &hints)) {
                Err(p) => problems.push(format!("{pair}: read panicked: {p}")),
                Ok(Ok(_)) => read_ok += 1,
                Ok(Err(e)) => {
                    if imp.info.name == own_importer(name) {
                        problems.push(format!("{pair}: cannot read its own export: {e}"));
                    }
                    if e.to_diagnostic(input.name())
                        .location
                        .file
                        .trim()
                        .is_empty()
                    {
                        problems.push(format!("{pair}: error without a location: {e}"));
                    }
                }
            }
            if let Err(p) = no_panic(|| imp.format.validate(&input, &hints)) {
                problems.push(format!("{pair}: validate panicked: {p}"));
            }
        }
    }
    eprintln!("matrix: {pairs} pairs, {read_ok} read successfully");
    assert!(pairs > 0, "no exporter/importer pair in the registry");
    assert_none(&problems, "conversion matrix problems");
}
