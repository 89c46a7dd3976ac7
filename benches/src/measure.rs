//! Measuring for the harness (issue 17): timed runs of many callers, latency percentiles,
//! CPU time and memory from the kernel, and the machine a run was made on.

use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

/// The process's CPU time and peak resident set, from `getrusage(RUSAGE_SELF)`: every thread
/// of the process, the engine's own writer threads included.
#[derive(Debug, Clone, Copy, Default)]
pub struct Usage {
    /// User plus system CPU time, in microseconds.
    pub cpu_us: u64,
    /// `ru_maxrss`: the process's peak resident set since it started, in KiB (Linux).
    pub max_rss_kib: u64,
}

/// Now's [`Usage`] (zeros if the call fails, which it does not on Linux).
pub fn usage() -> Usage {
    // SAFETY: getrusage writes one `rusage` into storage we own; all-zero bytes are a valid
    // `rusage` to start from.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: a valid `who` and a valid, writable pointer.
    if unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) } != 0 {
        return Usage::default();
    }
    let us = |t: libc::timeval| (t.tv_sec as u64) * 1_000_000 + t.tv_usec as u64;
    Usage {
        cpu_us: us(ru.ru_utime) + us(ru.ru_stime),
        max_rss_kib: ru.ru_maxrss.max(0) as u64,
    }
}

/// Reset the kernel's peak-resident-set mark of this process (`VmHWM`; writing 5 to
/// `/proc/self/clear_refs`, Linux 4.0 on), so that [`peak_rss_since_reset_kib`] tells one
/// figure's peak rather than the whole run's. False if the kernel would not.
pub fn reset_peak_rss() -> bool {
    std::fs::write("/proc/self/clear_refs", "5").is_ok()
}

/// `VmHWM` from `/proc/self/status`: the peak resident set since the last
/// [`reset_peak_rss`] (or since start), in KiB.
pub fn peak_rss_since_reset_kib() -> Option<u64> {
    status_field("/proc/self/status", "VmHWM:")
}

/// `VmRSS` from `/proc/self/status`: this process's resident set now, in KiB.
pub fn rss_kib() -> Option<u64> {
    status_field("/proc/self/status", "VmRSS:")
}

fn status_field(path: &str, key: &str) -> Option<u64> {
    let text = std::fs::read_to_string(path).ok()?;
    text.lines()
        .find_map(|l| l.strip_prefix(key))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
}

/// Bytes this process has passed to `write`-family system calls (`wchar` in
/// `/proc/self/io`): what it asked the kernel to write, to every file.
pub fn bytes_written() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/self/io").ok()?;
    text.lines()
        .find_map(|l| l.strip_prefix("wchar:"))
        .and_then(|v| v.trim().parse().ok())
}

/// Latency samples in nanoseconds.
pub type Samples = Vec<u64>;

/// One sample from a duration.
pub fn sample(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

/// p50, p99, p99.9 and the largest of `samples`, in microseconds (nearest rank; zeros when
/// empty).
pub fn percentiles(samples: &mut [u64]) -> (f64, f64, f64, f64) {
    samples.sort_unstable();
    let at = |q: f64| {
        if samples.is_empty() {
            return 0.0;
        }
        let rank = (samples.len() as f64 * q).ceil() as usize;
        let k = rank.clamp(1, samples.len()) - 1;
        samples[k] as f64 / 1e3
    };
    (at(0.50), at(0.99), at(0.999), at(1.0))
}

/// What one timed run measured.
#[derive(Debug, Default)]
pub struct Run {
    /// Callers.
    pub threads: usize,
    /// Wall time of the measured part.
    pub seconds: f64,
    /// Operations that returned in it.
    pub ops: u64,
    /// Their latencies, all callers merged.
    pub samples: Samples,
    /// CPU time of the whole process over the measured part, in microseconds.
    pub cpu_us: u64,
    /// Bytes passed to `write` over the measured part, if the kernel tells.
    pub bytes_written: Option<u64>,
    /// How much each of the run's probe counters grew over the measured part.
    pub probed: Vec<i64>,
}

/// Counters a run reads when its measured part starts and when it ends (file sizes, group
/// commits...): [`Run::probed`] has their growth.
pub type Probe<'a> = &'a dyn Fn() -> Vec<i64>;

const WARMING: u8 = 0;
const MEASURING: u8 = 1;
const STOPPING: u8 = 2;

/// Run `threads` callers: each makes its own state with `setup(thread)` (connections,
/// requests), then all call `op(&mut state, thread, i)` in a loop: for `warmup` untimed, then
/// for `seconds` timed. The operations that return within the timed window count, each with
/// its latency; those still running when it closes are finished (and the threads joined)
/// after the clock, CPU time and `probe` are read, and do not count. The states are dropped
/// after that too. `probe` is read just before the timed window and just after.
pub fn run_threads<S, Setup, Op>(
    threads: usize,
    warmup: Duration,
    seconds: Duration,
    probe: Probe<'_>,
    setup: Setup,
    op: Op,
) -> Run
where
    S: Send + 'static,
    Setup: Fn(usize) -> S + Send + Sync + 'static,
    Op: Fn(&mut S, usize, u64) + Send + Sync + 'static,
{
    let phase = Arc::new(AtomicU8::new(WARMING));
    let ready = Arc::new(Barrier::new(threads + 1));
    let (setup, op) = (Arc::new(setup), Arc::new(op));
    let handles: Vec<_> = (0..threads)
        .map(|t| {
            let (phase, ready, setup, op) = (
                Arc::clone(&phase),
                Arc::clone(&ready),
                Arc::clone(&setup),
                Arc::clone(&op),
            );
            std::thread::spawn(move || {
                let mut state = setup(t);
                ready.wait();
                let mut samples = Samples::new();
                let mut i = 0u64;
                while phase.load(Ordering::Acquire) != STOPPING {
                    let start = Instant::now();
                    op(&mut state, t, i);
                    let took = start.elapsed();
                    if phase.load(Ordering::Acquire) == MEASURING {
                        samples.push(sample(took));
                    }
                    i += 1;
                }
                (samples, state)
            })
        })
        .collect();
    ready.wait();
    std::thread::sleep(warmup);
    let p0 = probe();
    let (u0, w0) = (usage(), bytes_written());
    let start = Instant::now();
    phase.store(MEASURING, Ordering::Release);
    std::thread::sleep(seconds);
    phase.store(STOPPING, Ordering::Release);
    let elapsed = start.elapsed();
    let (u1, w1) = (usage(), bytes_written());
    let p1 = probe();
    let done: Vec<(Samples, S)> = handles
        .into_iter()
        .map(|h| h.join().expect("a caller thread panicked"))
        .collect();
    let mut samples = Samples::with_capacity(done.iter().map(|d| d.0.len()).sum());
    let mut states = Vec::with_capacity(done.len());
    for (s, state) in done {
        samples.extend_from_slice(&s);
        states.push(state);
    }
    drop(states);
    Run {
        threads,
        seconds: elapsed.as_secs_f64(),
        ops: samples.len() as u64,
        samples,
        cpu_us: u1.cpu_us.saturating_sub(u0.cpu_us),
        bytes_written: w0.zip(w1).map(|(a, b)| b.saturating_sub(a)),
        probed: p1.iter().zip(&p0).map(|(b, a)| b - a).collect(),
    }
}

/// The machine: processors, CPU model and memory, from `/proc`.
pub fn machine() -> serde_json::Value {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("model name"))
        .and_then(|l| l.split_once(':'))
        .map(|(_, m)| m.trim().to_string());
    let nproc = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    serde_json::json!({
        "nproc": nproc,
        "cpu_model": model,
        "mem_total_kib": status_field("/proc/meminfo", "MemTotal:"),
        "kernel": std::fs::read_to_string("/proc/sys/kernel/osrelease").ok().map(|s| s.trim().to_string()),
    })
}

/// The load averages over 1, 5 and 15 minutes, from `/proc/loadavg`.
pub fn loadavg() -> Option<[f64; 3]> {
    let text = std::fs::read_to_string("/proc/loadavg").ok()?;
    let mut it = text.split_whitespace().map(|v| v.parse::<f64>().ok());
    Some([it.next()??, it.next()??, it.next()??])
}

/// The file system type of the mount that holds `path` (from `/proc/mounts`, the longest
/// mount point that is a prefix of it).
pub fn fs_type(path: &std::path::Path) -> Option<String> {
    let path = path.canonicalize().ok()?;
    let mounts = std::fs::read_to_string("/proc/mounts").ok()?;
    mounts
        .lines()
        .filter_map(|l| {
            let mut f = l.split_whitespace();
            let (_dev, point, kind) = (f.next()?, f.next()?, f.next()?);
            path.starts_with(point)
                .then(|| (point.len(), kind.to_string()))
        })
        .max_by_key(|(len, _)| *len)
        .map(|(_, kind)| kind)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_are_nearest_rank() {
        let mut s: Vec<u64> = (1..=1000).rev().map(|k| k * 1000).collect();
        assert_eq!(percentiles(&mut s), (500.0, 990.0, 999.0, 1000.0));
        assert_eq!(percentiles(&mut []), (0.0, 0.0, 0.0, 0.0));
    }

    #[test]
    fn a_run_counts_what_it_timed() {
        let run = run_threads(
            2,
            Duration::from_millis(10),
            Duration::from_millis(50),
            &|| vec![7],
            |_| 0u64,
            |n, _, _| {
                *n += 1;
                std::thread::sleep(Duration::from_millis(1));
            },
        );
        assert!(run.ops > 10 && run.ops < 200, "{}", run.ops);
        assert!(run.seconds >= 0.05);
        assert_eq!(run.probed, [0]);
        assert!(usage().max_rss_kib > 0);
    }
}
