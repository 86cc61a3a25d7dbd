//! One module per command: its clap arguments and its body. Bodies call into library crates and only
//! print.

pub mod convert;
pub mod formats;
pub mod global;
pub mod plugins;
pub mod serve;
pub mod task;
pub mod validate;

use std::process::ExitCode;

/// The format registry every command uses: the built-ins, then the dynamic plugins of the plugin
/// directories (see [`registry_with_plugins`]). Plugin warnings and refusals go to stderr, once.
pub fn registry() -> anyhow::Result<cvat_format_api::Registry> {
    static WARNED: std::sync::Once = std::sync::Once::new();
    let (registry, report) = registry_with_plugins()?;
    WARNED.call_once(|| {
        for m in report.messages() {
            eprintln!("warning: {m}");
        }
    });
    Ok(registry)
}

static PLUGIN_DIRS: std::sync::OnceLock<Vec<std::path::PathBuf>> = std::sync::OnceLock::new();

/// Records the global `--plugin-dir` directories (called once by `main` before any command runs).
pub fn set_plugin_dirs(dirs: Vec<std::path::PathBuf>) {
    let _ = PLUGIN_DIRS.set(dirs);
}

/// The built-in registry with every plugin of `--plugin-dir`, `CVAT_PLUGIN_PATH` and the user's plugin
/// directory loaded into it (built-ins win name clashes), and the report of what was loaded or refused.
pub fn registry_with_plugins(
) -> anyhow::Result<(cvat_format_api::Registry, cvat_plugin_host::LoadReport)> {
    let mut registry = cvat_formats::builtin_registry()?;
    let cli_dirs = PLUGIN_DIRS.get().map(Vec::as_slice).unwrap_or(&[]);
    let (dirs, warnings) = cvat_plugin_host::default_search_dirs(cli_dirs);
    let mut report = cvat_plugin_host::load_into(&mut registry, &dirs);
    report.warnings.splice(0..0, warnings);
    Ok((registry, report))
}

/// Exit code for a failed operation (invalid input, a server error...).
pub const EXIT_FAILURE: u8 = 1;
/// Exit code for usage and I/O errors.
pub const EXIT_USAGE: u8 = 2;

/// An error the binary shows to the user, with the exit code it maps to.
#[derive(Debug)]
pub struct UserError {
    pub message: String,
    pub hint: Option<String>,
    pub code: u8,
}

impl UserError {
    pub fn usage(message: impl Into<String>) -> Self {
        UserError {
            message: message.into(),
            hint: None,
            code: EXIT_USAGE,
        }
    }
    pub fn failure(message: impl Into<String>) -> Self {
        UserError {
            message: message.into(),
            hint: None,
            code: EXIT_FAILURE,
        }
    }
    pub fn with_hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }
}

impl std::fmt::Display for UserError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for UserError {}

/// Turns an offline-operation error into a user error: usage and I/O problems are exit 2, invalid input
/// exit 1.
pub fn ops_error(e: cvat_core::ops::OpsError) -> UserError {
    let user = if e.is_usage() {
        UserError::usage(e.to_string())
    } else {
        UserError::failure(e.to_string())
    };
    match e.hint() {
        Some(h) => user.with_hint(h),
        None => user,
    }
}

/// `1 error`, `2 errors`.
pub fn plural(n: usize, what: &str) -> String {
    if n == 1 {
        format!("{n} {what}")
    } else {
        format!("{n} {what}s")
    }
}

/// Turns a client error into a user error: local I/O problems are exit 2, everything else 1. Validation
/// failures print their diagnostics first.
pub fn client_error(e: cvat_core::client::ClientError) -> anyhow::Error {
    use cvat_core::client::ClientError as E;
    if let E::Invalid { diagnostics, .. } = &e {
        for d in diagnostics {
            eprintln!("{d}");
        }
    }
    let code = match &e {
        E::Io { .. } => EXIT_USAGE,
        _ => EXIT_FAILURE,
    };
    let hint = match &e {
        E::Invalid { .. } => {
            Some("fix the file, or pass --no-validate to let the server decide".to_string())
        }
        other => other.hint().map(str::to_string),
    };
    UserError {
        message: e.to_string(),
        hint,
        code,
    }
    .into()
}

/// Prints `error: ...` (and `hint: ...`) to stderr and returns the exit code.
pub fn report_error(e: &anyhow::Error) -> ExitCode {
    let (code, hint) = match e.downcast_ref::<UserError>() {
        Some(u) => (u.code, u.hint.clone()),
        None => (EXIT_FAILURE, None),
    };
    eprintln!("error: {e:#}");
    if let Some(h) = hint {
        eprintln!("hint: {h}");
    }
    ExitCode::from(code)
}
