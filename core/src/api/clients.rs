//! `clients`: the customers that hold balances, plus their custom fields
//! (`fieldsList`, `fieldsUpdate`).

use super::crud::{self, Crud, Mode, Op};
use super::{ArgDef, ArgKind, Args, Ctx, MethodDef, Registry};
use crate::auth::rbac::Verb;
use crate::error::{Error, Result, ValidationError};
use crate::limits;
use crate::model::catalog::{self, Change, Object};
use crate::model::{FieldKind, Record, Val, CLIENTS, CUSTOM_FIELDS};
use crate::store::{ListQuery, StoreTx};
use serde_json::{json, Value};

fn validate(
    ctx: &Ctx<'_>,
    _tx: &mut dyn StoreTx,
    _mode: Mode,
    rec: &mut Record,
    existing: Option<&Record>,
) -> Result<()> {
    if rec.get("status").and_then(Val::as_text) == Some("archived") {
        return Err(
            ValidationError::invalid("status", "use clients.archive to archive a client").into(),
        );
    }
    schedule_invoices(ctx, rec, existing)
}

/// A written `invoice_period` or `invoice_anchor` (re)starts the client's auto-invoicing: the
/// first period begins at the anchor (default: the start of the current UTC month), and the
/// clock looks for `autoinvoice_next`, the end of the next period to issue. No period (null
/// or empty) stops it.
fn schedule_invoices(ctx: &Ctx<'_>, rec: &mut Record, existing: Option<&Record>) -> Result<()> {
    if !rec.contains_key("invoice_period") && !rec.contains_key("invoice_anchor") {
        return Ok(());
    }
    let pick = |name: &str| -> Option<Val> {
        match rec.get(name) {
            Some(v) => Some(v.clone()),
            None => existing.and_then(|e| e.get(name)).cloned(),
        }
    };
    let period_text = pick("invoice_period")
        .and_then(|v| v.as_text().map(str::to_string))
        .filter(|t| !t.is_empty());
    let Some(period_text) = period_text else {
        rec.insert("invoice_period", Val::Null);
        rec.insert("autoinvoice_next", Val::Null);
        return Ok(());
    };
    let period = crate::packages::Period::parse(&period_text).ok_or_else(|| {
        ValidationError::invalid(
            "invoice_period",
            "expected an ISO 8601 period: P<n>D, P<n>W, P<n>M or P<n>Y",
        )
    })?;
    let anchor = match pick("invoice_anchor")
        .and_then(|v| v.as_text().map(str::to_string))
        .and_then(|t| crate::clock::parse_dt(&t))
    {
        Some(a) => a,
        None => {
            use chrono::Datelike;
            let d = ctx
                .now
                .date_naive()
                .with_day(1)
                .unwrap_or(ctx.now.date_naive());
            d.and_hms_opt(0, 0, 0)
                .map(|t| t.and_utc())
                .unwrap_or(ctx.now)
        }
    };
    let next = period.boundary(anchor, 1).ok_or_else(|| {
        ValidationError::invalid("invoice_anchor", "the first period ends out of range")
    })?;
    // Each period is one invoice: no longer than an invoice may be.
    if next - anchor > chrono::Duration::days(limits::invoice_period_days_max) {
        return Err(ValidationError::OutOfRange {
            field: "invoice_period".into(),
            reason: format!(
                "an invoice covers at most {} days (invoice_period_days_max)",
                limits::invoice_period_days_max
            ),
        }
        .into());
    }
    rec.insert("invoice_period", Val::Text(period_text));
    rec.insert("invoice_anchor", Val::Text(crate::clock::format_dt(anchor)));
    rec.insert("autoinvoice_periods", Val::Int(0));
    rec.insert("autoinvoice_next", Val::Text(crate::clock::format_dt(next)));
    Ok(())
}

/// The custom field definitions of a module.
pub(crate) fn custom_fields(tx: &dyn StoreTx, module: &str) -> Result<Vec<Record>> {
    let mut q = ListQuery::everything(vec![("module", Val::Text(module.into()))]);
    q.limit = limits::custom_fields_per_module_max as u64;
    Ok(tx.list(&CUSTOM_FIELDS, &q)?.0)
}

fn on_delete(_ctx: &Ctx<'_>, tx: &mut dyn StoreTx, rec: &Record) -> Result<()> {
    let id = rec.get("id").and_then(Val::as_int).unwrap_or_default();
    for f in custom_fields(tx, "clients")? {
        if let Some(fid) = f.get("id").and_then(Val::as_int) {
            tx.set_custom_value(fid, id, None)?;
        }
    }
    Ok(())
}

fn fields_list(ctx: &mut Ctx<'_>, tx: &mut dyn StoreTx, args: &Args) -> Result<Value> {
    let id = args.req_int("id")?;
    crud::load(ctx, tx, &CLIENTS, id)?;
    let values = tx.custom_values(id)?;
    let rows: Vec<Value> = custom_fields(tx, "clients")?
        .iter()
        .map(|f| {
            let mut row = crud::record_json(&CUSTOM_FIELDS, f);
            let fid = f.get("id").and_then(Val::as_int);
            let value = values
                .iter()
                .find(|(k, _)| Some(*k) == fid)
                .map(|(_, v)| Value::String(v.clone()));
            if let Some(o) = row.as_object_mut() {
                o.insert("value".into(), value.unwrap_or(Value::Null));
            }
            row
        })
        .collect();
    Ok(json!({ "rows": rows }))
}

/// Check a custom field value against its definition; returns the stored text (None clears).
pub(crate) fn check_custom_value(def: &Record, value: &Value) -> Result<Option<String>> {
    let name = def
        .get("name")
        .and_then(Val::as_text)
        .unwrap_or("field")
        .to_string();
    let kind = def.get("type").and_then(Val::as_text).unwrap_or("text");
    let required = matches!(def.get("required"), Some(Val::Bool(true)));
    let empty = value.is_null() || value.as_str() == Some("");
    if empty {
        if required {
            return Err(ValidationError::Required(name).into());
        }
        return Ok(None);
    }
    let text = match value {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        Value::Bool(b) => if *b { "1" } else { "0" }.to_string(),
        _ => return Err(ValidationError::invalid(name, "expected a scalar value").into()),
    };
    if text.chars().count() > limits::custom_field_value_length_max {
        return Err(ValidationError::TooLong {
            field: name,
            max: limits::custom_field_value_length_max,
        }
        .into());
    }
    match kind {
        "number" => {
            crate::money::parse_str(&name, &text)?;
        }
        "bool" => {
            let b = crate::model::args::parse_field(&name, FieldKind::Bool, value)?;
            return Ok(Some(
                if b == Val::Bool(true) { "1" } else { "0" }.to_string(),
            ));
        }
        "enum" => {
            let options: Vec<String> = def
                .get("options")
                .and_then(Val::as_text)
                .and_then(|s| serde_json::from_str(s).ok())
                .unwrap_or_default();
            if !options.contains(&text) {
                return Err(ValidationError::invalid(
                    name,
                    format!("must be one of: {}", options.join(", ")),
                )
                .into());
            }
        }
        _ => {}
    }
    Ok(Some(text))
}

fn fields_update(ctx: &mut Ctx<'_>, tx: &mut dyn StoreTx, args: &Args) -> Result<Value> {
    let id = args.req_int("id")?;
    let client = crud::load(ctx, tx, &CLIENTS, id)?;
    if client.get("status").and_then(Val::as_text) == Some("archived") {
        return Err(Error::Archived {
            what: format!("client {id}"),
        });
    }
    let defs = custom_fields(tx, "clients")?;
    let items = args
        .json("fields")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    if items.len() > limits::custom_fields_per_module_max {
        return Err(ValidationError::invalid("fields", "too many entries").into());
    }
    let mut updated = 0;
    for (i, item) in items.iter().enumerate() {
        let field_name = format!("fields[{i}]");
        let obj = item
            .as_object()
            .ok_or_else(|| ValidationError::invalid(&field_name, "expected {id, value}"))?;
        if let Some(k) = obj
            .keys()
            .find(|k| !matches!(k.as_str(), "id" | "value" | "name"))
        {
            return Err(ValidationError::UnknownArgument(format!("{field_name}.{k}")).into());
        }
        let def = match (obj.get("id"), obj.get("name")) {
            (Some(v), _) => {
                let fid =
                    crate::model::args::parse_field(&format!("{field_name}.id"), FieldKind::Id, v)?;
                defs.iter().find(|d| d.get("id") == Some(&fid))
            }
            (None, Some(Value::String(n))) => defs
                .iter()
                .find(|d| d.get("name").and_then(Val::as_text) == Some(n)),
            _ => return Err(ValidationError::Required(format!("{field_name}.id")).into()),
        }
        .ok_or_else(|| ValidationError::invalid(&field_name, "no such custom field for clients"))?;
        let value = obj
            .get("value")
            .ok_or_else(|| ValidationError::Required(format!("{field_name}.value")))?;
        let stored = check_custom_value(def, value)?;
        let fid = def
            .get("id")
            .and_then(Val::as_int)
            .ok_or_else(|| Error::Internal("custom field without id".into()))?;
        tx.set_custom_value(fid, id, stored.as_deref())?;
        updated += 1;
    }
    ctx.touch("clients", id);
    Ok(json!({ "id": id, "updated": updated }))
}

pub(super) fn register(r: &mut Registry) {
    let c = Crud {
        validate: Some(validate),
        on_delete: Some(on_delete),
        events: Some((
            Object::Client,
            &[
                (Op::Add, catalog::CLIENTS_CREATE),
                (Op::Edit, catalog::CLIENTS_UPDATE),
                (Op::Delete, catalog::CLIENTS_DELETE),
                (Op::Archive, catalog::CLIENTS_ARCHIVE),
            ],
        )),
        ..Crud::new(&CLIENTS)
    };
    crud::register(
        r,
        c,
        &[
            Op::Add,
            Op::Edit,
            Op::EditForm,
            Op::List,
            Op::Delete,
            Op::Archive,
        ],
    );

    let mut m = MethodDef::new(
        "clients",
        "fieldsList",
        Verb::Read,
        false,
        vec![crud::id_arg(&CLIENTS)],
        Box::new(fields_list),
    );
    m.ignored = CLIENTS.ignored;
    r.add(m);
    let args = vec![
        crud::id_arg(&CLIENTS),
        ArgDef::new("fields", ArgKind::Array).required(),
    ];
    let mut m = MethodDef::new(
        "clients",
        "fieldsUpdate",
        Verb::Write,
        true,
        args,
        Box::new(fields_update),
    )
    .with_events(
        Object::Client,
        Change::CustomFields,
        catalog::CLIENTS_CUSTOM_FIELDS_UPDATE,
    );
    m.ignored = CLIENTS.ignored;
    r.add(m);
}
