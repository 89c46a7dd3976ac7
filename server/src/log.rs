//! Structured logs: one JSON object per line. Request lines carry the method, the route's
//! path (never a query string, a body, a header value or a cookie, so no password, SID or
//! token can reach the log), the status, the time taken and the sizes.

use serde_json::{json, Value};
use std::sync::Arc;

/// Where log lines go.
#[derive(Clone)]
pub enum Log {
    /// Standard error, one JSON object per line.
    Stderr,
    /// Nowhere.
    Off,
    /// A function given each line (tests collect them).
    To(Arc<dyn Fn(&str) + Send + Sync>),
}

/// One answered request, as logged.
pub(crate) struct RequestLine<'a> {
    pub remote: std::net::SocketAddr,
    pub method: &'a str,
    pub path: &'a str,
    pub status: u16,
    pub duration: std::time::Duration,
    pub bytes_in: u64,
    pub bytes_out: u64,
}

fn now() -> String {
    chrono::Utc::now()
        .format("%Y-%m-%dT%H:%M:%S%.3fZ")
        .to_string()
}

impl Log {
    fn write(&self, v: &Value) {
        match self {
            Log::Off => {}
            Log::Stderr => stderr_line(&v.to_string()),
            Log::To(f) => f(&v.to_string()),
        }
    }

    /// A server event (`listening`, `shutdown`, `stopped`, `error`, `tls`).
    pub fn event(&self, event: &str, message: &str) {
        self.write(&json!({"ts": now(), "event": event, "message": message}));
    }

    pub(crate) fn request(&self, r: &RequestLine<'_>) {
        if matches!(self, Log::Off) {
            return;
        }
        let line = request_line(r);
        match self {
            Log::Off => {}
            Log::Stderr => stderr_line(&line),
            Log::To(f) => f(&line),
        }
    }
}

/// One line to standard error in one write: `eprintln!` of a JSON value writes it piece by
/// piece (a system call per piece) while holding the stderr lock, and the request threads
/// queued on that lock (measured: most of the server's time at 27,000 requests/s).
fn stderr_line(line: &str) {
    use std::io::Write;
    let mut buf = Vec::with_capacity(line.len() + 1);
    buf.extend_from_slice(line.as_bytes());
    buf.push(b'\n');
    // Nowhere to report a failure to write the log.
    let _ = std::io::stderr().lock().write_all(&buf);
}

/// A request's log line, written straight into one string (the same text, fields in the same order, as the `json!`
/// object it replaces, without building one per request).
fn request_line(r: &RequestLine<'_>) -> String {
    use std::fmt::Write;
    let ms = r.duration.as_secs_f64() * 1000.0;
    let mut out = String::with_capacity(192);
    let _ = write!(
        out,
        "{{\"ts\":\"{}\",\"event\":\"request\",\"remote\":\"{}\",\"method\":{},\"path\":{},\"status\":{},\"duration_ms\":{},\"bytes_in\":{},\"bytes_out\":{}}}",
        chrono::Utc::now().format("%Y-%m-%dT%H:%M:%S%.3fZ"),
        r.remote,
        Value::from(r.method),
        Value::from(r.path),
        r.status,
        Value::from((ms * 1000.0).round() / 1000.0),
        r.bytes_in,
        r.bytes_out,
    );
    out
}

/// Forwards the engine's own log records (core logs through the `log` facade: the full text
/// of a storage error under the reference its caller was shown) to `Log` as JSON lines.
struct CoreLogs(Log);

impl log::Log for CoreLogs {
    fn enabled(&self, m: &log::Metadata<'_>) -> bool {
        m.level() <= log::Level::Warn
    }

    fn log(&self, r: &log::Record<'_>) {
        if self.enabled(r.metadata()) {
            self.0.write(&json!({
                "ts": now(),
                "event": r.level().as_str().to_ascii_lowercase(),
                "target": r.target(),
                "message": r.args().to_string(),
            }));
        }
    }

    fn flush(&self) {}
}

impl Log {
    /// Send the engine's warnings and errors to this log, for the whole process (the first
    /// call wins; later ones change nothing).
    pub fn forward_core_logs(&self) {
        if log::set_boxed_logger(Box::new(CoreLogs(self.clone()))).is_ok() {
            log::set_max_level(log::LevelFilter::Warn);
        }
    }
}

/// The path as logged: the route's own segments only. Anything past them (old clients put
/// session ids in extra REST path segments) and anything unroutable is cut.
pub(crate) fn loggable_path(path: &str) -> String {
    let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    let keep = match segments.first().copied() {
        Some("jsonrpc") | Some("healthz") => 1,
        Some(".well-known") => 2,
        Some("admin") | Some("rest") => 3,
        _ => 0,
    };
    let printable = |s: &str| {
        s.len() <= 64
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
    };
    let mut out = String::new();
    for s in segments.iter().take(keep) {
        if !printable(s) {
            break;
        }
        out.push('/');
        out.push_str(s);
    }
    if out.len() < path.trim_end_matches('/').len() {
        out.push_str("/…");
    } else if path.ends_with('/') {
        out.push('/');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::loggable_path;

    #[test]
    fn paths_are_cut_to_the_route() {
        assert_eq!(loggable_path("/jsonrpc/"), "/jsonrpc/");
        assert_eq!(loggable_path("/rest/Session/login"), "/rest/Session/login");
        assert_eq!(
            loggable_path("/rest/Account/get_account_info/{'session_id':'x'}/{}"),
            "/rest/Account/get_account_info/…"
        );
        assert_eq!(
            loggable_path("/admin/xdrs/download"),
            "/admin/xdrs/download"
        );
        assert_eq!(loggable_path("/secret-sid-here"), "/…");
        assert_eq!(loggable_path("/"), "/");
        assert_eq!(loggable_path("/rest/a b/c"), "/rest/…");
    }

    #[test]
    fn a_request_line_is_the_json_object_it_always_was() {
        let line = super::request_line(&super::RequestLine {
            remote: "127.0.0.1:4000".parse().unwrap(),
            method: "POST",
            path: "/rest/\"x\\/…",
            status: 200,
            duration: std::time::Duration::from_micros(1_234_567),
            bytes_in: 12,
            bytes_out: 34,
        });
        let v: serde_json::Value = serde_json::from_str(&line).unwrap();
        let ts = v["ts"].as_str().unwrap().to_string();
        assert_eq!(ts.len(), "2026-01-01T00:00:00.000Z".len(), "{ts}");
        assert_eq!(
            v,
            serde_json::json!({"ts": ts, "event": "request", "remote": "127.0.0.1:4000",
                "method": "POST", "path": "/rest/\"x\\/…", "status": 200,
                "duration_ms": 1234.567, "bytes_in": 12, "bytes_out": 34})
        );
        // Byte for byte what the `json!` object printed (its keys keep their order).
        assert_eq!(
            line,
            serde_json::json!({"ts": ts, "event": "request", "remote": "127.0.0.1:4000",
                "method": "POST", "path": "/rest/\"x\\/…", "status": 200,
                "duration_ms": 1234.567, "bytes_in": 12, "bytes_out": 34})
            .to_string()
        );
    }
}
