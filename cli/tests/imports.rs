//! `tollgate import-rates` with a carrier's deck, `tollgate import-cdrs` and `tollgate rerate`,
//! run as an operator would.

mod common;

use serde_json::Value;
use std::path::Path;
use std::process::{Command, Output};

fn run(args: &[&str], db: &Path) -> Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_tollgate"));
    c.arg(args[0]).arg(db).args(&args[1..]);
    c.output().unwrap()
}

fn call(db: &Path, method: &str, params: &str) -> Value {
    let out = run(&["call", method, params], db);
    let env: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(env["code"], true, "{method} {params}: {env}");
    env["return"].clone()
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

#[test]
fn a_carrier_deck_a_master_csv_and_a_rerating() {
    let dir = tempfile::tempdir().unwrap();
    let db = common::db_in(dir.path(), "i.db");
    let out = Command::new(env!("CARGO_BIN_EXE_tollgate"))
        .arg("init")
        .arg(&db)
        .env("TOLLGATE_ADMIN_PASSWORD", "cli-passw0rd-1")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    let table = call(&db, "rateTables.add", r#"{"name": "Carrier"}"#)["id"].to_string();
    let client = call(
        &db,
        "clients.add",
        &format!(r#"{{"name": "c", "orig_rate_table": {table}}}"#),
    )["id"]
        .to_string();
    call(
        &db,
        "accounts.add",
        &format!(
            r#"{{"id_clients": {client}, "name": "acc1", "auth_type": "login", "ident": "acc1"}}"#
        ),
    );
    call(
        &db,
        "transactions.add",
        &format!(r#"{{"id_clients": {client}, "type": "payment", "amount": "50"}}"#),
    );

    // The carrier's own column names, semicolons, a BOM and DD/MM/YYYY dates.
    let deck = dir.path().join("deck.csv");
    std::fs::write(
        &deck,
        "\u{feff}Prefix;Destination;Rate;Effective Date;Billing Increment;Notes\n44;UK;1,20;01/01/2026;60/60;x\n",
    )
    .unwrap();
    let out = run(
        &[
            "import-rates",
            &table,
            deck.to_str().unwrap(),
            "--date-format",
            "DD/MM/YYYY",
        ],
        &db,
    );
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("1 added"), "{}", text(&out));
    assert!(text(&out).contains("'Notes'"), "{}", text(&out));

    // Asterisk's Master.csv with loguniqueid=yes: one call, one unanswered, one bad line.
    let cdrs = dir.path().join("Master.csv");
    std::fs::write(
        &cdrs,
        concat!(
            "\"acc1\",\"100\",\"4420\",\"default\",\"\"\"A\"\" <100>\",\"SIP/100-01\",\"SIP/t-02\",\"Dial\",\"SIP/t/4420\",\"2026-01-10 10:00:00\",\"2026-01-10 10:00:05\",\"2026-01-10 10:01:35\",95,90,\"ANSWERED\",\"DOCUMENTATION\",\"1768039200.1\",\"\"\n",
            "\"acc1\",\"100\",\"4420\",\"default\",\"\"\"A\"\" <100>\",\"SIP/100-03\",\"\",\"Dial\",\"SIP/t/4420\",\"2026-01-10 11:00:00\",\"\",\"2026-01-10 11:00:20\",20,0,\"NO ANSWER\",\"DOCUMENTATION\",\"1768042800.2\",\"\"\n",
            "\"acc1\",\"100\",\"4420\",\"default\",\"\"\"A\"\" <100>\",\"SIP/100-04\",\"SIP/t-05\",\"Dial\",\"SIP/t/4420\",\"2026-01-10 12:00:00\",\"2026-01-10 12:00:01\",\"2026-01-10 12:00:11\",10,-10,\"ANSWERED\",\"DOCUMENTATION\",\"1768046400.3\",\"\"\n",
        ),
    )
    .unwrap();
    let args = [
        "import-cdrs",
        cdrs.to_str().unwrap(),
        "--format",
        "asterisk",
        "--timezone",
        "Europe/Paris",
    ];
    let out = run(&args, &db);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let t = text(&out);
    assert!(
        t.contains("1 imported") && t.contains("1 unanswered") && t.contains("1 refused"),
        "{t}"
    );
    assert!(t.contains("line 3"), "{t}");
    // Again: a duplicate, nothing charged twice.
    let out = run(&args, &db);
    assert!(
        text(&out).contains("0 imported, 1 duplicates"),
        "{}",
        text(&out)
    );
    let mut all = args.to_vec();
    all.push("--all-or-nothing");
    let out = run(&all, &db);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out).contains("nothing was imported"),
        "{}",
        text(&out)
    );
    let xdrs = call(&db, "xdrs.list", "{}");
    assert_eq!(xdrs["total"], 1);
    // Paris is UTC+1 in January.
    assert_eq!(xdrs["rows"][0]["connect_time"], "2026-01-10 09:00:05+00");

    // The price was wrong: re-rate January.
    let rate = call(
        &db,
        "rates.list",
        &format!(r#"{{"id_rate_tables": {table}}}"#),
    )["rows"][0]["id"]
        .to_string();
    call(
        &db,
        "rates.edit",
        &format!(r#"{{"id": {rate}, "rate": "0.6"}}"#),
    );
    let out = run(
        &["rerate", "--from", "2026-01-01", "--till", "2026-02-01"],
        &db,
    );
    assert!(out.status.success(), "{}", text(&out));
    let env: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(env["return"]["rerated"], 1, "{env}");
    let out = run(
        &["rerate", "--from", "2026-01-01", "--till", "2026-02-01"],
        &db,
    );
    let env: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(env["return"]["rerated"], 0, "{env}");
}
