//! Helpers shared by the modules of this binary.

use std::panic::{catch_unwind, AssertUnwindSafe};

/// Runs `f`, turning a panic into `Err(message)`.
pub fn no_panic<T>(f: impl FnOnce() -> T) -> Result<T, String> {
    catch_unwind(AssertUnwindSafe(f)).map_err(|p| {
        p.downcast_ref::<String>()
            .cloned()
            .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_else(|| "panic".to_string())
    })
}

/// Fails with every problem listed (rather than stopping at the first).
pub fn assert_none(problems: &[String], what: &str) {
    if !problems.is_empty() {
        let shown: Vec<&str> = problems.iter().take(40).map(String::as_str).collect();
        panic!(
            "{} {what}:\n{}{}",
            problems.len(),
            shown.join("\n"),
            if problems.len() > 40 { "\n..." } else { "" }
        );
    }
}
