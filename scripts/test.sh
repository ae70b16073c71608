#!/usr/bin/env bash
# One command, fresh machine: install the test dependencies, then run the test suite.
# Extra arguments go to pytest (e.g. -k cac, -x).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh requirements-test.lock
export ACQ_HASH_SECRET="${ACQ_HASH_SECRET:-test-secret}"
exec .venv/bin/python -m pytest "$@"
