//! `cvat-server`: a CVAT-compatible local server. It speaks the REST API of CVAT 2.23 as far as the
//! official clients (cvat-cli 2.23.1, 2.80) and our own client use it: real HTTP (axum/hyper on tokio),
//! metadata in SQLite, media/exports/backups as files, background requests on a worker pool whose state
//! survives a restart.
//!
//! Entry points: [`run`] (blocking, for `cvat-cli serve`) and [`start`] (in-process, for tests).

mod api;
mod db;
mod http;
mod media;
mod tasks;
mod util;
mod worker;

pub use http::{ApiError, Req, Resp};

use axum::extract::State;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

/// Largest request body accepted (bigger files go through TUS in chunks).
pub const MAX_BODY: usize = 1 << 30;

/// How the server is started.
#[derive(Debug, Clone)]
pub struct Config {
    /// Address to listen on, e.g. `127.0.0.1:8080` (port 0 picks a free port).
    pub bind: String,
    /// Where the database, media, exports and backups live.
    pub data_dir: PathBuf,
    /// Root of the `share` storage (`server_files` in task data).
    pub share_dir: Option<PathBuf>,
    /// Password for the `admin` user created on first start. Generated and printed when absent.
    pub admin_password: Option<String>,
    /// Background worker threads.
    pub workers: usize,
}

impl Config {
    pub fn new(bind: &str, data_dir: PathBuf) -> Self {
        Config {
            bind: bind.to_string(),
            data_dir,
            share_dir: None,
            admin_password: None,
            workers: 2,
        }
    }
}

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error("cannot use data directory {path}: {source}")]
    DataDir {
        path: String,
        source: std::io::Error,
    },
    #[error("database {path}: {source}")]
    Database {
        path: String,
        source: rusqlite::Error,
    },
    #[error("cannot listen on {bind}: {source}")]
    Bind {
        bind: String,
        source: std::io::Error,
    },
    #[error("runtime: {0}")]
    Runtime(std::io::Error),
}

/// Shared state of a running server.
pub struct App {
    pub(crate) db: Mutex<rusqlite::Connection>,
    pub(crate) data_dir: PathBuf,
    pub(crate) share_dir: Option<PathBuf>,
    pub(crate) registry: cvat_format_api::Registry,
    pub(crate) queue: Mutex<std::sync::mpsc::Sender<String>>,
    /// Frame lists of tasks, parsed once per version of the task's stored meta (frame requests come
    /// by the hundred; each would otherwise parse the whole meta JSON): task id → (version, frames).
    pub(crate) frames_cache: Mutex<FramesCache>,
}

pub(crate) type FramesCache =
    std::collections::HashMap<i64, (String, Arc<Vec<tasks::StoredFrame>>)>;

impl App {
    /// Locks the database (a poisoned lock is still usable: SQLite keeps its own consistency).
    pub(crate) fn db(&self) -> std::sync::MutexGuard<'_, rusqlite::Connection> {
        self.db.lock().unwrap_or_else(|p| p.into_inner())
    }
    pub(crate) fn enqueue(&self, rq_id: &str) {
        let q = self.queue.lock().unwrap_or_else(|p| p.into_inner());
        let _ = q.send(rq_id.to_string());
    }
    pub(crate) fn task_dir(&self, task_id: i64) -> PathBuf {
        self.data_dir.join("tasks").join(task_id.to_string())
    }
}

/// Opens the data directory, creates the admin user on first start, marks unfinished requests failed and
/// starts the workers. Returns the app and, if the admin password was generated, that password.
fn open_app(
    cfg: &Config,
    registry: cvat_format_api::Registry,
) -> Result<(Arc<App>, Option<String>), ServerError> {
    let dd = |e| ServerError::DataDir {
        path: cfg.data_dir.display().to_string(),
        source: e,
    };
    for sub in ["", "tasks", "uploads", "exports", "staging", "tmp"] {
        std::fs::create_dir_all(cfg.data_dir.join(sub)).map_err(dd)?;
    }
    let db_path = cfg.data_dir.join("cvat.db");
    let dbe = |e| ServerError::Database {
        path: db_path.display().to_string(),
        source: e,
    };
    let conn = db::open(&db_path).map_err(dbe)?;
    db::fail_unfinished(&conn, &util::now()).map_err(dbe)?;
    let mut generated = None;
    if db::user_count(&conn).map_err(dbe)? == 0 {
        let pw = match &cfg.admin_password {
            Some(p) if !p.is_empty() => p.clone(),
            _ => {
                let p = util::random_alnum(20);
                generated = Some(p.clone());
                p
            }
        };
        db::create_user(
            &conn,
            "admin",
            "admin@localhost.localdomain",
            &pw,
            true,
            &util::now(),
        )
        .map_err(dbe)?;
    }
    let (tx, rx) = std::sync::mpsc::channel::<String>();
    let app = Arc::new(App {
        db: Mutex::new(conn),
        data_dir: cfg.data_dir.clone(),
        share_dir: cfg.share_dir.clone(),
        registry,
        queue: Mutex::new(tx),
        frames_cache: Mutex::new(Default::default()),
    });
    worker::spawn_pool(&app, rx, cfg.workers.max(1));
    Ok((app, generated))
}

/// A server started in the background by [`start`].
pub struct RunningServer {
    pub addr: SocketAddr,
    /// The generated admin password, when none was configured and the database was new.
    pub generated_password: Option<String>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl RunningServer {
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }
    /// Stops accepting connections and waits for the server thread.
    pub fn stop(mut self) {
        self.stop_inner();
    }
    fn stop_inner(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for RunningServer {
    fn drop(&mut self) {
        self.stop_inner();
    }
}

fn router(app: Arc<App>) -> axum::Router {
    axum::Router::new().fallback(handle).with_state(app)
}

/// Starts the server on its own thread and returns once it listens.
/// `registry` gives the formats the server imports and exports (and lists in
/// `/api/server/annotation/formats`).
pub fn start(
    cfg: Config,
    registry: cvat_format_api::Registry,
) -> Result<RunningServer, ServerError> {
    let (app, generated) = open_app(&cfg, registry)?;
    let std_listener = std::net::TcpListener::bind(&cfg.bind).map_err(|e| ServerError::Bind {
        bind: cfg.bind.clone(),
        source: e,
    })?;
    std_listener
        .set_nonblocking(true)
        .map_err(ServerError::Runtime)?;
    let addr = std_listener.local_addr().map_err(ServerError::Runtime)?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(ServerError::Runtime)?;
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let thread = std::thread::spawn(move || {
        rt.block_on(async move {
            let listener = match tokio::net::TcpListener::from_std(std_listener) {
                Ok(l) => l,
                Err(e) => {
                    eprintln!("cvat-server: {e}");
                    return;
                }
            };
            let _ = axum::serve(listener, router(app))
                .with_graceful_shutdown(async {
                    let _ = rx.await;
                })
                .await;
        })
    });
    Ok(RunningServer {
        addr,
        generated_password: generated,
        shutdown: Some(tx),
        thread: Some(thread),
    })
}

/// Runs the server in the foreground until Ctrl-C.
pub fn run(cfg: Config, registry: cvat_format_api::Registry) -> Result<(), ServerError> {
    let (app, generated) = open_app(&cfg, registry)?;
    if let Some(pw) = generated {
        println!("Created user 'admin' with password: {pw}");
        println!("(shown only once; set --admin-password or CVAT_ADMIN_PASSWORD to choose it)");
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(ServerError::Runtime)?;
    rt.block_on(async move {
        let listener = tokio::net::TcpListener::bind(&cfg.bind)
            .await
            .map_err(|e| ServerError::Bind {
                bind: cfg.bind.clone(),
                source: e,
            })?;
        let addr = listener.local_addr().map_err(ServerError::Runtime)?;
        println!(
            "cvat-server listening on http://{addr} (data in {})",
            cfg.data_dir.display()
        );
        axum::serve(listener, router(app))
            .with_graceful_shutdown(async {
                let _ = tokio::signal::ctrl_c().await;
            })
            .await
            .map_err(ServerError::Runtime)
    })
}

async fn handle(
    State(app): State<Arc<App>>,
    req: axum::extract::Request,
) -> axum::response::Response {
    let (parts, body) = req.into_parts();
    let bytes = match axum::body::to_bytes(body, MAX_BODY).await {
        Ok(b) => b,
        Err(_) => {
            return http::to_response(
                ApiError::new(
                    413,
                    serde_json::json!({"detail": format!("Request body is larger than {} bytes; upload big files with TUS.", MAX_BODY)}),
                )
                .into_resp(),
            )
        }
    };
    let ct = parts
        .headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let multipart = if ct.to_ascii_lowercase().starts_with("multipart/form-data") {
        match http::parse_multipart(&ct, bytes.clone()).await {
            Ok(p) => Some(p),
            Err(msg) => {
                return http::to_response(
                    ApiError::new(400, serde_json::json!({"detail": msg})).into_resp(),
                )
            }
        }
    } else {
        None
    };
    let req = http::Req::new(parts, bytes, multipart);
    let app2 = app.clone();
    let resp = tokio::task::spawn_blocking(move || api::dispatch(&app2, req)).await;
    match resp {
        Ok(r) => http::to_response(r),
        Err(_) => http::to_response(
            ApiError::new(
                500,
                serde_json::json!({"detail": "internal error while handling the request"}),
            )
            .into_resp(),
        ),
    }
}

/// The default data directory: `$XDG_DATA_HOME/cvat-cli/server` or `~/.local/share/cvat-cli/server`.
pub fn default_data_dir() -> PathBuf {
    if let Some(x) = std::env::var_os("XDG_DATA_HOME").filter(|x| !x.is_empty()) {
        return PathBuf::from(x).join("cvat-cli").join("server");
    }
    match std::env::var_os("HOME") {
        Some(h) => PathBuf::from(h)
            .join(".local")
            .join("share")
            .join("cvat-cli")
            .join("server"),
        None => PathBuf::from("cvat-server-data"),
    }
}
