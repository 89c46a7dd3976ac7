#!/usr/bin/env bash
# The benchmark harness of issue 17: build it in release and run it. JSON lines on stdout,
# progress on stderr; the arguments go to the harness:
#   benches/harness.sh [--seconds N] [--warmup N] [--only name,name] [--quick] [--dir PATH]
# A naive PostgreSQL figure too when TOLLGATE_TEST_PG names a server
# (eval "$(scripts/pg-cluster.sh start)"). docs/performance.md, "The harness (issue 17)".
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
cargo build --release -p tollgate-benches --bin harness >&2
target=${CARGO_TARGET_DIR:-$root/target}
exec "$target/release/harness" "$@"
