//! JSON-RPC 2.0 over the dispatcher: single requests and batches, the envelope as `result`,
//! and the standard errors for malformed JSON (-32700), invalid requests (-32600), unknown
//! methods (-32601) and params that are not an object (-32602).

use super::{self as api, Credentials, Envelope};
use crate::api::Inner;
use crate::error::{AuthError, Error, ErrorCode};
use crate::limits;
use crate::wire::JsonTextError;
use serde_json::{json, Value};

/// Parse error.
pub const PARSE_ERROR: i64 = -32700;
/// Invalid request.
pub const INVALID_REQUEST: i64 = -32600;
/// Method not found.
pub const METHOD_NOT_FOUND: i64 = -32601;
/// Invalid params.
pub const INVALID_PARAMS: i64 = -32602;

fn error(id: Value, code: i64, message: &str) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "error": {"code": code, "message": message}})
}

/// Answer a request text. Returns an empty string when every request was a notification.
pub(crate) fn handle(inner: &Inner, text: &str) -> String {
    handle_as(inner, text, false)
}

/// [`handle`] for the local operator (the CLI beside its server, which proved it can read
/// the database directory): a request without credentials of its own runs as
/// [`Principal::System`], as the CLI's `call` does on an open database; a request with
/// credentials is authenticated as any other.
pub(crate) fn handle_local(inner: &Inner, text: &str) -> String {
    handle_as(inner, text, true)
}

fn handle_as(inner: &Inner, text: &str, local: bool) -> String {
    let parsed = match crate::wire::parse_json(text) {
        Ok(v) => v,
        Err(JsonTextError::TooLarge { .. }) => {
            return error(Value::Null, INVALID_REQUEST, "request too large").to_string()
        }
        Err(_) => return error(Value::Null, PARSE_ERROR, "Parse error").to_string(),
    };
    match parsed {
        Value::Array(items) => {
            if items.is_empty() {
                return error(Value::Null, INVALID_REQUEST, "empty batch").to_string();
            }
            if items.len() > limits::batch_requests_max {
                return error(Value::Null, INVALID_REQUEST, "batch too large").to_string();
            }
            let mut checks = BatchChecks::default();
            let mut replies: Vec<Value> = Vec::with_capacity(items.len());
            let mut rest = &items[..];
            while let Some(first) = rest.first() {
                // Consecutive settles are charged together: they share group commits. (One
                // that logs in with a password goes alone, through the batch's password
                // bookkeeping.)
                let run = rest
                    .iter()
                    .take_while(|r| parse(inner, r).is_ok_and(|c| c.joins_settles()))
                    .count();
                if run >= 2 {
                    replies.extend(settles(inner, &rest[..run], local));
                    rest = &rest[run..];
                } else {
                    replies.extend(one(inner, first, Some(&mut checks), local));
                    rest = &rest[1..];
                }
            }
            if replies.is_empty() {
                String::new()
            } else {
                Value::Array(replies).to_string()
            }
        }
        single => one(inner, &single, None, local)
            .map(|v| v.to_string())
            .unwrap_or_default(),
    }
}

/// The password checks of one batch: the first credentials are checked once and every later
/// item with the same credentials reuses the outcome (its session, or its refusal); other
/// credentials are refused with `auth.busy` without any hashing. A batch of a hundred logins
/// costs one Argon2 run, not a hundred.
#[derive(Default)]
struct BatchChecks {
    checked: Vec<(String, String, std::result::Result<String, Error>)>,
}

impl BatchChecks {
    /// Decide an item's credentials before it is dispatched: `Ok(params)` to dispatch (the
    /// credentials replaced by the batch's session when they were checked already), or the
    /// envelope to answer without dispatching.
    fn admit(&self, method: &str, params: Value) -> std::result::Result<Value, Box<Envelope>> {
        let Value::Object(mut map) = params else {
            return Ok(params);
        };
        let Ok(Credentials::Password { login, password }) = api::credentials(method, &map) else {
            return Ok(Value::Object(map));
        };
        let refused = |e: &Error| {
            let mut env = Envelope::default();
            env.push_error(e);
            Box::new(env)
        };
        match self
            .checked
            .iter()
            .find(|(l, p, _)| *l == login && *p == password)
        {
            Some((_, _, Ok(sid))) => {
                map.remove(crate::wire::PASSWORD_KEY);
                if method == crate::wire::LOGIN_METHOD {
                    map.remove("login");
                    map.remove("password");
                }
                map.insert(crate::wire::SID_KEY.into(), Value::from(sid.as_str()));
                Ok(Value::Object(map))
            }
            Some((_, _, Err(e))) => Err(refused(e)),
            None if self.checked.len() >= limits::batch_credential_checks_max => {
                Err(refused(&AuthError::Busy.into()))
            }
            None => Ok(Value::Object(map)),
        }
    }

    /// Remember the outcome of an item whose credentials were checked.
    fn record(&mut self, method: &str, params: &Value, env: &Envelope) {
        let Some(map) = params.as_object() else {
            return;
        };
        let Ok(Credentials::Password { login, password }) = api::credentials(method, map) else {
            return;
        };
        if self
            .checked
            .iter()
            .any(|(l, p, _)| *l == login && *p == password)
        {
            return;
        }
        let outcome = match (&env.session_id, env.error_code()) {
            (Some(sid), _) => Ok(sid.clone()),
            (None, Some(ErrorCode::AuthLocked)) => Err(AuthError::Locked.into()),
            (None, Some(ErrorCode::AuthBusy)) => Err(AuthError::Busy.into()),
            (None, _) => Err(AuthError::Failed.into()),
        };
        self.checked.push((login, password, outcome));
    }
}

/// A request of a valid shape, ready to dispatch.
struct Call<'a> {
    method: &'a str,
    params: Value,
    /// `None` for a notification (no reply).
    reply_id: Option<Value>,
}

impl Call<'_> {
    fn reply(&self, env: &Envelope) -> Option<Value> {
        self.reply_id
            .as_ref()
            .map(|id| json!({"jsonrpc": "2.0", "id": id, "result": env.to_json()}))
    }

    /// A `core.settle` that may be charged with its neighbours: one not logging in with a
    /// password.
    fn joins_settles(&self) -> bool {
        self.method == api::SETTLE_METHOD
            && !self.params.as_object().is_some_and(|p| {
                matches!(
                    api::credentials(self.method, p),
                    Ok(Credentials::Password { .. })
                )
            })
    }

    /// Who the call runs as when its credentials are not checked: the same rule as the CLI's
    /// `call`, the local operator acts as the embedding process unless the params carry
    /// credentials.
    fn principal(&self, local: bool) -> Option<crate::auth::Principal> {
        (local && !crate::wire::has_credentials(self.method, &self.params))
            .then_some(crate::auth::Principal::System)
    }
}

/// Check a request's shape: the call, or the error reply (`None` for a notification).
fn parse<'a>(inner: &Inner, req: &'a Value) -> std::result::Result<Call<'a>, Option<Value>> {
    let Some(obj) = req.as_object() else {
        return Err(Some(error(Value::Null, INVALID_REQUEST, "Invalid Request")));
    };
    // The vendor's examples omit "jsonrpc"; accept that, but refuse any other version.
    let version_ok = obj.get("jsonrpc").is_none_or(|v| v == "2.0");
    let id = obj.get("id").cloned();
    let id_ok = id
        .as_ref()
        .is_none_or(|i| i.is_null() || i.is_string() || i.is_number());
    let reply_id = if id_ok {
        id.clone().unwrap_or(Value::Null)
    } else {
        Value::Null
    };
    let Some(method) = obj
        .get("method")
        .and_then(Value::as_str)
        .filter(|_| version_ok && id_ok)
    else {
        return Err(Some(error(reply_id, INVALID_REQUEST, "Invalid Request")));
    };
    let params = obj.get("params").cloned().unwrap_or(Value::Null);
    let is_notification = id.is_none();
    if !matches!(params, Value::Object(_) | Value::Null) {
        return Err((!is_notification).then(|| {
            error(
                reply_id,
                INVALID_PARAMS,
                "Invalid params: params must be an object",
            )
        }));
    }
    if inner.registry.get(method).is_none() {
        return Err(
            (!is_notification).then(|| error(reply_id, METHOD_NOT_FOUND, "Method not found"))
        );
    }
    Ok(Call {
        method,
        params,
        reply_id: (!is_notification).then_some(reply_id),
    })
}

fn one(inner: &Inner, req: &Value, checks: Option<&mut BatchChecks>, local: bool) -> Option<Value> {
    let call = match parse(inner, req) {
        Ok(call) => call,
        Err(reply) => return reply,
    };
    let (method, params) = (call.method, &call.params);
    let principal = call.principal(local);
    let env = match checks {
        None => super::dispatch(inner, principal, method, params),
        Some(checks) => match checks.admit(method, params.clone()) {
            Ok(admitted) => {
                let env = super::dispatch(inner, principal, method, &admitted);
                checks.record(method, params, &env);
                env
            }
            Err(env) => *env,
        },
    };
    debug_assert!(env.error_code() != Some(ErrorCode::UnknownMethod));
    call.reply(&env)
}

/// A run of `core.settle` requests of a batch (each of a valid shape, none logging in with
/// a password): admitted in order, then charged together ([`api::dispatch_settles`]).
fn settles(inner: &Inner, reqs: &[Value], local: bool) -> Vec<Value> {
    let calls: Vec<Call<'_>> = reqs.iter().filter_map(|r| parse(inner, r).ok()).collect();
    let admitted: Vec<_> = calls
        .iter()
        .map(|c| (c.principal(local), c.params.clone()))
        .collect();
    calls
        .iter()
        .zip(api::dispatch_settles(inner, &admitted))
        .filter_map(|(call, env)| call.reply(&env))
        .collect()
}
