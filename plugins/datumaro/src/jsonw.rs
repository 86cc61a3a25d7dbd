//! A small JSON writer that emits keys in the order given and numbers as Python's `json` does
//! (`50.0`, `1e-05`), so output matches the server's compact `json.dump` byte for byte.

use cvat_format_api::geometry::fmt_py_float;

/// JSON values with ordered objects and an explicit float/int split.
#[derive(Debug, Clone, PartialEq)]
pub enum J {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    Arr(Vec<J>),
    Obj(Vec<(String, J)>),
}

impl J {
    pub fn obj() -> J {
        J::Obj(Vec::new())
    }
    /// Appends `key: value` to an object (no-op on other values).
    pub fn with(mut self, key: &str, value: J) -> J {
        if let J::Obj(v) = &mut self {
            v.push((key.to_string(), value));
        }
        self
    }
    pub fn push(&mut self, key: &str, value: J) {
        if let J::Obj(v) = self {
            v.push((key.to_string(), value));
        }
    }
    pub fn floats(values: impl IntoIterator<Item = f64>) -> J {
        J::Arr(values.into_iter().map(J::Float).collect())
    }
    pub fn str(s: impl Into<String>) -> J {
        J::Str(s.into())
    }

    /// Compact serialisation as datumaro's `dump_json` (orjson) writes it: no spaces, UTF-8 kept as is,
    /// control characters escaped.
    pub fn write(&self, out: &mut String) {
        match self {
            J::Null => out.push_str("null"),
            J::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
            J::Int(i) => out.push_str(&i.to_string()),
            J::Float(f) => {
                let s = fmt_py_float(*f);
                // Python writes NaN/Infinity for non-finite floats
                out.push_str(match s.as_str() {
                    "nan" => "NaN",
                    "inf" => "Infinity",
                    "-inf" => "-Infinity",
                    _ => &s,
                });
            }
            J::Str(s) => write_str(s, out),
            J::Arr(v) => {
                out.push('[');
                for (i, x) in v.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    x.write(out);
                }
                out.push(']');
            }
            J::Obj(v) => {
                out.push('{');
                for (i, (k, x)) in v.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    write_str(k, out);
                    out.push(':');
                    x.write(out);
                }
                out.push('}');
            }
        }
    }
}

fn write_str(s: &str, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{08}' => out.push_str("\\b"),
            '\u{0c}' => out.push_str("\\f"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
}
