//! The domain model: entity descriptions shared by the API (argument schemas) and the store
//! (columns), and the values they hold.

pub mod args;
pub mod catalog;
mod entities;
mod value;

pub use entities::*;
pub use value::{dec, int, text, Record, Val};

/// The operator's company: the root of the reseller tree.
pub const OPERATOR_COMPANY: i64 = 1;

/// How a field is parsed and checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldKind {
    /// The row id (read only).
    Id,
    /// An integer within bounds.
    Int { min: i64, max: i64 },
    /// Text up to `max` characters.
    Text { max: usize },
    /// An e-mail address (loosely checked) or a comma-separated list of them.
    Email,
    /// One of the listed words.
    Enum(&'static [&'static str]),
    /// A boolean (true/false, 1/0, "1"/"0").
    Bool,
    /// A decimal amount; `non_negative` refuses values below zero.
    Money { non_negative: bool },
    /// A date-time (stored as `YYYY-MM-DD HH:MM:SS+00`).
    DateTime,
    /// The id of a row of another entity (by its table name).
    Ref(&'static str),
    /// A secret: stored as an Argon2id hash, never returned.
    Secret,
}

/// Who may set a field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Computed by the engine; never set by callers.
    ReadOnly,
    /// Set on `add` and `edit`.
    Writable,
    /// Set on `add` only.
    CreateOnly,
    /// Set on `add` and `edit`, never shown.
    WriteOnly,
}

/// The value a field takes on `add` when the caller gives none.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Default {
    /// No default: NULL unless required.
    Null,
    /// An integer.
    Int(i64),
    /// A text.
    Text(&'static str),
    /// A decimal amount given as text.
    Money(&'static str),
    /// The call's time.
    Now,
    /// The company the caller belongs to.
    CallerCompany,
}

/// One field of an entity.
#[derive(Debug, Clone, Copy)]
pub struct FieldDef {
    /// Column and argument name.
    pub name: &'static str,
    /// Other argument names accepted for it.
    pub aliases: &'static [&'static str],
    /// Type and bounds.
    pub kind: FieldKind,
    /// Who may set it.
    pub access: Access,
    /// Must `add` have it (after defaults)?
    pub required: bool,
    /// Default on `add`.
    pub default: Default,
    /// May `list` filter on it by equality?
    pub filterable: bool,
    /// Must the value be unique across the table?
    pub unique: bool,
}

impl FieldDef {
    /// A writable, optional, filterable field with no default.
    pub const fn new(name: &'static str, kind: FieldKind) -> Self {
        FieldDef {
            name,
            aliases: &[],
            kind,
            access: Access::Writable,
            required: false,
            default: Default::Null,
            filterable: false,
            unique: false,
        }
    }
    /// Mark required on add.
    pub const fn required(mut self) -> Self {
        self.required = true;
        self
    }
    /// Set the default.
    pub const fn default(mut self, d: Default) -> Self {
        self.default = d;
        self
    }
    /// Set the access.
    pub const fn access(mut self, a: Access) -> Self {
        self.access = a;
        self
    }
    /// Allow equality filters in `list`.
    pub const fn filterable(mut self) -> Self {
        self.filterable = true;
        self
    }
    /// Add argument aliases.
    pub const fn aliases(mut self, a: &'static [&'static str]) -> Self {
        self.aliases = a;
        self
    }
    /// Require uniqueness.
    pub const fn unique(mut self) -> Self {
        self.unique = true;
        self
    }
    /// Is the value shown in `editForm`/`list`?
    pub fn readable(&self) -> bool {
        !matches!(self.access, Access::WriteOnly) && !matches!(self.kind, FieldKind::Secret)
    }
}

/// How an entity belongs to a tenant (a company subtree).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tenancy {
    /// The row is a company: visible when its id is in the caller's subtree.
    SelfCompany,
    /// The row has a company column.
    Column(&'static str),
    /// The row points (by `fk`) at a row of `table`, whose `column` is its company.
    Via {
        fk: &'static str,
        table: &'static str,
        column: &'static str,
    },
    /// Shared by every tenant (currencies, custom field definitions).
    Global,
}

/// An entity: its table, API module, fields and tenancy.
#[derive(Debug)]
pub struct EntityDef {
    /// Table name.
    pub table: &'static str,
    /// API module (`clients`); ids are accepted as `id`, `id_<module>` and `<module>_id`.
    pub module: &'static str,
    /// Key of the object in `editForm` replies (`client`).
    pub singular: &'static str,
    /// Fields in display order; the first is always `id`.
    pub fields: &'static [FieldDef],
    /// Tenancy.
    pub tenancy: Tenancy,
    /// Legacy form arguments accepted and ignored (the vendor's web forms send them).
    pub ignored: &'static [&'static str],
    /// Has a `status` of `archived` that freezes the row.
    pub archivable: bool,
}

impl EntityDef {
    /// Find a field by name or alias.
    pub fn field(&self, name: &str) -> Option<&'static FieldDef> {
        self.fields
            .iter()
            .find(|f| f.name == name || f.aliases.contains(&name))
    }

    /// The id argument names: `id`, `id_<module>`, `<module>_id`.
    pub fn id_names(&self) -> [String; 3] {
        [
            "id".to_string(),
            format!("id_{}", self.module),
            format!("{}_id", self.module),
        ]
    }

    /// Stored columns (every field but virtual ones).
    pub fn columns(&self) -> impl Iterator<Item = &'static FieldDef> {
        self.fields.iter()
    }
}

/// A row as the API shows it (secrets left out).
pub fn record_json(e: &EntityDef, rec: &Record) -> serde_json::Value {
    let mut m = serde_json::Map::new();
    for f in e.fields.iter().filter(|f| f.readable()) {
        m.insert(
            f.name.to_string(),
            rec.get(f.name)
                .map(Val::to_json)
                .unwrap_or(serde_json::Value::Null),
        );
    }
    serde_json::Value::Object(m)
}
