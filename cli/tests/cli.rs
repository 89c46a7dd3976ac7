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
