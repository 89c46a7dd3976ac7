//! Generic entity rows for PostgreSQL: insert / get / update / delete / list of any
//! [`EntityDef`], the company tree walk and custom field values.

use super::super::sql::{self, check_ident, tenancy_condition};
use super::super::{ListQuery, Range};
use super::behind::Op;
use super::tx::{PgTx, SCOPE_CTE};
use super::val::PgVal;
use crate::error::Result;
use crate::limits;
use crate::model::{EntityDef, Record, Val, XDRS};
use postgres::types::ToSql;
use std::fmt::Write as _;

fn column_list(e: &EntityDef) -> String {
    e.columns().map(|f| f.name).collect::<Vec<_>>().join(", ")
}

fn vals(v: &[Val]) -> Vec<PgVal<'_>> {
    v.iter().map(PgVal).collect()
}

fn refs<'a>(v: &'a [PgVal<'a>]) -> Vec<&'a (dyn ToSql + Sync)> {
    v.iter().map(|v| v as &(dyn ToSql + Sync)).collect()
}

pub(super) fn insert(t: &PgTx<'_>, e: &EntityDef, rec: &Record) -> Result<i64> {
    check_ident(e.table)?;
    let cols: Vec<&str> = rec.keys().copied().collect();
    for c in &cols {
        check_ident(c)?;
    }
    if e.table == XDRS.table && !rec.contains_key("id") {
        // Kept back with an id taken ahead (`behind.rs`).
        let id = t.next_id(XDRS.table)?;
        t.keep(Op::Xdr {
            id,
            rec: rec.clone(),
        })?;
        return Ok(id);
    }
    let placeholders = (1..=cols.len())
        .map(|i| format!("${i}"))
        .collect::<Vec<_>>()
        .join(", ");
    let sql = format!(
        "INSERT INTO {} ({}) VALUES ({}) RETURNING id",
        e.table,
        cols.join(", "),
        placeholders
    );
    let v: Vec<PgVal<'_>> = rec.values().map(PgVal).collect();
    let id = t.write_returning(&sql, &refs(&v))?;
    if rec.contains_key("id") {
        // An explicit id does not move the identity: move it past the id, so the next
        // row without one does not collide (and forget ids taken ahead of that).
        t.ids.borrow_mut().forget(e.table);
        t.one(
            &format!(
                "SELECT setval(pg_get_serial_sequence('{0}', 'id'), GREATEST((SELECT MAX(id) FROM {0}), 1))",
                e.table
            ),
            &[],
        )?;
    }
    Ok(id)
}

pub(super) fn get(
    t: &PgTx<'_>,
    e: &EntityDef,
    id: i64,
    scope: Option<i64>,
) -> Result<Option<Record>> {
    check_ident(e.table)?;
    let cond = scope.and_then(|_| tenancy_condition(e));
    let row = match (&cond, scope) {
        (Some(c), Some(s)) => t.opt(
            &format!(
                "{SCOPE_CTE}SELECT {} FROM {} WHERE id = $2 AND {c}",
                column_list(e),
                e.table
            ),
            &[&s, &id],
        )?,
        _ => t.opt(
            &format!("SELECT {} FROM {} WHERE id = $1", column_list(e), e.table),
            &[&id],
        )?,
    };
    row.map(|r| t.record(e, &r)).transpose()
}

pub(super) fn update(t: &PgTx<'_>, e: &EntityDef, id: i64, changes: &Record) -> Result<()> {
    if changes.is_empty() {
        return Ok(());
    }
    check_ident(e.table)?;
    for c in changes.keys() {
        check_ident(c)?;
    }
    if e.table == XDRS.table {
        // An xDR still kept back takes the change before it is sent.
        if let Some(pending) = t.behind.borrow_mut().pending_xdr(id) {
            for (k, v) in changes {
                pending.insert(k, v.clone());
            }
            return Ok(());
        }
    }
    let mut sets = Vec::new();
    for (i, c) in changes.keys().enumerate() {
        check_ident(c)?;
        sets.push(format!("{c} = ${}", i + 2));
    }
    let sql = format!("UPDATE {} SET {} WHERE id = $1", e.table, sets.join(", "));
    let v: Vec<PgVal<'_>> = changes.values().map(PgVal).collect();
    let mut args: Vec<&(dyn ToSql + Sync)> = vec![&id];
    args.extend(v.iter().map(|v| v as &(dyn ToSql + Sync)));
    t.write(&sql, &args)?;
    Ok(())
}

pub(super) fn delete(t: &PgTx<'_>, e: &EntityDef, id: i64) -> Result<()> {
    check_ident(e.table)?;
    t.write(&format!("DELETE FROM {} WHERE id = $1", e.table), &[&id])?;
    Ok(())
}

pub(super) fn list(t: &PgTx<'_>, e: &EntityDef, q: &ListQuery) -> Result<(Vec<Record>, u64)> {
    check_ident(e.table)?;
    check_ident(q.order)?;
    let (prefix, where_sql, args) = sql::list_where(&sql::Dialect::POSTGRES, e, q, &[], None)?;
    let v = vals(&args);
    let a = refs(&v);
    let total: i64 = {
        let row = t.one(
            &format!("{prefix}SELECT COUNT(*) FROM {}{where_sql}", e.table),
            &a,
        )?;
        t.get(&row, 0)?
    };
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
    let _ = write!(
        sql,
        " LIMIT {} OFFSET {}",
        q.limit.min(i64::MAX as u64),
        q.offset.min(i64::MAX as u64)
    );
    let rows = t.rows(&sql, &a)?;
    Ok((t.records(e, &rows)?, u64::try_from(total).unwrap_or(0)))
}

pub(super) fn list_page(
    t: &PgTx<'_>,
    e: &EntityDef,
    q: &ListQuery,
    after_id: i64,
    ranges: &[Range],
) -> Result<Vec<Record>> {
    check_ident(e.table)?;
    let (prefix, where_sql, args) =
        sql::list_where(&sql::Dialect::POSTGRES, e, q, ranges, Some(after_id))?;
    let v = vals(&args);
    let sql = format!(
        "{prefix}SELECT {} FROM {}{where_sql} ORDER BY id ASC LIMIT {}",
        column_list(e),
        e.table,
        q.limit.min(i64::MAX as u64)
    );
    let rows = t.rows(&sql, &refs(&v))?;
    t.records(e, &rows)
}

pub(super) fn exists_other(
    t: &PgTx<'_>,
    table: &str,
    column: &str,
    value: &Val,
    except_id: Option<i64>,
) -> Result<bool> {
    check_ident(table)?;
    check_ident(column)?;
    let row = t.one(
        &format!("SELECT EXISTS(SELECT 1 FROM {table} WHERE {column} = $1 AND id != $2)"),
        &[&PgVal(value), &except_id.unwrap_or(-1)],
    )?;
    t.get(&row, 0)
}

pub(super) fn count_refs(t: &PgTx<'_>, table: &str, column: &str, id: i64) -> Result<u64> {
    check_ident(table)?;
    check_ident(column)?;
    let row = t.one(
        &format!("SELECT COUNT(*) FROM {table} WHERE {column} = $1"),
        &[&id],
    )?;
    Ok(u64::try_from(t.get::<i64>(&row, 0)?).unwrap_or(0))
}

pub(super) fn company_ancestors(t: &PgTx<'_>, id: i64) -> Result<Vec<i64>> {
    let rows = t.rows(
        "WITH RECURSIVE up(id, parent_id, depth) AS (
            SELECT id, parent_id, 0::bigint FROM companies WHERE id = $1
            UNION ALL SELECT c.id, c.parent_id, up.depth + 1 FROM companies c JOIN up ON c.id = up.parent_id
            WHERE up.depth < $2)
         SELECT id FROM up ORDER BY depth",
        &[&id, &limits::company_ancestors_depth_max],
    )?;
    rows.iter().map(|r| t.get(r, 0)).collect()
}

pub(super) fn custom_values(t: &PgTx<'_>, object_id: i64) -> Result<Vec<(i64, String)>> {
    let rows = t.rows(
        "SELECT id_custom_fields, value FROM custom_field_values WHERE object_id = $1",
        &[&object_id],
    )?;
    rows.iter()
        .map(|r| Ok((t.get(r, 0)?, t.get(r, 1)?)))
        .collect()
}

pub(super) fn set_custom_value(
    t: &PgTx<'_>,
    id_custom_fields: i64,
    object_id: i64,
    value: Option<&str>,
) -> Result<()> {
    match value {
        Some(v) => t.write(
            "INSERT INTO custom_field_values (id_custom_fields, object_id, value) VALUES ($1, $2, $3)
             ON CONFLICT (id_custom_fields, object_id) DO UPDATE SET value = excluded.value",
            &[&id_custom_fields, &object_id, &v],
        )?,
        None => t.exec(
            "DELETE FROM custom_field_values WHERE id_custom_fields = $1 AND object_id = $2",
            &[&id_custom_fields, &object_id],
        )?,
    };
    Ok(())
}
