//! Integration tests for "PASCAL VOC 1.1" and "Segmentation mask 1.1".

use cvat_format_api::{
    Dataset, Format, Input, MemorySink, ReadOptions, Severity, ShapeType, WriteOptions,
};
use cvat_format_voc::pngio::{self, Pixels};
use cvat_format_voc::xmltree::{self, Elem};
use cvat_format_voc::{SegmentationMaskFormat, VocFormat};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

fn shared(rel: &str) -> PathBuf {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared")
        .join(rel);
    assert!(p.exists(), "shared data missing: {}", p.display());
    p
}

fn rich_a() -> Dataset {
    Dataset::from_task_dir(&shared("cvat/exports/rich-A")).expect("rich-A loads")
}

fn read_dir_files(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    let input = Input::open(dir).expect("open dir");
    input
        .files()
        .iter()
        .map(|f| (f.clone(), input.read(f).expect("read")))
        .collect()
}

fn write(
    fmt: &dyn Format,
    ds: &Dataset,
) -> (BTreeMap<String, Vec<u8>>, cvat_format_api::DropReport) {
    let mut sink = MemorySink::default();
    let report = fmt
        .write(ds, &mut sink, &WriteOptions::default())
        .expect("write");
    (sink.into_files(), report)
}

fn xml_equal(a: &Elem, b: &Elem, path: &str) -> Result<(), String> {
    let here = format!("{path}/{}", a.name);
    if a.name != b.name {
        return Err(format!("{here}: element <{}> vs <{}>", a.name, b.name));
    }
    let ta = a.text.as_deref().unwrap_or("").trim();
    let tb = b.text.as_deref().unwrap_or("").trim();
    if ta != tb {
        return Err(format!("{here}: text {ta:?} vs {tb:?}"));
    }
    if a.children.len() != b.children.len() {
        let names = |e: &Elem| {
            e.children
                .iter()
                .map(|c| c.name.clone())
                .collect::<Vec<_>>()
        };
        return Err(format!("{here}: children {:?} vs {:?}", names(a), names(b)));
    }
    for (i, (x, y)) in a.children.iter().zip(&b.children).enumerate() {
        xml_equal(x, y, &format!("{here}[{i}]"))?;
    }
    Ok(())
}

/// Fraction of pixels with the same decoded value.
fn pixel_agreement(ours: &[u8], theirs: &[u8]) -> (usize, usize) {
    let a = pngio::decode(ours).expect("our png");
    let b = pngio::decode(theirs).expect("their png");
    assert_eq!((a.width, a.height), (b.width, b.height), "png sizes");
    match (a.pixels, b.pixels) {
        (Pixels::Rgb(x), Pixels::Rgb(y)) => {
            let same = x.iter().zip(&y).filter(|(p, q)| p == q).count();
            (same, x.len())
        }
        _ => panic!("both PNGs should be RGB"),
    }
}

/// Compares our files with the server's: same names, XML as trees, text by lines, PNGs by pixels.
/// Returns (differing pixels, total pixels).
fn compare_with_export(ours: &BTreeMap<String, Vec<u8>>, dir: &Path) -> (usize, usize) {
    let theirs = read_dir_files(dir);
    let names = |m: &BTreeMap<String, Vec<u8>>| m.keys().cloned().collect::<Vec<_>>();
    assert_eq!(names(ours), names(&theirs), "file lists differ");
    let (mut diff, mut total) = (0, 0);
    for (name, want) in &theirs {
        let got = &ours[name];
        if name.ends_with(".xml") {
            let a = xmltree::parse(std::str::from_utf8(got).unwrap()).expect("our xml");
            let b = xmltree::parse(std::str::from_utf8(want).unwrap()).expect("their xml");
            if let Err(e) = xml_equal(&a, &b, "") {
                panic!("{name}: {e}");
            }
        } else if name.ends_with(".png") {
            let (same, n) = pixel_agreement(got, want);
            eprintln!("{name}: {} of {n} pixels differ", n - same);
            diff += n - same;
            total += n;
        } else {
            let a: Vec<&str> = std::str::from_utf8(got).unwrap().lines().collect();
            let b: Vec<&str> = std::str::from_utf8(want).unwrap().lines().collect();
            assert_eq!(a, b, "{name}");
        }
    }
    (diff, total)
}

#[test]
fn voc_fidelity_with_the_real_export() {
    let (files, report) = write(&VocFormat, &rich_a());
    let (diff, total) =
        compare_with_export(&files, &shared("cvat/exports/rich-A/export/PASCAL_VOC_1.1"));
    eprintln!("VOC: {diff} of {total} pixels differ; dropped: {report}");
    assert!(total > 0);
    assert!(
        (diff as f64) / (total as f64) < 1e-3,
        "{diff} of {total} pixels differ"
    );
}

#[test]
fn segmentation_fidelity_with_the_real_export() {
    let (files, report) = write(&SegmentationMaskFormat, &rich_a());
    let (diff, total) = compare_with_export(
        &files,
        &shared("cvat/exports/rich-A/export/Segmentation_mask_1.1"),
    );
    eprintln!("Segmentation mask: {diff} of {total} pixels differ; dropped: {report}");
    assert!(total > 0);
    assert!(
        (diff as f64) / (total as f64) < 1e-3,
        "{diff} of {total} pixels differ"
    );
}
