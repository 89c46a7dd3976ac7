//! Provisioning events (DESIGN §9): the catalog, payloads, `before` handlers run before a
//! change commits, and the transactional outbox that feeds `after` handlers through a
//! background delivery worker.
//!
//! - An event of a change is written (when some enabled `after` handler subscribes to it) in
//!   the change's own transaction: a rolled-back change has no event, a committed one never
//!   loses it.
//! - Deliveries go out at least once, in order per object, with exponential backoff and a
//!   bounded number of attempts; every attempt is a row of the execution log.
//! - No lock of the engine is held while a handler runs.

pub(crate) mod before;
pub use crate::model::catalog;
pub(crate) mod delivery;
pub(crate) use crate::outbox;
pub(crate) mod runner;

use crate::error::{Result, ValidationError};
use crate::limits;
use parking_lot::{Condvar, Mutex, RwLock};
use serde_json::Value;
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

pub use delivery::DeliveryReport;

/// What the `before` stage and delivery need of an engine: its store and its handlers.
pub(crate) struct Hub<'a> {
    pub(crate) store: &'a dyn crate::store::Store,
    pub(crate) events: &'a Events,
}

/// One event as a callback handler sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    /// The outbox id of the event (the same on every retry: use it to drop duplicates); 0 for
    /// a `before` handler, whose change has not happened yet.
    pub id: i64,
    /// The catalog id, e.g. `clients.update`.
    pub event: String,
    /// The object the event is about (0 for a `before` handler of a create).
    pub object_id: i64,
    /// Before or after the change.
    pub stage: Stage,
    /// The JeraSoft payload: `{"event": {"dt", "events_id", "object_id"}, "data": {...}}`.
    pub payload: Value,
}

impl Event {
    /// The event as the C and Python callbacks receive it:
    /// `{"id", "event", "object_id", "stage", "payload"}`.
    pub fn to_json(&self) -> Value {
        serde_json::json!({
            "id": self.id,
            "event": self.event,
            "object_id": self.object_id,
            "stage": self.stage.as_str(),
            "payload": self.payload,
        })
    }
}

/// When a handler runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// Synchronously, before the change commits: may allow, forbid or modify it.
    Before,
    /// From the outbox, after the change committed: notification only.
    After,
}

impl Stage {
    /// `before` or `after`.
    pub fn as_str(self) -> &'static str {
        match self {
            Stage::Before => "before",
            Stage::After => "after",
        }
    }
}

/// A handler's answer.
#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    /// Go ahead (`after`: delivered).
    Allow,
    /// Refuse the change with this message (`before`); for `after`, a failed attempt that is
    /// retried.
    Forbid(String),
    /// Go ahead with this `data` instead (`before`; it is validated again like any input). For
    /// `after`, the same as [`Verdict::Allow`].
    Modify(Value),
}

/// A handler of kind `callback`: a closure registered under a name with
/// [`crate::Engine::register_callback`]. It runs on the delivery worker's thread (`after`) or
/// the caller's (`before`) with no engine lock held, so it may call back into the engine.
pub type EventCallback = Arc<dyn Fn(&Event) -> Verdict + Send + Sync>;

/// Wakes and stops the delivery worker.
#[derive(Default)]
pub(crate) struct Signal {
    state: Mutex<SignalState>,
    cv: Condvar,
}

#[derive(Default)]
struct SignalState {
    wake: bool,
    stop: bool,
}

impl Signal {
    /// Ask the worker to look for due deliveries now.
    pub(crate) fn wake(&self) {
        let mut s = self.state.lock();
        s.wake = true;
        self.cv.notify_all();
    }

    /// Ask the worker to stop.
    pub(crate) fn stop(&self) {
        let mut s = self.state.lock();
        s.stop = true;
        self.cv.notify_all();
    }

    /// Has a stop been asked for?
    pub(crate) fn stopping(&self) -> bool {
        self.state.lock().stop
    }

    /// Wait until woken, stopped or `poll` has passed. Returns `false` once stopping.
    pub(crate) fn wait(&self, poll: std::time::Duration) -> bool {
        let mut s = self.state.lock();
        if !s.wake && !s.stop {
            self.cv.wait_for(&mut s, poll);
        }
        s.wake = false;
        !s.stop
    }
}

/// The engine's event state: registered callbacks, the cache of which events have `before`
/// handlers, and the worker's signal.
pub(crate) struct Events {
    callbacks: RwLock<HashMap<String, EventCallback>>,
    /// One delivery pass at a time (the worker's or an explicit `deliver_events`).
    pub(crate) pass: Mutex<()>,
    pub(crate) signal: Arc<Signal>,
    /// Events with at least one enabled `before` handler (None: reload).
    before_cache: Mutex<Option<Arc<HashSet<String>>>>,
    version: AtomicU64,
}

impl Default for Events {
    fn default() -> Self {
        Events {
            callbacks: RwLock::new(HashMap::new()),
            pass: Mutex::new(()),
            signal: Arc::new(Signal::default()),
            before_cache: Mutex::new(None),
            version: AtomicU64::new(0),
        }
    }
}

impl Events {
    /// Register a callback under `name` (refused when the name is taken or malformed).
    pub(crate) fn register(&self, name: &str, cb: EventCallback) -> Result<()> {
        check_callback_name(name)?;
        let mut map = self.callbacks.write();
        if map.contains_key(name) {
            return Err(ValidationError::Duplicate {
                field: "callback".into(),
                value: name.into(),
            }
            .into());
        }
        map.insert(name.to_string(), cb);
        Ok(())
    }

    /// Remove a callback; `false` when none had the name.
    pub(crate) fn unregister(&self, name: &str) -> bool {
        self.callbacks.write().remove(name).is_some()
    }

    /// The callback registered under `name` (cloned out, so no lock is held while it runs).
    pub(crate) fn callback(&self, name: &str) -> Option<EventCallback> {
        self.callbacks.read().get(name).cloned()
    }

    /// Drop every registered callback (on close: callbacks may hold engine handles).
    pub(crate) fn clear_callbacks(&self) {
        let drained: Vec<EventCallback> = self.callbacks.write().drain().map(|(_, c)| c).collect();
        drop(drained);
    }

    /// Handlers changed: the `before` cache is stale.
    pub(crate) fn invalidate(&self) {
        self.version.fetch_add(1, Ordering::SeqCst);
        *self.before_cache.lock() = None;
    }

    /// The cached set of events with enabled `before` handlers, reloading with `load` when
    /// stale. A load that raced with a change of handlers is used once but not cached.
    pub(crate) fn before_events(
        &self,
        load: impl FnOnce() -> Result<HashSet<String>>,
    ) -> Result<Arc<HashSet<String>>> {
        if let Some(set) = self.before_cache.lock().as_ref() {
            return Ok(Arc::clone(set));
        }
        let version = self.version.load(Ordering::SeqCst);
        let set = Arc::new(load()?);
        let mut cache = self.before_cache.lock();
        if self.version.load(Ordering::SeqCst) == version {
            *cache = Some(Arc::clone(&set));
        }
        Ok(set)
    }
}

/// A callback name: 1 to `callback_name_length_max` visible characters, no spaces.
pub(crate) fn check_callback_name(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.chars().count() <= limits::callback_name_length_max
        && name.chars().all(|c| c.is_ascii_graphic());
    if ok {
        Ok(())
    } else {
        Err(ValidationError::invalid(
            "callback",
            format!(
                "a callback name is 1 to {} visible ASCII characters without spaces",
                limits::callback_name_length_max
            ),
        )
        .into())
    }
}

/// Cut `s` to at most `max` bytes on a character boundary.
pub(crate) fn clip(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_string();
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}...", &s[..end])
}
