//! What every front door (the HTTP server, the CLI, the C and Python bindings) reads off the
//! wire the same way: JSON request text within the size limit, the credentials a call's
//! params carry, and the token of an `Authorization: Bearer` header.
//!
//! One definition each, so that no front door re-derives a rule the dispatcher applies. This
//! module depends only on the foundation ([`crate::error`], [`crate::limits`]).

use crate::error::{AuthError, Error, ErrorCode, ValidationError};
use crate::limits;
use serde_json::{Map, Value};

// ---- JSON text ------------------------------------------------------------------------

/// Why JSON request text was refused. Both are [`ErrorCode::MalformedRequest`]; the front
/// door names the text (`'params_json'`, "the body") when it words the message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum JsonTextError {
    /// Longer than [`limits::request_size_bytes_max`]: refused before parsing.
    #[error("the JSON text is {len} bytes; the limit is {max}")]
    TooLarge {
        /// The text's length, in bytes.
        len: usize,
        /// The limit, in bytes.
        max: usize,
    },
    /// Not JSON (the parser's reason, with line and column).
    #[error("not valid JSON: {0}")]
    Invalid(String),
}

impl JsonTextError {
    /// The stable code: always [`ErrorCode::MalformedRequest`].
    pub fn code(&self) -> ErrorCode {
        ErrorCode::MalformedRequest
    }
}

impl From<JsonTextError> for Error {
    fn from(e: JsonTextError) -> Error {
        Error::Malformed(e.to_string())
    }
}

/// Parse JSON request text, refusing text longer than [`limits::request_size_bytes_max`]
/// before any parsing. Nesting is bounded by the parser's own recursion limit here; the
/// dispatcher holds each argument to [`limits::json_depth_max`] (an argument, not the whole
/// document, is what that limit measures).
pub fn parse_json(text: &str) -> Result<Value, JsonTextError> {
    let max = limits::request_size_bytes_max;
    if text.len() > max {
        return Err(JsonTextError::TooLarge {
            len: text.len(),
            max,
        });
    }
    serde_json::from_str(text).map_err(|e| JsonTextError::Invalid(e.to_string()))
}

// ---- credentials ----------------------------------------------------------------------

/// The params key of a session id.
pub const SID_KEY: &str = "SID";
/// The params key of an access token (the newer JeraSoft spelling).
pub const TOKEN_KEY: &str = "AUTH";
/// The params key of `{"login": ..., "password": ...}`.
pub const PASSWORD_KEY: &str = "auth";
/// The params keys that carry credentials in every method, in the order they are read: the
/// first present decides.
pub const CREDENTIAL_KEYS: [&str; 3] = [SID_KEY, TOKEN_KEY, PASSWORD_KEY];
/// The one method that also takes `login` and `password` as top-level params.
pub const LOGIN_METHOD: &str = "auth.login";

/// The credentials a call's params carry, as the dispatcher reads them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Credentials<'a> {
    /// `auth {login, password}`, or top-level `login` and `password` for [`LOGIN_METHOD`].
    Password {
        /// The login.
        login: &'a str,
        /// The password.
        password: &'a str,
    },
    /// `SID`: a session id.
    Sid(&'a str),
    /// `AUTH`: an access token.
    Token(&'a str),
    /// None of them.
    None,
}

/// Read the credentials of a call to `method` (its registered name) from `params`. A
/// credential key with a value of the wrong shape is an error, not an absence: `SID` that is
/// not a string is `auth.session_invalid`, `AUTH` that is not a string `auth.token_invalid`,
/// `auth` without string `login` and `password` `validation.invalid`.
pub fn credentials<'a>(
    method: &str,
    params: &'a Map<String, Value>,
) -> Result<Credentials<'a>, Error> {
    if let Some(sid) = params.get(SID_KEY) {
        return match sid.as_str() {
            Some(s) => Ok(Credentials::Sid(s)),
            None => Err(AuthError::SessionInvalid.into()),
        };
    }
    if let Some(token) = params.get(TOKEN_KEY) {
        return match token.as_str() {
            Some(t) => Ok(Credentials::Token(t)),
            None => Err(AuthError::TokenInvalid("malformed".into()).into()),
        };
    }
    let pair = |obj: &'a Map<String, Value>| -> Option<Credentials<'a>> {
        Some(Credentials::Password {
            login: obj.get("login")?.as_str()?,
            password: obj.get("password")?.as_str()?,
        })
    };
    if let Some(auth) = params.get(PASSWORD_KEY) {
        return auth.as_object().and_then(pair).ok_or_else(|| {
            ValidationError::invalid(PASSWORD_KEY, "expected {\"login\": ..., \"password\": ...}")
                .into()
        });
    }
    if method == LOGIN_METHOD {
        if let Some(c) = pair(params) {
            return Ok(c);
        }
    }
    Ok(Credentials::None)
}

/// Do `params` bring credentials of their own (well formed or not) to a call of `method`?
/// A front door that runs credential-less calls as a trusted principal (the CLI runs them as
/// the local operator) asks this, so that whatever the dispatcher would authenticate is
/// authenticated, and a malformed credential is refused rather than ignored. Params that are
/// not an object carry none.
pub fn has_credentials(method: &str, params: &Value) -> bool {
    match params {
        Value::Object(map) => !matches!(credentials(method, map), Ok(Credentials::None)),
        _ => false,
    }
}

// ---- Authorization header ---------------------------------------------------------------

/// The token of an `Authorization: Bearer <token>` header value (the scheme in any case, as
/// RFC 7235 has it; spaces around the token ignored). Other schemes, and an empty token, are
/// `None`.
pub fn bearer_token(header_value: &str) -> Option<&str> {
    let (scheme, token) = header_value.trim().split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn map(v: Value) -> Map<String, Value> {
        v.as_object().cloned().unwrap()
    }

    #[test]
    fn json_text_is_parsed_within_the_limit() {
        assert_eq!(parse_json(r#"{"a": [1, "x"]}"#), Ok(json!({"a": [1, "x"]})));
        let bad = parse_json("{nope").unwrap_err();
        assert!(matches!(bad, JsonTextError::Invalid(_)), "{bad:?}");
        assert!(bad.to_string().starts_with("not valid JSON: "), "{bad}");
        assert_eq!(bad.code(), ErrorCode::MalformedRequest);
        assert_eq!(Error::from(bad).code(), ErrorCode::MalformedRequest);

        // Exactly at the limit is parsed (a string padded to the size); one byte over is not.
        let max = limits::request_size_bytes_max;
        let at = format!("\"{}\"", "a".repeat(max - 2));
        assert_eq!(at.len(), max);
        assert!(parse_json(&at).is_ok());
        let over = format!("\"{}\"", "a".repeat(max - 1));
        assert_eq!(
            parse_json(&over),
            Err(JsonTextError::TooLarge { len: max + 1, max })
        );
        // Refused before parsing: text over the limit that is not even JSON is "too large".
        assert!(matches!(
            parse_json(&"{".repeat(max + 1)),
            Err(JsonTextError::TooLarge { .. })
        ));
    }

    #[test]
    fn credentials_follow_one_rule() {
        // The params live as long as the test (the credentials borrow from them).
        let c = |method: &str, v: Value| {
            let params: &'static Map<String, Value> = Box::leak(Box::new(map(v)));
            credentials(method, params).map_err(|e| e.code())
        };
        let m = map(json!({}));
        assert_eq!(
            credentials("clients.list", &m).ok(),
            Some(Credentials::None)
        );
        assert_eq!(
            c("clients.list", json!({"SID": "s"})),
            Ok(Credentials::Sid("s"))
        );
        assert_eq!(
            c("clients.list", json!({"AUTH": "t"})),
            Ok(Credentials::Token("t"))
        );
        assert_eq!(
            c(
                "clients.list",
                json!({"auth": {"login": "l", "password": "p"}})
            ),
            Ok(Credentials::Password {
                login: "l",
                password: "p"
            })
        );
        // SID first, then AUTH, then auth.
        assert_eq!(
            c(
                "clients.list",
                json!({"SID": "s", "AUTH": "t", "auth": {"login": "l", "password": "p"}})
            ),
            Ok(Credentials::Sid("s"))
        );
        assert_eq!(
            c("clients.list", json!({"AUTH": "t", "auth": 1})),
            Ok(Credentials::Token("t"))
        );
        // Malformed credentials are refused, each with its own code.
        assert_eq!(
            c("clients.list", json!({"SID": 1})),
            Err(ErrorCode::AuthSessionInvalid)
        );
        assert_eq!(
            c("clients.list", json!({"AUTH": null})),
            Err(ErrorCode::AuthTokenInvalid)
        );
        assert_eq!(
            c("clients.list", json!({"auth": {"login": "l"}})),
            Err(ErrorCode::ValidationInvalid)
        );
        // Top-level login and password count for auth.login only.
        let top = json!({"login": "l", "password": "p"});
        assert_eq!(
            c(LOGIN_METHOD, top.clone()),
            Ok(Credentials::Password {
                login: "l",
                password: "p"
            })
        );
        assert_eq!(c("clients.list", top.clone()), Ok(Credentials::None));
        assert_eq!(
            c(LOGIN_METHOD, json!({"login": "l"})),
            Ok(Credentials::None)
        );
    }

    #[test]
    fn has_credentials_agrees_with_credentials() {
        for key in CREDENTIAL_KEYS {
            // Present at all (even malformed) counts: the dispatcher will refuse it.
            assert!(has_credentials("clients.list", &json!({ key: 1 })), "{key}");
            assert!(
                has_credentials("clients.list", &json!({ key: "x" })),
                "{key}"
            );
        }
        let top = json!({"login": "l", "password": "p"});
        assert!(has_credentials(LOGIN_METHOD, &top));
        assert!(!has_credentials("clients.list", &top));
        assert!(!has_credentials("clients.list", &json!({"name": "x"})));
        assert!(!has_credentials("clients.list", &json!([])));
        assert!(!has_credentials("clients.list", &Value::Null));
    }

    #[test]
    fn bearer_tokens_are_read() {
        assert_eq!(bearer_token("Bearer abc.def"), Some("abc.def"));
        assert_eq!(bearer_token("bearer  abc "), Some("abc"));
        assert_eq!(bearer_token("BEARER abc"), Some("abc"));
        assert_eq!(bearer_token("  Bearer   abc  "), Some("abc"));
        assert_eq!(bearer_token("Basic YWxhZGRpbjpvcGVu"), None);
        assert_eq!(bearer_token("Bearer "), None);
        assert_eq!(bearer_token("Bearer"), None);
        assert_eq!(bearer_token("abc"), None);
        assert_eq!(bearer_token(""), None);
    }
}
