//! Group commit of settles: concurrent settles (batched into shared transactions) give exactly
//! what the same settles give one at a time, and every acknowledged settle is in the database.

mod common;
use common::session::*;
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use tollgate::{AuthorizeRequest, Engine, EngineOptions, ManualClock, SettleRequest};

const CLIENTS: usize = 4;
const THREADS: usize = 8;

fn opts() -> EngineOptions {
    EngineOptions {
        clock: Arc::new(ManualClock::new(
            tollgate::clock::parse_dt("2026-01-15 12:00:00").expect("date"),
        )),
        ..EngineOptions::default()
    }
}

/// A file engine with one rate table (the vendor's 44 example, and 1 at 60/60) and `CLIENTS`
/// clients, each with an ANI account `10<k>` and 100,000 paid in. Returns the client ids.
fn setup(path: &str) -> (Engine, Vec<i64>) {
    let e = Engine::create_with(path, ADMIN, PASSWORD, opts()).unwrap();
    let sid = e
        .call("auth.login", json!({"login": ADMIN, "password": PASSWORD}))
        .session_id
        .unwrap();
    let table = ok(
        &e,
        &sid,
        "rateTables.add",
        json!({"name": "Retail", "rounding": "half_up"}),
    )["id"]
        .as_i64()
        .unwrap();
    ok(
        &e,
        &sid,
        "rates.add",
        json!({"id_rate_tables": table, "code": "44", "code_name": "UK", "rate": 1, "min_volume": 30, "interval": 1, "grace_volume": 2, "setup_fee": "0.3", "effective_from": "2020-01-01"}),
    );
    ok(
        &e,
        &sid,
        "rates.add",
        json!({"id_rate_tables": table, "code": "1", "code_name": "NANP", "rate": "0.0123", "min_volume": 60, "interval": 60, "effective_from": "2020-01-01"}),
    );
    let mut clients = Vec::new();
    for k in 0..CLIENTS {
        let c = ok(
            &e,
            &sid,
            "clients.add",
            json!({"name": format!("Caller {k}"), "orig_rate_table": table}),
        )["id"]
            .as_i64()
            .unwrap();
        ok(
            &e,
            &sid,
            "accounts.add",
            json!({"id_clients": c, "name": format!("ani{k}"), "auth_type": "ani", "ident": format!("10{k}")}),
        );
        ok(
            &e,
            &sid,
            "transactions.add",
            json!({"id_clients": c, "type": "payment", "amount": "100000"}),
        );
        clients.push(c);
    }
    (e, clients)
}

/// How a settle is made.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Via {
    /// authorize, then settle the reservation.
    Reserved,
    /// an unknown reservation, with the call's details (charged unreserved).
    Details,
    /// an unknown reservation without details: `reservation.not_found`.
    Lost,
}

#[derive(Debug, Clone)]
struct Op {
    call_id: String,
    account: String,
    destination: String,
    duration: u64,
    via: Via,
}

/// What a settle returned, minus what depends on the order (balance after, xDR id, which of
/// two identical settles came first).
#[derive(Debug, Clone, PartialEq)]
enum Outcome {
    Ok {
        cost: String,
        billed: u64,
        unreserved: bool,
        replayed: bool,
    },
    Err(String),
}

struct Rng(u64);
impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n.max(1)
    }
}

/// Two phases: the first has fresh calls (with zero durations, unreserved settles and
/// duplicates of recent calls, likely to share a batch with them); the second, run after the
/// first has finished, has replays, conflicts (same call id, other duration) and lost
/// reservations.
fn ops(seed: u64, n: usize) -> (Vec<Op>, Vec<Op>) {
    let mut rng = Rng(seed);
    let mut first: Vec<Op> = Vec::new();
    for i in 0..n {
        let k = rng.below(CLIENTS as u64);
        let destination = if rng.below(2) == 0 {
            format!("44{}", rng.below(100_000))
        } else {
            format!("1{}", rng.below(100_000))
        };
        let fresh = Op {
            call_id: format!("call-{i}"),
            account: format!("10{k}"),
            destination,
            duration: rng.below(600),
            via: Via::Reserved,
        };
        let op = match rng.below(10) {
            0 if !first.is_empty() => {
                let back = 1 + rng.below(first.len().min(THREADS) as u64) as usize;
                first[first.len() - back].clone()
            }
            1 => Op {
                duration: 0,
                ..fresh
            },
            2 => Op {
                via: Via::Details,
                ..fresh
            },
            _ => fresh,
        };
        first.push(op);
    }
    let mut second = Vec::new();
    for i in 0..n / 4 {
        let earlier = first[rng.below(first.len() as u64) as usize].clone();
        second.push(match rng.below(3) {
            0 => earlier,
            1 => Op {
                duration: earlier.duration + 1,
                ..earlier
            },
            _ => Op {
                call_id: format!("lost-{i}"),
                via: Via::Lost,
                ..earlier
            },
        });
    }
    (first, second)
}

/// The settle of `op` (authorized first when it is reserved): the request, and the
/// reservation to give up if the settle is refused.
fn request(e: &Engine, index: usize, op: &Op) -> (SettleRequest, Option<u64>) {
    let mut req = SettleRequest {
        call_id: op.call_id.clone(),
        duration: op.duration,
        ..Default::default()
    };
    let mut reservation = None;
    match op.via {
        Via::Reserved => {
            let a = e
                .authorize(&AuthorizeRequest {
                    account: op.account.clone(),
                    destination: op.destination.clone(),
                    ..Default::default()
                })
                .expect("funds are ample");
            reservation = Some(a.reservation);
            req.reservation = Some(a.reservation);
        }
        Via::Details => {
            req.reservation = Some(1_000_000_000 + index as u64);
            req.account = Some(op.account.clone());
            req.destination = Some(op.destination.clone());
            req.connect_time = tollgate::clock::parse_dt("2026-01-15 11:00:00");
        }
        Via::Lost => req.reservation = Some(2_000_000_000 + index as u64),
    }
    (req, reservation)
}

/// What a settle answered (and its xDR).
fn outcome(
    e: &Engine,
    result: tollgate::Result<tollgate::Settlement>,
    reservation: Option<u64>,
) -> (Outcome, Option<i64>) {
    match result {
        Ok(s) => (
            Outcome::Ok {
                cost: s.cost.to_string(),
                billed: s.billed_seconds,
                unreserved: s.unreserved,
                replayed: s.replayed,
            },
            Some(s.xdr),
        ),
        Err(err) => {
            // A refused settle keeps its reservation for a retry; this test gives up on it.
            if let Some(r) = reservation {
                e.release(r).unwrap();
            }
            (Outcome::Err(err.code().as_str().to_string()), None)
        }
    }
}

fn run_op(e: &Engine, index: usize, op: &Op) -> (Outcome, Option<i64>) {
    let (req, reservation) = request(e, index, op);
    outcome(e, e.settle(&req), reservation)
}

/// Run `ops` through `Engine::settle_many`, `chunk` at a time, in order.
fn run_many(e: &Engine, ops: &[Op], chunk: usize) -> Vec<Outcome> {
    let mut out = Vec::new();
    for (c, ops) in ops.chunks(chunk).enumerate() {
        let reqs: Vec<(SettleRequest, Option<u64>)> = ops
            .iter()
            .enumerate()
            .map(|(i, op)| request(e, c * chunk + i, op))
            .collect();
        let plain: Vec<SettleRequest> = reqs.iter().map(|(r, _)| r.clone()).collect();
        let results = e.settle_many(&plain).unwrap();
        assert_eq!(results.len(), plain.len(), "one result per settle");
        for (result, (_, reservation)) in results.into_iter().zip(&reqs) {
            out.push(outcome(e, result, *reservation).0);
        }
    }
    out
}

/// Run `ops` on `threads` threads (1: in order); outcomes in `ops` order.
fn run(e: &Engine, ops: &[Op], threads: usize) -> Vec<Outcome> {
    let ops = Arc::new(ops.to_vec());
    let next = Arc::new(AtomicUsize::new(0));
    let handles: Vec<_> = (0..threads)
        .map(|_| {
            let (e, ops, next) = (e.clone(), Arc::clone(&ops), Arc::clone(&next));
            std::thread::spawn(move || {
                let mut out = Vec::new();
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(op) = ops.get(i) else { break };
                    out.push((i, run_op(&e, i, op).0));
                }
                out
            })
        })
        .collect();
    let mut all: Vec<(usize, Outcome)> = handles
        .into_iter()
        .flat_map(|h| h.join().unwrap())
        .collect();
    all.sort_by_key(|(i, _)| *i);
    assert_eq!(all.len(), ops.len());
    all.into_iter().map(|(_, o)| o).collect()
}

/// Every xDR, by the fields that do not depend on the order of commits.
fn xdrs(e: &Engine) -> BTreeSet<String> {
    let mut set = BTreeSet::new();
    let mut offset = 0;
    loop {
        let r = e.call_as_system("xdrs.list", json!({"limit": 1000, "offset": offset}));
        assert!(r.code, "{:?}", r.errors);
        let rows = r.ret["rows"].as_array().unwrap().clone();
        for x in &rows {
            let key: Vec<String> = [
                "call_id",
                "id_accounts",
                "id_clients",
                "dst",
                "code",
                "rate",
                "duration",
                "billed_seconds",
                "cost",
                "unreserved",
                "connect_time",
            ]
            .iter()
            .map(|f| x[*f].to_string())
            .collect();
            // A charged xDR is linked to its ledger entry; a free one is not.
            let linked = x["id_transactions"] != Value::Null;
            assert!(set.insert(format!("{} linked={linked}", key.join("|"))));
        }
        if rows.len() < 1000 {
            return set;
        }
        offset += 1000;
    }
}

fn balances(e: &Engine, clients: &[i64]) -> Vec<String> {
    clients
        .iter()
        .map(|c| {
            assert!(e.verify_client_ledger(*c).unwrap(), "client {c}");
            let (balance, held) = e.client_balance_cached(*c).unwrap();
            assert!(held.is_zero(), "client {c} still holds {held}");
            balance.to_string()
        })
        .collect()
}

/// The first-phase outcomes, with `replayed` dropped: which of two identical settles is the
/// replay depends on the order. Checks that each call id was charged exactly once.
fn order_free(ops: &[Op], outcomes: &[Outcome]) -> Vec<Outcome> {
    let mut charged: BTreeMap<&str, usize> = BTreeMap::new();
    let out = ops
        .iter()
        .zip(outcomes)
        .map(|(op, o)| match o {
            Outcome::Ok {
                cost,
                billed,
                unreserved,
                replayed,
            } => {
                let n = charged.entry(&op.call_id).or_default();
                *n += usize::from(!replayed);
                Outcome::Ok {
                    cost: cost.clone(),
                    billed: *billed,
                    unreserved: *unreserved,
                    replayed: false,
                }
            }
            other => other.clone(),
        })
        .collect();
    assert!(charged.values().all(|n| *n == 1), "{charged:?}");
    out
}

#[test]
fn concurrent_settles_equal_serial_ones_and_survive_reopen() {
    let (first, second) = ops(0x9E37_79B9_7F4A_7C15, 600);
    let dir = tempfile::tempdir().unwrap();
    let mut results = Vec::new();
    // threads 0: one thread calling settle_many, MANY settles at a time.
    const MANY: usize = 100;
    for (name, threads) in [("serial", 1), ("concurrent", THREADS), ("settle_many", 0)] {
        let path = &common::db_path(dir.path(), &format!("{name}.db"));
        let (e, clients) = setup(path);
        let (one, two) = if threads == 0 {
            (run_many(&e, &first, MANY), run_many(&e, &second, MANY))
        } else {
            (run(&e, &first, threads), run(&e, &second, threads))
        };
        assert_eq!(e.open_reservations(), 0, "{name}: a reservation leaked");
        // The second phase runs after the first has committed: its outcomes are fixed.
        for (op, o) in second.iter().zip(&two) {
            let want_err = match op.via {
                Via::Lost => Some("reservation.not_found"),
                _ if first
                    .iter()
                    .any(|f| f.call_id == op.call_id && f.duration != op.duration) =>
                {
                    Some("idempotency.conflict")
                }
                _ => None,
            };
            match (want_err, o) {
                (Some(code), Outcome::Err(got)) => assert_eq!(code, got, "{op:?}"),
                (None, Outcome::Ok { replayed, .. }) => assert!(replayed, "{op:?}"),
                _ => panic!("{name}: {op:?} gave {o:?}"),
            }
        }
        let (batches, settled) = e.settle_batches();
        eprintln!("{name}: {settled} settles in {batches} transactions");
        // Every settle goes through a batch (even one without a plan: it may be a replay).
        assert_eq!(settled, (first.len() + second.len()) as u64);
        if threads == 1 {
            assert_eq!(
                batches, settled,
                "one at a time: one settle per transaction"
            );
        } else if threads == 0 {
            // Each settle_many call is one transaction: its settles were all queued first.
            assert_eq!(
                batches as usize,
                first.len().div_ceil(MANY) + second.len().div_ceil(MANY),
                "settle_many: one transaction per call"
            );
        } else {
            assert!(batches < settled, "{batches} batches for {settled} settles");
        }
        let state = (
            order_free(&first, &one),
            two,
            balances(&e, &clients),
            xdrs(&e),
        );
        // Closed and reopened, the database holds every acknowledged settle and agrees with
        // what memory said.
        drop(e);
        let e = Engine::open_with(path, opts()).unwrap();
        assert_eq!(balances(&e, &clients), state.2, "{name}: after reopen");
        assert_eq!(xdrs(&e), state.3, "{name}: after reopen");
        results.push(state);
    }
    let serial = &results[0];
    assert!(serial.3.len() > 400, "{} xDRs", serial.3.len());
    for (name, other) in [("concurrent", &results[1]), ("settle_many", &results[2])] {
        assert_eq!(serial.0, other.0, "{name}: per-settle outcomes");
        assert_eq!(serial.1, other.1, "{name}: replays and conflicts");
        assert_eq!(serial.2, other.2, "{name}: balances");
        assert_eq!(serial.3, other.3, "{name}: xDRs");
    }
}

#[test]
fn two_settles_of_one_call_in_flight_together_charge_once() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("dup.db");
    let (e, clients) = setup(path.to_str().unwrap());
    for round in 0..50 {
        let barrier = Arc::new(std::sync::Barrier::new(THREADS));
        // Half the threads send one content, half another (a conflict), all at once.
        let handles: Vec<_> = (0..THREADS)
            .map(|t| {
                let (e, barrier) = (e.clone(), Arc::clone(&barrier));
                std::thread::spawn(move || {
                    let op = Op {
                        call_id: format!("race-{round}"),
                        account: "100".into(),
                        destination: "4420".into(),
                        duration: 40 + (t % 2) as u64,
                        via: Via::Reserved,
                    };
                    barrier.wait();
                    (op.duration, run_op(&e, t, &op))
                })
            })
            .collect();
        let outs: Vec<(u64, (Outcome, Option<i64>))> =
            handles.into_iter().map(|h| h.join().unwrap()).collect();
        let charged: Vec<&(u64, (Outcome, Option<i64>))> = outs
            .iter()
            .filter(|(_, (o, _))| {
                matches!(
                    o,
                    Outcome::Ok {
                        replayed: false,
                        ..
                    }
                )
            })
            .collect();
        assert_eq!(charged.len(), 1, "round {round}: {outs:?}");
        let (winner, (_, xdr)) = charged[0];
        for (duration, (o, x)) in &outs {
            match o {
                Outcome::Ok { .. } => {
                    assert_eq!(duration, winner);
                    assert_eq!(x, xdr, "a replay returns the first xDR");
                }
                Outcome::Err(code) => {
                    assert_ne!(duration, winner);
                    assert_eq!(code, "idempotency.conflict");
                }
            }
        }
    }
    assert_eq!(e.open_reservations(), 0);
    assert!(e.verify_client_ledger(clients[0]).unwrap());
    let r = e.call_as_system("xdrs.list", json!({"id_clients": clients[0]}));
    assert_eq!(r.ret["total"], 50);
}

/// Not a test on its own: the child process of the crash test (run with `--ignored`); it
/// settles concurrently on the database in TOLLGATE_SETTLE_CHILD, printing each acknowledged
/// call id, until killed.
#[test]
#[ignore = "helper process of the crash test"]
fn child_settler() {
    let Ok(path) = std::env::var("TOLLGATE_SETTLE_CHILD") else {
        return;
    };
    let e = Engine::open_with(&path, opts()).unwrap();
    let out = Arc::new(std::sync::Mutex::new(std::io::stdout()));
    let handles: Vec<_> = (0..THREADS)
        .map(|t| {
            let (e, out) = (e.clone(), Arc::clone(&out));
            std::thread::spawn(move || {
                for i in 0.. {
                    let op = Op {
                        call_id: format!("kill-{t}-{i}"),
                        account: format!("10{}", t % CLIENTS),
                        destination: "4420".into(),
                        duration: 31,
                        via: Via::Reserved,
                    };
                    if let (Outcome::Ok { cost, .. }, Some(_)) = run_op(&e, i, &op) {
                        let mut out = out.lock().unwrap();
                        let _ = writeln!(out, "ACK {} {cost}", op.call_id);
                        let _ = out.flush();
                    }
                }
            })
        })
        .collect();
    for h in handles {
        let _ = h.join();
    }
}

#[test]
fn every_acknowledged_settle_survives_a_killed_process() {
    let dir = tempfile::tempdir().unwrap();
    let path = &common::db_path(dir.path(), "kill.db");
    let (e, clients) = setup(path);
    drop(e);
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "--ignored",
            "child_settler",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("TOLLGATE_SETTLE_CHILD", path)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut acked = Vec::new();
    for line in BufReader::new(child.stdout.take().unwrap()).lines() {
        let line = line.unwrap();
        if let Some(rest) = line.strip_prefix("ACK ") {
            let (call, cost) = rest.split_once(' ').unwrap();
            acked.push((call.to_string(), cost.to_string()));
            if acked.len() == 300 {
                break;
            }
        }
    }
    // Killed mid-flight: settles in the batch being written are lost, acknowledged ones not.
    child.kill().unwrap();
    child.wait().unwrap();
    assert_eq!(acked.len(), 300);
    let e = Engine::open_with(path, opts()).unwrap();
    for (call, cost) in &acked {
        let r = e.call_as_system("xdrs.list", json!({"call_id": call}));
        assert_eq!(
            r.ret["total"], 1,
            "{call} was acknowledged but is not stored"
        );
        assert_eq!(r.ret["rows"][0]["cost"].to_string(), *cost, "{call}");
    }
    for c in &clients {
        assert!(e.verify_client_ledger(*c).unwrap());
    }
}

#[test]
fn a_savepoint_rolled_back_undoes_only_its_own_writes() {
    use tollgate::store::{self, SqliteStore, TxKind};
    let s = SqliteStore::create(":memory:").unwrap();
    store::run(&s, TxKind::Write, |tx| {
        tx.set_meta("before", "kept")?;
        tx.savepoint()?;
        tx.set_meta("undone", "x")?;
        tx.set_meta("before", "overwritten")?;
        tx.rollback_to_savepoint()?;
        tx.savepoint()?;
        tx.set_meta("after", "kept")?;
        tx.release_savepoint()
    })
    .unwrap();
    store::run(&s, TxKind::Read, |tx| {
        assert_eq!(tx.meta("before")?.as_deref(), Some("kept"));
        assert_eq!(tx.meta("undone")?, None);
        assert_eq!(tx.meta("after")?.as_deref(), Some("kept"));
        Ok(())
    })
    .unwrap();
}

#[test]
fn settle_many_bounds_its_batch_and_refuses_a_bad_call_alone() {
    let dir = tempfile::tempdir().unwrap();
    let (e, clients) = setup(&common::db_path(dir.path(), "many.db"));
    let too_many = vec![SettleRequest::default(); tollgate::limits::settle_many_max + 1];
    assert_eq!(
        e.settle_many(&too_many).unwrap_err().code().as_str(),
        "validation.out_of_range"
    );
    let a = e
        .authorize(&AuthorizeRequest {
            account: "100".into(),
            destination: "4420".into(),
            ..Default::default()
        })
        .unwrap();
    let good = SettleRequest {
        reservation: Some(a.reservation),
        call_id: "m-1".into(),
        duration: 61,
        ..Default::default()
    };
    let reqs = [
        good.clone(),
        // Refused before it is queued: a duration past the limit.
        SettleRequest {
            call_id: "m-2".into(),
            duration: tollgate::limits::call_duration_seconds_max + 1,
            ..good.clone()
        },
        // The same call again in the same batch: the first result, replayed.
        good.clone(),
        // No such reservation and no details.
        SettleRequest {
            reservation: Some(77),
            call_id: "m-3".into(),
            ..good.clone()
        },
    ];
    let (batches, _) = e.settle_batches();
    let r = e.settle_many(&reqs).unwrap();
    let codes: Vec<String> = r
        .iter()
        .map(|r| match r {
            Ok(s) => format!("ok replayed={}", s.replayed),
            Err(e) => e.code().as_str().to_string(),
        })
        .collect();
    assert_eq!(
        codes,
        [
            "ok replayed=false",
            "validation.out_of_range",
            "ok replayed=true",
            "reservation.not_found"
        ]
    );
    let (first, again) = (r[0].as_ref().unwrap(), r[2].as_ref().unwrap());
    assert_eq!((first.xdr, first.cost), (again.xdr, again.cost));
    assert_eq!(
        e.settle_batches().0,
        batches + 1,
        "one transaction for the batch"
    );
    assert_eq!(e.open_reservations(), 0);
    assert!(e.verify_client_ledger(clients[0]).unwrap());
    assert_eq!(
        e.call_as_system("xdrs.list", json!({"id_clients": clients[0]}))
            .ret["total"],
        1
    );
}

/// A JSON-RPC batch's consecutive `core.settle` calls are charged together: one transaction,
/// one reply per call with its own id, and each call checked as alone (another tenant's
/// reservation is unknown to the caller and refused without touching the others).
#[test]
fn a_json_rpc_batch_of_settles_is_one_group_commit_checked_call_by_call() {
    let w = common::world();
    let e = &w.engine;
    // Tenant a's switch.
    let sid = common::user_with_rights(
        &w,
        w.a.company,
        "switch-a",
        json!({"core": ["execute", "read"]}),
    );
    let settle = |id: &str, reservation: u64, call_id: &str| {
        json!({"jsonrpc": "2.0", "id": id, "method": "core.settle",
               "params": {"SID": sid, "reservation": reservation, "call_id": call_id,
                          "duration": 30}})
    };
    let balance_b = e.client_balance_cached(w.b.client);
    let (batches, _) = e.settle_batches();
    let batch = json!([
        settle("1", w.a.reservation, "batch-a"),
        settle("2", w.b.reservation, "batch-b"),
        settle("3", w.a.reservation, "batch-a"),
        // A notification: charged, no reply.
        {"jsonrpc": "2.0", "method": "core.settle",
         "params": {"SID": sid, "reservation": 999_999, "call_id": "batch-n",
                    "duration": 1}},
        {"jsonrpc": "2.0", "id": "4", "method": "core.status", "params": {"SID": sid}},
        settle("5", w.a.reservation, "batch-other"),
    ]);
    let replies: Value = serde_json::from_str(&e.call_jsonrpc(&batch.to_string())).unwrap();
    let replies = replies.as_array().unwrap();
    let by_id = |id: &str| -> &Value { &replies.iter().find(|r| r["id"] == id).unwrap()["result"] };
    assert_eq!(
        replies.len(),
        5,
        "no reply to the notification: {replies:?}"
    );
    assert_eq!(
        replies.iter().map(|r| r["id"].clone()).collect::<Vec<_>>(),
        ["1", "2", "3", "4", "5"],
        "replies in request order"
    );
    let first = by_id("1");
    assert_eq!(first["code"], true, "{first}");
    assert_eq!(first["return"]["replayed"], false);
    // Another tenant's reservation: refused as unknown, nothing of tenant b's changed.
    assert_eq!(by_id("2")["code"], false);
    assert_eq!(
        by_id("2")["errors"][0]["code"],
        "reservation.not_found",
        "{}",
        by_id("2")
    );
    assert_eq!(e.client_balance_cached(w.b.client), balance_b);
    // The same call again in the same run: the first result.
    assert_eq!(by_id("3")["return"]["replayed"], true);
    assert_eq!(by_id("3")["return"]["id_xdrs"], first["return"]["id_xdrs"]);
    assert_eq!(by_id("4")["code"], true);
    // After core.status: a run of one settle, the reservation already settled and no
    // details: unknown.
    assert_eq!(by_id("5")["errors"][0]["code"], "reservation.not_found");
    // The first run (four settles) was one transaction; the last settle its own.
    assert_eq!(e.settle_batches().0, batches + 2);
}
