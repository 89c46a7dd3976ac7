//! Real-time charging: `authorize` → `update` → `settle` / `release`, answered from memory.
//!
//! The hot-path state (clients' balances, credit and held amounts, accounts, companies, rate
//! tables as prefix indexes, currencies and exchange rates, open reservations) lives here. It
//! is loaded from the database at open and changed only after a commit, while the store lock
//! is still held (see `Store::run`), so it follows the database's commit order exactly and
//! never disagrees with it. Reservations are memory only: a restart loses them, and a settle
//! that carries the call's details still charges (the xDR says `unreserved`).

use crate::error::{ChargeError, Error, Result, ValidationError};
use crate::ledger::batch::Batcher;
use crate::ledger::volumes::{self, Claim, Volume};
use crate::ledger::{self, Posting};
use crate::limits;
use crate::model::{
    Record, Val, ACCOUNTS, CLIENTS, COMPANIES, CURRENCIES, EXCHANGE_RATES, RATES, RATE_TABLES,
    SUBSCRIPTIONS, XDRS,
};
use crate::money::{self, Rounding};
use crate::rating::{self, RateIndex, RateTerms, Timed};
use crate::store::{self, ListQuery, Store, StoreTx, TxKind};
use crate::{clock, model::EntityDef};
use chrono::{DateTime, Duration, Utc};
use parking_lot::{Mutex, RwLock};
use rust_decimal::Decimal;
/// The hot path's maps: foldhash (fast, seeded per process) instead of SipHash.
type HashMap<K, V> = std::collections::HashMap<K, V, foldhash::fast::RandomState>;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::Arc;

/// Settings of real-time charging.
#[derive(Debug, Clone)]
pub struct ChargingConfig {
    /// Longest duration one call may be granted, in seconds (default 3 h).
    pub max_call_seconds: u64,
    /// Grant at most this many seconds per `authorize`/`update` (Diameter-style quota);
    /// `None` grants the whole affordable duration at once.
    pub quota_seconds: Option<u64>,
    /// A reservation not settled this long after its granted time runs out is released by
    /// `tick`, in seconds.
    pub reservation_margin_seconds: u64,
}

impl Default for ChargingConfig {
    fn default() -> Self {
        ChargingConfig {
            max_call_seconds: limits::call_grant_seconds_default,
            quota_seconds: None,
            reservation_margin_seconds: 120,
        }
    }
}

/// What a softswitch asks at call setup.
#[derive(Debug, Clone, Default)]
pub struct AuthorizeRequest {
    /// The account identifier (IP, login, ANI or tech prefix).
    pub account: String,
    /// Which kind of identifier; `None` tries ip, login, ani, tech_prefix in that order.
    pub auth_type: Option<String>,
    /// Called number.
    pub destination: String,
    /// Calling number (recorded only).
    pub source: Option<String>,
    /// Call start; default now.
    pub time: Option<DateTime<Utc>>,
}

/// A granted call.
#[derive(Debug, Clone, PartialEq)]
pub struct Authorization {
    /// Reservation to settle or release.
    pub reservation: u64,
    /// Longest affordable duration now (capped), in seconds.
    pub max_seconds: u64,
    /// Seconds this reservation holds funds for (`max_seconds` unless a quota is set).
    pub granted_seconds: u64,
    /// Account.
    pub account: i64,
    /// Client.
    pub client: i64,
    /// Matched code.
    pub code: String,
    /// Its name.
    pub code_name: String,
    /// Price per minute in the client's currency.
    pub rate: Decimal,
    /// Setup fee in the client's currency.
    pub setup_fee: Decimal,
    /// The client's currency.
    pub currency: i64,
    /// Amount held for the granted seconds.
    pub held: Decimal,
    /// Included (bundled) seconds held for the granted seconds; `max_seconds` counts them.
    pub volume_seconds: u64,
    /// The subscription whose included volume the call draws on.
    pub subscription: Option<i64>,
    /// When the reservation expires unless settled or extended.
    pub expires_at: DateTime<Utc>,
}

/// What a softswitch reports at hangup.
#[derive(Debug, Clone, Default)]
pub struct SettleRequest {
    /// The reservation from `authorize` (may be unknown after a restart).
    pub reservation: Option<u64>,
    /// The call's unique id: the idempotency key of the settle.
    pub call_id: String,
    /// Duration in seconds.
    pub duration: u64,
    /// Needed when the reservation is unknown: the account identifier.
    pub account: Option<String>,
    /// Its kind.
    pub auth_type: Option<String>,
    /// Needed when the reservation is unknown: the called number.
    pub destination: Option<String>,
    /// Calling number.
    pub source: Option<String>,
    /// Needed when the reservation is unknown: the connect time.
    pub connect_time: Option<DateTime<Utc>>,
}

/// A charged call.
#[derive(Debug, Clone, PartialEq)]
pub struct Settlement {
    /// The xDR.
    pub xdr: i64,
    /// Call id.
    pub call_id: String,
    /// Client.
    pub client: i64,
    /// Duration.
    pub duration: u64,
    /// Billed seconds.
    pub billed_seconds: u64,
    /// Cost charged (client currency).
    pub cost: Decimal,
    /// Billed seconds an included volume covered (not charged in money).
    pub volume_seconds: u64,
    /// The subscription whose volume covered them.
    pub subscription: Option<i64>,
    /// Balance after the charge.
    pub balance: Decimal,
    /// Charged without a known reservation.
    pub unreserved: bool,
    /// A repeat of an earlier settle: nothing was charged again.
    pub replayed: bool,
}

#[derive(Debug, Clone)]
struct ClientState {
    company: i64,
    active: bool,
    balance: Decimal,
    credit: Decimal,
    held: Decimal,
    capacity: Option<u32>,
    calls: u32,
    account_calls: HashMap<i64, u32>,
    currency: i64,
    rate_table: Option<i64>,
    /// Live subscriptions' included volumes for the period now running.
    volumes: Vec<Volume>,
    /// Included seconds held by open reservations.
    volume_held: volumes::Held,
}

#[derive(Debug)]
struct AccountState {
    id: i64,
    client: i64,
    active: bool,
    capacity: Option<u32>,
    rate_table: Option<i64>,
}

#[derive(Debug)]
struct CompanyState {
    parent: Option<i64>,
    active: bool,
    capacity: Option<u32>,
    calls: AtomicU32,
}

#[derive(Debug, Clone)]
struct RateEntry {
    code_name: Arc<str>,
    terms: RateTerms,
}

#[derive(Debug)]
struct Table {
    currency: i64,
    rounding: Rounding,
    index: RateIndex<RateEntry>,
}

#[derive(Debug, Clone)]
struct ExchangeRow {
    from: i64,
    to: i64,
    rate: Decimal,
    effective_from: DateTime<Utc>,
}

/// How one call is priced: everything `settle` needs, fixed at `authorize`.
#[derive(Debug, Clone)]
struct Plan {
    account: i64,
    client: i64,
    /// The client's company: the scope of the call's id.
    company: i64,
    companies: Chain,
    table: i64,
    /// The matched code is the first `code_len` digits of `destination` (no shared string
    /// touched per call).
    code_len: usize,
    code_name: Arc<str>,
    terms: RateTerms,
    precision: u32,
    rounding: Rounding,
    currency: i64,
    destination: String,
    source: Option<String>,
    connect_time: DateTime<Utc>,
}

impl Plan {
    fn code(&self) -> &str {
        self.destination.get(..self.code_len).unwrap_or_default()
    }
}

/// A company and its ancestors, nearest first, without a heap allocation per call.
#[derive(Debug, Clone, Copy, Default)]
struct Chain {
    ids: [i64; limits::company_depth_max + 1],
    len: usize,
}

impl Chain {
    fn push(&mut self, id: i64) -> Result<()> {
        let slot = self
            .ids
            .get_mut(self.len)
            .ok_or_else(|| Error::Internal("company tree is too deep".into()))?;
        *slot = id;
        self.len += 1;
        Ok(())
    }

    fn as_slice(&self) -> &[i64] {
        &self.ids[..self.len]
    }
}

#[derive(Debug, Clone)]
struct Reservation {
    plan: Arc<Plan>,
    granted: u64,
    hold: Decimal,
    /// The included volume drawn on, `limit` being the seconds held from it.
    volume: Option<Claim>,
    expires_at: DateTime<Utc>,
}

/// Fresh rows read inside a committing transaction, applied after its commit.
#[derive(Debug, Default)]
pub(crate) struct Refresh {
    clients: Vec<(i64, Option<Record>)>,
    accounts: Vec<(i64, Option<Record>)>,
    companies: Vec<(i64, Option<Record>)>,
    tables: Vec<(i64, Option<Arc<Table>>)>,
    currencies: Option<(HashMap<i64, u32>, Vec<ExchangeRow>)>,
    balances: Vec<(i64, Decimal)>,
    volumes: Vec<(i64, Vec<Volume>)>,
}

const AUTH_TYPES: [&str; 4] = ["ip", "login", "ani", "tech_prefix"];

/// The in-memory charging state of one engine.
#[derive(Default)]
pub(crate) struct Charging {
    config: ChargingConfig,
    clients: RwLock<HashMap<i64, Arc<Mutex<ClientState>>>>,
    accounts_by_id: RwLock<HashMap<i64, Arc<AccountState>>>,
    accounts: RwLock<[HashMap<String, Arc<AccountState>>; 4]>,
    companies: RwLock<HashMap<i64, Arc<CompanyState>>>,
    tables: RwLock<HashMap<i64, Arc<Table>>>,
    precisions: RwLock<HashMap<i64, u32>>,
    exchange: RwLock<Vec<ExchangeRow>>,
    reservations: Mutex<HashMap<u64, Reservation>>,
    next_reservation: AtomicU64,
    settles: Batcher<SettleJob, Result<Settlement>>,
    /// Group commits written, and the settles they carried (for monitoring and tests).
    settle_batches: AtomicU64,
    settles_batched: AtomicU64,
}

fn all(tx: &dyn StoreTx, e: &EntityDef) -> Result<Vec<Record>> {
    Ok(tx.list(e, &ListQuery::everything(Vec::new()))?.0)
}

use crate::model::{dec, int, text};

fn capacity(r: &Record) -> Option<u32> {
    int(r, "capacity").and_then(|c| u32::try_from(c).ok())
}

fn seconds(r: &Record, k: &str) -> u32 {
    int(r, k).and_then(|v| u32::try_from(v).ok()).unwrap_or(0)
}

fn dt(r: &Record, k: &str) -> Option<DateTime<Utc>> {
    r.get(k).and_then(Val::as_text).and_then(clock::parse_dt)
}

fn client_state(r: &Record, old: Option<&ClientState>) -> ClientState {
    ClientState {
        company: int(r, "id_companies").unwrap_or(crate::engine::OPERATOR_COMPANY),
        active: text(r, "status") == "active",
        // The balance is owned by ledger postings: a refresh keeps the in-memory one.
        balance: old.map(|o| o.balance).unwrap_or_else(|| dec(r, "balance")),
        credit: dec(r, "credit"),
        held: old.map(|o| o.held).unwrap_or_default(),
        capacity: capacity(r),
        calls: old.map(|o| o.calls).unwrap_or(0),
        account_calls: old.map(|o| o.account_calls.clone()).unwrap_or_default(),
        currency: int(r, "id_currencies").unwrap_or(1),
        rate_table: int(r, "orig_rate_table"),
        volumes: old.map(|o| o.volumes.clone()).unwrap_or_default(),
        volume_held: old.map(|o| o.volume_held.clone()).unwrap_or_default(),
    }
}

fn account_state(r: &Record) -> AccountState {
    AccountState {
        id: int(r, "id").unwrap_or_default(),
        client: int(r, "id_clients").unwrap_or_default(),
        active: text(r, "status") == "active",
        capacity: capacity(r),
        rate_table: int(r, "orig_rate_table"),
    }
}

fn company_state(r: &Record, old: Option<&CompanyState>) -> CompanyState {
    CompanyState {
        parent: int(r, "parent_id"),
        active: text(r, "status") == "active",
        capacity: capacity(r),
        calls: AtomicU32::new(old.map(|o| o.calls.load(Ordering::Relaxed)).unwrap_or(0)),
    }
}

fn load_table(tx: &dyn StoreTx, table: &Record) -> Result<Table> {
    let id = int(table, "id").unwrap_or_default();
    let rows = tx
        .list(
            &RATES,
            &ListQuery::everything(vec![("id_rate_tables", Val::Int(id))]),
        )?
        .0;
    let mut items = Vec::with_capacity(rows.len());
    for r in &rows {
        let terms = RateTerms {
            rate: dec(r, "rate"),
            min_volume: seconds(r, "min_volume"),
            interval: seconds(r, "interval").max(1),
            grace_volume: seconds(r, "grace_volume"),
            setup_fee: dec(r, "setup_fee"),
        };
        let from = dt(r, "effective_from").ok_or_else(|| {
            Error::Internal(format!("rate {:?} has no effective_from", int(r, "id")))
        })?;
        let timed = Timed {
            effective_from: from,
            effective_till: dt(r, "effective_till"),
            value: RateEntry {
                code_name: Arc::from(text(r, "code_name")),
                terms,
            },
        };
        items.push((text(r, "code").to_string(), timed));
    }
    Ok(Table {
        currency: int(table, "id_currencies").unwrap_or(1),
        rounding: Rounding::parse(text(table, "rounding")).unwrap_or_default(),
        index: RateIndex::build(items)?,
    })
}

fn load_currencies(tx: &dyn StoreTx) -> Result<(HashMap<i64, u32>, Vec<ExchangeRow>)> {
    let precisions = all(tx, &CURRENCIES)?
        .iter()
        .map(|c| {
            (
                int(c, "id").unwrap_or_default(),
                u32::try_from(int(c, "details_precision").unwrap_or(4)).unwrap_or(4),
            )
        })
        .collect();
    let mut rows: Vec<ExchangeRow> = all(tx, &EXCHANGE_RATES)?
        .iter()
        .filter_map(|r| {
            Some(ExchangeRow {
                from: int(r, "id_currencies")?,
                to: int(r, "id_currencies_to")?,
                rate: dec(r, "rate"),
                effective_from: dt(r, "effective_from")?,
            })
        })
        .collect();
    rows.sort_by_key(|r| r.effective_from);
    Ok((precisions, rows))
}

impl Charging {
    /// Load every piece of hot-path state from the database.
    pub(crate) fn load(store: &dyn Store, config: ChargingConfig) -> Result<Charging> {
        let c = Charging {
            config,
            ..Charging::default()
        };
        store::run(store, TxKind::Read, |tx| {
            for r in all(tx, &COMPANIES)? {
                c.companies.write().insert(
                    int(&r, "id").unwrap_or_default(),
                    Arc::new(company_state(&r, None)),
                );
            }
            for r in all(tx, &CLIENTS)? {
                c.clients.write().insert(
                    int(&r, "id").unwrap_or_default(),
                    Arc::new(Mutex::new(client_state(&r, None))),
                );
            }
            for r in all(tx, &ACCOUNTS)? {
                c.put_account(&r);
            }
            for (client, v) in volumes::all(tx)? {
                if let Some(state) = c.clients.read().get(&client) {
                    state.lock().volumes = v;
                }
            }
            for t in all(tx, &RATE_TABLES)? {
                c.tables.write().insert(
                    int(&t, "id").unwrap_or_default(),
                    Arc::new(load_table(tx, &t)?),
                );
            }
            let (p, x) = load_currencies(tx)?;
            *c.precisions.write() = p;
            *c.exchange.write() = x;
            Ok(())
        })?;
        Ok(c)
    }

    fn put_account(&self, r: &Record) {
        let a = Arc::new(account_state(r));
        let kind = AUTH_TYPES
            .iter()
            .position(|t| *t == text(r, "auth_type"))
            .unwrap_or(1);
        let ident = text(r, "ident").to_string();
        self.remove_account(a.id);
        self.accounts.write()[kind].insert(ident, Arc::clone(&a));
        self.accounts_by_id.write().insert(a.id, a);
    }

    fn remove_account(&self, id: i64) {
        if self.accounts_by_id.write().remove(&id).is_some() {
            for m in self.accounts.write().iter_mut() {
                m.retain(|_, a| a.id != id);
            }
        }
    }

    /// Read, inside a committing transaction, the fresh state of what a call changed.
    pub(crate) fn prepare(
        &self,
        tx: &dyn StoreTx,
        touched: &[(&'static str, i64)],
        balances: &[(i64, Decimal)],
    ) -> Result<Refresh> {
        let mut r = Refresh {
            balances: balances.to_vec(),
            ..Refresh::default()
        };
        for (module, id) in touched {
            match *module {
                "clients" => r.clients.push((*id, tx.get(&CLIENTS, *id, None)?)),
                "accounts" => r.accounts.push((*id, tx.get(&ACCOUNTS, *id, None)?)),
                "companies" => r.companies.push((*id, tx.get(&COMPANIES, *id, None)?)),
                "rateTables" => {
                    let table = match tx.get(&RATE_TABLES, *id, None)? {
                        Some(t) => Some(Arc::new(load_table(tx, &t)?)),
                        None => None,
                    };
                    r.tables.push((*id, table));
                }
                "currencies" | "exchange_rates" if r.currencies.is_none() => {
                    r.currencies = Some(load_currencies(tx)?)
                }
                // A subscription changed state or period, or a package its volumes: reload
                // the live volumes of every client concerned.
                "subscriptions" => {
                    if let Some(s) = tx.get(&SUBSCRIPTIONS, *id, None)? {
                        let client = int(&s, "id_clients").unwrap_or_default();
                        r.volumes.push((client, volumes::of_client(tx, client)?));
                    }
                }
                "packages" => {
                    let subs = tx
                        .list(
                            &SUBSCRIPTIONS,
                            &ListQuery::everything(vec![("id_packages", Val::Int(*id))]),
                        )?
                        .0;
                    for s in subs {
                        let client = int(&s, "id_clients").unwrap_or_default();
                        if !r.volumes.iter().any(|(c, _)| *c == client) {
                            r.volumes.push((client, volumes::of_client(tx, client)?));
                        }
                    }
                }
                _ => {}
            }
        }
        Ok(r)
    }

    /// Apply a [`Refresh`] after its transaction committed (the store lock is still held).
    pub(crate) fn apply(&self, r: Refresh) {
        for (id, rec) in r.companies {
            let mut map = self.companies.write();
            match rec {
                Some(rec) => {
                    let fresh = company_state(&rec, map.get(&id).map(|c| c.as_ref()));
                    map.insert(id, Arc::new(fresh));
                }
                None => {
                    map.remove(&id);
                }
            }
        }
        for (id, rec) in r.clients {
            match rec {
                Some(rec) => {
                    let existing = self.clients.read().get(&id).cloned();
                    match existing {
                        Some(state) => {
                            let mut s = state.lock();
                            let fresh = client_state(&rec, Some(&s));
                            *s = fresh;
                        }
                        None => {
                            self.clients
                                .write()
                                .insert(id, Arc::new(Mutex::new(client_state(&rec, None))));
                        }
                    }
                }
                None => {
                    self.clients.write().remove(&id);
                }
            }
        }
        for (id, rec) in r.accounts {
            match rec {
                Some(rec) => self.put_account(&rec),
                None => self.remove_account(id),
            }
        }
        for (id, table) in r.tables {
            match table {
                Some(t) => self.tables.write().insert(id, t),
                None => self.tables.write().remove(&id),
            };
        }
        if let Some((p, x)) = r.currencies {
            *self.precisions.write() = p;
            *self.exchange.write() = x;
        }
        for (client, delta) in r.balances {
            self.add_balance(client, delta);
        }
        for (client, v) in r.volumes {
            if let Some(state) = self.clients.read().get(&client) {
                state.lock().volumes = v;
            }
        }
    }

    fn add_balance(&self, client: i64, delta: Decimal) {
        if let Some(state) = self.clients.read().get(&client) {
            let mut s = state.lock();
            // The database computed the same sum with checked arithmetic and committed it.
            s.balance = money::exact_add(s.balance, delta).unwrap_or(s.balance);
        }
    }

    /// Funds a client may still spend: balance + credit - held.
    pub(crate) fn available(&self, client: i64) -> Result<Decimal> {
        let state = self
            .clients
            .read()
            .get(&client)
            .cloned()
            .ok_or_else(|| Error::not_found(format!("client {client}")))?;
        let s = state.lock();
        Ok(money::exact_sub(
            money::exact_add(s.balance, s.credit)?,
            s.held,
        )?)
    }

    /// The in-memory balance (tests compare it with the database).
    pub(crate) fn balance(&self, client: i64) -> Option<(Decimal, Decimal)> {
        let state = self.clients.read().get(&client).cloned()?;
        let s = state.lock();
        Some((s.balance, s.held))
    }

    /// The client of the account an identifier names (for tenant checks).
    pub(crate) fn account_client(&self, ident: &str, auth_type: Option<&str>) -> Result<i64> {
        Ok(self.find_account(ident, auth_type)?.client)
    }

    /// The client a reservation belongs to (for tenant checks).
    pub(crate) fn reservation_client(&self, id: u64) -> Option<i64> {
        self.reservations.lock().get(&id).map(|r| r.plan.client)
    }

    fn find_account(&self, ident: &str, auth_type: Option<&str>) -> Result<Arc<AccountState>> {
        let maps = self.accounts.read();
        let found = match auth_type {
            Some(t) => {
                let kind = AUTH_TYPES.iter().position(|k| *k == t).ok_or_else(|| {
                    ValidationError::invalid(
                        "auth_type",
                        format!("must be one of: {}", AUTH_TYPES.join(", ")),
                    )
                })?;
                maps[kind].get(ident).cloned()
            }
            None => maps.iter().find_map(|m| m.get(ident).cloned()),
        };
        found.ok_or_else(|| ChargeError::AccountNotFound(truncate(ident)).into())
    }

    fn company_chain(&self, company: i64) -> Result<Chain> {
        let map = self.companies.read();
        let mut chain = Chain::default();
        let mut at = Some(company);
        while let Some(id) = at {
            if chain.len > limits::company_depth_max {
                return Err(Error::Internal("company tree has a cycle".into()));
            }
            let c = map
                .get(&id)
                .ok_or_else(|| Error::Internal(format!("company {id} not loaded")))?;
            if !c.active {
                return Err(ChargeError::CompanyBlocked(id).into());
            }
            chain.push(id)?;
            at = c.parent;
        }
        Ok(chain)
    }

    /// The exchange rate from `from` to `to` in force at `at`: the direct rate, else the
    /// opposite one to divide by.
    fn exchange_rate(&self, from: i64, to: i64, at: DateTime<Utc>) -> Result<Exchange> {
        if from == to {
            return Ok(Exchange::Multiply(Decimal::ONE));
        }
        let rows = self.exchange.read();
        let newest = |f: i64, t: i64| {
            rows.iter()
                .rev()
                .find(|r| r.from == f && r.to == t && r.effective_from <= at)
                .map(|r| r.rate)
        };
        if let Some(r) = newest(from, to) {
            return Ok(Exchange::Multiply(r));
        }
        if let Some(r) = newest(to, from) {
            return Ok(Exchange::Divide(r));
        }
        Err(crate::error::MoneyError::NoExchangeRate {
            from: from.to_string(),
            to: to.to_string(),
        }
        .into())
    }

    /// Price a call: the plan `settle` will charge by. Runs under the client's lock.
    fn plan(
        &self,
        account: &AccountState,
        client: &ClientState,
        destination: &str,
        source: Option<&str>,
        at: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<Plan> {
        check_number("destination", destination)?;
        let table_id = account
            .rate_table
            .or(client.rate_table)
            .ok_or_else(|| ChargeError::NoRate(format!("{destination} (no rate table)")))?;
        let table = self.tables.read().get(&table_id).cloned().ok_or_else(|| {
            ChargeError::NoRate(format!("{destination} (rate table {table_id} missing)"))
        })?;
        let (code, timed) = table
            .index
            .lookup_at(destination, at)
            .ok_or_else(|| ChargeError::NoRate(destination.to_string()))?;
        let entry = &timed.value;
        let terms = if table.currency == client.currency {
            entry.terms
        } else {
            let x = self.exchange_rate(table.currency, client.currency, now)?;
            RateTerms {
                rate: x.apply(entry.terms.rate)?,
                setup_fee: x.apply(entry.terms.setup_fee)?,
                ..entry.terms
            }
        };
        let precision = self
            .precisions
            .read()
            .get(&client.currency)
            .copied()
            .unwrap_or(4);
        Ok(Plan {
            account: account.id,
            client: account.client,
            company: client.company,
            companies: Chain::default(),
            table: table_id,
            code_len: code.len(),
            code_name: Arc::clone(&entry.code_name),
            terms,
            precision,
            rounding: table.rounding,
            currency: client.currency,
            destination: destination.to_string(),
            source: source.map(str::to_string),
            connect_time: at,
        })
    }

    /// Price a call by the same plan `settle` charges by, reserving and charging nothing
    /// (pure rating: `Engine::rate`).
    pub(crate) fn quote(
        &self,
        account: &str,
        auth_type: Option<&str>,
        destination: &str,
        at: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<crate::ledger::rate_file::Quote> {
        let account = self.find_account(account, auth_type)?;
        let state = self.client(account.client)?;
        let client = state.lock();
        let p = self.plan(&account, &client, destination, None, at, now)?;
        Ok(crate::ledger::rate_file::Quote {
            account: p.account,
            client: p.client,
            code: p.code().to_string(),
            code_name: p.code_name.to_string(),
            terms: p.terms,
            precision: p.precision,
            rounding: p.rounding,
            currency: p.currency,
        })
    }

    fn client(&self, id: i64) -> Result<Arc<Mutex<ClientState>>> {
        self.clients
            .read()
            .get(&id)
            .cloned()
            .ok_or_else(|| Error::Internal(format!("client {id} not loaded")))
    }

    /// May this call go through, and for how long? Opens a reservation holding the funds.
    pub(crate) fn authorize(
        &self,
        req: &AuthorizeRequest,
        now: DateTime<Utc>,
    ) -> Result<Authorization> {
        let account = self.find_account(&req.account, req.auth_type.as_deref())?;
        if !account.active {
            return Err(ChargeError::AccountBlocked(account.id).into());
        }
        let state = self.client(account.client)?;
        let mut client = state.lock();
        if !client.active {
            return Err(ChargeError::ClientBlocked(account.client).into());
        }
        let companies = self.company_chain(client.company)?;
        let at = req.time.unwrap_or(now);
        let mut plan = self.plan(
            &account,
            &client,
            &req.destination,
            req.source.as_deref(),
            at,
            now,
        )?;
        // Capacity: account and client under this lock, companies by atomic counters.
        let account_calls = client.account_calls.get(&account.id).copied().unwrap_or(0);
        if account.capacity.is_some_and(|c| account_calls >= c) {
            return Err(ChargeError::CapacityExceeded(format!(
                "account {} has {account_calls} calls",
                account.id
            ))
            .into());
        }
        if client.capacity.is_some_and(|c| client.calls >= c) {
            return Err(ChargeError::CapacityExceeded(format!(
                "client {} has {} calls",
                account.client, client.calls
            ))
            .into());
        }
        let available = money::exact_sub(
            money::exact_add(client.balance, client.credit)?,
            client.held,
        )?;
        // Included seconds of a live subscription come before money.
        let claim = volumes::pick(&client.volumes, &client.volume_held, &req.destination);
        let bundled = claim.map_or(0, |c| c.limit);
        if available <= Decimal::ZERO && bundled == 0 {
            return Err(ChargeError::BalanceInsufficient(format!(
                "available funds are {available}"
            ))
            .into());
        }
        let max = rating::max_seconds_with_volume(
            &plan.terms,
            available,
            bundled,
            plan.precision,
            plan.rounding,
            self.config.max_call_seconds,
        )?;
        if max == 0 {
            return Err(ChargeError::BalanceInsufficient(format!(
                "available funds {available} do not cover the first billed step"
            ))
            .into());
        }
        let granted = self.config.quota_seconds.map_or(max, |q| q.min(max));
        let hold = rating::cost_after_volume(
            &plan.terms,
            granted,
            bundled,
            plan.precision,
            plan.rounding,
        )?;
        let claim = claim.map(|c| Claim {
            limit: rating::volume_covered(&plan.terms, granted, bundled),
            ..c
        });
        self.take_company_capacity(companies.as_slice())?;
        client.held = money::exact_add(client.held, hold)?;
        if let Some(c) = &claim {
            volumes::hold(&mut client.volume_held, c.subscription, c.entry, c.limit);
        }
        client.calls += 1;
        *client.account_calls.entry(account.id).or_insert(0) += 1;
        plan.companies = companies;
        let id = self.next_reservation.fetch_add(1, Ordering::Relaxed) + 1;
        let expires_at = now
            + Duration::seconds(
                i64::try_from(granted + self.config.reservation_margin_seconds)
                    .unwrap_or(i64::MAX / 2),
            );
        let auth = Authorization {
            reservation: id,
            max_seconds: max,
            granted_seconds: granted,
            account: account.id,
            client: account.client,
            code: plan.code().to_string(),
            code_name: plan.code_name.to_string(),
            rate: plan.terms.rate,
            setup_fee: plan.terms.setup_fee,
            currency: plan.currency,
            held: hold,
            volume_seconds: claim.map_or(0, |c| c.limit),
            subscription: claim.map(|c| c.subscription),
            expires_at,
        };
        self.reservations.lock().insert(
            id,
            Reservation {
                plan: Arc::new(plan),
                granted,
                hold,
                volume: claim,
                expires_at,
            },
        );
        Ok(auth)
    }

    fn take_company_capacity(&self, chain: &[i64]) -> Result<()> {
        let map = self.companies.read();
        for (i, id) in chain.iter().enumerate() {
            let Some(c) = map.get(id) else { continue };
            let before = c.calls.fetch_add(1, Ordering::AcqRel);
            if c.capacity.is_some_and(|cap| before >= cap) {
                for undo in &chain[..=i] {
                    if let Some(u) = map.get(undo) {
                        u.calls.fetch_sub(1, Ordering::AcqRel);
                    }
                }
                return Err(ChargeError::CapacityExceeded(format!(
                    "company {id} has {before} calls"
                ))
                .into());
            }
        }
        Ok(())
    }

    fn free_capacity(&self, plan: &Plan, client: &mut ClientState) {
        client.calls = client.calls.saturating_sub(1);
        if let Some(n) = client.account_calls.get_mut(&plan.account) {
            *n = n.saturating_sub(1);
        }
        let map = self.companies.read();
        for id in plan.companies.as_slice() {
            if let Some(c) = map.get(id) {
                let _ = c
                    .calls
                    .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                        Some(n.saturating_sub(1))
                    });
            }
        }
    }

    /// Extend a reservation by another quota (or to everything affordable).
    pub(crate) fn update(&self, id: u64, now: DateTime<Utc>) -> Result<Authorization> {
        let snapshot = self
            .reservations
            .lock()
            .get(&id)
            .cloned()
            .ok_or(ChargeError::ReservationNotFound(id))?;
        let state = self.client(snapshot.plan.client)?;
        let mut client = state.lock();
        let mut reservations = self.reservations.lock();
        let res = reservations
            .get_mut(&id)
            .ok_or(ChargeError::ReservationNotFound(id))?;
        let plan = Arc::clone(&res.plan);
        let available = money::exact_add(
            money::exact_sub(
                money::exact_add(client.balance, client.credit)?,
                client.held,
            )?,
            res.hold,
        )?;
        // The volume this call draws on: what it holds plus what is still free.
        let bundled = res.volume.map_or(0, |c| {
            let free = client
                .volumes
                .iter()
                .find(|v| v.subscription == c.subscription && v.entry == c.entry)
                .map_or(0, |v| volumes::free(v, &client.volume_held));
            free.saturating_add(c.limit)
        });
        let max = rating::max_seconds_with_volume(
            &plan.terms,
            available,
            bundled,
            plan.precision,
            plan.rounding,
            self.config.max_call_seconds,
        )?;
        let wanted = self
            .config
            .quota_seconds
            .map_or(max, |q| res.granted.saturating_add(q).min(max));
        if wanted > res.granted {
            let hold = rating::cost_after_volume(
                &plan.terms,
                wanted,
                bundled,
                plan.precision,
                plan.rounding,
            )?;
            if let Some(c) = res.volume.as_mut() {
                let more = rating::volume_covered(&plan.terms, wanted, bundled);
                volumes::unhold(&mut client.volume_held, c.subscription, c.entry, c.limit);
                volumes::hold(&mut client.volume_held, c.subscription, c.entry, more);
                c.limit = more;
            }
            client.held = money::exact_add(money::exact_sub(client.held, res.hold)?, hold)?;
            res.hold = hold;
            res.granted = wanted;
            res.expires_at = now
                + Duration::seconds(
                    i64::try_from(wanted + self.config.reservation_margin_seconds)
                        .unwrap_or(i64::MAX / 2),
                );
        }
        Ok(Authorization {
            reservation: id,
            max_seconds: max,
            granted_seconds: res.granted,
            account: plan.account,
            client: plan.client,
            code: plan.code().to_string(),
            code_name: plan.code_name.to_string(),
            rate: plan.terms.rate,
            setup_fee: plan.terms.setup_fee,
            currency: plan.currency,
            held: res.hold,
            volume_seconds: res.volume.map_or(0, |c| c.limit),
            subscription: res.volume.map(|c| c.subscription),
            expires_at: res.expires_at,
        })
    }

    /// Close a reservation without charging.
    pub(crate) fn release(&self, id: u64) -> Result<()> {
        let res = self
            .reservations
            .lock()
            .remove(&id)
            .ok_or(ChargeError::ReservationNotFound(id))?;
        self.drop_hold(&res);
        Ok(())
    }

    fn drop_hold(&self, res: &Reservation) {
        if let Ok(state) = self.client(res.plan.client) {
            let mut client = state.lock();
            client.held = money::exact_sub(client.held, res.hold).unwrap_or(client.held);
            if let Some(c) = &res.volume {
                volumes::unhold(&mut client.volume_held, c.subscription, c.entry, c.limit);
            }
            self.free_capacity(&res.plan, &mut client);
        }
    }

    /// Release every reservation that expired by `now`; returns how many.
    pub(crate) fn expire(&self, now: DateTime<Utc>) -> usize {
        let expired: Vec<Reservation> = {
            let mut map = self.reservations.lock();
            let ids: Vec<u64> = map
                .iter()
                .filter(|(_, r)| r.expires_at <= now)
                .map(|(id, _)| *id)
                .collect();
            ids.iter().filter_map(|id| map.remove(id)).collect()
        };
        for r in &expired {
            self.drop_hold(r);
        }
        expired.len()
    }

    /// Group commits of settles written so far, and the settles they carried.
    pub(crate) fn settle_batches(&self) -> (u64, u64) {
        (
            self.settle_batches.load(Ordering::Relaxed),
            self.settles_batched.load(Ordering::Relaxed),
        )
    }

    /// Number of open reservations.
    pub(crate) fn open_reservations(&self) -> usize {
        self.reservations.lock().len()
    }

    /// Charge a finished call: the xDR and the ledger entry in one transaction; a repeat of the
    /// same call id returns the first result.
    ///
    /// Group commit: concurrent settles are written together, each inside its own savepoint of
    /// one transaction, committed with one fsync; every caller returns once the batch holding
    /// its settle is durable, with exactly the result it would have had alone.
    /// `scope` is the caller's subtree (`None`: the whole tree): a call id settled outside it
    /// is unknown to this caller.
    pub(crate) fn settle(
        &self,
        store: &dyn Store,
        req: &SettleRequest,
        now: DateTime<Utc>,
        scope: Option<i64>,
    ) -> Result<Settlement> {
        if req.call_id.is_empty() || req.call_id.len() > limits::call_id_length_max {
            return Err(ValidationError::invalid(
                "call_id",
                format!("must be 1 to {} characters", limits::call_id_length_max),
            )
            .into());
        }
        if req.duration > limits::call_duration_seconds_max {
            return Err(ValidationError::OutOfRange {
                field: "duration".into(),
                reason: format!("at most {} seconds", limits::call_duration_seconds_max),
            }
            .into());
        }
        let taken = req
            .reservation
            .and_then(|id| self.reservations.lock().remove(&id));
        // Everything but the SQL is done here, on the caller's thread, with no lock held
        // while the batch is written.
        let job = self.prepare_settle(req, taken.as_ref(), now, scope);
        let result = self
            .settles
            .submit(job, &|jobs| self.settle_batch(store, jobs))
            .unwrap_or_else(|| {
                Err(Error::Internal(
                    "the group commit holding this settle failed".into(),
                ))
            });
        match (&result, taken) {
            // The call is over whatever the outcome of a replay: free what it held.
            (Ok(s), Some(res)) if s.replayed => self.drop_hold(&res),
            (Ok(_), Some(_)) => {}
            // Nothing was charged: the reservation stays for a retry.
            (Err(_), Some(res)) => {
                if let Some(id) = req.reservation {
                    self.reservations.lock().insert(id, res);
                }
            }
            (_, None) => {}
        }
        result
    }

    /// The plan of a call whose reservation is unknown, and the volume it may draw on (what
    /// is free of it now; the settle's transaction bounds it by the database's count).
    fn unreserved_plan(
        &self,
        req: &SettleRequest,
        now: DateTime<Utc>,
    ) -> Result<(Plan, Option<Claim>)> {
        let (Some(account), Some(destination), Some(connect)) =
            (&req.account, &req.destination, req.connect_time)
        else {
            return Err(match req.reservation {
                Some(id) => ChargeError::ReservationNotFound(id).into(),
                None => ValidationError::Required("reservation".into()).into(),
            });
        };
        let account = self.find_account(account, req.auth_type.as_deref())?;
        let state = self.client(account.client)?;
        let client = state.lock();
        let plan = self.plan(
            &account,
            &client,
            destination,
            req.source.as_deref(),
            connect,
            now,
        )?;
        let claim = volumes::pick(&client.volumes, &client.volume_held, destination);
        Ok((plan, claim))
    }

    /// Price a settle and build its xDR: everything that needs no database.
    fn prepare_settle(
        &self,
        req: &SettleRequest,
        res: Option<&Reservation>,
        now: DateTime<Utc>,
        scope: Option<i64>,
    ) -> SettleJob {
        let plan = match res {
            Some(r) => Ok((Arc::clone(&r.plan), r.volume)),
            None => self
                .unreserved_plan(req, now)
                .map(|(p, claim)| (Arc::new(p), claim)),
        };
        // The content of a settle: its duration, and (when known) the account and number.
        let hash = ledger::request_hash(&[&req.call_id, &req.duration.to_string()]);
        let checked = plan
            .as_ref()
            .ok()
            .map(|(p, _)| (p.account, p.destination.clone()));
        let company = plan.as_ref().ok().map(|(p, _)| p.company);
        let priced = plan.and_then(|(plan, claim)| {
            let billed = rating::billed_seconds(&plan.terms, req.duration);
            let cost = rating::cost(&plan.terms, req.duration, plan.precision, plan.rounding)?;
            let end =
                plan.connect_time + Duration::seconds(i64::try_from(req.duration).unwrap_or(0));
            let mut x = Record::new();
            x.insert("call_id", Val::Text(req.call_id.clone()));
            x.insert("id_accounts", Val::Int(plan.account));
            x.insert("id_clients", Val::Int(plan.client));
            x.insert("id_companies", Val::Int(plan.company));
            x.insert("src", plan.source.clone().map_or(Val::Null, Val::Text));
            x.insert("dst", Val::Text(plan.destination.clone()));
            x.insert("code", Val::Text(plan.code().to_string()));
            x.insert("code_name", Val::Text(plan.code_name.to_string()));
            x.insert("id_rate_tables", Val::Int(plan.table));
            x.insert("rate", Val::Dec(plan.terms.rate));
            x.insert("setup_fee", Val::Dec(plan.terms.setup_fee));
            x.insert("min_volume", Val::Int(i64::from(plan.terms.min_volume)));
            x.insert("interval", Val::Int(i64::from(plan.terms.interval)));
            x.insert("grace_volume", Val::Int(i64::from(plan.terms.grace_volume)));
            x.insert(
                "duration",
                Val::Int(i64::try_from(req.duration).unwrap_or(0)),
            );
            x.insert(
                "billed_seconds",
                Val::Int(i64::try_from(billed).unwrap_or(0)),
            );
            x.insert("cost", Val::Dec(cost));
            x.insert("id_currencies", Val::Int(plan.currency));
            x.insert(
                "connect_time",
                Val::Text(clock::format_dt(plan.connect_time)),
            );
            x.insert("end_time", Val::Text(clock::format_dt(end)));
            x.insert(
                "reservation",
                req.reservation
                    .and_then(|r| i64::try_from(r).ok())
                    .map_or(Val::Null, Val::Int),
            );
            x.insert("unreserved", Val::Bool(res.is_none()));
            x.insert("request_hash", Val::Text(hash.clone()));
            x.insert("c_dt", Val::Text(clock::format_dt(now)));
            Ok(Priced {
                xdr: x,
                client: plan.client,
                billed,
                cost,
                plan,
                claim,
            })
        });
        SettleJob {
            call_id: req.call_id.clone(),
            duration: req.duration,
            hash,
            checked,
            company,
            scope,
            priced,
            now: clock::format_dt(now),
            reservation: res.map(|r| (r.hold, Arc::clone(&r.plan), r.volume)),
        }
    }

    /// Write a batch of settles in one transaction, each in its own savepoint (a failing one
    /// undoes only itself and gets its own error), commit once, then apply every charged
    /// settle to memory in commit order while the store lock is still held.
    fn settle_batch(&self, store: &dyn Store, jobs: Vec<SettleJob>) -> Vec<Result<Settlement>> {
        let count = jobs.len();
        self.settle_batches.fetch_add(1, Ordering::Relaxed);
        self.settles_batched
            .fetch_add(u64::try_from(count).unwrap_or(0), Ordering::Relaxed);
        let jobs = std::cell::RefCell::new(jobs);
        let outcomes = std::cell::RefCell::new(Vec::with_capacity(count));
        let batch = store.run(
            TxKind::Write,
            &mut |tx| {
                let mut outcomes = outcomes.borrow_mut();
                outcomes.clear();
                for job in jobs.borrow_mut().iter_mut() {
                    tx.savepoint()?;
                    let outcome = settle_in_tx(tx, job);
                    if outcome.is_ok() {
                        tx.release_savepoint()?;
                    } else {
                        tx.rollback_to_savepoint()?;
                    }
                    outcomes.push(outcome);
                }
                Ok(())
            },
            &mut || {
                for (job, outcome) in jobs.borrow().iter().zip(outcomes.borrow().iter()) {
                    if let Ok((s, delta, used)) = outcome {
                        self.apply_settle(job, s, *delta, used.as_ref());
                    }
                }
            },
        );
        match batch {
            Ok(()) => outcomes
                .into_inner()
                .into_iter()
                .map(|o| o.map(|(s, _, _)| s))
                .collect(),
            // Nothing of the batch committed: every settle in it fails (and may be retried).
            Err(e) => (0..count).map(|_| Err(batch_error(&e))).collect(),
        }
    }

    /// A committed settle's effect on memory: the balance moves by the charge, the hold and
    /// the call's capacity are freed.
    fn apply_settle(
        &self,
        job: &SettleJob,
        s: &Settlement,
        delta: Decimal,
        used: Option<&volumes::Used>,
    ) {
        if s.replayed {
            return;
        }
        if let Ok(state) = self.client(s.client) {
            let mut client = state.lock();
            client.balance = money::exact_add(client.balance, delta).unwrap_or(client.balance);
            if let Some(u) = used {
                volumes::record(&mut client.volumes, u);
            }
            if let Some((hold, plan, claim)) = &job.reservation {
                client.held = money::exact_sub(client.held, *hold).unwrap_or(client.held);
                if let Some(c) = claim {
                    volumes::unhold(&mut client.volume_held, c.subscription, c.entry, c.limit);
                }
                self.free_capacity(plan, &mut client);
            }
        }
    }
}

/// A settle waiting for its group commit: priced, its xDR built.
struct SettleJob {
    call_id: String,
    duration: u64,
    /// The content hash that tells a replay from a conflict.
    hash: String,
    /// The account and number of the call, when known (also checked on a replay).
    checked: Option<(i64, String)>,
    /// The company whose call ids this one is among, when the call's client is known.
    company: Option<i64>,
    /// The caller's subtree: a call id outside it is unknown to the caller.
    scope: Option<i64>,
    /// The xDR to write, or why it cannot be (surfaced only when this is no replay).
    priced: Result<Priced>,
    /// `now`, formatted.
    now: String,
    /// The reservation's hold, plan and held volume, freed once the charge commits.
    reservation: Option<(Decimal, Arc<Plan>, Option<Claim>)>,
}

struct Priced {
    xdr: Record,
    client: i64,
    billed: u64,
    /// The cost without an included volume.
    cost: Decimal,
    plan: Arc<Plan>,
    /// The included volume the call may draw on.
    claim: Option<Claim>,
}

/// What one settle did inside the batch: the result, the balance change, the volume used.
type SettleOutcome = (Settlement, Decimal, Option<volumes::Used>);

/// One settle inside the batch transaction (within its savepoint).
fn settle_in_tx(tx: &mut dyn StoreTx, job: &mut SettleJob) -> Result<SettleOutcome> {
    // Call ids are unique per company and seen only inside the caller's subtree: another
    // tenant's call id answers exactly like one never settled.
    let found = tx.xdrs_by_call_id(&job.call_id, job.company, job.scope)?;
    if found.len() > 1 {
        return Err(ValidationError::invalid(
            "call_id",
            "several companies have a call with this id: give the account",
        )
        .into());
    }
    if let Some((id, first_hash)) = found.into_iter().next() {
        let same = first_hash == job.hash
            && match &job.checked {
                None => true,
                Some((account, destination)) => tx.get(&XDRS, id, None)?.is_some_and(|x| {
                    int(&x, "id_accounts") == Some(*account) && text(&x, "dst") == destination
                }),
            };
        if !same {
            return Err(ChargeError::IdempotencyConflict(format!(
                "call_id {:?} was settled with different content",
                job.call_id
            ))
            .into());
        }
        return Ok((replay(tx, id)?, Decimal::ZERO, None));
    }
    let mut p = std::mem::replace(
        &mut job.priced,
        Err(Error::Internal("settle written twice".into())),
    )?;
    // Included seconds first, as many as the period has left by the database's own count.
    let mut used = None;
    if let Some(claim) = p.claim.filter(|_| p.billed > 0) {
        let (free, run, period) = volumes::available_in_tx(tx, &claim)?;
        if free > 0 {
            let covered = p.billed.min(free);
            p.cost = rating::cost_after_volume(
                &p.plan.terms,
                job.duration,
                free,
                p.plan.precision,
                p.plan.rounding,
            )?;
            p.xdr.insert("cost", Val::Dec(p.cost));
            p.xdr
                .insert("id_subscriptions", Val::Int(claim.subscription));
            p.xdr.insert(
                "volume_seconds",
                Val::Int(i64::try_from(covered).unwrap_or(i64::MAX)),
            );
            used = Some(volumes::Used {
                subscription: claim.subscription,
                run,
                period,
                entry: claim.entry,
                seconds: covered,
            });
        }
    }
    let xdr = tx.insert(&XDRS, &p.xdr)?;
    if let Some(u) = &used {
        tx.add_volume_usage(
            u.subscription,
            u.run,
            u.period,
            u.entry,
            i64::try_from(u.seconds).unwrap_or(i64::MAX),
        )?;
    }
    let balance = if p.cost.is_zero() {
        tx.client_balance(p.client)?
            .map(|b| b.0)
            .unwrap_or_default()
    } else {
        let reference = format!("xdr:{xdr}");
        let posted = ledger::post(
            tx,
            &Posting {
                client: p.client,
                kind: "call",
                amount: -p.cost,
                original: None,
                dt: &job.now,
                notes: None,
                author: 0,
                idempotency_key: None,
                request_hash: None,
                reference: Some(&reference),
            },
        )?;
        let mut link = Record::new();
        link.insert("id_transactions", Val::Int(posted.id));
        tx.update(&XDRS, xdr, &link)?;
        posted.after
    };
    let s = Settlement {
        xdr,
        call_id: job.call_id.clone(),
        client: p.client,
        duration: job.duration,
        billed_seconds: p.billed,
        cost: p.cost,
        volume_seconds: used.map_or(0, |u| u.seconds),
        subscription: used.map(|u| u.subscription),
        balance,
        unreserved: job.reservation.is_none(),
        replayed: false,
    };
    Ok((s, -p.cost, used))
}

/// The error each settle of a failed batch gets (the batch error is not `Clone`).
fn batch_error(e: &Error) -> Error {
    match e {
        Error::Store(_) => crate::error::StoreError::io(e.to_string()).into(),
        _ => Error::Internal(format!("group commit failed: {e}")),
    }
}

fn replay(tx: &dyn StoreTx, xdr: i64) -> Result<Settlement> {
    let x = tx
        .get(&XDRS, xdr, None)?
        .ok_or_else(|| Error::Internal(format!("xdr {xdr} vanished")))?;
    let client = int(&x, "id_clients").unwrap_or_default();
    Ok(Settlement {
        xdr,
        call_id: text(&x, "call_id").to_string(),
        client,
        duration: int(&x, "duration")
            .and_then(|d| u64::try_from(d).ok())
            .unwrap_or(0),
        billed_seconds: int(&x, "billed_seconds")
            .and_then(|d| u64::try_from(d).ok())
            .unwrap_or(0),
        cost: dec(&x, "cost"),
        volume_seconds: int(&x, "volume_seconds")
            .and_then(|d| u64::try_from(d).ok())
            .unwrap_or(0),
        subscription: int(&x, "id_subscriptions"),
        balance: tx.client_balance(client)?.map(|b| b.0).unwrap_or_default(),
        unreserved: matches!(x.get("unreserved"), Some(Val::Bool(true))),
        replayed: true,
    })
}

fn check_number(field: &str, n: &str) -> Result<()> {
    if n.is_empty() || n.len() > limits::number_length_max || !n.bytes().all(|b| b.is_ascii_digit())
    {
        return Err(ValidationError::invalid(
            field,
            format!("must be 1 to {} digits", limits::number_length_max),
        )
        .into());
    }
    Ok(())
}

fn truncate(s: &str) -> String {
    s.chars().take(64).collect()
}

/// How a rate table's prices become the client's currency.
#[derive(Debug, Clone, Copy)]
enum Exchange {
    /// Multiply by the direct rate: exact (a rate has at most 16 digits and an exchange rate
    /// at most `limits::exchange_rate_digits_max`, so the product has at most 28), refused
    /// (`money.overflow`) if it ever is not.
    Multiply(Decimal),
    /// Divide by the opposite rate. The quotient rarely terminates, so it is rounded half up
    /// to `limits::amount_scale_max` places — a named rounding, below any details precision,
    /// before the cost's own rounding.
    Divide(Decimal),
}

impl Exchange {
    fn apply(self, price: Decimal) -> Result<Decimal> {
        Ok(match self {
            Exchange::Multiply(x) => money::exact_mul(price, x)?,
            Exchange::Divide(r) => {
                money::div_round(price, r, limits::amount_scale_max, Rounding::HalfUp)?
            }
        })
    }
}
