//! Provisioning events (issue 6): a real HTTP receiver on 127.0.0.1, scripts, callbacks,
//! retries, the `before` stage, balance crossings and the outbox across a killed process.

mod common;

use base64::Engine as _;
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tollgate::Clock;
use tollgate::{
    Engine, EngineConfig, EngineOptions, Event, ManualClock, SettleRequest, Stage, Verdict,
};

const ADMIN: &str = "admin";
const PASSWORD: &str = "admin-password-1";

// ---------------------------------------------------------------- a real HTTP receiver

#[derive(Debug, Clone)]
struct Req {
    headers: HashMap<String, String>,
    body: Vec<u8>,
}

impl Req {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).expect("JSON body")
    }
}

enum Reply {
    Status(u16, String),
    /// Read the request, never answer (until the client gives up).
    Hang,
}

type Behavior = Arc<dyn Fn(usize, &Req) -> Reply + Send + Sync>;

struct Receiver {
    url: String,
    got: Arc<Mutex<Vec<Req>>>,
}

impl Receiver {
    fn start(behavior: Behavior) -> Receiver {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/api", listener.local_addr().unwrap());
        let got = Arc::new(Mutex::new(Vec::new()));
        let g = Arc::clone(&got);
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { continue };
                let (g, b) = (Arc::clone(&g), Arc::clone(&behavior));
                std::thread::spawn(move || serve(stream, g, b));
            }
        });
        Receiver { url, got }
    }

    /// Answers 200 with the request body echoed, like the vendor's Flask example.
    fn echo() -> Receiver {
        Receiver::start(Arc::new(|_, r: &Req| {
            Reply::Status(200, String::from_utf8_lossy(&r.body).into_owned())
        }))
    }

    fn requests(&self) -> Vec<Req> {
        self.got.lock().unwrap().clone()
    }
}

fn serve(stream: std::net::TcpStream, got: Arc<Mutex<Vec<Req>>>, behavior: Behavior) {
    let mut out = stream.try_clone().unwrap();
    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    if reader.read_line(&mut line).unwrap_or(0) == 0 {
        return;
    }
    let mut headers = HashMap::new();
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
            headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_string());
        }
    }
    let len: usize = headers
        .get("content-length")
        .and_then(|l| l.parse().ok())
        .unwrap_or(0);
    let mut body = vec![0u8; len];
    if reader.read_exact(&mut body).is_err() {
        return;
    }
    let req = Req { headers, body };
    let n = {
        let mut g = got.lock().unwrap();
        g.push(req.clone());
        g.len()
    };
    match behavior(n, &req) {
        Reply::Hang => {
            // Blocks until the client closes the connection.
            let _ = reader.read(&mut [0u8; 1]);
        }
        Reply::Status(code, text) => {
            let _ = write!(
                out,
                "HTTP/1.1 {code} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{text}",
                text.len()
            );
            let _ = out.flush();
        }
    }
}

/// HMAC-SHA256 written out from its definition (RFC 2104), independent of the engine's.
fn hmac_sha256(key: &[u8], msg: &[u8]) -> Vec<u8> {
    use sha2::{Digest, Sha256};
    let mut k = [0u8; 64];
    if key.len() > 64 {
        k[..32].copy_from_slice(&Sha256::digest(key));
    } else {
        k[..key.len()].copy_from_slice(key);
    }
    let (mut ipad, mut opad) = ([0x36u8; 64], [0x5cu8; 64]);
    for i in 0..64 {
        ipad[i] ^= k[i];
        opad[i] ^= k[i];
    }
    let mut h = Sha256::new();
    h.update(ipad);
    h.update(msg);
    let inner = h.finalize();
    let mut h = Sha256::new();
    h.update(opad);
    h.update(inner);
    h.finalize().to_vec()
}

/// Check a delivery's Standard Webhooks headers against the handler's secret.
fn signature_valid(secret: &str, r: &Req) -> bool {
    let b64 = base64::engine::general_purpose::STANDARD;
    let key = b64.decode(secret.strip_prefix("whsec_").unwrap()).unwrap();
    let (Some(id), Some(ts), Some(sig)) = (
        r.headers.get("webhook-id"),
        r.headers.get("webhook-timestamp"),
        r.headers.get("webhook-signature"),
    ) else {
        return false;
    };
    let mut msg = format!("{id}.{ts}.").into_bytes();
    msg.extend_from_slice(&r.body);
    let want = format!("v1,{}", b64.encode(hmac_sha256(&key, &msg)));
    sig.split(' ').any(|s| s == want)
}

// ---------------------------------------------------------------- engine helpers

fn clock() -> Arc<ManualClock> {
    Arc::new(ManualClock::new(
        tollgate::clock::parse_dt("2026-01-15 12:00:00").unwrap(),
    ))
}

fn opts(clock: &Arc<ManualClock>, worker: bool) -> EngineOptions {
    EngineOptions {
        vfs: None,
        clock: clock.clone(),
        config: EngineConfig {
            event_worker: worker,
            ..EngineConfig::default()
        },
    }
}

fn engine(worker: bool) -> (Engine, Arc<ManualClock>) {
    let c = clock();
    let e =
        Engine::create_with(&common::fresh_target(), ADMIN, PASSWORD, opts(&c, worker)).unwrap();
    (e, c)
}

fn ok(e: &Engine, method: &str, params: Value) -> Value {
    let r = e.call_as_system(method, params.clone());
    assert!(r.code, "{method} {params} failed: {:?}", r.errors);
    r.ret
}

fn refused(e: &Engine, method: &str, params: Value) -> (String, String) {
    let r = e.call_as_system(method, params.clone());
    assert!(!r.code, "{method} {params} should have been refused");
    (
        r.errors[0].code.as_str().to_string(),
        r.errors[0].message.clone(),
    )
}

fn id(v: &Value) -> i64 {
    v["id"].as_i64().unwrap()
}

/// Add a handler; returns (id, secret).
fn handler(
    e: &Engine,
    event: &str,
    stage: &str,
    kind: &str,
    target: &str,
    extra: Value,
) -> (i64, String) {
    let mut p = json!({"name": format!("{stage} {event}"), "event": event, "stage": stage, "kind": kind, "target": target});
    if let Value::Object(x) = extra {
        p.as_object_mut().unwrap().extend(x);
    }
    let r = ok(e, "provisioning.add", p);
    (id(&r), r["secret"].as_str().unwrap().to_string())
}

fn logs(e: &Engine, handler: i64) -> Vec<Value> {
    ok(
        e,
        "provisioning.logs",
        json!({"id_handlers": handler, "limit": 1000}),
    )["rows"]
        .as_array()
        .unwrap()
        .clone()
}

fn events_of(reqs: &[Req]) -> Vec<(String, i64)> {
    reqs.iter()
        .map(|r| {
            let v = r.json();
            (
                v["event"]["events_id"].as_str().unwrap().to_string(),
                v["event"]["object_id"].as_i64().unwrap(),
            )
        })
        .collect()
}

/// A callback that records every event it is given.
fn recorder() -> (tollgate::EventCallback, Arc<Mutex<Vec<Event>>>) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let s = Arc::clone(&seen);
    let cb: tollgate::EventCallback = Arc::new(move |ev: &Event| {
        s.lock().unwrap().push(ev.clone());
        Verdict::Allow
    });
    (cb, seen)
}

// ---------------------------------------------------------------- the catalog over HTTP

#[test]
fn an_http_receiver_gets_every_event_of_a_scenario_in_order_with_valid_signatures() {
    let (e, c) = engine(false);
    let rx = Receiver::start(Arc::new(|_, _: &Req| Reply::Status(200, "{}".into())));
    let mut secrets = BTreeMap::new();
    for ev in tollgate::events::catalog::EVENT_IDS {
        let (h, s) = handler(&e, ev, "after", "http", &rx.url, json!({}));
        secrets.insert(*ev, (h, s));
    }
    ok(&e, "customFields.add", json!({"name": "vat_id"}));
    let client = id(&ok(
        &e,
        "clients.add",
        json!({"name": "Acme", "credit": "100"}),
    ));
    ok(
        &e,
        "clients.edit",
        json!({"id": client, "credit": "50", "name": "Acme"}),
    );
    // An edit that changes nothing raises nothing.
    ok(&e, "clients.edit", json!({"id": client, "credit": "50"}));
    ok(
        &e,
        "clients.fieldsUpdate",
        json!({"id": client, "fields": [{"name": "vat_id", "value": "GB1"}]}),
    );
    let account = id(&ok(
        &e,
        "accounts.add",
        json!({"id_clients": client, "name": "sip", "ident": "acme-sip", "password": "sip-passw0rd"}),
    ));
    ok(
        &e,
        "accounts.edit",
        json!({"id": account, "status": "blocked"}),
    );
    ok(
        &e,
        "transactions.add",
        json!({"id_clients": client, "type": "payment", "amount": "10"}),
    );
    ok(
        &e,
        "transactions.add",
        json!({"id_clients": client, "type": "charge", "amount": "15"}),
    );
    ok(
        &e,
        "transactions.add",
        json!({"id_clients": client, "type": "charge", "amount": "1"}),
    );
    ok(
        &e,
        "transactions.add",
        json!({"id_clients": client, "type": "payment", "amount": "20"}),
    );
    let pkg = id(&ok(
        &e,
        "packages.add",
        json!({"name": "Gold", "periodical_fee": "1", "period": "P1M"}),
    ));
    let sub = id(&ok(
        &e,
        "clients.packagesAdd",
        json!({"id_clients": client, "id_packages": pkg}),
    ));
    ok(&e, "subscriptions.deactivate", json!({"id": sub}));
    ok(&e, "subscriptions.renew", json!({"id": sub}));
    ok(&e, "subscriptions.close", json!({"id": sub, "at": "now"}));
    ok(&e, "accounts.delete", json!({"id": account}));
    ok(&e, "clients.archive", json!({"id": client}));
    let other = id(&ok(&e, "clients.add", json!({"name": "Short-lived"})));
    ok(&e, "clients.delete", json!({"id": other}));
    // A refused call raises nothing.
    refused(
        &e,
        "clients.edit",
        json!({"id": client, "name": "archived clients do not change"}),
    );

    let report = e.deliver_events(c.now()).unwrap();
    let reqs = rx.requests();
    let expected: Vec<(String, i64)> = [
        ("clients.create", client),
        ("clients.update", client),
        ("clients.custom_fields.update", client),
        ("clients.accounts.create", account),
        ("clients.accounts.update", account),
        ("clients.balance_zero", client),
        ("clients.balance_notzero", client),
        ("clients.subscriptions.assign", sub),
        ("clients.subscriptions.activate", sub),
        ("clients.subscriptions.deactivate", sub),
        ("clients.subscriptions.activate", sub),
        ("clients.subscriptions.close", sub),
        ("clients.accounts.delete", account),
        ("clients.archive", client),
        ("clients.create", other),
        ("clients.delete", other),
    ]
    .iter()
    .map(|(a, b)| (a.to_string(), *b))
    .collect();
    // One handler per event id: deliveries of different handlers may interleave, but each
    // object's events arrive in the order they happened.
    let got = events_of(&reqs);
    let mut got_sorted = got.clone();
    got_sorted.sort();
    let mut want_sorted = expected.clone();
    want_sorted.sort();
    assert_eq!(got_sorted, want_sorted, "got {got:#?}");
    assert_eq!(report.delivered, expected.len());
    for key in [("clients", client), ("accounts", account), ("subs", sub)] {
        let pick = |v: &[(String, i64)]| -> Vec<(String, i64)> {
            v.iter()
                .filter(|(ev, o)| {
                    *o == key.1
                        && match key.0 {
                            "clients" => {
                                !ev.starts_with("clients.accounts")
                                    && !ev.starts_with("clients.subscriptions")
                            }
                            "accounts" => ev.starts_with("clients.accounts"),
                            _ => ev.starts_with("clients.subscriptions"),
                        }
                })
                .cloned()
                .collect()
        };
        assert_eq!(pick(&got), pick(&expected), "order of {key:?}");
    }
    let mut ids = BTreeSet::new();
    for r in &reqs {
        let v = r.json();
        let ev = v["event"]["events_id"].as_str().unwrap();
        let (_, secret) = &secrets[ev];
        assert!(signature_valid(secret, r), "bad signature on {ev}");
        // A forged body does not verify.
        let mut forged = r.clone();
        forged.body.push(b' ');
        assert!(!signature_valid(secret, &forged));
        assert!(
            ids.insert(r.headers["webhook-id"].clone()),
            "webhook-id reused"
        );
        assert_eq!(r.headers["content-type"], "application/json");
        assert!(v["event"]["dt"].as_str().unwrap().ends_with('Z'));
    }
    // Payloads: create carries the object, update the id and the changed fields only.
    let find = |ev: &str| {
        reqs.iter()
            .map(Req::json)
            .find(|v| v["event"]["events_id"] == ev)
            .unwrap()
    };
    let create = find("clients.create");
    assert_eq!(create["data"]["name"], "Acme");
    assert_eq!(create["data"]["credit"].to_string(), "100");
    assert_eq!(
        find("clients.update")["data"],
        json!({"id": client, "credit": 50})
    );
    assert_eq!(
        find("clients.custom_fields.update")["data"],
        json!({"id": client, "custom_fields": {"vat_id": "GB1"}})
    );
    assert_eq!(
        find("clients.accounts.update")["data"],
        json!({"id": account, "status": "blocked"})
    );
    let acc = find("clients.accounts.create");
    assert_eq!(acc["data"]["ident"], "acme-sip");
    assert!(acc["data"].get("password").is_none(), "secrets never leave");
    assert_eq!(find("clients.balance_zero")["data"], json!({}));
    assert_eq!(find("clients.delete")["data"], json!({}));
    // Everything went out once: nothing is left to deliver.
    assert_eq!(e.deliver_events(c.now()).unwrap().attempted, 0);
    let (h, _) = &secrets["clients.create"];
    let l = logs(&e, *h);
    assert_eq!(l.len(), 2);
    assert!(l
        .iter()
        .all(|r| r["outcome"] == "ok" && r["status_code"] == 200 && r["attempt"] == 1));
}

#[test]
fn a_receiver_like_the_vendor_flask_example_allows_and_changes_nothing() {
    let (e, c) = engine(false);
    let rx = Receiver::echo();
    handler(&e, "clients.update", "before", "http", &rx.url, json!({}));
    let (after, _) = handler(&e, "clients.update", "after", "http", &rx.url, json!({}));
    let client = id(&ok(
        &e,
        "clients.add",
        json!({"name": "Acme", "credit": "12.5"}),
    ));
    ok(
        &e,
        "clients.edit",
        json!({"id": client, "name": "Acme Ltd", "credit": "7.25"}),
    );
    let c1 = ok(&e, "clients.editForm", json!({"id": client}))["client"].clone();
    assert_eq!(c1["name"], "Acme Ltd");
    assert_eq!(c1["credit"].to_string(), "7.25");
    let before = rx.requests();
    assert_eq!(before.len(), 1);
    let v = before[0].json();
    assert_eq!(v["event"]["events_id"], "clients.update");
    assert_eq!(
        v["data"],
        json!({"id": client, "name": "Acme Ltd", "credit": 7.25})
    );
    e.deliver_events(c.now()).unwrap();
    assert_eq!(rx.requests().len(), 2);
    assert_eq!(logs(&e, after)[0]["outcome"], "ok");
}

#[test]
fn a_before_handler_may_modify_data_which_is_validated_again() {
    let (e, _c) = engine(false);
    let rx = Receiver::start(Arc::new(|_, r: &Req| {
        let mut v = r.json();
        let name = v["data"]["name"].as_str().unwrap_or("").to_string();
        if name == "bad" {
            v["data"]["credit"] = json!("-5");
        } else {
            v["data"]["name"] = json!(format!("{name} (checked)"));
        }
        Reply::Status(200, v.to_string())
    }));
    handler(&e, "clients.create", "before", "http", &rx.url, json!({}));
    let client = id(&ok(&e, "clients.add", json!({"name": "Acme"})));
    assert_eq!(
        ok(&e, "clients.editForm", json!({"id": client}))["client"]["name"],
        "Acme (checked)"
    );
    let (code, _) = refused(&e, "clients.add", json!({"name": "bad"}));
    assert_eq!(code, "validation.out_of_range");
    assert_eq!(ok(&e, "clients.list", json!({}))["total"], 1);
}

// ---------------------------------------------------------------- forbidding

/// Every row of every table, as text (the engine must be closed).
fn dump(path: &str) -> Vec<String> {
    let conn = rusqlite::Connection::open(path).unwrap();
    let tables: Vec<String> = conn
        .prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    let mut out = Vec::new();
    for t in tables {
        let mut stmt = conn
            // Every row in a stable order (some tables are WITHOUT ROWID).
            .prepare(&format!("SELECT * FROM {t}"))
            .unwrap();
        let n = stmt.column_count();
        let rows = stmt
            .query_map([], |r| {
                let mut s = format!("{t}:");
                for i in 0..n {
                    s.push_str(&format!("{:?}|", r.get_ref(i)?));
                }
                Ok(s)
            })
            .unwrap();
        let mut rows: Vec<String> = rows.map(Result::unwrap).collect();
        // Each open takes the next reservation epoch (a write of the open, not of a call).
        let epoch = format!(
            "{t}:{:?}|",
            rusqlite::types::ValueRef::Text(b"reservation_epoch")
        );
        rows.retain(|r| !r.starts_with(&epoch));
        rows.sort();
        out.extend(rows);
    }
    out
}

#[test]
fn a_forbidding_before_handler_leaves_the_database_as_it_was() {
    let dir = tempfile::tempdir().unwrap();
    // Reads the SQLite file itself: this one runs on SQLite only.
    let path = dir.path().join("forbid.db");
    let path = path.to_str().unwrap();
    let c = clock();
    let e = Engine::create_with(path, ADMIN, PASSWORD, opts(&c, false)).unwrap();
    let no = Receiver::start(Arc::new(|_, _: &Req| {
        Reply::Status(403, r#"{"message": "credit limit above policy"}"#.into())
    }));
    let client = id(&ok(
        &e,
        "clients.add",
        json!({"name": "Acme", "credit": "10"}),
    ));
    ok(
        &e,
        "transactions.add",
        json!({"id_clients": client, "type": "payment", "amount": "5"}),
    );
    handler(&e, "clients.update", "before", "http", &no.url, json!({}));
    // An after handler too: a forbidden change must leave no outbox row for it.
    handler(&e, "clients.update", "after", "http", &no.url, json!({}));
    drop(e);
    let before = dump(path);
    let e = Engine::open_with(path, opts(&c, false)).unwrap();
    let (code, message) = refused(&e, "clients.edit", json!({"id": client, "credit": "1000"}));
    assert_eq!(code, "handler.forbidden");
    assert!(message.contains("credit limit above policy"), "{message}");
    assert_eq!(no.requests().len(), 1);
    drop(e);
    assert_eq!(
        dump(path),
        before,
        "a forbidden change wrote to the database"
    );
}

#[test]
fn before_handlers_run_by_priority_and_any_refusal_or_failure_forbids() {
    let (e, _c) = engine(false);
    let order = Arc::new(Mutex::new(Vec::new()));
    for name in ["first", "second"] {
        let o = Arc::clone(&order);
        let n = name.to_string();
        e.register_callback(
            name,
            Arc::new(move |_: &Event| {
                o.lock().unwrap().push(n.clone());
                Verdict::Allow
            }),
        )
        .unwrap();
    }
    handler(
        &e,
        "clients.create",
        "before",
        "callback",
        "second",
        json!({"priority": 20}),
    );
    handler(
        &e,
        "clients.create",
        "before",
        "callback",
        "first",
        json!({"priority": 5}),
    );
    ok(&e, "clients.add", json!({"name": "a"}));
    assert_eq!(*order.lock().unwrap(), vec!["first", "second"]);
    // A callback that refuses.
    e.register_callback(
        "no",
        Arc::new(|ev: &Event| {
            assert_eq!(ev.stage, Stage::Before);
            Verdict::Forbid(format!(
                "no {} today",
                ev.payload["data"]["name"].as_str().unwrap_or("")
            ))
        }),
    )
    .unwrap();
    let (h, _) = handler(
        &e,
        "clients.create",
        "before",
        "callback",
        "no",
        json!({"priority": 7}),
    );
    let (code, msg) = refused(&e, "clients.add", json!({"name": "b"}));
    assert_eq!(code, "handler.forbidden");
    assert!(msg.contains("no b today"), "{msg}");
    // The refusal ran no later handler.
    assert_eq!(order.lock().unwrap().len(), 3);
    ok(
        &e,
        "provisioning.edit",
        json!({"id": h, "status": "disabled"}),
    );
    ok(&e, "clients.add", json!({"name": "c"}));
    // A handler that times out forbids.
    let slow = Receiver::start(Arc::new(|_, _: &Req| Reply::Hang));
    handler(
        &e,
        "clients.create",
        "before",
        "http",
        &slow.url,
        json!({"timeout_ms": 100}),
    );
    let (code, msg) = refused(&e, "clients.add", json!({"name": "d"}));
    assert_eq!(code, "handler.forbidden");
    assert!(msg.contains("failed"), "{msg}");
    assert_eq!(ok(&e, "clients.list", json!({}))["total"], 2);
}

// ---------------------------------------------------------------- retries

#[test]
fn a_receiver_failing_the_first_times_gets_the_event_after_retries() {
    let (e, c) = engine(false);
    let rx = Receiver::start(Arc::new(|n, _: &Req| {
        if n <= 3 {
            Reply::Status(500, "down".into())
        } else {
            Reply::Status(204, String::new())
        }
    }));
    let (h, secret) = handler(&e, "clients.create", "after", "http", &rx.url, json!({}));
    let client = id(&ok(&e, "clients.add", json!({"name": "Acme"})));
    let second = id(&ok(&e, "clients.add", json!({"name": "Beta"})));
    let r = e.deliver_events(c.now()).unwrap();
    // The first event failed; the second is another object: it is not held up.
    assert_eq!((r.attempted, r.delivered, r.retrying), (2, 0, 2));
    // Nothing is due until the backoff has passed.
    assert_eq!(e.deliver_events(c.now()).unwrap().attempted, 0);
    c.advance_seconds(60);
    // The first event fails a third time (now 120 s to wait); the second goes through.
    let r = e.deliver_events(c.now()).unwrap();
    assert_eq!((r.attempted, r.delivered, r.retrying), (2, 1, 1));
    c.advance_seconds(119);
    assert_eq!(e.deliver_events(c.now()).unwrap().attempted, 0);
    c.advance_seconds(1);
    let r = e.deliver_events(c.now()).unwrap();
    assert_eq!((r.attempted, r.delivered), (1, 1));
    c.advance_seconds(24 * 60 * 60);
    assert_eq!(e.deliver_events(c.now()).unwrap().attempted, 0);
    let reqs = rx.requests();
    assert_eq!(reqs.len(), 5);
    assert!(reqs.iter().all(|r| signature_valid(&secret, r)));
    // Every attempt of one event carries the same id, so the receiver can drop duplicates.
    let of = |obj: i64| -> BTreeSet<String> {
        reqs.iter()
            .filter(|r| r.json()["event"]["object_id"] == obj)
            .map(|r| r.headers["webhook-id"].clone())
            .collect()
    };
    assert_eq!(of(client).len(), 1);
    assert_eq!(of(second).len(), 1);
    let l = logs(&e, h);
    let outcomes: Vec<(&str, i64, Option<i64>)> = l
        .iter()
        .map(|r| {
            (
                r["outcome"].as_str().unwrap(),
                r["attempt"].as_i64().unwrap(),
                r["status_code"].as_i64(),
            )
        })
        .collect();
    assert_eq!(outcomes.len(), 5);
    assert_eq!(outcomes.iter().filter(|o| o.0 == "failed").count(), 3);
    assert_eq!(outcomes.iter().filter(|o| o.0 == "ok").count(), 2);
    assert!(outcomes.contains(&("failed", 2, Some(500))));
}

#[test]
fn a_receiver_that_never_answers_exhausts_the_attempts_and_each_is_logged() {
    let (e, c) = engine(false);
    let rx = Receiver::start(Arc::new(|_, _: &Req| Reply::Hang));
    let (h, _) = handler(
        &e,
        "clients.create",
        "after",
        "http",
        &rx.url,
        json!({"timeout_ms": 100}),
    );
    ok(&e, "clients.add", json!({"name": "Acme"}));
    let mut attempts = 0;
    let started = c.now();
    for _ in 0..100 {
        let r = e.deliver_events(c.now()).unwrap();
        attempts += r.attempted;
        if r.failed == 1 {
            break;
        }
        c.advance_seconds(6 * 60 * 60);
    }
    let max = tollgate::limits::event_delivery_attempts_max as usize;
    assert_eq!(attempts, max);
    assert_eq!(rx.requests().len(), max);
    let l = logs(&e, h);
    assert_eq!(l.len(), max);
    assert!(l.iter().all(|r| r["outcome"] == "failed"));
    let mut nums: Vec<i64> = l.iter().map(|r| r["attempt"].as_i64().unwrap()).collect();
    nums.sort();
    assert_eq!(nums, (1..=max as i64).collect::<Vec<_>>());
    assert!(l[0]["error"]
        .as_str()
        .unwrap()
        .contains("HTTP request failed"));
    // Given up: nothing more is tried.
    c.advance_seconds(24 * 60 * 60);
    assert_eq!(e.deliver_events(c.now()).unwrap().attempted, 0);
    println!(
        "never answering: {attempts} attempts over {} h of retries",
        (c.now() - started).num_hours()
    );
}

// ---------------------------------------------------------------- scripts and callbacks

fn script(dir: &std::path::Path, name: &str, body: &str) -> String {
    use std::os::unix::fs::PermissionsExt;
    let p = dir.join(name);
    std::fs::write(&p, format!("#!/bin/sh\n{body}\n")).unwrap();
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
    p.to_str().unwrap().to_string()
}

#[test]
fn script_handlers_get_the_payload_on_stdin_and_may_allow_modify_or_forbid() {
    let dir = tempfile::tempdir().unwrap();
    let (e, c) = engine(false);
    let seen = dir.path().join("seen.json");
    let capture = script(
        dir.path(),
        "capture.sh",
        &format!("cat > {}", seen.display()),
    );
    handler(&e, "clients.create", "after", "script", &capture, json!({}));
    let client = id(&ok(&e, "clients.add", json!({"name": "Acme"})));
    e.deliver_events(c.now()).unwrap();
    let v: Value = serde_json::from_str(&std::fs::read_to_string(&seen).unwrap()).unwrap();
    assert_eq!(v["event"]["events_id"], "clients.create");
    assert_eq!(v["event"]["object_id"], client);
    assert_eq!(v["data"]["name"], "Acme");

    let rename = script(
        dir.path(),
        "rename.sh",
        r#"cat > /dev/null; echo '{"data": {"name": "Renamed by script"}}'"#,
    );
    handler(&e, "clients.update", "before", "script", &rename, json!({}));
    ok(&e, "clients.edit", json!({"id": client, "name": "x"}));
    assert_eq!(
        ok(&e, "clients.editForm", json!({"id": client}))["client"]["name"],
        "Renamed by script"
    );

    let deny = script(
        dir.path(),
        "deny.sh",
        "cat > /dev/null; echo 'accounts are frozen' >&2; exit 3",
    );
    handler(
        &e,
        "clients.accounts.create",
        "before",
        "script",
        &deny,
        json!({}),
    );
    let (code, msg) = refused(
        &e,
        "accounts.add",
        json!({"id_clients": client, "name": "a", "ident": "a1"}),
    );
    assert_eq!(
        (code.as_str(), msg.contains("accounts are frozen")),
        ("handler.forbidden", true),
        "{msg}"
    );

    let slow = script(dir.path(), "slow.sh", "sleep 5");
    handler(
        &e,
        "clients.delete",
        "before",
        "script",
        &slow,
        json!({"timeout_ms": 200}),
    );
    let t = std::time::Instant::now();
    let (code, msg) = refused(&e, "clients.delete", json!({"id": client}));
    assert_eq!(code, "handler.forbidden");
    assert!(msg.contains("timed out"), "{msg}");
    assert!(
        t.elapsed() < Duration::from_secs(4),
        "the script was not killed"
    );
    let missing = dir.path().join("missing.sh");
    handler(
        &e,
        "clients.archive",
        "before",
        "script",
        missing.to_str().unwrap(),
        json!({}),
    );
    assert_eq!(
        refused(&e, "clients.archive", json!({"id": client})).0,
        "handler.forbidden"
    );
    assert_eq!(ok(&e, "clients.list", json!({}))["total"], 1);
}

#[test]
fn a_panicking_or_missing_callback_is_a_failed_attempt_and_the_engine_goes_on() {
    let (e, c) = engine(false);
    e.register_callback("boom", Arc::new(|_: &Event| panic!("receiver exploded")))
        .unwrap();
    let (h, _) = handler(&e, "clients.create", "after", "callback", "boom", json!({}));
    let (h2, _) = handler(
        &e,
        "clients.create",
        "after",
        "callback",
        "later",
        json!({}),
    );
    ok(&e, "clients.add", json!({"name": "Acme"}));
    let r = e.deliver_events(c.now()).unwrap();
    assert_eq!((r.attempted, r.retrying), (2, 2));
    let l = logs(&e, h);
    assert_eq!(l[0]["outcome"], "failed");
    assert!(l[0]["error"]
        .as_str()
        .unwrap()
        .contains("receiver exploded"));
    assert!(logs(&e, h2)[0]["error"]
        .as_str()
        .unwrap()
        .contains("no callback"));
    // The engine still works, and a callback registered later gets the event on retry.
    ok(&e, "clients.add", json!({"name": "Beta"}));
    let (cb, seen) = recorder();
    e.register_callback("later", cb).unwrap();
    assert_eq!(
        e.register_callback("later", recorder().0)
            .unwrap_err()
            .code()
            .as_str(),
        "validation.duplicate"
    );
    assert!(e.unregister_callback("boom"));
    assert!(!e.unregister_callback("boom"));
    c.advance_seconds(60);
    e.deliver_events(c.now()).unwrap();
    let names: Vec<String> = seen
        .lock()
        .unwrap()
        .iter()
        .map(|ev| ev.payload["data"]["name"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(names, vec!["Acme", "Beta"], "in order per handler");
    assert!(seen
        .lock()
        .unwrap()
        .iter()
        .all(|ev| ev.stage == Stage::After && ev.id > 0));
}

#[test]
fn a_callback_may_call_back_into_the_engine_from_the_background_worker() {
    let (e, _c) = engine(true);
    let weak = e.downgrade();
    let (tx, rx) = std::sync::mpsc::channel();
    let tx = Mutex::new(tx);
    e.register_callback(
        "reenter",
        Arc::new(move |ev: &Event| {
            let Some(e) = weak.upgrade() else {
                return Verdict::Forbid("engine gone".into());
            };
            // Read and write through the engine from inside the callback: no lock is held.
            let form = e.call_as_system("clients.editForm", json!({"id": ev.object_id}));
            let edit = e.call_as_system(
                "clients.edit",
                json!({"id": ev.object_id, "c_company": "seen"}),
            );
            let _ =
                tx.lock()
                    .unwrap()
                    .send((form.code, edit.code, form.ret["client"]["name"].clone()));
            Verdict::Allow
        }),
    )
    .unwrap();
    handler(
        &e,
        "clients.create",
        "after",
        "callback",
        "reenter",
        json!({}),
    );
    let client = id(&ok(&e, "clients.add", json!({"name": "Acme"})));
    // Delivered by the worker thread, woken by the commit: no deliver_events call here.
    let got = rx
        .recv_timeout(Duration::from_secs(10))
        .expect("the worker delivered");
    assert_eq!(got, (true, true, json!("Acme")));
    assert_eq!(
        ok(&e, "clients.editForm", json!({"id": client}))["client"]["c_company"],
        "seen"
    );
    e.close();
}

#[test]
fn the_worker_stops_and_is_joined_when_the_last_handle_drops() {
    let dir = tempfile::tempdir().unwrap();
    let path = &common::db_path(dir.path(), "w.db");
    let c = clock();
    let rx = Receiver::echo();
    for round in 0..3 {
        let e = if round == 0 {
            Engine::create_with(path, ADMIN, PASSWORD, opts(&c, true)).unwrap()
        } else {
            Engine::open_with(path, opts(&c, true)).unwrap()
        };
        if round == 0 {
            handler(&e, "clients.create", "after", "http", &rx.url, json!({}));
        }
        ok(&e, "clients.add", json!({"name": format!("c{round}")}));
        let clone = e.clone();
        drop(e);
        drop(clone);
        // Reopening at once works: the worker let go of the database.
    }
    let e = Engine::open_with(path, opts(&c, false)).unwrap();
    e.deliver_events(c.now()).unwrap();
    let names: BTreeSet<String> = rx
        .requests()
        .iter()
        .map(|r| r.json()["data"]["name"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        names,
        BTreeSet::from(["c0".into(), "c1".into(), "c2".into()])
    );
}

// ---------------------------------------------------------------- balance crossings

/// A client with credit, a rate of 0.6 per minute on code 1 (0.01 per second) and an ANI
/// account `ident`.
fn caller(e: &Engine, ident: &str) -> i64 {
    let client = id(&ok(
        e,
        "clients.add",
        json!({"name": ident, "credit": "1000"}),
    ));
    let table = id(&ok(e, "rateTables.add", json!({"name": ident})));
    ok(
        e,
        "rates.add",
        json!({"id_rate_tables": table, "code": "1", "rate": "0.6", "effective_from": "2020-01-01"}),
    );
    ok(
        e,
        "clients.edit",
        json!({"id": client, "orig_rate_table": table}),
    );
    ok(
        e,
        "accounts.add",
        json!({"id_clients": client, "name": ident, "auth_type": "ani", "ident": ident}),
    );
    client
}

fn balance(e: &Engine, client: i64) -> rust_decimal::Decimal {
    ok(e, "clients.editForm", json!({"id": client}))["client"]["balance"]
        .to_string()
        .parse()
        .unwrap()
}

fn settle(e: &Engine, ident: &str, call: &str, seconds: u64) {
    e.settle(&SettleRequest {
        call_id: call.into(),
        duration: seconds,
        account: Some(ident.into()),
        destination: Some("15550001".into()),
        connect_time: tollgate::clock::parse_dt("2026-01-15 11:00:00"),
        ..Default::default()
    })
    .unwrap();
}

#[test]
fn every_path_that_moves_a_balance_raises_one_event_per_crossing() {
    let (e, c) = engine(false);
    let (cb, seen) = recorder();
    e.register_callback("rec", cb).unwrap();
    handler(
        &e,
        "clients.balance_zero",
        "after",
        "callback",
        "rec",
        json!({}),
    );
    handler(
        &e,
        "clients.balance_notzero",
        "after",
        "callback",
        "rec",
        json!({}),
    );
    let client = caller(&e, "100");
    let pay = |amount: &str| {
        ok(
            &e,
            "transactions.add",
            json!({"id_clients": client, "type": "payment", "amount": amount}),
        )
    };
    let pkg = id(&ok(
        &e,
        "packages.add",
        json!({"name": "fee", "activation_fee": "3", "periodical_fee": "2", "period": "P1D"}),
    ));
    let mut expect = Vec::new();
    pay("1"); // 0 -> 1: nothing (0 was already >= 0)
    settle(&e, "100", "call-1", 150); // 1 -> -0.5: balance_zero, by a call settle
    expect.push("clients.balance_zero");
    settle(&e, "100", "call-2", 60); // -0.5 -> -1.1: nothing more
    ok(
        &e,
        "transactions.add",
        json!({"id_clients": client, "type": "refund", "amount": "1.1"}),
    ); // -> 0: notzero, by a refund
    expect.push("clients.balance_notzero");
    ok(
        &e,
        "transactions.add",
        json!({"id_clients": client, "type": "charge", "amount": "0.01"}),
    ); // 0 -> -0.01: nothing (0 was <= 0)
    pay("10.01"); // -> 10: notzero, by a payment
    expect.push("clients.balance_notzero");
    ok(
        &e,
        "clients.packagesAdd",
        json!({"id_clients": client, "id_packages": pkg}),
    ); // 10 -> 5: nothing
    c.advance_seconds(86_400);
    e.tick(c.now()).unwrap(); // renewal 5 -> 3
    c.advance_seconds(86_400);
    e.tick(c.now()).unwrap(); // 3 -> 1
    c.advance_seconds(86_400);
    e.tick(c.now()).unwrap(); // 1 -> -1: balance_zero, by a package fee in tick
    expect.push("clients.balance_zero");
    ok(
        &e,
        "transactions.add",
        json!({"id_clients": client, "type": "adjustment", "amount": "1"}),
    ); // -> 0: notzero
    expect.push("clients.balance_notzero");
    assert_eq!(balance(&e, client), rust_decimal::Decimal::ZERO);
    e.deliver_events(c.now()).unwrap();
    let got: Vec<String> = seen
        .lock()
        .unwrap()
        .iter()
        .map(|ev| ev.event.clone())
        .collect();
    assert_eq!(got, expect);
    assert!(seen
        .lock()
        .unwrap()
        .iter()
        .all(|ev| ev.object_id == client && ev.payload["data"] == json!({})));
    assert!(e.verify_client_ledger(client).unwrap());
}

/// xorshift64*: a small deterministic generator for the randomized sequences.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

#[test]
fn randomized_charges_and_payments_raise_exactly_the_crossings_a_reference_model_predicts() {
    let (e, c) = engine(false);
    let (cb, seen) = recorder();
    e.register_callback("rec", cb).unwrap();
    handler(
        &e,
        "clients.balance_zero",
        "after",
        "callback",
        "rec",
        json!({}),
    );
    handler(
        &e,
        "clients.balance_notzero",
        "after",
        "callback",
        "rec",
        json!({}),
    );
    let client = caller(&e, "200");
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let mut predicted = Vec::new();
    let mut prev = balance(&e, client);
    for i in 0..300 {
        let cents = rust_decimal::Decimal::new(rng.below(2_000) as i64 + 1, 2);
        match rng.below(4) {
            0 => {
                ok(
                    &e,
                    "transactions.add",
                    json!({"id_clients": client, "type": "payment", "amount": cents.to_string()}),
                );
            }
            1 => {
                ok(
                    &e,
                    "transactions.add",
                    json!({"id_clients": client, "type": "charge", "amount": cents.to_string()}),
                );
            }
            2 => settle(&e, "200", &format!("r-{i}"), rng.below(1_500)),
            _ => {
                // Land exactly on zero now and then: the boundary belongs to both predicates.
                let b = balance(&e, client);
                if !b.is_zero() {
                    let kind = if b > rust_decimal::Decimal::ZERO {
                        "charge"
                    } else {
                        "payment"
                    };
                    ok(
                        &e,
                        "transactions.add",
                        json!({"id_clients": client, "type": kind, "amount": b.abs().to_string()}),
                    );
                }
            }
        }
        let now = balance(&e, client);
        // The reference model, straight from DESIGN §9.
        let zero = |b: rust_decimal::Decimal| b <= rust_decimal::Decimal::ZERO;
        let notzero = |b: rust_decimal::Decimal| b >= rust_decimal::Decimal::ZERO;
        if !zero(prev) && zero(now) {
            predicted.push("clients.balance_zero".to_string());
        }
        if !notzero(prev) && notzero(now) {
            predicted.push("clients.balance_notzero".to_string());
        }
        prev = now;
        if i % 50 == 0 {
            e.deliver_events(c.now()).unwrap();
        }
    }
    e.deliver_events(c.now()).unwrap();
    let got: Vec<String> = seen
        .lock()
        .unwrap()
        .iter()
        .map(|ev| ev.event.clone())
        .collect();
    println!(
        "randomized crossings: {} predicted, {} raised",
        predicted.len(),
        got.len()
    );
    assert!(
        predicted.len() > 20,
        "the sequence crossed too rarely: {}",
        predicted.len()
    );
    assert_eq!(got, predicted);
}

// ---------------------------------------------------------------- the outbox across a crash

/// Not a test on its own: the child process of the crash test (run with `--ignored`). It adds
/// clients on the database in TOLLGATE_EVENTS_CHILD, printing each acknowledged one, until
/// killed; with TOLLGATE_EVENTS_WORKER set its worker delivers meanwhile.
#[test]
#[ignore = "helper process of the crash test"]
fn child_event_writer() {
    let Ok(path) = std::env::var("TOLLGATE_EVENTS_CHILD") else {
        return;
    };
    let worker = std::env::var("TOLLGATE_EVENTS_WORKER").is_ok();
    let tag = std::env::var("TOLLGATE_EVENTS_TAG").unwrap_or_default();
    let e = Engine::open_with(&path, opts(&clock(), worker)).unwrap();
    let mut out = std::io::stdout();
    for i in 0.. {
        // Every fifth call is refused (a negative credit): it must raise nothing.
        let credit = if i % 5 == 4 { "-1" } else { "1" };
        let r = e.call_as_system(
            "clients.add",
            json!({"name": format!("crash-{tag}-{i}"), "credit": credit}),
        );
        if r.code {
            let _ = writeln!(out, "ACK {}", r.ret["id"]);
            let _ = out.flush();
        }
    }
}

#[test]
fn a_killed_process_loses_no_event_and_invents_none() {
    let rx = Receiver::start(Arc::new(|_, _: &Req| Reply::Status(200, "{}".into())));
    let (mut lost, mut invented, mut acked_total) = (0usize, 0usize, 0usize);
    let mut tried = 0;
    for (round, (after_acks, worker)) in [(1, false), (7, false), (25, true), (60, true), (3, true)]
        .into_iter()
        .enumerate()
    {
        let dir = tempfile::tempdir().unwrap();
        let path = &common::db_path(dir.path(), "crash.db");
        let c = clock();
        let e = Engine::create_with(path, ADMIN, PASSWORD, opts(&c, false)).unwrap();
        let tag = format!("round{round}");
        let mut p = json!({"name": tag.clone(), "event": "clients.create", "target": rx.url});
        p["stage"] = json!("after");
        ok(&e, "provisioning.add", p);
        drop(e);
        let mut cmd = Command::new(std::env::current_exe().unwrap());
        cmd.args([
            "--exact",
            "--ignored",
            "child_event_writer",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("TOLLGATE_EVENTS_CHILD", path)
        .env("TOLLGATE_EVENTS_TAG", &tag)
        .stdout(Stdio::piped());
        if worker {
            cmd.env("TOLLGATE_EVENTS_WORKER", "1");
        }
        let mut child = cmd.spawn().unwrap();
        let mut acked = BTreeSet::new();
        for line in BufReader::new(child.stdout.take().unwrap()).lines() {
            let line = line.unwrap();
            if let Some(rest) = line.strip_prefix("ACK ") {
                acked.insert(rest.parse::<i64>().unwrap());
                if acked.len() == after_acks {
                    break;
                }
            }
        }
        child.kill().unwrap(); // SIGKILL, mid-flight
        child.wait().unwrap();
        tried += 1;
        acked_total += acked.len();
        let e = Engine::open_with(path, opts(&c, false)).unwrap();
        e.deliver_events(c.now()).unwrap();
        let rows = ok(&e, "clients.list", json!({"limit": 1000}))["rows"].clone();
        let prefix = format!("crash-{tag}-");
        let stored: BTreeMap<i64, String> = rows
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| r["name"].as_str().unwrap().starts_with(&prefix))
            .map(|r| {
                (
                    r["id"].as_i64().unwrap(),
                    r["name"].as_str().unwrap().to_string(),
                )
            })
            .collect();
        assert!(
            acked.iter().all(|a| stored.contains_key(a)),
            "an acknowledged client was lost"
        );
        // What the receiver got for this round (a delivery in flight at the kill may come
        // twice: at least once).
        let received: BTreeMap<i64, String> = rx
            .requests()
            .iter()
            .map(Req::json)
            .filter(|v| {
                v["data"]["name"]
                    .as_str()
                    .is_some_and(|n| n.starts_with(&prefix))
            })
            .map(|v| {
                (
                    v["event"]["object_id"].as_i64().unwrap(),
                    v["data"]["name"].as_str().unwrap().to_string(),
                )
            })
            .collect();
        lost += stored
            .iter()
            .filter(|(k, v)| received.get(k) != Some(v))
            .count();
        invented += received
            .iter()
            .filter(|(k, v)| stored.get(k) != Some(v))
            .count();
        // Nothing is left pending in the outbox either.
        assert_eq!(e.deliver_events(c.now()).unwrap().attempted, 0);
        drop(e);
    }
    println!(
        "crash points tried: {tried}, acknowledged changes: {acked_total}, events lost: {lost}, events invented: {invented}"
    );
    assert_eq!((lost, invented), (0, 0));
}

// ---------------------------------------------------------------- formats, tenants, API

#[test]
fn portabilling_format_handlers_get_espf_bodies() {
    let (e, c) = engine(false);
    let rx = Receiver::echo();
    handler(
        &e,
        "clients.update",
        "after",
        "http",
        &rx.url,
        json!({"format": "portabilling"}),
    );
    handler(
        &e,
        "clients.accounts.create",
        "after",
        "http",
        &rx.url,
        json!({"format": "portabilling"}),
    );
    let client = id(&ok(&e, "clients.add", json!({"name": "Acme"})));
    ok(&e, "clients.edit", json!({"id": client, "name": "Acme 2"}));
    let account = id(&ok(
        &e,
        "accounts.add",
        json!({"id_clients": client, "name": "a", "ident": "acme-a"}),
    ));
    e.deliver_events(c.now()).unwrap();
    let bodies: Vec<Value> = rx.requests().iter().map(Req::json).collect();
    assert_eq!(bodies.len(), 2);
    let upd = bodies
        .iter()
        .find(|b| b["event_type"] == "Customer/Updated")
        .unwrap();
    assert_eq!(upd["variables"]["i_customer"], client.to_string());
    assert!(
        upd["variables"]["i_event"]
            .as_str()
            .unwrap()
            .parse::<i64>()
            .unwrap()
            > 0
    );
    let acc = bodies
        .iter()
        .find(|b| b["event_type"] == "Subscriber/Created")
        .unwrap();
    assert_eq!(acc["variables"]["i_account"], account.to_string());
    assert_eq!(acc["variables"]["i_customer"], client.to_string());
}

#[test]
fn handlers_hear_only_their_own_subtree() {
    let (e, c) = engine(false);
    let ca = id(&ok(
        &e,
        "companies.add",
        json!({"name": "A", "parent_id": 1}),
    ));
    let ca1 = id(&ok(
        &e,
        "companies.add",
        json!({"name": "A1", "parent_id": ca}),
    ));
    let cb = id(&ok(
        &e,
        "companies.add",
        json!({"name": "B", "parent_id": 1}),
    ));
    let (cb_a, seen_a) = recorder();
    let (cb_op, seen_op) = recorder();
    e.register_callback("a", cb_a).unwrap();
    e.register_callback("op", cb_op).unwrap();
    handler(
        &e,
        "clients.create",
        "after",
        "callback",
        "a",
        json!({"id_companies": ca}),
    );
    handler(&e, "clients.create", "after", "callback", "op", json!({}));
    let in_a1 = id(&ok(
        &e,
        "clients.add",
        json!({"name": "x", "id_companies": ca1}),
    ));
    let in_b = id(&ok(
        &e,
        "clients.add",
        json!({"name": "y", "id_companies": cb}),
    ));
    e.deliver_events(c.now()).unwrap();
    let ids = |s: &Arc<Mutex<Vec<Event>>>| -> Vec<i64> {
        s.lock().unwrap().iter().map(|ev| ev.object_id).collect()
    };
    assert_eq!(ids(&seen_a), vec![in_a1]);
    assert_eq!(ids(&seen_op), vec![in_a1, in_b]);
}

#[test]
fn the_provisioning_api_manages_handlers_and_keeps_secrets() {
    let (e, _c) = engine(false);
    let r = ok(
        &e,
        "provisioning.add",
        json!({"name": "crm", "events_id": "clients.create", "type": "http", "task": "https://crm.example.com/hook", "apply": 1}),
    );
    let h = id(&r);
    assert!(r["secret"].as_str().unwrap().starts_with("whsec_"));
    let form = ok(&e, "provisioning.editForm", json!({"id": h}))["handler"].clone();
    assert_eq!(form["event"], "clients.create");
    assert_eq!(form["stage"], "after");
    assert_eq!(form["priority"], 10);
    assert!(
        form.get("secret").is_none(),
        "the secret is never shown again"
    );
    ok(
        &e,
        "provisioning.edit",
        json!({"id": h, "priority": 1, "status": "disabled"}),
    );
    assert_eq!(
        ok(&e, "provisioning.list", json!({"status": "disabled"}))["total"],
        1
    );
    // Bad input is refused with a stable code and changes nothing.
    let bad = [
        (
            json!({"name": "x", "event": "clients.explode", "target": "https://a.example.com"}),
            "validation.invalid",
        ),
        (
            json!({"name": "x", "event": "clients.create", "target": "ftp://a.example.com"}),
            "validation.invalid",
        ),
        (
            json!({"name": "x", "event": "clients.balance_zero", "stage": "before", "target": "https://a.example.com"}),
            "validation.invalid",
        ),
        (
            json!({"name": "x", "event": "clients.create", "kind": "script", "target": "relative.sh"}),
            "validation.invalid",
        ),
        (
            json!({"name": "x", "event": "clients.create", "target": "https://a.example.com", "secret": "short"}),
            "validation.invalid",
        ),
        (
            json!({"name": "x", "event": "clients.create", "target": "https://a.example.com", "timeout_ms": 999_999}),
            "validation.out_of_range",
        ),
    ];
    for (p, code) in bad {
        assert_eq!(refused(&e, "provisioning.add", p.clone()).0, code, "{p}");
    }
    assert_eq!(ok(&e, "provisioning.list", json!({}))["total"], 1);
    ok(&e, "provisioning.delete", json!({"id": h}));
    assert_eq!(
        refused(&e, "provisioning.editForm", json!({"id": h})).0,
        "not_found"
    );
    assert_eq!(
        refused(&e, "provisioning.logs", json!({"id_handlers": h})).0,
        "not_found"
    );
}

#[test]
fn resellers_manage_http_handlers_of_their_own_company_only() {
    let (e, _c) = engine(false);
    let ca = id(&ok(
        &e,
        "companies.add",
        json!({"name": "A", "parent_id": 1}),
    ));
    ok(
        &e,
        "users.add",
        json!({"login": "res-a", "password": "user-passw0rd", "id_roles": 2, "id_companies": ca}),
    );
    let r = e.call(
        "auth.login",
        json!({"login": "res-a", "password": "user-passw0rd"}),
    );
    let sid = r.session_id.unwrap();
    let call = |m: &str, mut p: Value| {
        p["SID"] = json!(sid);
        e.call(m, p)
    };
    let r = call(
        "provisioning.add",
        json!({"name": "crm", "event": "clients.create", "target": "https://crm.example.com/x"}),
    );
    assert!(r.code, "{:?}", r.errors);
    let form = call("provisioning.editForm", json!({"id": r.ret["id"]}));
    assert_eq!(form.ret["handler"]["id_companies"], ca);
    for (p, code) in [
        (
            json!({"name": "s", "event": "clients.create", "kind": "script", "target": "/bin/true"}),
            "permission.denied",
        ),
        (
            json!({"name": "c", "event": "clients.create", "kind": "callback", "target": "cb"}),
            "permission.denied",
        ),
        (
            json!({"name": "l", "event": "clients.create", "target": "http://127.0.0.1:8080/"}),
            "validation.invalid",
        ),
        (
            json!({"name": "m", "event": "clients.create", "target": "http://169.254.169.254/latest"}),
            "validation.invalid",
        ),
    ] {
        let r = call("provisioning.add", p.clone());
        assert!(!r.code, "{p}");
        assert_eq!(r.errors[0].code.as_str(), code, "{p}");
    }
}

#[test]
fn subscription_events_come_from_the_api_and_from_tick_alike() {
    let (e, c) = engine(false);
    let (cb, seen) = recorder();
    e.register_callback("rec", cb).unwrap();
    for ev in [
        "clients.subscriptions.assign",
        "clients.subscriptions.activate",
        "clients.subscriptions.renew",
        "clients.subscriptions.deactivate",
        "clients.subscriptions.close",
    ] {
        handler(&e, ev, "after", "callback", "rec", json!({}));
    }
    let client = id(&ok(&e, "clients.add", json!({"name": "Acme"})));
    ok(
        &e,
        "transactions.add",
        json!({"id_clients": client, "type": "payment", "amount": "5"}),
    );
    let pkg = id(&ok(
        &e,
        "packages.add",
        json!({"name": "daily", "periodical_fee": "2", "period": "P1D"}),
    ));
    let sub = id(&ok(
        &e,
        "clients.packagesAdd",
        json!({"id_clients": client, "id_packages": pkg}),
    )); // 5 -> 3
    c.advance_seconds(86_400);
    e.tick(c.now()).unwrap(); // renewed: 3 -> 1
    c.advance_seconds(86_400);
    e.tick(c.now()).unwrap(); // 1 < 2: deactivated
    ok(
        &e,
        "transactions.add",
        json!({"id_clients": client, "type": "payment", "amount": "10"}),
    );
    ok(&e, "subscriptions.activate", json!({"id": sub})); // a new run
    ok(&e, "subscriptions.close", json!({"id": sub})); // at the period end
    c.advance_seconds(86_400);
    e.tick(c.now()).unwrap(); // closed by tick
    e.deliver_events(c.now()).unwrap();
    let got: Vec<String> = seen
        .lock()
        .unwrap()
        .iter()
        .map(|ev| {
            ev.event
                .trim_start_matches("clients.subscriptions.")
                .to_string()
        })
        .collect();
    assert_eq!(
        got,
        [
            "assign",
            "activate",
            "renew",
            "deactivate",
            "activate",
            "close"
        ]
    );
    let last = seen.lock().unwrap().last().unwrap().clone();
    assert_eq!(last.object_id, sub);
    assert_eq!(last.payload["data"]["status"], "closed");
    assert_eq!(last.payload["data"]["id_clients"], client);
}

#[test]
fn after_close_events_wait_in_the_outbox_for_an_explicit_delivery() {
    let (e, c) = engine(true);
    let rx = Receiver::echo();
    handler(&e, "clients.create", "after", "http", &rx.url, json!({}));
    e.close();
    ok(&e, "clients.add", json!({"name": "after close"}));
    // The worker is gone: nothing is sent until someone delivers.
    std::thread::sleep(Duration::from_millis(
        3 * tollgate::limits::event_worker_poll_ms,
    ));
    assert!(rx.requests().is_empty());
    assert_eq!(e.deliver_events(c.now()).unwrap().delivered, 1);
    assert_eq!(rx.requests().len(), 1);
}
