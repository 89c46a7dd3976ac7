//! Included volumes: the seconds a live subscription bundles per period for some destination
//! prefixes, as the hot path sees them.
//!
//! The database is the authority on what a period has used (`subscription_usage`, written in
//! the same transaction as the xDR that used it). Memory keeps, per client, each live volume's
//! allowance and use for the period now running, plus the seconds open reservations hold, so
//! that `authorize` can count bundled seconds in `max_seconds` without a query, and two
//! concurrent calls can never both be granted the same bundled seconds.

use crate::error::{Error, Result};
use crate::model::{int, text, Record, Val, PACKAGES, SUBSCRIPTIONS};
use crate::store::{ListQuery, StoreTx};
use std::collections::HashMap;

/// Seconds held by open reservations, per (subscription, entry).
pub(crate) type Held = HashMap<(i64, i64), u64, foldhash::fast::RandomState>;

/// One included volume of a live subscription, for the period now running.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Volume {
    pub subscription: i64,
    /// The subscription's run and period counters: usage is kept per (run, period), so a
    /// renewal starts from zero.
    pub run: i64,
    pub period: i64,
    /// Position of the volume in the package's `volumes`.
    pub entry: i64,
    pub prefixes: Vec<String>,
    /// Seconds per period (the package's, times the subscription's quantity).
    pub allowance: u64,
    /// Seconds used in this period (committed).
    pub used: u64,
}

/// Which volume a call draws on, and the most it may draw.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Claim {
    pub subscription: i64,
    pub entry: i64,
    pub allowance: u64,
    /// Seconds this call may take from the volume (held for it, or free when it was priced).
    pub limit: u64,
}

/// What a committed call took from a volume.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Used {
    pub subscription: i64,
    pub run: i64,
    pub period: i64,
    pub entry: i64,
    pub seconds: u64,
}

/// The volumes of one subscription row (empty unless it is active).
pub(crate) fn of_subscription(tx: &dyn StoreTx, sub: &Record) -> Result<Vec<Volume>> {
    if text(sub, "status") != "active" {
        return Ok(Vec::new());
    }
    let id = int(sub, "id").unwrap_or_default();
    let Some(pkg) = tx.get(&PACKAGES, int(sub, "id_packages").unwrap_or_default(), None)? else {
        return Ok(Vec::new());
    };
    let entries = entries(&pkg)?;
    if entries.is_empty() {
        return Ok(Vec::new());
    }
    let (run, period) = (
        int(sub, "runs").unwrap_or_default(),
        int(sub, "periods").unwrap_or_default(),
    );
    let quantity = u64::try_from(int(sub, "quantity").unwrap_or(1).max(1)).unwrap_or(1);
    let usage: HashMap<i64, i64> = tx.volume_usage(id, run, period)?.into_iter().collect();
    Ok(entries
        .into_iter()
        .enumerate()
        .map(|(i, (prefixes, seconds))| {
            let entry = i64::try_from(i).unwrap_or(i64::MAX);
            Volume {
                subscription: id,
                run,
                period,
                entry,
                prefixes,
                allowance: seconds.saturating_mul(quantity),
                used: usage
                    .get(&entry)
                    .and_then(|u| u64::try_from(*u).ok())
                    .unwrap_or(0),
            }
        })
        .collect())
}

/// The live volumes of one client, in subscription order.
pub(crate) fn of_client(tx: &dyn StoreTx, client: i64) -> Result<Vec<Volume>> {
    let subs = tx
        .list(
            &SUBSCRIPTIONS,
            &ListQuery::everything(vec![
                ("id_clients", Val::Int(client)),
                ("status", Val::Text("active".into())),
            ]),
        )?
        .0;
    let mut out = Vec::new();
    for s in &subs {
        out.extend(of_subscription(tx, s)?);
    }
    Ok(out)
}

/// Every client's live volumes (at open).
pub(crate) fn all(tx: &dyn StoreTx) -> Result<HashMap<i64, Vec<Volume>>> {
    let q = ListQuery::everything(vec![("status", Val::Text("active".into()))]);
    let mut out: HashMap<i64, Vec<Volume>> = HashMap::new();
    crate::store::each_row(tx, &SUBSCRIPTIONS, &q, |s| {
        let v = of_subscription(tx, &s)?;
        if !v.is_empty() {
            out.entry(int(&s, "id_clients").unwrap_or_default())
                .or_default()
                .extend(v);
        }
        Ok(())
    })?;
    Ok(out)
}

/// A package's volume entries: (prefixes, seconds per period). Validated on write, so a bad
/// stored value is an internal error.
pub(crate) fn entries(pkg: &Record) -> Result<Vec<(Vec<String>, u64)>> {
    let Some(Val::Text(raw)) = pkg.get("volumes") else {
        return Ok(Vec::new());
    };
    let bad = || {
        Error::Internal(format!(
            "package {} has malformed volumes",
            int(pkg, "id").unwrap_or_default()
        ))
    };
    let parsed: serde_json::Value = serde_json::from_str(raw).map_err(|_| bad())?;
    let items = parsed.as_array().ok_or_else(bad)?;
    items
        .iter()
        .map(|item| {
            let seconds = item["seconds"].as_u64().ok_or_else(bad)?;
            let prefixes = item["prefixes"]
                .as_array()
                .ok_or_else(bad)?
                .iter()
                .map(|p| p.as_str().map(str::to_string).ok_or_else(bad))
                .collect::<Result<Vec<_>>>()?;
            Ok((prefixes, seconds))
        })
        .collect()
}

/// Seconds of a volume not used and not held.
pub(crate) fn free(v: &Volume, held: &Held) -> u64 {
    let h = held.get(&(v.subscription, v.entry)).copied().unwrap_or(0);
    v.allowance.saturating_sub(v.used).saturating_sub(h)
}

/// The volume a call to `destination` draws on: among volumes with free seconds, the one with
/// the longest matching prefix; ties go to the older subscription, then the earlier entry.
pub(crate) fn pick(volumes: &[Volume], held: &Held, destination: &str) -> Option<Claim> {
    let mut best: Option<(usize, &Volume, u64)> = None;
    for v in volumes {
        let Some(len) = v
            .prefixes
            .iter()
            .filter(|p| destination.starts_with(p.as_str()))
            .map(String::len)
            .max()
        else {
            continue;
        };
        let f = free(v, held);
        if f == 0 {
            continue;
        }
        let better = match best {
            None => true,
            Some((l, b, _)) => {
                len > l || (len == l && (v.subscription, v.entry) < (b.subscription, b.entry))
            }
        };
        if better {
            best = Some((len, v, f));
        }
    }
    best.map(|(_, v, f)| Claim {
        subscription: v.subscription,
        entry: v.entry,
        allowance: v.allowance,
        limit: f,
    })
}

/// Hold `seconds` of a volume for an open reservation.
pub(crate) fn hold(held: &mut Held, subscription: i64, entry: i64, seconds: u64) {
    if seconds > 0 {
        *held.entry((subscription, entry)).or_insert(0) += seconds;
    }
}

/// Give back seconds a reservation held.
pub(crate) fn unhold(held: &mut Held, subscription: i64, entry: i64, seconds: u64) {
    if let Some(h) = held.get_mut(&(subscription, entry)) {
        *h = h.saturating_sub(seconds);
        if *h == 0 {
            held.remove(&(subscription, entry));
        }
    }
}

/// Record in memory what a committed call used (when the period is still the one loaded;
/// otherwise a refresh after the renewal reloads it from the database).
pub(crate) fn record(volumes: &mut [Volume], used: &Used) {
    if let Some(v) = volumes.iter_mut().find(|v| {
        v.subscription == used.subscription
            && v.entry == used.entry
            && v.run == used.run
            && v.period == used.period
    }) {
        v.used = v.used.saturating_add(used.seconds);
    }
}

/// Draw a settled call's seconds from its volume, inside the settle's transaction: the
/// database's own count bounds it, so no period ever gives more than its allowance. Returns
/// the seconds the call may take (0 when the subscription is no longer active) and where they
/// are counted.
pub(crate) fn available_in_tx(tx: &dyn StoreTx, claim: &Claim) -> Result<(u64, i64, i64)> {
    let Some(sub) = tx.get(&SUBSCRIPTIONS, claim.subscription, None)? else {
        return Ok((0, 0, 0));
    };
    if text(&sub, "status") != "active" {
        return Ok((0, 0, 0));
    }
    let (run, period) = (
        int(&sub, "runs").unwrap_or_default(),
        int(&sub, "periods").unwrap_or_default(),
    );
    let used = tx
        .volume_usage(claim.subscription, run, period)?
        .into_iter()
        .find(|(e, _)| *e == claim.entry)
        .and_then(|(_, u)| u64::try_from(u).ok())
        .unwrap_or(0);
    Ok((
        claim.limit.min(claim.allowance.saturating_sub(used)),
        run,
        period,
    ))
}
