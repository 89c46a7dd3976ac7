//! `packages`, `clients.packagesAdd|packagesList` (JeraSoft's legacy names) and
//! `subscriptions.activate|deactivate|renew|close|list`.

use super::crud::{self, Crud, Mode, Op};
use super::{ArgDef, Args, Ctx, MethodDef, Registry};
use crate::auth::rbac::Verb;
use crate::clock;
use crate::error::{Error, Result, ValidationError};
use crate::limits;
use crate::model::catalog::{self, Change, Object};
use crate::model::{FieldKind, Record, Val, CLIENTS, PACKAGES, SUBSCRIPTIONS};
use crate::packages::{self, Period, SubscriptionTick};
use crate::store::{ListQuery, StoreTx};
use serde_json::{json, Value};

fn validate(
    _ctx: &Ctx<'_>,
    _tx: &mut dyn StoreTx,
    _mode: Mode,
    rec: &mut Record,
    _existing: Option<&Record>,
) -> Result<()> {
    if let Some(p) = rec.get("period").and_then(Val::as_text) {
        if Period::parse(p).is_none() {
            return Err(ValidationError::invalid(
                "period",
                "an ISO 8601 duration such as P1D, P7D, P2W, P1M, P3M or P1Y",
            )
            .into());
        }
    }
    if let Some(Val::Text(v)) = rec.get("volumes") {
        let parsed: Value = serde_json::from_str(v)
            .map_err(|_| ValidationError::invalid("volumes", "expected a JSON array"))?;
        let items = parsed
            .as_array()
            .ok_or_else(|| ValidationError::invalid("volumes", "expected a JSON array"))?;
        if items.len() > limits::package_volumes_max {
            return Err(ValidationError::invalid(
                "volumes",
                format!("at most {} entries", limits::package_volumes_max),
            )
            .into());
        }
        for (i, item) in items.iter().enumerate() {
            let ok = item["seconds"]
                .as_u64()
                .is_some_and(|s| s > 0 && s <= 100_000_000)
                && item["prefixes"].as_array().is_some_and(|p| {
                    !p.is_empty()
                        && p.iter().all(|c| {
                            c.as_str()
                                .is_some_and(|c| crate::rating::validate_code(c).is_ok())
                        })
                })
                && item
                    .as_object()
                    .is_some_and(|o| o.keys().all(|k| k == "seconds" || k == "prefixes"));
            if !ok {
                return Err(ValidationError::invalid(
                    "volumes",
                    format!(
                        "entry {i}: expected {{\"prefixes\": [digit codes], \"seconds\": N > 0}}"
                    ),
                )
                .into());
            }
        }
    }
    Ok(())
}

fn subscription_json(tx: &dyn StoreTx, rec: &Record) -> Result<Value> {
    let mut v = crud::record_json(&SUBSCRIPTIONS, rec);
    let pkg = rec
        .get("id_packages")
        .and_then(Val::as_int)
        .unwrap_or_default();
    if let (Some(o), Some(p)) = (v.as_object_mut(), tx.get(&PACKAGES, pkg, None)?) {
        for k in ["name", "activation_fee", "periodical_fee", "period"] {
            o.insert(
                if k == "name" {
                    "package_name".into()
                } else {
                    k.to_string()
                },
                p.get(k).map(Val::to_json).unwrap_or(Value::Null),
            );
        }
        // Included volumes of the period now running (empty unless active).
        let volumes: Vec<Value> = crate::charging::volumes::of_subscription(tx, rec)?
            .iter()
            .map(|v| {
                json!({
                    "prefixes": v.prefixes,
                    "seconds": v.allowance,
                    "used_seconds": v.used,
                    "remaining_seconds": v.allowance.saturating_sub(v.used),
                })
            })
            .collect();
        o.insert("volumes".into(), Value::Array(volumes));
    }
    Ok(v)
}

/// Try to activate (the fees' postings reach the in-memory balances after commit).
fn try_activate(ctx: &mut Ctx<'_>, tx: &mut dyn StoreTx, id: i64, client: i64) -> Result<Record> {
    let available = ctx.inner.charging.available(client)?;
    let rec = packages::activate(tx, id, ctx.now, available)?;
    ctx.touch("subscriptions", id);
    Ok(rec)
}

fn packages_add(ctx: &mut Ctx<'_>, tx: &mut dyn StoreTx, args: &Args) -> Result<Value> {
    let client_id = args.req_int("id_clients")?;
    let client = crud::load(ctx, tx, &CLIENTS, client_id)?;
    if client.get("status").and_then(Val::as_text) == Some("archived") {
        return Err(Error::Archived {
            what: format!("client {client_id}"),
        });
    }
    let pkg_id = args.req_int("id_packages")?;
    crud::check_ref(ctx, tx, "id_packages", "packages", pkg_id)?;
    let pkg = crud::load(ctx, tx, &PACKAGES, pkg_id)?;
    if pkg.get("status").and_then(Val::as_text) != Some("active") {
        return Err(ValidationError::invalid("id_packages", "the package is disabled").into());
    }
    let mut rec = Record::new();
    rec.insert("id_clients", Val::Int(client_id));
    rec.insert("id_packages", Val::Int(pkg_id));
    rec.insert("status", Val::Text("pending".into()));
    rec.insert("quantity", Val::Int(args.int("quantity").unwrap_or(1)));
    rec.insert("c_dt", Val::Text(ctx.now_str()));
    let id = tx.insert(&SUBSCRIPTIONS, &rec)?;
    ctx.touch("subscriptions", id);
    let sub = try_activate(ctx, tx, id, client_id)?;
    if let Some(reason) = sub.get("reason").and_then(Val::as_text) {
        ctx.messages
            .push(format!("subscription {id} stays pending: {reason}"));
    }
    Ok(json!({ "id": id, "subscription": subscription_json(tx, &sub)? }))
}

fn packages_list(ctx: &mut Ctx<'_>, tx: &mut dyn StoreTx, args: &Args) -> Result<Value> {
    let client = args.req_int("id")?;
    crud::load(ctx, tx, &CLIENTS, client)?;
    let rows = tx
        .list(
            &SUBSCRIPTIONS,
            &ListQuery::everything(vec![("id_clients", Val::Int(client))]),
        )?
        .0;
    let rows = rows
        .iter()
        .map(|r| subscription_json(tx, r))
        .collect::<Result<Vec<_>>>()?;
    Ok(json!({ "rows": rows, "total": rows.len() }))
}

fn load_sub(ctx: &Ctx<'_>, tx: &dyn StoreTx, args: &Args) -> Result<(i64, Record)> {
    let id = args.req_int("id")?;
    Ok((id, crud::load(ctx, tx, &SUBSCRIPTIONS, id)?))
}

fn client_of(rec: &Record) -> i64 {
    rec.get("id_clients")
        .and_then(Val::as_int)
        .unwrap_or_default()
}

fn status(rec: &Record) -> &str {
    rec.get("status").and_then(Val::as_text).unwrap_or("")
}

fn set(tx: &mut dyn StoreTx, id: i64, changes: Vec<(&'static str, Val)>) -> Result<()> {
    tx.update(&SUBSCRIPTIONS, id, &changes.into_iter().collect())
}

fn wrong_state(id: i64, status: &str, action: &str) -> Error {
    ValidationError::invalid(
        "id",
        format!("subscription {id} is {status}; it cannot {action}"),
    )
    .into()
}

fn activate(ctx: &mut Ctx<'_>, tx: &mut dyn StoreTx, args: &Args) -> Result<Value> {
    let (id, sub) = load_sub(ctx, tx, args)?;
    let rec = try_activate(ctx, tx, id, client_of(&sub))?;
    if let Some(reason) = rec.get("reason").and_then(Val::as_text) {
        ctx.messages
            .push(format!("subscription {id} stays pending: {reason}"));
    }
    Ok(json!({ "subscription": subscription_json(tx, &rec)? }))
}

fn deactivate(ctx: &mut Ctx<'_>, tx: &mut dyn StoreTx, args: &Args) -> Result<Value> {
    let (id, sub) = load_sub(ctx, tx, args)?;
    if status(&sub) != "active" {
        return Err(wrong_state(id, status(&sub), "be deactivated"));
    }
    set(
        tx,
        id,
        vec![
            ("status", Val::Text("inactive".into())),
            ("next_renewal_dt", Val::Null),
            ("reason", Val::Text("deactivated by request".into())),
        ],
    )?;
    ctx.touch("subscriptions", id);
    Ok(json!({ "id": id, "status": "inactive" }))
}

fn renew(ctx: &mut Ctx<'_>, tx: &mut dyn StoreTx, args: &Args) -> Result<Value> {
    let (id, sub) = load_sub(ctx, tx, args)?;
    let rec = match status(&sub) {
        "inactive" => try_activate(ctx, tx, id, client_of(&sub))?,
        "active" => {
            let mut available = ctx.inner.charging.available(client_of(&sub))?;
            let mut report = SubscriptionTick::default();
            packages::advance(tx, &sub, ctx.now, &mut available, &mut report)?;
            ctx.touch("subscriptions", id);
            crud::load(ctx, tx, &SUBSCRIPTIONS, id)?
        }
        other => return Err(wrong_state(id, other, "be renewed")),
    };
    Ok(json!({ "subscription": subscription_json(tx, &rec)? }))
}

fn close(ctx: &mut Ctx<'_>, tx: &mut dyn StoreTx, args: &Args) -> Result<Value> {
    let (id, sub) = load_sub(ctx, tx, args)?;
    let at_once = args.text("at") == Some("now");
    match status(&sub) {
        "closed" => return Err(wrong_state(id, "closed", "be closed again")),
        "active" if !at_once => {
            let end = sub.get("next_renewal_dt").cloned().unwrap_or(Val::Null);
            set(tx, id, vec![("stop_dt", end.clone())])?;
            ctx.touch("subscriptions", id);
            return Ok(json!({ "id": id, "status": "active", "stop_dt": end.to_json() }));
        }
        _ => {}
    }
    set(
        tx,
        id,
        vec![
            ("status", Val::Text("closed".into())),
            ("stop_dt", Val::Text(ctx.now_str())),
            ("next_renewal_dt", Val::Null),
        ],
    )?;
    ctx.touch("subscriptions", id);
    Ok(json!({ "id": id, "status": "closed", "stop_dt": clock::format_dt(ctx.now) }))
}

// Long: a list of method declarations.
pub(super) fn register(r: &mut Registry) {
    let c = Crud {
        validate: Some(validate),
        ..Crud::new(&PACKAGES)
    };
    crud::register(
        r,
        c,
        &[Op::Add, Op::Edit, Op::EditForm, Op::List, Op::Delete],
    );
    crud::register(r, Crud::new(&SUBSCRIPTIONS), &[Op::List, Op::EditForm]);
    let add_args = vec![
        ArgDef::field("id_clients", FieldKind::Ref("clients"))
            .required()
            .alias(&["clients_id"]),
        ArgDef::field("id_packages", FieldKind::Ref("packages"))
            .required()
            .alias(&["packages_id"]),
        ArgDef::field(
            "quantity",
            FieldKind::Int {
                min: 1,
                max: 10_000,
            },
        ),
    ];
    let mut m = MethodDef::new(
        "clients",
        "packagesAdd",
        Verb::Write,
        true,
        add_args,
        Box::new(packages_add),
    )
    .with_events(
        Object::Subscription,
        Change::Assign,
        catalog::SUBSCRIPTIONS_ASSIGN,
    );
    m.ignored = CLIENTS.ignored;
    r.add(m);
    let mut m = MethodDef::new(
        "clients",
        "packagesList",
        Verb::Read,
        false,
        vec![crud::id_arg(&CLIENTS)],
        Box::new(packages_list),
    );
    m.ignored = CLIENTS.ignored;
    r.add(m);
    let id = || vec![crud::id_arg(&SUBSCRIPTIONS)];
    r.add(
        MethodDef::new(
            "subscriptions",
            "activate",
            Verb::Write,
            true,
            id(),
            Box::new(activate),
        )
        .with_events(
            Object::Subscription,
            Change::Lifecycle,
            catalog::SUBSCRIPTIONS_ACTIVATE,
        ),
    );
    r.add(
        MethodDef::new(
            "subscriptions",
            "deactivate",
            Verb::Write,
            true,
            id(),
            Box::new(deactivate),
        )
        .with_events(
            Object::Subscription,
            Change::Lifecycle,
            catalog::SUBSCRIPTIONS_DEACTIVATE,
        ),
    );
    r.add(
        MethodDef::new(
            "subscriptions",
            "renew",
            Verb::Write,
            true,
            id(),
            Box::new(renew),
        )
        .with_events(
            Object::Subscription,
            Change::Lifecycle,
            catalog::SUBSCRIPTIONS_RENEW,
        ),
    );
    let mut close_args = id();
    close_args.push(ArgDef::field("at", FieldKind::Enum(&["now", "period_end"])));
    r.add(
        MethodDef::new(
            "subscriptions",
            "close",
            Verb::Write,
            true,
            close_args,
            Box::new(close),
        )
        .with_events(
            Object::Subscription,
            Change::Lifecycle,
            catalog::SUBSCRIPTIONS_CLOSE,
        ),
    );
}
