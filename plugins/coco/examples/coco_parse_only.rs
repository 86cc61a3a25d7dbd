//! Times the phases of the COCO reader on one file (parse only with a no-op sink, then a full read).

use cvat_format_coco::parse::{parse_file, AnnSink, Interner, RawAnn};
use std::time::Instant;

struct Nop(usize);
impl AnnSink for Nop {
    fn annotation(&mut self, _: usize, _: RawAnn, _: &mut Interner) {
        self.0 += 1;
    }
}

fn main() {
    let path = std::env::args()
        .nth(1)
        .expect("usage: coco_parse_only FILE.json");
    let t = Instant::now();
    let bytes = std::fs::read(&path).expect("readable file");
    eprintln!("read file {:?}", t.elapsed());
    let t = Instant::now();
    let mut sink = Nop(0);
    let mut names = Interner::default();
    let raw = parse_file(&path, &bytes, &mut sink, &mut names).expect("valid JSON");
    eprintln!(
        "parse only {:?} ({} annotations, {} images)",
        t.elapsed(),
        sink.0,
        raw.images.map(|v| v.len()).unwrap_or(0)
    );
}
