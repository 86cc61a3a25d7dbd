//! CVAT XML formats: "CVAT for images 1.1" and "CVAT for video 1.1" (export) and "CVAT 1.1" (import of
//! either flavour, as a bare XML file or inside a ZIP).
//!
//! - [`write`](crate::write): the two writers (server-compatible bytes, streaming into the sink).
//! - [`interp`](crate::interp): track interpolation as the server does it on export.
//! - [`read`](crate::read): the streaming reader and validator (quick-xml), with line:column locations.

mod interp;
mod read;
mod write;

use cvat_format_api::{
    register_format, Dataset, Diagnostics, DropReport, Format, FormatInfo, Input, OutputSink,
    ReadOptions, Result, WriteOptions,
};

/// "CVAT for images 1.1": one `<image>` per frame, tracks flattened into per-frame shapes.
#[derive(Debug, Default, Clone, Copy)]
pub struct CvatImages;

/// "CVAT for video 1.1": only `<track>`s; plain shapes become short tracks, tags are dropped.
#[derive(Debug, Default, Clone, Copy)]
pub struct CvatVideo;

/// "CVAT 1.1": the importer for both flavours.
#[derive(Debug, Default, Clone, Copy)]
pub struct CvatImport;

register_format!(CvatImages);
register_format!(CvatVideo);
register_format!(CvatImport);

impl Format for CvatImages {
    fn info(&self) -> FormatInfo {
        FormatInfo::new("CVAT for images 1.1")
            .export()
            .aliases(&["CVAT XML 1.1 for images"])
            .extensions(&["xml", "zip"])
            .description("CVAT XML, one <image> per frame (tracks flattened into shapes)")
    }
    fn write(
        &self,
        dataset: &Dataset,
        out: &mut dyn OutputSink,
        opts: &WriteOptions,
    ) -> Result<DropReport> {
        let w = out.file("annotations.xml")?;
        write::write_images(dataset, w, opts)
    }
}

impl Format for CvatVideo {
    fn info(&self) -> FormatInfo {
        FormatInfo::new("CVAT for video 1.1")
            .export()
            .aliases(&["CVAT XML 1.1 for videos"])
            .extensions(&["xml", "zip"])
            .description("CVAT XML, one <track> per object (shapes become short tracks, no tags)")
    }
    fn write(
        &self,
        dataset: &Dataset,
        out: &mut dyn OutputSink,
        opts: &WriteOptions,
    ) -> Result<DropReport> {
        let w = out.file("annotations.xml")?;
        write::write_video(dataset, w, opts)
    }
}

impl Format for CvatImport {
    fn info(&self) -> FormatInfo {
        FormatInfo::new("CVAT 1.1")
            .import()
            .aliases(&["CVAT XML 1.1"])
            .extensions(&["xml", "zip"])
            .description("CVAT XML of either flavour (images or video), bare or in a ZIP")
    }
    fn sniff(&self, input: &Input) -> u8 {
        read::sniff(input)
    }
    fn read(&self, input: &Input, opts: &ReadOptions) -> Result<Dataset> {
        read::read(input, opts)
    }
    fn validate(&self, input: &Input, opts: &ReadOptions) -> Diagnostics {
        read::validate(input, opts)
    }
}
