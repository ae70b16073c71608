"""`python -m pipelines report [--html PATH] [--model NAME]`: the first things an analyst looks at, read-only.

In the terminal: the build and its data coverage, the headline table (per channel, under the build's
default attribution model or --model, over the last `ltv.summary_months` complete acquisition months:
customers, paid and fully loaded CAC, the observed LTV:CAC of the cohorts that have lived 12 months with
the customers behind it and its band, the predicted LTV:CAC of the window's cohorts, payback), in 100
columns, and the rejected rows. With `--html PATH`: the decision page (pipelines/reporting/html.py).
Settings come from the build itself (meta.build_info.settings), so the page describes what was built.
"""

from __future__ import annotations

from pathlib import Path

import duckdb

from pipelines.core.config import load_config
from pipelines.core.db import rows, table_exists
from pipelines.reporting.headline import REJECT_LINES, build_row, build_settings, headline, headline_text, rejects
from pipelines.reporting.html import write_html
from pipelines.reporting.incrementality import terminal_text as incrementality_text


def print_report(warehouse: Path, html: Path | None = None, model: str | None = None) -> int:
    if not warehouse.exists():
        print(f"{warehouse} does not exist yet: run `python -m pipelines run` first")
        return 1
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        settings = build_settings(con, load_config())
        model = model or settings["default_model"]
        build = build_row(con)
        if build:
            print(
                f"build      {build['built_at']:%Y-%m-%d %H:%M} UTC, code {build['code_version']}, as of {build['as_of_date']}"
            )
        if table_exists(con, "quality.source_coverage"):
            found = rows(con, "select source, covers_through, holds_as_of from quality.source_coverage order by source")
            print(
                "coverage   "
                + ", ".join(f"{s} {d}" + (" (sets the as-of date)" if held else "") for s, d, held in found)
            )
        if not table_exists(con, "marts.channel_summary"):
            print("marts.channel_summary is not in this warehouse")
            return 1
        records = headline(con, model)
        window = (
            f"{records[0]['window_start']:%Y-%m}..{records[0]['window_end']:%Y-%m}" if records else "no complete month"
        )
        print(
            f"\nChannels: acquisition months {window}, attribution {model}, amounts in {settings['reporting_currency']}"
        )
        print(
            "LTV:CAC = a customer's margin in the first 12 months / fully loaded CAC of the same cohorts.\n"
            f"Observed: the {settings['summary_months']} acquisition months before the window, all lived 12 months "
            "(n: customers behind).\n"
            f"Predicted: the window's cohorts. 'too few' = under {settings['min_customers_for_band']} customers "
            "behind a ratio, so no band.\n90 % intervals, back-test errors and the other sections: `report --html`.\n"
        )
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
        # what the spend caused beside what attribution credits (pipelines/reporting/incrementality.py)
        print("\n" + incrementality_text(con))
        if html is not None:
            write_html(con, html, settings, model)
            print(f"\nwrote {html}")
    finally:
        con.close()
    return 0
