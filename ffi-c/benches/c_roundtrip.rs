//! Builds `bench/roundtrip.c` with `-O2` against this profile's libtollgate and runs it:
//! `tg_authorize` + `tg_settle` from C, one caller, in memory and on a database file.
//! The Rust figure for the same work is `cargo bench -p tollgate-benches --bench roundtrip`.

use std::path::PathBuf;
use std::process::Command;

fn main() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let exe_path = std::env::current_exe().expect("bench executable");
    // cargo leaves the cdylib of this bench build beside the bench executable.
    let build = exe_path.parent().expect("target/<profile>/deps");
    let scratch = tempfile::tempdir().expect("tempdir");
    let exe = scratch.path().join("roundtrip");
    let status = Command::new(std::env::var("CC").unwrap_or_else(|_| "cc".into()))
        .args(["-std=c11", "-D_POSIX_C_SOURCE=200809L", "-O2"])
        .args(["-Wall", "-Wextra", "-Werror"])
        .arg(format!("-I{}", dir.join("include").display()))
        .arg(format!("-I{}", dir.join("tests/c").display()))
        .arg(dir.join("bench/roundtrip.c"))
        .arg("-o")
        .arg(&exe)
        .arg(format!("-L{}", build.display()))
        .arg(format!("-Wl,-rpath,{}", build.display()))
        .args(["-ltollgate", "-lpthread", "-ldl", "-lm"])
        .status()
        .expect("run cc");
    assert!(status.success(), "compiling bench/roundtrip.c failed");
    for (mode, calls) in [("memory", "200000"), ("file", "2000")] {
        let status = Command::new(&exe)
            .arg(scratch.path())
            .arg(calls)
            .arg(mode)
            .status()
            .expect("run roundtrip");
        assert!(status.success(), "roundtrip {mode} failed");
    }
}
