#!/usr/bin/env bash
# Long correctness runs, outside CI (their figures go in the issue notes):
#   scripts/soak.sh crash [KILLS]        the SIGKILL crash suite (default 1000 kill points)
#   scripts/soak.sh sim [SEEDS] [OPS]    the deterministic simulator (default 10000 x 1000),
#                                        release build, split over the machine's cores
set -euo pipefail
cd "$(dirname "$0")/.."
case "${1:-}" in
  crash)
    TOLLGATE_CRASH_KILLS="${2:-1000}" cargo test -p tollgate --test crash -- \
      --nocapture sigkill_at_random_points
    ;;
  sim)
    seeds="${2:-10000}" ops="${3:-1000}"
    cargo build --release -p tollgate-sim
    jobs=$(nproc)
    per=$(( (seeds + jobs - 1) / jobs ))
    pids=()
    for j in $(seq 0 $((jobs - 1))); do
      first=$((j * per))
      n=$(( first + per > seeds ? seeds - first : per ))
      [ "$n" -gt 0 ] || continue
      target/release/tollgate-sim --seeds "$n" --ops "$ops" --first "$first" > "target/sim-$j.log" 2>&1 &
      pids+=($!)
    done
    status=0
    for p in "${pids[@]}"; do wait "$p" || status=1; done
    cat target/sim-*.log
    exit $status
    ;;
  *)
    echo "usage: scripts/soak.sh crash [KILLS] | sim [SEEDS] [OPS]" >&2
    exit 2
    ;;
esac
