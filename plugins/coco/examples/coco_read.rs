//! Reads a COCO file with the "COCO 1.0" reader and prints what it found: the reader half of the
//! benchmark (`/usr/bin/time -v target/release/examples/coco_read FILE.json`).

use cvat_format_api::{Format, Input, ReadOptions};
use std::process::ExitCode;

fn main() -> ExitCode {
    let Some(path) = std::env::args().nth(1) else {
        eprintln!("usage: coco_read FILE.json|DIR|ZIP");
        return ExitCode::from(2);
    };
    let input = match Input::open(std::path::Path::new(&path)) {
        Ok(i) => i,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    match cvat_format_coco::Coco.read(&input, &ReadOptions::default()) {
        Ok(ds) => {
            println!(
                "{} frames, {} labels, {} shapes, {} tracks",
                ds.frames.len(),
                ds.labels.len(),
                ds.shapes.len(),
                ds.tracks.len()
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(1)
        }
    }
}
