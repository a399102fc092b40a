#!/usr/bin/env bash
# Fresh machine -> the test suite (fast tests; add `-m slow` for the Monte Carlo checks).
# Installs into .venv the pinned runtime and test-only peer libraries (requirements-dev.lock),
# and Debian's chromium for the browser tests when it is missing and we may install it.
# Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -x .venv/bin/python ]; then python3 -m venv .venv; fi
.venv/bin/python -m pip install --quiet --disable-pip-version-check -r requirements-dev.lock -e '.[dev]'
if ! command -v chromium >/dev/null 2>&1 && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
    || echo "note: could not install chromium; browser tests will be skipped" >&2
fi
# Two workers (this machine's cores); each test file stays on one worker, so a module's run
# folder is built once. Pass -n 0 to run in one process.
exec .venv/bin/python -m pytest -n 2 --dist loadfile "$@"
