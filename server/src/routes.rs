//! The routes: what each URL answers, in what shape, and how a refusal looks on the wire.

use crate::body::Body;
use crate::form;
use crate::log::{loggable_path, RequestLine};
use crate::xmlrpc;
use crate::State;
use bytes::Bytes;
use http_body_util::{BodyExt, Limited};
use hyper::header::{self, HeaderMap, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};
use serde_json::{json, Map, Value};
use std::convert::Infallible;
use std::io::{Read, Seek, SeekFrom};
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tollgate::api::jsonrpc::{INVALID_REQUEST, PARSE_ERROR};
use tollgate::wire::{self, JsonTextError};
use tollgate::{Engine, ErrorCode};

type Reply = Response<Body>;

/// What a handler returns besides the response: the request bytes it read.
struct Answer {
    reply: Reply,
    bytes_in: u64,
}

impl From<Reply> for Answer {
    fn from(reply: Reply) -> Answer {
        Answer { reply, bytes_in: 0 }
    }
}

/// Serve one request and log it.
pub(crate) async fn handle(
    state: Arc<State>,
    peer: SocketAddr,
    req: Request<hyper::body::Incoming>,
) -> Result<Reply, Infallible> {
    let started = Instant::now();
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    let file_route = path.starts_with("/admin/");
    let limit_ms = if file_route {
        state.config.file_request_ms_max
    } else {
        state.config.request_ms_max
    };
    let answer = match tokio::time::timeout(
        Duration::from_millis(limit_ms),
        route(state.clone(), req),
    )
    .await
    {
        Ok(a) => a,
        // The engine call (if one started) still runs to its end on the blocking pool; a
        // caller that retries a write must use an idempotency key, as with any lost reply.
        Err(_) => json_reply(
            StatusCode::SERVICE_UNAVAILABLE,
            &json!({"error": "timeout", "message": "the request took too long"}),
        )
        .into(),
    };
    let mut reply = answer.reply;
    reply
        .headers_mut()
        .insert(header::SERVER, HeaderValue::from_static("tollgate"));
    state.config.log.request(&RequestLine {
        remote: peer,
        method: method.as_str(),
        path: &loggable_path(&path),
        status: reply.status().as_u16(),
        duration: started.elapsed(),
        bytes_in: answer.bytes_in,
        bytes_out: reply.body().len(),
    });
    Ok(reply)
}

async fn route(state: Arc<State>, req: Request<hyper::body::Incoming>) -> Answer {
    let path = req.uri().path().to_string();
    if path.len() > crate::limits::path_bytes_max {
        return not_found();
    }
    // PortaBilling's path-style login: `/rest/Session/login/<JSON params>`, URL-encoded.
    if let Some(text) = path.strip_prefix(PATH_LOGIN).filter(|t| !t.is_empty()) {
        let params = path_json(text);
        return rest_path_login(state, req, params).await;
    }
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    match segments.as_slice() {
        ["jsonrpc"] | ["jsonrpc", ""] => jsonrpc(state, req).await,
        ["xmlrpc"] | ["xmlrpc", ""] => xmlrpc_route(state, req).await,
        ["admin", module, action] if name_ok(module) && name_ok(action) => {
            let method = format!("{module}.{action}");
            admin(state, req, method).await
        }
        ["rest", service, method] if name_ok(service) && name_ok(method) => {
            let (service, method) = (service.to_string(), method.to_string());
            rest(state, req, service, method).await
        }
        [".well-known", "jwks.json"] => match only(&req, &[Method::GET, Method::HEAD]) {
            Some(r) => r.into(),
            None => {
                let mut r = json_reply(StatusCode::OK, &state.engine.token_jwks());
                r.headers_mut().insert(
                    header::CACHE_CONTROL,
                    HeaderValue::from_static("public, max-age=300"),
                );
                r.into()
            }
        },
        ["healthz"] => match only(&req, &[Method::GET, Method::HEAD]) {
            Some(r) => r.into(),
            None if state.draining.load(Ordering::SeqCst) => json_reply(
                StatusCode::SERVICE_UNAVAILABLE,
                &json!({"status": "draining"}),
            )
            .into(),
            None => json_reply(
                StatusCode::OK,
                &json!({"status": "ok", "version": env!("CARGO_PKG_VERSION")}),
            )
            .into(),
        },
        _ => not_found(),
    }
}

/// A module, action, service or method name: letters, digits and `_`.
fn name_ok(s: &str) -> bool {
    !s.is_empty() && s.len() <= 64 && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

fn not_found() -> Answer {
    json_reply(
        StatusCode::NOT_FOUND,
        &json!({"error": "not_found", "message": "no such route"}),
    )
    .into()
}

/// `None` when the request's method is one of `allowed`, else the 405 answer.
fn only(req: &Request<hyper::body::Incoming>, allowed: &[Method]) -> Option<Reply> {
    if allowed.contains(req.method()) {
        return None;
    }
    let allow: Vec<&str> = allowed.iter().map(Method::as_str).collect();
    let mut r = json_reply(
        StatusCode::METHOD_NOT_ALLOWED,
        &json!({"error": "method_not_allowed", "message": format!("use {}", allow.join(" or "))}),
    );
    if let Ok(v) = HeaderValue::from_str(&allow.join(", ")) {
        r.headers_mut().insert(header::ALLOW, v);
    }
    Some(r)
}

fn reply(status: StatusCode, content_type: &'static str, body: impl Into<Bytes>) -> Reply {
    let mut r = Response::new(Body::full(body));
    *r.status_mut() = status;
    r.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    r
}

fn json_reply(status: StatusCode, v: &Value) -> Reply {
    reply(status, "application/json", v.to_string())
}

/// Why a request body could not be read.
enum BodyError {
    TooLarge,
    Broken,
    /// Not all there within `body_read_ms_max` (a slow or stalled sender).
    TimedOut,
}

/// 408 for a body that did not arrive in time; the connection is closed after it, so the
/// rest of a stalled body cannot hold it.
fn body_timed_out() -> Reply {
    let mut r = json_reply(
        StatusCode::REQUEST_TIMEOUT,
        &json!({"error": "timeout", "message": "the request body did not arrive in time"}),
    );
    r.headers_mut()
        .insert(header::CONNECTION, HeaderValue::from_static("close"));
    r
}

/// The whole request body, refused past the configured size before or while it arrives.
async fn read_body(
    state: &State,
    req: Request<hyper::body::Incoming>,
) -> Result<(HeaderMap, Bytes), BodyError> {
    let max = state.config.body_bytes_max;
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > max as u64) {
        return Err(BodyError::TooLarge);
    }
    let (parts, body) = req.into_parts();
    // Its own bound, shorter than the request's: a sender that announces a body and sends it
    // slowly or not at all holds its connection for this long at most.
    let limit = Duration::from_millis(state.config.body_read_ms_max);
    match tokio::time::timeout(limit, Limited::new(body, max).collect()).await {
        Err(_) => Err(BodyError::TimedOut),
        Ok(Ok(c)) => Ok((parts.headers, c.to_bytes())),
        Ok(Err(e)) if e.is::<http_body_util::LengthLimitError>() => Err(BodyError::TooLarge),
        Ok(Err(_)) => Err(BodyError::Broken),
    }
}

/// Run an engine call on the blocking pool.
async fn blocking<T: Send + 'static>(
    state: &State,
    f: impl FnOnce(&Engine) -> T + Send + 'static,
) -> Option<T> {
    let engine = state.engine.clone();
    tokio::task::spawn_blocking(move || f(&engine)).await.ok()
}

fn internal_error() -> Reply {
    json_reply(
        StatusCode::INTERNAL_SERVER_ERROR,
        &json!({"error": "internal", "message": "the engine failed to answer"}),
    )
}

// ---- /jsonrpc/ ------------------------------------------------------------------------

fn rpc_error(status: StatusCode, code: i64, message: &str) -> Reply {
    json_reply(
        status,
        &json!({"jsonrpc": "2.0", "id": null, "error": {"code": code, "message": message}}),
    )
}

async fn jsonrpc(state: Arc<State>, req: Request<hyper::body::Incoming>) -> Answer {
    if let Some(r) = only(&req, &[Method::POST]) {
        return r.into();
    }
    let (headers, body) = match read_body(&state, req).await {
        Ok(hb) => hb,
        Err(BodyError::TimedOut) => return body_timed_out().into(),
        Err(BodyError::TooLarge) => {
            return rpc_error(
                StatusCode::PAYLOAD_TOO_LARGE,
                INVALID_REQUEST,
                "request too large",
            )
            .into()
        }
        Err(BodyError::Broken) => {
            return rpc_error(StatusCode::BAD_REQUEST, PARSE_ERROR, "Parse error").into()
        }
    };
    let bytes_in = body.len() as u64;
    // Any content type is accepted: the vendor's clients differ in what they send.
    let Ok(text) = String::from_utf8(body.to_vec()) else {
        return Answer {
            reply: rpc_error(StatusCode::OK, PARSE_ERROR, "Parse error"),
            bytes_in,
        };
    };
    let Some(local) = local_operator(&state, &headers) else {
        return Answer {
            reply: local_secret_refused(),
            bytes_in,
        };
    };
    let token = authorization(&headers).and_then(|h| wire::bearer_token(&h).map(str::to_string));
    let text = match token {
        Some(t) => jsonrpc_with_bearer(text, &t),
        None => text,
    };
    let reply = match blocking(&state, move |e| {
        if local {
            e.call_jsonrpc_as_system(&text)
        } else {
            e.call_jsonrpc(&text)
        }
    })
    .await
    {
        // Only notifications: nothing to answer.
        Some(r) if r.is_empty() => {
            let mut r = Response::new(Body::empty());
            *r.status_mut() = StatusCode::NO_CONTENT;
            r
        }
        Some(r) => reply(StatusCode::OK, "application/json", r),
        None => internal_error(),
    };
    Answer { reply, bytes_in }
}

/// Does the request come from the local operator? `Some(false)` without the secret header,
/// `Some(true)` when it matches the server's secret (compared in constant time), `None` when
/// it does not (also when the server has no secret): answer [`local_secret_refused`].
fn local_operator(state: &State, headers: &HeaderMap) -> Option<bool> {
    use subtle::ConstantTimeEq;
    let Some(given) = headers.get(crate::LOCAL_SECRET_HEADER) else {
        return Some(false);
    };
    let secret = state.config.local_secret.as_ref()?;
    bool::from(given.as_bytes().ct_eq(secret.as_bytes())).then_some(true)
}

/// 401 with `auth.failed`: the local operator's secret does not match.
fn local_secret_refused() -> Reply {
    json_reply(
        StatusCode::UNAUTHORIZED,
        &json!({"jsonrpc": "2.0", "id": null, "error": {
            "code": LOCAL_SECRET_REFUSED,
            "message": "the local operator's secret does not match this server's",
            "data": {"code": ErrorCode::AuthFailed.as_str()},
        }}),
    )
}

/// The JSON-RPC error code (implementation-defined range) of a refused local secret; its
/// `data.code` is `auth.failed`.
pub(crate) const LOCAL_SECRET_REFUSED: i64 = -32001;

/// Give the call the token of an `Authorization: Bearer` header when its params carry no
/// credentials of their own: as `AUTH`, the later JeraSoft spelling, so the dispatcher checks
/// it as any credential (an API token from memory, an access token by its signature and
/// session). Params that are not an object are left for the dispatcher to refuse.
fn bearer_into(params: &mut Value, method: &str, token: &str) {
    if params.is_null() {
        *params = Value::Object(Map::new());
    }
    if wire::has_credentials(method, params) {
        return;
    }
    if let Value::Object(m) = params {
        m.insert(wire::TOKEN_KEY.into(), Value::String(token.to_string()));
    }
}

/// [`bearer_into`] for every request of a JSON-RPC text (one or a batch). Text that is not
/// JSON goes to the engine unchanged, to be refused there.
fn jsonrpc_with_bearer(text: String, token: &str) -> String {
    let Ok(mut v) = wire::parse_json(&text) else {
        return text;
    };
    let apply = |req: &mut Value| {
        let Some(obj) = req.as_object_mut() else {
            return;
        };
        let method = obj
            .get("method")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        bearer_into(obj.entry("params").or_insert(Value::Null), &method, token);
    };
    match &mut v {
        Value::Array(items) => items.iter_mut().for_each(apply),
        single => apply(single),
    }
    v.to_string()
}

// ---- /xmlrpc/ -------------------------------------------------------------------------

fn xml_reply(text: String) -> Reply {
    reply(StatusCode::OK, "text/xml; charset=utf-8", text)
}

/// Every fault is HTTP 200 (the XML-RPC convention): a client sees it as a fault, never as a
/// transport error.
fn xml_fault(code: i64, message: &str) -> Reply {
    xml_reply(xmlrpc::fault_response(&xmlrpc::Fault {
        code,
        message: message.to_string(),
    }))
}

async fn xmlrpc_route(state: Arc<State>, req: Request<hyper::body::Incoming>) -> Answer {
    if let Some(r) = only(&req, &[Method::POST]) {
        return r.into();
    }
    let (headers, body) = match read_body(&state, req).await {
        Ok(hb) => hb,
        Err(BodyError::TimedOut) => return body_timed_out().into(),
        Err(BodyError::TooLarge) => {
            let mut r = xml_fault(xmlrpc::INVALID_XMLRPC, "request too large");
            // The rest of the body is not read: the connection cannot be reused.
            r.headers_mut()
                .insert(header::CONNECTION, HeaderValue::from_static("close"));
            return r.into();
        }
        Err(BodyError::Broken) => {
            return xml_fault(xmlrpc::NOT_WELL_FORMED, "the body could not be read").into()
        }
    };
    let bytes_in = body.len() as u64;
    let answer = |reply| Answer { reply, bytes_in };
    let call = match xmlrpc::parse_call(&body) {
        Ok(c) => c,
        Err(f) => return answer(xml_fault(f.code, &f.message)),
    };
    let token = authorization(&headers).and_then(|h| wire::bearer_token(&h).map(str::to_string));
    if call.method == "system.multicall" {
        return answer(multicall(&state, call.params, token.as_deref()).await);
    }
    let mut params = match <[Value; 1]>::try_from(call.params) {
        Ok([p @ Value::Object(_)]) => p,
        Ok(_) => {
            return answer(xml_fault(
                xmlrpc::INVALID_PARAMS,
                "the parameter must be a struct",
            ))
        }
        Err(v) => {
            return answer(xml_fault(
                xmlrpc::INVALID_PARAMS,
                &format!("expected one struct parameter, got {}", v.len()),
            ))
        }
    };
    if state.engine.registry().get(&call.method).is_none() {
        return answer(xml_fault(xmlrpc::METHOD_NOT_FOUND, "Method not found"));
    }
    let method = call.method;
    if let Some(t) = &token {
        bearer_into(&mut params, &method, t);
    }
    let env = blocking(&state, move |e| e.call(&method, params)).await;
    answer(match env {
        Some(env) => xml_reply(xmlrpc::response(&env.to_json())),
        None => xml_fault(xmlrpc::INTERNAL_ERROR, "the engine failed to answer"),
    })
}

/// `system.multicall([{methodName, params: [struct]}, ...])`: answered through the JSON-RPC
/// batch (same bound, and a batch's password checks run once), each item as `[envelope]` or
/// a fault struct.
async fn multicall(state: &State, params: Vec<Value>, token: Option<&str>) -> Reply {
    let calls = match <[Value; 1]>::try_from(params) {
        Ok([Value::Array(calls)]) if !calls.is_empty() => calls,
        _ => {
            return xml_fault(
                xmlrpc::INVALID_PARAMS,
                "system.multicall takes one non-empty array of calls",
            )
        }
    };
    if calls.len() > tollgate::limits::batch_requests_max {
        return xml_fault(xmlrpc::INVALID_PARAMS, "too many calls");
    }
    let mut batch = Vec::with_capacity(calls.len());
    for (i, c) in calls.iter().enumerate() {
        let method = c.get("methodName").and_then(Value::as_str);
        let params = match c.get("params") {
            Some(Value::Array(p)) if p.len() == 1 => Some(p[0].clone()),
            _ => None,
        };
        let (Some(method), Some(mut params)) = (method, params) else {
            return xml_fault(
                xmlrpc::INVALID_PARAMS,
                "each call is {methodName, params: [struct]}",
            );
        };
        if let Some(t) = token {
            bearer_into(&mut params, method, t);
        }
        batch.push(json!({"jsonrpc": "2.0", "id": i, "method": method, "params": params}));
    }
    let text = Value::Array(batch).to_string();
    let Some(out) = blocking(state, move |e| e.call_jsonrpc(&text)).await else {
        return xml_fault(xmlrpc::INTERNAL_ERROR, "the engine failed to answer");
    };
    let Ok(Value::Array(mut replies)) = serde_json::from_str::<Value>(&out) else {
        return xml_fault(xmlrpc::INTERNAL_ERROR, "the engine failed to answer");
    };
    replies.sort_by_key(|r| r["id"].as_u64().unwrap_or(u64::MAX));
    let items: Vec<Value> = replies
        .into_iter()
        .map(|r| match r.get("result") {
            Some(env) => Value::Array(vec![env.clone()]),
            None => xmlrpc::fault_struct(&xmlrpc::Fault {
                code: r["error"]["code"]
                    .as_i64()
                    .unwrap_or(xmlrpc::INTERNAL_ERROR),
                message: r["error"]["message"].as_str().unwrap_or("").to_string(),
            }),
        })
        .collect();
    xml_reply(xmlrpc::response(&Value::Array(items)))
}

// ---- /admin/<module>/<action> ---------------------------------------------------------

/// A refused file call: HTTP 200 (the vendor's client looks at `X-VCS-Status` only on a 200;
/// any other status is a protocol error to it), `X-VCS-Status` with the error's stable
/// number, which that client turns into `VcsApiError(number, url)`, and the envelope as
/// JSON instead of the file: `application/json`, never the file's type, so a browser shows
/// the reason rather than saving it as the export.
fn admin_refusal(env: &tollgate::Envelope) -> Reply {
    let code = env
        .errors
        .first()
        .map(|e| e.code)
        .unwrap_or(ErrorCode::Internal);
    let mut r = json_reply(StatusCode::OK, &env.to_json());
    r.headers_mut()
        .insert("x-vcs-status", HeaderValue::from(code.c_code()));
    r.headers_mut()
        .insert("x-vcs-error", HeaderValue::from_static(code.as_str()));
    r
}

/// A refusal made by the server itself (the body could not be read): HTTP 200 and
/// `X-VCS-Status` like any refusal.
fn admin_bad_request(code: ErrorCode, message: &str) -> Reply {
    let mut env = tollgate::Envelope::default();
    env.errors.push(tollgate::api::ApiError {
        code,
        message: message.to_string(),
        field: None,
    });
    admin_refusal(&env)
}

/// Params of a file call: the query string, then (POST) the body's fields on top.
fn admin_params(query: Option<&str>, headers: &HeaderMap, body: &[u8]) -> Result<Value, String> {
    let mut params = match query {
        Some(q) => form::urlencoded(q.as_bytes()).map_err(|e| e.to_string())?,
        None => Map::new(),
    };
    if !body.is_empty() {
        for (k, v) in fields_of(headers, body)? {
            params.insert(k, v);
        }
    }
    Ok(Value::Object(params))
}

/// The fields of a form-encoded, multipart or JSON body.
fn fields_of(headers: &HeaderMap, body: &[u8]) -> Result<Map<String, Value>, String> {
    let ct = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_ascii_lowercase();
    let ct_raw = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if ct.starts_with("multipart/form-data") {
        let b = form::boundary(ct_raw).ok_or("multipart body without a boundary")?;
        form::multipart(body, &b).map_err(|e| e.to_string())
    } else if ct.starts_with("application/json") {
        match json_text(body)? {
            Value::Object(m) => Ok(m),
            _ => Err("the body must be a JSON object".into()),
        }
    } else {
        form::urlencoded(body).map_err(|e| e.to_string())
    }
}

/// A JSON body, parsed by the engine's rule ([`wire::parse_json`]: its size limit too).
fn json_text(body: &[u8]) -> Result<Value, String> {
    let text = std::str::from_utf8(body).map_err(|_| "the body is not valid JSON")?;
    wire::parse_json(text).map_err(|e| match e {
        JsonTextError::TooLarge { .. } => "the body is too large".into(),
        _ => "the body is not valid JSON".into(),
    })
}

/// The `Authorization` header's value.
fn authorization(headers: &HeaderMap) -> Option<String> {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

/// `attachment; filename="..."`, with an RFC 5987 `filename*` when the name is not plain
/// ASCII; quotes, backslashes and control characters never reach the header.
fn content_disposition(name: &str) -> HeaderValue {
    let plain: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_graphic() && c != '"' && c != '\\' || c == ' ' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let mut v = format!("attachment; filename=\"{plain}\"");
    if plain != name {
        let encoded: String = form_urlencoded::byte_serialize(name.as_bytes())
            .collect::<String>()
            .replace('+', "%20");
        v.push_str(&format!("; filename*=UTF-8''{encoded}"));
    }
    HeaderValue::from_str(&v).unwrap_or_else(|_| HeaderValue::from_static("attachment"))
}

async fn admin(state: Arc<State>, req: Request<hyper::body::Incoming>, method: String) -> Answer {
    if let Some(r) = only(&req, &[Method::GET, Method::POST]) {
        return r.into();
    }
    let query = req.uri().query().map(str::to_string);
    let (headers, body) = match read_body(&state, req).await {
        Ok(hb) => hb,
        Err(BodyError::TimedOut) => return body_timed_out().into(),
        Err(BodyError::TooLarge) => {
            return admin_bad_request(ErrorCode::MalformedRequest, "the request body is too large")
                .into()
        }
        Err(BodyError::Broken) => {
            return admin_bad_request(
                ErrorCode::MalformedRequest,
                "the request body could not be read",
            )
            .into()
        }
    };
    let bytes_in = body.len() as u64;
    let params = match admin_params(query.as_deref(), &headers, &body) {
        Ok(p) => p,
        Err(msg) => {
            return Answer {
                reply: admin_bad_request(ErrorCode::MalformedRequest, &msg),
                bytes_in,
            }
        }
    };
    // Other schemes than Bearer are not ours and are ignored.
    let token = authorization(&headers).and_then(|h| wire::bearer_token(&h).map(str::to_string));
    let spool_max = state.config.file_spool_memory_bytes_max;
    let chunk = state.config.file_chunk_bytes.max(1);
    // The file is produced whole before the response head goes out: the name and type come
    // with the finished file, and a failure half-way is still an honest refusal instead of
    // a cut-off download that looks complete. Memory holds at most `spool_max` bytes of it.
    let produced = blocking(&state, move |e| {
        let mut spool = tempfile::SpooledTempFile::new(spool_max);
        let result = match token {
            Some(t) => e.call_file_with_bearer(&method, params, &t, &mut spool),
            None => e.call_file(&method, params, &mut spool),
        };
        (result, spool)
    })
    .await;
    let reply = match produced {
        None => internal_error(),
        Some((Err(env), _)) => admin_refusal(&env),
        Some((Ok(meta), spool)) => match file_reply(meta, spool, chunk) {
            Ok(r) => r,
            Err(_) => internal_error(),
        },
    };
    Answer { reply, bytes_in }
}

/// Stream a finished file: a blocking task reads it in chunks into a small channel, so a
/// slow client holds one chunk in memory at a time.
fn file_reply(
    meta: tollgate::FileMeta,
    mut spool: tempfile::SpooledTempFile,
    chunk: usize,
) -> std::io::Result<Reply> {
    let len = spool.seek(SeekFrom::End(0))?;
    spool.seek(SeekFrom::Start(0))?;
    let (tx, rx) = tokio::sync::mpsc::channel(4);
    tokio::task::spawn_blocking(move || {
        let mut left = len;
        while left > 0 {
            let mut buf = vec![0u8; chunk.min(left as usize)];
            let sent = match spool.read(&mut buf) {
                Ok(0) => Err(std::io::ErrorKind::UnexpectedEof.into()),
                Ok(n) => {
                    buf.truncate(n);
                    left -= n as u64;
                    Ok(Bytes::from(buf))
                }
                Err(e) => Err(e),
            };
            let failed = sent.is_err();
            // The client went away: stop reading.
            if tx.blocking_send(sent).is_err() || failed {
                return;
            }
        }
    });
    let mut r = Response::new(Body::Chunks { rx, remaining: len });
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_str(&meta.content_type)
            .unwrap_or_else(|_| HeaderValue::from_static("application/octet-stream")),
    );
    h.insert(header::CONTENT_DISPOSITION, content_disposition(&meta.name));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(r)
}

// ---- /rest/<Service>/<method> ---------------------------------------------------------

/// The cookie names set after `Session/login`.
pub(crate) const ACCESS_COOKIE: &str = "access_token";
pub(crate) const SESSION_COOKIE: &str = "session_id";

fn fault(status: StatusCode, code: &str, message: &str) -> Reply {
    json_reply(status, &json!({"faultcode": code, "faultstring": message}))
}

/// The REST body as the engine takes it: `{auth_info, params}`. Form and multipart fields
/// `auth_info` and `params` carry JSON text (or PHP-style nested fields).
fn rest_body(headers: &HeaderMap, body: &[u8]) -> Result<Value, String> {
    let ct = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_ascii_lowercase();
    let is_form = ct.starts_with("application/x-www-form-urlencoded")
        || ct.starts_with("multipart/form-data");
    if !is_form {
        if body.iter().all(u8::is_ascii_whitespace) {
            return Ok(Value::Null);
        }
        return json_text(body);
    }
    let mut fields = fields_of(headers, body)?;
    for key in ["auth_info", "params"] {
        if let Some(Value::String(text)) = fields.get(key) {
            let v: Value = if text.trim().is_empty() {
                Value::Object(Map::new())
            } else {
                wire::parse_json(text).map_err(|e| match e {
                    JsonTextError::TooLarge { .. } => format!("{key} is too large"),
                    _ => format!("{key} is not valid JSON"),
                })?
            };
            fields.insert(key.to_string(), v);
        }
    }
    Ok(Value::Object(fields))
}

/// The value of one cookie in the request.
fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .find_map(|kv| {
            let (k, v) = kv.trim().split_once('=')?;
            (k == name && !v.is_empty()).then(|| v.to_string())
        })
}

fn set_cookie(r: &mut Reply, name: &str, value: &str, max_age: i64, secure: bool) {
    // Tokens and session ids are URL-safe text; anything else is not set.
    if !value
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
    {
        return;
    }
    let secure = if secure { "; Secure" } else { "" };
    let v = format!(
        "{name}={value}; Path=/rest/; Max-Age={}; HttpOnly; SameSite=Strict{secure}",
        max_age.max(0)
    );
    if let Ok(v) = HeaderValue::from_str(&v) {
        r.headers_mut().append(header::SET_COOKIE, v);
    }
}

/// The prefix of a path-style login.
const PATH_LOGIN: &str = "/rest/Session/login/";

/// The JSON params of a path-style login: the percent-decoded rest of the path, within the
/// engine's JSON limit, and an object.
fn path_json(text: &str) -> Result<Value, String> {
    let bad = || "the login path must end in URL-encoded JSON params".to_string();
    let mut bytes = Vec::with_capacity(text.len());
    let mut it = text.bytes();
    while let Some(b) = it.next() {
        if b == b'%' {
            let hex = [it.next().ok_or_else(bad)?, it.next().ok_or_else(bad)?];
            let hex = std::str::from_utf8(&hex).map_err(|_| bad())?;
            bytes.push(u8::from_str_radix(hex, 16).map_err(|_| bad())?);
        } else {
            bytes.push(b);
        }
    }
    let text = String::from_utf8(bytes).map_err(|_| bad())?;
    match wire::parse_json(&text) {
        Ok(v @ Value::Object(_)) => Ok(v),
        _ => Err(bad()),
    }
}

/// `GET` or `POST /rest/Session/login/<json>`: the same login as a body's `params`. The
/// request log never shows the path past `/rest/Session/login` (it carries a secret).
async fn rest_path_login(
    state: Arc<State>,
    req: Request<hyper::body::Incoming>,
    params: Result<Value, String>,
) -> Answer {
    if let Some(r) = only(&req, &[Method::GET, Method::POST]) {
        return r.into();
    }
    let params = match params {
        Ok(p) => p,
        Err(msg) => {
            return fault(
                StatusCode::INTERNAL_SERVER_ERROR,
                "Client.Request.malformed",
                &msg,
            )
            .into()
        }
    };
    rest_answer(
        state,
        req.headers().clone(),
        json!({ "params": params }),
        0,
        "Session".into(),
        "login".into(),
    )
    .await
}

async fn rest(
    state: Arc<State>,
    req: Request<hyper::body::Incoming>,
    service: String,
    method: String,
) -> Answer {
    if let Some(r) = only(&req, &[Method::POST]) {
        return r.into();
    }
    let (headers, raw) = match read_body(&state, req).await {
        Ok(hb) => hb,
        Err(BodyError::TimedOut) => return body_timed_out().into(),
        Err(BodyError::TooLarge) => {
            return fault(
                StatusCode::PAYLOAD_TOO_LARGE,
                "Client.Request.malformed",
                "the body is too large",
            )
            .into()
        }
        Err(BodyError::Broken) => {
            return fault(
                StatusCode::BAD_REQUEST,
                "Client.Request.malformed",
                "the body could not be read",
            )
            .into()
        }
    };
    let bytes_in = raw.len() as u64;
    let body = match rest_body(&headers, &raw) {
        Ok(b) => b,
        Err(msg) => {
            return Answer {
                reply: fault(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "Client.Request.malformed",
                    &msg,
                ),
                bytes_in,
            }
        }
    };
    rest_answer(state, headers, body, bytes_in, service, method).await
}

/// Answer a REST call whose body is read: the engine's answer, and the cookies of a login.
async fn rest_answer(
    state: Arc<State>,
    headers: HeaderMap,
    body: Value,
    bytes_in: u64,
    service: String,
    method: String,
) -> Answer {
    // The header wins; the cookie set at login stands in for it (a browser's calls), but
    // never when the body brings its own credentials. The header goes to the engine whole:
    // the REST facade reads it with the same `wire::bearer_token` as /admin, and also takes a
    // bare token (docs/rest.md).
    let has_auth_info = body.get("auth_info").is_some_and(|a| !a.is_null());
    let token = authorization(&headers).or_else(|| {
        (!has_auth_info)
            .then(|| cookie(&headers, ACCESS_COOKIE))
            .flatten()
    });
    let secure = state.config.tls.is_some();
    let (svc, m) = (service.clone(), method.clone());
    let answered = blocking(&state, move |e| e.rest(&svc, &m, &body, token.as_deref())).await;
    let Some((status, json)) = answered else {
        return Answer {
            reply: internal_error(),
            bytes_in,
        };
    };
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut r = json_reply(status, &json);
    if status == StatusCode::OK && service == "Session" {
        match method.as_str() {
            "login" | "refresh_access_token" => {
                let max_age = json["expires_in"].as_i64().unwrap_or(0);
                if let Some(t) = json["access_token"].as_str() {
                    set_cookie(&mut r, ACCESS_COOKIE, t, max_age, secure);
                }
                if let Some(s) = json["session_id"].as_str() {
                    set_cookie(&mut r, SESSION_COOKIE, s, max_age, secure);
                }
            }
            "logout" => {
                set_cookie(&mut r, ACCESS_COOKIE, "", 0, secure);
                set_cookie(&mut r, SESSION_COOKIE, "", 0, secure);
            }
            _ => {}
        }
    }
    Answer { reply: r, bytes_in }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dispositions_are_safe() {
        assert_eq!(
            content_disposition("xdrs-2026-01-15.csv"),
            "attachment; filename=\"xdrs-2026-01-15.csv\""
        );
        assert_eq!(
            content_disposition("a\"b\r\n.csv"),
            "attachment; filename=\"a_b__.csv\"; filename*=UTF-8''a%22b%0D%0A.csv"
        );
    }

    #[test]
    fn json_bodies_are_read_by_the_engine_rule() {
        assert_eq!(json_text(br#"{"a":1}"#), Ok(json!({"a": 1})));
        assert_eq!(
            json_text(b"{nope").unwrap_err(),
            "the body is not valid JSON"
        );
        assert_eq!(
            json_text(b"\"\xff\"").unwrap_err(),
            "the body is not valid JSON"
        );
        let big = format!(
            "\"{}\"",
            "a".repeat(tollgate::limits::request_size_bytes_max)
        );
        assert_eq!(
            json_text(big.as_bytes()).unwrap_err(),
            "the body is too large"
        );
    }

    #[test]
    fn cookies_are_read() {
        let mut h = HeaderMap::new();
        h.insert(
            header::COOKIE,
            HeaderValue::from_static("a=1; access_token=tok.en-_; session_id=s"),
        );
        assert_eq!(cookie(&h, "access_token").as_deref(), Some("tok.en-_"));
        assert_eq!(cookie(&h, "session_id").as_deref(), Some("s"));
        assert_eq!(cookie(&h, "missing"), None);
    }
}
