//! Masks as Datumaro stores them: COCO RLE over the whole image (column-major), compressed into the
//! pycocotools string form; and ellipses rasterised into such masks pixel for pixel as the server's
//! `EllipsesToMasks` does (a port of OpenCV's `cv2.ellipse` fill: `ellipse2Poly`, `Line2`,
//! `FillConvexPoly`).

use cvat_format_api::geometry::Bitmap;

/// pycocotools `rleToString`: LEB-like 5-bit groups, deltas against the run two before.
pub fn counts_to_string(counts: &[u64]) -> String {
    let mut s = String::new();
    for (i, &c) in counts.iter().enumerate() {
        let mut x = c as i64;
        if i > 2 {
            x -= counts[i - 2] as i64;
        }
        loop {
            let mut c = (x & 0x1f) as u8;
            x >>= 5;
            let more = if c & 0x10 != 0 { x != -1 } else { x != 0 };
            if more {
                c |= 0x20;
            }
            s.push((c + 48) as char);
            if !more {
                break;
            }
        }
    }
    s
}

const XY_SHIFT: i64 = 16;
const XY_ONE: i64 = 1 << XY_SHIFT;

/// OpenCV's `SinTable`: `sin` of whole degrees, written with 7 decimals, as `f32`.
fn sin_table(deg: i32) -> f64 {
    let v = ((deg as f64).to_radians().sin() * 1e7).round() / 1e7;
    v as f32 as f64
}

/// `cvRound`: round half to even.
fn cv_round(v: f64) -> i64 {
    v.round_ties_even() as i64
}

/// OpenCV's `ellipse2Poly` (double version) for a full ellipse.
fn ellipse2poly(center: (f64, f64), axes: (f64, f64), angle: i32, delta: i32) -> Vec<(f64, f64)> {
    let mut angle = angle;
    while angle < 0 {
        angle += 360;
    }
    while angle > 360 {
        angle -= 360;
    }
    let a = if angle < 0 { angle + 360 } else { angle };
    let beta = sin_table(a);
    let alpha = sin_table(450 - a);
    let mut pts = Vec::new();
    let mut i = 0;
    while i < 360 + delta {
        let d = i.min(360);
        let x = axes.0 * sin_table(450 - d);
        let y = axes.1 * sin_table(d);
        pts.push((
            center.0 + x * alpha - y * beta,
            center.1 + x * beta + y * alpha,
        ));
        i += delta;
    }
    if pts.len() == 1 {
        pts = vec![center, center];
    }
    pts
}

/// OpenCV's `Line2` (8-connected line between fixed-point ends), without its clipping step.
fn line2(bm: &mut Bitmap, mut p1: (i64, i64), mut p2: (i64, i64)) {
    let (w, h) = (bm.width as i64, bm.height as i64);
    let mut put = |x: i64, y: i64| {
        if 0 <= x && x < w && 0 <= y && y < h {
            bm.set(x as u32, y as u32, true);
        }
    };
    let (mut dx, mut dy) = (p2.0 - p1.0, p2.1 - p1.1);
    let j = if dx < 0 { -1 } else { 0 };
    let ax = (dx ^ j) - j;
    let i = if dy < 0 { -1 } else { 0 };
    let ay = (dy ^ i) - i;
    let (x_step, y_step, mut ecount);
    if ax > ay {
        dy = (dy ^ j) - j;
        if j != 0 {
            std::mem::swap(&mut p1, &mut p2);
        }
        x_step = XY_ONE;
        y_step = (dy << XY_SHIFT) / (ax | 1);
        ecount = (p2.0 - p1.0) >> XY_SHIFT;
    } else {
        dx = (dx ^ i) - i;
        if i != 0 {
            std::mem::swap(&mut p1, &mut p2);
        }
        x_step = (dx << XY_SHIFT) / (ay | 1);
        y_step = XY_ONE;
        ecount = (p2.1 - p1.1) >> XY_SHIFT;
    }
    // a guard OpenCV gets from clipping: never walk further than the picture is long
    ecount = ecount.min(4 * (w + h) + 4);
    p1.0 += XY_ONE >> 1;
    p1.1 += XY_ONE >> 1;
    put(
        (p2.0 + (XY_ONE >> 1)) >> XY_SHIFT,
        (p2.1 + (XY_ONE >> 1)) >> XY_SHIFT,
    );
    if ax > ay {
        p1.0 >>= XY_SHIFT;
        while ecount >= 0 {
            put(p1.0, p1.1 >> XY_SHIFT);
            p1.0 += 1;
            p1.1 += y_step;
            ecount -= 1;
        }
    } else {
        p1.1 >>= XY_SHIFT;
        while ecount >= 0 {
            put(p1.0 >> XY_SHIFT, p1.1);
            p1.0 += x_step;
            p1.1 += 1;
            ecount -= 1;
        }
    }
    let _ = x_step;
}

/// OpenCV's `FillConvexPoly` with `LINE_8` and `shift = XY_SHIFT`: the outline, then the scanlines.
fn fill_convex_poly(bm: &mut Bitmap, v: &[(i64, i64)]) {
    let npts = v.len();
    if npts == 0 {
        return;
    }
    let shift = XY_SHIFT;
    let delta = (1i64 << shift) >> 1;
    let (delta1, delta2) = (XY_ONE >> 1, XY_ONE >> 1);
    let mut p0 = v[npts - 1];
    let (mut xmin, mut xmax, mut ymin, mut ymax) = (v[0].0, v[0].0, v[0].1, v[0].1);
    let mut imin = 0;
    for (i, &p) in v.iter().enumerate() {
        if p.1 < ymin {
            ymin = p.1;
            imin = i;
        }
        ymax = ymax.max(p.1);
        xmax = xmax.max(p.0);
        xmin = xmin.min(p.0);
        line2(bm, p0, p);
        p0 = p;
    }
    let (w, h) = (bm.width as i64, bm.height as i64);
    xmin = (xmin + delta) >> shift;
    xmax = (xmax + delta) >> shift;
    ymin = (ymin + delta) >> shift;
    ymax = (ymax + delta) >> shift;
    if npts < 3 || xmax < 0 || ymax < 0 || xmin >= w || ymin >= h {
        return;
    }
    ymax = ymax.min(h - 1);
    #[derive(Clone, Copy)]
    struct Edge {
        idx: usize,
        di: usize,
        x: i64,
        dx: i64,
        ye: i64,
    }
    let mut y = ymin;
    let mut edge = [
        Edge {
            idx: imin,
            di: 1,
            x: -XY_ONE,
            dx: 0,
            ye: y,
        },
        Edge {
            idx: imin,
            di: npts - 1,
            x: -XY_ONE,
            dx: 0,
            ye: y,
        },
    ];
    let mut edges = npts as i64;
    // rows are bounded by the picture; skip work above it
    loop {
        for e in edge.iter_mut() {
            if y >= e.ye {
                let mut idx0 = e.idx;
                let mut idx = idx0 + e.di;
                if idx >= npts {
                    idx -= npts;
                }
                loop {
                    let go = edges > 0;
                    edges -= 1;
                    if !go {
                        break;
                    }
                    let ty = (v[idx].1 + delta) >> shift;
                    if ty > y {
                        let xs = v[idx0].0;
                        let xe = v[idx].0;
                        e.ye = ty;
                        e.dx = ((xe - xs) * 2 + (ty - y)) / (2 * (ty - y));
                        e.x = xs;
                        e.idx = idx;
                        break;
                    }
                    idx0 = idx;
                    idx += e.di;
                    if idx >= npts {
                        idx -= npts;
                    }
                }
            }
        }
        if edges < 0 {
            break;
        }
        if y >= 0 {
            let (l, r) = if edge[0].x > edge[1].x {
                (1, 0)
            } else {
                (0, 1)
            };
            let mut xx1 = (edge[l].x + delta1) >> XY_SHIFT;
            let mut xx2 = (edge[r].x + delta2) >> XY_SHIFT;
            if xx2 >= 0 && xx1 < w {
                xx1 = xx1.max(0);
                xx2 = xx2.min(w - 1);
                for x in xx1..=xx2 {
                    bm.set(x as u32, y as u32, true);
                }
            }
        }
        edge[0].x += edge[0].dx;
        edge[1].x += edge[1].dx;
        y += 1;
        if y > ymax {
            break;
        }
    }
}

/// Rasterises a CVAT ellipse `[cx, cy, cx + rx, cy - ry]` with `rotation` into a `width` x `height`
/// bitmap exactly as the server does: centre and axes rounded (Python `round`), then OpenCV's
/// `cv2.ellipse(..., thickness=-1)` (`ellipse2Poly` + `FillConvexPoly`, 8-connected).
pub fn ellipse_bitmap(points: &[f64], rotation: f64, width: u32, height: u32) -> Bitmap {
    let mut bm = Bitmap::new(width, height);
    if points.len() != 4 || points.iter().any(|v| !v.is_finite()) {
        return bm;
    }
    let c = |v: f64| v.round_ties_even() as i64;
    let (cx, cy) = (c(points[0]), c(points[1]));
    let (rx, ry) = (
        c(points[2] - points[0]).abs(),
        c(points[1] - points[3]).abs(),
    );
    // far beyond any picture: nothing of it can be drawn in reasonable time (and OpenCV would clip it)
    let reach = 1_000_000;
    if cx.abs() > reach || cy.abs() > reach || rx > reach || ry > reach {
        return bm;
    }
    let center = (cx << XY_SHIFT, cy << XY_SHIFT);
    let axes = (rx << XY_SHIFT, ry << XY_SHIFT);
    let big = (axes.0.max(axes.1) + (XY_ONE >> 1)) >> XY_SHIFT;
    let delta = if big < 3 {
        90
    } else if big < 10 {
        30
    } else if big < 15 {
        18
    } else {
        5
    };
    let angle = cv_round(rotation.clamp(-1e9, 1e9)) as i32;
    let poly = ellipse2poly(
        (center.0 as f64, center.1 as f64),
        (axes.0 as f64, axes.1 as f64),
        angle,
        delta,
    );
    let mut v: Vec<(i64, i64)> = Vec::with_capacity(poly.len());
    for (x, y) in poly {
        let mut px = cv_round(x / XY_ONE as f64) << XY_SHIFT;
        let mut py = cv_round(y / XY_ONE as f64) << XY_SHIFT;
        px += cv_round(x - px as f64);
        py += cv_round(y - py as f64);
        if v.last() != Some(&(px, py)) {
            v.push((px, py));
        }
    }
    if v.len() == 1 {
        v = vec![center, center];
    }
    fill_convex_poly(&mut bm, &v);
    bm
}

#[cfg(test)]
mod tests {
    use super::*;
    use cvat_format_api::geometry::coco_rle_string_to_counts;

    #[test]
    fn small_circle_matches_opencv() {
        // cv2.ellipse(np.zeros((7, 7)), (3, 3), (2, 2), 0, 0, 360, 1, -1): delta 90 gives a diamond
        let bm = ellipse_bitmap(&[3.0, 3.0, 5.0, 1.0], 0.0, 7, 7);
        let rows: Vec<String> = (0..7)
            .map(|y| {
                (0..7)
                    .map(|x| if bm.get(x, y) { '#' } else { '.' })
                    .collect()
            })
            .collect();
        assert_eq!(
            rows,
            [".......", "...#...", "..###..", ".#####.", "..###..", "...#...", "......."]
        );
    }

    #[test]
    fn string_round_trip() {
        for counts in [
            vec![0u64],
            vec![5, 3, 2],
            vec![100, 1, 1000, 40, 7, 7, 7, 2],
        ] {
            let s = counts_to_string(&counts);
            assert_eq!(coco_rle_string_to_counts(&s).unwrap(), counts);
        }
    }
}
