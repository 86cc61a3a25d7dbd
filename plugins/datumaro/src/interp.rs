//! Track interpolation as the server does it when a format stores one shape per frame: every frame from a
//! track's first keyframe to the end of the task gets a shape, linear between keyframes, copied after the
//! last one. Shared by the Datumaro, MOT and LabelMe writers.

use cvat_format_api::{AttributeValue, ShapeType, TrackedShape};

/// The state of a track on one frame.
#[derive(Debug, Clone, PartialEq)]
pub struct FrameState {
    pub frame: u32,
    pub kind: ShapeType,
    pub points: Vec<f64>,
    pub occluded: bool,
    pub outside: bool,
    pub z_order: i64,
    pub rotation: f64,
    /// Mutable attributes of the keyframe in force.
    pub attributes: Vec<AttributeValue>,
    /// Whether a keyframe sits on this frame.
    pub keyframe: bool,
}

/// Every frame of a track from its first keyframe to `last_frame` (inclusive), including outside frames
/// (callers skip those where they must). Keyframes are taken in frame order. Points are interpolated
/// linearly when both keyframes have the same type and number of values (masks never are); otherwise the
/// earlier keyframe is held. Rotation takes the shorter way round.
pub fn track_frames(shapes: &[TrackedShape], last_frame: u32) -> Vec<FrameState> {
    let mut ks: Vec<&TrackedShape> = shapes.iter().collect();
    ks.sort_by_key(|s| s.frame);
    let mut out = Vec::new();
    for (i, a) in ks.iter().enumerate() {
        let next = ks.get(i + 1);
        let end = match next {
            Some(b) => b.frame,
            None => last_frame.max(a.frame).saturating_add(1),
        };
        for f in a.frame..end {
            let key = f == a.frame;
            let mut st = FrameState {
                frame: f,
                kind: a.kind,
                points: a.points.clone(),
                occluded: a.occluded,
                outside: a.outside,
                z_order: a.z_order,
                rotation: a.rotation,
                attributes: a.attributes.clone(),
                keyframe: key,
            };
            if let (false, false, Some(b)) = (key, a.outside, next) {
                if b.kind == a.kind && b.points.len() == a.points.len() && a.kind != ShapeType::Mask
                {
                    let t = (f - a.frame) as f64 / (b.frame - a.frame) as f64;
                    st.points = a
                        .points
                        .iter()
                        .zip(&b.points)
                        .map(|(p, q)| p + (q - p) * t)
                        .collect();
                    let mut d = (b.rotation - a.rotation) % 360.0;
                    if d > 180.0 {
                        d -= 360.0;
                    } else if d < -180.0 {
                        d += 360.0;
                    }
                    st.rotation = (a.rotation + d * t).rem_euclid(360.0);
                }
            }
            out.push(st);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ks(frame: u32, x: f64, outside: bool) -> TrackedShape {
        TrackedShape {
            kind: ShapeType::Rectangle,
            frame,
            outside,
            points: vec![x, 0.0, x + 10.0, 10.0],
            ..Default::default()
        }
    }

    #[test]
    fn interpolates_between_and_holds_after() {
        let f = track_frames(&[ks(0, 0.0, false), ks(2, 20.0, false)], 3);
        assert_eq!(f.len(), 4);
        assert_eq!(f[1].points[0], 10.0);
        assert!(!f[1].keyframe && f[2].keyframe);
        assert_eq!(f[3].points[0], 20.0);
    }

    #[test]
    fn outside_segments_are_marked() {
        let f = track_frames(&[ks(0, 0.0, false), ks(1, 0.0, true), ks(3, 5.0, false)], 3);
        let vis: Vec<bool> = f.iter().map(|s| s.outside).collect();
        assert_eq!(vis, [false, true, true, false]);
    }
}
