#!/usr/bin/env bash
# One command, fresh machine: install the test dependencies, then run the test suite.
# Extra arguments go to pytest (e.g. -k cac, -x; -n 0 runs it in one process).
# Two workers (pytest-xdist), one test file at a time each: a file's module fixtures are built once.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh requirements-test.lock
export ACQ_HASH_SECRET="${ACQ_HASH_SECRET:-test-secret}"
exec .venv/bin/python -m pytest -n 2 --dist loadfile "$@"
