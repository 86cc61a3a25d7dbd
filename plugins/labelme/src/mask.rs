//! Mask pictures (`Masks/<item>_mask_<n>.png`, RGBA) and mask-to-polygon conversion for import.

use cvat_format_api::geometry::Bitmap;

/// The colour of mask pixels in the server's pictures (RGBA): datumaro paints `[255, 203, 0, 153]` and
/// OpenCV stores it with red and blue swapped. Background is fully transparent black.
pub const MASK_RGBA: [u8; 4] = [0, 203, 255, 153];

/// Encodes `bm` as an RGBA PNG the size of the image.
pub fn encode_png(bm: &Bitmap) -> Result<Vec<u8>, String> {
    let (w, h) = (bm.width, bm.height);
    let mut data = Vec::with_capacity(w as usize * h as usize * 4);
    for y in 0..h {
        for x in 0..w {
            data.extend_from_slice(if bm.get(x, y) {
                &MASK_RGBA
            } else {
                &[0, 0, 0, 0]
            });
        }
    }
    let mut out = Vec::new();
    {
        let mut enc = png::Encoder::new(&mut out, w, h);
        enc.set_color(png::ColorType::Rgba);
        enc.set_depth(png::BitDepth::Eight);
        let mut wr = enc.write_header().map_err(|e| e.to_string())?;
        wr.write_image_data(&data).map_err(|e| e.to_string())?;
    }
    Ok(out)
}

/// Decodes a mask picture: a pixel is set when any of its channels is non-zero (as datumaro's
/// `np.any(mask, axis=2)`).
pub fn decode_png(bytes: &[u8]) -> Result<Bitmap, String> {
    let mut dec = png::Decoder::new(std::io::Cursor::new(bytes));
    dec.set_transformations(png::Transformations::EXPAND | png::Transformations::STRIP_16);
    let mut reader = dec.read_info().map_err(|e| e.to_string())?;
    let (w, h) = (reader.info().width, reader.info().height);
    if (w as u64) * (h as u64) > 1 << 28 {
        return Err(format!("mask picture is too large ({w}x{h})"));
    }
    let mut buf = vec![0; reader.output_buffer_size()];
    let info = reader.next_frame(&mut buf).map_err(|e| e.to_string())?;
    let channels = info.color_type.samples();
    let stride = info.line_size;
    let mut bm = Bitmap::new(w, h);
    for y in 0..h as usize {
        let Some(row) = buf.get(y * stride..(y + 1) * stride) else {
            break;
        };
        for x in 0..w as usize {
            let Some(px) = row.get(x * channels..(x + 1) * channels) else {
                break;
            };
            if px.iter().any(|v| *v != 0) {
                bm.set(x as u32, y as u32, true);
            }
        }
    }
    Ok(bm)
}

/// Smallest box of the set pixels as datumaro's `find_mask_bbox`: `(x, y, w, h)` with `w = max - min + 1`.
pub fn mask_bbox(bm: &Bitmap) -> Option<(u32, u32, u32, u32)> {
    let (l, t, r, b) = bm.bbox()?;
    Some((l, t, r - l + 1, b - t + 1))
}

const DIRS: [(i64, i64); 8] = [
    (1, 0),
    (1, 1),
    (0, 1),
    (-1, 1),
    (-1, 0),
    (-1, -1),
    (0, -1),
    (1, -1),
];

/// Outer contours of the 8-connected components of `bm`, as polygons through pixel coordinates: from
/// the component's first pixel in raster order, counter-clockwise on screen, collinear points removed,
/// closed by repeating the first point (as datumaro's `mask_to_polygons` leaves them). Components whose
/// contour has fewer than 3 corners (single pixels, lines) give no polygon; holes are not represented.
pub fn mask_to_polygons(bm: &Bitmap) -> Vec<Vec<f64>> {
    let (w, h) = (bm.width as i64, bm.height as i64);
    let fg = |x: i64, y: i64| x >= 0 && y >= 0 && x < w && y < h && bm.get(x as u32, y as u32);
    let mut seen = vec![false; (w * h) as usize];
    let mut out = Vec::new();
    for y in 0..h {
        for x in 0..w {
            if !fg(x, y) || seen[(y * w + x) as usize] {
                continue;
            }
            // mark the component
            let mut stack = vec![(x, y)];
            seen[(y * w + x) as usize] = true;
            while let Some((cx, cy)) = stack.pop() {
                for (dx, dy) in DIRS {
                    let (nx, ny) = (cx + dx, cy + dy);
                    if fg(nx, ny) && !seen[(ny * w + nx) as usize] {
                        seen[(ny * w + nx) as usize] = true;
                        stack.push((nx, ny));
                    }
                }
            }
            // Moore-neighbour tracing from the component's first pixel in raster order
            let start = (x, y);
            let start_back = 4usize; // west of start is background
            let mut cur = start;
            let mut back = start_back;
            let mut contour = vec![start];
            let limit = 8 * (w * h) as usize + 16;
            for _ in 0..limit {
                let mut found = None;
                for i in 1..=8 {
                    let d = (back + i) % 8;
                    let (nx, ny) = (cur.0 + DIRS[d].0, cur.1 + DIRS[d].1);
                    if fg(nx, ny) {
                        let pd = (back + i - 1) % 8;
                        let bpos = (cur.0 + DIRS[pd].0, cur.1 + DIRS[pd].1);
                        found = Some(((nx, ny), bpos));
                        break;
                    }
                }
                let Some((next, bpos)) = found else { break };
                let rel = (bpos.0 - next.0, bpos.1 - next.1);
                back = DIRS.iter().position(|d| *d == rel).unwrap_or(4);
                cur = next;
                if cur == start && back == start_back {
                    break;
                }
                if cur == start && contour.len() > 1 && contour.get(1) == Some(&next) {
                    break;
                }
                contour.push(cur);
            }
            if contour.len() > 1 && contour.last() == Some(&start) {
                contour.pop();
            }
            // OpenCV walks outer contours the other way round (counter-clockwise on screen) from the
            // same first pixel; drop collinear points but keep the start
            contour[1..].reverse();
            let n = contour.len();
            let mut poly = Vec::new();
            for i in 0..n {
                let p = contour[(i + n - 1) % n];
                let c = contour[i];
                let q = contour[(i + 1) % n];
                let cross = (c.0 - p.0) * (q.1 - c.1) - (c.1 - p.1) * (q.0 - c.0);
                if i == 0 || cross != 0 || n <= 2 {
                    poly.push(c.0 as f64);
                    poly.push(c.1 as f64);
                }
            }
            // datumaro closes the polygon by repeating its first point
            if poly.len() >= 6 {
                poly.push(poly[0]);
                poly.push(poly[1]);
            }
            if poly.len() >= 8 {
                out.push(poly);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn square_contour() {
        let mut bm = Bitmap::new(6, 6);
        for y in 1..4 {
            for x in 2..5 {
                bm.set(x, y, true);
            }
        }
        let polys = mask_to_polygons(&bm);
        assert_eq!(
            polys,
            vec![vec![2.0, 1.0, 2.0, 3.0, 4.0, 3.0, 4.0, 1.0, 2.0, 1.0]]
        );
        assert_eq!(mask_bbox(&bm), Some((2, 1, 3, 3)));
    }

    #[test]
    fn png_round_trip() {
        let mut bm = Bitmap::new(5, 3);
        bm.set(1, 2, true);
        bm.set(4, 0, true);
        assert_eq!(decode_png(&encode_png(&bm).unwrap()).unwrap(), bm);
    }
}
