//! What the server's exporter sees on each frame: shapes plus the visible state of every track
//! (interpolated between keyframes), in the server's order (shapes before tracks, then a stable sort by
//! `z_order`).

use cvat_format_api::{AttributeValue, Dataset, Shape, ShapeType, Track, TrackedShape};
use std::collections::BTreeMap;

#[derive(Debug, Clone)]
pub struct FrameAnn {
    pub label_id: i64,
    pub kind: ShapeType,
    pub points: Vec<f64>,
    pub rotation: f64,
    pub z_order: i64,
    pub group: i64,
    pub occluded: bool,
    /// Track attributes followed by the shape's.
    pub attributes: Vec<AttributeValue>,
    /// (index of the track in the dataset, whether this frame is a keyframe).
    pub track: Option<(usize, bool)>,
}

impl FrameAnn {
    fn from_shape(s: &Shape) -> Self {
        FrameAnn {
            label_id: s.label_id,
            kind: s.kind,
            points: s.points.clone(),
            rotation: s.rotation,
            z_order: s.z_order,
            group: s.group,
            occluded: s.occluded,
            attributes: s.attributes.clone(),
            track: None,
        }
    }
}

/// The last frame number of the task (from the frame list, else from the annotations).
pub fn last_frame(ds: &Dataset) -> u32 {
    let from_frames = ds.frames.iter().map(|f| f.id).max();
    from_frames.unwrap_or_else(|| {
        let s = ds.shapes.iter().map(|s| s.frame);
        let t = ds
            .tracks
            .iter()
            .flat_map(|t| t.shapes.iter().map(|s| s.frame));
        let g = ds.tags.iter().map(|t| t.frame);
        s.chain(t).chain(g).max().unwrap_or(0)
    })
}

/// Frame number → annotations on it, in export order. Skeleton tracks are left out (no format of this
/// crate carries them); the caller counts them.
pub fn by_frame(ds: &Dataset) -> BTreeMap<u32, Vec<FrameAnn>> {
    let mut map: BTreeMap<u32, Vec<FrameAnn>> = BTreeMap::new();
    for s in &ds.shapes {
        if s.outside {
            continue;
        }
        map.entry(s.frame)
            .or_default()
            .push(FrameAnn::from_shape(s));
    }
    let last = last_frame(ds);
    for (ti, t) in ds.tracks.iter().enumerate() {
        if t.shapes.is_empty() || !t.elements.is_empty() {
            continue;
        }
        for (frame, ann) in track_frames(ti, t, last) {
            map.entry(frame).or_default().push(ann);
        }
    }
    for anns in map.values_mut() {
        anns.sort_by_key(|a| a.z_order);
    }
    map
}

/// The visible shapes of a track on every frame up to `last` (inclusive).
pub fn track_frames(ti: usize, t: &Track, last: u32) -> Vec<(u32, FrameAnn)> {
    let mut kfs: Vec<&TrackedShape> = t.shapes.iter().collect();
    kfs.sort_by_key(|s| s.frame);
    let mut out = Vec::new();
    for (i, a) in kfs.iter().enumerate() {
        if a.outside {
            continue;
        }
        let next = kfs.get(i + 1).copied();
        let end = match next {
            Some(b) => b.frame.min(last.saturating_add(1)),
            None => last.saturating_add(1),
        };
        let mut f = a.frame;
        while f < end {
            let points = match next {
                Some(b) if f != a.frame => interpolate(a, b, f),
                _ => a.points.clone(),
            };
            let rotation = match next {
                Some(b) if f != a.frame && b.kind == a.kind => {
                    let k = (f - a.frame) as f64 / (b.frame - a.frame) as f64;
                    a.rotation + (b.rotation - a.rotation) * k
                }
                _ => a.rotation,
            };
            let mut attributes = t.attributes.clone();
            attributes.extend(a.attributes.iter().cloned());
            out.push((
                f,
                FrameAnn {
                    label_id: t.label_id,
                    kind: a.kind,
                    points,
                    rotation,
                    z_order: a.z_order,
                    group: t.group,
                    occluded: a.occluded,
                    attributes,
                    track: Some((ti, f == a.frame)),
                },
            ));
            f += 1;
        }
    }
    out
}

/// Linear interpolation of the points of keyframes `a` and `b` at frame `f`; shapes that cannot be
/// matched point by point keep `a`'s points.
fn interpolate(a: &TrackedShape, b: &TrackedShape, f: u32) -> Vec<f64> {
    if a.kind != b.kind || a.points.len() != b.points.len() || a.kind == ShapeType::Mask {
        return a.points.clone();
    }
    let span = (b.frame - a.frame) as f64;
    let k = (f - a.frame) as f64 / span;
    a.points
        .iter()
        .zip(&b.points)
        .map(|(p, q)| p + (q - p) * k)
        .collect()
}
