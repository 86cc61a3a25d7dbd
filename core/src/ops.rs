//! Offline use cases on annotation files.
