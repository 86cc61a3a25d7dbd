//! The commands of the original CVAT CLI: `create`, `delete`, `ls`, `frames`, `dump`, `upload`, `export`,
//! `import`, with its option spellings (underscores) and kebab-case aliases.

use super::global::GlobalArgs;
use super::{client_error, UserError};
use crate::progress::Bars;
use cvat_core::client::{DataSpec, ResourceType, TaskSpec, Wait};
use cvat_core::commands::{self as uc, CreateRequest};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Resource {
    Local,
    Share,
    Remote,
}

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Sorting {
    Lexicographical,
    Natural,
    Predefined,
    Random,
}

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Quality {
    Original,
    Compressed,
}

fn parse_bool(s: &str) -> Result<bool, String> {
    match s.to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "y" | "on" => Ok(true),
        "false" | "0" | "no" | "n" | "off" => Ok(false),
        _ => Err(format!("expected True or False, got {s:?}")),
    }
}

#[derive(clap::Args, Debug)]
pub struct CreateArgs {
    /// Name of the task.
    pub name: String,
    /// Where the files come from.
    #[arg(value_enum)]
    pub resource_type: Resource,
    /// Files, share paths or URLs; a .txt file lists one per line.
    #[arg(required = true)]
    pub resources: Vec<String>,
    /// Labels as a JSON string or a JSON file.
    #[arg(long)]
    pub labels: Option<String>,
    /// Project to create the task in (its labels are used).
    #[arg(long = "project_id", alias = "project-id")]
    pub project_id: Option<i64>,
    /// Frames shared by consecutive segments.
    #[arg(long)]
    pub overlap: Option<u32>,
    /// Frames per segment (job).
    #[arg(long = "segment_size", alias = "segment-size")]
    pub segment_size: Option<u32>,
    /// Bug tracker URL.
    #[arg(long)]
    pub bug: Option<String>,
    /// Annotation file to upload once the data is in.
    #[arg(long = "annotation_path", alias = "annotation-path")]
    pub annotation_path: Option<PathBuf>,
    /// Format of --annotation_path.
    #[arg(
        long = "annotation_format",
        alias = "annotation-format",
        default_value = "CVAT 1.1"
    )]
    pub annotation_format: String,
    /// Seconds between checks while the server processes the data.
    #[arg(
        long = "completion_verification_period",
        alias = "completion-verification-period",
        default_value_t = 1.0
    )]
    pub completion_verification_period: f64,
    /// Not supported by CVAT 2.x servers (no git integration).
    #[arg(long = "dataset_repository_url", alias = "dataset-repository-url")]
    pub dataset_repository_url: Option<String>,
    /// Not supported by CVAT 2.x servers (no git integration).
    #[arg(long)]
    pub lfs: bool,
    /// Quality of compressed images (1-100).
    #[arg(long = "image_quality", alias = "image-quality", default_value_t = 70, value_parser = clap::value_parser!(u32).range(1..=100))]
    pub image_quality: u32,
    /// Keep every N-th frame.
    #[arg(long = "frame_step", alias = "frame-step", value_parser = clap::value_parser!(u32).range(1..))]
    pub frame_step: Option<u32>,
    /// Copy share data into the server (share resources only).
    #[arg(long = "copy_data", alias = "copy-data")]
    pub copy_data: bool,
    /// Use the server's chunk cache (the default).
    #[arg(long = "use_cache", alias = "use-cache")]
    pub use_cache: bool,
    /// Do not use the server's chunk cache.
    #[arg(
        long = "no_use_cache",
        alias = "no-use-cache",
        conflicts_with = "use_cache"
    )]
    pub no_use_cache: bool,
    /// How the server orders the files.
    #[arg(
        long = "sorting-method",
        alias = "sorting_method",
        value_enum,
        default_value = "lexicographical"
    )]
    pub sorting_method: Sorting,
    /// Frames per data chunk.
    #[arg(long = "chunk_size", alias = "chunk-size")]
    pub chunk_size: Option<u32>,
    /// First frame to use.
    #[arg(long = "start_frame", alias = "start-frame")]
    pub start_frame: Option<u32>,
    /// Last frame to use.
    #[arg(long = "stop_frame", alias = "stop-frame")]
    pub stop_frame: Option<u32>,
    /// Subset of the task (e.g. train, test).
    #[arg(long)]
    pub subset: Option<String>,
    /// Keep the task when data or annotation upload fails (default: delete it).
    #[arg(long = "keep-on-error", alias = "keep_on_error")]
    pub keep_on_error: bool,
    /// Upload --annotation_path without checking it locally first.
    #[arg(long = "no-validate", alias = "no_validate")]
    pub no_validate: bool,
}

#[derive(clap::Args, Debug)]
pub struct DeleteArgs {
    #[arg(required = true)]
    pub task_ids: Vec<i64>,
}

#[derive(clap::Args, Debug)]
pub struct LsArgs {
    /// Print the tasks as JSON.
    #[arg(long, conflicts_with = "csv")]
    pub json: bool,
    /// Print id,name,status as CSV.
    #[arg(long)]
    pub csv: bool,
}

#[derive(clap::Args, Debug)]
pub struct FramesArgs {
    pub task_id: i64,
    /// Frame numbers or ranges such as 0-99.
    #[arg(required_unless_present = "all")]
    pub frame_ids: Vec<String>,
    /// Every frame of the task.
    #[arg(long)]
    pub all: bool,
    /// Where to save the images.
    #[arg(long, default_value = ".")]
    pub outdir: PathBuf,
    #[arg(long, value_enum, default_value = "original")]
    pub quality: Quality,
}

#[derive(clap::Args, Debug)]
pub struct DumpArgs {
    #[arg(long = "format", default_value = "CVAT for images 1.1")]
    pub format: String,
    /// Include the images in the archive.
    #[arg(long = "with-images", alias = "with_images", value_name = "True|False", action = clap::ArgAction::Set,
        num_args = 1, value_parser = parse_bool, default_value = "False")]
    pub with_images: bool,
    /// Seconds between checks while the server prepares the file.
    #[arg(
        long = "completion_verification_period",
        alias = "completion-verification-period",
        default_value_t = 1.0
    )]
    pub completion_verification_period: f64,
    pub task_id: i64,
    pub filename: PathBuf,
}

#[derive(clap::Args, Debug)]
pub struct UploadArgs {
    #[arg(long = "format", default_value = "CVAT 1.1")]
    pub format: String,
    /// Upload without checking the file locally first.
    #[arg(long = "no-validate", alias = "no_validate")]
    pub no_validate: bool,
    #[arg(
        long = "completion_verification_period",
        alias = "completion-verification-period",
        default_value_t = 1.0
    )]
    pub completion_verification_period: f64,
    pub task_id: i64,
    pub filename: PathBuf,
}

#[derive(clap::Args, Debug)]
pub struct ExportArgs {
    #[arg(
        long = "completion_verification_period",
        alias = "completion-verification-period",
        default_value_t = 1.0
    )]
    pub completion_verification_period: f64,
    pub task_id: i64,
    pub filename: PathBuf,
}

#[derive(clap::Args, Debug)]
pub struct ImportArgs {
    #[arg(
        long = "completion_verification_period",
        alias = "completion-verification-period",
        default_value_t = 1.0
    )]
    pub completion_verification_period: f64,
    pub filename: PathBuf,
}

fn wait(period: f64) -> anyhow::Result<Wait> {
    if !(period.is_finite() && period > 0.0) {
        return Err(UserError::usage(
            "--completion_verification_period must be a positive number of seconds",
        )
        .into());
    }
    Ok(Wait(Duration::from_secs_f64(period.min(3600.0))))
}

fn read_labels(spec: &str) -> anyhow::Result<serde_json::Value> {
    let path = std::path::Path::new(spec);
    let (text, origin) = if !spec.trim_start().starts_with('[')
        && !spec.trim_start().starts_with('{')
        && path.is_file()
    {
        (
            std::fs::read_to_string(path)
                .map_err(|e| UserError::usage(format!("--labels {spec}: {e}")))?,
            spec.to_string(),
        )
    } else {
        (spec.to_string(), "--labels".to_string())
    };
    let v: serde_json::Value = serde_json::from_str(&text).map_err(|e| {
        UserError::usage(format!(
            "{origin}: invalid JSON at line {} column {}: {e}",
            e.line(),
            e.column()
        ))
        .with_hint("--labels takes a JSON list of labels, or a file containing one")
    })?;
    let list = match &v {
        serde_json::Value::Array(a) => a,
        _ => return Err(UserError::usage(format!("{origin}: labels must be a JSON list")).into()),
    };
    for (i, l) in list.iter().enumerate() {
        if l.get("name")
            .and_then(|n| n.as_str())
            .is_none_or(|n| n.trim().is_empty())
        {
            return Err(UserError::usage(format!(
                "{origin}: $[{i}].name: every label needs a name"
            ))
            .into());
        }
        if let Some(attrs) = l.get("attributes").and_then(|a| a.as_array()) {
            for (j, a) in attrs.iter().enumerate() {
                let t = a.get("input_type").and_then(|t| t.as_str()).unwrap_or("");
                if !["select", "radio", "checkbox", "number", "text"].contains(&t) {
                    return Err(UserError::usage(format!(
                        "{origin}: $[{i}].attributes[{j}].input_type: {t:?} is not one of select, radio, checkbox, number, text"
                    ))
                    .into());
                }
            }
        }
    }
    Ok(v)
}

pub fn create(g: &GlobalArgs, a: CreateArgs) -> anyhow::Result<ExitCode> {
    if a.dataset_repository_url.is_some() || a.lfs {
        return Err(UserError::usage("--dataset_repository_url and --lfs are not supported: CVAT servers since 2.0 have no git integration")
            .with_hint("export the annotations with `dump` and commit them to your repository yourself")
            .into());
    }
    if a.labels.is_none() && a.project_id.is_none() {
        return Err(UserError::usage("create needs --labels or --project_id").into());
    }
    let labels = a.labels.as_deref().map(read_labels).transpose()?;
    let resources = uc::expand_list_files(&a.resources).map_err(client_error)?;
    if a.resource_type == Resource::Local {
        if let Some(missing) = resources
            .iter()
            .find(|r| !std::path::Path::new(r).is_file())
        {
            return Err(UserError::usage(format!("{missing}: no such file")).into());
        }
    }
    if let Some(p) = &a.annotation_path {
        if !p.is_file() {
            return Err(UserError::usage(format!(
                "--annotation_path {}: no such file",
                p.display()
            ))
            .into());
        }
    }
    let wait = wait(a.completion_verification_period)?;
    let registry = super::registry()?;
    let client = g.client()?;
    let bars = Bars::new(g.quiet);
    let req = CreateRequest {
        spec: TaskSpec {
            name: a.name,
            labels,
            project_id: a.project_id,
            overlap: a.overlap,
            segment_size: a.segment_size,
            bug_tracker: a.bug,
            subset: a.subset,
        },
        kind: match a.resource_type {
            Resource::Local => ResourceType::Local,
            Resource::Share => ResourceType::Share,
            Resource::Remote => ResourceType::Remote,
        },
        resources,
        data: DataSpec {
            image_quality: a.image_quality,
            frame_step: a.frame_step,
            copy_data: a.copy_data,
            use_cache: !a.no_use_cache,
            sorting_method: format!("{:?}", a.sorting_method).to_lowercase(),
            chunk_size: a.chunk_size,
            start_frame: a.start_frame,
            stop_frame: a.stop_frame,
        },
        annotations: a
            .annotation_path
            .as_deref()
            .map(|p| (p, a.annotation_format.as_str())),
        validate: !a.no_validate,
        keep_on_error: a.keep_on_error,
        jobs: g.jobs,
        wait,
    };
    let id = uc::create(&client, &registry, req, &bars).map_err(client_error)?;
    println!("Created task id {id}");
    Ok(ExitCode::SUCCESS)
}

pub fn delete(g: &GlobalArgs, a: DeleteArgs) -> anyhow::Result<ExitCode> {
    let client = g.client()?;
    let mut failed = 0;
    for id in a.task_ids {
        match client.delete_task(id) {
            Ok(()) if g.quiet => {}
            Ok(()) => eprintln!("Task ID {id} deleted"),
            Err(e) => {
                failed += 1;
                eprintln!("error: task {id}: {}", short(&e));
            }
        }
    }
    Ok(if failed > 0 {
        ExitCode::from(super::EXIT_FAILURE)
    } else {
        ExitCode::SUCCESS
    })
}

fn short(e: &cvat_core::client::ClientError) -> String {
    match e {
        cvat_core::client::ClientError::Usage { message, .. } => message.clone(),
        other => other.to_string(),
    }
}

fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

pub fn ls(g: &GlobalArgs, a: LsArgs) -> anyhow::Result<ExitCode> {
    let client = g.client()?;
    let tasks = client.list_tasks().map_err(client_error)?;
    if a.json {
        println!("{}", serde_json::to_string_pretty(&tasks)?);
    } else if a.csv {
        println!("id,name,status,size,project_id");
        for t in &tasks {
            let s = |k: &str| {
                t.get(k)
                    .map(|v| {
                        v.as_str()
                            .map(str::to_string)
                            .unwrap_or_else(|| v.to_string())
                    })
                    .unwrap_or_default()
            };
            let id = t.get("id").map(|v| v.to_string()).unwrap_or_default();
            let project = t
                .get("project_id")
                .filter(|v| !v.is_null())
                .map(|v| v.to_string())
                .unwrap_or_default();
            println!(
                "{id},{},{},{},{project}",
                csv_field(&s("name")),
                csv_field(&s("status")),
                s("size")
            );
        }
    } else {
        for t in &tasks {
            if let Some(id) = t.get("id") {
                println!("{id}");
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Frame numbers from `0 3 5-9` style arguments.
pub fn parse_frame_ids(args: &[String]) -> Result<Vec<u32>, String> {
    let mut out = Vec::new();
    for a in args {
        for part in a.split(',').filter(|p| !p.is_empty()) {
            if let Some((lo, hi)) = part.split_once('-') {
                let lo: u32 = lo
                    .trim()
                    .parse()
                    .map_err(|_| format!("{part:?} is not a frame range like 0-99"))?;
                let hi: u32 = hi
                    .trim()
                    .parse()
                    .map_err(|_| format!("{part:?} is not a frame range like 0-99"))?;
                if hi < lo {
                    return Err(format!("{part:?}: the range ends before it starts"));
                }
                if hi - lo > 10_000_000 {
                    return Err(format!("{part:?}: range too large"));
                }
                out.extend(lo..=hi);
            } else {
                out.push(
                    part.trim()
                        .parse()
                        .map_err(|_| format!("{part:?} is not a frame number"))?,
                );
            }
        }
    }
    out.sort_unstable();
    out.dedup();
    Ok(out)
}

pub fn frames(g: &GlobalArgs, a: FramesArgs) -> anyhow::Result<ExitCode> {
    let mut ids = parse_frame_ids(&a.frame_ids).map_err(UserError::usage)?;
    if !a.outdir.is_dir() {
        return Err(UserError::usage(format!(
            "--outdir {}: no such directory",
            a.outdir.display()
        ))
        .into());
    }
    let client = g.client()?;
    let task = client.get_task(a.task_id).map_err(client_error)?;
    if a.all {
        let size = task.get("size").and_then(|s| s.as_u64()).unwrap_or(0) as u32;
        ids = (0..size).collect();
    }
    let quality = match a.quality {
        Quality::Original => "original",
        Quality::Compressed => "compressed",
    };
    let bars = Bars::new(g.quiet);
    let results = client.download_frames(a.task_id, &ids, quality, &a.outdir, g.jobs, &bars);
    let mut failed = 0;
    for (frame, r) in results {
        match r {
            Ok(path) => println!("{}", path.display()),
            Err(e) => {
                failed += 1;
                eprintln!("error: frame {frame}: {}", short(&e));
            }
        }
    }
    Ok(if failed > 0 {
        ExitCode::from(super::EXIT_FAILURE)
    } else {
        ExitCode::SUCCESS
    })
}

pub fn dump(g: &GlobalArgs, a: DumpArgs) -> anyhow::Result<ExitCode> {
    let wait = wait(a.completion_verification_period)?;
    let registry = super::registry()?;
    let client = g.client()?;
    let bars = Bars::new(g.quiet);
    uc::dump(
        &client,
        &registry,
        a.task_id,
        &a.format,
        a.with_images,
        &a.filename,
        wait,
        &bars,
    )
    .map_err(client_error)?;
    bars_log(
        &bars,
        &format!(
            "Dataset for task {} has been downloaded to {}",
            a.task_id,
            a.filename.display()
        ),
    );
    Ok(ExitCode::SUCCESS)
}

pub fn upload(g: &GlobalArgs, a: UploadArgs) -> anyhow::Result<ExitCode> {
    let wait = wait(a.completion_verification_period)?;
    let registry = super::registry()?;
    let client = g.client()?;
    let bars = Bars::new(g.quiet);
    uc::upload(
        &client,
        &registry,
        a.task_id,
        &a.format,
        &a.filename,
        !a.no_validate,
        wait,
        &bars,
    )
    .map_err(client_error)?;
    bars_log(
        &bars,
        &format!(
            "Annotation file '{}' for task #{} uploaded",
            a.filename.display(),
            a.task_id
        ),
    );
    Ok(ExitCode::SUCCESS)
}

pub fn export(g: &GlobalArgs, a: ExportArgs) -> anyhow::Result<ExitCode> {
    let wait = wait(a.completion_verification_period)?;
    let client = g.client()?;
    let bars = Bars::new(g.quiet);
    client
        .export_backup(a.task_id, &a.filename, wait, &bars)
        .map_err(client_error)?;
    bars_log(
        &bars,
        &format!(
            "Task {} has been exported to {}",
            a.task_id,
            a.filename.display()
        ),
    );
    Ok(ExitCode::SUCCESS)
}

pub fn import(g: &GlobalArgs, a: ImportArgs) -> anyhow::Result<ExitCode> {
    if !a.filename.is_file() {
        return Err(UserError::usage(format!("{}: no such file", a.filename.display())).into());
    }
    let wait = wait(a.completion_verification_period)?;
    let client = g.client()?;
    let bars = Bars::new(g.quiet);
    let id = client
        .import_backup(&a.filename, wait, &bars)
        .map_err(client_error)?;
    println!("Created task ID {id}");
    Ok(ExitCode::SUCCESS)
}

fn bars_log(bars: &Bars, msg: &str) {
    use cvat_core::progress::Reporter;
    bars.log(msg);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frame_ranges() {
        let ids = parse_frame_ids(&["0".into(), "3-5".into(), "4,9".into()]).unwrap();
        assert_eq!(ids, vec![0, 3, 4, 5, 9]);
        assert!(parse_frame_ids(&["5-3".into()]).is_err());
        assert!(parse_frame_ids(&["x".into()]).is_err());
    }

    #[test]
    fn labels_are_checked_before_any_request() {
        assert!(read_labels(r#"[{"name": "car", "attributes": []}]"#).is_ok());
        let e = read_labels(
            r#"[{"name": "car", "attributes": [{"name": "a", "input_type": "bogus"}]}]"#,
        )
        .unwrap_err();
        assert!(e.to_string().contains("input_type"), "{e}");
        let e = read_labels("[{").unwrap_err();
        assert!(e.to_string().contains("invalid JSON"), "{e}");
        assert!(read_labels(r##"[{"color": "#fff"}]"##).is_err());
    }
}
