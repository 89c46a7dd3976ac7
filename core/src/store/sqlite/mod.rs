//! The embedded SQLite store: one connection owned by one engine, WAL journal, exclusive
//! locking so a second engine (in this process or another) gets "in use" instead of
//! corrupting anything.
//!
//! This module opens the file (pragmas, the lock, migrations) and runs transactions; the
//! [`StoreTx`] methods live by family in `rows` (generic entity rows, the tenant scope,
//! custom field values), `auth` (users, login attempts, roles, sessions, tokens), `meta`
//! (audit trail and settings) and `ledger` (balances, ledger entries, idempotency keys,
//! xDRs, exchange rates, included volumes); `tx` forwards each trait method to them.

mod auth;
mod billing;
mod ledger;
mod meta;
mod rows;
mod tx;

use super::migrations::{APPLICATION_ID, MIGRATIONS, SCHEMA_VERSION};
use super::{Store, StoreTx, TxKind};
use crate::error::{Error, Result, StoreError};
use parking_lot::Mutex;
use rusqlite::{params, Connection, ErrorCode as SqlCode, OpenFlags, TransactionBehavior};
use std::path::Path;

/// SQLite-backed [`Store`].
pub struct SqliteStore {
    conn: Mutex<Connection>,
    /// Why the store stopped writing, once a commit failed (see [`StoreError::Halted`]).
    halted: Mutex<Option<String>>,
    /// False for `:memory:`, which is gone once closed ([`Store::reopens`]).
    reopens: bool,
}

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStore").finish_non_exhaustive()
    }
}

fn map_open_error(path: &str, e: rusqlite::Error) -> Error {
    match e.sqlite_error_code() {
        Some(SqlCode::DatabaseBusy) | Some(SqlCode::DatabaseLocked) => StoreError::InUse {
            path: path.to_string(),
            source: Some(Box::new(e)),
        }
        .into(),
        Some(SqlCode::NotADatabase) => StoreError::NotTollgate {
            reason: format!("{path} is not an SQLite database"),
            source: Some(Box::new(e)),
        }
        .into(),
        _ => StoreError::io_caused_by(path, e).into(),
    }
}

/// A connection to `path`, through `vfs` when one is named.
fn connect(path: &str, flags: OpenFlags, vfs: Option<&str>) -> Result<Connection> {
    match vfs {
        None => Connection::open_with_flags(path, flags),
        Some(v) => Connection::open_with_flags_and_vfs(path, flags, v),
    }
    .map_err(|e| map_open_error(path, e))
}

/// Whether `meta` has `created_at`, which `Engine::create` writes last.
const CREATED: &str = "SELECT EXISTS (SELECT 1 FROM meta WHERE key = 'created_at')";

/// Whether the file at `path` is a Tollgate database whose create did not finish: the
/// process died (or a step failed and the file could not be removed) after the schema was
/// made and before `Engine::create` wrote `created_at`. Anything else, including a file
/// another process holds (a create still running), is not.
fn unfinished(path: &str) -> bool {
    let Ok(conn) = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    ) else {
        return false;
    };
    let ours = conn
        .query_row("PRAGMA application_id", [], |r| r.get::<_, i64>(0))
        .is_ok_and(|id| id == APPLICATION_ID);
    ours && conn
        .query_row(CREATED, [], |r| r.get::<_, bool>(0))
        .is_ok_and(|created| !created)
}

impl SqliteStore {
    /// Create a new database at `path` (or `:memory:`). Fails if a file is already there.
    pub fn create(path: &str) -> Result<SqliteStore> {
        SqliteStore::create_in(path, None)
    }

    /// Open an existing database at `path`, applying pending migrations.
    pub fn open(path: &str) -> Result<SqliteStore> {
        SqliteStore::open_in(path, None)
    }

    /// [`SqliteStore::create`] through the registered SQLite VFS `vfs` (`None`: the
    /// operating system's files). With a VFS, whether a file exists is the VFS's to say.
    pub fn create_in(path: &str, vfs: Option<&str>) -> Result<SqliteStore> {
        if vfs.is_none() && path != ":memory:" && Path::new(path).exists() {
            if !unfinished(path) {
                return Err(StoreError::Exists(path.to_string()).into());
            }
            // A create that died half-way (see `unfinished`): its files go and this create
            // starts again.
            for suffix in ["-wal", "-shm", ""] {
                let file = format!("{path}{suffix}");
                match std::fs::remove_file(&file) {
                    Ok(()) => {}
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                    Err(e) => {
                        return Err(StoreError::io_caused_by(
                            format!("{file}: removing an unfinished create"),
                            e,
                        )
                        .into())
                    }
                }
            }
        }
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let conn = connect(path, flags, vfs)?;
        let store = SqliteStore::configure(path, conn)?;
        store.migrate(path, true)?;
        Ok(store)
    }

    /// [`SqliteStore::open`] through the registered SQLite VFS `vfs` (`None`: the operating
    /// system's files).
    pub fn open_in(path: &str, vfs: Option<&str>) -> Result<SqliteStore> {
        if path == ":memory:" {
            return Err(StoreError::NotFound(
                "an in-memory database cannot be reopened; use create".into(),
            )
            .into());
        }
        if vfs.is_none() && !Path::new(path).is_file() {
            return Err(StoreError::NotFound(path.to_string()).into());
        }
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let conn = connect(path, flags, vfs)?;
        let store = SqliteStore::configure(path, conn)?;
        store.migrate(path, false)?;
        if !store
            .conn
            .lock()
            .query_row(CREATED, [], |r| r.get::<_, bool>(0))?
        {
            return Err(StoreError::NotFound(format!(
                "{path} (a create that did not finish: run init again)"
            ))
            .into());
        }
        Ok(store)
    }

    fn configure(path: &str, conn: Connection) -> Result<SqliteStore> {
        let e = |err| map_open_error(path, err);
        conn.busy_timeout(std::time::Duration::ZERO).map_err(e)?;
        // Exclusive locking: the first write takes the file lock and keeps it until close, so
        // no second engine can share the file. It also keeps the WAL index in heap memory.
        conn.pragma_update(None, "locking_mode", "EXCLUSIVE")
            .map_err(e)?;
        let mode: String = conn
            .query_row("PRAGMA journal_mode=WAL", [], |r| r.get(0))
            .map_err(e)?;
        if path != ":memory:" && !mode.eq_ignore_ascii_case("wal") {
            return Err(StoreError::io(format!(
                "{path}: could not enable WAL (journal_mode={mode})"
            ))
            .into());
        }
        conn.pragma_update(None, "synchronous", "FULL").map_err(e)?;
        conn.pragma_update(None, "foreign_keys", "ON").map_err(e)?;
        // Savepoint sub-journals (one per settle in a group commit) in memory, not in a temp
        // file: they only undo a savepoint inside a live transaction, never anything a crash
        // needs (the WAL does that), and writing them to a file cost about 8 % of a durable
        // authorize + settle's CPU.
        conn.pragma_update(None, "temp_store", "MEMORY")
            .map_err(e)?;
        // Take the exclusive lock now rather than at the first write.
        conn.execute_batch("BEGIN IMMEDIATE; COMMIT;").map_err(e)?;
        Ok(SqliteStore {
            conn: Mutex::new(conn),
            halted: Mutex::new(None),
            reopens: path != ":memory:",
        })
    }

    fn migrate(&self, path: &str, fresh: bool) -> Result<()> {
        let mut conn = self.conn.lock();
        let app_id: i64 = conn
            .query_row("PRAGMA application_id", [], |r| r.get(0))
            .map_err(|e| map_open_error(path, e))?;
        if !fresh && app_id != APPLICATION_ID {
            return Err(StoreError::NotTollgate {
                reason: format!("{path} is an SQLite database of another application"),
                source: None,
            }
            .into());
        }
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        tx.execute_batch(
            "CREATE TABLE IF NOT EXISTS schema_migrations (
                version    INTEGER PRIMARY KEY,
                name       TEXT NOT NULL,
                applied_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%d %H:%M:%S+00', 'now'))
            )",
        )?;
        let current: i64 = tx.query_row(
            "SELECT COALESCE(MAX(version), 0) FROM schema_migrations",
            [],
            |r| r.get(0),
        )?;
        if current > SCHEMA_VERSION {
            return Err(StoreError::SchemaNewer {
                found: current,
                supported: SCHEMA_VERSION,
            }
            .into());
        }
        for m in MIGRATIONS.iter().filter(|m| m.version > current) {
            tx.execute_batch(m.sql).map_err(|e| {
                StoreError::io_caused_by(format!("migration {} ({})", m.version, m.name), e)
            })?;
            tx.execute(
                "INSERT INTO schema_migrations (version, name) VALUES (?1, ?2)",
                params![m.version, m.name],
            )?;
        }
        if fresh {
            tx.pragma_update(None, "application_id", APPLICATION_ID)?;
        }
        tx.commit()?;
        Ok(())
    }
}

impl Store for SqliteStore {
    fn run(
        &self,
        kind: TxKind,
        f: &mut dyn FnMut(&mut dyn StoreTx) -> Result<()>,
        on_commit: &mut dyn FnMut(),
    ) -> Result<()> {
        let conn = self.conn.lock();
        if let Some(why) = self.halted.lock().as_ref() {
            return Err(StoreError::Halted(why.clone()).into());
        }
        let tx = Open::begin(&conn, kind)?;
        let mut view = SqliteTx::new(&conn);
        f(&mut view)?;
        if let Err(e) = tx.commit() {
            // A failed commit (a failed fsync above all) leaves the disk in a state this
            // process cannot know: stop writing rather than retry into a lost write.
            let e = Error::from(e);
            log::error!("commit failed, the engine stops writing: {e}");
            *self.halted.lock() = Some(e.to_string());
            return Err(StoreError::Halted(e.to_string()).into());
        }
        on_commit();
        Ok(())
    }

    fn reopens(&self) -> bool {
        self.reopens
    }
}

/// An open transaction on the connection, begun and committed with cached statements (not
/// re-parsed per call, as `rusqlite::Transaction`'s `execute_batch` does); rolled back when
/// dropped uncommitted (the body failed or panicked, or the COMMIT failed).
struct Open<'c> {
    conn: &'c Connection,
    committed: bool,
}

impl<'c> Open<'c> {
    fn begin(conn: &'c Connection, kind: TxKind) -> Result<Open<'c>> {
        let sql = match kind {
            TxKind::Read => "BEGIN DEFERRED",
            TxKind::Write => "BEGIN IMMEDIATE",
        };
        conn.prepare_cached(sql)?.execute([])?;
        Ok(Open {
            conn,
            committed: false,
        })
    }

    fn commit(mut self) -> rusqlite::Result<()> {
        self.conn.prepare_cached("COMMIT")?.execute([])?;
        self.committed = true;
        Ok(())
    }
}

impl Drop for Open<'_> {
    fn drop(&mut self) {
        if self.committed || self.conn.is_autocommit() {
            return;
        }
        let rolled = self
            .conn
            .prepare_cached("ROLLBACK")
            .and_then(|mut s| s.execute([]));
        if let Err(e) = rolled {
            log::error!("rolling back a transaction failed: {e}");
        }
    }
}

/// One transaction: what [`StoreTx`] runs on.
struct SqliteTx<'a> {
    conn: &'a Connection,
    /// Balance changes posted in this transaction (see `StoreTx::postings`).
    postings: Vec<(i64, rust_decimal::Decimal)>,
    /// `postings.len()` when each open savepoint began.
    marks: Vec<usize>,
}

impl<'a> SqliteTx<'a> {
    fn new(conn: &'a Connection) -> SqliteTx<'a> {
        SqliteTx {
            conn,
            postings: Vec::new(),
            marks: Vec::new(),
        }
    }
}

/// A failed write as the caller should see it: a UNIQUE violation is a duplicate value, a
/// FOREIGN KEY one means other rows still refer to the row; anything else is a storage error.
fn map_write_error(e: rusqlite::Error) -> Error {
    if let Some(SqlCode::ConstraintViolation) = e.sqlite_error_code() {
        let msg = e.to_string();
        if msg.contains("UNIQUE") {
            let field = msg.rsplit('.').next().unwrap_or("value").to_string();
            return crate::error::ValidationError::Duplicate {
                field,
                value: "the given value".into(),
            }
            .into();
        }
        if msg.contains("FOREIGN KEY") {
            return Error::InUse {
                what: "object".into(),
                reason: "other records refer to it".into(),
            };
        }
    }
    e.into()
}

// --- savepoints (one name: they do not nest) ---

fn savepoint(conn: &Connection) -> Result<()> {
    conn.prepare_cached("SAVEPOINT tollgate_item")?
        .execute([])?;
    Ok(())
}

fn release_savepoint(conn: &Connection) -> Result<()> {
    conn.prepare_cached("RELEASE tollgate_item")?.execute([])?;
    Ok(())
}

fn rollback_to_savepoint(conn: &Connection) -> Result<()> {
    // ROLLBACK TO keeps the savepoint open; RELEASE then drops it (with nothing in it).
    conn.prepare_cached("ROLLBACK TO tollgate_item")?
        .execute([])?;
    conn.prepare_cached("RELEASE tollgate_item")?.execute([])?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::error::Error as _;

    #[test]
    fn open_errors_keep_the_driver_error_and_their_message() {
        let dir = tempfile::tempdir().unwrap();
        let text = dir.path().join("notes.txt");
        std::fs::write(
            &text,
            "not a database, just text long enough to fill a header",
        )
        .unwrap();
        let text = text.to_str().unwrap();
        let err = SqliteStore::open(text).unwrap_err();
        assert!(matches!(
            err,
            Error::Store(StoreError::NotTollgate {
                source: Some(_),
                ..
            })
        ));
        assert_eq!(
            err.to_string(),
            format!("not a Tollgate database: {text} is not an SQLite database")
        );
        assert!(err.source().is_some());

        let db = dir.path().join("billing.db");
        let db = db.to_str().unwrap();
        let _first = SqliteStore::create(db).unwrap();
        let err = SqliteStore::open(db).unwrap_err();
        assert!(matches!(
            err,
            Error::Store(StoreError::InUse {
                source: Some(_),
                ..
            })
        ));
        assert_eq!(
            err.to_string(),
            format!("database is in use by another Tollgate engine: {db}")
        );
    }

    #[test]
    fn the_ancestor_walk_stops_at_its_depth_limit_on_a_cycle() {
        let store = SqliteStore::create(":memory:").unwrap();
        let conn = store.conn.lock();
        conn.execute_batch(
            "INSERT INTO companies (id, parent_id, name, c_dt) VALUES (10, NULL, 'a', 'x'), (11, 10, 'b', 'x');
             UPDATE companies SET parent_id = 11 WHERE id = 10;",
        )
        .unwrap();
        let ids = rows::company_ancestors(&conn, 11).unwrap();
        let levels = i64::try_from(ids.len()).unwrap();
        assert_eq!(levels, crate::limits::company_ancestors_depth_max + 1);
    }
}
