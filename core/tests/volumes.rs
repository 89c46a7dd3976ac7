//! Included volumes: bundled seconds are spent before money, counted in `authorize`, held so
//! that concurrent calls never over-consume them, bounded by the database's own count, reset
//! at renewal, and recorded on every xDR.

mod common;
use common::session::*;
use serde_json::{json, Value};
use std::str::FromStr;
use std::sync::Arc;
use tollgate::clock::parse_dt;
use tollgate::{Decimal, Engine, EngineOptions, ManualClock, SettleRequest};

fn d(s: &str) -> Decimal {
    Decimal::from_str(s).unwrap()
}

fn balance(e: &Engine, sid: &str, c: i64) -> Decimal {
    d(&ok(e, sid, "clients.editForm", json!({"id": c}))["client"]["balance"].to_string())
}

/// A client with `funds`, account ANI "100", rates 0.6/min for 44 (1/1 billing, setup 0.3)
/// and 1.2/min for 33; a plan (activation 1, 10 a month) bundling 600 s a month to 44,
/// subscribed and active. Returns (client, subscription).
fn setup(e: &Engine, sid: &str, funds: &str) -> (i64, i64) {
    let table = ok(e, sid, "rateTables.add", json!({"name": "Retail"}))["id"]
        .as_i64()
        .unwrap();
    for (code, rate) in [("44", "0.6"), ("33", "1.2")] {
        ok(
            e,
            sid,
            "rates.add",
            json!({"id_rate_tables": table, "code": code, "code_name": code, "rate": rate, "min_volume": 1, "interval": 1, "setup_fee": "0.3", "effective_from": "2020-01-01"}),
        );
    }
    let c = ok(
        e,
        sid,
        "clients.add",
        json!({"name": "Bundle", "orig_rate_table": table}),
    )["id"]
        .as_i64()
        .unwrap();
    ok(
        e,
        sid,
        "accounts.add",
        json!({"id_clients": c, "name": "ani", "auth_type": "ani", "ident": "100"}),
    );
    ok(
        e,
        sid,
        "transactions.add",
        json!({"id_clients": c, "type": "payment", "amount": funds}),
    );
    let p = ok(
        e,
        sid,
        "packages.add",
        json!({"name": "UK 10", "activation_fee": "1", "periodical_fee": "10", "period": "P1M",
               "volumes": "[{\"prefixes\": [\"44\"], \"seconds\": 600}]"}),
    )["id"]
        .as_i64()
        .unwrap();
    let sub = ok(
        e,
        sid,
        "clients.packagesAdd",
        json!({"id_clients": c, "id_packages": p}),
    );
    assert_eq!(sub["subscription"]["status"], "active", "{sub}");
    (c, sub["id"].as_i64().unwrap())
}

/// The subscription's volume as `clients.packagesList` shows it: (used, remaining).
fn volume(e: &Engine, sid: &str, c: i64) -> (u64, u64) {
    let r = ok(e, sid, "clients.packagesList", json!({"id_clients": c}));
    let v = &r["rows"][0]["volumes"][0];
    (
        v["used_seconds"].as_u64().unwrap(),
        v["remaining_seconds"].as_u64().unwrap(),
    )
}

#[test]
fn bundled_seconds_come_before_money_and_reset_at_renewal() {
    let (e, clock, sid) = engine();
    let (c, sub) = setup(&e, &sid, "30");
    assert_eq!(balance(&e, &sid, c), d("19")); // activation 1 + first month 10
    assert_eq!(volume(&e, &sid, c), (0, 600));

    // 600 bundled seconds, then 19 / 0.6 per minute = 1900 s of money: 2500 s.
    let a = auth(&e, "4420").unwrap();
    assert_eq!(a.max_seconds, 2500);
    assert_eq!(a.volume_seconds, 600);
    assert_eq!(a.subscription, Some(sub));
    assert_eq!(a.held, d("19.00"));
    // Wholly inside the bundle: free, and no setup fee.
    let s = settle(&e, a.reservation, "v1", 100);
    assert_eq!(
        (s.cost, s.volume_seconds, s.subscription),
        (d("0"), 100, Some(sub))
    );
    assert_eq!(balance(&e, &sid, c), d("19"));
    assert_eq!(volume(&e, &sid, c), (100, 500));

    // Past the bundle: 500 s free, 50 s at 0.6/min, still no setup fee.
    let a = auth(&e, "4420").unwrap();
    assert_eq!((a.max_seconds, a.volume_seconds), (2400, 500));
    let s = settle(&e, a.reservation, "v2", 550);
    assert_eq!((s.cost, s.volume_seconds), (d("0.50"), 500));
    assert_eq!(balance(&e, &sid, c), d("18.50"));
    assert_eq!(volume(&e, &sid, c), (600, 0));

    // The bundle is spent: money only, setup fee included.
    let a = auth(&e, "4420").unwrap();
    assert_eq!((a.volume_seconds, a.subscription), (0, None));
    let s = settle(&e, a.reservation, "v3", 60);
    assert_eq!(
        (s.cost, s.volume_seconds, s.subscription),
        (d("0.90"), 0, None)
    );
    // A destination outside the bundle never touches it.
    let a = auth(&e, "3310").unwrap();
    assert_eq!(a.volume_seconds, 0);
    settle(&e, a.reservation, "v4", 60);
    assert_eq!(balance(&e, &sid, c), d("16.10")); // 0.90 + (0.3 + 1.2)

    // The xDRs say how many seconds came from which subscription.
    let x = ok(&e, &sid, "xdrs.list", json!({"id_clients": c}));
    let by_call: Vec<(String, Value, Value)> = x["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["call_id"].as_str().unwrap().to_string(),
                r["volume_seconds"].clone(),
                r["id_subscriptions"].clone(),
            )
        })
        .collect();
    assert!(by_call.contains(&("v1".into(), json!(100), json!(sub))));
    assert!(by_call.contains(&("v2".into(), json!(500), json!(sub))));
    assert!(by_call.contains(&("v3".into(), json!(0), Value::Null)));

    // The next month renews (10) and the bundle starts afresh.
    clock.set(parse_dt("2026-02-15 12:00:00").unwrap());
    let t = e.tick(parse_dt("2026-02-15 12:00:00").unwrap()).unwrap();
    assert_eq!(t.subscriptions.renewed, 1);
    let sid = e
        .call("auth.login", json!({"login": ADMIN, "password": PASSWORD}))
        .session_id
        .unwrap();
    assert_eq!(balance(&e, &sid, c), d("6.10"));
    assert_eq!(volume(&e, &sid, c), (0, 600));
    let a = auth(&e, "4420").unwrap();
    assert_eq!(a.volume_seconds, 600);
    let s = settle(&e, a.reservation, "v5", 30);
    assert_eq!((s.cost, s.volume_seconds), (d("0"), 30));
    assert!(e.verify_client_ledger(c).unwrap());
}

#[test]
fn a_client_without_money_still_calls_on_its_bundle() {
    let (e, _clock, sid) = engine();
    let (c, _) = setup(&e, &sid, "11");
    assert_eq!(balance(&e, &sid, c), d("0"));
    let a = auth(&e, "4420").unwrap();
    assert_eq!(
        (a.max_seconds, a.volume_seconds, a.held),
        (600, 600, d("0"))
    );
    // A second call at the same time finds the bundle held and no money: refused.
    let err = auth(&e, "4420").unwrap_err();
    assert_eq!(err.code().as_str(), "balance.insufficient");
    // Money-only destinations are refused too.
    assert_eq!(
        auth(&e, "3310").unwrap_err().code().as_str(),
        "balance.insufficient"
    );
    // Settling frees what the call did not use.
    settle(&e, a.reservation, "z1", 200);
    let b = auth(&e, "4420").unwrap();
    assert_eq!((b.max_seconds, b.volume_seconds), (400, 400));
    e.release(b.reservation).unwrap();
    assert_eq!(balance(&e, &sid, c), d("0"));
}

#[test]
fn bundled_minutes_shared_by_concurrent_calls_are_never_over_consumed() {
    let (e, _clock, sid) = engine();
    let (c, sub) = setup(&e, &sid, "11"); // no money left: only the 600 bundled seconds
    let e = Arc::new(e);
    // Every thread calls until the bundle is spent (a grant holds the whole remainder, so
    // while one call is up the others are refused): the loop ends on the shared count, not on
    // a number of tries that a slow scheduler could exhaust first. Bounded all the same.
    let spent = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let threads: Vec<_> = (0..8)
        .map(|t| {
            let (e, spent) = (Arc::clone(&e), Arc::clone(&spent));
            std::thread::spawn(move || {
                let mut used = 0u64;
                for k in 0..20_000 {
                    if spent.load(std::sync::atomic::Ordering::SeqCst) >= 600 {
                        break;
                    }
                    match auth(&e, "4420") {
                        Ok(a) => {
                            let s = settle(
                                &e,
                                a.reservation,
                                &format!("t{t}-{k}"),
                                a.max_seconds.min(37),
                            );
                            assert_eq!(s.cost, Decimal::ZERO);
                            used += s.volume_seconds;
                            spent.fetch_add(s.volume_seconds, std::sync::atomic::Ordering::SeqCst);
                        }
                        Err(err) => {
                            assert_eq!(err.code().as_str(), "balance.insufficient");
                            std::thread::yield_now();
                        }
                    }
                }
                used
            })
        })
        .collect();
    let used: u64 = threads.into_iter().map(|t| t.join().unwrap()).sum();
    assert_eq!(used, 600, "every bundled second used once, none twice");
    assert_eq!(volume(&e, &sid, c), (600, 0));
    assert_eq!(balance(&e, &sid, c), d("0"));
    let x = ok(
        &e,
        &sid,
        "xdrs.list",
        json!({"id_subscriptions": sub, "limit": 1000}),
    );
    let total: u64 = x["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["volume_seconds"].as_u64().unwrap())
        .sum();
    assert_eq!(total, 600);
}

#[test]
fn usage_and_a_held_volume_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let path = &common::db_path(dir.path(), "v.db");
    let clock = Arc::new(ManualClock::new(parse_dt("2026-01-15 12:00:00").unwrap()));
    let opts = || EngineOptions {
        clock: clock.clone(),
        ..EngineOptions::default()
    };
    let login = |e: &Engine| {
        e.call("auth.login", json!({"login": ADMIN, "password": PASSWORD}))
            .session_id
            .unwrap()
    };
    let (c, sub, reservation) = {
        let e = Engine::create_with(path, ADMIN, PASSWORD, opts()).unwrap();
        let sid = login(&e);
        let (c, sub) = setup(&e, &sid, "30");
        let s = settle(&e, auth(&e, "4420").unwrap().reservation, "r1", 250);
        assert_eq!(s.volume_seconds, 250);
        // A call in progress when the process stops: its reservation is held again at open.
        let a = auth(&e, "4420").unwrap();
        assert_eq!(a.volume_seconds, 350);
        (c, sub, a.reservation)
    };
    let e = Engine::open_with(path, opts()).unwrap();
    let sid = login(&e);
    assert_eq!(volume(&e, &sid, c), (250, 350));
    // The call settles by its pre-restart reservation: it draws on what it held (350 s),
    // then money.
    let s = e
        .settle(&SettleRequest {
            reservation: Some(reservation),
            call_id: "r2".into(),
            duration: 400,
            account: Some("100".into()),
            destination: Some("4420".into()),
            connect_time: Some(parse_dt("2026-01-15 12:00:00").unwrap()),
            ..Default::default()
        })
        .unwrap();
    assert!(!s.unreserved, "the reservation survived the restart");
    assert_eq!(
        (s.volume_seconds, s.subscription, s.cost),
        (350, Some(sub), d("0.50"))
    );
    // A replay changes nothing.
    let again = e
        .settle(&SettleRequest {
            call_id: "r2".into(),
            duration: 400,
            account: Some("100".into()),
            destination: Some("4420".into()),
            connect_time: Some(parse_dt("2026-01-15 12:00:00").unwrap()),
            ..Default::default()
        })
        .unwrap();
    assert!(again.replayed);
    assert_eq!((again.volume_seconds, again.cost), (350, d("0.50")));
    assert_eq!(volume(&e, &sid, c), (600, 0));
    assert_eq!(balance(&e, &sid, c), d("18.50"));
    assert!(e.verify_client_ledger(c).unwrap());
}

#[test]
fn a_closed_subscription_stops_its_bundle_and_a_package_edit_applies_at_once() {
    let (e, _clock, sid) = engine();
    let (c, sub) = setup(&e, &sid, "30");
    let pkg = ok(&e, &sid, "subscriptions.list", json!({"id_clients": c}))["rows"][0]
        ["id_packages"]
        .as_i64()
        .unwrap();
    ok(
        &e,
        &sid,
        "packages.edit",
        json!({"id": pkg, "volumes": "[{\"prefixes\": [\"44\", \"33\"], \"seconds\": 120}]"}),
    );
    let a33 = auth(&e, "3310").unwrap();
    assert_eq!(a33.volume_seconds, 120);
    e.release(a33.reservation).unwrap();
    // A call in progress when the subscription closes at once pays in money.
    let a = auth(&e, "4420").unwrap();
    ok(
        &e,
        &sid,
        "subscriptions.close",
        json!({"id": sub, "at": "now"}),
    );
    let s = settle(&e, a.reservation, "c1", 60);
    assert_eq!((s.volume_seconds, s.cost), (0, d("0.90")));
    assert_eq!(auth(&e, "4420").unwrap().volume_seconds, 0);
}

#[test]
fn a_quota_holds_bundled_seconds_step_by_step() {
    let clock = Arc::new(ManualClock::new(parse_dt("2026-01-15 12:00:00").unwrap()));
    let mut config = tollgate::EngineConfig::default();
    config.charging.quota_seconds = Some(400);
    let e = Engine::create_with(
        &common::fresh_target(),
        ADMIN,
        PASSWORD,
        EngineOptions {
            clock,
            config,
            vfs: None,
        },
    )
    .unwrap();
    let sid = e
        .call("auth.login", json!({"login": ADMIN, "password": PASSWORD}))
        .session_id
        .unwrap();
    let (c, _) = setup(&e, &sid, "12"); // 1 of money after activation: 100 s at 0.6/min
    let a = auth(&e, "4420").unwrap();
    assert_eq!(
        (a.max_seconds, a.granted_seconds, a.volume_seconds, a.held),
        (700, 400, 400, d("0"))
    );
    // Another call meanwhile sees only what the first does not hold.
    let b = auth(&e, "4420").unwrap();
    assert_eq!((b.volume_seconds, b.max_seconds), (200, 300));
    e.release(b.reservation).unwrap();
    // The extension takes the rest of the bundle, then money.
    let u = e.update(a.reservation).unwrap();
    assert_eq!(
        (u.granted_seconds, u.volume_seconds, u.held),
        (700, 600, d("1.00"))
    );
    let s = settle(&e, a.reservation, "q1", 650);
    assert_eq!((s.volume_seconds, s.cost), (600, d("0.50")));
    assert_eq!(balance(&e, &sid, c), d("0.50"));
    assert_eq!(e.client_balance_cached(c), Some((d("0.50"), d("0"))));
}
