//! `libtollgate`: the C ABI of Tollgate for softswitch plugins (filled by the C API issue).
//! Today it exports only the version, so the cdylib/staticlib build is exercised.

use std::ffi::c_char;

/// The library version as a NUL-terminated static string. Never free it.
#[no_mangle]
pub extern "C" fn tg_version() -> *const c_char {
    concat!(env!("CARGO_PKG_VERSION"), "\0").as_ptr().cast()
}

#[cfg(test)]
mod tests {
    #[test]
    fn version_is_a_c_string() {
        let p = super::tg_version();
        // SAFETY: tg_version returns a pointer to a static NUL-terminated string.
        let s = unsafe { std::ffi::CStr::from_ptr(p) };
        assert_eq!(s.to_str().unwrap(), env!("CARGO_PKG_VERSION"));
    }
}
