//! Cross-crate tests: one binary, one module per subject.
//!
//! - `registry`: names and aliases of every built-in format (unique, resolvable, as the server names them);
//! - `truncation`: every valid sample of every importable format, truncated, fails cleanly;
//! - `matrix`: rich-A written by every exporter and read by every importer, without panics.

mod matrix;
mod registry;
mod truncation;
mod util;
