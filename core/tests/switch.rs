//! What a switch is told and what it reports: a restart never hands a pre-restart reservation
//! id to another call (a switch settling its pre-crash call would charge another customer);
//! the xDR records the answer time and duration the switch reports, overruns included; every
//! settle is audited with its call id.

mod common;

use common::session::*;
use serde_json::json;
use tollgate::{AuthorizeRequest, Engine, SettleRequest};

/// A rate table (code 44 at 1/min) and two prepaid clients with ANI accounts `100` and `200`.
fn world(e: &Engine, sid: &str) -> (i64, i64) {
    let table = ok(e, sid, "rateTables.add", json!({"name": "Retail"}))["id"]
        .as_i64()
        .unwrap();
    ok(
        e,
        sid,
        "rates.add",
        json!({"id_rate_tables": table, "code": "44", "rate": "1", "effective_from": "2020-01-01"}),
    );
    let mut clients = Vec::new();
    for (name, ani) in [("first", "100"), ("second", "200")] {
        let c = ok(
            e,
            sid,
            "clients.add",
            json!({"name": name, "orig_rate_table": table}),
        )["id"]
            .as_i64()
            .unwrap();
        ok(
            e,
            sid,
            "accounts.add",
            json!({"id_clients": c, "name": ani, "auth_type": "ani", "ident": ani}),
        );
        ok(
            e,
            sid,
            "transactions.add",
            json!({"id_clients": c, "type": "payment", "amount": "10"}),
        );
        clients.push(c);
    }
    (clients[0], clients[1])
}

fn authorize(e: &Engine, ani: &str) -> tollgate::Authorization {
    e.authorize(&AuthorizeRequest {
        account: ani.into(),
        destination: "4420".into(),
        ..Default::default()
    })
    .expect("granted")
}

fn login(e: &Engine) -> String {
    e.call("auth.login", json!({"login": ADMIN, "password": PASSWORD}))
        .session_id
        .expect("sid")
}

#[test]
fn reservation_ids_are_never_reused_after_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let path = &common::db_path(dir.path(), "r.db");
    let before = {
        let e = Engine::create(path, ADMIN, PASSWORD).unwrap();
        let sid = login(&e);
        world(&e, &sid);
        // The first client's call is up on the switch when the process stops.
        authorize(&e, "100").reservation
    };
    let e = Engine::open(path).unwrap();
    let sid = login(&e);
    // Another customer's call after the restart gets an id no earlier run handed out.
    let after = authorize(&e, "200");
    assert_ne!(
        after.reservation, before,
        "a pre-restart id was handed out again"
    );
    assert!(after.reservation > before);
    assert!(
        after.reservation < 1 << 53,
        "ids stay exact in JSON numbers"
    );

    // The switch settles its pre-crash call by its old id: the first customer's call is
    // charged, and the other customer's call is untouched.
    let pre = e
        .settle(&SettleRequest {
            reservation: Some(before),
            call_id: "pre-crash".into(),
            duration: 60,
            ..Default::default()
        })
        .unwrap();
    assert_ne!(pre.client, after.client);
    assert!(!pre.unreserved);
    let second = ok(&e, &sid, "clients.list", json!({"q": "second"}))["rows"][0].clone();
    assert_eq!(second["balance"].to_string(), "10");
    // Settled once, the old id is unknown again: a replay with it answers the first result,
    // and an id never handed out is unknown.
    let forged = e
        .settle(&SettleRequest {
            reservation: Some(before + 1),
            call_id: "forged".into(),
            duration: 60,
            ..Default::default()
        })
        .unwrap_err();
    assert_eq!(forged.code().as_str(), "reservation.not_found");
    let s = e
        .settle(&SettleRequest {
            reservation: Some(after.reservation),
            call_id: "post-restart".into(),
            duration: 60,
            ..Default::default()
        })
        .unwrap();
    assert_eq!(s.client, after.client);
    assert_eq!(s.cost, tollgate::Decimal::ONE);

    // A third run starts above the second.
    drop(e);
    let e = Engine::open(path).unwrap();
    assert!(authorize(&e, "100").reservation > after.reservation);
}

fn engine_at(t: &str) -> (Engine, std::sync::Arc<tollgate::ManualClock>, String) {
    let clock = std::sync::Arc::new(tollgate::ManualClock::new(
        tollgate::clock::parse_dt(t).unwrap(),
    ));
    let e = Engine::create_with(
        &common::fresh_target(),
        ADMIN,
        PASSWORD,
        tollgate::EngineOptions {
            clock: clock.clone(),
            ..Default::default()
        },
    )
    .unwrap();
    let sid = login(&e);
    world(&e, &sid);
    (e, clock, sid)
}

fn xdr(e: &Engine, sid: &str, call: &str) -> serde_json::Value {
    ok(e, sid, "xdrs.list", json!({"call_id": call}))["rows"][0].clone()
}

#[test]
fn the_xdr_records_the_answer_time_the_switch_reports_not_the_authorize_time() {
    let (e, clock, sid) = engine_at("2026-03-01 12:00:00");
    let a = authorize(&e, "100");
    clock.advance_seconds(2); // ringing
    e.settle(&SettleRequest {
        reservation: Some(a.reservation),
        call_id: "rang".into(),
        duration: 60,
        connect_time: tollgate::clock::parse_dt("2026-03-01 12:00:02"),
        ..Default::default()
    })
    .unwrap();
    let x = xdr(&e, &sid, "rang");
    assert_eq!(x["connect_time"], "2026-03-01 12:00:02+00");
    assert_eq!(x["end_time"], "2026-03-01 12:01:02+00");
    // Without an answer time, the call connected its duration before the settle arrived.
    let a = authorize(&e, "100");
    clock.advance_seconds(100);
    e.settle(&SettleRequest {
        reservation: Some(a.reservation),
        call_id: "no-answer-time".into(),
        duration: 30,
        ..Default::default()
    })
    .unwrap();
    let x = xdr(&e, &sid, "no-answer-time");
    assert_eq!(x["connect_time"], "2026-03-01 12:01:12+00");
    assert_eq!(x["end_time"], "2026-03-01 12:01:42+00");
}

#[test]
fn a_call_the_switch_let_run_past_its_grant_is_charged_as_used_and_the_overrun_recorded() {
    let (e, _clock, sid) = engine_at("2026-03-01 12:00:00");
    // 10.00 at 1/min, billed per second: 600 seconds granted.
    let a = authorize(&e, "200");
    assert_eq!(a.max_seconds, 600);
    let s = e
        .settle(&SettleRequest {
            reservation: Some(a.reservation),
            call_id: "late-timer".into(),
            duration: 630,
            ..Default::default()
        })
        .unwrap();
    assert_eq!(s.cost, tollgate::Decimal::new(105, 1)); // 630 s at 1/min, past the balance
    let x = xdr(&e, &sid, "late-timer");
    assert_eq!(x["overrun_seconds"], json!(30));
    assert_eq!(x["duration"], json!(630));
    let ok_call = authorize(&e, "100");
    e.settle(&SettleRequest {
        reservation: Some(ok_call.reservation),
        call_id: "in-time".into(),
        duration: 60,
        ..Default::default()
    })
    .unwrap();
    assert_eq!(xdr(&e, &sid, "in-time")["overrun_seconds"], json!(0));
}

#[test]
fn every_settle_is_audited_with_its_call_id_and_a_replay_adds_nothing() {
    let (e, _clock, sid) = engine_at("2026-03-01 12:00:00");
    let a = authorize(&e, "100");
    let req = SettleRequest {
        reservation: Some(a.reservation),
        call_id: "audited-1".into(),
        duration: 61,
        ..Default::default()
    };
    let s = e.settle(&req).unwrap();
    assert!(e.settle(&req).unwrap().replayed);
    let rows = ok(&e, &sid, "audit.list", json!({"call_id": "audited-1"}));
    assert_eq!(rows["total"], json!(1), "{rows}");
    let row = &rows["rows"][0];
    assert_eq!(row["method"], "core.settle");
    assert_eq!(row["login"], "system");
    assert!(row["objects"]
        .as_str()
        .unwrap()
        .contains(&s.xdr.to_string()));
    // Through the Management API the row names the user who settled.
    let b = authorize(&e, "100");
    ok(
        &e,
        &sid,
        "core.settle",
        json!({"reservation": b.reservation, "call_id": "audited-2", "duration": 5}),
    );
    let rows = ok(&e, &sid, "audit.list", json!({"call_id": "audited-2"}));
    assert_eq!(rows["rows"][0]["login"], ADMIN);
}

#[test]
fn a_whole_grant_holds_everything_affordable_despite_the_quota() {
    let dir = tempfile::tempdir().unwrap();
    let path = &common::db_path(dir.path(), "w.db");
    drop(Engine::create(path, ADMIN, PASSWORD).unwrap());
    let e = Engine::open_with(
        path,
        tollgate::EngineOptions {
            config: tollgate::EngineConfig {
                charging: tollgate::config::ChargingConfig {
                    quota_seconds: Some(30),
                    ..Default::default()
                },
                ..Default::default()
            },
            ..Default::default()
        },
    )
    .unwrap();
    let sid = login(&e);
    world(&e, &sid);
    let quota = authorize(&e, "100");
    assert_eq!(quota.granted_seconds, 30);
    e.release(quota.reservation).unwrap();
    let whole = e
        .authorize(&AuthorizeRequest {
            account: "100".into(),
            destination: "4420".into(),
            whole_grant: true,
            ..Default::default()
        })
        .unwrap();
    assert_eq!(whole.granted_seconds, whole.max_seconds);
    assert!(whole.max_seconds > 30, "{whole:?}");
    assert_eq!(
        e.client_balance_cached(whole.client).unwrap().1,
        whole.held,
        "the whole grant is held"
    );
}
