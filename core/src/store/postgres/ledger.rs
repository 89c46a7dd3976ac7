//! Balances, ledger entries and their idempotency keys, xDR lookups by call id, exchange
//! rates and included-volume usage, for PostgreSQL.

use super::super::TransactionRow;
use super::behind::{Entry, Op};
use super::tx::{PgTx, SCOPE_CTE};
use super::val::PgDec;
use crate::error::Result;
use rust_decimal::Decimal;

/// A balance this transaction read or wrote is answered from memory (every change of it in
/// the transaction goes through `set_client_balance`); nothing kept back changes the row.
pub(super) fn client_balance(t: &PgTx<'_>, id_clients: i64) -> Result<Option<(Decimal, i64)>> {
    if let Some(b) = t.behind.borrow().balances.get(&id_clients) {
        return Ok(Some(*b));
    }
    let found = t
        .raw_opt(
            "SELECT balance, id_currencies FROM clients WHERE id = $1",
            &[&id_clients],
        )?
        .map(|r| Ok::<_, crate::error::Error>((t.get(&r, 0)?, t.get(&r, 1)?)))
        .transpose()?;
    if let Some(b) = found {
        t.behind.borrow_mut().balances.insert(id_clients, b);
    }
    Ok(found)
}

/// Kept back when the balance was read in this transaction (as `ledger::post` does).
pub(super) fn set_client_balance(t: &PgTx<'_>, id_clients: i64, balance: Decimal) -> Result<()> {
    let known = {
        let mut b = t.behind.borrow_mut();
        match b.balances.get_mut(&id_clients) {
            Some(slot) => {
                slot.0 = balance;
                true
            }
            None => false,
        }
    };
    if known {
        return t.keep(Op::Balance {
            client: id_clients,
            balance,
        });
    }
    t.exec(
        "UPDATE clients SET balance = $2 WHERE id = $1",
        &[&id_clients, &PgDec(balance)],
    )?;
    Ok(())
}

/// An entry without an idempotency key is kept back: no unique index can refuse it. One with
/// a key is written now, so a duplicate is refused where it is made.
pub(super) fn insert_transaction(t: &PgTx<'_>, row: &TransactionRow<'_>) -> Result<i64> {
    if row.idempotency_key.is_none() {
        let id = t.next_id("transactions")?;
        t.keep(Op::Entry(Entry {
            id,
            id_clients: row.id_clients,
            kind: row.kind.to_string(),
            amount: row.amount,
            id_currencies: row.id_currencies,
            orig_amount: row.orig_amount,
            orig_id_currencies: row.orig_id_currencies,
            exchange_rate: row.exchange_rate,
            balance_after: row.balance_after,
            dt: row.dt.to_string(),
            notes: row.notes.map(str::to_string),
            author: row.author,
            request_hash: row.request_hash.map(str::to_string),
            reference: row.reference.map(str::to_string),
        }))?;
        return Ok(id);
    }
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
    if company.is_some_and(|c| t.behind.borrow().surely_unsettled(c, call_id)) {
        return Ok(Vec::new());
    }
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

/// Read up front what a batch of settles will ask: which of its (company, call id) pairs
/// have an xDR already, and its clients' balances.
pub(super) fn prefetch_settles(t: &PgTx<'_>, calls: &[(i64, &str)], clients: &[i64]) -> Result<()> {
    if !calls.is_empty() {
        let companies: Vec<i64> = calls.iter().map(|c| c.0).collect();
        let ids: Vec<&str> = calls.iter().map(|c| c.1).collect();
        let found = t.rows(
            // One index probe per pair, whatever plan the prepared statement settles on (a
            // plain join's generic plan may hash the whole table).
            "SELECT k.company, k.call_id FROM UNNEST($1::bigint[], $2::text[]) AS k(company, call_id)
             CROSS JOIN LATERAL (SELECT 1 FROM xdrs x
                                 WHERE x.id_companies = k.company AND x.call_id = k.call_id LIMIT 1) AS hit",
            &[&companies, &ids],
        )?;
        let found = found
            .iter()
            .map(|r| Ok((t.get::<i64>(r, 0)?, t.get::<String>(r, 1)?)))
            .collect::<Result<Vec<_>>>()?;
        let mut b = t.behind.borrow_mut();
        b.prefetched
            .extend(calls.iter().map(|(c, id)| (*c, (*id).to_string())));
        b.present.extend(found);
    }
    let wanted: Vec<i64> = {
        let b = t.behind.borrow();
        clients
            .iter()
            .copied()
            .filter(|c| !b.balances.contains_key(c))
            .collect()
    };
    if !wanted.is_empty() {
        let rows = t.rows(
            "SELECT id, balance, id_currencies FROM clients WHERE id = ANY($1)",
            &[&wanted],
        )?;
        for r in &rows {
            let (id, balance, currency): (i64, Decimal, i64) =
                (t.get(r, 0)?, t.get(r, 1)?, t.get(r, 2)?);
            t.behind
                .borrow_mut()
                .balances
                .insert(id, (balance, currency));
        }
    }
    Ok(())
}
