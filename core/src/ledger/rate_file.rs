//! Pure rating (`Engine::rate`): what a call would cost, by the same plan and formula as
//! `settle`, without a reservation, an xDR or a ledger entry. The CLI's `tollgate rate`
//! rates files of calls through it; it reads only the engine's in-memory state, never the
//! database, so one call costs a few hash lookups and the formula.

use crate::error::{Result, ValidationError};
use crate::limits;
use crate::money::Rounding;
use crate::rating::{self, RateTerms};
use chrono::{DateTime, Utc};
use rust_decimal::Decimal;

/// A call to rate.
#[derive(Debug, Clone, Copy)]
pub struct RateRequest<'a> {
    /// The account identifier (IP, login, ANI or tech prefix).
    pub account: &'a str,
    /// Which kind of identifier; `None` tries ip, login, ani, tech_prefix in that order.
    pub auth_type: Option<&'a str>,
    /// Called number.
    pub destination: &'a str,
    /// Call start: picks the rates effective then.
    pub connect_time: DateTime<Utc>,
    /// Duration in seconds.
    pub duration: u64,
}

/// A rated call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rated {
    /// Account.
    pub account: i64,
    /// Client.
    pub client: i64,
    /// Matched code (longest prefix).
    pub code: String,
    /// Its name.
    pub code_name: String,
    /// Price per minute in the client's currency (converted at the current exchange rate).
    pub rate: Decimal,
    /// Setup fee in the client's currency.
    pub setup_fee: Decimal,
    /// Billed seconds.
    pub billed_seconds: u64,
    /// Cost in the client's currency, rounded to its details precision by the table's mode.
    pub cost: Decimal,
    /// The client's currency.
    pub currency: i64,
}

/// The priced plan of one call (everything but its duration).
#[derive(Debug, Clone)]
pub(crate) struct Quote {
    pub(crate) account: i64,
    pub(crate) client: i64,
    pub(crate) code: String,
    pub(crate) code_name: String,
    pub(crate) terms: RateTerms,
    pub(crate) precision: u32,
    pub(crate) rounding: Rounding,
    pub(crate) currency: i64,
}

/// Rate one call; refusals carry the codes `settle` would give (`account.not_found`,
/// `rating.no_rate`, `money.no_exchange_rate`, `validation.*`).
pub(crate) fn rate(
    charging: &crate::ledger::charging::Charging,
    req: &RateRequest<'_>,
    now: DateTime<Utc>,
) -> Result<Rated> {
    if req.duration > limits::call_duration_seconds_max {
        return Err(ValidationError::OutOfRange {
            field: "duration".into(),
            reason: format!("at most {} seconds", limits::call_duration_seconds_max),
        }
        .into());
    }
    let q = charging.quote(
        req.account,
        req.auth_type,
        req.destination,
        req.connect_time,
        now,
    )?;
    let billed_seconds = rating::billed_seconds(&q.terms, req.duration);
    let cost = rating::cost(&q.terms, req.duration, q.precision, q.rounding)?;
    Ok(Rated {
        account: q.account,
        client: q.client,
        code: q.code,
        code_name: q.code_name,
        rate: q.terms.rate,
        setup_fee: q.terms.setup_fee,
        billed_seconds,
        cost,
        currency: q.currency,
    })
}
