//! Background requests: a pool of worker threads fed by a channel of request ids. A request's state lives
//! in SQLite (`queued` -> `started` -> `finished`/`failed`), so it survives a restart (unfinished ones are
//! marked failed when the server starts again).

use crate::http::ApiError;
use crate::tasks::{self, StoredFrame};
use crate::{api, media, util, App};
use cvat_format_api::rest::Annotations;
use cvat_format_api::{Dataset, Input, Label, MemorySink, ReadOptions, WriteOptions};
use rusqlite::{params, OptionalExtension};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{mpsc, Arc, Mutex, Weak};

pub struct NewRequest {
    pub op_type: &'static str,
    pub target: &'static str,
    pub task_id: Option<i64>,
    pub format: Option<String>,
    pub owner_id: i64,
    pub params: Value,
    pub expiry_secs: i64,
}

/// Records a request and queues it. A request with the same id that is still queued or running is left
/// as it is (the same export asked twice gets the same id, as on the real server).
pub fn submit(app: &App, rq_id: &str, r: NewRequest) -> Result<(), ApiError> {
    {
        let conn = app.db();
        let status: Option<String> = conn
            .query_row("SELECT status FROM requests WHERE id=?1", [rq_id], |x| {
                x.get(0)
            })
            .optional()?;
        if matches!(status.as_deref(), Some("queued" | "started")) {
            return Ok(());
        }
        let seq: i64 =
            conn.query_row("SELECT COALESCE(MAX(seq), 0) + 1 FROM requests", [], |x| {
                x.get(0)
            })?;
        conn.execute(
            "INSERT OR REPLACE INTO requests(id, seq, status, message, op_type, target, task_id, format, owner_id, params, created, expiry) VALUES (?1,?2,'queued','',?3,?4,?5,?6,?7,?8,?9,?10)",
            params![rq_id, seq, r.op_type, r.target, r.task_id, r.format, r.owner_id, r.params.to_string(), util::now(), util::later(r.expiry_secs)],
        )?;
    }
    app.enqueue(rq_id);
    Ok(())
}

pub fn spawn_pool(app: &Arc<App>, rx: mpsc::Receiver<String>, n: usize) {
    let rx = Arc::new(Mutex::new(rx));
    for i in 0..n {
        let weak: Weak<App> = Arc::downgrade(app);
        let rx = rx.clone();
        let _ = std::thread::Builder::new()
            .name(format!("cvat-worker-{i}"))
            .spawn(move || loop {
                let msg = {
                    let guard = rx.lock().unwrap_or_else(|p| p.into_inner());
                    guard.recv_timeout(std::time::Duration::from_millis(500))
                };
                match msg {
                    Ok(id) => match weak.upgrade() {
                        Some(app) => run(&app, &id),
                        None => return,
                    },
                    Err(mpsc::RecvTimeoutError::Timeout) => {
                        if weak.strong_count() == 0 {
                            return;
                        }
                    }
                    Err(mpsc::RecvTimeoutError::Disconnected) => return,
                }
            });
    }
}

struct Job {
    op_type: String,
    task_id: Option<i64>,
    format: Option<String>,
    owner_id: i64,
    params: Value,
}

/// What a finished request reports.
#[derive(Default)]
struct Outcome {
    result_url: Option<String>,
    result_id: Option<i64>,
    result_file: Option<String>,
}

fn run(app: &App, rq_id: &str) {
    let job = {
        let conn = app.db();
        let n = conn
            .execute(
                "UPDATE requests SET status='started', started=?2 WHERE id=?1 AND status='queued'",
                params![rq_id, util::now()],
            )
            .unwrap_or(0);
        if n == 0 {
            return;
        }
        conn.query_row(
            "SELECT op_type, task_id, format, owner_id, params FROM requests WHERE id=?1",
            [rq_id],
            |r| {
                Ok(Job {
                    op_type: r.get(0)?,
                    task_id: r.get(1)?,
                    format: r.get(2)?,
                    owner_id: r.get(3)?,
                    params: serde_json::from_str(&r.get::<_, String>(4)?).unwrap_or(Value::Null),
                })
            },
        )
    };
    let result = match job {
        Ok(job) => {
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| execute(app, rq_id, &job)))
                .unwrap_or_else(|_| Err("internal error: the worker panicked".to_string()))
        }
        Err(e) => Err(format!("request record unreadable: {e}")),
    };
    let conn = app.db();
    let now = util::now();
    let _ = match result {
        Ok(o) => conn.execute(
            "UPDATE requests SET status='finished', finished=?2, result_url=?3, result_id=?4, result_file=?5 WHERE id=?1",
            params![rq_id, now, o.result_url, o.result_id, o.result_file],
        ),
        Err(msg) => {
            let msg = if msg.ends_with('\n') { msg } else { format!("{msg}\n") };
            conn.execute(
                "UPDATE requests SET status='failed', finished=?2, message=?3, expiry=?4 WHERE id=?1",
                params![rq_id, now, msg, util::later(30 * 86400)],
            )
        }
    };
}

fn execute(app: &App, rq_id: &str, job: &Job) -> Result<Outcome, String> {
    let tid = job.task_id;
    match job.op_type.as_str() {
        "create:task" => create_task_data(app, tid.ok_or("no task")?, &job.params),
        "export:annotations" | "export:dataset" => export(app, rq_id, tid.ok_or("no task")?, job),
        "import:annotations" => {
            let path = job.params["path"].as_str().unwrap_or("");
            let filename = job.params["filename"].as_str().unwrap_or("annotations");
            let bytes = std::fs::read(path).map_err(|e| format!("uploaded file: {e}"))?;
            let r = import_annotations(
                app,
                tid.ok_or("no task")?,
                job.format.as_deref().unwrap_or(""),
                filename,
                bytes,
            );
            let _ = std::fs::remove_file(path);
            r.map(|_| Outcome::default())
        }
        "export:backup" => backup_export(app, rq_id, tid.ok_or("no task")?, job),
        "import:backup" => {
            let path = job.params["path"].as_str().unwrap_or("").to_string();
            let r = backup_restore(app, Path::new(&path), job.owner_id);
            let _ = std::fs::remove_file(&path);
            r.map(|id| Outcome {
                result_id: Some(id),
                ..Default::default()
            })
        }
        other => Err(format!("unknown request type {other}")),
    }
}

fn err<E: std::fmt::Display>(ctx: &str) -> impl Fn(E) -> String + '_ {
    move |e| format!("{ctx}: {e}")
}

// ---------------------------------------------------------------------------------------------------
// task data

struct Media {
    name: String,
    path: PathBuf,
}

fn natural_key(s: &str) -> Vec<(String, u128)> {
    let mut out = Vec::new();
    let mut text = String::new();
    let mut num = String::new();
    for c in s.chars() {
        if c.is_ascii_digit() {
            num.push(c);
        } else {
            if !num.is_empty() {
                out.push((std::mem::take(&mut text), num.parse().unwrap_or(u128::MAX)));
                num.clear();
            }
            text.push(c);
        }
    }
    out.push((text, num.parse().unwrap_or(0)));
    out
}

fn is_image_name(name: &str) -> bool {
    let ext = name.rsplit('.').next().unwrap_or("").to_ascii_lowercase();
    [
        "jpg", "jpeg", "png", "bmp", "gif", "tif", "tiff", "webp", "jpe", "pbm", "pgm", "ppm",
    ]
    .contains(&ext.as_str())
}

fn walk_share(root: &Path, rel: &str, out: &mut Vec<(String, PathBuf)>) -> Result<(), String> {
    let p = if rel.is_empty() {
        root.to_path_buf()
    } else {
        root.join(rel)
    };
    let meta = std::fs::metadata(&p).map_err(|e| format!("share path '{rel}': {e}"))?;
    if meta.is_dir() {
        let mut entries: Vec<_> = std::fs::read_dir(&p)
            .map_err(err("share directory"))?
            .filter_map(Result::ok)
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        entries.sort();
        for e in entries {
            let child = if rel.is_empty() {
                e
            } else {
                format!("{rel}/{e}")
            };
            let cp = root.join(&child);
            if cp.is_dir() || is_image_name(&child) || tasks::is_video_name(&child) {
                walk_share(root, &child, out)?;
            }
        }
    } else {
        out.push((rel.to_string(), p));
    }
    Ok(())
}

fn create_task_data(app: &App, task_id: i64, p: &Value) -> Result<Outcome, String> {
    let staging = app.data_dir.join("staging").join(task_id.to_string());
    std::fs::create_dir_all(&staging).map_err(err("staging"))?;
    let mut media: Vec<Media> = Vec::new();
    {
        let conn = app.db();
        let mut st = conn
            .prepare("SELECT name, path FROM staged WHERE task_id=?1 ORDER BY id")
            .map_err(err("database"))?;
        let rows = st
            .query_map([task_id], |r| {
                Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))
            })
            .map_err(err("database"))?;
        for r in rows {
            let (name, path) = r.map_err(err("database"))?;
            media.push(Media {
                name,
                path: PathBuf::from(path),
            });
        }
    }
    if let Some(list) = p.get("server_files").and_then(Value::as_array) {
        let root = app
            .share_dir
            .as_ref()
            .ok_or("this server has no share directory")?;
        for item in list {
            let s = item.as_str().unwrap_or("");
            let rel = util::safe_rel(s).unwrap_or_default();
            let mut found = Vec::new();
            walk_share(root, &rel, &mut found)?;
            for (name, path) in found {
                media.push(Media { name, path });
            }
        }
    }
    if let Some(list) = p.get("remote_files").and_then(Value::as_array) {
        let agent = ureq::AgentBuilder::new()
            .timeout(std::time::Duration::from_secs(120))
            .build();
        for item in list {
            let url = item.as_str().unwrap_or("");
            let resp = agent
                .get(url)
                .call()
                .map_err(|e| format!("cannot download '{url}': {e}"))?;
            let mut bytes = Vec::new();
            use std::io::Read;
            resp.into_reader()
                .take(crate::MAX_BODY as u64)
                .read_to_end(&mut bytes)
                .map_err(|e| format!("cannot download '{url}': {e}"))?;
            let path_part = url.split(['?', '#']).next().unwrap_or(url);
            let name = util::base_name(path_part);
            let path = staging.join(util::random_hex(8));
            std::fs::write(&path, &bytes).map_err(err("staging"))?;
            media.push(Media { name, path });
        }
    }
    // archives are unpacked; their image members become frames
    let mut expanded: Vec<Media> = Vec::new();
    for m in media {
        if m.name.to_ascii_lowercase().ends_with(".zip") {
            let f = std::fs::File::open(&m.path).map_err(err("archive"))?;
            let mut z = zip::ZipArchive::new(f).map_err(|e| format!("'{}': {e}", m.name))?;
            for i in 0..z.len() {
                let mut entry = z.by_index(i).map_err(|e| format!("'{}': {e}", m.name))?;
                if entry.is_dir() {
                    continue;
                }
                let Some(rel) = util::safe_rel(entry.name()) else {
                    continue;
                };
                if tasks::is_video_name(&rel) {
                    return Err(format!(
                        "'{rel}' in '{}' is a video: the local server does not decode video",
                        m.name
                    ));
                }
                if !is_image_name(&rel) {
                    continue;
                }
                let path = staging.join(util::random_hex(8));
                let mut out = std::fs::File::create(&path).map_err(err("staging"))?;
                std::io::copy(&mut entry, &mut out).map_err(err("archive"))?;
                expanded.push(Media { name: rel, path });
            }
        } else {
            expanded.push(m);
        }
    }
    let mut media = expanded;
    if media.is_empty() {
        return Err("No media data found".into());
    }
    match p
        .get("sorting_method")
        .and_then(Value::as_str)
        .unwrap_or("lexicographical")
    {
        "natural" => media.sort_by_key(|m| natural_key(&m.name)),
        "predefined" => {}
        "random" => {
            use rand::seq::SliceRandom;
            media.shuffle(&mut rand::thread_rng());
        }
        _ => media.sort_by(|a, b| a.name.cmp(&b.name)),
    }
    let total = media.len();
    let start = p
        .get("start_frame")
        .and_then(Value::as_i64)
        .unwrap_or(0)
        .max(0) as usize;
    let stop = p
        .get("stop_frame")
        .and_then(Value::as_i64)
        .map(|s| (s.max(0) as usize).min(total - 1))
        .unwrap_or(total - 1);
    let step = p
        .get("frame_filter")
        .and_then(Value::as_str)
        .and_then(tasks::parse_step)
        .unwrap_or(1);
    if start > stop {
        return Err(format!(
            "start_frame {start} is after stop_frame {stop} ({total} files)"
        ));
    }
    let task_dir = app.task_dir(task_id);
    let data_dir = task_dir.join("data");
    std::fs::create_dir_all(&data_dir).map_err(err("task directory"))?;
    let mut frames: Vec<StoredFrame> = Vec::new();
    for (i, m) in media.iter().enumerate() {
        if i < start || i > stop || !(i - start).is_multiple_of(step) {
            continue;
        }
        let bytes = std::fs::read(&m.path).map_err(|e| format!("'{}': {e}", m.name))?;
        if tasks::is_video_name(&m.name) || media::looks_like_video(&bytes) {
            return Err(format!(
                "'{}' is a video: the local server does not decode video",
                m.name
            ));
        }
        let (w, h) = media::dimensions(&bytes)
            .map_err(|e| format!("'{}' is not a supported image: {e}", m.name))?;
        let ext = m
            .name
            .rsplit_once('.')
            .map(|(_, e)| e.to_ascii_lowercase())
            .unwrap_or_else(|| "img".into());
        let file = format!("{:06}.{ext}", frames.len());
        std::fs::write(data_dir.join(&file), &bytes).map_err(err("task data"))?;
        frames.push(StoredFrame {
            name: m.name.clone(),
            width: w,
            height: h,
            file,
        });
    }
    let size = frames.len() as i64;
    let iq = p.get("image_quality").and_then(Value::as_i64).unwrap_or(70);
    let chunk_size = p
        .get("chunk_size")
        .and_then(Value::as_i64)
        .unwrap_or(72)
        .max(1);
    let now = util::now();
    let meta = json!({
        "frames": frames, "start_frame": start, "stop_frame": stop,
        "frame_filter": p.get("frame_filter").and_then(Value::as_str).unwrap_or(""),
        "sorting_method": p.get("sorting_method").and_then(Value::as_str).unwrap_or("lexicographical"),
        "chunk_size": chunk_size, "chunks_updated_date": now,
    });
    let mut conn = app.db();
    let tx = conn.transaction().map_err(err("database"))?;
    let row: Option<(i64, Option<i64>)> = tx
        .query_row(
            "SELECT segment_size, overlap FROM tasks WHERE id=?1",
            [task_id],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()
        .map_err(err("database"))?;
    let Some((seg, overlap)) = row else {
        return Err("the task was deleted while its data was being processed".into());
    };
    let seg = if seg <= 0 || seg > size { size } else { seg };
    let overlap = overlap.unwrap_or(0).clamp(0, (seg - 1).max(0));
    let mut s = 0i64;
    loop {
        let e = (s + seg - 1).min(size - 1);
        tx.execute(
            "INSERT INTO jobs(task_id, start_frame, stop_frame, created, updated) VALUES (?1,?2,?3,?4,?4)",
            params![task_id, s, e, now],
        )
        .map_err(err("database"))?;
        if e >= size - 1 {
            break;
        }
        s = e + 1 - overlap;
    }
    tx.execute(
        "UPDATE tasks SET size=?1, image_quality=?2, meta=?3, segment_size=?4, overlap=?5, updated=?6 WHERE id=?7",
        params![size, iq, meta.to_string(), seg, overlap, now, task_id],
    )
    .map_err(err("database"))?;
    tx.execute("DELETE FROM staged WHERE task_id=?1", [task_id])
        .map_err(err("database"))?;
    tx.commit().map_err(err("database"))?;
    drop(conn);
    let _ = std::fs::remove_dir_all(&staging);
    Ok(Outcome::default())
}

// ---------------------------------------------------------------------------------------------------
// export / import

/// The task as a dataset: labels, frames, annotations, task metadata.
pub fn task_dataset(app: &App, task_id: i64) -> Result<(Dataset, Vec<StoredFrame>), String> {
    let conn = app.db();
    let t = tasks::load_task(&conn, task_id)
        .map_err(|e| e.body.to_string())?
        .ok_or("the task no longer exists")?;
    let labels = api::task_labels_model(&conn, task_id).map_err(|e| e.body.to_string())?;
    let ann = tasks::load_annotations(&conn, task_id).map_err(|e| e.body.to_string())?;
    let stored = t.frames();
    let frames: Vec<cvat_format_api::Frame> = stored
        .iter()
        .enumerate()
        .map(|(i, f)| cvat_format_api::Frame {
            id: i as u32,
            name: f.name.clone(),
            width: f.width,
            height: f.height,
            subset: None,
        })
        .collect();
    let owner = crate::db::user_by_id(&conn, t.owner_id).map_err(err("database"))?;
    let jobs: Vec<Value> = {
        let mut st = conn
            .prepare("SELECT id, start_frame, stop_frame FROM jobs WHERE task_id=?1 ORDER BY id")
            .map_err(err("database"))?;
        let rows = st
            .query_map([task_id], |r| {
                Ok(json!({"id": r.get::<_, i64>(0)?, "start_frame": r.get::<_, i64>(1)?, "stop_frame": r.get::<_, i64>(2)?,
                    "url": format!("/api/jobs/{}", r.get::<_, i64>(0)?)}))
            })
            .map_err(err("database"))?;
        rows.collect::<Result<_, _>>().map_err(err("database"))?
    };
    let task_v = json!({
        "id": t.id, "name": t.name, "mode": "annotation", "overlap": t.overlap.unwrap_or(0),
        "bug_tracker": t.bug_tracker, "created_date": t.created, "updated_date": t.updated,
        "subset": t.subset,
        "owner": owner.map(|u| json!({"username": u.username, "email": u.email})),
    });
    let meta_v = json!({
        "start_frame": t.meta_i64("start_frame", 0), "stop_frame": t.meta_i64("stop_frame", 0),
        "frame_filter": t.meta_str("frame_filter"),
    });
    let mut ds = Dataset::from_rest(ann, labels, frames);
    ds.task = Some(cvat_format_api::rest::task_meta(
        Some(&task_v),
        Some(&meta_v),
        Some(&Value::Array(jobs)),
    ));
    Ok((ds, stored))
}

fn image_dir(format: &str) -> &'static str {
    match format {
        "COCO 1.0" | "COCO Keypoints 1.0" | "Datumaro 1.0" => "images/default/",
        "YOLO 1.1" => "obj_train_data/",
        "PASCAL VOC 1.1" => "JPEGImages/",
        _ => "images/",
    }
}

fn export(app: &App, rq_id: &str, task_id: i64, job: &Job) -> Result<Outcome, String> {
    let fmt = job.format.clone().unwrap_or_default();
    let entry = app
        .registry
        .get(&fmt)
        .ok_or_else(|| format!("Unknown format '{fmt}'"))?;
    let (ds, stored) = task_dataset(app, task_id)?;
    let mut sink = MemorySink::default();
    entry
        .format
        .write(&ds, &mut sink, &WriteOptions::default())
        .map_err(|e| format!("{}: {e}", fmt))?;
    let mut files = sink.into_files();
    if job.params["save_images"].as_bool() == Some(true) {
        let dir = image_dir(&entry.format.info().name);
        for f in &stored {
            let bytes = std::fs::read(app.task_dir(task_id).join("data").join(&f.file))
                .map_err(err("task data"))?;
            files.insert(format!("{dir}{}", f.name), bytes);
        }
    }
    let out = export_path(app, rq_id);
    write_zip(&out, files)?;
    Ok(Outcome {
        result_url: job.params["result_url"].as_str().map(str::to_string),
        result_id: None,
        result_file: Some(out.display().to_string()),
    })
}

fn export_path(app: &App, rq_id: &str) -> PathBuf {
    use sha2::Digest;
    let h = sha2::Sha256::digest(rq_id.as_bytes());
    let name: String = h.iter().take(12).map(|b| format!("{b:02x}")).collect();
    app.data_dir.join("exports").join(format!("{name}.zip"))
}

fn write_zip(path: &Path, files: BTreeMap<String, Vec<u8>>) -> Result<(), String> {
    let bytes = cvat_format_api::io::zip_files(files).map_err(err("zip"))?;
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, &bytes).map_err(err("export file"))?;
    std::fs::rename(&tmp, path).map_err(err("export file"))
}

fn mark_source_file(a: &mut Annotations) {
    use cvat_format_api::Source;
    for t in &mut a.tags {
        t.source = Source::File;
    }
    for s in &mut a.shapes {
        s.source = Source::File;
        for e in &mut s.elements {
            e.source = Source::File;
        }
    }
    for t in &mut a.tracks {
        t.source = Source::File;
        for e in &mut t.elements {
            e.source = Source::File;
        }
    }
}

/// Reads `bytes` in format `fmt` and replaces the task's annotations with the result.
pub fn import_annotations(
    app: &App,
    task_id: i64,
    fmt: &str,
    filename: &str,
    bytes: Vec<u8>,
) -> Result<(), String> {
    let entry = app
        .registry
        .get(fmt)
        .ok_or_else(|| format!("Unknown input format '{fmt}'"))?;
    let (labels, frames) = {
        let conn = app.db();
        let t = tasks::load_task(&conn, task_id)
            .map_err(|e| e.body.to_string())?
            .ok_or("the task no longer exists")?;
        let labels = api::task_labels_model(&conn, task_id).map_err(|e| e.body.to_string())?;
        let frames: Vec<cvat_format_api::Frame> = t
            .frames()
            .iter()
            .enumerate()
            .map(|(i, f)| cvat_format_api::Frame {
                id: i as u32,
                name: f.name.clone(),
                width: f.width,
                height: f.height,
                subset: None,
            })
            .collect();
        (labels, frames)
    };
    let nframes = frames.len();
    let input = Input::from_bytes(filename, bytes).map_err(|e| format!("CvatImportError: {e}"))?;
    let opts = ReadOptions::default()
        .with_labels(labels.clone())
        .with_frames(frames);
    let ds = entry
        .format
        .read(&input, &opts)
        .map_err(|e| format!("CvatImportError: {e}"))?;
    let mut ann = Annotations {
        version: 0,
        tags: ds.tags,
        shapes: ds.shapes,
        tracks: ds.tracks,
    };
    remap_labels(&mut ann, &ds.labels, &labels)?;
    mark_source_file(&mut ann);
    tasks::check_refs(&labels, &ann, nframes)
        .map_err(|e| format!("CvatImportError: {}", e.body))?;
    let conn = app.db();
    tasks::save_annotations(&conn, task_id, &ann, true).map_err(|e| e.body.to_string())?;
    Ok(())
}

/// Maps label and attribute ids of a dataset read without the task's ids onto the task's, by name.
fn remap_labels(ann: &mut Annotations, read: &[Label], task: &[Label]) -> Result<(), String> {
    use std::collections::HashMap;
    if read.is_empty() {
        return Ok(());
    }
    let mut lmap: HashMap<i64, i64> = HashMap::new();
    let mut amap: HashMap<(i64, i64), i64> = HashMap::new();
    let mut add = |r: &Label, t: &Label| {
        lmap.insert(r.id, t.id);
        for ra in &r.attributes {
            if let Some(ta) = t.attributes.iter().find(|a| a.name == ra.name) {
                amap.insert((r.id, ra.id), ta.id);
            }
        }
    };
    for r in read {
        let Some(t) = task.iter().find(|t| t.name == r.name) else {
            return Err(format!(
                "CvatImportError: Label '{}' is not registered for this task",
                r.name
            ));
        };
        add(r, t);
        for rs in &r.sublabels {
            if let Some(ts) = t.sublabels.iter().find(|s| s.name == rs.name) {
                add(rs, ts);
            }
        }
    }
    let fix = |label: &mut i64, attrs: &mut Vec<cvat_format_api::AttributeValue>| {
        let old = *label;
        if let Some(n) = lmap.get(&old) {
            *label = *n;
        }
        for a in attrs.iter_mut() {
            if let Some(n) = amap.get(&(old, a.spec_id)) {
                a.spec_id = *n;
            }
        }
    };
    for t in &mut ann.tags {
        fix(&mut t.label_id, &mut t.attributes);
    }
    for s in &mut ann.shapes {
        let old = s.label_id;
        fix(&mut s.label_id, &mut s.attributes);
        for e in &mut s.elements {
            fix(&mut e.label_id, &mut e.attributes);
        }
        let _ = old;
    }
    for t in &mut ann.tracks {
        let old = t.label_id;
        fix(&mut t.label_id, &mut t.attributes);
        for s in &mut t.shapes {
            let mut l = old;
            fix(&mut l, &mut s.attributes);
        }
        for e in &mut t.elements {
            let eo = e.label_id;
            fix(&mut e.label_id, &mut e.attributes);
            for s in &mut e.shapes {
                let mut l = eo;
                fix(&mut l, &mut s.attributes);
            }
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------------
// backups (CVAT's layout: task.json, annotations.json, data/ + data/manifest.jsonl)

fn label_backup(l: &Label, sub: bool) -> Value {
    let attrs: Vec<Value> = l
        .attributes
        .iter()
        .map(|a| {
            json!({"name": a.name, "mutable": a.mutable, "input_type": a.input_type, "default_value": a.default_value, "values": a.values})
        })
        .collect();
    let mut v =
        json!({"name": l.name, "color": l.color, "attributes": attrs, "type": l.kind.as_str()});
    if !sub {
        v["sublabels"] = Value::Array(l.sublabels.iter().map(|s| label_backup(s, true)).collect());
        if !l.svg.is_empty() {
            let mut svg = l.svg.clone();
            for s in &l.sublabels {
                svg = svg.replace(
                    &format!("data-label-id=\"{}\"", s.id),
                    &format!("data-label-name=\"{}\"", s.name),
                );
            }
            v["svg"] = json!(svg);
        }
    }
    v
}

/// Rewrites annotation JSON between ids (`label_id`, `spec_id`) and names (`label`, `name`).
fn ids_to_names(v: &mut Value, labels: &[Label], parent: Option<&Label>) {
    let Some(obj) = v.as_object_mut() else { return };
    obj.remove("id");
    let lid = obj.get("label_id").and_then(Value::as_i64);
    let pool: &[Label] = parent.map(|p| p.sublabels.as_slice()).unwrap_or(labels);
    let label = lid.and_then(|id| pool.iter().find(|l| l.id == id));
    obj.remove("label_id");
    let attr_fix = |attrs: &mut Value, label: Option<&Label>| {
        if let Some(list) = attrs.as_array_mut() {
            for a in list {
                let sid = a.get("spec_id").and_then(Value::as_i64);
                let name = label
                    .and_then(|l| l.attributes.iter().find(|s| Some(s.id) == sid))
                    .map(|s| s.name.clone())
                    .unwrap_or_default();
                if let Some(o) = a.as_object_mut() {
                    o.remove("spec_id");
                    o.insert("name".into(), json!(name));
                }
            }
        }
    };
    if let Some(a) = obj.get_mut("attributes") {
        attr_fix(a, label);
    }
    if let Some(shapes) = obj.get_mut("shapes").and_then(Value::as_array_mut) {
        for s in shapes {
            if let Some(o) = s.as_object_mut() {
                o.remove("id");
                if let Some(a) = o.get_mut("attributes") {
                    attr_fix(a, label);
                }
            }
        }
    }
    if let Some(els) = obj.get_mut("elements").and_then(Value::as_array_mut) {
        for e in els {
            ids_to_names(e, labels, label);
        }
    }
    obj.insert(
        "label".into(),
        json!(label.map(|l| l.name.clone()).unwrap_or_default()),
    );
}

fn names_to_ids(v: &mut Value, labels: &[Label], parent: Option<&Label>) -> Result<(), String> {
    let Some(obj) = v.as_object_mut() else {
        return Err("annotation is not an object".into());
    };
    let name = obj
        .get("label")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    let pool: &[Label] = parent.map(|p| p.sublabels.as_slice()).unwrap_or(labels);
    let label = pool
        .iter()
        .find(|l| l.name == name)
        .ok_or_else(|| format!("annotation label '{name}' is not in the backup's label list"))?;
    obj.remove("label");
    obj.insert("label_id".into(), json!(label.id));
    let attr_fix = |attrs: &mut Value| -> Result<(), String> {
        if let Some(list) = attrs.as_array_mut() {
            for a in list {
                let an = a
                    .get("name")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_string();
                let spec = label
                    .attributes
                    .iter()
                    .find(|s| s.name == an)
                    .ok_or_else(|| {
                        format!(
                            "attribute '{an}' is not an attribute of label '{}'",
                            label.name
                        )
                    })?;
                if let Some(o) = a.as_object_mut() {
                    o.remove("name");
                    o.insert("spec_id".into(), json!(spec.id));
                }
            }
        }
        Ok(())
    };
    if let Some(a) = obj.get_mut("attributes") {
        attr_fix(a)?;
    }
    if let Some(shapes) = obj.get_mut("shapes").and_then(Value::as_array_mut) {
        for s in shapes {
            if let Some(a) = s.get_mut("attributes") {
                attr_fix(a)?;
            }
        }
    }
    if let Some(els) = obj.get_mut("elements").and_then(Value::as_array_mut) {
        for e in els {
            names_to_ids(e, labels, Some(label))?;
        }
    }
    Ok(())
}

fn backup_export(app: &App, rq_id: &str, task_id: i64, job: &Job) -> Result<Outcome, String> {
    let (ds, stored) = task_dataset(app, task_id)?;
    let (t, jobs) = {
        let conn = app.db();
        let t = tasks::load_task(&conn, task_id)
            .map_err(|e| e.body.to_string())?
            .ok_or("the task no longer exists")?;
        let mut st = conn
            .prepare("SELECT start_frame, stop_frame FROM jobs WHERE task_id=?1 ORDER BY id")
            .map_err(err("database"))?;
        let jobs: Vec<Value> = st
            .query_map([task_id], |r| {
                Ok(json!({"start_frame": r.get::<_, i64>(0)?, "stop_frame": r.get::<_, i64>(1)?, "frames": [], "status": "annotation", "type": "annotation"}))
            })
            .map_err(err("database"))?
            .collect::<Result<_, _>>()
            .map_err(err("database"))?;
        (t, jobs)
    };
    let labels: Vec<Value> = ds.labels.iter().map(|l| label_backup(l, false)).collect();
    let task_json = json!({
        "name": t.name, "bug_tracker": t.bug_tracker, "status": t.status, "subset": t.subset,
        "labels": labels, "version": "1.0",
        "data": {
            "chunk_size": t.meta_i64("chunk_size", 72), "image_quality": t.image_quality.unwrap_or(70),
            "start_frame": t.meta_i64("start_frame", 0), "stop_frame": t.meta_i64("stop_frame", 0),
            "storage_method": "cache", "storage": "local",
            "sorting_method": t.meta.as_ref().and_then(|m| m.get("sorting_method")).cloned().unwrap_or(json!("lexicographical")),
            "chunk_type": "imageset", "deleted_frames": [],
        },
        "jobs": jobs,
    });
    let ann_src = Annotations {
        version: ds.version,
        tags: ds.tags.clone(),
        shapes: ds.shapes.clone(),
        tracks: ds.tracks.clone(),
    };
    let mut ann = tasks::annotations_value(&ann_src);
    for key in ["tags", "shapes", "tracks"] {
        if let Some(list) = ann.get_mut(key).and_then(Value::as_array_mut) {
            for item in list {
                ids_to_names(item, &ds.labels, None);
            }
        }
    }
    let mut files = BTreeMap::new();
    let mut manifest = String::from("{\"version\":\"1.1\"}\n{\"type\":\"images\"}\n");
    for f in &stored {
        let bytes = std::fs::read(app.task_dir(task_id).join("data").join(&f.file))
            .map_err(err("task data"))?;
        let (stem, ext) = match f.name.rsplit_once('.') {
            Some((s, e)) => (s.to_string(), format!(".{e}")),
            None => (f.name.clone(), String::new()),
        };
        manifest.push_str(
            &json!({"name": stem, "extension": ext, "width": f.width, "height": f.height, "meta": {"related_images": []}})
                .to_string(),
        );
        manifest.push('\n');
        files.insert(format!("data/{}", f.name), bytes);
    }
    files.insert("data/manifest.jsonl".into(), manifest.into_bytes());
    files.insert(
        "task.json".into(),
        serde_json::to_vec(&task_json).map_err(err("json"))?,
    );
    files.insert(
        "annotations.json".into(),
        serde_json::to_vec(&json!([ann])).map_err(err("json"))?,
    );
    let out = export_path(app, rq_id);
    write_zip(&out, files)?;
    Ok(Outcome {
        result_url: job.params["result_url"].as_str().map(str::to_string),
        result_id: None,
        result_file: Some(out.display().to_string()),
    })
}

fn backup_restore(app: &App, path: &Path, owner_id: i64) -> Result<i64, String> {
    let bytes = std::fs::read(path).map_err(err("backup file"))?;
    let input = Input::from_bytes("backup.zip", bytes)
        .map_err(|e| format!("the backup is not a ZIP archive: {e}"))?;
    // backups may be wrapped in one top-level directory
    let prefix = match input.find("task.json") {
        Some(p) => p.strip_suffix("task.json").unwrap_or("").to_string(),
        None => return Err("the backup has no task.json: not a CVAT task backup".into()),
    };
    let task_v: Value = serde_json::from_slice(
        &input
            .read(&format!("{prefix}task.json"))
            .map_err(|e| e.to_string())?,
    )
    .map_err(|e| format!("task.json: {e}"))?;
    let ann_v: Value = match input.read(&format!("{prefix}annotations.json")) {
        Ok(b) => serde_json::from_slice(&b).map_err(|e| format!("annotations.json: {e}"))?,
        Err(_) => json!([]),
    };
    let name = task_v["name"]
        .as_str()
        .unwrap_or("restored task")
        .to_string();
    let labels = task_v["labels"].as_array().cloned().unwrap_or_default();
    let labels = api::validate_labels(&Value::Array(labels))
        .map_err(|e| format!("task.json labels: {}", e.body))?;
    // media, in manifest order when there is one
    let data_prefix = format!("{prefix}data/");
    let mut names: Vec<String> = Vec::new();
    if let Ok(m) = input.read_text(&format!("{data_prefix}manifest.jsonl")) {
        for line in m.lines() {
            let Ok(v) = serde_json::from_str::<Value>(line) else {
                continue;
            };
            if let (Some(n), Some(e)) = (v["name"].as_str(), v["extension"].as_str()) {
                names.push(format!("{n}{e}"));
            }
        }
    }
    if names.is_empty() {
        let mut all: Vec<String> = input
            .files()
            .iter()
            .filter_map(|f| f.strip_prefix(&data_prefix))
            .filter(|f| is_image_name(f))
            .map(str::to_string)
            .collect();
        all.sort();
        names = all;
    }
    if names.is_empty() {
        return Err("the backup has no images under data/".into());
    }
    let data = &task_v["data"];
    let jobs = task_v["jobs"].as_array().cloned().unwrap_or_default();
    let seg = jobs
        .first()
        .map(|j| j["stop_frame"].as_i64().unwrap_or(0) - j["start_frame"].as_i64().unwrap_or(0) + 1)
        .unwrap_or(0);
    let now = util::now();
    let task_id = {
        let mut conn = app.db();
        let tx = conn.transaction().map_err(err("database"))?;
        tx.execute(
            "INSERT INTO tasks(name, owner_id, subset, bug_tracker, overlap, segment_size, created, updated) VALUES (?1,?2,?3,?4,?5,?6,?7,?7)",
            params![name, owner_id, task_v["subset"].as_str().unwrap_or(""), task_v["bug_tracker"].as_str().unwrap_or(""), task_v["overlap"].as_i64(), seg, now],
        )
        .map_err(err("database"))?;
        let id = tx.last_insert_rowid();
        api::insert_labels(&tx, api::LabelOwner::Task(id), &labels)
            .map_err(|e| format!("labels: {}", e.body))?;
        tx.commit().map_err(err("database"))?;
        id
    };
    let restore = || -> Result<(), String> {
        let staging = app.data_dir.join("staging").join(task_id.to_string());
        std::fs::create_dir_all(&staging).map_err(err("staging"))?;
        {
            let conn = app.db();
            for n in &names {
                let b = input
                    .read(&format!("{data_prefix}{n}"))
                    .map_err(|e| format!("backup media '{n}': {e}"))?;
                let p = staging.join(util::random_hex(8));
                std::fs::write(&p, b).map_err(err("staging"))?;
                conn.execute(
                    "INSERT INTO staged(task_id, name, path) VALUES (?1,?2,?3)",
                    params![task_id, n, p.display().to_string()],
                )
                .map_err(err("database"))?;
            }
        }
        let params = json!({
            "image_quality": data["image_quality"].as_i64().unwrap_or(70),
            "sorting_method": "predefined",
            "chunk_size": data["chunk_size"].as_i64().unwrap_or(72),
        });
        create_task_data(app, task_id, &params)?;
        // annotations
        let labels_model = {
            let conn = app.db();
            api::task_labels_model(&conn, task_id).map_err(|e| e.body.to_string())?
        };
        let mut merged = Annotations::default();
        for part in ann_v.as_array().cloned().unwrap_or_default() {
            let mut part = part;
            for key in ["tags", "shapes", "tracks"] {
                if let Some(list) = part.get_mut(key).and_then(Value::as_array_mut) {
                    for item in list {
                        names_to_ids(item, &labels_model, None)?;
                    }
                }
            }
            let a: Annotations =
                serde_json::from_value(part).map_err(|e| format!("annotations.json: {e}"))?;
            merged.tags.extend(a.tags);
            merged.shapes.extend(a.shapes);
            merged.tracks.extend(a.tracks);
        }
        let conn = app.db();
        tasks::save_annotations(&conn, task_id, &merged, true).map_err(|e| e.body.to_string())?;
        Ok(())
    };
    if let Err(e) = restore() {
        let _ = tasks::delete_task_data(app, task_id);
        return Err(e);
    }
    Ok(task_id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn natural_sort_orders_numbers_by_value() {
        let mut v = vec!["img10.jpg", "img2.jpg", "img1.jpg", "a.jpg"];
        v.sort_by_key(|s| natural_key(s));
        assert_eq!(v, ["a.jpg", "img1.jpg", "img2.jpg", "img10.jpg"]);
    }

    #[test]
    fn backup_annotations_go_from_ids_to_names_and_back() {
        let labels: Vec<Label> = serde_json::from_value(json!([
            {"id": 7, "name": "car", "type": "rectangle", "attributes": [
                {"id": 3, "name": "color", "mutable": false, "input_type": "select", "default_value": "red", "values": ["red"]}]},
            {"id": 8, "name": "body", "type": "skeleton", "attributes": [], "sublabels": [
                {"id": 9, "name": "head", "type": "points", "attributes": []}]}
        ]))
        .expect("labels");
        let original = json!({"id": 5, "label_id": 7, "type": "rectangle", "frame": 0,
            "attributes": [{"spec_id": 3, "value": "red"}],
            "elements": []});
        let mut v = original.clone();
        ids_to_names(&mut v, &labels, None);
        assert_eq!(v["label"], "car");
        assert_eq!(v["attributes"][0], json!({"name": "color", "value": "red"}));
        assert!(v.get("id").is_none() && v.get("label_id").is_none());
        names_to_ids(&mut v, &labels, None).expect("back to ids");
        assert_eq!(v["label_id"], 7);
        assert_eq!(v["attributes"][0], json!({"spec_id": 3, "value": "red"}));
        let mut sk = json!({"label": "body", "type": "skeleton", "attributes": [],
            "elements": [{"label": "head", "type": "points", "attributes": []}]});
        names_to_ids(&mut sk, &labels, None).expect("skeleton");
        assert_eq!(sk["elements"][0]["label_id"], 9);
        let mut bad = json!({"label": "nope", "attributes": []});
        assert!(names_to_ids(&mut bad, &labels, None).is_err());
    }
}
