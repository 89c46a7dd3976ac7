//! CDR import (issue 19): Asterisk `Master.csv` in both `loguniqueid` settings (fields in
//! cdr_csv.c's order), FreeSWITCH's `mod_cdr_csv` default template and Tollgate's calls CSV,
//! charged as unreserved settles on a real SQLite file.

mod common;

use serde_json::{json, Value};
use std::sync::Arc;
use tollgate::{Engine, EngineOptions, ManualClock};

fn ok(e: &Engine, method: &str, params: Value) -> Value {
    let r = e.call_as_system(method, params.clone());
    assert!(r.code, "{method} {params} failed: {:?}", r.errors);
    r.ret
}

/// Code 44 at 0.60/min (per second), two clients: one with a login account `acc1`
/// (Asterisk's accountcode), one with an ANI account `200`; 100 each.
fn world() -> (Engine, tempfile::TempDir, i64, i64) {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(
        tollgate::clock::parse_dt("2026-07-02 12:00:00").unwrap(),
    ));
    let opts = EngineOptions {
        clock,
        ..EngineOptions::default()
    };
    let path = common::db_path(dir.path(), "cdrs.db");
    let e = Engine::create_with(&path, "admin", "admin-password-1", opts).unwrap();
    let table = ok(&e, "rateTables.add", json!({"name": "Retail"}))["id"]
        .as_i64()
        .unwrap();
    ok(
        &e,
        "rates.add",
        json!({"id_rate_tables": table, "code": "44", "rate": "0.6", "min_volume": 1, "interval": 1, "effective_from": "2020-01-01"}),
    );
    let mut clients = Vec::new();
    for (name, kind, ident) in [("first", "login", "acc1"), ("second", "ani", "200")] {
        let c = ok(
            &e,
            "clients.add",
            json!({"name": name, "orig_rate_table": table}),
        )["id"]
            .as_i64()
            .unwrap();
        ok(
            &e,
            "accounts.add",
            json!({"id_clients": c, "name": ident, "auth_type": kind, "ident": ident}),
        );
        ok(
            &e,
            "transactions.add",
            json!({"id_clients": c, "type": "payment", "amount": "100"}),
        );
        clients.push(c);
    }
    (e, dir, clients[0], clients[1])
}

/// One Master.csv line as cdr_csv.c writes it: strings quoted (quotes doubled), numbers bare,
/// `uniqueid` only with loguniqueid=yes, then userfield with loguserfield=yes.
#[allow(clippy::too_many_arguments)]
fn asterisk_line(
    account: &str,
    src: &str,
    dst: &str,
    start: &str,
    answer: &str,
    billsec: i64,
    disposition: &str,
    uniqueid: Option<&str>,
) -> String {
    let q = |s: &str| format!("\"{}\"", s.replace('"', "\"\""));
    let mut f = vec![
        q(account),
        q(src),
        q(dst),
        q("from-internal"),
        q(&format!("\"Caller {src}\" <{src}>")),
        q(&format!("SIP/{src}-0000001a")),
        q("SIP/trunk-0000001b"),
        q("Dial"),
        q(&format!("SIP/trunk/{dst},60")),
        q(start),
        q(answer),
        q("2026-07-01 10:05:00"),
        (billsec + 5).to_string(),
        billsec.to_string(),
        q(disposition),
        q("DOCUMENTATION"),
    ];
    if let Some(u) = uniqueid {
        f.push(q(u));
        f.push(q(""));
    }
    f.join(",") + "\n"
}

fn import(e: &Engine, format: &str, csv: &str, extra: Value) -> Value {
    let mut p = json!({"format": format, "csv": csv, "timezone": "Europe/London"});
    p.as_object_mut()
        .unwrap()
        .extend(extra.as_object().unwrap().clone());
    ok(e, "xdrs.import", p)
}

fn balance(e: &Engine, client: i64) -> String {
    assert!(
        e.verify_client_ledger(client).unwrap(),
        "balance = sum of the ledger"
    );
    e.client_balance_cached(client)
        .unwrap()
        .0
        .normalize()
        .to_string()
}

fn xdrs(e: &Engine, client: i64) -> Vec<Value> {
    ok(e, "xdrs.list", json!({"id_clients": client}))["rows"]
        .as_array()
        .unwrap()
        .clone()
}

#[test]
fn asterisk_master_csv_with_and_without_uniqueid() {
    for loguniqueid in [true, false] {
        let (e, _dir, first, second) = world();
        let id = |n: &str| loguniqueid.then(|| format!("1782900000.{n}"));
        let mut file = String::new();
        // An answered call by accountcode: 60 s at 0.6/min = 0.6.
        file += &asterisk_line(
            "acc1",
            "100",
            "4420",
            "2026-07-01 10:00:00",
            "2026-07-01 10:00:05",
            60,
            "ANSWERED",
            id("1").as_deref(),
        );
        // No accountcode: the calling number is the ANI; a + before the number is dropped.
        file += &asterisk_line(
            "",
            "200",
            "+4421",
            "2026-07-01 10:01:00",
            "2026-07-01 10:01:02",
            120,
            "ANSWERED",
            id("2").as_deref(),
        );
        // Not answered: no answer time, 0 billsec.
        file += &asterisk_line(
            "acc1",
            "100",
            "4422",
            "2026-07-01 10:02:00",
            "",
            0,
            "NO ANSWER",
            id("3").as_deref(),
        );
        // Bad lines: a negative billsec, an unparseable time, an unknown account.
        file += &asterisk_line(
            "acc1",
            "100",
            "4423",
            "2026-07-01 10:03:00",
            "2026-07-01 10:03:01",
            -5,
            "ANSWERED",
            id("4").as_deref(),
        );
        file += &asterisk_line(
            "acc1",
            "100",
            "4424",
            "2026-07-01 10:04:00",
            "yesterday",
            30,
            "ANSWERED",
            id("5").as_deref(),
        );
        file += &asterisk_line(
            "nobody",
            "999",
            "4425",
            "2026-07-01 10:04:00",
            "2026-07-01 10:04:01",
            30,
            "ANSWERED",
            id("6").as_deref(),
        );
        let r = import(&e, "asterisk", &file, json!({"loguniqueid": loguniqueid}));
        assert_eq!(r["imported"], 2, "{r}");
        assert_eq!(r["skipped"], 1, "{r}");
        assert_eq!(r["refused_count"], 3, "{r}");
        let refused: Vec<(i64, String)> = r["refused"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| {
                (
                    x["line"].as_i64().unwrap(),
                    x["code"].as_str().unwrap().to_string(),
                )
            })
            .collect();
        assert_eq!(
            refused,
            vec![
                (4, "validation.invalid".to_string()),
                (5, "validation.invalid".to_string()),
                (6, "account.not_found".to_string())
            ]
        );
        assert_eq!(balance(&e, first), "99.4");
        assert_eq!(balance(&e, second), "98.8");
        let x = &xdrs(&e, first)[0];
        // London is UTC+1 in July: answered 09:00:05 UTC.
        assert_eq!(x["connect_time"], "2026-07-01 09:00:05+00");
        assert_eq!(x["unreserved"], true);
        if loguniqueid {
            assert_eq!(x["call_id"], "1782900000.1");
        } else {
            assert!(x["call_id"].as_str().unwrap().starts_with("ast-"), "{x}");
        }
        // The same file again adds nothing.
        let again = import(&e, "asterisk", &file, json!({"loguniqueid": loguniqueid}));
        assert_eq!(
            (again["imported"].as_i64(), again["duplicates"].as_i64()),
            (Some(0), Some(2)),
            "{again}"
        );
        assert_eq!(balance(&e, first), "99.4");
        // The same call with another duration is a conflict on its line.
        let changed = asterisk_line(
            "acc1",
            "100",
            "4420",
            "2026-07-01 10:00:00",
            "2026-07-01 10:00:05",
            61,
            "ANSWERED",
            id("1").as_deref(),
        );
        let c = import(
            &e,
            "asterisk",
            &changed,
            json!({"loguniqueid": loguniqueid}),
        );
        assert_eq!(c["refused"][0]["code"], "idempotency.conflict", "{c}");
        assert_eq!(c["refused"][0]["line"], 1);
        assert!(e.verify_client_ledger(first).unwrap());
    }
}

#[test]
fn freeswitch_default_template_and_the_tollgate_format() {
    let (e, _dir, first, second) = world();
    let q = |v: &[&str]| {
        v.iter()
            .map(|s| format!("\"{s}\""))
            .collect::<Vec<_>>()
            .join(",")
            + "\n"
    };
    let mut file = q(&[
        "Alice",
        "100",
        "4420",
        "default",
        "2026-07-01 10:00:00",
        "2026-07-01 10:00:03",
        "2026-07-01 10:01:03",
        "63",
        "60",
        "NORMAL_CLEARING",
        "a1b2c3d4-0000-4000-8000-000000000001",
        "",
        "acc1",
        "PCMA",
        "PCMA",
    ]);
    file += &q(&[
        "Bob",
        "200",
        "4420",
        "default",
        "2026-07-01 10:00:00",
        "",
        "2026-07-01 10:00:20",
        "20",
        "0",
        "NO_ANSWER",
        "a1b2c3d4-0000-4000-8000-000000000002",
        "",
        "",
        "PCMA",
        "PCMA",
    ]);
    file += &q(&[
        "Bob",
        "200",
        "4420",
        "default",
        "2026-07-01 11:00:00",
        "2026-07-01 11:00:01",
        "2026-07-01 11:00:31",
        "31",
        "30",
        "NORMAL_CLEARING",
        "a1b2c3d4-0000-4000-8000-000000000003",
        "",
        "",
        "PCMA",
        "PCMA",
    ]);
    let r = import(&e, "freeswitch", &file, json!({}));
    assert_eq!(
        (
            r["imported"].as_i64(),
            r["skipped"].as_i64(),
            r["refused_count"].as_i64()
        ),
        (Some(2), Some(1), Some(0)),
        "{r}"
    );
    assert_eq!(balance(&e, first), "99.4");
    assert_eq!(balance(&e, second), "99.7");
    // Tollgate's calls CSV (header, UTC).
    let t = "call_id,account,destination,connect_time,duration\nt-1,acc1,4420,2026-07-01 12:00:00,30\nt-2,acc1,4420,not a time,30\n";
    let r = import(&e, "tollgate", t, json!({}));
    assert_eq!(
        (r["imported"].as_i64(), r["refused_count"].as_i64()),
        (Some(1), Some(1)),
        "{r}"
    );
    assert_eq!(balance(&e, first), "99.1");
    // A Master.csv given as the tollgate format is refused as a whole.
    let r = e.call_as_system(
        "xdrs.import",
        json!({"format": "tollgate", "csv": "\"acc1\",\"100\"\n"}),
    );
    assert!(!r.code);
}

#[test]
fn all_or_nothing_imports_nothing_when_a_line_is_refused() {
    let (e, _dir, first, _) = world();
    let mut file = asterisk_line(
        "acc1",
        "100",
        "4420",
        "2026-07-01 10:00:00",
        "2026-07-01 10:00:05",
        60,
        "ANSWERED",
        Some("1.1"),
    );
    file += &asterisk_line(
        "acc1",
        "100",
        "4420",
        "2026-07-01 10:00:00",
        "2026-07-01 10:00:05",
        -1,
        "ANSWERED",
        Some("1.2"),
    );
    let r = import(&e, "asterisk", &file, json!({"all_or_nothing": true}));
    assert_eq!(
        (r["imported"].as_i64(), r["refused_count"].as_i64()),
        (Some(0), Some(1)),
        "{r}"
    );
    assert!(xdrs(&e, first).is_empty());
    assert_eq!(balance(&e, first), "100");
    let r = import(
        &e,
        "asterisk",
        &file[..file.find('\n').unwrap() + 1],
        json!({"all_or_nothing": true}),
    );
    assert_eq!(r["imported"], 1, "{r}");
    // A zone that does not exist is refused before anything.
    let r = e.call_as_system(
        "xdrs.import",
        json!({"format": "asterisk", "csv": file, "timezone": "Mars/Olympus"}),
    );
    assert_eq!(r.errors[0].code.as_str(), "validation.invalid");
}

#[test]
fn a_dry_run_counts_what_would_be_charged_and_charges_nothing() {
    let (e, _dir, first, _) = world();
    let csv = "call_id,account,destination,connect_time,duration\n\
               d1,acc1,4420,2026-07-01 10:00:00,60\n\
               d2,acc1,9999,2026-07-01 10:05:00,60\n";
    let params = json!({"format": "tollgate", "csv": csv, "dry_run": true});
    let r = ok(&e, "xdrs.import", params.clone());
    assert_eq!(r["lines"], 2, "{r}");
    assert_eq!(r["imported"], 1, "{r}");
    assert_eq!(r["refused_count"], 1, "{r}");
    assert_eq!(r["refused"][0]["line"], 3, "{r}");
    assert_eq!(r["refused"][0]["code"], "rating.no_rate", "{r}");
    assert_eq!(ok(&e, "xdrs.list", json!({}))["total"], 0);
    let balance = |c: i64| {
        let rows = ok(&e, "clients.list", json!({}))["rows"].clone();
        let row = rows
            .as_array()
            .into_iter()
            .flatten()
            .find(|r| r["id"] == c)
            .cloned();
        row.map(|r| r["balance"].to_string()).unwrap_or_default()
    };
    assert_eq!(balance(first), "100");
    // Charged for real, the same call is then a duplicate to a dry run.
    let mut real = params.clone();
    real["dry_run"] = json!(false);
    assert_eq!(ok(&e, "xdrs.import", real)["imported"], 1);
    let r = ok(&e, "xdrs.import", params);
    assert_eq!(
        (r["imported"].clone(), r["duplicates"].clone()),
        (json!(0), json!(1)),
        "{r}"
    );
}
