//! `currencies` with their exchange rates (`ratesAdd`, `ratesList`, `ratesDelete`) and
//! `convert`, which names the rate and the date it used.

use super::crud::{self, Crud, Mode, Op};
use super::{ArgDef, Args, Ctx, MethodDef, Registry};
use crate::auth::rbac::Verb;
use crate::error::{Result, ValidationError};
use crate::model::{FieldKind, Record, Val, CURRENCIES, EXCHANGE_RATES};
use crate::money;
use crate::store::StoreTx;
use rust_decimal::Decimal;
use serde_json::{json, Value};

fn validate(
    _ctx: &Ctx<'_>,
    _tx: &mut dyn StoreTx,
    _mode: Mode,
    rec: &mut Record,
    _existing: Option<&Record>,
) -> Result<()> {
    if let Some(code) = rec.get("code").and_then(Val::as_text) {
        if code.len() != 3 || !code.bytes().all(|b| b.is_ascii_uppercase()) {
            return Err(ValidationError::invalid(
                "code",
                "an ISO 4217 code is three capital letters, e.g. USD",
            )
            .into());
        }
    }
    Ok(())
}

fn validate_rate(
    _ctx: &Ctx<'_>,
    _tx: &mut dyn StoreTx,
    _mode: Mode,
    rec: &mut Record,
    _existing: Option<&Record>,
) -> Result<()> {
    if rec.get("id_currencies") == rec.get("id_currencies_to") {
        return Err(
            ValidationError::invalid("id_currencies_to", "must differ from id_currencies").into(),
        );
    }
    if rec
        .get("rate")
        .and_then(Val::as_dec)
        .is_some_and(|r| r <= Decimal::ZERO)
    {
        return Err(ValidationError::OutOfRange {
            field: "rate".into(),
            reason: "must be positive".into(),
        }
        .into());
    }
    if let Some(r) = rec.get("rate").and_then(Val::as_dec) {
        money::check_exchange_rate("rate", r)?;
    }
    Ok(())
}

pub use crate::ledger::convert::convert;

fn convert_method(ctx: &mut Ctx<'_>, tx: &mut dyn StoreTx, args: &Args) -> Result<Value> {
    let from = args.req_int("from")?;
    let to = args.req_int("to")?;
    for (field, id) in [("from", from), ("to", to)] {
        crud::check_ref(ctx, tx, field, "currencies", id)?;
    }
    let amount = args
        .dec("amount")
        .ok_or_else(|| ValidationError::Required("amount".into()))?;
    let at = args
        .text("dt")
        .map(str::to_string)
        .unwrap_or_else(|| ctx.now_str());
    let c = convert(tx, amount, from, to, &at)?;
    Ok(json!({
        "amount": money::to_json(amount),
        "from": from,
        "to": to,
        "result": money::to_json(c.amount),
        "rate": money::to_json(c.rate),
        "rate_id": c.rate_id,
        "effective_from": c.effective_from,
    }))
}

pub(super) fn register(r: &mut Registry) {
    let c = Crud {
        validate: Some(validate),
        ..Crud::new(&CURRENCIES)
    };
    crud::register(
        r,
        c,
        &[Op::Add, Op::Edit, Op::EditForm, Op::List, Op::Delete],
    );
    let rates = Crud {
        validate: Some(validate_rate),
        ..Crud::new(&EXCHANGE_RATES)
    };
    crud::register_as(
        r,
        "currencies",
        rates,
        &[
            (Op::Add, "ratesAdd"),
            (Op::List, "ratesList"),
            (Op::Delete, "ratesDelete"),
        ],
    );
    let args = vec![
        ArgDef::field(
            "amount",
            FieldKind::Money {
                non_negative: false,
            },
        )
        .required(),
        ArgDef::field("from", FieldKind::Ref("currencies"))
            .required()
            .alias(&["id_currencies"]),
        ArgDef::field("to", FieldKind::Ref("currencies"))
            .required()
            .alias(&["id_currencies_to"]),
        ArgDef::field("dt", FieldKind::DateTime),
    ];
    r.add(MethodDef::new(
        "currencies",
        "convert",
        Verb::Read,
        false,
        args,
        Box::new(convert_method),
    ));
}
