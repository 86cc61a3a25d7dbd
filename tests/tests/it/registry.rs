//! The registry of built-in formats: unique names, every alias resolves, and names and capabilities as
//! the server advertises them (`shared/formats/SPECS.md` §0, the recorded 2.23.1 format list).

use crate::util::assert_none;
use cvat_format_api::{Origin, Registry};
use cvat_tests::shared;
use std::collections::HashMap;

fn registry() -> Registry {
    match cvat_formats::builtin_registry() {
        Ok(r) => r,
        Err(e) => panic!("built-in registry: {e}"),
    }
}

fn norm(s: &str) -> String {
    s.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_lowercase()
}

/// Which crate provides which of the server's formats (what we set out to implement).
const PLANNED: &[(&str, &[&str])] = &[
    (
        "cvat-format-cvat",
        &["CVAT for images 1.1", "CVAT for video 1.1", "CVAT 1.1"],
    ),
    ("cvat-format-coco", &["COCO 1.0", "COCO Keypoints 1.0"]),
    ("cvat-format-yolo", &["YOLO 1.1"]),
    (
        "cvat-format-ultralytics",
        &[
            "Ultralytics YOLO Detection 1.0",
            "Ultralytics YOLO Detection Track 1.0",
            "Ultralytics YOLO Segmentation 1.0",
            "Ultralytics YOLO Pose 1.0",
            "Ultralytics YOLO Oriented Bounding Boxes 1.0",
            "Ultralytics YOLO Classification 1.0",
        ],
    ),
    (
        "cvat-format-voc",
        &["PASCAL VOC 1.1", "Segmentation mask 1.1"],
    ),
    ("cvat-format-datumaro", &["Datumaro 1.0"]),
    ("cvat-format-labelme", &["LabelMe 3.0"]),
    ("cvat-format-mot", &["MOT 1.1"]),
];

/// Formats of cvat-cli that the server does not have.
const LOCAL: &[&str] = &["CVAT REST JSON"];

/// Rows of the §0 table of SPECS.md: (display name, export, import).
fn specs_table() -> Vec<(String, bool, bool)> {
    let text = std::fs::read_to_string(shared().join("formats/SPECS.md")).unwrap();
    let start = text.find("## 0.").expect("SPECS.md has a section 0");
    let section = &text[start..];
    let end = section[5..]
        .find("\n## ")
        .map(|i| i + 5)
        .unwrap_or(section.len());
    let mut rows = Vec::new();
    for line in section[..end].lines() {
        let cells: Vec<&str> = line.split('|').map(str::trim).collect();
        // | `Name` | export | import | ...
        let (Some(name), Some(export), Some(import)) = (cells.get(1), cells.get(2), cells.get(3))
        else {
            continue;
        };
        let Some(name) = name.strip_prefix('`').and_then(|n| n.strip_suffix('`')) else {
            continue;
        };
        let yes = |c: &str| c.starts_with("yes");
        rows.push((name.to_string(), yes(export), yes(import)));
    }
    assert!(rows.len() >= 15, "SPECS.md §0 table not found: {rows:?}");
    rows
}

#[test]
fn no_two_formats_share_a_name_or_alias() {
    let reg = registry();
    assert!(
        reg.get("CVAT REST JSON").is_some(),
        "the registry lacks even the REST JSON format: are the format crates linked?"
    );
    let mut seen: HashMap<String, String> = HashMap::new();
    let mut problems = Vec::new();
    for e in reg.entries() {
        for n in std::iter::once(&e.info.name).chain(e.info.aliases.iter()) {
            if let Some(other) = seen.insert(norm(n), e.info.name.clone()) {
                problems.push(format!(
                    "{n:?} of {:?} clashes with {other:?} (ignoring case and spacing)",
                    e.info.name
                ));
            }
        }
    }
    assert_none(&problems, "name clashes");
}

#[test]
fn every_name_and_alias_resolves_to_its_format() {
    let reg = registry();
    let mut problems = Vec::new();
    for e in reg.entries() {
        for n in std::iter::once(&e.info.name).chain(e.info.aliases.iter()) {
            for query in [
                n.clone(),
                n.to_lowercase(),
                format!("  {}  ", n.to_uppercase()),
            ] {
                match reg.get(&query) {
                    Some(found) if found.info.name == e.info.name => {}
                    Some(found) => problems.push(format!(
                        "{query:?} resolves to {:?}, not {:?}",
                        found.info.name, e.info.name
                    )),
                    None => problems.push(format!("{query:?} does not resolve")),
                }
            }
        }
        if !(e.info.can_import || e.info.can_export) {
            problems.push(format!("{:?} can neither import nor export", e.info.name));
        }
        if e.info.description.trim().is_empty() {
            problems.push(format!("{:?} has no description", e.info.name));
        }
    }
    assert_none(&problems, "resolution problems");
}

#[test]
fn specs_table_names_resolve_with_the_servers_capabilities() {
    let reg = registry();
    let table = specs_table();
    let mut problems = Vec::new();
    for (_, names) in PLANNED {
        for n in *names {
            if !table.iter().any(|(t, _, _)| t == n) {
                problems.push(format!(
                    "planned format {n:?} is not in the SPECS.md §0 table"
                ));
            }
        }
    }
    let linked = |krate: &str| {
        reg.entries()
            .iter()
            .any(|e| matches!(e.origin, Origin::Builtin(c) if c == krate))
    };
    for (name, export, import) in &table {
        let planned_by = PLANNED
            .iter()
            .find(|(_, names)| names.contains(&name.as_str()))
            .map(|(c, _)| *c);
        match reg.get(name) {
            Some(e) => {
                if e.info.name != *name {
                    problems.push(format!(
                        "{name:?} resolves to {:?}: the server's display name must be the name",
                        e.info.name
                    ));
                }
                if e.info.can_export != *export || e.info.can_import != *import {
                    problems.push(format!(
                        "{name:?}: export {} import {}, the server has export {export} import {import}",
                        e.info.can_export, e.info.can_import
                    ));
                }
            }
            None => {
                if let Some(krate) = planned_by.filter(|c| linked(c)) {
                    problems.push(format!("{krate} is linked but {name:?} does not resolve"));
                }
            }
        }
    }
    assert_none(&problems, "differences from SPECS.md §0");
}

#[test]
fn server_advertised_names_have_the_servers_capabilities() {
    let path = shared().join("cvat/server-annotation-formats-2.23.1.json");
    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    let names = |key: &str| -> Vec<String> {
        v[key]
            .as_array()
            .unwrap_or_else(|| panic!("{} has no {key}", path.display()))
            .iter()
            .filter_map(|f| f["name"].as_str().map(str::to_string))
            .collect()
    };
    let (importers, exporters) = (names("importers"), names("exporters"));
    let reg = registry();
    let mut problems = Vec::new();
    for n in &importers {
        if let Some(e) = reg.get(n) {
            if !e.info.can_import {
                problems.push(format!(
                    "the server imports {n:?} but {:?} cannot",
                    e.info.name
                ));
            }
        }
    }
    for n in &exporters {
        if let Some(e) = reg.get(n) {
            if !e.info.can_export {
                problems.push(format!(
                    "the server exports {n:?} but {:?} cannot",
                    e.info.name
                ));
            }
        }
    }
    // and every built-in is a server format (by name or an older alias), or one of our local ones
    let table = specs_table();
    for e in reg.entries() {
        if LOCAL.contains(&e.info.name.as_str()) {
            continue;
        }
        let known = std::iter::once(&e.info.name)
            .chain(e.info.aliases.iter())
            .any(|n| {
                importers.contains(n)
                    || exporters.contains(n)
                    || table.iter().any(|(t, _, _)| t == n)
            });
        if !known {
            problems.push(format!(
                "{:?} is neither a server format nor listed as local",
                e.info.name
            ));
        }
    }
    assert_none(&problems, "differences from the server's format list");
}
