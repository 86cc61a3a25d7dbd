//! `cvat-cli serve`: runs the CVAT-compatible local server (crate `cvat-server`) in the foreground.

use clap::Args as ClapArgs;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(ClapArgs, Debug)]
pub struct Args {
    /// Address to listen on (port 0 picks a free port).
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub bind: String,
    /// Where the database, media, exports and backups are kept
    /// [default: $XDG_DATA_HOME/cvat-cli/server or ~/.local/share/cvat-cli/server].
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// Directory served as the `share` storage (task data from `server_files`).
    #[arg(long)]
    pub share_dir: Option<PathBuf>,
    /// Password of the `admin` user created on first start (generated and printed once when absent).
    #[arg(long, env = "CVAT_ADMIN_PASSWORD", hide_env_values = true)]
    pub admin_password: Option<String>,
    /// Background worker threads (task data, exports, imports, backups).
    #[arg(long, default_value_t = 2)]
    pub workers: usize,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let data_dir = args.data_dir.unwrap_or_else(cvat_server::default_data_dir);
    if let Some(share) = &args.share_dir {
        if !share.is_dir() {
            return Err(super::UserError::usage(format!(
                "--share-dir {} is not a directory",
                share.display()
            ))
            .into());
        }
    }
    let mut cfg = cvat_server::Config::new(&args.bind, data_dir);
    cfg.share_dir = args.share_dir;
    cfg.admin_password = args.admin_password;
    cfg.workers = args.workers.max(1);
    cvat_server::run(cfg, super::registry()?)
        .map_err(|e| anyhow::Error::new(super::UserError::failure(e.to_string())))?;
    Ok(ExitCode::SUCCESS)
}
