//! [`StoreTx`] for PostgreSQL: every method's SQL, in the trait's order. The statements are
//! SQLite's (`super::super::sqlite`) in PostgreSQL's dialect: `$n` placeholders, `RETURNING id`
//! instead of the last rowid, `NUMERIC` money sent and read as [`Decimal`].

use super::super::sql::{self, check_ident, tenancy_condition};
use super::super::{
    ApiTokenRow, AuditRow, InvoiceSources, ListQuery, NewApiToken, Range, ReservationRow,
    SessionRow, StoreTx, TransactionRow, UserAuth,
};
use super::map_error;
use super::val::{read_val, PgDec, PgVal};
use crate::error::{Error, Result, ValidationError};
use crate::limits;
use crate::model::{EntityDef, Record, Val};
use postgres::error::SqlState;
use postgres::types::ToSql;
use postgres::{Row, Statement, Transaction};
use rust_decimal::Decimal;
use std::cell::RefCell;
use std::collections::HashMap;
use std::fmt::Write as _;

type Args<'a> = &'a [&'a (dyn ToSql + Sync)];

/// The company subtree of `$1`, as the CTE `scope(id)`.
const SCOPE_CTE: &str = sql::Dialect::POSTGRES.scope_cte;

/// One transaction: what [`StoreTx`] runs on.
pub(super) struct PgTx<'a> {
    target: &'a str,
    tx: RefCell<Transaction<'a>>,
    cache: RefCell<&'a mut HashMap<String, Statement>>,
    /// Balance changes posted in this transaction (see `StoreTx::postings`).
    postings: Vec<(i64, Decimal)>,
    /// `postings.len()` when each open savepoint began.
    marks: Vec<usize>,
}

impl<'a> PgTx<'a> {
    pub(super) fn new(
        target: &'a str,
        tx: Transaction<'a>,
        cache: &'a mut HashMap<String, Statement>,
    ) -> PgTx<'a> {
        PgTx {
            target,
            tx: RefCell::new(tx),
            cache: RefCell::new(cache),
            postings: Vec::new(),
            marks: Vec::new(),
        }
    }

    pub(super) fn into_inner(self) -> Transaction<'a> {
        self.tx.into_inner()
    }

    fn err(&self, e: postgres::Error) -> Error {
        map_error(self.target, e)
    }

    /// A write's error as the caller should see it: a unique violation is a duplicate
    /// value, a foreign-key one means other rows still refer to the row.
    fn write_err(&self, e: postgres::Error) -> Error {
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

    fn stmt(&self, sql: &str) -> Result<Statement> {
        if let Some(s) = self.cache.borrow().get(sql) {
            return Ok(s.clone());
        }
        let s = self.tx.borrow_mut().prepare(sql).map_err(|e| self.err(e))?;
        self.cache.borrow_mut().insert(sql.to_string(), s.clone());
        Ok(s)
    }

    fn rows(&self, sql: &str, args: Args<'_>) -> Result<Vec<Row>> {
        let s = self.stmt(sql)?;
        self.tx
            .borrow_mut()
            .query(&s, args)
            .map_err(|e| self.err(e))
    }

    fn opt(&self, sql: &str, args: Args<'_>) -> Result<Option<Row>> {
        let s = self.stmt(sql)?;
        self.tx
            .borrow_mut()
            .query_opt(&s, args)
            .map_err(|e| self.err(e))
    }

    fn one(&self, sql: &str, args: Args<'_>) -> Result<Row> {
        let s = self.stmt(sql)?;
        self.tx
            .borrow_mut()
            .query_one(&s, args)
            .map_err(|e| self.err(e))
    }

    fn exec(&self, sql: &str, args: Args<'_>) -> Result<u64> {
        let s = self.stmt(sql)?;
        self.tx
            .borrow_mut()
            .execute(&s, args)
            .map_err(|e| self.err(e))
    }

    /// An insert or update whose constraint failures the caller should see as such.
    fn write(&self, sql: &str, args: Args<'_>) -> Result<u64> {
        let s = self.stmt(sql)?;
        self.tx
            .borrow_mut()
            .execute(&s, args)
            .map_err(|e| self.write_err(e))
    }

    fn write_returning(&self, sql: &str, args: Args<'_>) -> Result<i64> {
        let s = self.stmt(sql)?;
        let row = self
            .tx
            .borrow_mut()
            .query_one(&s, args)
            .map_err(|e| self.write_err(e))?;
        self.get(&row, 0)
    }

    fn get<'r, T: postgres::types::FromSql<'r>>(&self, row: &'r Row, idx: usize) -> Result<T> {
        row.try_get(idx).map_err(|e| self.err(e))
    }

    fn batch(&self, sql: &str) -> Result<()> {
        self.tx
            .borrow_mut()
            .batch_execute(sql)
            .map_err(|e| self.err(e))
    }

    fn record(&self, e: &EntityDef, row: &Row) -> Result<Record> {
        let mut rec = Record::new();
        for (i, f) in e.columns().enumerate() {
            rec.insert(f.name, read_val(row, i, f.kind).map_err(|e| self.err(e))?);
        }
        Ok(rec)
    }

    fn records(&self, e: &EntityDef, rows: &[Row]) -> Result<Vec<Record>> {
        rows.iter().map(|r| self.record(e, r)).collect()
    }

    fn session_row(&self, r: &Row) -> Result<SessionRow> {
        Ok(SessionRow {
            id: self.get(r, 0)?,
            id_users: self.get(r, 1)?,
            created_at: self.get(r, 2)?,
            last_seen: self.get(r, 3)?,
            expires_at: self.get(r, 4)?,
            revoked: self.get::<i64>(r, 5)? != 0,
        })
    }

    fn user_row(&self, r: &Row) -> Result<UserAuth> {
        Ok(UserAuth {
            id: self.get(r, 0)?,
            login: self.get(r, 1)?,
            password_hash: self.get(r, 2)?,
            id_roles: self.get(r, 3)?,
            id_companies: self.get(r, 4)?,
            status: self.get(r, 5)?,
            failed_logins: self.get(r, 6)?,
            locked_until: self.get(r, 7)?,
        })
    }

    fn api_token_row(&self, r: &Row) -> Result<ApiTokenRow> {
        Ok(ApiTokenRow {
            id: self.get(r, 0)?,
            id_users: self.get(r, 1)?,
            login: self.get(r, 2)?,
            realm: self.get(r, 3)?,
            name: self.get(r, 4)?,
            hint: self.get(r, 5)?,
            c_dt: self.get(r, 6)?,
            created_by: self.get(r, 7)?,
            revoked_at: self.get(r, 8)?,
            revoked_by: self.get(r, 9)?,
        })
    }

    fn decimals(&self, rows: &[Row]) -> Result<Vec<Decimal>> {
        rows.iter().map(|r| self.get(r, 0)).collect()
    }
}

fn column_list(e: &EntityDef) -> String {
    e.columns().map(|f| f.name).collect::<Vec<_>>().join(", ")
}

fn vals(v: &[Val]) -> Vec<PgVal<'_>> {
    v.iter().map(PgVal).collect()
}

fn refs<'a>(v: &'a [PgVal<'a>]) -> Vec<&'a (dyn ToSql + Sync)> {
    v.iter().map(|v| v as &(dyn ToSql + Sync)).collect()
}

/// A reservation id as a key: ids stay below 2^53.
fn key(id: u64) -> Result<i64> {
    i64::try_from(id)
        .map_err(|_| Error::Internal(format!("reservation id {id} does not fit a key")))
}

const USER_COLUMNS: &str =
    "SELECT id, login, password, id_roles, id_companies, status, failed_logins, locked_until FROM users";

const API_TOKEN_COLUMNS: &str = "t.id, t.id_users, u.login, t.realm, t.name, t.hint, t.c_dt, \
     t.created_by, t.revoked_at, t.revoked_by FROM api_tokens t JOIN users u ON u.id = t.id_users";

/// The xDRs an invoice of `[$2, $3)` takes (see the SQLite store for the rule).
const XDR_WHERE: &str = "x.id_clients = $1 AND x.id_invoices IS NULL AND x.connect_time < $3
     AND (x.connect_time >= $2 OR EXISTS (SELECT 1 FROM invoices i WHERE i.id_clients = x.id_clients
          AND i.status = 'issued' AND i.dt_from <= x.connect_time AND x.connect_time < i.dt_till))";

/// The same for ledger entries other than calls, payments and tax, by `dt` (a re-rated
/// uninvoiced xDR's adjustment is left out, as on SQLite).
const ENTRY_WHERE: &str = "x.id_clients = $1 AND x.id_invoices IS NULL AND x.dt < $3
     AND x.type NOT IN ('call', 'payment', 'tax')
     AND NOT (x.type = 'adjustment'
              AND EXISTS (SELECT 1 FROM xdr_history h WHERE h.id_transactions = x.id))
     AND (x.dt >= $2 OR EXISTS (SELECT 1 FROM invoices i WHERE i.id_clients = x.id_clients
          AND i.status = 'issued' AND i.dt_from <= x.dt AND x.dt < i.dt_till))";

impl StoreTx for PgTx<'_> {
    // --- generic entity rows ---
    fn insert(&mut self, e: &EntityDef, rec: &Record) -> Result<i64> {
        check_ident(e.table)?;
        let cols: Vec<&str> = rec.keys().copied().collect();
        for c in &cols {
            check_ident(c)?;
        }
        let placeholders = (1..=cols.len())
            .map(|i| format!("${i}"))
            .collect::<Vec<_>>()
            .join(", ");
        let sql = format!(
            "INSERT INTO {} ({}) VALUES ({}) RETURNING id",
            e.table,
            cols.join(", "),
            placeholders
        );
        let v: Vec<PgVal<'_>> = rec.values().map(PgVal).collect();
        let id = self.write_returning(&sql, &refs(&v))?;
        if rec.contains_key("id") {
            // An explicit id does not move the identity: move it past the id, so the next
            // row without one does not collide.
            self.one(
                &format!(
                    "SELECT setval(pg_get_serial_sequence('{0}', 'id'), GREATEST((SELECT MAX(id) FROM {0}), 1))",
                    e.table
                ),
                &[],
            )?;
        }
        Ok(id)
    }

    fn get(&self, e: &EntityDef, id: i64, scope: Option<i64>) -> Result<Option<Record>> {
        check_ident(e.table)?;
        let cond = scope.and_then(|_| tenancy_condition(e));
        let row = match (&cond, scope) {
            (Some(c), Some(s)) => self.opt(
                &format!(
                    "{SCOPE_CTE}SELECT {} FROM {} WHERE id = $2 AND {c}",
                    column_list(e),
                    e.table
                ),
                &[&s, &id],
            )?,
            _ => self.opt(
                &format!("SELECT {} FROM {} WHERE id = $1", column_list(e), e.table),
                &[&id],
            )?,
        };
        row.map(|r| self.record(e, &r)).transpose()
    }

    fn update(&mut self, e: &EntityDef, id: i64, changes: &Record) -> Result<()> {
        if changes.is_empty() {
            return Ok(());
        }
        check_ident(e.table)?;
        let mut sets = Vec::new();
        for (i, c) in changes.keys().enumerate() {
            check_ident(c)?;
            sets.push(format!("{c} = ${}", i + 2));
        }
        let sql = format!("UPDATE {} SET {} WHERE id = $1", e.table, sets.join(", "));
        let v: Vec<PgVal<'_>> = changes.values().map(PgVal).collect();
        let mut args: Vec<&(dyn ToSql + Sync)> = vec![&id];
        args.extend(v.iter().map(|v| v as &(dyn ToSql + Sync)));
        self.write(&sql, &args)?;
        Ok(())
    }

    fn delete(&mut self, e: &EntityDef, id: i64) -> Result<()> {
        check_ident(e.table)?;
        self.write(&format!("DELETE FROM {} WHERE id = $1", e.table), &[&id])?;
        Ok(())
    }

    fn list(&self, e: &EntityDef, q: &ListQuery) -> Result<(Vec<Record>, u64)> {
        check_ident(e.table)?;
        check_ident(q.order)?;
        let (prefix, where_sql, args) = sql::list_where(&sql::Dialect::POSTGRES, e, q, &[], None)?;
        let v = vals(&args);
        let a = refs(&v);
        let total: i64 = {
            let row = self.one(
                &format!("{prefix}SELECT COUNT(*) FROM {}{where_sql}", e.table),
                &a,
            )?;
            self.get(&row, 0)?
        };
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
        let _ = write!(
            sql,
            " LIMIT {} OFFSET {}",
            q.limit.min(i64::MAX as u64),
            q.offset.min(i64::MAX as u64)
        );
        let rows = self.rows(&sql, &a)?;
        Ok((self.records(e, &rows)?, u64::try_from(total).unwrap_or(0)))
    }

    fn list_page(
        &self,
        e: &EntityDef,
        q: &ListQuery,
        after_id: i64,
        ranges: &[Range],
    ) -> Result<Vec<Record>> {
        check_ident(e.table)?;
        let (prefix, where_sql, args) =
            sql::list_where(&sql::Dialect::POSTGRES, e, q, ranges, Some(after_id))?;
        let v = vals(&args);
        let sql = format!(
            "{prefix}SELECT {} FROM {}{where_sql} ORDER BY id ASC LIMIT {}",
            column_list(e),
            e.table,
            q.limit.min(i64::MAX as u64)
        );
        let rows = self.rows(&sql, &refs(&v))?;
        self.records(e, &rows)
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
        let row = self.one(
            &format!("SELECT EXISTS(SELECT 1 FROM {table} WHERE {column} = $1 AND id != $2)"),
            &[&PgVal(value), &except_id.unwrap_or(-1)],
        )?;
        self.get(&row, 0)
    }

    fn count_refs(&self, table: &str, column: &str, id: i64) -> Result<u64> {
        check_ident(table)?;
        check_ident(column)?;
        let row = self.one(
            &format!("SELECT COUNT(*) FROM {table} WHERE {column} = $1"),
            &[&id],
        )?;
        Ok(u64::try_from(self.get::<i64>(&row, 0)?).unwrap_or(0))
    }

    // --- companies ---
    fn company_ancestors(&self, id: i64) -> Result<Vec<i64>> {
        let rows = self.rows(
            "WITH RECURSIVE up(id, parent_id, depth) AS (
                SELECT id, parent_id, 0::bigint FROM companies WHERE id = $1
                UNION ALL SELECT c.id, c.parent_id, up.depth + 1 FROM companies c JOIN up ON c.id = up.parent_id
                WHERE up.depth < $2)
             SELECT id FROM up ORDER BY depth",
            &[&id, &limits::company_ancestors_depth_max],
        )?;
        rows.iter().map(|r| self.get(r, 0)).collect()
    }

    // --- users, roles, sessions ---
    fn user_by_login(&self, login: &str) -> Result<Option<UserAuth>> {
        self.opt(&format!("{USER_COLUMNS} WHERE login = $1"), &[&login])?
            .map(|r| self.user_row(&r))
            .transpose()
    }

    fn user_by_id(&self, id: i64) -> Result<Option<UserAuth>> {
        self.opt(&format!("{USER_COLUMNS} WHERE id = $1"), &[&id])?
            .map(|r| self.user_row(&r))
            .transpose()
    }

    fn insert_user(
        &mut self,
        login: &str,
        password_hash: &str,
        id_roles: i64,
        id_companies: i64,
        c_dt: &str,
    ) -> Result<i64> {
        self.write_returning(
            "INSERT INTO users (login, password, id_roles, id_companies, c_dt) VALUES ($1, $2, $3, $4, $5) RETURNING id",
            &[&login, &password_hash, &id_roles, &id_companies, &c_dt],
        )
    }

    fn login_attempt(&mut self, id_users: i64, now: &str) -> Result<(i64, bool)> {
        // One statement, so concurrent attempts each get their own number.
        let row = self.one(
            "UPDATE users SET
                    failed_logins = CASE
                        WHEN locked_until IS NOT NULL AND locked_until <= $2 THEN 1
                        WHEN locked_until IS NOT NULL THEN failed_logins
                        ELSE failed_logins + 1 END,
                    locked_until = CASE
                        WHEN locked_until IS NOT NULL AND locked_until <= $2 THEN NULL
                        ELSE locked_until END
                 WHERE id = $1 RETURNING failed_logins, locked_until IS NOT NULL",
            &[&id_users, &now],
        )?;
        Ok((self.get(&row, 0)?, self.get(&row, 1)?))
    }

    fn login_failed(
        &mut self,
        id_users: i64,
        attempt: i64,
        lock_after: i64,
        locked_until: &str,
    ) -> Result<()> {
        if attempt >= lock_after {
            self.exec(
                "UPDATE users SET locked_until = $2 WHERE id = $1",
                &[&id_users, &locked_until],
            )?;
        }
        Ok(())
    }

    fn login_succeeded(&mut self, id_users: i64, now: &str) -> Result<bool> {
        let n = self.exec(
            "UPDATE users SET failed_logins = 0, locked_until = NULL
                 WHERE id = $1 AND (locked_until IS NULL OR locked_until <= $2)",
            &[&id_users, &now],
        )?;
        Ok(n == 1)
    }

    fn role_permissions(&self, id_roles: i64) -> Result<Option<String>> {
        self.opt("SELECT permissions FROM roles WHERE id = $1", &[&id_roles])?
            .map(|r| self.get(&r, 0))
            .transpose()
    }

    fn insert_session(
        &mut self,
        token_hash: &str,
        id_users: i64,
        now: i64,
        expires_at: i64,
    ) -> Result<i64> {
        self.write_returning(
            "INSERT INTO sessions (token_hash, id_users, created_at, last_seen, expires_at) VALUES ($1, $2, $3, $3, $4) RETURNING id",
            &[&token_hash, &id_users, &now, &expires_at],
        )
    }

    fn session_by_hash(&self, token_hash: &str) -> Result<Option<SessionRow>> {
        self.opt(
            "SELECT id, id_users, created_at, last_seen, expires_at, revoked FROM sessions WHERE token_hash = $1",
            &[&token_hash],
        )?
        .map(|r| self.session_row(&r))
        .transpose()
    }

    fn touch_session(&mut self, id: i64, now: i64) -> Result<()> {
        self.exec(
            "UPDATE sessions SET last_seen = $2 WHERE id = $1",
            &[&id, &now],
        )?;
        Ok(())
    }

    fn revoke_session(&mut self, id: i64) -> Result<()> {
        self.exec("UPDATE sessions SET revoked = 1 WHERE id = $1", &[&id])?;
        Ok(())
    }

    fn prune_sessions(
        &mut self,
        id_users: i64,
        now: i64,
        idle_seconds: i64,
        keep: usize,
    ) -> Result<()> {
        self.exec(
            "DELETE FROM sessions WHERE id_users = $1 AND (revoked = 1 OR expires_at <= $2 OR last_seen + $3 <= $2)",
            &[&id_users, &now, &idle_seconds],
        )?;
        let keep = i64::try_from(keep).unwrap_or(i64::MAX);
        self.exec(
            "DELETE FROM sessions WHERE id_users = $1 AND id NOT IN
                 (SELECT id FROM sessions WHERE id_users = $1 ORDER BY id DESC LIMIT $2)",
            &[&id_users, &keep],
        )?;
        Ok(())
    }

    // --- access tokens (issue 3) ---
    fn set_session_jti(&mut self, id: i64, jti: &str) -> Result<()> {
        self.write("UPDATE sessions SET jti = $2 WHERE id = $1", &[&id, &jti])?;
        Ok(())
    }

    fn session_by_id(&self, id: i64) -> Result<Option<(SessionRow, Option<String>)>> {
        self.opt(
            "SELECT id, id_users, created_at, last_seen, expires_at, revoked, jti FROM sessions WHERE id = $1",
            &[&id],
        )?
        .map(|r| Ok((self.session_row(&r)?, self.get(&r, 6)?)))
        .transpose()
    }

    fn session_by_jti(&self, jti: &str) -> Result<Option<SessionRow>> {
        self.opt(
            "SELECT id, id_users, created_at, last_seen, expires_at, revoked FROM sessions WHERE jti = $1",
            &[&jti],
        )?
        .map(|r| self.session_row(&r))
        .transpose()
    }

    fn insert_refresh_token(
        &mut self,
        id_sessions: i64,
        token_hash: &str,
        now: i64,
    ) -> Result<i64> {
        self.write_returning(
            "INSERT INTO refresh_tokens (id_sessions, token_hash, created_at) VALUES ($1, $2, $3) RETURNING id",
            &[&id_sessions, &token_hash, &now],
        )
    }

    fn refresh_token_by_hash(&self, token_hash: &str) -> Result<Option<(i64, i64, bool)>> {
        self.opt(
            "SELECT id, id_sessions, used_at IS NOT NULL FROM refresh_tokens WHERE token_hash = $1",
            &[&token_hash],
        )?
        .map(|r| Ok((self.get(&r, 0)?, self.get(&r, 1)?, self.get(&r, 2)?)))
        .transpose()
    }

    fn spend_refresh_token(&mut self, id: i64, now: i64) -> Result<bool> {
        let n = self.exec(
            "UPDATE refresh_tokens SET used_at = $2 WHERE id = $1 AND used_at IS NULL",
            &[&id, &now],
        )?;
        Ok(n == 1)
    }

    fn revoke_user_sessions(&mut self, id_users: i64, keep: Option<i64>) -> Result<()> {
        self.exec(
            "UPDATE sessions SET revoked = 1 WHERE id_users = $1 AND id != $2",
            &[&id_users, &keep.unwrap_or(-1)],
        )?;
        Ok(())
    }

    fn delete_user_sessions(&mut self, id_users: i64) -> Result<()> {
        self.exec("DELETE FROM sessions WHERE id_users = $1", &[&id_users])?;
        Ok(())
    }

    // --- API tokens (issue 20) ---
    fn insert_api_token(&mut self, t: &NewApiToken<'_>) -> Result<i64> {
        self.write_returning(
            "INSERT INTO api_tokens (id_users, realm, name, token_hash, hint, c_dt, created_by)
             VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
            &[
                &t.id_users,
                &t.realm,
                &t.name,
                &t.token_hash,
                &t.hint,
                &t.c_dt,
                &t.created_by,
            ],
        )
    }

    fn api_token_by_hash(&self, token_hash: &str) -> Result<Option<ApiTokenRow>> {
        self.opt(
            &format!("SELECT {API_TOKEN_COLUMNS} WHERE t.token_hash = $1"),
            &[&token_hash],
        )?
        .map(|r| self.api_token_row(&r))
        .transpose()
    }

    fn api_token_by_id(&self, id: i64, scope: Option<i64>) -> Result<Option<ApiTokenRow>> {
        let row = match scope {
            None => self.opt(
                &format!("SELECT {API_TOKEN_COLUMNS} WHERE t.id = $1"),
                &[&id],
            )?,
            Some(scope) => self.opt(
                &format!(
                    "{SCOPE_CTE}SELECT {API_TOKEN_COLUMNS} WHERE t.id = $2 \
                     AND u.id_companies IN (SELECT id FROM scope)"
                ),
                &[&scope, &id],
            )?,
        };
        row.map(|r| self.api_token_row(&r)).transpose()
    }

    fn api_tokens(
        &self,
        id_users: Option<i64>,
        scope: Option<i64>,
        limit: u64,
        offset: u64,
    ) -> Result<(Vec<ApiTokenRow>, u64)> {
        // $1 scope root (NULL: everything), $2 user (NULL: every user).
        let filter = "($2::bigint IS NULL OR t.id_users = $2) \
                      AND ($1::bigint IS NULL OR u.id_companies IN (SELECT id FROM scope))";
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let offset = i64::try_from(offset).unwrap_or(i64::MAX);
        let rows = self.rows(
            &format!(
                "{SCOPE_CTE}SELECT {API_TOKEN_COLUMNS} WHERE {filter} ORDER BY t.id DESC LIMIT $3 OFFSET $4"
            ),
            &[&scope, &id_users, &limit, &offset],
        )?;
        let rows = rows
            .iter()
            .map(|r| self.api_token_row(r))
            .collect::<Result<Vec<_>>>()?;
        let total = self.one(
            &format!(
                "{SCOPE_CTE}SELECT COUNT(*) FROM api_tokens t JOIN users u ON u.id = t.id_users WHERE {filter}"
            ),
            &[&scope, &id_users],
        )?;
        Ok((
            rows,
            u64::try_from(self.get::<i64>(&total, 0)?).unwrap_or(0),
        ))
    }

    fn live_api_tokens(&self, id_users: i64) -> Result<u64> {
        let row = self.one(
            "SELECT COUNT(*) FROM api_tokens WHERE id_users = $1 AND revoked_at IS NULL",
            &[&id_users],
        )?;
        Ok(u64::try_from(self.get::<i64>(&row, 0)?).unwrap_or(0))
    }

    fn revoke_api_token(&mut self, id: i64, now: &str, by: i64) -> Result<bool> {
        let n = self.exec(
            "UPDATE api_tokens SET revoked_at = $2, revoked_by = $3 WHERE id = $1 AND revoked_at IS NULL",
            &[&id, &now, &by],
        )?;
        Ok(n == 1)
    }

    fn delete_user_api_tokens(&mut self, id_users: i64) -> Result<()> {
        self.exec("DELETE FROM api_tokens WHERE id_users = $1", &[&id_users])?;
        Ok(())
    }

    // --- custom field values ---
    fn custom_values(&self, object_id: i64) -> Result<Vec<(i64, String)>> {
        let rows = self.rows(
            "SELECT id_custom_fields, value FROM custom_field_values WHERE object_id = $1",
            &[&object_id],
        )?;
        rows.iter()
            .map(|r| Ok((self.get(r, 0)?, self.get(r, 1)?)))
            .collect()
    }

    fn set_custom_value(
        &mut self,
        id_custom_fields: i64,
        object_id: i64,
        value: Option<&str>,
    ) -> Result<()> {
        match value {
            Some(v) => self.write(
                "INSERT INTO custom_field_values (id_custom_fields, object_id, value) VALUES ($1, $2, $3)
                 ON CONFLICT (id_custom_fields, object_id) DO UPDATE SET value = excluded.value",
                &[&id_custom_fields, &object_id, &v],
            )?,
            None => self.exec(
                "DELETE FROM custom_field_values WHERE id_custom_fields = $1 AND object_id = $2",
                &[&id_custom_fields, &object_id],
            )?,
        };
        Ok(())
    }

    // --- audit and settings ---
    fn audit(&mut self, row: &AuditRow<'_>) -> Result<()> {
        self.exec(
            "INSERT INTO audit (dt, id_users, login, id_sessions, id_companies, method, objects, outcome, call_id)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
            &[
                &row.dt,
                &row.id_users,
                &row.login,
                &row.id_sessions,
                &row.id_companies,
                &row.method,
                &row.objects,
                &row.outcome,
                &row.call_id,
            ],
        )?;
        Ok(())
    }

    fn meta(&self, key: &str) -> Result<Option<String>> {
        self.opt("SELECT value FROM meta WHERE key = $1", &[&key])?
            .map(|r| self.get(&r, 0))
            .transpose()
    }

    fn set_meta(&mut self, key: &str, value: &str) -> Result<()> {
        self.exec(
            "INSERT INTO meta (key, value) VALUES ($1, $2) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            &[&key, &value],
        )?;
        Ok(())
    }

    // --- open reservations ---
    fn put_reservation(&mut self, row: &ReservationRow) -> Result<()> {
        self.exec(
            "INSERT INTO reservations (id, id_clients, expires_at, body) VALUES ($1, $2, $3, $4)
             ON CONFLICT (id) DO UPDATE SET expires_at = excluded.expires_at, body = excluded.body",
            &[&key(row.id)?, &row.client, &row.expires_at, &row.body],
        )?;
        Ok(())
    }

    fn delete_reservations(&mut self, ids: &[u64]) -> Result<()> {
        let keys = ids
            .iter()
            .map(|id| key(*id))
            .collect::<Result<Vec<i64>>>()?;
        self.exec("DELETE FROM reservations WHERE id = ANY($1)", &[&keys])?;
        Ok(())
    }

    fn reservations(&self) -> Result<Vec<ReservationRow>> {
        let rows = self.rows(
            "SELECT id, id_clients, expires_at, body FROM reservations ORDER BY id",
            &[],
        )?;
        rows.iter()
            .map(|r| {
                let id: i64 = self.get(r, 0)?;
                Ok(ReservationRow {
                    id: u64::try_from(id).map_err(|_| {
                        Error::Internal(format!("stored reservation id {id} is negative"))
                    })?,
                    client: self.get(r, 1)?,
                    expires_at: self.get(r, 2)?,
                    body: self.get(r, 3)?,
                })
            })
            .collect()
    }

    // --- ledger ---
    fn client_balance(&self, id_clients: i64) -> Result<Option<(Decimal, i64)>> {
        self.opt(
            "SELECT balance, id_currencies FROM clients WHERE id = $1",
            &[&id_clients],
        )?
        .map(|r| Ok((self.get(&r, 0)?, self.get(&r, 1)?)))
        .transpose()
    }

    fn set_client_balance(&mut self, id_clients: i64, balance: Decimal) -> Result<()> {
        self.exec(
            "UPDATE clients SET balance = $2 WHERE id = $1",
            &[&id_clients, &PgDec(balance)],
        )?;
        Ok(())
    }

    fn insert_transaction(&mut self, row: &TransactionRow<'_>) -> Result<i64> {
        self.write_returning(
            "INSERT INTO transactions (id_clients, type, amount, id_currencies, orig_amount, orig_id_currencies,
                    exchange_rate, balance_after, dt, notes, author, idempotency_key, request_hash, reference)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14) RETURNING id",
            &[
                &row.id_clients,
                &row.kind,
                &PgDec(row.amount),
                &row.id_currencies,
                &row.orig_amount.map(PgDec),
                &row.orig_id_currencies,
                &row.exchange_rate.map(PgDec),
                &PgDec(row.balance_after),
                &row.dt,
                &row.notes,
                &row.author,
                &row.idempotency_key,
                &row.request_hash,
                &row.reference,
            ],
        )
    }

    fn transaction_by_key(&self, id_clients: i64, key: &str) -> Result<Option<(i64, String)>> {
        self.opt(
            "SELECT id, COALESCE(request_hash, '') FROM transactions
             WHERE id_clients = $1 AND idempotency_key = $2",
            &[&id_clients, &key],
        )?
        .map(|r| Ok((self.get(&r, 0)?, self.get(&r, 1)?)))
        .transpose()
    }

    fn note_posting(&mut self, client: i64, delta: Decimal) {
        self.postings.push((client, delta));
    }

    fn postings(&self) -> &[(i64, Decimal)] {
        &self.postings
    }

    fn ledger_amounts(&self, id_clients: i64) -> Result<Vec<Decimal>> {
        let rows = self.rows(
            "SELECT amount FROM transactions WHERE id_clients = $1 ORDER BY id",
            &[&id_clients],
        )?;
        self.decimals(&rows)
    }

    fn xdrs_by_call_id(
        &self,
        call_id: &str,
        company: Option<i64>,
        scope: Option<i64>,
    ) -> Result<Vec<(i64, String)>> {
        let rows = match (company, scope) {
            (Some(c), _) => self.rows(
                "SELECT id, request_hash FROM xdrs WHERE id_companies = $1 AND call_id = $2",
                &[&c, &call_id],
            )?,
            (None, Some(root)) => self.rows(
                &format!(
                    "{SCOPE_CTE}SELECT id, request_hash FROM xdrs
                     WHERE call_id = $2 AND id_companies IN (SELECT id FROM scope) LIMIT 2"
                ),
                &[&root, &call_id],
            )?,
            (None, None) => self.rows(
                "SELECT id, request_hash FROM xdrs WHERE call_id = $1 LIMIT 2",
                &[&call_id],
            )?,
        };
        rows.iter()
            .map(|r| Ok((self.get(r, 0)?, self.get(r, 1)?)))
            .collect()
    }

    fn client_company(&self, id_clients: i64) -> Result<Option<i64>> {
        self.opt(
            "SELECT id_companies FROM clients WHERE id = $1",
            &[&id_clients],
        )?
        .map(|r| self.get(&r, 0))
        .transpose()
    }

    fn exchange_rate(
        &self,
        from: i64,
        to: i64,
        at: &str,
    ) -> Result<Option<(i64, Decimal, String)>> {
        self.opt(
            "SELECT id, rate, effective_from FROM exchange_rates
             WHERE id_currencies = $1 AND id_currencies_to = $2 AND effective_from <= $3
             ORDER BY effective_from DESC, id DESC LIMIT 1",
            &[&from, &to, &at],
        )?
        .map(|r| Ok((self.get(&r, 0)?, self.get(&r, 1)?, self.get(&r, 2)?)))
        .transpose()
    }

    fn volume_usage(
        &self,
        id_subscriptions: i64,
        run: i64,
        period: i64,
    ) -> Result<Vec<(i64, i64)>> {
        let rows = self.rows(
            "SELECT entry, used_seconds FROM subscription_usage
             WHERE id_subscriptions = $1 AND run = $2 AND period = $3 ORDER BY entry",
            &[&id_subscriptions, &run, &period],
        )?;
        rows.iter()
            .map(|r| Ok((self.get(r, 0)?, self.get(r, 1)?)))
            .collect()
    }

    fn add_volume_usage(
        &mut self,
        id_subscriptions: i64,
        run: i64,
        period: i64,
        entry: i64,
        seconds: i64,
    ) -> Result<()> {
        self.exec(
            "INSERT INTO subscription_usage (id_subscriptions, run, period, entry, used_seconds)
             VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT (id_subscriptions, run, period, entry)
             DO UPDATE SET used_seconds = subscription_usage.used_seconds + excluded.used_seconds",
            &[&id_subscriptions, &run, &period, &entry, &seconds],
        )?;
        Ok(())
    }

    // --- billing cycle ---
    fn invoice_sources(&self, client: i64, from: &str, till: &str) -> Result<InvoiceSources> {
        let mut out = InvoiceSources::default();
        let args: Args<'_> = &[&client, &from, &till];
        for r in self.rows(
            &format!(
                "SELECT x.code_name, x.billed_seconds, x.cost FROM xdrs x WHERE {XDR_WHERE} ORDER BY x.id"
            ),
            args,
        )? {
            out.calls
                .push((self.get(&r, 0)?, self.get(&r, 1)?, self.get(&r, 2)?));
        }
        for r in self.rows(
            &format!(
                "SELECT x.type, x.amount FROM transactions x WHERE {ENTRY_WHERE} ORDER BY x.id"
            ),
            args,
        )? {
            out.entries.push((self.get(&r, 0)?, self.get(&r, 1)?));
        }
        let rows = self.rows(
            "SELECT amount FROM transactions WHERE id_clients = $1 AND type = 'payment'
             AND dt >= $2 AND dt < $3 ORDER BY id",
            args,
        )?;
        out.payments = self.decimals(&rows)?;
        Ok(out)
    }

    fn claim_for_invoice(
        &mut self,
        client: i64,
        from: &str,
        till: &str,
        invoice: i64,
    ) -> Result<()> {
        // The same conditions as `invoice_sources`, in the same transaction: the same rows.
        let args: Args<'_> = &[&client, &from, &till, &invoice];
        self.exec(
            &format!("UPDATE xdrs AS x SET id_invoices = $4 WHERE {XDR_WHERE}"),
            args,
        )?;
        self.exec(
            &format!("UPDATE transactions AS x SET id_invoices = $4 WHERE {ENTRY_WHERE}"),
            args,
        )?;
        Ok(())
    }

    fn release_invoice(&mut self, invoice: i64) -> Result<()> {
        self.exec(
            "UPDATE xdrs SET id_invoices = NULL WHERE id_invoices = $1",
            &[&invoice],
        )?;
        self.exec(
            "UPDATE transactions SET id_invoices = NULL WHERE id_invoices = $1",
            &[&invoice],
        )?;
        Ok(())
    }

    fn next_invoice_sequence(&mut self, company: i64) -> Result<i64> {
        // Never decremented (a void keeps its number), so a number is never reused.
        let row = self.one(
            "INSERT INTO invoice_sequences (id_companies, last) VALUES ($1, 1)
             ON CONFLICT (id_companies) DO UPDATE SET last = invoice_sequences.last + 1 RETURNING last",
            &[&company],
        )?;
        self.get(&row, 0)
    }

    fn overlapping_invoice(&self, client: i64, from: &str, till: &str) -> Result<Option<String>> {
        self.opt(
            "SELECT number FROM invoices WHERE id_clients = $1 AND status = 'issued'
             AND dt_from < $3 AND dt_till > $2 ORDER BY id LIMIT 1",
            &[&client, &from, &till],
        )?
        .map(|r| self.get(&r, 0))
        .transpose()
    }

    fn ledger_amounts_before(&self, client: i64, before: &str) -> Result<Vec<Decimal>> {
        let rows = self.rows(
            "SELECT amount FROM transactions WHERE id_clients = $1 AND dt < $2 ORDER BY id",
            &[&client, &before],
        )?;
        self.decimals(&rows)
    }

    // --- savepoints (one name: they do not nest) ---
    fn savepoint(&mut self) -> Result<()> {
        self.batch("SAVEPOINT tollgate_item")?;
        self.marks.push(self.postings.len());
        Ok(())
    }

    fn release_savepoint(&mut self) -> Result<()> {
        self.batch("RELEASE SAVEPOINT tollgate_item")?;
        self.marks.pop();
        Ok(())
    }

    fn rollback_to_savepoint(&mut self) -> Result<()> {
        self.batch("ROLLBACK TO SAVEPOINT tollgate_item; RELEASE SAVEPOINT tollgate_item")?;
        if let Some(mark) = self.marks.pop() {
            self.postings.truncate(mark);
        }
        Ok(())
    }
}
