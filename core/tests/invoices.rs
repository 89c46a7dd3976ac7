//! The billing cycle: tax profiles, invoices (periods, lines, rounding, tax entry, void,
//! late xDRs, numbering), the CSV download and the date ranges of lists.

mod common;

use common::session::{call, engine, fails, ok};
use rust_decimal::Decimal;
use serde_json::{json, Value};
use std::str::FromStr;
use tollgate::{clock::parse_dt, Engine};

fn d(v: &Value) -> Decimal {
    let text = match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    Decimal::from_str(&text).unwrap_or_else(|_| panic!("not an amount: {v}"))
}

fn id(v: Value) -> i64 {
    v["id"].as_i64().unwrap()
}

/// A client with an ANI account `ani` and a rate table in `currency`: code 1 ("US") at
/// 0.6/min, code 44 ("UK") at 1.25/min, per-second billing.
fn client(e: &Engine, sid: &str, name: &str, ani: &str, currency: i64) -> i64 {
    let t = id(ok(
        e,
        sid,
        "rateTables.add",
        json!({"name": format!("rt {name}"), "id_currencies": currency}),
    ));
    for (code, code_name, rate) in [("1", "US", "0.6"), ("44", "UK", "1.25")] {
        ok(
            e,
            sid,
            "rates.add",
            json!({"id_rate_tables": t, "code": code, "code_name": code_name, "rate": rate, "effective_from": "2020-01-01"}),
        );
    }
    let c = id(ok(
        e,
        sid,
        "clients.add",
        json!({"name": name, "id_currencies": currency, "orig_rate_table": t, "credit": "1000"}),
    ));
    ok(
        e,
        sid,
        "accounts.add",
        json!({"id_clients": c, "name": ani, "auth_type": "ani", "ident": ani}),
    );
    c
}

fn call_at(e: &Engine, ani: &str, call_id: &str, dst: &str, at: &str, seconds: u64) {
    e.settle(&tollgate::SettleRequest {
        call_id: call_id.into(),
        duration: seconds,
        account: Some(ani.into()),
        auth_type: Some("ani".into()),
        destination: Some(dst.into()),
        connect_time: parse_dt(at),
        ..Default::default()
    })
    .unwrap_or_else(|err| panic!("settle {call_id}: {err}"));
}

/// Move the clock and log in again (the old session has expired).
fn at(e: &Engine, clock: &tollgate::ManualClock, when: &str) -> String {
    clock.set(parse_dt(when).unwrap());
    let r = e.call(
        "auth.login",
        json!({"login": common::session::ADMIN, "password": common::session::PASSWORD}),
    );
    r.session_id.expect("logged in")
}

fn invoice(e: &Engine, sid: &str, inv: i64) -> Value {
    ok(e, sid, "invoices.editForm", json!({"id_invoices": inv}))["invoice"].clone()
}

#[test]
fn tax_profiles_are_checked() {
    let (e, _clock, sid) = engine();
    let p = id(ok(
        &e,
        &sid,
        "taxProfiles.add",
        json!({"name": "VAT", "percent": "20"}),
    ));
    for bad in ["100.5", "-1"] {
        fails(
            &e,
            &sid,
            "taxProfiles.add",
            json!({"name": "bad", "percent": bad}),
            "validation.out_of_range",
        );
    }
    fails(
        &e,
        &sid,
        "taxProfiles.edit",
        json!({"id": p, "percent": "101"}),
        "validation.out_of_range",
    );
    ok(
        &e,
        &sid,
        "taxProfiles.edit",
        json!({"id": p, "percent": "19.5"}),
    );
    let got = ok(&e, &sid, "taxProfiles.editForm", json!({"id": p}));
    assert_eq!(
        d(&got["tax_profile"]["percent"]),
        Decimal::from_str("19.5").unwrap()
    );
    let c = id(ok(
        &e,
        &sid,
        "clients.add",
        json!({"name": "taxed", "id_taxes_profiles": p}),
    ));
    fails(
        &e,
        &sid,
        "clients.edit",
        json!({"id": c, "id_taxes_profiles": 999}),
        "validation.invalid",
    );
    // In use by a client: not deleted.
    fails(
        &e,
        &sid,
        "taxProfiles.delete",
        json!({"id": p}),
        "object.in_use",
    );
    let list = ok(&e, &sid, "taxProfiles.list", json!({}));
    assert_eq!(list["total"], json!(1));
}

#[test]
fn a_month_invoice_covers_exactly_its_period_and_keeps_the_ledger_whole() {
    let (e, clock, sid) = engine();
    let vat = id(ok(
        &e,
        &sid,
        "taxProfiles.add",
        json!({"name": "VAT", "percent": "20"}),
    ));
    let c = client(&e, &sid, "month", "100", 1);
    ok(
        &e,
        &sid,
        "clients.edit",
        json!({"id": c, "id_taxes_profiles": vat}),
    );
    let sid = at(&e, &clock, "2026-03-02 00:00:00");
    call_at(&e, "100", "jan-last", "15551", "2026-01-31 23:59:59", 60);
    call_at(&e, "100", "feb-first", "15552", "2026-02-01 00:00:00", 61);
    call_at(&e, "100", "feb-uk", "4420", "2026-02-10 10:00:00", 7);
    call_at(&e, "100", "feb-uk2", "4421", "2026-02-11 10:00:00", 13);
    call_at(&e, "100", "feb-last", "15553", "2026-02-28 23:59:59", 30);
    call_at(&e, "100", "mar-first", "15554", "2026-03-01 00:00:00", 60);
    ok(
        &e,
        &sid,
        "transactions.add",
        json!({"id_clients": c, "type": "payment", "amount": "5"}),
    );
    // In the future for March: refused, nothing written.
    fails(
        &e,
        &sid,
        "invoices.add",
        json!({"id_clients": c, "dt_from": "2026-03-01", "dt_till": "2026-04-01"}),
        "validation.invalid",
    );
    let inv = id(ok(
        &e,
        &sid,
        "invoices.add",
        json!({"id_clients": c, "dt_from": "2026-02-01", "dt_till": "2026-03-01"}),
    ));
    let v = invoice(&e, &sid, inv);
    assert_eq!(v["number"], json!("INV-2026-000001"));
    assert_eq!(v["status"], json!("issued"));
    assert_eq!(v["id_clients"], json!(c));
    assert_eq!(v["id_currencies"], json!(1));
    // The lines, independently from the xDRs of the period (the range filter of xdrs.list).
    let xdrs = ok(
        &e,
        &sid,
        "xdrs.list",
        json!({"id_clients": c, "dt_from": "2026-02-01", "dt_till": "2026-03-01"}),
    );
    let rows = xdrs["rows"].as_array().unwrap();
    let call_ids: Vec<&str> = rows
        .iter()
        .map(|r| r["call_id"].as_str().unwrap())
        .collect();
    assert_eq!(call_ids, ["feb-first", "feb-uk", "feb-uk2", "feb-last"]);
    let mut by_name: std::collections::BTreeMap<String, (i64, i64, Decimal)> = Default::default();
    for r in rows {
        let e = by_name
            .entry(r["code_name"].as_str().unwrap().to_string())
            .or_default();
        e.0 += 1;
        e.1 += r["billed_seconds"].as_i64().unwrap();
        e.2 += d(&r["cost"]);
    }
    let lines = v["lines"].as_array().unwrap();
    assert_eq!(lines.len(), 2, "{lines:?}");
    for l in lines {
        let (n, billed, amount) = by_name[l["description"].as_str().unwrap()];
        assert_eq!(l["kind"], json!("calls"));
        assert_eq!(l["calls"].as_i64().unwrap(), n);
        assert_eq!(l["billed_seconds"].as_i64().unwrap(), billed);
        assert_eq!(d(&l["amount"]), amount);
    }
    // US: 61 s + 30 s at 0.6 = 0.61 + 0.30; UK: 7 s + 13 s at 1.25 = 0.1458 + 0.2708.
    let sum: Decimal = by_name.values().map(|x| x.2).sum();
    assert_eq!(sum, Decimal::from_str("1.3266").unwrap());
    assert_eq!(d(&v["subtotal"]), Decimal::from_str("1.33").unwrap());
    // 1.33 × 20 % = 0.266 → 0.27 (half away from zero, once).
    assert_eq!(d(&v["tax"]), Decimal::from_str("0.27").unwrap());
    assert_eq!(d(&v["total"]), Decimal::from_str("1.60").unwrap());
    assert_eq!(d(&v["payments"]), Decimal::from_str("0").unwrap());
    assert!(e.verify_client_ledger(c).unwrap());
    let taxes = ok(
        &e,
        &sid,
        "transactions.list",
        json!({"id_clients": c, "type": "tax"}),
    );
    assert_eq!(taxes["total"], json!(1));
    assert_eq!(
        d(&taxes["rows"][0]["amount"]),
        Decimal::from_str("-0.27").unwrap()
    );
    // The same period again: refused while the invoice stands.
    fails(
        &e,
        &sid,
        "invoices.add",
        json!({"id_clients": c, "dt_from": "2026-02-15", "dt_till": "2026-02-20"}),
        "validation.invalid",
    );
    // A late CDR of February goes on the next invoice (March), with March's own call.
    call_at(&e, "100", "feb-late", "15555", "2026-02-20 08:00:00", 60);
    let sid = at(&e, &clock, "2026-04-01 00:00:00");
    let march = id(ok(
        &e,
        &sid,
        "invoices.add",
        json!({"id_clients": c, "dt_from": "2026-03-01", "dt_till": "2026-04-01"}),
    ));
    let m = invoice(&e, &sid, march);
    assert_eq!(m["number"], json!("INV-2026-000002"));
    assert_eq!(m["lines"][0]["calls"], json!(2));
    assert_eq!(d(&m["subtotal"]), Decimal::from_str("1.20").unwrap());
    // Void: the tax is reversed, the period may be invoiced again, with a new number.
    ok(
        &e,
        &sid,
        "invoices.void",
        json!({"id_invoices": inv, "reason": "wrong tax"}),
    );
    assert!(e.verify_client_ledger(c).unwrap());
    let taxes = ok(
        &e,
        &sid,
        "transactions.list",
        json!({"id_clients": c, "type": "tax"}),
    );
    let sum: Decimal = taxes["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| d(&r["amount"]))
        .sum();
    // Feb's tax and its reverse cancel; March's 1.20 × 20 % = 0.24 stands.
    assert_eq!(sum, Decimal::from_str("-0.24").unwrap());
    fails(
        &e,
        &sid,
        "invoices.void",
        json!({"id_invoices": inv, "reason": "again"}),
        "validation.invalid",
    );
    let again = id(ok(
        &e,
        &sid,
        "invoices.add",
        json!({"id_clients": c, "dt_from": "2026-02-01", "dt_till": "2026-03-01"}),
    ));
    let a = invoice(&e, &sid, again);
    assert_eq!(a["number"], json!("INV-2026-000003"));
    assert_eq!(d(&a["subtotal"]), Decimal::from_str("1.33").unwrap());
    let list = ok(
        &e,
        &sid,
        "invoices.list",
        json!({"id_clients": c, "status": "issued"}),
    );
    assert_eq!(list["total"], json!(2));
    let list = ok(
        &e,
        &sid,
        "invoices.list",
        json!({"dt_from": "2026-02-01", "dt_till": "2026-03-01"}),
    );
    assert_eq!(
        list["total"],
        json!(2),
        "February's void one and its re-issue"
    );
    assert!(e.verify_client_ledger(c).unwrap());
    // The CSV: one row per line and the totals rows.
    let mut out = Vec::new();
    let meta = e
        .call_file(
            "invoices.download",
            json!({"SID": sid, "id_invoices": again, "format": "csv"}),
            &mut out,
        )
        .unwrap_or_else(|env| panic!("{:?}", env.errors));
    assert_eq!(meta.name, "INV-2026-000003.csv");
    let text = String::from_utf8(out).unwrap();
    let rows: Vec<&str> = text.lines().collect();
    assert_eq!(
        rows[0],
        "number,kind,description,calls,billed_seconds,minutes,amount"
    );
    assert_eq!(rows.len(), 1 + 2 + 3, "{text}");
    assert_eq!(rows[5], "INV-2026-000003,total,,,,,1.60");
}

#[test]
fn other_currency_empty_period_and_bad_input() {
    let (e, clock, sid) = engine();
    let eur = id(ok(
        &e,
        &sid,
        "currencies.add",
        json!({"code": "EUR", "name": "Euro", "totals_precision": 3}),
    ));
    let c = client(&e, &sid, "euro", "200", eur);
    let sid = at(&e, &clock, "2026-03-02 00:00:00");
    call_at(&e, "200", "eu-1", "4455", "2026-02-03 00:00:00", 10);
    let inv = id(ok(
        &e,
        &sid,
        "invoices.add",
        json!({"id_clients": c, "dt_from": "2026-02-01", "dt_till": "2026-03-01"}),
    ));
    let v = invoice(&e, &sid, inv);
    assert_eq!(v["id_currencies"], json!(eur));
    // 10 s at 1.25 = 0.2083 (details), 0.208 at the currency's three totals places.
    assert_eq!(
        d(&v["lines"][0]["amount"]),
        Decimal::from_str("0.2083").unwrap()
    );
    assert_eq!(d(&v["subtotal"]), Decimal::from_str("0.208").unwrap());
    assert_eq!(d(&v["tax"]), Decimal::ZERO);
    // No tax profile: no tax entry.
    let taxes = ok(&e, &sid, "transactions.list", json!({"type": "tax"}));
    assert_eq!(taxes["total"], json!(0));
    // A period without traffic is a zero invoice.
    let empty = id(ok(
        &e,
        &sid,
        "invoices.add",
        json!({"id_clients": c, "dt_from": "2026-01-01", "dt_till": "2026-02-01"}),
    ));
    let z = invoice(&e, &sid, empty);
    assert_eq!(z["lines"], json!([]));
    assert_eq!(d(&z["total"]), Decimal::ZERO);
    // Bad periods and clients: clear errors, nothing written.
    let before = ok(&e, &sid, "invoices.list", json!({}))["total"].clone();
    let bad = [
        (
            json!({"id_clients": c, "dt_from": "2025-05-01", "dt_till": "2025-05-01"}),
            "validation.invalid",
        ),
        (
            json!({"id_clients": c, "dt_from": "2025-05-02", "dt_till": "2025-05-01"}),
            "validation.invalid",
        ),
        (
            json!({"id_clients": c, "dt_from": "2026-03-01", "dt_till": "2026-03-03"}),
            "validation.invalid",
        ),
        (
            json!({"id_clients": c, "dt_from": "2025-01-01", "dt_till": "2025-12-01"}),
            "validation.out_of_range",
        ),
        (
            json!({"id_clients": 999, "dt_from": "2025-05-01", "dt_till": "2025-06-01"}),
            "not_found",
        ),
        (
            json!({"id_clients": c, "dt_from": "someday", "dt_till": "2025-06-01"}),
            "validation.invalid",
        ),
    ];
    for (params, code) in bad {
        fails(&e, &sid, "invoices.add", params, code);
    }
    assert_eq!(ok(&e, &sid, "invoices.list", json!({}))["total"], before);
    fails(
        &e,
        &sid,
        "invoices.editForm",
        json!({"id": 999}),
        "not_found",
    );
    // Invoices are immutable: there is no edit or delete.
    let r = call(&e, &sid, "invoices.edit", json!({"id": inv}));
    assert_eq!(r.errors[0].code.as_str(), "api.unknown_method");
}

/// The text `pdftotext` (poppler-utils) reads out of a PDF, in reading order.
fn pdf_text(pdf: &[u8]) -> String {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("invoice.pdf");
    std::fs::write(&path, pdf).unwrap();
    let out = std::process::Command::new("pdftotext")
        .arg("-layout")
        .arg(&path)
        .arg("-")
        .output()
        .expect("pdftotext (Debian package poppler-utils; scripts/setup.sh installs it)");
    assert!(
        out.status.success(),
        "pdftotext: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn the_pdf_is_the_default_download_and_pdftotext_reads_it_back() {
    let (e, clock, sid) = engine();
    ok(
        &e,
        &sid,
        "companies.edit",
        json!({"id": 1, "name": "Tollgate Telecom Ltd", "address": "1 Exchange Street\nZürich 8001", "tax_id": "CHE-123.456.789"}),
    );
    let vat = id(ok(
        &e,
        &sid,
        "taxProfiles.add",
        json!({"name": "VAT", "percent": "7.7"}),
    ));
    let c = client(&e, &sid, "pdf", "300", 1);
    ok(
        &e,
        &sid,
        "clients.edit",
        json!({"id": c, "id_taxes_profiles": vat, "c_company": "Acme Calls GmbH", "c_address": "Hauptstrasse 5\nBern", "c_email_billing": "billing@acme.example"}),
    );
    let sid = at(&e, &clock, "2026-03-02 00:00:00");
    call_at(&e, "300", "p-us", "15551", "2026-02-03 10:00:00", 95);
    call_at(&e, "300", "p-uk", "4420", "2026-02-04 10:00:00", 17);
    let inv = id(ok(
        &e,
        &sid,
        "invoices.add",
        json!({"id_clients": c, "dt_from": "2026-02-01", "dt_till": "2026-03-01"}),
    ));
    let v = invoice(&e, &sid, inv);
    let number = v["number"].as_str().unwrap().to_string();
    let total = d(&v["total"]).to_string();
    // 95 s at 0.6 = 0.95, 17 s at 1.25 = 0.3542; 1.30 + 7.7 % (0.1001 -> 0.10) = 1.40.
    assert_eq!(d(&v["total"]), Decimal::from_str("1.40").unwrap());
    let mut out = Vec::new();
    let meta = e
        .call_file(
            "invoices.download",
            json!({"SID": sid, "id_invoices": inv}),
            &mut out,
        )
        .unwrap_or_else(|env| panic!("{:?}", env.errors));
    assert_eq!(meta.name, format!("{number}.pdf"));
    assert_eq!(meta.content_type, "application/pdf");
    assert!(out.starts_with(b"%PDF-"), "not a PDF");
    let text = pdf_text(&out);
    for want in [
        number.as_str(),
        "Tollgate Telecom Ltd",
        "1 Exchange Street",
        "Zürich 8001",
        "CHE-123.456.789",
        "pdf",
        "Acme Calls GmbH",
        "Hauptstrasse 5",
        "billing@acme.example",
        "2026-02-01 00:00:00",
        "2026-03-01 00:00:00",
        "USD",
        "US",
        "UK",
        "0.3542",
        "1.30",
        "Tax 7.7%",
        "0.10",
    ] {
        assert!(text.contains(want), "{want:?} is not in the PDF:\n{text}");
    }
    let total_line = text
        .lines()
        .find(|l| l.trim_start().starts_with("Total"))
        .unwrap_or_else(|| panic!("no total line:\n{text}"));
    assert!(total_line.trim_end().ends_with(&total), "{total_line:?}");
    // A void invoice says so on its PDF.
    ok(
        &e,
        &sid,
        "invoices.void",
        json!({"id_invoices": inv, "reason": "wrong rate"}),
    );
    let mut out = Vec::new();
    e.call_file(
        "invoices.download",
        json!({"SID": sid, "id_invoices": inv, "format": "pdf"}),
        &mut out,
    )
    .unwrap_or_else(|env| panic!("{:?}", env.errors));
    assert!(pdf_text(&out).contains("VOID: wrong rate"));
    // An unknown format is refused and writes nothing.
    let mut out = Vec::new();
    let err = e
        .call_file(
            "invoices.download",
            json!({"SID": sid, "id_invoices": inv, "format": "docx"}),
            &mut out,
        )
        .unwrap_err();
    assert_eq!(
        err.errors[0].code.as_str(),
        "validation.invalid",
        "{:?}",
        err.errors
    );
    assert!(out.is_empty());
}

#[test]
fn a_pdf_of_many_lines_runs_onto_more_pages() {
    let (e, clock, sid) = engine();
    let t = id(ok(
        &e,
        &sid,
        "rateTables.add",
        json!({"name": "many", "id_currencies": 1}),
    ));
    for i in 0..120 {
        ok(
            &e,
            &sid,
            "rates.add",
            json!({"id_rate_tables": t, "code": format!("9{i:03}"), "code_name": format!("Dest {i:03}"), "rate": "0.6", "effective_from": "2020-01-01"}),
        );
    }
    let c = id(ok(
        &e,
        &sid,
        "clients.add",
        json!({"name": "many", "orig_rate_table": t, "credit": "1000"}),
    ));
    ok(
        &e,
        &sid,
        "accounts.add",
        json!({"id_clients": c, "name": "m", "auth_type": "ani", "ident": "900"}),
    );
    let sid = at(&e, &clock, "2026-03-02 00:00:00");
    for i in 0..120 {
        call_at(
            &e,
            "900",
            &format!("m{i}"),
            &format!("9{i:03}1"),
            "2026-02-03 10:00:00",
            60,
        );
    }
    let inv = id(ok(
        &e,
        &sid,
        "invoices.add",
        json!({"id_clients": c, "dt_from": "2026-02-01", "dt_till": "2026-03-01"}),
    ));
    let mut out = Vec::new();
    e.call_file(
        "invoices.download",
        json!({"SID": sid, "id_invoices": inv}),
        &mut out,
    )
    .unwrap_or_else(|env| panic!("{:?}", env.errors));
    let text = pdf_text(&out);
    // pdftotext separates pages with a form feed.
    assert!(text.matches('\u{c}').count() >= 3, "one page only");
    for i in [0, 59, 119] {
        assert!(
            text.contains(&format!("Dest {i:03}")),
            "Dest {i:03} missing"
        );
    }
    let total_line = text
        .lines()
        .find(|l| l.trim_start().starts_with("Total"))
        .unwrap();
    assert!(total_line.trim_end().ends_with("72.00"), "{total_line:?}");
}

fn rows(v: &Value) -> Vec<Value> {
    v["rows"].as_array().cloned().unwrap_or_default()
}

#[test]
fn a_statement_runs_the_balance_through_every_entry() {
    let (e, clock, sid) = engine();
    let c = client(&e, &sid, "stmt", "400", 1);
    let sid = at(&e, &clock, "2026-01-20 00:00:00");
    ok(
        &e,
        &sid,
        "transactions.add",
        json!({"id_clients": c, "type": "payment", "amount": "10"}),
    );
    call_at(&e, "400", "s-jan", "15551", "2026-01-20 00:00:00", 45);
    let sid = at(&e, &clock, "2026-02-10 12:00:00");
    call_at(&e, "400", "s-feb1", "4420", "2026-02-10 12:00:00", 33);
    ok(
        &e,
        &sid,
        "transactions.add",
        json!({"id_clients": c, "type": "charge", "amount": "2.5", "notes": "port fee"}),
    );
    ok(
        &e,
        &sid,
        "transactions.add",
        json!({"id_clients": c, "type": "payment", "amount": "3.333"}),
    );
    let sid = at(&e, &clock, "2026-03-05 00:00:00");
    call_at(&e, "400", "s-mar", "15552", "2026-03-05 00:00:00", 10);
    let got = ok(
        &e,
        &sid,
        "clients.statement",
        json!({"id_clients": c, "dt_from": "2026-02-01", "dt_till": "2026-03-01"}),
    )["statement"]
        .clone();
    // Independently: every entry of the client, from transactions.list.
    let all = rows(&ok(
        &e,
        &sid,
        "transactions.list",
        json!({"id_clients": c, "limit": 1000}),
    ));
    assert_eq!(all.len(), 6, "2 in January, 3 in February, 1 in March");
    let dt = |r: &Value| r["dt"].as_str().unwrap().to_string();
    let opening: Decimal = all
        .iter()
        .filter(|r| dt(r).as_str() < "2026-02-01")
        .map(|r| d(&r["amount"]))
        .sum();
    let inside: Vec<&Value> = all
        .iter()
        .filter(|r| ("2026-02-01".."2026-03-01").contains(&dt(r).as_str()))
        .collect();
    assert_eq!(d(&got["opening_balance"]), opening);
    assert_eq!(
        d(&got["opening_balance"]),
        Decimal::from_str("9.55").unwrap(),
        "10 paid, 45 s at 0.6 = 0.45"
    );
    let entries = got["entries"].as_array().unwrap();
    assert_eq!(entries.len(), inside.len());
    assert_eq!(entries.len(), 3);
    let mut running = opening;
    for (entry, want) in entries.iter().zip(&inside) {
        assert_eq!(entry["id"], want["id"]);
        running += d(&want["amount"]);
        assert_eq!(d(&entry["balance"]), running, "{entry}");
    }
    assert_eq!(d(&got["closing_balance"]), running);
    // 9.55 - 0.6875 (33 s at 1.25) - 2.5 + 3.333
    assert_eq!(running, Decimal::from_str("9.6955").unwrap());
    assert_eq!(d(&got["debits"]), Decimal::from_str("-3.1875").unwrap());
    assert_eq!(d(&got["credits"]), Decimal::from_str("3.333").unwrap());
    // Up to now: the closing balance is the client's balance.
    let to_now = ok(
        &e,
        &sid,
        "clients.statement",
        json!({"id_clients": c, "dt_from": "2026-01-01", "dt_till": "2026-03-06"}),
    )["statement"]
        .clone();
    let balance = ok(&e, &sid, "clients.editForm", json!({"id": c}))["client"]["balance"].clone();
    assert_eq!(d(&to_now["closing_balance"]), d(&balance));
    assert_eq!(d(&to_now["opening_balance"]), Decimal::ZERO);
    for (params, code) in [
        (
            json!({"id_clients": c, "dt_from": "2026-02-01", "dt_till": "2026-02-01"}),
            "validation.invalid",
        ),
        (
            json!({"id_clients": c, "dt_from": "never", "dt_till": "2026-02-01"}),
            "validation.invalid",
        ),
        (
            json!({"id_clients": 999, "dt_from": "2026-01-01", "dt_till": "2026-02-01"}),
            "not_found",
        ),
        (
            json!({"id_clients": c, "dt_from": "2026-01-01"}),
            "validation.required",
        ),
    ] {
        fails(&e, &sid, "clients.statement", params, code);
    }
}

#[test]
fn lists_filter_by_prefix_and_total_every_matching_row() {
    let (e, clock, sid) = engine();
    let c = client(&e, &sid, "lists", "500", 1);
    let sid = at(&e, &clock, "2026-03-02 00:00:00");
    for (i, (dst, secs)) in [
        ("15551", 10),
        ("15552", 20),
        ("4420", 30),
        ("4421", 41),
        ("4471", 7),
    ]
    .iter()
    .enumerate()
    {
        call_at(
            &e,
            "500",
            &format!("l{i}"),
            dst,
            "2026-02-03 10:00:00",
            *secs,
        );
    }
    let list = |params: Value| ok(&e, &sid, "xdrs.list", params);
    let ids = |v: &Value| -> Vec<String> {
        rows(v)
            .iter()
            .map(|r| r["call_id"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(ids(&list(json!({"dst_prefix": "442"}))), ["l2", "l3"]);
    assert_eq!(ids(&list(json!({"dst_prefix": "44"}))), ["l2", "l3", "l4"]);
    assert_eq!(ids(&list(json!({"code_name_prefix": "U"}))).len(), 5);
    assert_eq!(ids(&list(json!({"code_name_prefix": "UK"}))).len(), 3);
    assert_eq!(ids(&list(json!({"code_name_prefix": "uk"}))).len(), 0);
    assert!(
        list(json!({})).get("totals").is_none(),
        "totals only on request"
    );
    // Totals cover every matching row, not only the page.
    let page = list(json!({"dst_prefix": "44", "totals": true, "limit": 1}));
    assert_eq!(rows(&page).len(), 1);
    let t = &page["totals"];
    let every = rows(&list(json!({"dst_prefix": "44"})));
    assert_eq!(t["count"], json!(3));
    let cost: Decimal = every.iter().map(|r| d(&r["cost"])).sum();
    assert_eq!(d(&t["cost"]), cost);
    assert_eq!(
        cost,
        Decimal::from_str("1.625").unwrap(),
        "0.625 + 0.8542 + 0.1458"
    );
    assert_eq!(t["billed_seconds"], json!(78));
    assert_eq!(t["duration"], json!(78));
    // The same filters on the download.
    let mut out = Vec::new();
    e.call_file(
        "xdrs.download",
        json!({"SID": sid, "dst_prefix": "44"}),
        &mut out,
    )
    .unwrap_or_else(|env| panic!("{:?}", env.errors));
    assert_eq!(String::from_utf8(out).unwrap().lines().count(), 1 + 3);
    // Ledger totals.
    let tl = ok(
        &e,
        &sid,
        "transactions.list",
        json!({"id_clients": c, "totals": true, "limit": 2}),
    );
    let all = rows(&ok(&e, &sid, "transactions.list", json!({"id_clients": c})));
    assert_eq!(tl["totals"]["count"], json!(5));
    let sum: Decimal = all.iter().map(|r| d(&r["amount"])).sum();
    assert_eq!(d(&tl["totals"]["amount"]), sum);
}

#[test]
fn the_summary_report_matches_the_invoices_of_the_period() {
    let (e, clock, sid) = engine();
    let eur = id(ok(
        &e,
        &sid,
        "currencies.add",
        json!({"code": "EUR", "name": "Euro"}),
    ));
    let a = client(&e, &sid, "sum-a", "600", 1);
    let b = client(&e, &sid, "sum-b", "601", eur);
    let sid = at(&e, &clock, "2026-03-02 00:00:00");
    call_at(&e, "600", "a-out", "15551", "2026-01-31 23:59:59", 60);
    call_at(&e, "600", "a1", "15551", "2026-02-01 00:00:00", 61);
    call_at(&e, "600", "a2", "4420", "2026-02-01 10:00:00", 17);
    call_at(&e, "600", "a3", "4420", "2026-02-28 23:59:59", 0);
    call_at(&e, "601", "b1", "4420", "2026-02-14 08:00:00", 100);
    call_at(&e, "601", "b-out", "4420", "2026-03-01 00:00:00", 100);
    let period = json!({"dt_from": "2026-02-01", "dt_till": "2026-03-01"});
    let mut invoices = Vec::new();
    for c in [a, b] {
        let mut p = period.clone();
        p["id_clients"] = json!(c);
        let inv = id(ok(&e, &sid, "invoices.add", p));
        invoices.push(invoice(&e, &sid, inv));
    }
    let mut p = period.clone();
    p["group_by"] = json!(["client", "destination"]);
    let r = ok(&e, &sid, "reports.summary", p.clone());
    let report_rows = rows(&r);
    // Per client and destination, exactly the invoices' call lines.
    for (c, inv) in [a, b].iter().zip(&invoices) {
        let lines = inv["lines"].as_array().unwrap();
        let mine: Vec<&Value> = report_rows
            .iter()
            .filter(|row| row["id_clients"] == json!(c))
            .collect();
        assert_eq!(mine.len(), lines.len(), "{r}");
        for (row, line) in mine.iter().zip(lines) {
            assert_eq!(row["code_name"], line["description"]);
            assert_eq!(row["calls"], line["calls"]);
            assert_eq!(row["billed_seconds"], line["billed_seconds"]);
            assert_eq!(d(&row["cost"]), d(&line["amount"]));
        }
        let sum: Decimal = lines.iter().map(|l| d(&l["amount"])).sum();
        let total = r["totals"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["id_currencies"] == inv["id_currencies"])
            .unwrap()
            .clone();
        assert_eq!(d(&total["cost"]), sum);
        assert_eq!(d(&inv["subtotal"]), sum.round_dp(2));
    }
    // One totals row per currency: costs in different currencies never add up.
    assert_eq!(r["totals"].as_array().unwrap().len(), 2);
    let usd = &r["totals"][0];
    assert_eq!(usd["currency"], json!("USD"));
    assert_eq!(usd["calls"], json!(3));
    assert_eq!(usd["answered"], json!(2));
    assert_eq!(d(&usd["asr"]), Decimal::from_str("66.67").unwrap());
    assert_eq!(d(&usd["acd"]), Decimal::from(39), "(61 + 17) / 2");
    // By day: the call at 23:59:59 on the last day is February's, 00:00:00 on the 1st too.
    p["group_by"] = json!(["day"]);
    p["id_clients"] = json!(a);
    let days = rows(&ok(&e, &sid, "reports.summary", p.clone()));
    let names: Vec<&str> = days.iter().map(|r| r["day"].as_str().unwrap()).collect();
    assert_eq!(names, ["2026-02-01", "2026-02-28"]);
    // Average rate: cost per billed minute, from the xDRs' rounded costs: UK 17 s at 1.25 is
    // 0.3542, so 0.3542 × 60 / 17 = 1.250118 (6 places).
    p["group_by"] = json!(["destination", "account"]);
    let uk = rows(&ok(&e, &sid, "reports.summary", p.clone()))
        .into_iter()
        .find(|r| r["code_name"] == json!("UK"))
        .unwrap();
    assert_eq!(
        d(&uk["average_rate"]),
        Decimal::from_str("1.250118").unwrap()
    );
    assert_eq!(uk["account"], json!("600"));
    // The CSV at /admin/reports/summary (Engine::call_file "reports.summary").
    let mut out = Vec::new();
    let mut fp = period.clone();
    fp["SID"] = json!(sid);
    fp["group_by"] = json!(["client"]);
    let meta = e
        .call_file("reports.summary", fp, &mut out)
        .unwrap_or_else(|env| panic!("{:?}", env.errors));
    assert_eq!(meta.content_type, "text/csv");
    let text = String::from_utf8(out).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines[0],
        "id_clients,client,id_currencies,currency,calls,answered,duration,billed_seconds,billed_minutes,cost,average_rate,asr,acd"
    );
    assert_eq!(lines.len(), 1 + 2 + 2, "{text}");
    assert!(lines[3].starts_with("total,,1,USD,3,"), "{text}");
    // Bad input.
    for (params, code) in [
        (
            json!({"dt_from": "2026-02-01", "dt_till": "2026-02-01"}),
            "validation.invalid",
        ),
        (
            json!({"dt_from": "2025-01-01", "dt_till": "2026-02-02"}),
            "validation.out_of_range",
        ),
        (
            json!({"dt_from": "2026-02-01", "dt_till": "2026-03-01", "group_by": ["month"]}),
            "validation.invalid",
        ),
        (
            json!({"dt_from": "2026-02-01", "dt_till": "2026-03-01", "group_by": "client"}),
            "validation.invalid",
        ),
        (
            json!({"dt_from": "2026-02-01", "dt_till": "2026-03-01", "id_clients": 999}),
            "not_found",
        ),
    ] {
        fails(&e, &sid, "reports.summary", params, code);
    }
}

#[test]
fn rerating_an_invoiced_call_is_a_note_on_the_next_invoice_and_never_counted_twice() {
    let (e, clock, sid) = engine();
    let t = id(ok(
        &e,
        &sid,
        "rateTables.add",
        json!({"name": "notes", "id_currencies": 1}),
    ));
    let rate = id(ok(
        &e,
        &sid,
        "rates.add",
        json!({"id_rate_tables": t, "code": "1", "code_name": "US", "rate": "1", "effective_from": "2020-01-01"}),
    ));
    let c = id(ok(
        &e,
        &sid,
        "clients.add",
        json!({"name": "notes", "orig_rate_table": t, "credit": "1000"}),
    ));
    ok(
        &e,
        &sid,
        "accounts.add",
        json!({"id_clients": c, "name": "n", "auth_type": "ani", "ident": "950"}),
    );
    let sid = at(&e, &clock, "2026-03-02 00:00:00");
    call_at(&e, "950", "feb", "15551", "2026-02-10 10:00:00", 60); // 1.00
    call_at(&e, "950", "mar", "15552", "2026-03-01 10:00:00", 120); // 2.00
    let feb = id(ok(
        &e,
        &sid,
        "invoices.add",
        json!({"id_clients": c, "dt_from": "2026-02-01", "dt_till": "2026-03-01"}),
    ));
    let before = invoice(&e, &sid, feb);
    assert_eq!(d(&before["total"]), Decimal::from_str("1.00").unwrap());
    // The price was wrong: 0.7, not 1. Re-rated on 5 March.
    let sid = at(&e, &clock, "2026-03-05 00:00:00");
    ok(&e, &sid, "rates.edit", json!({"id": rate, "rate": "0.7"}));
    let r = ok(
        &e,
        &sid,
        "xdrs.rerate",
        json!({"dt_from": "2026-02-01", "dt_till": "2026-03-05", "id_clients": [c]}),
    );
    assert_eq!(r["rerated"], json!(2), "{r}");
    // February's invoice is as it was issued.
    assert_eq!(invoice(&e, &sid, feb), before);
    // The invoiced call's difference is a credit note; the other call's is an adjustment.
    let notes = rows(&ok(
        &e,
        &sid,
        "transactions.list",
        json!({"id_clients": c, "type": "credit_note"}),
    ));
    assert_eq!(notes.len(), 1);
    assert_eq!(d(&notes[0]["amount"]), Decimal::from_str("0.3").unwrap());
    let sid = at(&e, &clock, "2026-04-02 00:00:00");
    let mar = id(ok(
        &e,
        &sid,
        "invoices.add",
        json!({"id_clients": c, "dt_from": "2026-03-01", "dt_till": "2026-04-01"}),
    ));
    let m = invoice(&e, &sid, mar);
    let lines: Vec<(String, Decimal)> = m["lines"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| (l["kind"].as_str().unwrap().to_string(), d(&l["amount"])))
        .collect();
    // March's call at its new price (1.40, not 2.00 less a separate adjustment), and
    // February's credit note.
    assert_eq!(
        lines,
        [
            ("calls".to_string(), Decimal::from_str("1.4").unwrap()),
            (
                "credit_note".to_string(),
                Decimal::from_str("-0.3").unwrap()
            ),
        ]
    );
    assert_eq!(d(&m["total"]), Decimal::from_str("1.10").unwrap());
    // Invoiced together, the two months ask exactly what the ledger charged.
    let charged: Decimal = rows(&ok(
        &e,
        &sid,
        "transactions.list",
        json!({"id_clients": c, "limit": 100}),
    ))
    .iter()
    .map(|r| d(&r["amount"]))
    .sum();
    assert_eq!(d(&before["total"]) + d(&m["total"]), -charged);
    assert!(e.verify_client_ledger(c).unwrap());
    // A price raised again: a debit note on the next invoice.
    ok(&e, &sid, "rates.edit", json!({"id": rate, "rate": "0.8"}));
    ok(
        &e,
        &sid,
        "xdrs.rerate",
        json!({"dt_from": "2026-02-01", "dt_till": "2026-03-02", "id_clients": [c]}),
    );
    let debit = rows(&ok(
        &e,
        &sid,
        "transactions.list",
        json!({"id_clients": c, "type": "debit_note"}),
    ));
    assert_eq!(debit.len(), 2, "both calls are on issued invoices now");
}
