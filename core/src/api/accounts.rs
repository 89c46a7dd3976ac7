//! `accounts`: how a client is recognised on a call.

use super::crud::{self, Crud, Mode, Op};
use super::{Ctx, Registry};
use crate::error::{Result, ValidationError};
use crate::model::catalog::{self, Object};
use crate::model::{Record, Val, ACCOUNTS};
use crate::store::StoreTx;
use std::net::IpAddr;

/// Check that `ident` suits `auth_type`.
fn check_ident(auth_type: &str, ident: &str) -> Result<()> {
    let ok = match auth_type {
        "ip" => ident.parse::<IpAddr>().is_ok(),
        "ani" | "tech_prefix" => {
            !ident.is_empty() && ident.len() <= 32 && ident.bytes().all(|b| b.is_ascii_digit())
        }
        _ => !ident.trim().is_empty() && !ident.contains(char::is_whitespace),
    };
    if ok {
        Ok(())
    } else {
        let want = match auth_type {
            "ip" => "an IPv4 or IPv6 address",
            "ani" | "tech_prefix" => "1 to 32 digits",
            _ => "a login without spaces",
        };
        Err(ValidationError::invalid(
            "ident",
            format!("for auth_type '{auth_type}' it must be {want}"),
        )
        .into())
    }
}

fn validate(
    _ctx: &Ctx<'_>,
    _tx: &mut dyn StoreTx,
    _mode: Mode,
    rec: &mut Record,
    existing: Option<&Record>,
) -> Result<()> {
    let pick = |k: &str| {
        rec.get(k)
            .or_else(|| existing.and_then(|e| e.get(k)))
            .and_then(Val::as_text)
            .map(str::to_string)
    };
    if rec.contains_key("auth_type") || rec.contains_key("ident") {
        let (Some(t), Some(i)) = (pick("auth_type"), pick("ident")) else {
            return Err(ValidationError::Required("ident".into()).into());
        };
        check_ident(&t, &i)?;
    }
    Ok(())
}

pub(super) fn register(r: &mut Registry) {
    let c = Crud {
        validate: Some(validate),
        events: Some((
            Object::Account,
            &[
                (Op::Add, catalog::ACCOUNTS_CREATE),
                (Op::Edit, catalog::ACCOUNTS_UPDATE),
                (Op::Delete, catalog::ACCOUNTS_DELETE),
            ],
        )),
        ..Crud::new(&ACCOUNTS)
    };
    crud::register(
        r,
        c,
        &[Op::Add, Op::Edit, Op::EditForm, Op::List, Op::Delete],
    );
}
