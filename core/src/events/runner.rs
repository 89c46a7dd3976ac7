//! Running one handler: an HTTP POST (Standard Webhooks signature), a local script (payload
//! on stdin) or a registered callback. Every run is bounded in time and in reply size, and
//! nothing here holds an engine lock.

use super::outbox::HandlerRow;
use super::{clip, Event, Events, Verdict};
use crate::limits;
use base64::Engine as _;
use serde_json::Value;
use std::io::{Read, Write};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// What a handler answered.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Answer {
    /// Allowed (before) or delivered (after).
    Allow,
    /// Allowed with this `data` (before).
    Modify(Value),
    /// Refused with a message (before: forbids; after: a failed attempt).
    Forbid(String),
    /// Could not be run, timed out, or answered badly (before: forbids; after: retried).
    Failed(String),
}

/// One run of a handler.
#[derive(Debug, Clone)]
pub(crate) struct Run {
    pub answer: Answer,
    pub status_code: Option<i64>,
    pub duration_ms: i64,
}

impl Run {
    /// The log row's outcome word.
    pub(crate) fn outcome(&self) -> &'static str {
        match self.answer {
            Answer::Allow => "ok",
            Answer::Modify(_) => "modified",
            Answer::Forbid(_) => "forbidden",
            Answer::Failed(_) => "failed",
        }
    }

    /// The error text for the log, if any.
    pub(crate) fn error(&self) -> Option<String> {
        match &self.answer {
            Answer::Forbid(m) | Answer::Failed(m) => {
                Some(clip(m, limits::handler_log_text_bytes_max))
            }
            _ => None,
        }
    }
}

/// The error of a log row as a reseller sees it: the status code and a short reason of our
/// own words, never text that came from the receiver (a reply body, a message, a protocol
/// error quoting the reply), so the execution log cannot serve as a window onto whatever a
/// handler reached. The operator sees the stored error whole.
pub(crate) fn short_error(
    outcome: &str,
    status_code: Option<i64>,
    error: Option<&str>,
) -> Option<String> {
    let error = error?;
    Some(match status_code {
        Some(code) if (200..300).contains(&code) && outcome != "ok" => {
            format!("HTTP {code}: the reply did not accept it")
        }
        Some(code) => format!("HTTP {code}"),
        None if error == crate::net::REFUSED => crate::net::REFUSED.to_string(),
        None if error.contains("timed out") || error.contains("timeout") => "timed out".into(),
        None => "failed without a reply (connection, program or callback failure)".into(),
    })
}

/// What to send: the event, the exact body bytes, and the message id for the signature.
pub(crate) struct Delivery<'a> {
    pub event: &'a Event,
    pub body: &'a [u8],
    pub message_id: &'a str,
    pub timestamp: i64,
}

/// Run `h` with `d`.
pub(crate) fn run(events: &Events, h: &HandlerRow, d: &Delivery<'_>) -> Run {
    let started = Instant::now();
    let timeout = Duration::from_millis(h.timeout_ms);
    let (answer, status_code) = match h.kind.as_str() {
        "http" => http(h, d, timeout),
        "script" => (script(h, d, timeout), None),
        "callback" => (callback(events, h, d.event), None),
        other => (
            Answer::Failed(format!("unknown handler kind '{other}'")),
            None,
        ),
    };
    // An echo of the data sent (the vendor's example handler) changes nothing.
    let answer = match answer {
        Answer::Modify(data) if Some(&data) == d.event.payload.get("data") => Answer::Allow,
        other => other,
    };
    Run {
        answer,
        status_code,
        duration_ms: i64::try_from(started.elapsed().as_millis()).unwrap_or(i64::MAX),
    }
}

/// The Standard Webhooks signature: `v1,` + base64(HMAC-SHA256(key, "id.timestamp.body")).
/// A `whsec_` secret is the base64 of the key; any other secret is the key's bytes.
pub fn signature(secret: &str, message_id: &str, timestamp: i64, body: &[u8]) -> String {
    use aws_lc_rs::hmac;
    let b64 = base64::engine::general_purpose::STANDARD;
    let key_bytes = secret
        .strip_prefix("whsec_")
        .and_then(|k| b64.decode(k).ok())
        .unwrap_or_else(|| secret.as_bytes().to_vec());
    let key = hmac::Key::new(hmac::HMAC_SHA256, &key_bytes);
    let mut ctx = hmac::Context::with_key(&key);
    ctx.update(message_id.as_bytes());
    ctx.update(b".");
    ctx.update(timestamp.to_string().as_bytes());
    ctx.update(b".");
    ctx.update(body);
    format!("v1,{}", b64.encode(ctx.sign().as_ref()))
}

/// Read a handler's reply: `{"allow": false, "message": ...}` forbids, `{"data": {...}}`
/// modifies, anything else (including an empty or non-JSON reply) allows.
fn reply(text: &[u8]) -> Answer {
    let Ok(v) = serde_json::from_slice::<Value>(text) else {
        return Answer::Allow;
    };
    if v.get("allow") == Some(&Value::Bool(false)) {
        return Answer::Forbid(message_of(&v).unwrap_or_else(|| "forbidden".into()));
    }
    match v.get("data") {
        Some(data @ Value::Object(_)) => Answer::Modify(data.clone()),
        _ => Answer::Allow,
    }
}

fn message_of(v: &Value) -> Option<String> {
    ["message", "error", "reason"]
        .iter()
        .find_map(|k| v.get(*k).and_then(Value::as_str))
        .map(|m| clip(m, limits::handler_log_text_bytes_max))
}

fn http(h: &HandlerRow, d: &Delivery<'_>, timeout: Duration) -> (Answer, Option<i64>) {
    let config = ureq::Agent::config_builder()
        .timeout_global(Some(timeout))
        .http_status_as_error(false)
        .max_redirects(0)
        .user_agent(concat!("tollgate/", env!("CARGO_PKG_VERSION")));
    // A reseller's handler (anything not owned by the operator's company) reaches public
    // addresses only: its host is resolved once by `CheckedResolver`, which refuses local and
    // private answers and hands ureq the very addresses it checked. No proxy, which would
    // resolve the host itself, beyond our check.
    let (agent, refused) = if h.id_companies == crate::model::OPERATOR_COMPANY {
        (ureq::Agent::from(config.build()), None)
    } else {
        let resolver = crate::net::CheckedResolver::default();
        let refused = resolver.refused.clone();
        let agent = ureq::Agent::with_parts(
            config.proxy(None).build(),
            ureq::unversioned::transport::DefaultConnector::default(),
            resolver,
        );
        (agent, Some(refused))
    };
    let sig = signature(&h.secret, d.message_id, d.timestamp, d.body);
    let sent = agent
        .post(&h.target)
        .header("content-type", "application/json")
        .header("webhook-id", d.message_id)
        .header("webhook-timestamp", d.timestamp.to_string())
        .header("webhook-signature", sig)
        .send(d.body);
    let mut resp = match sent {
        Ok(r) => r,
        Err(_) if refused.is_some_and(|r| r.lock().is_some()) => {
            return (Answer::Failed(crate::net::REFUSED.into()), None)
        }
        Err(e) => return (Answer::Failed(format!("HTTP request failed: {e}")), None),
    };
    let status = resp.status().as_u16();
    let body = resp
        .body_mut()
        .with_config()
        .limit(limits::handler_response_bytes_max as u64)
        .read_to_vec();
    let code = Some(i64::from(status));
    let body = match body {
        Ok(b) => b,
        Err(e) => {
            return (
                Answer::Failed(format!("HTTP {status}: reply not read: {e}")),
                code,
            )
        }
    };
    if (200..300).contains(&status) {
        return (reply(&body), code);
    }
    let msg = serde_json::from_slice::<Value>(&body)
        .ok()
        .and_then(|v| message_of(&v))
        .unwrap_or_else(|| {
            let text = String::from_utf8_lossy(&body);
            let text = text.trim();
            if text.is_empty() {
                format!("HTTP {status}")
            } else {
                format!("HTTP {status}: {}", clip(text, 200))
            }
        });
    (Answer::Forbid(msg), code)
}

/// Read up to the limit from a pipe on its own thread; `Err` when the output is too long.
fn drain<R: Read + Send + 'static>(r: R) -> std::sync::mpsc::Receiver<Result<Vec<u8>, String>> {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut buf = Vec::new();
        let max = limits::handler_response_bytes_max as u64;
        let res = match r.take(max + 1).read_to_end(&mut buf) {
            Ok(_) if buf.len() as u64 > max => Err(format!("output longer than {max} bytes")),
            Ok(_) => Ok(buf),
            Err(e) => Err(e.to_string()),
        };
        let _ = tx.send(res);
    });
    rx
}

fn script(h: &HandlerRow, d: &Delivery<'_>, timeout: Duration) -> Answer {
    let started = Instant::now();
    let mut child = match Command::new(&h.target)
        .env("TOLLGATE_EVENT", &d.event.event)
        .env("TOLLGATE_STAGE", d.event.stage.as_str())
        .env("TOLLGATE_EVENT_ID", d.message_id)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
    {
        Ok(c) => c,
        Err(e) => return Answer::Failed(format!("script {} did not start: {e}", h.target)),
    };
    let (Some(mut stdin), Some(stdout), Some(stderr)) =
        (child.stdin.take(), child.stdout.take(), child.stderr.take())
    else {
        let _ = child.kill();
        let _ = child.wait();
        return Answer::Failed("script pipes missing".into());
    };
    let body = d.body.to_vec();
    // Written on its own thread: a script that does not read stdin must not block us.
    std::thread::spawn(move || {
        let _ = stdin.write_all(&body);
    });
    let (out, err) = (drain(stdout), drain(stderr));
    let status = loop {
        match child.try_wait() {
            Ok(Some(s)) => break s,
            Ok(None) if started.elapsed() >= timeout => {
                let _ = child.kill();
                let _ = child.wait();
                return Answer::Failed(format!(
                    "script timed out after {} ms (killed)",
                    timeout.as_millis()
                ));
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(5)),
            Err(e) => return Answer::Failed(format!("script wait failed: {e}")),
        }
    };
    // A grandchild holding the pipes open must not hold us either.
    let grace = Duration::from_millis(500);
    let out = out
        .recv_timeout(grace)
        .unwrap_or_else(|_| Err("stdout not closed".into()));
    let err = err.recv_timeout(grace).unwrap_or(Ok(Vec::new()));
    let out = match out {
        Ok(o) => o,
        Err(e) => return Answer::Failed(format!("script stdout: {e}")),
    };
    if !status.success() {
        let text = err.ok().filter(|e| !e.is_empty()).unwrap_or(out);
        let text = String::from_utf8_lossy(&text).trim().to_string();
        return Answer::Forbid(if text.is_empty() {
            format!("script exited with {status}")
        } else {
            clip(&text, limits::handler_log_text_bytes_max)
        });
    }
    reply(&out)
}

fn callback(events: &Events, h: &HandlerRow, event: &Event) -> Answer {
    let Some(cb) = events.callback(&h.target) else {
        return Answer::Failed(format!("no callback is registered as '{}'", h.target));
    };
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| cb(event))) {
        Ok(Verdict::Allow) => Answer::Allow,
        Ok(Verdict::Modify(data)) => Answer::Modify(data),
        Ok(Verdict::Forbid(m)) => Answer::Forbid(clip(&m, limits::handler_log_text_bytes_max)),
        Err(panic) => {
            let what = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "a panic".into());
            Answer::Failed(format!(
                "callback '{}' panicked: {}",
                h.target,
                clip(&what, 200)
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_matches_the_standard_webhooks_example() {
        // The example of the Standard Webhooks specification.
        let sig = signature(
            "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
            "msg_p5jXN8AQM9LWM0D4loKWxJek",
            1614265330,
            br#"{"test": 2432232314}"#,
        );
        assert_eq!(sig, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
    }

    #[test]
    fn replies_allow_forbid_or_modify() {
        assert_eq!(reply(b""), Answer::Allow);
        assert_eq!(reply(b"ok"), Answer::Allow);
        assert_eq!(
            reply(br#"{"allow": false, "message": "no"}"#),
            Answer::Forbid("no".into())
        );
        assert_eq!(
            reply(br#"{"event": {}, "data": {"name": "x"}}"#),
            Answer::Modify(serde_json::json!({"name": "x"}))
        );
    }
}
