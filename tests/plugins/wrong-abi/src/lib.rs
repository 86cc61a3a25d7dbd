//! A plugin from the future: it exports `cvat_format_plugin_v1` but its table says ABI version 2. The
//! host must refuse it naming both versions, without calling anything else in it.

#[repr(C)]
pub struct Header {
    pub abi_version: u32,
    pub struct_size: u32,
}

static TABLE: Header = Header {
    abi_version: 2,
    struct_size: 4096,
};

/// The entry point, with a table the host must not trust past the header.
#[no_mangle]
pub extern "C" fn cvat_format_plugin_v1() -> *const Header {
    &TABLE
}
