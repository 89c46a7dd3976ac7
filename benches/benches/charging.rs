//! Real-time charging against a 100,000-code rate table on a real SQLite file
//! (synchronous=FULL): durable `authorize` (decided in memory, answered once the reservation
//! is group-committed) with 1 and 64 callers and their latency, and authorize + durable
//! `settle` with 1, 8 and 64 concurrent callers.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use std::hint::black_box;
use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tollgate::{AuthorizeRequest, Engine};
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

criterion_group!(benches, authorize, settle);
criterion_main!(benches);
