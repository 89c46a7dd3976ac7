//! Storage. Domain code talks to a [`Store`] through [`StoreTx`]; every SQL string lives
//! under this module, so another backend (PostgreSQL for operators who outgrow one machine)
//! can be added without touching the domain logic.

mod migrations;
#[cfg(feature = "postgres")]
mod postgres;
mod sql;
mod sqlite;

#[cfg(feature = "postgres")]
pub use self::postgres::{testing as pg_testing, PgStore, PG_SCHEMA_VERSION};
pub use migrations::SCHEMA_VERSION;
pub use sqlite::SqliteStore;

use crate::error::Result;
use crate::model::{EntityDef, Record, Val};
use rust_decimal::Decimal;

/// A list request, already validated against the entity's fields.
#[derive(Debug, Clone)]
pub struct ListQuery {
    /// Equality filters on filterable columns.
    pub filters: Vec<(&'static str, Val)>,
    /// Substring search on `name`.
    pub search: Option<String>,
    /// Restrict to this company's subtree (None: everything).
    pub scope: Option<i64>,
    /// Page size.
    pub limit: u64,
    /// Rows to skip.
    pub offset: u64,
    /// Sort column (always followed by `id` so the order is stable).
    pub order: &'static str,
    /// Descending order.
    pub descending: bool,
    /// Half-open ranges (`dt_from`/`dt_till` of a list), applied with the filters.
    pub ranges: Vec<Range>,
}

impl ListQuery {
    /// Every row matching `filters`, in id order, unscoped (engine-internal reads).
    pub fn everything(filters: Vec<(&'static str, Val)>) -> ListQuery {
        ListQuery {
            filters,
            search: None,
            scope: None,
            limit: i64::MAX as u64,
            offset: 0,
            order: "id",
            descending: false,
            ranges: Vec::new(),
        }
    }
}

/// A half-open range filter on one column: `from <= column < till` (either side optional).
/// Values compare as stored (times are stored as `YYYY-MM-DD HH:MM:SS+00` text, which
/// sorts chronologically).
#[derive(Debug, Clone)]
pub struct Range {
    /// The column (from a static entity definition).
    pub column: &'static str,
    /// Inclusive lower bound.
    pub from: Option<Val>,
    /// Exclusive upper bound.
    pub till: Option<Val>,
}

/// A user as the login path needs it.
#[derive(Debug, Clone)]
pub struct UserAuth {
    /// User id.
    pub id: i64,
    /// Login.
    pub login: String,
    /// Argon2id PHC string.
    pub password_hash: String,
    /// Role.
    pub id_roles: i64,
    /// Scope root company.
    pub id_companies: i64,
    /// `active` or `blocked`.
    pub status: String,
    /// Consecutive failed logins.
    pub failed_logins: i64,
    /// Locked until this time (`YYYY-MM-DD HH:MM:SS+00`), if locked.
    pub locked_until: Option<String>,
}

/// A stored session (the SID itself is never stored, only its hash).
#[derive(Debug, Clone)]
pub struct SessionRow {
    /// Row id (safe to log and audit).
    pub id: i64,
    /// Owner.
    pub id_users: i64,
    /// Unix seconds of creation.
    pub created_at: i64,
    /// Unix seconds of last use.
    pub last_seen: i64,
    /// Unix seconds of the absolute expiry.
    pub expires_at: i64,
    /// Logged out.
    pub revoked: bool,
}

/// A stored API token (the token itself is never stored, only its keyed hash).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiTokenRow {
    /// Row id (safe to show, log and audit).
    pub id: i64,
    /// The user it authenticates as.
    pub id_users: i64,
    /// That user's login.
    pub login: String,
    /// The realm it was issued for (`admin`).
    pub realm: String,
    /// The label its creator gave it.
    pub name: String,
    /// The start of its random part, to tell tokens apart.
    pub hint: String,
    /// When it was made (`YYYY-MM-DD HH:MM:SS+00`).
    pub c_dt: String,
    /// Who made it (user id, 0 = system).
    pub created_by: i64,
    /// When it was revoked, if it was.
    pub revoked_at: Option<String>,
    /// Who revoked it.
    pub revoked_by: Option<i64>,
}

/// A new API token to store.
#[derive(Debug, Clone)]
pub struct NewApiToken<'a> {
    /// The user it authenticates as.
    pub id_users: i64,
    /// Its realm.
    pub realm: &'a str,
    /// Its label.
    pub name: &'a str,
    /// The keyed hash of the token.
    pub token_hash: &'a str,
    /// The start of its random part.
    pub hint: &'a str,
    /// Now.
    pub c_dt: &'a str,
    /// Who makes it.
    pub created_by: i64,
}

/// An audit row to write.
#[derive(Debug, Clone)]
pub struct AuditRow<'a> {
    /// When.
    pub dt: &'a str,
    /// Who (0 for the embedding process).
    pub id_users: i64,
    /// Login, or `system`.
    pub login: &'a str,
    /// Session row id, if any.
    pub id_sessions: Option<i64>,
    /// The caller's company.
    pub id_companies: i64,
    /// Method called.
    pub method: &'a str,
    /// Touched objects, as JSON.
    pub objects: &'a str,
    /// `ok`.
    pub outcome: &'a str,
    /// The call a settle charged.
    pub call_id: Option<&'a str>,
}

/// One transaction's view of the store. Reads see a consistent snapshot; writes commit
/// together or not at all.
///
/// The methods come in sections (generic entity rows, companies, users and sessions, access
/// tokens, custom field values, audit and settings, ledger, savepoints); the SQLite backend
/// keeps each family in its own module under `sqlite/`.
pub trait StoreTx {
    // --- generic entity rows ---
    /// Insert a row; returns its id.
    fn insert(&mut self, e: &EntityDef, rec: &Record) -> Result<i64>;
    /// A row by id, if it exists and (when `scope` is set) lies in that company subtree.
    fn get(&self, e: &EntityDef, id: i64, scope: Option<i64>) -> Result<Option<Record>>;
    /// Update some columns of a row.
    fn update(&mut self, e: &EntityDef, id: i64, changes: &Record) -> Result<()>;
    /// Delete a row.
    fn delete(&mut self, e: &EntityDef, id: i64) -> Result<()>;
    /// A page of rows and the total matching count.
    fn list(&self, e: &EntityDef, q: &ListQuery) -> Result<(Vec<Record>, u64)>;
    /// A keyset page for streaming exports: up to `q.limit` rows with `id > after_id` that
    /// match `q`'s filters, search and scope and every range, in ascending id order.
    /// `q.order`, `q.descending` and `q.offset` are ignored and no total is counted, so
    /// every page costs the same however deep the export is.
    fn list_page(
        &self,
        e: &EntityDef,
        q: &ListQuery,
        after_id: i64,
        ranges: &[Range],
    ) -> Result<Vec<Record>>;
    /// Does another row (not `except_id`) have `column = value`?
    fn exists_other(
        &self,
        table: &str,
        column: &str,
        value: &Val,
        except_id: Option<i64>,
    ) -> Result<bool>;
    /// How many rows of `table` have `column = id`.
    fn count_refs(&self, table: &str, column: &str, id: i64) -> Result<u64>;

    // --- companies ---
    /// The company and its ancestors up to the root, nearest first.
    fn company_ancestors(&self, id: i64) -> Result<Vec<i64>>;

    // --- users, roles, sessions ---
    /// A user by login.
    fn user_by_login(&self, login: &str) -> Result<Option<UserAuth>>;
    /// A user by id.
    fn user_by_id(&self, id: i64) -> Result<Option<UserAuth>>;
    /// Insert a user; returns its id.
    fn insert_user(
        &mut self,
        login: &str,
        password_hash: &str,
        id_roles: i64,
        id_companies: i64,
        c_dt: &str,
    ) -> Result<i64>;
    /// Claim a login attempt before its password is checked: the attempt is counted at once,
    /// so parallel guesses cannot all pass a check of the same count. A lock that has run out
    /// (at or before `now`) starts the count again. Returns the attempt's number since the last
    /// success and whether a lock is in force (then nothing is counted).
    fn login_attempt(&mut self, id_users: i64, now: &str) -> Result<(i64, bool)>;
    /// The claimed attempt number `attempt` failed: from `lock_after` on, lock the login
    /// until `locked_until`.
    fn login_failed(
        &mut self,
        id_users: i64,
        attempt: i64,
        lock_after: i64,
        locked_until: &str,
    ) -> Result<()>;
    /// A successful login clears the count, unless a lock (set by attempts that raced with
    /// it) is in force at `now`: then it returns false and clears nothing.
    fn login_succeeded(&mut self, id_users: i64, now: &str) -> Result<bool>;
    /// A role's permissions JSON.
    fn role_permissions(&self, id_roles: i64) -> Result<Option<String>>;
    /// Store a new session.
    fn insert_session(
        &mut self,
        token_hash: &str,
        id_users: i64,
        now: i64,
        expires_at: i64,
    ) -> Result<i64>;
    /// A session by token hash.
    fn session_by_hash(&self, token_hash: &str) -> Result<Option<SessionRow>>;
    /// Update last use.
    fn touch_session(&mut self, id: i64, now: i64) -> Result<()>;
    /// Log a session out.
    fn revoke_session(&mut self, id: i64) -> Result<()>;
    /// Drop a user's expired sessions and keep at most `keep` open ones.
    fn prune_sessions(
        &mut self,
        id_users: i64,
        now: i64,
        idle_seconds: i64,
        keep: usize,
    ) -> Result<()>;

    // --- access tokens (issue 3) ---
    /// Give a session its public token identifier (`jti`).
    fn set_session_jti(&mut self, id: i64, jti: &str) -> Result<()>;
    /// A session by row id, with its public token identifier if it has one.
    fn session_by_id(&self, id: i64) -> Result<Option<(SessionRow, Option<String>)>>;
    /// A session by its public token identifier.
    fn session_by_jti(&self, jti: &str) -> Result<Option<SessionRow>>;
    /// Store a refresh token's hash for a session; returns its row id.
    fn insert_refresh_token(&mut self, id_sessions: i64, token_hash: &str, now: i64)
        -> Result<i64>;
    /// A refresh token by hash: (row id, session row id, already used).
    fn refresh_token_by_hash(&self, token_hash: &str) -> Result<Option<(i64, i64, bool)>>;
    /// Mark a refresh token used; `false` if it was already used (a replay).
    fn spend_refresh_token(&mut self, id: i64, now: i64) -> Result<bool>;
    /// Log out every session of a user except `keep` (password, role or status change).
    fn revoke_user_sessions(&mut self, id_users: i64, keep: Option<i64>) -> Result<()>;
    /// Delete every session of a user (before the user is deleted).
    fn delete_user_sessions(&mut self, id_users: i64) -> Result<()>;

    // --- API tokens (issue 20) ---
    /// Store a new API token; returns its row id.
    fn insert_api_token(&mut self, t: &NewApiToken<'_>) -> Result<i64>;
    /// An API token by its keyed hash.
    fn api_token_by_hash(&self, token_hash: &str) -> Result<Option<ApiTokenRow>>;
    /// An API token by row id, if its user is inside `scope` (`None`: anywhere).
    fn api_token_by_id(&self, id: i64, scope: Option<i64>) -> Result<Option<ApiTokenRow>>;
    /// API tokens, newest first, of one user or of every user inside `scope`, with the
    /// total count: `(rows, total)`.
    fn api_tokens(
        &self,
        id_users: Option<i64>,
        scope: Option<i64>,
        limit: u64,
        offset: u64,
    ) -> Result<(Vec<ApiTokenRow>, u64)>;
    /// A user's API tokens that are not revoked.
    fn live_api_tokens(&self, id_users: i64) -> Result<u64>;
    /// Revoke an API token; `false` if it was revoked already.
    fn revoke_api_token(&mut self, id: i64, now: &str, by: i64) -> Result<bool>;
    /// Delete every API token of a user (before the user is deleted).
    fn delete_user_api_tokens(&mut self, id_users: i64) -> Result<()>;

    // --- custom field values ---
    /// Values of an object's custom fields: (field id, value).
    fn custom_values(&self, object_id: i64) -> Result<Vec<(i64, String)>>;
    /// Set (or with `None`, clear) a custom field value.
    fn set_custom_value(
        &mut self,
        id_custom_fields: i64,
        object_id: i64,
        value: Option<&str>,
    ) -> Result<()>;

    // --- audit and settings ---
    /// Append an audit row.
    fn audit(&mut self, row: &AuditRow<'_>) -> Result<()>;
    /// A setting.
    fn meta(&self, key: &str) -> Result<Option<String>>;
    /// Set a setting.
    fn set_meta(&mut self, key: &str, value: &str) -> Result<()>;

    // --- open reservations ---
    /// Write (or overwrite) an open reservation.
    fn put_reservation(&mut self, row: &ReservationRow) -> Result<()>;
    /// Remove closed reservations (ids not stored are ignored).
    fn delete_reservations(&mut self, ids: &[u64]) -> Result<()>;
    /// Every open reservation, by id.
    fn reservations(&self) -> Result<Vec<ReservationRow>>;

    // --- ledger ---
    /// A client's balance and currency.
    fn client_balance(&self, id_clients: i64) -> Result<Option<(Decimal, i64)>>;
    /// Store a client's new balance (the ledger posting computed it).
    fn set_client_balance(&mut self, id_clients: i64, balance: Decimal) -> Result<()>;
    /// Append a ledger entry; returns its id.
    fn insert_transaction(&mut self, row: &TransactionRow<'_>) -> Result<i64>;
    /// The ledger entry of a client carrying an idempotency key: (id, request hash). Keys
    /// are unique per client.
    fn transaction_by_key(&self, id_clients: i64, key: &str) -> Result<Option<(i64, String)>>;
    /// Record that a posting changed `client`'s balance by `delta` in this transaction
    /// (`ledger::post` alone calls it). A savepoint rolled back drops what was recorded in it.
    fn note_posting(&mut self, client: i64, delta: Decimal);
    /// The balance changes posted in this transaction so far, in order: what the in-memory
    /// mirror applies once the transaction commits.
    fn postings(&self) -> &[(i64, Decimal)];
    /// The sum of a client's ledger (for invariant checks).
    fn ledger_amounts(&self, id_clients: i64) -> Result<Vec<Decimal>>;
    /// The xDRs of a call id, at most two: those of `company` when it is known (call ids are
    /// unique per company), else those inside the subtree of `scope` (`None`: anywhere).
    fn xdrs_by_call_id(
        &self,
        call_id: &str,
        company: Option<i64>,
        scope: Option<i64>,
    ) -> Result<Vec<(i64, String)>>;
    /// The company of a client.
    fn client_company(&self, id_clients: i64) -> Result<Option<i64>>;
    /// The newest exchange rate from one currency to another effective at `at`:
    /// (rate row id, rate, effective_from).
    fn exchange_rate(
        &self,
        from: i64,
        to: i64,
        at: &str,
    ) -> Result<Option<(i64, rust_decimal::Decimal, String)>>;
    /// Included seconds used in one period of a subscription: (volume entry, seconds).
    fn volume_usage(&self, id_subscriptions: i64, run: i64, period: i64)
        -> Result<Vec<(i64, i64)>>;
    /// Add `seconds` to what one volume entry of a subscription's period has used.
    fn add_volume_usage(
        &mut self,
        id_subscriptions: i64,
        run: i64,
        period: i64,
        entry: i64,
        seconds: i64,
    ) -> Result<()>;

    // --- billing cycle (invoices) ---
    /// What an invoice of `client` for `[from, till)` is built from: the uninvoiced xDRs that
    /// started in the period, and late ones of a period an issued invoice already covers;
    /// the uninvoiced entries other than calls, payments and tax posted in the period (or
    /// late in an invoiced one); the payments posted in the period.
    fn invoice_sources(&self, client: i64, from: &str, till: &str) -> Result<InvoiceSources>;
    /// Mark exactly the xDRs and entries [`StoreTx::invoice_sources`] returned as covered
    /// by `invoice`.
    fn claim_for_invoice(
        &mut self,
        client: i64,
        from: &str,
        till: &str,
        invoice: i64,
    ) -> Result<()>;
    /// Free what `invoice` covered (it was voided): the next invoice of the period takes it.
    fn release_invoice(&mut self, invoice: i64) -> Result<()>;
    /// The next number of a company's invoice sequence (1, 2, ...; never reused).
    fn next_invoice_sequence(&mut self, company: i64) -> Result<i64>;
    /// The number of an issued invoice of `client` overlapping `[from, till)`, if any.
    fn overlapping_invoice(&self, client: i64, from: &str, till: &str) -> Result<Option<String>>;
    /// The amounts of a client's ledger entries dated before `before`.
    fn ledger_amounts_before(&self, client: i64, before: &str) -> Result<Vec<Decimal>>;

    // --- savepoints (group commit: many callers' changes in one transaction) ---
    /// Mark a point inside this transaction that [`StoreTx::rollback_to_savepoint`] can undo
    /// back to. Savepoints do not nest: each one is released or rolled back before the next.
    fn savepoint(&mut self) -> Result<()>;
    /// Keep the changes made since the savepoint (they commit with the transaction).
    fn release_savepoint(&mut self) -> Result<()>;
    /// Undo every change made since the savepoint, and drop it; the rest of the transaction
    /// is untouched. An error here means the whole transaction is lost.
    fn rollback_to_savepoint(&mut self) -> Result<()>;

    /// A hint before a batch of settles: the (company, call id) pairs it will look up and
    /// the clients whose balances it will post to. A store whose statements cost a round
    /// trip each (PostgreSQL) reads them in one go; the answers stay what they would be.
    fn prefetch_settles(&mut self, _calls: &[(i64, &str)], _clients: &[i64]) -> Result<()> {
        Ok(())
    }
}

/// What an invoice is built from (see [`StoreTx::invoice_sources`]).
#[derive(Debug, Clone, Default)]
pub struct InvoiceSources {
    /// Calls: (destination `code_name`, billed seconds, cost), in id order.
    pub calls: Vec<(Option<String>, i64, Decimal)>,
    /// Other entries: (type, signed amount), in id order.
    pub entries: Vec<(String, Decimal)>,
    /// Payments posted in the period.
    pub payments: Vec<Decimal>,
}

/// One open reservation as stored: the charging layer owns what `body` says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReservationRow {
    /// The reservation id the switch was given.
    pub id: u64,
    /// Its client.
    pub client: i64,
    /// When it expires unless settled or extended (`clock::format_dt`).
    pub expires_at: String,
    /// The reservation, serialised by the charging layer.
    pub body: String,
}

/// A ledger entry to write.
#[derive(Debug, Clone)]
pub struct TransactionRow<'a> {
    /// Client.
    pub id_clients: i64,
    /// payment, charge, call, package_fee, refund, adjustment.
    pub kind: &'a str,
    /// Signed amount in the client's currency (+ raises the balance).
    pub amount: Decimal,
    /// The client's currency.
    pub id_currencies: i64,
    /// The amount as given, when it was in another currency.
    pub orig_amount: Option<Decimal>,
    /// That other currency.
    pub orig_id_currencies: Option<i64>,
    /// The exchange rate used.
    pub exchange_rate: Option<Decimal>,
    /// Balance after this entry.
    pub balance_after: Decimal,
    /// When.
    pub dt: &'a str,
    /// Free text.
    pub notes: Option<&'a str>,
    /// User id (0 = system).
    pub author: i64,
    /// Caller's idempotency key.
    pub idempotency_key: Option<&'a str>,
    /// Hash of the request content, to tell a replay from a conflict.
    pub request_hash: Option<&'a str>,
    /// What the entry is for (e.g. `xdr:12`, `subscription:3:2026-02`).
    pub reference: Option<&'a str>,
}

/// Kind of transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TxKind {
    /// Read only.
    Read,
    /// Read and write (`BEGIN IMMEDIATE`).
    Write,
}

/// A storage backend.
pub trait Store: Send + Sync {
    /// Run `f` in one transaction: committed if it returns `Ok`, rolled back otherwise. After a
    /// commit, `on_commit` runs while no other transaction can start, so in-memory state it
    /// updates follows the exact commit order.
    fn run(
        &self,
        kind: TxKind,
        f: &mut dyn FnMut(&mut dyn StoreTx) -> Result<()>,
        on_commit: &mut dyn FnMut(),
    ) -> Result<()>;

    /// Can this database be opened again once this store closes (a file, a server)? An
    /// in-memory SQLite database cannot: what is kept only for the next open (the rows of
    /// open reservations) is not written to it.
    fn reopens(&self) -> bool {
        true
    }
}

/// Every row `q` matches (its order, offset and limit aside), in ascending id order, read in
/// keyset pages of `limits::file_page_rows` within the caller's transaction and handed to
/// `each` one at a time: a whole table is never held in memory at once.
pub fn each_row(
    tx: &dyn StoreTx,
    e: &EntityDef,
    q: &ListQuery,
    mut each: impl FnMut(Record) -> Result<()>,
) -> Result<()> {
    let mut q = q.clone();
    q.limit = crate::limits::file_page_rows;
    q.offset = 0;
    let mut after = 0i64;
    loop {
        let page = tx.list_page(e, &q, after, &[])?;
        let full = page.len() as u64 >= q.limit;
        let mut last = None;
        for rec in page {
            last = rec.get("id").and_then(Val::as_int);
            each(rec)?;
        }
        if !full {
            return Ok(());
        }
        after = last.ok_or_else(|| {
            crate::Error::Internal(format!("a {} row was read without its id", e.table))
        })?;
    }
}

/// Run `f` in a transaction of `kind` and return its value.
pub fn run<R>(
    store: &dyn Store,
    kind: TxKind,
    f: impl FnOnce(&mut dyn StoreTx) -> Result<R>,
) -> Result<R> {
    run_then(store, kind, f, |_| {})
}

/// Run `f` in a transaction, then `on_commit` with its value once it has committed (still
/// before any other transaction can start).
pub fn run_then<R>(
    store: &dyn Store,
    kind: TxKind,
    f: impl FnOnce(&mut dyn StoreTx) -> Result<R>,
    on_commit: impl FnOnce(&R),
) -> Result<R> {
    let mut f = Some(f);
    let mut on_commit = Some(on_commit);
    let out = std::cell::RefCell::new(None);
    store.run(
        kind,
        &mut |tx| {
            let f = f
                .take()
                .ok_or_else(|| crate::Error::Internal("transaction body ran twice".into()))?;
            *out.borrow_mut() = Some(f(tx)?);
            Ok(())
        },
        &mut || {
            if let (Some(c), Some(v)) = (on_commit.take(), out.borrow().as_ref()) {
                c(v);
            }
        },
    )?;
    out.into_inner()
        .ok_or_else(|| crate::Error::Internal("transaction produced no value".into()))
}

/// Helpers for tests that need to shape a database file by hand.
#[doc(hidden)]
pub mod testing {
    /// Record `version` as applied in the database at `path` (simulates a newer Tollgate).
    pub fn set_schema_version(path: &str, version: i64) -> crate::Result<()> {
        let conn = rusqlite::Connection::open(path)?;
        conn.execute(
            "INSERT INTO schema_migrations (version, name) VALUES (?1, 'from the future')",
            [version],
        )?;
        Ok(())
    }
}
