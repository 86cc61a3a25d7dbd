//! Tracks expanded into one shape per frame exactly as the server does before any datumaro-based export
//! (`TrackManager.get_interpolated_shapes` of CVAT's `annotation.py`): linear interpolation for rectangles,
//! ellipses, cuboids and skeletons, CVAT's contour-matching interpolation for polygons and polylines,
//! single points interpolated and point sets held; attributes of earlier keyframes propagate; after the
//! last visible keyframe the shape is held until the end of the task.

use cvat_format_api::{AttributeValue, ShapeType, TrackedShape};

/// One frame of a track.
#[derive(Debug, Clone, PartialEq)]
pub struct FrameShape {
    pub frame: u32,
    pub kind: ShapeType,
    pub occluded: bool,
    pub outside: bool,
    pub z_order: i64,
    pub rotation: f64,
    pub points: Vec<f64>,
    pub attributes: Vec<AttributeValue>,
    pub keyframe: bool,
}

fn from_keyframe(s: &TrackedShape) -> FrameShape {
    FrameShape {
        frame: s.frame,
        kind: s.kind,
        occluded: s.occluded,
        outside: s.outside,
        z_order: s.z_order,
        rotation: s.rotation,
        points: s.points.clone(),
        attributes: s.attributes.clone(),
        keyframe: true,
    }
}

fn copy_at(
    s: &FrameShape,
    frame: u32,
    points: Option<Vec<f64>>,
    rotation: Option<f64>,
) -> FrameShape {
    FrameShape {
        frame,
        points: points.unwrap_or_else(|| s.points.clone()),
        rotation: rotation.unwrap_or(s.rotation),
        keyframe: false,
        ..s.clone()
    }
}

/// Python's float `%` (result has the sign of the divisor).
fn py_mod(a: f64, b: f64) -> f64 {
    let r = a % b;
    if r != 0.0 && (r < 0.0) != (b < 0.0) {
        r + b
    } else {
        r
    }
}

fn find_angle_diff(right: f64, left: f64) -> f64 {
    let mut d = right - left;
    d = py_mod(d + 180.0, 360.0) - 180.0;
    if d.abs() >= 180.0 {
        // (sic) the server's expression: `360 - abs(d) * -1 if d > 0 else 1`
        d = if d > 0.0 { 360.0 + d.abs() } else { 1.0 };
    }
    d
}

fn simple(s0: &FrameShape, s1: &FrameShape, included: &dyn Fn(u32) -> bool) -> Vec<FrameShape> {
    let mut out = Vec::new();
    let distance = (s1.frame - s0.frame) as f64;
    let n = s0.points.len().min(s1.points.len());
    for frame in s0.frame + 1..s1.frame {
        let offset = (frame - s0.frame) as f64 / distance;
        let rotation = py_mod(
            s0.rotation + find_angle_diff(s1.rotation, s0.rotation) * offset + 360.0,
            360.0,
        );
        let points: Vec<f64> = (0..n)
            .map(|i| s0.points[i] + (s1.points[i] - s0.points[i]) * offset)
            .collect();
        if included(frame) {
            out.push(copy_at(s0, frame, Some(points), Some(rotation)));
        }
    }
    out
}

type Pt = (f64, f64);

fn curve_length(p: &[Pt]) -> f64 {
    let mut len = 0.0;
    for i in 1..p.len() {
        let dx = p[i].0 - p[i - 1].0;
        let dy = p[i].1 - p[i - 1].1;
        len += (dx * dx + dy * dy).sqrt();
    }
    len
}

fn offset_vec(p: &[Pt], length: f64) -> Vec<f64> {
    let mut v = vec![0.0];
    let mut acc = 0.0;
    for i in 1..p.len() {
        let dx = p[i].0 - p[i - 1].0;
        let dy = p[i].1 - p[i - 1].1;
        acc += (dx * dx + dy * dy).sqrt();
        v.push(acc / length);
    }
    v
}

fn nearest(value: f64, curve: &[f64]) -> usize {
    let mut best = (0usize, (value - curve[0]).abs());
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

/// `interpolate_position` of the server: matches the two contours by relative arc length, interpolates
/// every matched pair and reduces the result.
fn interpolate_position(left: &[f64], right: &[f64], offset: f64) -> Vec<f64> {
    let lp: Vec<Pt> = left.chunks_exact(2).map(|c| (c[0], c[1])).collect();
    let rp: Vec<Pt> = right.chunks_exact(2).map(|c| (c[0], c[1])).collect();
    if lp.is_empty() || rp.is_empty() {
        return left.to_vec();
    }
    let lo = offset_vec(&lp, curve_length(&lp));
    let ro = offset_vec(&rp, curve_length(&rp));
    let mut matching: Vec<Vec<usize>> = lo.iter().map(|&v| vec![nearest(v, &ro)]).collect();
    let matched: Vec<usize> = matching.iter().flatten().copied().collect();
    for (r, &rv) in ro.iter().enumerate() {
        if !matched.contains(&r) {
            let l = nearest(rv, &lo);
            matching[l].push(r);
        }
    }
    for m in matching.iter_mut() {
        m.sort_unstable();
    }
    let mut interp: Vec<Pt> = Vec::new();
    for (li, l) in lp.iter().enumerate() {
        for &ri in &matching[li] {
            let r = rp[ri];
            interp.push((l.0 + (r.0 - l.0) * offset, l.1 + (r.1 - l.1) * offset));
        }
    }
    // reduce_interpolation
    let mut idx: Vec<Vec<usize>> = Vec::with_capacity(lp.len());
    let mut acc = 0;
    for m in &matching {
        let mut v = Vec::new();
        for _ in 0..m.len() {
            v.push(acc);
            acc += 1;
        }
        idx.push(v);
    }
    let mut reduced: Vec<Pt> = Vec::new();
    let minimize = |base: f64, n: usize, start: usize, stop: usize, out: &mut Vec<Pt>| {
        let threshold = base / (2.0 * n as f64);
        let mut minimized = vec![interp[start]];
        let mut latest = start;
        for i in start + 1..stop {
            if dist(interp[latest], interp[i]) >= threshold {
                minimized.push(interp[i]);
                latest = i;
            }
        }
        minimized.push(interp[stop]);
        if minimized.len() == 2 && dist(interp[start], interp[stop]) < threshold {
            let sx = minimized[0].0 + minimized[1].0;
            let sy = minimized[0].1 + minimized[1].1;
            out.push((sx / 2.0, sy / 2.0));
            return;
        }
        out.extend(minimized);
    };
    let left_segment = |start: usize, stop: usize, out: &mut Vec<Pt>| {
        let si = idx[start][0];
        let st = idx[stop][0];
        if si == st {
            out.push(interp[si]);
            return;
        }
        let base = curve_length(&lp[start..=stop]);
        minimize(base, stop - start + 1, si, st, out);
    };
    let right_segment = |l: usize, out: &mut Vec<Pt>| {
        let m = &matching[l];
        let (start, stop) = (m[0], m[m.len() - 1]);
        let si = idx[l][0];
        let st = idx[l][idx[l].len() - 1];
        let base = curve_length(&rp[start..=stop]);
        minimize(base, stop - start + 1, si, st, out);
    };
    let mut opened: Option<usize> = None;
    for i in 0..lp.len() {
        if matching[i].len() == 1 {
            match opened {
                Some(p) => {
                    if matching[i][0] == matching[p][0] {
                        continue;
                    }
                    left_segment(p, i - 1, &mut reduced);
                    opened = Some(i);
                }
                None => opened = Some(i),
            }
        } else {
            if let Some(p) = opened.take() {
                left_segment(p, i - 1, &mut reduced);
            }
            right_segment(i, &mut reduced);
        }
    }
    if let Some(p) = opened {
        left_segment(p, lp.len() - 1, &mut reduced);
    }
    reduced.iter().flat_map(|p| [p.0, p.1]).collect()
}

fn polyshape(s0: &FrameShape, s1: &FrameShape, included: &dyn Fn(u32) -> bool) -> Vec<FrameShape> {
    let polygon = s0.kind == ShapeType::Polygon;
    let close = |p: &[f64]| {
        let mut v = p.to_vec();
        if polygon && p.len() >= 2 {
            v.extend_from_slice(&p[..2]);
        }
        v
    };
    let (l, r) = (close(&s0.points), close(&s1.points));
    let distance = (s1.frame - s0.frame) as f64;
    let mut out = Vec::new();
    for frame in s0.frame + 1..s1.frame {
        let offset = (frame - s0.frame) as f64 / distance;
        let mut points = interpolate_position(&l, &r, offset);
        if included(frame) {
            if polygon {
                points.truncate(points.len().saturating_sub(2));
            }
            out.push(copy_at(s0, frame, Some(points), None));
        }
    }
    out
}

fn interpolate(
    s0: &FrameShape,
    s1: &FrameShape,
    included: &dyn Fn(u32) -> bool,
) -> Vec<FrameShape> {
    match s0.kind {
        ShapeType::Rectangle | ShapeType::Cuboid | ShapeType::Ellipse | ShapeType::Skeleton => {
            simple(s0, s1, included)
        }
        ShapeType::Points => {
            if s0.points.len() == 2 && s1.points.len() == 2 {
                simple(s0, s1, included)
            } else {
                (s0.frame + 1..s1.frame)
                    .filter(|f| included(*f))
                    .map(|f| copy_at(s0, f, None, None))
                    .collect()
            }
        }
        ShapeType::Polygon | ShapeType::Polyline => polyshape(s0, s1, included),
        // masks are not interpolated by the server (it raises); hold the previous keyframe
        ShapeType::Mask => (s0.frame + 1..s1.frame)
            .filter(|f| included(*f))
            .map(|f| copy_at(s0, f, None, None))
            .collect(),
    }
}

/// `get_interpolated_shapes(track, 0, end_frame)`: keyframes (outside ones too) and interpolated frames
/// in `[track_frame, end_frame)`; with `include_outside`, frames after an outside keyframe are produced
/// too (used for skeleton elements). `included` restricts the frames produced.
pub fn interpolated_shapes(
    track_frame: u32,
    keyframes: &[TrackedShape],
    end_frame: u32,
    include_outside: bool,
    included: &dyn Fn(u32) -> bool,
) -> Vec<FrameShape> {
    let mut sorted: Vec<&TrackedShape> = keyframes.iter().collect();
    sorted.sort_by_key(|s| s.frame);
    let mut shapes: Vec<FrameShape> = Vec::new();
    let mut prev: Option<FrameShape> = None;
    for ks in sorted {
        let mut shape = from_keyframe(ks);
        if let Some(p) = &prev {
            if shape.frame <= p.frame {
                // the server asserts here; keep the first keyframe of a frame
                continue;
            }
            if end_frame <= shape.frame {
                let mut inter = interpolate(p, &shape, included);
                inter.push(shape);
                for s in inter {
                    if s.frame < end_frame {
                        shapes.push(s);
                    } else {
                        break;
                    }
                }
                prev = None;
                break;
            }
            for a in &p.attributes {
                if !shape.attributes.iter().any(|b| b.spec_id == a.spec_id) {
                    shape.attributes.push(a.clone());
                }
            }
            if !p.outside || include_outside {
                shapes.extend(interpolate(p, &shape, included));
            }
        }
        shape.keyframe = true;
        shapes.push(shape.clone());
        prev = Some(shape);
    }
    if let Some(p) = prev {
        if !p.outside || include_outside {
            for f in p.frame + 1..end_frame {
                if included(f) {
                    shapes.push(copy_at(&p, f, None, None));
                }
            }
        }
    }
    shapes
        .into_iter()
        .filter(|s| track_frame <= s.frame && s.frame < end_frame)
        .filter(|s| s.keyframe || !s.outside || include_outside)
        .filter(|s| included(s.frame))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ks(frame: u32, kind: ShapeType, points: &[f64], outside: bool) -> TrackedShape {
        TrackedShape {
            frame,
            kind,
            points: points.to_vec(),
            outside,
            ..Default::default()
        }
    }

    #[test]
    fn rectangles_are_linear_and_held_after_the_last_keyframe() {
        let t = [
            ks(0, ShapeType::Rectangle, &[20.0, 20.0, 120.0, 100.0], false),
            ks(2, ShapeType::Rectangle, &[60.0, 40.0, 160.0, 120.0], false),
            ks(4, ShapeType::Rectangle, &[100.0, 60.0, 200.0, 140.0], true),
        ];
        let s = interpolated_shapes(0, &t, 6, false, &|_| true);
        let frames: Vec<(u32, bool, bool)> =
            s.iter().map(|s| (s.frame, s.keyframe, s.outside)).collect();
        assert_eq!(
            frames,
            vec![
                (0, true, false),
                (1, false, false),
                (2, true, false),
                (3, false, false),
                (4, true, true)
            ]
        );
        assert_eq!(s[1].points, vec![40.0, 30.0, 140.0, 110.0]);
    }

    #[test]
    fn polygon_translation_interpolates_vertex_by_vertex() {
        let t = [
            ks(
                1,
                ShapeType::Polygon,
                &[10.0, 10.0, 100.0, 10.0, 55.0, 90.0],
                false,
            ),
            ks(
                3,
                ShapeType::Polygon,
                &[20.0, 30.0, 110.0, 30.0, 65.0, 110.0],
                false,
            ),
        ];
        let s = interpolated_shapes(1, &t, 4, false, &|_| true);
        assert_eq!(s[1].points, vec![15.0, 20.0, 105.0, 20.0, 60.0, 100.0]);
    }
}
