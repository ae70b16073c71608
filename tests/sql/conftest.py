"""Shared helpers for SQL-model tests: an in-memory warehouse with raw.* and config.* tables, row inserts
that fill unspecified columns, and a one-call run of every staging and mart model.

    def test_something(warehouse):
        insert(warehouse, "raw.orders", [{"order_id": "o1", "customer_id": "c1", ...}])
        run(warehouse)
        assert table(warehouse, "marts.orders")...
"""

from __future__ import annotations

import dataclasses
from datetime import date
from typing import Any

import duckdb
import polars as pl
import pytest

from pipelines.core.config import Config, load_config
from pipelines.ingest.raw_tables import create_raw_tables
from pipelines.transform.params import EARLIEST, LATEST, run_transforms, write_config_tables

LINEAGE_DEFAULTS = {"source_file": "test/export.csv", "layout": "canonical"}


# Hand-built fixtures are sparse by design (a few touches days before a purchase, one day of spend), so
# touchpoints and ad spend are declared complete through the run's previous day, as a source with quiet
# days would be: the as-of date is then the last order's, and the models' own rules are what is tested.
# The as-of rule itself (every dated source's coverage) is tested in tests/test_coverage.py.
SPARSE_SOURCES_COMPLETE = {"touchpoints": "yesterday", "ad_spend": "yesterday"}


def make_config(**overrides: Any) -> Config:
    """The project's acquisition.toml (channel rules, aliases) with settings replaced, e.g. grains=("month",)."""
    return dataclasses.replace(load_config(), **({"complete_through": SPARSE_SOURCES_COMPLETE} | overrides))


def new_warehouse(config: Config | None = None) -> duckdb.DuckDBPyConnection:
    """A fresh in-memory DuckDB with empty raw.* tables and config.* tables written from `config`."""
    con = duckdb.connect(":memory:")
    create_raw_tables(con)
    write_config_tables(con, config or make_config())
    return con


@pytest.fixture
def warehouse() -> duckdb.DuckDBPyConnection:
    con = new_warehouse()
    yield con
    con.close()


def insert(con: duckdb.DuckDBPyConnection, table: str, rows: list[dict[str, Any]]) -> None:
    """Insert dict rows; columns not given are NULL, lineage defaults to test/export.csv with the 1-based
    position as source_row. Unknown column names fail loudly."""
    if not rows:
        return
    columns = [name for (name,) in con.execute(f"select column_name from (describe {table})").fetchall()]
    unknown = {key for row in rows for key in row} - set(columns)
    if unknown:
        raise KeyError(f"{table} has no column(s) {sorted(unknown)}")
    filled = [
        {name: row.get(name, LINEAGE_DEFAULTS.get(name) if name != "source_row" else position) for name in columns}
        for position, row in enumerate(rows, start=1)
    ]
    # through a polars frame: executemany is slow for the thousands of rows the worked examples need
    frame = pl.DataFrame(filled, infer_schema_length=None, strict=False)  # noqa: F841 (read by DuckDB)
    con.execute(f"insert into {table} by name select * from frame")


def run(
    con: duckdb.DuckDBPyConnection,
    config: Config | None = None,
    window: tuple[date, date] = (EARLIEST, LATEST),
    skip_unchanged: bool = False,
) -> dict[str, int | None]:
    """Every staging and mart model over `window` (default: all time); with `skip_unchanged`, as the
    Dagster assets run them (a model whose inputs did not change is kept: None)."""
    return run_transforms(con, config or make_config(), window, skip_unchanged=skip_unchanged)


def table(con: duckdb.DuckDBPyConnection, sql_or_table: str, params: Any = None) -> pl.DataFrame:
    """A table name or a query as a polars frame."""
    query = sql_or_table if " " in sql_or_table.strip() else f"select * from {sql_or_table}"
    return con.sql(query, params=params).pl()
