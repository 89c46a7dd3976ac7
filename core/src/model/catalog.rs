//! The event catalog (DESIGN §9, JeraSoft's event ids) and which Management API method causes
//! which event.

use crate::model::{EntityDef, ACCOUNTS, CLIENTS, RATE_TABLES, SUBSCRIPTIONS};

/// `clients.create`
pub const CLIENTS_CREATE: &str = "clients.create";
/// `clients.update`: carries the id and the changed fields.
pub const CLIENTS_UPDATE: &str = "clients.update";
/// `clients.delete`
pub const CLIENTS_DELETE: &str = "clients.delete";
/// `clients.archive`
pub const CLIENTS_ARCHIVE: &str = "clients.archive";
/// `clients.custom_fields.update`
pub const CLIENTS_CUSTOM_FIELDS_UPDATE: &str = "clients.custom_fields.update";
/// `clients.balance_notzero`: the balance became >= 0 (it was below zero).
pub const CLIENTS_BALANCE_NOTZERO: &str = "clients.balance_notzero";
/// `clients.balance_zero`: the balance became <= 0 (it was above zero).
pub const CLIENTS_BALANCE_ZERO: &str = "clients.balance_zero";
/// `clients.accounts.create`
pub const ACCOUNTS_CREATE: &str = "clients.accounts.create";
/// `clients.accounts.update`
pub const ACCOUNTS_UPDATE: &str = "clients.accounts.update";
/// `clients.accounts.delete`
pub const ACCOUNTS_DELETE: &str = "clients.accounts.delete";
/// `clients.subscriptions.assign`
pub const SUBSCRIPTIONS_ASSIGN: &str = "clients.subscriptions.assign";
/// `clients.subscriptions.activate`
pub const SUBSCRIPTIONS_ACTIVATE: &str = "clients.subscriptions.activate";
/// `clients.subscriptions.deactivate`
pub const SUBSCRIPTIONS_DEACTIVATE: &str = "clients.subscriptions.deactivate";
/// `clients.subscriptions.renew`
pub const SUBSCRIPTIONS_RENEW: &str = "clients.subscriptions.renew";
/// `clients.subscriptions.close`
pub const SUBSCRIPTIONS_CLOSE: &str = "clients.subscriptions.close";

/// `rates.changed`: a deck import changed a rate table; carries the table and the counts
/// (`added`, `changed`, `closed`, `unchanged`), so a handler can tell customers of new prices.
pub const RATES_CHANGED: &str = "rates.changed";

/// `clients.invoices.create`: an invoice was issued for the client (`invoices.add` or the
/// clock's auto-invoicing); carries the invoice as `invoices.editForm` shows it.
pub const INVOICES_CREATE: &str = "clients.invoices.create";

/// Every event id, in catalog order.
pub const EVENT_IDS: &[&str] = &[
    CLIENTS_CREATE,
    CLIENTS_UPDATE,
    CLIENTS_DELETE,
    CLIENTS_ARCHIVE,
    CLIENTS_CUSTOM_FIELDS_UPDATE,
    CLIENTS_BALANCE_NOTZERO,
    CLIENTS_BALANCE_ZERO,
    ACCOUNTS_CREATE,
    ACCOUNTS_UPDATE,
    ACCOUNTS_DELETE,
    SUBSCRIPTIONS_ASSIGN,
    SUBSCRIPTIONS_ACTIVATE,
    SUBSCRIPTIONS_DEACTIVATE,
    SUBSCRIPTIONS_RENEW,
    SUBSCRIPTIONS_CLOSE,
    RATES_CHANGED,
    INVOICES_CREATE,
];

/// Balance events come from ledger postings (calls, payments, fees, refunds), never from one
/// API method with input data: they have an `after` stage only.
/// So has `rates.changed`: it reports what an import did, once it is done; and
/// `clients.invoices.create`, raised by the clock as well as by `invoices.add`.
pub fn after_only(event: &str) -> bool {
    event == CLIENTS_BALANCE_NOTZERO
        || event == CLIENTS_BALANCE_ZERO
        || event == RATES_CHANGED
        || event == INVOICES_CREATE
}

/// The kind of object an event is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Object {
    /// A client (`object_id` = client id).
    Client,
    /// An account.
    Account,
    /// A subscription (a package assigned to a client).
    Subscription,
    /// A rate table.
    RateTable,
}

impl Object {
    /// The name stored with the event (`clients`, `accounts`, `subscriptions`).
    pub fn as_str(self) -> &'static str {
        match self {
            Object::Client => "clients",
            Object::Account => "accounts",
            Object::Subscription => "subscriptions",
            Object::RateTable => "rate_tables",
        }
    }

    /// The entity holding objects of this kind.
    pub fn entity(self) -> &'static EntityDef {
        match self {
            Object::Client => &CLIENTS,
            Object::Account => &ACCOUNTS,
            Object::Subscription => &SUBSCRIPTIONS,
            Object::RateTable => &RATE_TABLES,
        }
    }
}

/// What a method does to its object, for events.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    /// Creates the object; its id is the `id` of the reply.
    Create,
    /// Changes fields of the object named by the `id` argument.
    Update,
    /// Deletes it.
    Delete,
    /// Archives it.
    Archive,
    /// Changes its custom field values.
    CustomFields,
    /// Assigns a package (creates a subscription, which may activate at once).
    Assign,
    /// A subscription lifecycle step: the events follow its status transitions.
    Lifecycle,
    /// Loads a deck into the rate table named by `id_rate_tables`; the event carries the
    /// method's answer.
    Import,
}

/// The events one Management API method causes (declared on its `MethodDef`).
#[derive(Debug, Clone, Copy)]
pub struct MethodEvents {
    /// The object kind.
    pub object: Object,
    /// The change.
    pub change: Change,
    /// The event a `before` handler is asked about.
    pub before: &'static str,
}

/// The PortaBilling ESPF event type of an event (`Customer/Updated`...).
pub fn portabilling_type(event: &str) -> &'static str {
    match event {
        CLIENTS_CREATE => "Customer/Created",
        CLIENTS_DELETE => "Customer/Deleted",
        ACCOUNTS_CREATE => "Subscriber/Created",
        ACCOUNTS_UPDATE => "Subscriber/Updated",
        ACCOUNTS_DELETE => "Subscriber/Deleted",
        // Updates, archiving, custom fields, balance crossings and product (package) changes
        // are all "Updated" in ESPF; the receiver pulls the details.
        _ => "Customer/Updated",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_catalog_has_the_vendors_fifteen_events_rates_changed_and_invoices_create() {
        assert_eq!(EVENT_IDS.len(), 17);
        assert!(after_only(RATES_CHANGED));
        assert!(after_only(INVOICES_CREATE));
        assert!(after_only(CLIENTS_BALANCE_ZERO) && !after_only(CLIENTS_UPDATE));
    }
}
