//! Re-rating (issue 19): after a wrong price is fixed, the calls already charged are priced
//! again; each difference is one adjustment entry `xdr:<id>`, the old price stays in the
//! xDR's history, a second run changes nothing, and another tenant's calls are out of reach.

mod common;

use serde_json::{json, Value};
use std::sync::Arc;
use tollgate::{Engine, EngineOptions, ManualClock, SettleRequest};

fn ok(e: &Engine, method: &str, params: Value) -> Value {
    let r = e.call_as_system(method, params.clone());
    assert!(r.code, "{method} {params} failed: {:?}", r.errors);
    r.ret
}

struct World {
    e: Engine,
    _dir: tempfile::TempDir,
    rate: i64,
    client: i64,
}

fn world() -> World {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(
        tollgate::clock::parse_dt("2026-01-15 12:00:00").unwrap(),
    ));
    let opts = EngineOptions {
        clock,
        ..EngineOptions::default()
    };
    let path = common::db_path(dir.path(), "rerate.db");
    let e = Engine::create_with(&path, "admin", "admin-password-1", opts).unwrap();
    let table = ok(&e, "rateTables.add", json!({"name": "Retail"}))["id"]
        .as_i64()
        .unwrap();
    let rate = ok(
        &e,
        "rates.add",
        json!({"id_rate_tables": table, "code": "44", "rate": "1", "min_volume": 1, "interval": 1, "effective_from": "2020-01-01"}),
    )["id"]
        .as_i64()
        .unwrap();
    let client = ok(
        &e,
        "clients.add",
        json!({"name": "c", "orig_rate_table": table}),
    )["id"]
        .as_i64()
        .unwrap();
    ok(
        &e,
        "accounts.add",
        json!({"id_clients": client, "name": "100", "auth_type": "ani", "ident": "100"}),
    );
    ok(
        &e,
        "transactions.add",
        json!({"id_clients": client, "type": "payment", "amount": "100"}),
    );
    World {
        e,
        _dir: dir,
        rate,
        client,
    }
}

fn settle(w: &World, id: &str, at: &str, seconds: u64) -> i64 {
    w.e.settle(&SettleRequest {
        call_id: id.into(),
        duration: seconds,
        account: Some("100".into()),
        destination: Some("4420".into()),
        connect_time: tollgate::clock::parse_dt(at),
        ..SettleRequest::default()
    })
    .unwrap()
    .xdr
}

fn balance(w: &World) -> String {
    assert!(
        w.e.verify_client_ledger(w.client).unwrap(),
        "balance = sum of the ledger"
    );
    w.e.client_balance_cached(w.client)
        .unwrap()
        .0
        .normalize()
        .to_string()
}

/// An amount as exact text without trailing zeros.
fn norm(v: &Value) -> String {
    let t = v
        .as_str()
        .map(str::to_string)
        .unwrap_or_else(|| v.to_string());
    <tollgate::Decimal as std::str::FromStr>::from_str(&t)
        .unwrap()
        .normalize()
        .to_string()
}

const PERIOD: (&str, &str) = ("2026-01-01", "2026-02-01");

fn rerate(w: &World, extra: Value) -> tollgate::Envelope {
    let mut p = json!({"dt_from": PERIOD.0, "dt_till": PERIOD.1});
    p.as_object_mut()
        .unwrap()
        .extend(extra.as_object().unwrap().clone());
    w.e.call_as_system("xdrs.rerate", p)
}

#[test]
fn a_fixed_price_is_rerated_once_with_one_adjustment_per_xdr() {
    let w = world();
    let a = settle(&w, "a", "2026-01-10 10:00:00", 60);
    let b = settle(&w, "b", "2026-01-10 11:00:00", 90);
    let outside = settle(&w, "c", "2026-02-03 10:00:00", 60);
    assert_eq!(balance(&w), "96.5");
    // The price was wrong: 0.5, not 1.
    ok(&w.e, "rates.edit", json!({"id": w.rate, "rate": "0.5"}));
    let r = rerate(&w, json!({}));
    assert!(r.code, "{:?}", r.errors);
    assert_eq!(
        (r.ret["rerated"].as_u64(), r.ret["unchanged"].as_u64()),
        (Some(2), Some(0)),
        "{}",
        r.ret
    );
    let diff = r.ret["difference"].as_object().unwrap();
    assert_eq!(diff.len(), 1);
    assert_eq!(norm(diff.values().next().unwrap()), "-1.25");
    assert_eq!(balance(&w), "97.75");
    // One adjustment per xDR, referenced to it.
    let entries = ok(
        &w.e,
        "transactions.list",
        json!({"id_clients": w.client, "type": "adjustment"}),
    )["rows"]
        .as_array()
        .unwrap()
        .clone();
    let mut refs: Vec<(String, String)> = entries
        .iter()
        .map(|t| {
            (
                t["reference"].as_str().unwrap().to_string(),
                norm(&t["amount"]),
            )
        })
        .collect();
    refs.sort();
    assert_eq!(
        refs,
        vec![
            (format!("xdr:{a}"), "0.5".into()),
            (format!("xdr:{b}"), "0.75".into())
        ]
    );
    // The xDR has its new price; its history the old one.
    let x = &ok(&w.e, "xdrs.list", json!({"id": a}))["rows"][0];
    assert_eq!(
        (norm(&x["cost"]), norm(&x["rate"])),
        ("0.5".into(), "0.5".into())
    );
    let h = ok(&w.e, "xdrs.history", json!({"id": a}));
    assert_eq!(norm(&h["rows"][0]["cost"]), "1");
    assert_eq!(norm(&h["rows"][0]["rate"]), "1");
    // The call outside the period is untouched.
    let x = &ok(&w.e, "xdrs.list", json!({"id": outside}))["rows"][0];
    assert_eq!(norm(&x["cost"]), "1");
    // Again: nothing changes.
    let again = rerate(&w, json!({}));
    assert_eq!(
        (
            again.ret["rerated"].as_u64(),
            again.ret["unchanged"].as_u64()
        ),
        (Some(0), Some(2))
    );
    assert_eq!(balance(&w), "97.75");
    assert_eq!(
        ok(&w.e, "xdrs.history", json!({"id": a}))["rows"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
}

#[test]
fn another_rate_table_overrides_and_bad_periods_are_refused() {
    let w = world();
    settle(&w, "a", "2026-01-10 10:00:00", 60);
    let other = ok(&w.e, "rateTables.add", json!({"name": "Promo"}))["id"]
        .as_i64()
        .unwrap();
    ok(
        &w.e,
        "rates.add",
        json!({"id_rate_tables": other, "code": "4", "rate": "0.2", "min_volume": 1, "interval": 1, "effective_from": "2020-01-01"}),
    );
    let r = rerate(&w, json!({"id_rate_tables": other}));
    assert!(r.code, "{:?}", r.errors);
    assert_eq!(balance(&w), "99.8");
    let x = &ok(&w.e, "xdrs.list", json!({"id_clients": w.client}))["rows"][0];
    assert_eq!(
        (x["code"].as_str(), x["id_rate_tables"].as_i64()),
        (Some("4"), Some(other))
    );
    // A table without a rate for the call refuses the whole run: nothing half-done.
    let empty = ok(&w.e, "rateTables.add", json!({"name": "Empty"}))["id"]
        .as_i64()
        .unwrap();
    let r = rerate(&w, json!({"id_rate_tables": empty}));
    assert!(!r.code);
    assert_eq!(balance(&w), "99.8");
    let r = w.e.call_as_system(
        "xdrs.rerate",
        json!({"dt_from": "2026-02-01", "dt_till": "2026-01-01"}),
    );
    assert_eq!(r.errors[0].code.as_str(), "validation.invalid");
}

#[test]
fn another_tenants_period_is_refused() {
    let w = world();
    settle(&w, "a", "2026-01-10 10:00:00", 60);
    ok(&w.e, "rates.edit", json!({"id": w.rate, "rate": "0.5"}));
    let company = ok(
        &w.e,
        "companies.add",
        json!({"name": "Reseller B", "parent_id": 1}),
    )["id"]
        .as_i64()
        .unwrap();
    let role = ok(
        &w.e,
        "roles.add",
        json!({"name": "billing B", "permissions": {"xdrs": ["read", "billing"]}}),
    )["id"]
        .as_i64()
        .unwrap();
    ok(
        &w.e,
        "users.add",
        json!({"login": "res-b", "password": "user-passw0rd", "id_roles": role, "id_companies": company}),
    );
    let sid =
        w.e.call(
            "auth.login",
            json!({"login": "res-b", "password": "user-passw0rd"}),
        )
        .session_id
        .unwrap();
    let r = w.e.call(
        "xdrs.rerate",
        json!({"SID": sid, "dt_from": PERIOD.0, "dt_till": PERIOD.1, "id_clients": [w.client]}),
    );
    assert!(!r.code);
    assert_eq!(r.errors[0].code.as_str(), "not_found", "{:?}", r.errors);
    // Without a client filter, its own (empty) subtree only.
    let r = w.e.call(
        "xdrs.rerate",
        json!({"SID": sid, "dt_from": PERIOD.0, "dt_till": PERIOD.1}),
    );
    assert!(r.code, "{:?}", r.errors);
    assert_eq!(r.ret["rerated"], 0);
    assert_eq!(balance(&w), "99");
}
