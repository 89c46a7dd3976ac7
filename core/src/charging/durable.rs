//! What charging writes, and the one group commit that writes it.
//!
//! A switch is told nothing that is not durable: an `authorize` or `update` is answered once
//! its reservation's row is committed, a `release` once the row is gone, a `settle` once its
//! xDR, ledger entry and audit row are committed and its reservation's row is gone — all in the
//! same transaction. Concurrent writes of every kind share one batch (one transaction, one
//! fsync), each settle inside its own savepoint: a refused settle undoes only itself. A failed commit
//! halts the store (`store.halted`): nothing is retried into a lost write.

use super::batch::Ticket;
use super::settle::{settle_in_tx, SettleJob, SettleOutcome};
use super::{Charging, Settlement};
use crate::error::{Error, Result};
use crate::store::{ReservationRow, Store, StoreTx, TxKind};
use std::cell::RefCell;
use std::sync::atomic::Ordering;

/// One write of the charging layer.
pub(super) enum Write {
    /// Charge a finished call (and close its reservation's row, when it had one).
    Settle(Box<SettleJob>),
    /// Store an open reservation as granted or extended.
    Keep(ReservationRow),
    /// Remove closed reservations (released or expired).
    Forget(Vec<u64>),
}

/// What a write did inside its batch.
enum Outcome {
    Settled(SettleOutcome),
    Done,
}

impl Charging {
    /// Queue `job`: its place in the commit order is taken now. Writes about one reservation
    /// are queued under the lock that changed it in memory, so the disk sees them in the
    /// order memory did (an update's row never lands after the settle that closed it).
    pub(super) fn queue(&self, job: Write) -> Ticket {
        self.writes.enqueue(job)
    }

    /// Wait until a reservation row's write is durable (or failed), if one was queued: a
    /// store that is never opened again (`Store::reopens`) keeps no rows of open
    /// reservations, which only the next open reads.
    pub(super) fn kept(&self, store: &dyn Store, ticket: Option<Ticket>) -> Result<()> {
        match ticket {
            Some(ticket) => self.written(store, ticket).map(|_| ()),
            None => Ok(()),
        }
    }

    /// Wait until a queued write is durable (or failed). Call it with no lock held.
    pub(super) fn written(&self, store: &dyn Store, ticket: Ticket) -> Result<Option<Settlement>> {
        self.writes
            .wait(ticket, &|jobs| self.write_batch(store, jobs))
            .unwrap_or_else(|| Err(batch_lost()))
    }

    /// Write a batch in one transaction, each job in its own savepoint, commit once, then
    /// apply every charged settle to memory in commit order while the store lock is held.
    fn write_batch(&self, store: &dyn Store, jobs: Vec<Write>) -> Vec<Result<Option<Settlement>>> {
        let count = jobs.len();
        let settles = jobs
            .iter()
            .filter(|j| matches!(j, Write::Settle(_)))
            .count();
        if settles > 0 {
            self.settle_batches.fetch_add(1, Ordering::Relaxed);
            self.settles_batched
                .fetch_add(u64::try_from(settles).unwrap_or(0), Ordering::Relaxed);
        }
        let jobs = RefCell::new(jobs);
        let outcomes: RefCell<Vec<Result<Outcome>>> = RefCell::new(Vec::with_capacity(count));
        let batch = store.run(
            TxKind::Write,
            &mut |tx| {
                let mut outcomes = outcomes.borrow_mut();
                outcomes.clear();
                {
                    let jobs = jobs.borrow();
                    let (calls, clients) = prefetch_keys(&jobs);
                    tx.prefetch_settles(&calls, &clients)?;
                }
                for job in jobs.borrow_mut().iter_mut() {
                    // A settle can be refused on its own (a conflict, no rate): its own
                    // savepoint. A reservation row cannot, short of the disk failing, and
                    // then the whole batch fails: no savepoint to pay for.
                    if !matches!(job, Write::Settle(_)) {
                        outcomes.push(Ok(write_one(tx, job)?));
                        continue;
                    }
                    tx.savepoint()?;
                    let outcome = write_one(tx, job);
                    if outcome.is_ok() {
                        tx.release_savepoint()?;
                    } else {
                        tx.rollback_to_savepoint()?;
                    }
                    outcomes.push(outcome);
                }
                Ok(())
            },
            &mut || {
                for (job, outcome) in jobs.borrow().iter().zip(outcomes.borrow().iter()) {
                    if let (Write::Settle(job), Ok(Outcome::Settled((s, delta, used)))) =
                        (job, outcome)
                    {
                        self.apply_settle(job, s, *delta, used.as_ref());
                    }
                }
            },
        );
        match batch {
            Ok(()) => outcomes
                .into_inner()
                .into_iter()
                .map(|o| {
                    o.map(|o| match o {
                        Outcome::Settled((s, _, _)) => Some(s),
                        Outcome::Done => None,
                    })
                })
                .collect(),
            // Nothing of the batch committed: every write in it fails (and may be retried,
            // unless the store halted).
            Err(e) => (0..count).map(|_| Err(batch_error(&e))).collect(),
        }
    }
}

/// What a batch's settles will look up: their (company, call id) pairs and clients.
fn prefetch_keys(jobs: &[Write]) -> (Vec<(i64, &str)>, Vec<i64>) {
    let mut calls = Vec::new();
    let mut clients = Vec::new();
    for job in jobs {
        if let Write::Settle(job) = job {
            let (call, client) = job.lookups();
            calls.extend(call);
            clients.extend(client);
        }
    }
    clients.sort_unstable();
    clients.dedup();
    (calls, clients)
}

/// One write inside the batch transaction (within its savepoint).
fn write_one(tx: &mut dyn StoreTx, job: &mut Write) -> Result<Outcome> {
    match job {
        Write::Settle(job) => {
            let outcome = settle_in_tx(tx, job)?;
            // A charged call and a replayed one are both over: their reservation is closed
            // in the transaction that answers the settle.
            if let Some(id) = job.reservation_id() {
                tx.delete_reservations(&[id])?;
            }
            Ok(Outcome::Settled(outcome))
        }
        Write::Keep(row) => {
            tx.put_reservation(row)?;
            Ok(Outcome::Done)
        }
        Write::Forget(ids) => {
            tx.delete_reservations(ids)?;
            Ok(Outcome::Done)
        }
    }
}

/// The error of a write whose batch ended without results (its leader panicked).
fn batch_lost() -> Error {
    Error::Internal("the group commit holding this write failed".into())
}

/// The error every write of a failed batch gets: a halted store says so; any other storage
/// failure is a storage error without the SQL.
fn batch_error(e: &Error) -> Error {
    match e {
        Error::Store(crate::error::StoreError::Halted(why)) => {
            crate::error::StoreError::Halted(why.clone()).into()
        }
        Error::Store(_) => crate::error::StoreError::io(e.to_string()).into(),
        _ => Error::Internal(format!("group commit failed: {e}")),
    }
}
