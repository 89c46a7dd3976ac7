//! The money side: client balances, ledger entries and their idempotency keys, xDR lookups
//! by call id, exchange rates and included-volume usage.

use super::super::TransactionRow;
use super::map_write_error;
use super::rows::SCOPE_CTE;
use crate::error::{Result, StoreError};
use rusqlite::{params, Connection, OptionalExtension};
use rust_decimal::Decimal;
use std::str::FromStr;

fn parse_stored_decimal(what: &str, text: &str) -> Result<Decimal> {
    Decimal::from_str(text).map_err(|e| {
        StoreError::io_caused_by(format!("{what} holds a bad amount {text:?}"), e).into()
    })
}

// --- balances and ledger entries ---

pub(super) fn client_balance(conn: &Connection, id_clients: i64) -> Result<Option<(Decimal, i64)>> {
    let mut stmt =
        conn.prepare_cached("SELECT balance, id_currencies FROM clients WHERE id = ?1")?;
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

pub(super) fn set_client_balance(
    conn: &Connection,
    id_clients: i64,
    balance: Decimal,
) -> Result<()> {
    conn.prepare_cached("UPDATE clients SET balance = ?2 WHERE id = ?1")?
        .execute(params![id_clients, balance.to_string()])?;
    Ok(())
}

pub(super) fn client_company(conn: &Connection, id_clients: i64) -> Result<Option<i64>> {
    Ok(conn
        .prepare_cached("SELECT id_companies FROM clients WHERE id = ?1")?
        .query_row(params![id_clients], |r| r.get(0))
        .optional()?)
}

pub(super) fn insert_transaction(conn: &Connection, row: &TransactionRow<'_>) -> Result<i64> {
    conn.prepare_cached(
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
    Ok(conn.last_insert_rowid())
}

pub(super) fn transaction_by_key(
    conn: &Connection,
    id_clients: i64,
    key: &str,
) -> Result<Option<(i64, String)>> {
    let mut stmt = conn.prepare_cached(
        "SELECT id, COALESCE(request_hash, '') FROM transactions
             WHERE id_clients = ?1 AND idempotency_key = ?2",
    )?;
    Ok(stmt
        .query_row(params![id_clients, key], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?)
}

pub(super) fn ledger_amounts(conn: &Connection, id_clients: i64) -> Result<Vec<Decimal>> {
    let mut stmt =
        conn.prepare_cached("SELECT amount FROM transactions WHERE id_clients = ?1 ORDER BY id")?;
    let texts = stmt
        .query_map(params![id_clients], |r| r.get::<_, String>(0))?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    texts
        .iter()
        .map(|t| parse_stored_decimal("transactions.amount", t))
        .collect()
}

// --- xDRs ---

pub(super) fn xdrs_by_call_id(
    conn: &Connection,
    call_id: &str,
    company: Option<i64>,
    scope: Option<i64>,
) -> Result<Vec<(i64, String)>> {
    let rows = match (company, scope) {
        (Some(c), _) => conn
            .prepare_cached(
                "SELECT id, request_hash FROM xdrs WHERE id_companies = ?1 AND call_id = ?2",
            )?
            .query_map(params![c, call_id], |r| Ok((r.get(0)?, r.get(1)?)))?
            .collect::<rusqlite::Result<Vec<_>>>()?,
        (None, Some(root)) => conn
            .prepare_cached(&format!(
                "{SCOPE_CTE}SELECT id, request_hash FROM xdrs
                     WHERE call_id = ?2 AND id_companies IN (SELECT id FROM scope) LIMIT 2"
            ))?
            .query_map(params![root, call_id], |r| Ok((r.get(0)?, r.get(1)?)))?
            .collect::<rusqlite::Result<Vec<_>>>()?,
        (None, None) => conn
            .prepare_cached("SELECT id, request_hash FROM xdrs WHERE call_id = ?1 LIMIT 2")?
            .query_map(params![call_id], |r| Ok((r.get(0)?, r.get(1)?)))?
            .collect::<rusqlite::Result<Vec<_>>>()?,
    };
    Ok(rows)
}

// --- exchange rates ---

pub(super) fn exchange_rate(
    conn: &Connection,
    from: i64,
    to: i64,
    at: &str,
) -> Result<Option<(i64, Decimal, String)>> {
    let mut stmt = conn.prepare_cached(
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
                .map_err(|e| StoreError::io_caused_by(format!("exchange rate {id}"), e))?;
            Ok(Some((id, rate, dt)))
        }
    }
}

// --- included volumes ---

pub(super) fn volume_usage(
    conn: &Connection,
    id_subscriptions: i64,
    run: i64,
    period: i64,
) -> Result<Vec<(i64, i64)>> {
    let mut stmt = conn.prepare_cached(
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

pub(super) fn add_volume_usage(
    conn: &Connection,
    id_subscriptions: i64,
    run: i64,
    period: i64,
    entry: i64,
    seconds: i64,
) -> Result<()> {
    conn.prepare_cached(
        "INSERT INTO subscription_usage \
                 (id_subscriptions, run, period, entry, used_seconds) VALUES (?1, ?2, ?3, ?4, ?5) \
                 ON CONFLICT (id_subscriptions, run, period, entry) \
                 DO UPDATE SET used_seconds = used_seconds + excluded.used_seconds",
    )?
    .execute(params![id_subscriptions, run, period, entry, seconds])?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::error::Error as _;

    #[test]
    fn a_bad_stored_amount_keeps_the_parse_error() {
        let err = parse_stored_decimal("clients.balance", "1.2.3").unwrap_err();
        let parse = Decimal::from_str("1.2.3").unwrap_err();
        assert_eq!(
            err.to_string(),
            format!("storage error: clients.balance holds a bad amount \"1.2.3\": {parse}")
        );
        assert_eq!(err.source().map(|s| s.to_string()), Some(parse.to_string()));
    }
}
