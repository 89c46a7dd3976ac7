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

/// The engine settings an operator sets by name: `tollgate serve`'s flags and the `[engine]`
/// table of its `--config` file, the JSON object of `tg_engine_open_with`, and the keyword
/// arguments of Python's `Engine.open`/`Engine.create`. A missing key keeps the default; an
/// unknown key or a value out of range is refused (this is the one place the ranges live).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EngineSettings {
    /// Beat of the engine's clock in milliseconds; 0 turns it off.
    pub clock_interval_ms: Option<u64>,
    /// Grant at most this many seconds per authorize/update (at least 1).
    pub quota_seconds: Option<u64>,
    /// Seconds past its granted time an unsettled reservation is kept.
    pub reservation_margin_seconds: Option<u64>,
    /// Longest duration one call may be granted, in seconds.
    pub max_call_seconds: Option<u64>,
}

impl EngineSettings {
    /// These settings over `other`'s (a flag over the configuration file).
    pub fn or(&self, other: &EngineSettings) -> EngineSettings {
        EngineSettings {
            clock_interval_ms: self.clock_interval_ms.or(other.clock_interval_ms),
            quota_seconds: self.quota_seconds.or(other.quota_seconds),
            reservation_margin_seconds: self
                .reservation_margin_seconds
                .or(other.reservation_margin_seconds),
            max_call_seconds: self.max_call_seconds.or(other.max_call_seconds),
        }
    }

    /// Settings from a JSON object (`null` or `{}`: none); unknown keys and wrong types are
    /// refused with a message naming them.
    pub fn from_json(v: &serde_json::Value) -> Result<EngineSettings, String> {
        if v.is_null() {
            return Ok(EngineSettings::default());
        }
        serde_json::from_value(v.clone()).map_err(|e| format!("engine settings: {e}"))
    }

    /// Apply these settings to `c`, checking every range first: on error `c` is unchanged.
    pub fn apply(&self, c: &mut EngineConfig) -> Result<(), String> {
        if let Some(m) = self.max_call_seconds {
            if m == 0 || m > limits::call_duration_seconds_max {
                return Err(format!(
                    "max_call_seconds must be 1 to {}",
                    limits::call_duration_seconds_max
                ));
            }
        }
        if self.quota_seconds == Some(0) {
            return Err("quota_seconds must be at least 1".into());
        }
        if let Some(m) = self.reservation_margin_seconds {
            if m > limits::call_duration_seconds_max {
                return Err(format!(
                    "reservation_margin_seconds must be at most {}",
                    limits::call_duration_seconds_max
                ));
            }
        }
        if let Some(ms) = self.clock_interval_ms {
            c.clock_interval_ms = (ms > 0).then_some(ms);
        }
        if self.quota_seconds.is_some() {
            c.charging.quota_seconds = self.quota_seconds;
        }
        if let Some(m) = self.reservation_margin_seconds {
            c.charging.reservation_margin_seconds = m;
        }
        if let Some(m) = self.max_call_seconds {
            c.charging.max_call_seconds = m;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_apply_only_in_range_and_leave_the_rest() {
        let mut c = EngineConfig::default();
        let s = EngineSettings::from_json(&serde_json::json!({"quota_seconds": 60})).unwrap();
        s.apply(&mut c).unwrap();
        assert_eq!(c.charging.quota_seconds, Some(60));
        assert_eq!(c.clock_interval_ms, None, "the library's clock stays off");
        for bad in [
            serde_json::json!({"quota_seconds": 0}),
            serde_json::json!({"max_call_seconds": 0}),
            serde_json::json!({"max_call_seconds": limits::call_duration_seconds_max + 1}),
        ] {
            let before = c.clone();
            let s = EngineSettings::from_json(&bad).unwrap();
            assert!(s.apply(&mut c).is_err(), "{bad}");
            assert_eq!(
                format!("{before:?}"),
                format!("{c:?}"),
                "{bad} changed nothing"
            );
        }
        for bad in [
            serde_json::json!({"quota": 60}),
            serde_json::json!({"quota_seconds": "60"}),
            serde_json::json!({"quota_seconds": -1}),
            serde_json::json!([1]),
        ] {
            let e = EngineSettings::from_json(&bad).unwrap_err();
            assert!(e.starts_with("engine settings:"), "{e}");
        }
        let on = EngineSettings {
            clock_interval_ms: Some(0),
            ..Default::default()
        };
        let mut c = EngineConfig {
            clock_interval_ms: Some(5),
            ..Default::default()
        };
        on.apply(&mut c).unwrap();
        assert_eq!(c.clock_interval_ms, None, "0 turns the clock off");
    }
}
