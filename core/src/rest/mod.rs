//! The PortaBilling-style REST facade (DESIGN §10): `/rest/<Service>/<method>` with a body
//! `{auth_info?, params?}` and an optional `Authorization: Bearer` token.
//!
//! Every domain method runs through the Management API dispatcher as the resolved principal,
//! so permissions, tenancy, validation and audit apply exactly as on the JSON-RPC side. Errors
//! are HTTP 500 `{faultcode, faultstring}`; codes follow PortaBilling's pattern
//! `<Client|Server>.<Service>.<method or area>.<reason>` (see `docs/rest.md`). No answer ever
//! repeats a password or a token it was given.

mod map;

use crate::api;
use crate::api::Inner;
use crate::auth::session::{self, Issued};
use crate::auth::Principal;
use crate::error::{AuthError, Error, ErrorCode, ErrorKind};
use chrono::{DateTime, Utc};
use serde_json::{json, Map, Value};

/// A refused REST call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Fault {
    code: String,
    string: String,
}

impl Fault {
    fn new(code: impl Into<String>, string: impl Into<String>) -> Fault {
        Fault {
            code: code.into(),
            string: string.into(),
        }
    }

    /// A fault for a Management API error raised while serving `service/method`.
    fn from_error(service: &str, method: &str, e: &Error) -> Fault {
        Fault::from_code(service, method, e.code(), &e.to_string())
    }

    fn from_code(service: &str, method: &str, code: ErrorCode, message: &str) -> Fault {
        let reason = code.as_str().replace('.', "_");
        Fault::new(
            format!("{}.{service}.{method}.{reason}", fault_side(code.kind())),
            message,
        )
    }
}

/// The PortaBilling side of a fault for an error of `kind`: the engine's failures are
/// `Server`, and so are permission refusals (PortaBilling's convention); the rest `Client`.
pub(crate) fn fault_side(kind: ErrorKind) -> &'static str {
    match kind {
        ErrorKind::Server | ErrorKind::Forbidden => "Server",
        ErrorKind::Client | ErrorKind::Auth | ErrorKind::NotFound => "Client",
    }
}

type Reply = Result<Value, Fault>;

const AUTH_FAILED: &str =
    "The login or password is incorrect. Please note: your password is case sensitive.";

/// Answer one REST call.
pub(crate) fn handle(
    inner: &Inner,
    service: &str,
    method: &str,
    body: &Value,
    bearer: Option<&str>,
) -> (u16, Value) {
    match dispatch(inner, service, method, body, bearer) {
        Ok(v) => (200, v),
        Err(f) => (500, json!({"faultcode": f.code, "faultstring": f.string})),
    }
}

/// The request body, split.
struct Body<'a> {
    auth_info: Option<&'a Map<String, Value>>,
    params: Map<String, Value>,
}

fn split_body(body: &Value) -> Result<Body<'_>, Fault> {
    let malformed = |what: &str| Fault::new("Client.Request.malformed", what.to_string());
    static EMPTY: std::sync::OnceLock<Map<String, Value>> = std::sync::OnceLock::new();
    let obj = match body {
        Value::Object(m) => m,
        Value::Null => EMPTY.get_or_init(Map::new),
        _ => return Err(malformed("the body must be a JSON object")),
    };
    if body.to_string().len() > crate::limits::rest_body_bytes_max {
        return Err(malformed("the body is too large"));
    }
    let params = match obj.get("params") {
        None | Some(Value::Null) => Map::new(),
        Some(Value::Object(p)) => p.clone(),
        Some(_) => return Err(malformed("params must be a JSON object")),
    };
    let auth_info = match obj.get("auth_info") {
        None | Some(Value::Null) => None,
        Some(Value::Object(a)) => Some(a),
        Some(_) => return Err(malformed("auth_info must be a JSON object")),
    };
    Ok(Body { auth_info, params })
}

/// The token of `bearer`: an `Authorization` header value or the bare token (docs/rest.md).
fn strip_bearer(b: &str) -> &str {
    crate::wire::bearer_token(b).unwrap_or_else(|| b.trim())
}

fn dispatch(
    inner: &Inner,
    service: &str,
    method: &str,
    body: &Value,
    bearer: Option<&str>,
) -> Reply {
    let b = split_body(body)?;
    let bearer = bearer.map(strip_bearer).filter(|t| !t.is_empty());
    match (service, method) {
        ("Session", "login") => login(inner, &b),
        ("Session", "refresh_access_token") => refresh(inner, &b),
        ("Session", "ping") => ping(inner, &b, bearer),
        ("Session", "logout") => logout(inner, &b, bearer),
        ("Session", "get_access_token_lifetime") => {
            authenticate(inner, &b, bearer)?;
            Ok(json!({"access_token_lifetime": inner.config.access_token_lifetime_seconds}))
        }
        ("Account", m) | ("Customer", m) | ("Invoice", m) if map::known(service, m) => {
            let p = authenticate(inner, &b, bearer)?;
            map::call(inner, &p, service, m, &b.params)
        }
        _ => Err(Fault::new(
            "Client.Request.unknown_method",
            format!(
                "no REST method {}/{}",
                printable(service),
                printable(method)
            ),
        )),
    }
}

/// Caller text shown back in a fault: short and printable.
fn printable(s: &str) -> String {
    s.chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '_')
        .take(crate::limits::echoed_text_chars_max)
        .collect()
}

/// `YYYY-MM-DD HH:MM:SS`, UTC, as PortaBilling writes datetimes.
fn pb_datetime(unix: i64) -> String {
    DateTime::<Utc>::from_timestamp(unix, 0)
        .map(|t| t.format("%Y-%m-%d %H:%M:%S").to_string())
        .unwrap_or_default()
}

fn issued_json(inner: &Inner, i: &Issued) -> Map<String, Value> {
    let now = inner.clock.now().timestamp();
    let mut m = Map::new();
    m.insert("access_token".into(), Value::String(i.access_token.clone()));
    m.insert(
        "refresh_token".into(),
        Value::String(i.refresh_token.clone()),
    );
    m.insert(
        "expires_at".into(),
        Value::String(pb_datetime(i.expires_at)),
    );
    m.insert("expires_in".into(), Value::from(i.expires_at - now));
    m
}

fn text<'a>(m: &'a Map<String, Value>, k: &str) -> Option<&'a str> {
    m.get(k).and_then(Value::as_str)
}

/// A refused API token, with its reason (not the login's, revoked, blocked user, another
/// realm, malformed): at `Session/login` PortaBilling's `Server.Session.auth_failed`, on any
/// other call the code of a refused access token.
fn api_token_fault(e: &Error, at_login: bool) -> Fault {
    let reason = match e {
        Error::Auth(AuthError::Failed) => "the API token does not belong to this login".into(),
        Error::Auth(AuthError::TokenInvalid(why)) => why.clone(),
        other => return Fault::from_error("Session", "login", other),
    };
    if at_login {
        Fault::new(
            "Server.Session.auth_failed",
            format!("The login or API token is incorrect: {reason}."),
        )
    } else {
        Fault::new(
            "Client.Session.check_auth.failed_to_process_access_token",
            format!("The API token could not be processed: {reason}."),
        )
    }
}

fn login_fault(e: &Error) -> Fault {
    match e {
        Error::Auth(AuthError::Locked) => Fault::new(
            "Server.Session.cannot_login_brute_force_activity",
            "Too many failed login attempts; the login is locked for a while.",
        ),
        Error::Auth(AuthError::Busy) => Fault::new(
            "Server.Session.too_many_requests",
            "Too many password checks at once; try again shortly.",
        ),
        Error::Auth(_) => Fault::new("Server.Session.auth_failed", AUTH_FAILED),
        other => Fault::from_error("Session", "login", other),
    }
}

/// What `Session/login` was given: a password or an API token (seed 002: "login and either
/// the API token or the user password").
enum Secret<'a> {
    Password(&'a str),
    Token(&'a str),
}

fn login(inner: &Inner, b: &Body<'_>) -> Reply {
    fn from(m: &Map<String, Value>) -> Option<(&str, Secret<'_>)> {
        let login = text(m, "login")?;
        match (text(m, "password"), text(m, "token")) {
            (Some(p), _) => Some((login, Secret::Password(p))),
            (None, Some(t)) => Some((login, Secret::Token(t))),
            (None, None) => None,
        }
    }
    let creds = from(&b.params).or_else(|| b.auth_info.and_then(from));
    let Some((user, secret)) = creds else {
        return Err(Fault::new(
            "Client.Session.login.validation_required",
            "login and either password or token are required",
        ));
    };
    let (_, sid, issued) = match secret {
        Secret::Password(password) => session::login_with_tokens(&inner.realm(), user, password)
            .map_err(|e| login_fault(&e))?,
        Secret::Token(token) => session::login_with_api_token(&inner.realm(), user, token)
            .map_err(|e| api_token_fault(&e, true))?,
    };
    let mut m = issued_json(inner, &issued);
    m.insert("session_id".into(), Value::String(sid));
    Ok(Value::Object(m))
}

fn refresh(inner: &Inner, b: &Body<'_>) -> Reply {
    let fault = || {
        Fault::new(
            "Server.Session.refresh_access_token.refresh_failed",
            "The refresh token is not valid; log in again.",
        )
    };
    let token = text(&b.params, "refresh_token").ok_or_else(fault)?;
    let issued = session::refresh(&inner.realm(), token).map_err(|e| match e {
        Error::Auth(_) => fault(),
        other => Fault::from_error("Session", "refresh_access_token", &other),
    })?;
    Ok(Value::Object(issued_json(inner, &issued)))
}

/// The access token of a Session call: `params.access_token`, the bearer, or
/// `auth_info.access_token`.
fn session_token<'a>(b: &'a Body<'_>, bearer: Option<&'a str>) -> Option<&'a str> {
    text(&b.params, "access_token")
        .or(bearer)
        .or_else(|| b.auth_info.and_then(|a| text(a, "access_token")))
}

fn ping(inner: &Inner, b: &Body<'_>, bearer: Option<&str>) -> Reply {
    let fault = || {
        Fault::new(
            "Client.Session.ping.failed_to_process_access_token",
            "The access token could not be processed.",
        )
    };
    let token = session_token(b, bearer).ok_or_else(fault)?;
    let now = inner.clock.now().timestamp();
    if crate::auth::api_token::looks_like_api_token(token) {
        if !crate::auth::api_token::well_formed(token) {
            return Err(fault());
        }
    } else {
        inner.tokens.verify(token, now).map_err(|_| fault())?;
    }
    // A well-signed token of a dead session answers 0, as PortaBilling does.
    let user_id = match session::authenticate_token(&inner.realm(), token) {
        Ok(p) => p.user_id(),
        Err(_) => 0,
    };
    Ok(json!({ "user_id": user_id }))
}

fn logout(inner: &Inner, b: &Body<'_>, bearer: Option<&str>) -> Reply {
    let fault = || {
        Fault::new(
            "Client.Session.logout.failed_to_process_access_token",
            "The access token could not be processed.",
        )
    };
    let p = match session_token(b, bearer) {
        Some(t) => session::authenticate_token(&inner.realm(), t).map_err(|_| fault())?,
        None => authenticate(inner, b, None)?,
    };
    let env = api::dispatch(inner, Some(p), "auth.logout", &json!({}));
    if let Some(e) = env.errors.first() {
        return Err(Fault::from_code("Session", "logout", e.code, &e.message));
    }
    Ok(json!({ "success": 1 }))
}

/// The principal of a non-Session call: bearer token, then `auth_info` (`access_token`,
/// `session_id`, or `login` + `password`).
fn authenticate(inner: &Inner, b: &Body<'_>, bearer: Option<&str>) -> Result<Principal, Fault> {
    let token_fault = || {
        Fault::new(
            "Client.Session.check_auth.failed_to_process_access_token",
            "The access token could not be processed; log in again.",
        )
    };
    // An API token's refusal says why (revoked, blocked user...); a signed token's does not.
    let refused = |t: &str, e: Error| {
        if crate::auth::api_token::looks_like_api_token(t) {
            api_token_fault(&e, false)
        } else {
            token_fault()
        }
    };
    if let Some(t) = bearer {
        return session::authenticate_token(&inner.realm(), t).map_err(|e| refused(t, e));
    }
    let Some(a) = b.auth_info else {
        return Err(Fault::new(
            "Client.check_auth.envelope_missed",
            "Authentication is required: send auth_info or an Authorization: Bearer token.",
        ));
    };
    if let Some(t) = text(a, "access_token") {
        return session::authenticate_token(&inner.realm(), t).map_err(|e| refused(t, e));
    }
    if let Some(t) = text(a, "token") {
        let login = text(a, "login").ok_or_else(|| {
            Fault::new(
                "Client.check_auth.envelope_missed",
                "auth_info with a token needs the login it belongs to.",
            )
        })?;
        return session::api_token_of(&inner.realm(), login, t)
            .map_err(|e| api_token_fault(&e, false));
    }
    if let Some(sid) = text(a, "session_id") {
        return session::authenticate_sid(&inner.realm(), sid).map_err(|_| {
            Fault::new(
                "Server.Session.check_auth.auth_failed",
                "The session is not valid; log in again.",
            )
        });
    }
    match (text(a, "login"), text(a, "password")) {
        (Some(l), Some(p)) => session::login(&inner.realm(), l, p)
            .map(|(p, _)| p)
            .map_err(|e| login_fault(&e)),
        _ => Err(Fault::new(
            "Client.check_auth.envelope_missed",
            "auth_info needs access_token, session_id, or login and password or token.",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The side each code's fault had before the side was derived from [`ErrorKind`].
    fn side_before(code: ErrorCode) -> &'static str {
        match code {
            ErrorCode::Internal
            | ErrorCode::StoreInUse
            | ErrorCode::StoreIo
            | ErrorCode::StoreHalted
            | ErrorCode::StoreUnreachable
            | ErrorCode::StoreAccessDenied
            | ErrorCode::StoreNotFound
            | ErrorCode::StoreExists
            | ErrorCode::StoreNotTollgate
            | ErrorCode::StoreSchemaNewer
            | ErrorCode::PermissionDenied
            | ErrorCode::PermissionEscalation => "Server",
            _ => "Client",
        }
    }

    #[test]
    fn fault_sides_follow_the_error_kind() {
        for &code in ErrorCode::ALL {
            let f = Fault::from_code("Customer", "add_customer", code, "m");
            let side = fault_side(code.kind());
            assert_eq!(side, side_before(code), "{code}");
            assert_eq!(
                f.code,
                format!(
                    "{side}.Customer.add_customer.{}",
                    code.as_str().replace('.', "_")
                )
            );
        }
    }

    #[test]
    fn bearer_is_a_header_value_or_a_bare_token() {
        assert_eq!(strip_bearer("Bearer abc"), "abc");
        assert_eq!(strip_bearer("bearer  abc "), "abc");
        assert_eq!(strip_bearer(" abc "), "abc");
        // Not a bearer header: taken as the token, and refused as one.
        assert_eq!(strip_bearer("Basic xyz"), "Basic xyz");
        assert_eq!(strip_bearer("Bearer "), "Bearer");
    }
}
