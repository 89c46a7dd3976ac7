//! Invoices (issue 18): `invoices.add` of one client's month of 100,000 calls over 100
//! destinations (the xDRs read and grouped, lines, totals, tax entry, and every xDR marked as
//! covered), in a SQLite file. The calls are imported once (an Asterisk `Master.csv` through
//! `Engine::import_cdrs`); each iteration voids the previous invoice outside the timing (which
//! frees the month) and times issuing it again.

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, SamplingMode, Throughput};
use serde_json::json;
use std::fmt::Write as _;
use std::time::Duration;

use tollgate::Engine;

const CALLS: u64 = 100_000;
const CODES: usize = 100;

fn ok(e: &Engine, method: &str, params: serde_json::Value) -> serde_json::Value {
    let r = e.call_as_system(method, params);
    assert!(r.code, "{method}: {:?}", r.errors);
    r.ret
}

/// A file database with one funded client on a `CODES`-destination table and `CALLS`
/// January calls of its account.
fn world(dir: &tempfile::TempDir) -> (Engine, i64) {
    let path = dir.path().join("invoices.db");
    let e = Engine::create(path.to_str().unwrap(), "admin", "bench-passw0rd").unwrap();
    let table = ok(&e, "rateTables.add", json!({"name": "bench"}))["id"]
        .as_i64()
        .unwrap();
    let mut deck = String::from("Prefix;Destination;Rate;Effective Date;Billing Increment\n");
    for i in 0..CODES {
        let _ = writeln!(
            deck,
            "{};Destination {i};0,{:04};2020-01-01;1/1",
            1000 + i,
            1 + i * 97 % 9999
        );
    }
    e.import_rates(table, &mut deck.as_bytes(), false).unwrap();
    let vat = ok(
        &e,
        "taxProfiles.add",
        json!({"name": "VAT", "percent": "20"}),
    )["id"]
        .clone();
    let client = ok(
        &e,
        "clients.add",
        json!({"name": "big", "orig_rate_table": table, "id_taxes_profiles": vat}),
    )["id"]
        .as_i64()
        .unwrap();
    ok(
        &e,
        "accounts.add",
        json!({"id_clients": client, "name": "acc0", "auth_type": "login", "ident": "acc0"}),
    );
    ok(
        &e,
        "transactions.add",
        json!({"id_clients": client, "type": "payment", "amount": "100000000"}),
    );
    let mut csv = String::new();
    for i in 0..CALLS {
        let day = 1 + i % 31;
        let (h, m, s) = ((i / 3600) % 24, (i / 60) % 60, i % 60);
        let at = format!("2026-01-{day:02} {h:02}:{m:02}:{s:02}");
        let _ = writeln!(
            csv,
            "\"acc0\",\"7000\",\"{}{:04}\",\"default\",\"\"\"x\"\" <7000>\",\"SIP/a-{i:08x}\",\"SIP/b\",\"Dial\",\"SIP/b/x\",\"{at}\",\"{at}\",\"{at}\",{},{},\"ANSWERED\",\"DOCUMENTATION\",\"1767225600.{i}\",\"\"",
            1000 + i % CODES as u64,
            i % 10_000,
            65 + i % 300,
            60 + i % 300
        );
    }
    let read = tollgate::api::cdr_options("asterisk", Some("UTC"), Some(true)).unwrap();
    let r = e
        .import_cdrs(
            &mut csv.as_bytes(),
            &tollgate::CdrImport {
                read,
                dry_run: false,
            },
        )
        .unwrap();
    assert_eq!(r.imported, CALLS, "{:?}", r.refused.first());
    (e, client)
}

fn invoice_month(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let (e, client) = world(&dir);
    let mut g = c.benchmark_group("invoices");
    g.sample_size(10)
        .sampling_mode(SamplingMode::Flat)
        .measurement_time(Duration::from_secs(30))
        .throughput(Throughput::Elements(CALLS));
    let last: std::cell::Cell<Option<i64>> = std::cell::Cell::new(None);
    g.bench_function("add_month_of_100k_calls", |b| {
        b.iter_batched(
            || {
                if let Some(id) = last.take() {
                    ok(&e, "invoices.void", json!({"id": id, "reason": "bench"}));
                }
            },
            |()| {
                let r = ok(
                    &e,
                    "invoices.add",
                    json!({"id_clients": client, "dt_from": "2026-01-01", "dt_till": "2026-02-01"}),
                );
                last.set(r["id"].as_i64());
            },
            BatchSize::PerIteration,
        )
    });
    g.finish();
    // The invoice covers every call: one line per destination, 100,000 calls in all.
    let id = last.get().expect("an invoice");
    let inv = ok(&e, "invoices.editForm", json!({"id": id}))["invoice"].clone();
    let lines = inv["lines"].as_array().unwrap();
    assert_eq!(lines.len(), CODES);
    let calls: u64 = lines.iter().map(|l| l["calls"].as_u64().unwrap()).sum();
    assert_eq!(calls, CALLS);
}

criterion_group!(benches, invoice_month);
criterion_main!(benches);
