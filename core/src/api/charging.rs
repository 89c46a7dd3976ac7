//! `core.authorize|update|settle|release`: the softswitch calls over the Management API, and
//! `xdrs.list`.

use super::crud::{self, Crud, Op};
use super::{ArgDef, Args, Ctx, MethodDef, Registry};
use crate::clock;
use crate::error::{ChargeError, Result, ValidationError};
use crate::ledger::charging::{Authorization, AuthorizeRequest, SettleRequest, Settlement};
use crate::limits;
use crate::model::{FieldKind, CLIENTS, XDRS};
use crate::money;
use crate::rbac::Verb;
use crate::store::StoreTx;
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
        "balance": money::to_json(s.balance),
        "unreserved": s.unreserved,
        "replayed": s.replayed,
    })
}

/// A principal limited to a subtree may only charge its own clients' calls: anything else
/// answers exactly like a missing account or reservation.
fn check_account_scope(
    ctx: &Ctx<'_>,
    tx: &dyn StoreTx,
    ident: &str,
    auth_type: Option<&str>,
) -> Result<()> {
    let client = ctx.inner.charging.account_client(ident, auth_type)?;
    if ctx.principal.scope().is_some() && tx.get(&CLIENTS, client, ctx.principal.scope())?.is_none()
    {
        return Err(ChargeError::AccountNotFound(ident.chars().take(64).collect()).into());
    }
    Ok(())
}

fn check_reservation_scope(ctx: &Ctx<'_>, tx: &dyn StoreTx, id: u64) -> Result<()> {
    if ctx.principal.scope().is_none() {
        return Ok(());
    }
    let visible = match ctx.inner.charging.reservation_client(id) {
        Some(client) => tx.get(&CLIENTS, client, ctx.principal.scope())?.is_some(),
        None => true,
    };
    if visible {
        Ok(())
    } else {
        Err(ChargeError::ReservationNotFound(id).into())
    }
}

fn time_arg(args: &Args, name: &str) -> Option<chrono::DateTime<chrono::Utc>> {
    args.text(name).and_then(clock::parse_dt)
}

fn reservation_arg(args: &Args) -> Option<u64> {
    args.int("reservation").and_then(|r| u64::try_from(r).ok())
}

// The charging calls do their own transactions (settle) or none (authorize): they run in the
// dispatcher's read transaction only for the permission check and the audit-free path.
fn authorize(ctx: &mut Ctx<'_>, tx: &mut dyn StoreTx, args: &Args) -> Result<Value> {
    let req = AuthorizeRequest {
        account: args.text("account").unwrap_or_default().to_string(),
        auth_type: args.text("auth_type").map(str::to_string),
        destination: args.text("destination").unwrap_or_default().to_string(),
        source: args.text("source").map(str::to_string),
        time: time_arg(args, "time"),
    };
    check_account_scope(ctx, tx, &req.account, req.auth_type.as_deref())?;
    Ok(authorization_json(
        &ctx.inner.charging.authorize(&req, ctx.now)?,
    ))
}

fn update(ctx: &mut Ctx<'_>, tx: &mut dyn StoreTx, args: &Args) -> Result<Value> {
    let id =
        reservation_arg(args).ok_or_else(|| ValidationError::Required("reservation".into()))?;
    check_reservation_scope(ctx, tx, id)?;
    Ok(authorization_json(&ctx.inner.charging.update(id, ctx.now)?))
}

fn release(ctx: &mut Ctx<'_>, tx: &mut dyn StoreTx, args: &Args) -> Result<Value> {
    let id =
        reservation_arg(args).ok_or_else(|| ValidationError::Required("reservation".into()))?;
    check_reservation_scope(ctx, tx, id)?;
    ctx.inner.charging.release(id)?;
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

pub(super) fn register(r: &mut Registry) {
    let mut args = charging_args(vec![ArgDef::field("time", FieldKind::DateTime)]);
    for a in args
        .iter_mut()
        .filter(|a| a.name == "account" || a.name == "destination")
    {
        a.required = true;
    }
    r.add(MethodDef::new(
        "core",
        "authorize",
        Verb::Execute,
        false,
        args,
        Box::new(authorize),
    ));
    r.add(MethodDef::new(
        "core",
        "update",
        Verb::Execute,
        false,
        vec![ArgDef::field("reservation", RESERVATION).required()],
        Box::new(update),
    ));
    r.add(MethodDef::new(
        "core",
        "release",
        Verb::Execute,
        false,
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
    r.add(MethodDef::new(
        "core",
        "settle",
        Verb::Execute,
        false,
        settle_args,
        Box::new(|ctx, tx, args| {
            let req = settle_request(args)?;
            if let Some(id) = req.reservation {
                check_reservation_scope(ctx, tx, id)?;
            }
            let reserved = req
                .reservation
                .and_then(|id| ctx.inner.charging.reservation_client(id));
            if let (Some(account), None) = (&req.account, reserved) {
                check_account_scope(ctx, tx, account, req.auth_type.as_deref())?;
            }
            let s = ctx
                .inner
                .charging
                .settle(ctx.inner.store.as_ref(), &req, ctx.now)?;
            Ok(settlement_json(&s))
        }),
    ));
    crud::register(r, Crud::new(&XDRS), &[Op::List]);
}
