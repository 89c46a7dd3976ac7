//! The context every call of one engine shares: its store, clock, settings, token keys,
//! real-time charging state and provisioning handlers. Front doors (the Management API, the
//! REST facade) take it instead of the engine; lower layers take only the parts they use.

use crate::auth::session::Realm;
use crate::auth::token::Keys;
use crate::charging::Charging;
use crate::clock::Clock;
use crate::config::EngineConfig;
use crate::events::{Events, Hub};
use crate::store::Store;
use std::sync::Arc;

/// One engine's services.
pub(crate) struct Services {
    pub(crate) store: Box<dyn Store>,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) config: EngineConfig,
    pub(crate) tokens: Keys,
    pub(crate) charging: Charging,
    pub(crate) events: Events,
    /// When `tick` last ran (Unix seconds by the engine's clock; 0: never).
    pub(crate) last_tick: std::sync::atomic::AtomicI64,
}

impl Services {
    /// What sessions and tokens need.
    pub(crate) fn realm(&self) -> Realm<'_> {
        Realm {
            store: self.store.as_ref(),
            clock: self.clock.as_ref(),
            config: &self.config,
            tokens: &self.tokens,
        }
    }

    /// What provisioning handlers need.
    pub(crate) fn hub(&self) -> Hub<'_> {
        Hub {
            store: self.store.as_ref(),
            events: &self.events,
        }
    }
}
