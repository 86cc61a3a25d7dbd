//! Progress reporting. The core never draws: it tells a [`Reporter`] what is happening, and the binary
//! decides how (or whether) to show it.

/// Receives progress from long operations (uploads, downloads, waiting for the server).
pub trait Reporter: Send + Sync {
    /// A new bar: `what` is shown to the user, `total` in bytes or items when known. Returns a handle.
    fn start(&self, what: &str, total: Option<u64>) -> usize;
    /// Moves bar `id` forward by `delta`.
    fn advance(&self, id: usize, delta: u64);
    /// Sets bar `id` to `pos` (when the server reports progress as a position).
    fn set(&self, id: usize, pos: u64) {
        let _ = (id, pos);
    }
    /// Changes the text of bar `id` (e.g. a request's status).
    fn message(&self, id: usize, msg: &str) {
        let _ = (id, msg);
    }
    fn finish(&self, id: usize);
    /// A log line (goes to stderr in the CLI).
    fn log(&self, msg: &str);
}

/// A reporter that shows nothing.
#[derive(Debug, Default, Clone, Copy)]
pub struct Silent;

impl Reporter for Silent {
    fn start(&self, _what: &str, _total: Option<u64>) -> usize {
        0
    }
    fn advance(&self, _id: usize, _delta: u64) {}
    fn finish(&self, _id: usize) {}
    fn log(&self, _msg: &str) {}
}
