//! The PortaBilling REST facade: Session, Account and Customer methods with PortaBilling
//! field names, faults as HTTP 500, and the same permissions and tenancy as the Management API.

mod common;

use common::*;
use serde_json::{json, Value};
use tollgate::Engine;

fn login(e: &Engine, user: &str, pw: &str) -> String {
    let (s, b) = e.rest(
        "Session",
        "login",
        &json!({"params": {"login": user, "password": pw}}),
        None,
    );
    assert_eq!(s, 200, "{b}");
    b["access_token"].as_str().unwrap().to_string()
}

fn call(e: &Engine, t: &str, service: &str, method: &str, params: Value) -> Value {
    let (s, b) = e.rest(service, method, &json!({ "params": params }), Some(t));
    assert_eq!(s, 200, "{service}/{method}: {b}");
    b
}

fn fault(e: &Engine, t: Option<&str>, service: &str, method: &str, body: Value) -> String {
    let (s, b) = e.rest(service, method, &body, t);
    assert_eq!(s, 500, "{service}/{method} should fail: {b}");
    assert!(b["faultstring"].is_string(), "{b}");
    assert_eq!(b.as_object().unwrap().len(), 2, "{b}");
    b["faultcode"].as_str().unwrap().to_string()
}

#[test]
fn customers_and_accounts_with_portabilling_fields() {
    let (e, _) = engine();
    let admin = sid(&e, ADMIN, ADMIN_PW);
    ok(
        &e,
        "currencies.add",
        with_sid(&admin, json!({"code": "EUR", "name": "Euro"})),
    );
    let t = login(&e, ADMIN, ADMIN_PW);
    let c = call(
        &e,
        &t,
        "Customer",
        "add_customer",
        json!({"customer_info": {
        "name": "ACME", "iso_4217": "EUR", "credit_limit": "100.10", "email": "ops@acme.test", "companyname": "ACME Ltd"}}),
    );
    let i_customer = c["i_customer"].as_i64().unwrap();
    let info = call(
        &e,
        &t,
        "Customer",
        "get_customer_info",
        json!({"i_customer": i_customer}),
    )["customer_info"]
        .clone();
    assert_eq!(info["name"], "ACME");
    assert_eq!(info["iso_4217"], "EUR");
    assert_eq!(info["credit_limit"].to_string(), "100.10", "exact decimal");
    assert_eq!(info["balance"].to_string(), "0");
    assert_eq!(info["blocked"], "N");
    assert_eq!(info["bill_status"], "O");
    assert_eq!(info["email"], "ops@acme.test");
    assert_eq!(info["companyname"], "ACME Ltd");
    call(
        &e,
        &t,
        "Customer",
        "update_customer",
        json!({"customer_info": {"i_customer": i_customer, "blocked": "Y", "credit_limit": 5}}),
    );
    let info = call(
        &e,
        &t,
        "Customer",
        "get_customer_info",
        json!({"i_customer": i_customer}),
    )["customer_info"]
        .clone();
    assert_eq!(
        (info["blocked"].as_str(), info["credit_limit"].to_string()),
        (Some("Y"), "5".to_string())
    );
    let list = call(
        &e,
        &t,
        "Customer",
        "get_customer_list",
        json!({"limit": 10}),
    );
    assert_eq!(list["total"], 1);
    assert_eq!(list["customer_list"][0]["i_customer"], i_customer);
    // The same object through the Management API.
    let client = ok(
        &e,
        "clients.editForm",
        with_sid(&admin, json!({"id": i_customer})),
    )["client"]
        .clone();
    assert_eq!(client["status"], "blocked");
    assert_eq!(client["c_company"], "ACME Ltd");

    let a = call(
        &e,
        &t,
        "Account",
        "add_account",
        json!({"account_info": {"i_customer": i_customer, "id": "sip-100", "password": "sip-secret-1"}}),
    );
    let i_account = a["i_account"].as_i64().unwrap();
    for by in [
        json!({"i_account": i_account}),
        json!({"id": "sip-100"}),
        json!({"login": "sip-100"}),
    ] {
        let info = call(&e, &t, "Account", "get_account_info", by.clone())["account_info"].clone();
        assert_eq!(info["i_account"], i_account, "{by}");
        assert_eq!(info["i_customer"], i_customer);
        assert_eq!(info["id"], "sip-100");
        assert_eq!(info["blocked"], "N");
        assert!(info.get("password").is_none());
    }
    call(
        &e,
        &t,
        "Account",
        "update_account",
        json!({"account_info": {"i_account": i_account, "blocked": "Y", "name": "desk"}}),
    );
    let list = call(
        &e,
        &t,
        "Account",
        "get_account_list",
        json!({"i_customer": i_customer}),
    );
    assert_eq!(list["total"], 1);
    assert_eq!(list["account_list"][0]["blocked"], "Y");
    assert_eq!(list["account_list"][0]["name"], "desk");
    // auth_info instead of a bearer: access_token, session_id, login + password.
    let (_, l) = e.rest(
        "Session",
        "login",
        &json!({"params": {"login": ADMIN, "password": ADMIN_PW}}),
        None,
    );
    for auth in [
        json!({"access_token": t}),
        json!({"session_id": l["session_id"]}),
        json!({"login": ADMIN, "password": ADMIN_PW}),
    ] {
        let (s, b) = e.rest(
            "Customer",
            "get_customer_list",
            &json!({"auth_info": auth}),
            None,
        );
        assert_eq!(s, 200, "{b}");
        assert_eq!(b["total"], 1);
    }
    // make_transaction moves money on the ledger, exactly, idempotent on transaction_id.
    let pay = json!({"i_customer": i_customer, "action": "Manual payment", "amount": "12.34",
        "visible_comment": "top-up", "transaction_id": "pb-1"});
    let r = call(&e, &t, "Customer", "make_transaction", pay.clone());
    assert_eq!(r["balance"].to_string(), "12.34");
    let again = call(&e, &t, "Customer", "make_transaction", pay);
    assert_eq!(
        (again["transaction_id"].clone(), again["replayed"].clone()),
        (r["transaction_id"].clone(), json!(true))
    );
    let r = call(
        &e,
        &t,
        "Customer",
        "make_transaction",
        json!({"i_customer": i_customer, "action": "Manual charge", "amount": "0.34"}),
    );
    assert_eq!(r["balance"].to_string(), "12.00");
    let info = call(
        &e,
        &t,
        "Customer",
        "get_customer_info",
        json!({"i_customer": i_customer}),
    );
    assert_eq!(info["customer_info"]["balance"].to_string(), "12.00");
    for (params, code) in [
        (
            json!({"i_customer": i_customer, "amount": "1"}),
            "Client.Customer.make_transaction.validation_required",
        ),
        (
            json!({"i_customer": i_customer, "action": "Gift", "amount": "1"}),
            "Client.Customer.make_transaction.validation_invalid",
        ),
        (
            json!({"i_customer": i_customer, "action": "Manual charge", "amount": "1000"}),
            "Client.Customer.make_transaction.balance_insufficient",
        ),
        (
            json!({"i_customer": i_customer, "action": "Manual payment", "amount": "12.34", "transaction_id": "pb-1"}),
            "Client.Customer.make_transaction.idempotency_conflict",
        ),
    ] {
        let got = fault(
            &e,
            Some(&t),
            "Customer",
            "make_transaction",
            json!({ "params": params }),
        );
        assert_eq!(got, code);
    }
    assert_eq!(
        call(
            &e,
            &t,
            "Customer",
            "get_customer_info",
            json!({"i_customer": i_customer})
        )["customer_info"]["balance"]
            .to_string(),
        "12.00",
        "refused transactions changed nothing"
    );
}

#[test]
fn bad_input_gets_a_stable_fault_and_changes_nothing() {
    let (e, _) = engine();
    let t = login(&e, ADMIN, ADMIN_PW);
    let cases = [
        (
            "Customer",
            "get_customer_info",
            json!({"params": {}}),
            "Client.Customer.get_customer_info.validation_required",
        ),
        (
            "Customer",
            "get_customer_info",
            json!({"params": {"i_customer": "abc"}}),
            "Client.Customer.get_customer_info.validation_invalid",
        ),
        (
            "Customer",
            "get_customer_info",
            json!({"params": {"i_customer": 999}}),
            "Client.Customer.get_customer_info.not_found",
        ),
        (
            "Customer",
            "get_customer_info",
            json!({"params": {"i_customer": 1, "junk": 1}}),
            "Client.Customer.get_customer_info.validation_unknown_argument",
        ),
        (
            "Customer",
            "add_customer",
            json!({"params": {}}),
            "Client.Customer.add_customer.validation_required",
        ),
        (
            "Customer",
            "add_customer",
            json!({"params": {"customer_info": {"name": "x", "iso_4217": "XXX"}}}),
            "Client.Customer.add_customer.validation_invalid",
        ),
        (
            "Customer",
            "add_customer",
            json!({"params": {"customer_info": {"name": "x", "blocked": "maybe"}}}),
            "Client.Customer.add_customer.validation_invalid",
        ),
        (
            "Customer",
            "add_customer",
            json!({"params": {"customer_info": {"name": "x", "credit_limit": "-1"}}}),
            "Client.Customer.add_customer.validation_out_of_range",
        ),
        (
            "Customer",
            "add_customer",
            json!({"params": {"customer_info": {"name": "x", "credit_limit": 1.5e300}}}),
            "Client.Customer.add_customer.money_out_of_range",
        ),
        (
            "Customer",
            "add_customer",
            json!({"params": {"customer_info": {"i_customer": 5, "name": "x"}}}),
            "Client.Customer.add_customer.validation_invalid",
        ),
        (
            "Customer",
            "update_customer",
            json!({"params": {"customer_info": {"name": "x"}}}),
            "Client.Customer.update_customer.validation_required",
        ),
        (
            "Account",
            "add_account",
            json!({"params": {"account_info": {"i_customer": 999, "id": "x"}}}),
            "Client.Account.add_account.validation_invalid",
        ),
        (
            "Account",
            "get_account_info",
            json!({"params": {"login": "nobody"}}),
            "Client.Account.get_account_info.not_found",
        ),
        (
            "Account",
            "get_account_info",
            json!({"params": {}}),
            "Client.Account.get_account_info.validation_required",
        ),
        (
            "Account",
            "update_account",
            json!({"params": {"account_info": {"i_account": 999}}}),
            "Client.Account.update_account.not_found",
        ),
        (
            "Account",
            "get_account_list",
            json!({"params": {"limit": 0}}),
            "Client.Account.get_account_list.validation_out_of_range",
        ),
        (
            "Customer",
            "nonexistent",
            json!({}),
            "Client.Request.unknown_method",
        ),
        (
            "../etc",
            "passwd",
            json!({}),
            "Client.Request.unknown_method",
        ),
        (
            "Customer",
            "get_customer_list",
            json!({"params": [1]}),
            "Client.Request.malformed",
        ),
        (
            "Customer",
            "get_customer_list",
            json!("text"),
            "Client.Request.malformed",
        ),
    ];
    for (s, m, body, want) in cases {
        let got = fault(&e, Some(&t), s, m, body.clone());
        assert_eq!(got, want, "{s}/{m} {body}");
    }
    let (_, list) = e.rest("Customer", "get_customer_list", &json!({}), Some(&t));
    assert_eq!(list["total"], 0, "nothing was created");
    // Authentication faults.
    assert_eq!(
        fault(&e, None, "Customer", "get_customer_list", json!({})),
        "Client.check_auth.envelope_missed"
    );
    assert_eq!(
        fault(
            &e,
            None,
            "Customer",
            "get_customer_list",
            json!({"auth_info": {}})
        ),
        "Client.check_auth.envelope_missed"
    );
    assert_eq!(
        fault(
            &e,
            None,
            "Customer",
            "get_customer_list",
            json!({"auth_info": {"session_id": "1-bogus"}})
        ),
        "Server.Session.check_auth.auth_failed"
    );
    assert_eq!(
        fault(
            &e,
            None,
            "Customer",
            "get_customer_list",
            json!({"auth_info": {"login": ADMIN, "password": "wrong-pw-123"}})
        ),
        "Server.Session.auth_failed"
    );
    assert_eq!(
        fault(
            &e,
            None,
            "Session",
            "login",
            json!({"params": {"login": ADMIN, "password": "wrong-pw-123"}})
        ),
        "Server.Session.auth_failed"
    );
    assert_eq!(
        fault(
            &e,
            None,
            "Session",
            "login",
            json!({"params": {"login": "ghost", "password": "wrong-pw-123"}})
        ),
        "Server.Session.auth_failed"
    );
    assert_eq!(
        fault(
            &e,
            None,
            "Session",
            "login",
            json!({"params": {"login": ADMIN}})
        ),
        "Client.Session.login.validation_required"
    );
    assert_eq!(
        fault(&e, None, "Session", "get_access_token_lifetime", json!({})),
        "Client.check_auth.envelope_missed"
    );
    assert_eq!(
        fault(&e, None, "Session", "ping", json!({})),
        "Client.Session.ping.failed_to_process_access_token"
    );
    assert_eq!(
        fault(
            &e,
            Some("Bearer abc.def.ghi"),
            "Customer",
            "get_customer_list",
            json!({})
        ),
        "Client.Session.check_auth.failed_to_process_access_token"
    );
    // "Bearer " prefixes are accepted as the HTTP header carries them.
    let (s, _) = e.rest(
        "Customer",
        "get_customer_list",
        &json!({}),
        Some(&format!("Bearer {t}")),
    );
    assert_eq!(s, 200);
}

#[test]
fn rest_obeys_roles_and_tenancy_like_the_management_api() {
    let w = world();
    let e = &w.engine;
    let ta = login(e, "res-a", USER_PW);
    let list = call(e, &ta, "Customer", "get_customer_list", json!({}));
    let ids: Vec<i64> = list["customer_list"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["i_customer"].as_i64().unwrap())
        .collect();
    assert_eq!(ids, [w.a.client, w.a1.client]);
    // Another tenant's customer answers exactly like a missing one.
    let foreign = fault(
        e,
        Some(&ta),
        "Customer",
        "get_customer_info",
        json!({"params": {"i_customer": w.b.client}}),
    );
    let missing = fault(
        e,
        Some(&ta),
        "Customer",
        "get_customer_info",
        json!({"params": {"i_customer": 999_999}}),
    );
    assert_eq!(foreign, missing);
    assert_eq!(foreign, "Client.Customer.get_customer_info.not_found");
    for (m, p) in [
        (
            "update_customer",
            json!({"customer_info": {"i_customer": w.b.client, "blocked": "Y"}}),
        ),
        (
            "update_customer",
            json!({"customer_info": {"i_customer": w.op.client, "name": "mine"}}),
        ),
    ] {
        assert_eq!(
            fault(e, Some(&ta), "Customer", m, json!({"params": p})),
            format!("Client.Customer.{m}.not_found")
        );
    }
    assert_eq!(
        fault(
            e,
            Some(&ta),
            "Account",
            "get_account_info",
            json!({"params": {"id": "acc-b"}})
        ),
        "Client.Account.get_account_info.not_found"
    );
    assert_eq!(
        fault(
            e,
            Some(&ta),
            "Account",
            "get_account_info",
            json!({"params": {"i_account": w.op.account}})
        ),
        "Client.Account.get_account_info.not_found"
    );
    assert_eq!(
        fault(
            e,
            Some(&ta),
            "Account",
            "add_account",
            json!({"params": {"account_info": {"i_customer": w.b.client, "id": "steal"}}})
        ),
        "Client.Account.add_account.validation_invalid"
    );
    let accounts = call(
        e,
        &ta,
        "Account",
        "get_account_list",
        json!({"i_customer": w.b.client}),
    );
    assert_eq!(accounts["total"], 0);
    // The API-portal role reads but cannot write.
    let tp = login(e, "api-a1", USER_PW);
    call(
        e,
        &tp,
        "Customer",
        "get_customer_info",
        json!({"i_customer": w.a1.client}),
    );
    assert_eq!(
        fault(
            e,
            Some(&tp),
            "Customer",
            "update_customer",
            json!({"params": {"customer_info": {"i_customer": w.a1.client, "blocked": "Y"}}})
        ),
        "Server.Customer.update_customer.permission_denied"
    );
    // Customers a reseller adds land in its own company.
    let c = call(
        e,
        &ta,
        "Customer",
        "add_customer",
        json!({"customer_info": {"name": "new A"}}),
    );
    let row = ok(
        e,
        "clients.editForm",
        with_sid(&w.admin, json!({"id": c["i_customer"]})),
    )["client"]
        .clone();
    assert_eq!(row["id_companies"], w.a.company);
}

#[test]
fn invoices_and_xdrs_with_portabilling_fields() {
    let (e, _clock) = engine();
    let admin = sid(&e, ADMIN, ADMIN_PW);
    let a = |m: &str, p: Value| ok(&e, m, with_sid(&admin, p));
    let table = a("rateTables.add", json!({"name": "pb"}))["id"].clone();
    a(
        "rates.add",
        json!({"id_rate_tables": table, "code": "44", "code_name": "UK", "rate": "1.2", "effective_from": "2020-01-01"}),
    );
    let client = a(
        "clients.add",
        json!({"name": "PB Customer", "orig_rate_table": table, "credit": "100"}),
    )["id"]
        .as_i64()
        .unwrap();
    let account = a(
        "accounts.add",
        json!({"id_clients": client, "name": "pb", "auth_type": "ani", "ident": "2000"}),
    )["id"]
        .as_i64()
        .unwrap();
    a(
        "xdrs.import",
        json!({"format": "tollgate", "csv": "call_id,account,destination,connect_time,duration\njan-1,2000,4420,2026-01-31 23:59:59,60\nfeb-1,2000,4421,2026-02-01 00:00:00,30\n"}),
    );
    let inv = a(
        "invoices.add",
        json!({"id_clients": client, "dt_from": "2026-01-01", "dt_till": "2026-02-01"}),
    );
    let t = login(&e, ADMIN, ADMIN_PW);
    // Account/get_xdr_list and Customer/get_customer_xdrs over a date range (half-open).
    let jan = json!({"from_date": "2026-01-01 00:00:00", "to_date": "2026-02-01 00:00:00"});
    let mut p = jan.clone();
    p["i_account"] = json!(account);
    let r = call(&e, &t, "Account", "get_xdr_list", p);
    assert_eq!(r["total"], json!(1));
    let x = &r["xdr_list"][0];
    assert_eq!(x["call_id"], "jan-1");
    assert_eq!(x["CLD"], "4420");
    assert_eq!(x["i_account"], json!(account));
    assert_eq!(x["i_customer"], json!(client));
    assert_eq!(x["charged_amount"].to_string(), "1.2000");
    assert_eq!(x["i_invoice"], inv["id"]);
    let r = call(
        &e,
        &t,
        "Customer",
        "get_customer_xdrs",
        json!({"i_customer": client}),
    );
    assert_eq!(r["total"], json!(2));
    let mut p = jan.clone();
    p["i_customer"] = json!(client);
    p["from_date"] = json!("2026-02-01 00:00:00");
    p["to_date"] = json!("2026-03-01 00:00:00");
    let r = call(&e, &t, "Customer", "get_customer_xdrs", p);
    assert_eq!(r["xdr_list"][0]["call_id"], "feb-1");
    // Invoice/get_invoice_list and get_invoice_info, with the PDF on request.
    let r = call(
        &e,
        &t,
        "Invoice",
        "get_invoice_list",
        json!({"i_customer": client}),
    );
    assert_eq!(r["total"], json!(1));
    let i = &r["invoice_list"][0];
    assert_eq!(i["i_invoice"], inv["id"]);
    assert_eq!(i["invoice_number"], inv["number"]);
    assert_eq!(i["amount_due"].to_string(), "1.20");
    assert_eq!(i["iso_4217"], "USD");
    assert_eq!(i["void"], "N");
    let r = call(
        &e,
        &t,
        "Invoice",
        "get_invoice_info",
        json!({"i_invoice": inv["id"]}),
    )["invoice_info"]
        .clone();
    assert_eq!(r["lines"][0]["description"], "UK");
    assert_eq!(r["lines"][0]["calls"], json!(1));
    assert!(r.get("invoice_pdf").is_none());
    let r = call(
        &e,
        &t,
        "Invoice",
        "get_invoice_info",
        json!({"i_invoice": inv["id"], "get_pdf": 1}),
    )["invoice_info"]
        .clone();
    use base64::Engine as _;
    let pdf = base64::engine::general_purpose::STANDARD
        .decode(r["invoice_pdf"].as_str().unwrap())
        .unwrap();
    assert!(pdf.starts_with(b"%PDF-"));
    assert_eq!(
        r["invoice_pdf_name"],
        json!(format!("{}.pdf", inv["number"].as_str().unwrap()))
    );
    // Bad input and missing objects: stable faults.
    for (service, method, params, code) in [
        (
            "Invoice",
            "get_invoice_info",
            json!({}),
            "validation_required",
        ),
        (
            "Invoice",
            "get_invoice_info",
            json!({"i_invoice": 999}),
            "not_found",
        ),
        (
            "Invoice",
            "get_invoice_info",
            json!({"i_invoice": inv["id"], "get_pdf": "yes"}),
            "validation_invalid",
        ),
        (
            "Invoice",
            "get_invoice_list",
            json!({"foo": 1}),
            "validation_unknown_argument",
        ),
        (
            "Account",
            "get_xdr_list",
            json!({"i_account": 999}),
            "not_found",
        ),
        (
            "Customer",
            "get_customer_xdrs",
            json!({}),
            "validation_required",
        ),
    ] {
        assert_eq!(
            fault(&e, Some(&t), service, method, json!({ "params": params })),
            format!("Client.{service}.{method}.{code}")
        );
    }
}

#[test]
fn xdr_and_invoice_methods_keep_to_the_callers_subtree() {
    let w = world();
    let e = &w.engine;
    let ta = login(e, "res-a", USER_PW);
    for (service, method, params) in [
        ("Account", "get_xdr_list", json!({"i_account": w.b.account})),
        (
            "Customer",
            "get_customer_xdrs",
            json!({"i_customer": w.b.client}),
        ),
        ("Invoice", "get_invoice_info", json!({"i_invoice": 999_999})),
    ] {
        assert_eq!(
            fault(e, Some(&ta), service, method, json!({ "params": params })),
            format!("Client.{service}.{method}.not_found")
        );
    }
    let r = call(
        e,
        &ta,
        "Invoice",
        "get_invoice_list",
        json!({"i_customer": w.b.client}),
    );
    assert_eq!(r["total"], json!(0));
    let own = call(
        e,
        &ta,
        "Account",
        "get_xdr_list",
        json!({"i_account": w.a.account}),
    );
    assert!(own["xdr_list"]
        .as_array()
        .unwrap()
        .iter()
        .all(|x| x["i_customer"] == json!(w.a.client)));
}
