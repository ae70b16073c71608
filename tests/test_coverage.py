"""The as-of date is the last day every dated source covers (docs/metrics.md "As-of date"): one export
running ahead of the others moves neither the as-of date nor any figure of a complete period, and the
run says which source holds the date back. Real Dagster runs on a copy of the sample."""

from __future__ import annotations

import csv
import shutil
from datetime import date, timedelta
from pathlib import Path

import duckdb
import polars as pl
from pipeline_runs import materialize_everything

from pipelines.core.config import Config
from pipelines.core.paths import PROJECT_ROOT
from pipelines.transform.coverage import as_of_date, lagging_platforms, source_coverage

SAMPLE = PROJECT_ROOT / "data" / "sample"
META = "ad_spend/meta_ads_2025-11_2026-10_ru.csv"  # Ads Manager, Russian interface, one row per campaign and day
# figures that belong to complete periods: every row of these tables, or the rows of periods that ended
COMPLETE = {
    "marts.channel_summary": None,
    "marts.channel_ltv": None,
    "marts.cohort_ltv": None,
    "marts.cohort_members": None,
    "marts.attribution": None,
    "marts.channel_weights": None,
    "marts.customer_ltv_predicted": None,
    "marts.channel_period_cac": "period_end <= date '2026-10-31'",
    "marts.blended_cac": "period_end <= date '2026-10-31'",
}


def _november_meta(raw: Path) -> int:
    """November's export of the same account, as Ads Manager writes it: October's campaign-days a month
    later (orders in the sample still end on 2026-10-31)."""
    with (raw / META).open(encoding="utf-8-sig", newline="") as source:
        header, *lines = list(csv.reader(source))
    november = []
    for line in lines:
        day = date.fromisoformat(line[0])
        if line[2] and day.month == 10 and day.year == 2026 and day.day <= 30:
            shifted = (day + timedelta(days=31)).isoformat()
            november.append([shifted, shifted, *line[2:]])
    with (raw / "ad_spend" / "meta_ads_2026-11_ru.csv").open("w", encoding="utf-8-sig", newline="") as out:
        csv.writer(out).writerows([header, *november])
    return len(november)


def _table(path: Path, table: str, where: str | None) -> pl.DataFrame:
    con = duckdb.connect(str(path), read_only=True)
    try:
        return con.sql(f"select * from {table} {'where ' + where if where else ''} order by all").pl()
    finally:
        con.close()


def test_a_source_running_a_month_ahead_moves_neither_the_as_of_date_nor_a_complete_figure(tmp_path):
    raw = tmp_path / "exports"
    shutil.copytree(SAMPLE, raw)
    before = tmp_path / "before.duckdb"
    assert materialize_everything(raw, before).success
    assert _november_meta(raw) > 50  # three campaigns a day
    after = tmp_path / "after.duckdb"
    result = materialize_everything(raw, after)
    assert result.success
    for path in (before, after):
        assert _table(path, "meta.build_info", None)["as_of_date"].to_list() == [date(2026, 10, 31)]
    for table, where in COMPLETE.items():
        assert _table(after, table, where).equals(_table(before, table, where)), table
    # November's spend is loaded, and waits: its month is no complete period yet
    spend = _table(after, "marts.channel_period_cac", "period_grain = 'month' and period_start = '2026-11-01'")
    assert spend.filter(pl.col("channel") == "meta_ads")["ad_spend"].sum() > 0
    coverage = {r["source"]: r for r in _table(after, "quality.source_coverage", None).iter_rows(named=True)}
    assert coverage["ad_spend"]["covers_through"] == date(2026, 11, 30) and coverage["ad_spend"]["days_behind"] == 0
    assert coverage["orders"]["days_behind"] == 30 and coverage["orders"]["holds_as_of"]
    checks = {e.check_name: e.passed for e in result.get_asset_check_evaluations()}
    assert checks["orders_coverage"] is False and checks["ad_spend_coverage"] is True  # warnings, not blocking


def test_coverage_rules_on_a_tiny_warehouse():
    """Touchpoints are optional (absent: they hold nothing back); `complete_through = "yesterday"` lets a
    source with quiet days cover through the run's previous day; a platform that spent recently but whose
    rows stop early is named."""
    con = duckdb.connect()
    con.execute("create schema raw")
    con.execute("create table raw.orders as select timestamp '2024-03-31 10:00' as created_at")
    con.execute(
        """create table raw.ad_spend as select * from (values
            (date '2024-03-31', 'google', 10.0), (date '2024-03-20', 'vk', 5.0)) t(date, platform, spend)"""
    )
    assert as_of_date(con, Config()) == date(2024, 3, 31)
    con.execute("create table raw.touchpoints as select timestamp '2024-03-25 09:00' as ts")
    assert as_of_date(con, Config()) == date(2024, 3, 25)  # the touchpoints export stops on the 25th
    today = date.today()
    quiet = Config(complete_through={"touchpoints": "yesterday"})
    [touches] = [c for c in source_coverage(con, quiet, today) if c.source == "touchpoints"]
    assert touches.covers_through == today - timedelta(days=1) and touches.latest_row == date(2024, 3, 25)
    assert as_of_date(con, quiet) == date(2024, 3, 31)
    assert lagging_platforms(con, date(2024, 3, 31), max_lag=3) == [("vk", date(2024, 3, 20), 11)]
    assert lagging_platforms(con, date(2024, 3, 31), max_lag=14) == []
