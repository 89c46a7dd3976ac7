//! Who is calling: users, passwords, sessions and the principal a call runs as.

pub mod api_token;
pub mod password;
pub mod permit;
pub mod rbac;
pub mod session;
pub mod token;

use crate::auth::rbac::{Grants, Permission};
use crate::error::{Result, ValidationError};
use crate::limits;
use unicode_normalization::UnicodeNormalization;
use unicode_properties::{GeneralCategoryGroup, UnicodeGeneralCategory};

/// The one rule for a login, wherever one is set or given: NFC-normalised, 1 to
/// `login_length_max` characters, and no character that could make two logins look alike in
/// an audit row: no whitespace, no control (Cc), format (Cf: zero-width spaces and joiners,
/// bidirectional overrides), separator, unassigned, private-use or surrogate character.
/// Returns the normalised login.
pub fn normalize_login(field: &str, login: &str) -> Result<String> {
    let nfc: String = login.nfc().collect();
    let n = nfc.chars().count();
    if n == 0 || n > limits::login_length_max {
        return Err(ValidationError::invalid(
            field,
            format!("must be 1 to {} characters", limits::login_length_max),
        )
        .into());
    }
    let invisible = |c: char| {
        c.is_whitespace()
            || matches!(
                c.general_category_group(),
                GeneralCategoryGroup::Separator | GeneralCategoryGroup::Other
            )
    };
    if let Some(c) = nfc.chars().find(|c| invisible(*c)) {
        return Err(ValidationError::invalid(
            field,
            format!(
                "must not contain spaces or invisible characters (found U+{:04X})",
                u32::from(c)
            ),
        )
        .into());
    }
    Ok(nfc)
}

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
            Principal::User(u) if u.company == crate::model::OPERATOR_COMPANY => None,
            Principal::User(u) => Some(u.company),
        }
    }

    /// The company new objects go into by default.
    pub fn company(&self) -> i64 {
        match self {
            Principal::System => crate::model::OPERATOR_COMPANY,
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
