//! Tollgate over RADIUS (RFC 2865, RFC 2866): the front door most softswitches, gateways and
//! SBCs already have.
//!
//! - **Access-Request** → `Engine::authorize`: `User-Name` is the account identifier
//!   (`Calling-Station-Id` as an ANI when there is no `User-Name` or it names no account),
//!   `Called-Station-Id` the destination, `Acct-Session-Id` the call id. No password is
//!   checked: the switch authenticated its caller. **Access-Accept** carries
//!   `Session-Timeout`, Cisco's `h323-credit-time` and `h323-return-code=0`, and a `Class`
//!   naming the reservation; **Access-Reject** a `Reply-Message` with the refusal's code
//!   (`balance.insufficient`, `account.not_found`, …) and the matching `h323-return-code`.
//!   With a quota configured the grant still holds all of `max_seconds`: RADIUS has no way to
//!   cut a call later.
//! - **Accounting-Request**: `Start` ties the call id to the reservation, `Interim-Update`
//!   extends it (`Engine::update`), `Stop` settles (`Acct-Session-Time` the duration,
//!   `Acct-Session-Id` the call id, so a repeat charges nothing) and is answered only once the
//!   settle is durable. A Stop with no known reservation is charged as an unreserved call.
//! - Security: a packet whose authenticator does not verify under its NAS's secret, an
//!   Access-Request without a valid `Message-Authenticator` (BLAST-RADIUS), a packet from an
//!   unknown address, over 4096 bytes or with broken framing: dropped silently and counted.
//!   Retransmissions (same source, identifier and authenticator) get the first reply again.
//!
//! Everything runs on plain threads over std UDP sockets; the engine stays synchronous. The
//! wire format is [`codec`] (a small codec on RustCrypto's `md-5` and `hmac`).

pub mod clients;
pub mod codec;
pub mod dict;
mod handler;
pub mod limits;
mod server;

pub use clients::Clients;
pub use server::{RadiusServer, Stats};

use std::net::SocketAddr;
use std::sync::Arc;

/// Where the front door's events go: `(event, message)`, e.g. `("listening", "radius://…")`.
pub type LogFn = Arc<dyn Fn(&str, &str) + Send + Sync>;

/// How the RADIUS front door listens and what it bounds. [`RadiusConfig::new`] takes the
/// defaults of [`limits`].
#[derive(Clone)]
pub struct RadiusConfig {
    /// Authentication (and accounting, unless `acct` is set) port.
    pub listen: SocketAddr,
    /// A second port for accounting; then `listen` answers Access-Requests only.
    pub acct: Option<SocketAddr>,
    /// Who may talk, with which secret.
    pub clients: Clients,
    /// See [`limits::receiver_threads`].
    pub receiver_threads: usize,
    /// See [`limits::settle_threads`].
    pub settle_threads: usize,
    /// See [`limits::settle_queue_max`].
    pub settle_queue_max: usize,
    /// See [`limits::retransmit_window_seconds`].
    pub retransmit_window_seconds: u64,
    /// See [`limits::retransmit_cache_entries_max`].
    pub retransmit_cache_entries_max: usize,
    /// See [`limits::sessions_max`].
    pub sessions_max: usize,
    /// Where events go.
    pub log: LogFn,
}

impl std::fmt::Debug for RadiusConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RadiusConfig")
            .field("listen", &self.listen)
            .field("acct", &self.acct)
            .field("clients", &self.clients)
            .finish_non_exhaustive()
    }
}

impl RadiusConfig {
    /// The defaults, listening on `listen` for both kinds of request, logging nowhere.
    pub fn new(listen: SocketAddr, clients: Clients) -> RadiusConfig {
        RadiusConfig {
            listen,
            acct: None,
            clients,
            receiver_threads: limits::receiver_threads,
            settle_threads: limits::settle_threads,
            settle_queue_max: limits::settle_queue_max,
            retransmit_window_seconds: limits::retransmit_window_seconds,
            retransmit_cache_entries_max: limits::retransmit_cache_entries_max,
            sessions_max: limits::sessions_max,
            log: Arc::new(|_, _| {}),
        }
    }
}
