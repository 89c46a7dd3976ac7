//! The C suites: C programs built with `cc` against the installed header and library (via
//! `install.sh` and pkg-config) with `-Wall -Wextra -Werror`, run under AddressSanitizer and
//! UndefinedBehaviorSanitizer, and again (built without sanitizers) under valgrind. Each
//! program exits non-zero on any failed check; cargo counts each run here as one test.
//!
//! valgrind must be installed (`.ci/run` installs it); a missing tool fails the test rather
//! than skipping it.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

fn crate_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Where cargo built `libtollgate.so` and `libtollgate.a` for this test: beside the test
/// executable in `<profile>/deps/` (made by the same rustc run as the rlib the test links).
fn build_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    let deps = exe.parent().expect("target/<profile>/deps").to_path_buf();
    assert!(
        deps.join("libtollgate.so").is_file() && deps.join("libtollgate.a").is_file(),
        "libtollgate.so/.a not found in {}",
        deps.display()
    );
    deps
}

/// Install the library once per test run into a scratch prefix, as a user would.
fn prefix() -> &'static Path {
    static PREFIX: OnceLock<tempfile::TempDir> = OnceLock::new();
    PREFIX
        .get_or_init(|| {
            let dir = tempfile::tempdir().expect("tempdir");
            let status = Command::new("sh")
                .arg(crate_dir().join("install.sh"))
                .arg(dir.path())
                .arg(build_dir())
                .status()
                .expect("run install.sh");
            assert!(status.success(), "install.sh failed");
            dir
        })
        .path()
}

fn pkg_config(args: &[&str]) -> Vec<String> {
    let out = Command::new("pkg-config")
        .args(args)
        .arg("tollgate")
        .env("PKG_CONFIG_PATH", prefix().join("lib/pkgconfig"))
        .output()
        .expect("pkg-config is installed");
    assert!(
        out.status.success(),
        "pkg-config {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .map(str::to_string)
        .collect()
}

/// Compile `source` into `out` with warnings as errors; `extra` adds flags (sanitizers).
fn compile(source: &Path, out: &Path, extra: &[&str]) {
    let mut cmd = Command::new(std::env::var("CC").unwrap_or_else(|_| "cc".into()));
    cmd.args(["-std=c11", "-D_POSIX_C_SOURCE=200809L", "-g", "-O1"])
        .args(["-Wall", "-Wextra", "-Werror"])
        .args(extra)
        .args(pkg_config(&["--cflags"]))
        .arg(format!("-I{}", crate_dir().join("tests/c").display()))
        .arg(source)
        .arg("-o")
        .arg(out)
        .args(pkg_config(&["--libs"]))
        .arg(format!("-Wl,-rpath,{}", prefix().join("lib").display()))
        .arg("-lpthread");
    let o = cmd.output().expect("run cc");
    assert!(
        o.status.success(),
        "compiling {} failed:\n{}",
        source.display(),
        String::from_utf8_lossy(&o.stderr)
    );
}

const SANITIZERS: &[&str] = &[
    "-fsanitize=address,undefined",
    "-fno-sanitize-recover=all",
    "-fno-omit-frame-pointer",
];

/// Run a built program with a fresh scratch directory, optionally under a wrapper.
fn run(program: &Path, wrapper: &[&str]) {
    run_env(program, wrapper, &[]);
}

/// [`run`] with extra environment variables.
fn run_env(program: &Path, wrapper: &[&str], env: &[(&str, &str)]) {
    let scratch = tempfile::tempdir().expect("tempdir");
    let (cmd, args) = match wrapper.split_first() {
        Some((w, rest)) => (PathBuf::from(w), {
            let mut a: Vec<String> = rest.iter().map(|s| s.to_string()).collect();
            a.push(program.display().to_string());
            a
        }),
        None => (program.to_path_buf(), Vec::new()),
    };
    let out = Command::new(&cmd)
        .args(&args)
        .arg(scratch.path())
        // The program finds the installed library by its rpath, as a user's would; cargo's
        // LD_LIBRARY_PATH could name a stale copy in target/<profile>/.
        .env_remove("LD_LIBRARY_PATH")
        .env("ASAN_OPTIONS", "detect_leaks=1:abort_on_error=0")
        .env("UBSAN_OPTIONS", "print_stacktrace=1:halt_on_error=1")
        .envs(env.iter().copied())
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", cmd.display()));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "{} {:?} failed ({}):\n{stdout}\n{stderr}",
        program.display(),
        wrapper,
        out.status
    );
    print!("{stdout}");
}

fn suite(name: &str, sanitized: bool) {
    let bin = tempfile::tempdir().expect("tempdir");
    let exe = bin.path().join(name);
    let source = crate_dir().join(format!("tests/c/{name}.c"));
    if sanitized {
        compile(&source, &exe, SANITIZERS);
        run(&exe, &[]);
    } else {
        compile(&source, &exe, &[]);
        run(
            &exe,
            &[
                "valgrind",
                "--error-exitcode=1",
                "--leak-check=full",
                "--errors-for-leak-kinds=definite,indirect,possible",
                &format!(
                    "--suppressions={}",
                    crate_dir().join("tests/valgrind.supp").display()
                ),
                "--quiet",
            ],
        );
    }
}

#[test]
fn api_under_sanitizers() {
    suite("api", true);
}

#[test]
fn api_under_valgrind() {
    suite("api", false);
}

#[test]
fn threads_under_sanitizers() {
    suite("threads", true);
}

#[test]
fn threads_under_valgrind() {
    suite("threads", false);
}

/// The example also links against the static library alone (no libtollgate.so at run time).
#[test]
fn softswitch_example_links_statically() {
    let bin = tempfile::tempdir().expect("tempdir");
    let exe = bin.path().join("softswitch-static");
    let mut cmd = Command::new(std::env::var("CC").unwrap_or_else(|_| "cc".into()));
    cmd.args(["-std=c11", "-D_POSIX_C_SOURCE=200809L", "-O1"])
        .args(["-Wall", "-Wextra", "-Werror"])
        .args(pkg_config(&["--cflags"]))
        .arg(crate_dir().join("examples/softswitch.c"))
        .arg("-o")
        .arg(&exe)
        .arg(prefix().join("lib/libtollgate.a"))
        // The system libraries the archive needs (Libs.private), without -ltollgate itself,
        // which would pick the shared library.
        .args(
            pkg_config(&["--static", "--libs"])
                .into_iter()
                .filter(|a| a != "-ltollgate" && !a.starts_with("-L")),
        )
        .output()
        .map(|o| {
            assert!(
                o.status.success(),
                "static link failed:\n{}",
                String::from_utf8_lossy(&o.stderr)
            )
        })
        .expect("run cc");
    let needed = Command::new("readelf")
        .arg("-d")
        .arg(&exe)
        .output()
        .expect("readelf");
    assert!(
        !String::from_utf8_lossy(&needed.stdout).contains("libtollgate"),
        "the static build still needs libtollgate.so"
    );
    run(&exe, &[]);
}

/// The example plugin builds with warnings as errors and runs its scripted calls.
#[test]
fn softswitch_example_runs() {
    let bin = tempfile::tempdir().expect("tempdir");
    let exe = bin.path().join("softswitch");
    compile(&crate_dir().join("examples/softswitch.c"), &exe, SANITIZERS);
    run(&exe, &[]);
}

/// The example plugin on a PostgreSQL database (issue 16): `tg_engine_open` (refused: the
/// database is empty) and `tg_engine_create` take the `postgres://` URL where they take a
/// file, and the scripted day charges as it does on SQLite. Needs
/// `TOLLGATE_TEST_PG` (scripts/pg-cluster.sh); without it the test says so, unless
/// `TOLLGATE_REQUIRE_PG=1`.
#[test]
fn softswitch_example_runs_on_postgres() {
    if std::env::var("TOLLGATE_TEST_PG").is_err() {
        assert!(
            std::env::var("TOLLGATE_REQUIRE_PG").as_deref() != Ok("1"),
            "TOLLGATE_REQUIRE_PG=1 but TOLLGATE_TEST_PG is not set"
        );
        eprintln!("no PostgreSQL server (TOLLGATE_TEST_PG): skipped");
        return;
    }
    let url = tollgate_core::store::pg_testing::fresh_test_database("tgffi").expect("database");
    let bin = tempfile::tempdir().expect("tempdir");
    let exe = bin.path().join("softswitch-pg");
    compile(&crate_dir().join("examples/softswitch.c"), &exe, &[]);
    run_env(&exe, &[], &[("TOLLGATE_DB", &url)]);
}
