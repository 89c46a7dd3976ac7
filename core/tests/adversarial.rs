//! The adversarial suite: each test is an attack an outside probe ran against a release build,
//! written as the attacker would run it, and asserting what the attacker must see now. Network
//! attacks (handler targets, slow clients) are in `adversarial_net.rs` and the server's tests;
//! money limits in `adversarial_money.rs`.

mod common;

use common::*;
use serde_json::{json, Value};
use std::sync::{Arc, Barrier, Mutex};
use tollgate::{Engine, EngineConfig, Event, Verdict};

/// A user with `core: execute` only: what a switch integration logs in as.
fn switch_user(w: &World, company: i64, login: &str) -> String {
    user_with_rights(w, company, login, json!({"core": ["execute"]}))
}

/// A `before` callback handler on `clients.update` owned by `company` (added by the operator,
/// who alone may add callbacks), answering `verdict` and counting the calls it heard.
fn before_callback(
    w: &World,
    company: i64,
    name: &str,
    verdict: impl Fn(&Event) -> Verdict + Send + Sync + 'static,
) -> Arc<Mutex<u32>> {
    let heard = Arc::new(Mutex::new(0u32));
    let count = heard.clone();
    w.engine
        .register_callback(
            name,
            Arc::new(move |ev: &Event| {
                *count.lock().unwrap() += 1;
                verdict(ev)
            }),
        )
        .unwrap();
    ok(
        &w.engine,
        "provisioning.add",
        with_sid(
            &w.admin,
            json!({"name": name, "id_companies": company, "event": "clients.update",
                   "stage": "before", "kind": "callback", "target": name}),
        ),
    );
    heard
}

fn client_form(w: &World, id: i64) -> Value {
    ok(
        &w.engine,
        "clients.editForm",
        with_sid(&w.admin, json!({"id": id})),
    )["client"]
        .clone()
}

// ------------------------------------------------- finding 1: handlers act within their owner

#[test]
fn a_resellers_before_handler_neither_rewrites_nor_vetoes_the_operators_calls() {
    let w = world();
    let (a, b) = (w.a.clone(), w.b.clone());
    let hijack = move |ev: &Event| {
        let mut data = ev.payload["data"].clone();
        data["id_companies"] = json!(b.company);
        data["credit"] = json!("5000");
        data["orig_rate_table"] = json!(b.rate_table);
        Verdict::Modify(data)
    };
    let heard = before_callback(&w, a.company, "a-hijack", hijack);

    // The operator edits A's client: A's handler does not hear it, and the edit is the
    // operator's own.
    ok(
        &w.engine,
        "clients.edit",
        with_sid(
            &w.admin,
            json!({"id": a.client, "name": "edited by the operator"}),
        ),
    );
    let c = client_form(&w, a.client);
    assert_eq!(c["name"], "edited by the operator");
    assert_eq!(c["id_companies"], json!(a.company), "moved into B's tenant");
    assert_eq!(
        c["credit"].to_string(),
        "10",
        "credit raised by a reseller's handler"
    );
    assert_eq!(
        c["orig_rate_table"],
        json!(a.rate_table),
        "set onto B's table"
    );
    assert_eq!(*heard.lock().unwrap(), 0, "A's handler heard the operator");

    // A's own call is heard; the rewrite runs with A's rights, which cannot reach B.
    let r = w.engine.call(
        "clients.edit",
        with_sid(&w.res_a, json!({"id": a.client, "name": "edited by A"})),
    );
    assert!(!r.code, "A's handler moved A's client into B: {}", r.ret);
    assert_eq!(*heard.lock().unwrap(), 1);
    let c = client_form(&w, a.client);
    assert_eq!(c["id_companies"], json!(a.company));
    assert_eq!(c["name"], "edited by the operator");
}

#[test]
fn a_resellers_forbidding_handler_cannot_block_the_operators_block_of_its_client() {
    let w = world();
    let heard = before_callback(&w, w.a.company, "a-veto", |_| {
        Verdict::Forbid("not my client".into())
    });
    ok(
        &w.engine,
        "clients.edit",
        with_sid(&w.admin, json!({"id": w.a.client, "status": "blocked"})),
    );
    assert_eq!(client_form(&w, w.a.client)["status"], "blocked");
    assert_eq!(*heard.lock().unwrap(), 0);
    // Inside its own subtree the veto still holds, for A's and A1's users alike.
    let r = w.engine.call(
        "clients.edit",
        with_sid(&w.res_a, json!({"id": w.a.client, "status": "active"})),
    );
    assert_eq!(err(&r), "handler.forbidden");
    let r = w.engine.call(
        "clients.edit",
        with_sid(&w.res_a1, json!({"id": w.a1.client, "name": "x"})),
    );
    assert_eq!(err(&r), "handler.forbidden");
    assert_eq!(*heard.lock().unwrap(), 2);
    // B's users are outside A's subtree: B's own edits never reach A's handler.
    ok(
        &w.engine,
        "clients.edit",
        with_sid(&w.res_b, json!({"id": w.b.client, "name": "x"})),
    );
    assert_eq!(*heard.lock().unwrap(), 2);
}

// ------------------------------------------ finding 3 and 7: call ids are the tenant's own

#[test]
fn a_settle_replay_of_another_tenants_call_id_answers_as_an_unknown_one() {
    let w = world();
    let e = &w.engine;
    let switch_b = switch_user(&w, w.b.company, "switch-b");
    let first = ok(
        e,
        "core.settle",
        with_sid(
            &w.admin,
            json!({"reservation": w.a.reservation, "call_id": "a-call-1", "duration": 30}),
        ),
    );
    assert_eq!(first["id_clients"], json!(w.a.client));

    let unknown = e.call(
        "core.settle",
        with_sid(
            &switch_b,
            json!({"call_id": "never-settled", "duration": 30}),
        ),
    );
    for duration in [30, 31] {
        let r = e.call(
            "core.settle",
            with_sid(
                &switch_b,
                json!({"call_id": "a-call-1", "duration": duration}),
            ),
        );
        assert!(!r.code, "B replayed A's call: {}", r.ret);
        assert_eq!(
            r.errors[0].code, unknown.errors[0].code,
            "duration {duration}"
        );
        assert_eq!(r.errors[0].message, unknown.errors[0].message);
        assert!(r.ret.get("balance").is_none());
    }
    // The same id given with an account of B is B's own call, not a conflict with A's.
    let r = ok(
        e,
        "core.settle",
        with_sid(
            &switch_b,
            json!({"call_id": "a-call-1", "duration": 30, "account": w.b.ident,
                   "auth_type": "login", "destination": "15550001",
                   "connect_time": "2026-03-01 11:59:00"}),
        ),
    );
    assert_eq!(r["id_clients"], json!(w.b.client));
    assert_eq!(r["replayed"], json!(false));
    // And A's replay still answers A's first result.
    let again = ok(
        e,
        "core.settle",
        with_sid(
            &w.admin,
            json!({"call_id": "a-call-1", "duration": 30, "account": w.a.ident,
               "auth_type": "login", "destination": "15550001",
               "connect_time": "2026-03-01 11:59:00"}),
        ),
    );
    assert_eq!(again["replayed"], json!(true));
    assert_eq!(again["id_xdrs"], first["id_xdrs"]);
}

#[test]
fn one_clients_idempotency_key_is_neither_seen_nor_taken_by_another() {
    let w = world();
    let e = &w.engine;
    let pay = |sid: &str, client: i64, amount: &str| {
        e.call(
            "transactions.add",
            with_sid(
                sid,
                json!({"id_clients": client, "type": "payment", "amount": amount,
                       "idempotency_key": "invoice-2026-001"}),
            ),
        )
    };
    // B takes the key first, as if to pre-empt A's real payment.
    assert!(pay(&w.res_b, w.b.client, "1").code);
    let r = pay(&w.res_a, w.a.client, "25");
    assert!(
        r.code,
        "A's payment refused because B used its key: {:?}",
        r.errors
    );
    assert_eq!(r.ret["transaction"]["replayed"], json!(false));
    // Within one client the key still protects against a double booking.
    let again = pay(&w.res_a, w.a.client, "25");
    assert_eq!(again.ret["transaction"]["replayed"], json!(true));
    assert_eq!(
        err(&pay(&w.res_a, w.a.client, "26")),
        "idempotency.conflict"
    );
}

#[test]
fn a_duplicate_login_or_ident_from_another_tenant_answers_like_ones_own() {
    let w = world();
    let e = &w.engine;
    // A duplicate of one's own object and of another tenant's give the same answer, and
    // neither names the other object.
    let own = e.call(
        "accounts.add",
        with_sid(
            &w.res_a,
            json!({"id_clients": w.a.client, "name": "x", "auth_type": "login", "ident": "acc-a"}),
        ),
    );
    let other = e.call(
        "accounts.add",
        with_sid(
            &w.res_a,
            json!({"id_clients": w.a.client, "name": "x", "auth_type": "login", "ident": "acc-b"}),
        ),
    );
    assert_eq!(err(&own), "validation.duplicate");
    assert_eq!(err(&other), "validation.duplicate");
    assert_eq!(
        own.errors[0].message.replace("acc-a", "?"),
        other.errors[0].message.replace("acc-b", "?")
    );
    assert!(!other.errors[0].message.contains(&w.b.account.to_string()));
    let login = e.call(
        "users.add",
        with_sid(
            &w.res_a,
            json!({"login": "res-b", "password": USER_PW, "id_roles": ROLE_RESELLER}),
        ),
    );
    assert_eq!(err(&login), "validation.duplicate");
    assert!(!login.errors[0].message.contains(&w.b.company.to_string()));
}

// -------------------------------------------------------- finding 4: the lockout holds in parallel

fn parallel_logins(e: &Engine, passwords: &[String]) -> Vec<String> {
    let start = Barrier::new(passwords.len());
    std::thread::scope(|s| {
        let handles: Vec<_> = passwords
            .iter()
            .map(|p| {
                let start = &start;
                s.spawn(move || {
                    start.wait();
                    let r = e.call("auth.login", json!({"login": ADMIN, "password": p}));
                    if r.code {
                        "ok".to_string()
                    } else {
                        r.errors[0].code.as_str().to_string()
                    }
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    })
}

#[test]
fn a_parallel_burst_of_guesses_checks_at_most_the_allowed_number() {
    let config = EngineConfig {
        login_lock_seconds: 600,
        ..EngineConfig::default()
    };
    let (e, _clock) = engine_with(config);
    let guesses: Vec<String> = (0..64).map(|i| format!("guess-{i}")).collect();
    let answers = parallel_logins(&e, &guesses);
    let failed = answers.iter().filter(|a| *a == "auth.failed").count();
    assert!(
        failed <= 9,
        "{failed} guesses were checked before the lock held: {answers:?}"
    );
    assert!(answers
        .iter()
        .all(|a| a == "auth.failed" || a == "auth.locked"));
    // The burst locked the login: the right password is refused now.
    assert_eq!(
        err(&e.call("auth.login", json!({"login": ADMIN, "password": ADMIN_PW}))),
        "auth.locked"
    );
}

#[test]
fn the_right_password_behind_a_burst_of_guesses_is_refused() {
    let (e, _clock) = engine();
    let e = &e;
    let answers = std::thread::scope(|s| {
        let guesses: Vec<_> = (0..39)
            .map(|i| {
                s.spawn(move || {
                    e.call(
                        "auth.login",
                        json!({"login": ADMIN, "password": format!("g{i}")}),
                    )
                })
            })
            .collect();
        // The guesses are counted the moment they arrive, long before their hashes finish.
        std::thread::sleep(std::time::Duration::from_millis(200));
        let right = e.call("auth.login", json!({"login": ADMIN, "password": ADMIN_PW}));
        for g in guesses {
            g.join().unwrap();
        }
        right
    });
    assert_eq!(err(&answers), "auth.locked", "the 40th parallel try got in");
}

// ------------------------------------------------ finding 5a: password work per request

#[test]
fn a_batch_of_logins_spends_one_password_check() {
    let (e, _clock) = engine();
    let unknown: Vec<Value> = (0..100)
        .map(|i| {
            json!({"jsonrpc": "2.0", "id": i, "method": "clients.list",
                   "params": {"auth": {"login": format!("nobody-{i}"), "password": "x"}}})
        })
        .collect();
    let replies: Vec<Value> =
        serde_json::from_str(&e.call_jsonrpc(&Value::Array(unknown).to_string())).unwrap();
    let codes: Vec<&str> = replies
        .iter()
        .map(|r| r["result"]["errors"][0]["code"].as_str().unwrap())
        .collect();
    assert_eq!(codes[0], "auth.failed");
    assert!(codes[1..].iter().all(|c| *c == "auth.busy"), "{codes:?}");

    // The same wrong password a hundred times in one batch is one attempt, not a hundred:
    // the login is not locked afterwards.
    let same: Vec<Value> = (0..100)
        .map(|i| {
            json!({"jsonrpc": "2.0", "id": i, "method": "clients.list",
                   "params": {"auth": {"login": ADMIN, "password": "wrong-one"}}})
        })
        .collect();
    let replies: Vec<Value> =
        serde_json::from_str(&e.call_jsonrpc(&Value::Array(same).to_string())).unwrap();
    assert!(replies
        .iter()
        .all(|r| r["result"]["errors"][0]["code"] == "auth.failed"));
    sid(&e, ADMIN, ADMIN_PW);

    // Right credentials repeated in a batch reuse the first item's session.
    let good: Vec<Value> = (0..3)
        .map(|i| {
            json!({"jsonrpc": "2.0", "id": i, "method": "clients.list",
                   "params": {"auth": {"login": ADMIN, "password": ADMIN_PW}}})
        })
        .collect();
    let replies: Vec<Value> =
        serde_json::from_str(&e.call_jsonrpc(&Value::Array(good).to_string())).unwrap();
    let sids: Vec<&Value> = replies.iter().map(|r| &r["result"]["session_id"]).collect();
    assert!(replies.iter().all(|r| r["result"]["code"] == json!(true)));
    assert!(sids.iter().all(|s| *s == sids[0] && s.is_string()));
}

// ------------------------------------------------------- finding 8: no SQL in replies

#[test]
fn unknown_filters_and_nulls_are_validation_errors_not_sql() {
    let w = world();
    let e = &w.engine;
    for method in [
        "audit.list",
        "users.list",
        "transactions.list",
        "rates.list",
        "xdrs.list",
        "currencies.ratesList",
        "subscriptions.list",
    ] {
        let r = e.call(method, with_sid(&w.admin, json!({"q": "x"})));
        assert_eq!(err(&r), "validation.unknown_argument", "{method}");
        assert!(!r.errors[0].message.to_lowercase().contains("column"));
    }
    // Entities with a name still search by it.
    assert_eq!(
        ok(
            e,
            "clients.list",
            with_sid(&w.admin, json!({"q": "client b"}))
        )["total"],
        json!(1)
    );
    let r = e.call(
        "clients.edit",
        with_sid(&w.admin, json!({"id": w.a.client, "credit": null})),
    );
    assert_eq!(err(&r), "validation.required");
    assert!(!r.errors[0].message.contains("NOT NULL"));
    assert_eq!(client_form(&w, w.a.client)["credit"].to_string(), "10");
}

#[test]
fn a_storage_failure_shows_a_reference_never_sql() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.db");
    let path = path.to_str().unwrap();
    drop(Engine::create(path, ADMIN, ADMIN_PW).unwrap());
    {
        let conn = rusqlite::Connection::open(path).unwrap();
        conn.execute_batch("DROP TABLE handler_logs").unwrap();
    }
    let e = Engine::open(path).unwrap();
    let s = sid(&e, ADMIN, ADMIN_PW);
    let r = e.call("provisioning.logs", with_sid(&s, json!({})));
    assert_eq!(err(&r), "store.io");
    let m = &r.errors[0].message;
    assert!(m.contains("reference"), "{m}");
    for leak in ["SELECT", "WITH", "no such", "handler_logs", "table"] {
        assert!(!m.contains(leak), "{m}");
    }
}

// ------------------------------------------------------- finding 9: logins that look alike

#[test]
fn logins_with_invisible_characters_are_refused_and_logins_are_nfc() {
    let w = world();
    let e = &w.engine;
    for login in [
        "admin\u{200b}",
        "evil\u{202e}nimda",
        "ad\u{200d}min",
        "admin\u{feff}",
        "ad\u{00ad}min",
        "admin\u{2028}",
        "admin\u{0007}",
        "adm\u{e000}in",
        "ad min",
        "admin\u{3000}",
    ] {
        let r = e.call(
            "users.add",
            with_sid(
                &w.admin,
                json!({"login": login, "password": USER_PW, "id_roles": ROLE_MONITORING}),
            ),
        );
        assert_eq!(err(&r), "validation.invalid", "{login:?} accepted");
    }
    // A decomposed é is stored composed; either spelling logs in.
    ok(
        e,
        "users.add",
        with_sid(
            &w.admin,
            json!({"login": "jose\u{301}", "password": USER_PW, "id_roles": ROLE_MONITORING}),
        ),
    );
    let list = ok(
        e,
        "users.list",
        with_sid(&w.admin, json!({"login": "jos\u{e9}"})),
    );
    assert_eq!(list["total"], json!(1));
    sid(e, "jos\u{e9}", USER_PW);
    sid(e, "jose\u{301}", USER_PW);
    assert!(Engine::create(":memory:", "root\u{200b}", ADMIN_PW).is_err());
}
