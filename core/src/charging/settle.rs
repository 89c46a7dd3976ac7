//! Settling: a finished call's xDR and ledger entry, written by group commit; a repeat of a
//! call id replays the first result.

use super::durable::Write;
use super::plan::Plan;
use super::reservations::{return_hold, Reservation};
use super::{invariant, violated, Charging, SettleRequest, Settlement};
use crate::charging::volumes::{self, Claim};
use crate::clock;
use crate::error::{ChargeError, Error, Result, ValidationError};
use crate::ledger::{self, Posting};
use crate::limits;
use crate::model::{dec, int, text, Record, Val, XDRS};
use crate::money;
use crate::rating;
use crate::store::{Store, StoreTx};
use chrono::{DateTime, Duration, Utc};
use rust_decimal::Decimal;
use std::sync::atomic::Ordering;
use std::sync::Arc;

/// Who settles a call, as its audit row names them.
#[derive(Debug, Clone)]
pub(crate) struct SettleAuthor {
    pub id_users: i64,
    pub login: String,
    pub id_sessions: Option<i64>,
}

impl SettleAuthor {
    /// The embedding process (a softswitch plugin calling `Engine::settle`).
    pub(crate) fn system() -> SettleAuthor {
        SettleAuthor {
            id_users: 0,
            login: "system".into(),
            id_sessions: None,
        }
    }
}

impl Charging {
    /// Group commits of settles written so far, and the settles they carried.
    pub(crate) fn settle_batches(&self) -> (u64, u64) {
        (
            self.settle_batches.load(Ordering::Relaxed),
            self.settles_batched.load(Ordering::Relaxed),
        )
    }

    /// Charge a finished call: the xDR and the ledger entry in one transaction; a repeat of the
    /// same call id returns the first result.
    ///
    /// Group commit: concurrent settles are written together, each inside its own savepoint of
    /// one transaction, committed with one fsync; every caller returns once the batch holding
    /// its settle is durable, with exactly the result it would have had alone.
    /// `scope` is the caller's subtree (`None`: the whole tree): a call id settled outside it
    /// is unknown to this caller.
    pub(crate) fn settle(
        &self,
        store: &dyn Store,
        req: &SettleRequest,
        now: DateTime<Utc>,
        scope: Option<i64>,
        author: &SettleAuthor,
    ) -> Result<Settlement> {
        let (ticket, taken) = self.queue_settle(req, now, scope, author)?;
        self.settled(store, req, ticket, taken)
    }

    /// A settle's first half: checked, its reservation taken, priced and its xDR built (all
    /// on the caller's thread, no lock held while a batch is written), then queued.
    fn queue_settle(
        &self,
        req: &SettleRequest,
        now: DateTime<Utc>,
        scope: Option<i64>,
        author: &SettleAuthor,
    ) -> Result<(super::batch::Ticket, Option<Reservation>)> {
        check_request(req)?;
        let taken = req
            .reservation
            .and_then(|id| self.reservations.lock().remove(&id));
        let job = self.prepare_settle(req, taken.as_ref(), now, scope, author);
        Ok((self.queue(Write::Settle(Box::new(job))), taken))
    }

    /// A settle's second half: its result once durable, and its reservation finished.
    fn settled(
        &self,
        store: &dyn Store,
        req: &SettleRequest,
        ticket: super::batch::Ticket,
        taken: Option<Reservation>,
    ) -> Result<Settlement> {
        let result = self
            .written(store, ticket)
            .and_then(|s| s.ok_or_else(|| Error::Internal("a settle wrote no settlement".into())));
        self.finish_reservation(req, &result, taken);
        result
    }

    /// Charge many finished calls at once: every settle is queued before any is waited for,
    /// so they share group commits (one transaction and one fsync per
    /// `limits::settle_batch_size_max` of them). One result per call, in order, each exactly
    /// what [`Charging::settle`] would have answered for it alone: the batch is not atomic
    /// (one refused settle changes nothing for the others). Items are `(request, scope,
    /// author)` as for `settle`.
    pub(crate) fn settle_many(
        &self,
        store: &dyn Store,
        items: &[(SettleRequest, Option<i64>, SettleAuthor)],
        now: DateTime<Utc>,
    ) -> Vec<Result<Settlement>> {
        // Every settle is queued before any is waited for.
        let queued: Vec<_> = items
            .iter()
            .map(|(req, scope, author)| self.queue_settle(req, now, *scope, author))
            .collect();
        items
            .iter()
            .zip(queued)
            .map(|((req, _, _), q)| {
                q.and_then(|(ticket, taken)| self.settled(store, req, ticket, taken))
            })
            .collect()
    }

    /// After a settle: a replayed call is over too, so what its reservation held is freed
    /// (a charged one was freed with its commit); a failed settle charged nothing, so its
    /// reservation stays for a retry.
    fn finish_reservation(
        &self,
        req: &SettleRequest,
        result: &Result<Settlement>,
        taken: Option<Reservation>,
    ) {
        let Some(res) = taken else { return };
        match result {
            Ok(s) if s.replayed => {
                // The replay's answer is right and durable: a broken hold does not change it.
                if let Err(e) = self.drop_hold(&res) {
                    violated(format_args!("freeing a replayed call's reservation: {e}"));
                }
            }
            Ok(_) => {}
            Err(_) => {
                if let Some(id) = req.reservation {
                    self.reservations.lock().insert(id, res);
                }
            }
        }
    }

    /// The plan of a call whose reservation is unknown, and the volume it may draw on (what
    /// is free of it now; the settle's transaction bounds it by the database's count).
    fn unreserved_plan(
        &self,
        req: &SettleRequest,
        now: DateTime<Utc>,
    ) -> Result<(Plan, Option<Claim>)> {
        // Without the answer time, the call connected its duration before the settle arrived.
        let connect = req.connect_time.or_else(|| {
            Duration::try_seconds(i64::try_from(req.duration).ok()?)
                .and_then(|d| now.checked_sub_signed(d))
        });
        let (Some(account), Some(destination), Some(connect)) =
            (&req.account, &req.destination, connect)
        else {
            return Err(match req.reservation {
                Some(id) => ChargeError::ReservationNotFound(id).into(),
                None => ValidationError::Required("reservation".into()).into(),
            });
        };
        let account = self.find_account(account, req.auth_type.as_deref())?;
        let state = self.client(account.client)?;
        let client = state.lock();
        let plan = self.plan(
            &account,
            &client,
            destination,
            req.source.as_deref(),
            connect,
            now,
        )?;
        let claim = volumes::pick(&client.volumes, &client.volume_held, destination);
        Ok((plan, claim))
    }

    /// The plan of a reserved call as the switch reports it: connected at the settle's
    /// `connect_time` (the answer; without one, the settle's receipt less the duration), and
    /// priced by the rates in force then. When no rate is in force at that instant (a deck
    /// changed between the INVITE and the answer and left the code without one), the call
    /// keeps the terms it was granted.
    fn answered_plan(&self, r: &Reservation, req: &SettleRequest, now: DateTime<Utc>) -> Arc<Plan> {
        let seconds = i64::try_from(req.duration).unwrap_or(i64::MAX);
        let connect = req.connect_time.unwrap_or_else(|| {
            Duration::try_seconds(seconds)
                .and_then(|d| now.checked_sub_signed(d))
                .unwrap_or(r.plan.connect_time)
        });
        if connect == r.plan.connect_time {
            return Arc::clone(&r.plan);
        }
        let repriced = self
            .accounts_by_id
            .read()
            .get(&r.plan.account)
            .cloned()
            .and_then(|account| {
                let state = self.client(account.client).ok()?;
                let client = state.lock();
                let dst = &r.plan.destination;
                self.plan(
                    &account,
                    &client,
                    dst,
                    r.plan.source.as_deref(),
                    connect,
                    now,
                )
                .ok()
            });
        let mut plan = match repriced {
            Some(mut p) => {
                p.companies = r.plan.companies;
                p
            }
            None => (*r.plan).clone(),
        };
        plan.connect_time = connect;
        Arc::new(plan)
    }

    /// Price a settle and build its xDR: everything that needs no database.
    fn prepare_settle(
        &self,
        req: &SettleRequest,
        res: Option<&Reservation>,
        now: DateTime<Utc>,
        scope: Option<i64>,
        author: &SettleAuthor,
    ) -> SettleJob {
        let plan = match res {
            Some(r) => Ok((self.answered_plan(r, req, now), r.volume)),
            None => self
                .unreserved_plan(req, now)
                .map(|(p, claim)| (Arc::new(p), claim)),
        };
        // The content of a settle: its duration, and (when known) the account and number.
        let hash = ledger::request_hash(&[&req.call_id, &req.duration.to_string()]);
        let checked = plan
            .as_ref()
            .ok()
            .map(|(p, _)| (p.account, p.destination.clone()));
        let company = plan.as_ref().ok().map(|(p, _)| p.company);
        let unreserved = res.is_none();
        let priced = plan.and_then(|(plan, claim)| {
            let billed = rating::billed_seconds(&plan.terms, req.duration);
            let cost = rating::cost(&plan.terms, req.duration, plan.precision, plan.rounding)?;
            let mut xdr = xdr_record(req, &plan, billed, cost, unreserved, &hash, now)?;
            // A switch whose timer fired late: the call is charged as used, and the seconds
            // past the grant are recorded.
            let overrun = res.map_or(0, |r| req.duration.saturating_sub(r.granted));
            xdr.insert("overrun_seconds", column("overrun_seconds", overrun)?);
            Ok(Priced {
                xdr,
                client: plan.client,
                billed,
                cost,
                plan,
                claim,
            })
        });
        SettleJob {
            call_id: req.call_id.clone(),
            duration: req.duration,
            hash,
            checked,
            company,
            scope,
            author: author.clone(),
            priced,
            now: clock::format_dt(now),
            reservation: req
                .reservation
                .zip(res)
                .map(|(id, r)| (id, r.hold, Arc::clone(&r.plan), r.volume)),
        }
    }

    /// A committed settle's effect on memory: the balance moves by the charge, the hold and
    /// the call's capacity are freed. Runs after the commit: a broken invariant can only be
    /// reported, and the committed balance (the authority) is what the mirror keeps.
    pub(super) fn apply_settle(
        &self,
        job: &SettleJob,
        s: &Settlement,
        delta: Decimal,
        used: Option<&volumes::Used>,
    ) {
        if s.replayed {
            return;
        }
        // A client removed since the call began has nothing left to update.
        let Ok(state) = self.client(s.client) else {
            return;
        };
        let mut client = state.lock();
        match money::exact_add(client.balance, delta) {
            Ok(b) if b == s.balance => client.balance = b,
            Ok(b) => {
                violated(format_args!(
                    "client {}: mirrored balance {b} after call {:?} differs from the stored {}",
                    s.client, s.call_id, s.balance
                ));
                client.balance = s.balance;
            }
            Err(e) => {
                violated(format_args!(
                    "client {}: mirrored balance {} + {delta}: {e}",
                    s.client, client.balance
                ));
                client.balance = s.balance;
            }
        }
        if let Some(u) = used {
            volumes::record(&mut client.volumes, u);
        }
        if let Some((_, hold, plan, claim)) = &job.reservation {
            if let Err(e) = return_hold(&mut client, *hold) {
                violated(format_args!("settling call {:?}: {e}", s.call_id));
            }
            if let Some(c) = claim {
                volumes::unhold(&mut client.volume_held, c.subscription, c.entry, c.limit);
            }
            self.free_capacity(plan, &mut client);
        }
    }
}

/// Refuse a settle whose call id or duration is out of bounds.
fn check_request(req: &SettleRequest) -> Result<()> {
    if req.call_id.is_empty() || req.call_id.len() > limits::call_id_length_max {
        return Err(ValidationError::invalid(
            "call_id",
            format!("must be 1 to {} characters", limits::call_id_length_max),
        )
        .into());
    }
    if req.duration > limits::call_duration_seconds_max {
        return Err(ValidationError::OutOfRange {
            field: "duration".into(),
            reason: format!("at most {} seconds", limits::call_duration_seconds_max),
        }
        .into());
    }
    Ok(())
}

/// A count of seconds as a column value (every count here is bounded far below `i64::MAX`).
fn column(what: &str, n: u64) -> Result<Val> {
    i64::try_from(n)
        .map(Val::Int)
        .map_err(|_| invariant(format!("{what} {n} does not fit a column")))
}

/// The xDR of a call priced by `plan`: `billed` seconds for `cost` (before any volume).
fn xdr_record(
    req: &SettleRequest,
    plan: &Plan,
    billed: u64,
    cost: Decimal,
    unreserved: bool,
    hash: &str,
    now: DateTime<Utc>,
) -> Result<Record> {
    let duration = column("duration", req.duration)?;
    let end = i64::try_from(req.duration)
        .ok()
        .and_then(Duration::try_seconds)
        .and_then(|d| plan.connect_time.checked_add_signed(d))
        .ok_or_else(|| invariant(format!("a call of {} s has no end time", req.duration)))?;
    let mut x = Record::new();
    x.insert("call_id", Val::Text(req.call_id.clone()));
    x.insert("id_accounts", Val::Int(plan.account));
    x.insert("id_clients", Val::Int(plan.client));
    x.insert("id_companies", Val::Int(plan.company));
    x.insert("src", plan.source.clone().map_or(Val::Null, Val::Text));
    x.insert("dst", Val::Text(plan.destination.clone()));
    x.insert("code", Val::Text(plan.code().to_string()));
    x.insert("code_name", Val::Text(plan.code_name.to_string()));
    x.insert("id_rate_tables", Val::Int(plan.table));
    x.insert("rate", Val::Dec(plan.terms.rate));
    x.insert("setup_fee", Val::Dec(plan.terms.setup_fee));
    x.insert("min_volume", Val::Int(i64::from(plan.terms.min_volume)));
    x.insert("interval", Val::Int(i64::from(plan.terms.interval)));
    x.insert("grace_volume", Val::Int(i64::from(plan.terms.grace_volume)));
    x.insert("duration", duration);
    x.insert("billed_seconds", column("billed_seconds", billed)?);
    x.insert("cost", Val::Dec(cost));
    x.insert("id_currencies", Val::Int(plan.currency));
    x.insert(
        "connect_time",
        Val::Text(clock::format_dt(plan.connect_time)),
    );
    x.insert("end_time", Val::Text(clock::format_dt(end)));
    x.insert(
        "reservation",
        req.reservation
            .and_then(|r| i64::try_from(r).ok())
            .map_or(Val::Null, Val::Int),
    );
    x.insert("unreserved", Val::Bool(unreserved));
    x.insert("request_hash", Val::Text(hash.to_string()));
    x.insert("c_dt", Val::Text(clock::format_dt(now)));
    Ok(x)
}

/// A settle waiting for its group commit: priced, its xDR built.
pub(super) struct SettleJob {
    call_id: String,
    duration: u64,
    /// The content hash that tells a replay from a conflict.
    hash: String,
    /// The account and number of the call, when known (also checked on a replay).
    checked: Option<(i64, String)>,
    /// The company whose call ids this one is among, when the call's client is known.
    company: Option<i64>,
    /// The caller's subtree: a call id outside it is unknown to the caller.
    scope: Option<i64>,
    /// Who settles, for the audit row.
    author: SettleAuthor,
    /// The xDR to write, or why it cannot be (surfaced only when this is no replay).
    priced: Result<Priced>,
    /// `now`, formatted.
    now: String,
    /// The reservation's id, hold, plan and held volume: its row goes with the settle's
    /// commit, and what it held is freed then.
    reservation: Option<(u64, Decimal, Arc<Plan>, Option<Claim>)>,
}

impl SettleJob {
    /// What its transaction will look up: the call id among its company's, and the client
    /// it posts to (each when known).
    pub(super) fn lookups(&self) -> (Option<(i64, &str)>, Option<i64>) {
        (
            self.company.map(|c| (c, self.call_id.as_str())),
            self.priced.as_ref().ok().map(|p| p.client),
        )
    }

    /// The reservation this settle closes, when it had one.
    pub(super) fn reservation_id(&self) -> Option<u64> {
        self.reservation.as_ref().map(|r| r.0)
    }
}

struct Priced {
    xdr: Record,
    client: i64,
    billed: u64,
    /// The cost without an included volume.
    cost: Decimal,
    plan: Arc<Plan>,
    /// The included volume the call may draw on.
    claim: Option<Claim>,
}

/// What one settle did inside the batch: the result, the balance change, the volume used.
pub(super) type SettleOutcome = (Settlement, Decimal, Option<volumes::Used>);

/// One settle inside the batch transaction (within its savepoint).
pub(super) fn settle_in_tx(tx: &mut dyn StoreTx, job: &mut SettleJob) -> Result<SettleOutcome> {
    if let Some(first) = earlier_settle(tx, job)? {
        return Ok((first, Decimal::ZERO, None));
    }
    let mut p = std::mem::replace(
        &mut job.priced,
        Err(Error::Internal("settle written twice".into())),
    )?;
    let used = draw_volume(tx, job, &mut p)?;
    let xdr = tx.insert(&XDRS, &p.xdr)?;
    if let Some(u) = &used {
        let seconds = i64::try_from(u.seconds)
            .map_err(|_| invariant(format!("{} included seconds used", u.seconds)))?;
        tx.add_volume_usage(u.subscription, u.run, u.period, u.entry, seconds)?;
    }
    let balance = charge(tx, job, &p, xdr)?;
    audit(tx, job, &p, xdr)?;
    let s = Settlement {
        xdr,
        call_id: job.call_id.clone(),
        client: p.client,
        duration: job.duration,
        billed_seconds: p.billed,
        cost: p.cost,
        volume_seconds: used.map_or(0, |u| u.seconds),
        subscription: used.map(|u| u.subscription),
        balance,
        unreserved: job.reservation.is_none(),
        replayed: false,
    };
    Ok((s, -p.cost, used))
}

/// The settle's audit row, in its own transaction (a replay changes nothing and writes none).
/// It names the call's company, so the tenant whose call it was finds it, and the call id.
fn audit(tx: &mut dyn StoreTx, job: &SettleJob, p: &Priced, xdr: i64) -> Result<()> {
    let objects = serde_json::json!([{"module": "xdrs", "id": xdr}]).to_string();
    tx.audit(&crate::store::AuditRow {
        dt: &job.now,
        id_users: job.author.id_users,
        login: &job.author.login,
        id_sessions: job.author.id_sessions,
        id_companies: p.plan.company,
        method: "core.settle",
        objects: &objects,
        outcome: "ok",
        call_id: Some(&job.call_id),
    })
}

/// The first settle of this call id, when there is one: its result again if this settle has
/// the same content, else `idempotency.conflict`.
fn earlier_settle(tx: &dyn StoreTx, job: &SettleJob) -> Result<Option<Settlement>> {
    // Call ids are unique per company and seen only inside the caller's subtree: another
    // tenant's call id answers exactly like one never settled.
    let found = tx.xdrs_by_call_id(&job.call_id, job.company, job.scope)?;
    if found.len() > 1 {
        return Err(ValidationError::invalid(
            "call_id",
            "several companies have a call with this id: give the account",
        )
        .into());
    }
    let Some((id, first_hash)) = found.into_iter().next() else {
        return Ok(None);
    };
    let same = first_hash == job.hash
        && match &job.checked {
            None => true,
            Some((account, destination)) => tx.get(&XDRS, id, None)?.is_some_and(|x| {
                int(&x, "id_accounts") == Some(*account) && text(&x, "dst") == destination
            }),
        };
    if !same {
        return Err(ChargeError::IdempotencyConflict(format!(
            "call_id {:?} was settled with different content",
            job.call_id
        ))
        .into());
    }
    Ok(Some(replay(tx, id)?))
}

/// Included seconds first, as many as the period has left by the database's own count: the
/// cost and the xDR become those after the volume; returns what the call takes from it.
fn draw_volume(tx: &dyn StoreTx, job: &SettleJob, p: &mut Priced) -> Result<Option<volumes::Used>> {
    let Some(claim) = p.claim.filter(|_| p.billed > 0) else {
        return Ok(None);
    };
    let (free, run, period) = volumes::available_in_tx(tx, &claim)?;
    if free == 0 {
        return Ok(None);
    }
    let covered = p.billed.min(free);
    let cost = rating::cost_after_volume(
        &p.plan.terms,
        job.duration,
        free,
        p.plan.precision,
        p.plan.rounding,
    )?;
    // A volume only ever lowers what a call costs.
    if cost < Decimal::ZERO || cost > p.cost {
        return Err(invariant(format!(
            "call {:?} costs {cost} after its volume, {} without",
            job.call_id, p.cost
        )));
    }
    p.cost = cost;
    p.xdr.insert("cost", Val::Dec(p.cost));
    p.xdr
        .insert("id_subscriptions", Val::Int(claim.subscription));
    p.xdr
        .insert("volume_seconds", column("volume_seconds", covered)?);
    Ok(Some(volumes::Used {
        subscription: claim.subscription,
        run,
        period,
        entry: claim.entry,
        seconds: covered,
    }))
}

/// Post the call's cost to the client's ledger (nothing for a free call) and link the xDR to
/// the entry; returns the client's balance after it.
fn charge(tx: &mut dyn StoreTx, job: &SettleJob, p: &Priced, xdr: i64) -> Result<Decimal> {
    if p.cost < Decimal::ZERO {
        return Err(invariant(format!(
            "call {:?} would be charged {}, below zero",
            job.call_id, p.cost
        )));
    }
    if p.cost.is_zero() {
        return tx
            .client_balance(p.client)?
            .map(|b| b.0)
            .ok_or_else(|| invariant(format!("client {} of an xDR has no balance", p.client)));
    }
    let reference = format!("xdr:{xdr}");
    let posted = ledger::post(
        tx,
        &Posting {
            client: p.client,
            kind: "call",
            amount: -p.cost,
            original: None,
            dt: &job.now,
            notes: None,
            author: 0,
            idempotency_key: None,
            request_hash: None,
            reference: Some(&reference),
        },
    )?;
    // The entry moved the balance by exactly the cost.
    if money::exact_sub(posted.before, p.cost)? != posted.after {
        return Err(invariant(format!(
            "client {}: charging {} moved the balance from {} to {}",
            p.client, p.cost, posted.before, posted.after
        )));
    }
    let mut link = Record::new();
    link.insert("id_transactions", Val::Int(posted.id));
    tx.update(&XDRS, xdr, &link)?;
    Ok(posted.after)
}

/// A stored count of seconds of an xDR (absent: 0); a negative one is a broken row.
fn stored_seconds(x: &Record, xdr: i64, k: &str) -> Result<u64> {
    match int(x, k) {
        None => Ok(0),
        Some(n) => u64::try_from(n).map_err(|_| invariant(format!("xdr {xdr} has {k} {n}"))),
    }
}

/// The result of the settle that wrote `xdr`, as a repeat of it returns it.
fn replay(tx: &dyn StoreTx, xdr: i64) -> Result<Settlement> {
    let x = tx
        .get(&XDRS, xdr, None)?
        .ok_or_else(|| Error::Internal(format!("xdr {xdr} vanished")))?;
    let client =
        int(&x, "id_clients").ok_or_else(|| invariant(format!("xdr {xdr} has no client")))?;
    let cost = dec(&x, "cost");
    if cost < Decimal::ZERO {
        return Err(invariant(format!("xdr {xdr} has a negative cost {cost}")));
    }
    let balance = tx
        .client_balance(client)?
        .map(|b| b.0)
        .ok_or_else(|| invariant(format!("client {client} of xdr {xdr} has no balance")))?;
    Ok(Settlement {
        xdr,
        call_id: text(&x, "call_id").to_string(),
        client,
        duration: stored_seconds(&x, xdr, "duration")?,
        billed_seconds: stored_seconds(&x, xdr, "billed_seconds")?,
        cost,
        volume_seconds: stored_seconds(&x, xdr, "volume_seconds")?,
        subscription: int(&x, "id_subscriptions"),
        balance,
        unreserved: matches!(x.get("unreserved"), Some(Val::Bool(true))),
        replayed: true,
    })
}

#[cfg(test)]
mod tests {
    use super::super::testing::setup;
    use super::super::AuthorizeRequest;
    use super::*;
    use crate::clock::Clock;
    use crate::error::ErrorCode;
    use std::str::FromStr;

    fn d(s: &str) -> Decimal {
        Decimal::from_str(s).unwrap()
    }

    fn call() -> AuthorizeRequest {
        AuthorizeRequest {
            account: "100".into(),
            destination: "44123".into(),
            ..AuthorizeRequest::default()
        }
    }

    fn hangup(reservation: Option<u64>, call_id: &str, duration: u64) -> SettleRequest {
        SettleRequest {
            reservation,
            call_id: call_id.into(),
            duration,
            ..SettleRequest::default()
        }
    }

    #[test]
    fn a_settle_charges_once_and_a_repeat_replays_it() {
        let s = setup("10");
        let a = s.engine.authorize(&call()).unwrap();
        let first = s
            .engine
            .settle(&hangup(Some(a.reservation), "c1", 61))
            .unwrap();
        // 0.3 setup + two started minutes.
        assert_eq!((first.billed_seconds, first.cost), (120, d("2.3")));
        assert_eq!(first.balance, d("7.7"));
        assert!(!first.replayed && !first.unreserved);
        assert_eq!(
            s.engine.client_balance_cached(s.client),
            Some((d("7.7"), d("0")))
        );
        assert_eq!(s.engine.open_reservations(), 0);
        let again = s
            .engine
            .settle(&hangup(Some(a.reservation), "c1", 61))
            .unwrap();
        assert!(again.replayed);
        assert_eq!(
            (again.xdr, again.cost, again.balance, again.billed_seconds),
            (first.xdr, first.cost, d("7.7"), 120)
        );
        assert_eq!(
            s.engine.client_balance_cached(s.client).unwrap().0,
            d("7.7")
        );
        s.assert_consistent();
    }

    #[test]
    fn the_same_call_id_with_other_content_is_a_conflict_and_keeps_the_reservation() {
        let s = setup("10");
        let a = s.engine.authorize(&call()).unwrap();
        s.engine
            .settle(&hangup(Some(a.reservation), "c1", 30))
            .unwrap();
        let b = s.engine.authorize(&call()).unwrap();
        let e = s
            .engine
            .settle(&hangup(Some(b.reservation), "c1", 31))
            .unwrap_err();
        assert_eq!(e.code(), ErrorCode::IdempotencyConflict);
        // Nothing was charged: the reservation and its hold stay for a retry.
        assert_eq!(s.engine.open_reservations(), 1);
        assert_eq!(
            s.engine.client_balance_cached(s.client),
            Some((d("8.7"), b.held))
        );
        // The same content again is a replay: the call is over, its hold freed.
        let r = s
            .engine
            .settle(&hangup(Some(b.reservation), "c1", 30))
            .unwrap();
        assert!(r.replayed);
        assert_eq!(s.engine.open_reservations(), 0);
        assert_eq!(
            s.engine.client_balance_cached(s.client),
            Some((d("8.7"), d("0")))
        );
        s.assert_consistent();
    }

    #[test]
    fn a_settle_without_a_known_reservation_needs_the_calls_details() {
        let s = setup("10");
        let e = s.engine.settle(&hangup(None, "c1", 30)).unwrap_err();
        assert_eq!(e.code(), ErrorCode::ValidationRequired);
        let e = s.engine.settle(&hangup(Some(999), "c1", 30)).unwrap_err();
        assert_eq!(e.code(), ErrorCode::ReservationNotFound);
        let req = SettleRequest {
            account: Some("100".into()),
            destination: Some("44123".into()),
            connect_time: Some(s.clock.now()),
            ..hangup(None, "c1", 30)
        };
        let charged = s.engine.settle(&req).unwrap();
        assert!(charged.unreserved);
        assert_eq!((charged.cost, charged.balance), (d("1.3"), d("8.7")));
        s.assert_consistent();
    }

    #[test]
    fn a_free_call_answers_the_stored_balance() {
        let s = setup("10");
        let a = s.engine.authorize(&call()).unwrap();
        let free = s
            .engine
            .settle(&hangup(Some(a.reservation), "c0", 0))
            .unwrap();
        assert_eq!(
            (free.cost, free.billed_seconds, free.balance),
            (d("0"), 0, d("10"))
        );
        assert_eq!(
            s.engine.client_balance_cached(s.client),
            Some((d("10"), d("0")))
        );
        s.assert_consistent();
    }

    #[test]
    fn call_ids_and_durations_are_bounded() {
        assert!(check_request(&hangup(None, "c", 0)).is_ok());
        let long = "x".repeat(limits::call_id_length_max + 1);
        for req in [
            hangup(None, "", 1),
            hangup(None, &long, 1),
            hangup(None, "c", limits::call_duration_seconds_max + 1),
        ] {
            assert!(check_request(&req).is_err(), "{req:?}");
        }
        let s = setup("10");
        let a = s.engine.authorize(&call()).unwrap();
        let too_long = hangup(
            Some(a.reservation),
            "c1",
            limits::call_duration_seconds_max + 1,
        );
        let e = s.engine.settle(&too_long).unwrap_err();
        assert_eq!(e.code(), ErrorCode::ValidationOutOfRange);
        assert_eq!(
            s.engine.open_reservations(),
            1,
            "refused before it is taken"
        );
    }

    #[test]
    fn stored_counts_are_read_loudly() {
        let mut x = Record::new();
        x.insert("duration", Val::Int(61));
        x.insert("billed_seconds", Val::Int(-1));
        assert_eq!(stored_seconds(&x, 1, "duration").unwrap(), 61);
        assert_eq!(stored_seconds(&x, 1, "volume_seconds").unwrap(), 0);
        let e = stored_seconds(&x, 1, "billed_seconds").unwrap_err();
        assert_eq!(e.code(), ErrorCode::Internal);
        assert!(matches!(column("seconds", 5), Ok(Val::Int(5))));
        assert!(column("seconds", u64::MAX).is_err());
    }
}
