//! `tollgate serve` over real HTTP on 127.0.0.1: a server on port 0 in front of a real
//! SQLite file, called with a real HTTP client (ureq) and, where the client would hide what
//! goes over the wire, with raw TCP.

use serde_json::{json, Value};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tollgate::Engine;
use tollgate_server::{Log, ServeConfig, Server};

const ADMIN: &str = "admin";
const PASSWORD: &str = "admin-password-1";

struct Harness {
    server: Option<Server>,
    engine: Arc<Engine>,
    base: String,
    logs: Arc<Mutex<Vec<String>>>,
    dir: tempfile::TempDir,
}

impl Harness {
    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    fn addr(&self) -> std::net::SocketAddr {
        self.server.as_ref().expect("running").local_addr()
    }

    fn logs(&self) -> Vec<String> {
        self.logs.lock().expect("logs").clone()
    }
}

fn start(tweak: impl FnOnce(&mut ServeConfig)) -> Harness {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("billing.db");
    let engine =
        Arc::new(Engine::create(path.to_str().expect("utf-8"), ADMIN, PASSWORD).expect("create"));
    let logs = Arc::new(Mutex::new(Vec::new()));
    let sink = logs.clone();
    let mut config = ServeConfig::new("127.0.0.1:0".parse().expect("addr"));
    config.worker_threads = 2;
    config.log = Log::To(Arc::new(move |line: &str| {
        sink.lock().expect("logs").push(line.to_string())
    }));
    tweak(&mut config);
    let scheme = if config.tls.is_some() {
        "https://localhost"
    } else {
        "http://127.0.0.1"
    };
    let server = Server::start(engine.clone(), config).expect("start");
    let base = format!("{scheme}:{}", server.local_addr().port());
    Harness {
        server: Some(server),
        engine,
        base,
        logs,
        dir,
    }
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into()
}

struct Resp {
    status: u16,
    headers: ureq::http::HeaderMap,
    body: String,
}

impl Resp {
    fn json(&self) -> Value {
        serde_json::from_str(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {:?}", self.body))
    }

    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

fn read(r: Result<ureq::http::Response<ureq::Body>, ureq::Error>) -> Resp {
    let mut r = r.expect("HTTP exchange");
    let status = r.status().as_u16();
    let headers = r.headers().clone();
    let body = r.body_mut().read_to_string().expect("body");
    Resp {
        status,
        headers,
        body,
    }
}

fn post(url: &str, content_type: &str, body: &str) -> Resp {
    read(
        agent()
            .post(url)
            .header("Content-Type", content_type)
            .send(body),
    )
}

fn get(url: &str) -> Resp {
    read(agent().get(url).call())
}

fn rpc(h: &Harness, req: &Value) -> Value {
    let r = post(&h.url("/jsonrpc/"), "application/json", &req.to_string());
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.header("content-type"), Some("application/json"));
    r.json()
}

/// `method` over JSON-RPC with the SID; the envelope, which must say `code: true`.
fn ok(h: &Harness, sid: &str, method: &str, mut params: Value) -> Value {
    params["SID"] = json!(sid);
    let r = rpc(
        h,
        &json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params}),
    );
    assert_eq!(r["result"]["code"], true, "{method}: {r}");
    r["result"].clone()
}

fn login(h: &Harness) -> String {
    let r = rpc(
        h,
        &json!({"jsonrpc": "2.0", "id": 1, "method": "auth.login",
                "params": {"auth": {"login": ADMIN, "password": PASSWORD}}}),
    );
    r["result"]["session_id"]
        .as_str()
        .expect("session id")
        .to_string()
}

fn form(pairs: &[(&str, &str)]) -> String {
    let mut s = form_urlencoded::Serializer::new(String::new());
    for (k, v) in pairs {
        s.append_pair(k, v);
    }
    s.finish()
}

fn client_count(h: &Harness) -> i64 {
    let r = h.engine.call_as_system("clients.list", json!({}));
    assert!(r.code);
    r.ret["total"].as_i64().expect("total")
}

/// Send raw bytes on a new connection and read until the server closes it or `wait` ends.
fn raw(h: &Harness, bytes: &[u8], wait: Duration) -> String {
    let mut s = TcpStream::connect(h.addr()).expect("connect");
    s.set_read_timeout(Some(wait)).expect("timeout");
    s.write_all(bytes).expect("write");
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    String::from_utf8_lossy(&out).into_owned()
}

// ---- JSON-RPC ----------------------------------------------------------------------------

#[test]
fn the_seed_request_is_answered_in_the_seed_shape() {
    let h = start(|_| {});
    let sid = login(&h);
    let id = ok(
        &h,
        &sid,
        "clients.add",
        json!({"name": "Customer A", "credit": 100}),
    )["return"]["id"]
        .as_i64()
        .expect("id");
    // The vendor's example, byte for byte in shape: no "jsonrpc" member, id 1.
    let text = format!(
        r#"{{ "method": "clients.editForm", "params": {{ "id_clients": {id}, "SID": "{sid}" }}, "id": 1 }}"#
    );
    let r = post(&h.url("/jsonrpc/"), "application/json", &text);
    assert_eq!(r.status, 200);
    let v = r.json();
    let top: Vec<&str> = v
        .as_object()
        .expect("object")
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(top, ["jsonrpc", "id", "result"]);
    assert_eq!(v["jsonrpc"], "2.0");
    assert_eq!(v["id"], 1);
    let result = &v["result"];
    let mut keys: Vec<&str> = result
        .as_object()
        .expect("result object")
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort_unstable();
    assert_eq!(keys, ["code", "errors", "messages", "return", "session_id"]);
    assert_eq!(result["code"], true);
    assert_eq!(result["session_id"], sid.as_str());
    assert_eq!(result["messages"], json!([]));
    assert_eq!(result["errors"], json!([]));
    let client = &result["return"]["client"];
    assert_eq!(client["id"], id);
    assert_eq!(client["name"], "Customer A");
    assert_eq!(client["status"], "active");
    // Without a trailing slash too, and with the vendor's PHP content type.
    let r = post(&h.url("/jsonrpc"), "text/xml", &text);
    assert_eq!(r.json()["result"]["return"]["client"]["id"], id);
}

#[test]
fn a_batch_mixing_good_and_bad_calls_answers_each() {
    let h = start(|_| {});
    let sid = login(&h);
    let before = client_count(&h);
    let batch = json!([
        {"jsonrpc": "2.0", "id": 1, "method": "clients.add", "params": {"SID": sid, "name": "Batch A"}},
        {"jsonrpc": "2.0", "id": 2, "method": "clients.nope", "params": {"SID": sid}},
        {"jsonrpc": "2.0", "method": "clients.add", "params": {"SID": sid, "name": "Notified"}},
        {"jsonrpc": "2.0", "id": 3, "method": "clients.add", "params": {"SID": sid}},
        {"jsonrpc": "2.0", "id": 4, "method": "clients.list", "params": [1, 2]},
        42,
        {"jsonrpc": "2.0", "id": 5, "method": "clients.list", "params": {"SID": "1-wrongwrongwrongwrongwrongwr"}},
    ]);
    let replies = rpc(&h, &batch);
    let replies = replies.as_array().expect("batch reply");
    // Six replies: the notification gets none.
    assert_eq!(replies.len(), 6, "{replies:?}");
    let by_id = |id: i64| {
        replies
            .iter()
            .find(|r| r["id"] == id)
            .unwrap_or_else(|| panic!("no reply {id}"))
    };
    assert_eq!(by_id(1)["result"]["code"], true);
    assert_eq!(by_id(2)["error"]["code"], -32601);
    assert_eq!(by_id(3)["result"]["code"], false);
    assert_eq!(
        by_id(3)["result"]["errors"][0]["code"],
        "validation.required"
    );
    assert_eq!(by_id(3)["result"]["errors"][0]["field"], "name");
    assert_eq!(by_id(4)["error"]["code"], -32602);
    assert_eq!(
        by_id(5)["result"]["errors"][0]["code"],
        "auth.session_invalid"
    );
    let invalid: Vec<&Value> = replies.iter().filter(|r| r["id"].is_null()).collect();
    assert_eq!(invalid.len(), 1);
    assert_eq!(invalid[0]["error"]["code"], -32600);
    // The good call and the notification both ran; the refused ones changed nothing.
    assert_eq!(client_count(&h), before + 2);

    // A batch of notifications only: nothing to say, 204.
    let only = json!([{"jsonrpc": "2.0", "method": "clients.add", "params": {"SID": sid, "name": "Quiet"}}]);
    let r = post(&h.url("/jsonrpc/"), "application/json", &only.to_string());
    assert_eq!(r.status, 204);
    assert_eq!(r.body, "");
    assert_eq!(client_count(&h), before + 3);
}

#[test]
fn malformed_and_oversized_bodies_are_refused_without_harm() {
    let h = start(|c| c.body_bytes_max = 64 * 1024);
    let sid = login(&h);
    let before = client_count(&h);
    let url = h.url("/jsonrpc/");

    let r = post(&url, "application/json", "{\"method\": \"clients.add\", ");
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["error"]["code"], -32700);
    let r = read(
        agent()
            .post(&url)
            .header("Content-Type", "application/json")
            .send(&b"{\"method\": \"\xff\xfe\"}"[..]),
    );
    assert_eq!(r.json()["error"]["code"], -32700);
    let r = post(&url, "application/json", "[]");
    assert_eq!(r.json()["error"]["code"], -32600);
    let r = post(&url, "application/json", "");
    assert_eq!(r.json()["error"]["code"], -32700);

    // Too large, declared up front: refused before the body is read.
    let big = format!(
        r#"{{"jsonrpc":"2.0","id":1,"method":"clients.add","params":{{"SID":"{sid}","name":"Big","notes":"{}"}}}}"#,
        "x".repeat(70 * 1024)
    );
    let r = post(&url, "application/json", &big);
    assert_eq!(r.status, 413);
    assert_eq!(r.json()["error"]["code"], -32600);
    // Too large and chunked (no Content-Length): refused while it arrives.
    let chunked = format!(
        "POST /jsonrpc/ HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n{:x}\r\n{big}\r\n0\r\n\r\n",
        big.len()
    );
    let answer = raw(&h, chunked.as_bytes(), Duration::from_secs(5));
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    // Oversized on the other routes too.
    let r = post(&h.url("/rest/Session/login"), "application/json", &big);
    assert_eq!(r.status, 413);
    assert_eq!(r.json()["faultcode"], "Client.Request.malformed");
    let r = post(
        &h.url("/admin/xdrs/download"),
        "application/x-www-form-urlencoded",
        &big,
    );
    // A file refusal like any other: 200 with X-VCS-Status (api.malformed_request).
    assert_eq!(r.status, 200);
    assert_eq!(r.header("x-vcs-status"), Some("1001"));

    // A request head beyond the header bound.
    let huge_header = format!(
        "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Filler: {}\r\nConnection: close\r\n\r\n",
        "y".repeat(64 * 1024)
    );
    let answer = raw(&h, huge_header.as_bytes(), Duration::from_secs(5));
    assert!(answer.starts_with("HTTP/1.1 431"), "{answer:.200}");
    // Garbage instead of HTTP.
    let answer = raw(
        &h,
        b"\x16\x03\x01 not http at all\r\n\r\n",
        Duration::from_secs(5),
    );
    assert!(
        answer.is_empty() || answer.starts_with("HTTP/1.1 400"),
        "{answer}"
    );

    // Nothing changed, and the server still answers.
    assert_eq!(client_count(&h), before);
    ok(&h, &sid, "clients.add", json!({"name": "After"}));
    assert_eq!(client_count(&h), before + 1);
    assert_eq!(get(&h.url("/healthz")).status, 200);
}

#[test]
fn routes_refuse_wrong_methods_and_unknown_paths() {
    let h = start(|_| {});
    let r = get(&h.url("/jsonrpc/"));
    assert_eq!(r.status, 405);
    assert_eq!(r.header("allow"), Some("POST"));
    let r = get(&h.url("/rest/Session/login"));
    assert_eq!(r.status, 405);
    let r = read(agent().put(&h.url("/admin/xdrs/download")).send(""));
    assert_eq!(r.status, 405);
    assert_eq!(r.header("allow"), Some("GET, POST"));
    let r = post(&h.url("/healthz"), "text/plain", "");
    assert_eq!(r.status, 405);
    let r = post(&h.url("/.well-known/jwks.json"), "text/plain", "");
    assert_eq!(r.status, 405);
    assert_eq!(r.header("allow"), Some("GET, HEAD"));
    for path in [
        "/",
        "/nothing",
        "/admin/xdrs",
        "/admin/xdrs/download/extra",
        "/admin/../etc/passwd",
        "/rest/Session",
        "/.well-known/other.json",
    ] {
        let r = get(&h.url(path));
        assert_eq!(r.status, 404, "{path}");
        assert_eq!(r.json()["error"], "not_found", "{path}");
    }
}

// ---- /admin/ files ---------------------------------------------------------------------

/// A rated client with an account, and `calls` settled calls through JSON-RPC.
fn calls(h: &Harness, sid: &str, calls: usize) {
    let table = ok(
        h,
        sid,
        "rateTables.add",
        json!({"name": "Retail", "rounding": "half_up"}),
    )["return"]["id"]
        .clone();
    ok(
        h,
        sid,
        "rates.add",
        json!({"id_rate_tables": table, "code": "44", "code_name": "UK", "rate": 1,
               "min_volume": 1, "interval": 1, "effective_from": "2020-01-01"}),
    );
    let client = ok(
        h,
        sid,
        "clients.add",
        json!({"name": "Caller", "orig_rate_table": table}),
    )["return"]["id"]
        .clone();
    ok(
        h,
        sid,
        "accounts.add",
        json!({"id_clients": client, "name": "ani", "auth_type": "ani", "ident": "100"}),
    );
    ok(
        h,
        sid,
        "transactions.add",
        json!({"id_clients": client, "type": "payment", "amount": "100000"}),
    );
    for k in 0..calls {
        let a = ok(
            h,
            sid,
            "core.authorize",
            json!({"account": "100", "destination": "4420"}),
        );
        ok(
            h,
            sid,
            "core.settle",
            json!({"reservation": a["return"]["reservation"], "call_id": format!("call-{k}"), "duration": 30}),
        );
    }
}

#[test]
fn file_downloads_stream_with_their_name_and_type() {
    // A tiny in-memory spool and small chunks, so the file goes through a temporary file
    // and many body chunks.
    let h = start(|c| {
        c.file_spool_memory_bytes_max = 512;
        c.file_chunk_bytes = 100;
    });
    let sid = login(&h);
    calls(&h, &sid, 12);

    // The vendor client's way: POST form fields auth[login], auth[password] and __api=1.
    let body = form(&[
        ("auth[login]", ADMIN),
        ("auth[password]", PASSWORD),
        ("__api", "1"),
    ]);
    let r = post(
        &h.url("/admin/xdrs/download"),
        "application/x-www-form-urlencoded",
        &body,
    );
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.header("content-type"), Some("text/csv"));
    let disposition = r.header("content-disposition").expect("disposition");
    assert!(
        disposition.starts_with("attachment; filename=\"xdrs-") && disposition.ends_with(".csv\""),
        "{disposition}"
    );
    assert!(r.header("x-vcs-status").is_none());
    assert_eq!(
        r.header("content-length"),
        Some(r.body.len().to_string().as_str())
    );
    let lines: Vec<&str> = r.body.lines().collect();
    assert!(lines[0].starts_with("id,call_id,"), "{}", lines[0]);
    assert_eq!(lines.len(), 13);
    assert!(r.body.len() > 512, "the file must have spilled to disk");
    for k in 0..12 {
        assert!(r.body.contains(&format!(",call-{k},")), "call-{k}");
    }
    let whole = r.body;

    // GET with the SID in the query string; the same file.
    let r = get(&h.url(&format!("/admin/xdrs/download?SID={sid}&__api=1")));
    assert_eq!(r.status, 200);
    assert_eq!(r.body, whole);
    // Filters travel as fields like any other argument.
    let r = get(&h.url(&format!("/admin/xdrs/download?SID={sid}&call_id=call-3")));
    assert_eq!(r.body.lines().count(), 2, "{}", r.body);
    // An access token in Authorization works too.
    let login = post(
        &h.url("/rest/Session/login"),
        "application/json",
        &json!({"params": {"login": ADMIN, "password": PASSWORD}}).to_string(),
    )
    .json();
    let token = login["access_token"].as_str().expect("token");
    let r = read(
        agent()
            .get(&h.url("/admin/xdrs/download"))
            .header("Authorization", &format!("Bearer {token}"))
            .call(),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body, whole);
    // JSON bodies are accepted as well.
    let r = post(
        &h.url("/admin/xdrs/download"),
        "application/json",
        &json!({"SID": sid, "__api": 1}).to_string(),
    );
    assert_eq!(r.body, whole);
}

#[test]
fn invoice_pdfs_download_from_admin_and_pdftotext_reads_them() {
    let h = start(|_| {});
    let sid = login(&h);
    calls(&h, &sid, 0);
    ok(
        &h,
        &sid,
        "companies.edit",
        json!({"id": 1, "name": "Gateway Billing AG", "address": "Bahnhofstrasse 1\nZug"}),
    );
    // A January call imported afterwards (the server's clock is the real one).
    ok(
        &h,
        &sid,
        "xdrs.import",
        json!({"format": "tollgate", "csv": "call_id,account,destination,connect_time,duration\njan-1,100,4420,2026-01-15 11:00:00,90\n"}),
    );
    let client =
        ok(&h, &sid, "clients.list", json!({"name": "Caller"}))["return"]["rows"][0]["id"].clone();
    let inv = ok(
        &h,
        &sid,
        "invoices.add",
        json!({"id_clients": client, "dt_from": "2026-01-01", "dt_till": "2026-02-01"}),
    )["return"]
        .clone();
    let number = inv["number"].as_str().expect("number").to_string();
    // `format` left out: the PDF, streamed as a file (not base64, not JSON).
    let mut r = agent()
        .get(&h.url(&format!(
            "/admin/invoices/download?SID={sid}&id_invoices={}",
            inv["id"]
        )))
        .call()
        .expect("HTTP exchange");
    assert_eq!(r.status().as_u16(), 200);
    let header = |name: &str| {
        r.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    assert_eq!(header("content-type").as_deref(), Some("application/pdf"));
    assert_eq!(
        header("content-disposition"),
        Some(format!("attachment; filename=\"{number}.pdf\""))
    );
    assert!(header("x-vcs-status").is_none());
    let pdf = r.body_mut().read_to_vec().expect("body");
    assert!(pdf.starts_with(b"%PDF-"));
    let path = h.dir.path().join("invoice.pdf");
    std::fs::write(&path, &pdf).expect("write");
    let out = std::process::Command::new("pdftotext")
        .arg("-layout")
        .arg(&path)
        .arg("-")
        .output()
        .expect("pdftotext (poppler-utils; scripts/setup.sh installs it)");
    let text = String::from_utf8(out.stdout).expect("utf-8");
    // 90 s of UK at 1/min, per second: 1.50.
    for want in [
        &number,
        "Gateway Billing AG",
        "Bahnhofstrasse 1",
        "Caller",
        "UK",
    ] {
        assert!(text.contains(want), "{want:?} is not in:\n{text}");
    }
    let total = text
        .lines()
        .find(|l| l.trim_start().starts_with("Total"))
        .unwrap_or_else(|| panic!("no total in:\n{text}"));
    assert!(total.trim_end().ends_with("1.50"), "{total:?}");
    // The CSV on request.
    let r = get(&h.url(&format!(
        "/admin/invoices/download?SID={sid}&id_invoices={}&format=csv",
        inv["id"]
    )));
    assert_eq!(r.header("content-type"), Some("text/csv"));
    assert!(
        r.body.ends_with(&format!("{number},total,,,,,1.50\n")),
        "{}",
        r.body
    );
}

#[test]
fn the_summary_report_downloads_as_csv_from_admin() {
    let h = start(|_| {});
    let sid = login(&h);
    calls(&h, &sid, 0);
    ok(
        &h,
        &sid,
        "xdrs.import",
        json!({"format": "tollgate", "csv": "call_id,account,destination,connect_time,duration\nj1,100,4420,2026-01-15 11:00:00,90\nj2,100,4421,2026-01-16 11:00:00,30\n"}),
    );
    let r = get(&h.url(&format!(
        "/admin/reports/summary?SID={sid}&dt_from=2026-01-01&dt_till=2026-02-01&group_by[]=day"
    )));
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.header("content-type"), Some("text/csv"));
    let lines: Vec<&str> = r.body.lines().collect();
    assert!(
        lines[0].starts_with("day,id_currencies,currency,calls,"),
        "{}",
        r.body
    );
    assert!(
        lines[1].starts_with("2026-01-15,1,USD,1,1,90,90,"),
        "{}",
        r.body
    );
    assert!(
        lines[2].starts_with("2026-01-16,1,USD,1,1,30,30,"),
        "{}",
        r.body
    );
    // 90 s + 30 s at 1/min.
    assert_eq!(
        lines[3],
        "total,1,USD,2,2,120,120,2.0000,2.0000,1.000000,100.00,60.00"
    );
    // The JSON method of the same name answers on the JSON entry point.
    let j = ok(
        &h,
        &sid,
        "reports.summary",
        json!({"dt_from": "2026-01-01", "dt_till": "2026-02-01"}),
    );
    assert_eq!(j["return"]["totals"][0]["calls"], json!(2));
}

#[test]
fn file_refusals_carry_x_vcs_status() {
    let h = start(|_| {});
    let sid = login(&h);
    // Every refusal is HTTP 200: the vendor's client reads X-VCS-Status only on a 200.
    let check = |r: Resp, status: u16, code: &str, number: &str| {
        assert_eq!(r.status, status, "{}", r.body);
        assert_eq!(r.header("x-vcs-status"), Some(number), "{}", r.body);
        assert_eq!(r.header("x-vcs-error"), Some(code));
        assert!(r.header("content-disposition").is_none());
        // Not the file's type: a browser shows the reason instead of saving an export.
        assert_eq!(r.header("content-type"), Some("application/json"));
        let env = r.json();
        assert_eq!(env["code"], false);
        assert_eq!(env["errors"][0]["code"], code);
    };
    let url = h.url("/admin/xdrs/download");
    let bad = form(&[
        ("auth[login]", ADMIN),
        ("auth[password]", "wrong-password"),
        ("__api", "1"),
    ]);
    check(
        post(&url, "application/x-www-form-urlencoded", &bad),
        200,
        "auth.failed",
        "2001",
    );
    check(get(&url), 200, "auth.required", "2000");
    check(
        get(&h.url("/admin/xdrs/download?SID=1-abcdefghijklmnopqrstuvwxyz")),
        200,
        "auth.session_invalid",
        "2002",
    );
    check(
        get(&h.url(&format!("/admin/nothing/download?SID={sid}"))),
        200,
        "api.unknown_method",
        "1000",
    );
    check(
        get(&h.url(&format!("/admin/clients/list?SID={sid}"))),
        200,
        "api.wrong_endpoint",
        "1002",
    );
    check(
        get(&h.url(&format!("/admin/xdrs/download?SID={sid}&bogus=1"))),
        200,
        "validation.unknown_argument",
        "1102",
    );
    check(
        post(&url, "multipart/form-data", "no boundary"),
        200,
        "api.malformed_request",
        "1001",
    );
    check(
        read(
            agent()
                .get(&url)
                .header("Authorization", "Bearer not.a.token")
                .call(),
        ),
        200,
        "auth.token_invalid",
        "2005",
    );
}

// ---- /rest/ ------------------------------------------------------------------------------

fn rest_login(h: &Harness) -> Resp {
    let r = post(
        &h.url("/rest/Session/login"),
        "application/json",
        &json!({"params": {"login": ADMIN, "password": PASSWORD}}).to_string(),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    r
}

fn set_cookies(r: &Resp) -> Vec<String> {
    r.headers
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .map(str::to_string)
        .collect()
}

#[test]
fn rest_login_sets_cookies_and_every_body_kind_works() {
    let h = start(|_| {});
    let sid = login(&h);
    let client = ok(&h, &sid, "clients.add", json!({"name": "Rest Co"}))["return"]["id"]
        .as_i64()
        .expect("id");
    let account = ok(
        &h,
        &sid,
        "accounts.add",
        json!({"id_clients": client, "name": "acc", "auth_type": "ani", "ident": "555"}),
    )["return"]["id"]
        .as_i64()
        .expect("id");

    let r = rest_login(&h);
    let v = r.json();
    let token = v["access_token"].as_str().expect("token").to_string();
    let session = v["session_id"].as_str().expect("session").to_string();
    let cookies = set_cookies(&r);
    assert_eq!(cookies.len(), 2, "{cookies:?}");
    let access_cookie = cookies
        .iter()
        .find(|c| c.starts_with("access_token="))
        .expect("access cookie");
    assert!(access_cookie.starts_with(&format!("access_token={token};")));
    for c in &cookies {
        assert!(
            c.contains("HttpOnly") && c.contains("SameSite=Strict") && c.contains("Path=/rest/")
        );
        assert!(
            !c.contains("Secure"),
            "plain HTTP cannot set Secure cookies"
        );
    }
    assert!(cookies
        .iter()
        .any(|c| c.starts_with(&format!("session_id={session};"))));

    let info = |r: Resp| {
        assert_eq!(r.status, 200, "{}", r.body);
        let v = r.json();
        assert_eq!(v["account_info"]["i_account"], account, "{v}");
        assert_eq!(v["account_info"]["i_customer"], client, "{v}");
    };
    let params = json!({"i_account": account}).to_string();
    // JSON with Authorization: Bearer.
    info(read(
        agent()
            .post(&h.url("/rest/Account/get_account_info"))
            .header("Content-Type", "application/json")
            .header("Authorization", &format!("Bearer {token}"))
            .send(&format!(r#"{{"params": {params}}}"#)),
    ));
    // The cookie alone, as a browser would send it back.
    info(read(
        agent()
            .post(&h.url("/rest/Account/get_account_info"))
            .header("Content-Type", "application/json")
            .header("Cookie", &format!("access_token={token}"))
            .send(&format!(r#"{{"params": {params}}}"#)),
    ));
    // Form-encoded: auth_info and params as JSON text.
    let auth_info = json!({"session_id": session}).to_string();
    info(post(
        &h.url("/rest/Account/get_account_info"),
        "application/x-www-form-urlencoded",
        &form(&[("auth_info", &auth_info), ("params", &params)]),
    ));
    // Form-encoded with PHP-style nested fields.
    info(post(
        &h.url("/rest/Account/get_account_info"),
        "application/x-www-form-urlencoded",
        &form(&[
            ("auth_info[login]", ADMIN),
            ("auth_info[password]", PASSWORD),
            ("params[i_account]", &account.to_string()),
        ]),
    ));
    // Multipart.
    let multipart = format!(
        "--XyZ\r\nContent-Disposition: form-data; name=\"auth_info\"\r\n\r\n{auth_info}\r\n--XyZ\r\nContent-Disposition: form-data; name=\"params\"\r\nContent-Type: application/json\r\n\r\n{params}\r\n--XyZ--\r\n"
    );
    info(post(
        &h.url("/rest/Account/get_account_info"),
        "multipart/form-data; boundary=XyZ",
        &multipart,
    ));

    // Logout clears both cookies; the token is then refused, cookie or header.
    let r = read(
        agent()
            .post(&h.url("/rest/Session/logout"))
            .header("Content-Type", "application/json")
            .header("Authorization", &format!("Bearer {token}"))
            .send("{}"),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let cleared = set_cookies(&r);
    assert_eq!(cleared.len(), 2);
    assert!(cleared.iter().all(|c| c.contains("Max-Age=0")));
    let r = read(
        agent()
            .post(&h.url("/rest/Account/get_account_info"))
            .header("Content-Type", "application/json")
            .header("Cookie", &format!("access_token={token}"))
            .send(&format!(r#"{{"params": {params}}}"#)),
    );
    assert_eq!(r.status, 500);
    assert_eq!(
        r.json()["faultcode"],
        "Client.Session.check_auth.failed_to_process_access_token"
    );
}

#[test]
fn rest_refusals_are_faults() {
    let h = start(|_| {});
    let fault = |r: Resp, status: u16, code: &str| {
        assert_eq!(r.status, status, "{}", r.body);
        assert_eq!(r.json()["faultcode"], code, "{}", r.body);
        assert!(set_cookies(&r).is_empty());
    };
    fault(
        post(
            &h.url("/rest/Session/login"),
            "application/json",
            &json!({"params": {"login": ADMIN, "password": "wrong-password"}}).to_string(),
        ),
        500,
        "Server.Session.auth_failed",
    );
    fault(
        post(
            &h.url("/rest/Session/login"),
            "application/json",
            "{not json",
        ),
        500,
        "Client.Request.malformed",
    );
    fault(
        post(
            &h.url("/rest/Session/login"),
            "application/x-www-form-urlencoded",
            "params=%7Bnot%20json",
        ),
        500,
        "Client.Request.malformed",
    );
    fault(
        post(
            &h.url("/rest/Account/get_account_info"),
            "application/json",
            "{}",
        ),
        500,
        "Client.check_auth.envelope_missed",
    );
    fault(
        post(
            &h.url("/rest/Account/no_such_method"),
            "application/json",
            "{}",
        ),
        500,
        "Client.Request.unknown_method",
    );
    fault(
        read(
            agent()
                .post(&h.url("/rest/Account/get_account_info"))
                .header("Content-Type", "application/json")
                .header("Authorization", "Bearer eyJhbGciOiJub25lIn0.e30.")
                .send("{}"),
        ),
        500,
        "Client.Session.check_auth.failed_to_process_access_token",
    );
}

// ---- jwks, healthz -------------------------------------------------------------------------

#[test]
fn jwks_verifies_the_tokens_the_server_issues() {
    let h = start(|_| {});
    let r = get(&h.url("/.well-known/jwks.json"));
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), Some("application/json"));
    let jwks = r.json();
    assert_eq!(jwks, h.engine.token_jwks());
    let jwk: jsonwebtoken::jwk::Jwk = serde_json::from_value(jwks["keys"][0].clone()).expect("jwk");
    let key = jsonwebtoken::DecodingKey::from_jwk(&jwk).expect("key");
    let token = rest_login(&h).json()["access_token"]
        .as_str()
        .expect("token")
        .to_string();
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::RS256);
    validation.set_audience(&["portabilling-api"]);
    let claims = jsonwebtoken::decode::<Value>(&token, &key, &validation)
        .expect("token verifies with the published key")
        .claims;
    assert_eq!(claims["login"], ADMIN);
}

/// JSON-RPC with the local operator's secret header.
fn local_rpc(h: &Harness, secret: &str, req: &Value) -> Resp {
    read(
        agent()
            .post(h.url("/jsonrpc/"))
            .header("Content-Type", "application/json")
            .header(tollgate_server::LOCAL_SECRET_HEADER, secret)
            .send(req.to_string().as_str()),
    )
}

#[test]
fn the_local_secret_runs_calls_as_the_operator_and_a_wrong_one_is_auth_failed() {
    let secret = "a".repeat(64);
    let h = start(|c| c.local_secret = Some(Arc::from(secret.as_str())));
    let add =
        json!({"jsonrpc": "2.0", "id": 1, "method": "clients.add", "params": {"name": "Local"}});
    let r = local_rpc(&h, &secret, &add);
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["result"]["code"], true, "{}", r.body);
    assert_eq!(client_count(&h), 1);
    // Without the header the same request needs credentials.
    let plain = rpc(&h, &add);
    assert_eq!(
        plain["result"]["errors"][0]["code"], "auth.required",
        "{plain}"
    );
    // A secret that differs (in its last byte, or in length) is refused and runs nothing.
    for wrong in [
        format!("{}b", "a".repeat(63)),
        "a".repeat(63),
        String::new(),
    ] {
        let r = local_rpc(&h, &wrong, &add);
        assert_eq!(r.status, 401, "{}", r.body);
        assert_eq!(
            r.json()["error"]["data"]["code"],
            "auth.failed",
            "{}",
            r.body
        );
    }
    assert_eq!(client_count(&h), 1);
    assert!(!h.logs().join("\n").contains(&secret));
    // A server without a secret refuses the header whatever it holds.
    let other = start(|_| {});
    let r = local_rpc(&other, &secret, &add);
    assert_eq!(r.status, 401, "{}", r.body);
    assert_eq!(client_count(&other), 0);
}

#[test]
fn healthz_answers_while_serving() {
    let h = start(|_| {});
    let r = get(&h.url("/healthz"));
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["status"], "ok");
    let r = read(agent().head(&h.url("/healthz")).call());
    assert_eq!(r.status, 200);
}

// ---- TLS ---------------------------------------------------------------------------------

fn tls_agent(cert_der: &[u8]) -> ureq::Agent {
    use ureq::tls::{Certificate, RootCerts, TlsConfig};
    let tls = TlsConfig::builder()
        .root_certs(RootCerts::Specific(Arc::new(vec![Certificate::from_der(
            cert_der,
        )
        .to_owned()])))
        .unversioned_rustls_crypto_provider(Arc::new(rustls::crypto::aws_lc_rs::default_provider()))
        .build();
    ureq::Agent::config_builder()
        .tls_config(tls)
        .http_status_as_error(false)
        .build()
        .into()
}

#[test]
fn tls_with_a_self_signed_certificate() {
    let rcgen::CertifiedKey { cert, signing_key } =
        rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).expect("cert");
    let dir = tempfile::tempdir().expect("dir");
    let cert_path = dir.path().join("cert.pem");
    let key_path = dir.path().join("key.pem");
    std::fs::write(&cert_path, cert.pem()).expect("write cert");
    std::fs::write(&key_path, signing_key.serialize_pem()).expect("write key");
    let tls = tollgate_server::tls_from_pem_files(&cert_path, &key_path).expect("tls config");
    let h = start(|c| c.tls = Some(tls));
    assert!(h.base.starts_with("https://localhost:"));
    let trusting = tls_agent(cert.der());

    let r = read(trusting.get(&h.url("/healthz")).call());
    assert_eq!(r.status, 200);
    let r = read(
        trusting
            .post(&h.url("/jsonrpc/"))
            .header("Content-Type", "application/json")
            .send(
                &json!({"jsonrpc": "2.0", "id": 7, "method": "auth.login",
                        "params": {"auth": {"login": ADMIN, "password": PASSWORD}}})
                .to_string(),
            ),
    );
    assert_eq!(r.json()["result"]["code"], true);
    // Cookies over TLS are Secure.
    let r = read(
        trusting
            .post(&h.url("/rest/Session/login"))
            .header("Content-Type", "application/json")
            .send(&json!({"params": {"login": ADMIN, "password": PASSWORD}}).to_string()),
    );
    assert!(set_cookies(&r).iter().all(|c| c.contains("; Secure")));

    // A client that does not trust the certificate gets no answer.
    let other = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).expect("cert");
    assert!(tls_agent(other.cert.der())
        .get(&h.url("/healthz"))
        .call()
        .is_err());
    // Plain HTTP on the TLS port is not served, and the server goes on.
    let answer = raw(
        &h,
        b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        Duration::from_secs(5),
    );
    assert!(!answer.contains("\"ok\""), "{answer}");
    assert_eq!(read(trusting.get(&h.url("/healthz")).call()).status, 200);
    assert!(h
        .logs()
        .iter()
        .any(|l| l.contains("\"event\":\"tls\"") && l.contains("handshake failed")));
}

#[test]
fn tls_files_that_do_not_fit_are_clear_errors() {
    let dir = tempfile::tempdir().expect("dir");
    let a = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).expect("cert");
    let b = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).expect("cert");
    let cert = dir.path().join("a.pem");
    let key = dir.path().join("b.key");
    std::fs::write(&cert, a.cert.pem()).expect("write");
    std::fs::write(&key, b.signing_key.serialize_pem()).expect("write");
    let e = tollgate_server::tls_from_pem_files(&cert, &key).expect_err("mismatch");
    assert!(e.contains("do not fit"), "{e}");
    let e = tollgate_server::tls_from_pem_files(&dir.path().join("missing.pem"), &key)
        .expect_err("missing");
    assert!(e.contains("missing.pem"), "{e}");
    std::fs::write(&cert, "not a certificate").expect("write");
    let e = tollgate_server::tls_from_pem_files(&cert, &key).expect_err("empty");
    assert!(e.contains("no certificate"), "{e}");
}

// ---- limits and shutdown ---------------------------------------------------------------

#[test]
fn connections_beyond_the_bound_wait_and_idle_ones_are_closed() {
    let h = start(|c| {
        c.connections_max = 1;
        c.header_read_ms_max = 400;
    });
    // One idle connection takes the only slot.
    let mut idle = TcpStream::connect(h.addr()).expect("connect");
    idle.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    std::thread::sleep(Duration::from_millis(50));
    let started = Instant::now();
    let r = get(&h.url("/healthz"));
    assert_eq!(r.status, 200);
    // It was served only once the idle connection was dropped for sending no request.
    assert!(
        started.elapsed() >= Duration::from_millis(250),
        "{:?}",
        started.elapsed()
    );
    let mut buf = [0u8; 64];
    let n = idle.read(&mut buf).unwrap_or(0);
    let answer = String::from_utf8_lossy(&buf[..n]);
    assert!(n == 0 || answer.starts_with("HTTP/1.1 408"), "{answer}");
}

#[test]
fn a_body_that_never_arrives_times_out() {
    let h = start(|c| c.request_ms_max = 300);
    let started = Instant::now();
    let answer = raw(
        &h,
        b"POST /jsonrpc/ HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{\"jsonrpc\"",
        Duration::from_secs(5),
    );
    assert!(answer.starts_with("HTTP/1.1 503"), "{answer}");
    assert!(answer.contains("\"timeout\""), "{answer}");
    assert!(started.elapsed() < Duration::from_secs(4));
    assert_eq!(get(&h.url("/healthz")).status, 200);
}

#[test]
fn stopping_lets_the_request_in_flight_finish_then_closes_the_engine() {
    let mut h = start(|_| {});
    let sid = login(&h);
    let path = h.dir.path().join("billing.db");
    let body = json!({"jsonrpc": "2.0", "id": 9, "method": "clients.add",
                      "params": {"SID": sid, "name": "In flight"}})
    .to_string();
    let (first, rest) = body.split_at(body.len() / 2);
    // Half a request is on the wire when the stop begins.
    let mut s = TcpStream::connect(h.addr()).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    write!(
        s,
        "POST /jsonrpc/ HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{first}",
        body.len()
    )
    .expect("write");
    std::thread::sleep(Duration::from_millis(100));
    let server = h.server.take().expect("server");
    let addr = server.local_addr();
    let stopper = std::thread::spawn(move || server.stop());
    let waited = Instant::now();
    while !h
        .logs()
        .iter()
        .any(|l| l.contains("\"event\":\"shutdown\""))
    {
        assert!(waited.elapsed() < Duration::from_secs(20), "no shutdown");
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(100));
    assert!(!stopper.is_finished(), "stop must wait for the request");
    // No new connections are taken now.
    assert!(TcpStream::connect(addr)
        .and_then(|mut c| {
            c.set_read_timeout(Some(Duration::from_secs(2)))?;
            c.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")?;
            let mut out = Vec::new();
            c.read_to_end(&mut out)?;
            Ok(out)
        })
        .map_or(true, |out| out.is_empty()));
    s.write_all(rest.as_bytes()).expect("write rest");
    let mut answer = String::new();
    s.read_to_string(&mut answer).expect("read");
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(answer.contains("\"code\":true"), "{answer}");
    stopper.join().expect("stopped");
    // The test still holds the engine, so the server did not close it; once dropped here,
    // the file opens again (one process owns a database at a time).
    let logs = h.logs();
    assert!(logs.iter().any(|l| l.contains("\"event\":\"shutdown\"")));
    assert!(logs.iter().any(|l| l.contains("still shared")));
    drop(h.engine);
    let e = Engine::open(path.to_str().expect("utf-8")).expect("reopen");
    let r = e.call_as_system("clients.list", json!({"name": "In flight"}));
    assert_eq!(r.ret["total"], 1, "{:?}", r.ret);
}

#[test]
fn request_logs_are_structured_and_carry_no_secrets() {
    let h = start(|_| {});
    let sid = login(&h);
    let r = rest_login(&h);
    let token = r.json()["access_token"]
        .as_str()
        .expect("token")
        .to_string();
    let refresh = r.json()["refresh_token"]
        .as_str()
        .expect("refresh")
        .to_string();
    ok(&h, &sid, "clients.list", json!({}));
    get(&h.url(&format!(
        "/admin/xdrs/download?{}",
        form(&[("auth[login]", ADMIN), ("auth[password]", PASSWORD)])
    )));
    get(&h.url(&format!("/admin/xdrs/download?SID={sid}")));
    read(
        agent()
            .post(&h.url(&format!("/rest/Account/get_account_info/{sid}/{token}")))
            .header("Authorization", &format!("Bearer {token}"))
            .send("{}"),
    );
    get(&h.url(&format!("/{sid}")));
    let logs = h.logs();
    let requests: Vec<Value> = logs
        .iter()
        .map(|l| serde_json::from_str::<Value>(l).expect("JSON line"))
        .filter(|v| v["event"] == "request")
        .collect();
    assert!(requests.len() >= 7, "{logs:?}");
    for v in &requests {
        for key in ["ts", "remote", "method", "path", "status", "duration_ms"] {
            assert!(!v[key].is_null(), "{key} missing in {v}");
        }
    }
    let text = logs.join("\n");
    for secret in [PASSWORD, &sid, &token, &refresh] {
        assert!(!text.contains(secret), "a secret reached the log: {text}");
    }
    assert!(requests
        .iter()
        .any(|v| v["path"] == "/admin/xdrs/download" && v["method"] == "GET"));
    assert!(requests
        .iter()
        .any(|v| v["path"] == "/rest/Account/get_account_info/…"));
}
