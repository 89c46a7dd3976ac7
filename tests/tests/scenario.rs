//! A reseller scenario across the whole stack: an operator builds a tree of companies,
//! clients and accounts through JSON-RPC text only, then reopens the file.

use serde_json::{json, Value};
use tollgate::Engine;

fn rpc(e: &Engine, method: &str, params: Value) -> Value {
    let text = json!({"jsonrpc": "2.0", "method": method, "params": params, "id": 1}).to_string();
    let v: Value = serde_json::from_str(&e.call_jsonrpc(&text)).expect("reply is JSON");
    assert_eq!(v["result"]["code"], true, "{method}: {v}");
    v["result"].clone()
}

#[test]
fn operator_builds_a_tree_over_jsonrpc_and_reopens() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("s.db");
    let path = path.to_str().expect("utf-8");
    let e = Engine::create(path, "admin", "scenario-password").expect("create");
    let login = rpc(
        &e,
        "auth.login",
        json!({"auth": {"login": "admin", "password": "scenario-password"}}),
    );
    let sid = login["session_id"].as_str().expect("sid").to_string();
    let mut companies = vec![1];
    for i in 0..5 {
        let parent = companies[i / 2];
        let r = rpc(
            &e,
            "companies.add",
            json!({"SID": sid, "name": format!("R{i}"), "parent_id": parent}),
        );
        companies.push(r["return"]["id"].as_i64().expect("id"));
    }
    for (n, company) in companies.iter().enumerate() {
        let c = rpc(
            &e,
            "clients.add",
            json!({"SID": sid, "name": format!("C{n}"), "id_companies": company, "credit": format!("{n}.{n}")}),
        );
        let id = c["return"]["id"].as_i64().expect("id");
        rpc(
            &e,
            "accounts.add",
            json!({"SID": sid, "id_clients": id, "name": "a", "auth_type": "ani", "ident": format!("1000{n}")}),
        );
    }
    drop(e);
    let e = Engine::open(path).expect("reopen");
    let list = rpc(&e, "clients.list", json!({"SID": sid, "limit": 1000}));
    assert_eq!(list["return"]["total"], 6);
    let credits: Vec<String> = list["return"]["rows"]
        .as_array()
        .expect("rows")
        .iter()
        .map(|r| r["credit"].to_string())
        .collect();
    assert_eq!(credits, ["0.0", "1.1", "2.2", "3.3", "4.4", "5.5"]);
    assert_eq!(
        rpc(&e, "accounts.list", json!({"SID": sid}))["return"]["total"],
        6
    );
}
