//! The billing cycle: what an invoice is built from, which xDRs and entries it covered, the
//! per-company number sequence and overlapping invoices.

use super::super::InvoiceSources;
use crate::error::{Result, StoreError};
use rusqlite::{params, Connection, OptionalExtension};
use rust_decimal::Decimal;
use std::str::FromStr;

fn dec(what: &str, text: &str) -> Result<Decimal> {
    Decimal::from_str(text).map_err(|e| {
        StoreError::io_caused_by(format!("{what} holds a bad amount {text:?}"), e).into()
    })
}

/// The xDRs an invoice of `[?2, ?3)` takes: the client's uninvoiced ones that started in the
/// period, and late ones of a period an issued invoice already covers (they go on this one).
const XDR_WHERE: &str = "x.id_clients = ?1 AND x.id_invoices IS NULL AND x.connect_time < ?3
     AND (x.connect_time >= ?2 OR EXISTS (SELECT 1 FROM invoices i WHERE i.id_clients = x.id_clients
          AND i.status = 'issued' AND i.dt_from <= x.connect_time AND x.connect_time < i.dt_till))";

/// The same for ledger entries other than calls, payments and tax, by `dt`. The adjustment
/// of a re-rated xDR that no invoice had yet is left out: the xDR's new cost is on the
/// invoice already (a re-rated invoiced xDR posts a `credit_note`/`debit_note` instead).
const ENTRY_WHERE: &str = "x.id_clients = ?1 AND x.id_invoices IS NULL AND x.dt < ?3
     AND x.type NOT IN ('call', 'payment', 'tax')
     AND NOT (x.type = 'adjustment'
              AND EXISTS (SELECT 1 FROM xdr_history h WHERE h.id_transactions = x.id))
     AND (x.dt >= ?2 OR EXISTS (SELECT 1 FROM invoices i WHERE i.id_clients = x.id_clients
          AND i.status = 'issued' AND i.dt_from <= x.dt AND x.dt < i.dt_till))";

pub(super) fn invoice_sources(
    conn: &Connection,
    client: i64,
    from: &str,
    till: &str,
) -> Result<InvoiceSources> {
    let mut out = InvoiceSources::default();
    let sql = format!(
        "SELECT x.code_name, x.billed_seconds, x.cost FROM xdrs x WHERE {XDR_WHERE} ORDER BY x.id"
    );
    let mut stmt = conn.prepare_cached(&sql)?;
    let rows = stmt.query_map(params![client, from, till], |r| {
        Ok((
            r.get::<_, Option<String>>(0)?,
            r.get::<_, i64>(1)?,
            r.get::<_, String>(2)?,
        ))
    })?;
    for row in rows {
        let (name, billed, cost) = row?;
        out.calls.push((name, billed, dec("xdrs.cost", &cost)?));
    }
    let sql =
        format!("SELECT x.type, x.amount FROM transactions x WHERE {ENTRY_WHERE} ORDER BY x.id");
    let mut stmt = conn.prepare_cached(&sql)?;
    let rows = stmt.query_map(params![client, from, till], |r| {
        Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))
    })?;
    for row in rows {
        let (kind, amount) = row?;
        out.entries
            .push((kind, dec("transactions.amount", &amount)?));
    }
    let mut stmt = conn.prepare_cached(
        "SELECT amount FROM transactions WHERE id_clients = ?1 AND type = 'payment'
         AND dt >= ?2 AND dt < ?3 ORDER BY id",
    )?;
    let rows = stmt.query_map(params![client, from, till], |r| r.get::<_, String>(0))?;
    for row in rows {
        out.payments.push(dec("transactions.amount", &row?)?);
    }
    Ok(out)
}

pub(super) fn claim_for_invoice(
    conn: &Connection,
    client: i64,
    from: &str,
    till: &str,
    invoice: i64,
) -> Result<()> {
    // The same conditions as `invoice_sources`, in the same transaction: the same rows.
    let sql = format!("UPDATE xdrs AS x SET id_invoices = ?4 WHERE {XDR_WHERE}");
    conn.prepare_cached(&sql)?
        .execute(params![client, from, till, invoice])?;
    let sql = format!("UPDATE transactions AS x SET id_invoices = ?4 WHERE {ENTRY_WHERE}");
    conn.prepare_cached(&sql)?
        .execute(params![client, from, till, invoice])?;
    Ok(())
}

pub(super) fn release_invoice(conn: &Connection, invoice: i64) -> Result<()> {
    conn.prepare_cached("UPDATE xdrs SET id_invoices = NULL WHERE id_invoices = ?1")?
        .execute(params![invoice])?;
    conn.prepare_cached("UPDATE transactions SET id_invoices = NULL WHERE id_invoices = ?1")?
        .execute(params![invoice])?;
    Ok(())
}

pub(super) fn next_invoice_sequence(conn: &Connection, company: i64) -> Result<i64> {
    // Never decremented (a void keeps its number), so a number is never reused.
    Ok(conn
        .prepare_cached(
            "INSERT INTO invoice_sequences (id_companies, last) VALUES (?1, 1)
             ON CONFLICT(id_companies) DO UPDATE SET last = last + 1 RETURNING last",
        )?
        .query_row(params![company], |r| r.get(0))?)
}

pub(super) fn overlapping_invoice(
    conn: &Connection,
    client: i64,
    from: &str,
    till: &str,
) -> Result<Option<String>> {
    Ok(conn
        .prepare_cached(
            "SELECT number FROM invoices WHERE id_clients = ?1 AND status = 'issued'
             AND dt_from < ?3 AND dt_till > ?2 ORDER BY id LIMIT 1",
        )?
        .query_row(params![client, from, till], |r| r.get(0))
        .optional()?)
}

pub(super) fn ledger_amounts_before(
    conn: &Connection,
    client: i64,
    before: &str,
) -> Result<Vec<Decimal>> {
    let mut stmt = conn.prepare_cached(
        "SELECT amount FROM transactions WHERE id_clients = ?1 AND dt < ?2 ORDER BY id",
    )?;
    let rows = stmt.query_map(params![client, before], |r| r.get::<_, String>(0))?;
    let mut out = Vec::new();
    for row in rows {
        out.push(dec("transactions.amount", &row?)?);
    }
    Ok(out)
}
