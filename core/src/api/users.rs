//! `users`: logins of the Management API. A user lives in a company and sees its subtree;
//! nobody creates, changes or deletes a user whose role holds rights they do not hold
//! themselves, and a change of password, role, status or company logs the user's other
//! sessions out.

use super::crud::{self, Crud, Mode, Op};
use super::{ArgDef, Args, Ctx, MethodDef, Registry};
use crate::auth::password;
use crate::auth::rbac::{Grants, Verb};
use crate::error::{Error, Result, ValidationError};
use crate::model::{FieldKind, Record, Val, USERS};
use crate::store::StoreTx;
use serde_json::{json, Value};

/// The grants of a role, or a validation error naming `field`.
pub(super) fn role_grants(tx: &dyn StoreTx, field: &str, id_roles: i64) -> Result<Grants> {
    let text = tx
        .role_permissions(id_roles)?
        .ok_or_else(|| ValidationError::invalid(field, format!("no role with id {id_roles}")))?;
    serde_json::from_str(&text)
        .ok()
        .and_then(|v| Grants::from_json(&v))
        .ok_or_else(|| Error::Internal(format!("role {id_roles} has unreadable permissions")))
}

/// Does the caller hold every right of `g`?
fn require_covered(ctx: &Ctx<'_>, tx: &dyn StoreTx, id_roles: i64, what: &str) -> Result<()> {
    let g = role_grants(tx, "id_roles", id_roles)?;
    crate::auth::permit::require_covers(ctx.principal, &g, what)
}

fn validate(
    ctx: &Ctx<'_>,
    tx: &mut dyn StoreTx,
    mode: Mode,
    rec: &mut Record,
    existing: Option<&Record>,
) -> Result<()> {
    if let Some(Val::Text(login)) = rec.get("login") {
        let login = crate::auth::normalize_login("login", login)?;
        rec.insert("login", Val::Text(login));
    }
    if let Some(old) = existing {
        // Only users no stronger than the caller can be changed at all.
        if let Some(r) = old.get("id_roles").and_then(Val::as_int) {
            require_covered(ctx, tx, r, "this user's role")?;
        }
    }
    if let Some(Val::Int(r)) = rec.get("id_roles") {
        require_covered(ctx, tx, *r, "the role")?;
    }
    if mode == Mode::Edit {
        let id = existing.and_then(|r| r.get("id")).and_then(Val::as_int);
        if id == Some(ctx.principal.user_id()) && rec.contains_key("password") {
            // A stolen session must not be enough to take the account over.
            return Err(ValidationError::invalid(
                "password",
                "change your own password with users.passwordChange and old_password",
            )
            .into());
        }
        let sensitive = ["password", "id_roles", "status", "id_companies"]
            .iter()
            .any(|k| rec.contains_key(k));
        if let (Some(id), true) = (id, sensitive) {
            let keep = (ctx.principal.user_id() == id)
                .then(|| ctx.principal.session_row())
                .flatten();
            tx.revoke_user_sessions(id, keep)?;
        }
    }
    Ok(())
}

fn delete(ctx: &mut Ctx<'_>, tx: &mut dyn StoreTx, args: &Args) -> Result<Value> {
    let id = args.req_int("id")?;
    let user = crud::load(ctx, tx, &USERS, id)?;
    if id == ctx.principal.user_id() {
        return Err(ValidationError::invalid("id", "you cannot delete yourself").into());
    }
    if let Some(r) = user.get("id_roles").and_then(Val::as_int) {
        require_covered(ctx, tx, r, "this user's role")?;
    }
    tx.delete_user_sessions(id)?;
    tx.delete_user_api_tokens(id)?;
    tx.delete(&USERS, id)?;
    ctx.touch("users", id);
    Ok(json!({ "id": id }))
}

fn password_change(ctx: &mut Ctx<'_>, tx: &mut dyn StoreTx, args: &Args) -> Result<Value> {
    let me = ctx.principal.user_id();
    let id = match args.int("id") {
        Some(id) => id,
        None if me != 0 => me,
        None => return Err(ValidationError::Required("id".into()).into()),
    };
    let user = crud::load(ctx, tx, &USERS, id)?;
    let new = args
        .text("password")
        .ok_or_else(|| ValidationError::Required("password".into()))?;
    if id == me {
        // Changing one's own password proves knowledge of the old one.
        let old = args
            .text("old_password")
            .ok_or_else(|| ValidationError::Required("old_password".into()))?;
        let stored = tx.user_by_id(id)?.ok_or_else(|| Error::not_found("user"))?;
        if !password::verify(old, &stored.password_hash)? {
            return Err(ValidationError::invalid("old_password", "is not correct").into());
        }
    } else if let Some(r) = user.get("id_roles").and_then(Val::as_int) {
        require_covered(ctx, tx, r, "this user's role")?;
    }
    password::check_new("password", new)?;
    let mut changes = Record::new();
    changes.insert("password", Val::Text(password::hash(new)?));
    tx.update(&USERS, id, &changes)?;
    let keep = (id == me).then(|| ctx.principal.session_row()).flatten();
    tx.revoke_user_sessions(id, keep)?;
    ctx.touch("users", id);
    Ok(json!({ "id": id }))
}

pub(super) fn register(r: &mut Registry) {
    let c = Crud {
        validate: Some(validate),
        ..Crud::new(&USERS)
    };
    crud::register(r, c, &[Op::Add, Op::Edit, Op::EditForm, Op::List]);
    r.add(MethodDef::new(
        "users",
        "delete",
        Verb::Delete,
        true,
        vec![crud::id_arg(&USERS)],
        Box::new(delete),
    ));
    let mut id = crud::id_arg(&USERS);
    id.required = false;
    r.add(MethodDef::new(
        "users",
        "passwordChange",
        Verb::Write,
        true,
        vec![
            id,
            ArgDef::field("password", FieldKind::Secret)
                .required()
                .alias(&["new_password"]),
            ArgDef::field("old_password", FieldKind::Secret),
        ],
        Box::new(password_change),
    ));
}
