//! A plugin whose `describe` returns bytes that are not JSON. The host must refuse it, saying that the
//! description does not parse. Written by hand against the ABI types (no SDK macro), the way a C
//! plugin would be.

use cvat_format_api::abi::{self, Buf, PluginV1};

unsafe extern "C" fn describe(out: *mut Buf) -> i32 {
    let text = b"{\"name\": \"Broken\", this is not JSON".to_vec();
    if let Some(out) = unsafe { out.as_mut() } {
        *out = Buf::from_vec(text);
    }
    abi::status::OK
}

unsafe extern "C" fn free_buf(buf: Buf) {
    // SAFETY: only buffers made by `Buf::from_vec` above come back here.
    drop(unsafe { buf.into_vec() });
}

static TABLE: PluginV1 = PluginV1 {
    abi_version: abi::ABI_VERSION,
    struct_size: abi::PLUGIN_V1_SIZE,
    describe: Some(describe),
    import: None,
    export: None,
    validate: None,
    free_buf: Some(free_buf),
    sniff: None,
};

/// The entry point.
#[no_mangle]
pub extern "C" fn cvat_format_plugin_v1() -> *const PluginV1 {
    &TABLE
}
