"""Everything the SQL models need besides raw.*: bound parameters and the config.* tables."""

from __future__ import annotations

from datetime import date
from typing import Any

import duckdb

from pipelines.config import Config
from pipelines.db import scalar
from pipelines.periods import EARLIEST, LATEST, covering_periods
from pipelines.fx import check_fx
from pipelines.sql_models import discover_models, run_model
from pipelines.table_docs import document_tables

__all__ = ["EARLIEST", "LATEST", "as_of_date", "model_params", "run_transforms", "widen_window", "write_config_tables"]


def as_of_date(con: duckdb.DuckDBPyConnection, config: Config) -> date:
    """The configured as-of date, else the latest date present in orders and ad spend (METRICS.md)."""
    if config.as_of_date:
        return config.as_of_date
    latest = scalar(
        con, "select greatest((select max(created_at)::date from raw.orders), (select max(date) from raw.ad_spend))"
    )
    return latest or date.today()


def widen_window(start: date, end: date, config: Config) -> tuple[date, date]:
    """Half-open [start, end) widened to whole periods of every configured grain, so e.g. a yearly row,
    or a week straddling the first month, is recomputed whole when any of its days is."""
    if start <= EARLIEST and end >= LATEST:
        return start, end
    windows = [covering_periods(start, end, grain) for grain in config.grains]
    return min(w[0] for w in windows), max(w[1] for w in windows)


def model_params(config: Config, window: tuple[date, date], as_of: date) -> dict[str, Any]:
    start, end = widen_window(*window, config)
    return {
        "window_start": start,
        "window_end": end,
        "range_start": window[0],  # the run's own months, before widening (per-grain windows start here)
        "range_end": window[1],
        "as_of_date": as_of,
        "reporting_currency": config.reporting_currency,
        "default_margin_rate": config.default_margin_rate,
        "lookback_days": config.lookback_days,
        "half_life_days": config.half_life_days,
        "grains": list(config.grains),
        "ltv_horizons": list(config.ltv_horizons),
        "summary_months": config.summary_months,
        "default_model": config.default_model,
    }


def write_config_tables(con: duckdb.DuckDBPyConnection, config: Config) -> None:
    """config.channel_rules and config.source_aliases, rewritten each run from the config file."""
    con.execute("create schema if not exists config")
    con.execute(
        """create or replace table config.channel_rules (
            priority integer, channel varchar, source_regex varchar, medium_regex varchar,
            campaign_regex varchar, referrer_regex varchar, click_id_regex varchar, platform_regex varchar)"""
    )
    if config.channel_rules:
        con.executemany(
            "insert into config.channel_rules values (?, ?, ?, ?, ?, ?, ?, ?)",
            [
                (r.priority, r.channel, r.source, r.medium, r.campaign, r.referrer, r.click_id, r.platform)
                for r in config.channel_rules
            ],
        )
    con.execute("create or replace table config.source_aliases (alias varchar, source varchar)")
    if config.source_aliases:
        con.executemany("insert into config.source_aliases values (?, ?)", list(config.source_aliases.items()))


def run_transforms(con: duckdb.DuckDBPyConnection, config: Config, window: tuple[date, date]) -> dict[str, int]:
    """All staging and mart models for a window, in dependency order (used by tests and the CLI).

    Staging runs first; a missing exchange rate then stops the run (pipelines.fx) before any mart is built."""
    write_config_tables(con, config)
    params = model_params(config, window, as_of_date(con, config))
    models = discover_models()
    written = {m.table: run_model(con, m, params) for m in models if m.schema == "staging"}
    check_fx(con)
    written |= {m.table: run_model(con, m, params) for m in models if m.schema != "staging"}
    document_tables(con, [m.table for m in models])  # comments from schemas/tables.py models
    return written
