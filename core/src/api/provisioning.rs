//! `provisioning`: handlers of events (`add`, `edit`, `editForm`, `list`, `delete`) and their
//! execution log (`logs`). Tenant-aware: a handler belongs to a company and hears only the
//! events of that company's subtree. HTTP handlers are open to resellers; script and callback
//! handlers run code on the operator's machine and are the operator's alone.

use super::crud::{self, Crud, Mode, Op};
use super::{Args, Ctx, MethodDef, Registry};
use crate::auth::rbac::Verb;
use crate::error::{Error, Result, ValidationError};
use crate::events::{catalog, runner};
use crate::limits;
use crate::model::{self, Record, Val, HANDLERS, HANDLER_LOGS};
use crate::store::{ListQuery, StoreTx};
use base64::Engine as _;
use serde_json::{json, Value};

fn pick<'r>(rec: &'r Record, existing: Option<&'r Record>, k: &str) -> &'r str {
    rec.get(k)
        .or_else(|| existing.and_then(|e| e.get(k)))
        .and_then(Val::as_text)
        .unwrap_or("")
}

/// A new Standard Webhooks secret: `whsec_` + base64 of 24 random bytes.
fn new_secret() -> String {
    let mut key = [0u8; 24];
    rand::fill(&mut key);
    format!(
        "whsec_{}",
        base64::engine::general_purpose::STANDARD.encode(key)
    )
}

/// Is `url` a handler target? Anyone's must be an http(s) URL with a host, no credentials and
/// no spaces; a reseller's handler (one owned by a company other than the operator's) may not
/// name a local, private or reserved address, however it is spelled (`crate::net`, which the
/// delivery checks again on the resolved address).
fn check_url(url: &str, operator: bool) -> Result<()> {
    let bad = |why: &str| -> Error { ValidationError::invalid("target", why).into() };
    let rest = url
        .strip_prefix("http://")
        .or_else(|| url.strip_prefix("https://"))
        .ok_or_else(|| bad("an http:// or https:// URL"))?;
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    if authority.is_empty() || authority.contains('@') || url.chars().any(char::is_whitespace) {
        return Err(bad("a URL with a host and no credentials or spaces"));
    }
    if operator {
        return Ok(());
    }
    crate::net::check_reseller_url(url).map_err(bad)
}

// Long: one check per handler field, in order.
fn validate(
    ctx: &Ctx<'_>,
    tx: &mut dyn StoreTx,
    mode: Mode,
    rec: &mut Record,
    existing: Option<&Record>,
) -> Result<()> {
    // The handler's owner decides, as at delivery: an operator-level principal placing a
    // handler in a reseller's company gets the reseller's rules.
    let owner = rec
        .get("id_companies")
        .or_else(|| existing.and_then(|e| e.get("id_companies")))
        .and_then(Val::as_int)
        .unwrap_or(ctx.principal.company());
    let operator = crate::auth::permit::is_operator(ctx.principal);
    let operator_owned = operator && owner == crate::model::OPERATOR_COMPANY;
    let event = pick(rec, existing, "event").to_string();
    let stage = pick(rec, existing, "stage").to_string();
    let event = event.as_str();
    if stage == "before" && catalog::after_only(event) {
        return Err(ValidationError::invalid(
            "stage",
            format!("{event} is raised by ledger postings and has an after stage only"),
        )
        .into());
    }
    let target = pick(rec, existing, "target").to_string();
    match pick(rec, existing, "kind") {
        "http" => check_url(&target, operator_owned)?,
        kind @ ("script" | "callback") => {
            crate::auth::permit::require_operator(
                ctx.principal,
                "provisioning",
                &format!("{kind} handlers: operator only"),
            )?;
            if kind == "script" && !std::path::Path::new(&target).is_absolute() {
                return Err(
                    ValidationError::invalid("target", "a script is an absolute path").into(),
                );
            }
            if kind == "callback" {
                crate::events::check_callback_name(&target).map_err(|_| {
                    ValidationError::invalid("target", "a registered callback name")
                })?;
            }
        }
        _ => {}
    }
    match rec.get("secret") {
        Some(Val::Text(s)) if s.len() < 16 => {
            return Err(ValidationError::invalid("secret", "at least 16 characters").into())
        }
        Some(Val::Null) | None if mode == Mode::Add => {
            rec.insert("secret", Val::Text(new_secret()));
        }
        Some(Val::Null) => {
            rec.insert("secret", Val::Text(new_secret()));
        }
        _ => {}
    }
    if mode == Mode::Add {
        let company = rec
            .get("id_companies")
            .and_then(Val::as_int)
            .unwrap_or(ctx.principal.company());
        let q = ListQuery::everything(vec![
            ("id_companies", Val::Int(company)),
            ("event", Val::Text(event.into())),
            ("stage", Val::Text(stage.clone())),
        ]);
        if tx.list(&HANDLERS, &q)?.1 >= limits::handlers_per_event_max as u64 {
            return Err(ValidationError::OutOfRange {
                field: "event".into(),
                reason: format!(
                    "a company has at most {} handlers per event and stage",
                    limits::handlers_per_event_max
                ),
            }
            .into());
        }
    }
    Ok(())
}

const CRUD: Crud = Crud {
    entity: &HANDLERS,
    validate: Some(validate),
    on_delete: None,
    events: None,
};

fn add(ctx: &mut Ctx<'_>, tx: &mut dyn StoreTx, args: &Args) -> Result<Value> {
    let v = crud::add(&CRUD, ctx, tx, args)?;
    let id = v.get("id").and_then(Value::as_i64).unwrap_or_default();
    let rec = tx
        .get(&HANDLERS, id, None)?
        .ok_or_else(|| Error::Internal("handler vanished".into()))?;
    // The only time the secret is shown: receivers need it to check signatures.
    Ok(json!({"id": id, "secret": model::text(&rec, "secret")}))
}

fn logs(ctx: &mut Ctx<'_>, tx: &mut dyn StoreTx, args: &Args) -> Result<Value> {
    if let Some(h) = args.int("id_handlers") {
        crud::load(ctx, tx, &HANDLERS, h)?;
    }
    let mut q = crud::list_query(ctx, &HANDLER_LOGS, args)?;
    q.search = None;
    let (rows, total) = tx.list(&HANDLER_LOGS, &q)?;
    // A reseller reads status codes and our short reasons, never what a receiver answered
    // (issue 13: the log was an oracle onto whatever a handler reached). The operator sees
    // every stored error whole.
    let reseller = !crate::auth::permit::is_operator(ctx.principal);
    let rows: Vec<Value> = rows
        .iter()
        .map(|r| {
            let mut v = crud::record_json(&HANDLER_LOGS, r);
            if reseller {
                let short = runner::short_error(
                    model::text(r, "outcome"),
                    model::int(r, "status_code"),
                    r.get("error").and_then(Val::as_text),
                );
                if let Some(o) = v.as_object_mut() {
                    o.insert(
                        "error".into(),
                        short.map(Value::String).unwrap_or(Value::Null),
                    );
                }
            }
            v
        })
        .collect();
    Ok(json!({"rows": rows, "total": total, "limit": q.limit, "offset": q.offset}))
}

pub(super) fn register(r: &mut Registry) {
    crud::register(r, CRUD, &[Op::Edit, Op::EditForm, Op::List, Op::Delete]);
    let mut m = MethodDef::new(
        "provisioning",
        "add",
        Verb::Write,
        true,
        crud::add_args(&HANDLERS),
        Box::new(add),
    );
    m.ignored = HANDLERS.ignored;
    r.add(m);
    let mut args = crud::list_args(&HANDLER_LOGS);
    args.retain(|a| a.name != "q");
    let mut m = MethodDef::new(
        "provisioning",
        "logs",
        Verb::Read,
        false,
        args,
        Box::new(logs),
    );
    m.ignored = HANDLER_LOGS.ignored;
    r.add(m);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resellers_cannot_target_local_networks() {
        for bad in [
            "http://127.0.0.1:5000/api",
            "http://localhost/x",
            "http://10.1.2.3/x",
            "http://169.254.169.254/latest/meta-data",
            "http://[::1]:80/",
            "http://192.168.0.1",
            "ftp://example.com/",
            "http://user@example.com/",
            "http:///x",
        ] {
            assert!(check_url(bad, false).is_err(), "{bad}");
        }
        assert!(check_url("https://hooks.example.com/tollgate", false).is_ok());
        // 203.0.113.0/24 is a documentation range (RFC 5737): refused since issue 13.
        assert!(check_url("http://203.0.113.7:8080/x", false).is_err());
        assert!(check_url("http://8.8.8.8:8080/x", false).is_ok());
        assert!(check_url("http://127.0.0.1:5000/api", true).is_ok());
    }
}
