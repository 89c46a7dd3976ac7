#!/usr/bin/env bash
# Install what the test suite needs on a fresh machine (idempotent: a machine that has it all
# installs nothing). scripts/test-all.sh runs it first; .ci/run runs test-all.sh.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v cargo >/dev/null 2>&1; then
  echo "cargo is required (the machine's Rust toolchain)" >&2
  exit 1
fi
rustup component list --installed 2>/dev/null | grep -q '^clippy' || rustup component add clippy rustfmt || true

# The C suites (ffi-c/tests/c_programs.rs) build C programs with cc and pkg-config, run them
# under AddressSanitizer/UBSan (libasan/libubsan come with gcc) and under valgrind.
need=()
command -v cc >/dev/null 2>&1 || need+=(gcc libc6-dev)
command -v pkg-config >/dev/null 2>&1 || need+=(pkg-config)
command -v valgrind >/dev/null 2>&1 || need+=(valgrind)
# The vendor's PHP client (server/tests/xmlrpc.rs runs server/tests/php/vcsapi.php): PHP with
# its xmlrpc and curl extensions, from the distribution's packages.
command -v php >/dev/null 2>&1 || need+=(php-cli)
php -m 2>/dev/null | grep -qx xmlrpc || need+=(php-xmlrpc)
php -m 2>/dev/null | grep -qx curl || need+=(php-curl)
# The RADIUS suite (cli/tests/radius.rs) drives `tollgate serve --radius` with FreeRADIUS's
# radclient.
command -v radclient >/dev/null 2>&1 || need+=(freeradius-utils)
# The SIP suite (cli/tests/kamailio.rs): Kamailio with http_client (utils modules) and jansson
# (extra modules) in front of `tollgate serve`, and SIPp for the callers and the callee.
command -v kamailio >/dev/null 2>&1 || need+=(kamailio)
compgen -G '/usr/lib/*/kamailio/modules/http_client.so' >/dev/null || need+=(kamailio-utils-modules)
compgen -G '/usr/lib/*/kamailio/modules/jansson.so' >/dev/null || need+=(kamailio-extra-modules)
command -v sipp >/dev/null 2>&1 || need+=(sip-tester)
# The PostgreSQL store's suites (issue 16) run against a throwaway cluster that
# scripts/pg-cluster.sh starts as a non-root user: the server binaries (initdb, pg_ctl) and psql.
compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null || need+=(postgresql)
command -v psql >/dev/null 2>&1 || need+=(postgresql-client)
command -v openssl >/dev/null 2>&1 || need+=(openssl)
# Invoice PDFs are read back with pdftotext (core/tests/invoices.rs, server/tests).
command -v pdftotext >/dev/null 2>&1 || need+=(poppler-utils)
if [ "${#need[@]}" -gt 0 ]; then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${need[@]}"
fi

# The Python suite (scripts/python-tests.sh) makes a virtual environment and installs maturin,
# pytest and mypy into it from PyPI; it needs Python >= 3.10 with venv and pip.
if ! command -v python3 >/dev/null 2>&1 || ! python3 -c 'import ensurepip, venv' >/dev/null 2>&1; then
  if command -v apt-get >/dev/null 2>&1; then
    sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    $sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq python3 python3-venv python3-pip
  fi
fi
python3 -c 'import sys; assert sys.version_info >= (3, 10), sys.version' || {
  echo "Python 3.10 or newer is required for the Python suite" >&2
  exit 1
}

