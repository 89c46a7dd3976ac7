//! `tollgate serve`, run as an operator would: a real process on a real database file,
//! stopped by SIGTERM, called with raw HTTP and with Python's `urllib`.

mod common;

use common::{call_local, http, init, post_json, rpc, tollgate, Served, PASSWORD};
use serde_json::Value;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::Command;
use std::time::Duration;

#[test]
fn sigterm_lets_the_request_in_flight_finish_and_closes_the_database() {
    let dir = tempfile::tempdir().expect("dir");
    let db = common::db_in(dir.path(), "billing.db");
    init(&db);
    let served = Served::start(&db);

    // A second server on the same file is refused: one process owns a database.
    let second = tollgate()
        .arg("serve")
        .arg(&db)
        .args(["--listen", "127.0.0.1:0"])
        .output()
        .expect("second serve");
    assert_eq!(second.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&second.stderr).contains("in use"),
        "{}",
        String::from_utf8_lossy(&second.stderr)
    );

    let body = format!(
        r#"{{"jsonrpc":"2.0","id":1,"method":"clients.add","params":{{"auth":{{"login":"admin","password":"{PASSWORD}"}},"name":"Added during shutdown"}}}}"#
    );
    let (first, rest) = body.split_at(body.len() / 2);
    let mut s = TcpStream::connect(&served.addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(30)))
        .expect("timeout");
    write!(
        s,
        "POST /jsonrpc/ HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n{first}",
        body.len()
    )
    .expect("write head");
    std::thread::sleep(Duration::from_millis(200));
    served.term();
    std::thread::sleep(Duration::from_millis(300));
    s.write_all(rest.as_bytes()).expect("write rest");
    let mut answer = String::new();
    s.read_to_string(&mut answer).expect("answer");
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(answer.contains(r#""code":true"#), "{answer}");

    let log = served.rest_of_log();
    let mut served = served;
    let status = served.child.wait().expect("exit");
    assert!(status.success(), "{status:?}");
    let events: Vec<String> = log
        .iter()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .map(|v| v["event"].as_str().unwrap_or_default().to_string())
        .collect();
    assert!(events.contains(&"request".to_string()), "{log:?}");
    assert!(events.contains(&"shutdown".to_string()), "{log:?}");
    assert!(log.iter().any(|l| l.contains("engine closed")), "{log:?}");
    assert!(!log.join("\n").contains(PASSWORD));

    // The write is durable and the file is free again.
    let out = tollgate()
        .arg("call")
        .arg(&db)
        .args(["clients.list", r#"{"name": "Added during shutdown"}"#])
        .output()
        .expect("call");
    let env: Value = serde_json::from_slice(&out.stdout).expect("envelope");
    assert_eq!(env["return"]["total"], 1, "{env}");
}

#[test]
fn bad_tls_files_and_busy_ports_are_clear_errors() {
    let dir = tempfile::tempdir().expect("dir");
    let db = common::db_in(dir.path(), "billing.db");
    init(&db);
    let out = tollgate()
        .arg("serve")
        .arg(&db)
        .args(["--listen", "127.0.0.1:0", "--tls-cert"])
        .arg(dir.path().join("none.pem"))
        .arg("--tls-key")
        .arg(dir.path().join("none.key"))
        .output()
        .expect("serve");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("none.pem"));
    // --tls-cert without --tls-key is a usage error.
    let out = tollgate()
        .arg("serve")
        .arg(&db)
        .args(["--tls-cert", "x.pem"])
        .output()
        .expect("serve");
    assert!(!out.status.success());
    // A port already taken.
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let out = tollgate()
        .arg("serve")
        .arg(&db)
        .arg("--listen")
        .arg(taken.local_addr().expect("addr").to_string())
        .output()
        .expect("serve");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot listen"));
}

/// The smoke test a Python operator would write with nothing but the standard library.
const PYTHON: &str = r#"
import json, sys, urllib.request, urllib.parse, urllib.error
base, password = sys.argv[1], sys.argv[2]
def rpc(method, params):
    req = urllib.request.Request(base + "/jsonrpc/", data=json.dumps(
        {"jsonrpc": "2.0", "id": 1, "method": method, "params": params}).encode(),
        headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req) as r:
        return json.load(r)["result"]
login = rpc("auth.login", {"auth": {"login": "admin", "password": password}})
sid = login["session_id"]
added = rpc("clients.add", {"SID": sid, "name": "From Python"})
shown = rpc("clients.editForm", {"SID": sid, "id_clients": added["return"]["id"]})
form = urllib.parse.urlencode({"auth[login]": "admin", "auth[password]": password, "__api": 1}).encode()
with urllib.request.urlopen(base + "/admin/xdrs/download", data=form) as r:
    disposition = r.headers["Content-Disposition"]
    first_line = r.read().decode().splitlines()[0]
try:
    with urllib.request.urlopen(base + "/admin/xdrs/download", data=b"SID=1-nope") as r:
        refused = [r.status, r.headers["X-VCS-Status"]]
except urllib.error.HTTPError as e:
    refused = [e.code, e.headers["X-VCS-Status"]]
print(json.dumps({"name": shown["return"]["client"]["name"], "disposition": disposition,
                  "first_line": first_line, "refused": refused}))
"#;

#[test]
fn python_urllib_talks_to_the_server() {
    let dir = tempfile::tempdir().expect("dir");
    let db = common::db_in(dir.path(), "billing.db");
    init(&db);
    let served = Served::start(&db);
    let out = Command::new("python3")
        .args(["-c", PYTHON, &format!("http://{}", served.addr), PASSWORD])
        .output()
        .expect("python3 is on the machine");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(v["name"], "From Python");
    assert!(v["disposition"]
        .as_str()
        .is_some_and(|d| d.starts_with("attachment; filename=\"xdrs-")));
    assert!(v["first_line"]
        .as_str()
        .is_some_and(|l| l.starts_with("id,call_id,")));
    // A refusal is HTTP 200 with the vendor's error number (the vendor's client reads the
    // header only on a 200).
    assert_eq!(v["refused"], serde_json::json!([200, "2002"]));
    // A plain HTTP check too: healthz.
    let answer = http(
        &served.addr,
        "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    );
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    let answer = post_json(&served.addr, "{");
    assert!(answer.contains("-32700"), "{answer}");
}

#[test]
fn after_sigkill_the_holds_come_back_and_a_pre_crash_id_settles_its_own_call() {
    let dir = tempfile::tempdir().unwrap();
    let db = common::db_in(dir.path(), "k.db");
    init(&db);
    let table =
        call_local(&db, "rateTables.add", serde_json::json!({"name": "Retail"}))["id"].clone();
    call_local(
        &db,
        "rates.add",
        serde_json::json!({"id_rate_tables": table, "code": "44", "rate": "1", "effective_from": "2020-01-01"}),
    );
    for (name, ani) in [("first", "100"), ("second", "200")] {
        let c = call_local(
            &db,
            "clients.add",
            serde_json::json!({"name": name, "orig_rate_table": table}),
        )["id"]
            .clone();
        call_local(
            &db,
            "accounts.add",
            serde_json::json!({"id_clients": c, "name": ani, "auth_type": "ani", "ident": ani}),
        );
        call_local(
            &db,
            "transactions.add",
            serde_json::json!({"id_clients": c, "type": "payment", "amount": "10"}),
        );
    }
    let conf = dir.path().join("engine.toml");
    std::fs::write(&conf, "[engine]\nclock_interval_ms = 50\n").unwrap();
    let conf = conf.to_str().unwrap().to_string();
    let authorize = |addr: &str, ani: &str| {
        let r = rpc(
            addr,
            "core.authorize",
            serde_json::json!({"account": ani, "destination": "4420"}),
        );
        assert_eq!(r["code"], true, "{r}");
        r["return"]["reservation"].as_u64().expect("an id")
    };
    let refused = |addr: &str, ani: &str| {
        let r = rpc(
            addr,
            "core.authorize",
            serde_json::json!({"account": ani, "destination": "4420"}),
        );
        assert_eq!(r["code"], false, "{r}");
        r["errors"][0]["code"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    };
    let balance = |addr: &str, name: &str| {
        let r = rpc(addr, "clients.list", serde_json::json!({"q": name}));
        r["return"]["rows"][0]["balance"].to_string()
    };
    let before = {
        let served = Served::start_with(&db, &["--config", &conf]);
        let id = authorize(&served.addr, "100");
        // All 10.00 is held: a second simultaneous call is refused.
        assert_eq!(refused(&served.addr, "100"), "balance.insufficient");
        drop(served); // SIGKILL while the call is up
        id
    };
    let served = Served::start_with(&db, &["--config", &conf]);
    // The hold came back with the restart: the first call is still up on the switch.
    assert_eq!(refused(&served.addr, "100"), "balance.insufficient");
    let status = rpc(&served.addr, "core.status", serde_json::json!({}));
    assert_eq!(status["return"]["open_reservations"], 1, "{status}");
    assert_eq!(status["return"]["held_total"]["USD"], "10.0000", "{status}");
    let after = authorize(&served.addr, "200");
    assert_ne!(
        after, before,
        "a pre-crash reservation id was handed out again"
    );
    // The switch settles its pre-crash call by its old id: the first customer pays for it,
    // the second is untouched.
    let r = rpc(
        &served.addr,
        "core.settle",
        serde_json::json!({"reservation": before, "call_id": "pre-crash", "duration": 60}),
    );
    assert_eq!(r["code"], true, "{r}");
    assert_eq!(r["return"]["unreserved"], false, "{r}");
    assert_eq!(balance(&served.addr, "first"), "9.0000");
    assert_eq!(balance(&served.addr, "second"), "10");
    // Settled once, the id is spent: another call under it is unknown.
    let again = rpc(
        &served.addr,
        "core.settle",
        serde_json::json!({"reservation": before, "call_id": "other", "duration": 5}),
    );
    assert_eq!(
        again["errors"][0]["code"], "reservation.not_found",
        "{again}"
    );
    // The settings came from the file, and the engine's clock runs by itself.
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let s = rpc(&served.addr, "core.status", serde_json::json!({}));
        assert_eq!(s["return"]["settings"]["clock_interval_ms"], 50, "{s}");
        if s["return"]["last_tick"].is_string() {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the clock never ticked: {s}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn a_bad_engine_setting_is_a_clear_error_before_anything_opens() {
    let dir = tempfile::tempdir().unwrap();
    let db = common::db_in(dir.path(), "c.db");
    init(&db);
    let conf = dir.path().join("bad.toml");
    std::fs::write(&conf, "[engine]\nclock_interval = 5\n").unwrap();
    let out = tollgate()
        .args(["serve"])
        .arg(&db)
        .args(["--listen", "127.0.0.1:0", "--config"])
        .arg(&conf)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("clock_interval"), "{err}");
    let out = tollgate()
        .args(["serve"])
        .arg(&db)
        .args(["--listen", "127.0.0.1:0", "--max-call-seconds", "0"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("max_call_seconds"));
}
