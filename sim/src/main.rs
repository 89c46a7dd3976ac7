//! `tollgate-sim [--seeds N] [--ops M] [--first S]`: run N seeds of M operations each from seed
//! S, print a line per failure and a summary; exit 1 if any seed broke an invariant.

fn arg(args: &[String], name: &str, default: u64) -> u64 {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn main() -> std::process::ExitCode {
    let args: Vec<String> = std::env::args().collect();
    let (seeds, ops, first) = (
        arg(&args, "--seeds", 100),
        arg(&args, "--ops", 1000),
        arg(&args, "--first", 0),
    );
    let start = std::time::Instant::now();
    let (mut failed, mut restarts, mut acknowledged) = (0u64, 0usize, 0usize);
    let mut disk = tollgate_sim::vfs::Counts::default();
    for seed in first..first + seeds {
        if (seed - first) % 500 == 0 && seed > first {
            eprintln!(
                "{} seeds done in {:.0} s, {failed} failed",
                seed - first,
                start.elapsed().as_secs_f64()
            );
        }
        match tollgate_sim::run(seed, ops as usize, tollgate_sim::default_faults()) {
            Ok(r) => {
                restarts += r.restarts;
                acknowledged += r.acknowledged;
                disk.write_errors += r.disk.write_errors;
                disk.sync_errors += r.disk.sync_errors;
                disk.lost_writes += r.disk.lost_writes;
                disk.torn_writes += r.disk.torn_writes;
            }
            Err(e) => {
                failed += 1;
                println!("FAIL {e}");
            }
        }
    }
    println!(
        "{seeds} seeds x {ops} operations in {:.0} s: {failed} failed; {restarts} crashes, {acknowledged} acknowledged settles and payments; disk: {} failed writes, {} failed fsyncs, {} lost unsynced writes, {} torn writes",
        start.elapsed().as_secs_f64(),
        disk.write_errors,
        disk.sync_errors,
        disk.lost_writes,
        disk.torn_writes
    );
    if failed > 0 {
        std::process::ExitCode::FAILURE
    } else {
        std::process::ExitCode::SUCCESS
    }
}
