//! Tenants and who acts for them: companies, clients, accounts, custom fields, users, roles
//! and the audit trail.

use super::*;

/// Statuses of a company.
pub const COMPANY_STATUSES: &[&str] = &["active", "blocked"];
/// Statuses of a client (`archived` is reached only through `clients.archive`).
pub const CLIENT_STATUSES: &[&str] = &["active", "blocked", "suspended", "archived"];
/// Statuses of an account.
pub const ACCOUNT_STATUSES: &[&str] = &["active", "blocked"];
/// How an account is recognised at call time.
pub const ACCOUNT_AUTH_TYPES: &[&str] = &["ip", "login", "ani", "tech_prefix"];
/// Types of custom fields.
pub const CUSTOM_FIELD_TYPES: &[&str] = &["text", "number", "bool", "enum"];
/// Modules that carry custom fields.
pub const CUSTOM_FIELD_MODULES: &[&str] = &["clients"];

/// Companies: the reseller tree. Company 1 is the operator.
pub static COMPANIES: EntityDef = EntityDef {
    table: "companies",
    module: "companies",
    singular: "company",
    fields: &[
        id(),
        // `id_companies` on companies.add is the parent, as in the vendor's web form.
        FieldDef::new("parent_id", FieldKind::Ref("companies"))
            .aliases(&["parent_companies_id", "id_companies"])
            .access(Access::CreateOnly)
            .default(Default::CallerCompany)
            .required()
            .filterable(),
        FieldDef::new("name", NAME).required().filterable(),
        FieldDef::new("status", FieldKind::Enum(COMPANY_STATUSES))
            .default(Default::Text("active"))
            .filterable(),
        // Concurrent calls of the whole subtree; null = unlimited.
        FieldDef::new("capacity", CAPACITY),
        // Invoice numbers of the company's clients: `<prefix><year>-<sequence>`.
        FieldDef::new(
            "invoice_prefix",
            FieldKind::Text {
                max: limits::invoice_prefix_length_max,
            },
        )
        .default(Default::Text("INV-")),
        // Printed under the name on the company's invoices.
        FieldDef::new("address", LONG_TEXT),
        FieldDef::new("tax_id", TEXT),
        c_dt(),
    ],
    tenancy: Tenancy::SelfCompany,
    ignored: &["apply", "type", "prepaid", "credit", "_preload"],
    archivable: false,
};

/// Clients: the customers (and vendors) that hold balances.
pub static CLIENTS: EntityDef = EntityDef {
    table: "clients",
    module: "clients",
    singular: "client",
    fields: &[
        id(),
        FieldDef::new("id_companies", FieldKind::Ref("companies"))
            .aliases(&["companies_id"])
            .default(Default::CallerCompany)
            .required()
            .filterable(),
        FieldDef::new("name", NAME).required().filterable(),
        FieldDef::new("type", FieldKind::Int { min: 0, max: 255 })
            .default(Default::Int(0))
            .filterable(),
        FieldDef::new("groups", TEXT).default(Default::Text("Customers")),
        FieldDef::new("status", FieldKind::Enum(CLIENT_STATUSES))
            .default(Default::Text("active"))
            .filterable(),
        FieldDef::new("id_currencies", FieldKind::Ref("currencies"))
            .aliases(&["currencies_id"])
            .access(Access::CreateOnly)
            .default(Default::Int(1))
            .required()
            .filterable(),
        FieldDef::new(
            "balance",
            FieldKind::Money {
                non_negative: false,
            },
        )
        .access(Access::ReadOnly)
        .default(Default::Money("0")),
        FieldDef::new("credit", FieldKind::Money { non_negative: true })
            .default(Default::Money("0")),
        FieldDef::new("c_company", TEXT),
        FieldDef::new("c_address", LONG_TEXT),
        FieldDef::new("c_email", FieldKind::Email),
        FieldDef::new("c_email_tech", FieldKind::Email),
        FieldDef::new("c_email_billing", FieldKind::Email),
        FieldDef::new("c_email_rates", FieldKind::Email),
        FieldDef::new("capacity", CAPACITY).aliases(&["orig_capacity"]),
        FieldDef::new("orig_rate_table", FieldKind::Ref("rate_tables")).filterable(),
        // The vendor's name: the tax profile the client's invoices apply.
        FieldDef::new("id_taxes_profiles", FieldKind::Ref("taxes_profiles"))
            .aliases(&["taxes_profiles_id"])
            .filterable(),
        // Auto-invoicing (docs/invoices.md): the clock issues each closed period's invoice.
        FieldDef::new("invoice_period", FieldKind::Text { max: 8 }),
        FieldDef::new("invoice_anchor", FieldKind::DateTime),
        FieldDef::new("autoinvoice_periods", COUNT)
            .access(Access::ReadOnly)
            .default(Default::Int(0)),
        FieldDef::new("autoinvoice_next", FieldKind::DateTime).access(Access::ReadOnly),
        FieldDef::new("autoinvoice_last", FieldKind::DateTime).access(Access::ReadOnly),
        c_dt(),
    ],
    tenancy: Tenancy::Column("id_companies"),
    ignored: &[
        "apply",
        "_preload",
        // Shown (read-only, set by the auto-invoicing clock); a vendor client sending it
        // back on add or edit is told it is ignored, as before.
        "autoinvoice_last",
        "bill_by_time",
        "c_account",
        "cc_serial",
        "cp_login",
        "cp_modules",
        "cp_password",
        "id_dr_plans",
        "id_invoices_templates",
        "id_payment_terms",
        "locale",
        "low_balance_athreshold",
        "low_balance_threshold",
        "rates_notify_format",
        "rates_notify_type",
        "reg_id",
        "tax_id",
        "term_capacity",
        "term_rate_table",
        "tz",
    ],
    archivable: true,
};

/// Accounts: how a client is recognised on a call (IP, login, ANI or tech prefix).
pub static ACCOUNTS: EntityDef = EntityDef {
    table: "accounts",
    module: "accounts",
    singular: "account",
    fields: &[
        id(),
        FieldDef::new("id_clients", FieldKind::Ref("clients"))
            .aliases(&["clients_id"])
            .access(Access::CreateOnly)
            .required()
            .filterable(),
        FieldDef::new("name", NAME).required().filterable(),
        FieldDef::new("auth_type", FieldKind::Enum(ACCOUNT_AUTH_TYPES))
            .default(Default::Text("login"))
            .required()
            .filterable(),
        FieldDef::new("ident", NAME).required().filterable(),
        FieldDef::new("password", FieldKind::Secret).access(Access::WriteOnly),
        FieldDef::new("status", FieldKind::Enum(ACCOUNT_STATUSES))
            .default(Default::Text("active"))
            .filterable(),
        FieldDef::new("capacity", CAPACITY).aliases(&["orig_capacity"]),
        FieldDef::new("orig_rate_table", FieldKind::Ref("rate_tables")).filterable(),
        c_dt(),
    ],
    tenancy: Tenancy::Via {
        fk: "id_clients",
        table: "clients",
        column: "id_companies",
    },
    ignored: &[
        "apply",
        "_preload",
        "protocol",
        "orig_enabled",
        "term_capacity",
        "term_tags",
        "dr_plans_id",
    ],
    archivable: false,
};

/// Custom field definitions.
pub static CUSTOM_FIELDS: EntityDef = EntityDef {
    table: "custom_fields",
    module: "customFields",
    singular: "custom_field",
    fields: &[
        id(),
        FieldDef::new("module", FieldKind::Enum(CUSTOM_FIELD_MODULES))
            .access(Access::CreateOnly)
            .default(Default::Text("clients"))
            .required()
            .filterable(),
        FieldDef::new("name", FieldKind::Text { max: 64 })
            .required()
            .filterable(),
        FieldDef::new("type", FieldKind::Enum(CUSTOM_FIELD_TYPES))
            .access(Access::CreateOnly)
            .default(Default::Text("text"))
            .required()
            .filterable(),
        FieldDef::new("required", FieldKind::Bool).default(Default::Int(0)),
        // Enum choices, as a JSON array of strings (or a comma-separated list on input).
        FieldDef::new("options", LONG_TEXT),
        c_dt(),
    ],
    tenancy: Tenancy::Global,
    ignored: &["apply", "_preload"],
    archivable: false,
};

/// The audit trail: one row per successful state-changing call.
pub static AUDIT: EntityDef = EntityDef {
    table: "audit",
    module: "audit",
    singular: "entry",
    fields: &[
        id(),
        FieldDef::new("dt", FieldKind::DateTime).access(Access::ReadOnly),
        FieldDef::new(
            "id_users",
            FieldKind::Int {
                min: 0,
                max: i64::MAX,
            },
        )
        .access(Access::ReadOnly)
        .filterable(),
        FieldDef::new("login", TEXT)
            .access(Access::ReadOnly)
            .filterable(),
        FieldDef::new(
            "id_sessions",
            FieldKind::Int {
                min: 0,
                max: i64::MAX,
            },
        )
        .access(Access::ReadOnly),
        FieldDef::new(
            "id_companies",
            FieldKind::Int {
                min: 0,
                max: i64::MAX,
            },
        )
        .access(Access::ReadOnly)
        .filterable(),
        FieldDef::new("method", TEXT)
            .access(Access::ReadOnly)
            .filterable(),
        FieldDef::new("objects", LONG_TEXT).access(Access::ReadOnly),
        FieldDef::new("outcome", TEXT)
            .access(Access::ReadOnly)
            .filterable(),
        // The call a `core.settle` row charged (`audit.list {"call_id": ...}` finds it).
        FieldDef::new("call_id", TEXT)
            .access(Access::ReadOnly)
            .filterable(),
    ],
    tenancy: Tenancy::Column("id_companies"),
    ignored: &["_preload"],
    archivable: false,
};

/// Statuses of a user.
pub const USER_STATUSES: &[&str] = &["active", "blocked"];

/// Users of the Management API: a login, a role and the company subtree they see.
pub static USERS: EntityDef = EntityDef {
    table: "users",
    module: "users",
    singular: "user",
    fields: &[
        id(),
        FieldDef::new(
            "login",
            FieldKind::Text {
                max: limits::login_length_max,
            },
        )
        .required()
        .unique()
        .filterable(),
        FieldDef::new("password", FieldKind::Secret)
            .access(Access::WriteOnly)
            .required(),
        FieldDef::new("id_roles", FieldKind::Ref("roles"))
            .aliases(&["roles_id"])
            .required()
            .filterable(),
        FieldDef::new("id_companies", FieldKind::Ref("companies"))
            .aliases(&["companies_id"])
            .default(Default::CallerCompany)
            .required()
            .filterable(),
        FieldDef::new("status", FieldKind::Enum(USER_STATUSES))
            .default(Default::Text("active"))
            .filterable(),
        FieldDef::new(
            "failed_logins",
            FieldKind::Int {
                min: 0,
                max: i64::MAX,
            },
        )
        .access(Access::ReadOnly)
        .default(Default::Int(0)),
        FieldDef::new("locked_until", FieldKind::DateTime).access(Access::ReadOnly),
        c_dt(),
    ],
    tenancy: Tenancy::Column("id_companies"),
    ignored: &["apply", "_preload"],
    archivable: false,
};

/// Roles: named sets of per-module verbs. Shared by every tenant; only the operator's users
/// define them, and nobody assigns one holding more than they do.
pub static ROLES: EntityDef = EntityDef {
    table: "roles",
    module: "roles",
    singular: "role",
    fields: &[
        id(),
        FieldDef::new("name", NAME).required().unique().filterable(),
        // JSON object: module (or `*`) to a list of verbs.
        FieldDef::new("permissions", LONG_TEXT).required(),
        FieldDef::new("builtin", FieldKind::Bool)
            .access(Access::ReadOnly)
            .default(Default::Int(0))
            .filterable(),
        c_dt(),
    ],
    tenancy: Tenancy::Global,
    ignored: &["apply", "_preload"],
    archivable: false,
};
