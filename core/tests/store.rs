//! Database files: persistence across reopen, exclusive ownership, and clear errors for
//! files that are not ours.

mod common;
use common::session::*;
use serde_json::json;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use tollgate::{Engine, ErrorCode};

fn code(r: Result<Engine, tollgate::Error>) -> ErrorCode {
    match r {
        Ok(_) => panic!("expected an error"),
        Err(e) => e.code(),
    }
}

#[test]
fn close_and_reopen_finds_everything() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("billing.db");
    let path = path.to_str().unwrap();
    let (client, sid) = {
        let e = Engine::create(path, ADMIN, PASSWORD).unwrap();
        let sid = e
            .call("auth.login", json!({"login": ADMIN, "password": PASSWORD}))
            .session_id
            .unwrap();
        let id = ok(
            &e,
            &sid,
            "clients.add",
            json!({"name": "Persisted", "credit": "12.3400"}),
        )["id"]
            .as_i64()
            .unwrap();
        ok(
            &e,
            &sid,
            "accounts.add",
            json!({"id_clients": id, "name": "a", "auth_type": "ani", "ident": "123"}),
        );
        (id, sid)
    };
    let e = Engine::open(path).unwrap();
    // The session survives too (it is stored, hashed).
    let c = ok(&e, &sid, "clients.editForm", json!({"id": client}));
    assert_eq!(c["client"]["name"], "Persisted");
    assert_eq!(c["client"]["credit"].to_string(), "12.3400");
    assert_eq!(
        ok(&e, &sid, "accounts.list", json!({"id_clients": client}))["total"],
        1
    );
    assert_eq!(
        ok(&e, &sid, "audit.list", json!({"method": "clients.add"}))["total"],
        1
    );
}

#[test]
fn a_second_engine_on_the_same_file_gets_in_use() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("billing.db");
    let path = path.to_str().unwrap();
    let first = Engine::create(path, ADMIN, PASSWORD).unwrap();
    assert_eq!(code(Engine::open(path)), ErrorCode::StoreInUse);
    drop(first);
    Engine::open(path).expect("free again after close");
}

/// Not a test on its own: the child process of the test below (run with `--ignored`).
#[test]
#[ignore = "helper process of another_process_holding_the_file_gives_in_use"]
fn child_holder() {
    let Ok(path) = std::env::var("TOLLGATE_HOLD") else {
        return;
    };
    let _e = Engine::open(&path).unwrap();
    println!("HOLDING");
    std::thread::sleep(std::time::Duration::from_secs(30));
}

#[test]
fn another_process_holding_the_file_gives_in_use() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("billing.db");
    let path = path.to_str().unwrap();
    drop(Engine::create(path, ADMIN, PASSWORD).unwrap());
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "child_holder",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("TOLLGATE_HOLD", path)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    assert!(
        lines.any(|l| l.map(|l| l.contains("HOLDING")).unwrap_or(false)),
        "child did not open the database"
    );
    let got = code(Engine::open(path));
    child.kill().unwrap();
    child.wait().unwrap();
    assert_eq!(got, ErrorCode::StoreInUse);
    Engine::open(path).expect("free after the other process died");
}

/// Not a test on its own: a process that dies in the middle of a create, after the schema
/// is committed and before the administrator and `created_at` (run with `--ignored`).
#[test]
#[ignore = "helper process of a_create_that_died_half_way_is_refused_then_done_again"]
fn child_dies_mid_create() {
    let Ok(path) = std::env::var("TOLLGATE_DIE_CREATING") else {
        return;
    };
    let store = tollgate::store::SqliteStore::create(&path).unwrap();
    println!("SCHEMA MADE");
    if std::env::var_os("TOLLGATE_DIE_NOW").is_some() {
        std::process::abort();
    }
    // Still creating (holding the file) until killed.
    std::thread::sleep(std::time::Duration::from_secs(30));
    drop(store);
}

fn die_creating(path: &str, abort: bool) -> std::process::Child {
    let mut cmd = Command::new(std::env::current_exe().unwrap());
    cmd.args([
        "--exact",
        "child_dies_mid_create",
        "--ignored",
        "--nocapture",
        "--test-threads=1",
    ])
    .env("TOLLGATE_DIE_CREATING", path)
    .stdout(Stdio::piped())
    .stderr(Stdio::null());
    if abort {
        cmd.env("TOLLGATE_DIE_NOW", "1");
    }
    let mut child = cmd.spawn().unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    assert!(
        lines.any(|l| l.map(|l| l.contains("SCHEMA MADE")).unwrap_or(false)),
        "child did not make the schema"
    );
    child
}

/// A create whose process died after the schema and before the administrator leaves a file
/// that `open` refuses (it has no administrator: nobody could log in) and that `init` takes
/// over, instead of `store.exists` until someone deletes it by hand. A create still running
/// in another process is not taken over.
#[test]
fn a_create_that_died_half_way_is_refused_then_done_again() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("billing.db");
    let path = path.to_str().unwrap();

    // Still running: its file is not touched.
    let mut running = die_creating(path, false);
    assert_eq!(
        code(Engine::create(path, ADMIN, PASSWORD)),
        ErrorCode::StoreExists
    );
    running.kill().unwrap();
    running.wait().unwrap();

    // Killed half-way (abort: no destructor, no cleanup).
    std::fs::remove_file(path).unwrap();
    let mut died = die_creating(path, true);
    assert!(!died.wait().unwrap().success());
    let refused = Engine::open(path).unwrap_err();
    assert_eq!(refused.code(), ErrorCode::StoreNotFound);
    assert!(refused.to_string().contains("did not finish"), "{refused}");
    let e = Engine::create(path, ADMIN, PASSWORD).unwrap();
    sid_of(&e);
    drop(e);
    let e = Engine::open(path).unwrap();
    sid_of(&e);
    drop(e);
    assert_eq!(
        code(Engine::create(path, ADMIN, PASSWORD)),
        ErrorCode::StoreExists
    );
}

fn sid_of(e: &Engine) -> String {
    e.call("auth.login", json!({"login": ADMIN, "password": PASSWORD}))
        .session_id
        .expect("the administrator logs in")
}

#[test]
fn files_that_are_not_tollgate_databases() {
    let dir = tempfile::tempdir().unwrap();
    let text = dir.path().join("notes.txt");
    let content = "this is not a database, just some text that is long enough to have a header";
    std::fs::write(&text, content).unwrap();
    assert_eq!(
        code(Engine::open(text.to_str().unwrap())),
        ErrorCode::StoreNotTollgate
    );

    let other = dir.path().join("other.db");
    foreign_sqlite(&other);
    assert_eq!(
        code(Engine::open(other.to_str().unwrap())),
        ErrorCode::StoreNotTollgate
    );

    assert_eq!(
        code(Engine::open(
            dir.path().join("missing.db").to_str().unwrap()
        )),
        ErrorCode::StoreNotFound
    );
    assert_eq!(
        code(Engine::create(text.to_str().unwrap(), ADMIN, PASSWORD)),
        ErrorCode::StoreExists
    );
    assert_eq!(
        std::fs::read_to_string(&text).unwrap(),
        content,
        "create must not touch an existing file"
    );
}

// An ordinary SQLite database made by "another application": Tollgate's own store, but with
// the application id cleared, is the simplest way without a second SQLite binding.
fn foreign_sqlite(path: &std::path::Path) {
    let p = path.to_str().unwrap();
    drop(Engine::create(p, ADMIN, PASSWORD).unwrap());
    let mut bytes = std::fs::read(path).unwrap();
    // The application id lives at offset 68 of the header.
    bytes[68..72].copy_from_slice(&[0, 0, 0, 0]);
    std::fs::write(path, bytes).unwrap();
}

#[test]
fn a_newer_schema_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("future.db");
    let p = path.to_str().unwrap();
    drop(Engine::create(p, ADMIN, PASSWORD).unwrap());
    tollgate::store::testing::set_schema_version(p, tollgate::store::SCHEMA_VERSION + 1).unwrap();
    let err = Engine::open(p).unwrap_err();
    assert_eq!(err.code(), ErrorCode::StoreSchemaNewer);
    assert!(err.to_string().contains("newer"), "{err}");
}

#[test]
fn create_checks_its_arguments() {
    assert_eq!(
        code(Engine::create(":memory:", "", PASSWORD)),
        ErrorCode::ValidationInvalid
    );
    assert_eq!(
        code(Engine::create(":memory:", ADMIN, "short")),
        ErrorCode::ValidationInvalid
    );
    assert_eq!(code(Engine::open(":memory:")), ErrorCode::StoreNotFound);
}

/// An open reads clients, accounts and rates in pages (of 1,000 rows): a table several pages
/// long is loaded whole, to its last row. Before paging, every row was read at once; a pager
/// that stopped early would leave the last clients unknown ("account not found") and the last
/// codes unpriced.
#[test]
fn a_reopen_loads_every_client_account_and_rate_past_the_first_page() {
    const CLIENTS: usize = 2_050;
    const CODES: usize = 2_500;
    let dir = tempfile::tempdir().unwrap();
    let path = common::db_path(dir.path(), "pages.db");
    let mut ids = Vec::with_capacity(CLIENTS);
    {
        let e = Engine::create(&path, ADMIN, PASSWORD).unwrap();
        let sid = e
            .call("auth.login", json!({"login": ADMIN, "password": PASSWORD}))
            .session_id
            .unwrap();
        let table = ok(&e, &sid, "rateTables.add", json!({"name": "Deck"}))["id"]
            .as_i64()
            .unwrap();
        let mut csv = String::from("code,code_name,rate,effective_from\n");
        for k in 0..CODES {
            // Codes 5000000..5002499; code k costs k/1000 a minute, so each prices apart.
            csv.push_str(&format!(
                "{},Code {k},{}.{:03},2020-01-01 00:00:00\n",
                5_000_000 + k,
                k / 1000,
                k % 1000 + 1
            ));
        }
        ok(
            &e,
            &sid,
            "rates.import",
            json!({"id_rate_tables": table, "csv": csv}),
        );
        for k in 0..CLIENTS {
            let c = ok(
                &e,
                &sid,
                "clients.add",
                json!({"name": format!("C{k}"), "credit": format!("{}", 100 + k), "orig_rate_table": table}),
            )["id"]
                .as_i64()
                .unwrap();
            ok(
                &e,
                &sid,
                "accounts.add",
                json!({"id_clients": c, "name": "a", "auth_type": "ani", "ident": format!("{}", 700_000 + k)}),
            );
            ids.push(c);
        }
    }
    let e = Engine::open(&path).unwrap();
    for (k, code) in [
        (0, 0),
        (999, 1000),
        (1000, 1999),
        (2001, 2000),
        (CLIENTS - 1, CODES - 1),
    ] {
        let a = e
            .authorize(&tollgate::AuthorizeRequest {
                account: format!("{}", 700_000 + k),
                auth_type: Some("ani".into()),
                destination: format!("{}99", 5_000_000 + code),
                ..Default::default()
            })
            .unwrap_or_else(|err| panic!("account {k} after the reopen: {err}"));
        assert_eq!(a.code, format!("{}", 5_000_000 + code));
        assert_eq!(
            a.rate,
            format!("{}.{:03}", code / 1000, code % 1000 + 1)
                .parse::<rust_decimal::Decimal>()
                .unwrap()
        );
        // The account is k's, charged to client k, whose own credit limit (100 + k) bounds
        // the hold.
        assert_eq!(a.client, ids[k], "account {k}'s client");
        assert!(a.held > rust_decimal::Decimal::ZERO);
        assert!(a.held <= rust_decimal::Decimal::from(100 + k));
        e.release(a.reservation).unwrap();
    }
}
