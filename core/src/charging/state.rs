//! The in-memory mirror of the database: clients (balance, credit, held), accounts,
//! companies, loaded at open and refreshed after every commit that changed them.

use super::plan::{load_currencies, load_table, ExchangeRow, Table};
use super::{invariant, violated, Charging, ChargingConfig, HashMap};
use crate::charging::volumes::{self, Volume};
use crate::error::{ChargeError, Error, Result, ValidationError};
use crate::limits;
use crate::model::{dec, int, text, EntityDef};
use crate::model::{Record, Val, ACCOUNTS, CLIENTS, COMPANIES, RATE_TABLES, SUBSCRIPTIONS};
use crate::money;
use crate::store::{self, ListQuery, Store, StoreTx, TxKind};
use parking_lot::Mutex;
use rust_decimal::Decimal;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;

#[derive(Debug, Clone)]
pub(super) struct ClientState {
    pub(super) company: i64,
    pub(super) active: bool,
    pub(super) balance: Decimal,
    pub(super) credit: Decimal,
    pub(super) held: Decimal,
    pub(super) capacity: Option<u32>,
    pub(super) calls: u32,
    pub(super) account_calls: HashMap<i64, u32>,
    pub(super) currency: i64,
    pub(super) rate_table: Option<i64>,
    /// Live subscriptions' included volumes for the period now running.
    pub(super) volumes: Vec<Volume>,
    /// Included seconds held by open reservations.
    pub(super) volume_held: volumes::Held,
}

#[derive(Debug)]
pub(super) struct AccountState {
    pub(super) id: i64,
    pub(super) client: i64,
    pub(super) active: bool,
    pub(super) capacity: Option<u32>,
    pub(super) rate_table: Option<i64>,
    /// Where the account is found: its `auth_type` (index into `AUTH_TYPES`) and `ident`.
    pub(super) kind: usize,
    pub(super) ident: Box<str>,
}

#[derive(Debug)]
pub(super) struct CompanyState {
    pub(super) parent: Option<i64>,
    pub(super) active: bool,
    pub(super) capacity: Option<u32>,
    pub(super) calls: AtomicU32,
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
    /// The stored balance of every client whose row or balance changed, as committed: the
    /// mirror must equal it once the refresh is applied.
    stored: Vec<(i64, Decimal)>,
    volumes: Vec<(i64, Vec<Volume>)>,
}

impl ClientState {
    /// Funds the client may still spend: balance + credit − held.
    pub(super) fn available(&self) -> Result<Decimal> {
        Ok(money::exact_sub(
            money::exact_add(self.balance, self.credit)?,
            self.held,
        )?)
    }
}

const AUTH_TYPES: [&str; 4] = ["ip", "login", "ani", "tech_prefix"];

pub(super) fn all(tx: &dyn StoreTx, e: &EntityDef) -> Result<Vec<Record>> {
    Ok(tx.list(e, &ListQuery::everything(Vec::new()))?.0)
}

fn capacity(r: &Record) -> Option<u32> {
    int(r, "capacity").and_then(|c| u32::try_from(c).ok())
}

fn client_state(r: &Record, old: Option<&ClientState>) -> ClientState {
    ClientState {
        company: int(r, "id_companies").unwrap_or(crate::model::OPERATOR_COMPANY),
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
        kind: AUTH_TYPES
            .iter()
            .position(|t| *t == text(r, "auth_type"))
            .unwrap_or(1),
        ident: text(r, "ident").into(),
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

impl Charging {
    /// Load every piece of hot-path state from the database.
    pub(crate) fn load(store: &dyn Store, config: ChargingConfig) -> Result<Charging> {
        // Reservation ids carry the engine's epoch: each open takes the next one, durably,
        // before any id is handed out, so an id from before a restart never names a call of
        // this run (it answers like an unknown reservation).
        let epoch = store::run(store, TxKind::Write, |tx| {
            let last = tx
                .meta(RESERVATION_EPOCH_KEY)?
                .and_then(|v| v.parse::<u64>().ok())
                .unwrap_or(0);
            let next = last + 1;
            if next > limits::reservation_epochs_max {
                return Err(invariant(format_args!(
                    "reservation epoch {next} is past {}",
                    limits::reservation_epochs_max
                )));
            }
            tx.set_meta(RESERVATION_EPOCH_KEY, &next.to_string())?;
            Ok(next)
        })?;
        let c = Charging {
            config,
            first_reservation: first_reservation_id(epoch),
            next_reservation: std::sync::atomic::AtomicU64::new(first_reservation_id(epoch) - 1),
            ..Charging::default()
        };
        store::run(store, TxKind::Read, |tx| {
            // Clients and accounts are streamed in pages: a million of them never sit in
            // memory as records at once.
            let every = ListQuery::everything(Vec::new());
            store::each_row(tx, &COMPANIES, &every, |r| {
                c.companies.write().insert(
                    int(&r, "id").unwrap_or_default(),
                    Arc::new(company_state(&r, None)),
                );
                Ok(())
            })?;
            store::each_row(tx, &CLIENTS, &every, |r| {
                c.clients.write().insert(
                    int(&r, "id").unwrap_or_default(),
                    Arc::new(Mutex::new(client_state(&r, None))),
                );
                Ok(())
            })?;
            store::each_row(tx, &ACCOUNTS, &every, |r| {
                c.put_account(&r);
                Ok(())
            })?;
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
        // The calls a previous run acknowledged are held again, with their ids.
        let rows = store::run(store, TxKind::Read, |tx| tx.reservations())?;
        let orphans = c.restore(&rows)?;
        if !orphans.is_empty() {
            log::warn!(
                "{} stored reservations belong to clients that no longer exist; removed",
                orphans.len()
            );
            store::run(store, TxKind::Write, |tx| tx.delete_reservations(&orphans))?;
        }
        Ok(c)
    }

    fn put_account(&self, r: &Record) {
        let a = Arc::new(account_state(r));
        self.remove_account(a.id);
        self.accounts.write()[a.kind].insert(a.ident.to_string(), Arc::clone(&a));
        self.accounts_by_id.write().insert(a.id, a);
    }

    /// Forget an account: its entry by id and the one by its identifier (found from what
    /// the account itself records, not by scanning every account).
    fn remove_account(&self, id: i64) {
        let Some(old) = self.accounts_by_id.write().remove(&id) else {
            return;
        };
        // `kind` is a position in `AUTH_TYPES`, as in `put_account`.
        let mut maps = self.accounts.write();
        let by_ident = &mut maps[old.kind];
        // Another account may hold the identifier by now (moved to it in the same change).
        if by_ident.get(&*old.ident).is_some_and(|a| a.id == id) {
            by_ident.remove(&*old.ident);
        }
    }

    /// Read, inside a committing transaction, the fresh state of what a call changed.
    pub(crate) fn prepare(
        &self,
        tx: &dyn StoreTx,
        touched: &[(&'static str, i64)],
    ) -> Result<Refresh> {
        // Balances follow the postings the transaction recorded (`ledger::post`).
        let mut r = Refresh {
            balances: tx.postings().to_vec(),
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
        r.stored = stored_balances(tx, &r)?;
        Ok(r)
    }

    /// Apply a [`Refresh`] after its transaction committed (the store lock is still held).
    pub(crate) fn apply(&self, r: Refresh) {
        self.apply_companies(r.companies);
        self.apply_clients(r.clients);
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
        self.check_mirror(&r.stored);
        for (client, v) in r.volumes {
            if let Some(state) = self.clients.read().get(&client) {
                state.lock().volumes = v;
            }
        }
    }

    fn apply_companies(&self, companies: Vec<(i64, Option<Record>)>) {
        for (id, rec) in companies {
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
    }

    fn apply_clients(&self, clients: Vec<(i64, Option<Record>)>) {
        for (id, rec) in clients {
            let Some(rec) = rec else {
                self.clients.write().remove(&id);
                continue;
            };
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
    }

    /// Move a mirrored balance by a committed posting's amount.
    pub(super) fn add_balance(&self, client: i64, delta: Decimal) {
        if let Some(state) = self.clients.read().get(&client) {
            let mut s = state.lock();
            // The database computed the same sum with checked arithmetic and committed it: a
            // sum that does not fit here means the mirror already differs from the row.
            match money::exact_add(s.balance, delta) {
                Ok(b) => s.balance = b,
                Err(e) => violated(format_args!(
                    "client {client}: mirrored balance {} + {delta}: {e}",
                    s.balance
                )),
            }
        }
    }

    /// The mirror against the rows it mirrors, after a refresh: every balance equals the
    /// committed one. A difference is a broken invariant; the committed balance (the
    /// authority) replaces the mirrored one, so that no grant is made from a wrong amount.
    fn check_mirror(&self, stored: &[(i64, Decimal)]) {
        let clients = self.clients.read();
        for (client, balance) in stored {
            let Some(state) = clients.get(client) else {
                continue;
            };
            let mut s = state.lock();
            if s.balance != *balance {
                violated(format_args!(
                    "client {client}: mirrored balance {} differs from the stored {balance}",
                    s.balance
                ));
                s.balance = *balance;
            }
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
        let available = state.lock().available();
        available
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

    pub(super) fn find_account(
        &self,
        ident: &str,
        auth_type: Option<&str>,
    ) -> Result<Arc<AccountState>> {
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
        found.ok_or_else(|| ChargeError::AccountNotFound(crate::error::echoed_cut(ident)).into())
    }

    pub(super) fn client(&self, id: i64) -> Result<Arc<Mutex<ClientState>>> {
        self.clients
            .read()
            .get(&id)
            .cloned()
            .ok_or_else(|| Error::Internal(format!("client {id} not loaded")))
    }
}

/// The committed balance of every client a refresh concerns (its row or its balance changed).
fn stored_balances(tx: &dyn StoreTx, r: &Refresh) -> Result<Vec<(i64, Decimal)>> {
    let mut stored: Vec<(i64, Decimal)> = Vec::new();
    let rows = r.clients.iter().filter(|(_, rec)| rec.is_some());
    for id in rows
        .map(|(id, _)| *id)
        .chain(r.balances.iter().map(|(c, _)| *c))
    {
        if stored.iter().any(|(c, _)| *c == id) {
            continue;
        }
        // A client deleted by the transaction leaves the mirror too.
        if let Some((balance, _)) = tx.client_balance(id)? {
            stored.push((id, balance));
        }
    }
    Ok(stored)
}

/// The settings key of the last epoch an engine opened with.
const RESERVATION_EPOCH_KEY: &str = "reservation_epoch";

/// The first reservation id of an epoch: the epoch in the high bits, a sequence below
/// 2^`reservation_sequence_bits`, so every id stays below 2^53 (exact in JSON numbers).
pub(super) fn first_reservation_id(epoch: u64) -> u64 {
    (epoch << limits::reservation_sequence_bits) + 1
}

#[cfg(test)]
mod tests {
    use super::super::testing::setup;
    use super::*;
    use serde_json::json;
    use std::str::FromStr;

    fn d(s: &str) -> Decimal {
        Decimal::from_str(s).unwrap()
    }

    fn client(balance: &str, credit: &str, held: &str) -> ClientState {
        ClientState {
            company: 1,
            active: true,
            balance: d(balance),
            credit: d(credit),
            held: d(held),
            capacity: None,
            calls: 0,
            account_calls: HashMap::default(),
            currency: 1,
            rate_table: None,
            volumes: Vec::new(),
            volume_held: Default::default(),
        }
    }

    #[test]
    fn available_is_balance_plus_credit_minus_held_exactly() {
        assert_eq!(client("10", "5", "2.5").available().unwrap(), d("12.5"));
        assert_eq!(client("-3", "1", "0").available().unwrap(), d("-2"));
        let max = Decimal::MAX;
        assert!(client(&max.to_string(), "1", "0").available().is_err());
    }

    #[test]
    fn a_mirror_that_matches_its_rows_is_left_alone() {
        let c = Charging::default();
        c.clients
            .write()
            .insert(4, Arc::new(Mutex::new(client("1", "0", "0"))));
        c.add_balance(4, d("2.50"));
        c.add_balance(99, d("1"));
        c.check_mirror(&[(4, d("3.5")), (99, d("1"))]);
        assert_eq!(c.balance(4), Some((d("3.50"), d("0"))));
        assert_eq!(c.balance(99), None);
    }

    #[cfg(debug_assertions)]
    #[test]
    #[should_panic(expected = "invariant: client 4: mirrored balance 1 differs from the stored 2")]
    fn a_mirror_that_differs_from_its_row_is_a_broken_invariant() {
        let c = Charging::default();
        c.clients
            .write()
            .insert(4, Arc::new(Mutex::new(client("1", "0", "0"))));
        c.check_mirror(&[(4, d("2"))]);
    }

    #[test]
    fn refreshes_keep_the_mirror_equal_to_the_rows() {
        let s = setup("10");
        s.assert_consistent();
        s.pay("2.25");
        s.ok(
            "clients.edit",
            json!({"id": s.client, "credit": "5", "name": "Renamed"}),
        );
        s.assert_consistent();
        assert_eq!(
            s.engine.client_balance_cached(s.client),
            Some((d("12.25"), d("0")))
        );
        // The credit came through the refresh: a call may now spend it too (16 minutes and
        // the setup fee of 17.25).
        let call = |auth_type: Option<&str>| {
            s.engine.authorize(&super::super::AuthorizeRequest {
                account: "100".into(),
                auth_type: auth_type.map(str::to_string),
                destination: "44123".into(),
                ..Default::default()
            })
        };
        assert_eq!(call(Some("ani")).unwrap().held, d("16.3"));
        let code = |r: Result<super::super::Authorization>| r.unwrap_err().code().as_str();
        assert_eq!(code(call(Some("ip"))), "account.not_found");
        assert_eq!(code(call(Some("bogus"))), "validation.invalid");
        s.assert_consistent();
    }
}
