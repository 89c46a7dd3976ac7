//! Reading the billing cycle back: `clients.statement` (a client's ledger over a period
//! with running balances) and `reports.summary` (traffic grouped by client, destination, day
//! or account; CSV at `/admin/reports/summary`). The rules are in docs/invoices.md.

use super::crud;
use super::{ArgDef, ArgKind, Args, Ctx, FileMeta, MethodDef, Registry};
use crate::auth::rbac::Verb;
use crate::clock;
use crate::error::{Error, Result, StoreError, ValidationError};
use crate::limits;
use crate::model::{FieldKind, Record, Val, ACCOUNTS, CLIENTS, CURRENCIES, TRANSACTIONS, XDRS};
use crate::money::{self, Rounding};
use crate::store::{self, ListQuery, Range, StoreTx, TxKind};
use rust_decimal::Decimal;
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;
use std::io::Write;

/// `dt_from` and `dt_till` as stored text, `dt_till` after `dt_from`, at most `max_days`
/// apart when a limit is given.
pub(super) fn period(args: &Args, max_days: Option<(i64, &str)>) -> Result<(String, String)> {
    let text = |name: &str| {
        args.text(name)
            .map(str::to_string)
            .ok_or_else(|| Error::from(ValidationError::Required(name.into())))
    };
    let (from, till) = (text("dt_from")?, text("dt_till")?);
    let parse = |name: &str, t: &str| {
        clock::parse_dt(t)
            .ok_or_else(|| Error::from(ValidationError::invalid(name, "expected a date-time")))
    };
    let (f, t) = (parse("dt_from", &from)?, parse("dt_till", &till)?);
    if t <= f {
        return Err(ValidationError::invalid("dt_till", "must be after dt_from").into());
    }
    if let Some((days, name)) = max_days {
        if t - f > chrono::Duration::days(days) {
            return Err(ValidationError::OutOfRange {
                field: "dt_till".into(),
                reason: format!("a period covers at most {days} days ({name})"),
            }
            .into());
        }
    }
    Ok((from, till))
}

fn range(column: &'static str, from: &str, till: &str) -> Range {
    Range {
        column,
        from: Some(Val::Text(from.to_string())),
        till: Some(Val::Text(till.to_string())),
    }
}

/// Every row `q` matches, in keyset pages by id; more than `max` is `OutOfRange`.
fn all_rows(
    tx: &dyn StoreTx,
    e: &'static crate::model::EntityDef,
    q: &ListQuery,
    max: u64,
    mut each: impl FnMut(&Record) -> Result<()>,
) -> Result<()> {
    let mut seen: u64 = 0;
    crate::store::each_row(tx, e, q, |rec| {
        seen += 1;
        if seen > max {
            return Err(ValidationError::OutOfRange {
                field: "dt_till".into(),
                reason: format!("more than {max} rows: ask for a shorter period"),
            }
            .into());
        }
        each(&rec)
    })
}

// ---- clients.statement ------------------------------------------------------------------

fn statement(ctx: &mut Ctx<'_>, tx: &mut dyn StoreTx, args: &Args) -> Result<Value> {
    let client_id = args.req_int("id_clients")?;
    // Another tenant's client answers exactly like a missing one.
    let client = crud::load(ctx, tx, &CLIENTS, client_id)?;
    let (from, till) = period(args, None)?;
    let opening = money::exact_sum(tx.ledger_amounts_before(client_id, &from)?)?;
    let mut q = ListQuery::everything(vec![("id_clients", Val::Int(client_id))]);
    q.ranges = vec![range("dt", &from, &till)];
    let mut entries: Vec<Record> = Vec::new();
    all_rows(tx, &TRANSACTIONS, &q, limits::statement_entries_max, |r| {
        entries.push(r.clone());
        Ok(())
    })?;
    // The ledger's order: by date, then by id (the order they were posted in).
    let key = |r: &Record| {
        (
            r.get("dt")
                .and_then(Val::as_text)
                .unwrap_or_default()
                .to_string(),
            r.get("id").and_then(Val::as_int).unwrap_or(0),
        )
    };
    entries.sort_by_key(key);
    let mut balance = opening;
    let mut debits = Decimal::ZERO;
    let mut credits = Decimal::ZERO;
    let mut rows = Vec::with_capacity(entries.len());
    for r in &entries {
        let amount = r
            .get("amount")
            .and_then(Val::as_dec)
            .ok_or_else(|| Error::Internal("an entry without an amount".into()))?;
        balance = money::exact_add(balance, amount)?;
        if amount.is_sign_negative() {
            debits = money::exact_add(debits, amount)?;
        } else {
            credits = money::exact_add(credits, amount)?;
        }
        let mut v = crud::record_json(&TRANSACTIONS, r);
        if let Some(o) = v.as_object_mut() {
            o.insert("balance".into(), Val::Dec(balance).to_json());
        }
        rows.push(v);
    }
    Ok(json!({
        "statement": {
            "id_clients": client_id,
            "id_currencies": client.get("id_currencies").map(Val::to_json),
            "dt_from": from,
            "dt_till": till,
            "opening_balance": Val::Dec(opening).to_json(),
            "debits": Val::Dec(debits).to_json(),
            "credits": Val::Dec(credits).to_json(),
            "closing_balance": Val::Dec(balance).to_json(),
            "entries": rows,
        }
    }))
}

// ---- reports.summary --------------------------------------------------------------------

/// The dimensions a summary groups by.
pub const GROUPS: [&str; 4] = ["client", "destination", "day", "account"];

#[derive(Default)]
struct Agg {
    calls: u64,
    answered: u64,
    duration: i64,
    billed: i64,
    cost: Decimal,
}

impl Agg {
    fn add(&mut self, rec: &Record) -> Result<()> {
        let int = |f: &str| rec.get(f).and_then(Val::as_int).unwrap_or(0);
        self.calls += 1;
        let duration = int("duration");
        if duration > 0 {
            self.answered += 1;
        }
        self.duration = self.duration.saturating_add(duration);
        self.billed = self.billed.saturating_add(int("billed_seconds"));
        if let Some(c) = rec.get("cost").and_then(Val::as_dec) {
            self.cost = money::exact_add(self.cost, c)?;
        }
        Ok(())
    }

    /// The figures of a row: counts and the exact cost, then the derived display figures.
    fn figures(&self, m: &mut Map<String, Value>) -> Result<()> {
        m.insert("calls".into(), json!(self.calls));
        m.insert("answered".into(), json!(self.answered));
        m.insert("duration".into(), json!(self.duration));
        m.insert("billed_seconds".into(), json!(self.billed));
        let minutes = money::div_round(
            Decimal::from(self.billed),
            Decimal::from(60),
            4,
            Rounding::HalfUp,
        )?;
        m.insert("billed_minutes".into(), Val::Dec(minutes).to_json());
        m.insert("cost".into(), Val::Dec(self.cost).to_json());
        let per_minute = if self.billed == 0 {
            Value::Null
        } else {
            let sixty = money::exact_mul(self.cost, Decimal::from(60))?;
            Val::Dec(money::div_round(
                sixty,
                Decimal::from(self.billed),
                6,
                Rounding::HalfUp,
            )?)
            .to_json()
        };
        m.insert("average_rate".into(), per_minute);
        let asr = if self.calls == 0 {
            Value::Null
        } else {
            Val::Dec(money::div_round(
                Decimal::from(self.answered * 100),
                Decimal::from(self.calls),
                2,
                Rounding::HalfUp,
            )?)
            .to_json()
        };
        m.insert("asr".into(), asr);
        let acd = if self.answered == 0 {
            Value::Null
        } else {
            Val::Dec(money::div_round(
                Decimal::from(self.duration),
                Decimal::from(self.answered),
                2,
                Rounding::HalfUp,
            )?)
            .to_json()
        };
        m.insert("acd".into(), acd);
        Ok(())
    }
}

/// One group value of a row.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Key {
    Int(i64),
    Text(String),
    None,
}

struct Summary {
    groups: Vec<&'static str>,
    /// (group values, currency) -> figures.
    rows: BTreeMap<(Vec<Key>, i64), Agg>,
    /// currency -> figures.
    totals: BTreeMap<i64, Agg>,
    names: BTreeMap<(&'static str, i64), String>,
    currencies: BTreeMap<i64, String>,
}

fn groups_of(args: &Args) -> Result<Vec<&'static str>> {
    let bad = |why: String| Error::from(ValidationError::invalid("group_by", why));
    let given = match args.json("group_by") {
        None | Some(Value::Null) => return Ok(vec!["client"]),
        Some(Value::Array(a)) => a.clone(),
        Some(_) => return Err(bad("expected a list like [\"client\", \"day\"]".into())),
    };
    let mut out: Vec<&'static str> = Vec::new();
    for g in &given {
        let name = g.as_str().unwrap_or_default();
        let Some(known) = GROUPS.iter().find(|k| **k == name) else {
            return Err(bad(format!("{g} is not one of {}", GROUPS.join(", "))));
        };
        if out.contains(known) {
            return Err(bad(format!("{name} is named twice")));
        }
        out.push(known);
    }
    if out.is_empty() {
        return Err(bad(
            "name at least one of client, destination, day, account".into(),
        ));
    }
    Ok(out)
}

fn summarise(ctx: &Ctx<'_>, tx: &dyn StoreTx, args: &Args) -> Result<Summary> {
    let groups = groups_of(args)?;
    let (from, till) = period(
        args,
        Some((limits::report_period_days_max, "report_period_days_max")),
    )?;
    let mut q = ListQuery::everything(Vec::new());
    q.scope = ctx.principal.scope();
    q.ranges = vec![range("connect_time", &from, &till)];
    if let Some(c) = args.int("id_clients") {
        // Another tenant's client answers exactly like a missing one.
        crud::load(ctx, tx, &CLIENTS, c)?;
        q.filters.push(("id_clients", Val::Int(c)));
    }
    let mut s = Summary {
        groups,
        rows: BTreeMap::new(),
        totals: BTreeMap::new(),
        names: BTreeMap::new(),
        currencies: BTreeMap::new(),
    };
    let groups = s.groups.clone();
    all_rows(tx, &XDRS, &q, u64::MAX, |rec| {
        let int = |f: &str| rec.get(f).and_then(Val::as_int).map_or(Key::None, Key::Int);
        let key: Vec<Key> = groups
            .iter()
            .map(|g| match *g {
                "client" => int("id_clients"),
                "account" => int("id_accounts"),
                "destination" => Key::Text(
                    rec.get("code_name")
                        .and_then(Val::as_text)
                        .unwrap_or_default()
                        .to_string(),
                ),
                _ => Key::Text(
                    rec.get("connect_time")
                        .and_then(Val::as_text)
                        .map(|t| t.chars().take(10).collect())
                        .unwrap_or_default(),
                ),
            })
            .collect();
        let currency = rec.get("id_currencies").and_then(Val::as_int).unwrap_or(0);
        s.rows.entry((key, currency)).or_default().add(rec)?;
        s.totals.entry(currency).or_default().add(rec)
    })?;
    // Names for the ids shown.
    for (key, currency) in s.rows.keys() {
        for (g, k) in s.groups.iter().zip(key) {
            let (def, label) = match *g {
                "client" => (&CLIENTS, "client"),
                "account" => (&ACCOUNTS, "account"),
                _ => continue,
            };
            if let Key::Int(id) = k {
                if let std::collections::btree_map::Entry::Vacant(v) = s.names.entry((label, *id)) {
                    let name = tx
                        .get(def, *id, None)?
                        .and_then(|r| r.get("name").and_then(Val::as_text).map(str::to_string))
                        .unwrap_or_default();
                    v.insert(name);
                }
            }
        }
        if let std::collections::btree_map::Entry::Vacant(v) = s.currencies.entry(*currency) {
            let code = tx
                .get(&CURRENCIES, *currency, None)?
                .and_then(|r| r.get("code").and_then(Val::as_text).map(str::to_string))
                .unwrap_or_default();
            v.insert(code);
        }
    }
    Ok(s)
}

/// The columns a row's group values fill, in order.
fn group_columns(g: &str) -> &'static [&'static str] {
    match g {
        "client" => &["id_clients", "client"],
        "account" => &["id_accounts", "account"],
        "destination" => &["code_name"],
        _ => &["day"],
    }
}

impl Summary {
    fn row_json(&self, key: &[Key], currency: i64, agg: &Agg) -> Result<Map<String, Value>> {
        let mut m = Map::new();
        for (g, k) in self.groups.iter().zip(key) {
            match (*g, k) {
                ("client" | "account", Key::Int(id)) => {
                    let cols = group_columns(g);
                    let label = if *g == "client" { "client" } else { "account" };
                    m.insert(cols[0].into(), json!(id));
                    m.insert(
                        cols[1].into(),
                        json!(self.names.get(&(label, *id)).cloned().unwrap_or_default()),
                    );
                }
                (_, Key::Text(t)) => {
                    m.insert(group_columns(g)[0].into(), json!(t));
                }
                _ => {
                    for c in group_columns(g) {
                        m.insert((*c).into(), Value::Null);
                    }
                }
            }
        }
        m.insert("id_currencies".into(), json!(currency));
        m.insert(
            "currency".into(),
            json!(self.currencies.get(&currency).cloned().unwrap_or_default()),
        );
        agg.figures(&mut m)?;
        Ok(m)
    }
}

fn summary(ctx: &mut Ctx<'_>, tx: &mut dyn StoreTx, args: &Args) -> Result<Value> {
    let s = summarise(ctx, tx, args)?;
    let mut rows = Vec::with_capacity(s.rows.len());
    for ((key, currency), agg) in &s.rows {
        rows.push(Value::Object(s.row_json(key, *currency, agg)?));
    }
    let mut totals = Vec::new();
    for (currency, agg) in &s.totals {
        totals.push(Value::Object(s.row_json(&[], *currency, agg)?));
    }
    Ok(json!({ "group_by": s.groups, "total": rows.len(), "rows": rows, "totals": totals }))
}

/// The figure columns of the CSV, after the group columns.
const FIGURES: [&str; 11] = [
    "id_currencies",
    "currency",
    "calls",
    "answered",
    "duration",
    "billed_seconds",
    "billed_minutes",
    "cost",
    "average_rate",
    "asr",
    "acd",
];

fn cell(v: Option<&Value>) -> String {
    match v {
        None | Some(Value::Null) => String::new(),
        // A spreadsheet would run these as formulas (OWASP's CSV-injection rule).
        Some(Value::String(s)) if s.starts_with(['=', '+', '-', '@', '\t', '\r']) => {
            format!("'{s}")
        }
        Some(Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
    }
}

fn write_error(e: impl std::fmt::Display) -> Error {
    StoreError::io(format!("writing the file: {e}")).into()
}

fn summary_csv(ctx: &mut Ctx<'_>, args: &Args, out: &mut dyn Write) -> Result<FileMeta> {
    // Every check and the whole read happen before the first byte is written.
    let s = store::run(ctx.inner.store.as_ref(), TxKind::Read, |tx| {
        summarise(ctx, tx, args)
    })?;
    let mut header: Vec<&str> = s
        .groups
        .iter()
        .flat_map(|g| group_columns(g))
        .copied()
        .collect();
    header.extend(FIGURES);
    let mut w = csv::Writer::from_writer(out);
    w.write_record(&header).map_err(write_error)?;
    for ((key, currency), agg) in &s.rows {
        let m = s.row_json(key, *currency, agg)?;
        let row: Vec<String> = header.iter().map(|c| cell(m.get(*c))).collect();
        w.write_record(&row).map_err(write_error)?;
    }
    // One totals row per currency: `total` in the first column.
    for (currency, agg) in &s.totals {
        let m = s.row_json(&[], *currency, agg)?;
        let n = header.len() - FIGURES.len();
        let mut row: Vec<String> = (0..n)
            .map(|i| {
                if i == 0 {
                    "total".to_string()
                } else {
                    String::new()
                }
            })
            .collect();
        row.extend(FIGURES.iter().map(|c| cell(m.get(*c))));
        w.write_record(&row).map_err(write_error)?;
    }
    w.flush().map_err(write_error)?;
    Ok(FileMeta {
        name: format!(
            "summary-{}.csv",
            args.text("dt_from")
                .unwrap_or_default()
                .chars()
                .take(10)
                .collect::<String>()
        ),
        content_type: "text/csv".into(),
        session_id: None,
    })
}

fn summary_args() -> Vec<ArgDef> {
    vec![
        ArgDef::field("dt_from", FieldKind::DateTime).required(),
        ArgDef::field("dt_till", FieldKind::DateTime).required(),
        ArgDef::new("group_by", ArgKind::Array),
        ArgDef::field("id_clients", FieldKind::Ref("clients")).alias(&["clients_id"]),
    ]
}

pub(super) fn register(r: &mut Registry) {
    r.add(MethodDef::new(
        "clients",
        "statement",
        Verb::Read,
        false,
        vec![
            ArgDef::field("id_clients", FieldKind::Ref("clients"))
                .required()
                .alias(&["clients_id", "id"]),
            ArgDef::field("dt_from", FieldKind::DateTime).required(),
            ArgDef::field("dt_till", FieldKind::DateTime).required(),
        ],
        Box::new(statement),
    ));
    r.add(MethodDef::new(
        "reports",
        "summary",
        Verb::Read,
        false,
        summary_args(),
        Box::new(summary),
    ));
    r.add(MethodDef::new_file(
        "reports",
        "summaryDownload",
        Verb::Read,
        summary_args(),
        Box::new(summary_csv),
    ));
    r.add_file_route("reports.summary", "reports.summaryDownload");
}
