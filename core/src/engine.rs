//! The engine: one database, one registry, any number of threads.

use crate::api::Inner;
use crate::api::{self, Envelope, FileMeta, ImportMode, ImportOptions, Registry};
use crate::auth::{password, Principal};
use crate::charging::rate_file::{RateRequest, Rated};
use crate::charging::{
    Authorization, AuthorizeCall, AuthorizeRequest, Charging, SettleRequest, Settlement,
};
use crate::clock::{self, Clock, SystemClock};
use crate::error::Result;
use crate::limits;
use crate::packages::SubscriptionTick;
use crate::services::Services;
use crate::store::{self, SqliteStore, Store, TxKind};
use rust_decimal::Decimal;
use serde_json::Value;
use std::sync::Arc;

pub use crate::config::EngineConfig;
pub use crate::model::OPERATOR_COMPANY;

/// What one [`Engine::tick`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TickReport {
    /// Reservations released after their expiry.
    pub reservations_released: usize,
    /// Subscriptions activated, renewed, deactivated and closed.
    pub subscriptions: SubscriptionTick,
    /// Subscriptions that could not be processed (id, error); retried on the next tick.
    pub errors: Vec<(i64, String)>,
    /// Invoices the clock issued for closed auto-invoicing periods.
    pub invoices_issued: usize,
    /// Auto-invoicing that could not be done (client id, reason): a period overlapping an
    /// invoice issued by hand is skipped; a failure is retried on the next tick.
    pub invoice_errors: Vec<(i64, String)>,
}

/// How to build an engine: clock and settings.
#[derive(Clone)]
pub struct EngineOptions {
    /// Where time comes from.
    pub clock: Arc<dyn Clock>,
    /// Settings.
    pub config: EngineConfig,
    /// The registered SQLite VFS to open the file through (`None`: the operating system's
    /// files). The simulator opens its in-memory, fault-injecting disk this way.
    pub vfs: Option<String>,
}

impl Default for EngineOptions {
    fn default() -> Self {
        EngineOptions {
            clock: Arc::new(SystemClock),
            config: EngineConfig::default(),
            vfs: None,
        }
    }
}

impl std::fmt::Debug for EngineOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EngineOptions")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

/// Owns the event delivery worker: stopping and joining it when the last engine handle
/// drops (or on [`Engine::close`]).
struct Worker {
    signal: Arc<crate::events::Signal>,
    handle: parking_lot::Mutex<Option<std::thread::JoinHandle<()>>>,
    /// The engine's clock thread, when `EngineConfig::clock_interval_ms` asks for one.
    clock: parking_lot::Mutex<Option<(Arc<crate::events::Signal>, std::thread::JoinHandle<()>)>>,
}

impl Worker {
    fn stop(&self) {
        self.signal.stop();
        let clock = self.clock.lock().take();
        if let Some((signal, h)) = clock {
            signal.stop();
            join_unless_self(h);
        }
        let handle = self.handle.lock().take();
        if let Some(h) = handle {
            join_unless_self(h);
        }
    }
}

/// Join a background thread, unless it is the caller: the thread itself may hold the last
/// handle (through a callback that kept an engine) and stops on its own after its pass.
fn join_unless_self(h: std::thread::JoinHandle<()>) {
    if h.thread().id() != std::thread::current().id() {
        let _ = h.join();
    }
}

/// `Engine::tick`'s work, on the engine's shared context (the clock thread holds no `Engine`).
fn tick(inner: &Inner, now: chrono::DateTime<chrono::Utc>) -> Result<TickReport> {
    inner
        .last_tick
        .store(now.timestamp(), std::sync::atomic::Ordering::Relaxed);
    let released = inner.charging.expire(inner.store.as_ref(), now)?;
    let store = inner.store.as_ref();
    let charging = &inner.charging;
    let mut report = TickReport {
        reservations_released: released,
        ..TickReport::default()
    };
    let due = store::run(store, TxKind::Read, |tx| crate::packages::due(tx, now))?;
    // One transaction per subscription: one that cannot be processed never holds up the rest.
    for sub in due {
        let id = sub
            .get("id")
            .and_then(crate::model::Val::as_int)
            .unwrap_or_default();
        let outcome = store::run_then(
            store,
            TxKind::Write,
            |tx| {
                // Re-read inside the transaction: the list may be stale.
                let Some(sub) = tx.get(&crate::model::SUBSCRIPTIONS, id, None)? else {
                    return Ok((SubscriptionTick::default(), None));
                };
                let client = sub
                    .get("id_clients")
                    .and_then(crate::model::Val::as_int)
                    .unwrap_or_default();
                let mut available = charging.available(client)?;
                let mut t = SubscriptionTick::default();
                match sub.get("status").and_then(crate::model::Val::as_text) {
                    Some("pending") => {
                        let after = crate::packages::activate(tx, id, now, available)?;
                        if after.get("status").and_then(crate::model::Val::as_text)
                            == Some("active")
                        {
                            t.activated += 1;
                        }
                    }
                    Some("active") => {
                        crate::packages::advance(tx, &sub, now, &mut available, &mut t)?
                    }
                    _ => {}
                }
                if let Some(after) = tx.get(&crate::model::SUBSCRIPTIONS, id, None)? {
                    let dt = clock::format_dt(now);
                    crate::outbox::subscription_changed(tx, Some(&sub), &after, &dt)?;
                }
                // Renewed periods start their included volumes afresh.
                let refresh = charging.prepare(tx, &[("subscriptions", id)])?;
                Ok((t, Some(std::cell::RefCell::new(Some(refresh)))))
            },
            |(_, refresh)| {
                if let Some(r) = refresh.as_ref().and_then(|c| c.borrow_mut().take()) {
                    charging.apply(r);
                }
            },
        );
        match outcome {
            Ok((t, _)) => {
                report.subscriptions.activated += t.activated;
                report.subscriptions.renewed += t.renewed;
                report.subscriptions.deactivated += t.deactivated;
                report.subscriptions.closed += t.closed;
            }
            // A store that stopped writing is the engine's failure, not this subscription's.
            Err(e) if e.code() == crate::ErrorCode::StoreHalted => return Err(e),
            Err(e) => report.errors.push((id, e.to_string())),
        }
    }
    auto_invoices(inner, now, &mut report)?;
    inner.events.signal.wake();
    Ok(report)
}

/// The clock's auto-invoicing: one transaction per due client (docs/invoices.md).
fn auto_invoices(
    inner: &Inner,
    now: chrono::DateTime<chrono::Utc>,
    report: &mut TickReport,
) -> Result<()> {
    let store = inner.store.as_ref();
    let charging = &inner.charging;
    let due = store::run(store, TxKind::Read, |tx| {
        crate::api::invoices::auto_due(tx, now)
    })?;
    for client in due {
        let outcome = store::run_then(
            store,
            TxKind::Write,
            |tx| {
                let done = crate::api::invoices::auto_invoice(tx, client, now)?;
                // The tax entries moved the balance: the hot path follows on commit.
                let refresh = charging.prepare(tx, &[("clients", client)])?;
                Ok((done, std::cell::RefCell::new(Some(refresh))))
            },
            |(_, refresh)| {
                if let Some(r) = refresh.borrow_mut().take() {
                    charging.apply(r);
                }
            },
        );
        match outcome {
            Ok((done, _)) => {
                report.invoices_issued += done.issued;
                for s in done.skipped {
                    log::warn!(target: "tollgate::clock", "auto-invoicing: {s}");
                    report.invoice_errors.push((client, s));
                }
            }
            Err(e) if e.code() == crate::ErrorCode::StoreHalted => return Err(e),
            Err(e) => {
                log::warn!(target: "tollgate::clock", "auto-invoicing client {client}: {e}");
                report.invoice_errors.push((client, e.to_string()));
            }
        }
    }
    Ok(())
}

/// The engine's clock: `tick` every `interval` by the engine's clock until stopped. It holds
/// no lock across a pass's I/O beyond what `tick` itself takes, and only a weak handle, so
/// the engine closes when its callers are done.
fn spawn_clock(
    weak: std::sync::Weak<Inner>,
    signal: Arc<crate::events::Signal>,
    interval: std::time::Duration,
) -> std::io::Result<std::thread::JoinHandle<()>> {
    std::thread::Builder::new()
        .name("tollgate-clock".into())
        .spawn(move || {
            while signal.wait(interval) {
                // Only the shared context, never the worker: the last `Engine` dropped
                // elsewhere stops and joins this thread (after this pass) and closes the file.
                let Some(inner) = weak.upgrade() else {
                    break;
                };
                let now = inner.clock.now();
                // A failed pass (storage error) is retried at the next beat.
                if tick(&inner, now).is_err() {
                    log::warn!(target: "tollgate::clock", "a clock pass failed; retrying at the next beat");
                }
            }
        })
}

impl Drop for Worker {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A Tollgate engine. Cheap to clone (clones share the engine); `Send + Sync`.
#[derive(Clone)]
pub struct Engine {
    // Declared first so that it drops first: the worker is joined before the store closes.
    worker: Arc<Worker>,
    inner: Arc<Inner>,
}

/// A handle that does not keep the engine open (for callbacks that call back into it: a
/// callback holding an [`Engine`] would keep the engine alive until it is unregistered).
#[derive(Clone)]
pub struct WeakEngine {
    worker: std::sync::Weak<Worker>,
    inner: std::sync::Weak<Inner>,
}

impl WeakEngine {
    /// The engine, if it is still open.
    pub fn upgrade(&self) -> Option<Engine> {
        Some(Engine {
            worker: self.worker.upgrade()?,
            inner: self.inner.upgrade()?,
        })
    }
}

impl std::fmt::Debug for WeakEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WeakEngine").finish_non_exhaustive()
    }
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine").finish_non_exhaustive()
    }
}

/// Does `target` name a database server rather than a file (`postgres://`, `postgresql://`)?
pub fn is_server_url(target: &str) -> bool {
    let lower = target.get(..13).unwrap_or(target).to_ascii_lowercase();
    lower.starts_with("postgres://") || lower.starts_with("postgresql://")
}

/// `target` as it may be shown or logged: a server URL without its password.
pub fn display_target(target: &str) -> String {
    if !is_server_url(target) {
        return target.to_string();
    }
    match url::Url::parse(target) {
        Ok(mut u) => {
            if u.password().is_some() {
                let _ = u.set_password(Some("***"));
            }
            u.to_string()
        }
        Err(_) => "(a database URL that does not parse)".to_string(),
    }
}

/// The store `target` names: a PostgreSQL URL or an SQLite file.
fn create_store(target: &str, opts: &EngineOptions) -> Result<Box<dyn Store>> {
    if is_server_url(target) {
        #[cfg(feature = "postgres")]
        return Ok(Box::new(store::PgStore::create(target)?));
        #[cfg(not(feature = "postgres"))]
        return Err(no_postgres());
    }
    Ok(Box::new(SqliteStore::create_in(
        target,
        opts.vfs.as_deref(),
    )?))
}

fn open_store(target: &str, opts: &EngineOptions) -> Result<Box<dyn Store>> {
    if is_server_url(target) {
        #[cfg(feature = "postgres")]
        return Ok(Box::new(store::PgStore::open(target)?));
        #[cfg(not(feature = "postgres"))]
        return Err(no_postgres());
    }
    Ok(Box::new(SqliteStore::open_in(target, opts.vfs.as_deref())?))
}

#[cfg(not(feature = "postgres"))]
fn no_postgres() -> crate::Error {
    crate::error::ValidationError::Invalid {
        field: "database".into(),
        reason: "this build has no PostgreSQL store (cargo feature `postgres`)".into(),
    }
    .into()
}

impl Engine {
    /// Create a new database at `path` (or `":memory:"`) with one administrator.
    pub fn create(path: &str, admin_login: &str, admin_password: &str) -> Result<Engine> {
        Engine::create_with(path, admin_login, admin_password, EngineOptions::default())
    }

    /// [`Engine::create`] with a chosen clock and settings.
    pub fn create_with(
        path: &str,
        admin_login: &str,
        admin_password: &str,
        opts: EngineOptions,
    ) -> Result<Engine> {
        let admin_login = &crate::auth::normalize_login("admin_login", admin_login)?;
        password::check_new("admin_password", admin_password)?;
        let hash = password::hash(admin_password)?;
        let store = create_store(path, &opts)?;
        let now = clock::format_dt(opts.clock.now());
        let created = store::run(store.as_ref(), TxKind::Write, |tx| {
            use crate::model::{Record, Val, COMPANIES, CURRENCIES};
            let mut company = Record::new();
            company.insert("name", Val::Text("Operator".into()));
            company.insert("status", Val::Text("active".into()));
            company.insert("c_dt", Val::Text(now.clone()));
            let id = tx.insert(&COMPANIES, &company)?;
            debug_assert_eq!(id, OPERATOR_COMPANY);
            let mut usd = Record::new();
            usd.insert("code", Val::Text("USD".into()));
            usd.insert("name", Val::Text("US Dollar".into()));
            usd.insert("rates_precision", Val::Int(4));
            usd.insert("details_precision", Val::Int(4));
            usd.insert("totals_precision", Val::Int(2));
            usd.insert("c_dt", Val::Text(now.clone()));
            tx.insert(&CURRENCIES, &usd)?;
            tx.insert_user(admin_login, &hash, 1, OPERATOR_COMPANY, &now)?;
            Ok(())
        });
        // The token signing key is made and stored by `from_store`. `created_at` is written
        // last: a database without it is a create that did not finish (the process died, or
        // a step failed), which both stores refuse to open and let `create` start again
        // (docs/storage.md); an SQLite file of a failed create is also removed here.
        let engine = created
            .and_then(|()| Engine::from_store(store, opts))
            .and_then(|engine| {
                store::run(engine.inner.store.as_ref(), TxKind::Write, |tx| {
                    tx.set_meta("created_at", &now)
                })?;
                Ok(engine)
            });
        if engine.is_err() && path != ":memory:" && !is_server_url(path) {
            let _ = std::fs::remove_file(path);
        }
        engine
    }

    /// Open an existing database.
    pub fn open(path: &str) -> Result<Engine> {
        Engine::open_with(path, EngineOptions::default())
    }

    /// [`Engine::open`] with a chosen clock and settings.
    pub fn open_with(path: &str, opts: EngineOptions) -> Result<Engine> {
        Engine::from_store(open_store(path, &opts)?, opts)
    }

    fn from_store(store: Box<dyn Store>, opts: EngineOptions) -> Result<Engine> {
        let tokens = crate::auth::token::load_or_create(store.as_ref())?;
        let charging = Charging::load(store.as_ref(), opts.config.charging.clone())?;
        let start_worker = opts.config.event_worker;
        let inner = Arc::new(Inner {
            services: Services {
                store,
                clock: opts.clock,
                config: opts.config,
                tokens,
                charging,
                events: crate::events::Events::default(),
                last_tick: std::sync::atomic::AtomicI64::new(0),
            },
            registry: Registry::build(),
        });
        let signal = Arc::clone(&inner.events.signal);
        let handle = if start_worker {
            // Events left in the outbox by an earlier run (a crash) go out from the start.
            signal.wake();
            let weak = Arc::downgrade(&inner);
            let h = crate::events::delivery::spawn_worker(Arc::clone(&signal), move |signal| {
                let Some(inner) = weak.upgrade() else {
                    return false;
                };
                let now = inner.clock.now();
                // A failed pass (storage error) is retried at the next wake-up; the outbox
                // keeps the events.
                let _ = crate::events::delivery::deliver(&inner.hub(), now, signal);
                true
            })
            .map_err(|e| crate::Error::Internal(format!("event worker not started: {e}")))?;
            Some(h)
        } else {
            None
        };
        let worker = Arc::new(Worker {
            signal,
            handle: parking_lot::Mutex::new(handle),
            clock: parking_lot::Mutex::new(None),
        });
        if let Some(ms) = inner.config.clock_interval_ms {
            let interval = std::time::Duration::from_millis(
                ms.clamp(limits::clock_interval_ms_min, limits::clock_interval_ms_max),
            );
            let signal = Arc::new(crate::events::Signal::default());
            let h = spawn_clock(Arc::downgrade(&inner), Arc::clone(&signal), interval)
                .map_err(|e| crate::Error::Internal(format!("engine clock not started: {e}")))?;
            *worker.clock.lock() = Some((signal, h));
        }
        Ok(Engine { worker, inner })
    }

    /// Register a callback that `callback` handlers name in their `target`. It runs with no
    /// engine lock held: `after` events on the delivery worker's thread, `before` events on
    /// the caller's. A panic in it is caught and counts as a failure. A name in use is
    /// `validation.duplicate` (unregister it first).
    pub fn register_callback(&self, name: &str, cb: crate::events::EventCallback) -> Result<()> {
        self.inner.events.register(name, cb)
    }

    /// Remove a registered callback; `false` when none had the name. Deliveries to a handler
    /// whose callback is missing fail and are retried (`before`: the change is forbidden).
    pub fn unregister_callback(&self, name: &str) -> bool {
        self.inner.events.unregister(name)
    }

    /// Deliver every event due at `now` to its `after` handlers (retries included), in order
    /// per object, and return what was done. Deterministic: tests drive retries with the
    /// clock instead of waiting for the background worker. One delivery pass runs at a time.
    pub fn deliver_events(
        &self,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<crate::events::DeliveryReport> {
        // Its own stop signal: an explicit delivery runs to the end even after `close`.
        crate::events::delivery::deliver(&self.inner.hub(), now, &crate::events::Signal::default())
    }

    /// Stop the event delivery worker (joining it) and drop the registered callbacks. The
    /// engine still answers calls; events stay in the outbox for [`Engine::deliver_events`]
    /// or the next open. Dropping the last handle does the same.
    pub fn close(&self) {
        self.worker.stop();
        self.inner.events.clear_callbacks();
    }

    /// A handle that does not keep the engine open.
    pub fn downgrade(&self) -> WeakEngine {
        WeakEngine {
            worker: Arc::downgrade(&self.worker),
            inner: Arc::downgrade(&self.inner),
        }
    }

    /// May this call go through, and for how long? Decided in memory for trusted in-process
    /// callers (a softswitch plugin), answered once the reservation is durable (group-committed
    /// with concurrent calls); refusals are errors with their named code
    /// (`account.not_found`, `balance.insufficient`, `capacity.exceeded`, `rating.no_rate`...).
    pub fn authorize(&self, req: &AuthorizeRequest) -> Result<Authorization> {
        self.authorize_call(req.call())
    }

    /// [`Engine::authorize`] with the request's text borrowed, not copied.
    pub fn authorize_call(&self, req: AuthorizeCall<'_>) -> Result<Authorization> {
        self.inner
            .charging
            .authorize(self.inner.store.as_ref(), req, self.inner.clock.now())
    }

    /// Extend a reservation by another quota (or up to everything affordable).
    pub fn update(&self, reservation: u64) -> Result<Authorization> {
        self.inner.charging.update(
            self.inner.store.as_ref(),
            reservation,
            self.inner.clock.now(),
        )
    }

    /// Charge a finished call: exact cost, xDR and ledger entry in one durable transaction.
    /// The same `call_id` again returns the first result; with different content it is
    /// `idempotency.conflict`.
    pub fn settle(&self, req: &SettleRequest) -> Result<Settlement> {
        self.inner.charging.settle(
            self.inner.store.as_ref(),
            req,
            self.inner.clock.now(),
            None,
            &crate::charging::SettleAuthor::system(),
        )
    }

    /// Charge many finished calls, sharing group commits: one result per call, in order,
    /// each what [`Engine::settle`] would have answered for it. Not atomic: a refused settle
    /// changes nothing for the others. At most `limits::settle_many_max` calls.
    pub fn settle_many(&self, reqs: &[SettleRequest]) -> Result<Vec<Result<Settlement>>> {
        if reqs.len() > crate::limits::settle_many_max {
            return Err(crate::error::ValidationError::OutOfRange {
                field: "requests".into(),
                reason: format!("at most {} settles at once", crate::limits::settle_many_max),
            }
            .into());
        }
        let author = crate::charging::SettleAuthor::system();
        let items: Vec<_> = reqs
            .iter()
            .map(|r| (r.clone(), None, author.clone()))
            .collect();
        Ok(self.inner.charging.settle_many(
            self.inner.store.as_ref(),
            &items,
            self.inner.clock.now(),
        ))
    }

    /// The engine's live state and settings, as `core.status` shows them to the operator
    /// (the whole tree): `version`, `schema_version`, `last_tick`, `open_reservations`,
    /// `held_total` per currency code, `outbox_pending` and `settings`.
    pub fn status(&self) -> Result<Value> {
        crate::api::charging::status_of(&self.inner, None)
    }

    /// Close a reservation without charging.
    pub fn release(&self, reservation: u64) -> Result<()> {
        self.inner
            .charging
            .release(self.inner.store.as_ref(), reservation)
    }

    /// Run what is due at `now`: reservations past their expiry are released. Returns how
    /// many reservations were released.
    pub fn tick(&self, now: chrono::DateTime<chrono::Utc>) -> Result<TickReport> {
        tick(&self.inner, now)
    }

    /// Open reservations (for monitoring and tests).
    pub fn open_reservations(&self) -> usize {
        self.inner.charging.open_reservations()
    }

    /// Group commits of settles written since open, and the settles they carried (their
    /// ratio is the mean batch size: how many settles share one fsync).
    pub fn settle_batches(&self) -> (u64, u64) {
        self.inner.charging.settle_batches()
    }

    /// A client's in-memory balance and held amount, as the hot path sees them.
    pub fn client_balance_cached(&self, client: i64) -> Option<(Decimal, Decimal)> {
        self.inner.charging.balance(client)
    }

    /// Check the ledger invariant for a client: its stored balance equals the sum of its
    /// ledger entries and the hot path's balance.
    pub fn verify_client_ledger(&self, client: i64) -> Result<bool> {
        let cached = self.inner.charging.balance(client).map(|b| b.0);
        crate::store::run(self.inner.store.as_ref(), TxKind::Read, |tx| {
            let stored = tx.client_balance(client)?.map(|b| b.0);
            Ok(crate::ledger::verify_client(tx, client)? && stored == cached)
        })
    }

    /// What a call would cost, by the same plan and formula as [`Engine::settle`], charging
    /// nothing: no reservation, no xDR, no ledger entry, no database access. For trusted
    /// in-process callers (re-rating files of calls, price quotes).
    pub fn rate(&self, req: &RateRequest<'_>) -> Result<Rated> {
        crate::charging::rate_file::rate(&self.inner.charging, req, self.inner.clock.now())
    }

    /// Rate a CSV file of calls (`source,account,destination,connect_time,duration`) into a
    /// CSV of results with the columns of `charging::rate_file::RATED_COLUMNS`: streams both
    /// files, charges nothing; a row that cannot be rated says why in its `error` column.
    pub fn rate_csv(
        &self,
        input: impl std::io::Read,
        output: impl std::io::Write,
    ) -> Result<crate::charging::rate_file::RateSummary> {
        let rater = crate::charging::rate_file::Rater {
            charging: &self.inner.charging,
            store: self.inner.store.as_ref(),
            now: self.inner.clock.now(),
        };
        crate::charging::rate_file::rate_csv(&rater, input, output)
    }

    /// Load a CSV rate deck from a reader into rate table `table`, all or nothing, by the
    /// same validation as `rates.import` (which takes the deck as text in a request), in
    /// `replace` mode when asked, else `update`. Runs as the embedding process (`System`);
    /// writes an audit row. Returns the rates added or changed. A bad deck is
    /// `rating.deck_invalid` naming the line and column.
    pub fn import_rates(
        &self,
        table: i64,
        deck: &mut dyn std::io::Read,
        replace: bool,
    ) -> Result<u64> {
        let opts = ImportOptions {
            mode: if replace {
                ImportMode::Replace
            } else {
                ImportMode::Update
            },
            ..ImportOptions::default()
        };
        let (value, _) = self.import_rates_with(table, deck, &opts)?;
        Ok(value["imported"].as_u64().unwrap_or(0))
    }

    /// [`Engine::import_rates`] with every option of `rates.import` (mode, column mapping,
    /// date format, separator, the deck's `effective_from`): returns the method's answer
    /// (`{added, changed, closed, unchanged, ...}`) and the parser's messages (ignored
    /// columns). Raises `rates.changed` as the method does.
    pub fn import_rates_with(
        &self,
        table: i64,
        deck: &mut dyn std::io::Read,
        opts: &ImportOptions,
    ) -> Result<(Value, Vec<String>)> {
        api::import_reader(&self.inner, &Principal::System, table, deck, opts)
    }

    /// Import a softswitch's CDR file (`xdrs.import` streamed from a reader, as the
    /// embedding process): each answered call is charged as an unreserved settle, idempotent
    /// on its call id. With `dry_run`, every line is checked and nothing charged (the CLI's
    /// `--all-or-nothing` runs a dry run first).
    pub fn import_cdrs(
        &self,
        input: &mut dyn std::io::Read,
        opts: &api::CdrImport,
    ) -> Result<api::CdrReport> {
        api::import_cdrs_reader(&self.inner, &Principal::System, input, opts)
    }

    /// Call a file method (`xdrs.download`): the same authentication, permission and
    /// argument checks as [`Engine::call`], then the file is streamed to `out`. A refused
    /// call writes nothing and returns the envelope; a failure after the first bytes also
    /// returns an envelope, and the caller must discard what `out` received.
    pub fn call_file(
        &self,
        method: &str,
        params: Value,
        out: &mut dyn std::io::Write,
    ) -> std::result::Result<FileMeta, Box<Envelope>> {
        api::dispatch_file(&self.inner, None, method, &params, out)
    }

    /// [`Engine::call_file`] as the embedding process itself (every right, whole tree).
    pub fn call_file_as_system(
        &self,
        method: &str,
        params: Value,
        out: &mut dyn std::io::Write,
    ) -> std::result::Result<FileMeta, Box<Envelope>> {
        api::dispatch_file(&self.inner, Some(Principal::System), method, &params, out)
    }

    /// [`Engine::call_file`] authenticated by an access token (`Authorization: Bearer`).
    pub fn call_file_with_bearer(
        &self,
        method: &str,
        params: Value,
        bearer: &str,
        out: &mut dyn std::io::Write,
    ) -> std::result::Result<FileMeta, Box<Envelope>> {
        match crate::auth::session::authenticate_token(&self.inner.realm(), bearer) {
            Ok(p) => api::dispatch_file(&self.inner, Some(p), method, &params, out),
            Err(e) => {
                let mut env = Envelope::default();
                env.push_error(&e);
                Err(Box::new(env))
            }
        }
    }

    /// Call a Management API method (`clients.add`, ...) with params carrying `auth` or `SID`.
    pub fn call(&self, method: &str, params: Value) -> Envelope {
        api::dispatch(&self.inner, None, method, &params)
    }

    /// Call a method as the embedding process itself (every right, whole tree), for trusted
    /// in-process callers such as a softswitch plugin or the CLI's local commands.
    pub fn call_as_system(&self, method: &str, params: Value) -> Envelope {
        api::dispatch(&self.inner, Some(Principal::System), method, &params)
    }

    /// Call a Management API method authenticated by an access token, as HTTP servers do
    /// with `Authorization: Bearer <token>`.
    pub fn call_with_bearer(&self, method: &str, params: Value, bearer: &str) -> Envelope {
        match crate::auth::session::authenticate_token(&self.inner.realm(), bearer) {
            Ok(p) => api::dispatch(&self.inner, Some(p), method, &params),
            Err(e) => {
                let mut env = Envelope::default();
                env.push_error(&e);
                env
            }
        }
    }

    /// Answer a PortaBilling-style REST call `/rest/<service>/<method>`: returns the HTTP
    /// status and the JSON body (DESIGN §10).
    pub fn rest(
        &self,
        service: &str,
        method: &str,
        body: &Value,
        bearer: Option<&str>,
    ) -> (u16, Value) {
        crate::rest::handle(&self.inner, service, method, body, bearer)
    }

    /// The public key that verifies access tokens, as PEM (SubjectPublicKeyInfo).
    pub fn token_public_key_pem(&self) -> String {
        self.inner.tokens.public_pem().to_string()
    }

    /// The public key that verifies access tokens, as a JSON Web Key Set.
    pub fn token_jwks(&self) -> Value {
        self.inner.tokens.jwks().clone()
    }

    /// Answer a JSON-RPC 2.0 request (single or batch) given as text.
    pub fn call_jsonrpc(&self, text: &str) -> String {
        api::jsonrpc::handle(&self.inner, text)
    }

    /// [`Engine::call_jsonrpc`] for the local operator: requests without credentials run as
    /// the embedding process, as [`Engine::call_as_system`] (the server calls this only for a
    /// caller that presented the secret of the database's address file, docs/server.md);
    /// requests with credentials are authenticated as usual.
    pub fn call_jsonrpc_as_system(&self, text: &str) -> String {
        api::jsonrpc::handle_local(&self.inner, text)
    }

    /// The method registry (for documentation and tests).
    pub fn registry(&self) -> &Registry {
        &self.inner.registry
    }

    /// The engine's clock.
    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.inner.clock
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ledger::{self, Posting};
    use crate::store::TxKind;
    use serde_json::json;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// A balance event is written in the transaction of the posting that causes it: when that
    /// transaction rolls back, no event is ever delivered. (Events of Management API calls are
    /// written after the handler succeeded, in its transaction; this covers the postings.)
    #[test]
    fn no_event_is_delivered_for_a_change_that_rolled_back() {
        let opts = EngineOptions {
            config: EngineConfig {
                event_worker: false,
                ..EngineConfig::default()
            },
            ..EngineOptions::default()
        };
        let e = Engine::create_with(":memory:", "admin", "admin-password-1", opts).unwrap();
        let seen = Arc::new(AtomicUsize::new(0));
        let counter = Arc::clone(&seen);
        e.register_callback(
            "count",
            Arc::new(move |_: &crate::events::Event| {
                counter.fetch_add(1, Ordering::SeqCst);
                crate::events::Verdict::Allow
            }),
        )
        .unwrap();
        let r = e.call_as_system(
            "provisioning.add",
            json!({"name": "zero", "event": "clients.balance_zero", "kind": "callback", "target": "count"}),
        );
        assert!(r.code, "{:?}", r.errors);
        let c = e
            .call_as_system("clients.add", json!({"name": "Rolled"}))
            .ret["id"]
            .as_i64()
            .unwrap();
        let r = e.call_as_system(
            "transactions.add",
            json!({"id_clients": c, "type": "payment", "amount": "1"}),
        );
        assert!(r.code, "{:?}", r.errors);
        let charge = |tx: &mut dyn crate::store::StoreTx| {
            ledger::post(
                tx,
                &Posting {
                    client: c,
                    kind: "charge",
                    amount: Decimal::from(-2),
                    original: None,
                    dt: "2026-01-01 00:00:00+00",
                    notes: None,
                    author: 0,
                    idempotency_key: None,
                    request_hash: None,
                    reference: None,
                },
            )
        };
        // The posting crosses zero (1 -> -1), then the change fails: all of it rolls back.
        let failed = store::run(e.inner.store.as_ref(), TxKind::Write, |tx| {
            charge(tx)?;
            Err::<(), _>(crate::Error::Internal(
                "the change fails after its posting".into(),
            ))
        });
        assert!(failed.is_err());
        let now = e.clock().now();
        let report = e.deliver_events(now).unwrap();
        assert_eq!((report.attempted, seen.load(Ordering::SeqCst)), (0, 0));
        // The same posting committed: exactly one event.
        store::run(e.inner.store.as_ref(), TxKind::Write, |tx| {
            charge(tx).map(|_| ())
        })
        .unwrap();
        let report = e.deliver_events(now).unwrap();
        assert_eq!((report.delivered, seen.load(Ordering::SeqCst)), (1, 1));
    }
}
