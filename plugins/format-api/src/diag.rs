//! Diagnostics (what `validate` reports) and the typed error every format returns.

use serde::{Deserialize, Serialize};
use std::fmt;

/// Where in the input something was found.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Location {
    /// The file, as the user would name it: a path, or `archive.zip:inner/path`.
    pub file: String,
    /// 1-based line (XML and text formats).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub line: Option<u32>,
    /// 1-based column (XML and text formats).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub column: Option<u32>,
    /// JSON path such as `$.annotations[3].bbox` (JSON formats).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub json_path: Option<String>,
}

impl Location {
    pub fn file(file: impl Into<String>) -> Self {
        Location {
            file: file.into(),
            ..Default::default()
        }
    }
    pub fn line(file: impl Into<String>, line: u32, column: u32) -> Self {
        Location {
            file: file.into(),
            line: Some(line),
            column: Some(column),
            json_path: None,
        }
    }
    pub fn json(file: impl Into<String>, path: impl Into<String>) -> Self {
        Location {
            file: file.into(),
            line: None,
            column: None,
            json_path: Some(path.into()),
        }
    }
    /// Line and column of byte `offset` in `text` (1-based).
    pub fn at_offset(file: impl Into<String>, text: &[u8], offset: usize) -> Self {
        let (line, col) = line_col(text, offset);
        Location::line(file, line, col)
    }
}

/// 1-based line and column of byte `offset` in `text`.
pub fn line_col(text: &[u8], offset: usize) -> (u32, u32) {
    let offset = offset.min(text.len());
    let before = &text[..offset];
    let line = before.iter().filter(|&&b| b == b'\n').count() as u32 + 1;
    let line_start = before
        .iter()
        .rposition(|&b| b == b'\n')
        .map(|i| i + 1)
        .unwrap_or(0);
    let col = String::from_utf8_lossy(&before[line_start..])
        .chars()
        .count() as u32
        + 1;
    (line, col)
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.file)?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
            if let Some(col) = self.column {
                write!(f, ":{col}")?;
            }
        }
        if let Some(path) = &self.json_path {
            write!(f, ": {path}")?;
        }
        Ok(())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Info,
    Warning,
    Error,
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Severity::Info => "info",
            Severity::Warning => "warning",
            Severity::Error => "error",
        })
    }
}

/// One finding of `validate`, or the reason a read failed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Diagnostic {
    pub severity: Severity,
    pub location: Location,
    /// A short stable identifier such as `missing-field`, `unknown-image-id`, `syntax`.
    pub code: String,
    pub message: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hint: Option<String>,
}

impl Diagnostic {
    pub fn error(location: Location, code: &str, message: impl Into<String>) -> Self {
        Diagnostic {
            severity: Severity::Error,
            location,
            code: code.to_string(),
            message: message.into(),
            hint: None,
        }
    }
    pub fn warning(location: Location, code: &str, message: impl Into<String>) -> Self {
        Diagnostic {
            severity: Severity::Warning,
            ..Diagnostic::error(location, code, message)
        }
    }
    pub fn with_hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: {}: {} [{}]",
            self.location, self.severity, self.message, self.code
        )?;
        if let Some(h) = &self.hint {
            write!(f, "\n  hint: {h}")?;
        }
        Ok(())
    }
}

/// A collector for diagnostics that caps how many it keeps (a broken file can produce millions).
#[derive(Debug, Clone)]
pub struct Diagnostics {
    items: Vec<Diagnostic>,
    limit: usize,
    errors: usize,
    warnings: usize,
}

impl Default for Diagnostics {
    fn default() -> Self {
        Diagnostics::with_limit(1000)
    }
}

impl Diagnostics {
    pub fn with_limit(limit: usize) -> Self {
        Diagnostics {
            items: Vec::new(),
            limit,
            errors: 0,
            warnings: 0,
        }
    }
    pub fn push(&mut self, d: Diagnostic) {
        match d.severity {
            Severity::Error => self.errors += 1,
            Severity::Warning => self.warnings += 1,
            Severity::Info => {}
        }
        if self.items.len() < self.limit {
            self.items.push(d);
        }
    }
    pub fn error(&mut self, location: Location, code: &str, message: impl Into<String>) {
        self.push(Diagnostic::error(location, code, message));
    }
    pub fn warning(&mut self, location: Location, code: &str, message: impl Into<String>) {
        self.push(Diagnostic::warning(location, code, message));
    }
    /// Errors seen, including those past the limit.
    pub fn error_count(&self) -> usize {
        self.errors
    }
    pub fn warning_count(&self) -> usize {
        self.warnings
    }
    pub fn has_errors(&self) -> bool {
        self.errors > 0
    }
    /// How many were seen but not kept.
    pub fn truncated(&self) -> usize {
        (self.errors + self.warnings).saturating_sub(self.items.len())
    }
    pub fn items(&self) -> &[Diagnostic] {
        &self.items
    }
    pub fn into_items(self) -> Vec<Diagnostic> {
        self.items
    }
    pub fn extend(&mut self, other: impl IntoIterator<Item = Diagnostic>) {
        for d in other {
            self.push(d);
        }
    }
    /// How many are kept; the others are only counted.
    pub fn limit(&self) -> usize {
        self.limit
    }
    /// Appends `other` (collected apart, e.g. by another thread), each kept item passed through `map`;
    /// the items `other` only counted are counted here too.
    pub fn absorb(&mut self, other: Diagnostics, mut map: impl FnMut(Diagnostic) -> Diagnostic) {
        let (mut errors, mut warnings) = (other.errors, other.warnings);
        for d in other.items {
            match d.severity {
                Severity::Error => errors = errors.saturating_sub(1),
                Severity::Warning => warnings = warnings.saturating_sub(1),
                Severity::Info => {}
            }
            self.push(map(d));
        }
        self.errors += errors;
        self.warnings += warnings;
    }
}

/// The error every format operation returns.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FormatError {
    #[error("{path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    /// The input is not valid for the format; the diagnostic says where and why.
    #[error("{0}")]
    Invalid(Box<Diagnostic>),
    /// Something the format needs is not available (image sizes, a label list...).
    #[error("{message}")]
    Missing { message: String, hint: String },
    /// The operation is not supported by this format (e.g. import of an export-only format).
    #[error("{0}")]
    Unsupported(String),
    #[error("no format named {0:?}")]
    UnknownFormat(String),
    /// A dynamically loaded plugin failed.
    #[error("plugin {plugin}: {message}")]
    Plugin { plugin: String, message: String },
    #[error("{0}")]
    Other(String),
}

impl FormatError {
    pub fn io(path: impl Into<String>, source: std::io::Error) -> Self {
        FormatError::Io {
            path: path.into(),
            source,
        }
    }
    /// An invalid-input error at `location`.
    pub fn invalid(location: Location, code: &str, message: impl Into<String>) -> Self {
        FormatError::Invalid(Box::new(Diagnostic::error(location, code, message)))
    }
    pub fn missing(message: impl Into<String>, hint: impl Into<String>) -> Self {
        FormatError::Missing {
            message: message.into(),
            hint: hint.into(),
        }
    }
    /// The hint to show the user, if any.
    pub fn hint(&self) -> Option<&str> {
        match self {
            FormatError::Invalid(d) => d.hint.as_deref(),
            FormatError::Missing { hint, .. } if !hint.is_empty() => Some(hint),
            _ => None,
        }
    }
    /// This error as a diagnostic, for `validate`.
    pub fn to_diagnostic(&self, file: &str) -> Diagnostic {
        match self {
            FormatError::Invalid(d) => (**d).clone(),
            FormatError::Io { path, source } => {
                Diagnostic::error(Location::file(path.clone()), "io", source.to_string())
            }
            FormatError::Missing { message, hint } => {
                let d = Diagnostic::error(Location::file(file), "missing", message.clone());
                if hint.is_empty() {
                    d
                } else {
                    d.with_hint(hint.clone())
                }
            }
            other => Diagnostic::error(Location::file(file), "error", other.to_string()),
        }
    }
}

impl From<Diagnostic> for FormatError {
    fn from(d: Diagnostic) -> Self {
        FormatError::Invalid(Box::new(d))
    }
}

pub type Result<T, E = FormatError> = std::result::Result<T, E>;

/// What a writer could not carry into its format, with counts. Nothing is dropped silently.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DropReport {
    /// (what, how many), in the order first reported.
    pub items: Vec<(String, usize)>,
}

impl DropReport {
    pub fn add(&mut self, what: impl AsRef<str>, count: usize) {
        if count == 0 {
            return;
        }
        let what = what.as_ref();
        if let Some(item) = self.items.iter_mut().find(|(w, _)| w == what) {
            item.1 += count;
        } else {
            self.items.push((what.to_string(), count));
        }
    }
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }
    pub fn count(&self, what: &str) -> usize {
        self.items
            .iter()
            .find(|(w, _)| w == what)
            .map(|x| x.1)
            .unwrap_or(0)
    }
    pub fn merge(&mut self, other: DropReport) {
        for (w, n) in other.items {
            self.add(w, n);
        }
    }
}

impl fmt::Display for DropReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, (what, n)) in self.items.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "dropped {n} {what}")?;
        }
        Ok(())
    }
}
