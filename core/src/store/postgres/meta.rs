//! The audit trail, settings (`meta`) and open reservations, for PostgreSQL.

use super::super::{AuditRow, ReservationRow};
use super::behind::{Audit, Op};
use super::tx::PgTx;
use crate::error::{Error, Result};

/// A reservation id as a key: ids stay below 2^53.
pub(super) fn key(id: u64) -> Result<i64> {
    i64::try_from(id)
        .map_err(|_| Error::Internal(format!("reservation id {id} does not fit a key")))
}

/// Kept back until something could read it (`behind.rs`).
pub(super) fn audit(t: &PgTx<'_>, row: &AuditRow<'_>) -> Result<()> {
    t.keep(Op::Audit(Audit {
        dt: row.dt.to_string(),
        id_users: row.id_users,
        login: row.login.to_string(),
        id_sessions: row.id_sessions,
        id_companies: row.id_companies,
        method: row.method.to_string(),
        objects: row.objects.to_string(),
        outcome: row.outcome.to_string(),
        call_id: row.call_id.map(str::to_string),
    }))
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

/// Kept back, as is a removal: the last change of each reservation is what is sent.
pub(super) fn put_reservation(t: &PgTx<'_>, row: &ReservationRow) -> Result<()> {
    key(row.id)?;
    t.keep(Op::PutReservation(row.clone()))
}

pub(super) fn delete_reservations(t: &PgTx<'_>, ids: &[u64]) -> Result<()> {
    for id in ids {
        key(*id)?;
    }
    t.keep(Op::DeleteReservations(ids.to_vec()))
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
