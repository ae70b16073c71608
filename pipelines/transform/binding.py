"""Bound parameters: a query gets exactly the `$name` parameters its text (comments aside) names."""

from __future__ import annotations

import re
from typing import Any

PARAM = re.compile(r"\$([a-z_][a-z0-9_]*)")


def bind(query: str, params: dict[str, Any]) -> dict[str, Any]:
    """Only the parameters the query names: DuckDB rejects unused ones."""
    wanted = set(PARAM.findall(strip_comments(query)))
    missing = wanted - params.keys()
    if missing:
        raise KeyError(f"SQL needs parameter(s) {sorted(missing)} that the run does not provide")
    return {name: params[name] for name in wanted}


def strip_comments(sql: str) -> str:
    return re.sub(r"--[^\n]*", "", sql)
