//! Access tokens: offline verification by an independent verifier, the refusal corpus of
//! reliability.md §3c, logout, expiry and refresh-token rotation with reuse detection.

mod common;

use aws_lc_rs::signature::{self, UnparsedPublicKey, VerificationAlgorithm};
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine as _;
use common::*;
use serde_json::{json, Value};
use tollgate::{Clock, Engine, EngineConfig};

const CHECK_AUTH: &str = "Client.Session.check_auth.failed_to_process_access_token";

fn rest_login(e: &Engine, login: &str, password: &str) -> Value {
    let (status, body) = e.rest(
        "Session",
        "login",
        &json!({"params": {"login": login, "password": password}}),
        None,
    );
    assert_eq!(status, 200, "{body}");
    body
}

/// An RS256 verifier written here from the RFCs, sharing no code with the engine's
/// `jsonwebtoken` path: it splits the token itself, builds the key from the JWKS `n`/`e` (or
/// the PEM), and checks PKCS#1 v1.5 SHA-256 with aws-lc-rs's primitive.
fn independent_verify(token: &str, jwks: &Value, pem: &str) -> Value {
    let parts: Vec<&str> = token.split('.').collect();
    assert_eq!(parts.len(), 3);
    let header: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[0]).unwrap()).unwrap();
    assert_eq!(header["alg"], "RS256");
    assert_eq!(header["typ"], "JWT");
    let key = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["kid"] == header["kid"])
        .expect("kid in JWKS");
    assert_eq!(key["kty"], "RSA");
    let n = URL_SAFE_NO_PAD.decode(key["n"].as_str().unwrap()).unwrap();
    let e = URL_SAFE_NO_PAD.decode(key["e"].as_str().unwrap()).unwrap();
    let sig = URL_SAFE_NO_PAD.decode(parts[2]).unwrap();
    let signed = format!("{}.{}", parts[0], parts[1]);
    signature::RsaPublicKeyComponents { n: &n, e: &e }
        .verify(
            &signature::RSA_PKCS1_2048_8192_SHA256,
            signed.as_bytes(),
            &sig,
        )
        .expect("signature verifies with the JWKS key");
    // The PEM is the same key.
    let der: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    let der = STANDARD.decode(der).unwrap();
    assert!(pem.starts_with("-----BEGIN PUBLIC KEY-----"));
    UnparsedPublicKey::new(&signature::RSA_PKCS1_2048_8192_SHA256, &der)
        .verify(signed.as_bytes(), &sig)
        .expect("signature verifies with the PEM key");
    let _ = signature::RSA_PKCS1_2048_8192_SHA256.verify_sig(&der, signed.as_bytes(), &sig);
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).unwrap()).unwrap()
}

#[test]
fn login_token_verifies_offline_with_an_independent_verifier() {
    let (e, clock) = engine();
    let body = rest_login(&e, ADMIN, ADMIN_PW);
    let token = body["access_token"].as_str().unwrap();
    let claims = independent_verify(token, &e.token_jwks(), &e.token_public_key_pem());
    let now = clock.now().timestamp();
    assert_eq!(claims["iat"], now);
    assert_eq!(claims["exp"], now + 48 * 3600, "default lifetime 48 h");
    assert_eq!(claims["i_user"], 1);
    assert_eq!(claims["login"], ADMIN);
    assert_eq!(claims["realm"], "admin");
    assert_eq!(claims["aud"], json!(["portabilling-api", "tollgate-api"]));
    assert_eq!(claims["is_super_user"], 1);
    assert!(claims["scopes"].as_str().unwrap().contains("*:read"));
    let jti = claims["jti"].as_str().unwrap();
    assert_eq!(jti.len(), 32);
    assert_ne!(
        jti,
        body["session_id"].as_str().unwrap(),
        "jti is not the SID (not a credential)"
    );
    assert_eq!(body["expires_at"], "2026-03-03 12:00:00");
    assert_eq!(body["expires_in"], 172_800);
    assert!(body["session_id"].as_str().unwrap().starts_with("1-"));
    assert_eq!(body["refresh_token"].as_str().unwrap().len(), 64);
    // A reseller's token says what it holds.
    let w = world();
    let b = rest_login(&w.engine, "res-a", USER_PW);
    let c = independent_verify(
        b["access_token"].as_str().unwrap(),
        &w.engine.token_jwks(),
        &w.engine.token_public_key_pem(),
    );
    assert_eq!(c["is_super_user"], 0);
    assert!(c["scopes"].as_str().unwrap().contains("clients:billing"));
    // The configured lifetime is reported.
    let (_, l) = e.rest(
        "Session",
        "get_access_token_lifetime",
        &json!({}),
        Some(token),
    );
    assert_eq!(l["access_token_lifetime"], 172_800);
}

fn private_key(path: &str) -> String {
    let conn = rusqlite::Connection::open(path).unwrap();
    conn.query_row(
        "SELECT value FROM meta WHERE key = 'token_signing_key_pkcs8'",
        [],
        |r| r.get(0),
    )
    .unwrap()
}

fn b64(v: &Value) -> String {
    URL_SAFE_NO_PAD.encode(v.to_string())
}

/// Refused through every front door: REST bearer, `AUTH` in params, and `call_with_bearer`.
fn assert_refused(e: &Engine, token: &str, case: &str) {
    let (status, body) = e.rest("Customer", "get_customer_list", &json!({}), Some(token));
    // An empty Authorization header counts as none.
    let want = if token.is_empty() {
        "Client.check_auth.envelope_missed"
    } else {
        CHECK_AUTH
    };
    assert_eq!(
        (status, body["faultcode"].as_str()),
        (500, Some(want)),
        "{case}: {body}"
    );
    let r = e.call("clients.list", json!({"AUTH": token}));
    assert_eq!(err(&r), "auth.token_invalid", "{case}");
    let r = e.call_with_bearer("clients.list", json!({}), token);
    assert_eq!(err(&r), "auth.token_invalid", "{case}");
    assert!(
        token.len() < 8 || !r.to_json().to_string().contains(token),
        "{case}: the token is echoed"
    );
}

#[test]
fn forged_tampered_and_stale_tokens_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    // Reads the SQLite file itself: this one runs on SQLite only.
    let path = dir.path().join("t.db");
    let path = path.to_str().unwrap();
    let c = clock();
    let e =
        Engine::create_with(path, ADMIN, ADMIN_PW, options(&c, EngineConfig::default())).unwrap();
    let body = rest_login(&e, ADMIN, ADMIN_PW);
    let token = body["access_token"].as_str().unwrap().to_string();
    let pem = e.token_public_key_pem();
    let kid = e.token_jwks()["keys"][0]["kid"].clone();
    drop(e);
    let key = jsonwebtoken::EncodingKey::from_rsa_pem(private_key(path).as_bytes()).unwrap();
    let e = Engine::open_with(path, options(&c, EngineConfig::default())).unwrap();
    assert_eq!(e.token_public_key_pem(), pem, "the key survives reopening");

    let parts: Vec<String> = token.split('.').map(str::to_string).collect();
    let claims: Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(&parts[1]).unwrap()).unwrap();
    let now = c.now().timestamp();
    let sign = |claims: &Value,
                alg: jsonwebtoken::Algorithm,
                key: &jsonwebtoken::EncodingKey,
                typ: Option<&str>| {
        let mut h = jsonwebtoken::Header::new(alg);
        h.typ = typ.map(str::to_string);
        h.kid = kid.as_str().map(str::to_string);
        jsonwebtoken::encode(&h, claims, key).unwrap()
    };
    let rs = jsonwebtoken::Algorithm::RS256;
    let with = |k: &str, v: Value| {
        let mut c = claims.clone();
        c[k] = v;
        c
    };
    // Control: a token this test signs with the real key and the right claims is accepted,
    // so every refusal below is due to its one defect.
    let good = sign(&claims, rs, &key, Some("JWT"));
    assert!(e.call_with_bearer("clients.list", json!({}), &good).code);
    ok(&e, "clients.list", json!({"AUTH": token}));

    let mut no_exp = claims.clone();
    no_exp.as_object_mut().unwrap().remove("exp");
    let hs = jsonwebtoken::EncodingKey::from_secret(pem.as_bytes());
    let cases: Vec<(&str, String)> = vec![
        (
            "alg none",
            format!(
                "{}.{}.",
                b64(&json!({"alg": "none", "typ": "JWT"})),
                parts[1]
            ),
        ),
        (
            "alg none with signature",
            format!(
                "{}.{}.{}",
                b64(&json!({"alg": "none", "typ": "JWT"})),
                parts[1],
                parts[2]
            ),
        ),
        (
            "HS256 with the public key as secret",
            sign(&claims, jsonwebtoken::Algorithm::HS256, &hs, Some("JWT")),
        ),
        (
            "RS512",
            sign(&claims, jsonwebtoken::Algorithm::RS512, &key, Some("JWT")),
        ),
        (
            "wrong aud",
            sign(&with("aud", json!(["espf-api"])), rs, &key, Some("JWT")),
        ),
        (
            "aud as another string",
            sign(&with("aud", json!("someone")), rs, &key, Some("JWT")),
        ),
        (
            "expired",
            sign(&with("exp", json!(now - 1)), rs, &key, Some("JWT")),
        ),
        (
            "expiring now",
            sign(&with("exp", json!(now)), rs, &key, Some("JWT")),
        ),
        (
            "nbf in the future",
            sign(&with("nbf", json!(now + 3600)), rs, &key, Some("JWT")),
        ),
        (
            "iat in the future",
            sign(&with("iat", json!(now + 3600)), rs, &key, Some("JWT")),
        ),
        ("missing exp", sign(&no_exp, rs, &key, Some("JWT"))),
        (
            "wrong realm",
            sign(&with("realm", json!("account")), rs, &key, Some("JWT")),
        ),
        ("missing typ", sign(&claims, rs, &key, None)),
        (
            "unknown session",
            sign(&with("jti", json!("0".repeat(32))), rs, &key, Some("JWT")),
        ),
        (
            "other user on the session",
            sign(&with("i_user", json!(2)), rs, &key, Some("JWT")),
        ),
        (
            "tampered payload",
            format!(
                "{}.{}.{}",
                parts[0],
                b64(&with("login", json!("root"))),
                parts[2]
            ),
        ),
        (
            "tampered header",
            format!(
                "{}.{}.{}",
                b64(&json!({"alg": "RS256", "typ": "JWT", "kid": "other"})),
                parts[1],
                parts[2]
            ),
        ),
        (
            "truncated signature",
            format!(
                "{}.{}.{}",
                parts[0],
                parts[1],
                &parts[2][..parts[2].len() - 4]
            ),
        ),
        ("empty signature", format!("{}.{}.", parts[0], parts[1])),
        ("two parts", format!("{}.{}", parts[0], parts[1])),
        ("empty", String::new()),
        ("garbage", "not a token".into()),
        ("huge", "a".repeat(100_000)),
    ];
    for (case, t) in &cases {
        assert_refused(&e, t, case);
    }
    // Every single-character change anywhere in a valid token is refused.
    let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let bytes = token.as_bytes();
    for i in (0..bytes.len()).step_by(3) {
        if bytes[i] == b'.' {
            continue;
        }
        let mut m = bytes.to_vec();
        m[i] = *alphabet
            .iter()
            .find(|&&c| c != bytes[i] && (c ^ bytes[i]) & 0x20 == 0)
            .unwrap_or(&b'A');
        let m = String::from_utf8(m).unwrap();
        if m == token {
            continue;
        }
        let r = e.call_with_bearer("clients.list", json!({}), &m);
        assert!(!r.code, "mutation at {i} accepted");
    }
    println!(
        "refused {} of {} forged or stale tokens",
        cases.len(),
        cases.len()
    );
}

#[test]
fn tokens_expire_with_the_clock_and_the_session() {
    let config = EngineConfig {
        session_idle_seconds: 10 * 24 * 3600,
        access_token_lifetime_seconds: 7200,
        ..EngineConfig::default()
    };
    let (e, clock) = engine_with(config);
    let body = rest_login(&e, ADMIN, ADMIN_PW);
    let t = body["access_token"].as_str().unwrap();
    clock.advance_seconds(7199);
    assert!(e.call_with_bearer("clients.list", json!({}), t).code);
    clock.advance_seconds(1);
    assert_refused(&e, t, "expired by the clock");
    // Idle limit of the session kills a token before its exp.
    let config = EngineConfig {
        session_idle_seconds: 600,
        ..EngineConfig::default()
    };
    let (e, clock) = engine_with(config);
    let t = rest_login(&e, ADMIN, ADMIN_PW)["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    clock.advance_seconds(601);
    assert_refused(&e, &t, "idle session");
    let (_, p) = e.rest(
        "Session",
        "ping",
        &json!({"params": {"access_token": t}}),
        None,
    );
    assert_eq!(p["user_id"], 0);
}

#[test]
fn logout_revokes_the_token_and_its_refresh_token() {
    let (e, _) = engine();
    let body = rest_login(&e, ADMIN, ADMIN_PW);
    let t = body["access_token"].as_str().unwrap();
    let (_, p) = e.rest(
        "Session",
        "ping",
        &json!({"params": {"access_token": t}}),
        None,
    );
    assert_eq!(p["user_id"], 1);
    let (status, out) = e.rest(
        "Session",
        "logout",
        &json!({"params": {"access_token": t}}),
        None,
    );
    assert_eq!((status, out), (200, json!({"success": 1})));
    assert_refused(&e, t, "logged out");
    let (_, p) = e.rest("Session", "ping", &json!({}), Some(t));
    assert_eq!(p["user_id"], 0);
    let (status, f) = e.rest(
        "Session",
        "refresh_access_token",
        &json!({"params": {"refresh_token": body["refresh_token"]}}),
        None,
    );
    assert_eq!(
        (status, f["faultcode"].as_str()),
        (
            500,
            Some("Server.Session.refresh_access_token.refresh_failed")
        )
    );
    // The SID of that session is dead too.
    let r = e.call("auth.login", json!({"SID": body["session_id"]}));
    assert_eq!(err(&r), "auth.session_invalid");
    // A Management API logout by token revokes it the same way.
    let t2 = rest_login(&e, ADMIN, ADMIN_PW)["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(e.call_with_bearer("auth.logout", json!({}), &t2).code);
    assert_refused(&e, &t2, "logged out through auth.logout");
    let (_, f) = e.rest(
        "Session",
        "logout",
        &json!({"params": {"access_token": "x.y.z"}}),
        None,
    );
    assert_eq!(
        f["faultcode"],
        "Client.Session.logout.failed_to_process_access_token"
    );
}

fn refresh(e: &Engine, rt: &Value) -> (u16, Value) {
    e.rest(
        "Session",
        "refresh_access_token",
        &json!({"params": {"refresh_token": rt}}),
        None,
    )
}

#[test]
fn refresh_tokens_rotate_and_a_reused_one_kills_the_session() {
    let (e, clock) = engine();
    // Client first, attacker replays later.
    let first = rest_login(&e, ADMIN, ADMIN_PW);
    clock.advance_seconds(60);
    let (status, second) = refresh(&e, &first["refresh_token"]);
    assert_eq!(status, 200, "{second}");
    assert!(second.get("session_id").is_none());
    assert_ne!(second["refresh_token"], first["refresh_token"]);
    assert_ne!(second["access_token"], first["access_token"]);
    let t2 = second["access_token"].as_str().unwrap();
    assert!(e.call_with_bearer("clients.list", json!({}), t2).code);
    let (status, f) = refresh(&e, &first["refresh_token"]);
    assert_eq!(
        (status, f["faultcode"].as_str()),
        (
            500,
            Some("Server.Session.refresh_access_token.refresh_failed")
        )
    );
    assert_refused(&e, t2, "session revoked by refresh reuse");
    assert_refused(
        &e,
        first["access_token"].as_str().unwrap(),
        "first token after reuse",
    );
    assert_eq!(
        refresh(&e, &second["refresh_token"]).0,
        500,
        "the newest refresh token died too"
    );
    // Attacker first: the legitimate client's later refresh is the reuse, and the attacker's
    // fresh token dies with the session.
    let first = rest_login(&e, ADMIN, ADMIN_PW);
    let (_, stolen) = refresh(&e, &first["refresh_token"]);
    let ta = stolen["access_token"].as_str().unwrap();
    assert!(e.call_with_bearer("clients.list", json!({}), ta).code);
    assert_eq!(refresh(&e, &first["refresh_token"]).0, 500);
    assert_refused(&e, ta, "attacker's token after the client's replay");
    // Garbage refresh tokens are refused without effect.
    for bad in [json!(""), json!("x".repeat(1000)), json!(12), json!(null)] {
        let (status, f) = refresh(&e, &bad);
        assert_eq!(
            (status, f["faultcode"].as_str()),
            (
                500,
                Some("Server.Session.refresh_access_token.refresh_failed")
            )
        );
    }
}

#[test]
fn management_api_accepts_an_access_token_in_place_of_auth_or_sid() {
    let w = world();
    let e = &w.engine;
    let t = rest_login(e, "res-a", USER_PW)["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    let r = e.call("clients.list", json!({"AUTH": t}));
    assert!(r.code);
    assert_eq!(r.session_id, None, "no SID is handed out to a token caller");
    assert_eq!(
        r.ret["total"], 2,
        "the token carries the reseller's subtree"
    );
    let r = e.call_with_bearer("clients.editForm", json!({"id": w.b.client}), &t);
    assert_eq!(err(&r), "not_found");
    let r = e.call_with_bearer("roles.add", json!({"name": "x", "permissions": {}}), &t);
    assert_eq!(err(&r), "permission.denied");
    let r = e.call("clients.list", json!({"AUTH": 5}));
    assert_eq!(err(&r), "auth.token_invalid");
    // Blocking the user ends its tokens at once.
    ok(
        e,
        "users.edit",
        with_sid(&w.admin, json!({"id": w.a.user, "status": "blocked"})),
    );
    assert_refused(e, &t, "blocked user");
}
