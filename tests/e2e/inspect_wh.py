"""Content fingerprints of a warehouse file, computed in a process of their own.

DuckDB keeps one database instance per path and process, so "what does a new connection see" must be
asked from a fresh process: `python tests/e2e/inspect_wh.py PATH` prints a JSON object
  {"tables": {schema.table: md5 of its rows}, "cac_periods": {grain|period_start: md5 of
   marts.channel_period_cac rows of that period}, "build_runs": [run_id, ...] (meta.build_info in build order)}
Columns that differ between runs by nature (run ids, load/build timestamps) are left out of the
fingerprints; meta.build_info gains a row per run, so only its latest row (without them) is compared.
Fingerprints are exact: the marts sum money with exact_sum (pipelines/transform/runner.py), so no last bit
depends on the order DuckDB's threads add rows in.
"""

from __future__ import annotations

import json
import sys

import duckdb

VOLATILE = ("run_id", "loaded_at", "built_at", "updated_at", "written_at")
SCHEMAS = ("raw", "staging", "marts", "quality", "meta", "config")


def fingerprint(con: duckdb.DuckDBPyConnection, query: str) -> str:
    # the row as a struct, under an alias no table has as a column (quality.ltv_fits has `r`, BG/NBD's r)
    sql = (
        "select md5(coalesce(string_agg(whole_row::varchar, chr(10) order by whole_row::varchar), '')) "
        f"|| ':' || count(*) from ({query}) whole_row"
    )
    return con.execute(sql).fetchall()[0][0]


def select_list(columns: list[tuple[str, str]]) -> str:
    return ", ".join(f'"{name}"' for name, _ in columns)


def inspect(path: str) -> dict:
    con = duckdb.connect(path, read_only=True)
    try:
        tables = con.execute(
            "select schema_name, table_name from duckdb_tables() where schema_name in "
            f"({', '.join(repr(s) for s in SCHEMAS)}) order by 1, 2"
        ).fetchall()
        out: dict = {"tables": {}, "cac_periods": {}, "build_runs": []}
        for schema, table in tables:
            columns = [(r[0], r[1]) for r in con.execute(f"describe {schema}.{table}").fetchall()]
            keep = [(name, kind) for name, kind in columns if name not in VOLATILE]
            last = {
                # logs grow by a row per run: their last entry is what a re-run must reproduce
                ("meta", "build_info"): " order by built_at desc limit 1",
                (
                    "meta",
                    "model_writes",
                ): " qualify row_number() over (partition by table_name order by written_at desc) = 1",
            }.get((schema, table), "")
            out["tables"][f"{schema}.{table}"] = fingerprint(
                con, f"select {select_list(keep)} from {schema}.{table}{last}"
            )
        if ("marts", "channel_period_cac") in tables:
            columns = [(r[0], r[1]) for r in con.execute("describe marts.channel_period_cac").fetchall()]
            exact = select_list(columns)
            periods = con.execute(
                "select distinct period_grain, period_start from marts.channel_period_cac order by 1, 2"
            ).fetchall()
            for grain, start in periods:
                where = f"where period_grain = '{grain}' and period_start = '{start}'"
                key = f"{grain}|{start}"
                out["cac_periods"][key] = fingerprint(con, f"select {exact} from marts.channel_period_cac {where}")
        if ("meta", "build_info") in tables:
            out["build_runs"] = [
                r[0] for r in con.execute("select run_id from meta.build_info order by built_at").fetchall()
            ]
        return out
    finally:
        con.close()


if __name__ == "__main__":
    print(json.dumps(inspect(sys.argv[1])))
