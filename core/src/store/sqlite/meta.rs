//! The audit trail, settings (`meta`) and open reservations.

use super::super::{AuditRow, ReservationRow};
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

/// A reservation id as a key: ids stay below 2^53, far inside SQLite's integers.
fn key(id: u64) -> Result<i64> {
    i64::try_from(id)
        .map_err(|_| crate::Error::Internal(format!("reservation id {id} does not fit a key")))
}

pub(super) fn put_reservation(conn: &Connection, row: &ReservationRow) -> Result<()> {
    conn.prepare_cached(
        "INSERT INTO reservations (id, id_clients, expires_at, body) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (id) DO UPDATE SET expires_at = excluded.expires_at, body = excluded.body",
    )?
    .execute(params![key(row.id)?, row.client, row.expires_at, row.body])?;
    Ok(())
}

pub(super) fn delete_reservations(conn: &Connection, ids: &[u64]) -> Result<()> {
    let mut stmt = conn.prepare_cached("DELETE FROM reservations WHERE id = ?1")?;
    for id in ids {
        stmt.execute(params![key(*id)?])?;
    }
    Ok(())
}

pub(super) fn reservations(conn: &Connection) -> Result<Vec<ReservationRow>> {
    let mut stmt = conn
        .prepare_cached("SELECT id, id_clients, expires_at, body FROM reservations ORDER BY id")?;
    let rows = stmt.query_map([], |r| {
        Ok((
            r.get::<_, i64>(0)?,
            r.get::<_, i64>(1)?,
            r.get::<_, String>(2)?,
            r.get::<_, String>(3)?,
        ))
    })?;
    let mut out = Vec::new();
    for row in rows {
        let (id, client, expires_at, body) = row?;
        let id = u64::try_from(id).map_err(|_| {
            crate::Error::Internal(format!("stored reservation id {id} is negative"))
        })?;
        out.push(ReservationRow {
            id,
            client,
            expires_at,
            body,
        });
    }
    Ok(out)
}
