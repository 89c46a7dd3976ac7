//! Real-time charging for softswitches: plain C structs in and out, money as decimal text in
//! fixed buffers inside the result structs (no allocation to free, never `double`).

use crate::boundary::{decimal, fill, guard, input, optional_text, output, text, Failure};
use crate::engine::{engine_arg, tg_engine};
use crate::result::tg_result;
use chrono::{DateTime, Utc};
use std::ffi::c_char;
use tollgate_core::{limits, Authorization, AuthorizeCall, Decimal, SettleRequest, Settlement};

/// Bytes of a decimal amount buffer, NUL included: enough for any amount Tollgate holds
/// (28 digits, a sign and a point).
pub const TG_DECIMAL_SIZE: usize = 48;

/// Bytes of a rate code buffer, NUL included.
pub const TG_CODE_SIZE: usize = 32;

const _: () = assert!(limits::rate_code_digits_max < TG_CODE_SIZE);

/// Most calls one `tg_settle_batch` takes.
pub const TG_SETTLE_BATCH_MAX: usize = 1000;

const _: () = assert!(TG_SETTLE_BATCH_MAX == limits::settle_many_max);

/// What a softswitch asks at call setup (`tg_authorize`).
#[repr(C)]
pub struct tg_authorize_request {
    /// The account identifier: IP address, SIP login, ANI or tech prefix. Required.
    pub account: *const c_char,
    /// `"ip"`, `"login"`, `"ani"` or `"tech_prefix"`; NULL tries them in that order.
    pub auth_type: *const c_char,
    /// The called number. Required.
    pub destination: *const c_char,
    /// The calling number (recorded only); may be NULL.
    pub source: *const c_char,
    /// Call start, seconds since 1970-01-01 UTC; 0 means now.
    pub time_unix: i64,
}

/// A granted call (`tg_authorize`, `tg_update`).
#[repr(C)]
pub struct tg_authorization {
    /// The reservation to extend, settle or release; never 0.
    pub reservation: u64,
    /// Longest affordable duration now (capped), in seconds.
    pub max_seconds: u64,
    /// Seconds this reservation holds funds for (`max_seconds` unless a quota is set).
    pub granted_seconds: u64,
    /// Account id.
    pub account: i64,
    /// Client id.
    pub client: i64,
    /// Currency id of the client (and of the amounts below).
    pub currency: i64,
    /// When the reservation expires unless settled or extended, seconds since 1970 UTC.
    pub expires_at_unix: i64,
    /// The matched rate code (destination prefix).
    pub code: [c_char; TG_CODE_SIZE],
    /// Price per minute, decimal text.
    pub rate: [c_char; TG_DECIMAL_SIZE],
    /// Setup fee, decimal text.
    pub setup_fee: [c_char; TG_DECIMAL_SIZE],
    /// Amount held for the granted seconds, decimal text.
    pub held: [c_char; TG_DECIMAL_SIZE],
}

/// What a softswitch reports at hangup (`tg_settle`).
#[repr(C)]
pub struct tg_settle_request {
    /// The reservation from `tg_authorize`; 0 when unknown (then `account`, `destination`
    /// and `connect_time_unix` are needed to price the call).
    pub reservation: u64,
    /// The call's unique id: a settle repeated with the same id charges once. Required.
    pub call_id: *const c_char,
    /// Duration in seconds.
    pub duration: u64,
    /// Account identifier, for a call without a known reservation; may be NULL.
    pub account: *const c_char,
    /// Its kind (as in `tg_authorize_request`); may be NULL.
    pub auth_type: *const c_char,
    /// Called number, for a call without a known reservation; may be NULL.
    pub destination: *const c_char,
    /// Calling number; may be NULL.
    pub source: *const c_char,
    /// Connect time, seconds since 1970 UTC, for a call without a known reservation; 0 when
    /// not given.
    pub connect_time_unix: i64,
}

/// A charged call (`tg_settle`).
#[repr(C)]
pub struct tg_settlement {
    /// The xDR id.
    pub xdr: i64,
    /// Client id.
    pub client: i64,
    /// Duration in seconds, as reported.
    pub duration: u64,
    /// Billed seconds after minimum volume, interval and grace.
    pub billed_seconds: u64,
    /// Cost charged in the client's currency, decimal text.
    pub cost: [c_char; TG_DECIMAL_SIZE],
    /// The client's balance after the charge, decimal text.
    pub balance: [c_char; TG_DECIMAL_SIZE],
    /// Charged without a known reservation.
    pub unreserved: bool,
    /// A repeat of an earlier settle with the same call id: nothing was charged again.
    pub replayed: bool,
}

fn time_arg(secs: i64, name: &str) -> Result<Option<DateTime<Utc>>, Failure> {
    if secs == 0 {
        return Ok(None);
    }
    DateTime::from_timestamp(secs, 0).map(Some).ok_or_else(|| {
        tollgate_core::Error::from(tollgate_core::error::ValidationError::invalid(
            name,
            "not a representable time",
        ))
        .into()
    })
}

fn money(d: Decimal, field: &str) -> Result<[c_char; TG_DECIMAL_SIZE], Failure> {
    decimal(d, field)
}

fn authorization(a: &Authorization) -> Result<tg_authorization, Failure> {
    Ok(tg_authorization {
        reservation: a.reservation,
        max_seconds: a.max_seconds,
        granted_seconds: a.granted_seconds,
        account: a.account,
        client: a.client,
        currency: a.currency,
        expires_at_unix: a.expires_at.timestamp(),
        code: fill(&a.code, "code")?,
        rate: money(a.rate, "rate")?,
        setup_fee: money(a.setup_fee, "setup_fee")?,
        held: money(a.held, "held")?,
    })
}

fn settlement(s: &Settlement) -> Result<tg_settlement, Failure> {
    Ok(tg_settlement {
        xdr: s.xdr,
        client: s.client,
        duration: s.duration,
        billed_seconds: s.billed_seconds,
        cost: money(s.cost, "cost")?,
        balance: money(s.balance, "balance")?,
        unreserved: s.unreserved,
        replayed: s.replayed,
    })
}

/// May this call go through, and for how long? Answered from memory. On success writes the
/// grant to `*authorization_out`. A refusal is its code: `TG_RESULT_ACCOUNT_NOT_FOUND`,
/// `TG_RESULT_BALANCE_INSUFFICIENT`, `TG_RESULT_CAPACITY_EXCEEDED`, `TG_RESULT_RATING_NO_RATE`,
/// `TG_RESULT_ACCOUNT_BLOCKED`, ...
///
/// # Safety
/// `engine` is a live handle; `request` points to a valid struct whose strings are NULL or
/// NUL-terminated; `authorization_out` is writable.
#[no_mangle]
pub unsafe extern "C" fn tg_authorize(
    engine: *const tg_engine,
    request: *const tg_authorize_request,
    authorization_out: *mut tg_authorization,
) -> tg_result {
    guard(|slot| {
        // SAFETY: the caller's contract for each pointer.
        let (e, r) = unsafe { (engine_arg(engine, slot)?, input(request, "request")?) };
        // SAFETY: the request's strings are NULL or NUL-terminated, and live for this call.
        let req = unsafe {
            AuthorizeCall {
                whole_grant: false,
                account: text(r.account, "account")?,
                auth_type: optional_text(r.auth_type, "auth_type")?,
                destination: text(r.destination, "destination")?,
                source: optional_text(r.source, "source")?,
                time: time_arg(r.time_unix, "time_unix")?,
            }
        };
        let out = output(authorization_out, "authorization_out")?;
        let a = authorization(&e.engine.authorize_call(req)?)?;
        // SAFETY: non-NULL and writable by the caller's contract.
        unsafe { out.write(a) };
        Ok(())
    })
}

/// Extend a reservation by another quota (or up to everything affordable). On success
/// writes the new grant to `*authorization_out`.
///
/// # Safety
/// `engine` is a live handle; `authorization_out` is writable.
#[no_mangle]
pub unsafe extern "C" fn tg_update(
    engine: *const tg_engine,
    reservation: u64,
    authorization_out: *mut tg_authorization,
) -> tg_result {
    guard(|slot| {
        // SAFETY: the caller's contract.
        let e = unsafe { engine_arg(engine, slot) }?;
        let out = output(authorization_out, "authorization_out")?;
        let a = authorization(&e.engine.update(reservation)?)?;
        // SAFETY: non-NULL and writable by the caller's contract.
        unsafe { out.write(a) };
        Ok(())
    })
}

/// A settle request as the engine takes it.
///
/// # Safety
/// `r`'s strings are NULL or NUL-terminated.
unsafe fn settle_request(r: &tg_settle_request) -> Result<SettleRequest, Failure> {
    let opt = |p, name| -> Result<Option<String>, Failure> {
        // SAFETY: the request's strings are NULL or NUL-terminated.
        Ok(unsafe { optional_text(p, name) }?.map(str::to_string))
    };
    Ok(SettleRequest {
        reservation: (r.reservation != 0).then_some(r.reservation),
        // SAFETY: NUL-terminated by the caller's contract.
        call_id: unsafe { text(r.call_id, "call_id") }?.to_string(),
        duration: r.duration,
        account: opt(r.account, "account")?,
        auth_type: opt(r.auth_type, "auth_type")?,
        destination: opt(r.destination, "destination")?,
        source: opt(r.source, "source")?,
        connect_time: time_arg(r.connect_time_unix, "connect_time_unix")?,
    })
}

/// Charge a finished call: exact cost, xDR and ledger entry in one durable transaction
/// (returns once it is on disk). The same `call_id` again returns the first result with
/// `replayed` set; with different content it is `TG_RESULT_IDEMPOTENCY_CONFLICT`. On success
/// writes the charge to `*settlement_out`.
///
/// # Safety
/// `engine` is a live handle; `request` points to a valid struct whose strings are NULL or
/// NUL-terminated; `settlement_out` is writable.
#[no_mangle]
pub unsafe extern "C" fn tg_settle(
    engine: *const tg_engine,
    request: *const tg_settle_request,
    settlement_out: *mut tg_settlement,
) -> tg_result {
    guard(|slot| {
        // SAFETY: the caller's contract for each pointer.
        let (e, r) = unsafe { (engine_arg(engine, slot)?, input(request, "request")?) };
        // SAFETY: the request's strings are NULL or NUL-terminated by the caller's contract.
        let req = unsafe { settle_request(r) }?;
        let out = output(settlement_out, "settlement_out")?;
        let s = settlement(&e.engine.settle(&req)?)?;
        // SAFETY: non-NULL and writable by the caller's contract.
        unsafe { out.write(s) };
        Ok(())
    })
}

/// Charge `count` finished calls together: they share group commits (one transaction and
/// one fsync for up to `TG_SETTLE_BATCH_MAX` of them), so a switch that hangs up many calls
/// at once pays one disk write for all. Not atomic: `results_out[i]` is call `i`'s own
/// result, exactly what `tg_settle` would have returned for it, and `settlements_out[i]` is
/// written when that is `TG_RESULT_OK`. Returns `TG_RESULT_OK` once every call has its result
/// (whatever they are); another code (a NULL pointer, more than `TG_SETTLE_BATCH_MAX` calls)
/// means no call was settled and nothing was written. Per-call refusals leave no message in
/// `tg_engine_last_error`: `tg_result_code` names them.
///
/// # Safety
/// `engine` is a live handle; `requests` points to `count` valid structs whose strings are
/// NULL or NUL-terminated; `settlements_out` and `results_out` each have room for `count`
/// elements. All three may be NULL when `count` is 0.
#[no_mangle]
pub unsafe extern "C" fn tg_settle_batch(
    engine: *const tg_engine,
    requests: *const tg_settle_request,
    count: usize,
    settlements_out: *mut tg_settlement,
    results_out: *mut tg_result,
) -> tg_result {
    guard(|slot| {
        // SAFETY: the caller's contract.
        let e = unsafe { engine_arg(engine, slot) }?;
        if count == 0 {
            return Ok(());
        }
        if count > TG_SETTLE_BATCH_MAX {
            return Err(Failure::new(
                tg_result::ValidationOutOfRange,
                format!("count: at most {TG_SETTLE_BATCH_MAX} settles at once"),
            ));
        }
        if requests.is_null() {
            return Err(Failure::null("requests"));
        }
        let settlements = output(settlements_out, "settlements_out")?;
        let results = output(results_out, "results_out")?;
        // SAFETY: `requests` points to `count` valid structs by the caller's contract.
        let requests = unsafe { std::slice::from_raw_parts(requests, count) };
        // A request that cannot be read is that call's refusal; the others go on.
        let mut outcome: Vec<tg_result> = Vec::with_capacity(count);
        let mut taken = Vec::with_capacity(count);
        let mut reqs = Vec::with_capacity(count);
        for (i, r) in requests.iter().enumerate() {
            // SAFETY: the request's strings are NULL or NUL-terminated by the caller's contract.
            match unsafe { settle_request(r) } {
                Ok(req) => {
                    taken.push(i);
                    reqs.push(req);
                    outcome.push(tg_result::Ok);
                }
                Err(f) => outcome.push(f.result),
            }
        }
        let mut charged: Vec<Option<tg_settlement>> = (0..count).map(|_| None).collect();
        for (i, r) in taken.into_iter().zip(e.engine.settle_many(&reqs)?) {
            match r.map_err(Failure::from).and_then(|s| settlement(&s)) {
                Ok(s) => charged[i] = Some(s),
                Err(f) => outcome[i] = f.result,
            }
        }
        for (i, (result, s)) in outcome.into_iter().zip(charged).enumerate() {
            // SAFETY: both arrays have room for `count` elements by the caller's contract.
            unsafe {
                results.add(i).write(result);
                if let Some(s) = s {
                    settlements.add(i).write(s);
                }
            }
        }
        Ok(())
    })
}

/// Close a reservation without charging (the call never connected).
///
/// # Safety
/// `engine` is a live handle.
#[no_mangle]
pub unsafe extern "C" fn tg_release(engine: *const tg_engine, reservation: u64) -> tg_result {
    guard(|slot| {
        // SAFETY: the caller's contract.
        let e = unsafe { engine_arg(engine, slot) }?;
        e.engine.release(reservation)?;
        Ok(())
    })
}
