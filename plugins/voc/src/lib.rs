//! "PASCAL VOC 1.1" and "Segmentation mask 1.1".
//!
//! - [`labelmap`]: `labelmap.txt` and the VOC colour map.
//! - [`pngio`]: segmentation PNGs in and out.
//! - [`raster`]: shapes to pixels (as pycocotools / the server) and pixels back to polygons.
//! - [`xmltree`]: a located XML element tree.
//! - `collect`: the per-frame view the server's exporter sees (tracks interpolated).
//! - `write`: both writers; `read`: the shared reader and validation.
//!
//! See `docs/formats.md` for what is kept, what is dropped and how our output differs from the
//! server's.

mod collect;
pub mod labelmap;
pub mod pngio;
pub mod raster;
mod read;
mod write;
pub mod xmltree;

use cvat_format_api::{
    Dataset, Diagnostic, Diagnostics, DropReport, Format, FormatError, FormatInfo, Input, Location,
    OutputSink, ReadOptions, Result, Severity, WriteOptions,
};

pub use write::segmentation_labelmap;

/// "PASCAL VOC 1.1".
#[derive(Debug, Default, Clone, Copy)]
pub struct VocFormat;

/// "Segmentation mask 1.1".
#[derive(Debug, Default, Clone, Copy)]
pub struct SegmentationMaskFormat;

cvat_format_api::register_format!(VocFormat);
cvat_format_api::register_format!(SegmentationMaskFormat);

fn read_checked(input: &Input, opts: &ReadOptions) -> Result<Dataset> {
    let (ds, diags) = read::load(input, opts);
    if ds.frames.is_empty()
        && opts.frames.is_none()
        && !diags.iter().any(|d| d.severity == Severity::Error)
    {
        return Err(FormatError::from(
            Diagnostic::error(Location::file(input.name()), "empty", "no PASCAL VOC items found")
                .with_hint("expected ImageSets/*/<subset>.txt, Annotations/*.xml or SegmentationClass/*.png (with labelmap.txt)"),
        ));
    }
    if let Some(first) = diags.iter().find(|d| d.severity == Severity::Error) {
        let n = diags
            .iter()
            .filter(|d| d.severity == Severity::Error)
            .count();
        let mut d = first.clone();
        if n > 1 {
            d.message = format!(
                "{} (and {} more problems; run validate to see them all)",
                d.message,
                n - 1
            );
        }
        return Err(FormatError::from(d));
    }
    Ok(ds)
}

fn validate_all(input: &Input, opts: &ReadOptions) -> Diagnostics {
    let mut out = Diagnostics::default();
    let (ds, diags) = read::load(input, opts);
    let any_error = diags.iter().any(|d| d.severity == Severity::Error);
    out.extend(diags);
    if !any_error {
        let name = input.name().to_string();
        cvat_format_api::check_dataset(
            &ds,
            &mut |r| Location::json(name.clone(), r.path()),
            &mut out,
        );
    }
    if ds.frames.is_empty() && !any_error {
        out.push(
            Diagnostic::warning(Location::file(input.name()), "empty", "no items found").with_hint(
                "expected ImageSets/*/<subset>.txt, Annotations/*.xml or SegmentationClass/*.png",
            ),
        );
    }
    out
}

fn count(input: &Input, pred: impl Fn(&str) -> bool) -> usize {
    input.files().iter().filter(|f| pred(f)).count()
}

impl Format for VocFormat {
    fn info(&self) -> FormatInfo {
        FormatInfo::new("PASCAL VOC 1.1")
            .aliases(&["PASCAL VOC ZIP 1.1"])
            .import()
            .export()
            .extensions(&["zip"])
            .description(
                "PASCAL VOC: Annotations/*.xml boxes, ImageSets lists (tags), segmentation PNGs",
            )
    }

    fn sniff(&self, input: &Input) -> u8 {
        let xml = count(input, |f| {
            f.contains("Annotations/") && f.to_ascii_lowercase().ends_with(".xml")
        });
        let main = count(input, |f| f.contains("ImageSets/Main/"));
        match (xml > 0, main > 0) {
            (true, true) => 90,
            (true, false) => 70,
            (false, true) => 60,
            _ => {
                // a flat archive of VOC XML files (the server accepts those): look at one
                let Some(first) = input
                    .files()
                    .iter()
                    .find(|f| f.to_ascii_lowercase().ends_with(".xml"))
                else {
                    return 0;
                };
                let Ok(mut r) = input.open_file(first) else {
                    return 0;
                };
                let mut head = vec![0u8; 4096];
                let n = std::io::Read::read(&mut r, &mut head).unwrap_or(0);
                let head = String::from_utf8_lossy(&head[..n.min(head.len())]);
                if head.contains("<annotation") && head.contains("<bndbox>") {
                    50
                } else {
                    0
                }
            }
        }
    }

    fn read(&self, input: &Input, opts: &ReadOptions) -> Result<Dataset> {
        read_checked(input, opts)
    }

    fn write(
        &self,
        dataset: &Dataset,
        out: &mut dyn OutputSink,
        _opts: &WriteOptions,
    ) -> Result<DropReport> {
        write::write_voc(dataset, out)
    }

    fn validate(&self, input: &Input, opts: &ReadOptions) -> Diagnostics {
        validate_all(input, opts)
    }
}

impl Format for SegmentationMaskFormat {
    fn info(&self) -> FormatInfo {
        FormatInfo::new("Segmentation mask 1.1")
            .aliases(&["Segmentation mask ZIP 1.1"])
            .import()
            .export()
            .extensions(&["zip"])
            .description("VOC segmentation: SegmentationClass/ and SegmentationObject/ PNGs with labelmap.txt")
    }

    fn sniff(&self, input: &Input) -> u8 {
        let segm = count(input, |f| {
            (f.contains("SegmentationClass/") || f.contains("SegmentationObject/"))
                && f.to_ascii_lowercase().ends_with(".png")
        });
        let lists = count(input, |f| f.contains("ImageSets/Segmentation/"));
        let xml = count(input, |f| f.contains("Annotations/"));
        match (segm > 0 || lists > 0, xml > 0) {
            (true, false) => 85,
            (true, true) => 40,
            _ => 0,
        }
    }

    fn read(&self, input: &Input, opts: &ReadOptions) -> Result<Dataset> {
        read_checked(input, opts)
    }

    fn write(
        &self,
        dataset: &Dataset,
        out: &mut dyn OutputSink,
        _opts: &WriteOptions,
    ) -> Result<DropReport> {
        write::write_segmentation(dataset, out)
    }

    fn validate(&self, input: &Input, opts: &ReadOptions) -> Diagnostics {
        validate_all(input, opts)
    }
}
