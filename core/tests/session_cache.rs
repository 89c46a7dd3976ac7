//! Sessions checked from memory (issue 17): once a SID has been checked against the store its
//! answer comes from the engine's cache, which must give the store's answer. Every test warms
//! the cache first (a successful call with the SID), then changes something and expects the
//! very next call to see it: each one fails if the cache is not emptied on that change.

mod common;

use common::*;
use serde_json::{json, Value};
use tollgate::clock::Clock;
use tollgate::{Engine, EngineConfig};

/// A call with `sid` that must succeed; its `return`.
fn ok_sid(e: &Engine, sid: &str, method: &str, params: Value) -> Value {
    ok(e, method, with_sid(sid, params))
}

/// The first error code of a call with `sid`.
fn refused(e: &Engine, sid: &str, method: &str, params: Value) -> &'static str {
    err(&e.call(method, with_sid(sid, params)))
}

/// A role granting `permissions`, and a user of `company` with it, logged in.
fn user_with_role(w: &World, company: i64, login: &str, permissions: Value) -> (i64, i64, String) {
    let e = &w.engine;
    let role = ok_sid(
        e,
        &w.admin,
        "roles.add",
        json!({"name": format!("role of {login}"), "permissions": permissions}),
    )["id"]
        .as_i64()
        .unwrap();
    let user = ok_sid(
        e,
        &w.admin,
        "users.add",
        json!({"login": login, "password": USER_PW, "id_roles": role, "id_companies": company}),
    )["id"]
        .as_i64()
        .unwrap();
    (role, user, sid(e, login, USER_PW))
}

#[test]
fn a_cached_session_runs_as_the_principal_the_store_builds() {
    let w = world();
    let e = &w.engine;
    // First call: from the store; the next ones: from memory. Same user, company and rights.
    let first = ok_sid(e, &w.res_a, "auth.login", json!({}));
    let first_clients = ok_sid(e, &w.res_a, "clients.list", json!({}));
    for _ in 0..3 {
        assert_eq!(ok_sid(e, &w.res_a, "auth.login", json!({})), first);
        assert_eq!(
            ok_sid(e, &w.res_a, "clients.list", json!({})),
            first_clients
        );
    }
    assert_eq!(first["user"]["id"], w.a.user);
    assert_eq!(first["user"]["id_companies"], w.a.company);
    // The company subtree still applies: A sees its own client, not B's.
    assert!(ok_sid(
        e,
        &w.res_a,
        "clients.editForm",
        json!({"id_clients": w.a.client})
    )
    .is_object());
    assert_eq!(
        refused(
            e,
            &w.res_a,
            "clients.editForm",
            json!({"id_clients": w.b.client})
        ),
        "not_found"
    );
    // The monitoring role still may not write.
    ok_sid(e, &w.monitoring, "clients.list", json!({}));
    assert_eq!(
        refused(e, &w.monitoring, "clients.add", json!({"name": "no"})),
        "permission.denied"
    );
}

#[test]
fn a_logout_ends_a_cached_session_at_once() {
    let w = world();
    let e = &w.engine;
    ok_sid(e, &w.res_a, "clients.list", json!({}));
    ok_sid(e, &w.res_b, "clients.list", json!({}));
    ok_sid(e, &w.res_a, "auth.logout", json!({}));
    assert_eq!(
        refused(e, &w.res_a, "clients.list", json!({})),
        "auth.session_invalid"
    );
    // Other sessions go on (from the store again, then from memory).
    ok_sid(e, &w.res_b, "clients.list", json!({}));
    ok_sid(e, &w.res_b, "clients.list", json!({}));
}

#[test]
fn a_blocked_or_deleted_user_loses_a_cached_session_at_once() {
    let w = world();
    let e = &w.engine;
    ok_sid(e, &w.res_a, "clients.list", json!({}));
    ok_sid(
        e,
        &w.admin,
        "users.edit",
        json!({"id": w.a.user, "status": "blocked"}),
    );
    assert_eq!(
        refused(e, &w.res_a, "clients.list", json!({})),
        "auth.session_invalid"
    );
    ok_sid(e, &w.monitoring, "clients.list", json!({}));
    ok_sid(
        e,
        &w.admin,
        "users.delete",
        json!({"id": w.monitoring_user}),
    );
    assert_eq!(
        refused(e, &w.monitoring, "clients.list", json!({})),
        "auth.session_invalid"
    );
}

#[test]
fn a_role_change_applies_to_a_cached_session_at_once() {
    let w = world();
    let e = &w.engine;
    let (role, _, s) = user_with_role(&w, w.a.company, "reader-a", json!({"clients": ["read"]}));
    ok_sid(e, &s, "clients.list", json!({}));
    ok_sid(e, &s, "clients.list", json!({}));
    // The role loses the right: the session (not revoked) loses it with the next call.
    ok_sid(
        e,
        &w.admin,
        "roles.edit",
        json!({"id": role, "permissions": {"accounts": ["read"]}}),
    );
    assert_eq!(
        refused(e, &s, "clients.list", json!({})),
        "permission.denied"
    );
    ok_sid(e, &s, "accounts.list", json!({}));
    // And gets it back the same way.
    ok_sid(
        e,
        &w.admin,
        "roles.edit",
        json!({"id": role, "permissions": {"clients": ["read"]}}),
    );
    ok_sid(e, &s, "clients.list", json!({}));
}

#[test]
fn cached_sessions_expire_on_idle_and_absolute_limits() {
    let config = EngineConfig {
        session_idle_seconds: 600,
        session_lifetime_seconds: 3600,
        ..EngineConfig::default()
    };
    let (e, clock) = engine_with(config);
    // Idle: warm, then 599 s pass (alive, and touched), then 600 s without use.
    let s = sid(&e, ADMIN, ADMIN_PW);
    ok_sid(&e, &s, "clients.list", json!({}));
    clock.advance_seconds(599);
    ok_sid(&e, &s, "clients.list", json!({}));
    ok_sid(&e, &s, "clients.list", json!({}));
    clock.advance_seconds(600);
    assert_eq!(
        refused(&e, &s, "clients.list", json!({})),
        "auth.session_expired"
    );
    // Used more often than the idle limit, it still dies at its absolute lifetime.
    let s = sid(&e, ADMIN, ADMIN_PW);
    for _ in 0..7 {
        ok_sid(&e, &s, "clients.list", json!({}));
        clock.advance_seconds(514);
    }
    // 3,598 s after login.
    ok_sid(&e, &s, "clients.list", json!({}));
    clock.advance_seconds(2);
    assert_eq!(
        refused(&e, &s, "clients.list", json!({})),
        "auth.session_expired"
    );
}

#[test]
fn a_refresh_token_replay_ends_the_cached_session() {
    let (e, clock) = engine();
    let (status, first) = e.rest(
        "Session",
        "login",
        &json!({"params": {"login": ADMIN, "password": ADMIN_PW}}),
        None,
    );
    assert_eq!(status, 200, "{first}");
    let s = first["session_id"].as_str().unwrap().to_string();
    ok_sid(&e, &s, "clients.list", json!({}));
    clock.advance_seconds(60);
    let refresh = |rt: &Value| {
        e.rest(
            "Session",
            "refresh_access_token",
            &json!({"params": {"refresh_token": rt}}),
            None,
        )
    };
    assert_eq!(refresh(&first["refresh_token"]).0, 200);
    ok_sid(&e, &s, "clients.list", json!({}));
    // The spent token again: the whole session is revoked, its SID too.
    assert_eq!(refresh(&first["refresh_token"]).0, 500);
    assert_eq!(
        refused(&e, &s, "clients.list", json!({})),
        "auth.session_invalid"
    );
}

#[test]
fn a_login_that_prunes_a_users_oldest_session_ends_it_at_once() {
    let (e, _clock) = engine();
    let oldest = sid(&e, ADMIN, ADMIN_PW);
    ok_sid(&e, &oldest, "clients.list", json!({}));
    // `limits::sessions_per_user_max` open sessions per user: the next logins close the oldest.
    for _ in 0..tollgate::limits::sessions_per_user_max {
        sid(&e, ADMIN, ADMIN_PW);
    }
    assert_eq!(
        refused(&e, &oldest, "clients.list", json!({})),
        "auth.session_invalid"
    );
}

/// `last_seen` of every session, by row id (SQLite file only).
fn stored_last_seen(path: &str) -> Vec<i64> {
    let conn = rusqlite::Connection::open(path).unwrap();
    let mut stmt = conn
        .prepare("SELECT last_seen FROM sessions ORDER BY id")
        .unwrap();
    let rows = stmt.query_map([], |r| r.get(0)).unwrap();
    rows.map(Result::unwrap).collect()
}

#[test]
fn last_seen_is_written_at_most_once_a_minute_and_idle_holds_across_a_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let path = db_path(dir.path(), "sessions.db");
    let config = EngineConfig {
        session_idle_seconds: 600,
        ..EngineConfig::default()
    };
    let clock = clock();
    let t0 = clock.now().timestamp();
    let e = Engine::create_with(&path, ADMIN, ADMIN_PW, options(&clock, config.clone())).unwrap();
    let a = sid(&e, ADMIN, ADMIN_PW);
    let b = sid(&e, ADMIN, ADMIN_PW);
    for (step, calls) in [(30, 50), (31, 50), (30, 50)] {
        clock.advance_seconds(step);
        for _ in 0..calls {
            ok_sid(&e, &a, "clients.list", json!({}));
            ok_sid(&e, &b, "clients.list", json!({}));
        }
    }
    drop(e);
    if !on_postgres() {
        // Used at t0+30, t0+61 and t0+91, 50 times each: written once, at t0+61 (the first
        // use a minute or more after the last write); per-request writes would say t0+91.
        assert_eq!(stored_last_seen(&path), vec![t0 + 61, t0 + 61]);
    }
    // A restarted engine decides from what was written, as the cache did: idle 600 s after
    // t0+61, at most one touch interval earlier than the last use.
    let e = Engine::open_with(&path, options(&clock, config)).unwrap();
    clock.advance_seconds(660 - 91); // t0+660
    ok_sid(&e, &a, "clients.list", json!({}));
    clock.advance_seconds(1); // t0+661
    assert_eq!(
        refused(&e, &b, "clients.list", json!({})),
        "auth.session_expired"
    );
    ok_sid(&e, &a, "clients.list", json!({}));
}
