//! The simulator finds a planted bug: with `release` giving a hold back twice, some seed of
//! the CI's range breaks an invariant (its own process: the switch is global).

use std::sync::atomic::Ordering;

#[test]
fn a_hold_released_twice_is_found_within_the_ci_seeds() {
    tollgate::charging::planted::DOUBLE_RELEASE.store(true, Ordering::Relaxed);
    let found = (0..200)
        .find_map(|seed| tollgate_sim::run(seed, 100, tollgate_sim::default_faults()).err());
    tollgate::charging::planted::DOUBLE_RELEASE.store(false, Ordering::Relaxed);
    let e = found.expect("the planted bug went unnoticed for 200 seeds");
    assert!(
        e.contains("holds") || e.contains("panicked") || e.contains("invariant"),
        "found, but not as a broken hold: {e}"
    );
    eprintln!("planted bug found: {e}");
}
