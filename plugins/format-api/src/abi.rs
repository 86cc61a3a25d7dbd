//! The C ABI between cvat-cli and dynamically loaded format plugins (version 1), and the SDK that
//! implements it for any [`Format`] ([`crate::export_format_plugin!`]).
//!
//! `docs/plugin-abi.md` is the normative specification (with a C header); this module is its Rust
//! form. In short: a plugin exports one symbol, [`SYMBOL`] (`cvat_format_plugin_v1`), a function that
//! returns a pointer to a static [`PluginV1`] table. Every payload crosses the boundary as bytes: the
//! host lends [`Slice`]s (valid for the duration of one call), the plugin returns [`Buf`]s that the host
//! hands back to the plugin's `free_buf`. Structured payloads are UTF-8 JSON:
//!
//! - `describe` → [`FormatInfo`];
//! - `import` → [`ModelEnvelope`] (`{"schema": 1, "dataset": <Dataset>}`);
//! - `validate` → [`ValidateReply`];
//! - `export` → file bytes or a ZIP, plus [`ExportReply`];
//! - read options → [`ReadOptionsJson`]; write options → [`WriteOptionsJson`];
//! - every failure → [`ErrorReply`] with a non-zero status from [`status`].
//!
//! Memory is freed by whoever allocated it; no panic crosses the boundary (the SDK catches them).

use crate::diag::{Diagnostic, DropReport, FormatError};
#[cfg(doc)]
use crate::format::FormatInfo;
use crate::format::{Format, ReadOptions, WriteOptions};
use crate::io::{Input, MemorySink};
use crate::model::{Dataset, Frame, Label};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The ABI version this crate implements (the major version is also part of [`SYMBOL`]).
pub const ABI_VERSION: u32 = 1;
/// The exported symbol a plugin must define.
pub const SYMBOL: &str = "cvat_format_plugin_v1";
/// [`SYMBOL`] NUL-terminated, for symbol lookups.
pub const SYMBOL_NUL: &[u8] = b"cvat_format_plugin_v1\0";
/// The version of the model JSON schema ([`ModelEnvelope::schema`]).
pub const MODEL_SCHEMA: u32 = 1;
/// The most bytes of a single file the host passes to `sniff`.
pub const SNIFF_HEAD_BYTES: usize = 64 * 1024;

/// Status codes every entry point returns.
pub mod status {
    /// Success: the output buffers hold the result.
    pub const OK: i32 = 0;
    /// The input is not valid for the format (the error JSON says where and why).
    pub const INVALID_INPUT: i32 = 1;
    /// The operation is not supported (import of an export-only format, a missing capability...).
    pub const UNSUPPORTED: i32 = 2;
    /// A bug in the plugin: a caught panic, an output that could not be serialised.
    pub const INTERNAL: i32 = 3;
    /// The host's request could not be understood (bad JSON, an unknown model schema, bad pointers).
    pub const BAD_REQUEST: i32 = 4;
}

/// Bytes the host lends to the plugin for the duration of one call. `ptr` may be null when `len` is 0.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct Slice {
    pub ptr: *const u8,
    pub len: usize,
}

impl Slice {
    pub fn new(bytes: &[u8]) -> Slice {
        Slice {
            ptr: bytes.as_ptr(),
            len: bytes.len(),
        }
    }
    pub const EMPTY: Slice = Slice {
        ptr: std::ptr::null(),
        len: 0,
    };
    /// # Safety
    /// `ptr` must point to `len` readable bytes that outlive `'a` (or be null with `len` 0).
    pub unsafe fn as_bytes<'a>(self) -> &'a [u8] {
        if self.ptr.is_null() || self.len == 0 {
            &[]
        } else {
            // SAFETY: guaranteed by the caller.
            unsafe { std::slice::from_raw_parts(self.ptr, self.len) }
        }
    }
}

/// Bytes the plugin returns to the host. Only the plugin reads `cap` (a Rust plugin stores the
/// `Vec`'s capacity there); the host passes the struct back unchanged to the plugin's `free_buf`.
#[repr(C)]
#[derive(Debug)]
pub struct Buf {
    pub ptr: *mut u8,
    pub len: usize,
    pub cap: usize,
}

impl Buf {
    pub const EMPTY: Buf = Buf {
        ptr: std::ptr::null_mut(),
        len: 0,
        cap: 0,
    };
    /// Hands a `Vec` over to the host (the Rust plugin side).
    pub fn from_vec(v: Vec<u8>) -> Buf {
        let mut v = std::mem::ManuallyDrop::new(v);
        Buf {
            ptr: v.as_mut_ptr(),
            len: v.len(),
            cap: v.capacity(),
        }
    }
    /// Takes back a `Vec` made by [`Buf::from_vec`].
    ///
    /// # Safety
    /// `self` must come from [`Buf::from_vec`] in the same library, unchanged, and not freed before.
    pub unsafe fn into_vec(self) -> Vec<u8> {
        if self.ptr.is_null() {
            return Vec::new();
        }
        // SAFETY: guaranteed by the caller.
        unsafe { Vec::from_raw_parts(self.ptr, self.len, self.cap) }
    }
}

/// `InputV1::kind`: one file; `data` is its content, `file_name` its name.
pub const INPUT_FILE: u32 = 0;
/// `InputV1::kind`: a tree of files; `data` is a ZIP archive of it, `file_name` is empty.
pub const INPUT_ZIP: u32 = 1;

/// An input as the host lends it to `import`, `validate` and `sniff`.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct InputV1 {
    /// [`INPUT_FILE`] or [`INPUT_ZIP`].
    pub kind: u32,
    /// UTF-8: how to name the input in messages (the user's path).
    pub display_name: Slice,
    /// UTF-8: the file's name (its relative path) for [`INPUT_FILE`]; empty for [`INPUT_ZIP`].
    pub file_name: Slice,
    /// The file's bytes, or the ZIP. For `sniff`, at most [`SNIFF_HEAD_BYTES`] leading bytes of a single
    /// file, or a ZIP of the tree whose members are empty (names only).
    pub data: Slice,
}

/// `describe(out)`: writes the format's [`FormatInfo`] JSON into `out`.
pub type DescribeFn = unsafe extern "C" fn(out: *mut Buf) -> i32;
/// `sniff(input)`: 0..=100, how sure the plugin is that the input is its own; negative on failure.
pub type SniffFn = unsafe extern "C" fn(input: *const InputV1) -> i32;
/// `import(input, options, out)`: on OK `out` holds the model JSON, otherwise the error JSON.
pub type ImportFn =
    unsafe extern "C" fn(input: *const InputV1, options: Slice, out: *mut Buf) -> i32;
/// `validate(input, options, out)`: on OK `out` holds [`ValidateReply`], otherwise the error JSON.
pub type ValidateFn =
    unsafe extern "C" fn(input: *const InputV1, options: Slice, out: *mut Buf) -> i32;
/// `export(model, options, out_data, out_json)`: on OK `out_data` holds the file or ZIP and `out_json`
/// the [`ExportReply`]; otherwise `out_json` holds the error JSON.
pub type ExportFn = unsafe extern "C" fn(
    model: Slice,
    options: Slice,
    out_data: *mut Buf,
    out_json: *mut Buf,
) -> i32;
/// `free_buf(buf)`: frees a buffer the plugin returned. Must accept a null `ptr`.
pub type FreeBufFn = unsafe extern "C" fn(buf: Buf);
/// The exported symbol's type.
pub type EntryFn = unsafe extern "C" fn() -> *const PluginV1;

/// The first two fields of every version of the table: what the host reads before anything else.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct PluginHeader {
    pub abi_version: u32,
    pub struct_size: u32,
}

/// The plugin table, version 1. New fields are only ever appended (and `struct_size` tells the host
/// which ones a plugin has). A null function pointer means "not supported", except for `describe` and
/// `free_buf`, which are required.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct PluginV1 {
    pub abi_version: u32,
    pub struct_size: u32,
    pub describe: Option<DescribeFn>,
    pub import: Option<ImportFn>,
    pub export: Option<ExportFn>,
    pub validate: Option<ValidateFn>,
    pub free_buf: Option<FreeBufFn>,
    pub sniff: Option<SniffFn>,
}

/// The size of the version-1 table; a plugin announcing less is refused.
pub const PLUGIN_V1_SIZE: u32 = std::mem::size_of::<PluginV1>() as u32;

// ---------------------------------------------------------------------------------------------------
// JSON payloads
// ---------------------------------------------------------------------------------------------------

/// The model as it crosses the boundary: `{"schema": 1, "dataset": {...}}` where `dataset` is the serde
/// form of [`Dataset`].
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ModelEnvelope<D = Dataset> {
    pub schema: u32,
    pub dataset: D,
}

/// Read options (`import`, `validate`): hints for formats that do not carry everything themselves.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ReadOptionsJson {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub frames: Option<Vec<Frame>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub labels: Option<Vec<Label>>,
}

impl From<&ReadOptions> for ReadOptionsJson {
    fn from(o: &ReadOptions) -> Self {
        ReadOptionsJson {
            frames: o.frames.clone(),
            labels: o.labels.clone(),
        }
    }
}

impl From<ReadOptionsJson> for ReadOptions {
    fn from(o: ReadOptionsJson) -> Self {
        let mut r = ReadOptions::default();
        if let Some(frames) = o.frames {
            r = r.with_frames(frames);
        }
        if let Some(labels) = o.labels {
            r = r.with_labels(labels);
        }
        r
    }
}

/// Write options (`export`).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct WriteOptionsJson {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub frame_step: Option<u32>,
}

impl From<&WriteOptions> for WriteOptionsJson {
    fn from(o: &WriteOptions) -> Self {
        WriteOptionsJson {
            frame_step: o.frame_step,
        }
    }
}

impl From<WriteOptionsJson> for WriteOptions {
    // not a struct literal: the options may gain private fields
    #[allow(clippy::field_reassign_with_default)]
    fn from(o: WriteOptionsJson) -> Self {
        let mut w = WriteOptions::default();
        w.frame_step = o.frame_step;
        w
    }
}

/// What `validate` returns on success (the input may still have problems: they are the diagnostics).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ValidateReply {
    pub diagnostics: Vec<Diagnostic>,
    /// Errors and warnings seen, including any the plugin did not keep.
    #[serde(default)]
    pub error_count: usize,
    #[serde(default)]
    pub warning_count: usize,
}

/// How `export` packed its files into `out_data`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ExportPacking {
    /// `out_data` is the content of one file named `file_name`.
    File,
    /// `out_data` is a ZIP archive of the files, with their relative paths.
    Zip,
}

/// One line of the drop report: what was not written, and how many.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DropItem {
    pub what: String,
    pub count: usize,
}

/// What `export` returns in `out_json` on success.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ExportReply {
    pub output: ExportPacking,
    /// The file's relative path when `output` is `file`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file_name: Option<String>,
    #[serde(default)]
    pub dropped: Vec<DropItem>,
}

impl ExportReply {
    pub fn drop_report(&self) -> DropReport {
        let mut r = DropReport::default();
        for d in &self.dropped {
            r.add(&d.what, d.count);
        }
        r
    }
}

/// The error JSON every entry point returns with a non-zero status. Hosts must accept unknown `kind`s
/// (treat them as `other`) and ignore unknown fields.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ErrorReply {
    /// `invalid`, `missing`, `unsupported`, `io`, `panic`, `bad_request` or `other`.
    pub kind: String,
    pub message: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hint: Option<String>,
    /// For `invalid`: where and why.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub diagnostic: Option<Diagnostic>,
    /// For `io`: the file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
}

impl ErrorReply {
    fn new(kind: &str, message: impl Into<String>) -> Self {
        ErrorReply {
            kind: kind.to_string(),
            message: message.into(),
            ..Default::default()
        }
    }

    /// The status and error JSON a plugin returns for `e`.
    pub fn from_error(e: &FormatError) -> (i32, ErrorReply) {
        match e {
            FormatError::Invalid(d) => (
                status::INVALID_INPUT,
                ErrorReply {
                    hint: d.hint.clone(),
                    diagnostic: Some((**d).clone()),
                    ..ErrorReply::new("invalid", d.message.clone())
                },
            ),
            FormatError::Io { path, source } => (
                status::INVALID_INPUT,
                ErrorReply {
                    path: Some(path.clone()),
                    ..ErrorReply::new("io", source.to_string())
                },
            ),
            FormatError::Missing { message, hint } => (
                status::INVALID_INPUT,
                ErrorReply {
                    hint: (!hint.is_empty()).then(|| hint.clone()),
                    ..ErrorReply::new("missing", message.clone())
                },
            ),
            FormatError::Unsupported(m) => (status::UNSUPPORTED, ErrorReply::new("unsupported", m)),
            other => (
                status::INTERNAL,
                ErrorReply::new("other", other.to_string()),
            ),
        }
    }

    /// The host's view of a failed call: `plugin` names the library for messages.
    pub fn into_error(self, status: i32, plugin: &str) -> FormatError {
        match (self.kind.as_str(), self.diagnostic) {
            ("invalid", Some(d)) => FormatError::Invalid(Box::new(d)),
            ("missing", _) => FormatError::missing(self.message, self.hint.unwrap_or_default()),
            ("io", _) => FormatError::io(
                self.path.unwrap_or_else(|| plugin.to_string()),
                std::io::Error::other(self.message),
            ),
            ("unsupported", _) => FormatError::Unsupported(self.message),
            (_, Some(d)) if status == status::INVALID_INPUT => FormatError::Invalid(Box::new(d)),
            (kind, _) => {
                let what = match kind {
                    "panic" => "panicked",
                    "bad_request" => "could not understand the request",
                    _ => "failed",
                };
                FormatError::Plugin {
                    plugin: plugin.to_string(),
                    message: format!("{what} (status {status}): {}", self.message),
                }
            }
        }
    }

    fn to_json(&self) -> Vec<u8> {
        serde_json::to_vec(self).unwrap_or_else(|_| br#"{"kind":"other","message":""}"#.to_vec())
    }
}

// ---------------------------------------------------------------------------------------------------
// SDK: the plugin side, generic over a `Format`
// ---------------------------------------------------------------------------------------------------

/// Builds the input a plugin's [`Format`] sees from what the host lent.
///
/// # Safety
/// The slices of `input` must be valid for reads.
pub unsafe fn input_from_abi(input: &InputV1) -> Result<Input, FormatError> {
    // SAFETY: guaranteed by the caller.
    let (display, file_name, data) = unsafe {
        (
            String::from_utf8_lossy(input.display_name.as_bytes()).into_owned(),
            String::from_utf8_lossy(input.file_name.as_bytes()).into_owned(),
            input.data.as_bytes().to_vec(),
        )
    };
    match input.kind {
        INPUT_FILE => {
            let file_name = if file_name.is_empty() {
                display.clone()
            } else {
                file_name
            };
            let mut files = BTreeMap::new();
            files.insert(file_name, data);
            Ok(Input::from_files(&display, files))
        }
        INPUT_ZIP => Input::from_bytes(&display, data),
        other => Err(FormatError::Other(format!("unknown input kind {other}"))),
    }
}

/// A failed call: the status and the error JSON.
type Failure = (i32, Box<ErrorReply>);
type Reply = Result<Vec<u8>, Failure>;

fn bad_request(message: impl Into<String>) -> Failure {
    (
        status::BAD_REQUEST,
        Box::new(ErrorReply::new("bad_request", message)),
    )
}

fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "a panic with a non-string payload".to_string()
    }
}

/// Runs `f` with panics caught, writes its reply (or error JSON) into `out`, returns the status.
fn guarded(out: *mut Buf, f: impl FnOnce() -> Reply) -> i32 {
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f));
    let (code, bytes) = match result {
        Ok(Ok(bytes)) => (status::OK, bytes),
        Ok(Err((code, e))) => (code, e.to_json()),
        Err(payload) => {
            let msg = panic_message(&*payload);
            // dropping a payload can itself panic: keep that inside too
            let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || drop(payload)));
            (
                status::INTERNAL,
                ErrorReply::new("panic", format!("the plugin panicked: {msg}")).to_json(),
            )
        }
    };
    if !out.is_null() {
        // SAFETY: the host passes a writable `Buf` (checked non-null above).
        unsafe { out.write(Buf::from_vec(bytes)) };
    }
    code
}

fn parse_options<T: serde::de::DeserializeOwned + Default>(bytes: &[u8]) -> Result<T, Failure> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    serde_json::from_slice(bytes).map_err(|e| bad_request(format!("options JSON: {e}")))
}

fn format_failure(e: FormatError) -> Failure {
    let (code, reply) = ErrorReply::from_error(&e);
    (code, Box::new(reply))
}

fn to_json<T: Serialize>(v: &T) -> Reply {
    serde_json::to_vec(v).map_err(|e| {
        (
            status::INTERNAL,
            Box::new(ErrorReply::new(
                "other",
                format!("cannot serialise the reply: {e}"),
            )),
        )
    })
}

/// SDK glue for `describe`.
///
/// # Safety
/// `out` must be null or point to a writable [`Buf`].
pub unsafe extern "C" fn sdk_describe<F: Format + Default>(out: *mut Buf) -> i32 {
    guarded(out, || to_json(&F::default().info()))
}

/// SDK glue for `sniff`.
///
/// # Safety
/// `input` must be null or point to a valid [`InputV1`].
pub unsafe extern "C" fn sdk_sniff<F: Format + Default>(input: *const InputV1) -> i32 {
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        // SAFETY: the host passes a valid input (checked non-null).
        let input = match unsafe { input.as_ref() } {
            Some(i) => i,
            None => return -1,
        };
        // SAFETY: as above.
        match unsafe { input_from_abi(input) } {
            Ok(input) => i32::from(F::default().sniff(&input).min(100)),
            Err(_) => 0,
        }
    }));
    r.unwrap_or(-1)
}

/// SDK glue for `import`.
///
/// # Safety
/// `input` must point to a valid [`InputV1`], `options` be a valid slice, `out` a writable [`Buf`].
pub unsafe extern "C" fn sdk_import<F: Format + Default>(
    input: *const InputV1,
    options: Slice,
    out: *mut Buf,
) -> i32 {
    guarded(out, || {
        // SAFETY: guaranteed by the caller.
        let input = unsafe { input.as_ref() }.ok_or_else(|| bad_request("null input"))?;
        // SAFETY: as above.
        let input = unsafe { input_from_abi(input) }.map_err(format_failure)?;
        // SAFETY: as above.
        let opts: ReadOptionsJson = parse_options(unsafe { options.as_bytes() })?;
        let ds = F::default()
            .read(&input, &opts.into())
            .map_err(format_failure)?;
        to_json(&ModelEnvelope {
            schema: MODEL_SCHEMA,
            dataset: &ds,
        })
    })
}

/// SDK glue for `validate`.
///
/// # Safety
/// As [`sdk_import`].
pub unsafe extern "C" fn sdk_validate<F: Format + Default>(
    input: *const InputV1,
    options: Slice,
    out: *mut Buf,
) -> i32 {
    guarded(out, || {
        // SAFETY: guaranteed by the caller.
        let input = unsafe { input.as_ref() }.ok_or_else(|| bad_request("null input"))?;
        // SAFETY: as above.
        let input = unsafe { input_from_abi(input) }.map_err(format_failure)?;
        // SAFETY: as above.
        let opts: ReadOptionsJson = parse_options(unsafe { options.as_bytes() })?;
        let diags = F::default().validate(&input, &opts.into());
        let reply = ValidateReply {
            error_count: diags.error_count(),
            warning_count: diags.warning_count(),
            diagnostics: diags.into_items(),
        };
        to_json(&reply)
    })
}

/// SDK glue for `export`.
///
/// # Safety
/// `model` and `options` must be valid slices, `out_data` and `out_json` writable [`Buf`]s.
pub unsafe extern "C" fn sdk_export<F: Format + Default>(
    model: Slice,
    options: Slice,
    out_data: *mut Buf,
    out_json: *mut Buf,
) -> i32 {
    let mut data: Vec<u8> = Vec::new();
    let code = guarded(out_json, || {
        // SAFETY: guaranteed by the caller.
        let model = unsafe { model.as_bytes() };
        let env: ModelEnvelope<serde_json::Value> =
            serde_json::from_slice(model).map_err(|e| bad_request(format!("model JSON: {e}")))?;
        if env.schema != MODEL_SCHEMA {
            return Err(bad_request(format!(
                "model schema {} is not supported (this plugin reads schema {MODEL_SCHEMA})",
                env.schema
            )));
        }
        let ds: Dataset = serde_json::from_value(env.dataset)
            .map_err(|e| bad_request(format!("model JSON: $.dataset: {e}")))?;
        // SAFETY: as above.
        let opts: WriteOptionsJson = parse_options(unsafe { options.as_bytes() })?;
        let mut sink = MemorySink::default();
        let report = F::default()
            .write(&ds, &mut sink, &opts.into())
            .map_err(format_failure)?;
        let mut files = sink.into_files();
        let dropped = report
            .items
            .into_iter()
            .map(|(what, count)| DropItem { what, count })
            .collect();
        let reply = if files.len() == 1 {
            let (name, bytes) = files.pop_first().unwrap_or_default();
            data = bytes;
            ExportReply {
                output: ExportPacking::File,
                file_name: Some(name),
                dropped,
            }
        } else {
            data = crate::io::zip_files(files).map_err(format_failure)?;
            ExportReply {
                output: ExportPacking::Zip,
                file_name: None,
                dropped,
            }
        };
        to_json(&reply)
    });
    if !out_data.is_null() {
        let data = if code == status::OK { data } else { Vec::new() };
        // SAFETY: the host passes a writable `Buf` (checked non-null).
        unsafe { out_data.write(Buf::from_vec(data)) };
    }
    code
}

/// SDK glue for `free_buf`.
///
/// # Safety
/// `buf` must have been returned by this library's entry points, unchanged, and not freed before.
pub unsafe extern "C" fn sdk_free_buf(buf: Buf) {
    // SAFETY: guaranteed by the caller.
    let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| unsafe {
        drop(buf.into_vec())
    }));
}

/// The version-1 table for format `F` (what [`crate::export_format_plugin!`] returns).
pub const fn plugin_table<F: Format + Default>() -> PluginV1 {
    PluginV1 {
        abi_version: ABI_VERSION,
        struct_size: PLUGIN_V1_SIZE,
        describe: Some(sdk_describe::<F>),
        import: Some(sdk_import::<F>),
        export: Some(sdk_export::<F>),
        validate: Some(sdk_validate::<F>),
        free_buf: Some(sdk_free_buf),
        sniff: Some(sdk_sniff::<F>),
    }
}

/// Makes this crate a cvat-cli format plugin: exports `cvat_format_plugin_v1` for a type implementing
/// [`Format`] and [`Default`]. The crate must be built as a `cdylib` with `panic = "unwind"` (the
/// default; with `panic = "abort"` a panic would kill the host).
///
/// ```
/// use cvat_format_api::{Format, FormatInfo};
///
/// #[derive(Default)]
/// pub struct MyFormat;
///
/// impl Format for MyFormat {
///     fn info(&self) -> FormatInfo {
///         FormatInfo::new("My Format 1.0").import().export()
///     }
///     // sniff, read, write, validate...
/// }
///
/// cvat_format_api::export_format_plugin!(MyFormat);
/// ```
#[macro_export]
macro_rules! export_format_plugin {
    ($ty:ty) => {
        /// The cvat-cli format plugin entry point (ABI version 1).
        #[no_mangle]
        pub extern "C" fn cvat_format_plugin_v1() -> *const $crate::abi::PluginV1 {
            static TABLE: $crate::abi::PluginV1 = $crate::abi::plugin_table::<$ty>();
            &TABLE
        }
    };
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diag::{Diagnostics, Location};
    use crate::format::FormatInfo;
    use crate::io::OutputSink;
    use crate::model::{Shape, ShapeType};

    #[derive(Default)]
    struct Toy;
    impl Format for Toy {
        fn info(&self) -> FormatInfo {
            FormatInfo::new("Toy 1.0").import().export()
        }
        fn read(&self, input: &Input, _o: &ReadOptions) -> crate::Result<Dataset> {
            let text = input.read_text(input.files()[0].as_str())?;
            if text == "panic" {
                panic!("toy panic");
            }
            if text == "bad" {
                return Err(FormatError::invalid(
                    Location::line(input.display("x"), 2, 3),
                    "syntax",
                    "bad toy",
                ));
            }
            let mut ds = Dataset::default();
            let l = ds.ensure_label(&text);
            ds.shapes.push(Shape {
                label_id: l,
                kind: ShapeType::Rectangle,
                points: vec![0.1, 0.2, 3.0, 4.0],
                ..Default::default()
            });
            Ok(ds)
        }
        fn write(
            &self,
            ds: &Dataset,
            out: &mut dyn OutputSink,
            _o: &WriteOptions,
        ) -> crate::Result<DropReport> {
            for l in &ds.labels {
                out.file(&format!("{}.txt", l.name))?
                    .write_all(l.name.as_bytes())
                    .map_err(|e| FormatError::io("x", e))?;
            }
            let mut r = DropReport::default();
            r.add("tags", ds.tags.len());
            Ok(r)
        }
        fn validate(&self, _i: &Input, _o: &ReadOptions) -> Diagnostics {
            let mut d = Diagnostics::default();
            d.error(Location::line("f", 1, 1), "x", "y");
            d
        }
    }

    fn import(text: &str) -> (i32, Vec<u8>) {
        let input = InputV1 {
            kind: INPUT_FILE,
            display_name: Slice::new(b"/tmp/t.toy"),
            file_name: Slice::new(b"t.toy"),
            data: Slice::new(text.as_bytes()),
        };
        let mut out = Buf::EMPTY;
        let code = unsafe { sdk_import::<Toy>(&input, Slice::EMPTY, &mut out) };
        (code, unsafe { out.into_vec() })
    }

    #[test]
    fn import_ok_error_and_panic() {
        let (code, bytes) = import("car");
        assert_eq!(code, status::OK);
        let env: ModelEnvelope = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(env.schema, 1);
        assert_eq!(env.dataset.labels[0].name, "car");
        assert_eq!(env.dataset.shapes[0].points, vec![0.1, 0.2, 3.0, 4.0]);

        let (code, bytes) = import("bad");
        assert_eq!(code, status::INVALID_INPUT);
        let e: ErrorReply = serde_json::from_slice(&bytes).unwrap();
        let err = e.into_error(code, "p.so");
        assert!(matches!(&err, FormatError::Invalid(d) if d.location.line == Some(2)));

        let (code, bytes) = import("panic");
        assert_eq!(code, status::INTERNAL);
        let e: ErrorReply = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(e.kind, "panic");
        assert!(e.message.contains("toy panic"), "{}", e.message);
    }

    #[test]
    fn export_packs_one_file_or_a_zip() {
        let mut ds = Dataset::default();
        ds.ensure_label("a");
        let model = serde_json::to_vec(&ModelEnvelope {
            schema: 1,
            dataset: &ds,
        })
        .unwrap();
        let (mut data, mut json) = (Buf::EMPTY, Buf::EMPTY);
        let code =
            unsafe { sdk_export::<Toy>(Slice::new(&model), Slice::EMPTY, &mut data, &mut json) };
        assert_eq!(code, status::OK);
        let reply: ExportReply = serde_json::from_slice(&unsafe { json.into_vec() }).unwrap();
        assert_eq!(reply.output, ExportPacking::File);
        assert_eq!(reply.file_name.as_deref(), Some("a.txt"));
        assert_eq!(unsafe { data.into_vec() }, b"a");

        ds.ensure_label("b");
        let model = serde_json::to_vec(&ModelEnvelope {
            schema: 1,
            dataset: &ds,
        })
        .unwrap();
        let (mut data, mut json) = (Buf::EMPTY, Buf::EMPTY);
        let code =
            unsafe { sdk_export::<Toy>(Slice::new(&model), Slice::EMPTY, &mut data, &mut json) };
        assert_eq!(code, status::OK);
        let reply: ExportReply = serde_json::from_slice(&unsafe { json.into_vec() }).unwrap();
        assert_eq!(reply.output, ExportPacking::Zip);
        let zip = Input::from_bytes("out.zip", unsafe { data.into_vec() }).unwrap();
        assert_eq!(zip.files(), &["a.txt".to_string(), "b.txt".to_string()]);
    }

    #[test]
    fn export_refuses_unknown_schema_and_bad_json() {
        for model in [&br#"{"schema": 2, "dataset": {}}"#[..], b"{not json"] {
            let (mut data, mut json) = (Buf::EMPTY, Buf::EMPTY);
            let code =
                unsafe { sdk_export::<Toy>(Slice::new(model), Slice::EMPTY, &mut data, &mut json) };
            assert_eq!(code, status::BAD_REQUEST);
            let e: ErrorReply = serde_json::from_slice(&unsafe { json.into_vec() }).unwrap();
            assert_eq!(e.kind, "bad_request");
            assert!(unsafe { data.into_vec() }.is_empty());
        }
    }

    #[test]
    fn table_has_every_entry() {
        let t = plugin_table::<Toy>();
        assert_eq!(t.abi_version, 1);
        assert_eq!(t.struct_size as usize, std::mem::size_of::<PluginV1>());
        assert!(t.describe.is_some() && t.free_buf.is_some() && t.sniff.is_some());
        let mut out = Buf::EMPTY;
        let code = unsafe { (t.describe.unwrap())(&mut out) };
        assert_eq!(code, 0);
        let info: FormatInfo = serde_json::from_slice(&unsafe { out.into_vec() }).unwrap();
        assert_eq!(info.name, "Toy 1.0");
    }
}
