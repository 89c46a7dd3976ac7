//! `tollgate serve --radius`, driven by FreeRADIUS's own client (`radclient`, Debian's
//! `freeradius-utils`, installed by scripts/setup.sh) and by raw datagrams for what radclient
//! cannot send (exact retransmissions, broken packets, strangers).

mod common;

use common::{customer, init, rate_table, rpc, Served};
use serde_json::{json, Value};
use std::io::Write;
use std::net::UdpSocket;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;
use tollgate_radius::codec::{self, code, Builder, Packet};
use tollgate_radius::dict::{attr, status};

const SECRET: &str = "radius-test-secret-1";

/// `radclient -x` with `pairs` on standard input: (got an answer, its output).
fn radclient(
    server: &str,
    kind: &str,
    secret: &str,
    pairs: &str,
    extra: &[&str],
) -> (bool, String) {
    let mut child = Command::new("radclient")
        .args(["-x", "-t", "1", "-r", "1"])
        .args(extra)
        .args([server, kind, secret])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("radclient (Debian's freeradius-utils) is required: scripts/setup.sh installs it");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(pairs.as_bytes())
        .expect("write pairs");
    let out = child.wait_with_output().expect("radclient ran");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (text.contains("Received "), text)
}

fn xdrs(addr: &str) -> Vec<Value> {
    let r = rpc(addr, "xdrs.list", json!({}));
    assert_eq!(r["code"], true, "{r}");
    r["return"]["rows"].as_array().cloned().unwrap_or_default()
}

fn balance(addr: &str, client: i64) -> f64 {
    let r = rpc(addr, "clients.editForm", json!({"id_clients": client}));
    r["return"]["client"]["balance"]
        .to_string()
        .parse()
        .expect("a number")
}

/// The counters of the front door's last log line.
fn counters(log: &[String]) -> std::collections::HashMap<String, u64> {
    let line = log
        .iter()
        .find(|l| l.contains("\"radius: accepts="))
        .unwrap_or_else(|| panic!("no RADIUS stop line in {log:?}"));
    let v: Value = serde_json::from_str(line).expect("JSON");
    v["message"]
        .as_str()
        .unwrap_or_default()
        .trim_start_matches("radius: ")
        .split(' ')
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.to_string(), v.parse().unwrap_or(0)))
        .collect()
}

fn write(dir: &Path, name: &str, text: &str) -> String {
    let p = dir.join(name);
    std::fs::write(&p, text).expect("write");
    p.to_str().expect("utf-8").to_string()
}

#[test]
fn radclient_is_accepted_rejected_and_charged_once() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("r.db");
    init(&db);
    let table = rate_table(&db, "44", "1");
    let alice = customer(&db, &table, "Alice", "login", "alice", "10");
    let _bob = customer(&db, &table, "Bob", "login", "bob", "0");
    let ani = customer(&db, &table, "By number", "ani", "5551000", "5");
    let secret = write(dir.path(), "secret", &format!("{SECRET}\n"));
    // A quota is configured: a RADIUS grant still holds (and tells) the whole duration.
    let served = Served::start_with(
        &db,
        &[
            "--radius",
            "127.0.0.1:0",
            "--radius-secret-file",
            &secret,
            "--quota-seconds",
            "30",
        ],
    );
    let radius = served.radius.clone().expect("a RADIUS address");

    // Funded: 10 at 1 a minute is 600 s, in Session-Timeout and Cisco's h323-credit-time.
    let (answered, out) = radclient(
        &radius,
        "auth",
        SECRET,
        "User-Name = \"alice\", Called-Station-Id = \"4420\", Acct-Session-Id = \"call-1\", Message-Authenticator = 0x00\n",
        &[],
    );
    assert!(answered && out.contains("Received Access-Accept"), "{out}");
    assert!(out.contains("Session-Timeout = 600"), "{out}");
    assert!(
        out.contains("h323-credit-time = \"h323-credit-time=600\""),
        "{out}"
    );
    assert!(
        out.contains("h323-return-code = \"h323-return-code=0\""),
        "{out}"
    );
    let class = out
        .lines()
        .find_map(|l| l.trim().strip_prefix("Class = "))
        .expect("a Class")
        .to_string();

    // Unfunded, and unknown: rejected with the refusal's code.
    let (_, out) = radclient(
        &radius,
        "auth",
        SECRET,
        "User-Name = \"bob\", Called-Station-Id = \"4420\", Message-Authenticator = 0x00\n",
        &[],
    );
    assert!(out.contains("Received Access-Reject"), "{out}");
    assert!(
        out.contains("Reply-Message = \"balance.insufficient\""),
        "{out}"
    );
    assert!(
        out.contains("h323-return-code = \"h323-return-code=4\""),
        "{out}"
    );
    let (_, out) = radclient(
        &radius,
        "auth",
        SECRET,
        "User-Name = \"nobody\", Called-Station-Id = \"4420\", Message-Authenticator = 0x00\n",
        &[],
    );
    assert!(
        out.contains("Reply-Message = \"account.not_found\""),
        "{out}"
    );

    // No User-Name: the caller's number is the account, as an ANI.
    let (_, out) = radclient(
        &radius,
        "auth",
        SECRET,
        "Calling-Station-Id = \"5551000\", Called-Station-Id = \"sip:4420@10.0.0.1\", Message-Authenticator = 0x00\n",
        &[],
    );
    assert!(out.contains("Received Access-Accept"), "{out}");
    assert!(out.contains("Session-Timeout = 300"), "{out}");

    // A wrong secret, and a request without Message-Authenticator: no answer at all.
    let (answered, out) = radclient(
        &radius,
        "auth",
        "not-the-secret",
        "User-Name = \"alice\", Called-Station-Id = \"4420\", Message-Authenticator = 0x00\n",
        &[],
    );
    assert!(!answered, "{out}");
    let (answered, out) = radclient(
        &radius,
        "auth",
        SECRET,
        "User-Name = \"alice\", Called-Station-Id = \"4420\"\n",
        &[],
    );
    assert!(!answered, "{out}");
    let (answered, out) = radclient(
        &radius,
        "acct",
        "not-the-secret",
        "Acct-Status-Type = Stop, Acct-Session-Id = \"call-1\", Acct-Session-Time = 60, User-Name = \"alice\", Called-Station-Id = \"4420\"\n",
        &[],
    );
    assert!(!answered, "{out}");

    // Start, an Interim-Update, then the Stop sent three times (new identifiers each time, as a NAS that lost
    // the answers would): one charge of 60 s.
    let start = format!(
        "Acct-Status-Type = Start, Acct-Session-Id = \"call-1\", User-Name = \"alice\", Called-Station-Id = \"4420\", Class = {class}\n"
    );
    let (answered, out) = radclient(&radius, "acct", SECRET, &start, &[]);
    assert!(answered && out.contains("Accounting-Response"), "{out}");
    let interim = format!(
        "Acct-Status-Type = Interim-Update, Acct-Session-Id = \"call-1\", Acct-Session-Time = 30, User-Name = \"alice\", Called-Station-Id = \"4420\", Class = {class}\n"
    );
    let (answered, out) = radclient(&radius, "acct", SECRET, &interim, &[]);
    assert!(answered && out.contains("Accounting-Response"), "{out}");
    let stop = format!(
        "Acct-Status-Type = Stop, Acct-Session-Id = \"call-1\", Acct-Session-Time = 60, User-Name = \"alice\", Called-Station-Id = \"4420\", Class = {class}\n"
    );
    let (answered, out) = radclient(&radius, "acct", SECRET, &stop, &["-c", "3"]);
    assert!(answered, "{out}");
    assert_eq!(
        out.matches("Received Accounting-Response").count(),
        3,
        "{out}"
    );
    let rows = xdrs(&served.addr);
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(rows[0]["call_id"], "call-1");
    assert_eq!(rows[0]["duration"], 60);
    assert_eq!(rows[0]["unreserved"], false);
    assert_eq!(balance(&served.addr, alice), 9.0);

    // A Stop for a call never authorized here is charged unreserved.
    let (answered, out) = radclient(
        &radius,
        "acct",
        SECRET,
        "Acct-Status-Type = Stop, Acct-Session-Id = \"call-2\", Acct-Session-Time = 30, Calling-Station-Id = \"5551000\", Called-Station-Id = \"4420\"\n",
        &[],
    );
    assert!(answered, "{out}");
    let rows = xdrs(&served.addr);
    let two = rows
        .iter()
        .find(|r| r["call_id"] == "call-2")
        .expect("call-2");
    assert_eq!(two["unreserved"], true, "{two}");
    assert_eq!(balance(&served.addr, ani), 4.5);

    let (log, status) = served.stop();
    assert!(status.success(), "{status:?}");
    let c = counters(&log);
    assert_eq!(c["accepts"], 2, "{c:?}");
    assert_eq!(c["rejects"], 2, "{c:?}");
    assert_eq!(c["dropped_bad_authenticator"], 2, "{c:?}");
    assert_eq!(c["dropped_no_message_authenticator"], 1, "{c:?}");
    assert!(log.iter().any(|l| l.contains("engine closed")), "{log:?}");
}

/// A NAS on 127.0.0.2 (the loopback range is all this machine's).
fn nas() -> UdpSocket {
    let s = UdpSocket::bind("127.0.0.2:0").expect("bind 127.0.0.2");
    s.set_read_timeout(Some(Duration::from_millis(700)))
        .expect("timeout");
    s
}

fn exchange(s: &UdpSocket, to: &str, datagram: &[u8]) -> Option<Vec<u8>> {
    s.send_to(datagram, to).expect("send");
    let mut buf = [0u8; 4096];
    s.recv_from(&mut buf).ok().map(|(n, _)| buf[..n].to_vec())
}

fn access_request(id: u8, user: &str, session: &str) -> (Vec<u8>, [u8; 16]) {
    let auth = [id; 16];
    let mut b = Builder::new(code::ACCESS_REQUEST, id);
    b.message_authenticator()
        .attr(attr::USER_NAME, user.as_bytes())
        .attr(attr::CALLED_STATION_ID, b"4420")
        .attr(attr::ACCT_SESSION_ID, session.as_bytes());
    (b.finish_access_request(&auth, SECRET.as_bytes()), auth)
}

fn stop(id: u8, session: &str, seconds: u32, class: Option<&[u8]>) -> Vec<u8> {
    let mut b = Builder::new(code::ACCOUNTING_REQUEST, id);
    b.int(attr::ACCT_STATUS_TYPE, status::STOP)
        .attr(attr::ACCT_SESSION_ID, session.as_bytes())
        .int(attr::ACCT_SESSION_TIME, seconds)
        .attr(attr::USER_NAME, b"alice")
        .attr(attr::CALLED_STATION_ID, b"4420");
    if let Some(c) = class {
        b.attr(attr::CLASS, c);
    }
    b.finish_accounting_request(SECRET.as_bytes())
}

#[test]
fn retransmissions_strangers_and_broken_packets() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("t.db");
    init(&db);
    let table = rate_table(&db, "44", "1");
    let alice = customer(&db, &table, "Alice", "login", "alice", "10");
    let clients = write(
        dir.path(),
        "clients",
        &format!("# the one switch\n127.0.0.2/32 {SECRET}\n"),
    );
    let served = Served::start_with(
        &db,
        &[
            "--radius",
            "127.0.0.1:0",
            "--radius-acct",
            "127.0.0.1:0",
            "--radius-clients",
            &clients,
        ],
    );
    let auth_port = served.radius.clone().expect("auth");
    let acct_port = served.radius_acct.clone().expect("acct");
    let s = nas();

    // An exact retransmission of an Access-Request gets the same reply, not a second grant.
    let (req, auth) = access_request(1, "alice", "c-1");
    let first = exchange(&s, &auth_port, &req).expect("an answer");
    assert!(codec::response_valid(&first, &auth, SECRET.as_bytes()));
    let p = Packet::parse(&first).unwrap();
    assert_eq!(p.code, code::ACCESS_ACCEPT);
    assert_eq!(p.int(attr::SESSION_TIMEOUT), Some(600));
    let class = p.get(attr::CLASS).expect("Class").to_vec();
    assert_eq!(exchange(&s, &auth_port, &req).as_deref(), Some(&first[..]));
    // The same call asked again with a new identifier: the same grant (one reservation).
    let (again, auth2) = access_request(2, "alice", "c-1");
    let second = exchange(&s, &auth_port, &again).expect("an answer");
    assert!(codec::response_valid(&second, &auth2, SECRET.as_bytes()));
    assert_eq!(
        Packet::parse(&second).unwrap().get(attr::CLASS),
        Some(&class[..])
    );

    // Accounting goes to its own port: on the authentication port it is dropped.
    let stop1 = stop(3, "c-1", 42, Some(&class));
    assert_eq!(exchange(&s, &auth_port, &stop1), None);
    let reply = exchange(&s, &acct_port, &stop1).expect("an Accounting-Response");
    assert_eq!(
        Packet::parse(&reply).unwrap().code,
        code::ACCOUNTING_RESPONSE
    );
    assert_eq!(
        exchange(&s, &acct_port, &stop1).as_deref(),
        Some(&reply[..])
    );
    // A forged Class (another reservation, a wrong tag) names nothing: the call id decides.
    let forged = stop(4, "c-forged", 10, Some(b"tollgate:1:0000000000000000"));
    assert!(exchange(&s, &acct_port, &forged).is_some());

    // Broken framing, an oversize datagram, and a stranger on 127.0.0.1: no answers.
    let mut broken = req.clone();
    broken[3] = broken[3].wrapping_add(40);
    assert_eq!(exchange(&s, &auth_port, &broken), None);
    assert_eq!(exchange(&s, &auth_port, &vec![1u8; 5000]), None);
    let stranger = UdpSocket::bind("127.0.0.1:0").unwrap();
    stranger
        .set_read_timeout(Some(Duration::from_millis(700)))
        .unwrap();
    assert_eq!(exchange(&stranger, &auth_port, &req), None);

    let rows = xdrs(&served.addr);
    let c1: Vec<&Value> = rows.iter().filter(|r| r["call_id"] == "c-1").collect();
    assert_eq!(c1.len(), 1, "{rows:?}");
    assert_eq!(c1[0]["duration"], 42);
    assert_eq!(c1[0]["unreserved"], false);
    let forged = rows
        .iter()
        .find(|r| r["call_id"] == "c-forged")
        .expect("c-forged");
    assert_eq!(forged["unreserved"], true, "{forged}");
    // 10 − 0.70 (42 s) − 0.1667 (10 s, unreserved) at 1 a minute.
    let r = rpc(
        &served.addr,
        "clients.editForm",
        json!({"id_clients": alice}),
    );
    let left: f64 = r["return"]["client"]["balance"]
        .to_string()
        .parse()
        .expect("a number");
    assert!((left - (10.0 - 0.7 - 10.0 / 60.0)).abs() < 0.01, "{left}");

    let (log, status) = served.stop();
    assert!(status.success(), "{status:?}");
    let c = counters(&log);
    assert_eq!(c["accepts"], 2, "{c:?}");
    assert_eq!(c["retransmissions"], 2, "{c:?}");
    assert_eq!(c["settled"], 2, "{c:?}");
    assert_eq!(c["dropped_unexpected_code"], 1, "{c:?}");
    assert_eq!(c["dropped_malformed"], 1, "{c:?}");
    assert_eq!(c["dropped_oversize"], 1, "{c:?}");
    assert_eq!(c["dropped_unknown_nas"], 1, "{c:?}");
}

#[test]
fn radius_flags_are_checked_before_anything_opens() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("f.db");
    init(&db);
    let run = |args: &[&str]| {
        let out = common::tollgate()
            .arg("serve")
            .arg(&db)
            .args(["--listen", "127.0.0.1:0"])
            .args(args)
            .output()
            .unwrap();
        assert!(!out.status.success());
        String::from_utf8_lossy(&out.stderr).to_string()
    };
    assert!(run(&["--radius", "127.0.0.1:0"]).contains("--radius-secret-file"));
    let empty = write(dir.path(), "empty", "\n");
    assert!(run(&["--radius", "127.0.0.1:0", "--radius-secret-file", &empty]).contains("empty"));
    let bad = write(dir.path(), "clients", "10.0.0.0/99 x\n");
    assert!(run(&["--radius", "127.0.0.1:0", "--radius-clients", &bad]).contains("line 1"));
    let taken = UdpSocket::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let ok = write(dir.path(), "secret", SECRET);
    assert!(
        run(&["--radius", &addr, "--radius-secret-file", &ok]).contains("cannot listen for RADIUS")
    );
}
