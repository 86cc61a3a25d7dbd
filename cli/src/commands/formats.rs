//! `cvat-cli formats [--json]`

use std::process::ExitCode;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let registry = super::registry()?;
    if args.json {
        let list: Vec<serde_json::Value> = registry
            .entries()
            .iter()
            .map(|e| {
                serde_json::json!({
                    "name": e.info.name,
                    "aliases": e.info.aliases,
                    "import": e.info.can_import,
                    "export": e.info.can_export,
                    "extensions": e.info.extensions,
                    "description": e.info.description,
                    "origin": e.origin.to_string(),
                })
            })
            .collect();
        println!("{}", serde_json::to_string_pretty(&list)?);
        return Ok(ExitCode::SUCCESS);
    }
    let width = registry
        .entries()
        .iter()
        .map(|e| e.info.name.len())
        .max()
        .unwrap_or(4)
        .max(4);
    println!("{:width$}  IMPORT  EXPORT  EXTENSIONS  ORIGIN", "NAME");
    for e in registry.entries() {
        let yn = |b: bool| if b { "yes" } else { "no" };
        println!(
            "{:width$}  {:6}  {:6}  {:10}  {}",
            e.info.name,
            yn(e.info.can_import),
            yn(e.info.can_export),
            e.info.extensions.join(","),
            e.origin
        );
    }
    Ok(ExitCode::SUCCESS)
}
