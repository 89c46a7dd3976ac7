//! Entries an operator books by hand (payments, charges, refunds, adjustments): their sign
//! rules, their currency, their idempotency key and the funds check, decided here and posted
//! through [`super::post`].

use super::idempotency::{self, Seen};
use super::{convert, post, request_hash, Posting};
use crate::error::{ChargeError, Result, ValidationError};
use crate::money;
use crate::store::StoreTx;
use rust_decimal::Decimal;

/// Types a caller may book (calls and package fees are posted by the engine).
pub const MANUAL_TYPES: &[&str] = &["payment", "charge", "refund", "adjustment"];

/// A manual entry as asked.
#[derive(Debug, Clone)]
pub(crate) struct Manual<'a> {
    pub client: i64,
    pub client_currency: i64,
    pub kind: &'a str,
    /// The amount as given, in `currency`.
    pub given: Decimal,
    pub currency: i64,
    pub notes: Option<&'a str>,
    pub reference: Option<&'a str>,
    pub key: Option<&'a str>,
    pub author: i64,
    pub now: &'a str,
    /// What the client may spend now (balance + credit − held), for the funds check of a
    /// debit; `None` books it whatever the funds (`force`).
    pub available: Option<Decimal>,
}

/// Book `m`: the ledger entry's id, and whether it is a replay of an earlier request with the
/// same key (then nothing was booked).
pub(crate) fn book(tx: &mut dyn StoreTx, m: &Manual<'_>) -> Result<(i64, bool)> {
    let hash = request_hash(&[
        &m.client.to_string(),
        m.kind,
        &m.given.normalize().to_string(),
        &m.currency.to_string(),
        m.notes.unwrap_or(""),
        m.reference.unwrap_or(""),
    ]);
    if let Some(k) = m.key {
        let found = tx.transaction_by_key(m.client, k)?;
        let conflict = || format!("idempotency_key {k:?} was used for a different transaction");
        if let Seen::Replay(id) = idempotency::decide(found, Some(&hash), conflict)? {
            return Ok((id, true));
        }
    }
    if m.given.is_zero() {
        return Err(ValidationError::OutOfRange {
            field: "amount".into(),
            reason: "must not be zero".into(),
        }
        .into());
    }
    money::check_scale(
        "amount",
        m.given,
        convert::details_precision(tx, m.currency)?,
    )?;
    let signed = signed(m.kind, m.given)?;
    let (amount, original) = if m.currency == m.client_currency {
        (signed, None)
    } else {
        // Rounded once, half up, to the client currency's details precision (the rule).
        let conv = convert::convert(tx, signed, m.currency, m.client_currency, m.now)?;
        (conv.amount, Some((signed, m.currency, conv.rate)))
    };
    if let (true, Some(available)) = (amount.is_sign_negative(), m.available) {
        if money::exact_add(available, amount)? < Decimal::ZERO {
            return Err(ChargeError::BalanceInsufficient(format!(
                "the charge of {} exceeds the available funds {available} (balance + credit - held); pass force to override",
                -amount
            ))
            .into());
        }
    }
    let posted = post(
        tx,
        &Posting {
            client: m.client,
            kind: m.kind,
            amount,
            original,
            dt: m.now,
            notes: m.notes,
            author: m.author,
            idempotency_key: m.key,
            request_hash: Some(&hash),
            reference: m.reference,
        },
    )?;
    Ok((posted.id, false))
}

/// The signed amount of an entry: payments and refunds raise the balance (and must be given
/// positive); a charge lowers it, written positive or, as JeraSoft lists them, negative.
fn signed(kind: &str, given: Decimal) -> Result<Decimal> {
    Ok(match kind {
        "payment" | "refund" if given.is_sign_negative() => {
            return Err(ValidationError::OutOfRange {
                field: "amount".into(),
                reason: format!("a {kind} is positive"),
            }
            .into())
        }
        "payment" | "refund" => given,
        "charge" => -given.abs(),
        _ => given,
    })
}
