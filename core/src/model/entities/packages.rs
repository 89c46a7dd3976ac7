//! Plans: packages and the subscriptions that assign them to clients.

use super::*;

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
