//! Errors: one enum per concern, rolled into [`Error`]. Every error has a stable machine code
//! ([`ErrorCode`]) from one table that also fixes its C result number and Python class name.

use std::fmt;

macro_rules! error_codes {
    ($( $(#[doc = $doc:literal])* $variant:ident = ($code:literal, $c:literal, $py:literal), )*) => {
        /// Stable machine codes. The string, the C number and the Python class never change
        /// once released; retired codes keep their numbers reserved.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        #[non_exhaustive]
        pub enum ErrorCode { $( $(#[doc = $doc])* $variant, )* }

        impl ErrorCode {
            /// Every code, in table order.
            pub const ALL: &'static [ErrorCode] = &[ $( ErrorCode::$variant, )* ];

            /// The machine code carried in `errors[].code`, e.g. `validation.required`.
            pub fn as_str(self) -> &'static str {
                match self { $( ErrorCode::$variant => $code, )* }
            }

            /// The `tg_result` number for the C API (block-numbered by concern).
            pub fn c_code(self) -> u32 {
                match self { $( ErrorCode::$variant => $c, )* }
            }

            /// The Python exception class name for the `tollgate` package.
            pub fn python_class(self) -> &'static str {
                match self { $( ErrorCode::$variant => $py, )* }
            }

            /// The code's one-line description (its doc comment), for generated bindings and
            /// their documentation (the C header, Python stubs).
            pub fn description(self) -> &'static str {
                match self { $( ErrorCode::$variant => concat!($($doc),*).trim_ascii_start(), )* }
            }

            /// Look a code up by its machine string.
            pub fn from_str_code(s: &str) -> Option<ErrorCode> {
                match s { $( $code => Some(ErrorCode::$variant), )* _ => None }
            }
        }
    };
}

error_codes! {
    // 1000 block: the request itself.
    /// The method name is not registered.
    UnknownMethod = ("api.unknown_method", 1000, "UnknownMethodError"),
    /// The request is not well formed (bad JSON, params not an object).
    MalformedRequest = ("api.malformed_request", 1001, "MalformedRequestError"),
    /// The method answers with a file and was called through the JSON entry point, or the
    /// other way round.
    WrongEndpoint = ("api.wrong_endpoint", 1002, "WrongEndpointError"),
    /// A required argument is missing.
    ValidationRequired = ("validation.required", 1100, "RequiredError"),
    /// An argument has the wrong type or an invalid value.
    ValidationInvalid = ("validation.invalid", 1101, "InvalidError"),
    /// An argument is not known to the method.
    ValidationUnknownArgument = ("validation.unknown_argument", 1102, "UnknownArgumentError"),
    /// A string is longer than its limit.
    ValidationTooLong = ("validation.too_long", 1103, "TooLongError"),
    /// A number is outside its allowed range.
    ValidationOutOfRange = ("validation.out_of_range", 1104, "OutOfRangeError"),
    /// A value that must be unique is already taken.
    ValidationDuplicate = ("validation.duplicate", 1105, "DuplicateError"),
    // 2000 block: who is calling.
    /// No credentials were given.
    AuthRequired = ("auth.required", 2000, "AuthRequiredError"),
    /// Login or password is wrong.
    AuthFailed = ("auth.failed", 2001, "AuthFailedError"),
    /// The session id is unknown or was logged out.
    AuthSessionInvalid = ("auth.session_invalid", 2002, "SessionInvalidError"),
    /// The session passed its idle timeout or absolute lifetime.
    AuthSessionExpired = ("auth.session_expired", 2003, "SessionExpiredError"),
    /// The login is locked after too many failures.
    AuthLocked = ("auth.locked", 2004, "AuthLockedError"),
    /// An access token was refused.
    AuthTokenInvalid = ("auth.token_invalid", 2005, "TokenInvalidError"),
    /// Password checks are spent (one per batch, a few at once engine-wide): send a SID.
    AuthBusy = ("auth.busy", 2006, "AuthBusyError"),
    /// The principal lacks the permission the method needs.
    PermissionDenied = ("permission.denied", 2100, "PermissionDeniedError"),
    /// The call would grant rights the caller does not hold.
    PermissionEscalation = ("permission.escalation", 2101, "PermissionEscalationError"),
    // 3000 block: objects.
    /// The object does not exist (or is outside the caller's tenant).
    NotFound = ("not_found", 3000, "NotFoundError"),
    /// The object is archived and can no longer change.
    ObjectArchived = ("object.archived", 3001, "ArchivedError"),
    /// The object is still referenced and cannot be deleted.
    ObjectInUse = ("object.in_use", 3002, "InUseError"),
    // 4000 block: money.
    /// Arithmetic overflowed.
    MoneyOverflow = ("money.overflow", 4000, "MoneyOverflowError"),
    /// An amount is not a valid decimal.
    MoneyInvalid = ("money.invalid", 4001, "MoneyInvalidError"),
    /// An amount has more decimals than allowed.
    MoneyPrecision = ("money.precision", 4002, "MoneyPrecisionError"),
    /// No exchange rate between two currencies.
    MoneyNoExchangeRate = ("money.no_exchange_rate", 4003, "NoExchangeRateError"),
    /// An amount, balance, rate or exchange rate is outside the limits money is kept exact in.
    MoneyOutOfRange = ("money.out_of_range", 4004, "MoneyOutOfRangeError"),
    // 4100 block: rating (rate terms, codes, rate decks).
    /// Rate terms are invalid (negative rate or setup fee, zero interval…).
    RatingInvalidTerms = ("rating.invalid_terms", 4100, "InvalidRateTermsError"),
    /// A rate code is not 1 to `rate_code_digits_max` decimal digits.
    RatingInvalidCode = ("rating.invalid_code", 4101, "InvalidRateCodeError"),
    /// The same code was given twice where each code must be unique.
    RatingDuplicateCode = ("rating.duplicate_code", 4102, "DuplicateRateCodeError"),
    /// Two rates of one code have overlapping effective periods.
    RatingPeriodOverlap = ("rating.period_overlap", 4103, "RatePeriodOverlapError"),
    /// A rate deck file is malformed (names the line and column).
    RatingDeckInvalid = ("rating.deck_invalid", 4104, "RateDeckError"),
    // 4200 block: real-time charging and the ledger.
    /// Not enough available funds (balance + credit - held).
    BalanceInsufficient = ("balance.insufficient", 4200, "BalanceInsufficientError"),
    /// An idempotency key or call id was reused for different content.
    IdempotencyConflict = ("idempotency.conflict", 4201, "IdempotencyConflictError"),
    /// Too many concurrent calls for an account, client or company.
    CapacityExceeded = ("capacity.exceeded", 4202, "CapacityExceededError"),
    /// No rate matches the destination at the call's time.
    RatingNoRate = ("rating.no_rate", 4203, "NoRateError"),
    /// The reservation is unknown (settled, released, expired or lost in a restart).
    ReservationNotFound = ("reservation.not_found", 4204, "ReservationNotFoundError"),
    /// No account matches the identifier.
    AccountNotFound = ("account.not_found", 4205, "AccountNotFoundError"),
    /// The account is blocked.
    AccountBlocked = ("account.blocked", 4206, "AccountBlockedError"),
    /// The client is blocked, suspended or archived.
    ClientBlocked = ("client.blocked", 4207, "ClientBlockedError"),
    /// The client's company (or a parent) is blocked.
    CompanyBlocked = ("company.blocked", 4208, "CompanyBlockedError"),
    // 5000 block: storage.
    /// The database file is owned by another engine.
    StoreInUse = ("store.in_use", 5000, "DatabaseInUseError"),
    /// The file is not a Tollgate database.
    StoreNotTollgate = ("store.not_tollgate", 5001, "NotTollgateDatabaseError"),
    /// The database was written by a newer Tollgate.
    StoreSchemaNewer = ("store.schema_newer", 5002, "SchemaNewerError"),
    /// The database file does not exist, or already exists on create.
    StoreNotFound = ("store.not_found", 5003, "DatabaseNotFoundError"),
    /// The database already exists.
    StoreExists = ("store.exists", 5004, "DatabaseExistsError"),
    /// An I/O or SQLite failure.
    StoreIo = ("store.io", 5005, "StorageError"),
    /// A commit failed (a failed fsync, a full disk): the engine stopped writing, since it can
    /// no longer tell what the disk holds. Reopen it once the cause is fixed.
    StoreHalted = ("store.halted", 5006, "EngineHaltedError"),
    /// The database server cannot be reached, or the connection to it was lost.
    StoreUnreachable = ("store.unreachable", 5007, "DatabaseUnreachableError"),
    /// The database server refused the credentials.
    StoreAccessDenied = ("store.access_denied", 5008, "DatabaseAccessDeniedError"),
    // 6000 block: provisioning events and handlers.
    /// A `before` handler forbade the change (the message is the handler's).
    HandlerForbidden = ("handler.forbidden", 6000, "HandlerForbiddenError"),
    // 9000 block: bugs.
    /// A bug: an invariant did not hold.
    Internal = ("internal", 9000, "InternalError"),
}

/// Whose fault a refusal is, decided once per code; the front doors derive their own
/// answers from it (the HTTP status of `/admin`, the REST facade's `Client.`/`Server.`
/// fault side, the CLI's exit code) instead of each sorting the codes again.
///
/// | kind        | codes                                                     | `/admin` | REST     | CLI |
/// |-------------|-----------------------------------------------------------|----------|----------|-----|
/// | `Client`    | `api.malformed_request`, `api.wrong_endpoint`, `validation.*`, `object.*`, `money.*`, `rating.*`, the charging refusals, `handler.forbidden` | 400 | `Client` | 1 |
/// | `Auth`      | `auth.*`                                                  | 401      | `Client` | 1   |
/// | `Forbidden` | `permission.*`                                            | 403      | `Server` | 1   |
/// | `NotFound`  | `api.unknown_method`, `not_found`, `account.not_found`, `reservation.not_found` | 404 | `Client` | 1 |
/// | `Server`    | `store.*`, `internal`                                     | 500      | `Server` | 2   |
///
/// The exceptions are the front door's, listed next to its mapping: `/admin` answers 429 to
/// `auth.locked` and `auth.busy` (try later) and 404 to `store.not_found`. The REST side of
/// `Forbidden` is PortaBilling's convention. There is no "conflict" kind: duplicates, reused
/// idempotency keys, archived or in-use objects are refused like any other bad input (400),
/// and a kind that every front door maps like `Client` would be a distinction without a use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// The request or its arguments are wrong, or the business rules refuse it: the caller
    /// must change something before trying again.
    Client,
    /// Authentication: no credentials, wrong ones, an expired session, a refused token, or
    /// a login that is locked or busy.
    Auth,
    /// Authorization: the caller is known but lacks the right.
    Forbidden,
    /// The method, the object, the account or the reservation does not exist (for the
    /// caller's tenant).
    NotFound,
    /// The engine failed, not the request: storage or a bug. Nothing the caller sends
    /// differently would help.
    Server,
}

impl ErrorCode {
    /// Whose fault the refusal is (see [`ErrorKind`]). Every code is listed: a new code does
    /// not compile until it has a kind.
    pub fn kind(self) -> ErrorKind {
        use ErrorCode as C;
        use ErrorKind as K;
        match self {
            C::MalformedRequest
            | C::WrongEndpoint
            | C::ValidationRequired
            | C::ValidationInvalid
            | C::ValidationUnknownArgument
            | C::ValidationTooLong
            | C::ValidationOutOfRange
            | C::ValidationDuplicate
            | C::ObjectArchived
            | C::ObjectInUse
            | C::MoneyOverflow
            | C::MoneyInvalid
            | C::MoneyPrecision
            | C::MoneyNoExchangeRate
            | C::MoneyOutOfRange
            | C::RatingInvalidTerms
            | C::RatingInvalidCode
            | C::RatingDuplicateCode
            | C::RatingPeriodOverlap
            | C::RatingDeckInvalid
            | C::BalanceInsufficient
            | C::IdempotencyConflict
            | C::CapacityExceeded
            | C::RatingNoRate
            | C::AccountBlocked
            | C::ClientBlocked
            | C::CompanyBlocked
            | C::HandlerForbidden => K::Client,
            C::AuthRequired
            | C::AuthFailed
            | C::AuthSessionInvalid
            | C::AuthSessionExpired
            | C::AuthLocked
            | C::AuthTokenInvalid
            | C::AuthBusy => K::Auth,
            C::PermissionDenied | C::PermissionEscalation => K::Forbidden,
            C::UnknownMethod | C::NotFound | C::ReservationNotFound | C::AccountNotFound => {
                K::NotFound
            }
            C::StoreInUse
            | C::StoreNotTollgate
            | C::StoreSchemaNewer
            | C::StoreNotFound
            | C::StoreExists
            | C::StoreIo
            | C::StoreHalted
            | C::StoreUnreachable
            | C::StoreAccessDenied
            | C::Internal => K::Server,
        }
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Bad arguments.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum ValidationError {
    /// A required argument is missing.
    #[error("missing required argument '{0}'")]
    Required(String),
    /// Wrong type or value.
    #[error("invalid value for '{field}': {reason}")]
    Invalid { field: String, reason: String },
    /// Not an argument of this method.
    #[error("unknown argument '{0}'")]
    UnknownArgument(String),
    /// Over the length limit.
    #[error("'{field}' is longer than {max} characters")]
    TooLong { field: String, max: usize },
    /// Outside the allowed range.
    #[error("'{field}' is out of range: {reason}")]
    OutOfRange { field: String, reason: String },
    /// Unique value already used.
    #[error("'{field}' must be unique: {value} is already used")]
    Duplicate { field: String, value: String },
}

impl ValidationError {
    /// Shorthand for [`ValidationError::Invalid`].
    pub fn invalid(field: impl Into<String>, reason: impl Into<String>) -> Self {
        ValidationError::Invalid {
            field: field.into(),
            reason: reason.into(),
        }
    }

    fn code(&self) -> ErrorCode {
        match self {
            ValidationError::Required(_) => ErrorCode::ValidationRequired,
            ValidationError::Invalid { .. } => ErrorCode::ValidationInvalid,
            ValidationError::UnknownArgument(_) => ErrorCode::ValidationUnknownArgument,
            ValidationError::TooLong { .. } => ErrorCode::ValidationTooLong,
            ValidationError::OutOfRange { .. } => ErrorCode::ValidationOutOfRange,
            ValidationError::Duplicate { .. } => ErrorCode::ValidationDuplicate,
        }
    }

    fn field(&self) -> Option<&str> {
        match self {
            ValidationError::Required(f) | ValidationError::UnknownArgument(f) => Some(f),
            ValidationError::Invalid { field, .. }
            | ValidationError::TooLong { field, .. }
            | ValidationError::OutOfRange { field, .. }
            | ValidationError::Duplicate { field, .. } => Some(field),
        }
    }
}

/// Authentication and authorization failures.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum AuthError {
    /// No credentials.
    #[error("authentication required: send auth {{login, password}} or SID")]
    Required,
    /// Wrong login or password (never says which).
    #[error("login or password is incorrect")]
    Failed,
    /// Unknown or logged-out session.
    #[error("session is not valid; log in again")]
    SessionInvalid,
    /// Idle or absolute limit passed.
    #[error("session expired; log in again")]
    SessionExpired,
    /// Too many failures.
    #[error("login is locked after too many failed attempts; try again later")]
    Locked,
    /// Token refused.
    #[error("access token refused: {0}")]
    TokenInvalid(String),
    /// No password check can be spent on this credential now: a batch checks one, and only
    /// a few run at once; the caller should log in once and send the session id.
    #[error("too many password checks at once; log in once and send the session id (SID)")]
    Busy,
    /// Missing permission.
    #[error("permission denied: {module}.{verb} is required")]
    PermissionDenied { module: String, verb: String },
    /// Granting or using a role with rights the caller does not hold.
    #[error("permission denied: {0}")]
    Escalation(String),
}

impl AuthError {
    fn code(&self) -> ErrorCode {
        match self {
            AuthError::Required => ErrorCode::AuthRequired,
            AuthError::Failed => ErrorCode::AuthFailed,
            AuthError::SessionInvalid => ErrorCode::AuthSessionInvalid,
            AuthError::SessionExpired => ErrorCode::AuthSessionExpired,
            AuthError::Locked => ErrorCode::AuthLocked,
            AuthError::Busy => ErrorCode::AuthBusy,
            AuthError::TokenInvalid(_) => ErrorCode::AuthTokenInvalid,
            AuthError::PermissionDenied { .. } => ErrorCode::PermissionDenied,
            AuthError::Escalation(_) => ErrorCode::PermissionEscalation,
        }
    }
}

/// Money failures.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum MoneyError {
    /// Checked arithmetic overflowed.
    #[error("amount overflow")]
    Overflow,
    /// Not a decimal number.
    #[error("'{field}' is not a valid amount: {reason}")]
    Invalid { field: String, reason: String },
    /// Too many decimals.
    #[error("'{field}' has more than {max} decimal places")]
    Precision { field: String, max: u32 },
    /// No exchange rate.
    #[error("no exchange rate from {from} to {to}")]
    NoExchangeRate { from: String, to: String },
    /// Outside the named money limits (`limits::amount_integer_digits_max` and friends).
    #[error("'{field}' is out of range: {reason}")]
    OutOfRange { field: String, reason: String },
}

impl MoneyError {
    fn code(&self) -> ErrorCode {
        match self {
            MoneyError::Overflow => ErrorCode::MoneyOverflow,
            MoneyError::Invalid { .. } => ErrorCode::MoneyInvalid,
            MoneyError::Precision { .. } => ErrorCode::MoneyPrecision,
            MoneyError::NoExchangeRate { .. } => ErrorCode::MoneyNoExchangeRate,
            MoneyError::OutOfRange { .. } => ErrorCode::MoneyOutOfRange,
        }
    }
}

/// Rating failures: rate terms, rate codes, prefix indexes and rate decks.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum RatingError {
    /// A rate term is out of its domain.
    #[error("invalid rate terms: '{field}' {reason}")]
    InvalidTerms { field: String, reason: String },
    /// A code is empty, too long, or has a non-digit.
    #[error("invalid rate code '{code}': {reason}")]
    InvalidCode { code: String, reason: String },
    /// A code given twice to an index that keeps one value per code.
    #[error("rate code '{0}' is given more than once")]
    DuplicateCode(String),
    /// Two rates of one code are effective at the same time. `first` and `second` name the
    /// rows (deck line numbers, or input positions for an in-memory build).
    #[error("rate code '{code}': effective periods overlap (lines {first} and {second})")]
    PeriodOverlap {
        code: String,
        first: u64,
        second: u64,
    },
    /// A deck row (or the header, line 1) is malformed.
    #[error("rate deck line {line}, column '{column}': {reason}")]
    Deck {
        line: u64,
        column: String,
        reason: String,
    },
}

impl RatingError {
    fn code(&self) -> ErrorCode {
        match self {
            RatingError::InvalidTerms { .. } => ErrorCode::RatingInvalidTerms,
            RatingError::InvalidCode { .. } => ErrorCode::RatingInvalidCode,
            RatingError::DuplicateCode(_) => ErrorCode::RatingDuplicateCode,
            RatingError::PeriodOverlap { .. } => ErrorCode::RatingPeriodOverlap,
            RatingError::Deck { .. } => ErrorCode::RatingDeckInvalid,
        }
    }
}

/// Refusals and failures of real-time charging and ledger postings.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum ChargeError {
    /// Not enough funds.
    #[error("insufficient funds: {0}")]
    BalanceInsufficient(String),
    /// Same key, different content.
    #[error("idempotency conflict: {0}")]
    IdempotencyConflict(String),
    /// Capacity reached.
    #[error("capacity exceeded: {0}")]
    CapacityExceeded(String),
    /// No rate.
    #[error("no rate for destination {0}")]
    NoRate(String),
    /// Unknown reservation.
    #[error("reservation {0} not found (settled, released, expired or lost in a restart)")]
    ReservationNotFound(u64),
    /// Unknown account.
    #[error("no account matches {0:?}")]
    AccountNotFound(String),
    /// Blocked account.
    #[error("account {0} is blocked")]
    AccountBlocked(i64),
    /// Blocked client.
    #[error("client {0} is not active")]
    ClientBlocked(i64),
    /// Blocked company.
    #[error("company {0} is blocked")]
    CompanyBlocked(i64),
}

impl ChargeError {
    fn code(&self) -> ErrorCode {
        match self {
            ChargeError::BalanceInsufficient(_) => ErrorCode::BalanceInsufficient,
            ChargeError::IdempotencyConflict(_) => ErrorCode::IdempotencyConflict,
            ChargeError::CapacityExceeded(_) => ErrorCode::CapacityExceeded,
            ChargeError::NoRate(_) => ErrorCode::RatingNoRate,
            ChargeError::ReservationNotFound(_) => ErrorCode::ReservationNotFound,
            ChargeError::AccountNotFound(_) => ErrorCode::AccountNotFound,
            ChargeError::AccountBlocked(_) => ErrorCode::AccountBlocked,
            ChargeError::ClientBlocked(_) => ErrorCode::ClientBlocked,
            ChargeError::CompanyBlocked(_) => ErrorCode::CompanyBlocked,
        }
    }
}

/// Storage failures.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// Another engine (in this or another process) has the file open.
    #[error("database is in use by another Tollgate engine: {path}")]
    InUse {
        /// The database file.
        path: String,
        /// The driver's error, when it reported the lock.
        #[source]
        source: Option<Box<dyn std::error::Error + Send + Sync>>,
    },
    /// Not a Tollgate database.
    #[error("not a Tollgate database: {reason}")]
    NotTollgate {
        /// Which file, and why it is not one (shown to the operator).
        reason: String,
        /// The driver's error, when it refused the file.
        #[source]
        source: Option<Box<dyn std::error::Error + Send + Sync>>,
    },
    /// Written by a newer schema.
    #[error("database schema version {found} is newer than this Tollgate supports ({supported}); upgrade Tollgate")]
    SchemaNewer { found: i64, supported: i64 },
    /// No file at the path.
    #[error("no Tollgate database at {0}")]
    NotFound(String),
    /// A file already exists at the path.
    #[error("a file already exists at {0}")]
    Exists(String),
    /// SQLite or I/O failure. The message is `storage error: {context}`, followed by
    /// `: {source}` when there is a source (so it reads as it always has).
    #[error("storage error: {context}{}", source_suffix(source))]
    Io {
        /// What failed: a path, a migration, a stored value, a file being written (never
        /// SQL text).
        context: String,
        /// The underlying error, when there is one.
        #[source]
        source: Option<Box<dyn std::error::Error + Send + Sync>>,
    },
    /// An earlier commit failed, so the engine writes nothing more: retrying the commit could
    /// report as durable what the disk lost (the fsync problem PostgreSQL met in 2018).
    #[error(
        "the engine stopped writing after a failed commit ({0}); reopen it once the cause is fixed"
    )]
    Halted(String),
    /// The database server cannot be reached, or the connection was lost (nothing of the
    /// transaction that saw it was committed).
    #[error("database server unreachable: {target}")]
    Unreachable {
        /// The server, as `host:port/dbname` (never the password).
        target: String,
        /// The driver's error.
        #[source]
        source: Option<Box<dyn std::error::Error + Send + Sync>>,
    },
    /// The database server refused the user or password.
    #[error("database server refused the credentials for {target}")]
    AccessDenied {
        /// The server and user, as `user@host:port/dbname`.
        target: String,
        /// The driver's error.
        #[source]
        source: Option<Box<dyn std::error::Error + Send + Sync>>,
    },
    /// A database statement failed. Callers see only the reference; the full text (which
    /// may name tables, columns and SQL) goes to the log under the same reference.
    #[error("storage error (reference {reference}); the details are in the server's log")]
    Database {
        /// Correlates the caller's error with the log line.
        reference: String,
        /// The driver's error.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

/// `": {source}"`, or nothing when there is no source.
fn source_suffix(source: &Option<Box<dyn std::error::Error + Send + Sync>>) -> String {
    source
        .as_ref()
        .map(|s| format!(": {s}"))
        .unwrap_or_default()
}

impl StoreError {
    /// An I/O failure described by `context` alone.
    pub fn io(context: impl Into<String>) -> StoreError {
        StoreError::Io {
            context: context.into(),
            source: None,
        }
    }

    /// An I/O failure of `context`, caused by `source` (kept as the error's source and
    /// appended to its message).
    pub fn io_caused_by(
        context: impl Into<String>,
        source: impl std::error::Error + Send + Sync + 'static,
    ) -> StoreError {
        StoreError::Io {
            context: context.into(),
            source: Some(Box::new(source)),
        }
    }

    /// A database failure: logged in full under a fresh reference that the caller sees.
    pub fn database(source: impl std::error::Error + Send + Sync + 'static) -> StoreError {
        let mut r = [0u8; 6];
        rand::fill(&mut r);
        let reference = hex::encode(r);
        log::error!(target: "tollgate::store", "storage error {reference}: {source}");
        StoreError::Database {
            reference,
            source: Box::new(source),
        }
    }
}

impl StoreError {
    fn code(&self) -> ErrorCode {
        match self {
            StoreError::InUse { .. } => ErrorCode::StoreInUse,
            StoreError::NotTollgate { .. } => ErrorCode::StoreNotTollgate,
            StoreError::SchemaNewer { .. } => ErrorCode::StoreSchemaNewer,
            StoreError::NotFound(_) => ErrorCode::StoreNotFound,
            StoreError::Exists(_) => ErrorCode::StoreExists,
            StoreError::Io { .. } | StoreError::Database { .. } => ErrorCode::StoreIo,
            StoreError::Halted(_) => ErrorCode::StoreHalted,
            StoreError::Unreachable { .. } => ErrorCode::StoreUnreachable,
            StoreError::AccessDenied { .. } => ErrorCode::StoreAccessDenied,
        }
    }
}

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        StoreError::database(e)
    }
}

/// Provisioning events and handlers.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum EventError {
    /// A `before` handler forbade the change, failed or timed out; nothing changed.
    #[error("forbidden by handler '{handler}': {message}")]
    Forbidden { handler: String, message: String },
}

impl EventError {
    fn code(&self) -> ErrorCode {
        match self {
            EventError::Forbidden { .. } => ErrorCode::HandlerForbidden,
        }
    }
}

/// The umbrella error of every Tollgate operation.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Unknown method.
    #[error("unknown method '{0}'")]
    UnknownMethod(String),
    /// Malformed request.
    #[error("malformed request: {0}")]
    Malformed(String),
    /// A file method called as a JSON one, or a JSON method called as a file one.
    #[error("{0}")]
    WrongEndpoint(String),
    /// Bad arguments.
    #[error(transparent)]
    Validation(#[from] ValidationError),
    /// Auth failures.
    #[error(transparent)]
    Auth(#[from] AuthError),
    /// Object missing or outside the tenant.
    #[error("{what} not found")]
    NotFound { what: String },
    /// Archived object.
    #[error("{what} is archived and cannot be changed")]
    Archived { what: String },
    /// Still referenced.
    #[error("{what} is still in use: {reason}")]
    InUse { what: String, reason: String },
    /// Money.
    #[error(transparent)]
    Money(#[from] MoneyError),
    /// Rating.
    #[error(transparent)]
    Rating(#[from] RatingError),
    /// Charging and ledger.
    #[error(transparent)]
    Charge(#[from] ChargeError),
    /// Storage.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Provisioning events.
    #[error(transparent)]
    Event(#[from] EventError),
    /// A bug.
    #[error("internal error: {0}")]
    Internal(String),
}

impl From<rusqlite::Error> for Error {
    fn from(e: rusqlite::Error) -> Self {
        Error::Store(StoreError::from(e))
    }
}

impl Error {
    /// The stable machine code.
    pub fn code(&self) -> ErrorCode {
        match self {
            Error::UnknownMethod(_) => ErrorCode::UnknownMethod,
            Error::Malformed(_) => ErrorCode::MalformedRequest,
            Error::WrongEndpoint(_) => ErrorCode::WrongEndpoint,
            Error::Validation(e) => e.code(),
            Error::Auth(e) => e.code(),
            Error::NotFound { .. } => ErrorCode::NotFound,
            Error::Archived { .. } => ErrorCode::ObjectArchived,
            Error::InUse { .. } => ErrorCode::ObjectInUse,
            Error::Money(e) => e.code(),
            Error::Rating(e) => e.code(),
            Error::Charge(e) => e.code(),
            Error::Store(e) => e.code(),
            Error::Event(e) => e.code(),
            Error::Internal(_) => ErrorCode::Internal,
        }
    }

    /// The argument the error is about, when there is one.
    pub fn field(&self) -> Option<&str> {
        match self {
            Error::Validation(e) => e.field(),
            Error::Money(
                MoneyError::Invalid { field, .. }
                | MoneyError::Precision { field, .. }
                | MoneyError::OutOfRange { field, .. },
            ) => Some(field),
            Error::Rating(RatingError::InvalidTerms { field, .. }) => Some(field),
            Error::Rating(RatingError::Deck { column, .. }) => Some(column),
            _ => None,
        }
    }

    /// Shorthand for a not-found error.
    pub fn not_found(what: impl Into<String>) -> Self {
        Error::NotFound { what: what.into() }
    }
}

/// Result alias used across the crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// A caller's text as an error message echoes it: at most `limits::echoed_text_chars_max`
/// characters, with `...` when cut.
pub fn echoed(s: &str) -> String {
    let max = crate::limits::echoed_text_chars_max;
    if s.chars().count() > max {
        format!("{}...", s.chars().take(max).collect::<String>())
    } else {
        s.to_string()
    }
}

/// A caller's text cut to `limits::echoed_text_chars_max` characters, without a mark (for
/// identifiers that are then shown as they would be if missing).
pub fn echoed_cut(s: &str) -> String {
    s.chars()
        .take(crate::limits::echoed_text_chars_max)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn codes_are_unique_in_every_column() {
        let mut s = HashSet::new();
        let mut c = HashSet::new();
        let mut p = HashSet::new();
        for code in ErrorCode::ALL {
            assert!(s.insert(code.as_str()), "duplicate string {code}");
            assert!(c.insert(code.c_code()), "duplicate C number for {code}");
            assert!(
                p.insert(code.python_class()),
                "duplicate Python class for {code}"
            );
            assert_eq!(ErrorCode::from_str_code(code.as_str()), Some(*code));
            assert!(!code.description().is_empty(), "{code} has no description");
        }
    }

    #[test]
    fn store_io_reads_as_before_and_keeps_its_source() {
        use std::error::Error as _;
        let bare = StoreError::io("writing the file: disk full");
        assert_eq!(
            bare.to_string(),
            "storage error: writing the file: disk full"
        );
        assert!(bare.source().is_none());
        let cause = std::io::Error::other("disk full");
        let caused = StoreError::io_caused_by("billing.db", cause);
        assert_eq!(caused.to_string(), "storage error: billing.db: disk full");
        assert_eq!(
            caused.source().map(|s| s.to_string()),
            Some("disk full".into())
        );
        assert_eq!(Error::from(caused).code(), ErrorCode::StoreIo);
    }

    #[test]
    fn every_code_has_the_kind_its_block_says() {
        for code in ErrorCode::ALL {
            let s = code.as_str();
            let expected = if s.starts_with("auth.") {
                ErrorKind::Auth
            } else if s.starts_with("permission.") {
                ErrorKind::Forbidden
            } else if s == "internal" || s.starts_with("store.") {
                ErrorKind::Server
            } else if s == "api.unknown_method" || s == "not_found" || s.ends_with(".not_found") {
                ErrorKind::NotFound
            } else {
                ErrorKind::Client
            };
            assert_eq!(code.kind(), expected, "{code}");
        }
    }
}
