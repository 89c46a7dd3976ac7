//! `transactions`: payments, manual charges, refunds and adjustments on the ledger, each
//! with an optional idempotency key.

use super::crud::{self, Crud, Op};
use super::{ArgDef, Args, Ctx, MethodDef, Registry};
use crate::auth::rbac::Verb;
use crate::error::{Error, Result, ValidationError};
use crate::ledger::manual::{self, Manual, MANUAL_TYPES};
use crate::limits;
use crate::model::{FieldKind, Val, CLIENTS, TRANSACTIONS};
use crate::store::StoreTx;
use serde_json::{json, Value};

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
        .ok_or_else(|| ValidationError::Required("type".into()))?;
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
    let available = match args.bool("force").unwrap_or(false) {
        true => None,
        false => Some(ctx.inner.charging.available(client_id)?),
    };
    let now = ctx.now_str();
    let (id, replayed) = manual::book(
        tx,
        &Manual {
            client: client_id,
            client_currency,
            kind,
            given,
            currency,
            notes: args.text("notes"),
            reference: args.text("reference"),
            key: args.text("idempotency_key"),
            author: ctx.principal.user_id(),
            now: &now,
            available,
        },
    )?;
    if !replayed {
        ctx.touch("transactions", id);
    }
    result_json(tx, id, replayed)
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
