//! [`StoreTx`] for PostgreSQL: the transaction, its statement helpers, and the trait's
//! methods, each forwarded to its family's module (`rows`, `auth`, `meta`, `ledger`,
//! `billing`, as in the SQLite store) except the savepoints and postings, which are the
//! transaction's own. The statements are SQLite's in PostgreSQL's dialect: `$n`
//! placeholders, `RETURNING id` instead of the last rowid, `NUMERIC` money as [`Decimal`].

use super::super::sql;
use super::super::{
    ApiTokenRow, AuditRow, InvoiceSources, ListQuery, NewApiToken, Range, ReservationRow,
    SessionRow, StoreTx, TransactionRow, UserAuth,
};
use super::behind::{Behind, IdPool};
use super::map_error;
use super::val::read_val;
use super::{auth, billing, ledger, meta, rows};
use crate::error::{Error, Result, ValidationError};
use crate::model::{EntityDef, Record, Val};
use postgres::error::SqlState;
use postgres::types::ToSql;
use postgres::{Row, Statement, Transaction};
use rust_decimal::Decimal;
use std::cell::RefCell;
use std::collections::HashMap;

pub(super) type Args<'a> = &'a [&'a (dyn ToSql + Sync)];

/// The company subtree of `$1`, as the CTE `scope(id)`.
pub(super) const SCOPE_CTE: &str = sql::Dialect::POSTGRES.scope_cte;

/// One transaction: what [`StoreTx`] runs on.
pub(super) struct PgTx<'a> {
    target: &'a str,
    tx: RefCell<Transaction<'a>>,
    cache: RefCell<&'a mut HashMap<String, Statement>>,
    /// The writes kept back until something could see them (`behind.rs`).
    pub(super) behind: RefCell<Behind>,
    /// Ids taken ahead from identity sequences, kept with the connection.
    pub(super) ids: RefCell<&'a mut IdPool>,
    /// Balance changes posted in this transaction (see `StoreTx::postings`).
    postings: Vec<(i64, Decimal)>,
    /// `postings.len()` when each open savepoint began.
    marks: Vec<usize>,
}

/// Whether a statement only reads (so what it can see must be sent first, but an open
/// savepoint need not be).
fn reads_only(sql: &str) -> bool {
    let s = sql.trim_start();
    s.strip_prefix(SCOPE_CTE)
        .unwrap_or(s)
        .trim_start()
        .starts_with("SELECT")
}

impl<'a> PgTx<'a> {
    pub(super) fn new(
        target: &'a str,
        tx: Transaction<'a>,
        cache: &'a mut HashMap<String, Statement>,
        ids: &'a mut IdPool,
    ) -> PgTx<'a> {
        PgTx {
            target,
            tx: RefCell::new(tx),
            cache: RefCell::new(cache),
            behind: RefCell::new(Behind::default()),
            ids: RefCell::new(ids),
            postings: Vec::new(),
            marks: Vec::new(),
        }
    }

    /// The transaction, ready to commit: everything kept back is sent; one that a failed
    /// statement left aborted is refused (PostgreSQL would answer its COMMIT with ROLLBACK).
    pub(super) fn finish(self) -> Result<Transaction<'a>> {
        self.sync(false)?;
        if self.behind.borrow().poisoned {
            return Err(Error::Internal(
                "a statement failed inside the batch: nothing of it is committed".into(),
            ));
        }
        Ok(self.tx.into_inner())
    }

    pub(super) fn err(&self, e: postgres::Error) -> Error {
        map_error(self.target, e)
    }

    /// A write's error as the caller should see it: a unique violation is a duplicate
    /// value, a foreign-key one means other rows still refer to the row.
    pub(super) fn write_err(&self, e: postgres::Error) -> Error {
        if let Some(db) = e.as_db_error() {
            if *db.code() == SqlState::UNIQUE_VIOLATION {
                // "Key (auth_type, ident)=(ip, 10.0.0.1) already exists." names the columns.
                let field = db
                    .detail()
                    .and_then(|d| d.strip_prefix("Key ("))
                    .and_then(|d| d.split(')').next())
                    .and_then(|cols| cols.rsplit(", ").next())
                    .unwrap_or("value")
                    .to_string();
                return ValidationError::Duplicate {
                    field,
                    value: "the given value".into(),
                }
                .into();
            }
            if *db.code() == SqlState::FOREIGN_KEY_VIOLATION {
                return Error::InUse {
                    what: "object".into(),
                    reason: "other records refer to it".into(),
                };
            }
        }
        self.err(e)
    }

    pub(super) fn stmt(&self, sql: &str) -> Result<Statement> {
        if let Some(s) = self.cache.borrow().get(sql) {
            return Ok(s.clone());
        }
        let s = self.tx.borrow_mut().prepare(sql).map_err(|e| self.err(e))?;
        self.cache.borrow_mut().insert(sql.to_string(), s.clone());
        Ok(s)
    }

    /// A statement's error: the transaction is aborted until a savepoint is rolled back.
    fn failed(&self, e: Error) -> Error {
        self.behind.borrow_mut().poisoned = true;
        e
    }

    /// Before a statement of `sql` that is not kept back: send what it could see.
    fn before(&self, sql: &str) -> Result<()> {
        let read = reads_only(sql);
        self.sync(read)?;
        if !read {
            self.behind
                .borrow_mut()
                .forget(sql.contains("xdrs"), sql.contains("clients"));
        }
        Ok(())
    }

    pub(super) fn raw_rows(&self, sql: &str, args: Args<'_>) -> Result<Vec<Row>> {
        let s = self.stmt(sql)?;
        self.tx
            .borrow_mut()
            .query(&s, args)
            .map_err(|e| self.failed(self.err(e)))
    }

    pub(super) fn raw_opt(&self, sql: &str, args: Args<'_>) -> Result<Option<Row>> {
        let s = self.stmt(sql)?;
        self.tx
            .borrow_mut()
            .query_opt(&s, args)
            .map_err(|e| self.failed(self.err(e)))
    }

    pub(super) fn raw_exec(&self, sql: &str, args: Args<'_>) -> Result<u64> {
        let s = self.stmt(sql)?;
        self.tx
            .borrow_mut()
            .execute(&s, args)
            .map_err(|e| self.failed(self.err(e)))
    }

    /// An insert or update whose constraint failures the caller should see as such.
    pub(super) fn raw_write(&self, sql: &str, args: Args<'_>) -> Result<u64> {
        let s = self.stmt(sql)?;
        self.tx
            .borrow_mut()
            .execute(&s, args)
            .map_err(|e| self.failed(self.write_err(e)))
    }

    pub(super) fn raw_batch(&self, sql: &str) -> Result<()> {
        self.tx
            .borrow_mut()
            .batch_execute(sql)
            .map_err(|e| self.failed(self.err(e)))
    }

    pub(super) fn rows(&self, sql: &str, args: Args<'_>) -> Result<Vec<Row>> {
        self.before(sql)?;
        self.raw_rows(sql, args)
    }

    pub(super) fn opt(&self, sql: &str, args: Args<'_>) -> Result<Option<Row>> {
        self.before(sql)?;
        self.raw_opt(sql, args)
    }

    pub(super) fn one(&self, sql: &str, args: Args<'_>) -> Result<Row> {
        self.before(sql)?;
        let s = self.stmt(sql)?;
        self.tx
            .borrow_mut()
            .query_one(&s, args)
            .map_err(|e| self.failed(self.err(e)))
    }

    pub(super) fn exec(&self, sql: &str, args: Args<'_>) -> Result<u64> {
        self.before(sql)?;
        self.raw_exec(sql, args)
    }

    /// An insert or update whose constraint failures the caller should see as such.
    pub(super) fn write(&self, sql: &str, args: Args<'_>) -> Result<u64> {
        self.before(sql)?;
        self.raw_write(sql, args)
    }

    pub(super) fn write_returning(&self, sql: &str, args: Args<'_>) -> Result<i64> {
        self.before(sql)?;
        let s = self.stmt(sql)?;
        let row = self
            .tx
            .borrow_mut()
            .query_one(&s, args)
            .map_err(|e| self.failed(self.write_err(e)))?;
        self.get(&row, 0)
    }

    pub(super) fn get<'r, T: postgres::types::FromSql<'r>>(
        &self,
        row: &'r Row,
        idx: usize,
    ) -> Result<T> {
        row.try_get(idx).map_err(|e| self.err(e))
    }

    pub(super) fn record(&self, e: &EntityDef, row: &Row) -> Result<Record> {
        let mut rec = Record::new();
        for (i, f) in e.columns().enumerate() {
            rec.insert(f.name, read_val(row, i, f.kind).map_err(|e| self.err(e))?);
        }
        Ok(rec)
    }

    pub(super) fn records(&self, e: &EntityDef, rows: &[Row]) -> Result<Vec<Record>> {
        rows.iter().map(|r| self.record(e, r)).collect()
    }

    pub(super) fn decimals(&self, rows: &[Row]) -> Result<Vec<Decimal>> {
        rows.iter().map(|r| self.get(r, 0)).collect()
    }
}

impl StoreTx for PgTx<'_> {
    fn insert(&mut self, e: &EntityDef, rec: &Record) -> Result<i64> {
        rows::insert(self, e, rec)
    }

    fn get(&self, e: &EntityDef, id: i64, scope: Option<i64>) -> Result<Option<Record>> {
        rows::get(self, e, id, scope)
    }

    fn update(&mut self, e: &EntityDef, id: i64, changes: &Record) -> Result<()> {
        rows::update(self, e, id, changes)
    }

    fn delete(&mut self, e: &EntityDef, id: i64) -> Result<()> {
        rows::delete(self, e, id)
    }

    fn list(&self, e: &EntityDef, q: &ListQuery) -> Result<(Vec<Record>, u64)> {
        rows::list(self, e, q)
    }

    fn list_page(
        &self,
        e: &EntityDef,
        q: &ListQuery,
        after_id: i64,
        ranges: &[Range],
    ) -> Result<Vec<Record>> {
        rows::list_page(self, e, q, after_id, ranges)
    }

    fn exists_other(
        &self,
        table: &str,
        column: &str,
        value: &Val,
        except_id: Option<i64>,
    ) -> Result<bool> {
        rows::exists_other(self, table, column, value, except_id)
    }

    fn count_refs(&self, table: &str, column: &str, id: i64) -> Result<u64> {
        rows::count_refs(self, table, column, id)
    }

    fn company_ancestors(&self, id: i64) -> Result<Vec<i64>> {
        rows::company_ancestors(self, id)
    }

    fn user_by_login(&self, login: &str) -> Result<Option<UserAuth>> {
        auth::user_by_login(self, login)
    }

    fn user_by_id(&self, id: i64) -> Result<Option<UserAuth>> {
        auth::user_by_id(self, id)
    }

    fn insert_user(
        &mut self,
        login: &str,
        password_hash: &str,
        id_roles: i64,
        id_companies: i64,
        c_dt: &str,
    ) -> Result<i64> {
        auth::insert_user(self, login, password_hash, id_roles, id_companies, c_dt)
    }

    fn login_attempt(&mut self, id_users: i64, now: &str) -> Result<(i64, bool)> {
        auth::login_attempt(self, id_users, now)
    }

    fn login_failed(
        &mut self,
        id_users: i64,
        attempt: i64,
        lock_after: i64,
        locked_until: &str,
    ) -> Result<()> {
        auth::login_failed(self, id_users, attempt, lock_after, locked_until)
    }

    fn login_succeeded(&mut self, id_users: i64, now: &str) -> Result<bool> {
        auth::login_succeeded(self, id_users, now)
    }

    fn role_permissions(&self, id_roles: i64) -> Result<Option<String>> {
        auth::role_permissions(self, id_roles)
    }

    fn insert_session(
        &mut self,
        token_hash: &str,
        id_users: i64,
        now: i64,
        expires_at: i64,
    ) -> Result<i64> {
        auth::insert_session(self, token_hash, id_users, now, expires_at)
    }

    fn session_by_hash(&self, token_hash: &str) -> Result<Option<SessionRow>> {
        auth::session_by_hash(self, token_hash)
    }

    fn touch_session(&mut self, id: i64, now: i64) -> Result<()> {
        auth::touch_session(self, id, now)
    }

    fn revoke_session(&mut self, id: i64) -> Result<()> {
        auth::revoke_session(self, id)
    }

    fn prune_sessions(
        &mut self,
        id_users: i64,
        now: i64,
        idle_seconds: i64,
        keep: usize,
    ) -> Result<()> {
        auth::prune_sessions(self, id_users, now, idle_seconds, keep)
    }

    fn set_session_jti(&mut self, id: i64, jti: &str) -> Result<()> {
        auth::set_session_jti(self, id, jti)
    }

    fn session_by_id(&self, id: i64) -> Result<Option<(SessionRow, Option<String>)>> {
        auth::session_by_id(self, id)
    }

    fn session_by_jti(&self, jti: &str) -> Result<Option<SessionRow>> {
        auth::session_by_jti(self, jti)
    }

    fn insert_refresh_token(
        &mut self,
        id_sessions: i64,
        token_hash: &str,
        now: i64,
    ) -> Result<i64> {
        auth::insert_refresh_token(self, id_sessions, token_hash, now)
    }

    fn refresh_token_by_hash(&self, token_hash: &str) -> Result<Option<(i64, i64, bool)>> {
        auth::refresh_token_by_hash(self, token_hash)
    }

    fn spend_refresh_token(&mut self, id: i64, now: i64) -> Result<bool> {
        auth::spend_refresh_token(self, id, now)
    }

    fn revoke_user_sessions(&mut self, id_users: i64, keep: Option<i64>) -> Result<()> {
        auth::revoke_user_sessions(self, id_users, keep)
    }

    fn delete_user_sessions(&mut self, id_users: i64) -> Result<()> {
        auth::delete_user_sessions(self, id_users)
    }

    fn insert_api_token(&mut self, t: &NewApiToken<'_>) -> Result<i64> {
        auth::insert_api_token(self, t)
    }

    fn api_token_by_hash(&self, token_hash: &str) -> Result<Option<ApiTokenRow>> {
        auth::api_token_by_hash(self, token_hash)
    }

    fn api_token_by_id(&self, id: i64, scope: Option<i64>) -> Result<Option<ApiTokenRow>> {
        auth::api_token_by_id(self, id, scope)
    }

    fn api_tokens(
        &self,
        id_users: Option<i64>,
        scope: Option<i64>,
        limit: u64,
        offset: u64,
    ) -> Result<(Vec<ApiTokenRow>, u64)> {
        auth::api_tokens(self, id_users, scope, limit, offset)
    }

    fn live_api_tokens(&self, id_users: i64) -> Result<u64> {
        auth::live_api_tokens(self, id_users)
    }

    fn revoke_api_token(&mut self, id: i64, now: &str, by: i64) -> Result<bool> {
        auth::revoke_api_token(self, id, now, by)
    }

    fn delete_user_api_tokens(&mut self, id_users: i64) -> Result<()> {
        auth::delete_user_api_tokens(self, id_users)
    }

    fn custom_values(&self, object_id: i64) -> Result<Vec<(i64, String)>> {
        rows::custom_values(self, object_id)
    }

    fn set_custom_value(
        &mut self,
        id_custom_fields: i64,
        object_id: i64,
        value: Option<&str>,
    ) -> Result<()> {
        rows::set_custom_value(self, id_custom_fields, object_id, value)
    }

    fn audit(&mut self, row: &AuditRow<'_>) -> Result<()> {
        meta::audit(self, row)
    }

    fn meta(&self, key: &str) -> Result<Option<String>> {
        meta::meta(self, key)
    }

    fn set_meta(&mut self, key: &str, value: &str) -> Result<()> {
        meta::set_meta(self, key, value)
    }

    fn put_reservation(&mut self, row: &ReservationRow) -> Result<()> {
        meta::put_reservation(self, row)
    }

    fn delete_reservations(&mut self, ids: &[u64]) -> Result<()> {
        meta::delete_reservations(self, ids)
    }

    fn reservations(&self) -> Result<Vec<ReservationRow>> {
        meta::reservations(self)
    }

    fn client_balance(&self, id_clients: i64) -> Result<Option<(Decimal, i64)>> {
        ledger::client_balance(self, id_clients)
    }

    fn set_client_balance(&mut self, id_clients: i64, balance: Decimal) -> Result<()> {
        ledger::set_client_balance(self, id_clients, balance)
    }

    fn insert_transaction(&mut self, row: &TransactionRow<'_>) -> Result<i64> {
        ledger::insert_transaction(self, row)
    }

    fn transaction_by_key(&self, id_clients: i64, key: &str) -> Result<Option<(i64, String)>> {
        ledger::transaction_by_key(self, id_clients, key)
    }

    fn ledger_amounts(&self, id_clients: i64) -> Result<Vec<Decimal>> {
        ledger::ledger_amounts(self, id_clients)
    }

    fn xdrs_by_call_id(
        &self,
        call_id: &str,
        company: Option<i64>,
        scope: Option<i64>,
    ) -> Result<Vec<(i64, String)>> {
        ledger::xdrs_by_call_id(self, call_id, company, scope)
    }

    fn client_company(&self, id_clients: i64) -> Result<Option<i64>> {
        ledger::client_company(self, id_clients)
    }

    fn exchange_rate(
        &self,
        from: i64,
        to: i64,
        at: &str,
    ) -> Result<Option<(i64, Decimal, String)>> {
        ledger::exchange_rate(self, from, to, at)
    }

    fn volume_usage(
        &self,
        id_subscriptions: i64,
        run: i64,
        period: i64,
    ) -> Result<Vec<(i64, i64)>> {
        ledger::volume_usage(self, id_subscriptions, run, period)
    }

    fn add_volume_usage(
        &mut self,
        id_subscriptions: i64,
        run: i64,
        period: i64,
        entry: i64,
        seconds: i64,
    ) -> Result<()> {
        ledger::add_volume_usage(self, id_subscriptions, run, period, entry, seconds)
    }

    fn invoice_sources(&self, client: i64, from: &str, till: &str) -> Result<InvoiceSources> {
        billing::invoice_sources(self, client, from, till)
    }

    fn claim_for_invoice(
        &mut self,
        client: i64,
        from: &str,
        till: &str,
        invoice: i64,
    ) -> Result<()> {
        billing::claim_for_invoice(self, client, from, till, invoice)
    }

    fn release_invoice(&mut self, invoice: i64) -> Result<()> {
        billing::release_invoice(self, invoice)
    }

    fn next_invoice_sequence(&mut self, company: i64) -> Result<i64> {
        billing::next_invoice_sequence(self, company)
    }

    fn overlapping_invoice(&self, client: i64, from: &str, till: &str) -> Result<Option<String>> {
        billing::overlapping_invoice(self, client, from, till)
    }

    fn ledger_amounts_before(&self, client: i64, before: &str) -> Result<Vec<Decimal>> {
        billing::ledger_amounts_before(self, client, before)
    }

    fn note_posting(&mut self, client: i64, delta: Decimal) {
        self.postings.push((client, delta));
    }

    fn postings(&self) -> &[(i64, Decimal)] {
        &self.postings
    }

    // A savepoint is sent only once something inside it goes to the server (`behind.rs`).
    fn savepoint(&mut self) -> Result<()> {
        self.behind.get_mut().savepoint()?;
        self.marks.push(self.postings.len());
        Ok(())
    }

    fn release_savepoint(&mut self) -> Result<()> {
        if self.behind.get_mut().release() {
            self.raw_batch("RELEASE SAVEPOINT tollgate_item")?;
        }
        self.marks.pop();
        Ok(())
    }

    fn rollback_to_savepoint(&mut self) -> Result<()> {
        match self.behind.get_mut().rollback() {
            Ok(true) => self.raw_batch(
                "ROLLBACK TO SAVEPOINT tollgate_item; RELEASE SAVEPOINT tollgate_item",
            )?,
            Ok(false) => {}
            Err(()) => {
                return Err(Error::Internal(
                    "a statement failed inside a settle the batch cannot undo alone".into(),
                ))
            }
        }
        if let Some(mark) = self.marks.pop() {
            self.postings.truncate(mark);
        }
        Ok(())
    }

    fn prefetch_settles(&mut self, calls: &[(i64, &str)], clients: &[i64]) -> Result<()> {
        ledger::prefetch_settles(self, calls, clients)
    }
}
