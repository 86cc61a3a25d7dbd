//! Requests and responses as the handlers see them: decoded path segments, query pairs, headers, the
//! whole body (and its multipart parts), and errors in CVAT's shapes.

use axum::http::request::Parts;
use bytes::Bytes;
use serde_json::Value;

/// One part of a `multipart/form-data` body.
#[derive(Debug, Clone)]
pub struct Part {
    pub name: String,
    pub filename: Option<String>,
    pub data: Bytes,
}

/// A request, fully read.
#[derive(Debug)]
pub struct Req {
    pub method: String,
    /// Path segments, percent-decoded, without empty ones (so `/data/` and `/data` are the same).
    pub segs: Vec<String>,
    pub query: Vec<(String, String)>,
    pub headers: axum::http::HeaderMap,
    pub body: Bytes,
    pub parts: Option<Vec<Part>>,
}

impl Req {
    pub fn new(parts: Parts, body: Bytes, multipart: Option<Vec<Part>>) -> Req {
        let path = parts.uri.path();
        let segs = path
            .split('/')
            .filter(|s| !s.is_empty())
            .map(|s| {
                percent_encoding::percent_decode_str(s)
                    .decode_utf8_lossy()
                    .into_owned()
            })
            .collect();
        let query = parts
            .uri
            .query()
            .map(|q| {
                q.split('&')
                    .filter(|s| !s.is_empty())
                    .map(|kv| {
                        let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
                        (form_decode(k), form_decode(v))
                    })
                    .collect()
            })
            .unwrap_or_default();
        Req {
            method: parts.method.as_str().to_string(),
            segs,
            query,
            headers: parts.headers,
            body,
            parts: multipart,
        }
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
    pub fn has_header(&self, name: &str) -> bool {
        self.headers.contains_key(name)
    }
    pub fn q(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
    /// `http://host` from the `Host` header, as the server builds absolute URLs.
    pub fn base(&self) -> String {
        format!("http://{}", self.header("host").unwrap_or("localhost"))
    }
    /// The JSON body (`{}` when empty). A body that is not JSON is a 400 in DRF's words.
    pub fn json(&self) -> Result<Value, ApiError> {
        if let Some(parts) = &self.parts {
            // form fields as a flat object
            let mut m = serde_json::Map::new();
            for p in parts.iter().filter(|p| p.filename.is_none()) {
                let s = String::from_utf8_lossy(&p.data).into_owned();
                m.insert(p.name.clone(), Value::String(s));
            }
            return Ok(Value::Object(m));
        }
        if self.body.iter().all(|b| b.is_ascii_whitespace()) {
            return Ok(Value::Object(Default::default()));
        }
        serde_json::from_slice(&self.body).map_err(|e| {
            ApiError::new(
                400,
                serde_json::json!({"detail": format!("JSON parse error - {e}")}),
            )
        })
    }
    pub fn cookie(&self, name: &str) -> Option<String> {
        for v in self.headers.get_all("cookie") {
            let Ok(s) = v.to_str() else { continue };
            for c in s.split(';') {
                if let Some((k, val)) = c.trim().split_once('=') {
                    if k == name {
                        return Some(val.to_string());
                    }
                }
            }
        }
        None
    }
}

fn form_decode(s: &str) -> String {
    let s = s.replace('+', " ");
    percent_encoding::percent_decode_str(&s)
        .decode_utf8_lossy()
        .into_owned()
}

/// A response.
#[derive(Debug)]
pub struct Resp {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Resp {
    pub fn json(status: u16, v: &Value) -> Resp {
        Resp {
            status,
            headers: vec![("Content-Type".into(), "application/vnd.cvat+json".into())],
            body: serde_json::to_vec(v).unwrap_or_default(),
        }
    }
    pub fn empty(status: u16) -> Resp {
        Resp {
            status,
            headers: Vec::new(),
            body: Vec::new(),
        }
    }
    pub fn bytes(status: u16, content_type: &str, body: Vec<u8>) -> Resp {
        Resp {
            status,
            headers: vec![("Content-Type".into(), content_type.into())],
            body,
        }
    }
    pub fn with(mut self, k: &str, v: impl Into<String>) -> Resp {
        self.headers.push((k.to_string(), v.into()));
        self
    }
}

/// An error answer: status plus JSON body (or an HTML body for the few places the server answers HTML).
#[derive(Debug)]
pub struct ApiError {
    pub status: u16,
    pub body: Value,
    pub html: Option<String>,
    pub headers: Vec<(String, String)>,
}

impl ApiError {
    pub fn new(status: u16, body: Value) -> ApiError {
        ApiError {
            status,
            body,
            html: None,
            headers: Vec::new(),
        }
    }
    pub fn detail(status: u16, msg: impl Into<String>) -> ApiError {
        ApiError::new(status, serde_json::json!({ "detail": msg.into() }))
    }
    pub fn bad(msg: impl Into<String>) -> ApiError {
        ApiError::new(400, Value::String(msg.into()))
    }
    pub fn bad_list(msg: impl Into<String>) -> ApiError {
        ApiError::new(400, serde_json::json!([msg.into()]))
    }
    pub fn field(field: &str, msg: impl Into<String>) -> ApiError {
        ApiError::new(400, serde_json::json!({ field: [msg.into()] }))
    }
    pub fn not_found(what: &str) -> ApiError {
        ApiError::detail(404, format!("No {what} matches the given query."))
    }
    pub fn html(status: u16, text: &str) -> ApiError {
        ApiError {
            status,
            body: Value::Null,
            html: Some(text.to_string()),
            headers: Vec::new(),
        }
    }
    pub fn internal(e: impl std::fmt::Display) -> ApiError {
        ApiError::detail(500, format!("internal server error: {e}"))
    }
    pub fn into_resp(self) -> Resp {
        let mut r = match self.html {
            Some(h) => Resp::bytes(self.status, "text/html; charset=utf-8", h.into_bytes()),
            None => Resp::json(self.status, &self.body),
        };
        r.headers.extend(self.headers);
        r
    }
}

impl From<rusqlite::Error> for ApiError {
    fn from(e: rusqlite::Error) -> Self {
        ApiError::internal(format!("database: {e}"))
    }
}

impl From<std::io::Error> for ApiError {
    fn from(e: std::io::Error) -> Self {
        ApiError::internal(format!("storage: {e}"))
    }
}

pub fn to_response(r: Resp) -> axum::response::Response {
    let mut b = axum::response::Response::builder().status(r.status);
    for (k, v) in &r.headers {
        b = b.header(k.as_str(), v.as_str());
    }
    b.body(axum::body::Body::from(r.body)).unwrap_or_else(|_| {
        let mut resp = axum::response::Response::new(axum::body::Body::from(
            "{\"detail\":\"invalid response header\"}",
        ));
        *resp.status_mut() = axum::http::StatusCode::INTERNAL_SERVER_ERROR;
        resp
    })
}

/// Parses a `multipart/form-data` body.
pub async fn parse_multipart(content_type: &str, body: Bytes) -> Result<Vec<Part>, String> {
    let boundary = multer::parse_boundary(content_type)
        .map_err(|e| format!("Multipart form parse error - {e}"))?;
    let stream = futures_util::stream::once(async move { Ok::<Bytes, std::io::Error>(body) });
    let mut mp = multer::Multipart::new(stream, boundary);
    let mut parts = Vec::new();
    loop {
        match mp.next_field().await {
            Ok(Some(field)) => {
                let name = field.name().unwrap_or("").to_string();
                let filename = field.file_name().map(str::to_string);
                let data = field
                    .bytes()
                    .await
                    .map_err(|e| format!("Multipart form parse error - {e}"))?;
                parts.push(Part {
                    name,
                    filename,
                    data,
                });
            }
            Ok(None) => break,
            Err(e) => return Err(format!("Multipart form parse error - {e}")),
        }
    }
    Ok(parts)
}
