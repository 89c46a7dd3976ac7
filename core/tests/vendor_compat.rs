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
        json!({"name": "A", "low_balance_threshold": "5", "id_taxes_profiles": 3,
               "term_rate_table": 2, "apply": 1, "_preload": 1, "bill_by_time": ""}),
    );
    assert!(r.code, "{:?}", r.errors);
    assert_eq!(
        r.messages,
        vec![
            "ignored: low_balance_threshold (not supported)",
            "ignored: id_taxes_profiles (not supported)",
            "ignored: term_rate_table (not supported)",
        ]
    );
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
