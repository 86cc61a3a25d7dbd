//! `cvat-cli validate [--format NAME] PATH...`

use std::path::PathBuf;
use std::process::ExitCode;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Format name (detected from the files when not given).
    #[arg(long, short = 'f')]
    pub format: Option<String>,
    /// Files, ZIP archives or directories to check.
    #[arg(required = true)]
    pub paths: Vec<PathBuf>,
}

pub fn run(_args: Args) -> anyhow::Result<ExitCode> {
    Err(super::UserError::usage("validate: not written yet").into())
}
