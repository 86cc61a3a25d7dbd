//! SQLite metadata: schema, open/migrate, and the small helpers every handler uses.

use rusqlite::{params, Connection, OptionalExtension};
use std::path::Path;

const SCHEMA: &str = r#"
CREATE TABLE IF NOT EXISTS users(
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    username TEXT NOT NULL UNIQUE,
    email TEXT NOT NULL DEFAULT '',
    salt TEXT NOT NULL,
    pwhash TEXT NOT NULL,
    is_superuser INTEGER NOT NULL DEFAULT 0,
    first_name TEXT NOT NULL DEFAULT '',
    last_name TEXT NOT NULL DEFAULT '',
    date_joined TEXT NOT NULL,
    last_login TEXT
);
CREATE TABLE IF NOT EXISTS tokens(
    key TEXT PRIMARY KEY,
    user_id INTEGER NOT NULL,
    kind TEXT NOT NULL,
    name TEXT NOT NULL DEFAULT '',
    created TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS sessions(
    id TEXT PRIMARY KEY,
    user_id INTEGER NOT NULL,
    csrf TEXT NOT NULL,
    created TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS projects(
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL,
    owner_id INTEGER NOT NULL,
    bug_tracker TEXT NOT NULL DEFAULT '',
    created TEXT NOT NULL,
    updated TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS labels(
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    task_id INTEGER,
    project_id INTEGER,
    parent_id INTEGER,
    name TEXT NOT NULL,
    color TEXT NOT NULL DEFAULT '',
    type TEXT NOT NULL DEFAULT 'any',
    svg TEXT NOT NULL DEFAULT '',
    attributes TEXT NOT NULL DEFAULT '[]'
);
CREATE TABLE IF NOT EXISTS attr_ids(id INTEGER PRIMARY KEY AUTOINCREMENT, dummy INTEGER);
CREATE TABLE IF NOT EXISTS tasks(
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL,
    owner_id INTEGER NOT NULL,
    project_id INTEGER,
    status TEXT NOT NULL DEFAULT 'annotation',
    subset TEXT NOT NULL DEFAULT '',
    bug_tracker TEXT NOT NULL DEFAULT '',
    overlap INTEGER,
    segment_size INTEGER NOT NULL DEFAULT 0,
    image_quality INTEGER,
    size INTEGER,
    meta TEXT,
    created TEXT NOT NULL,
    updated TEXT NOT NULL,
    ann TEXT NOT NULL DEFAULT '{"version":0,"tags":[],"shapes":[],"tracks":[]}',
    next_ann_id INTEGER NOT NULL DEFAULT 1
);
CREATE TABLE IF NOT EXISTS jobs(
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    task_id INTEGER NOT NULL,
    start_frame INTEGER NOT NULL,
    stop_frame INTEGER NOT NULL,
    created TEXT NOT NULL,
    updated TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS requests(
    id TEXT PRIMARY KEY,
    seq INTEGER NOT NULL,
    status TEXT NOT NULL,
    message TEXT NOT NULL DEFAULT '',
    op_type TEXT NOT NULL,
    target TEXT NOT NULL,
    task_id INTEGER,
    project_id INTEGER,
    format TEXT,
    owner_id INTEGER NOT NULL,
    params TEXT NOT NULL DEFAULT '{}',
    created TEXT NOT NULL,
    started TEXT,
    finished TEXT,
    expiry TEXT,
    result_url TEXT,
    result_id INTEGER,
    result_file TEXT
);
CREATE TABLE IF NOT EXISTS uploads(
    id TEXT PRIMARY KEY,
    owner_id INTEGER NOT NULL,
    scope TEXT NOT NULL,
    filename TEXT NOT NULL,
    length INTEGER NOT NULL,
    offset INTEGER NOT NULL DEFAULT 0,
    path TEXT NOT NULL,
    complete INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS staged(
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    task_id INTEGER NOT NULL,
    name TEXT NOT NULL,
    path TEXT NOT NULL
);
"#;

/// Opens (creating if needed) the database and applies the schema.
pub fn open(path: &Path) -> rusqlite::Result<Connection> {
    let conn = Connection::open(path)?;
    conn.busy_timeout(std::time::Duration::from_secs(30))?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    conn.execute_batch(SCHEMA)?;
    Ok(conn)
}

/// Marks every request that was queued or running when the server stopped as failed.
pub fn fail_unfinished(conn: &Connection, now: &str) -> rusqlite::Result<usize> {
    conn.execute(
        "UPDATE requests SET status='failed', message='the server stopped before this request finished; run it again', finished=?1 WHERE status IN ('queued','started')",
        params![now],
    )
}

/// A new attribute id (attribute ids are global, like the server's).
pub fn next_attr_id(conn: &Connection) -> rusqlite::Result<i64> {
    conn.execute("INSERT INTO attr_ids(dummy) VALUES (0)", [])?;
    Ok(conn.last_insert_rowid())
}

pub fn user_count(conn: &Connection) -> rusqlite::Result<i64> {
    conn.query_row("SELECT COUNT(*) FROM users", [], |r| r.get(0))
}

#[derive(Debug, Clone)]
pub struct User {
    pub id: i64,
    pub username: String,
    pub email: String,
    pub is_superuser: bool,
    pub first_name: String,
    pub last_name: String,
    pub date_joined: String,
    pub last_login: Option<String>,
}

const USER_COLS: &str =
    "id, username, email, is_superuser, first_name, last_name, date_joined, last_login";

fn user_row(r: &rusqlite::Row) -> rusqlite::Result<User> {
    Ok(User {
        id: r.get(0)?,
        username: r.get(1)?,
        email: r.get(2)?,
        is_superuser: r.get::<_, i64>(3)? != 0,
        first_name: r.get(4)?,
        last_name: r.get(5)?,
        date_joined: r.get(6)?,
        last_login: r.get(7)?,
    })
}

pub fn user_by_id(conn: &Connection, id: i64) -> rusqlite::Result<Option<User>> {
    conn.query_row(
        &format!("SELECT {USER_COLS} FROM users WHERE id=?1"),
        [id],
        user_row,
    )
    .optional()
}

/// Finds a user by name or email and checks the password.
pub fn check_password(
    conn: &Connection,
    login: &str,
    password: &str,
    by_email: bool,
) -> rusqlite::Result<Option<User>> {
    let col = if by_email { "email" } else { "username" };
    let row: Option<(i64, String, String)> = conn
        .query_row(
            &format!("SELECT id, salt, pwhash FROM users WHERE {col}=?1"),
            [login],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .optional()?;
    match row {
        Some((id, salt, hash)) if crate::util::hash_password(&salt, password) == hash => {
            user_by_id(conn, id)
        }
        _ => Ok(None),
    }
}

pub fn create_user(
    conn: &Connection,
    username: &str,
    email: &str,
    password: &str,
    superuser: bool,
    now: &str,
) -> rusqlite::Result<i64> {
    let salt = crate::util::random_hex(16);
    let hash = crate::util::hash_password(&salt, password);
    conn.execute(
        "INSERT INTO users(username, email, salt, pwhash, is_superuser, date_joined) VALUES (?1,?2,?3,?4,?5,?6)",
        params![username, email, salt, hash, superuser as i64, now],
    )?;
    Ok(conn.last_insert_rowid())
}
