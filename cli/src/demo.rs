//! `tollgate demo`: a small operator built step by step in a temporary database, printed so
//! a person can follow it. Every step goes through the same Management API a script uses.

use serde_json::{json, Value};
use std::process::ExitCode;
use tollgate::Engine;

struct Demo {
    engine: Engine,
    sid: String,
}

impl Demo {
    fn call(&self, method: &str, mut params: Value) -> Result<Value, String> {
        if let Some(o) = params.as_object_mut() {
            o.insert("SID".into(), json!(self.sid));
        }
        let r = self.engine.call(method, params);
        if r.code {
            Ok(r.ret)
        } else {
            Err(format!("{method} failed: {:?}", r.errors))
        }
    }

    fn id(&self, method: &str, params: Value) -> Result<i64, String> {
        self.call(method, params)?["id"]
            .as_i64()
            .ok_or_else(|| format!("{method} returned no id"))
    }
}

fn step(n: u32, text: &str) {
    println!("\n{n}. {text}");
}

pub fn run() -> Result<ExitCode, String> {
    let dir = tempfile::tempdir().map_err(|e| format!("cannot make a temporary directory: {e}"))?;
    let path = dir.path().join("demo.db");
    let path_s = path.to_str().ok_or("temporary path is not UTF-8")?;
    let password = "demo-admin-password";
    println!("Tollgate demo: a small VoIP operator in {}", path.display());

    step(
        1,
        "Create the billing database with an administrator, and log in",
    );
    let engine = Engine::create(path_s, "admin", password).map_err(|e| e.to_string())?;
    let r = engine.call(
        "auth.login",
        json!({"auth": {"login": "admin", "password": password}}),
    );
    let sid = r.session_id.ok_or("login gave no session")?;
    println!(
        "   logged in as admin; session id {}… (only its hash is stored)",
        &sid[..6]
    );
    let d = Demo { engine, sid };

    step(2, "Currencies: USD exists; add EUR with an exchange rate");
    let eur = d.id("currencies.add", json!({"code": "EUR", "name": "Euro"}))?;
    d.call(
        "currencies.ratesAdd",
        json!({"from": 1, "to": eur, "rate": "0.92", "effective_from": "2026-01-01"}),
    )?;
    let c = d.call(
        "currencies.convert",
        json!({"amount": "100.00", "from": 1, "to": eur}),
    )?;
    println!(
        "   100.00 USD = {} EUR at rate {} (effective {})",
        c["result"],
        c["rate"],
        c["effective_from"].as_str().unwrap_or("?")
    );

    step(
        3,
        "The reseller tree: a reseller under the operator, and a sub-reseller under it",
    );
    let reseller = d.id("companies.add", json!({"name": "Acme Telecom (reseller)"}))?;
    let sub = d.id(
        "companies.add",
        json!({"name": "Acme North (sub-reseller)", "parent_id": reseller}),
    )?;
    for row in d.call("companies.list", json!({}))?["rows"]
        .as_array()
        .into_iter()
        .flatten()
    {
        let parent = if row["parent_id"].is_null() {
            "-".to_string()
        } else {
            row["parent_id"].to_string()
        };
        println!(
            "   company {:>2}  {:<28} parent {parent}",
            row["id"],
            row["name"].as_str().unwrap_or("")
        );
    }

    step(
        4,
        "Clients: two of the operator's, one of the sub-reseller's (in EUR)",
    );
    let alpha = d.id("clients.add", json!({"name": "Alpha Calls Ltd", "credit": "50.00", "c_email": format!("noc{}alpha.example", char::from(64u8))}))?;
    let beta = d.id("clients.add", json!({"name": "Beta Voice", "credit": 0}))?;
    let north = d.id(
        "clients.add",
        json!({"name": "North Dialers", "id_companies": sub, "id_currencies": eur, "credit": "10"}),
    )?;
    for row in d.call("clients.list", json!({}))?["rows"]
        .as_array()
        .into_iter()
        .flatten()
    {
        println!(
            "   client {:>2}  {:<16} company {}  currency {}  balance {}  credit {}",
            row["id"],
            row["name"].as_str().unwrap_or(""),
            row["id_companies"],
            row["id_currencies"],
            row["balance"],
            row["credit"]
        );
    }

    step(
        5,
        "Accounts: how the softswitch will recognise each client's calls",
    );
    d.call("accounts.add", json!({"id_clients": alpha, "name": "Alpha SIP trunk", "auth_type": "ip", "ident": "192.0.2.10"}))?;
    d.call("accounts.add", json!({"id_clients": alpha, "name": "Alpha office", "auth_type": "login", "ident": "alpha-office", "password": "sip-password-1"}))?;
    d.call("accounts.add", json!({"id_clients": beta, "name": "Beta CLI", "auth_type": "ani", "ident": "442071234567"}))?;
    d.call("accounts.add", json!({"id_clients": north, "name": "North trunk", "auth_type": "tech_prefix", "ident": "7001"}))?;
    for row in d.call("accounts.list", json!({}))?["rows"]
        .as_array()
        .into_iter()
        .flatten()
    {
        println!(
            "   account {:>2}  client {}  {:<12} {:<14} {}",
            row["id"],
            row["id_clients"],
            row["auth_type"].as_str().unwrap_or(""),
            row["ident"].as_str().unwrap_or(""),
            row["name"].as_str().unwrap_or("")
        );
    }

    step(6, "A custom field for clients, set on Alpha");
    let tier = d.id(
        "customFields.add",
        json!({"name": "tier", "type": "enum", "options": "gold, silver, bronze"}),
    )?;
    d.call(
        "clients.fieldsUpdate",
        json!({"id_clients": alpha, "fields": [{"id": tier, "value": "gold"}]}),
    )?;
    let fields = d.call("clients.fieldsList", json!({"id_clients": alpha}))?;
    println!("   Alpha's tier: {}", fields["rows"][0]["value"]);

    step(
        7,
        "Bad input is refused with a stable code and changes nothing",
    );
    for (method, params) in [
        ("clients.add", json!({"credit": 5})),
        ("clients.edit", json!({"id": alpha, "credit": "-1"})),
        (
            "accounts.add",
            json!({"id_clients": beta, "name": "x", "auth_type": "ip", "ident": "not-an-ip"}),
        ),
    ] {
        let mut p = params.clone();
        p["SID"] = json!(d.sid);
        let r = d.engine.call(method, p);
        let e = &r.errors[0];
        println!("   {method} {params} -> {} ({})", e.code, e.message);
    }

    step(
        8,
        "The same call as JSON-RPC text, as a remote script would send it",
    );
    let req = json!({"jsonrpc": "2.0", "method": "clients.editForm", "params": {"id_clients": alpha, "SID": d.sid}, "id": 1});
    let reply: Value = serde_json::from_str(&d.engine.call_jsonrpc(&req.to_string()))
        .map_err(|e| e.to_string())?;
    let client = &reply["result"]["return"]["client"];
    println!(
        "   -> code {}, client \"{}\", balance {}",
        reply["result"]["code"],
        client["name"].as_str().unwrap_or(""),
        client["balance"]
    );

    step(
        9,
        "The audit trail records every change, with who and what (never secrets)",
    );
    let audit = d.call("audit.list", json!({"desc": true, "limit": 5}))?;
    for row in audit["rows"].as_array().into_iter().flatten() {
        println!(
            "   {}  {:<6} {:<22} {}",
            row["dt"].as_str().unwrap_or(""),
            row["login"].as_str().unwrap_or(""),
            row["method"].as_str().unwrap_or(""),
            row["objects"].as_str().unwrap_or("")
        );
    }
    println!("   ({} audit rows in all)", audit["total"]);

    step(
        10,
        "Close and reopen the database: everything is still there",
    );
    drop(d);
    let engine = Engine::open(path_s).map_err(|e| e.to_string())?;
    let total = engine.call_as_system("clients.list", json!({})).ret["total"].clone();
    println!("   reopened: {total} clients");
    println!("\nDemo finished; the temporary database is removed.");
    Ok(ExitCode::SUCCESS)
}
