//! Track interpolation exactly as the CVAT server does it when it exports a track
//! (`TrackManager.get_interpolated_shapes` in `cvat/apps/dataset_manager/annotation.py`): linear
//! interpolation of boxes, ellipses, cuboids, skeletons and single points (with the server's rotation
//! rule), the curve-matching interpolation of polygons and polylines (which can change the number of
//! points between keyframes), copies for multi-point `points` shapes and masks, propagation after the
//! last visible keyframe, and the propagation of mutable attributes from keyframe to keyframe.

use cvat_format_api::{AttributeValue, ShapeType, Track, TrackedShape};
use std::borrow::Cow;
use std::rc::Rc;

/// One shape of a track on one frame, keyframe or interpolated.
#[derive(Debug, Clone)]
pub(crate) struct IShape<'a> {
    pub frame: u32,
    pub keyframe: bool,
    pub outside: bool,
    pub occluded: bool,
    pub z_order: i64,
    pub rotation: f64,
    pub kind: ShapeType,
    pub points: Cow<'a, [f64]>,
    /// Mutable attributes in force on this frame (the keyframe's own first, then those propagated
    /// from earlier keyframes).
    pub attrs: Rc<Vec<&'a AttributeValue>>,
}

impl<'a> IShape<'a> {
    fn key(s: &'a TrackedShape) -> Self {
        IShape {
            frame: s.frame,
            keyframe: true,
            outside: s.outside,
            occluded: s.occluded,
            z_order: s.z_order,
            rotation: s.rotation,
            kind: s.kind,
            points: Cow::Borrowed(&s.points),
            attrs: Rc::new(s.attributes.iter().collect()),
        }
    }
    fn copy(&self, frame: u32, points: Option<Vec<f64>>, rotation: Option<f64>) -> Self {
        IShape {
            frame,
            keyframe: false,
            outside: self.outside,
            occluded: self.occluded,
            z_order: self.z_order,
            rotation: rotation.unwrap_or(self.rotation),
            kind: self.kind,
            points: match points {
                Some(p) => Cow::Owned(p),
                None => self.points.clone(),
            },
            attrs: self.attrs.clone(),
        }
    }
}

/// What interpolation could not do as the server would (the server fails on these).
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct InterpIssues {
    /// Keyframes on a frame that an earlier keyframe of the track already has (skipped).
    pub duplicate_keyframes: usize,
    /// Consecutive keyframes of different types or point counts that cannot be interpolated
    /// (the earlier keyframe is repeated instead).
    pub not_interpolable: usize,
}

/// The task frames strictly between `lo` and `hi` (`frames` sorted).
fn between(frames: &[u32], lo: u32, hi: u32) -> &[u32] {
    let a = frames.partition_point(|&f| f <= lo);
    let b = frames.partition_point(|&f| f < hi);
    frames.get(a..b.max(a)).unwrap_or(&[])
}

/// Shapes of `track` on frames `< end_frame` (relative frame numbers), as the server exports them.
/// Interpolated frames are made only for frames of the task (`frames`, sorted ids), as the server's
/// `included_frames`. With `include_outside`, interpolated frames after an outside keyframe are kept
/// (the server does this for skeleton elements in the images flavour).
pub(crate) fn interpolated_shapes<'a>(
    track: &'a Track,
    frames: &[u32],
    end_frame: u32,
    include_outside: bool,
    issues: &mut InterpIssues,
) -> Vec<IShape<'a>> {
    let mut keys: Vec<&TrackedShape> = track.shapes.iter().collect();
    keys.sort_by_key(|s| s.frame);
    let mut shapes: Vec<IShape<'a>> = Vec::new();
    let mut prev: Option<IShape<'a>> = None;
    for k in keys {
        let mut cur = IShape::key(k);
        if let Some(p) = &prev {
            if k.frame <= p.frame {
                issues.duplicate_keyframes += 1;
                continue;
            }
            if end_frame <= k.frame {
                let mut tail = interpolate(p, &cur, frames, issues);
                tail.push(cur);
                for s in tail {
                    if s.frame < end_frame {
                        shapes.push(s);
                    } else {
                        break;
                    }
                }
                prev = None;
                break;
            }
            // propagate attributes the keyframe does not set itself
            let mut attrs: Vec<&AttributeValue> = k.attributes.iter().collect();
            for a in p.attrs.iter() {
                if !attrs.iter().any(|b| b.spec_id == a.spec_id) {
                    attrs.push(a);
                }
            }
            cur.attrs = Rc::new(attrs);
            if !p.outside || include_outside {
                shapes.extend(interpolate(p, &cur, frames, issues));
            }
        }
        shapes.push(cur.clone());
        prev = Some(cur);
    }
    if let Some(p) = &prev {
        if !p.outside || include_outside {
            for &f in between(frames, p.frame, end_frame) {
                shapes.push(p.copy(f, None, None));
            }
        }
    }
    shapes.retain(|s| {
        track.frame <= s.frame
            && s.frame < end_frame
            && (s.keyframe || !s.outside || include_outside)
    });
    shapes
}

fn copies<'a>(s0: &IShape<'a>, s1: &IShape<'a>, frames: &[u32]) -> Vec<IShape<'a>> {
    between(frames, s0.frame, s1.frame)
        .iter()
        .map(|&f| s0.copy(f, None, None))
        .collect()
}

fn interpolate<'a>(
    s0: &IShape<'a>,
    s1: &IShape<'a>,
    frames: &[u32],
    issues: &mut InterpIssues,
) -> Vec<IShape<'a>> {
    if s0.kind != s1.kind {
        issues.not_interpolable += 1;
        return copies(s0, s1, frames);
    }
    match s0.kind {
        ShapeType::Rectangle | ShapeType::Cuboid | ShapeType::Ellipse | ShapeType::Skeleton => {
            simple(s0, s1, frames, issues)
        }
        ShapeType::Points => {
            if s0.points.len() == 2 && s1.points.len() == 2 {
                simple(s0, s1, frames, issues)
            } else {
                copies(s0, s1, frames)
            }
        }
        ShapeType::Polygon | ShapeType::Polyline => polyshape(s0, s1, frames),
        // the server cannot interpolate masks; repeat the earlier keyframe
        ShapeType::Mask => copies(s0, s1, frames),
    }
}

/// `find_angle_diff` of the server, including its quirk for a difference of exactly -180.
fn angle_diff(right: f64, left: f64) -> f64 {
    let d = (right - left + 180.0).rem_euclid(360.0) - 180.0;
    if d.abs() >= 180.0 {
        if d > 0.0 {
            360.0 + d.abs()
        } else {
            1.0
        }
    } else {
        d
    }
}

fn simple<'a>(
    s0: &IShape<'a>,
    s1: &IShape<'a>,
    frames: &[u32],
    issues: &mut InterpIssues,
) -> Vec<IShape<'a>> {
    if s0.points.len() != s1.points.len() {
        issues.not_interpolable += 1;
        return copies(s0, s1, frames);
    }
    let distance = (s1.frame - s0.frame) as f64;
    let range = between(frames, s0.frame, s1.frame);
    let mut out = Vec::with_capacity(range.len());
    for &f in range {
        let offset = (f - s0.frame) as f64 / distance;
        let rotation =
            (s0.rotation + angle_diff(s1.rotation, s0.rotation) * offset + 360.0).rem_euclid(360.0);
        let points = s0
            .points
            .iter()
            .zip(s1.points.iter())
            .map(|(a, b)| a + (b - a) * offset)
            .collect();
        out.push(s0.copy(f, Some(points), Some(rotation)));
    }
    out
}

type Pt = (f64, f64);

fn to_pts(p: &[f64]) -> Vec<Pt> {
    p.chunks_exact(2).map(|c| (c[0], c[1])).collect()
}

fn dist(a: Pt, b: Pt) -> f64 {
    let (dx, dy) = (a.0 - b.0, a.1 - b.1);
    (dx * dx + dy * dy).sqrt()
}

fn curve_length(p: &[Pt]) -> f64 {
    let mut l = 0.0;
    for i in 1..p.len() {
        l += dist(p[i], p[i - 1]);
    }
    l
}

fn offset_vec(p: &[Pt], length: f64) -> Vec<f64> {
    let mut v = Vec::with_capacity(p.len());
    v.push(0.0);
    let mut acc = 0.0;
    for i in 1..p.len() {
        acc += dist(p[i], p[i - 1]);
        v.push(acc / length);
    }
    v
}

fn nearest(value: f64, curve: &[f64]) -> usize {
    let mut best = 0;
    let mut best_d = curve.first().map(|c| (value - c).abs()).unwrap_or(f64::NAN);
    for (i, c) in curve.iter().enumerate().skip(1) {
        let d = (value - c).abs();
        if d < best_d {
            best = i;
            best_d = d;
        }
    }
    best
}

fn interpolate_position(left: &[Pt], right: &[Pt], offset: f64) -> Vec<f64> {
    let lv = offset_vec(left, curve_length(left));
    let rv = offset_vec(right, curve_length(right));
    let mut matching: Vec<Vec<usize>> = lv.iter().map(|&l| vec![nearest(l, &rv)]).collect();
    let matched: Vec<usize> = matching.iter().flatten().copied().collect();
    for (r, rval) in rv.iter().enumerate() {
        if matched.contains(&r) {
            continue;
        }
        let l = nearest(*rval, &lv);
        if let Some(m) = matching.get_mut(l) {
            m.push(r);
        }
    }
    for m in matching.iter_mut() {
        m.sort_unstable();
    }
    let mut interp: Vec<Pt> = Vec::new();
    for (li, lp) in left.iter().enumerate() {
        for &ri in &matching[li] {
            let rp = right[ri];
            interp.push((lp.0 + (rp.0 - lp.0) * offset, lp.1 + (rp.1 - lp.1) * offset));
        }
    }
    let reduced = reduce(&interp, &matching, left, right);
    reduced.into_iter().flat_map(|(x, y)| [x, y]).collect()
}

fn reduce(interp: &[Pt], matching: &[Vec<usize>], left: &[Pt], right: &[Pt]) -> Vec<Pt> {
    let mut idx: Vec<Vec<usize>> = Vec::with_capacity(left.len());
    let mut acc = 0;
    for m in matching.iter().take(left.len()) {
        let mut v = Vec::with_capacity(m.len());
        for _ in m {
            v.push(acc);
            acc += 1;
        }
        idx.push(v);
    }
    let minimize = |base_length: f64, n: usize, start: usize, stop: usize| -> Vec<Pt> {
        let threshold = base_length / (2 * n) as f64;
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
            let n = minimized.len() as f64;
            let sx: f64 = minimized.iter().map(|p| p.0).sum();
            let sy: f64 = minimized.iter().map(|p| p.1).sum();
            return vec![(sx / n, sy / n)];
        }
        minimized
    };
    let mut reduced: Vec<Pt> = Vec::new();
    let left_segment = |reduced: &mut Vec<Pt>, start: usize, stop: usize| {
        let si = idx[start][0];
        let ti = idx[stop][0];
        if si == ti {
            reduced.push(interp[si]);
            return;
        }
        let base = curve_length(&left[start..=stop]);
        reduced.extend(minimize(base, stop - start + 1, si, ti));
    };
    let right_segment = |reduced: &mut Vec<Pt>, lp: usize| {
        let m = &matching[lp];
        let (start, stop) = (m[0], m[m.len() - 1]);
        let si = idx[lp][0];
        let ti = idx[lp][idx[lp].len() - 1];
        let base = curve_length(&right[start..=stop]);
        reduced.extend(minimize(base, stop - start + 1, si, ti));
    };
    let mut opened: Option<usize> = None;
    for i in 0..left.len() {
        if matching[i].len() == 1 {
            match opened {
                Some(po) => {
                    if matching[i][0] == matching[po][0] {
                        continue;
                    }
                    left_segment(&mut reduced, po, i - 1);
                    opened = Some(i);
                }
                None => opened = Some(i),
            }
        } else {
            if let Some(po) = opened.take() {
                left_segment(&mut reduced, po, i - 1);
            }
            right_segment(&mut reduced, i);
        }
    }
    if let Some(po) = opened {
        left_segment(&mut reduced, po, left.len() - 1);
    }
    reduced
}

fn polyshape<'a>(s0: &IShape<'a>, s1: &IShape<'a>, frames: &[u32]) -> Vec<IShape<'a>> {
    let polygon = s0.kind == ShapeType::Polygon;
    let mut p0 = to_pts(&s0.points);
    let mut p1 = to_pts(&s1.points);
    if p0.is_empty() || p1.is_empty() {
        return copies(s0, s1, frames);
    }
    if polygon {
        p0.push(p0[0]);
        p1.push(p1[0]);
    }
    let distance = (s1.frame - s0.frame) as f64;
    let mut out = Vec::new();
    for &f in between(frames, s0.frame, s1.frame) {
        let offset = (f - s0.frame) as f64 / distance;
        let mut points = interpolate_position(&p0, &p1, offset);
        if polygon {
            let n = points.len().saturating_sub(2);
            points.truncate(n);
        }
        out.push(s0.copy(f, Some(points), None));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(frame: u32, points: Vec<f64>, outside: bool) -> TrackedShape {
        TrackedShape {
            kind: ShapeType::Polygon,
            frame,
            outside,
            points,
            ..Default::default()
        }
    }

    #[test]
    fn same_shape_polygons_interpolate_linearly() {
        let t = Track {
            label_id: 1,
            frame: 0,
            shapes: vec![
                key(0, vec![10.0, 10.0, 100.0, 10.0, 55.0, 90.0], false),
                key(2, vec![20.0, 30.0, 110.0, 30.0, 65.0, 110.0], false),
                key(3, vec![20.0, 30.0, 110.0, 30.0, 65.0, 110.0], true),
            ],
            ..Default::default()
        };
        let mut issues = InterpIssues::default();
        let s = interpolated_shapes(&t, &(0..10).collect::<Vec<_>>(), 10, false, &mut issues);
        let frames: Vec<u32> = s.iter().map(|s| s.frame).collect();
        assert_eq!(frames, vec![0, 1, 2, 3]);
        assert_eq!(&*s[1].points, &[15.0, 20.0, 105.0, 20.0, 60.0, 100.0]);
        assert!(!s[1].keyframe && s[3].outside);
    }

    #[test]
    fn polygons_with_different_point_counts_keep_all_points_halfway() {
        // a triangle becoming a square: the server matches points along the curve
        let t = Track {
            label_id: 1,
            frame: 0,
            shapes: vec![
                key(0, vec![0.0, 0.0, 10.0, 0.0, 10.0, 10.0], false),
                key(2, vec![0.0, 0.0, 10.0, 0.0, 10.0, 10.0, 0.0, 10.0], false),
            ],
            ..Default::default()
        };
        let mut issues = InterpIssues::default();
        let s = interpolated_shapes(&t, &[0, 1, 2], 3, false, &mut issues);
        assert_eq!(s.len(), 3);
        let mid = &s[1].points;
        assert_eq!(mid.len() % 2, 0);
        assert!(mid.len() >= 6, "{mid:?}");
        assert!(mid.iter().all(|v| (0.0..=10.0).contains(v)));
    }

    /// Expected values computed by running the server's `interpolate_position` /
    /// `polyshape_interpolation` (annotation.py, transliterated to plain Python floats) on the same input.
    #[test]
    fn polyshape_interpolation_matches_the_server() {
        type Case<'c> = (&'c [f64], u32, &'c [f64], u32, ShapeType, &'c [&'c [f64]]);
        let cases: [Case; 3] = [
            (
                &[0.0, 0.0, 10.0, 0.0, 10.0, 10.0],
                0,
                &[0.0, 0.0, 10.0, 0.0, 10.0, 10.0, 0.0, 10.0],
                3,
                ShapeType::Polygon,
                &[
                    &[0.0, 0.0, 10.0, 0.0, 10.0, 10.0, 6.666666666666667, 10.0],
                    &[0.0, 0.0, 10.0, 0.0, 10.0, 10.0, 3.333333333333334, 10.0],
                ],
            ),
            (
                &[10.0, 10.0, 100.0, 10.0, 55.0, 90.0, 30.0, 60.0, 12.5, 40.25],
                2,
                &[20.0, 30.0, 110.0, 30.0, 65.0, 110.0],
                6,
                ShapeType::Polygon,
                &[
                    &[
                        12.5, 15.0, 102.5, 15.0, 57.5, 95.0, 38.75, 72.5, 14.375, 37.6875,
                    ],
                    &[
                        15.0, 20.0, 105.0, 20.0, 60.0, 100.0, 47.5, 85.0, 16.25, 35.125,
                    ],
                    &[
                        17.5, 25.0, 107.5, 25.0, 62.5, 105.0, 56.25, 97.5, 18.125, 32.5625,
                    ],
                ],
            ),
            (
                &[100.0, 590.0, 300.0, 300.0, 500.0, 100.0],
                1,
                &[
                    90.0, 580.0, 200.0, 450.0, 310.0, 290.0, 420.0, 200.0, 505.5, 95.0,
                ],
                4,
                ShapeType::Polyline,
                &[
                    &[
                        96.66666666666667,
                        586.6666666666666,
                        133.33333333333331,
                        543.3333333333334,
                        303.3333333333333,
                        296.6666666666667,
                        473.3333333333333,
                        133.33333333333331,
                        501.8333333333333,
                        98.33333333333333,
                    ],
                    &[
                        93.33333333333333,
                        583.3333333333334,
                        166.66666666666666,
                        496.6666666666667,
                        306.6666666666667,
                        293.3333333333333,
                        446.6666666666667,
                        166.66666666666666,
                        503.6666666666667,
                        96.66666666666667,
                    ],
                ],
            ),
        ];
        for (p0, f0, p1, f1, kind, expected) in cases {
            let mut k0 = key(f0, p0.to_vec(), false);
            let mut k1 = key(f1, p1.to_vec(), false);
            k0.kind = kind;
            k1.kind = kind;
            let t = Track {
                label_id: 1,
                frame: f0,
                shapes: vec![k0, k1],
                ..Default::default()
            };
            let mut issues = InterpIssues::default();
            let s = interpolated_shapes(&t, &(0..f1).collect::<Vec<_>>(), f1, false, &mut issues);
            let got: Vec<&[f64]> = s
                .iter()
                .filter(|s| !s.keyframe)
                .map(|s| &*s.points)
                .collect();
            assert_eq!(got, expected, "{kind:?} {f0}..{f1}");
        }
    }

    #[test]
    fn only_task_frames_are_interpolated() {
        // keyframes far apart in a task of few frames: nothing is made for frames that do not exist
        let t = Track {
            label_id: 1,
            frame: 0,
            shapes: vec![
                key(0, vec![0.0, 0.0, 1.0, 1.0, 2.0, 0.0], false),
                key(4_000_000_000, vec![10.0, 0.0, 11.0, 1.0, 12.0, 0.0], false),
            ],
            ..Default::default()
        };
        let mut issues = InterpIssues::default();
        let s = interpolated_shapes(&t, &[0, 7, 4_000_000_001], u32::MAX, false, &mut issues);
        let frames: Vec<u32> = s.iter().map(|s| s.frame).collect();
        assert_eq!(frames, [0, 7, 4_000_000_000, 4_000_000_001]);
    }

    #[test]
    fn angle_quirk() {
        assert_eq!(angle_diff(10.0, 350.0), 20.0);
        assert_eq!(angle_diff(350.0, 10.0), -20.0);
        assert_eq!(angle_diff(180.0, 0.0), 1.0);
    }
}
