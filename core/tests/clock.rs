//! The engine keeps time by itself when asked to (`EngineConfig::clock_interval_ms`), and
//! `core.status` reports its live state, scoped to the caller's subtree.

mod common;

use common::*;
use serde_json::{json, Value};
use std::time::{Duration, Instant};
use tollgate::EngineConfig;

/// What the clients of a status hold in USD.
fn held(v: &Value) -> tollgate::Decimal {
    v["held_total"]["USD"]
        .to_string()
        .trim_matches('"')
        .parse()
        .unwrap()
}

fn status(w: &World, sid: &str) -> Value {
    ok(&w.engine, "core.status", with_sid(sid, json!({})))
}

/// Poll `cond` for up to 10 s (the clock beats every 20 ms here).
fn eventually(mut cond: impl FnMut() -> bool) -> bool {
    let until = Instant::now() + Duration::from_secs(10);
    while Instant::now() < until {
        if cond() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    false
}

#[test]
fn the_engines_clock_releases_expired_reservations_without_anyone_calling_tick() {
    let w = world_with(EngineConfig {
        clock_interval_ms: Some(20),
        ..EngineConfig::default()
    });
    let s = status(&w, &w.admin);
    assert_eq!(s["open_reservations"], json!(4));
    assert_eq!(s["settings"]["clock_interval_ms"], json!(20));
    // Time passes on the engine's clock past every reservation's expiry (3 h cap + margin).
    w.clock.advance_seconds(4 * 60 * 60);
    let admin = sid(&w.engine, ADMIN, ADMIN_PW); // the old session expired meanwhile
    assert!(
        eventually(|| status(&w, &admin)["open_reservations"] == json!(0)),
        "the clock never released the expired reservations"
    );
    let s = status(&w, &admin);
    assert!(s["last_tick"].is_string(), "{s}");
    assert_eq!(held(&s), tollgate::Decimal::ZERO);
}

#[test]
fn without_the_clock_nothing_moves_until_tick() {
    let w = world();
    w.clock.advance_seconds(4 * 60 * 60);
    std::thread::sleep(Duration::from_millis(100));
    let admin = sid(&w.engine, ADMIN, ADMIN_PW); // the old session expired meanwhile
    let s = status(&w, &admin);
    assert_eq!(s["open_reservations"], json!(4));
    assert!(s["last_tick"].is_null());
    assert_eq!(
        w.engine
            .tick(tollgate::Clock::now(w.clock.as_ref()))
            .unwrap()
            .reservations_released,
        4
    );
    assert_eq!(status(&w, &admin)["open_reservations"], json!(0));
}

#[test]
fn core_status_counts_only_the_callers_subtree_and_needs_core_read() {
    let w = world();
    let e = &w.engine;
    let watch_a = user_with_rights(&w, w.a.company, "watch-a", json!({"core": ["read"]}));
    let all = status(&w, &w.admin);
    let mine = status(&w, &watch_a);
    assert_eq!(all["open_reservations"], json!(4));
    assert_eq!(mine["open_reservations"], json!(2), "A and A1 only: {mine}");
    assert!(held(&mine) > tollgate::Decimal::ZERO);
    assert!(held(&mine) < held(&all));
    assert_eq!(mine["schema_version"], all["schema_version"]);
    // A reseller without `core: read` is refused, and the call changes nothing.
    assert_eq!(
        err(&e.call("core.status", with_sid(&w.res_a, json!({})))),
        "permission.denied"
    );
    assert_eq!(err(&e.call("core.status", json!({}))), "auth.required");
}
