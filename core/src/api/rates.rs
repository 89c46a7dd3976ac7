//! `rateTables` and `rates` (incl. CSV `import`): the prices calls are rated by. Every change
//! rebuilds the table's in-memory prefix index after commit.

use super::crud::{self, Crud, Mode, Op};
use super::{ArgDef, Args, Ctx, MethodDef, Registry};
use crate::auth::rbac::Verb;
use crate::clock;
use crate::error::{Error, RatingError, Result, ValidationError};
use crate::limits;
use crate::model::{FieldKind, Record, Val, CURRENCIES, RATES, RATE_TABLES};
use crate::money;
use crate::rating::{self, RateIndex, Timed};
use crate::store::{ListQuery, StoreTx};
use serde_json::{json, Value};

fn rates_of(tx: &dyn StoreTx, table: i64, code: Option<&str>) -> Result<Vec<Record>> {
    let mut filters = vec![("id_rate_tables", Val::Int(table))];
    if let Some(c) = code {
        filters.push(("code", Val::Text(c.to_string())));
    }
    let q = ListQuery::everything(filters);
    Ok(tx.list(&RATES, &q)?.0)
}

/// Decimal places allowed in a table's rates: its currency's rates precision.
fn rates_precision(tx: &dyn StoreTx, table: i64) -> Result<u32> {
    let t = tx
        .get(&RATE_TABLES, table, None)?
        .ok_or_else(|| Error::not_found(format!("rate_table {table}")))?;
    let cur = t.get("id_currencies").and_then(Val::as_int).unwrap_or(1);
    let c = tx
        .get(&CURRENCIES, cur, None)?
        .ok_or_else(|| Error::Internal(format!("currency {cur} missing")))?;
    Ok(c.get("rates_precision")
        .and_then(Val::as_int)
        .and_then(|p| u32::try_from(p).ok())
        .unwrap_or(4))
}

fn period(
    rec: &Record,
) -> (
    Option<chrono::DateTime<chrono::Utc>>,
    Option<chrono::DateTime<chrono::Utc>>,
) {
    let get = |k: &str| rec.get(k).and_then(Val::as_text).and_then(clock::parse_dt);
    (get("effective_from"), get("effective_till"))
}

fn validate_rate(
    ctx: &Ctx<'_>,
    tx: &mut dyn StoreTx,
    _mode: Mode,
    rec: &mut Record,
    existing: Option<&Record>,
) -> Result<()> {
    let pick = |k: &str| {
        rec.get(k)
            .or_else(|| existing.and_then(|e| e.get(k)))
            .cloned()
    };
    let table = pick("id_rate_tables")
        .and_then(|v| v.as_int())
        .ok_or_else(|| ValidationError::Required("id_rate_tables".into()))?;
    let code = pick("code")
        .and_then(|v| v.as_text().map(str::to_string))
        .unwrap_or_default();
    rating::validate_code(&code).map_err(|e| match e {
        RatingError::InvalidCode { reason, .. } => {
            Error::from(ValidationError::invalid("code", reason))
        }
        other => other.into(),
    })?;
    let precision = rates_precision(tx, table)?;
    for f in ["rate", "setup_fee"] {
        if let Some(Val::Dec(d)) = rec.get(f) {
            money::check_scale(f, *d, precision)?;
            money::check_rate(f, *d)?;
        }
    }
    let mut merged = existing.cloned().unwrap_or_default();
    merged.extend(rec.iter().map(|(k, v)| (*k, v.clone())));
    let (from, till) = period(&merged);
    let from = from.ok_or_else(|| ValidationError::Required("effective_from".into()))?;
    if till.is_some_and(|t| t <= from) {
        return Err(
            ValidationError::invalid("effective_till", "must be after effective_from").into(),
        );
    }
    let own = existing.and_then(|e| e.get("id")).and_then(Val::as_int);
    let mine = Timed {
        effective_from: from,
        effective_till: till,
        value: (),
    };
    for other in rates_of(tx, table, Some(&code))? {
        if other.get("id").and_then(Val::as_int) == own {
            continue;
        }
        if let (Some(f), t) = period(&other) {
            if mine.overlaps(&Timed {
                effective_from: f,
                effective_till: t,
                value: (),
            }) {
                return Err(ValidationError::invalid(
                    "effective_from",
                    format!(
                        "overlaps rate {} of code {code} in this table",
                        other.get("id").and_then(Val::as_int).unwrap_or(0)
                    ),
                )
                .into());
            }
        }
    }
    ctx.touch("rateTables", table);
    Ok(())
}

fn on_delete_rate(ctx: &Ctx<'_>, _tx: &mut dyn StoreTx, rec: &Record) -> Result<()> {
    if let Some(t) = rec.get("id_rate_tables").and_then(Val::as_int) {
        ctx.touch("rateTables", t);
    }
    Ok(())
}

fn validate_table(
    ctx: &Ctx<'_>,
    _tx: &mut dyn StoreTx,
    _mode: Mode,
    _rec: &mut Record,
    existing: Option<&Record>,
) -> Result<()> {
    if let Some(id) = existing.and_then(|e| e.get("id")).and_then(Val::as_int) {
        ctx.touch("rateTables", id);
    }
    Ok(())
}

fn on_delete_table(_ctx: &Ctx<'_>, tx: &mut dyn StoreTx, rec: &Record) -> Result<()> {
    let id = rec.get("id").and_then(Val::as_int).unwrap_or_default();
    let users = tx.count_refs("clients", "orig_rate_table", id)?
        + tx.count_refs("accounts", "orig_rate_table", id)?;
    if users > 0 {
        return Err(Error::InUse {
            what: format!("rate_table {id}"),
            reason: format!("{users} clients or accounts use it"),
        });
    }
    Ok(())
}

fn import(ctx: &mut Ctx<'_>, tx: &mut dyn StoreTx, args: &Args) -> Result<Value> {
    let table = args.req_int("id_rate_tables")?;
    crud::load(ctx, tx, &RATE_TABLES, table)?;
    let text = args
        .text("csv")
        .ok_or_else(|| ValidationError::Required("csv".into()))?;
    let precision = rates_precision(tx, table)?;
    let deck = rating::parse_deck(text.as_bytes(), precision)?;
    let replace = args.bool("replace").unwrap_or(false);
    import_deck(ctx, tx, table, &deck, replace)
}

/// `rates.import` from a reader, for decks larger than a request (the CLI's `import-rates`):
/// the deck is parsed outside any transaction, then written by the same [`import_deck`] as
/// the JSON method, as `principal`, with its audit row. All or nothing.
pub(crate) fn import_reader(
    inner: &crate::api::Inner,
    principal: &crate::auth::Principal,
    table: i64,
    input: &mut dyn std::io::Read,
    replace: bool,
) -> Result<u64> {
    // The same right `rates.import` declares, decided by the same function.
    crate::auth::permit::require(
        principal,
        crate::auth::rbac::Permission::new("rates", Verb::Write),
    )?;
    let now = inner.clock.now();
    let read = |ctx: &mut Ctx<'_>, tx: &mut dyn StoreTx| -> Result<Value> {
        crud::load(ctx, tx, &RATE_TABLES, table)?;
        Ok(json!(rates_precision(tx, table)?))
    };
    let (precision, _) = super::run_body(inner, principal, "rates.import", false, now, read)?;
    let precision = precision
        .as_u64()
        .and_then(|p| u32::try_from(p).ok())
        .unwrap_or(4);
    let deck = rating::parse_deck(input, precision)?;
    let (value, _) = super::run_body(inner, principal, "rates.import", true, now, |ctx, tx| {
        crud::load(ctx, tx, &RATE_TABLES, table)?;
        import_deck(ctx, tx, table, &deck, replace)
    })?;
    Ok(value["imported"].as_u64().unwrap_or(0))
}

/// Write a parsed deck into `table` (the caller loaded it in scope): checks every period
/// against the table's rates and the rest of the deck, naming lines, then inserts.
// Long: one all-or-nothing import whose steps (parse, overlap check, write, audit) share its transaction's state.
fn import_deck(
    ctx: &mut Ctx<'_>,
    tx: &mut dyn StoreTx,
    table: i64,
    deck: &[rating::DeckRow],
    replace: bool,
) -> Result<Value> {
    // The deck may have been parsed before this transaction: check its amounts against the
    // precision the table's currency has now.
    let precision = rates_precision(tx, table)?;
    for row in deck {
        for (column, amount) in [("rate", row.terms.rate), ("setup_fee", row.terms.setup_fee)] {
            if money::check_scale(column, amount, precision).is_err() {
                return Err(RatingError::Deck {
                    line: row.line,
                    column: column.into(),
                    reason: format!("more than {precision} decimal places"),
                }
                .into());
            }
            if let Err(e) = money::check_rate(column, amount) {
                return Err(RatingError::Deck {
                    line: row.line,
                    column: column.into(),
                    reason: e.to_string(),
                }
                .into());
            }
        }
    }
    let existing = if replace {
        for r in rates_of(tx, table, None)? {
            if let Some(id) = r.get("id").and_then(Val::as_int) {
                tx.delete(&RATES, id)?;
            }
        }
        Vec::new()
    } else {
        rates_of(tx, table, None)?
    };
    // Check every period against the table's rates and the rest of the deck, naming lines.
    let mut items: Vec<(String, Timed<u64>)> = Vec::with_capacity(existing.len() + deck.len());
    for r in &existing {
        if let (Some(f), t) = period(r) {
            let code = r
                .get("code")
                .and_then(Val::as_text)
                .unwrap_or_default()
                .to_string();
            items.push((
                code,
                Timed {
                    effective_from: f,
                    effective_till: t,
                    value: 0,
                },
            ));
        }
    }
    let base = items.len() as u64;
    items.extend(
        deck.iter()
            .map(|row| (row.code.clone(), row.timed(row.line))),
    );
    if let Err(Error::Rating(RatingError::PeriodOverlap {
        code,
        first,
        second,
    })) = RateIndex::build(items).map(|_| ())
    {
        let name = |pos: u64| {
            if pos > base {
                format!("line {}", deck[(pos - base - 1) as usize].line)
            } else {
                "an existing rate".into()
            }
        };
        return Err(RatingError::Deck {
            line: if second > base {
                deck[(second - base - 1) as usize].line
            } else {
                0
            },
            column: "effective_from".into(),
            reason: format!(
                "code {code}: the period of {} overlaps {}",
                name(second),
                name(first)
            ),
        }
        .into());
    }
    let now = ctx.now_str();
    for row in deck {
        let mut rec = Record::new();
        rec.insert("id_rate_tables", Val::Int(table));
        rec.insert("code", Val::Text(row.code.clone()));
        rec.insert("code_name", Val::Text(row.code_name.clone()));
        rec.insert("rate", Val::Dec(row.terms.rate));
        rec.insert("min_volume", Val::Int(i64::from(row.terms.min_volume)));
        rec.insert("interval", Val::Int(i64::from(row.terms.interval)));
        rec.insert("grace_volume", Val::Int(i64::from(row.terms.grace_volume)));
        rec.insert("setup_fee", Val::Dec(row.terms.setup_fee));
        rec.insert(
            "effective_from",
            Val::Text(clock::format_dt(row.effective_from)),
        );
        rec.insert(
            "effective_till",
            row.effective_till
                .map_or(Val::Null, |t| Val::Text(clock::format_dt(t))),
        );
        rec.insert("c_dt", Val::Text(now.clone()));
        tx.insert(&RATES, &rec)?;
    }
    ctx.touch("rateTables", table);
    Ok(json!({ "id_rate_tables": table, "imported": deck.len(), "replaced": replace }))
}

pub(super) fn register(r: &mut Registry) {
    let tables = Crud {
        validate: Some(validate_table),
        on_delete: Some(on_delete_table),
        ..Crud::new(&RATE_TABLES)
    };
    crud::register(
        r,
        tables,
        &[Op::Add, Op::Edit, Op::EditForm, Op::List, Op::Delete],
    );
    let rates = Crud {
        validate: Some(validate_rate),
        on_delete: Some(on_delete_rate),
        ..Crud::new(&RATES)
    };
    crud::register(
        r,
        rates,
        &[Op::Add, Op::Edit, Op::EditForm, Op::List, Op::Delete],
    );
    let args = vec![
        ArgDef::field("id_rate_tables", FieldKind::Ref("rate_tables"))
            .required()
            .alias(&["rate_tables_id"]),
        ArgDef::field(
            "csv",
            FieldKind::Text {
                max: limits::request_size_bytes_max,
            },
        )
        .required(),
        ArgDef::field("replace", FieldKind::Bool),
    ];
    r.add(MethodDef::new(
        "rates",
        "import",
        Verb::Write,
        true,
        args,
        Box::new(import),
    ));
}
