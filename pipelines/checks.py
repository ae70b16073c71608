"""Blocking checks on a finished build: if any fails, the build is not published.

Each check is a query that returns the offending rows; zero rows is a pass. A check whose table is
not in the build is skipped (e.g. a partial selection in the UI).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import duckdb
import pandera.polars as pa

from pipelines.db import rows, scalar, table_exists
from pipelines.periods import EARLIEST, LATEST
from pipelines.sql_models import last_rewrite_start
from pipelines.table_docs import published_models


@dataclass(frozen=True)
class Check:
    name: str
    description: str
    needs: tuple[str, ...]
    sql: str


@dataclass(frozen=True)
class CheckResult:
    name: str
    passed: bool
    failures: int
    detail: str


CHECKS = (
    Check(
        "file_reconciliation",
        "every file: rows read = loaded + duplicates dropped + rejected + structural lines skipped",
        ("quality.file_loads",),
        """select source_file from quality.file_loads
           where rows_read <> rows_loaded + duplicates_dropped + rows_rejected + rows_skipped""",
    ),
    Check(
        "attribution_credits_sum_to_one",
        "every first purchase hands out credits summing to 1 under every model",
        ("marts.attribution",),
        # the purchases this build (re)credited; older credits passed when the build that wrote them was checked
        """select order_id, attribution_model from marts.attribution
           where first_purchase_ts >= $attribution_rewritten_from
           group by all having abs(sum(credit) - 1) > 1e-9""",
    ),
    Check(
        "one_first_purchase_per_customer",
        "a customer is new exactly once",
        ("marts.orders",),
        """select customer_key from marts.orders where customer_type = 'new'
           group by customer_key having count(*) > 1""",
    ),
    Check(
        "new_customers_match_first_purchases",
        "new customers summed over channels equal the first purchases of the period",
        ("marts.channel_period_cac", "marts.first_purchases"),
        """with cac as (
               select period_grain, period_start, attribution_model, sum(new_customers) as new_customers
               from marts.channel_period_cac where period_grain = 'month' group by all
           ), firsts as (
               select date_trunc('month', first_purchase_ts)::date as period_start, count(*) as n
               from marts.first_purchases group by all
           )
           select cac.* from cac left join firsts using (period_start)
           -- fractional credits are summed exactly to 10 decimals: allow that rounding per purchase
           where abs(cac.new_customers - coalesce(firsts.n, 0)) > 1e-9 * greatest(coalesce(firsts.n, 0), 1)
             -- months this run recomputed; older months are as consistent as the run that built them
             and cac.period_start >= $window_start and cac.period_start < $window_end""",
    ),
)


def run_checks(
    con: duckdb.DuckDBPyConnection, window: tuple[date, date] = (EARLIEST, LATEST), validate_rows_up_to: int = 5_000_000
) -> list[CheckResult]:
    results = []
    known = {"window_start": window[0], "window_end": window[1], "attribution_rewritten_from": last_rewrite_start(con, "marts.attribution")}
    for check in CHECKS:
        if not all(table_exists(con, t) for t in check.needs):
            continue
        params = {name: value for name, value in known.items() if f"${name}" in check.sql}
        bad = rows(con, check.sql, params) if params else rows(con, check.sql)
        results.append(CheckResult(check.name, not bad, len(bad), f"{check.description}; e.g. {bad[:3]}" if bad else check.description))
    # The published tables' Pandera models double as contracts: a mart that breaks one is a bug.
    for table, model in published_models().items():
        if not table_exists(con, table):
            continue
        if scalar(con, f"select count(*) from {table}") > validate_rows_up_to:
            continue  # the big fact tables are covered by the SQL checks above
        frame = con.sql(f"select * from {table}").pl()
        try:
            model.validate(frame, lazy=True)
            results.append(CheckResult(f"schema:{table}", True, 0, f"{table} matches {model.__name__}"))
        except pa.errors.SchemaErrors as exc:
            cases = exc.failure_cases
            results.append(CheckResult(f"schema:{table}", False, cases.height, f"{table}: {cases.head(5)}"))
    return results
