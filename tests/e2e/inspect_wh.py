"""Content fingerprints of a warehouse file, computed in a process of their own.

DuckDB keeps one database instance per path and process, so "what does a new connection see" must be
asked from a fresh process: `python tests/e2e/inspect_wh.py PATH` prints a JSON object
  {"tables": {schema.table: md5 of its rows}, "close": {the same with doubles cut to 12 significant
   digits}, "cac_periods" / "cac_periods_close": {grain|period_start: md5 of marts.channel_period_cac
   rows of that period}, "build_runs": [run_id, ...] (meta.build_info in build order)}
Columns that differ between runs by nature (run ids, load/build timestamps) are left out of the
fingerprints; meta.build_info gains a row per run, so only its latest row (without them) is compared.

"close" exists because a sum of doubles depends on the order it adds the rows in, which DuckDB's
parallel aggregation does not fix, and a backfill (delete then insert of a window) also changes the
physical row order of an incremental table: a recomputed amount can differ from the last run's in its
last bit (2249.9999999999995 against 2250.0) on the same inputs.
"""

from __future__ import annotations

import json
import sys

import duckdb

VOLATILE = ("run_id", "loaded_at", "built_at")
SCHEMAS = ("raw", "staging", "marts", "quality", "meta", "config")


def fingerprint(con: duckdb.DuckDBPyConnection, query: str) -> str:
    sql = f"select md5(coalesce(string_agg(r::varchar, chr(10) order by r::varchar), '')) || ':' || count(*) from ({query}) r"
    return con.execute(sql).fetchall()[0][0]


def select_lists(columns: list[tuple[str, str]]) -> tuple[str, str]:
    """Select lists of the columns as they are, and with doubles cut to 12 significant digits."""
    exact = ", ".join(f'"{name}"' for name, _ in columns)
    close = ", ".join(
        "printf('%.12g', \"{0}\") as \"{0}\"".format(name) if kind in ("DOUBLE", "FLOAT") else f'"{name}"'
        for name, kind in columns
    )
    return exact, close


def inspect(path: str) -> dict:
    con = duckdb.connect(path, read_only=True)
    try:
        tables = con.execute(
            "select schema_name, table_name from duckdb_tables() where schema_name in "
            f"({', '.join(repr(s) for s in SCHEMAS)}) order by 1, 2"
        ).fetchall()
        out: dict = {"tables": {}, "close": {}, "cac_periods": {}, "cac_periods_close": {}, "build_runs": []}
        for schema, table in tables:
            columns = [(r[0], r[1]) for r in con.execute(f"describe {schema}.{table}").fetchall()]
            keep = [(name, kind) for name, kind in columns if name not in VOLATILE]
            exact, close = select_lists(keep)
            last = " order by built_at desc limit 1" if (schema, table) == ("meta", "build_info") else ""
            out["tables"][f"{schema}.{table}"] = fingerprint(con, f"select {exact} from {schema}.{table}{last}")
            out["close"][f"{schema}.{table}"] = fingerprint(con, f"select {close} from {schema}.{table}{last}")
        if ("marts", "channel_period_cac") in tables:
            columns = [(r[0], r[1]) for r in con.execute("describe marts.channel_period_cac").fetchall()]
            exact, close = select_lists(columns)
            periods = con.execute(
                "select distinct period_grain, period_start from marts.channel_period_cac order by 1, 2"
            ).fetchall()
            for grain, start in periods:
                where = f"where period_grain = '{grain}' and period_start = '{start}'"
                key = f"{grain}|{start}"
                out["cac_periods"][key] = fingerprint(con, f"select {exact} from marts.channel_period_cac {where}")
                out["cac_periods_close"][key] = fingerprint(con, f"select {close} from marts.channel_period_cac {where}")
        if ("meta", "build_info") in tables:
            out["build_runs"] = [r[0] for r in con.execute("select run_id from meta.build_info order by built_at").fetchall()]
        return out
    finally:
        con.close()


if __name__ == "__main__":
    print(json.dumps(inspect(sys.argv[1])))
