//! `cvat-plugin-host`: finds, loads and wraps third-party format plugins (dynamic libraries that export
//! `cvat_format_plugin_v1`, see `docs/plugin-abi.md`) so that the registry treats them like built-ins.
//!
//! - [`search_dirs`] / [`default_search_dirs`]: where plugins may live (explicit directories only:
//!   `--plugin-dir`, `CVAT_PLUGIN_PATH`, the user's config directory; never the current directory).
//! - [`load_library`]: opens one library, checks its table and description, or says why it refuses.
//! - [`load_into`]: loads every library of the search directories into a [`Registry`]; built-ins and
//!   earlier plugins win name clashes.
//! - [`PluginFormat`]: a loaded plugin seen through the [`Format`] trait; every call crosses the C ABI,
//!   and a failing or panicking plugin yields a [`FormatError`] for that call only.
//!
//! Libraries are never unloaded: each [`libloading::Library`] is leaked on purpose, so function
//! pointers into it stay valid for the life of the process.

use cvat_format_api::abi::{
    self, status, Buf, ErrorReply, ExportPacking, ExportReply, FreeBufFn, InputV1, ModelEnvelope,
    PluginHeader, PluginV1, ReadOptionsJson, Slice, ValidateReply, WriteOptionsJson,
};
use cvat_format_api::{
    check_dataset, Dataset, Diagnostics, DropReport, Format, FormatError, FormatInfo, Input,
    Location, OutputSink, ReadOptions, Registry, RegistryError, WriteOptions,
};
use serde::Serialize;
use std::collections::{BTreeMap, HashSet};
use std::ffi::OsStr;
use std::path::{Path, PathBuf};

/// The environment variable holding extra plugin directories (a path list, like `PATH`).
pub const PLUGIN_PATH_ENV: &str = "CVAT_PLUGIN_PATH";

/// Why a directory is searched.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum DirSource {
    /// `--plugin-dir DIR`.
    Option,
    /// `CVAT_PLUGIN_PATH`.
    Env,
    /// The user's configuration directory.
    Config,
}

impl std::fmt::Display for DirSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            DirSource::Option => "--plugin-dir",
            DirSource::Env => PLUGIN_PATH_ENV,
            DirSource::Config => "config directory",
        })
    }
}

/// A directory to search for plugins.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SearchDir {
    pub path: PathBuf,
    pub source: DirSource,
}

/// The directories to search, in order: `cli` (from `--plugin-dir`), then the entries of `env` (the
/// value of `CVAT_PLUGIN_PATH`), then `config` (the user's plugin directory, skipped when missing).
/// Empty and relative `env` entries are ignored with a warning, so that a stray `:` never makes the
/// current directory a plugin directory. Returns the directories and the warnings.
pub fn search_dirs(
    cli: &[PathBuf],
    env: Option<&OsStr>,
    config: Option<PathBuf>,
) -> (Vec<SearchDir>, Vec<String>) {
    let mut dirs = Vec::new();
    let mut warnings = Vec::new();
    for p in cli {
        dirs.push(SearchDir {
            path: p.clone(),
            source: DirSource::Option,
        });
    }
    if let Some(env) = env {
        for p in std::env::split_paths(env) {
            if p.as_os_str().is_empty() {
                continue;
            }
            if p.is_relative() {
                warnings.push(format!(
                    "{PLUGIN_PATH_ENV}: ignoring relative directory {} (plugin directories must be \
                     absolute)",
                    p.display()
                ));
                continue;
            }
            dirs.push(SearchDir {
                path: p,
                source: DirSource::Env,
            });
        }
    }
    if let Some(c) = config {
        if c.is_dir() {
            dirs.push(SearchDir {
                path: c,
                source: DirSource::Config,
            });
        }
    }
    (dirs, warnings)
}

/// [`search_dirs`] with this process's `CVAT_PLUGIN_PATH` and [`user_plugin_dir`].
pub fn default_search_dirs(cli: &[PathBuf]) -> (Vec<SearchDir>, Vec<String>) {
    let env = std::env::var_os(PLUGIN_PATH_ENV);
    search_dirs(cli, env.as_deref(), user_plugin_dir())
}

/// The user's plugin directory: `$XDG_CONFIG_HOME/cvat-cli/plugins` (default `~/.config/...`) on Linux
/// and other Unix systems, `~/Library/Application Support/cvat-cli/plugins` on macOS,
/// `%APPDATA%\cvat-cli\plugins` on Windows.
pub fn user_plugin_dir() -> Option<PathBuf> {
    let abs = |v: Option<std::ffi::OsString>| {
        v.map(PathBuf::from)
            .filter(|p| p.is_absolute() && !p.as_os_str().is_empty())
    };
    let base = if cfg!(windows) {
        abs(std::env::var_os("APPDATA"))?
    } else if cfg!(target_os = "macos") {
        abs(std::env::var_os("HOME"))?.join("Library/Application Support")
    } else {
        match abs(std::env::var_os("XDG_CONFIG_HOME")) {
            Some(p) => p,
            None => abs(std::env::var_os("HOME"))?.join(".config"),
        }
    };
    Some(base.join("cvat-cli").join("plugins"))
}

/// Whether `path` has this platform's dynamic-library extension (`so`, `dylib`, `dll`).
pub fn is_library(path: &Path) -> bool {
    path.extension()
        .is_some_and(|e| e.eq_ignore_ascii_case(std::env::consts::DLL_EXTENSION))
}

/// Why a library was refused.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LoadError {
    #[error("cannot be loaded: {0}")]
    Open(String),
    #[error("not a cvat-cli format plugin (it does not export `{}`)", abi::SYMBOL)]
    NotAPlugin,
    #[error("`{}` returned a null table", abi::SYMBOL)]
    NullTable,
    #[error(
        "plugin implements ABI version {found}, but this cvat-cli implements ABI version {expected}"
    )]
    AbiVersion { found: u32, expected: u32 },
    #[error(
        "plugin table is {found} bytes, smaller than the {expected} bytes of ABI version {}",
        abi::ABI_VERSION
    )]
    StructSize { found: u32, expected: u32 },
    #[error("required entry point `{0}` is null")]
    MissingEntry(&'static str),
    #[error("`describe` failed: {0}")]
    Describe(String),
    #[error("{0}")]
    Registry(#[from] RegistryError),
}

impl LoadError {
    /// What the user can do about it.
    pub fn hint(&self) -> Option<&'static str> {
        match self {
            LoadError::NotAPlugin => Some(
                "remove the file from the plugin directory, or build it with \
                 cvat_format_api::export_format_plugin!",
            ),
            LoadError::AbiVersion { .. } | LoadError::StructSize { .. } => {
                Some("rebuild the plugin against the cvat-format-api of this cvat-cli")
            }
            LoadError::Registry(_) => Some(
                "built-in formats win name clashes: rename the plugin's format (name and aliases)",
            ),
            _ => None,
        }
    }
}

/// A library that was loaded and registered.
#[derive(Debug, Clone, Serialize)]
pub struct Loaded {
    pub path: PathBuf,
    pub source: DirSource,
    pub info: FormatInfo,
    pub abi_version: u32,
}

/// A library that was refused, and why.
#[derive(Debug, Clone, Serialize)]
pub struct Refused {
    pub path: PathBuf,
    pub reason: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hint: Option<String>,
}

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "plugin {} refused: {}", self.path.display(), self.reason)
    }
}

/// What [`load_into`] did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct LoadReport {
    pub dirs: Vec<SearchDir>,
    pub loaded: Vec<Loaded>,
    pub refused: Vec<Refused>,
    /// Problems with the search itself (a directory that does not exist or cannot be read).
    pub warnings: Vec<String>,
}

impl LoadReport {
    /// Every line the user should see on stderr: warnings, then refusals with hints.
    pub fn messages(&self) -> Vec<String> {
        let mut v = self.warnings.clone();
        for r in &self.refused {
            let mut m = r.to_string();
            if let Some(h) = &r.hint {
                m.push_str("\n  hint: ");
                m.push_str(h);
            }
            v.push(m);
        }
        v
    }
}

/// Loads every plugin library found in `dirs` (sorted by file name within a directory) into
/// `registry`. A library found twice (same canonical path) is loaded once. Never fails: what cannot
/// be loaded is in the report.
pub fn load_into(registry: &mut Registry, dirs: &[SearchDir]) -> LoadReport {
    let mut report = LoadReport {
        dirs: dirs.to_vec(),
        ..Default::default()
    };
    let mut seen = HashSet::new();
    for dir in dirs {
        let entries = match std::fs::read_dir(&dir.path) {
            Ok(e) => e,
            Err(e) => {
                report.warnings.push(format!(
                    "plugin directory {} ({}): {e}",
                    dir.path.display(),
                    dir.source
                ));
                continue;
            }
        };
        let mut files: Vec<PathBuf> = entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| is_library(p) && p.is_file())
            .collect();
        files.sort();
        for path in files {
            // an absolute path: the loader must never search its own paths for the file
            let path = match std::fs::canonicalize(&path) {
                Ok(p) => p,
                Err(e) => {
                    report.refused.push(Refused {
                        path,
                        reason: format!("cannot be loaded: {e}"),
                        hint: None,
                    });
                    continue;
                }
            };
            if !seen.insert(path.clone()) {
                continue;
            }
            let result = load_library(&path).and_then(|fmt| {
                let info = fmt.info.clone();
                let abi_version = fmt.abi_version;
                registry
                    .register(Box::new(fmt), cvat_format_api::Origin::Plugin(path.clone()))
                    .map_err(LoadError::from)?;
                Ok((info, abi_version))
            });
            match result {
                Ok((info, abi_version)) => report.loaded.push(Loaded {
                    path,
                    source: dir.source,
                    info,
                    abi_version,
                }),
                Err(e) => report.refused.push(Refused {
                    path,
                    reason: e.to_string(),
                    hint: e.hint().map(str::to_string),
                }),
            }
        }
    }
    report
}

/// Opens the library at `path`, checks its table and calls `describe`. The library stays loaded
/// whatever the outcome (unloading code that may have started threads or registered destructors is
/// not safe).
pub fn load_library(path: &Path) -> Result<PluginFormat, LoadError> {
    // SAFETY: loading a library runs its initialisers; the user asked for this directory explicitly.
    let lib =
        unsafe { libloading::Library::new(path) }.map_err(|e| LoadError::Open(e.to_string()))?;
    let lib: &'static libloading::Library = Box::leak(Box::new(lib));
    // SAFETY: the symbol's type is the ABI's (a plugin exporting the name with another type is broken
    // beyond what the host can detect).
    let entry =
        unsafe { lib.get::<abi::EntryFn>(abi::SYMBOL) }.map_err(|_| LoadError::NotAPlugin)?;
    // SAFETY: as above.
    let table = unsafe { entry() };
    // SAFETY: the table pointer comes from the plugin's entry point.
    unsafe { from_table(path, table) }
}

/// Checks a plugin table and calls its `describe`.
///
/// # Safety
/// `table` must be null or point to at least a [`PluginHeader`], and to as many bytes as its
/// `struct_size` says, valid for the life of the process.
unsafe fn from_table(path: &Path, table: *const PluginV1) -> Result<PluginFormat, LoadError> {
    if table.is_null() {
        return Err(LoadError::NullTable);
    }
    // SAFETY: every table version starts with the header; read it before trusting anything else.
    let header = unsafe { std::ptr::read(table.cast::<PluginHeader>()) };
    if header.abi_version != abi::ABI_VERSION {
        return Err(LoadError::AbiVersion {
            found: header.abi_version,
            expected: abi::ABI_VERSION,
        });
    }
    if header.struct_size < abi::PLUGIN_V1_SIZE {
        return Err(LoadError::StructSize {
            found: header.struct_size,
            expected: abi::PLUGIN_V1_SIZE,
        });
    }
    // SAFETY: the plugin says its table is at least as large as ours.
    let table = unsafe { std::ptr::read(table) };
    let free = table.free_buf.ok_or(LoadError::MissingEntry("free_buf"))?;
    let describe = table.describe.ok_or(LoadError::MissingEntry("describe"))?;
    let label = path.display().to_string();
    let mut out = Owned::new(free);
    // SAFETY: `out` is a valid, writable Buf.
    let code = unsafe { describe(&mut out.buf) };
    let bytes = out.bytes().map_err(LoadError::Describe)?;
    if code != status::OK {
        let msg = serde_json::from_slice::<ErrorReply>(bytes)
            .map(|e| e.message)
            .unwrap_or_else(|_| String::from_utf8_lossy(bytes).into_owned());
        return Err(LoadError::Describe(format!("status {code}: {msg}")));
    }
    let mut info: FormatInfo = serde_json::from_slice(bytes)
        .map_err(|e| LoadError::Describe(format!("invalid format description JSON: {e}")))?;
    if info.name.trim().is_empty() {
        return Err(LoadError::Describe("the format name is empty".into()));
    }
    info.can_import &= table.import.is_some();
    info.can_export &= table.export.is_some();
    Ok(PluginFormat {
        path: path.to_path_buf(),
        label,
        info,
        abi_version: header.abi_version,
        table,
    })
}

/// A buffer the plugin filled, handed back to its `free_buf` when dropped.
struct Owned {
    buf: Buf,
    free: FreeBufFn,
}

impl Owned {
    fn new(free: FreeBufFn) -> Self {
        Owned {
            buf: Buf::EMPTY,
            free,
        }
    }
    fn bytes(&self) -> Result<&[u8], String> {
        if self.buf.len == 0 {
            return Ok(&[]);
        }
        if self.buf.ptr.is_null() {
            return Err(format!("returned a null buffer of length {}", self.buf.len));
        }
        if self.buf.len > isize::MAX as usize {
            return Err(format!("returned a buffer of length {}", self.buf.len));
        }
        // SAFETY: the plugin promises `len` readable bytes at `ptr` until `free_buf`.
        Ok(unsafe { std::slice::from_raw_parts(self.buf.ptr, self.buf.len) })
    }
}

impl Drop for Owned {
    fn drop(&mut self) {
        let buf = std::mem::replace(&mut self.buf, Buf::EMPTY);
        if !buf.ptr.is_null() {
            // SAFETY: the buffer came from this plugin and is freed once.
            unsafe { (self.free)(buf) };
        }
    }
}

/// A loaded plugin, used through the [`Format`] trait.
pub struct PluginFormat {
    path: PathBuf,
    label: String,
    info: FormatInfo,
    abi_version: u32,
    table: PluginV1,
}

impl std::fmt::Debug for PluginFormat {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PluginFormat")
            .field("path", &self.path)
            .field("info", &self.info)
            .finish()
    }
}

/// An input flattened for the ABI.
struct AbiInput {
    kind: u32,
    display: String,
    file_name: String,
    data: Vec<u8>,
}

impl AbiInput {
    fn from_input(input: &Input, sniff: bool) -> Result<AbiInput, FormatError> {
        if let [rel] = input.files() {
            let data = if sniff {
                let mut head = Vec::new();
                let r = input.open_file(rel)?;
                use std::io::Read;
                r.take(abi::SNIFF_HEAD_BYTES as u64)
                    .read_to_end(&mut head)
                    .map_err(|e| FormatError::io(input.display(rel), e))?;
                head
            } else {
                input.read(rel)?
            };
            return Ok(AbiInput {
                kind: abi::INPUT_FILE,
                display: input.display(rel),
                file_name: rel.clone(),
                data,
            });
        }
        let data = if sniff {
            let names: BTreeMap<String, Vec<u8>> = input
                .files()
                .iter()
                .map(|f| (f.clone(), Vec::new()))
                .collect();
            cvat_format_api::io::zip_files(names)?
        } else {
            input.to_zip_bytes()?
        };
        Ok(AbiInput {
            kind: abi::INPUT_ZIP,
            display: input.name().to_string(),
            file_name: String::new(),
            data,
        })
    }
    fn as_abi(&self) -> InputV1 {
        InputV1 {
            kind: self.kind,
            display_name: Slice::new(self.display.as_bytes()),
            file_name: Slice::new(self.file_name.as_bytes()),
            data: Slice::new(&self.data),
        }
    }
}

#[derive(serde::Deserialize)]
struct SchemaOnly {
    schema: u32,
}

impl PluginFormat {
    /// The library file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The ABI version the plugin implements.
    pub fn abi_version(&self) -> u32 {
        self.abi_version
    }

    fn garbage(&self, what: &str, detail: impl std::fmt::Display) -> FormatError {
        FormatError::Plugin {
            plugin: self.label.clone(),
            message: format!("{what}: {detail}"),
        }
    }

    /// Turns a non-OK status and its error JSON into an error.
    fn failure(&self, entry: &str, code: i32, bytes: &[u8]) -> FormatError {
        match serde_json::from_slice::<ErrorReply>(bytes) {
            Ok(e) => e.into_error(code, &self.label),
            Err(e) => self.garbage(
                &format!("`{entry}` returned status {code} with an unreadable error"),
                e,
            ),
        }
    }

    fn read_options(opts: &ReadOptions) -> Result<Vec<u8>, FormatError> {
        serde_json::to_vec(&ReadOptionsJson::from(opts))
            .map_err(|e| FormatError::Other(format!("cannot serialise read options: {e}")))
    }

    /// Calls `import` or `validate` and returns the reply bytes (handed to `f` before they are freed).
    fn call_input<T>(
        &self,
        entry: &str,
        func: abi::ImportFn,
        input: &Input,
        opts: &ReadOptions,
        f: impl FnOnce(&[u8]) -> Result<T, FormatError>,
    ) -> Result<T, FormatError> {
        let free = self
            .table
            .free_buf
            .ok_or_else(|| self.garbage("table", "no free_buf"))?;
        let payload = AbiInput::from_input(input, false)?;
        let opts = Self::read_options(opts)?;
        let abi_input = payload.as_abi();
        let mut out = Owned::new(free);
        // SAFETY: every pointer passed is valid for the duration of the call.
        let code = unsafe { func(&abi_input, Slice::new(&opts), &mut out.buf) };
        let bytes = out
            .bytes()
            .map_err(|e| self.garbage(&format!("`{entry}`"), e))?;
        if code != status::OK {
            return Err(self.failure(entry, code, bytes));
        }
        f(bytes)
    }
}

impl Format for PluginFormat {
    fn info(&self) -> FormatInfo {
        self.info.clone()
    }

    fn sniff(&self, input: &Input) -> u8 {
        let Some(sniff) = self.table.sniff else {
            // no sniffer: a weak guess from the extensions the plugin declared
            let hit = input.files().iter().any(|f| {
                let lower = f.to_ascii_lowercase();
                self.info
                    .extensions
                    .iter()
                    .any(|e| lower.ends_with(&format!(".{}", e.to_ascii_lowercase())))
            });
            return if hit { 10 } else { 0 };
        };
        let Ok(payload) = AbiInput::from_input(input, true) else {
            return 0;
        };
        let abi_input = payload.as_abi();
        // SAFETY: the input is valid for the duration of the call.
        let score = unsafe { sniff(&abi_input) };
        score.clamp(0, 100) as u8
    }

    fn read(&self, input: &Input, opts: &ReadOptions) -> Result<Dataset, FormatError> {
        let Some(import) = self.table.import else {
            return Err(FormatError::Unsupported(format!(
                "{} cannot be imported",
                self.info.name
            )));
        };
        self.call_input("import", import, input, opts, |bytes| {
            let schema: SchemaOnly = serde_json::from_slice(bytes)
                .map_err(|e| self.garbage("`import` returned invalid model JSON", e))?;
            if schema.schema != abi::MODEL_SCHEMA {
                return Err(self.garbage(
                    "`import` returned an unsupported model",
                    format!(
                        "schema {} (this cvat-cli reads schema {})",
                        schema.schema,
                        abi::MODEL_SCHEMA
                    ),
                ));
            }
            let env: ModelEnvelope = serde_json::from_slice(bytes)
                .map_err(|e| self.garbage("`import` returned an invalid model", e))?;
            Ok(env.dataset)
        })
    }

    fn write(
        &self,
        dataset: &Dataset,
        out: &mut dyn OutputSink,
        opts: &WriteOptions,
    ) -> Result<DropReport, FormatError> {
        let Some(export) = self.table.export else {
            return Err(FormatError::Unsupported(format!(
                "{} cannot be exported",
                self.info.name
            )));
        };
        let free = self
            .table
            .free_buf
            .ok_or_else(|| self.garbage("table", "no free_buf"))?;
        let model = serde_json::to_vec(&ModelEnvelope {
            schema: abi::MODEL_SCHEMA,
            dataset,
        })
        .map_err(|e| FormatError::Other(format!("cannot serialise the model: {e}")))?;
        let wopts = serde_json::to_vec(&WriteOptionsJson::from(opts))
            .map_err(|e| FormatError::Other(format!("cannot serialise write options: {e}")))?;
        let mut data = Owned::new(free);
        let mut json = Owned::new(free);
        // SAFETY: every pointer passed is valid for the duration of the call.
        let code = unsafe {
            export(
                Slice::new(&model),
                Slice::new(&wopts),
                &mut data.buf,
                &mut json.buf,
            )
        };
        let json_bytes = json.bytes().map_err(|e| self.garbage("`export`", e))?;
        if code != status::OK {
            return Err(self.failure("export", code, json_bytes));
        }
        let reply: ExportReply = serde_json::from_slice(json_bytes)
            .map_err(|e| self.garbage("`export` returned an invalid reply", e))?;
        let bytes = data.bytes().map_err(|e| self.garbage("`export`", e))?;
        let write_err = |rel: &str, e: std::io::Error| FormatError::io(rel.to_string(), e);
        match reply.output {
            ExportPacking::File => {
                let name = reply
                    .file_name
                    .as_deref()
                    .filter(|n| !n.is_empty())
                    .ok_or_else(|| {
                        self.garbage("`export` returned an invalid reply", "no file_name")
                    })?;
                out.file(name)?
                    .write_all(bytes)
                    .map_err(|e| write_err(name, e))?;
            }
            ExportPacking::Zip => {
                let zip = Input::from_bytes(&format!("{} output", self.label), bytes.to_vec())
                    .map_err(|e| self.garbage("`export` returned an unreadable ZIP", e))?;
                for rel in zip.files() {
                    let content = zip.read(rel)?;
                    out.file(rel)?
                        .write_all(&content)
                        .map_err(|e| write_err(rel, e))?;
                }
            }
        }
        Ok(reply.drop_report())
    }

    fn validate(&self, input: &Input, opts: &ReadOptions) -> Diagnostics {
        let mut diags = Diagnostics::default();
        let Some(validate) = self.table.validate else {
            // the trait's default: read, then the model-level checks
            match self.read(input, opts) {
                Ok(ds) => {
                    let name = input.name().to_string();
                    check_dataset(
                        &ds,
                        &mut |r| Location::json(name.clone(), r.path()),
                        &mut diags,
                    );
                }
                Err(e) => diags.push(e.to_diagnostic(input.name())),
            }
            return diags;
        };
        let result = self.call_input("validate", validate, input, opts, |bytes| {
            serde_json::from_slice::<ValidateReply>(bytes)
                .map_err(|e| self.garbage("`validate` returned an invalid reply", e))
        });
        match result {
            Ok(reply) => {
                let kept = reply.diagnostics.len();
                diags.extend(reply.diagnostics);
                let total = reply.error_count + reply.warning_count;
                if total > kept {
                    diags.warning(
                        Location::file(input.name()),
                        "truncated",
                        format!("the plugin reported {} more problems", total - kept),
                    );
                }
            }
            Err(e) => diags.push(e.to_diagnostic(input.name())),
        }
        diags
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_path_ignores_empty_and_relative_entries() {
        let root = if cfg!(windows) { "C:\\p" } else { "/p" };
        let joined = std::env::join_paths([root, "", "rel/dir", "."]).unwrap();
        let (dirs, warnings) = search_dirs(&[PathBuf::from("cli")], Some(&joined), None);
        assert_eq!(
            dirs,
            vec![
                SearchDir {
                    path: PathBuf::from("cli"),
                    source: DirSource::Option
                },
                SearchDir {
                    path: PathBuf::from(root),
                    source: DirSource::Env
                },
            ]
        );
        assert_eq!(warnings.len(), 2, "{warnings:?}");
        assert!(warnings[0].contains("rel/dir"));
    }

    #[test]
    fn missing_config_dir_is_skipped() {
        let (dirs, _) = search_dirs(
            &[],
            None,
            Some(PathBuf::from("/nonexistent/cvat-cli/plugins")),
        );
        assert!(dirs.is_empty());
    }

    #[test]
    fn user_dir_ends_in_cvat_cli_plugins() {
        if let Some(d) = user_plugin_dir() {
            assert!(d.ends_with(Path::new("cvat-cli").join("plugins")));
            assert!(d.is_absolute());
        }
    }

    #[test]
    fn not_a_library_is_refused_with_its_reason() {
        let dir = tempfile::tempdir().unwrap();
        let fake = dir
            .path()
            .join(format!("fake.{}", std::env::consts::DLL_EXTENSION));
        std::fs::write(&fake, b"not a library").unwrap();
        std::fs::write(dir.path().join("readme.txt"), b"ignored").unwrap();
        let mut reg = Registry::new();
        let report = load_into(
            &mut reg,
            &[SearchDir {
                path: dir.path().to_path_buf(),
                source: DirSource::Option,
            }],
        );
        assert!(report.loaded.is_empty());
        assert_eq!(report.refused.len(), 1);
        assert!(report.refused[0].reason.starts_with("cannot be loaded"));
        assert!(report.refused[0].path.ends_with(fake.file_name().unwrap()));
        assert!(reg.entries().is_empty());
    }

    // A plugin in this process whose entry points return garbage, to check that each call fails
    // cleanly with a plugin error and nothing else breaks.
    unsafe extern "C" fn free_vec(buf: Buf) {
        drop(unsafe { buf.into_vec() });
    }
    fn reply(out: *mut Buf, bytes: &[u8]) {
        unsafe { out.write(Buf::from_vec(bytes.to_vec())) };
    }
    unsafe extern "C" fn import_not_json(_: *const InputV1, _: Slice, out: *mut Buf) -> i32 {
        reply(out, b"{\"schema\": 1, \"dataset\": [");
        status::OK
    }
    unsafe extern "C" fn import_schema_2(_: *const InputV1, _: Slice, out: *mut Buf) -> i32 {
        reply(out, br#"{"schema": 2, "dataset": {}}"#);
        status::OK
    }
    unsafe extern "C" fn import_null_buffer(_: *const InputV1, _: Slice, out: *mut Buf) -> i32 {
        unsafe {
            out.write(Buf {
                ptr: std::ptr::null_mut(),
                len: 5,
                cap: 0,
            })
        };
        status::OK
    }
    unsafe extern "C" fn import_odd_status(_: *const InputV1, _: Slice, out: *mut Buf) -> i32 {
        reply(out, b"\xff\xfe garbage");
        77
    }
    unsafe extern "C" fn validate_not_json(_: *const InputV1, _: Slice, out: *mut Buf) -> i32 {
        reply(out, b"[]");
        status::OK
    }
    unsafe extern "C" fn export_bad_zip(_: Slice, _: Slice, data: *mut Buf, json: *mut Buf) -> i32 {
        reply(data, b"PK\x03\x04 not really a zip");
        reply(json, br#"{"output": "zip", "dropped": []}"#);
        status::OK
    }
    unsafe extern "C" fn export_unsafe_path(
        _: Slice,
        _: Slice,
        data: *mut Buf,
        json: *mut Buf,
    ) -> i32 {
        reply(data, b"x");
        reply(json, br#"{"output": "file", "file_name": "../escape.txt"}"#);
        status::OK
    }

    fn fake(
        import: abi::ImportFn,
        validate: abi::ValidateFn,
        export: abi::ExportFn,
    ) -> PluginFormat {
        PluginFormat {
            path: PathBuf::from("/fake/libgarbage.so"),
            label: "/fake/libgarbage.so".into(),
            info: FormatInfo::new("Garbage 1.0").import().export(),
            abi_version: 1,
            table: PluginV1 {
                abi_version: 1,
                struct_size: abi::PLUGIN_V1_SIZE,
                describe: None,
                import: Some(import),
                export: Some(export),
                validate: Some(validate),
                free_buf: Some(free_vec),
                sniff: None,
            },
        }
    }

    fn plugin_message(r: Result<impl std::fmt::Debug, FormatError>) -> String {
        match r {
            Err(FormatError::Plugin { plugin, message }) => {
                assert_eq!(plugin, "/fake/libgarbage.so");
                message
            }
            other => panic!("expected a plugin error, got {other:?}"),
        }
    }

    #[test]
    fn garbage_from_a_plugin_is_an_error_for_that_call() {
        let input = Input::from_bytes("a.txt", b"data".to_vec()).unwrap();
        let opts = ReadOptions::default();
        let read = |f: abi::ImportFn| {
            plugin_message(fake(f, validate_not_json, export_bad_zip).read(&input, &opts))
        };
        assert!(read(import_not_json).contains("invalid model JSON"));
        let m = read(import_schema_2);
        assert!(m.contains("schema 2") && m.contains("schema 1"), "{m}");
        assert!(read(import_null_buffer).contains("null buffer"));
        let m = read(import_odd_status);
        assert!(
            m.contains("status 77") && m.contains("unreadable error"),
            "{m}"
        );

        let f = fake(import_not_json, validate_not_json, export_bad_zip);
        let d = f.validate(&input, &opts);
        assert!(d.has_errors());
        assert!(
            d.items()[0].message.contains("invalid reply"),
            "{:?}",
            d.items()
        );

        let mut sink = cvat_format_api::MemorySink::default();
        let m = plugin_message(f.write(&Dataset::default(), &mut sink, &WriteOptions::default()));
        assert!(m.contains("unreadable ZIP"), "{m}");
        assert!(sink.into_files().is_empty());

        // unsafe paths are refused by the output itself, not written
        let f = fake(import_not_json, validate_not_json, export_unsafe_path);
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("out.zip");
        let mut out =
            cvat_format_api::Output::create(&dest, cvat_format_api::OutputKind::Zip).unwrap();
        let e = f
            .write(&Dataset::default(), &mut out, &WriteOptions::default())
            .unwrap_err();
        assert!(e.to_string().contains("unsafe path"), "{e}");
        drop(out);
        assert!(!dest.exists());
    }

    unsafe extern "C" fn describe_ok(out: *mut Buf) -> i32 {
        reply(
            out,
            br#"{"name": "Fine 1.0", "can_import": true, "can_export": true}"#,
        );
        status::OK
    }
    unsafe extern "C" fn describe_unnamed(out: *mut Buf) -> i32 {
        reply(
            out,
            br#"{"name": " ", "can_import": true, "can_export": false}"#,
        );
        status::OK
    }
    unsafe extern "C" fn describe_fails(out: *mut Buf) -> i32 {
        reply(out, br#"{"kind": "other", "message": "no licence"}"#);
        status::INTERNAL
    }

    fn table(describe: Option<abi::DescribeFn>) -> PluginV1 {
        PluginV1 {
            abi_version: 1,
            struct_size: abi::PLUGIN_V1_SIZE,
            describe,
            import: Some(import_not_json),
            export: None,
            validate: None,
            free_buf: Some(free_vec),
            sniff: None,
        }
    }

    fn check(t: PluginV1) -> Result<PluginFormat, LoadError> {
        let t = Box::leak(Box::new(t));
        unsafe { from_table(Path::new("/fake/lib.so"), t) }
    }

    #[test]
    fn table_checks_name_what_is_wrong() {
        let ok = check(table(Some(describe_ok))).unwrap();
        assert_eq!(ok.info.name, "Fine 1.0");
        // no export entry: the description's can_export is not believed
        assert!(ok.info.can_import && !ok.info.can_export);

        let small = PluginV1 {
            struct_size: 16,
            ..table(Some(describe_ok))
        };
        let e = check(small).unwrap_err().to_string();
        assert!(
            e.contains("16 bytes") && e.contains(&format!("{} bytes", abi::PLUGIN_V1_SIZE)),
            "{e}"
        );
        let newer = PluginV1 {
            abi_version: 3,
            ..table(Some(describe_ok))
        };
        let e = check(newer).unwrap_err().to_string();
        assert!(e.contains("version 3") && e.contains("version 1"), "{e}");
        let e = check(table(None)).unwrap_err().to_string();
        assert!(e.contains("`describe` is null"), "{e}");
        let e = check(PluginV1 {
            free_buf: None,
            ..table(Some(describe_ok))
        })
        .unwrap_err()
        .to_string();
        assert!(e.contains("`free_buf` is null"), "{e}");
        let e = check(table(Some(describe_unnamed)))
            .unwrap_err()
            .to_string();
        assert!(e.contains("name is empty"), "{e}");
        let e = check(table(Some(describe_fails))).unwrap_err().to_string();
        assert!(e.contains("status 3") && e.contains("no licence"), "{e}");
        let e = unsafe { from_table(Path::new("/x.so"), std::ptr::null()) }.unwrap_err();
        assert!(matches!(e, LoadError::NullTable));
    }

    #[test]
    fn missing_directory_is_a_warning() {
        let mut reg = Registry::new();
        let report = load_into(
            &mut reg,
            &[SearchDir {
                path: PathBuf::from("/nonexistent/plugins"),
                source: DirSource::Option,
            }],
        );
        assert_eq!(report.warnings.len(), 1);
        assert!(report.warnings[0].contains("/nonexistent/plugins"));
        assert!(report.warnings[0].contains("--plugin-dir"));
    }
}
