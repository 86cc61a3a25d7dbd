//! `labelmap.txt` (`# label:color_rgb:parts:actions`) and the default PASCAL VOC colour map.

use cvat_format_api::{Diagnostic, Location};

pub type Rgb = (u8, u8, u8);

/// One line of a label map.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LabelDesc {
    pub name: String,
    pub color: Option<Rgb>,
    pub parts: Vec<String>,
    pub actions: Vec<String>,
    /// 1-based line in `labelmap.txt` (0 when not read from a file).
    pub line: u32,
}

impl LabelDesc {
    pub fn new(name: &str, color: Option<Rgb>) -> Self {
        LabelDesc {
            name: name.to_string(),
            color,
            parts: Vec::new(),
            actions: Vec::new(),
            line: 0,
        }
    }
}

/// An ordered label map. The position of a label is its class index in `SegmentationClass` masks.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LabelMap {
    pub labels: Vec<LabelDesc>,
}

pub const BACKGROUND: &str = "background";

/// Colour `index` of the PASCAL VOC colour map (bit-interleaved: 1 → 128,0,0; 2 → 0,128,0 ...). The
/// same map colours instance ids in `SegmentationObject`.
pub fn voc_color(index: usize) -> Rgb {
    let (mut r, mut g, mut b) = (0u8, 0u8, 0u8);
    let mut c = index;
    let mut j = 7i32;
    while c > 0 && j >= 0 {
        r |= ((c & 1) as u8) << j;
        g |= (((c >> 1) & 1) as u8) << j;
        b |= (((c >> 2) & 1) as u8) << j;
        c >>= 3;
        j -= 1;
    }
    (r, g, b)
}

/// The inverse of [`voc_color`] for the first 256 indices.
pub fn voc_index(color: Rgb) -> Option<usize> {
    (0..256).find(|&i| voc_color(i) == color)
}

const VOC_LABELS: [&str; 21] = [
    "background",
    "aeroplane",
    "bicycle",
    "bird",
    "boat",
    "bottle",
    "bus",
    "car",
    "cat",
    "chair",
    "cow",
    "diningtable",
    "dog",
    "horse",
    "motorbike",
    "person",
    "pottedplant",
    "sheep",
    "sofa",
    "train",
    "tvmonitor",
];

const VOC_ACTIONS: [&str; 11] = [
    "jumping",
    "phoning",
    "playinginstrument",
    "reading",
    "ridingbike",
    "ridinghorse",
    "running",
    "takingphoto",
    "usingcomputer",
    "walking",
    "other",
];

impl LabelMap {
    /// The PASCAL VOC 2012 label map (what datumaro assumes when `labelmap.txt` is absent): 20 classes
    /// plus `background` and `ignored` (255), person parts `head`, `hand`, `foot` and the person actions.
    pub fn voc_default() -> LabelMap {
        let mut labels: Vec<LabelDesc> = VOC_LABELS
            .iter()
            .enumerate()
            .map(|(i, n)| LabelDesc::new(n, Some(voc_color(i))))
            .collect();
        labels.push(LabelDesc::new("ignored", Some(voc_color(255))));
        if let Some(p) = labels.iter_mut().find(|l| l.name == "person") {
            p.parts = ["head", "hand", "foot"].map(String::from).to_vec();
            p.actions = VOC_ACTIONS.map(String::from).to_vec();
        }
        LabelMap { labels }
    }

    /// Parses `labelmap.txt`. Problems are pushed to `diags` (located by line and column); bad lines
    /// are skipped.
    pub fn parse(text: &str, file: &str, diags: &mut Vec<Diagnostic>) -> LabelMap {
        let mut map = LabelMap::default();
        for (i, raw) in text.lines().enumerate() {
            let line_no = i as u32 + 1;
            let line = raw.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let fields: Vec<&str> = line.split(':').collect();
            if fields.len() > 4 {
                diags.push(
                    Diagnostic::error(
                        Location::line(file, line_no, 1),
                        "labelmap-syntax",
                        format!(
                            "expected at most 4 ':'-separated fields, found {}",
                            fields.len()
                        ),
                    )
                    .with_hint("lines look like `name:r,g,b:part1,part2:action1,action2`"),
                );
                continue;
            }
            let name = fields[0].trim();
            if name.is_empty() {
                diags.push(Diagnostic::error(
                    Location::line(file, line_no, 1),
                    "labelmap-syntax",
                    "label name is empty",
                ));
                continue;
            }
            let color_text = fields.get(1).map(|s| s.trim()).unwrap_or("");
            let color = if color_text.is_empty() {
                None
            } else {
                let parts: Vec<Option<u8>> = color_text
                    .split(',')
                    .map(|c| c.trim().parse::<u8>().ok())
                    .collect();
                match parts.as_slice() {
                    [Some(r), Some(g), Some(b)] => Some((*r, *g, *b)),
                    _ => {
                        let col = raw.find(color_text).map(|c| c as u32 + 1).unwrap_or(1);
                        diags.push(
                            Diagnostic::error(
                                Location::line(file, line_no, col),
                                "labelmap-color",
                                format!("colour {color_text:?} of label {name:?} is not r,g,b"),
                            )
                            .with_hint("write three integers 0..255, e.g. 128,0,0"),
                        );
                        None
                    }
                }
            };
            let list = |i: usize| -> Vec<String> {
                fields
                    .get(i)
                    .map(|s| {
                        s.split(',')
                            .map(|p| p.trim().to_string())
                            .filter(|p| !p.is_empty())
                            .collect()
                    })
                    .unwrap_or_default()
            };
            if map.labels.iter().any(|l| l.name == name) {
                diags.push(Diagnostic::error(
                    Location::line(file, line_no, 1),
                    "duplicate-label",
                    format!("label {name:?} appears more than once"),
                ));
                continue;
            }
            map.labels.push(LabelDesc {
                name: name.to_string(),
                color,
                parts: list(2),
                actions: list(3),
                line: line_no,
            });
        }
        map
    }

    /// The text of `labelmap.txt` as datumaro writes it.
    pub fn to_text(&self) -> String {
        let mut s = String::from("# label:color_rgb:parts:actions\n");
        for l in &self.labels {
            let color = l
                .color
                .map(|(r, g, b)| format!("{r},{g},{b}"))
                .unwrap_or_default();
            s.push_str(&format!(
                "{}:{}:{}:{}\n",
                l.name,
                color,
                l.parts.join(","),
                l.actions.join(",")
            ));
        }
        s
    }

    pub fn index_of(&self, name: &str) -> Option<usize> {
        self.labels.iter().position(|l| l.name == name)
    }

    /// Whether `name` is only a part (of some label) and not a label itself.
    pub fn is_part(&self, name: &str) -> bool {
        self.index_of(name).is_none()
            && self
                .labels
                .iter()
                .any(|l| l.parts.iter().any(|p| p == name))
    }

    pub fn actions_of(&self, name: &str) -> &[String] {
        self.labels
            .iter()
            .find(|l| l.name == name)
            .map(|l| l.actions.as_slice())
            .unwrap_or(&[])
    }

    /// Class colours by index, as datumaro computes them: when no label has a colour, the VOC colour
    /// map by position; otherwise only the colours given.
    pub fn colormap(&self) -> Vec<Option<Rgb>> {
        if self.labels.iter().all(|l| l.color.is_none()) {
            (0..self.labels.len()).map(|i| Some(voc_color(i))).collect()
        } else {
            self.labels.iter().map(|l| l.color).collect()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn voc_colors_follow_the_devkit() {
        assert_eq!(voc_color(0), (0, 0, 0));
        assert_eq!(voc_color(1), (128, 0, 0));
        assert_eq!(voc_color(7), (128, 128, 128));
        assert_eq!(voc_color(8), (64, 0, 0));
        assert_eq!(voc_color(255), (224, 224, 192));
        assert_eq!(voc_index((64, 0, 128)), Some(12));
    }

    #[test]
    fn parse_reports_bad_lines_and_keeps_good_ones() {
        let mut d = Vec::new();
        let m = LabelMap::parse(
            "# label:color_rgb:parts:actions\nbackground:0,0,0::\ncar:1,2::\nperson:0,128,0:head:run,jump\n:1,1,1::\n",
            "labelmap.txt",
            &mut d,
        );
        assert_eq!(m.labels.len(), 3);
        assert_eq!(m.labels[1].color, None);
        assert_eq!(m.labels[2].parts, vec!["head"]);
        assert_eq!(m.labels[2].actions, vec!["run", "jump"]);
        assert_eq!(d.len(), 2);
        assert_eq!(d[0].location.line, Some(3));
        assert_eq!(d[1].location.line, Some(5));
        let back = LabelMap::parse(&m.to_text(), "x", &mut Vec::new());
        assert_eq!(back.labels.len(), 3);
    }
}
