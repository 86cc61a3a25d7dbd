//! Writes N deterministic JPEGs of about the requested size into a directory, for the client
//! benchmarks: `gen-jpegs N SIZE_KB DIR`. The pictures are smooth gradients with noise, so that JPEG
//! compression behaves as on photographs.

use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    let (Some(n), Some(kb), Some(dir)) = (
        args.get(1).and_then(|s| s.parse::<usize>().ok()),
        args.get(2).and_then(|s| s.parse::<usize>().ok()),
        args.get(3),
    ) else {
        eprintln!("usage: gen-jpegs N SIZE_KB DIR");
        return ExitCode::from(2);
    };
    if let Err(e) = std::fs::create_dir_all(dir) {
        eprintln!("error: {dir}: {e}");
        return ExitCode::from(2);
    }
    // noisy RGB at quality 90 compresses to roughly 0.9 bytes per pixel
    let pixels = (kb * 1024) as f64 / 0.9;
    let w = ((pixels * 4.0 / 3.0).sqrt() as u32).max(16);
    let h = ((pixels / w as f64) as u32).max(16);
    let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
    for i in 0..n {
        let mut img = image::RgbImage::new(w, h);
        for (x, y, p) in img.enumerate_pixels_mut() {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let noise = (state & 0x3f) as u32;
            let r = ((x * 255 / w) + noise + i as u32) % 256;
            let g = ((y * 255 / h) + noise) % 256;
            let b = ((x + y) * 255 / (w + h) + (noise >> 1)) % 256;
            *p = image::Rgb([r as u8, g as u8, b as u8]);
        }
        let path = std::path::Path::new(dir).join(format!("img_{i:05}.jpg"));
        let file = match std::fs::File::create(&path) {
            Ok(f) => f,
            Err(e) => {
                eprintln!("error: {}: {e}", path.display());
                return ExitCode::from(2);
            }
        };
        let mut enc =
            image::codecs::jpeg::JpegEncoder::new_with_quality(std::io::BufWriter::new(file), 90);
        if let Err(e) = enc.encode_image(&img) {
            eprintln!("error: {}: {e}", path.display());
            return ExitCode::from(1);
        }
    }
    println!("{n} JPEGs of {w}x{h} in {dir}");
    ExitCode::SUCCESS
}
