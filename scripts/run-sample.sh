#!/usr/bin/env bash
# One command, fresh machine: install, then run the whole pipeline on the bundled sample exports.
# Leaves data/warehouse.duckdb and pictures in data/charts/. Extra arguments go to `python -m pipelines run` (e.g. --raw DIR).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh requirements.lock
export DAGSTER_HOME="${DAGSTER_HOME:-$PWD}"
.venv/bin/python -m pipelines run "$@"
.venv/bin/python -m pipelines report
.venv/bin/python -m pipelines charts   # PNGs in data/charts/
