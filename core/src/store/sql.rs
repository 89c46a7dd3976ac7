//! SQL that both stores build the same way: the tenant scope condition and the `WHERE` of a
//! list. Only the placeholder style and the scope CTE differ between SQLite and PostgreSQL.

use super::{ListQuery, Range};
use crate::error::{Error, Result};
use crate::model::{EntityDef, Tenancy, Val};

/// What differs between the dialects here.
pub(crate) struct Dialect {
    /// `?` (SQLite: `?1`) or `$` (PostgreSQL: `$1`).
    pub(crate) sigil: char,
    /// The company subtree of parameter 1, as the CTE `scope(id)`.
    pub(crate) scope_cte: &'static str,
}

impl Dialect {
    /// SQLite.
    pub(crate) const SQLITE: Dialect = Dialect {
        sigil: '?',
        scope_cte: "WITH RECURSIVE scope(id) AS (SELECT ?1 UNION ALL SELECT c.id FROM companies c JOIN scope s ON c.parent_id = s.id) ",
    };
    /// PostgreSQL (the root's type is given: the server cannot infer it from a UNION).
    #[cfg(feature = "postgres")]
    pub(crate) const POSTGRES: Dialect = Dialect {
        sigil: '$',
        scope_cte: "WITH RECURSIVE scope(id) AS (SELECT $1::bigint UNION ALL SELECT c.id FROM companies c JOIN scope s ON c.parent_id = s.id) ",
    };

    /// Placeholder number `n`.
    pub(crate) fn ph(&self, n: usize) -> String {
        format!("{}{n}", self.sigil)
    }
}

/// The WHERE condition that keeps rows of `e` inside the scope CTE, or `None` for global rows.
pub(crate) fn tenancy_condition(e: &EntityDef) -> Option<String> {
    match e.tenancy {
        Tenancy::SelfCompany => Some("id IN (SELECT id FROM scope)".into()),
        Tenancy::Column(c) => Some(format!("{c} IN (SELECT id FROM scope)")),
        Tenancy::Via { fk, table, column } => Some(format!(
            "{fk} IN (SELECT id FROM {table} WHERE {column} IN (SELECT id FROM scope))"
        )),
        Tenancy::Global => None,
    }
}

/// The `WHERE` of a list: scope, equality filters, name search, ranges and (for keyset
/// pages) `id > after`. Returns the CTE prefix, the clause and its arguments.
pub(crate) fn list_where(
    d: &Dialect,
    e: &EntityDef,
    q: &ListQuery,
    ranges: &[Range],
    after_id: Option<i64>,
) -> Result<(&'static str, String, Vec<Val>)> {
    let mut conds: Vec<String> = Vec::new();
    let mut args: Vec<Val> = Vec::new();
    let mut prefix = "";
    if let (Some(scope), Some(c)) = (q.scope, tenancy_condition(e)) {
        prefix = d.scope_cte;
        args.push(Val::Int(scope));
        conds.push(c);
    }
    for (col, val) in &q.filters {
        check_ident(col)?;
        args.push(val.clone());
        conds.push(format!("{col} = {}", d.ph(args.len())));
    }
    if let Some(s) = &q.search {
        let escaped = s
            .replace('\\', "\\\\")
            .replace('%', "\\%")
            .replace('_', "\\_");
        args.push(Val::Text(format!("%{escaped}%")));
        conds.push(format!("name LIKE {} ESCAPE '\\'", d.ph(args.len())));
    }
    for r in q.ranges.iter().chain(ranges) {
        check_ident(r.column)?;
        if let Some(v) = &r.from {
            args.push(v.clone());
            conds.push(format!("{} >= {}", r.column, d.ph(args.len())));
        }
        if let Some(v) = &r.till {
            args.push(v.clone());
            conds.push(format!("{} < {}", r.column, d.ph(args.len())));
        }
    }
    if let Some(after) = after_id {
        args.push(Val::Int(after));
        conds.push(format!("id > {}", d.ph(args.len())));
    }
    let where_sql = if conds.is_empty() {
        String::new()
    } else {
        format!(" WHERE {}", conds.join(" AND "))
    };
    Ok((prefix, where_sql, args))
}

pub(crate) fn check_ident(name: &str) -> Result<()> {
    // Table and column names come from static entity definitions; this guards against a
    // programming mistake ever letting caller text into SQL.
    if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        return Err(Error::Internal(format!("bad SQL identifier {name:?}")));
    }
    Ok(())
}
