//! Management API dispatch: a read (`clients.editForm` by SID) through `Engine::call`.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use serde_json::json;
use tollgate::Engine;

fn dispatch(c: &mut Criterion) {
    let engine = Engine::create(":memory:", "admin", "bench-password").expect("engine");
    let sid = engine
        .call(
            "auth.login",
            json!({"login": "admin", "password": "bench-password"}),
        )
        .session_id
        .expect("sid");
    let r = engine.call("clients.add", json!({"SID": sid, "name": "Bench client"}));
    let id = r.ret["id"].as_i64().expect("id");
    let mut g = c.benchmark_group("dispatch");
    g.throughput(Throughput::Elements(1));
    g.bench_function("clients.editForm", |b| {
        b.iter(|| {
            let r = engine.call("clients.editForm", json!({"SID": sid, "id_clients": id}));
            assert!(r.code);
        })
    });
    g.bench_function("clients.editForm/jsonrpc", |b| {
        let text = json!({"jsonrpc": "2.0", "method": "clients.editForm", "params": {"SID": sid, "id_clients": id}, "id": 1}).to_string();
        b.iter(|| engine.call_jsonrpc(&text))
    });
    g.finish();
}

criterion_group!(benches, dispatch);
criterion_main!(benches);
