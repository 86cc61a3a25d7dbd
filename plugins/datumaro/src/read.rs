//! Reading Datumaro JSON into the model, the way the server's `import_dm_annotations` does, and
//! collecting located diagnostics (JSON paths) on the way so that `validate` can report many problems.

use crate::write::svg_for_joints;
use cvat_format_api::geometry::{
    bitmap_to_cvat_rle, coco_counts_to_bitmap, coco_rle_string_to_counts, fmt_py_float,
};
use cvat_format_api::{
    AnnRef, AttributeSpec, AttributeValue, Dataset, Diagnostic, Diagnostics, Frame, Input,
    InputType, Label, LabelType, Location, ReadOptions, Shape, ShapeType, Source, Tag, Track,
    TrackedShape,
};
use serde_json::{Map, Value};
use std::collections::{BTreeMap, HashMap, HashSet};

/// Attribute keys the server interprets itself instead of storing as attributes.
const SPECIAL: [&str; 6] = [
    "occluded", "rotation", "track_id", "keyframe", "outside", "source",
];

/// Where each model object came from, for locating model-level diagnostics.
#[derive(Default)]
pub struct Origins {
    pub labels: Vec<Location>,
    pub tags: Vec<Location>,
    pub shapes: Vec<Location>,
    pub tracks: Vec<Location>,
    pub frames: Vec<Location>,
}

impl Origins {
    pub fn locate(&self, r: AnnRef, fallback: &str) -> Location {
        let pick = |v: &Vec<Location>, i: usize| {
            v.get(i)
                .cloned()
                .unwrap_or_else(|| Location::file(fallback))
        };
        match r {
            AnnRef::Label(i) => pick(&self.labels, i),
            AnnRef::Tag(i) => pick(&self.tags, i),
            AnnRef::Shape(i) | AnnRef::Element(i, _) => pick(&self.shapes, i),
            AnnRef::Track(i) | AnnRef::TrackShape(i, _) => pick(&self.tracks, i),
            AnnRef::Frame(i) => pick(&self.frames, i),
        }
    }
}

/// The annotation files of an input: `annotations/<subset>.json`, or the input itself when it is one
/// JSON file. Returns (relative path, subset).
pub fn annotation_files(input: &Input) -> Vec<(String, String)> {
    let stem = |p: &str| {
        let base = p.rsplit('/').next().unwrap_or(p);
        base.strip_suffix(".json")
            .or_else(|| base.strip_suffix(".JSON"))
            .unwrap_or(base)
            .to_string()
    };
    if input.is_single_file() {
        return input
            .files()
            .iter()
            .map(|f| {
                let s = stem(f);
                (f.clone(), if s.is_empty() { "default".into() } else { s })
            })
            .collect();
    }
    let mut out: Vec<(String, String)> = input
        .files_with_suffix(".json")
        .filter(|f| {
            let mut parts = f.rsplit('/');
            parts.next();
            parts.next() == Some("annotations")
        })
        .map(|f| (f.to_string(), stem(f)))
        .collect();
    // archives wrapped in one folder: keep the shallowest annotations/ directory only
    if let Some(min) = out.iter().map(|(f, _)| f.matches('/').count()).min() {
        out.retain(|(f, _)| f.matches('/').count() == min);
    }
    out
}

/// The task's frames by name, by file name without extension, and by their last path components, as
/// [`ReadOptions::frame_hint`] matches them, without a scan per item.
struct FrameLookup {
    by_name: HashMap<String, u32>,
    by_stem: HashMap<String, u32>,
    by_base_stem: HashMap<String, u32>,
    by_base_name: HashMap<String, u32>,
    ids: HashSet<u32>,
}

impl FrameLookup {
    fn new(frames: &[Frame]) -> Self {
        let base = |s: &str| s.rsplit('/').next().unwrap_or(s).to_string();
        let mut l = FrameLookup {
            by_name: HashMap::new(),
            by_stem: HashMap::new(),
            by_base_stem: HashMap::new(),
            by_base_name: HashMap::new(),
            ids: HashSet::new(),
        };
        for f in frames {
            l.by_name.entry(f.name.clone()).or_insert(f.id);
            l.by_stem.entry(f.stem().to_string()).or_insert(f.id);
            l.by_base_stem.entry(base(f.stem())).or_insert(f.id);
            l.by_base_name.entry(base(&f.name)).or_insert(f.id);
            l.ids.insert(f.id);
        }
        l
    }
    fn find(&self, q: &str) -> Option<u32> {
        let base = q.rsplit('/').next().unwrap_or(q);
        self.by_name
            .get(q)
            .or_else(|| self.by_stem.get(q))
            .or_else(|| self.by_base_stem.get(base))
            .or_else(|| self.by_base_name.get(base))
            .copied()
    }
}

struct RawItem<'v> {
    file: String,
    subset: String,
    path: String,
    id: String,
    frame_attr: Option<u32>,
    image_path: Option<String>,
    size: Option<(u32, u32)>,
    anns: Vec<&'v Value>,
}

/// A category label: its name, its parent's name ("" for top level).
#[derive(Clone, PartialEq)]
struct DmLabel {
    name: String,
    parent: String,
}

pub struct Reader<'a> {
    pub diags: Diagnostics,
    pub origins: Origins,
    opts: &'a ReadOptions,
}

fn num(v: &Value) -> Option<f64> {
    v.as_f64().filter(|f| f.is_finite())
}

fn python_str(v: &Value, spec: Option<&AttributeSpec>) -> String {
    match v {
        Value::Bool(b) => {
            if spec
                .map(|s| s.input_type == InputType::Checkbox)
                .unwrap_or(true)
            {
                b.to_string()
            } else if *b {
                "True".into()
            } else {
                "False".into()
            }
        }
        Value::Number(n) => match n.as_i64() {
            Some(i) if !n.is_f64() => i.to_string(),
            _ => fmt_py_float(n.as_f64().unwrap_or(0.0)),
        },
        Value::String(s) => s.clone(),
        Value::Null => "None".into(),
        other => other.to_string(),
    }
}

impl<'a> Reader<'a> {
    pub fn new(opts: &'a ReadOptions) -> Self {
        Reader {
            diags: Diagnostics::default(),
            origins: Origins::default(),
            opts,
        }
    }

    fn err(&mut self, file: &str, path: &str, code: &str, msg: impl Into<String>) {
        self.diags
            .push(Diagnostic::error(Location::json(file, path), code, msg));
    }

    /// Reads every annotation file of `input`. Problems go to `self.diags`; the dataset is as complete
    /// as the input allows.
    pub fn read(&mut self, input: &Input) -> Dataset {
        let files = annotation_files(input);
        let mut ds = Dataset::default();
        if files.is_empty() {
            self.diags.push(
                Diagnostic::error(
                    Location::file(input.name()),
                    "missing-file",
                    "no Datumaro annotation file found",
                )
                .with_hint("a Datumaro 1.0 dataset holds annotations/<subset>.json (e.g. annotations/default.json)"),
            );
            return ds;
        }
        let mut docs: Vec<(String, String, Value)> = Vec::new();
        for (rel, subset) in files {
            let disp = input.display(&rel);
            let bytes = match input.read(&rel) {
                Ok(b) => b,
                Err(e) => {
                    self.diags.push(e.to_diagnostic(&disp));
                    continue;
                }
            };
            match serde_json::from_slice::<Value>(&bytes) {
                Ok(v) => docs.push((disp, subset, v)),
                Err(e) => self.diags.push(
                    Diagnostic::error(
                        Location::line(&disp, e.line() as u32, e.column() as u32),
                        "syntax",
                        format!("invalid JSON: {e}"),
                    )
                    .with_hint("the file may be truncated or not JSON"),
                ),
            }
        }
        // categories: every subset file carries the same ones; take the first, check the others
        let mut dm_labels: Option<Vec<DmLabel>> = None;
        let mut points_cats: HashMap<usize, Vec<String>> = HashMap::new();
        let mut joints: HashMap<usize, Vec<(i64, i64)>> = HashMap::new();
        for (file, _, doc) in &docs {
            if !doc.is_object() {
                self.err(file, "$", "type", "the document must be a JSON object");
                continue;
            }
            let labels = self.parse_labels(file, doc);
            match &dm_labels {
                None => {
                    dm_labels = Some(labels);
                    if let Some(items) = doc
                        .pointer("/categories/points/items")
                        .and_then(|v| v.as_array())
                    {
                        for (i, it) in items.iter().enumerate() {
                            let p = format!("$.categories.points.items[{i}]");
                            let Some(lid) = it.get("label_id").and_then(|v| v.as_u64()) else {
                                self.err(
                                    file,
                                    &p,
                                    "missing-field",
                                    "points category has no integer label_id",
                                );
                                continue;
                            };
                            let names = it
                                .get("labels")
                                .and_then(|v| v.as_array())
                                .map(|a| {
                                    a.iter()
                                        .filter_map(|x| x.as_str().map(str::to_string))
                                        .collect()
                                })
                                .unwrap_or_default();
                            let js = it
                                .get("joints")
                                .and_then(|v| v.as_array())
                                .map(|a| {
                                    a.iter()
                                        .filter_map(|j| {
                                            let j = j.as_array()?;
                                            Some((j.first()?.as_i64()?, j.get(1)?.as_i64()?))
                                        })
                                        .collect()
                                })
                                .unwrap_or_default();
                            points_cats.insert(lid as usize, names);
                            joints.insert(lid as usize, js);
                        }
                    }
                }
                Some(first) => {
                    if *first != labels {
                        self.err(
                            file,
                            "$.categories.label.labels",
                            "categories-mismatch",
                            "label categories differ from those of the first subset file",
                        );
                    }
                }
            }
        }
        let dm_labels = dm_labels.unwrap_or_default();
        let first_file = docs.first().map(|d| d.0.clone()).unwrap_or_default();
        let label_map = self.build_labels(&first_file, &dm_labels, &points_cats, &joints, &mut ds);

        // items
        let mut raw: Vec<RawItem> = Vec::new();
        for (file, subset, doc) in &docs {
            let Some(items) = doc.get("items") else {
                self.err(file, "$", "missing-field", "missing \"items\"");
                continue;
            };
            let Some(items) = items.as_array() else {
                self.err(file, "$.items", "type", "\"items\" must be an array");
                continue;
            };
            let mut seen = HashSet::new();
            for (i, it) in items.iter().enumerate() {
                let p = format!("$.items[{i}]");
                let Some(id) = it.get("id").and_then(|v| v.as_str()) else {
                    self.err(file, &p, "missing-field", "item has no string \"id\"");
                    continue;
                };
                if !seen.insert(id.to_string()) {
                    self.err(
                        file,
                        &format!("{p}.id"),
                        "duplicate-id",
                        format!("item id {id:?} appears twice"),
                    );
                }
                let frame_attr = match it.pointer("/attr/frame") {
                    None => None,
                    Some(v) => match v.as_u64().and_then(|f| u32::try_from(f).ok()) {
                        Some(f) => Some(f),
                        None => {
                            self.err(
                                file,
                                &format!("{p}.attr.frame"),
                                "type",
                                "frame must be a non-negative integer",
                            );
                            None
                        }
                    },
                };
                let image_path = it
                    .pointer("/image/path")
                    .and_then(|v| v.as_str())
                    .map(str::to_string);
                let size = match it.pointer("/image/size") {
                    None => None,
                    Some(v) => {
                        let hw = v.as_array().filter(|a| a.len() == 2).and_then(|a| {
                            Some((
                                u32::try_from(a[1].as_u64()?).ok()?,
                                u32::try_from(a[0].as_u64()?).ok()?,
                            ))
                        });
                        if hw.is_none() {
                            self.err(
                                file,
                                &format!("{p}.image.size"),
                                "type",
                                "image size must be [height, width]",
                            );
                        }
                        hw
                    }
                };
                let anns = match it.get("annotations") {
                    None => Vec::new(),
                    Some(Value::Array(a)) => a.iter().collect(),
                    Some(_) => {
                        self.err(
                            file,
                            &format!("{p}.annotations"),
                            "type",
                            "\"annotations\" must be an array",
                        );
                        Vec::new()
                    }
                };
                raw.push(RawItem {
                    file: file.clone(),
                    subset: subset.clone(),
                    path: p,
                    id: id.to_string(),
                    frame_attr,
                    image_path,
                    size,
                    anns,
                });
            }
        }

        // frames
        let frames_of_items = self.resolve_frames(&raw, &mut ds);
        let stop_frame = ds.frames.iter().map(|f| f.id).max().unwrap_or(0);

        // annotations
        let mut tb = TrackBuilder {
            mutable: ds
                .labels
                .iter()
                .flat_map(|l| {
                    l.attributes
                        .iter()
                        .chain(l.sublabels.iter().flat_map(|s| &s.attributes))
                })
                .filter(|a| a.mutable)
                .map(|a| a.id)
                .collect(),
            ..Default::default()
        };
        for (item, frame) in raw.iter().zip(frames_of_items) {
            let Some(frame) = frame else { continue };
            self.convert_item(item, frame, &label_map, &points_cats, &mut ds, &mut tb);
        }
        tb.finish(stop_frame, &mut ds, &mut self.origins);
        ds
    }

    fn parse_labels(&mut self, file: &str, doc: &Value) -> Vec<DmLabel> {
        let mut out = Vec::new();
        let Some(cat) = doc.pointer("/categories/label") else {
            return out;
        };
        let Some(labels) = cat.get("labels").and_then(|v| v.as_array()) else {
            self.err(
                file,
                "$.categories.label",
                "missing-field",
                "label categories have no \"labels\" array",
            );
            return out;
        };
        let mut names = HashSet::new();
        for (i, l) in labels.iter().enumerate() {
            let p = format!("$.categories.label.labels[{i}]");
            let Some(name) = l.get("name").and_then(|v| v.as_str()) else {
                self.err(file, &p, "missing-field", "label has no string \"name\"");
                out.push(DmLabel {
                    name: String::new(),
                    parent: String::new(),
                });
                continue;
            };
            let parent = l
                .get("parent")
                .and_then(|v| v.as_str())
                .unwrap_or("")
                .to_string();
            if !names.insert((parent.clone(), name.to_string())) {
                self.err(
                    file,
                    &p,
                    "duplicate-label",
                    format!("label {name:?} is declared twice"),
                );
            }
            out.push(DmLabel {
                name: name.to_string(),
                parent,
            });
        }
        out
    }

    /// Builds (or maps onto the given) labels; returns the CVAT label id of each Datumaro label index.
    fn build_labels(
        &mut self,
        file: &str,
        dm: &[DmLabel],
        points_cats: &HashMap<usize, Vec<String>>,
        joints: &HashMap<usize, Vec<(i64, i64)>>,
        ds: &mut Dataset,
    ) -> Vec<Option<i64>> {
        let mut map = Vec::with_capacity(dm.len());
        if let Some(given) = &self.opts.labels {
            ds.labels = given.clone();
            for (i, l) in dm.iter().enumerate() {
                let found = if l.parent.is_empty() {
                    ds.labels.iter().find(|x| x.name == l.name).map(|x| x.id)
                } else {
                    ds.labels
                        .iter()
                        .find(|x| x.name == l.parent)
                        .and_then(|p| p.sublabels.iter().find(|s| s.name == l.name))
                        .map(|x| x.id)
                };
                if found.is_none() && !l.name.is_empty() {
                    let full = if l.parent.is_empty() {
                        l.name.clone()
                    } else {
                        format!("{}.{}", l.parent, l.name)
                    };
                    self.diags.push(
                        Diagnostic::error(
                            Location::json(file, format!("$.categories.label.labels[{i}]")),
                            "unknown-label",
                            format!("label {full:?} is not a label of the task"),
                        )
                        .with_hint("add the label to the task, or remove it from the dataset"),
                    );
                }
                map.push(found);
            }
            return map;
        }
        let mut next = 1i64;
        for (i, l) in dm.iter().enumerate() {
            if l.parent.is_empty() {
                let kind = if points_cats.contains_key(&i) || dm.iter().any(|x| x.parent == l.name)
                {
                    LabelType::Skeleton
                } else {
                    LabelType::Any
                };
                ds.labels.push(Label {
                    id: next,
                    name: l.name.clone(),
                    kind,
                    svg: joints
                        .get(&i)
                        .map(|j| svg_for_joints(j))
                        .unwrap_or_default(),
                    ..Default::default()
                });
                self.origins.labels.push(Location::json(
                    file,
                    format!("$.categories.label.labels[{i}]"),
                ));
                map.push(Some(next));
                next += 1;
            } else {
                map.push(None);
            }
        }
        for (i, l) in dm.iter().enumerate() {
            if l.parent.is_empty() {
                continue;
            }
            match ds.labels.iter_mut().find(|x| x.name == l.parent) {
                Some(parent) => {
                    parent.kind = LabelType::Skeleton;
                    parent.sublabels.push(Label {
                        id: next,
                        name: l.name.clone(),
                        kind: LabelType::Points,
                        ..Default::default()
                    });
                    if let Some(m) = map.get_mut(i) {
                        *m = Some(next);
                    }
                    next += 1;
                }
                None => self.err(
                    file,
                    &format!("$.categories.label.labels[{i}].parent"),
                    "unknown-label",
                    format!("parent label {:?} is not declared", l.parent),
                ),
            }
        }
        // sub-labels in the order the points category lists them
        for (i, names) in points_cats {
            let Some(Some(pid)) = map.get(*i) else {
                continue;
            };
            if let Some(p) = ds.labels.iter_mut().find(|l| l.id == *pid) {
                p.sublabels.sort_by_key(|s| {
                    names
                        .iter()
                        .position(|n| *n == s.name)
                        .unwrap_or(usize::MAX)
                });
            }
        }
        map
    }

    fn resolve_frames(&mut self, raw: &[RawItem], ds: &mut Dataset) -> Vec<Option<u32>> {
        let mut out = Vec::with_capacity(raw.len());
        if let Some(frames) = &self.opts.frames {
            ds.frames = frames.clone();
            let lookup = FrameLookup::new(frames);
            for it in raw {
                let by_name = it
                    .image_path
                    .as_deref()
                    .and_then(|p| lookup.find(p))
                    .or_else(|| lookup.find(&it.id));
                let f = by_name.or_else(|| it.frame_attr.filter(|f| lookup.ids.contains(f)));
                if f.is_none() {
                    self.diags.push(
                        Diagnostic::error(
                            Location::json(&it.file, format!("{}.id", it.path)),
                            "unknown-frame",
                            format!("item {:?} matches no frame of the task", it.id),
                        )
                        .with_hint(
                            "item ids must be the task's frame file names without extension",
                        ),
                    );
                }
                out.push(f);
            }
            return out;
        }
        let all_numbered = raw.iter().all(|r| r.frame_attr.is_some());
        let mut order: Vec<usize> = (0..raw.len()).collect();
        if !all_numbered {
            order.sort_by(|a, b| raw[*a].id.cmp(&raw[*b].id));
        }
        out.resize(raw.len(), None);
        let mut used: HashMap<u32, usize> = HashMap::new();
        for (n, &i) in order.iter().enumerate() {
            let it = &raw[i];
            let id = if all_numbered {
                it.frame_attr.unwrap_or(0)
            } else {
                n as u32
            };
            if used.insert(id, i).is_some() {
                self.err(
                    &it.file,
                    &format!("{}.attr.frame", it.path),
                    "duplicate-id",
                    format!("frame {id} is used by more than one item"),
                );
                continue;
            }
            out[i] = Some(id);
            let name = match &it.image_path {
                Some(p) => p.clone(),
                None => it.id.clone(),
            };
            let (w, h) = it.size.unwrap_or((0, 0));
            ds.frames.push(Frame {
                id,
                name,
                width: w,
                height: h,
                subset: (it.subset != "default").then(|| it.subset.clone()),
            });
            self.origins
                .frames
                .push(Location::json(&it.file, it.path.clone()));
        }
        let mut paired: Vec<(Frame, Location)> = ds
            .frames
            .drain(..)
            .zip(self.origins.frames.drain(..))
            .collect();
        paired.sort_by_key(|(f, _)| f.id);
        for (f, l) in paired {
            ds.frames.push(f);
            self.origins.frames.push(l);
        }
        out
    }

    /// Attribute values of `label_id` from a Datumaro attribute object, skipping the keys the server
    /// interprets. Specs missing from labels we built are created (type from the JSON value).
    fn attributes(
        &mut self,
        ds: &mut Dataset,
        label_id: i64,
        attrs: &Map<String, Value>,
        file: &str,
        path: &str,
    ) -> Vec<AttributeValue> {
        let mut out = Vec::new();
        for (k, v) in attrs {
            if SPECIAL.contains(&k.as_str()) {
                continue;
            }
            let existing = ds
                .label_mut(label_id)
                .and_then(|l| l.attributes.iter().find(|a| a.name == *k).cloned());
            let spec = match existing {
                Some(s) => s,
                None if self.opts.labels.is_none() => {
                    let t = match v {
                        Value::Bool(_) => InputType::Checkbox,
                        Value::Number(_) => InputType::Number,
                        _ => InputType::Text,
                    };
                    let Some(id) = ds.ensure_attribute(label_id, k, t, false) else {
                        continue;
                    };
                    if let Some(s) = ds
                        .label_mut(label_id)
                        .and_then(|l| l.attributes.iter_mut().find(|a| a.id == id))
                    {
                        if t == InputType::Checkbox {
                            s.default_value = "false".into();
                            s.values = vec!["false".into()];
                        }
                        s.clone()
                    } else {
                        continue;
                    }
                }
                None => {
                    self.diags.warning(
                        Location::json(file, format!("{path}.attributes.{k}")),
                        "undeclared-attribute",
                        format!(
                            "attribute {k:?} is not declared for the label; the server ignores it"
                        ),
                    );
                    continue;
                }
            };
            out.push(AttributeValue {
                spec_id: spec.id,
                value: python_str(v, Some(&spec)),
            });
        }
        out
    }

    fn convert_item(
        &mut self,
        item: &RawItem,
        frame: u32,
        label_map: &[Option<i64>],
        points_cats: &HashMap<usize, Vec<String>>,
        ds: &mut Dataset,
        tb: &mut TrackBuilder,
    ) {
        let file = item.file.as_str();
        // groups: only those shared by more than one shape survive, renumbered from 1
        let mut sizes: BTreeMap<i64, usize> = BTreeMap::new();
        for a in &item.anns {
            let t = a.get("type").and_then(|v| v.as_str()).unwrap_or("");
            if matches!(
                t,
                "bbox" | "polygon" | "polyline" | "points" | "cuboid_3d" | "skeleton" | "mask"
            ) {
                let g = a.get("group").and_then(|v| v.as_i64()).unwrap_or(0);
                *sizes.entry(g).or_default() += 1;
            }
        }
        let groups: HashMap<i64, i64> = sizes
            .iter()
            .filter(|(g, n)| **g != 0 && **n > 1)
            .enumerate()
            .map(|(i, (g, _))| (*g, i as i64 + 1))
            .collect();
        let frame_size = ds
            .frame(frame)
            .map(|f| (f.width, f.height))
            .unwrap_or((0, 0));

        for (ai, a) in item.anns.iter().enumerate() {
            let p = format!("{}.annotations[{ai}]", item.path);
            let loc = Location::json(file, p.clone());
            let Some(obj) = a.as_object() else {
                self.err(file, &p, "type", "annotation must be an object");
                continue;
            };
            let Some(kind) = obj.get("type").and_then(|v| v.as_str()) else {
                self.err(
                    file,
                    &p,
                    "missing-field",
                    "annotation has no string \"type\"",
                );
                continue;
            };
            if matches!(kind, "caption" | "cuboid_2d" | "hash_key") {
                self.diags.warning(
                    loc,
                    "unsupported",
                    format!("{kind} annotations have no CVAT equivalent and are skipped"),
                );
                continue;
            }
            let known = matches!(
                kind,
                "label"
                    | "bbox"
                    | "polygon"
                    | "polyline"
                    | "points"
                    | "mask"
                    | "skeleton"
                    | "ellipse"
                    | "cuboid_3d"
            );
            if !known {
                self.err(
                    file,
                    &format!("{p}.type"),
                    "unknown-type",
                    format!("unknown annotation type {kind:?}"),
                );
                continue;
            }
            let dm_label = match obj.get("label_id") {
                Some(Value::Number(n)) => n.as_u64().map(|v| v as usize),
                _ => None,
            };
            let Some(dm_label) = dm_label else {
                self.err(file, &format!("{p}.label_id"), "missing-label", "annotation has no label (label_id must be an index into categories.label.labels)");
                continue;
            };
            let Some(label_id) = label_map.get(dm_label).copied() else {
                self.err(
                    file,
                    &format!("{p}.label_id"),
                    "undeclared-label",
                    format!(
                        "label_id {dm_label} is outside the {} declared labels",
                        label_map.len()
                    ),
                );
                continue;
            };
            let Some(label_id) = label_id else { continue }; // reported with the categories
            let empty = Map::new();
            let attrs = match obj.get("attributes") {
                None | Some(Value::Null) => &empty,
                Some(Value::Object(m)) => m,
                Some(_) => {
                    self.err(
                        file,
                        &format!("{p}.attributes"),
                        "type",
                        "attributes must be an object",
                    );
                    &empty
                }
            };
            let group = groups
                .get(&obj.get("group").and_then(|v| v.as_i64()).unwrap_or(0))
                .copied()
                .unwrap_or(0);
            let values = self.attributes(ds, label_id, attrs, file, &p);
            if kind == "label" {
                ds.tags.push(Tag {
                    id: None,
                    frame,
                    label_id,
                    group,
                    source: Source::Manual,
                    attributes: values,
                });
                self.origins.tags.push(loc);
                continue;
            }
            let z_order = obj.get("z_order").and_then(|v| v.as_i64()).unwrap_or(0);
            let flag = |k: &str| match attrs.get(k) {
                Some(Value::Bool(b)) => *b,
                Some(Value::String(s)) => s.eq_ignore_ascii_case("true"),
                Some(Value::Number(n)) => n.as_f64().map(|f| f != 0.0).unwrap_or(false),
                _ => false,
            };
            let occluded = flag("occluded");
            let outside = flag("outside");
            let keyframe = flag("keyframe");
            let rotation = attrs.get("rotation").and_then(num).unwrap_or(0.0);
            let source = attrs
                .get("source")
                .and_then(|v| v.as_str())
                .map(|s| s.to_ascii_lowercase())
                .filter(|s| matches!(s.as_str(), "auto" | "semi-auto" | "manual" | "file"))
                .map(|s| Source::parse(&s))
                .unwrap_or(Source::Manual);
            let numbers = |key: &str, me: &mut Self| -> Option<Vec<f64>> {
                let Some(v) = obj.get(key) else {
                    me.err(
                        file,
                        &p,
                        "missing-field",
                        format!("{kind} annotation has no \"{key}\""),
                    );
                    return None;
                };
                let Some(arr) = v.as_array() else {
                    me.err(
                        file,
                        &format!("{p}.{key}"),
                        "type",
                        format!("\"{key}\" must be an array of numbers"),
                    );
                    return None;
                };
                let mut out = Vec::with_capacity(arr.len());
                for (i, x) in arr.iter().enumerate() {
                    match num(x) {
                        Some(f) => out.push(f),
                        None => {
                            me.err(
                                file,
                                &format!("{p}.{key}[{i}]"),
                                "type",
                                "expected a finite number",
                            );
                            return None;
                        }
                    }
                }
                Some(out)
            };
            let (stype, points, elements) = match kind {
                "bbox" => {
                    let Some(b) = numbers("bbox", self) else {
                        continue;
                    };
                    if b.len() != 4 {
                        self.err(
                            file,
                            &format!("{p}.bbox"),
                            "geometry",
                            format!("bbox needs 4 values [x, y, w, h], found {}", b.len()),
                        );
                        continue;
                    }
                    (
                        ShapeType::Rectangle,
                        vec![b[0], b[1], b[0] + b[2], b[1] + b[3]],
                        vec![],
                    )
                }
                "polygon" | "polyline" | "points" => {
                    let Some(v) = numbers("points", self) else {
                        continue;
                    };
                    let t = ShapeType::parse(kind).unwrap_or(ShapeType::Points);
                    (t, v, vec![])
                }
                "ellipse" => {
                    let Some(v) = numbers("points", self) else {
                        continue;
                    };
                    if v.len() != 4 {
                        self.err(
                            file,
                            &format!("{p}.points"),
                            "geometry",
                            format!("ellipse needs 4 values [x1, y1, x2, y2], found {}", v.len()),
                        );
                        continue;
                    }
                    (
                        ShapeType::Ellipse,
                        vec![(v[0] + v[2]) / 2.0, (v[1] + v[3]) / 2.0, v[2], v[1]],
                        vec![],
                    )
                }
                "cuboid_3d" => {
                    let mut v = Vec::new();
                    for key in ["position", "rotation", "scale"] {
                        match numbers(key, self) {
                            Some(x) if x.len() == 3 => v.extend(x),
                            Some(x) => {
                                self.err(
                                    file,
                                    &format!("{p}.{key}"),
                                    "geometry",
                                    format!("{key} needs 3 values, found {}", x.len()),
                                );
                                break;
                            }
                            None => break,
                        }
                    }
                    if v.len() != 9 {
                        continue;
                    }
                    v.extend([0.0; 7]);
                    (ShapeType::Cuboid, v, vec![])
                }
                "mask" => match self.mask(obj, file, &p, frame_size) {
                    Some(v) => (ShapeType::Mask, v, vec![]),
                    None => continue,
                },
                _ => {
                    // skeleton
                    let Some(v) = numbers("points", self) else {
                        continue;
                    };
                    if v.len() % 3 != 0 {
                        self.err(file, &format!("{p}.points"), "geometry", format!("skeleton points come in (x, y, visibility) triples; found {} values", v.len()));
                        continue;
                    }
                    let names = points_cats.get(&dm_label).cloned().unwrap_or_else(|| {
                        ds.labels
                            .iter()
                            .find(|l| l.id == label_id)
                            .map(|l| l.sublabels.iter().map(|s| s.name.clone()).collect())
                            .unwrap_or_default()
                    });
                    let pattrs = obj.get("points_attributes").and_then(|v| v.as_array());
                    let mut els = Vec::new();
                    for (k, tri) in v.chunks_exact(3).enumerate() {
                        let sub = names.get(k).and_then(|n| {
                            ds.labels
                                .iter()
                                .find(|l| l.id == label_id)
                                .and_then(|l| l.sublabels.iter().find(|s| s.name == *n))
                                .map(|s| s.id)
                        });
                        let Some(sub) = sub else {
                            self.err(
                                file,
                                &format!("{p}.points[{}]", 3 * k),
                                "undeclared-label",
                                format!(
                                    "skeleton point {k} has no sub-label in the points category"
                                ),
                            );
                            continue;
                        };
                        let ea = pattrs
                            .and_then(|a| a.get(k))
                            .and_then(|v| v.as_object())
                            .cloned()
                            .unwrap_or_default();
                        let evals = self.attributes(
                            ds,
                            sub,
                            &ea,
                            file,
                            &format!("{p}.points_attributes[{k}]"),
                        );
                        let vis = tri[2] as i64;
                        els.push(Shape {
                            label_id: sub,
                            kind: ShapeType::Points,
                            frame,
                            group,
                            source: Source::Manual,
                            occluded: vis == 1,
                            outside: vis == 0,
                            z_order,
                            points: vec![tri[0], tri[1]],
                            attributes: evals,
                            ..Default::default()
                        });
                    }
                    (ShapeType::Skeleton, vec![], els)
                }
            };
            let track_id = attrs
                .get("track_id")
                .filter(|v| !v.is_null())
                .map(|v| v.to_string());
            tb.last_is_skeleton = stype == ShapeType::Skeleton;
            match track_id {
                Some(tid) if attrs.contains_key("keyframe") => {
                    let (mutable, immutable): (Vec<_>, Vec<_>) = values
                        .into_iter()
                        .partition(|a| tb.mutable.contains(&a.spec_id));
                    tb.add(
                        tid,
                        label_id,
                        group,
                        source,
                        immutable,
                        loc,
                        TrackedShape {
                            id: None,
                            kind: stype,
                            frame,
                            occluded,
                            outside,
                            z_order,
                            rotation,
                            points,
                            attributes: mutable,
                        },
                        keyframe,
                        elements,
                    );
                }
                _ => {
                    ds.shapes.push(Shape {
                        id: None,
                        label_id,
                        kind: stype,
                        frame,
                        group,
                        source,
                        occluded,
                        outside: false,
                        z_order,
                        rotation,
                        points,
                        attributes: values,
                        elements,
                    });
                    self.origins.shapes.push(loc);
                }
            }
        }
    }

    fn mask(
        &mut self,
        obj: &Map<String, Value>,
        file: &str,
        p: &str,
        frame_size: (u32, u32),
    ) -> Option<Vec<f64>> {
        let Some(rle) = obj.get("rle").and_then(|v| v.as_object()) else {
            self.err(
                file,
                p,
                "missing-field",
                "mask annotation has no \"rle\" object",
            );
            return None;
        };
        let size = rle
            .get("size")
            .and_then(|v| v.as_array())
            .filter(|a| a.len() == 2)
            .and_then(|a| {
                Some((
                    u32::try_from(a[1].as_u64()?).ok()?,
                    u32::try_from(a[0].as_u64()?).ok()?,
                ))
            });
        let Some((w, h)) = size else {
            self.err(
                file,
                &format!("{p}.rle.size"),
                "type",
                "rle.size must be [height, width]",
            );
            return None;
        };
        if frame_size.0 > 0 && (frame_size.0, frame_size.1) != (w, h) {
            self.diags.warning(
                Location::json(file, format!("{p}.rle.size")),
                "geometry",
                format!(
                    "mask is {w}x{h} but the image is {}x{}",
                    frame_size.0, frame_size.1
                ),
            );
        }
        let counts = match rle.get("counts") {
            Some(Value::String(s)) => coco_rle_string_to_counts(s),
            Some(Value::Array(a)) => a
                .iter()
                .map(|v| {
                    v.as_u64()
                        .ok_or_else(|| "counts must be non-negative integers".to_string())
                })
                .collect(),
            _ => Err("rle.counts must be a string or an array of integers".to_string()),
        };
        let bm = counts.and_then(|c| coco_counts_to_bitmap(&c, w, h));
        match bm {
            Err(e) => {
                self.err(
                    file,
                    &format!("{p}.rle.counts"),
                    "rle",
                    format!("invalid RLE: {e}"),
                );
                None
            }
            Ok(bm) => match bitmap_to_cvat_rle(&bm) {
                Some(v) => Some(v),
                None => {
                    self.err(file, &format!("{p}.rle"), "geometry", "mask is empty");
                    None
                }
            },
        }
    }
}

struct PendingTrack {
    label_id: i64,
    group: i64,
    source: Source,
    attributes: Vec<AttributeValue>,
    loc: Location,
    shapes: Vec<(TrackedShape, bool)>,
    elements: Vec<(i64, Vec<(TrackedShape, bool)>)>,
}

#[derive(Default)]
struct TrackBuilder {
    /// Mutable attribute specs (those created while reading are immutable).
    mutable: HashSet<i64>,
    order: Vec<String>,
    tracks: HashMap<String, PendingTrack>,
    last_is_skeleton: bool,
}

impl TrackBuilder {
    #[allow(clippy::too_many_arguments)]
    fn add(
        &mut self,
        tid: String,
        label_id: i64,
        group: i64,
        source: Source,
        attrs: Vec<AttributeValue>,
        loc: Location,
        shape: TrackedShape,
        keyframe: bool,
        elements: Vec<Shape>,
    ) {
        let t = self.tracks.entry(tid.clone()).or_insert_with(|| {
            self.order.push(tid);
            PendingTrack {
                label_id,
                group,
                source,
                attributes: attrs,
                loc,
                shapes: vec![],
                elements: vec![],
            }
        });
        let frame = shape.frame;
        t.shapes.push((shape, keyframe));
        for e in elements {
            let ts = TrackedShape {
                id: None,
                kind: e.kind,
                frame,
                occluded: e.occluded,
                outside: e.outside,
                z_order: e.z_order,
                rotation: 0.0,
                points: e.points,
                attributes: e.attributes,
            };
            match t.elements.iter_mut().find(|(l, _)| *l == e.label_id) {
                Some((_, v)) => v.push((ts, keyframe)),
                None => t.elements.push((e.label_id, vec![(ts, keyframe)])),
            }
        }
    }

    fn finish(self, stop_frame: u32, ds: &mut Dataset, origins: &mut Origins) {
        // The server validates element tracks only when the very last annotation it read was a
        // skeleton (it tests a leftover loop variable); otherwise element keyframes are kept as read.
        let validate_elements = self.last_is_skeleton;
        let mut tracks = self.tracks;
        for tid in self.order {
            let Some(t) = tracks.remove(&tid) else {
                continue;
            };
            let shapes = validate_track_shapes(t.shapes, stop_frame);
            let elements: Vec<Track> = t
                .elements
                .into_iter()
                .map(|(lid, s)| {
                    let shapes = if validate_elements {
                        validate_track_shapes(s, stop_frame)
                    } else {
                        s.into_iter().map(|x| x.0).collect()
                    };
                    Track {
                        id: None,
                        label_id: lid,
                        frame: shapes.first().map(|s| s.frame).unwrap_or(0),
                        group: 0,
                        source: t.source.clone(),
                        shapes,
                        attributes: vec![],
                        elements: vec![],
                    }
                })
                .collect();
            if shapes.is_empty() && elements.is_empty() {
                continue;
            }
            ds.tracks.push(Track {
                id: None,
                label_id: t.label_id,
                frame: shapes.first().map(|s| s.frame).unwrap_or(0),
                group: t.group,
                source: t.source,
                shapes,
                attributes: t.attributes,
                elements,
            });
            origins.tracks.push(t.loc);
        }
    }
}

/// The server's `_validate_track_shapes` (frame step 1): keep keyframes and visibility changes, close
/// gaps and the end with an outside keyframe.
fn validate_track_shapes(
    mut shapes: Vec<(TrackedShape, bool)>,
    stop_frame: u32,
) -> Vec<TrackedShape> {
    shapes.sort_by_key(|s| s.0.frame);
    let mut out: Vec<TrackedShape> = Vec::new();
    let mut prev: Option<TrackedShape> = None;
    for (shape, key) in shapes {
        let prev_vis = prev.as_ref().map(|p| !p.outside);
        let cur_vis = !shape.outside;
        let mut gap = false;
        if let (Some(true), Some(p)) = (prev_vis, &prev) {
            gap = p.frame + 1 < shape.frame;
            if gap {
                let mut closed = p.clone();
                closed.outside = true;
                closed.frame = p.frame + 1;
                out.push(closed);
            }
        }
        if prev_vis != Some(cur_vis) || (cur_vis && (gap || key)) {
            out.push(shape.clone());
        }
        prev = Some(shape);
    }
    if let Some(p) = prev {
        if !p.outside && p.frame < stop_frame {
            let mut closed = p;
            closed.outside = true;
            closed.frame += 1;
            out.push(closed);
        }
    }
    out
}
