//! How requests reach the server: base URL, authentication (password login → token + session cookies +
//! CSRF, or a personal access token), organization header, retries with backoff for requests that may be
//! repeated, error mapping, and a `--debug` trace with secrets redacted.

use super::error::{server_message, ClientError};
use reqwest::blocking::{Client as Http, RequestBuilder, Response};
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use reqwest::Method;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use url::Url;

pub type Result<T, E = ClientError> = std::result::Result<T, E>;

/// A sink for the `--debug` HTTP trace. Lines arrive already redacted.
pub type DebugSink = Arc<dyn Fn(&str) + Send + Sync>;

/// Who we are on the server.
#[derive(Clone, Default)]
pub enum Credentials {
    #[default]
    None,
    /// Log in with `POST /api/auth/login`.
    Password { user: String, password: String },
    /// A personal access token (`Authorization: Bearer`, CVAT ≥ 2.25) or a legacy token key (`Token`).
    AccessToken(String),
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Credentials::None => f.write_str("None"),
            Credentials::Password { user, .. } => {
                write!(f, "Password {{ user: {user:?}, password: <redacted> }}")
            }
            Credentials::AccessToken(_) => f.write_str("AccessToken(<redacted>)"),
        }
    }
}

/// Everything needed to reach a server.
#[derive(Clone)]
pub struct ClientConfig {
    pub base: Url,
    pub credentials: Credentials,
    /// Skip TLS certificate verification (`--insecure`).
    pub insecure: bool,
    /// An extra trusted root certificate (PEM).
    pub ca_cert: Option<PathBuf>,
    /// Organization slug sent as `X-Organization`.
    pub org: Option<String>,
    /// Per-request timeout; `None` = no timeout.
    pub timeout: Option<Duration>,
    /// How many times a repeatable request is retried after a transient failure.
    pub retries: u32,
    /// First backoff delay; doubled on each retry.
    pub backoff: Duration,
    pub debug: Option<DebugSink>,
}

impl ClientConfig {
    pub fn new(base: Url) -> Self {
        ClientConfig {
            base,
            credentials: Credentials::None,
            insecure: false,
            ca_cert: None,
            org: None,
            timeout: None,
            retries: 5,
            backoff: Duration::from_millis(200),
            debug: None,
        }
    }
}

/// Builds the server URL from the original CLI's options: `--server-host` (a host name, or a URL with a
/// scheme such as `https://app.cvat.ai`), `--server-port` (default 8080 without a scheme, the scheme's port
/// with one) and `--https`.
pub fn server_url(host: &str, port: Option<u16>, https: bool) -> Result<Url> {
    let bad = |m: String| {
        ClientError::usage(
            m,
            Some("use --server-host HOST [--server-port PORT] or --server-host https://HOST"),
        )
    };
    if host.contains("://") {
        let mut url =
            Url::parse(host).map_err(|e| bad(format!("invalid server URL {host:?}: {e}")))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(bad(format!("unsupported scheme in {host:?}")));
        }
        if https && url.scheme() == "http" {
            url.set_scheme("https")
                .map_err(|_| bad(format!("cannot use https with {host:?}")))?;
        }
        if let Some(p) = port {
            url.set_port(Some(p))
                .map_err(|_| bad(format!("cannot set a port on {host:?}")))?;
        }
        url.set_path("/");
        url.set_query(None);
        return Ok(url);
    }
    let scheme = if https { "https" } else { "http" };
    let port = port.unwrap_or(8080);
    let host = if host.contains(':') && !host.starts_with('[') {
        format!("[{host}]")
    } else {
        host.to_string()
    };
    Url::parse(&format!("{scheme}://{host}:{port}/"))
        .map_err(|e| bad(format!("invalid server host {host:?}: {e}")))
}

#[derive(Default)]
struct AuthState {
    /// `Authorization` header value.
    authorization: Option<String>,
    /// Cookies set by the server (name, value).
    cookies: Vec<(String, String)>,
    csrf: Option<String>,
}

/// A CVAT server connection.
pub struct Client {
    http: Http,
    cfg: ClientConfig,
    auth: Mutex<AuthState>,
    version: Mutex<Option<String>>,
}

/// A request body that can be rebuilt for a retry.
pub enum Body {
    None,
    Json(serde_json::Value),
    Bytes(Vec<u8>),
}

/// Headers whose values never reach a log.
const SECRET_HEADERS: &[&str] = &[
    "authorization",
    "cookie",
    "set-cookie",
    "x-csrftoken",
    "proxy-authorization",
];

fn redact_json(v: &serde_json::Value) -> serde_json::Value {
    use serde_json::Value;
    match v {
        Value::Object(o) => Value::Object(
            o.iter()
                .map(|(k, x)| {
                    let lower = k.to_ascii_lowercase();
                    let secret = [
                        "password",
                        "password1",
                        "password2",
                        "key",
                        "token",
                        "secret",
                        "access_token",
                    ]
                    .contains(&lower.as_str());
                    (
                        k.clone(),
                        if secret {
                            Value::String("<redacted>".into())
                        } else {
                            redact_json(x)
                        },
                    )
                })
                .collect(),
        ),
        Value::Array(a) => Value::Array(a.iter().map(redact_json).collect()),
        other => other.clone(),
    }
}

/// Removes credentials from a URL for printing.
pub fn redact_url(url: &Url) -> String {
    let mut u = url.clone();
    if !u.username().is_empty() {
        let _ = u.set_username("<redacted>");
    }
    if u.password().is_some() {
        let _ = u.set_password(Some("<redacted>"));
    }
    let pairs: Vec<(String, String)> = u
        .query_pairs()
        .map(|(k, v)| {
            let secret = ["token", "key", "password", "sig", "signature"]
                .contains(&k.to_ascii_lowercase().as_str());
            (
                k.into_owned(),
                if secret {
                    "<redacted>".to_string()
                } else {
                    v.into_owned()
                },
            )
        })
        .collect();
    if !pairs.is_empty() {
        u.query_pairs_mut().clear().extend_pairs(pairs);
    }
    u.to_string()
}

impl Client {
    pub fn new(cfg: ClientConfig) -> Result<Client> {
        let mut b = Http::builder()
            .user_agent(concat!("cvat-cli-rs/", env!("CARGO_PKG_VERSION")))
            .danger_accept_invalid_certs(cfg.insecure)
            .timeout(cfg.timeout)
            .connect_timeout(Duration::from_secs(30))
            .pool_max_idle_per_host(16);
        if let Some(path) = &cfg.ca_cert {
            let pem =
                std::fs::read(path).map_err(|e| ClientError::io(path.display().to_string(), e))?;
            let cert = reqwest::Certificate::from_pem(&pem).map_err(|e| {
                ClientError::usage(
                    format!("{}: not a PEM certificate: {e}", path.display()),
                    None,
                )
            })?;
            b = b.add_root_certificate(cert);
        }
        let http = b
            .build()
            .map_err(|e| ClientError::Other(format!("cannot set up HTTP: {e}")))?;
        let auth = match &cfg.credentials {
            Credentials::AccessToken(t) => AuthState {
                authorization: Some(format!("Bearer {t}")),
                ..Default::default()
            },
            _ => AuthState::default(),
        };
        Ok(Client {
            http,
            cfg,
            auth: Mutex::new(auth),
            version: Mutex::new(None),
        })
    }

    pub fn base(&self) -> &Url {
        &self.cfg.base
    }

    fn debug(&self, line: impl FnOnce() -> String) {
        if let Some(d) = &self.cfg.debug {
            d(&line());
        }
    }

    /// The absolute URL for an API path (`/api/tasks`) or an absolute URL from the server.
    pub fn url(&self, path: &str) -> Result<Url> {
        if path.starts_with("http://") || path.starts_with("https://") {
            // The server builds absolute URLs from the Host we sent; keep our scheme/host/port so that
            // proxies and port mappings keep working.
            let u = Url::parse(path).map_err(|e| ClientError::Protocol {
                path: path.into(),
                message: format!("bad URL: {e}"),
            })?;
            let mut ours = self.cfg.base.clone();
            ours.set_path(u.path());
            ours.set_query(u.query());
            return Ok(ours);
        }
        let base_path = self.cfg.base.path().trim_end_matches('/');
        let mut u = self.cfg.base.clone();
        let (p, q) = match path.split_once('?') {
            Some((p, q)) => (p, Some(q)),
            None => (path, None),
        };
        u.set_path(&format!("{base_path}{p}"));
        u.set_query(q);
        Ok(u)
    }

    /// The origin (`scheme://host:port`) — TUS creation must carry it in `Origin`.
    pub fn origin(&self) -> String {
        self.cfg.base.origin().ascii_serialization()
    }

    fn decorate(&self, method: &Method, rb: RequestBuilder) -> RequestBuilder {
        let auth = self.auth.lock().unwrap_or_else(|e| e.into_inner());
        let mut rb = rb;
        if let Some(a) = &auth.authorization {
            rb = rb.header("Authorization", a);
        }
        if !auth.cookies.is_empty() {
            let c = auth
                .cookies
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join("; ");
            rb = rb.header("Cookie", c);
        }
        if !matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS) {
            if let Some(t) = &auth.csrf {
                rb = rb.header("X-CSRFToken", t);
            }
        }
        if let Some(org) = &self.cfg.org {
            rb = rb.header("X-Organization", org);
        }
        rb
    }

    fn trace_request(&self, method: &Method, url: &Url, headers: &[(String, String)], body: &Body) {
        self.debug(|| {
            let mut s = format!("> {method} {}", redact_url(url));
            for (k, v) in headers {
                let v = if SECRET_HEADERS.contains(&k.to_ascii_lowercase().as_str()) {
                    "<redacted>"
                } else {
                    v
                };
                s.push_str(&format!("\n> {k}: {v}"));
            }
            let (auth, cookies, csrf) = self
                .auth
                .lock()
                .map(|a| {
                    (
                        a.authorization.is_some(),
                        !a.cookies.is_empty(),
                        a.csrf.is_some(),
                    )
                })
                .unwrap_or((false, false, false));
            if auth {
                s.push_str("\n> Authorization: <redacted>");
            }
            if cookies {
                s.push_str("\n> Cookie: <redacted>");
            }
            if csrf && !matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS) {
                s.push_str("\n> X-CSRFToken: <redacted>");
            }
            if let Some(org) = &self.cfg.org {
                s.push_str(&format!("\n> X-Organization: {org}"));
            }
            match body {
                Body::Json(v) => s.push_str(&format!("\n> {}", redact_json(v))),
                Body::Bytes(b) => s.push_str(&format!("\n> ({} bytes)", b.len())),
                Body::None => {}
            }
            s
        });
    }

    fn trace_response(&self, resp: &Response) {
        self.debug(|| {
            let mut s = format!(
                "< {} {}",
                resp.status().as_u16(),
                resp.status().canonical_reason().unwrap_or("")
            );
            for (k, v) in resp.headers() {
                let name = k.as_str();
                let v = if SECRET_HEADERS.contains(&name) {
                    "<redacted>"
                } else {
                    v.to_str().unwrap_or("<binary>")
                };
                s.push_str(&format!("\n< {name}: {v}"));
            }
            s
        });
    }

    /// Sends one request; retries transient failures (connection errors, 429/502/503/504) with backoff.
    pub fn send(
        &self,
        method: Method,
        path: &str,
        headers: &[(String, String)],
        body: Body,
    ) -> Result<Response> {
        let url = self.url(path)?;
        let mut attempt = 0u32;
        loop {
            self.trace_request(&method, &url, headers, &body);
            let mut rb = self.decorate(&method, self.http.request(method.clone(), url.clone()));
            for (k, v) in headers {
                rb = rb.header(k.as_str(), v.as_str());
            }
            rb = match &body {
                Body::None => rb,
                Body::Json(v) => rb.json(v),
                Body::Bytes(b) => rb.body(b.clone()),
            };
            match rb.send() {
                Ok(resp) => {
                    self.trace_response(&resp);
                    let status = resp.status().as_u16();
                    if matches!(status, 429 | 502 | 503 | 504) && attempt < self.cfg.retries {
                        attempt += 1;
                        self.sleep_backoff(attempt, &resp);
                        continue;
                    }
                    return Ok(resp);
                }
                Err(e) => {
                    // A connection that failed before an answer is retried for every method: the unsafe
                    // calls made here (upload steps, exports, imports) are safe to repeat; task creation
                    // uses `send_once` and checks for a duplicate itself.
                    let retry = attempt < self.cfg.retries;
                    self.debug(|| {
                        format!(
                            "! {method} {}: {e}{}",
                            redact_url(&url),
                            if retry { " (retrying)" } else { "" }
                        )
                    });
                    if retry {
                        attempt += 1;
                        std::thread::sleep(
                            self.cfg.backoff * 2u32.saturating_pow(attempt - 1).min(32),
                        );
                        continue;
                    }
                    return Err(transport_error(&method, &url, e));
                }
            }
        }
    }

    /// Sends one request without retrying transport failures (for calls that must not be repeated
    /// blindly). Error statuses are returned as responses.
    pub fn send_once(&self, method: Method, path: &str, body: Body) -> Result<Response> {
        let url = self.url(path)?;
        self.trace_request(&method, &url, &[], &body);
        let mut rb = self.decorate(&method, self.http.request(method.clone(), url.clone()));
        rb = match &body {
            Body::None => rb,
            Body::Json(v) => rb.json(v),
            Body::Bytes(b) => rb.body(b.clone()),
        };
        match rb.send() {
            Ok(resp) => {
                self.trace_response(&resp);
                Ok(resp)
            }
            Err(e) => Err(transport_error(&method, &url, e)),
        }
    }

    fn sleep_backoff(&self, attempt: u32, resp: &Response) {
        let retry_after = resp
            .headers()
            .get("Retry-After")
            .and_then(|v| v.to_str().ok())
            .and_then(|s| s.parse::<u64>().ok())
            .map(|s| Duration::from_secs(s.min(30)));
        let d = retry_after.unwrap_or(self.cfg.backoff * 2u32.saturating_pow(attempt - 1).min(32));
        std::thread::sleep(d);
    }

    /// Sends a request and turns an error status into [`ClientError::Http`] with the server's message.
    pub fn call(
        &self,
        method: Method,
        path: &str,
        headers: &[(String, String)],
        body: Body,
    ) -> Result<Response> {
        let resp = self.send(method.clone(), path, headers, body)?;
        check(method, path, resp)
    }

    pub fn get_json<T: serde::de::DeserializeOwned>(&self, path: &str) -> Result<T> {
        let resp = self.call(Method::GET, path, &[], Body::None)?;
        read_json(path, resp)
    }

    pub fn post_json<T: serde::de::DeserializeOwned>(
        &self,
        path: &str,
        body: serde_json::Value,
    ) -> Result<T> {
        let resp = self.call(Method::POST, path, &[], Body::Json(body))?;
        read_json(path, resp)
    }

    /// The server's version from `/api/server/about` (read once).
    pub fn server_version(&self) -> Result<String> {
        if let Some(v) = self
            .version
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
        {
            return Ok(v);
        }
        let about: serde_json::Value = self.get_json("/api/server/about")?;
        let v = about
            .get("version")
            .and_then(|v| v.as_str())
            .unwrap_or("")
            .to_string();
        *self.version.lock().unwrap_or_else(|e| e.into_inner()) = Some(v.clone());
        Ok(v)
    }

    /// `(major, minor)` of the server, `(0, 0)` when unknown.
    pub fn server_version_tuple(&self) -> (u32, u32) {
        let v = self.server_version().unwrap_or_default();
        let mut it = v
            .split(|c: char| !c.is_ascii_digit())
            .filter(|s| !s.is_empty());
        let major = it.next().and_then(|s| s.parse().ok()).unwrap_or(0);
        let minor = it.next().and_then(|s| s.parse().ok()).unwrap_or(0);
        (major, minor)
    }

    /// Authenticates as the configuration says: reads the server version, then logs in with the
    /// password (token + cookies + CSRF), or checks the access token.
    pub fn login(&self) -> Result<()> {
        self.server_version()?;
        match &self.cfg.credentials {
            Credentials::None => Ok(()),
            Credentials::AccessToken(_) => {
                let resp = self.send(Method::GET, "/api/users/self", &[], Body::None)?;
                if resp.status().as_u16() == 401 {
                    // CVAT 2.23 and older know only "Token <key>": try that before giving up.
                    let mut auth = self.auth.lock().unwrap_or_else(|e| e.into_inner());
                    if let Some(a) = auth.authorization.take() {
                        auth.authorization = Some(a.replacen("Bearer ", "Token ", 1));
                    }
                    drop(auth);
                    let resp = self.send(Method::GET, "/api/users/self", &[], Body::None)?;
                    check(Method::GET, "/api/users/self", resp).map_err(|e| match e {
                        ClientError::Http { status: 401, message, .. } => ClientError::Usage {
                            message: format!("the access token was refused: {message}"),
                            hint: Some("check CVAT_ACCESS_TOKEN; create a token in the server's user settings".into()),
                        },
                        other => other,
                    })?;
                    return Ok(());
                }
                check(Method::GET, "/api/users/self", resp)?;
                Ok(())
            }
            Credentials::Password { user, password } => {
                let body = serde_json::json!({"username": user, "password": password});
                let resp = self.send(Method::POST, "/api/auth/login", &[], Body::Json(body))?;
                let status = resp.status().as_u16();
                if status == 400 || status == 401 {
                    let msg = server_message(&resp.bytes().unwrap_or_default());
                    return Err(ClientError::Usage {
                        message: format!("login as {user:?} failed: {msg}"),
                        hint: Some(
                            "check --auth USER[:PASS] (or the PASS environment variable)".into(),
                        ),
                    });
                }
                let mut cookies = Vec::new();
                for v in resp.headers().get_all("set-cookie") {
                    if let Ok(s) = v.to_str() {
                        if let Some((kv, _)) = s.split_once(';').or(Some((s, ""))) {
                            if let Some((k, v)) = kv.split_once('=') {
                                cookies.push((k.trim().to_string(), v.trim().to_string()));
                            }
                        }
                    }
                }
                let resp = check(Method::POST, "/api/auth/login", resp)?;
                let v: serde_json::Value = read_json("/api/auth/login", resp)?;
                let key = v.get("key").and_then(|k| k.as_str()).map(str::to_string);
                let mut auth = self.auth.lock().unwrap_or_else(|e| e.into_inner());
                auth.csrf = cookies
                    .iter()
                    .find(|(k, _)| k == "csrftoken")
                    .map(|(_, v)| v.clone());
                auth.cookies = cookies;
                auth.authorization = key.map(|k| format!("Token {k}"));
                Ok(())
            }
        }
    }

    /// Ends the session on the server (best effort).
    pub fn logout(&self) {
        if matches!(self.cfg.credentials, Credentials::Password { .. }) {
            let _ = self.send(Method::POST, "/api/auth/logout", &[], Body::None);
        }
    }

    pub fn http(&self) -> &Http {
        &self.http
    }

    /// A request builder for uploads whose bodies cannot be rebuilt (streams, multipart forms): carries
    /// the authentication headers. The caller handles retries.
    pub fn raw(&self, method: Method, url: &Url, headers: &[(String, String)]) -> RequestBuilder {
        self.trace_request(&method, url, headers, &Body::None);
        let mut rb = self.decorate(&method, self.http.request(method.clone(), url.clone()));
        for (k, v) in headers {
            rb = rb.header(k.as_str(), v.as_str());
        }
        rb
    }

    /// Sends a prepared raw request, tracing the answer.
    pub fn send_raw(&self, method: &Method, url: &Url, rb: RequestBuilder) -> Result<Response> {
        match rb.send() {
            Ok(resp) => {
                self.trace_response(&resp);
                Ok(resp)
            }
            Err(e) => Err(transport_error(method, url, e)),
        }
    }

    pub fn retries(&self) -> u32 {
        self.cfg.retries
    }
    pub fn backoff(&self) -> Duration {
        self.cfg.backoff
    }
}

fn transport_error(method: &Method, url: &Url, e: reqwest::Error) -> ClientError {
    let hint = if e.is_connect() {
        Some("is the server running and reachable? check --server-host/--server-port (start a local one with `cvat-cli serve`)".to_string())
    } else if e.is_timeout() {
        Some("the server is slow to answer; raise --timeout".to_string())
    } else if format!("{e:?}").contains("certificate") {
        Some("TLS verification failed; use --ca-cert FILE for a private CA, or --insecure to skip verification".to_string())
    } else {
        None
    };
    let mut message = e.to_string();
    let mut src = std::error::Error::source(&e);
    while let Some(s) = src {
        message.push_str(&format!(": {s}"));
        src = s.source();
    }
    ClientError::Transport {
        method: method.to_string(),
        url: redact_url(url),
        message,
        hint,
    }
}

/// Maps an error status to [`ClientError::Http`].
pub fn check(method: Method, path: &str, resp: Response) -> Result<Response> {
    let status = resp.status().as_u16();
    if status < 400 {
        return Ok(resp);
    }
    let body = resp.bytes().unwrap_or_default();
    let message = server_message(&body);
    let hint = match status {
        401 => Some("authentication failed: check --auth or CVAT_ACCESS_TOKEN".to_string()),
        403 => Some("you are not allowed to do this; check --org and your role".to_string()),
        413 => Some("the server refused the size of the request".to_string()),
        _ => None,
    };
    let path = path.split('?').next().unwrap_or(path).to_string();
    Err(ClientError::Http {
        method: method.to_string(),
        path,
        status,
        message: if message.is_empty() {
            "(no message)".into()
        } else {
            message
        },
        hint,
    })
}

pub fn read_json<T: serde::de::DeserializeOwned>(path: &str, resp: Response) -> Result<T> {
    let bytes = resp.bytes().map_err(|e| ClientError::Protocol {
        path: path.into(),
        message: e.to_string(),
    })?;
    serde_json::from_slice(&bytes).map_err(|e| ClientError::Protocol {
        path: path.into(),
        message: format!("invalid JSON: {e}"),
    })
}

/// Header helpers.
pub fn header(resp: &Response, name: &str) -> Option<String> {
    resp.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

#[allow(dead_code)]
fn header_map(pairs: &[(&str, &str)]) -> HeaderMap {
    let mut m = HeaderMap::new();
    for (k, v) in pairs {
        if let (Ok(k), Ok(v)) = (HeaderName::try_from(*k), HeaderValue::try_from(*v)) {
            m.insert(k, v);
        }
    }
    m
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_urls_like_the_original_cli() {
        assert_eq!(
            server_url("localhost", None, false).unwrap().as_str(),
            "http://localhost:8080/"
        );
        assert_eq!(
            server_url("localhost", Some(8081), true).unwrap().as_str(),
            "https://localhost:8081/"
        );
        assert_eq!(
            server_url("https://app.cvat.ai", None, false)
                .unwrap()
                .as_str(),
            "https://app.cvat.ai/"
        );
        assert_eq!(
            server_url("http://h:9000/x", None, false).unwrap().as_str(),
            "http://h:9000/"
        );
        assert!(server_url("ftp://h", None, false).is_err());
    }

    #[test]
    fn secrets_are_redacted() {
        let v = serde_json::json!({"username": "u", "password": "p", "nested": {"key": "k"}});
        let r = redact_json(&v).to_string();
        assert!(!r.contains("\"p\"") && !r.contains("\"k\""), "{r}");
        assert!(r.contains("\"u\""));
        let u = Url::parse("http://user:pw@h/api?token=abc&x=1").unwrap();
        let s = redact_url(&u);
        assert!(
            !s.contains("pw") && !s.contains("abc") && s.contains("x=1"),
            "{s}"
        );
    }
}
