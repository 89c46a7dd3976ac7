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
    charging: &crate::charging::Charging,
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

/// Input columns of a calls file (any order, more columns are copied through).
pub const CALLS_COLUMNS: [&str; 5] = [
    "call_id",
    "account",
    "destination",
    "connect_time",
    "duration",
];

/// Columns appended to each row of a rated file.
pub const RATED_COLUMNS: [&str; 6] = [
    "code",
    "code_name",
    "billed_seconds",
    "cost",
    "currency",
    "error",
];

/// What [`rate_csv`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RateSummary {
    /// Data rows read.
    pub rows: u64,
    /// Rows rated.
    pub rated: u64,
    /// Rows that carry an error instead of a cost.
    pub errors: u64,
}

/// What rating a file needs of an engine.
pub(crate) struct Rater<'a> {
    pub(crate) charging: &'a crate::charging::Charging,
    pub(crate) store: &'a dyn crate::store::Store,
    pub(crate) now: chrono::DateTime<chrono::Utc>,
}

/// Currency codes by id (read once per rated file, never per call).
fn currency_codes(
    store: &dyn crate::store::Store,
) -> Result<std::collections::HashMap<i64, String>> {
    use crate::model::{Val, CURRENCIES};
    let q = crate::store::ListQuery::everything(Vec::new());
    crate::store::run(store, crate::store::TxKind::Read, |tx| {
        Ok(tx
            .list(&CURRENCIES, &q)?
            .0
            .iter()
            .filter_map(|c| {
                let id = c.get("id").and_then(Val::as_int)?;
                let code = c.get("code").and_then(Val::as_text)?;
                Some((id, code.to_string()))
            })
            .collect())
    })
}

fn io_error(e: impl std::fmt::Display) -> crate::Error {
    crate::error::StoreError::io(e.to_string()).into()
}

/// Rate a CSV file of calls (`call_id,account,destination,connect_time,duration` with a
/// header; `account` is the account's identifier) into a rated CSV: every input column, then
/// [`RATED_COLUMNS`]. Streams both files; a row that cannot be rated keeps empty results and
/// says why in `error` (`code: message`), and the rest go on. Charges nothing. A malformed
/// file (no header, a missing column, broken CSV) is `validation.*` naming the line.
// Long: the header check, then the streaming row loop whose reader and writer state is local.
pub(crate) fn rate_csv(
    engine: &Rater<'_>,
    input: impl std::io::Read,
    output: impl std::io::Write,
) -> Result<RateSummary> {
    let currencies = currency_codes(engine.store)?;
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .trim(csv::Trim::All)
        .from_reader(input);
    let mut writer = csv::WriterBuilder::new()
        .buffer_capacity(64 * 1024)
        .from_writer(output);
    let mut record = csv::StringRecord::new();
    let bad = |line: u64, reason: String| -> crate::Error {
        ValidationError::invalid(format!("line {line}"), reason).into()
    };
    if !reader
        .read_record(&mut record)
        .map_err(|e| bad(1, e.to_string()))?
    {
        return Err(bad(1, "empty file: a header row is required".into()));
    }
    let mut at = [0usize; 5];
    for (slot, name) in at.iter_mut().zip(CALLS_COLUMNS) {
        *slot = record
            .iter()
            .position(|h| h.eq_ignore_ascii_case(name))
            .ok_or_else(|| bad(1, format!("the header has no '{name}' column")))?;
    }
    let width = record.len();
    writer
        .write_record(record.iter().chain(RATED_COLUMNS))
        .map_err(io_error)?;
    let mut summary = RateSummary::default();
    // Reused buffers: one row costs no allocation here beyond what rating returns.
    let (mut billed, mut cost, mut error) = (String::new(), String::new(), String::new());
    let mut line = 1u64;
    while reader
        .read_record(&mut record)
        .map_err(|e| bad(line + 1, e.to_string()))?
    {
        line = record.position().map_or(line + 1, |p| p.line());
        summary.rows += 1;
        billed.clear();
        cost.clear();
        error.clear();
        let rated = if record.len() != width {
            Err(format!(
                "validation.invalid: {} columns, the header has {width}",
                record.len()
            ))
        } else {
            rate_row(engine, &record, &at)
        };
        let (code, name, currency) = match &rated {
            Ok(r) => {
                use std::fmt::Write as _;
                let _ = write!(billed, "{}", r.billed_seconds);
                let _ = write!(cost, "{}", r.cost);
                let currency = currencies.get(&r.currency).map_or("", String::as_str);
                (r.code.as_str(), r.code_name.as_str(), currency)
            }
            Err(e) => {
                error.push_str(e);
                ("", "", "")
            }
        };
        if rated.is_ok() {
            summary.rated += 1;
        } else {
            summary.errors += 1;
        }
        for field in record.iter() {
            writer.write_field(field).map_err(io_error)?;
        }
        for field in [code, name, &billed, &cost, currency, &error] {
            writer.write_field(field).map_err(io_error)?;
        }
        writer.write_record(None::<&[u8]>).map_err(io_error)?;
    }
    writer.flush().map_err(io_error)?;
    Ok(summary)
}

fn rate_row(
    engine: &Rater<'_>,
    record: &csv::StringRecord,
    at: &[usize; 5],
) -> std::result::Result<Rated, String> {
    let field = |i: usize| record.get(at[i]).unwrap_or("");
    // The usual spelling first (one parse instead of parse_dt's chain of attempts).
    let connect_time = chrono::NaiveDateTime::parse_from_str(field(3), "%Y-%m-%d %H:%M:%S")
        .map(|t| t.and_utc())
        .ok()
        .or_else(|| crate::clock::parse_dt(field(3)))
        .ok_or_else(|| {
            "validation.invalid: connect_time must be YYYY-MM-DD HH:MM:SS".to_string()
        })?;
    let duration: u64 = field(4)
        .parse()
        .map_err(|_| "validation.invalid: duration must be whole seconds".to_string())?;
    let req = RateRequest {
        account: field(1),
        auth_type: None,
        destination: field(2),
        connect_time,
        duration,
    };
    rate(engine.charging, &req, engine.now).map_err(|e| format!("{}: {}", e.code(), e))
}
