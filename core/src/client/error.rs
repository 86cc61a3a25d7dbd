//! The client's typed error.

/// What can go wrong talking to a CVAT server.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    /// The server answered with an error status.
    #[error("{method} {path}: HTTP {status}: {message}")]
    Http {
        method: String,
        path: String,
        status: u16,
        /// The server's message, extracted from its error body (`detail`, a bare string or list, field
        /// errors).
        message: String,
        hint: Option<String>,
    },
    /// The connection failed (refused, reset, TLS, timeout...).
    #[error("{method} {url}: {message}")]
    Transport {
        method: String,
        url: String,
        message: String,
        hint: Option<String>,
    },
    /// A background request on the server ended in failure.
    #[error("server request {rq_id} failed: {message}")]
    RequestFailed { rq_id: String, message: String },
    /// The server answered something we cannot read.
    #[error("unexpected answer from {path}: {message}")]
    Protocol { path: String, message: String },
    #[error("{path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Format(#[from] cvat_format_api::FormatError),
    /// Wrong user input that only shows once we talk to the server (a missing id, an unknown format...).
    #[error("{message}")]
    Usage {
        message: String,
        hint: Option<String>,
    },
    /// A local check of a file failed (e.g. `upload` validates before sending).
    #[error("{file}: {} problem(s) found; nothing was uploaded", diagnostics.len())]
    Invalid {
        file: String,
        diagnostics: Vec<cvat_format_api::Diagnostic>,
    },
    #[error("{0}")]
    Other(String),
}

impl ClientError {
    pub fn io(path: impl Into<String>, source: std::io::Error) -> Self {
        ClientError::Io {
            path: path.into(),
            source,
        }
    }
    pub fn usage(message: impl Into<String>, hint: Option<&str>) -> Self {
        ClientError::Usage {
            message: message.into(),
            hint: hint.map(str::to_string),
        }
    }
    /// The HTTP status, for errors the server answered.
    pub fn status(&self) -> Option<u16> {
        match self {
            ClientError::Http { status, .. } => Some(*status),
            _ => None,
        }
    }
    /// What the user can do about it, if we know.
    pub fn hint(&self) -> Option<&str> {
        match self {
            ClientError::Http { hint, .. }
            | ClientError::Transport { hint, .. }
            | ClientError::Usage { hint, .. } => hint.as_deref(),
            ClientError::Format(e) => e.hint(),
            _ => None,
        }
    }
    /// Whether the same request may succeed if retried (connection problems, 502/503/504, 429).
    pub fn is_transient(&self) -> bool {
        match self {
            ClientError::Transport { .. } => true,
            ClientError::Http { status, .. } => matches!(status, 429 | 502 | 503 | 504),
            _ => false,
        }
    }
}

/// Extracts a readable message from a CVAT error body: `{"detail": ...}`, a bare list, a bare string, or
/// DRF field errors `{"labels": [{"name": ["This field is required."]}]}`.
pub fn server_message(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let Ok(v) = serde_json::from_slice::<serde_json::Value>(body) else {
        let t = text.trim();
        // HTML error pages: keep the first readable line only
        if t.starts_with('<') {
            let stripped: String = strip_tags(t);
            return stripped
                .split_whitespace()
                .take(30)
                .collect::<Vec<_>>()
                .join(" ");
        }
        return t.chars().take(500).collect();
    };
    flatten(&v, "")
}

fn strip_tags(s: &str) -> String {
    let mut out = String::new();
    let mut in_tag = false;
    for c in s.chars() {
        match c {
            '<' => in_tag = true,
            '>' => {
                in_tag = false;
                out.push(' ');
            }
            c if !in_tag => out.push(c),
            _ => {}
        }
    }
    out
}

fn flatten(v: &serde_json::Value, prefix: &str) -> String {
    use serde_json::Value;
    match v {
        Value::String(s) => {
            if prefix.is_empty() {
                s.trim().to_string()
            } else {
                format!("{prefix}: {}", s.trim())
            }
        }
        Value::Array(a) => a
            .iter()
            .map(|x| flatten(x, prefix))
            .filter(|s| !s.is_empty())
            .collect::<Vec<_>>()
            .join("; "),
        Value::Object(o) => {
            if let Some(d) = o.get("detail") {
                return flatten(d, prefix);
            }
            o.iter()
                .map(|(k, x)| {
                    let p = if prefix.is_empty() {
                        k.clone()
                    } else {
                        format!("{prefix}.{k}")
                    };
                    let p = if k == "non_field_errors" {
                        prefix.to_string()
                    } else {
                        p
                    };
                    flatten(x, &p)
                })
                .filter(|s| !s.is_empty())
                .collect::<Vec<_>>()
                .join("; ")
        }
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_from_every_cvat_error_shape() {
        assert_eq!(server_message(br#"{"detail": "Not found."}"#), "Not found.");
        assert_eq!(
            server_message(br#"["Unknown format specified for the request"]"#),
            "Unknown format specified for the request"
        );
        assert_eq!(
            server_message(br#""No such file were uploaded""#),
            "No such file were uploaded"
        );
        assert_eq!(
            server_message(br#"{"labels": [{"name": ["This field is required."]}]}"#),
            "labels.name: This field is required."
        );
        assert_eq!(
            server_message(
                br#"{"non_field_errors": ["Unable to log in with provided credentials."]}"#
            ),
            "Unable to log in with provided credentials."
        );
        assert_eq!(
            server_message(
                b"<html><body><h1>There is no request with specified id</h1></body></html>"
            ),
            "There is no request with specified id"
        );
    }
}
