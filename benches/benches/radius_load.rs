//! Load test of the RADIUS front door: 64 concurrent NAS clients (one UDP socket each, one
//! request in flight each) on 127.0.0.1 against `RadiusServer` in front of a real SQLite file.
//!
//! 1. Access-Request → Access-Accept (authorize, whole grant, Class, Message-Authenticator
//!    checked both ways);
//! 2. Accounting-Request Stop → Accounting-Response for those same calls (a settle each,
//!    answered once its group commit is durable).
//!
//! Reports requests per second and latency percentiles. Not a criterion bench, for the reason
//! `http_load` gives: criterion times one closure at a time, this needs many clients at once
//! and their latency distribution. Bounded: a fixed number of requests per phase, and each
//! phase stops after `RUN_SECONDS_MAX` whatever it reached.
//!
//! `cargo bench -p tollgate-benches --bench radius_load`

// The allocator `tollgate serve` runs with (see cli/src/main.rs).
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

use serde_json::{json, Value};
use std::net::UdpSocket;
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};
use tollgate::Engine;
use tollgate_radius::codec::{self, code, Builder, Packet};
use tollgate_radius::dict::{attr, status};
use tollgate_radius::{Clients, RadiusConfig, RadiusServer};

/// Concurrent clients.
const CLIENTS: usize = 64;
/// Access-Requests per run, split between the clients.
const ACCESS_REQUESTS: usize = 128_000;
/// Stops per run (each settles one of the calls authorized before).
const STOPS: usize = 32_000;
/// A phase stops after this long even if it has not sent all its requests.
const RUN_SECONDS_MAX: u64 = 60;
/// A request unanswered this long is sent again (the same datagram, as a NAS would).
const RETRY_MS: u64 = 1000;
const SECRET: &[u8] = b"bench-radius-secret";
const PASSWORD: &str = "admin-password-1";

fn must(e: &Engine, method: &str, params: Value) -> Value {
    let r = e.call_as_system(method, params.clone());
    assert!(r.code, "{method} {params}: {:?}", r.errors);
    r.ret
}

/// One customer per NAS client: an ANI account with a balance no run can spend.
fn setup(e: &Engine) {
    let table = must(
        e,
        "rateTables.add",
        json!({"name": "Load", "rounding": "half_up"}),
    )["id"]
        .clone();
    must(
        e,
        "rates.add",
        json!({"id_rate_tables": table, "code": "44", "code_name": "UK", "rate": "0.01",
               "min_volume": 1, "interval": 1, "effective_from": "2020-01-01"}),
    );
    for k in 0..CLIENTS {
        let id = must(
            e,
            "clients.add",
            json!({"name": format!("Load {k}"), "orig_rate_table": table}),
        )["id"]
            .clone();
        must(
            e,
            "accounts.add",
            json!({"id_clients": id, "name": format!("ani {k}"), "auth_type": "ani", "ident": format!("{}", 5000 + k)}),
        );
        must(
            e,
            "transactions.add",
            json!({"id_clients": id, "type": "payment", "amount": "1000000000"}),
        );
    }
}

fn access_request(k: usize, i: usize) -> (Vec<u8>, [u8; 16]) {
    let mut auth = [0u8; 16];
    auth[..8].copy_from_slice(&(k as u64).to_be_bytes());
    auth[8..].copy_from_slice(&(i as u64).to_be_bytes());
    let mut b = Builder::new(code::ACCESS_REQUEST, (i % 256) as u8);
    b.message_authenticator()
        .attr(attr::USER_NAME, format!("{}", 5000 + k).as_bytes())
        .attr(attr::CALLING_STATION_ID, format!("{}", 5000 + k).as_bytes())
        .attr(attr::CALLED_STATION_ID, b"442071234567")
        .attr(attr::ACCT_SESSION_ID, format!("bench-{k}-{i}").as_bytes())
        .attr(attr::NAS_IP_ADDRESS, &[127, 0, 0, 1]);
    (b.finish_access_request(&auth, SECRET), auth)
}

fn stop(k: usize, i: usize) -> (Vec<u8>, [u8; 16]) {
    let mut b = Builder::new(code::ACCOUNTING_REQUEST, (i % 256) as u8);
    b.int(attr::ACCT_STATUS_TYPE, status::STOP)
        .attr(attr::ACCT_SESSION_ID, format!("bench-{k}-{i}").as_bytes())
        .int(attr::ACCT_SESSION_TIME, 60)
        .attr(attr::USER_NAME, format!("{}", 5000 + k).as_bytes())
        .attr(attr::CALLED_STATION_ID, b"442071234567")
        .attr(attr::NAS_IP_ADDRESS, &[127, 0, 0, 1]);
    let datagram = b.finish_accounting_request(SECRET);
    let mut auth = [0u8; 16];
    auth.copy_from_slice(&datagram[4..20]);
    (datagram, auth)
}

struct Outcome {
    latencies_us: Vec<u64>,
    retries: u64,
    elapsed: Duration,
}

/// `total` requests made by `make(client, i)` from `CLIENTS` sockets, each waiting for its
/// answer (of code `expect`, its authenticator checked) before the next.
fn run(
    server: std::net::SocketAddr,
    total: usize,
    expect: u8,
    make: fn(usize, usize) -> (Vec<u8>, [u8; 16]),
) -> Outcome {
    let per_client = total / CLIENTS;
    let barrier = Arc::new(Barrier::new(CLIENTS + 1));
    let deadline = Duration::from_secs(RUN_SECONDS_MAX);
    let threads: Vec<_> = (0..CLIENTS)
        .map(|k| {
            let barrier = barrier.clone();
            std::thread::spawn(move || {
                let s = UdpSocket::bind("127.0.0.1:0").expect("bind");
                s.connect(server).expect("connect");
                s.set_read_timeout(Some(Duration::from_millis(RETRY_MS)))
                    .expect("timeout");
                let mut lat = Vec::with_capacity(per_client);
                let mut retries = 0u64;
                let mut buf = [0u8; 4096];
                barrier.wait();
                let start = Instant::now();
                for i in 0..per_client {
                    let (req, auth) = make(k, i);
                    let t = Instant::now();
                    s.send(&req).expect("send");
                    loop {
                        match s.recv(&mut buf) {
                            Ok(n) => {
                                let reply = &buf[..n];
                                if reply[1] != req[1]
                                    || !codec::response_valid(reply, &auth, SECRET)
                                {
                                    continue; // a late answer to an earlier request
                                }
                                let p = Packet::parse(reply).expect("a packet");
                                assert_eq!(p.code, expect, "client {k} request {i}");
                                break;
                            }
                            Err(_) => {
                                retries += 1;
                                s.send(&req).expect("send");
                            }
                        }
                    }
                    lat.push(t.elapsed().as_micros() as u64);
                    if start.elapsed() > deadline {
                        break;
                    }
                }
                (lat, retries)
            })
        })
        .collect();
    barrier.wait();
    let start = Instant::now();
    let mut latencies_us = Vec::new();
    let mut retries = 0;
    for t in threads {
        let (l, r) = t.join().expect("client thread");
        latencies_us.extend(l);
        retries += r;
    }
    Outcome {
        latencies_us,
        retries,
        elapsed: start.elapsed(),
    }
}

fn percentile(sorted: &[u64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)] as f64 / 1000.0
}

fn report(what: &str, mut o: Outcome) {
    o.latencies_us.sort_unstable();
    let count = o.latencies_us.len();
    println!(
        "{:<32} {:>7} {:>9} {:>10.0} {:>8.3} {:>8.3} {:>9.3} {:>8.3} {:>7}",
        what,
        CLIENTS,
        count,
        count as f64 / o.elapsed.as_secs_f64(),
        percentile(&o.latencies_us, 0.50),
        percentile(&o.latencies_us, 0.99),
        percentile(&o.latencies_us, 0.999),
        percentile(&o.latencies_us, 1.0),
        o.retries,
    );
}

fn main() {
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("radius.db");
    let engine = Engine::create(path.to_str().expect("utf-8"), "admin", PASSWORD).expect("create");
    setup(&engine);
    let config = RadiusConfig::new(
        "127.0.0.1:0".parse().expect("addr"),
        Clients::any(SECRET).expect("secret"),
    );
    let server = RadiusServer::start(engine.clone(), config).expect("start");
    let addr = server.local_addr();
    println!(
        "RADIUS front door, {CLIENTS} NAS clients on 127.0.0.1 (one request in flight each), SQLite file (synchronous=FULL)"
    );
    println!(
        "{:<32} {:>7} {:>9} {:>10} {:>8} {:>8} {:>9} {:>8} {:>7}",
        "exchange",
        "clients",
        "requests",
        "req/s",
        "p50 ms",
        "p99 ms",
        "p99.9 ms",
        "max ms",
        "retries"
    );
    report(
        "Access-Request -> Access-Accept",
        run(addr, ACCESS_REQUESTS, code::ACCESS_ACCEPT, access_request),
    );
    let (batches_before, settles_before) = engine.settle_batches();
    report(
        "Stop -> Accounting-Response",
        run(addr, STOPS, code::ACCOUNTING_RESPONSE, stop),
    );
    let (batches, settles) = engine.settle_batches();
    let (batches, settles) = (batches - batches_before, settles - settles_before);
    println!(
        "settles: {settles} in {batches} group commits ({:.1} per commit)",
        settles as f64 / batches.max(1) as f64
    );
    let stats: Vec<String> = server
        .stats()
        .snapshot()
        .iter()
        .filter(|(_, v)| *v > 0)
        .map(|(n, v)| format!("{n}={v}"))
        .collect();
    println!("front door: {}", stats.join(" "));
    server.stop();
}
