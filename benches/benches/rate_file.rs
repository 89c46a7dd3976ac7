//! `tollgate rate`: rating a file of calls through `Engine::rate` (the settle plan and
//! formula, from memory) with the streaming CSV reader and writer of `rate_csv`.
//!
//! Each iteration rates 100,000 generated calls against a 10,000-code deck and 100
//! accounts; the time for 1,000,000 lines is ten times the reported figure (the work per line
//! does not depend on the file's length: no state grows with it). Criterion's throughput
//! line gives lines per second directly.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use serde_json::json;
use std::fmt::Write as _;
use std::hint::black_box;

use tollgate::Engine;
use tollgate_benches::SplitMix;

const LINES: usize = 100_000;
const CODES: usize = 10_000;
const ACCOUNTS: usize = 100;

fn ok(e: &Engine, method: &str, params: serde_json::Value) -> serde_json::Value {
    let r = e.call_as_system(method, params);
    assert!(r.code, "{method}: {:?}", r.errors);
    r.ret
}

/// An engine with one rate table of `CODES` codes (prefixes 1000..) and `ACCOUNTS` ANI
/// accounts `5000..` on one client.
fn setup() -> Engine {
    let e = Engine::create(":memory:", "admin", "bench-passw0rd").unwrap();
    let table = ok(&e, "rateTables.add", json!({"name": "bench"}))["id"]
        .as_i64()
        .unwrap();
    let mut deck = String::from(
        "code,code_name,rate,min_volume,interval,grace_volume,setup_fee,effective_from,effective_till\n",
    );
    for i in 0..CODES {
        let _ = writeln!(
            deck,
            "{},Destination {i},0.{:04},30,6,2,0.01,2020-01-01,",
            1000 + i,
            1 + i % 9999
        );
    }
    e.import_rates(table, &mut deck.as_bytes(), false).unwrap();
    let client = ok(
        &e,
        "clients.add",
        json!({"name": "bench", "orig_rate_table": table}),
    )["id"]
        .clone();
    for a in 0..ACCOUNTS {
        ok(
            &e,
            "accounts.add",
            json!({"id_clients": client, "name": format!("a{a}"), "auth_type": "ani", "ident": format!("{}", 5000 + a)}),
        );
    }
    e
}

/// `LINES` calls: random accounts, destinations under the deck's codes (1 in 100 with no
/// rate), durations 0..600 s.
fn calls() -> Vec<u8> {
    let mut rng = SplitMix(42);
    let mut s = String::with_capacity(LINES * 64);
    s.push_str("call_id,account,destination,connect_time,duration\n");
    for i in 0..LINES {
        let code = if rng.below(100) == 0 {
            999
        } else {
            1000 + rng.below(CODES as u64)
        };
        let _ = writeln!(
            s,
            "call-{i},{},{code}{:07},2026-01-15 {:02}:{:02}:{:02},{}",
            5000 + rng.below(ACCOUNTS as u64),
            rng.below(10_000_000),
            rng.below(24),
            rng.below(60),
            rng.below(60),
            rng.below(600)
        );
    }
    s.into_bytes()
}

fn bench(c: &mut Criterion) {
    let engine = setup();
    let input = calls();
    let mut g = c.benchmark_group("rate_file");
    g.sample_size(10);
    g.throughput(Throughput::Elements(LINES as u64));
    g.bench_function("rate_100k_lines", |b| {
        b.iter(|| {
            let s = engine
                .rate_csv(black_box(input.as_slice()), std::io::sink())
                .unwrap();
            assert_eq!(s.rows, LINES as u64);
            s
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
