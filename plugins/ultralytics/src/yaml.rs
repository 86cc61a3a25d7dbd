//! `data.yaml`: reading with `yaml-rust2` (errors located by line and column) and writing exactly as
//! PyYAML's `yaml.dump` does for the server (keys sorted, block style, PyYAML's quoting rules).

use cvat_format_api::{Diagnostic, Location};
use yaml_rust2::{Yaml, YamlLoader};

/// A scalar as PyYAML's emitter writes it: plain when that reads back as the same string, else
/// single-quoted (double-quoted with escapes when it holds characters PyYAML will not print raw).
pub fn scalar(s: &str) -> String {
    if s.chars()
        .any(|c| !(c == ' ' || c.is_ascii_graphic()) || (c as u32) > 0x7e)
    {
        return double_quoted(s);
    }
    if plain_ok(s) {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', "''"))
    }
}

fn double_quoted(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            '\0' => out.push_str("\\0"),
            c if (' '..='~').contains(&c) => out.push(c),
            c if (c as u32) <= 0xff => out.push_str(&format!("\\x{:02X}", c as u32)),
            c if (c as u32) <= 0xffff => out.push_str(&format!("\\u{:04X}", c as u32)),
            c => out.push_str(&format!("\\U{:08X}", c as u32)),
        }
    }
    out.push('"');
    out
}

/// Whether PyYAML would emit `s` as a plain scalar (and read it back as a string).
fn plain_ok(s: &str) -> bool {
    if s.is_empty() || s.starts_with(' ') || s.ends_with(' ') {
        return false;
    }
    // values the resolver would turn into something else
    const SPECIAL: [&str; 10] = [
        "yes", "no", "true", "false", "on", "off", "null", "~", "---", "...",
    ];
    let lower = s.to_ascii_lowercase();
    let capitalised = {
        let mut c = s.chars();
        c.next().is_some_and(|f| f.is_ascii_uppercase())
            && c.as_str() == lower.get(1..).unwrap_or("")
    };
    if SPECIAL.contains(&lower.as_str())
        && (s == lower || s == s.to_ascii_uppercase() || capitalised)
    {
        return false;
    }
    if looks_numeric(s) {
        return false;
    }
    let first = s.chars().next().unwrap_or(' ');
    if "-?:,[]{}#&*!|>'\"%@`".contains(first) {
        // `-`, `?` and `:` may start a plain scalar when followed by a non-space
        let second = s.chars().nth(1);
        if !("-?:".contains(first) && second.is_some_and(|c| c != ' ')) {
            return false;
        }
    }
    if s.contains(": ") || s.contains(" #") || s.ends_with(':') {
        return false;
    }
    true
}

fn looks_numeric(s: &str) -> bool {
    let t = s.replace('_', "");
    let t = t.strip_prefix(['+', '-']).unwrap_or(&t);
    if t.is_empty() {
        return false;
    }
    if t.chars().all(|c| c.is_ascii_digit()) {
        return true;
    }
    if let Some(h) = t.strip_prefix("0x") {
        return !h.is_empty() && h.chars().all(|c| c.is_ascii_hexdigit());
    }
    if let Some(o) = t.strip_prefix("0o") {
        return !o.is_empty() && o.chars().all(|c| ('0'..='7').contains(&c));
    }
    if [".inf", ".Inf", ".INF", ".nan", ".NaN", ".NAN"].contains(&t) {
        return true;
    }
    // floats: digits with a dot and/or exponent; sexagesimal `1:20`
    if t.contains(':')
        && t.split(':')
            .all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_digit()))
    {
        return true;
    }
    let (mant, exp) = match t.find(['e', 'E']) {
        Some(i) => (&t[..i], Some(&t[i + 1..])),
        None => (t, None),
    };
    let mant_ok = mant.contains('.')
        && mant.chars().filter(|c| *c == '.').count() == 1
        && mant.chars().all(|c| c.is_ascii_digit() || c == '.')
        && mant != ".";
    let exp_ok = exp.is_none_or(|e| {
        let e = e.strip_prefix(['+', '-']).unwrap_or(e);
        !e.is_empty() && e.chars().all(|c| c.is_ascii_digit())
    });
    mant_ok && exp_ok
}

/// `data.yaml` as the server writes it.
pub fn write_data_yaml(names: &[&str], subsets: &[String], kpt_shape: Option<usize>) -> String {
    let mut out = String::new();
    if let Some(k) = kpt_shape {
        out.push_str(&format!("kpt_shape:\n- {k}\n- 3\n"));
    }
    out.push_str("names:\n");
    for (i, n) in names.iter().enumerate() {
        out.push_str(&format!("  {i}: {}\n", scalar(n)));
    }
    out.push_str("path: .\n");
    // subset keys sort with the others: `path` < `test` < `train` < `val`
    let mut subs: Vec<&String> = subsets.iter().collect();
    subs.sort();
    for s in subs {
        out.push_str(&format!("{}: {}\n", scalar(s), scalar(&format!("{s}.txt"))));
    }
    out
}

/// Parsed `data.yaml`.
pub struct DataYaml {
    pub doc: Yaml,
    text: String,
    file: String,
}

impl DataYaml {
    pub fn parse(file: &str, text: &str) -> Result<DataYaml, Box<Diagnostic>> {
        match YamlLoader::load_from_str(text) {
            Ok(mut docs) => {
                let doc = if docs.is_empty() {
                    Yaml::Null
                } else {
                    docs.swap_remove(0)
                };
                if !matches!(doc, Yaml::Hash(_)) {
                    return Err(Box::new(
                        Diagnostic::error(
                            Location::line(file, 1, 1),
                            "syntax",
                            "data.yaml is not a mapping",
                        )
                        .with_hint(
                            "data.yaml maps `names`, `path` and `train` (and `kpt_shape` for pose)",
                        ),
                    ));
                }
                Ok(DataYaml {
                    doc,
                    text: text.to_string(),
                    file: file.to_string(),
                })
            }
            Err(e) => {
                let m = e.marker();
                Err(Box::new(Diagnostic::error(
                    Location::line(file, m.line().max(1) as u32, m.col() as u32 + 1),
                    "syntax",
                    format!("invalid YAML: {}", e.info()),
                )))
            }
        }
    }

    pub fn get(&self, key: &str) -> Option<&Yaml> {
        match &self.doc {
            Yaml::Hash(h) => h.get(&Yaml::String(key.to_string())),
            _ => None,
        }
    }

    /// Top-level keys (strings only), in file order.
    pub fn keys(&self) -> Vec<String> {
        match &self.doc {
            Yaml::Hash(h) => h
                .keys()
                .filter_map(|k| k.as_str().map(str::to_string))
                .collect(),
            _ => Vec::new(),
        }
    }

    /// The location of top-level `key` (the line it starts on), or of the file.
    pub fn loc(&self, key: &str) -> Location {
        for (i, line) in self.text.lines().enumerate() {
            let l = line.trim_end();
            if let Some(rest) = l.strip_prefix(key) {
                if rest.trim_start().starts_with(':') {
                    return Location::line(&self.file, i as u32 + 1, 1);
                }
            }
        }
        Location::file(&self.file)
    }

    pub fn file(&self) -> &str {
        &self.file
    }
}

/// A YAML scalar as a string (`1` and `true` included, as Python's `str()` would give).
pub fn as_string(y: &Yaml) -> Option<String> {
    match y {
        Yaml::String(s) | Yaml::Real(s) => Some(s.clone()),
        Yaml::Integer(i) => Some(i.to_string()),
        Yaml::Boolean(b) => Some(if *b { "True" } else { "False" }.to_string()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting_follows_pyyaml() {
        assert_eq!(scalar("car"), "car");
        assert_eq!(scalar("left_hand"), "left_hand");
        assert_eq!(scalar("two words"), "two words");
        assert_eq!(scalar("yes"), "'yes'");
        assert_eq!(scalar("No"), "'No'");
        assert_eq!(scalar("null"), "'null'");
        assert_eq!(scalar("1"), "'1'");
        assert_eq!(scalar("1.5"), "'1.5'");
        assert_eq!(scalar("a: b"), "'a: b'");
        assert_eq!(scalar("-x"), "-x");
        assert_eq!(scalar("- x"), "'- x'");
        assert_eq!(scalar("#x"), "'#x'");
        assert_eq!(scalar("it's"), "it's");
        assert_eq!(scalar("'q"), "'''q'");
        assert_eq!(scalar(""), "''");
        assert_eq!(scalar("café"), "\"caf\\xE9\"");
    }

    #[test]
    fn written_yaml_reads_back() {
        let text = write_data_yaml(&["car", "yes", "a: b"], &["train".to_string()], Some(3));
        let y = DataYaml::parse("data.yaml", &text).unwrap();
        let names = y.get("names").unwrap();
        assert_eq!(names[0].as_str(), Some("car"));
        assert_eq!(names[1].as_str(), Some("yes"));
        assert_eq!(names[2].as_str(), Some("a: b"));
        assert_eq!(y.get("kpt_shape").unwrap()[0].as_i64(), Some(3));
        assert_eq!(y.loc("train").line, Some(9));
    }

    #[test]
    fn yaml_errors_are_located() {
        let e = DataYaml::parse("data.yaml", "names:\n  0: a\n  - b\n")
            .err()
            .unwrap();
        assert_eq!(e.location.line, Some(3));
    }
}
