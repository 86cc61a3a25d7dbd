//! `cvat-cli plugins list [--json]`: the plugin directories searched, the plugins loaded (format name,
//! library path) and the libraries refused, with the reason.

use std::process::ExitCode;

#[derive(clap::Subcommand, Debug)]
pub enum Command {
    /// List the plugin directories, the loaded plugins and the refused libraries (with the reason).
    List(ListArgs),
}

#[derive(clap::Args, Debug)]
pub struct ListArgs {
    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
}

pub fn run(cmd: Command) -> anyhow::Result<ExitCode> {
    match cmd {
        Command::List(args) => list(args),
    }
}

fn list(args: ListArgs) -> anyhow::Result<ExitCode> {
    let (_registry, report) = super::registry_with_plugins()?;
    // problems with the search itself are not data: stderr
    for w in &report.warnings {
        eprintln!("warning: {w}");
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
        return Ok(ExitCode::SUCCESS);
    }
    if report.dirs.is_empty() {
        println!(
            "plugin directories: none (use --plugin-dir DIR, CVAT_PLUGIN_PATH, or create {})",
            cvat_plugin_host::user_plugin_dir()
                .map(|p| p.display().to_string())
                .unwrap_or_else(|| "the user's plugin directory".to_string())
        );
    } else {
        println!("plugin directories:");
        for d in &report.dirs {
            println!("  {} ({})", d.path.display(), d.source);
        }
    }
    println!("loaded: {}", report.loaded.len());
    for l in &report.loaded {
        let caps = match (l.info.can_import, l.info.can_export) {
            (true, true) => "import, export",
            (true, false) => "import",
            (false, true) => "export",
            (false, false) => "neither import nor export",
        };
        println!("  {:?} ({caps}) from {}", l.info.name, l.path.display());
    }
    println!("refused: {}", report.refused.len());
    for r in &report.refused {
        println!("  {}: {}", r.path.display(), r.reason);
        if let Some(h) = &r.hint {
            println!("    hint: {h}");
        }
    }
    Ok(ExitCode::SUCCESS)
}
