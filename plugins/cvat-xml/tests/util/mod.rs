//! Shared helpers of the integration tests.
#![allow(dead_code)]

use cvat_format_api::{Dataset, DropReport, Format, Input, MemorySink, ReadOptions, WriteOptions};
use std::collections::BTreeMap;
use std::path::PathBuf;

pub fn shared(rel: &str) -> PathBuf {
    let p = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/")).join(rel);
    assert!(p.exists(), "shared data missing: {}", p.display());
    p
}

pub fn rich_a() -> Dataset {
    Dataset::from_task_dir(&shared("cvat/exports/rich-A")).expect("rich-A loads")
}

pub fn format(name: &str) -> Box<dyn Format> {
    match name {
        "CVAT for images 1.1" => Box::new(cvat_format_cvat::CvatImages),
        "CVAT for video 1.1" => Box::new(cvat_format_cvat::CvatVideo),
        "CVAT 1.1" => Box::new(cvat_format_cvat::CvatImport),
        _ => panic!("unknown format {name}"),
    }
}

pub fn write(name: &str, ds: &Dataset) -> (BTreeMap<String, Vec<u8>>, DropReport) {
    let mut sink = MemorySink::default();
    let report = format(name)
        .write(ds, &mut sink, &WriteOptions::default())
        .expect("write succeeds");
    (sink.into_files(), report)
}

pub fn read_bytes(
    name: &str,
    bytes: Vec<u8>,
    opts: &ReadOptions,
) -> cvat_format_api::Result<Dataset> {
    let input = Input::from_bytes(name, bytes).expect("input");
    format("CVAT 1.1").read(&input, opts)
}

/// A parsed XML element: name, attributes in document order, text (whitespace-only text dropped),
/// children.
#[derive(Debug, Clone, PartialEq)]
pub struct Elem {
    pub name: String,
    pub attrs: Vec<(String, String)>,
    pub text: String,
    pub children: Vec<Elem>,
}

/// Parses an XML document into an element tree (the root element).
pub fn parse_tree(bytes: &[u8]) -> Elem {
    use quick_xml::events::Event;
    let mut r = quick_xml::Reader::from_reader(bytes);
    let mut stack: Vec<Elem> = vec![Elem {
        name: String::new(),
        attrs: vec![],
        text: String::new(),
        children: vec![],
    }];
    let open = |e: &quick_xml::events::BytesStart| Elem {
        name: String::from_utf8(e.name().as_ref().to_vec()).unwrap(),
        attrs: e
            .attributes()
            .map(|a| {
                let a = a.unwrap();
                (
                    String::from_utf8(a.key.as_ref().to_vec()).unwrap(),
                    a.unescape_value().unwrap().into_owned(),
                )
            })
            .collect(),
        text: String::new(),
        children: vec![],
    };
    loop {
        match r.read_event().expect("well-formed XML") {
            Event::Start(e) => stack.push(open(&e)),
            Event::Empty(e) => {
                let el = open(&e);
                stack.last_mut().unwrap().children.push(el);
            }
            Event::End(_) => {
                let mut el = stack.pop().unwrap();
                if el.text.trim().is_empty() {
                    el.text.clear();
                }
                stack.last_mut().unwrap().children.push(el);
            }
            Event::Text(t) => stack
                .last_mut()
                .unwrap()
                .text
                .push_str(&t.xml_content().unwrap()),
            Event::GeneralRef(g) => {
                let s = match g.resolve_char_ref().unwrap() {
                    Some(c) => c.to_string(),
                    None => quick_xml::escape::resolve_predefined_entity(&g.decode().unwrap())
                        .unwrap()
                        .to_string(),
                };
                stack.last_mut().unwrap().text.push_str(&s);
            }
            Event::Eof => break,
            _ => {}
        }
    }
    stack.pop().unwrap().children.remove(0)
}

/// Lists every difference between two trees (path: what), skipping element paths for which `ignore`
/// says true (their text is not compared).
pub fn diff_trees(
    a: &Elem,
    b: &Elem,
    path: &str,
    ignore: &dyn Fn(&str) -> bool,
    out: &mut Vec<String>,
) {
    let here = format!("{path}/{}", a.name);
    if a.name != b.name {
        out.push(format!("{here}: element {} vs {}", a.name, b.name));
        return;
    }
    if a.attrs != b.attrs {
        out.push(format!("{here}: attributes {:?} vs {:?}", a.attrs, b.attrs));
    }
    if !ignore(&here) && a.text != b.text {
        out.push(format!("{here}: text {:?} vs {:?}", a.text, b.text));
    }
    if a.children.len() != b.children.len() {
        out.push(format!(
            "{here}: {} vs {} children",
            a.children.len(),
            b.children.len()
        ));
    }
    for (i, (x, y)) in a.children.iter().zip(&b.children).enumerate() {
        diff_trees(x, y, &format!("{here}[{i}]"), ignore, out);
    }
}

/// The annotations of a dataset in a canonical, comparable form: every tag, shape and track as JSON
/// without ids and `source` (the server forces `file` on import), label and attribute ids shifted by
/// `label_shift` / `spec_shift`, attributes and elements sorted; then the entries sorted.
pub fn canonical(ann: &serde_json::Value, label_shift: i64, spec_shift: i64) -> Vec<String> {
    use serde_json::Value;
    fn norm(v: &Value, ls: i64, ss: i64) -> Value {
        match v {
            Value::Object(m) => {
                let mut out = serde_json::Map::new();
                for (k, x) in m {
                    match k.as_str() {
                        "id" | "source" => {}
                        "label_id" => {
                            out.insert(k.clone(), Value::from(x.as_i64().unwrap() - ls));
                        }
                        "spec_id" => {
                            out.insert(k.clone(), Value::from(x.as_i64().unwrap() - ss));
                        }
                        "attributes" | "elements" => {
                            let mut items: Vec<Value> = x
                                .as_array()
                                .unwrap()
                                .iter()
                                .map(|e| norm(e, ls, ss))
                                .collect();
                            items.sort_by_key(|e| e.to_string());
                            out.insert(k.clone(), Value::Array(items));
                        }
                        _ => {
                            out.insert(k.clone(), norm(x, ls, ss));
                        }
                    }
                }
                Value::Object(out)
            }
            Value::Array(a) => Value::Array(a.iter().map(|e| norm(e, ls, ss)).collect()),
            other => other.clone(),
        }
    }
    let mut out = Vec::new();
    for key in ["tags", "shapes", "tracks"] {
        for item in ann[key].as_array().unwrap() {
            out.push(format!("{key}: {}", norm(item, label_shift, spec_shift)));
        }
    }
    out.sort();
    out
}
