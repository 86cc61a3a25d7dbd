//! Images: sizes, content types, compressed (re-encoded JPEG) frames and previews.

use std::io::Cursor;
use std::path::Path;

/// Width and height of an image, from its header.
pub fn dimensions(bytes: &[u8]) -> Result<(u32, u32), String> {
    image::ImageReader::new(Cursor::new(bytes))
        .with_guessed_format()
        .map_err(|e| e.to_string())?
        .into_dimensions()
        .map_err(|e| e.to_string())
}

/// Whether the bytes look like a video container (MP4/MOV, AVI, Matroska/WebM, MPEG).
pub fn looks_like_video(bytes: &[u8]) -> bool {
    bytes.get(4..8) == Some(b"ftyp")
        || (bytes.starts_with(b"RIFF") && bytes.get(8..11) == Some(b"AVI"))
        || bytes.starts_with(&[0x1a, 0x45, 0xdf, 0xa3])
        || bytes.starts_with(&[0x00, 0x00, 0x01, 0xba])
}

pub fn content_type(name: &str, bytes: &[u8]) -> &'static str {
    match image::guess_format(bytes) {
        Ok(image::ImageFormat::Jpeg) => "image/jpeg",
        Ok(image::ImageFormat::Png) => "image/png",
        Ok(image::ImageFormat::Bmp) => "image/bmp",
        Ok(image::ImageFormat::Gif) => "image/gif",
        Ok(image::ImageFormat::Tiff) => "image/tiff",
        Ok(image::ImageFormat::WebP) => "image/webp",
        _ => {
            let ext = name.rsplit('.').next().unwrap_or("").to_ascii_lowercase();
            match ext.as_str() {
                "jpg" | "jpeg" => "image/jpeg",
                "png" => "image/png",
                _ => "application/octet-stream",
            }
        }
    }
}

fn encode_jpeg(img: &image::DynamicImage, quality: u8) -> Result<Vec<u8>, String> {
    let rgb = img.to_rgb8();
    let mut out = Vec::new();
    let enc = image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, quality.clamp(1, 100));
    rgb.write_with_encoder(enc).map_err(|e| e.to_string())?;
    Ok(out)
}

fn decode(path: &Path) -> Result<image::DynamicImage, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    image::ImageReader::new(Cursor::new(bytes))
        .with_guessed_format()
        .map_err(|e| e.to_string())?
        .decode()
        .map_err(|e| e.to_string())
}

/// Frame `idx` re-encoded as JPEG at `quality`, cached under `<task>/compressed/`.
pub fn compressed_frame(
    task_dir: &Path,
    original: &Path,
    idx: usize,
    quality: u8,
) -> Result<Vec<u8>, String> {
    let cache = task_dir
        .join("compressed")
        .join(format!("{idx:06}_q{quality}.jpg"));
    if let Ok(b) = std::fs::read(&cache) {
        return Ok(b);
    }
    let img = decode(original)?;
    let out = encode_jpeg(&img, quality)?;
    if let Some(dir) = cache.parent() {
        let _ = std::fs::create_dir_all(dir);
        let tmp = cache.with_extension("tmp");
        if std::fs::write(&tmp, &out).is_ok() {
            let _ = std::fs::rename(&tmp, &cache);
        }
    }
    Ok(out)
}

/// A JPEG thumbnail (at most 256x256) of an image.
pub fn preview(path: &Path) -> Result<Vec<u8>, String> {
    let img = decode(path)?;
    let thumb = img.thumbnail(256, 256);
    encode_jpeg(&thumb, 85)
}
