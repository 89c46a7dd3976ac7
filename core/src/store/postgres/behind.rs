//! Write-behind for the writer's transactions: the writes of a group commit that need no
//! answer from the server are kept in the transaction and sent together, one multi-row
//! statement per kind, just before the next statement that could see them and before COMMIT.
//!
//! Every statement costs a round trip to the server, and one connection writes for the whole
//! engine (the lease, `mod.rs`), so a batch of settles written one statement at a time is
//! bounded by round trips: eleven per authorize + settle. Kept back: xDR rows (their ids taken
//! ahead from the table's sequence, [`IdPool`]), call charges in the ledger (no idempotency
//! key, so no unique index can refuse them), balance updates, audit rows, and reservation rows
//! put or removed. Answered without asking the server: a balance this transaction has read or
//! written, and "no xDR has this call id" for the call ids the batch named up front
//! ([`Behind::prefetched`]). Everything else, and every statement not kept back, sends what is
//! pending first, so every read sees this transaction's writes, as it would without this.
//!
//! Savepoints: a settle's savepoint costs nothing until something is sent to the server inside
//! it; only then is `SAVEPOINT` sent (before what it covers). Rolling back an unsent one drops
//! the pending writes made since. A statement that fails inside an unsent savepoint leaves the
//! transaction aborted with nothing to roll back to: the batch fails as a whole
//! ([`Behind::poisoned`]), never commits.

use super::meta;
use super::tx::PgTx;
use super::val::{PgDec, PgVal};
use crate::error::{Error, Result};
use crate::model::Record;
use crate::store::ReservationRow;
use postgres::types::ToSql;
use rust_decimal::Decimal;
use std::collections::{HashMap, HashSet};
use std::fmt::Write as _;

/// Ids taken from a table's identity sequence ahead of use, per table, on one connection.
#[derive(Default)]
pub(super) struct IdPool {
    free: HashMap<&'static str, Vec<i64>>,
}

/// How many ids one trip to the sequence takes.
pub(super) const IDS_PER_TRIP: i32 = 64;

impl IdPool {
    pub(super) fn take(&mut self, table: &'static str) -> Option<i64> {
        self.free.get_mut(table).and_then(Vec::pop)
    }

    /// `ids` in ascending order: they are handed out lowest first.
    pub(super) fn refill(&mut self, table: &'static str, mut ids: Vec<i64>) {
        ids.sort_unstable_by(|a, b| b.cmp(a));
        self.free.insert(table, ids);
    }

    /// Forget a table's ids (its sequence was set by hand).
    pub(super) fn forget(&mut self, table: &str) {
        self.free.remove(table);
    }
}

/// A ledger entry kept back (`TransactionRow` with its strings owned).
pub(super) struct Entry {
    pub id: i64,
    pub id_clients: i64,
    pub kind: String,
    pub amount: Decimal,
    pub id_currencies: i64,
    pub orig_amount: Option<Decimal>,
    pub orig_id_currencies: Option<i64>,
    pub exchange_rate: Option<Decimal>,
    pub balance_after: Decimal,
    pub dt: String,
    pub notes: Option<String>,
    pub author: i64,
    pub request_hash: Option<String>,
    pub reference: Option<String>,
}

/// An audit row kept back.
pub(super) struct Audit {
    pub dt: String,
    pub id_users: i64,
    pub login: String,
    pub id_sessions: Option<i64>,
    pub id_companies: i64,
    pub method: String,
    pub objects: String,
    pub outcome: String,
    pub call_id: Option<String>,
}

/// One write kept back.
pub(super) enum Op {
    Xdr { id: i64, rec: Record },
    Entry(Entry),
    Balance { client: i64, balance: Decimal },
    Audit(Audit),
    PutReservation(ReservationRow),
    DeleteReservations(Vec<u64>),
}

/// An open savepoint: where it began among the pending writes, and the balances then.
struct Mark {
    ops: usize,
    balances: HashMap<i64, (Decimal, i64)>,
    /// `SAVEPOINT` was sent (something went to the server inside it).
    sent: bool,
}

/// Pending writes are sent once this many are waiting, whatever comes next.
pub(super) const PENDING_MAX: usize = 2048;

/// What a writer's transaction keeps back.
#[derive(Default)]
pub(super) struct Behind {
    pub ops: Vec<Op>,
    /// Balances and currencies as this transaction last read or wrote them.
    pub balances: HashMap<i64, (Decimal, i64)>,
    /// (company, call id) pairs the batch named up front ...
    pub prefetched: HashSet<(i64, String)>,
    /// ... and those of them that may have an xDR in the database (found then, or sent since).
    pub present: HashSet<(i64, String)>,
    mark: Option<Mark>,
    /// A statement failed where no savepoint can undo it: the transaction must not commit.
    pub poisoned: bool,
}

/// What `sync` must send: the writes before an unsent savepoint, the savepoint, the rest.
pub(super) struct Plan {
    pub before: Vec<Op>,
    pub savepoint: bool,
    pub after: Vec<Op>,
}

impl Behind {
    /// Whether "no xDR of `company` has `call_id`" is known without asking the server.
    pub(super) fn surely_unsettled(&self, company: i64, call_id: &str) -> bool {
        let key = (company, call_id.to_string());
        self.prefetched.contains(&key)
            && !self.present.contains(&key)
            && !self.ops.iter().any(
                |op| matches!(op, Op::Xdr { rec, .. } if crate::model::text(rec, "call_id") == call_id),
            )
    }

    /// Something not kept back wrote xDRs or clients: what was learnt of them is forgotten.
    pub(super) fn forget(&mut self, xdrs: bool, clients: bool) {
        if xdrs {
            self.prefetched.clear();
            self.present.clear();
        }
        if clients {
            self.balances.clear();
        }
    }

    /// The pending xDR `id`, to amend before it is sent.
    pub(super) fn pending_xdr(&mut self, id: i64) -> Option<&mut Record> {
        self.ops.iter_mut().rev().find_map(|op| match op {
            Op::Xdr { id: x, rec } if *x == id => Some(rec),
            _ => None,
        })
    }

    /// What to send before the next statement: nothing when nothing is pending and the open
    /// savepoint (if any) is sent or `for_read` (a read inside a savepoint changes nothing it
    /// would have to undo).
    pub(super) fn take_plan(&mut self, for_read: bool) -> Option<Plan> {
        let unsent = self.mark.as_ref().is_some_and(|m| !m.sent);
        if self.ops.is_empty() && (!unsent || for_read) {
            return None;
        }
        let mut ops = std::mem::take(&mut self.ops);
        for op in &ops {
            if let Op::Xdr { rec, .. } = op {
                let key = (
                    crate::model::int(rec, "id_companies").unwrap_or_default(),
                    crate::model::text(rec, "call_id").to_string(),
                );
                if self.prefetched.contains(&key) {
                    self.present.insert(key);
                }
            }
        }
        match self.mark.as_mut() {
            // A read, and nothing pending is inside the savepoint: it stays unsent.
            Some(m) if !m.sent && for_read && m.ops >= ops.len() => {
                m.ops = 0;
                Some(Plan {
                    before: ops,
                    savepoint: false,
                    after: Vec::new(),
                })
            }
            Some(m) if !m.sent => {
                m.sent = true;
                let after = ops.split_off(m.ops.min(ops.len()));
                Some(Plan {
                    before: ops,
                    savepoint: true,
                    after,
                })
            }
            _ => Some(Plan {
                before: ops,
                savepoint: false,
                after: Vec::new(),
            }),
        }
    }

    /// Open a savepoint (they do not nest: `StoreTx::savepoint`).
    pub(super) fn savepoint(&mut self) -> Result<()> {
        if self.mark.is_some() {
            return Err(Error::Internal("a savepoint inside a savepoint".into()));
        }
        self.mark = Some(Mark {
            ops: self.ops.len(),
            balances: self.balances.clone(),
            sent: false,
        });
        Ok(())
    }

    /// Close the savepoint; true when `RELEASE` must be sent.
    pub(super) fn release(&mut self) -> bool {
        self.mark.take().is_some_and(|m| m.sent)
    }

    /// Undo the savepoint's pending writes and balances; true when `ROLLBACK TO` must be
    /// sent. An unsent savepoint in a poisoned transaction cannot be undone: `Err`.
    pub(super) fn rollback(&mut self) -> std::result::Result<bool, ()> {
        let Some(m) = self.mark.take() else {
            return Ok(false);
        };
        self.balances = m.balances;
        if m.sent {
            // Everything pending was written after the savepoint was sent.
            self.ops.clear();
            self.poisoned = false;
            Ok(true)
        } else if self.poisoned {
            Err(())
        } else {
            self.ops.truncate(m.ops);
            Ok(false)
        }
    }
}

/// Rows per multi-row statement: a handful of prepared shapes per kind, far below the
/// server's 65,535 parameters.
const ROWS_PER_STATEMENT: usize = 64;

/// `($1, $2, $3), ($4, $5, $6)` for `rows` rows of `cols` columns (casts: one per column,
/// empty where the target column gives the type).
fn values(rows: usize, casts: &[&str]) -> String {
    let mut s = String::new();
    let mut n = 0;
    for r in 0..rows {
        if r > 0 {
            s.push_str(", ");
        }
        s.push('(');
        for (c, cast) in casts.iter().enumerate() {
            n += 1;
            if c > 0 {
                s.push_str(", ");
            }
            let _ = write!(s, "${n}{cast}");
        }
        s.push(')');
    }
    s
}

type Param<'a> = Box<dyn ToSql + Sync + 'a>;

impl PgTx<'_> {
    /// Before a statement: send what is pending, and the open savepoint first when it covers
    /// some of it (or the statement writes). `for_read`: the statement only reads.
    pub(super) fn sync(&self, for_read: bool) -> Result<()> {
        let plan = self.behind.borrow_mut().take_plan(for_read);
        let Some(plan) = plan else { return Ok(()) };
        self.send(&plan.before)?;
        if plan.savepoint {
            self.raw_batch("SAVEPOINT tollgate_item")?;
        }
        self.send(&plan.after)
    }

    /// Keep a write back; send everything once too much is waiting.
    pub(super) fn keep(&self, op: Op) -> Result<()> {
        let full = {
            let mut b = self.behind.borrow_mut();
            b.ops.push(op);
            b.ops.len() >= PENDING_MAX
        };
        if full {
            self.sync(false)?;
        }
        Ok(())
    }

    /// The next id of `table`'s identity sequence, taken [`IDS_PER_TRIP`] at a time.
    pub(super) fn next_id(&self, table: &'static str) -> Result<i64> {
        if let Some(id) = self.ids.borrow_mut().take(table) {
            return Ok(id);
        }
        // nextval is outside the transaction: nothing pending needs to go first.
        let rows = self.raw_rows(
            "SELECT nextval(pg_get_serial_sequence($1, 'id')) FROM generate_series(1, $2)",
            &[&table, &IDS_PER_TRIP],
        )?;
        let ids = rows
            .iter()
            .map(|r| self.get::<i64>(r, 0))
            .collect::<Result<Vec<i64>>>()?;
        let mut pool = self.ids.borrow_mut();
        pool.refill(table, ids);
        pool.take(table)
            .ok_or_else(|| Error::Internal(format!("the sequence of {table} gave no id")))
    }

    /// Send kept-back writes: one multi-row statement per kind (and per shape of xDR), in an
    /// order no constraint depends on (none of these rows refers to another of them).
    fn send(&self, ops: &[Op]) -> Result<()> {
        if ops.is_empty() {
            return Ok(());
        }
        let mut entries = Vec::new();
        let mut xdrs: Vec<(String, Vec<(i64, &Record)>)> = Vec::new();
        let mut balances: Vec<(i64, Decimal)> = Vec::new();
        let mut audits = Vec::new();
        // The last of the puts and removals of each reservation is what stays.
        let mut reservations: Vec<(u64, Option<&ReservationRow>)> = Vec::new();
        for op in ops {
            match op {
                Op::Entry(e) => entries.push(e),
                Op::Xdr { id, rec } => {
                    let shape = rec.keys().copied().collect::<Vec<_>>().join(", ");
                    match xdrs.iter_mut().find(|(s, _)| *s == shape) {
                        Some((_, rows)) => rows.push((*id, rec)),
                        None => xdrs.push((shape, vec![(*id, rec)])),
                    }
                }
                Op::Balance { client, balance } => {
                    match balances.iter_mut().find(|(c, _)| c == client) {
                        Some(slot) => slot.1 = *balance,
                        None => balances.push((*client, *balance)),
                    }
                }
                Op::Audit(a) => audits.push(a),
                Op::PutReservation(row) => last_of(&mut reservations, row.id, Some(row)),
                Op::DeleteReservations(ids) => {
                    for id in ids {
                        last_of(&mut reservations, *id, None);
                    }
                }
            }
        }
        for chunk in entries.chunks(ROWS_PER_STATEMENT) {
            self.send_entries(chunk)?;
        }
        for (shape, rows) in &xdrs {
            for chunk in rows.chunks(ROWS_PER_STATEMENT) {
                self.send_xdrs(shape, chunk)?;
            }
        }
        for chunk in balances.chunks(ROWS_PER_STATEMENT) {
            let sql = format!(
                "UPDATE clients AS c SET balance = v.balance FROM (VALUES {}) AS v(id, balance)
                 WHERE c.id = v.id",
                values(chunk.len(), &["::bigint", "::numeric"])
            );
            let mut p: Vec<Param<'_>> = Vec::with_capacity(chunk.len() * 2);
            for (client, balance) in chunk {
                p.push(Box::new(*client));
                p.push(Box::new(PgDec(*balance)));
            }
            self.raw_exec(&sql, &params(&p))?;
        }
        for chunk in audits.chunks(ROWS_PER_STATEMENT) {
            self.send_audits(chunk)?;
        }
        let gone = reservations
            .iter()
            .filter(|(_, row)| row.is_none())
            .map(|(id, _)| meta::key(*id))
            .collect::<Result<Vec<i64>>>()?;
        if !gone.is_empty() {
            self.raw_exec("DELETE FROM reservations WHERE id = ANY($1)", &[&gone])?;
        }
        let kept: Vec<&ReservationRow> = reservations.iter().filter_map(|(_, row)| *row).collect();
        for chunk in kept.chunks(ROWS_PER_STATEMENT) {
            let sql = format!(
                "INSERT INTO reservations (id, id_clients, expires_at, body) VALUES {}
                 ON CONFLICT (id) DO UPDATE SET expires_at = excluded.expires_at, body = excluded.body",
                values(chunk.len(), &["", "", "", ""])
            );
            let mut p: Vec<Param<'_>> = Vec::with_capacity(chunk.len() * 4);
            for row in chunk {
                p.push(Box::new(meta::key(row.id)?));
                p.push(Box::new(row.client));
                p.push(Box::new(row.expires_at.as_str()));
                p.push(Box::new(row.body.as_str()));
            }
            self.raw_exec(&sql, &params(&p))?;
        }
        Ok(())
    }

    fn send_entries(&self, chunk: &[&Entry]) -> Result<()> {
        let sql = format!(
            "INSERT INTO transactions (id, id_clients, type, amount, id_currencies, orig_amount,
                orig_id_currencies, exchange_rate, balance_after, dt, notes, author, request_hash, reference)
             VALUES {}",
            values(chunk.len(), &[""; 14])
        );
        let mut p: Vec<Param<'_>> = Vec::with_capacity(chunk.len() * 14);
        for e in chunk {
            p.push(Box::new(e.id));
            p.push(Box::new(e.id_clients));
            p.push(Box::new(e.kind.as_str()));
            p.push(Box::new(PgDec(e.amount)));
            p.push(Box::new(e.id_currencies));
            p.push(Box::new(e.orig_amount.map(PgDec)));
            p.push(Box::new(e.orig_id_currencies));
            p.push(Box::new(e.exchange_rate.map(PgDec)));
            p.push(Box::new(PgDec(e.balance_after)));
            p.push(Box::new(e.dt.as_str()));
            p.push(Box::new(e.notes.as_deref()));
            p.push(Box::new(e.author));
            p.push(Box::new(e.request_hash.as_deref()));
            p.push(Box::new(e.reference.as_deref()));
        }
        self.raw_write(&sql, &params(&p))?;
        Ok(())
    }

    fn send_xdrs(&self, shape: &str, chunk: &[(i64, &Record)]) -> Result<()> {
        let cols = chunk.first().map_or(0, |(_, rec)| rec.len());
        let sql = format!(
            "INSERT INTO xdrs (id, {shape}) VALUES {}",
            values(chunk.len(), &vec![""; cols + 1])
        );
        let mut p: Vec<Param<'_>> = Vec::with_capacity(chunk.len() * (cols + 1));
        for (id, rec) in chunk {
            p.push(Box::new(*id));
            for v in rec.values() {
                p.push(Box::new(PgVal(v)));
            }
        }
        self.raw_write(&sql, &params(&p))?;
        Ok(())
    }

    fn send_audits(&self, chunk: &[&Audit]) -> Result<()> {
        let sql = format!(
            "INSERT INTO audit (dt, id_users, login, id_sessions, id_companies, method, objects, outcome, call_id)
             VALUES {}",
            values(chunk.len(), &[""; 9])
        );
        let mut p: Vec<Param<'_>> = Vec::with_capacity(chunk.len() * 9);
        for a in chunk {
            p.push(Box::new(a.dt.as_str()));
            p.push(Box::new(a.id_users));
            p.push(Box::new(a.login.as_str()));
            p.push(Box::new(a.id_sessions));
            p.push(Box::new(a.id_companies));
            p.push(Box::new(a.method.as_str()));
            p.push(Box::new(a.objects.as_str()));
            p.push(Box::new(a.outcome.as_str()));
            p.push(Box::new(a.call_id.as_deref()));
        }
        self.raw_exec(&sql, &params(&p))?;
        Ok(())
    }
}

/// Record that reservation `id`'s last change is `row` (`None`: removed).
fn last_of<'r>(
    v: &mut Vec<(u64, Option<&'r ReservationRow>)>,
    id: u64,
    row: Option<&'r ReservationRow>,
) {
    match v.iter_mut().find(|(r, _)| *r == id) {
        Some(slot) => slot.1 = row,
        None => v.push((id, row)),
    }
}

fn params<'a>(p: &'a [Param<'a>]) -> Vec<&'a (dyn ToSql + Sync)> {
    p.iter()
        .map(|b| b.as_ref() as &(dyn ToSql + Sync))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Val;

    fn xdr(call_id: &str, company: i64) -> Op {
        let mut rec = Record::new();
        rec.insert("call_id", Val::Text(call_id.into()));
        rec.insert("id_companies", Val::Int(company));
        Op::Xdr { id: 1, rec }
    }

    fn balance(client: i64, b: i64) -> Op {
        Op::Balance {
            client,
            balance: Decimal::from(b),
        }
    }

    #[test]
    fn an_unsent_savepoint_rolls_back_in_memory_and_a_sent_one_on_the_server() {
        let mut b = Behind::default();
        b.ops.push(balance(1, 10));
        b.balances.insert(1, (Decimal::from(10), 1));
        b.savepoint().unwrap();
        assert!(b.savepoint().is_err(), "savepoints do not nest");
        b.ops.push(balance(1, 7));
        b.balances.insert(1, (Decimal::from(7), 1));
        // Nothing went to the server inside it: undone here, nothing to send.
        assert_eq!(b.rollback(), Ok(false));
        assert_eq!(b.ops.len(), 1);
        assert_eq!(b.balances[&1].0, Decimal::from(10));
        // A read with nothing inside an open savepoint sends what came before, no SAVEPOINT.
        b.savepoint().unwrap();
        let plan = b.take_plan(true).unwrap();
        assert!(!plan.savepoint && plan.before.len() == 1 && plan.after.is_empty());
        assert!(b.take_plan(true).is_none(), "nothing left to send");
        // A write inside it sends SAVEPOINT first, and rolling back must go to the server.
        b.ops.push(balance(1, 3));
        let plan = b.take_plan(false).unwrap();
        assert!(plan.savepoint && plan.before.is_empty() && plan.after.len() == 1);
        b.ops.push(balance(1, 2));
        assert_eq!(b.rollback(), Ok(true));
        assert!(b.ops.is_empty(), "what was kept after SAVEPOINT is dropped");
    }

    #[test]
    fn a_failed_statement_inside_an_unsent_savepoint_cannot_be_undone() {
        let mut b = Behind::default();
        b.savepoint().unwrap();
        b.poisoned = true;
        assert_eq!(b.rollback(), Err(()));
    }

    #[test]
    fn a_call_id_is_surely_unsettled_only_when_asked_up_front_and_not_written_since() {
        let mut b = Behind::default();
        assert!(!b.surely_unsettled(1, "c1"), "never asked");
        b.prefetched.insert((1, "c1".into()));
        b.prefetched.insert((1, "c2".into()));
        b.present.insert((1, "c2".into()));
        assert!(b.surely_unsettled(1, "c1"));
        assert!(!b.surely_unsettled(1, "c2"), "found up front");
        assert!(!b.surely_unsettled(2, "c1"), "another company's");
        // Kept back in this transaction, then sent: known either way.
        b.ops.push(xdr("c1", 1));
        assert!(!b.surely_unsettled(1, "c1"));
        let _ = b.take_plan(false);
        assert!(!b.surely_unsettled(1, "c1"));
        b.forget(true, false);
        assert!(
            !b.surely_unsettled(1, "c1"),
            "forgotten after an xDR write not kept back"
        );
    }
}
