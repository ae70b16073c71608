"""The runner's bookkeeping: how each model's stored rows were written (meta.model_state) and which rows
each write replaced (meta.model_writes), so incremental models know when to rebuild whole and from where
a model built from them must recompute."""

from __future__ import annotations

import functools
import hashlib
import importlib.metadata
from datetime import UTC, date, datetime, timedelta
from typing import Any

import duckdb

from pipelines.core.db import scalar, table_exists
from pipelines.core.paths import PROJECT_ROOT
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
    late_touch = touches_loaded_since(con, table)
    return min(range_start, late_touch.replace(day=1)) if late_touch else range_start


def files_loaded_since(sources: tuple[str, ...]) -> str:
    """A select of the exports of `sources` loaded (quality.file_loads) since a table was last written, that
    table bound to its one `?`: all of them when it never was."""
    listed = ", ".join(f"'{source}'" for source in sources)  # source names, not input
    return f"""select source_file from quality.file_loads
               where source in ({listed})
                 and loaded_at > coalesce((select updated_at from meta.model_state where table_name = ?), '-infinity')"""


def touches_loaded_since(con: duckdb.DuckDBPyConnection, table: str) -> date | None:
    """The day of the oldest touch in the touchpoint exports loaded since `table` was last written; None
    when none was."""
    return scalar(
        con,
        f"select min(ts)::date from raw.touchpoints where source_file in ({files_loaded_since(('touchpoints',))})",
        [table],
    )


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


# What a model's rows are a function of, as one hash (meta.model_inputs): a model whose inputs hash the same
# as when it was last written holds exactly the rows a recomputation would give, so a run may leave it as
# it is and write nothing. The window parameters are left out: an incremental table's stored rows equal
# a full rebuild of the same inputs (tests/sql/test_properties.py), so any window of them would come out
# as stored. Callable parameters ("since" starts) are functions of the inputs hashed here.
WINDOW_PARAMS = frozenset({"window_start", "window_end", "range_start", "range_end", "rewrite_start"})
CODE_DIRS = ("pipelines/transform", "pipelines/core", "schemas")


@functools.cache
def code_fingerprint() -> str:
    """The code that turns inputs into model rows (the runner, its macros, the Python models, the
    schemas they read, and the versions of the libraries that compute them): a change to any of it
    recomputes every model once."""
    digest = hashlib.sha256()
    for library in ("duckdb", "polars", "numpy", "scipy"):
        digest.update(f"{library}={importlib.metadata.version(library)}\0".encode())
    for folder in CODE_DIRS:
        for path in sorted((PROJECT_ROOT / folder).rglob("*.py")):
            digest.update(path.relative_to(PROJECT_ROOT).as_posix().encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


def input_signature(
    con: duckdb.DuckDBPyConnection, sql: str, refs: frozenset[str], params: dict[str, Any], owners: dict[str, str]
) -> str:
    """The hash of everything a model's rows depend on: the code, its SQL, the run's parameters but the
    window, and the version of each table it reads. A raw source's version is the files it was loaded
    from (name and SHA-256, under the reader settings); a model's is the signature it was last written
    under (`owners`: a table a Python model writes besides its own, e.g. quality.ltv_backtest, takes
    that model's); config.* tables are written from the settings, which are among the parameters."""
    settled = sorted((k, repr(v)) for k, v in params.items() if k not in WINDOW_PARAMS and not callable(v))
    parts = [code_fingerprint(), sql, repr(settled)]
    for ref in sorted(refs):
        schema, name = ref.split(".")
        if schema == "config":
            continue
        parts.append(f"{ref}={raw_version(con, name) if schema == 'raw' else stored_inputs(con, owners.get(ref, ref))}")
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()


def raw_version(con: duckdb.DuckDBPyConnection, source: str) -> str:
    if not table_exists(con, f"raw.{source}"):
        return "absent"
    loads = (
        scalar(
            con,
            """select string_agg(source_file || ':' || file_sha256 || ':' || load_signature, ',' order by source_file)
               from quality.file_loads where source = ?""",
            [source],
        )
        if table_exists(con, "quality.file_loads")
        else None
    )
    # the row count too: rows written other than by ingest (a test's fixture) still count as a change
    return f"{loads}|{scalar(con, f'select count(*) from raw.{source}')}"


def stored_inputs(con: duckdb.DuckDBPyConnection, table: str) -> str | None:
    """The input signature `table` was last written under (None: unknown, so it is recomputed)."""
    if not table_exists(con, "meta.model_inputs"):
        return None
    return scalar(con, "select input_signature from meta.model_inputs where table_name = ?", [table])


def store_inputs(con: duckdb.DuckDBPyConnection, table: str, signature: str | None) -> None:
    """Remember the signature `table` was written under; None forgets it (rows written another way)."""
    con.execute("create schema if not exists meta")
    con.execute(
        "create table if not exists meta.model_inputs (table_name varchar primary key, input_signature varchar)"
    )
    if signature is None:
        con.execute("delete from meta.model_inputs where table_name = ?", [table])
    else:
        con.execute("insert or replace into meta.model_inputs values (?, ?)", [table, signature])
