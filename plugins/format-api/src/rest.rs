//! Lossless conversion between the model and the CVAT server's JSON: annotations
//! (`GET /api/tasks/{id}/annotations`), labels (`GET /api/labels?task_id=`, paginated or a bare list) and
//! frames (`GET /api/tasks/{id}/data/meta`, or a bare list of frames).
//!
//! Output follows the server's key order and always writes `rotation` and `elements` as it does.

use crate::diag::{FormatError, Location, Result};
use crate::model::*;
use serde::ser::{SerializeMap, Serializer};
use serde::{Deserialize, Serialize};

/// The annotation part of the server's JSON.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct Annotations {
    #[serde(default)]
    pub version: i64,
    #[serde(default)]
    pub tags: Vec<Tag>,
    #[serde(default)]
    pub shapes: Vec<Shape>,
    #[serde(default)]
    pub tracks: Vec<Track>,
}

fn json_error(file: &str, e: serde_json::Error) -> FormatError {
    FormatError::invalid(
        Location::line(file, e.line() as u32, e.column() as u32),
        "json",
        format!("invalid annotation JSON: {e}"),
    )
}

/// Parses the server's annotation JSON.
pub fn parse_annotations(file: &str, bytes: &[u8]) -> Result<Annotations> {
    serde_json::from_slice(bytes).map_err(|e| json_error(file, e))
}

#[derive(Deserialize)]
#[serde(untagged)]
enum LabelList {
    Page { results: Vec<Label> },
    List(Vec<Label>),
}

/// Parses a label list: the paginated `GET /api/labels` answer or a bare list. Sub-labels listed at top
/// level with a `parent_id` (as some servers do) are folded into their skeleton.
pub fn parse_labels(file: &str, bytes: &[u8]) -> Result<Vec<Label>> {
    #[derive(Deserialize)]
    struct WithParent {
        #[serde(default)]
        parent_id: Option<i64>,
    }
    let value: serde_json::Value =
        serde_json::from_slice(bytes).map_err(|e| json_error(file, e))?;
    let list: LabelList = serde_json::from_value(value.clone()).map_err(|e| {
        FormatError::invalid(
            Location::json(file, "$"),
            "labels",
            format!("not a label list: {e}"),
        )
    })?;
    let labels = match list {
        LabelList::Page { results } => results,
        LabelList::List(l) => l,
    };
    let raw = match &value {
        serde_json::Value::Object(o) => o.get("results").cloned().unwrap_or_default(),
        v => v.clone(),
    };
    let parents: Vec<Option<i64>> = match raw {
        serde_json::Value::Array(a) => a
            .into_iter()
            .map(|v| {
                serde_json::from_value::<WithParent>(v)
                    .ok()
                    .and_then(|w| w.parent_id)
            })
            .collect(),
        _ => vec![None; labels.len()],
    };
    let mut top = Vec::new();
    let mut children = Vec::new();
    for (l, p) in labels
        .into_iter()
        .zip(parents.into_iter().chain(std::iter::repeat(None)))
    {
        match p {
            Some(pid) => children.push((pid, l)),
            None => top.push(l),
        }
    }
    for (pid, child) in children {
        if let Some(parent) = top.iter_mut().find(|l: &&mut Label| l.id == pid) {
            if !parent.sublabels.iter().any(|s| s.id == child.id) {
                parent.sublabels.push(child);
            }
        }
    }
    Ok(top)
}

/// Parses frames from `GET /data/meta` (`{"frames": [...], "start_frame": ..}`) or a bare list of
/// `{name, width, height}`. Frames are numbered from 0 in list order.
pub fn parse_frames(file: &str, bytes: &[u8]) -> Result<Vec<Frame>> {
    #[derive(Deserialize)]
    struct MetaFrame {
        name: String,
        #[serde(default)]
        width: u32,
        #[serde(default)]
        height: u32,
    }
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Meta {
        Meta { frames: Vec<MetaFrame> },
        List(Vec<MetaFrame>),
    }
    let meta: Meta = serde_json::from_slice(bytes).map_err(|e| json_error(file, e))?;
    let frames = match meta {
        Meta::Meta { frames } => frames,
        Meta::List(l) => l,
    };
    Ok(frames
        .into_iter()
        .enumerate()
        .map(|(i, f)| Frame {
            id: i as u32,
            name: f.name,
            width: f.width,
            height: f.height,
            subset: None,
        })
        .collect())
}

impl Dataset {
    /// Builds a dataset from the server's three answers.
    pub fn from_rest(annotations: Annotations, labels: Vec<Label>, frames: Vec<Frame>) -> Dataset {
        Dataset {
            task: None,
            labels,
            frames,
            version: annotations.version,
            tags: annotations.tags,
            shapes: annotations.shapes,
            tracks: annotations.tracks,
        }
    }

    /// The annotation part as the server's JSON value.
    pub fn annotations_json(&self) -> serde_json::Value {
        serde_json::to_value(RestAnnotations(self)).unwrap_or(serde_json::Value::Null)
    }

    /// Writes the annotation part as the server's JSON.
    pub fn write_annotations_json<W: std::io::Write>(
        &self,
        w: W,
        pretty: bool,
    ) -> serde_json::Result<()> {
        if pretty {
            serde_json::to_writer_pretty(w, &RestAnnotations(self))
        } else {
            serde_json::to_writer(w, &RestAnnotations(self))
        }
    }

    /// The label list as `GET /api/labels` results.
    pub fn labels_json(&self) -> serde_json::Value {
        serde_json::to_value(&self.labels).unwrap_or(serde_json::Value::Null)
    }
}

/// Converts the server's ISO timestamp (`2026-12-03T18:20:20.585414Z`) to the form CVAT XML writes
/// (`2026-12-03 18:20:20.585414+00:00`).
pub fn iso_to_xml_time(iso: &str) -> String {
    let s = iso.replacen('T', " ", 1);
    match s.strip_suffix('Z') {
        Some(base) => format!("{base}+00:00"),
        None => s,
    }
}

/// Task metadata from the server's `GET /api/tasks/{id}` (`task.json`), `data/meta` and
/// `GET /api/jobs?task_id=` answers (any may be absent).
pub fn task_meta(
    task: Option<&serde_json::Value>,
    meta: Option<&serde_json::Value>,
    jobs: Option<&serde_json::Value>,
) -> TaskMeta {
    use serde_json::Value;
    let null = Value::Null;
    let t = task.unwrap_or(&null);
    let m = meta.unwrap_or(&null);
    let s = |v: &Value, k: &str| v.get(k).and_then(Value::as_str).unwrap_or("").to_string();
    let i = |v: &Value, k: &str| v.get(k).and_then(Value::as_i64).unwrap_or(0);
    let user = |v: Option<&Value>| {
        v.filter(|u| u.is_object()).map(|u| UserRef {
            username: s(u, "username"),
            email: s(u, "email"),
        })
    };
    let segments = jobs
        .and_then(|j| j.get("results").or(Some(j)))
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .map(|j| Segment {
                    id: i(j, "id"),
                    start: i(j, "start_frame"),
                    stop: i(j, "stop_frame"),
                    url: s(j, "url"),
                })
                .collect()
        })
        .unwrap_or_default();
    TaskMeta {
        id: t.get("id").and_then(Value::as_i64),
        name: s(t, "name"),
        mode: s(t, "mode"),
        overlap: i(t, "overlap"),
        bug_tracker: s(t, "bug_tracker"),
        created: iso_to_xml_time(&s(t, "created_date")),
        updated: iso_to_xml_time(&s(t, "updated_date")),
        subset: s(t, "subset"),
        start_frame: i(m, "start_frame"),
        stop_frame: i(m, "stop_frame"),
        frame_filter: s(m, "frame_filter"),
        segments,
        owner: user(t.get("owner")),
        assignee: user(t.get("assignee")),
        original_size: None,
        dumped: String::new(),
        source: None,
    }
}

impl Dataset {
    /// Loads a task saved as the server's JSON answers in one directory: `annotations.json` (required),
    /// `labels.json`, `data_meta.json`, and optionally `task.json` and `jobs.json` for the task metadata.
    /// This is the layout of `shared/cvat/exports/rich-A/`.
    pub fn from_task_dir(dir: &std::path::Path) -> Result<Dataset> {
        let read = |name: &str| -> Result<Option<Vec<u8>>> {
            let p = dir.join(name);
            match std::fs::read(&p) {
                Ok(b) => Ok(Some(b)),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
                Err(e) => Err(FormatError::io(p.display().to_string(), e)),
            }
        };
        let disp = |name: &str| dir.join(name).display().to_string();
        let ann = read("annotations.json")?.ok_or_else(|| {
            FormatError::missing(
                format!("{} not found", disp("annotations.json")),
                "a task directory holds annotations.json, labels.json and data_meta.json",
            )
        })?;
        let annotations = parse_annotations(&disp("annotations.json"), &ann)?;
        let labels = match read("labels.json")? {
            Some(b) => parse_labels(&disp("labels.json"), &b)?,
            None => Vec::new(),
        };
        let meta_bytes = read("data_meta.json")?;
        let frames = match &meta_bytes {
            Some(b) => parse_frames(&disp("data_meta.json"), b)?,
            None => Vec::new(),
        };
        let value = |b: Option<Vec<u8>>, name: &str| -> Result<Option<serde_json::Value>> {
            b.map(|b| serde_json::from_slice(&b).map_err(|e| json_error(&disp(name), e)))
                .transpose()
        };
        let task = value(read("task.json")?, "task.json")?;
        let jobs = value(read("jobs.json")?, "jobs.json")?;
        let meta = value(meta_bytes, "data_meta.json")?;
        let mut ds = Dataset::from_rest(annotations, labels, frames);
        if task.is_some() {
            ds.task = Some(task_meta(task.as_ref(), meta.as_ref(), jobs.as_ref()));
        }
        Ok(ds)
    }
}

/// Serialises a dataset's annotations exactly in the server's shape.
pub struct RestAnnotations<'a>(pub &'a Dataset);

struct Attrs<'a>(&'a [AttributeValue]);
impl Serialize for Attrs<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.collect_seq(self.0.iter())
    }
}

struct RestTag<'a>(&'a Tag);
impl Serialize for RestTag<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        let t = self.0;
        let mut m = s.serialize_map(None)?;
        if let Some(id) = t.id {
            m.serialize_entry("id", &id)?;
        }
        m.serialize_entry("label_id", &t.label_id)?;
        m.serialize_entry("frame", &t.frame)?;
        m.serialize_entry("group", &t.group)?;
        m.serialize_entry("source", &t.source)?;
        m.serialize_entry("attributes", &Attrs(&t.attributes))?;
        m.end()
    }
}

struct RestShape<'a>(&'a Shape, bool);
impl Serialize for RestShape<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        let (sh, top) = (self.0, self.1);
        let mut m = s.serialize_map(None)?;
        if let Some(id) = sh.id {
            m.serialize_entry("id", &id)?;
        }
        m.serialize_entry("label_id", &sh.label_id)?;
        m.serialize_entry("type", &sh.kind)?;
        m.serialize_entry("frame", &sh.frame)?;
        m.serialize_entry("group", &sh.group)?;
        m.serialize_entry("source", &sh.source)?;
        m.serialize_entry("occluded", &sh.occluded)?;
        m.serialize_entry("outside", &sh.outside)?;
        m.serialize_entry("z_order", &sh.z_order)?;
        m.serialize_entry("rotation", &sh.rotation)?;
        m.serialize_entry("points", &sh.points)?;
        m.serialize_entry("attributes", &Attrs(&sh.attributes))?;
        if top {
            let elements: Vec<RestShape> =
                sh.elements.iter().map(|e| RestShape(e, false)).collect();
            m.serialize_entry("elements", &elements)?;
        }
        m.end()
    }
}

struct RestTrackedShape<'a>(&'a TrackedShape);
impl Serialize for RestTrackedShape<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        let ts = self.0;
        let mut m = s.serialize_map(None)?;
        if let Some(id) = ts.id {
            m.serialize_entry("id", &id)?;
        }
        m.serialize_entry("type", &ts.kind)?;
        m.serialize_entry("frame", &ts.frame)?;
        m.serialize_entry("occluded", &ts.occluded)?;
        m.serialize_entry("outside", &ts.outside)?;
        m.serialize_entry("z_order", &ts.z_order)?;
        m.serialize_entry("rotation", &ts.rotation)?;
        m.serialize_entry("points", &ts.points)?;
        m.serialize_entry("attributes", &Attrs(&ts.attributes))?;
        m.end()
    }
}

struct RestTrack<'a>(&'a Track, bool);
impl Serialize for RestTrack<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        let (t, top) = (self.0, self.1);
        let mut m = s.serialize_map(None)?;
        if let Some(id) = t.id {
            m.serialize_entry("id", &id)?;
        }
        m.serialize_entry("label_id", &t.label_id)?;
        m.serialize_entry("frame", &t.frame)?;
        m.serialize_entry("group", &t.group)?;
        m.serialize_entry("source", &t.source)?;
        let shapes: Vec<RestTrackedShape> = t.shapes.iter().map(RestTrackedShape).collect();
        m.serialize_entry("shapes", &shapes)?;
        m.serialize_entry("attributes", &Attrs(&t.attributes))?;
        if top {
            let elements: Vec<RestTrack> = t.elements.iter().map(|e| RestTrack(e, false)).collect();
            m.serialize_entry("elements", &elements)?;
        }
        m.end()
    }
}

impl Serialize for RestAnnotations<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        let d = self.0;
        let mut m = s.serialize_map(Some(4))?;
        m.serialize_entry("version", &d.version)?;
        let tags: Vec<RestTag> = d.tags.iter().map(RestTag).collect();
        m.serialize_entry("tags", &tags)?;
        let shapes: Vec<RestShape> = d.shapes.iter().map(|s| RestShape(s, true)).collect();
        m.serialize_entry("shapes", &shapes)?;
        let tracks: Vec<RestTrack> = d.tracks.iter().map(|t| RestTrack(t, true)).collect();
        m.serialize_entry("tracks", &tracks)?;
        m.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SHARED: &str = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../../shared/cvat/exports/rich-A"
    );

    #[test]
    fn rich_a_round_trips_losslessly() {
        let Ok(ann) = std::fs::read(format!("{SHARED}/annotations.json")) else {
            panic!("../shared/cvat/exports/rich-A/annotations.json is required by this test")
        };
        let labels = std::fs::read(format!("{SHARED}/labels.json")).unwrap();
        let meta = std::fs::read(format!("{SHARED}/data_meta.json")).unwrap();
        let ds = Dataset::from_rest(
            parse_annotations("annotations.json", &ann).unwrap(),
            parse_labels("labels.json", &labels).unwrap(),
            parse_frames("data_meta.json", &meta).unwrap(),
        );
        assert_eq!(ds.labels.len(), 9);
        assert_eq!(ds.labels[7].sublabels.len(), 3);
        assert_eq!(ds.frames.len(), 6);
        assert_eq!(ds.frames[4].width, 1280);
        let original: serde_json::Value = serde_json::from_slice(&ann).unwrap();
        assert_eq!(ds.annotations_json(), original);
        // and byte-for-byte the same key order as the server
        let mut out = Vec::new();
        ds.write_annotations_json(&mut out, false).unwrap();
        let compact = serde_json::to_string(&original).unwrap();
        assert_eq!(String::from_utf8(out).unwrap().len(), compact.len());
    }

    #[test]
    fn task_dir_loads_meta() {
        let ds = Dataset::from_task_dir(std::path::Path::new(SHARED)).unwrap();
        let meta = ds.task.unwrap();
        assert_eq!(meta.name, "rich-A");
        assert_eq!(meta.id, Some(13));
        assert_eq!(meta.created, "2026-12-03 18:20:20.585414+00:00");
        assert_eq!(meta.stop_frame, 5);
        assert_eq!(meta.segments.len(), 1);
        assert_eq!(meta.segments[0].url, "http://127.0.0.1:8080/api/jobs/15");
        assert_eq!(meta.owner.unwrap().username, "admin");
        assert_eq!(ds.shapes.len(), 13);
    }
}
