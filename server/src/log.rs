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
            Log::Stderr => eprintln!("{v}"),
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
        let ms = r.duration.as_secs_f64() * 1000.0;
        self.write(&json!({
            "ts": now(),
            "event": "request",
            "remote": r.remote.to_string(),
            "method": r.method,
            "path": r.path,
            "status": r.status,
            "duration_ms": (ms * 1000.0).round() / 1000.0,
            "bytes_in": r.bytes_in,
            "bytes_out": r.bytes_out,
        }));
    }
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
}
