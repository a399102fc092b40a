#!/usr/bin/env bash
# Fresh machine -> the whole evaluation on the simulated demo data, rendered into runs/<name>-<time>/.
# Needs Python 3.11+ with pip and venv. Installs into .venv (pinned versions from requirements.lock).
# Extra arguments go to `evaluation run`, e.g.: bash scripts/run_demo.sh --out /tmp/runs
set -euo pipefail
cd "$(dirname "$0")/.."
PARAMS="${PARAMS:-params/default.yaml}"
if [ ! -x .venv/bin/python ]; then python3 -m venv .venv; fi
.venv/bin/python -m pip install --quiet --disable-pip-version-check -r requirements.lock -e .
exec .venv/bin/evaluation run "$PARAMS" "$@"
