//! Issue 13, written as the attacks: a reseller's HTTP handler aimed at the operator's own
//! machine (every spelling of a local address at `provisioning.add`, and a target that passed
//! the add-time check but points at loopback when delivered), the execution log as a window
//! onto replies, and one tenant's failing handler holding up another's deliveries to the same
//! URL. All traffic stays on 127.0.0.1.

use serde_json::{json, Value};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use tollgate::{Clock, Engine, EngineConfig, EngineOptions, ManualClock};

const ADMIN: &str = "admin";
const PASSWORD: &str = "admin-password-1";
const USER_PW: &str = "user-passw0rd";
const ROLE_RESELLER: i64 = 2;

// ---------------------------------------------------------------- a receiver on 127.0.0.1

#[derive(Debug, Clone)]
struct Req {
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Req {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

type Behavior = Arc<dyn Fn(&Req) -> (u16, String) + Send + Sync>;

/// Counts every request that reaches it and answers what `behavior` says.
struct Receiver {
    port: u16,
    got: Arc<Mutex<Vec<Req>>>,
}

impl Receiver {
    fn start(behavior: Behavior) -> Receiver {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let got = Arc::new(Mutex::new(Vec::new()));
        let g = got.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { continue };
                let (g, b) = (g.clone(), behavior.clone());
                std::thread::spawn(move || serve(stream, g, b));
            }
        });
        Receiver { port, got }
    }

    fn requests(&self) -> Vec<Req> {
        self.got.lock().expect("lock").clone()
    }
}

fn serve(stream: std::net::TcpStream, got: Arc<Mutex<Vec<Req>>>, behavior: Behavior) {
    let Ok(mut out) = stream.try_clone() else {
        return;
    };
    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    if reader.read_line(&mut line).unwrap_or(0) == 0 {
        return;
    }
    let mut headers = Vec::new();
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h).unwrap_or(0) == 0 {
            return;
        }
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        if let Some((k, v)) = h.split_once(':') {
            headers.push((k.trim().to_ascii_lowercase(), v.trim().to_string()));
        }
    }
    let len: usize = headers
        .iter()
        .find(|(k, _)| k == "content-length")
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0);
    let mut body = vec![0u8; len];
    if reader.read_exact(&mut body).is_err() {
        return;
    }
    let req = Req { headers, body };
    got.lock().expect("lock").push(req.clone());
    let (code, text) = behavior(&req);
    let _ = write!(
        out,
        "HTTP/1.1 {code} X\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{text}",
        text.len()
    );
    let _ = out.flush();
}

/// The Standard Webhooks signature, from its definition (HMAC-SHA256, RFC 2104), sharing no
/// code with the engine's.
fn signature(secret: &str, id: &str, ts: &str, body: &[u8]) -> String {
    use base64::Engine as _;
    use sha2::{Digest, Sha256};
    let b64 = base64::engine::general_purpose::STANDARD;
    let key = b64
        .decode(secret.strip_prefix("whsec_").unwrap_or(secret))
        .unwrap_or_default();
    let mut k = [0u8; 64];
    k[..key.len()].copy_from_slice(&key);
    let (mut ipad, mut opad) = ([0x36u8; 64], [0x5cu8; 64]);
    for i in 0..64 {
        ipad[i] ^= k[i];
        opad[i] ^= k[i];
    }
    let mut h = Sha256::new();
    h.update(ipad);
    h.update(format!("{id}.{ts}."));
    h.update(body);
    let inner = h.finalize();
    let mut h = Sha256::new();
    h.update(opad);
    h.update(inner);
    format!("v1,{}", b64.encode(h.finalize()))
}

// ---------------------------------------------------------------- engine helpers

fn opts(clock: &Arc<ManualClock>) -> EngineOptions {
    EngineOptions {
        vfs: None,
        clock: clock.clone(),
        config: EngineConfig {
            event_worker: false,
            ..EngineConfig::default()
        },
    }
}

fn clock() -> Arc<ManualClock> {
    Arc::new(ManualClock::new(
        tollgate::clock::parse_dt("2026-01-15 12:00:00").expect("dt"),
    ))
}

fn ok(e: &Engine, method: &str, params: Value) -> Value {
    let r = e.call_as_system(method, params.clone());
    assert!(r.code, "{method} {params} failed: {:?}", r.errors);
    r.ret
}

fn id(v: &Value) -> i64 {
    v["id"].as_i64().expect("id")
}

/// A reseller company "A" under the operator, with a Reseller-role user; returns the company.
fn reseller(e: &Engine) -> i64 {
    let ca = id(&ok(
        e,
        "companies.add",
        json!({"name": "A", "parent_id": 1}),
    ));
    ok(
        e,
        "users.add",
        json!({"login": "res-a", "password": USER_PW, "id_roles": ROLE_RESELLER, "id_companies": ca}),
    );
    ca
}

fn login(e: &Engine) -> String {
    let r = e.call("auth.login", json!({"login": "res-a", "password": USER_PW}));
    assert!(r.code, "{:?}", r.errors);
    r.session_id.expect("sid")
}

fn as_reseller(e: &Engine, sid: &str, method: &str, mut p: Value) -> tollgate::Envelope {
    p["SID"] = json!(sid);
    e.call(method, p)
}

/// A database file, so that a test can change a row behind the engine's back (what DNS
/// does to a name between the add-time check and a delivery).
struct File {
    _dir: tempfile::TempDir,
    path: String,
    clock: Arc<ManualClock>,
}

impl File {
    fn new() -> (File, Engine) {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir
            .path()
            .join("billing.db")
            .to_str()
            .expect("utf-8")
            .to_string();
        let clock = clock();
        let e = Engine::create_with(&path, ADMIN, PASSWORD, opts(&clock)).expect("create");
        (
            File {
                _dir: dir,
                path,
                clock,
            },
            e,
        )
    }

    /// Close `e`, run `sql` on the file, open it again.
    fn behind_the_engine(&self, e: Engine, sql: &str) -> Engine {
        e.close();
        drop(e);
        let db = rusqlite::Connection::open(&self.path).expect("open");
        db.execute_batch(sql).expect("sql");
        drop(db);
        Engine::open_with(&self.path, opts(&self.clock)).expect("reopen")
    }
}

fn logs(e: &Engine, sid: Option<&str>, handler: i64) -> Vec<Value> {
    let p = json!({"id_handlers": handler, "limit": 1000});
    let r = match sid {
        Some(s) => as_reseller(e, s, "provisioning.logs", p),
        None => e.call_as_system("provisioning.logs", p),
    };
    assert!(r.code, "{:?}", r.errors);
    r.ret["rows"].as_array().expect("rows").clone()
}

// ---------------------------------------------------------------- A: add-time corpus

/// Every spelling of the operator's own machine and networks the probe tried, and more.
const LOCAL_TARGETS: &[&str] = &[
    // 127.0.0.1 in every IPv4 notation the WHATWG parser and inet_aton accept
    "http://127.0.0.1:5000/",
    "http://2130706433:5000/",
    "http://0x7f000001:5000/",
    "http://0X7F000001/",
    "http://127.1:5000/",
    "http://127.0.1/",
    "http://0177.0.0.1:5000/",
    "http://0177.1/",
    "http://017700000001/",
    "http://0x7f.0.0.1:5000/",
    "http://0x7f.1/",
    "http://127.000.000.001:5000/",
    "http://127.0.0.1./",
    "http://%31%32%37.0.0.1/",
    "http://127.255.255.254/",
    "https://127.0.0.1/",
    // "this host"
    "http://0:5000/",
    "http://0.0.0.0/",
    "http://0x0/",
    // local names
    "http://localhost:5000/",
    "http://localhost.:5000/",
    "http://LOCALHOST/",
    "http://LocalHost./",
    "http://sub.localhost/",
    "http://a.b.localhost./",
    "http://printer.local/",
    "http://metadata.google.internal/",
    "http://router.home.arpa/",
    // IPv6 loopback, unspecified and embeddings of IPv4 loopback
    "http://[::1]:5000/",
    "https://[::1]:8443/",
    "http://[0:0:0:0:0:0:0:1]/",
    "http://[::]/",
    "http://[::ffff:127.0.0.1]/",
    "http://[::ffff:7f00:1]/",
    "http://[::127.0.0.1]/",
    "http://[64:ff9b::7f00:1]/",
    "http://[64:ff9b::127.0.0.1]/",
    "http://[2002:7f00:1::1]/",
    // IPv6 link-local, unique-local, multicast
    "http://[fe80::1]/",
    "http://[fc00::1]/",
    "http://[fd00:ec2::254]/",
    "http://[ff02::1]/",
    // cloud metadata (link-local) in several spellings
    "http://169.254.169.254/latest/meta-data/",
    "http://2852039166/",
    "http://0xa9fea9fe/",
    "http://[::ffff:169.254.169.254]/",
    // private networks and CGNAT
    "http://10.0.0.1/",
    "http://10.255.255.255/",
    "http://012.1/",
    "http://172.16.0.1/",
    "http://172.31.255.255/",
    "http://192.168.0.1/",
    "http://192.168.1.1:443/",
    "http://0xc0a80001/",
    "http://100.64.0.1/",
    "http://100.127.255.255/",
    "http://[::ffff:10.0.0.1]/",
    "http://[64:ff9b::a00:1]/",
    // broadcast, multicast, reserved, documentation, benchmarking
    "http://255.255.255.255/",
    "http://224.0.0.1/",
    "http://240.0.0.1/",
    "http://192.0.2.1/",
    "http://198.51.100.1/",
    "http://203.0.113.1/",
    "http://198.18.0.1/",
    "http://[2001:db8::1]/",
];

#[test]
fn a_reseller_cannot_add_a_handler_for_any_spelling_of_a_local_address() {
    assert!(LOCAL_TARGETS.len() >= 40);
    let (e, _c) = {
        let c = clock();
        (
            Engine::create_with(":memory:", ADMIN, PASSWORD, opts(&c)).expect("create"),
            c,
        )
    };
    let ca = reseller(&e);
    let sid = login(&e);
    let add = |target: &str| {
        as_reseller(
            &e,
            &sid,
            "provisioning.add",
            json!({"name": "h", "event": "clients.create", "target": target}),
        )
    };
    let mut accepted = Vec::new();
    for t in LOCAL_TARGETS {
        let r = add(t);
        if r.code {
            accepted.push(*t);
        } else {
            assert_eq!(r.errors[0].code.as_str(), "validation.invalid", "{t}");
        }
    }
    assert!(
        accepted.is_empty(),
        "accepted for a reseller: {accepted:#?}"
    );
    // Public targets still work, including DNS names (checked again at delivery).
    let mut public = Vec::new();
    for t in [
        "https://hooks.example.com/x",
        "http://8.8.8.8/x",
        "http://[2606:4700::1111]/x",
        "http://localhost.example.com/",
        "https://127.0.0.1.example.com/",
    ] {
        let r = add(t);
        assert!(r.code, "{t}: {:?}", r.errors);
        public.push(id(&r.ret));
    }
    // Editing a handler onto a local address is refused the same way.
    for t in LOCAL_TARGETS {
        let r = as_reseller(
            &e,
            &sid,
            "provisioning.edit",
            json!({"id": public[0], "target": t}),
        );
        assert!(!r.code, "edit to {t} accepted");
    }
    // The operator may not place such a handler in the reseller's company either (the
    // handler's owner decides, as at delivery); its own handlers may target anything.
    let r = e.call_as_system(
        "provisioning.add",
        json!({"name": "h", "event": "clients.create", "target": "http://127.0.0.1:5000/", "id_companies": ca}),
    );
    assert!(!r.code, "operator placed a loopback handler in a reseller");
    ok(
        &e,
        "provisioning.add",
        json!({"name": "h", "event": "clients.create", "target": "http://127.0.0.1:5000/"}),
    );
}

// ---------------------------------------------------------------- A: delivery-time check

#[test]
fn a_reseller_handler_that_points_at_loopback_when_delivered_is_refused_with_a_short_reason() {
    let rx = Receiver::start(Arc::new(|_| (200, "internal reply".into())));
    let (file, e) = File::new();
    let ca = reseller(&e);
    let sid = login(&e);
    // Names and spellings of 127.0.0.1 the system resolver and ureq accept (`localhost.` is
    // left to the add-time check: this machine's resolver has no DNS to answer it). Each handler's
    // target passed the add-time check (a public name); its row is then pointed at the
    // receiver, as a DNS answer that changed since (rebinding) would.
    let spellings = [
        format!("http://localhost:{}/", rx.port),
        format!("http://127.0.0.1:{}/", rx.port),
        format!("http://2130706433:{}/", rx.port),
        format!("http://0x7f000001:{}/", rx.port),
        format!("http://127.1:{}/", rx.port),
        format!("http://0177.0.0.1:{}/", rx.port),
        format!("http://0:{}/", rx.port),
    ];
    let mut handlers = Vec::new();
    let mut sql = String::new();
    for (i, target) in spellings.iter().enumerate() {
        let r = as_reseller(
            &e,
            &sid,
            "provisioning.add",
            json!({"name": format!("h{i}"), "event": "clients.create", "target": format!("https://hook{i}.example.com/x")}),
        );
        assert!(r.code, "{:?}", r.errors);
        let h = id(&r.ret);
        sql.push_str(&format!(
            "UPDATE handlers SET target = '{target}' WHERE id = {h};\n"
        ));
        handlers.push(h);
    }
    let e = file.behind_the_engine(e, &sql);
    ok(&e, "clients.add", json!({"name": "c", "id_companies": ca}));
    let report = e.deliver_events(file.clock.now()).expect("deliver");
    assert_eq!(report.attempted, spellings.len());
    assert_eq!(
        rx.requests().len(),
        0,
        "a reseller's delivery reached 127.0.0.1"
    );
    assert_eq!(report.delivered, 0);
    for (h, target) in handlers.iter().zip(&spellings) {
        for view in [Some(sid.as_str()), None] {
            let rows = logs(&e, view, *h);
            assert_eq!(rows.len(), 1, "{target}");
            assert_eq!(rows[0]["outcome"], "failed", "{target}");
            assert_eq!(rows[0]["status_code"], Value::Null, "{target}");
            let err = rows[0]["error"].as_str().unwrap_or_default();
            assert!(err.starts_with("target refused"), "{target}: {err}");
        }
    }
}

// ---------------------------------------------------------------- A: the log is no oracle

#[test]
fn a_resellers_view_of_the_log_shows_status_and_a_short_reason_never_the_reply() {
    // The receiver answers with what it knows: the probe read port-scan results and reply
    // bodies of internal services through `provisioning.logs`.
    let rx = Receiver::start(Arc::new(|_| {
        (500, "SECRET-500-BODY db=10.0.0.5 user=root".into())
    }));
    let (file, e) = File::new();
    let ca = reseller(&e);
    let sid = login(&e);
    let r = as_reseller(
        &e,
        &sid,
        "provisioning.add",
        json!({"name": "h", "event": "clients.create", "target": "https://hooks.example.com/x", "status": "disabled"}),
    );
    assert!(r.code, "{:?}", r.errors);
    let h = id(&r.ret);
    // The operator's own handler to the same receiver produces the log rows (a reseller's
    // handler cannot reach 127.0.0.1 any more); they are then made the reseller's, as rows
    // of a reseller's public receiver that echoes what it was given would be.
    let op = id(&ok(
        &e,
        "provisioning.add",
        json!({"name": "op", "event": "clients.create", "target": format!("http://127.0.0.1:{}/", rx.port)}),
    ));
    ok(&e, "clients.add", json!({"name": "c", "id_companies": ca}));
    e.deliver_events(file.clock.now()).expect("deliver");
    assert_eq!(rx.requests().len(), 1, "the operator's handler delivers");
    let e = file.behind_the_engine(
        e,
        &format!(
            "UPDATE handler_logs SET id_handlers = {h}, id_companies = {ca} WHERE id_handlers = {op};
             INSERT INTO handler_logs (id_handlers, id_companies, event, stage, attempt, dt, outcome, status_code, duration_ms, error)
             VALUES ({h}, {ca}, 'clients.create', 'after', 2, '2026-01-15 12:00:01', 'failed', 200, 1, 'SECRET-200-MESSAGE');"
        ),
    );
    let reseller_view = logs(&e, Some(&sid), h);
    assert_eq!(reseller_view.len(), 2);
    let text = Value::Array(reseller_view.clone()).to_string();
    assert!(!text.contains("SECRET"), "{text}");
    assert!(!text.contains("10.0.0.5"), "{text}");
    let errors: Vec<&str> = reseller_view
        .iter()
        .map(|r| r["error"].as_str().unwrap_or_default())
        .collect();
    assert!(errors.contains(&"HTTP 500"), "{errors:?}");
    assert!(
        errors.iter().any(|e| e.starts_with("HTTP 200")),
        "{errors:?}"
    );
    // The operator still sees everything.
    let operator_view = Value::Array(logs(&e, None, h)).to_string();
    assert!(operator_view.contains("SECRET-500-BODY"), "{operator_view}");
}

// ---------------------------------------------------------------- B: one tenant, one queue

#[test]
fn a_resellers_failing_handler_for_the_operators_url_does_not_hold_up_the_operators_deliveries() {
    // The operator's receiver accepts only what the operator's handler signed.
    let op_secret = "whsec_b3BlcmF0b3Itc2VjcmV0LWtleS0xMjM0NTY3OA==";
    let rx = Receiver::start(Arc::new(move |r: &Req| {
        let valid = r.header("webhook-signature").is_some_and(|sig| {
            let want = signature(
                op_secret,
                r.header("webhook-id").unwrap_or_default(),
                r.header("webhook-timestamp").unwrap_or_default(),
                &r.body,
            );
            sig == want
        });
        if valid {
            (200, String::new())
        } else {
            (401, "bad signature".into())
        }
    }));
    let target = format!("http://127.0.0.1:{}/hook", rx.port);
    let (file, e) = File::new();
    let ca = reseller(&e);
    let sid = login(&e);
    // Reseller A adds a handler first in line (priority 1), then names the operator's URL.
    let r = as_reseller(
        &e,
        &sid,
        "provisioning.add",
        json!({"name": "a", "event": "clients.create", "target": "https://hooks.example.com/a", "priority": 1}),
    );
    assert!(r.code, "{:?}", r.errors);
    let a = id(&r.ret);
    let op = id(&ok(
        &e,
        "provisioning.add",
        json!({"name": "op", "event": "clients.create", "target": target, "secret": op_secret}),
    ));
    let e = file.behind_the_engine(
        e,
        &format!("UPDATE handlers SET target = '{target}' WHERE id = {a};"),
    );
    let clients: Vec<i64> = (0..3)
        .map(|i| {
            id(&ok(
                &e,
                "clients.add",
                json!({"name": format!("c{i}"), "id_companies": ca}),
            ))
        })
        .collect();
    // Deliver now and over the next hours of retries.
    for _ in 0..4 {
        e.deliver_events(file.clock.now()).expect("deliver");
        file.clock.advance_seconds(3600);
    }
    let delivered: Vec<i64> = logs(&e, None, op)
        .iter()
        .filter(|r| r["outcome"] == "ok")
        .filter_map(|r| r["object_id"].as_i64())
        .collect();
    assert_eq!(
        delivered, clients,
        "the operator's deliveries about A's clients were held up by A's failing handler"
    );
    assert!(logs(&e, None, a).iter().all(|r| r["outcome"] == "failed"));
}
