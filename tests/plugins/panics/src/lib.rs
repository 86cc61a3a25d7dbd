//! A plugin whose `import`, `export` and `validate` panic. The SDK must catch the panic so that the
//! host gets a plugin error for that call and carries on.

use cvat_format_api::{
    Dataset, Diagnostics, DropReport, Format, FormatInfo, Input, OutputSink, ReadOptions,
    WriteOptions,
};

#[derive(Default)]
pub struct Panics;

impl Format for Panics {
    fn info(&self) -> FormatInfo {
        FormatInfo::new("Test Panics 1.0")
            .import()
            .export()
            .extensions(&["panic"])
            .description("test plugin: every operation panics")
    }
    fn read(&self, _input: &Input, _opts: &ReadOptions) -> cvat_format_api::Result<Dataset> {
        panic!("deliberate panic in import");
    }
    fn write(
        &self,
        _dataset: &Dataset,
        _out: &mut dyn OutputSink,
        _opts: &WriteOptions,
    ) -> cvat_format_api::Result<DropReport> {
        panic!("deliberate panic in export");
    }
    fn validate(&self, _input: &Input, _opts: &ReadOptions) -> Diagnostics {
        panic!("deliberate panic in validate");
    }
}

cvat_format_api::export_format_plugin!(Panics);
