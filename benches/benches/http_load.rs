//! Load test of `tollgate serve`: concurrent HTTP clients (keep-alive, one connection each)
//! calling `clients.editForm` and `core.authorize` over JSON-RPC against a server on
//! 127.0.0.1 in front of a real SQLite file. Reports requests per second and latency
//! percentiles. Not a criterion bench: criterion times one closure at a time, while this
//! needs many clients at once and their latency distribution.
//!
//! `cargo bench -p tollgate-benches --bench http_load` (bounded: a fixed number of requests
//! per run, and each run stops after `RUN_SECONDS_MAX` whatever it reached).

use serde_json::{json, Value};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};
use tollgate::Engine;
use tollgate_server::{Log, ServeConfig, Server};

/// Requests per run, split between the clients.
const REQUESTS_PER_RUN: usize = 20_000;
/// A run stops after this long even if it has not sent all its requests.
const RUN_SECONDS_MAX: u64 = 30;
/// Concurrent clients per run.
const CLIENTS: [usize; 3] = [1, 8, 32];
const PASSWORD: &str = "admin-password-1";

fn must(e: &Engine, method: &str, params: Value) -> Value {
    let r = e.call_as_system(method, params.clone());
    assert!(r.code, "{method} {params}: {:?}", r.errors);
    r.ret
}

/// One client per caller thread: its own id and ANI account, with a balance no run can spend.
fn setup(e: &Engine, clients: usize) -> Vec<i64> {
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
    (0..clients)
        .map(|k| {
            let id = must(
                e,
                "clients.add",
                json!({"name": format!("Load {k}"), "orig_rate_table": table}),
            )["id"]
                .as_i64()
                .expect("id");
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
            id
        })
        .collect()
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into()
}

fn rpc(agent: &ureq::Agent, url: &str, body: &str) -> Value {
    let mut r = agent
        .post(url)
        .header("Content-Type", "application/json")
        .send(body)
        .expect("HTTP exchange");
    assert_eq!(r.status(), 200);
    let text = r.body_mut().read_to_string().expect("body");
    serde_json::from_str(&text).expect("JSON")
}

fn login(agent: &ureq::Agent, url: &str) -> String {
    let v = rpc(
        agent,
        url,
        &json!({"jsonrpc": "2.0", "id": 1, "method": "auth.login",
                "params": {"auth": {"login": "admin", "password": PASSWORD}}})
        .to_string(),
    );
    v["result"]["session_id"].as_str().expect("sid").to_string()
}

/// The request client `k` sends: the same text every time (the server parses it anew).
fn request(method: &str, sid: &str, client: i64, k: usize) -> String {
    let params = match method {
        "clients.editForm" => json!({"SID": sid, "id_clients": client}),
        _ => {
            json!({"SID": sid, "account": format!("{}", 5000 + k), "auth_type": "ani", "destination": "442071234567"})
        }
    };
    json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params}).to_string()
}

struct Outcome {
    latencies_us: Vec<u64>,
    elapsed: Duration,
}

fn run(url: &str, sids: &[String], clients: &[i64], method: &str, n: usize) -> Outcome {
    let per_client = REQUESTS_PER_RUN / n;
    let barrier = Arc::new(Barrier::new(n + 1));
    let deadline = Duration::from_secs(RUN_SECONDS_MAX);
    let threads: Vec<_> = (0..n)
        .map(|k| {
            let (url, sid, barrier) = (url.to_string(), sids[k].clone(), barrier.clone());
            let body = request(method, &sid, clients[k], k);
            std::thread::spawn(move || {
                let agent = agent();
                // Warm the connection before the clock starts.
                rpc(&agent, &url, &body);
                let mut lat = Vec::with_capacity(per_client);
                barrier.wait();
                let start = Instant::now();
                for _ in 0..per_client {
                    let t = Instant::now();
                    let v = rpc(&agent, &url, &body);
                    lat.push(t.elapsed().as_micros() as u64);
                    assert_eq!(v["result"]["code"], true, "{v}");
                    if start.elapsed() > deadline {
                        break;
                    }
                }
                lat
            })
        })
        .collect();
    barrier.wait();
    let start = Instant::now();
    let mut latencies_us = Vec::new();
    for t in threads {
        latencies_us.extend(t.join().expect("client thread"));
    }
    Outcome {
        latencies_us,
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

fn main() {
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("load.db");
    let engine = Engine::create(path.to_str().expect("utf-8"), "admin", PASSWORD).expect("create");
    let max_clients = CLIENTS.iter().copied().max().unwrap_or(1);
    let client_ids = setup(&engine, max_clients);
    let engine = Arc::new(engine);
    let mut config = ServeConfig::new("127.0.0.1:0".parse().expect("addr"));
    config.log = Log::Off;
    let server = Server::start(engine.clone(), config).expect("start");
    let url = format!("http://127.0.0.1:{}/jsonrpc/", server.local_addr().port());
    let sids: Vec<String> = {
        let a = agent();
        let sid = login(&a, &url);
        vec![sid; max_clients]
    };
    println!(
        "tollgate serve, JSON-RPC over HTTP/1.1 keep-alive, {REQUESTS_PER_RUN} requests per run, SQLite file (synchronous=FULL)"
    );
    println!(
        "{:<18} {:>7} {:>9} {:>10} {:>9} {:>9} {:>9} {:>9}",
        "method", "clients", "requests", "req/s", "p50 ms", "p99 ms", "p99.9 ms", "max ms"
    );
    for method in ["clients.editForm", "core.authorize"] {
        for n in CLIENTS {
            let mut o = run(&url, &sids, &client_ids, method, n);
            o.latencies_us.sort_unstable();
            let count = o.latencies_us.len();
            println!(
                "{:<18} {:>7} {:>9} {:>10.0} {:>9.3} {:>9.3} {:>9.3} {:>9.3}",
                method,
                n,
                count,
                count as f64 / o.elapsed.as_secs_f64(),
                percentile(&o.latencies_us, 0.50),
                percentile(&o.latencies_us, 0.99),
                percentile(&o.latencies_us, 0.999),
                percentile(&o.latencies_us, 1.0),
            );
        }
    }
    server.stop();
}
