//! Engine errors as Python exceptions.
//!
//! The classes live in `tollgate.errors`, generated at import from [`ErrorCode::ALL`] (the one
//! table in `core/src/error.rs`): a base `TollgateError` and one subclass per code, named by
//! `ErrorCode::python_class`. Rust looks a class up by that name when it raises.

use crate::convert::ToJsonError;
use pyo3::exceptions::PyRuntimeError;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyDict, PyList, PyModule};
use tollgate::{Envelope, Error, ErrorCode};

static ERRORS_MODULE: PyOnceLock<Py<PyModule>> = PyOnceLock::new();

fn errors_module(py: Python<'_>) -> PyResult<&Bound<'_, PyModule>> {
    ERRORS_MODULE
        .get_or_try_init(py, || {
            Ok::<_, PyErr>(py.import("tollgate.errors")?.unbind())
        })
        .map(|m| m.bind(py))
}

/// One error entry as the envelope writes it: `{code, message, field?}`.
fn entry<'py>(
    py: Python<'py>,
    code: ErrorCode,
    message: &str,
    field: Option<&str>,
) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    d.set_item("code", code.as_str())?;
    d.set_item("message", message)?;
    if let Some(f) = field {
        d.set_item("field", f)?;
    }
    Ok(d)
}

/// Build the exception for `code`; `errors` is every entry of the refusal.
fn raise(
    py: Python<'_>,
    code: ErrorCode,
    message: &str,
    field: Option<&str>,
    errors: Bound<'_, PyList>,
) -> PyErr {
    let build = || -> PyResult<PyErr> {
        let module = errors_module(py)?;
        let class = module.getattr(code.python_class())?;
        let exc = class.call1((message, code.as_str(), field, errors))?;
        Ok(PyErr::from_value(exc))
    };
    match build() {
        Ok(e) => e,
        // Only when tollgate.errors cannot be imported: still a clear exception.
        Err(e) => PyRuntimeError::new_err(format!("{code}: {message} ({e})")),
    }
}

/// A core error as its Python exception.
pub fn from_error(py: Python<'_>, e: &Error) -> PyErr {
    let message = e.to_string();
    let errors = PyList::empty(py);
    if let Ok(d) = entry(py, e.code(), &message, e.field()) {
        let _ = errors.append(d);
    }
    raise(py, e.code(), &message, e.field(), errors)
}

/// A refused envelope as the exception of its first error.
pub fn from_envelope(py: Python<'_>, env: &Envelope) -> PyErr {
    let errors = PyList::empty(py);
    for e in &env.errors {
        if let Ok(d) = entry(py, e.code, &e.message, e.field.as_deref()) {
            let _ = errors.append(d);
        }
    }
    match env.errors.first() {
        Some(first) => raise(
            py,
            first.code,
            &first.message,
            first.field.as_deref(),
            errors,
        ),
        None => raise(
            py,
            ErrorCode::Internal,
            "the call was refused without a reason",
            None,
            errors,
        ),
    }
}

/// A Python value that cannot be sent: `api.malformed_request` (or Python's own error).
pub fn from_to_json(py: Python<'_>, e: ToJsonError) -> PyErr {
    match e {
        ToJsonError::Python(err) => err,
        ToJsonError::Unsupported(msg) => from_error(py, &Error::Malformed(msg)),
    }
}

/// A panic inside the engine: never crosses into Python as a panic.
pub fn from_panic(py: Python<'_>, payload: Box<dyn std::any::Any + Send>) -> PyErr {
    let what = payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".to_string());
    from_error(py, &Error::Internal(format!("the engine panicked: {what}")))
}

/// The table behind the exception tree: `(code, c_code, class name)` for every code.
#[pyfunction]
pub fn error_table() -> Vec<(&'static str, u32, &'static str)> {
    ErrorCode::ALL
        .iter()
        .map(|c| (c.as_str(), c.c_code(), c.python_class()))
        .collect()
}
