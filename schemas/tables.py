"""Every published table's Pandera model: the documentation analysts see as comments, and the blocking
checks a build must pass before it is published."""

from __future__ import annotations

import importlib

_MODULES = ("schemas.marts_acquisition", "schemas.marts_ltv", "schemas.quality")


def _collect() -> list:
    tables = []
    for name in _MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name != name:
                raise
            continue
        tables.extend(module.TABLES)
    return tables


PUBLISHED = _collect()
