//! Imports (issue 19): a 1,000,000-line Asterisk `Master.csv` charged through
//! `Engine::import_cdrs` (parse, rate, unreserved settle by group commit, xDR, ledger entry
//! and audit row per call) into a SQLite file; and a 100,000-line carrier deck loaded by
//! `Engine::import_rates_with`, both into an empty table and as price changes over 100,000
//! existing rates (every row closes one and adds one).
//!
//! Each iteration gets a fresh database or table (built outside the timing). The CDR file is
//! generated while it is read, so no 200 MB file is written to disk. One iteration of the
//! 1,000,000-line import takes minutes: `TOLLGATE_BENCH_CDR_LINES=100000` measures a shorter
//! file (the work per line does not grow with the file).

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, SamplingMode, Throughput};
use serde_json::json;
use std::fmt::Write as _;
use std::io::Read;
use std::time::Duration;

use tollgate::Engine;

/// Lines of the CDR file: 1,000,000 unless `TOLLGATE_BENCH_CDR_LINES` says.
fn cdr_lines() -> u64 {
    std::env::var("TOLLGATE_BENCH_CDR_LINES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000)
}
const DECK_LINES: usize = 100_000;
const CODES: usize = 10_000;
const ACCOUNTS: u64 = 100;

fn ok(e: &Engine, method: &str, params: serde_json::Value) -> serde_json::Value {
    let r = e.call_as_system(method, params);
    assert!(r.code, "{method}: {:?}", r.errors);
    r.ret
}

fn deck(lines: usize, rate_base: usize, from: &str) -> String {
    let mut d = String::from("Prefix;Destination;Rate;Effective Date;Billing Increment\n");
    for i in 0..lines {
        let _ = writeln!(
            d,
            "{};Destination {i};0,{:04};{from};60/60",
            1000 + i,
            1 + (i + rate_base) % 9999
        );
    }
    d
}

/// A file database with a `CODES`-code table and `ACCOUNTS` accounts (accountcodes
/// `acc0`..), each client funded.
fn cdr_world(dir: &tempfile::TempDir, n: usize) -> Engine {
    let path = dir.path().join(format!("cdr-{n}.db"));
    let e = Engine::create(path.to_str().unwrap(), "admin", "bench-passw0rd").unwrap();
    let table = ok(&e, "rateTables.add", json!({"name": "bench"}))["id"]
        .as_i64()
        .unwrap();
    e.import_rates(table, &mut deck(CODES, 0, "2020-01-01").as_bytes(), false)
        .unwrap();
    for a in 0..ACCOUNTS {
        let client = ok(
            &e,
            "clients.add",
            json!({"name": format!("c{a}"), "orig_rate_table": table}),
        )["id"]
            .clone();
        ok(
            &e,
            "accounts.add",
            json!({"id_clients": client, "name": format!("acc{a}"), "auth_type": "login", "ident": format!("acc{a}")}),
        );
        ok(
            &e,
            "transactions.add",
            json!({"id_clients": client, "type": "payment", "amount": "1000000"}),
        );
    }
    e
}

/// `lines` Master.csv lines (loguniqueid=yes), made as they are read.
struct MasterCsv {
    lines: u64,
    next: u64,
    line: Vec<u8>,
    at: usize,
}

impl Read for MasterCsv {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.at == self.line.len() {
            if self.next == self.lines {
                return Ok(0);
            }
            let i = self.next;
            self.next += 1;
            let (h, m, s) = ((i / 3600) % 24, (i / 60) % 60, i % 60);
            self.line.clear();
            let text = format!(
                "\"acc{}\",\"{}\",\"{}{:04}\",\"default\",\"\"\"x\"\" <{}>\",\"SIP/a-{i:08x}\",\"SIP/b\",\"Dial\",\"SIP/b/x\",\"2026-01-01 {h:02}:{m:02}:{s:02}\",\"2026-01-01 {h:02}:{m:02}:{s:02}\",\"2026-01-01 {h:02}:{m:02}:{s:02}\",{},{},\"ANSWERED\",\"DOCUMENTATION\",\"1767225600.{i}\",\"\"\n",
                i % ACCOUNTS,
                7000 + i % ACCOUNTS,
                1000 + i % CODES as u64,
                i % 10_000,
                7000 + i % ACCOUNTS,
                65 + i % 300,
                60 + i % 300
            );
            self.line.extend_from_slice(text.as_bytes());
            self.at = 0;
        }
        let n = buf.len().min(self.line.len() - self.at);
        buf[..n].copy_from_slice(&self.line[self.at..self.at + n]);
        self.at += n;
        Ok(n)
    }
}

fn cdrs(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let mut g = c.benchmark_group("import_cdrs");
    g.sample_size(10)
        .sampling_mode(SamplingMode::Flat)
        .measurement_time(Duration::from_secs(60))
        .throughput(Throughput::Elements(cdr_lines()));
    let read = tollgate::api::cdr_options("asterisk", Some("UTC"), Some(true)).unwrap();
    let mut n = 0;
    let lines = cdr_lines();
    g.bench_function(format!("asterisk_{lines}_lines"), |b| {
        b.iter_batched(
            || {
                n += 1;
                cdr_world(&dir, n)
            },
            |e| {
                let mut input = MasterCsv {
                    lines,
                    next: 0,
                    line: Vec::new(),
                    at: 0,
                };
                let r = e
                    .import_cdrs(
                        &mut input,
                        &tollgate::CdrImport {
                            read,
                            dry_run: false,
                        },
                    )
                    .unwrap();
                assert_eq!(
                    (r.imported, r.refused_count),
                    (lines, 0),
                    "{:?}",
                    r.refused.first()
                );
                e
            },
            BatchSize::PerIteration,
        )
    });
    g.finish();
}

fn decks(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let e = Engine::create(
        dir.path().join("decks.db").to_str().unwrap(),
        "admin",
        "bench-passw0rd",
    )
    .unwrap();
    let first = deck(DECK_LINES, 0, "2026-01-01");
    let change = deck(DECK_LINES, 7, "2026-02-01");
    let mut g = c.benchmark_group("import_rates");
    g.sample_size(10)
        .throughput(Throughput::Elements(DECK_LINES as u64));
    let opts = tollgate::ImportOptions::default();
    g.bench_function("deck_100k_into_empty_table", |b| {
        b.iter_batched(
            || {
                ok(&e, "rateTables.add", json!({"name": "t"}))["id"]
                    .as_i64()
                    .unwrap()
            },
            |t| {
                let (v, _) = e
                    .import_rates_with(t, &mut first.as_bytes(), &opts)
                    .unwrap();
                assert_eq!(v["added"], DECK_LINES);
            },
            BatchSize::PerIteration,
        )
    });
    g.bench_function("deck_100k_price_changes_over_100k_rates", |b| {
        b.iter_batched(
            || {
                let t = ok(&e, "rateTables.add", json!({"name": "t"}))["id"]
                    .as_i64()
                    .unwrap();
                e.import_rates_with(t, &mut first.as_bytes(), &opts)
                    .unwrap();
                t
            },
            |t| {
                let (v, _) = e
                    .import_rates_with(t, &mut change.as_bytes(), &opts)
                    .unwrap();
                assert_eq!(v["changed"], DECK_LINES);
            },
            BatchSize::PerIteration,
        )
    });
    g.finish();
}

criterion_group!(benches, decks, cdrs);
criterion_main!(benches);
