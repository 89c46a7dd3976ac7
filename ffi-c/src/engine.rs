//! The engine handle: create, open, close, the Management API and REST as JSON text, and the
//! last error.

use crate::boundary::{self, catch, guard, input, last_error, optional_text, output, text};
use crate::boundary::{Failure, Slot, NO_HANDLE};
use crate::result::tg_result;
use std::ffi::{c_char, CString};
use std::sync::atomic::{AtomicU64, Ordering};
use tollgate_core::wire::{self, JsonTextError};
use tollgate_core::{Engine, EngineOptions, EngineSettings, ErrorCode};

/// An open Tollgate engine: one database. Made by `tg_engine_create` or `tg_engine_open`,
/// destroyed by `tg_engine_close`. Every function may be called on one engine from many
/// threads at once (except `tg_engine_close`, which must be the last call on it).
pub struct tg_engine {
    pub(crate) engine: Engine,
    /// Names this handle's last-error slot; never reused within a process.
    pub(crate) slot: Slot,
}

/// Serials for handles; 0 is [`NO_HANDLE`].
static NEXT_SLOT: AtomicU64 = AtomicU64::new(1);

impl tg_engine {
    fn boxed(engine: Engine) -> *mut tg_engine {
        let slot = NEXT_SLOT.fetch_add(1, Ordering::Relaxed);
        Box::into_raw(Box::new(tg_engine { engine, slot }))
    }
}

/// Check an engine argument and point the failure slot at it.
///
/// # Safety
/// `p` is NULL or a live handle from `tg_engine_create`/`tg_engine_open`.
pub(crate) unsafe fn engine_arg<'a>(
    p: *const tg_engine,
    slot: &mut Slot,
) -> Result<&'a tg_engine, Failure> {
    // SAFETY: the caller's contract.
    let e = unsafe { input(p, "engine") }?;
    *slot = e.slot;
    Ok(e)
}

/// Create a new database at `path` (a file that must not exist yet, or `":memory:"`) with
/// one administrator, and open it. On success writes the new handle to `*engine_out`.
///
/// # Safety
/// The strings are NUL-terminated; `engine_out` points to writable storage.
#[no_mangle]
pub unsafe extern "C" fn tg_engine_create(
    path: *const c_char,
    admin_login: *const c_char,
    admin_password: *const c_char,
    engine_out: *mut *mut tg_engine,
) -> tg_result {
    guard(|_| {
        // SAFETY: the strings are the caller's NUL-terminated inputs.
        let (path, login, password) = unsafe {
            (
                text(path, "path")?,
                text(admin_login, "admin_login")?,
                text(admin_password, "admin_password")?,
            )
        };
        let out = output(engine_out, "engine_out")?;
        let engine = Engine::create(path, login, password)?;
        // SAFETY: `out` is non-NULL and writable by the caller's contract.
        unsafe { out.write(tg_engine::boxed(engine)) };
        Ok(())
    })
}

/// Open an existing database at `path`. On success writes the new handle to `*engine_out`.
/// A file that is not a Tollgate database, or one in use by another engine, is refused
/// (`TG_RESULT_STORE_NOT_TOLLGATE`, `TG_RESULT_STORE_IN_USE`).
///
/// # Safety
/// `path` is NUL-terminated; `engine_out` points to writable storage.
#[no_mangle]
pub unsafe extern "C" fn tg_engine_open(
    path: *const c_char,
    engine_out: *mut *mut tg_engine,
) -> tg_result {
    guard(|_| {
        // SAFETY: the caller's NUL-terminated input.
        let path = unsafe { text(path, "path") }?;
        let out = output(engine_out, "engine_out")?;
        let engine = Engine::open(path)?;
        // SAFETY: `out` is non-NULL and writable by the caller's contract.
        unsafe { out.write(tg_engine::boxed(engine)) };
        Ok(())
    })
}

/// Engine settings from `settings_json`: NULL or `{}` for the defaults, else an object with
/// any of `clock_interval_ms` (0: no background clock, the library's default),
/// `quota_seconds`, `reservation_margin_seconds`, `max_call_seconds`. An unknown key or a
/// value out of range is `TG_RESULT_VALIDATION_INVALID`.
///
/// # Safety
/// `settings_json` is NULL or NUL-terminated.
unsafe fn settings_arg(settings_json: *const c_char) -> Result<EngineOptions, Failure> {
    // SAFETY: the caller's contract.
    let text = unsafe { optional_text(settings_json, "settings_json") }?;
    let value = match text {
        None => serde_json::Value::Null,
        Some(t) => parse_json(t, "settings_json")?,
    };
    let invalid = |m: String| Failure::new(tg_result::from_code(ErrorCode::ValidationInvalid), m);
    let settings = EngineSettings::from_json(&value).map_err(invalid)?;
    let mut opts = EngineOptions::default();
    settings.apply(&mut opts.config).map_err(invalid)?;
    Ok(opts)
}

/// `tg_engine_create` with engine settings (see `tg_engine_open_with`).
///
/// # Safety
/// The strings are NUL-terminated (`settings_json` may be NULL); `engine_out` is writable.
#[no_mangle]
pub unsafe extern "C" fn tg_engine_create_with(
    path: *const c_char,
    admin_login: *const c_char,
    admin_password: *const c_char,
    settings_json: *const c_char,
    engine_out: *mut *mut tg_engine,
) -> tg_result {
    guard(|_| {
        // SAFETY: the strings are the caller's NUL-terminated inputs.
        let (path, login, password, opts) = unsafe {
            (
                text(path, "path")?,
                text(admin_login, "admin_login")?,
                text(admin_password, "admin_password")?,
                settings_arg(settings_json)?,
            )
        };
        let out = output(engine_out, "engine_out")?;
        let engine = Engine::create_with(path, login, password, opts)?;
        // SAFETY: `out` is non-NULL and writable by the caller's contract.
        unsafe { out.write(tg_engine::boxed(engine)) };
        Ok(())
    })
}

/// `tg_engine_open` with engine settings as a JSON object (NULL: the defaults), e.g.
/// `{"clock_interval_ms": 1000, "quota_seconds": 60}`: with `clock_interval_ms` the engine
/// keeps time by itself (reservation expiry, subscription renewals, event retries) on a
/// background thread that `tg_engine_close` stops. `tg_engine_status` shows the settings.
///
/// # Safety
/// `path` is NUL-terminated, `settings_json` NULL or NUL-terminated; `engine_out` is writable.
#[no_mangle]
pub unsafe extern "C" fn tg_engine_open_with(
    path: *const c_char,
    settings_json: *const c_char,
    engine_out: *mut *mut tg_engine,
) -> tg_result {
    guard(|_| {
        // SAFETY: the caller's NUL-terminated inputs.
        let (path, opts) = unsafe { (text(path, "path")?, settings_arg(settings_json)?) };
        let out = output(engine_out, "engine_out")?;
        let engine = Engine::open_with(path, opts)?;
        // SAFETY: `out` is non-NULL and writable by the caller's contract.
        unsafe { out.write(tg_engine::boxed(engine)) };
        Ok(())
    })
}

/// The engine's live state as JSON text, as `core.status` shows it to the operator:
/// `version`, `schema_version`, `last_tick` (null until the clock first ran),
/// `open_reservations`, `held_total` (`{"USD": "12.5000"}`), `outbox_pending` and
/// `settings`. On `TG_RESULT_OK` writes it to `*status_out`; free it with `tg_string_free`.
///
/// # Safety
/// `engine` is a live handle; `status_out` is writable.
#[no_mangle]
pub unsafe extern "C" fn tg_engine_status(
    engine: *const tg_engine,
    status_out: *mut *mut c_char,
) -> tg_result {
    guard(|slot| {
        // SAFETY: the caller's contract.
        let e = unsafe { engine_arg(engine, slot) }?;
        let out = output(status_out, "status_out")?;
        let s = boundary::owned_string(e.engine.status()?.to_string())?;
        // SAFETY: non-NULL and writable by the caller's contract.
        unsafe { out.write(s) };
        Ok(())
    })
}

/// Close an engine and free its handle. NULL is a no-op. No other call may be running on
/// the handle, or be made with it afterwards.
///
/// # Safety
/// `engine` is NULL or a live handle not used by any other thread during or after this call.
#[no_mangle]
pub unsafe extern "C" fn tg_engine_close(engine: *mut tg_engine) {
    catch((), || {
        if !engine.is_null() {
            // SAFETY: a live handle from `tg_engine::boxed`, given up by the caller.
            let e = unsafe { Box::from_raw(engine) };
            // Stop the background threads first (joined: a clock pass in flight finishes),
            // so the database is closed when this returns.
            e.engine.close();
            drop(e);
        }
    })
}

/// The message of the last call on `engine` that failed on the calling thread, or "" when
/// there is none. With NULL: the last failure on this thread of a call that had no engine
/// (`tg_engine_open`, `tg_engine_create`, or any call given a NULL engine).
///
/// Per handle and per thread: a failure on another thread, or on another engine, never
/// changes it; a successful call does not clear it, so read it right after a call returned
/// something other than `TG_RESULT_OK`. The string belongs to the library: do not free it.
/// It stays valid until the same thread's next failure on the same engine, or until that
/// thread exits (or has since failed on 16 other engines).
///
/// # Safety
/// `engine` is NULL or a live handle.
#[no_mangle]
pub unsafe extern "C" fn tg_engine_last_error(engine: *const tg_engine) -> *const c_char {
    catch(c"".as_ptr(), || {
        // SAFETY: NULL or a live handle by the caller's contract.
        let slot = unsafe { engine.as_ref() }.map_or(NO_HANDLE, |e| e.slot);
        last_error::get(slot)
    })
}

/// Parse JSON text given to `tg_call` or `tg_rest` by the engine's rule (within the request
/// size limit); the message names the argument.
fn parse_json(s: &str, name: &str) -> Result<serde_json::Value, Failure> {
    wire::parse_json(s).map_err(|e| {
        let message = match &e {
            JsonTextError::TooLarge { len, max } => {
                format!("'{name}' is {len} bytes; the limit is {max}")
            }
            JsonTextError::Invalid(reason) => format!("'{name}' is not valid JSON: {reason}"),
            other => format!("'{name}': {other}"),
        };
        Failure::new(tg_result::from_code(e.code()), message)
    })
}

/// Call a Management API method (`clients.add`, `auth.login`, ...) with `params_json`, a JSON
/// object carrying `auth` or `SID` as over JSON-RPC. On `TG_RESULT_OK` writes the reply
/// envelope `{code, session_id, messages, return, errors}` as JSON text to `*envelope_out`;
/// free it with `tg_string_free`.
///
/// `TG_RESULT_OK` means the engine answered: a refused call (bad login, missing argument,
/// unknown method...) is still an envelope, with `"code": false` and `errors[].code` naming
/// the reason. Only a request the engine never saw fails the call itself: a NULL argument,
/// text that is not UTF-8 (`TG_RESULT_INVALID_UTF8`) or not JSON
/// (`TG_RESULT_MALFORMED_REQUEST`).
///
/// # Safety
/// `engine` is a live handle; the strings are NUL-terminated; `envelope_out` is writable.
#[no_mangle]
pub unsafe extern "C" fn tg_call(
    engine: *const tg_engine,
    method: *const c_char,
    params_json: *const c_char,
    envelope_out: *mut *mut c_char,
) -> tg_result {
    guard(|slot| {
        // SAFETY: the caller's contract for each argument.
        let (e, method, params) = unsafe {
            (
                engine_arg(engine, slot)?,
                text(method, "method")?,
                text(params_json, "params_json")?,
            )
        };
        let out = output(envelope_out, "envelope_out")?;
        let params = parse_json(params, "params_json")?;
        let reply = e.engine.call(method, params).to_json().to_string();
        let s = boundary::owned_string(reply)?;
        // SAFETY: non-NULL and writable by the caller's contract.
        unsafe { out.write(s) };
        Ok(())
    })
}

/// Answer a PortaBilling-style REST call `/rest/<service>/<method>` with `body_json`
/// (`{"auth_info": ..., "params": ...}`) and an optional access token `bearer` (NULL for
/// none; a leading `Bearer ` is accepted). On `TG_RESULT_OK` writes the HTTP status to
/// `*status_out` and the JSON body to `*body_out` (free it with `tg_string_free`); a refused
/// call is `TG_RESULT_OK` with status 500 and a `faultcode` body, as over HTTP.
///
/// # Safety
/// `engine` is a live handle; the strings are NUL-terminated (`bearer` may be NULL); the
/// outputs are writable.
#[no_mangle]
pub unsafe extern "C" fn tg_rest(
    engine: *const tg_engine,
    service: *const c_char,
    method: *const c_char,
    body_json: *const c_char,
    bearer: *const c_char,
    status_out: *mut u16,
    body_out: *mut *mut c_char,
) -> tg_result {
    guard(|slot| {
        // SAFETY: the caller's contract for each argument.
        let (e, service, method, body, bearer) = unsafe {
            (
                engine_arg(engine, slot)?,
                text(service, "service")?,
                text(method, "method")?,
                text(body_json, "body_json")?,
                optional_text(bearer, "bearer")?,
            )
        };
        let status_out = output(status_out, "status_out")?;
        let body_out = output(body_out, "body_out")?;
        let body = parse_json(body, "body_json")?;
        let (status, reply) = e.engine.rest(service, method, &body, bearer);
        let s = boundary::owned_string(reply.to_string())?;
        // SAFETY: both outputs are non-NULL and writable by the caller's contract.
        unsafe {
            status_out.write(status);
            body_out.write(s);
        }
        Ok(())
    })
}

/// Free a string the library returned (`tg_call`, `tg_rest`, `tg_engine_status`). NULL is a no-op.
///
/// # Safety
/// `s` is NULL or a string from this library not freed before.
#[no_mangle]
pub unsafe extern "C" fn tg_string_free(s: *mut c_char) {
    catch((), || {
        if !s.is_null() {
            // SAFETY: made by `CString::into_raw` in `owned_string`, given back once.
            drop(unsafe { CString::from_raw(s) });
        }
    })
}
