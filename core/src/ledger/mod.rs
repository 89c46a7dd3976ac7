//! The ledger: every change of a client's balance is one entry, and the balance always equals
//! the sum of the entries. Postings are the only code that moves a balance.

pub mod convert;
pub mod idempotency;
pub(crate) mod manual;

use crate::error::{Error, MoneyError, Result};
use crate::money;
use crate::store::{StoreTx, TransactionRow};
use rust_decimal::Decimal;

/// A balance change to record.
#[derive(Debug, Clone)]
pub struct Posting<'a> {
    /// The client.
    pub client: i64,
    /// Entry type: payment, charge, call, package_fee, refund, adjustment.
    pub kind: &'a str,
    /// Signed amount in the client's currency (+ raises the balance).
    pub amount: Decimal,
    /// When the amount was given in another currency: (amount, currency, rate).
    pub original: Option<(Decimal, i64, Decimal)>,
    /// When.
    pub dt: &'a str,
    /// Free text.
    pub notes: Option<&'a str>,
    /// User id, 0 for the system.
    pub author: i64,
    /// Caller's idempotency key.
    pub idempotency_key: Option<&'a str>,
    /// Hash of the request, to tell a replay from a conflict.
    pub request_hash: Option<&'a str>,
    /// What the entry is for.
    pub reference: Option<&'a str>,
}

/// A recorded posting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Posted {
    /// Ledger entry id.
    pub id: i64,
    /// Balance before.
    pub before: Decimal,
    /// Balance after.
    pub after: Decimal,
}

/// Record `p`: one ledger entry and the client's new balance, in the caller's transaction.
pub fn post(tx: &mut dyn StoreTx, p: &Posting<'_>) -> Result<Posted> {
    let (before, currency) = tx
        .client_balance(p.client)?
        .ok_or_else(|| Error::not_found(format!("client {}", p.client)))?;
    // Every entry and every balance stays inside the money limits, so each sum is exact.
    money::check_amount("amount", p.amount)?;
    let after = money::exact_add(before, p.amount)?;
    if money::check_amount("balance", after).is_err() {
        return Err(MoneyError::OutOfRange {
            field: "amount".into(),
            reason: format!(
                "the balance would become {after}, outside ±10^{}",
                crate::limits::amount_integer_digits_max
            ),
        }
        .into());
    }
    let id = tx.insert_transaction(&TransactionRow {
        id_clients: p.client,
        kind: p.kind,
        amount: p.amount,
        id_currencies: currency,
        orig_amount: p.original.map(|o| o.0),
        orig_id_currencies: p.original.map(|o| o.1),
        exchange_rate: p.original.map(|o| o.2),
        balance_after: after,
        dt: p.dt,
        notes: p.notes,
        author: p.author,
        idempotency_key: p.idempotency_key,
        request_hash: p.request_hash,
        reference: p.reference,
    })?;
    tx.set_client_balance(p.client, after)?;
    // The in-memory mirror follows the postings the transaction recorded, applied after
    // commit: no caller reports a balance change by hand.
    tx.note_posting(p.client, p.amount);
    // Balance crossings (DESIGN §9) go into the outbox in this same transaction.
    crate::outbox::balance_moved(tx, p.client, before, after, p.dt)?;
    debug_assert_eq!(money::exact_sub(after, p.amount).ok(), Some(before));
    Ok(Posted { id, before, after })
}

/// Check the ledger invariant for one client: its balance equals the sum of its entries.
pub fn verify_client(tx: &dyn StoreTx, client: i64) -> Result<bool> {
    let (balance, _) = tx
        .client_balance(client)?
        .ok_or_else(|| Error::not_found(format!("client {client}")))?;
    let sum = money::exact_sum(tx.ledger_amounts(client)?)?;
    Ok(sum == balance)
}

/// A stable hash of a request's content, for idempotency checks.
pub fn request_hash(parts: &[&str]) -> String {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    for p in parts {
        h.update((p.len() as u64).to_le_bytes());
        h.update(p.as_bytes());
    }
    hex::encode(h.finalize())
}
