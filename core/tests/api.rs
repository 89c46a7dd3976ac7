//! The Management API through `engine.call` and JSON-RPC text: every method of the
//! foundation modules, success and failure.

mod common;
use common::session::*;

/// An e-mail address at example.net, built so no tool rewrites it.
fn mail(user: &str) -> String {
    format!("{user}{}example.net", char::from(64u8))
}
use serde_json::{json, Value};

#[test]
fn seed_client_flow_matches_the_vendor_shape() {
    let (e, _c, sid) = engine();
    // The legacy web form's arguments are accepted (and the unknown-to-us ones ignored).
    let id = ok(
        &e,
        &sid,
        "clients.add",
        json!({
            "apply": 1, "bill_by_time": "disconnect", "cp_modules": ["c_info"], "credit": 100,
            "id_companies": 1, "id_currencies": 1, "name": "Customer A", "rates_notify_format": "csv",
            "rates_notify_type": "all", "status": "active", "type": 0, "c_company": "Mancy",
            "c_email": mail("ops"), "c_address": null, "groups": "Customers"
        }),
    )["id"]
        .as_i64()
        .unwrap();
    let r = call(&e, &sid, "clients.editForm", json!({"id_clients": id}));
    assert!(r.code);
    assert_eq!(r.session_id.as_deref(), Some(sid.as_str()));
    let c = &r.ret["client"];
    for (k, v) in [
        ("id", json!(id)),
        ("name", json!("Customer A")),
        ("groups", json!("Customers")),
        ("status", json!("active")),
        ("credit", json!(100)),
        ("c_company", json!("Mancy")),
        ("c_address", Value::Null),
        ("id_currencies", json!(1)),
        ("id_companies", json!(1)),
        ("type", json!(0)),
    ] {
        assert_eq!(c[k], v, "{k}");
    }
    assert_eq!(c["balance"].to_string(), "0");
    assert!(c["c_dt"].as_str().unwrap().ends_with("+00"));
    // The three id spellings.
    for key in ["id", "id_clients", "clients_id"] {
        assert_eq!(
            ok(&e, &sid, "clients.editForm", json!({ key: id }))["client"]["id"],
            json!(id)
        );
    }
}

#[test]
fn clients_edit_list_archive_delete() {
    let (e, _c, sid) = engine();
    let a = client(&e, &sid, "Alpha");
    let b = client(&e, &sid, "Beta");
    ok(
        &e,
        &sid,
        "clients.edit",
        json!({"id_clients": a, "credit": "25.50", "c_email": format!("{}, {}", mail("a"), mail("b"))}),
    );
    assert_eq!(
        ok(&e, &sid, "clients.editForm", json!({"id": a}))["client"]["credit"].to_string(),
        "25.50"
    );

    let page = ok(&e, &sid, "clients.list", json!({"limit": 1}));
    assert_eq!(page["total"], 2);
    assert_eq!(page["rows"].as_array().unwrap().len(), 1);
    assert_eq!(page["rows"][0]["id"], json!(a));
    let page2 = ok(&e, &sid, "clients.list", json!({"limit": 1, "offset": 1}));
    assert_eq!(page2["rows"][0]["id"], json!(b));
    assert_eq!(
        ok(&e, &sid, "clients.list", json!({"q": "et"}))["rows"][0]["name"],
        "Beta"
    );
    assert_eq!(
        ok(&e, &sid, "clients.list", json!({"name": "Alpha"}))["total"],
        1
    );
    assert_eq!(
        ok(
            &e,
            &sid,
            "clients.list",
            json!({"order": "name", "desc": true})
        )["rows"][0]["name"],
        "Beta"
    );
    // LIKE wildcards in the search are literal.
    assert_eq!(ok(&e, &sid, "clients.list", json!({"q": "%"}))["total"], 0);

    ok(&e, &sid, "clients.archive", json!({"id": a}));
    assert_eq!(
        ok(&e, &sid, "clients.editForm", json!({"id": a}))["client"]["status"],
        "archived"
    );
    fails(
        &e,
        &sid,
        "clients.edit",
        json!({"id": a, "name": "x"}),
        "object.archived",
    );
    fails(
        &e,
        &sid,
        "clients.fieldsUpdate",
        json!({"id": a, "fields": []}),
        "object.archived",
    );
    fails(
        &e,
        &sid,
        "accounts.add",
        json!({"id_clients": a, "name": "acc", "ident": "alpha"}),
        "object.archived",
    );
    ok(&e, &sid, "clients.archive", json!({"id": a}));
    fails(
        &e,
        &sid,
        "clients.edit",
        json!({"id": b, "status": "archived"}),
        "validation.invalid",
    );

    // A client with accounts cannot be deleted; without, it can; then it is gone.
    ok(
        &e,
        &sid,
        "accounts.add",
        json!({"id_clients": b, "name": "b1", "auth_type": "ani", "ident": "442071234567"}),
    );
    fails(
        &e,
        &sid,
        "clients.delete",
        json!({"id": b}),
        "object.in_use",
    );
    ok(&e, &sid, "clients.delete", json!({"id": a}));
    fails(&e, &sid, "clients.editForm", json!({"id": a}), "not_found");
    fails(&e, &sid, "clients.delete", json!({"id": a}), "not_found");
    fails(
        &e,
        &sid,
        "clients.edit",
        json!({"id": 999, "name": "x"}),
        "not_found",
    );
}

#[test]
fn companies_tree() {
    let (e, _c, sid) = engine();
    let r = ok(
        &e,
        &sid,
        "companies.add",
        json!({"name": "Reseller A", "apply": 1, "type": 10, "prepaid": 1, "credit": "0.00"}),
    )["id"]
        .as_i64()
        .unwrap();
    // The vendor form names the parent `id_companies` on add.
    let sub = ok(
        &e,
        &sid,
        "companies.add",
        json!({"name": "Sub", "id_companies": r}),
    )["id"]
        .as_i64()
        .unwrap();
    let f = ok(&e, &sid, "companies.editForm", json!({"id_companies": sub}));
    assert_eq!(f["company"]["parent_id"], json!(r));
    ok(
        &e,
        &sid,
        "companies.edit",
        json!({"id_companies": sub, "name": "Sub 2", "status": "blocked"}),
    );
    assert_eq!(
        ok(&e, &sid, "companies.list", json!({"parent_id": r}))["rows"][0]["name"],
        "Sub 2"
    );
    fails(
        &e,
        &sid,
        "companies.add",
        json!({"name": "X", "parent_id": 999}),
        "validation.invalid",
    );
    fails(
        &e,
        &sid,
        "companies.delete",
        json!({"id": r}),
        "object.in_use",
    );
    ok(&e, &sid, "companies.delete", json!({"id": sub}));
    fails(
        &e,
        &sid,
        "companies.delete",
        json!({"id": 1}),
        "object.in_use",
    );
    // Depth is bounded.
    let mut parent = r;
    let mut refused = false;
    for i in 0..20 {
        let r = call(
            &e,
            &sid,
            "companies.add",
            json!({"name": format!("L{i}"), "parent_id": parent}),
        );
        if !r.code {
            assert_eq!(r.errors[0].code.as_str(), "validation.out_of_range");
            refused = true;
            break;
        }
        parent = r.ret["id"].as_i64().unwrap();
    }
    assert!(refused);
}

#[test]
fn accounts_by_auth_type() {
    let (e, _c, sid) = engine();
    let c = client(&e, &sid, "C");
    let a = ok(
        &e,
        &sid,
        "accounts.add",
        json!({"clients_id": c, "name": "trunk", "auth_type": "ip", "ident": "10.0.0.1"}),
    )["id"]
        .as_i64()
        .unwrap();
    ok(
        &e,
        &sid,
        "accounts.add",
        json!({"id_clients": c, "name": "sip", "auth_type": "login", "ident": "sipuser", "password": "sip-secret-1"}),
    );
    fails(
        &e,
        &sid,
        "accounts.add",
        json!({"id_clients": c, "name": "dup", "auth_type": "ip", "ident": "10.0.0.1"}),
        "validation.duplicate",
    );
    fails(
        &e,
        &sid,
        "accounts.add",
        json!({"id_clients": c, "name": "bad", "auth_type": "ip", "ident": "10.0.0.300"}),
        "validation.invalid",
    );
    fails(
        &e,
        &sid,
        "accounts.add",
        json!({"id_clients": c, "name": "bad", "auth_type": "ani", "ident": "12ab"}),
        "validation.invalid",
    );
    fails(
        &e,
        &sid,
        "accounts.add",
        json!({"id_clients": c, "name": "bad", "auth_type": "fax", "ident": "1"}),
        "validation.invalid",
    );
    fails(
        &e,
        &sid,
        "accounts.add",
        json!({"id_clients": 999, "name": "bad", "ident": "x"}),
        "validation.invalid",
    );
    fails(
        &e,
        &sid,
        "accounts.add",
        json!({"id_clients": c, "name": "weak", "ident": "weak", "password": "short"}),
        "validation.invalid",
    );
    fails(
        &e,
        &sid,
        "accounts.edit",
        json!({"id": a, "auth_type": "ani"}),
        "validation.invalid",
    );
    ok(
        &e,
        &sid,
        "accounts.edit",
        json!({"id": a, "auth_type": "ani", "ident": "4420"}),
    );
    fails(
        &e,
        &sid,
        "accounts.edit",
        json!({"id": a, "id_clients": c}),
        "validation.unknown_argument",
    );
    let f = ok(&e, &sid, "accounts.editForm", json!({"id_accounts": a}));
    assert_eq!(f["account"]["ident"], "4420");
    let rows = ok(&e, &sid, "accounts.list", json!({"id_clients": c}));
    assert_eq!(rows["total"], 2);
    for row in rows["rows"].as_array().unwrap() {
        assert!(
            row.get("password").is_none(),
            "password must never be shown"
        );
    }
    ok(&e, &sid, "accounts.delete", json!({"id": a}));
    fails(&e, &sid, "accounts.editForm", json!({"id": a}), "not_found");
}

#[test]
fn currencies_rates_and_conversion() {
    let (e, _c, sid) = engine();
    let eur = ok(
        &e,
        &sid,
        "currencies.add",
        json!({"code": "EUR", "name": "Euro", "totals_precision": 2}),
    )["id"]
        .as_i64()
        .unwrap();
    fails(
        &e,
        &sid,
        "currencies.add",
        json!({"code": "EUR", "name": "again"}),
        "validation.duplicate",
    );
    fails(
        &e,
        &sid,
        "currencies.add",
        json!({"code": "eu", "name": "bad"}),
        "validation.invalid",
    );
    fails(
        &e,
        &sid,
        "currencies.add",
        json!({"code": "ABC", "name": "bad", "rates_precision": 11}),
        "validation.out_of_range",
    );
    fails(
        &e,
        &sid,
        "currencies.convert",
        json!({"amount": 10, "from": 1, "to": eur}),
        "money.no_exchange_rate",
    );
    ok(
        &e,
        &sid,
        "currencies.ratesAdd",
        json!({"id_currencies": 1, "id_currencies_to": eur, "rate": "0.9", "effective_from": "2026-01-01"}),
    );
    ok(
        &e,
        &sid,
        "currencies.ratesAdd",
        json!({"from": 1, "to": eur, "rate": "0.92", "effective_from": "2026-01-10 00:00:00"}),
    );
    fails(
        &e,
        &sid,
        "currencies.ratesAdd",
        json!({"from": 1, "to": 1, "rate": "1"}),
        "validation.invalid",
    );
    fails(
        &e,
        &sid,
        "currencies.ratesAdd",
        json!({"from": 1, "to": eur, "rate": "0"}),
        "validation.out_of_range",
    );
    let c = ok(
        &e,
        &sid,
        "currencies.convert",
        json!({"amount": "10.00", "from": 1, "to": eur}),
    );
    assert_eq!(c["result"].to_string(), "9.2000");
    assert_eq!(c["effective_from"], "2026-01-10 00:00:00+00");
    let old = ok(
        &e,
        &sid,
        "currencies.convert",
        json!({"amount": "10", "from": 1, "to": eur, "dt": "2026-01-05"}),
    );
    assert_eq!(old["rate"].to_string(), "0.9");
    // The inverse direction uses the inverse rate and says which row.
    let back = ok(
        &e,
        &sid,
        "currencies.convert",
        json!({"amount": "9.2", "from": eur, "to": 1}),
    );
    assert_eq!(back["rate_id"], c["rate_id"]);
    assert_eq!(
        ok(
            &e,
            &sid,
            "currencies.ratesList",
            json!({"id_currencies_to": eur})
        )["total"],
        2
    );
    fails(
        &e,
        &sid,
        "currencies.delete",
        json!({"id": eur}),
        "object.in_use",
    );
    ok(
        &e,
        &sid,
        "currencies.edit",
        json!({"id": eur, "name": "Euro (EU)"}),
    );
    fails(
        &e,
        &sid,
        "currencies.edit",
        json!({"id": eur, "code": "EUX"}),
        "validation.unknown_argument",
    );
    assert_eq!(ok(&e, &sid, "currencies.list", json!({}))["total"], 2);
    let rate_id = c["rate_id"].as_i64().unwrap();
    ok(&e, &sid, "currencies.ratesDelete", json!({"id": rate_id}));
    // A client's currency is fixed after creation.
    let cl = ok(
        &e,
        &sid,
        "clients.add",
        json!({"name": "E", "id_currencies": eur}),
    )["id"]
        .as_i64()
        .unwrap();
    fails(
        &e,
        &sid,
        "clients.edit",
        json!({"id": cl, "id_currencies": 1}),
        "validation.unknown_argument",
    );
}

#[test]
fn custom_fields_on_clients() {
    let (e, _c, sid) = engine();
    let tier = ok(
        &e,
        &sid,
        "customFields.add",
        json!({"name": "tier", "type": "enum", "options": "gold, silver"}),
    )["id"]
        .as_i64()
        .unwrap();
    let vat = ok(
        &e,
        &sid,
        "customFields.add",
        json!({"name": "vat", "type": "number", "required": true}),
    )["id"]
        .as_i64()
        .unwrap();
    ok(&e, &sid, "customFields.add", json!({"name": "note"}));
    fails(
        &e,
        &sid,
        "customFields.add",
        json!({"name": "tier"}),
        "validation.duplicate",
    );
    fails(
        &e,
        &sid,
        "customFields.add",
        json!({"name": "e", "type": "enum"}),
        "validation.required",
    );
    assert_eq!(
        ok(&e, &sid, "customFields.editForm", json!({"id": tier}))["custom_field"]["options"],
        "[\"gold\",\"silver\"]"
    );
    let c = client(&e, &sid, "C");
    ok(
        &e,
        &sid,
        "clients.fieldsUpdate",
        json!({"apply": true, "id_clients": c, "fields": [{"id": tier, "value": "gold"}, {"id": vat, "value": "20.5"}, {"name": "note", "value": "hi"}]}),
    );
    let rows = ok(
        &e,
        &sid,
        "clients.fieldsList",
        json!({"_preload": 1, "id_clients": c}),
    )["rows"]
        .clone();
    let get = |name: &str| {
        rows.as_array()
            .unwrap()
            .iter()
            .find(|r| r["name"] == name)
            .unwrap()["value"]
            .clone()
    };
    assert_eq!(get("tier"), "gold");
    assert_eq!(get("vat"), "20.5");
    assert_eq!(get("note"), "hi");
    fails(
        &e,
        &sid,
        "clients.fieldsUpdate",
        json!({"id": c, "fields": [{"id": tier, "value": "bronze"}]}),
        "validation.invalid",
    );
    fails(
        &e,
        &sid,
        "clients.fieldsUpdate",
        json!({"id": c, "fields": [{"id": vat, "value": "abc"}]}),
        "money.invalid",
    );
    fails(
        &e,
        &sid,
        "clients.fieldsUpdate",
        json!({"id": c, "fields": [{"id": vat, "value": null}]}),
        "validation.required",
    );
    fails(
        &e,
        &sid,
        "clients.fieldsUpdate",
        json!({"id": c, "fields": [{"id": 999, "value": "x"}]}),
        "validation.invalid",
    );
    fails(
        &e,
        &sid,
        "clients.fieldsUpdate",
        json!({"id": c, "fields": [{"id": tier, "value": "gold", "x": 1}]}),
        "validation.unknown_argument",
    );
    fails(
        &e,
        &sid,
        "clients.fieldsUpdate",
        json!({"id": c, "fields": "tier=gold"}),
        "validation.invalid",
    );
    fails(
        &e,
        &sid,
        "clients.fieldsUpdate",
        json!({"id": c}),
        "validation.required",
    );
    // A failed update changed nothing, even the entries before the bad one.
    fails(
        &e,
        &sid,
        "clients.fieldsUpdate",
        json!({"id": c, "fields": [{"id": tier, "value": "silver"}, {"id": tier + 100, "value": "x"}]}),
        "validation.invalid",
    );
    let rows = ok(&e, &sid, "clients.fieldsList", json!({"id": c}))["rows"].clone();
    assert_eq!(
        rows.as_array()
            .unwrap()
            .iter()
            .find(|r| r["name"] == "tier")
            .unwrap()["value"],
        "gold"
    );
    ok(
        &e,
        &sid,
        "customFields.edit",
        json!({"id": tier, "options": ["gold", "silver", "bronze"]})
            .as_object()
            .map(|_| json!({"id": tier, "options": "[\"gold\",\"silver\",\"bronze\"]"}))
            .unwrap(),
    );
    ok(
        &e,
        &sid,
        "clients.fieldsUpdate",
        json!({"id": c, "fields": [{"id": tier, "value": "bronze"}]}),
    );
    assert_eq!(
        ok(&e, &sid, "customFields.list", json!({"module": "clients"}))["total"],
        3
    );
    ok(&e, &sid, "customFields.delete", json!({"id": tier}));
    assert_eq!(
        ok(&e, &sid, "clients.fieldsList", json!({"id": c}))["rows"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
}

#[test]
fn audit_rows_for_every_write_and_none_for_reads_or_failures() {
    let (e, _c, sid) = engine();
    let before = ok(&e, &sid, "audit.list", json!({}))["total"]
        .as_u64()
        .unwrap();
    let c = client(&e, &sid, "C");
    ok(&e, &sid, "clients.editForm", json!({"id": c}));
    fails(&e, &sid, "clients.add", json!({}), "validation.required");
    ok(&e, &sid, "clients.edit", json!({"id": c, "name": "D"}));
    let rows = ok(&e, &sid, "audit.list", json!({"order": "id"}));
    assert_eq!(rows["total"].as_u64().unwrap(), before + 2);
    let last = &rows["rows"].as_array().unwrap()[(before + 1) as usize];
    assert_eq!(last["method"], "clients.edit");
    assert_eq!(last["login"], "admin");
    assert_eq!(
        last["objects"],
        json!([{"module": "clients", "id": c}]).to_string()
    );
    let text = rows.to_string();
    assert!(
        !text.contains(&sid) && !text.contains(PASSWORD),
        "audit must not hold secrets"
    );
    assert_eq!(
        ok(&e, &sid, "audit.list", json!({"method": "clients.add"}))["total"],
        1
    );
}

#[test]
fn bad_input_is_refused_with_a_named_stable_code_and_changes_nothing() {
    let (e, _c, sid) = engine();
    let c = client(&e, &sid, "C");
    let before = ok(&e, &sid, "clients.editForm", json!({"id": c}));
    let cases: Vec<(&str, Value, &str, Option<&str>)> = vec![
        ("clients.nope", json!({}), "api.unknown_method", None),
        (
            "clients.add",
            json!({}),
            "validation.required",
            Some("name"),
        ),
        (
            "clients.add",
            json!({"name": 5}),
            "validation.invalid",
            Some("name"),
        ),
        (
            "clients.add",
            json!({"name": "x".repeat(129)}),
            "validation.too_long",
            Some("name"),
        ),
        (
            "clients.add",
            json!({"name": "x", "surname": "y"}),
            "validation.unknown_argument",
            Some("surname"),
        ),
        (
            "clients.add",
            json!({"name": "x", "credit": -1}),
            "validation.out_of_range",
            Some("credit"),
        ),
        (
            "clients.add",
            json!({"name": "x", "credit": 1.5e40}),
            "money.out_of_range",
            Some("credit"),
        ),
        (
            "clients.add",
            json!({"name": "x", "credit": "0.0000000000001"}),
            "money.precision",
            Some("credit"),
        ),
        (
            "clients.add",
            json!({"name": "x", "balance": 1000}),
            "validation.unknown_argument",
            Some("balance"),
        ),
        (
            "clients.add",
            json!({"name": "x", "status": "gone"}),
            "validation.invalid",
            Some("status"),
        ),
        (
            "clients.add",
            json!({"name": "x", "c_email": "not-an-email"}),
            "validation.invalid",
            Some("c_email"),
        ),
        (
            "clients.add",
            json!({"name": "x", "id_currencies": 77}),
            "validation.invalid",
            Some("id_currencies"),
        ),
        (
            "clients.add",
            json!({"name": "x", "id_companies": "abc"}),
            "validation.invalid",
            Some("id_companies"),
        ),
        (
            "clients.add",
            json!({"name": "x", "capacity": -5}),
            "validation.out_of_range",
            Some("capacity"),
        ),
        (
            "clients.add",
            json!({"name": "x\u{0}y"}),
            "validation.invalid",
            Some("name"),
        ),
        (
            "clients.edit",
            json!({"id": c, "name": null}),
            "validation.required",
            Some("name"),
        ),
        (
            "clients.edit",
            json!({"name": "x"}),
            "validation.required",
            Some("id"),
        ),
        (
            "clients.edit",
            json!({"id": -1, "name": "x"}),
            "validation.out_of_range",
            Some("id"),
        ),
        (
            "clients.edit",
            json!({"id": c, "id_clients": c, "name": "x"}),
            "validation.invalid",
            Some("id"),
        ),
        (
            "clients.editForm",
            json!({"id": c + 1000}),
            "not_found",
            None,
        ),
        (
            "clients.list",
            json!({"limit": 100000}),
            "validation.out_of_range",
            Some("limit"),
        ),
        (
            "clients.list",
            json!({"order": "password"}),
            "validation.invalid",
            Some("order"),
        ),
    ];
    for (method, params, code, field) in cases {
        let r = call(&e, &sid, method, params.clone());
        assert!(!r.code, "{method} {params}");
        assert_eq!(
            r.errors[0].code.as_str(),
            code,
            "{method} {params}: {:?}",
            r.errors
        );
        assert_eq!(r.errors[0].field.as_deref(), field, "{method} {params}");
        assert!(!r.errors[0].message.is_empty());
    }
    assert_eq!(ok(&e, &sid, "clients.editForm", json!({"id": c})), before);
    assert_eq!(ok(&e, &sid, "clients.list", json!({}))["total"], 1);
    // params that are not an object.
    let r = e.call("clients.list", json!([1, 2]));
    assert_eq!(r.errors[0].code.as_str(), "api.malformed_request");
}

#[test]
fn authentication_failures() {
    let (e, clock, sid) = engine();
    let r = e.call("clients.list", json!({}));
    assert_eq!(r.errors[0].code.as_str(), "auth.required");
    assert!(r.session_id.is_none());
    let r = e.call(
        "clients.list",
        json!({"auth": {"login": ADMIN, "password": "wrong-password"}}),
    );
    assert_eq!(r.errors[0].code.as_str(), "auth.failed");
    let r = e.call(
        "clients.list",
        json!({"auth": {"login": "nobody", "password": "wrong-password"}}),
    );
    assert_eq!(
        r.errors[0].code.as_str(),
        "auth.failed",
        "unknown login answers like a wrong password"
    );
    let r = e.call("clients.list", json!({"auth": "admin:password"}));
    assert_eq!(r.errors[0].code.as_str(), "validation.invalid");
    for bad in ["1-aaaaaaaaaaaaaaaaaaaaaaaaaa", "garbage", ""] {
        let r = e.call("clients.list", json!({"SID": bad}));
        assert_eq!(r.errors[0].code.as_str(), "auth.session_invalid", "{bad}");
    }
    let r = e.call("clients.list", json!({"SID": 12}));
    assert_eq!(r.errors[0].code.as_str(), "auth.session_invalid");
    // auth in params returns a session id usable afterwards; SID wins when both are sent.
    let r = e.call(
        "clients.list",
        json!({"auth": {"login": ADMIN, "password": PASSWORD}}),
    );
    let sid2 = r.session_id.clone().unwrap();
    assert!(r.code && sid2 != sid && sid2.starts_with("1-") && sid2.len() == 28);
    // Logout kills only that session.
    ok(&e, &sid2, "auth.logout", json!({}));
    fails(&e, &sid2, "clients.list", json!({}), "auth.session_invalid");
    ok(&e, &sid, "clients.list", json!({}));
    // Idle timeout (1 h by default) and absolute lifetime (24 h).
    clock.advance_seconds(3599);
    ok(&e, &sid, "clients.list", json!({}));
    clock.advance_seconds(3599);
    ok(&e, &sid, "clients.list", json!({}));
    clock.advance_seconds(3600);
    fails(&e, &sid, "clients.list", json!({}), "auth.session_expired");
    let fresh = e
        .call("auth.login", json!({"login": ADMIN, "password": PASSWORD}))
        .session_id
        .unwrap();
    for _ in 0..40 {
        clock.advance_seconds(3000);
        let r = call(&e, &fresh, "clients.list", json!({}));
        if !r.code {
            assert_eq!(r.errors[0].code.as_str(), "auth.session_expired");
            return;
        }
    }
    panic!("absolute lifetime not enforced");
}

#[test]
fn jsonrpc_text_interface() {
    let (e, _c, sid) = engine();
    let id = client(&e, &sid, "Customer A");
    // The seed's request (no "jsonrpc" member) answered in the seed's shape.
    let req =
        json!({"method": "clients.editForm", "params": {"id_clients": id, "SID": sid}, "id": 1});
    let resp: Value = serde_json::from_str(&e.call_jsonrpc(&req.to_string())).unwrap();
    assert_eq!(resp["jsonrpc"], "2.0");
    assert_eq!(resp["id"], 1);
    let result = &resp["result"];
    assert_eq!(result["code"], true);
    assert_eq!(result["session_id"], json!(sid));
    assert_eq!(result["messages"], json!([]));
    assert_eq!(result["errors"], json!([]));
    assert_eq!(result["return"]["client"]["name"], "Customer A");
    let keys: Vec<&String> = result.as_object().unwrap().keys().collect();
    assert_eq!(keys, ["code", "session_id", "messages", "return", "errors"]);

    let parse = |t: &str| -> Value { serde_json::from_str(&e.call_jsonrpc(t)).unwrap() };
    assert_eq!(parse("{not json")["error"]["code"], -32700);
    assert_eq!(parse("[]")["error"]["code"], -32600);
    assert_eq!(parse("42")["error"]["code"], -32600);
    assert_eq!(
        parse(r#"{"jsonrpc": "1.0", "method": "clients.list", "id": 3}"#)["error"]["code"],
        -32600
    );
    assert_eq!(
        parse(r#"{"jsonrpc": "2.0", "method": 5, "id": 3}"#)["error"]["code"],
        -32600
    );
    assert_eq!(
        parse(r#"{"jsonrpc": "2.0", "method": "nope.nope", "id": 4}"#)["error"]["code"],
        -32601
    );
    assert_eq!(
        parse(r#"{"jsonrpc": "2.0", "method": "clients.list", "params": [1], "id": 5}"#)["error"]
            ["code"],
        -32602
    );
    // Envelope-level refusals stay inside result with code false.
    let r = parse(r#"{"jsonrpc": "2.0", "method": "clients.list", "params": {}, "id": 6}"#);
    assert_eq!(r["result"]["code"], false);
    assert_eq!(r["result"]["errors"][0]["code"], "auth.required");
    // A batch mixing good and bad calls, with a notification that gets no reply.
    let batch = json!([
        {"jsonrpc": "2.0", "method": "clients.editForm", "params": {"id": id, "SID": sid}, "id": "a"},
        {"jsonrpc": "2.0", "method": "nope.nope", "id": "b"},
        {"jsonrpc": "2.0", "method": "clients.add", "params": {"SID": sid, "name": "via notification"}},
        7,
        {"jsonrpc": "2.0", "method": "clients.add", "params": {"SID": sid}, "id": "c"}
    ]);
    let replies = parse(&batch.to_string());
    let replies = replies.as_array().unwrap();
    assert_eq!(replies.len(), 4);
    assert_eq!(replies[0]["result"]["code"], true);
    assert_eq!(replies[1]["error"]["code"], -32601);
    assert_eq!(replies[2]["error"]["code"], -32600);
    assert_eq!(replies[3]["result"]["errors"][0]["field"], "name");
    assert_eq!(
        ok(
            &e,
            &sid,
            "clients.list",
            json!({"name": "via notification"})
        )["total"],
        1
    );
    assert_eq!(
        e.call_jsonrpc(r#"{"jsonrpc": "2.0", "method": "clients.list", "params": {}}"#),
        ""
    );
    let huge = format!(
        "{{\"method\": \"clients.list\", \"params\": {{\"q\": \"{}\"}}, \"id\": 1}}",
        "x".repeat(5 * 1024 * 1024)
    );
    assert_eq!(parse(&huge)["error"]["code"], -32600);
}

#[test]
fn jsonrpc_as_the_local_operator_runs_as_system_only_without_credentials() {
    let (e, _c, _sid) = engine();
    let parse =
        |t: String| -> Value { serde_json::from_str(&e.call_jsonrpc_as_system(&t)).unwrap() };
    // No credentials: the embedding process, as `tollgate call` on an open database.
    let r = parse(
        json!({"jsonrpc": "2.0", "id": 1, "method": "clients.add", "params": {"name": "Local"}})
            .to_string(),
    );
    assert_eq!(r["result"]["code"], true, "{r}");
    // The same request through the ordinary door needs credentials.
    let plain: Value = serde_json::from_str(&e.call_jsonrpc(
        &json!({"jsonrpc": "2.0", "id": 1, "method": "clients.list", "params": {}}).to_string(),
    ))
    .unwrap();
    assert_eq!(
        plain["result"]["errors"][0]["code"], "auth.required",
        "{plain}"
    );
    // Credentials that are given are checked, never overridden by the local operator.
    let bad = json!({"jsonrpc": "2.0", "id": 2, "method": "clients.list",
                     "params": {"auth": {"login": ADMIN, "password": "wrong-password-1"}}});
    let r = parse(bad.to_string());
    assert_eq!(r["result"]["errors"][0]["code"], "auth.failed", "{r}");
    let r = parse(
        json!([bad, {"jsonrpc": "2.0", "id": 3, "method": "clients.list",
                               "params": {"name": "Local"}}])
        .to_string(),
    );
    assert_eq!(r[0]["result"]["errors"][0]["code"], "auth.failed", "{r}");
    assert_eq!(r[1]["result"]["return"]["total"], 1, "{r}");
}

#[test]
fn every_registered_method_has_a_permission_and_an_argument_schema() {
    let (e, _c, sid) = engine();
    for m in e.registry().methods() {
        // Unknown arguments are refused by every method.
        let r = call(&e, &sid, &m.name, json!({"definitely_not_an_argument": 1}));
        assert!(!r.code, "{}", m.name);
        let code = r.errors[0].code.as_str();
        assert!(
            code == "validation.unknown_argument",
            "{} answered {code}",
            m.name
        );
        // JSON-RPC reaches every method by name.
        let text = json!({"jsonrpc": "2.0", "method": m.name, "params": {"SID": sid, "definitely_not_an_argument": 1}, "id": 1});
        let v: Value = serde_json::from_str(&e.call_jsonrpc(&text.to_string())).unwrap();
        assert_eq!(
            v["result"]["errors"][0]["code"], "validation.unknown_argument",
            "{}",
            m.name
        );
    }
}
