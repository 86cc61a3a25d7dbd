//! Reading and writing the segmentation PNGs.
//!
//! The server writes 8-bit RGB PNGs (datumaro paints class and instance indices with their colour
//! maps). On import it accepts RGB(A), palette (expanded to colours) and 8-bit grayscale PNGs, whose
//! values are taken as indices.

use std::io::Cursor;

/// A decoded segmentation image: one value per pixel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SegImage {
    pub width: u32,
    pub height: u32,
    pub pixels: Pixels,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Pixels {
    /// Colours, row-major.
    Rgb(Vec<(u8, u8, u8)>),
    /// Indices (grayscale PNGs), row-major.
    Index(Vec<u8>),
}

/// The largest image we decode (pixels); larger ones are refused rather than exhausting memory.
pub const MAX_PIXELS: u64 = 1 << 28;

/// Reads the size from the PNG header only.
pub fn png_size(bytes: &[u8]) -> Result<(u32, u32), String> {
    let decoder = png::Decoder::new(Cursor::new(bytes));
    let reader = decoder.read_info().map_err(|e| e.to_string())?;
    let info = reader.info();
    Ok((info.width, info.height))
}

/// Decodes a PNG into colours or indices.
pub fn decode(bytes: &[u8]) -> Result<SegImage, String> {
    let mut decoder = png::Decoder::new_with_limits(
        Cursor::new(bytes),
        png::Limits {
            bytes: (MAX_PIXELS * 4) as usize,
        },
    );
    decoder.set_transformations(png::Transformations::normalize_to_color8());
    let mut reader = decoder.read_info().map_err(|e| e.to_string())?;
    let (width, height) = (reader.info().width, reader.info().height);
    if width as u64 * height as u64 > MAX_PIXELS {
        return Err(format!("image is too large ({width}x{height})"));
    }
    let mut buf = vec![0u8; reader.output_buffer_size()];
    let frame = reader.next_frame(&mut buf).map_err(|e| e.to_string())?;
    let (color, depth) = (frame.color_type, frame.bit_depth);
    // a file cut after its image data still lacks IEND: refuse it too
    reader.finish().map_err(|e| e.to_string())?;
    if depth != png::BitDepth::Eight {
        return Err(format!("unsupported bit depth {depth:?}"));
    }
    let stride = frame.line_size;
    let n = (width * height) as usize;
    let channels = match color {
        png::ColorType::Grayscale => 1,
        png::ColorType::GrayscaleAlpha => 2,
        png::ColorType::Rgb => 3,
        png::ColorType::Rgba => 4,
        png::ColorType::Indexed => return Err("palette was not expanded".into()),
    };
    let px = |x: usize, y: usize, c: usize| -> u8 {
        buf.get(y * stride + x * channels + c).copied().unwrap_or(0)
    };
    let pixels = if channels <= 2 {
        let mut v = Vec::with_capacity(n);
        for y in 0..height as usize {
            for x in 0..width as usize {
                v.push(px(x, y, 0));
            }
        }
        Pixels::Index(v)
    } else {
        let mut v = Vec::with_capacity(n);
        for y in 0..height as usize {
            for x in 0..width as usize {
                v.push((px(x, y, 0), px(x, y, 1), px(x, y, 2)));
            }
        }
        Pixels::Rgb(v)
    };
    Ok(SegImage {
        width,
        height,
        pixels,
    })
}

/// Encodes an 8-bit RGB PNG (what the server writes).
pub fn encode_rgb(width: u32, height: u32, rgb: &[u8]) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    {
        let mut enc = png::Encoder::new(&mut out, width, height);
        enc.set_color(png::ColorType::Rgb);
        enc.set_depth(png::BitDepth::Eight);
        enc.set_compression(png::Compression::Default);
        let mut w = enc.write_header().map_err(|e| e.to_string())?;
        w.write_image_data(rgb).map_err(|e| e.to_string())?;
        w.finish().map_err(|e| e.to_string())?;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rgb_round_trip_and_truncation() {
        let rgb: Vec<u8> = (0..4 * 3 * 3).map(|i| (i * 7) as u8).collect();
        let bytes = encode_rgb(4, 3, &rgb).unwrap();
        assert_eq!(png_size(&bytes).unwrap(), (4, 3));
        let img = decode(&bytes).unwrap();
        let Pixels::Rgb(px) = img.pixels else {
            panic!("expected colours")
        };
        assert_eq!(px[1], (21, 28, 35));
        for cut in 0..bytes.len() {
            assert!(decode(&bytes[..cut]).is_err(), "cut at {cut}");
        }
    }
}
