//! Masks as Datumaro stores them: COCO RLE over the whole image (column-major), compressed into the
//! pycocotools string form; and ellipses rasterised into such masks, as the server's `EllipsesToMasks`.

use cvat_format_api::geometry::{fill_polygon, Bitmap};

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

/// OpenCV's integer-degree sine table lookups (`SinTable` holds `sin` of whole degrees as `f32`).
fn sin_deg(deg: i32) -> f64 {
    (deg as f64).to_radians().sin() as f32 as f64
}

/// The polygon OpenCV's `ellipse2Poly` traces for a full ellipse (`delta` chosen as `cv::ellipse` does).
pub fn ellipse_polygon(cx: f64, cy: f64, rx: f64, ry: f64, angle: f64) -> Vec<f64> {
    let big = rx.abs().max(ry.abs()).round() as i64;
    let delta: i32 = if big < 3 {
        90
    } else if big < 10 {
        30
    } else if big < 15 {
        18
    } else {
        5
    };
    let mut a = angle.round() as i32 % 360;
    if a < 0 {
        a += 360;
    }
    let alpha = sin_deg(450 - a);
    let beta = sin_deg(a);
    let mut pts = Vec::new();
    let mut i = 0;
    while i < 360 + delta {
        let d = i.min(360);
        let x = rx * sin_deg(450 - d);
        let y = ry * sin_deg(d);
        pts.push(cx + x * alpha - y * beta);
        pts.push(cy + x * beta + y * alpha);
        i += delta;
    }
    pts
}

/// Rasterises a CVAT ellipse `[cx, cy, cx + rx, cy - ry]` with `rotation` into a `width` x `height`
/// bitmap. Centre and axes are rounded to whole pixels first, as the server does. The fill follows the
/// traced polygon through pixel centres, so boundary pixels can differ from OpenCV's fill (documented).
pub fn ellipse_bitmap(points: &[f64], rotation: f64, width: u32, height: u32) -> Bitmap {
    let mut bm = Bitmap::new(width, height);
    if points.len() != 4 {
        return bm;
    }
    let (cx, cy) = (points[0].round(), points[1].round());
    let (rx, ry) = (
        (points[2] - points[0]).round(),
        (points[1] - points[3]).round(),
    );
    let poly = ellipse_polygon(cx + 0.5, cy + 0.5, rx + 0.5, ry + 0.5, rotation);
    fill_polygon(&mut bm, &poly);
    bm
}

#[cfg(test)]
mod tests {
    use super::*;
    use cvat_format_api::geometry::coco_rle_string_to_counts;

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
