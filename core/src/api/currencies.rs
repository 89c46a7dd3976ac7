//! `currencies` with their exchange rates (`ratesAdd`, `ratesList`, `ratesDelete`) and
//! `convert`, which names the rate and the date it used.

use super::crud::{self, Crud, Mode, Op};
use super::{ArgDef, Args, Ctx, MethodDef, Registry};
use crate::error::{MoneyError, Result, ValidationError};
use crate::model::{FieldKind, Record, Val, CURRENCIES, EXCHANGE_RATES};
use crate::money;
use crate::rbac::Verb;
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
    Ok(())
}

/// The result of converting an amount between currencies.
#[derive(Debug, Clone, PartialEq)]
pub struct Conversion {
    /// Converted amount (full precision; the caller rounds where its rule says).
    pub amount: Decimal,
    /// Rate applied (`1 from = rate to`).
    pub rate: Decimal,
    /// Exchange rate row used.
    pub rate_id: Option<i64>,
    /// When that rate took effect.
    pub effective_from: Option<String>,
}

/// Convert `amount` from one currency to another at the rate in force at `at`. Uses the
/// direct rate, else the inverse of the opposite rate.
pub fn convert(
    tx: &dyn StoreTx,
    amount: Decimal,
    from: i64,
    to: i64,
    at: &str,
) -> Result<Conversion> {
    if from == to {
        return Ok(Conversion {
            amount,
            rate: Decimal::ONE,
            rate_id: None,
            effective_from: None,
        });
    }
    let (id, rate, dt) = match tx.exchange_rate(from, to, at)? {
        Some(r) => r,
        None => match tx.exchange_rate(to, from, at)? {
            Some((id, r, dt)) => (id, money::div(Decimal::ONE, r)?, dt),
            None => {
                let code = |id: i64| -> String {
                    tx.get(&CURRENCIES, id, None)
                        .ok()
                        .flatten()
                        .and_then(|c| c.get("code").and_then(Val::as_text).map(str::to_string))
                        .unwrap_or_else(|| id.to_string())
                };
                return Err(MoneyError::NoExchangeRate {
                    from: code(from),
                    to: code(to),
                }
                .into());
            }
        },
    };
    Ok(Conversion {
        amount: money::mul(amount, rate)?,
        rate,
        rate_id: Some(id),
        effective_from: Some(dt),
    })
}

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
