//! The audit trail and settings (`meta`).

use super::super::AuditRow;
use crate::error::Result;
use rusqlite::{params, Connection, OptionalExtension};

pub(super) fn audit(conn: &Connection, row: &AuditRow<'_>) -> Result<()> {
    conn.prepare_cached(
        "INSERT INTO audit (dt, id_users, login, id_sessions, id_companies, method, objects, outcome, call_id)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
    )?
    .execute(params![
        row.dt,
        row.id_users,
        row.login,
        row.id_sessions,
        row.id_companies,
        row.method,
        row.objects,
        row.outcome,
        row.call_id
    ])?;
    Ok(())
}

pub(super) fn meta(conn: &Connection, key: &str) -> Result<Option<String>> {
    let mut stmt = conn.prepare_cached("SELECT value FROM meta WHERE key = ?1")?;
    Ok(stmt.query_row(params![key], |r| r.get(0)).optional()?)
}

pub(super) fn set_meta(conn: &Connection, key: &str, value: &str) -> Result<()> {
    conn.prepare_cached("INSERT INTO meta (key, value) VALUES (?1, ?2) ON CONFLICT (key) DO UPDATE SET value = excluded.value")?
        .execute(params![key, value])?;
    Ok(())
}
