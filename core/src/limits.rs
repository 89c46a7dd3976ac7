#![allow(non_upper_case_globals)]
//! Every bound Tollgate enforces, named once, unit last.

/// Largest JSON-RPC request text accepted, in bytes.
pub const request_size_bytes_max: usize = 4 * 1024 * 1024;
/// Most requests in one JSON-RPC batch.
pub const batch_requests_max: usize = 1000;
/// Most arguments in one call's params object.
pub const arguments_count_max: usize = 256;
/// Deepest JSON nesting accepted in params.
pub const json_depth_max: usize = 32;
/// Largest `limit` a `list` call may ask for.
pub const list_page_size_max: u64 = 1000;
/// `limit` used by `list` when none is given.
pub const list_page_size_default: u64 = 100;
/// Longest name (companies, clients, accounts, fields), in characters.
pub const name_length_max: usize = 128;
/// Longest ordinary text field, in characters.
pub const text_length_max: usize = 255;
/// Longest free-text field (addresses, notes), in characters.
pub const long_text_length_max: usize = 4096;
/// Longest login, in characters.
pub const login_length_max: usize = 64;
/// Longest password accepted, in bytes (Argon2 takes any length; this bounds the work).
pub const password_length_max: usize = 1024;
/// Password checks (Argon2id, about 19 MiB and tens of milliseconds each) running at once in
/// one process; more wait for a permit.
pub const password_checks_concurrent_max: usize = 4;
/// Longest a password check waits for a permit before it is refused with `auth.busy`, in
/// milliseconds.
pub const password_check_wait_ms_max: u64 = 2_000;
/// Distinct credentials (`auth {login, password}`) checked in one JSON-RPC batch; items with
/// the same credentials reuse the first check, others are refused with `auth.busy`.
pub const batch_credential_checks_max: usize = 1;
/// Shortest password accepted for new users, in characters.
pub const password_length_min: usize = 8;
/// Custom fields defined per module.
pub const custom_fields_per_module_max: usize = 64;
/// Longest custom field value, in characters.
pub const custom_field_value_length_max: usize = 1024;
/// Options of one enum custom field.
pub const custom_field_options_max: usize = 64;
/// Idle time after which a session expires, in seconds (default; configurable).
pub const session_idle_seconds_default: i64 = 60 * 60;
/// Absolute lifetime of a session, in seconds (default; configurable).
pub const session_lifetime_seconds_default: i64 = 24 * 60 * 60;
/// A session's last-seen time is written at most this often, in seconds.
pub const session_touch_interval_seconds: i64 = 60;
/// Open sessions kept per user; the oldest beyond this are closed.
pub const sessions_per_user_max: usize = 100;
/// Live sessions kept in memory (checked without the store); a full cache is emptied and
/// refilled.
pub const session_cache_entries_max: usize = 100_000;
/// Depth of the reseller tree.
pub const company_depth_max: usize = 16;
/// Largest number of decimal places accepted in an amount.
pub const amount_scale_max: u32 = 12;
/// Integer digits of an amount or a balance (payments, charges, credit, fees, holds, every
/// ledger entry and every balance): `|x| < 10^15`. With [`amount_scale_max`] a mantissa stays
/// below `10^27`, so any sum of up to 79 of them is exact in `Decimal`'s 96 bits
/// (`2^96 ≈ 7.9·10^28`); docs/money.md "Money limits" shows the arithmetic.
pub const amount_integer_digits_max: u32 = 15;
/// Integer digits of a rate per minute or a setup fee: `< 10^6` (their decimals are bounded
/// by the currency's rates precision, at most [`currency_precision_max`]).
pub const rate_integer_digits_max: u32 = 6;
/// Integer digits of an exchange rate: `0 < r < 10^9`.
pub const exchange_rate_integer_digits_max: u32 = 9;
/// Decimal places of an exchange rate.
pub const exchange_rate_scale_max: u32 = 12;
/// Significant digits of an exchange rate (a rate per minute, at most 16 digits, times an
/// exchange rate then has at most 28 digits: exact in `Decimal`).
pub const exchange_rate_digits_max: u32 = 12;
/// Largest precision a currency may declare.
pub const currency_precision_max: i64 = 10;
/// Longest rate code (destination prefix), in digits. E.164 numbers have at most 15 digits;
/// the rest leaves room for technical prefixes in front of them.
pub const rate_code_digits_max: usize = 20;
/// Most data rows in one rate deck file (the header is not counted).
pub const rate_deck_rows_max: usize = 2_000_000;
/// Longest value of one rate deck field, in bytes (code names are the long ones).
pub const rate_deck_field_bytes_max: usize = 1024;
/// Longest duration the rating formula accepts, in seconds (about 136 years: far beyond any
/// call cap, and small enough that billed seconds never overflow `u64`).
pub const rated_duration_seconds_max: u64 = u32::MAX as u64;
/// Largest details precision the rating formula rounds to, in decimal places.
pub const rating_precision_max: u32 = 10;
/// Lifetime of an access token, in seconds (default; configurable): PortaBilling's 48 h.
pub const access_token_lifetime_seconds_default: i64 = 48 * 60 * 60;
/// Longest access token accepted, in bytes.
pub const access_token_length_max: usize = 8 * 1024;
/// Clock difference tolerated on a token's `nbf` and `iat`, in seconds.
pub const token_clock_skew_seconds: i64 = 60;
/// Longest refresh token accepted, in bytes.
pub const refresh_token_length_max: usize = 256;
/// Longest API token accepted, in bytes (a real one is `tg_admin_` + 40 characters).
pub const api_token_length_max: usize = 128;
/// Longest realm an API token may name, in bytes.
pub const realm_length_max: usize = 16;
/// API tokens a user may hold that are not revoked.
pub const api_tokens_per_user_max: u64 = 100;
/// Verified API tokens kept in memory; a full cache is emptied and refilled.
pub const api_token_cache_entries_max: usize = 100_000;
/// Largest REST request body accepted, in bytes (as JSON text).
pub const rest_body_bytes_max: usize = 1024 * 1024;
/// Largest min volume, interval or grace volume of a rate, in seconds.
pub const rate_seconds_max: i64 = 86_400;
/// Longest call id accepted, in characters.
pub const call_id_length_max: usize = 255;
/// Longest idempotency key, in characters.
pub const idempotency_key_length_max: usize = 255;
/// Longest phone number (source or destination) accepted at call time, in characters.
pub const number_length_max: usize = 64;
/// Longest call duration that can be granted or settled, in seconds (3 h default cap; a
/// settle may report up to a day).
pub const call_duration_seconds_max: u64 = 86_400;
/// Default cap on one call's granted duration, in seconds.
pub const call_grant_seconds_default: u64 = 3 * 60 * 60;
/// Missed periods one tick renews for one subscription (the next tick goes on).
pub const renewals_per_tick_max: usize = 1000;
/// Included-volume entries of one package.
pub const package_volumes_max: usize = 32;
/// Most settles one group commit writes in one transaction (and one fsync); callers beyond
/// it wait for the next batch.
pub const settle_batch_size_max: usize = 512;
/// Settles one `settle_many` (`Engine::settle_many`, `tg_settle_batch`, Python's
/// `settle_many`) may carry: a JSON-RPC batch's bound.
pub const settle_many_max: usize = batch_requests_max;
/// Rows read from the store per page while streaming a file (`xdrs.download`): memory
/// stays bounded by one page whatever the file's size.
pub const file_page_rows: u64 = 1000;
/// Longest a provisioning handler (HTTP request, script or callback) may take by default, in
/// milliseconds (a handler may set a shorter or longer one, up to the max).
pub const handler_timeout_ms_default: u64 = 5_000;
/// Longest timeout a handler may set, in milliseconds.
pub const handler_timeout_ms_max: u64 = 30_000;
/// Shortest timeout a handler may set, in milliseconds.
pub const handler_timeout_ms_min: u64 = 50;
/// Largest HTTP response body or script output read from a handler, in bytes (the rest is
/// refused: a reply that large is a failure).
pub const handler_response_bytes_max: usize = 64 * 1024;
/// Longest handler target (URL, script path or callback name), in characters.
pub const handler_target_length_max: usize = 1024;
/// Longest callback name registered from Rust, C or Python, in characters.
pub const callback_name_length_max: usize = 128;
/// Handlers of one company for one event and stage.
pub const handlers_per_event_max: usize = 32;
/// Delivery attempts of one event to one `after` handler before it is given up (logged as
/// failed).
pub const event_delivery_attempts_max: u32 = 12;
/// Wait before the first retry of a failed delivery, in seconds; it doubles each attempt.
pub const event_retry_base_seconds: i64 = 60;
/// Longest wait between two delivery attempts, in seconds.
pub const event_retry_delay_seconds_max: i64 = 6 * 60 * 60;
/// Pending deliveries one pass of the delivery worker looks at.
pub const event_deliveries_per_pass_max: u64 = 256;
/// How often the background delivery worker looks for due retries when nothing wakes it, in
/// milliseconds.
pub const event_worker_poll_ms: u64 = 250;
/// Longest error or reply text kept in one execution log row, in bytes.
pub const handler_log_text_bytes_max: usize = 1024;

// settings' defaults
/// Consecutive failed logins that lock a login (default of `EngineConfig::login_failures_max`).
pub const login_failures_max_default: i64 = 10;
/// How long a locked login stays locked, in seconds (default of
/// `EngineConfig::login_lock_seconds`).
pub const login_lock_seconds_default: i64 = 15 * 60;
/// How long past its granted time an unsettled reservation is kept before the clock releases
/// it, in seconds (default of `ChargingConfig::reservation_margin_seconds`).
pub const reservation_margin_seconds_default: u64 = 120;

// store
/// Levels a walk up the company tree (`company_ancestors`) follows before it stops: a guard
/// against a parent cycle, well above the [`company_depth_max`] a tree may reach, in levels.
pub const company_ancestors_depth_max: i64 = 64;
/// Rates precision of a currency created without one, in decimal places (the column default
/// of schema migration 1).
pub const currency_rates_precision_default: i64 = 4;
/// Details precision of a currency created without one, in decimal places (the column
/// default of schema migration 1).
pub const currency_details_precision_default: i64 = 4;
/// Totals precision of a currency created without one, in decimal places (the column default
/// of schema migration 1).
pub const currency_totals_precision_default: i64 = 2;

// text echoed back
/// Longest piece of a caller's own text (an unknown method or argument name, an account
/// identifier, a module name) echoed back in an error message, in characters.
pub const echoed_text_chars_max: usize = 64;
/// Longest amount accepted as text, in bytes (a number spelled longer is refused unread).
pub const amount_text_length_max: usize = 64;
/// Engine handles whose last error one C caller thread remembers (`tg_engine_last_error`);
/// a thread that used more keeps the most recent.
pub const c_last_error_slots_max: usize = 16;
/// Bits of a reservation id that count reservations within one epoch (one run of an
/// engine): about 4.3 billion authorizations between two restarts.
pub const reservation_sequence_bits: u32 = 32;
/// Epochs (engine opens) a database can count: ids are `epoch << 32 | sequence`, below 2^53.
pub const reservation_epochs_max: u64 = (1 << (53 - reservation_sequence_bits)) - 1;
/// Shortest beat of the engine's clock, in milliseconds.
pub const clock_interval_ms_min: u64 = 10;
/// Longest beat of the engine's clock, in milliseconds.
pub const clock_interval_ms_max: u64 = 60_000;
/// The beat of the engine's clock that `tollgate serve` runs by default, in milliseconds.
pub const clock_interval_ms_default: u64 = 1_000;

/// Longest invoice number prefix (`INV-`).
pub const invoice_prefix_length_max: usize = 16;
/// Longest period one invoice may cover (`dt_till - dt_from`), in days: a quarter and a bit.
pub const invoice_period_days_max: i64 = 93;
/// Closed periods one client's auto-invoicing issues in one clock pass (a client far behind
/// catches up over the following passes).
pub const autoinvoice_periods_per_tick_max: u32 = 12;
/// Clients one clock pass auto-invoices (the rest wait for the next pass).
pub const autoinvoice_clients_per_tick_max: u64 = 1000;
/// Longest period a summary report (`reports.summary`) covers, in days: a leap year.
pub const report_period_days_max: i64 = 366;
/// Most ledger entries one `clients.statement` lists: a longer one asks for a shorter period.
pub const statement_entries_max: u64 = 100_000;
/// Digits of an invoice number's sequence part (`INV-2026-000001`); more are written in full.
pub const invoice_sequence_digits: usize = 6;
