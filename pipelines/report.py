"""`python -m pipelines report`: the first things an analyst looks at, read-only."""

from __future__ import annotations

from pathlib import Path

import duckdb

QUERIES = {
    "Build": "select built_at, run_id, as_of_date, window_start, window_end from meta.build_info order by built_at desc limit 1",
    "Rejected rows by source and reason": "select source, reason, count(*) as rows from quality.rejected_rows group by all order by rows desc",
    "Channel summary (default attribution model)": """
        select * exclude (attribution_model) from marts.channel_summary
        where attribution_model = 'last_non_direct' order by ltv_cac_12 desc nulls last""",
    "Blended CAC, last 6 months": """
        select period_start, ad_spend, total_cost, new_customers, cac_paid, cac_full
        from marts.blended_cac where period_grain = 'month' order by period_start desc limit 6""",
}


def print_report(warehouse: Path) -> int:
    if not warehouse.exists():
        print(f"{warehouse} does not exist yet: run `python -m pipelines run` first")
        return 1
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        for title, sql in QUERIES.items():
            print(f"\n== {title}")
            try:
                print(con.sql(sql))
            except duckdb.CatalogException as exc:
                print(f"(not available: {exc})")
    finally:
        con.close()
    return 0
