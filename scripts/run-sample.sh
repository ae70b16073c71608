#!/usr/bin/env bash
# One command, fresh machine: install, then run the whole pipeline on the bundled sample exports.
# Leaves data/warehouse.duckdb, the report data/report.html and pictures in data/charts/.
# Extra arguments go to `python -m pipelines run` (e.g. --raw DIR, --verbose).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh requirements.lock
export DAGSTER_HOME="${DAGSTER_HOME:-$PWD}"
.venv/bin/python -m pipelines run "$@"
echo
.venv/bin/python -m pipelines report --html data/report.html
.venv/bin/python -m pipelines charts >/dev/null   # PNGs in data/charts/
echo "open the report: $PWD/data/report.html"
