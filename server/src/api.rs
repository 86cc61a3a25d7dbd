//! Routing, authentication, users, projects, labels, pagination and request objects.

use crate::db::{self, User};
use crate::http::{ApiError, Req, Resp};
use crate::{tasks, util, App};
use rusqlite::{params, Connection, OptionalExtension};
use serde_json::{json, Map, Value};

pub type R = Result<Resp, ApiError>;

const ABOUT_DESCRIPTION: &str = "CVAT is completely re-designed and re-implemented version of Video Annotation Tool from Irvine, California tool. It is free, online, interactive video and image annotation tool for computer vision. It is being used by our team to annotate million of objects with different properties. Many UI and UX decisions are based on feedbacks from professional data annotation team.";

pub fn dispatch(app: &App, req: Req) -> Resp {
    match route(app, &req) {
        Ok(r) => r,
        Err(e) => e.into_resp(),
    }
}

fn is_unsafe(method: &str) -> bool {
    !matches!(method, "GET" | "HEAD" | "OPTIONS")
}

/// Who sends the request: `Authorization: Token`, `Bearer` (personal access token), `Basic`, or the
/// session cookie (with CSRF for unsafe methods). `Ok(None)`: no credentials at all.
pub fn authenticate(app: &App, req: &Req) -> Result<Option<User>, ApiError> {
    let conn = app.db();
    let unauthorized = |msg: &str| {
        let mut e = ApiError::detail(401, msg);
        e.headers.push(("WWW-Authenticate".into(), "Token".into()));
        e
    };
    if let Some(auth) = req.header("authorization") {
        let (scheme, rest) = auth.trim().split_once(' ').unwrap_or((auth.trim(), ""));
        let rest = rest.trim();
        match scheme.to_ascii_lowercase().as_str() {
            "token" | "bearer" => {
                let kind = if scheme.eq_ignore_ascii_case("token") {
                    "token"
                } else {
                    "pat"
                };
                let uid: Option<i64> = conn
                    .query_row(
                        "SELECT user_id FROM tokens WHERE key=?1 AND kind=?2",
                        params![rest, kind],
                        |r| r.get(0),
                    )
                    .optional()?;
                return match uid.map(|id| db::user_by_id(&conn, id)).transpose()? {
                    Some(Some(u)) => Ok(Some(u)),
                    _ => Err(unauthorized("Invalid token.")),
                };
            }
            "basic" => {
                use base64::Engine;
                let decoded = base64::engine::general_purpose::STANDARD
                    .decode(rest)
                    .ok()
                    .and_then(|b| String::from_utf8(b).ok());
                let Some((user, pass)) = decoded.as_deref().and_then(|s| s.split_once(':')) else {
                    return Err(unauthorized(
                        "Invalid basic header. Credentials not correctly base64 encoded.",
                    ));
                };
                return match db::check_password(&conn, user, pass, false)? {
                    Some(u) => Ok(Some(u)),
                    None => Err(unauthorized("Invalid username/password.")),
                };
            }
            _ => {}
        }
    }
    if let Some(sid) = req.cookie("sessionid") {
        let row: Option<(i64, String)> = conn
            .query_row(
                "SELECT user_id, csrf FROM sessions WHERE id=?1",
                [&sid],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?;
        if let Some((uid, csrf)) = row {
            if is_unsafe(&req.method) {
                match req.header("x-csrftoken") {
                    None => return Err(ApiError::detail(403, "CSRF Failed: CSRF token missing.")),
                    Some(t) if t != csrf => {
                        return Err(ApiError::detail(
                            403,
                            "CSRF Failed: CSRF token from the 'X-Csrftoken' HTTP header incorrect.",
                        ))
                    }
                    _ => {}
                }
            }
            return Ok(db::user_by_id(&conn, uid)?);
        }
    }
    Ok(None)
}

fn require_user(app: &App, req: &Req) -> Result<User, ApiError> {
    match authenticate(app, req)? {
        Some(u) => Ok(u),
        None => {
            let mut e = ApiError::detail(401, "Authentication credentials were not provided.");
            e.headers.push(("WWW-Authenticate".into(), "Token".into()));
            Err(e)
        }
    }
}

pub fn forbidden() -> ApiError {
    ApiError::detail(403, "You do not have permission to perform this action.")
}

/// 403 unless `user` owns the resource or is an admin.
pub fn may_see(owner_id: i64, user: &User) -> Result<(), ApiError> {
    if owner_id != user.id && !user.is_superuser {
        return Err(forbidden());
    }
    Ok(())
}

fn method_not_allowed(req: &Req) -> ApiError {
    ApiError::detail(405, format!("Method \"{}\" not allowed.", req.method))
}

fn route(app: &App, req: &Req) -> R {
    let segs: Vec<&str> = req.segs.iter().map(String::as_str).collect();
    let m = req.method.as_str();
    if segs.first() != Some(&"api") {
        return Err(ApiError::html(404, "Not Found"));
    }
    let rest = &segs[1..];
    // endpoints without authentication
    match (m, rest) {
        ("GET" | "HEAD", ["server", "about"]) => return Ok(about()),
        ("POST", ["auth", "login"]) => return login(app, req),
        ("POST", ["auth", "register"]) => return register(app, req),
        ("OPTIONS", _) => {
            return Ok(Resp::empty(200)
                .with("Allow", "GET, POST, PUT, PATCH, DELETE, HEAD, OPTIONS")
                .with("Access-Control-Allow-Origin", "*"))
        }
        _ => {}
    }
    let user = require_user(app, req)?;
    match (m, rest) {
        ("POST", ["auth", "logout"]) => logout(app, req),
        ("GET", ["server", "annotation", "formats"]) => Ok(formats(app)),
        ("GET", ["server", "plugins"]) => Ok(Resp::json(
            200,
            &json!({"GIT_INTEGRATION": false, "ANALYTICS": false, "MODELS": false, "PREDICT": false}),
        )),
        ("GET", ["users", "self"]) => Ok(Resp::json(200, &user_json(req, &user, true))),
        ("GET", ["users"]) => users_list(app, req, &user),
        ("GET", ["users", id]) => {
            let id = parse_id(id, "User")?;
            may_see(id, &user)?;
            let conn = app.db();
            let u = db::user_by_id(&conn, id)?.ok_or_else(|| ApiError::not_found("User"))?;
            Ok(Resp::json(200, &user_json(req, &u, true)))
        }
        ("GET", ["auth", "access_tokens"]) => list_access_tokens(app, req, &user),
        ("POST", ["auth", "access_tokens"]) => create_access_token(app, req, &user),
        ("GET", ["projects"]) => projects_list(app, req, &user),
        ("POST", ["projects"]) => project_create(app, req, &user),
        ("GET", ["projects", id]) => {
            let conn = app.db();
            let p = get_project(&conn, parse_id(id, "Project")?, &user)?;
            Ok(Resp::json(200, &project_json(&conn, req, &p)?))
        }
        ("PATCH", ["projects", id]) => project_update(app, req, &user, parse_id(id, "Project")?),
        ("DELETE", ["projects", id]) => project_delete(app, &user, parse_id(id, "Project")?),
        ("GET", ["labels"]) => labels_list(app, req, &user),
        ("GET", ["labels", id]) => {
            let conn = app.db();
            let l = label_by_id(&conn, parse_id(id, "Label")?, &user)?;
            Ok(Resp::json(200, &l))
        }
        ("DELETE", ["labels", id]) => label_delete(app, &user, parse_id(id, "Label")?),
        ("GET", ["requests"]) => requests_list(app, req, &user),
        ("GET", ["requests", id]) => {
            let conn = app.db();
            match request_json(&conn, id, &user)? {
                Some(v) => Ok(Resp::json(200, &v).with(
                    "Cache-Control",
                    "max-age=0, no-cache, no-store, must-revalidate, private",
                )),
                None => Err(ApiError::html(404, "There is no request with specified id")),
            }
        }
        ("POST", ["requests", id, "cancel"]) => request_cancel(app, id, &user),
        (_, ["tasks", ..]) | (_, ["jobs", ..]) => tasks::route(app, req, &user, rest),
        (_, ["server", ..]) | (_, ["users", ..]) | (_, ["projects", ..]) | (_, ["labels", ..]) => {
            Err(method_not_allowed(req))
        }
        _ => Err(ApiError::html(404, "Not Found")),
    }
}

pub fn parse_id(s: &str, what: &str) -> Result<i64, ApiError> {
    s.parse::<i64>().map_err(|_| ApiError::not_found(what))
}

fn about() -> Resp {
    Resp::json(
        200,
        // `logo_url` and `subtitle`: newer clients (cvat-sdk 2.80) require them
        &json!({"name": "Computer Vision Annotation Tool", "description": ABOUT_DESCRIPTION, "version": "2.23.1",
            "logo_url": "", "subtitle": "cvat-cli local server"}),
    )
}

fn formats(app: &App) -> Resp {
    let mut importers = Vec::new();
    let mut exporters = Vec::new();
    for e in app.registry.entries() {
        let info = e.format.info();
        // as the real server: exports are always ZIP files; imports name the single-file kinds too
        let mut kinds: Vec<String> = info
            .extensions
            .iter()
            .map(|x| x.to_ascii_uppercase())
            .filter(|x| x == "JSON" || x == "XML")
            .collect();
        kinds.push("ZIP".into());
        kinds.sort();
        kinds.dedup();
        let import_ext = kinds.join(", ");
        let item = json!({
            "name": info.name, "ext": "ZIP", "version": info.name.rsplit(' ').next().unwrap_or(""),
            "enabled": true, "dimension": if info.name.contains("3D") || info.name.contains("Point Cloud") || info.name.contains("Kitti Raw") {"3d"} else {"2d"},
        });
        if info.can_import {
            let mut i = item.clone();
            i["ext"] = json!(import_ext);
            importers.push(i);
        }
        if info.can_export {
            exporters.push(item);
        }
    }
    Resp::json(
        200,
        &json!({"importers": importers, "exporters": exporters}),
    )
}

pub fn user_json(req: &Req, u: &User, full: bool) -> Value {
    let base = req.base();
    if !full {
        return json!({"url": format!("{base}/api/users/{}", u.id), "id": u.id, "username": u.username,
            "first_name": u.first_name, "last_name": u.last_name});
    }
    json!({
        "url": format!("{base}/api/users/{}", u.id), "id": u.id, "username": u.username,
        "first_name": u.first_name, "last_name": u.last_name, "email": u.email,
        "groups": if u.is_superuser { json!(["admin"]) } else { json!(["user"]) },
        "is_staff": u.is_superuser, "is_superuser": u.is_superuser, "is_active": true,
        "last_login": u.last_login, "date_joined": u.date_joined, "has_analytics_access": u.is_superuser,
    })
}

pub fn owner_ref(conn: &Connection, req: &Req, id: i64) -> Result<Value, ApiError> {
    Ok(match db::user_by_id(conn, id)? {
        Some(u) => user_json(req, &u, false),
        None => Value::Null,
    })
}

fn users_list(app: &App, req: &Req, user: &User) -> R {
    let conn = app.db();
    let mut ids: Vec<i64> = Vec::new();
    {
        let mut st = conn.prepare("SELECT id FROM users ORDER BY id")?;
        let rows = st.query_map([], |r| r.get::<_, i64>(0))?;
        for r in rows {
            ids.push(r?);
        }
    }
    let mut items = Vec::new();
    for id in ids {
        if let Some(u) = db::user_by_id(&conn, id)? {
            if user.is_superuser || u.id == user.id {
                items.push(user_json(req, &u, true));
            } else {
                items.push(user_json(req, &u, false));
            }
        }
    }
    if let Some(name) = req.q("username") {
        items.retain(|v| v["username"] == name);
    }
    Ok(Resp::json(200, &paginate(req, "/api/users", items)?))
}

fn str_field<'a>(v: &'a Value, k: &str) -> Option<&'a str> {
    v.get(k).and_then(Value::as_str)
}

fn login(app: &App, req: &Req) -> R {
    let body = req.json()?;
    let password = str_field(&body, "password").filter(|s| !s.is_empty());
    let username = str_field(&body, "username").filter(|s| !s.is_empty());
    let email = str_field(&body, "email").filter(|s| !s.is_empty());
    let (login, by_email) = match (username, email) {
        (Some(u), _) => (u, false),
        (None, Some(e)) => (e, true),
        _ => ("", false),
    };
    let Some(password) = password.filter(|_| !login.is_empty()) else {
        return Err(ApiError::bad_list(
            "Must include either \"username\" or \"email\" and \"password\".",
        ));
    };
    let conn = app.db();
    let Some(user) = db::check_password(&conn, login, password, by_email)? else {
        return Err(ApiError::new(
            400,
            json!({"non_field_errors": ["Unable to log in with provided credentials."]}),
        ));
    };
    let key: Option<String> = conn
        .query_row(
            "SELECT key FROM tokens WHERE user_id=?1 AND kind='token'",
            [user.id],
            |r| r.get(0),
        )
        .optional()?;
    let now = util::now();
    let key = match key {
        Some(k) => k,
        None => {
            let k = util::random_hex(20);
            conn.execute(
                "INSERT INTO tokens(key, user_id, kind, created) VALUES (?1,?2,'token',?3)",
                params![k, user.id, now],
            )?;
            k
        }
    };
    let sid = util::random_alnum(32);
    let csrf = util::random_alnum(32);
    conn.execute(
        "INSERT INTO sessions(id, user_id, csrf, created) VALUES (?1,?2,?3,?4)",
        params![sid, user.id, csrf, now],
    )?;
    conn.execute(
        "UPDATE users SET last_login=?1 WHERE id=?2",
        params![now, user.id],
    )?;
    Ok(Resp::json(200, &json!({ "key": key }))
        .with(
            "Set-Cookie",
            format!("csrftoken={csrf}; Max-Age=31449600; Path=/; SameSite=Lax"),
        )
        .with(
            "Set-Cookie",
            format!("sessionid={sid}; HttpOnly; Max-Age=1209600; Path=/; SameSite=Lax"),
        )
        .with(
            "Set-Cookie",
            "sessionfresh=1; HttpOnly; Max-Age=1209600; Path=/; SameSite=Lax",
        ))
}

fn logout(app: &App, req: &Req) -> R {
    if let Some(sid) = req.cookie("sessionid") {
        app.db()
            .execute("DELETE FROM sessions WHERE id=?1", [sid])?;
    }
    Ok(
        Resp::json(200, &json!({"detail": "Successfully logged out."}))
            .with(
                "Set-Cookie",
                "sessionid=\"\"; expires=Thu, 01 Jan 1970 00:00:00 GMT; Max-Age=0; Path=/",
            )
            .with(
                "Set-Cookie",
                "sessionfresh=\"\"; expires=Thu, 01 Jan 1970 00:00:00 GMT; Max-Age=0; Path=/",
            ),
    )
}

/// `POST /api/auth/register`: `{username, email, password1, password2}`.
fn register(app: &App, req: &Req) -> R {
    let body = req.json()?;
    let username = str_field(&body, "username")
        .unwrap_or("")
        .trim()
        .to_string();
    let email = str_field(&body, "email").unwrap_or("").trim().to_string();
    let p1 = str_field(&body, "password1").unwrap_or("");
    let p2 = str_field(&body, "password2").unwrap_or("");
    if username.is_empty() {
        return Err(ApiError::field("username", "This field is required."));
    }
    if p1.len() < 8 {
        return Err(ApiError::field(
            "password1",
            "This password is too short. It must contain at least 8 characters.",
        ));
    }
    if p1 != p2 {
        return Err(ApiError::new(
            400,
            json!({"non_field_errors": ["The two password fields didn't match."]}),
        ));
    }
    let conn = app.db();
    let exists: i64 = conn.query_row(
        "SELECT COUNT(*) FROM users WHERE username=?1",
        [&username],
        |r| r.get(0),
    )?;
    if exists > 0 {
        return Err(ApiError::field(
            "username",
            "A user with that username already exists.",
        ));
    }
    let id = db::create_user(&conn, &username, &email, p1, false, &util::now())?;
    let u = db::user_by_id(&conn, id)?.ok_or_else(|| ApiError::internal("user vanished"))?;
    Ok(Resp::json(
        201,
        &json!({"username": u.username, "email": u.email, "first_name": "", "last_name": "", "email_verification_required": false, "key": null}),
    ))
}

fn list_access_tokens(app: &App, req: &Req, user: &User) -> R {
    let conn = app.db();
    let mut st = conn.prepare(
        "SELECT rowid, name, created FROM tokens WHERE user_id=?1 AND kind='pat' ORDER BY rowid",
    )?;
    let rows = st.query_map([user.id], |r| {
        Ok(json!({"id": r.get::<_, i64>(0)?, "name": r.get::<_, String>(1)?, "created_date": r.get::<_, String>(2)?,
            "updated_date": r.get::<_, String>(2)?, "expiry_date": null, "last_used_date": null, "read_only": false, "owner": user.id}))
    })?;
    let items = rows.collect::<Result<Vec<_>, _>>()?;
    Ok(Resp::json(
        200,
        &paginate(req, "/api/auth/access_tokens", items)?,
    ))
}

/// Personal access tokens (newer servers): `POST /api/auth/access_tokens {name}` -> `{..., value}`; the
/// value is then sent as `Authorization: Bearer <value>`.
fn create_access_token(app: &App, req: &Req, user: &User) -> R {
    let body = req.json()?;
    let name = str_field(&body, "name").unwrap_or("token").to_string();
    let key = util::random_alnum(40);
    let now = util::now();
    let conn = app.db();
    conn.execute(
        "INSERT INTO tokens(key, user_id, kind, name, created) VALUES (?1,?2,'pat',?3,?4)",
        params![key, user.id, name, now],
    )?;
    let id = conn.last_insert_rowid();
    Ok(Resp::json(
        201,
        &json!({"id": id, "name": name, "created_date": now, "updated_date": now, "expiry_date": null, "last_used_date": null,
            "read_only": false, "owner": user.id, "value": key}),
    ))
}

// ---------------------------------------------------------------------------------------------------
// pagination, filtering, sorting

/// Pages `items` as DRF does: `page` (from 1), `page_size` (default 10), absolute `next`/`previous`.
pub fn paginate(req: &Req, path: &str, items: Vec<Value>) -> Result<Value, ApiError> {
    let page: usize = match req.q("page") {
        None => 1,
        Some(p) => p
            .parse::<usize>()
            .ok()
            .filter(|p| *p >= 1)
            .ok_or_else(|| ApiError::detail(404, "Invalid page."))?,
    };
    let page_size: usize = req
        .q("page_size")
        .and_then(|s| s.parse::<usize>().ok())
        .filter(|s| *s >= 1)
        .map(|s| s.min(1000))
        .unwrap_or(10);
    let count = items.len();
    let pages = count.div_ceil(page_size).max(1);
    if page > pages {
        return Err(ApiError::detail(404, "Invalid page."));
    }
    let url = |p: usize| -> String {
        let mut q: Vec<(String, String)> = req
            .query
            .iter()
            .filter(|(k, _)| k != "page")
            .cloned()
            .collect();
        if p > 1 {
            q.push(("page".into(), p.to_string()));
        }
        q.sort();
        let qs: Vec<String> = q
            .iter()
            .map(|(k, v)| format!("{}={}", util::query_encode(k), util::query_encode(v)))
            .collect();
        if qs.is_empty() {
            format!("{}{path}", req.base())
        } else {
            format!("{}{path}?{}", req.base(), qs.join("&"))
        }
    };
    let results: Vec<Value> = items
        .into_iter()
        .skip((page - 1) * page_size)
        .take(page_size)
        .collect();
    Ok(json!({
        "count": count,
        "next": if page < pages { Value::String(url(page + 1)) } else { Value::Null },
        "previous": if page > 1 { Value::String(url(page - 1)) } else { Value::Null },
        "results": results,
    }))
}

/// A field of a listed object for filters and sorting (`owner` and `assignee` compare by username).
fn field_of(v: &Value, name: &str) -> Value {
    match name {
        "owner" | "assignee" => v
            .get(name)
            .and_then(|o| o.get("username"))
            .cloned()
            .unwrap_or(Value::Null),
        "project_name" | "task_name" => v.get(name).cloned().unwrap_or(Value::Null),
        _ => v.get(name).cloned().unwrap_or(Value::Null),
    }
}

fn cmp_values(a: &Value, b: &Value) -> std::cmp::Ordering {
    use std::cmp::Ordering;
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x
            .as_f64()
            .unwrap_or(0.0)
            .partial_cmp(&y.as_f64().unwrap_or(0.0))
            .unwrap_or(Ordering::Equal),
        (Value::String(x), Value::String(y)) => x.cmp(y),
        (Value::Null, Value::Null) => Ordering::Equal,
        (Value::Null, _) => Ordering::Less,
        (_, Value::Null) => Ordering::Greater,
        _ => a.to_string().cmp(&b.to_string()),
    }
}

/// Evaluates a JSON-logic filter (`==`, `!=`, `<`, `<=`, `>`, `>=`, `in`, `and`, `or`, `!`, `var`).
fn json_logic(expr: &Value, obj: &Value) -> Result<Value, String> {
    let Some(map) = expr.as_object() else {
        return Ok(expr.clone());
    };
    let Some((op, args)) = map.iter().next() else {
        return Ok(Value::Null);
    };
    let args: Vec<Value> = match args {
        Value::Array(a) => a.clone(),
        other => vec![other.clone()],
    };
    let eval = |i: usize| -> Result<Value, String> {
        args.get(i)
            .map(|a| json_logic(a, obj))
            .unwrap_or(Ok(Value::Null))
    };
    let truthy = |v: &Value| match v {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64() != Some(0.0),
        Value::String(s) => !s.is_empty(),
        Value::Array(a) => !a.is_empty(),
        Value::Object(_) => true,
    };
    let loose_eq = |a: &Value, b: &Value| {
        a == b
            || match (a, b) {
                (Value::Number(x), Value::String(s)) | (Value::String(s), Value::Number(x)) => {
                    s.parse::<f64>().ok() == x.as_f64()
                }
                _ => false,
            }
    };
    Ok(match op.as_str() {
        "var" => {
            let name = args.first().and_then(Value::as_str).unwrap_or("");
            field_of(obj, name)
        }
        "==" => Value::Bool(loose_eq(&eval(0)?, &eval(1)?)),
        "!=" => Value::Bool(!loose_eq(&eval(0)?, &eval(1)?)),
        "<" | "<=" | ">" | ">=" => {
            let a = eval(0)?;
            let b = eval(1)?;
            let o = cmp_values(&a, &b);
            let mut r = match op.as_str() {
                "<" => o.is_lt(),
                "<=" => o.is_le(),
                ">" => o.is_gt(),
                _ => o.is_ge(),
            };
            if args.len() == 3 {
                let c = eval(2)?;
                let o2 = cmp_values(&b, &c);
                r = r && if op == "<" { o2.is_lt() } else { o2.is_le() };
            }
            Value::Bool(r)
        }
        "in" => {
            let a = eval(0)?;
            let b = eval(1)?;
            Value::Bool(match (&a, &b) {
                (Value::String(x), Value::String(y)) => y.contains(x.as_str()),
                (_, Value::Array(list)) => list.iter().any(|v| loose_eq(v, &a)),
                _ => false,
            })
        }
        "and" => {
            let mut r = true;
            for i in 0..args.len() {
                r = r && truthy(&eval(i)?);
            }
            Value::Bool(r)
        }
        "or" => {
            let mut r = false;
            for i in 0..args.len() {
                r = r || truthy(&eval(i)?);
            }
            Value::Bool(r)
        }
        "!" => Value::Bool(!truthy(&eval(0)?)),
        other => return Err(format!("Unsupported filter operation: {other}")),
    })
}

/// Applies `filter` (JSON logic), simple field filters, `search` and `sort` to listed objects.
pub fn filter_sort(
    req: &Req,
    mut items: Vec<Value>,
    simple: &[&str],
    search: &[&str],
    sortable: &[&str],
) -> Result<Vec<Value>, ApiError> {
    if let Some(f) = req.q("filter").filter(|f| !f.trim().is_empty()) {
        let expr: Value = serde_json::from_str(f)
            .map_err(|e| ApiError::field("filter", format!("filter is not valid JSON: {e}")))?;
        let mut kept = Vec::new();
        for it in items {
            match json_logic(&expr, &it) {
                Ok(Value::Bool(true)) => kept.push(it),
                Ok(_) => {}
                Err(msg) => return Err(ApiError::field("filter", msg)),
            }
        }
        items = kept;
    }
    for key in simple {
        if let Some(want) = req.q(key) {
            items.retain(|it| {
                let v = field_of(it, key);
                match &v {
                    Value::String(s) => {
                        if *key == "name" {
                            s.to_lowercase().contains(&want.to_lowercase())
                        } else {
                            s == want
                        }
                    }
                    Value::Number(n) => n.to_string() == want,
                    Value::Null => want.is_empty() || want == "null",
                    Value::Bool(b) => want == if *b { "true" } else { "false" },
                    _ => false,
                }
            });
        }
    }
    if let Some(s) = req.q("search").filter(|s| !s.is_empty()) {
        let s = s.to_lowercase();
        items.retain(|it| {
            search.iter().any(|k| match field_of(it, k) {
                Value::String(v) => v.to_lowercase().contains(&s),
                Value::Number(n) => n.to_string() == s,
                _ => false,
            })
        });
    }
    let sort = req.q("sort").unwrap_or("-id");
    let mut keys: Vec<(String, bool)> = Vec::new();
    for k in sort.split(',').map(str::trim).filter(|k| !k.is_empty()) {
        let (desc, name) = match k.strip_prefix('-') {
            Some(n) => (true, n),
            None => (false, k),
        };
        if !sortable.contains(&name) {
            return Err(ApiError::field(
                "sort",
                format!(
                    "Invalid sort field '{name}'; allowed: {}",
                    sortable.join(", ")
                ),
            ));
        }
        keys.push((name.to_string(), desc));
    }
    items.sort_by(|a, b| {
        for (k, desc) in &keys {
            let o = cmp_values(&field_of(a, k), &field_of(b, k));
            let o = if *desc { o.reverse() } else { o };
            if o.is_ne() {
                return o;
            }
        }
        std::cmp::Ordering::Equal
    });
    Ok(items)
}

// ---------------------------------------------------------------------------------------------------
// projects

pub struct ProjectRow {
    pub id: i64,
    pub name: String,
    pub owner_id: i64,
    pub bug_tracker: String,
    pub created: String,
    pub updated: String,
}

pub fn get_project(conn: &Connection, id: i64, user: &User) -> Result<ProjectRow, ApiError> {
    let p = conn
        .query_row(
            "SELECT id, name, owner_id, bug_tracker, created, updated FROM projects WHERE id=?1",
            [id],
            |r| {
                Ok(ProjectRow {
                    id: r.get(0)?,
                    name: r.get(1)?,
                    owner_id: r.get(2)?,
                    bug_tracker: r.get(3)?,
                    created: r.get(4)?,
                    updated: r.get(5)?,
                })
            },
        )
        .optional()?
        .ok_or_else(|| ApiError::not_found("Project"))?;
    may_see(p.owner_id, user)?;
    Ok(p)
}

fn project_json(conn: &Connection, req: &Req, p: &ProjectRow) -> Result<Value, ApiError> {
    let base = req.base();
    let tasks: i64 = conn.query_row(
        "SELECT COUNT(*) FROM tasks WHERE project_id=?1",
        [p.id],
        |r| r.get(0),
    )?;
    let mut subsets: Vec<String> = Vec::new();
    {
        let mut st = conn.prepare(
            "SELECT DISTINCT subset FROM tasks WHERE project_id=?1 AND subset<>'' ORDER BY subset",
        )?;
        for s in st.query_map([p.id], |r| r.get::<_, String>(0))? {
            subsets.push(s?);
        }
    }
    Ok(json!({
        "url": format!("{base}/api/projects/{}", p.id), "id": p.id, "name": p.name,
        "owner": owner_ref(conn, req, p.owner_id)?, "assignee": null, "guide_id": null,
        "bug_tracker": p.bug_tracker, "created_date": p.created, "updated_date": p.updated,
        "status": "annotation", "dimension": if tasks > 0 { json!("2d") } else { Value::Null },
        "organization": null, "target_storage": null, "source_storage": null,
        "tasks": {"count": tasks, "url": format!("{base}/api/tasks?project_id={}", p.id)},
        "labels": {"url": format!("{base}/api/labels?project_id={}", p.id)},
        "assignee_updated_date": null, "task_subsets": subsets,
    }))
}

fn projects_list(app: &App, req: &Req, user: &User) -> R {
    let conn = app.db();
    let mut ids = Vec::new();
    {
        let mut st = conn.prepare("SELECT id FROM projects WHERE owner_id=?1 OR ?2")?;
        for r in st.query_map(params![user.id, user.is_superuser], |r| r.get::<_, i64>(0))? {
            ids.push(r?);
        }
    }
    let mut items = Vec::new();
    for id in ids {
        let p = get_project(&conn, id, user)?;
        items.push(project_json(&conn, req, &p)?);
    }
    let items = filter_sort(
        req,
        items,
        &["name", "owner", "status"],
        &["name", "owner", "status"],
        &[
            "id",
            "name",
            "owner",
            "status",
            "created_date",
            "updated_date",
        ],
    )?;
    Ok(Resp::json(200, &paginate(req, "/api/projects", items)?))
}

fn project_create(app: &App, req: &Req, user: &User) -> R {
    let body = req.json()?;
    let name = match body.get("name") {
        Some(Value::String(s)) if !s.trim().is_empty() => s.clone(),
        Some(Value::String(_)) => {
            return Err(ApiError::field("name", "This field may not be blank."))
        }
        _ => return Err(ApiError::field("name", "This field is required.")),
    };
    let labels = body
        .get("labels")
        .cloned()
        .unwrap_or(Value::Array(Vec::new()));
    let labels = validate_labels(&labels)?;
    let now = util::now();
    let mut conn = app.db();
    let tx = conn.transaction()?;
    tx.execute(
        "INSERT INTO projects(name, owner_id, bug_tracker, created, updated) VALUES (?1,?2,?3,?4,?4)",
        params![name, user.id, str_field(&body, "bug_tracker").unwrap_or(""), now],
    )?;
    let id = tx.last_insert_rowid();
    insert_labels(&tx, LabelOwner::Project(id), &labels)?;
    tx.commit()?;
    let p = get_project(&conn, id, user)?;
    let base = req.base();
    Ok(Resp::json(201, &project_json(&conn, req, &p)?)
        .with("Location", format!("{base}/api/projects/{id}")))
}

fn project_update(app: &App, req: &Req, user: &User, id: i64) -> R {
    let body = req.json()?;
    let mut conn = app.db();
    get_project(&conn, id, user)?;
    let tx = conn.transaction()?;
    if let Some(n) = str_field(&body, "name") {
        if n.trim().is_empty() {
            return Err(ApiError::field("name", "This field may not be blank."));
        }
        tx.execute("UPDATE projects SET name=?1 WHERE id=?2", params![n, id])?;
    }
    if let Some(b) = str_field(&body, "bug_tracker") {
        tx.execute(
            "UPDATE projects SET bug_tracker=?1 WHERE id=?2",
            params![b, id],
        )?;
    }
    if let Some(labels) = body.get("labels") {
        let labels = validate_labels(labels)?;
        patch_labels(&tx, LabelOwner::Project(id), &labels)?;
    }
    tx.execute(
        "UPDATE projects SET updated=?1 WHERE id=?2",
        params![util::now(), id],
    )?;
    tx.commit()?;
    let p = get_project(&conn, id, user)?;
    Ok(Resp::json(200, &project_json(&conn, req, &p)?))
}

fn project_delete(app: &App, user: &User, id: i64) -> R {
    let task_ids: Vec<i64> = {
        let conn = app.db();
        get_project(&conn, id, user)?;
        let mut st = conn.prepare("SELECT id FROM tasks WHERE project_id=?1")?;
        let ids = st
            .query_map([id], |r| r.get::<_, i64>(0))?
            .collect::<Result<Vec<_>, _>>()?;
        ids
    };
    for t in task_ids {
        tasks::delete_task_data(app, t)?;
    }
    let mut conn = app.db();
    let tx = conn.transaction()?;
    tx.execute("DELETE FROM labels WHERE project_id=?1", [id])?;
    tx.execute("DELETE FROM projects WHERE id=?1", [id])?;
    tx.commit()?;
    Ok(Resp::empty(204))
}

// ---------------------------------------------------------------------------------------------------
// labels

#[derive(Clone, Copy)]
pub enum LabelOwner {
    Task(i64),
    Project(i64),
}

const PALETTE: &[&str] = &[
    "#c06060", "#33ddff", "#fa3253", "#34d1b7", "#ff007c", "#ddff33", "#24b353", "#b83df5",
    "#66ff66", "#32b7fa", "#ffcc33", "#83e070", "#fafa37", "#5986b3", "#8c78f0", "#ff6a4d",
];

const INPUT_TYPES: &[&str] = &["checkbox", "radio", "number", "text", "select"];
const LABEL_TYPES: &[&str] = &[
    "any",
    "rectangle",
    "polygon",
    "polyline",
    "points",
    "ellipse",
    "cuboid",
    "mask",
    "skeleton",
    "tag",
];

/// Validates a label list from a request body; errors in DRF's nested shape.
pub fn validate_labels(v: &Value) -> Result<Vec<Value>, ApiError> {
    let Some(list) = v.as_array() else {
        return Err(ApiError::new(
            400,
            json!({"labels": {"non_field_errors": [format!("Expected a list of items but got type \"{}\".", json_type(v))]}}),
        ));
    };
    let mut errors = Vec::new();
    let mut any_error = false;
    for l in list {
        let e = label_errors(l);
        any_error |= !e.as_object().is_some_and(Map::is_empty);
        errors.push(e);
    }
    if any_error {
        return Err(ApiError::new(400, json!({ "labels": errors })));
    }
    let mut names = std::collections::HashSet::new();
    for l in list {
        if l.get("deleted").and_then(Value::as_bool) == Some(true) {
            continue;
        }
        if !names.insert(str_field(l, "name").unwrap_or("")) {
            return Err(ApiError::bad_list("All label names must be unique"));
        }
    }
    Ok(list.clone())
}

fn json_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(_) => "int",
        Value::String(_) => "str",
        Value::Array(_) => "list",
        Value::Object(_) => "dict",
    }
}

fn label_errors(l: &Value) -> Value {
    let mut e = Map::new();
    let Some(obj) = l.as_object() else {
        e.insert(
            "non_field_errors".into(),
            json!([format!(
                "Invalid data. Expected a dictionary, but got {}.",
                json_type(l)
            )]),
        );
        return Value::Object(e);
    };
    match obj.get("name") {
        Some(Value::String(s)) if !s.trim().is_empty() => {}
        Some(Value::String(_)) => {
            e.insert("name".into(), json!(["This field may not be blank."]));
        }
        None if obj.get("id").is_some() => {}
        _ => {
            e.insert("name".into(), json!(["This field is required."]));
        }
    }
    if let Some(t) = obj.get("type") {
        if !t.as_str().is_some_and(|t| LABEL_TYPES.contains(&t)) {
            e.insert(
                "type".into(),
                json!([format!("{} is not a valid choice.", t)]),
            );
        }
    }
    if let Some(attrs) = obj.get("attributes") {
        match attrs.as_array() {
            None => {
                e.insert(
                    "attributes".into(),
                    json!({"non_field_errors": ["Expected a list of items."]}),
                );
            }
            Some(list) => {
                let mut errs = Vec::new();
                let mut bad = false;
                for a in list {
                    let mut ae = Map::new();
                    if a.get("name")
                        .and_then(Value::as_str)
                        .is_none_or(str::is_empty)
                    {
                        ae.insert("name".into(), json!(["This field is required."]));
                    }
                    match a.get("input_type") {
                        Some(Value::String(t)) if INPUT_TYPES.contains(&t.as_str()) => {}
                        Some(t) => {
                            ae.insert(
                                "input_type".into(),
                                json!([format!("{} is not a valid choice.", t)]),
                            );
                        }
                        None => {
                            ae.insert("input_type".into(), json!(["This field is required."]));
                        }
                    }
                    if let Some(vals) = a.get("values") {
                        if !vals
                            .as_array()
                            .is_some_and(|l| l.iter().all(Value::is_string))
                        {
                            ae.insert("values".into(), json!(["Expected a list of strings."]));
                        }
                    }
                    bad |= !ae.is_empty();
                    errs.push(Value::Object(ae));
                }
                if bad {
                    e.insert("attributes".into(), Value::Array(errs));
                }
            }
        }
    }
    if let Some(subs) = obj.get("sublabels") {
        if let Some(list) = subs.as_array() {
            let errs: Vec<Value> = list.iter().map(label_errors).collect();
            if errs
                .iter()
                .any(|x| !x.as_object().is_some_and(Map::is_empty))
            {
                e.insert("sublabels".into(), Value::Array(errs));
            }
        }
    }
    Value::Object(e)
}

fn attrs_with_ids(conn: &Connection, l: &Value) -> Result<Value, ApiError> {
    let mut out = Vec::new();
    for a in l
        .get("attributes")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default()
    {
        let id = db::next_attr_id(conn)?;
        let values: Vec<Value> = a
            .get("values")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        let input_type = str_field(&a, "input_type").unwrap_or("text").to_string();
        let default = match a.get("default_value").and_then(Value::as_str) {
            Some(d) => d.to_string(),
            None => values
                .first()
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string(),
        };
        out.push(json!({
            "id": id, "name": str_field(&a, "name").unwrap_or(""),
            "mutable": a.get("mutable").and_then(Value::as_bool).unwrap_or(false),
            "input_type": input_type, "default_value": default, "values": values,
        }));
    }
    Ok(Value::Array(out))
}

fn insert_label(
    conn: &Connection,
    owner: LabelOwner,
    parent: Option<i64>,
    l: &Value,
    index: usize,
) -> Result<i64, ApiError> {
    let (task_id, project_id) = match owner {
        LabelOwner::Task(t) => (Some(t), None),
        LabelOwner::Project(p) => (None, Some(p)),
    };
    let color = str_field(l, "color")
        .filter(|c| !c.is_empty())
        .map(str::to_string)
        .unwrap_or_else(|| PALETTE[index % PALETTE.len()].to_string());
    let ty = str_field(l, "type").unwrap_or("any");
    let attrs = attrs_with_ids(conn, l)?;
    conn.execute(
        "INSERT INTO labels(task_id, project_id, parent_id, name, color, type, svg, attributes) VALUES (?1,?2,?3,?4,?5,?6,'',?7)",
        params![task_id, project_id, parent, str_field(l, "name").unwrap_or(""), color, ty, attrs.to_string()],
    )?;
    let id = conn.last_insert_rowid();
    let mut svg = str_field(l, "svg").unwrap_or("").to_string();
    if let Some(subs) = l.get("sublabels").and_then(Value::as_array) {
        for (i, s) in subs.iter().enumerate() {
            let sid = insert_label(conn, owner, Some(id), s, index + i + 1)?;
            let sname = str_field(s, "name").unwrap_or("");
            // clients (and backups) refer to skeleton nodes by name; the API by id
            svg = svg.replace(
                &format!("data-label-name=\"{sname}\""),
                &format!("data-label-id=\"{sid}\""),
            );
        }
    }
    if !svg.is_empty() {
        conn.execute("UPDATE labels SET svg=?1 WHERE id=?2", params![svg, id])?;
    }
    Ok(id)
}

pub fn insert_labels(
    conn: &Connection,
    owner: LabelOwner,
    labels: &[Value],
) -> Result<(), ApiError> {
    for (i, l) in labels.iter().enumerate() {
        insert_label(conn, owner, None, l, i)?;
    }
    Ok(())
}

/// PATCH semantics: labels with an `id` are updated (or deleted with `deleted: true`), others added.
fn patch_labels(conn: &Connection, owner: LabelOwner, labels: &[Value]) -> Result<(), ApiError> {
    let (col, oid) = match owner {
        LabelOwner::Task(t) => ("task_id", t),
        LabelOwner::Project(p) => ("project_id", p),
    };
    let existing = count_labels(conn, col, oid)?;
    for (i, l) in labels.iter().enumerate() {
        match l.get("id").and_then(Value::as_i64) {
            Some(id) => {
                let found: i64 = conn.query_row(
                    &format!("SELECT COUNT(*) FROM labels WHERE id=?1 AND {col}=?2"),
                    params![id, oid],
                    |r| r.get(0),
                )?;
                if found == 0 {
                    return Err(ApiError::bad_list(format!(
                        "Label {id} does not exist here"
                    )));
                }
                if l.get("deleted").and_then(Value::as_bool) == Some(true) {
                    conn.execute("DELETE FROM labels WHERE id=?1 OR parent_id=?1", [id])?;
                    continue;
                }
                if let Some(n) = str_field(l, "name") {
                    conn.execute("UPDATE labels SET name=?1 WHERE id=?2", params![n, id])?;
                }
                if let Some(c) = str_field(l, "color") {
                    conn.execute("UPDATE labels SET color=?1 WHERE id=?2", params![c, id])?;
                }
            }
            None => {
                let name = str_field(l, "name").unwrap_or("");
                let dup: i64 = conn.query_row(
                    &format!("SELECT COUNT(*) FROM labels WHERE name=?1 AND {col}=?2 AND parent_id IS NULL"),
                    params![name, oid],
                    |r| r.get(0),
                )?;
                if dup > 0 {
                    return Err(ApiError::bad_list("All label names must be unique"));
                }
                insert_label(conn, owner, None, l, existing + i)?;
            }
        }
    }
    Ok(())
}

fn count_labels(conn: &Connection, col: &str, oid: i64) -> Result<usize, ApiError> {
    let n: i64 = conn.query_row(
        &format!("SELECT COUNT(*) FROM labels WHERE {col}=?1 AND parent_id IS NULL"),
        [oid],
        |r| r.get(0),
    )?;
    Ok(n.max(0) as usize)
}

pub struct LabelRow {
    pub id: i64,
    pub task_id: Option<i64>,
    pub project_id: Option<i64>,
    pub parent_id: Option<i64>,
    pub name: String,
    pub color: String,
    pub ty: String,
    pub svg: String,
    pub attributes: Value,
}

fn label_rows(conn: &Connection, where_: &str, p: i64) -> Result<Vec<LabelRow>, ApiError> {
    let mut st = conn.prepare(&format!(
        "SELECT id, task_id, project_id, parent_id, name, color, type, svg, attributes FROM labels WHERE {where_} ORDER BY id"
    ))?;
    let rows = st.query_map([p], |r| {
        Ok(LabelRow {
            id: r.get(0)?,
            task_id: r.get(1)?,
            project_id: r.get(2)?,
            parent_id: r.get(3)?,
            name: r.get(4)?,
            color: r.get(5)?,
            ty: r.get(6)?,
            svg: r.get(7)?,
            attributes: serde_json::from_str(&r.get::<_, String>(8)?).unwrap_or(json!([])),
        })
    })?;
    Ok(rows.collect::<Result<Vec<_>, _>>()?)
}

fn label_json(conn: &Connection, l: &LabelRow, top: bool) -> Result<Value, ApiError> {
    let mut m = Map::new();
    m.insert("id".into(), json!(l.id));
    m.insert("name".into(), json!(l.name));
    m.insert("color".into(), json!(l.color));
    m.insert("attributes".into(), l.attributes.clone());
    m.insert("type".into(), json!(l.ty));
    if !top {
        m.insert("has_parent".into(), json!(true));
        return Ok(Value::Object(m));
    }
    let subs = label_rows(conn, "parent_id=?1", l.id)?;
    let subs: Vec<Value> = subs
        .iter()
        .map(|s| label_json(conn, s, false))
        .collect::<Result<_, _>>()?;
    m.insert("sublabels".into(), Value::Array(subs));
    if let Some(t) = l.task_id {
        m.insert("task_id".into(), json!(t));
    }
    if let Some(p) = l.project_id {
        m.insert("project_id".into(), json!(p));
    }
    m.insert("parent_id".into(), json!(l.parent_id));
    m.insert("has_parent".into(), json!(l.parent_id.is_some()));
    if l.ty == "skeleton" || !l.svg.is_empty() {
        m.insert("svg".into(), json!(l.svg));
    }
    Ok(Value::Object(m))
}

/// The labels of a task (its project's when it is in one), top level, as `GET /api/labels` lists them.
pub fn task_labels_json(conn: &Connection, task_id: i64) -> Result<Vec<Value>, ApiError> {
    let project: Option<i64> = conn
        .query_row("SELECT project_id FROM tasks WHERE id=?1", [task_id], |r| {
            r.get(0)
        })
        .optional()?
        .flatten();
    let rows = match project {
        Some(p) => label_rows(conn, "project_id=?1 AND parent_id IS NULL", p)?,
        None => label_rows(conn, "task_id=?1 AND parent_id IS NULL", task_id)?,
    };
    rows.iter().map(|l| label_json(conn, l, true)).collect()
}

/// The task's labels in the model (ids, attributes with ids, sub-labels).
pub fn task_labels_model(
    conn: &Connection,
    task_id: i64,
) -> Result<Vec<cvat_format_api::Label>, ApiError> {
    let list = task_labels_json(conn, task_id)?;
    serde_json::from_value(Value::Array(list))
        .map_err(|e| ApiError::internal(format!("stored labels: {e}")))
}

fn labels_list(app: &App, req: &Req, user: &User) -> R {
    let conn = app.db();
    let items = if let Some(t) = req.q("task_id") {
        let t = t
            .parse::<i64>()
            .map_err(|_| ApiError::field("task_id", "A valid integer is required."))?;
        tasks::get_task(&conn, t, user)?;
        task_labels_json(&conn, t)?
    } else if let Some(p) = req.q("project_id") {
        let p = p
            .parse::<i64>()
            .map_err(|_| ApiError::field("project_id", "A valid integer is required."))?;
        get_project(&conn, p, user)?;
        label_rows(&conn, "project_id=?1 AND parent_id IS NULL", p)?
            .iter()
            .map(|l| label_json(&conn, l, true))
            .collect::<Result<_, _>>()?
    } else if let Some(j) = req.q("job_id") {
        let j = j
            .parse::<i64>()
            .map_err(|_| ApiError::field("job_id", "A valid integer is required."))?;
        let t: i64 = conn
            .query_row("SELECT task_id FROM jobs WHERE id=?1", [j], |r| r.get(0))
            .optional()?
            .ok_or_else(|| ApiError::not_found("Job"))?;
        tasks::get_task(&conn, t, user)?;
        task_labels_json(&conn, t)?
    } else {
        let rows = label_rows(&conn, "parent_id IS NULL AND ?1=?1", 0)?;
        let mut out = Vec::new();
        for l in rows {
            let visible = match (l.task_id, l.project_id) {
                (Some(t), _) => tasks::get_task(&conn, t, user).is_ok(),
                (_, Some(p)) => get_project(&conn, p, user).is_ok(),
                _ => false,
            };
            if visible {
                out.push(label_json(&conn, &l, true)?);
            }
        }
        out.reverse();
        out
    };
    let sort_default = req.q("sort").is_none();
    let mut items = filter_sort(
        req,
        items,
        &["name", "type", "color"],
        &["name", "type"],
        &["id", "name", "type"],
    )?;
    if sort_default {
        items.sort_by_key(|v| v["id"].as_i64().unwrap_or(0));
    }
    Ok(Resp::json(200, &paginate(req, "/api/labels", items)?))
}

fn label_by_id(conn: &Connection, id: i64, user: &User) -> Result<Value, ApiError> {
    let rows = label_rows(conn, "id=?1", id)?;
    let l = rows
        .into_iter()
        .next()
        .ok_or_else(|| ApiError::not_found("Label"))?;
    match (l.task_id, l.project_id) {
        (Some(t), _) => {
            tasks::get_task(conn, t, user)?;
        }
        (_, Some(p)) => {
            get_project(conn, p, user)?;
        }
        _ => return Err(ApiError::not_found("Label")),
    }
    label_json(conn, &l, l.parent_id.is_none())
}

fn label_delete(app: &App, user: &User, id: i64) -> R {
    let conn = app.db();
    label_by_id(&conn, id, user)?;
    conn.execute("DELETE FROM labels WHERE id=?1 OR parent_id=?1", [id])?;
    Ok(Resp::empty(204))
}

// ---------------------------------------------------------------------------------------------------
// request objects

pub fn request_value(conn: &Connection, row: &rusqlite::Row) -> rusqlite::Result<Value> {
    let owner_id: i64 = row.get("owner_id")?;
    let username: String = conn
        .query_row("SELECT username FROM users WHERE id=?1", [owner_id], |r| {
            r.get(0)
        })
        .optional()?
        .unwrap_or_default();
    let op_type: String = row.get("op_type")?;
    Ok(json!({
        "status": row.get::<_, String>("status")?,
        "message": row.get::<_, String>("message")?,
        "id": row.get::<_, String>("id")?,
        "operation": {
            "type": op_type, "target": row.get::<_, String>("target")?,
            "project_id": row.get::<_, Option<i64>>("project_id")?,
            "task_id": row.get::<_, Option<i64>>("task_id")?, "job_id": null,
            "format": row.get::<_, Option<String>>("format")?, "function_id": null,
        },
        "progress": 0.0,
        "created_date": row.get::<_, String>("created")?,
        "started_date": row.get::<_, Option<String>>("started")?,
        "finished_date": row.get::<_, Option<String>>("finished")?,
        "expiry_date": row.get::<_, Option<String>>("expiry")?,
        "owner": {"id": owner_id, "username": username},
        "result_url": row.get::<_, Option<String>>("result_url")?,
        "result_id": row.get::<_, Option<i64>>("result_id")?,
    }))
}

fn request_json(conn: &Connection, id: &str, user: &User) -> Result<Option<Value>, ApiError> {
    let mut st = conn.prepare("SELECT * FROM requests WHERE id=?1 AND (owner_id=?2 OR ?3)")?;
    let mut rows = st.query(params![id, user.id, user.is_superuser])?;
    match rows.next()? {
        Some(r) => Ok(Some(request_value(conn, r)?)),
        None => Ok(None),
    }
}

fn requests_list(app: &App, req: &Req, user: &User) -> R {
    let conn = app.db();
    let mut items = Vec::new();
    {
        let mut st =
            conn.prepare("SELECT * FROM requests WHERE owner_id=?1 OR ?2 ORDER BY seq DESC")?;
        let mut rows = st.query(params![user.id, user.is_superuser])?;
        while let Some(r) = rows.next()? {
            items.push(request_value(&conn, r)?);
        }
    }
    if let Some(s) = req.q("status") {
        items.retain(|v| v["status"] == s);
    }
    if let Some(t) = req.q("task_id") {
        items.retain(|v| {
            v["operation"]["task_id"]
                .as_i64()
                .map(|x| x.to_string())
                .as_deref()
                == Some(t)
        });
    }
    if let Some(a) = req.q("action") {
        items.retain(|v| {
            v["operation"]["type"]
                .as_str()
                .is_some_and(|t| t.starts_with(a))
        });
    }
    Ok(
        Resp::json(200, &paginate(req, "/api/requests", items)?).with(
            "Cache-Control",
            "max-age=0, no-cache, no-store, must-revalidate, private",
        ),
    )
}

fn request_cancel(app: &App, id: &str, user: &User) -> R {
    let conn = app.db();
    if request_json(&conn, id, user)?.is_none() {
        return Err(ApiError::html(404, "There is no request with specified id"));
    }
    let n = conn.execute(
        "UPDATE requests SET status='failed', message='Canceled by the user', finished=?2 WHERE id=?1 AND status='queued'",
        params![id, util::now()],
    )?;
    if n == 0 {
        return Err(ApiError::bad(
            "Only requests that have not started yet can be canceled",
        ));
    }
    Ok(Resp::empty(200))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_logic_filters_like_cvat() {
        let t = json!({"id": 3, "name": "cli-local", "owner": {"username": "admin"}, "project_id": null});
        let ev = |e: Value| json_logic(&e, &t).expect("evaluates");
        assert_eq!(
            ev(json!({"==": [{"var": "name"}, "cli-local"]})),
            json!(true)
        );
        assert_eq!(ev(json!({"==": [{"var": "owner"}, "admin"]})), json!(true));
        assert_eq!(
            ev(json!({"and": [{">": [{"var": "id"}, 2]}, {"<=": [{"var": "id"}, 3]}]})),
            json!(true)
        );
        assert_eq!(ev(json!({"in": ["local", {"var": "name"}]})), json!(true));
        assert_eq!(
            ev(json!({"!": {"==": [{"var": "project_id"}, null]}})),
            json!(false)
        );
        assert_eq!(ev(json!({"<": [1, {"var": "id"}, 5]})), json!(true));
        assert!(json_logic(&json!({"regex": [1, 2]}), &t).is_err());
    }

    #[test]
    fn labels_are_validated_with_drf_shaped_errors() {
        let e = validate_labels(&json!([{"attributes": []}])).expect_err("name missing");
        assert_eq!(
            e.body,
            json!({"labels": [{"name": ["This field is required."]}]})
        );
        let e = validate_labels(&json!([{"name": "a", "attributes": [{"name": "x", "input_type": "bogus", "mutable": false, "values": []}]}]))
            .expect_err("bad input type");
        assert_eq!(
            e.body,
            json!({"labels": [{"attributes": [{"input_type": ["\"bogus\" is not a valid choice."]}]}]})
        );
        let e = validate_labels(&json!([{"name": "a"}, {"name": "a"}])).expect_err("duplicate");
        assert_eq!(e.body, json!(["All label names must be unique"]));
        assert!(validate_labels(&json!([{"name": "a", "type": "skeleton", "sublabels": [{"name": "b", "type": "points"}]}])).is_ok());
    }
}
