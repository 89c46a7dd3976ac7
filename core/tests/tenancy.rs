//! Tenant isolation: the authorization matrix of every registered method against every kind
//! of principal (reliability.md §4c). The figure — cross-tenant operations allowed out of
//! those tried — must be 0, and a foreign object must answer exactly like a missing one.

mod common;

use common::*;
use serde_json::{json, Value};
use std::collections::BTreeSet;

/// What one attempt tries.
enum Attempt {
    /// Reaching a foreign object (or putting something into a foreign company): must be
    /// refused, with the same answer as the same call naming a missing id in `id_field`.
    Object {
        params: Value,
        id_field: &'static str,
    },
    /// A list: no row may lie outside the caller's subtree.
    List { params: Value, key: ListKey },
    /// A CSV download (file method): no row may lie outside the caller's subtree.
    File {
        params: Value,
        client_column: &'static str,
    },
    /// Changing rows shared by every tenant (currencies, custom fields, roles): operator only.
    Shared { params: Value },
    /// A file method naming a foreign object: refused, with the same answer as a missing id
    /// in `id_field`, and no bytes written.
    FileObject {
        params: Value,
        id_field: &'static str,
    },
    /// Reaching a foreign account or reservation by its identifier: must be refused with the
    /// code a missing one gets.
    Hidden { params: Value, code: &'static str },
    /// Importing a call of a foreign account: the call is answered, its line refused with the
    /// code a missing account gets, and nothing imported.
    Imported { params: Value, code: &'static str },
}

thread_local! {
    /// The xDR of each tenant's charged call, by client.
    static XDR_OF: std::cell::RefCell<std::collections::HashMap<i64, i64>> = Default::default();
}

fn xdr_of(client: i64) -> i64 {
    XDR_OF.with(|m| m.borrow().get(&client).copied().unwrap_or(0))
}

#[derive(Clone, Copy)]
enum ListKey {
    SelfId,
    Company,
    Client,
    RateTable,
}

struct Actor<'a> {
    name: &'static str,
    sid: &'a str,
    own: &'a Tenant,
    subtree: Vec<&'a Tenant>,
    foreign: Vec<&'a Tenant>,
    operator: bool,
}

struct Shared {
    currency: i64,
    rate: i64,
    field: i64,
    role: i64,
}

fn attempts(method: &str, own: &Tenant, t: &Tenant, n: &mut u32, s: &Shared) -> Vec<Attempt> {
    use Attempt::*;
    *n += 1;
    let uniq = format!("x{n}");
    let obj = |params: Value, id_field| Object { params, id_field };
    match method {
        "auth.login" | "auth.logout" => vec![], // no tenant object involved
        "companies.add" => vec![obj(
            json!({"name": uniq, "parent_id": t.company}),
            "parent_id",
        )],
        "companies.edit" => vec![obj(json!({"id": t.company, "name": uniq}), "id")],
        "companies.editForm" | "companies.delete" => vec![obj(json!({"id": t.company}), "id")],
        "companies.list" => vec![
            List {
                params: json!({}),
                key: ListKey::SelfId,
            },
            List {
                params: json!({"parent_id": t.company}),
                key: ListKey::SelfId,
            },
            List {
                params: json!({"id": t.company}),
                key: ListKey::SelfId,
            },
        ],
        "clients.add" => vec![obj(
            json!({"name": uniq, "id_companies": t.company}),
            "id_companies",
        )],
        "clients.edit" => vec![
            obj(json!({"id": t.client, "name": uniq}), "id"),
            obj(
                json!({"id": own.client, "id_companies": t.company}),
                "id_companies",
            ),
            obj(
                json!({"id": own.client, "id_taxes_profiles": t.tax_profile}),
                "id_taxes_profiles",
            ),
        ],
        "clients.editForm" | "clients.delete" | "clients.archive" | "clients.fieldsList" => {
            vec![obj(json!({"id": t.client}), "id")]
        }
        "clients.fieldsUpdate" => vec![obj(json!({"id": t.client, "fields": []}), "id")],
        "clients.list" => vec![
            List {
                params: json!({}),
                key: ListKey::Company,
            },
            List {
                params: json!({"id_companies": t.company}),
                key: ListKey::Company,
            },
            List {
                params: json!({"id": t.client}),
                key: ListKey::Company,
            },
            List {
                params: json!({"q": "client"}),
                key: ListKey::Company,
            },
        ],
        "accounts.add" => vec![obj(
            json!({"id_clients": t.client, "name": uniq, "ident": uniq}),
            "id_clients",
        )],
        "accounts.edit" => vec![obj(json!({"id": t.account, "name": uniq}), "id")],
        "accounts.editForm" | "accounts.delete" => vec![obj(json!({"id": t.account}), "id")],
        "accounts.list" => vec![
            List {
                params: json!({}),
                key: ListKey::Client,
            },
            List {
                params: json!({"id_clients": t.client}),
                key: ListKey::Client,
            },
            List {
                params: json!({"ident": "acc-op"}),
                key: ListKey::Client,
            },
        ],
        "users.add" => vec![obj(
            json!({"login": uniq, "password": USER_PW, "id_roles": ROLE_API_PORTAL, "id_companies": t.company}),
            "id_companies",
        )],
        "users.edit" => vec![
            obj(json!({"id": t.user, "status": "blocked"}), "id"),
            obj(
                json!({"id": own.user, "id_companies": t.company}),
                "id_companies",
            ),
        ],
        "users.editForm" | "users.delete" => vec![obj(json!({"id": t.user}), "id")],
        "users.tokenAdd" | "users.tokenList" => vec![obj(json!({"id_users": t.user}), "id_users")],
        "users.tokenRevoke" => vec![obj(json!({"id": t.api_token}), "id")],
        "users.passwordChange" => {
            vec![obj(json!({"id": t.user, "password": "new-passw0rd"}), "id")]
        }
        "users.list" => vec![
            List {
                params: json!({}),
                key: ListKey::Company,
            },
            List {
                params: json!({"id_companies": t.company}),
                key: ListKey::Company,
            },
            List {
                params: json!({"login": "admin"}),
                key: ListKey::Company,
            },
        ],
        "audit.list" => vec![
            List {
                params: json!({}),
                key: ListKey::Company,
            },
            List {
                params: json!({"id_companies": t.company}),
                key: ListKey::Company,
            },
        ],
        // Shared rows: reading them crosses no tenant; changing them reaches every tenant.
        "currencies.editForm"
        | "currencies.list"
        | "currencies.ratesList"
        | "currencies.convert"
        | "customFields.editForm"
        | "customFields.list"
        | "roles.editForm"
        | "roles.list" => vec![],
        "currencies.add" => vec![Shared {
            params: json!({"code": "JPY", "name": uniq}),
        }],
        "currencies.edit" => vec![Shared {
            params: json!({"id": s.currency, "name": uniq}),
        }],
        "currencies.delete" => vec![Shared {
            params: json!({"id": s.currency}),
        }],
        "currencies.ratesAdd" => vec![Shared {
            params: json!({"from": 1, "to": s.currency, "rate": "2"}),
        }],
        "currencies.ratesDelete" => vec![Shared {
            params: json!({"id": s.rate}),
        }],
        "customFields.add" => vec![Shared {
            params: json!({"name": uniq}),
        }],
        "customFields.edit" => vec![Shared {
            params: json!({"id": s.field, "name": uniq}),
        }],
        "customFields.delete" => vec![Shared {
            params: json!({"id": s.field}),
        }],
        "roles.add" => vec![Shared {
            params: json!({"name": uniq, "permissions": {}}),
        }],
        "roles.edit" => vec![Shared {
            params: json!({"id": s.role, "name": uniq}),
        }],
        "roles.delete" => vec![Shared {
            params: json!({"id": s.role}),
        }],
        "rateTables.add" => vec![obj(
            json!({"name": uniq, "id_companies": t.company}),
            "id_companies",
        )],
        "rateTables.edit" => vec![obj(json!({"id": t.rate_table, "name": uniq}), "id")],
        "rateTables.editForm" | "rateTables.delete" => vec![obj(json!({"id": t.rate_table}), "id")],
        "rateTables.list" => vec![
            List {
                params: json!({}),
                key: ListKey::Company,
            },
            List {
                params: json!({"id_companies": t.company}),
                key: ListKey::Company,
            },
            List {
                params: json!({"id": t.rate_table}),
                key: ListKey::Company,
            },
        ],
        "rates.add" => vec![obj(
            json!({"id_rate_tables": t.rate_table, "code": "44", "rate": "0.1"}),
            "id_rate_tables",
        )],
        "rates.import" => vec![obj(
            json!({"id_rate_tables": t.rate_table, "csv": "code,code_name,rate,min_volume,interval,grace_volume,setup_fee,effective_from,effective_till\n49,DE,0.1,0,1,0,0,2020-01-01,\n"}),
            "id_rate_tables",
        )],
        "rates.edit" => vec![obj(json!({"id": t.rate, "rate": "0.2"}), "id")],
        "rates.editForm" | "rates.delete" => vec![obj(json!({"id": t.rate}), "id")],
        "rates.list" => vec![
            List {
                params: json!({}),
                key: ListKey::RateTable,
            },
            List {
                params: json!({"id_rate_tables": t.rate_table}),
                key: ListKey::RateTable,
            },
            List {
                params: json!({"code": "1"}),
                key: ListKey::RateTable,
            },
        ],
        "transactions.add" => vec![obj(
            json!({"id_clients": t.client, "type": "payment", "amount": "1"}),
            "id_clients",
        )],
        "transactions.list" | "xdrs.list" => vec![
            List {
                params: json!({}),
                key: ListKey::Client,
            },
            List {
                params: json!({"id_clients": t.client}),
                key: ListKey::Client,
            },
        ],
        "xdrs.download" => vec![
            File {
                params: json!({}),
                client_column: "id_clients",
            },
            File {
                params: json!({"id_clients": t.client}),
                client_column: "id_clients",
            },
            File {
                params: json!({"id_accounts": t.account}),
                client_column: "id_clients",
            },
        ],
        "core.authorize" => vec![Hidden {
            params: json!({"account": t.ident, "destination": "15550002"}),
            code: "account.not_found",
        }],
        "core.update" | "core.release" => vec![Hidden {
            params: json!({"reservation": t.reservation}),
            code: "reservation.not_found",
        }],
        "core.settle" => vec![
            Hidden {
                params: json!({"reservation": t.reservation, "call_id": uniq, "duration": 10}),
                code: "reservation.not_found",
            },
            Hidden {
                params: json!({"account": t.ident, "destination": "15550003", "connect_time": "2026-01-15 11:00:00", "call_id": format!("{uniq}u"), "duration": 10}),
                code: "account.not_found",
            },
            // A replay of the tenant's settled call by its id alone, with the first call's
            // duration and with another: both answer as a call id never settled.
            Hidden {
                params: json!({"call_id": format!("matrix-{}", t.ident), "duration": 30}),
                code: "validation.required",
            },
            Hidden {
                params: json!({"call_id": format!("matrix-{}", t.ident), "duration": 31}),
                code: "validation.required",
            },
        ],
        "packages.add" => vec![obj(
            json!({"name": uniq, "id_companies": t.company}),
            "id_companies",
        )],
        "packages.edit" => vec![obj(json!({"id": t.package, "name": uniq}), "id")],
        "packages.editForm" | "packages.delete" => vec![obj(json!({"id": t.package}), "id")],
        "packages.list" => vec![
            List {
                params: json!({}),
                key: ListKey::Company,
            },
            List {
                params: json!({"id_companies": t.company}),
                key: ListKey::Company,
            },
        ],
        "clients.packagesAdd" => vec![
            obj(
                json!({"id_clients": t.client, "id_packages": own.package}),
                "id_clients",
            ),
            obj(
                json!({"id_clients": own.client, "id_packages": t.package}),
                "id_packages",
            ),
        ],
        "clients.packagesList" => vec![obj(json!({"id": t.client}), "id")],
        "subscriptions.editForm"
        | "subscriptions.activate"
        | "subscriptions.deactivate"
        | "subscriptions.renew"
        | "subscriptions.close" => vec![obj(json!({"id": t.subscription}), "id")],
        "subscriptions.list" => vec![
            List {
                params: json!({}),
                key: ListKey::Client,
            },
            List {
                params: json!({"id_clients": t.client}),
                key: ListKey::Client,
            },
        ],
        "provisioning.add" => vec![obj(
            json!({"name": uniq, "id_companies": t.company, "event": "clients.create", "target": "https://hooks.example.com/x"}),
            "id_companies",
        )],
        "provisioning.edit" => vec![obj(json!({"id": t.handler, "name": uniq}), "id")],
        "provisioning.editForm" | "provisioning.delete" => {
            vec![obj(json!({"id": t.handler}), "id")]
        }
        "provisioning.logs" => vec![
            obj(json!({"id_handlers": t.handler}), "id_handlers"),
            List {
                params: json!({}),
                key: ListKey::Company,
            },
            List {
                params: json!({"id_companies": t.company}),
                key: ListKey::Company,
            },
        ],
        "provisioning.list" => vec![
            List {
                params: json!({}),
                key: ListKey::Company,
            },
            List {
                params: json!({"id_companies": t.company}),
                key: ListKey::Company,
            },
            List {
                params: json!({"id": t.handler}),
                key: ListKey::Company,
            },
        ],
        // Counts, never objects: its scoping has its own test (clock.rs).
        "core.status" => vec![],
        "taxProfiles.add" => vec![obj(
            json!({"name": uniq, "id_companies": t.company, "percent": "1"}),
            "id_companies",
        )],
        "taxProfiles.edit" => vec![obj(json!({"id": t.tax_profile, "name": uniq}), "id")],
        "taxProfiles.editForm" | "taxProfiles.delete" => {
            vec![obj(json!({"id": t.tax_profile}), "id")]
        }
        "taxProfiles.list" => vec![
            List {
                params: json!({}),
                key: ListKey::Company,
            },
            List {
                params: json!({"id_companies": t.company}),
                key: ListKey::Company,
            },
            List {
                params: json!({"id": t.tax_profile}),
                key: ListKey::Company,
            },
        ],
        "invoices.add" => vec![obj(
            json!({"id_clients": t.client, "dt_from": "2025-06-01", "dt_till": "2025-07-01"}),
            "id_clients",
        )],
        "invoices.void" => vec![obj(json!({"id": t.invoice, "reason": uniq}), "id")],
        "invoices.editForm" => vec![obj(json!({"id": t.invoice}), "id")],
        "invoices.list" => vec![
            List {
                params: json!({}),
                key: ListKey::Company,
            },
            List {
                params: json!({"id_clients": t.client}),
                key: ListKey::Client,
            },
            List {
                params: json!({"id": t.invoice}),
                key: ListKey::Company,
            },
            List {
                params: json!({"id_companies": t.company, "dt_from": "2026-01-01"}),
                key: ListKey::Company,
            },
        ],
        "xdrs.import" => vec![Imported {
            params: json!({"format": "tollgate", "csv": format!("call_id,account,destination,connect_time,duration\n{uniq}i,{},15550003,2026-01-15 11:00:00,10\n", t.ident)}),
            code: "account.not_found",
        }],
        "xdrs.rerate" => vec![obj(
            json!({"dt_from": "2026-01-01", "dt_till": "2026-02-01", "id_rate_tables": t.rate_table}),
            "id_rate_tables",
        )],
        "xdrs.history" => vec![obj(json!({"id": xdr_of(t.client)}), "id")],
        "clients.statement" => vec![obj(
            json!({"id_clients": t.client, "dt_from": "2025-07-01", "dt_till": "2026-07-01"}),
            "id_clients",
        )],
        "reports.summary" => vec![
            List {
                params: json!({"dt_from": "2025-07-01", "dt_till": "2026-07-01", "group_by": ["client", "day"]}),
                key: ListKey::Client,
            },
            obj(
                json!({"dt_from": "2025-07-01", "dt_till": "2026-07-01", "id_clients": t.client}),
                "id_clients",
            ),
        ],
        "reports.summaryDownload" => vec![
            File {
                params: json!({"dt_from": "2025-07-01", "dt_till": "2026-07-01", "group_by": ["client"]}),
                client_column: "id_clients",
            },
            Attempt::FileObject {
                params: json!({"dt_from": "2025-07-01", "dt_till": "2026-07-01", "id_clients": t.client}),
                id_field: "id_clients",
            },
        ],
        "invoices.download" => vec![
            Attempt::FileObject {
                params: json!({"id": t.invoice, "format": "csv"}),
                id_field: "id",
            },
            Attempt::FileObject {
                params: json!({"id": t.invoice}),
                id_field: "id",
            },
        ],
        other => panic!("method {other} is missing from the tenant matrix: add its attempts"),
    }
}

fn normalize(msg: &str) -> String {
    let mut out = String::new();
    for c in msg.chars() {
        if !c.is_ascii_digit() {
            out.push(c);
        } else if !out.ends_with('#') {
            out.push('#');
        }
    }
    out
}

#[test]
fn tenant_matrix_allows_no_cross_tenant_operation() {
    let w = world();
    let e = &w.engine;
    let shared = Shared {
        currency: ok(
            e,
            "currencies.add",
            with_sid(&w.admin, json!({"code": "EUR", "name": "Euro"})),
        )["id"]
            .as_i64()
            .unwrap(),
        rate: 0,
        field: ok(
            e,
            "customFields.add",
            with_sid(&w.admin, json!({"name": "vat"})),
        )["id"]
            .as_i64()
            .unwrap(),
        role: ok(
            e,
            "roles.add",
            with_sid(
                &w.admin,
                json!({"name": "custom", "permissions": {"clients": ["read"]}}),
            ),
        )["id"]
            .as_i64()
            .unwrap(),
    };
    let shared = Shared {
        rate: ok(
            e,
            "currencies.ratesAdd",
            with_sid(
                &w.admin,
                json!({"from": 1, "to": shared.currency, "rate": "0.9"}),
            ),
        )["id"]
            .as_i64()
            .unwrap(),
        ..shared
    };
    let (op, a, a1, b) = (&w.op, &w.a, &w.a1, &w.b);
    // One charged call per tenant, so that xDR lists and downloads have rows to leak.
    for t in [op, a, a1, b] {
        let x = e
            .settle(&tollgate::SettleRequest {
                call_id: format!("matrix-{}", t.ident),
                duration: 30,
                account: Some(t.ident.clone()),
                destination: Some("15550004".into()),
                connect_time: tollgate::clock::parse_dt("2026-01-15 10:00:00"),
                ..Default::default()
            })
            .unwrap()
            .xdr;
        XDR_OF.with(|m| m.borrow_mut().insert(t.client, x));
    }
    // A switch integration of B: `core: execute` only, so the charging calls are tried for
    // real rather than refused for want of the right.
    let switch_b = user_with_rights(&w, b.company, "switch-b", json!({"core": ["execute"]}));
    let actors = [
        Actor {
            name: "switch (B)",
            sid: &switch_b,
            own: b,
            subtree: vec![b],
            foreign: vec![op, a, a1],
            operator: false,
        },
        Actor {
            name: "operator admin",
            sid: &w.admin,
            own: op,
            subtree: vec![op, a, a1, b],
            foreign: vec![],
            operator: true,
        },
        Actor {
            name: "reseller A",
            sid: &w.res_a,
            own: a,
            subtree: vec![a, a1],
            foreign: vec![op, b],
            operator: false,
        },
        Actor {
            name: "sub-reseller A1",
            sid: &w.res_a1,
            own: a1,
            subtree: vec![a1],
            foreign: vec![op, a, b],
            operator: false,
        },
        Actor {
            name: "reseller B",
            sid: &w.res_b,
            own: b,
            subtree: vec![b],
            foreign: vec![op, a, a1],
            operator: false,
        },
        Actor {
            name: "monitoring (A)",
            sid: &w.monitoring,
            own: a,
            subtree: vec![a, a1],
            foreign: vec![op, b],
            operator: false,
        },
        Actor {
            name: "API portal (A1)",
            sid: &w.api_portal,
            own: a1,
            subtree: vec![a1],
            foreign: vec![op, a, b],
            operator: false,
        },
    ];
    let methods: Vec<String> = e
        .registry()
        .methods()
        .iter()
        .map(|m| m.name.clone())
        .collect();
    let (mut tried, mut allowed, mut n) = (0u32, Vec::new(), 0u32);
    let mut methods_covered = BTreeSet::new();
    for actor in &actors {
        let companies: BTreeSet<i64> = actor.subtree.iter().map(|t| t.company).collect();
        let clients: BTreeSet<i64> = actor.subtree.iter().map(|t| t.client).collect();
        let tables: BTreeSet<i64> = actor.subtree.iter().map(|t| t.rate_table).collect();
        // Companies created by earlier (refused) attempts never exist; the subtree is fixed.
        for method in &methods {
            // The operator has no foreign tenant: only shared writes are checked for it
            // (they are legitimate), so it contributes no cross-tenant attempt.
            let targets: Vec<&Tenant> = if actor.operator {
                vec![op]
            } else {
                actor.foreign.clone()
            };
            for t in targets {
                for att in attempts(method, actor.own, t, &mut n, &shared) {
                    methods_covered.insert(method.clone());
                    if actor.operator {
                        continue;
                    }
                    tried += 1;
                    match att {
                        Attempt::Object { params, id_field } => {
                            let r = e.call(method, with_sid(actor.sid, params.clone()));
                            if r.code {
                                allowed.push(format!("{}: {method} {params}", actor.name));
                                continue;
                            }
                            let mut missing = params.clone();
                            missing[id_field] = json!(999_999);
                            let m = e.call(method, with_sid(actor.sid, missing));
                            assert_eq!(
                                (r.errors[0].code, normalize(&r.errors[0].message)),
                                (m.errors[0].code, normalize(&m.errors[0].message)),
                                "{}: {method} {params}: a foreign id must answer like a missing one",
                                actor.name
                            );
                        }
                        Attempt::List { params, key } => {
                            let r = e.call(method, with_sid(actor.sid, params.clone()));
                            if !r.code {
                                continue; // refused outright (no read right): nothing leaked
                            }
                            let rows = r.ret["rows"].as_array().unwrap();
                            let leaks = rows.iter().any(|row| match key {
                                ListKey::SelfId => {
                                    !companies.contains(&row["id"].as_i64().unwrap())
                                }
                                ListKey::Company => {
                                    !companies.contains(&row["id_companies"].as_i64().unwrap())
                                }
                                ListKey::Client => {
                                    !clients.contains(&row["id_clients"].as_i64().unwrap())
                                }
                                ListKey::RateTable => {
                                    !tables.contains(&row["id_rate_tables"].as_i64().unwrap())
                                }
                            });
                            let total = r.ret["total"].as_u64().unwrap();
                            if leaks || total != rows.len() as u64 {
                                allowed.push(format!("{}: {method} {params} leaked", actor.name));
                            }
                        }
                        Attempt::File {
                            params,
                            client_column,
                        } => {
                            let mut out = Vec::new();
                            let r =
                                e.call_file(method, with_sid(actor.sid, params.clone()), &mut out);
                            if r.is_err() {
                                assert!(out.is_empty(), "{method}: a refusal wrote bytes");
                                continue; // refused outright (no read right): nothing leaked
                            }
                            let mut rows = csv::Reader::from_reader(out.as_slice());
                            let at = rows
                                .headers()
                                .unwrap()
                                .iter()
                                .position(|h| h == client_column)
                                .unwrap();
                            // A report's closing rows are labelled `total` in that column.
                            let leaks = rows.records().any(|row| {
                                let row = row.unwrap();
                                row[at] != *"total"
                                    && !clients.contains(&row[at].parse::<i64>().unwrap())
                            });
                            if leaks {
                                allowed.push(format!("{}: {method} {params} leaked", actor.name));
                            }
                        }
                        Attempt::FileObject { params, id_field } => {
                            let mut out = Vec::new();
                            let r =
                                e.call_file(method, with_sid(actor.sid, params.clone()), &mut out);
                            let Err(r) = r else {
                                allowed.push(format!("{}: {method} {params}", actor.name));
                                continue;
                            };
                            assert!(out.is_empty(), "{method}: a refusal wrote bytes");
                            let mut missing = params.clone();
                            missing[id_field] = json!(999_999);
                            let m = e
                                .call_file(method, with_sid(actor.sid, missing), &mut out)
                                .expect_err("a missing id is refused");
                            assert_eq!(
                                (r.errors[0].code, normalize(&r.errors[0].message)),
                                (m.errors[0].code, normalize(&m.errors[0].message)),
                                "{}: {method} {params}: a foreign id must answer like a missing one",
                                actor.name
                            );
                        }
                        Attempt::Hidden { params, code } => {
                            let r = e.call(method, with_sid(actor.sid, params.clone()));
                            if r.code {
                                allowed.push(format!("{}: {method} {params}", actor.name));
                            } else if r.errors[0].code.as_str() != code
                                && r.errors[0].code.as_str() != "permission.denied"
                            {
                                panic!("{}: {method} {params}: answered {:?}, not like a missing one ({code})", actor.name, r.errors[0]);
                            }
                        }
                        Attempt::Imported { params, code } => {
                            let r = e.call(method, with_sid(actor.sid, params.clone()));
                            if r.code {
                                if r.ret["imported"] != 0 || r.ret["refused"][0]["code"] != code {
                                    allowed.push(format!("{}: {method} {params}", actor.name));
                                }
                            } else if r.errors[0].code.as_str() != "permission.denied" {
                                panic!(
                                    "{}: {method} {params}: answered {:?}",
                                    actor.name, r.errors[0]
                                );
                            }
                        }
                        Attempt::Shared { params } => {
                            let r = e.call(method, with_sid(actor.sid, params.clone()));
                            if r.code {
                                allowed.push(format!("{}: {method} {params}", actor.name));
                            }
                        }
                    }
                }
            }
        }
    }
    println!(
        "tenant matrix: cross-tenant operations allowed = {} / {tried} tried",
        allowed.len()
    );
    assert!(tried > 300, "the matrix tried only {tried} operations");
    assert!(
        allowed.is_empty(),
        "cross-tenant operations allowed: {allowed:#?}"
    );
    // Every method is either in the matrix or explicitly listed as carrying no tenant object.
    for m in &methods {
        let mut k = 0;
        let listed = !attempts(m, op, a, &mut k, &shared).is_empty()
            || matches!(m.as_str(), "auth.login" | "auth.logout")
            || m.ends_with("editForm")
            || m.ends_with("list")
            || m.ends_with("List")
            || m.ends_with("convert")
            || m == "core.status";
        assert!(listed || methods_covered.contains(m), "{m} not covered");
    }
}

#[test]
fn resellers_work_inside_their_subtree() {
    let w = world();
    let e = &w.engine;
    // Reseller A sees and changes its own and its sub-reseller's objects.
    for id in [w.a.client, w.a1.client] {
        ok(e, "clients.editForm", with_sid(&w.res_a, json!({"id": id})));
        ok(
            e,
            "clients.edit",
            with_sid(&w.res_a, json!({"id": id, "credit": "5"})),
        );
    }
    // Moving a client down the subtree works; up and sideways do not.
    let r = e.call(
        "clients.edit",
        with_sid(
            &w.res_a1,
            json!({"id": w.a.client, "id_companies": w.a1.company}),
        ),
    );
    assert_eq!(err(&r), "not_found");
    ok(
        e,
        "clients.edit",
        with_sid(
            &w.res_a,
            json!({"id": w.a.client, "id_companies": w.a1.company}),
        ),
    );
    let r = e.call(
        "clients.edit",
        with_sid(
            &w.res_a1,
            json!({"id": w.a1.client, "id_companies": w.a.company}),
        ),
    );
    assert_eq!(err(&r), "validation.invalid");
    // Lists show exactly the subtree.
    let rows = ok(e, "companies.list", with_sid(&w.res_a, json!({})))["rows"].clone();
    let ids: BTreeSet<i64> = rows
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_i64().unwrap())
        .collect();
    assert_eq!(ids, BTreeSet::from([w.a.company, w.a1.company]));
    // A reseller cannot change or delete its own company, nor reach its parent.
    let r = e.call(
        "companies.edit",
        with_sid(&w.res_a, json!({"id": w.a.company, "status": "blocked"})),
    );
    assert_eq!(err(&r), "permission.denied");
    let r = e.call(
        "companies.delete",
        with_sid(&w.res_a1, json!({"id": w.a1.company})),
    );
    assert!(!r.code);
    let r = e.call(
        "companies.editForm",
        with_sid(&w.res_a1, json!({"id": w.a.company})),
    );
    assert_eq!(err(&r), "not_found");
    // Sub-companies may be created under its own company.
    ok(
        e,
        "companies.add",
        with_sid(&w.res_a, json!({"name": "A2", "parent_id": w.a.company})),
    );
    // The audit trail of a reseller shows only its own tenant's rows.
    let rows = ok(e, "audit.list", with_sid(&w.res_a, json!({"limit": 1000})))["rows"].clone();
    assert!(!rows.as_array().unwrap().is_empty());
    for r in rows.as_array().unwrap() {
        assert!(
            [w.a.company, w.a1.company].contains(&r["id_companies"].as_i64().unwrap()),
            "{r}"
        );
    }
}
