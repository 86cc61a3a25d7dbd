//! A small element tree over quick-xml that remembers where each element starts, so that problems
//! can be reported as `file:line:column`.

use quick_xml::events::Event;
use quick_xml::Reader;

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Elem {
    pub name: String,
    /// Text directly inside the element (entity references resolved), `None` when there is none
    /// (`<a/>` or `<a></a>`).
    pub text: Option<String>,
    pub children: Vec<Elem>,
    /// Byte offset of the `<` that opens the element.
    pub offset: usize,
}

impl Elem {
    pub fn child(&self, name: &str) -> Option<&Elem> {
        self.children.iter().find(|c| c.name == name)
    }
    pub fn children_named<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Elem> + 'a {
        self.children.iter().filter(move |c| c.name == name)
    }
    /// Trimmed text of child `name`.
    pub fn child_text(&self, name: &str) -> Option<&str> {
        self.child(name)
            .map(|c| c.text.as_deref().unwrap_or("").trim())
    }
}

/// A syntax error at a byte offset.
#[derive(Debug, Clone, PartialEq)]
pub struct XmlError {
    pub offset: usize,
    pub message: String,
}

/// Parses a whole document and returns its root element.
pub fn parse(text: &str) -> Result<Elem, XmlError> {
    let mut reader = Reader::from_str(text);
    reader.config_mut().check_end_names = true;
    let mut stack: Vec<Elem> = Vec::new();
    let mut root: Option<Elem> = None;
    loop {
        let before = reader.buffer_position() as usize;
        let ev = reader.read_event().map_err(|e| XmlError {
            offset: reader.error_position() as usize,
            message: e.to_string(),
        })?;
        let err = |message: String| XmlError {
            offset: before,
            message,
        };
        match ev {
            Event::Start(_) | Event::Empty(_) if root.is_some() && stack.is_empty() => {
                return Err(err("content after the root element".into()));
            }
            Event::Start(e) => {
                let name = String::from_utf8_lossy(e.name().as_ref()).into_owned();
                stack.push(Elem {
                    name,
                    offset: before,
                    ..Default::default()
                });
            }
            Event::Empty(e) => {
                let el = Elem {
                    name: String::from_utf8_lossy(e.name().as_ref()).into_owned(),
                    offset: before,
                    ..Default::default()
                };
                match stack.last_mut() {
                    Some(parent) => parent.children.push(el),
                    None => root = Some(el),
                }
            }
            Event::End(_) => {
                let Some(el) = stack.pop() else {
                    return Err(err("closing tag without an opening tag".into()));
                };
                match stack.last_mut() {
                    Some(parent) => parent.children.push(el),
                    None => root = Some(el),
                }
            }
            Event::Text(t) => {
                let s = t.decode().map_err(|e| err(e.to_string()))?;
                push_text(&mut stack, &s, root.is_some(), before)?;
            }
            Event::CData(t) => {
                let s = t.decode().map_err(|e| err(e.to_string()))?;
                push_text(&mut stack, &s, root.is_some(), before)?;
            }
            Event::GeneralRef(r) => {
                let s = if let Some(c) = r.resolve_char_ref().map_err(|e| err(e.to_string()))? {
                    c.to_string()
                } else {
                    let name = r.decode().map_err(|e| err(e.to_string()))?;
                    match name.as_ref() {
                        "amp" => "&".to_string(),
                        "lt" => "<".to_string(),
                        "gt" => ">".to_string(),
                        "quot" => "\"".to_string(),
                        "apos" => "'".to_string(),
                        other => return Err(err(format!("unknown entity &{other};"))),
                    }
                };
                push_text(&mut stack, &s, root.is_some(), before)?;
            }
            Event::Eof => break,
            _ => {}
        }
    }
    if let Some(open) = stack.last() {
        return Err(XmlError {
            offset: text.len(),
            message: format!("document ends inside <{}>", open.name),
        });
    }
    root.ok_or(XmlError {
        offset: 0,
        message: "no root element".into(),
    })
}

fn push_text(stack: &mut [Elem], s: &str, after_root: bool, at: usize) -> Result<(), XmlError> {
    match stack.last_mut() {
        Some(el) => {
            el.text.get_or_insert_with(String::new).push_str(s);
            Ok(())
        }
        None if s.trim().is_empty() => Ok(()),
        None => Err(XmlError {
            offset: at,
            message: if after_root {
                "text after the root element".into()
            } else {
                "text before the root element".into()
            },
        }),
    }
}

/// Escapes text for element content.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            _ => out.push(c),
        }
    }
    out
}

/// Builds pretty-printed XML the way lxml's `pretty_print` lays it out (two spaces per level).
#[derive(Default)]
pub struct XmlWriter {
    pub out: String,
    depth: usize,
}

impl XmlWriter {
    fn indent(&mut self) {
        for _ in 0..self.depth {
            self.out.push_str("  ");
        }
    }
    pub fn open(&mut self, name: &str) {
        self.indent();
        self.out.push_str(&format!("<{name}>\n"));
        self.depth += 1;
    }
    pub fn close(&mut self, name: &str) {
        self.depth = self.depth.saturating_sub(1);
        self.indent();
        self.out.push_str(&format!("</{name}>\n"));
    }
    pub fn leaf(&mut self, name: &str, text: &str) {
        self.indent();
        self.out
            .push_str(&format!("<{name}>{}</{name}>\n", escape(text)));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_with_offsets_and_entities() {
        let doc = "<?xml version=\"1.0\"?>\n<a>\n  <b>x &amp; y&#33;</b>\n  <c/>\n</a>\n";
        let root = parse(doc).unwrap();
        assert_eq!(root.name, "a");
        assert_eq!(root.child_text("b"), Some("x & y!"));
        assert_eq!(root.child_text("c"), Some(""));
        let b = root.child("b").unwrap();
        assert_eq!(&doc[b.offset..b.offset + 3], "<b>");
    }

    #[test]
    fn errors_have_offsets() {
        for bad in ["<a><b></a>", "<a>", "", "<a></a><b/>", "<a>&nope;</a>"] {
            assert!(parse(bad).is_err(), "{bad:?}");
        }
    }
}
