//! Packages and subscriptions: activation, month-end renewals, missed periods, crash-safe
//! fees, closing.

mod common;
use common::session::*;
use serde_json::{json, Value};
use std::str::FromStr;
use tollgate::clock::parse_dt;
use tollgate::{Decimal, Engine};

fn d(s: &str) -> Decimal {
    Decimal::from_str(s).unwrap()
}

fn balance(e: &Engine, sid: &str, c: i64) -> Decimal {
    d(&ok(e, sid, "clients.editForm", json!({"id": c}))["client"]["balance"].to_string())
}

fn fees(e: &Engine, sid: &str, c: i64) -> Vec<String> {
    let r = ok(
        e,
        sid,
        "transactions.list",
        json!({"id_clients": c, "type": "package_fee", "limit": 1000}),
    );
    r["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| format!("{} {}", t["dt"].as_str().unwrap(), t["amount"]))
        .collect()
}

/// A client paying `funds` (with `credit`) and a monthly plan: activation 1, 10 per period.
fn setup(e: &Engine, sid: &str, funds: &str, credit: &str, period: &str) -> (i64, i64) {
    let c = ok(
        e,
        sid,
        "clients.add",
        json!({"name": "Sub", "credit": credit}),
    )["id"]
        .as_i64()
        .unwrap();
    if funds != "0" {
        ok(
            e,
            sid,
            "transactions.add",
            json!({"id_clients": c, "type": "payment", "amount": funds}),
        );
    }
    let p = ok(
        e,
        sid,
        "packages.add",
        json!({"name": "Plan", "activation_fee": "1", "periodical_fee": "10", "period": period, "volumes": "[{\"prefixes\": [\"44\"], \"seconds\": 600}]"}),
    )["id"]
        .as_i64()
        .unwrap();
    (c, p)
}

fn subscribe(e: &Engine, sid: &str, c: i64, p: i64) -> Value {
    ok(
        e,
        sid,
        "clients.packagesAdd",
        json!({"id_clients": c, "id_packages": p}),
    )
}

#[test]
fn activation_needs_the_activation_fee_and_the_first_period() {
    let (e, clock, sid) = engine();
    // Exactly enough.
    let (c, p) = setup(&e, &sid, "11", "0", "P1M");
    let r = subscribe(&e, &sid, c, p);
    assert_eq!(r["subscription"]["status"], "active");
    assert_eq!(balance(&e, &sid, c), d("0"));
    assert!(e.verify_client_ledger(c).unwrap());
    // Assigned and activated in one call: one audit row naming the subscription once.
    let audit = ok(
        &e,
        &sid,
        "audit.list",
        json!({"method": "clients.packagesAdd"}),
    );
    assert_eq!(
        audit["rows"][0]["objects"],
        json!([{"module": "subscriptions", "id": r["id"]}]).to_string()
    );
    // One cent short: stays pending with the reason; nothing charged.
    let (c2, p2) = setup(&e, &sid, "10.99", "0", "P1M");
    let r = call(
        &e,
        &sid,
        "clients.packagesAdd",
        json!({"id_clients": c2, "id_packages": p2}),
    );
    assert!(r.code);
    assert_eq!(r.ret["subscription"]["status"], "pending");
    assert!(
        r.ret["subscription"]["reason"]
            .as_str()
            .unwrap()
            .contains("needs 11"),
        "{}",
        r.ret
    );
    assert!(r.messages[0].contains("stays pending"));
    assert_eq!(balance(&e, &sid, c2), d("10.99"));
    // A cent more and the next tick activates it.
    ok(
        &e,
        &sid,
        "transactions.add",
        json!({"id_clients": c2, "type": "payment", "amount": "0.01"}),
    );
    clock.advance_seconds(60);
    let t = e.tick(clock_now(&clock)).unwrap();
    assert_eq!(t.subscriptions.activated, 1);
    assert_eq!(balance(&e, &sid, c2), d("0"));
    // Credit counts as available funds.
    let (c3, p3) = setup(&e, &sid, "0", "11", "P1M");
    assert_eq!(
        subscribe(&e, &sid, c3, p3)["subscription"]["status"],
        "active"
    );
    assert_eq!(balance(&e, &sid, c3), d("-11"));
    // Bad input.
    fails(
        &e,
        &sid,
        "clients.packagesAdd",
        json!({"id_clients": c, "id_packages": 999}),
        "validation.invalid",
    );
    fails(
        &e,
        &sid,
        "packages.add",
        json!({"name": "x", "period": "1M"}),
        "validation.invalid",
    );
    fails(
        &e,
        &sid,
        "packages.add",
        json!({"name": "x", "period": "P0M"}),
        "validation.invalid",
    );
    fails(
        &e,
        &sid,
        "packages.add",
        json!({"name": "x", "volumes": "[{\"prefixes\": [\"4a\"], \"seconds\": 5}]"}),
        "validation.invalid",
    );
    fails(
        &e,
        &sid,
        "packages.add",
        json!({"name": "x", "periodical_fee": "-1"}),
        "validation.out_of_range",
    );
}

/// A fresh session (the clock jumps months, past any session's lifetime).
fn relogin(e: &Engine) -> String {
    e.call("auth.login", json!({"login": ADMIN, "password": PASSWORD}))
        .session_id
        .unwrap()
}

fn clock_now(c: &tollgate::ManualClock) -> chrono::DateTime<chrono::Utc> {
    use tollgate::Clock;
    c.now()
}

#[test]
fn month_end_and_leap_year_renewals() {
    for (start, expected) in [
        (
            "2026-01-31 09:00:00",
            [
                "2026-02-28 09:00:00+00",
                "2026-03-31 09:00:00+00",
                "2026-04-30 09:00:00+00",
            ],
        ),
        (
            "2028-01-31 09:00:00",
            [
                "2028-02-29 09:00:00+00",
                "2028-03-31 09:00:00+00",
                "2028-04-30 09:00:00+00",
            ],
        ),
        (
            "2027-02-28 09:00:00",
            [
                "2027-03-28 09:00:00+00",
                "2027-04-28 09:00:00+00",
                "2027-05-28 09:00:00+00",
            ],
        ),
    ] {
        let (e, clock, _) = engine();
        clock.set(parse_dt(start).unwrap());
        let sid = relogin(&e);
        let (c, p) = setup(&e, &sid, "100", "0", "P1M");
        let r = subscribe(&e, &sid, c, p);
        assert_eq!(r["subscription"]["next_renewal_dt"], expected[0], "{start}");
        for (i, due) in expected.iter().enumerate() {
            clock.set(parse_dt(due).unwrap());
            let sid = relogin(&e);
            let t = e.tick(parse_dt(due).unwrap()).unwrap();
            assert_eq!(t.subscriptions.renewed, 1, "{start} renewal {i}");
            let s = ok(&e, &sid, "subscriptions.editForm", json!({"id": r["id"]}));
            if let Some(next) = expected.get(i + 1) {
                assert_eq!(s["subscription"]["next_renewal_dt"], *next, "{start}");
            }
        }
        // 100 - 1 - 10 - 3 × 10
        assert_eq!(balance(&e, &relogin(&e), c), d("59"));
    }
    // Days and years.
    let (e, clock, _) = engine();
    clock.set(parse_dt("2028-02-29 00:00:00").unwrap());
    let sid = relogin(&e);
    let (c, _) = setup(&e, &sid, "100", "0", "P1M");
    let y = ok(
        &e,
        &sid,
        "packages.add",
        json!({"name": "Yearly", "periodical_fee": "5", "period": "P1Y"}),
    )["id"]
        .as_i64()
        .unwrap();
    let w = ok(
        &e,
        &sid,
        "packages.add",
        json!({"name": "Weekly", "periodical_fee": "1", "period": "P7D"}),
    )["id"]
        .as_i64()
        .unwrap();
    assert_eq!(
        subscribe(&e, &sid, c, y)["subscription"]["next_renewal_dt"],
        "2029-02-28 00:00:00+00"
    );
    assert_eq!(
        subscribe(&e, &sid, c, w)["subscription"]["next_renewal_dt"],
        "2028-03-07 00:00:00+00"
    );
}

#[test]
fn skipped_ticks_handle_each_missed_period_once_in_order_and_stop_when_funds_run_out() {
    let (e, clock, _) = engine();
    clock.set(parse_dt("2026-01-10 00:00:00").unwrap());
    let sid = relogin(&e);
    let (c, p) = setup(&e, &sid, "51", "0", "P1M");
    let r = subscribe(&e, &sid, c, p);
    // Six months pass without a tick: funds cover 4 more periods (40 of the 40 left).
    let later = parse_dt("2026-07-15 00:00:00").unwrap();
    let t = e.tick(later).unwrap();
    assert_eq!(
        (t.subscriptions.renewed, t.subscriptions.deactivated),
        (4, 1)
    );
    let f = fees(&e, &sid, c);
    assert_eq!(
        f,
        [
            "2026-01-10 00:00:00+00 -1",
            "2026-01-10 00:00:00+00 -10",
            "2026-02-10 00:00:00+00 -10",
            "2026-03-10 00:00:00+00 -10",
            "2026-04-10 00:00:00+00 -10",
            "2026-05-10 00:00:00+00 -10"
        ]
    );
    let s = ok(&e, &sid, "subscriptions.editForm", json!({"id": r["id"]}));
    assert_eq!(s["subscription"]["status"], "inactive");
    assert!(s["subscription"]["reason"]
        .as_str()
        .unwrap()
        .contains("2026-06-10"));
    // Ticking again changes nothing.
    assert_eq!(e.tick(later).unwrap().subscriptions, Default::default());
    assert_eq!(fees(&e, &sid, c).len(), 6);
    assert!(e.verify_client_ledger(c).unwrap());
    // Paying and renewing reactivates it from now, charging one period (no activation fee).
    ok(
        &e,
        &sid,
        "transactions.add",
        json!({"id_clients": c, "type": "payment", "amount": "10"}),
    );
    clock.set(later);
    let sid = relogin(&e);
    let r = ok(&e, &sid, "subscriptions.renew", json!({"id": r["id"]}));
    assert_eq!(r["subscription"]["status"], "active");
    assert_eq!(
        r["subscription"]["next_renewal_dt"],
        "2026-08-15 00:00:00+00"
    );
    assert_eq!(balance(&e, &sid, c), d("0"));
}

#[test]
fn a_fee_charged_before_a_crash_is_never_charged_again() {
    let dir = tempfile::tempdir().unwrap();
    let path = &common::db_path(dir.path(), "p.db");
    let (c, sub) = {
        let clock = std::sync::Arc::new(tollgate::ManualClock::new(
            parse_dt("2026-03-01 00:00:00").unwrap(),
        ));
        let opts = tollgate::EngineOptions {
            clock: clock.clone(),
            ..Default::default()
        };
        let e = Engine::create_with(path, ADMIN, PASSWORD, opts).unwrap();
        let sid = e
            .call("auth.login", json!({"login": ADMIN, "password": PASSWORD}))
            .session_id
            .unwrap();
        let (c, p) = setup(&e, &sid, "100", "0", "P1M");
        let sub = subscribe(&e, &sid, c, p)["id"].as_i64().unwrap();
        // The renewal's fee reaches the ledger, and then the process dies before the
        // subscription records the renewal: the same posting, under the same key.
        ok(
            &e,
            &sid,
            "transactions.add",
            json!({"id_clients": c, "type": "charge", "amount": "10", "idempotency_key": format!("sub:{sub}:run:1:period:2")}),
        );
        (c, sub)
    };
    let clock = std::sync::Arc::new(tollgate::ManualClock::new(
        parse_dt("2026-04-02 00:00:00").unwrap(),
    ));
    let e = Engine::open_with(
        path,
        tollgate::EngineOptions {
            clock: clock.clone(),
            ..Default::default()
        },
    )
    .unwrap();
    let t = e.tick(clock_now(&clock)).unwrap();
    assert_eq!(t.subscriptions.renewed, 1);
    let t = e.tick(clock_now(&clock)).unwrap();
    assert_eq!(t.subscriptions.renewed, 0);
    let sid = e
        .call("auth.login", json!({"login": ADMIN, "password": PASSWORD}))
        .session_id
        .unwrap();
    // 100 - 1 - 10 (first period) - 10 (second, charged once)
    assert_eq!(balance(&e, &sid, c), d("79"));
    let s = ok(&e, &sid, "subscriptions.editForm", json!({"id": sub}));
    assert_eq!(s["subscription"]["periods"], 2);
    assert_eq!(
        s["subscription"]["next_renewal_dt"],
        "2026-05-01 00:00:00+00"
    );
}

#[test]
fn close_deactivate_and_list() {
    let (e, clock, _) = engine();
    clock.set(parse_dt("2026-01-01 00:00:00").unwrap());
    let sid = relogin(&e);
    let (c, p) = setup(&e, &sid, "100", "0", "P1M");
    let a = subscribe(&e, &sid, c, p)["id"].as_i64().unwrap();
    let b = subscribe(&e, &sid, c, p)["id"].as_i64().unwrap();
    let r = ok(&e, &sid, "subscriptions.close", json!({"id": a}));
    assert_eq!(r["stop_dt"], "2026-02-01 00:00:00+00");
    ok(
        &e,
        &sid,
        "subscriptions.close",
        json!({"id": b, "at": "now"}),
    );
    fails(
        &e,
        &sid,
        "subscriptions.close",
        json!({"id": b}),
        "validation.invalid",
    );
    fails(
        &e,
        &sid,
        "subscriptions.deactivate",
        json!({"id": b}),
        "validation.invalid",
    );
    let t = e.tick(parse_dt("2026-02-01 00:00:00").unwrap()).unwrap();
    assert_eq!((t.subscriptions.closed, t.subscriptions.renewed), (1, 0));
    let list = ok(&e, &sid, "clients.packagesList", json!({"id_clients": c}));
    let statuses: Vec<&str> = list["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["status"].as_str().unwrap())
        .collect();
    assert_eq!(statuses, ["closed", "closed"]);
    assert_eq!(list["rows"][0]["package_name"], "Plan");
    assert_eq!(
        ok(&e, &sid, "subscriptions.list", json!({"status": "closed"}))["total"],
        2
    );
    // 100 - 2 × (1 + 10); closing never refunds or charges.
    assert_eq!(balance(&e, &sid, c), d("78"));
    let third = subscribe(&e, &sid, c, p)["id"].as_i64().unwrap();
    ok(&e, &sid, "subscriptions.deactivate", json!({"id": third}));
    assert_eq!(
        e.tick(parse_dt("2026-06-01 00:00:00").unwrap())
            .unwrap()
            .subscriptions
            .renewed,
        0
    );
    fails(
        &e,
        &sid,
        "subscriptions.activate",
        json!({"id": 999}),
        "not_found",
    );
    fails(
        &e,
        &sid,
        "packages.delete",
        json!({"id": p}),
        "object.in_use",
    );
}
