//! `users.tokenAdd`, `users.tokenList`, `users.tokenRevoke`: API tokens of a user
//! (`auth::api_token`). The rules are a user's: a token is made or revoked only for a user
//! inside the caller's subtree whose role holds no right the caller lacks (as for
//! `users.edit`); the token is returned once, by `tokenAdd`, and never again; each change is
//! one audit row naming the token's row id, never the token.

use super::crud;
use super::users::role_grants;
use super::{ArgDef, Args, Ctx, MethodDef, Registry};
use crate::auth::api_token;
use crate::auth::permit;
use crate::auth::rbac::Verb;
use crate::auth::token::REALM;
use crate::error::{Error, Result, ValidationError};
use crate::limits;
use crate::model::{FieldKind, Val, USERS};
use crate::store::{ApiTokenRow, NewApiToken, StoreTx};
use serde_json::{json, Value};

/// The module the audit trail names token rows by.
const MODULE: &str = "api_tokens";

/// The user a call names (`id_users`), or the caller; checked to be inside the caller's
/// subtree (else `not_found`) and no stronger than the caller. Returns the user's id and
/// status.
fn target_user(ctx: &Ctx<'_>, tx: &dyn StoreTx, args: &Args) -> Result<(i64, String)> {
    let id = match args.int("id_users") {
        Some(id) => id,
        None if ctx.principal.user_id() != 0 => ctx.principal.user_id(),
        None => return Err(ValidationError::Required("id_users".into()).into()),
    };
    let user = crud::load(ctx, tx, &USERS, id)?;
    require_no_stronger(ctx, tx, &user)?;
    let status = user
        .get("status")
        .and_then(Val::as_text)
        .unwrap_or("active")
        .to_string();
    Ok((id, status))
}

fn require_no_stronger(ctx: &Ctx<'_>, tx: &dyn StoreTx, user: &crate::model::Record) -> Result<()> {
    if let Some(r) = user.get("id_roles").and_then(Val::as_int) {
        let g = role_grants(tx, "id_roles", r)?;
        permit::require_covers(ctx.principal, &g, "this user's role")?;
    }
    Ok(())
}

fn row_json(r: &ApiTokenRow) -> Value {
    json!({
        "id": r.id,
        "id_users": r.id_users,
        "login": r.login,
        "name": r.name,
        "realm": r.realm,
        "hint": r.hint,
        "status": if r.revoked_at.is_some() { "revoked" } else { "active" },
        "c_dt": r.c_dt,
        "created_by": r.created_by,
        "revoked_at": r.revoked_at,
        "revoked_by": r.revoked_by,
    })
}

fn token_add(ctx: &mut Ctx<'_>, tx: &mut dyn StoreTx, args: &Args) -> Result<Value> {
    let (id_users, status) = target_user(ctx, tx, args)?;
    if status != "active" {
        return Err(ValidationError::invalid("id_users", "the user is blocked").into());
    }
    if tx.live_api_tokens(id_users)? >= limits::api_tokens_per_user_max {
        return Err(ValidationError::invalid(
            "id_users",
            format!(
                "the user holds {} API tokens already; revoke one first",
                limits::api_tokens_per_user_max
            ),
        )
        .into());
    }
    let name = args.text("name").unwrap_or("API token");
    let (token, hint) = api_token::new_token(REALM);
    let hash = ctx.inner.tokens.api.hash(&token);
    let now = ctx.now_str();
    let id = tx.insert_api_token(&NewApiToken {
        id_users,
        realm: REALM,
        name,
        token_hash: &hash,
        hint: &hint,
        c_dt: &now,
        created_by: ctx.principal.user_id(),
    })?;
    ctx.touch(MODULE, id);
    ctx.messages
        .push("the token is shown only now: store it safely".into());
    Ok(json!({ "id": id, "id_users": id_users, "token": token, "hint": hint, "name": name }))
}

fn token_list(ctx: &mut Ctx<'_>, tx: &mut dyn StoreTx, args: &Args) -> Result<Value> {
    let user = match args.int("id_users") {
        Some(id) => {
            // Answers not_found for a user outside the subtree, as every read does.
            crud::load(ctx, tx, &USERS, id)?;
            Some(id)
        }
        None => None,
    };
    let limit = args
        .int("limit")
        .map(|l| l as u64)
        .unwrap_or(limits::list_page_size_default);
    let offset = args.int("offset").map(|o| o as u64).unwrap_or(0);
    let (rows, total) = tx.api_tokens(user, ctx.principal.scope(), limit, offset)?;
    let rows: Vec<Value> = rows.iter().map(row_json).collect();
    Ok(json!({ "rows": rows, "total": total, "limit": limit, "offset": offset }))
}

fn token_revoke(ctx: &mut Ctx<'_>, tx: &mut dyn StoreTx, args: &Args) -> Result<Value> {
    let id = args.req_int("id")?;
    let row = tx
        .api_token_by_id(id, ctx.principal.scope())?
        .ok_or_else(|| Error::not_found("API token"))?;
    let user = crud::load(ctx, tx, &USERS, row.id_users)?;
    require_no_stronger(ctx, tx, &user)?;
    // Revoking a revoked token changes nothing and writes no audit row.
    if tx.revoke_api_token(id, &ctx.now_str(), ctx.principal.user_id())? {
        ctx.touch(MODULE, id);
    }
    Ok(json!({ "id": id }))
}

fn user_arg() -> ArgDef {
    ArgDef::field("id_users", FieldKind::Ref("users")).alias(&["users_id"])
}

pub(super) fn register(r: &mut Registry) {
    r.add(MethodDef::new(
        "users",
        "tokenAdd",
        Verb::Write,
        true,
        vec![
            user_arg(),
            ArgDef::field(
                "name",
                FieldKind::Text {
                    max: limits::name_length_max,
                },
            ),
        ],
        Box::new(token_add),
    ));
    r.add(MethodDef::new(
        "users",
        "tokenList",
        Verb::Read,
        false,
        vec![
            user_arg(),
            ArgDef::field(
                "limit",
                FieldKind::Int {
                    min: 1,
                    max: limits::list_page_size_max as i64,
                },
            ),
            ArgDef::field(
                "offset",
                FieldKind::Int {
                    min: 0,
                    max: i64::MAX,
                },
            ),
        ],
        Box::new(token_list),
    ));
    r.add(MethodDef::new(
        "users",
        "tokenRevoke",
        Verb::Write,
        true,
        vec![ArgDef::field("id", FieldKind::Id)
            .required()
            .alias(&["id_api_tokens"])],
        Box::new(token_revoke),
    ));
}
