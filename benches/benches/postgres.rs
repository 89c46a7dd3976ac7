//! PostgreSQL mode (issue 16): durable authorize + settle with 8 and 64 callers through one
//! engine on a PostgreSQL database, beside the naive way on the same server — one
//! PostgreSQL transaction per call (lock the account's client row `FOR UPDATE`, find the
//! longest matching prefix, update the balance, insert the xDR and the ledger row, commit),
//! 64 connections — and beside the same engine on an SQLite file. Also `authorize` latency
//! p50/p99 with 64 callers in PostgreSQL mode.
//!
//! Needs a server: `TOLLGATE_TEST_PG` (scripts/pg-cluster.sh start prints it). The engine's
//! figures are one process: in this release one engine owns a PostgreSQL database
//! (docs/postgres.md), so the "64 callers over 2 processes" cannot be run.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tollgate::{AuthorizeRequest, Engine};
use tollgate_benches::charging::{authorize_settle, callers, percentiles, requests, world};
use tollgate_benches::naive::{self, postgres::Naive};
use tollgate_benches::{deck_codes, dialled_numbers};

const ACCOUNTS: usize = 64;
const NUMBERS: usize = 8192;
const CODES: usize = 100_000;

fn server() -> Option<String> {
    let url = std::env::var("TOLLGATE_TEST_PG").ok();
    if url.is_none() {
        eprintln!("postgres bench: no server (TOLLGATE_TEST_PG); nothing measured");
    }
    url
}

fn fresh(admin: &str, what: &str) -> String {
    let name = format!("tgbench_{what}_{}", std::process::id());
    tollgate::store::pg_testing::create_database(admin, &name).expect("database")
}

/// authorize + settle through `e` with `threads` callers.
fn engine_calls(
    c: &mut Criterion,
    group: &str,
    e: &Engine,
    numbers: &[String],
    thread_counts: &[usize],
) {
    let calls = Arc::new(AtomicU64::new(0));
    let mut g = c.benchmark_group(group);
    g.sample_size(10);
    g.throughput(Throughput::Elements(1));
    for &threads in thread_counts {
        let call = authorize_settle(e, numbers, ACCOUNTS, threads, &calls);
        g.bench_with_input(
            BenchmarkId::new("authorize+settle", format!("{threads} threads")),
            &threads,
            |b, &threads| b.iter_custom(|iters| callers(threads, iters, &call).0),
        );
    }
    g.finish();
}

fn tollgate_postgres(c: &mut Criterion) {
    let Some(admin) = server() else { return };
    let (e, numbers) = world(&fresh(&admin, "engine"), ACCOUNTS, NUMBERS);
    engine_calls(c, "postgres_engine", &e, &numbers, &[8, 64]);
    // Authorize latency as 64 callers see it (each answered once its hold is committed).
    let lat = Arc::new(Mutex::new(Vec::<Duration>::new()));
    let reqs: Vec<Vec<AuthorizeRequest>> = (0..64)
        .map(|t| requests(&numbers[..256], t % ACCOUNTS))
        .collect();
    let call: Arc<dyn Fn(usize, u64) -> u64 + Send + Sync> = {
        let (e, lat) = (e.clone(), Arc::clone(&lat));
        Arc::new(move |t, i| {
            let start = Instant::now();
            let a = e
                .authorize(&reqs[t][(i as usize) % reqs[t].len()])
                .expect("authorized");
            lat.lock().expect("samples").push(start.elapsed());
            a.reservation
        })
    };
    let mut g = c.benchmark_group("postgres_authorize");
    g.sample_size(10);
    g.throughput(Throughput::Elements(1));
    g.bench_function("authorize, 64 threads", |b| {
        b.iter_custom(|iters| {
            let (elapsed, ids) = callers(64, iters, &call);
            for id in ids {
                e.release(id).expect("released");
            }
            elapsed
        })
    });
    g.finish();
    let (p50, p99) = percentiles(&mut lat.lock().expect("samples"));
    eprintln!("postgres authorize with 64 threads: latency p50 {p50:.1} us, p99 {p99:.1} us");
}

fn tollgate_sqlite(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("beside.db");
    let (e, numbers) = world(path.to_str().expect("utf-8"), ACCOUNTS, NUMBERS);
    engine_calls(c, "sqlite_engine", &e, &numbers, &[64]);
}

fn naive_postgres(c: &mut Criterion) {
    let Some(admin) = server() else { return };
    let url = fresh(&admin, "naive");
    let codes = deck_codes(CODES);
    let numbers = dialled_numbers(&codes, NUMBERS);
    naive::postgres::create(&url, &codes, ACCOUNTS).expect("naive database");
    let threads = 64;
    let conns: Vec<Mutex<Naive>> = (0..threads)
        .map(|_| Mutex::new(Naive::connect(&url).expect("connect")))
        .collect();
    let conns = Arc::new(conns);
    let calls = Arc::new(AtomicU64::new(0));
    let numbers = Arc::new(numbers);
    let call: Arc<dyn Fn(usize, u64) + Send + Sync> = {
        let (conns, calls, numbers) =
            (Arc::clone(&conns), Arc::clone(&calls), Arc::clone(&numbers));
        Arc::new(move |t, i| {
            let n = calls.fetch_add(1, Ordering::Relaxed);
            let number = &numbers[(i as usize) % 256];
            conns[t]
                .lock()
                .expect("connection")
                .call(
                    &format!("{}", 1000 + t % ACCOUNTS),
                    number,
                    &format!("naive-{n}"),
                    (1 + n % 300) as i64,
                )
                .expect("charged");
        })
    };
    let mut g = c.benchmark_group("postgres_naive");
    g.sample_size(10);
    g.throughput(Throughput::Elements(1));
    g.bench_function("one transaction per call, 64 connections", |b| {
        b.iter_custom(|iters| callers(threads, iters, &call).0)
    });
    g.finish();
}

criterion_group!(benches, naive_postgres, tollgate_postgres, tollgate_sqlite);
criterion_main!(benches);
