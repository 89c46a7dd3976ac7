//! The benchmark harness of issue 17: one command, JSON lines on stdout.
//!
//! `cargo run --release -p tollgate-benches --bin harness -- [--seconds N] [--warmup N]
//! [--only a,b] [--quick] [--dir PATH]` (or `benches/harness.sh`, which builds it first).
//! First a `{"run": {...}}` line (machine, load average, git sha, time, settings), then one
//! line per figure, then `{"end": {...}}` with the load average at the end. Progress goes to
//! stderr. docs/performance.md, "The harness (issue 17)", says what each field means.

use serde_json::{json, Value};
use std::collections::HashMap;
use std::ffi::CString;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tollgate::{Engine, SettleRequest};
use tollgate_benches::c_abi::CEngine;
use tollgate_benches::charging::{authorize_settle, requests, world_of};
use tollgate_benches::measure::{self, percentiles, run_threads, Run};
use tollgate_benches::naive;
use tollgate_benches::{deck_codes, dialled_numbers};

type Measure = fn(&mut Ctx) -> Vec<Value>;

/// The figures, in the order they run (the naive SQLite way before Tollgate's, whose ratios
/// need it).
const TABLE: [(&str, Measure); 7] = [
    ("fdatasync_probe", fdatasync_probe),
    ("naive_sqlite_authorize_settle", naive_sqlite),
    ("naive_postgres_authorize_settle", naive_postgres),
    ("tollgate_authorize_settle_durable", tollgate_durable),
    ("tollgate_settle_many_durable", tollgate_settle_many),
    ("tollgate_authorize_release_memory", tollgate_memory),
    ("tg_authorize_release_c_abi", c_abi),
];

fn figure_names() -> Vec<&'static str> {
    TABLE.iter().map(|(n, _)| *n).collect()
}

/// The callers of the figures measured at many thread counts, and the count of clients.
const THREADS: [usize; 2] = [64, 1];
const ACCOUNTS: usize = 64;
/// The figures dial the first 256 numbers (as the criterion benches do).
const DIALLED: usize = 256;
const BATCH: usize = 1000;
const PROBE_BLOCK: usize = 8192;

struct Args {
    seconds: f64,
    warmup: f64,
    quick: bool,
    only: Option<Vec<String>>,
    dir: Option<PathBuf>,
}

const USAGE: &str =
    "usage: harness [--seconds N] [--warmup N] [--only name,name] [--quick] [--dir PATH]";

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        seconds: 10.0,
        warmup: 1.0,
        quick: false,
        only: None,
        dir: None,
    };
    let (mut seconds, mut warmup) = (None, None);
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        let mut value = |name: &str| it.next().ok_or(format!("{name} needs a value"));
        match a.as_str() {
            "--seconds" => seconds = Some(number(&value("--seconds")?)?),
            "--warmup" => warmup = Some(number(&value("--warmup")?)?),
            "--quick" => args.quick = true,
            "--only" => {
                let names: Vec<String> = value("--only")?
                    .split(',')
                    .map(|s| s.trim().to_string())
                    .filter(|s| !s.is_empty())
                    .collect();
                if let Some(bad) = names.iter().find(|n| !figure_names().contains(&n.as_str())) {
                    return Err(format!(
                        "no figure {bad:?}; the figures: {}",
                        figure_names().join(", ")
                    ));
                }
                args.only = Some(names);
            }
            "--dir" => args.dir = Some(PathBuf::from(value("--dir")?)),
            "-h" | "--help" => return Err(String::new()),
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    if args.quick {
        args.seconds = 0.3;
        args.warmup = 0.05;
    }
    args.seconds = seconds.unwrap_or(args.seconds);
    args.warmup = warmup.unwrap_or(args.warmup);
    Ok(args)
}

fn number(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if v.is_finite() && v >= 0.0 => Ok(v),
        _ => Err(format!("{s:?} is not a number of seconds")),
    }
}

/// Where the figures' files go: `--dir`, else `TMPDIR`, else `tmp/` of the target directory
/// the harness was built into (the same disk as the build, not a tmpfs).
fn base_dir(args: &Args) -> PathBuf {
    if let Some(d) = &args.dir {
        return d.clone();
    }
    if let Some(d) = std::env::var_os("TMPDIR") {
        return PathBuf::from(d);
    }
    std::env::current_exe()
        .ok()
        .and_then(|exe| Some(exe.parent()?.parent()?.join("tmp")))
        .unwrap_or_else(std::env::temp_dir)
}

fn git_sha() -> (String, Option<bool>) {
    if let Ok(sha) = std::env::var("TOLLGATE_GIT_SHA") {
        return (sha, None);
    }
    let repo = env!("CARGO_MANIFEST_DIR");
    let git = |args: &[&str]| {
        std::process::Command::new("git")
            .arg("-C")
            .arg(repo)
            .args(args)
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
    };
    match git(&["rev-parse", "HEAD"]) {
        Some(sha) => (
            sha,
            git(&["status", "--porcelain", "--untracked-files=no"]).map(|s| !s.is_empty()),
        ),
        None => ("unknown".into(), None),
    }
}

fn rustc_version() -> Option<String> {
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let out = std::process::Command::new(rustc).arg("-V").output().ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}

fn utc_now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

fn emit(v: &Value) {
    println!("{v}");
}

/// Size of a file, 0 if it is not there.
fn size(p: &Path) -> i64 {
    std::fs::metadata(p).map_or(0, |m| m.len() as i64)
}

/// An SQLite database and its write-ahead log, together.
fn db_bytes(db: &Path) -> i64 {
    let mut wal = db.as_os_str().to_owned();
    wal.push("-wal");
    size(db) + size(Path::new(&wal))
}

/// What a figure line says besides its run.
#[derive(Default)]
struct Extra {
    settles_per_fsync: Option<f64>,
    journal_bytes_per_op: Option<f64>,
    baseline: Option<&'static str>,
    ratio: Option<f64>,
    note: Option<String>,
}

fn per_op(total: f64, ops: u64) -> Option<f64> {
    (ops > 0).then(|| total / ops as f64)
}

fn round(v: f64, places: i32) -> f64 {
    let k = 10f64.powi(places);
    (v * k).round() / k
}

fn figure_line(name: &str, mut run: Run, extra: Extra) -> Value {
    let (p50, p99, p999, max) = percentiles(&mut run.samples);
    let ops_per_s = if run.seconds > 0.0 {
        run.ops as f64 / run.seconds
    } else {
        0.0
    };
    let r = |v: Option<f64>| v.map(|v| round(v, 3));
    json!({
        "figure": name,
        "threads": run.threads,
        "seconds": round(run.seconds, 3),
        "ops": run.ops,
        "ops_per_s": round(ops_per_s, 1),
        "p50_us": round(p50, 1),
        "p99_us": round(p99, 1),
        "p999_us": round(p999, 1),
        "max_us": round(max, 1),
        "cpu_us_per_op": r(per_op(run.cpu_us as f64, run.ops)),
        "settles_per_fsync": r(extra.settles_per_fsync),
        "journal_bytes_per_op": r(extra.journal_bytes_per_op),
        "write_bytes_per_op": r(run.bytes_written.and_then(|b| per_op(b as f64, run.ops))),
        "peak_rss_kib": measure::usage().max_rss_kib,
        "figure_peak_rss_kib": measure::peak_rss_since_reset_kib(),
        "baseline": extra.baseline,
        "ratio": r(extra.ratio),
        "note": extra.note,
    })
}

struct Ctx {
    args: Args,
    base: PathBuf,
    codes: Vec<String>,
    numbers: Arc<Vec<String>>,
    /// ops/s of the naive SQLite way by thread count, for the ratios.
    naive_sqlite: HashMap<usize, f64>,
}

impl Ctx {
    fn warmup(&self) -> Duration {
        Duration::from_secs_f64(self.args.warmup)
    }
    fn seconds(&self) -> Duration {
        Duration::from_secs_f64(self.args.seconds)
    }
    fn tempdir(&self, what: &str) -> tempfile::TempDir {
        tempfile::Builder::new()
            .prefix(&format!("harness-{what}-"))
            .tempdir_in(&self.base)
            .expect("a temporary directory under the harness's directory")
    }
    fn codes_len(&self) -> usize {
        self.codes.len()
    }
}

fn fdatasync_probe(ctx: &mut Ctx) -> Vec<Value> {
    let dir = ctx.tempdir("fdatasync");
    let path = dir.path().join("probe");
    let file = std::fs::File::create(&path).expect("the probe file");
    // Overwrite blocks of a file already written out (not a sparse one, whose first writes
    // allocate): each flush carries data only, the floor under a durable commit on this disk.
    const BLOCKS: u64 = 128;
    let block = vec![0x5Au8; PROBE_BLOCK];
    for k in 0..BLOCKS {
        file.write_all_at(&block, k * PROBE_BLOCK as u64)
            .expect("the probe file's contents");
    }
    file.sync_all().expect("the probe file on disk");
    let file = Arc::new(file);
    let run = run_threads(
        1,
        ctx.warmup(),
        ctx.seconds(),
        &Vec::new,
        move |_| (Arc::clone(&file), vec![0xA5u8; PROBE_BLOCK]),
        |(file, block), _, i| {
            file.write_all_at(block, (i % BLOCKS) * PROBE_BLOCK as u64)
                .expect("the probe's write");
            file.sync_data().expect("fdatasync");
        },
    );
    let extra = Extra {
        note: Some(format!(
            "{PROBE_BLOCK} B pwrite + fdatasync (File::sync_data) over a written-out file in {}",
            ctx.base.display()
        )),
        ..Default::default()
    };
    vec![figure_line("fdatasync_probe", run, extra)]
}

fn naive_sqlite(ctx: &mut Ctx) -> Vec<Value> {
    let mut lines = Vec::new();
    for threads in THREADS {
        let dir = ctx.tempdir("naive-sqlite");
        let db = dir.path().join("naive.db");
        let path = db.to_str().expect("a UTF-8 temporary path").to_string();
        eprintln!("harness: naive SQLite, threads: {threads}: loading the deck");
        let keeper =
            naive::sqlite::create(&path, &ctx.codes, ACCOUNTS).expect("the naive database");
        let numbers = Arc::clone(&ctx.numbers);
        let run = run_threads(
            threads,
            ctx.warmup(),
            ctx.seconds(),
            &|| vec![db_bytes(&db)],
            move |_| naive::sqlite::Naive::open(&path).expect("a naive connection"),
            move |conn, t, i| {
                conn.call(
                    &format!("{}", 1000 + t % ACCOUNTS),
                    &numbers[(i as usize) % DIALLED],
                    &format!("naive-{t}-{i}"),
                    (1 + i % 300) as i64,
                )
                .expect("the naive call charged");
            },
        );
        drop(keeper);
        let growth = run.probed[0] as f64;
        ctx.naive_sqlite
            .insert(threads, run.ops as f64 / run.seconds.max(1e-9));
        let extra = Extra {
            journal_bytes_per_op: per_op(growth, run.ops),
            note: Some(
                "one BEGIN IMMEDIATE..COMMIT per call, WAL, synchronous=FULL, a connection per \
                 thread; journal_bytes_per_op: growth of the file and its -wal per op"
                    .into(),
            ),
            ..Default::default()
        };
        lines.push(figure_line("naive_sqlite_authorize_settle", run, extra));
    }
    lines
}

fn naive_postgres(ctx: &mut Ctx) -> Vec<Value> {
    const NAME: &str = "naive_postgres_authorize_settle";
    let Ok(admin) = std::env::var("TOLLGATE_TEST_PG") else {
        return vec![json!({"figure": NAME, "skipped": "TOLLGATE_TEST_PG not set"})];
    };
    let threads = 64;
    let name = format!("tgharness_naive_{}", std::process::id());
    let url = match tollgate::store::pg_testing::create_database(&admin, &name) {
        Ok(url) => url,
        Err(e) => {
            return vec![
                json!({"figure": NAME, "skipped": format!("no database on the server: {e}")}),
            ]
        }
    };
    eprintln!("harness: naive PostgreSQL: loading the deck");
    naive::postgres::create(&url, &ctx.codes, ACCOUNTS).expect("the naive PostgreSQL database");
    // The server's WAL position before and after: the bytes its journal grew by.
    let watcher =
        std::sync::Mutex::new(postgres::Client::connect(&url, postgres::NoTls).expect("connect"));
    let lsn = || -> Vec<i64> {
        let mut c = watcher.lock().expect("the watcher");
        c.query_one(
            "SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), '0/0')::bigint",
            &[],
        )
        .ok()
        .map(|r| vec![r.get(0)])
        .unwrap_or_default()
    };
    let numbers = Arc::clone(&ctx.numbers);
    let conn_url = url.clone();
    let run = run_threads(
        threads,
        ctx.warmup(),
        ctx.seconds(),
        &lsn,
        move |_| naive::postgres::Naive::connect(&conn_url).expect("a naive connection"),
        move |conn, t, i| {
            conn.call(
                &format!("{}", 1000 + t % ACCOUNTS),
                &numbers[(i as usize) % DIALLED],
                &format!("naive-{t}-{i}"),
                (1 + i % 300) as i64,
            )
            .expect("the naive call charged");
        },
    );
    drop(watcher);
    let journal = run
        .probed
        .first()
        .and_then(|&grew| per_op(grew as f64, run.ops));
    if let Ok(mut c) = postgres::Client::connect(&admin, postgres::NoTls) {
        let _ = c.batch_execute(&format!("DROP DATABASE IF EXISTS {name}"));
    }
    let extra = Extra {
        journal_bytes_per_op: journal,
        note: Some(
            "one transaction per call (SELECT .. FOR UPDATE, longest prefix, UPDATE, 2 INSERTs), \
             a connection per thread; journal_bytes_per_op: the server's WAL (LSN) growth per \
             op; client and server share this machine"
                .into(),
        ),
        ..Default::default()
    };
    vec![figure_line(NAME, run, extra)]
}

fn tollgate_world(ctx: &Ctx, dir: &tempfile::TempDir, what: &str) -> (Engine, PathBuf) {
    let db = dir.path().join(format!("{what}.db"));
    let path = db.to_str().expect("a UTF-8 temporary path");
    eprintln!(
        "harness: {what}: a Tollgate database with {} codes",
        ctx.codes_len()
    );
    let (e, _) = world_of(path, ctx.codes_len(), ACCOUNTS, ctx.numbers.len());
    (e, db)
}

fn tollgate_durable(ctx: &mut Ctx) -> Vec<Value> {
    const NAME: &str = "tollgate_authorize_settle_durable";
    let mut lines = Vec::new();
    for threads in THREADS {
        let dir = ctx.tempdir("tollgate");
        let (e, db) = tollgate_world(ctx, &dir, "durable");
        let calls = Arc::new(AtomicU64::new(0));
        let call = authorize_settle(&e, &ctx.numbers, ACCOUNTS, threads, &calls);
        let probe = || {
            let (batches, settles) = e.settle_batches();
            vec![batches as i64, settles as i64, db_bytes(&db)]
        };
        let run = run_threads(
            threads,
            ctx.warmup(),
            ctx.seconds(),
            &probe,
            |_| (),
            move |_, t, i| call(t, i),
        );
        assert_eq!(e.open_reservations(), 0, "every reservation settled");
        let (batches, settles, growth) = (run.probed[0], run.probed[1], run.probed[2]);
        let naive = ctx.naive_sqlite.get(&threads).copied();
        let ops_per_s = run.ops as f64 / run.seconds.max(1e-9);
        let extra = Extra {
            settles_per_fsync: (batches > 0).then(|| settles as f64 / batches as f64),
            journal_bytes_per_op: per_op(growth as f64, run.ops),
            baseline: Some("naive_sqlite_authorize_settle"),
            ratio: naive.filter(|n| *n > 0.0).map(|n| ops_per_s / n),
            note: Some(
                "Engine::authorize + Engine::settle on an SQLite file (synchronous=FULL, group \
                 commit); SQLite's WAL is the journal: journal_bytes_per_op is the growth of the \
                 file and its -wal per op; settles_per_fsync from Engine::settle_batches; ratio: \
                 ops/s over the naive SQLite way's at the same threads"
                    .into(),
            ),
        };
        lines.push(figure_line(NAME, run, extra));
    }
    lines
}

fn tollgate_settle_many(ctx: &mut Ctx) -> Vec<Value> {
    const NAME: &str = "tollgate_settle_many_durable";
    let dir = ctx.tempdir("tollgate");
    let (e, db) = tollgate_world(ctx, &dir, "settle-many");
    let reqs = requests(&ctx.numbers[..DIALLED], 0);
    let reqs: Vec<_> = (0..ACCOUNTS)
        .map(|a| {
            let mut r = reqs.clone();
            for q in &mut r {
                q.account = format!("{}", 1000 + a);
            }
            r
        })
        .collect();
    // Authorize a batch untimed, with 64 threads so that the reservations share group commits.
    let authorize_batch = |first: u64| -> Vec<SettleRequest> {
        let per = BATCH.div_ceil(64);
        let mut out: Vec<SettleRequest> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..BATCH.div_ceil(per))
                .map(|h| {
                    let (e, reqs) = (&e, &reqs);
                    s.spawn(move || {
                        (h * per..((h + 1) * per).min(BATCH))
                            .map(|k| {
                                let n = first + k as u64;
                                let req = &reqs[k % ACCOUNTS][(n as usize) % DIALLED];
                                let a = e.authorize(req).expect("authorized");
                                SettleRequest {
                                    reservation: Some(a.reservation),
                                    call_id: format!("many-{n}"),
                                    duration: 1 + n % 300,
                                    ..Default::default()
                                }
                            })
                            .collect::<Vec<_>>()
                    })
                })
                .collect();
            handles
                .into_iter()
                .flat_map(|h| h.join().expect("an authorizing thread"))
                .collect()
        });
        out.sort_by_key(|r| r.reservation);
        out
    };
    let mut run = Run {
        threads: 1,
        ..Default::default()
    };
    let (mut batches, mut settles, mut growth, mut written) = (0u64, 0u64, 0i64, 0u64);
    let start = Instant::now();
    let mut next = 0u64;
    let warm_until = ctx.warmup();
    let until = warm_until + ctx.seconds();
    while start.elapsed() < until {
        let batch = authorize_batch(next);
        next += BATCH as u64;
        let measured = start.elapsed() >= warm_until;
        let (u0, w0, s0, b0) = (
            measure::usage(),
            measure::bytes_written(),
            e.settle_batches(),
            db_bytes(&db),
        );
        let t0 = Instant::now();
        let out = e.settle_many(&batch).expect("a batch in bounds");
        let took = t0.elapsed();
        let (u1, w1, s1, b1) = (
            measure::usage(),
            measure::bytes_written(),
            e.settle_batches(),
            db_bytes(&db),
        );
        assert!(out.iter().all(|r| r.is_ok()), "every settle charged");
        if measured {
            run.seconds += took.as_secs_f64();
            run.ops += BATCH as u64;
            run.samples.push(measure::sample(took));
            run.cpu_us += u1.cpu_us.saturating_sub(u0.cpu_us);
            written += w0.zip(w1).map_or(0, |(a, b)| b.saturating_sub(a));
            batches += s1.0 - s0.0;
            settles += s1.1 - s0.1;
            growth += b1 - b0;
        }
    }
    run.bytes_written = Some(written);
    let extra = Extra {
        settles_per_fsync: (batches > 0).then(|| settles as f64 / batches as f64),
        journal_bytes_per_op: per_op(growth as f64, run.ops),
        note: Some(format!(
            "only Engine::settle_many of {BATCH} authorized calls is timed (seconds, ops/s, CPU, \
             bytes); the authorizes before each batch are not; latencies are of whole batches"
        )),
        ..Default::default()
    };
    vec![figure_line(NAME, run, extra)]
}

fn tollgate_memory(ctx: &mut Ctx) -> Vec<Value> {
    eprintln!("harness: in-memory Tollgate with {} codes", ctx.codes_len());
    let (e, _) = world_of(":memory:", ctx.codes_len(), ACCOUNTS, ctx.numbers.len());
    let reqs = requests(&ctx.numbers[..DIALLED], 0);
    let engine = e.clone();
    let run = run_threads(
        1,
        ctx.warmup(),
        ctx.seconds(),
        &Vec::new,
        |_| (),
        move |_, _, i| {
            let a = engine
                .authorize(&reqs[(i as usize) % reqs.len()])
                .expect("authorized");
            engine.release(a.reservation).expect("released");
        },
    );
    assert_eq!(e.open_reservations(), 0, "every reservation released");
    let extra = Extra {
        note: Some("Engine::authorize + Engine::release on \":memory:\", no fsync".into()),
        ..Default::default()
    };
    vec![figure_line("tollgate_authorize_release_memory", run, extra)]
}

/// The same world as `charging::world`, made through `tg_call`.
fn c_world(codes: &[String]) -> CEngine {
    let e = CEngine::memory();
    tollgate_benches::charging::provision(
        &|method, params| e.must(method, params),
        codes,
        ACCOUNTS,
    );
    e
}

fn c_abi(ctx: &mut Ctx) -> Vec<Value> {
    eprintln!(
        "harness: in-memory Tollgate through the C ABI with {} codes",
        ctx.codes_len()
    );
    let e = Arc::new(c_world(&ctx.codes));
    let destinations: Vec<CString> = ctx.numbers[..DIALLED]
        .iter()
        .map(|n| CString::new(n.as_str()).expect("digits"))
        .collect();
    let (account, ani) = (
        CString::new("1000").expect("account"),
        CString::new("ani").expect("ani"),
    );
    let engine = Arc::clone(&e);
    let run = run_threads(
        1,
        ctx.warmup(),
        ctx.seconds(),
        &Vec::new,
        |_| (),
        move |_, _, i| {
            let req = libtollgate::tg_authorize_request {
                account: account.as_ptr(),
                auth_type: ani.as_ptr(),
                destination: destinations[(i as usize) % destinations.len()].as_ptr(),
                source: std::ptr::null(),
                time_unix: 0,
            };
            let mut a = std::mem::MaybeUninit::<libtollgate::tg_authorization>::uninit();
            // SAFETY: live handle, a valid request whose strings outlive the call, and output
            // storage; `a` is read only after tg_authorize wrote it.
            unsafe {
                assert_eq!(
                    libtollgate::tg_authorize(engine.0, &req, a.as_mut_ptr()),
                    libtollgate::tg_result::Ok
                );
                let a = a.assume_init();
                assert_eq!(
                    libtollgate::tg_release(engine.0, a.reservation),
                    libtollgate::tg_result::Ok
                );
            }
        },
    );
    // The run's threads are joined and its closure dropped: this last handle closes it.
    drop(e);
    let extra = Extra {
        note: Some("tg_authorize + tg_release on \":memory:\" through the C ABI, no fsync".into()),
        ..Default::default()
    };
    vec![figure_line("tg_authorize_release_c_abi", run, extra)]
}

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            if !e.is_empty() {
                eprintln!("harness: {e}");
            }
            eprintln!("{USAGE}\nfigures: {}", figure_names().join(", "));
            return if e.is_empty() {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(2)
            };
        }
    };
    let base = base_dir(&args);
    if let Err(e) = std::fs::create_dir_all(&base) {
        eprintln!("harness: {}: {e}", base.display());
        return ExitCode::FAILURE;
    }
    let chosen: Vec<(&str, Measure)> = TABLE
        .iter()
        .copied()
        .filter(|(f, _)| args.only.as_ref().is_none_or(|o| o.iter().any(|n| n == f)))
        .collect();
    let (sha, dirty) = git_sha();
    let started = Instant::now();
    // The smoke run's deck is small enough for a debug build; the real one is the criterion
    // benches' 100,000 codes.
    let (codes, numbers) = if args.quick {
        (2_000, 512)
    } else {
        (100_000, 8192)
    };
    emit(&json!({"run": {
        "git_sha": sha,
        "git_dirty": dirty,
        "utc": utc_now(),
        "machine": measure::machine(),
        "loadavg": measure::loadavg(),
        "rustc": rustc_version(),
        "profile": if cfg!(debug_assertions) { "debug" } else { "release" },
        "tollgate_version": env!("CARGO_PKG_VERSION"),
        "dir": base.display().to_string(),
        "dir_fs": measure::fs_type(&base),
        "seconds": args.seconds,
        "warmup_seconds": args.warmup,
        "quick": args.quick,
        "deck_codes": codes,
        "accounts": ACCOUNTS,
        "figures": chosen.iter().map(|(f, _)| *f).collect::<Vec<_>>(),
    }}));
    let codes = deck_codes(codes);
    let numbers = Arc::new(dialled_numbers(&codes, numbers));
    let mut ctx = Ctx {
        args,
        base,
        codes,
        numbers,
        naive_sqlite: HashMap::new(),
    };
    for (f, run_figure) in chosen {
        eprintln!("harness: {f}");
        measure::reset_peak_rss();
        for l in run_figure(&mut ctx) {
            emit(&l);
        }
    }
    emit(&json!({"end": {
        "utc": utc_now(),
        "loadavg": measure::loadavg(),
        "seconds": round(started.elapsed().as_secs_f64(), 1),
        "peak_rss_kib": measure::usage().max_rss_kib,
    }}));
    ExitCode::SUCCESS
}
