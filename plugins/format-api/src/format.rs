//! The `Format` trait every format implements (built-in or plugin), and the registry that finds formats
//! by name, alias or content.

use crate::diag::{Diagnostic, Diagnostics, DropReport, FormatError, Location, Result};
use crate::io::{Input, OutputSink};
use crate::model::{Dataset, Frame, Label};
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// What a format says about itself.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FormatInfo {
    /// The display name the CVAT server uses, e.g. `COCO 1.0`.
    pub name: String,
    /// Other names that resolve to this format (older server names, CVAT 1.x names).
    #[serde(default)]
    pub aliases: Vec<String>,
    pub can_import: bool,
    pub can_export: bool,
    /// File extensions the format reads or writes, lower case without the dot (`json`, `zip`, `xml`).
    #[serde(default)]
    pub extensions: Vec<String>,
    /// One line for `cvat-cli formats`.
    #[serde(default)]
    pub description: String,
}

impl FormatInfo {
    pub fn new(name: &str) -> Self {
        FormatInfo {
            name: name.to_string(),
            ..Default::default()
        }
    }
    pub fn import(mut self) -> Self {
        self.can_import = true;
        self
    }
    pub fn export(mut self) -> Self {
        self.can_export = true;
        self
    }
    pub fn aliases(mut self, aliases: &[&str]) -> Self {
        self.aliases = aliases.iter().map(|s| s.to_string()).collect();
        self
    }
    pub fn extensions(mut self, ext: &[&str]) -> Self {
        self.extensions = ext.iter().map(|s| s.to_string()).collect();
        self
    }
    pub fn description(mut self, d: &str) -> Self {
        self.description = d.to_string();
        self
    }
    /// Whether `name` is this format's name or one of its aliases (exactly).
    pub fn answers_to(&self, name: &str) -> bool {
        self.name == name || self.aliases.iter().any(|a| a == name)
    }
}

/// Context a reader may need that the files themselves may not carry.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct ReadOptions {
    /// The task's frames (names and sizes). YOLO-like formats take image sizes from here.
    pub frames: Option<Vec<Frame>>,
    /// The task's labels. Readers map names onto these ids where they can.
    pub labels: Option<Vec<Label>>,
    /// Lookup of `frames` by name, stem and base name, built on first use.
    frame_index: std::sync::OnceLock<std::collections::HashMap<String, usize>>,
}

impl ReadOptions {
    pub fn with_frames(mut self, frames: Vec<Frame>) -> Self {
        self.frames = Some(frames);
        self.frame_index = std::sync::OnceLock::new();
        self
    }
    pub fn with_labels(mut self, labels: Vec<Label>) -> Self {
        self.labels = Some(labels);
        self
    }
    /// A frame from the hint, matched by full name, then item id (file name without extension), then
    /// base name or base item id (the hint may carry paths where the file carries bare names, or the
    /// reverse). Constant time after the first call.
    pub fn frame_hint(&self, name_or_stem: &str) -> Option<&Frame> {
        let frames = self.frames.as_ref()?;
        let index = self.frame_index.get_or_init(|| {
            let mut m = std::collections::HashMap::with_capacity(frames.len() * 2);
            // later passes only fill keys that earlier (stronger) passes left empty
            for f in frames.iter().enumerate() {
                m.entry(f.1.name.clone()).or_insert(f.0);
            }
            for (i, f) in frames.iter().enumerate() {
                m.entry(f.stem().to_string()).or_insert(i);
            }
            for (i, f) in frames.iter().enumerate() {
                let base = |s: &str| s.rsplit('/').next().unwrap_or(s).to_string();
                m.entry(base(f.stem())).or_insert(i);
                m.entry(base(&f.name)).or_insert(i);
            }
            m
        });
        let base = name_or_stem.rsplit('/').next().unwrap_or(name_or_stem);
        index
            .get(name_or_stem)
            .or_else(|| index.get(base))
            .and_then(|&i| frames.get(i))
    }
}

/// Options for writers.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct WriteOptions {
    /// Frame step of the task (`CVAT for video` closes one-frame tracks at `frame + step`). 1 when unset.
    pub frame_step: Option<u32>,
}

/// A format: reads files into the model, writes the model into files, validates files, and recognises
/// its own files.
pub trait Format: Send + Sync {
    fn info(&self) -> FormatInfo;

    /// How sure the format is that `input` is one of its own: 0 (not at all) to 100 (certain). Must be
    /// cheap: look at file names and leading bytes, not whole files.
    fn sniff(&self, _input: &Input) -> u8 {
        0
    }

    /// Reads `input` into the model. Errors carry a location.
    fn read(&self, _input: &Input, _opts: &ReadOptions) -> Result<Dataset> {
        Err(FormatError::Unsupported(format!(
            "{} cannot be imported",
            self.info().name
        )))
    }

    /// Writes `dataset` into `out`, reporting what the format could not carry.
    fn write(
        &self,
        _dataset: &Dataset,
        _out: &mut dyn OutputSink,
        _opts: &WriteOptions,
    ) -> Result<DropReport> {
        Err(FormatError::Unsupported(format!(
            "{} cannot be exported",
            self.info().name
        )))
    }

    /// Checks `input` and reports every problem found, with locations. The default reads the input and
    /// then checks the model ([`check_dataset`]); formats override it to report more than the first
    /// syntax error and to locate semantic problems in their files.
    fn validate(&self, input: &Input, opts: &ReadOptions) -> Diagnostics {
        let mut diags = Diagnostics::default();
        match self.read(input, opts) {
            Ok(ds) => {
                let name = input.name().to_string();
                check_dataset(
                    &ds,
                    &mut |r| Location::json(name.clone(), r.path()),
                    &mut diags,
                )
            }
            Err(e) => diags.push(e.to_diagnostic(input.name())),
        }
        diags
    }
}

/// Refers to one annotation of a [`Dataset`], for locating diagnostics of [`check_dataset`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AnnRef {
    Label(usize),
    Tag(usize),
    Shape(usize),
    /// Element `.1` of shape `.0`.
    Element(usize, usize),
    Track(usize),
    /// Keyframe `.1` of track `.0`.
    TrackShape(usize, usize),
    Frame(usize),
}

impl AnnRef {
    /// A JSON path into the model's REST form, e.g. `$.shapes[3]`.
    pub fn path(self) -> String {
        match self {
            AnnRef::Label(i) => format!("$.labels[{i}]"),
            AnnRef::Tag(i) => format!("$.tags[{i}]"),
            AnnRef::Shape(i) => format!("$.shapes[{i}]"),
            AnnRef::Element(i, j) => format!("$.shapes[{i}].elements[{j}]"),
            AnnRef::Track(i) => format!("$.tracks[{i}]"),
            AnnRef::TrackShape(i, j) => format!("$.tracks[{i}].shapes[{j}]"),
            AnnRef::Frame(i) => format!("$.frames[{i}]"),
        }
    }
}

/// Model-level checks shared by every format: label and attribute references, attribute values,
/// geometry, frames. `locate` turns an annotation reference into a file location.
pub fn check_dataset(
    ds: &Dataset,
    locate: &mut dyn FnMut(AnnRef) -> Location,
    diags: &mut Diagnostics,
) {
    use crate::geometry::check_points;
    let idx = ds.label_index();
    let frame_size = |frame: u32| {
        ds.frame(frame)
            .filter(|f| f.has_size())
            .map(|f| (f.width, f.height))
    };
    let has_frames = !ds.frames.is_empty();

    let mut seen_label_names = std::collections::HashSet::new();
    for (i, l) in ds.labels.iter().enumerate() {
        if l.name.is_empty() {
            diags.error(
                locate(AnnRef::Label(i)),
                "empty-label-name",
                "label has an empty name",
            );
        }
        if !seen_label_names.insert(l.name.as_str()) {
            diags.error(
                locate(AnnRef::Label(i)),
                "duplicate-label",
                format!("label {:?} is declared more than once", l.name),
            );
        }
    }

    let check_attrs = |label_id: i64,
                       attrs: &[crate::model::AttributeValue],
                       loc: &mut dyn FnMut() -> Location,
                       diags: &mut Diagnostics| {
        let label = idx.label(label_id);
        for a in attrs {
            match idx.spec(a.spec_id) {
                None => diags.error(
                    loc(),
                    "undeclared-attribute",
                    format!("attribute id {} is not declared", a.spec_id),
                ),
                Some(spec) => {
                    if let Some(label) = label {
                        if !label.attributes.iter().any(|s| s.id == spec.id) {
                            diags.error(
                                loc(),
                                "undeclared-attribute",
                                format!(
                                    "attribute {:?} is not declared for label {:?}",
                                    spec.name, label.name
                                ),
                            );
                            continue;
                        }
                    }
                    if !spec.accepts(&a.value) {
                        let allowed = match spec.input_type {
                            crate::model::InputType::Number => {
                                format!("a number in {}", spec.values.join(";"))
                            }
                            crate::model::InputType::Checkbox => "true or false".to_string(),
                            _ => format!("one of {:?}", spec.values),
                        };
                        diags.push(
                            Diagnostic::error(
                                loc(),
                                "attribute-value",
                                format!(
                                    "value {:?} of attribute {:?} is not allowed",
                                    a.value, spec.name
                                ),
                            )
                            .with_hint(format!("expected {allowed}")),
                        );
                    }
                }
            }
        }
    };

    let check_frame = |frame: u32, loc: &mut dyn FnMut() -> Location, diags: &mut Diagnostics| {
        if has_frames && ds.frame(frame).is_none() {
            diags.error(
                loc(),
                "unknown-frame",
                format!("frame {frame} is not in the frame list"),
            );
        }
    };

    for (i, t) in ds.tags.iter().enumerate() {
        let mut loc = || locate(AnnRef::Tag(i));
        if idx.label(t.label_id).is_none() {
            diags.error(
                loc(),
                "undeclared-label",
                format!("label id {} is not declared", t.label_id),
            );
        }
        check_frame(t.frame, &mut loc, diags);
        check_attrs(t.label_id, &t.attributes, &mut loc, diags);
    }
    for (i, s) in ds.shapes.iter().enumerate() {
        let mut loc = || locate(AnnRef::Shape(i));
        if idx.label(s.label_id).is_none() {
            diags.error(
                loc(),
                "undeclared-label",
                format!("label id {} is not declared", s.label_id),
            );
        }
        check_frame(s.frame, &mut loc, diags);
        check_attrs(s.label_id, &s.attributes, &mut loc, diags);
        if let Some(msg) = check_points(s.kind, &s.points, frame_size(s.frame)) {
            diags.push(Diagnostic::error(loc(), "geometry", msg));
        }
        for (j, e) in s.elements.iter().enumerate() {
            let mut loc = || locate(AnnRef::Element(i, j));
            if idx.label(e.label_id).is_none() {
                diags.error(
                    loc(),
                    "undeclared-label",
                    format!("label id {} is not declared", e.label_id),
                );
            } else if idx.parent(e.label_id).map(|p| p.id) != Some(s.label_id) {
                diags.error(
                    loc(),
                    "undeclared-label",
                    "skeleton element's label is not a sub-label of the skeleton",
                );
            }
            if let Some(msg) = check_points(e.kind, &e.points, frame_size(s.frame)) {
                diags.push(Diagnostic::error(loc(), "geometry", msg));
            }
        }
    }
    for (i, t) in ds.tracks.iter().enumerate() {
        let mut loc = || locate(AnnRef::Track(i));
        if idx.label(t.label_id).is_none() {
            diags.error(
                loc(),
                "undeclared-label",
                format!("label id {} is not declared", t.label_id),
            );
        }
        if t.shapes.is_empty() {
            diags.error(loc(), "empty-track", "track has no keyframes");
        }
        check_attrs(t.label_id, &t.attributes, &mut loc, diags);
        let mut last: Option<u32> = None;
        for (j, ts) in t.shapes.iter().enumerate() {
            let mut loc = || locate(AnnRef::TrackShape(i, j));
            check_frame(ts.frame, &mut loc, diags);
            if let Some(prev) = last {
                if ts.frame <= prev {
                    diags.error(
                        loc(),
                        "keyframe-order",
                        format!("keyframe {} does not follow frame {prev}", ts.frame),
                    );
                }
            }
            last = Some(ts.frame);
            check_attrs(t.label_id, &ts.attributes, &mut loc, diags);
            if let Some(msg) = check_points(ts.kind, &ts.points, frame_size(ts.frame)) {
                diags.push(Diagnostic::error(loc(), "geometry", msg));
            }
        }
    }

    let mut seen = std::collections::HashSet::new();
    for (i, f) in ds.frames.iter().enumerate() {
        if !seen.insert(f.id) {
            diags.error(
                locate(AnnRef::Frame(i)),
                "duplicate-id",
                format!("frame {} appears twice", f.id),
            );
        }
    }
}

/// How a built-in format registers itself: `inventory::submit!` one of these (see
/// [`crate::register_format!`]).
pub struct FormatRegistration {
    pub make: fn() -> Box<dyn Format>,
    /// The crate that provides it, for `cvat-cli formats`.
    pub crate_name: &'static str,
}

inventory::collect!(FormatRegistration);

/// Registers a built-in format: `register_format!(CocoFormat);` where the type implements
/// [`Format`] and [`Default`].
#[macro_export]
macro_rules! register_format {
    ($ty:ty) => {
        $crate::inventory::submit! {
            $crate::FormatRegistration {
                make: || ::std::boxed::Box::new(<$ty as ::std::default::Default>::default()),
                crate_name: env!("CARGO_PKG_NAME"),
            }
        }
    };
}

/// Where a format comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// Compiled in; the crate name.
    Builtin(&'static str),
    /// A dynamic library.
    Plugin(PathBuf),
}

impl std::fmt::Display for Origin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Origin::Builtin(c) => write!(f, "built-in ({c})"),
            Origin::Plugin(p) => write!(f, "plugin {}", p.display()),
        }
    }
}

pub struct Entry {
    pub info: FormatInfo,
    pub origin: Origin,
    pub format: Box<dyn Format>,
}

impl std::fmt::Debug for Entry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Entry")
            .field("info", &self.info)
            .field("origin", &self.origin)
            .finish()
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum RegistryError {
    #[error("format name {name:?} of {new} is already taken by {existing}")]
    NameTaken {
        name: String,
        existing: String,
        new: String,
    },
    #[error("format has an empty name ({0})")]
    EmptyName(String),
}

/// All known formats.
#[derive(Debug, Default)]
pub struct Registry {
    entries: Vec<Entry>,
}

impl Registry {
    /// An empty registry.
    pub fn new() -> Self {
        Registry::default()
    }

    /// Every built-in format linked into this binary. A name clash between built-ins is a bug and is
    /// reported as an error.
    pub fn builtin() -> std::result::Result<Registry, RegistryError> {
        let mut r = Registry::new();
        let mut regs: Vec<&FormatRegistration> =
            inventory::iter::<FormatRegistration>.into_iter().collect();
        regs.sort_by_key(|r| r.crate_name);
        for reg in regs {
            r.register((reg.make)(), Origin::Builtin(reg.crate_name))?;
        }
        Ok(r)
    }

    /// Adds a format, refusing one whose name or alias is already taken by another format's name or alias.
    pub fn register(
        &mut self,
        format: Box<dyn Format>,
        origin: Origin,
    ) -> std::result::Result<(), RegistryError> {
        let info = format.info();
        if info.name.trim().is_empty() {
            return Err(RegistryError::EmptyName(origin.to_string()));
        }
        for name in std::iter::once(&info.name).chain(info.aliases.iter()) {
            if let Some(e) = self.entries.iter().find(|e| e.info.answers_to(name)) {
                return Err(RegistryError::NameTaken {
                    name: name.clone(),
                    existing: format!("{:?} ({})", e.info.name, e.origin),
                    new: format!("{:?} ({})", info.name, origin),
                });
            }
        }
        self.entries.push(Entry {
            info,
            origin,
            format,
        });
        Ok(())
    }

    pub fn entries(&self) -> &[Entry] {
        &self.entries
    }

    /// Finds a format by exact name, then exact alias, then either ignoring case and spacing.
    pub fn get(&self, name: &str) -> Option<&Entry> {
        let norm = |s: &str| {
            s.split_whitespace()
                .collect::<Vec<_>>()
                .join(" ")
                .to_lowercase()
        };
        self.entries
            .iter()
            .find(|e| e.info.name == name)
            .or_else(|| {
                self.entries
                    .iter()
                    .find(|e| e.info.aliases.iter().any(|a| a == name))
            })
            .or_else(|| {
                let n = norm(name);
                self.entries.iter().find(|e| {
                    norm(&e.info.name) == n || e.info.aliases.iter().any(|a| norm(a) == n)
                })
            })
    }

    /// Like [`Registry::get`], with an error that lists close names.
    pub fn resolve(&self, name: &str) -> Result<&Entry> {
        self.get(name)
            .ok_or_else(|| FormatError::UnknownFormat(name.to_string()))
    }

    /// Names similar to `name`, for "did you mean" hints.
    pub fn suggestions(&self, name: &str) -> Vec<&str> {
        let n = name.to_lowercase();
        let first = n.split_whitespace().next().unwrap_or("").to_string();
        self.entries
            .iter()
            .filter(|e| {
                let l = e.info.name.to_lowercase();
                !first.is_empty()
                    && (l.contains(&first)
                        || e.info
                            .aliases
                            .iter()
                            .any(|a| a.to_lowercase().contains(&first)))
            })
            .map(|e| e.info.name.as_str())
            .collect()
    }

    /// The importable format most confident that `input` is its own.
    pub fn detect(&self, input: &Input) -> Option<&Entry> {
        self.entries
            .iter()
            .filter(|e| e.info.can_import)
            .map(|e| (e.format.sniff(input), e))
            .filter(|(score, _)| *score > 0)
            .max_by_key(|(score, _)| *score)
            .map(|(_, e)| e)
    }
}
