//! A fault-injecting HTTP proxy for tests: one request per connection (it asks the server to close after
//! answering), and for each request it may drop the connection without an answer, answer 503 itself, or
//! cut the answer short. Deterministic for a seed; stops when dropped.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

pub struct Proxy {
    pub port: u16,
    stop: Arc<AtomicBool>,
    dropped: Arc<AtomicU64>,
    refused: Arc<AtomicU64>,
}

#[derive(Clone, Copy)]
enum Mode {
    Faults {
        p_drop: f64,
        p_503: f64,
    },
    /// Cut answers to frame requests after this many bytes.
    TruncateFrames(usize),
}

/// xorshift64*: enough randomness for fault injection, reproducible.
struct Rng(u64);
impl Rng {
    fn next_f64(&mut self) -> f64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 11) as f64 / (1u64 << 53) as f64
    }
}

impl Proxy {
    /// Drops `p_drop` of the connections and answers 503 to `p_503` of the requests.
    pub fn start(upstream: u16, p_drop: f64, p_503: f64, seed: u64) -> Proxy {
        Proxy::spawn(upstream, Mode::Faults { p_drop, p_503 }, seed)
    }

    /// Cuts every frame download after `n` bytes of the answer.
    pub fn truncating(upstream: u16, n: usize) -> Proxy {
        Proxy::spawn(upstream, Mode::TruncateFrames(n), 1)
    }

    fn spawn(upstream: u16, mode: Mode, seed: u64) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").expect("proxy bind");
        let port = listener.local_addr().expect("addr").port();
        listener.set_nonblocking(true).expect("nonblocking");
        let stop = Arc::new(AtomicBool::new(false));
        let dropped = Arc::new(AtomicU64::new(0));
        let refused = Arc::new(AtomicU64::new(0));
        let (s, d, r) = (stop.clone(), dropped.clone(), refused.clone());
        std::thread::spawn(move || {
            let mut rng = Rng(seed.max(1).wrapping_mul(0x9E37_79B9_7F4A_7C15));
            while !s.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((client, _)) => {
                        let _ = client.set_nonblocking(false);
                        let roll = rng.next_f64();
                        let (d, r) = (d.clone(), r.clone());
                        std::thread::spawn(move || handle(client, upstream, mode, roll, &d, &r));
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                        std::thread::sleep(Duration::from_millis(5))
                    }
                    Err(_) => break,
                }
            }
        });
        Proxy {
            port,
            stop,
            dropped,
            refused,
        }
    }

    /// (connections dropped, requests answered 503)
    pub fn stats(&self) -> (u64, u64) {
        (
            self.dropped.load(Ordering::Relaxed),
            self.refused.load(Ordering::Relaxed),
        )
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// Reads one request head; returns (head with `Connection: close`, its path, body length).
fn read_head(client: &mut TcpStream) -> Option<(Vec<u8>, String, usize, Vec<u8>)> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    let end = loop {
        if let Some(p) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break p + 4;
        }
        let n = client.read(&mut chunk).ok()?;
        if n == 0 || buf.len() > 1 << 20 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..end]).into_owned();
    let rest = buf[end..].to_vec();
    let mut lines = head.split("\r\n");
    let request_line = lines.next()?.to_string();
    let path = request_line.split(' ').nth(1).unwrap_or("").to_string();
    let mut out = format!("{request_line}\r\n");
    let mut len = 0;
    for l in lines.filter(|l| !l.is_empty()) {
        let lower = l.to_ascii_lowercase();
        if lower.starts_with("connection:") || lower.starts_with("keep-alive:") {
            continue;
        }
        if let Some(v) = lower.strip_prefix("content-length:") {
            len = v.trim().parse().unwrap_or(0);
        }
        out.push_str(l);
        out.push_str("\r\n");
    }
    out.push_str("Connection: close\r\n\r\n");
    Some((out.into_bytes(), path, len, rest))
}

fn handle(
    mut client: TcpStream,
    upstream: u16,
    mode: Mode,
    roll: f64,
    dropped: &AtomicU64,
    refused: &AtomicU64,
) {
    let _ = client.set_read_timeout(Some(Duration::from_secs(30)));
    let Some((head, path, len, mut body)) = read_head(&mut client) else {
        return;
    };
    // the rest of the body
    while body.len() < len {
        let mut chunk = vec![0u8; (len - body.len()).min(1 << 20)];
        match client.read(&mut chunk) {
            Ok(0) | Err(_) => return,
            Ok(n) => body.extend_from_slice(&chunk[..n]),
        }
    }
    let mut limit = usize::MAX;
    match mode {
        Mode::Faults { p_drop, p_503 } => {
            if roll < p_drop {
                dropped.fetch_add(1, Ordering::Relaxed);
                let _ = client.shutdown(Shutdown::Both);
                return;
            }
            if roll < p_drop + p_503 {
                refused.fetch_add(1, Ordering::Relaxed);
                let _ = client.write_all(b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
                return;
            }
        }
        Mode::TruncateFrames(n) => {
            if path.contains("type=frame") {
                limit = n;
            }
        }
    }
    let Ok(mut server) = TcpStream::connect(("127.0.0.1", upstream)) else {
        return;
    };
    if server.write_all(&head).is_err() || server.write_all(&body[..len.min(body.len())]).is_err() {
        return;
    }
    let mut sent = 0usize;
    let mut chunk = [0u8; 65536];
    loop {
        match server.read(&mut chunk) {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                let n = n.min(limit - sent);
                if client.write_all(&chunk[..n]).is_err() {
                    break;
                }
                sent += n;
                if sent >= limit {
                    break;
                }
            }
        }
    }
    let _ = client.shutdown(Shutdown::Both);
}
