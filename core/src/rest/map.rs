//! `Account/*` and `Customer/*`: PortaBilling field names mapped onto Tollgate's accounts and
//! clients, served by the Management API handlers as the caller.
//!
//! | PortaBilling      | Tollgate                                   |
//! |-------------------|--------------------------------------------|
//! | `i_customer`      | client `id` (account `id_clients`)         |
//! | `i_account`       | account `id`                               |
//! | `id`, `login`     | account `ident`                            |
//! | `credit_limit`    | client `credit`                            |
//! | `blocked` Y/N     | `status` blocked / active                  |
//! | `iso_4217`        | the client's currency `code`               |
//! | `email`           | client `c_email`                           |
//! | `companyname`     | client `c_company`                         |
//! | `i_invoice`       | invoice `id`                               |
//! | `invoice_number`  | invoice `number`                           |
//! | `i_xdr`           | xDR `id`                                   |
//! | `from_date`, `to_date` | `dt_from`, `dt_till` (half-open)      |

use super::{Fault, Reply};
use crate::api;
use crate::api::Inner;
use crate::auth::Principal;
use serde_json::{json, Map, Value};

const METHODS: &[(&str, &str)] = &[
    ("Account", "get_account_info"),
    ("Account", "get_account_list"),
    ("Account", "add_account"),
    ("Account", "update_account"),
    ("Customer", "get_customer_info"),
    ("Customer", "get_customer_list"),
    ("Customer", "add_customer"),
    ("Customer", "update_customer"),
    ("Customer", "make_transaction"),
    ("Customer", "get_customer_xdrs"),
    ("Account", "get_xdr_list"),
    ("Invoice", "get_invoice_list"),
    ("Invoice", "get_invoice_info"),
];

/// Is `service/method` served here?
pub(super) fn known(service: &str, method: &str) -> bool {
    METHODS.iter().any(|(s, m)| *s == service && *m == method)
}

/// One Management API call on behalf of a REST method; its refusal becomes a fault.
struct Call<'a> {
    inner: &'a Inner,
    principal: &'a Principal,
    service: &'static str,
    method: &'static str,
}

impl Call<'_> {
    fn run(&self, api_method: &str, params: Value) -> Reply {
        let env = api::dispatch(
            self.inner,
            Some(self.principal.clone()),
            api_method,
            &params,
        );
        match env.errors.first() {
            None => Ok(env.ret),
            Some(e) => Err(Fault::from_code(
                self.service,
                self.method,
                e.code,
                &e.message,
            )),
        }
    }

    fn invalid(&self, reason: &str, message: impl Into<String>) -> Fault {
        Fault::new(
            format!("Client.{}.{}.{reason}", self.service, self.method),
            message,
        )
    }

    /// Currency codes by id. Currencies are global, non-tenant data, read as the engine
    /// itself so a caller without `currencies.read` still sees its customers' `iso_4217`.
    fn currencies(&self) -> Result<Vec<(i64, String)>, Fault> {
        let env = api::dispatch(
            self.inner,
            Some(Principal::System),
            "currencies.list",
            &json!({"limit": crate::limits::list_page_size_max}),
        );
        let rows = env.ret["rows"].as_array().cloned().unwrap_or_default();
        Ok(rows
            .iter()
            .filter_map(|r| Some((r["id"].as_i64()?, r["code"].as_str()?.to_string())))
            .collect())
    }
}

/// Answer an Account or Customer method.
pub(super) fn call(
    inner: &Inner,
    principal: &Principal,
    service: &str,
    method: &str,
    params: &Map<String, Value>,
) -> Reply {
    let Some(&(service, method)) = METHODS.iter().find(|(s, m)| *s == service && *m == method)
    else {
        return Err(Fault::new(
            "Client.Request.unknown_method",
            "unknown method",
        ));
    };
    let c = Call {
        inner,
        principal,
        service,
        method,
    };
    match method {
        "get_account_info" => get_account_info(&c, params),
        "get_account_list" => get_account_list(&c, params),
        "add_account" => add_account(&c, params),
        "update_account" => update_account(&c, params),
        "get_customer_info" => get_customer_info(&c, params),
        "get_customer_list" => get_customer_list(&c, params),
        "add_customer" => add_customer(&c, params),
        "update_customer" => update_customer(&c, params),
        "get_customer_xdrs" => get_xdrs(&c, params, "i_customer", "id_clients"),
        "get_xdr_list" => get_xdrs(&c, params, "i_account", "id_accounts"),
        "get_invoice_list" => get_invoice_list(&c, params),
        "get_invoice_info" => get_invoice_info(&c, params),
        _ => make_transaction(&c, params),
    }
}

/// PortaBilling's `Customer/make_transaction`: a payment, charge, credit or refund on the
/// ledger, through `transactions.add` (so billing rights, tenancy, idempotency and the
/// balance checks are the Management API's own).
fn make_transaction(c: &Call<'_>, p: &Map<String, Value>) -> Reply {
    only_keys(
        c,
        p,
        &[
            "i_customer",
            "action",
            "amount",
            "visible_comment",
            "internal_comment",
            "transaction_id",
            "iso_4217",
            "force",
        ],
    )?;
    let id = p
        .get("i_customer")
        .cloned()
        .ok_or_else(|| c.invalid("validation_required", "i_customer is required"))?;
    let action = p
        .get("action")
        .and_then(Value::as_str)
        .ok_or_else(|| c.invalid("validation_required", "action is required"))?;
    let kind = match action.to_ascii_lowercase().as_str() {
        "manual payment" | "payment" => "payment",
        "manual charge" | "charge" => "charge",
        "manual credit" | "refund" | "credit" => "refund",
        "adjustment" => "adjustment",
        _ => {
            return Err(c.invalid(
                "validation_invalid",
                "action must be one of: Manual payment, Manual charge, Manual credit, Refund, Adjustment",
            ))
        }
    };
    let amount = p
        .get("amount")
        .cloned()
        .ok_or_else(|| c.invalid("validation_required", "amount is required"))?;
    let mut q = Map::new();
    q.insert("id_clients".into(), id.clone());
    q.insert("type".into(), json!(kind));
    q.insert("amount".into(), amount);
    let notes: Vec<&str> = ["visible_comment", "internal_comment"]
        .iter()
        .filter_map(|k| p.get(*k).and_then(Value::as_str))
        .collect();
    if !notes.is_empty() {
        q.insert("notes".into(), json!(notes.join("\n")));
    }
    if let Some(key) = p.get("transaction_id") {
        q.insert("idempotency_key".into(), key.clone());
    }
    if let Some(iso) = p.get("iso_4217") {
        q.insert("id_currencies".into(), json!(currency_id(c, iso)?));
    }
    if let Some(force) = p.get("force") {
        q.insert("force".into(), force.clone());
    }
    let r = c.run("transactions.add", Value::Object(q))?;
    let t = &r["transaction"];
    Ok(json!({
        "i_customer": id,
        "transaction_id": t["id"],
        "balance": t["balance_after"],
        "amount": t["amount"],
        "replayed": t["replayed"],
    }))
}

/// The read flags PortaBilling clients send on `get_account_info`, `get_account_list` and
/// `get_customer_list` (0 or 1).
const READ_FLAGS: &[&str] = &[
    "with_aliases",
    "get_total",
    "detailed_info",
    "without_service_features",
    "get_auth_info",
];

/// The read flags a method honours; the others are accepted and, when set, logged as ignored
/// (a REST answer has no `messages`).
struct Flags {
    with_aliases: bool,
}

/// Check the read flags in `p` (each 0 or 1, as a number, a digit string or a boolean) and
/// take them out, leaving the method's own arguments.
fn read_flags(c: &Call<'_>, p: &Map<String, Value>) -> Result<(Flags, Map<String, Value>), Fault> {
    let mut rest = Map::new();
    let mut set: Vec<&str> = Vec::new();
    for (k, v) in p {
        let Some(flag) = READ_FLAGS.iter().find(|f| **f == k.as_str()) else {
            rest.insert(k.clone(), v.clone());
            continue;
        };
        let on = match v {
            Value::Bool(b) => *b,
            Value::Number(n) if n.as_u64() == Some(0) => false,
            Value::Number(n) if n.as_u64() == Some(1) => true,
            Value::String(s) if s == "0" => false,
            Value::String(s) if s == "1" => true,
            Value::Null => false,
            _ => return Err(c.invalid("validation_invalid", format!("{flag} must be 0 or 1"))),
        };
        if on {
            set.push(flag);
        }
    }
    // `get_total`: every list answer carries `total` already. `without_service_features`:
    // no answer carries service features. `with_aliases`: honoured (an empty `alias_list`:
    // Tollgate accounts have no aliases). The rest have nothing to act on here.
    let honoured = |f: &str| {
        matches!(f, "get_total" | "without_service_features")
            || (f == "with_aliases" && c.service == "Account")
    };
    for f in set.iter().filter(|f| !honoured(f)) {
        log::info!(
            target: "tollgate::rest",
            "{}/{}: ignored: {f} (not supported)",
            c.service,
            c.method
        );
    }
    let flags = Flags {
        with_aliases: set.contains(&"with_aliases"),
    };
    Ok((flags, rest))
}

fn only_keys(c: &Call<'_>, m: &Map<String, Value>, allowed: &[&str]) -> Result<(), Fault> {
    match m.keys().find(|k| !allowed.contains(&k.as_str())) {
        None => Ok(()),
        Some(k) => Err(c.invalid(
            "validation_unknown_argument",
            format!("unknown argument '{}'", super::printable(k)),
        )),
    }
}

fn info<'a>(
    c: &Call<'_>,
    params: &'a Map<String, Value>,
    key: &str,
) -> Result<&'a Map<String, Value>, Fault> {
    only_keys(c, params, &[key])?;
    params.get(key).and_then(Value::as_object).ok_or_else(|| {
        c.invalid(
            "validation_required",
            format!("{key} (an object) is required"),
        )
    })
}

fn blocked_to_status(c: &Call<'_>, v: &Value) -> Result<&'static str, Fault> {
    match v.as_str() {
        Some("Y") => Ok("blocked"),
        Some("N") => Ok("active"),
        _ => Err(c.invalid("validation_invalid", "blocked must be \"Y\" or \"N\"")),
    }
}

fn copy(from: &Map<String, Value>, to: &mut Map<String, Value>, pairs: &[(&str, &str)]) {
    for (pb, ours) in pairs {
        if let Some(v) = from.get(*pb) {
            to.insert((*ours).to_string(), v.clone());
        }
    }
}

// ---- accounts ----

fn account_out(a: &Value) -> Value {
    json!({
        "i_account": a["id"],
        "i_customer": a["id_clients"],
        "id": a["ident"],
        "login": a["ident"],
        "name": a["name"],
        "auth_type": a["auth_type"],
        "blocked": if a["status"] == "blocked" { "Y" } else { "N" },
        "creation_date": a["c_dt"],
    })
}

/// An account as answered, with `alias_list` when the caller asked `with_aliases`.
fn account_answer(a: &Value, flags: &Flags) -> Value {
    let mut out = account_out(a);
    if flags.with_aliases {
        out["alias_list"] = json!([]);
    }
    out
}

fn get_account_info(c: &Call<'_>, p: &Map<String, Value>) -> Reply {
    let (flags, p) = read_flags(c, p)?;
    let p = &p;
    only_keys(c, p, &["i_account", "id", "login"])?;
    let row = if let Some(id) = p.get("i_account") {
        c.run("accounts.editForm", json!({"id": id}))?["account"].clone()
    } else if let Some(ident) = p.get("id").or_else(|| p.get("login")) {
        let r = c.run("accounts.list", json!({"ident": ident, "limit": 1}))?;
        match r["rows"].as_array().and_then(|a| a.first()) {
            Some(row) => row.clone(),
            None => return Err(c.invalid("not_found", "account not found")),
        }
    } else {
        return Err(c.invalid("validation_required", "i_account, id or login is required"));
    };
    Ok(json!({ "account_info": account_answer(&row, &flags) }))
}

fn get_account_list(c: &Call<'_>, p: &Map<String, Value>) -> Reply {
    let (flags, p) = read_flags(c, p)?;
    let p = &p;
    only_keys(c, p, &["i_customer", "limit", "offset"])?;
    let mut q = Map::new();
    copy(
        p,
        &mut q,
        &[
            ("i_customer", "id_clients"),
            ("limit", "limit"),
            ("offset", "offset"),
        ],
    );
    let r = c.run("accounts.list", Value::Object(q))?;
    let list: Vec<Value> = r["rows"]
        .as_array()
        .map(|a| a.iter().map(|row| account_answer(row, &flags)).collect())
        .unwrap_or_default();
    Ok(json!({ "account_list": list, "total": r["total"] }))
}

const ACCOUNT_FIELDS: &[&str] = &[
    "i_account",
    "i_customer",
    "id",
    "login",
    "name",
    "auth_type",
    "password",
    "blocked",
];

fn account_in(c: &Call<'_>, a: &Map<String, Value>) -> Result<Map<String, Value>, Fault> {
    only_keys(c, a, ACCOUNT_FIELDS)?;
    let mut q = Map::new();
    copy(
        a,
        &mut q,
        &[
            ("i_customer", "id_clients"),
            ("login", "ident"),
            ("id", "ident"),
            ("name", "name"),
            ("auth_type", "auth_type"),
            ("password", "password"),
        ],
    );
    if let Some(b) = a.get("blocked") {
        q.insert("status".into(), Value::from(blocked_to_status(c, b)?));
    }
    Ok(q)
}

fn add_account(c: &Call<'_>, p: &Map<String, Value>) -> Reply {
    let a = info(c, p, "account_info")?;
    if a.contains_key("i_account") {
        return Err(c.invalid("validation_invalid", "i_account is assigned by the server"));
    }
    let mut q = account_in(c, a)?;
    if !q.contains_key("name") {
        if let Some(ident) = q.get("ident").cloned() {
            q.insert("name".into(), ident);
        }
    }
    let r = c.run("accounts.add", Value::Object(q))?;
    Ok(json!({ "i_account": r["id"] }))
}

fn update_account(c: &Call<'_>, p: &Map<String, Value>) -> Reply {
    let a = info(c, p, "account_info")?;
    let id = a
        .get("i_account")
        .cloned()
        .ok_or_else(|| c.invalid("validation_required", "i_account is required"))?;
    if a.contains_key("i_customer") {
        return Err(c.invalid(
            "validation_invalid",
            "an account cannot move to another customer",
        ));
    }
    let mut q = account_in(c, a)?;
    q.remove("i_account");
    q.insert("id".into(), id.clone());
    c.run("accounts.edit", Value::Object(q))?;
    Ok(json!({ "i_account": id }))
}

// ---- customers ----

fn customer_out(r: &Value, currencies: &[(i64, String)]) -> Value {
    let iso = r["id_currencies"]
        .as_i64()
        .and_then(|id| currencies.iter().find(|(i, _)| *i == id))
        .map(|(_, code)| Value::String(code.clone()))
        .unwrap_or(Value::Null);
    let status = r["status"].as_str().unwrap_or("active");
    json!({
        "i_customer": r["id"],
        "name": r["name"],
        "balance": r["balance"],
        "credit_limit": r["credit"],
        "iso_4217": iso,
        "blocked": if status == "blocked" { "Y" } else { "N" },
        "bill_status": match status { "suspended" => "S", "archived" => "C", _ => "O" },
        "email": r["c_email"],
        "companyname": r["c_company"],
        "creation_date": r["c_dt"],
    })
}

fn get_customer_info(c: &Call<'_>, p: &Map<String, Value>) -> Reply {
    only_keys(c, p, &["i_customer"])?;
    let id = p
        .get("i_customer")
        .ok_or_else(|| c.invalid("validation_required", "i_customer is required"))?;
    let row = c.run("clients.editForm", json!({"id": id}))?["client"].clone();
    Ok(json!({ "customer_info": customer_out(&row, &c.currencies()?) }))
}

fn get_customer_list(c: &Call<'_>, p: &Map<String, Value>) -> Reply {
    let (_flags, p) = read_flags(c, p)?;
    let p = &p;
    only_keys(c, p, &["limit", "offset", "name"])?;
    let mut q = Map::new();
    copy(
        p,
        &mut q,
        &[("limit", "limit"), ("offset", "offset"), ("name", "name")],
    );
    let r = c.run("clients.list", Value::Object(q))?;
    let cur = c.currencies()?;
    let list: Vec<Value> = r["rows"]
        .as_array()
        .map(|a| a.iter().map(|row| customer_out(row, &cur)).collect())
        .unwrap_or_default();
    Ok(json!({ "customer_list": list, "total": r["total"] }))
}

const CUSTOMER_FIELDS: &[&str] = &[
    "i_customer",
    "name",
    "credit_limit",
    "iso_4217",
    "blocked",
    "email",
    "companyname",
];

fn customer_in(c: &Call<'_>, a: &Map<String, Value>) -> Result<Map<String, Value>, Fault> {
    only_keys(c, a, CUSTOMER_FIELDS)?;
    let mut q = Map::new();
    copy(
        a,
        &mut q,
        &[
            ("name", "name"),
            ("credit_limit", "credit"),
            ("email", "c_email"),
            ("companyname", "c_company"),
        ],
    );
    if let Some(b) = a.get("blocked") {
        q.insert("status".into(), Value::from(blocked_to_status(c, b)?));
    }
    Ok(q)
}

fn currency_id(c: &Call<'_>, iso: &Value) -> Result<i64, Fault> {
    let code = iso
        .as_str()
        .ok_or_else(|| c.invalid("validation_invalid", "iso_4217 must be a currency code"))?;
    c.currencies()?
        .into_iter()
        .find(|(_, k)| k == code)
        .map(|(id, _)| id)
        .ok_or_else(|| c.invalid("validation_invalid", "iso_4217 is not a known currency"))
}

fn add_customer(c: &Call<'_>, p: &Map<String, Value>) -> Reply {
    let a = info(c, p, "customer_info")?;
    if a.contains_key("i_customer") {
        return Err(c.invalid("validation_invalid", "i_customer is assigned by the server"));
    }
    let mut q = customer_in(c, a)?;
    if let Some(iso) = a.get("iso_4217") {
        q.insert("id_currencies".into(), Value::from(currency_id(c, iso)?));
    }
    let r = c.run("clients.add", Value::Object(q))?;
    Ok(json!({ "i_customer": r["id"] }))
}

fn update_customer(c: &Call<'_>, p: &Map<String, Value>) -> Reply {
    let a = info(c, p, "customer_info")?;
    let id = a
        .get("i_customer")
        .cloned()
        .ok_or_else(|| c.invalid("validation_required", "i_customer is required"))?;
    let mut q = customer_in(c, a)?;
    if let Some(iso) = a.get("iso_4217") {
        // The currency is fixed after creation; repeating the current one is harmless.
        let want = currency_id(c, iso)?;
        let row = c.run("clients.editForm", json!({"id": id}))?;
        if row["client"]["id_currencies"].as_i64() != Some(want) {
            return Err(c.invalid(
                "validation_invalid",
                "iso_4217 cannot change after creation",
            ));
        }
    }
    q.insert("id".into(), id.clone());
    c.run("clients.edit", Value::Object(q))?;
    Ok(json!({ "i_customer": id }))
}

// ---- xDRs and invoices ----

fn xdr_out(x: &Value) -> Value {
    json!({
        "i_xdr": x["id"],
        "i_account": x["id_accounts"],
        "i_customer": x["id_clients"],
        "call_id": x["call_id"],
        "CLI": x["src"],
        "CLD": x["dst"],
        "prefix": x["code"],
        "description": x["code_name"],
        "connect_time": x["connect_time"],
        "disconnect_time": x["end_time"],
        "duration": x["duration"],
        "charged_quantity": x["billed_seconds"],
        "charged_amount": x["cost"],
        "i_invoice": x["id_invoices"],
    })
}

/// `Customer/get_customer_xdrs` and `Account/get_xdr_list`: `xdrs.list` of one customer or
/// account over `[from_date, to_date)` on the connect time.
fn get_xdrs(c: &Call<'_>, p: &Map<String, Value>, key: &str, ours: &str) -> Reply {
    only_keys(c, p, &[key, "from_date", "to_date", "limit", "offset"])?;
    let id = p
        .get(key)
        .cloned()
        .ok_or_else(|| c.invalid("validation_required", format!("{key} is required")))?;
    // The customer or account itself first: a foreign one answers like a missing one.
    let what = if key == "i_customer" {
        "clients.editForm"
    } else {
        "accounts.editForm"
    };
    c.run(what, json!({ "id": id }))?;
    let mut q = Map::new();
    q.insert(ours.into(), id);
    copy(
        p,
        &mut q,
        &[
            ("from_date", "dt_from"),
            ("to_date", "dt_till"),
            ("limit", "limit"),
            ("offset", "offset"),
        ],
    );
    let r = c.run("xdrs.list", Value::Object(q))?;
    let list: Vec<Value> = r["rows"]
        .as_array()
        .map(|a| a.iter().map(xdr_out).collect())
        .unwrap_or_default();
    Ok(json!({ "xdr_list": list, "total": r["total"] }))
}

fn invoice_out(i: &Value, currencies: &[(i64, String)]) -> Value {
    let iso = i["id_currencies"]
        .as_i64()
        .and_then(|id| currencies.iter().find(|(k, _)| *k == id))
        .map(|(_, code)| Value::String(code.clone()))
        .unwrap_or(Value::Null);
    json!({
        "i_invoice": i["id"],
        "i_customer": i["id_clients"],
        "invoice_number": i["number"],
        "period_from_date": i["dt_from"],
        "period_to_date": i["dt_till"],
        "issue_date": i["c_dt"],
        "amount_net": i["subtotal"],
        "amount_tax": i["tax"],
        "amount_due": i["total"],
        "iso_4217": iso,
        "invoice_status": i["status"],
        "void": if i["status"] == "void" { "Y" } else { "N" },
    })
}

fn get_invoice_list(c: &Call<'_>, p: &Map<String, Value>) -> Reply {
    only_keys(
        c,
        p,
        &["i_customer", "from_date", "to_date", "limit", "offset"],
    )?;
    let mut q = Map::new();
    copy(
        p,
        &mut q,
        &[
            ("i_customer", "id_clients"),
            ("from_date", "dt_from"),
            ("to_date", "dt_till"),
            ("limit", "limit"),
            ("offset", "offset"),
        ],
    );
    let r = c.run("invoices.list", Value::Object(q))?;
    let cur = c.currencies()?;
    let list: Vec<Value> = r["rows"]
        .as_array()
        .map(|a| a.iter().map(|i| invoice_out(i, &cur)).collect())
        .unwrap_or_default();
    Ok(json!({ "invoice_list": list, "total": r["total"] }))
}

/// `Invoice/get_invoice_info {i_invoice, get_pdf?}`: the invoice with its lines; with
/// `get_pdf: 1`, the PDF of `invoices.download` in `invoice_pdf` (base64: a JSON answer
/// cannot carry bytes) and its file name in `invoice_pdf_name`.
fn get_invoice_info(c: &Call<'_>, p: &Map<String, Value>) -> Reply {
    only_keys(c, p, &["i_invoice", "get_pdf"])?;
    let id = p
        .get("i_invoice")
        .cloned()
        .ok_or_else(|| c.invalid("validation_required", "i_invoice is required"))?;
    let pdf = match p.get("get_pdf") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(v) if v.as_u64() == Some(0) || v.as_str() == Some("0") => false,
        Some(v) if v.as_u64() == Some(1) || v.as_str() == Some("1") => true,
        Some(_) => return Err(c.invalid("validation_invalid", "get_pdf must be 0 or 1")),
    };
    let inv = c.run("invoices.editForm", json!({ "id": id }))?["invoice"].clone();
    let mut out = invoice_out(&inv, &c.currencies()?);
    out["lines"] = Value::Array(
        inv["lines"]
            .as_array()
            .map(|a| {
                a.iter()
                    .map(|l| {
                        json!({
                            "kind": l["kind"],
                            "description": l["description"],
                            "calls": l["calls"],
                            "charged_quantity": l["billed_seconds"],
                            "minutes": l["minutes"],
                            "amount": l["amount"],
                        })
                    })
                    .collect()
            })
            .unwrap_or_default(),
    );
    if pdf {
        let mut bytes = Vec::new();
        let meta = api::dispatch_file(
            c.inner,
            Some(c.principal.clone()),
            "invoices.download",
            &json!({ "id": id, "format": "pdf" }),
            &mut bytes,
        )
        .map_err(|env| match env.errors.first() {
            Some(e) => Fault::from_code(c.service, c.method, e.code, &e.message),
            None => Fault::new("Server.Invoice.get_invoice_info", "the PDF failed"),
        })?;
        use base64::Engine as _;
        out["invoice_pdf"] = json!(base64::engine::general_purpose::STANDARD.encode(&bytes));
        out["invoice_pdf_name"] = json!(meta.name);
    }
    Ok(json!({ "invoice_info": out }))
}
