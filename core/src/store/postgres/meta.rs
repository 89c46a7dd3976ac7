//! The audit trail, settings (`meta`) and open reservations, for PostgreSQL.

use super::super::{AuditRow, ReservationRow};
use super::tx::PgTx;
use crate::error::{Error, Result};

/// A reservation id as a key: ids stay below 2^53.
fn key(id: u64) -> Result<i64> {
    i64::try_from(id)
        .map_err(|_| Error::Internal(format!("reservation id {id} does not fit a key")))
}

pub(super) fn audit(t: &PgTx<'_>, row: &AuditRow<'_>) -> Result<()> {
    t.exec(
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

pub(super) fn meta(t: &PgTx<'_>, key: &str) -> Result<Option<String>> {
    t.opt("SELECT value FROM meta WHERE key = $1", &[&key])?
        .map(|r| t.get(&r, 0))
        .transpose()
}

pub(super) fn set_meta(t: &PgTx<'_>, key: &str, value: &str) -> Result<()> {
    t.exec(
        "INSERT INTO meta (key, value) VALUES ($1, $2) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        &[&key, &value],
    )?;
    Ok(())
}

pub(super) fn put_reservation(t: &PgTx<'_>, row: &ReservationRow) -> Result<()> {
    t.exec(
        "INSERT INTO reservations (id, id_clients, expires_at, body) VALUES ($1, $2, $3, $4)
         ON CONFLICT (id) DO UPDATE SET expires_at = excluded.expires_at, body = excluded.body",
        &[&key(row.id)?, &row.client, &row.expires_at, &row.body],
    )?;
    Ok(())
}

pub(super) fn delete_reservations(t: &PgTx<'_>, ids: &[u64]) -> Result<()> {
    let keys = ids
        .iter()
        .map(|id| key(*id))
        .collect::<Result<Vec<i64>>>()?;
    t.exec("DELETE FROM reservations WHERE id = ANY($1)", &[&keys])?;
    Ok(())
}

pub(super) fn reservations(t: &PgTx<'_>) -> Result<Vec<ReservationRow>> {
    let rows = t.rows(
        "SELECT id, id_clients, expires_at, body FROM reservations ORDER BY id",
        &[],
    )?;
    rows.iter()
        .map(|r| {
            let id: i64 = t.get(r, 0)?;
            Ok(ReservationRow {
                id: u64::try_from(id).map_err(|_| {
                    Error::Internal(format!("stored reservation id {id} is negative"))
                })?,
                client: t.get(r, 1)?,
                expires_at: t.get(r, 2)?,
                body: t.get(r, 3)?,
            })
        })
        .collect()
}
