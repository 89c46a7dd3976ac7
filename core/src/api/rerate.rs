//! `xdrs.rerate`: price the xDRs of a period again, after a wrong price was fixed. Each xDR
//! is priced by the rate table it was rated on (or `id_rate_tables`, which overrides it),
//! the rates in force at its connect time, the exchange rate in force when it was charged
//! (its `c_dt`: the one its charge used) and the included seconds it already had. A changed
//! xDR keeps its old price in `xdr_history` (`xdrs.history`), and the difference is posted
//! to the client's ledger through `ledger::post` as one `adjustment` entry with reference
//! `xdr:<id>`, so the balance stays the sum of the ledger. Re-rating again changes nothing.
//! One transaction: a call that cannot be priced any more refuses the whole re-rating.

use super::crud;
use super::{ArgDef, ArgKind, Args, Ctx, MethodDef, Registry};
use crate::auth::rbac::Verb;
use crate::charging::Recorded;
use crate::clock;
use crate::error::{Error, Result, ValidationError};
use crate::ledger::{self, Posting};
use crate::limits;
use crate::model::{
    dec, int, text, FieldKind, Record, Val, CLIENTS, CURRENCIES, INVOICES, RATE_TABLES, XDRS,
    XDR_HISTORY,
};
use crate::money;
use crate::store::{ListQuery, Range, StoreTx};
use rust_decimal::Decimal;
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;

fn client_ids(args: &Args) -> Result<Vec<i64>> {
    let Some(v) = args.json("id_clients") else {
        return Ok(Vec::new());
    };
    let list = v
        .as_array()
        .ok_or_else(|| ValidationError::invalid("id_clients", "a list of client ids"))?;
    list.iter()
        .map(|x| {
            x.as_i64().filter(|i| *i > 0).ok_or_else(|| {
                ValidationError::invalid("id_clients", "a list of client ids").into()
            })
        })
        .collect()
}

// Long: one pass over the period's xDRs, each priced, compared, recorded and posted.
fn rerate(ctx: &mut Ctx<'_>, tx: &mut dyn StoreTx, args: &Args) -> Result<Value> {
    let time = |k: &str| {
        args.text(k)
            .and_then(clock::parse_dt)
            .ok_or_else(|| Error::from(ValidationError::Required(k.into())))
    };
    let (from, till) = (time("dt_from")?, time("dt_till")?);
    if till <= from {
        return Err(ValidationError::invalid("dt_till", "must be after dt_from").into());
    }
    let scope = ctx.principal.scope();
    let clients = client_ids(args)?;
    // Another tenant's client is not found, and nothing is re-rated.
    for c in &clients {
        crud::load(ctx, tx, &CLIENTS, *c)?;
    }
    let table = args.int("id_rate_tables");
    if let Some(t) = table {
        crud::load(ctx, tx, &RATE_TABLES, t)?;
    }
    let range = Range {
        column: "connect_time",
        from: Some(Val::Text(clock::format_dt(from))),
        till: Some(Val::Text(clock::format_dt(till))),
    };
    let filters: Vec<Vec<(&'static str, Val)>> = if clients.is_empty() {
        vec![Vec::new()]
    } else {
        clients
            .iter()
            .map(|c| vec![("id_clients", Val::Int(*c))])
            .collect()
    };
    let now = ctx.now_str();
    let author = ctx.principal.user_id();
    let (mut rerated, mut unchanged) = (0u64, 0u64);
    let mut difference: BTreeMap<i64, Decimal> = BTreeMap::new();
    for f in filters {
        let q = ListQuery {
            scope,
            limit: limits::file_page_rows,
            ..ListQuery::everything(f)
        };
        let mut after = 0;
        loop {
            let page = tx.list_page(&XDRS, &q, after, std::slice::from_ref(&range))?;
            let Some(last) = page.last().and_then(|r| int(r, "id")) else {
                break;
            };
            for x in &page {
                match rerate_one(ctx, tx, x, table, &now, author)? {
                    Some(d) => {
                        rerated += 1;
                        let currency = int(x, "id_currencies").unwrap_or_default();
                        let sum = difference.entry(currency).or_default();
                        *sum = money::exact_add(*sum, d)?;
                    }
                    None => unchanged += 1,
                }
            }
            after = last;
            if (page.len() as u64) < q.limit {
                break;
            }
        }
    }
    let mut by_code = Map::new();
    for (currency, d) in difference {
        let code = tx
            .get(&CURRENCIES, currency, None)?
            .map_or_else(|| currency.to_string(), |c| text(&c, "code").to_string());
        by_code.insert(code, money::to_json(d));
    }
    Ok(json!({"rerated": rerated, "unchanged": unchanged, "difference": by_code}))
}

/// Re-price one xDR; the cost difference (new − old) when it changed.
fn rerate_one(
    ctx: &Ctx<'_>,
    tx: &mut dyn StoreTx,
    x: &Record,
    table: Option<i64>,
    now: &str,
    author: i64,
) -> Result<Option<Decimal>> {
    let id = int(x, "id").unwrap_or_default();
    let seconds = |k: &str| int(x, k).and_then(|v| u64::try_from(v).ok()).unwrap_or(0);
    let at = |k: &str| {
        x.get(k)
            .and_then(Val::as_text)
            .and_then(clock::parse_dt)
            .ok_or_else(|| Error::Internal(format!("xdr {id} has no {k}")))
    };
    let used_table = table
        .or_else(|| int(x, "id_rate_tables"))
        .unwrap_or_default();
    let priced = ctx
        .inner
        .charging
        .reprice(&Recorded {
            table: used_table,
            destination: text(x, "dst"),
            connect_time: at("connect_time")?,
            duration: seconds("duration"),
            volume_seconds: seconds("volume_seconds"),
            currency: int(x, "id_currencies").unwrap_or_default(),
            charged_at: at("c_dt")?,
        })
        .map_err(|e| {
            ValidationError::invalid("dt_from", format!("xdr {id} cannot be priced again: {e}"))
        })?;
    let old = dec(x, "cost");
    let same = priced.cost == old
        && priced.code == text(x, "code")
        && priced.terms.rate == dec(x, "rate")
        && priced.terms.setup_fee == dec(x, "setup_fee")
        && u64::from(priced.terms.min_volume) == seconds("min_volume")
        && u64::from(priced.terms.interval) == seconds("interval")
        && u64::from(priced.terms.grace_volume) == seconds("grace_volume")
        && used_table == int(x, "id_rate_tables").unwrap_or_default();
    if same {
        return Ok(None);
    }
    let delta = money::exact_sub(priced.cost, old)?;
    let client = int(x, "id_clients").unwrap_or_default();
    let reference = format!("xdr:{id}");
    let notes = format!("re-rating of xdr {id}: {old} -> {}", priced.cost);
    // An xDR on an issued invoice stays as invoiced there: the difference is a credit or
    // debit note on the client's next invoice. Otherwise the xDR's new cost is what its
    // invoice will show, and the adjustment only keeps the ledger whole.
    let invoiced = match int(x, "id_invoices") {
        Some(inv) => tx
            .get(&INVOICES, inv, None)?
            .is_some_and(|i| text(&i, "status") == "issued"),
        None => false,
    };
    let kind = match (invoiced, delta.is_sign_negative()) {
        (false, _) => "adjustment",
        (true, true) => "credit_note",
        (true, false) => "debit_note",
    };
    let posted = if delta.is_zero() {
        None
    } else {
        Some(ledger::post(
            tx,
            &Posting {
                client,
                kind,
                amount: -delta,
                original: None,
                dt: now,
                notes: Some(&notes),
                author,
                idempotency_key: None,
                request_hash: None,
                reference: Some(&reference),
            },
        )?)
    };
    let mut h = Record::new();
    for k in [
        "id_rate_tables",
        "code",
        "code_name",
        "rate",
        "setup_fee",
        "min_volume",
        "interval",
        "grace_volume",
        "billed_seconds",
        "cost",
    ] {
        h.insert(k, x.get(k).cloned().unwrap_or(Val::Null));
    }
    h.insert("id_xdrs", Val::Int(id));
    h.insert(
        "id_transactions",
        posted.map_or(Val::Null, |p| Val::Int(p.id)),
    );
    h.insert("c_dt", Val::Text(now.to_string()));
    tx.insert(&XDR_HISTORY, &h)?;
    let count = |n: u64| {
        i64::try_from(n)
            .map(Val::Int)
            .map_err(|_| Error::Internal(format!("{n} seconds")))
    };
    let mut u = Record::new();
    u.insert("id_rate_tables", Val::Int(used_table));
    u.insert("code", Val::Text(priced.code));
    u.insert("code_name", Val::Text(priced.code_name));
    u.insert("rate", Val::Dec(priced.terms.rate));
    u.insert("setup_fee", Val::Dec(priced.terms.setup_fee));
    u.insert("min_volume", Val::Int(i64::from(priced.terms.min_volume)));
    u.insert("interval", Val::Int(i64::from(priced.terms.interval)));
    u.insert(
        "grace_volume",
        Val::Int(i64::from(priced.terms.grace_volume)),
    );
    u.insert("billed_seconds", count(priced.billed_seconds)?);
    u.insert("cost", Val::Dec(priced.cost));
    tx.update(&XDRS, id, &u)?;
    ctx.touch("xdrs", id);
    Ok(Some(delta))
}

/// `xdrs.history {id}`: the earlier prices of one xDR, oldest first.
fn history(ctx: &mut Ctx<'_>, tx: &mut dyn StoreTx, args: &Args) -> Result<Value> {
    let id = args.req_int("id")?;
    crud::load(ctx, tx, &XDRS, id)?;
    let rows = tx
        .list(
            &XDR_HISTORY,
            &ListQuery::everything(vec![("id_xdrs", Val::Int(id))]),
        )?
        .0;
    let rows: Vec<Value> = rows
        .iter()
        .map(|r| crate::model::record_json(&XDR_HISTORY, r))
        .collect();
    Ok(json!({"id_xdrs": id, "rows": rows}))
}

pub(super) fn register(r: &mut Registry) {
    let args = vec![
        ArgDef::field("dt_from", FieldKind::DateTime).required(),
        ArgDef::field("dt_till", FieldKind::DateTime).required(),
        ArgDef::new("id_clients", ArgKind::Array),
        ArgDef::field("id_rate_tables", FieldKind::Ref("rate_tables")),
    ];
    r.add(MethodDef::new(
        "xdrs",
        "rerate",
        Verb::Billing,
        true,
        args,
        Box::new(rerate),
    ));
    r.add(MethodDef::new(
        "xdrs",
        "history",
        Verb::Read,
        false,
        vec![ArgDef::field("id", FieldKind::Id).required()],
        Box::new(history),
    ));
}
