//! [`StoreTx`] for SQLite: every method forwards to its family's module (`rows`, `auth`,
//! `meta`, `ledger`) or, for savepoints, to `mod.rs`.

use super::super::{
    ApiTokenRow, AuditRow, InvoiceSources, ListQuery, NewApiToken, Range, ReservationRow,
    SessionRow, StoreTx, TransactionRow, UserAuth,
};
use super::{auth, billing, ledger, meta, rows, SqliteTx};
use crate::error::Result;
use crate::model::{EntityDef, Record, Val};
use rust_decimal::Decimal;

impl StoreTx for SqliteTx<'_> {
    // --- generic entity rows ---
    fn insert(&mut self, e: &EntityDef, rec: &Record) -> Result<i64> {
        rows::insert(self.conn, e, rec)
    }

    fn get(&self, e: &EntityDef, id: i64, scope: Option<i64>) -> Result<Option<Record>> {
        rows::get(self.conn, e, id, scope)
    }

    fn update(&mut self, e: &EntityDef, id: i64, changes: &Record) -> Result<()> {
        rows::update(self.conn, e, id, changes)
    }

    fn delete(&mut self, e: &EntityDef, id: i64) -> Result<()> {
        rows::delete(self.conn, e, id)
    }

    fn list(&self, e: &EntityDef, q: &ListQuery) -> Result<(Vec<Record>, u64)> {
        rows::list(self.conn, e, q)
    }

    fn list_page(
        &self,
        e: &EntityDef,
        q: &ListQuery,
        after_id: i64,
        ranges: &[Range],
    ) -> Result<Vec<Record>> {
        rows::list_page(self.conn, e, q, after_id, ranges)
    }

    fn exists_other(
        &self,
        table: &str,
        column: &str,
        value: &Val,
        except_id: Option<i64>,
    ) -> Result<bool> {
        rows::exists_other(self.conn, table, column, value, except_id)
    }

    fn count_refs(&self, table: &str, column: &str, id: i64) -> Result<u64> {
        rows::count_refs(self.conn, table, column, id)
    }

    // --- companies ---
    fn company_ancestors(&self, id: i64) -> Result<Vec<i64>> {
        rows::company_ancestors(self.conn, id)
    }

    // --- users, roles, sessions ---
    fn user_by_login(&self, login: &str) -> Result<Option<UserAuth>> {
        auth::user_by_login(self.conn, login)
    }

    fn user_by_id(&self, id: i64) -> Result<Option<UserAuth>> {
        auth::user_by_id(self.conn, id)
    }

    fn insert_user(
        &mut self,
        login: &str,
        password_hash: &str,
        id_roles: i64,
        id_companies: i64,
        c_dt: &str,
    ) -> Result<i64> {
        auth::insert_user(
            self.conn,
            login,
            password_hash,
            id_roles,
            id_companies,
            c_dt,
        )
    }

    fn login_attempt(&mut self, id_users: i64, now: &str) -> Result<(i64, bool)> {
        auth::login_attempt(self.conn, id_users, now)
    }

    fn login_failed(
        &mut self,
        id_users: i64,
        attempt: i64,
        lock_after: i64,
        locked_until: &str,
    ) -> Result<()> {
        auth::login_failed(self.conn, id_users, attempt, lock_after, locked_until)
    }

    fn login_succeeded(&mut self, id_users: i64, now: &str) -> Result<bool> {
        auth::login_succeeded(self.conn, id_users, now)
    }

    fn role_permissions(&self, id_roles: i64) -> Result<Option<String>> {
        auth::role_permissions(self.conn, id_roles)
    }

    fn insert_session(
        &mut self,
        token_hash: &str,
        id_users: i64,
        now: i64,
        expires_at: i64,
    ) -> Result<i64> {
        auth::insert_session(self.conn, token_hash, id_users, now, expires_at)
    }

    fn session_by_hash(&self, token_hash: &str) -> Result<Option<SessionRow>> {
        auth::session_by_hash(self.conn, token_hash)
    }

    fn touch_session(&mut self, id: i64, now: i64) -> Result<()> {
        auth::touch_session(self.conn, id, now)
    }

    fn revoke_session(&mut self, id: i64) -> Result<()> {
        auth::revoke_session(self.conn, id)
    }

    fn prune_sessions(
        &mut self,
        id_users: i64,
        now: i64,
        idle_seconds: i64,
        keep: usize,
    ) -> Result<()> {
        auth::prune_sessions(self.conn, id_users, now, idle_seconds, keep)
    }

    // --- access tokens (issue 3) ---
    fn set_session_jti(&mut self, id: i64, jti: &str) -> Result<()> {
        auth::set_session_jti(self.conn, id, jti)
    }

    fn session_by_id(&self, id: i64) -> Result<Option<(SessionRow, Option<String>)>> {
        auth::session_by_id(self.conn, id)
    }

    fn session_by_jti(&self, jti: &str) -> Result<Option<SessionRow>> {
        auth::session_by_jti(self.conn, jti)
    }

    fn insert_refresh_token(
        &mut self,
        id_sessions: i64,
        token_hash: &str,
        now: i64,
    ) -> Result<i64> {
        auth::insert_refresh_token(self.conn, id_sessions, token_hash, now)
    }

    fn refresh_token_by_hash(&self, token_hash: &str) -> Result<Option<(i64, i64, bool)>> {
        auth::refresh_token_by_hash(self.conn, token_hash)
    }

    fn spend_refresh_token(&mut self, id: i64, now: i64) -> Result<bool> {
        auth::spend_refresh_token(self.conn, id, now)
    }

    // --- API tokens (issue 20) ---
    fn insert_api_token(&mut self, t: &NewApiToken<'_>) -> Result<i64> {
        auth::insert_api_token(self.conn, t)
    }

    fn api_token_by_hash(&self, token_hash: &str) -> Result<Option<ApiTokenRow>> {
        auth::api_token_by_hash(self.conn, token_hash)
    }

    fn api_token_by_id(&self, id: i64, scope: Option<i64>) -> Result<Option<ApiTokenRow>> {
        auth::api_token_by_id(self.conn, id, scope)
    }

    fn api_tokens(
        &self,
        id_users: Option<i64>,
        scope: Option<i64>,
        limit: u64,
        offset: u64,
    ) -> Result<(Vec<ApiTokenRow>, u64)> {
        auth::api_tokens(self.conn, id_users, scope, limit, offset)
    }

    fn live_api_tokens(&self, id_users: i64) -> Result<u64> {
        auth::live_api_tokens(self.conn, id_users)
    }

    fn revoke_api_token(&mut self, id: i64, now: &str, by: i64) -> Result<bool> {
        auth::revoke_api_token(self.conn, id, now, by)
    }

    fn delete_user_api_tokens(&mut self, id_users: i64) -> Result<()> {
        auth::delete_user_api_tokens(self.conn, id_users)
    }

    fn revoke_user_sessions(&mut self, id_users: i64, keep: Option<i64>) -> Result<()> {
        auth::revoke_user_sessions(self.conn, id_users, keep)
    }

    fn delete_user_sessions(&mut self, id_users: i64) -> Result<()> {
        auth::delete_user_sessions(self.conn, id_users)
    }

    // --- custom field values ---
    fn custom_values(&self, object_id: i64) -> Result<Vec<(i64, String)>> {
        rows::custom_values(self.conn, object_id)
    }

    fn set_custom_value(
        &mut self,
        id_custom_fields: i64,
        object_id: i64,
        value: Option<&str>,
    ) -> Result<()> {
        rows::set_custom_value(self.conn, id_custom_fields, object_id, value)
    }

    // --- audit and settings ---
    fn audit(&mut self, row: &AuditRow<'_>) -> Result<()> {
        meta::audit(self.conn, row)
    }

    fn meta(&self, key: &str) -> Result<Option<String>> {
        meta::meta(self.conn, key)
    }

    fn set_meta(&mut self, key: &str, value: &str) -> Result<()> {
        meta::set_meta(self.conn, key, value)
    }

    fn put_reservation(&mut self, row: &ReservationRow) -> Result<()> {
        meta::put_reservation(self.conn, row)
    }

    fn delete_reservations(&mut self, ids: &[u64]) -> Result<()> {
        meta::delete_reservations(self.conn, ids)
    }

    fn reservations(&self) -> Result<Vec<ReservationRow>> {
        meta::reservations(self.conn)
    }

    // --- ledger ---
    fn client_balance(&self, id_clients: i64) -> Result<Option<(Decimal, i64)>> {
        ledger::client_balance(self.conn, id_clients)
    }

    fn set_client_balance(&mut self, id_clients: i64, balance: Decimal) -> Result<()> {
        ledger::set_client_balance(self.conn, id_clients, balance)
    }

    fn insert_transaction(&mut self, row: &TransactionRow<'_>) -> Result<i64> {
        ledger::insert_transaction(self.conn, row)
    }

    fn transaction_by_key(&self, id_clients: i64, key: &str) -> Result<Option<(i64, String)>> {
        ledger::transaction_by_key(self.conn, id_clients, key)
    }

    fn ledger_amounts(&self, id_clients: i64) -> Result<Vec<Decimal>> {
        ledger::ledger_amounts(self.conn, id_clients)
    }

    fn xdrs_by_call_id(
        &self,
        call_id: &str,
        company: Option<i64>,
        scope: Option<i64>,
    ) -> Result<Vec<(i64, String)>> {
        ledger::xdrs_by_call_id(self.conn, call_id, company, scope)
    }

    fn client_company(&self, id_clients: i64) -> Result<Option<i64>> {
        ledger::client_company(self.conn, id_clients)
    }

    fn exchange_rate(
        &self,
        from: i64,
        to: i64,
        at: &str,
    ) -> Result<Option<(i64, Decimal, String)>> {
        ledger::exchange_rate(self.conn, from, to, at)
    }

    fn volume_usage(
        &self,
        id_subscriptions: i64,
        run: i64,
        period: i64,
    ) -> Result<Vec<(i64, i64)>> {
        ledger::volume_usage(self.conn, id_subscriptions, run, period)
    }

    fn add_volume_usage(
        &mut self,
        id_subscriptions: i64,
        run: i64,
        period: i64,
        entry: i64,
        seconds: i64,
    ) -> Result<()> {
        ledger::add_volume_usage(self.conn, id_subscriptions, run, period, entry, seconds)
    }

    // --- savepoints ---
    // --- billing cycle ---
    fn invoice_sources(&self, client: i64, from: &str, till: &str) -> Result<InvoiceSources> {
        billing::invoice_sources(self.conn, client, from, till)
    }

    fn claim_for_invoice(
        &mut self,
        client: i64,
        from: &str,
        till: &str,
        invoice: i64,
    ) -> Result<()> {
        billing::claim_for_invoice(self.conn, client, from, till, invoice)
    }

    fn release_invoice(&mut self, invoice: i64) -> Result<()> {
        billing::release_invoice(self.conn, invoice)
    }

    fn next_invoice_sequence(&mut self, company: i64) -> Result<i64> {
        billing::next_invoice_sequence(self.conn, company)
    }

    fn overlapping_invoice(&self, client: i64, from: &str, till: &str) -> Result<Option<String>> {
        billing::overlapping_invoice(self.conn, client, from, till)
    }

    fn ledger_amounts_before(&self, client: i64, before: &str) -> Result<Vec<Decimal>> {
        billing::ledger_amounts_before(self.conn, client, before)
    }

    fn savepoint(&mut self) -> Result<()> {
        super::savepoint(self.conn)?;
        self.marks.push(self.postings.len());
        Ok(())
    }

    fn release_savepoint(&mut self) -> Result<()> {
        super::release_savepoint(self.conn)?;
        self.marks.pop();
        Ok(())
    }

    fn rollback_to_savepoint(&mut self) -> Result<()> {
        super::rollback_to_savepoint(self.conn)?;
        if let Some(mark) = self.marks.pop() {
            self.postings.truncate(mark);
        }
        Ok(())
    }

    // --- the transaction's postings ---
    fn note_posting(&mut self, client: i64, delta: Decimal) {
        self.postings.push((client, delta));
    }

    fn postings(&self) -> &[(i64, Decimal)] {
        &self.postings
    }
}
