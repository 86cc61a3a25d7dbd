//! Rasterisation of CVAT shapes into bitmaps exactly as the server's tool chain does it, and the way
//! back (bitmaps into polygons).
//!
//! - Polygons and boxes: a port of `pycocotools`' `rleFrPoly` (the server runs datumaro's
//!   `polygons_to_masks` / `boxes_to_masks`, which call `mask_utils.frPyObjects`). Its rule is not
//!   "pixel centre inside": coordinates are up-sampled by 5 and rounded, the boundary is walked, and a
//!   column's pixels are set from the first boundary crossing at or below the pixel's top edge. This is
//!   why a box `50..250.5` covers columns 50..250 and `60..200.25` rows 60..199.
//! - Ellipses: the server draws them with OpenCV (`cv2.ellipse`, integer centre and axes after Python
//!   `round`); we follow OpenCV's `ellipse2Poly` + `FillConvexPoly` + `Line2` step by step (pixel-exact
//!   on the real export; see `docs/formats.md`).
//! - Masks: CVAT's own RLE, pixel for pixel.
//! - Back: contours of 8-connected components (the border following of Suzuki & Abe, which is what
//!   `cv2.findContours` implements), simplified with OpenCV's Teh-Chin k-cosine approximation
//!   (`CHAIN_APPROX_TC89_KCOS`); each hole is joined to its outer contour by a cut between their closest
//!   points, as datumaro's `extract_contours` does. On the real exports the vertices are the server's.

use cvat_format_api::geometry::Bitmap;

/// Rasterises polygon `xy` (x,y pairs) like `pycocotools.mask.frPyObjects([xy], h, w)`.
pub fn coco_polygon(xy: &[f64], width: u32, height: u32) -> Bitmap {
    let mut bm = Bitmap::new(width, height);
    let k = xy.len() / 2;
    if k == 0 || width == 0 || height == 0 {
        return bm;
    }
    let (h, w) = (height as i64, width as i64);
    let scale = 5.0f64;
    let conv = |v: f64| -> i64 {
        let t = scale * v + 0.5;
        if t.is_finite() {
            t.trunc().clamp(-(1i64 << 40) as f64, (1i64 << 40) as f64) as i64
        } else {
            0
        }
    };
    let mut x: Vec<i64> = (0..k).map(|j| conv(xy[2 * j])).collect();
    let mut y: Vec<i64> = (0..k).map(|j| conv(xy[2 * j + 1])).collect();
    x.push(x[0]);
    y.push(y[0]);
    // dense boundary points on the up-sampled grid
    let mut u: Vec<i64> = Vec::new();
    let mut v: Vec<i64> = Vec::new();
    let limit = 50_000_000usize;
    for j in 0..k {
        let (mut xs, mut xe, mut ys, mut ye) = (x[j], x[j + 1], y[j], y[j + 1]);
        let dx = (xe - xs).abs();
        let dy = (ys - ye).abs();
        if u.len() as i64 + dx.max(dy) > limit as i64 {
            // absurd coordinates: refuse to allocate without bound
            return bm;
        }
        let flip = (dx >= dy && xs > xe) || (dx < dy && ys > ye);
        if flip {
            std::mem::swap(&mut xs, &mut xe);
            std::mem::swap(&mut ys, &mut ye);
        }
        if dx >= dy {
            let s = if dx == 0 {
                0.0
            } else {
                (ye - ys) as f64 / dx as f64
            };
            for d in 0..=dx {
                let t = if flip { dx - d } else { d };
                u.push(t + xs);
                v.push((ys as f64 + s * t as f64 + 0.5) as i64);
            }
        } else {
            let s = (xe - xs) as f64 / dy as f64;
            for d in 0..=dy {
                let t = if flip { dy - d } else { d };
                v.push(t + ys);
                u.push((xs as f64 + s * t as f64 + 0.5) as i64);
            }
        }
    }
    // points along y-boundaries, down-sampled
    let mut toggles: Vec<u64> = Vec::new();
    for j in 1..u.len() {
        if u[j] == u[j - 1] {
            continue;
        }
        let xd = if u[j] < u[j - 1] { u[j] } else { u[j] - 1 } as f64;
        let xd = (xd + 0.5) / scale - 0.5;
        if xd.floor() != xd || xd < 0.0 || xd > (w - 1) as f64 {
            continue;
        }
        let yd = if v[j] < v[j - 1] { v[j] } else { v[j - 1] } as f64;
        let mut yd = (yd + 0.5) / scale - 0.5;
        if yd < 0.0 {
            yd = 0.0;
        } else if yd > h as f64 {
            yd = h as f64;
        }
        let yd = yd.ceil();
        toggles.push((xd as i64 * h + yd as i64) as u64);
    }
    toggles.sort_unstable();
    // column-major runs between toggles; coinciding toggles cancel out
    let total = (h * w) as u64;
    let mut inside = false;
    let mut prev = 0u64;
    let mut i = 0;
    while i < toggles.len() {
        let p = toggles[i].min(total);
        let mut n = 0;
        while i < toggles.len() && toggles[i].min(total) == p {
            n += 1;
            i += 1;
        }
        if inside {
            fill_column_major(&mut bm, prev, p);
        }
        if n % 2 == 1 {
            inside = !inside;
        }
        prev = p;
    }
    if inside {
        fill_column_major(&mut bm, prev, total);
    }
    bm
}

fn fill_column_major(bm: &mut Bitmap, from: u64, to: u64) {
    let h = bm.height as u64;
    if h == 0 {
        return;
    }
    for p in from..to {
        let (x, y) = ((p / h) as u32, (p % h) as u32);
        bm.set(x, y, true);
    }
}

/// Rasterises an axis-aligned box the way datumaro's `boxes_to_masks` does (its polygon through
/// pycocotools).
pub fn coco_box(x0: f64, y0: f64, x1: f64, y1: f64, width: u32, height: u32) -> Bitmap {
    coco_polygon(&[x0, y0, x1, y0, x1, y1, x0, y1], width, height)
}

/// Python's `round()` (half to even).
fn py_round(v: f64) -> f64 {
    let r = v.round();
    if (v - v.trunc()).abs() == 0.5 && r % 2.0 != 0.0 {
        r - v.signum()
    } else {
        r
    }
}

/// Rasterises a CVAT ellipse `[cx, cy, cx + rx, cy - ry]` rotated by `rotation` degrees, the way the
/// server's `EllipsesToMasks` does: centre and axes rounded to integers (Python `round`), then OpenCV's
/// `cv2.ellipse(..., thickness=-1)`, i.e. `ellipse2Poly` (a polygon with a vertex every 5° or more,
/// from OpenCV's single-precision sine table, in 16-bit fixed point), its edges drawn as 8-connected
/// lines and its inside filled by `FillConvexPoly`.
pub fn ellipse(points: &[f64], rotation: f64, width: u32, height: u32) -> Bitmap {
    let mut bm = Bitmap::new(width, height);
    if points.len() < 4 {
        return bm;
    }
    let (cx, cy) = (py_round(points[0]), py_round(points[1]));
    let rx = py_round(points[2] - points[0]).abs();
    let ry = py_round(points[1] - points[3]).abs();
    let limit = 1e6;
    if !(cx.abs() < limit && cy.abs() < limit && rx < limit && ry < limit) {
        return bm;
    }
    const SHIFT: i64 = 16;
    const ONE: i64 = 1 << SHIFT;
    let (cx, cy, ax, ay) = (
        cx as i64 * ONE,
        cy as i64 * ONE,
        rx as i64 * ONE,
        ry as i64 * ONE,
    );
    let delta = (ax.max(ay) + (ONE >> 1)) >> SHIFT;
    let delta = if delta < 3 {
        90
    } else if delta < 10 {
        30
    } else if delta < 15 {
        18
    } else {
        5
    };
    let sin_table = |deg: i64| -> f64 { ((deg as f64).to_radians().sin() as f32) as f64 };
    let mut angle = rotation.round() as i64 % 360;
    if angle < 0 {
        angle += 360;
    }
    let (alpha, beta) = (sin_table(450 - angle), sin_table(angle));
    let mut v: Vec<(i64, i64)> = Vec::new();
    let mut i = 0;
    while i < 360 + delta {
        let a = i.min(360);
        let x = ax as f64 * sin_table(450 - a);
        let y = ay as f64 * sin_table(a);
        let px = cx as f64 + x * alpha - y * beta;
        let py = cy as f64 + x * beta + y * alpha;
        let p = (cv_round(px), cv_round(py));
        if v.last() != Some(&p) {
            v.push(p);
        }
        i += delta;
    }
    if v.len() == 1 {
        v.push((cx, cy));
    }
    fill_convex_poly(&mut bm, &v, SHIFT);
    bm
}

/// OpenCV's `cvRound` (round half to even).
fn cv_round(v: f64) -> i64 {
    let r = v.round();
    let r = if (v - v.trunc()).abs() == 0.5 && r % 2.0 != 0.0 {
        r - v.signum()
    } else {
        r
    };
    r as i64
}

/// OpenCV's `FillConvexPoly` for 8-connected lines, vertices in `shift`-bit fixed point.
fn fill_convex_poly(bm: &mut Bitmap, v: &[(i64, i64)], shift: i64) {
    let npts = v.len();
    if npts == 0 {
        return;
    }
    let one = 1i64 << shift;
    let delta = one >> 1;
    let (delta1, delta2) = (one >> 1, one >> 1);
    let (w, h) = (bm.width as i64, bm.height as i64);
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
        line2(bm, p0, p, shift);
        p0 = p;
    }
    let xmin = (xmin + delta) >> shift;
    let xmax = (xmax + delta) >> shift;
    let ymin = (ymin + delta) >> shift;
    let ymax = (ymax + delta) >> shift;
    if npts < 3 || xmax < 0 || ymax < 0 || xmin >= w || ymin >= h {
        return;
    }
    let ymax = ymax.min(h - 1);
    #[derive(Clone, Copy)]
    struct Edge {
        idx: usize,
        di: usize,
        x: i64,
        dx: i64,
        ye: i64,
    }
    let mut edge = [
        Edge {
            idx: imin,
            di: 1,
            x: -one,
            dx: 0,
            ye: ymin,
        },
        Edge {
            idx: imin,
            di: npts - 1,
            x: -one,
            dx: 0,
            ye: ymin,
        },
    ];
    let mut edges = npts as i64;
    let mut y = ymin;
    loop {
        for e in edge.iter_mut() {
            if y >= e.ye {
                let mut idx0 = e.idx;
                let mut idx = (idx0 + e.di) % npts;
                while edges > 0 {
                    edges -= 1;
                    let ty = (v[idx].1 + delta) >> shift;
                    if ty > y {
                        let (xs, xe) = (v[idx0].0, v[idx].0);
                        e.ye = ty;
                        // C division truncates toward zero
                        let num = (xe - xs) * 2 + (ty - y);
                        let den = 2 * (ty - y);
                        e.dx = num / den;
                        e.x = xs;
                        e.idx = idx;
                        break;
                    }
                    idx0 = idx;
                    idx = (idx + e.di) % npts;
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
            let x1 = (edge[l].x + delta1) >> shift;
            let x2 = (edge[r].x + delta2) >> shift;
            if x2 >= 0 && x1 < w {
                for x in x1.max(0)..=x2.min(w - 1) {
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

/// OpenCV's `Line2`: an 8-connected line between fixed-point end points (what `FillConvexPoly` draws its
/// edges with when the vertices carry fractional bits).
fn line2(bm: &mut Bitmap, a: (i64, i64), b: (i64, i64), shift: i64) {
    let one = 1i64 << shift;
    let (mut p1, mut p2) = (a, b);
    let (mut dx, mut dy) = (p2.0 - p1.0, p2.1 - p1.1);
    let (ax, ay) = (dx.abs(), dy.abs());
    let put = |bm: &mut Bitmap, x: i64, y: i64| {
        if x >= 0 && y >= 0 && x < bm.width as i64 && y < bm.height as i64 {
            bm.set(x as u32, y as u32, true);
        }
    };
    if ax > ay {
        if dx < 0 {
            std::mem::swap(&mut p1, &mut p2);
            dy = -dy;
        }
        let y_step = (dy << shift) / (ax | 1);
        let mut ecount = ((p2.0 - p1.0) >> shift).min(1 << 24);
        put(
            bm,
            (p2.0 + (one >> 1)) >> shift,
            (p2.1 + (one >> 1)) >> shift,
        );
        let mut x = (p1.0 + (one >> 1)) >> shift;
        let mut y = p1.1 + (one >> 1);
        while ecount >= 0 {
            put(bm, x, y >> shift);
            x += 1;
            y += y_step;
            ecount -= 1;
        }
    } else {
        if dy < 0 {
            std::mem::swap(&mut p1, &mut p2);
            dx = -dx;
        }
        let x_step = (dx << shift) / (ay | 1);
        let mut ecount = ((p2.1 - p1.1) >> shift).min(1 << 24);
        put(
            bm,
            (p2.0 + (one >> 1)) >> shift,
            (p2.1 + (one >> 1)) >> shift,
        );
        let mut x = p1.0 + (one >> 1);
        let mut y = (p1.1 + (one >> 1)) >> shift;
        while ecount >= 0 {
            put(bm, x >> shift, y);
            x += x_step;
            y += 1;
            ecount -= 1;
        }
    }
}

/// Contours of the 8-connected components of `bm`, each a closed polygon (first point repeated at the
/// end) through the centres of border pixels, simplified as OpenCV's TC89-KCOS, holes bridged in. Like
/// datumaro's `mask_to_polygons`, contours of fewer than 3 points or with a rasterised area under one
/// pixel are left out.
pub fn mask_to_polygons(bm: &Bitmap) -> Vec<Vec<f64>> {
    // work on the tight box: integer shifts change neither the contours nor pycocotools' rounding
    let Some((l, t, r, b)) = bm.bbox() else {
        return Vec::new();
    };
    let mut crop = Bitmap::new(r - l + 1, b - t + 1);
    for y in t..=b {
        for x in l..=r {
            if bm.get(x, y) {
                crop.set(x - l, y - t, true);
            }
        }
    }
    let mut polys = contours(&crop);
    for p in polys.iter_mut() {
        for (i, v) in p.iter_mut().enumerate() {
            *v += if i % 2 == 0 { l as f64 } else { t as f64 };
        }
    }
    polys
}

fn contours(bm: &Bitmap) -> Vec<Vec<f64>> {
    let (w, h) = (bm.width as i64, bm.height as i64);
    let mut label = vec![0u32; bm.data.len()];
    let idx = |x: i64, y: i64| (y * w + x) as usize;
    let on = |x: i64, y: i64| x >= 0 && y >= 0 && x < w && y < h && bm.data[idx(x, y)] != 0;
    let mut out = Vec::new();
    let mut next_label = 0u32;
    // 8 directions, counter-clockwise on screen (y down): right, up-right, up, up-left, left, ...
    const DIRS: [(i64, i64); 8] = [
        (1, 0),
        (1, -1),
        (0, -1),
        (-1, -1),
        (-1, 0),
        (-1, 1),
        (0, 1),
        (1, 1),
    ];
    for sy in 0..h {
        for sx in 0..w {
            if !on(sx, sy) || label[idx(sx, sy)] != 0 {
                continue;
            }
            next_label += 1;
            let cur = next_label;
            // flood the component so later scans skip it
            let mut stack = vec![(sx, sy)];
            label[idx(sx, sy)] = cur;
            let (mut x0, mut y0, mut x1, mut y1) = (sx, sy, sx, sy);
            while let Some((x, y)) = stack.pop() {
                x0 = x0.min(x);
                x1 = x1.max(x);
                y0 = y0.min(y);
                y1 = y1.max(y);
                for (dx, dy) in DIRS {
                    let (nx, ny) = (x + dx, y + dy);
                    if on(nx, ny) && label[idx(nx, ny)] == 0 {
                        label[idx(nx, ny)] = cur;
                        stack.push((nx, ny));
                    }
                }
            }
            let in_comp =
                |x: i64, y: i64| x >= 0 && y >= 0 && x < w && y < h && label[idx(x, y)] == cur;
            let outer = trace(&in_comp, (sx, sy), 4, &DIRS);
            if outer.len() <= 2 {
                continue;
            }
            let mut contour = outer;
            for hole in holes(&in_comp, (x0, y0, x1, y1)) {
                let child = trace(&in_comp, hole, 0, &DIRS);
                if child.len() > 2 {
                    contour = merge_with_hole(contour, child);
                }
            }
            let mut pts: Vec<f64> = Vec::with_capacity(contour.len() * 2 + 2);
            for (x, y) in &contour {
                pts.push(*x as f64);
                pts.push(*y as f64);
            }
            if contour.first() != contour.last() {
                pts.push(contour[0].0 as f64);
                pts.push(contour[0].1 as f64);
            }
            if coco_polygon(&pts, bm.width, bm.height).count() >= 1 {
                out.push(pts);
            }
        }
    }
    out
}

/// The start pixels of the holes of a component (4-connected regions of other pixels inside its box that
/// do not reach the box's edge): for each, the component pixel left of the hole's first pixel.
fn holes(in_comp: &dyn Fn(i64, i64) -> bool, bbox: (i64, i64, i64, i64)) -> Vec<(i64, i64)> {
    let (x0, y0, x1, y1) = bbox;
    let (bw, bh) = (x1 - x0 + 1, y1 - y0 + 1);
    // 0 = unvisited, 1 = outside, 2 = hole
    let mut mark = vec![0u8; (bw * bh) as usize];
    let at = |x: i64, y: i64| ((y - y0) * bw + (x - x0)) as usize;
    let free = |x: i64, y: i64| !in_comp(x, y);
    let flood = |mark: &mut Vec<u8>, start: (i64, i64), value: u8| {
        let mut stack = vec![start];
        mark[at(start.0, start.1)] = value;
        while let Some((x, y)) = stack.pop() {
            for (dx, dy) in [(1, 0), (-1, 0), (0, 1), (0, -1)] {
                let (nx, ny) = (x + dx, y + dy);
                if nx < x0 || ny < y0 || nx > x1 || ny > y1 {
                    continue;
                }
                if free(nx, ny) && mark[at(nx, ny)] == 0 {
                    mark[at(nx, ny)] = value;
                    stack.push((nx, ny));
                }
            }
        }
    };
    for y in y0..=y1 {
        for x in x0..=x1 {
            let edge = x == x0 || x == x1 || y == y0 || y == y1;
            if edge && free(x, y) && mark[at(x, y)] == 0 {
                flood(&mut mark, (x, y), 1);
            }
        }
    }
    let mut starts = Vec::new();
    for y in y0..=y1 {
        for x in x0..=x1 {
            if free(x, y) && mark[at(x, y)] == 0 {
                flood(&mut mark, (x, y), 2);
                starts.push((x - 1, y));
            }
        }
    }
    starts
}

/// datumaro's `_merge_contour_with_parent`: the outer contour turned "clockwise" and the hole the
/// other way (by datumaro's sign convention), joined at their closest pair of points by a two-way cut.
fn merge_with_hole(parent: Vec<(i64, i64)>, child: Vec<(i64, i64)>) -> Vec<(i64, i64)> {
    let clockwise = |c: &[(i64, i64)]| {
        let n = c.len();
        let area: i64 = (0..n)
            .map(|i| {
                let (p1, p2) = (c[i], c[(i + 1) % n]);
                (p2.0 - p1.0) * (p2.1 + p1.1)
            })
            .sum();
        area < 0
    };
    let mut parent = parent;
    let mut child = child;
    if !clockwise(&parent) {
        parent.reverse();
    }
    if clockwise(&child) {
        child.reverse();
    }
    let (mut best, mut ip, mut ic) = (i64::MAX, 0, 0);
    for (i, p) in parent.iter().enumerate() {
        for (j, c) in child.iter().enumerate() {
            let d = (p.0 - c.0).pow(2) + (p.1 - c.1).pow(2);
            if d < best {
                best = d;
                ip = i;
                ic = j;
            }
        }
    }
    let mut out = Vec::with_capacity(parent.len() + child.len() + 2);
    out.extend_from_slice(&parent[..=ip]);
    out.extend_from_slice(&child[ic..]);
    out.extend_from_slice(&child[..=ic]);
    out.extend_from_slice(&parent[ip..]);
    out
}

/// Suzuki & Abe border following from `start` (the first pixel of its border in raster order),
/// simplified to its dominant points.
fn trace(
    on: &dyn Fn(i64, i64) -> bool,
    start: (i64, i64),
    from_dir: usize,
    dirs: &[(i64, i64); 8],
) -> Vec<(i64, i64)> {
    let dir_of = |from: (i64, i64), to: (i64, i64)| -> usize {
        let d = (to.0 - from.0, to.1 - from.1);
        dirs.iter().position(|&x| x == d).unwrap_or(4)
    };
    // 3.1: clockwise from the neighbour outside the border (left for outer borders, right for holes)
    let mut first = None;
    for k in 0..8 {
        let d = (from_dir + 8 - k) % 8;
        let p = (start.0 + dirs[d].0, start.1 + dirs[d].1);
        if on(p.0, p.1) {
            first = Some(p);
            break;
        }
    }
    let Some(p1) = first else {
        return vec![start];
    };
    let mut raw = Vec::new();
    let (mut p2, mut p3) = (p1, start);
    let guard = 64 + 16 * 1_000_000usize;
    for _ in 0..guard {
        let d = dir_of(p3, p2);
        let mut p4 = p3;
        for k in 1..=8 {
            let dd = (d + k) % 8;
            let p = (p3.0 + dirs[dd].0, p3.1 + dirs[dd].1);
            if on(p.0, p.1) {
                p4 = p;
                break;
            }
        }
        raw.push(p3);
        if p4 == start && p3 == p1 {
            break;
        }
        p2 = p3;
        p3 = p4;
    }
    approx_tc89_kcos(&raw, dirs)
}

/// OpenCV's `icvApproximateChainTC89` with `CV_CHAIN_APPROX_TC89_KCOS` (Teh & Chin dominant points with
/// the k-cosine curvature), applied to the closed chain of border points `raw`.
fn approx_tc89_kcos(raw: &[(i64, i64)], dirs: &[(i64, i64); 8]) -> Vec<(i64, i64)> {
    const ABS_DIFF: [i32; 15] = [1, 2, 3, 4, 3, 2, 1, 0, 1, 2, 3, 4, 3, 2, 1];
    let len = raw.len();
    if len < 2 {
        return raw.to_vec();
    }
    let code = |i: usize| -> i32 {
        let (a, b) = (raw[i], raw[(i + 1) % len]);
        let d = (b.0 - a.0, b.1 - a.1);
        dirs.iter().position(|&x| x == d).unwrap_or(0) as i32
    };
    let codes: Vec<i32> = (0..len).map(code).collect();
    // pass 0: 1-curvature; points on straight runs leave the list
    let mut s_val = vec![0i32; len];
    let mut k_val = vec![0usize; len];
    let mut list: Vec<usize> = Vec::new();
    for i in 0..len {
        let prev = codes[(i + len - 1) % len];
        let s = ABS_DIFF[(codes[i] - prev + 7) as usize];
        s_val[i] = s;
        if s != 0 {
            list.push(i);
        }
    }
    if list.is_empty() {
        return vec![raw[0]];
    }
    let pt = |i: usize| raw[i];
    // pass 1: support regions and k-cosine curvature
    for &i in &list {
        let pt0 = pt(i);
        let (mut l, mut d_num) = (0i64, 0i64);
        let mut k = 1usize;
        loop {
            if k > len {
                break;
            }
            let i1 = (i + len - k % len) % len;
            let i2 = (i + k) % len;
            let (dx, dy) = (pt(i2).0 - pt(i1).0, pt(i2).1 - pt(i1).1);
            let lk = dx * dx + dy * dy;
            let dk_num = (pt0.0 - pt(i1).0) * dy - (pt0.1 - pt(i1).1) * dx;
            let d = ((d_num as f64) * (lk as f64) - (dk_num as f64) * (l as f64)) as f32;
            let di = d.to_bits() as i32;
            if k > 1 && (l >= lk || (d_num > 0 && di <= 0) || (d_num < 0 && di >= 0)) {
                break;
            }
            d_num = dk_num;
            l = lk;
            k += 1;
        }
        let k = k - 1;
        k_val[i] = k;
        let mut s = 0i32;
        let mut j = k;
        while j > 0 {
            let i1 = (i + len - j % len) % len;
            let i2 = (i + j) % len;
            let (dx1, dy1) = (pt(i1).0 - pt0.0, pt(i1).1 - pt0.1);
            let (dx2, dy2) = (pt(i2).0 - pt0.0, pt(i2).1 - pt0.1);
            if (dx1 | dy1) == 0 || (dx2 | dy2) == 0 {
                break;
            }
            let num = (dx1 * dx2 + dy1 * dy2) as f64;
            let den = ((dx1 * dx1 + dy1 * dy1) as f64 * (dx2 * dx2 + dy2 * dy2) as f64).sqrt();
            let t = (num / den) as f32 as f64;
            let sk = ((t + 1.1) as f32).to_bits() as i32;
            if j < k && sk <= s {
                break;
            }
            s = sk;
            j -= 1;
        }
        s_val[i] = s;
    }
    // pass 2: non-maxima suppression (cleared points get s = 0 as they go)
    let mut kept: Vec<usize> = Vec::new();
    for &i in &list {
        let k2 = k_val[i] >> 1;
        let s = s_val[i];
        let mut j = 1;
        while j <= k2 {
            let i2 = (i + len - j % len) % len;
            if s_val[i2] > s {
                break;
            }
            let i2 = (i + j) % len;
            if s_val[i2] > s {
                break;
            }
            j += 1;
        }
        if j <= k2 {
            s_val[i] = 0;
        } else {
            kept.push(i);
        }
    }
    // pass 3: non-dominant points with a support region of 1
    let mut out_idx: Vec<usize> = Vec::new();
    for &i in &kept {
        if k_val[i] == 1 {
            let s = s_val[i];
            let i1 = (i + len - 1) % len;
            let i2 = (i + 1) % len;
            if s <= s_val[i1] || s <= s_val[i2] {
                s_val[i] = 0;
                continue;
            }
        }
        out_idx.push(i);
    }
    out_idx.into_iter().map(pt).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows(bm: &Bitmap) -> Vec<String> {
        (0..bm.height)
            .map(|y| {
                (0..bm.width)
                    .map(|x| if bm.get(x, y) { '#' } else { '.' })
                    .collect()
            })
            .collect()
    }

    #[test]
    fn boxes_follow_pycocotools() {
        // integer box 1..4 x 1..3 covers columns 1..3 and rows 1..2 (right/bottom edges excluded)
        let bm = coco_box(1.0, 1.0, 4.0, 3.0, 6, 5);
        assert_eq!(
            rows(&bm),
            vec!["......", ".###..", ".###..", "......", "......"]
        );
        // a half-pixel right edge takes the column whose centre it touches
        let bm = coco_box(1.0, 1.0, 3.5, 2.25, 6, 4);
        assert_eq!(rows(&bm), vec!["......", ".###..", "......", "......"]);
        // outside the image is clipped, not a panic
        let bm = coco_box(-10.0, -10.0, 100.0, 2.0, 4, 4);
        assert_eq!(bm.count(), 8);
        assert_eq!(
            coco_polygon(&[f64::NAN, 1.0, 2.0, 3.0, 1e300, 0.0], 4, 4).width,
            4
        );
    }

    #[test]
    fn contours_of_a_box_are_its_corners() {
        let bm = coco_box(2.0, 1.0, 7.0, 5.0, 10, 8);
        let polys = mask_to_polygons(&bm);
        assert_eq!(
            polys,
            vec![vec![2.0, 1.0, 2.0, 4.0, 6.0, 4.0, 6.0, 1.0, 2.0, 1.0]]
        );
        // and the polygon rasterises back to (nearly) the same pixels
        let back = coco_polygon(&polys[0], 10, 8);
        assert!(back.count() > 0 && back.count() <= bm.count());
    }

    #[test]
    fn two_components_two_polygons_and_specks_dropped() {
        let mut bm = Bitmap::new(12, 6);
        for y in 0..3 {
            for x in 0..3 {
                bm.set(x, y, true);
                bm.set(x + 6, y + 2, true);
            }
        }
        bm.set(11, 0, true); // a lone pixel: no polygon
        assert_eq!(mask_to_polygons(&bm).len(), 2);
    }

    #[test]
    fn holes_are_bridged_into_the_polygon() {
        let mut bm = Bitmap::new(9, 9);
        for y in 1..8 {
            for x in 1..8 {
                let border = x == 1 || x == 7 || y == 1 || y == 7;
                bm.set(x, y, border);
            }
        }
        let polys = mask_to_polygons(&bm);
        assert_eq!(polys.len(), 1);
        // the ring's own pixels, not the filled square: the hole stays empty
        let back = coco_polygon(&polys[0], 9, 9);
        assert!(!back.get(4, 4));
        assert!(back.count() < 30, "{}", back.count());
    }

    #[test]
    fn extreme_ellipses_do_not_panic() {
        for (pts, rot) in [
            ([0.0, 0.0, 50.0, -30.0], 45.0),
            ([-1e5, 3.0, 1e5, -1e5], 10.0),
            ([5.0, 5.0, 5.0, 5.0], 0.0),
            ([f64::NAN, 1.0, 2.0, 3.0], f64::NAN),
            ([1e300, 1.0, -1e300, 3.0], 1e300),
        ] {
            let bm = ellipse(&pts, rot, 20, 10);
            assert_eq!(bm.data.len(), 200);
        }
        assert!(ellipse(&[0.0, 0.0, 50.0, -30.0], 45.0, 20, 10).get(0, 0));
    }

    #[test]
    fn ellipse_is_symmetric() {
        let bm = ellipse(&[10.0, 10.0, 14.0, 7.0], 0.0, 21, 21);
        assert!(bm.get(14, 10) && bm.get(6, 10) && bm.get(10, 7) && bm.get(10, 13));
        assert!(!bm.get(15, 10) && !bm.get(10, 6));
        let r = ellipse(&[10.0, 10.0, 14.0, 7.0], 90.0, 21, 21);
        assert!(r.get(10, 14) && r.get(10, 6) && !r.get(14, 10));
    }
}
