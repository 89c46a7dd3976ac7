//! API tokens over real HTTP on 127.0.0.1 (issue 20): `Authorization: Bearer <token>` and
//! `AUTH` in params at `/jsonrpc/` and `/xmlrpc/`, `{login, token}` at `/rest/Session/login`
//! (in the body and path-style), and a revoked token refused on every door, with nothing
//! changed.

use serde_json::{json, Value};
use std::sync::{Arc, Mutex};
use tollgate::Engine;
use tollgate_server::{Log, ServeConfig, Server};

const ADMIN: &str = "admin";
const PASSWORD: &str = "admin-password-1";

struct Harness {
    _server: Server,
    engine: Arc<Engine>,
    base: String,
    log: Arc<Mutex<Vec<String>>>,
    _dir: tempfile::TempDir,
}

fn start() -> Harness {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("billing.db");
    let engine =
        Arc::new(Engine::create(path.to_str().expect("utf-8"), ADMIN, PASSWORD).expect("create"));
    let mut config = ServeConfig::new("127.0.0.1:0".parse().expect("addr"));
    config.worker_threads = 2;
    let log = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&log);
    config.log = Log::To(Arc::new(move |line: &str| {
        sink.lock().expect("log").push(line.to_string())
    }));
    let server = Server::start(engine.clone(), config).expect("start");
    let base = format!("http://127.0.0.1:{}", server.local_addr().port());
    Harness {
        _server: server,
        engine,
        base,
        log,
        _dir: dir,
    }
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into()
}

/// POST `body` to `path`, with a bearer token if given: (status, body).
fn post(h: &Harness, path: &str, ct: &str, body: &str, bearer: Option<&str>) -> (u16, String) {
    let mut req = agent()
        .post(format!("{}{path}", h.base))
        .header("Content-Type", ct);
    if let Some(t) = bearer {
        req = req.header("Authorization", format!("Bearer {t}"));
    }
    let mut r = req.send(body).expect("HTTP exchange");
    let status = r.status().as_u16();
    (status, r.body_mut().read_to_string().expect("body"))
}

fn jsonrpc(h: &Harness, method: &str, params: Value, bearer: Option<&str>) -> Value {
    let req = json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params});
    let (status, body) = post(h, "/jsonrpc/", "application/json", &req.to_string(), bearer);
    assert_eq!(status, 200, "{body}");
    let v: Value = serde_json::from_str(&body).expect("JSON");
    v["result"].clone()
}

fn xmlrpc(h: &Harness, method: &str, members: &str, bearer: Option<&str>) -> String {
    let body = format!(
        "<?xml version=\"1.0\"?><methodCall><methodName>{method}</methodName><params>\
         <param><value><struct>{members}</struct></value></param></params></methodCall>"
    );
    let (status, answer) = post(h, "/xmlrpc/", "text/xml", &body, bearer);
    assert_eq!(status, 200, "{answer}");
    answer
}

fn member(name: &str, value: &str) -> String {
    format!("<member><name>{name}</name><value><string>{value}</string></value></member>")
}

fn client_count(h: &Harness) -> i64 {
    h.engine.call_as_system("clients.list", json!({})).ret["total"]
        .as_i64()
        .expect("total")
}

fn new_token(h: &Harness) -> (String, i64) {
    let r = h
        .engine
        .call_as_system("users.tokenAdd", json!({"id_users": 1, "name": "switch"}));
    assert!(r.code, "{:?}", r.errors);
    (
        r.ret["token"].as_str().expect("token").to_string(),
        r.ret["id"].as_i64().expect("id"),
    )
}

#[test]
fn tokens_authenticate_json_rpc_xml_rpc_and_rest_until_revoked() {
    let h = start();
    let (token, id) = new_token(&h);

    // JSON-RPC: the header, and AUTH in params (the later JeraSoft API).
    let r = jsonrpc(&h, "clients.add", json!({"name": "bearer"}), Some(&token));
    assert_eq!(r["code"], true, "{r}");
    let r = jsonrpc(
        &h,
        "clients.add",
        json!({"name": "auth", "AUTH": token}),
        None,
    );
    assert_eq!(r["code"], true, "{r}");
    // XML-RPC: the same two.
    let a = xmlrpc(
        &h,
        "clients.add",
        &member("name", "xml bearer"),
        Some(&token),
    );
    assert!(
        a.contains("<name>code</name><value><boolean>1</boolean>"),
        "{a}"
    );
    let a = xmlrpc(
        &h,
        "clients.add",
        &(member("AUTH", &token) + &member("name", "xml auth")),
        None,
    );
    assert!(
        a.contains("<name>code</name><value><boolean>1</boolean>"),
        "{a}"
    );
    assert_eq!(client_count(&h), 4);
    // A batch: each request without credentials of its own gets the header's token; one with
    // its own (here a dead SID) is checked by those.
    let batch = json!([
        {"jsonrpc": "2.0", "id": 1, "method": "clients.list", "params": {}},
        {"jsonrpc": "2.0", "id": 2, "method": "clients.list"},
        {"jsonrpc": "2.0", "id": 3, "method": "clients.list", "params": {"SID": "1-abcdefghijklmnopqrstuvwxyz"}},
    ]);
    let (status, body) = post(
        &h,
        "/jsonrpc/",
        "application/json",
        &batch.to_string(),
        Some(&token),
    );
    assert_eq!(status, 200, "{body}");
    let v: Value = serde_json::from_str(&body).expect("JSON");
    let codes: Vec<Value> = v
        .as_array()
        .expect("batch reply")
        .iter()
        .map(|r| r["result"]["errors"][0]["code"].clone())
        .collect();
    assert_eq!(
        codes,
        vec![Value::Null, Value::Null, json!("auth.session_invalid")],
        "{v}"
    );
    assert_eq!(v[0]["result"]["return"]["total"], 4, "{v}");

    // REST: login with {login, token} in the body, and path-style.
    let body = json!({"params": {"login": ADMIN, "token": token}}).to_string();
    let (status, b) = post(&h, "/rest/Session/login", "application/json", &body, None);
    assert_eq!(status, 200, "{b}");
    let b: Value = serde_json::from_str(&b).expect("JSON");
    assert!(
        b["access_token"].is_string() && b["expires_in"].is_i64(),
        "{b}"
    );
    let access = b["access_token"].as_str().expect("token").to_string();
    let (status, b) = post(
        &h,
        "/rest/Customer/get_customer_list",
        "application/json",
        &json!({"params": {"get_total": 1, "with_aliases": 1}}).to_string(),
        Some(&access),
    );
    assert_eq!(status, 200, "{b}");
    let b: Value = serde_json::from_str(&b).expect("JSON");
    assert_eq!(b["total"], 4, "{b}");
    let path_json = json!({"login": ADMIN, "token": token}).to_string();
    let encoded: String = path_json
        .bytes()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == b'_' {
                (c as char).to_string()
            } else {
                format!("%{c:02X}")
            }
        })
        .collect();
    let mut r = agent()
        .get(format!("{}/rest/Session/login/{encoded}", h.base))
        .call()
        .expect("HTTP exchange");
    let text = r.body_mut().read_to_string().expect("body");
    assert_eq!(r.status().as_u16(), 200, "{text}");
    let v: Value = serde_json::from_str(&text).expect("JSON");
    assert!(v["access_token"].is_string(), "{v}");
    // The request log shows no token, and no path past the method.
    let log = h.log.lock().expect("log").join("\n");
    assert!(!log.contains(&token), "{log}");
    assert!(log.contains("/rest/Session/login/…"), "{log}");
    // A path that is not JSON is a fault, not a login.
    let mut r = agent()
        .get(format!("{}/rest/Session/login/%7Bnope", h.base))
        .call()
        .expect("HTTP exchange");
    assert_eq!(r.status().as_u16(), 500);
    let v: Value =
        serde_json::from_str(&r.body_mut().read_to_string().expect("body")).expect("JSON");
    assert_eq!(v["faultcode"], "Client.Request.malformed", "{v}");

    // Revoked: refused at the next call on every door; nothing is added.
    let r = h
        .engine
        .call_as_system("users.tokenRevoke", json!({"id": id}));
    assert!(r.code, "{:?}", r.errors);
    let r = jsonrpc(&h, "clients.add", json!({"name": "late"}), Some(&token));
    assert_eq!(r["code"], false, "{r}");
    assert_eq!(r["errors"][0]["code"], "auth.token_invalid", "{r}");
    let r = jsonrpc(
        &h,
        "clients.add",
        json!({"name": "late", "AUTH": token}),
        None,
    );
    assert_eq!(r["errors"][0]["code"], "auth.token_invalid", "{r}");
    // A refused call over XML-RPC is an envelope with code false, not a fault.
    let a = xmlrpc(&h, "clients.add", &member("name", "late"), Some(&token));
    assert!(
        a.contains("<name>code</name><value><boolean>0</boolean>"),
        "{a}"
    );
    assert!(a.contains("auth.token_invalid"), "{a}");
    assert!(!a.contains("<fault>"), "{a}");
    let (status, b) = post(&h, "/rest/Session/login", "application/json", &body, None);
    assert_eq!(status, 500, "{b}");
    assert!(
        b.contains("Server.Session.auth_failed") && b.contains("revoked"),
        "{b}"
    );
    let (status, b) = post(
        &h,
        "/rest/Customer/get_customer_list",
        "application/json",
        "{}",
        Some(&token),
    );
    assert_eq!(status, 500, "{b}");
    assert!(b.contains("failed_to_process_access_token"), "{b}");
    assert_eq!(client_count(&h), 4, "nothing was added");
}
