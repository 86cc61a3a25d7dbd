//! Offline use cases on annotation files: [`validate`] and [`convert`], plus [`read_hints`] which turns
//! the server's JSON answers and an image folder into [`ReadOptions`].
//!
//! Nothing here prints: results come back as reports, failures as [`OpsError`], which knows whether it
//! is the user's doing (a usage error: unknown format, unreadable path) or the input's (invalid data).

use cvat_format_api::{
    Dataset, Diagnostic, DropReport, Entry, FormatError, Frame, Input, Output, OutputKind,
    OutputSink, ReadOptions, Registry, Severity, WriteOptions,
};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

/// Why an offline operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OpsError {
    #[error("no format named {name:?}")]
    UnknownFormat {
        name: String,
        /// Close names, for a "did you mean" hint.
        suggestions: Vec<String>,
    },
    #[error("could not tell the format of {input}")]
    NotDetected { input: String },
    #[error("{name:?} cannot be imported (it is export-only)")]
    CannotImport { name: String },
    #[error("{name:?} cannot be exported (it is import-only)")]
    CannotExport { name: String },
    #[error("{output}: {format:?} writes several files ({first}, {second}, ...), not one")]
    SeveralFiles {
        output: String,
        format: String,
        first: String,
        second: String,
    },
    /// A usage problem with an argument (an option's file or folder).
    #[error("{message}")]
    Usage { message: String, hint: String },
    /// Reading the input failed; says which format it was read as.
    #[error("{source}")]
    Read {
        format: String,
        detected: bool,
        source: FormatError,
    },
    #[error(transparent)]
    Format(#[from] FormatError),
}

impl OpsError {
    /// What the user can do about it, if anything.
    pub fn hint(&self) -> Option<String> {
        match self {
            OpsError::UnknownFormat { suggestions, .. } if !suggestions.is_empty() => {
                Some(format!(
                    "did you mean {}? (`cvat-cli formats` lists every format)",
                    suggestions
                        .iter()
                        .map(|s| format!("{s:?}"))
                        .collect::<Vec<_>>()
                        .join(" or ")
                ))
            }
            OpsError::UnknownFormat { .. } => {
                Some("`cvat-cli formats` lists every format".to_string())
            }
            OpsError::NotDetected { .. } => Some(
                "name the format with --format/--from; `cvat-cli formats` lists them".to_string(),
            ),
            OpsError::CannotImport { .. } => Some(
                "`cvat-cli formats` shows which formats can be imported (e.g. \"CVAT 1.1\" reads \
                 what \"CVAT for images 1.1\" writes)"
                    .to_string(),
            ),
            OpsError::CannotExport { .. } => {
                Some("`cvat-cli formats` shows which formats can be exported".to_string())
            }
            OpsError::SeveralFiles { .. } => Some(
                "give an output path ending in .zip, or a directory (an existing one, or a path \
                 ending in /)"
                    .to_string(),
            ),
            OpsError::Usage { hint, .. } => Some(hint.clone()),
            OpsError::Format(e) => e.hint().map(str::to_string),
            OpsError::Read {
                format,
                detected,
                source,
            } => {
                let how = if *detected {
                    format!(
                        "the input was read as {format:?} (detected); if that is wrong, name the \
                         format with --from"
                    )
                } else {
                    format!("the input was read as {format:?}")
                };
                Some(match source.hint() {
                    Some(h) => format!("{h}\n{how}"),
                    None => how,
                })
            }
        }
    }

    /// Whether this is a usage or I/O error (exit code 2) rather than invalid input (exit code 1).
    pub fn is_usage(&self) -> bool {
        match self {
            OpsError::Format(e) | OpsError::Read { source: e, .. } => {
                matches!(e, FormatError::Io { .. } | FormatError::UnknownFormat(_))
            }
            OpsError::UnknownFormat { .. }
            | OpsError::NotDetected { .. }
            | OpsError::CannotImport { .. }
            | OpsError::CannotExport { .. }
            | OpsError::SeveralFiles { .. }
            | OpsError::Usage { .. } => true,
        }
    }
}

/// Finds a format by name or alias, with suggestions when there is none.
pub fn resolve<'r>(registry: &'r Registry, name: &str) -> Result<&'r Entry, OpsError> {
    registry.get(name).ok_or_else(|| OpsError::UnknownFormat {
        name: name.to_string(),
        suggestions: suggestions(registry, name),
    })
}

/// Names close to `name`: the registry's own suggestions, then names within a small edit distance.
pub fn suggestions(registry: &Registry, name: &str) -> Vec<String> {
    let mut out: Vec<String> = registry
        .suggestions(name)
        .into_iter()
        .map(str::to_string)
        .collect();
    let lower = name.to_lowercase();
    let mut close: Vec<(usize, &str)> = registry
        .entries()
        .iter()
        .map(|e| {
            let d = std::iter::once(&e.info.name)
                .chain(e.info.aliases.iter())
                .map(|n| edit_distance(&lower, &n.to_lowercase()))
                .min()
                .unwrap_or(usize::MAX);
            (d, e.info.name.as_str())
        })
        .filter(|(d, _)| *d <= (lower.chars().count() / 3).max(2))
        .collect();
    close.sort();
    for (_, n) in close {
        if !out.iter().any(|o| o == n) {
            out.push(n.to_string());
        }
    }
    out.truncate(5);
    out
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            let sub = prev[j] + usize::from(ca != *cb);
            cur[j + 1] = sub.min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

fn importer<'r>(
    registry: &'r Registry,
    name: Option<&str>,
    input: &Input,
) -> Result<(&'r Entry, bool), OpsError> {
    let (entry, detected) = match name {
        Some(n) => (resolve(registry, n)?, false),
        None => (
            registry
                .detect(input)
                .ok_or_else(|| OpsError::NotDetected {
                    input: input.name().to_string(),
                })?,
            true,
        ),
    };
    if !entry.info.can_import {
        return Err(OpsError::CannotImport {
            name: entry.info.name.clone(),
        });
    }
    Ok((entry, detected))
}

/// What `validate` found in one path.
#[derive(Debug, Clone, serde::Serialize)]
pub struct FileReport {
    pub path: String,
    /// The format the path was checked as.
    pub format: String,
    /// Whether the format was detected (not given).
    pub detected: bool,
    pub errors: usize,
    pub warnings: usize,
    /// Diagnostics seen but not kept (a broken file can produce very many).
    pub not_shown: usize,
    pub diagnostics: Vec<Diagnostic>,
}

/// What `validate` found.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct ValidateReport {
    pub files: Vec<FileReport>,
}

impl ValidateReport {
    pub fn errors(&self) -> usize {
        self.files.iter().map(|f| f.errors).sum()
    }
    pub fn warnings(&self) -> usize {
        self.files.iter().map(|f| f.warnings).sum()
    }
    pub fn is_valid(&self) -> bool {
        self.errors() == 0
    }
}

/// Checks every path (a file, a directory or a ZIP) as `format`, or as the format detected for it.
/// A path that cannot be opened or whose format cannot be told is an error; problems inside the files
/// are diagnostics of the report.
pub fn validate(
    registry: &Registry,
    paths: &[PathBuf],
    format: Option<&str>,
    opts: &ReadOptions,
) -> Result<ValidateReport, OpsError> {
    // an unknown or export-only format is refused before any file is opened
    if let Some(name) = format {
        let e = resolve(registry, name)?;
        if !e.info.can_import {
            return Err(OpsError::CannotImport {
                name: e.info.name.clone(),
            });
        }
    }
    let mut report = ValidateReport::default();
    for path in paths {
        let disp = path.display().to_string();
        let input = match Input::open(path) {
            Ok(i) => i,
            Err(e @ FormatError::Invalid(_)) => {
                // e.g. a broken ZIP: a finding about the file, not a usage error
                let d = e.to_diagnostic(&disp);
                report.files.push(FileReport {
                    path: disp,
                    format: format.unwrap_or("-").to_string(),
                    detected: false,
                    errors: 1,
                    warnings: 0,
                    not_shown: 0,
                    diagnostics: vec![d],
                });
                continue;
            }
            Err(e) => return Err(e.into()),
        };
        let (entry, detected) = importer(registry, format, &input)?;
        let diags = entry.format.validate(&input, opts);
        report.files.push(FileReport {
            path: disp,
            format: entry.info.name.clone(),
            detected,
            errors: diags.error_count(),
            warnings: diags.warning_count(),
            not_shown: diags.truncated(),
            diagnostics: diags.into_items(),
        });
    }
    Ok(report)
}

/// How much a dataset holds, for summaries.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct Counts {
    pub labels: usize,
    pub frames: usize,
    pub tags: usize,
    pub shapes: usize,
    pub tracks: usize,
}

impl Counts {
    pub fn of(ds: &Dataset) -> Counts {
        Counts {
            labels: ds.labels.len(),
            frames: ds.frames.len(),
            tags: ds.tags.len(),
            shapes: ds.shapes.len(),
            tracks: ds.tracks.len(),
        }
    }
}

impl std::fmt::Display for Counts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} labels, {} frames, {} tags, {} shapes, {} tracks",
            self.labels, self.frames, self.tags, self.shapes, self.tracks
        )
    }
}

/// What `convert` did.
#[derive(Debug, Clone)]
pub struct ConvertReport {
    /// The input format (given or detected).
    pub from: String,
    pub from_detected: bool,
    pub to: String,
    /// What was read.
    pub counts: Counts,
    /// What the output format could not carry.
    pub drops: DropReport,
    pub output: PathBuf,
    pub output_kind: OutputKind,
}

/// What to convert, and how.
#[derive(Debug, Clone)]
pub struct ConvertRequest<'a> {
    pub input: &'a Path,
    /// Input format; detected when `None`.
    pub from: Option<&'a str>,
    pub to: &'a str,
    /// `.zip` → a ZIP, an existing directory or a path ending in `/` → a directory, else one file.
    pub output: &'a Path,
    pub read: ReadOptions,
    pub write: WriteOptions,
}

/// Reads `input` and writes it as `to`. The output appears only when everything was written: a failure
/// at any point leaves neither the output nor a temporary file behind.
pub fn convert(registry: &Registry, req: &ConvertRequest<'_>) -> Result<ConvertReport, OpsError> {
    // check both names before doing any work
    let to = resolve(registry, req.to)?;
    if !to.info.can_export {
        return Err(OpsError::CannotExport {
            name: to.info.name.clone(),
        });
    }
    if let Some(from) = req.from {
        let e = resolve(registry, from)?;
        if !e.info.can_import {
            return Err(OpsError::CannotImport {
                name: e.info.name.clone(),
            });
        }
    }
    let input = Input::open(req.input)?;
    let (from, detected) = importer(registry, req.from, &input)?;
    let dataset = from
        .format
        .read(&input, &req.read)
        .map_err(|source| OpsError::Read {
            format: from.info.name.clone(),
            detected,
            source,
        })?;
    drop(input);

    let kind = OutputKind::for_path(req.output);
    let drops = write_atomically(to, &dataset, req.output, kind, &req.write);
    let counts = Counts::of(&dataset);
    // freeing half a million shapes takes tens of milliseconds: the caller need not wait for it
    drop_in_background(dataset);
    Ok(ConvertReport {
        from: from.info.name.clone(),
        from_detected: detected,
        to: to.info.name.clone(),
        counts,
        drops: drops?,
        output: req.output.to_path_buf(),
        output_kind: kind,
    })
}

/// Drops `value` on another thread (or here, when no thread can be started).
fn drop_in_background<T: Send + 'static>(value: T) {
    let _ = std::thread::Builder::new()
        .name("drop".to_string())
        .spawn(move || drop(value));
}

/// Writes `dataset` as format `to` into `dest` through an atomic [`Output`].
pub fn write_atomically(
    to: &Entry,
    dataset: &Dataset,
    dest: &Path,
    kind: OutputKind,
    opts: &WriteOptions,
) -> Result<DropReport, OpsError> {
    let mut out = Output::create(dest, kind)?;
    let mut sink = Watch {
        inner: &mut out,
        single: kind == OutputKind::File,
        started: Vec::new(),
    };
    let result = to.format.write(dataset, &mut sink, opts);
    let several = (sink.started.len() > 1).then(|| sink.started.clone());
    match result {
        Ok(drops) => {
            out.commit()?;
            Ok(drops)
        }
        // `out` is dropped here without commit: the temporary file goes with it
        Err(e) => match several {
            Some(names) => Err(OpsError::SeveralFiles {
                output: dest.display().to_string(),
                format: to.info.name.clone(),
                first: names.first().cloned().unwrap_or_default(),
                second: names.get(1).cloned().unwrap_or_default(),
            }),
            None => Err(e.into()),
        },
    }
}

/// Notes which files a format starts, to explain a multi-file format aimed at a single-file path.
struct Watch<'a> {
    inner: &'a mut Output,
    single: bool,
    started: Vec<String>,
}

impl OutputSink for Watch<'_> {
    fn file(&mut self, rel: &str) -> cvat_format_api::Result<&mut dyn Write> {
        if self.single {
            self.started.push(rel.to_string());
        }
        self.inner.file(rel)
    }
    fn write_file(&mut self, rel: &str, data: Vec<u8>) -> cvat_format_api::Result<()> {
        if self.single {
            self.started.push(rel.to_string());
        }
        self.inner.write_file(rel, data)
    }
}

/// Builds [`ReadOptions`] from the server's JSON answers and an image folder:
/// - `labels`: `GET /api/labels?task_id=` (paginated answer or a bare list);
/// - `frames`: `GET /api/tasks/{id}/data/meta` (or a bare list of `{name, width, height}`);
/// - `images`: a directory of images whose headers give frame sizes. Without `frames`, the images
///   become the frames (sorted by path, numbered from 0, as the server does); with `frames`, they fill
///   in sizes the frame list lacks.
pub fn read_hints(
    labels: Option<&Path>,
    frames: Option<&Path>,
    images: Option<&Path>,
) -> Result<ReadOptions, OpsError> {
    use cvat_format_api::rest::{parse_frames, parse_labels};
    let read = |p: &Path| {
        std::fs::read(p).map_err(|e| OpsError::from(FormatError::io(p.display().to_string(), e)))
    };
    let mut opts = ReadOptions::default();
    if let Some(p) = labels {
        opts = opts.with_labels(parse_labels(&p.display().to_string(), &read(p)?)?);
    }
    let mut frame_list = match frames {
        Some(p) => Some(parse_frames(&p.display().to_string(), &read(p)?)?),
        None => None,
    };
    if let Some(dir) = images {
        let sized = image_sizes(dir)?;
        match &mut frame_list {
            Some(list) => {
                for f in list.iter_mut().filter(|f| !f.has_size()) {
                    let base = f.name.rsplit('/').next().unwrap_or(&f.name);
                    let hit = sized.iter().find(|(n, _)| *n == f.name).or_else(|| {
                        sized
                            .iter()
                            .find(|(n, _)| n.rsplit('/').next() == Some(base))
                    });
                    if let Some((_, (w, h))) = hit {
                        f.width = *w;
                        f.height = *h;
                    }
                }
            }
            None => {
                frame_list = Some(
                    sized
                        .into_iter()
                        .enumerate()
                        .map(|(i, (name, (width, height)))| Frame {
                            id: i as u32,
                            name,
                            width,
                            height,
                            subset: None,
                        })
                        .collect(),
                )
            }
        }
    }
    if let Some(list) = frame_list {
        opts = opts.with_frames(list);
    }
    Ok(opts)
}

/// An image's relative path and its `(width, height)`.
pub type ImageSize = (String, (u32, u32));

/// Sizes of the images under `dir`, read from their headers, sorted by relative path.
pub fn image_sizes(dir: &Path) -> Result<Vec<ImageSize>, OpsError> {
    use cvat_format_api::imagesize::{image_size, is_image_name};
    if !dir.is_dir() {
        return Err(OpsError::Usage {
            message: format!("{}: not a directory", dir.display()),
            hint: "--images takes the folder that holds the task's images".to_string(),
        });
    }
    let input = Input::open(dir)?;
    let mut out = Vec::new();
    for rel in input.files().iter().filter(|r| is_image_name(r)) {
        let mut head = Vec::new();
        input
            .open_file(rel)?
            .take(512 * 1024)
            .read_to_end(&mut head)
            .map_err(|e| FormatError::io(input.display(rel), e))?;
        let size = match image_size(&head) {
            Some(s) => s,
            // a JPEG with large metadata before its frame header
            None => image_size(&input.read(rel)?).ok_or_else(|| {
                OpsError::from(FormatError::invalid(
                    cvat_format_api::Location::file(input.display(rel)),
                    "image",
                    "cannot read the image size from its header",
                ))
            })?,
        };
        out.push((rel.clone(), size));
    }
    if out.is_empty() {
        return Err(OpsError::Usage {
            message: format!("{}: no images found", dir.display()),
            hint: "--images takes the folder that holds the task's images (jpg, png, bmp, gif, \
                   webp)"
                .to_string(),
        });
    }
    out.sort();
    Ok(out)
}

/// Counts of diagnostics by severity, for summaries: (errors, warnings).
pub fn count(diags: &[Diagnostic]) -> (usize, usize) {
    diags.iter().fold((0, 0), |(e, w), d| match d.severity {
        Severity::Error => (e + 1, w),
        Severity::Warning => (e, w + 1),
        Severity::Info => (e, w),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use cvat_format_api::{Format, FormatInfo, Origin};

    /// A scratch directory removed on drop.
    struct Scratch(PathBuf);
    impl Scratch {
        fn new(tag: &str) -> Scratch {
            let nanos = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos())
                .unwrap_or(0);
            let p = std::env::temp_dir()
                .join(format!("cvat-core-{tag}-{}-{nanos}", std::process::id()));
            std::fs::create_dir_all(&p).unwrap();
            Scratch(p)
        }
        fn entries(&self) -> Vec<String> {
            let mut v: Vec<String> = std::fs::read_dir(&self.0)
                .unwrap()
                .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect();
            v.sort();
            v
        }
    }
    impl Drop for Scratch {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    /// Writes `files` files of 100 kB each, failing while writing file number `fail_at` (if any).
    #[derive(Default)]
    struct Fake {
        name: &'static str,
        files: usize,
        fail_at: Option<usize>,
        import: bool,
    }
    impl Format for Fake {
        fn info(&self) -> FormatInfo {
            let mut i = FormatInfo::new(self.name);
            i.can_import = self.import;
            i.can_export = self.files > 0;
            i
        }
        fn sniff(&self, input: &Input) -> u8 {
            if self.import && input.files().iter().any(|f| f.ends_with(".fake")) {
                50
            } else {
                0
            }
        }
        fn read(&self, _input: &Input, _o: &ReadOptions) -> cvat_format_api::Result<Dataset> {
            Ok(Dataset::default())
        }
        fn write(
            &self,
            _ds: &Dataset,
            out: &mut dyn OutputSink,
            _o: &WriteOptions,
        ) -> cvat_format_api::Result<DropReport> {
            for i in 0..self.files {
                let w = out.file(&format!("part{i}.txt"))?;
                w.write_all(&[b'x'; 50_000])
                    .map_err(|e| FormatError::io("part", e))?;
                if self.fail_at == Some(i) {
                    return Err(FormatError::Other("disk on fire".into()));
                }
                w.write_all(&[b'y'; 50_000])
                    .map_err(|e| FormatError::io("part", e))?;
            }
            let mut d = DropReport::default();
            d.add("things", 3);
            Ok(d)
        }
    }

    fn registry(formats: Vec<Fake>) -> Registry {
        let mut r = Registry::new();
        for f in formats {
            r.register(Box::new(f), Origin::Builtin("test")).unwrap();
        }
        r
    }

    fn request<'a>(input: &'a Path, to: &'a str, output: &'a Path) -> ConvertRequest<'a> {
        ConvertRequest {
            input,
            from: None,
            to,
            output,
            read: ReadOptions::default(),
            write: WriteOptions::default(),
        }
    }

    fn scratch_with_input(tag: &str) -> (Scratch, PathBuf) {
        let s = Scratch::new(tag);
        let input = s.0.join("in.fake");
        std::fs::write(&input, b"data").unwrap();
        (s, input)
    }

    #[test]
    fn failure_mid_write_leaves_nothing_behind() {
        let reg = registry(vec![
            Fake {
                name: "In",
                import: true,
                ..Default::default()
            },
            Fake {
                name: "Broken",
                files: 3,
                fail_at: Some(1),
                ..Default::default()
            },
        ]);
        for out in ["out.zip", "outdir/", "out.txt"] {
            let (s, input) = scratch_with_input("fail");
            let dest = s.0.join(out);
            let err = convert(&reg, &request(&input, "Broken", &dest)).unwrap_err();
            if out == "out.txt" {
                assert!(matches!(err, OpsError::SeveralFiles { .. }), "{err}");
                assert!(err.hint().unwrap().contains(".zip"));
            } else {
                assert!(err.to_string().contains("disk on fire"), "{err}");
            }
            assert_eq!(s.entries(), ["in.fake"], "output {out} left files behind");
        }
    }

    #[test]
    fn success_writes_zip_dir_and_file() {
        let reg = registry(vec![
            Fake {
                name: "In",
                import: true,
                ..Default::default()
            },
            Fake {
                name: "Multi",
                files: 2,
                ..Default::default()
            },
            Fake {
                name: "Single",
                files: 1,
                ..Default::default()
            },
        ]);
        let (s, input) = scratch_with_input("ok");
        let r = convert(&reg, &request(&input, "Multi", &s.0.join("o.zip"))).unwrap();
        assert_eq!(r.output_kind, OutputKind::Zip);
        assert_eq!(r.from, "In");
        assert!(r.from_detected);
        assert_eq!(r.drops.count("things"), 3);
        let zip = Input::open(&s.0.join("o.zip")).unwrap();
        assert_eq!(zip.files(), ["part0.txt", "part1.txt"]);

        let dir = s.0.join("d/");
        let r = convert(&reg, &request(&input, "Multi", &dir)).unwrap();
        assert_eq!(r.output_kind, OutputKind::Dir);
        assert_eq!(
            std::fs::read(s.0.join("d/part1.txt")).unwrap().len(),
            100_000
        );

        let r = convert(&reg, &request(&input, "Single", &s.0.join("one.txt"))).unwrap();
        assert_eq!(r.output_kind, OutputKind::File);
        assert_eq!(std::fs::read(s.0.join("one.txt")).unwrap().len(), 100_000);
        assert_eq!(s.entries(), ["d", "in.fake", "o.zip", "one.txt"]);
    }

    #[test]
    fn names_are_checked_before_reading() {
        let reg = registry(vec![
            Fake {
                name: "Reader",
                import: true,
                ..Default::default()
            },
            Fake {
                name: "Writer Only 1.0",
                files: 1,
                ..Default::default()
            },
        ]);
        let missing = Path::new("/nonexistent/input");
        let out = Path::new("/nonexistent/out.zip");
        let err = convert(&reg, &request(missing, "Writer Only 1.1", out)).unwrap_err();
        match &err {
            OpsError::UnknownFormat { suggestions, .. } => {
                assert_eq!(suggestions, &["Writer Only 1.0"])
            }
            other => panic!("{other}"),
        }
        assert!(err
            .hint()
            .unwrap()
            .contains("did you mean \"Writer Only 1.0\""));
        let mut req = request(missing, "Writer Only 1.0", out);
        req.from = Some("Writer Only 1.0");
        assert!(matches!(
            convert(&reg, &req).unwrap_err(),
            OpsError::CannotImport { .. }
        ));
        let err = convert(&reg, &request(missing, "Reader", out)).unwrap_err();
        assert!(matches!(err, OpsError::CannotExport { .. }), "{err}");
        // with good names the missing input is an I/O error
        let err = convert(&reg, &request(missing, "Writer Only 1.0", out)).unwrap_err();
        assert!(
            matches!(err, OpsError::Format(FormatError::Io { .. })),
            "{err}"
        );
        assert!(err.is_usage());
    }

    #[test]
    fn undetectable_input_is_reported() {
        let reg = registry(vec![Fake {
            name: "Reader",
            import: true,
            ..Default::default()
        }]);
        let s = Scratch::new("detect");
        let p = s.0.join("x.unknown");
        std::fs::write(&p, b"?").unwrap();
        let err = validate(&reg, &[p], None, &ReadOptions::default()).unwrap_err();
        assert!(matches!(err, OpsError::NotDetected { .. }), "{err}");
    }

    #[test]
    fn edit_distance_works() {
        assert_eq!(edit_distance("coco 1.0", "coco 1.0"), 0);
        assert_eq!(edit_distance("coco 1.1", "coco 1.0"), 1);
        assert_eq!(edit_distance("", "abc"), 3);
    }

    #[test]
    fn image_sizes_come_from_headers() {
        let s = Scratch::new("img");
        // a minimal PNG header: signature, IHDR length and type, width 7, height 5
        let mut png = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR".to_vec();
        png.extend_from_slice(&7u32.to_be_bytes());
        png.extend_from_slice(&5u32.to_be_bytes());
        png.extend_from_slice(&[8, 2, 0, 0, 0]);
        std::fs::write(s.0.join("b.png"), &png).unwrap();
        std::fs::write(s.0.join("a.png"), &png).unwrap();
        std::fs::write(s.0.join("notes.txt"), b"not an image").unwrap();
        let opts = read_hints(None, None, Some(&s.0)).unwrap();
        let frames = opts.frames.unwrap();
        assert_eq!(frames.len(), 2);
        assert_eq!(frames[0].name, "a.png");
        assert_eq!(frames[1].id, 1);
        assert_eq!((frames[1].width, frames[1].height), (7, 5));
        std::fs::write(s.0.join("c.jpg"), b"not a jpeg").unwrap();
        let err = read_hints(None, None, Some(&s.0)).unwrap_err();
        assert!(err.to_string().contains("c.jpg"), "{err}");
    }
}
