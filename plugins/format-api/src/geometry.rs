//! Geometry helpers shared by formats: point checks, masks (CVAT's cropped row-major RLE, COCO's
//! column-major RLE, bitmaps), boxes, areas, and number formatting as the server writes it.

use crate::model::ShapeType;

/// How far (in pixels, as a fraction of the image side) a box may stick out of its image before it is
/// reported as "far outside".
pub const OUTSIDE_TOLERANCE: f64 = 0.5;

/// Checks the point list of a shape of type `kind`. Returns a message for the first problem found.
/// With `size` (image width, height), also reports geometry far outside the image.
pub fn check_points(kind: ShapeType, points: &[f64], size: Option<(u32, u32)>) -> Option<String> {
    if let Some(i) = points.iter().position(|v| !v.is_finite()) {
        return Some(format!("coordinate {i} is not a finite number"));
    }
    match kind {
        ShapeType::Rectangle | ShapeType::Ellipse => {
            if points.len() != 4 {
                return Some(format!(
                    "{} needs 4 values, found {}",
                    kind.as_str(),
                    points.len()
                ));
            }
            if kind == ShapeType::Rectangle && (points[2] < points[0] || points[3] < points[1]) {
                return Some(format!(
                    "rectangle has negative size ({} x {})",
                    points[2] - points[0],
                    points[3] - points[1]
                ));
            }
        }
        ShapeType::Polygon | ShapeType::Polyline | ShapeType::Points => {
            if !points.len().is_multiple_of(2) {
                return Some(format!(
                    "{} has an odd number of coordinates ({}); values must be x,y pairs",
                    kind.as_str(),
                    points.len()
                ));
            }
            let min = match kind {
                ShapeType::Polygon => 3,
                ShapeType::Polyline => 2,
                _ => 1,
            };
            if points.len() / 2 < min {
                return Some(format!(
                    "{} needs at least {min} points, found {}",
                    kind.as_str(),
                    points.len() / 2
                ));
            }
        }
        ShapeType::Cuboid => {
            if points.len() != 16 {
                return Some(format!("cuboid needs 16 values, found {}", points.len()));
            }
        }
        ShapeType::Mask => {
            if let Err(e) = check_cvat_rle(points) {
                return Some(e);
            }
        }
        ShapeType::Skeleton => {}
    }
    if let (Some((w, h)), false) = (size, points.is_empty() || kind == ShapeType::Skeleton) {
        let (w, h) = (w as f64, h as f64);
        let coords: Vec<f64> = if kind == ShapeType::Mask {
            points[points.len() - 4..].to_vec()
        } else {
            points.to_vec()
        };
        let (mut x0, mut y0, mut x1, mut y1) = (f64::MAX, f64::MAX, f64::MIN, f64::MIN);
        for p in coords.chunks_exact(2) {
            x0 = x0.min(p[0]);
            x1 = x1.max(p[0]);
            y0 = y0.min(p[1]);
            y1 = y1.max(p[1]);
        }
        let tol_x = w * OUTSIDE_TOLERANCE;
        let tol_y = h * OUTSIDE_TOLERANCE;
        if x1 < -tol_x
            || y1 < -tol_y
            || x0 > w + tol_x
            || y0 > h + tol_y
            || x0 < -tol_x
            || y0 < -tol_y
            || x1 > w + tol_x
            || y1 > h + tol_y
        {
            return Some(format!(
                "{} [{x0}, {y0}, {x1}, {y1}] is far outside the {}x{} image",
                kind.as_str(),
                w as u32,
                h as u32
            ));
        }
    }
    None
}

/// Checks a CVAT mask point list `[runs..., left, top, right, bottom]`: the box is sane and the runs
/// cover it exactly.
pub fn check_cvat_rle(points: &[f64]) -> Result<(), String> {
    if points.len() < 5 {
        return Err(format!(
            "mask needs runs and a box, found {} values",
            points.len()
        ));
    }
    let (runs, bbox) = points.split_at(points.len() - 4);
    let (l, t, r, b) = (bbox[0], bbox[1], bbox[2], bbox[3]);
    if r < l || b < t {
        return Err(format!("mask box [{l}, {t}, {r}, {b}] is inverted"));
    }
    if bbox.iter().any(|v| v.fract() != 0.0) {
        return Err(format!(
            "mask box [{l}, {t}, {r}, {b}] is not in whole pixels"
        ));
    }
    let area = (r - l + 1.0) * (b - t + 1.0);
    let mut total = 0.0;
    for (i, v) in runs.iter().enumerate() {
        if *v < 0.0 || v.fract() != 0.0 {
            return Err(format!("mask run {i} ({v}) is not a non-negative integer"));
        }
        total += v;
    }
    if total != area {
        return Err(format!(
            "mask runs cover {total} pixels but the {}x{} box has {area}",
            r - l + 1.0,
            b - t + 1.0
        ));
    }
    Ok(())
}

/// A binary mask over a `width` x `height` area, row-major, one byte per pixel (0 or 1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bitmap {
    pub width: u32,
    pub height: u32,
    pub data: Vec<u8>,
}

impl Bitmap {
    pub fn new(width: u32, height: u32) -> Self {
        Bitmap {
            width,
            height,
            data: vec![0; width as usize * height as usize],
        }
    }
    pub fn get(&self, x: u32, y: u32) -> bool {
        x < self.width && y < self.height && self.data[(y * self.width + x) as usize] != 0
    }
    pub fn set(&mut self, x: u32, y: u32, v: bool) {
        if x < self.width && y < self.height {
            self.data[(y * self.width + x) as usize] = v as u8;
        }
    }
    pub fn count(&self) -> u64 {
        self.data.iter().map(|&v| v as u64).sum()
    }
    /// Tight inclusive box `(left, top, right, bottom)` of the set pixels.
    pub fn bbox(&self) -> Option<(u32, u32, u32, u32)> {
        let (mut l, mut t, mut r, mut b) = (u32::MAX, u32::MAX, 0, 0);
        let mut any = false;
        for y in 0..self.height {
            for x in 0..self.width {
                if self.data[(y * self.width + x) as usize] != 0 {
                    any = true;
                    l = l.min(x);
                    r = r.max(x);
                    t = t.min(y);
                    b = b.max(y);
                }
            }
        }
        any.then_some((l, t, r, b))
    }
}

/// Decodes a CVAT mask point list into a full-image bitmap of `width` x `height` (pixels outside the
/// image are cut off).
pub fn cvat_rle_to_bitmap(points: &[f64], width: u32, height: u32) -> Result<Bitmap, String> {
    check_cvat_rle(points)?;
    let (runs, bbox) = points.split_at(points.len() - 4);
    let (l, t, r) = (bbox[0] as i64, bbox[1] as i64, bbox[2] as i64);
    let bw = r - l + 1;
    let mut bm = Bitmap::new(width, height);
    let mut pos: i64 = 0;
    for (i, run) in runs.iter().enumerate() {
        let n = *run as i64;
        if i % 2 == 1 {
            for p in pos..pos + n {
                let x = l + p % bw;
                let y = t + p / bw;
                if x >= 0 && y >= 0 {
                    bm.set(x as u32, y as u32, true);
                }
            }
        }
        pos += n;
    }
    Ok(bm)
}

/// Encodes the set pixels of `bm` as a CVAT mask point list over their tight box. `None` if empty.
pub fn bitmap_to_cvat_rle(bm: &Bitmap) -> Option<Vec<f64>> {
    let (l, t, r, b) = bm.bbox()?;
    let mut out = Vec::new();
    let mut current = 0u8;
    let mut run = 0u64;
    for y in t..=b {
        for x in l..=r {
            let v = bm.get(x, y) as u8;
            if v != current {
                out.push(run as f64);
                run = 0;
                current = v;
            }
            run += 1;
        }
    }
    out.push(run as f64);
    out.extend([l as f64, t as f64, r as f64, b as f64]);
    Some(out)
}

/// COCO uncompressed RLE (column-major over the whole image, starting with zeros) of a bitmap.
pub fn bitmap_to_coco_counts(bm: &Bitmap) -> Vec<u64> {
    let mut out = Vec::new();
    let mut current = 0u8;
    let mut run = 0u64;
    for x in 0..bm.width {
        for y in 0..bm.height {
            let v = bm.get(x, y) as u8;
            if v != current {
                out.push(run);
                run = 0;
                current = v;
            }
            run += 1;
        }
    }
    out.push(run);
    out
}

/// Decodes COCO uncompressed RLE counts (column-major) into a bitmap.
pub fn coco_counts_to_bitmap(counts: &[u64], width: u32, height: u32) -> Result<Bitmap, String> {
    let total: u64 = counts.iter().sum();
    let area = width as u64 * height as u64;
    if total != area {
        return Err(format!(
            "RLE counts cover {total} pixels but the image has {area}"
        ));
    }
    let mut bm = Bitmap::new(width, height);
    let mut pos = 0u64;
    for (i, &n) in counts.iter().enumerate() {
        if i % 2 == 1 {
            for p in pos..pos + n {
                let x = (p / height as u64) as u32;
                let y = (p % height as u64) as u32;
                bm.set(x, y, true);
            }
        }
        pos += n;
    }
    Ok(bm)
}

/// Decodes COCO's compressed RLE string (the LEB128-like ASCII form of pycocotools) into counts.
pub fn coco_rle_string_to_counts(s: &str) -> Result<Vec<u64>, String> {
    let bytes = s.as_bytes();
    let mut counts: Vec<u64> = Vec::new();
    let mut p = 0;
    while p < bytes.len() {
        let mut x: i64 = 0;
        let mut k = 0;
        loop {
            let Some(&b) = bytes.get(p) else {
                return Err("compressed RLE string ends inside a value".into());
            };
            if !(48..48 + 64).contains(&b) {
                return Err(format!(
                    "invalid character {:?} in compressed RLE",
                    b as char
                ));
            }
            let c = (b as i64) - 48;
            x |= (c & 0x1f) << (5 * k);
            let more = c & 0x20 != 0;
            p += 1;
            k += 1;
            if !more {
                if c & 0x10 != 0 {
                    x |= -1i64 << (5 * k);
                }
                break;
            }
            if k > 12 {
                return Err("compressed RLE value too long".into());
            }
        }
        let m = counts.len();
        if m > 2 {
            x += counts[m - 2] as i64;
        }
        if x < 0 {
            return Err("compressed RLE decodes to a negative count".into());
        }
        counts.push(x as u64);
    }
    Ok(counts)
}

/// Rasterises a polygon (even-odd rule, pixel centres) into `bm`.
pub fn fill_polygon(bm: &mut Bitmap, points: &[f64]) {
    let n = points.len() / 2;
    if n < 3 {
        return;
    }
    for y in 0..bm.height {
        let cy = y as f64 + 0.5;
        let mut xs: Vec<f64> = Vec::new();
        for i in 0..n {
            let (x0, y0) = (points[2 * i], points[2 * i + 1]);
            let j = (i + 1) % n;
            let (x1, y1) = (points[2 * j], points[2 * j + 1]);
            if (y0 <= cy && y1 > cy) || (y1 <= cy && y0 > cy) {
                xs.push(x0 + (cy - y0) / (y1 - y0) * (x1 - x0));
            }
        }
        xs.sort_by(|a, b| a.total_cmp(b));
        for pair in xs.chunks_exact(2) {
            let start = (pair[0] - 0.5).ceil().max(0.0) as u32;
            let end = (pair[1] - 0.5).floor().min(bm.width as f64 - 1.0);
            if end < 0.0 {
                continue;
            }
            for x in start..=(end as u32) {
                bm.set(x, y, true);
            }
        }
    }
}

/// Area of a polygon (shoelace), absolute.
pub fn polygon_area(points: &[f64]) -> f64 {
    let n = points.len() / 2;
    if n < 3 {
        return 0.0;
    }
    let mut s = 0.0;
    for i in 0..n {
        let j = (i + 1) % n;
        s += points[2 * i] * points[2 * j + 1] - points[2 * j] * points[2 * i + 1];
    }
    s.abs() / 2.0
}

/// Axis-aligned bounding box `(x0, y0, x1, y1)` of x,y pairs.
pub fn bbox_of(points: &[f64]) -> Option<(f64, f64, f64, f64)> {
    let mut it = points.chunks_exact(2);
    let first = it.next()?;
    let (mut x0, mut y0, mut x1, mut y1) = (first[0], first[1], first[0], first[1]);
    for p in it {
        x0 = x0.min(p[0]);
        x1 = x1.max(p[0]);
        y0 = y0.min(p[1]);
        y1 = y1.max(p[1]);
    }
    Some((x0, y0, x1, y1))
}

/// Corners of a rectangle `[xtl, ytl, xbr, ybr]` rotated by `rotation` degrees (clockwise, as CVAT) about
/// its centre: top-left, top-right, bottom-right, bottom-left.
pub fn rotated_corners(points: &[f64], rotation: f64) -> [(f64, f64); 4] {
    let (x0, y0, x1, y1) = (points[0], points[1], points[2], points[3]);
    let (cx, cy) = ((x0 + x1) / 2.0, (y0 + y1) / 2.0);
    let (s, c) = rotation.to_radians().sin_cos();
    let rot = |x: f64, y: f64| {
        let (dx, dy) = (x - cx, y - cy);
        (cx + dx * c - dy * s, cy + dx * s + dy * c)
    };
    [rot(x0, y0), rot(x1, y0), rot(x1, y1), rot(x0, y1)]
}

/// Formats `v` with `prec` decimals exactly as Python's `"{:.Nf}".format(v)` does (round half to even
/// on the exact binary value), so outputs match the server's byte for byte.
pub fn fmt_fixed(v: f64, prec: usize) -> String {
    // Rust's `{:.N}` rounds the exact decimal expansion of the binary value, ties to even, like Python.
    format!("{v:.prec$}")
}

/// Formats a float as Python's `repr`/`str` does (`50.0`, `0.1`, `1e-05`), for text formats that write
/// Python floats.
pub fn fmt_py_float(v: f64) -> String {
    if v.is_nan() {
        return "nan".into();
    }
    if v.is_infinite() {
        return if v > 0.0 { "inf".into() } else { "-inf".into() };
    }
    if v == v.trunc() && v.abs() < 1e16 {
        return format!("{v:.1}");
    }
    let s = format!("{v}");
    let abs = v.abs();
    if !(1e-4..1e16).contains(&abs) {
        // Python switches to exponent notation: 1e-05, 1.5e+16
        let e = format!("{v:e}");
        if let Some((mant, exp)) = e.split_once('e') {
            let exp: i32 = exp.parse().unwrap_or(0);
            let sign = if exp < 0 { '-' } else { '+' };
            return format!("{mant}e{sign}{:02}", exp.abs());
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cvat_rle_round_trip() {
        let mut bm = Bitmap::new(10, 8);
        for (x, y) in [(2, 1), (3, 1), (2, 2), (5, 4), (6, 6)] {
            bm.set(x, y, true);
        }
        let rle = bitmap_to_cvat_rle(&bm).unwrap();
        assert_eq!(&rle[rle.len() - 4..], &[2.0, 1.0, 6.0, 6.0]);
        let back = cvat_rle_to_bitmap(&rle, 10, 8).unwrap();
        assert_eq!(back, bm);
        let counts = bitmap_to_coco_counts(&bm);
        assert_eq!(coco_counts_to_bitmap(&counts, 10, 8).unwrap(), bm);
    }

    #[test]
    fn rle_that_does_not_fit_its_box_is_reported() {
        assert!(check_cvat_rle(&[3.0, 2.0, 0.0, 0.0, 1.0, 1.0]).is_err());
        assert!(check_cvat_rle(&[2.0, 2.0, 0.0, 0.0, 1.0, 1.0]).is_ok());
    }

    #[test]
    fn compressed_coco_rle() {
        // pycocotools encodes counts [0, 2, 3] as "02:0" ... verify round numbers decode
        assert_eq!(coco_rle_string_to_counts("0").unwrap(), vec![0]);
        assert!(coco_rle_string_to_counts("\u{7f}").is_err());
    }

    #[test]
    fn python_number_formatting() {
        assert_eq!(fmt_fixed(50.0, 2), "50.00");
        assert_eq!(fmt_fixed(200.25, 2), "200.25");
        assert_eq!(fmt_fixed(0.125, 2), "0.12");
        assert_eq!(fmt_fixed(0.375, 2), "0.38");
        assert_eq!(fmt_fixed(2.675, 2), "2.67");
        assert_eq!(fmt_py_float(50.0), "50.0");
        assert_eq!(fmt_py_float(0.1), "0.1");
        assert_eq!(fmt_py_float(1e-5), "1e-05");
    }

    #[test]
    fn point_checks() {
        assert!(check_points(ShapeType::Polygon, &[1.0, 2.0, 3.0], None)
            .unwrap()
            .contains("odd"));
        assert!(
            check_points(ShapeType::Polygon, &[1.0, 2.0, 3.0, 4.0], None)
                .unwrap()
                .contains("at least 3")
        );
        assert!(check_points(ShapeType::Rectangle, &[0.0, 0.0, 6.0, 7.0], Some((5, 5))).is_none());
        assert!(
            check_points(ShapeType::Rectangle, &[0.0, 0.0, 100.0, 10.0], Some((5, 5)))
                .unwrap()
                .contains("far outside")
        );
    }
}
