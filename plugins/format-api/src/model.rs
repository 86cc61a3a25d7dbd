//! The annotation model every format reads into and writes from.
//!
//! It mirrors the CVAT server's own annotation JSON (`GET /api/tasks/{id}/annotations`), its label list
//! (`GET /api/labels?task_id=`) and its frame list (`GET /api/tasks/{id}/data/meta`), so that converting to
//! and from those is lossless (see [`crate::rest`]). Shapes reference labels and attribute specs by their
//! numeric ids, exactly as the server does; formats that name labels resolve names through
//! [`Dataset::label_by_name`] and friends, and readers that build labels themselves number them from 1.

use serde::{Deserialize, Serialize};
use std::collections::HashMap;

/// A whole annotated task: labels, frames and annotations.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Dataset {
    /// Task metadata, when known (CVAT XML writes it into `<meta>`; other formats ignore it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task: Option<TaskMeta>,
    pub labels: Vec<Label>,
    pub frames: Vec<Frame>,
    #[serde(default)]
    pub version: i64,
    #[serde(default)]
    pub tags: Vec<Tag>,
    #[serde(default)]
    pub shapes: Vec<Shape>,
    #[serde(default)]
    pub tracks: Vec<Track>,
}

/// What CVAT XML puts under `<meta><task>`; everything optional because most formats know none of it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TaskMeta {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<i64>,
    #[serde(default)]
    pub name: String,
    /// `annotation` (images) or `interpolation` (video).
    #[serde(default)]
    pub mode: String,
    #[serde(default)]
    pub overlap: i64,
    #[serde(default)]
    pub bug_tracker: String,
    /// As the server formats it in XML, e.g. `2026-12-03 18:20:20.585414+00:00`.
    #[serde(default)]
    pub created: String,
    #[serde(default)]
    pub updated: String,
    #[serde(default)]
    pub subset: String,
    #[serde(default)]
    pub start_frame: i64,
    #[serde(default)]
    pub stop_frame: i64,
    #[serde(default)]
    pub frame_filter: String,
    #[serde(default)]
    pub segments: Vec<Segment>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<UserRef>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub assignee: Option<UserRef>,
    /// `<original_size>` of a video task.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub original_size: Option<(u32, u32)>,
    /// `<dumped>` timestamp of the export, as written.
    #[serde(default)]
    pub dumped: String,
    /// `<source>` (video file name) of a video task.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Segment {
    pub id: i64,
    pub start: i64,
    pub stop: i64,
    #[serde(default)]
    pub url: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct UserRef {
    pub username: String,
    #[serde(default)]
    pub email: String,
}

/// A label, as `GET /api/labels` returns it. Skeleton labels carry their points sub-labels.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Label {
    pub id: i64,
    pub name: String,
    #[serde(default)]
    pub color: String,
    #[serde(rename = "type", default)]
    pub kind: LabelType,
    #[serde(default)]
    pub attributes: Vec<AttributeSpec>,
    #[serde(default)]
    pub sublabels: Vec<Label>,
    /// Skeleton layout (SVG fragment referencing sub-labels by `data-label-id`).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub svg: String,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LabelType {
    #[default]
    Any,
    Rectangle,
    Polygon,
    Polyline,
    Points,
    Ellipse,
    Cuboid,
    Mask,
    Skeleton,
    Tag,
}

impl LabelType {
    pub fn as_str(self) -> &'static str {
        match self {
            LabelType::Any => "any",
            LabelType::Rectangle => "rectangle",
            LabelType::Polygon => "polygon",
            LabelType::Polyline => "polyline",
            LabelType::Points => "points",
            LabelType::Ellipse => "ellipse",
            LabelType::Cuboid => "cuboid",
            LabelType::Mask => "mask",
            LabelType::Skeleton => "skeleton",
            LabelType::Tag => "tag",
        }
    }
    pub fn parse(s: &str) -> Option<LabelType> {
        Some(match s {
            "any" => LabelType::Any,
            "rectangle" => LabelType::Rectangle,
            "polygon" => LabelType::Polygon,
            "polyline" => LabelType::Polyline,
            "points" => LabelType::Points,
            "ellipse" => LabelType::Ellipse,
            "cuboid" => LabelType::Cuboid,
            "mask" => LabelType::Mask,
            "skeleton" => LabelType::Skeleton,
            "tag" => LabelType::Tag,
            _ => return None,
        })
    }
}

/// An attribute specification of a label.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AttributeSpec {
    pub id: i64,
    pub name: String,
    #[serde(default)]
    pub mutable: bool,
    pub input_type: InputType,
    #[serde(default)]
    pub default_value: String,
    #[serde(default)]
    pub values: Vec<String>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum InputType {
    #[default]
    Select,
    Radio,
    Checkbox,
    Number,
    Text,
}

impl InputType {
    pub fn as_str(self) -> &'static str {
        match self {
            InputType::Select => "select",
            InputType::Radio => "radio",
            InputType::Checkbox => "checkbox",
            InputType::Number => "number",
            InputType::Text => "text",
        }
    }
    pub fn parse(s: &str) -> Option<InputType> {
        Some(match s {
            "select" => InputType::Select,
            "radio" => InputType::Radio,
            "checkbox" => InputType::Checkbox,
            "number" => InputType::Number,
            "text" => InputType::Text,
            _ => return None,
        })
    }
}

impl AttributeSpec {
    /// Whether `value` is allowed by this spec (list membership for select/radio, `true`/`false` for
    /// checkbox, a number within `min;max` for number; any text for text).
    pub fn accepts(&self, value: &str) -> bool {
        match self.input_type {
            InputType::Select | InputType::Radio => {
                self.values.iter().any(|v| v == value) || (self.values.is_empty())
            }
            InputType::Checkbox => {
                value.eq_ignore_ascii_case("true") || value.eq_ignore_ascii_case("false")
            }
            InputType::Number => match value.trim().parse::<f64>() {
                Ok(v) if v.is_finite() => {
                    let bound = |i: usize| self.values.get(i).and_then(|s| s.parse::<f64>().ok());
                    match (bound(0), bound(1)) {
                        (Some(min), Some(max)) => v >= min && v <= max,
                        _ => true,
                    }
                }
                _ => false,
            },
            InputType::Text => true,
        }
    }
}

/// A frame of the task: its number (0-based, relative to the task), file name, size and subset.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Frame {
    pub id: u32,
    /// File name as the server knows it (may contain `/`), e.g. `frame_00_640x480.jpg`.
    pub name: String,
    /// 0 when unknown.
    #[serde(default)]
    pub width: u32,
    /// 0 when unknown.
    #[serde(default)]
    pub height: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subset: Option<String>,
}

impl Frame {
    pub fn has_size(&self) -> bool {
        self.width > 0 && self.height > 0
    }
    /// The item id datumaro-based formats use: the file name without its extension.
    pub fn stem(&self) -> &str {
        let name = self.name.as_str();
        let slash = name.rfind('/').map(|i| i + 1).unwrap_or(0);
        match name[slash..].rfind('.') {
            Some(dot) if dot > 0 => &name[..slash + dot],
            _ => name,
        }
    }
}

/// Where an annotation came from.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub enum Source {
    #[default]
    Manual,
    Auto,
    SemiAuto,
    File,
    Consensus,
    Other(String),
}

impl Source {
    pub fn as_str(&self) -> &str {
        match self {
            Source::Manual => "manual",
            Source::Auto => "auto",
            Source::SemiAuto => "semi-auto",
            Source::File => "file",
            Source::Consensus => "consensus",
            Source::Other(s) => s,
        }
    }
    pub fn parse(s: &str) -> Source {
        match s {
            "manual" => Source::Manual,
            "auto" => Source::Auto,
            "semi-auto" => Source::SemiAuto,
            "file" => Source::File,
            "consensus" => Source::Consensus,
            other => Source::Other(other.to_string()),
        }
    }
}

impl Serialize for Source {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Source {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = Source;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a source string")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Source, E> {
                Ok(Source::parse(v))
            }
        }
        d.deserialize_str(V)
    }
}

/// An attribute value on an annotation (`spec_id` names an [`AttributeSpec`]). Values are strings, as in
/// the REST API.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AttributeValue {
    pub spec_id: i64,
    pub value: String,
}

/// A frame-level tag.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Tag {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<i64>,
    pub frame: u32,
    pub label_id: i64,
    #[serde(default, deserialize_with = "null_as_zero")]
    pub group: i64,
    #[serde(default)]
    pub source: Source,
    #[serde(default)]
    pub attributes: Vec<AttributeValue>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ShapeType {
    #[default]
    Rectangle,
    Polygon,
    Polyline,
    Points,
    Ellipse,
    Cuboid,
    Mask,
    Skeleton,
}

impl ShapeType {
    pub const ALL: [ShapeType; 8] = [
        ShapeType::Rectangle,
        ShapeType::Polygon,
        ShapeType::Polyline,
        ShapeType::Points,
        ShapeType::Ellipse,
        ShapeType::Cuboid,
        ShapeType::Mask,
        ShapeType::Skeleton,
    ];
    pub fn as_str(self) -> &'static str {
        match self {
            ShapeType::Rectangle => "rectangle",
            ShapeType::Polygon => "polygon",
            ShapeType::Polyline => "polyline",
            ShapeType::Points => "points",
            ShapeType::Ellipse => "ellipse",
            ShapeType::Cuboid => "cuboid",
            ShapeType::Mask => "mask",
            ShapeType::Skeleton => "skeleton",
        }
    }
    pub fn parse(s: &str) -> Option<ShapeType> {
        ShapeType::ALL.into_iter().find(|t| t.as_str() == s)
    }
}

/// A shape on one frame. Geometry encoding of `points` per type is CVAT's (see SPECS.md §1):
/// rectangle `[xtl, ytl, xbr, ybr]`; polygon/polyline/points `[x1, y1, ...]`; ellipse
/// `[cx, cy, cx + rx, cy - ry]`; cuboid 16 values; mask `[rle..., left, top, right, bottom]` (inclusive
/// box, row-major runs starting with zeros); skeleton `[]` with geometry in `elements`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Shape {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<i64>,
    pub label_id: i64,
    #[serde(rename = "type")]
    pub kind: ShapeType,
    pub frame: u32,
    #[serde(default, deserialize_with = "null_as_zero")]
    pub group: i64,
    #[serde(default)]
    pub source: Source,
    #[serde(default)]
    pub occluded: bool,
    #[serde(default)]
    pub outside: bool,
    #[serde(default)]
    pub z_order: i64,
    #[serde(default)]
    pub rotation: f64,
    #[serde(default)]
    pub points: Vec<f64>,
    #[serde(default)]
    pub attributes: Vec<AttributeValue>,
    #[serde(default)]
    pub elements: Vec<Shape>,
}

/// A track: an object followed over frames through keyframed shapes.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Track {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<i64>,
    pub label_id: i64,
    pub frame: u32,
    #[serde(default, deserialize_with = "null_as_zero")]
    pub group: i64,
    #[serde(default)]
    pub source: Source,
    pub shapes: Vec<TrackedShape>,
    /// Immutable attributes, constant over the track.
    #[serde(default)]
    pub attributes: Vec<AttributeValue>,
    /// Skeleton tracks: one track per element (sub-label).
    #[serde(default)]
    pub elements: Vec<Track>,
}

/// A keyframe of a track. `outside: true` ends a visible segment.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TrackedShape {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<i64>,
    #[serde(rename = "type")]
    pub kind: ShapeType,
    pub frame: u32,
    #[serde(default)]
    pub occluded: bool,
    #[serde(default)]
    pub outside: bool,
    #[serde(default)]
    pub z_order: i64,
    #[serde(default)]
    pub rotation: f64,
    #[serde(default)]
    pub points: Vec<f64>,
    /// Mutable attributes at this keyframe.
    #[serde(default)]
    pub attributes: Vec<AttributeValue>,
}

fn null_as_zero<'de, D: serde::Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
    Ok(Option::<i64>::deserialize(d)?.unwrap_or(0))
}

/// Fast lookups over a label list, built once per read or write.
#[derive(Debug, Default)]
pub struct LabelIndex<'a> {
    by_id: HashMap<i64, &'a Label>,
    by_name: HashMap<&'a str, &'a Label>,
    parent_of: HashMap<i64, &'a Label>,
    specs: HashMap<i64, &'a AttributeSpec>,
}

impl<'a> LabelIndex<'a> {
    pub fn new(labels: &'a [Label]) -> Self {
        let mut idx = LabelIndex::default();
        for l in labels {
            idx.by_id.insert(l.id, l);
            idx.by_name.entry(l.name.as_str()).or_insert(l);
            for a in &l.attributes {
                idx.specs.insert(a.id, a);
            }
            for s in &l.sublabels {
                idx.by_id.insert(s.id, s);
                idx.parent_of.insert(s.id, l);
                for a in &s.attributes {
                    idx.specs.insert(a.id, a);
                }
            }
        }
        idx
    }
    pub fn label(&self, id: i64) -> Option<&'a Label> {
        self.by_id.get(&id).copied()
    }
    /// A top-level label by name.
    pub fn by_name(&self, name: &str) -> Option<&'a Label> {
        self.by_name.get(name).copied()
    }
    /// The skeleton a sub-label belongs to.
    pub fn parent(&self, sublabel_id: i64) -> Option<&'a Label> {
        self.parent_of.get(&sublabel_id).copied()
    }
    pub fn spec(&self, spec_id: i64) -> Option<&'a AttributeSpec> {
        self.specs.get(&spec_id).copied()
    }
    pub fn label_name(&self, id: i64) -> &'a str {
        self.label(id).map(|l| l.name.as_str()).unwrap_or("")
    }
    pub fn spec_name(&self, spec_id: i64) -> &'a str {
        self.spec(spec_id).map(|a| a.name.as_str()).unwrap_or("")
    }
}

impl Dataset {
    pub fn label_index(&self) -> LabelIndex<'_> {
        LabelIndex::new(&self.labels)
    }

    /// A top-level label by name.
    pub fn label_by_name(&self, name: &str) -> Option<&Label> {
        self.labels.iter().find(|l| l.name == name)
    }

    /// The largest label or attribute id in use, so that new ones can be numbered after it.
    pub fn max_label_id(&self) -> i64 {
        let mut max = 0;
        for l in &self.labels {
            max = max.max(l.id);
            for s in &l.sublabels {
                max = max.max(s.id);
            }
        }
        max
    }

    pub fn max_spec_id(&self) -> i64 {
        let mut max = 0;
        for l in &self.labels {
            for a in l
                .attributes
                .iter()
                .chain(l.sublabels.iter().flat_map(|s| &s.attributes))
            {
                max = max.max(a.id);
            }
        }
        max
    }

    /// Returns the id of the top-level label `name`, creating it (type `any`, next free id) if missing.
    pub fn ensure_label(&mut self, name: &str) -> i64 {
        if let Some(l) = self.label_by_name(name) {
            return l.id;
        }
        let id = self.max_label_id() + 1;
        self.labels.push(Label {
            id,
            name: name.to_string(),
            ..Default::default()
        });
        id
    }

    /// Returns the spec id of attribute `name` on label `label_id`, creating a text attribute (or the
    /// given type) if missing. Returns `None` when the label does not exist.
    pub fn ensure_attribute(
        &mut self,
        label_id: i64,
        name: &str,
        input_type: InputType,
        mutable: bool,
    ) -> Option<i64> {
        let next = self.max_spec_id() + 1;
        let label = self.label_mut(label_id)?;
        if let Some(a) = label.attributes.iter().find(|a| a.name == name) {
            return Some(a.id);
        }
        label.attributes.push(AttributeSpec {
            id: next,
            name: name.to_string(),
            mutable,
            input_type,
            default_value: String::new(),
            values: Vec::new(),
        });
        Some(next)
    }

    pub fn label_mut(&mut self, id: i64) -> Option<&mut Label> {
        for l in self.labels.iter_mut() {
            if l.id == id {
                return Some(l);
            }
            if let Some(s) = l.sublabels.iter_mut().find(|s| s.id == id) {
                return Some(s);
            }
        }
        None
    }

    /// Frame by number.
    pub fn frame(&self, id: u32) -> Option<&Frame> {
        // frames are usually dense and sorted: try the direct index first
        match self.frames.get(id as usize) {
            Some(f) if f.id == id => Some(f),
            _ => self.frames.iter().find(|f| f.id == id),
        }
    }

    /// Sort annotations the way the server returns them: by frame, stable otherwise.
    pub fn sort_by_frame(&mut self) {
        self.tags.sort_by_key(|t| t.frame);
        self.shapes.sort_by_key(|s| s.frame);
        self.tracks.sort_by_key(|t| t.frame);
    }

    /// Number of annotations of each kind, for summaries: (tags, shapes, tracks).
    pub fn counts(&self) -> (usize, usize, usize) {
        (self.tags.len(), self.shapes.len(), self.tracks.len())
    }
}
