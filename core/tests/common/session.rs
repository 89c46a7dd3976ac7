//! Helpers for tests that work with one admin session: a fresh engine with its SID, and
//! calls that take the SID.

use serde_json::{json, Value};
use std::sync::Arc;
use tollgate::{Engine, EngineOptions, Envelope, ManualClock};

pub const ADMIN: &str = "admin";
pub const PASSWORD: &str = "admin-password-1";

/// A fresh in-memory engine on a manual clock, with an admin session id.
pub fn engine() -> (Engine, Arc<ManualClock>, String) {
    let clock = Arc::new(ManualClock::new(
        tollgate::clock::parse_dt("2026-01-15 12:00:00").expect("date"),
    ));
    let opts = EngineOptions {
        clock: clock.clone(),
        ..EngineOptions::default()
    };
    let e = Engine::create_with(":memory:", ADMIN, PASSWORD, opts).expect("create");
    let r = e.call(
        "auth.login",
        json!({"auth": {"login": ADMIN, "password": PASSWORD}}),
    );
    assert!(r.code, "{:?}", r.errors);
    let sid = r.session_id.expect("sid");
    (e, clock, sid)
}

/// Call with the SID added.
pub fn call(e: &Engine, sid: &str, method: &str, mut params: Value) -> Envelope {
    params
        .as_object_mut()
        .expect("object params")
        .insert("SID".into(), json!(sid));
    e.call(method, params)
}

/// Call that must succeed; returns `return`.
pub fn ok(e: &Engine, sid: &str, method: &str, params: Value) -> Value {
    let r = call(e, sid, method, params.clone());
    assert!(r.code, "{method} {params} failed: {:?}", r.errors);
    r.ret
}

/// Call that must fail with `code`; returns the envelope.
pub fn fails(e: &Engine, sid: &str, method: &str, params: Value, code: &str) -> Envelope {
    let r = call(e, sid, method, params.clone());
    assert!(!r.code, "{method} {params} should fail with {code}");
    assert_eq!(
        r.errors[0].code.as_str(),
        code,
        "{method} {params}: {:?}",
        r.errors
    );
    assert_eq!(r.ret, json!([]));
    r
}

/// Authorize a call from the ANI account "100" (the tests' usual caller) to `dst`.
pub fn auth(e: &Engine, dst: &str) -> Result<tollgate::Authorization, tollgate::Error> {
    e.authorize(&tollgate::AuthorizeRequest {
        account: "100".into(),
        destination: dst.into(),
        ..Default::default()
    })
}

/// Settle a reserved call that must be charged.
pub fn settle(e: &Engine, reservation: u64, call: &str, duration: u64) -> tollgate::Settlement {
    e.settle(&tollgate::SettleRequest {
        reservation: Some(reservation),
        call_id: call.into(),
        duration,
        ..Default::default()
    })
    .expect("settled")
}

/// Add a client and return its id.
pub fn client(e: &Engine, sid: &str, name: &str) -> i64 {
    ok(e, sid, "clients.add", json!({"name": name}))["id"]
        .as_i64()
        .expect("id")
}
