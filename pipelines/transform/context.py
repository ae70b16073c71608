"""What a Python model gets from the runner, and all it gets: one small context object.

A Python model (pipelines/transform/models/) is a module with `materialize(ctx) -> int` (rows written)
and `TABLES` (every table it writes). Its SQL file's select is its set-based input; the runner hands it
the open connection, that select, the run's parameters and the runner's bookkeeping through `ctx`, so
the model never imports the runner.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import duckdb

from pipelines.core.table_comments import document_tables
from pipelines.transform import state
from pipelines.transform.binding import bind


@dataclass(frozen=True)
class ModelContext:
    con: duckdb.DuckDBPyConnection
    table: str  # the table the SQL file is named after
    sql: str  # the SQL file's select
    params: dict[str, Any]  # the run's parameters (pipelines/transform/params.py)

    def bind(self, params: dict[str, Any] | None = None) -> dict[str, Any]:
        """The parameters the select names, from `params` (default: the run's)."""
        return bind(self.sql, self.params if params is None else params)

    @property
    def fingerprint(self) -> str:
        """The select's and the run's settings' fingerprint: stored state written under another is stale."""
        return state.model_fingerprint(self.sql, self.params)

    def stored(self, table: str, field: str) -> Any:
        """What meta.model_state remembers of the write of `table` (None: never written)."""
        return state.stored(self.con, table, field)

    def store_state(self, table: str, as_of: Any, rewritten_from: Any) -> None:
        """Record a write of `table` under this fingerprint (meta.model_state, meta.model_writes)."""
        state.store_state(self.con, table, self.fingerprint, as_of, rewritten_from)

    def document(self, tables: list[str]) -> None:
        """Table and column comments from the tables' Pandera models (schemas/)."""
        document_tables(self.con, tables)
