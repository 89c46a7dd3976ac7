//! Real-time charging against a 100,000-code rate table on a real SQLite file
//! (synchronous=FULL): durable `authorize` (decided in memory, answered once the reservation
//! is group-committed) with 1 and 64 callers and their latency, and authorize + durable
//! `settle` with 1, 8 and 64 concurrent callers.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use std::hint::black_box;
use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tollgate::{AuthorizeRequest, Engine, SettleRequest};
use tollgate_benches::charging::{authorize_settle, callers, percentiles, requests, world};

const NUMBERS: usize = 8192;
const ACCOUNTS: usize = 64;

fn setup(dir: &tempfile::TempDir) -> (Engine, Vec<String>) {
    let path = dir.path().join("charging.db");
    world(path.to_str().expect("utf-8 path"), ACCOUNTS, NUMBERS)
}

/// `authorize` is answered once its reservation is durable: measured alone (one caller, each
/// authorize its own fsync) and with 64 concurrent callers (group commit), with the p50/p99
/// latency each caller saw. Reservations are released outside the timed part.
fn authorize(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("tempdir");
    let (e, numbers) = setup(&dir);
    let mut group = c.benchmark_group("authorize_durable");
    group.sample_size(10);
    group.throughput(Throughput::Elements(1));
    for threads in [1usize, 64] {
        let reqs: Vec<Vec<AuthorizeRequest>> = (0..threads)
            .map(|t| requests(&numbers[..256], t % ACCOUNTS))
            .collect();
        let latencies = Arc::new(parking_lot::Mutex::new(Vec::<Duration>::new()));
        let call: Arc<dyn Fn(usize, u64) -> u64 + Send + Sync> = {
            let (e, latencies) = (e.clone(), Arc::clone(&latencies));
            Arc::new(move |t, i| {
                let req = &reqs[t][(i as usize) % reqs[t].len()];
                let start = Instant::now();
                let a = e.authorize(black_box(req)).expect("authorized");
                latencies.lock().push(start.elapsed());
                a.reservation
            })
        };
        group.bench_with_input(
            BenchmarkId::new("authorize", format!("{threads} threads")),
            &threads,
            |b, &threads| {
                b.iter_custom(|iters| {
                    let (elapsed, ids) = callers(threads, iters, &call);
                    for id in ids {
                        e.release(id).expect("open");
                    }
                    elapsed
                })
            },
        );
        let (p50, p99) = percentiles(&mut latencies.lock());
        eprintln!("authorize with {threads} threads: latency p50 {p50:.1} us, p99 {p99:.1} us");
    }
    group.finish();
    assert_eq!(e.open_reservations(), 0);
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
        let call = authorize_settle(&e, &numbers, ACCOUNTS, threads, &calls);
        group.bench_with_input(
            BenchmarkId::new("authorize+settle", format!("{threads} threads")),
            &threads,
            |b, &threads| b.iter_custom(|iters| callers(threads, iters, &call).0),
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

/// Settles fed in batches by one thread (`Engine::settle_many`, as a switch or the server's
/// JSON-RPC batch feeds them) beside the same settles one at a time: hangups of calls whose
/// reservation is gone, priced from their details (no authorize in the timed part).
fn settle_many(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("tempdir");
    let (e, numbers) = setup(&dir);
    let connect = tollgate::clock::parse_dt("2026-01-01 00:00:00").expect("a date");
    let next = AtomicU64::new(0);
    let hangup = |i: u64| SettleRequest {
        call_id: format!("many-{i}"),
        duration: 1 + i % 300,
        account: Some(format!("{}", 1000 + (i as usize) % ACCOUNTS)),
        auth_type: Some("ani".into()),
        destination: Some(numbers[(i as usize) % numbers.len()].clone()),
        connect_time: Some(connect),
        ..Default::default()
    };
    let mut group = c.benchmark_group("settle_many_durable");
    group.sample_size(10);
    group.throughput(Throughput::Elements(1));
    group.bench_function("settle, one at a time, 1 thread", |b| {
        b.iter(|| {
            let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            black_box(e.settle(&hangup(i)).expect("settled"));
        })
    });
    for batch in [64u64, 256, 1000] {
        let before = e.settle_batches();
        group.bench_with_input(
            BenchmarkId::new("settle_many, 1 thread", format!("{batch} per call")),
            &batch,
            |b, &batch| {
                b.iter_custom(|iters| {
                    let mut left = iters;
                    let mut spent = Duration::ZERO;
                    while left > 0 {
                        let n = left.min(batch);
                        let first = next.fetch_add(n, std::sync::atomic::Ordering::Relaxed);
                        let reqs: Vec<SettleRequest> = (first..first + n).map(hangup).collect();
                        let start = Instant::now();
                        let out = e.settle_many(&reqs).expect("a batch in bounds");
                        spent += start.elapsed();
                        assert!(out.iter().all(|r| r.is_ok()), "every settle charged");
                        left -= n;
                    }
                    spent
                })
            },
        );
        let after = e.settle_batches();
        eprintln!(
            "settle_many of {batch}: {:.1} settles per fsync",
            (after.1 - before.1) as f64 / (after.0 - before.0).max(1) as f64
        );
    }
    group.finish();
}

criterion_group!(benches, authorize, settle, settle_many);
criterion_main!(benches);
