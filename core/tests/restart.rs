//! What a restart must not do: hand a pre-restart reservation id to another call, so that a
//! switch settling its pre-crash call charges another customer.

mod common;

use common::session::*;
use serde_json::json;
use tollgate::{AuthorizeRequest, Engine, SettleRequest};

/// A rate table (code 44 at 1/min) and two prepaid clients with ANI accounts `100` and `200`.
fn world(e: &Engine, sid: &str) -> (i64, i64) {
    let table = ok(e, sid, "rateTables.add", json!({"name": "Retail"}))["id"]
        .as_i64()
        .unwrap();
    ok(
        e,
        sid,
        "rates.add",
        json!({"id_rate_tables": table, "code": "44", "rate": "1", "effective_from": "2020-01-01"}),
    );
    let mut clients = Vec::new();
    for (name, ani) in [("first", "100"), ("second", "200")] {
        let c = ok(
            e,
            sid,
            "clients.add",
            json!({"name": name, "orig_rate_table": table}),
        )["id"]
            .as_i64()
            .unwrap();
        ok(
            e,
            sid,
            "accounts.add",
            json!({"id_clients": c, "name": ani, "auth_type": "ani", "ident": ani}),
        );
        ok(
            e,
            sid,
            "transactions.add",
            json!({"id_clients": c, "type": "payment", "amount": "10"}),
        );
        clients.push(c);
    }
    (clients[0], clients[1])
}

fn authorize(e: &Engine, ani: &str) -> tollgate::Authorization {
    e.authorize(&AuthorizeRequest {
        account: ani.into(),
        destination: "4420".into(),
        ..Default::default()
    })
    .expect("granted")
}

fn login(e: &Engine) -> String {
    e.call("auth.login", json!({"login": ADMIN, "password": PASSWORD}))
        .session_id
        .expect("sid")
}

#[test]
fn reservation_ids_are_never_reused_after_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("r.db");
    let path = path.to_str().unwrap();
    let before = {
        let e = Engine::create(path, ADMIN, PASSWORD).unwrap();
        let sid = login(&e);
        world(&e, &sid);
        // The first client's call is up on the switch when the process stops.
        authorize(&e, "100").reservation
    };
    let e = Engine::open(path).unwrap();
    let sid = login(&e);
    // Another customer's call after the restart gets an id no earlier run handed out.
    let after = authorize(&e, "200");
    assert_ne!(
        after.reservation, before,
        "a pre-restart id was handed out again"
    );
    assert!(after.reservation > before);
    assert!(
        after.reservation < 1 << 53,
        "ids stay exact in JSON numbers"
    );

    // The switch settles its pre-crash call by its old id: an unknown reservation, and the
    // other customer's call is untouched.
    let err = e
        .settle(&SettleRequest {
            reservation: Some(before),
            call_id: "pre-crash".into(),
            duration: 60,
            ..Default::default()
        })
        .unwrap_err();
    assert_eq!(err.code().as_str(), "reservation.not_found");
    let second = ok(&e, &sid, "clients.list", json!({"q": "second"}))["rows"][0].clone();
    assert_eq!(second["balance"].to_string(), "10");
    let s = e
        .settle(&SettleRequest {
            reservation: Some(after.reservation),
            call_id: "post-restart".into(),
            duration: 60,
            ..Default::default()
        })
        .unwrap();
    assert_eq!(s.client, after.client);
    assert_eq!(s.cost, tollgate::Decimal::ONE);

    // A third run starts above the second.
    drop(e);
    let e = Engine::open(path).unwrap();
    assert!(authorize(&e, "100").reservation > after.reservation);
}
