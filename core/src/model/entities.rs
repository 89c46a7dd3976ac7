//! The entities of the Management API. One description per table: the API derives argument
//! schemas from it and the store derives columns from it.

use super::{Access, Default, EntityDef, FieldDef, FieldKind, Tenancy};
use crate::limits;

const NAME: FieldKind = FieldKind::Text {
    max: limits::name_length_max,
};
const TEXT: FieldKind = FieldKind::Text {
    max: limits::text_length_max,
};
const LONG_TEXT: FieldKind = FieldKind::Text {
    max: limits::long_text_length_max,
};
const CAPACITY: FieldKind = FieldKind::Int {
    min: 0,
    max: 1_000_000,
};

const fn id() -> FieldDef {
    FieldDef::new("id", FieldKind::Id)
        .access(Access::ReadOnly)
        .filterable()
}
const fn c_dt() -> FieldDef {
    FieldDef::new("c_dt", FieldKind::DateTime)
        .access(Access::ReadOnly)
        .default(Default::Now)
}

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
        c_dt(),
    ],
    tenancy: Tenancy::Column("id_companies"),
    ignored: &[
        "apply",
        "_preload",
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

/// Currencies with their three precisions.
pub static CURRENCIES: EntityDef = EntityDef {
    table: "currencies",
    module: "currencies",
    singular: "currency",
    fields: &[
        id(),
        FieldDef::new("code", FieldKind::Text { max: 3 })
            .aliases(&["iso_4217"])
            .access(Access::CreateOnly)
            .required()
            .unique()
            .filterable(),
        FieldDef::new("name", NAME).required().filterable(),
        FieldDef::new(
            "rates_precision",
            FieldKind::Int {
                min: 0,
                max: limits::currency_precision_max,
            },
        )
        .default(Default::Int(4)),
        FieldDef::new(
            "details_precision",
            FieldKind::Int {
                min: 0,
                max: limits::currency_precision_max,
            },
        )
        .default(Default::Int(4)),
        FieldDef::new(
            "totals_precision",
            FieldKind::Int {
                min: 0,
                max: limits::currency_precision_max,
            },
        )
        .default(Default::Int(2)),
        c_dt(),
    ],
    tenancy: Tenancy::Global,
    ignored: &["apply", "_preload"],
    archivable: false,
};

/// Exchange rates: `1 <from> = rate <to>` from `effective_from` on.
pub static EXCHANGE_RATES: EntityDef = EntityDef {
    table: "exchange_rates",
    module: "exchange_rates",
    singular: "exchange_rate",
    fields: &[
        id(),
        FieldDef::new("id_currencies", FieldKind::Ref("currencies"))
            .aliases(&["currencies_id", "from"])
            .access(Access::CreateOnly)
            .required()
            .filterable(),
        FieldDef::new("id_currencies_to", FieldKind::Ref("currencies"))
            .aliases(&["currencies_to_id", "to"])
            .access(Access::CreateOnly)
            .required()
            .filterable(),
        FieldDef::new("rate", FieldKind::Money { non_negative: true })
            .access(Access::CreateOnly)
            .required(),
        FieldDef::new("effective_from", FieldKind::DateTime)
            .access(Access::CreateOnly)
            .default(Default::Now),
        c_dt(),
    ],
    tenancy: Tenancy::Global,
    ignored: &["apply"],
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

/// Rounding modes a rate table may name (see `money::Rounding`).
pub const ROUNDING_MODES: &[&str] = &["half_up", "half_even", "ceiling", "floor"];
/// Ledger entry types.
pub const TRANSACTION_TYPES: &[&str] = &[
    "payment",
    "charge",
    "call",
    "package_fee",
    "refund",
    "adjustment",
    "tax",
];

const SECONDS: FieldKind = FieldKind::Int {
    min: 0,
    max: limits::rate_seconds_max,
};
const NON_NEGATIVE: FieldKind = FieldKind::Money { non_negative: true };
const SIGNED: FieldKind = FieldKind::Money {
    non_negative: false,
};
const COUNT: FieldKind = FieldKind::Int {
    min: 0,
    max: i64::MAX,
};

/// Rate tables: a currency, a rounding mode and a set of rates.
pub static RATE_TABLES: EntityDef = EntityDef {
    table: "rate_tables",
    module: "rateTables",
    singular: "rate_table",
    fields: &[
        id(),
        FieldDef::new("id_companies", FieldKind::Ref("companies"))
            .aliases(&["companies_id"])
            .default(Default::CallerCompany)
            .required()
            .filterable(),
        FieldDef::new("name", NAME).required().filterable(),
        FieldDef::new("id_currencies", FieldKind::Ref("currencies"))
            .aliases(&["currencies_id"])
            .access(Access::CreateOnly)
            .default(Default::Int(1))
            .required()
            .filterable(),
        FieldDef::new("rounding", FieldKind::Enum(ROUNDING_MODES))
            .default(Default::Text("half_up")),
        c_dt(),
    ],
    tenancy: Tenancy::Column("id_companies"),
    ignored: &["apply", "_preload"],
    archivable: false,
};

/// Rates: price per minute for a destination code prefix, with billing increments.
pub static RATES: EntityDef = EntityDef {
    table: "rates",
    module: "rates",
    singular: "rate",
    fields: &[
        id(),
        FieldDef::new("id_rate_tables", FieldKind::Ref("rate_tables"))
            .aliases(&["rate_tables_id"])
            .access(Access::CreateOnly)
            .required()
            .filterable(),
        FieldDef::new(
            "code",
            FieldKind::Text {
                max: limits::rate_code_digits_max,
            },
        )
        .required()
        .filterable(),
        FieldDef::new("code_name", NAME).filterable(),
        FieldDef::new("rate", NON_NEGATIVE)
            .aliases(&["value"])
            .required(),
        FieldDef::new("min_volume", SECONDS).default(Default::Int(0)),
        FieldDef::new(
            "interval",
            FieldKind::Int {
                min: 1,
                max: limits::rate_seconds_max,
            },
        )
        .aliases(&["pay_interval"])
        .default(Default::Int(1)),
        FieldDef::new("grace_volume", SECONDS).default(Default::Int(0)),
        FieldDef::new("setup_fee", NON_NEGATIVE)
            .aliases(&["pay_setup"])
            .default(Default::Money("0")),
        FieldDef::new("effective_from", FieldKind::DateTime).default(Default::Now),
        FieldDef::new("effective_till", FieldKind::DateTime).aliases(&["end_date"]),
        c_dt(),
    ],
    tenancy: Tenancy::Via {
        fk: "id_rate_tables",
        table: "rate_tables",
        column: "id_companies",
    },
    ignored: &[
        "apply",
        "_preload",
        "services_id",
        "policy",
        "tag",
        "time_profiles_id",
        "notes",
        "status",
    ],
    archivable: false,
};

/// The ledger: every change of a client's balance. Written only by the engine.
pub static TRANSACTIONS: EntityDef = EntityDef {
    table: "transactions",
    module: "transactions",
    singular: "transaction",
    fields: &[
        id(),
        FieldDef::new("id_clients", FieldKind::Ref("clients"))
            .aliases(&["clients_id"])
            .access(Access::ReadOnly)
            .filterable(),
        FieldDef::new("type", FieldKind::Enum(TRANSACTION_TYPES))
            .access(Access::ReadOnly)
            .filterable(),
        FieldDef::new("amount", SIGNED).access(Access::ReadOnly),
        FieldDef::new("id_currencies", FieldKind::Ref("currencies")).access(Access::ReadOnly),
        FieldDef::new("orig_amount", SIGNED).access(Access::ReadOnly),
        FieldDef::new("orig_id_currencies", FieldKind::Ref("currencies")).access(Access::ReadOnly),
        FieldDef::new("exchange_rate", SIGNED).access(Access::ReadOnly),
        FieldDef::new("balance_after", SIGNED).access(Access::ReadOnly),
        FieldDef::new("dt", FieldKind::DateTime).access(Access::ReadOnly),
        FieldDef::new("notes", LONG_TEXT).access(Access::ReadOnly),
        FieldDef::new("author", COUNT)
            .access(Access::ReadOnly)
            .filterable(),
        FieldDef::new("idempotency_key", TEXT)
            .access(Access::ReadOnly)
            .filterable(),
        FieldDef::new("reference", TEXT)
            .access(Access::ReadOnly)
            .filterable(),
        // The invoice that covered the entry (charges, fees, adjustments, tax).
        FieldDef::new("id_invoices", COUNT)
            .access(Access::ReadOnly)
            .filterable(),
    ],
    tenancy: Tenancy::Via {
        fk: "id_clients",
        table: "clients",
        column: "id_companies",
    },
    ignored: &["_preload"],
    archivable: false,
};

/// Rated calls (xDRs). Written only by the engine.
pub static XDRS: EntityDef = EntityDef {
    table: "xdrs",
    module: "xdrs",
    singular: "xdr",
    fields: &[
        id(),
        FieldDef::new("call_id", TEXT)
            .access(Access::ReadOnly)
            .filterable(),
        FieldDef::new("id_accounts", FieldKind::Ref("accounts"))
            .access(Access::ReadOnly)
            .filterable(),
        FieldDef::new("id_clients", FieldKind::Ref("clients"))
            .access(Access::ReadOnly)
            .filterable(),
        FieldDef::new("src", TEXT).access(Access::ReadOnly),
        FieldDef::new("dst", TEXT)
            .access(Access::ReadOnly)
            .filterable(),
        FieldDef::new("code", TEXT)
            .access(Access::ReadOnly)
            .filterable(),
        FieldDef::new("code_name", NAME).access(Access::ReadOnly),
        FieldDef::new("id_rate_tables", FieldKind::Ref("rate_tables")).access(Access::ReadOnly),
        FieldDef::new("rate", SIGNED).access(Access::ReadOnly),
        FieldDef::new("setup_fee", SIGNED).access(Access::ReadOnly),
        FieldDef::new("min_volume", COUNT).access(Access::ReadOnly),
        FieldDef::new("interval", COUNT).access(Access::ReadOnly),
        FieldDef::new("grace_volume", COUNT).access(Access::ReadOnly),
        FieldDef::new("duration", COUNT).access(Access::ReadOnly),
        FieldDef::new("billed_seconds", COUNT).access(Access::ReadOnly),
        FieldDef::new("cost", SIGNED).access(Access::ReadOnly),
        FieldDef::new("id_currencies", FieldKind::Ref("currencies")).access(Access::ReadOnly),
        FieldDef::new("connect_time", FieldKind::DateTime).access(Access::ReadOnly),
        FieldDef::new("end_time", FieldKind::DateTime).access(Access::ReadOnly),
        FieldDef::new("reservation", COUNT).access(Access::ReadOnly),
        FieldDef::new("unreserved", FieldKind::Bool)
            .access(Access::ReadOnly)
            .filterable(),
        FieldDef::new("id_transactions", COUNT).access(Access::ReadOnly),
        FieldDef::new("id_subscriptions", FieldKind::Ref("subscriptions"))
            .access(Access::ReadOnly)
            .filterable(),
        FieldDef::new("volume_seconds", COUNT).access(Access::ReadOnly),
        // Seconds the call ran past its grant (a switch's timer firing late): charged as used.
        FieldDef::new("overrun_seconds", COUNT).access(Access::ReadOnly),
        // The invoice the call went on.
        FieldDef::new("id_invoices", COUNT)
            .access(Access::ReadOnly)
            .filterable(),
        c_dt(),
    ],
    tenancy: Tenancy::Via {
        fk: "id_clients",
        table: "clients",
        column: "id_companies",
    },
    ignored: &["_preload"],
    archivable: false,
};

/// Statuses of a package.
pub const PACKAGE_STATUSES: &[&str] = &["active", "disabled"];
/// Statuses of a subscription.
pub const SUBSCRIPTION_STATUSES: &[&str] = &["pending", "active", "inactive", "closed"];

/// Packages: plans with an activation fee, a periodical fee and included volumes.
pub static PACKAGES: EntityDef = EntityDef {
    table: "packages",
    module: "packages",
    singular: "package",
    fields: &[
        id(),
        FieldDef::new("id_companies", FieldKind::Ref("companies"))
            .aliases(&["companies_id"])
            .default(Default::CallerCompany)
            .required()
            .filterable(),
        FieldDef::new("name", NAME).required().filterable(),
        FieldDef::new("id_currencies", FieldKind::Ref("currencies"))
            .aliases(&["currencies_id"])
            .access(Access::CreateOnly)
            .default(Default::Int(1))
            .required()
            .filterable(),
        FieldDef::new("activation_fee", NON_NEGATIVE).default(Default::Money("0")),
        FieldDef::new("periodical_fee", NON_NEGATIVE)
            .aliases(&["subscription_fee"])
            .default(Default::Money("0")),
        FieldDef::new("period", FieldKind::Text { max: 8 })
            .default(Default::Text("P1M"))
            .required(),
        FieldDef::new("status", FieldKind::Enum(PACKAGE_STATUSES))
            .default(Default::Text("active"))
            .filterable(),
        // Included volumes: a JSON array of {"prefixes": ["44", ...], "seconds": N} per period.
        FieldDef::new("volumes", LONG_TEXT),
        c_dt(),
    ],
    tenancy: Tenancy::Column("id_companies"),
    ignored: &["apply", "_preload"],
    archivable: false,
};

/// Subscriptions: a package assigned to a client.
pub static SUBSCRIPTIONS: EntityDef = EntityDef {
    table: "subscriptions",
    module: "subscriptions",
    singular: "subscription",
    fields: &[
        id(),
        FieldDef::new("id_clients", FieldKind::Ref("clients"))
            .aliases(&["clients_id"])
            .access(Access::ReadOnly)
            .filterable(),
        FieldDef::new("id_packages", FieldKind::Ref("packages"))
            .aliases(&["packages_id"])
            .access(Access::ReadOnly)
            .filterable(),
        FieldDef::new("status", FieldKind::Enum(SUBSCRIPTION_STATUSES))
            .access(Access::ReadOnly)
            .filterable(),
        FieldDef::new("quantity", COUNT).access(Access::ReadOnly),
        FieldDef::new("start_dt", FieldKind::DateTime).access(Access::ReadOnly),
        FieldDef::new("stop_dt", FieldKind::DateTime).access(Access::ReadOnly),
        FieldDef::new("next_renewal_dt", FieldKind::DateTime).access(Access::ReadOnly),
        FieldDef::new("anchor_dt", FieldKind::DateTime).access(Access::ReadOnly),
        FieldDef::new("runs", COUNT).access(Access::ReadOnly),
        FieldDef::new("periods", COUNT).access(Access::ReadOnly),
        FieldDef::new("reason", TEXT).access(Access::ReadOnly),
        c_dt(),
    ],
    tenancy: Tenancy::Via {
        fk: "id_clients",
        table: "clients",
        column: "id_companies",
    },
    ignored: &["_preload"],
    archivable: false,
};

/// Stages of a provisioning handler.
pub const HANDLER_STAGES: &[&str] = &["before", "after"];
/// Kinds of provisioning handler.
pub const HANDLER_KINDS: &[&str] = &["http", "script", "callback"];
/// Statuses of a provisioning handler.
pub const HANDLER_STATUSES: &[&str] = &["enabled", "disabled"];
/// Payload formats of a provisioning handler.
pub const HANDLER_FORMATS: &[&str] = &["jerasoft", "portabilling"];
/// States of one delivery of an event to one `after` handler.
pub const DELIVERY_STATUSES: &[&str] = &["pending", "delivered", "failed"];
/// Outcomes of one handler execution.
pub const HANDLER_OUTCOMES: &[&str] = &["ok", "modified", "forbidden", "failed"];

/// Provisioning handlers: what runs on an event (an HTTP POST, a local script or a callback
/// registered by the embedding program), before or after the change.
pub static HANDLERS: EntityDef = EntityDef {
    table: "handlers",
    module: "provisioning",
    singular: "handler",
    fields: &[
        id(),
        FieldDef::new("id_companies", FieldKind::Ref("companies"))
            .aliases(&["companies_id"])
            .access(Access::CreateOnly)
            .default(Default::CallerCompany)
            .required()
            .filterable(),
        FieldDef::new("name", NAME).required().filterable(),
        FieldDef::new("event", FieldKind::Enum(crate::model::catalog::EVENT_IDS))
            .aliases(&["events_id"])
            .required()
            .filterable(),
        FieldDef::new("stage", FieldKind::Enum(HANDLER_STAGES))
            .default(Default::Text("after"))
            .required()
            .filterable(),
        FieldDef::new("kind", FieldKind::Enum(HANDLER_KINDS))
            .aliases(&["type"])
            .default(Default::Text("http"))
            .required()
            .filterable(),
        // The URL (http), program path (script) or registered callback name (callback).
        FieldDef::new(
            "target",
            FieldKind::Text {
                max: limits::handler_target_length_max,
            },
        )
        .aliases(&["task", "url"])
        .required(),
        // Lower runs first.
        FieldDef::new(
            "priority",
            FieldKind::Int {
                min: 0,
                max: 1_000_000,
            },
        )
        .default(Default::Int(10)),
        FieldDef::new("status", FieldKind::Enum(HANDLER_STATUSES))
            .default(Default::Text("enabled"))
            .filterable(),
        FieldDef::new("format", FieldKind::Enum(HANDLER_FORMATS))
            .default(Default::Text("jerasoft")),
        FieldDef::new(
            "timeout_ms",
            FieldKind::Int {
                min: limits::handler_timeout_ms_min as i64,
                max: limits::handler_timeout_ms_max as i64,
            },
        )
        .default(Default::Int(limits::handler_timeout_ms_default as i64)),
        // The HMAC key of HTTP deliveries (Standard Webhooks `whsec_...`): set or generated
        // on add, returned once by `provisioning.add`, never shown again.
        FieldDef::new("secret", FieldKind::Text { max: 128 }).access(Access::WriteOnly),
        c_dt(),
    ],
    tenancy: Tenancy::Column("id_companies"),
    ignored: &["apply", "_preload"],
    archivable: false,
};

/// The outbox: one row per event that at least one `after` handler subscribed to, written
/// in the transaction of the change that caused it.
pub static EVENTS: EntityDef = EntityDef {
    table: "events",
    module: "events",
    singular: "event",
    fields: &[
        id(),
        FieldDef::new("events_id", TEXT)
            .access(Access::ReadOnly)
            .filterable(),
        FieldDef::new("object_type", TEXT)
            .access(Access::ReadOnly)
            .filterable(),
        FieldDef::new("object_id", COUNT)
            .access(Access::ReadOnly)
            .filterable(),
        FieldDef::new("id_companies", FieldKind::Ref("companies"))
            .access(Access::ReadOnly)
            .filterable(),
        FieldDef::new("dt", FieldKind::DateTime).access(Access::ReadOnly),
        // The JeraSoft `data` object, as JSON text.
        FieldDef::new("data", FieldKind::Text { max: usize::MAX }).access(Access::ReadOnly),
    ],
    tenancy: Tenancy::Column("id_companies"),
    ignored: &["_preload"],
    archivable: false,
};

/// One delivery of an event to one `after` handler: its state, attempts and next try.
pub static EVENT_DELIVERIES: EntityDef = EntityDef {
    table: "event_deliveries",
    module: "event_deliveries",
    singular: "delivery",
    fields: &[
        id(),
        FieldDef::new("id_events", COUNT)
            .access(Access::ReadOnly)
            .filterable(),
        FieldDef::new("id_handlers", FieldKind::Ref("handlers"))
            .access(Access::ReadOnly)
            .filterable(),
        // `<object_type>:<object_id>`: deliveries of one key go out in event order.
        FieldDef::new("object_key", TEXT)
            .access(Access::ReadOnly)
            .filterable(),
        FieldDef::new("status", FieldKind::Enum(DELIVERY_STATUSES))
            .access(Access::ReadOnly)
            .filterable(),
        FieldDef::new("attempts", COUNT).access(Access::ReadOnly),
        FieldDef::new("next_dt", FieldKind::DateTime).access(Access::ReadOnly),
        FieldDef::new("last_error", LONG_TEXT).access(Access::ReadOnly),
        FieldDef::new("done_dt", FieldKind::DateTime).access(Access::ReadOnly),
    ],
    tenancy: Tenancy::Via {
        fk: "id_handlers",
        table: "handlers",
        column: "id_companies",
    },
    ignored: &["_preload"],
    archivable: false,
};

/// The execution log: one row per handler execution (every delivery attempt of an `after`
/// handler, and every `before` handler run of a change that went through).
pub static HANDLER_LOGS: EntityDef = EntityDef {
    table: "handler_logs",
    module: "provisioning",
    singular: "log",
    fields: &[
        id(),
        FieldDef::new("id_handlers", FieldKind::Ref("handlers"))
            .aliases(&["handlers_id"])
            .access(Access::ReadOnly)
            .filterable(),
        FieldDef::new("id_companies", FieldKind::Ref("companies"))
            .access(Access::ReadOnly)
            .filterable(),
        FieldDef::new("id_events", COUNT)
            .access(Access::ReadOnly)
            .filterable(),
        FieldDef::new("event", TEXT)
            .access(Access::ReadOnly)
            .filterable(),
        FieldDef::new("object_id", COUNT)
            .access(Access::ReadOnly)
            .filterable(),
        FieldDef::new("stage", FieldKind::Enum(HANDLER_STAGES))
            .access(Access::ReadOnly)
            .filterable(),
        FieldDef::new("attempt", COUNT).access(Access::ReadOnly),
        FieldDef::new("dt", FieldKind::DateTime).access(Access::ReadOnly),
        FieldDef::new("outcome", FieldKind::Enum(HANDLER_OUTCOMES))
            .access(Access::ReadOnly)
            .filterable(),
        FieldDef::new("status_code", COUNT).access(Access::ReadOnly),
        FieldDef::new("duration_ms", COUNT).access(Access::ReadOnly),
        FieldDef::new("error", LONG_TEXT).access(Access::ReadOnly),
    ],
    tenancy: Tenancy::Column("id_companies"),
    ignored: &["_preload"],
    archivable: false,
};

/// Tax profiles: a named percentage a client's invoices apply to their subtotal.
pub static TAX_PROFILES: EntityDef = EntityDef {
    table: "taxes_profiles",
    module: "taxProfiles",
    singular: "tax_profile",
    fields: &[
        id(),
        FieldDef::new("id_companies", FieldKind::Ref("companies"))
            .aliases(&["companies_id"])
            .default(Default::CallerCompany)
            .required()
            .filterable(),
        FieldDef::new("name", NAME).required().filterable(),
        // Exact decimal, 0 to 100 (checked by the module).
        FieldDef::new("percent", NON_NEGATIVE)
            .aliases(&["value"])
            .required(),
        c_dt(),
    ],
    tenancy: Tenancy::Column("id_companies"),
    ignored: &["apply", "_preload"],
    archivable: false,
};

/// Statuses of an invoice.
pub const INVOICE_STATUSES: &[&str] = &["issued", "void"];

/// Invoices: one client's charges of a half-open period, immutable once issued.
pub static INVOICES: EntityDef = EntityDef {
    table: "invoices",
    module: "invoices",
    singular: "invoice",
    fields: &[
        id(),
        FieldDef::new("id_companies", FieldKind::Ref("companies"))
            .access(Access::ReadOnly)
            .filterable(),
        FieldDef::new("id_clients", FieldKind::Ref("clients"))
            .aliases(&["clients_id"])
            .access(Access::ReadOnly)
            .filterable(),
        FieldDef::new("number", TEXT)
            .access(Access::ReadOnly)
            .filterable(),
        FieldDef::new("dt_from", FieldKind::DateTime).access(Access::ReadOnly),
        FieldDef::new("dt_till", FieldKind::DateTime).access(Access::ReadOnly),
        FieldDef::new("id_currencies", FieldKind::Ref("currencies")).access(Access::ReadOnly),
        FieldDef::new("subtotal", SIGNED).access(Access::ReadOnly),
        FieldDef::new("id_taxes_profiles", COUNT).access(Access::ReadOnly),
        FieldDef::new("tax_percent", NON_NEGATIVE).access(Access::ReadOnly),
        FieldDef::new("tax", SIGNED).access(Access::ReadOnly),
        FieldDef::new("total", SIGNED).access(Access::ReadOnly),
        FieldDef::new("payments", SIGNED).access(Access::ReadOnly),
        FieldDef::new("balance_brought_forward", SIGNED).access(Access::ReadOnly),
        FieldDef::new("balance_carried_forward", SIGNED).access(Access::ReadOnly),
        FieldDef::new("status", FieldKind::Enum(INVOICE_STATUSES))
            .access(Access::ReadOnly)
            .filterable(),
        FieldDef::new("id_transactions", COUNT).access(Access::ReadOnly),
        FieldDef::new("void_id_transactions", COUNT).access(Access::ReadOnly),
        FieldDef::new("void_reason", LONG_TEXT).access(Access::ReadOnly),
        FieldDef::new("void_dt", FieldKind::DateTime).access(Access::ReadOnly),
        c_dt(),
    ],
    tenancy: Tenancy::Column("id_companies"),
    ignored: &["_preload"],
    archivable: false,
};

/// Kinds of invoice line.
pub const INVOICE_LINE_KINDS: &[&str] = &["calls", "package_fee", "charge", "refund", "adjustment"];

/// The lines of an invoice (written with it, never changed).
pub static INVOICE_LINES: EntityDef = EntityDef {
    table: "invoice_lines",
    module: "invoice_lines",
    singular: "line",
    fields: &[
        id(),
        FieldDef::new("id_invoices", FieldKind::Ref("invoices"))
            .access(Access::ReadOnly)
            .filterable(),
        FieldDef::new("kind", FieldKind::Enum(INVOICE_LINE_KINDS)).access(Access::ReadOnly),
        // The destination's `code_name` for calls, the entry type otherwise.
        FieldDef::new("description", LONG_TEXT).access(Access::ReadOnly),
        FieldDef::new("calls", COUNT).access(Access::ReadOnly),
        FieldDef::new("billed_seconds", COUNT).access(Access::ReadOnly),
        FieldDef::new("minutes", SIGNED).access(Access::ReadOnly),
        FieldDef::new("amount", SIGNED).access(Access::ReadOnly),
    ],
    tenancy: Tenancy::Via {
        fk: "id_invoices",
        table: "invoices",
        column: "id_companies",
    },
    ignored: &["_preload"],
    archivable: false,
};

/// Every entity, for tests that walk them.
pub static ALL_ENTITIES: &[&EntityDef] = &[
    &COMPANIES,
    &CLIENTS,
    &ACCOUNTS,
    &CURRENCIES,
    &EXCHANGE_RATES,
    &CUSTOM_FIELDS,
    &AUDIT,
    &USERS,
    &ROLES,
    &RATE_TABLES,
    &RATES,
    &TRANSACTIONS,
    &XDRS,
    &PACKAGES,
    &SUBSCRIPTIONS,
    &HANDLERS,
    &EVENTS,
    &EVENT_DELIVERIES,
    &HANDLER_LOGS,
    &TAX_PROFILES,
    &INVOICES,
    &INVOICE_LINES,
];

/// The entity stored in `table`.
pub fn entity_by_table(table: &str) -> Option<&'static EntityDef> {
    ALL_ENTITIES.iter().copied().find(|e| e.table == table)
}
