//! The simulator in CI: a few hundred seeds keep every invariant, a seed replays to the same
//! trace, and a failed fsync stops the engine. The disk is one per process: these tests take
//! turns.

use std::sync::Mutex;
use tollgate_sim::{default_faults, run, vfs};

static DISK: Mutex<()> = Mutex::new(());

fn env(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

#[test]
fn a_few_hundred_seeds_keep_every_invariant() {
    let _turn = DISK.lock().unwrap_or_else(|p| p.into_inner());
    let (seeds, ops) = (env("TOLLGATE_SIM_SEEDS", 200), env("TOLLGATE_SIM_OPS", 100));
    let (mut crashes, mut fsyncs, mut lost, mut acked) = (0, 0, 0, 0);
    for seed in 0..seeds {
        let r = run(seed, ops as usize, default_faults()).unwrap_or_else(|e| panic!("{e}"));
        crashes += r.restarts;
        fsyncs += r.disk.sync_errors;
        lost += r.disk.lost_writes;
        acked += r.acknowledged;
    }
    eprintln!("{seeds} seeds x {ops}: {crashes} crashes, {fsyncs} failed fsyncs, {lost} lost writes, {acked} acknowledged");
    // The faults really happened, or the run proves nothing.
    assert!(
        crashes > 0 && fsyncs > 0 && lost > 0,
        "{crashes} {fsyncs} {lost}"
    );
    assert!(acked > seeds as usize * 10);
}

#[test]
fn a_replayed_seed_produces_the_same_trace() {
    let _turn = DISK.lock().unwrap_or_else(|p| p.into_inner());
    let a = run(42, 300, default_faults()).expect("seed 42");
    let b = run(42, 300, default_faults()).expect("seed 42 again");
    assert_eq!(a.hash, b.hash, "the same seed, another trace");
    assert_eq!(a.disk, b.disk);
    assert!(a.restarts > 0, "seed 42 should crash at least once");
    let c = run(43, 300, default_faults()).expect("seed 43");
    assert_ne!(a.hash, c.hash, "another seed, the same trace");
}

#[test]
fn a_failed_fsync_stops_the_engine_until_it_is_reopened() {
    let _turn = DISK.lock().unwrap_or_else(|p| p.into_inner());
    vfs::reset(7, vfs::Faults::default());
    let opts = || tollgate::EngineOptions {
        vfs: Some(vfs::NAME.to_string()),
        ..Default::default()
    };
    let e = tollgate::Engine::create_with("fsync.db", "admin", "admin-password-1", opts())
        .expect("create");
    let ok = e.call_as_system("clients.add", serde_json::json!({"name": "kept"}));
    assert!(ok.code, "{:?}", ok.errors);
    vfs::set_faults(vfs::Faults {
        sync_error: 1.0,
        ..Default::default()
    });
    let lost = e.call_as_system("clients.add", serde_json::json!({"name": "maybe"}));
    assert_eq!(
        lost.errors[0].code.as_str(),
        "store.halted",
        "{:?}",
        lost.errors
    );
    assert!(
        lost.errors[0].message.contains("reopen"),
        "{}",
        lost.errors[0].message
    );
    // The disk works again, but the engine does not retry: everything answers halted.
    vfs::set_faults(vfs::Faults::default());
    let after = e.call_as_system("clients.list", serde_json::json!({}));
    assert_eq!(after.errors[0].code.as_str(), "store.halted");
    let status = e.status().expect_err("halted");
    assert_eq!(status.code().as_str(), "store.halted");
    vfs::crash();
    drop(e);
    vfs::power_on();
    let e = tollgate::Engine::open_with("fsync.db", opts()).expect("reopen");
    let rows = e.call_as_system("clients.list", serde_json::json!({}));
    let names: Vec<String> = rows.ret["rows"]
        .as_array()
        .expect("rows")
        .iter()
        .map(|r| r["name"].as_str().unwrap_or_default().to_string())
        .collect();
    assert!(names.contains(&"kept".to_string()), "{names:?}");
}
