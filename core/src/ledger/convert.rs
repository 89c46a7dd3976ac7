//! Currency conversion: one rule for every amount booked in a currency other than the one
//! it was given in (payments, package fees), and for `currencies.convert`.

use crate::error::{MoneyError, Result};
use crate::limits;
use crate::model::{Val, CURRENCIES};
use crate::money::{self, Rounding};
use crate::store::StoreTx;
use rust_decimal::Decimal;

/// The result of converting an amount between currencies.
#[derive(Debug, Clone, PartialEq)]
pub struct Conversion {
    /// Converted amount: the exact product (or quotient, through an inverse rate) rounded
    /// once, half up, to the target currency's details precision — the conversion rule.
    pub amount: Decimal,
    /// Rate applied (`1 from = rate to`); through an inverse, `1 / r` to 28 significant
    /// digits, for display (the amount is divided by `r` exactly, not multiplied by this).
    pub rate: Decimal,
    /// Exchange rate row used.
    pub rate_id: Option<i64>,
    /// When that rate took effect.
    pub effective_from: Option<String>,
}

/// The details precision of a currency (`limits::currency_details_precision_default` when the
/// row has none).
pub(crate) fn details_precision(tx: &dyn StoreTx, currency: i64) -> Result<u32> {
    Ok(tx
        .get(&CURRENCIES, currency, None)?
        .and_then(|r| r.get("details_precision").and_then(Val::as_int))
        .and_then(|p| u32::try_from(p).ok())
        .unwrap_or(limits::currency_details_precision_default as u32))
}

/// Convert `amount` from one currency to another at the rate in force at `at`. Uses the
/// direct rate, else the inverse of the opposite rate. The result is rounded once, half up,
/// to the target currency's details precision, from the exact product (or quotient); a
/// result outside the amount limits is `money.out_of_range`.
pub fn convert(
    tx: &dyn StoreTx,
    amount: Decimal,
    from: i64,
    to: i64,
    at: &str,
) -> Result<Conversion> {
    if from == to {
        return Ok(Conversion {
            amount,
            rate: Decimal::ONE,
            rate_id: None,
            effective_from: None,
        });
    }
    let precision = details_precision(tx, to)?;
    let (id, rate, dt, converted) = match tx.exchange_rate(from, to, at)? {
        Some((id, r, dt)) => (
            id,
            r,
            dt,
            money::mul_round(amount, r, precision, Rounding::HalfUp)?,
        ),
        None => match tx.exchange_rate(to, from, at)? {
            Some((id, r, dt)) => (
                id,
                money::inverse_rate(r)?,
                dt,
                money::div_round(amount, r, precision, Rounding::HalfUp)?,
            ),
            None => {
                let code = |id: i64| -> String {
                    tx.get(&CURRENCIES, id, None)
                        .ok()
                        .flatten()
                        .and_then(|c| c.get("code").and_then(Val::as_text).map(str::to_string))
                        .unwrap_or_else(|| id.to_string())
                };
                return Err(MoneyError::NoExchangeRate {
                    from: code(from),
                    to: code(to),
                }
                .into());
            }
        },
    };
    Ok(Conversion {
        amount: money::check_amount("amount", converted)?,
        rate,
        rate_id: Some(id),
        effective_from: Some(dt),
    })
}
