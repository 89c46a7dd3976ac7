//! Reservations: `authorize` holds funds and capacity for a call, `update` extends the hold,
//! `release` and expiry give it back.

use super::plan::Plan;
use super::state::ClientState;
use super::{Authorization, AuthorizeRequest, Charging};
use crate::error::{ChargeError, Result};
use crate::ledger::volumes::{self, Claim};
use crate::money;
use crate::rating;
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

impl Charging {
    /// The client a reservation belongs to (for tenant checks).
    pub(crate) fn reservation_client(&self, id: u64) -> Option<i64> {
        self.reservations.lock().get(&id).map(|r| r.plan.client)
    }
    /// May this call go through, and for how long? Opens a reservation holding the funds.
    pub(crate) fn authorize(
        &self,
        req: &AuthorizeRequest,
        now: DateTime<Utc>,
    ) -> Result<Authorization> {
        let account = self.find_account(&req.account, req.auth_type.as_deref())?;
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
        let mut plan = self.plan(
            &account,
            &client,
            &req.destination,
            req.source.as_deref(),
            at,
            now,
        )?;
        // Capacity: account and client under this lock, companies by atomic counters.
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
        let available = money::exact_sub(
            money::exact_add(client.balance, client.credit)?,
            client.held,
        )?;
        // Included seconds of a live subscription come before money.
        let claim = volumes::pick(&client.volumes, &client.volume_held, &req.destination);
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
        let granted = self.config.quota_seconds.map_or(max, |q| q.min(max));
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
        self.take_company_capacity(companies.as_slice())?;
        client.held = money::exact_add(client.held, hold)?;
        if let Some(c) = &claim {
            volumes::hold(&mut client.volume_held, c.subscription, c.entry, c.limit);
        }
        client.calls += 1;
        *client.account_calls.entry(account.id).or_insert(0) += 1;
        plan.companies = companies;
        let id = self.next_reservation.fetch_add(1, Ordering::Relaxed) + 1;
        let expires_at = now
            + Duration::seconds(
                i64::try_from(granted + self.config.reservation_margin_seconds)
                    .unwrap_or(i64::MAX / 2),
            );
        let auth = Authorization {
            reservation: id,
            max_seconds: max,
            granted_seconds: granted,
            account: account.id,
            client: account.client,
            code: plan.code().to_string(),
            code_name: plan.code_name.to_string(),
            rate: plan.terms.rate,
            setup_fee: plan.terms.setup_fee,
            currency: plan.currency,
            held: hold,
            volume_seconds: claim.map_or(0, |c| c.limit),
            subscription: claim.map(|c| c.subscription),
            expires_at,
        };
        self.reservations.lock().insert(
            id,
            Reservation {
                plan: Arc::new(plan),
                granted,
                hold,
                volume: claim,
                expires_at,
            },
        );
        Ok(auth)
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

    pub(super) fn free_capacity(&self, plan: &Plan, client: &mut ClientState) {
        client.calls = client.calls.saturating_sub(1);
        if let Some(n) = client.account_calls.get_mut(&plan.account) {
            *n = n.saturating_sub(1);
        }
        let map = self.companies.read();
        for id in plan.companies.as_slice() {
            if let Some(c) = map.get(id) {
                let _ = c
                    .calls
                    .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                        Some(n.saturating_sub(1))
                    });
            }
        }
    }

    /// Extend a reservation by another quota (or to everything affordable).
    pub(crate) fn update(&self, id: u64, now: DateTime<Utc>) -> Result<Authorization> {
        let snapshot = self
            .reservations
            .lock()
            .get(&id)
            .cloned()
            .ok_or(ChargeError::ReservationNotFound(id))?;
        let state = self.client(snapshot.plan.client)?;
        let mut client = state.lock();
        let mut reservations = self.reservations.lock();
        let res = reservations
            .get_mut(&id)
            .ok_or(ChargeError::ReservationNotFound(id))?;
        let plan = Arc::clone(&res.plan);
        let available = money::exact_add(
            money::exact_sub(
                money::exact_add(client.balance, client.credit)?,
                client.held,
            )?,
            res.hold,
        )?;
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
        if wanted > res.granted {
            let hold = rating::cost_after_volume(
                &plan.terms,
                wanted,
                bundled,
                plan.precision,
                plan.rounding,
            )?;
            if let Some(c) = res.volume.as_mut() {
                let more = rating::volume_covered(&plan.terms, wanted, bundled);
                volumes::unhold(&mut client.volume_held, c.subscription, c.entry, c.limit);
                volumes::hold(&mut client.volume_held, c.subscription, c.entry, more);
                c.limit = more;
            }
            client.held = money::exact_add(money::exact_sub(client.held, res.hold)?, hold)?;
            res.hold = hold;
            res.granted = wanted;
            res.expires_at = now
                + Duration::seconds(
                    i64::try_from(wanted + self.config.reservation_margin_seconds)
                        .unwrap_or(i64::MAX / 2),
                );
        }
        Ok(Authorization {
            reservation: id,
            max_seconds: max,
            granted_seconds: res.granted,
            account: plan.account,
            client: plan.client,
            code: plan.code().to_string(),
            code_name: plan.code_name.to_string(),
            rate: plan.terms.rate,
            setup_fee: plan.terms.setup_fee,
            currency: plan.currency,
            held: res.hold,
            volume_seconds: res.volume.map_or(0, |c| c.limit),
            subscription: res.volume.map(|c| c.subscription),
            expires_at: res.expires_at,
        })
    }

    /// Close a reservation without charging.
    pub(crate) fn release(&self, id: u64) -> Result<()> {
        let res = self
            .reservations
            .lock()
            .remove(&id)
            .ok_or(ChargeError::ReservationNotFound(id))?;
        self.drop_hold(&res);
        Ok(())
    }

    pub(super) fn drop_hold(&self, res: &Reservation) {
        if let Ok(state) = self.client(res.plan.client) {
            let mut client = state.lock();
            client.held = money::exact_sub(client.held, res.hold).unwrap_or(client.held);
            if let Some(c) = &res.volume {
                volumes::unhold(&mut client.volume_held, c.subscription, c.entry, c.limit);
            }
            self.free_capacity(&res.plan, &mut client);
        }
    }

    /// Release every reservation that expired by `now`; returns how many.
    pub(crate) fn expire(&self, now: DateTime<Utc>) -> usize {
        let expired: Vec<Reservation> = {
            let mut map = self.reservations.lock();
            let ids: Vec<u64> = map
                .iter()
                .filter(|(_, r)| r.expires_at <= now)
                .map(|(id, _)| *id)
                .collect();
            ids.iter().filter_map(|id| map.remove(id)).collect()
        };
        for r in &expired {
            self.drop_hold(r);
        }
        expired.len()
    }

    /// Number of open reservations.
    pub(crate) fn open_reservations(&self) -> usize {
        self.reservations.lock().len()
    }
}
