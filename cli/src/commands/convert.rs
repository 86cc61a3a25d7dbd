//! `cvat-cli convert [--from NAME] --to NAME INPUT OUTPUT`

use std::path::PathBuf;
use std::process::ExitCode;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Input format (detected when not given).
    #[arg(long)]
    pub from: Option<String>,
    /// Output format.
    #[arg(long)]
    pub to: String,
    pub input: PathBuf,
    pub output: PathBuf,
}

pub fn run(_args: Args) -> anyhow::Result<ExitCode> {
    Err(super::UserError::usage("convert: not written yet").into())
}
