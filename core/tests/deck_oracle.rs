//! Property (issue 19): for random decks with random future price changes, imported one
//! after another in `update` mode, every call costs what an independent oracle computes
//! from the rate in force at its connect time (longest prefix, per-second billing, half-up
//! to 4 places, in integer arithmetic). A few calls per case are settled for real too.

mod common;

use proptest::prelude::*;
use serde_json::json;
use std::sync::Arc;
use tollgate::{Engine, EngineOptions, ManualClock, RateRequest, SettleRequest};

const CODES: [&str; 5] = ["4", "44", "441", "33", "331"];
const DAY: i64 = 86_400;

/// One deck: for some codes, a price (in 1/10000) from day `day`.
#[derive(Debug, Clone)]
struct Deck {
    day: i64,
    prices: Vec<(usize, i64)>,
}

fn decks() -> impl Strategy<Value = Vec<Deck>> {
    let first = proptest::collection::vec(1i64..=20_000, CODES.len()).prop_map(|p| Deck {
        day: 0,
        prices: p.into_iter().enumerate().collect(),
    });
    let change = (
        1i64..60,
        proptest::collection::btree_map(0usize..CODES.len(), 1i64..=20_000, 1..4),
    )
        .prop_map(|(day, m)| Deck {
            day,
            prices: m.into_iter().collect(),
        });
    (first, proptest::collection::vec(change, 0..5)).prop_map(|(f, mut rest)| {
        // Decks arrive in date order (a carrier's later deck announces a later change).
        rest.sort_by_key(|d| d.day);
        rest.dedup_by_key(|d| d.day);
        let mut all = vec![f];
        all.extend(rest);
        all
    })
}

fn calls() -> impl Strategy<Value = Vec<(usize, String, i64, u64)>> {
    proptest::collection::vec(
        (
            0usize..CODES.len(),
            "[0-9]{0,4}",
            0i64..70 * DAY,
            1u64..3600,
        ),
        1..25,
    )
}

/// The oracle: the price in force for `dst` at `t` (longest code with a price), then the
/// cost in 1/10000, half up: round(price · seconds / 60).
fn oracle(decks: &[Deck], dst: &str, t: i64) -> Option<i64> {
    let price_of = |code: usize| {
        let mut price = None;
        for d in decks {
            if d.day * DAY <= t {
                if let Some((_, p)) = d.prices.iter().find(|(c, _)| *c == code) {
                    price = Some(*p);
                }
            }
        }
        price
    };
    (0..CODES.len())
        .filter(|&c| dst.starts_with(CODES[c]))
        .max_by_key(|&c| CODES[c].len())
        .and_then(price_of)
}

fn cost_units(price: i64, seconds: u64) -> i128 {
    let n = i128::from(price) * i128::from(seconds);
    (2 * n + 60) / 120
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn every_call_costs_what_the_rate_in_force_at_connect_time_says(decks in decks(), calls in calls()) {
        let dir = tempfile::tempdir().unwrap();
        let start = tollgate::clock::parse_dt("2026-01-01").unwrap();
        let clock = Arc::new(ManualClock::new(start));
        let opts = EngineOptions { clock, ..EngineOptions::default() };
        let e = Engine::create_with(&common::db_path(dir.path(), "p.db"), "admin", "admin-password-1", opts).unwrap();
        let call = |m: &str, p: serde_json::Value| {
            let r = e.call_as_system(m, p);
            assert!(r.code, "{m}: {:?}", r.errors);
            r.ret
        };
        let table = call("rateTables.add", json!({"name": "t"}))["id"].as_i64().unwrap();
        let client = call("clients.add", json!({"name": "c", "orig_rate_table": table}))["id"].as_i64().unwrap();
        call("accounts.add", json!({"id_clients": client, "name": "a", "auth_type": "ani", "ident": "100"}));
        call("transactions.add", json!({"id_clients": client, "type": "payment", "amount": "1000000"}));
        for d in &decks {
            let from = tollgate::clock::format_dt(start + chrono::Duration::seconds(d.day * DAY));
            let mut csv = String::from("prefix,rate,effective date,billing increment\n");
            for (c, p) in &d.prices {
                csv += &format!("{},{}.{:04},{},1/1\n", CODES[*c], p / 10_000, p % 10_000, &from[..19]);
            }
            call("rates.import", json!({"id_rate_tables": table, "csv": csv}));
        }
        for (i, (code, tail, t, seconds)) in calls.iter().enumerate() {
            let dst = format!("{}{tail}", CODES[*code]);
            let at = start + chrono::Duration::seconds(*t);
            let want = oracle(&decks, &dst, *t).map(|p| cost_units(p, *seconds));
            let got = e.rate(&RateRequest { account: "100", auth_type: None, destination: &dst, connect_time: at, duration: *seconds });
            match (want, &got) {
                (Some(units), Ok(r)) => {
                    let want = tollgate::Decimal::from_i128_with_scale(units, 4);
                    prop_assert_eq!(r.cost, want, "{} at {}: {:?}", dst, at, decks);
                }
                (None, Err(err)) => prop_assert_eq!(err.code().as_str(), "rating.no_rate"),
                (w, g) => prop_assert!(false, "{dst} at {at}: oracle {w:?}, engine {g:?}"),
            }
            if i < 3 && want.is_some() {
                let s = e.settle(&SettleRequest {
                    call_id: format!("call-{i}"),
                    duration: *seconds,
                    account: Some("100".into()),
                    destination: Some(dst.clone()),
                    connect_time: Some(at),
                    ..SettleRequest::default()
                }).unwrap();
                prop_assert_eq!(s.cost, got.unwrap().cost);
            }
        }
    }
}
