//! Users, login attempts, roles, sessions, refresh tokens and API tokens, for PostgreSQL.

use super::super::{ApiTokenRow, NewApiToken, SessionRow, UserAuth};
use super::tx::{PgTx, SCOPE_CTE};
use crate::error::Result;
use postgres::Row;

const USER_COLUMNS: &str =
    "SELECT id, login, password, id_roles, id_companies, status, failed_logins, locked_until FROM users";

const API_TOKEN_COLUMNS: &str = "t.id, t.id_users, u.login, t.realm, t.name, t.hint, t.c_dt, \
     t.created_by, t.revoked_at, t.revoked_by FROM api_tokens t JOIN users u ON u.id = t.id_users";

fn session_row(t: &PgTx<'_>, r: &Row) -> Result<SessionRow> {
    Ok(SessionRow {
        id: t.get(r, 0)?,
        id_users: t.get(r, 1)?,
        created_at: t.get(r, 2)?,
        last_seen: t.get(r, 3)?,
        expires_at: t.get(r, 4)?,
        revoked: t.get::<i64>(r, 5)? != 0,
    })
}

fn user_row(t: &PgTx<'_>, r: &Row) -> Result<UserAuth> {
    Ok(UserAuth {
        id: t.get(r, 0)?,
        login: t.get(r, 1)?,
        password_hash: t.get(r, 2)?,
        id_roles: t.get(r, 3)?,
        id_companies: t.get(r, 4)?,
        status: t.get(r, 5)?,
        failed_logins: t.get(r, 6)?,
        locked_until: t.get(r, 7)?,
    })
}

fn api_token_row(t: &PgTx<'_>, r: &Row) -> Result<ApiTokenRow> {
    Ok(ApiTokenRow {
        id: t.get(r, 0)?,
        id_users: t.get(r, 1)?,
        login: t.get(r, 2)?,
        realm: t.get(r, 3)?,
        name: t.get(r, 4)?,
        hint: t.get(r, 5)?,
        c_dt: t.get(r, 6)?,
        created_by: t.get(r, 7)?,
        revoked_at: t.get(r, 8)?,
        revoked_by: t.get(r, 9)?,
    })
}

pub(super) fn user_by_login(t: &PgTx<'_>, login: &str) -> Result<Option<UserAuth>> {
    t.opt(&format!("{USER_COLUMNS} WHERE login = $1"), &[&login])?
        .map(|r| user_row(t, &r))
        .transpose()
}

pub(super) fn user_by_id(t: &PgTx<'_>, id: i64) -> Result<Option<UserAuth>> {
    t.opt(&format!("{USER_COLUMNS} WHERE id = $1"), &[&id])?
        .map(|r| user_row(t, &r))
        .transpose()
}

pub(super) fn insert_user(
    t: &PgTx<'_>,
    login: &str,
    password_hash: &str,
    id_roles: i64,
    id_companies: i64,
    c_dt: &str,
) -> Result<i64> {
    t.write_returning(
        "INSERT INTO users (login, password, id_roles, id_companies, c_dt) VALUES ($1, $2, $3, $4, $5) RETURNING id",
        &[&login, &password_hash, &id_roles, &id_companies, &c_dt],
    )
}

pub(super) fn login_attempt(t: &PgTx<'_>, id_users: i64, now: &str) -> Result<(i64, bool)> {
    // One statement, so concurrent attempts each get their own number.
    let row = t.one(
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
    Ok((t.get(&row, 0)?, t.get(&row, 1)?))
}

pub(super) fn login_failed(
    t: &PgTx<'_>,
    id_users: i64,
    attempt: i64,
    lock_after: i64,
    locked_until: &str,
) -> Result<()> {
    if attempt >= lock_after {
        t.exec(
            "UPDATE users SET locked_until = $2 WHERE id = $1",
            &[&id_users, &locked_until],
        )?;
    }
    Ok(())
}

pub(super) fn login_succeeded(t: &PgTx<'_>, id_users: i64, now: &str) -> Result<bool> {
    let n = t.exec(
        "UPDATE users SET failed_logins = 0, locked_until = NULL
             WHERE id = $1 AND (locked_until IS NULL OR locked_until <= $2)",
        &[&id_users, &now],
    )?;
    Ok(n == 1)
}

pub(super) fn role_permissions(t: &PgTx<'_>, id_roles: i64) -> Result<Option<String>> {
    t.opt("SELECT permissions FROM roles WHERE id = $1", &[&id_roles])?
        .map(|r| t.get(&r, 0))
        .transpose()
}

pub(super) fn insert_session(
    t: &PgTx<'_>,
    token_hash: &str,
    id_users: i64,
    now: i64,
    expires_at: i64,
) -> Result<i64> {
    t.write_returning(
        "INSERT INTO sessions (token_hash, id_users, created_at, last_seen, expires_at) VALUES ($1, $2, $3, $3, $4) RETURNING id",
        &[&token_hash, &id_users, &now, &expires_at],
    )
}

pub(super) fn session_by_hash(t: &PgTx<'_>, token_hash: &str) -> Result<Option<SessionRow>> {
    t.opt(
        "SELECT id, id_users, created_at, last_seen, expires_at, revoked FROM sessions WHERE token_hash = $1",
        &[&token_hash],
    )?
    .map(|r| session_row(t, &r))
    .transpose()
}

pub(super) fn touch_session(t: &PgTx<'_>, id: i64, now: i64) -> Result<()> {
    t.exec(
        "UPDATE sessions SET last_seen = $2 WHERE id = $1",
        &[&id, &now],
    )?;
    Ok(())
}

pub(super) fn revoke_session(t: &PgTx<'_>, id: i64) -> Result<()> {
    t.exec("UPDATE sessions SET revoked = 1 WHERE id = $1", &[&id])?;
    Ok(())
}

pub(super) fn prune_sessions(
    t: &PgTx<'_>,
    id_users: i64,
    now: i64,
    idle_seconds: i64,
    keep: usize,
) -> Result<()> {
    t.exec(
        "DELETE FROM sessions WHERE id_users = $1 AND (revoked = 1 OR expires_at <= $2 OR last_seen + $3 <= $2)",
        &[&id_users, &now, &idle_seconds],
    )?;
    let keep = i64::try_from(keep).unwrap_or(i64::MAX);
    t.exec(
        "DELETE FROM sessions WHERE id_users = $1 AND id NOT IN
             (SELECT id FROM sessions WHERE id_users = $1 ORDER BY id DESC LIMIT $2)",
        &[&id_users, &keep],
    )?;
    Ok(())
}

pub(super) fn set_session_jti(t: &PgTx<'_>, id: i64, jti: &str) -> Result<()> {
    t.write("UPDATE sessions SET jti = $2 WHERE id = $1", &[&id, &jti])?;
    Ok(())
}

pub(super) fn session_by_id(t: &PgTx<'_>, id: i64) -> Result<Option<(SessionRow, Option<String>)>> {
    t.opt(
        "SELECT id, id_users, created_at, last_seen, expires_at, revoked, jti FROM sessions WHERE id = $1",
        &[&id],
    )?
    .map(|r| Ok((session_row(t, &r)?, t.get(&r, 6)?)))
    .transpose()
}

pub(super) fn session_by_jti(t: &PgTx<'_>, jti: &str) -> Result<Option<SessionRow>> {
    t.opt(
        "SELECT id, id_users, created_at, last_seen, expires_at, revoked FROM sessions WHERE jti = $1",
        &[&jti],
    )?
    .map(|r| session_row(t, &r))
    .transpose()
}

pub(super) fn insert_refresh_token(
    t: &PgTx<'_>,
    id_sessions: i64,
    token_hash: &str,
    now: i64,
) -> Result<i64> {
    t.write_returning(
        "INSERT INTO refresh_tokens (id_sessions, token_hash, created_at) VALUES ($1, $2, $3) RETURNING id",
        &[&id_sessions, &token_hash, &now],
    )
}

pub(super) fn refresh_token_by_hash(
    t: &PgTx<'_>,
    token_hash: &str,
) -> Result<Option<(i64, i64, bool)>> {
    t.opt(
        "SELECT id, id_sessions, used_at IS NOT NULL FROM refresh_tokens WHERE token_hash = $1",
        &[&token_hash],
    )?
    .map(|r| Ok((t.get(&r, 0)?, t.get(&r, 1)?, t.get(&r, 2)?)))
    .transpose()
}

pub(super) fn spend_refresh_token(t: &PgTx<'_>, id: i64, now: i64) -> Result<bool> {
    let n = t.exec(
        "UPDATE refresh_tokens SET used_at = $2 WHERE id = $1 AND used_at IS NULL",
        &[&id, &now],
    )?;
    Ok(n == 1)
}

pub(super) fn revoke_user_sessions(t: &PgTx<'_>, id_users: i64, keep: Option<i64>) -> Result<()> {
    t.exec(
        "UPDATE sessions SET revoked = 1 WHERE id_users = $1 AND id != $2",
        &[&id_users, &keep.unwrap_or(-1)],
    )?;
    Ok(())
}

pub(super) fn delete_user_sessions(t: &PgTx<'_>, id_users: i64) -> Result<()> {
    t.exec("DELETE FROM sessions WHERE id_users = $1", &[&id_users])?;
    Ok(())
}

pub(super) fn insert_api_token(t: &PgTx<'_>, token: &NewApiToken<'_>) -> Result<i64> {
    t.write_returning(
        "INSERT INTO api_tokens (id_users, realm, name, token_hash, hint, c_dt, created_by)
         VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
        &[
            &token.id_users,
            &token.realm,
            &token.name,
            &token.token_hash,
            &token.hint,
            &token.c_dt,
            &token.created_by,
        ],
    )
}

pub(super) fn api_token_by_hash(t: &PgTx<'_>, token_hash: &str) -> Result<Option<ApiTokenRow>> {
    t.opt(
        &format!("SELECT {API_TOKEN_COLUMNS} WHERE t.token_hash = $1"),
        &[&token_hash],
    )?
    .map(|r| api_token_row(t, &r))
    .transpose()
}

pub(super) fn api_token_by_id(
    t: &PgTx<'_>,
    id: i64,
    scope: Option<i64>,
) -> Result<Option<ApiTokenRow>> {
    let row = match scope {
        None => t.opt(
            &format!("SELECT {API_TOKEN_COLUMNS} WHERE t.id = $1"),
            &[&id],
        )?,
        Some(scope) => t.opt(
            &format!(
                "{SCOPE_CTE}SELECT {API_TOKEN_COLUMNS} WHERE t.id = $2 \
                 AND u.id_companies IN (SELECT id FROM scope)"
            ),
            &[&scope, &id],
        )?,
    };
    row.map(|r| api_token_row(t, &r)).transpose()
}

pub(super) fn api_tokens(
    t: &PgTx<'_>,
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
    let rows = t.rows(
        &format!(
            "{SCOPE_CTE}SELECT {API_TOKEN_COLUMNS} WHERE {filter} ORDER BY t.id DESC LIMIT $3 OFFSET $4"
        ),
        &[&scope, &id_users, &limit, &offset],
    )?;
    let rows = rows
        .iter()
        .map(|r| api_token_row(t, r))
        .collect::<Result<Vec<_>>>()?;
    let total = t.one(
        &format!(
            "{SCOPE_CTE}SELECT COUNT(*) FROM api_tokens t JOIN users u ON u.id = t.id_users WHERE {filter}"
        ),
        &[&scope, &id_users],
    )?;
    Ok((rows, u64::try_from(t.get::<i64>(&total, 0)?).unwrap_or(0)))
}

pub(super) fn live_api_tokens(t: &PgTx<'_>, id_users: i64) -> Result<u64> {
    let row = t.one(
        "SELECT COUNT(*) FROM api_tokens WHERE id_users = $1 AND revoked_at IS NULL",
        &[&id_users],
    )?;
    Ok(u64::try_from(t.get::<i64>(&row, 0)?).unwrap_or(0))
}

pub(super) fn revoke_api_token(t: &PgTx<'_>, id: i64, now: &str, by: i64) -> Result<bool> {
    let n = t.exec(
        "UPDATE api_tokens SET revoked_at = $2, revoked_by = $3 WHERE id = $1 AND revoked_at IS NULL",
        &[&id, &now, &by],
    )?;
    Ok(n == 1)
}

pub(super) fn delete_user_api_tokens(t: &PgTx<'_>, id_users: i64) -> Result<()> {
    t.exec("DELETE FROM api_tokens WHERE id_users = $1", &[&id_users])?;
    Ok(())
}
