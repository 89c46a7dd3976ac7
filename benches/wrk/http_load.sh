#!/usr/bin/env bash
# Load test of `tollgate serve` with wrk (the issue 17 target): `clients.editForm` and
# `core.authorize` with a SID, over JSON-RPC, keep-alive, against a fresh SQLite file.
# Prints wrk's req/s and latency percentiles for each method.
#
#   benches/wrk/http_load.sh [path/to/tollgate]      (default: target/release/tollgate)
#
# Environment: CONNECTIONS (64), THREADS (2), DURATION (10s), PORT (18417).
# Needs wrk (Debian: apt-get install wrk), curl and jq. Bounded: each run lasts DURATION,
# the server is stopped on exit whatever happened.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
bin="${1:-$here/../../target/release/tollgate}"
connections="${CONNECTIONS:-64}"
threads="${THREADS:-2}"
duration="${DURATION:-10s}"
port="${PORT:-18417}"
for tool in wrk curl jq; do
    command -v "$tool" >/dev/null || { echo "needs $tool" >&2; exit 2; }
done
[ -x "$bin" ] || { echo "no tollgate binary at $bin (cargo build --release -p tollgate-cli)" >&2; exit 2; }

work="$(mktemp -d)"
server=""
cleanup() {
    if [ -n "$server" ]; then kill "$server" 2>/dev/null || true; wait "$server" 2>/dev/null || true; fi
    rm -rf "$work"
}
trap cleanup EXIT
db="$work/load.db"
printf 'admin-password-1\n' > "$work/pw"
"$bin" init "$db" --password-file "$work/pw" >/dev/null

call() { "$bin" call "$db" "$1" "$2"; }
table=$(call rateTables.add '{"name":"Load","rounding":"half_up"}' | jq -e '.return.id')
call rates.add "{\"id_rate_tables\":$table,\"code\":\"44\",\"code_name\":\"UK\",\"rate\":\"0.01\",\"min_volume\":1,\"interval\":1,\"effective_from\":\"2020-01-01\"}" >/dev/null
client=$(call clients.add "{\"name\":\"Load\",\"orig_rate_table\":$table}" | jq -e '.return.id')
call accounts.add "{\"id_clients\":$client,\"name\":\"ani\",\"auth_type\":\"ani\",\"ident\":\"5000\"}" >/dev/null
call transactions.add "{\"id_clients\":$client,\"type\":\"payment\",\"amount\":\"1000000000\"}" >/dev/null

# Request logs go to a file, as an operator would keep them (writing them is part of the cost).
"$bin" serve "$db" --listen "127.0.0.1:$port" 2>"$work/serve.log" &
server=$!
url="http://127.0.0.1:$port/jsonrpc/"
for _ in $(seq 1 100); do
    curl -fsS "http://127.0.0.1:$port/healthz" >/dev/null 2>&1 && break
    sleep 0.1
done
sid=$(curl -fsS "$url" -d '{"jsonrpc":"2.0","id":1,"method":"auth.login","params":{"auth":{"login":"admin","password":"admin-password-1"}}}' | jq -er '.result.session_id')

bodies=(
    "clients.editForm|{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"clients.editForm\",\"params\":{\"SID\":\"$sid\",\"id_clients\":$client}}"
    "core.authorize|{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"core.authorize\",\"params\":{\"SID\":\"$sid\",\"account\":\"5000\",\"auth_type\":\"ani\",\"destination\":\"442071234567\"}}"
)
echo "tollgate serve ($bin), wrk -t$threads -c$connections -d$duration, $(nproc) cores, SQLite file"
printf '%-18s %10s %9s %9s %9s %9s %8s\n' method req/s p50 p90 p99 max failed
for entry in "${bodies[@]}"; do
    method="${entry%%|*}"
    body="${entry#*|}"
    # Every answer must be a success: a refusal is cheaper than the work being measured.
    check=$(curl -fsS "$url" -d "$body" | jq -r '.result.code')
    [ "$check" = "true" ] || { echo "$method refused: $(curl -sS "$url" -d "$body")" >&2; exit 1; }
    cat > "$work/post.lua" <<LUA
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = [[$body]]
local threads = {}
function setup(thread) table.insert(threads, thread) end
bad = 0
function response(status, headers, body)
    if status ~= 200 or not string.find(body, '"code":true', 1, true) then bad = bad + 1 end
end
function done(summary, latency, requests)
    local refused = 0
    for _, t in ipairs(threads) do refused = refused + t:get("bad") end
    io.write(string.format("RESULT %.0f %.3f %.3f %.3f %.3f %d\n",
        summary.requests / (summary.duration / 1e6),
        latency:percentile(50) / 1000, latency:percentile(90) / 1000,
        latency:percentile(99) / 1000, latency.max / 1000,
        refused + summary.errors.connect + summary.errors.read + summary.errors.write
            + summary.errors.timeout))
end
LUA
    out=$(wrk -t"$threads" -c"$connections" -d"$duration" -s "$work/post.lua" "$url")
    read -r _ rps p50 p90 p99 max errors < <(grep '^RESULT' <<<"$out")
    printf '%-18s %10s %8sms %8sms %8sms %8sms %8s\n' "$method" "$rps" "$p50" "$p90" "$p99" "$max" "$errors"
done
