//! Image dimensions from the leading bytes of PNG, JPEG, GIF, BMP and WebP files, without decoding.
//! Formats that need image sizes (YOLO and friends) use it on images found next to the labels.

/// `(width, height)` of the image in `bytes`, if its header can be read.
pub fn image_size(bytes: &[u8]) -> Option<(u32, u32)> {
    if bytes.len() >= 24 && bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
        let w = u32::from_be_bytes(bytes[16..20].try_into().ok()?);
        let h = u32::from_be_bytes(bytes[20..24].try_into().ok()?);
        return Some((w, h));
    }
    if bytes.len() >= 10 && (bytes.starts_with(b"GIF87a") || bytes.starts_with(b"GIF89a")) {
        let w = u16::from_le_bytes([bytes[6], bytes[7]]) as u32;
        let h = u16::from_le_bytes([bytes[8], bytes[9]]) as u32;
        return Some((w, h));
    }
    if bytes.len() >= 26 && bytes.starts_with(b"BM") {
        let w = i32::from_le_bytes(bytes[18..22].try_into().ok()?).unsigned_abs();
        let h = i32::from_le_bytes(bytes[22..26].try_into().ok()?).unsigned_abs();
        return Some((w, h));
    }
    if bytes.len() >= 30 && bytes.starts_with(b"RIFF") && &bytes[8..12] == b"WEBP" {
        return match &bytes[12..16] {
            b"VP8X" => {
                let w = 1 + u32::from_le_bytes([bytes[24], bytes[25], bytes[26], 0]);
                let h = 1 + u32::from_le_bytes([bytes[27], bytes[28], bytes[29], 0]);
                Some((w, h))
            }
            b"VP8 " => {
                let w = u16::from_le_bytes([bytes[26], bytes[27]]) as u32 & 0x3fff;
                let h = u16::from_le_bytes([bytes[28], bytes[29]]) as u32 & 0x3fff;
                Some((w, h))
            }
            b"VP8L" if bytes.len() >= 25 => {
                let b = &bytes[21..25];
                let w = 1 + (((b[1] as u32 & 0x3f) << 8) | b[0] as u32);
                let h = 1
                    + (((b[3] as u32 & 0x0f) << 10)
                        | ((b[2] as u32) << 2)
                        | ((b[1] as u32 & 0xc0) >> 6));
                Some((w, h))
            }
            _ => None,
        };
    }
    if bytes.len() >= 4 && bytes[0] == 0xFF && bytes[1] == 0xD8 {
        let mut i = 2;
        while i + 9 < bytes.len() {
            if bytes[i] != 0xFF {
                i += 1;
                continue;
            }
            let marker = bytes[i + 1];
            if marker == 0xFF {
                i += 1;
                continue;
            }
            if marker == 0xD8 || marker == 0x01 || (0xD0..=0xD7).contains(&marker) {
                i += 2;
                continue;
            }
            let len = u16::from_be_bytes([bytes[i + 2], bytes[i + 3]]) as usize;
            let is_sof = matches!(marker, 0xC0..=0xCF) && !matches!(marker, 0xC4 | 0xC8 | 0xCC);
            if is_sof {
                let h = u16::from_be_bytes([bytes[i + 5], bytes[i + 6]]) as u32;
                let w = u16::from_be_bytes([bytes[i + 7], bytes[i + 8]]) as u32;
                return Some((w, h));
            }
            i += 2 + len;
        }
    }
    None
}

/// Whether a file name looks like an image CVAT accepts.
pub fn is_image_name(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    [
        ".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff", ".jpe", ".jp2",
    ]
    .iter()
    .any(|e| lower.ends_with(e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_real_jpeg_sizes() {
        let dir = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../../shared/cvat/exports/rich-A/images"
        );
        let mut n = 0;
        for entry in std::fs::read_dir(dir).expect("shared/ rich-A images") {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().to_string();
            // frame_00_640x480.jpg
            let dims = name
                .trim_end_matches(".jpg")
                .rsplit('_')
                .next()
                .unwrap()
                .to_string();
            let (w, h) = dims.split_once('x').unwrap();
            let bytes = std::fs::read(&path).unwrap();
            assert_eq!(
                image_size(&bytes),
                Some((w.parse().unwrap(), h.parse().unwrap())),
                "{name}"
            );
            n += 1;
        }
        assert_eq!(n, 6);
    }

    #[test]
    fn truncated_headers_give_none() {
        assert_eq!(image_size(b"\x89PNG\r\n"), None);
        assert_eq!(image_size(&[0xFF, 0xD8, 0xFF]), None);
    }
}
