//! Global options of the server commands, exactly as the original CLI spells them, plus what users of
//! today's servers need; and building a logged-in client from them.

use clap::builder::TypedValueParser;
use cvat_core::client::{server_url, Client, ClientConfig, Credentials};
use std::io::IsTerminal;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

#[derive(clap::Args, Debug, Clone)]
pub struct GlobalArgs {
    /// USER[:PASS]. Defaults to the current OS user; PASS comes from the PASS environment variable or a
    /// prompt. Ignored when CVAT_ACCESS_TOKEN is set and --auth is not given.
    #[arg(long, value_name = "USER[:PASS]", global = true)]
    pub auth: Option<String>,
    /// Server host, or a URL with a scheme such as https://app.cvat.ai.
    #[arg(
        long = "server-host",
        value_name = "SERVER_HOST",
        default_value = "localhost",
        global = true
    )]
    pub server_host: String,
    /// Server port (default 8080; with a URL in --server-host, the scheme's port).
    #[arg(long = "server-port", value_name = "SERVER_PORT", global = true)]
    pub server_port: Option<u16>,
    /// Use HTTPS.
    #[arg(long, global = true)]
    pub https: bool,
    /// Print an HTTP trace to stderr (Authorization, cookies, CSRF tokens and passwords redacted).
    #[arg(long, global = true)]
    pub debug: bool,
    /// Do not verify the server's TLS certificate.
    #[arg(long, global = true)]
    pub insecure: bool,
    /// Trust this PEM CA certificate in addition to the system's.
    #[arg(long = "ca-cert", value_name = "FILE", global = true)]
    pub ca_cert: Option<PathBuf>,
    /// Organization slug (sent as X-Organization).
    #[arg(long, value_name = "SLUG", global = true)]
    pub org: Option<String>,
    /// Seconds to wait for each HTTP request (default: no limit).
    #[arg(long, value_name = "SECONDS", global = true)]
    pub timeout: Option<f64>,
    /// No progress bars and no info messages.
    #[arg(long, short = 'q', global = true)]
    pub quiet: bool,
    /// How many uploads or downloads run at once.
    #[arg(long, short = 'j', value_name = "N", default_value_t = 8, value_parser = clap::value_parser!(u16).range(1..=64).map(usize::from), global = true)]
    pub jobs: usize,
}

fn current_user() -> String {
    std::env::var("USER")
        .or_else(|_| std::env::var("USERNAME"))
        .or_else(|_| std::env::var("LOGNAME"))
        .unwrap_or_else(|_| "admin".to_string())
}

impl GlobalArgs {
    fn credentials(&self) -> anyhow::Result<Credentials> {
        if self.auth.is_none() {
            if let Ok(t) = std::env::var("CVAT_ACCESS_TOKEN") {
                if !t.trim().is_empty() {
                    return Ok(Credentials::AccessToken(t.trim().to_string()));
                }
            }
        }
        let auth = self.auth.clone().unwrap_or_else(current_user);
        let (user, password) = match auth.split_once(':') {
            Some((u, p)) => (u.to_string(), p.to_string()),
            None => {
                let password = match std::env::var("PASS") {
                    Ok(p) => p,
                    Err(_) if std::io::stdin().is_terminal() => {
                        rpassword::prompt_password(format!("Password for {auth}: ")).map_err(
                            |e| super::UserError::usage(format!("cannot read the password: {e}")),
                        )?
                    }
                    Err(_) => {
                        return Err(super::UserError::usage(format!("no password for {auth:?}"))
                            .with_hint("use --auth USER:PASS, set PASS, or set CVAT_ACCESS_TOKEN")
                            .into())
                    }
                };
                (auth, password)
            }
        };
        if user.is_empty() {
            return Err(super::UserError::usage("--auth needs a user name").into());
        }
        Ok(Credentials::Password { user, password })
    }

    /// A client for the configured server, logged in.
    pub fn client(&self) -> anyhow::Result<Client> {
        let base = server_url(&self.server_host, self.server_port, self.https)
            .map_err(super::client_error)?;
        let mut cfg = ClientConfig::new(base);
        cfg.credentials = self.credentials()?;
        cfg.insecure = self.insecure;
        cfg.ca_cert = self.ca_cert.clone();
        cfg.org = self.org.clone();
        cfg.timeout = match self.timeout {
            Some(t) if t > 0.0 && t.is_finite() => Some(Duration::from_secs_f64(t)),
            Some(_) => {
                return Err(super::UserError::usage(
                    "--timeout must be a positive number of seconds",
                )
                .into())
            }
            None => None,
        };
        if self.debug {
            cfg.debug = Some(Arc::new(|line: &str| eprintln!("{line}")));
        }
        let client = Client::new(cfg).map_err(super::client_error)?;
        client.login().map_err(super::client_error)?;
        Ok(client)
    }
}
