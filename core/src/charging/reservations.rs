//! Reservations: `authorize` holds funds and capacity for a call, `update` extends the hold,
//! `release` and expiry give it back.
//!
//! Every hold is checked twice: before it is written (never negative, never more than the
//! client had available at the grant) and when it is read back to be freed (never more than
//! the client holds in all).

use super::durable::Write;
use super::plan::{Exact, ExactTime, Plan, StoredPlan};
use super::state::{AccountState, ClientState};
use super::{invariant, violated, Authorization, AuthorizeCall, Charging};
use crate::charging::volumes::{self, Claim};
use crate::clock;
use crate::error::{ChargeError, Result};
use crate::limits;
use crate::money;
use crate::rating;
use crate::store::{ReservationRow, Store};
use chrono::{DateTime, Duration, Utc};
use rust_decimal::Decimal;
use std::sync::atomic::Ordering;
use std::sync::Arc;

#[derive(Debug, Clone)]
pub(super) struct Reservation {
    pub(super) plan: Arc<Plan>,
    pub(super) granted: u64,
    pub(super) hold: Decimal,
    /// The included volume drawn on, `limit` being the seconds held from it.
    pub(super) volume: Option<Claim>,
    pub(super) expires_at: DateTime<Utc>,
}

impl Reservation {
    /// What the softswitch is told about this reservation.
    fn authorization(&self, id: u64, max_seconds: u64) -> Authorization {
        let plan = &self.plan;
        Authorization {
            reservation: id,
            max_seconds,
            granted_seconds: self.granted,
            account: plan.account,
            client: plan.client,
            code: plan.code().to_string(),
            code_name: plan.code_name.to_string(),
            rate: plan.terms.rate,
            setup_fee: plan.terms.setup_fee,
            currency: plan.currency,
            held: self.hold,
            volume_seconds: self.volume.map_or(0, |c| c.limit),
            subscription: self.volume.map(|c| c.subscription),
            expires_at: self.expires_at,
        }
    }

    /// The reservation as its stored row keeps it: everything a settle after a restart needs,
    /// exactly (amounts as decimal strings, times to the nanosecond).
    pub(super) fn row(&self, id: u64) -> Result<ReservationRow> {
        #[derive(serde::Serialize)]
        struct Volume {
            subscription: i64,
            entry: i64,
            allowance: u64,
            limit: u64,
        }
        #[derive(serde::Serialize)]
        struct Body<'a> {
            plan: StoredPlan<'a>,
            granted: u64,
            hold: Exact,
            volume: Option<Volume>,
            expires_at: ExactTime,
        }
        let body = Body {
            plan: self.plan.stored(),
            granted: self.granted,
            hold: Exact(self.hold),
            volume: self.volume.map(|c| Volume {
                subscription: c.subscription,
                entry: c.entry,
                allowance: c.allowance,
                limit: c.limit,
            }),
            expires_at: ExactTime(self.expires_at),
        };
        let body = serde_json::to_string(&body)
            .map_err(|e| invariant(format_args!("reservation {id} does not serialise: {e}")))?;
        Ok(ReservationRow {
            id,
            client: self.plan.client,
            expires_at: clock::format_dt(self.expires_at),
            body,
        })
    }

    /// A reservation read back from its row; anything missing or malformed is an error, and
    /// a hold is never negative (the pair of the check made when it was granted).
    pub(super) fn from_row(row: &ReservationRow) -> Result<Reservation> {
        let bad = |what: &str| {
            crate::Error::Internal(format!("stored reservation {}: bad {what}", row.id))
        };
        let v: serde_json::Value = serde_json::from_str(&row.body).map_err(|_| bad("body"))?;
        let plan = Plan::from_json(v.get("plan").ok_or_else(|| bad("plan"))?)?;
        if plan.client != row.client {
            return Err(bad("client"));
        }
        let hold = v
            .get("hold")
            .and_then(serde_json::Value::as_str)
            .and_then(|t| money::parse_str("hold", t).ok())
            .filter(|h| *h >= Decimal::ZERO)
            .ok_or_else(|| bad("hold"))?;
        let u = |o: &serde_json::Value, k: &str| {
            o.get(k)
                .and_then(serde_json::Value::as_u64)
                .ok_or_else(|| bad(k))
        };
        let i = |o: &serde_json::Value, k: &str| {
            o.get(k)
                .and_then(serde_json::Value::as_i64)
                .ok_or_else(|| bad(k))
        };
        let volume = match v.get("volume") {
            None | Some(serde_json::Value::Null) => None,
            Some(c) => Some(Claim {
                subscription: i(c, "subscription")?,
                entry: i(c, "entry")?,
                allowance: u(c, "allowance")?,
                limit: u(c, "limit")?,
            }),
        };
        let expires_at = v
            .get("expires_at")
            .and_then(serde_json::Value::as_str)
            .and_then(clock::parse_dt)
            .ok_or_else(|| bad("expires_at"))?;
        Ok(Reservation {
            plan: Arc::new(plan),
            granted: u(&v, "granted")?,
            hold,
            volume,
            expires_at,
        })
    }
}

/// What `authorize` grants a call: priced, not yet written anywhere.
#[derive(Debug, Clone, Copy)]
struct Grant {
    /// Longest affordable duration.
    max: u64,
    /// Seconds held for (the quota, or `max`).
    granted: u64,
    /// Money held for them.
    hold: Decimal,
    /// The included volume drawn on, `limit` being the seconds held from it.
    claim: Option<Claim>,
}

/// Check a hold before it is written: it is never negative and never more than what the
/// client had available when it was granted (nothing at all when that is negative).
pub(super) fn check_grant(hold: Decimal, available: Decimal) -> Result<()> {
    if hold < Decimal::ZERO {
        return Err(invariant(format!("a hold is never negative, got {hold}")));
    }
    if hold > available.max(Decimal::ZERO) {
        return Err(invariant(format!(
            "hold {hold} exceeds the available funds {available}"
        )));
    }
    Ok(())
}

/// Check a hold read back to be freed: never negative, and part of what the client holds.
pub(super) fn check_release(hold: Decimal, held: Decimal) -> Result<()> {
    if hold < Decimal::ZERO {
        return Err(invariant(format!("a reservation holds {hold}, below zero")));
    }
    if hold > held {
        return Err(invariant(format!(
            "a reservation holds {hold} but its client holds only {held}"
        )));
    }
    Ok(())
}

/// The client's held amount once `hold` (checked against `available`) is added.
fn held_with(client: &ClientState, hold: Decimal, available: Decimal) -> Result<Decimal> {
    check_grant(hold, available)?;
    Ok(money::exact_add(client.held, hold)?)
}

/// Give back a reservation's `hold`: checked, then subtracted exactly. On error nothing
/// changed.
pub(super) fn return_hold(client: &mut ClientState, hold: Decimal) -> Result<()> {
    check_release(hold, client.held)?;
    let held = money::exact_sub(client.held, hold)?;
    debug_assert!(held >= Decimal::ZERO && held <= client.held);
    client.held = held;
    Ok(())
}

/// One call fewer on a counter: a counter already at zero is a broken invariant (logged, and
/// left at zero).
fn one_less(n: &mut u32, what: impl std::fmt::Display) {
    match n.checked_sub(1) {
        Some(m) => *n = m,
        None => violated(format!("{what} ends a call but counts none")),
    }
}

/// Refuse a call when the account or the client already has its capacity of calls.
fn check_capacity(account: &AccountState, client: &ClientState) -> Result<()> {
    let account_calls = client.account_calls.get(&account.id).copied().unwrap_or(0);
    if account.capacity.is_some_and(|c| account_calls >= c) {
        return Err(ChargeError::CapacityExceeded(format!(
            "account {} has {account_calls} calls",
            account.id
        ))
        .into());
    }
    if client.capacity.is_some_and(|c| client.calls >= c) {
        return Err(ChargeError::CapacityExceeded(format!(
            "client {} has {} calls",
            account.client, client.calls
        ))
        .into());
    }
    Ok(())
}

impl Charging {
    /// The next reservation id of this run: never one of an earlier run (their epoch is
    /// lower) and never one of a later run (the sequence stops at its epoch's end).
    fn next_reservation_id(&self) -> Result<u64> {
        let id = self.next_reservation.fetch_add(1, Ordering::Relaxed) + 1;
        if id - self.first_reservation >= (1 << limits::reservation_sequence_bits) - 1 {
            self.next_reservation.fetch_sub(1, Ordering::Relaxed);
            return Err(crate::error::Error::Internal(
                "this run has handed out every reservation id of its epoch; reopen the engine"
                    .into(),
            ));
        }
        Ok(id)
    }

    /// The client a reservation belongs to (for tenant checks).
    pub(crate) fn reservation_client(&self, id: u64) -> Option<i64> {
        self.reservations.lock().get(&id).map(|r| r.plan.client)
    }

    /// May this call go through, and for how long? Opens a reservation holding the funds,
    /// answered once its row is durable (group-committed with every other charging write).
    pub(crate) fn authorize(
        &self,
        store: &dyn Store,
        req: AuthorizeCall<'_>,
        now: DateTime<Utc>,
    ) -> Result<Authorization> {
        let account = self.find_account(req.account, req.auth_type)?;
        if !account.active {
            return Err(ChargeError::AccountBlocked(account.id).into());
        }
        let state = self.client(account.client)?;
        let mut client = state.lock();
        if !client.active {
            return Err(ChargeError::ClientBlocked(account.client).into());
        }
        let companies = self.company_chain(client.company)?;
        let at = req.time.unwrap_or(now);
        let mut plan = self.plan(&account, &client, req.destination, req.source, at, now)?;
        // Capacity: account and client under this lock, companies by atomic counters.
        check_capacity(&account, &client)?;
        let available = client.available()?;
        let grant = self.grant(&plan, &client, req.destination, available, req.whole_grant)?;
        let expires_at = self.expiry(now, grant.granted)?;
        let id = self.next_reservation_id()?;
        let held = held_with(&client, grant.hold, available)?;
        plan.companies = companies;
        let res = Reservation {
            plan: Arc::new(plan),
            granted: grant.granted,
            hold: grant.hold,
            volume: grant.claim,
            expires_at,
        };
        let row = store.reopens().then(|| res.row(id)).transpose()?;
        // Everything that can fail is done: take the capacity, then write the hold.
        self.take_company_capacity(companies.as_slice())?;
        client.held = held;
        if let Some(c) = &grant.claim {
            volumes::hold(&mut client.volume_held, c.subscription, c.entry, c.limit);
        }
        client.calls += 1;
        *client.account_calls.entry(account.id).or_insert(0) += 1;
        let auth = res.authorization(id, grant.max);
        let ticket = {
            let mut open = self.reservations.lock();
            open.insert(id, res);
            row.map(|row| self.queue(Write::Keep(row)))
        };
        drop(client);
        if let Err(e) = self.kept(store, ticket) {
            // Never acknowledged: what it held goes back (unless something closed it since).
            let res = self.reservations.lock().remove(&id);
            if let Some(res) = res {
                if let Err(undo) = self.drop_hold(&res) {
                    violated(format_args!("undoing reservation {id}: {undo}"));
                }
            }
            return Err(e);
        }
        Ok(auth)
    }

    /// How long a call priced by `plan` may last with `available` funds and the included
    /// volume it may draw on, and what that holds.
    fn grant(
        &self,
        plan: &Plan,
        client: &ClientState,
        destination: &str,
        available: Decimal,
        whole: bool,
    ) -> Result<Grant> {
        // Included seconds of a live subscription come before money.
        let claim = volumes::pick(&client.volumes, &client.volume_held, destination);
        let bundled = claim.map_or(0, |c| c.limit);
        if available <= Decimal::ZERO && bundled == 0 {
            return Err(ChargeError::BalanceInsufficient(format!(
                "available funds are {available}"
            ))
            .into());
        }
        let max = rating::max_seconds_with_volume(
            &plan.terms,
            available,
            bundled,
            plan.precision,
            plan.rounding,
            self.config.max_call_seconds,
        )?;
        if max == 0 {
            return Err(ChargeError::BalanceInsufficient(format!(
                "available funds {available} do not cover the first billed step"
            ))
            .into());
        }
        let granted = match self.config.quota_seconds {
            Some(q) if !whole => q.min(max),
            _ => max,
        };
        let hold = rating::cost_after_volume(
            &plan.terms,
            granted,
            bundled,
            plan.precision,
            plan.rounding,
        )?;
        let claim = claim.map(|c| Claim {
            limit: rating::volume_covered(&plan.terms, granted, bundled),
            ..c
        });
        debug_assert!(claim.is_none_or(|c| c.limit <= bundled));
        Ok(Grant {
            max,
            granted,
            hold,
            claim,
        })
    }

    /// When a reservation granted `granted` seconds at `now` expires unless settled.
    fn expiry(&self, now: DateTime<Utc>, granted: u64) -> Result<DateTime<Utc>> {
        granted
            .checked_add(self.config.reservation_margin_seconds)
            .and_then(|s| i64::try_from(s).ok())
            .and_then(Duration::try_seconds)
            .and_then(|d| now.checked_add_signed(d))
            .ok_or_else(|| invariant(format!("a grant of {granted} s has no expiry time")))
    }

    fn take_company_capacity(&self, chain: &[i64]) -> Result<()> {
        let map = self.companies.read();
        for (i, id) in chain.iter().enumerate() {
            let Some(c) = map.get(id) else { continue };
            let before = c.calls.fetch_add(1, Ordering::AcqRel);
            if c.capacity.is_some_and(|cap| before >= cap) {
                for undo in &chain[..=i] {
                    if let Some(u) = map.get(undo) {
                        u.calls.fetch_sub(1, Ordering::AcqRel);
                    }
                }
                return Err(ChargeError::CapacityExceeded(format!(
                    "company {id} has {before} calls"
                ))
                .into());
            }
        }
        Ok(())
    }

    /// The call priced by `plan` is over: one call fewer for its account, client and
    /// companies.
    pub(super) fn free_capacity(&self, plan: &Plan, client: &mut ClientState) {
        one_less(&mut client.calls, format_args!("client {}", plan.client));
        match client.account_calls.get_mut(&plan.account) {
            Some(n) => one_less(n, format_args!("account {}", plan.account)),
            None => violated(format_args!(
                "account {} ends a call but counts none",
                plan.account
            )),
        }
        let map = self.companies.read();
        for id in plan.companies.as_slice() {
            // A company removed since the call began has no counter left.
            if let Some(c) = map.get(id) {
                let freed = c
                    .calls
                    .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| n.checked_sub(1));
                if freed.is_err() {
                    violated(format_args!("company {id} ends a call but counts none"));
                }
            }
        }
    }

    /// Extend a reservation by another quota (or to everything affordable), answered once the
    /// extended row is durable. Should that write fail, the call goes back to what it held.
    pub(crate) fn update(
        &self,
        store: &dyn Store,
        id: u64,
        now: DateTime<Utc>,
    ) -> Result<Authorization> {
        let client_id = self
            .reservations
            .lock()
            .get(&id)
            .map(|r| r.plan.client)
            .ok_or(ChargeError::ReservationNotFound(id))?;
        let state = self.client(client_id)?;
        let mut client = state.lock();
        let mut reservations = self.reservations.lock();
        let res = reservations
            .get_mut(&id)
            .ok_or(ChargeError::ReservationNotFound(id))?;
        let plan = Arc::clone(&res.plan);
        check_release(res.hold, client.held)?;
        // What this call may spend: the client's available funds plus its own hold.
        let available = money::exact_add(client.available()?, res.hold)?;
        // The volume this call draws on: what it holds plus what is still free.
        let bundled = res.volume.map_or(0, |c| {
            let free = client
                .volumes
                .iter()
                .find(|v| v.subscription == c.subscription && v.entry == c.entry)
                .map_or(0, |v| volumes::free(v, &client.volume_held));
            free.saturating_add(c.limit)
        });
        let max = rating::max_seconds_with_volume(
            &plan.terms,
            available,
            bundled,
            plan.precision,
            plan.rounding,
            self.config.max_call_seconds,
        )?;
        let wanted = self
            .config
            .quota_seconds
            .map_or(max, |q| res.granted.saturating_add(q).min(max));
        if wanted <= res.granted {
            return Ok(res.authorization(id, max));
        }
        let before = (res.hold, res.granted, res.volume, res.expires_at);
        self.extend(&mut client, res, wanted, bundled, available, now)?;
        let auth = res.authorization(id, max);
        let row = match store.reopens().then(|| res.row(id)).transpose() {
            Ok(row) => row,
            Err(e) => {
                drop(reservations);
                drop(client);
                self.unextend(client_id, id, auth.held, before);
                return Err(e);
            }
        };
        let ticket = row.map(|row| self.queue(Write::Keep(row)));
        drop(reservations);
        drop(client);
        if let Err(e) = self.kept(store, ticket) {
            // Never acknowledged: the call goes back to what it held before.
            self.unextend(client_id, id, auth.held, before);
            return Err(e);
        }
        Ok(auth)
    }

    /// Undo an extension whose write failed, unless the reservation changed since.
    fn unextend(
        &self,
        client_id: i64,
        id: u64,
        extended: Decimal,
        before: (Decimal, u64, Option<Claim>, DateTime<Utc>),
    ) {
        let Ok(state) = self.client(client_id) else {
            return;
        };
        let mut client = state.lock();
        let mut reservations = self.reservations.lock();
        let Some(res) = reservations.get_mut(&id).filter(|r| r.hold == extended) else {
            return;
        };
        let (hold, granted, volume, expires_at) = before;
        let held = money::exact_sub(client.held, extended).and_then(|h| money::exact_add(h, hold));
        match held {
            Ok(h) if h >= Decimal::ZERO => client.held = h,
            _ => {
                violated(format_args!("undoing the extension of reservation {id}"));
                return;
            }
        }
        if let (Some(now), Some(was)) = (res.volume, volume) {
            volumes::unhold(
                &mut client.volume_held,
                now.subscription,
                now.entry,
                now.limit,
            );
            volumes::hold(
                &mut client.volume_held,
                was.subscription,
                was.entry,
                was.limit,
            );
        }
        res.hold = hold;
        res.granted = granted;
        res.volume = volume;
        res.expires_at = expires_at;
    }

    /// Hold `wanted` seconds for a reservation instead of its granted ones, `bundled` of them
    /// from its included volume. Everything is checked before anything is written.
    fn extend(
        &self,
        client: &mut ClientState,
        res: &mut Reservation,
        wanted: u64,
        bundled: u64,
        available: Decimal,
        now: DateTime<Utc>,
    ) -> Result<()> {
        let plan = Arc::clone(&res.plan);
        let hold =
            rating::cost_after_volume(&plan.terms, wanted, bundled, plan.precision, plan.rounding)?;
        // The old hold was checked by `update` under this same lock.
        check_grant(hold, available)?;
        let held = money::exact_add(money::exact_sub(client.held, res.hold)?, hold)?;
        let expires_at = self.expiry(now, wanted)?;
        if let Some(c) = res.volume.as_mut() {
            let more = rating::volume_covered(&plan.terms, wanted, bundled);
            volumes::unhold(&mut client.volume_held, c.subscription, c.entry, c.limit);
            volumes::hold(&mut client.volume_held, c.subscription, c.entry, more);
            c.limit = more;
        }
        client.held = held;
        res.hold = hold;
        res.granted = wanted;
        res.expires_at = expires_at;
        Ok(())
    }

    /// Close a reservation without charging, answered once its row is gone for good. Should
    /// that write fail, the reservation stays open (and the caller gets the error).
    pub(crate) fn release(&self, store: &dyn Store, id: u64) -> Result<()> {
        let (res, ticket) = {
            let mut open = self.reservations.lock();
            let res = open
                .remove(&id)
                .ok_or(ChargeError::ReservationNotFound(id))?;
            let forget = store.reopens().then(|| self.queue(Write::Forget(vec![id])));
            (res, forget)
        };
        if let Err(e) = self.kept(store, ticket) {
            self.reservations.lock().insert(id, res);
            return Err(e);
        }
        if super::planted::DOUBLE_RELEASE.load(Ordering::Relaxed) {
            let _ = self.drop_hold(&res);
        }
        self.drop_hold(&res)
    }

    /// Free what a closed reservation held: its funds, its included seconds, its capacity.
    /// The seconds and capacity are freed even when the funds break an invariant (the error).
    pub(super) fn drop_hold(&self, res: &Reservation) -> Result<()> {
        // A client removed since the call began holds nothing any more.
        let Ok(state) = self.client(res.plan.client) else {
            return Ok(());
        };
        let mut client = state.lock();
        let funds = return_hold(&mut client, res.hold);
        if let Some(c) = &res.volume {
            volumes::unhold(&mut client.volume_held, c.subscription, c.entry, c.limit);
        }
        self.free_capacity(&res.plan, &mut client);
        funds
    }

    /// Release every reservation that expired by `now` (their rows removed in one durable
    /// write first); returns how many. Should the write fail, they stay open.
    pub(crate) fn expire(&self, store: &dyn Store, now: DateTime<Utc>) -> Result<usize> {
        let (expired, ticket) = {
            let mut map = self.reservations.lock();
            let mut ids: Vec<u64> = map
                .iter()
                .filter(|(_, r)| r.expires_at <= now)
                .map(|(id, _)| *id)
                .collect();
            // In id order: the same expiry writes the same rows the same way every run.
            ids.sort_unstable();
            if ids.is_empty() {
                return Ok(0);
            }
            let expired: Vec<(u64, Reservation)> = ids
                .iter()
                .filter_map(|id| map.remove(id).map(|r| (*id, r)))
                .collect();
            let forget = store.reopens().then(|| self.queue(Write::Forget(ids)));
            (expired, forget)
        };
        if let Err(e) = self.kept(store, ticket) {
            self.reservations.lock().extend(expired);
            return Err(e);
        }
        for (_, r) in &expired {
            if let Err(e) = self.drop_hold(r) {
                violated(format_args!("expiring a reservation: {e}"));
            }
        }
        Ok(expired.len())
    }

    /// Hold again, at open, the reservations a previous run acknowledged: their funds, included
    /// seconds and call counts. Rows whose client is gone are returned (to be removed).
    pub(super) fn restore(&self, rows: &[ReservationRow]) -> Result<Vec<u64>> {
        let mut orphans = Vec::new();
        for row in rows {
            let res = Reservation::from_row(row)?;
            let Some(state) = self.clients.read().get(&res.plan.client).cloned() else {
                orphans.push(row.id);
                continue;
            };
            let mut client = state.lock();
            client.held = money::exact_add(client.held, res.hold)?;
            if let Some(c) = &res.volume {
                volumes::hold(&mut client.volume_held, c.subscription, c.entry, c.limit);
            }
            client.calls += 1;
            *client.account_calls.entry(res.plan.account).or_insert(0) += 1;
            // Capacity is counted, not checked: these calls were admitted before the restart.
            let map = self.companies.read();
            for id in res.plan.companies.as_slice() {
                if let Some(c) = map.get(id) {
                    c.calls.fetch_add(1, Ordering::AcqRel);
                }
            }
            drop(map);
            drop(client);
            self.reservations.lock().insert(row.id, res);
        }
        Ok(orphans)
    }

    /// Number of open reservations.
    pub(crate) fn open_reservations(&self) -> usize {
        self.reservations.lock().len()
    }

    /// Open reservations of the clients `visible` admits, and what those clients hold, per
    /// currency id (for `core.status`).
    pub(crate) fn holds(
        &self,
        visible: &dyn Fn(i64) -> bool,
    ) -> Result<(usize, Vec<(i64, Decimal)>)> {
        let open = self
            .reservations
            .lock()
            .values()
            .filter(|r| visible(r.plan.client))
            .count();
        let mut held: Vec<(i64, Decimal)> = Vec::new();
        for (id, state) in self.clients.read().iter() {
            if !visible(*id) {
                continue;
            }
            let c = state.lock();
            match held.iter_mut().find(|(cur, _)| *cur == c.currency) {
                Some((_, total)) => *total = money::exact_add(*total, c.held)?,
                None => held.push((c.currency, c.held)),
            }
        }
        held.sort_by_key(|(cur, _)| *cur);
        Ok((open, held))
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::{setup, setup_with};
    use super::*;
    use crate::charging::AuthorizeRequest;
    use crate::error::ErrorCode;
    use std::str::FromStr;

    fn d(s: &str) -> Decimal {
        Decimal::from_str(s).unwrap()
    }

    fn call(destination: &str) -> AuthorizeRequest {
        AuthorizeRequest {
            account: "100".into(),
            destination: destination.into(),
            ..AuthorizeRequest::default()
        }
    }

    fn client_holding(held: &str) -> ClientState {
        ClientState {
            company: 1,
            active: true,
            balance: d("10"),
            credit: Decimal::ZERO,
            held: d(held),
            capacity: None,
            calls: 0,
            account_calls: Default::default(),
            currency: 1,
            rate_table: None,
            volumes: Vec::new(),
            volume_held: Default::default(),
        }
    }

    #[test]
    fn a_hold_is_never_negative_nor_above_the_available_funds() {
        assert!(check_grant(d("0"), d("0")).is_ok());
        assert!(check_grant(d("9.3"), d("9.3")).is_ok());
        assert!(
            check_grant(d("0"), d("-5")).is_ok(),
            "a bundle-only call holds nothing"
        );
        for (hold, available) in [("-0.01", "10"), ("9.31", "9.3"), ("0.01", "-5")] {
            let e = check_grant(d(hold), d(available)).unwrap_err();
            assert_eq!(e.code(), ErrorCode::Internal, "{hold} of {available}");
            assert!(e.to_string().contains("invariant"), "{e}");
        }
    }

    #[test]
    fn a_hold_given_back_is_part_of_what_the_client_holds() {
        let mut c = client_holding("5");
        return_hold(&mut c, d("2.5")).unwrap();
        assert_eq!(c.held, d("2.5"));
        return_hold(&mut c, d("2.5")).unwrap();
        assert_eq!(c.held, d("0"));
        // More than is held, or a negative hold: refused, and nothing changes.
        let mut c = client_holding("1");
        assert_eq!(
            return_hold(&mut c, d("1.01")).unwrap_err().code(),
            ErrorCode::Internal
        );
        assert_eq!(
            return_hold(&mut c, d("-1")).unwrap_err().code(),
            ErrorCode::Internal
        );
        assert_eq!(c.held, d("1"));
    }

    #[test]
    fn a_hold_is_added_exactly_once_checked() {
        let c = client_holding("0.1");
        assert_eq!(held_with(&c, d("0.2"), d("9.9")).unwrap(), d("0.3"));
        assert!(held_with(&c, d("10"), d("9.9")).is_err());
        assert_eq!(c.held, d("0.1"), "computing the new hold writes nothing");
    }

    #[test]
    fn a_call_counter_counts_down_to_zero() {
        let mut n = 2;
        one_less(&mut n, "client 1");
        one_less(&mut n, "client 1");
        assert_eq!(n, 0);
    }

    #[cfg(debug_assertions)]
    #[test]
    #[should_panic(expected = "invariant: client 1 ends a call but counts none")]
    fn a_call_counter_at_zero_is_a_broken_invariant() {
        let mut n = 0;
        one_less(&mut n, "client 1");
    }

    #[test]
    fn authorize_holds_what_it_grants_and_release_gives_it_back() {
        let s = setup("10");
        // 0.3 setup fee + 1 per started minute: 9 minutes fit in 10.
        let a = s.engine.authorize(&call("44123")).unwrap();
        assert_eq!((a.max_seconds, a.granted_seconds), (540, 540));
        assert_eq!(a.held, d("9.3"));
        assert_eq!((a.code.as_str(), a.client), ("44", s.client));
        assert_eq!(
            s.engine.client_balance_cached(s.client),
            Some((d("10"), d("9.3")))
        );
        // What is left does not cover a second call's first minute.
        let e = s.engine.authorize(&call("44123")).unwrap_err();
        assert_eq!(e.code(), ErrorCode::BalanceInsufficient);
        s.engine.release(a.reservation).unwrap();
        assert_eq!(
            s.engine.client_balance_cached(s.client),
            Some((d("10"), d("0")))
        );
        assert_eq!(s.engine.open_reservations(), 0);
        let again = s.engine.release(a.reservation).unwrap_err();
        assert_eq!(again.code(), ErrorCode::ReservationNotFound);
        s.assert_consistent();
    }

    #[test]
    fn a_client_without_funds_for_the_first_step_is_refused() {
        let s = setup("1.2");
        let e = s.engine.authorize(&call("44123")).unwrap_err();
        assert_eq!(e.code(), ErrorCode::BalanceInsufficient);
        let s = setup("0");
        let e = s.engine.authorize(&call("44123")).unwrap_err();
        assert_eq!(e.code(), ErrorCode::BalanceInsufficient);
        assert_eq!(s.engine.client_balance_cached(s.client).unwrap().1, d("0"));
    }

    #[test]
    fn update_moves_the_hold_to_the_larger_grant_and_no_further() {
        let s = setup_with("3.3", Some(60));
        let a = s.engine.authorize(&call("44123")).unwrap();
        assert_eq!(
            (a.granted_seconds, a.max_seconds, a.held),
            (60, 180, d("1.3"))
        );
        let b = s.engine.update(a.reservation).unwrap();
        assert_eq!((b.granted_seconds, b.held), (120, d("2.3")));
        assert_eq!(
            s.engine.client_balance_cached(s.client).unwrap().1,
            d("2.3")
        );
        let c = s.engine.update(a.reservation).unwrap();
        assert_eq!((c.granted_seconds, c.held), (180, d("3.3")));
        // Everything affordable is granted: a further update changes nothing.
        let e = s.engine.update(a.reservation).unwrap();
        assert_eq!(
            (e.granted_seconds, e.held, e.max_seconds),
            (180, d("3.3"), 180)
        );
        assert_eq!(
            s.engine.client_balance_cached(s.client).unwrap().1,
            d("3.3")
        );
        assert!(e.expires_at > a.expires_at);
        s.engine.release(a.reservation).unwrap();
        assert_eq!(s.engine.client_balance_cached(s.client).unwrap().1, d("0"));
        assert_eq!(
            s.engine.update(a.reservation).unwrap_err().code(),
            ErrorCode::ReservationNotFound
        );
    }

    #[test]
    fn an_expired_reservation_gives_its_hold_back() {
        let s = setup("10");
        let a = s.engine.authorize(&call("44123")).unwrap();
        s.clock.set(a.expires_at - Duration::seconds(1));
        let report = s.engine.tick(a.expires_at - Duration::seconds(1)).unwrap();
        assert_eq!(report.reservations_released, 0);
        let report = s.engine.tick(a.expires_at).unwrap();
        assert_eq!(report.reservations_released, 1);
        assert_eq!(s.engine.client_balance_cached(s.client).unwrap().1, d("0"));
        // Its capacity is free again: a new call is granted in full.
        let b = s.engine.authorize(&call("44123")).unwrap();
        assert_eq!(b.held, d("9.3"));
    }
}
