#!/usr/bin/env bash
# Creates .venv (Python >= 3.11 + pip only) and installs the pinned lock file into it, once per lock change.
# Usage: scripts/bootstrap.sh requirements.lock|requirements-test.lock
set -euo pipefail
cd "$(dirname "$0")/.."
lock="${1:-requirements.lock}"
python="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
  "$python" -c 'import sys; sys.exit(sys.version_info < (3, 11))' || { echo "Python >= 3.11 is required" >&2; exit 1; }
  "$python" -m venv .venv
fi
stamp=".venv/.installed-$(basename "$lock")-$(sha256sum "$lock" | cut -c1-16)"
if [ ! -f "$stamp" ]; then
  # pip 25 handles hashed requirements with extras (gql[requests]) that older pips reject
  .venv/bin/python -m pip install --quiet --disable-pip-version-check "pip==25.3"
  .venv/bin/python -m pip install --quiet --disable-pip-version-check --require-hashes -r "$lock"
  touch "$stamp"
fi
# the project itself, editable (no copy: the work tree is the code), for the `acquisition` command and
# `python -m pipelines` from any folder; built with the pinned setuptools of requirements-build.lock
stamp=".venv/.installed-project-$(cat pyproject.toml requirements-build.lock | sha256sum | cut -c1-16)"
if [ ! -f "$stamp" ]; then
  .venv/bin/python -m pip install --quiet --disable-pip-version-check --require-hashes -r requirements-build.lock
  .venv/bin/python -m pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation --editable .
  touch "$stamp"
fi
