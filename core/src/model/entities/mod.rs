//! The entities of the Management API. One description per table: the API derives argument
//! schemas from it and the store derives columns from it.
//!
//! One file per thing an entity belongs to: the tenants and who acts for them (`parties`),
//! money and prices (`money`), plans (`packages`), provisioning (`events`); the field kinds
//! they share, and the list of them all, are here.

mod events;
mod money;
mod packages;
mod parties;

pub use events::*;
pub use money::*;
pub use packages::*;
pub use parties::*;

use super::{Access, Default, EntityDef, FieldDef, FieldKind, Tenancy};
use crate::limits;

pub(super) const NAME: FieldKind = FieldKind::Text {
    max: limits::name_length_max,
};
pub(super) const TEXT: FieldKind = FieldKind::Text {
    max: limits::text_length_max,
};
pub(super) const LONG_TEXT: FieldKind = FieldKind::Text {
    max: limits::long_text_length_max,
};
pub(super) const CAPACITY: FieldKind = FieldKind::Int {
    min: 0,
    max: 1_000_000,
};

pub(super) const fn id() -> FieldDef {
    FieldDef::new("id", FieldKind::Id)
        .access(Access::ReadOnly)
        .filterable()
}
pub(super) const fn c_dt() -> FieldDef {
    FieldDef::new("c_dt", FieldKind::DateTime)
        .access(Access::ReadOnly)
        .default(Default::Now)
}

pub(super) const SECONDS: FieldKind = FieldKind::Int {
    min: 0,
    max: limits::rate_seconds_max,
};
pub(super) const NON_NEGATIVE: FieldKind = FieldKind::Money { non_negative: true };
pub(super) const SIGNED: FieldKind = FieldKind::Money {
    non_negative: false,
};
pub(super) const COUNT: FieldKind = FieldKind::Int {
    min: 0,
    max: i64::MAX,
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
    &XDR_HISTORY,
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
