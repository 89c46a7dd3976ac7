//! Attacks on money exactness (issue 13, finding 10): amounts that used to be rounded
//! silently — at the edge of `Decimal`'s 28 digits, through an exponent spelling, or in a
//! conversion's product — are refused with a named error and change nothing, and the balance
//! always equals the sum of its entries.

mod common;
use common::session::*;
use proptest::prelude::*;
use serde_json::{json, Value};
use std::str::FromStr;
use tollgate::{Decimal, Engine};

fn d(s: &str) -> Decimal {
    Decimal::from_str(s).unwrap()
}

fn dec(v: &Value) -> Decimal {
    d(v.to_string().trim_matches('"'))
}

/// The balance `clients.editForm` shows.
fn balance(e: &Engine, sid: &str, c: i64) -> Decimal {
    dec(&ok(e, sid, "clients.editForm", json!({"id": c}))["client"]["balance"])
}

/// The client's entries, as `transactions.list` shows them.
fn entries(e: &Engine, sid: &str, c: i64) -> Vec<Decimal> {
    ok(
        e,
        sid,
        "transactions.list",
        json!({"id_clients": c, "limit": 1000}),
    )["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| dec(&t["amount"]))
        .collect()
}

/// balance (editForm) = Σ entries (transactions.list), and the engine's own check agrees.
fn assert_ledger_holds(e: &Engine, sid: &str, c: i64) -> Decimal {
    let b = balance(e, sid, c);
    let sum = entries(e, sid, c)
        .into_iter()
        .fold(Decimal::ZERO, |s, x| s.checked_add(x).unwrap());
    assert_eq!(b, sum, "balance ≠ Σ entries");
    assert!(e.verify_client_ledger(c).unwrap());
    b
}

fn pay(e: &Engine, sid: &str, c: i64, amount: Value) -> tollgate::Envelope {
    call(
        e,
        sid,
        "transactions.add",
        json!({"id_clients": c, "type": "payment", "amount": amount}),
    )
}

fn code(r: &tollgate::Envelope) -> &str {
    assert!(!r.code, "should have been refused: {}", r.ret);
    r.errors[0].code.as_str()
}

/// Reproduction 1: a payment of 7922816251426433759354395033 then one of 0.01. The 0.01 was
/// booked while `balance_after` stayed …033.0, so the list and the balance disagreed.
#[test]
fn a_payment_beyond_the_limit_is_refused_and_a_cent_is_never_lost() {
    let (e, _c, sid) = engine();
    let c = client(&e, &sid, "Whale");
    for amount in [
        json!("7922816251426433759354395033"),
        json!(7922816251426433759354395033u128),
        json!("7.922816251426433759354395033e27"),
        json!("1e15"),
        json!("1000000000000000"),
    ] {
        assert_eq!(code(&pay(&e, &sid, c, amount)), "money.out_of_range");
    }
    assert!(entries(&e, &sid, c).is_empty(), "a refusal books nothing");
    let r = pay(&e, &sid, c, json!("0.01"));
    assert!(r.code, "{:?}", r.errors);
    assert_eq!(r.ret["transaction"]["balance_after"].to_string(), "0.01");
    assert_eq!(assert_ledger_holds(&e, &sid, c), d("0.01"));

    // The same attack just inside the limit: the balance would reach 10^15, so the cent that
    // would cross it is refused, whole, instead of being rounded away.
    let top = pay(&e, &sid, c, json!("999999999999999.98"));
    assert!(top.code, "{:?}", top.errors);
    assert_eq!(
        top.ret["transaction"]["balance_after"].to_string(),
        "999999999999999.99"
    );
    let before = entries(&e, &sid, c).len();
    assert_eq!(code(&pay(&e, &sid, c, json!("0.01"))), "money.out_of_range");
    assert_eq!(entries(&e, &sid, c).len(), before, "nothing was booked");
    assert_eq!(assert_ledger_holds(&e, &sid, c), d("999999999999999.99"));
}

/// Reproduction 1 over REST: PortaBilling's make_transaction is refused the same way.
#[test]
fn the_same_payment_over_rest_is_refused() {
    let (e, _c, sid) = engine();
    let c = client(&e, &sid, "Whale");
    let (s, b) = e.rest(
        "Session",
        "login",
        &json!({"params": {"login": ADMIN, "password": PASSWORD}}),
        None,
    );
    assert_eq!(s, 200, "{b}");
    let token = b["access_token"].as_str().unwrap().to_string();
    let make = |amount: Value| {
        e.rest(
            "Customer",
            "make_transaction",
            &json!({"params": {"i_customer": c, "action": "Manual payment", "amount": amount}}),
            Some(&token),
        )
    };
    let (s, b) = make(json!("7922816251426433759354395033"));
    assert_eq!(s, 500, "{b}");
    assert_eq!(
        b["faultcode"],
        "Client.Customer.make_transaction.money_out_of_range"
    );
    let (s, b) = make(json!("0.01"));
    assert_eq!(s, 200, "{b}");
    assert_eq!(b["balance"].to_string(), "0.01");
    assert_eq!(assert_ledger_holds(&e, &sid, c), d("0.01"));
}

fn euro(e: &Engine, sid: &str, rate: &str) -> i64 {
    let eur = ok(
        e,
        sid,
        "currencies.add",
        json!({"code": "EUR", "name": "Euro"}),
    )["id"]
        .as_i64()
        .unwrap();
    ok(
        e,
        sid,
        "currencies.ratesAdd",
        json!({"from": eur, "to": 1, "rate": rate, "effective_from": "2020-01-01"}),
    );
    eur
}

/// Reproduction 2: a conversion of a 27-digit amount at rate 1.1 was booked rounded to 28
/// digits (`…170.43` instead of the exact `…170.4320`). It is now out of range, and inside
/// the range a conversion is rounded once, from the exact product.
#[test]
fn a_conversion_is_exact_before_its_one_rounding() {
    let (e, _c, sid) = engine();
    let c = client(&e, &sid, "Abroad");
    let eur = euro(&e, &sid, "1.1");
    let huge = "154936145641283625241288791.2";
    let r = call(
        &e,
        &sid,
        "transactions.add",
        json!({"id_clients": c, "type": "payment", "amount": huge, "id_currencies": eur}),
    );
    assert_eq!(code(&r), "money.out_of_range");
    let r = call(
        &e,
        &sid,
        "currencies.convert",
        json!({"amount": huge, "from": eur, "to": 1}),
    );
    assert_eq!(code(&r), "money.out_of_range");
    assert!(entries(&e, &sid, c).is_empty());

    // Inside the limits, an exact product of 30 digits: Decimal's multiplication cut it to
    // 28 digits (…7334|5000…) and the booking rounded that half up to …7335; the exact
    // value …73344999999999 rounds to …7334.
    ok(
        &e,
        &sid,
        "currencies.ratesAdd",
        json!({"from": eur, "to": 1, "rate": "0.987654321097", "effective_from": "2021-01-01"}),
    );
    let r = call(
        &e,
        &sid,
        "transactions.add",
        json!({"id_clients": c, "type": "payment", "amount": "100000005583154.567", "id_currencies": eur}),
    );
    assert!(r.code, "{:?}", r.errors);
    assert_eq!(
        dec(&r.ret["transaction"]["amount"]),
        d("98765437623926.7334")
    );
    assert_eq!(
        dec(&r.ret["transaction"]["orig_amount"]),
        d("100000005583154.567")
    );
    let conv = ok(
        &e,
        &sid,
        "currencies.convert",
        json!({"amount": "100000005583154.567", "from": eur, "to": 1}),
    );
    assert_eq!(dec(&conv["result"]), d("98765437623926.7334"));
    assert_eq!(assert_ledger_holds(&e, &sid, c), d("98765437623926.7334"));
    // The inverse direction divides exactly: 0.03 USD at 3 USD per EUR is exactly 0.01 EUR.
    let gbp = ok(
        &e,
        &sid,
        "currencies.add",
        json!({"code": "GBP", "name": "Pound"}),
    )["id"]
        .as_i64()
        .unwrap();
    ok(
        &e,
        &sid,
        "currencies.ratesAdd",
        json!({"from": gbp, "to": 1, "rate": "3", "effective_from": "2020-01-01"}),
    );
    let back = ok(
        &e,
        &sid,
        "currencies.convert",
        json!({"amount": "0.03", "from": 1, "to": gbp}),
    );
    assert_eq!(dec(&back["result"]), d("0.01"));
    // An exchange rate outside its limits is refused.
    for (rate, want) in [
        ("1000000000", "money.out_of_range"),
        ("1234.567890123", "money.out_of_range"),
        ("1.0000000000001", "money.precision"),
    ] {
        fails(
            &e,
            &sid,
            "currencies.ratesAdd",
            json!({"from": gbp, "to": 1, "rate": rate, "effective_from": "2022-01-01"}),
            want,
        );
    }
}

/// Reproduction 3: `1.0000000000000000000000000000001e0` as a credit was stored as 1 while
/// the same value without the exponent was refused, and `1.00000000000000000000000000001e0`
/// as a payment was booked as 1 although `1.00001` is refused for its 5 places. Every
/// spelling now goes through one exact rule.
#[test]
fn an_exponent_spelling_is_held_to_the_same_places_as_a_plain_one() {
    let (e, _c, sid) = engine();
    let c = client(&e, &sid, "Speller");
    ok(&e, &sid, "clients.edit", json!({"id": c, "credit": "5"}));
    for credit in [
        json!("1.0000000000000000000000000000001e0"),
        json!("1.0000000000000000000000000000001"),
        serde_json::from_str::<Value>("1.0000000000000000000000000000001e0").unwrap(),
        json!("10000000000000000000000000000001e-31"),
    ] {
        let r = call(&e, &sid, "clients.edit", json!({"id": c, "credit": credit}));
        assert_eq!(code(&r), "money.precision", "{credit}");
        assert_eq!(r.errors[0].field.as_deref(), Some("credit"));
    }
    let credit = &ok(&e, &sid, "clients.editForm", json!({"id": c}))["client"]["credit"];
    assert_eq!(dec(credit), d("5"), "the credit did not change");
    for amount in [
        json!("1.00000000000000000000000000001e0"),
        serde_json::from_str::<Value>("1.00000000000000000000000000001e0").unwrap(),
        json!("1.00001"),
        json!("1.00001e0"),
        json!("100001e-5"),
    ] {
        assert_eq!(
            code(&pay(&e, &sid, c, amount.clone())),
            "money.precision",
            "{amount}"
        );
    }
    assert!(entries(&e, &sid, c).is_empty(), "nothing was booked");
    // Exact exponent spellings within the places are fine, and mean what they say.
    for (amount, booked) in [("1.5e1", "15"), ("12345e-4", "1.2345"), ("1.00000e0", "1")] {
        let r = pay(&e, &sid, c, json!(amount));
        assert!(r.code, "{amount}: {:?}", r.errors);
        assert_eq!(dec(&r.ret["transaction"]["amount"]), d(booked));
    }
    assert_eq!(assert_ledger_holds(&e, &sid, c), d("17.2345"));
}

const LIMIT: i128 = 1_000_000_000_000_000; // 10^15 units

/// One posting of a random sequence: a kind and an amount spelled as text.
#[derive(Debug, Clone)]
struct Step {
    kind: &'static str,
    text: String,
    /// The value when it is inside the amount limits (the model's view).
    value: Option<Decimal>,
}

fn step() -> impl Strategy<Value = Step> {
    // Mantissas near the limit (in 10^-4 units) and small ones.
    let units = prop_oneof![
        (LIMIT * 10_000 - 1_000_000)..(LIMIT * 10_000),
        1i128..1_000_000,
        (LIMIT * 5_000)..(LIMIT * 5_000 + 1_000),
    ];
    let inside = (units, any::<bool>(), 0usize..3, any::<bool>()).prop_map(
        |(u, exponent, kind, negative)| {
            let kind = ["payment", "charge", "adjustment"][kind];
            let v = Decimal::from_i128_with_scale(u, 4);
            let signed = if kind == "adjustment" && negative {
                -v
            } else {
                v
            };
            let text = if exponent {
                format!("{}e-4", signed.mantissa())
            } else {
                signed.to_string()
            };
            Step {
                kind,
                text,
                value: Some(signed),
            }
        },
    );
    let outside = prop_oneof![
        Just("1000000000000000".to_string()),
        Just("1e15".to_string()),
        Just("-1e15".to_string()),
        Just("7922816251426433759354395033".to_string()),
        Just("99999999999999999999999999999999".to_string()),
        Just("1e40".to_string()),
    ]
    .prop_map(|text| {
        let kind = if text.starts_with('-') {
            "adjustment"
        } else {
            "payment"
        };
        Step {
            kind,
            text,
            value: None,
        }
    });
    prop_oneof![4 => inside, 1 => outside]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(12))]

    /// Random postings near the limits: each one is booked exactly or refused with
    /// `money.out_of_range` and changes nothing; balance (editForm) = Σ entries (list) always.
    #[test]
    fn postings_near_the_limits_keep_balance_equal_to_the_sum_of_entries(
        steps in proptest::collection::vec(step(), 1..14)
    ) {
        let (e, _c, sid) = engine();
        let c = client(&e, &sid, "Random");
        let bound = Decimal::from_i128_with_scale(LIMIT, 0);
        let mut model = Decimal::ZERO;
        let mut booked = 0usize;
        for s in &steps {
            // force: debits may take the balance as low as the limits allow.
            let params = json!({"id_clients": c, "type": s.kind, "amount": s.text, "force": true});
            let r = call(&e, &sid, "transactions.add", params);
            let delta = s.value.map(|v| if s.kind == "charge" { -v.abs() } else { v });
            let next = delta.and_then(|v| model.checked_add(v)).filter(|n| n.abs() < bound);
            match next {
                Some(n) => {
                    prop_assert!(r.code, "{:?} refused: {:?}", s, r.errors);
                    prop_assert_eq!(dec(&r.ret["transaction"]["balance_after"]), n);
                    model = n;
                    booked += 1;
                }
                None => {
                    prop_assert!(!r.code, "{:?} accepted: {}", s, r.ret);
                    prop_assert_eq!(r.errors[0].code.as_str(), "money.out_of_range", "{:?}", s);
                }
            }
            prop_assert_eq!(entries(&e, &sid, c).len(), booked);
            prop_assert_eq!(assert_ledger_holds(&e, &sid, c), model);
        }
    }
}

/// The hot path through an inverse exchange rate: a EUR table priced for a USD client when
/// only USD→EUR = 3 is known. 300000.03 EUR a minute is exactly 100000.01 USD; the old
/// `(1/3 to 28 digits) · 300000.03` was 100000.0099999999999999999999, which a `floor` table
/// then billed as 100000.0099.
#[test]
fn a_call_priced_through_an_inverse_rate_is_not_cut_short() {
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
        json!({"from": 1, "to": eur, "rate": "3", "effective_from": "2020-01-01"}),
    );
    let t = ok(
        &e,
        &sid,
        "rateTables.add",
        json!({"name": "EUR deck", "id_currencies": eur, "rounding": "floor"}),
    )["id"]
        .as_i64()
        .unwrap();
    ok(
        &e,
        &sid,
        "rates.add",
        json!({"id_rate_tables": t, "code": "1", "rate": "300000.03", "min_volume": 60, "interval": 60, "effective_from": "2020-01-01"}),
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
    assert!(pay(&e, &sid, c, json!("200000")).code);
    let a = auth(&e, "1555").unwrap();
    assert_eq!(a.rate, d("100000.01"));
    let s = settle(&e, a.reservation, "inv", 60);
    assert_eq!(s.cost, d("100000.01"));
    assert_eq!(assert_ledger_holds(&e, &sid, c), d("99999.99"));
    // A rate beyond its limit is refused where it is written.
    fails(
        &e,
        &sid,
        "rates.add",
        json!({"id_rate_tables": t, "code": "2", "rate": "1000000", "effective_from": "2020-01-01"}),
        "money.out_of_range",
    );
}
