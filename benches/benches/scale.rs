//! Issue 17 at scale: a 100,000-code deck and `TOLLGATE_SCALE_CLIENTS` clients (default
//! 1,000,000), each with one account; every call from a random account.
//!
//! - `open`: opening the database (a copy on tmpfs, so the disk's speed is not measured):
//!   wall time and the resident memory it added, per client + account;
//! - `accounts.edit`: one account's edit (a durable write and the engine's refresh of it);
//! - `authorize_release/file`: authorize + release on one thread, random account per call, on
//!   that tmpfs copy (each authorize commits its reservation row to SQLite and each release
//!   removes it; no fsync on tmpfs);
//! - `authorize_release/memory`: the same on an in-memory engine of the same world (built
//!   through the API, about 3 minutes for a million clients): the decision alone, with no row
//!   written (an in-memory store keeps no reservation rows).

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use std::hint::black_box;
use std::time::Instant;
use tollgate::Engine;
use tollgate_benches::{measure, scale};

fn clients() -> usize {
    std::env::var("TOLLGATE_SCALE_CLIENTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000)
}

fn bench(c: &mut Criterion) {
    let n = clients();
    let dir = scale::tmpfs_dir("tollgate-scale-run");
    let path = scale::database(n, dir.path());
    let rss = || measure::rss_kib().expect("VmRSS in /proc/self/status");
    let before = rss();
    let start = Instant::now();
    let e = Engine::open(path.to_str().expect("utf-8")).expect("open");
    let opened = start.elapsed();
    let after = rss();
    let peak = measure::peak_rss_since_reset_kib().expect("VmHWM in /proc/self/status");
    let added = after.saturating_sub(before);
    let line = serde_json::json!({
        "figure": "open",
        "clients": n,
        "open_s": opened.as_secs_f64(),
        "rss_added_kib": added,
        "bytes_per_client": added * 1024 / n as u64,
        "peak_rss_kib": peak,
    });
    eprintln!("{line}");

    // An account's edit at this scale: the engine refreshes that one account in memory.
    let mut g = c.benchmark_group("scale");
    let mut k = 0usize;
    g.bench_function(
        BenchmarkId::new("accounts.edit", format!("{n} accounts")),
        |b| {
            b.iter(|| {
                k = (k + 7919) % n;
                // The account of client k is account k + 1 (both made in order from 1).
                let r = e.call_as_system(
                    "accounts.edit",
                    serde_json::json!({"id": k + 1, "name": format!("ani {k} edited")}),
                );
                assert!(r.code, "{:?}", r.errors);
            })
        },
    );
    g.finish();
    if std::env::var_os("TOLLGATE_SCALE_FILE_ONLY").is_some() {
        return;
    }

    let reqs = scale::random_requests(n, 1 << 16, 17);
    let mut g = c.benchmark_group("scale");
    g.throughput(Throughput::Elements(1));
    authorize_release(&mut g, "authorize_release/file", n, &e, &reqs);
    drop(e);
    let e = scale::memory(n);
    authorize_release(&mut g, "authorize_release/memory", n, &e, &reqs);
    g.finish();
}

/// Authorize + release, one thread, each call the next of `reqs` (random accounts).
fn authorize_release(
    g: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    name: &str,
    n: usize,
    e: &Engine,
    reqs: &[tollgate::AuthorizeRequest],
) {
    let mut i = 0usize;
    g.bench_function(
        BenchmarkId::new(name, format!("{n} clients, random account")),
        |b| {
            b.iter(|| {
                i = (i + 1) % reqs.len();
                let a = e.authorize(black_box(&reqs[i])).expect("authorize");
                e.release(a.reservation).expect("release");
                black_box(a);
            })
        },
    );
}

criterion_group!(benches, bench);
criterion_main!(benches);
