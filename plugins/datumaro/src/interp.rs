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
/// (callers skip those where they must), as the server's `TrackManager.get_interpolated_shapes`:
/// keyframes in frame order, each inheriting the mutable attributes it lacks from the one before;
/// rectangles, ellipses, cuboids and skeletons interpolated linearly (rotation the shorter way round);
/// polygons and polylines by the server's curve-matching interpolation (which also handles different
/// point counts); single points linearly, multi-point `points` and masks held; after the last keyframe
/// the shape is held to the end.
pub fn track_frames(shapes: &[TrackedShape], last_frame: u32) -> Vec<FrameState> {
    let mut ks: Vec<TrackedShape> = shapes.to_vec();
    ks.sort_by_key(|s| s.frame);
    for i in 1..ks.len() {
        let prev = ks[i - 1].attributes.clone();
        for a in prev {
            if !ks[i].attributes.iter().any(|x| x.spec_id == a.spec_id) {
                ks[i].attributes.push(a);
            }
        }
    }
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
                let t = (f - a.frame) as f64 / (b.frame - a.frame) as f64;
                if let Some(p) = interpolate_points(a, b, t) {
                    st.points = p;
                }
                if matches!(
                    a.kind,
                    ShapeType::Rectangle
                        | ShapeType::Ellipse
                        | ShapeType::Cuboid
                        | ShapeType::Skeleton
                ) {
                    st.rotation = (a.rotation + angle_diff(b.rotation, a.rotation) * t + 360.0)
                        .rem_euclid(360.0);
                }
            }
            out.push(st);
        }
    }
    out
}

/// The server's `find_angle_diff`: the signed difference the shorter way round.
fn angle_diff(right: f64, left: f64) -> f64 {
    ((right - left + 180.0).rem_euclid(360.0)) - 180.0
}

fn interpolate_points(a: &TrackedShape, b: &TrackedShape, t: f64) -> Option<Vec<f64>> {
    if a.kind != b.kind {
        return None;
    }
    let linear = || -> Option<Vec<f64>> {
        (a.points.len() == b.points.len()).then(|| {
            a.points
                .iter()
                .zip(&b.points)
                .map(|(p, q)| p + (q - p) * t)
                .collect()
        })
    };
    match a.kind {
        ShapeType::Rectangle | ShapeType::Ellipse | ShapeType::Cuboid | ShapeType::Skeleton => {
            linear()
        }
        ShapeType::Points if a.points.len() == 2 && b.points.len() == 2 => linear(),
        ShapeType::Points | ShapeType::Mask => None,
        ShapeType::Polygon | ShapeType::Polyline => {
            if a.points.len() < 2 || b.points.len() < 2 {
                return None;
            }
            let closed = a.kind == ShapeType::Polygon;
            let close = |p: &[f64]| {
                let mut v = p.to_vec();
                if closed {
                    v.extend_from_slice(&p[..2]);
                }
                v
            };
            let mut r = interpolate_position(&close(&a.points), &close(&b.points), t);
            if closed {
                r.truncate(r.len().saturating_sub(2));
            }
            Some(r)
        }
    }
}

type Pt = (f64, f64);

fn pts(v: &[f64]) -> Vec<Pt> {
    v.chunks_exact(2).map(|c| (c[0], c[1])).collect()
}

fn curve_length(p: &[Pt]) -> f64 {
    p.windows(2)
        .map(|w| ((w[1].0 - w[0].0).powi(2) + (w[1].1 - w[0].1).powi(2)).sqrt())
        .sum()
}

fn offsets(p: &[Pt], length: f64) -> Vec<f64> {
    let mut out = vec![0.0];
    let mut acc = 0.0;
    for w in p.windows(2) {
        acc += ((w[1].0 - w[0].0).powi(2) + (w[1].1 - w[0].1).powi(2)).sqrt();
        out.push(acc / length);
    }
    out
}

fn nearest(value: f64, curve: &[f64]) -> usize {
    let mut best = (0, (value - curve.first().copied().unwrap_or(0.0)).abs());
    for (i, c) in curve.iter().enumerate().skip(1) {
        let d = (value - c).abs();
        if d < best.1 {
            best = (i, d);
        }
    }
    best.0
}

fn dist(a: Pt, b: Pt) -> f64 {
    ((a.0 - b.0).powi(2) + (a.1 - b.1).powi(2)).sqrt()
}

/// A port of the server's `interpolate_position` for polygons and polylines.
fn interpolate_position(left: &[f64], right: &[f64], offset: f64) -> Vec<f64> {
    let (lp, rp) = (pts(left), pts(right));
    let lo = offsets(&lp, curve_length(&lp));
    let ro = offsets(&rp, curve_length(&rp));
    let mut matching: Vec<Vec<usize>> = lo.iter().map(|v| vec![nearest(*v, &ro)]).collect();
    let matched: Vec<usize> = matching.iter().flatten().copied().collect();
    for (r, value) in ro.iter().enumerate() {
        if !matched.contains(&r) {
            let l = nearest(*value, &lo);
            matching[l].push(r);
        }
    }
    for m in matching.iter_mut() {
        m.sort_unstable();
    }
    let mut ip: Vec<Pt> = Vec::new();
    let mut index: Vec<Vec<usize>> = Vec::new();
    for (i, l) in lp.iter().enumerate() {
        let mut idx = Vec::new();
        for &r in &matching[i] {
            let q = rp[r];
            idx.push(ip.len());
            ip.push((l.0 + (q.0 - l.0) * offset, l.1 + (q.1 - l.1) * offset));
        }
        index.push(idx);
    }

    let mut reduced: Vec<Pt> = Vec::new();
    let minimize = |base: f64, n: usize, si: usize, ti: usize, reduced: &mut Vec<Pt>| {
        let threshold = base / (2.0 * n as f64);
        let mut min = vec![ip[si]];
        let mut latest = si;
        for i in si + 1..ti {
            if dist(ip[latest], ip[i]) >= threshold {
                min.push(ip[i]);
                latest = i;
            }
        }
        min.push(ip[ti]);
        if min.len() == 2 && dist(ip[si], ip[ti]) < threshold {
            let avg = ((min[0].0 + min[1].0) / 2.0, (min[0].1 + min[1].1) / 2.0);
            reduced.push(avg);
            return;
        }
        reduced.extend(min);
    };
    let left_segment = |start: usize, stop: usize, reduced: &mut Vec<Pt>| {
        let (si, ti) = (index[start][0], index[stop][0]);
        if si == ti {
            reduced.push(ip[si]);
            return;
        }
        let base = curve_length(&lp[start..=stop]);
        minimize(base, stop - start + 1, si, ti, reduced);
    };
    let right_segment = |l: usize, reduced: &mut Vec<Pt>| {
        let (start, stop) = (matching[l][0], matching[l][matching[l].len() - 1]);
        let (si, ti) = (index[l][0], index[l][index[l].len() - 1]);
        let base = curve_length(&rp[start..=stop]);
        minimize(base, stop - start + 1, si, ti, reduced);
    };
    let mut opened: Option<usize> = None;
    for i in 0..lp.len() {
        if matching[i].len() == 1 {
            match opened {
                Some(o) if matching[i][0] == matching[o][0] => continue,
                Some(o) => {
                    left_segment(o, i - 1, &mut reduced);
                    opened = Some(i);
                }
                None => opened = Some(i),
            }
        } else {
            if let Some(o) = opened.take() {
                left_segment(o, i - 1, &mut reduced);
            }
            right_segment(i, &mut reduced);
        }
    }
    if let Some(o) = opened {
        left_segment(o, lp.len() - 1, &mut reduced);
    }
    reduced.into_iter().flat_map(|(x, y)| [x, y]).collect()
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
    fn polygons_with_other_point_counts_are_matched_along_the_outline() {
        let a = TrackedShape {
            kind: ShapeType::Polygon,
            frame: 0,
            points: vec![0.0, 0.0, 10.0, 0.0, 10.0, 10.0, 0.0, 10.0],
            ..Default::default()
        };
        let mut b = a.clone();
        b.frame = 2;
        b.points = vec![0.0, 0.0, 5.0, 0.0, 10.0, 0.0, 10.0, 10.0, 0.0, 10.0];
        let f = track_frames(&[a.clone(), b.clone()], 2);
        let mid = &f[1].points;
        assert_eq!(mid.len() % 2, 0);
        // every interpolated vertex lies on the square both keyframes trace
        for p in mid.chunks_exact(2) {
            let on_edge = p[0] == 0.0 || p[0] == 10.0 || p[1] == 0.0 || p[1] == 10.0;
            assert!(on_edge, "{p:?}");
        }
        // same point counts and same shape: the identity
        let mut c = a.clone();
        c.frame = 2;
        let f = track_frames(&[a.clone(), c], 2);
        assert_eq!(f[1].points, a.points);
    }

    #[test]
    fn multi_point_points_are_held_and_attributes_inherited() {
        let mut a = ks(0, 0.0, false);
        a.kind = ShapeType::Points;
        a.attributes = vec![AttributeValue {
            spec_id: 7,
            value: "x".into(),
        }];
        let mut b = a.clone();
        b.frame = 2;
        b.points = vec![9.0, 9.0, 9.0, 9.0];
        b.attributes.clear();
        let f = track_frames(&[a.clone(), b], 2);
        assert_eq!(f[1].points, a.points);
        assert_eq!(f[2].attributes, a.attributes);
    }

    #[test]
    fn outside_segments_are_marked() {
        let f = track_frames(&[ks(0, 0.0, false), ks(1, 0.0, true), ks(3, 5.0, false)], 3);
        let vis: Vec<bool> = f.iter().map(|s| s.outside).collect();
        assert_eq!(vis, [false, true, true, false]);
    }
}
