//! `tollgate.Engine`: the native wrapper around one [`tollgate::Engine`].
//!
//! Every call into the engine runs with the GIL released (`Python::detach`) and inside
//! `catch_unwind`, so other Python threads run meanwhile and no panic reaches Python. The
//! wrapper holds the engine in an `RwLock<Option<_>>` only to support `close()`: a call clones
//! the engine handle (an `Arc`) under the read lock and releases the lock before it works.

use crate::convert::{self, params_to_json};
use crate::errors;
use crate::types::{Authorization, FileInfo, Settlement};
use chrono::{DateTime, Utc};
use parking_lot::RwLock;
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict};
use serde_json::Value;
use std::io::Write;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::PathBuf;

/// An embedded Tollgate engine over one database file (or `":memory:"`).
///
/// Create a database with `Engine.create(path, admin_login, admin_password)`, open one with
/// `Engine.open(path)`. Use it as a context manager to close it at the end of a block. Any
/// number of threads may call one engine at once.
#[pyclass(module = "tollgate", frozen, weakref)]
pub struct Engine {
    inner: RwLock<Option<tollgate::Engine>>,
    path: String,
}

/// Run `f` with the GIL released and panics caught.
fn detached<T, F>(py: Python<'_>, f: F) -> PyResult<T>
where
    F: FnOnce() -> T + Send,
    T: Send,
{
    py.detach(move || catch_unwind(AssertUnwindSafe(f)))
        .map_err(|p| errors::from_panic(py, p))
}

/// One call of `settle_many`: `settle`'s keywords as a dict; an unknown key is refused.
fn settle_request(d: &Bound<'_, PyDict>) -> PyResult<tollgate::SettleRequest> {
    const KEYS: [&str; 8] = [
        "call_id",
        "duration",
        "reservation",
        "account",
        "auth_type",
        "destination",
        "source",
        "connect_time",
    ];
    for key in d.keys() {
        let key: String = key.extract()?;
        if !KEYS.contains(&key.as_str()) {
            return Err(pyo3::exceptions::PyTypeError::new_err(format!(
                "unexpected key {key:?}"
            )));
        }
    }
    let given = |key: &str| -> PyResult<Option<Bound<'_, PyAny>>> {
        Ok(d.get_item(key)?.filter(|v| !v.is_none()))
    };
    let wrong = |key: &str, e: PyErr| {
        pyo3::exceptions::PyTypeError::new_err(format!("{key}: {}", e.value(d.py())))
    };
    let text = |key: &str| -> PyResult<Option<String>> {
        given(key)?
            .map(|v| v.extract::<String>().map_err(|e| wrong(key, e)))
            .transpose()
    };
    let count = |key: &str| -> PyResult<Option<u64>> {
        given(key)?
            .map(|v| v.extract::<u64>().map_err(|e| wrong(key, e)))
            .transpose()
    };
    let required =
        |key: &str| pyo3::exceptions::PyTypeError::new_err(format!("missing required key {key:?}"));
    Ok(tollgate::SettleRequest {
        call_id: text("call_id")?.ok_or_else(|| required("call_id"))?,
        duration: count("duration")?.ok_or_else(|| required("duration"))?,
        reservation: count("reservation")?,
        account: text("account")?,
        auth_type: text("auth_type")?,
        destination: text("destination")?,
        source: text("source")?,
        connect_time: given("connect_time")?
            .map(|v| {
                v.extract::<DateTime<Utc>>()
                    .map_err(|e| wrong("connect_time", e))
            })
            .transpose()?,
    })
}

fn path_text(path: PathBuf) -> PyResult<String> {
    path.into_os_string()
        .into_string()
        .map_err(|p| PyValueError::new_err(format!("database path {p:?} is not valid UTF-8")))
}

fn params(py: Python<'_>, params: Option<&Bound<'_, PyAny>>) -> PyResult<Value> {
    params_to_json(params).map_err(|e| errors::from_to_json(py, e))
}

/// Where a file method's bytes go: a file this crate opens, or a Python object with `write`.
enum Sink {
    Path(PathBuf),
    Writer(Py<PyAny>),
}

/// A `std::io::Write` over a Python binary file object, buffered so the GIL is taken once per
/// 64 KiB rather than once per row.
struct PyWriter {
    target: Py<PyAny>,
    buf: Vec<u8>,
}

const PY_WRITER_BUFFER_BYTES: usize = 64 * 1024;

impl PyWriter {
    fn drain(&mut self) -> std::io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let chunk = std::mem::take(&mut self.buf);
        Python::attach(|py| {
            self.target
                .call_method1(py, "write", (PyBytes::new(py, &chunk),))
                .map(|_| ())
                .map_err(|e| std::io::Error::other(e.to_string()))
        })
    }
}

impl Write for PyWriter {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        self.buf.extend_from_slice(data);
        if self.buf.len() >= PY_WRITER_BUFFER_BYTES {
            self.drain()?;
        }
        Ok(data.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.drain()
    }
}

impl Engine {
    fn wrap(engine: tollgate::Engine, path: String) -> Engine {
        Engine {
            inner: RwLock::new(Some(engine)),
            path,
        }
    }

    /// A handle to the engine, or `ValueError` once closed.
    fn get(&self) -> PyResult<tollgate::Engine> {
        self.inner.read().clone().ok_or_else(|| {
            PyValueError::new_err(format!(
                "the engine for {} is closed",
                tollgate::display_target(&self.path)
            ))
        })
    }

    fn envelope(
        &self,
        py: Python<'_>,
        method: &str,
        params: Value,
        as_system: bool,
        bearer: Option<&str>,
    ) -> PyResult<tollgate::Envelope> {
        let engine = self.get()?;
        detached(py, move || match (as_system, bearer) {
            (true, _) => engine.call_as_system(method, params),
            (false, Some(token)) => engine.call_with_bearer(method, params, token),
            (false, None) => engine.call(method, params),
        })
    }

    fn data<'py>(py: Python<'py>, env: tollgate::Envelope) -> PyResult<Bound<'py, PyAny>> {
        if env.code {
            convert::to_py(py, &env.ret)
        } else {
            Err(errors::from_envelope(py, &env))
        }
    }
}

/// Engine options from the keyword settings of `create`/`open` (clock interval, quota,
/// reservation margin, maximum call, in that order); a value out of range raises
/// `InvalidError`.
fn options(py: Python<'_>, keywords: [Option<u64>; 4]) -> PyResult<tollgate::EngineOptions> {
    let [clock_interval_ms, quota_seconds, reservation_margin_seconds, max_call_seconds] = keywords;
    let settings = tollgate::EngineSettings {
        clock_interval_ms,
        quota_seconds,
        reservation_margin_seconds,
        max_call_seconds,
    };
    let mut opts = tollgate::EngineOptions::default();
    settings.apply(&mut opts.config).map_err(|m| {
        errors::from_error(
            py,
            &tollgate::error::ValidationError::invalid("settings", m).into(),
        )
    })?;
    Ok(opts)
}

#[pymethods]
impl Engine {
    /// Create a new database at `path` (or `":memory:"`) with one administrator. The
    /// keyword settings are the engine's (see `status()["settings"]`): `clock_interval_ms`
    /// runs the engine's own clock (0 or None: time moves only with `tick()`).
    #[staticmethod]
    #[pyo3(signature = (path, admin_login, admin_password, *, clock_interval_ms=None, quota_seconds=None, reservation_margin_seconds=None, max_call_seconds=None))]
    #[allow(clippy::too_many_arguments)]
    fn create(
        py: Python<'_>,
        path: PathBuf,
        admin_login: String,
        admin_password: String,
        clock_interval_ms: Option<u64>,
        quota_seconds: Option<u64>,
        reservation_margin_seconds: Option<u64>,
        max_call_seconds: Option<u64>,
    ) -> PyResult<Engine> {
        let path = path_text(path)?;
        let opts = options(
            py,
            [
                clock_interval_ms,
                quota_seconds,
                reservation_margin_seconds,
                max_call_seconds,
            ],
        )?;
        let p = path.clone();
        detached(py, move || {
            tollgate::Engine::create_with(&p, &admin_login, &admin_password, opts)
        })?
        .map(|e| Engine::wrap(e, path))
        .map_err(|e| errors::from_error(py, &e))
    }

    /// Open an existing database, with the engine settings of `create`.
    #[staticmethod]
    #[pyo3(signature = (path, *, clock_interval_ms=None, quota_seconds=None, reservation_margin_seconds=None, max_call_seconds=None))]
    fn open(
        py: Python<'_>,
        path: PathBuf,
        clock_interval_ms: Option<u64>,
        quota_seconds: Option<u64>,
        reservation_margin_seconds: Option<u64>,
        max_call_seconds: Option<u64>,
    ) -> PyResult<Engine> {
        let path = path_text(path)?;
        let opts = options(
            py,
            [
                clock_interval_ms,
                quota_seconds,
                reservation_margin_seconds,
                max_call_seconds,
            ],
        )?;
        let p = path.clone();
        detached(py, move || tollgate::Engine::open_with(&p, opts))?
            .map(|e| Engine::wrap(e, path))
            .map_err(|e| errors::from_error(py, &e))
    }

    /// The engine's live state as `core.status` shows it to the operator: `version`,
    /// `schema_version`, `last_tick`, `open_reservations`, `held_total` (currency code to
    /// decimal string), `outbox_pending` and `settings`.
    fn status<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let engine = self.get()?;
        let v = detached(py, move || engine.status())?.map_err(|e| errors::from_error(py, &e))?;
        convert::to_py(py, &v)
    }

    /// The path the engine was created or opened with (a server URL without its password).
    #[getter]
    fn path(&self) -> String {
        tollgate::display_target(&self.path)
    }

    /// True once `close()` ran.
    #[getter]
    fn closed(&self) -> bool {
        self.inner.read().is_none()
    }

    /// Close the engine. The database is released when calls already running finish.
    /// Closing twice is a no-op.
    fn close(&self, py: Python<'_>) -> PyResult<()> {
        let engine = self.inner.write().take();
        // Stop the engine's threads (joined: a clock pass in flight finishes first), then
        // drop the last handle, which closes SQLite: without the GIL.
        detached(py, move || {
            if let Some(e) = &engine {
                e.close();
            }
            drop(engine)
        })
    }

    fn __enter__(slf: Py<Self>) -> Py<Self> {
        slf
    }

    #[pyo3(signature = (_exc_type=None, _exc=None, _tb=None))]
    fn __exit__(
        &self,
        py: Python<'_>,
        _exc_type: Option<&Bound<'_, PyAny>>,
        _exc: Option<&Bound<'_, PyAny>>,
        _tb: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<bool> {
        self.close(py)?;
        Ok(false)
    }

    fn __repr__(&self) -> String {
        let state = if self.closed() { "closed" } else { "open" };
        format!(
            "<tollgate.Engine {:?} {state}>",
            tollgate::display_target(&self.path)
        )
    }

    /// Call a Management API method with credentials in `params` (`auth` or `SID`), or with
    /// an access token as `bearer`. Returns the method's data (the envelope's `return`);
    /// a refused call raises the `TollgateError` subclass of its first error.
    #[pyo3(signature = (method, params=None, *, bearer=None))]
    fn call<'py>(
        &self,
        py: Python<'py>,
        method: &str,
        params: Option<&Bound<'py, PyAny>>,
        bearer: Option<&str>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let p = self::params(py, params)?;
        let env = self.envelope(py, method, p, false, bearer)?;
        Engine::data(py, env)
    }

    /// Call a method as the embedding process itself (every right, whole tree), for trusted
    /// scripts that own the database. Returns the data; a refusal raises.
    #[pyo3(signature = (method, params=None))]
    fn call_as_system<'py>(
        &self,
        py: Python<'py>,
        method: &str,
        params: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let p = self::params(py, params)?;
        let env = self.envelope(py, method, p, true, None)?;
        Engine::data(py, env)
    }

    /// Call a method and return the whole envelope as a dict
    /// (`code`, `session_id`, `messages`, `return`, `errors`) without raising on refusal.
    #[pyo3(signature = (method, params=None, *, as_system=false, bearer=None))]
    fn call_envelope<'py>(
        &self,
        py: Python<'py>,
        method: &str,
        params: Option<&Bound<'py, PyAny>>,
        as_system: bool,
        bearer: Option<&str>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let p = self::params(py, params)?;
        let env = self.envelope(py, method, p, as_system, bearer)?;
        convert::to_py(py, &env.to_json())
    }

    /// Log in with a password and return the session id to send as `SID`.
    fn login(&self, py: Python<'_>, login: &str, password: &str) -> PyResult<String> {
        let p = serde_json::json!({"auth": {"login": login, "password": password}});
        let env = self.envelope(py, "auth.login", p, false, None)?;
        if !env.code {
            return Err(errors::from_envelope(py, &env));
        }
        env.session_id.ok_or_else(|| {
            errors::from_error(
                py,
                &tollgate::Error::Internal("auth.login returned no session id".into()),
            )
        })
    }

    /// May this call go through, and for how long? Refusals raise (`BalanceInsufficientError`,
    /// `NoRateError`, `AccountNotFoundError`, ...).
    #[pyo3(signature = (account, destination, *, auth_type=None, source=None, time=None))]
    fn authorize(
        &self,
        py: Python<'_>,
        account: String,
        destination: String,
        auth_type: Option<String>,
        source: Option<String>,
        time: Option<DateTime<Utc>>,
    ) -> PyResult<Authorization> {
        let engine = self.get()?;
        let req = tollgate::AuthorizeRequest {
            whole_grant: false,
            account,
            auth_type,
            destination,
            source,
            time,
        };
        detached(py, move || engine.authorize(&req))?
            .map(Authorization::from)
            .map_err(|e| errors::from_error(py, &e))
    }

    /// Extend a reservation by another quota.
    fn update(&self, py: Python<'_>, reservation: u64) -> PyResult<Authorization> {
        let engine = self.get()?;
        detached(py, move || engine.update(reservation))?
            .map(Authorization::from)
            .map_err(|e| errors::from_error(py, &e))
    }

    /// Charge a finished call. The same `call_id` again returns the first result
    /// (`replayed=True`); with different content it raises `IdempotencyConflictError`.
    #[pyo3(signature = (call_id, duration, *, reservation=None, account=None, auth_type=None, destination=None, source=None, connect_time=None))]
    #[allow(clippy::too_many_arguments)]
    fn settle(
        &self,
        py: Python<'_>,
        call_id: String,
        duration: u64,
        reservation: Option<u64>,
        account: Option<String>,
        auth_type: Option<String>,
        destination: Option<String>,
        source: Option<String>,
        connect_time: Option<DateTime<Utc>>,
    ) -> PyResult<Settlement> {
        let engine = self.get()?;
        let req = tollgate::SettleRequest {
            reservation,
            call_id,
            duration,
            account,
            auth_type,
            destination,
            source,
            connect_time,
        };
        detached(py, move || engine.settle(&req))?
            .map(Settlement::from)
            .map_err(|e| errors::from_error(py, &e))
    }

    /// Charge many finished calls together: they share group commits (one transaction and
    /// one fsync for hundreds of them). `calls` is a list of dicts with `settle`'s keywords
    /// (`call_id` and `duration` required). Returns one item per call, in order: its
    /// `Settlement`, or the exception `settle` would have raised for it (returned, not
    /// raised: the batch is not atomic). A malformed dict raises `TypeError`/`ValueError`
    /// before anything is settled.
    fn settle_many(
        &self,
        py: Python<'_>,
        calls: Vec<Bound<'_, PyDict>>,
    ) -> PyResult<Vec<Py<PyAny>>> {
        let engine = self.get()?;
        let reqs = calls
            .iter()
            .enumerate()
            .map(|(i, d)| {
                settle_request(d).map_err(|e| {
                    let what = e.value(py).to_string();
                    if e.is_instance_of::<pyo3::exceptions::PyTypeError>(py) {
                        pyo3::exceptions::PyTypeError::new_err(format!("calls[{i}]: {what}"))
                    } else {
                        PyValueError::new_err(format!("calls[{i}]: {what}"))
                    }
                })
            })
            .collect::<PyResult<Vec<_>>>()?;
        let results = detached(py, move || engine.settle_many(&reqs))?
            .map_err(|e| errors::from_error(py, &e))?;
        results
            .into_iter()
            .map(|r| match r {
                Ok(s) => Ok(Py::new(py, Settlement::from(s))?.into_any()),
                Err(e) => Ok(errors::from_error(py, &e).into_value(py).into_any()),
            })
            .collect()
    }

    /// Close a reservation without charging.
    fn release(&self, py: Python<'_>, reservation: u64) -> PyResult<()> {
        let engine = self.get()?;
        detached(py, move || engine.release(reservation))?.map_err(|e| errors::from_error(py, &e))
    }

    /// Run what is due at `now` (default: the engine's clock): expired reservations are
    /// released, subscriptions renewed or deactivated. Returns counts.
    #[pyo3(signature = (now=None))]
    fn tick<'py>(
        &self,
        py: Python<'py>,
        now: Option<DateTime<Utc>>,
    ) -> PyResult<Bound<'py, PyDict>> {
        let engine = self.get()?;
        let report = detached(py, move || {
            let now = now.unwrap_or_else(|| engine.clock().now());
            engine.tick(now)
        })?
        .map_err(|e| errors::from_error(py, &e))?;
        let d = PyDict::new(py);
        d.set_item("reservations_released", report.reservations_released)?;
        d.set_item("activated", report.subscriptions.activated)?;
        d.set_item("renewed", report.subscriptions.renewed)?;
        d.set_item("deactivated", report.subscriptions.deactivated)?;
        d.set_item("closed", report.subscriptions.closed)?;
        d.set_item("errors", report.errors)?;
        Ok(d)
    }

    /// Answer a PortaBilling-style REST call `/rest/<service>/<method>`: returns
    /// `(http_status, body)`.
    #[pyo3(signature = (service, method, body=None, bearer=None))]
    fn rest<'py>(
        &self,
        py: Python<'py>,
        service: &str,
        method: &str,
        body: Option<&Bound<'py, PyAny>>,
        bearer: Option<&str>,
    ) -> PyResult<(u16, Bound<'py, PyAny>)> {
        let body = self::params(py, body)?;
        let engine = self.get()?;
        let (status, reply) = detached(py, move || engine.rest(service, method, &body, bearer))?;
        Ok((status, convert::to_py(py, &reply)?))
    }

    /// Call a file method (`xdrs.download`) and write the file to `dest`: a path (the file is
    /// created or replaced, and removed again if the call is refused) or a binary file object
    /// with `write`. Returns the suggested name and content type; a refusal raises.
    #[pyo3(signature = (method, params, dest, *, as_system=false))]
    fn call_file(
        &self,
        py: Python<'_>,
        method: &str,
        params: Option<&Bound<'_, PyAny>>,
        dest: &Bound<'_, PyAny>,
        as_system: bool,
    ) -> PyResult<FileInfo> {
        let p = self::params(py, params)?;
        let sink = match dest.extract::<PathBuf>() {
            Ok(path) => Sink::Path(path),
            Err(_) if dest.hasattr("write")? => Sink::Writer(dest.clone().unbind()),
            Err(_) => {
                return Err(convert::type_error(format!(
                    "dest must be a path or a binary file object, not {}",
                    dest.get_type().name()?
                )))
            }
        };
        let engine = self.get()?;
        let outcome = detached(py, move || -> Result<tollgate::FileMeta, FileFailure> {
            let run = |out: &mut dyn Write| {
                if as_system {
                    engine.call_file_as_system(method, p, out)
                } else {
                    engine.call_file(method, p, out)
                }
            };
            match sink {
                Sink::Path(path) => {
                    let file = std::fs::File::create(&path).map_err(|e| {
                        FileFailure::Io(format!("cannot create {}: {e}", path.display()))
                    })?;
                    let mut out = std::io::BufWriter::new(file);
                    let result = run(&mut out).map_err(FileFailure::Refused);
                    let flushed = out
                        .into_inner()
                        .map_err(|e| e.into_error())
                        .and_then(|f| f.sync_all());
                    match (result, flushed) {
                        (Ok(meta), Ok(())) => Ok(meta),
                        (Ok(_), Err(e)) => {
                            let _ = std::fs::remove_file(&path);
                            Err(FileFailure::Io(format!(
                                "cannot write {}: {e}",
                                path.display()
                            )))
                        }
                        (Err(f), _) => {
                            let _ = std::fs::remove_file(&path);
                            Err(f)
                        }
                    }
                }
                Sink::Writer(target) => {
                    let mut out = PyWriter {
                        target,
                        buf: Vec::new(),
                    };
                    let meta = run(&mut out).map_err(FileFailure::Refused)?;
                    out.flush()
                        .map_err(|e| FileFailure::Io(format!("writing the file failed: {e}")))?;
                    Ok(meta)
                }
            }
        })?;
        match outcome {
            Ok(meta) => Ok(FileInfo {
                name: meta.name,
                content_type: meta.content_type,
                session_id: meta.session_id,
            }),
            Err(FileFailure::Refused(env)) => Err(errors::from_envelope(py, &env)),
            Err(FileFailure::Io(msg)) => Err(errors::from_error(
                py,
                &tollgate::Error::Store(tollgate::error::StoreError::io(msg)),
            )),
        }
    }

    /// The public key that verifies access tokens, as PEM.
    fn token_public_key_pem(&self, py: Python<'_>) -> PyResult<String> {
        let engine = self.get()?;
        detached(py, move || engine.token_public_key_pem())
    }

    /// The public key that verifies access tokens, as a JSON Web Key Set (dict).
    fn token_jwks<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let engine = self.get()?;
        let jwks = detached(py, move || engine.token_jwks())?;
        convert::to_py(py, &jwks)
    }

    /// Register `callback` as the event callback `name` (default `"python"`): a provisioning
    /// handler of kind `callback` whose target is `name` calls it. It gets one dict,
    /// `{"id", "event", "object_id", "stage", "payload"}` (`payload` in JeraSoft's format).
    /// Its answer: `None` or `True` allows; `False` or a string (the message) forbids; a dict
    /// is modified data (stage `before`). An exception counts as a failed attempt, recorded in
    /// `provisioning.logs` with its text: it never reaches the engine. `after` events arrive
    /// on the engine's delivery thread, which takes the GIL only while the callable runs.
    /// Registering a name again replaces its callable; `close()` drops them all.
    #[pyo3(signature = (callback, name = "python"))]
    fn on_event(&self, py: Python<'_>, callback: Py<PyAny>, name: &str) -> PyResult<()> {
        if !callback.bind(py).is_callable() {
            return Err(convert::type_error("on_event: callback must be callable"));
        }
        let engine = self.get()?;
        let cb: tollgate::EventCallback = std::sync::Arc::new(move |ev: &tollgate::Event| {
            Python::attach(|py| call_event_callback(py, &callback, ev))
        });
        let name = name.to_string();
        detached(py, move || engine.register_callback(&name, cb))?
            .map_err(|e| errors::from_error(py, &e))
    }

    /// Remove the event callback `name`; `False` when there was none.
    #[pyo3(signature = (name = "python"))]
    fn off_event(&self, py: Python<'_>, name: &str) -> PyResult<bool> {
        let engine = self.get()?;
        let name = name.to_string();
        detached(py, move || engine.unregister_callback(&name))
    }

    /// Deliver, now, every `after` event that is due (the background worker does the same on
    /// its own): returns counts `{"attempted", "delivered", "retrying", "failed"}`.
    #[pyo3(signature = (now=None))]
    fn deliver_events<'py>(
        &self,
        py: Python<'py>,
        now: Option<DateTime<Utc>>,
    ) -> PyResult<Bound<'py, PyDict>> {
        let engine = self.get()?;
        let report = detached(py, move || {
            let now = now.unwrap_or_else(|| engine.clock().now());
            engine.deliver_events(now)
        })?
        .map_err(|e| errors::from_error(py, &e))?;
        let d = PyDict::new(py);
        d.set_item("attempted", report.attempted)?;
        d.set_item("delivered", report.delivered)?;
        d.set_item("retrying", report.retrying)?;
        d.set_item("failed", report.failed)?;
        Ok(d)
    }
}

/// Call a Python event callback with the GIL held and turn its answer into a verdict. Nothing
/// it does (an exception, a wrong return type) escapes as anything but a refusal.
fn call_event_callback(
    py: Python<'_>,
    callback: &Py<PyAny>,
    ev: &tollgate::Event,
) -> tollgate::Verdict {
    use tollgate::Verdict;
    let answer = convert::to_py(py, &ev.to_json()).and_then(|d| callback.call1(py, (d,)));
    match answer {
        Err(e) => {
            let kind = e
                .get_type(py)
                .name()
                .map(|n| n.to_string())
                .unwrap_or_else(|_| "Exception".into());
            Verdict::Forbid(format!(
                "the Python callback raised {kind}: {}",
                e.value(py)
            ))
        }
        Ok(r) => {
            let r = r.bind(py);
            if r.is_none() {
                return Verdict::Allow;
            }
            if let Ok(b) = r.extract::<bool>() {
                return if b {
                    Verdict::Allow
                } else {
                    Verdict::Forbid("forbidden by the Python callback".into())
                };
            }
            if let Ok(s) = r.extract::<String>() {
                return Verdict::Forbid(s);
            }
            if r.is_instance_of::<PyDict>() {
                return match convert::to_json(r, "data", 0) {
                    Ok(v) => Verdict::Modify(v),
                    Err(convert::ToJsonError::Unsupported(m)) => {
                        Verdict::Forbid(format!("the Python callback returned bad data: {m}"))
                    }
                    Err(convert::ToJsonError::Python(e)) => Verdict::Forbid(format!(
                        "the Python callback returned bad data: {}",
                        e.value(py)
                    )),
                };
            }
            Verdict::Forbid(format!(
                "the Python callback returned {}; expected None, a bool, a str or a dict",
                r.get_type()
                    .name()
                    .map(|n| n.to_string())
                    .unwrap_or_default()
            ))
        }
    }
}

impl Drop for Engine {
    /// An engine garbage-collected without `close()`: dropping the last handle closes SQLite
    /// (a WAL checkpoint), so do it with the GIL released as well.
    fn drop(&mut self) {
        if let Some(engine) = self.inner.get_mut().take() {
            Python::attach(|py| py.detach(move || drop(engine)));
        }
    }
}

enum FileFailure {
    Refused(Box<tollgate::Envelope>),
    Io(String),
}
