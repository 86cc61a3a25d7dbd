//! Parallel parse of a large COCO file: the `annotations` list (nearly all of the bytes) is cut into
//! pieces that threads parse at the same time, each into its own [`Collector`]; the pieces are then
//! joined in file order, so that the result (shapes, annotation indexes, diagnostics and their JSON
//! paths) is the one [`crate::parse::parse_file`] gives alone.
//!
//! Where a piece starts is a guess: from an even cut of the bytes, the first `}`, `,`, `{` sequence. A
//! guess can be wrong (that sequence can sit inside a string, or in another list), so every guess is
//! checked by the piece before it: a piece stops exactly where the next one started only if that
//! position is the start of an element of the list, and a piece is used only when the piece before it,
//! itself checked, stopped there. A piece that runs past a wrong guess parses on, checking the next
//! guesses. The rest of the file (`images`, `categories`...) is parsed apart with the list cut out. On
//! any JSON error, or anything unusual (a second `annotations` key, a key with escapes before the
//! list), [`parse_parallel`] gives up and the caller parses the file alone, which locates the error.
//!
//! One difference remains: serde_json refuses values nested over 128 levels; an element of the list
//! parsed on its own gets 2 more levels than it does inside the file.

use crate::parse::{AnnSeed, AnnSink, Interner, RawAnn, RawFile};
use crate::read::{Collector, Store};
use crate::Task;
use cvat_format_api::{Diagnostic, Diagnostics};
use serde::de::{Deserialize, DeserializeSeed, Deserializer};
use std::cell::RefCell;

/// Below this many bytes a file is parsed on one thread.
pub const MIN_PARALLEL_BYTES: usize = 4 << 20;

/// Pieces cut per thread: more pieces than threads even out their different speeds.
const PIECES_PER_THREAD: usize = 4;

/// Threads to parse with: the machine's cores, at most 8.
pub fn threads() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
        .clamp(1, 8)
}

/// A file parsed in pieces and joined.
pub(crate) struct Parsed {
    pub raw: RawFile,
    pub store: Store,
    pub names: Interner,
    /// (annotation id, annotation index), for the duplicate check
    pub ann_ids: Vec<(i64, u32)>,
    /// What the collectors reported, in file order, JSON paths already shifted to whole-file indexes.
    pub diags: Diagnostics,
}

/// Parses `text` (a whole COCO file) with `threads` threads; `None` when it cannot be done that way
/// (the file is small, has no `annotations` list, or has a JSON error somewhere): parse it alone then.
pub(crate) fn parse_parallel(
    file: &str,
    text: &[u8],
    task: Task,
    limit: usize,
    threads: usize,
    min_bytes: usize,
) -> Option<Parsed> {
    if threads < 2 || text.len() < min_bytes {
        return None;
    }
    let open = annotations_list(text)?;
    let first = skip_ws(text, open + 1);
    if text.get(first) != Some(&b'{') {
        return None; // an empty list, or not a list of objects: nothing to gain
    }
    let mut starts = vec![first];
    let n = threads * PIECES_PER_THREAD;
    for k in 1..n {
        let guess = open + (text.len() - open) * k / n;
        if let Some(p) = element_start_after(text, guess.max(starts[starts.len() - 1] + 1)) {
            if p > starts[starts.len() - 1] {
                starts.push(p);
            }
        }
    }
    if starts.len() < 2 {
        return None;
    }
    // the threads take pieces in order as they finish others (pieces parse at different speeds)
    let taken = std::sync::atomic::AtomicUsize::new(0);
    let work = || {
        let mut done = Vec::new();
        loop {
            let k = taken.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            if k >= starts.len() {
                return done;
            }
            done.push((k, parse_piece(file, text, task, limit, &starts, k)));
        }
    };
    let mut pieces: Vec<Option<Piece>> =
        std::iter::repeat_with(|| None).take(starts.len()).collect();
    std::thread::scope(|scope| {
        let handles: Vec<_> = (1..threads).map(|_| scope.spawn(work)).collect();
        for (k, p) in work() {
            pieces[k] = Some(p);
        }
        for h in handles {
            // a thread that panicked leaves its pieces out: the join below then gives up
            for (k, p) in h.join().unwrap_or_default() {
                pieces[k] = Some(p);
            }
        }
    });

    // join the pieces each one's predecessor confirmed, in order
    let mut names = Interner::default();
    let mut store = Store::default();
    let mut ann_ids = Vec::new();
    let mut diags = Diagnostics::with_limit(limit);
    let mut count = 0usize;
    let mut k = 0;
    let close = loop {
        let p = pieces.get_mut(k)?.take()?;
        let base = count as u32;
        let map: Vec<u32> = p.names.names.iter().map(|n| names.get(n)).collect();
        store.append(p.store, base, &map);
        ann_ids.extend(p.ann_ids.into_iter().map(|(id, i)| (id, i + base)));
        diags.absorb(p.diags, |d| shift_annotation_index(d, count));
        count += p.count;
        match p.end {
            End::At(next) => k = next,
            End::Close(at) => break at,
            End::Failed => return None,
        }
    };

    // the rest of the file, with the list cut out
    let mut rest = Vec::with_capacity(open + 2 + (text.len() - close));
    rest.extend_from_slice(&text[..open]);
    rest.extend_from_slice(b"[]");
    rest.extend_from_slice(&text[close..]);
    let mut none = NoAnnotations(false);
    let mut raw = crate::parse::parse_file(file, &rest, &mut none, &mut names).ok()?;
    if none.0 || raw.annotation_lists != 1 {
        return None; // another `annotations` list: let the whole-file parse handle it
    }
    raw.has_annotations = true;
    raw.annotation_count = count;
    Some(Parsed {
        raw,
        store,
        names,
        ann_ids,
        diags,
    })
}

/// Fails the rest-of-file parse when it meets annotations (the list was cut out: there must be none).
struct NoAnnotations(bool);

impl AnnSink for NoAnnotations {
    fn annotation(&mut self, _: usize, _: RawAnn, _: &mut Interner) {
        self.0 = true;
    }
}

/// How a piece ended.
#[derive(Debug, Clone, Copy, PartialEq)]
enum End {
    /// Exactly at the start of piece `k` (which is thereby confirmed).
    At(usize),
    /// At the end of the list; the index is just past its `]`.
    Close(usize),
    /// A JSON error (or a wrong start).
    Failed,
}

struct Piece {
    store: Store,
    names: Interner,
    ann_ids: Vec<(i64, u32)>,
    diags: Diagnostics,
    count: usize,
    end: End,
}

thread_local! {
    /// The attribute names of the piece this thread parses ([`serde_json::StreamDeserializer`], which
    /// reports where each element ends, takes no seed).
    static NAMES: RefCell<Interner> = RefCell::new(Interner::default());
}

/// One annotation, its attribute names interned in [`NAMES`].
struct LocalAnn(RawAnn);

impl<'de> Deserialize<'de> for LocalAnn {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<LocalAnn, D::Error> {
        NAMES.with(|n| {
            let mut n = n.borrow_mut();
            AnnSeed { names: &mut n }.deserialize(d).map(LocalAnn)
        })
    }
}

/// Parses the elements from `starts[k]` on, until the list ends or a later start is met exactly.
fn parse_piece(
    file: &str,
    text: &[u8],
    task: Task,
    limit: usize,
    starts: &[usize],
    k: usize,
) -> Piece {
    NAMES.with(|n| n.replace(Interner::default()));
    let mut diags = Diagnostics::with_limit(limit);
    let mut col = Collector::new(file.to_string(), task, &mut diags);
    let mut pos = starts[k];
    let mut next = k + 1;
    let mut count = 0usize;
    let end = loop {
        let mut de = serde_json::Deserializer::from_slice(&text[pos..]).into_iter::<LocalAnn>();
        let ann = match de.next() {
            Some(Ok(LocalAnn(a))) => a,
            _ => break End::Failed,
        };
        pos += de.byte_offset();
        NAMES.with(|n| col.annotation(count, ann, &mut n.borrow_mut()));
        count += 1;
        pos = skip_ws(text, pos);
        match text.get(pos) {
            Some(b',') => pos = skip_ws(text, pos + 1),
            Some(b']') => break End::Close(pos + 1),
            _ => break End::Failed,
        }
        while next < starts.len() && starts[next] < pos {
            next += 1; // that guess was not an element start
        }
        if next < starts.len() && starts[next] == pos {
            break End::At(next);
        }
    };
    let store = std::mem::take(&mut col.store);
    let ann_ids = std::mem::take(&mut col.ann_ids);
    drop(col);
    Piece {
        store,
        names: NAMES.with(|n| n.take()),
        ann_ids,
        diags,
        count,
        end,
    }
}

/// `$.annotations[i]...` → `$.annotations[i + base]...`.
fn shift_annotation_index(mut d: Diagnostic, base: usize) -> Diagnostic {
    const PREFIX: &str = "$.annotations[";
    if base == 0 {
        return d;
    }
    if let Some(path) = &mut d.location.json_path {
        if let Some(rest) = path.strip_prefix(PREFIX) {
            let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
            if let Ok(i) = rest[..digits].parse::<usize>() {
                *path = format!("{PREFIX}{}{}", i + base, &rest[digits..]);
            }
        }
    }
    d
}

fn skip_ws(text: &[u8], mut i: usize) -> usize {
    while let Some(b' ' | b'\n' | b'\r' | b'\t') = text.get(i) {
        i += 1;
    }
    i
}

/// Index just past the string starting at `text[i] == '"'`.
fn skip_string(text: &[u8], mut i: usize) -> Option<usize> {
    i += 1;
    loop {
        match text.get(i)? {
            b'"' => return Some(i + 1),
            b'\\' => i += 2,
            _ => i += 1,
        }
    }
}

/// Index just past the JSON value starting at `text[i]` (structure only: the values are checked by the
/// parse of the rest of the file).
fn skip_value(text: &[u8], mut i: usize) -> Option<usize> {
    match text.get(i)? {
        b'"' => skip_string(text, i),
        b'{' | b'[' => {
            let mut depth = 0usize;
            loop {
                match text.get(i)? {
                    b'"' => {
                        i = skip_string(text, i)?;
                        continue;
                    }
                    b'{' | b'[' => depth += 1,
                    b'}' | b']' => {
                        depth -= 1;
                        if depth == 0 {
                            return Some(i + 1);
                        }
                    }
                    _ => {}
                }
                i += 1;
            }
        }
        _ => {
            while !matches!(
                text.get(i)?,
                b',' | b'}' | b']' | b' ' | b'\n' | b'\r' | b'\t'
            ) {
                i += 1;
            }
            Some(i)
        }
    }
}

/// Where the top-level `annotations` list opens (the index of its `[`).
fn annotations_list(text: &[u8]) -> Option<usize> {
    let mut i = skip_ws(text, 0);
    if text.get(i) != Some(&b'{') {
        return None;
    }
    i += 1;
    loop {
        i = skip_ws(text, i);
        if text.get(i) != Some(&b'"') {
            return None;
        }
        let end = skip_string(text, i)?;
        let key = &text[i + 1..end - 1];
        if key.contains(&b'\\') {
            return None;
        }
        i = skip_ws(text, end);
        if text.get(i) != Some(&b':') {
            return None;
        }
        i = skip_ws(text, i + 1);
        if key == b"annotations" {
            return (text.get(i) == Some(&b'[')).then_some(i);
        }
        i = skip_ws(text, skip_value(text, i)?);
        if text.get(i) != Some(&b',') {
            return None;
        }
        i += 1;
    }
}

/// The first `{` at or after `from` that follows `}` `,` (whitespace allowed between): the likely start
/// of an element of a list of objects.
fn element_start_after(text: &[u8], from: usize) -> Option<usize> {
    let mut i = from;
    while i < text.len() {
        if text[i] == b'}' {
            let c = skip_ws(text, i + 1);
            if text.get(c) == Some(&b',') {
                let o = skip_ws(text, c + 1);
                if text.get(o) == Some(&b'{') {
                    return Some(o);
                }
            }
        }
        i += 1;
    }
    None
}

#[cfg(test)]
mod tests {
    //! The pieces must give exactly what the whole-file parse gives: shapes, annotation indexes, names,
    //! the rest of the file, and every diagnostic with its location, on real samples and on generated
    //! files made to trip the guesses (`},{` inside strings, the list before `images`, errors and
    //! JSON syntax errors in late pieces, pretty-printed files, a second `annotations` key).

    use super::*;
    use crate::read::FileData;
    use cvat_format_api::Input;
    use std::fmt::Write as _;
    use std::path::{Path, PathBuf};

    /// Everything a parse produced, as text.
    fn fingerprint(files: &[FileData], diags: &Diagnostics) -> String {
        let mut s = String::new();
        for f in files {
            let _ = writeln!(s, "file {} subset {}", f.file, f.subset);
            let _ = writeln!(s, "raw {:?}", f.raw);
            let _ = writeln!(s, "names {:?}", f.names.names);
            for (shape, meta) in f.store.shapes().zip(&f.store.meta) {
                let _ = writeln!(s, "{meta:?} {shape:?}");
            }
            let mut tracks: Vec<_> = f.store.tracks.iter().collect();
            tracks.sort_by_key(|(k, _)| **k);
            let mut rle: Vec<_> = f.store.rle_sizes.iter().collect();
            rle.sort_by_key(|(k, _)| **k);
            let _ = writeln!(s, "tracks {tracks:?}\nrle {rle:?}");
        }
        let _ = writeln!(
            s,
            "errors {} warnings {} truncated {}",
            diags.error_count(),
            diags.warning_count(),
            diags.truncated()
        );
        for d in diags.items() {
            let _ = writeln!(s, "{d:?}");
        }
        s
    }

    fn parse_with(input: &Input, task: Task, limit: usize, threads: usize) -> String {
        let mut diags = Diagnostics::with_limit(limit);
        match crate::parse_all_with(input, task, &mut diags, threads, 0) {
            Ok(files) => fingerprint(&files, &diags),
            Err(e) => format!("error {e}"),
        }
    }

    /// Whether `text` goes the parallel way with `threads` threads.
    fn splits(text: &[u8], threads: usize) -> bool {
        parse_parallel("f.json", text, Task::Instances, 1000, threads, 0).is_some()
    }

    /// Checks every thread count against the whole-file parse; true when some count split the file.
    fn check_same(name: &str, text: &[u8], limit: usize) -> bool {
        let input = Input::from_bytes(name, text.to_vec()).unwrap();
        let mut split_any = false;
        for task in [Task::Instances, Task::Keypoints] {
            let alone = parse_with(&input, task, limit, 1);
            for threads in [2, 3, 6] {
                let pieces = parse_with(&input, task, limit, threads);
                assert!(
                    alone == pieces,
                    "{name} ({task:?}, {threads} threads) differs:\n--- alone\n{alone}\n--- pieces\n{pieces}"
                );
                split_any |= splits(text, threads);
            }
        }
        split_any
    }

    fn json_files(dir: &Path, out: &mut Vec<PathBuf>) {
        for e in std::fs::read_dir(dir).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                json_files(&p, out);
            } else if p.extension().is_some_and(|x| x == "json") {
                out.push(p);
            }
        }
    }

    #[test]
    fn real_coco_files_parse_the_same_in_pieces() {
        let shared = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared"));
        let mut files = Vec::new();
        json_files(&shared.join("formats/coco"), &mut files);
        json_files(&shared.join("cvat/exports/rich-A/export"), &mut files);
        files.retain(|p| {
            let s = p.to_string_lossy();
            s.contains("coco") || s.contains("COCO")
        });
        assert!(files.len() > 40, "found only {} COCO files", files.len());
        let mut split = 0;
        for p in &files {
            let text = std::fs::read(p).unwrap();
            let name = p.file_name().unwrap().to_string_lossy();
            if check_same(&name, &text, 1000) {
                split += 1;
            }
        }
        // the real files are small: only some have two annotations or more to split between
        assert!(
            split >= 5,
            "only {split} of {} files were split",
            files.len()
        );
    }

    /// A small deterministic generator (xorshift).
    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }
        fn below(&mut self, n: u64) -> u64 {
            self.next() % n
        }
        fn chance(&mut self, percent: u64) -> bool {
            self.below(100) < percent
        }
    }

    /// A COCO file with tricky content; `pretty` adds newlines and indentation.
    fn generate(r: &mut Rng) -> String {
        let pretty = r.chance(30);
        let (nl, ind) = if pretty { ("\n", "  ") } else { ("", "") };
        let images: Vec<String> = (1..=4)
            .map(|i| {
                format!(
                    "{{\"id\":{i},\"width\":640,\"height\":480,\"file_name\":\"img}},{{{i}.jpg\"}}"
                )
            })
            .collect();
        let cats = "[{\"id\":1,\"name\":\"car\",\"supercategory\":\"\"},{\"id\":2,\"name\":\"a},{\\\"b\",\"supercategory\":\"\"}]";
        let n = r.below(40);
        let mut anns = Vec::new();
        for i in 0..n {
            let images = if r.chance(3) { 6 } else { 4 }; // 5 and 6 are unknown image ids
            let mut fields = vec![
                format!("\"id\":{}", if r.chance(5) { 1 } else { i + 1 }),
                format!("\"image_id\":{}", 1 + r.below(images)),
                format!("\"category_id\":{}", 1 + r.below(2)),
                format!("\"iscrowd\":{}", u8::from(r.chance(10))),
                "\"bbox\":[10,20,30,40]".to_string(),
                "\"area\":1200".to_string(),
            ];
            let seg = match r.below(5) {
                0 => "[]".to_string(),
                1 => "[[10,20,40,20,40,60]]".to_string(),
                2 => "[[10,20,40,20,40,60],[1,2,3,4,5,6,7,8]]".to_string(),
                3 => "{\"counts\":[0,5,10],\"size\":[480,640]}".to_string(),
                _ => "[[1,2,3]]".to_string(), // too few points: an error
            };
            fields.push(format!("\"segmentation\":{seg}"));
            let mut attrs = vec!["\"occluded\":false".to_string()];
            if r.chance(40) {
                attrs.push("\"note\":\"x}, {\\\"id\\\":7},{\\\\\"".to_string());
            }
            if r.chance(20) {
                attrs.push(format!("\"k{}\":{}", r.below(5), r.below(3)));
            }
            if r.chance(10) {
                attrs.push("\"track_id\":3,\"keyframe\":true".to_string());
            }
            fields.push(format!("\"attributes\":{{{}}}", attrs.join(",")));
            if r.chance(5) {
                fields.remove(r.below(fields.len() as u64) as usize);
            }
            let sep = format!(",{nl}{ind}{ind}");
            anns.push(format!("{{{}}}", fields.join(&sep)));
        }
        let sep = format!(",{nl}{ind}");
        let list = format!("[{nl}{ind}{}{nl}]", anns.join(&sep));
        let mut keys = vec![
            format!("\"images\":[{}]", images.join(",")),
            format!("\"categories\":{cats}"),
            format!("\"annotations\":{list}"),
            "\"info\":{\"a\":\"},{\"}".to_string(),
        ];
        if r.chance(50) {
            keys.swap(0, 2); // the list first, the images after it
        }
        if r.chance(5) {
            keys.push("\"annotations\":[]".to_string());
        }
        let mut text = format!("{{{}}}", keys.join(&format!(",{nl}")));
        if r.chance(15) && !text.is_empty() {
            // a JSON syntax error somewhere (often in a late piece)
            let at = text.len() / 2 + r.below(text.len() as u64 / 2) as usize;
            let at = (0..=at)
                .rev()
                .find(|i| text.is_char_boundary(*i))
                .unwrap_or(0);
            text.replace_range(at..at, if r.chance(50) { "}" } else { "," });
        }
        text
    }

    #[test]
    fn generated_files_parse_the_same_in_pieces() {
        let mut r = Rng(0x9e37_79b9_7f4a_7c15);
        let mut split = 0;
        for case in 0..300 {
            let text = generate(&mut r);
            // a small limit in some cases: the counts past it must add up too
            let limit = if case % 3 == 0 { 3 } else { 1000 };
            if check_same(&format!("case{case}.json"), text.as_bytes(), limit) {
                split += 1;
            }
        }
        assert!(
            split > 120,
            "only {split} of 300 generated files were split"
        );
    }

    #[test]
    fn guesses_inside_strings_are_caught() {
        // one annotation whose attribute holds many `},{"id":` sequences: every guess lands in it
        let noise = "},{\\\"id\\\":1}".repeat(2000);
        let text = format!(
            "{{\"images\":[{{\"id\":1,\"width\":9,\"height\":9,\"file_name\":\"a.jpg\"}}],\
             \"categories\":[{{\"id\":1,\"name\":\"a\"}}],\"annotations\":[\
             {{\"id\":1,\"image_id\":1,\"category_id\":1,\"iscrowd\":0,\"bbox\":[1,1,2,2],\
             \"segmentation\":[],\"attributes\":{{\"n\":\"{noise}\"}}}},\
             {{\"id\":2,\"image_id\":1,\"category_id\":1,\"iscrowd\":0,\"bbox\":[1,1,2,2],\
             \"segmentation\":[]}}]}}"
        );
        let p = parse_parallel("f.json", text.as_bytes(), Task::Instances, 1000, 4, 0)
            .expect("the first piece parses on past the wrong guesses");
        assert_eq!(p.raw.annotation_count, 2);
        assert_eq!(p.store.len(), 2);
        check_same("noise.json", text.as_bytes(), 1000);
    }

    #[test]
    fn what_goes_the_whole_file_way() {
        let ann = "{\"id\":1,\"image_id\":1,\"category_id\":1,\"iscrowd\":0,\"bbox\":[1,1,2,2],\"segmentation\":[]}";
        let ok = format!("{{\"images\":[],\"annotations\":[{ann},{ann},{ann}]}}");
        assert!(splits(ok.as_bytes(), 2));
        assert!(!splits(ok.as_bytes(), 1), "one thread");
        assert!(
            parse_parallel("f", ok.as_bytes(), Task::Instances, 9, 2, 1 << 20).is_none(),
            "a small file"
        );
        let twice = format!("{{\"annotations\":[{ann},{ann}],\"annotations\":[]}}");
        assert!(!splits(twice.as_bytes(), 2), "a second annotations key");
        let broken = format!("{{\"annotations\":[{ann},{ann},{{\"id\":]}}");
        assert!(
            !splits(broken.as_bytes(), 2),
            "a syntax error in the last piece"
        );
        let escaped = format!("{{\"a\\u0062\":1,\"annotations\":[{ann},{ann}]}}");
        assert!(
            !splits(escaped.as_bytes(), 2),
            "an escaped key before the list"
        );
        assert!(!splits(b"[1,2]", 2), "not an object");
        assert!(!splits(b"{\"annotations\":[]}", 2), "an empty list");
    }

    #[test]
    fn diagnostic_paths_are_shifted_to_whole_file_indexes() {
        let d = Diagnostic::error(
            cvat_format_api::Location::json("f", "$.annotations[3].bbox"),
            "x",
            "m",
        );
        let d = shift_annotation_index(d, 10);
        assert_eq!(
            d.location.json_path.as_deref(),
            Some("$.annotations[13].bbox")
        );
        let other = Diagnostic::error(
            cvat_format_api::Location::json("f", "$.images[3]"),
            "x",
            "m",
        );
        assert_eq!(
            shift_annotation_index(other, 10)
                .location
                .json_path
                .as_deref(),
            Some("$.images[3]")
        );
    }
}
