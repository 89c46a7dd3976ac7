//! Python values <-> JSON values, exactly.
//!
//! Money crosses as `decimal.Decimal` both ways. Into the engine, a `Decimal` becomes a JSON
//! number written in plain positional notation (`format(d, "f")`), and a `float` is accepted
//! only through its `repr` (the shortest string that round-trips, so `0.1` is `0.1`, never
//! `0.1000000000000000055…`). Out of the engine, a JSON number with a fraction or exponent
//! becomes a `Decimal` built from the number's text; an integer becomes an `int`.

use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyBool, PyDict, PyFloat, PyInt, PyList, PyString, PyTuple, PyType};
use serde_json::{Map, Number, Value};
use std::collections::HashSet;
use std::str::FromStr;
use std::sync::OnceLock;
use tollgate::limits;
use tollgate::model::{self, FieldKind};

/// Why a Python value cannot be sent to the engine (becomes `api.malformed_request`).
#[derive(Debug)]
pub enum ToJsonError {
    /// The value has no JSON form; the message names it and where it sits.
    Unsupported(String),
    /// Python itself failed while we looked at the value.
    Python(PyErr),
}

impl From<PyErr> for ToJsonError {
    fn from(e: PyErr) -> Self {
        ToJsonError::Python(e)
    }
}

static DECIMAL: PyOnceLock<Py<PyType>> = PyOnceLock::new();

/// `decimal.Decimal`, imported once.
pub fn decimal_type(py: Python<'_>) -> PyResult<&Bound<'_, PyType>> {
    DECIMAL.import(py, "decimal", "Decimal")
}

/// Build a `decimal.Decimal` from exact decimal text.
pub fn decimal_from_text<'py>(py: Python<'py>, text: &str) -> PyResult<Bound<'py, PyAny>> {
    decimal_type(py)?.call1((text,))
}

fn where_(path: &str) -> String {
    if path.is_empty() {
        "params".to_string()
    } else {
        format!("params{path}")
    }
}

/// A finite `Decimal` as positional text (`Decimal('1E+2')` -> `100`).
fn decimal_text(obj: &Bound<'_, PyAny>, path: &str) -> Result<String, ToJsonError> {
    if !obj.call_method0("is_finite")?.extract::<bool>()? {
        return Err(ToJsonError::Unsupported(format!(
            "{} is {} (amounts must be finite)",
            where_(path),
            obj.str()?.to_cow()?
        )));
    }
    Ok(obj
        .call_method1("__format__", ("f",))?
        .extract::<String>()?)
}

fn number(text: &str, path: &str) -> Result<Value, ToJsonError> {
    Number::from_str(text).map(Value::Number).map_err(|_| {
        ToJsonError::Unsupported(format!("{} is not a valid number: {text}", where_(path)))
    })
}

/// Convert a Python value to JSON. `path` names the position for error messages.
pub fn to_json(obj: &Bound<'_, PyAny>, path: &str, depth: usize) -> Result<Value, ToJsonError> {
    if depth > limits::json_depth_max {
        return Err(ToJsonError::Unsupported(format!(
            "{} is nested deeper than {} levels",
            where_(path),
            limits::json_depth_max
        )));
    }
    let py = obj.py();
    if obj.is_none() {
        return Ok(Value::Null);
    }
    // bool before int: in Python, True is an int.
    if let Ok(b) = obj.cast::<PyBool>() {
        return Ok(Value::Bool(b.is_true()));
    }
    if let Ok(s) = obj.cast::<PyString>() {
        return Ok(Value::String(s.to_cow()?.into_owned()));
    }
    if obj.cast::<PyInt>().is_ok() {
        if let Ok(i) = obj.extract::<i64>() {
            return Ok(Value::Number(i.into()));
        }
        if let Ok(u) = obj.extract::<u64>() {
            return Ok(Value::Number(u.into()));
        }
        // Larger integers keep every digit (the engine refuses them where they do not fit).
        let text = obj.str()?.to_cow()?.into_owned();
        return number(&text, path);
    }
    if obj.is_instance(decimal_type(py)?)? {
        let text = decimal_text(obj, path)?;
        return number(&text, path);
    }
    if obj.cast::<PyFloat>().is_ok() {
        // Only through repr: the shortest text that reads back as the same float.
        let repr = obj.repr()?;
        let as_decimal = decimal_type(py)?.call1((repr,))?;
        let text = decimal_text(&as_decimal, path)?;
        return number(&text, path);
    }
    if let Ok(d) = obj.cast::<PyDict>() {
        let mut map = Map::with_capacity(d.len());
        for (k, v) in d.iter() {
            let Ok(key) = k.cast::<PyString>() else {
                return Err(ToJsonError::Unsupported(format!(
                    "{} has a key {} of type {}; keys must be strings",
                    where_(path),
                    k.repr()?.to_cow()?,
                    k.get_type().name()?
                )));
            };
            let key = key.to_cow()?.into_owned();
            let child = format!("{path}[{key:?}]");
            let value = to_json(&v, &child, depth + 1)?;
            map.insert(key, value);
        }
        return Ok(Value::Object(map));
    }
    if let Ok(l) = obj.cast::<PyList>() {
        let mut items = Vec::with_capacity(l.len());
        for (i, v) in l.iter().enumerate() {
            items.push(to_json(&v, &format!("{path}[{i}]"), depth + 1)?);
        }
        return Ok(Value::Array(items));
    }
    if let Ok(t) = obj.cast::<PyTuple>() {
        let mut items = Vec::with_capacity(t.len());
        for (i, v) in t.iter().enumerate() {
            items.push(to_json(&v, &format!("{path}[{i}]"), depth + 1)?);
        }
        return Ok(Value::Array(items));
    }
    // Mappings that are not dicts (e.g. OrderedDict subclasses are dicts already).
    if obj.hasattr("keys")? && obj.hasattr("__getitem__")? {
        let d = PyDict::new(py);
        for k in obj.call_method0("keys")?.try_iter()? {
            let k = k?;
            d.set_item(&k, obj.get_item(&k)?)?;
        }
        return to_json(d.as_any(), path, depth);
    }
    Err(ToJsonError::Unsupported(format!(
        "{} has a value of type {} that has no JSON form (use str, int, Decimal, bool, None, list or dict)",
        where_(path),
        obj.get_type().name()?
    )))
}

/// Names of the money fields of the domain model (`balance`, `credit`, `rate`, ...), minus any
/// name some entity also uses for a field of another kind. A number under one of these keys
/// is a `Decimal` even when it is written without a fraction (`"balance": 0`).
fn money_keys() -> &'static HashSet<&'static str> {
    static KEYS: OnceLock<HashSet<&'static str>> = OnceLock::new();
    KEYS.get_or_init(|| {
        let fields = || model::ALL_ENTITIES.iter().flat_map(|e| e.fields.iter());
        let other: HashSet<&str> = fields()
            .filter(|f| !matches!(f.kind, FieldKind::Money { .. }))
            .map(|f| f.name)
            .collect();
        fields()
            .filter(|f| matches!(f.kind, FieldKind::Money { .. }))
            .map(|f| f.name)
            .filter(|n| !other.contains(n))
            .collect()
    })
}

/// Convert a JSON value to Python: integers to `int`, other numbers (and every number under a
/// money key) to `Decimal`, objects to `dict` (in order), arrays to `list`.
pub fn to_py<'py>(py: Python<'py>, v: &Value) -> PyResult<Bound<'py, PyAny>> {
    value_to_py(py, v, false)
}

fn value_to_py<'py>(py: Python<'py>, v: &Value, money: bool) -> PyResult<Bound<'py, PyAny>> {
    Ok(match v {
        Value::Null => py.None().into_bound(py),
        Value::Bool(b) => PyBool::new(py, *b).to_owned().into_any(),
        Value::Number(n) => {
            if money {
                decimal_from_text(py, &n.to_string())?
            } else if let Some(i) = n.as_i64() {
                i.into_pyobject(py)?.into_any()
            } else if let Some(u) = n.as_u64() {
                u.into_pyobject(py)?.into_any()
            } else {
                let text = n.to_string();
                if text.contains(['.', 'e', 'E']) {
                    decimal_from_text(py, &text)?
                } else {
                    py.get_type::<PyInt>().call1((text,))?
                }
            }
        }
        Value::String(s) => PyString::new(py, s).into_any(),
        Value::Array(items) => {
            let list = PyList::empty(py);
            for item in items {
                list.append(value_to_py(py, item, false)?)?;
            }
            list.into_any()
        }
        Value::Object(map) => {
            let keys = money_keys();
            let dict = PyDict::new(py);
            for (k, item) in map {
                dict.set_item(k, value_to_py(py, item, keys.contains(k.as_str()))?)?;
            }
            dict.into_any()
        }
    })
}

/// Params as a JSON object: `None` is `{}`; anything but a mapping is refused.
pub fn params_to_json(params: Option<&Bound<'_, PyAny>>) -> Result<Value, ToJsonError> {
    match params {
        None => Ok(Value::Object(Map::new())),
        Some(p) if p.is_none() => Ok(Value::Object(Map::new())),
        Some(p) => match to_json(p, "", 0)? {
            v @ Value::Object(_) => Ok(v),
            _ => Err(ToJsonError::Unsupported(format!(
                "params must be a dict, not {}",
                p.get_type().name()?
            ))),
        },
    }
}

/// `json_dumps(params)`: the JSON text of a params dict exactly as the engine would take it
/// (Decimal as its exact text, a float through its `repr`); what has no JSON form raises
/// `MalformedRequestError`. Used by the remote `vcsapi` client, so both transports send the
/// same bytes.
#[pyfunction]
#[pyo3(signature = (params))]
pub fn json_dumps(py: Python<'_>, params: Option<&Bound<'_, PyAny>>) -> PyResult<String> {
    params_to_json(params)
        .map(|v| v.to_string())
        .map_err(|e| crate::errors::from_to_json(py, e))
}

/// `json_loads(text)`: a JSON reply converted exactly as embedded replies are (fractions and
/// money fields as `Decimal`). Bad JSON raises `ValueError`.
#[pyfunction]
pub fn json_loads<'py>(py: Python<'py>, text: &str) -> PyResult<Bound<'py, PyAny>> {
    let v: Value = serde_json::from_str(text)
        .map_err(|e| pyo3::exceptions::PyValueError::new_err(format!("not JSON: {e}")))?;
    to_py(py, &v)
}

/// A TypeError for misuse that is not a value problem.
pub fn type_error(msg: impl Into<String>) -> PyErr {
    PyTypeError::new_err(msg.into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn money_keys_are_the_models_money_fields_only() {
        let keys = money_keys();
        for k in ["balance", "credit", "amount", "rate", "setup_fee", "cost"] {
            assert!(keys.contains(k), "{k} should be a money key: {keys:?}");
        }
        for k in ["id", "name", "duration", "id_clients", "min_volume"] {
            assert!(!keys.contains(k), "{k} is not money");
        }
    }
}
