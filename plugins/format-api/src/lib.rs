//! `cvat-format-api`: the annotation model, the `Format` trait, the format registry, diagnostics, and
//! file-tree inputs/outputs. It is the only crate a format plugin depends on: no networking, no CLI.
//!
//! - [`model`]: labels, frames, tags, shapes, tracks (mirrors the CVAT server's annotation JSON).
//! - [`rest`]: lossless conversion to and from the server's JSON.
//! - [`format`]: the [`Format`] trait, [`Registry`], built-in registration ([`register_format!`]).
//! - [`io`]: [`Input`] (file, directory, ZIP, memory) and [`OutputSink`]/[`Output`] (atomic writes).
//! - [`diag`]: [`Diagnostic`], [`FormatError`], [`DropReport`].
//! - [`geometry`], [`imagesize`]: helpers shared by formats.
//! - [`abi`]: the C ABI of dynamic format plugins; [`export_format_plugin!`] turns a [`Format`] into one.

pub mod abi;
pub mod diag;
pub mod format;
pub mod geometry;
pub mod imagesize;
pub mod io;
pub mod model;
pub mod rest;

pub use diag::{Diagnostic, Diagnostics, DropReport, FormatError, Location, Result, Severity};
pub use format::{
    check_dataset, AnnRef, Entry, Format, FormatInfo, FormatRegistration, Origin, ReadOptions,
    Registry, RegistryError, WriteOptions,
};
pub use io::{Bytes, Input, MemorySink, Output, OutputKind, OutputSink};
pub use model::*;

#[doc(hidden)]
pub use inventory;
