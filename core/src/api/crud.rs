//! Generic create/read/update/delete over an [`EntityDef`], tenant-aware. Modules add their
//! own rules through a validation hook; the shape of every CRUD method is the same.

use super::{ArgDef, ArgKind, Args, Ctx, Handler, MethodDef, Registry};
use crate::auth::password;
use crate::auth::rbac::Verb;
use crate::error::{Error, Result, ValidationError};
use crate::limits;
use crate::model::catalog::{Change, Object};
use crate::model::{self, Access, Default, EntityDef, FieldKind, Record, Val};
use crate::store::{ListQuery, Range, StoreTx};
use serde_json::{json, Map, Value};
use std::sync::Arc;

/// Add or edit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// A new row.
    Add,
    /// Changing an existing row.
    Edit,
}

/// A module's own rules: may check and adjust the record before it is written. `existing`
/// is the row before the change (edit only).
pub type Validate =
    fn(&Ctx<'_>, &mut dyn StoreTx, Mode, &mut Record, Option<&Record>) -> Result<()>;

/// Runs just before a row is deleted, in the same transaction: may refuse, or clean up.
pub type OnDelete = fn(&Ctx<'_>, &mut dyn StoreTx, &Record) -> Result<()>;

/// One entity's CRUD methods.
#[derive(Clone, Copy)]
pub struct Crud {
    /// The entity.
    pub entity: &'static EntityDef,
    /// Module rules.
    pub validate: Option<Validate>,
    /// Checks and cleanup before delete.
    pub on_delete: Option<OnDelete>,
    /// The catalog events of its methods: the object kind, and the event of each operation
    /// that has one.
    pub events: Option<(Object, &'static [(Op, &'static str)])>,
}

impl Crud {
    /// CRUD with no extra rules.
    pub const fn new(entity: &'static EntityDef) -> Self {
        Crud {
            entity,
            validate: None,
            on_delete: None,
            events: None,
        }
    }
}

/// Which CRUD methods to register.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// `add`
    Add,
    /// `edit`
    Edit,
    /// `editForm`
    EditForm,
    /// `list`
    List,
    /// `delete`
    Delete,
    /// `archive`
    Archive,
}

impl Op {
    /// The usual action name.
    pub fn action(self) -> &'static str {
        match self {
            Op::Add => "add",
            Op::Edit => "edit",
            Op::EditForm => "editForm",
            Op::List => "list",
            Op::Delete => "delete",
            Op::Archive => "archive",
        }
    }

    /// What the operation does to its object, for events (reads change nothing).
    fn change(self) -> Change {
        match self {
            Op::Add => Change::Create,
            Op::Delete => Change::Delete,
            Op::Archive => Change::Archive,
            Op::Edit | Op::EditForm | Op::List => Change::Update,
        }
    }
}

/// Register the chosen CRUD methods of `crud` under its entity's module name.
pub fn register(reg: &mut Registry, crud: Crud, ops: &[Op]) {
    let named: Vec<(Op, &str)> = ops.iter().map(|op| (*op, op.action())).collect();
    register_as(reg, crud.entity.module, crud, &named);
}

/// Register CRUD methods under `module` with chosen action names (`currencies.ratesAdd`...).
pub fn register_as(reg: &mut Registry, module: &'static str, crud: Crud, ops: &[(Op, &str)]) {
    for (op, action) in ops {
        let c = Arc::new(crud);
        let e = crud.entity;
        let (verb, writes, args, handler): (Verb, bool, Vec<ArgDef>, Handler) = match op {
            Op::Add => (
                Verb::Write,
                true,
                add_args(e),
                Box::new(move |ctx, tx, a| add(&c, ctx, tx, a)),
            ),
            Op::Edit => (
                Verb::Write,
                true,
                edit_args(e),
                Box::new(move |ctx, tx, a| edit(&c, ctx, tx, a)),
            ),
            Op::EditForm => (
                Verb::Read,
                false,
                id_args(e),
                Box::new(move |ctx, tx, a| edit_form(&c, ctx, tx, a)),
            ),
            Op::List => (
                Verb::Read,
                false,
                list_args(e),
                Box::new(move |ctx, tx, a| list(&c, ctx, tx, a)),
            ),
            Op::Delete => (
                Verb::Delete,
                true,
                id_args(e),
                Box::new(move |ctx, tx, a| delete(&c, ctx, tx, a)),
            ),
            Op::Archive => (
                Verb::Write,
                true,
                id_args(e),
                Box::new(move |ctx, tx, a| archive(&c, ctx, tx, a)),
            ),
        };
        let mut m = MethodDef::new(module, action, verb, writes, args, handler);
        m.ignored = e.ignored;
        if let Some((object, events)) = crud.events {
            if let Some((_, event)) = events.iter().find(|(o, _)| o == op) {
                m = m.with_events(object, op.change(), event);
            }
        }
        reg.add(m);
    }
}

fn field_arg(f: &model::FieldDef) -> ArgDef {
    let mut a = ArgDef::field(f.name, f.kind);
    a.aliases = f.aliases.iter().map(|s| s.to_string()).collect();
    a
}

/// The id argument: `id`, `id_<module>` or `<module>_id`.
pub fn id_arg(e: &EntityDef) -> ArgDef {
    let [id, a, b] = e.id_names();
    ArgDef {
        name: id,
        aliases: vec![a, b],
        kind: ArgKind::Field(FieldKind::Id),
        required: true,
    }
}

/// Arguments of `add`: every field callers may set.
pub(crate) fn add_args(e: &EntityDef) -> Vec<ArgDef> {
    e.fields
        .iter()
        .filter(|f| !matches!(f.access, Access::ReadOnly))
        .map(field_arg)
        .collect()
}

fn edit_args(e: &EntityDef) -> Vec<ArgDef> {
    let mut v = vec![id_arg(e)];
    let fields = e
        .fields
        .iter()
        .filter(|f| matches!(f.access, Access::Writable | Access::WriteOnly));
    v.extend(fields.map(|f| {
        let mut a = field_arg(f);
        // On edit the id names win over field aliases (companies: `id_companies` is the id).
        a.aliases.retain(|x| !v_contains_id(e, x));
        a
    }));
    v
}

fn v_contains_id(e: &EntityDef, name: &str) -> bool {
    e.id_names().iter().any(|n| n == name)
}

fn id_args(e: &EntityDef) -> Vec<ArgDef> {
    vec![id_arg(e)]
}

/// Arguments of `list`: paging, order, search and equality filters.
pub fn list_args(e: &EntityDef) -> Vec<ArgDef> {
    let mut v = vec![
        ArgDef::field(
            "limit",
            FieldKind::Int {
                min: 1,
                max: limits::list_page_size_max as i64,
            },
        ),
        ArgDef::field(
            "offset",
            FieldKind::Int {
                min: 0,
                max: i64::MAX,
            },
        ),
        ArgDef::field("order", FieldKind::Text { max: 64 }),
        ArgDef::field("desc", FieldKind::Bool),
    ];
    // `q` searches names: only entities with a name take it (elsewhere it is an unknown
    // argument, never a query on a column that does not exist).
    if e.field("name").is_some() {
        v.push(
            ArgDef::field(
                "q",
                FieldKind::Text {
                    max: limits::name_length_max,
                },
            )
            .alias(&["search"]),
        );
    }
    v.extend(e.fields.iter().filter(|f| f.filterable).map(|f| {
        let mut a = field_arg(f);
        if f.name == "id" {
            a.aliases = e.id_names()[1..].to_vec();
        }
        a
    }));
    if range_column(e).is_some() {
        v.push(ArgDef::field("dt_from", FieldKind::DateTime));
        v.push(ArgDef::field("dt_till", FieldKind::DateTime));
    }
    for (arg, _) in prefix_columns(e) {
        v.push(ArgDef::field(
            arg,
            FieldKind::Text {
                max: limits::name_length_max,
            },
        ));
    }
    if !total_columns(e).is_empty() {
        v.push(ArgDef::field("totals", FieldKind::Bool));
    }
    v
}

/// The text columns a list filters by prefix (`<column>_prefix`, case-sensitive): xDRs by
/// dialled number and destination name.
pub fn prefix_columns(e: &EntityDef) -> &'static [(&'static str, &'static str)] {
    match e.table {
        "xdrs" => &[("dst_prefix", "dst"), ("code_name_prefix", "code_name")],
        _ => &[],
    }
}

/// The columns a list sums over every matching row when asked (`totals: true`).
pub fn total_columns(e: &EntityDef) -> &'static [&'static str] {
    match e.table {
        "xdrs" => &["duration", "billed_seconds", "cost"],
        "transactions" => &["amount"],
        _ => &[],
    }
}

/// The least text above every text that starts with `prefix`, in the byte order the store
/// compares text in (UTF-8 keeps code point order): `prefix` with its last character raised
/// by one. `None` when no such text exists (every character is the last one).
pub fn prefix_end(prefix: &str) -> Option<String> {
    let mut chars: Vec<char> = prefix.chars().collect();
    while let Some(last) = chars.pop() {
        let mut next = u32::from(last) + 1;
        if (0xD800..0xE000).contains(&next) {
            next = 0xE000;
        }
        if let Some(c) = char::from_u32(next) {
            chars.push(c);
            return Some(chars.into_iter().collect());
        }
    }
    None
}

/// The time column a list's `dt_from` (inclusive) and `dt_till` (exclusive) bound, for the
/// entities that take a range: xDRs by `connect_time`, ledger entries by `dt`, invoices by
/// the start of their period.
pub fn range_column(e: &EntityDef) -> Option<&'static str> {
    match e.table {
        "xdrs" => Some("connect_time"),
        "transactions" => Some("dt"),
        "invoices" => Some("dt_from"),
        _ => None,
    }
}

pub use crate::model::record_json;

fn default_val(ctx: &Ctx<'_>, d: Default) -> Result<Val> {
    Ok(match d {
        Default::Null => Val::Null,
        Default::Int(i) => Val::Int(i),
        Default::Text(t) => Val::Text(t.to_string()),
        Default::Money(m) => Val::Dec(crate::money::parse_str("default", m)?),
        Default::Now => Val::Text(ctx.now_str()),
        Default::CallerCompany => Val::Int(ctx.principal.company()),
    })
}

/// Load a row the caller may see, or `not_found` (the same answer for a missing id and for
/// an id in another tenant).
pub fn load(ctx: &Ctx<'_>, tx: &dyn StoreTx, e: &EntityDef, id: i64) -> Result<Record> {
    tx.get(e, id, ctx.principal.scope())?
        .ok_or_else(|| Error::not_found(format!("{} {id}", e.singular)))
}

fn is_archived(e: &EntityDef, rec: &Record) -> bool {
    e.archivable && rec.get("status").and_then(Val::as_text) == Some("archived")
}

/// Check that a reference points at a row the caller may see and that is not archived.
pub fn check_ref(ctx: &Ctx<'_>, tx: &dyn StoreTx, field: &str, table: &str, id: i64) -> Result<()> {
    let target = model::entity_by_table(table)
        .ok_or_else(|| Error::Internal(format!("no entity for table {table}")))?;
    match tx.get(target, id, ctx.principal.scope())? {
        None => Err(ValidationError::invalid(
            field,
            format!("no {} with id {id}", target.singular),
        )
        .into()),
        Some(rec) if is_archived(target, &rec) => Err(Error::Archived {
            what: format!("{} {id}", target.singular),
        }),
        Some(_) => Ok(()),
    }
}

fn check_refs_and_unique(
    ctx: &Ctx<'_>,
    tx: &dyn StoreTx,
    e: &EntityDef,
    rec: &Record,
    except: Option<i64>,
) -> Result<()> {
    for (name, val) in rec {
        let Some(f) = e.field(name) else { continue };
        if let (FieldKind::Ref(table), Val::Int(id)) = (f.kind, val) {
            check_ref(ctx, tx, f.name, table, *id)?;
        }
        if f.unique && !val.is_null() && tx.exists_other(e.table, f.name, val, except)? {
            let shown = match val {
                Val::Text(s) => s.clone(),
                other => other.to_json().to_string(),
            };
            return Err(ValidationError::Duplicate {
                field: f.name.into(),
                value: shown,
            }
            .into());
        }
    }
    Ok(())
}

fn hash_secrets(e: &EntityDef, rec: &mut Record) -> Result<()> {
    for f in e.fields.iter().filter(|f| f.kind == FieldKind::Secret) {
        if let Some(Val::Text(plain)) = rec.get(f.name) {
            password::check_new(f.name, plain)?;
            let h = password::hash(plain)?;
            rec.insert(f.name, Val::Text(h));
        }
    }
    Ok(())
}

/// Shared (global) rows such as currencies, custom field definitions and roles change only
/// through operator-level principals: a reseller's change would reach every other tenant.
pub fn check_global_write(ctx: &Ctx<'_>, e: &EntityDef) -> Result<()> {
    crate::auth::permit::require_global_write(ctx.principal, e)
}

/// The generic `add`: defaults, references, uniqueness, module rules, then the insert.
pub(crate) fn add(c: &Crud, ctx: &mut Ctx<'_>, tx: &mut dyn StoreTx, args: &Args) -> Result<Value> {
    let e = c.entity;
    check_global_write(ctx, e)?;
    let mut rec = Record::new();
    for f in e.fields.iter().filter(|f| f.kind != FieldKind::Id) {
        let given = if matches!(f.access, Access::ReadOnly) {
            None
        } else {
            args.val(f.name).filter(|v| !v.is_null())
        };
        let v = match given {
            Some(v) => v.clone(),
            None => default_val(ctx, f.default)?,
        };
        if f.required && v.is_null() {
            return Err(ValidationError::Required(f.name.into()).into());
        }
        rec.insert(f.name, v);
    }
    check_refs_and_unique(ctx, tx, e, &rec, None)?;
    if let Some(validate) = c.validate {
        validate(ctx, tx, Mode::Add, &mut rec, None)?;
    }
    hash_secrets(e, &mut rec)?;
    let id = tx.insert(e, &rec)?;
    ctx.touch(e.module, id);
    Ok(json!({ "id": id }))
}

fn edit(c: &Crud, ctx: &mut Ctx<'_>, tx: &mut dyn StoreTx, args: &Args) -> Result<Value> {
    let e = c.entity;
    check_global_write(ctx, e)?;
    let id = args.req_int("id")?;
    let existing = load(ctx, tx, e, id)?;
    if is_archived(e, &existing) {
        return Err(Error::Archived {
            what: format!("{} {id}", e.singular),
        });
    }
    let mut changes = Record::new();
    for f in e
        .fields
        .iter()
        .filter(|f| matches!(f.access, Access::Writable | Access::WriteOnly))
    {
        if let Some(v) = args.val(f.name) {
            // A field that must have a value (required, or defaulted on add) cannot be
            // cleared: null is refused here, before the store's NOT NULL would be.
            if v.is_null() && (f.required || !matches!(f.default, Default::Null)) {
                return Err(ValidationError::Required(f.name.into()).into());
            }
            changes.insert(f.name, v.clone());
        }
    }
    check_refs_and_unique(ctx, tx, e, &changes, Some(id))?;
    if let Some(validate) = c.validate {
        validate(ctx, tx, Mode::Edit, &mut changes, Some(&existing))?;
    }
    hash_secrets(e, &mut changes)?;
    tx.update(e, id, &changes)?;
    ctx.touch(e.module, id);
    Ok(json!({ "id": id }))
}

fn edit_form(c: &Crud, ctx: &mut Ctx<'_>, tx: &mut dyn StoreTx, args: &Args) -> Result<Value> {
    let e = c.entity;
    let rec = load(ctx, tx, e, args.req_int("id")?)?;
    let mut m = Map::new();
    m.insert(e.singular.to_string(), record_json(e, &rec));
    Ok(Value::Object(m))
}

/// Build a [`ListQuery`] from `list` arguments.
pub fn list_query(ctx: &Ctx<'_>, e: &EntityDef, args: &Args) -> Result<ListQuery> {
    let order = match args.text("order") {
        None => "id",
        Some(o) => e
            .fields
            .iter()
            .find(|f| f.name == o && f.readable())
            .map(|f| f.name)
            .ok_or_else(|| {
                ValidationError::invalid("order", format!("'{o}' is not a field of {}", e.module))
            })?,
    };
    let mut filters = Vec::new();
    for f in e.fields.iter().filter(|f| f.filterable) {
        if let Some(v) = args.val(f.name) {
            filters.push((f.name, v.clone()));
        }
    }
    let mut ranges: Vec<Range> = range_column(e)
        .map(|column| Range {
            column,
            from: args.val("dt_from").cloned(),
            till: args.val("dt_till").cloned(),
        })
        .into_iter()
        .collect();
    // A prefix is the range [prefix, prefix_end): exact in byte order, and an index serves it.
    for (arg, column) in prefix_columns(e) {
        if let Some(p) = args.text(arg).filter(|p| !p.is_empty()) {
            ranges.push(Range {
                column,
                from: Some(Val::Text(p.to_string())),
                till: prefix_end(p).map(Val::Text),
            });
        }
    }
    Ok(ListQuery {
        filters,
        search: args.text("q").map(str::to_string),
        scope: ctx.principal.scope(),
        limit: args
            .int("limit")
            .map(|l| l as u64)
            .unwrap_or(limits::list_page_size_default),
        offset: args.int("offset").map(|o| o as u64).unwrap_or(0),
        order,
        descending: args.bool("desc").unwrap_or(false),
        ranges,
    })
}

/// The sums of `columns` over every row `q` matches (its paging aside), read in keyset pages
/// by id within the caller's transaction: `{count, <column>: sum...}`, exact.
pub fn totals(
    tx: &dyn StoreTx,
    e: &EntityDef,
    q: &ListQuery,
    columns: &[&'static str],
) -> Result<Value> {
    let mut count: u64 = 0;
    let mut sums = vec![rust_decimal::Decimal::ZERO; columns.len()];
    crate::store::each_row(tx, e, q, |rec| {
        count += 1;
        for (sum, column) in sums.iter_mut().zip(columns) {
            let v = match rec.get(column) {
                Some(Val::Dec(d)) => *d,
                Some(Val::Int(i)) => rust_decimal::Decimal::from(*i),
                _ => continue,
            };
            *sum = crate::money::exact_add(*sum, v)?;
        }
        Ok(())
    })?;
    let mut m = Map::new();
    m.insert("count".into(), Value::from(count));
    for (sum, column) in sums.into_iter().zip(columns) {
        let is_int = e
            .field(column)
            .is_some_and(|f| matches!(f.kind, FieldKind::Int { .. }));
        let v = match rust_decimal::prelude::ToPrimitive::to_i64(&sum) {
            Some(i) if is_int => Val::Int(i),
            _ => Val::Dec(sum),
        };
        m.insert((*column).into(), v.to_json());
    }
    Ok(Value::Object(m))
}

fn list(c: &Crud, ctx: &mut Ctx<'_>, tx: &mut dyn StoreTx, args: &Args) -> Result<Value> {
    let e = c.entity;
    let q = list_query(ctx, e, args)?;
    let (rows, total) = tx.list(e, &q)?;
    let rows: Vec<Value> = rows.iter().map(|r| record_json(e, r)).collect();
    let mut v = json!({ "rows": rows, "total": total, "limit": q.limit, "offset": q.offset });
    if args.bool("totals") == Some(true) {
        let sums = totals(tx, e, &q, total_columns(e))?;
        if let Some(o) = v.as_object_mut() {
            o.insert("totals".into(), sums);
        }
    }
    Ok(v)
}

fn delete(c: &Crud, ctx: &mut Ctx<'_>, tx: &mut dyn StoreTx, args: &Args) -> Result<Value> {
    let e = c.entity;
    check_global_write(ctx, e)?;
    let id = args.req_int("id")?;
    let existing = load(ctx, tx, e, id)?;
    if let Some(on_delete) = c.on_delete {
        on_delete(ctx, tx, &existing)?;
    }
    tx.delete(e, id).map_err(|err| match err {
        Error::InUse { reason, .. } => Error::InUse {
            what: format!("{} {id}", e.singular),
            reason,
        },
        other => other,
    })?;
    ctx.touch(e.module, id);
    Ok(json!({ "id": id }))
}

fn archive(c: &Crud, ctx: &mut Ctx<'_>, tx: &mut dyn StoreTx, args: &Args) -> Result<Value> {
    let e = c.entity;
    check_global_write(ctx, e)?;
    let id = args.req_int("id")?;
    let existing = load(ctx, tx, e, id)?;
    if !is_archived(e, &existing) {
        let mut changes = Record::new();
        changes.insert("status", Val::Text("archived".into()));
        tx.update(e, id, &changes)?;
        ctx.touch(e.module, id);
    }
    Ok(json!({ "id": id }))
}
