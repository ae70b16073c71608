"""The bench's nightlies: what a warehouse holds (to check that a run with no new data rewrote no row),
one new day of every source as export files, and where a run's time went (stages, start-up, file copy).

The new day is the last day of each source once more, one day later and with fresh keys (orders,
customers, visitors and clicks are new ones; campaigns, categories and currencies are the same), written
as canonical CSV files beside the exports: the ingest of a day's files, then every stage the new day
reaches. E-mails and phones are not copied (the warehouse keeps only their keyed hashes); an order known
only by them gets a visitor id of its own.
"""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import duckdb

from pipelines.core.config import Config
from pipelines.core.periods import fit_date
from pipelines.devtools.bench.stages import run_seconds

NEW_DAY_PREFIX = "bench-new-day"

# per source: the day column the source's "last day" is read from, and the select that shifts that
# day's rows one day later (duckdb; `d` is the source's last day)
_SHIFTED = {
    "ad_spend": (
        "date",
        """select date + 1 as date, platform, account_id, campaign_id, campaign_name, utm_source, utm_medium,
                  utm_campaign, impressions, clicks, spend, currency
           from raw.ad_spend where date = $d""",
    ),
    "costs": (
        "period_end",
        """select period_end + 1 as period_start, period_end + 1 as period_end, category, channel,
                  round(amount / (period_end - period_start + 1), 2) as amount, currency, allocation
           from raw.costs where period_end = $d""",
    ),
    "fx_rates": ("date", "select date + 1 as date, currency, rate from raw.fx_rates where date = $d"),
    "customers": (
        "created_at::date",
        """select customer_id || '-n1' as customer_id, created_at + interval 1 day as created_at
           from raw.customers where created_at::date = $d""",
    ),
    "orders": (
        "created_at::date",
        """select order_id || '-n1' as order_id, customer_id || '-n1' as customer_id,
                  coalesce(visitor_id, case when customer_id is null then 'bench-' || order_id end) || '-n1'
                      as visitor_id,
                  created_at + interval 1 day as created_at, status, revenue, cost_of_goods, refunded_amount,
                  refunded_at + interval 1 day as refunded_at, currency, utm_source, utm_medium, utm_campaign,
                  utm_content, utm_term
           from raw.orders where created_at::date = $d""",
    ),
    "touchpoints": (
        "ts::date",
        """select visitor_id || '-n1' as visitor_id, customer_id || '-n1' as customer_id,
                  ts + interval 1 day as ts, utm_source, utm_medium, utm_campaign, utm_content, utm_term,
                  referrer, click_id || '-n1' as click_id
           from raw.touchpoints where ts::date = $d""",
    ),
}


def write_new_day(warehouse: Path, raw_dir: Path) -> tuple[list[Path], date]:
    """One new day per source as `<raw_dir>/<source>/bench-new-day-<date>.csv`, from the published
    warehouse's raw tables; returns the files written (remove them afterwards) and the orders' new day."""
    written: list[Path] = []
    orders_day = None
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        for source, (day, select) in _SHIFTED.items():
            last = con.execute(f"select max({day}) from raw.{source}").fetchone()[0]
            if last is None:
                continue
            last = last.date() if hasattr(last, "date") and not isinstance(last, date) else last
            new_day = last + timedelta(days=1)
            path = raw_dir / source / f"{NEW_DAY_PREFIX}-{new_day.isoformat()}.csv"
            path.parent.mkdir(parents=True, exist_ok=True)
            query = select.replace("$d", f"date '{last.isoformat()}'")
            con.execute(f"copy ({query}) to '{path}' (header, delimiter ',')")
            written.append(path)
            if source == "orders":
                orders_day = new_day
    finally:
        con.close()
    if orders_day is None:
        raise ValueError(f"{warehouse} holds no orders to add a day to")
    return written, orders_day


def remove_new_day(raw_dir: Path) -> None:
    for path in raw_dir.glob(f"*/{NEW_DAY_PREFIX}-*.csv"):
        path.unlink()


def warehouse_state(warehouse: Path) -> dict:
    """Rows per table and the writes of incremental tables (`meta.model_writes`) of a published file."""
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        tables = con.execute(
            "select schema_name, table_name from duckdb_tables() where not temporary order by 1, 2"
        ).fetchall()
        counts = {f"{s}.{t}": con.execute(f'select count(*) from "{s}"."{t}"').fetchone()[0] for s, t in tables}
    finally:
        con.close()
    return {"rows": counts, "model_writes": counts.get("meta.model_writes")}


# tables a run appends to by design, whatever it finds: one row per build
PER_RUN_TABLES = ("meta.build_info",)


def rows_rewritten(before: dict, after: dict) -> dict:
    """What a run changed between two states: incremental writes added, tables whose row count moved."""
    changed = {
        table: [before["rows"].get(table), count]
        for table, count in after["rows"].items()
        if table not in PER_RUN_TABLES and before["rows"].get(table) != count
    }
    added = (after["model_writes"] or 0) - (before["model_writes"] or 0)
    return {"model_writes_added": added, "tables_changed": changed, "none": added == 0 and not changed}


# the models refitted on a cadence (docs/metrics.md "Models refitted on a cadence"): their step, and the
# setting that names the cadence
CADENCE_STEPS = {
    "marts__customer_ltv_predicted": "ltv_cadence",
    "marts__channel_incrementality": "incrementality_cadence",
}


def cadence_refits(day: date, config: Config) -> list[str]:
    """The steps that refit their model on a run as of `day` after a run as of the day before: those whose
    fit date (the last cadence boundary on or before the as-of date) moves. Such a refit is measured on its
    own (the issue's budget for a model refitted on a cadence), so the bench reports a night with and
    without it."""
    return [
        step
        for step, setting in CADENCE_STEPS.items()
        if fit_date(day, getattr(config, setting)) != fit_date(day - timedelta(days=1), getattr(config, setting))
    ]


def breakdown(run: dict) -> dict:
    """Where one run's wall time went: each stage, the copy of the published file into the build, and
    start-up and bookkeeping (the rest: interpreter, imports, Dagster's instance, events and checks
    outside the steps). Seconds and shares of the run's time: the child process until the CLI returned
    (the bench's own read of the event log afterwards is no part of a nightly), else its wall time."""
    wall = run_seconds(run)
    stages = {"ingest": 0.0, "staging": 0.0, "marts": 0.0, "publish": 0.0}
    for name, stage in run.get("stages", {}).items():
        if name.startswith("ingest:"):
            stages["ingest"] += stage["seconds"]
        elif name in stages:
            stages[name] += stage["seconds"]
    copy = (run.get("probes", {}).get("resource.start_build_copy") or {}).get("seconds", 0.0)
    parts = stages | {"file copy": copy, "start-up and bookkeeping": wall - sum(stages.values()) - copy}
    return {
        "wall_seconds": wall,
        "seconds": {k: round(v, 3) for k, v in parts.items()},
        "share": {k: (round(v / wall, 4) if wall else None) for k, v in parts.items()},
    }
