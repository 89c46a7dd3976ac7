//! Delivering the outbox to `after` handlers: at least once, in order per (handler, object),
//! with exponential backoff and a bounded number of attempts, each attempt logged.

use super::outbox::HandlerRow;
use super::runner::{self, Answer, Delivery, Run};
use super::Hub;
use super::{Event, Signal, Stage};
use crate::clock;
use crate::error::Result;
use crate::limits;
use crate::model::catalog;
use crate::model::{self, Record, Val, EVENTS, EVENT_DELIVERIES, HANDLERS, HANDLER_LOGS};
use crate::store::{self, ListQuery, TxKind};
use chrono::{DateTime, Utc};
use serde_json::{json, Value};
use std::collections::{HashMap, HashSet};

/// What one [`crate::Engine::deliver_events`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DeliveryReport {
    /// Attempts made.
    pub attempted: usize,
    /// Deliveries that succeeded.
    pub delivered: usize,
    /// Failed attempts scheduled for a retry.
    pub retrying: usize,
    /// Deliveries given up after their last attempt.
    pub failed: usize,
}

impl DeliveryReport {
    fn add(&mut self, o: DeliveryReport) {
        self.attempted += o.attempted;
        self.delivered += o.delivered;
        self.retrying += o.retrying;
        self.failed += o.failed;
    }
}

/// The JeraSoft payload of an event.
pub(crate) fn jerasoft_payload(event: &str, object_id: i64, dt: &str, data: Value) -> Value {
    let dt = clock::parse_dt(dt)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
        .unwrap_or_else(|| dt.to_string());
    json!({
        "event": {"dt": dt, "events_id": event, "object_id": object_id},
        "data": data,
    })
}

/// The PortaBilling (ESPF) payload of an event: every variable as a string.
pub(crate) fn portabilling_payload(
    event: &str,
    event_id: i64,
    object_id: i64,
    data: &Value,
) -> Value {
    let kind = catalog::portabilling_type(event);
    let mut vars = serde_json::Map::new();
    if kind.starts_with("Subscriber/") {
        vars.insert("i_account".into(), Value::String(object_id.to_string()));
        if let Some(c) = data.get("id_clients").and_then(Value::as_i64) {
            vars.insert("i_customer".into(), Value::String(c.to_string()));
        }
    } else {
        let customer = if event.starts_with("clients.subscriptions.") {
            data.get("id_clients").and_then(Value::as_i64).unwrap_or(0)
        } else {
            object_id
        };
        vars.insert("i_customer".into(), Value::String(customer.to_string()));
    }
    vars.insert("i_event".into(), Value::String(event_id.to_string()));
    json!({"event_type": kind, "variables": vars})
}

/// The body bytes a handler receives, in its format.
pub(crate) fn body_for(h: &HandlerRow, ev: &Event) -> Vec<u8> {
    let v = if h.format == "portabilling" {
        let data = ev.payload.get("data").cloned().unwrap_or(Value::Null);
        portabilling_payload(&ev.event, ev.id, ev.object_id, &data)
    } else {
        ev.payload.clone()
    };
    v.to_string().into_bytes()
}

/// Wait before the attempt after `attempts` failed ones: base * 2^(attempts-1), capped.
pub(crate) fn backoff_seconds(attempts: u32) -> i64 {
    let shift = attempts.saturating_sub(1).min(30);
    limits::event_retry_base_seconds
        .saturating_mul(1i64 << shift)
        .min(limits::event_retry_delay_seconds_max)
}

struct Pending {
    delivery: i64,
    /// Deliveries of one handler about one object go out in event order. The line is the
    /// handler's, not the target's: a tenant's failing handler never holds up another's
    /// handler that happens to name the same URL (issue 13).
    line: (i64, String),
    attempts: u32,
    next_dt: String,
    handler: HandlerRow,
    event: Event,
}

/// Load up to one page of pending deliveries in id order (the order of the events), each with
/// its line: the (handler, object) it waits in.
fn load(hub: &Hub<'_>) -> Result<Vec<Pending>> {
    store::run(hub.store, TxKind::Read, |tx| {
        let mut q = ListQuery::everything(vec![("status", Val::Text("pending".into()))]);
        q.limit = limits::event_deliveries_per_pass_max;
        let rows = tx.list(&EVENT_DELIVERIES, &q)?.0;
        let mut handlers: HashMap<i64, Option<HandlerRow>> = HashMap::new();
        let mut events: HashMap<i64, Option<Event>> = HashMap::new();
        let mut out = Vec::with_capacity(rows.len());
        for d in &rows {
            let hid = model::int(d, "id_handlers").unwrap_or_default();
            let eid = model::int(d, "id_events").unwrap_or_default();
            if let std::collections::hash_map::Entry::Vacant(v) = handlers.entry(hid) {
                v.insert(
                    tx.get(&HANDLERS, hid, None)?
                        .map(|r| HandlerRow::from_record(&r)),
                );
            }
            if let std::collections::hash_map::Entry::Vacant(v) = events.entry(eid) {
                v.insert(tx.get(&EVENTS, eid, None)?.map(|r| event_of(&r)));
            }
            let (Some(Some(h)), Some(Some(ev))) = (handlers.get(&hid), events.get(&eid)) else {
                continue;
            };
            out.push(Pending {
                delivery: model::int(d, "id").unwrap_or_default(),
                attempts: u32::try_from(model::int(d, "attempts").unwrap_or_default()).unwrap_or(0),
                next_dt: model::text(d, "next_dt").to_string(),
                line: (h.id, model::text(d, "object_key").to_string()),
                handler: h.clone(),
                event: ev.clone(),
            });
        }
        Ok(out)
    })
}

fn event_of(r: &Record) -> Event {
    let data = serde_json::from_str(model::text(r, "data")).unwrap_or(Value::Null);
    let event = model::text(r, "events_id").to_string();
    let object_id = model::int(r, "object_id").unwrap_or_default();
    Event {
        id: model::int(r, "id").unwrap_or_default(),
        payload: jerasoft_payload(&event, object_id, model::text(r, "dt"), data),
        event,
        object_id,
        stage: Stage::After,
    }
}

/// One pass over the pending deliveries in event order: each goes out when it is due and no
/// earlier delivery of its (handler, object) line is still waiting; a line stops at its first
/// delivery that is not due, whose handler is disabled, or that fails. `stop` ends the pass
/// early (engine closing).
pub(crate) fn pass(hub: &Hub<'_>, now: DateTime<Utc>, stop: &Signal) -> Result<DeliveryReport> {
    let _one_at_a_time = hub.events.pass.lock();
    let now_s = clock::format_dt(now);
    let mut report = DeliveryReport::default();
    let mut held: HashSet<(i64, String)> = HashSet::new();
    for p in load(hub)? {
        if stop.stopping() {
            break;
        }
        if held.contains(&p.line) {
            continue;
        }
        // A later delivery of the same line waits for this one: order per handler and object.
        if p.next_dt.as_str() > now_s.as_str() || p.handler.status != "enabled" {
            held.insert(p.line);
            continue;
        }
        let message_id = format!("evt_{}", p.event.id);
        let body = body_for(&p.handler, &p.event);
        let run = runner::run(
            hub.events,
            &p.handler,
            &Delivery {
                event: &p.event,
                body: &body,
                message_id: &message_id,
                timestamp: now.timestamp(),
            },
        );
        let ok = matches!(run.answer, Answer::Allow | Answer::Modify(_));
        let outcome = record(hub, &p, &run, ok, now)?;
        report.add(outcome);
        if !ok {
            held.insert(p.line);
        }
    }
    Ok(report)
}

/// Store one attempt's result and its log row.
fn record(
    hub: &Hub<'_>,
    p: &Pending,
    run: &Run,
    ok: bool,
    now: DateTime<Utc>,
) -> Result<DeliveryReport> {
    let now_s = clock::format_dt(now);
    let attempts = p.attempts.saturating_add(1);
    store::run(hub.store, TxKind::Write, |tx| {
        let mut out = DeliveryReport {
            attempted: 1,
            ..DeliveryReport::default()
        };
        // The handler may have been deleted while it ran (its deliveries went with it).
        if tx.get(&EVENT_DELIVERIES, p.delivery, None)?.is_none() {
            return Ok(out);
        }
        let mut d = Record::new();
        d.insert("attempts", Val::Int(i64::from(attempts)));
        d.insert(
            "last_error",
            run.error().map(Val::Text).unwrap_or(Val::Null),
        );
        if ok {
            d.insert("status", Val::Text("delivered".into()));
            d.insert("done_dt", Val::Text(now_s.clone()));
            out.delivered = 1;
        } else if attempts >= limits::event_delivery_attempts_max {
            d.insert("status", Val::Text("failed".into()));
            d.insert("done_dt", Val::Text(now_s.clone()));
            out.failed = 1;
        } else {
            let next = now + chrono::Duration::seconds(backoff_seconds(attempts));
            d.insert("next_dt", Val::Text(clock::format_dt(next)));
            out.retrying = 1;
        }
        tx.update(&EVENT_DELIVERIES, p.delivery, &d)?;
        let log = log_row(
            &p.handler,
            Some(p.event.id),
            &p.event,
            Stage::After,
            i64::from(attempts),
            run,
            &now_s,
        );
        tx.insert(&HANDLER_LOGS, &log)?;
        Ok(out)
    })
}

/// An execution log row.
pub(crate) fn log_row(
    h: &HandlerRow,
    event_id: Option<i64>,
    ev: &Event,
    stage: Stage,
    attempt: i64,
    run: &Run,
    dt: &str,
) -> Record {
    let mut r = Record::new();
    r.insert("id_handlers", Val::Int(h.id));
    r.insert("id_companies", Val::Int(h.id_companies));
    r.insert("id_events", event_id.map(Val::Int).unwrap_or(Val::Null));
    r.insert("event", Val::Text(ev.event.clone()));
    r.insert(
        "object_id",
        if ev.object_id > 0 {
            Val::Int(ev.object_id)
        } else {
            Val::Null
        },
    );
    r.insert("stage", Val::Text(stage.as_str().into()));
    r.insert("attempt", Val::Int(attempt));
    r.insert("dt", Val::Text(dt.into()));
    // After the change, a refusal is just a failed delivery (retried).
    let outcome = match (stage, run.outcome()) {
        (Stage::After, "forbidden") => "failed",
        (_, o) => o,
    };
    r.insert("outcome", Val::Text(outcome.into()));
    r.insert(
        "status_code",
        run.status_code.map(Val::Int).unwrap_or(Val::Null),
    );
    r.insert("duration_ms", Val::Int(run.duration_ms));
    r.insert("error", run.error().map(Val::Text).unwrap_or(Val::Null));
    r
}

/// Passes until nothing due is left (bounded).
pub(crate) fn deliver(hub: &Hub<'_>, now: DateTime<Utc>, stop: &Signal) -> Result<DeliveryReport> {
    let mut total = DeliveryReport::default();
    for _ in 0..1000 {
        let r = pass(hub, now, stop)?;
        total.add(r);
        if r.attempted == 0 || stop.stopping() {
            break;
        }
    }
    Ok(total)
}

/// The background worker: woken after writes and every `event_worker_poll_ms`, it delivers
/// what is due by the engine's clock until the engine closes.
/// `round` runs one delivery round and answers false once the engine is gone.
pub(crate) fn spawn_worker(
    signal: std::sync::Arc<Signal>,
    round: impl Fn(&Signal) -> bool + Send + 'static,
) -> std::io::Result<std::thread::JoinHandle<()>> {
    std::thread::Builder::new()
        .name("tollgate-events".into())
        .spawn(move || {
            let poll = std::time::Duration::from_millis(limits::event_worker_poll_ms);
            while signal.wait(poll) {
                if !round(&signal) {
                    break;
                }
            }
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_is_capped() {
        assert_eq!(backoff_seconds(1), 60);
        assert_eq!(backoff_seconds(2), 120);
        assert_eq!(backoff_seconds(3), 240);
        assert_eq!(backoff_seconds(40), limits::event_retry_delay_seconds_max);
    }

    #[test]
    fn portabilling_variables_are_strings() {
        let v = portabilling_payload("clients.update", 7, 3, &json!({"id": 3}));
        assert_eq!(
            v,
            json!({"event_type": "Customer/Updated", "variables": {"i_customer": "3", "i_event": "7"}})
        );
        let v = portabilling_payload("clients.accounts.delete", 8, 5, &json!({}));
        assert_eq!(v["event_type"], "Subscriber/Deleted");
        assert_eq!(v["variables"]["i_account"], "5");
    }
}
