//! The scale world of issue 17: a 100,000-code deck, `clients` clients with one ANI account
//! each, every call from a random account (not one hot account).
//!
//! Building a million clients through the API takes minutes, so the database is built once
//! per size on tmpfs (`/dev/shm`, where an fsync costs nothing) and kept under the target
//! directory; each run copies it and opens the copy.

use crate::charging::must;
use crate::{deck_codes, deck_csv, dialled_numbers, SplitMix};
use serde_json::json;
use std::path::{Path, PathBuf};
use std::time::Instant;
use tollgate::{AuthorizeRequest, Engine};

/// Codes in the scale deck.
pub const CODES: usize = 100_000;

/// The first ANI of the scale world's accounts: account `k` is `ani(k)`.
pub fn ani(k: usize) -> String {
    format!("{}", 10_000_000 + k)
}

/// Where the built database of `clients` clients is kept between runs.
fn kept(clients: usize) -> PathBuf {
    let dir = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../target"));
    dir.join("bench-data")
        .join(format!("scale-{clients}-v1.db"))
}

/// A temporary directory on tmpfs (`/dev/shm`), else in the usual temporary place.
pub fn tmpfs_dir(prefix: &str) -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix(prefix)
        .tempdir_in("/dev/shm")
        .or_else(|_| tempfile::tempdir())
        .expect("a temporary directory")
}

/// Fill `e` with the deck and `clients` clients (each with a large credit limit, so no
/// payment row is needed) and their accounts.
fn fill(e: &Engine, clients: usize) {
    let table = must(
        e,
        "rateTables.add",
        json!({"name": "Carrier", "rounding": "half_up"}),
    )["id"]
        .as_i64()
        .expect("id");
    for csv in deck_csv(&deck_codes(CODES), 20_000) {
        must(
            e,
            "rates.import",
            json!({"id_rate_tables": table, "csv": csv}),
        );
    }
    let start = Instant::now();
    for k in 0..clients {
        let c = must(
            e,
            "clients.add",
            json!({"name": format!("Client {k}"), "orig_rate_table": table, "credit": "1000000000"}),
        )["id"]
            .as_i64()
            .expect("id");
        must(
            e,
            "accounts.add",
            json!({"id_clients": c, "name": format!("ani {k}"), "auth_type": "ani", "ident": ani(k)}),
        );
        if k % 100_000 == 99_999 {
            eprintln!("scale world: {} clients in {:?}", k + 1, start.elapsed());
        }
    }
}

/// A database file of the scale world with `clients` clients, built once and kept; returns a
/// fresh copy of it in `dir` (so a run never changes the kept one).
pub fn database(clients: usize, dir: &Path) -> PathBuf {
    let keep = kept(clients);
    if !keep.exists() {
        let shm = tmpfs_dir("tollgate-scale");
        let path = shm.path().join("scale.db");
        let e = Engine::create(path.to_str().expect("utf-8"), "admin", "admin-password-1")
            .expect("create");
        fill(&e, clients);
        e.close();
        drop(e);
        std::fs::create_dir_all(keep.parent().expect("parent")).expect("bench-data dir");
        let part = keep.with_extension("part");
        std::fs::copy(&path, &part).expect("copy the built database");
        std::fs::rename(&part, &keep).expect("keep the built database");
    }
    let copy = dir.join("scale.db");
    std::fs::copy(&keep, &copy).expect("copy the kept database");
    copy
}

/// An in-memory engine of the scale world (built through the API; no file).
pub fn memory(clients: usize) -> Engine {
    let e = Engine::create(":memory:", "admin", "admin-password-1").expect("create");
    fill(&e, clients);
    e
}

/// `count` requests, each from a random account of `clients` to a random number of the deck.
pub fn random_requests(clients: usize, count: usize, seed: u64) -> Vec<AuthorizeRequest> {
    let numbers = dialled_numbers(&deck_codes(CODES), count);
    let mut rng = SplitMix(seed);
    numbers
        .into_iter()
        .map(|n| AuthorizeRequest {
            account: ani(rng.below(clients as u64) as usize),
            auth_type: Some("ani".into()),
            destination: n,
            ..Default::default()
        })
        .collect()
}
