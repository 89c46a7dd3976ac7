//! Numbered schema migrations, applied in order in one transaction at open.

/// `PRAGMA application_id` of a Tollgate database ("TGLT").
pub const APPLICATION_ID: i64 = 0x5447_4C54;

/// One migration.
pub struct Migration {
    /// Version reached after it runs.
    pub version: i64,
    /// What it does.
    pub name: &'static str,
    /// The SQL.
    pub sql: &'static str,
}

/// Every migration, in order. Never edit a released one: add the next number.
pub const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        name: "foundation",
        sql: V1,
    },
    Migration {
        version: 2,
        name: "security",
        sql: V2,
    },
    Migration {
        version: 3,
        name: "money engine",
        sql: V3,
    },
    Migration {
        version: 4,
        name: "packages",
        sql: V4,
    },
    Migration {
        version: 5,
        name: "included volumes",
        sql: V5,
    },
    Migration {
        version: 6,
        name: "provisioning events",
        sql: V6,
    },
    Migration {
        version: 7,
        name: "tenant-scoped idempotency keys and call ids",
        sql: V7,
    },
    Migration {
        version: 8,
        name: "audited settles and overruns",
        sql: V8,
    },
    Migration {
        version: 9,
        name: "billing cycle: tax profiles and invoices",
        sql: V9,
    },
    Migration {
        version: 10,
        name: "durable reservations",
        sql: V10,
    },
    Migration {
        version: 11,
        name: "re-rating: the history of an xDR's prices",
        sql: V11,
    },
    Migration {
        version: 12,
        name: "API tokens",
        sql: V12,
    },
    Migration {
        version: 13,
        name: "billing cycle: invoice PDFs and auto-invoicing",
        sql: V13,
    },
];

/// The schema version this build writes: the last migration's.
pub const SCHEMA_VERSION: i64 = 13;

// Released migrations are never edited, so the column defaults in them stay literal; the
// test at the end checks them against their names in `limits` (a changed limit needs a new
// migration, not an edit here).
const V1: &str = r#"
CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

CREATE TABLE companies (
    id        INTEGER PRIMARY KEY,
    parent_id INTEGER REFERENCES companies(id),
    name      TEXT NOT NULL,
    status    TEXT NOT NULL DEFAULT 'active',
    c_dt      TEXT NOT NULL
);
CREATE INDEX companies_parent ON companies(parent_id);

CREATE TABLE currencies (
    id                INTEGER PRIMARY KEY,
    code              TEXT NOT NULL UNIQUE,
    name              TEXT NOT NULL,
    rates_precision   INTEGER NOT NULL DEFAULT 4,
    details_precision INTEGER NOT NULL DEFAULT 4,
    totals_precision  INTEGER NOT NULL DEFAULT 2,
    c_dt              TEXT NOT NULL
);

CREATE TABLE exchange_rates (
    id               INTEGER PRIMARY KEY,
    id_currencies    INTEGER NOT NULL REFERENCES currencies(id),
    id_currencies_to INTEGER NOT NULL REFERENCES currencies(id),
    rate             TEXT NOT NULL,
    effective_from   TEXT NOT NULL,
    c_dt             TEXT NOT NULL
);
CREATE INDEX exchange_rates_pair ON exchange_rates(id_currencies, id_currencies_to, effective_from);

CREATE TABLE clients (
    id              INTEGER PRIMARY KEY,
    id_companies    INTEGER NOT NULL REFERENCES companies(id),
    name            TEXT NOT NULL,
    type            INTEGER NOT NULL DEFAULT 0,
    groups          TEXT,
    status          TEXT NOT NULL DEFAULT 'active',
    id_currencies   INTEGER NOT NULL REFERENCES currencies(id),
    balance         TEXT NOT NULL DEFAULT '0',
    credit          TEXT NOT NULL DEFAULT '0',
    c_company       TEXT,
    c_address       TEXT,
    c_email         TEXT,
    c_email_tech    TEXT,
    c_email_billing TEXT,
    c_email_rates   TEXT,
    capacity        INTEGER,
    orig_rate_table INTEGER,
    c_dt            TEXT NOT NULL
);
CREATE INDEX clients_company ON clients(id_companies);

CREATE TABLE accounts (
    id              INTEGER PRIMARY KEY,
    id_clients      INTEGER NOT NULL REFERENCES clients(id),
    name            TEXT NOT NULL,
    auth_type       TEXT NOT NULL,
    ident           TEXT NOT NULL,
    password        TEXT,
    status          TEXT NOT NULL DEFAULT 'active',
    capacity        INTEGER,
    orig_rate_table INTEGER,
    c_dt            TEXT NOT NULL,
    UNIQUE (auth_type, ident)
);
CREATE INDEX accounts_client ON accounts(id_clients);

CREATE TABLE custom_fields (
    id       INTEGER PRIMARY KEY,
    module   TEXT NOT NULL,
    name     TEXT NOT NULL,
    type     TEXT NOT NULL,
    required INTEGER NOT NULL DEFAULT 0,
    options  TEXT,
    c_dt     TEXT NOT NULL,
    UNIQUE (module, name)
);

CREATE TABLE custom_field_values (
    id_custom_fields INTEGER NOT NULL REFERENCES custom_fields(id) ON DELETE CASCADE,
    object_id        INTEGER NOT NULL,
    value            TEXT NOT NULL,
    PRIMARY KEY (id_custom_fields, object_id)
);
CREATE INDEX custom_field_values_object ON custom_field_values(object_id);

CREATE TABLE roles (
    id          INTEGER PRIMARY KEY,
    name        TEXT NOT NULL UNIQUE,
    permissions TEXT NOT NULL,
    builtin     INTEGER NOT NULL DEFAULT 0,
    c_dt        TEXT NOT NULL
);
INSERT INTO roles (id, name, permissions, builtin, c_dt)
VALUES (1, 'Administrator', '{"*":["read","write","execute","delete","billing"]}', 1, '1970-01-01 00:00:00+00');

CREATE TABLE users (
    id            INTEGER PRIMARY KEY,
    login         TEXT NOT NULL UNIQUE,
    password_hash TEXT NOT NULL,
    id_roles      INTEGER NOT NULL REFERENCES roles(id),
    id_companies  INTEGER NOT NULL REFERENCES companies(id),
    status        TEXT NOT NULL DEFAULT 'active',
    failed_logins INTEGER NOT NULL DEFAULT 0,
    locked_until  TEXT,
    c_dt          TEXT NOT NULL
);

CREATE TABLE sessions (
    id         INTEGER PRIMARY KEY,
    token_hash TEXT NOT NULL UNIQUE,
    id_users   INTEGER NOT NULL REFERENCES users(id),
    created_at INTEGER NOT NULL,
    last_seen  INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    revoked    INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX sessions_user ON sessions(id_users);

CREATE TABLE audit (
    id           INTEGER PRIMARY KEY,
    dt           TEXT NOT NULL,
    id_users     INTEGER NOT NULL,
    login        TEXT NOT NULL,
    id_sessions  INTEGER,
    id_companies INTEGER NOT NULL,
    method       TEXT NOT NULL,
    objects      TEXT NOT NULL,
    outcome      TEXT NOT NULL
);
CREATE INDEX audit_company ON audit(id_companies);
"#;

/// Security: built-in roles, the users' `password` column under the name the API uses,
/// access-token sessions (`jti`) and single-use refresh tokens.
const V2: &str = r#"
INSERT INTO roles (id, name, permissions, builtin, c_dt) VALUES
 (2, 'Reseller', '{"companies":["read","write"],"clients":["read","write","delete","billing"],"accounts":["read","write","delete"],"currencies":["read"],"customFields":["read"],"users":["read","write","delete"],"roles":["read"],"audit":["read"],"rateTables":["read","write","delete"],"rates":["read","write","delete"],"transactions":["read","billing"],"packages":["read","write","delete"],"subscriptions":["read","write","execute"],"xdrs":["read"]}', 1, '1970-01-01 00:00:00+00'),
 (3, 'Monitoring', '{"*":["read"]}', 1, '1970-01-01 00:00:00+00'),
 (4, 'API Client Portal', '{"clients":["read"],"accounts":["read"]}', 1, '1970-01-01 00:00:00+00');

ALTER TABLE users RENAME COLUMN password_hash TO password;
CREATE INDEX users_company ON users(id_companies);

-- The public identifier of a session carried as `jti` in access tokens. It is not a
-- credential: only the SID (hashed in token_hash) and signed tokens authenticate.
ALTER TABLE sessions ADD COLUMN jti TEXT;
CREATE UNIQUE INDEX sessions_jti ON sessions(jti);

CREATE TABLE refresh_tokens (
    id          INTEGER PRIMARY KEY,
    id_sessions INTEGER NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
    token_hash  TEXT NOT NULL UNIQUE,
    created_at  INTEGER NOT NULL,
    used_at     INTEGER
);
CREATE INDEX refresh_tokens_session ON refresh_tokens(id_sessions);
"#;

/// The money engine: rate tables and rates, the ledger, xDRs, company capacity.
const V3: &str = r#"
ALTER TABLE companies ADD COLUMN capacity INTEGER;

CREATE TABLE rate_tables (
    id            INTEGER PRIMARY KEY,
    id_companies  INTEGER NOT NULL REFERENCES companies(id),
    name          TEXT NOT NULL,
    id_currencies INTEGER NOT NULL REFERENCES currencies(id),
    rounding      TEXT NOT NULL DEFAULT 'half_up',
    c_dt          TEXT NOT NULL
);
CREATE INDEX rate_tables_company ON rate_tables(id_companies);

CREATE TABLE rates (
    id             INTEGER PRIMARY KEY,
    id_rate_tables INTEGER NOT NULL REFERENCES rate_tables(id) ON DELETE CASCADE,
    code           TEXT NOT NULL,
    code_name      TEXT,
    rate           TEXT NOT NULL,
    min_volume     INTEGER NOT NULL DEFAULT 0,
    interval       INTEGER NOT NULL DEFAULT 1,
    grace_volume   INTEGER NOT NULL DEFAULT 0,
    setup_fee      TEXT NOT NULL DEFAULT '0',
    effective_from TEXT NOT NULL,
    effective_till TEXT,
    c_dt           TEXT NOT NULL
);
CREATE INDEX rates_table_code ON rates(id_rate_tables, code, effective_from);

CREATE TABLE transactions (
    id                 INTEGER PRIMARY KEY,
    id_clients         INTEGER NOT NULL REFERENCES clients(id),
    type               TEXT NOT NULL,
    amount             TEXT NOT NULL,
    id_currencies      INTEGER NOT NULL REFERENCES currencies(id),
    orig_amount        TEXT,
    orig_id_currencies INTEGER REFERENCES currencies(id),
    exchange_rate      TEXT,
    balance_after      TEXT NOT NULL,
    dt                 TEXT NOT NULL,
    notes              TEXT,
    author             INTEGER NOT NULL DEFAULT 0,
    idempotency_key    TEXT UNIQUE,
    request_hash       TEXT,
    reference          TEXT
);
CREATE INDEX transactions_client ON transactions(id_clients, id);

CREATE TABLE xdrs (
    id              INTEGER PRIMARY KEY,
    call_id         TEXT NOT NULL UNIQUE,
    id_accounts     INTEGER NOT NULL REFERENCES accounts(id),
    id_clients      INTEGER NOT NULL REFERENCES clients(id),
    src             TEXT,
    dst             TEXT NOT NULL,
    code            TEXT NOT NULL,
    code_name       TEXT,
    id_rate_tables  INTEGER NOT NULL,
    rate            TEXT NOT NULL,
    setup_fee       TEXT NOT NULL,
    min_volume      INTEGER NOT NULL,
    interval        INTEGER NOT NULL,
    grace_volume    INTEGER NOT NULL,
    duration        INTEGER NOT NULL,
    billed_seconds  INTEGER NOT NULL,
    cost            TEXT NOT NULL,
    id_currencies   INTEGER NOT NULL,
    connect_time    TEXT NOT NULL,
    end_time        TEXT NOT NULL,
    reservation     INTEGER,
    unreserved      INTEGER NOT NULL DEFAULT 0,
    id_transactions INTEGER,
    request_hash    TEXT NOT NULL,
    c_dt            TEXT NOT NULL
);
CREATE INDEX xdrs_client ON xdrs(id_clients, id);
"#;

/// Packages and subscriptions.
const V4: &str = r#"
CREATE TABLE packages (
    id             INTEGER PRIMARY KEY,
    id_companies   INTEGER NOT NULL REFERENCES companies(id),
    name           TEXT NOT NULL,
    id_currencies  INTEGER NOT NULL REFERENCES currencies(id),
    activation_fee TEXT NOT NULL DEFAULT '0',
    periodical_fee TEXT NOT NULL DEFAULT '0',
    period         TEXT NOT NULL,
    status         TEXT NOT NULL DEFAULT 'active',
    volumes        TEXT,
    c_dt           TEXT NOT NULL
);
CREATE INDEX packages_company ON packages(id_companies);

CREATE TABLE subscriptions (
    id              INTEGER PRIMARY KEY,
    id_clients      INTEGER NOT NULL REFERENCES clients(id),
    id_packages     INTEGER NOT NULL REFERENCES packages(id),
    status          TEXT NOT NULL DEFAULT 'pending',
    quantity        INTEGER NOT NULL DEFAULT 1,
    start_dt        TEXT,
    stop_dt         TEXT,
    next_renewal_dt TEXT,
    anchor_dt       TEXT,
    runs            INTEGER NOT NULL DEFAULT 0,
    periods         INTEGER NOT NULL DEFAULT 0,
    reason          TEXT,
    c_dt            TEXT NOT NULL
);
CREATE INDEX subscriptions_client ON subscriptions(id_clients);
CREATE INDEX subscriptions_due ON subscriptions(status, next_renewal_dt);
"#;

/// Included volumes: seconds used per subscription, run, period and volume entry; which
/// subscription's bundle an xDR drew on, and how many seconds.
const V5: &str = r#"
CREATE TABLE subscription_usage (
    id_subscriptions INTEGER NOT NULL REFERENCES subscriptions(id),
    run              INTEGER NOT NULL,
    period           INTEGER NOT NULL,
    entry            INTEGER NOT NULL,
    used_seconds     INTEGER NOT NULL,
    PRIMARY KEY (id_subscriptions, run, period, entry)
) WITHOUT ROWID;

ALTER TABLE xdrs ADD COLUMN id_subscriptions INTEGER REFERENCES subscriptions(id);
ALTER TABLE xdrs ADD COLUMN volume_seconds INTEGER NOT NULL DEFAULT 0;
"#;

/// Provisioning: handlers, the transactional outbox (events and one delivery per `after`
/// handler), and the execution log. Self-contained.
const V6: &str = r#"
CREATE TABLE handlers (
    id           INTEGER PRIMARY KEY,
    id_companies INTEGER NOT NULL REFERENCES companies(id),
    name         TEXT NOT NULL,
    event        TEXT NOT NULL,
    stage        TEXT NOT NULL DEFAULT 'after',
    kind         TEXT NOT NULL DEFAULT 'http',
    target       TEXT NOT NULL,
    priority     INTEGER NOT NULL DEFAULT 10,
    status       TEXT NOT NULL DEFAULT 'enabled',
    format       TEXT NOT NULL DEFAULT 'jerasoft',
    timeout_ms   INTEGER NOT NULL DEFAULT 5000,
    secret       TEXT,
    c_dt         TEXT NOT NULL
);
CREATE INDEX handlers_event ON handlers(event, stage, status);
CREATE INDEX handlers_company ON handlers(id_companies);

-- AUTOINCREMENT: event ids are never reused, so receivers may keep them as idempotency keys.
CREATE TABLE events (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    events_id    TEXT NOT NULL,
    object_type  TEXT NOT NULL,
    object_id    INTEGER NOT NULL,
    id_companies INTEGER NOT NULL,
    dt           TEXT NOT NULL,
    data         TEXT NOT NULL
);

CREATE TABLE event_deliveries (
    id           INTEGER PRIMARY KEY,
    id_events    INTEGER NOT NULL REFERENCES events(id) ON DELETE CASCADE,
    id_handlers  INTEGER NOT NULL REFERENCES handlers(id) ON DELETE CASCADE,
    object_key   TEXT NOT NULL,
    status       TEXT NOT NULL DEFAULT 'pending',
    attempts     INTEGER NOT NULL DEFAULT 0,
    next_dt      TEXT NOT NULL,
    last_error   TEXT,
    done_dt      TEXT
);
CREATE INDEX event_deliveries_status ON event_deliveries(status, id);
CREATE INDEX event_deliveries_handler ON event_deliveries(id_handlers);
CREATE INDEX event_deliveries_event ON event_deliveries(id_events);

CREATE TABLE handler_logs (
    id           INTEGER PRIMARY KEY,
    id_handlers  INTEGER NOT NULL REFERENCES handlers(id) ON DELETE CASCADE,
    id_companies INTEGER NOT NULL,
    id_events    INTEGER,
    event        TEXT NOT NULL,
    object_id    INTEGER,
    stage        TEXT NOT NULL,
    attempt      INTEGER NOT NULL,
    dt           TEXT NOT NULL,
    outcome      TEXT NOT NULL,
    status_code  INTEGER,
    duration_ms  INTEGER NOT NULL,
    error        TEXT
);
CREATE INDEX handler_logs_handler ON handler_logs(id_handlers, id);
CREATE INDEX handler_logs_company ON handler_logs(id_companies);

-- Resellers manage the handlers of their own subtree (HTTP only; scripts and callbacks are
-- the operator's).
UPDATE roles SET permissions = json_set(permissions, '$.provisioning', json('["read","write","delete"]'))
WHERE id = 2 AND builtin = 1;
"#;

/// Idempotency keys are unique per client and call ids per company (the company of the
/// call's client), no longer across the whole database: one tenant can neither see nor take
/// another's keys. SQLite cannot drop an inline UNIQUE, so both tables are rebuilt with the
/// same columns (xDRs gain the key's company) and their rows copied.
const V7: &str = r#"
CREATE TABLE transactions_v7 (
    id                 INTEGER PRIMARY KEY,
    id_clients         INTEGER NOT NULL REFERENCES clients(id),
    type               TEXT NOT NULL,
    amount             TEXT NOT NULL,
    id_currencies      INTEGER NOT NULL REFERENCES currencies(id),
    orig_amount        TEXT,
    orig_id_currencies INTEGER REFERENCES currencies(id),
    exchange_rate      TEXT,
    balance_after      TEXT NOT NULL,
    dt                 TEXT NOT NULL,
    notes              TEXT,
    author             INTEGER NOT NULL DEFAULT 0,
    idempotency_key    TEXT,
    request_hash       TEXT,
    reference          TEXT
);
INSERT INTO transactions_v7 SELECT * FROM transactions;
DROP TABLE transactions;
ALTER TABLE transactions_v7 RENAME TO transactions;
CREATE INDEX transactions_client ON transactions(id_clients, id);
CREATE UNIQUE INDEX transactions_client_key ON transactions(id_clients, idempotency_key);

CREATE TABLE xdrs_v7 (
    id               INTEGER PRIMARY KEY,
    call_id          TEXT NOT NULL,
    id_accounts      INTEGER NOT NULL REFERENCES accounts(id),
    id_clients       INTEGER NOT NULL REFERENCES clients(id),
    src              TEXT,
    dst              TEXT NOT NULL,
    code             TEXT NOT NULL,
    code_name        TEXT,
    id_rate_tables   INTEGER NOT NULL,
    rate             TEXT NOT NULL,
    setup_fee        TEXT NOT NULL,
    min_volume       INTEGER NOT NULL,
    interval         INTEGER NOT NULL,
    grace_volume     INTEGER NOT NULL,
    duration         INTEGER NOT NULL,
    billed_seconds   INTEGER NOT NULL,
    cost             TEXT NOT NULL,
    id_currencies    INTEGER NOT NULL,
    connect_time     TEXT NOT NULL,
    end_time         TEXT NOT NULL,
    reservation      INTEGER,
    unreserved       INTEGER NOT NULL DEFAULT 0,
    id_transactions  INTEGER,
    request_hash     TEXT NOT NULL,
    c_dt             TEXT NOT NULL,
    id_subscriptions INTEGER REFERENCES subscriptions(id),
    volume_seconds   INTEGER NOT NULL DEFAULT 0,
    id_companies     INTEGER NOT NULL REFERENCES companies(id)
);
INSERT INTO xdrs_v7 SELECT x.*, c.id_companies FROM xdrs x JOIN clients c ON c.id = x.id_clients;
DROP TABLE xdrs;
ALTER TABLE xdrs_v7 RENAME TO xdrs;
CREATE INDEX xdrs_client ON xdrs(id_clients, id);
CREATE UNIQUE INDEX xdrs_company_call ON xdrs(id_companies, call_id);
"#;

/// Every settle leaves an audit row naming its call id; an xDR records the seconds a call ran
/// past its grant.
const V8: &str = r#"
ALTER TABLE audit ADD COLUMN call_id TEXT;
CREATE INDEX audit_call ON audit(call_id);
ALTER TABLE xdrs ADD COLUMN overrun_seconds INTEGER NOT NULL DEFAULT 0;
"#;

/// The billing cycle: tax profiles (a client selects one), invoices with their lines and a
/// per-company number sequence, and on xDRs and ledger entries the invoice that covered them
/// (so a late xDR of an invoiced period goes on the next invoice, and a void frees them).
const V9: &str = r#"
CREATE TABLE taxes_profiles (
    id           INTEGER PRIMARY KEY,
    id_companies INTEGER NOT NULL REFERENCES companies(id),
    name         TEXT NOT NULL,
    percent      TEXT NOT NULL,
    c_dt         TEXT NOT NULL
);
CREATE INDEX taxes_profiles_company ON taxes_profiles(id_companies);
ALTER TABLE clients ADD COLUMN id_taxes_profiles INTEGER REFERENCES taxes_profiles(id);
ALTER TABLE companies ADD COLUMN invoice_prefix TEXT NOT NULL DEFAULT 'INV-';

CREATE TABLE invoice_sequences (
    id_companies INTEGER PRIMARY KEY REFERENCES companies(id),
    last         INTEGER NOT NULL
);

CREATE TABLE invoices (
    id                      INTEGER PRIMARY KEY,
    id_companies            INTEGER NOT NULL REFERENCES companies(id),
    id_clients              INTEGER NOT NULL REFERENCES clients(id),
    number                  TEXT NOT NULL,
    dt_from                 TEXT NOT NULL,
    dt_till                 TEXT NOT NULL,
    id_currencies           INTEGER NOT NULL REFERENCES currencies(id),
    subtotal                TEXT NOT NULL,
    id_taxes_profiles       INTEGER,
    tax_percent             TEXT NOT NULL,
    tax                     TEXT NOT NULL,
    total                   TEXT NOT NULL,
    payments                TEXT NOT NULL,
    balance_brought_forward TEXT NOT NULL,
    balance_carried_forward TEXT NOT NULL,
    status                  TEXT NOT NULL DEFAULT 'issued',
    id_transactions         INTEGER,
    void_id_transactions    INTEGER,
    void_reason             TEXT,
    void_dt                 TEXT,
    c_dt                    TEXT NOT NULL
);
CREATE INDEX invoices_client ON invoices(id_clients, dt_from);
-- Numbers come from a per-company sequence: unique within the company.
CREATE UNIQUE INDEX invoices_company_number ON invoices(id_companies, number);

CREATE TABLE invoice_lines (
    id             INTEGER PRIMARY KEY,
    id_invoices    INTEGER NOT NULL REFERENCES invoices(id),
    kind           TEXT NOT NULL,
    description    TEXT,
    calls          INTEGER NOT NULL DEFAULT 0,
    billed_seconds INTEGER NOT NULL DEFAULT 0,
    minutes        TEXT NOT NULL DEFAULT '0',
    amount         TEXT NOT NULL
);
CREATE INDEX invoice_lines_invoice ON invoice_lines(id_invoices, id);

ALTER TABLE xdrs ADD COLUMN id_invoices INTEGER REFERENCES invoices(id);
ALTER TABLE transactions ADD COLUMN id_invoices INTEGER REFERENCES invoices(id);
-- No (client, time) indexes: every settle would pay for them twice (measured: durable settle
-- with 64 callers went from about 80 to 160 µs); invoices read a client's rows through the
-- existing (client, id) indexes once a period.

-- Resellers keep their own tax profiles and invoice their own clients.
UPDATE roles SET permissions = json_set(permissions,
    '$.taxProfiles', json('["read","write","delete"]'),
    '$.invoices', json('["read","billing"]'))
WHERE id = 2 AND builtin = 1;
"#;

/// Open reservations, written in the group commit that acknowledges them (authorize, update)
/// and removed in the one that closes them (settle, release, expiry): a restart holds every
/// acknowledged call again. `body` is the reservation as the charging layer serialises it
/// (its plan, hold, seconds and included volume); the store only keeps it.
const V10: &str = r#"
CREATE TABLE reservations (
    id         INTEGER PRIMARY KEY,
    id_clients INTEGER NOT NULL,
    expires_at TEXT NOT NULL,
    body       TEXT NOT NULL
);
"#;

/// Re-rating (issue 19): each re-rated xDR keeps what it cost before, and the adjustment
/// entry that posted the difference. (Version 10 is the durable reservations' migration.)
const V11: &str = r#"
CREATE TABLE xdr_history (
    id              INTEGER PRIMARY KEY,
    id_xdrs         INTEGER NOT NULL REFERENCES xdrs(id),
    id_rate_tables  INTEGER NOT NULL,
    code            TEXT NOT NULL,
    code_name       TEXT,
    rate            TEXT NOT NULL,
    setup_fee       TEXT NOT NULL,
    min_volume      INTEGER NOT NULL,
    interval        INTEGER NOT NULL,
    grace_volume    INTEGER NOT NULL,
    billed_seconds  INTEGER NOT NULL,
    cost            TEXT NOT NULL,
    id_transactions INTEGER REFERENCES transactions(id),
    c_dt            TEXT NOT NULL
);
CREATE INDEX xdr_history_xdr ON xdr_history(id_xdrs, id);
"#;

/// API tokens (issue 20): long-lived secrets a user gives a program instead of a password.
/// Only a keyed hash of the token is stored; `hint` is the start of its random part, for
/// telling tokens apart in a list. A revoked token keeps its row (and its hash), so that the
/// list shows when and by whom it was revoked and the token is refused as revoked.
const V12: &str = r#"
CREATE TABLE api_tokens (
    id          INTEGER PRIMARY KEY,
    id_users    INTEGER NOT NULL REFERENCES users(id),
    realm       TEXT NOT NULL,
    name        TEXT NOT NULL,
    token_hash  TEXT NOT NULL UNIQUE,
    hint        TEXT NOT NULL,
    c_dt        TEXT NOT NULL,
    created_by  INTEGER NOT NULL,
    revoked_at  TEXT,
    revoked_by  INTEGER
);
CREATE INDEX api_tokens_user ON api_tokens(id_users, id);
"#;

/// Billing cycle, second part (issue 18): the issuing company's address and tax id, printed
/// on its invoices' PDFs; a client's auto-invoicing period (`invoice_period`, ISO 8601, from
/// `invoice_anchor`), how many periods the clock has done, the end of the next one (what
/// the clock looks for) and of the last one.
const V13: &str = r#"
ALTER TABLE companies ADD COLUMN address TEXT;
ALTER TABLE companies ADD COLUMN tax_id TEXT;
ALTER TABLE clients ADD COLUMN invoice_period TEXT;
ALTER TABLE clients ADD COLUMN invoice_anchor TEXT;
ALTER TABLE clients ADD COLUMN autoinvoice_periods INTEGER NOT NULL DEFAULT 0;
ALTER TABLE clients ADD COLUMN autoinvoice_next TEXT;
ALTER TABLE clients ADD COLUMN autoinvoice_last TEXT;
CREATE INDEX clients_autoinvoice_next ON clients(autoinvoice_next) WHERE autoinvoice_next IS NOT NULL;
"#;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::limits;

    #[test]
    fn column_defaults_match_the_named_limits() {
        let defaults = [
            (
                V1,
                "rates_precision",
                limits::currency_rates_precision_default,
            ),
            (
                V1,
                "details_precision",
                limits::currency_details_precision_default,
            ),
            (
                V1,
                "totals_precision",
                limits::currency_totals_precision_default,
            ),
            (V6, "timeout_ms", limits::handler_timeout_ms_default as i64),
        ];
        for (sql, column, value) in defaults {
            let line = sql
                .lines()
                .find(|l| l.split_whitespace().next() == Some(column))
                .unwrap_or_else(|| panic!("no column {column}"));
            assert!(
                line.trim_end().ends_with(&format!("DEFAULT {value},")),
                "{column}: {line:?} does not default to {value}"
            );
        }
    }
}
