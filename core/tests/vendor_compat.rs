//! Vendor compatibility (issue 20): fields accepted but not acted on are named in the reply,
//! and the newer JeraSoft method names answer as aliases of the existing methods.

mod common;
use common::session::*;
use serde_json::json;

#[test]
fn ignored_vendor_fields_are_named_once_per_call() {
    let (e, _c, sid) = engine();
    let r = call(
        &e,
        &sid,
        "clients.add",
        json!({"name": "A", "low_balance_threshold": "5",
               "term_rate_table": 2, "apply": 1, "_preload": 1, "bill_by_time": ""}),
    );
    assert!(r.code, "{:?}", r.errors);
    assert_eq!(
        r.messages,
        vec![
            "ignored: low_balance_threshold (not supported)",
            "ignored: term_rate_table (not supported)",
        ]
    );
    // id_taxes_profiles is a real field now (tax profiles): a wrong one is refused, not
    // ignored.
    let r = call(
        &e,
        &sid,
        "clients.add",
        json!({"name": "C", "id_taxes_profiles": 3}),
    );
    assert_eq!(r.errors[0].code.as_str(), "validation.invalid");
    // Nothing ignored, nothing said.
    let r = call(&e, &sid, "clients.add", json!({"name": "B", "apply": 1}));
    assert!(r.code);
    assert!(r.messages.is_empty(), "{:?}", r.messages);
    // The same through JSON-RPC text (the envelope C and Python replies share).
    let text = json!({"jsonrpc": "2.0", "id": 1, "method": "clients.add",
        "params": {"SID": sid, "name": "C", "low_balance_threshold": 1}})
    .to_string();
    let v: serde_json::Value = serde_json::from_str(&e.call_jsonrpc(&text)).expect("JSON");
    assert_eq!(
        v["result"]["messages"],
        json!(["ignored: low_balance_threshold (not supported)"])
    );
    // rates.add's time_profiles_id.
    let t = ok(
        &e,
        &sid,
        "rateTables.add",
        json!({"name": "T", "id_currencies": 1}),
    )["id"]
        .as_i64()
        .expect("id");
    let r = call(
        &e,
        &sid,
        "rates.add",
        json!({"id_rate_tables": t, "code": "1", "rate": "0.01", "effective_from": "2020-01-01",
               "time_profiles_id": 4}),
    );
    assert!(r.code, "{:?}", r.errors);
    assert_eq!(
        r.messages,
        vec!["ignored: time_profiles_id (not supported)"]
    );
    // A refused call says only why it was refused.
    let r = call(
        &e,
        &sid,
        "clients.add",
        json!({"low_balance_threshold": "5"}),
    );
    assert!(!r.code);
    assert!(r.messages.is_empty());
}

#[test]
fn newer_jerasoft_names_are_aliases_of_the_existing_methods() {
    let (e, _c, sid) = engine();
    // One registry: each newer name is the same method, not a second one.
    for (newer, name) in tollgate::api::NEWER_NAMES {
        let a = e.registry().get(newer).expect(newer);
        let b = e.registry().get(name).expect(name);
        assert!(std::sync::Arc::ptr_eq(a, b), "{newer} -> {name}");
        assert!(a.aliases.iter().any(|x| x == newer));
    }
    let id = ok(&e, &sid, "clients.create", json!({"name": "New API"}))["id"]
        .as_i64()
        .expect("id");
    assert_eq!(
        ok(&e, &sid, "clients.get", json!({"id_clients": id}))["client"]["name"],
        "New API"
    );
    ok(
        &e,
        &sid,
        "clients.update",
        json!({"id_clients": id, "name": "Renamed"}),
    );
    let found = ok(&e, &sid, "clients.search", json!({"q": "Renamed"}));
    assert_eq!(found["total"], 1);
    assert_eq!(found, ok(&e, &sid, "clients.list", json!({"q": "Renamed"})));
    ok(
        &e,
        &sid,
        "accounts.add",
        json!({"id_clients": id, "name": "a", "auth_type": "ani", "ident": "100"}),
    );
    assert_eq!(ok(&e, &sid, "accounts.search", json!({}))["total"], 1);
    let t = ok(
        &e,
        &sid,
        "rateTables.add",
        json!({"name": "T", "id_currencies": 1}),
    )["id"]
        .as_i64()
        .expect("id");
    ok(
        &e,
        &sid,
        "rates.add",
        json!({"id_rate_tables": t, "code": "1", "rate": "0.01", "effective_from": "2020-01-01"}),
    );
    assert_eq!(
        ok(&e, &sid, "rates.search", json!({"id_rate_tables": t})),
        ok(&e, &sid, "rates.list", json!({"id_rate_tables": t}))
    );
    assert_eq!(
        ok(&e, &sid, "transactions.search", json!({})),
        ok(&e, &sid, "transactions.list", json!({}))
    );
    assert_eq!(
        ok(&e, &sid, "reports.xdrs", json!({})),
        ok(&e, &sid, "xdrs.list", json!({}))
    );
    let p = ok(
        &e,
        &sid,
        "packages.add",
        json!({"name": "Plan", "period": "P1M"}),
    )["id"]
        .as_i64()
        .expect("id");
    let r = call(
        &e,
        &sid,
        "clients_packages.assign",
        json!({"id_clients": id, "id_packages": p}),
    );
    assert!(r.code, "{:?}", r.errors);
    assert_eq!(
        ok(&e, &sid, "clients.packagesList", json!({"id_clients": id}))["total"],
        1
    );
    // The audit trail names the method, not the alias it was called by.
    let audit = ok(&e, &sid, "audit.list", json!({}));
    let text = audit.to_string();
    assert!(
        text.contains("clients.add") && !text.contains("clients.create"),
        "{text}"
    );
}
