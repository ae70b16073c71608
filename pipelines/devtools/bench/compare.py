"""The peer checks the pipeline: its last-touch CAC and LTV must equal the warehouse's."""

from __future__ import annotations

import math
from pathlib import Path

import duckdb
import pandas as pd

REL_TOL = 1e-6
ABS_TOL = 1e-6

CAC_SQL = """
select period_start as month, channel, ad_spend, new_customers, cac_paid
from marts.channel_period_cac
where period_grain = 'month' and attribution_model = 'last_touch'
"""
LTV_SQL = """
select cohort_month as month, channel, customers, ltv_margin_3, ltv_margin_6, ltv_margin_12
from marts.channel_ltv
where attribution_model = 'last_touch'
"""


def _same(a, b) -> bool:
    a_missing = a is None or (isinstance(a, float) and math.isnan(a))
    b_missing = b is None or (isinstance(b, float) and math.isnan(b))
    if a_missing or b_missing:
        return a_missing and b_missing
    return math.isclose(float(a), float(b), rel_tol=REL_TOL, abs_tol=ABS_TOL)


def _frame(con: duckdb.DuckDBPyConnection, sql: str) -> pd.DataFrame:
    relation = con.sql(sql)
    frame = pd.DataFrame(relation.fetchall(), columns=relation.columns)
    frame["month"] = pd.to_datetime(frame["month"])
    return frame


def _diff(pipe: pd.DataFrame, peer: pd.DataFrame, columns: list[str], zero_when_missing: set[str]) -> list[dict]:
    merged = pipe.merge(peer, on=["month", "channel"], how="outer", suffixes=("_pipeline", "_peer"), indicator=True)
    out = []
    for row in merged.to_dict("records"):
        for c in columns:
            a, b = row[f"{c}_pipeline"], row[f"{c}_peer"]
            if c in zero_when_missing:
                a = 0.0 if a is None or (isinstance(a, float) and math.isnan(a)) else a
                b = 0.0 if b is None or (isinstance(b, float) and math.isnan(b)) else b
            if not _same(a, b):
                out.append(
                    {
                        "month": str(row["month"].date()),
                        "channel": row["channel"],
                        "column": c,
                        "pipeline": None if a is None or (isinstance(a, float) and math.isnan(a)) else float(a),
                        "peer": None if b is None or (isinstance(b, float) and math.isnan(b)) else float(b),
                        "row_in": row["_merge"]
                        .replace("left_only", "pipeline only")
                        .replace("right_only", "peer only"),
                    }
                )
    return out


def compare(warehouse: Path | duckdb.DuckDBPyConnection, peer: dict) -> dict:
    """Mismatches of monthly last-touch paid CAC (with its spend and new customers) and of last-touch
    LTV margin at 3/6/12 months (with cohort size), as rows naming month, channel and both values."""
    own = not isinstance(warehouse, duckdb.DuckDBPyConnection)
    con = duckdb.connect(str(warehouse), read_only=True) if own else warehouse
    try:
        pipe_cac = _frame(con, CAC_SQL)
        pipe_ltv = _frame(con, LTV_SQL)
    finally:
        if own:
            con.close()
    peer_cac = peer["cac"].rename(columns={})[["month", "channel", "ad_spend", "new_customers", "cac_paid"]]
    peer_ltv = peer["ltv"][["month", "channel", "customers", "ltv_margin_3", "ltv_margin_6", "ltv_margin_12"]]
    cac = _diff(pipe_cac, peer_cac, ["ad_spend", "new_customers", "cac_paid"], {"ad_spend", "new_customers"})
    ltv = _diff(pipe_ltv, peer_ltv, ["customers", "ltv_margin_3", "ltv_margin_6", "ltv_margin_12"], {"customers"})
    return {
        "cac_rows_compared": int(max(len(pipe_cac), len(peer_cac))),
        "ltv_rows_compared": int(max(len(pipe_ltv), len(peer_ltv))),
        "cac_mismatches": cac,
        "ltv_mismatches": ltv,
        "equal": not cac and not ltv,
    }
