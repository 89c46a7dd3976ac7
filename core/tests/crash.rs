//! The crash suite: a realistic mixed load runs in a child process (four callers authorizing,
//! extending, settling with replays, releasing, paying with replayed idempotency keys and
//! editing clients, while the main thread moves the engine's clock a day per beat: package
//! renewals, reservation expiry, handler deliveries). The parent kills it with SIGKILL at a
//! random moment, then checks the database against what the child was told (its append-only
//! log of intents and acknowledgements, written before and after each call):
//!
//! - `PRAGMA integrity_check` is `ok`;
//! - each acknowledged settle and payment exists exactly once, with the acknowledged amount;
//!   an unacknowledged one at most once; nothing exists that was never asked for;
//! - no call id and no ledger reference (renewals) is charged twice;
//! - each client's balance equals the sum of its ledger;
//! - the open reservations are the acknowledged open ones (plus at most the authorizes in
//!   flight at a kill, minus the ones a tick may have expired), and each client holds exactly
//!   what they hold;
//! - every acknowledged client edit has exactly one event, every event one intended edit, and
//!   every delivered event exists.
//!
//! CI runs `TOLLGATE_CRASH_KILLS` (default 50) kill points; `scripts/crash-soak.sh` runs more.

mod common;

use rand::{RngExt, SeedableRng};
use serde_json::json;
use std::collections::{HashMap, HashSet};
use std::io::Write;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tollgate::{AuthorizeRequest, Engine, EngineOptions, ManualClock, SettleRequest};

const CHILD: &str = "TOLLGATE_CRASH_CHILD";
const CLIENTS: usize = 6;
const ADMIN: &str = "admin";
const PASSWORD: &str = "admin-password-1";

fn base_time() -> chrono::DateTime<chrono::Utc> {
    tollgate::clock::parse_dt("2026-01-01 00:00:00").expect("time")
}

fn must(e: &Engine, method: &str, params: serde_json::Value) -> serde_json::Value {
    let r = e.call_as_system(method, params.clone());
    assert!(r.code, "{method} {params}: {:?}", r.errors);
    r.ret
}

/// Clients `100`..`105` on one rate table, two with a monthly package, a callback handler
/// hearing client edits.
fn setup(path: &str) -> Vec<i64> {
    let clock = Arc::new(ManualClock::new(base_time()));
    let e = Engine::create_with(
        path,
        ADMIN,
        PASSWORD,
        EngineOptions {
            clock,
            ..Default::default()
        },
    )
    .expect("create");
    let table = must(&e, "rateTables.add", json!({"name": "Retail"}))["id"].clone();
    must(
        &e,
        "rates.add",
        json!({"id_rate_tables": table, "code": "44", "rate": "0.6", "min_volume": 1, "interval": 1,
               "setup_fee": "0.05", "effective_from": "2020-01-01"}),
    );
    let package = must(
        &e,
        "packages.add",
        json!({"name": "Monthly", "activation_fee": "1", "periodical_fee": "2", "period": "P1M"}),
    )["id"]
        .clone();
    let mut clients = Vec::new();
    for k in 0..CLIENTS {
        let c = must(
            &e,
            "clients.add",
            json!({"name": format!("c{k}"), "orig_rate_table": table, "credit": if k == 5 { "5" } else { "0" }}),
        )["id"]
            .as_i64()
            .expect("id");
        must(
            &e,
            "accounts.add",
            json!({"id_clients": c, "name": format!("a{k}"), "auth_type": "ani", "ident": format!("{}", 100 + k)}),
        );
        must(
            &e,
            "transactions.add",
            json!({"id_clients": c, "type": "payment", "amount": "40"}),
        );
        if k < 2 {
            must(
                &e,
                "clients.packagesAdd",
                json!({"id_clients": c, "id_packages": package}),
            );
        }
        clients.push(c);
    }
    must(
        &e,
        "provisioning.add",
        json!({"name": "edits", "event": "clients.update", "stage": "after", "kind": "callback", "target": "crash"}),
    );
    clients
}

// --- the child -----------------------------------------------------------------------------

/// The child's log: one line per intent (`I ...`) before a call and acknowledgement (`A ...`)
/// after it, each written by one `write` on an `O_APPEND` file (a SIGKILL loses no written
/// line; a torn last line is ignored by the reader).
struct Log(std::fs::File);

impl Log {
    fn line(&self, s: String) {
        let mut f = &self.0;
        f.write_all(format!("{s}\n").as_bytes()).expect("log");
    }
}

/// An unreserved call settled by this child: (call id, duration, account, number).
type Settled = (String, u64, String, String);

/// The load: runs until killed.
#[test]
fn crash_child() {
    let Ok(spec) = std::env::var(CHILD) else {
        return; // not a child: nothing to do
    };
    let parts: Vec<&str> = spec.split('|').collect();
    let (db, log_path, seed) = (parts[0], parts[1], parts[2].parse::<u64>().expect("seed"));
    let past = read_log(Path::new(log_path));
    let clock = Arc::new(ManualClock::new(past.now.unwrap_or_else(base_time)));
    let config = tollgate::EngineConfig {
        charging: tollgate::config::ChargingConfig {
            quota_seconds: Some(60),
            ..Default::default()
        },
        ..Default::default()
    };
    let e = Engine::open_with(
        db,
        EngineOptions {
            clock: clock.clone(),
            config,
            vfs: None,
        },
    )
    .expect("open");
    let log = Arc::new(Log(std::fs::OpenOptions::new()
        .append(true)
        .open(log_path)
        .expect("log")));
    {
        let log = Arc::clone(&log);
        e.register_callback(
            "crash",
            Arc::new(move |ev: &tollgate::Event| {
                log.line(format!("E {}", ev.id));
                tollgate::Verdict::Allow
            }),
        )
        .expect("callback");
    }
    let clients: Vec<i64> = past.clients.clone();
    let open: Arc<Mutex<Vec<u64>>> = Arc::new(Mutex::new(Vec::new()));
    let settled: Arc<Mutex<Vec<Settled>>> = Arc::new(Mutex::new(
        past.settles_acked
            .iter()
            .filter_map(|(c, (d, _, acct))| {
                acct.as_ref()
                    .map(|a| (c.clone(), *d, a.clone(), "4420".to_string()))
            })
            .collect(),
    ));
    let paid: Arc<Mutex<Vec<(String, i64, String)>>> = Arc::new(Mutex::new(
        past.pays_acked
            .iter()
            .map(|(k, (c, a))| (k.clone(), *c, a.clone()))
            .collect(),
    ));
    let seq = Arc::new(AtomicU64::new(0));
    for t in 0..4u64 {
        let (e, log, open, settled, paid, seq, clients) = (
            e.clone(),
            Arc::clone(&log),
            Arc::clone(&open),
            Arc::clone(&settled),
            Arc::clone(&paid),
            Arc::clone(&seq),
            clients.clone(),
        );
        std::thread::spawn(move || {
            let mut rng = rand::rngs::StdRng::seed_from_u64(seed * 16 + t);
            loop {
                let n = seq.fetch_add(1, Ordering::Relaxed);
                let tag = format!("s{seed}t{t}n{n}");
                let k = rng.random_range(0..CLIENTS);
                let ani = format!("{}", 100 + k);
                match rng.random_range(0..100) {
                    0..30 => {
                        log.line(format!("I auth {tag}"));
                        let req = AuthorizeRequest {
                            account: ani.clone(),
                            auth_type: Some("ani".into()),
                            destination: format!("44{}", rng.random_range(1000..9999)),
                            ..Default::default()
                        };
                        if let Ok(a) = e.authorize(&req) {
                            log.line(format!(
                                "A auth {tag} {} {} {} {}",
                                a.reservation,
                                a.client,
                                a.held,
                                a.expires_at.timestamp()
                            ));
                            open.lock().unwrap().push(a.reservation);
                        }
                    }
                    30..40 => {
                        let Some(id) = pick(&open, &mut rng, false) else {
                            continue;
                        };
                        log.line(format!("I upd {id}"));
                        if let Ok(a) = e.update(id) {
                            log.line(format!(
                                "A upd {id} {} {}",
                                a.held,
                                a.expires_at.timestamp()
                            ));
                        }
                    }
                    40..65 => {
                        let reserved = pick(&open, &mut rng, true);
                        let duration = rng.random_range(0..150u64);
                        let call = format!("call-{tag}");
                        let req = SettleRequest {
                            reservation: reserved,
                            call_id: call.clone(),
                            duration,
                            account: reserved.is_none().then(|| ani.clone()),
                            auth_type: reserved.is_none().then(|| "ani".to_string()),
                            destination: reserved.is_none().then(|| "4420".to_string()),
                            ..Default::default()
                        };
                        settle(&e, &log, &settled, req, reserved, &ani);
                    }
                    65..72 => {
                        // A replay of a call settled earlier (perhaps before a crash).
                        let old = {
                            let s = settled.lock().unwrap();
                            (!s.is_empty()).then(|| s[rng.random_range(0..s.len())].clone())
                        };
                        let Some((call, duration, acct, dst)) = old else {
                            continue;
                        };
                        let req = SettleRequest {
                            call_id: call,
                            duration,
                            account: Some(acct.clone()),
                            auth_type: Some("ani".into()),
                            destination: Some(dst),
                            ..Default::default()
                        };
                        settle(&e, &log, &settled, req, None, &acct);
                    }
                    72..80 => {
                        let Some(id) = pick(&open, &mut rng, true) else {
                            continue;
                        };
                        log.line(format!("I rel {id}"));
                        if e.release(id).is_ok() {
                            log.line(format!("A rel {id}"));
                        }
                    }
                    80..92 => {
                        let replay = rng.random_bool(0.25);
                        let old = if replay {
                            let p = paid.lock().unwrap();
                            (!p.is_empty()).then(|| p[rng.random_range(0..p.len())].clone())
                        } else {
                            None
                        };
                        let (key, client, amount) = old.unwrap_or_else(|| {
                            (
                                format!("pay-{tag}"),
                                clients[k],
                                format!(
                                    "{}.{:02}",
                                    rng.random_range(1..20),
                                    rng.random_range(0..100)
                                ),
                            )
                        });
                        log.line(format!("I pay {key} {client} {amount}"));
                        let r = e.call_as_system(
                            "transactions.add",
                            json!({"id_clients": client, "type": "payment", "amount": amount, "idempotency_key": key}),
                        );
                        if r.code {
                            log.line(format!("A pay {key} {client} {amount}"));
                            paid.lock().unwrap().push((key, client, amount));
                        }
                    }
                    _ => {
                        let note = format!("note-{tag}");
                        log.line(format!("I edit {note}"));
                        let r = e.call_as_system(
                            "clients.edit",
                            json!({"id": clients[k], "c_address": note}),
                        );
                        if r.code {
                            log.line(format!("A edit {note}"));
                        }
                    }
                }
            }
        });
    }
    // The clock: a day per beat (renewals, expiry), then the outbox's deliveries.
    loop {
        std::thread::sleep(Duration::from_millis(15));
        let now = clock.now_plus_day();
        log.line(format!("I tick {}", now.timestamp()));
        if e.tick(now).is_ok() {
            log.line(format!("A tick {}", now.timestamp()));
        }
        let _ = e.deliver_events(now);
    }
}

trait Beat {
    fn now_plus_day(&self) -> chrono::DateTime<chrono::Utc>;
}

impl Beat for ManualClock {
    fn now_plus_day(&self) -> chrono::DateTime<chrono::Utc> {
        use tollgate::Clock;
        let next = self.now() + chrono::Duration::days(1);
        self.set(next);
        next
    }
}

/// A random open reservation; `take` removes it from the list (the call ends).
fn pick(open: &Mutex<Vec<u64>>, rng: &mut impl RngExt, take: bool) -> Option<u64> {
    let mut o = open.lock().unwrap();
    if o.is_empty() {
        return None;
    }
    let i = rng.random_range(0..o.len());
    Some(if take { o.swap_remove(i) } else { o[i] })
}

fn settle(
    e: &Engine,
    log: &Log,
    settled: &Mutex<Vec<Settled>>,
    req: SettleRequest,
    reserved: Option<u64>,
    ani: &str,
) {
    let r = reserved.map_or("-".to_string(), |id| id.to_string());
    log.line(format!(
        "I settle {} {r} {} {ani}",
        req.call_id, req.duration
    ));
    match e.settle(&req) {
        Ok(s) => {
            log.line(format!(
                "A settle {} {r} {} {} {} {} {ani}",
                s.call_id, s.duration, s.cost, s.xdr, s.replayed
            ));
            // Unreserved calls are replayed later with the same account and number.
            if !s.replayed && reserved.is_none() {
                let dst = req.destination.clone().unwrap_or_default();
                settled
                    .lock()
                    .unwrap()
                    .push((s.call_id, s.duration, ani.to_string(), dst));
            }
        }
        Err(err) => log.line(format!("F settle {} {}", req.call_id, err.code())),
    }
}

// --- what the log says ---------------------------------------------------------------------

#[derive(Default, Debug)]
struct Res {
    client: i64,
    held: String,
    expires: i64,
    closed: bool,
    close_intended: bool,
    /// Updates asked for and not acknowledged: two callers can extend one reservation at
    /// once, so one acknowledgement does not settle the other's.
    updates_in_flight: u32,
}

#[derive(Default, Debug)]
struct Past {
    clients: Vec<i64>,
    now: Option<chrono::DateTime<chrono::Utc>>,
    /// call id -> (duration, cost, account when known)
    settles_acked: HashMap<String, (u64, String, Option<String>)>,
    settles_intended: HashSet<String>,
    /// key -> (client, amount)
    pays_acked: HashMap<String, (i64, String)>,
    pays_intended: HashMap<String, (i64, String)>,
    reservations: HashMap<u64, Res>,
    auths_in_flight: usize,
    last_tick_intended: i64,
    edits_acked: HashSet<String>,
    edits_intended: HashSet<String>,
    delivered: HashSet<i64>,
}

fn read_log(path: &Path) -> Past {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let mut p = Past::default();
    let mut auth_intents: HashSet<String> = HashSet::new();
    // Only whole lines: the last one may be torn by the kill.
    let whole = match text.rfind('\n') {
        Some(i) => &text[..=i],
        None => "",
    };
    for line in whole.lines() {
        let f: Vec<&str> = line.split(' ').collect();
        match (f[0], f.get(1).copied().unwrap_or("")) {
            ("C", _) => p.clients = f[1..].iter().map(|c| c.parse().expect("client")).collect(),
            ("I", "auth") => {
                auth_intents.insert(f[2].to_string());
            }
            ("A", "auth") => {
                auth_intents.remove(f[2]);
                p.reservations.insert(
                    f[3].parse().expect("id"),
                    Res {
                        client: f[4].parse().expect("client"),
                        held: f[5].to_string(),
                        expires: f[6].parse().expect("expiry"),
                        ..Default::default()
                    },
                );
            }
            ("I", "upd") => {
                if let Some(r) = p.reservations.get_mut(&f[2].parse::<u64>().expect("id")) {
                    r.updates_in_flight += 1;
                }
            }
            ("A", "upd") => {
                if let Some(r) = p.reservations.get_mut(&f[2].parse::<u64>().expect("id")) {
                    r.updates_in_flight = r.updates_in_flight.saturating_sub(1);
                    // Acknowledgements of concurrent updates can be logged out of order: the
                    // one that extended it furthest says what it holds.
                    let expires: i64 = f[4].parse().expect("expiry");
                    if expires >= r.expires {
                        r.held = f[3].to_string();
                        r.expires = expires;
                    }
                }
            }
            ("I", "rel") => {
                if let Some(r) = p.reservations.get_mut(&f[2].parse::<u64>().expect("id")) {
                    r.close_intended = true;
                }
            }
            ("A", "rel") => {
                if let Some(r) = p.reservations.get_mut(&f[2].parse::<u64>().expect("id")) {
                    r.closed = true;
                }
            }
            ("I", "settle") => {
                p.settles_intended.insert(f[2].to_string());
                if let Ok(id) = f[3].parse::<u64>() {
                    if let Some(r) = p.reservations.get_mut(&id) {
                        r.close_intended = true;
                    }
                }
            }
            ("A", "settle") => {
                let (call, cost) = (f[2].to_string(), f[5].to_string());
                let duration: u64 = f[4].parse().expect("duration");
                if let Ok(id) = f[3].parse::<u64>() {
                    if let Some(r) = p.reservations.get_mut(&id) {
                        r.closed = true;
                    }
                }
                match p.settles_acked.get(&call) {
                    Some((d, c, _)) => {
                        assert_eq!(
                            (*d, c.as_str()),
                            (duration, cost.as_str()),
                            "the replay of {call} answered differently"
                        );
                    }
                    None => {
                        // The account is kept for unreserved calls: those are replayed.
                        let account = (f[3] == "-").then(|| f[8].to_string());
                        p.settles_acked.insert(call, (duration, cost, account));
                    }
                }
            }
            ("I", "pay") => {
                p.pays_intended.insert(
                    f[2].to_string(),
                    (f[3].parse().expect("client"), f[4].to_string()),
                );
            }
            ("A", "pay") => {
                p.pays_acked.insert(
                    f[2].to_string(),
                    (f[3].parse().expect("client"), f[4].to_string()),
                );
            }
            ("I", "edit") => {
                p.edits_intended.insert(f[2].to_string());
            }
            ("A", "edit") => {
                p.edits_acked.insert(f[2].to_string());
            }
            ("I", "tick") => {
                let t: i64 = f[2].parse().expect("time");
                p.last_tick_intended = p.last_tick_intended.max(t);
                p.now = chrono::DateTime::from_timestamp(t, 0);
            }
            ("E", id) => {
                p.delivered.insert(id.parse().expect("event id"));
            }
            _ => {}
        }
    }
    p.auths_in_flight = auth_intents.len();
    p
}

// --- the parent ----------------------------------------------------------------------------

fn decimal(s: &str) -> tollgate::Decimal {
    s.parse().unwrap_or_else(|_| panic!("not a decimal: {s}"))
}

/// The killed engine's database, read directly: an SQLite file (checked with
/// `PRAGMA integrity_check` too) or, with `TOLLGATE_TEST_BACKEND=postgres`, a PostgreSQL
/// database.
enum Db {
    Lite(rusqlite::Connection),
    Pg(std::cell::RefCell<postgres::Client>),
}

impl Db {
    fn open(db: &str) -> Db {
        if tollgate::is_server_url(db) {
            // The killed child's last COMMIT may still be running on the server: read what
            // the next owner will read.
            #[cfg(feature = "postgres")]
            tollgate::store::pg_testing::drain_writers(db).expect("drain");
            Db::Pg(std::cell::RefCell::new(
                postgres::Client::connect(db, postgres::NoTls).expect("postgres"),
            ))
        } else {
            Db::Lite(rusqlite::Connection::open(db).expect("sqlite"))
        }
    }

    /// The two columns of every row of `sql`, as text.
    fn rows(&self, sql: &str) -> Vec<(String, String)> {
        match self {
            Db::Lite(conn) => {
                let mut st = conn.prepare(sql).expect("sql");
                st.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))
                    .expect("query")
                    .map(|r| r.expect("row"))
                    .collect()
            }
            Db::Pg(client) => client
                .borrow_mut()
                .query(
                    &format!("SELECT a::text, b::text FROM ({sql}) q(a, b)"),
                    &[],
                )
                .expect("query")
                .iter()
                .map(|r| (r.get(0), r.get(1)))
                .collect(),
        }
    }
}

/// Every invariant the module's header names, after a kill.
fn check(db: &str, log: &Path, kill: usize) -> Past {
    let p = read_log(log);
    let conn = Db::open(db);
    if let Db::Lite(c) = &conn {
        let ok: String = c
            .query_row("PRAGMA integrity_check", [], |r| r.get(0))
            .expect("integrity_check");
        assert_eq!(ok, "ok", "kill {kill}: integrity");
    }
    let rows = |sql: &str| conn.rows(sql);
    // Settles: acknowledged ones exactly once, at the acknowledged cost; nothing invented.
    let mut xdrs: HashMap<String, Vec<String>> = HashMap::new();
    for (call, cost) in rows("SELECT call_id, cost FROM xdrs") {
        xdrs.entry(call).or_default().push(cost);
    }
    for (call, costs) in &xdrs {
        assert_eq!(
            costs.len(),
            1,
            "kill {kill}: call {call} charged {} times",
            costs.len()
        );
        assert!(
            p.settles_intended.contains(call),
            "kill {kill}: call {call} was never settled"
        );
    }
    for (call, (_, cost, _)) in &p.settles_acked {
        let stored = xdrs
            .get(call)
            .unwrap_or_else(|| panic!("kill {kill}: acknowledged call {call} lost"));
        assert_eq!(
            decimal(&stored[0]),
            decimal(cost),
            "kill {kill}: call {call}"
        );
    }
    // Payments: the same, by idempotency key.
    let mut pays: HashMap<String, Vec<(String, String)>> = HashMap::new();
    for (key, rest) in rows(
        "SELECT idempotency_key, id_clients || ' ' || amount FROM transactions WHERE idempotency_key LIKE 'pay-%'",
    ) {
        let (c, a) = rest.split_once(' ').expect("pair");
        pays.entry(key).or_default().push((c.to_string(), a.to_string()));
    }
    for (key, found) in &pays {
        assert_eq!(
            found.len(),
            1,
            "kill {kill}: payment {key} booked {} times",
            found.len()
        );
        let intended = p
            .pays_intended
            .get(key)
            .unwrap_or_else(|| panic!("kill {kill}: payment {key} never asked for"));
        assert_eq!(
            found[0].0,
            intended.0.to_string(),
            "kill {kill}: payment {key} client"
        );
        assert_eq!(
            decimal(&found[0].1),
            decimal(&intended.1),
            "kill {kill}: payment {key}"
        );
    }
    for key in p.pays_acked.keys() {
        assert!(
            pays.contains_key(key),
            "kill {kill}: acknowledged payment {key} lost"
        );
    }
    // No xDR is charged twice, and no renewal period or other keyed entry is booked twice.
    let twice = rows(
        "SELECT reference, CAST(COUNT(*) AS TEXT) FROM transactions WHERE reference LIKE 'xdr:%' GROUP BY reference HAVING COUNT(*) > 1",
    );
    assert!(
        twice.is_empty(),
        "kill {kill}: xDRs charged twice: {twice:?}"
    );
    let twice = rows(
        "SELECT id_clients || ' ' || idempotency_key, CAST(COUNT(*) AS TEXT) FROM transactions WHERE idempotency_key IS NOT NULL GROUP BY id_clients, idempotency_key HAVING COUNT(*) > 1",
    );
    assert!(
        twice.is_empty(),
        "kill {kill}: keys booked twice: {twice:?}"
    );
    // Open reservations: the acknowledged open ones are held; a closed one never is.
    let stored: HashSet<u64> = rows("SELECT CAST(id AS TEXT), '' FROM reservations")
        .into_iter()
        .map(|(id, _)| id.parse().expect("id"))
        .collect();
    let mut unknown = 0usize;
    for id in &stored {
        match p.reservations.get(id) {
            Some(r) => assert!(
                !r.closed,
                "kill {kill}: closed reservation {id} is held again"
            ),
            None => unknown += 1,
        }
    }
    assert!(
        unknown <= p.auths_in_flight,
        "kill {kill}: {unknown} reservations nobody was told of, {} authorizes were in flight",
        p.auths_in_flight
    );
    for (id, r) in &p.reservations {
        let may_be_gone = r.closed || r.close_intended || r.expires <= p.last_tick_intended;
        if !may_be_gone {
            assert!(
                stored.contains(id),
                "kill {kill}: acknowledged reservation {id} lost"
            );
        }
    }
    // Events: one per acknowledged edit, none uninvited; deliveries only of real events.
    let mut notes: HashMap<String, usize> = HashMap::new();
    let mut events: HashSet<i64> = HashSet::new();
    for (id, data) in
        rows("SELECT CAST(id AS TEXT), data FROM events WHERE events_id = 'clients.update'")
    {
        events.insert(id.parse().expect("id"));
        let v: serde_json::Value = serde_json::from_str(&data).expect("event data");
        let note = v["c_address"]
            .as_str()
            .or_else(|| v["data"]["c_address"].as_str())
            .unwrap_or_default()
            .to_string();
        assert!(
            p.edits_intended.contains(&note),
            "kill {kill}: event for an edit nobody made: {data}"
        );
        *notes.entry(note).or_default() += 1;
    }
    for note in &p.edits_acked {
        assert_eq!(
            notes.get(note),
            Some(&1),
            "kill {kill}: edit {note} has {:?} events",
            notes.get(note)
        );
    }
    for id in &p.delivered {
        assert!(
            events.contains(id),
            "kill {kill}: delivered event {id} is not in the outbox"
        );
    }
    let undelivered = rows(
        "SELECT CAST(COUNT(*) AS TEXT), '' FROM events e WHERE e.events_id = 'clients.update' AND NOT EXISTS (SELECT 1 FROM event_deliveries d WHERE d.id_events = e.id)",
    );
    assert_eq!(
        undelivered[0].0, "0",
        "kill {kill}: events without a delivery"
    );
    drop(conn);
    // Through the engine: balance = Σ ledger, and each client holds what its reservations do.
    let e = Engine::open_with(
        db,
        EngineOptions {
            clock: Arc::new(ManualClock::new(p.now.unwrap_or_else(base_time))),
            config: tollgate::EngineConfig {
                event_worker: false,
                ..Default::default()
            },
            vfs: None,
        },
    )
    .expect("reopen");
    for c in &p.clients {
        assert!(
            e.verify_client_ledger(*c).expect("ledger"),
            "kill {kill}: client {c} ledger"
        );
        let mine: Vec<(&u64, &Res)> = p
            .reservations
            .iter()
            .filter(|(id, r)| r.client == *c && stored.contains(id))
            .collect();
        let all_known = stored.iter().all(|id| p.reservations.contains_key(id));
        if all_known && mine.iter().all(|(_, r)| r.updates_in_flight == 0) {
            let want: tollgate::Decimal = mine.iter().map(|(_, r)| decimal(&r.held)).sum();
            let held = e.client_balance_cached(*c).expect("client").1;
            if held != want {
                // What the database and the log each say of this client's reservations.
                let now = Db::open(db).rows(&format!(
                    "SELECT CAST(id AS TEXT), body FROM reservations WHERE id_clients = {c}"
                ));
                panic!(
                    "kill {kill}: client {c} holds {held}, its reservations {want}\n\
                     read before the reopen: {stored:?}\nstored now: {now:?}\nlog: {mine:?}"
                );
            }
        }
    }
    p
}

fn child(db: &str, log: &Path, seed: u64) -> std::process::Child {
    std::process::Command::new(std::env::current_exe().expect("test binary"))
        .args(["--exact", "crash_child", "--nocapture", "--test-threads=1"])
        .env(CHILD, format!("{db}|{}|{seed}", log.display()))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("spawn the child")
}

#[test]
fn sigkill_at_random_points_keeps_every_acknowledged_promise() {
    if std::env::var(CHILD).is_ok() {
        return;
    }
    let kills: usize = std::env::var("TOLLGATE_CRASH_KILLS")
        .ok()
        .and_then(|k| k.parse().ok())
        .unwrap_or(50);
    let seed: u64 = std::env::var("TOLLGATE_CRASH_SEED")
        .ok()
        .and_then(|k| k.parse().ok())
        .unwrap_or(15);
    let dir = tempfile::tempdir().expect("tempdir");
    let db = common::db_path(dir.path(), "crash.db");
    let log = dir.path().join("acks.log");
    let clients = setup(&db);
    std::fs::write(
        &log,
        format!(
            "C {}\n",
            clients
                .iter()
                .map(i64::to_string)
                .collect::<Vec<_>>()
                .join(" ")
        ),
    )
    .expect("log");
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let mut last = Past::default();
    for kill in 0..kills {
        let mut c = child(
            &db,
            &log,
            seed.wrapping_mul(10_007).wrapping_add(kill as u64),
        );
        std::thread::sleep(Duration::from_millis(rng.random_range(40..260)));
        c.kill().expect("SIGKILL");
        c.wait().expect("reaped");
        last = check(&db, &log, kill);
    }
    eprintln!(
        "crash suite: {kills} kill points, {} acknowledged settles, {} payments, {} edits, {} reservations, {} events delivered",
        last.settles_acked.len(),
        last.pays_acked.len(),
        last.edits_acked.len(),
        last.reservations.len(),
        last.delivered.len()
    );
    assert!(
        last.settles_acked.len() > kills,
        "the load did too little to mean anything"
    );
}
