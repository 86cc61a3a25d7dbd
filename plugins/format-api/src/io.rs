//! Inputs (a file, a directory or a ZIP, seen as one tree of files) and outputs (a file, a directory or a
//! ZIP, written atomically).
//!
//! Formats never touch the file system directly: they list and open files of an [`Input`] by relative,
//! `/`-separated paths, and write files into an [`OutputSink`]. That is what lets the same format code run
//! on a directory, inside a ZIP, in memory behind the plugin ABI, or inside the local server.

use crate::diag::{FormatError, Result};
use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::{self, BufReader, BufWriter, Cursor, Read, Seek, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// Files at least this large are memory-mapped by [`Input::bytes`].
const MAP_AT_LEAST: u64 = 1 << 20;

/// The bytes of one input file: owned, or a read-only memory map of it ([`Input::bytes`]).
pub enum Bytes {
    Owned(Vec<u8>),
    Mapped(memmap2::Mmap),
}

impl std::ops::Deref for Bytes {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        match self {
            Bytes::Owned(v) => v,
            Bytes::Mapped(m) => m,
        }
    }
}

trait ReadSeek: Read + Seek + Send {}
impl<T: Read + Seek + Send> ReadSeek for T {}

enum Kind {
    /// One plain file; its relative path is its file name.
    File(PathBuf),
    Dir(PathBuf),
    Zip(Mutex<zip::ZipArchive<Box<dyn ReadSeek>>>),
    Memory(BTreeMap<String, Vec<u8>>),
}

/// A read-only tree of files: one file, a directory, a ZIP archive, or files in memory.
pub struct Input {
    name: String,
    kind: Kind,
    files: Vec<String>,
}

impl std::fmt::Debug for Input {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Input")
            .field("name", &self.name)
            .field("files", &self.files.len())
            .finish()
    }
}

const ZIP_MAGIC: &[u8] = b"PK\x03\x04";
const ZIP_EMPTY_MAGIC: &[u8] = b"PK\x05\x06";

fn is_zip_magic(head: &[u8]) -> bool {
    head.starts_with(ZIP_MAGIC) || head.starts_with(ZIP_EMPTY_MAGIC)
}

fn zip_error(name: &str, e: zip::result::ZipError) -> FormatError {
    FormatError::invalid(
        crate::diag::Location::file(name),
        "zip",
        format!("not a readable ZIP archive: {e}"),
    )
}

impl Input {
    /// Opens `path`: a directory, a ZIP (recognised by its leading bytes) or a single file.
    pub fn open(path: &Path) -> Result<Input> {
        let name = path.display().to_string();
        let meta = fs::metadata(path).map_err(|e| FormatError::io(&name, e))?;
        if meta.is_dir() {
            let mut files = Vec::new();
            walk(path, path, &mut files).map_err(|e| FormatError::io(&name, e))?;
            files.sort();
            return Ok(Input {
                name,
                kind: Kind::Dir(path.to_path_buf()),
                files,
            });
        }
        let mut f = File::open(path).map_err(|e| FormatError::io(&name, e))?;
        let mut head = [0u8; 4];
        let n = read_up_to(&mut f, &mut head).map_err(|e| FormatError::io(&name, e))?;
        if is_zip_magic(&head[..n]) {
            f.rewind().map_err(|e| FormatError::io(&name, e))?;
            let reader: Box<dyn ReadSeek> = Box::new(BufReader::new(f));
            return Input::from_zip_reader(name, reader);
        }
        let file_name = path
            .file_name()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| name.clone());
        Ok(Input {
            name,
            kind: Kind::File(path.to_path_buf()),
            files: vec![file_name],
        })
    }

    /// An input from bytes: a ZIP if they look like one, else a single file called `file_name`.
    pub fn from_bytes(file_name: &str, bytes: Vec<u8>) -> Result<Input> {
        if is_zip_magic(&bytes) {
            let reader: Box<dyn ReadSeek> = Box::new(Cursor::new(bytes));
            return Input::from_zip_reader(file_name.to_string(), reader);
        }
        let mut files = BTreeMap::new();
        files.insert(file_name.to_string(), bytes);
        Ok(Input::from_files(file_name, files))
    }

    /// An input made of in-memory files (relative `/`-separated paths).
    pub fn from_files(name: &str, files: BTreeMap<String, Vec<u8>>) -> Input {
        Input {
            name: name.to_string(),
            files: files.keys().cloned().collect(),
            kind: Kind::Memory(files),
        }
    }

    fn from_zip_reader(name: String, reader: Box<dyn ReadSeek>) -> Result<Input> {
        let archive = zip::ZipArchive::new(reader).map_err(|e| zip_error(&name, e))?;
        let mut files: Vec<String> = archive
            .file_names()
            .filter(|n| !n.ends_with('/'))
            .map(|n| n.replace('\\', "/"))
            .collect();
        files.sort();
        Ok(Input {
            name,
            kind: Kind::Zip(Mutex::new(archive)),
            files,
        })
    }

    /// What the user called this input (a path).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Whether this is a single plain file (not a ZIP or directory).
    pub fn is_single_file(&self) -> bool {
        matches!(self.kind, Kind::File(_))
            || (matches!(self.kind, Kind::Memory(_)) && self.files.len() == 1)
    }

    pub fn is_archive(&self) -> bool {
        matches!(self.kind, Kind::Zip(_))
    }

    /// All files, as sorted relative `/`-separated paths.
    pub fn files(&self) -> &[String] {
        &self.files
    }

    pub fn contains(&self, rel: &str) -> bool {
        self.files.binary_search_by(|f| f.as_str().cmp(rel)).is_ok()
    }

    /// Files whose name ends with `suffix` (case-insensitive), e.g. `.json`.
    pub fn files_with_suffix<'a>(&'a self, suffix: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        let suffix = suffix.to_ascii_lowercase();
        self.files
            .iter()
            .map(|s| s.as_str())
            .filter(move |f| f.to_ascii_lowercase().ends_with(&suffix))
    }

    /// Finds a file by its path relative to the tree root, or, failing that, the shortest path ending
    /// in `/rel` (for archives that wrap everything in one top-level folder).
    pub fn find(&self, rel: &str) -> Option<&str> {
        if self.contains(rel) {
            return self.files.iter().find(|f| *f == rel).map(|s| s.as_str());
        }
        let tail = format!("/{rel}");
        self.files
            .iter()
            .filter(|f| f.ends_with(&tail))
            .min_by_key(|f| f.len())
            .map(|s| s.as_str())
    }

    /// How to name `rel` in a message: `path` for a single file, `dir/rel`, or `archive.zip:rel`.
    pub fn display(&self, rel: &str) -> String {
        match &self.kind {
            Kind::File(p) => p.display().to_string(),
            Kind::Dir(root) => root.join(rel).display().to_string(),
            Kind::Zip(_) => format!("{}:{rel}", self.name),
            Kind::Memory(m) if m.len() == 1 => self.name.clone(),
            Kind::Memory(_) => format!("{}:{rel}", self.name),
        }
    }

    /// A path on disk for `rel`, where there is one (single files and directories).
    pub fn local_path(&self, rel: &str) -> Option<PathBuf> {
        match &self.kind {
            Kind::File(p) => Some(p.clone()),
            Kind::Dir(root) => Some(root.join(rel)),
            _ => None,
        }
    }

    /// Size in bytes of `rel`, if known cheaply.
    pub fn size(&self, rel: &str) -> Option<u64> {
        match &self.kind {
            Kind::File(p) => fs::metadata(p).ok().map(|m| m.len()),
            Kind::Dir(root) => fs::metadata(root.join(rel)).ok().map(|m| m.len()),
            Kind::Zip(z) => {
                let mut z = z.lock().ok()?;
                let f = z.by_name(rel).ok()?;
                Some(f.size())
            }
            Kind::Memory(m) => m.get(rel).map(|v| v.len() as u64),
        }
    }

    /// Opens `rel` for streaming reads. Files and directories stream from disk; ZIP members are
    /// decompressed into memory first (one at a time).
    pub fn open_file(&self, rel: &str) -> Result<Box<dyn Read + Send + '_>> {
        match &self.kind {
            Kind::File(p) => {
                let f = File::open(p).map_err(|e| FormatError::io(self.display(rel), e))?;
                Ok(Box::new(BufReader::with_capacity(256 * 1024, f)))
            }
            Kind::Dir(root) => {
                let f = File::open(root.join(rel))
                    .map_err(|e| FormatError::io(self.display(rel), e))?;
                Ok(Box::new(BufReader::with_capacity(256 * 1024, f)))
            }
            Kind::Zip(_) | Kind::Memory(_) => Ok(Box::new(Cursor::new(self.read(rel)?))),
        }
    }

    /// Reads the whole of `rel`.
    pub fn read(&self, rel: &str) -> Result<Vec<u8>> {
        let not_found = || {
            FormatError::io(
                self.display(rel),
                io::Error::new(io::ErrorKind::NotFound, "no such file in the input"),
            )
        };
        match &self.kind {
            Kind::File(p) => fs::read(p).map_err(|e| FormatError::io(self.display(rel), e)),
            Kind::Dir(root) => {
                fs::read(root.join(rel)).map_err(|e| FormatError::io(self.display(rel), e))
            }
            Kind::Zip(z) => {
                let mut z = z
                    .lock()
                    .map_err(|_| FormatError::Other("zip archive lock poisoned".into()))?;
                let mut f = z.by_name(rel).map_err(|_| not_found())?;
                let mut buf = Vec::with_capacity(f.size().min(1 << 30) as usize);
                f.read_to_end(&mut buf)
                    .map_err(|e| FormatError::io(self.display(rel), e))?;
                Ok(buf)
            }
            Kind::Memory(m) => m.get(rel).cloned().ok_or_else(not_found),
        }
    }

    /// The bytes of `rel`, without a copy where possible: a plain file of 1 MiB or more is memory-mapped
    /// (a large annotation file is then parsed straight from the page cache: no 100 MB buffer to
    /// allocate, zero and fill); anything else is read as [`Input::read`] does. Like every reader of a
    /// mapped file, the caller sees garbage (never undefined behaviour of ours, but possibly SIGBUS) if
    /// another process truncates the file while it is being read.
    pub fn bytes(&self, rel: &str) -> Result<Bytes> {
        let path = match &self.kind {
            Kind::File(p) => p.clone(),
            Kind::Dir(root) => root.join(rel),
            _ => return self.read(rel).map(Bytes::Owned),
        };
        let f = File::open(&path).map_err(|e| FormatError::io(self.display(rel), e))?;
        let meta = f
            .metadata()
            .map_err(|e| FormatError::io(self.display(rel), e))?;
        let len = meta.len();
        if len >= MAP_AT_LEAST && meta.is_file() {
            // SAFETY: the map is read-only and private to this process; see the doc comment about
            // files truncated by someone else meanwhile.
            if let Ok(m) = unsafe { memmap2::Mmap::map(&f) } {
                #[cfg(unix)]
                let _ = m.advise(memmap2::Advice::Sequential);
                return Ok(Bytes::Mapped(m));
            }
        }
        let mut buf = Vec::with_capacity(len.min(1 << 30) as usize);
        let mut f = f;
        f.read_to_end(&mut buf)
            .map_err(|e| FormatError::io(self.display(rel), e))?;
        Ok(Bytes::Owned(buf))
    }

    /// Reads `rel` as UTF-8 text (a leading BOM is removed).
    pub fn read_text(&self, rel: &str) -> Result<String> {
        let bytes = self.read(rel)?;
        match String::from_utf8(bytes) {
            Ok(mut s) => {
                if s.starts_with('\u{feff}') {
                    s.drain(..3);
                }
                Ok(s)
            }
            Err(e) => {
                let off = e.utf8_error().valid_up_to();
                let bytes = e.into_bytes();
                Err(FormatError::invalid(
                    crate::diag::Location::at_offset(self.display(rel), &bytes, off),
                    "encoding",
                    "file is not valid UTF-8",
                ))
            }
        }
    }

    /// The whole tree as a ZIP in memory (what the plugin ABI passes for multi-file inputs).
    pub fn to_zip_bytes(&self) -> Result<Vec<u8>> {
        let mut sink = MemorySink::default();
        for rel in &self.files {
            let data = self.read(rel)?;
            sink.file(rel)?
                .write_all(&data)
                .map_err(|e| FormatError::io(rel, e))?;
        }
        zip_files(sink.into_files())
    }
}

fn read_up_to(r: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

fn walk(root: &Path, dir: &Path, out: &mut Vec<String>) -> io::Result<()> {
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        let path = entry.path();
        let ft = entry.file_type()?;
        if ft.is_dir() {
            walk(root, &path, out)?;
        } else if ft.is_file() || (ft.is_symlink() && path.is_file()) {
            if let Ok(rel) = path.strip_prefix(root) {
                let rel: Vec<String> = rel
                    .components()
                    .map(|c| c.as_os_str().to_string_lossy().into_owned())
                    .collect();
                out.push(rel.join("/"));
            }
        }
    }
    Ok(())
}

/// Where a format writes its files. Call [`OutputSink::file`] for each file in turn and write its whole
/// content before starting the next.
pub trait OutputSink {
    /// Starts file `rel` (relative, `/`-separated) and returns the writer for its content.
    fn file(&mut self, rel: &str) -> Result<&mut dyn Write>;

    /// Writes the whole of file `rel` at once. Formats that write many small files (one per frame)
    /// use it: a directory [`Output`] hands them to a background writer, so that creating thousands of
    /// files overlaps with formatting them. An error of the background writer surfaces at a later call
    /// or at [`Output::commit`].
    fn write_file(&mut self, rel: &str, data: Vec<u8>) -> Result<()> {
        write_whole(self, rel, &data)
    }
}

/// `rel` written in one go through [`OutputSink::file`].
fn write_whole<S: OutputSink + ?Sized>(sink: &mut S, rel: &str, data: &[u8]) -> Result<()> {
    sink.file(rel)?
        .write_all(data)
        .map_err(|e| FormatError::io(rel, e))
}

/// Creates the parent directory of `path` unless `made` says it already exists.
fn make_parent(made: &mut std::collections::HashSet<PathBuf>, path: &Path) -> io::Result<()> {
    if let Some(parent) = path.parent() {
        if !made.contains(parent) {
            fs::create_dir_all(parent)?;
            made.insert(parent.to_path_buf());
        }
    }
    Ok(())
}

/// Collects files in memory.
#[derive(Default)]
pub struct MemorySink {
    files: BTreeMap<String, Vec<u8>>,
    current: Option<String>,
    buf: Vec<u8>,
}

impl MemorySink {
    fn flush_current(&mut self) {
        if let Some(name) = self.current.take() {
            self.files.insert(name, std::mem::take(&mut self.buf));
        }
    }
    pub fn into_files(mut self) -> BTreeMap<String, Vec<u8>> {
        self.flush_current();
        self.files
    }
}

impl OutputSink for MemorySink {
    fn file(&mut self, rel: &str) -> Result<&mut dyn Write> {
        self.flush_current();
        self.current = Some(rel.to_string());
        Ok(&mut self.buf)
    }
}

/// Packs in-memory files into a ZIP.
pub fn zip_files(files: BTreeMap<String, Vec<u8>>) -> Result<Vec<u8>> {
    let mut w = zip::ZipWriter::new(Cursor::new(Vec::new()));
    let opts = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated);
    for (name, data) in files {
        w.start_file(name.as_str(), opts)
            .map_err(|e| FormatError::Other(format!("zip: {e}")))?;
        w.write_all(&data).map_err(|e| FormatError::io(name, e))?;
    }
    let cursor = w
        .finish()
        .map_err(|e| FormatError::Other(format!("zip: {e}")))?;
    Ok(cursor.into_inner())
}

/// What an [`Output`] writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutputKind {
    /// Exactly one file; the format's single file goes to the path as it is.
    File,
    /// A ZIP archive holding the format's files.
    Zip,
    /// A directory holding the format's files.
    Dir,
}

impl OutputKind {
    /// Chooses by the path: `.zip` → ZIP; an existing directory or a trailing `/` → directory; else file.
    pub fn for_path(path: &Path) -> OutputKind {
        let s = path.to_string_lossy();
        if s.to_ascii_lowercase().ends_with(".zip") {
            OutputKind::Zip
        } else if path.is_dir() || s.ends_with('/') || s.ends_with(std::path::MAIN_SEPARATOR) {
            OutputKind::Dir
        } else {
            OutputKind::File
        }
    }
}

enum Target {
    File {
        file: Option<BufWriter<File>>,
        started: Option<String>,
    },
    Zip {
        zip: Option<Box<zip::ZipWriter<BufWriter<File>>>>,
    },
    Dir {
        current: Option<BufWriter<File>>,
        /// directories already created under the temporary tree (one `mkdir` per directory, not per file)
        made: std::collections::HashSet<PathBuf>,
        /// the background writer of [`OutputSink::write_file`], started on first use
        background: Option<DirWriter>,
    },
}

/// Threads that create the files handed to them (whole contents) under a directory. Creating a small
/// file costs a few syscalls that dominate exports of many small files (YOLO writes one per frame), and
/// they run in parallel even within one directory: two threads create 50,000 files in half the time of one.
struct DirWriter {
    /// one bounded queue per thread: memory stays bounded when formatting outpaces the file system
    txs: Vec<std::sync::mpsc::SyncSender<FileBatch>>,
    /// per thread, the files not yet handed over: they go in batches (one wake-up of a thread per
    /// batch, not per file). A path always goes to the same thread, so that a file written twice ends
    /// with its last contents, as when one thread writes everything.
    batches: Vec<FileBatch>,
    handles: Vec<std::thread::JoinHandle<std::result::Result<(), (PathBuf, io::Error)>>>,
}

/// Files (path, whole contents) handed to a [`DirWriter`] thread at once.
type FileBatch = Vec<(PathBuf, Vec<u8>)>;

/// Files per batch handed to a [`DirWriter`] thread.
const DIR_WRITER_BATCH: usize = 64;

/// How many threads a [`DirWriter`] runs: the machine's cores, at most 4.
fn dir_writer_threads() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
        .clamp(1, 4)
}

impl DirWriter {
    fn start() -> DirWriter {
        let n = dir_writer_threads();
        let mut txs = Vec::with_capacity(n);
        let mut handles = Vec::with_capacity(n);
        for _ in 0..n {
            let (tx, rx) = std::sync::mpsc::sync_channel::<FileBatch>(8);
            txs.push(tx);
            handles.push(std::thread::spawn(move || {
                // each thread creates a directory at most once (create_dir_all tolerates another
                // thread having made it first)
                let mut made: std::collections::HashSet<PathBuf> = Default::default();
                let mut failed = None;
                for (path, data) in rx.into_iter().flatten() {
                    if failed.is_some() {
                        continue; // keep draining so that the sender never blocks; the first error is kept
                    }
                    let r = make_parent(&mut made, &path)
                        .and_then(|()| File::create(&path)?.write_all(&data));
                    if let Err(e) = r {
                        failed = Some((path, e));
                    }
                }
                match failed {
                    Some(f) => Err(f),
                    None => Ok(()),
                }
            }));
        }
        DirWriter {
            txs,
            batches: (0..n).map(|_| Vec::new()).collect(),
            handles,
        }
    }

    /// Queues one file; false when a thread has stopped (it can only have failed).
    fn send(&mut self, path: PathBuf, data: Vec<u8>) -> bool {
        use std::hash::{Hash, Hasher};
        if self.batches.is_empty() {
            return false;
        }
        let mut h = std::collections::hash_map::DefaultHasher::new();
        path.hash(&mut h);
        let i = (h.finish() % self.batches.len() as u64) as usize;
        self.batches[i].push((path, data));
        self.batches[i].len() < DIR_WRITER_BATCH || self.flush(i)
    }

    /// Hands thread `i` its batch.
    fn flush(&mut self, i: usize) -> bool {
        let (Some(batch), Some(tx)) = (self.batches.get_mut(i), self.txs.get(i)) else {
            return false;
        };
        batch.is_empty() || tx.send(std::mem::take(batch)).is_ok()
    }

    /// Waits for every queued file; the first error, if any (in thread order).
    fn finish(&mut self) -> std::result::Result<(), (PathBuf, io::Error)> {
        for i in 0..self.batches.len() {
            let _ = self.flush(i);
        }
        self.batches.clear();
        self.txs.clear();
        let mut first = Ok(());
        for h in self.handles.drain(..) {
            let r = match h.join() {
                Ok(r) => r,
                Err(_) => Err((
                    PathBuf::new(),
                    io::Error::other("the background file writer panicked"),
                )),
            };
            if first.is_ok() {
                first = r;
            }
        }
        first
    }
}

impl Drop for DirWriter {
    fn drop(&mut self) {
        let _ = self.finish();
    }
}

/// An atomic output on disk: everything is written under a temporary name beside the destination and
/// renamed into place by [`Output::commit`]. Dropped without commit, it leaves nothing behind.
pub struct Output {
    dest: PathBuf,
    temp: PathBuf,
    target: Target,
    committed: bool,
}

impl Output {
    pub fn create(dest: &Path, kind: OutputKind) -> Result<Output> {
        let disp = dest.display().to_string();
        let parent = match dest.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        if !parent.is_dir() {
            return Err(FormatError::io(
                &disp,
                io::Error::new(
                    io::ErrorKind::NotFound,
                    format!("directory {} does not exist", parent.display()),
                ),
            ));
        }
        let base = dest
            .file_name()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| "output".to_string());
        let temp = parent.join(format!(".{base}.tmp-{}-{}", std::process::id(), unique()));
        let target = match kind {
            OutputKind::File => Target::File {
                file: None,
                started: None,
            },
            OutputKind::Zip => {
                let f = File::create(&temp).map_err(|e| FormatError::io(&disp, e))?;
                Target::Zip {
                    zip: Some(Box::new(zip::ZipWriter::new(BufWriter::with_capacity(
                        256 * 1024,
                        f,
                    )))),
                }
            }
            OutputKind::Dir => {
                if dest.exists()
                    && fs::read_dir(dest)
                        .map(|mut d| d.next().is_some())
                        .unwrap_or(true)
                {
                    return Err(FormatError::io(
                        &disp,
                        io::Error::new(
                            io::ErrorKind::AlreadyExists,
                            "directory exists and is not empty",
                        ),
                    ));
                }
                fs::create_dir(&temp).map_err(|e| FormatError::io(&disp, e))?;
                Target::Dir {
                    current: None,
                    made: Default::default(),
                    background: None,
                }
            }
        };
        Ok(Output {
            dest: dest.to_path_buf(),
            temp,
            target,
            committed: false,
        })
    }

    /// Finishes writing and moves the result into place.
    pub fn commit(mut self) -> Result<()> {
        let disp = self.dest.display().to_string();
        match &mut self.target {
            Target::File { file, .. } => match file.take() {
                Some(mut f) => {
                    f.flush().map_err(|e| FormatError::io(&disp, e))?;
                    f.into_inner()
                        .map_err(|e| FormatError::io(&disp, e.into_error()))?
                        .sync_all()
                        .map_err(|e| FormatError::io(&disp, e))?;
                }
                None => {
                    return Err(FormatError::Other(format!(
                        "{disp}: the format wrote no file"
                    )))
                }
            },
            Target::Zip { zip } => {
                if let Some(zip) = zip.take() {
                    let mut w = zip
                        .finish()
                        .map_err(|e| FormatError::Other(format!("{disp}: zip: {e}")))?;
                    w.flush().map_err(|e| FormatError::io(&disp, e))?;
                }
            }
            Target::Dir {
                current,
                background,
                ..
            } => {
                if let Some(mut f) = current.take() {
                    f.flush().map_err(|e| FormatError::io(&disp, e))?;
                }
                if let Some(mut w) = background.take() {
                    w.finish()
                        .map_err(|(path, e)| background_error(&self.temp, &disp, &path, e))?;
                }
                if self.dest.is_dir() {
                    fs::remove_dir(&self.dest).map_err(|e| FormatError::io(&disp, e))?;
                }
            }
        }
        fs::rename(&self.temp, &self.dest).map_err(|e| FormatError::io(&disp, e))?;
        self.committed = true;
        Ok(())
    }

    /// Where the result will be.
    pub fn dest(&self) -> &Path {
        &self.dest
    }
}

fn unique() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos() as u64)
        .unwrap_or(0);
    t ^ (N.fetch_add(1, Ordering::Relaxed) << 32)
}

/// An error of the background writer, naming the file by its path inside the output.
fn background_error(temp: &Path, disp: &str, path: &Path, e: io::Error) -> FormatError {
    match path.strip_prefix(temp) {
        Ok(rel) if !rel.as_os_str().is_empty() => {
            FormatError::io(format!("{disp}/{}", rel.display()), e)
        }
        _ => FormatError::io(disp, e),
    }
}

impl Drop for Output {
    fn drop(&mut self) {
        // the background writer must stop before its directory is removed
        if let Target::Dir { background, .. } = &mut self.target {
            drop(background.take());
        }
        if !self.committed {
            if self.temp.is_dir() {
                let _ = fs::remove_dir_all(&self.temp);
            } else {
                let _ = fs::remove_file(&self.temp);
            }
        }
    }
}

fn safe_rel(rel: &str) -> Result<()> {
    let bad = rel.is_empty()
        || rel.starts_with('/')
        || rel.contains('\\')
        || rel.split('/').any(|c| c == ".." || c.is_empty());
    if bad {
        return Err(FormatError::Other(format!(
            "refusing to write unsafe path {rel:?}"
        )));
    }
    Ok(())
}

impl OutputSink for Output {
    fn write_file(&mut self, rel: &str, data: Vec<u8>) -> Result<()> {
        let Target::Dir {
            current,
            background,
            ..
        } = &mut self.target
        else {
            return write_whole(self, rel, &data);
        };
        safe_rel(rel)?;
        // called once per file, thousands of times: the display name is only made for an error
        let disp = || self.dest.display().to_string();
        if let Some(mut f) = current.take() {
            f.flush().map_err(|e| FormatError::io(disp(), e))?;
        }
        let w = background.get_or_insert_with(DirWriter::start);
        let sent = w.send(self.temp.join(rel), data);
        if !sent {
            // the writer stopped early: it can only be an error
            let r = w.finish();
            *background = None;
            let disp = disp();
            r.map_err(|(path, e)| background_error(&self.temp, &disp, &path, e))?;
            return Err(FormatError::Other(format!(
                "{disp}: the background file writer stopped"
            )));
        }
        Ok(())
    }

    fn file(&mut self, rel: &str) -> Result<&mut dyn Write> {
        safe_rel(rel)?;
        let disp = self.dest.display().to_string();
        match &mut self.target {
            Target::File { file, started } => {
                if let Some(first) = started {
                    return Err(FormatError::Unsupported(format!(
                        "{disp}: this format writes several files ({first}, {rel}, ...); \
                         give an output path ending in .zip, or a directory ending in /"
                    )));
                }
                *started = Some(rel.to_string());
                let f = File::create(&self.temp).map_err(|e| FormatError::io(&disp, e))?;
                Ok(file.insert(BufWriter::with_capacity(256 * 1024, f)))
            }
            Target::Zip { zip } => {
                let zip = zip.as_mut().ok_or_else(|| {
                    FormatError::Other(format!("{disp}: output already finished"))
                })?;
                let opts = zip::write::SimpleFileOptions::default()
                    .compression_method(zip::CompressionMethod::Deflated)
                    .large_file(true);
                zip.start_file(rel, opts)
                    .map_err(|e| FormatError::Other(format!("{disp}: zip: {e}")))?;
                Ok(&mut **zip)
            }
            Target::Dir { current, made, .. } => {
                if let Some(mut f) = current.take() {
                    f.flush().map_err(|e| FormatError::io(&disp, e))?;
                }
                let path = self.temp.join(rel);
                make_parent(made, &path).map_err(|e| FormatError::io(&disp, e))?;
                let f = File::create(&path).map_err(|e| FormatError::io(&disp, e))?;
                // many small files (one per frame) are usual here: a modest buffer each
                Ok(current.insert(BufWriter::with_capacity(64 * 1024, f)))
            }
        }
    }
}
