//! `libtollgate`: the C ABI of Tollgate for softswitch plugins (DESIGN §11, docs/c-api.md).
//!
//! Conventions follow rustls-ffi: every symbol starts with `tg_` and Rust items carry their C
//! names; handles are opaque and Box-owned (`tg_engine`), made by `_create`/`_open` and
//! destroyed by `_close` (NULL is a no-op); inputs come before outputs; every fallible
//! function returns a [`tg_result`] and writes its outputs only on success; every exported
//! body runs inside `catch_unwind` (module `boundary`); strings returned to C are freed with
//! `tg_string_free`; money crosses as decimal text, never `double`.
//!
//! The header `include/tollgate.h` is generated from this crate by cbindgen
//! (`tests/generated.rs`) and checked in.
//!
//! Event callbacks: `tg_engine_set_event_callback(engine, callback, userdata)` wraps the C
//! function pointer and its `userdata` in a closure registered with
//! `Engine::register_callback` under the name `"c"` (module `events`).

#![allow(non_camel_case_types)]
#![deny(unsafe_op_in_unsafe_fn)]

mod boundary;
pub mod charging;
pub mod engine;
pub mod events;
pub mod result;

pub use charging::{
    tg_authorization, tg_authorize, tg_authorize_request, tg_release, tg_settle, tg_settle_batch,
    tg_settle_request, tg_settlement, tg_update, TG_CODE_SIZE, TG_DECIMAL_SIZE,
    TG_SETTLE_BATCH_MAX,
};
pub use engine::{
    tg_call, tg_engine, tg_engine_close, tg_engine_create, tg_engine_create_with,
    tg_engine_last_error, tg_engine_open, tg_engine_open_with, tg_engine_status, tg_rest,
    tg_string_free,
};
pub use events::{tg_engine_set_event_callback, tg_event_callback};
pub use result::tg_result;

use std::ffi::c_char;

/// The library version, e.g. "0.1.0", as a static string. Never free it.
#[no_mangle]
pub extern "C" fn tg_version() -> *const c_char {
    concat!(env!("CARGO_PKG_VERSION"), "\0").as_ptr().cast()
}

/// The machine code of a result number, e.g. "balance.insufficient" for
/// `TG_RESULT_BALANCE_INSUFFICIENT` and "ok" for `TG_RESULT_OK`; "unknown" for a number that
/// is not a `tg_result`. A static string: never free it.
#[no_mangle]
pub extern "C" fn tg_result_code(result: u32) -> *const c_char {
    boundary::catch(c"unknown".as_ptr(), || {
        tg_result::from_u32(result).map_or(c"unknown".as_ptr(), |r| r.code().as_ptr())
    })
}

#[cfg(test)]
mod tests {
    use std::ffi::CStr;

    #[test]
    fn version_is_a_c_string() {
        let p = super::tg_version();
        // SAFETY: tg_version returns a pointer to a static NUL-terminated string.
        let s = unsafe { CStr::from_ptr(p) };
        assert_eq!(s.to_str().unwrap(), env!("CARGO_PKG_VERSION"));
    }
}
