//! `auth.login` and `auth.logout`. The dispatcher authenticates every call; `auth.login`
//! just reports the session it opened.

use super::{Access, ArgDef, MethodDef, Registry};
use crate::auth::rbac::Verb;
use crate::auth::Principal;
use crate::model::FieldKind;
use serde_json::json;

pub(super) fn register(r: &mut Registry) {
    let mut login = MethodDef::new(
        "auth",
        "login",
        Verb::Read,
        false,
        // `login`/`password` may come as plain arguments as well as inside `auth`.
        vec![
            ArgDef::field(
                "login",
                FieldKind::Text {
                    max: crate::limits::login_length_max,
                },
            ),
            ArgDef::field("password", FieldKind::Secret),
        ],
        Box::new(|ctx, _tx, _args| {
            Ok(match ctx.principal {
                Principal::System => json!({"user": {"login": "system"}}),
                Principal::User(u) => {
                    json!({"user": {"id": u.id, "login": u.login, "id_companies": u.company}})
                }
            })
        }),
    );
    login.access = Access::Authenticated;
    r.add(login);

    let mut logout = MethodDef::new(
        "auth",
        "logout",
        Verb::Read,
        true,
        vec![],
        Box::new(|ctx, tx, _args| {
            if let Some(id) = ctx.principal.session_row() {
                tx.revoke_session(id)?;
                ctx.touch("sessions", id);
            }
            Ok(json!({"logged_out": true}))
        }),
    );
    logout.access = Access::Authenticated;
    r.add(logout);
}
