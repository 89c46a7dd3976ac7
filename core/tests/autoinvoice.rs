//! Auto-invoicing from the engine clock: a client's `invoice_period` from its
//! `invoice_anchor` makes `tick` issue each closed period's invoice once — across repeated
//! ticks, a restart and another engine opening the same database later — and raise
//! `clients.invoices.create`.

use serde_json::{json, Value};
use std::sync::{Arc, Mutex};
use tollgate::clock::parse_dt;
use tollgate::{Clock, Engine, EngineOptions, Event, ManualClock, Verdict};

const ADMIN: &str = "admin";
const PASSWORD: &str = "admin-password-1";

fn opts(clock: &Arc<ManualClock>) -> EngineOptions {
    EngineOptions {
        clock: clock.clone(),
        ..EngineOptions::default()
    }
}

fn ok(e: &Engine, method: &str, params: Value) -> Value {
    let r = e.call_as_system(method, params.clone());
    assert!(r.code, "{method} {params}: {:?}", r.errors);
    r.ret
}

fn refused(e: &Engine, method: &str, params: Value) -> String {
    let r = e.call_as_system(method, params.clone());
    assert!(!r.code, "{method} {params} should fail");
    r.errors[0].code.as_str().to_string()
}

fn id(v: &Value) -> i64 {
    v["id"].as_i64().unwrap()
}

fn settle(e: &Engine, ani: &str, call_id: &str, at: &str, seconds: u64) {
    e.settle(&tollgate::SettleRequest {
        call_id: call_id.into(),
        duration: seconds,
        account: Some(ani.into()),
        auth_type: Some("ani".into()),
        destination: Some("15551".into()),
        connect_time: parse_dt(at),
        ..Default::default()
    })
    .unwrap_or_else(|err| panic!("settle {call_id}: {err}"));
}

/// A client on 0.6/min with an ANI account, and its id.
fn client(e: &Engine, name: &str, ani: &str, extra: Value) -> i64 {
    let t = id(&ok(
        e,
        "rateTables.add",
        json!({"name": format!("rt {name}")}),
    ));
    ok(
        e,
        "rates.add",
        json!({"id_rate_tables": t, "code": "1", "code_name": "US", "rate": "0.6", "effective_from": "2020-01-01"}),
    );
    let mut p = json!({"name": name, "orig_rate_table": t, "credit": "1000"});
    p.as_object_mut()
        .unwrap()
        .extend(extra.as_object().unwrap().clone());
    let c = id(&ok(e, "clients.add", p));
    ok(
        e,
        "accounts.add",
        json!({"id_clients": c, "name": ani, "auth_type": "ani", "ident": ani}),
    );
    c
}

fn invoices(e: &Engine, client: i64) -> Vec<Value> {
    ok(
        e,
        "invoices.list",
        json!({"id_clients": client, "limit": 100}),
    )["rows"]
        .as_array()
        .unwrap()
        .clone()
}

fn at(clock: &ManualClock, when: &str) -> chrono::DateTime<chrono::Utc> {
    clock.set(parse_dt(when).unwrap());
    clock.now()
}

fn client_field(e: &Engine, c: i64, field: &str) -> Value {
    ok(e, "clients.editForm", json!({"id": c}))["client"][field].clone()
}

#[test]
fn the_clock_issues_each_closed_period_once_across_restarts_and_processes() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("billing.db");
    let path = path.to_str().unwrap();
    let clock = Arc::new(ManualClock::new(parse_dt("2026-01-10 08:00:00").unwrap()));
    let e = Engine::create_with(path, ADMIN, PASSWORD, opts(&clock)).unwrap();
    let seen: Arc<Mutex<Vec<Event>>> = Arc::default();
    let s = Arc::clone(&seen);
    e.register_callback(
        "rec",
        Arc::new(move |ev: &Event| {
            s.lock().unwrap().push(ev.clone());
            Verdict::Allow
        }),
    )
    .unwrap();
    ok(
        &e,
        "provisioning.add",
        json!({"name": "invoices", "event": "clients.invoices.create", "stage": "after", "kind": "callback", "target": "rec"}),
    );
    let vat = id(&ok(
        &e,
        "taxProfiles.add",
        json!({"name": "VAT", "percent": "10"}),
    ));
    // Monthly, from 1 January: periods [1 Jan, 1 Feb), [1 Feb, 1 Mar), ...
    let c = client(
        &e,
        "monthly",
        "700",
        json!({"invoice_period": "P1M", "invoice_anchor": "2026-01-01", "id_taxes_profiles": vat}),
    );
    assert_eq!(
        client_field(&e, c, "autoinvoice_next"),
        json!("2026-02-01 00:00:00+00")
    );
    assert_eq!(client_field(&e, c, "autoinvoice_last"), Value::Null);
    settle(&e, "700", "jan-a", "2026-01-10 08:00:00", 60);
    settle(&e, "700", "jan-last", "2026-01-31 23:59:59", 120);
    // January has not closed.
    let now = at(&clock, "2026-01-31 23:59:59");
    assert_eq!(e.tick(now).unwrap().invoices_issued, 0);
    assert!(invoices(&e, c).is_empty());
    // Its end: issued once, however often the clock beats.
    let now = at(&clock, "2026-02-01 00:00:00");
    settle(&e, "700", "feb-first", "2026-02-01 00:00:00", 30);
    let r = e.tick(now).unwrap();
    assert_eq!(r.invoices_issued, 1, "{r:?}");
    assert!(r.invoice_errors.is_empty(), "{r:?}");
    assert_eq!(e.tick(now).unwrap().invoices_issued, 0);
    let list = invoices(&e, c);
    assert_eq!(list.len(), 1);
    assert_eq!(list[0]["dt_from"], json!("2026-01-01 00:00:00+00"));
    assert_eq!(list[0]["dt_till"], json!("2026-02-01 00:00:00+00"));
    // 60 s + 120 s at 0.6 = 1.80, 10 % tax: 1.98. The call at 00:00:00 on 1 Feb is February's.
    assert_eq!(list[0]["total"].to_string(), "1.98");
    assert_eq!(
        client_field(&e, c, "autoinvoice_last"),
        json!("2026-02-01 00:00:00+00")
    );
    assert_eq!(client_field(&e, c, "autoinvoice_periods"), json!(1));
    assert_eq!(
        client_field(&e, c, "autoinvoice_next"),
        json!("2026-03-01 00:00:00+00")
    );
    assert!(e.verify_client_ledger(c).unwrap());
    e.deliver_events(now).unwrap();
    {
        let got = seen.lock().unwrap();
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].event, "clients.invoices.create");
        assert_eq!(got[0].object_id, c);
        assert_eq!(got[0].payload["data"]["number"], list[0]["number"]);
        assert_eq!(got[0].payload["data"]["lines"][0]["calls"], json!(2));
    }
    // A restart (the engine holds its database alone: a second process opens it after the
    // first has closed it): January is not issued again.
    drop(e);
    let e = Engine::open_with(path, opts(&clock)).unwrap();
    assert_eq!(e.tick(now).unwrap().invoices_issued, 0);
    // Two months later: February and March at one beat, then nothing at the next, nor in
    // another process opening the file afterwards.
    let now = at(&clock, "2026-04-01 00:00:05");
    assert_eq!(e.tick(now).unwrap().invoices_issued, 2);
    assert_eq!(e.tick(now).unwrap().invoices_issued, 0);
    drop(e);
    let other = Engine::open_with(path, opts(&clock)).unwrap();
    assert_eq!(other.tick(now).unwrap().invoices_issued, 0);
    let e = other;
    let list = invoices(&e, c);
    let periods: Vec<(String, String)> = list
        .iter()
        .map(|i| {
            (
                i["dt_from"].as_str().unwrap()[..10].to_string(),
                i["dt_till"].as_str().unwrap()[..10].to_string(),
            )
        })
        .collect();
    assert_eq!(
        periods,
        [
            ("2026-01-01".to_string(), "2026-02-01".to_string()),
            ("2026-02-01".to_string(), "2026-03-01".to_string()),
            ("2026-03-01".to_string(), "2026-04-01".to_string()),
        ]
    );
    // February's invoice has the call at 00:00:00 on its first day; March's is a zero one.
    assert_eq!(list[1]["total"].to_string(), "0.33");
    assert_eq!(list[2]["total"].to_string(), "0.00");
    let numbers: std::collections::BTreeSet<&str> =
        list.iter().map(|i| i["number"].as_str().unwrap()).collect();
    assert_eq!(numbers.len(), 3, "numbers are never reused");
    assert!(e.verify_client_ledger(c).unwrap());
}

#[test]
fn a_period_invoiced_by_hand_is_skipped_and_bad_periods_are_refused() {
    let clock = Arc::new(ManualClock::new(parse_dt("2026-03-02 00:00:00").unwrap()));
    let e = Engine::create_with(":memory:", ADMIN, PASSWORD, opts(&clock)).unwrap();
    let c = client(&e, "weekly", "800", json!({}));
    settle(&e, "800", "w1", "2026-02-03 10:00:00", 60);
    ok(
        &e,
        "invoices.add",
        json!({"id_clients": c, "dt_from": "2026-02-02", "dt_till": "2026-02-09"}),
    );
    // Weekly from Monday 2 February: the first week is already invoiced by hand.
    ok(
        &e,
        "clients.edit",
        json!({"id": c, "invoice_period": "P1W", "invoice_anchor": "2026-02-02"}),
    );
    let r = e.tick(clock.now()).unwrap();
    // Weeks ending 16, 23 Feb and 2 Mar are issued; the one ending 9 Feb is skipped.
    assert_eq!(r.invoices_issued, 3, "{r:?}");
    assert_eq!(r.invoice_errors.len(), 1, "{r:?}");
    assert_eq!(r.invoice_errors[0].0, c);
    assert!(r.invoice_errors[0].1.contains("overlaps invoice"), "{r:?}");
    assert_eq!(invoices(&e, c).len(), 4);
    assert_eq!(e.tick(clock.now()).unwrap(), Default::default());
    // Stopping: no period, no auto-invoicing.
    ok(&e, "clients.edit", json!({"id": c, "invoice_period": ""}));
    assert_eq!(client_field(&e, c, "autoinvoice_next"), Value::Null);
    clock.advance_seconds(30 * 86_400);
    assert_eq!(e.tick(clock.now()).unwrap().invoices_issued, 0);
    // Bad periods: nothing written.
    for (p, code) in [
        (
            json!({"id": c, "invoice_period": "P1X"}),
            "validation.invalid",
        ),
        (
            json!({"id": c, "invoice_period": "1M"}),
            "validation.invalid",
        ),
        (
            json!({"id": c, "invoice_period": "P0D"}),
            "validation.invalid",
        ),
        (
            json!({"id": c, "invoice_period": "P1Y"}),
            "validation.out_of_range",
        ),
        (
            json!({"id": c, "invoice_period": "P1M", "invoice_anchor": "someday"}),
            "validation.invalid",
        ),
    ] {
        assert_eq!(refused(&e, "clients.edit", p.clone()), code, "{p}");
    }
    assert_eq!(client_field(&e, c, "invoice_period"), Value::Null);
}

#[test]
fn a_vendor_client_sending_autoinvoice_last_back_is_told_it_is_ignored() {
    let clock = Arc::new(ManualClock::new(parse_dt("2026-03-02 00:00:00").unwrap()));
    let e = Engine::create_with(":memory:", ADMIN, PASSWORD, opts(&clock)).unwrap();
    let c = id(&ok(
        &e,
        "clients.add",
        json!({"name": "vendor", "autoinvoice_last": "2026-01-01 00:00:00"}),
    ));
    let r = e.call_as_system(
        "clients.edit",
        json!({"id": c, "autoinvoice_last": "2026-02-01 00:00:00", "credit": "5"}),
    );
    assert!(r.code, "{:?}", r.errors);
    assert!(
        r.messages.iter().any(|m| m.contains("autoinvoice_last")),
        "{:?}",
        r.messages
    );
    assert_eq!(client_field(&e, c, "autoinvoice_last"), Value::Null);
}
