//! `cvat-cli validate [--format NAME] [--json] PATH...`: checks annotation files and prints every
//! problem with its location. Diagnostics and the summary go to stdout, notes to stderr.
//!
//! Exit codes: 0 valid (warnings allowed), 1 invalid, 2 usage or I/O error.

use super::{ops_error, plural, EXIT_FAILURE};
use cvat_core::ops;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Format name or alias (detected from each path when not given).
    #[arg(long, short = 'f', value_name = "NAME")]
    pub format: Option<String>,
    /// Print the diagnostics as JSON.
    #[arg(long)]
    pub json: bool,
    /// The task's labels (`GET /api/labels?task_id=N` saved as JSON), for formats whose files do not
    /// declare them.
    #[arg(long, value_name = "FILE")]
    pub labels: Option<PathBuf>,
    /// The task's frames (`GET /api/tasks/N/data/meta` saved as JSON): names and sizes.
    #[arg(long, value_name = "FILE")]
    pub frames: Option<PathBuf>,
    /// Files, ZIP archives or directories to check.
    #[arg(required = true, value_name = "PATH")]
    pub paths: Vec<PathBuf>,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let registry = super::registry()?;
    let opts =
        ops::read_hints(args.labels.as_deref(), args.frames.as_deref(), None).map_err(ops_error)?;
    let report =
        ops::validate(&registry, &args.paths, args.format.as_deref(), &opts).map_err(ops_error)?;

    if args.json {
        let value = serde_json::json!({
            "valid": report.is_valid(),
            "errors": report.errors(),
            "warnings": report.warnings(),
            "files": report.files,
        });
        println!("{}", serde_json::to_string_pretty(&value)?);
    } else {
        for file in &report.files {
            if file.detected {
                eprintln!("{}: detected format {:?}", file.path, file.format);
            }
            for d in &file.diagnostics {
                println!("{d}");
            }
            if file.not_shown > 0 {
                println!(
                    "{}: {} more not shown",
                    file.path,
                    plural(file.not_shown, "diagnostic")
                );
            }
        }
        println!(
            "{}, {} in {}",
            plural(report.errors(), "error"),
            plural(report.warnings(), "warning"),
            plural(report.files.len(), "file")
        );
    }
    Ok(if report.is_valid() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(EXIT_FAILURE)
    })
}
