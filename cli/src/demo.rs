//! `tollgate demo`: a small operator built step by step in a temporary database, printed so
//! a person can follow it. Every step goes through the same Management API a script uses.

use serde_json::{json, Value};
use std::process::ExitCode;
use tollgate::{AuthorizeRequest, Engine, SettleRequest};

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

    money_steps(&d, alpha, beta)?;

    step(
        14,
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
        15,
        "Close and reopen the database: everything is still there",
    );
    drop(d);
    let engine = Engine::open(path_s).map_err(|e| e.to_string())?;
    let total = engine.call_as_system("clients.list", json!({})).ret["total"].clone();
    println!("   reopened: {total} clients");
    println!("\nDemo finished; the temporary database is removed.");
    Ok(ExitCode::SUCCESS)
}

/// Rating, payments and real-time charging: a deck, two clients, calls through the
/// softswitch path (authorize at setup, settle at hangup).
fn money_steps(d: &Demo, alpha: i64, beta: i64) -> Result<(), String> {
    step(
        9,
        "A rate deck: import a CSV into a rate table and give it to Alpha and Beta",
    );
    let table = d.id(
        "rateTables.add",
        json!({"name": "Retail USD", "rounding": "half_up"}),
    )?;
    let deck = "code,code_name,rate,min_volume,interval,grace_volume,setup_fee,effective_from,effective_till\n\
                44,United Kingdom,1,30,1,2,0.3,2020-01-01,\n\
                447,United Kingdom - Mobile,0.12,30,6,0,0.01,2020-01-01,\n\
                1,United States,0.015,60,60,0,0,2020-01-01,\n";
    let r = d.call(
        "rates.import",
        json!({"id_rate_tables": table, "csv": deck}),
    )?;
    println!("   imported {} rates into table {table}", r["imported"]);
    for c in [alpha, beta] {
        d.call("clients.edit", json!({"id": c, "orig_rate_table": table}))?;
    }
    let bad = "code,code_name,rate,min_volume,interval,grace_volume,setup_fee,effective_from,effective_till\n\
               49,Germany,0.02,60,60,0,0,2020-01-01,\n\
               4x9,Broken,0.02,60,60,0,0,2020-01-01,\n";
    let mut p = json!({"id_rate_tables": table, "csv": bad});
    p["SID"] = json!(d.sid);
    let r = d.engine.call("rates.import", p);
    println!(
        "   a deck with a bad row is refused whole: {} ({})",
        r.errors[0].code, r.errors[0].message
    );

    step(
        10,
        "Payments: exact decimals, and an idempotency key makes a retry harmless",
    );
    let pay = json!({"id_clients": alpha, "type": "payment", "amount": "5.00", "idempotency_key": "bank-ref-0001"});
    let first = d.call("transactions.add", pay.clone())?;
    let again = d.call("transactions.add", pay)?;
    println!(
        "   Alpha pays 5.00 -> balance {}; the same payment sent again is replayed: {} (balance still {})",
        first["transaction"]["balance_after"], again["transaction"]["replayed"], again["transaction"]["balance_after"]
    );
    d.call(
        "transactions.add",
        json!({"id_clients": beta, "type": "payment", "amount": "0.50"}),
    )?;
    println!("   Beta pays 0.50 (no credit)");

    step(
        11,
        "Calls: the softswitch asks before each call and reports each hangup",
    );
    let e = &d.engine;
    let calls = [
        ("192.0.2.10", "447911123456", 73u64, "call-001"),
        ("192.0.2.10", "442071234567", 2, "call-002"),
        ("192.0.2.10", "12125550100", 61, "call-003"),
    ];
    for (ident, dst, seconds, call_id) in calls {
        let a = e
            .authorize(&AuthorizeRequest {
                account: ident.into(),
                destination: dst.into(),
                ..Default::default()
            })
            .map_err(|e| e.to_string())?;
        let s = e
            .settle(&SettleRequest {
                reservation: Some(a.reservation),
                call_id: call_id.into(),
                duration: seconds,
                ..Default::default()
            })
            .map_err(|e| e.to_string())?;
        println!(
            "   {call_id} to {dst} ({}, {}/min): allowed up to {} s, held {}; lasted {seconds} s, billed {} s, cost {}, balance {}",
            a.code_name, a.rate, a.max_seconds, a.held, s.billed_seconds, s.cost, s.balance
        );
    }
    let replay = e
        .settle(&SettleRequest {
            reservation: None,
            call_id: "call-001".into(),
            duration: 73,
            ..Default::default()
        })
        .map_err(|e| e.to_string())?;
    println!(
        "   the switch reports call-001 twice: replayed {}, cost {} charged once",
        replay.replayed, replay.cost
    );
    let b = e
        .authorize(&AuthorizeRequest {
            account: "442071234567".into(),
            destination: "447700900123".into(),
            ..Default::default()
        })
        .map_err(|e| e.to_string())?;
    println!(
        "   Beta (0.50 available) to a UK mobile: allowed up to {} s",
        b.max_seconds
    );
    e.settle(&SettleRequest {
        reservation: Some(b.reservation),
        call_id: "call-004".into(),
        duration: b.max_seconds,
        ..Default::default()
    })
    .map_err(|e| e.to_string())?;
    match e.authorize(&AuthorizeRequest {
        account: "442071234567".into(),
        destination: "447700900123".into(),
        ..Default::default()
    }) {
        Ok(a) => println!("   Beta still has {} s", a.max_seconds),
        Err(err) => println!("   Beta's next call is refused: {} ({err})", err.code()),
    }

    step(
        12,
        "A monthly plan with 10 UK minutes: Alpha buys it, calls on the bundle then on money, and the next period renews",
    );
    let plan = d.id(
        "packages.add",
        json!({"name": "UK Bundle", "activation_fee": "1.00", "periodical_fee": "2.50", "period": "P1M",
               "volumes": "[{\"prefixes\": [\"44\"], \"seconds\": 600}]"}),
    )?;
    let sub = d.call(
        "clients.packagesAdd",
        json!({"id_clients": alpha, "id_packages": plan}),
    )?;
    let s = &sub["subscription"];
    println!(
        "   subscription {}: {} (activation 1.00 + first month 2.50 charged), next renewal {}",
        sub["id"],
        s["status"].as_str().unwrap_or(""),
        s["next_renewal_dt"].as_str().unwrap_or("")
    );
    for (seconds, call_id) in [(500u64, "call-101"), (150, "call-102")] {
        let a = e
            .authorize(&AuthorizeRequest {
                account: "192.0.2.10".into(),
                destination: "442079460000".into(),
                ..Default::default()
            })
            .map_err(|e| e.to_string())?;
        let s = e
            .settle(&SettleRequest {
                reservation: Some(a.reservation),
                call_id: call_id.into(),
                duration: seconds,
                ..Default::default()
            })
            .map_err(|e| e.to_string())?;
        println!(
            "   {call_id} to London: allowed up to {} s ({} bundled); lasted {seconds} s, {} s from the bundle, cost {}, balance {}",
            a.max_seconds, a.volume_seconds, s.volume_seconds, s.cost, s.balance
        );
    }
    let bundle = |d: &Demo| -> Result<String, String> {
        let list = d.call("clients.packagesList", json!({"id_clients": alpha}))?;
        let v = &list["rows"][0]["volumes"][0];
        Ok(format!("{} of {} s used", v["used_seconds"], v["seconds"]))
    };
    println!("   the bundle this month: {}", bundle(d)?);
    let next = s["next_renewal_dt"]
        .as_str()
        .and_then(tollgate::clock::parse_dt)
        .ok_or("no renewal date")?;
    let t = e.tick(next).map_err(|e| e.to_string())?;
    let again = e.tick(next).map_err(|e| e.to_string())?;
    println!(
        "   tick at {}: {} renewed; the same tick again renews {} (each period is charged once)",
        tollgate::clock::format_dt(next),
        t.subscriptions.renewed,
        again.subscriptions.renewed
    );
    println!("   the bundle after renewal: {}", bundle(d)?);

    step(
        13,
        "The ledger: every balance equals the sum of its entries",
    );
    for (name, c) in [("Alpha", alpha), ("Beta", beta)] {
        let ok = e.verify_client_ledger(c).map_err(|e| e.to_string())?;
        let list = d.call("transactions.list", json!({"id_clients": c}))?;
        let kinds: Vec<String> = list["rows"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|r| format!("{} {}", r["type"].as_str().unwrap_or(""), r["amount"]))
            .collect();
        println!(
            "   {name}: balance = ledger sum: {ok}; entries: {}",
            kinds.join(", ")
        );
    }
    Ok(())
}
