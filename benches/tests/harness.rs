//! The harness (issue 17) prints JSON lines: a smoke run of three figures, every line parsed
//! and checked.

use serde_json::Value;
use std::process::Command;

const FIGURES: [&str; 3] = [
    "fdatasync_probe",
    "naive_sqlite_authorize_settle",
    "tollgate_authorize_release_memory",
];

#[test]
fn a_quick_run_prints_a_header_and_a_line_per_figure() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = Command::new(env!("CARGO_BIN_EXE_harness"))
        .args(["--quick", "--only", &FIGURES.join(",")])
        .arg("--dir")
        .arg(dir.path())
        .env_remove("TOLLGATE_GIT_SHA")
        .output()
        .expect("the harness runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "harness failed: {stderr}");
    let stdout = String::from_utf8(out.stdout).expect("UTF-8 output");
    let lines: Vec<Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON: {l:?}: {e}")))
        .collect();
    assert!(lines.len() >= 2 + FIGURES.len(), "{stdout}");

    let run = &lines[0]["run"];
    let sha = run["git_sha"].as_str().expect("a git sha");
    assert!(!sha.is_empty());
    assert!(
        sha == "unknown" || (sha.len() == 40 && sha.chars().all(|c| c.is_ascii_hexdigit())),
        "{sha}"
    );
    let load = run["loadavg"].as_array().expect("the load average");
    assert_eq!(load.len(), 3);
    assert!(load.iter().all(|v| v.as_f64().is_some_and(|v| v >= 0.0)));
    assert!(run["machine"]["nproc"].as_u64().is_some_and(|n| n >= 1));
    assert!(run["machine"]["mem_total_kib"]
        .as_u64()
        .is_some_and(|n| n > 0));
    assert!(run["utc"].as_str().is_some_and(|t| t.ends_with('Z')));
    assert_eq!(run["quick"], true);

    let end = &lines[lines.len() - 1]["end"];
    assert_eq!(end["loadavg"].as_array().map(Vec::len), Some(3), "{stdout}");

    let figures = &lines[1..lines.len() - 1];
    for f in figures {
        let name = f["figure"].as_str().expect("a figure's name");
        assert!(FIGURES.contains(&name), "not asked for: {name}");
        let num = |k: &str| {
            f[k].as_f64()
                .unwrap_or_else(|| panic!("{name}: no {k}: {f}"))
        };
        assert!(f["ops"].as_u64().is_some_and(|n| n > 0), "{f}");
        assert!(num("threads") >= 1.0 && num("seconds") > 0.0 && num("ops_per_s") > 0.0);
        let (p50, p99, p999) = (num("p50_us"), num("p99_us"), num("p999_us"));
        assert!(0.0 < p50 && p50 <= p99 && p99 <= p999, "{f}");
        assert!(p999 <= num("max_us"), "{f}");
        assert!(num("cpu_us_per_op") >= 0.0);
        assert!(num("peak_rss_kib") > 0.0);
        for k in [
            "settles_per_fsync",
            "journal_bytes_per_op",
            "baseline",
            "ratio",
        ] {
            assert!(f.get(k).is_some(), "{name}: no {k}");
        }
    }
    for want in FIGURES {
        assert!(
            figures.iter().any(|f| f["figure"] == want),
            "{want} missing: {stdout}"
        );
    }
    // The naive way runs at 64 threads and at 1.
    let naive: Vec<u64> = figures
        .iter()
        .filter(|f| f["figure"] == "naive_sqlite_authorize_settle")
        .filter_map(|f| f["threads"].as_u64())
        .collect();
    assert_eq!(naive, [64, 1]);
}

#[test]
fn an_unknown_figure_is_refused() {
    let out = Command::new(env!("CARGO_BIN_EXE_harness"))
        .args(["--quick", "--only", "no_such_figure"])
        .output()
        .expect("the harness runs");
    assert_eq!(out.status.code(), Some(2));
    assert!(out.stdout.is_empty());
}
