//! The embedded SQLite store: one connection owned by one engine, WAL journal, exclusive
//! locking so a second engine (in this process or another) gets "in use" instead of
//! corrupting anything.

use super::migrations::{APPLICATION_ID, MIGRATIONS, SCHEMA_VERSION};
use super::{
    AuditRow, ListQuery, Range, SessionRow, Store, StoreTx, TransactionRow, TxKind, UserAuth,
};
use crate::error::{Error, Result, StoreError};
use crate::model::{EntityDef, FieldKind, Record, Tenancy, Val};
use parking_lot::Mutex;
use rusqlite::types::{ToSqlOutput, ValueRef};
use rusqlite::{
    params, Connection, ErrorCode as SqlCode, OpenFlags, OptionalExtension, ToSql,
    TransactionBehavior,
};
use rust_decimal::Decimal;
use std::fmt::Write as _;
use std::path::Path;
use std::str::FromStr;

/// SQLite-backed [`Store`].
pub struct SqliteStore {
    conn: Mutex<Connection>,
}

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStore").finish_non_exhaustive()
    }
}

fn map_open_error(path: &str, e: rusqlite::Error) -> Error {
    match e.sqlite_error_code() {
        Some(SqlCode::DatabaseBusy) | Some(SqlCode::DatabaseLocked) => {
            StoreError::InUse(path.to_string()).into()
        }
        Some(SqlCode::NotADatabase) => {
            StoreError::NotTollgate(format!("{path} is not an SQLite database")).into()
        }
        _ => StoreError::Io(format!("{path}: {e}")).into(),
    }
}

impl SqliteStore {
    /// Create a new database at `path` (or `:memory:`). Fails if a file is already there.
    pub fn create(path: &str) -> Result<SqliteStore> {
        if path != ":memory:" && Path::new(path).exists() {
            return Err(StoreError::Exists(path.to_string()).into());
        }
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let conn = Connection::open_with_flags(path, flags).map_err(|e| map_open_error(path, e))?;
        let store = SqliteStore::configure(path, conn)?;
        store.migrate(path, true)?;
        Ok(store)
    }

    /// Open an existing database at `path`, applying pending migrations.
    pub fn open(path: &str) -> Result<SqliteStore> {
        if path == ":memory:" {
            return Err(StoreError::NotFound(
                "an in-memory database cannot be reopened; use create".into(),
            )
            .into());
        }
        if !Path::new(path).is_file() {
            return Err(StoreError::NotFound(path.to_string()).into());
        }
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let conn = Connection::open_with_flags(path, flags).map_err(|e| map_open_error(path, e))?;
        let store = SqliteStore::configure(path, conn)?;
        store.migrate(path, false)?;
        Ok(store)
    }

    fn configure(path: &str, conn: Connection) -> Result<SqliteStore> {
        let e = |err| map_open_error(path, err);
        conn.busy_timeout(std::time::Duration::ZERO).map_err(e)?;
        // Exclusive locking: the first write takes the file lock and keeps it until close, so
        // no second engine can share the file. It also keeps the WAL index in heap memory.
        conn.pragma_update(None, "locking_mode", "EXCLUSIVE")
            .map_err(e)?;
        let mode: String = conn
            .query_row("PRAGMA journal_mode=WAL", [], |r| r.get(0))
            .map_err(e)?;
        if path != ":memory:" && !mode.eq_ignore_ascii_case("wal") {
            return Err(StoreError::Io(format!(
                "{path}: could not enable WAL (journal_mode={mode})"
            ))
            .into());
        }
        conn.pragma_update(None, "synchronous", "FULL").map_err(e)?;
        conn.pragma_update(None, "foreign_keys", "ON").map_err(e)?;
        // Take the exclusive lock now rather than at the first write.
        conn.execute_batch("BEGIN IMMEDIATE; COMMIT;").map_err(e)?;
        Ok(SqliteStore {
            conn: Mutex::new(conn),
        })
    }

    fn migrate(&self, path: &str, fresh: bool) -> Result<()> {
        let mut conn = self.conn.lock();
        let app_id: i64 = conn
            .query_row("PRAGMA application_id", [], |r| r.get(0))
            .map_err(|e| map_open_error(path, e))?;
        if !fresh && app_id != APPLICATION_ID {
            return Err(StoreError::NotTollgate(format!(
                "{path} is an SQLite database of another application"
            ))
            .into());
        }
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        tx.execute_batch(
            "CREATE TABLE IF NOT EXISTS schema_migrations (
                version    INTEGER PRIMARY KEY,
                name       TEXT NOT NULL,
                applied_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%d %H:%M:%S+00', 'now'))
            )",
        )?;
        let current: i64 = tx.query_row(
            "SELECT COALESCE(MAX(version), 0) FROM schema_migrations",
            [],
            |r| r.get(0),
        )?;
        if current > SCHEMA_VERSION {
            return Err(StoreError::SchemaNewer {
                found: current,
                supported: SCHEMA_VERSION,
            }
            .into());
        }
        for m in MIGRATIONS.iter().filter(|m| m.version > current) {
            tx.execute_batch(m.sql).map_err(|e| {
                StoreError::Io(format!("migration {} ({}): {e}", m.version, m.name))
            })?;
            tx.execute(
                "INSERT INTO schema_migrations (version, name) VALUES (?1, ?2)",
                params![m.version, m.name],
            )?;
        }
        if fresh {
            tx.pragma_update(None, "application_id", APPLICATION_ID)?;
        }
        tx.commit()?;
        Ok(())
    }
}

impl Store for SqliteStore {
    fn run(
        &self,
        kind: TxKind,
        f: &mut dyn FnMut(&mut dyn StoreTx) -> Result<()>,
        on_commit: &mut dyn FnMut(),
    ) -> Result<()> {
        let mut conn = self.conn.lock();
        let behavior = match kind {
            TxKind::Read => TransactionBehavior::Deferred,
            TxKind::Write => TransactionBehavior::Immediate,
        };
        let tx = conn.transaction_with_behavior(behavior)?;
        let mut view = SqliteTx::new(&tx);
        f(&mut view)?;
        tx.commit()?;
        on_commit();
        Ok(())
    }
}

struct SqliteTx<'a> {
    conn: &'a Connection,
    /// Balance changes posted in this transaction (see `StoreTx::postings`).
    postings: Vec<(i64, Decimal)>,
    /// `postings.len()` when each open savepoint began.
    marks: Vec<usize>,
}

impl<'a> SqliteTx<'a> {
    fn new(conn: &'a Connection) -> SqliteTx<'a> {
        SqliteTx {
            conn,
            postings: Vec::new(),
            marks: Vec::new(),
        }
    }
}

struct SqlVal<'a>(&'a Val);

impl ToSql for SqlVal<'_> {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(match self.0 {
            Val::Null => ToSqlOutput::Borrowed(ValueRef::Null),
            Val::Int(i) => ToSqlOutput::Owned(rusqlite::types::Value::Integer(*i)),
            Val::Text(s) => ToSqlOutput::Borrowed(ValueRef::Text(s.as_bytes())),
            Val::Dec(d) => ToSqlOutput::Owned(rusqlite::types::Value::Text(d.to_string())),
            Val::Bool(b) => ToSqlOutput::Owned(rusqlite::types::Value::Integer(i64::from(*b))),
        })
    }
}

fn read_val(kind: FieldKind, v: ValueRef<'_>) -> rusqlite::Result<Val> {
    let bad = |what: &str| rusqlite::Error::InvalidColumnType(0, what.to_string(), v.data_type());
    Ok(match (kind, v) {
        (_, ValueRef::Null) => Val::Null,
        (FieldKind::Money { .. }, ValueRef::Text(t)) => {
            let s = std::str::from_utf8(t).map_err(|_| bad("utf8"))?;
            Val::Dec(Decimal::from_str(s).map_err(|_| bad("decimal"))?)
        }
        (FieldKind::Bool, ValueRef::Integer(i)) => Val::Bool(i != 0),
        (_, ValueRef::Integer(i)) => Val::Int(i),
        (_, ValueRef::Text(t)) => Val::Text(String::from_utf8_lossy(t).into_owned()),
        (_, ValueRef::Real(_)) | (_, ValueRef::Blob(_)) => {
            return Err(bad("unexpected storage class"))
        }
    })
}

fn column_list(e: &EntityDef) -> String {
    e.columns().map(|f| f.name).collect::<Vec<_>>().join(", ")
}

fn row_to_record(e: &EntityDef, row: &rusqlite::Row<'_>) -> rusqlite::Result<Record> {
    let mut rec = Record::new();
    for (i, f) in e.columns().enumerate() {
        rec.insert(f.name, read_val(f.kind, row.get_ref(i)?)?);
    }
    Ok(rec)
}

const SCOPE_CTE: &str = "WITH RECURSIVE scope(id) AS (SELECT ?1 UNION ALL SELECT c.id FROM companies c JOIN scope s ON c.parent_id = s.id) ";

/// The WHERE condition that keeps rows of `e` inside the scope CTE, or `None` for global rows.
fn tenancy_condition(e: &EntityDef) -> Option<String> {
    match e.tenancy {
        Tenancy::SelfCompany => Some("id IN (SELECT id FROM scope)".into()),
        Tenancy::Column(c) => Some(format!("{c} IN (SELECT id FROM scope)")),
        Tenancy::Via { fk, table, column } => Some(format!(
            "{fk} IN (SELECT id FROM {table} WHERE {column} IN (SELECT id FROM scope))"
        )),
        Tenancy::Global => None,
    }
}

/// The `WHERE` of a list: scope, equality filters, name search, ranges and (for keyset
/// pages) `id > after`. Returns the CTE prefix, the clause and its arguments.
fn list_where(
    e: &EntityDef,
    q: &ListQuery,
    ranges: &[Range],
    after_id: Option<i64>,
) -> Result<(&'static str, String, Vec<Val>)> {
    let mut conds: Vec<String> = Vec::new();
    let mut args: Vec<Val> = Vec::new();
    let mut prefix = "";
    if let (Some(scope), Some(c)) = (q.scope, tenancy_condition(e)) {
        prefix = SCOPE_CTE;
        args.push(Val::Int(scope));
        conds.push(c);
    }
    for (col, val) in &q.filters {
        check_ident(col)?;
        args.push(val.clone());
        conds.push(format!("{col} = ?{}", args.len()));
    }
    if let Some(s) = &q.search {
        let escaped = s
            .replace('\\', "\\\\")
            .replace('%', "\\%")
            .replace('_', "\\_");
        args.push(Val::Text(format!("%{escaped}%")));
        conds.push(format!("name LIKE ?{} ESCAPE '\\'", args.len()));
    }
    for r in ranges {
        check_ident(r.column)?;
        if let Some(v) = &r.from {
            args.push(v.clone());
            conds.push(format!("{} >= ?{}", r.column, args.len()));
        }
        if let Some(v) = &r.till {
            args.push(v.clone());
            conds.push(format!("{} < ?{}", r.column, args.len()));
        }
    }
    if let Some(after) = after_id {
        args.push(Val::Int(after));
        conds.push(format!("id > ?{}", args.len()));
    }
    let where_sql = if conds.is_empty() {
        String::new()
    } else {
        format!(" WHERE {}", conds.join(" AND "))
    };
    Ok((prefix, where_sql, args))
}

fn check_ident(name: &str) -> Result<()> {
    // Table and column names come from static entity definitions; this guards against a
    // programming mistake ever letting caller text into SQL.
    if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        return Err(Error::Internal(format!("bad SQL identifier {name:?}")));
    }
    Ok(())
}

fn map_write_error(e: rusqlite::Error) -> Error {
    if let Some(SqlCode::ConstraintViolation) = e.sqlite_error_code() {
        let msg = e.to_string();
        if msg.contains("UNIQUE") {
            let field = msg.rsplit('.').next().unwrap_or("value").to_string();
            return crate::error::ValidationError::Duplicate {
                field,
                value: "the given value".into(),
            }
            .into();
        }
        if msg.contains("FOREIGN KEY") {
            return Error::InUse {
                what: "object".into(),
                reason: "other records refer to it".into(),
            };
        }
    }
    e.into()
}

impl StoreTx for SqliteTx<'_> {
    fn insert(&mut self, e: &EntityDef, rec: &Record) -> Result<i64> {
        check_ident(e.table)?;
        let cols: Vec<&str> = rec.keys().copied().collect();
        for c in &cols {
            check_ident(c)?;
        }
        let placeholders = (1..=cols.len())
            .map(|i| format!("?{i}"))
            .collect::<Vec<_>>()
            .join(", ");
        let sql = format!(
            "INSERT INTO {} ({}) VALUES ({})",
            e.table,
            cols.join(", "),
            placeholders
        );
        let vals: Vec<SqlVal<'_>> = rec.values().map(SqlVal).collect();
        let args: Vec<&dyn ToSql> = vals.iter().map(|v| v as &dyn ToSql).collect();
        self.conn
            .prepare_cached(&sql)?
            .execute(args.as_slice())
            .map_err(map_write_error)?;
        Ok(self.conn.last_insert_rowid())
    }

    fn get(&self, e: &EntityDef, id: i64, scope: Option<i64>) -> Result<Option<Record>> {
        check_ident(e.table)?;
        let cond = scope.and_then(|_| tenancy_condition(e));
        let sql = match &cond {
            Some(c) => format!(
                "{SCOPE_CTE}SELECT {} FROM {} WHERE id = ?2 AND {c}",
                column_list(e),
                e.table
            ),
            None => format!("SELECT {} FROM {} WHERE id = ?1", column_list(e), e.table),
        };
        let mut stmt = self.conn.prepare_cached(&sql)?;
        let rec = match (&cond, scope) {
            (Some(_), Some(s)) => stmt
                .query_row(params![s, id], |r| row_to_record(e, r))
                .optional()?,
            _ => stmt
                .query_row(params![id], |r| row_to_record(e, r))
                .optional()?,
        };
        Ok(rec)
    }

    fn update(&mut self, e: &EntityDef, id: i64, changes: &Record) -> Result<()> {
        if changes.is_empty() {
            return Ok(());
        }
        check_ident(e.table)?;
        let mut sets = Vec::new();
        for (i, c) in changes.keys().enumerate() {
            check_ident(c)?;
            sets.push(format!("{c} = ?{}", i + 2));
        }
        let sql = format!("UPDATE {} SET {} WHERE id = ?1", e.table, sets.join(", "));
        let vals: Vec<SqlVal<'_>> = changes.values().map(SqlVal).collect();
        let mut args: Vec<&dyn ToSql> = vec![&id];
        args.extend(vals.iter().map(|v| v as &dyn ToSql));
        self.conn
            .prepare_cached(&sql)?
            .execute(args.as_slice())
            .map_err(map_write_error)?;
        Ok(())
    }

    fn delete(&mut self, e: &EntityDef, id: i64) -> Result<()> {
        check_ident(e.table)?;
        let sql = format!("DELETE FROM {} WHERE id = ?1", e.table);
        self.conn
            .prepare_cached(&sql)?
            .execute(params![id])
            .map_err(map_write_error)?;
        Ok(())
    }

    fn list(&self, e: &EntityDef, q: &ListQuery) -> Result<(Vec<Record>, u64)> {
        check_ident(e.table)?;
        check_ident(q.order)?;
        let (prefix, where_sql, args) = list_where(e, q, &[], None)?;
        let sql_args: Vec<SqlVal<'_>> = args.iter().map(SqlVal).collect();
        let arg_refs: Vec<&dyn ToSql> = sql_args.iter().map(|v| v as &dyn ToSql).collect();

        let count_sql = format!("{prefix}SELECT COUNT(*) FROM {}{where_sql}", e.table);
        let total: i64 = self
            .conn
            .prepare_cached(&count_sql)?
            .query_row(arg_refs.as_slice(), |r| r.get(0))?;

        let dir = if q.descending { "DESC" } else { "ASC" };
        let mut sql = format!(
            "{prefix}SELECT {} FROM {}{where_sql} ORDER BY {} {dir}",
            column_list(e),
            e.table,
            q.order
        );
        if q.order != "id" {
            let _ = write!(sql, ", id {dir}");
        }
        let _ = write!(sql, " LIMIT {} OFFSET {}", q.limit, q.offset);
        let mut stmt = self.conn.prepare_cached(&sql)?;
        let rows = stmt
            .query_map(arg_refs.as_slice(), |r| row_to_record(e, r))?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok((rows, u64::try_from(total).unwrap_or(0)))
    }

    fn list_page(
        &self,
        e: &EntityDef,
        q: &ListQuery,
        after_id: i64,
        ranges: &[Range],
    ) -> Result<Vec<Record>> {
        check_ident(e.table)?;
        let (prefix, where_sql, args) = list_where(e, q, ranges, Some(after_id))?;
        let sql_args: Vec<SqlVal<'_>> = args.iter().map(SqlVal).collect();
        let arg_refs: Vec<&dyn ToSql> = sql_args.iter().map(|v| v as &dyn ToSql).collect();
        let sql = format!(
            "{prefix}SELECT {} FROM {}{where_sql} ORDER BY id ASC LIMIT {}",
            column_list(e),
            e.table,
            q.limit.min(i64::MAX as u64)
        );
        let mut stmt = self.conn.prepare_cached(&sql)?;
        let rows = stmt
            .query_map(arg_refs.as_slice(), |r| row_to_record(e, r))?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(rows)
    }

    fn exists_other(
        &self,
        table: &str,
        column: &str,
        value: &Val,
        except_id: Option<i64>,
    ) -> Result<bool> {
        check_ident(table)?;
        check_ident(column)?;
        let sql = format!("SELECT EXISTS(SELECT 1 FROM {table} WHERE {column} = ?1 AND id != ?2)");
        let found: bool = self
            .conn
            .prepare_cached(&sql)?
            .query_row(params![SqlVal(value), except_id.unwrap_or(-1)], |r| {
                r.get(0)
            })?;
        Ok(found)
    }

    fn count_refs(&self, table: &str, column: &str, id: i64) -> Result<u64> {
        check_ident(table)?;
        check_ident(column)?;
        let sql = format!("SELECT COUNT(*) FROM {table} WHERE {column} = ?1");
        let n: i64 = self
            .conn
            .prepare_cached(&sql)?
            .query_row(params![id], |r| r.get(0))?;
        Ok(u64::try_from(n).unwrap_or(0))
    }

    fn company_ancestors(&self, id: i64) -> Result<Vec<i64>> {
        let mut stmt = self.conn.prepare_cached(
            "WITH RECURSIVE up(id, parent_id, depth) AS (
                SELECT id, parent_id, 0 FROM companies WHERE id = ?1
                UNION ALL SELECT c.id, c.parent_id, up.depth + 1 FROM companies c JOIN up ON c.id = up.parent_id
                WHERE up.depth < 64)
             SELECT id FROM up ORDER BY depth",
        )?;
        let ids = stmt
            .query_map(params![id], |r| r.get(0))?
            .collect::<rusqlite::Result<Vec<i64>>>()?;
        Ok(ids)
    }

    fn user_by_login(&self, login: &str) -> Result<Option<UserAuth>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT id, login, password, id_roles, id_companies, status, failed_logins, locked_until
             FROM users WHERE login = ?1",
        )?;
        Ok(stmt.query_row(params![login], user_row).optional()?)
    }

    fn user_by_id(&self, id: i64) -> Result<Option<UserAuth>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT id, login, password, id_roles, id_companies, status, failed_logins, locked_until
             FROM users WHERE id = ?1",
        )?;
        Ok(stmt.query_row(params![id], user_row).optional()?)
    }

    fn insert_user(
        &mut self,
        login: &str,
        password_hash: &str,
        id_roles: i64,
        id_companies: i64,
        c_dt: &str,
    ) -> Result<i64> {
        self.conn
            .prepare_cached("INSERT INTO users (login, password, id_roles, id_companies, c_dt) VALUES (?1, ?2, ?3, ?4, ?5)")?
            .execute(params![login, password_hash, id_roles, id_companies, c_dt])
            .map_err(map_write_error)?;
        Ok(self.conn.last_insert_rowid())
    }

    fn login_attempt(&mut self, id_users: i64, now: &str) -> Result<(i64, bool)> {
        // One statement, so concurrent attempts each get their own number.
        let (n, locked): (i64, bool) = self
            .conn
            .prepare_cached(
                "UPDATE users SET
                    failed_logins = CASE
                        WHEN locked_until IS NOT NULL AND locked_until <= ?2 THEN 1
                        WHEN locked_until IS NOT NULL THEN failed_logins
                        ELSE failed_logins + 1 END,
                    locked_until = CASE
                        WHEN locked_until IS NOT NULL AND locked_until <= ?2 THEN NULL
                        ELSE locked_until END
                 WHERE id = ?1 RETURNING failed_logins, locked_until IS NOT NULL",
            )?
            .query_row(params![id_users, now], |r| Ok((r.get(0)?, r.get(1)?)))?;
        Ok((n, locked))
    }

    fn login_failed(
        &mut self,
        id_users: i64,
        attempt: i64,
        lock_after: i64,
        locked_until: &str,
    ) -> Result<()> {
        if attempt >= lock_after {
            self.conn
                .prepare_cached("UPDATE users SET locked_until = ?2 WHERE id = ?1")?
                .execute(params![id_users, locked_until])?;
        }
        Ok(())
    }

    fn login_succeeded(&mut self, id_users: i64, now: &str) -> Result<bool> {
        let n = self
            .conn
            .prepare_cached(
                "UPDATE users SET failed_logins = 0, locked_until = NULL
                 WHERE id = ?1 AND (locked_until IS NULL OR locked_until <= ?2)",
            )?
            .execute(params![id_users, now])?;
        Ok(n == 1)
    }

    fn exchange_rate(
        &self,
        from: i64,
        to: i64,
        at: &str,
    ) -> Result<Option<(i64, Decimal, String)>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT id, rate, effective_from FROM exchange_rates
             WHERE id_currencies = ?1 AND id_currencies_to = ?2 AND effective_from <= ?3
             ORDER BY effective_from DESC, id DESC LIMIT 1",
        )?;
        let row = stmt
            .query_row(params![from, to, at], |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                ))
            })
            .optional()?;
        match row {
            None => Ok(None),
            Some((id, rate, dt)) => {
                let rate = Decimal::from_str(&rate)
                    .map_err(|e| StoreError::Io(format!("exchange rate {id}: {e}")))?;
                Ok(Some((id, rate, dt)))
            }
        }
    }

    fn role_permissions(&self, id_roles: i64) -> Result<Option<String>> {
        let mut stmt = self
            .conn
            .prepare_cached("SELECT permissions FROM roles WHERE id = ?1")?;
        Ok(stmt.query_row(params![id_roles], |r| r.get(0)).optional()?)
    }

    fn insert_session(
        &mut self,
        token_hash: &str,
        id_users: i64,
        now: i64,
        expires_at: i64,
    ) -> Result<i64> {
        self.conn
            .prepare_cached(
                "INSERT INTO sessions (token_hash, id_users, created_at, last_seen, expires_at) VALUES (?1, ?2, ?3, ?3, ?4)",
            )?
            .execute(params![token_hash, id_users, now, expires_at])?;
        Ok(self.conn.last_insert_rowid())
    }

    fn session_by_hash(&self, token_hash: &str) -> Result<Option<SessionRow>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT id, id_users, created_at, last_seen, expires_at, revoked FROM sessions WHERE token_hash = ?1",
        )?;
        Ok(stmt
            .query_row(params![token_hash], |r| {
                Ok(SessionRow {
                    id: r.get(0)?,
                    id_users: r.get(1)?,
                    created_at: r.get(2)?,
                    last_seen: r.get(3)?,
                    expires_at: r.get(4)?,
                    revoked: r.get::<_, i64>(5)? != 0,
                })
            })
            .optional()?)
    }

    fn touch_session(&mut self, id: i64, now: i64) -> Result<()> {
        self.conn
            .prepare_cached("UPDATE sessions SET last_seen = ?2 WHERE id = ?1")?
            .execute(params![id, now])?;
        Ok(())
    }

    fn revoke_session(&mut self, id: i64) -> Result<()> {
        self.conn
            .prepare_cached("UPDATE sessions SET revoked = 1 WHERE id = ?1")?
            .execute(params![id])?;
        Ok(())
    }

    fn prune_sessions(
        &mut self,
        id_users: i64,
        now: i64,
        idle_seconds: i64,
        keep: usize,
    ) -> Result<()> {
        self.conn
            .prepare_cached(
                "DELETE FROM sessions WHERE id_users = ?1 AND (revoked = 1 OR expires_at <= ?2 OR last_seen + ?3 <= ?2)",
            )?
            .execute(params![id_users, now, idle_seconds])?;
        let keep = i64::try_from(keep).unwrap_or(i64::MAX);
        self.conn
            .prepare_cached(
                "DELETE FROM sessions WHERE id_users = ?1 AND id NOT IN
                 (SELECT id FROM sessions WHERE id_users = ?1 ORDER BY id DESC LIMIT ?2)",
            )?
            .execute(params![id_users, keep])?;
        Ok(())
    }

    fn set_session_jti(&mut self, id: i64, jti: &str) -> Result<()> {
        self.conn
            .prepare_cached("UPDATE sessions SET jti = ?2 WHERE id = ?1")?
            .execute(params![id, jti])?;
        Ok(())
    }

    fn session_by_id(&self, id: i64) -> Result<Option<(SessionRow, Option<String>)>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT id, id_users, created_at, last_seen, expires_at, revoked, jti FROM sessions WHERE id = ?1",
        )?;
        Ok(stmt
            .query_row(params![id], |r| Ok((session_row(r)?, r.get(6)?)))
            .optional()?)
    }

    fn session_by_jti(&self, jti: &str) -> Result<Option<SessionRow>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT id, id_users, created_at, last_seen, expires_at, revoked FROM sessions WHERE jti = ?1",
        )?;
        Ok(stmt.query_row(params![jti], session_row).optional()?)
    }

    fn insert_refresh_token(
        &mut self,
        id_sessions: i64,
        token_hash: &str,
        now: i64,
    ) -> Result<i64> {
        self.conn
            .prepare_cached(
                "INSERT INTO refresh_tokens (id_sessions, token_hash, created_at) VALUES (?1, ?2, ?3)",
            )?
            .execute(params![id_sessions, token_hash, now])?;
        Ok(self.conn.last_insert_rowid())
    }

    fn refresh_token_by_hash(&self, token_hash: &str) -> Result<Option<(i64, i64, bool)>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT id, id_sessions, used_at IS NOT NULL FROM refresh_tokens WHERE token_hash = ?1",
        )?;
        Ok(stmt
            .query_row(params![token_hash], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?))
            })
            .optional()?)
    }

    fn spend_refresh_token(&mut self, id: i64, now: i64) -> Result<bool> {
        let n = self
            .conn
            .prepare_cached(
                "UPDATE refresh_tokens SET used_at = ?2 WHERE id = ?1 AND used_at IS NULL",
            )?
            .execute(params![id, now])?;
        Ok(n == 1)
    }

    fn revoke_user_sessions(&mut self, id_users: i64, keep: Option<i64>) -> Result<()> {
        self.conn
            .prepare_cached("UPDATE sessions SET revoked = 1 WHERE id_users = ?1 AND id != ?2")?
            .execute(params![id_users, keep.unwrap_or(-1)])?;
        Ok(())
    }

    fn delete_user_sessions(&mut self, id_users: i64) -> Result<()> {
        self.conn
            .prepare_cached("DELETE FROM sessions WHERE id_users = ?1")?
            .execute(params![id_users])?;
        Ok(())
    }

    fn custom_values(&self, object_id: i64) -> Result<Vec<(i64, String)>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT id_custom_fields, value FROM custom_field_values WHERE object_id = ?1",
        )?;
        let rows = stmt
            .query_map(params![object_id], |r| Ok((r.get(0)?, r.get(1)?)))?
            .collect::<rusqlite::Result<_>>()?;
        Ok(rows)
    }

    fn set_custom_value(
        &mut self,
        id_custom_fields: i64,
        object_id: i64,
        value: Option<&str>,
    ) -> Result<()> {
        match value {
            Some(v) => self
                .conn
                .prepare_cached(
                    "INSERT INTO custom_field_values (id_custom_fields, object_id, value) VALUES (?1, ?2, ?3)
                     ON CONFLICT (id_custom_fields, object_id) DO UPDATE SET value = excluded.value",
                )?
                .execute(params![id_custom_fields, object_id, v])?,
            None => self
                .conn
                .prepare_cached("DELETE FROM custom_field_values WHERE id_custom_fields = ?1 AND object_id = ?2")?
                .execute(params![id_custom_fields, object_id])?,
        };
        Ok(())
    }

    fn audit(&mut self, row: &AuditRow<'_>) -> Result<()> {
        self.conn
            .prepare_cached(
                "INSERT INTO audit (dt, id_users, login, id_sessions, id_companies, method, objects, outcome)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            )?
            .execute(params![
                row.dt,
                row.id_users,
                row.login,
                row.id_sessions,
                row.id_companies,
                row.method,
                row.objects,
                row.outcome
            ])?;
        Ok(())
    }

    fn meta(&self, key: &str) -> Result<Option<String>> {
        let mut stmt = self
            .conn
            .prepare_cached("SELECT value FROM meta WHERE key = ?1")?;
        Ok(stmt.query_row(params![key], |r| r.get(0)).optional()?)
    }

    fn set_meta(&mut self, key: &str, value: &str) -> Result<()> {
        self.conn
            .prepare_cached("INSERT INTO meta (key, value) VALUES (?1, ?2) ON CONFLICT (key) DO UPDATE SET value = excluded.value")?
            .execute(params![key, value])?;
        Ok(())
    }

    fn client_balance(&self, id_clients: i64) -> Result<Option<(Decimal, i64)>> {
        let mut stmt = self
            .conn
            .prepare_cached("SELECT balance, id_currencies FROM clients WHERE id = ?1")?;
        let row = stmt
            .query_row(params![id_clients], |r| {
                Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?))
            })
            .optional()?;
        match row {
            None => Ok(None),
            Some((b, cur)) => Ok(Some((parse_stored_decimal("clients.balance", &b)?, cur))),
        }
    }

    fn set_client_balance(&mut self, id_clients: i64, balance: Decimal) -> Result<()> {
        self.conn
            .prepare_cached("UPDATE clients SET balance = ?2 WHERE id = ?1")?
            .execute(params![id_clients, balance.to_string()])?;
        Ok(())
    }

    fn insert_transaction(&mut self, row: &TransactionRow<'_>) -> Result<i64> {
        self.conn
            .prepare_cached(
                "INSERT INTO transactions (id_clients, type, amount, id_currencies, orig_amount, orig_id_currencies,
                    exchange_rate, balance_after, dt, notes, author, idempotency_key, request_hash, reference)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)",
            )?
            .execute(params![
                row.id_clients,
                row.kind,
                row.amount.to_string(),
                row.id_currencies,
                row.orig_amount.map(|d| d.to_string()),
                row.orig_id_currencies,
                row.exchange_rate.map(|d| d.to_string()),
                row.balance_after.to_string(),
                row.dt,
                row.notes,
                row.author,
                row.idempotency_key,
                row.request_hash,
                row.reference,
            ])
            .map_err(map_write_error)?;
        Ok(self.conn.last_insert_rowid())
    }

    fn transaction_by_key(&self, id_clients: i64, key: &str) -> Result<Option<(i64, String)>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT id, COALESCE(request_hash, '') FROM transactions
             WHERE id_clients = ?1 AND idempotency_key = ?2",
        )?;
        Ok(stmt
            .query_row(params![id_clients, key], |r| Ok((r.get(0)?, r.get(1)?)))
            .optional()?)
    }

    fn xdrs_by_call_id(
        &self,
        call_id: &str,
        company: Option<i64>,
        scope: Option<i64>,
    ) -> Result<Vec<(i64, String)>> {
        let rows = match (company, scope) {
            (Some(c), _) => self
                .conn
                .prepare_cached(
                    "SELECT id, request_hash FROM xdrs WHERE id_companies = ?1 AND call_id = ?2",
                )?
                .query_map(params![c, call_id], |r| Ok((r.get(0)?, r.get(1)?)))?
                .collect::<rusqlite::Result<Vec<_>>>()?,
            (None, Some(root)) => self
                .conn
                .prepare_cached(&format!(
                    "{SCOPE_CTE}SELECT id, request_hash FROM xdrs
                     WHERE call_id = ?2 AND id_companies IN (SELECT id FROM scope) LIMIT 2"
                ))?
                .query_map(params![root, call_id], |r| Ok((r.get(0)?, r.get(1)?)))?
                .collect::<rusqlite::Result<Vec<_>>>()?,
            (None, None) => self
                .conn
                .prepare_cached("SELECT id, request_hash FROM xdrs WHERE call_id = ?1 LIMIT 2")?
                .query_map(params![call_id], |r| Ok((r.get(0)?, r.get(1)?)))?
                .collect::<rusqlite::Result<Vec<_>>>()?,
        };
        Ok(rows)
    }

    fn client_company(&self, id_clients: i64) -> Result<Option<i64>> {
        Ok(self
            .conn
            .prepare_cached("SELECT id_companies FROM clients WHERE id = ?1")?
            .query_row(params![id_clients], |r| r.get(0))
            .optional()?)
    }

    fn savepoint(&mut self) -> Result<()> {
        self.conn
            .prepare_cached("SAVEPOINT tollgate_item")?
            .execute([])?;
        self.marks.push(self.postings.len());
        Ok(())
    }

    fn release_savepoint(&mut self) -> Result<()> {
        self.conn
            .prepare_cached("RELEASE tollgate_item")?
            .execute([])?;
        self.marks.pop();
        Ok(())
    }

    fn note_posting(&mut self, client: i64, delta: Decimal) {
        self.postings.push((client, delta));
    }

    fn postings(&self) -> &[(i64, Decimal)] {
        &self.postings
    }

    fn rollback_to_savepoint(&mut self) -> Result<()> {
        // ROLLBACK TO keeps the savepoint open; RELEASE then drops it (with nothing in it).
        self.conn
            .prepare_cached("ROLLBACK TO tollgate_item")?
            .execute([])?;
        self.conn
            .prepare_cached("RELEASE tollgate_item")?
            .execute([])?;
        if let Some(mark) = self.marks.pop() {
            self.postings.truncate(mark);
        }
        Ok(())
    }

    fn volume_usage(
        &self,
        id_subscriptions: i64,
        run: i64,
        period: i64,
    ) -> Result<Vec<(i64, i64)>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT entry, used_seconds FROM subscription_usage \
             WHERE id_subscriptions = ?1 AND run = ?2 AND period = ?3 ORDER BY entry",
        )?;
        let rows = stmt
            .query_map(params![id_subscriptions, run, period], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(rows)
    }

    fn add_volume_usage(
        &mut self,
        id_subscriptions: i64,
        run: i64,
        period: i64,
        entry: i64,
        seconds: i64,
    ) -> Result<()> {
        self.conn
            .prepare_cached(
                "INSERT INTO subscription_usage \
                 (id_subscriptions, run, period, entry, used_seconds) VALUES (?1, ?2, ?3, ?4, ?5) \
                 ON CONFLICT (id_subscriptions, run, period, entry) \
                 DO UPDATE SET used_seconds = used_seconds + excluded.used_seconds",
            )?
            .execute(params![id_subscriptions, run, period, entry, seconds])?;
        Ok(())
    }

    fn ledger_amounts(&self, id_clients: i64) -> Result<Vec<Decimal>> {
        let mut stmt = self
            .conn
            .prepare_cached("SELECT amount FROM transactions WHERE id_clients = ?1 ORDER BY id")?;
        let texts = stmt
            .query_map(params![id_clients], |r| r.get::<_, String>(0))?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        texts
            .iter()
            .map(|t| parse_stored_decimal("transactions.amount", t))
            .collect()
    }
}

fn session_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<SessionRow> {
    Ok(SessionRow {
        id: r.get(0)?,
        id_users: r.get(1)?,
        created_at: r.get(2)?,
        last_seen: r.get(3)?,
        expires_at: r.get(4)?,
        revoked: r.get::<_, i64>(5)? != 0,
    })
}

fn user_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<UserAuth> {
    Ok(UserAuth {
        id: r.get(0)?,
        login: r.get(1)?,
        password_hash: r.get(2)?,
        id_roles: r.get(3)?,
        id_companies: r.get(4)?,
        status: r.get(5)?,
        failed_logins: r.get(6)?,
        locked_until: r.get(7)?,
    })
}

fn parse_stored_decimal(what: &str, text: &str) -> Result<Decimal> {
    Decimal::from_str(text)
        .map_err(|e| StoreError::Io(format!("{what} holds a bad amount {text:?}: {e}")).into())
}
