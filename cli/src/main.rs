//! `cvat-cli`: parses arguments, prints results and maps errors to exit codes. Everything else lives in
//! library crates (`cvat-core`, `cvat-formats`, ...).
//!
//! Exit codes: 0 success, 1 failure (invalid input, a failed operation), 2 usage or I/O error.

mod commands;
mod progress;

use clap::{Parser, Subcommand};
use std::process::ExitCode;

/// mimalloc: the formats build and free millions of small values (points, attributes); glibc's malloc
/// spends a fifth of a large conversion in allocation and consolidation (docs/benchmarks.md).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser, Debug)]
#[command(
    name = "cvat-cli",
    version,
    about = "Command-line client for CVAT, with annotation formats as plugins"
)]
pub struct Cli {
    /// Load format plugins from DIR (repeatable). Also searched: the directories of CVAT_PLUGIN_PATH
    /// and the user's plugin directory (~/.config/cvat-cli/plugins on Linux); never the current one.
    #[arg(long = "plugin-dir", value_name = "DIR", global = true)]
    pub plugin_dir: Vec<std::path::PathBuf>,

    #[command(flatten)]
    pub global: commands::global::GlobalArgs,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// List every annotation format: import/export capability, extensions, where it comes from.
    Formats(commands::formats::Args),
    /// Check annotation files and report problems with their locations.
    Validate(commands::validate::Args),
    /// Convert annotations from one format to another (offline).
    Convert(commands::convert::Args),
    /// Create a task: labels, data (local files, share paths or URLs), optional annotations.
    Create(commands::task::CreateArgs),
    /// Delete tasks.
    Delete(commands::task::DeleteArgs),
    /// List tasks (ids; --json or --csv for more).
    Ls(commands::task::LsArgs),
    /// Download frames of a task.
    Frames(commands::task::FramesArgs),
    /// Download a task's annotations in a format.
    Dump(commands::task::DumpArgs),
    /// Upload annotations into a task (checked locally first).
    Upload(commands::task::UploadArgs),
    /// Back a task up into a file.
    Export(commands::task::ExportArgs),
    /// Restore a task from a backup file.
    Import(commands::task::ImportArgs),
    /// Format plugins: what was loaded, from where, and what was refused.
    #[command(subcommand)]
    Plugins(commands::plugins::Command),
    /// Run the CVAT-compatible local server (REST API of CVAT 2.23, SQLite + files).
    Serve(commands::serve::Args),
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let code = if e.use_stderr() { 2 } else { 0 };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    commands::set_plugin_dirs(cli.plugin_dir);
    let result = match cli.command {
        Command::Formats(args) => commands::formats::run(args),
        Command::Create(args) => commands::task::create(&cli.global, args),
        Command::Delete(args) => commands::task::delete(&cli.global, args),
        Command::Ls(args) => commands::task::ls(&cli.global, args),
        Command::Frames(args) => commands::task::frames(&cli.global, args),
        Command::Dump(args) => commands::task::dump(&cli.global, args),
        Command::Upload(args) => commands::task::upload(&cli.global, args),
        Command::Export(args) => commands::task::export(&cli.global, args),
        Command::Import(args) => commands::task::import(&cli.global, args),
        Command::Validate(args) => commands::validate::run(args),
        Command::Convert(args) => commands::convert::run(args),
        Command::Plugins(cmd) => commands::plugins::run(cmd),
        Command::Serve(args) => commands::serve::run(args),
    };
    match result {
        Ok(code) => code,
        Err(e) => commands::report_error(&e),
    }
}
