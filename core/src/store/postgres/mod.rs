//! The PostgreSQL store (issue 16): the same [`Store`] contract as SQLite over a bounded pool
//! of connections to one PostgreSQL database (the synchronous `postgres` client; core's API
//! stays synchronous).
//!
//! - Write transactions run one at a time on the writer connection, and `on_commit` runs
//!   before the next one starts, so the engine's in-memory state follows the commit order
//!   exactly, as with SQLite. Read transactions run beside them on the pool, each in one
//!   `REPEATABLE READ READ ONLY` snapshot.
//! - One engine owns a database at a time: it holds a session advisory lock (the lease) on its
//!   own connection for its whole life, and every write transaction checks the lease is still
//!   held before it commits. A second engine gets `store.in_use`, exactly like a second engine
//!   on a SQLite file; docs/postgres.md says what this release shares and what it does not.
//! - A failed COMMIT (the connection lost while committing, a server that cannot write) stops
//!   the engine writing ([`StoreError::Halted`]): whether it committed cannot be known.
//!   A connection lost before COMMIT is `store.unreachable` and nothing of it was written;
//!   a read whose pooled connection is found dead as it begins is dropped and another tried.
//!
//! `tx` is the transaction and its statement helpers; the SQL lives by family in `rows`,
//! `auth`, `meta`, `ledger` and `billing` (as in the SQLite store); the schema in `schema`.

mod auth;
mod behind;
mod billing;
mod ledger;
mod meta;
mod rows;
mod schema;
mod tx;
mod val;

pub use schema::PG_SCHEMA_VERSION;

use super::{Store, StoreTx, TxKind};
use crate::error::{Error, Result, StoreError};
use parking_lot::Mutex;
use postgres::error::SqlState;
use postgres::{Client, Config, NoTls, Statement};
use std::collections::HashMap;
use std::str::FromStr;
use std::time::Duration;

/// The advisory lock key of the lease: "TGLT" and "LEAS".
const LEASE_KEY: i64 = 0x5447_4C54_4C45_4153;

/// The fence: every write transaction holds it shared until it ends; a new owner takes it
/// exclusively once before it reads anything, so a transaction a dead owner had already sent
/// (its COMMIT on the wire when it was killed) has finished before the new owner loads state.
const FENCE_KEY: i64 = LEASE_KEY + 2;

/// How long a new owner waits for a dead owner's last transaction.
const FENCE_WAIT: Duration = Duration::from_secs(30);

/// How `pg_locks` shows the lease: the key's high and low 32 bits.
const LEASE_HIGH: i64 = (LEASE_KEY >> 32) & 0xFFFF_FFFF;
const LEASE_LOW: i64 = LEASE_KEY & 0xFFFF_FFFF;

/// How long an open waits for another engine's lease before `store.in_use`.
const LEASE_WAIT: Duration = Duration::from_secs(3);

/// Connections in the pool for read transactions.
const POOL_SIZE: u32 = 8;

/// How long to wait for a connection (or the server's answer to one).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// A connection and the statements prepared on it.
pub(super) struct PgConn {
    client: Client,
    cache: HashMap<String, Statement>,
    /// Ids taken ahead from identity sequences (the writer's; `behind.rs`).
    ids: behind::IdPool,
}

/// How connections are made: in the clear, or TLS with the server's certificate verified.
#[derive(Clone)]
enum Tls {
    Plain,
    Verified(tokio_postgres_rustls::MakeRustlsConnect),
}

impl std::fmt::Debug for Tls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Tls::Plain => "Plain",
            Tls::Verified(_) => "Verified",
        })
    }
}

/// A new connection to the server `config` names.
fn connect_to(config: &Config, tls: &Tls) -> std::result::Result<Client, postgres::Error> {
    match tls {
        Tls::Plain => config.connect(NoTls),
        Tls::Verified(t) => config.connect(t.clone()),
    }
}

/// Opens pool connections.
#[derive(Debug)]
struct Manager {
    config: Config,
    tls: Tls,
}

impl r2d2::ManageConnection for Manager {
    type Connection = PgConn;
    type Error = postgres::Error;

    fn connect(&self) -> std::result::Result<PgConn, postgres::Error> {
        Ok(PgConn {
            client: connect_to(&self.config, &self.tls)?,
            cache: HashMap::new(),
            ids: behind::IdPool::default(),
        })
    }

    fn is_valid(&self, conn: &mut PgConn) -> std::result::Result<(), postgres::Error> {
        conn.client.simple_query("").map(|_| ())
    }

    fn has_broken(&self, conn: &mut PgConn) -> bool {
        conn.client.is_closed()
    }
}

/// PostgreSQL-backed [`Store`].
pub struct PgStore {
    /// `user@host:port/dbname`: what errors and logs name (never the password).
    target: String,
    config: Config,
    tls: Tls,
    /// The writer connection; its lock orders write transactions and their `on_commit`.
    writer: Mutex<PgConn>,
    /// The connection holding the lease, and its backend's process id.
    lease: Mutex<(Client, i32)>,
    pool: r2d2::Pool<Manager>,
    halted: Mutex<Option<String>>,
}

impl std::fmt::Debug for PgStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgStore")
            .field("target", &self.target)
            .finish_non_exhaustive()
    }
}

/// The password, when the URL has none: `TOLLGATE_PG_PASSWORD`, else the first line of the
/// file `TOLLGATE_PG_PASSWORD_FILE` names, else `PGPASSWORD` (libpq's variable).
fn password_from_environment() -> Result<Option<String>> {
    if let Ok(p) = std::env::var("TOLLGATE_PG_PASSWORD") {
        return Ok(Some(p));
    }
    if let Ok(path) = std::env::var("TOLLGATE_PG_PASSWORD_FILE") {
        let text = std::fs::read_to_string(&path).map_err(|e| {
            StoreError::io_caused_by(format!("reading the password file {path}"), e)
        })?;
        return Ok(Some(text.lines().next().unwrap_or("").to_string()));
    }
    Ok(std::env::var("PGPASSWORD").ok())
}

/// Parse a `postgres://` URL into the client's configuration, the target it names and how to
/// connect. Two parameters are this store's own, taken out before the client sees the URL:
/// `sslmode` (`disable`, `allow` and `prefer` connect in the clear; `require`, `verify-ca` and
/// `verify-full` all use TLS and verify the server's certificate chain and name) and
/// `sslrootcert` (a PEM file of the CAs to trust; default the system's).
fn parse_url(url: &str) -> Result<(Config, String, Tls)> {
    let bad = |why: String| -> Error {
        crate::error::ValidationError::Invalid {
            field: "database".into(),
            reason: why,
        }
        .into()
    };
    let mut parsed = url::Url::parse(url).map_err(|e| bad(format!("not a PostgreSQL URL: {e}")))?;
    let mut ssl_mode = "prefer".to_string();
    let mut root_cert: Option<String> = None;
    let kept: Vec<(String, String)> = parsed
        .query_pairs()
        .filter_map(|(k, v)| match k.as_ref() {
            "sslmode" => {
                ssl_mode = v.into_owned();
                None
            }
            "sslrootcert" => {
                root_cert = Some(v.into_owned());
                None
            }
            _ => Some((k.into_owned(), v.into_owned())),
        })
        .collect();
    if kept.is_empty() {
        parsed.set_query(None);
    } else {
        parsed.query_pairs_mut().clear().extend_pairs(kept);
    }
    let verified = match ssl_mode.as_str() {
        "disable" | "allow" | "prefer" => false,
        "require" | "verify-ca" | "verify-full" => true,
        other => {
            return Err(bad(format!(
            "sslmode={other} is not one of disable, allow, prefer, require, verify-ca, verify-full"
        )))
        }
    };
    let mut config =
        Config::from_str(parsed.as_str()).map_err(|e| bad(format!("not a PostgreSQL URL: {e}")))?;
    let tls = if verified {
        config.ssl_mode(postgres::config::SslMode::Require);
        Tls::Verified(tls_connector(root_cert.as_deref())?)
    } else {
        config.ssl_mode(postgres::config::SslMode::Disable);
        Tls::Plain
    };
    if config.get_password().is_none() {
        if let Some(p) = password_from_environment()? {
            config.password(p);
        }
    }
    if config.get_connect_timeout().is_none() {
        config.connect_timeout(CONNECT_TIMEOUT);
    }
    config.application_name("tollgate");
    let host = config
        .get_hosts()
        .first()
        .map(|h| match h {
            postgres::config::Host::Tcp(h) => h.clone(),
            #[cfg(unix)]
            postgres::config::Host::Unix(p) => p.display().to_string(),
        })
        .unwrap_or_else(|| "localhost".into());
    let port = config.get_ports().first().copied().unwrap_or(5432);
    let user = config.get_user().unwrap_or("");
    let db = config.get_dbname().unwrap_or(user);
    let target = format!("{user}@{host}:{port}/{db}");
    Ok((config, target, tls))
}

/// TLS that trusts the CAs in `root_cert` (PEM), or the system's, and checks the server's
/// name.
fn tls_connector(root_cert: Option<&str>) -> Result<tokio_postgres_rustls::MakeRustlsConnect> {
    use rustls_pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore::empty();
    match root_cert {
        Some(path) => {
            let certs = rustls_pki_types::CertificateDer::pem_file_iter(path)
                .and_then(|i| i.collect::<std::result::Result<Vec<_>, _>>())
                .map_err(|e| StoreError::io_caused_by(format!("reading sslrootcert {path}"), e))?;
            if certs.is_empty() {
                return Err(
                    StoreError::io(format!("sslrootcert {path} holds no certificate")).into(),
                );
            }
            for c in certs {
                roots
                    .add(c)
                    .map_err(|e| StoreError::io_caused_by(format!("sslrootcert {path}"), e))?;
            }
        }
        None => {
            let found = rustls_native_certs::load_native_certs();
            for c in found.certs {
                // A system certificate this TLS stack cannot use is skipped, as browsers do.
                let _ = roots.add(c);
            }
            if roots.is_empty() {
                return Err(StoreError::io(
                    "sslmode=require: no system CA certificates found; name one with sslrootcert",
                )
                .into());
            }
        }
    }
    let provider = std::sync::Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| StoreError::io_caused_by("TLS configuration", e))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(tokio_postgres_rustls::MakeRustlsConnect::new(config))
}

/// A driver error as the caller should see it. `target` names the server.
/// How the client's errors that are this store's own mistakes begin.
const CLIENT_MISUSE: [&str; 5] = [
    "error serializing parameter",
    "error deserializing column",
    "invalid column",
    "expected ",
    "query returned an unexpected number of rows",
];

pub(super) fn map_error(target: &str, e: postgres::Error) -> Error {
    if let Some(db) = e.as_db_error() {
        let code = db.code();
        if *code == SqlState::INVALID_PASSWORD
            || *code == SqlState::INVALID_AUTHORIZATION_SPECIFICATION
        {
            return StoreError::AccessDenied {
                target: target.to_string(),
                source: Some(Box::new(e)),
            }
            .into();
        }
        if *code == SqlState::INVALID_CATALOG_NAME {
            return StoreError::NotFound(format!("{target} (no such database)")).into();
        }
        if *code == SqlState::ADMIN_SHUTDOWN
            || *code == SqlState::CRASH_SHUTDOWN
            || *code == SqlState::CANNOT_CONNECT_NOW
            || *code == SqlState::TOO_MANY_CONNECTIONS
        {
            return StoreError::Unreachable {
                target: target.to_string(),
                source: Some(Box::new(e)),
            }
            .into();
        }
        return StoreError::database(e).into();
    }
    // The server asked for a password and none was given (the client's own check: its error
    // kinds are not public, its message is).
    let cause = std::error::Error::source(&e).map(|c| c.to_string());
    if e.to_string() == "authentication error" || cause.as_deref() == Some("password missing") {
        return StoreError::AccessDenied {
            target: target.to_string(),
            source: Some(Box::new(e)),
        }
        .into();
    }
    // A value that did not fit its column or parameter, a wrong row count: a bug of this
    // store, not a server that cannot be used (the client's error kinds are not public, their
    // messages are).
    let message = e.to_string();
    if CLIENT_MISUSE.iter().any(|p| message.starts_with(p)) {
        return Error::Internal(format!("PostgreSQL store: {message}"));
    }
    // Anything else the client reports rather than the server (a closed connection, a
    // timeout, a refused connection, TLS, a protocol error) is a server that cannot be used.
    StoreError::Unreachable {
        target: target.to_string(),
        source: Some(Box::new(e)),
    }
    .into()
}

impl PgStore {
    /// Create the Tollgate schema in the (empty) database `url` names.
    pub fn create(url: &str) -> Result<PgStore> {
        PgStore::connect(url, true)
    }

    /// Open the Tollgate database `url` names, applying pending migrations.
    pub fn open(url: &str) -> Result<PgStore> {
        PgStore::connect(url, false)
    }

    fn connect(url: &str, fresh: bool) -> Result<PgStore> {
        let (config, target, tls) = parse_url(url)?;
        let e = |err| map_error(&target, err);
        let mut lease = connect_to(&config, &tls).map_err(e)?;
        // An engine that was just killed holds the lease until the server sees its
        // connection close: wait a little for it rather than fail at once.
        lease
            .batch_execute(&format!(
                "SET lock_timeout = '{}ms'",
                LEASE_WAIT.as_millis()
            ))
            .map_err(e)?;
        if let Err(err) = lease.execute("SELECT pg_advisory_lock($1)", &[&LEASE_KEY]) {
            if err.code() == Some(&SqlState::LOCK_NOT_AVAILABLE) {
                return Err(StoreError::InUse {
                    path: target.clone(),
                    source: Some(Box::new(err)),
                }
                .into());
            }
            return Err(e(err));
        }
        // Drain a dead owner's last transaction (see FENCE_KEY) before anything is read.
        lease
            .batch_execute(&format!(
                "SET lock_timeout = '{}ms'",
                FENCE_WAIT.as_millis()
            ))
            .map_err(e)?;
        lease
            .execute("SELECT pg_advisory_lock($1)", &[&FENCE_KEY])
            .map_err(|err| {
                if err.code() == Some(&SqlState::LOCK_NOT_AVAILABLE) {
                    Error::from(StoreError::InUse {
                        path: target.clone(),
                        source: Some(Box::new(err)),
                    })
                } else {
                    e(err)
                }
            })?;
        lease
            .execute("SELECT pg_advisory_unlock($1)", &[&FENCE_KEY])
            .map_err(e)?;
        lease.batch_execute("RESET lock_timeout").map_err(e)?;
        let pid: i32 = lease
            .query_one("SELECT pg_backend_pid()", &[])
            .map_err(e)?
            .try_get(0)
            .map_err(e)?;
        let mut writer = PgConn {
            client: connect_to(&config, &tls).map_err(e)?,
            cache: HashMap::new(),
            ids: behind::IdPool::default(),
        };
        migrate(&target, &mut writer.client, fresh)?;
        let pool = r2d2::Pool::builder()
            .max_size(POOL_SIZE)
            // No probe query per checkout (a round trip per read): a connection found dead
            // as its read begins is replaced then (`run_read`).
            .test_on_check_out(false)
            .min_idle(Some(0))
            .connection_timeout(CONNECT_TIMEOUT)
            .build_unchecked(Manager {
                config: config.clone(),
                tls: tls.clone(),
            });
        Ok(PgStore {
            target,
            config,
            tls,
            writer: Mutex::new(writer),
            lease: Mutex::new((lease, pid)),
            pool,
            halted: Mutex::new(None),
        })
    }

    /// The lease is still ours: its connection is open and the server still shows the lock.
    fn check_lease(&self, conn: &mut postgres::Transaction<'_>) -> Result<()> {
        let (lease, pid) = &*self.lease.lock();
        let lost = || -> Error {
            StoreError::Halted(format!(
                "the lease on {} was lost: another engine may own the database now",
                self.target
            ))
            .into()
        };
        if lease.is_closed() {
            return Err(lost());
        }
        // One round trip: hold the fence shared for this transaction, and see the lease.
        let held: bool = conn
            .query_one(
                "SELECT EXISTS (SELECT 1 FROM pg_locks
                 WHERE locktype = 'advisory' AND pid = $1
                 AND classid::bigint = $2 AND objid::bigint = $3 AND objsubid = 1 AND granted)
                 FROM (SELECT pg_advisory_xact_lock_shared($4)) AS fence",
                &[pid, &LEASE_HIGH, &LEASE_LOW, &FENCE_KEY],
            )
            .map_err(|e| map_error(&self.target, e))?
            .try_get(0)
            .map_err(|e| map_error(&self.target, e))?;
        if !held {
            return Err(lost());
        }
        Ok(())
    }

    fn halt(&self, why: String) -> Error {
        log::error!("commit failed, the engine stops writing: {why}");
        *self.halted.lock() = Some(why.clone());
        StoreError::Halted(why).into()
    }

    fn run_write(
        &self,
        f: &mut dyn FnMut(&mut dyn StoreTx) -> Result<()>,
        on_commit: &mut dyn FnMut(),
    ) -> Result<()> {
        let mut writer = self.writer.lock();
        if let Some(why) = self.halted.lock().as_ref() {
            return Err(StoreError::Halted(why.clone()).into());
        }
        if writer.client.is_closed() {
            // The last transaction saw the connection go (and was not committed): start again.
            writer.client =
                connect_to(&self.config, &self.tls).map_err(|e| map_error(&self.target, e))?;
            writer.cache.clear();
        }
        let PgConn { client, cache, ids } = &mut *writer;
        let mut tx = client
            .transaction()
            .map_err(|e| map_error(&self.target, e))?;
        self.check_lease(&mut tx)?;
        let mut view = tx::PgTx::new(&self.target, tx, cache, ids);
        f(&mut view)?;
        // What the body kept back is sent now; a failure here commits nothing.
        let tx = view.finish()?;
        if let Err(e) = tx.commit() {
            return Err(self.halt(map_error(&self.target, e).to_string()));
        }
        on_commit();
        Ok(())
    }

    fn run_read(
        &self,
        f: &mut dyn FnMut(&mut dyn StoreTx) -> Result<()>,
        on_commit: &mut dyn FnMut(),
    ) -> Result<()> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            let mut conn = self.pool.get().map_err(|e| {
                Error::from(StoreError::Unreachable {
                    target: self.target.clone(),
                    source: Some(Box::new(e)),
                })
            })?;
            let PgConn { client, cache, ids } = &mut *conn;
            let mut started = false;
            let out = (|| {
                let tx = client
                    .build_transaction()
                    .isolation_level(postgres::IsolationLevel::RepeatableRead)
                    .read_only(true)
                    .start()
                    .map_err(|e| map_error(&self.target, e))?;
                let mut view = tx::PgTx::new(&self.target, tx, cache, ids);
                started = true;
                f(&mut view)?;
                view.finish()?
                    .commit()
                    .map_err(|e| map_error(&self.target, e))
            })();
            match out {
                // A pooled connection found dead when the read begins (the server restarted,
                // the network was cut) is dropped and another tried: each idle one may be
                // dead, so up to one more than the pool holds. Once the body has run it is not
                // run again: its caller sees the error.
                Err(e)
                    if attempt <= POOL_SIZE
                        && !started
                        && e.code() == crate::ErrorCode::StoreUnreachable =>
                {
                    log::warn!("read transaction lost its connection, retrying: {e}");
                    continue;
                }
                Err(e) => return Err(e),
                Ok(()) => {
                    on_commit();
                    return Ok(());
                }
            }
        }
    }
}

impl Store for PgStore {
    fn run(
        &self,
        kind: TxKind,
        f: &mut dyn FnMut(&mut dyn StoreTx) -> Result<()>,
        on_commit: &mut dyn FnMut(),
    ) -> Result<()> {
        match kind {
            TxKind::Write => self.run_write(f, on_commit),
            // A read changes nothing, so its `on_commit` has no commit order to keep.
            TxKind::Read => self.run_read(f, on_commit),
        }
    }
}

/// Apply pending migrations in one transaction; check what the database is first.
fn migrate(target: &str, client: &mut Client, fresh: bool) -> Result<()> {
    let e = |err| map_error(target, err);
    let mut tx = client.transaction().map_err(e)?;
    // Two engines creating at once: the second waits here, then finds the schema.
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&(LEASE_KEY + 1)])
        .map_err(e)?;
    let tables: i64 = tx
        .query_one(
            "SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = current_schema()",
            &[],
        )
        .map_err(e)?
        .try_get(0)
        .map_err(e)?;
    let has_meta: bool = tx
        .query_one(
            "SELECT EXISTS (SELECT 1 FROM information_schema.tables
             WHERE table_schema = current_schema() AND table_name = 'schema_migrations')",
            &[],
        )
        .map_err(e)?
        .try_get(0)
        .map_err(e)?;
    let ours = has_meta && {
        let app: Option<String> = tx
            .query_opt("SELECT value FROM meta WHERE key = 'application'", &[])
            .ok()
            .flatten()
            .and_then(|r| r.try_get(0).ok());
        app.as_deref() == Some(schema::APPLICATION)
    };
    // `Engine::create` writes `created_at` last, after the schema, the operator, the
    // administrator and the token key: a Tollgate schema without it is a create that died
    // (or failed) half-way, not a database anyone has used.
    let finished = ours
        && tx
            .query_opt("SELECT 1 FROM meta WHERE key = 'created_at'", &[])
            .map_err(e)?
            .is_some();
    if fresh {
        if finished {
            return Err(StoreError::Exists(format!("{target} (a Tollgate database)")).into());
        }
        if ours {
            // An unfinished create: what it made goes, and this create starts again. Create
            // began on an empty database, so every table here is one it made.
            let names: Vec<String> = tx
                .query(
                    "SELECT tablename FROM pg_tables WHERE schemaname = current_schema()",
                    &[],
                )
                .map_err(e)?
                .iter()
                .map(|r| r.try_get::<_, String>(0))
                .collect::<std::result::Result<_, _>>()
                .map_err(e)?;
            let quoted: Vec<String> = names
                .iter()
                .map(|n| format!("\"{}\"", n.replace('"', "\"\"")))
                .collect();
            tx.batch_execute(&format!("DROP TABLE {} CASCADE", quoted.join(", ")))
                .map_err(e)?;
        } else if tables > 0 {
            return Err(StoreError::NotTollgate {
                reason: format!(
                    "{target} has tables of another application; create needs an empty database"
                ),
                source: None,
            }
            .into());
        }
    } else if !ours {
        return Err(if tables == 0 {
            StoreError::NotFound(format!("{target} (an empty database: run init first)")).into()
        } else {
            StoreError::NotTollgate {
                reason: format!("{target} is a database of another application"),
                source: None,
            }
            .into()
        });
    } else if !finished {
        return Err(StoreError::NotFound(format!(
            "{target} (a create that did not finish: run init again)"
        ))
        .into());
    }
    tx.batch_execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations (
            version    BIGINT PRIMARY KEY,
            name       TEXT NOT NULL,
            applied_at TEXT NOT NULL DEFAULT to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS+00')
        )",
    )
    .map_err(e)?;
    let current: i64 = tx
        .query_one(
            "SELECT COALESCE(MAX(version), 0) FROM schema_migrations",
            &[],
        )
        .map_err(e)?
        .try_get(0)
        .map_err(e)?;
    if current > PG_SCHEMA_VERSION {
        return Err(StoreError::SchemaNewer {
            found: current,
            supported: PG_SCHEMA_VERSION,
        }
        .into());
    }
    for m in schema::MIGRATIONS.iter().filter(|m| m.version > current) {
        tx.batch_execute(m.sql).map_err(|err| {
            StoreError::io_caused_by(format!("migration {} ({})", m.version, m.name), err)
        })?;
        tx.execute(
            "INSERT INTO schema_migrations (version, name) VALUES ($1, $2)",
            &[&m.version, &m.name],
        )
        .map_err(e)?;
    }
    tx.commit().map_err(e)?;
    Ok(())
}

/// Helpers for tests and tools that need a database of their own on a server.
#[doc(hidden)]
pub mod testing {
    use super::*;

    /// Create the empty database `name` on the server `admin_url` points at (its own
    /// database is used only to run `CREATE DATABASE`), and return the URL of the new one.
    pub fn create_database(admin_url: &str, name: &str) -> Result<String> {
        if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return Err(Error::Internal(format!("bad database name {name:?}")));
        }
        let (config, target, tls) = parse_url(admin_url)?;
        let mut client = connect_to(&config, &tls).map_err(|e| map_error(&target, e))?;
        client
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .map_err(|e| map_error(&target, e))?;
        let mut url =
            url::Url::parse(admin_url).map_err(|e| Error::Internal(format!("admin URL: {e}")))?;
        url.set_path(&format!("/{name}"));
        Ok(url.to_string())
    }

    /// A new, empty database with a unique name starting `prefix`, on the test server that
    /// `TOLLGATE_TEST_PG` names (scripts/pg-cluster.sh prints it): its URL.
    pub fn fresh_test_database(prefix: &str) -> Result<String> {
        use std::sync::atomic::{AtomicU64, Ordering};
        static N: AtomicU64 = AtomicU64::new(0);
        let admin = std::env::var("TOLLGATE_TEST_PG").map_err(|_| {
            Error::Internal("TOLLGATE_TEST_PG is not set (scripts/pg-cluster.sh start)".into())
        })?;
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let name = format!(
            "{prefix}_{}_{}_{nanos}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        );
        create_database(&admin, &name)
    }

    /// Run one SQL script on the database `url` names (to shape a database by hand).
    pub fn execute(url: &str, sql: &str) -> Result<()> {
        let (config, target, tls) = parse_url(url)?;
        let mut client = connect_to(&config, &tls).map_err(|e| map_error(&target, e))?;
        client
            .batch_execute(sql)
            .map_err(|e| map_error(&target, e))?;
        Ok(())
    }

    /// The fence key every write transaction holds shared (see `FENCE_KEY`).
    pub const FENCE: i64 = FENCE_KEY;

    /// Wait until no engine's write transaction is still running on the database `url`
    /// names (a killed owner's last COMMIT may still be on its way), then return: what is
    /// read afterwards is what the next owner will see.
    pub fn drain_writers(url: &str) -> Result<()> {
        let (config, target, tls) = parse_url(url)?;
        let mut client = connect_to(&config, &tls).map_err(|e| map_error(&target, e))?;
        client
            .execute("SELECT pg_advisory_lock($1)", &[&FENCE_KEY])
            .map_err(|e| map_error(&target, e))?;
        client
            .execute("SELECT pg_advisory_unlock($1)", &[&FENCE_KEY])
            .map_err(|e| map_error(&target, e))?;
        Ok(())
    }

    /// Close every other connection to the database `url` names (a server restart, as the
    /// engine sees it).
    pub fn terminate_others(url: &str) -> Result<u64> {
        let (config, target, tls) = parse_url(url)?;
        let mut client = connect_to(&config, &tls).map_err(|e| map_error(&target, e))?;
        let rows = client
            .query(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity
                 WHERE datname = current_database() AND pid <> pg_backend_pid()",
                &[],
            )
            .map_err(|e| map_error(&target, e))?;
        Ok(rows.len() as u64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A value that does not fit what the server sends is this store's bug, reported as
    /// such: not as a server that cannot be reached (which the reads retry).
    #[test]
    fn a_value_that_does_not_fit_is_an_internal_error_not_an_unreachable_server() {
        let Ok(admin) = std::env::var("TOLLGATE_TEST_PG") else {
            assert!(
                std::env::var("TOLLGATE_REQUIRE_PG").as_deref() != Ok("1"),
                "TOLLGATE_REQUIRE_PG=1 but TOLLGATE_TEST_PG is not set"
            );
            return;
        };
        let (config, target, tls) = parse_url(&admin).unwrap();
        let mut client = connect_to(&config, &tls).unwrap();
        let row = client.query_one("SELECT 1::int4", &[]).unwrap();
        let misfit = row.try_get::<_, String>(0).unwrap_err();
        assert_eq!(
            map_error(&target, misfit).code(),
            crate::ErrorCode::Internal
        );
        let misfit = client.query_one("SELECT $1::int4", &[&1i64]).unwrap_err();
        assert_eq!(
            map_error(&target, misfit).code(),
            crate::ErrorCode::Internal
        );
        let none = client.query_one("SELECT 1 WHERE false", &[]).unwrap_err();
        assert_eq!(map_error(&target, none).code(), crate::ErrorCode::Internal);
        // A closed connection is still an unreachable server.
        drop(client);
        let mut client = connect_to(&config, &tls).unwrap();
        let pid: i32 = client
            .query_one("SELECT pg_backend_pid()", &[])
            .unwrap()
            .get(0);
        let mut other = connect_to(&config, &tls).unwrap();
        other
            .execute("SELECT pg_terminate_backend($1)", &[&pid])
            .unwrap();
        let gone = client.query_one("SELECT 1", &[]).unwrap_err();
        assert_eq!(
            map_error(&target, gone).code(),
            crate::ErrorCode::StoreUnreachable
        );
    }
}
