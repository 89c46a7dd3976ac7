//! Real-time charging: `authorize` from memory against a 100,000-code rate table, and durable
//! `settle` (group commit on a real SQLite file, synchronous=FULL) with 1, 8 and 64 concurrent
//! callers, each doing authorize + settle.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use serde_json::json;
use std::hint::black_box;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};
use tollgate::{AuthorizeRequest, Engine, SettleRequest};
use tollgate_benches::{deck_codes, deck_csv, dialled_numbers};

const CODES: usize = 100_000;
const NUMBERS: usize = 8192;
const ACCOUNTS: usize = 64;

fn must(e: &Engine, method: &str, params: serde_json::Value) -> serde_json::Value {
    let r = e.call_as_system(method, params.clone());
    assert!(r.code, "{method} {params}: {:?}", r.errors);
    r.ret
}

/// A file database with a 100,000-code rate table and `ACCOUNTS` clients, each with an ANI
/// account `1000 + k` and a large balance.
fn setup(dir: &tempfile::TempDir) -> (Engine, Vec<String>) {
    let path = dir.path().join("charging.db");
    let e = Engine::create(
        path.to_str().expect("utf-8 path"),
        "admin",
        "admin-password-1",
    )
    .expect("create");
    let table = must(
        &e,
        "rateTables.add",
        json!({"name": "Carrier", "rounding": "half_up"}),
    )["id"]
        .as_i64()
        .expect("id");
    let codes = deck_codes(CODES);
    for csv in deck_csv(&codes, 20_000) {
        must(
            &e,
            "rates.import",
            json!({"id_rate_tables": table, "csv": csv}),
        );
    }
    for k in 0..ACCOUNTS {
        let c = must(
            &e,
            "clients.add",
            json!({"name": format!("Client {k}"), "orig_rate_table": table}),
        )["id"]
            .as_i64()
            .expect("id");
        must(
            &e,
            "accounts.add",
            json!({"id_clients": c, "name": format!("ani {k}"), "auth_type": "ani", "ident": format!("{}", 1000 + k)}),
        );
        must(
            &e,
            "transactions.add",
            json!({"id_clients": c, "type": "payment", "amount": "1000000000"}),
        );
    }
    (e, dialled_numbers(&codes, NUMBERS))
}

fn requests(numbers: &[String], account: usize) -> Vec<AuthorizeRequest> {
    numbers
        .iter()
        .map(|n| AuthorizeRequest {
            account: format!("{}", 1000 + account),
            auth_type: Some("ani".into()),
            destination: n.clone(),
            ..Default::default()
        })
        .collect()
}

fn authorize(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("tempdir");
    let (e, numbers) = setup(&dir);
    let reqs = requests(&numbers, 0);
    let mut group = c.benchmark_group("authorize");
    group.throughput(Throughput::Elements(1));
    // Authorize alone: reservations are released outside the timed part, every 4096 calls.
    group.bench_function(BenchmarkId::new("authorize", "100k codes"), |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            let mut ids = Vec::with_capacity(4096);
            let mut done = 0u64;
            while done < iters {
                let n = (iters - done).min(4096);
                let start = Instant::now();
                for i in 0..n {
                    let req = &reqs[((done + i) as usize) % reqs.len()];
                    let a = e.authorize(black_box(req)).expect("authorized");
                    ids.push(a.reservation);
                }
                total += start.elapsed();
                for id in ids.drain(..) {
                    e.release(id).expect("open");
                }
                done += n;
            }
            total
        })
    });
    group.bench_function(BenchmarkId::new("authorize+release", "100k codes"), |b| {
        let mut i = 0usize;
        b.iter(|| {
            let req = &reqs[i % reqs.len()];
            i = i.wrapping_add(1);
            let a = e.authorize(black_box(req)).expect("authorized");
            e.release(a.reservation).expect("open")
        })
    });
    group.finish();
}

fn settle(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("tempdir");
    let (e, numbers) = setup(&dir);
    let calls = Arc::new(AtomicU64::new(0));
    let mut group = c.benchmark_group("settle_durable");
    group.sample_size(10);
    group.throughput(Throughput::Elements(1));
    for threads in [1usize, 8, 64] {
        let before = e.settle_batches();
        let reqs: Arc<Vec<Vec<AuthorizeRequest>>> = Arc::new(
            (0..threads)
                .map(|t| requests(&numbers[..256], t % ACCOUNTS))
                .collect(),
        );
        group.bench_with_input(
            BenchmarkId::new("authorize+settle", format!("{threads} threads")),
            &threads,
            |b, &threads| {
                b.iter_custom(|iters| {
                    let per = iters.div_ceil(threads as u64);
                    let barrier = Arc::new(Barrier::new(threads + 1));
                    let handles: Vec<_> = (0..threads)
                        .map(|t| {
                            let (e, reqs, calls, barrier) = (
                                e.clone(),
                                Arc::clone(&reqs),
                                Arc::clone(&calls),
                                Arc::clone(&barrier),
                            );
                            std::thread::spawn(move || {
                                barrier.wait();
                                for i in 0..per {
                                    let req = &reqs[t][(i as usize) % reqs[t].len()];
                                    let a = e.authorize(req).expect("authorized");
                                    let call = calls.fetch_add(1, Ordering::Relaxed);
                                    e.settle(&SettleRequest {
                                        reservation: Some(a.reservation),
                                        call_id: format!("bench-{call}"),
                                        duration: 1 + call % 300,
                                        ..Default::default()
                                    })
                                    .expect("settled");
                                }
                            })
                        })
                        .collect();
                    barrier.wait();
                    let start = Instant::now();
                    for h in handles {
                        h.join().expect("settler");
                    }
                    // Every thread ran `per` calls: scale to the `iters` criterion asked for.
                    let elapsed = start.elapsed();
                    elapsed.mul_f64(iters as f64 / (per * threads as u64) as f64)
                })
            },
        );
        let after = e.settle_batches();
        let (batches, settles) = (after.0 - before.0, after.1 - before.1);
        eprintln!(
            "settle with {threads} threads: {settles} settles in {batches} transactions ({:.1} per fsync)",
            settles as f64 / batches.max(1) as f64
        );
    }
    group.finish();
    assert_eq!(e.open_reservations(), 0);
}

criterion_group!(benches, authorize, settle);
criterion_main!(benches);
