//! Real-time charging: `authorize` → `update` → `settle` / `release`, decided in memory.
//!
//! The hot-path state (clients' balances, credit and held amounts, accounts, companies, rate
//! tables as prefix indexes, currencies and exchange rates, open reservations) lives here. It
//! is loaded from the database at open and changed only after a commit, while the store lock
//! is still held (see `Store::run`), so it follows the database's commit order exactly and
//! never disagrees with it. Reservations are decided here and answered once their row is
//! durable (`durable`); an open holds every stored one again. A settle of an unknown
//! reservation that carries the call's details still charges (the xDR says `unreserved`).

mod batch;
mod durable;
mod plan;
pub(crate) use plan::Recorded;
pub mod rate_file;
mod reservations;
mod settle;
pub(crate) use settle::SettleAuthor;
mod state;
#[cfg(test)]
mod testing;
pub(crate) mod volumes;

use crate::charging::batch::Batcher;
use crate::error::Result;
use chrono::{DateTime, Utc};
use parking_lot::{Mutex, RwLock};
use rust_decimal::Decimal;
use std::sync::atomic::AtomicU64;
use std::sync::Arc;

use durable::Write;
use plan::{ExchangeRow, Table};
use reservations::Reservation;
use state::{AccountState, ClientState, CompanyState};

/// Bugs planted on purpose, so the simulator (`sim/`) can show it finds one. Each is off
/// unless the simulator's own test sets it; nothing else may.
#[doc(hidden)]
pub mod planted {
    use std::sync::atomic::AtomicBool;
    /// `release` gives a reservation's hold back twice.
    pub static DOUBLE_RELEASE: AtomicBool = AtomicBool::new(false);
}

/// The hot path's maps: foldhash (fast, seeded per process) instead of SipHash.
type HashMap<K, V> = std::collections::HashMap<K, V, foldhash::fast::RandomState>;

pub use crate::config::ChargingConfig;

/// What a softswitch asks at call setup.
#[derive(Debug, Clone, Default)]
pub struct AuthorizeRequest {
    /// The account identifier (IP, login, ANI or tech prefix).
    pub account: String,
    /// Which kind of identifier; `None` tries ip, login, ani, tech_prefix in that order.
    pub auth_type: Option<String>,
    /// Called number.
    pub destination: String,
    /// Calling number (recorded only).
    pub source: Option<String>,
    /// Call start; default now.
    pub time: Option<DateTime<Utc>>,
    /// Hold all of `max_seconds` even when a quota is configured: for front doors that tell
    /// the switch one limit and cannot extend it later (RADIUS's Session-Timeout).
    pub whole_grant: bool,
}

impl AuthorizeRequest {
    /// The request as [`AuthorizeCall`], borrowing its text.
    pub fn call(&self) -> AuthorizeCall<'_> {
        AuthorizeCall {
            account: &self.account,
            auth_type: self.auth_type.as_deref(),
            destination: &self.destination,
            source: self.source.as_deref(),
            time: self.time,
            whole_grant: self.whole_grant,
        }
    }
}

/// [`AuthorizeRequest`] with borrowed text: what a front door that already holds the
/// request's strings (a C caller's, a parsed JSON-RPC body's) passes without copying them.
#[derive(Debug, Clone, Copy)]
pub struct AuthorizeCall<'a> {
    /// As [`AuthorizeRequest::account`].
    pub account: &'a str,
    /// As [`AuthorizeRequest::auth_type`].
    pub auth_type: Option<&'a str>,
    /// As [`AuthorizeRequest::destination`].
    pub destination: &'a str,
    /// As [`AuthorizeRequest::source`].
    pub source: Option<&'a str>,
    /// As [`AuthorizeRequest::time`].
    pub time: Option<DateTime<Utc>>,
    /// As [`AuthorizeRequest::whole_grant`].
    pub whole_grant: bool,
}

/// A granted call.
#[derive(Debug, Clone, PartialEq)]
pub struct Authorization {
    /// Reservation to settle or release.
    pub reservation: u64,
    /// Longest affordable duration now (capped), in seconds.
    pub max_seconds: u64,
    /// Seconds this reservation holds funds for (`max_seconds` unless a quota is set).
    pub granted_seconds: u64,
    /// Account.
    pub account: i64,
    /// Client.
    pub client: i64,
    /// Matched code.
    pub code: String,
    /// Its name.
    pub code_name: String,
    /// Price per minute in the client's currency.
    pub rate: Decimal,
    /// Setup fee in the client's currency.
    pub setup_fee: Decimal,
    /// The client's currency.
    pub currency: i64,
    /// Amount held for the granted seconds.
    pub held: Decimal,
    /// Included (bundled) seconds held for the granted seconds; `max_seconds` counts them.
    pub volume_seconds: u64,
    /// The subscription whose included volume the call draws on.
    pub subscription: Option<i64>,
    /// When the reservation expires unless settled or extended.
    pub expires_at: DateTime<Utc>,
}

/// What a softswitch reports at hangup.
#[derive(Debug, Clone, Default)]
pub struct SettleRequest {
    /// The reservation from `authorize` (may be unknown after a restart).
    pub reservation: Option<u64>,
    /// The call's unique id: the idempotency key of the settle.
    pub call_id: String,
    /// Duration in seconds.
    pub duration: u64,
    /// Needed when the reservation is unknown: the account identifier.
    pub account: Option<String>,
    /// Its kind.
    pub auth_type: Option<String>,
    /// Needed when the reservation is unknown: the called number.
    pub destination: Option<String>,
    /// Calling number.
    pub source: Option<String>,
    /// Needed when the reservation is unknown: the connect time.
    pub connect_time: Option<DateTime<Utc>>,
}

/// A charged call.
#[derive(Debug, Clone, PartialEq)]
pub struct Settlement {
    /// The xDR.
    pub xdr: i64,
    /// Call id.
    pub call_id: String,
    /// Client.
    pub client: i64,
    /// Duration.
    pub duration: u64,
    /// Billed seconds.
    pub billed_seconds: u64,
    /// Cost charged (client currency).
    pub cost: Decimal,
    /// Billed seconds an included volume covered (not charged in money).
    pub volume_seconds: u64,
    /// The subscription whose volume covered them.
    pub subscription: Option<i64>,
    /// Balance after the charge.
    pub balance: Decimal,
    /// Charged without a known reservation.
    pub unreserved: bool,
    /// A repeat of an earlier settle: nothing was charged again.
    pub replayed: bool,
}

/// The in-memory charging state of one engine.
#[derive(Default)]
pub(crate) struct Charging {
    config: ChargingConfig,
    clients: RwLock<HashMap<i64, Arc<Mutex<ClientState>>>>,
    accounts_by_id: RwLock<HashMap<i64, Arc<AccountState>>>,
    accounts: RwLock<[HashMap<String, Arc<AccountState>>; 4]>,
    companies: RwLock<HashMap<i64, Arc<CompanyState>>>,
    tables: RwLock<HashMap<i64, Arc<Table>>>,
    precisions: RwLock<HashMap<i64, u32>>,
    exchange: RwLock<Vec<ExchangeRow>>,
    reservations: Mutex<HashMap<u64, Reservation>>,
    /// The first reservation id of this run's epoch (ids of earlier runs are below it).
    first_reservation: u64,
    next_reservation: AtomicU64,
    /// The group commit every charging write goes through (see `durable`).
    writes: Batcher<Write, Result<Option<Settlement>>>,
    /// Group commits written, and the settles they carried (for monitoring and tests).
    settle_batches: AtomicU64,
    settles_batched: AtomicU64,
}

/// A broken invariant, as the error of a call that can still fail: nothing wrong is used.
fn invariant(what: impl std::fmt::Display) -> crate::Error {
    crate::Error::Internal(format!("invariant: {what}"))
}

/// A broken invariant found where no error can be returned (memory updated after a commit,
/// a reservation freed by expiry): a panic in debug builds, an error in the log in release.
fn violated(what: impl std::fmt::Display) {
    log::error!("invariant: {what}");
    debug_assert!(false, "invariant: {what}");
}
