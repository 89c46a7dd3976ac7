//! The settings an embedder may change, with their defaults (each default is a named bound in
//! `limits`).

use crate::limits;

/// Settings an embedder may change.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// A session unused this long expires, in seconds.
    pub session_idle_seconds: i64,
    /// A session expires this long after login whatever its use, in seconds.
    pub session_lifetime_seconds: i64,
    /// Consecutive failed logins that lock a login.
    pub login_failures_max: i64,
    /// How long a locked login stays locked, in seconds.
    pub login_lock_seconds: i64,
    /// Lifetime of an access token, in seconds (PortaBilling's default: 48 h).
    pub access_token_lifetime_seconds: i64,
    /// Real-time charging: call cap, quota, reservation expiry.
    pub charging: ChargingConfig,
    /// Run the background thread that delivers events to `after` handlers (default on).
    /// Off, events wait in the outbox until `Engine::deliver_events` is called.
    pub event_worker: bool,
    /// Run the engine's own clock: a background thread that does `Engine::tick`'s work
    /// (reservation expiry, subscription activation, renewal and deactivation) every this many
    /// milliseconds, by the engine's clock. `None` (the library's default): time moves only
    /// when the embedder calls `tick`. `tollgate serve` turns it on.
    pub clock_interval_ms: Option<u64>,
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            session_idle_seconds: limits::session_idle_seconds_default,
            session_lifetime_seconds: limits::session_lifetime_seconds_default,
            login_failures_max: limits::login_failures_max_default,
            login_lock_seconds: limits::login_lock_seconds_default,
            access_token_lifetime_seconds: limits::access_token_lifetime_seconds_default,
            charging: ChargingConfig::default(),
            event_worker: true,
            clock_interval_ms: None,
        }
    }
}

/// Settings of real-time charging.
#[derive(Debug, Clone)]
pub struct ChargingConfig {
    /// Longest duration one call may be granted, in seconds (default 3 h).
    pub max_call_seconds: u64,
    /// Grant at most this many seconds per `authorize`/`update` (Diameter-style quota);
    /// `None` grants the whole affordable duration at once.
    pub quota_seconds: Option<u64>,
    /// A reservation not settled this long after its granted time runs out is released by
    /// `tick`, in seconds.
    pub reservation_margin_seconds: u64,
}

impl Default for ChargingConfig {
    fn default() -> Self {
        ChargingConfig {
            max_call_seconds: limits::call_grant_seconds_default,
            quota_seconds: None,
            reservation_margin_seconds: limits::reservation_margin_seconds_default,
        }
    }
}
