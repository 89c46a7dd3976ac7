//! Users, login attempts, roles, sessions, refresh tokens and API tokens.

use super::super::{ApiTokenRow, NewApiToken, SessionRow, UserAuth};
use super::map_write_error;
use super::rows::SCOPE_CTE;
use crate::error::Result;
use rusqlite::{params, Connection, OptionalExtension};

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

// --- users and login attempts ---

pub(super) fn user_by_login(conn: &Connection, login: &str) -> Result<Option<UserAuth>> {
    let mut stmt = conn.prepare_cached(
        "SELECT id, login, password, id_roles, id_companies, status, failed_logins, locked_until
             FROM users WHERE login = ?1",
    )?;
    Ok(stmt.query_row(params![login], user_row).optional()?)
}

pub(super) fn user_by_id(conn: &Connection, id: i64) -> Result<Option<UserAuth>> {
    let mut stmt = conn.prepare_cached(
        "SELECT id, login, password, id_roles, id_companies, status, failed_logins, locked_until
             FROM users WHERE id = ?1",
    )?;
    Ok(stmt.query_row(params![id], user_row).optional()?)
}

pub(super) fn insert_user(
    conn: &Connection,
    login: &str,
    password_hash: &str,
    id_roles: i64,
    id_companies: i64,
    c_dt: &str,
) -> Result<i64> {
    conn.prepare_cached("INSERT INTO users (login, password, id_roles, id_companies, c_dt) VALUES (?1, ?2, ?3, ?4, ?5)")?
        .execute(params![login, password_hash, id_roles, id_companies, c_dt])
        .map_err(map_write_error)?;
    Ok(conn.last_insert_rowid())
}

pub(super) fn login_attempt(conn: &Connection, id_users: i64, now: &str) -> Result<(i64, bool)> {
    // One statement, so concurrent attempts each get their own number.
    let (n, locked): (i64, bool) = conn
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

pub(super) fn login_failed(
    conn: &Connection,
    id_users: i64,
    attempt: i64,
    lock_after: i64,
    locked_until: &str,
) -> Result<()> {
    if attempt >= lock_after {
        conn.prepare_cached("UPDATE users SET locked_until = ?2 WHERE id = ?1")?
            .execute(params![id_users, locked_until])?;
    }
    Ok(())
}

pub(super) fn login_succeeded(conn: &Connection, id_users: i64, now: &str) -> Result<bool> {
    let n = conn
        .prepare_cached(
            "UPDATE users SET failed_logins = 0, locked_until = NULL
                 WHERE id = ?1 AND (locked_until IS NULL OR locked_until <= ?2)",
        )?
        .execute(params![id_users, now])?;
    Ok(n == 1)
}

pub(super) fn role_permissions(conn: &Connection, id_roles: i64) -> Result<Option<String>> {
    let mut stmt = conn.prepare_cached("SELECT permissions FROM roles WHERE id = ?1")?;
    Ok(stmt.query_row(params![id_roles], |r| r.get(0)).optional()?)
}

// --- sessions ---

pub(super) fn insert_session(
    conn: &Connection,
    token_hash: &str,
    id_users: i64,
    now: i64,
    expires_at: i64,
) -> Result<i64> {
    conn.prepare_cached(
        "INSERT INTO sessions (token_hash, id_users, created_at, last_seen, expires_at) VALUES (?1, ?2, ?3, ?3, ?4)",
    )?
    .execute(params![token_hash, id_users, now, expires_at])?;
    Ok(conn.last_insert_rowid())
}

pub(super) fn session_by_hash(conn: &Connection, token_hash: &str) -> Result<Option<SessionRow>> {
    let mut stmt = conn.prepare_cached(
        "SELECT id, id_users, created_at, last_seen, expires_at, revoked FROM sessions WHERE token_hash = ?1",
    )?;
    Ok(stmt
        .query_row(params![token_hash], session_row)
        .optional()?)
}

pub(super) fn touch_session(conn: &Connection, id: i64, now: i64) -> Result<()> {
    conn.prepare_cached("UPDATE sessions SET last_seen = ?2 WHERE id = ?1")?
        .execute(params![id, now])?;
    Ok(())
}

pub(super) fn revoke_session(conn: &Connection, id: i64) -> Result<()> {
    conn.prepare_cached("UPDATE sessions SET revoked = 1 WHERE id = ?1")?
        .execute(params![id])?;
    Ok(())
}

pub(super) fn prune_sessions(
    conn: &Connection,
    id_users: i64,
    now: i64,
    idle_seconds: i64,
    keep: usize,
) -> Result<()> {
    conn.prepare_cached(
        "DELETE FROM sessions WHERE id_users = ?1 AND (revoked = 1 OR expires_at <= ?2 OR last_seen + ?3 <= ?2)",
    )?
    .execute(params![id_users, now, idle_seconds])?;
    let keep = i64::try_from(keep).unwrap_or(i64::MAX);
    conn.prepare_cached(
        "DELETE FROM sessions WHERE id_users = ?1 AND id NOT IN
                 (SELECT id FROM sessions WHERE id_users = ?1 ORDER BY id DESC LIMIT ?2)",
    )?
    .execute(params![id_users, keep])?;
    Ok(())
}

pub(super) fn revoke_user_sessions(
    conn: &Connection,
    id_users: i64,
    keep: Option<i64>,
) -> Result<()> {
    conn.prepare_cached("UPDATE sessions SET revoked = 1 WHERE id_users = ?1 AND id != ?2")?
        .execute(params![id_users, keep.unwrap_or(-1)])?;
    Ok(())
}

pub(super) fn delete_user_sessions(conn: &Connection, id_users: i64) -> Result<()> {
    conn.prepare_cached("DELETE FROM sessions WHERE id_users = ?1")?
        .execute(params![id_users])?;
    Ok(())
}

// --- access tokens (issue 3) ---

pub(super) fn set_session_jti(conn: &Connection, id: i64, jti: &str) -> Result<()> {
    conn.prepare_cached("UPDATE sessions SET jti = ?2 WHERE id = ?1")?
        .execute(params![id, jti])?;
    Ok(())
}

pub(super) fn session_by_id(
    conn: &Connection,
    id: i64,
) -> Result<Option<(SessionRow, Option<String>)>> {
    let mut stmt = conn.prepare_cached(
        "SELECT id, id_users, created_at, last_seen, expires_at, revoked, jti FROM sessions WHERE id = ?1",
    )?;
    Ok(stmt
        .query_row(params![id], |r| Ok((session_row(r)?, r.get(6)?)))
        .optional()?)
}

pub(super) fn session_by_jti(conn: &Connection, jti: &str) -> Result<Option<SessionRow>> {
    let mut stmt = conn.prepare_cached(
        "SELECT id, id_users, created_at, last_seen, expires_at, revoked FROM sessions WHERE jti = ?1",
    )?;
    Ok(stmt.query_row(params![jti], session_row).optional()?)
}

pub(super) fn insert_refresh_token(
    conn: &Connection,
    id_sessions: i64,
    token_hash: &str,
    now: i64,
) -> Result<i64> {
    conn.prepare_cached(
        "INSERT INTO refresh_tokens (id_sessions, token_hash, created_at) VALUES (?1, ?2, ?3)",
    )?
    .execute(params![id_sessions, token_hash, now])?;
    Ok(conn.last_insert_rowid())
}

pub(super) fn refresh_token_by_hash(
    conn: &Connection,
    token_hash: &str,
) -> Result<Option<(i64, i64, bool)>> {
    let mut stmt = conn.prepare_cached(
        "SELECT id, id_sessions, used_at IS NOT NULL FROM refresh_tokens WHERE token_hash = ?1",
    )?;
    Ok(stmt
        .query_row(params![token_hash], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?))
        })
        .optional()?)
}

pub(super) fn spend_refresh_token(conn: &Connection, id: i64, now: i64) -> Result<bool> {
    let n = conn
        .prepare_cached("UPDATE refresh_tokens SET used_at = ?2 WHERE id = ?1 AND used_at IS NULL")?
        .execute(params![id, now])?;
    Ok(n == 1)
}

// --- API tokens (issue 20) ---

const API_TOKEN_COLUMNS: &str = "t.id, t.id_users, u.login, t.realm, t.name, t.hint, t.c_dt, \
     t.created_by, t.revoked_at, t.revoked_by FROM api_tokens t JOIN users u ON u.id = t.id_users";

fn api_token_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<ApiTokenRow> {
    Ok(ApiTokenRow {
        id: r.get(0)?,
        id_users: r.get(1)?,
        login: r.get(2)?,
        realm: r.get(3)?,
        name: r.get(4)?,
        hint: r.get(5)?,
        c_dt: r.get(6)?,
        created_by: r.get(7)?,
        revoked_at: r.get(8)?,
        revoked_by: r.get(9)?,
    })
}

pub(super) fn insert_api_token(conn: &Connection, t: &NewApiToken<'_>) -> Result<i64> {
    conn.prepare_cached(
        "INSERT INTO api_tokens (id_users, realm, name, token_hash, hint, c_dt, created_by)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    )?
    .execute(params![
        t.id_users,
        t.realm,
        t.name,
        t.token_hash,
        t.hint,
        t.c_dt,
        t.created_by
    ])
    .map_err(map_write_error)?;
    Ok(conn.last_insert_rowid())
}

pub(super) fn api_token_by_hash(
    conn: &Connection,
    token_hash: &str,
) -> Result<Option<ApiTokenRow>> {
    let sql = format!("SELECT {API_TOKEN_COLUMNS} WHERE t.token_hash = ?1");
    let mut stmt = conn.prepare_cached(&sql)?;
    Ok(stmt
        .query_row(params![token_hash], api_token_row)
        .optional()?)
}

pub(super) fn api_token_by_id(
    conn: &Connection,
    id: i64,
    scope: Option<i64>,
) -> Result<Option<ApiTokenRow>> {
    Ok(match scope {
        None => {
            let sql = format!("SELECT {API_TOKEN_COLUMNS} WHERE t.id = ?1");
            conn.prepare_cached(&sql)?
                .query_row(params![id], api_token_row)
                .optional()?
        }
        Some(scope) => {
            let sql = format!(
                "{SCOPE_CTE}SELECT {API_TOKEN_COLUMNS} WHERE t.id = ?2 \
                 AND u.id_companies IN (SELECT id FROM scope)"
            );
            conn.prepare_cached(&sql)?
                .query_row(params![scope, id], api_token_row)
                .optional()?
        }
    })
}

pub(super) fn api_tokens(
    conn: &Connection,
    id_users: Option<i64>,
    scope: Option<i64>,
    limit: u64,
    offset: u64,
) -> Result<(Vec<ApiTokenRow>, u64)> {
    // ?1 scope root (NULL: everything), ?2 user (NULL: every user).
    let filter = "(?2 IS NULL OR t.id_users = ?2) \
                  AND (?1 IS NULL OR u.id_companies IN (SELECT id FROM scope))";
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    let offset = i64::try_from(offset).unwrap_or(i64::MAX);
    let sql = format!(
        "{SCOPE_CTE}SELECT {API_TOKEN_COLUMNS} WHERE {filter} ORDER BY t.id DESC LIMIT ?3 OFFSET ?4"
    );
    let rows = conn
        .prepare_cached(&sql)?
        .query_map(params![scope, id_users, limit, offset], api_token_row)?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    let sql = format!(
        "{SCOPE_CTE}SELECT COUNT(*) FROM api_tokens t JOIN users u ON u.id = t.id_users WHERE {filter}"
    );
    let total: i64 = conn
        .prepare_cached(&sql)?
        .query_row(params![scope, id_users], |r| r.get(0))?;
    Ok((rows, u64::try_from(total).unwrap_or(0)))
}

pub(super) fn live_api_tokens(conn: &Connection, id_users: i64) -> Result<u64> {
    let n: i64 = conn
        .prepare_cached(
            "SELECT COUNT(*) FROM api_tokens WHERE id_users = ?1 AND revoked_at IS NULL",
        )?
        .query_row(params![id_users], |r| r.get(0))?;
    Ok(u64::try_from(n).unwrap_or(0))
}

pub(super) fn revoke_api_token(conn: &Connection, id: i64, now: &str, by: i64) -> Result<bool> {
    let n = conn
        .prepare_cached(
            "UPDATE api_tokens SET revoked_at = ?2, revoked_by = ?3 WHERE id = ?1 AND revoked_at IS NULL",
        )?
        .execute(params![id, now, by])?;
    Ok(n == 1)
}

pub(super) fn delete_user_api_tokens(conn: &Connection, id_users: i64) -> Result<()> {
    conn.prepare_cached("DELETE FROM api_tokens WHERE id_users = ?1")?
        .execute(params![id_users])?;
    Ok(())
}
