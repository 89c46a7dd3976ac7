//! API tokens (issue 20, PortaBilling's "login and API token"): made once by
//! `users.tokenAdd`, stored hashed, listed without the secret, scoped and limited like their
//! user, and accepted as `AUTH`, as a bearer token, and in REST `Session/login` and
//! `auth_info`. A revoked token, a blocked user's token and a token of another realm are
//! refused at the next call, and a refused call changes nothing.

mod common;

use common::*;
use serde_json::{json, Value};
use tollgate::Engine;

/// `users.tokenAdd` for `user` by the caller with `sid`: the token.
fn token_for(e: &Engine, sid: &str, user: i64) -> String {
    let r = e.call(
        "users.tokenAdd",
        with_sid(sid, json!({"id_users": user, "name": "switch"})),
    );
    assert!(r.code, "{:?}", r.errors);
    assert_eq!(
        r.messages,
        vec!["the token is shown only now: store it safely"]
    );
    let token = r.ret["token"].as_str().expect("token").to_string();
    assert!(token.starts_with("tg_admin_"), "{token}");
    assert_eq!(token.len(), "tg_admin_".len() + 40);
    assert!(token.starts_with(r.ret["hint"].as_str().expect("hint")));
    token
}

fn with_token(e: &Engine, token: &str, method: &str, mut params: Value) -> tollgate::Envelope {
    params["AUTH"] = json!(token);
    e.call(method, params)
}

fn client_total(e: &Engine) -> i64 {
    e.call_as_system("clients.list", json!({})).ret["total"]
        .as_i64()
        .expect("total")
}

fn audit_text(w: &World) -> String {
    ok(
        &w.engine,
        "audit.list",
        with_sid(&w.admin, json!({"limit": 1000})),
    )
    .to_string()
}

#[test]
fn a_token_runs_as_its_user_on_every_front_door_and_is_never_shown_again() {
    let w = world();
    let e = &w.engine;
    let token = token_for(e, &w.admin, w.a.user);

    // AUTH in params: reseller A's rights and subtree, no session.
    let by_token = with_token(e, &token, "clients.list", json!({}));
    assert!(by_token.code, "{:?}", by_token.errors);
    assert_eq!(by_token.session_id, None);
    let by_sid = ok(e, "clients.list", with_sid(&w.res_a, json!({})));
    assert_eq!(by_token.ret, by_sid);
    // The same token as `Authorization: Bearer`.
    let bearer = e.call_with_bearer("clients.list", json!({}), &token);
    assert!(bearer.code, "{:?}", bearer.errors);
    assert_eq!(bearer.ret, by_sid);
    // Outside the subtree, as the user: not found.
    let r = with_token(e, &token, "clients.editForm", json!({"id": w.b.client}));
    assert_eq!(err(&r), "not_found");

    // A write by token is the user's, in the audit trail.
    let added = with_token(e, &token, "clients.add", json!({"name": "by token"}));
    assert!(added.code, "{:?}", added.errors);
    let audit = ok(
        e,
        "audit.list",
        with_sid(
            &w.admin,
            json!({"method": "clients.add", "desc": 1, "limit": 1}),
        ),
    );
    assert_eq!(audit["rows"][0]["id_users"], w.a.user, "{audit}");

    // Listed by hint, never by value; the audit trail names the row, not the token.
    let list = ok(
        e,
        "users.tokenList",
        with_sid(&w.admin, json!({"id_users": w.a.user})),
    );
    // The world gave each reseller one token already; the newest comes first.
    assert_eq!(list["total"], 2, "{list}");
    let row = &list["rows"][0];
    assert_eq!(row["login"], "res-a");
    assert_eq!(row["name"], "switch");
    assert_eq!(row["status"], "active");
    assert!(row.get("token").is_none(), "{row}");
    assert!(!list.to_string().contains(&token));
    let audit = audit_text(&w);
    assert!(audit.contains("users.tokenAdd"), "{audit}");
    assert!(!audit.contains(&token));

    // REST: bearer, `auth_info {login, token}`, and `Session/login {login, token}`.
    let (s, b) = e.rest("Customer", "get_customer_list", &json!({}), Some(&token));
    assert_eq!(s, 200, "{b}");
    assert_eq!(b["total"], by_sid["total"].as_i64().unwrap() + 1);
    let (s, b) = e.rest(
        "Customer",
        "get_customer_list",
        &json!({"auth_info": {"login": "res-a", "token": token}}),
        None,
    );
    assert_eq!(s, 200, "{b}");
    let (s, b) = e.rest(
        "Session",
        "login",
        &json!({"params": {"login": "res-a", "token": token}}),
        None,
    );
    assert_eq!(s, 200, "{b}");
    assert!(
        b["session_id"].is_string() && b["refresh_token"].is_string(),
        "{b}"
    );
    assert_eq!(b["expires_in"], 48 * 3600, "{b}");
    let access = b["access_token"].as_str().expect("access token");
    let (s, me) = e.rest(
        "Session",
        "ping",
        &json!({"params": {"access_token": access}}),
        None,
    );
    assert_eq!((s, me["user_id"].as_i64()), (200, Some(w.a.user)), "{me}");
    // ping takes the API token too.
    let (s, me) = e.rest(
        "Session",
        "ping",
        &json!({"params": {"access_token": token}}),
        None,
    );
    assert_eq!((s, me["user_id"].as_i64()), (200, Some(w.a.user)), "{me}");
    // The same in auth_info at login.
    let (s, b) = e.rest(
        "Session",
        "login",
        &json!({"auth_info": {"login": "res-a", "token": token}}),
        None,
    );
    assert_eq!(s, 200, "{b}");

    // Somebody else's login with this token: refused as a wrong password is.
    let (s, b) = e.rest(
        "Session",
        "login",
        &json!({"params": {"login": ADMIN, "token": token}}),
        None,
    );
    assert_eq!(s, 500);
    assert_eq!(b["faultcode"], "Server.Session.auth_failed", "{b}");
    let (s, b) = e.rest(
        "Customer",
        "get_customer_list",
        &json!({"auth_info": {"login": ADMIN, "token": token}}),
        None,
    );
    assert_eq!(s, 500);
    assert_eq!(
        b["faultcode"], "Client.Session.check_auth.failed_to_process_access_token",
        "{b}"
    );
}

#[test]
fn revoked_blocked_foreign_and_malformed_tokens_are_refused_and_change_nothing() {
    let w = world();
    let e = &w.engine;
    let token = token_for(e, &w.admin, w.a.user);
    assert!(with_token(e, &token, "clients.list", json!({})).code);
    let before = client_total(e);
    let refused = |t: &str, why: &str| {
        let r = with_token(e, t, "clients.add", json!({"name": "nope"}));
        assert_eq!(err(&r), "auth.token_invalid", "{t}");
        assert!(r.errors[0].message.contains(why), "{why}: {:?}", r.errors);
        let r = e.call_with_bearer("clients.add", json!({"name": "nope"}), t);
        assert_eq!(err(&r), "auth.token_invalid", "{t}");
        let (s, b) = e.rest(
            "Session",
            "login",
            &json!({"params": {"login": "res-a", "token": t}}),
            None,
        );
        assert_eq!(s, 500, "{b}");
        assert_eq!(b["faultcode"], "Server.Session.auth_failed", "{b}");
        assert!(b["faultstring"].as_str().unwrap().contains(why), "{b}");
    };

    // Blocked user: refused at the next call (the cached check is dropped), back when active.
    ok(
        e,
        "users.edit",
        with_sid(&w.admin, json!({"id": w.a.user, "status": "blocked"})),
    );
    refused(&token, "blocked");
    ok(
        e,
        "users.edit",
        with_sid(&w.admin, json!({"id": w.a.user, "status": "active"})),
    );
    assert!(with_token(e, &token, "clients.list", json!({})).code);

    // A role that loses a right: the token loses it with the next call.
    let weak = ok(
        e,
        "roles.add",
        with_sid(
            &w.admin,
            json!({"name": "reads", "permissions": {"clients": ["read"]}}),
        ),
    )["id"]
        .clone();
    ok(
        e,
        "users.edit",
        with_sid(&w.admin, json!({"id": w.a.user, "id_roles": weak})),
    );
    assert!(with_token(e, &token, "clients.list", json!({})).code);
    ok(
        e,
        "roles.edit",
        with_sid(
            &w.admin,
            json!({"id": weak, "permissions": {"accounts": ["read"]}}),
        ),
    );
    let r = with_token(e, &token, "clients.list", json!({}));
    assert_eq!(err(&r), "permission.denied");

    // Revoked: refused at once, everywhere; listed as revoked; revoking again is a no-op.
    let id = ok(
        e,
        "users.tokenList",
        with_sid(&w.admin, json!({"id_users": w.a.user})),
    )["rows"][0]["id"]
        .clone();
    ok(
        e,
        "users.tokenRevoke",
        with_sid(&w.admin, json!({"id": id})),
    );
    refused(&token, "revoked");
    let (s, b) = e.rest(
        "Session",
        "ping",
        &json!({"params": {"access_token": token}}),
        None,
    );
    assert_eq!((s, b["user_id"].as_i64()), (200, Some(0)), "{b}");
    let audits = |t: &str| t.matches("users.tokenRevoke").count();
    let once = audits(&audit_text(&w));
    assert_eq!(once, 1);
    ok(
        e,
        "users.tokenRevoke",
        with_sid(&w.admin, json!({"id": id})),
    );
    assert_eq!(audits(&audit_text(&w)), once, "a no-op writes no audit row");
    let row = &ok(e, "users.tokenList", with_sid(&w.admin, json!({})))["rows"][0];
    assert_eq!(row["status"], "revoked", "{row}");
    assert_eq!(row["revoked_by"], 1, "{row}");

    // Another realm, and shapes that are no token at all.
    let other_realm = format!("tg_customer_{}", &token["tg_admin_".len()..]);
    refused(&other_realm, "realm 'customer'");
    refused("tg_admin_short", "malformed");
    refused(&format!("tg_admin_{}", "a".repeat(40)), "unknown");
    let (s, b) = e.rest(
        "Session",
        "ping",
        &json!({"params": {"access_token": "tg_x"}}),
        None,
    );
    assert_eq!(s, 500, "{b}");

    // A deleted user's tokens go with it.
    let t2 = token_for(e, &w.admin, w.monitoring_user);
    assert!(with_token(e, &t2, "clients.list", json!({})).code);
    ok(
        e,
        "users.delete",
        with_sid(&w.admin, json!({"id": w.monitoring_user})),
    );
    let r = with_token(e, &t2, "clients.list", json!({}));
    assert_eq!(err(&r), "auth.token_invalid");

    assert_eq!(client_total(e), before, "no refused call added a client");
}

#[test]
fn tokens_are_made_and_revoked_only_within_the_callers_reach() {
    let w = world();
    let e = &w.engine;
    let a_token = token_for(e, &w.admin, w.a.user);
    let a_id = ok(e, "users.tokenList", with_sid(&w.admin, json!({})))["rows"][0]["id"].clone();
    // Reseller B sees neither A's user nor A's tokens.
    let r = e.call(
        "users.tokenAdd",
        with_sid(&w.res_b, json!({"id_users": w.a.user})),
    );
    assert_eq!(err(&r), "not_found");
    let r = e.call("users.tokenRevoke", with_sid(&w.res_b, json!({"id": a_id})));
    assert_eq!(err(&r), "not_found");
    let r = e.call(
        "users.tokenList",
        with_sid(&w.res_b, json!({"id_users": w.a.user})),
    );
    assert_eq!(err(&r), "not_found");
    let b_list = ok(e, "users.tokenList", with_sid(&w.res_b, json!({})));
    assert_eq!(b_list["total"], 1, "B's own token only: {b_list}");
    assert_eq!(b_list["rows"][0]["id_users"], w.b.user);
    // The operator's administrator is above reseller A.
    let r = e.call("users.tokenAdd", with_sid(&w.res_a, json!({"id_users": 1})));
    assert_eq!(err(&r), "not_found");
    // Reseller A lists its own subtree's tokens (its two and A1's), makes one for itself by
    // default.
    assert_eq!(
        ok(e, "users.tokenList", with_sid(&w.res_a, json!({})))["total"],
        3
    );
    let own = e.call("users.tokenAdd", with_sid(&w.res_a, json!({})));
    assert!(own.code, "{:?}", own.errors);
    assert_eq!(own.ret["id_users"], w.a.user);
    // Monitoring (read only) may not make tokens; a user with users.write may not make one
    // for a stronger user of its company.
    let r = e.call("users.tokenAdd", with_sid(&w.monitoring, json!({})));
    assert_eq!(err(&r), "permission.denied");
    let weak = user_with_rights(
        &w,
        w.a.company,
        "weak-a",
        json!({"users": ["read", "write"]}),
    );
    let r = e.call(
        "users.tokenAdd",
        with_sid(&weak, json!({"id_users": w.a.user})),
    );
    assert_eq!(err(&r), "permission.escalation");
    // The embedding process must say whose token it makes; bad arguments are refused.
    let r = e.call_as_system("users.tokenAdd", json!({}));
    assert_eq!(err(&r), "validation.required");
    let r = e.call_as_system("users.tokenAdd", json!({"id_users": 999}));
    assert_eq!(err(&r), "not_found");
    let r = e.call_as_system("users.tokenAdd", json!({"id_users": 1, "token": "mine"}));
    assert_eq!(err(&r), "validation.unknown_argument");
    // A blocked user gets no new token.
    ok(
        e,
        "users.edit",
        with_sid(&w.admin, json!({"id": w.b.user, "status": "blocked"})),
    );
    let r = e.call_as_system("users.tokenAdd", json!({"id_users": w.b.user}));
    assert_eq!(err(&r), "validation.invalid");
    // A's first token still works after all of that.
    assert!(with_token(e, &a_token, "clients.list", json!({})).code);
}

#[test]
fn tokens_survive_a_reopen_of_the_database() {
    let dir = tempfile::tempdir().unwrap();
    let path = &common::db_path(dir.path(), "billing.db");
    let token = {
        let e = Engine::create(path, ADMIN, ADMIN_PW).unwrap();
        let r = e.call_as_system("users.tokenAdd", json!({"id_users": 1}));
        assert!(r.code, "{:?}", r.errors);
        r.ret["token"].as_str().unwrap().to_string()
    };
    let e = Engine::open(path).unwrap();
    let r = with_token(&e, &token, "clients.list", json!({}));
    assert!(r.code, "the hashing key is the database's: {:?}", r.errors);
}

#[test]
fn portabilling_read_flags_are_accepted_and_honoured() {
    let w = world();
    let e = &w.engine;
    let (s, b) = e.rest(
        "Session",
        "login",
        &json!({"params": {"login": ADMIN, "password": ADMIN_PW}}),
        None,
    );
    assert_eq!(s, 200, "{b}");
    let t = b["access_token"].as_str().unwrap().to_string();
    let flags = json!({"with_aliases": 1, "get_total": 1, "detailed_info": 1,
                       "without_service_features": 1, "get_auth_info": 1});
    let with = |p: Value| {
        let mut p = p;
        for (k, v) in flags.as_object().unwrap() {
            p[k] = v.clone();
        }
        json!({ "params": p })
    };
    let (s, b) = e.rest(
        "Account",
        "get_account_info",
        &with(json!({"i_account": w.a.account})),
        Some(&t),
    );
    assert_eq!(s, 200, "{b}");
    assert_eq!(b["account_info"]["i_account"], w.a.account);
    assert_eq!(b["account_info"]["alias_list"], json!([]), "{b}");
    let (s, b) = e.rest(
        "Account",
        "get_account_list",
        &with(json!({"i_customer": w.a.client})),
        Some(&t),
    );
    assert_eq!(s, 200, "{b}");
    assert_eq!(b["total"], 1, "{b}");
    assert_eq!(b["account_list"][0]["alias_list"], json!([]), "{b}");
    let (s, b) = e.rest(
        "Customer",
        "get_customer_list",
        &with(json!({"limit": 1})),
        Some(&t),
    );
    assert_eq!(s, 200, "{b}");
    assert_eq!(b["customer_list"].as_array().unwrap().len(), 1);
    assert_eq!(b["total"], client_total(e), "{b}");
    // Flags off (0, "0", false) are accepted too; no alias list is asked for.
    let (s, b) = e.rest(
        "Account",
        "get_account_info",
        &json!({"params": {"i_account": w.a.account, "with_aliases": "0", "get_total": false}}),
        Some(&t),
    );
    assert_eq!(s, 200, "{b}");
    assert!(b["account_info"].get("alias_list").is_none(), "{b}");
    // A flag that is not 0 or 1, and a flag on a method that takes none.
    let (s, b) = e.rest(
        "Customer",
        "get_customer_list",
        &json!({"params": {"get_total": "yes"}}),
        Some(&t),
    );
    assert_eq!(s, 500);
    assert_eq!(
        b["faultcode"], "Client.Customer.get_customer_list.validation_invalid",
        "{b}"
    );
    let (s, b) = e.rest(
        "Customer",
        "get_customer_info",
        &json!({"params": {"i_customer": w.a.client, "get_total": 1}}),
        Some(&t),
    );
    assert_eq!(s, 500);
    assert_eq!(
        b["faultcode"], "Client.Customer.get_customer_info.validation_unknown_argument",
        "{b}"
    );
    // access_token as a parameter of logout ends that session.
    let (s, b) = e.rest(
        "Session",
        "logout",
        &json!({"params": {"access_token": t}}),
        None,
    );
    assert_eq!((s, &b["success"]), (200, &json!(1)), "{b}");
    let (s, b) = e.rest(
        "Session",
        "ping",
        &json!({"params": {"access_token": t}}),
        None,
    );
    assert_eq!((s, b["user_id"].as_i64()), (200, Some(0)), "{b}");
}
