//! Deterministic simulation of a Tollgate engine (issue "durable live state", item 6).
//!
//! One seed drives everything: the operations (authorize, update, settle with replays,
//! unreserved settles, release, payments with replayed idempotency keys, clock moves that
//! expire reservations and renew a package), the engine's clock (a `ManualClock`), and the
//! faults of the in-memory disk under SQLite ([`vfs`]: failed writes, failed fsyncs, lost
//! unsynced writes and torn tails at a crash). The engine runs with no background thread, so
//! a seed always produces the same trace; [`Report::hash`] is the SHA-256 of that trace.
//!
//! After every step the simulator checks what the engine promised against its own model:
//! each client's balance equals the sum of its ledger; what each client holds equals the
//! holds of the reservations it was told of (a failed authorize may leave a hold nobody was
//! told of, until it expires); each acknowledged settle and payment exists once, with its
//! amount; an fsync that failed stopped the engine (`store.halted`) and nothing was retried.
//! After an operation failed on the disk the engine "loses power" (the disk crashes), reopens,
//! passes `PRAGMA integrity_check`, and every uncertain operation is resolved by retrying it
//! idempotently.

pub mod vfs;

use chrono::{DateTime, Duration, Utc};
use rand::{RngExt, SeedableRng};
use rust_decimal::Decimal;
use serde_json::json;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::sync::Arc;
use tollgate::{AuthorizeRequest, Engine, EngineConfig, EngineOptions, ManualClock, SettleRequest};

const DB: &str = "sim.db";
const CLIENTS: usize = 4;

/// What one run did.
#[derive(Debug, Clone)]
pub struct Report {
    /// SHA-256 of the trace (every operation and what it answered).
    pub hash: String,
    /// Operations run.
    pub steps: usize,
    /// Crashes and reopens.
    pub restarts: usize,
    /// Settles and payments acknowledged.
    pub acknowledged: usize,
    /// What the disk did.
    pub disk: vfs::Counts,
}

/// The faults of a normal run: rare enough that calls get done, frequent enough that a few
/// hundred seeds see every kind many times.
pub fn default_faults() -> vfs::Faults {
    vfs::Faults {
        write_error: 0.0005,
        sync_error: 0.002,
        torn_tail: 0.5,
    }
}

struct Open {
    client: usize,
    destination: String,
    held: Decimal,
    expires: DateTime<Utc>,
}

struct Sim {
    rng: rand::rngs::StdRng,
    clock: Arc<ManualClock>,
    engine: Option<Engine>,
    faults: vfs::Faults,
    clients: Vec<i64>,
    open: BTreeMap<u64, Open>,
    /// Clients a failed authorize may have left a hold for, until when.
    phantom: BTreeMap<usize, DateTime<Utc>>,
    /// call id -> (client, duration, cost) acknowledged.
    settles: BTreeMap<String, (usize, u64, Decimal)>,
    /// key -> (client, amount) acknowledged.
    payments: BTreeMap<String, (usize, Decimal)>,
    trace: Sha256,
    /// The last line of the trace (named in a failure).
    last: String,
    restarts: usize,
    next: u64,
}

type Step = std::result::Result<(), String>;

fn options(clock: &Arc<ManualClock>) -> EngineOptions {
    EngineOptions {
        clock: clock.clone(),
        config: EngineConfig {
            event_worker: false,
            clock_interval_ms: None,
            charging: tollgate::config::ChargingConfig {
                quota_seconds: Some(60),
                ..Default::default()
            },
            ..Default::default()
        },
        vfs: Some(vfs::NAME.to_string()),
    }
}

fn must(e: &Engine, method: &str, params: serde_json::Value) -> Result<serde_json::Value, String> {
    let r = e.call_as_system(method, params.clone());
    if r.code {
        Ok(r.ret)
    } else {
        Err(format!("{method} {params}: {:?}", r.errors))
    }
}

/// A failure the disk caused (the operation may or may not have been written).
fn disk_failure(code: &str) -> bool {
    matches!(code, "store.io" | "store.halted" | "internal")
}

impl Sim {
    fn engine(&self) -> &Engine {
        self.engine.as_ref().expect("an open engine")
    }

    fn note(&mut self, line: String) {
        self.trace.update(line.as_bytes());
        self.trace.update(b"\n");
        self.last = line;
    }

    fn setup(&mut self) -> Step {
        let e = Engine::create_with(DB, "admin", "admin-password-1", options(&self.clock))
            .map_err(|e| format!("create: {e}"))?;
        let table = must(&e, "rateTables.add", json!({"name": "Retail"}))?["id"].clone();
        must(
            &e,
            "rates.add",
            json!({"id_rate_tables": table, "code": "44", "rate": "0.6", "min_volume": 1,
                   "interval": 1, "setup_fee": "0.05", "effective_from": "2020-01-01"}),
        )?;
        let package = must(
            &e,
            "packages.add",
            json!({"name": "Monthly", "activation_fee": "1", "periodical_fee": "2", "period": "P1M"}),
        )?["id"]
            .clone();
        for k in 0..CLIENTS {
            let c = must(
                &e,
                "clients.add",
                json!({"name": format!("c{k}"), "orig_rate_table": table}),
            )?["id"]
                .as_i64()
                .ok_or("client id")?;
            must(
                &e,
                "accounts.add",
                json!({"id_clients": c, "name": format!("a{k}"), "auth_type": "ani", "ident": format!("{}", 100 + k)}),
            )?;
            must(
                &e,
                "transactions.add",
                json!({"id_clients": c, "type": "payment", "amount": "20"}),
            )?;
            if k == 0 {
                must(
                    &e,
                    "clients.packagesAdd",
                    json!({"id_clients": c, "id_packages": package}),
                )?;
            }
            self.clients.push(c);
        }
        self.engine = Some(e);
        Ok(())
    }

    /// Power loss and a reopen (with the disk's faults off while it reopens), then the
    /// integrity check.
    fn restart(&mut self) -> Step {
        // Power is lost first; the dead process's connection then closes against a disk that
        // takes nothing more.
        vfs::crash();
        self.engine = None;
        vfs::power_on();
        vfs::set_faults(vfs::Faults::default());
        let conn = rusqlite::Connection::open_with_flags_and_vfs(
            DB,
            rusqlite::OpenFlags::SQLITE_OPEN_READ_WRITE,
            vfs::NAME,
        )
        .map_err(|e| format!("integrity: open: {e}"))?;
        conn.pragma_update(None, "locking_mode", "EXCLUSIVE")
            .map_err(|e| format!("integrity: {e}"))?;
        let ok: String = conn
            .query_row("PRAGMA integrity_check", [], |r| r.get(0))
            .map_err(|e| format!("integrity: {e}"))?;
        drop(conn);
        if ok != "ok" {
            return Err(format!("integrity_check after a crash: {ok}"));
        }
        let e = Engine::open_with(DB, options(&self.clock)).map_err(|e| format!("reopen: {e}"))?;
        self.engine = Some(e);
        self.restarts += 1;
        self.note(format!("restart {}", self.restarts));
        Ok(())
    }

    fn faults_on(&self) {
        vfs::set_faults(self.faults.clone());
    }

    fn authorize(&mut self, k: usize) -> Step {
        let destination = format!("44{}", self.rng.random_range(100..999));
        let req = AuthorizeRequest {
            account: format!("{}", 100 + k),
            auth_type: Some("ani".into()),
            destination: destination.clone(),
            ..Default::default()
        };
        match self.engine().authorize(&req) {
            Ok(a) => {
                self.note(format!(
                    "authorize {k} -> {} {} {}",
                    a.reservation, a.held, a.granted_seconds
                ));
                if self.open.contains_key(&a.reservation) {
                    return Err(format!("reservation id {} handed out twice", a.reservation));
                }
                self.open.insert(
                    a.reservation,
                    Open {
                        client: k,
                        destination,
                        held: a.held,
                        expires: a.expires_at,
                    },
                );
                Ok(())
            }
            Err(e) => {
                let code = e.code().as_str();
                self.note(format!("authorize {k} -> {code}"));
                if disk_failure(code) {
                    // Perhaps written, never told: a hold may exist until it expires.
                    let until = self.clock_now() + Duration::seconds(60 + 120 + 1);
                    self.phantom.insert(k, until);
                    return self.after_disk_failure(code);
                }
                Ok(())
            }
        }
    }

    fn clock_now(&self) -> DateTime<Utc> {
        use tollgate::Clock;
        self.clock.now()
    }

    fn pick_open(&mut self) -> Option<u64> {
        if self.open.is_empty() {
            return None;
        }
        let i = self.rng.random_range(0..self.open.len());
        self.open.keys().nth(i).copied()
    }

    fn update(&mut self) -> Step {
        let Some(id) = self.pick_open() else {
            return Ok(());
        };
        match self.engine().update(id) {
            Ok(a) => {
                self.note(format!("update {id} -> {} {}", a.held, a.granted_seconds));
                if let Some(o) = self.open.get_mut(&id) {
                    o.held = a.held;
                    o.expires = a.expires_at;
                }
                Ok(())
            }
            Err(e) => {
                let code = e.code().as_str();
                self.note(format!("update {id} -> {code}"));
                if disk_failure(code) {
                    self.after_disk_failure(code)?;
                    return self.resolve_update(id);
                }
                Ok(())
            }
        }
    }

    /// After a crash an unacknowledged extension may or may not be there: ask again.
    fn resolve_update(&mut self, id: u64) -> Step {
        match self.engine().update(id) {
            Ok(a) => {
                if let Some(o) = self.open.get_mut(&id) {
                    o.held = a.held;
                    o.expires = a.expires_at;
                }
                Ok(())
            }
            Err(e) if e.code().as_str() == "reservation.not_found" => {
                self.open.remove(&id);
                Ok(())
            }
            Err(e) => Err(format!("resolving update {id}: {e}")),
        }
    }

    /// A settle as a switch sends it: the reservation when it has one, and always the call's
    /// account and number (so a retry after a crash can be recognised as a replay).
    fn settle_request(
        &mut self,
        reserved: Option<u64>,
        k: usize,
        call: String,
        duration: u64,
    ) -> SettleRequest {
        let destination = reserved
            .and_then(|id| self.open.get(&id))
            .map_or_else(|| "4420".to_string(), |o| o.destination.clone());
        SettleRequest {
            reservation: reserved,
            call_id: call,
            duration,
            account: Some(format!("{}", 100 + k)),
            auth_type: Some("ani".to_string()),
            destination: Some(destination),
            connect_time: reserved
                .is_none()
                .then(|| self.clock_now() - Duration::seconds(duration as i64)),
            ..Default::default()
        }
    }

    fn settle(&mut self, k: usize, replay: bool) -> Step {
        let (req, client) = if replay {
            let keys: Vec<String> = self.settles.keys().cloned().collect();
            if keys.is_empty() {
                return Ok(());
            }
            let call = keys[self.rng.random_range(0..keys.len())].clone();
            let (client, duration, _) = self.settles[&call];
            let mut req = self.settle_request(None, client, call, duration);
            // A replay's answer does not depend on when it is sent again.
            req.connect_time = None;
            (req, client)
        } else {
            self.next += 1;
            let call = format!("call-{}", self.next);
            let duration = self.rng.random_range(0..200u64);
            match self.pick_open() {
                Some(id) => {
                    let client = self.open[&id].client;
                    (
                        self.settle_request(Some(id), client, call, duration),
                        client,
                    )
                }
                None => (self.settle_request(None, k, call, duration), k),
            }
        };
        self.send_settle(req, client, replay)
    }

    fn send_settle(&mut self, req: SettleRequest, client: usize, replay: bool) -> Step {
        match self.engine().settle(&req) {
            Ok(s) => {
                self.note(format!(
                    "settle {} {:?} -> {} {} {}",
                    s.call_id, req.reservation, s.cost, s.replayed, s.balance
                ));
                if let Some(id) = req.reservation {
                    self.open.remove(&id);
                }
                match self.settles.get(&s.call_id) {
                    Some((_, d, cost)) => {
                        if !s.replayed || *cost != s.cost || *d != s.duration {
                            return Err(format!(
                                "call {} settled again: replayed {}, cost {} (first {cost})",
                                s.call_id, s.replayed, s.cost
                            ));
                        }
                    }
                    None if s.replayed && !replay => {
                        return Err(format!("new call {} answered as a replay", s.call_id));
                    }
                    None => {
                        // (A retry after a crash may replay a settle whose answer was lost.)
                        self.settles
                            .insert(s.call_id.clone(), (client, s.duration, s.cost));
                    }
                }
                Ok(())
            }
            Err(e) => {
                let code = e.code().as_str();
                self.note(format!("settle {} -> {code}", req.call_id));
                if code == "reservation.not_found" {
                    if let Some(id) = req.reservation {
                        // Expired under a tick the model did not mirror exactly.
                        self.open.remove(&id);
                    }
                }
                if disk_failure(code) {
                    self.after_disk_failure(code)?;
                    // Settle it again: exactly once, whatever the crash kept.
                    return self.send_settle(req, client, true);
                }
                Ok(())
            }
        }
    }

    fn release(&mut self) -> Step {
        let Some(id) = self.pick_open() else {
            return Ok(());
        };
        match self.engine().release(id) {
            Ok(()) => {
                self.note(format!("release {id} -> ok"));
                self.open.remove(&id);
                Ok(())
            }
            Err(e) => {
                let code = e.code().as_str();
                self.note(format!("release {id} -> {code}"));
                if disk_failure(code) {
                    self.after_disk_failure(code)?;
                    return match self.engine().release(id) {
                        Ok(()) => {
                            self.open.remove(&id);
                            Ok(())
                        }
                        Err(e) if e.code().as_str() == "reservation.not_found" => {
                            self.open.remove(&id);
                            Ok(())
                        }
                        Err(e) => Err(format!("resolving release {id}: {e}")),
                    };
                }
                if code == "reservation.not_found" {
                    self.open.remove(&id);
                }
                Ok(())
            }
        }
    }

    fn pay(&mut self, k: usize) -> Step {
        let replay = !self.payments.is_empty() && self.rng.random_bool(0.3);
        let (key, client, amount) = if replay {
            let keys: Vec<String> = self.payments.keys().cloned().collect();
            let key = keys[self.rng.random_range(0..keys.len())].clone();
            let (client, amount) = self.payments[&key];
            (key, client, amount)
        } else {
            self.next += 1;
            let cents = self.rng.random_range(100..2000i64);
            (format!("pay-{}", self.next), k, Decimal::new(cents, 2))
        };
        let params = json!({"id_clients": self.clients[client], "type": "payment", "amount": amount.to_string(), "idempotency_key": key});
        loop {
            let r = self
                .engine()
                .call_as_system("transactions.add", params.clone());
            if r.code {
                self.note(format!("pay {key} {amount} -> ok"));
                self.payments.insert(key, (client, amount));
                return Ok(());
            }
            let code = r
                .errors
                .first()
                .map(|e| e.code.as_str().to_string())
                .unwrap_or_default();
            self.note(format!("pay {key} -> {code}"));
            if !disk_failure(&code) {
                return Err(format!("payment {key} refused: {:?}", r.errors));
            }
            // Retried after the crash: the key makes it exactly once.
            self.after_disk_failure(&code)?;
        }
    }

    fn tick(&mut self) -> Step {
        let minutes = if self.rng.random_bool(0.2) {
            self.rng.random_range(1..40) * 24 * 60
        } else {
            self.rng.random_range(1..6)
        };
        let now = self.clock_now() + Duration::minutes(minutes);
        self.clock.set(now);
        match self.engine().tick(now) {
            Ok(r) => {
                self.note(format!(
                    "tick {minutes} -> {} {}",
                    r.reservations_released, r.subscriptions.renewed
                ));
                self.open.retain(|_, o| o.expires > now);
                self.phantom.retain(|_, until| *until > now);
                Ok(())
            }
            Err(e) => {
                let code = e.code().as_str();
                self.note(format!("tick {minutes} -> {code}"));
                if disk_failure(code) {
                    self.after_disk_failure(code)?;
                    return self.tick_again(now);
                }
                Err(format!("tick: {e}"))
            }
        }
    }

    fn tick_again(&mut self, now: DateTime<Utc>) -> Step {
        self.engine()
            .tick(now)
            .map_err(|e| format!("tick after restart: {e}"))?;
        self.open.retain(|_, o| o.expires > now);
        self.phantom.retain(|_, until| *until > now);
        Ok(())
    }

    /// The disk failed an operation. A failed fsync must have stopped the engine: the next
    /// call answers `store.halted`. Then power is lost and the engine reopens.
    fn after_disk_failure(&mut self, code: &str) -> Step {
        // Any call, even a read, answers `store.halted` once a commit failed.
        let probe = self.engine().status();
        let halted = matches!(&probe, Err(e) if e.code().as_str() == "store.halted");
        if code == "store.halted" && !halted {
            return Err(format!(
                "a commit failed but the engine kept going: {probe:?}"
            ));
        }
        // Faults stay off until the next step: the retry that resolves this one runs on a
        // healthy disk.
        self.restart()
    }

    /// The invariants, after every step.
    fn check(&self) -> Step {
        let e = self.engine();
        let mut told = 0usize;
        for (k, c) in self.clients.iter().enumerate() {
            if !e
                .verify_client_ledger(*c)
                .map_err(|x| format!("ledger of {c}: {x}"))?
            {
                return Err(format!("client {c}: balance is not the sum of its ledger"));
            }
            let held = e.client_balance_cached(*c).ok_or("client missing")?.1;
            let want: Decimal = self
                .open
                .values()
                .filter(|o| o.client == k)
                .map(|o| o.held)
                .sum();
            told += self.open.values().filter(|o| o.client == k).count();
            let exact = !self.phantom.contains_key(&k);
            if (exact && held != want) || held < want {
                return Err(format!("client {c} holds {held}, its reservations {want}"));
            }
        }
        let open = e.open_reservations();
        if open < told || (self.phantom.is_empty() && open != told) {
            return Err(format!("{open} reservations open, {told} acknowledged"));
        }
        Ok(())
    }

    /// Every acknowledged settle and payment exists exactly once (at the end of a run).
    fn check_ledger(&self) -> Step {
        let e = self.engine();
        for (call, (_, _, cost)) in &self.settles {
            let x = must(e, "xdrs.list", json!({"call_id": call}))?;
            let rows = x["rows"].as_array().map_or(0, Vec::len);
            if rows != 1 {
                return Err(format!("call {call} has {rows} xDRs"));
            }
            let stored: Decimal = x["rows"][0]["cost"]
                .to_string()
                .trim_matches('"')
                .parse()
                .map_err(|_| "cost")?;
            if stored != *cost {
                return Err(format!("call {call} costs {stored}, acknowledged {cost}"));
            }
        }
        Ok(())
    }

    fn step(&mut self) -> Step {
        let k = self.rng.random_range(0..CLIENTS);
        match self.rng.random_range(0..100) {
            0..35 => self.authorize(k),
            35..45 => self.update(),
            45..68 => self.settle(k, false),
            68..73 => self.settle(k, true),
            73..80 => self.release(),
            80..90 => self.pay(k),
            _ => self.tick(),
        }
    }
}

/// The world every run starts from: made once per process (creating an engine hashes a
/// password and makes signing keys, which would dominate a run), then restored onto the disk.
fn world(clock: &Arc<ManualClock>) -> Result<(vfs::Snapshot, Vec<i64>), String> {
    static WORLD: std::sync::OnceLock<Result<(vfs::Snapshot, Vec<i64>), String>> =
        std::sync::OnceLock::new();
    WORLD
        .get_or_init(|| {
            vfs::reset(0, vfs::Faults::default());
            let mut sim = Sim::new(0, clock.clone(), vfs::Faults::default());
            sim.setup()?;
            sim.engine = None;
            Ok((vfs::snapshot(), sim.clients))
        })
        .clone()
}

fn start_time() -> DateTime<Utc> {
    tollgate::clock::parse_dt("2026-01-01 00:00:00").unwrap_or_default()
}

impl Sim {
    fn new(seed: u64, clock: Arc<ManualClock>, faults: vfs::Faults) -> Sim {
        Sim {
            rng: rand::rngs::StdRng::seed_from_u64(seed),
            clock,
            engine: None,
            faults,
            clients: Vec::new(),
            open: BTreeMap::new(),
            phantom: BTreeMap::new(),
            settles: BTreeMap::new(),
            payments: BTreeMap::new(),
            trace: Sha256::new(),
            last: String::new(),
            restarts: 0,
            next: 0,
        }
    }
}

/// Run `ops` operations from `seed` with `faults`; an `Err` names the broken invariant, the
/// step and the seed.
pub fn run(seed: u64, ops: usize, faults: vfs::Faults) -> Result<Report, String> {
    let clock = Arc::new(ManualClock::new(start_time()));
    let (snapshot, clients) = world(&clock).map_err(|e| format!("setup: {e}"))?;
    vfs::reset(seed, vfs::Faults::default());
    vfs::restore(&snapshot);
    clock.set(start_time());
    let mut sim = Sim::new(seed, clock, faults);
    sim.clients = clients;
    sim.engine = Some(
        Engine::open_with(DB, options(&sim.clock))
            .map_err(|e| format!("seed {seed}: open: {e}"))?,
    );
    for step in 0..ops {
        sim.faults_on();
        let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            sim.step()?;
            sim.check()
        }));
        match outcome {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                return Err(format!(
                    "seed {seed}, step {step} (after {:?}): {e}",
                    sim.last
                ))
            }
            Err(p) => {
                let what = p
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
                    .unwrap_or_default();
                return Err(format!(
                    "seed {seed}, step {step}: the engine panicked: {what}"
                ));
            }
        }
    }
    vfs::set_faults(vfs::Faults::default());
    sim.check_ledger()
        .map_err(|e| format!("seed {seed}: {e}"))?;
    let report = Report {
        hash: hex::encode(sim.trace.clone().finalize()),
        steps: ops,
        restarts: sim.restarts,
        acknowledged: sim.settles.len() + sim.payments.len(),
        disk: vfs::counts(),
    };
    sim.engine = None;
    Ok(report)
}
