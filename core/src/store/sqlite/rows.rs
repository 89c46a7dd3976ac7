//! Generic entity rows: values to and from SQLite, the tenant scope CTE, the `WHERE` of a
//! list, and insert / get / update / delete / list of any [`EntityDef`]; also the company
//! tree walk and custom field values, which belong to entity rows.

use super::super::{ListQuery, Range};
use super::map_write_error;
use crate::error::Result;
use crate::limits;
use crate::model::{EntityDef, FieldKind, Record, Val};
use rusqlite::types::{ToSqlOutput, ValueRef};
use rusqlite::{params, Connection, OptionalExtension, ToSql};
use rust_decimal::Decimal;
use std::fmt::Write as _;
use std::str::FromStr;

/// A [`Val`] as an SQL argument.
pub(super) struct SqlVal<'a>(pub(super) &'a Val);

impl ToSql for SqlVal<'_> {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(match self.0 {
            Val::Null => ToSqlOutput::Borrowed(ValueRef::Null),
            Val::Int(i) => ToSqlOutput::Owned(rusqlite::types::Value::Integer(*i)),
            Val::Text(s) => ToSqlOutput::Borrowed(ValueRef::Text(s.as_bytes())),
            Val::Dec(d) => ToSqlOutput::Owned(rusqlite::types::Value::Text(d.to_string())),
            Val::Bool(b) => ToSqlOutput::Owned(rusqlite::types::Value::Integer(i64::from(*b))),
        })
    }
}

/// Column `idx` of a row as a [`Val`] of `kind`. A stored amount that does not parse keeps
/// its parse error as the source of the driver error.
fn read_val(kind: FieldKind, idx: usize, v: ValueRef<'_>) -> rusqlite::Result<Val> {
    let bad = |what: &str| rusqlite::Error::InvalidColumnType(idx, what.to_string(), v.data_type());
    let unreadable = |e: Box<dyn std::error::Error + Send + Sync>| {
        rusqlite::Error::FromSqlConversionFailure(idx, v.data_type(), e)
    };
    Ok(match (kind, v) {
        (_, ValueRef::Null) => Val::Null,
        (FieldKind::Money { .. }, ValueRef::Text(t)) => {
            let s = std::str::from_utf8(t).map_err(|e| unreadable(Box::new(e)))?;
            Val::Dec(Decimal::from_str(s).map_err(|e| unreadable(Box::new(e)))?)
        }
        (FieldKind::Bool, ValueRef::Integer(i)) => Val::Bool(i != 0),
        (_, ValueRef::Integer(i)) => Val::Int(i),
        (_, ValueRef::Text(t)) => Val::Text(String::from_utf8_lossy(t).into_owned()),
        (_, ValueRef::Real(_)) | (_, ValueRef::Blob(_)) => {
            return Err(bad("unexpected storage class"))
        }
    })
}

fn column_list(e: &EntityDef) -> String {
    e.columns().map(|f| f.name).collect::<Vec<_>>().join(", ")
}

fn row_to_record(e: &EntityDef, row: &rusqlite::Row<'_>) -> rusqlite::Result<Record> {
    let mut rec = Record::new();
    for (i, f) in e.columns().enumerate() {
        rec.insert(f.name, read_val(f.kind, i, row.get_ref(i)?)?);
    }
    Ok(rec)
}

/// The company subtree of `?1`, as the CTE `scope(id)`.
pub(super) const SCOPE_CTE: &str = sql::Dialect::SQLITE.scope_cte;

/// The `WHERE` of a list in SQLite's placeholders (see [`sql::list_where`]).
fn list_where(
    e: &EntityDef,
    q: &ListQuery,
    ranges: &[Range],
    after_id: Option<i64>,
) -> Result<(&'static str, String, Vec<Val>)> {
    sql::list_where(&sql::Dialect::SQLITE, e, q, ranges, after_id)
}

use super::super::sql::{self, check_ident, tenancy_condition};

pub(super) fn insert(conn: &Connection, e: &EntityDef, rec: &Record) -> Result<i64> {
    check_ident(e.table)?;
    let cols: Vec<&str> = rec.keys().copied().collect();
    for c in &cols {
        check_ident(c)?;
    }
    let placeholders = (1..=cols.len())
        .map(|i| format!("?{i}"))
        .collect::<Vec<_>>()
        .join(", ");
    let sql = format!(
        "INSERT INTO {} ({}) VALUES ({})",
        e.table,
        cols.join(", "),
        placeholders
    );
    let vals: Vec<SqlVal<'_>> = rec.values().map(SqlVal).collect();
    let args: Vec<&dyn ToSql> = vals.iter().map(|v| v as &dyn ToSql).collect();
    conn.prepare_cached(&sql)?
        .execute(args.as_slice())
        .map_err(map_write_error)?;
    Ok(conn.last_insert_rowid())
}

pub(super) fn get(
    conn: &Connection,
    e: &EntityDef,
    id: i64,
    scope: Option<i64>,
) -> Result<Option<Record>> {
    check_ident(e.table)?;
    let cond = scope.and_then(|_| tenancy_condition(e));
    let sql = match &cond {
        Some(c) => format!(
            "{SCOPE_CTE}SELECT {} FROM {} WHERE id = ?2 AND {c}",
            column_list(e),
            e.table
        ),
        None => format!("SELECT {} FROM {} WHERE id = ?1", column_list(e), e.table),
    };
    let mut stmt = conn.prepare_cached(&sql)?;
    let rec = match (&cond, scope) {
        (Some(_), Some(s)) => stmt
            .query_row(params![s, id], |r| row_to_record(e, r))
            .optional()?,
        _ => stmt
            .query_row(params![id], |r| row_to_record(e, r))
            .optional()?,
    };
    Ok(rec)
}

pub(super) fn update(conn: &Connection, e: &EntityDef, id: i64, changes: &Record) -> Result<()> {
    if changes.is_empty() {
        return Ok(());
    }
    check_ident(e.table)?;
    let mut sets = Vec::new();
    for (i, c) in changes.keys().enumerate() {
        check_ident(c)?;
        sets.push(format!("{c} = ?{}", i + 2));
    }
    let sql = format!("UPDATE {} SET {} WHERE id = ?1", e.table, sets.join(", "));
    let vals: Vec<SqlVal<'_>> = changes.values().map(SqlVal).collect();
    let mut args: Vec<&dyn ToSql> = vec![&id];
    args.extend(vals.iter().map(|v| v as &dyn ToSql));
    conn.prepare_cached(&sql)?
        .execute(args.as_slice())
        .map_err(map_write_error)?;
    Ok(())
}

pub(super) fn delete(conn: &Connection, e: &EntityDef, id: i64) -> Result<()> {
    check_ident(e.table)?;
    let sql = format!("DELETE FROM {} WHERE id = ?1", e.table);
    conn.prepare_cached(&sql)?
        .execute(params![id])
        .map_err(map_write_error)?;
    Ok(())
}

pub(super) fn list(conn: &Connection, e: &EntityDef, q: &ListQuery) -> Result<(Vec<Record>, u64)> {
    check_ident(e.table)?;
    check_ident(q.order)?;
    let (prefix, where_sql, args) = list_where(e, q, &[], None)?;
    let sql_args: Vec<SqlVal<'_>> = args.iter().map(SqlVal).collect();
    let arg_refs: Vec<&dyn ToSql> = sql_args.iter().map(|v| v as &dyn ToSql).collect();

    let count_sql = format!("{prefix}SELECT COUNT(*) FROM {}{where_sql}", e.table);
    let total: i64 = conn
        .prepare_cached(&count_sql)?
        .query_row(arg_refs.as_slice(), |r| r.get(0))?;

    let dir = if q.descending { "DESC" } else { "ASC" };
    let mut sql = format!(
        "{prefix}SELECT {} FROM {}{where_sql} ORDER BY {} {dir}",
        column_list(e),
        e.table,
        q.order
    );
    if q.order != "id" {
        let _ = write!(sql, ", id {dir}");
    }
    let _ = write!(sql, " LIMIT {} OFFSET {}", q.limit, q.offset);
    let mut stmt = conn.prepare_cached(&sql)?;
    let rows = stmt
        .query_map(arg_refs.as_slice(), |r| row_to_record(e, r))?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok((rows, u64::try_from(total).unwrap_or(0)))
}

pub(super) fn list_page(
    conn: &Connection,
    e: &EntityDef,
    q: &ListQuery,
    after_id: i64,
    ranges: &[Range],
) -> Result<Vec<Record>> {
    check_ident(e.table)?;
    let (prefix, where_sql, args) = list_where(e, q, ranges, Some(after_id))?;
    let sql_args: Vec<SqlVal<'_>> = args.iter().map(SqlVal).collect();
    let arg_refs: Vec<&dyn ToSql> = sql_args.iter().map(|v| v as &dyn ToSql).collect();
    let sql = format!(
        "{prefix}SELECT {} FROM {}{where_sql} ORDER BY id ASC LIMIT {}",
        column_list(e),
        e.table,
        q.limit.min(i64::MAX as u64)
    );
    let mut stmt = conn.prepare_cached(&sql)?;
    let rows = stmt
        .query_map(arg_refs.as_slice(), |r| row_to_record(e, r))?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(rows)
}

pub(super) fn exists_other(
    conn: &Connection,
    table: &str,
    column: &str,
    value: &Val,
    except_id: Option<i64>,
) -> Result<bool> {
    check_ident(table)?;
    check_ident(column)?;
    let sql = format!("SELECT EXISTS(SELECT 1 FROM {table} WHERE {column} = ?1 AND id != ?2)");
    let found: bool = conn
        .prepare_cached(&sql)?
        .query_row(params![SqlVal(value), except_id.unwrap_or(-1)], |r| {
            r.get(0)
        })?;
    Ok(found)
}

pub(super) fn count_refs(conn: &Connection, table: &str, column: &str, id: i64) -> Result<u64> {
    check_ident(table)?;
    check_ident(column)?;
    let sql = format!("SELECT COUNT(*) FROM {table} WHERE {column} = ?1");
    let n: i64 = conn
        .prepare_cached(&sql)?
        .query_row(params![id], |r| r.get(0))?;
    Ok(u64::try_from(n).unwrap_or(0))
}

pub(super) fn company_ancestors(conn: &Connection, id: i64) -> Result<Vec<i64>> {
    let mut stmt = conn.prepare_cached(
        "WITH RECURSIVE up(id, parent_id, depth) AS (
                SELECT id, parent_id, 0 FROM companies WHERE id = ?1
                UNION ALL SELECT c.id, c.parent_id, up.depth + 1 FROM companies c JOIN up ON c.id = up.parent_id
                WHERE up.depth < ?2)
             SELECT id FROM up ORDER BY depth",
    )?;
    let ids = stmt
        .query_map(params![id, limits::company_ancestors_depth_max], |r| {
            r.get(0)
        })?
        .collect::<rusqlite::Result<Vec<i64>>>()?;
    Ok(ids)
}

pub(super) fn custom_values(conn: &Connection, object_id: i64) -> Result<Vec<(i64, String)>> {
    let mut stmt = conn.prepare_cached(
        "SELECT id_custom_fields, value FROM custom_field_values WHERE object_id = ?1",
    )?;
    let rows = stmt
        .query_map(params![object_id], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<rusqlite::Result<_>>()?;
    Ok(rows)
}

pub(super) fn set_custom_value(
    conn: &Connection,
    id_custom_fields: i64,
    object_id: i64,
    value: Option<&str>,
) -> Result<()> {
    match value {
        Some(v) => conn
            .prepare_cached(
                "INSERT INTO custom_field_values (id_custom_fields, object_id, value) VALUES (?1, ?2, ?3)
                     ON CONFLICT (id_custom_fields, object_id) DO UPDATE SET value = excluded.value",
            )?
            .execute(params![id_custom_fields, object_id, v])?,
        None => conn
            .prepare_cached("DELETE FROM custom_field_values WHERE id_custom_fields = ?1 AND object_id = ?2")?
            .execute(params![id_custom_fields, object_id])?,
    };
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::error::Error as _;

    #[test]
    fn a_bad_stored_amount_keeps_its_parse_error() {
        let kind = FieldKind::Money {
            non_negative: false,
        };
        let err = read_val(kind, 3, ValueRef::Text(b"1.2.3")).unwrap_err();
        assert!(matches!(
            err,
            rusqlite::Error::FromSqlConversionFailure(3, _, _)
        ));
        assert!(err.source().is_some());
    }
}
