//! Tasks, their data (upload flows, TUS, frames, chunks, preview), annotations, export/import/backup
//! endpoints, and jobs.

use crate::api::{self, parse_id, LabelOwner, R};
use crate::db::User;
use crate::http::{ApiError, Req, Resp};
use crate::{media, util, worker, App};
use cvat_format_api::rest::{parse_annotations, Annotations, RestAnnotations};
use cvat_format_api::Dataset;
use rusqlite::{params, Connection, OptionalExtension};
use serde_json::{json, Value};
use std::sync::Arc;

pub const TUS_MAX_SIZE: u64 = 26_843_545_600;

pub struct TaskRow {
    pub id: i64,
    pub name: String,
    pub owner_id: i64,
    pub project_id: Option<i64>,
    pub status: String,
    pub subset: String,
    pub bug_tracker: String,
    pub overlap: Option<i64>,
    pub segment_size: i64,
    pub image_quality: Option<i64>,
    pub size: Option<i64>,
    pub meta: Option<Value>,
    pub created: String,
    pub updated: String,
}

/// The frames of a task as stored in `meta.frames`.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct StoredFrame {
    pub name: String,
    pub width: u32,
    pub height: u32,
    /// File under the task's `data/` directory.
    pub file: String,
}

impl TaskRow {
    pub fn frames(&self) -> Vec<StoredFrame> {
        self.meta
            .as_ref()
            .and_then(|m| m.get("frames"))
            .and_then(|f| serde_json::from_value(f.clone()).ok())
            .unwrap_or_default()
    }
    pub fn meta_i64(&self, k: &str, default: i64) -> i64 {
        self.meta
            .as_ref()
            .and_then(|m| m.get(k))
            .and_then(Value::as_i64)
            .unwrap_or(default)
    }
    pub fn meta_str(&self, k: &str) -> String {
        self.meta
            .as_ref()
            .and_then(|m| m.get(k))
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string()
    }
}

pub fn load_task(conn: &Connection, id: i64) -> Result<Option<TaskRow>, ApiError> {
    Ok(conn
        .query_row(
            "SELECT id, name, owner_id, project_id, status, subset, bug_tracker, overlap, segment_size, image_quality, size, meta, created, updated FROM tasks WHERE id=?1",
            [id],
            |r| {
                Ok(TaskRow {
                    id: r.get(0)?,
                    name: r.get(1)?,
                    owner_id: r.get(2)?,
                    project_id: r.get(3)?,
                    status: r.get(4)?,
                    subset: r.get(5)?,
                    bug_tracker: r.get(6)?,
                    overlap: r.get(7)?,
                    segment_size: r.get(8)?,
                    image_quality: r.get(9)?,
                    size: r.get(10)?,
                    meta: r
                        .get::<_, Option<String>>(11)?
                        .and_then(|s| serde_json::from_str(&s).ok()),
                    created: r.get(12)?,
                    updated: r.get(13)?,
                })
            },
        )
        .optional()?)
}

/// The task, if it exists (404) and the user may see it (403).
pub fn get_task(conn: &Connection, id: i64, user: &User) -> Result<TaskRow, ApiError> {
    let t = load_task(conn, id)?.ok_or_else(|| ApiError::not_found("Task"))?;
    api::may_see(t.owner_id, user)?;
    Ok(t)
}

pub fn task_json(conn: &Connection, req: &Req, t: &TaskRow) -> Result<Value, ApiError> {
    let base = req.base();
    let jobs: i64 = conn.query_row("SELECT COUNT(*) FROM jobs WHERE task_id=?1", [t.id], |r| {
        r.get(0)
    })?;
    let mut m = serde_json::Map::new();
    let mut put = |k: &str, v: Value| {
        m.insert(k.to_string(), v);
    };
    put("url", json!(format!("{base}/api/tasks/{}", t.id)));
    put("id", json!(t.id));
    put("name", json!(t.name));
    put("project_id", json!(t.project_id));
    put(
        "mode",
        json!(if t.size.is_some() { "annotation" } else { "" }),
    );
    put("owner", api::owner_ref(conn, req, t.owner_id)?);
    put("assignee", Value::Null);
    put("bug_tracker", json!(t.bug_tracker));
    put("created_date", json!(t.created));
    put("updated_date", json!(t.updated));
    put("overlap", json!(t.overlap));
    put("segment_size", json!(t.segment_size));
    put("status", json!(t.status));
    if t.size.is_some() {
        put("data_chunk_size", json!(t.meta_i64("chunk_size", 72)));
        put("data_compressed_chunk_type", json!("imageset"));
        put("guide_id", Value::Null);
        put("data_original_chunk_type", json!("imageset"));
        put("size", json!(t.size));
        put("image_quality", json!(t.image_quality));
        put("data", json!(t.id));
    } else {
        put("guide_id", Value::Null);
    }
    put("dimension", json!("2d"));
    put("subset", json!(t.subset));
    put("organization", Value::Null);
    put("target_storage", Value::Null);
    put("source_storage", Value::Null);
    put(
        "jobs",
        json!({"count": jobs, "completed": 0, "validation": 0, "url": format!("{base}/api/jobs?task_id={}", t.id)}),
    );
    put(
        "labels",
        json!({"url": format!("{base}/api/labels?task_id={}", t.id)}),
    );
    put("assignee_updated_date", Value::Null);
    put("validation_mode", Value::Null);
    Ok(Value::Object(m))
}

pub fn route(app: &App, req: &Req, user: &User, rest: &[&str]) -> R {
    let m = req.method.as_str();
    match (m, rest) {
        ("GET", ["tasks"]) => tasks_list(app, req, user),
        ("POST", ["tasks"]) => task_create(app, req, user),
        // backup restore: upload flow on /api/tasks/backup
        ("POST", ["tasks", "backup"]) => backup_import(app, req, user),
        ("HEAD" | "PATCH", ["tasks", "backup", uid]) => {
            tus_chunk(app, req, user, "tasks/backup", uid)
        }
        ("GET", ["tasks", id]) => {
            let conn = app.db();
            let t = get_task(&conn, parse_id(id, "Task")?, user)?;
            Ok(Resp::json(200, &task_json(&conn, req, &t)?))
        }
        ("PATCH" | "PUT", ["tasks", id]) => task_update(app, req, user, parse_id(id, "Task")?),
        ("DELETE", ["tasks", id]) => {
            let id = parse_id(id, "Task")?;
            get_task(&app.db(), id, user)?;
            delete_task_data(app, id)?;
            Ok(Resp::empty(204))
        }
        ("POST", ["tasks", id, "data"]) => data_post(app, req, user, parse_id(id, "Task")?),
        ("HEAD" | "PATCH", ["tasks", id, "data", uid]) => {
            let tid = parse_id(id, "Task")?;
            get_task(&app.db(), tid, user)?;
            tus_chunk(app, req, user, &format!("tasks/{tid}/data"), uid)
        }
        ("GET", ["tasks", id, "data"]) => data_get(app, req, user, parse_id(id, "Task")?),
        ("GET", ["tasks", id, "data", "meta"]) => {
            let conn = app.db();
            let t = get_task(&conn, parse_id(id, "Task")?, user)?;
            Ok(Resp::json(200, &data_meta(&t, None)))
        }
        ("GET", ["tasks", id, "preview"]) => {
            let conn = app.db();
            let t = get_task(&conn, parse_id(id, "Task")?, user)?;
            drop(conn);
            preview(app, &t)
        }
        ("GET", ["tasks", id, "annotations"]) => {
            annotations_get(app, req, user, parse_id(id, "Task")?)
        }
        ("PUT", ["tasks", id, "annotations"]) => {
            annotations_put(app, req, user, parse_id(id, "Task")?)
        }
        ("PATCH", ["tasks", id, "annotations"]) => {
            annotations_patch(app, req, user, parse_id(id, "Task")?, None)
        }
        ("DELETE", ["tasks", id, "annotations"]) => {
            let tid = parse_id(id, "Task")?;
            let conn = app.db();
            get_task(&conn, tid, user)?;
            save_annotations(&conn, tid, &Annotations::default(), false)?;
            Ok(Resp::empty(204))
        }
        ("POST", ["tasks", id, "annotations"]) => {
            annotations_import_post(app, req, user, parse_id(id, "Task")?)
        }
        ("HEAD" | "PATCH", ["tasks", id, "annotations", uid]) => {
            let tid = parse_id(id, "Task")?;
            get_task(&app.db(), tid, user)?;
            tus_chunk(app, req, user, &format!("tasks/{tid}/annotations"), uid)
        }
        ("POST", ["tasks", id, "dataset", "export"]) => {
            let save_images = parse_bool(req.q("save_images"));
            start_export(app, req, user, parse_id(id, "Task")?, save_images)
        }
        ("GET", ["tasks", id, "dataset"]) => {
            let tid = parse_id(id, "Task")?;
            if req.q("action") == Some("download") {
                download_export(app, req, user, tid, true)
            } else {
                start_export(app, req, user, tid, true)
            }
        }
        ("POST", ["tasks", id, "dataset"]) => {
            // dataset import into a task = annotation import
            annotations_import_post(app, req, user, parse_id(id, "Task")?)
        }
        ("POST", ["tasks", id, "backup", "export"]) => {
            start_backup(app, req, user, parse_id(id, "Task")?)
        }
        ("GET", ["tasks", id, "backup"]) => {
            let tid = parse_id(id, "Task")?;
            if req.q("action") == Some("download") {
                download_backup(app, user, tid)
            } else {
                start_backup(app, req, user, tid)
            }
        }
        ("GET", ["jobs"]) => jobs_list(app, req, user),
        ("GET", ["jobs", id]) => {
            let conn = app.db();
            let j = get_job(&conn, parse_id(id, "Job")?, user)?;
            Ok(Resp::json(200, &job_json(&conn, req, &j)?))
        }
        ("GET", ["jobs", id, "annotations"]) => {
            let conn = app.db();
            let j = get_job(&conn, parse_id(id, "Job")?, user)?;
            let ann = load_annotations(&conn, j.task_id)?;
            Ok(Resp::json(
                200,
                &annotations_value(&clip(&ann, j.start, j.stop)),
            ))
        }
        ("PUT", ["jobs", id, "annotations"]) => {
            let (tid, start, stop) = {
                let conn = app.db();
                let j = get_job(&conn, parse_id(id, "Job")?, user)?;
                (j.task_id, j.start, j.stop)
            };
            job_annotations_put(app, req, tid, start, stop)
        }
        ("PATCH", ["jobs", id, "annotations"]) => {
            let tid = {
                let conn = app.db();
                get_job(&conn, parse_id(id, "Job")?, user)?.task_id
            };
            annotations_patch(app, req, user, tid, None)
        }
        ("DELETE", ["jobs", id, "annotations"]) => {
            let (tid, start, stop) = {
                let conn = app.db();
                let j = get_job(&conn, parse_id(id, "Job")?, user)?;
                (j.task_id, j.start, j.stop)
            };
            let conn = app.db();
            let ann = load_annotations(&conn, tid)?;
            let kept = remove_range(&ann, start, stop);
            save_annotations(&conn, tid, &kept, false)?;
            Ok(Resp::empty(204))
        }
        ("GET", ["jobs", id, "data", "meta"]) => {
            let conn = app.db();
            let j = get_job(&conn, parse_id(id, "Job")?, user)?;
            let t = get_task(&conn, j.task_id, user)?;
            Ok(Resp::json(200, &data_meta(&t, Some((j.start, j.stop)))))
        }
        ("GET", ["jobs", id, "data"]) => {
            let tid = {
                let conn = app.db();
                get_job(&conn, parse_id(id, "Job")?, user)?.task_id
            };
            data_get(app, req, user, tid)
        }
        _ => Err(ApiError::detail(
            405,
            format!("Method \"{}\" not allowed.", req.method),
        )),
    }
}

pub fn parse_bool(v: Option<&str>) -> bool {
    matches!(
        v.map(|s| s.to_ascii_lowercase()).as_deref(),
        Some("true" | "1" | "yes" | "on")
    )
}

fn tasks_list(app: &App, req: &Req, user: &User) -> R {
    let conn = app.db();
    let mut ids = Vec::new();
    {
        let mut st = conn.prepare("SELECT id FROM tasks WHERE owner_id=?1 OR ?2")?;
        for r in st.query_map(params![user.id, user.is_superuser], |r| r.get::<_, i64>(0))? {
            ids.push(r?);
        }
    }
    let mut items = Vec::new();
    for id in ids {
        if let Some(t) = load_task(&conn, id)? {
            items.push(task_json(&conn, req, &t)?);
        }
    }
    let items = api::filter_sort(
        req,
        items,
        &[
            "name",
            "status",
            "project_id",
            "owner",
            "subset",
            "mode",
            "dimension",
            "id",
        ],
        &["name", "owner", "status", "subset", "mode", "dimension"],
        &[
            "id",
            "name",
            "status",
            "owner",
            "project_id",
            "subset",
            "mode",
            "dimension",
            "created_date",
            "updated_date",
            "assignee",
        ],
    )?;
    Ok(Resp::json(200, &api::paginate(req, "/api/tasks", items)?))
}

fn task_create(app: &App, req: &Req, user: &User) -> R {
    let body = req.json()?;
    if !body.is_object() {
        return Err(ApiError::new(
            400,
            json!({"non_field_errors": ["Invalid data. Expected a dictionary."]}),
        ));
    }
    let name = match body.get("name") {
        Some(Value::String(s)) if !s.trim().is_empty() => s.clone(),
        Some(Value::String(_)) => {
            return Err(ApiError::field("name", "This field may not be blank."))
        }
        Some(_) => return Err(ApiError::field("name", "Not a valid string.")),
        None => return Err(ApiError::field("name", "This field is required.")),
    };
    let project_id = match body.get("project_id") {
        None | Some(Value::Null) => None,
        Some(v) => Some(
            v.as_i64()
                .ok_or_else(|| ApiError::field("project_id", "A valid integer is required."))?,
        ),
    };
    let labels = match body.get("labels") {
        Some(l) => api::validate_labels(l)?,
        None => Vec::new(),
    };
    if project_id.is_none() && labels.is_empty() {
        return Err(ApiError::bad_list(
            "Label set or project_id must be present",
        ));
    }
    let int = |k: &str| -> Result<Option<i64>, ApiError> {
        match body.get(k) {
            None | Some(Value::Null) => Ok(None),
            Some(v) => v
                .as_i64()
                .filter(|n| *n >= 0)
                .map(Some)
                .ok_or_else(|| ApiError::field(k, "A valid non-negative integer is required.")),
        }
    };
    let segment_size = int("segment_size")?.unwrap_or(0);
    let overlap = int("overlap")?;
    let now = util::now();
    let mut conn = app.db();
    if let Some(p) = project_id {
        api::get_project(&conn, p, user).map_err(|e| {
            if e.status == 404 {
                ApiError::field(
                    "project_id",
                    format!("Invalid pk \"{p}\" - object does not exist."),
                )
            } else {
                e
            }
        })?;
        if !labels.is_empty() {
            return Err(ApiError::bad_list(
                "Project must have only one of Label set or project_id",
            ));
        }
    }
    let tx = conn.transaction()?;
    tx.execute(
        "INSERT INTO tasks(name, owner_id, project_id, subset, bug_tracker, overlap, segment_size, created, updated) VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?8)",
        params![
            name,
            user.id,
            project_id,
            body.get("subset").and_then(Value::as_str).unwrap_or(""),
            body.get("bug_tracker").and_then(Value::as_str).unwrap_or(""),
            overlap,
            segment_size,
            now
        ],
    )?;
    let id = tx.last_insert_rowid();
    api::insert_labels(&tx, LabelOwner::Task(id), &labels)?;
    tx.commit()?;
    let t = get_task(&conn, id, user)?;
    let base = req.base();
    Ok(Resp::json(201, &task_json(&conn, req, &t)?)
        .with("Location", format!("{base}/api/tasks/{id}")))
}

fn task_update(app: &App, req: &Req, user: &User, id: i64) -> R {
    let body = req.json()?;
    let mut conn = app.db();
    get_task(&conn, id, user)?;
    let tx = conn.transaction()?;
    for k in ["name", "subset", "bug_tracker"] {
        if let Some(v) = body.get(k) {
            let Some(s) = v.as_str() else {
                return Err(ApiError::field(k, "Not a valid string."));
            };
            if k == "name" && s.trim().is_empty() {
                return Err(ApiError::field(k, "This field may not be blank."));
            }
            tx.execute(
                &format!("UPDATE tasks SET {k}=?1 WHERE id=?2"),
                params![s, id],
            )?;
        }
    }
    if let Some(p) = body.get("project_id") {
        let p = p.as_i64();
        if let Some(p) = p {
            api::get_project(&tx, p, user)?;
        }
        tx.execute("UPDATE tasks SET project_id=?1 WHERE id=?2", params![p, id])?;
    }
    if let Some(labels) = body.get("labels") {
        let labels = api::validate_labels(labels)?;
        let has_project: Option<i64> =
            tx.query_row("SELECT project_id FROM tasks WHERE id=?1", [id], |r| {
                r.get(0)
            })?;
        if has_project.is_some() {
            return Err(ApiError::bad_list(
                "Cannot change the labels of a task in a project; change the project's labels",
            ));
        }
        let existing: Vec<String> = {
            let mut st =
                tx.prepare("SELECT name FROM labels WHERE task_id=?1 AND parent_id IS NULL")?;
            let r = st
                .query_map([id], |r| r.get::<_, String>(0))?
                .collect::<Result<Vec<_>, _>>()?;
            r
        };
        let mut new = Vec::new();
        for l in labels {
            match l.get("id") {
                Some(_) => {}
                None => {
                    let n = l.get("name").and_then(Value::as_str).unwrap_or("");
                    if existing.iter().any(|e| e == n) {
                        return Err(ApiError::bad_list("All label names must be unique"));
                    }
                    new.push(l);
                }
            }
        }
        api::insert_labels(&tx, LabelOwner::Task(id), &new)?;
    }
    tx.execute(
        "UPDATE tasks SET updated=?1 WHERE id=?2",
        params![util::now(), id],
    )?;
    tx.commit()?;
    let t = get_task(&conn, id, user)?;
    Ok(Resp::json(200, &task_json(&conn, req, &t)?))
}

/// Deletes a task with its labels, jobs, annotations and files.
pub fn delete_task_data(app: &App, id: i64) -> Result<(), ApiError> {
    {
        let mut conn = app.db();
        let tx = conn.transaction()?;
        tx.execute("DELETE FROM labels WHERE task_id=?1", [id])?;
        tx.execute("DELETE FROM jobs WHERE task_id=?1", [id])?;
        tx.execute("DELETE FROM staged WHERE task_id=?1", [id])?;
        tx.execute("DELETE FROM tasks WHERE id=?1", [id])?;
        tx.commit()?;
    }
    app.frames_cache
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .remove(&id);
    let dir = app.task_dir(id);
    if dir.exists() {
        std::fs::remove_dir_all(&dir)?;
    }
    let staging = app.data_dir.join("staging").join(id.to_string());
    if staging.exists() {
        let _ = std::fs::remove_dir_all(&staging);
    }
    Ok(())
}

pub fn data_meta(t: &TaskRow, range: Option<(i64, i64)>) -> Value {
    let frames = t.frames();
    let (start, stop) = range.unwrap_or((0, frames.len() as i64 - 1));
    let list: Vec<Value> = frames
        .iter()
        .enumerate()
        .filter(|(i, _)| (*i as i64) >= start && (*i as i64) <= stop)
        .map(|(_, f)| {
            json!({"width": f.width, "height": f.height, "name": f.name, "related_files": 0, "has_related_context": false})
        })
        .collect();
    let size = list.len();
    json!({
        "chunks_updated_date": t.meta.as_ref().and_then(|m| m.get("chunks_updated_date")).cloned().unwrap_or(json!(t.updated)),
        "chunk_size": t.meta_i64("chunk_size", 72),
        "size": size,
        "image_quality": t.image_quality.unwrap_or(70),
        "start_frame": if range.is_some() { start } else { t.meta_i64("start_frame", 0) },
        "stop_frame": if range.is_some() { stop } else { t.meta_i64("stop_frame", (frames.len() as i64 - 1).max(0)) },
        "frame_filter": t.meta_str("frame_filter"),
        "frames": list,
        "deleted_frames": [],
        "included_frames": null,
    })
}

// ---------------------------------------------------------------------------------------------------
// data upload

const VIDEO_EXT: &[&str] = &[
    "mp4", "avi", "mov", "mkv", "webm", "mpg", "mpeg", "m4v", "wmv", "flv", "3gp", "ts", "mts",
];

pub fn is_video_name(name: &str) -> bool {
    let ext = name.rsplit('.').next().unwrap_or("").to_ascii_lowercase();
    name.contains('.') && VIDEO_EXT.contains(&ext.as_str())
}

pub fn video_error(name: &str) -> ApiError {
    ApiError::bad(format!(
        "'{name}' is a video: the local server does not decode video. Extract the frames as images and upload those."
    ))
}

fn stage_file(app: &App, task_id: i64, name: &str, data: &[u8]) -> Result<(), ApiError> {
    let name = util::base_name(name);
    if is_video_name(&name) {
        return Err(video_error(&name));
    }
    let dir = app.data_dir.join("staging").join(task_id.to_string());
    std::fs::create_dir_all(&dir)?;
    let path = dir.join(util::random_hex(8));
    std::fs::write(&path, data)?;
    app.db().execute(
        "INSERT INTO staged(task_id, name, path) VALUES (?1,?2,?3)",
        params![task_id, name, path.display().to_string()],
    )?;
    Ok(())
}

fn data_post(app: &App, req: &Req, user: &User, task_id: i64) -> R {
    {
        let conn = app.db();
        let t = get_task(&conn, task_id, user)?;
        if t.size.is_some() {
            return Err(ApiError::bad(
                "Adding more data is not supported: the task already has data",
            ));
        }
    }
    if req.has_header("tus-resumable") && !req.has_header("upload-finish") {
        return tus_create(app, req, user, &format!("tasks/{task_id}/data"), None);
    }
    if req.has_header("upload-start") {
        let staging = app.data_dir.join("staging").join(task_id.to_string());
        let _ = std::fs::remove_dir_all(&staging);
        app.db()
            .execute("DELETE FROM staged WHERE task_id=?1", [task_id])?;
        return Ok(Resp::empty(202));
    }
    if let Some(parts) = &req.parts {
        for p in parts.iter().filter(|p| p.filename.is_some()) {
            if p.name.starts_with("client_files") {
                stage_file(
                    app,
                    task_id,
                    p.filename.as_deref().unwrap_or("file"),
                    &p.data,
                )?;
            }
        }
    }
    if req.has_header("upload-multiple") {
        return Ok(Resp::empty(200));
    }
    // Upload-Finish, or a one-shot request
    let body = req.json()?;
    let mut params_v = serde_json::Map::new();
    for k in [
        "image_quality",
        "sorting_method",
        "start_frame",
        "stop_frame",
        "frame_filter",
        "remote_files",
        "server_files",
        "chunk_size",
        "copy_data",
        "use_cache",
    ] {
        if let Some(v) = body.get(k) {
            params_v.insert(k.to_string(), v.clone());
        }
    }
    // multipart forms carry list items as `server_files[0]` etc.
    if let Some(parts) = &req.parts {
        for prefix in ["server_files", "remote_files"] {
            let list: Vec<Value> = parts
                .iter()
                .filter(|p| p.filename.is_none() && p.name.starts_with(prefix))
                .map(|p| Value::String(String::from_utf8_lossy(&p.data).into_owned()))
                .collect();
            if !list.is_empty() {
                params_v.insert(prefix.to_string(), Value::Array(list));
            }
        }
    }
    let iq = match params_v.get("image_quality") {
        None => 70,
        Some(v) => v
            .as_i64()
            .or_else(|| v.as_str().and_then(|s| s.trim().parse().ok()))
            .filter(|q| (1..=100).contains(q))
            .ok_or_else(|| {
                ApiError::field("image_quality", "Ensure this value is between 1 and 100.")
            })?,
    };
    params_v.insert("image_quality".into(), json!(iq));
    if let Some(s) = params_v.get("sorting_method") {
        let ok = s
            .as_str()
            .is_some_and(|s| ["lexicographical", "natural", "predefined", "random"].contains(&s));
        if !ok {
            return Err(ApiError::field(
                "sorting_method",
                format!("{s} is not a valid choice."),
            ));
        }
    }
    for k in ["start_frame", "stop_frame", "chunk_size"] {
        if let Some(v) = params_v.get(k) {
            let n = v
                .as_i64()
                .or_else(|| v.as_str().and_then(|s| s.trim().parse().ok()))
                .filter(|n| *n >= 0)
                .ok_or_else(|| ApiError::field(k, "A valid non-negative integer is required."))?;
            params_v.insert(k.to_string(), json!(n));
        }
    }
    if let Some(f) = params_v.get("frame_filter") {
        let s = f.as_str().unwrap_or("");
        if !s.is_empty() && parse_step(s).is_none() {
            return Err(ApiError::field(
                "frame_filter",
                "Invalid frame filter; expected 'step=N' with N >= 1",
            ));
        }
    }
    for k in ["server_files", "remote_files"] {
        if let Some(v) = params_v.get(k) {
            let list = v
                .as_array()
                .filter(|l| l.iter().all(Value::is_string))
                .ok_or_else(|| ApiError::field(k, "Expected a list of strings."))?;
            for item in list {
                let s = item.as_str().unwrap_or("");
                if is_video_name(s.split('?').next().unwrap_or(s)) {
                    return Err(video_error(s));
                }
                if k == "server_files" {
                    if app.share_dir.is_none() {
                        return Err(ApiError::field(
                            k,
                            "This server has no share directory; start it with --share-dir",
                        ));
                    }
                    if util::safe_rel(s).is_none() && s != "/" && !s.is_empty() {
                        return Err(ApiError::field(k, format!("Invalid share path '{s}'")));
                    }
                } else if !(s.starts_with("http://") || s.starts_with("https://")) {
                    return Err(ApiError::field(k, format!("Invalid URL '{s}'")));
                }
            }
        }
    }
    let staged: i64 = app.db().query_row(
        "SELECT COUNT(*) FROM staged WHERE task_id=?1",
        [task_id],
        |r| r.get(0),
    )?;
    let has_remote = params_v
        .get("remote_files")
        .and_then(Value::as_array)
        .is_some_and(|l| !l.is_empty());
    let has_share = params_v
        .get("server_files")
        .and_then(Value::as_array)
        .is_some_and(|l| !l.is_empty());
    if staged == 0 && !has_remote && !has_share {
        return Err(ApiError::bad_list(
            "No media data found: send client_files, server_files or remote_files",
        ));
    }
    let rq_id = format!("create:task-{task_id}");
    worker::submit(
        app,
        &rq_id,
        worker::NewRequest {
            op_type: "create:task",
            target: "task",
            task_id: Some(task_id),
            format: None,
            owner_id: user.id,
            params: Value::Object(params_v),
            expiry_secs: 500,
        },
    )?;
    Ok(Resp::json(202, &json!({ "rq_id": rq_id })))
}

pub fn parse_step(s: &str) -> Option<usize> {
    let v = s.trim().strip_prefix("step=")?;
    v.trim().parse::<usize>().ok().filter(|n| *n >= 1)
}

// ---------------------------------------------------------------------------------------------------
// TUS

fn tus_headers(r: Resp) -> Resp {
    r.with("Tus-Resumable", "1.0.0")
        .with("Tus-Version", "1.0.0")
        .with("Tus-Extension", "")
        .with("Tus-Max-Size", TUS_MAX_SIZE.to_string())
        .with("Access-Control-Allow-Origin", "*")
        .with(
            "Access-Control-Allow-Methods",
            "PATCH,HEAD,GET,POST,OPTIONS",
        )
        .with(
            "Access-Control-Expose-Headers",
            "Tus-Resumable,upload-length,upload-metadata,Location,Upload-Offset",
        )
        .with(
            "Access-Control-Allow-Headers",
            "Tus-Resumable,upload-length,upload-metadata,Location,Upload-Offset,content-type",
        )
        .with("Cache-Control", "no-store")
}

fn tus_filename(req: &Req) -> Option<String> {
    use base64::Engine;
    let md = req.header("upload-metadata")?;
    for item in md.split(',') {
        let mut it = item.split_whitespace();
        if it.next() == Some("filename") {
            let v = it.next()?;
            let b = base64::engine::general_purpose::STANDARD.decode(v).ok()?;
            return String::from_utf8(b).ok();
        }
    }
    None
}

/// TUS creation (`POST` with `Tus-Resumable`). `rename` gives the stored file name for backups.
fn tus_create(app: &App, req: &Req, user: &User, scope: &str, rename: Option<String>) -> R {
    let len: u64 = req
        .header("upload-length")
        .and_then(|s| s.trim().parse().ok())
        .ok_or_else(|| ApiError::bad("Upload-Length header is missing or not a number"))?;
    if len > TUS_MAX_SIZE {
        return Err(ApiError::detail(
            413,
            format!("Upload-Length {len} exceeds Tus-Max-Size {TUS_MAX_SIZE}"),
        ));
    }
    let filename = util::base_name(&tus_filename(req).unwrap_or_else(|| "file".to_string()));
    if scope.ends_with("/data") && is_video_name(&filename) {
        return Err(video_error(&filename));
    }
    let stored_name = rename.unwrap_or_else(|| filename.clone());
    let uid = util::uuid4();
    let path = app.data_dir.join("uploads").join(&uid);
    std::fs::write(&path, b"")?;
    app.db().execute(
        "INSERT INTO uploads(id, owner_id, scope, filename, length, offset, path) VALUES (?1,?2,?3,?4,?5,0,?6)",
        params![uid, user.id, scope, stored_name, len as i64, path.display().to_string()],
    )?;
    // The real server builds Location from Origin (and fails without it); we fall back to Host.
    let origin = req
        .header("origin")
        .map(|o| o.trim_end_matches('/').to_string())
        .unwrap_or_else(|| req.base());
    let r = Resp::empty(201)
        .with("Location", format!("{origin}/api/{scope}/{uid}"))
        .with("Upload-Filename", stored_name);
    if len == 0 {
        finish_upload(app, &uid)?;
    }
    Ok(tus_headers(r))
}

struct Upload {
    owner_id: i64,
    filename: String,
    length: i64,
    offset: i64,
    path: String,
    complete: bool,
}

fn load_upload(conn: &Connection, scope: &str, uid: &str) -> Result<Option<Upload>, ApiError> {
    Ok(conn
        .query_row(
            "SELECT owner_id, filename, length, offset, path, complete FROM uploads WHERE id=?1 AND scope=?2",
            params![uid, scope],
            |r| {
                Ok(Upload {
                    owner_id: r.get(0)?,
                    filename: r.get(1)?,
                    length: r.get(2)?,
                    offset: r.get(3)?,
                    path: r.get(4)?,
                    complete: r.get::<_, i64>(5)? != 0,
                })
            },
        )
        .optional()?)
}

/// TUS `HEAD` (offset) and `PATCH` (append a chunk).
fn tus_chunk(app: &App, req: &Req, user: &User, scope: &str, uid: &str) -> R {
    let up = {
        let conn = app.db();
        load_upload(&conn, scope, uid)?
    };
    let Some(up) = up.filter(|u| u.owner_id == user.id || user.is_superuser) else {
        return Ok(tus_headers(Resp::empty(404)));
    };
    if req.method == "HEAD" {
        if up.complete {
            return Ok(tus_headers(Resp::empty(404)));
        }
        return Ok(tus_headers(Resp::empty(200))
            .with("Upload-Offset", up.offset.to_string())
            .with("Upload-Length", up.length.to_string()));
    }
    let ct = req.header("content-type").unwrap_or("");
    if ct != "application/offset+octet-stream" {
        return Err(ApiError::detail(
            415,
            format!("Unsupported media type \"{ct}\" in request."),
        ));
    }
    let offset: i64 = req
        .header("upload-offset")
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(-1);
    if up.complete || offset != up.offset {
        return Ok(tus_headers(Resp::empty(409)));
    }
    let new_offset = up.offset + req.body.len() as i64;
    if new_offset > up.length {
        return Err(ApiError::detail(
            413,
            format!(
                "chunk ends at byte {new_offset}, past the declared Upload-Length {}",
                up.length
            ),
        ));
    }
    {
        use std::io::Write;
        let mut f = std::fs::OpenOptions::new().append(true).open(&up.path)?;
        f.write_all(&req.body)?;
        f.flush()?;
    }
    app.db().execute(
        "UPDATE uploads SET offset=?1 WHERE id=?2",
        params![new_offset, uid],
    )?;
    if new_offset == up.length {
        finish_upload(app, uid)?;
    }
    Ok(tus_headers(Resp::empty(204))
        .with("Upload-Offset", new_offset.to_string())
        .with("Upload-Filename", up.filename))
}

/// A completed upload: task data goes to the staging list, others wait for `Upload-Finish`.
fn finish_upload(app: &App, uid: &str) -> Result<(), ApiError> {
    let conn = app.db();
    conn.execute("UPDATE uploads SET complete=1 WHERE id=?1", [uid])?;
    let (scope, filename, path): (String, String, String) = conn.query_row(
        "SELECT scope, filename, path FROM uploads WHERE id=?1",
        [uid],
        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
    )?;
    if let Some(tid) = scope
        .strip_prefix("tasks/")
        .and_then(|s| s.strip_suffix("/data"))
        .and_then(|s| s.parse::<i64>().ok())
    {
        conn.execute(
            "INSERT INTO staged(task_id, name, path) VALUES (?1,?2,?3)",
            params![tid, filename, path],
        )?;
        conn.execute("DELETE FROM uploads WHERE id=?1", [uid])?;
    }
    Ok(())
}

/// The completed upload named `filename` in `scope` (the newest one).
fn take_upload(
    app: &App,
    user: &User,
    scope: &str,
    filename: &str,
) -> Result<Option<(String, String)>, ApiError> {
    let conn = app.db();
    Ok(conn
        .query_row(
            "SELECT id, path FROM uploads WHERE scope=?1 AND filename=?2 AND complete=1 AND owner_id=?3 ORDER BY rowid DESC LIMIT 1",
            params![scope, filename, user.id],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?)
}

// ---------------------------------------------------------------------------------------------------
// frames, chunks, preview

/// The frames of a task and its image quality, for frame requests: checks access like [`get_task`],
/// then parses the stored frame list only when the task's meta changed since the last request.
fn task_frames(
    app: &App,
    task_id: i64,
    user: &User,
) -> Result<(Arc<Vec<StoredFrame>>, Option<i64>), ApiError> {
    let conn = app.db();
    let row = conn
        .query_row(
            "SELECT owner_id, image_quality, updated || '/' || ifnull(length(meta), -1) FROM tasks WHERE id=?1",
            [task_id],
            |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, Option<i64>>(1)?,
                    r.get::<_, String>(2)?,
                ))
            },
        )
        .optional()?;
    let Some((owner_id, quality, version)) = row else {
        return Err(ApiError::not_found("Task"));
    };
    api::may_see(owner_id, user)?;
    let cached = {
        let cache = app.frames_cache.lock().unwrap_or_else(|p| p.into_inner());
        cache
            .get(&task_id)
            .filter(|(v, _)| *v == version)
            .map(|(_, f)| f.clone())
    };
    if let Some(frames) = cached {
        return Ok((frames, quality));
    }
    let t = load_task(&conn, task_id)?.ok_or_else(|| ApiError::not_found("Task"))?;
    drop(conn);
    let frames = Arc::new(t.frames());
    let mut cache = app.frames_cache.lock().unwrap_or_else(|p| p.into_inner());
    if cache.len() >= 64 {
        cache.clear();
    }
    cache.insert(task_id, (version, frames.clone()));
    Ok((frames, t.image_quality))
}

/// The `quality` query parameter of data requests (default `compressed`).
fn quality_param(req: &Req) -> Result<&str, ApiError> {
    let quality = req.q("quality").unwrap_or("compressed");
    if !["compressed", "original"].contains(&quality) {
        return Err(ApiError::bad(format!(
            "Wrong quality '{quality}'; use 'compressed' or 'original'"
        )));
    }
    Ok(quality)
}

/// `GET /api/tasks/{id}/data?type=frame`: one frame, as uploaded (`original`) or re-encoded.
fn frame_get(app: &App, req: &Req, user: &User, task_id: i64) -> R {
    let (frames, image_quality) = task_frames(app, task_id, user)?;
    let quality = quality_param(req)?;
    let n = req.q("number").unwrap_or("");
    let idx = n
        .parse::<i64>()
        .ok()
        .filter(|i| *i >= 0 && (*i as usize) < frames.len());
    let Some(idx) = idx else {
        return Err(ApiError::bad(format!(
            "Invalid frame '{n}'. The frame number should be in the [0, {}] range",
            frames.len()
        )));
    };
    let f = &frames[idx as usize];
    let path = app.task_dir(task_id).join("data").join(&f.file);
    if quality == "original" {
        let bytes = std::fs::read(&path)?;
        let ct = media::content_type(&f.name, &bytes);
        return Ok(Resp::bytes(200, ct, bytes));
    }
    let bytes = media::compressed_frame(
        &app.task_dir(task_id),
        &path,
        idx as usize,
        image_quality.unwrap_or(70) as u8,
    )
    .map_err(|e| ApiError::bad(format!("frame {idx} cannot be decoded: {e}")))?;
    Ok(Resp::bytes(200, "image/jpeg", bytes))
}

fn data_get(app: &App, req: &Req, user: &User, task_id: i64) -> R {
    if req.q("type") == Some("frame") {
        return frame_get(app, req, user, task_id);
    }
    let t = {
        let conn = app.db();
        get_task(&conn, task_id, user)?
    };
    let frames = t.frames();
    let kind = req.q("type").unwrap_or("");
    let quality = quality_param(req)?;
    match kind {
        "chunk" => {
            let chunk_size = t.meta_i64("chunk_size", 72).max(1) as usize;
            let n = req.q("number").unwrap_or("");
            let chunks = frames.len().div_ceil(chunk_size);
            let idx = n.parse::<usize>().ok().filter(|i| *i < chunks);
            let Some(idx) = idx else {
                return Err(ApiError::bad(format!(
                    "Invalid chunk number '{n}'. The chunk number should be in the [0, {}] range",
                    chunks.saturating_sub(1)
                )));
            };
            let mut files = std::collections::BTreeMap::new();
            let start = idx * chunk_size;
            let end = (start + chunk_size).min(frames.len());
            for (i, f) in frames.iter().enumerate().take(end).skip(start) {
                let path = app.task_dir(task_id).join("data").join(&f.file);
                let (bytes, ext) = if quality == "original" {
                    let ext = f
                        .name
                        .rsplit('.')
                        .next()
                        .unwrap_or("jpg")
                        .to_ascii_lowercase();
                    (std::fs::read(&path)?, ext)
                } else {
                    let b = media::compressed_frame(
                        &app.task_dir(task_id),
                        &path,
                        i,
                        t.image_quality.unwrap_or(70) as u8,
                    )
                    .map_err(|e| ApiError::bad(format!("frame {i} cannot be decoded: {e}")))?;
                    (b, "jpeg".to_string())
                };
                files.insert(format!("{:06}.{ext}", i - start), bytes);
            }
            let zip = cvat_format_api::io::zip_files(files)
                .map_err(|e| ApiError::internal(format!("chunk zip: {e}")))?;
            Ok(Resp::bytes(200, "application/zip", zip)
                .with("X-Updated-Date", t.meta_str("chunks_updated_date")))
        }
        "preview" => preview(app, &t),
        "context_image" => Err(ApiError::bad("This task has no context images")),
        other => Err(ApiError::bad(format!(
            "Unsupported data type '{other}'; use type=frame, chunk or preview"
        ))),
    }
}

fn preview(app: &App, t: &TaskRow) -> R {
    let frames = t.frames();
    let Some(f) = frames.first() else {
        return Err(ApiError::detail(404, "The task has no data yet"));
    };
    let path = app.task_dir(t.id).join("data").join(&f.file);
    let bytes =
        media::preview(&path).map_err(|e| ApiError::bad(format!("preview cannot be made: {e}")))?;
    Ok(Resp::bytes(200, "image/jpeg", bytes))
}

// ---------------------------------------------------------------------------------------------------
// annotations

pub fn load_annotations(conn: &Connection, task_id: i64) -> Result<Annotations, ApiError> {
    let s: String = conn
        .query_row("SELECT ann FROM tasks WHERE id=?1", [task_id], |r| r.get(0))
        .optional()?
        .ok_or_else(|| ApiError::not_found("Task"))?;
    parse_annotations("stored annotations", s.as_bytes())
        .map_err(|e| ApiError::internal(format!("stored annotations: {e}")))
}

pub fn annotations_value(a: &Annotations) -> Value {
    let ds = Dataset::from_rest(a.clone(), Vec::new(), Vec::new());
    serde_json::to_value(RestAnnotations(&ds)).unwrap_or(Value::Null)
}

/// Stores annotations, giving ids to objects that have none (`renumber`: all of them), and bumps the
/// version.
pub fn save_annotations(
    conn: &Connection,
    task_id: i64,
    ann: &Annotations,
    renumber: bool,
) -> Result<Annotations, ApiError> {
    let (mut next, version): (i64, i64) = conn.query_row(
        "SELECT next_ann_id, json_extract(ann, '$.version') FROM tasks WHERE id=?1",
        [task_id],
        |r| Ok((r.get(0)?, r.get::<_, Option<i64>>(1)?.unwrap_or(0))),
    )?;
    let mut a = ann.clone();
    let mut give = |id: &mut Option<i64>| {
        if renumber || id.is_none() {
            *id = Some(next);
            next += 1;
        }
    };
    for t in &mut a.tags {
        give(&mut t.id);
    }
    for s in &mut a.shapes {
        give(&mut s.id);
        for e in &mut s.elements {
            give(&mut e.id);
        }
    }
    for t in &mut a.tracks {
        give(&mut t.id);
        for s in &mut t.shapes {
            give(&mut s.id);
        }
        for e in &mut t.elements {
            give(&mut e.id);
            for s in &mut e.shapes {
                give(&mut s.id);
            }
        }
    }
    a.version = version + 1;
    let v = annotations_value(&a);
    conn.execute(
        "UPDATE tasks SET ann=?1, next_ann_id=?2, updated=?3 WHERE id=?4",
        params![v.to_string(), next, util::now(), task_id],
    )?;
    Ok(a)
}

/// Checks that every label and attribute an annotation names belongs to the task.
pub fn check_refs(
    labels: &[cvat_format_api::Label],
    a: &Annotations,
    frames: usize,
) -> Result<(), ApiError> {
    use std::collections::HashMap;
    let mut by_id: HashMap<i64, &cvat_format_api::Label> = HashMap::new();
    for l in labels {
        by_id.insert(l.id, l);
        for s in &l.sublabels {
            by_id.insert(s.id, s);
        }
    }
    let check =
        |what: &str, label_id: i64, frame: u32, attrs: &[cvat_format_api::AttributeValue]| {
            let Some(l) = by_id.get(&label_id) else {
                return Err(ApiError::bad_list(format!(
                    "{what} on frame {frame}: label id {label_id} is not a label of this task"
                )));
            };
            if frames > 0 && frame as usize >= frames {
                return Err(ApiError::bad_list(format!(
                    "{what}: frame {frame} is outside the task (it has {frames} frames)"
                )));
            }
            for at in attrs {
                if !l.attributes.iter().any(|s| s.id == at.spec_id) {
                    return Err(ApiError::bad_list(format!(
                    "{what} on frame {frame}: attribute spec id {} does not belong to label '{}'",
                    at.spec_id, l.name
                )));
                }
            }
            Ok(())
        };
    for t in &a.tags {
        check("tag", t.label_id, t.frame, &t.attributes)?;
    }
    for s in &a.shapes {
        check("shape", s.label_id, s.frame, &s.attributes)?;
        for e in &s.elements {
            check("skeleton element", e.label_id, e.frame, &e.attributes)?;
        }
    }
    for t in &a.tracks {
        check("track", t.label_id, t.frame, &t.attributes)?;
        for s in &t.shapes {
            check("tracked shape", t.label_id, s.frame, &s.attributes)?;
        }
        for e in &t.elements {
            check("skeleton element track", e.label_id, e.frame, &e.attributes)?;
        }
    }
    Ok(())
}

fn parse_body_annotations(req: &Req) -> Result<Annotations, ApiError> {
    if req.body.is_empty() {
        return Ok(Annotations::default());
    }
    serde_json::from_slice::<Annotations>(&req.body).map_err(|e| {
        ApiError::bad_list(format!(
            "annotations body is not valid: {e} (line {}, column {})",
            e.line(),
            e.column()
        ))
    })
}

fn annotations_get(app: &App, req: &Req, user: &User, task_id: i64) -> R {
    if let Some(fmt) = req.q("format") {
        let fmt = fmt.to_string();
        if req.q("action") == Some("download") {
            return download_export(app, req, user, task_id, false);
        }
        let _ = fmt;
        return start_export(app, req, user, task_id, false);
    }
    let conn = app.db();
    get_task(&conn, task_id, user)?;
    let a = load_annotations(&conn, task_id)?;
    Ok(Resp::json(200, &annotations_value(&a)))
}

fn annotations_put(app: &App, req: &Req, user: &User, task_id: i64) -> R {
    if req.q("format").is_some() {
        return import_sync(app, req, user, task_id);
    }
    let a = parse_body_annotations(req)?;
    let conn = app.db();
    let t = get_task(&conn, task_id, user)?;
    let labels = api::task_labels_model(&conn, task_id)?;
    check_refs(&labels, &a, t.frames().len())?;
    let saved = save_annotations(&conn, task_id, &a, true)?;
    Ok(Resp::json(200, &annotations_value(&saved)))
}

fn job_annotations_put(app: &App, req: &Req, task_id: i64, start: i64, stop: i64) -> R {
    let a = parse_body_annotations(req)?;
    let conn = app.db();
    let labels = api::task_labels_model(&conn, task_id)?;
    check_refs(&labels, &a, 0)?;
    let current = load_annotations(&conn, task_id)?;
    let mut kept = remove_range(&current, start, stop);
    let mut new = a.clone();
    for x in &mut new.tags {
        x.id = None;
    }
    for x in &mut new.shapes {
        x.id = None;
    }
    for x in &mut new.tracks {
        x.id = None;
    }
    kept.tags.extend(new.tags);
    kept.shapes.extend(new.shapes);
    kept.tracks.extend(new.tracks);
    let saved = save_annotations(&conn, task_id, &kept, false)?;
    Ok(Resp::json(
        200,
        &annotations_value(&clip(&saved, start, stop)),
    ))
}

fn annotations_patch(app: &App, req: &Req, user: &User, task_id: i64, _job: Option<i64>) -> R {
    let action = req.q("action").unwrap_or("");
    if !["create", "update", "delete"].contains(&action) {
        return Err(ApiError::bad(
            "Please specify a correct 'action' for the request: create, update or delete",
        ));
    }
    let a = parse_body_annotations(req)?;
    let conn = app.db();
    get_task(&conn, task_id, user)?;
    let labels = api::task_labels_model(&conn, task_id)?;
    let mut cur = load_annotations(&conn, task_id)?;
    match action {
        "create" => {
            check_refs(&labels, &a, 0)?;
            let mut incoming = a.clone();
            for x in &mut incoming.tags {
                x.id = None;
            }
            for x in &mut incoming.shapes {
                x.id = None;
            }
            for x in &mut incoming.tracks {
                x.id = None;
            }
            let before = (cur.tags.len(), cur.shapes.len(), cur.tracks.len());
            cur.tags.extend(incoming.tags);
            cur.shapes.extend(incoming.shapes);
            cur.tracks.extend(incoming.tracks);
            let saved = save_annotations(&conn, task_id, &cur, false)?;
            let created = Annotations {
                version: saved.version,
                tags: saved.tags[before.0..].to_vec(),
                shapes: saved.shapes[before.1..].to_vec(),
                tracks: saved.tracks[before.2..].to_vec(),
            };
            Ok(Resp::json(200, &annotations_value(&created)))
        }
        "update" => {
            check_refs(&labels, &a, 0)?;
            macro_rules! upd {
                ($field:ident) => {
                    for x in &a.$field {
                        let Some(id) = x.id else {
                            return Err(ApiError::bad_list("objects to update need an id"));
                        };
                        match cur.$field.iter_mut().find(|c| c.id == Some(id)) {
                            Some(c) => *c = x.clone(),
                            None => {
                                return Err(ApiError::bad_list(format!(
                                    "no object with id {id} to update"
                                )))
                            }
                        }
                    }
                };
            }
            upd!(tags);
            upd!(shapes);
            upd!(tracks);
            let saved = save_annotations(&conn, task_id, &cur, false)?;
            let mut out = a.clone();
            out.version = saved.version;
            Ok(Resp::json(200, &annotations_value(&out)))
        }
        _ => {
            let ids = |v: Vec<Option<i64>>| v.into_iter().flatten().collect::<Vec<_>>();
            let tag_ids = ids(a.tags.iter().map(|x| x.id).collect());
            let shape_ids = ids(a.shapes.iter().map(|x| x.id).collect());
            let track_ids = ids(a.tracks.iter().map(|x| x.id).collect());
            cur.tags
                .retain(|x| !x.id.is_some_and(|i| tag_ids.contains(&i)));
            cur.shapes
                .retain(|x| !x.id.is_some_and(|i| shape_ids.contains(&i)));
            cur.tracks
                .retain(|x| !x.id.is_some_and(|i| track_ids.contains(&i)));
            let saved = save_annotations(&conn, task_id, &cur, false)?;
            let mut out = a.clone();
            out.version = saved.version;
            Ok(Resp::json(200, &annotations_value(&out)))
        }
    }
}

fn in_range(f: u32, start: i64, stop: i64) -> bool {
    (f as i64) >= start && (f as i64) <= stop
}

/// Annotations visible in frames `start..=stop` (tracks that have a shape there).
pub fn clip(a: &Annotations, start: i64, stop: i64) -> Annotations {
    Annotations {
        version: a.version,
        tags: a
            .tags
            .iter()
            .filter(|t| in_range(t.frame, start, stop))
            .cloned()
            .collect(),
        shapes: a
            .shapes
            .iter()
            .filter(|s| in_range(s.frame, start, stop))
            .cloned()
            .collect(),
        tracks: a
            .tracks
            .iter()
            .filter(|t| {
                t.shapes.iter().any(|s| in_range(s.frame, start, stop))
                    || t.elements
                        .iter()
                        .any(|e| e.shapes.iter().any(|s| in_range(s.frame, start, stop)))
            })
            .cloned()
            .collect(),
    }
}

fn remove_range(a: &Annotations, start: i64, stop: i64) -> Annotations {
    let inside = clip(a, start, stop);
    let track_ids: Vec<Option<i64>> = inside.tracks.iter().map(|t| t.id).collect();
    Annotations {
        version: a.version,
        tags: a
            .tags
            .iter()
            .filter(|t| !in_range(t.frame, start, stop))
            .cloned()
            .collect(),
        shapes: a
            .shapes
            .iter()
            .filter(|s| !in_range(s.frame, start, stop))
            .cloned()
            .collect(),
        tracks: a
            .tracks
            .iter()
            .filter(|t| !track_ids.contains(&t.id))
            .cloned()
            .collect(),
    }
}

/// `POST .../annotations?format=`: the upload flow (Upload-Start, TUS, Upload-Finish).
fn annotations_import_post(app: &App, req: &Req, user: &User, task_id: i64) -> R {
    {
        let conn = app.db();
        get_task(&conn, task_id, user)?;
    }
    let scope = format!("tasks/{task_id}/annotations");
    if req.has_header("tus-resumable") && !req.has_header("upload-finish") {
        return tus_create(app, req, user, &scope, None);
    }
    if req.has_header("upload-start") {
        return Ok(Resp::empty(202));
    }
    if req.has_header("upload-finish") {
        let fmt = req.q("format").unwrap_or("");
        let entry = app.registry.get(fmt).filter(|e| e.format.info().can_import);
        let Some(entry) = entry else {
            return Err(ApiError::bad_list(format!("Unknown input format '{fmt}'")));
        };
        let filename = req.q("filename").unwrap_or("");
        let Some((uid, path)) = take_upload(app, user, &scope, filename)? else {
            return Err(ApiError::bad(format!(
                "No such file were uploaded: '{filename}'"
            )));
        };
        app.db()
            .execute("DELETE FROM uploads WHERE id=?1", [&uid])?;
        let rq_id = format!("import:task-{task_id}-annotations");
        worker::submit(
            app,
            &rq_id,
            worker::NewRequest {
                op_type: "import:annotations",
                target: "task",
                task_id: Some(task_id),
                format: Some(entry.format.info().name),
                owner_id: user.id,
                params: json!({"path": path, "filename": filename}),
                expiry_secs: 3600,
            },
        )?;
        return Ok(Resp::json(202, &json!({ "rq_id": rq_id })));
    }
    Err(ApiError::bad("No such file were uploaded"))
}

/// `PUT .../annotations?format=` with a multipart `annotation_file`: imported before answering 201.
fn import_sync(app: &App, req: &Req, user: &User, task_id: i64) -> R {
    {
        let conn = app.db();
        get_task(&conn, task_id, user)?;
    }
    let fmt = req.q("format").unwrap_or("");
    let entry = app.registry.get(fmt).filter(|e| e.format.info().can_import);
    let Some(entry) = entry else {
        return Err(ApiError::bad_list(format!("Unknown input format '{fmt}'")));
    };
    let part = req
        .parts
        .as_ref()
        .and_then(|p| p.iter().find(|p| p.name == "annotation_file"));
    let Some(part) = part else {
        return Err(ApiError::bad("No such file were uploaded"));
    };
    let filename = util::base_name(part.filename.as_deref().unwrap_or("annotations"));
    worker::import_annotations(
        app,
        task_id,
        &entry.format.info().name,
        &filename,
        part.data.to_vec(),
    )
    .map_err(ApiError::bad_list)?;
    Ok(Resp::empty(201))
}

// ---------------------------------------------------------------------------------------------------
// export / backup

pub fn format_slug(name: &str) -> String {
    name.replace(' ', "_").replace('.', "@")
}

fn start_export(app: &App, req: &Req, user: &User, task_id: i64, save_images: bool) -> R {
    {
        let conn = app.db();
        get_task(&conn, task_id, user)?;
    }
    let fmt = req.q("format").unwrap_or("");
    let entry = app.registry.get(fmt).filter(|e| e.format.info().can_export);
    let Some(entry) = entry else {
        return Err(ApiError::bad_list(
            "Unknown format specified for the request",
        ));
    };
    let name = entry.format.info().name;
    let kind = if save_images {
        "dataset"
    } else {
        "annotations"
    };
    let rq_id = format!(
        "export:task-{task_id}-{kind}-in-{}-format-by-{}",
        format_slug(&name),
        user.id
    );
    let result_url = format!(
        "{}/api/tasks/{task_id}/{kind}?format={}&save_images={}&action=download",
        req.base(),
        util::query_encode(&name),
        if save_images { "True" } else { "False" }
    );
    worker::submit(
        app,
        &rq_id,
        worker::NewRequest {
            op_type: if save_images {
                "export:dataset"
            } else {
                "export:annotations"
            },
            target: "task",
            task_id: Some(task_id),
            format: Some(name),
            owner_id: user.id,
            params: json!({"save_images": save_images, "result_url": result_url}),
            expiry_secs: 86400,
        },
    )?;
    Ok(Resp::json(202, &json!({ "rq_id": rq_id })))
}

fn download_export(app: &App, req: &Req, user: &User, task_id: i64, dataset: bool) -> R {
    let t = {
        let conn = app.db();
        get_task(&conn, task_id, user)?
    };
    let fmt = req.q("format").unwrap_or("");
    let entry = app.registry.get(fmt).filter(|e| e.format.info().can_export);
    let Some(entry) = entry else {
        return Err(ApiError::bad_list(
            "Unknown format specified for the request",
        ));
    };
    let name = entry.format.info().name;
    let save_images = dataset || parse_bool(req.q("save_images"));
    let kind = if save_images {
        "dataset"
    } else {
        "annotations"
    };
    let rq_id = format!(
        "export:task-{task_id}-{kind}-in-{}-format-by-{}",
        format_slug(&name),
        user.id
    );
    let file = finished_file(app, &rq_id)?;
    let bytes = std::fs::read(&file)?;
    let disp = format!(
        "attachment; filename=\"task_{}_{kind}_{}_{}.zip\"",
        t.name.to_lowercase().replace('"', ""),
        util::file_stamp(&t.updated),
        name.to_lowercase()
    );
    Ok(Resp::bytes(200, "application/zip", bytes).with("Content-Disposition", disp))
}

fn finished_file(app: &App, rq_id: &str) -> Result<String, ApiError> {
    let conn = app.db();
    let row: Option<(String, Option<String>)> = conn
        .query_row(
            "SELECT status, result_file FROM requests WHERE id=?1",
            [rq_id],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?;
    match row {
        Some((s, Some(f))) if s == "finished" && std::path::Path::new(&f).exists() => Ok(f),
        Some((s, _)) if s == "queued" || s == "started" => Err(ApiError::bad(
            "The export is not finished yet; poll its request first",
        )),
        _ => Err(ApiError::detail(
            404,
            "No finished export for this resource; start one with POST .../export first",
        )),
    }
}

fn start_backup(app: &App, req: &Req, user: &User, task_id: i64) -> R {
    {
        let conn = app.db();
        let t = get_task(&conn, task_id, user)?;
        if t.size.is_none() {
            return Err(ApiError::bad(
                "The task has no data yet: nothing to back up",
            ));
        }
    }
    let rq_id = format!("export:task-{task_id}-backup-by-{}", user.id);
    let result_url = format!("{}/api/tasks/{task_id}/backup?action=download", req.base());
    worker::submit(
        app,
        &rq_id,
        worker::NewRequest {
            op_type: "export:backup",
            target: "task",
            task_id: Some(task_id),
            format: None,
            owner_id: user.id,
            params: json!({"result_url": result_url}),
            expiry_secs: 86400,
        },
    )?;
    Ok(Resp::json(202, &json!({ "rq_id": rq_id })))
}

fn download_backup(app: &App, user: &User, task_id: i64) -> R {
    let t = {
        let conn = app.db();
        get_task(&conn, task_id, user)?
    };
    let rq_id = format!("export:task-{task_id}-backup-by-{}", user.id);
    let file = finished_file(app, &rq_id)?;
    let bytes = std::fs::read(&file)?;
    let disp = format!(
        "attachment; filename=\"task_{}_backup_{}.zip\"",
        t.name.to_lowercase().replace('"', ""),
        util::file_stamp(&t.updated)
    );
    Ok(Resp::bytes(200, "application/zip", bytes).with("Content-Disposition", disp))
}

fn backup_import(app: &App, req: &Req, user: &User) -> R {
    let scope = "tasks/backup";
    if req.has_header("tus-resumable") && !req.has_header("upload-finish") {
        let orig = tus_filename(req).unwrap_or_else(|| "backup.zip".into());
        let rename = format!(
            "cvat-backup-{}-by-{}{}.zip",
            util::base_name(&orig),
            user.username,
            util::random_alnum(8).to_lowercase()
        );
        return tus_create(app, req, user, scope, Some(rename));
    }
    if req.has_header("upload-start") {
        return Ok(Resp::empty(202));
    }
    let path = if req.has_header("upload-finish") {
        let filename = req.q("filename").unwrap_or("");
        let Some((uid, path)) = take_upload(app, user, scope, filename)? else {
            return Err(ApiError::bad(format!(
                "No such file were uploaded: '{filename}'"
            )));
        };
        app.db()
            .execute("DELETE FROM uploads WHERE id=?1", [&uid])?;
        path
    } else {
        let part = req
            .parts
            .as_ref()
            .and_then(|p| p.iter().find(|p| p.name == "task_file"));
        let Some(part) = part else {
            return Err(ApiError::bad("No such file were uploaded"));
        };
        let path = app.data_dir.join("uploads").join(util::uuid4());
        std::fs::write(&path, &part.data)?;
        path.display().to_string()
    };
    let rq_id = format!("import:task-{}-backup", util::uuid4());
    worker::submit(
        app,
        &rq_id,
        worker::NewRequest {
            op_type: "import:backup",
            target: "task",
            task_id: None,
            format: None,
            owner_id: user.id,
            params: json!({"path": path}),
            expiry_secs: 3600,
        },
    )?;
    Ok(Resp::json(202, &json!({ "rq_id": rq_id })))
}

// ---------------------------------------------------------------------------------------------------
// jobs

pub struct JobRow {
    pub id: i64,
    pub task_id: i64,
    pub start: i64,
    pub stop: i64,
    pub created: String,
    pub updated: String,
}

fn job_row(r: &rusqlite::Row) -> rusqlite::Result<JobRow> {
    Ok(JobRow {
        id: r.get(0)?,
        task_id: r.get(1)?,
        start: r.get(2)?,
        stop: r.get(3)?,
        created: r.get(4)?,
        updated: r.get(5)?,
    })
}

fn get_job(conn: &Connection, id: i64, user: &User) -> Result<JobRow, ApiError> {
    let j = conn
        .query_row(
            "SELECT id, task_id, start_frame, stop_frame, created, updated FROM jobs WHERE id=?1",
            [id],
            job_row,
        )
        .optional()?
        .ok_or_else(|| ApiError::not_found("Job"))?;
    get_task(conn, j.task_id, user)?;
    Ok(j)
}

fn job_json(conn: &Connection, req: &Req, j: &JobRow) -> Result<Value, ApiError> {
    let base = req.base();
    let t = load_task(conn, j.task_id)?.ok_or_else(|| ApiError::not_found("Task"))?;
    Ok(json!({
        "url": format!("{base}/api/jobs/{}", j.id), "id": j.id, "task_id": j.task_id,
        "project_id": t.project_id, "assignee": null, "guide_id": null, "dimension": "2d",
        "bug_tracker": if t.bug_tracker.is_empty() { Value::Null } else { json!(t.bug_tracker) },
        "status": "annotation", "stage": "annotation", "state": "new", "mode": "annotation",
        "frame_count": j.stop - j.start + 1, "start_frame": j.start, "stop_frame": j.stop,
        "data_chunk_size": t.meta_i64("chunk_size", 72), "data_compressed_chunk_type": "imageset",
        "data_original_chunk_type": "imageset", "created_date": j.created, "updated_date": j.updated,
        "issues": {"url": format!("{base}/api/issues?job_id={}", j.id), "count": 0},
        "labels": {"url": format!("{base}/api/labels?job_id={}", j.id)},
        "type": "annotation", "organization": null, "target_storage": null, "source_storage": null,
        "assignee_updated_date": null,
    }))
}

fn jobs_list(app: &App, req: &Req, user: &User) -> R {
    let conn = app.db();
    let mut rows = Vec::new();
    {
        let mut st = conn.prepare(
            "SELECT id, task_id, start_frame, stop_frame, created, updated FROM jobs ORDER BY id",
        )?;
        for r in st.query_map([], job_row)? {
            rows.push(r?);
        }
    }
    if let Some(t) = req.q("task_id") {
        let t = t
            .parse::<i64>()
            .map_err(|_| ApiError::field("task_id", "A valid integer is required."))?;
        get_task(&conn, t, user)?;
        rows.retain(|j| j.task_id == t);
    }
    let mut items = Vec::new();
    for j in rows {
        if get_task(&conn, j.task_id, user).is_ok() {
            items.push(job_json(&conn, req, &j)?);
        }
    }
    let items = api::filter_sort(
        req,
        items,
        &["state", "stage", "type", "project_id"],
        &["task_id", "state", "stage"],
        &[
            "id",
            "task_id",
            "project_id",
            "state",
            "stage",
            "updated_date",
        ],
    )?;
    Ok(Resp::json(200, &api::paginate(req, "/api/jobs", items)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frame_filters_and_video_names() {
        assert_eq!(parse_step("step=3"), Some(3));
        assert_eq!(parse_step(" step= 2 "), Some(2));
        assert_eq!(parse_step("step=0"), None);
        assert_eq!(parse_step("every=2"), None);
        assert!(is_video_name("clip.MP4"));
        assert!(!is_video_name("mp4"));
        assert!(!is_video_name("a.jpg"));
        assert_eq!(format_slug("CVAT for images 1.1"), "CVAT_for_images_1@1");
    }
}
