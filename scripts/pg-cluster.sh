#!/usr/bin/env bash
# Start a throwaway PostgreSQL cluster for the tests (issue 16): initdb into a fresh
# directory, pg_ctl start on a free loopback port, as a non-root user (PostgreSQL refuses
# root). Prints `export TOLLGATE_TEST_PG=postgres://...` for the caller to eval; the cluster
# stops with `scripts/pg-cluster.sh stop DIR`.
#   eval "$(scripts/pg-cluster.sh start)"
set -euo pipefail
cmd=${1:-start}
bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
if [ -z "$bin" ] || [ ! -x "$bin/initdb" ]; then
  echo "PostgreSQL server binaries not found (scripts/setup.sh installs postgresql)" >&2
  exit 1
fi
as_owner() {
  if [ "$(id -u)" -eq 0 ]; then
    runuser -u postgres -- "$@"
  else
    "$@"
  fi
}
case "$cmd" in
  start)
    dir=$(mktemp -d /tmp/tollgate-pg.XXXXXX)
    [ "$(id -u)" -eq 0 ] && chown postgres: "$dir"
    port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    pwfile="$dir/pw"
    password=$(python3 -c 'import secrets; print(secrets.token_hex(16))')
    echo "$password" >"$pwfile"
    [ "$(id -u)" -eq 0 ] && chown postgres: "$pwfile"
    as_owner "$bin/initdb" -D "$dir/data" -U tollgate --pwfile="$pwfile" -A scram-sha-256 \
      -E UTF8 --locale=C.UTF-8 >"$dir/initdb.log" 2>&1 || { cat "$dir/initdb.log" >&2; exit 1; }
    # TLS as well as plain connections: a throwaway CA (the tests trust it through
    # sslrootcert, TOLLGATE_TEST_PG_CA) and a server certificate for 127.0.0.1 it signed.
    openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=Tollgate test CA" \
      -keyout "$dir/ca.key" -out "$dir/ca.crt" >/dev/null 2>&1
    openssl req -newkey rsa:2048 -nodes -subj "/CN=127.0.0.1" \
      -keyout "$dir/server.key" -out "$dir/server.csr" >/dev/null 2>&1
    printf 'subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n' >"$dir/server.ext"
    openssl x509 -req -in "$dir/server.csr" -CA "$dir/ca.crt" -CAkey "$dir/ca.key" \
      -CAcreateserial -days 2 -extfile "$dir/server.ext" -out "$dir/server.crt" >/dev/null 2>&1
    chmod 600 "$dir/server.key"
    [ "$(id -u)" -eq 0 ] && chown postgres: "$dir/server.key" "$dir/server.crt"
    as_owner "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
      -o "-c listen_addresses=127.0.0.1 -c port=$port -c unix_socket_directories=$dir -c max_connections=300 -c fsync=on -c shared_buffers=128MB -c ssl=on -c ssl_cert_file=$dir/server.crt -c ssl_key_file=$dir/server.key" \
      start >/dev/null || { cat "$dir/server.log" >&2; exit 1; }
    echo "export TOLLGATE_TEST_PG=postgres://tollgate:$password@127.0.0.1:$port/postgres"
    echo "export TOLLGATE_TEST_PG_DIR=$dir"
    echo "export TOLLGATE_TEST_PG_CA=$dir/ca.crt"
    ;;
  stop)
    dir=${2:?cluster directory}
    as_owner "$bin/pg_ctl" -D "$dir/data" -m fast stop >/dev/null || true
    rm -rf "$dir"
    ;;
  *)
    echo "usage: $0 start | stop DIR" >&2
    exit 2
    ;;
esac
