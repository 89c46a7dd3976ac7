//! What the `tollgate serve` tests share: the binary, a database, a running server and its
//! log, and JSON-RPC calls to it.
#![allow(dead_code)]

use serde_json::Value;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

pub const PASSWORD: &str = "serve-password-1";

pub fn tollgate() -> Command {
    Command::new(env!("CARGO_BIN_EXE_tollgate"))
}

/// The database a test uses: `dir/name` (an SQLite file) or, with
/// `TOLLGATE_TEST_BACKEND=postgres`, a fresh database on the server `TOLLGATE_TEST_PG` names
/// (its URL goes wherever a path does).
pub fn db_in(dir: &Path, name: &str) -> std::path::PathBuf {
    if std::env::var("TOLLGATE_TEST_BACKEND").as_deref() == Ok("postgres") {
        std::path::PathBuf::from(fresh_pg_database())
    } else {
        dir.join(name)
    }
}

/// A new, empty database on the test server: its URL.
pub fn fresh_pg_database() -> String {
    tollgate::store::pg_testing::fresh_test_database("tgcli").expect("create database")
}

pub fn init(db: &Path) {
    let out = tollgate()
        .arg("init")
        .arg(db)
        .env("TOLLGATE_ADMIN_PASSWORD", PASSWORD)
        .output()
        .expect("run init");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A running `tollgate serve` and its log lines.
pub struct Served {
    pub child: Child,
    /// The HTTP address.
    pub addr: String,
    /// The RADIUS addresses (authentication, accounting), when `--radius` was given.
    pub radius: Option<String>,
    pub radius_acct: Option<String>,
    pub lines: mpsc::Receiver<String>,
}

impl Served {
    pub fn start(db: &Path) -> Served {
        Served::start_with(db, &[])
    }

    /// `tollgate serve DB --listen 127.0.0.1:0 ARGS…`, once it says where it listens.
    pub fn start_with(db: &Path, args: &[&str]) -> Served {
        Served::start_full_args(tollgate(), db, args)
    }

    /// `cmd serve DB --listen 127.0.0.1:0` with the command's own environment.
    pub fn start_cmd(cmd: Command, db: &Path) -> Served {
        Served::start_full_args(cmd, db, &[])
    }

    /// `cmd serve DB --listen 127.0.0.1:0 ARGS…`.
    pub fn start_full_args(mut cmd: Command, db: &Path, args: &[&str]) -> Served {
        let mut child = cmd
            .arg("serve")
            .arg(db)
            .args(["--listen", "127.0.0.1:0"])
            .args(args)
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn serve");
        let stderr = child.stderr.take().expect("stderr");
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let wants_radius = args.contains(&"--radius");
        let wants_acct = args.contains(&"--radius-acct");
        let (mut addr, mut radius, mut radius_acct) = (None, None, None);
        while addr.is_none()
            || (wants_radius && radius.is_none())
            || (wants_acct && radius_acct.is_none())
        {
            let line = lines
                .recv_timeout(Duration::from_secs(30))
                .expect("a listening line");
            let v: Value = serde_json::from_str(&line).expect("JSON log line");
            if v["event"] == "standby" {
                continue;
            }
            assert_eq!(v["event"], "listening", "{line}");
            let m = v["message"].as_str().expect("message");
            let first = m.split(' ').next().unwrap_or_default();
            if let Some(a) = first.strip_prefix("http://") {
                addr = Some(a.to_string());
            } else if let Some(a) = first.strip_prefix("radius://") {
                radius = Some(a.to_string());
            } else if let Some(a) = first.strip_prefix("radius-acct://") {
                radius_acct = Some(a.to_string());
            }
        }
        Served {
            child,
            addr: addr.expect("address"),
            radius,
            radius_acct,
            lines,
        }
    }

    pub fn term(&self) {
        // The shell's built-in kill: no procps needed on a minimal machine.
        let ok = Command::new("sh")
            .args(["-c", &format!("kill -TERM {}", self.child.id())])
            .status()
            .expect("kill");
        assert!(ok.success());
    }

    /// Every log line written until the process ends.
    pub fn rest_of_log(&self) -> Vec<String> {
        let mut out = Vec::new();
        while let Ok(l) = self.lines.recv_timeout(Duration::from_secs(30)) {
            out.push(l);
        }
        out
    }

    /// SIGTERM, then the log to the end and the exit status.
    pub fn stop(mut self) -> (Vec<String>, std::process::ExitStatus) {
        self.term();
        let log = self.rest_of_log();
        let status = self.child.wait().expect("exit");
        (log, status)
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn http(addr: &str, request: &str) -> String {
    let mut s = TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(30)))
        .expect("timeout");
    s.write_all(request.as_bytes()).expect("write");
    let mut out = String::new();
    s.read_to_string(&mut out).expect("read");
    out
}

pub fn post_json(addr: &str, body: &str) -> String {
    http(
        addr,
        &format!(
            "POST /jsonrpc/ HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        ),
    )
}

/// `tollgate call` as the local operator (the server is not running).
pub fn call_local(db: &Path, method: &str, params: Value) -> Value {
    let out = tollgate()
        .arg("call")
        .arg(db)
        .arg(method)
        .arg(params.to_string())
        .output()
        .expect("run call");
    let v: Value = serde_json::from_slice(&out.stdout).expect("an envelope");
    assert_eq!(v["code"], true, "{method}: {v}");
    v["return"].clone()
}

/// A JSON-RPC call to the server as the administrator: the envelope.
pub fn rpc(addr: &str, method: &str, mut params: Value) -> Value {
    params["auth"] = serde_json::json!({"login": "admin", "password": PASSWORD});
    let body = serde_json::json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params});
    let reply = post_json(addr, &body.to_string());
    let json = reply.split("\r\n\r\n").nth(1).expect("a body");
    serde_json::from_str::<Value>(json).expect("JSON")["result"].clone()
}

/// A rate table with one code at `rate` per minute, billed per second.
pub fn rate_table(db: &Path, code: &str, rate: &str) -> Value {
    let table =
        call_local(db, "rateTables.add", serde_json::json!({"name": "Retail"}))["id"].clone();
    call_local(
        db,
        "rates.add",
        serde_json::json!({"id_rate_tables": table, "code": code, "rate": rate,
                           "min_volume": 1, "interval": 1, "effective_from": "2020-01-01"}),
    );
    table
}

/// A client on `table` with one account, paid `paid` (nothing when "0"): its id.
pub fn customer(
    db: &Path,
    table: &Value,
    name: &str,
    auth_type: &str,
    ident: &str,
    paid: &str,
) -> i64 {
    let c = call_local(
        db,
        "clients.add",
        serde_json::json!({"name": name, "orig_rate_table": table}),
    )["id"]
        .as_i64()
        .expect("id");
    call_local(
        db,
        "accounts.add",
        serde_json::json!({"id_clients": c, "name": ident, "auth_type": auth_type, "ident": ident}),
    );
    if paid != "0" {
        call_local(
            db,
            "transactions.add",
            serde_json::json!({"id_clients": c, "type": "payment", "amount": paid}),
        );
    }
    c
}
