//! The `before` stage: handlers run synchronously before a Management API change, with no
//! lock held, and may allow it, forbid it or give modified data (checked again like input).
//!
//! They run before the change's transaction starts, on the request as given: a forbidden
//! change never opens a write transaction, so it leaves the database exactly as it was. The
//! executions of an allowed change are logged in the change's own transaction.

use super::delivery::{body_for, jerasoft_payload, log_row};
use super::outbox::{company_of, subscribed, HandlerRow};
use super::runner::{self, Answer, Delivery, Run};
use super::Hub;
use super::{Event, Stage};
use crate::auth::Principal;
use crate::clock;
use crate::error::{EventError, Result, ValidationError};
use crate::model::args::{self, ArgDef, Args};
use crate::model::catalog::{Change, MethodEvents, Object};
use crate::model::{FieldKind, Record, Val, CLIENTS, COMPANIES, HANDLERS};
use crate::store::{self, ListQuery, StoreTx, TxKind};
use chrono::{DateTime, Utc};
use serde_json::{Map, Value};
use std::collections::HashSet;

/// A method's argument schema and the legacy arguments it ignores: modified data is checked
/// against it again.
pub(crate) type Schema<'a> = (&'a [ArgDef], &'a [&'a str]);

/// Execution log rows of the `before` handlers of an allowed change (written with it).
pub(crate) type BeforeLogs = Vec<Record>;

/// Events that have at least one enabled `before` handler (any company).
fn load_before_events(hub: &Hub<'_>) -> Result<HashSet<String>> {
    store::run(hub.store, TxKind::Read, |tx| {
        let q = ListQuery::everything(vec![
            ("stage", Val::Text("before".into())),
            ("status", Val::Text("enabled".into())),
        ]);
        Ok(tx
            .list(&HANDLERS, &q)?
            .0
            .iter()
            .map(|r| crate::model::text(r, "event").to_string())
            .collect())
    })
}

/// The company of the object a call names, as the caller sees it; `None` when the caller
/// cannot see it (the call itself will answer `not_found`, and no handler hears of it).
fn target_company(
    tx: &dyn StoreTx,
    principal: &Principal,
    spec: &MethodEvents,
    args: &Args,
) -> Result<Option<(i64, i64)>> {
    let scope = principal.scope();
    let client_company = |id: Option<i64>| -> Result<Option<i64>> {
        let Some(id) = id else { return Ok(None) };
        Ok(tx
            .get(&CLIENTS, id, scope)?
            .and_then(|c| crate::model::int(&c, "id_companies")))
    };
    match (spec.change, spec.object) {
        (Change::Create, Object::Client) => {
            let company = args.int("id_companies").unwrap_or(principal.company());
            Ok(tx.get(&COMPANIES, company, scope)?.map(|_| (company, 0)))
        }
        (Change::Create, _) | (Change::Assign, _) => {
            Ok(client_company(args.int("id_clients"))?.map(|c| (c, 0)))
        }
        _ => {
            let Some(id) = args.int("id") else {
                return Ok(None);
            };
            let Some(rec) = tx.get(spec.object.entity(), id, scope)? else {
                return Ok(None);
            };
            Ok(company_of(tx, spec.object, &rec)?.map(|c| (c, id)))
        }
    }
}

/// The call's arguments as the `data` of a payload (secrets left out).
fn data_of(spec: &MethodEvents, args: &Args, id: i64) -> Map<String, Value> {
    let e = spec.object.entity();
    let mut data = args.to_json();
    data.retain(|k, _| !is_secret(e, k));
    if id > 0 {
        data.insert("id".into(), Value::from(id));
    }
    data
}

fn is_secret(e: &crate::model::EntityDef, name: &str) -> bool {
    e.field(name)
        .is_some_and(|f| f.kind == FieldKind::Secret || !f.readable())
}

/// Run the `before` handlers of a call. Returns the arguments to go on with (changed when a
/// handler modified the data) and the log rows to write with the change; a refusal is
/// `handler.forbidden` carrying the handler's message.
pub(crate) fn run(
    hub: &Hub<'_>,
    principal: &Principal,
    spec: Option<&MethodEvents>,
    schema: Schema<'_>,
    args: Args,
    now: DateTime<Utc>,
) -> Result<(Args, BeforeLogs)> {
    let Some(spec) = spec else {
        return Ok((args, Vec::new()));
    };
    let listened = hub.events.before_events(|| load_before_events(hub))?;
    if !listened.contains(spec.before) {
        return Ok((args, Vec::new()));
    }
    let found = store::run(hub.store, TxKind::Read, |tx| {
        let Some((company, id)) = target_company(tx, principal, spec, &args)? else {
            return Ok(None);
        };
        // A handler acts within its owner's rights: it hears, may veto and may modify only
        // calls made by principals inside its owner's subtree. The operator, System, the
        // clock and imports are outside every reseller's subtree and bypass their handlers.
        let callers_chain = tx.company_ancestors(principal.company())?;
        let mut handlers = subscribed(tx, spec.before, "before", company)?;
        handlers.retain(|h| callers_chain.contains(&h.id_companies));
        Ok(Some((id, handlers)))
    })?;
    let Some((id, handlers)) = found else {
        return Ok((args, Vec::new()));
    };
    if handlers.is_empty() {
        return Ok((args, Vec::new()));
    }
    let now_s = clock::format_dt(now);
    let original = data_of(spec, &args, id);
    let mut data = Value::Object(original.clone());
    let mut logs = Vec::new();
    for h in &handlers {
        let event = Event {
            id: 0,
            event: spec.before.to_string(),
            object_id: id,
            stage: Stage::Before,
            payload: jerasoft_payload(spec.before, id, &now_s, data.clone()),
        };
        let run = run_one(hub, h, &event, now);
        logs.push(log_row(h, None, &event, Stage::Before, 1, &run, &now_s));
        match run.answer {
            Answer::Allow => {}
            Answer::Modify(new) => data = new,
            Answer::Forbid(message) | Answer::Failed(message) => {
                return Err(EventError::Forbidden {
                    handler: h.name.clone(),
                    message,
                }
                .into())
            }
        }
    }
    if data == Value::Object(original) {
        return Ok((args, logs));
    }
    Ok((rebuild(schema, &args, data, id)?, logs))
}

fn run_one(hub: &Hub<'_>, h: &HandlerRow, event: &Event, now: DateTime<Utc>) -> Run {
    let mut nonce = [0u8; 12];
    rand::fill(&mut nonce);
    let message_id = format!("msg_{}", hex::encode(nonce));
    let body = body_for(h, event);
    runner::run(
        hub.events,
        h,
        &Delivery {
            event,
            body: &body,
            message_id: &message_id,
            timestamp: now.timestamp(),
        },
    )
}

/// Turn modified data back into arguments, checked by the method's schema like any input.
/// The object stays the one the call named; secrets come from the original call.
fn rebuild(schema: Schema<'_>, original: &Args, data: Value, id: i64) -> Result<Args> {
    let (arg_defs, ignored) = schema;
    let Value::Object(mut params) = data else {
        return Err(ValidationError::invalid(
            "data",
            "a before handler returned data that is not an object",
        )
        .into());
    };
    if id > 0 {
        match params
            .get("id")
            .map(|v| args::parse_field("id", FieldKind::Id, v))
        {
            None => {}
            Some(Ok(Val::Int(given))) if given == id => {}
            Some(_) => {
                return Err(ValidationError::invalid(
                    "id",
                    "a before handler may not change which object the call is about",
                )
                .into())
            }
        }
        params.insert("id".into(), Value::from(id));
    }
    let all = original.to_json();
    for (k, v) in all {
        let secret = arg_defs
            .iter()
            .any(|a| a.name == k && a.kind == args::ArgKind::Field(FieldKind::Secret));
        if secret {
            params.insert(k, v);
        }
    }
    args::check(arg_defs, ignored, &params)
}
