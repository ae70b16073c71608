"""Row-for-row comparison of the tables two builds made (DuckDB engine vs Spark engine).

Both sides are DuckDB files (the Spark build's analysts' extract), read into Polars: same columns in the
same order, the same number of rows, and the same rows once both are sorted by every column. Numbers
are compared with a tolerance: money to the kopeck (0.005 absolute) and every other number to 1e-9
(credits, rates, shares; relative for large values). Text, dates, timestamps and flags must be equal.
"""

from __future__ import annotations

from dataclasses import dataclass

import duckdb
import polars as pl

MONEY_TOLERANCE = 0.005  # half a kopeck: equal to the kopeck
TOLERANCE = 1e-9


@dataclass(frozen=True)
class Difference:
    table: str
    what: str

    def __str__(self) -> str:
        return f"{self.table}: {self.what}"


def _is_money(column: str) -> bool:
    words = ("revenue", "margin", "spend", "cost", "cac", "amount", "ltv", "aov", "cpa", "cpc", "cpm", "value")
    name = column.lower()
    return any(w in name for w in words) and not any(w in name for w in ("ratio", "roas", "rate", "share", "ltv_cac"))


def _numeric(dtype: pl.DataType) -> bool:
    return dtype.is_numeric()


def read(con: duckdb.DuckDBPyConnection, table: str) -> pl.DataFrame:
    return con.sql(f"select * from {table}").pl()


def compare_frames(table: str, expected: pl.DataFrame, actual: pl.DataFrame, limit: int = 5) -> list[Difference]:
    if expected.columns != actual.columns:
        return [Difference(table, f"columns differ: {expected.columns} vs {actual.columns}")]
    if expected.height != actual.height:
        return [Difference(table, f"{expected.height} rows vs {actual.height}")]
    floats = [
        c
        for c in expected.columns
        if _numeric(expected[c].dtype)
        and (
            expected[c].dtype.is_float()
            or actual[c].dtype.is_float()
            or expected[c].dtype.is_decimal()
            or actual[c].dtype.is_decimal()
        )
    ]
    exact = [c for c in expected.columns if c not in floats]

    def normal(frame: pl.DataFrame) -> pl.DataFrame:
        out = frame.with_columns([pl.col(c).cast(pl.Float64) for c in floats])
        out = out.with_columns(
            [pl.col(c).cast(pl.Int64) for c in exact if _numeric(frame[c].dtype)]
            + [pl.col(c).struct.json_encode() for c in exact if isinstance(frame[c].dtype, pl.Struct)]
            + [
                pl.col(c).list.eval(pl.element().cast(pl.String)).list.join("|")
                for c in exact
                if isinstance(frame[c].dtype, pl.List)
            ]
        )
        keys = exact + [pl.col(c).round(4) for c in floats]
        return out.sort(keys, nulls_last=True) if keys else out

    e, a = normal(expected), normal(actual)
    differences: list[Difference] = []
    for column in exact:
        left, right = e[column], a[column]
        if left.dtype != right.dtype:
            right = right.cast(left.dtype, strict=False)
        unequal = ~(left.eq_missing(right))
        if unequal.any():
            rows = unequal.arg_true().head(limit).to_list()
            differences.append(
                Difference(
                    table,
                    f"{column}: {unequal.sum()} rows differ, e.g. "
                    + ", ".join(f"{left[i]!r} vs {right[i]!r}" for i in rows),
                )
            )
    for column in floats:
        left, right = e[column], a[column]
        tolerance = MONEY_TOLERANCE if _is_money(column) else TOLERANCE
        # money: absolute; other numbers: relative to their size once past 1
        bound = tolerance * (
            pl.max_horizontal(pl.col("l").abs(), pl.col("r").abs(), pl.lit(1.0))
            if tolerance == TOLERANCE
            else pl.lit(1.0)
        )
        frame = pl.DataFrame({"l": left, "r": right})
        bad = (
            frame.select(
                (pl.col("l").is_null() != pl.col("r").is_null())
                | ((pl.col("l") - pl.col("r")).abs() > bound)
                | (pl.col("l").is_nan() != pl.col("r").is_nan())
            )
            .to_series()
            .fill_null(False)
        )
        if bad.any():
            rows = bad.arg_true().head(limit).to_list()
            differences.append(
                Difference(
                    table,
                    f"{column}: {bad.sum()} rows differ beyond {tolerance:g}, e.g. "
                    + ", ".join(f"{left[i]!r} vs {right[i]!r}" for i in rows),
                )
            )
    return differences


def compare_builds(
    expected: duckdb.DuckDBPyConnection, actual: duckdb.DuckDBPyConnection, tables: list[str]
) -> list[Difference]:
    differences: list[Difference] = []
    for table in tables:
        differences += compare_frames(table, read(expected, table), read(actual, table))
    return differences
