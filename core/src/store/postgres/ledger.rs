//! Balances, ledger entries and their idempotency keys, xDR lookups by call id, exchange
//! rates and included-volume usage, for PostgreSQL.

use super::super::TransactionRow;
use super::tx::{PgTx, SCOPE_CTE};
use super::val::PgDec;
use crate::error::Result;
use rust_decimal::Decimal;

pub(super) fn client_balance(t: &PgTx<'_>, id_clients: i64) -> Result<Option<(Decimal, i64)>> {
    t.opt(
        "SELECT balance, id_currencies FROM clients WHERE id = $1",
        &[&id_clients],
    )?
    .map(|r| Ok((t.get(&r, 0)?, t.get(&r, 1)?)))
    .transpose()
}

pub(super) fn set_client_balance(t: &PgTx<'_>, id_clients: i64, balance: Decimal) -> Result<()> {
    t.exec(
        "UPDATE clients SET balance = $2 WHERE id = $1",
        &[&id_clients, &PgDec(balance)],
    )?;
    Ok(())
}

pub(super) fn insert_transaction(t: &PgTx<'_>, row: &TransactionRow<'_>) -> Result<i64> {
    t.write_returning(
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

pub(super) fn transaction_by_key(
    t: &PgTx<'_>,
    id_clients: i64,
    key: &str,
) -> Result<Option<(i64, String)>> {
    t.opt(
        "SELECT id, COALESCE(request_hash, '') FROM transactions
         WHERE id_clients = $1 AND idempotency_key = $2",
        &[&id_clients, &key],
    )?
    .map(|r| Ok((t.get(&r, 0)?, t.get(&r, 1)?)))
    .transpose()
}

pub(super) fn ledger_amounts(t: &PgTx<'_>, id_clients: i64) -> Result<Vec<Decimal>> {
    let rows = t.rows(
        "SELECT amount FROM transactions WHERE id_clients = $1 ORDER BY id",
        &[&id_clients],
    )?;
    t.decimals(&rows)
}

pub(super) fn xdrs_by_call_id(
    t: &PgTx<'_>,
    call_id: &str,
    company: Option<i64>,
    scope: Option<i64>,
) -> Result<Vec<(i64, String)>> {
    let rows = match (company, scope) {
        (Some(c), _) => t.rows(
            "SELECT id, request_hash FROM xdrs WHERE id_companies = $1 AND call_id = $2",
            &[&c, &call_id],
        )?,
        (None, Some(root)) => t.rows(
            &format!(
                "{SCOPE_CTE}SELECT id, request_hash FROM xdrs
                 WHERE call_id = $2 AND id_companies IN (SELECT id FROM scope) LIMIT 2"
            ),
            &[&root, &call_id],
        )?,
        (None, None) => t.rows(
            "SELECT id, request_hash FROM xdrs WHERE call_id = $1 LIMIT 2",
            &[&call_id],
        )?,
    };
    rows.iter()
        .map(|r| Ok((t.get(r, 0)?, t.get(r, 1)?)))
        .collect()
}

pub(super) fn client_company(t: &PgTx<'_>, id_clients: i64) -> Result<Option<i64>> {
    t.opt(
        "SELECT id_companies FROM clients WHERE id = $1",
        &[&id_clients],
    )?
    .map(|r| t.get(&r, 0))
    .transpose()
}

pub(super) fn exchange_rate(
    t: &PgTx<'_>,
    from: i64,
    to: i64,
    at: &str,
) -> Result<Option<(i64, Decimal, String)>> {
    t.opt(
        "SELECT id, rate, effective_from FROM exchange_rates
         WHERE id_currencies = $1 AND id_currencies_to = $2 AND effective_from <= $3
         ORDER BY effective_from DESC, id DESC LIMIT 1",
        &[&from, &to, &at],
    )?
    .map(|r| Ok((t.get(&r, 0)?, t.get(&r, 1)?, t.get(&r, 2)?)))
    .transpose()
}

pub(super) fn volume_usage(
    t: &PgTx<'_>,
    id_subscriptions: i64,
    run: i64,
    period: i64,
) -> Result<Vec<(i64, i64)>> {
    let rows = t.rows(
        "SELECT entry, used_seconds FROM subscription_usage
         WHERE id_subscriptions = $1 AND run = $2 AND period = $3 ORDER BY entry",
        &[&id_subscriptions, &run, &period],
    )?;
    rows.iter()
        .map(|r| Ok((t.get(r, 0)?, t.get(r, 1)?)))
        .collect()
}

pub(super) fn add_volume_usage(
    t: &PgTx<'_>,
    id_subscriptions: i64,
    run: i64,
    period: i64,
    entry: i64,
    seconds: i64,
) -> Result<()> {
    t.exec(
        "INSERT INTO subscription_usage (id_subscriptions, run, period, entry, used_seconds)
         VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT (id_subscriptions, run, period, entry)
         DO UPDATE SET used_seconds = subscription_usage.used_seconds + excluded.used_seconds",
        &[&id_subscriptions, &run, &period, &entry, &seconds],
    )?;
    Ok(())
}
