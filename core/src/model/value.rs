//! Values stored in and read from rows.

use crate::money;
use rust_decimal::Decimal;
use serde_json::Value;
use std::collections::BTreeMap;

/// A typed column value.
#[derive(Debug, Clone, PartialEq)]
pub enum Val {
    /// SQL NULL.
    Null,
    /// An integer (ids, counts, booleans in storage).
    Int(i64),
    /// Text (names, dates, enums).
    Text(String),
    /// An exact amount (stored as text).
    Dec(Decimal),
    /// A boolean.
    Bool(bool),
}

impl Val {
    /// The value as JSON for API replies (amounts as exact numbers).
    pub fn to_json(&self) -> Value {
        match self {
            Val::Null => Value::Null,
            Val::Int(i) => Value::from(*i),
            Val::Text(s) => Value::String(s.clone()),
            Val::Dec(d) => money::to_json(*d),
            Val::Bool(b) => Value::Bool(*b),
        }
    }

    /// The integer, if it is one.
    pub fn as_int(&self) -> Option<i64> {
        match self {
            Val::Int(i) => Some(*i),
            _ => None,
        }
    }

    /// The text, if it is one.
    pub fn as_text(&self) -> Option<&str> {
        match self {
            Val::Text(s) => Some(s),
            _ => None,
        }
    }

    /// The amount, if it is one.
    pub fn as_dec(&self) -> Option<Decimal> {
        match self {
            Val::Dec(d) => Some(*d),
            _ => None,
        }
    }

    /// Is it NULL?
    pub fn is_null(&self) -> bool {
        matches!(self, Val::Null)
    }
}

/// A row: column name to value.
pub type Record = BTreeMap<&'static str, Val>;

/// An integer column of a row, if set.
pub fn int(r: &Record, k: &str) -> Option<i64> {
    r.get(k).and_then(Val::as_int)
}

/// A text column of a row, or "" when unset.
pub fn text<'r>(r: &'r Record, k: &str) -> &'r str {
    r.get(k).and_then(Val::as_text).unwrap_or("")
}

/// An amount column of a row, or zero when unset.
pub fn dec(r: &Record, k: &str) -> Decimal {
    r.get(k).and_then(Val::as_dec).unwrap_or_default()
}
