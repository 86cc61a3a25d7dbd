//! A typed, single-pass COCO JSON parser. Annotations are deserialized one by one (a sequence visitor)
//! straight into model shapes; nothing goes through `serde_json::Value`, and attribute objects are read
//! key by key without building a map. Every field is read leniently (any JSON type is accepted and
//! checked afterwards), so that one run reports every problem with its JSON path; only JSON syntax errors
//! stop the parse (located by line:column).

use cvat_format_api::{
    AttributeValue, Diagnostic, Diagnostics, Location, Shape, ShapeType, Source,
};
use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use std::collections::HashMap;
use std::fmt;

/// Any JSON value, kept only as far as a COCO reader needs it.
#[derive(Debug, Clone, PartialEq)]
pub enum Val {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    Seq,
    Map,
}

impl Val {
    pub fn kind(&self) -> &'static str {
        match self {
            Val::Null => "null",
            Val::Bool(_) => "a boolean",
            Val::Int(_) => "an integer",
            Val::Float(_) => "a number",
            Val::Str(_) => "a string",
            Val::Seq => "a list",
            Val::Map => "an object",
        }
    }
    pub fn as_int(&self) -> Option<i64> {
        match self {
            Val::Int(i) => Some(*i),
            _ => None,
        }
    }
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Val::Int(i) => Some(*i as f64),
            Val::Float(f) => Some(*f),
            _ => None,
        }
    }
}

struct ValVisitor;

impl<'de> Visitor<'de> for ValVisitor {
    type Value = Val;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_bool<E>(self, v: bool) -> Result<Val, E> {
        Ok(Val::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Val, E> {
        Ok(Val::Int(v))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Val, E> {
        Ok(i64::try_from(v)
            .map(Val::Int)
            .unwrap_or(Val::Float(v as f64)))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Val, E> {
        Ok(Val::Float(v))
    }
    fn visit_str<E>(self, v: &str) -> Result<Val, E> {
        Ok(Val::Str(v.to_string()))
    }
    fn visit_string<E>(self, v: String) -> Result<Val, E> {
        Ok(Val::Str(v))
    }
    fn visit_unit<E>(self) -> Result<Val, E> {
        Ok(Val::Null)
    }
    fn visit_none<E>(self) -> Result<Val, E> {
        Ok(Val::Null)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Val, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(Val::Seq)
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Val, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(Val::Map)
    }
}

impl<'de> de::Deserialize<'de> for Val {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Val, D::Error> {
        d.deserialize_any(ValVisitor)
    }
}

/// A number inside a list; `None` for anything else.
struct LNum(Option<f64>);

impl<'de> de::Deserialize<'de> for LNum {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<LNum, D::Error> {
        Ok(LNum(Val::deserialize(d)?.as_f64()))
    }
}

/// A list of numbers: values, and whether some element was not a number. `NotList` for other JSON types.
#[derive(Debug, Clone, Default)]
pub enum Nums {
    #[default]
    Missing,
    List {
        values: Vec<f64>,
        bad: bool,
    },
    NotList(&'static str),
}

impl<'de> de::Deserialize<'de> for Nums {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Nums, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Nums;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a list of numbers")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Nums, A::Error> {
                let mut values = Vec::with_capacity(seq.size_hint().unwrap_or(8));
                let mut bad = false;
                while let Some(LNum(v)) = seq.next_element()? {
                    match v {
                        Some(v) => values.push(v),
                        None => bad = true,
                    }
                }
                Ok(Nums::List { values, bad })
            }
            fn visit_bool<E>(self, _: bool) -> Result<Nums, E> {
                Ok(Nums::NotList("a boolean"))
            }
            fn visit_i64<E>(self, _: i64) -> Result<Nums, E> {
                Ok(Nums::NotList("a number"))
            }
            fn visit_u64<E>(self, _: u64) -> Result<Nums, E> {
                Ok(Nums::NotList("a number"))
            }
            fn visit_f64<E>(self, _: f64) -> Result<Nums, E> {
                Ok(Nums::NotList("a number"))
            }
            fn visit_str<E>(self, _: &str) -> Result<Nums, E> {
                Ok(Nums::NotList("a string"))
            }
            fn visit_unit<E>(self) -> Result<Nums, E> {
                Ok(Nums::NotList("null"))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Nums, A::Error> {
                while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                Ok(Nums::NotList("an object"))
            }
        }
        d.deserialize_any(V)
    }
}

/// RLE counts: a list of integers or pycocotools' compressed string.
#[derive(Debug, Clone)]
pub enum Counts {
    List(Vec<u32>),
    Compressed(String),
    Bad(&'static str),
}

/// `segmentation`.
#[derive(Debug, Clone, Default)]
pub enum Seg {
    #[default]
    Missing,
    Polygons(Vec<Nums>),
    Rle {
        counts: Option<Counts>,
        size: Nums,
    },
    Bad(&'static str),
}

impl<'de> de::Deserialize<'de> for Counts {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Counts, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Counts;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("RLE counts")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Counts, A::Error> {
                let mut v = Vec::with_capacity(seq.size_hint().unwrap_or(16));
                let mut bad = false;
                while let Some(LNum(n)) = seq.next_element()? {
                    match n {
                        Some(n) if n >= 0.0 && n.fract() == 0.0 && n <= u32::MAX as f64 => {
                            v.push(n as u32)
                        }
                        _ => bad = true,
                    }
                }
                Ok(if bad {
                    Counts::Bad("RLE counts must be non-negative integers")
                } else {
                    Counts::List(v)
                })
            }
            fn visit_str<E>(self, s: &str) -> Result<Counts, E> {
                Ok(Counts::Compressed(s.to_string()))
            }
            fn visit_string<E>(self, s: String) -> Result<Counts, E> {
                Ok(Counts::Compressed(s))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Counts, A::Error> {
                while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                Ok(Counts::Bad(
                    "RLE counts must be a list or a string, found an object",
                ))
            }
            fn visit_bool<E>(self, _: bool) -> Result<Counts, E> {
                Ok(Counts::Bad(
                    "RLE counts must be a list or a string, found a boolean",
                ))
            }
            fn visit_i64<E>(self, _: i64) -> Result<Counts, E> {
                Ok(Counts::Bad(
                    "RLE counts must be a list or a string, found a number",
                ))
            }
            fn visit_u64<E>(self, _: u64) -> Result<Counts, E> {
                Ok(Counts::Bad(
                    "RLE counts must be a list or a string, found a number",
                ))
            }
            fn visit_f64<E>(self, _: f64) -> Result<Counts, E> {
                Ok(Counts::Bad(
                    "RLE counts must be a list or a string, found a number",
                ))
            }
            fn visit_unit<E>(self) -> Result<Counts, E> {
                Ok(Counts::Bad(
                    "RLE counts must be a list or a string, found null",
                ))
            }
        }
        d.deserialize_any(V)
    }
}

impl<'de> de::Deserialize<'de> for Seg {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Seg, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Seg;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a segmentation")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Seg, A::Error> {
                let mut polys = Vec::new();
                while let Some(p) = seq.next_element::<Nums>()? {
                    polys.push(p);
                }
                Ok(Seg::Polygons(polys))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Seg, A::Error> {
                let mut counts = None;
                let mut size = Nums::Missing;
                while let Some(k) = map.next_key::<KeyStr>()? {
                    match k.0.as_str() {
                        "counts" => counts = Some(map.next_value::<Counts>()?),
                        "size" => size = map.next_value::<Nums>()?,
                        _ => {
                            map.next_value::<IgnoredAny>()?;
                        }
                    }
                }
                Ok(Seg::Rle { counts, size })
            }
            fn visit_bool<E>(self, _: bool) -> Result<Seg, E> {
                Ok(Seg::Bad("a boolean"))
            }
            fn visit_i64<E>(self, _: i64) -> Result<Seg, E> {
                Ok(Seg::Bad("a number"))
            }
            fn visit_u64<E>(self, _: u64) -> Result<Seg, E> {
                Ok(Seg::Bad("a number"))
            }
            fn visit_f64<E>(self, _: f64) -> Result<Seg, E> {
                Ok(Seg::Bad("a number"))
            }
            fn visit_str<E>(self, _: &str) -> Result<Seg, E> {
                Ok(Seg::Bad("a string"))
            }
            fn visit_unit<E>(self) -> Result<Seg, E> {
                Ok(Seg::Bad("null"))
            }
        }
        d.deserialize_any(V)
    }
}

/// An object key (short keys stay on the stack in practice: serde_json hands out borrowed strs).
struct KeyStr(String);

impl<'de> de::Deserialize<'de> for KeyStr {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<KeyStr, D::Error> {
        Ok(KeyStr(String::deserialize(d)?))
    }
}

/// Annotation keys we know, without allocating.
enum AnnKey {
    Id,
    ImageId,
    CategoryId,
    Segmentation,
    Area,
    Bbox,
    Iscrowd,
    Attributes,
    Keypoints,
    Score,
    Other,
}

impl<'de> de::Deserialize<'de> for AnnKey {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<AnnKey, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = AnnKey;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a key")
            }
            fn visit_str<E>(self, v: &str) -> Result<AnnKey, E> {
                Ok(match v {
                    "id" => AnnKey::Id,
                    "image_id" => AnnKey::ImageId,
                    "category_id" => AnnKey::CategoryId,
                    "segmentation" => AnnKey::Segmentation,
                    "area" => AnnKey::Area,
                    "bbox" => AnnKey::Bbox,
                    "iscrowd" => AnnKey::Iscrowd,
                    "attributes" => AnnKey::Attributes,
                    "keypoints" => AnnKey::Keypoints,
                    "score" => AnnKey::Score,
                    _ => AnnKey::Other,
                })
            }
        }
        d.deserialize_identifier(V)
    }
}

/// The `attributes` object of an annotation: CVAT's own keys as fields, the label attributes as
/// (interned name index, value) pairs.
#[derive(Debug, Clone, Default)]
pub struct Attrs {
    pub occluded: Option<Val>,
    pub rotation: Option<Val>,
    pub track_id: Option<Val>,
    pub keyframe: Option<Val>,
    pub outside: Option<Val>,
    pub source: Option<Val>,
    pub is_crowd: Option<Val>,
    pub other: Vec<(u32, Val)>,
    /// Set when `attributes` was not an object.
    pub bad: Option<&'static str>,
}

struct AttrsSeed<'c> {
    names: &'c mut Interner,
}

/// Attribute names seen in a file, numbered from 0.
#[derive(Debug, Default)]
pub struct Interner {
    pub names: Vec<String>,
    index: HashMap<String, u32>,
}

impl Interner {
    pub fn get(&mut self, name: &str) -> u32 {
        if let Some(&i) = self.index.get(name) {
            return i;
        }
        let i = self.names.len() as u32;
        self.names.push(name.to_string());
        self.index.insert(name.to_string(), i);
        i
    }
}

impl<'de> DeserializeSeed<'de> for AttrsSeed<'_> {
    type Value = Attrs;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Attrs, D::Error> {
        struct V<'c>(&'c mut Interner);
        impl<'de> Visitor<'de> for V<'_> {
            type Value = Attrs;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an attributes object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Attrs, A::Error> {
                let mut a = Attrs::default();
                while let Some(k) = map.next_key::<std::borrow::Cow<'de, str>>()? {
                    let v: Val = map.next_value()?;
                    match k.as_ref() {
                        "occluded" => a.occluded = Some(v),
                        "rotation" => a.rotation = Some(v),
                        "track_id" => a.track_id = Some(v),
                        "keyframe" => a.keyframe = Some(v),
                        "outside" => a.outside = Some(v),
                        "source" => a.source = Some(v),
                        "is_crowd" => a.is_crowd = Some(v),
                        name => {
                            let i = self.0.get(name);
                            a.other.push((i, v));
                        }
                    }
                }
                Ok(a)
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Attrs, A::Error> {
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                Ok(Attrs {
                    bad: Some("a list"),
                    ..Default::default()
                })
            }
            fn visit_unit<E>(self) -> Result<Attrs, E> {
                Ok(Attrs::default())
            }
            fn visit_bool<E>(self, _: bool) -> Result<Attrs, E> {
                Ok(Attrs {
                    bad: Some("a boolean"),
                    ..Default::default()
                })
            }
            fn visit_i64<E>(self, _: i64) -> Result<Attrs, E> {
                Ok(Attrs {
                    bad: Some("a number"),
                    ..Default::default()
                })
            }
            fn visit_u64<E>(self, _: u64) -> Result<Attrs, E> {
                Ok(Attrs {
                    bad: Some("a number"),
                    ..Default::default()
                })
            }
            fn visit_f64<E>(self, _: f64) -> Result<Attrs, E> {
                Ok(Attrs {
                    bad: Some("a number"),
                    ..Default::default()
                })
            }
            fn visit_str<E>(self, _: &str) -> Result<Attrs, E> {
                Ok(Attrs {
                    bad: Some("a string"),
                    ..Default::default()
                })
            }
        }
        d.deserialize_any(V(self.names))
    }
}

/// One annotation as read (fields absent from the JSON are `None`).
#[derive(Debug, Default)]
pub struct RawAnn {
    pub id: Option<Val>,
    pub image_id: Option<Val>,
    pub category_id: Option<Val>,
    pub iscrowd: Option<Val>,
    pub bbox: Nums,
    pub segmentation: Seg,
    pub attributes: Attrs,
    pub keypoints: Nums,
    pub score: Option<Val>,
    /// The entry was a list, not an object.
    pub not_object: bool,
}

/// An image entry.
#[derive(Debug, Default, Clone)]
pub struct RawImage {
    pub id: Option<Val>,
    pub width: Option<Val>,
    pub height: Option<Val>,
    pub file_name: Option<Val>,
}

/// A category entry.
#[derive(Debug, Default, Clone)]
pub struct RawCat {
    pub id: Option<Val>,
    pub name: Option<Val>,
    pub supercategory: Option<Val>,
    pub keypoints: Option<Vec<Val>>,
    pub skeleton: Option<Vec<Nums>>,
}

/// What is done with each annotation as soon as it is read.
pub trait AnnSink {
    fn annotation(&mut self, index: usize, ann: RawAnn, names: &mut Interner);
}

/// A whole file, with the annotations handed to the sink.
#[derive(Debug, Default)]
pub struct RawFile {
    pub images: Option<Vec<RawImage>>,
    pub categories: Option<Vec<RawCat>>,
    pub has_annotations: bool,
    /// Top-level keys of other COCO tasks (captions, panoptic `segments_info`...).
    pub other_task_hint: Option<String>,
    pub annotation_count: usize,
    /// How many `annotations` keys the object has (more than one is suspicious).
    pub annotation_lists: usize,
    pub not_an_object: bool,
}

struct FileSeed<'s> {
    sink: &'s mut dyn AnnSink,
    names: &'s mut Interner,
}

struct AnnsSeed<'s> {
    sink: &'s mut dyn AnnSink,
    names: &'s mut Interner,
    count: &'s mut usize,
}

impl<'de> DeserializeSeed<'de> for AnnsSeed<'_> {
    type Value = bool;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<bool, D::Error> {
        struct V<'s>(AnnsSeed<'s>);
        impl<'de> Visitor<'de> for V<'_> {
            type Value = bool;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a list of annotations")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<bool, A::Error> {
                let s = self.0;
                let mut i = 0usize;
                while let Some(ann) = seq.next_element_seed(AnnSeed { names: s.names })? {
                    s.sink.annotation(i, ann, s.names);
                    i += 1;
                }
                *s.count = i;
                Ok(true)
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<bool, A::Error> {
                while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                Ok(false)
            }
            fn visit_str<E>(self, _: &str) -> Result<bool, E> {
                Ok(false)
            }
            fn visit_i64<E>(self, _: i64) -> Result<bool, E> {
                Ok(false)
            }
            fn visit_u64<E>(self, _: u64) -> Result<bool, E> {
                Ok(false)
            }
            fn visit_f64<E>(self, _: f64) -> Result<bool, E> {
                Ok(false)
            }
            fn visit_bool<E>(self, _: bool) -> Result<bool, E> {
                Ok(false)
            }
            fn visit_unit<E>(self) -> Result<bool, E> {
                Ok(false)
            }
        }
        d.deserialize_any(V(self))
    }
}

pub(crate) struct AnnSeed<'s> {
    pub names: &'s mut Interner,
}

impl<'de> DeserializeSeed<'de> for AnnSeed<'_> {
    type Value = RawAnn;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<RawAnn, D::Error> {
        struct V<'s>(&'s mut Interner);
        impl<'de> Visitor<'de> for V<'_> {
            type Value = RawAnn;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an annotation object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<RawAnn, A::Error> {
                let mut a = RawAnn::default();
                while let Some(k) = map.next_key::<AnnKey>()? {
                    match k {
                        AnnKey::Id => a.id = Some(map.next_value()?),
                        AnnKey::ImageId => a.image_id = Some(map.next_value()?),
                        AnnKey::CategoryId => a.category_id = Some(map.next_value()?),
                        AnnKey::Iscrowd => a.iscrowd = Some(map.next_value()?),
                        AnnKey::Bbox => a.bbox = map.next_value()?,
                        AnnKey::Segmentation => a.segmentation = map.next_value()?,
                        AnnKey::Keypoints => a.keypoints = map.next_value()?,
                        AnnKey::Score => a.score = Some(map.next_value()?),
                        AnnKey::Attributes => {
                            a.attributes = map.next_value_seed(AttrsSeed { names: self.0 })?
                        }
                        AnnKey::Area | AnnKey::Other => {
                            map.next_value::<IgnoredAny>()?;
                        }
                    }
                }
                Ok(a)
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<RawAnn, A::Error> {
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                Ok(RawAnn {
                    not_object: true,
                    ..Default::default()
                })
            }
        }
        d.deserialize_any(V(self.names))
    }
}

fn raw_image<'de, A: MapAccess<'de>>(mut map: A) -> Result<RawImage, A::Error> {
    let mut im = RawImage::default();
    while let Some(k) = map.next_key::<std::borrow::Cow<'de, str>>()? {
        match k.as_ref() {
            "id" => im.id = Some(map.next_value()?),
            "width" => im.width = Some(map.next_value()?),
            "height" => im.height = Some(map.next_value()?),
            "file_name" => im.file_name = Some(map.next_value()?),
            _ => {
                map.next_value::<IgnoredAny>()?;
            }
        }
    }
    Ok(im)
}

impl<'de> de::Deserialize<'de> for RawImage {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<RawImage, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = RawImage;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an image object")
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<RawImage, A::Error> {
                raw_image(map)
            }
        }
        d.deserialize_map(V)
    }
}

impl<'de> de::Deserialize<'de> for RawCat {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<RawCat, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = RawCat;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a category object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<RawCat, A::Error> {
                let mut c = RawCat::default();
                while let Some(k) = map.next_key::<std::borrow::Cow<'de, str>>()? {
                    match k.as_ref() {
                        "id" => c.id = Some(map.next_value()?),
                        "name" => c.name = Some(map.next_value()?),
                        "supercategory" => c.supercategory = Some(map.next_value()?),
                        "keypoints" => c.keypoints = map.next_value::<Option<Vec<Val>>>()?,
                        "skeleton" => c.skeleton = map.next_value::<Option<Vec<Nums>>>()?,
                        _ => {
                            map.next_value::<IgnoredAny>()?;
                        }
                    }
                }
                Ok(c)
            }
        }
        d.deserialize_map(V)
    }
}

impl<'de> DeserializeSeed<'de> for FileSeed<'_> {
    type Value = RawFile;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<RawFile, D::Error> {
        struct V<'s>(FileSeed<'s>);
        impl<'de> Visitor<'de> for V<'_> {
            type Value = RawFile;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a COCO JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<RawFile, A::Error> {
                let s = self.0;
                let mut f = RawFile::default();
                while let Some(k) = map.next_key::<std::borrow::Cow<'de, str>>()? {
                    match k.as_ref() {
                        "images" => f.images = map.next_value::<Option<Vec<RawImage>>>()?,
                        "categories" => f.categories = map.next_value::<Option<Vec<RawCat>>>()?,
                        "annotations" => {
                            f.annotation_lists += 1;
                            f.has_annotations = map.next_value_seed(AnnsSeed {
                                sink: &mut *s.sink,
                                names: &mut *s.names,
                                count: &mut f.annotation_count,
                            })?;
                        }
                        _ => {
                            map.next_value::<IgnoredAny>()?;
                        }
                    }
                }
                Ok(f)
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<RawFile, A::Error> {
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                Ok(RawFile {
                    not_an_object: true,
                    ..Default::default()
                })
            }
            fn visit_str<E>(self, _: &str) -> Result<RawFile, E> {
                Ok(RawFile {
                    not_an_object: true,
                    ..Default::default()
                })
            }
            fn visit_i64<E: de::Error>(self, _: i64) -> Result<RawFile, E> {
                self.visit_str("")
            }
            fn visit_u64<E: de::Error>(self, _: u64) -> Result<RawFile, E> {
                self.visit_str("")
            }
            fn visit_f64<E: de::Error>(self, _: f64) -> Result<RawFile, E> {
                self.visit_str("")
            }
            fn visit_bool<E: de::Error>(self, _: bool) -> Result<RawFile, E> {
                self.visit_str("")
            }
            fn visit_unit<E: de::Error>(self) -> Result<RawFile, E> {
                self.visit_str("")
            }
        }
        d.deserialize_any(V(self))
    }
}

/// Parses `bytes`, handing annotations to `sink`. A syntax error is returned as a diagnostic located by
/// line:column.
pub fn parse_file(
    file: &str,
    bytes: &[u8],
    sink: &mut dyn AnnSink,
    names: &mut Interner,
) -> Result<RawFile, Box<Diagnostic>> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let seed = FileSeed { sink, names };
    let res = seed.deserialize(&mut de).and_then(|f| de.end().map(|_| f));
    res.map_err(|e| {
        let hint = if e.is_eof() {
            "the file ends early: it may be truncated (an interrupted download or copy?)"
        } else {
            "fix the JSON syntax at that position"
        };
        Box::new(
            Diagnostic::error(
                Location::line(file, e.line() as u32, e.column() as u32),
                "json",
                format!("invalid JSON: {e}"),
            )
            .with_hint(hint),
        )
    })
}

/// Python's `str()` of a JSON scalar (what the server stores as an attribute value).
pub fn py_str(v: &Val) -> Option<String> {
    Some(match v {
        Val::Bool(b) => if *b { "True" } else { "False" }.to_string(),
        Val::Int(i) => i.to_string(),
        Val::Float(f) => cvat_format_api::geometry::fmt_py_float(*f),
        Val::Str(s) => s.clone(),
        Val::Null => "None".to_string(),
        Val::Seq | Val::Map => return None,
    })
}

/// Truthiness as datumaro's `cast(v, to_bool)`: booleans, numbers, "true"/"false" strings.
pub fn to_bool(v: &Val) -> bool {
    match v {
        Val::Bool(b) => *b,
        Val::Int(i) => *i != 0,
        Val::Float(f) => *f != 0.0,
        Val::Str(s) => matches!(s.to_ascii_lowercase().as_str(), "true" | "1" | "yes" | "on"),
        _ => false,
    }
}

/// Records `msg` at `$.annotations[i]...`.
pub fn ann_path(i: usize, field: &str) -> String {
    if field.is_empty() {
        format!("$.annotations[{i}]")
    } else {
        format!("$.annotations[{i}].{field}")
    }
}

/// A default shape used while reading.
pub fn blank_shape(kind: ShapeType) -> Shape {
    Shape {
        id: None,
        label_id: 0,
        kind,
        frame: 0,
        group: 0,
        source: Source::Manual,
        occluded: false,
        outside: false,
        z_order: 0,
        rotation: 0.0,
        points: Vec::new(),
        attributes: Vec::<AttributeValue>::new(),
        elements: Vec::new(),
    }
}

/// Diagnostics helper: error at a JSON path.
pub fn err(diags: &mut Diagnostics, file: &str, path: String, code: &str, msg: impl Into<String>) {
    diags.push(Diagnostic::error(Location::json(file, path), code, msg));
}
