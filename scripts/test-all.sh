#!/usr/bin/env bash
# The whole test suite: formatting, lints, every Rust test (unit, integration, doc), the C
# suites (ffi-c/tests/c_programs.rs compiles the C programs and runs them under sanitizers and
# valgrind inside `cargo test`), and the Python suite against the installed wheel. Ends with
# one summary line counting all of them.
set -euo pipefail
cd "$(dirname "$0")/.."
log=$(mktemp)
pylog=$(mktemp)
trap 'rm -f "$log" "$pylog"' EXIT

echo "== setup (installs only what is missing)"
scripts/setup.sh

echo "== PostgreSQL: a throwaway cluster on a free loopback port"
eval "$(scripts/pg-cluster.sh start)"
trap 'rm -f "$log" "$pylog"; scripts/pg-cluster.sh stop "$TOLLGATE_TEST_PG_DIR"' EXIT
# The PostgreSQL cases fail rather than skip when the server is missing.
export TOLLGATE_REQUIRE_PG=1

echo "== cargo fmt --check"
cargo fmt --all -- --check

echo "== cargo clippy (all targets, warnings are errors)"
cargo clippy --workspace --all-targets --quiet -- -D warnings

echo "== cargo test"
status=0
cargo test --workspace --no-fail-fast 2>&1 | tee "$log" || status=$?

echo "== cargo test: the behaviour suites again, on PostgreSQL"
# The same integration tests (tenancy, charging, concurrency, events, packages, crash, ...)
# with every fresh database made on the cluster instead of SQLite: the executables the run
# above built, run again (no second build; see scripts/test-binaries.py), each from its
# package's directory as cargo runs it.
binaries=$(scripts/test-binaries.py 'tollgate:*' tollgate-cli:imports tollgate-cli:rating \
  tollgate-cli:serve) || status=$?
while IFS=$'\t' read -r dir exe; do
  [ -n "$exe" ] || continue
  echo "     Running $exe (on PostgreSQL)"
  (cd "$dir" && TOLLGATE_TEST_BACKEND=postgres "$exe") 2>&1 | tee -a "$log" || status=$?
done <<<"$binaries"

echo "== python"
# The `tollgate` binary that `cargo test` just built for the CLI's integration tests serves
# the remote vcsapi tests.
target_dir=$(cargo metadata --format-version 1 --no-deps | sed -E 's/.*"target_directory":"([^"]*)".*/\1/')
if [ -x "$target_dir/debug/tollgate" ]; then
  export TOLLGATE_BIN="$target_dir/debug/tollgate"
fi
pystatus=0
scripts/python-tests.sh 2>&1 | tee "$pylog" || pystatus=$?

passed=$(grep -E '^test result:' "$log" | sed -E 's/.* ([0-9]+) passed.*/\1/' | awk '{s+=$1} END {print s+0}')
failed=$(grep -E '^test result:' "$log" | sed -E 's/.* ([0-9]+) failed.*/\1/' | awk '{s+=$1} END {print s+0}')

# pytest's closing line, e.g. "==== 2 failed, 55 passed, 1 error in 30.1s ====".
pysummary=$(grep -E '^=+ .*(passed|failed|error).* in [0-9.]+s' "$pylog" | tail -n 1 || true)
pypassed=$({ grep -oE '[0-9]+ passed' <<<"$pysummary" || true; } | awk '{s+=$1} END {print s+0}')
pyfailed=$({ grep -oE '[0-9]+ (failed|errors?)' <<<"$pysummary" || true; } | awk '{s+=$1} END {print s+0}')
if [ "$pystatus" -ne 0 ] && [ "$pyfailed" -eq 0 ]; then
  # The suite did not get to run (build or install failed): count it as one failure.
  pyfailed=1
fi
if [ "$pystatus" -ne 0 ] && [ "$status" -eq 0 ]; then
  status=$pystatus
fi

echo
echo "(rust ${passed}/${failed}, python ${pypassed}/${pyfailed} passed/failed)"
echo "tests: $((passed + pypassed)) passed, $((failed + pyfailed)) failed"
exit "$status"
