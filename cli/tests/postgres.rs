//! The `tollgate` command on a PostgreSQL database (issue 16): `init`, `call`, `import-rates`,
//! `rate` and `serve` take a `postgres://` URL where they take a file, the password comes
//! from the environment (never only the command line) and is never printed, and the one
//! engine that owns the database is the only one that writes.
//!
//! Needs `TOLLGATE_TEST_PG` (scripts/pg-cluster.sh start); without it the test says so and
//! passes, unless `TOLLGATE_REQUIRE_PG=1` (the test script sets it).

mod common;

use common::{rpc, tollgate, Served, PASSWORD};
use serde_json::{json, Value};
use std::path::Path;

/// Is there a test server? Without one a test says so and passes, unless
/// `TOLLGATE_REQUIRE_PG=1`.
fn server_available() -> bool {
    if std::env::var("TOLLGATE_TEST_PG").is_ok() {
        return true;
    }
    assert!(
        std::env::var("TOLLGATE_REQUIRE_PG").as_deref() != Ok("1"),
        "TOLLGATE_REQUIRE_PG=1 but TOLLGATE_TEST_PG is not set"
    );
    eprintln!("no PostgreSQL server (TOLLGATE_TEST_PG): skipped");
    false
}

fn out_text(o: &std::process::Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

#[test]
fn the_command_line_on_a_postgres_url_with_the_password_from_the_environment() {
    if !server_available() {
        return;
    }
    let full = common::fresh_pg_database();
    let mut url = url::Url::parse(&full).expect("url");
    let secret = url.password().expect("a password").to_string();
    url.set_password(None).expect("no password");
    let bare = url.to_string();
    let db = Path::new(&bare);
    let with_pw = |c: &mut std::process::Command| {
        c.env("TOLLGATE_PG_PASSWORD", &secret);
    };

    // Without a password anywhere the server refuses, with a stable code.
    let out = tollgate()
        .arg("init")
        .arg(db)
        .env("TOLLGATE_ADMIN_PASSWORD", PASSWORD)
        .env_remove("TOLLGATE_PG_PASSWORD")
        .env_remove("PGPASSWORD")
        .output()
        .expect("init");
    assert_eq!(out.status.code(), Some(2), "{}", out_text(&out));
    assert!(
        out_text(&out).contains("store.access_denied"),
        "{}",
        out_text(&out)
    );

    let mut init = tollgate();
    init.arg("init")
        .arg(db)
        .env("TOLLGATE_ADMIN_PASSWORD", PASSWORD);
    with_pw(&mut init);
    let out = init.output().expect("init");
    assert!(out.status.success(), "{}", out_text(&out));
    assert!(!out_text(&out).contains(&secret), "{}", out_text(&out));

    let call = |method: &str, params: Value| -> Value {
        let mut c = tollgate();
        c.arg("call").arg(db).arg(method).arg(params.to_string());
        with_pw(&mut c);
        let out = c.output().expect("call");
        let v: Value = serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|_| panic!("no envelope: {}", out_text(&out)));
        assert_eq!(v["code"], true, "{method}: {v}");
        v["return"].clone()
    };
    let table = call("rateTables.add", json!({"name": "Retail"}))["id"].to_string();
    let dir = tempfile::tempdir().expect("dir");
    let deck = dir.path().join("deck.csv");
    std::fs::write(
        &deck,
        "code,code_name,rate,min_volume,interval,grace_volume,setup_fee,effective_from,effective_till\n\
         44,UK,0.6,1,1,0,0,2020-01-01,\n",
    )
    .expect("deck");
    let mut import = tollgate();
    import.arg("import-rates").arg(db).arg(&table).arg(&deck);
    with_pw(&mut import);
    let out = import.output().expect("import-rates");
    assert!(out.status.success(), "{}", out_text(&out));
    let client = call(
        "clients.add",
        json!({"name": "Acme", "orig_rate_table": table.parse::<i64>().expect("id")}),
    )["id"]
        .clone();
    call(
        "accounts.add",
        json!({"id_clients": client, "name": "a", "auth_type": "ani", "ident": "100"}),
    );
    call(
        "transactions.add",
        json!({"id_clients": client, "type": "payment", "amount": "10"}),
    );

    // `tollgate serve` on the URL; while it runs it owns the database.
    let mut serve = tollgate();
    with_pw(&mut serve);
    let served = Served::start_cmd(serve, db);
    let r = rpc(
        &served.addr,
        "core.authorize",
        json!({"account": "100", "auth_type": "ani", "destination": "4420"}),
    );
    let reservation = r["return"]["reservation"].clone();
    assert!(reservation.is_number() || reservation.is_string(), "{r}");
    let r = rpc(
        &served.addr,
        "core.settle",
        json!({"reservation": reservation, "call_id": "pg-cli-1", "duration": 60}),
    );
    assert_eq!(
        r["return"]["cost"].to_string().trim_matches('"'),
        "0.6000",
        "{r}"
    );
    let mut busy = tollgate();
    busy.arg("call").arg(db).arg("clients.list").arg("{}");
    with_pw(&mut busy);
    let out = busy.output().expect("call while served");
    assert_eq!(out.status.code(), Some(2), "{}", out_text(&out));
    assert!(out_text(&out).contains("in use"), "{}", out_text(&out));
    // Through the owner, with a login, the same command works.
    let mut through = tollgate();
    through
        .arg("call")
        .arg(db)
        .arg("clients.list")
        .arg("{}")
        .args(["--server", &format!("http://{}", served.addr)])
        .env("TOLLGATE_PASSWORD", PASSWORD);
    let out = through.output().expect("call --server");
    let v: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|_| panic!("no envelope: {}", out_text(&out)));
    assert_eq!(v["return"]["total"], 1, "{v}");
    let (log, status) = served.stop();
    assert!(status.success(), "{status:?}");
    assert!(
        !log.join("\n").contains(&secret),
        "the log shows the password"
    );

    // Closed, the settle is there for the next owner.
    let c = call("clients.editForm", json!({"id": client}));
    assert_eq!(
        c["client"]["balance"].to_string().trim_matches('"'),
        "9.4000"
    );
}

/// Two `tollgate serve` processes on one database: the first owns it, the second
/// (`--standby`) waits; the first is killed with SIGKILL in the middle of a stream of calls,
/// the second takes over and has every settle the first acknowledged, exactly once.
#[test]
fn a_standby_server_takes_over_when_the_owner_is_killed() {
    if !server_available() {
        return;
    }
    let url = common::fresh_pg_database();
    let db = Path::new(&url);
    common::init(db);
    let table = common::rate_table(db, "44", "0.6");
    let client = common::customer(db, &table, "Acme", "ani", "100", "1000");

    let first = Served::start(db);
    let db2 = db.to_path_buf();
    let standby =
        std::thread::spawn(move || Served::start_full_args(tollgate(), &db2, &["--standby"]));
    // Calls through the owner; each settle acknowledged is remembered.
    let mut acked = Vec::new();
    for k in 0..20 {
        let a = rpc(
            &first.addr,
            "core.authorize",
            json!({"account": "100", "auth_type": "ani", "destination": "4420"}),
        );
        let s = rpc(
            &first.addr,
            "core.settle",
            json!({"reservation": a["return"]["reservation"], "call_id": format!("take-{k}"), "duration": 60}),
        );
        assert_eq!(s["code"], true, "{s}");
        acked.push(format!("take-{k}"));
    }
    let mut first = first;
    first.child.kill().expect("SIGKILL");
    first.child.wait().expect("reaped");
    let second = standby.join().expect("standby started");
    // The new owner has each acknowledged call once, and goes on charging.
    let x = rpc(
        &second.addr,
        "xdrs.list",
        json!({"id_clients": client, "limit": 100}),
    );
    assert_eq!(x["return"]["total"], acked.len(), "{x}");
    let mut calls: Vec<String> = x["return"]["rows"]
        .as_array()
        .expect("rows")
        .iter()
        .map(|r| r["call_id"].as_str().expect("call id").to_string())
        .collect();
    calls.sort();
    acked.sort();
    assert_eq!(calls, acked);
    let a = rpc(
        &second.addr,
        "core.authorize",
        json!({"account": "100", "auth_type": "ani", "destination": "4420"}),
    );
    assert_eq!(a["code"], true, "{a}");
    let c = rpc(&second.addr, "clients.editForm", json!({"id": client}));
    // 1000 paid, 20 calls of a minute at 0.6.
    assert_eq!(
        c["return"]["client"]["balance"]
            .to_string()
            .trim_matches('"'),
        "988.0000",
        "{c}"
    );
    let (_, status) = second.stop();
    assert!(status.success(), "{status:?}");
}

const CHILD: &str = "TOLLGATE_PG_CALLER_CHILD";

/// One caller process (run by the test below): 8 threads, each authorizing and settling
/// calls on the prepaid client through the server until it is refused for funds.
#[test]
fn prepaid_caller_child() {
    let Ok(spec) = std::env::var(CHILD) else {
        return;
    };
    let (addr, process) = spec.split_once('|').expect("addr|process");
    let login = rpc(addr, "auth.login", json!({}));
    let sid = login["session_id"]
        .as_str()
        .or_else(|| login["return"]["session_id"].as_str())
        .map(str::to_string);
    let threads: Vec<_> = (0..8)
        .map(|t| {
            let (addr, process, sid) = (addr.to_string(), process.to_string(), sid.clone());
            std::thread::spawn(move || {
                let call = |method: &str, mut params: Value| -> Value {
                    match &sid {
                        Some(s) => params["SID"] = json!(s),
                        None => params["auth"] = json!({"login": "admin", "password": PASSWORD}),
                    }
                    let body =
                        json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params});
                    let reply = common::post_json(&addr, &body.to_string());
                    let json = reply.split("\r\n\r\n").nth(1).expect("a body");
                    serde_json::from_str::<Value>(json).expect("JSON")["result"].clone()
                };
                let mut k = 0;
                loop {
                    let a = call(
                        "core.authorize",
                        json!({"account": "100", "auth_type": "ani", "destination": "4420"}),
                    );
                    if a["code"] != true {
                        let code = a["errors"][0]["code"]
                            .as_str()
                            .unwrap_or_default()
                            .to_string();
                        assert_eq!(code, "balance.insufficient", "{a}");
                        break;
                    }
                    let max = a["return"]["max_seconds"].as_u64().expect("max_seconds");
                    let s = call(
                        "core.settle",
                        json!({"reservation": a["return"]["reservation"],
                               "call_id": format!("p{process}-t{t}-{k}"), "duration": max.min(45)}),
                    );
                    assert_eq!(s["code"], true, "{s}");
                    k += 1;
                }
            })
        })
        .collect();
    for t in threads {
        t.join().expect("caller thread");
    }
}

/// Three caller processes × 8 threads on one prepaid client, through the server that owns
/// the PostgreSQL database: nobody spends past balance + credit, and the balance ends as the
/// payments minus the sum of the xDRs' costs.
#[test]
fn three_processes_of_callers_never_overspend_a_prepaid_client() {
    if std::env::var(CHILD).is_ok() {
        return;
    }
    if !server_available() {
        return;
    }
    let url = common::fresh_pg_database();
    let db = Path::new(&url);
    common::init(db);
    let table = common::rate_table(db, "44", "0.6");
    let client = common::customer(db, &table, "Prepaid", "ani", "100", "60");
    let served = Served::start(db);
    let children: Vec<_> = (0..3)
        .map(|p| {
            std::process::Command::new(std::env::current_exe().expect("test binary"))
                .args([
                    "--exact",
                    "prepaid_caller_child",
                    "--nocapture",
                    "--test-threads=1",
                ])
                .env(CHILD, format!("{}|{p}", served.addr))
                .output()
                .expect("spawn a caller process")
        })
        .collect();
    for (p, out) in children.iter().enumerate() {
        assert!(
            out.status.success(),
            "caller process {p}: {}",
            out_text(out)
        );
    }
    let c = rpc(&served.addr, "clients.editForm", json!({"id": client}));
    let balance: tollgate::Decimal = c["return"]["client"]["balance"]
        .to_string()
        .trim_matches('"')
        .parse()
        .expect("balance");
    let x = rpc(
        &served.addr,
        "xdrs.list",
        json!({"id_clients": client, "limit": 1000}),
    );
    let costs: tollgate::Decimal = x["return"]["rows"]
        .as_array()
        .unwrap_or_else(|| panic!("rows: {x}"))
        .iter()
        .map(|r| {
            r["cost"]
                .to_string()
                .trim_matches('"')
                .parse::<tollgate::Decimal>()
                .expect("cost")
        })
        .sum();
    assert!(costs > tollgate::Decimal::ZERO, "no call was charged");
    assert!(balance >= tollgate::Decimal::ZERO, "overspent: {balance}");
    assert_eq!(balance, tollgate::Decimal::from(60) - costs, "{c}");
    assert!(x["return"]["total"].as_u64().expect("total") > 24, "{x}");
    let (_, status) = served.stop();
    assert!(status.success(), "{status:?}");
}
