//! `invoices`: a client's charges of a half-open period (`add`), read back (`editForm`,
//! `list`), voided (`void`) and downloaded (`download`, PDF or CSV). The rules are in
//! docs/invoices.md.

use super::crud::{self, Crud, Op};
use super::invoice_pdf;
use super::{ArgDef, Args, Ctx, FileMeta, MethodDef, Registry};
use crate::auth::rbac::Verb;
use crate::clock;
use crate::error::{Error, Result, StoreError, ValidationError};
use crate::ledger::{self, Posting};
use crate::limits;
use crate::model::{
    FieldKind, Record, Val, CLIENTS, COMPANIES, CURRENCIES, INVOICES, INVOICE_LINES, TAX_PROFILES,
    TRANSACTIONS,
};
use crate::money::{self, Rounding};
use crate::store::{self, ListQuery, StoreTx, TxKind};
use rust_decimal::Decimal;
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;
use std::io::Write;

/// One line as built, before it is stored.
struct Line {
    kind: String,
    description: String,
    calls: i64,
    billed_seconds: i64,
    amount: Decimal,
}

/// An invoice's period: a report period (`reports::period`, at most
/// `invoice_period_days_max` days) that has ended by `now`.
fn period(args: &Args, now: chrono::DateTime<chrono::Utc>) -> Result<(String, String)> {
    let (from, till) = super::reports::period(
        args,
        Some((limits::invoice_period_days_max, "invoice_period_days_max")),
    )?;
    let ended = clock::parse_dt(&till).is_some_and(|t| t <= now);
    if !ended {
        return Err(ValidationError::invalid(
            "dt_till",
            format!(
                "the period has not ended yet: {till} is after now ({})",
                clock::format_dt(now)
            ),
        )
        .into());
    }
    Ok((from, till))
}

fn int(rec: &Record, name: &str) -> Option<i64> {
    rec.get(name).and_then(Val::as_int)
}

fn dec(rec: &Record, name: &str) -> Result<Decimal> {
    rec.get(name)
        .and_then(Val::as_dec)
        .ok_or_else(|| Error::Internal(format!("{name} is not an amount")))
}

fn precision(rec: &Record, name: &str, default: i64) -> u32 {
    u32::try_from(int(rec, name).unwrap_or(default)).unwrap_or(2)
}

/// Group the period's calls by destination and its other entries by type.
fn build_lines(src: &store::InvoiceSources) -> Result<Vec<Line>> {
    let mut calls: BTreeMap<String, (i64, i64, Decimal)> = BTreeMap::new();
    for (name, billed, cost) in &src.calls {
        let e = calls
            .entry(name.clone().unwrap_or_default())
            .or_insert((0, 0, Decimal::ZERO));
        e.0 += 1;
        e.1 = e.1.saturating_add(*billed);
        e.2 = money::exact_add(e.2, *cost)?;
    }
    let mut lines: Vec<Line> = calls
        .into_iter()
        .map(|(description, (n, billed, amount))| Line {
            kind: "calls".into(),
            description,
            calls: n,
            billed_seconds: billed,
            amount,
        })
        .collect();
    // A debit lowers the balance (negative entry); on the invoice it is a positive charge.
    let mut others: BTreeMap<String, Decimal> = BTreeMap::new();
    for (kind, amount) in &src.entries {
        let e = others.entry(kind.clone()).or_insert(Decimal::ZERO);
        *e = money::exact_sub(*e, *amount)?;
    }
    lines.extend(others.into_iter().map(|(kind, amount)| Line {
        description: kind.clone(),
        kind,
        calls: 0,
        billed_seconds: 0,
        amount,
    }));
    Ok(lines)
}

/// Billed seconds as minutes: a display figure (4 places, half up), never summed into money.
fn minutes(billed_seconds: i64) -> Result<Decimal> {
    Ok(money::div_round(
        Decimal::from(billed_seconds),
        Decimal::from(60),
        4,
        Rounding::HalfUp,
    )?)
}

/// `subtotal × percent / 100`, rounded once to `dp` places half away from zero.
pub(crate) fn tax_of(subtotal: Decimal, percent: Decimal, dp: u32) -> Result<Decimal> {
    let mut fraction = percent;
    fraction
        .set_scale(percent.scale() + 2)
        .map_err(|_| Error::from(crate::error::MoneyError::Overflow))?;
    Ok(money::mul_round(subtotal, fraction, dp, Rounding::HalfUp)?)
}

fn add(ctx: &mut Ctx<'_>, tx: &mut dyn StoreTx, args: &Args) -> Result<Value> {
    let client_id = args.req_int("id_clients")?;
    // A client of another tenant answers exactly like a missing one.
    let client = crud::load(ctx, tx, &CLIENTS, client_id)?;
    let (from, till) = period(args, ctx.now)?;
    let (id, number) = issue(tx, &client, &from, &till, ctx.now, ctx.principal.user_id())?;
    ctx.touch("invoices", id);
    ctx.touch("clients", client_id);
    Ok(json!({ "id": id, "number": number }))
}

/// Issue the invoice of `[from, till)` for `client` (checked by the caller): lines, totals,
/// number, the tax entry, the coverage of what it bills and the `clients.invoices.create`
/// event. `invoices.add` and the clock's auto-invoicing both come here.
pub(crate) fn issue(
    tx: &mut dyn StoreTx,
    client: &Record,
    from: &str,
    till: &str,
    now: chrono::DateTime<chrono::Utc>,
    author: i64,
) -> Result<(i64, String)> {
    let client_id =
        int(client, "id").ok_or_else(|| Error::Internal("a client without id".into()))?;
    let (from, till) = (from.to_string(), till.to_string());
    if let Some(number) = tx.overlapping_invoice(client_id, &from, &till)? {
        return Err(ValidationError::invalid(
            "dt_from",
            format!("the period overlaps invoice {number} of the client: void it first"),
        )
        .into());
    }
    let company = int(client, "id_companies")
        .ok_or_else(|| Error::Internal(format!("client {client_id} has no company")))?;
    let currency_id = int(client, "id_currencies")
        .ok_or_else(|| Error::Internal(format!("client {client_id} has no currency")))?;
    let currency = tx
        .get(&CURRENCIES, currency_id, None)?
        .ok_or_else(|| Error::Internal(format!("currency {currency_id} vanished")))?;
    let totals_dp = precision(
        &currency,
        "totals_precision",
        limits::currency_totals_precision_default,
    );
    let (profile, percent) = match int(client, "id_taxes_profiles") {
        None => (None, Decimal::ZERO),
        Some(p) => {
            let rec = tx.get(&TAX_PROFILES, p, None)?.ok_or_else(|| {
                Error::from(ValidationError::invalid(
                    "id_taxes_profiles",
                    format!("the client's tax profile {p} does not exist"),
                ))
            })?;
            let percent = dec(&rec, "percent")?;
            super::taxes::check_percent("percent", percent)?;
            (Some(p), percent)
        }
    };
    let src = tx.invoice_sources(client_id, &from, &till)?;
    let lines = build_lines(&src)?;
    // Lines keep the details precision; the subtotal is rounded once, then the tax once.
    let sum = money::exact_sum(lines.iter().map(|l| l.amount))?;
    let subtotal = money::round(sum, totals_dp, Rounding::HalfUp);
    let tax = tax_of(subtotal, percent, totals_dp)?;
    let total = money::exact_add(subtotal, tax)?;
    money::check_amount("total", total)?;
    let payments = money::exact_sum(src.payments.iter().copied())?;
    let brought = money::exact_sum(tx.ledger_amounts_before(client_id, &from)?)?;
    let carried = money::exact_sub(
        money::exact_sum(tx.ledger_amounts_before(client_id, &till)?)?,
        tax,
    )?;
    let prefix = tx
        .get(&COMPANIES, company, None)?
        .and_then(|c| {
            c.get("invoice_prefix")
                .and_then(Val::as_text)
                .map(str::to_string)
        })
        .unwrap_or_else(|| "INV-".into());
    let seq = tx.next_invoice_sequence(company)?;
    let number = format!(
        "{prefix}{}-{seq:0width$}",
        now.format("%Y"),
        width = limits::invoice_sequence_digits
    );
    let now = clock::format_dt(now);
    let mut rec = Record::new();
    rec.insert("id_companies", Val::Int(company));
    rec.insert("id_clients", Val::Int(client_id));
    rec.insert("number", Val::Text(number.clone()));
    rec.insert("dt_from", Val::Text(from.clone()));
    rec.insert("dt_till", Val::Text(till.clone()));
    rec.insert("id_currencies", Val::Int(currency_id));
    rec.insert("subtotal", Val::Dec(subtotal));
    rec.insert("id_taxes_profiles", profile.map_or(Val::Null, Val::Int));
    rec.insert("tax_percent", Val::Dec(percent));
    rec.insert("tax", Val::Dec(tax));
    rec.insert("total", Val::Dec(total));
    rec.insert("payments", Val::Dec(payments));
    rec.insert("balance_brought_forward", Val::Dec(brought));
    rec.insert("balance_carried_forward", Val::Dec(carried));
    rec.insert("status", Val::Text("issued".into()));
    rec.insert("c_dt", Val::Text(now.clone()));
    let id = tx.insert(&INVOICES, &rec)?;
    for l in &lines {
        let mut r = Record::new();
        r.insert("id_invoices", Val::Int(id));
        r.insert("kind", Val::Text(l.kind.clone()));
        r.insert("description", Val::Text(l.description.clone()));
        r.insert("calls", Val::Int(l.calls));
        r.insert("billed_seconds", Val::Int(l.billed_seconds));
        r.insert("minutes", Val::Dec(minutes(l.billed_seconds)?));
        r.insert("amount", Val::Dec(l.amount));
        tx.insert(&INVOICE_LINES, &r)?;
    }
    // Exactly the rows read above (same conditions, same transaction) are now covered.
    tx.claim_for_invoice(client_id, &from, &till, id)?;
    if !tax.is_zero() {
        let reference = format!("invoice:{id}");
        let posted = ledger::post(
            tx,
            &Posting {
                client: client_id,
                kind: "tax",
                amount: -tax,
                original: None,
                dt: &now,
                notes: Some(&number),
                author,
                idempotency_key: None,
                request_hash: None,
                reference: Some(&reference),
            },
        )?;
        link_entry(tx, posted.id, id)?;
        let mut ch = Record::new();
        ch.insert("id_transactions", Val::Int(posted.id));
        tx.update(&INVOICES, id, &ch)?;
    }
    let inv = tx
        .get(&INVOICES, id, None)?
        .ok_or_else(|| Error::Internal(format!("invoice {id} vanished")))?;
    let data = invoice_json(tx, &inv)?;
    crate::outbox::emit(
        tx,
        &crate::outbox::NewEvent {
            event: crate::model::catalog::INVOICES_CREATE,
            object: crate::model::catalog::Object::Client,
            object_id: client_id,
            company,
            dt: &now,
            data,
        },
    )?;
    Ok((id, number))
}

/// What the clock's auto-invoicing did for one client.
#[derive(Debug, Default)]
pub(crate) struct AutoOutcome {
    /// Invoices issued.
    pub issued: usize,
    /// Periods not issued (overlapping an invoice issued by hand), with the reason.
    pub skipped: Vec<String>,
}

/// The clients whose next auto-invoicing period has closed by `now` (`autoinvoice_next <=
/// now`), at most `autoinvoice_clients_per_tick_max` of them.
pub(crate) fn auto_due(tx: &dyn StoreTx, now: chrono::DateTime<chrono::Utc>) -> Result<Vec<i64>> {
    let mut q = ListQuery::everything(Vec::new());
    q.limit = limits::autoinvoice_clients_per_tick_max;
    // `till` is exclusive: one second past now takes a period ending exactly now.
    let till = clock::format_dt(now + chrono::Duration::seconds(1));
    q.ranges = vec![store::Range {
        column: "autoinvoice_next",
        from: None,
        till: Some(Val::Text(till)),
    }];
    Ok(tx
        .list(&CLIENTS, &q)?
        .0
        .iter()
        .filter_map(|c| int(c, "id"))
        .collect())
}

/// Issue `client`'s closed auto-invoicing periods, oldest first (at most
/// `autoinvoice_periods_per_tick_max`). The client's row counts the periods done, in the same
/// transaction as each invoice: a pass repeated, replayed after a crash or run by a second
/// process re-reads it and issues nothing twice (the overlap rule refuses it besides).
pub(crate) fn auto_invoice(
    tx: &mut dyn StoreTx,
    client_id: i64,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<AutoOutcome> {
    let mut out = AutoOutcome::default();
    for _ in 0..limits::autoinvoice_periods_per_tick_max {
        let Some(client) = tx.get(&CLIENTS, client_id, None)? else {
            break;
        };
        let text = |f: &str| client.get(f).and_then(Val::as_text).unwrap_or_default();
        let (Some(period), Some(anchor)) = (
            crate::packages::Period::parse(text("invoice_period")),
            clock::parse_dt(text("invoice_anchor")),
        ) else {
            break;
        };
        if text("status") == "archived" {
            break;
        }
        let n = u32::try_from(int(&client, "autoinvoice_periods").unwrap_or(0)).unwrap_or(0);
        let bound = |k: u32| {
            period.boundary(anchor, k).ok_or_else(|| {
                Error::Internal(format!("client {client_id}: period {k} out of range"))
            })
        };
        let (start, end) = (bound(n)?, bound(n + 1)?);
        if end > now {
            break;
        }
        let (from, till) = (clock::format_dt(start), clock::format_dt(end));
        match tx.overlapping_invoice(client_id, &from, &till)? {
            Some(number) => out.skipped.push(format!(
                "client {client_id}: {from} to {till} overlaps invoice {number}; not issued"
            )),
            None => {
                issue(tx, &client, &from, &till, now, 0)?;
                out.issued += 1;
            }
        }
        let mut ch = Record::new();
        ch.insert("autoinvoice_periods", Val::Int(i64::from(n) + 1));
        ch.insert(
            "autoinvoice_next",
            Val::Text(clock::format_dt(bound(n + 2)?)),
        );
        ch.insert("autoinvoice_last", Val::Text(till));
        tx.update(&CLIENTS, client_id, &ch)?;
    }
    Ok(out)
}

fn link_entry(tx: &mut dyn StoreTx, entry: i64, invoice: i64) -> Result<()> {
    let mut ch = Record::new();
    ch.insert("id_invoices", Val::Int(invoice));
    tx.update(&TRANSACTIONS, entry, &ch)
}

fn void(ctx: &mut Ctx<'_>, tx: &mut dyn StoreTx, args: &Args) -> Result<Value> {
    let id = args.req_int("id")?;
    let inv = crud::load(ctx, tx, &INVOICES, id)?;
    let number = inv
        .get("number")
        .and_then(Val::as_text)
        .unwrap_or_default()
        .to_string();
    if inv.get("status").and_then(Val::as_text) == Some("void") {
        return Err(
            ValidationError::invalid("id", format!("invoice {number} is already void")).into(),
        );
    }
    let reason = args
        .text("reason")
        .ok_or_else(|| ValidationError::Required("reason".into()))?;
    let client = int(&inv, "id_clients")
        .ok_or_else(|| Error::Internal(format!("invoice {id} has no client")))?;
    let tax = dec(&inv, "tax")?;
    let now = ctx.now_str();
    let mut ch = Record::new();
    // What the invoice covered goes on the period's next invoice.
    tx.release_invoice(id)?;
    if !tax.is_zero() {
        let reference = format!("invoice:{id}:void");
        let notes = format!("void {number}");
        let posted = ledger::post(
            tx,
            &Posting {
                client,
                kind: "tax",
                amount: tax,
                original: None,
                dt: &now,
                notes: Some(&notes),
                author: ctx.principal.user_id(),
                idempotency_key: None,
                request_hash: None,
                reference: Some(&reference),
            },
        )?;
        ch.insert("void_id_transactions", Val::Int(posted.id));
    }
    ch.insert("status", Val::Text("void".into()));
    ch.insert("void_reason", Val::Text(reason.to_string()));
    ch.insert("void_dt", Val::Text(now));
    tx.update(&INVOICES, id, &ch)?;
    ctx.touch("invoices", id);
    ctx.touch("clients", client);
    Ok(json!({ "id": id }))
}

fn lines_of(tx: &dyn StoreTx, id: i64) -> Result<Vec<Record>> {
    Ok(tx
        .list(
            &INVOICE_LINES,
            &ListQuery::everything(vec![("id_invoices", Val::Int(id))]),
        )?
        .0)
}

/// The invoice as `editForm` shows it, with its lines.
fn invoice_json(tx: &dyn StoreTx, inv: &Record) -> Result<Value> {
    let id = int(inv, "id").ok_or_else(|| Error::Internal("invoice without id".into()))?;
    let mut v = crud::record_json(&INVOICES, inv);
    let lines: Vec<Value> = lines_of(tx, id)?
        .iter()
        .map(|l| crud::record_json(&INVOICE_LINES, l))
        .collect();
    if let Some(o) = v.as_object_mut() {
        o.insert("lines".into(), Value::Array(lines));
    }
    Ok(v)
}

fn edit_form(ctx: &mut Ctx<'_>, tx: &mut dyn StoreTx, args: &Args) -> Result<Value> {
    let inv = crud::load(ctx, tx, &INVOICES, args.req_int("id")?)?;
    let mut m = Map::new();
    m.insert("invoice".into(), invoice_json(tx, &inv)?);
    Ok(Value::Object(m))
}

fn write_error(e: impl std::fmt::Display) -> Error {
    StoreError::io(format!("writing the file: {e}")).into()
}

fn text(v: Option<&Val>) -> String {
    match v {
        None | Some(Val::Null) => String::new(),
        Some(Val::Int(i)) => i.to_string(),
        Some(Val::Dec(d)) => d.to_string(),
        Some(Val::Bool(b)) => b.to_string(),
        // A spreadsheet would run these as formulas (OWASP's CSV-injection rule).
        Some(Val::Text(s)) if s.starts_with(['=', '+', '-', '@', '\t', '\r']) => format!("'{s}"),
        Some(Val::Text(s)) => s.clone(),
    }
}

/// The columns of the CSV download.
pub const CSV_COLUMNS: [&str; 7] = [
    "number",
    "kind",
    "description",
    "calls",
    "billed_seconds",
    "minutes",
    "amount",
];

fn download(ctx: &mut Ctx<'_>, args: &Args, out: &mut dyn Write) -> Result<FileMeta> {
    let id = args.req_int("id")?;
    let format = args.text("format").unwrap_or("pdf");
    // One short read: an invoice is bounded (one line per destination and entry type).
    let (inv, lines, parties) = store::run(ctx.inner.store.as_ref(), TxKind::Read, |tx| {
        let inv = crud::load(ctx, tx, &INVOICES, id)?;
        let lines = lines_of(tx, id)?;
        let parties = if format == "pdf" {
            Some(parties_of(tx, &inv)?)
        } else {
            None
        };
        Ok((inv, lines, parties))
    })?;
    let number = text(inv.get("number"));
    match (format, parties) {
        ("csv", _) => write_csv(&inv, &lines, &number, out)?,
        ("pdf", Some(parties)) => {
            let doc = pdf_of(&inv, &lines, &parties);
            out.write_all(&invoice_pdf::render(&doc))
                .map_err(write_error)?;
        }
        _ => {
            return Err(ValidationError::invalid("format", "expected pdf or csv").into());
        }
    }
    let (ext, content_type) = if format == "csv" {
        ("csv", "text/csv")
    } else {
        ("pdf", "application/pdf")
    };
    Ok(FileMeta {
        name: format!("{number}.{ext}"),
        content_type: content_type.into(),
        session_id: None,
    })
}

fn write_csv(inv: &Record, lines: &[Record], number: &str, out: &mut dyn Write) -> Result<()> {
    let mut w = csv::Writer::from_writer(out);
    w.write_record(CSV_COLUMNS).map_err(write_error)?;
    for l in lines {
        let mut row = vec![number.to_string()];
        row.extend(CSV_COLUMNS[1..].iter().map(|c| text(l.get(c))));
        w.write_record(&row).map_err(write_error)?;
    }
    for (label, field) in [("subtotal", "subtotal"), ("tax", "tax"), ("total", "total")] {
        w.write_record([number, label, "", "", "", "", &text(inv.get(field))])
            .map_err(write_error)?;
    }
    w.flush().map_err(write_error)
}

/// The records a PDF names besides the invoice: its company, client and currency.
struct Parties {
    company: Record,
    client: Record,
    currency: Record,
}

fn parties_of(tx: &dyn StoreTx, inv: &Record) -> Result<Parties> {
    let get = |def: &'static crate::model::EntityDef, field: &str| -> Result<Record> {
        let id =
            int(inv, field).ok_or_else(|| Error::Internal(format!("invoice without {field}")))?;
        tx.get(def, id, None)?
            .ok_or_else(|| Error::Internal(format!("{field} {id} of an invoice vanished")))
    };
    Ok(Parties {
        company: get(&COMPANIES, "id_companies")?,
        client: get(&CLIENTS, "id_clients")?,
        currency: get(&CURRENCIES, "id_currencies")?,
    })
}

/// A text field's non-empty lines (an address is written as several).
fn text_lines(rec: &Record, field: &str) -> Vec<String> {
    rec.get(field)
        .and_then(Val::as_text)
        .map(|s| {
            s.lines()
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}

fn pdf_of(inv: &Record, lines: &[Record], p: &Parties) -> invoice_pdf::PdfInvoice {
    let plain = |rec: &Record, f: &str| match rec.get(f) {
        None | Some(Val::Null) => String::new(),
        Some(Val::Int(i)) => i.to_string(),
        Some(Val::Dec(d)) => d.to_string(),
        Some(Val::Bool(b)) => b.to_string(),
        Some(Val::Text(s)) => s.clone(),
    };
    let mut issuer = text_lines(&p.company, "name");
    issuer.extend(text_lines(&p.company, "address"));
    if let Some(t) = p.company.get("tax_id").and_then(Val::as_text) {
        if !t.trim().is_empty() {
            issuer.push(format!("Tax id: {}", t.trim()));
        }
    }
    let mut client = text_lines(&p.client, "name");
    for f in ["c_company", "c_address"] {
        client.extend(text_lines(&p.client, f));
    }
    let email = text_lines(&p.client, "c_email_billing");
    client.extend(if email.is_empty() {
        text_lines(&p.client, "c_email")
    } else {
        email
    });
    client.push(format!("Client id: {}", plain(&p.client, "id")));
    let percent = inv
        .get("tax_percent")
        .and_then(Val::as_dec)
        .map(|d| d.normalize().to_string())
        .unwrap_or_else(|| "0".into());
    invoice_pdf::PdfInvoice {
        number: plain(inv, "number"),
        status: plain(inv, "status"),
        issued: plain(inv, "c_dt"),
        dt_from: plain(inv, "dt_from"),
        dt_till: plain(inv, "dt_till"),
        currency: plain(&p.currency, "code"),
        issuer,
        client,
        lines: lines
            .iter()
            .map(|l| invoice_pdf::PdfLine {
                description: plain(l, "description"),
                calls: if plain(l, "kind") == "calls" {
                    plain(l, "calls")
                } else {
                    String::new()
                },
                minutes: if plain(l, "kind") == "calls" {
                    plain(l, "minutes")
                } else {
                    String::new()
                },
                amount: plain(l, "amount"),
            })
            .collect(),
        totals: vec![
            ("Subtotal".into(), plain(inv, "subtotal")),
            (format!("Tax {percent}%"), plain(inv, "tax")),
            ("Total".into(), plain(inv, "total")),
        ],
        info: vec![
            ("Payments in the period".into(), plain(inv, "payments")),
            (
                "Balance brought forward".into(),
                plain(inv, "balance_brought_forward"),
            ),
            (
                "Balance carried forward".into(),
                plain(inv, "balance_carried_forward"),
            ),
        ],
        void_reason: (plain(inv, "status") == "void").then(|| plain(inv, "void_reason")),
    }
}

fn id_arg() -> ArgDef {
    crud::id_arg(&INVOICES)
}

pub(super) fn register(r: &mut Registry) {
    let period = |name: &str| ArgDef::field(name, FieldKind::DateTime).required();
    r.add(MethodDef::new(
        "invoices",
        "add",
        Verb::Billing,
        true,
        vec![
            ArgDef::field("id_clients", FieldKind::Ref("clients"))
                .required()
                .alias(&["clients_id"]),
            period("dt_from"),
            period("dt_till"),
        ],
        Box::new(add),
    ));
    r.add(MethodDef::new(
        "invoices",
        "void",
        Verb::Billing,
        true,
        vec![
            id_arg(),
            ArgDef::field(
                "reason",
                FieldKind::Text {
                    max: limits::long_text_length_max,
                },
            )
            .required(),
        ],
        Box::new(void),
    ));
    r.add(MethodDef::new(
        "invoices",
        "editForm",
        Verb::Read,
        false,
        vec![id_arg()],
        Box::new(edit_form),
    ));
    crud::register(r, Crud::new(&INVOICES), &[Op::List]);
    r.add(MethodDef::new_file(
        "invoices",
        "download",
        Verb::Read,
        vec![
            id_arg(),
            ArgDef::field("format", FieldKind::Enum(&["csv", "pdf"])),
        ],
        Box::new(download),
    ));
}
