//! The billing cycle for PostgreSQL: what an invoice is built from, which xDRs and entries
//! it covered, the per-company number sequence and overlapping invoices.

use super::super::InvoiceSources;
use super::tx::{Args, PgTx};
use crate::error::Result;
use rust_decimal::Decimal;

/// The xDRs an invoice of `[$2, $3)` takes (see the SQLite store for the rule).
const XDR_WHERE: &str = "x.id_clients = $1 AND x.id_invoices IS NULL AND x.connect_time < $3
     AND (x.connect_time >= $2 OR EXISTS (SELECT 1 FROM invoices i WHERE i.id_clients = x.id_clients
          AND i.status = 'issued' AND i.dt_from <= x.connect_time AND x.connect_time < i.dt_till))";

/// The same for ledger entries other than calls, payments and tax, by `dt` (a re-rated
/// uninvoiced xDR's adjustment is left out, as on SQLite).
const ENTRY_WHERE: &str = "x.id_clients = $1 AND x.id_invoices IS NULL AND x.dt < $3
     AND x.type NOT IN ('call', 'payment', 'tax')
     AND NOT (x.type = 'adjustment'
              AND EXISTS (SELECT 1 FROM xdr_history h WHERE h.id_transactions = x.id))
     AND (x.dt >= $2 OR EXISTS (SELECT 1 FROM invoices i WHERE i.id_clients = x.id_clients
          AND i.status = 'issued' AND i.dt_from <= x.dt AND x.dt < i.dt_till))";

pub(super) fn invoice_sources(
    t: &PgTx<'_>,
    client: i64,
    from: &str,
    till: &str,
) -> Result<InvoiceSources> {
    let mut out = InvoiceSources::default();
    let args: Args<'_> = &[&client, &from, &till];
    for r in t.rows(
        &format!(
            "SELECT x.code_name, x.billed_seconds, x.cost FROM xdrs x WHERE {XDR_WHERE} ORDER BY x.id"
        ),
        args,
    )? {
        out.calls
            .push((t.get(&r, 0)?, t.get(&r, 1)?, t.get(&r, 2)?));
    }
    for r in t.rows(
        &format!("SELECT x.type, x.amount FROM transactions x WHERE {ENTRY_WHERE} ORDER BY x.id"),
        args,
    )? {
        out.entries.push((t.get(&r, 0)?, t.get(&r, 1)?));
    }
    let rows = t.rows(
        "SELECT amount FROM transactions WHERE id_clients = $1 AND type = 'payment'
         AND dt >= $2 AND dt < $3 ORDER BY id",
        args,
    )?;
    out.payments = t.decimals(&rows)?;
    Ok(out)
}

pub(super) fn claim_for_invoice(
    t: &PgTx<'_>,
    client: i64,
    from: &str,
    till: &str,
    invoice: i64,
) -> Result<()> {
    // The same conditions as `invoice_sources`, in the same transaction: the same rows.
    let args: Args<'_> = &[&client, &from, &till, &invoice];
    t.exec(
        &format!("UPDATE xdrs AS x SET id_invoices = $4 WHERE {XDR_WHERE}"),
        args,
    )?;
    t.exec(
        &format!("UPDATE transactions AS x SET id_invoices = $4 WHERE {ENTRY_WHERE}"),
        args,
    )?;
    Ok(())
}

pub(super) fn release_invoice(t: &PgTx<'_>, invoice: i64) -> Result<()> {
    t.exec(
        "UPDATE xdrs SET id_invoices = NULL WHERE id_invoices = $1",
        &[&invoice],
    )?;
    t.exec(
        "UPDATE transactions SET id_invoices = NULL WHERE id_invoices = $1",
        &[&invoice],
    )?;
    Ok(())
}

pub(super) fn next_invoice_sequence(t: &PgTx<'_>, company: i64) -> Result<i64> {
    // Never decremented (a void keeps its number), so a number is never reused.
    let row = t.one(
        "INSERT INTO invoice_sequences (id_companies, last) VALUES ($1, 1)
         ON CONFLICT (id_companies) DO UPDATE SET last = invoice_sequences.last + 1 RETURNING last",
        &[&company],
    )?;
    t.get(&row, 0)
}

pub(super) fn overlapping_invoice(
    t: &PgTx<'_>,
    client: i64,
    from: &str,
    till: &str,
) -> Result<Option<String>> {
    t.opt(
        "SELECT number FROM invoices WHERE id_clients = $1 AND status = 'issued'
         AND dt_from < $3 AND dt_till > $2 ORDER BY id LIMIT 1",
        &[&client, &from, &till],
    )?
    .map(|r| t.get(&r, 0))
    .transpose()
}

pub(super) fn ledger_amounts_before(
    t: &PgTx<'_>,
    client: i64,
    before: &str,
) -> Result<Vec<Decimal>> {
    let rows = t.rows(
        "SELECT amount FROM transactions WHERE id_clients = $1 AND dt < $2 ORDER BY id",
        &[&client, &before],
    )?;
    t.decimals(&rows)
}
