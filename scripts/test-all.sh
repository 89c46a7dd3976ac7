#!/usr/bin/env bash
# The whole test suite: formatting, lints, and every Rust test (unit, integration, doc).
# The C suites run inside `cargo test` (ffi-c/tests/c_programs.rs compiles the C programs and
# runs them under sanitizers and valgrind), so they count in the summary. Python joins here
# as its crate grows. Ends with one summary line.
set -euo pipefail
cd "$(dirname "$0")/.."
log=$(mktemp)
trap 'rm -f "$log"' EXIT

echo "== cargo fmt --check"
cargo fmt --all -- --check

echo "== cargo clippy (all targets, warnings are errors)"
cargo clippy --workspace --all-targets --quiet -- -D warnings

for tool in cc pkg-config valgrind; do
  command -v "$tool" >/dev/null 2>&1 || { echo "$tool is required by the C suites (.ci/run installs it)" >&2; exit 1; }
done

echo "== cargo test"
status=0
cargo test --workspace 2>&1 | tee "$log" || status=$?

passed=$(grep -E '^test result:' "$log" | sed -E 's/.* ([0-9]+) passed.*/\1/' | awk '{s+=$1} END {print s+0}')
failed=$(grep -E '^test result:' "$log" | sed -E 's/.* ([0-9]+) failed.*/\1/' | awk '{s+=$1} END {print s+0}')
echo
echo "tests: ${passed} passed, ${failed} failed"
exit "$status"
