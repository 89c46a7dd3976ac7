//! The PostgreSQL store's own cases (issue 16): what a bad server, bad credentials or a bad
//! database look like to the caller, the lease that lets one engine own a database, a lost
//! connection, and amounts kept exactly as written. The behaviour suites run on PostgreSQL
//! too (`TOLLGATE_TEST_BACKEND=postgres`, see scripts/test-all.sh).
//!
//! Needs a server: `TOLLGATE_TEST_PG` (scripts/pg-cluster.sh start prints it). Without one
//! these tests say so and pass, unless `TOLLGATE_REQUIRE_PG=1` (the test script sets it).
#![cfg(feature = "postgres")]

mod common;

use serde_json::json;
use tollgate::store::pg_testing;
use tollgate::{Engine, ErrorCode};

const ADMIN: &str = "admin";
const PASSWORD: &str = "admin-password-1";

/// The test server's URL, or `None` (and a note) when there is none.
fn server() -> Option<String> {
    match std::env::var("TOLLGATE_TEST_PG") {
        Ok(url) => Some(url),
        Err(_) => {
            assert!(
                std::env::var("TOLLGATE_REQUIRE_PG").as_deref() != Ok("1"),
                "TOLLGATE_REQUIRE_PG=1 but TOLLGATE_TEST_PG is not set"
            );
            eprintln!("no PostgreSQL server (TOLLGATE_TEST_PG): skipped");
            None
        }
    }
}

fn code<T>(r: tollgate::Result<T>) -> ErrorCode {
    match r {
        Ok(_) => panic!("expected an error"),
        Err(e) => e.code(),
    }
}

fn with_path(url: &str, path: &str) -> String {
    let mut u = url::Url::parse(url).unwrap();
    u.set_path(path);
    u.to_string()
}

#[test]
fn bad_servers_credentials_and_databases_get_their_own_codes() {
    let Some(admin) = server() else { return };
    // Nothing listens on this port.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let unreachable = format!("postgres://tollgate:x@127.0.0.1:{port}/postgres?connect_timeout=2");
    assert_eq!(
        code(Engine::open(&unreachable)),
        ErrorCode::StoreUnreachable
    );
    // A wrong password.
    let mut wrong = url::Url::parse(&admin).unwrap();
    wrong.set_password(Some("not-the-password")).unwrap();
    assert_eq!(
        code(Engine::open(wrong.as_str())),
        ErrorCode::StoreAccessDenied
    );
    let err = Engine::open(wrong.as_str()).unwrap_err().to_string();
    assert!(!err.contains("not-the-password"), "{err}");
    // A database that does not exist.
    assert_eq!(
        code(Engine::open(&with_path(&admin, "/no_such_database"))),
        ErrorCode::StoreNotFound
    );
    // An empty database: nothing to open until init.
    let empty = common::fresh_pg_database();
    assert_eq!(code(Engine::open(&empty)), ErrorCode::StoreNotFound);
    // Another application's database: neither opened nor taken over by create.
    let other = common::fresh_pg_database();
    pg_testing::execute(
        &other,
        "CREATE TABLE orders (id bigint primary key, total numeric)",
    )
    .unwrap();
    assert_eq!(code(Engine::open(&other)), ErrorCode::StoreNotTollgate);
    assert_eq!(
        code(Engine::create(&other, ADMIN, PASSWORD)),
        ErrorCode::StoreNotTollgate
    );
    // Create twice.
    let db = common::fresh_pg_database();
    drop(Engine::create(&db, ADMIN, PASSWORD).unwrap());
    assert_eq!(
        code(Engine::create(&db, ADMIN, PASSWORD)),
        ErrorCode::StoreExists
    );
    // A newer schema.
    pg_testing::execute(
        &db,
        "INSERT INTO schema_migrations (version, name) VALUES (99, 'from the future')",
    )
    .unwrap();
    assert_eq!(code(Engine::open(&db)), ErrorCode::StoreSchemaNewer);
    // An sslmode nobody knows is refused before anything is sent.
    assert_eq!(
        code(Engine::open(&format!("{admin}?sslmode=sometimes"))),
        ErrorCode::ValidationInvalid
    );
}

/// A create that fails half-way (here: the server refuses the administrator's row) or dies
/// after its schema leaves a database that `open` refuses and `create` starts again, rather
/// than one that every later `init` calls `store.exists`.
#[test]
fn a_create_that_did_not_finish_is_refused_by_open_and_done_again_by_create() {
    if server().is_none() {
        return;
    }
    let db = common::fresh_pg_database();
    // The server refuses every row of `users` once that table exists.
    pg_testing::execute(
        &db,
        r#"
        CREATE FUNCTION refuse_users() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN RAISE EXCEPTION 'no users today'; END $$;
        CREATE FUNCTION arm() RETURNS event_trigger LANGUAGE plpgsql AS $$
        BEGIN
          IF EXISTS (SELECT 1 FROM pg_tables WHERE schemaname = current_schema() AND tablename = 'users')
             AND NOT EXISTS (SELECT 1 FROM pg_trigger WHERE tgname = 'refuse') THEN
            CREATE TRIGGER refuse BEFORE INSERT ON users FOR EACH ROW EXECUTE FUNCTION refuse_users();
          END IF;
        END $$;
        CREATE EVENT TRIGGER arm ON ddl_command_end EXECUTE FUNCTION arm();
        "#,
    )
    .unwrap();
    let failed = Engine::create(&db, ADMIN, PASSWORD).unwrap_err();
    assert!(
        format!("{failed:?}").contains("no users today"),
        "{failed:?}"
    );
    pg_testing::execute(&db, "DROP EVENT TRIGGER arm").unwrap();
    let refused = Engine::open(&db).unwrap_err();
    assert_eq!(refused.code(), ErrorCode::StoreNotFound);
    assert!(refused.to_string().contains("did not finish"), "{refused}");
    // init again: the half-made schema (and the trigger on it) goes, and the create works.
    let e = Engine::create(&db, ADMIN, PASSWORD).unwrap();
    common::sid(&e, ADMIN, PASSWORD);
    drop(e);
    let e = Engine::open(&db).unwrap();
    common::sid(&e, ADMIN, PASSWORD);
    drop(e);
    assert_eq!(
        code(Engine::create(&db, ADMIN, PASSWORD)),
        ErrorCode::StoreExists
    );

    // A create that died after its migrations committed (the store made, nothing else).
    let db = common::fresh_pg_database();
    drop(tollgate::store::PgStore::create(&db).unwrap());
    assert_eq!(code(Engine::open(&db)), ErrorCode::StoreNotFound);
    let e = Engine::create(&db, ADMIN, PASSWORD).unwrap();
    common::sid(&e, ADMIN, PASSWORD);
}

#[test]
fn sslmode_require_encrypts_and_verifies_the_server() {
    let Some(_) = server() else { return };
    let Ok(ca) = std::env::var("TOLLGATE_TEST_PG_CA") else {
        panic!("TOLLGATE_TEST_PG_CA: the cluster's certificate (scripts/pg-cluster.sh prints it)")
    };
    let db = common::fresh_pg_database();
    let sep = if db.contains('?') { '&' } else { '?' };
    // The server's self-signed certificate is not among the system's CAs: refused.
    let unverified = format!("{db}{sep}sslmode=verify-full");
    let err = Engine::create(&unverified, ADMIN, PASSWORD).unwrap_err();
    assert_eq!(err.code(), ErrorCode::StoreUnreachable, "{err}");
    // Trusting it, every connection of the engine is encrypted.
    let tls = format!("{db}{sep}sslmode=require&sslrootcert={ca}");
    let e = Engine::create(&tls, ADMIN, PASSWORD).unwrap();
    assert!(
        e.call_as_system("clients.add", json!({"name": "over TLS"}))
            .code
    );
    let r = e.call_as_system("clients.list", json!({}));
    assert_eq!(r.ret["total"], 1);
    let name = url::Url::parse(&db)
        .unwrap()
        .path()
        .trim_start_matches('/')
        .to_string();
    let probe = format!("{db}{sep}sslmode=disable");
    pg_testing::execute(
        &probe,
        &format!(
            "DO $$ BEGIN
               IF (SELECT count(*) FROM pg_stat_activity a JOIN pg_stat_ssl s USING (pid)
                   WHERE a.datname = '{name}' AND a.pid <> pg_backend_pid() AND NOT s.ssl) > 0
               THEN RAISE EXCEPTION 'a connection in the clear'; END IF;
               IF (SELECT count(*) FROM pg_stat_activity a JOIN pg_stat_ssl s USING (pid)
                   WHERE a.datname = '{name}' AND s.ssl) < 2
               THEN RAISE EXCEPTION 'fewer than two encrypted connections'; END IF;
             END $$"
        ),
    )
    .unwrap();
}

#[test]
fn one_engine_owns_a_database_and_a_second_is_told_so() {
    let Some(_) = server() else { return };
    let db = common::fresh_pg_database();
    let first = Engine::create(&db, ADMIN, PASSWORD).unwrap();
    assert_eq!(code(Engine::open(&db)), ErrorCode::StoreInUse);
    // The owner goes on working; once it is closed, the next one opens.
    let r = first.call_as_system("clients.add", json!({"name": "Acme"}));
    assert!(r.code, "{:?}", r.errors);
    drop(first);
    let second = Engine::open(&db).unwrap();
    let r = second.call_as_system("clients.list", json!({}));
    assert_eq!(r.ret["total"], 1);
}

#[test]
fn a_lost_connection_writes_nothing_and_a_lost_lease_stops_writes() {
    let Some(_) = server() else { return };
    let db = common::fresh_pg_database();
    let e = Engine::create(&db, ADMIN, PASSWORD).unwrap();
    let add = |name: &str| e.call_as_system("clients.add", json!({"name": name}));
    assert!(add("before").code);
    // Every connection of the engine is closed under it (a server restart, a network cut).
    assert!(pg_testing::terminate_others(&db).unwrap() >= 2);
    // Writes fail with a clear code and write nothing: the lease went with its connection,
    // so another engine may own the database now.
    for name in ["during-1", "during-2"] {
        let r = add(name);
        assert!(!r.code, "a write after the lease was lost succeeded");
        let code = r.errors[0].code;
        assert!(
            code == ErrorCode::StoreHalted || code == ErrorCode::StoreUnreachable,
            "{code:?}"
        );
    }
    // Reads change nothing: they are retried on a fresh connection.
    let r = e.call_as_system("clients.list", json!({}));
    assert!(r.code, "{:?}", r.errors);
    assert_eq!(r.ret["total"], 1);
    drop(e);
    let e = Engine::open(&db).unwrap();
    let names: Vec<String> = e.call_as_system("clients.list", json!({})).ret["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(names, ["before"]);
    assert!(
        e.call_as_system("clients.add", json!({"name": "after"}))
            .code
    );
}

#[test]
fn amounts_read_back_exactly_as_written() {
    let Some(_) = server() else { return };
    let db = common::fresh_pg_database();
    let e = Engine::create(&db, ADMIN, PASSWORD).unwrap();
    let ok = |m: &str, p: serde_json::Value| {
        let r = e.call_as_system(m, p.clone());
        assert!(r.code, "{m} {p}: {:?}", r.errors);
        r.ret
    };
    let table = ok("rateTables.add", json!({"name": "T"}))["id"].clone();
    // A zero with a scale is the case the driver gets wrong on its own.
    for (code, rate) in [("41", "0.0000"), ("42", "0.0125"), ("43", "999999.9999")] {
        ok(
            "rates.add",
            json!({"id_rate_tables": table, "code": code, "rate": rate,
                   "effective_from": "2020-01-01"}),
        );
    }
    let rates: Vec<String> = ok("rates.list", json!({"id_rate_tables": table}))["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["rate"].to_string().trim_matches('"').to_string())
        .collect();
    assert_eq!(rates, ["0.0000", "0.0125", "999999.9999"]);
    let client = ok("clients.add", json!({"name": "c"}))["id"].clone();
    ok(
        "transactions.add",
        json!({"id_clients": client, "type": "payment", "amount": "10.10"}),
    );
    drop(e);
    let e = Engine::open(&db).unwrap();
    let r = e.call_as_system("clients.editForm", json!({"id": client}));
    assert_eq!(r.ret["client"]["balance"].to_string(), "10.10", "{}", r.ret);
    let amounts: Vec<String> = e
        .call_as_system("transactions.list", json!({"id_clients": client}))
        .ret["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["amount"].to_string().trim_matches('"').to_string())
        .collect();
    assert!(amounts.contains(&"10.10".to_string()), "{amounts:?}");
}

#[test]
fn a_new_owner_waits_for_the_last_transaction_of_a_killed_one() {
    let Some(_) = server() else { return };
    let db = common::fresh_pg_database();
    let e = Engine::create(&db, ADMIN, PASSWORD).unwrap();
    let r = e.call_as_system("clients.add", json!({"name": "first"}));
    let first = r.ret["id"].as_i64().unwrap();
    drop(e);
    // A dead owner's writer whose COMMIT is still on its way: a transaction holding the fence
    // shared, with a payment in it, that commits a second later.
    let (ready, started) = std::sync::mpsc::channel();
    let url = db.clone();
    let committer = std::thread::spawn(move || {
        let mut writer = postgres::Client::connect(&url, postgres::NoTls).unwrap();
        let mut tx = writer.transaction().unwrap();
        tx.execute(
            "SELECT pg_advisory_xact_lock_shared($1)",
            &[&pg_testing::FENCE],
        )
        .unwrap();
        tx.execute(
            "UPDATE clients SET balance = balance + 5 WHERE id = $1",
            &[&first],
        )
        .unwrap();
        ready.send(()).unwrap();
        std::thread::sleep(std::time::Duration::from_millis(1500));
        tx.commit().unwrap();
    });
    started.recv().unwrap();
    // The next owner opens only after it: the balance it holds in memory includes it.
    let e = Engine::open(&db).unwrap();
    committer.join().unwrap();
    let (balance, _) = e.client_balance_cached(first).unwrap();
    assert_eq!(balance, tollgate::Decimal::from(5));
}

/// A settle whose rows the server refuses when the batch sends them (rows kept back until
/// then, store/postgres/behind.rs) charges nothing: the balance, the ledger and the hold are
/// as before, in the database and in memory, and the same settle once the server takes it
/// again charges the call once.
#[test]
fn a_settle_the_server_refuses_when_its_rows_are_sent_charges_nothing() {
    let Some(_) = server() else { return };
    let db = common::fresh_pg_database();
    let e = Engine::create(&db, ADMIN, PASSWORD).unwrap();
    let ok = |m: &str, p: serde_json::Value| {
        let r = e.call_as_system(m, p.clone());
        assert!(r.code, "{m} {p}: {:?}", r.errors);
        r.ret
    };
    let table = ok("rateTables.add", json!({"name": "T"}))["id"].clone();
    ok(
        "rates.add",
        json!({"id_rate_tables": table, "code": "44", "rate": "1", "min_volume": 60,
               "interval": 60, "effective_from": "2020-01-01"}),
    );
    let client = ok(
        "clients.add",
        json!({"name": "c", "orig_rate_table": table}),
    )["id"]
        .as_i64()
        .unwrap();
    ok(
        "accounts.add",
        json!({"id_clients": client, "name": "a", "auth_type": "ani", "ident": "100"}),
    );
    ok(
        "transactions.add",
        json!({"id_clients": client, "type": "payment", "amount": "10"}),
    );
    let a = e
        .authorize(&tollgate::AuthorizeRequest {
            account: "100".into(),
            destination: "44123".into(),
            ..Default::default()
        })
        .unwrap();
    let held = e.client_balance_cached(client).unwrap();
    // The server now refuses every settle's audit row: the batch fails when it is sent.
    pg_testing::execute(
        &db,
        "ALTER TABLE audit ADD CONSTRAINT refuse_settles CHECK (method <> 'core.settle')",
    )
    .unwrap();
    let settle = tollgate::SettleRequest {
        reservation: Some(a.reservation),
        call_id: "call-1".into(),
        duration: 61,
        ..Default::default()
    };
    assert!(e.settle(&settle).is_err(), "a refused batch was answered");
    assert_eq!(e.client_balance_cached(client), Some(held));
    let xdrs = || ok("xdrs.list", json!({"id_clients": client}))["total"].as_i64();
    assert_eq!(xdrs(), Some(0), "an xDR of a refused batch was written");
    let entries = ok("transactions.list", json!({"id_clients": client}))["total"]
        .as_i64()
        .unwrap();
    assert_eq!(entries, 1, "only the payment");
    // Taken again: charged once, two started minutes.
    pg_testing::execute(&db, "ALTER TABLE audit DROP CONSTRAINT refuse_settles").unwrap();
    let s = e.settle(&settle).unwrap();
    assert!(!s.replayed);
    assert_eq!((s.cost, s.balance), (2.into(), 8.into()));
    assert!(e.settle(&settle).unwrap().replayed);
    assert_eq!(xdrs(), Some(1));
    drop(e);
    // What the database holds is what memory said.
    let e = Engine::open(&db).unwrap();
    assert_eq!(e.client_balance_cached(client), Some((8.into(), 0.into())));
}
