"""Blocking checks on a build: if any fails, the build is not published.

Each check guards one asset (the table whose rows it reads) and runs in that asset's step as a Dagster
asset check with `blocking=True`: a failure fails the step, so nothing downstream runs and the publish
never happens. `run_checks` evaluates all of them at once (tests, and anyone inspecting a build).

A SQL check is a query that returns the offending rows; zero rows is a pass. A schema check validates a
table against its Pandera model (schemas/): a mart that breaks one is a bug. A check whose table is not
in the build is skipped (e.g. a partial selection in the UI).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

import dagster as dg
import duckdb
import pandera.polars as pa
import polars as pl

from pipelines.core.config import ATTRIBUTION_MODELS
from pipelines.core.db import rows, scalar, table_exists
from pipelines.core.periods import EARLIEST, LATEST
from pipelines.core.table_comments import published_models
from pipelines.ingest.raw_tables import SOURCES
from pipelines.transform.models import WRITTEN_BY
from pipelines.transform.state import last_rewrite_start

RAW_TABLES = tuple(f"raw.{source}" for source in SOURCES)
BUILD_INFO = "meta.build_info"  # the bookkeeping asset before publish (pipelines/orchestration/publish_assets.py)
VALIDATE_ROWS_UP_TO = 5_000_000  # bigger tables are covered by the SQL checks


@dataclass(frozen=True)
class Check:
    name: str
    description: str
    guards: tuple[str, ...]  # the asset(s) whose step runs it
    needs: tuple[str, ...]
    sql: str


@dataclass(frozen=True)
class SchemaCheck:
    name: str
    guards: str
    tables: tuple[str, ...]  # validated against their Pandera models
    source_filtered: bool = False  # only the rows of the guarding raw asset's source

    @property
    def description(self) -> str:
        return "rows match the Pandera model" + (
            "s of " + ", ".join(self.tables) if len(self.tables) > 1 or self.source_filtered else ""
        )


@dataclass(frozen=True)
class CheckResult:
    name: str
    passed: bool
    failures: int
    detail: str
    asset: str = ""  # the table whose asset carries the check


CHECKS = (
    Check(
        "file_reconciliation",
        "every file: rows read = loaded + duplicates dropped + rejected + structural lines skipped",
        RAW_TABLES,
        ("quality.file_loads",),
        """select source_file from quality.file_loads
           where ($source is null or source = $source)
             and rows_read <> rows_loaded + duplicates_dropped + rows_rejected + rows_skipped""",
    ),
    Check(
        "credits_sum_to_one",
        "every first purchase hands out credits summing to 1 under every model",
        ("marts.attribution",),
        ("marts.attribution", "marts.attribution_credits"),
        # the purchases this build (re)credited (marts.attribution is the long view of marts.attribution_credits,
        # whose writes are logged); older credits passed when the build that wrote them was checked. Summed
        # over the stored table's credit columns, as the view's rows (credit > 0) sum them, and unpivoted
        # after: eight times fewer rows than the view (a purchase without credit under a model fails too)
        f"""with sums as (
               select order_id, {", ".join(f"coalesce(sum(credit_{m}) filter (where credit_{m} > 0), 0) as {m}" for m in ATTRIBUTION_MODELS)}
               from marts.attribution_credits
               where first_purchase_ts >= $attribution_rewritten_from
               group by order_id
           )
           select order_id, attribution_model from sums
           unpivot (total for attribution_model in ({", ".join(ATTRIBUTION_MODELS)}))
           where abs(total - 1) > 1e-9""",
    ),
    Check(
        "one_first_purchase_per_customer",
        "a customer is new exactly once",
        ("marts.orders",),
        ("marts.orders",),
        """select customer_key from marts.orders where customer_type = 'new'
           group by customer_key having count(*) > 1""",
    ),
    Check(
        "new_customers_match_first_purchases",
        "new customers summed over channels equal the first purchases of the period",
        ("marts.channel_period_cac",),
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
    Check(
        "incrementality_numbers_hold",
        "only fitted channels carry model numbers, a fitted one always its contribution, and no 90 % interval is inverted",
        ("marts.channel_incrementality",),
        ("marts.channel_incrementality",),
        # (a bootstrap percentile interval need not contain the estimate: a channel estimated at 0 can have
        # a 5 % quantile above it, so only the order of the bounds is checked)
        """select channel, status from marts.channel_incrementality
           where (status <> 'fitted' and coalesce(incremental_new_customers, incremental_cac, marginal_cac,
                                                 incremental_to_attributed_cac) is not null)
              or (status = 'fitted' and (incremental_new_customers is null
                  or incremental_new_customers_lower > incremental_new_customers_upper + 1e-9
                  or incremental_cac_lower > incremental_cac_upper + 1e-9
                  or marginal_cac_lower > marginal_cac_upper + 1e-9
                  or incremental_to_attributed_cac_lower > incremental_to_attributed_cac_upper + 1e-9))""",
    ),
)
# Backwards-compatible name of the credits check (the check key in Dagster is marts/attribution:credits_sum_to_one).
ALIASES = {"credits_sum_to_one": "attribution_credits_sum_to_one"}


# a mart a Python model writes beside the table it is named after is checked in that model's asset's step


def _schema_checks() -> tuple[SchemaCheck, ...]:
    marts: dict[str, tuple[str, ...]] = {}
    for table in published_models():
        if table.split(".")[0] == "marts":
            guard = WRITTEN_BY.get(table, table)
            marts[guard] = (*marts.get(guard, ()), table)
    checks = [SchemaCheck("matches_model", guard, tables) for guard, tables in marts.items()]
    models = published_models()
    quality = [t for t in models if t.startswith("quality.")]
    # quarantine and file bookkeeping carry their source file: each raw asset checks its own rows of them;
    # the quality tables of later stages (identity conflicts, LTV fits) are checked with the meta tables
    per_source = tuple(t for t in quality if "source_file" in models[t].to_schema().columns)
    checks += [SchemaCheck("quality_rows_match_models", raw, per_source, source_filtered=True) for raw in RAW_TABLES]
    meta = tuple(t for t in models if t.startswith("meta.")) + tuple(t for t in quality if t not in per_source)
    checks.append(SchemaCheck("bookkeeping_matches_models", BUILD_INFO, meta))
    return tuple(checks)


SCHEMA_CHECKS = _schema_checks()


def _guarding(table: str) -> list[Check | SchemaCheck]:
    """The blocking checks of the asset that builds `table`, SQL checks first."""
    return [c for c in CHECKS if table in c.guards] + [c for c in SCHEMA_CHECKS if c.guards == table]


def check_specs(table: str, key: dg.AssetKey) -> list[dg.AssetCheckSpec]:
    """The blocking asset checks of the asset that builds `table`."""
    return [dg.AssetCheckSpec(c.name, asset=key, description=c.description, blocking=True) for c in _guarding(table)]


def evaluate(
    con: duckdb.DuckDBPyConnection, table: str, window: tuple[date, date] = (EARLIEST, LATEST)
) -> list[CheckResult]:
    """The checks that guard `table`, on the build in `con`."""
    results = []
    source = table.split(".", 1)[1] if table in RAW_TABLES else None
    known: dict[str, Any] = {"window_start": window[0], "window_end": window[1], "source": source}
    for check in CHECKS:
        if table not in check.guards:
            continue
        if not all(table_exists(con, t) for t in check.needs):
            results.append(
                CheckResult(check.name, True, 0, f"skipped: {', '.join(check.needs)} not in the build", table)
            )
            continue
        if "$attribution_rewritten_from" in check.sql:
            known["attribution_rewritten_from"] = last_rewrite_start(con, "marts.attribution_credits")
        params = {name: value for name, value in known.items() if f"${name}" in check.sql}
        bad = rows(con, check.sql, params) if params else rows(con, check.sql)
        detail = f"{check.description}; {len(bad)} failing, e.g. {bad[:3]}" if bad else check.description
        results.append(CheckResult(check.name, not bad, len(bad), detail, table))
    models = published_models()
    for check in SCHEMA_CHECKS:
        if check.guards != table:
            continue
        failures, details = 0, []
        for name in check.tables:
            if not table_exists(con, name):
                continue
            where = " where source = $source" if check.source_filtered else ""
            params = {"source": source} if check.source_filtered else {}
            if scalar(con, f"select count(*) from {name}{where}", params or None) > VALIDATE_ROWS_UP_TO:
                continue
            frame = con.sql(f"select * from {name}{where}", params=params or None).pl()
            try:
                models[name].validate(frame, lazy=True)
            except pa.errors.SchemaErrors as exc:
                failures += exc.failure_cases.height
                details.append(f"{name}: {_failure_line(exc.failure_cases)}")
        passed = failures == 0
        detail = "; ".join(details) if details else f"{', '.join(check.tables)} match their Pandera models"
        results.append(CheckResult(check.name, passed, failures, detail, table))
    return results


def unchanged_results(table: str) -> list[CheckResult]:
    """The checks of a table kept unchanged (a model whose inputs hash as when it was written, a raw
    source none of whose files was read): passed, as in the build that wrote the rows, which was
    published only because they passed (and a model failing one is always recomputed: sql_assets.py)."""
    return [
        CheckResult(c.name, True, 0, "unchanged since the build that wrote and checked it", table)
        for c in _guarding(table)
    ]


def run_checks(con: duckdb.DuckDBPyConnection, window: tuple[date, date] = (EARLIEST, LATEST)) -> list[CheckResult]:
    """Every blocking check of every asset, on one build."""
    tables = dict.fromkeys([*RAW_TABLES, *(t for c in CHECKS for t in c.guards), *(c.guards for c in SCHEMA_CHECKS)])
    results = []
    for table in tables:
        for result in evaluate(con, table, window):
            results.append(CheckResult(ALIASES.get(result.name, result.name), *_rest(result)))
    return results


def _rest(result: CheckResult) -> tuple:
    return result.passed, result.failures, result.detail, result.asset


def check_results(results: list[CheckResult], key: dg.AssetKey) -> list[dg.AssetCheckResult]:
    return [
        dg.AssetCheckResult(
            asset_key=key,
            check_name=r.name,
            passed=r.passed,
            severity=dg.AssetCheckSeverity.ERROR,
            description=r.detail[:2000],
            metadata={"failing_rows": r.failures},
        )
        for r in results
    ]


def _failure_line(cases) -> str:
    """Pandera's failure cases as one line a person reads: per column and check, how many rows fail and
    the first offending rows and values (not a table that a terminal truncates)."""
    groups = (
        cases.group_by("column", "check", maintain_order=True)
        .agg(
            pl.len().alias("n"),
            pl.col("index").head(3).alias("rows"),
            pl.col("failure_case").cast(pl.String).head(3).alias("values"),
        )
        .iter_rows(named=True)
    )
    parts = []
    for g in groups:
        where = f" at row(s) {', '.join(str(r) for r in g['rows'] if r is not None)}" if any(g["rows"]) else ""
        parts.append(
            f"{g['column'] or 'table'} fails {g['check']} in {g['n']} row(s){where}: {', '.join(map(str, g['values']))}"
        )
    return "; ".join(parts)
