//! A small engine for the charging unit tests, built through the public API: one rate table
//! (44 at 1/min, 60/60 billing, setup fee 0.3), one client with ANI account `100`.
#![cfg(test)]

use crate::{Engine, EngineOptions, ManualClock};
use serde_json::{json, Value};
use std::sync::Arc;

pub(super) struct Setup {
    pub(super) engine: Engine,
    pub(super) clock: Arc<ManualClock>,
    pub(super) client: i64,
    sid: String,
}

impl Setup {
    /// Call an API method that must succeed; returns its `return`.
    pub(super) fn ok(&self, method: &str, mut params: Value) -> Value {
        params
            .as_object_mut()
            .expect("object params")
            .insert("SID".into(), json!(self.sid));
        let r = self.engine.call(method, params.clone());
        assert!(r.code, "{method} {params}: {:?}", r.errors);
        r.ret
    }

    /// Pay `amount` to the client.
    pub(super) fn pay(&self, amount: &str) {
        self.ok(
            "transactions.add",
            json!({"id_clients": self.client, "type": "payment", "amount": amount}),
        );
    }

    /// The mirror equals the database and the ledger.
    pub(super) fn assert_consistent(&self) {
        assert!(self.engine.verify_client_ledger(self.client).unwrap());
    }
}

/// The engine, with `paid` paid in.
pub(super) fn setup(paid: &str) -> Setup {
    setup_with(paid, None)
}

/// The engine, with `paid` paid in and grants of at most `quota` seconds.
pub(super) fn setup_with(paid: &str, quota: Option<u64>) -> Setup {
    let mut config = crate::EngineConfig::default();
    config.charging.quota_seconds = quota;
    let clock = Arc::new(ManualClock::new(
        crate::clock::parse_dt("2026-01-15 12:00:00").expect("date"),
    ));
    let opts = EngineOptions {
        clock: clock.clone(),
        config,
        vfs: None,
    };
    let engine = Engine::create_with(":memory:", "admin", "admin-password-1", opts).unwrap();
    let r = engine.call(
        "auth.login",
        json!({"auth": {"login": "admin", "password": "admin-password-1"}}),
    );
    assert!(r.code, "{:?}", r.errors);
    let mut s = Setup {
        engine,
        clock,
        client: 0,
        sid: r.session_id.expect("sid"),
    };
    let table = s.ok(
        "rateTables.add",
        json!({"name": "Retail", "rounding": "half_up"}),
    )["id"]
        .as_i64()
        .unwrap();
    s.ok(
        "rates.add",
        json!({"id_rate_tables": table, "code": "44", "code_name": "UK", "rate": 1, "min_volume": 60, "interval": 60, "setup_fee": "0.3", "effective_from": "2020-01-01"}),
    );
    s.client = s.ok(
        "clients.add",
        json!({"name": "Caller", "orig_rate_table": table}),
    )["id"]
        .as_i64()
        .unwrap();
    s.ok(
        "accounts.add",
        json!({"id_clients": s.client, "name": "ani", "auth_type": "ani", "ident": "100"}),
    );
    if paid != "0" {
        s.pay(paid);
    }
    s
}
