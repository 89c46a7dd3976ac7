//! # Tollgate
//!
//! An embedded telecom billing engine: companies (a reseller tree), clients, accounts,
//! currencies and balances behind JeraSoft's Management API, for Rust programs, C softswitch
//! plugins and Python scripts.
//!
//! ```
//! use serde_json::json;
//! use tollgate::Engine;
//!
//! let engine = Engine::create(":memory:", "admin", "s3cret-passw0rd")?;
//! let r = engine.call("clients.add", json!({
//!     "auth": {"login": "admin", "password": "s3cret-passw0rd"},
//!     "name": "Customer A",
//!     "credit": "100.00",
//! }));
//! assert!(r.code);
//! let sid = r.session_id.clone().unwrap();
//! let id = r.ret["id"].as_i64().unwrap();
//!
//! let r = engine.call("clients.editForm", json!({"SID": sid, "id_clients": id}));
//! assert_eq!(r.ret["client"]["name"], "Customer A");
//! assert_eq!(r.ret["client"]["credit"].to_string(), "100.00");
//! # Ok::<(), tollgate::Error>(())
//! ```

#![forbid(unsafe_code)]

/// The README's quick start, compiled as a doc test.
#[doc = include_str!("../../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;

pub mod api;
pub mod auth;
pub mod charging;
pub use auth::rbac;
pub mod clock;
pub mod config;
pub mod engine;
pub mod error;
pub mod events;
pub mod ledger;
pub mod limits;
pub mod model;
pub mod money;
pub(crate) mod net;
pub(crate) mod outbox;
pub mod packages;
pub mod rating;
pub mod rest;
pub(crate) mod services;
pub mod store;
pub mod wire;

pub use api::{CdrImport, CdrReport, Envelope, FileMeta, ImportMode, ImportOptions, Registry};
pub use charging::rate_file::{RateRequest, Rated};
pub use charging::{
    Authorization, AuthorizeCall, AuthorizeRequest, ChargingConfig, SettleRequest, Settlement,
};
pub use clock::{Clock, ManualClock, SystemClock};
pub use config::EngineSettings;
pub use engine::{
    display_target, is_server_url, Engine, EngineConfig, EngineOptions, TickReport, WeakEngine,
};
pub use error::{Error, ErrorCode, Result};
pub use events::{DeliveryReport, Event, EventCallback, Stage, Verdict};
pub use rust_decimal::Decimal;
