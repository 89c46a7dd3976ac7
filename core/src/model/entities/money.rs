//! Money and prices: currencies and exchange rates, rate tables and rates, the ledger, rated
//! calls, tax profiles and invoices.

use super::*;

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
    // Re-rating of an xDR already on an issued invoice (docs/invoices.md): the difference,
    // as a line of the next invoice.
    "credit_note",
    "debit_note",
];

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

/// What a re-rated xDR was priced at before (one row per re-rating that changed it), and the
/// adjustment entry that posted the difference. Written only by the engine.
pub static XDR_HISTORY: EntityDef = EntityDef {
    table: "xdr_history",
    module: "xdrs",
    singular: "xdr_history",
    fields: &[
        id(),
        FieldDef::new("id_xdrs", COUNT)
            .access(Access::ReadOnly)
            .filterable(),
        FieldDef::new("id_rate_tables", FieldKind::Ref("rate_tables")).access(Access::ReadOnly),
        FieldDef::new("code", TEXT).access(Access::ReadOnly),
        FieldDef::new("code_name", NAME).access(Access::ReadOnly),
        FieldDef::new("rate", SIGNED).access(Access::ReadOnly),
        FieldDef::new("setup_fee", SIGNED).access(Access::ReadOnly),
        FieldDef::new("min_volume", COUNT).access(Access::ReadOnly),
        FieldDef::new("interval", COUNT).access(Access::ReadOnly),
        FieldDef::new("grace_volume", COUNT).access(Access::ReadOnly),
        FieldDef::new("billed_seconds", COUNT).access(Access::ReadOnly),
        FieldDef::new("cost", SIGNED).access(Access::ReadOnly),
        FieldDef::new("id_transactions", COUNT).access(Access::ReadOnly),
        c_dt(),
    ],
    tenancy: Tenancy::Via {
        fk: "id_xdrs",
        table: "xdrs",
        column: "id_companies",
    },
    ignored: &[],
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
pub const INVOICE_LINE_KINDS: &[&str] = &[
    "calls",
    "package_fee",
    "charge",
    "refund",
    "adjustment",
    "credit_note",
    "debit_note",
];

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
