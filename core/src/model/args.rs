//! Argument schemas and their checks: every argument is named, typed and bounded, and a
//! failure names the argument.

use crate::clock;
use crate::error::{Error, Result, ValidationError};
use crate::limits;
use crate::model::{FieldKind, Val};
use crate::money;
use serde_json::{Map, Value};
use std::collections::BTreeMap;

/// What an argument may hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArgKind {
    /// A scalar checked like an entity field.
    Field(FieldKind),
    /// A JSON array (elements checked by the handler).
    Array,
    /// A JSON object (checked by the handler).
    Object,
}

/// One argument of a method.
#[derive(Debug, Clone)]
pub struct ArgDef {
    /// Canonical name.
    pub name: String,
    /// Other accepted names.
    pub aliases: Vec<String>,
    /// Type.
    pub kind: ArgKind,
    /// Must be present (and not null).
    pub required: bool,
}

impl ArgDef {
    /// An optional argument.
    pub fn new(name: &str, kind: ArgKind) -> Self {
        ArgDef {
            name: name.to_string(),
            aliases: Vec::new(),
            kind,
            required: false,
        }
    }
    /// An optional scalar argument.
    pub fn field(name: &str, kind: FieldKind) -> Self {
        ArgDef::new(name, ArgKind::Field(kind))
    }
    /// Mark required.
    pub fn required(mut self) -> Self {
        self.required = true;
        self
    }
    /// Add aliases.
    pub fn alias(mut self, names: &[&str]) -> Self {
        self.aliases.extend(names.iter().map(|s| s.to_string()));
        self
    }
}

/// A checked argument value.
#[derive(Debug, Clone, PartialEq)]
pub enum ArgValue {
    /// A scalar.
    Val(Val),
    /// An array or object, structure checked by the handler.
    Json(Value),
}

/// The checked arguments of one call, by canonical name.
#[derive(Debug, Default, Clone)]
pub struct Args {
    values: BTreeMap<String, ArgValue>,
}

impl Args {
    /// Was the argument given (null counts as given)?
    pub fn has(&self, name: &str) -> bool {
        self.values.contains_key(name)
    }
    /// A scalar argument.
    pub fn val(&self, name: &str) -> Option<&Val> {
        match self.values.get(name) {
            Some(ArgValue::Val(v)) => Some(v),
            _ => None,
        }
    }
    /// An integer argument.
    pub fn int(&self, name: &str) -> Option<i64> {
        self.val(name).and_then(Val::as_int)
    }
    /// A text argument.
    pub fn text(&self, name: &str) -> Option<&str> {
        self.val(name).and_then(Val::as_text)
    }
    /// An amount argument.
    pub fn dec(&self, name: &str) -> Option<rust_decimal::Decimal> {
        self.val(name).and_then(Val::as_dec)
    }
    /// A boolean argument.
    pub fn bool(&self, name: &str) -> Option<bool> {
        match self.val(name) {
            Some(Val::Bool(b)) => Some(*b),
            _ => None,
        }
    }
    /// A JSON (array/object) argument.
    pub fn json(&self, name: &str) -> Option<&Value> {
        match self.values.get(name) {
            Some(ArgValue::Json(v)) => Some(v),
            _ => None,
        }
    }
    /// A required integer (the schema already made sure it is there).
    pub fn req_int(&self, name: &str) -> Result<i64> {
        self.int(name)
            .ok_or_else(|| ValidationError::Required(name.to_string()).into())
    }
    /// Iterate the scalar arguments.
    pub fn scalars(&self) -> impl Iterator<Item = (&str, &Val)> {
        self.values.iter().filter_map(|(k, v)| match v {
            ArgValue::Val(v) => Some((k.as_str(), v)),
            ArgValue::Json(_) => None,
        })
    }
    /// The arguments as a JSON object by canonical name (amounts as exact numbers).
    pub fn to_json(&self) -> Map<String, Value> {
        self.values
            .iter()
            .map(|(k, v)| {
                let j = match v {
                    ArgValue::Val(v) => v.to_json(),
                    ArgValue::Json(j) => j.clone(),
                };
                (k.clone(), j)
            })
            .collect()
    }
    /// Insert a value (handlers building nested args).
    pub fn insert(&mut self, name: &str, v: ArgValue) {
        self.values.insert(name.to_string(), v);
    }
}

/// Names every method accepts and ignores: the transport's auth and the legacy form flags.
pub const RESERVED: &[&str] = &["auth", "SID", "AUTH", "apply", "_preload", "__api"];

/// The legacy form flags: accepted everywhere, acted on nowhere, and never worth a message.
pub const FORM_FLAGS: &[&str] = &["apply", "_preload", "__api"];

/// The vendor fields of `params` that `ignored` accepts but nothing acts on, in the order
/// sent, each once: the caller names them in the reply's `messages` so that an operator does
/// not believe the setting took effect. Form flags, and empty values (a web form's unset
/// field: `null`, `""`), are not named.
pub fn ignored_fields(ignored: &[&str], params: &Map<String, Value>) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for (key, value) in params {
        let empty = value.is_null() || value.as_str().is_some_and(|s| s.trim().is_empty());
        if empty
            || FORM_FLAGS.contains(&key.as_str())
            || RESERVED.contains(&key.as_str())
            || !ignored.contains(&key.as_str())
            || out.iter().any(|k| k == key)
        {
            continue;
        }
        out.push(key.clone());
    }
    out
}

/// The message that names an ignored field.
pub fn ignored_message(name: &str) -> String {
    format!("ignored: {name} (not supported)")
}

/// Check `params` against `schema`. `ignored` names are accepted and dropped.
pub fn check(schema: &[ArgDef], ignored: &[&str], params: &Map<String, Value>) -> Result<Args> {
    if params.len() > limits::arguments_count_max {
        return Err(ValidationError::invalid(
            "params",
            format!("more than {} arguments", limits::arguments_count_max),
        )
        .into());
    }
    let mut args = Args::default();
    for (key, value) in params {
        if RESERVED.contains(&key.as_str()) || ignored.contains(&key.as_str()) {
            continue;
        }
        let Some(def) = schema
            .iter()
            .find(|d| d.name == *key || d.aliases.iter().any(|a| a == key))
        else {
            return Err(ValidationError::UnknownArgument(crate::error::echoed(key)).into());
        };
        if args.has(&def.name) {
            return Err(ValidationError::invalid(
                def.name.as_str(),
                format!("given twice (as '{key}')"),
            )
            .into());
        }
        if depth(value) > limits::json_depth_max {
            return Err(ValidationError::invalid(def.name.as_str(), "nested too deeply").into());
        }
        let v = match def.kind {
            ArgKind::Field(kind) => ArgValue::Val(parse_field(&def.name, kind, value)?),
            ArgKind::Array => match value {
                Value::Array(_) => ArgValue::Json(value.clone()),
                _ => {
                    return Err(
                        ValidationError::invalid(def.name.as_str(), "expected an array").into(),
                    )
                }
            },
            ArgKind::Object => match value {
                Value::Object(_) => ArgValue::Json(value.clone()),
                _ => {
                    return Err(
                        ValidationError::invalid(def.name.as_str(), "expected an object").into(),
                    )
                }
            },
        };
        args.values.insert(def.name.clone(), v);
    }
    for def in schema.iter().filter(|d| d.required) {
        match args.values.get(&def.name) {
            None | Some(ArgValue::Val(Val::Null)) => {
                return Err(ValidationError::Required(def.name.clone()).into())
            }
            Some(_) => {}
        }
    }
    Ok(args)
}

fn depth(v: &Value) -> usize {
    match v {
        Value::Array(a) => 1 + a.iter().map(depth).max().unwrap_or(0),
        Value::Object(o) => 1 + o.values().map(depth).max().unwrap_or(0),
        _ => 0,
    }
}

fn parse_int(field: &str, v: &Value) -> Result<i64> {
    let bad = || Error::from(ValidationError::invalid(field, "expected an integer"));
    match v {
        Value::Number(n) => n.as_i64().ok_or_else(bad),
        // Form-encoded requests carry every value as text.
        Value::String(s) if !s.is_empty() && s.len() <= 20 => {
            s.trim().parse::<i64>().map_err(|_| bad())
        }
        _ => Err(bad()),
    }
}

/// Parse one scalar as `kind`. `null` is accepted here (it clears optional fields).
// Long: one match arm per field kind, each a few lines; splitting would scatter the parsing rules.
pub fn parse_field(field: &str, kind: FieldKind, v: &Value) -> Result<Val> {
    if v.is_null() {
        return Ok(Val::Null);
    }
    let text = |max: usize| -> Result<String> {
        let s = v
            .as_str()
            .ok_or_else(|| ValidationError::invalid(field, "expected a string"))?;
        if s.chars().count() > max {
            return Err(ValidationError::TooLong {
                field: field.into(),
                max,
            }
            .into());
        }
        if s.chars().any(|c| c == '\0') {
            return Err(ValidationError::invalid(field, "contains a NUL character").into());
        }
        Ok(s.to_string())
    };
    Ok(match kind {
        FieldKind::Id | FieldKind::Ref(_) => {
            let i = parse_int(field, v)?;
            if i < 1 {
                return Err(ValidationError::OutOfRange {
                    field: field.into(),
                    reason: "ids are positive".into(),
                }
                .into());
            }
            Val::Int(i)
        }
        FieldKind::Int { min, max } => {
            let i = parse_int(field, v)?;
            if i < min || i > max {
                return Err(ValidationError::OutOfRange {
                    field: field.into(),
                    reason: format!("must be between {min} and {max}"),
                }
                .into());
            }
            Val::Int(i)
        }
        FieldKind::Text { max } => Val::Text(text(max)?),
        FieldKind::Email => {
            let s = text(limits::text_length_max)?;
            for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
                let ok = part
                    .split_once('@')
                    .is_some_and(|(l, d)| !l.is_empty() && d.contains('.') && !d.starts_with('.'))
                    && !part.contains(char::is_whitespace);
                if !ok {
                    return Err(ValidationError::invalid(
                        field,
                        format!("'{part}' is not an e-mail address"),
                    )
                    .into());
                }
            }
            Val::Text(s)
        }
        FieldKind::Enum(options) => {
            let s = v
                .as_str()
                .ok_or_else(|| ValidationError::invalid(field, "expected a string"))?;
            if !options.contains(&s) {
                return Err(ValidationError::invalid(
                    field,
                    format!("must be one of: {}", options.join(", ")),
                )
                .into());
            }
            Val::Text(s.to_string())
        }
        FieldKind::Bool => Val::Bool(match v {
            Value::Bool(b) => *b,
            Value::Number(n) if n.as_i64() == Some(0) => false,
            Value::Number(n) if n.as_i64() == Some(1) => true,
            Value::String(s) if matches!(s.as_str(), "0" | "false") => false,
            Value::String(s) if matches!(s.as_str(), "1" | "true") => true,
            _ => return Err(ValidationError::invalid(field, "expected a boolean").into()),
        }),
        FieldKind::Money { non_negative } => {
            let d = money::parse_amount(field, v)?;
            if non_negative && d.is_sign_negative() && !d.is_zero() {
                return Err(ValidationError::OutOfRange {
                    field: field.into(),
                    reason: "must not be negative".into(),
                }
                .into());
            }
            Val::Dec(d)
        }
        FieldKind::DateTime => {
            let s = v
                .as_str()
                .ok_or_else(|| ValidationError::invalid(field, "expected a date-time string"))?;
            let t = clock::parse_dt(s).ok_or_else(|| {
                ValidationError::invalid(field, "expected YYYY-MM-DD or YYYY-MM-DD HH:MM:SS")
            })?;
            Val::Text(clock::format_dt(t))
        }
        FieldKind::Secret => {
            let s = v
                .as_str()
                .ok_or_else(|| ValidationError::invalid(field, "expected a string"))?;
            if s.len() > limits::password_length_max {
                return Err(ValidationError::TooLong {
                    field: field.into(),
                    max: limits::password_length_max,
                }
                .into());
            }
            Val::Text(s.to_string())
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn schema() -> Vec<ArgDef> {
        vec![
            ArgDef::field("id", FieldKind::Id)
                .required()
                .alias(&["id_clients"]),
            ArgDef::field("name", FieldKind::Text { max: 5 }),
            ArgDef::field("credit", FieldKind::Money { non_negative: true }),
            ArgDef::new("fields", ArgKind::Array),
        ]
    }

    fn obj(v: Value) -> Map<String, Value> {
        v.as_object().cloned().unwrap_or_default()
    }

    #[test]
    fn aliases_reserved_and_ignored_names() {
        let a = check(
            &schema(),
            &["bill_by_time"],
            &obj(json!({"id_clients": "11", "apply": 1, "SID": "x", "bill_by_time": "y"})),
        )
        .unwrap();
        assert_eq!(a.int("id"), Some(11));
    }

    #[test]
    fn each_bad_argument_is_named() {
        let cases = [
            (json!({}), "validation.required", "id"),
            (json!({"id": null}), "validation.required", "id"),
            (json!({"id": "abc"}), "validation.invalid", "id"),
            (json!({"id": 0}), "validation.out_of_range", "id"),
            (
                json!({"id": 1, "name": "toolong"}),
                "validation.too_long",
                "name",
            ),
            (json!({"id": 1, "name": 5}), "validation.invalid", "name"),
            (
                json!({"id": 1, "nmae": "x"}),
                "validation.unknown_argument",
                "nmae",
            ),
            (
                json!({"id": 1, "credit": -1}),
                "validation.out_of_range",
                "credit",
            ),
            (
                json!({"id": 1, "credit": "1.2.3"}),
                "money.invalid",
                "credit",
            ),
            (
                json!({"id": 1, "fields": {}}),
                "validation.invalid",
                "fields",
            ),
            (
                json!({"id": 1, "id_clients": 2}),
                "validation.invalid",
                "id",
            ),
        ];
        for (params, code, field) in cases {
            let e = check(&schema(), &[], &obj(params.clone())).unwrap_err();
            assert_eq!(e.code().as_str(), code, "{params}");
            assert_eq!(e.field(), Some(field), "{params}");
        }
    }
}
