//! "Datumaro 1.0": `annotations/<subset>.json`, the most complete of the server's JSON exports.
//!
//! - [`write`]: the export, value for value as the server writes it (tracks expanded into one shape per
//!   frame with `track_id`/`keyframe`, ellipses and masks as COCO RLE masks, coordinates rounded to two
//!   decimals, attributes cast to their types).
//! - [`read`]: the import, as the server's `import_dm_annotations` (tracks rebuilt from `track_id`, groups
//!   renumbered per frame), with located diagnostics.
//! - [`interp`]: track interpolation shared with other writers; [`rle`]: COCO RLE strings and ellipse
//!   rasterisation; [`jsonw`]: the ordered JSON writer.

pub mod interp;
pub mod jsonw;
pub mod read;
pub mod rle;
pub mod write;

use cvat_format_api::{
    check_dataset, Dataset, Diagnostics, DropReport, Format, FormatError, FormatInfo, Input,
    OutputSink, ReadOptions, Result, Severity, WriteOptions,
};

/// The "Datumaro 1.0" format.
#[derive(Debug, Default, Clone, Copy)]
pub struct DatumaroFormat;

cvat_format_api::register_format!(DatumaroFormat);

impl Format for DatumaroFormat {
    fn info(&self) -> FormatInfo {
        FormatInfo::new("Datumaro 1.0")
            .import()
            .export()
            .extensions(&["zip", "json"])
            .description("Datumaro JSON: every 2D shape type, attributes, groups, tracks (annotations/<subset>.json)")
    }

    fn sniff(&self, input: &Input) -> u8 {
        let files = read::annotation_files(input);
        if files.is_empty() {
            return 0;
        }
        // COCO archives also keep JSON under annotations/: only Datumaro's own keys count
        let mut score = 5;
        if let Some((rel, _)) = files.first() {
            if let Ok(mut r) = input.open_file(rel) {
                let mut head = vec![0u8; 4096];
                let n = std::io::Read::read(&mut r, &mut head).unwrap_or(0);
                let head = String::from_utf8_lossy(&head[..n]);
                if head.contains("\"dm_format_version\"") {
                    score = 95;
                } else if head.contains("\"categories\"")
                    && (head.contains("\"items\"") || head.contains("\"parent\""))
                {
                    score = if input.is_single_file() { 70 } else { 90 };
                }
            }
        }
        score
    }

    fn read(&self, input: &Input, opts: &ReadOptions) -> Result<Dataset> {
        let mut r = read::Reader::new(opts);
        let ds = r.read(input);
        if let Some(d) = r
            .diags
            .items()
            .iter()
            .find(|d| d.severity == Severity::Error)
        {
            return Err(FormatError::Invalid(Box::new(d.clone())));
        }
        Ok(ds)
    }

    fn write(
        &self,
        dataset: &Dataset,
        out: &mut dyn OutputSink,
        _opts: &WriteOptions,
    ) -> Result<DropReport> {
        write::write(dataset, out)
    }

    fn validate(&self, input: &Input, opts: &ReadOptions) -> Diagnostics {
        let mut r = read::Reader::new(opts);
        let ds = r.read(input);
        let mut diags = r.diags;
        let origins = r.origins;
        let name = input.name().to_string();
        check_dataset(&ds, &mut |a| origins.locate(a, &name), &mut diags);
        diags
    }
}
