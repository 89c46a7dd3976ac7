//! The `tollgate` binary, run as a user would.

use serde_json::Value;
use std::process::Command;

fn tollgate() -> Command {
    Command::new(env!("CARGO_BIN_EXE_tollgate"))
}

#[test]
fn init_then_call() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("b.db");
    let pw = dir.path().join("pw");
    std::fs::write(&pw, "file-password-1\n").unwrap();
    let out = tollgate()
        .arg("init")
        .arg(&db)
        .args(["--login", "root", "--password-file"])
        .arg(&pw)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // A local call without credentials runs as the operator.
    let out = tollgate()
        .arg("call")
        .arg(&db)
        .args(["clients.add", r#"{"name": "CLI client", "credit": "1.10"}"#])
        .output()
        .unwrap();
    assert!(out.status.success());
    let env: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(env["code"], true);
    assert_eq!(env["return"]["id"], 1);

    // With auth, the password from the file works; the envelope is printed either way.
    let out = tollgate()
        .arg("call")
        .arg(&db)
        .args([
            "clients.editForm",
            r#"{"id": 1, "auth": {"login": "root", "password": "file-password-1"}}"#,
        ])
        .output()
        .unwrap();
    let env: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(env["return"]["client"]["credit"].to_string(), "1.10");
    assert!(env["session_id"].as_str().unwrap().starts_with("1-"));

    // A refused call prints the envelope and exits 1.
    let out = tollgate()
        .arg("call")
        .arg(&db)
        .args(["clients.add", "{}"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let env: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(env["errors"][0]["code"], "validation.required");
    assert_eq!(env["errors"][0]["field"], "name");

    // Bad JSON and a missing database are clear errors (exit 2).
    let out = tollgate()
        .arg("call")
        .arg(&db)
        .args(["clients.add", "{nope"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not valid JSON"));
    let out = tollgate()
        .arg("call")
        .arg(dir.path().join("missing.db"))
        .arg("clients.list")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("store.not_found"));
}

#[test]
fn init_takes_the_password_from_the_environment_and_never_from_arguments() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("e.db");
    let out = tollgate()
        .arg("init")
        .arg(&db)
        .env("TOLLGATE_ADMIN_PASSWORD", "env-password-1")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = tollgate()
        .arg("call")
        .arg(&db)
        .args([
            "auth.login",
            r#"{"login": "admin", "password": "env-password-1"}"#,
        ])
        .output()
        .unwrap();
    assert!(out.status.success());
    // There is no --password option.
    let out = tollgate()
        .arg("init")
        .arg(dir.path().join("x.db"))
        .args(["--password", "x"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    // A weak password is refused and leaves no file behind.
    let weak = dir.path().join("weak.db");
    let out = tollgate()
        .arg("init")
        .arg(&weak)
        .env("TOLLGATE_ADMIN_PASSWORD", "short")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(!weak.exists());
}

#[test]
fn demo_runs_and_tells_its_story() {
    let out = tollgate().arg("demo").output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    for needle in [
        "Acme North (sub-reseller)",
        "North Dialers",
        "validation.required",
        "rating.deck_invalid",
        "1 renewed; the same tick again renews 0",
        "replayed true",
        "balance.insufficient",
        "Alpha: balance = ledger sum: true",
        "Beta: balance = ledger sum: true",
        "reopened: 3 clients",
        "Demo finished",
    ] {
        assert!(
            text.contains(needle),
            "demo output lacks {needle:?}:\n{text}"
        );
    }
}

#[test]
fn credentials_are_what_the_dispatcher_says_they_are() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("c.db");
    let out = tollgate()
        .arg("init")
        .arg(&db)
        .env("TOLLGATE_ADMIN_PASSWORD", "env-password-1")
        .output()
        .unwrap();
    assert!(out.status.success());
    let call = |method: &str, params: &str| {
        let out = tollgate()
            .arg("call")
            .arg(&db)
            .args([method, params])
            .output()
            .unwrap();
        let env: Value = serde_json::from_slice(&out.stdout).unwrap();
        (out.status.code(), env)
    };
    // auth.login takes top-level login and password as credentials: they are checked, not
    // run past as the operator.
    let (code, env) = call(
        "auth.login",
        r#"{"login": "admin", "password": "wrong-password"}"#,
    );
    assert_eq!(code, Some(1));
    assert_eq!(env["errors"][0]["code"], "auth.failed");
    let (code, env) = call(
        "auth.login",
        r#"{"login": "admin", "password": "env-password-1"}"#,
    );
    assert_eq!(code, Some(0));
    assert_eq!(env["return"]["user"]["login"], "admin");
    assert!(env["session_id"].as_str().is_some());
    // A malformed credential is refused, not ignored.
    let (code, env) = call("clients.list", r#"{"SID": 5}"#);
    assert_eq!(code, Some(1));
    assert_eq!(env["errors"][0]["code"], "auth.session_invalid");
    let (code, env) = call("clients.list", r#"{"AUTH": "not.a.token"}"#);
    assert_eq!(code, Some(1));
    assert_eq!(env["errors"][0]["code"], "auth.token_invalid");
    // Elsewhere login and password are plain arguments: the call runs as the operator.
    let (code, env) = call("clients.list", r#"{"login": "admin"}"#);
    assert_eq!(code, Some(1));
    assert_eq!(env["errors"][0]["code"], "validation.unknown_argument");
}

#[test]
fn a_month_end_from_the_cli_invoice_pdf_and_summary() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("m.db");
    let out = tollgate()
        .arg("init")
        .arg(&db)
        .env("TOLLGATE_ADMIN_PASSWORD", "month-end-pw-1")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let call = |method: &str, params: &str| -> Value {
        let out = tollgate()
            .arg("call")
            .arg(&db)
            .args([method, params])
            .output()
            .unwrap();
        let env: Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(env["code"], true, "{method}: {env}");
        env["return"].clone()
    };
    call("rateTables.add", r#"{"name": "cli"}"#);
    call(
        "rates.add",
        r#"{"id_rate_tables": 1, "code": "44", "code_name": "UK", "rate": "0.9", "effective_from": "2020-01-01"}"#,
    );
    call(
        "clients.add",
        r#"{"name": "Month End Ltd", "orig_rate_table": 1, "credit": "50"}"#,
    );
    call(
        "accounts.add",
        r#"{"id_clients": 1, "name": "me", "auth_type": "ani", "ident": "3000"}"#,
    );
    call(
        "xdrs.import",
        r#"{"format": "tollgate", "csv": "call_id,account,destination,connect_time,duration\nc1,3000,4420,2026-01-31 23:59:59,100\n"}"#,
    );
    let inv = call(
        "invoices.add",
        r#"{"id_clients": 1, "dt_from": "2026-01-01", "dt_till": "2026-02-01"}"#,
    );
    let number = inv["number"].as_str().unwrap().to_string();
    // The PDF, under the name the method suggests, in the current directory.
    let out = tollgate()
        .current_dir(dir.path())
        .arg("download")
        .arg(&db)
        .args(["invoices.download", r#"{"id": 1}"#])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let name = format!("{number}.pdf");
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), name);
    let text = Command::new("pdftotext")
        .arg(dir.path().join(&name))
        .arg("-")
        .output()
        .expect("pdftotext (poppler-utils)");
    let text = String::from_utf8(text.stdout).unwrap();
    // 100 s at 0.9/min = 1.50.
    assert!(text.contains(&number) && text.contains("1.50"), "{text}");
    // The summary's CSV to a chosen file.
    let csv = dir.path().join("summary.csv");
    let out = tollgate()
        .arg("download")
        .arg(&db)
        .args([
            "reports.summary",
            r#"{"dt_from": "2026-01-01", "dt_till": "2026-02-01"}"#,
            "--out",
        ])
        .arg(&csv)
        .output()
        .unwrap();
    assert!(out.status.success());
    let body = std::fs::read_to_string(&csv).unwrap();
    assert!(
        body.lines()
            .any(|l| l.starts_with("1,Month End Ltd,1,USD,1,1,100,100,")),
        "{body}"
    );
    // A refusal prints the envelope, exits 1 and writes no file.
    let missing = dir.path().join("missing.pdf");
    let out = tollgate()
        .arg("download")
        .arg(&db)
        .args(["invoices.download", r#"{"id": 99}"#, "--out"])
        .arg(&missing)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let env: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(env["errors"][0]["code"], "not_found");
    assert!(!missing.exists());
}
