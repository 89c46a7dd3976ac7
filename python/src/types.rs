//! Small frozen result classes of the typed hot-path calls.

use chrono::{DateTime, Utc};
use pyo3::prelude::*;
use rust_decimal::Decimal;

/// A granted call: what `Engine.authorize` and `Engine.update` return.
#[pyclass(module = "tollgate", frozen, get_all, eq)]
#[derive(Debug, Clone, PartialEq)]
pub struct Authorization {
    /// Reservation to settle, update or release.
    pub reservation: u64,
    /// Longest affordable duration now (capped), in seconds.
    pub max_seconds: u64,
    /// Seconds this reservation holds funds for.
    pub granted_seconds: u64,
    /// Account id.
    pub account: i64,
    /// Client id.
    pub client: i64,
    /// Matched rate code.
    pub code: String,
    /// Its name.
    pub code_name: String,
    /// Price per minute in the client's currency.
    pub rate: Decimal,
    /// Setup fee in the client's currency.
    pub setup_fee: Decimal,
    /// The client's currency id.
    pub currency: i64,
    /// Amount held for the granted seconds.
    pub held: Decimal,
    /// When the reservation expires unless settled or extended (UTC).
    pub expires_at: DateTime<Utc>,
}

impl From<tollgate::Authorization> for Authorization {
    fn from(a: tollgate::Authorization) -> Self {
        Authorization {
            reservation: a.reservation,
            max_seconds: a.max_seconds,
            granted_seconds: a.granted_seconds,
            account: a.account,
            client: a.client,
            code: a.code,
            code_name: a.code_name,
            rate: a.rate,
            setup_fee: a.setup_fee,
            currency: a.currency,
            held: a.held,
            expires_at: a.expires_at,
        }
    }
}

#[pymethods]
impl Authorization {
    fn __repr__(&self) -> String {
        format!(
            "Authorization(reservation={}, max_seconds={}, granted_seconds={}, account={}, client={}, code={:?}, rate=Decimal('{}'), held=Decimal('{}'))",
            self.reservation,
            self.max_seconds,
            self.granted_seconds,
            self.account,
            self.client,
            self.code,
            self.rate,
            self.held
        )
    }
}

/// A charged call: what `Engine.settle` returns.
#[pyclass(module = "tollgate", frozen, get_all, eq)]
#[derive(Debug, Clone, PartialEq)]
pub struct Settlement {
    /// The xDR id.
    pub xdr: i64,
    /// The call id (the settle's idempotency key).
    pub call_id: String,
    /// Client id.
    pub client: i64,
    /// Duration, in seconds.
    pub duration: u64,
    /// Billed seconds.
    pub billed_seconds: u64,
    /// Cost charged, in the client's currency.
    pub cost: Decimal,
    /// The client's balance after the charge.
    pub balance: Decimal,
    /// Charged without a known reservation.
    pub unreserved: bool,
    /// A repeat of an earlier settle: nothing was charged again.
    pub replayed: bool,
}

impl From<tollgate::Settlement> for Settlement {
    fn from(s: tollgate::Settlement) -> Self {
        Settlement {
            xdr: s.xdr,
            call_id: s.call_id,
            client: s.client,
            duration: s.duration,
            billed_seconds: s.billed_seconds,
            cost: s.cost,
            balance: s.balance,
            unreserved: s.unreserved,
            replayed: s.replayed,
        }
    }
}

#[pymethods]
impl Settlement {
    fn __repr__(&self) -> String {
        format!(
            "Settlement(xdr={}, call_id={:?}, client={}, duration={}, billed_seconds={}, cost=Decimal('{}'), balance=Decimal('{}'), unreserved={}, replayed={})",
            self.xdr,
            self.call_id,
            self.client,
            self.duration,
            self.billed_seconds,
            self.cost,
            self.balance,
            py_bool(self.unreserved),
            py_bool(self.replayed)
        )
    }
}

/// What a file method wrote: `Engine.call_file` returns it.
#[pyclass(module = "tollgate", frozen, get_all, eq)]
#[derive(Debug, Clone, PartialEq)]
pub struct FileInfo {
    /// Suggested file name, e.g. `xdrs-2026-01-15.csv`.
    pub name: String,
    /// MIME type, e.g. `text/csv`.
    pub content_type: String,
    /// The session a password login in params opened, if any.
    pub session_id: Option<String>,
}

#[pymethods]
impl FileInfo {
    fn __repr__(&self) -> String {
        format!(
            "FileInfo(name={:?}, content_type={:?})",
            self.name, self.content_type
        )
    }
}

fn py_bool(b: bool) -> &'static str {
    if b {
        "True"
    } else {
        "False"
    }
}
