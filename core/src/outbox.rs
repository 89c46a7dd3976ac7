//! Writing events into the outbox, inside the transaction of the change that causes them.

use crate::error::Result;
use crate::model::args::Args;
use crate::model::catalog::{self, Change, MethodEvents, Object};
use crate::model::record_json;
use crate::model::{self, Record, Val, CLIENTS, CUSTOM_FIELDS, EVENTS, EVENT_DELIVERIES, HANDLERS};
use crate::store::{ListQuery, StoreTx};
use rust_decimal::Decimal;
use serde_json::{json, Map, Value};

/// A handler as the event code needs it.
#[derive(Debug, Clone)]
pub(crate) struct HandlerRow {
    pub id: i64,
    pub id_companies: i64,
    pub name: String,
    pub kind: String,
    pub target: String,
    pub status: String,
    pub format: String,
    pub timeout_ms: u64,
    pub secret: String,
}

impl HandlerRow {
    pub(crate) fn from_record(r: &Record) -> HandlerRow {
        HandlerRow {
            id: model::int(r, "id").unwrap_or_default(),
            id_companies: model::int(r, "id_companies").unwrap_or_default(),
            name: model::text(r, "name").to_string(),
            kind: model::text(r, "kind").to_string(),
            target: model::text(r, "target").to_string(),
            status: model::text(r, "status").to_string(),
            format: model::text(r, "format").to_string(),
            timeout_ms: model::int(r, "timeout_ms")
                .and_then(|t| u64::try_from(t).ok())
                .unwrap_or(crate::limits::handler_timeout_ms_default)
                .clamp(
                    crate::limits::handler_timeout_ms_min,
                    crate::limits::handler_timeout_ms_max,
                ),
            secret: model::text(r, "secret").to_string(),
        }
    }
}

/// Enabled handlers of `event` at `stage` that see objects of `company` (their company is the
/// object's or one of its ancestors), lower priority first.
pub(crate) fn subscribed(
    tx: &dyn StoreTx,
    event: &str,
    stage: &str,
    company: i64,
) -> Result<Vec<HandlerRow>> {
    let q = ListQuery::everything(vec![
        ("event", Val::Text(event.into())),
        ("stage", Val::Text(stage.into())),
        ("status", Val::Text("enabled".into())),
    ]);
    let rows = tx.list(&HANDLERS, &q)?.0;
    if rows.is_empty() {
        return Ok(Vec::new());
    }
    let chain = tx.company_ancestors(company)?;
    let mut rows: Vec<&Record> = rows
        .iter()
        .filter(|r| model::int(r, "id_companies").is_some_and(|c| chain.contains(&c)))
        .collect();
    rows.sort_by_key(|r| {
        (
            model::int(r, "priority").unwrap_or_default(),
            model::int(r, "id").unwrap_or_default(),
        )
    });
    Ok(rows.into_iter().map(HandlerRow::from_record).collect())
}

/// One event to record.
pub(crate) struct NewEvent<'a> {
    pub event: &'a str,
    pub object: Object,
    pub object_id: i64,
    pub company: i64,
    /// When, as stored (`YYYY-MM-DD HH:MM:SS+00`).
    pub dt: &'a str,
    pub data: Value,
}

/// Write `ev` into the outbox with one pending delivery per subscribed `after` handler.
/// Nothing is written when no handler listens. Returns the event id.
pub(crate) fn emit(tx: &mut dyn StoreTx, ev: &NewEvent<'_>) -> Result<Option<i64>> {
    let handlers = subscribed(tx, ev.event, "after", ev.company)?;
    if handlers.is_empty() {
        return Ok(None);
    }
    let mut rec = Record::new();
    rec.insert("events_id", Val::Text(ev.event.into()));
    rec.insert("object_type", Val::Text(ev.object.as_str().into()));
    rec.insert("object_id", Val::Int(ev.object_id));
    rec.insert("id_companies", Val::Int(ev.company));
    rec.insert("dt", Val::Text(ev.dt.into()));
    rec.insert("data", Val::Text(ev.data.to_string()));
    let id = tx.insert(&EVENTS, &rec)?;
    let key = format!("{}:{}", ev.object.as_str(), ev.object_id);
    for h in handlers {
        let mut d = Record::new();
        d.insert("id_events", Val::Int(id));
        d.insert("id_handlers", Val::Int(h.id));
        d.insert("object_key", Val::Text(key.clone()));
        d.insert("status", Val::Text("pending".into()));
        d.insert("attempts", Val::Int(0));
        d.insert("next_dt", Val::Text(ev.dt.into()));
        tx.insert(&EVENT_DELIVERIES, &d)?;
    }
    Ok(Some(id))
}

/// The balance crossing rule of DESIGN §9, on the balance alone (credit not counted):
/// `balance_zero` when `balance <= 0` turns true, `balance_notzero` when `balance >= 0`
/// turns true. At most one of them fires for one posting.
pub fn crossing(before: Decimal, after: Decimal) -> Option<&'static str> {
    let zero = |b: Decimal| b <= Decimal::ZERO;
    let notzero = |b: Decimal| b >= Decimal::ZERO;
    if !zero(before) && zero(after) {
        Some(catalog::CLIENTS_BALANCE_ZERO)
    } else if !notzero(before) && notzero(after) {
        Some(catalog::CLIENTS_BALANCE_NOTZERO)
    } else {
        None
    }
}

/// A ledger posting moved a client's balance from `before` to `after` (called by
/// `ledger::post`, in the posting's transaction): record a crossing.
pub(crate) fn balance_moved(
    tx: &mut dyn StoreTx,
    client: i64,
    before: Decimal,
    after: Decimal,
    dt: &str,
) -> Result<()> {
    let Some(event) = crossing(before, after) else {
        return Ok(());
    };
    let Some(rec) = tx.get(&CLIENTS, client, None)? else {
        return Ok(());
    };
    let company = model::int(&rec, "id_companies").unwrap_or_default();
    emit(
        tx,
        &NewEvent {
            event,
            object: Object::Client,
            object_id: client,
            company,
            dt,
            data: json!({}),
        },
    )?;
    Ok(())
}

/// `rates.changed` for a deck import into `table` whose answer is `ret` (its counts), when the
/// import changed anything.
pub(crate) fn rates_changed(tx: &mut dyn StoreTx, table: i64, ret: &Value, dt: &str) -> Result<()> {
    let count = |k: &str| ret.get(k).and_then(Value::as_u64).unwrap_or(0);
    if count("added") + count("changed") + count("closed") == 0 {
        return Ok(());
    }
    let Some(rec) = tx.get(&crate::model::RATE_TABLES, table, None)? else {
        return Ok(());
    };
    let Some(company) = model::int(&rec, "id_companies") else {
        return Ok(());
    };
    let data = json!({
        "id_rate_tables": table,
        "name": model::text(&rec, "name"),
        "mode": ret.get("mode").cloned().unwrap_or(Value::Null),
        "added": count("added"),
        "changed": count("changed"),
        "closed": count("closed"),
        "unchanged": count("unchanged"),
    });
    emit(
        tx,
        &NewEvent {
            event: catalog::RATES_CHANGED,
            object: Object::RateTable,
            object_id: table,
            company,
            dt,
            data,
        },
    )?;
    Ok(())
}

/// The company an object belongs to (through its client for accounts and subscriptions).
pub(crate) fn company_of(tx: &dyn StoreTx, object: Object, rec: &Record) -> Result<Option<i64>> {
    match object {
        Object::Client | Object::RateTable => Ok(model::int(rec, "id_companies")),
        Object::Account | Object::Subscription => {
            let client = model::int(rec, "id_clients").unwrap_or_default();
            Ok(tx
                .get(&CLIENTS, client, None)?
                .and_then(|c| model::int(&c, "id_companies")))
        }
    }
}

/// What an object looked like before a method ran (read in the method's transaction).
pub(crate) struct Snapshot {
    record: Option<Record>,
    custom: Vec<(String, String)>,
}

/// Read the object a method is about to change.
pub(crate) fn snapshot(tx: &dyn StoreTx, spec: &MethodEvents, args: &Args) -> Result<Snapshot> {
    let mut snap = Snapshot {
        record: None,
        custom: Vec::new(),
    };
    if matches!(spec.change, Change::Create | Change::Assign) {
        return Ok(snap);
    }
    let Some(id) = args.int("id") else {
        return Ok(snap);
    };
    snap.record = tx.get(spec.object.entity(), id, None)?;
    if spec.change == Change::CustomFields {
        snap.custom = custom_values(tx, id)?;
    }
    Ok(snap)
}

/// Custom field values of a client by field name.
fn custom_values(tx: &dyn StoreTx, client: i64) -> Result<Vec<(String, String)>> {
    let names: Vec<(i64, String)> = tx
        .list(&CUSTOM_FIELDS, &ListQuery::everything(Vec::new()))?
        .0
        .iter()
        .filter_map(|f| Some((model::int(f, "id")?, model::text(f, "name").to_string())))
        .collect();
    let mut out: Vec<(String, String)> = tx
        .custom_values(client)?
        .into_iter()
        .filter_map(|(fid, v)| {
            let name = names.iter().find(|(id, _)| *id == fid)?.1.clone();
            Some((name, v))
        })
        .collect();
    out.sort();
    Ok(out)
}

/// After a method's body ran (same transaction): record the events it caused.
pub(crate) fn after_method(
    tx: &mut dyn StoreTx,
    spec: &MethodEvents,
    args: &Args,
    ret: &Value,
    snap: Snapshot,
    dt: &str,
) -> Result<()> {
    if spec.change == Change::Import {
        let Some(table) = args.int("id_rate_tables") else {
            return Ok(());
        };
        return rates_changed(tx, table, ret, dt);
    }
    let id = match spec.change {
        Change::Create | Change::Assign => ret.get("id").and_then(Value::as_i64),
        _ => args.int("id"),
    };
    let Some(id) = id else { return Ok(()) };
    let after = tx.get(spec.object.entity(), id, None)?;
    if matches!(spec.change, Change::Assign | Change::Lifecycle) {
        // A subscription's events follow its status transitions.
        if let Some(rec) = after {
            subscription_changed(tx, snap.record.as_ref(), &rec, dt)?;
        }
        return Ok(());
    }
    let Some((rec, data)) = event_data(tx, spec, id, snap, after)? else {
        return Ok(());
    };
    let Some(company) = company_of(tx, spec.object, &rec)? else {
        return Ok(());
    };
    emit(
        tx,
        &NewEvent {
            event: spec.before,
            object: spec.object,
            object_id: id,
            company,
            dt,
            data,
        },
    )?;
    Ok(())
}

/// What the event of a change says, with the row whose company it belongs to; `None` when
/// the call changed nothing an event reports.
fn event_data(
    tx: &dyn StoreTx,
    spec: &MethodEvents,
    id: i64,
    snap: Snapshot,
    after: Option<Record>,
) -> Result<Option<(Record, Value)>> {
    let e = spec.object.entity();
    let archived = |r: &Record| model::text(r, "status") == "archived";
    Ok(match (spec.change, snap.record, after) {
        (Change::Create, _, Some(rec)) => {
            let data = record_json(e, &rec);
            Some((rec, data))
        }
        (Change::Update, Some(old), Some(rec)) => {
            let changed = diff(e, &old, &rec);
            if changed.is_empty() {
                return Ok(None);
            }
            let mut data = Map::new();
            data.insert("id".into(), Value::from(id));
            data.extend(changed);
            Some((rec, Value::Object(data)))
        }
        (Change::Delete, Some(old), None) => Some((old, json!({}))),
        (Change::Archive, Some(old), Some(rec)) if !archived(&old) && archived(&rec) => {
            Some((rec, json!({})))
        }
        (Change::CustomFields, _, Some(rec)) => {
            let changed = custom_changes(tx, id, &snap.custom)?;
            if changed.is_empty() {
                return Ok(None);
            }
            Some((rec, json!({"id": id, "custom_fields": changed})))
        }
        _ => None,
    })
}

/// Custom field values set, changed (the new value) or cleared (null) since `before`.
fn custom_changes(
    tx: &dyn StoreTx,
    id: i64,
    before: &[(String, String)],
) -> Result<Map<String, Value>> {
    let now = custom_values(tx, id)?;
    let mut changed = Map::new();
    for (name, value) in &now {
        if !before.iter().any(|(n, v)| n == name && v == value) {
            changed.insert(name.clone(), Value::String(value.clone()));
        }
    }
    for (name, _) in before {
        if !now.iter().any(|(n, _)| n == name) {
            changed.insert(name.clone(), Value::Null);
        }
    }
    Ok(changed)
}

/// Readable fields whose value changed, as JSON.
fn diff(e: &crate::model::EntityDef, old: &Record, new: &Record) -> Map<String, Value> {
    let mut out = Map::new();
    for f in e.fields.iter().filter(|f| f.readable() && f.name != "id") {
        let (a, b) = (old.get(f.name), new.get(f.name));
        if a != b {
            out.insert(
                f.name.to_string(),
                b.map(Val::to_json).unwrap_or(Value::Null),
            );
        }
    }
    out
}

/// A subscription went from `before` (None: just assigned) to `after`: record its lifecycle
/// events in order (assign, activate, one renew per period charged, deactivate, close).
/// Used by the API methods and by `Engine::tick`.
pub(crate) fn subscription_changed(
    tx: &mut dyn StoreTx,
    before: Option<&Record>,
    after: &Record,
    dt: &str,
) -> Result<()> {
    let id = model::int(after, "id").unwrap_or_default();
    let was = before.map(|b| model::text(b, "status")).unwrap_or("");
    let now = model::text(after, "status");
    let mut events = Vec::new();
    if before.is_none() {
        events.push(catalog::SUBSCRIPTIONS_ASSIGN);
    }
    if now == "active" && was != "active" {
        events.push(catalog::SUBSCRIPTIONS_ACTIVATE);
    }
    if let Some(b) = before.filter(|_| was == "active") {
        let same_run = model::int(b, "runs") == model::int(after, "runs");
        let periods = model::int(after, "periods").unwrap_or_default()
            - model::int(b, "periods").unwrap_or_default();
        if same_run {
            let n = periods.clamp(0, crate::limits::renewals_per_tick_max as i64);
            events.extend(std::iter::repeat_n(
                catalog::SUBSCRIPTIONS_RENEW,
                usize::try_from(n).unwrap_or(0),
            ));
        }
    }
    if now == "inactive" && was != "inactive" && !was.is_empty() {
        events.push(catalog::SUBSCRIPTIONS_DEACTIVATE);
    }
    if now == "closed" && was != "closed" {
        events.push(catalog::SUBSCRIPTIONS_CLOSE);
    }
    if events.is_empty() {
        return Ok(());
    }
    let Some(company) = company_of(tx, Object::Subscription, after)? else {
        return Ok(());
    };
    let data = record_json(&crate::model::SUBSCRIPTIONS, after);
    for event in events {
        emit(
            tx,
            &NewEvent {
                event,
                object: Object::Subscription,
                object_id: id,
                company,
                dt,
                data: data.clone(),
            },
        )?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::crossing;
    use rust_decimal::Decimal;

    #[test]
    fn crossings_follow_the_transition_rule() {
        let d = |s: &str| s.parse::<Decimal>().unwrap();
        assert_eq!(crossing(d("5"), d("-3")), Some("clients.balance_zero"));
        assert_eq!(crossing(d("5"), d("0")), Some("clients.balance_zero"));
        assert_eq!(crossing(d("0"), d("-3")), None);
        assert_eq!(crossing(d("-3"), d("0")), Some("clients.balance_notzero"));
        assert_eq!(crossing(d("-3"), d("5")), Some("clients.balance_notzero"));
        assert_eq!(crossing(d("0"), d("5")), None);
        assert_eq!(crossing(d("5"), d("1")), None);
        assert_eq!(crossing(d("-5"), d("-1")), None);
    }
}
