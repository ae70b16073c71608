"""`python -m pipelines report [--html PATH]`: the first things an analyst looks at, read-only.

In the terminal: the build, the headline table (per channel under the default attribution model, over
the last `ltv.summary_months` complete acquisition months: customers, paid and fully loaded CAC, margin
LTV at 12 months, LTV:CAC and its band, observed and simple payback), rounded to fit in 100 columns, and
the rejected rows. With `--html PATH`: the same and the charts in one self-contained file
(pipelines/reporting/html.py).
"""

from __future__ import annotations

from pathlib import Path

import duckdb

from pipelines.core.config import load_config
from pipelines.core.db import table_exists
from pipelines.reporting.headline import REJECT_LINES, build_row, headline, headline_text, rejects
from pipelines.reporting.html import write_html
from pipelines.reporting.incrementality import terminal_text as incrementality_text


def print_report(warehouse: Path, html: Path | None = None) -> int:
    if not warehouse.exists():
        print(f"{warehouse} does not exist yet: run `python -m pipelines run` first")
        return 1
    config = load_config()
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        build = build_row(con)
        if build:
            print(
                f"build      {build['built_at']:%Y-%m-%d %H:%M} UTC, code {build['code_version']}, as of {build['as_of_date']}"
            )
        if not table_exists(con, "marts.channel_summary"):
            print("marts.channel_summary is not in this warehouse")
            return 1
        records = headline(con, config.default_model)
        window = (
            f"{records[0]['window_start']:%Y-%m}..{records[0]['window_end']:%Y-%m}" if records else "no complete month"
        )
        print(
            f"\nChannels: acquisition months {window}, attribution {config.default_model}, amounts in {config.reporting_currency}"
        )
        print("(CAC and LTV per new customer; LTV 12m = margin in the first 12 months; payback in months)\n")
        print(headline_text(records))
        found = rejects(con)
        total = sum(n for _, _, n in found)
        print(
            f"\nRejected rows: {total}" + (" (quality.rejected_rows has file, line, column and value)" if total else "")
        )
        for source, reason, n in found[:REJECT_LINES]:
            print(f"  {source:<12} {n:>6}  {reason[:76]}")
        if len(found) > REJECT_LINES:
            rest = sum(n for *_, n in found[REJECT_LINES:])
            print(
                f"  + {len(found) - REJECT_LINES} more reasons ({rest} rows): `report --html` or quality.rejected_rows"
            )
        # issue 30: the "Incremental vs attributed" section (pipelines/reporting/incrementality.py)
        print("\n" + incrementality_text(con))
        if html is not None:
            write_html(con, html, config)
            print(f"\nwrote {html}")
    finally:
        con.close()
    return 0
