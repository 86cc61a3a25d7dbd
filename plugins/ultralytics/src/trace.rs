//! Masks and ellipses to polygons for the Segmentation export. The server rasterises ellipses, then
//! traces every mask with OpenCV (`findContours` + TC89-KCOS approximation); we trace the outer border
//! of each 8-connected component through its boundary pixels (Moore neighbour tracing, the same
//! direction and start pixel as OpenCV) and keep only the corners where the direction changes. The
//! outline is the same; the server's vertex list is shorter (TC89-KCOS drops more points) and it also
//! bridges holes into the outline, which we do not.

use cvat_format_api::geometry::{cvat_rle_to_bitmap, Bitmap};

/// Largest box (in pixels) we rasterise; beyond it the shape is reported as dropped.
const MAX_PIXELS: u64 = 64 * 1024 * 1024;

/// Outer outlines of a CVAT mask (`[runs..., left, top, right, bottom]`), in image pixels, each closed
/// (first point repeated at the end, as the server writes them).
pub fn mask_polygons(points: &[f64]) -> Option<Vec<Vec<f64>>> {
    if points.len() < 5 {
        return None;
    }
    let (runs, bbox) = points.split_at(points.len() - 4);
    let (l, t, r, b) = (bbox[0], bbox[1], bbox[2], bbox[3]);
    if !(l.is_finite() && t.is_finite() && r >= l && b >= t) {
        return None;
    }
    let (w, h) = ((r - l + 1.0) as u64, (b - t + 1.0) as u64);
    if w * h > MAX_PIXELS {
        return None;
    }
    let mut local: Vec<f64> = runs.to_vec();
    local.extend([0.0, 0.0, r - l, b - t]);
    let bm = cvat_rle_to_bitmap(&local, w as u32, h as u32).ok()?;
    Some(offset(trace(&bm), l, t))
}

/// Outer outline of an ellipse `[cx, cy, cx + rx, cy - ry]` rotated by `rotation` degrees, rasterised
/// at pixel centres.
pub fn ellipse_polygons(points: &[f64], rotation: f64) -> Option<Vec<Vec<f64>>> {
    let [cx, cy, x1, y1] = match points {
        [a, b, c, d] => [*a, *b, *c, *d],
        _ => return None,
    };
    let (rx, ry) = ((x1 - cx).abs(), (cy - y1).abs());
    if !(rx.is_finite() && ry.is_finite() && cx.is_finite() && cy.is_finite())
        || rx == 0.0
        || ry == 0.0
    {
        return None;
    }
    let reach = rx.max(ry).ceil() + 1.0;
    let (x0, y0) = ((cx - reach).floor(), (cy - reach).floor());
    let size = (2.0 * reach + 2.0) as u64;
    if size * size > MAX_PIXELS {
        return None;
    }
    let mut bm = Bitmap::new(size as u32, size as u32);
    let (s, c) = rotation.to_radians().sin_cos();
    for j in 0..size as u32 {
        for i in 0..size as u32 {
            let (dx, dy) = (x0 + i as f64 - cx, y0 + j as f64 - cy);
            // into the ellipse's own axes (CVAT rotates clockwise on screen)
            let (u, v) = (dx * c + dy * s, -dx * s + dy * c);
            if (u / rx).powi(2) + (v / ry).powi(2) <= 1.0 + 1e-9 {
                bm.set(i, j, true);
            }
        }
    }
    Some(offset(trace(&bm), x0, y0))
}

fn offset(polys: Vec<Vec<(i64, i64)>>, dx: f64, dy: f64) -> Vec<Vec<f64>> {
    polys
        .into_iter()
        .map(|p| {
            p.into_iter()
                .flat_map(|(x, y)| [x as f64 + dx, y as f64 + dy])
                .collect()
        })
        .collect()
}

/// Directions counter-clockwise on screen (y down), starting west.
const DIRS: [(i64, i64); 8] = [
    (-1, 0),
    (-1, 1),
    (0, 1),
    (1, 1),
    (1, 0),
    (1, -1),
    (0, -1),
    (-1, -1),
];

/// Outer borders of every 8-connected component of `bm`, closed, collinear points removed; outlines
/// enclosing less than one pixel of area are skipped (as the server does).
pub fn trace(bm: &Bitmap) -> Vec<Vec<(i64, i64)>> {
    let (w, h) = (bm.width as i64, bm.height as i64);
    let on = |x: i64, y: i64| x >= 0 && y >= 0 && x < w && y < h && bm.get(x as u32, y as u32);
    let mut seen = vec![false; (w * h) as usize];
    let mut out = Vec::new();
    for y in 0..h {
        for x in 0..w {
            if !on(x, y) || seen[(y * w + x) as usize] {
                continue;
            }
            // mark the component
            let mut stack = vec![(x, y)];
            seen[(y * w + x) as usize] = true;
            while let Some((px, py)) = stack.pop() {
                for (dx, dy) in DIRS {
                    let (qx, qy) = (px + dx, py + dy);
                    if on(qx, qy) && !seen[(qy * w + qx) as usize] {
                        seen[(qy * w + qx) as usize] = true;
                        stack.push((qx, qy));
                    }
                }
            }
            let border = follow(&on, (x, y));
            let simple = simplify(&border);
            if simple.len() < 3 || area(&simple) < 1.0 {
                continue;
            }
            let mut closed = simple;
            if let Some(first) = closed.first().copied() {
                closed.push(first);
            }
            out.push(closed);
        }
    }
    out
}

/// Moore neighbour tracing from the top-left pixel of a component, counter-clockwise on screen,
/// stopping when the first move repeats (Jacob's criterion).
fn follow(on: &dyn Fn(i64, i64) -> bool, start: (i64, i64)) -> Vec<(i64, i64)> {
    let mut border = vec![start];
    let mut p = start;
    let mut back = 0usize; // the west neighbour of the top-left pixel is background
    let mut first_move: Option<usize> = None;
    let limit = 4 * 1024 * 1024;
    for _ in 0..limit {
        let mut moved = None;
        for k in 1..=8 {
            let d = (back + k) % 8;
            let q = (p.0 + DIRS[d].0, p.1 + DIRS[d].1);
            if on(q.0, q.1) {
                moved = Some((d, q, (back + k + 7) % 8));
                break;
            }
        }
        let Some((d, q, prev)) = moved else {
            break; // a single pixel
        };
        if p == start {
            match first_move {
                None => first_move = Some(d),
                Some(f) if f == d => break,
                Some(_) => {}
            }
        }
        // the background cell checked just before q, seen from q
        let c = (p.0 + DIRS[prev].0, p.1 + DIRS[prev].1);
        back = DIRS
            .iter()
            .position(|&(dx, dy)| (q.0 + dx, q.1 + dy) == c)
            .unwrap_or(0);
        p = q;
        border.push(p);
    }
    // the walk ends back at the start
    if border.len() > 1 && border.last() == Some(&start) {
        border.pop();
    }
    border
}

/// Drops points where the walk goes straight on.
fn simplify(b: &[(i64, i64)]) -> Vec<(i64, i64)> {
    let n = b.len();
    if n < 3 {
        return b.to_vec();
    }
    let mut out = Vec::new();
    for i in 0..n {
        let prev = b[(i + n - 1) % n];
        let cur = b[i];
        let next = b[(i + 1) % n];
        let d1 = (cur.0 - prev.0, cur.1 - prev.1);
        let d2 = (next.0 - cur.0, next.1 - cur.1);
        if d1 != d2 {
            out.push(cur);
        }
    }
    out
}

fn area(p: &[(i64, i64)]) -> f64 {
    let n = p.len();
    let mut s = 0i64;
    for i in 0..n {
        let (a, b) = (p[i], p[(i + 1) % n]);
        s += a.0 * b.1 - b.0 * a.1;
    }
    (s as f64).abs() / 2.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_square_is_four_corners_closed() {
        let mut bm = Bitmap::new(6, 6);
        for y in 1..4 {
            for x in 2..5 {
                bm.set(x, y, true);
            }
        }
        let p = trace(&bm);
        assert_eq!(p, vec![vec![(2, 1), (2, 3), (4, 3), (4, 1), (2, 1)]]);
    }

    #[test]
    fn single_pixels_and_lines_are_skipped_components_are_separate() {
        let mut bm = Bitmap::new(10, 10);
        bm.set(0, 0, true);
        for x in 3..8 {
            bm.set(x, 5, true);
        }
        for y in 7..10 {
            for x in 0..3 {
                bm.set(x, y, true);
            }
        }
        let p = trace(&bm);
        assert_eq!(p.len(), 1);
        assert_eq!(p[0].first(), Some(&(0, 7)));
    }

    #[test]
    fn ellipse_outline_spans_its_axes() {
        let p = ellipse_polygons(&[400.0, 300.0, 460.0, 260.0], 0.0).unwrap();
        assert_eq!(p.len(), 1);
        let xs: Vec<f64> = p[0].iter().step_by(2).copied().collect();
        let ys: Vec<f64> = p[0].iter().skip(1).step_by(2).copied().collect();
        let min = |v: &[f64]| v.iter().copied().fold(f64::INFINITY, f64::min);
        let max = |v: &[f64]| v.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        assert_eq!(
            (min(&xs), max(&xs), min(&ys), max(&ys)),
            (340.0, 460.0, 260.0, 340.0)
        );
    }

    proptest::proptest! {
        #[test]
        fn any_bitmap_traces_to_outlines_inside_its_components(
            w in 1u32..24,
            h in 1u32..24,
            bits in proptest::collection::vec(proptest::bool::ANY, 576),
        ) {
            let mut bm = Bitmap::new(w, h);
            for y in 0..h {
                for x in 0..w {
                    bm.set(x, y, bits[(y * 24 + x) as usize]);
                }
            }
            for poly in trace(&bm) {
                proptest::prop_assert!(poly.len() >= 4);
                proptest::prop_assert_eq!(poly.first(), poly.last());
                for (x, y) in poly {
                    proptest::prop_assert!(bm.get(x as u32, y as u32), "({}, {}) is not set", x, y);
                }
            }
        }
    }
}
