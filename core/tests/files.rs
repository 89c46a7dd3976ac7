//! File responses: `xdrs.download` streams CSV to the caller's writer with the checks and
//! tenant scope of `xdrs.list`, in bounded pages.

mod common;

use common::*;
use serde_json::{json, Value};
use std::io::Write;
use tollgate::{AuthorizeRequest, Engine, SettleRequest};

/// The columns of the download, in order.
const COLUMNS: [&str; 19] = [
    "id",
    "call_id",
    "id_accounts",
    "id_clients",
    "src",
    "dst",
    "code",
    "code_name",
    "rate",
    "setup_fee",
    "duration",
    "billed_seconds",
    "cost",
    "id_currencies",
    "connect_time",
    "end_time",
    "unreserved",
    "id_subscriptions",
    "volume_seconds",
];

/// Parse a download: header and rows.
fn parse(bytes: &[u8]) -> (Vec<String>, Vec<Vec<String>>) {
    let mut r = csv::ReaderBuilder::new()
        .has_headers(false)
        .from_reader(bytes);
    let mut rows: Vec<Vec<String>> = r
        .records()
        .map(|rec| rec.unwrap().iter().map(str::to_string).collect())
        .collect();
    let header = rows.remove(0);
    (header, rows)
}

fn download(e: &Engine, sid: &str, params: Value) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    let meta = e
        .call_file("xdrs.download", with_sid(sid, params), &mut out)
        .unwrap_or_else(|env| panic!("download refused: {:?}", env.errors));
    assert_eq!(meta.content_type, "text/csv");
    let (header, rows) = parse(&out);
    assert_eq!(header, COLUMNS);
    rows
}

fn dec(s: &str) -> tollgate::Decimal {
    s.parse().unwrap()
}

fn col(name: &str) -> usize {
    COLUMNS.iter().position(|c| *c == name).unwrap()
}

/// The vendor's worked example (rate 1, min 30, interval 1, grace 2, setup 0.3) on code 44
/// and code 4420 (London, rate 0.5) for one client with an ANI account `100`.
fn vendor(e: &Engine, admin: &str) -> i64 {
    let table = ok(
        e,
        "rateTables.add",
        with_sid(admin, json!({"name": "Retail", "rounding": "half_up"})),
    )["id"]
        .clone();
    for (code, name, rate) in [("44", "UK, \"all\"", "1"), ("4420", "London", "0.5")] {
        ok(
            e,
            "rates.add",
            with_sid(
                admin,
                json!({"id_rate_tables": table, "code": code, "code_name": name, "rate": rate, "min_volume": 30, "interval": 1, "grace_volume": 2, "setup_fee": "0.3", "effective_from": "2020-01-01"}),
            ),
        );
    }
    let c = ok(
        e,
        "clients.add",
        with_sid(
            admin,
            json!({"name": "Caller", "orig_rate_table": table, "credit": "1000"}),
        ),
    )["id"]
        .as_i64()
        .unwrap();
    ok(
        e,
        "accounts.add",
        with_sid(
            admin,
            json!({"id_clients": c, "name": "ani", "auth_type": "ani", "ident": "100"}),
        ),
    );
    c
}

fn settle_unreserved(e: &Engine, ident: &str, dst: &str, call: &str, at: &str, duration: u64) {
    e.settle(&SettleRequest {
        call_id: call.into(),
        duration,
        account: Some(ident.into()),
        destination: Some(dst.into()),
        source: Some("3312345".into()),
        connect_time: tollgate::clock::parse_dt(at),
        ..Default::default()
    })
    .unwrap();
}

#[test]
fn the_download_matches_the_settled_calls_exactly() {
    let (e, _) = engine();
    let admin = sid(&e, ADMIN, ADMIN_PW);
    let client = vendor(&e, &admin);
    let expected = [
        (0, "0"),
        (2, "0"),
        (3, "0.8"),
        (30, "0.8"),
        (31, "0.8167"),
        (61, "1.3167"),
    ];
    for (duration, _) in expected {
        let a = e
            .authorize(&AuthorizeRequest {
                account: "100".into(),
                destination: "447911123456".into(),
                ..Default::default()
            })
            .unwrap();
        e.settle(&SettleRequest {
            reservation: Some(a.reservation),
            call_id: format!("call,{duration}"),
            duration,
            ..Default::default()
        })
        .unwrap();
    }
    let mut out = Vec::new();
    let meta = e
        .call_file("xdrs.download", with_sid(&admin, json!({})), &mut out)
        .unwrap();
    assert_eq!(meta.name, "xdrs-2026-03-01.csv");
    assert_eq!(meta.content_type, "text/csv");
    assert_eq!(meta.session_id.as_deref(), Some(admin.as_str()));
    let (_, rows) = parse(&out);
    assert_eq!(rows.len(), expected.len());
    for (row, (duration, cost)) in rows.iter().zip(expected) {
        assert_eq!(row[col("call_id")], format!("call,{duration}"));
        assert_eq!(dec(&row[col("cost")]), dec(cost), "{duration} s");
        assert_eq!(row[col("code")], "44");
        assert_eq!(row[col("code_name")], "UK, \"all\"");
        assert_eq!(row[col("id_clients")], client.to_string());
        assert_eq!(row[col("unreserved")], "false");
    }
    // Every cell is the exact text of what xdrs.list shows.
    let list = ok(&e, "xdrs.list", with_sid(&admin, json!({"limit": 100})));
    for (row, x) in rows.iter().zip(list["rows"].as_array().unwrap()) {
        for (i, c) in COLUMNS.iter().enumerate() {
            let want = match &x[*c] {
                Value::Null => String::new(),
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            assert_eq!(row[i], want, "column {c}");
        }
    }
    // Proper quoting: commas and quotes survive the round trip in the raw text.
    let text = String::from_utf8(out).unwrap();
    assert!(text.contains("\"call,31\""));
    assert!(text.contains("\"UK, \"\"all\"\"\""));
}

#[test]
fn cells_a_spreadsheet_would_run_as_formulas_are_neutralised() {
    let (e, _) = engine();
    let admin = sid(&e, ADMIN, ADMIN_PW);
    vendor(&e, &admin);
    settle_unreserved(
        &e,
        "100",
        "441234",
        "=HYPERLINK(\"x\")",
        "2026-01-10 10:00:00",
        31,
    );
    settle_unreserved(&e, "100", "441234", "@SUM(A1)", "2026-01-10 10:00:00", 31);
    settle_unreserved(&e, "100", "441234", "plain-1", "2026-01-10 10:00:00", 31);
    let rows = download(&e, &admin, json!({}));
    let ids: Vec<&str> = rows.iter().map(|r| r[col("call_id")].as_str()).collect();
    assert_eq!(ids, ["'=HYPERLINK(\"x\")", "'@SUM(A1)", "plain-1"]);
    // Numbers are never touched.
    assert!(rows.iter().all(|r| !r[col("cost")].starts_with('\'')));
}

#[test]
fn filters_select_like_xdrs_list() {
    let (e, _) = engine();
    let admin = sid(&e, ADMIN, ADMIN_PW);
    let client = vendor(&e, &admin);
    settle_unreserved(&e, "100", "441234", "a", "2026-01-10 10:00:00", 31);
    settle_unreserved(&e, "100", "442071234", "b", "2026-01-15 00:00:00", 60);
    settle_unreserved(&e, "100", "442071234", "c", "2026-01-20 23:59:59", 90);
    let ids = |rows: Vec<Vec<String>>| -> Vec<String> {
        rows.into_iter()
            .map(|r| r[col("call_id")].clone())
            .collect()
    };
    assert_eq!(ids(download(&e, &admin, json!({}))), ["a", "b", "c"]);
    assert_eq!(ids(download(&e, &admin, json!({"call_id": "b"}))), ["b"]);
    assert_eq!(
        ids(download(&e, &admin, json!({"code": "4420"}))),
        ["b", "c"]
    );
    assert_eq!(ids(download(&e, &admin, json!({"dst": "441234"}))), ["a"]);
    assert_eq!(
        ids(download(
            &e,
            &admin,
            json!({"id_clients": client, "unreserved": true})
        )),
        ["a", "b", "c"]
    );
    assert!(download(&e, &admin, json!({"unreserved": false})).is_empty());
    // dt_from inclusive, dt_till exclusive, on connect_time.
    assert_eq!(
        ids(download(
            &e,
            &admin,
            json!({"dt_from": "2026-01-15", "dt_till": "2026-01-20 23:59:59"})
        )),
        ["b"]
    );
    assert_eq!(
        ids(download(
            &e,
            &admin,
            json!({"dt_from": "2026-01-15 00:00:01"})
        )),
        ["c"]
    );
    // London: 0.3 + 0.5 * 90 / 60 = 1.05.
    let c = download(&e, &admin, json!({"call_id": "c"}));
    assert_eq!(dec(&c[0][col("cost")]), dec("1.05"));
    assert_eq!(dec(&c[0][col("rate")]), dec("0.5"));
    assert_eq!(c[0][col("end_time")], "2026-01-21 00:01:29+00");
    // Bad filters are refused before anything is written.
    let mut out = Vec::new();
    let r = e.call_file(
        "xdrs.download",
        with_sid(&admin, json!({"dt_from": "yesterday"})),
        &mut out,
    );
    assert_eq!(r.unwrap_err().errors[0].code.as_str(), "validation.invalid");
    let r = e.call_file(
        "xdrs.download",
        with_sid(&admin, json!({"limit": 10})),
        &mut out,
    );
    assert_eq!(
        r.unwrap_err().errors[0].code.as_str(),
        "validation.unknown_argument"
    );
    assert!(out.is_empty());
}

#[test]
fn a_reseller_downloads_only_its_subtree() {
    let w = world();
    let e = &w.engine;
    for (i, t) in [&w.op, &w.a, &w.a1, &w.b].iter().enumerate() {
        settle_unreserved(
            e,
            &t.ident,
            "15550009",
            &format!("t{i}"),
            "2026-02-01 10:00:00",
            60,
        );
    }
    let clients = |rows: &[Vec<String>]| -> Vec<i64> {
        rows.iter()
            .map(|r| r[col("id_clients")].parse().unwrap())
            .collect()
    };
    let all = download(e, &w.admin, json!({}));
    assert_eq!(
        clients(&all),
        [w.op.client, w.a.client, w.a1.client, w.b.client]
    );
    assert_eq!(
        clients(&download(e, &w.res_a, json!({}))),
        [w.a.client, w.a1.client]
    );
    assert_eq!(clients(&download(e, &w.res_a1, json!({}))), [w.a1.client]);
    assert_eq!(clients(&download(e, &w.res_b, json!({}))), [w.b.client]);
    // A foreign id in a filter yields no rows, exactly like a missing one.
    for params in [
        json!({"id_clients": w.b.client}),
        json!({"id_accounts": w.op.account}),
        json!({"call_id": "t3"}),
        json!({"id": all[3][col("id")].parse::<i64>().unwrap()}),
    ] {
        assert!(download(e, &w.res_a, params.clone()).is_empty(), "{params}");
    }
}

#[test]
fn refused_downloads_write_nothing() {
    let w = world();
    let e = &w.engine;
    settle_unreserved(e, &w.a.ident, "15550009", "x", "2026-02-01 10:00:00", 60);
    let refusals = [
        (json!({}), "auth.required"),
        (
            json!({"SID": "1-nosuchsessionxxxxxxxxxxxxx"}),
            "auth.session_invalid",
        ),
        (
            json!({"auth": {"login": "res-a", "password": "wrong-passw0rd"}}),
            "auth.failed",
        ),
        (with_sid(&w.api_portal, json!({})), "permission.denied"),
    ];
    for (params, code) in refusals {
        let mut out = Vec::new();
        let env = e
            .call_file("xdrs.download", params.clone(), &mut out)
            .unwrap_err();
        assert_eq!(env.errors[0].code.as_str(), code, "{params}");
        assert!(out.is_empty(), "{params}: wrote {} bytes", out.len());
    }
    // A password login works and hands back its session.
    let mut out = Vec::new();
    let meta = e
        .call_file(
            "xdrs.download",
            json!({"auth": {"login": "res-a", "password": USER_PW}}),
            &mut out,
        )
        .unwrap();
    assert!(meta.session_id.is_some());
    assert_eq!(parse(&out).1.len(), 1);
}

#[test]
fn file_and_json_methods_each_have_their_own_entry_point() {
    let w = world();
    let e = &w.engine;
    let r = e.call("xdrs.download", with_sid(&w.admin, json!({})));
    assert_eq!(err(&r), "api.wrong_endpoint");
    assert!(
        r.errors[0].message.contains("file"),
        "{}",
        r.errors[0].message
    );
    let rpc = e.call_jsonrpc(
        &json!({"jsonrpc": "2.0", "id": 1, "method": "xdrs.download", "params": {"SID": w.admin}})
            .to_string(),
    );
    assert!(rpc.contains("api.wrong_endpoint"), "{rpc}");
    let mut out = Vec::new();
    let env = e
        .call_file("xdrs.list", with_sid(&w.admin, json!({})), &mut out)
        .unwrap_err();
    assert_eq!(env.errors[0].code.as_str(), "api.wrong_endpoint");
    assert!(out.is_empty());
    let env = e
        .call_file("xdrs.nothing", with_sid(&w.admin, json!({})), &mut out)
        .unwrap_err();
    assert_eq!(env.errors[0].code.as_str(), "api.unknown_method");
    // The trusted entry point needs no credentials.
    e.call_file_as_system("xdrs.download", json!({}), &mut out)
        .unwrap();
    assert_eq!(parse(&out).0, COLUMNS);
}

/// Counts the CSV lines handed over between flushes: the rows of one page.
#[derive(Default)]
struct PageCounter {
    lines: u64,
    since_flush: u64,
    largest_flush: u64,
    flushes: u64,
}

impl Write for PageCounter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = buf.iter().filter(|b| **b == b'\n').count() as u64;
        self.lines += n;
        self.since_flush += n;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.largest_flush = self.largest_flush.max(self.since_flush);
        self.since_flush = 0;
        self.flushes += 1;
        Ok(())
    }
}

#[test]
fn ten_thousand_xdrs_stream_in_bounded_pages() {
    let (e, _) = engine();
    let admin = sid(&e, ADMIN, ADMIN_PW);
    vendor(&e, &admin);
    for i in 0..10_000u64 {
        settle_unreserved(
            &e,
            "100",
            "447911123456",
            &format!("bulk-{i}"),
            "2026-02-01 10:00:00",
            i % 120,
        );
    }
    let mut out = PageCounter::default();
    e.call_file("xdrs.download", with_sid(&admin, json!({})), &mut out)
        .unwrap();
    assert_eq!(out.lines, 10_001, "header and every xDR");
    assert_eq!(
        out.largest_flush,
        tollgate::limits::file_page_rows,
        "one page at a time"
    );
    // The header, then ten full pages.
    assert!(out.flushes >= 11, "{} flushes", out.flushes);
    // A filtered download pages the same way and still sees every match.
    let mut out = PageCounter::default();
    e.call_file(
        "xdrs.download",
        with_sid(&admin, json!({"dt_from": "2026-02-01"})),
        &mut out,
    )
    .unwrap();
    assert_eq!(out.lines, 10_001);
}
