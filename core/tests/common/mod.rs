//! Shared set-up for the integration tests. The reseller world: an operator, two sibling
//! resellers (A and B), a
//! sub-reseller of A (A1), a monitoring user and an API-portal user, each with clients and
//! accounts of its own.
#![allow(dead_code)]

pub mod session;

use chrono::{TimeZone, Utc};
use serde_json::{json, Value};
use std::sync::Arc;
use tollgate::{Engine, EngineConfig, EngineOptions, Envelope, ManualClock};

pub const ADMIN: &str = "admin";
pub const ADMIN_PW: &str = "admin-passw0rd";
pub const USER_PW: &str = "user-passw0rd";

/// Built-in role ids (migration 2).
pub const ROLE_ADMINISTRATOR: i64 = 1;
pub const ROLE_RESELLER: i64 = 2;
pub const ROLE_MONITORING: i64 = 3;
pub const ROLE_API_PORTAL: i64 = 4;

pub fn clock() -> Arc<ManualClock> {
    Arc::new(ManualClock::new(
        Utc.with_ymd_and_hms(2026, 3, 1, 12, 0, 0).unwrap(),
    ))
}

pub fn options(clock: &Arc<ManualClock>, config: EngineConfig) -> EngineOptions {
    EngineOptions {
        clock: clock.clone(),
        config,
        vfs: None,
    }
}

/// Where a test's fresh database lives: an in-memory SQLite database, or with
/// `TOLLGATE_TEST_BACKEND=postgres` a new database on the server `TOLLGATE_TEST_PG` names
/// (scripts/pg-cluster.sh starts one): the same behaviour tests run on both stores.
pub fn fresh_target() -> String {
    match std::env::var("TOLLGATE_TEST_BACKEND").as_deref() {
        Ok("postgres") => fresh_pg_database(),
        _ => ":memory:".to_string(),
    }
}

/// The database a test that reopens its database uses: `dir/name` (an SQLite file), or with
/// `TOLLGATE_TEST_BACKEND=postgres` a fresh database on the test server (its URL opens again
/// the same way, from this process or another).
pub fn db_path(dir: &std::path::Path, name: &str) -> String {
    if on_postgres() {
        fresh_pg_database()
    } else {
        dir.join(name).to_str().unwrap().to_string()
    }
}

/// Is this run on PostgreSQL?
pub fn on_postgres() -> bool {
    std::env::var("TOLLGATE_TEST_BACKEND").as_deref() == Ok("postgres")
}

/// A new, empty database on the test server; its URL.
#[cfg(not(feature = "postgres"))]
pub fn fresh_pg_database() -> String {
    panic!("TOLLGATE_TEST_BACKEND=postgres needs the `postgres` feature (cargo test --features postgres)")
}

/// A new, empty database on the test server; its URL.
#[cfg(feature = "postgres")]
pub fn fresh_pg_database() -> String {
    tollgate::store::pg_testing::fresh_test_database("tg").unwrap()
}

pub fn engine_with(config: EngineConfig) -> (Engine, Arc<ManualClock>) {
    let c = clock();
    let e = Engine::create_with(&fresh_target(), ADMIN, ADMIN_PW, options(&c, config)).unwrap();
    (e, c)
}

pub fn engine() -> (Engine, Arc<ManualClock>) {
    engine_with(EngineConfig::default())
}

/// Call and insist on success.
pub fn ok(e: &Engine, method: &str, params: Value) -> Value {
    let r = e.call(method, params.clone());
    assert!(r.code, "{method} {params} failed: {:?}", r.errors);
    r.ret
}

/// Call and return the first error code.
pub fn err(r: &Envelope) -> &'static str {
    assert!(!r.code, "expected a refusal, got {}", r.ret);
    r.errors[0].code.as_str()
}

/// Log in through the Management API and return the SID.
pub fn sid(e: &Engine, login: &str, password: &str) -> String {
    let r = e.call("auth.login", json!({"login": login, "password": password}));
    assert!(r.code, "login {login}: {:?}", r.errors);
    r.session_id.unwrap()
}

pub fn with_sid(sid: &str, mut params: Value) -> Value {
    params["SID"] = json!(sid);
    params
}

/// One tenant's objects.
#[derive(Debug, Clone)]
pub struct Tenant {
    pub company: i64,
    pub client: i64,
    pub account: i64,
    pub user: i64,
    /// The login ident of `account`.
    pub ident: String,
    /// A rate table of the company, used by `client`, with one rate.
    pub rate_table: i64,
    pub rate: i64,
    /// An open reservation of a call by `account`.
    pub reservation: u64,
    /// A free package of the company, and `client`'s subscription to it.
    pub package: i64,
    pub subscription: i64,
    /// A (disabled) provisioning handler of the company.
    pub handler: i64,
    /// A tax profile of the company, and an invoice of `client` (January 2026).
    pub tax_profile: i64,
    pub invoice: i64,
    /// An API token of `user` (`users.tokenAdd`): its row id.
    pub api_token: i64,
}

/// A tax profile of `company` and a January invoice of `client`.
fn billing(e: &Engine, admin: &str, company: i64, client: i64, tag: &str) -> (i64, i64) {
    let tax_profile = ok(
        e,
        "taxProfiles.add",
        with_sid(
            admin,
            json!({"name": format!("vat {tag}"), "id_companies": company, "percent": "20"}),
        ),
    )["id"]
        .as_i64()
        .unwrap();
    let invoice = ok(
        e,
        "invoices.add",
        with_sid(
            admin,
            json!({"id_clients": client, "dt_from": "2026-01-01", "dt_till": "2026-02-01"}),
        ),
    )["id"]
        .as_i64()
        .unwrap();
    (tax_profile, invoice)
}

/// Give a tenant a rate table (code 1 at 0.6 per minute) used by its client, and open one
/// call reservation on its account.
fn money(
    e: &Engine,
    admin: &str,
    company: i64,
    client: i64,
    ident: &str,
) -> (i64, i64, u64, i64, i64) {
    let table = ok(
        e,
        "rateTables.add",
        with_sid(
            admin,
            json!({"name": format!("rt {ident}"), "id_companies": company}),
        ),
    )["id"]
        .as_i64()
        .unwrap();
    let rate = ok(
        e,
        "rates.add",
        with_sid(admin, json!({"id_rate_tables": table, "code": "1", "rate": "0.6", "effective_from": "2020-01-01"})),
    )["id"]
        .as_i64()
        .unwrap();
    ok(
        e,
        "clients.edit",
        with_sid(
            admin,
            json!({"id": client, "orig_rate_table": table, "credit": "10"}),
        ),
    );
    let auth = e
        .authorize(&tollgate::AuthorizeRequest {
            account: ident.to_string(),
            auth_type: Some("login".into()),
            destination: "15550001".into(),
            ..Default::default()
        })
        .unwrap();
    let package = ok(
        e,
        "packages.add",
        with_sid(
            admin,
            json!({"name": format!("free {ident}"), "id_companies": company}),
        ),
    )["id"]
        .as_i64()
        .unwrap();
    let subscription = ok(
        e,
        "clients.packagesAdd",
        with_sid(admin, json!({"id_clients": client, "id_packages": package})),
    )["id"]
        .as_i64()
        .unwrap();
    (table, rate, auth.reservation, package, subscription)
}

/// The reseller tree used across tests.
pub struct World {
    pub engine: Engine,
    pub clock: Arc<ManualClock>,
    pub admin: String,
    pub op: Tenant,
    pub a: Tenant,
    pub a1: Tenant,
    pub b: Tenant,
    /// SIDs of the resellers' admins, the monitoring user (company A) and the API-portal
    /// user (company A1).
    pub res_a: String,
    pub res_a1: String,
    pub res_b: String,
    pub monitoring: String,
    pub monitoring_user: i64,
    pub api_portal: String,
    pub api_portal_user: i64,
}

fn tenant(e: &Engine, admin: &str, company: i64, tag: &str) -> Tenant {
    let client = ok(
        e,
        "clients.add",
        with_sid(
            admin,
            json!({"name": format!("client {tag}"), "id_companies": company, "credit": "10"}),
        ),
    )["id"]
        .as_i64()
        .unwrap();
    let account = ok(
        e,
        "accounts.add",
        with_sid(admin, json!({"id_clients": client, "name": format!("acc {tag}"), "auth_type": "login", "ident": format!("acc-{tag}")})),
    )["id"]
        .as_i64()
        .unwrap();
    let user = ok(
        e,
        "users.add",
        with_sid(admin, json!({"login": format!("res-{tag}"), "password": USER_PW, "id_roles": ROLE_RESELLER, "id_companies": company})),
    )["id"]
        .as_i64()
        .unwrap();
    let ident = format!("acc-{tag}");
    let (rate_table, rate, reservation, package, subscription) =
        money(e, admin, company, client, &ident);
    let handler = handler(e, admin, company, tag);
    let (tax_profile, invoice) = billing(e, admin, company, client, tag);
    let api_token = api_token(e, admin, user);
    Tenant {
        company,
        client,
        account,
        user,
        ident,
        rate_table,
        rate,
        reservation,
        package,
        subscription,
        handler,
        tax_profile,
        invoice,
        api_token,
    }
}

/// An API token for `user`: its row id.
fn api_token(e: &Engine, admin: &str, user: i64) -> i64 {
    ok(
        e,
        "users.tokenAdd",
        with_sid(admin, json!({"id_users": user, "name": "tenant token"})),
    )["id"]
        .as_i64()
        .unwrap()
}

/// A disabled HTTP handler of `company` (disabled: the tests that use the world deliver
/// nothing anywhere).
fn handler(e: &Engine, admin: &str, company: i64, tag: &str) -> i64 {
    ok(
        e,
        "provisioning.add",
        with_sid(
            admin,
            json!({"name": format!("hook {tag}"), "id_companies": company, "event": "clients.update", "target": format!("https://hooks.example.com/{tag}"), "status": "disabled"}),
        ),
    )["id"]
        .as_i64()
        .unwrap()
}

pub fn world() -> World {
    world_with(EngineConfig::default())
}

pub fn world_with(config: EngineConfig) -> World {
    let (engine, clock) = engine_with(config);
    let e = &engine;
    let admin = sid(e, ADMIN, ADMIN_PW);
    let company = |name: &str, parent: i64| {
        ok(
            e,
            "companies.add",
            with_sid(&admin, json!({"name": name, "parent_id": parent})),
        )["id"]
            .as_i64()
            .unwrap()
    };
    let ca = company("Reseller A", 1);
    let ca1 = company("Sub-reseller A1", ca);
    let cb = company("Reseller B", 1);
    let client = ok(
        e,
        "clients.add",
        with_sid(&admin, json!({"name": "operator's client"})),
    )["id"]
        .as_i64()
        .unwrap();
    let account = ok(
        e,
        "accounts.add",
        with_sid(
            &admin,
            json!({"id_clients": client, "name": "op acc", "ident": "acc-op"}),
        ),
    )["id"]
        .as_i64()
        .unwrap();
    let (rate_table, rate, reservation, package, subscription) =
        money(e, &admin, 1, client, "acc-op");
    let (tax_profile, invoice) = billing(e, &admin, 1, client, "op");
    let op = Tenant {
        company: 1,
        client,
        account,
        user: 1,
        ident: "acc-op".into(),
        rate_table,
        rate,
        reservation,
        package,
        subscription,
        handler: handler(e, &admin, 1, "op"),
        tax_profile,
        invoice,
        api_token: api_token(e, &admin, 1),
    };
    let a = tenant(e, &admin, ca, "a");
    let a1 = tenant(e, &admin, ca1, "a1");
    let b = tenant(e, &admin, cb, "b");
    let monitoring_user = ok(
        e,
        "users.add",
        with_sid(&admin, json!({"login": "mon-a", "password": USER_PW, "id_roles": ROLE_MONITORING, "id_companies": ca})),
    )["id"]
        .as_i64()
        .unwrap();
    let api_portal_user = ok(
        e,
        "users.add",
        with_sid(&admin, json!({"login": "api-a1", "password": USER_PW, "id_roles": ROLE_API_PORTAL, "id_companies": ca1})),
    )["id"]
        .as_i64()
        .unwrap();
    World {
        res_a: sid(e, "res-a", USER_PW),
        res_a1: sid(e, "res-a1", USER_PW),
        res_b: sid(e, "res-b", USER_PW),
        monitoring: sid(e, "mon-a", USER_PW),
        api_portal: sid(e, "api-a1", USER_PW),
        monitoring_user,
        api_portal_user,
        engine,
        clock,
        admin,
        op,
        a,
        a1,
        b,
    }
}

/// A user of `company` whose own role grants exactly `permissions` (e.g. a switch integration
/// with `{"core": ["execute"]}`), logged in: its SID.
pub fn user_with_rights(w: &World, company: i64, login: &str, permissions: Value) -> String {
    let e = &w.engine;
    let role = ok(
        e,
        "roles.add",
        with_sid(
            &w.admin,
            json!({"name": format!("role of {login}"), "permissions": permissions}),
        ),
    )["id"]
        .as_i64()
        .unwrap();
    ok(
        e,
        "users.add",
        with_sid(
            &w.admin,
            json!({"login": login, "password": USER_PW, "id_roles": role, "id_companies": company}),
        ),
    );
    sid(e, login, USER_PW)
}
