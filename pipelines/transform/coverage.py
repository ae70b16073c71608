"""How far each dated source covers, and the as-of date they allow together (docs/metrics.md, "As-of date").

The as-of date is the last day every dated source covers: orders, ad spend and, where loaded,
touchpoints (costs and FX rates never hold it back). A source covers through its latest row, or
through the run's previous day where its settings say it is complete that far
(`[sources.X] complete_through = "yesterday"`). One source running ahead (November's spend exported,
orders still ending in October) therefore never moves the as-of date: its extra rows are loaded and
enter no complete period.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

import duckdb

from pipelines.core.config import DATED_SOURCES, Config, run_date
from pipelines.core.db import rows, table_exists

# each dated source's latest day, from its raw table
LATEST_ROW = {
    "orders": "select max(created_at)::date, count(*) from raw.orders",
    "ad_spend": "select max(date), count(*) from raw.ad_spend",
    "touchpoints": "select max(ts)::date, count(*) from raw.touchpoints",
}
PLATFORM_WINDOW_DAYS = 28  # a platform that spent within this many days before the as-of date is expected to keep up


@dataclass(frozen=True)
class Coverage:
    source: str
    latest_row: date | None
    covers_through: date | None
    complete_through: str | None  # the setting, where one is given

    def lag_behind(self, other: date | None) -> int | None:
        if self.covers_through is None or other is None:
            return None
        return max((other - self.covers_through).days, 0)


def source_coverage(con: duckdb.DuckDBPyConnection, config: Config, today: date | None = None) -> list[Coverage]:
    """One Coverage per dated source that has rows (touchpoints are optional: absent, they hold nothing back)."""
    today = today or run_date()
    found = []
    for source in DATED_SOURCES:
        if not table_exists(con, f"raw.{source}"):
            continue
        latest, count = rows(con, LATEST_ROW[source])[0]
        if not count:
            continue
        setting = config.complete_through.get(source)
        through = latest
        if setting == "yesterday":
            through = max(latest, today - timedelta(days=1)) if latest else today - timedelta(days=1)
        found.append(Coverage(source, latest, through, setting))
    return found


def as_of_date(con: duckdb.DuckDBPyConnection, config: Config) -> date:
    """The configured as-of date, else the last day every dated source covers; never after the run's
    date: a period that has not ended yet is never reported as lived through."""
    today = run_date()
    if config.as_of_date:
        return min(config.as_of_date, today)
    covered = [c.covers_through for c in source_coverage(con, config, today) if c.covers_through]
    return min(min(covered), today) if covered else today


def holding_back(coverage: list[Coverage]) -> Coverage | None:
    """The source whose coverage sets the as-of date (the earliest; the first named on a tie)."""
    dated = [c for c in coverage if c.covers_through]
    return min(dated, key=lambda c: c.covers_through) if dated else None


def lagging_platforms(con: duckdb.DuckDBPyConnection, as_of: date, max_lag: int) -> list[tuple[str, date, int]]:
    """Ad platforms that spent within PLATFORM_WINDOW_DAYS before the as-of date but whose rows stop more
    than `max_lag` days before it: their latest spend is missing, so CAC there is understated."""
    if not table_exists(con, "raw.ad_spend"):
        return []
    found = rows(
        con,
        f"""select platform, max(date) as latest
            from raw.ad_spend
            where date <= $as_of
            group by platform
            having max(date) > $as_of - interval {PLATFORM_WINDOW_DAYS} day
               and bool_or(spend > 0 and date > $as_of - interval {PLATFORM_WINDOW_DAYS} day)
            order by platform""",
        {"as_of": as_of},
    )
    return [(platform, latest, (as_of - latest).days) for platform, latest in found if (as_of - latest).days > max_lag]


def coverage_warnings(con: duckdb.DuckDBPyConnection, config: Config, as_of: date) -> list[str]:
    """What the run warns about: a source more than quality.max_source_lag_days behind another, and a
    platform that stopped reporting while it was spending."""
    coverage = source_coverage(con, config)
    ahead = max((c for c in coverage if c.covers_through), key=lambda c: c.covers_through, default=None)
    warnings = []
    for c in coverage:
        lag = c.lag_behind(ahead.covers_through if ahead else None)
        if ahead and lag is not None and lag > config.max_source_lag_days:
            warnings.append(
                f"{c.source} covers through {c.covers_through}, {lag} days behind {ahead.source} "
                f"({ahead.covers_through}): the as-of date is {as_of}; rows after it are loaded but enter no "
                "complete period (quality.max_source_lag_days)"
            )
    for platform, latest, lag in lagging_platforms(con, as_of, config.max_source_lag_days):
        warnings.append(
            f"ad platform {platform} spent in the {PLATFORM_WINDOW_DAYS} days before {as_of} but its rows stop at "
            f"{latest} ({lag} days earlier): its latest report is missing, so its recent CAC is understated"
        )
    return warnings


def write_coverage(con: duckdb.DuckDBPyConnection, config: Config, as_of: date) -> list[Coverage]:
    """quality.source_coverage: each dated source's coverage and the one that sets the as-of date."""
    coverage = source_coverage(con, config)
    furthest = max((c.covers_through for c in coverage if c.covers_through), default=None)
    holder = holding_back(coverage) if not config.as_of_date else None
    con.execute("create schema if not exists quality")
    con.execute(
        """create or replace table quality.source_coverage (
            source varchar, latest_row_date date, complete_through varchar, covers_through date,
            days_behind bigint, holds_as_of boolean, as_of_date date)"""
    )
    if coverage:
        con.executemany(
            "insert into quality.source_coverage values (?, ?, ?, ?, ?, ?, ?)",
            [
                [
                    c.source,
                    c.latest_row,
                    c.complete_through,
                    c.covers_through,
                    c.lag_behind(furthest) or 0,
                    holder is not None and c.source == holder.source,
                    as_of,
                ]
                for c in coverage
            ],
        )
    return coverage
