//! Packages and subscriptions: periods (ISO 8601 durations, months end-aligned), activation,
//! renewal, deactivation and closing. Every fee is a ledger entry whose idempotency key names
//! the subscription and the period, so no period is ever charged twice — not by a repeated
//! tick, not by a tick replayed after a crash.

use crate::clock;
use crate::error::{Error, Result, ValidationError};
use crate::ledger::{self, Posting};
use crate::model::{Record, Val, CLIENTS, PACKAGES, SUBSCRIPTIONS};
use crate::money;
use crate::store::{ListQuery, StoreTx};
use chrono::{DateTime, Duration, Months, Utc};
use rust_decimal::Decimal;

/// A billing period.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Period {
    /// A number of days (`P1D`, `P7D`, `P2W` = 14 days).
    Days(u32),
    /// A number of months (`P1M`, `P3M`, `P1Y` = 12 months), end-aligned.
    Months(u32),
}

impl Period {
    /// Parse `P<n>D`, `P<n>W`, `P<n>M` or `P<n>Y` (n from 1 to 999).
    pub fn parse(text: &str) -> Option<Period> {
        let body = text.strip_prefix('P')?;
        let unit = body.chars().last()?;
        let n: u32 = body[..body.len() - 1]
            .parse()
            .ok()
            .filter(|n| (1..=999).contains(n))?;
        match unit {
            'D' => Some(Period::Days(n)),
            'W' => Some(Period::Days(n * 7)),
            'M' => Some(Period::Months(n)),
            'Y' => Some(Period::Months(n * 12)),
            _ => None,
        }
    }

    /// The end of the `n`-th period after `anchor` (n = 1: the first renewal). Months count
    /// from the anchor each time, so a plan started on 31 January renews on the last day of
    /// February, then on 31 March.
    pub fn boundary(self, anchor: DateTime<Utc>, n: u32) -> Option<DateTime<Utc>> {
        match self {
            Period::Days(d) => {
                anchor.checked_add_signed(Duration::days(i64::from(d) * i64::from(n)))
            }
            Period::Months(m) => anchor.checked_add_months(Months::new(m.checked_mul(n)?)),
        }
    }
}

/// What a tick did to subscriptions.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SubscriptionTick {
    /// Pending subscriptions activated.
    pub activated: usize,
    /// Periods renewed (charged).
    pub renewed: usize,
    /// Subscriptions deactivated for lack of funds.
    pub deactivated: usize,
    /// Subscriptions closed at their period end.
    pub closed: usize,
}

use crate::model::{dec, text};

/// An id column (0 when unset: ids are positive).
fn int(r: &Record, k: &str) -> i64 {
    crate::model::int(r, k).unwrap_or_default()
}

fn period_of(pkg: &Record) -> Result<Period> {
    Period::parse(text(pkg, "period"))
        .ok_or_else(|| Error::Internal(format!("package {} has a bad period", int(pkg, "id"))))
}

/// The cost of one fee for a subscription, in the client's currency (quantity included).
fn fee(tx: &dyn StoreTx, sub: &Record, pkg: &Record, field: &str, at: &str) -> Result<Decimal> {
    let qty = Decimal::from(int(sub, "quantity").max(1));
    let amount = money::exact_mul(dec(pkg, field), qty)?;
    let client = tx
        .get(&CLIENTS, int(sub, "id_clients"), None)?
        .ok_or_else(|| Error::not_found("client"))?;
    let (from, to) = (int(pkg, "id_currencies"), int(&client, "id_currencies"));
    Ok(crate::ledger::convert::convert(tx, amount, from, to, at)?.amount)
}

fn charge(
    tx: &mut dyn StoreTx,
    sub: &Record,
    amount: Decimal,
    key: &str,
    now: &str,
) -> Result<bool> {
    if tx
        .transaction_by_key(int(sub, "id_clients"), key)?
        .is_some()
    {
        // Charged before (a repeated tick, or one replayed after a crash): never again.
        return Ok(false);
    }
    if amount.is_zero() {
        return Ok(true);
    }
    let client = int(sub, "id_clients");
    let reference = format!("subscription:{}", int(sub, "id"));
    ledger::post(
        tx,
        &Posting {
            client,
            kind: "package_fee",
            amount: -amount,
            original: None,
            dt: now,
            notes: Some(key),
            author: 0,
            idempotency_key: Some(key),
            request_hash: None,
            reference: Some(&reference),
        },
    )?;
    Ok(true)
}

fn set(tx: &mut dyn StoreTx, id: i64, changes: &[(&'static str, Val)]) -> Result<()> {
    let rec: Record = changes.iter().cloned().collect();
    tx.update(&SUBSCRIPTIONS, id, &rec)
}

/// Activate a pending (or inactive) subscription: charge the activation fee (first time only)
/// and the first period, when the available funds cover both. `available` is the client's
/// balance + credit - held now. Returns `Err(balance.insufficient)` with the amounts otherwise.
// Long: the activation steps (fees, period, status, event) in their order.
pub(crate) fn activate(
    tx: &mut dyn StoreTx,
    id: i64,
    now: DateTime<Utc>,
    available: Decimal,
) -> Result<Record> {
    let sub = tx
        .get(&SUBSCRIPTIONS, id, None)?
        .ok_or_else(|| Error::not_found(format!("subscription {id}")))?;
    let status = text(&sub, "status");
    if status != "pending" && status != "inactive" {
        return Err(ValidationError::invalid(
            "id",
            format!("subscription {id} is {status}; only pending or inactive ones activate"),
        )
        .into());
    }
    let pkg = tx
        .get(&PACKAGES, int(&sub, "id_packages"), None)?
        .ok_or_else(|| Error::not_found("package"))?;
    let now_s = clock::format_dt(now);
    let first_time = status == "pending";
    let activation = if first_time {
        fee(tx, &sub, &pkg, "activation_fee", &now_s)?
    } else {
        Decimal::ZERO
    };
    let periodical = fee(tx, &sub, &pkg, "periodical_fee", &now_s)?;
    let total = money::exact_add(activation, periodical)?;
    if total > available {
        let reason = format!("needs {total} (activation {activation} + first period {periodical}), available {available}");
        // It stays as it is, with the reason on record.
        set(tx, id, &[("reason", Val::Text(reason))])?;
        return tx
            .get(&SUBSCRIPTIONS, id, None)?
            .ok_or_else(|| Error::Internal("subscription vanished".into()));
    }
    // A re-activation starts a new run of periods from now.
    let run = int(&sub, "runs") + 1;
    if first_time {
        charge(
            tx,
            &sub,
            activation,
            &format!("sub:{id}:activation"),
            &now_s,
        )?;
    }
    charge(
        tx,
        &sub,
        periodical,
        &format!("sub:{id}:run:{run}:period:1"),
        &now_s,
    )?;
    let next = period_of(&pkg)?
        .boundary(now, 1)
        .ok_or(crate::error::MoneyError::Overflow)?;
    set(
        tx,
        id,
        &[
            ("status", Val::Text("active".into())),
            ("reason", Val::Null),
            ("start_dt", Val::Text(now_s.clone())),
            ("anchor_dt", Val::Text(now_s)),
            ("runs", Val::Int(run)),
            ("periods", Val::Int(1)),
            ("next_renewal_dt", Val::Text(clock::format_dt(next))),
        ],
    )?;
    tx.get(&SUBSCRIPTIONS, id, None)?
        .ok_or_else(|| Error::Internal("subscription vanished".into()))
}

/// Process one active subscription up to `now`: close it at its stop date, or renew each
/// period that has ended, in order, once each; deactivate it when a period cannot be paid.
// Long: the renewal loop over missed periods, each step depending on the last.
pub(crate) fn advance(
    tx: &mut dyn StoreTx,
    sub: &Record,
    now: DateTime<Utc>,
    available: &mut Decimal,
    report: &mut SubscriptionTick,
) -> Result<()> {
    let id = int(sub, "id");
    let pkg = tx
        .get(&PACKAGES, int(sub, "id_packages"), None)?
        .ok_or_else(|| Error::not_found("package"))?;
    let period = period_of(&pkg)?;
    let anchor = clock::parse_dt(text(sub, "anchor_dt"))
        .ok_or_else(|| Error::Internal(format!("subscription {id} has no anchor")))?;
    let stop = sub
        .get("stop_dt")
        .and_then(Val::as_text)
        .and_then(clock::parse_dt);
    let run = int(sub, "runs");
    let mut periods = u32::try_from(int(sub, "periods")).unwrap_or(1);
    // Bounded: at most this many missed periods are handled in one tick.
    for _ in 0..crate::limits::renewals_per_tick_max {
        let due = period
            .boundary(anchor, periods)
            .ok_or(crate::error::MoneyError::Overflow)?;
        if due > now {
            break;
        }
        if stop.is_some_and(|s| s <= due) {
            set(
                tx,
                id,
                &[
                    ("status", Val::Text("closed".into())),
                    ("next_renewal_dt", Val::Null),
                ],
            )?;
            report.closed += 1;
            return Ok(());
        }
        let due_s = clock::format_dt(due);
        let amount = fee(tx, sub, &pkg, "periodical_fee", &due_s)?;
        let key = format!("sub:{id}:run:{run}:period:{}", periods + 1);
        let already = tx
            .transaction_by_key(int(sub, "id_clients"), &key)?
            .is_some();
        if !already && amount > *available {
            set(
                tx,
                id,
                &[
                    ("status", Val::Text("inactive".into())),
                    (
                        "reason",
                        Val::Text(format!(
                            "renewal on {due_s} needs {amount}, available {available}"
                        )),
                    ),
                    ("next_renewal_dt", Val::Null),
                ],
            )?;
            report.deactivated += 1;
            return Ok(());
        }
        if charge(tx, sub, amount, &key, &due_s)? {
            *available = money::exact_sub(*available, amount)?;
        }
        periods += 1;
        let next = period
            .boundary(anchor, periods)
            .ok_or(crate::error::MoneyError::Overflow)?;
        set(
            tx,
            id,
            &[
                ("periods", Val::Int(i64::from(periods))),
                ("next_renewal_dt", Val::Text(clock::format_dt(next))),
            ],
        )?;
        report.renewed += 1;
    }
    Ok(())
}

/// Subscriptions to look at in a tick: active ones due by `now` and pending ones.
pub(crate) fn due(tx: &dyn StoreTx, now: DateTime<Utc>) -> Result<Vec<Record>> {
    let now_s = clock::format_dt(now);
    let mut out = Vec::new();
    for status in ["active", "pending"] {
        let rows = tx
            .list(
                &SUBSCRIPTIONS,
                &ListQuery::everything(vec![("status", Val::Text(status.into()))]),
            )?
            .0;
        out.extend(rows.into_iter().filter(|r| {
            status == "pending"
                || r.get("next_renewal_dt")
                    .and_then(Val::as_text)
                    .is_some_and(|d| d <= now_s.as_str())
        }));
    }
    Ok(out)
}
