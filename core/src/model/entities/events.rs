//! Provisioning: handlers, the outbox's events and deliveries, and the execution log.

use super::*;

/// Stages of a provisioning handler.
pub const HANDLER_STAGES: &[&str] = &["before", "after"];
/// Kinds of provisioning handler.
pub const HANDLER_KINDS: &[&str] = &["http", "script", "callback"];
/// Statuses of a provisioning handler.
pub const HANDLER_STATUSES: &[&str] = &["enabled", "disabled"];
/// Payload formats of a provisioning handler.
pub const HANDLER_FORMATS: &[&str] = &["jerasoft", "portabilling"];
/// States of one delivery of an event to one `after` handler.
pub const DELIVERY_STATUSES: &[&str] = &["pending", "delivered", "failed"];
/// Outcomes of one handler execution.
pub const HANDLER_OUTCOMES: &[&str] = &["ok", "modified", "forbidden", "failed"];

/// Provisioning handlers: what runs on an event (an HTTP POST, a local script or a callback
/// registered by the embedding program), before or after the change.
pub static HANDLERS: EntityDef = EntityDef {
    table: "handlers",
    module: "provisioning",
    singular: "handler",
    fields: &[
        id(),
        FieldDef::new("id_companies", FieldKind::Ref("companies"))
            .aliases(&["companies_id"])
            .access(Access::CreateOnly)
            .default(Default::CallerCompany)
            .required()
            .filterable(),
        FieldDef::new("name", NAME).required().filterable(),
        FieldDef::new("event", FieldKind::Enum(crate::model::catalog::EVENT_IDS))
            .aliases(&["events_id"])
            .required()
            .filterable(),
        FieldDef::new("stage", FieldKind::Enum(HANDLER_STAGES))
            .default(Default::Text("after"))
            .required()
            .filterable(),
        FieldDef::new("kind", FieldKind::Enum(HANDLER_KINDS))
            .aliases(&["type"])
            .default(Default::Text("http"))
            .required()
            .filterable(),
        // The URL (http), program path (script) or registered callback name (callback).
        FieldDef::new(
            "target",
            FieldKind::Text {
                max: limits::handler_target_length_max,
            },
        )
        .aliases(&["task", "url"])
        .required(),
        // Lower runs first.
        FieldDef::new(
            "priority",
            FieldKind::Int {
                min: 0,
                max: 1_000_000,
            },
        )
        .default(Default::Int(10)),
        FieldDef::new("status", FieldKind::Enum(HANDLER_STATUSES))
            .default(Default::Text("enabled"))
            .filterable(),
        FieldDef::new("format", FieldKind::Enum(HANDLER_FORMATS))
            .default(Default::Text("jerasoft")),
        FieldDef::new(
            "timeout_ms",
            FieldKind::Int {
                min: limits::handler_timeout_ms_min as i64,
                max: limits::handler_timeout_ms_max as i64,
            },
        )
        .default(Default::Int(limits::handler_timeout_ms_default as i64)),
        // The HMAC key of HTTP deliveries (Standard Webhooks `whsec_...`): set or generated
        // on add, returned once by `provisioning.add`, never shown again.
        FieldDef::new("secret", FieldKind::Text { max: 128 }).access(Access::WriteOnly),
        c_dt(),
    ],
    tenancy: Tenancy::Column("id_companies"),
    ignored: &["apply", "_preload"],
    archivable: false,
};

/// The outbox: one row per event that at least one `after` handler subscribed to, written
/// in the transaction of the change that caused it.
pub static EVENTS: EntityDef = EntityDef {
    table: "events",
    module: "events",
    singular: "event",
    fields: &[
        id(),
        FieldDef::new("events_id", TEXT)
            .access(Access::ReadOnly)
            .filterable(),
        FieldDef::new("object_type", TEXT)
            .access(Access::ReadOnly)
            .filterable(),
        FieldDef::new("object_id", COUNT)
            .access(Access::ReadOnly)
            .filterable(),
        FieldDef::new("id_companies", FieldKind::Ref("companies"))
            .access(Access::ReadOnly)
            .filterable(),
        FieldDef::new("dt", FieldKind::DateTime).access(Access::ReadOnly),
        // The JeraSoft `data` object, as JSON text.
        FieldDef::new("data", FieldKind::Text { max: usize::MAX }).access(Access::ReadOnly),
    ],
    tenancy: Tenancy::Column("id_companies"),
    ignored: &["_preload"],
    archivable: false,
};

/// One delivery of an event to one `after` handler: its state, attempts and next try.
pub static EVENT_DELIVERIES: EntityDef = EntityDef {
    table: "event_deliveries",
    module: "event_deliveries",
    singular: "delivery",
    fields: &[
        id(),
        FieldDef::new("id_events", COUNT)
            .access(Access::ReadOnly)
            .filterable(),
        FieldDef::new("id_handlers", FieldKind::Ref("handlers"))
            .access(Access::ReadOnly)
            .filterable(),
        // `<object_type>:<object_id>`: deliveries of one key go out in event order.
        FieldDef::new("object_key", TEXT)
            .access(Access::ReadOnly)
            .filterable(),
        FieldDef::new("status", FieldKind::Enum(DELIVERY_STATUSES))
            .access(Access::ReadOnly)
            .filterable(),
        FieldDef::new("attempts", COUNT).access(Access::ReadOnly),
        FieldDef::new("next_dt", FieldKind::DateTime).access(Access::ReadOnly),
        FieldDef::new("last_error", LONG_TEXT).access(Access::ReadOnly),
        FieldDef::new("done_dt", FieldKind::DateTime).access(Access::ReadOnly),
    ],
    tenancy: Tenancy::Via {
        fk: "id_handlers",
        table: "handlers",
        column: "id_companies",
    },
    ignored: &["_preload"],
    archivable: false,
};

/// The execution log: one row per handler execution (every delivery attempt of an `after`
/// handler, and every `before` handler run of a change that went through).
pub static HANDLER_LOGS: EntityDef = EntityDef {
    table: "handler_logs",
    module: "provisioning",
    singular: "log",
    fields: &[
        id(),
        FieldDef::new("id_handlers", FieldKind::Ref("handlers"))
            .aliases(&["handlers_id"])
            .access(Access::ReadOnly)
            .filterable(),
        FieldDef::new("id_companies", FieldKind::Ref("companies"))
            .access(Access::ReadOnly)
            .filterable(),
        FieldDef::new("id_events", COUNT)
            .access(Access::ReadOnly)
            .filterable(),
        FieldDef::new("event", TEXT)
            .access(Access::ReadOnly)
            .filterable(),
        FieldDef::new("object_id", COUNT)
            .access(Access::ReadOnly)
            .filterable(),
        FieldDef::new("stage", FieldKind::Enum(HANDLER_STAGES))
            .access(Access::ReadOnly)
            .filterable(),
        FieldDef::new("attempt", COUNT).access(Access::ReadOnly),
        FieldDef::new("dt", FieldKind::DateTime).access(Access::ReadOnly),
        FieldDef::new("outcome", FieldKind::Enum(HANDLER_OUTCOMES))
            .access(Access::ReadOnly)
            .filterable(),
        FieldDef::new("status_code", COUNT).access(Access::ReadOnly),
        FieldDef::new("duration_ms", COUNT).access(Access::ReadOnly),
        FieldDef::new("error", LONG_TEXT).access(Access::ReadOnly),
    ],
    tenancy: Tenancy::Column("id_companies"),
    ignored: &["_preload"],
    archivable: false,
};
