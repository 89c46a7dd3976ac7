//! `roles`: named sets of per-module verbs. Roles are shared by every tenant (like currencies),
//! so only operator-level users change them; built-in roles never change; nobody defines a
//! role holding rights they do not hold themselves.

use super::crud;
use super::{ArgDef, ArgKind, Args, Ctx, MethodDef, Registry};
use crate::auth::permit::require_covers;
use crate::auth::rbac::{Grants, Verb};
use crate::error::{Error, Result, ValidationError};
use crate::limits;
use crate::model::{FieldKind, Record, Val, ROLES};
use crate::store::StoreTx;
use serde_json::{json, Map, Value};

fn role_json(rec: &Record) -> Value {
    let mut v = crud::record_json(&ROLES, rec);
    if let Some(o) = v.as_object_mut() {
        let parsed = rec
            .get("permissions")
            .and_then(Val::as_text)
            .and_then(|t| serde_json::from_str::<Value>(t).ok())
            .unwrap_or(Value::Object(Map::new()));
        o.insert("permissions".into(), parsed);
    }
    v
}

/// Parse `permissions` given as an object or as its JSON text; returns the canonical text.
fn parse_permissions(ctx: &Ctx<'_>, v: &Value) -> Result<String> {
    let obj = match v {
        Value::String(s) => serde_json::from_str::<Value>(s)
            .map_err(|_| ValidationError::invalid("permissions", "expected a JSON object"))?,
        other => other.clone(),
    };
    let g = Grants::from_json(&obj).ok_or_else(|| {
        ValidationError::invalid(
            "permissions",
            "expected {\"module\": [\"read\"|\"write\"|\"execute\"|\"delete\"|\"billing\", ...]}",
        )
    })?;
    if let Some(m) = obj.as_object() {
        if m.len() > limits::arguments_count_max {
            return Err(ValidationError::invalid("permissions", "too many modules").into());
        }
        if let Some(k) = m.keys().find(|k| {
            k.is_empty()
                || k.len() > 64
                || !k.chars().all(|c| c.is_ascii_alphanumeric() || c == '*')
        }) {
            return Err(ValidationError::invalid(
                "permissions",
                format!("'{}' is not a module name", crate::error::echoed_cut(k)),
            )
            .into());
        }
    }
    require_covers(ctx.principal, &g, "the role")?;
    Ok(g.to_json().to_string())
}

fn load_changeable(ctx: &Ctx<'_>, tx: &dyn StoreTx, id: i64) -> Result<Record> {
    crud::check_global_write(ctx, &ROLES)?;
    let rec = crud::load(ctx, tx, &ROLES, id)?;
    if matches!(rec.get("builtin"), Some(Val::Bool(true))) {
        return Err(ValidationError::invalid("id", "built-in roles cannot be changed").into());
    }
    // Changing a role changes every holder's rights: the caller must hold it all already.
    let current = rec
        .get("permissions")
        .and_then(Val::as_text)
        .and_then(|t| serde_json::from_str::<Value>(t).ok())
        .and_then(|v| Grants::from_json(&v))
        .ok_or_else(|| Error::Internal(format!("role {id} has unreadable permissions")))?;
    require_covers(ctx.principal, &current, "the role")?;
    Ok(rec)
}

fn check_name(tx: &dyn StoreTx, name: &str, except: Option<i64>) -> Result<()> {
    if name.trim().is_empty() {
        return Err(ValidationError::Required("name".into()).into());
    }
    if tx.exists_other("roles", "name", &Val::Text(name.into()), except)? {
        return Err(ValidationError::Duplicate {
            field: "name".into(),
            value: name.into(),
        }
        .into());
    }
    Ok(())
}

fn add(ctx: &mut Ctx<'_>, tx: &mut dyn StoreTx, args: &Args) -> Result<Value> {
    crud::check_global_write(ctx, &ROLES)?;
    let name = args
        .text("name")
        .ok_or_else(|| ValidationError::Required("name".into()))?;
    let perms = args
        .json("permissions")
        .ok_or_else(|| ValidationError::Required("permissions".into()))?;
    let perms = parse_permissions(ctx, perms)?;
    check_name(tx, name, None)?;
    let mut rec = Record::new();
    rec.insert("name", Val::Text(name.into()));
    rec.insert("permissions", Val::Text(perms));
    rec.insert("builtin", Val::Int(0));
    rec.insert("c_dt", Val::Text(ctx.now_str()));
    let id = tx.insert(&ROLES, &rec)?;
    ctx.touch("roles", id);
    Ok(json!({ "id": id }))
}

fn edit(ctx: &mut Ctx<'_>, tx: &mut dyn StoreTx, args: &Args) -> Result<Value> {
    let id = args.req_int("id")?;
    load_changeable(ctx, tx, id)?;
    let mut changes = Record::new();
    if let Some(name) = args.text("name") {
        check_name(tx, name, Some(id))?;
        changes.insert("name", Val::Text(name.into()));
    }
    if let Some(p) = args.json("permissions") {
        changes.insert("permissions", Val::Text(parse_permissions(ctx, p)?));
        // Sessions read their role's rights on every call: holders see the change at once.
    }
    tx.update(&ROLES, id, &changes)?;
    ctx.touch("roles", id);
    Ok(json!({ "id": id }))
}

fn delete(ctx: &mut Ctx<'_>, tx: &mut dyn StoreTx, args: &Args) -> Result<Value> {
    let id = args.req_int("id")?;
    load_changeable(ctx, tx, id)?;
    if tx.count_refs("users", "id_roles", id)? > 0 {
        return Err(Error::InUse {
            what: format!("role {id}"),
            reason: "users hold it".into(),
        });
    }
    tx.delete(&ROLES, id)?;
    ctx.touch("roles", id);
    Ok(json!({ "id": id }))
}

fn edit_form(ctx: &mut Ctx<'_>, tx: &mut dyn StoreTx, args: &Args) -> Result<Value> {
    let rec = crud::load(ctx, tx, &ROLES, args.req_int("id")?)?;
    Ok(json!({ "role": role_json(&rec) }))
}

fn list(ctx: &mut Ctx<'_>, tx: &mut dyn StoreTx, args: &Args) -> Result<Value> {
    let q = crud::list_query(ctx, &ROLES, args)?;
    let (rows, total) = tx.list(&ROLES, &q)?;
    let rows: Vec<Value> = rows.iter().map(role_json).collect();
    Ok(json!({ "rows": rows, "total": total, "limit": q.limit, "offset": q.offset }))
}

fn permissions_arg() -> ArgDef {
    ArgDef::new("permissions", ArgKind::Object)
}

pub(super) fn register(r: &mut Registry) {
    let name = || {
        ArgDef::field(
            "name",
            FieldKind::Text {
                max: limits::name_length_max,
            },
        )
    };
    let mut add_m = MethodDef::new(
        "roles",
        "add",
        Verb::Write,
        true,
        vec![name().required(), permissions_arg().required()],
        Box::new(add),
    );
    add_m.ignored = ROLES.ignored;
    r.add(add_m);
    let mut edit_m = MethodDef::new(
        "roles",
        "edit",
        Verb::Write,
        true,
        vec![crud::id_arg(&ROLES), name(), permissions_arg()],
        Box::new(edit),
    );
    edit_m.ignored = ROLES.ignored;
    r.add(edit_m);
    let id_only = || vec![crud::id_arg(&ROLES)];
    let mut m = MethodDef::new(
        "roles",
        "editForm",
        Verb::Read,
        false,
        id_only(),
        Box::new(edit_form),
    );
    m.ignored = ROLES.ignored;
    r.add(m);
    let mut m = MethodDef::new(
        "roles",
        "list",
        Verb::Read,
        false,
        crud::list_args(&ROLES),
        Box::new(list),
    );
    m.ignored = ROLES.ignored;
    r.add(m);
    r.add(MethodDef::new(
        "roles",
        "delete",
        Verb::Delete,
        true,
        id_only(),
        Box::new(delete),
    ));
}
