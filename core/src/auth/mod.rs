//! Who is calling: users, passwords, sessions and the principal a call runs as.

pub mod password;
pub mod session;
pub mod token;

use crate::rbac::{Grants, Permission};

/// The identity a call runs as.
#[derive(Debug, Clone)]
pub enum Principal {
    /// The embedding process itself (a softswitch plugin, the CLI's trusted commands): every
    /// right, whole tree.
    System,
    /// A logged-in user.
    User(UserPrincipal),
}

/// A logged-in user, with the rights of their role and the company subtree they see.
#[derive(Debug, Clone)]
pub struct UserPrincipal {
    /// User id.
    pub id: i64,
    /// Login.
    pub login: String,
    /// Session row id (for audit), when the call came with a session.
    pub session_id: Option<i64>,
    /// Root of the company subtree the user sees.
    pub company: i64,
    /// Rights of the role.
    pub grants: Grants,
}

impl Principal {
    /// Does the principal hold `p`?
    pub fn can(&self, p: Permission) -> bool {
        match self {
            Principal::System => true,
            Principal::User(u) => u.grants.allows(p),
        }
    }

    /// The company subtree root to restrict reads and writes to; `None` = everything.
    pub fn scope(&self) -> Option<i64> {
        match self {
            Principal::System => None,
            // The operator's company is the root of the whole tree: no filter needed.
            Principal::User(u) if u.company == crate::engine::OPERATOR_COMPANY => None,
            Principal::User(u) => Some(u.company),
        }
    }

    /// The company new objects go into by default.
    pub fn company(&self) -> i64 {
        match self {
            Principal::System => crate::engine::OPERATOR_COMPANY,
            Principal::User(u) => u.company,
        }
    }

    /// User id for audit (0 = system).
    pub fn user_id(&self) -> i64 {
        match self {
            Principal::System => 0,
            Principal::User(u) => u.id,
        }
    }

    /// Login for audit.
    pub fn login(&self) -> &str {
        match self {
            Principal::System => "system",
            Principal::User(u) => &u.login,
        }
    }

    /// Session row id for audit.
    pub fn session_row(&self) -> Option<i64> {
        match self {
            Principal::System => None,
            Principal::User(u) => u.session_id,
        }
    }
}
