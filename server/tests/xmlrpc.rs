//! `/xmlrpc/` over real HTTP on 127.0.0.1: raw requests (ureq) for the bad input, and the
//! real XML-RPC clients of the wild — Python's `xmlrpc.client` and PHP's xmlrpc extension —
//! over plain HTTP and over HTTPS with a self-signed certificate.

use serde_json::{json, Value};
use std::process::Command;
use std::sync::Arc;
use tollgate::Engine;
use tollgate_server::{Log, ServeConfig, Server};

const ADMIN: &str = "admin";
const PASSWORD: &str = "admin-password-1";

struct Harness {
    _server: Server,
    engine: Arc<Engine>,
    base: String,
    dir: tempfile::TempDir,
}

fn start(tls: bool) -> Harness {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("billing.db");
    let engine =
        Arc::new(Engine::create(path.to_str().expect("utf-8"), ADMIN, PASSWORD).expect("create"));
    let mut config = ServeConfig::new("127.0.0.1:0".parse().expect("addr"));
    config.worker_threads = 2;
    config.log = Log::To(Arc::new(|_: &str| {}));
    if tls {
        let rcgen::CertifiedKey { cert, signing_key } =
            rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).expect("cert");
        let cert_path = dir.path().join("cert.pem");
        let key_path = dir.path().join("key.pem");
        std::fs::write(&cert_path, cert.pem()).expect("write cert");
        std::fs::write(&key_path, signing_key.serialize_pem()).expect("write key");
        config.tls = Some(tollgate_server::tls_from_pem_files(&cert_path, &key_path).expect("tls"));
    }
    let scheme = if tls {
        "https://localhost"
    } else {
        "http://127.0.0.1"
    };
    let server = Server::start(engine.clone(), config).expect("start");
    let base = format!("{scheme}:{}", server.local_addr().port());
    Harness {
        _server: server,
        engine,
        base,
        dir,
    }
}

impl Harness {
    fn cert(&self) -> String {
        self.dir.path().join("cert.pem").display().to_string()
    }
}

fn post(h: &Harness, body: &[u8]) -> (u16, String) {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let mut r = agent
        .post(format!("{}/xmlrpc/", h.base))
        .header("Content-Type", "text/xml")
        .send(body)
        .expect("HTTP exchange");
    let status = r.status().as_u16();
    assert_eq!(
        r.headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok()),
        Some("text/xml; charset=utf-8")
    );
    let body = r.body_mut().read_to_string().expect("body");
    (status, body)
}

fn fault_code(body: &str) -> Option<i64> {
    let rest = body.split("<fault>").nth(1)?;
    let rest = rest.split("<name>faultCode</name><value><int>").nth(1)?;
    rest.split('<').next()?.parse().ok()
}

fn client_count(h: &Harness) -> i64 {
    let r = h.engine.call_as_system("clients.list", json!({}));
    assert!(r.code);
    r.ret["total"].as_i64().expect("total")
}

fn sid(h: &Harness) -> String {
    let env = h.engine.call(
        "auth.login",
        json!({"auth": {"login": ADMIN, "password": PASSWORD}}),
    );
    env.session_id.expect("session")
}

fn add_call(sid: &str, extra: &str) -> String {
    format!(
        "<?xml version=\"1.0\"?><methodCall><methodName>clients.add</methodName><params>\
         <param><value><struct><member><name>SID</name><value><string>{sid}</string></value></member>\
         <member><name>name</name><value><string>Raw {extra}</string></value></member>\
         </struct></value></param></params></methodCall>"
    )
}

#[test]
fn a_call_answers_the_envelope_as_a_struct() {
    let h = start(false);
    let sid = sid(&h);
    let (status, body) = post(&h, add_call(&sid, "one").as_bytes());
    assert_eq!(status, 200);
    assert!(
        body.starts_with("<?xml version=\"1.0\" encoding=\"UTF-8\"?>"),
        "{body}"
    );
    assert!(
        body.contains("<member><name>code</name><value><boolean>1</boolean></value></member>"),
        "{body}"
    );
    assert!(
        body.contains(&format!(
            "<member><name>session_id</name><value><string>{sid}</string></value></member>"
        )),
        "{body}"
    );
    assert!(
        body.contains("<name>messages</name><value><array><data></data></array>"),
        "{body}"
    );
    assert!(
        body.contains("<name>return</name><value><struct><member><name>id</name><value><int>"),
        "{body}"
    );
    assert_eq!(client_count(&h), 1);
    // A refused call is a reply with code false, not a fault.
    let (status, body) = post(&h, add_call("1-nope", "two").as_bytes());
    assert_eq!(status, 200);
    assert!(body.contains("<boolean>0</boolean>"), "{body}");
    assert!(
        body.contains("<string>auth.session_invalid</string>"),
        "{body}"
    );
    assert!(
        body.contains("<name>session_id</name><value><nil/></value>"),
        "{body}"
    );
    assert_eq!(fault_code(&body), None);
}

#[test]
fn bad_input_is_a_fault_and_changes_nothing() {
    let h = start(false);
    let sid = sid(&h);
    let good = add_call(&sid, "x");
    let after_decl = good.trim_start_matches("<?xml version=\"1.0\"?>");
    let laughs = format!(
        "<?xml version=\"1.0\"?><!DOCTYPE methodCall [<!ENTITY lol \"lol\">\
         <!ENTITY lol2 \"&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;\">\
         <!ENTITY lol3 \"&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;\">]>{}",
        after_decl.replace("Raw x", "&lol3;")
    );
    let external = format!(
        "<?xml version=\"1.0\"?><!DOCTYPE methodCall [<!ENTITY xxe SYSTEM \"file:///etc/passwd\">]>{}",
        after_decl.replace("Raw x", "&xxe;")
    );
    let undeclared = good.replace("Raw x", "&xxe;");
    let deep = good.replace(
        "<value><string>Raw x</string></value>",
        &format!(
            "{}<value>deep</value>{}",
            "<value><array><data>".repeat(100),
            "</data></array></value>".repeat(100)
        ),
    );
    let two = good.replace(
        "</param></params>",
        "</param><param><value><int>1</int></value></param></params>",
    );
    let none = good
        .split("<params>")
        .next()
        .map(|s| format!("{s}<params></params></methodCall>"))
        .expect("head");
    let not_struct = add_call(&sid, "x")
        .split("<param>")
        .next()
        .map(|s| format!("{s}<param><value><int>1</int></value></param></params></methodCall>"))
        .expect("head");
    let unknown = good.replace("clients.add", "clients.nope");
    // 10 MB announced: answered before the body is read (a client still sending gets the
    // answer and a closed connection), so this one goes over raw TCP.
    {
        use std::io::{Read, Write};
        let addr = h.base.trim_start_matches("http://");
        let mut s = std::net::TcpStream::connect(addr).expect("connect");
        let head = format!(
            "POST /xmlrpc/ HTTP/1.1\r\nHost: x\r\nContent-Type: text/xml\r\nContent-Length: {}\r\n\r\n",
            10 * 1024 * 1024
        );
        s.write_all(head.as_bytes()).expect("head");
        s.write_all(good.as_bytes()).expect("start of body");
        let mut answer = String::new();
        let _ = s.read_to_string(&mut answer);
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
        assert_eq!(fault_code(&answer), Some(-32600), "{answer}");
    }
    let cases: Vec<(&str, Vec<u8>, i64)> = vec![
        ("billion laughs", laughs.into_bytes(), -32700),
        ("external entity", external.into_bytes(), -32700),
        ("undeclared entity", undeclared.into_bytes(), -32700),
        (
            "malformed",
            b"<methodCall><methodName>clients.add".to_vec(),
            -32700,
        ),
        ("not XML-RPC", b"<foo/>".to_vec(), -32600),
        ("deep nesting", deep.into_bytes(), -32600),
        ("two params", two.into_bytes(), -32602),
        ("no params", none.into_bytes(), -32602),
        ("param not a struct", not_struct.into_bytes(), -32602),
        ("unknown method", unknown.into_bytes(), -32601),
        (
            "not UTF-8",
            b"<methodCall>\xff</methodCall>".to_vec(),
            -32701,
        ),
    ];
    for (what, body, code) in cases {
        let (status, answer) = post(&h, &body);
        assert_eq!(status, 200, "{what}: {answer}");
        assert_eq!(fault_code(&answer), Some(code), "{what}: {answer}");
        assert!(!answer.contains("root:"), "{what}: {answer}");
    }
    assert_eq!(client_count(&h), 0, "nothing was added");
}

#[test]
fn multicall_answers_each_call() {
    let h = start(false);
    let sid = sid(&h);
    let body = format!(
        "<?xml version=\"1.0\"?><methodCall><methodName>system.multicall</methodName><params><param><value><array><data>\
         <value><struct><member><name>methodName</name><value>clients.add</value></member>\
         <member><name>params</name><value><array><data><value><struct>\
         <member><name>SID</name><value>{sid}</value></member><member><name>name</name><value>M1</value></member>\
         </struct></value></data></array></value></member></struct></value>\
         <value><struct><member><name>methodName</name><value>no.such</value></member>\
         <member><name>params</name><value><array><data><value><struct></struct></value></data></array></value></member></struct></value>\
         </data></array></value></param></params></methodCall>"
    );
    let (status, answer) = post(&h, body.as_bytes());
    assert_eq!(status, 200);
    assert!(
        answer.contains("<name>faultCode</name><value><int>-32601</int>"),
        "{answer}"
    );
    assert!(answer.contains("<boolean>1</boolean>"), "{answer}");
    assert_eq!(client_count(&h), 1);
}

/// The script an operator would write with Python's standard library only.
const PYTHON: &str = r#"
import json, ssl, sys, urllib.parse, urllib.request, xmlrpc.client
base, password, cafile = sys.argv[1], sys.argv[2], sys.argv[3]
ctx = ssl.create_default_context(cafile=cafile) if base.startswith("https") else None
api = xmlrpc.client.ServerProxy(base + "/xmlrpc/", allow_none=True, context=ctx)
added = api.clients.add({"auth": {"login": "admin", "password": password}, "name": "From xmlrpc.client"})
sid = added["session_id"]
shown = api.clients.editForm({"SID": sid, "id_clients": added["return"]["id"]})
refused = api.clients.editForm({"SID": "1-nope", "id_clients": added["return"]["id"]})
faults = {}
for name, call in [("unknown", lambda: api.no.such({"SID": sid})),
                   ("two", lambda: api.clients.list({"SID": sid}, {})),
                   ("none", lambda: api.clients.list())]:
    try:
        call()
        faults[name] = None
    except xmlrpc.client.Fault as f:
        faults[name] = f.faultCode
m = xmlrpc.client.MultiCall(api)
m.clients.list({"SID": sid})
m.no.such({"SID": sid})
multi = []
for r in m().results:
    multi.append("fault" if isinstance(r, dict) else r[0]["code"])
def admin(path, fields):
    # The vendor's file protocol: a form POST to /admin/<module>/<action>; a refusal is a 200
    # whose X-VCS-Status holds the vendor's error number.
    req = urllib.request.Request(base + path, data=urllib.parse.urlencode(fields).encode())
    with urllib.request.urlopen(req, context=ctx) as r:
        return r.status, r.headers.get("X-VCS-Status"), r.headers.get("Content-Type"), r.read()
status, vcs, ctype, body = admin("/admin/xdrs/download", {"SID": sid})
xdrs = {"status": status, "vcs": vcs, "type": ctype.split(";")[0],
        "first": body.decode().splitlines()[0]}
status, vcs, ctype, body = admin("/admin/xdrs/download", {"SID": "1-abcdefghijklmnopqrstuvwxyz"})
xdrs_refused = {"status": status, "vcs": vcs}
print(json.dumps({"code": added["code"], "same_sid": shown["session_id"] == sid,
    "xdrs": xdrs, "xdrs_refused": xdrs_refused,
    "name": shown["return"]["client"]["name"], "balance": shown["return"]["client"]["balance"],
    "refused": [refused["code"], refused["errors"][0]["code"]], "faults": faults, "multi": multi}))
"#;

fn python(h: &Harness) {
    let out = Command::new("python3")
        .args(["-c", PYTHON, &h.base, PASSWORD, &h.cert()])
        .output()
        .expect("python3 is on the machine");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(v["code"], true, "{v}");
    assert_eq!(v["same_sid"], true, "{v}");
    assert_eq!(v["name"], "From xmlrpc.client");
    assert!(v["balance"].is_string(), "amounts are strings: {v}");
    assert_eq!(v["refused"], json!([false, "auth.session_invalid"]));
    assert_eq!(
        v["faults"],
        json!({"unknown": -32601, "two": -32602, "none": -32602})
    );
    assert_eq!(v["multi"], json!([true, "fault"]));
    // The xDR download with the SID the XML-RPC login gave, and its refusal as the vendor's
    // number (2002 auth.session_invalid) on an HTTP 200.
    assert_eq!(v["xdrs"]["status"], 200, "{v}");
    assert_eq!(v["xdrs"]["vcs"], Value::Null, "{v}");
    assert_eq!(v["xdrs"]["type"], "text/csv", "{v}");
    assert!(
        v["xdrs"]["first"]
            .as_str()
            .is_some_and(|l| l.starts_with("id,call_id,")),
        "{v}"
    );
    assert_eq!(
        v["xdrs_refused"],
        json!({"status": 200, "vcs": "2002"}),
        "{v}"
    );
}

#[test]
fn python_xmlrpc_client_over_http_and_https() {
    python(&start(false));
    python(&start(true));
}

fn php(h: &Harness) -> Value {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/php/vcsapi.php");
    let (host_port, plain) = match h.base.strip_prefix("https://") {
        Some(rest) => (rest, "https"),
        None => (h.base.trim_start_matches("http://"), "http"),
    };
    let (host, port) = host_port.split_once(':').expect("host:port");
    let out = match Command::new("php")
        .args([script, host, port, ADMIN, PASSWORD])
        .arg(h.dir.path())
        .arg(plain)
        .output()
    {
        Ok(out) => out,
        // scripts/setup.sh installs php-cli, php-xmlrpc and php-curl; say so loudly when a
        // machine lacks them rather than pass quietly.
        Err(e) => panic!("php is not installed ({e}): run scripts/setup.sh"),
    };
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stdout)))
}

#[test]
fn the_vendor_php_client_over_http_and_https() {
    for tls in [false, true] {
        let h = start(tls);
        let v = php(&h);
        assert_eq!(v["added"], true, "{v}");
        assert_eq!(v["sid"], true, "{v}");
        assert_eq!(v["name"], "From PHP", "{v}");
        assert_eq!(v["balance_is_string"], true, "{v}");
        assert_eq!(v["fault"], -32601, "{v}");
        assert_eq!(
            v["messages"],
            json!(["ignored: low_balance_threshold (not supported)"]),
            "{v}"
        );
        assert_eq!(v["refused"], false, "{v}");
        assert_eq!(v["file"]["type"], "text/csv", "{v}");
        assert!(
            v["file"]["first"]
                .as_str()
                .is_some_and(|l| l.starts_with("id,call_id,")),
            "{v}"
        );
        // auth.failed's number, as the vendor's client raises it.
        assert_eq!(v["file_refused"], 2001, "{v}");
        assert_eq!(client_count(&h), 2);
    }
}
