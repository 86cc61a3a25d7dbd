//! One module per command: its clap arguments and its body. Bodies call into library crates and only
//! print.

pub mod convert;
pub mod formats;
pub mod serve;
pub mod validate;

use std::process::ExitCode;

/// The format registry every command uses: the built-ins (and, once loaded, dynamic plugins).
pub fn registry() -> anyhow::Result<cvat_format_api::Registry> {
    Ok(cvat_formats::builtin_registry()?)
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
