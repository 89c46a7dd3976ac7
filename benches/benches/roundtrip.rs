//! The softswitch round trip, authorize + settle, one caller: in Rust directly and through
//! the C ABI (`tg_authorize` + `tg_settle` called from Rust), on an in-memory engine (the
//! engine's work and the boundary, no fsync) and, for Rust, on a database file
//! (synchronous=FULL, group commit: fsync-bound). The same work from a C program is
//! `cargo bench -p tollgate-ffi --bench c_roundtrip`; docs/c-api.md compares the figures.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use libtollgate::{tg_authorization, tg_authorize_request, tg_result, tg_settle_request};
use serde_json::json;
use std::ffi::CString;
use std::hint::black_box;
use std::time::Duration;
use tollgate::{AuthorizeRequest, Engine, SettleRequest};
use tollgate_benches::c_abi::CEngine;

const DECK: &str = "code,code_name,rate,min_volume,interval,grace_volume,setup_fee,effective_from,effective_till\n\
                    447,United Kingdom - Mobile,0.6,30,6,0,0.01,2020-01-01,\n\
                    44,United Kingdom,0.05,1,1,0,0,2020-01-01,\n";

/// Run a Management API call, in Rust or through `tg_call`.
trait Api {
    fn must(&self, method: &str, params: serde_json::Value) -> serde_json::Value;
}

impl Api for Engine {
    fn must(&self, method: &str, params: serde_json::Value) -> serde_json::Value {
        let r = self.call_as_system(method, params.clone());
        assert!(r.code, "{method} {params}: {:?}", r.errors);
        r.ret
    }
}

impl Api for CEngine {
    fn must(&self, method: &str, params: serde_json::Value) -> serde_json::Value {
        CEngine::must(self, method, params)
    }
}

/// The same set-up as `ffi-c/bench/roundtrip.c`: one rate table, one client with an ANI
/// account `1000` and a large balance.
fn provision(e: &dyn Api) {
    let table = e.must(
        "rateTables.add",
        json!({"name": "Retail", "rounding": "half_up"}),
    )["id"]
        .as_i64()
        .expect("id");
    e.must(
        "rates.import",
        json!({"id_rate_tables": table, "csv": DECK}),
    );
    let c = e.must(
        "clients.add",
        json!({"name": "Bench", "orig_rate_table": table}),
    )["id"]
        .as_i64()
        .expect("id");
    e.must(
        "accounts.add",
        json!({"id_clients": c, "name": "trunk", "auth_type": "ani", "ident": "1000"}),
    );
    e.must(
        "transactions.add",
        json!({"id_clients": c, "type": "payment", "amount": "1000000000"}),
    );
}

fn rust_round_trip(e: &Engine, n: u64) {
    let a = e
        .authorize(&AuthorizeRequest {
            account: "1000".into(),
            auth_type: Some("ani".into()),
            destination: "447911123456".into(),
            ..Default::default()
        })
        .expect("authorize");
    let s = e
        .settle(&SettleRequest {
            reservation: Some(a.reservation),
            call_id: format!("bench-{n}"),
            duration: 61,
            ..Default::default()
        })
        .expect("settle");
    black_box(s);
}

/// Authorize then release: the in-memory half of the hot path, small enough that the cost of
/// the C boundary shows against it.
fn rust_authorize_release(e: &Engine, req: &AuthorizeRequest) {
    let a = e.authorize(req).expect("authorize");
    e.release(a.reservation).expect("release");
    black_box(a);
}

/// [`rust_authorize_release`] through the C ABI: `req`'s strings outlive the call.
fn c_authorize_release(e: &CEngine, req: &tg_authorize_request) {
    let mut a = std::mem::MaybeUninit::<tg_authorization>::uninit();
    // SAFETY: live handle, a valid request, and output storage read only after
    // tg_authorize wrote it.
    unsafe {
        assert_eq!(
            libtollgate::tg_authorize(e.0, req, a.as_mut_ptr()),
            tg_result::Ok
        );
        let a = a.assume_init();
        assert_eq!(libtollgate::tg_release(e.0, a.reservation), tg_result::Ok);
        black_box(a);
    }
}

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("roundtrip");
    g.throughput(Throughput::Elements(1));

    let e = Engine::create(":memory:", "admin", "admin-password-1").expect("create");
    provision(&e);
    let mut n = 0u64;
    g.bench_function("rust_memory", |b| {
        b.iter(|| {
            n += 1;
            rust_round_trip(&e, n)
        })
    });
    let rust_req = AuthorizeRequest {
        account: "1000".into(),
        auth_type: Some("ani".into()),
        destination: "447911123456".into(),
        ..Default::default()
    };
    g.bench_function("rust_authorize_release", |b| {
        b.iter(|| rust_authorize_release(&e, &rust_req))
    });

    let c_engine = CEngine::memory();
    let engine = c_engine.0;
    provision(&c_engine);
    let account = CString::new("1000").expect("account");
    let ani = CString::new("ani").expect("ani");
    let destination = CString::new("447911123456").expect("destination");
    let req = tg_authorize_request {
        account: account.as_ptr(),
        auth_type: ani.as_ptr(),
        destination: destination.as_ptr(),
        source: std::ptr::null(),
        time_unix: 0,
    };
    let mut n = 0u64;
    g.bench_function("c_abi_memory", |b| {
        b.iter(|| {
            n += 1;
            let call_id = CString::new(format!("bench-{n}")).expect("call id");
            let mut a = std::mem::MaybeUninit::<tg_authorization>::uninit();
            let mut s = std::mem::MaybeUninit::uninit();
            // SAFETY: live handle, valid request and output storage.
            unsafe {
                assert_eq!(
                    libtollgate::tg_authorize(engine, &req, a.as_mut_ptr()),
                    tg_result::Ok
                );
                let sr = tg_settle_request {
                    reservation: a.assume_init_ref().reservation,
                    call_id: call_id.as_ptr(),
                    duration: 61,
                    account: std::ptr::null(),
                    auth_type: std::ptr::null(),
                    destination: std::ptr::null(),
                    source: std::ptr::null(),
                    connect_time_unix: 0,
                };
                assert_eq!(
                    libtollgate::tg_settle(engine, &sr, s.as_mut_ptr()),
                    tg_result::Ok
                );
                black_box(s.assume_init());
            }
        })
    });
    g.bench_function("c_abi_authorize_release", |b| {
        b.iter(|| c_authorize_release(&c_engine, &req))
    });
    drop(c_engine);

    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("roundtrip.db");
    let e = Engine::create(
        file.to_str().expect("utf-8 path"),
        "admin",
        "admin-password-1",
    )
    .expect("create");
    provision(&e);
    g.sample_size(10);
    g.measurement_time(Duration::from_secs(10));
    let mut n = 0u64;
    g.bench_function("rust_file", |b| {
        b.iter(|| {
            n += 1;
            rust_round_trip(&e, n)
        })
    });
    g.finish();
}

/// Issue 17's world for the in-memory pair: a 100,000-code deck, 256 dialled numbers taken in
/// turn (`benches/harness.sh`'s `tollgate_authorize_release_memory` and
/// `tg_authorize_release_c_abi` are the same work with every call timed on its own).
fn deck_100k(c: &mut Criterion) {
    const DIALLED: usize = 256;
    let mut g = c.benchmark_group("roundtrip_deck_100k");
    g.throughput(Throughput::Elements(1));
    let codes = tollgate_benches::deck_codes(100_000);
    let numbers = tollgate_benches::dialled_numbers(&codes, DIALLED);

    let e = Engine::create(":memory:", "admin", "admin-password-1").expect("create");
    tollgate_benches::charging::provision(
        &|method, params| tollgate_benches::charging::must(&e, method, params),
        &codes,
        1,
    );
    let reqs = tollgate_benches::charging::requests(&numbers, 0);
    let mut i = 0usize;
    g.bench_function("rust_authorize_release", |b| {
        b.iter(|| {
            i = (i + 1) % DIALLED;
            rust_authorize_release(&e, &reqs[i])
        })
    });
    drop(e);

    let c_engine = CEngine::memory();
    tollgate_benches::charging::provision(
        &|method, params| c_engine.must(method, params),
        &codes,
        1,
    );
    let account = CString::new("1000").expect("account");
    let ani = CString::new("ani").expect("ani");
    let destinations: Vec<CString> = numbers
        .iter()
        .map(|n| CString::new(n.as_str()).expect("digits"))
        .collect();
    let mut i = 0usize;
    g.bench_function("c_abi_authorize_release", |b| {
        b.iter(|| {
            i = (i + 1) % DIALLED;
            let req = tg_authorize_request {
                account: account.as_ptr(),
                auth_type: ani.as_ptr(),
                destination: destinations[i].as_ptr(),
                source: std::ptr::null(),
                time_unix: 0,
            };
            c_authorize_release(&c_engine, &req)
        })
    });
    g.finish();
}

criterion_group!(benches, bench, deck_100k);
criterion_main!(benches);
