//! Event callbacks: a C function registered as the engine's provisioning callback `"c"`.

use crate::boundary::{guard, Failure};
use crate::engine::{engine_arg, tg_engine};
use crate::result::tg_result;
use std::ffi::{c_char, c_int, c_void, CString};
use std::sync::Arc;
use tollgate_core::{Event, Verdict};

/// The name under which [`tg_engine_set_event_callback`] registers its function: a
/// provisioning handler of kind `callback` with target `"c"` calls it.
pub const TG_EVENT_CALLBACK_NAME: &str = "c";

/// An event callback. `userdata` comes first (as given to [`tg_engine_set_event_callback`]),
/// then the event as NUL-terminated JSON text of `len` bytes:
/// `{"id", "event", "object_id", "stage", "payload"}` (`payload` in JeraSoft's format). The
/// text is valid only for the duration of the call: copy what you keep. Return 0 to allow;
/// any other value forbids (stage `before`: the Management API call fails with
/// `TG_RESULT_HANDLER_FORBIDDEN`) or fails the attempt (stage `after`: retried later, logged
/// in `provisioning.logs`). `after` events arrive on the engine's delivery thread, never on
/// the caller's call-setup or hangup thread; the callback may call the engine.
pub type tg_event_callback = Option<
    unsafe extern "C" fn(userdata: *mut c_void, event_json: *const c_char, len: usize) -> c_int,
>;

/// The caller's pointer, carried to the delivery thread (the caller promises it may be used
/// from there, as documented).
struct UserData(*mut c_void);
// SAFETY: the documented contract of tg_engine_set_event_callback: `userdata` must be usable
// from any thread for as long as the callback is registered.
unsafe impl Send for UserData {}
// SAFETY: as above.
unsafe impl Sync for UserData {}

impl UserData {
    /// The pointer (a method, so closures capture the whole `Send + Sync` wrapper).
    fn get(&self) -> *mut c_void {
        self.0
    }
}

/// Register `callback` as the engine's event callback `"c"` (replacing an earlier one), or
/// remove it when `callback` is NULL. A provisioning handler of kind `callback` whose target
/// is `"c"` calls it (`tg_call(engine, "provisioning.add", ...)`); see [`tg_event_callback`].
///
/// # Safety
/// `engine` is a live handle. `callback`, when not NULL, and `userdata` stay valid and usable
/// from any thread until the callback is replaced or removed, or the engine is closed
/// (`tg_engine_close` drops it).
#[no_mangle]
pub unsafe extern "C" fn tg_engine_set_event_callback(
    engine: *const tg_engine,
    callback: tg_event_callback,
    userdata: *mut c_void,
) -> tg_result {
    guard(|slot| {
        // SAFETY: the caller's contract.
        let e = unsafe { engine_arg(engine, slot) }?;
        let Some(f) = callback else {
            e.engine.unregister_callback(TG_EVENT_CALLBACK_NAME);
            return Ok(());
        };
        let data = UserData(userdata);
        let cb: tollgate_core::EventCallback = Arc::new(move |ev: &Event| {
            let Ok(text) = CString::new(ev.to_json().to_string()) else {
                return Verdict::Forbid("the event has a NUL byte".into());
            };
            let len = text.as_bytes().len();
            // SAFETY: the caller's contract: `f` and `userdata` are valid until replaced.
            let rc = unsafe { f(data.get(), text.as_ptr(), len) };
            if rc == 0 {
                Verdict::Allow
            } else {
                Verdict::Forbid(format!("the C callback returned {rc}"))
            }
        });
        e.engine
            .register_callback(TG_EVENT_CALLBACK_NAME, cb)
            .map_err(Failure::from)
    })
}
