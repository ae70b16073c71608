"""The runner's bookkeeping: how each model's stored rows were written (meta.model_state) and which rows
each write replaced (meta.model_writes), so incremental models know when to rebuild whole and from where
a model built from them must recompute."""

from __future__ import annotations

import hashlib
from datetime import UTC, date, datetime, timedelta
from typing import Any

import duckdb

from pipelines.core.db import scalar, table_exists
from pipelines.core.periods import EARLIEST


def model_fingerprint(sql: str, params: dict[str, Any]) -> str:
    """What a stored write must match to be kept: the model's SQL and the run's settings."""
    return hashlib.sha256(f"{sql}|{params.get('settings_fingerprint', '')}".encode()).hexdigest()


def stored(con: duckdb.DuckDBPyConnection, table: str, field: str) -> Any:
    """What meta.model_state remembers of the run that last wrote `table`."""
    if not table_exists(con, "meta.model_state"):
        return None
    return scalar(con, f"select {field} from meta.model_state where table_name = ?", [table])


def store_state(con: duckdb.DuckDBPyConnection, table: str, fingerprint: str, as_of: Any, rewritten_from: Any) -> None:
    """Remember how `table` was written (meta.model_state) and log which rows the write replaced."""
    con.execute("create schema if not exists meta")
    con.execute(
        """create table if not exists meta.model_state (
            table_name varchar primary key, fingerprint varchar, as_of_date date, updated_at timestamp)"""
    )
    con.execute(
        "create table if not exists meta.model_writes (table_name varchar, window_start date, written_at timestamp)"
    )
    now = datetime.now(UTC).replace(tzinfo=None)  # UTC, like quality.file_loads.loaded_at
    con.execute("insert or replace into meta.model_state values (?, ?, ?, ?)", [table, fingerprint, as_of, now])
    con.execute("insert into meta.model_writes values (?, ?, ?)", [table, rewritten_from, now])
    # a write older than every table's last write can no longer be "since" any of them
    con.execute("delete from meta.model_writes where written_at < (select min(updated_at) from meta.model_state)")


def last_rewrite_start(con: duckdb.DuckDBPyConnection, table: str) -> Any:
    """The first date of the rows the last write of an incremental table replaced (all time if unknown)."""
    if not table_exists(con, "meta.model_writes"):
        return EARLIEST
    found = scalar(
        con, "select window_start from meta.model_writes where table_name = ? order by written_at desc limit 1", [table]
    )
    return found or EARLIEST


def late_touches_start(con: duckdb.DuckDBPyConnection, table: str, range_start: date) -> date:
    """The run's first month, or the month of the oldest touch in touchpoint exports loaded since `table`
    was last written (a late or corrected file of an older month; a reloaded source counts as all new)."""
    if range_start <= EARLIEST or not table_exists(con, "meta.model_state"):
        return EARLIEST
    if not table_exists(con, "quality.file_loads"):
        return range_start
    late_touch = scalar(
        con,
        """select min(ts)::date from raw.touchpoints where source_file in (
               select source_file from quality.file_loads
               where source = 'touchpoints'
                 and loaded_at > coalesce((select updated_at from meta.model_state where table_name = ?), '-infinity'))""",
        [table],
    )
    return min(range_start, late_touch.replace(day=1)) if late_touch else range_start


def rewritten_since(con: duckdb.DuckDBPyConnection, upstream: str, table: str, range_start: date) -> date:
    """The run's first month, or the oldest start of the rows `upstream` rewrote since `table` was last
    written (meta.model_writes), so a table built from an incremental one follows all its changes."""
    if range_start <= EARLIEST or not table_exists(con, "meta.model_writes"):
        return EARLIEST
    oldest = scalar(
        con,
        """select min(window_start) from meta.model_writes
           where table_name = ? and written_at > coalesce(
               (select updated_at from meta.model_state where table_name = ?), '-infinity')""",
        [upstream, table],
    )
    return min(range_start, oldest) if oldest else range_start


def first_row_after(con: duckdb.DuckDBPyConnection, day: date) -> date | None:
    """The day of the earliest order or touch dated after `day`: rows a run with the as-of date `day`
    loaded but left out (a source ran ahead of the others), which a later run must take in."""
    found = [
        scalar(
            con, f"select min({column})::date from {table} where {column} >= $after", {"after": day + timedelta(days=1)}
        )
        for table, column in (("raw.orders", "created_at"), ("raw.touchpoints", "ts"))
        if table_exists(con, table)
    ]
    found = [d for d in found if d is not None]
    return min(found) if found else None
