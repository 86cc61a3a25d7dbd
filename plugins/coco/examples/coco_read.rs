//! Reads a COCO file with the "COCO 1.0" reader and prints what it found: the reader half of the
//! benchmark (`/usr/bin/time -v target/release/examples/coco_read FILE.json`). With a second argument,
//! writes the dataset back as COCO 1.0 there (a `.zip`, a directory ending in `/`, or a `.json`).

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
            if let Some(out) = std::env::args().nth(2) {
                let dest = std::path::Path::new(&out);
                let written = cvat_format_api::Output::create(
                    dest,
                    cvat_format_api::OutputKind::for_path(dest),
                )
                .and_then(|mut o| {
                    let r = cvat_format_coco::Coco.write(
                        &ds,
                        &mut o,
                        &cvat_format_api::WriteOptions::default(),
                    )?;
                    o.commit()?;
                    Ok(r)
                });
                match written {
                    Ok(report) => eprintln!("{report}"),
                    Err(e) => {
                        eprintln!("error: {e}");
                        return ExitCode::from(1);
                    }
                }
            }
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
