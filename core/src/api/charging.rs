//! `core.authorize|update|settle|release`: the softswitch calls over the Management API, and
//! `xdrs.list`.

use super::crud::{self, Crud, Op};
use super::{ArgDef, Args, Ctx, MethodDef, Registry};
use crate::auth::rbac::Verb;
use crate::charging::{Authorization, AuthorizeCall, SettleAuthor, SettleRequest, Settlement};
use crate::clock;
use crate::error::{ChargeError, Result, ValidationError};
use crate::limits;
use crate::model::{FieldKind, Val, CLIENTS, CURRENCIES, EVENT_DELIVERIES, XDRS};
use crate::money;
use crate::store::{self, TxKind};
use serde_json::{json, Value};

const NUMBER: FieldKind = FieldKind::Text {
    max: limits::number_length_max,
};
const RESERVATION: FieldKind = FieldKind::Int {
    min: 1,
    max: i64::MAX,
};

fn authorization_json(a: &Authorization) -> Value {
    json!({
        "reservation": a.reservation,
        "max_seconds": a.max_seconds,
        "granted_seconds": a.granted_seconds,
        "id_accounts": a.account,
        "id_clients": a.client,
        "code": a.code,
        "code_name": a.code_name,
        "rate": money::to_json(a.rate),
        "setup_fee": money::to_json(a.setup_fee),
        "id_currencies": a.currency,
        "held": money::to_json(a.held),
        "volume_seconds": a.volume_seconds,
        "id_subscriptions": a.subscription,
        "expires_at": clock::format_dt(a.expires_at),
    })
}

fn settlement_json(s: &Settlement) -> Value {
    json!({
        "id_xdrs": s.xdr,
        "call_id": s.call_id,
        "id_clients": s.client,
        "duration": s.duration,
        "billed_seconds": s.billed_seconds,
        "cost": money::to_json(s.cost),
        "volume_seconds": s.volume_seconds,
        "id_subscriptions": s.subscription,
        "balance": money::to_json(s.balance),
        "unreserved": s.unreserved,
        "replayed": s.replayed,
    })
}

/// Is `client` inside the caller's subtree? Only subtree-limited callers pay a lookup.
fn client_visible(ctx: &Ctx<'_>, client: i64) -> Result<bool> {
    if crate::auth::permit::is_operator(ctx.principal) {
        return Ok(true);
    }
    store::run(ctx.inner.store.as_ref(), TxKind::Read, |tx| {
        crate::auth::permit::sees_client(ctx.principal, tx, client)
    })
}

/// A principal limited to a subtree may only charge its own clients' calls: anything else
/// answers exactly like a missing account or reservation.
pub(super) fn check_account_scope(
    ctx: &Ctx<'_>,
    ident: &str,
    auth_type: Option<&str>,
) -> Result<()> {
    let client = ctx.inner.charging.account_client(ident, auth_type)?;
    if client_visible(ctx, client)? {
        Ok(())
    } else {
        Err(ChargeError::AccountNotFound(crate::error::echoed_cut(ident)).into())
    }
}

fn check_reservation_scope(ctx: &Ctx<'_>, id: u64) -> Result<()> {
    match ctx.inner.charging.reservation_client(id) {
        Some(client) if !client_visible(ctx, client)? => {
            Err(ChargeError::ReservationNotFound(id).into())
        }
        _ => Ok(()),
    }
}

fn time_arg(args: &Args, name: &str) -> Option<chrono::DateTime<chrono::Utc>> {
    args.text(name).and_then(clock::parse_dt)
}

fn reservation_arg(args: &Args) -> Option<u64> {
    args.int("reservation").and_then(|r| u64::try_from(r).ok())
}

// The charging calls run outside the dispatcher's transaction: each commits its own writes
// through charging's group commit.
fn authorize(ctx: &mut Ctx<'_>, args: &Args) -> Result<Value> {
    let req = AuthorizeCall {
        account: args.text("account").unwrap_or_default(),
        auth_type: args.text("auth_type"),
        destination: args.text("destination").unwrap_or_default(),
        source: args.text("source"),
        time: time_arg(args, "time"),
        whole_grant: false,
    };
    check_account_scope(ctx, req.account, req.auth_type)?;
    Ok(authorization_json(&ctx.inner.charging.authorize(
        ctx.inner.store.as_ref(),
        req,
        ctx.now,
    )?))
}

fn update(ctx: &mut Ctx<'_>, args: &Args) -> Result<Value> {
    let id =
        reservation_arg(args).ok_or_else(|| ValidationError::Required("reservation".into()))?;
    check_reservation_scope(ctx, id)?;
    Ok(authorization_json(&ctx.inner.charging.update(
        ctx.inner.store.as_ref(),
        id,
        ctx.now,
    )?))
}

fn release(ctx: &mut Ctx<'_>, args: &Args) -> Result<Value> {
    let id =
        reservation_arg(args).ok_or_else(|| ValidationError::Required("reservation".into()))?;
    check_reservation_scope(ctx, id)?;
    ctx.inner.charging.release(ctx.inner.store.as_ref(), id)?;
    Ok(json!({ "reservation": id, "released": true }))
}

fn settle_request(args: &Args) -> Result<SettleRequest> {
    let duration = args
        .int("duration")
        .ok_or_else(|| ValidationError::Required("duration".into()))?;
    Ok(SettleRequest {
        reservation: reservation_arg(args),
        call_id: args.text("call_id").unwrap_or_default().to_string(),
        duration: u64::try_from(duration).unwrap_or(0),
        account: args.text("account").map(str::to_string),
        auth_type: args.text("auth_type").map(str::to_string),
        destination: args.text("destination").map(str::to_string),
        source: args.text("source").map(str::to_string),
        connect_time: time_arg(args, "connect_time"),
    })
}

/// One `core.settle` call, checked against the caller's subtree: the request, the scope its
/// call id is looked up in, and who settles (for the audit row).
pub(super) fn settle_item(ctx: &Ctx<'_>, args: &Args) -> Result<SettleItem> {
    let req = settle_request(args)?;
    if let Some(id) = req.reservation {
        check_reservation_scope(ctx, id)?;
    }
    let reserved = req
        .reservation
        .and_then(|id| ctx.inner.charging.reservation_client(id));
    if let (Some(account), None) = (&req.account, reserved) {
        check_account_scope(ctx, account, req.auth_type.as_deref())?;
    }
    let author = SettleAuthor {
        id_users: ctx.principal.user_id(),
        login: ctx.principal.login().to_string(),
        id_sessions: ctx.principal.session_row(),
    };
    Ok((req, ctx.principal.scope(), author))
}

/// A settle as `Charging::settle_many` takes it.
pub(super) type SettleItem = (SettleRequest, Option<i64>, SettleAuthor);

/// Charge admitted `core.settle` calls together (a JSON-RPC batch's run of them): their
/// results, in order, as `core.settle` answers each.
pub(super) fn settle_items(
    inner: &super::Inner,
    items: &[SettleItem],
    now: chrono::DateTime<chrono::Utc>,
) -> Vec<Result<Value>> {
    inner
        .charging
        .settle_many(inner.store.as_ref(), items, now)
        .into_iter()
        .map(|r| r.map(|s| settlement_json(&s)))
        .collect()
}

fn charging_args(extra: Vec<ArgDef>) -> Vec<ArgDef> {
    let mut v = vec![
        ArgDef::field(
            "account",
            FieldKind::Text {
                max: limits::name_length_max,
            },
        ),
        ArgDef::field(
            "auth_type",
            FieldKind::Enum(crate::model::ACCOUNT_AUTH_TYPES),
        ),
        ArgDef::field("destination", NUMBER).alias(&["dst"]),
        ArgDef::field("source", NUMBER).alias(&["src"]),
    ];
    v.extend(extra);
    v
}

// Long: a list of method declarations.
/// `core.status`: the engine's live state as the caller's subtree sees it, and its settings.
fn status(ctx: &mut Ctx<'_>, _args: &Args) -> Result<Value> {
    status_of(ctx.inner, ctx.principal.scope())
}

/// The engine's live state as the subtree of `scope` sees it (`None`: the whole tree), and
/// its settings: `core.status`, `Engine::status`, `tg_engine_status`, Python's `status()`.
pub(crate) fn status_of(services: &crate::services::Services, scope: Option<i64>) -> Result<Value> {
    let (visible, pending, codes) = store::run(services.store.as_ref(), TxKind::Read, |tx| {
        let visible: Option<std::collections::HashSet<i64>> = match scope {
            None => None,
            Some(_) => {
                let q = crate::store::ListQuery {
                    scope,
                    ..crate::store::ListQuery::everything(Vec::new())
                };
                Some(
                    tx.list(&CLIENTS, &q)?
                        .0
                        .iter()
                        .filter_map(|c| crate::model::int(c, "id"))
                        .collect(),
                )
            }
        };
        let q = crate::store::ListQuery {
            scope,
            limit: 1,
            ..crate::store::ListQuery::everything(vec![("status", Val::Text("pending".into()))])
        };
        let pending = tx.list(&EVENT_DELIVERIES, &q)?.1;
        let codes: Vec<(i64, String)> = tx
            .list(
                &CURRENCIES,
                &crate::store::ListQuery::everything(Vec::new()),
            )?
            .0
            .iter()
            .filter_map(|c| {
                Some((
                    crate::model::int(c, "id")?,
                    crate::model::text(c, "code").to_string(),
                ))
            })
            .collect();
        Ok((visible, pending, codes))
    })?;
    let sees = |client: i64| visible.as_ref().is_none_or(|v| v.contains(&client));
    let (open, held) = services.charging.holds(&sees)?;
    let mut held_total = serde_json::Map::new();
    for (currency, amount) in held {
        let code = codes
            .iter()
            .find(|(id, _)| *id == currency)
            .map_or_else(|| currency.to_string(), |(_, c)| c.clone());
        // As the issue and the C API show it: a decimal string per currency code.
        held_total.insert(code, Value::String(amount.to_string()));
    }
    let last_tick = services
        .last_tick
        .load(std::sync::atomic::Ordering::Relaxed);
    let charging = &services.config.charging;
    Ok(json!({
        "version": env!("CARGO_PKG_VERSION"),
        "schema_version": crate::store::SCHEMA_VERSION,
        "last_tick": (last_tick > 0)
            .then(|| chrono::DateTime::from_timestamp(last_tick, 0).map(clock::format_dt))
            .flatten(),
        "open_reservations": open,
        "held_total": held_total,
        "outbox_pending": pending,
        "settings": {
            "clock_interval_ms": services.config.clock_interval_ms,
            "max_call_seconds": charging.max_call_seconds,
            "quota_seconds": charging.quota_seconds,
            "reservation_margin_seconds": charging.reservation_margin_seconds,
        },
    }))
}

pub(super) fn register(r: &mut Registry) {
    r.add(MethodDef::new_direct(
        "core",
        "status",
        Verb::Read,
        Vec::new(),
        Box::new(status),
    ));
    let mut args = charging_args(vec![ArgDef::field("time", FieldKind::DateTime)]);
    for a in args
        .iter_mut()
        .filter(|a| a.name == "account" || a.name == "destination")
    {
        a.required = true;
    }
    r.add(MethodDef::new_direct(
        "core",
        "authorize",
        Verb::Execute,
        args,
        Box::new(authorize),
    ));
    r.add(MethodDef::new_direct(
        "core",
        "update",
        Verb::Execute,
        vec![ArgDef::field("reservation", RESERVATION).required()],
        Box::new(update),
    ));
    r.add(MethodDef::new_direct(
        "core",
        "release",
        Verb::Execute,
        vec![ArgDef::field("reservation", RESERVATION).required()],
        Box::new(release),
    ));
    let settle_args = charging_args(vec![
        ArgDef::field("reservation", RESERVATION),
        ArgDef::field(
            "call_id",
            FieldKind::Text {
                max: limits::call_id_length_max,
            },
        )
        .required(),
        ArgDef::field(
            "duration",
            FieldKind::Int {
                min: 0,
                max: limits::call_duration_seconds_max as i64,
            },
        )
        .required(),
        ArgDef::field("connect_time", FieldKind::DateTime),
    ]);
    // Settle commits its own transaction (xDR + ledger entry); the dispatcher's is read-only.
    r.add(MethodDef::new_direct(
        "core",
        "settle",
        Verb::Execute,
        settle_args,
        Box::new(|ctx, args| {
            let (req, scope, author) = settle_item(ctx, args)?;
            let s = ctx.inner.charging.settle(
                ctx.inner.store.as_ref(),
                &req,
                ctx.now,
                scope,
                &author,
            )?;
            Ok(settlement_json(&s))
        }),
    ));
    crud::register(r, Crud::new(&XDRS), &[Op::List]);
}
