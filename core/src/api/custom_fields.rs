//! `customFields`: extra fields operators define for clients.

use super::crud::{self, Crud, Mode, Op};
use super::{Ctx, Registry};
use crate::error::{Result, ValidationError};
use crate::limits;
use crate::model::{Record, Val, CUSTOM_FIELDS};
use crate::store::StoreTx;

// Long: one check per property of a custom field, in order.
fn validate(
    _ctx: &Ctx<'_>,
    tx: &mut dyn StoreTx,
    mode: Mode,
    rec: &mut Record,
    existing: Option<&Record>,
) -> Result<()> {
    let get = |k: &str| {
        rec.get(k)
            .or_else(|| existing.and_then(|e| e.get(k)))
            .cloned()
    };
    let module = get("module")
        .and_then(|v| v.as_text().map(str::to_string))
        .unwrap_or_default();
    let kind = get("type")
        .and_then(|v| v.as_text().map(str::to_string))
        .unwrap_or_default();
    if mode == Mode::Add
        && super::clients::custom_fields(tx, &module)?.len() >= limits::custom_fields_per_module_max
    {
        return Err(ValidationError::OutOfRange {
            field: "name".into(),
            reason: format!(
                "at most {} custom fields per module",
                limits::custom_fields_per_module_max
            ),
        }
        .into());
    }
    if let Some(name) = rec.get("name").and_then(Val::as_text) {
        let others = super::clients::custom_fields(tx, &module)?;
        let own_id = existing.and_then(|e| e.get("id")).cloned();
        if others.iter().any(|o| {
            o.get("name").and_then(Val::as_text) == Some(name) && o.get("id").cloned() != own_id
        }) {
            return Err(ValidationError::Duplicate {
                field: "name".into(),
                value: name.into(),
            }
            .into());
        }
    }
    // Options: a JSON array of strings or a comma-separated list; stored as a JSON array.
    if let Some(v) = rec.get("options").cloned() {
        let list: Vec<String> = match &v {
            Val::Null => Vec::new(),
            Val::Text(t) if t.trim_start().starts_with('[') => {
                serde_json::from_str(t).map_err(|_| {
                    ValidationError::invalid("options", "expected a JSON array of strings")
                })?
            }
            Val::Text(t) => t
                .split(',')
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty())
                .collect(),
            _ => return Err(ValidationError::invalid("options", "expected a list").into()),
        };
        if list.len() > limits::custom_field_options_max {
            return Err(ValidationError::invalid(
                "options",
                format!("at most {} options", limits::custom_field_options_max),
            )
            .into());
        }
        let stored = if list.is_empty() {
            Val::Null
        } else {
            Val::Text(serde_json::to_string(&list).unwrap_or_default())
        };
        rec.insert("options", stored);
    }
    let has_options = rec
        .get("options")
        .or_else(|| existing.and_then(|e| e.get("options")))
        .and_then(Val::as_text)
        .is_some();
    if kind == "enum" && !has_options {
        return Err(ValidationError::Required("options".into()).into());
    }
    Ok(())
}

pub(super) fn register(r: &mut Registry) {
    let c = Crud {
        validate: Some(validate),
        ..Crud::new(&CUSTOM_FIELDS)
    };
    crud::register(
        r,
        c,
        &[Op::Add, Op::Edit, Op::EditForm, Op::List, Op::Delete],
    );
}
