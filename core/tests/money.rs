//! The money engine end to end: rate tables and decks, the ledger, and real-time charging
//! (authorize → settle/release) with its refusals, idempotency and concurrency.

mod common;
use common::session::*;
use serde_json::{json, Value};
use std::str::FromStr;
use tollgate::{AuthorizeRequest, Decimal, Engine, SettleRequest};

fn d(s: &str) -> Decimal {
    Decimal::from_str(s).unwrap()
}

/// A client with a rate table holding the vendor's worked example (rate 1, min 30, interval 1,
/// grace 2, setup 0.3) on code 44, an ANI account 100, and `funds` paid in.
fn vendor_setup(e: &Engine, sid: &str, funds: &str) -> (i64, i64) {
    let table = ok(
        e,
        sid,
        "rateTables.add",
        json!({"name": "Retail", "rounding": "half_up"}),
    )["id"]
        .as_i64()
        .unwrap();
    ok(
        e,
        sid,
        "rates.add",
        json!({"id_rate_tables": table, "code": "44", "code_name": "UK", "rate": 1, "min_volume": 30, "interval": 1, "grace_volume": 2, "setup_fee": "0.3", "effective_from": "2020-01-01"}),
    );
    let c = ok(
        e,
        sid,
        "clients.add",
        json!({"name": "Caller", "orig_rate_table": table}),
    )["id"]
        .as_i64()
        .unwrap();
    ok(
        e,
        sid,
        "accounts.add",
        json!({"id_clients": c, "name": "ani", "auth_type": "ani", "ident": "100"}),
    );
    if funds != "0" {
        ok(
            e,
            sid,
            "transactions.add",
            json!({"id_clients": c, "type": "payment", "amount": funds}),
        );
    }
    (c, table)
}

#[test]
fn the_vendor_worked_example_charged_end_to_end() {
    let (e, _c, sid) = engine();
    let (client, _) = vendor_setup(&e, &sid, "10");
    for (duration, cost) in [
        (0, "0"),
        (2, "0"),
        (3, "0.8"),
        (30, "0.8"),
        (31, "0.8167"),
        (61, "1.3167"),
    ] {
        let a = auth(&e, "447911123456").unwrap();
        assert_eq!(a.code, "44");
        let s = settle(&e, a.reservation, &format!("call-{duration}"), duration);
        assert_eq!(s.cost, d(cost), "{duration} s");
        assert!(!s.unreserved && !s.replayed);
    }
    // 10 - (0.8 + 0.8 + 0.8167 + 1.3167) = 6.2666
    let f = ok(&e, &sid, "clients.editForm", json!({"id": client}));
    assert_eq!(f["client"]["balance"].to_string(), "6.2666");
    assert!(e.verify_client_ledger(client).unwrap());
    assert_eq!(
        e.client_balance_cached(client),
        Some((d("6.2666"), Decimal::ZERO))
    );
    let xdrs = ok(&e, &sid, "xdrs.list", json!({"id_clients": client}));
    assert_eq!(xdrs["total"], 6);
    let x = &xdrs["rows"][4];
    assert_eq!(
        (
            x["duration"].clone(),
            x["billed_seconds"].clone(),
            x["cost"].to_string()
        ),
        (json!(31), json!(31), "0.8167".to_string())
    );
    // Zero-cost calls leave no ledger entry; charged calls leave one each.
    assert_eq!(
        ok(
            &e,
            &sid,
            "transactions.list",
            json!({"id_clients": client, "type": "call"})
        )["total"],
        4
    );
}

#[test]
fn authorize_grants_what_the_funds_cover_and_holds_it() {
    let (e, _c, sid) = engine();
    let (client, _) = vendor_setup(&e, &sid, "1.3");
    let a = auth(&e, "4420").unwrap();
    // 0.3 + billed/60 <= 1.3  ->  60 s.
    assert_eq!(a.max_seconds, 60);
    assert_eq!(a.held, d("1.3"));
    // Everything is held: a second call gets nothing.
    assert_eq!(
        auth(&e, "4420").unwrap_err().code().as_str(),
        "balance.insufficient"
    );
    e.release(a.reservation).unwrap();
    assert_eq!(
        e.release(a.reservation).unwrap_err().code().as_str(),
        "reservation.not_found"
    );
    assert_eq!(
        e.client_balance_cached(client),
        Some((d("1.3"), Decimal::ZERO))
    );
    // The same through the Management API.
    let r = ok(
        &e,
        &sid,
        "core.authorize",
        json!({"account": "100", "destination": "4420"}),
    );
    assert_eq!(r["max_seconds"], 60);
    assert_eq!(d(&r["held"].to_string()), d("1.3"));
    let s = ok(
        &e,
        &sid,
        "core.settle",
        json!({"reservation": r["reservation"], "call_id": "api-1", "duration": 45}),
    );
    assert_eq!(s["cost"].to_string(), "1.0500");
    assert_eq!(s["balance"].to_string(), "0.2500");
    assert!(e.verify_client_ledger(client).unwrap());
}

#[test]
fn refusals_are_named() {
    let (e, _c, sid) = engine();
    let (client, table) = vendor_setup(&e, &sid, "5");
    let code = |r: Result<tollgate::Authorization, tollgate::Error>| {
        r.unwrap_err().code().as_str().to_string()
    };
    assert_eq!(
        code(e.authorize(&AuthorizeRequest {
            account: "999".into(),
            destination: "44".into(),
            ..Default::default()
        })),
        "account.not_found"
    );
    assert_eq!(code(auth(&e, "331234")), "rating.no_rate");
    assert_eq!(code(auth(&e, "44ab")), "validation.invalid");
    assert_eq!(code(auth(&e, "")), "validation.invalid");
    let acc = ok(&e, &sid, "accounts.list", json!({"ident": "100"}))["rows"][0]["id"]
        .as_i64()
        .unwrap();
    ok(
        &e,
        &sid,
        "accounts.edit",
        json!({"id": acc, "status": "blocked"}),
    );
    assert_eq!(code(auth(&e, "44")), "account.blocked");
    ok(
        &e,
        &sid,
        "accounts.edit",
        json!({"id": acc, "status": "active"}),
    );
    ok(
        &e,
        &sid,
        "clients.edit",
        json!({"id": client, "status": "suspended"}),
    );
    assert_eq!(code(auth(&e, "44")), "client.blocked");
    ok(
        &e,
        &sid,
        "clients.edit",
        json!({"id": client, "status": "active", "capacity": 1}),
    );
    let first = auth(&e, "44").unwrap();
    assert_eq!(code(auth(&e, "44")), "capacity.exceeded");
    e.release(first.reservation).unwrap();
    ok(&e, &sid, "companies.edit", json!({"id": 1, "capacity": 0}));
    assert_eq!(code(auth(&e, "44")), "capacity.exceeded");
    ok(
        &e,
        &sid,
        "companies.edit",
        json!({"id": 1, "capacity": null, "status": "blocked"}),
    );
    assert_eq!(code(auth(&e, "44")), "company.blocked");
    ok(
        &e,
        &sid,
        "companies.edit",
        json!({"id": 1, "status": "active"}),
    );
    // Rates that are not yet effective do not rate; a rate table change is seen at once.
    ok(
        &e,
        &sid,
        "rates.add",
        json!({"id_rate_tables": table, "code": "33", "rate": 1, "effective_from": "2030-01-01"}),
    );
    assert_eq!(code(auth(&e, "3312")), "rating.no_rate");
    ok(
        &e,
        &sid,
        "rates.add",
        json!({"id_rate_tables": table, "code": "33", "rate": 1, "effective_from": "2020-01-01", "effective_till": "2029-01-01"}),
    );
    assert!(auth(&e, "3312").is_ok());
    let r = call(&e, &sid, "core.authorize", json!({"account": "100"}));
    assert_eq!(r.errors[0].field.as_deref(), Some("destination"));
}

/// An account's identifier and kind are what calls find it by: after an edit the old ones
/// find nothing, the new ones find it, and an identifier passed on to another account finds
/// that one. (The engine used to forget an edited account by scanning every account under
/// the lock every call takes — 17 ms per edit at a million accounts, `benches/scale.rs`; it
/// now removes the one entry the account records.)
#[test]
fn an_edited_or_deleted_account_is_found_by_what_it_is_now() {
    let (e, _clock, sid) = engine();
    let (client, _table) = vendor_setup(&e, &sid, "100");
    let other = ok(&e, &sid, "clients.add", json!({"name": "Other"}))["id"]
        .as_i64()
        .unwrap();
    ok(
        &e,
        &sid,
        "clients.edit",
        json!({"id": other, "credit": "50"}),
    );
    let table = ok(&e, &sid, "clients.editForm", json!({"id": client}))["client"]
        ["orig_rate_table"]
        .clone();
    ok(
        &e,
        &sid,
        "clients.edit",
        json!({"id": other, "orig_rate_table": table}),
    );
    let a = ok(&e, &sid, "accounts.list", json!({"ident": "100"}))["rows"][0]["id"]
        .as_i64()
        .unwrap();
    let call = |ident: &str, kind: Option<&str>| {
        e.authorize(&AuthorizeRequest {
            account: ident.into(),
            auth_type: kind.map(str::to_string),
            destination: "4420".into(),
            ..Default::default()
        })
        .map(|g| {
            e.release(g.reservation).unwrap();
            g.client
        })
        .map_err(|err| err.code().as_str().to_string())
    };
    assert_eq!(call("100", Some("ani")), Ok(client));
    ok(
        &e,
        &sid,
        "accounts.edit",
        json!({"id": a, "ident": "caller-1", "auth_type": "login"}),
    );
    assert_eq!(call("100", None), Err("account.not_found".into()));
    assert_eq!(
        call("caller-1", Some("ani")),
        Err("account.not_found".into())
    );
    assert_eq!(call("caller-1", Some("login")), Ok(client));
    // The freed identifier goes to an account of another client.
    let b = ok(
        &e,
        &sid,
        "accounts.add",
        json!({"id_clients": other, "name": "b", "auth_type": "ani", "ident": "100"}),
    )["id"]
        .as_i64()
        .unwrap();
    assert_eq!(call("100", Some("ani")), Ok(other));
    // Swapped through a third name: each identifier ends on the other account.
    ok(
        &e,
        &sid,
        "accounts.edit",
        json!({"id": b, "ident": "tmp", "auth_type": "login"}),
    );
    ok(
        &e,
        &sid,
        "accounts.edit",
        json!({"id": a, "ident": "100", "auth_type": "ani"}),
    );
    ok(
        &e,
        &sid,
        "accounts.edit",
        json!({"id": b, "ident": "caller-1"}),
    );
    assert_eq!(call("100", Some("ani")), Ok(client));
    assert_eq!(call("caller-1", Some("login")), Ok(other));
    assert_eq!(call("tmp", None), Err("account.not_found".into()));
    ok(&e, &sid, "accounts.delete", json!({"id": b}));
    assert_eq!(call("caller-1", None), Err("account.not_found".into()));
    assert_eq!(call("100", None), Ok(client));
}

#[test]
fn settle_is_idempotent_on_call_id_and_a_reservation_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let path = &common::db_path(dir.path(), "m.db");
    let e = Engine::create(path, ADMIN, PASSWORD).unwrap();
    let sid = e
        .call("auth.login", json!({"login": ADMIN, "password": PASSWORD}))
        .session_id
        .unwrap();
    let (client, _) = vendor_setup(&e, &sid, "10");
    let a = auth(&e, "4401").unwrap();
    let first = settle(&e, a.reservation, "dup", 40);
    let again = e
        .settle(&SettleRequest {
            reservation: Some(a.reservation),
            call_id: "dup".into(),
            duration: 40,
            ..Default::default()
        })
        .unwrap();
    assert!(again.replayed);
    assert_eq!((again.cost, again.xdr), (first.cost, first.xdr));
    let conflict = e.settle(&SettleRequest {
        reservation: Some(a.reservation),
        call_id: "dup".into(),
        duration: 41,
        ..Default::default()
    });
    assert!(
        conflict.is_err(),
        "a replay without the reservation still checks content"
    );
    let b = auth(&e, "4401").unwrap();
    let err = e
        .settle(&SettleRequest {
            reservation: Some(b.reservation),
            call_id: "dup".into(),
            duration: 41,
            ..Default::default()
        })
        .unwrap_err();
    assert_eq!(err.code().as_str(), "idempotency.conflict");
    assert_eq!(
        e.open_reservations(),
        1,
        "a refused settle keeps its reservation for a retry"
    );
    let open = b.reservation;
    let held = e.client_balance_cached(client).unwrap().1;
    assert!(held > Decimal::ZERO);
    drop(e);
    // After a restart the acknowledged reservation is held again, with its id.
    let e = Engine::open(path).unwrap();
    assert_eq!(e.open_reservations(), 1);
    assert_eq!(e.client_balance_cached(client).unwrap().1, held);
    let s = e
        .settle(&SettleRequest {
            reservation: Some(open),
            call_id: "after-restart".into(),
            duration: 10,
            ..Default::default()
        })
        .unwrap();
    assert!(!s.unreserved, "the pre-restart reservation is known");
    assert_eq!(s.cost, d("0.8"));
    // 10 - 0.9667 (40 s) - 0.8
    assert_eq!(s.balance, d("8.2333"));
    assert_eq!(e.client_balance_cached(client).unwrap().1, Decimal::ZERO);
    // An id nobody was given: unknown; with the call's details it still charges, unreserved.
    let forged = open + 7;
    let lost = e.settle(&SettleRequest {
        reservation: Some(forged),
        call_id: "never-reserved".into(),
        duration: 10,
        ..Default::default()
    });
    assert_eq!(lost.unwrap_err().code().as_str(), "reservation.not_found");
    let s = e
        .settle(&SettleRequest {
            reservation: Some(forged),
            call_id: "never-reserved".into(),
            duration: 10,
            account: Some("100".into()),
            destination: Some("4401".into()),
            connect_time: Some(tollgate::clock::parse_dt("2026-01-01 10:00:00").unwrap()),
            ..Default::default()
        })
        .unwrap();
    assert!(s.unreserved);
    assert_eq!(s.balance, d("7.4333"));
    assert!(e.verify_client_ledger(client).unwrap());
    let x = e.call_as_system("xdrs.list", json!({"call_id": "never-reserved"}));
    assert_eq!(x.ret["rows"][0]["unreserved"], true);
}

#[test]
fn tick_releases_expired_reservations() {
    let (e, clock, sid) = engine();
    let (client, _) = vendor_setup(&e, &sid, "10");
    let a = auth(&e, "44").unwrap();
    assert!(e.client_balance_cached(client).unwrap().1 > Decimal::ZERO);
    assert_eq!(e.tick(clock.now_plus(60)).unwrap().reservations_released, 0);
    assert_eq!(e.tick(a.expires_at).unwrap().reservations_released, 1);
    assert_eq!(
        e.client_balance_cached(client),
        Some((d("10"), Decimal::ZERO))
    );
    assert_eq!(e.open_reservations(), 0);
}

trait Later {
    fn now_plus(&self, s: i64) -> chrono::DateTime<chrono::Utc>;
}
impl Later for tollgate::ManualClock {
    fn now_plus(&self, s: i64) -> chrono::DateTime<chrono::Utc> {
        use tollgate::Clock;
        self.now() + chrono::Duration::seconds(s)
    }
}

#[test]
fn transactions_payments_charges_refunds_and_keys() {
    let (e, _c, sid) = engine();
    let c = ok(
        &e,
        &sid,
        "clients.add",
        json!({"name": "Payer", "credit": "5"}),
    )["id"]
        .as_i64()
        .unwrap();
    let pay = |p: Value| call(&e, &sid, "transactions.add", p);
    let r =
        pay(json!({"id_clients": c, "type": "payment", "amount": "0.1", "idempotency_key": "k1"}));
    assert!(r.code);
    assert_eq!(r.ret["transaction"]["balance_after"].to_string(), "0.1");
    // Decimal exactness: 0.1 three times is exactly 0.3.
    pay(json!({"id_clients": c, "type": "payment", "amount": 0.1}));
    pay(json!({"id_clients": c, "type": "payment", "amount": "0.1"}));
    assert_eq!(
        ok(&e, &sid, "clients.editForm", json!({"id": c}))["client"]["balance"].to_string(),
        "0.3"
    );
    // A replay returns the first result; a conflicting reuse is refused.
    let again =
        pay(json!({"id_clients": c, "type": "payment", "amount": "0.10", "idempotency_key": "k1"}));
    assert_eq!(again.ret["transaction"]["id"], r.ret["transaction"]["id"]);
    assert_eq!(again.ret["transaction"]["replayed"], true);
    // A replay changed nothing, so it leaves no audit row.
    let audited = ok(
        &e,
        &sid,
        "audit.list",
        json!({"method": "transactions.add"}),
    )["total"]
        .clone();
    assert_eq!(audited, 3);
    assert_eq!(
        pay(json!({"id_clients": c, "type": "payment", "amount": "0.2", "idempotency_key": "k1"}))
            .errors[0]
            .code
            .as_str(),
        "idempotency.conflict"
    );
    // Charges: positive or negative amounts both debit; past balance + credit is refused
    // unless forced.
    let ch = pay(json!({"id_clients": c, "type": "charge", "amount": "0.3"}));
    assert_eq!(ch.ret["transaction"]["amount"].to_string(), "-0.3");
    assert_eq!(
        pay(json!({"id_clients": c, "type": "charge", "amount": "-5.01"})).errors[0]
            .code
            .as_str(),
        "balance.insufficient"
    );
    assert!(pay(json!({"id_clients": c, "type": "charge", "amount": "-5.01", "force": true})).code);
    assert_eq!(
        pay(json!({"id_clients": c, "type": "refund", "amount": "-1"})).errors[0]
            .code
            .as_str(),
        "validation.out_of_range"
    );
    assert!(pay(json!({"id_clients": c, "type": "refund", "amount": "1.01"})).code);
    assert!(pay(json!({"id_clients": c, "type": "adjustment", "amount": "-0.5"})).code);
    for (params, code) in [
        (
            json!({"id_clients": c, "type": "payment", "amount": 0}),
            "validation.out_of_range",
        ),
        (
            json!({"id_clients": c, "type": "payment", "amount": "1.00001"}),
            "money.precision",
        ),
        (
            json!({"id_clients": c, "type": "payment", "amount": "1e30"}),
            "money.out_of_range",
        ),
        (
            json!({"id_clients": c, "type": "call", "amount": 1}),
            "validation.invalid",
        ),
        (
            json!({"id_clients": c + 100, "type": "payment", "amount": 1}),
            "not_found",
        ),
        (
            json!({"id_clients": c, "type": "payment"}),
            "validation.required",
        ),
    ] {
        let r = pay(params.clone());
        assert_eq!(r.errors[0].code.as_str(), code, "{params}");
    }
    let eur = ok(
        &e,
        &sid,
        "currencies.add",
        json!({"code": "EUR", "name": "Euro"}),
    )["id"]
        .as_i64()
        .unwrap();
    assert_eq!(
        pay(json!({"id_clients": c, "type": "payment", "amount": 1, "id_currencies": eur})).errors
            [0]
        .code
        .as_str(),
        "money.no_exchange_rate"
    );
    ok(
        &e,
        &sid,
        "currencies.ratesAdd",
        json!({"from": eur, "to": 1, "rate": "1.1", "effective_from": "2020-01-01"}),
    );
    let conv =
        pay(json!({"id_clients": c, "type": "payment", "amount": "10", "id_currencies": eur}));
    assert_eq!(d(&conv.ret["transaction"]["amount"].to_string()), d("11"));
    assert_eq!(conv.ret["transaction"]["exchange_rate"].to_string(), "1.1");
    assert_eq!(conv.ret["transaction"]["orig_amount"].to_string(), "10");
    assert!(e.verify_client_ledger(c).unwrap());
    // 0.3 - 0.3 - 5.01 + 1.01 - 0.5 + 11 = 6.5
    let balance =
        ok(&e, &sid, "clients.editForm", json!({"id": c}))["client"]["balance"].to_string();
    assert_eq!(d(&balance), d("6.5"));
}

#[test]
fn balance_equals_the_ledger_after_every_operation_of_a_random_sequence() {
    let (e, _c, sid) = engine();
    let (client, _) = vendor_setup(&e, &sid, "20");
    let mut seed: u64 = 0x2545_F491_4F6C_DD1D;
    let mut next = |n: u64| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed % n
    };
    let mut open = Vec::new();
    for i in 0..300 {
        match next(5) {
            0 => {
                let cents = next(500) + 1;
                ok(
                    &e,
                    &sid,
                    "transactions.add",
                    json!({"id_clients": client, "type": "payment", "amount": format!("{}.{:02}", cents / 100, cents % 100)}),
                );
            }
            1 => {
                let _ = call(
                    &e,
                    &sid,
                    "transactions.add",
                    json!({"id_clients": client, "type": "charge", "amount": format!("0.{:02}", next(99) + 1)}),
                );
            }
            2 => {
                if let Ok(a) = auth(&e, &format!("44{}", next(1000))) {
                    open.push(a.reservation);
                }
            }
            3 if !open.is_empty() => {
                let r = open.swap_remove(next(open.len() as u64) as usize);
                let _ = e.settle(&SettleRequest {
                    reservation: Some(r),
                    call_id: format!("c{i}"),
                    duration: next(200),
                    ..Default::default()
                });
            }
            _ if !open.is_empty() => {
                let r = open.swap_remove(0);
                e.release(r).unwrap();
            }
            _ => {}
        }
        assert!(e.verify_client_ledger(client).unwrap(), "after step {i}");
    }
}

#[test]
fn concurrent_calls_never_spend_past_balance_plus_credit() {
    let (e, _c, sid) = engine();
    let (client, _) = vendor_setup(&e, &sid, "3");
    ok(
        &e,
        &sid,
        "clients.edit",
        json!({"id": client, "credit": "2"}),
    );
    let threads: Vec<_> = (0..8)
        .map(|t| {
            let e = e.clone();
            std::thread::spawn(move || {
                let mut charged = Decimal::ZERO;
                for i in 0..40 {
                    if let Ok(a) = auth(&e, "4477") {
                        // Use every granted second: the worst case for overspending.
                        let s = settle(&e, a.reservation, &format!("t{t}-{i}"), a.granted_seconds);
                        charged += s.cost;
                    }
                }
                charged
            })
        })
        .collect();
    let total: Decimal = threads.into_iter().map(|t| t.join().unwrap()).sum();
    let balance =
        ok(&e, &sid, "clients.editForm", json!({"id": client}))["client"]["balance"].to_string();
    assert!(total <= d("5"), "charged {total} of 3 + 2 credit");
    assert!(total > d("4"), "the funds were used: {total}");
    assert_eq!(d(&balance), d("3") - total, "no update lost");
    assert!(d(&balance) >= d("-2"));
    assert!(e.verify_client_ledger(client).unwrap());
    assert_eq!(e.open_reservations(), 0);
}

#[test]
fn rate_decks_import_all_or_nothing() {
    let (e, _c, sid) = engine();
    let t = ok(&e, &sid, "rateTables.add", json!({"name": "Deck"}))["id"]
        .as_i64()
        .unwrap();
    let header = "code,code_name,rate,min_volume,interval,grace_volume,setup_fee,effective_from,effective_till";
    let good = format!("{header}\n44,UK,0.05,60,60,0,0,2020-01-01,\n447,UK mobile,0.12,30,6,0,0.01,2020-01-01,2030-01-01\n");
    let r = ok(
        &e,
        &sid,
        "rates.import",
        json!({"id_rate_tables": t, "csv": good}),
    );
    assert_eq!(r["imported"], 2);
    assert_eq!(
        ok(&e, &sid, "rates.list", json!({"id_rate_tables": t}))["total"],
        2
    );
    let bad =
        format!("{header}\n49,DE,0.05,60,60,0,0,2020-01-01,\n4x,bad,0.1,0,1,0,0,2020-01-01,\n");
    let f = fails(
        &e,
        &sid,
        "rates.import",
        json!({"id_rate_tables": t, "csv": bad}),
        "rating.deck_invalid",
    );
    assert!(
        f.errors[0].message.contains("line 3"),
        "{}",
        f.errors[0].message
    );
    assert_eq!(f.errors[0].field.as_deref(), Some("code"));
    let overlap = format!("{header}\n44,UK again,0.06,60,60,0,0,2021-01-01,\n");
    let f = fails(
        &e,
        &sid,
        "rates.import",
        json!({"id_rate_tables": t, "csv": overlap, "mode": "add"}),
        "rating.deck_invalid",
    );
    assert!(
        f.errors[0].message.contains("line 2") && f.errors[0].message.contains("existing"),
        "{}",
        f.errors[0].message
    );
    assert_eq!(
        ok(&e, &sid, "rates.list", json!({"id_rate_tables": t}))["total"],
        2,
        "nothing changed"
    );
    let r = ok(
        &e,
        &sid,
        "rates.import",
        json!({"id_rate_tables": t, "csv": overlap, "replace": true}),
    );
    assert_eq!(r["imported"], 1);
    // Replace closes what it replaces (issue 19): the old 44 ends where the new one starts,
    // 447 (missing from the deck) ends now; nothing is deleted.
    assert_eq!(
        (r["changed"].as_u64(), r["closed"].as_u64()),
        (Some(1), Some(1))
    );
    let rows = ok(&e, &sid, "rates.list", json!({"id_rate_tables": t}))["rows"].clone();
    assert_eq!(rows.as_array().unwrap().len(), 3);
    assert_eq!(rows[0]["effective_till"], "2021-01-01 00:00:00+00");
    assert_eq!(rows[2]["code_name"], "UK again");
    // Single rates: non-digit codes, overlaps and excess decimals are refused.
    fails(
        &e,
        &sid,
        "rates.add",
        json!({"id_rate_tables": t, "code": "+44", "rate": 1}),
        "validation.invalid",
    );
    fails(
        &e,
        &sid,
        "rates.add",
        json!({"id_rate_tables": t, "code": "44", "rate": 1, "effective_from": "2022-01-01"}),
        "validation.invalid",
    );
    fails(
        &e,
        &sid,
        "rates.add",
        json!({"id_rate_tables": t, "code": "45", "rate": "0.123456"}),
        "money.precision",
    );
    fails(
        &e,
        &sid,
        "rates.add",
        json!({"id_rate_tables": t, "code": "45", "rate": 1, "effective_from": "2022-01-01", "effective_till": "2021-01-01"}),
        "validation.invalid",
    );
    // A table in use cannot be deleted.
    ok(
        &e,
        &sid,
        "clients.add",
        json!({"name": "user", "orig_rate_table": t}),
    );
    fails(
        &e,
        &sid,
        "rateTables.delete",
        json!({"id": t}),
        "object.in_use",
    );
}

#[test]
fn a_rate_table_in_another_currency_is_converted() {
    let (e, _c, sid) = engine();
    let eur = ok(
        &e,
        &sid,
        "currencies.add",
        json!({"code": "EUR", "name": "Euro"}),
    )["id"]
        .as_i64()
        .unwrap();
    ok(
        &e,
        &sid,
        "currencies.ratesAdd",
        json!({"from": eur, "to": 1, "rate": "1.5", "effective_from": "2020-01-01"}),
    );
    let t = ok(
        &e,
        &sid,
        "rateTables.add",
        json!({"name": "EUR deck", "id_currencies": eur}),
    )["id"]
        .as_i64()
        .unwrap();
    ok(
        &e,
        &sid,
        "rates.add",
        json!({"id_rate_tables": t, "code": "1", "rate": "0.6", "min_volume": 60, "interval": 60, "effective_from": "2020-01-01"}),
    );
    let c = ok(
        &e,
        &sid,
        "clients.add",
        json!({"name": "USD client", "orig_rate_table": t}),
    )["id"]
        .as_i64()
        .unwrap();
    ok(
        &e,
        &sid,
        "accounts.add",
        json!({"id_clients": c, "name": "a", "auth_type": "ani", "ident": "100"}),
    );
    ok(
        &e,
        &sid,
        "transactions.add",
        json!({"id_clients": c, "type": "payment", "amount": "9"}),
    );
    let a = auth(&e, "1555").unwrap();
    assert_eq!(a.rate, d("0.90"));
    assert_eq!(a.max_seconds, 600);
    let s = settle(&e, a.reservation, "fx", 61);
    assert_eq!(s.cost, d("1.8"));
}

#[test]
fn a_quota_grants_in_steps_and_update_extends_while_funds_last() {
    let clock = std::sync::Arc::new(tollgate::ManualClock::new(
        tollgate::clock::parse_dt("2026-01-15 12:00:00").unwrap(),
    ));
    let mut config = tollgate::EngineConfig::default();
    config.charging.quota_seconds = Some(30);
    let opts = tollgate::EngineOptions {
        clock,
        config,
        vfs: None,
    };
    let e = Engine::create_with(&common::fresh_target(), ADMIN, PASSWORD, opts).unwrap();
    let sid = e
        .call("auth.login", json!({"login": ADMIN, "password": PASSWORD}))
        .session_id
        .unwrap();
    let (client, _) = vendor_setup(&e, &sid, "1.3");
    let a = auth(&e, "4420").unwrap();
    // Affordable: 60 s; granted: one quota of 30 s, holding its cost (0.3 + 30/60).
    assert_eq!(
        (a.max_seconds, a.granted_seconds, a.held),
        (60, 30, d("0.8"))
    );
    let u = e.update(a.reservation).unwrap();
    assert_eq!((u.granted_seconds, u.held), (60, d("1.3")));
    // Nothing more is affordable: the grant stays.
    let u = e.update(a.reservation).unwrap();
    assert_eq!((u.granted_seconds, u.held), (60, d("1.3")));
    assert_eq!(e.client_balance_cached(client), Some((d("1.3"), d("1.3"))));
    let r = ok(
        &e,
        &sid,
        "core.update",
        json!({"reservation": a.reservation}),
    );
    assert_eq!(r["granted_seconds"], 60);
    let s = settle(&e, a.reservation, "quota", 45);
    assert_eq!(s.cost, d("1.05"));
    assert_eq!(
        e.client_balance_cached(client),
        Some((d("0.25"), Decimal::ZERO))
    );
    assert_eq!(
        e.update(a.reservation).unwrap_err().code().as_str(),
        "reservation.not_found"
    );
}
