//! Small helpers: time stamps, random ids, password hashing.

use rand::RngCore;
use sha2::{Digest, Sha256};

/// Now as the server writes it: `2026-12-03T18:16:12.535931Z`.
pub fn now() -> String {
    fmt_time(chrono::Utc::now())
}

pub fn fmt_time(t: chrono::DateTime<chrono::Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string()
}

/// `now + secs` in the server's format.
pub fn later(secs: i64) -> String {
    fmt_time(chrono::Utc::now() + chrono::Duration::seconds(secs))
}

/// The `YYYY_MM_DD_HH_MM_SS` stamp of export file names, from an ISO time stamp.
pub fn file_stamp(iso: &str) -> String {
    match chrono::DateTime::parse_from_rfc3339(iso) {
        Ok(t) => t.format("%Y_%m_%d_%H_%M_%S").to_string(),
        Err(_) => chrono::Utc::now().format("%Y_%m_%d_%H_%M_%S").to_string(),
    }
}

pub fn random_hex(bytes: usize) -> String {
    let mut b = vec![0u8; bytes];
    rand::thread_rng().fill_bytes(&mut b);
    b.iter().map(|x| format!("{x:02x}")).collect()
}

pub fn random_alnum(n: usize) -> String {
    const CHARS: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let mut b = vec![0u8; n];
    rand::thread_rng().fill_bytes(&mut b);
    b.iter()
        .map(|x| CHARS[(*x as usize) % CHARS.len()] as char)
        .collect()
}

pub fn uuid4() -> String {
    let mut b = [0u8; 16];
    rand::thread_rng().fill_bytes(&mut b);
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

/// Iterated salted SHA-256 (20 000 rounds).
pub fn hash_password(salt: &str, password: &str) -> String {
    let mut h = Sha256::new();
    h.update(salt.as_bytes());
    h.update(password.as_bytes());
    let mut d = h.finalize();
    for _ in 0..20_000 {
        let mut h = Sha256::new();
        h.update(d);
        h.update(salt.as_bytes());
        d = h.finalize();
    }
    d.iter().map(|x| format!("{x:02x}")).collect()
}

/// The last path component of a client-supplied file name (the official CLI sends absolute paths), with
/// no `..` and no empty result.
pub fn base_name(name: &str) -> String {
    let b = name.rsplit(['/', '\\']).next().unwrap_or("").trim();
    if b.is_empty() || b == "." || b == ".." {
        "file".to_string()
    } else {
        b.to_string()
    }
}

/// A relative path from a client (share paths, archive members): `/`-separated, no `..`, no absolute.
pub fn safe_rel(path: &str) -> Option<String> {
    let mut parts = Vec::new();
    for p in path.split(['/', '\\']) {
        match p {
            "" | "." => continue,
            ".." => return None,
            p => parts.push(p),
        }
    }
    if parts.is_empty() {
        None
    } else {
        Some(parts.join("/"))
    }
}

/// `+`-for-space query encoding, as Django builds `result_url`.
pub fn query_encode(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_paths_become_safe_names() {
        assert_eq!(base_name("/home/user/data/img_a.jpg"), "img_a.jpg");
        assert_eq!(base_name("C:\\data\\b.png"), "b.png");
        assert_eq!(base_name("../"), "file");
        assert_eq!(safe_rel("set/./a.jpg"), Some("set/a.jpg".into()));
        assert_eq!(safe_rel("/abs/a.jpg"), Some("abs/a.jpg".into()));
        assert_eq!(safe_rel("set/../../etc/passwd"), None);
        assert_eq!(safe_rel(""), None);
    }

    #[test]
    fn result_url_encoding_is_djangos() {
        assert_eq!(query_encode("COCO 1.0"), "COCO+1.0");
        assert_eq!(query_encode("a&b=c/d"), "a%26b%3Dc%2Fd");
    }

    #[test]
    fn ids_and_stamps_have_the_server_shapes() {
        let u = uuid4();
        let parts: Vec<usize> = u.split('-').map(str::len).collect();
        assert_eq!(parts, vec![8, 4, 4, 4, 12]);
        assert_eq!(u.as_bytes()[14], b'4');
        assert_eq!(random_hex(20).len(), 40);
        assert_eq!(
            file_stamp("2026-12-03T18:16:18.683502Z"),
            "2026_12_03_18_16_18"
        );
        let now = now();
        assert!(now.ends_with('Z') && now.len() == 27, "{now}");
        assert_ne!(hash_password("s1", "pw"), hash_password("s2", "pw"));
        assert_eq!(hash_password("s1", "pw"), hash_password("s1", "pw"));
    }
}
