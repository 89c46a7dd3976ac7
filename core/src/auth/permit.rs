//! Where every permission is decided. The dispatcher asks [`require`] for the right a method
//! declares before its body runs; the checks that depend on the object a call names are the
//! other functions here, which method bodies call. Nothing else in core compares rights,
//! scopes or roles.

use super::rbac::{Grants, Permission};
use super::Principal;
use crate::error::{AuthError, Result};
use crate::model::{EntityDef, Tenancy, CLIENTS};
use crate::store::StoreTx;

/// The principal holds `p` (a role's grant, or `System`), else `permission.denied`.
pub fn require(principal: &Principal, p: Permission) -> Result<()> {
    if principal.can(p) {
        Ok(())
    } else {
        Err(AuthError::PermissionDenied {
            module: p.module.into(),
            verb: p.verb.as_str().into(),
        }
        .into())
    }
}

/// Is the principal the operator (or `System`): does it see the whole tree?
pub fn is_operator(principal: &Principal) -> bool {
    principal.scope().is_none()
}

/// Only the operator may do `what` in `module` (rows every tenant shares, script and callback
/// handlers).
pub fn require_operator(principal: &Principal, module: &str, what: &str) -> Result<()> {
    if is_operator(principal) {
        Ok(())
    } else {
        Err(AuthError::PermissionDenied {
            module: module.into(),
            verb: format!("write ({what})"),
        }
        .into())
    }
}

/// Rows shared by every tenant (currencies, custom fields, roles) are written by the
/// operator only.
pub fn require_global_write(principal: &Principal, e: &EntityDef) -> Result<()> {
    if e.tenancy == Tenancy::Global {
        require_operator(principal, e.module, "operator only")
    } else {
        Ok(())
    }
}

/// A reseller's own company belongs to the company above it: it may not edit or delete it.
pub fn require_not_own_root(principal: &Principal, company: Option<i64>) -> Result<()> {
    if !is_operator(principal) && company == Some(principal.company()) {
        return Err(AuthError::PermissionDenied {
            module: "companies".into(),
            verb: "write (your own company belongs to the company above)".into(),
        }
        .into());
    }
    Ok(())
}

/// Does the principal hold every right of `g`? (Nobody grants more than they hold.)
pub fn covers(principal: &Principal, g: &Grants) -> bool {
    match principal {
        Principal::System => true,
        Principal::User(u) => u.grants.covers(g),
    }
}

/// Granting or using a role with rights the caller does not hold is `permission.escalation`.
pub fn require_covers(principal: &Principal, g: &Grants, what: &str) -> Result<()> {
    if covers(principal, g) {
        Ok(())
    } else {
        Err(AuthError::Escalation(format!("{what} holds rights you do not hold")).into())
    }
}

/// Is `client` inside the principal's subtree? (A softswitch user may charge only its own
/// clients' calls; the caller answers a foreign one exactly like a missing one.)
pub fn sees_client(principal: &Principal, tx: &dyn StoreTx, client: i64) -> Result<bool> {
    match principal.scope() {
        None => Ok(true),
        Some(scope) => Ok(tx.get(&CLIENTS, client, Some(scope))?.is_some()),
    }
}
