#!/usr/bin/env bash
# The Python suite: build the wheel once, install it into a virtual environment, run pytest
# against the installed packages (never the source tree). Used by scripts/test-all.sh.
#
# The wheel is built with Cargo's dev profile (the workspace's dependencies are optimised
# there, see [profile.dev.package."*"]) so it reuses what `cargo test` just compiled instead
# of a second, release build of the whole engine; `pip install ./python` alone builds a
# release wheel. TOLLGATE_WHEEL_PROFILE=release overrides.
set -euo pipefail
cd "$(dirname "$0")/.."

venv="${TOLLGATE_VENV:-.venv}"
python="${PYTHON:-python3}"
if [ ! -x "$venv/bin/python" ]; then
  echo "== python: creating $venv"
  "$python" -m venv "$venv"
fi
export PATH="$PWD/$venv/bin:$PATH"
export VIRTUAL_ENV="$PWD/$venv"

echo "== python: tools (maturin, pytest, mypy)"
pip install --quiet --disable-pip-version-check "maturin>=1.9.4,<2" "pytest>=8" "mypy>=1.10"

profile="${TOLLGATE_WHEEL_PROFILE:-dev}"
echo "== python: build and install the wheel (profile $profile)"
MATURIN_PEP517_ARGS="--profile $profile --strip" \
  pip install --quiet --disable-pip-version-check --no-build-isolation --force-reinstall --no-deps ./python

# The remote half of the vcsapi suite talks to a live `tollgate serve`. scripts/test-all.sh
# passes the binary `cargo test` built (TOLLGATE_BIN); run alone, this builds it. (Building
# just the CLI package resolves other dependency features than the workspace test build and
# recompiles them, so test-all.sh does not pay for it twice.)
if [ -z "${TOLLGATE_BIN:-}" ]; then
  echo "== python: the tollgate binary for the remote vcsapi tests"
  cargo build --quiet -p tollgate-cli
  TOLLGATE_BIN="$(cargo metadata --format-version 1 --no-deps | "$venv/bin/python" -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')/debug/tollgate"
fi
export TOLLGATE_BIN

echo "== python: pytest"
cd python
exec pytest
