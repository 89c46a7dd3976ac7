//! `rateTables` and `rates` (incl. CSV `import`): the prices calls are rated by. Every change
//! rebuilds the table's in-memory prefix index after commit.

use super::crud::{self, Crud, Mode, Op};
use super::{ArgDef, ArgKind, Args, Ctx, MethodDef, Registry};
use crate::auth::rbac::Verb;
use crate::clock;
use crate::error::{Error, RatingError, Result, ValidationError};
use crate::limits;
use crate::model::catalog::{Change, Object};
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

/// How `rates.import` treats the table's existing rates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImportMode {
    /// A row for a code that has a rate is a price change from the row's `effective_from`:
    /// the rate in force then ends at that instant (the default).
    Update,
    /// As `update`, and every rate of a code missing from the deck ends at the deck's
    /// `effective_from` (a rate that would only start later is removed).
    Replace,
    /// Only adds: a row overlapping an existing rate is refused.
    Add,
}

impl ImportMode {
    /// `update`, `replace` or `add`.
    pub fn parse(name: &str) -> Option<ImportMode> {
        match name {
            "update" => Some(ImportMode::Update),
            "replace" => Some(ImportMode::Replace),
            "add" => Some(ImportMode::Add),
            _ => None,
        }
    }

    fn as_str(self) -> &'static str {
        match self {
            ImportMode::Update => "update",
            ImportMode::Replace => "replace",
            ImportMode::Add => "add",
        }
    }
}

/// How to read and apply a deck (the arguments of `rates.import` beyond the file).
#[derive(Debug, Clone)]
pub struct ImportOptions {
    /// What to do with existing rates.
    pub mode: ImportMode,
    /// When a `replace` closes missing codes, and the start of rows without a date; `None`:
    /// now.
    pub effective_from: Option<chrono::DateTime<chrono::Utc>>,
    /// Explicit `(field, header name)` pairs.
    pub columns: Vec<(String, String)>,
    /// How dates are written.
    pub date_format: rating::DateFormat,
    /// Field separator; `None` decides from the header line.
    pub separator: Option<u8>,
}

impl Default for ImportOptions {
    fn default() -> Self {
        ImportOptions {
            mode: ImportMode::Update,
            effective_from: None,
            columns: Vec::new(),
            date_format: rating::DateFormat::Iso,
            separator: None,
        }
    }
}

const DATE_FORMATS: &[&str] = &["YYYY-MM-DD", "DD/MM/YYYY", "MM/DD/YYYY"];
const SEPARATORS: &[&str] = &[",", ";", "tab"];
const MODES: &[&str] = &["update", "replace", "add"];

fn import_options(args: &Args) -> Result<ImportOptions> {
    let mut o = ImportOptions::default();
    match (args.text("mode"), args.bool("replace")) {
        (Some(m), replace) => {
            o.mode = ImportMode::parse(m)
                .ok_or_else(|| ValidationError::invalid("mode", "update, replace or add"))?;
            if replace == Some(true) && o.mode != ImportMode::Replace {
                return Err(ValidationError::invalid(
                    "replace",
                    format!("replace: true contradicts mode: {m}"),
                )
                .into());
            }
        }
        (None, Some(true)) => o.mode = ImportMode::Replace,
        (None, _) => {}
    }
    o.effective_from = args.text("effective_from").and_then(clock::parse_dt);
    if let Some(f) = args.text("date_format") {
        o.date_format = rating::DateFormat::parse(f).ok_or_else(|| {
            ValidationError::invalid("date_format", format!("one of {}", DATE_FORMATS.join(", ")))
        })?;
    }
    o.separator = match args.text("separator") {
        None => None,
        Some(",") => Some(b','),
        Some(";") => Some(b';'),
        Some("tab") | Some("\t") => Some(b'\t'),
        Some(_) => {
            return Err(ValidationError::invalid("separator", "',', ';' or 'tab'").into());
        }
    };
    if let Some(map) = args.json("columns") {
        let Some(map) = map.as_object() else {
            return Err(
                ValidationError::invalid("columns", "an object: {field: header name}").into(),
            );
        };
        for (field, column) in map {
            let Some(column) = column.as_str() else {
                return Err(ValidationError::invalid(
                    "columns",
                    format!("the header name of {field} must be text"),
                )
                .into());
            };
            if !rating::deck::FIELDS.contains(&field.as_str()) {
                return Err(ValidationError::invalid(
                    "columns",
                    format!(
                        "'{}' is not a deck field; fields are {}",
                        crate::error::echoed_cut(field),
                        rating::deck::FIELDS.join(", ")
                    ),
                )
                .into());
            }
            o.columns.push((field.clone(), column.to_string()));
        }
    }
    Ok(o)
}

fn deck_options(
    precision: u32,
    o: &ImportOptions,
    now: chrono::DateTime<chrono::Utc>,
) -> rating::DeckOptions {
    rating::DeckOptions {
        rates_precision: precision,
        columns: o.columns.clone(),
        date_format: o.date_format,
        separator: o.separator,
        effective_from: o.effective_from.unwrap_or(now),
    }
}

fn import(ctx: &mut Ctx<'_>, tx: &mut dyn StoreTx, args: &Args) -> Result<Value> {
    let table = args.req_int("id_rate_tables")?;
    crud::load(ctx, tx, &RATE_TABLES, table)?;
    let text = args
        .text("csv")
        .ok_or_else(|| ValidationError::Required("csv".into()))?;
    let opts = import_options(args)?;
    let precision = rates_precision(tx, table)?;
    let deck = rating::parse_deck_with(text.as_bytes(), &deck_options(precision, &opts, ctx.now))?;
    ctx.messages.extend(deck.messages.iter().cloned());
    let from = opts.effective_from.unwrap_or(ctx.now);
    import_deck(ctx, tx, table, &deck.rows, opts.mode, from)
}

/// `rates.import` from a reader, for decks larger than a request (the CLI's `import-rates`):
/// the deck is parsed outside any transaction, then written by the same [`import_deck`] as
/// the JSON method, as `principal`, with its audit row and its `rates.changed` event. All or
/// nothing. Returns the answer of `rates.import` and the parser's messages.
pub(crate) fn import_reader(
    inner: &crate::api::Inner,
    principal: &crate::auth::Principal,
    table: i64,
    input: &mut dyn std::io::Read,
    opts: &ImportOptions,
) -> Result<(Value, Vec<String>)> {
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
    let deck = rating::parse_deck_with(input, &deck_options(precision, opts, now))?;
    let from = opts.effective_from.unwrap_or(now);
    let (value, _) = super::run_body(inner, principal, "rates.import", true, now, |ctx, tx| {
        crud::load(ctx, tx, &RATE_TABLES, table)?;
        let value = import_deck(ctx, tx, table, &deck.rows, opts.mode, from)?;
        crate::outbox::rates_changed(tx, table, &value, &ctx.now_str())?;
        Ok(value)
    })?;
    Ok((value, deck.messages))
}

/// A stored rate as the import sees it.
struct Existing {
    id: i64,
    code: String,
    code_name: String,
    terms: rating::RateTerms,
    from: chrono::DateTime<chrono::Utc>,
    till: Option<chrono::DateTime<chrono::Utc>>,
    /// Its terms, name or end changed: write it back.
    dirty: bool,
    /// Removed (a `replace` dropping a rate that had not started).
    deleted: bool,
}

fn existing_rates(tx: &dyn StoreTx, table: i64) -> Result<Vec<Existing>> {
    let mut out = Vec::new();
    for r in rates_of(tx, table, None)? {
        let (Some(from), till) = period(&r) else {
            continue;
        };
        let secs = |k: &str| {
            r.get(k)
                .and_then(Val::as_int)
                .and_then(|v| u32::try_from(v).ok())
                .unwrap_or(0)
        };
        let dec = |k: &str| r.get(k).and_then(Val::as_dec).unwrap_or_default();
        out.push(Existing {
            id: r.get("id").and_then(Val::as_int).unwrap_or_default(),
            code: r
                .get("code")
                .and_then(Val::as_text)
                .unwrap_or_default()
                .to_string(),
            code_name: r
                .get("code_name")
                .and_then(Val::as_text)
                .unwrap_or_default()
                .to_string(),
            terms: rating::RateTerms {
                rate: dec("rate"),
                min_volume: secs("min_volume"),
                interval: secs("interval"),
                grace_volume: secs("grace_volume"),
                setup_fee: dec("setup_fee"),
            },
            from,
            till,
            dirty: false,
            deleted: false,
        });
    }
    Ok(out)
}

/// What an import did.
#[derive(Debug, Default, Clone, Copy)]
struct Counts {
    added: u64,
    changed: u64,
    closed: u64,
    unchanged: u64,
}

/// Check the deck's amounts against the precision the table's currency has now (the deck
/// may have been parsed before this transaction).
fn check_amounts(tx: &dyn StoreTx, table: i64, deck: &[rating::DeckRow]) -> Result<()> {
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
    Ok(())
}

/// Write a parsed deck into `table` (the caller loaded it in scope) by `mode`, all or nothing:
/// every resulting period is checked against the others, naming lines, before anything is
/// written. `from` is the deck's `effective_from` (where `replace` closes missing codes).
fn import_deck(
    ctx: &mut Ctx<'_>,
    tx: &mut dyn StoreTx,
    table: i64,
    deck: &[rating::DeckRow],
    mode: ImportMode,
    from: chrono::DateTime<chrono::Utc>,
) -> Result<Value> {
    check_amounts(tx, table, deck)?;
    let mut existing = existing_rates(tx, table)?;
    let mut counts = Counts::default();
    let mut inserts: Vec<rating::DeckRow> = Vec::with_capacity(deck.len());
    if mode == ImportMode::Add {
        inserts.extend(deck.iter().cloned());
        counts.added = deck.len() as u64;
    } else {
        apply_changes(&mut existing, deck, &mut inserts, &mut counts)?;
    }
    if mode == ImportMode::Replace {
        let codes: std::collections::HashSet<&str> = deck.iter().map(|r| r.code.as_str()).collect();
        for e in existing
            .iter_mut()
            .filter(|e| !codes.contains(e.code.as_str()))
        {
            if e.till.is_some_and(|t| t <= from) {
                continue; // Already over.
            }
            if e.from >= from {
                e.deleted = true; // Would only have started later: it never applies.
            } else {
                e.till = Some(from);
                e.dirty = true;
            }
            counts.closed += 1;
        }
    }
    check_periods(&existing, &inserts)?;
    write_changes(ctx, tx, table, &existing, &inserts)?;
    ctx.touch("rateTables", table);
    Ok(json!({
        "id_rate_tables": table,
        "mode": mode.as_str(),
        "added": counts.added,
        "changed": counts.changed,
        "closed": counts.closed,
        "unchanged": counts.unchanged,
        "imported": counts.added + counts.changed,
        "replaced": mode == ImportMode::Replace,
    }))
}

/// `update` (and `replace`) for the codes of the deck: each row is a price change from its
/// `effective_from`. The rate in force then ends at that instant (or, starting at that very
/// instant, takes the row's terms); a row equal to the rate in force is unchanged; a row
/// reaching into a rate that starts later is refused (give it an `effective_till`).
/// A row without a name (the deck has no such column) keeps the name the code has.
fn apply_changes(
    existing: &mut [Existing],
    deck: &[rating::DeckRow],
    inserts: &mut Vec<rating::DeckRow>,
    counts: &mut Counts,
) -> Result<()> {
    let mut by_code: std::collections::HashMap<&str, Vec<usize>> = std::collections::HashMap::new();
    for (i, e) in existing.iter().enumerate() {
        by_code.entry(e.code.as_str()).or_default().push(i);
    }
    let by_code: std::collections::HashMap<String, Vec<usize>> = by_code
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
    let mut order: Vec<&rating::DeckRow> = deck.iter().collect();
    order.sort_by(|a, b| {
        (a.code.as_str(), a.effective_from).cmp(&(b.code.as_str(), b.effective_from))
    });
    for row in order {
        let list = by_code
            .get(&row.code)
            .map(Vec::as_slice)
            .unwrap_or_default();
        let in_force = list.iter().copied().find(|&i| {
            let e = &existing[i];
            e.from <= row.effective_from && e.till.is_none_or(|t| t > row.effective_from)
        });
        let mut kept = None;
        match in_force {
            Some(i) => {
                let e = &mut existing[i];
                let mut row = row.clone();
                if row.code_name.is_empty() {
                    row.code_name.clone_from(&e.code_name);
                }
                if e.terms == row.terms
                    && e.code_name == row.code_name
                    && e.till == row.effective_till
                {
                    counts.unchanged += 1;
                    continue;
                }
                counts.changed += 1;
                if e.from == row.effective_from {
                    // The same start: the stored rate takes the row's terms.
                    e.terms = row.terms;
                    e.code_name.clone_from(&row.code_name);
                    e.till = row.effective_till;
                    e.dirty = true;
                    kept = Some(i);
                } else {
                    e.till = Some(row.effective_from);
                    e.dirty = true;
                    inserts.push(row);
                }
            }
            None => {
                counts.added += 1;
                inserts.push(row.clone());
            }
        }
        let end = row.effective_till;
        if let Some(&i) = list.iter().find(|&&i| {
            let e = &existing[i];
            Some(i) != kept && e.from > row.effective_from && end.is_none_or(|t| e.from < t)
        }) {
            return Err(RatingError::Deck {
                line: row.line,
                column: "effective_from".into(),
                reason: format!(
                    "code {}: the period of line {} overlaps the rate {} from {} already in the table; give the row an effective_till",
                    row.code,
                    row.line,
                    existing[i].id,
                    clock::format_dt(existing[i].from)
                ),
            }
            .into());
        }
    }
    Ok(())
}

/// The table as it will be: no two rates of one code in force at one instant. A conflict
/// names the deck line and what it overlaps.
fn check_periods(existing: &[Existing], inserts: &[rating::DeckRow]) -> Result<()> {
    let kept: Vec<&Existing> = existing.iter().filter(|e| !e.deleted).collect();
    let base = kept.len() as u64;
    let mut items: Vec<(String, Timed<u64>)> = Vec::with_capacity(kept.len() + inserts.len());
    for (i, e) in kept.iter().enumerate() {
        items.push((
            e.code.clone(),
            Timed {
                effective_from: e.from,
                effective_till: e.till,
                value: i as u64,
            },
        ));
    }
    for (i, row) in inserts.iter().enumerate() {
        items.push((row.code.clone(), row.timed(base + i as u64)));
    }
    let Err(Error::Rating(RatingError::PeriodOverlap {
        code,
        first,
        second,
    })) = RateIndex::build(items).map(|_| ())
    else {
        return Ok(());
    };
    // Positions are 1-based: the existing rates first, then the rows to insert.
    let name = |pos: u64| match pos.saturating_sub(1).checked_sub(base) {
        Some(i) => format!("line {}", inserts[i as usize].line),
        None => format!(
            "the existing rate {}",
            kept[pos.saturating_sub(1) as usize].id
        ),
    };
    let line = [first, second]
        .iter()
        .filter_map(|p| p.saturating_sub(1).checked_sub(base))
        .map(|i| inserts[i as usize].line)
        .max()
        .unwrap_or(0);
    Err(RatingError::Deck {
        line,
        column: "effective_from".into(),
        reason: format!(
            "code {code}: the period of {} overlaps {}",
            name(first.max(second)),
            name(first.min(second))
        ),
    }
    .into())
}

fn write_changes(
    ctx: &Ctx<'_>,
    tx: &mut dyn StoreTx,
    table: i64,
    existing: &[Existing],
    inserts: &[rating::DeckRow],
) -> Result<()> {
    let till = |t: Option<chrono::DateTime<chrono::Utc>>| {
        t.map_or(Val::Null, |t| Val::Text(clock::format_dt(t)))
    };
    for e in existing {
        if e.deleted {
            tx.delete(&RATES, e.id)?;
        } else if e.dirty {
            let mut rec = Record::new();
            rec.insert("code_name", Val::Text(e.code_name.clone()));
            rec.insert("rate", Val::Dec(e.terms.rate));
            rec.insert("min_volume", Val::Int(i64::from(e.terms.min_volume)));
            rec.insert("interval", Val::Int(i64::from(e.terms.interval)));
            rec.insert("grace_volume", Val::Int(i64::from(e.terms.grace_volume)));
            rec.insert("setup_fee", Val::Dec(e.terms.setup_fee));
            rec.insert("effective_till", till(e.till));
            tx.update(&RATES, e.id, &rec)?;
        }
    }
    let now = ctx.now_str();
    for row in inserts {
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
        rec.insert("effective_till", till(row.effective_till));
        rec.insert("c_dt", Val::Text(now.clone()));
        tx.insert(&RATES, &rec)?;
    }
    Ok(())
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
        ArgDef::field("mode", FieldKind::Enum(MODES)),
        ArgDef::field("effective_from", FieldKind::DateTime),
        ArgDef::field("date_format", FieldKind::Enum(DATE_FORMATS)),
        ArgDef::field("separator", FieldKind::Enum(SEPARATORS)),
        ArgDef::new("columns", ArgKind::Object),
    ];
    r.add(
        MethodDef::new("rates", "import", Verb::Write, true, args, Box::new(import)).with_events(
            Object::RateTable,
            Change::Import,
            crate::model::catalog::RATES_CHANGED,
        ),
    );
}
