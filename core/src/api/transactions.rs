//! `transactions`: payments, manual charges, refunds and adjustments on the ledger, each
//! with an optional idempotency key.

use super::crud::{self, Crud, Op};
use super::{ArgDef, Args, Ctx, MethodDef, Registry};
use crate::error::{ChargeError, Error, Result, ValidationError};
use crate::ledger::{self, Posting};
use crate::limits;
use crate::model::{FieldKind, Val, CLIENTS, CURRENCIES, TRANSACTIONS};
use crate::money;
use crate::rbac::Verb;
use crate::store::StoreTx;
use rust_decimal::Decimal;
use serde_json::{json, Value};

/// Types a caller may post (calls and package fees are posted by the engine).
const MANUAL_TYPES: &[&str] = &["payment", "charge", "refund", "adjustment"];

fn result_json(tx: &dyn StoreTx, id: i64, replayed: bool) -> Result<Value> {
    let row = tx
        .get(&TRANSACTIONS, id, None)?
        .ok_or_else(|| Error::Internal(format!("transaction {id} vanished")))?;
    let mut v = crud::record_json(&TRANSACTIONS, &row);
    if let Some(o) = v.as_object_mut() {
        o.insert("replayed".into(), Value::Bool(replayed));
    }
    Ok(json!({ "transaction": v }))
}

fn precision_of(tx: &dyn StoreTx, currency: i64) -> Result<u32> {
    let cur = tx
        .get(&CURRENCIES, currency, None)?
        .ok_or_else(|| Error::Internal(format!("currency {currency} missing")))?;
    Ok(cur
        .get("details_precision")
        .and_then(Val::as_int)
        .and_then(|p| u32::try_from(p).ok())
        .unwrap_or(4))
}

fn add(ctx: &mut Ctx<'_>, tx: &mut dyn StoreTx, args: &Args) -> Result<Value> {
    let client_id = args.req_int("id_clients")?;
    let client = crud::load(ctx, tx, &CLIENTS, client_id)?;
    if client.get("status").and_then(Val::as_text) == Some("archived") {
        return Err(Error::Archived {
            what: format!("client {client_id}"),
        });
    }
    let kind = args
        .text("type")
        .ok_or_else(|| ValidationError::Required("type".into()))?
        .to_string();
    let given = args
        .dec("amount")
        .ok_or_else(|| ValidationError::Required("amount".into()))?;
    let client_currency = client
        .get("id_currencies")
        .and_then(Val::as_int)
        .unwrap_or(1);
    let currency = args.int("id_currencies").unwrap_or(client_currency);
    if currency != client_currency {
        crud::check_ref(ctx, tx, "id_currencies", "currencies", currency)?;
    }
    let key = args.text("idempotency_key");
    let notes = args.text("notes");
    let reference = args.text("reference");
    let force = args.bool("force").unwrap_or(false);
    let hash = ledger::request_hash(&[
        &client_id.to_string(),
        &kind,
        &given.normalize().to_string(),
        &currency.to_string(),
        notes.unwrap_or(""),
        reference.unwrap_or(""),
    ]);
    if let Some(k) = key {
        // Keys are the client's own: another client's key is simply unknown here.
        if let Some((id, first_hash)) = tx.transaction_by_key(client_id, k)? {
            if first_hash != hash {
                return Err(ChargeError::IdempotencyConflict(format!(
                    "idempotency_key {k:?} was used for a different transaction"
                ))
                .into());
            }
            return result_json(tx, id, true);
        }
    }
    if given.is_zero() {
        return Err(ValidationError::OutOfRange {
            field: "amount".into(),
            reason: "must not be zero".into(),
        }
        .into());
    }
    let precision = precision_of(tx, currency)?;
    money::check_scale("amount", given, precision)?;
    let signed = match kind.as_str() {
        "payment" | "refund" if given.is_sign_negative() => {
            return Err(ValidationError::OutOfRange {
                field: "amount".into(),
                reason: format!("a {kind} is positive"),
            }
            .into())
        }
        "payment" | "refund" => given,
        // A charge may be written as a positive amount or, as JeraSoft lists them, negative.
        "charge" => -given.abs(),
        _ => given,
    };
    let (amount, original) = if currency == client_currency {
        (signed, None)
    } else {
        // Rounded once, half up, to the client currency's details precision (the rule).
        let conv =
            super::currencies::convert(tx, signed, currency, client_currency, &ctx.now_str())?;
        (conv.amount, Some((signed, currency, conv.rate)))
    };
    if amount.is_sign_negative() && !force {
        let available = ctx.inner.charging.available(client_id)?;
        if money::exact_add(available, amount)? < Decimal::ZERO {
            return Err(ChargeError::BalanceInsufficient(format!(
                "the charge of {} exceeds the available funds {available} (balance + credit - held); pass force to override",
                -amount
            ))
            .into());
        }
    }
    let now = ctx.now_str();
    let posted = ledger::post(
        tx,
        &Posting {
            client: client_id,
            kind: &kind,
            amount,
            original,
            dt: &now,
            notes,
            author: ctx.principal.user_id(),
            idempotency_key: key,
            request_hash: Some(&hash),
            reference,
        },
    )?;
    ctx.balance_changed(client_id, amount);
    ctx.touch("transactions", posted.id);
    result_json(tx, posted.id, false)
}

pub(super) fn register(r: &mut Registry) {
    let args = vec![
        ArgDef::field("id_clients", FieldKind::Ref("clients"))
            .required()
            .alias(&["clients_id"]),
        ArgDef::field("type", FieldKind::Enum(MANUAL_TYPES)).required(),
        ArgDef::field(
            "amount",
            FieldKind::Money {
                non_negative: false,
            },
        )
        .required(),
        ArgDef::field("id_currencies", FieldKind::Ref("currencies")).alias(&["currencies_id"]),
        ArgDef::field(
            "notes",
            FieldKind::Text {
                max: limits::long_text_length_max,
            },
        ),
        ArgDef::field(
            "idempotency_key",
            FieldKind::Text {
                max: limits::idempotency_key_length_max,
            },
        ),
        ArgDef::field(
            "reference",
            FieldKind::Text {
                max: limits::text_length_max,
            },
        ),
        ArgDef::field("force", FieldKind::Bool),
    ];
    r.add(MethodDef::new(
        "transactions",
        "add",
        Verb::Billing,
        true,
        args,
        Box::new(add),
    ));
    crud::register(r, Crud::new(&TRANSACTIONS), &[Op::List]);
}
