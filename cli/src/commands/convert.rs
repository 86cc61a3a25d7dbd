//! `cvat-cli convert [--from NAME] --to NAME [--labels FILE] [--frames FILE] [--images DIR] INPUT OUTPUT`:
//! reads annotations in one format and writes them in another, offline. The output path says what is
//! written: `.zip` → a ZIP, an existing directory or a path ending in `/` → a directory, else one file.
//! The output appears only when everything was written.
//!
//! What was read and what the output format dropped go to stderr; the written path goes to stdout.

use super::{ops_error, plural};
use cvat_core::ops::{self, ConvertRequest};
use cvat_format_api::{OutputKind, WriteOptions};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Input format name or alias (detected when not given).
    #[arg(long, value_name = "NAME")]
    pub from: Option<String>,
    /// Output format name or alias (`cvat-cli formats` lists them).
    #[arg(long, value_name = "NAME")]
    pub to: String,
    /// The task's labels (`GET /api/labels?task_id=N` saved as JSON): readers map label names onto
    /// these ids.
    #[arg(long, value_name = "FILE")]
    pub labels: Option<PathBuf>,
    /// The task's frames (`GET /api/tasks/N/data/meta` saved as JSON): frame names and sizes.
    #[arg(long, value_name = "FILE")]
    pub frames: Option<PathBuf>,
    /// A folder of the task's images: frame sizes are read from their headers (YOLO-like formats need
    /// them).
    #[arg(long, value_name = "DIR")]
    pub images: Option<PathBuf>,
    /// A file, directory or ZIP in the input format.
    pub input: PathBuf,
    /// Where to write: `out.zip`, `out_dir/`, or a single file for single-file formats.
    pub output: PathBuf,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let registry = super::registry()?;
    let read = ops::read_hints(
        args.labels.as_deref(),
        args.frames.as_deref(),
        args.images.as_deref(),
    )
    .map_err(ops_error)?;
    if let Some(frames) = &read.frames {
        let sized = frames.iter().filter(|f| f.has_size()).count();
        eprintln!(
            "hints: {} ({sized} with sizes)",
            plural(frames.len(), "frame")
        );
    }
    if let Some(labels) = &read.labels {
        eprintln!("hints: {}", plural(labels.len(), "label"));
    }
    let req = ConvertRequest {
        input: &args.input,
        from: args.from.as_deref(),
        to: &args.to,
        output: &args.output,
        read,
        write: WriteOptions::default(),
    };
    let report = ops::convert(&registry, &req).map_err(ops_error)?;
    eprintln!(
        "read {} as {:?}{}: {}",
        args.input.display(),
        report.from,
        if report.from_detected {
            " (detected)"
        } else {
            ""
        },
        report.counts
    );
    for (what, n) in &report.drops.items {
        eprintln!("dropped {n} {what}");
    }
    let kind = match report.output_kind {
        OutputKind::Zip => "ZIP",
        OutputKind::Dir => "directory",
        OutputKind::File => "file",
    };
    eprintln!("wrote {:?} ({kind})", report.to);
    println!("{}", report.output.display());
    Ok(ExitCode::SUCCESS)
}
