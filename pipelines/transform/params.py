"""Everything the SQL models need besides raw.*: bound parameters and the config.* tables."""

from __future__ import annotations

import hashlib
from datetime import date
from typing import Any

import duckdb

from pipelines.core.config import Config
from pipelines.core.db import scalar, table_exists
from pipelines.core.periods import EARLIEST, LATEST, covering_periods
from pipelines.core.table_comments import document_tables
from pipelines.transform.coverage import as_of_date
from pipelines.transform.fx import check_fx
from pipelines.transform.runner import discover_models, run_model
from pipelines.transform.state import late_touches_start, rewritten_since

CREDITS = "marts.attribution_credits"  # the stored credits: one row per touch, a column per model

__all__ = ["EARLIEST", "LATEST", "as_of_date", "model_params", "run_transforms", "widen_window", "write_config_tables"]


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
        "summary_months": config.summary_months,
        "min_customers_for_band": config.min_customers_for_band,
        "ltv_min_customers_per_fit": config.ltv_min_customers_per_fit,
        # predicted LTV keys its stored fit on its fit date itself (pipelines/transform/models/ltv_predict.py)
        "ltv_cadence": config.ltv_cadence,
        "default_model": config.default_model,
        "data_driven_months": config.data_driven_months,
        "markov_order": config.markov_order,
        "identity_max_links": config.identity_max_links,
        # the marketing-mix model keys its stored fit on these itself (pipelines/transform/models/incrementality.py)
        "incrementality_weeks": config.incrementality_weeks,
        "incrementality_cadence": config.incrementality_cadence,
        "settings_fingerprint": settings_fingerprint(config),
        # Where incremental models recompute from (callables, evaluated just before the model runs):
        # the run's first month, or earlier when older inputs changed (see the functions below).
        "touch_tags_start": lambda con, table: late_touches_start(con, table, window[0]),
        "attribution_start": lambda con, table: attribution_start(con, window[0]),
        # the data-driven weights changed: the fit window's first purchases are re-credited from there
        # (pipelines/transform/models/data_driven.py logs it); before attribution_start, from their stored rows
        "attribution_restate_start": lambda con, table: rewritten_since(con, "marts.channel_weights", table, window[0]),
        # models built from first purchases and their credits follow every month attribution rewrote
        # (marts.attribution is a view of the credits table marts.attribution_credits)
        "attribution_rewrites_start": lambda con, table: rewritten_since(con, CREDITS, table, window[0]),
    }


def settings_fingerprint(config: Config) -> str:
    """Everything in the config file that shapes model rows, so incremental models know when stored
    periods were computed under other settings (the runner: they are then rebuilt whole)."""
    settings = {
        name: getattr(config, name)
        for name in (
            "reporting_currency",
            "default_margin_rate",
            "lookback_days",
            "half_life_days",
            "grains",
            "summary_months",
            "min_customers_for_band",
            "default_model",
            "channel_rules",
            "source_aliases",
            "identity_max_links",
            "data_driven_months",
            "markov_order",
            "local_timezone",  # the day, week and month a timestamp with an offset falls in
        )
    }
    return hashlib.sha256(repr(sorted(settings.items())).encode()).hexdigest()


def attribution_start(con: duckdb.DuckDBPyConnection, range_start: date) -> date:
    """Where marts.attribution must be recomputed from its touches: the run's first month, or earlier when a first
    purchase before it changed since the stored credits were computed (a guest linked to a CRM record,
    two identities merged, a first purchase refunded...). Compares the current first purchases
    (marts.orders, rebuilt just before) with the ones the stored credits were computed for (marts.first_purchases,
    rebuilt just after): both are one row per customer, so this costs an orders-sized join, not a touches-sized one."""
    if range_start <= EARLIEST or not all(table_exists(con, t) for t in (CREDITS, "marts.first_purchases")):
        return EARLIEST
    changed = scalar(
        con,
        """
        with current_first as (
            select order_id, customer_key, order_ts as first_purchase_ts, channel
            from marts.orders where customer_type = 'new'
        ),
        stored_first as (
            select order_id, customer_key, first_purchase_ts, order_channel as channel from marts.first_purchases
        )
        select min(coalesce(current_first.first_purchase_ts, stored_first.first_purchase_ts))::date
        from current_first
        full join stored_first
            on stored_first.order_id = current_first.order_id
            and stored_first.customer_key = current_first.customer_key
            and stored_first.first_purchase_ts = current_first.first_purchase_ts
            and stored_first.channel is not distinct from current_first.channel
        where current_first.order_id is null or stored_first.order_id is null
        """,
    )
    starts = [
        range_start,
        late_touches_start(con, CREDITS, range_start),
        identity_changes_start(con),
    ]
    if changed:
        starts.append(changed.replace(day=1))
    return min(starts)


def identity_changes_start(con: duckdb.DuckDBPyConnection) -> date:
    """The month of the earliest first purchase of a customer whose touches may have changed since the
    stored credits were computed: a component that was re-keyed, or gained or lost a CRM id or a visitor
    (touches reach a customer only through those: staging.customer_touches). A new order can join two
    customers and keep the older one's key and first order, yet bring the other's visits from before
    it: its credits, and every month from its first purchase on, are recomputed. A component that only
    gained an e-mail or a phone has the same touches; if it gained orders, the first-purchase comparison
    in attribution_start sees them. Compares the graph just rebuilt (staging.customer_identifiers) with
    the counts the last run published (marts.customers, rebuilt after attribution); without that table
    everything is recomputed."""
    if not table_exists(con, "marts.customers"):
        return EARLIEST
    changed = scalar(
        con,
        """
        with current_components as (
            select
                customer_key,
                count(*) filter (where identifier_kind = 'crm') as crm_id_count,
                count(*) filter (where identifier_kind = 'visitor') as visitor_count
            from staging.customer_identifiers
            group by customer_key
        ),
        stored_components as (
            -- customers keyed on a single order are not in the graph
            select customer_key, crm_id_count, visitor_count, first_purchase_ts
            from marts.customers
            where customer_key not like 'order:%'
        ),
        changed as (
            select coalesce(current_components.customer_key, stored_components.customer_key) as customer_key,
                   stored_components.first_purchase_ts as stored_first_purchase_ts
            from current_components
            full join stored_components
                on stored_components.customer_key = current_components.customer_key
                and stored_components.crm_id_count = current_components.crm_id_count
                and stored_components.visitor_count = current_components.visitor_count
            where current_components.customer_key is null or stored_components.customer_key is null
        )
        select least(
            (select min(stored_first_purchase_ts) from changed),
            (select min(orders.order_ts) from marts.orders as orders
             where orders.customer_type = 'new' and orders.customer_key in (select customer_key from changed))
        )::date
        """,
    )
    return changed.replace(day=1) if changed else LATEST


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


def run_transforms(
    con: duckdb.DuckDBPyConnection, config: Config, window: tuple[date, date], *, skip_unchanged: bool = False
) -> dict[str, int | None]:
    """All staging and mart models for a window, in dependency order (used by tests and the CLI); with
    `skip_unchanged`, models whose inputs did not change are kept (None), as the Dagster assets do.

    Staging runs first; a missing exchange rate then stops the run (pipelines.transform.fx) before any mart is built."""
    write_config_tables(con, config)
    params = model_params(config, window, as_of_date(con, config))
    models = discover_models()
    written = {
        m.table: run_model(con, m, params, skip_unchanged=skip_unchanged) for m in models if m.schema == "staging"
    }
    check_fx(con)
    written |= {
        m.table: run_model(con, m, params, skip_unchanged=skip_unchanged) for m in models if m.schema != "staging"
    }
    document_tables(con, [m.table for m in models])  # comments from schemas/tables.py models
    return written
