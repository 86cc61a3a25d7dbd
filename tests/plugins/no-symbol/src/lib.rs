//! A dynamic library that is not a cvat-cli plugin: it exports a function, but not
//! `cvat_format_plugin_v1`. The host must refuse it with "not a cvat-cli format plugin".

/// Some unrelated export.
#[no_mangle]
pub extern "C" fn cvat_test_hello() -> i32 {
    42
}
