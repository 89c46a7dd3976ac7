//! The naive ways to charge a call that Tollgate is measured against (issues 16 and 17): one
//! database transaction per call with prepared statements — find the account's client, read
//! its balance, find the longest matching prefix's rate, update the balance, insert the xDR
//! and the ledger row, commit — on SQLite (WAL, `synchronous=FULL`, a connection per caller)
//! and on PostgreSQL.

/// Per-minute rate of the `k`-th deck code, in micro-units (0.0100 .. 0.9099 a minute).
pub fn rate_micros(k: usize) -> i64 {
    (100 + (k % 9000) as i64) * 100
}

/// A call's cost in micro-units: `per_minute` micro-units a minute for `seconds`, half up.
pub fn cost_micros(per_minute: i64, seconds: i64) -> i64 {
    (per_minute * seconds + 30) / 60
}

/// The naive way on SQLite.
pub mod sqlite {
    use super::{cost_micros, rate_micros};
    use rusqlite::{params, params_from_iter, Connection, OptionalExtension, TransactionBehavior};
    use std::time::Duration;

    /// Money is integer micro-units (no floats); the rate table is keyed by its code.
    pub const SCHEMA: &str = "
CREATE TABLE clients (id INTEGER PRIMARY KEY, balance INTEGER NOT NULL, credit INTEGER NOT NULL);
CREATE TABLE accounts (ident TEXT PRIMARY KEY, id_clients INTEGER NOT NULL REFERENCES clients(id)) WITHOUT ROWID;
CREATE TABLE rates (code TEXT PRIMARY KEY, rate INTEGER NOT NULL) WITHOUT ROWID;
CREATE TABLE xdrs (id INTEGER PRIMARY KEY, call_id TEXT NOT NULL UNIQUE, id_clients INTEGER NOT NULL,
                   dst TEXT NOT NULL, code TEXT NOT NULL, duration INTEGER NOT NULL, cost INTEGER NOT NULL);
CREATE TABLE ledger (id INTEGER PRIMARY KEY, id_clients INTEGER NOT NULL, amount INTEGER NOT NULL,
                     balance_after INTEGER NOT NULL, reference TEXT NOT NULL);
";

    /// The longest prefix the rate query looks at; the deck's codes are shorter.
    pub const MAX_PREFIX: usize = 16;

    /// How long a caller waits for the write lock before its call fails.
    pub const BUSY_TIMEOUT: Duration = Duration::from_secs(60);

    /// A new database at `path`: the schema, `codes` as the rate table (the `k`-th at
    /// [`rate_micros`]`(k)`), and `accounts` clients with ANI accounts `1000 + k`, each with a
    /// balance of 10^9 (10^15 micro-units). Returns the connection that made it: while one
    /// stays open SQLite keeps the `-wal` file (the last one to close checkpoints and deletes
    /// it), so callers write into a log already as large as the load made it, as Tollgate's
    /// engine, which keeps its connection, does.
    pub fn create(path: &str, codes: &[String], accounts: usize) -> rusqlite::Result<Connection> {
        let mut conn = Connection::open(path)?;
        let mode: String = conn.query_row("PRAGMA journal_mode=WAL", [], |r| r.get(0))?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(rusqlite::Error::InvalidQuery);
        }
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.execute_batch(SCHEMA)?;
        let tx = conn.transaction()?;
        {
            let mut rate = tx.prepare("INSERT INTO rates (code, rate) VALUES (?1, ?2)")?;
            for (k, code) in codes.iter().enumerate() {
                rate.execute(params![code, rate_micros(k)])?;
            }
            let mut client =
                tx.prepare("INSERT INTO clients (id, balance, credit) VALUES (?1, ?2, 0)")?;
            let mut account =
                tx.prepare("INSERT INTO accounts (ident, id_clients) VALUES (?1, ?2)")?;
            for k in 0..accounts {
                client.execute(params![k as i64, 1_000_000_000_000_000i64])?;
                account.execute(params![format!("{}", 1000 + k), k as i64])?;
            }
        }
        tx.commit()?;
        conn.execute_batch("ANALYZE")?;
        Ok(conn)
    }

    /// One caller's connection to a database [`create`] made.
    pub struct Naive {
        conn: Connection,
        /// The longest-prefix query's text, built once (it is the statement cache's key).
        rate_sql: String,
    }

    const ACCOUNT: &str = "SELECT id_clients FROM accounts WHERE ident = ?1";
    const BALANCE: &str = "SELECT balance, credit FROM clients WHERE id = ?1";
    const UPDATE: &str = "UPDATE clients SET balance = ?2 WHERE id = ?1";
    const XDR: &str = "INSERT INTO xdrs (call_id, id_clients, dst, code, duration, cost)
                       VALUES (?1, ?2, ?3, ?4, ?5, ?6)";
    const LEDGER: &str = "INSERT INTO ledger (id_clients, amount, balance_after, reference)
                          VALUES (?1, ?2, ?3, ?4)";

    /// Longest prefix in one statement: every prefix of the number bound (unused ones NULL),
    /// the longest code among them.
    fn rate_query() -> String {
        let marks: Vec<String> = (1..=MAX_PREFIX).map(|k| format!("?{k}")).collect();
        format!(
            "SELECT code, rate FROM rates WHERE code IN ({}) ORDER BY length(code) DESC LIMIT 1",
            marks.join(", ")
        )
    }

    impl Naive {
        /// Open `path` with `synchronous=FULL` and a busy timeout, and prepare (cache) every
        /// statement of a call.
        pub fn open(path: &str) -> rusqlite::Result<Naive> {
            let conn = Connection::open(path)?;
            conn.pragma_update(None, "synchronous", "FULL")?;
            conn.busy_timeout(BUSY_TIMEOUT)?;
            conn.set_prepared_statement_cache_capacity(16);
            let rate_sql = rate_query();
            for sql in [ACCOUNT, BALANCE, UPDATE, XDR, LEDGER, &rate_sql] {
                conn.prepare_cached(sql)?;
            }
            Ok(Naive { conn, rate_sql })
        }

        /// Charge one call of `seconds` from account `ident` to `number`, in one
        /// `BEGIN IMMEDIATE` … `COMMIT`: the xDR's id.
        pub fn call(
            &mut self,
            ident: &str,
            number: &str,
            call_id: &str,
            seconds: i64,
        ) -> rusqlite::Result<i64> {
            let prefixes: Vec<Option<&str>> = (1..=MAX_PREFIX).map(|n| number.get(..n)).collect();
            let tx = self
                .conn
                .transaction_with_behavior(TransactionBehavior::Immediate)?;
            let client: i64 = tx
                .prepare_cached(ACCOUNT)?
                .query_row([ident], |r| r.get(0))?;
            let (balance, credit): (i64, i64) = tx
                .prepare_cached(BALANCE)?
                .query_row([client], |r| Ok((r.get(0)?, r.get(1)?)))?;
            let (code, per_minute): (String, i64) = tx
                .prepare_cached(&self.rate_sql)?
                .query_row(params_from_iter(prefixes), |r| Ok((r.get(0)?, r.get(1)?)))
                .optional()?
                .ok_or(rusqlite::Error::QueryReturnedNoRows)?;
            let cost = cost_micros(per_minute, seconds);
            if balance + credit < cost {
                // Out of funds: the naive client refuses, changing nothing.
                return Err(rusqlite::Error::QueryReturnedNoRows);
            }
            let after = balance - cost;
            tx.prepare_cached(UPDATE)?.execute(params![client, after])?;
            tx.prepare_cached(XDR)?
                .execute(params![call_id, client, number, code, seconds, cost])?;
            let xdr = tx.last_insert_rowid();
            tx.prepare_cached(LEDGER)?.execute(params![
                client,
                -cost,
                after,
                format!("xdr:{xdr}")
            ])?;
            tx.commit()?;
            Ok(xdr)
        }
    }
}

/// The naive way on PostgreSQL (the `postgres` bench and the harness).
pub mod postgres {
    use super::rate_micros;
    use tollgate::Decimal;

    /// The naive way's schema: accounts, clients with a balance, a rate table, xDRs and
    /// ledger. Money is NUMERIC.
    pub const SCHEMA: &str = "
CREATE TABLE clients (id BIGINT PRIMARY KEY, balance NUMERIC NOT NULL, credit NUMERIC NOT NULL);
CREATE TABLE accounts (ident TEXT PRIMARY KEY, id_clients BIGINT NOT NULL REFERENCES clients(id));
CREATE TABLE rates (code TEXT PRIMARY KEY, rate NUMERIC NOT NULL);
CREATE TABLE xdrs (id BIGSERIAL PRIMARY KEY, call_id TEXT NOT NULL UNIQUE, id_clients BIGINT NOT NULL,
                   dst TEXT NOT NULL, code TEXT NOT NULL, duration BIGINT NOT NULL, cost NUMERIC NOT NULL);
CREATE TABLE ledger (id BIGSERIAL PRIMARY KEY, id_clients BIGINT NOT NULL, amount NUMERIC NOT NULL,
                     balance_after NUMERIC NOT NULL, reference TEXT NOT NULL);
";

    /// Fill the empty database at `url`: the schema, `codes` as the rate table (the `k`-th at
    /// [`rate_micros`]`(k)` micro-units a minute) and `accounts` clients with ANI accounts
    /// `1000 + k` and a large balance.
    pub fn create(url: &str, codes: &[String], accounts: usize) -> Result<(), postgres::Error> {
        let mut client = postgres::Client::connect(url, postgres::NoTls)?;
        client.batch_execute(SCHEMA)?;
        let mut copy = client.copy_in("COPY rates (code, rate) FROM STDIN")?;
        use std::io::Write;
        for (k, code) in codes.iter().enumerate() {
            let rate = Decimal::new(rate_micros(k), 6);
            // A write into the COPY buffer fails only when the connection has: finish says so.
            if writeln!(copy, "{code}\t{rate}").is_err() {
                break;
            }
        }
        copy.finish()?;
        for k in 0..accounts {
            client.execute(
                "INSERT INTO clients (id, balance, credit) VALUES ($1, 1000000000, 0)",
                &[&(k as i64)],
            )?;
            client.execute(
                "INSERT INTO accounts (ident, id_clients) VALUES ($1, $2)",
                &[&format!("{}", 1000 + k), &(k as i64)],
            )?;
        }
        client.batch_execute("ANALYZE")
    }

    /// One call the naive way: one transaction, prepared statements.
    pub struct Naive {
        client: postgres::Client,
        lock: postgres::Statement,
        rate: postgres::Statement,
        update: postgres::Statement,
        xdr: postgres::Statement,
        ledger: postgres::Statement,
    }

    impl Naive {
        /// Connect to `url` and prepare every statement of a call.
        pub fn connect(url: &str) -> Result<Naive, postgres::Error> {
            let mut client = postgres::Client::connect(url, postgres::NoTls)?;
            let lock = client.prepare(
                "SELECT c.id, c.balance, c.credit FROM accounts a JOIN clients c ON c.id = a.id_clients
                 WHERE a.ident = $1 FOR UPDATE OF c",
            )?;
            // Longest prefix: every prefix of the number, the longest one that exists.
            let rate = client.prepare(
                "SELECT code, rate FROM rates WHERE code = ANY($1) ORDER BY length(code) DESC LIMIT 1",
            )?;
            let update = client.prepare("UPDATE clients SET balance = $2 WHERE id = $1")?;
            let xdr = client.prepare(
                "INSERT INTO xdrs (call_id, id_clients, dst, code, duration, cost) VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
            )?;
            let ledger = client.prepare(
                "INSERT INTO ledger (id_clients, amount, balance_after, reference) VALUES ($1, $2, $3, $4)",
            )?;
            Ok(Naive {
                client,
                lock,
                rate,
                update,
                xdr,
                ledger,
            })
        }

        /// Charge one call of `seconds` from account `ident` to `number` in one transaction.
        pub fn call(
            &mut self,
            ident: &str,
            number: &str,
            call_id: &str,
            seconds: i64,
        ) -> Result<i64, postgres::Error> {
            let prefixes: Vec<String> = (1..=number.len())
                .filter_map(|n| number.get(..n).map(str::to_string))
                .collect();
            let mut tx = self.client.transaction()?;
            let row = tx.query_one(&self.lock, &[&ident])?;
            let (client, balance, credit): (i64, Decimal, Decimal) =
                (row.get(0), row.get(1), row.get(2));
            let rate = tx.query_one(&self.rate, &[&prefixes])?;
            let (code, per_minute): (String, Decimal) = (rate.get(0), rate.get(1));
            let cost = (per_minute * Decimal::from(seconds) / Decimal::from(60)).round_dp(4);
            assert!(
                balance + credit >= cost,
                "the naive client ran out of funds"
            );
            let after = balance - cost;
            tx.execute(&self.update, &[&client, &after])?;
            let xdr: i64 = tx
                .query_one(
                    &self.xdr,
                    &[&call_id, &client, &number, &code, &seconds, &cost],
                )?
                .get(0);
            tx.execute(
                &self.ledger,
                &[&client, &-cost, &after, &format!("xdr:{xdr}")],
            )?;
            tx.commit()?;
            Ok(xdr)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn naive_sqlite_charges_the_longest_prefix() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("naive.db");
        let path = path.to_str().expect("utf-8");
        let codes: Vec<String> = ["44", "447", "4479"].map(String::from).to_vec();
        sqlite::create(path, &codes, 2).expect("created");
        let mut n = sqlite::Naive::open(path).expect("opened");
        let xdr = n.call("1001", "447912345678", "c1", 60).expect("charged");
        assert_eq!(xdr, 1);
        let conn = rusqlite::Connection::open(path).expect("open");
        let (code, cost): (String, i64) = conn
            .query_row("SELECT code, cost FROM xdrs", [], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .expect("xdr");
        assert_eq!((code.as_str(), cost), ("4479", rate_micros(2)));
        let (balance, ledger): (i64, i64) = conn
            .query_row(
                "SELECT c.balance, l.balance_after FROM clients c JOIN ledger l ON l.id_clients = c.id WHERE c.id = 1",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .expect("ledger");
        assert_eq!(balance, 1_000_000_000_000_000 - rate_micros(2));
        assert_eq!(balance, ledger);
        assert!(n.call("1001", "999", "c2", 60).is_err(), "no rate");
        assert!(
            n.call("1001", "447912345678", "c1", 60).is_err(),
            "same call id"
        );
    }
}
