//! `tollgate import-rates` and `tollgate rate`, run as a user would.

mod common;

use serde_json::Value;
use std::path::Path;
use std::process::{Command, Output};

fn tollgate() -> Command {
    Command::new(env!("CARGO_BIN_EXE_tollgate"))
}

fn run(args: &[&str], db: &Path) -> Output {
    let mut c = tollgate();
    c.arg(args[0]).arg(db).args(&args[1..]);
    c.output().unwrap()
}

fn call(db: &Path, method: &str, params: &str) -> Value {
    let out = run(&["call", method, params], db);
    let env: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(env["code"], true, "{method} {params}: {env}");
    env["return"].clone()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

const HEADER: &str =
    "code,code_name,rate,min_volume,interval,grace_volume,setup_fee,effective_from,effective_till\n";

#[test]
fn import_a_deck_then_rate_a_calls_file() {
    let dir = tempfile::tempdir().unwrap();
    let db = common::db_in(dir.path(), "r.db");
    let out = tollgate()
        .arg("init")
        .arg(&db)
        .env("TOLLGATE_ADMIN_PASSWORD", "cli-passw0rd-1")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let table = call(
        &db,
        "rateTables.add",
        r#"{"name": "Retail", "rounding": "half_up"}"#,
    )["id"]
        .as_i64()
        .unwrap();
    let client = call(
        &db,
        "clients.add",
        &format!(r#"{{"name": "Caller", "orig_rate_table": {table}}}"#),
    )["id"]
        .as_i64()
        .unwrap();
    call(
        &db,
        "accounts.add",
        &format!(
            r#"{{"id_clients": {client}, "name": "ani", "auth_type": "ani", "ident": "100"}}"#
        ),
    );
    let table_s = table.to_string();

    // A bad deck: refused with its line and column, exit 1, nothing imported.
    let bad = dir.path().join("bad.csv");
    std::fs::write(
        &bad,
        format!(
            "{HEADER}44,UK,1,30,1,2,0.3,2020-01-01,\n4420,London,cheap,30,1,2,0.3,2020-01-01,\n"
        ),
    )
    .unwrap();
    let out = run(&["import-rates", &table_s, bad.to_str().unwrap()], &db);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let msg = stderr(&out);
    assert!(msg.contains("line 3") && msg.contains("'rate'"), "{msg}");
    assert!(msg.contains("rating.deck_invalid"), "{msg}");
    let rates = call(
        &db,
        "rates.list",
        &format!(r#"{{"id_rate_tables": {table}}}"#),
    );
    assert_eq!(rates["total"], 0);

    // Usage and I/O errors exit 2.
    let out = run(&["import-rates", &table_s, "/no/such/deck.csv"], &db);
    assert_eq!(out.status.code(), Some(2));
    let out = run(
        &["import-rates", "not-a-number", bad.to_str().unwrap()],
        &db,
    );
    assert_eq!(out.status.code(), Some(2));

    // The vendor's worked example: rate 1, min 30, interval 1, grace 2, setup 0.3.
    let good = dir.path().join("good.csv");
    std::fs::write(
        &good,
        format!("{HEADER}44,UK,1,30,1,2,0.3,2020-01-01,\n4420,London,0.5,30,1,2,0.3,2020-01-01,\n"),
    )
    .unwrap();
    let out = run(&["import-rates", &table_s, good.to_str().unwrap()], &db);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains("imported 2 rates"));
    // A missing table is refused (exit 1).
    let out = run(&["import-rates", "999", good.to_str().unwrap()], &db);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    // --replace swaps the table's rates in one go.
    let out = run(
        &[
            "import-rates",
            &table_s,
            good.to_str().unwrap(),
            "--replace",
        ],
        &db,
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let rates = call(
        &db,
        "rates.list",
        &format!(r#"{{"id_rate_tables": {table}}}"#),
    );
    assert_eq!(rates["total"], 2);

    let calls = dir.path().join("calls.csv");
    std::fs::write(
        &calls,
        "call_id,account,destination,connect_time,duration\n\
         c25,100,447911123456,2026-01-15 10:00:00,25\n\
         c31,100,447911123456,2026-01-15 10:00:00,31\n\
         c2,100,447911123456,2026-01-15 10:00:00,2\n\
         c90,100,442071234567,2026-01-15 10:00:00,90\n\
         \"c,x\",100,331234,2026-01-15 10:00:00,60\n\
         cy,999,447911123456,2026-01-15 10:00:00,60\n\
         cz,100,447911123456,yesterday,60\n",
    )
    .unwrap();
    let rated = dir.path().join("rated.csv");
    let out = run(
        &[
            "rate",
            calls.to_str().unwrap(),
            "--out",
            rated.to_str().unwrap(),
        ],
        &db,
    );
    // Three rows carry errors: exit 1, every row written.
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stderr(&out).contains("rated 4 of 7 calls (3 with errors)"));
    let text = std::fs::read_to_string(&rated).unwrap();
    let mut lines = text.lines();
    assert_eq!(
        lines.next(),
        Some("call_id,account,destination,connect_time,duration,code,code_name,billed_seconds,cost,currency,error")
    );
    let mut r = csv::Reader::from_path(&rated).unwrap();
    let rows: Vec<Vec<String>> = r
        .records()
        .map(|x| x.unwrap().iter().map(str::to_string).collect())
        .collect();
    let dec = |s: &str| s.parse::<rust_decimal::Decimal>().unwrap();
    // (code, billed_seconds, cost) by value.
    let result = |i: usize| (rows[i][5].as_str(), rows[i][7].as_str(), dec(&rows[i][8]));
    assert_eq!(result(0), ("44", "30", dec("0.8")));
    assert_eq!(result(1), ("44", "31", dec("0.8167")));
    assert_eq!(result(2), ("44", "0", dec("0")));
    // London: 0.3 + 0.5 * 90 / 60 = 1.05.
    assert_eq!(result(3), ("4420", "90", dec("1.05")));
    assert_eq!(rows[3][6], "London");
    assert_eq!(rows[0][9], "USD");
    assert_eq!(rows[4][0], "c,x");
    assert!(rows[4][10].starts_with("rating.no_rate"), "{:?}", rows[4]);
    assert!(
        rows[5][10].starts_with("account.not_found"),
        "{:?}",
        rows[5]
    );
    assert!(
        rows[6][10].starts_with("validation.invalid"),
        "{:?}",
        rows[6]
    );
    assert_eq!(rows[6][8], "");
    // Nothing was charged.
    let xdrs = call(&db, "xdrs.list", "{}");
    assert_eq!(xdrs["total"], 0);
    let c = call(&db, "clients.editForm", &format!(r#"{{"id": {client}}}"#));
    assert_eq!(c["client"]["balance"].to_string(), "0");

    // A file without the needed columns is refused; a missing file is exit 2.
    let broken = dir.path().join("broken.csv");
    std::fs::write(&broken, "call_id,account\nx,100\n").unwrap();
    let out = run(&["rate", broken.to_str().unwrap()], &db);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("destination"), "{}", stderr(&out));
    let out = run(&["rate", "/no/such/calls.csv"], &db);
    assert_eq!(out.status.code(), Some(2));
}
