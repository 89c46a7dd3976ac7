//! `tollgate call|import-rates|import-cdrs|rerate` on a SQLite file that a running
//! `tollgate serve` owns: they go through that server (its address file beside the
//! database), with the same output as on the database itself; a stale address file falls
//! back to the database; `--server` logs in and a wrong password is `auth.failed`.

mod common;

use common::{call_local, customer, init, rate_table, rpc, tollgate, Served, PASSWORD};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Output;

fn address_file(db: &Path) -> PathBuf {
    let mut s = db.as_os_str().to_os_string();
    s.push(".server");
    PathBuf::from(s)
}

fn text(o: &Output) -> String {
    format!(
        "exit {:?}\n--- stdout\n{}--- stderr\n{}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// `tollgate COMMAND DB ARGS…`.
fn run(command: &str, db: &Path, args: &[&str]) -> Output {
    tollgate()
        .arg(command)
        .arg(db)
        .args(args)
        .output()
        .expect("run tollgate")
}

/// An operator: a rate table (4420 at 0.60 a minute, per second) and Alice (account acc1,
/// 10000 paid). Returns the table id.
fn operator(db: &Path) -> String {
    init(db);
    let table = rate_table(db, "4420", "0.60");
    customer(db, &table, "Alice", "login", "acc1", "10000");
    table.to_string()
}

/// A tollgate-format CDR file of `n` calls from acc1 (call ids padded so that the file
/// spans several requests to a server), call `bad` refused (no rate for its destination).
fn cdr_file(path: &Path, n: usize, bad: usize, prefix: &str) {
    let mut s = String::from("call_id,account,destination,connect_time,duration\n");
    for i in 1..=n {
        let dst = if i == bad { "99999" } else { "4420123" };
        s.push_str(&format!(
            "{prefix}-{i:06}-{pad},acc1,{dst},2026-01-10 10:00:00,{secs}\n",
            pad = "x".repeat(60),
            secs = 30 + i % 60
        ));
    }
    std::fs::write(path, s).expect("write cdrs");
}

#[test]
fn each_command_goes_through_the_server_with_the_output_it_has_on_the_database() {
    let dir = tempfile::tempdir().expect("dir");
    let direct = dir.path().join("direct.db");
    let served_db = dir.path().join("served.db");
    let table = operator(&direct);
    assert_eq!(operator(&served_db), table);
    let served = Served::start(&served_db);

    // The address file: owner-only, naming the server.
    let file = address_file(&served_db);
    let meta = std::fs::metadata(&file).expect("an address file beside the database");
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(meta.permissions().mode() & 0o777, 0o600);
    let recorded: Value =
        serde_json::from_str(&std::fs::read_to_string(&file).expect("read")).expect("JSON");
    assert_eq!(
        recorded["url"].as_str(),
        Some(format!("http://{}", served.addr).as_str())
    );

    // Without the server the file is in use.
    let deck = dir.path().join("deck.csv");
    std::fs::write(
        &deck,
        "code,code_name,rate,effective_from,increment,notes\n4420,London,0.50,2026-01-01,1/1,x\n4421,Leeds,0.40,2026-01-01,60/60,y\n",
    )
    .expect("deck");
    let bad_deck = dir.path().join("bad.csv");
    std::fs::write(
        &bad_deck,
        "code,code_name,rate,effective_from\n4430,Hull,0.50,2026-01-01\n4431,York,lots,2026-01-01\n",
    )
    .expect("deck");
    // More than one request's worth (512 KiB a request): the refused call is in the second.
    let cdrs = dir.path().join("calls.csv");
    cdr_file(&cdrs, 7000, 6500, "c");
    let small = dir.path().join("small.csv");
    cdr_file(&small, 5, 2, "s");

    let same = |command: &str, args: &[&str]| -> Output {
        let a = run(command, &direct, args);
        let b = run(command, &served_db, args);
        assert_eq!(
            text(&a),
            text(&b),
            "{command} {args:?}: directly, then through the server"
        );
        b
    };
    let cdrs = cdrs.to_str().expect("utf-8");
    let out = same("import-cdrs", &[cdrs, "--format", "tollgate"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let t = text(&out);
    assert!(
        t.contains("7000 lines: 6999 imported, 0 duplicates, 0 unanswered, 1 refused"),
        "{t}"
    );
    // The line of the file (its header is line 1), not of the request that carried it.
    assert!(t.contains("line 6501:"), "{t}");
    assert!(t.contains("(rating.no_rate)"), "{t}");
    let out = same("import-cdrs", &[cdrs, "--format", "tollgate"]);
    assert!(
        text(&out).contains("0 imported, 6999 duplicates"),
        "{}",
        text(&out)
    );
    let small = small.to_str().expect("utf-8");
    let out = same(
        "import-cdrs",
        &[small, "--format", "tollgate", "--all-or-nothing"],
    );
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        text(&out).contains("nothing was imported"),
        "{}",
        text(&out)
    );

    // A price change from 2026-01-01, before the calls: re-rating prices them again.
    let deck = deck.to_str().expect("utf-8");
    let out = same("import-rates", &[&table, deck]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(text(&out).contains("1 added, 1 changed"), "{}", text(&out));
    assert!(text(&out).contains("'notes'"), "{}", text(&out));
    // Every option, in the spellings the CLI accepts (lower-case date format, a separator).
    let carrier = dir.path().join("carrier.csv");
    std::fs::write(
        &carrier,
        "Dst Prefix;Destination;Price;Start\n4450;Bath;0,30;15/01/2026\n4451;Wells;0,35;01/02/2026\n",
    )
    .expect("deck");
    let out = same(
        "import-rates",
        &[
            &table,
            carrier.to_str().expect("utf-8"),
            "--date-format",
            "dd/mm/yyyy",
            "--separator",
            ";",
            "--column",
            "code=Dst Prefix",
            "--column",
            "effective_from=Start",
            "--effective-from",
            "2026-01-02",
            "--mode",
            "update",
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(text(&out).contains("2 added"), "{}", text(&out));
    let out = same(
        "import-rates",
        &[&table, bad_deck.to_str().expect("utf-8"), "--mode", "add"],
    );
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains("rating.deck_invalid"), "{}", text(&out));
    assert!(
        text(&out).contains("nothing was imported"),
        "{}",
        text(&out)
    );

    let rerate = ["--from", "2026-01-01", "--till", "2026-02-01"];
    let out = same("rerate", &rerate);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let env: Value = serde_json::from_slice(&out.stdout).expect("envelope");
    // 0.60 a minute became 0.50 for every call imported before the deck's 2026-01-01.
    assert_eq!(env["return"]["rerated"], 6999, "{env}");
    let out = same("rerate", &rerate);
    let env: Value = serde_json::from_slice(&out.stdout).expect("envelope");
    assert_eq!(env["return"]["rerated"], 0, "{env}");
    // An unknown method is answered as the engine answers it.
    let out = same("call", &["clients.nope", "{}"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));

    // A call's authorize and settle, as the local operator, through the server.
    let authorize = r#"{"account": "acc1", "destination": "4420555"}"#;
    let mut reservations = Vec::new();
    for db in [&direct, &served_db] {
        let out = run("call", db, &["core.authorize", authorize]);
        assert_eq!(out.status.code(), Some(0), "{}", text(&out));
        let env: Value = serde_json::from_slice(&out.stdout).expect("envelope");
        let id = env["return"]["reservation"]
            .as_u64()
            .expect("a reservation");
        reservations.push(id);
        let settle = format!(r#"{{"reservation": {id}, "call_id": "live-1", "duration": 120}}"#);
        let out = run("call", db, &["core.settle", &settle]);
        assert_eq!(out.status.code(), Some(0), "{}", text(&out));
        let env: Value = serde_json::from_slice(&out.stdout).expect("envelope");
        assert_eq!(env["return"]["cost"].to_string(), "1.0000", "{env}");
    }
    // The server's own view: the settle it was sent is there.
    let r = rpc(
        &served.addr,
        "xdrs.list",
        serde_json::json!({"call_id": "live-1"}),
    );
    assert_eq!(r["return"]["total"], 1, "{r}");

    // A clean stop removes the address file; the database is the server's no more.
    let (_, status) = served.stop();
    assert!(status.success());
    assert!(!file.exists(), "the address file outlived its server");
    let balance = |db: &Path| {
        call_local(db, "clients.list", serde_json::json!({"name": "Alice"}))["rows"][0]["balance"]
            .clone()
    };
    assert_eq!(balance(&direct), balance(&served_db));
    assert_ne!(balance(&served_db), Value::from("10000.0000"));
}

#[test]
fn a_stale_address_file_falls_back_to_the_database() {
    let dir = tempfile::tempdir().expect("dir");
    let db = dir.path().join("billing.db");
    init(&db);
    // A server killed with SIGKILL leaves its address file behind.
    let served = Served::start(&db);
    drop(served);
    assert!(address_file(&db).exists());
    let out = run(
        "call",
        &db,
        &["clients.add", r#"{"name": "After the crash"}"#],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));

    // A file naming a port nobody listens on, or that is not an address at all.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port();
    std::fs::write(
        address_file(&db),
        format!(r#"{{"url": "http://127.0.0.1:{port}", "secret": "00", "pid": 1}}"#),
    )
    .expect("write");
    let out = run(
        "call",
        &db,
        &["clients.list", r#"{"name": "After the crash"}"#],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let env: Value = serde_json::from_slice(&out.stdout).expect("envelope");
    assert_eq!(env["return"]["total"], 1, "{env}");
    std::fs::write(address_file(&db), "garbage").expect("write");
    let out = run(
        "rerate",
        &db,
        &["--from", "2026-01-01", "--till", "2026-02-01"],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
}

#[test]
fn server_flag_logs_in_and_a_wrong_password_is_auth_failed() {
    let dir = tempfile::tempdir().expect("dir");
    let db = dir.path().join("billing.db");
    init(&db);
    let served = Served::start(&db);
    let url = format!("http://{}", served.addr);
    let list = r#"{"name": "By login"}"#;

    let out = tollgate()
        .args(["call"])
        .arg(&db)
        .args(["clients.list", list, "--server", &url])
        .env("TOLLGATE_PASSWORD", "not-the-password")
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("(auth.failed)"), "{}", text(&out));
    assert!(!text(&out).contains("not-the-password"), "{}", text(&out));

    // The right password, from a file: the call runs as that user.
    let pw = dir.path().join("pw");
    std::fs::write(&pw, format!("{PASSWORD}\n")).expect("write");
    let pw = pw.to_str().expect("utf-8");
    let out = tollgate()
        .args(["call"])
        .arg(&db)
        .args(["clients.add", r#"{"name": "By login"}"#, "--server", &url])
        .args(["--login", "admin", "--password-file", pw])
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let r = rpc(&served.addr, "audit.list", serde_json::json!({}));
    let rows = r["return"]["rows"].as_array().cloned().unwrap_or_default();
    assert!(
        rows.iter()
            .any(|row| row["method"] == "clients.add" && row["login"] == "admin"),
        "{r}"
    );
    let out = tollgate()
        .args(["call"])
        .arg(&db)
        .args([
            "clients.list",
            list,
            "--server",
            &url,
            "--password-file",
            pw,
        ])
        .output()
        .expect("run");
    let env: Value = serde_json::from_slice(&out.stdout).expect("envelope");
    assert_eq!(env["return"]["total"], 1, "{env}");

    // An address file whose secret is not the server's is refused, not run as the operator.
    let file = address_file(&db);
    let mut recorded: Value =
        serde_json::from_str(&std::fs::read_to_string(&file).expect("read")).expect("JSON");
    recorded["secret"] = "0".repeat(64).into();
    std::fs::write(&file, recorded.to_string()).expect("write");
    let out = run("call", &db, &["clients.list", "{}"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("(auth.failed)"), "{}", text(&out));

    // A server that is not there: a clear error, not a fallback (--server was asked for).
    drop(served);
    let out = tollgate()
        .args(["call"])
        .arg(&db)
        .args([
            "clients.list",
            "{}",
            "--server",
            &url,
            "--password-file",
            pw,
        ])
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        text(&out).contains("cannot reach the server"),
        "{}",
        text(&out)
    );
}
