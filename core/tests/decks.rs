//! Rate decks as carriers send them (issue 19): price changes from a date, `replace` closing
//! instead of deleting, carriers' column names and formats, and the `rates.changed` event.
//! Every engine here is a real SQLite file.

mod common;

use serde_json::{json, Value};
use std::sync::{Arc, Mutex};
use tollgate::{Engine, EngineOptions, Event, ManualClock, SettleRequest, Verdict};

const ADMIN: &str = "admin";
const PASSWORD: &str = "admin-password-1";

struct World {
    e: Engine,
    _dir: tempfile::TempDir,
    table: i64,
    client: i64,
}

fn call(e: &Engine, method: &str, params: Value) -> tollgate::Envelope {
    e.call_as_system(method, params)
}

fn ok(e: &Engine, method: &str, params: Value) -> Value {
    let r = call(e, method, params.clone());
    assert!(r.code, "{method} {params} failed: {:?}", r.errors);
    r.ret
}

/// A file database at 2026-01-15 12:00, a rate table with 44 at 1/min and 33 at 3/min since
/// 2020, and a client (ANI account `100`) with 100 on its balance.
fn world() -> World {
    let dir = tempfile::tempdir().unwrap();
    let path = common::db_path(dir.path(), "decks.db");
    let clock = Arc::new(ManualClock::new(
        tollgate::clock::parse_dt("2026-01-15 12:00:00").unwrap(),
    ));
    let opts = EngineOptions {
        clock,
        ..EngineOptions::default()
    };
    let e = Engine::create_with(&path, ADMIN, PASSWORD, opts).unwrap();
    let table = ok(&e, "rateTables.add", json!({"name": "Retail"}))["id"]
        .as_i64()
        .unwrap();
    for (code, rate) in [("44", "1"), ("33", "3")] {
        ok(
            &e,
            "rates.add",
            json!({"id_rate_tables": table, "code": code, "code_name": "old", "rate": rate, "min_volume": 1, "interval": 1, "effective_from": "2020-01-01"}),
        );
    }
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
        table,
        client,
    }
}

fn import(w: &World, csv: &str, extra: Value) -> tollgate::Envelope {
    let mut p = json!({"id_rate_tables": w.table, "csv": csv});
    p.as_object_mut()
        .unwrap()
        .extend(extra.as_object().unwrap().clone());
    call(&w.e, "rates.import", p)
}

fn counts(r: &Value) -> [u64; 4] {
    ["added", "changed", "closed", "unchanged"].map(|k| r[k].as_u64().unwrap())
}

/// Charge a 60-second call to `dst` connected at `at` (an unreserved settle).
fn call_cost(w: &World, id: &str, dst: &str, at: &str) -> Result<String, tollgate::Error> {
    let s = w.e.settle(&SettleRequest {
        call_id: id.into(),
        duration: 60,
        account: Some("100".into()),
        destination: Some(dst.into()),
        connect_time: tollgate::clock::parse_dt(at),
        ..SettleRequest::default()
    })?;
    Ok(s.cost.normalize().to_string())
}

fn rates(w: &World, code: &str) -> Vec<Value> {
    ok(
        &w.e,
        "rates.list",
        json!({"id_rate_tables": w.table, "code": code}),
    )["rows"]
        .as_array()
        .unwrap()
        .clone()
}

#[test]
fn a_future_price_closes_the_current_rate_and_calls_pay_the_price_of_their_connect_time() {
    let w = world();
    let deck = "code,code_name,rate,effective_from\n44,UK,2,2026-02-01\n33,old,3,2026-01-20\n";
    let r = import(&w, deck, json!({}));
    assert!(r.code, "{:?}", r.errors);
    // 44 changes price; 33 is the same rate as the one in force: unchanged.
    assert_eq!(counts(&r.ret), [0, 1, 0, 1]);
    let uk = rates(&w, "44");
    assert_eq!(uk.len(), 2);
    assert_eq!(uk[0]["effective_till"], "2026-02-01 00:00:00+00");
    assert_eq!(uk[1]["effective_from"], "2026-02-01 00:00:00+00");
    assert_eq!(uk[1]["effective_till"], Value::Null);
    assert_eq!(rates(&w, "33").len(), 1);
    // Calls are priced by the rate in force at their connect time.
    assert_eq!(
        call_cost(&w, "a", "4420", "2026-01-31 23:59:00").unwrap(),
        "1"
    );
    assert_eq!(
        call_cost(&w, "b", "4420", "2026-02-01 00:00:00").unwrap(),
        "2"
    );
    // The same deck again changes nothing.
    let again = import(&w, deck, json!({}));
    assert_eq!(counts(&again.ret), [0, 0, 0, 2]);
    assert_eq!(rates(&w, "44").len(), 2);
}

#[test]
fn a_row_starting_when_the_current_rate_starts_takes_its_place() {
    let w = world();
    let r = import(
        &w,
        "code,rate,effective_from\n44,1.5,2020-01-01\n",
        json!({}),
    );
    assert_eq!(counts(&r.ret), [0, 1, 0, 0]);
    let uk = rates(&w, "44");
    assert_eq!(uk.len(), 1);
    assert_eq!(uk[0]["rate"], json!(1.5));
}

#[test]
fn replace_closes_missing_codes_at_the_decks_effective_from_instead_of_deleting() {
    let w = world();
    let r = import(
        &w,
        "code,rate,effective_from\n44,1,2020-01-01\n",
        json!({"mode": "replace", "effective_from": "2026-01-16"}),
    );
    assert!(r.code, "{:?}", r.errors);
    assert_eq!(counts(&r.ret), [0, 0, 1, 1]);
    let fr = rates(&w, "33");
    assert_eq!(fr.len(), 1, "closed, not deleted");
    assert_eq!(fr[0]["effective_till"], "2026-01-16 00:00:00+00");
    assert_eq!(
        call_cost(&w, "a", "3312", "2026-01-15 10:00:00").unwrap(),
        "3"
    );
    let late = call_cost(&w, "b", "3312", "2026-01-16 10:00:00").unwrap_err();
    assert_eq!(late.code().as_str(), "rating.no_rate");
    // The old `replace: true` is mode replace.
    let w = world();
    let r = import(&w, "code,rate\n44,1\n", json!({"replace": true}));
    assert_eq!(r.ret["mode"], "replace");
    assert_eq!(
        rates(&w, "33")[0]["effective_till"],
        "2026-01-15 12:00:00+00"
    );
    // The current call still has a rate: nothing was deleted under it.
    assert_eq!(
        call_cost(&w, "c", "4420", "2026-01-15 12:00:00").unwrap(),
        "1"
    );
}

#[test]
fn add_refuses_overlaps_and_a_refused_deck_changes_nothing() {
    let w = world();
    let r = import(
        &w,
        "code,rate,effective_from\n49,1,2026-01-01\n44,2,2026-02-01\n",
        json!({"mode": "add"}),
    );
    assert!(!r.code);
    assert_eq!(r.errors[0].code.as_str(), "rating.deck_invalid");
    assert!(r.errors[0].message.contains("line 3"), "{:?}", r.errors);
    assert!(rates(&w, "49").is_empty());
    assert_eq!(rates(&w, "44").len(), 1);
    // Update: a row reaching into a rate that starts later is refused, naming the line.
    assert!(import(&w, "code,rate,effective_from\n44,2,2026-03-01\n", json!({})).code);
    let r = import(
        &w,
        "code,rate,effective_from\n33,5,2026-01-01\n44,4,2026-02-01\n",
        json!({}),
    );
    assert!(!r.code);
    assert!(r.errors[0].message.contains("line 3"), "{:?}", r.errors);
    assert_eq!(rates(&w, "33").len(), 1, "nothing half-done");
    // Rows of one deck that conflict with each other.
    let r = import(
        &w,
        "code,rate,effective_from\n7,1,2026-01-01\n7,2,2026-01-01\n",
        json!({}),
    );
    assert_eq!(r.errors[0].code.as_str(), "rating.period_overlap");
    assert!(rates(&w, "7").is_empty());
}

#[test]
fn a_carriers_deck_in_its_own_column_names() {
    let w = world();
    let deck = "\u{feff}Prefix;Destination;Rate;Effective Date;Billing Increment;Comment\r\n\
                49;\"Germany; Fixed\";0,02;2026-02-01 00:00;60/60;new\r\n\
                447;UK Mobile;0.05;01/02/2026;30/6;\r\n";
    let r = import(&w, deck, json!({}));
    // The dates of one deck are in one format: DD/MM/YYYY must be named.
    assert!(!r.code);
    assert!(r.errors[0].message.contains("line 3"), "{:?}", r.errors);
    let deck = deck.replace("2026-02-01 00:00", "01/02/2026 00:00");
    let r = import(&w, &deck, json!({"date_format": "DD/MM/YYYY"}));
    assert!(r.code, "{:?}", r.errors);
    assert_eq!(counts(&r.ret), [2, 0, 0, 0]);
    assert!(
        r.messages.iter().any(|m| m.contains("'Comment'")),
        "{:?}",
        r.messages
    );
    let de = rates(&w, "49");
    assert_eq!(de[0]["code_name"], "Germany; Fixed");
    assert_eq!(
        (de[0]["min_volume"].as_i64(), de[0]["interval"].as_i64()),
        (Some(60), Some(60))
    );
    let uk = rates(&w, "447");
    assert_eq!(
        (uk[0]["min_volume"].as_i64(), uk[0]["interval"].as_i64()),
        (Some(30), Some(6))
    );
    // An explicit mapping for names no alias knows.
    let r = import(
        &w,
        "Dst Prefix,Tariff\n34,0.5\n",
        json!({"columns": {"code": "dst prefix", "rate": "TARIFF"}}),
    );
    assert!(r.code, "{:?}", r.errors);
    assert_eq!(rates(&w, "34").len(), 1);
    // A row error names its line and column.
    let r = import(&w, "prefix,price,billing\n35,0.5,60/x\n", json!({}));
    assert!(r.errors[0].message.contains("line 2"), "{:?}", r.errors);
    assert_eq!(r.errors[0].field.as_deref(), Some("increment"));
}

#[test]
fn an_import_raises_rates_changed_with_its_counts() {
    let w = world();
    let seen = Arc::new(Mutex::new(Vec::<Event>::new()));
    let s = Arc::clone(&seen);
    w.e.register_callback(
        "decks",
        Arc::new(move |ev: &Event| {
            s.lock().unwrap().push(ev.clone());
            Verdict::Allow
        }),
    )
    .unwrap();
    ok(
        &w.e,
        "provisioning.add",
        json!({"name": "prices", "event": "rates.changed", "stage": "after", "kind": "callback", "target": "decks"}),
    );
    // A before stage of a report of what was done is refused.
    let r = call(
        &w.e,
        "provisioning.add",
        json!({"name": "x", "event": "rates.changed", "stage": "before", "kind": "callback", "target": "decks"}),
    );
    assert!(!r.code);
    let r = import(
        &w,
        "code,rate,effective_from\n44,2,2026-02-01\n",
        json!({"mode": "replace", "effective_from": "2026-02-01"}),
    );
    assert!(r.code, "{:?}", r.errors);
    // An import that changes nothing raises nothing.
    let mut file = "code,rate,effective_from\n44,2,2026-02-01\n".as_bytes();
    let (v, _) =
        w.e.import_rates_with(w.table, &mut file, &tollgate::ImportOptions::default())
            .unwrap();
    assert_eq!(counts(&v), [0, 0, 0, 1]);
    w.e.deliver_events(tollgate::clock::parse_dt("2026-01-15 12:00:05").unwrap())
        .unwrap();
    let seen = seen.lock().unwrap();
    assert_eq!(seen.len(), 1, "{seen:?}");
    assert_eq!(seen[0].event, "rates.changed");
    assert_eq!(seen[0].object_id, w.table);
    let data = &seen[0].payload["data"];
    assert_eq!(
        (
            data["changed"].as_u64(),
            data["closed"].as_u64(),
            data["added"].as_u64()
        ),
        (Some(1), Some(1), Some(0)),
        "{}",
        seen[0].payload
    );
    let _ = w.client;
}
