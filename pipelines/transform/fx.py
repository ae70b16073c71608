"""Stops a run when an amount needs an exchange rate that is not there (docs/metrics.md: never a silent NULL or 1.0).

staging.missing_fx_rates lists (currency, date, source) for every amount in another currency than the
reporting one with no rate on or before its date; `check_fx` raises when it holds any row.
"""

from __future__ import annotations

from datetime import date

import duckdb

from pipelines.core.db import rows, scalar

SHOWN = 20  # pairs named in the message; the count says how many more


class MissingRateError(RuntimeError):
    """Amounts in a currency with no exchange rate on or before their date."""

    def __init__(self, missing: list[tuple[str | None, date, str]], total: int):
        self.missing = missing
        self.total = total
        listed = "; ".join(
            f"{currency or '(no currency)'} on {day.isoformat()} ({source})" for currency, day, source in missing
        )
        more = f"; and {total - len(missing)} more" if total > len(missing) else ""
        super().__init__(
            f"no exchange rate on or before the date for {total} currency/date pair(s): {listed}{more}. "
            "Add the rates to the fx_rates export (reporting-currency units per one unit)."
        )


def check_fx(con: duckdb.DuckDBPyConnection) -> None:
    """Raise MissingRateError naming currency and date of every amount without a rate."""
    exists = scalar(
        con,
        "select count(*) from information_schema.tables where table_schema = 'staging' and table_name = 'missing_fx_rates'",
    )
    if not exists:
        return
    total = int(scalar(con, "select count(*) from staging.missing_fx_rates"))
    if total:
        missing = rows(
            con,
            f"select currency, date, source from staging.missing_fx_rates order by date, currency, source limit {SHOWN}",
        )
        raise MissingRateError([tuple(r) for r in missing], total)
