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
    let value: serde_json::Value = serde_json::from_slice(bytes).map_err(|e| json_error(file, e))?;
    let list: LabelList = serde_json::from_value(value.clone()).map_err(|e| {
        FormatError::invalid(Location::json(file, "$"), "labels", format!("not a label list: {e}"))
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
            .map(|v| serde_json::from_value::<WithParent>(v).ok().and_then(|w| w.parent_id))
            .collect(),
        _ => vec![None; labels.len()],
    };
    let mut top = Vec::new();
    let mut children = Vec::new();
    for (l, p) in labels.into_iter().zip(parents.into_iter().chain(std::iter::repeat(None))) {
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
    pub fn write_annotations_json<W: std::io::Write>(&self, w: W, pretty: bool) -> serde_json::Result<()> {
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
            let elements: Vec<RestShape> = sh.elements.iter().map(|e| RestShape(e, false)).collect();
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

    const SHARED: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/cvat/exports/rich-A");

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
}
