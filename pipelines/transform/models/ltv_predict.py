"""Predicted LTV (docs/metrics.md "Predicted LTV"): marts.customer_ltv_predicted, quality.ltv_fits, quality.ltv_backtest.

sql/marts/customer_ltv_predicted.sql computes, in DuckDB and in one pass, every customer's daily summary
(frequency, recency, tenure in days, mean margin per repeat purchase day) at the as-of date and at the
as-of date - 6 months, with what followed. Here:

1. the summary's distinct (channel, frequency, recency, tenure) rows, with their customer counts as
   weights, are fitted with BG/NBD per channel that has at least `ltv.min_customers_per_fit`
   customers, and once pooled over all customers (pipelines/transform/models/ltv_models.py); Gamma-Gamma is fitted on
   the same groups' repeat customers with a positive mean margin per repeat day;
2. a channel below the minimum, or whose own fit did not converge, uses the pooled fit; every fit and
   every channel's choice is published in quality.ltv_fits (nothing is dropped silently); if the pooled
   fit itself does not converge, the customers that need it get NULL predictions and the table says why;
3. the conditional expectations (p_alive, expected repeat purchase days) are evaluated once per distinct
   summary row, the Gamma-Gamma expected margin per purchase and the products per customer in SQL;
4. the back-test repeats 1-3 on the summary taken at the as-of date - 6 months and compares the next
   6 months' predicted repeat purchase days and margin with what the customers did (quality.ltv_backtest).

Everything is rebuilt whole every run; inputs are read in a fixed order and the optimiser is
deterministic, so a re-run on the same data writes identical tables.
"""

from __future__ import annotations

import calendar
from datetime import date

import numpy as np
import polars as pl

from pipelines.core.db import scalar
from pipelines.transform.context import ModelContext
from pipelines.transform.models.ltv_models import (
    Fit,
    bgnbd_expected_purchases,
    bgnbd_p_alive,
    fit_bgnbd,
    fit_gamma_gamma,
)
from schemas.marts_ltv import LTV_HORIZONS

HORIZONS = LTV_HORIZONS  # months; the columns of marts.customer_ltv_predicted and channel_ltv
BACKTEST_MONTHS = 6
POOLED = "pooled"
TABLES = ("marts.customer_ltv_predicted", "quality.ltv_fits", "quality.ltv_backtest")

_FIT_SCHEMA = {
    "purpose": pl.String,
    "summary_as_of": pl.Date,
    "fit": pl.String,
    "customers": pl.Int64,
    "repeat_customers": pl.Int64,
    "value_customers": pl.Int64,
    "status": pl.String,
    "fit_used": pl.String,
    "bgnbd_converged": pl.Boolean,
    "gamma_gamma_converged": pl.Boolean,
    "r": pl.Float64,
    "alpha": pl.Float64,
    "a": pl.Float64,
    "b": pl.Float64,
    "p": pl.Float64,
    "q": pl.Float64,
    "v": pl.Float64,
    "bgnbd_log_likelihood": pl.Float64,
    "gamma_gamma_log_likelihood": pl.Float64,
    "message": pl.String,
}


def materialize(ctx: ModelContext) -> int:
    con, params = ctx.con, ctx.params
    as_of: date = params["as_of_date"]
    minimum = int(params.get("ltv_min_customers_per_fit", 500))
    con.execute("create schema if not exists quality")
    backtest_from = scalar(con, "select ($d::date - to_months($m::integer))::date", {"d": as_of, "m": BACKTEST_MONTHS})

    _summarise(ctx, backtest_from)
    forecast_rows, forecast_fits = _fit_groups(con, "__ltv_summary", minimum, "forecast", as_of)
    _forecast_combos(con, forecast_fits, as_of)
    _write_predictions(con)

    backtest_rows, backtest_fits = _fit_groups(con, "__ltv_backtest_summary", minimum, "backtest", backtest_from)
    _backtest(con, backtest_fits, backtest_from, as_of)

    fits = pl.DataFrame(forecast_rows + backtest_rows, schema=_FIT_SCHEMA)  # noqa: F841 (read by DuckDB)
    con.execute(
        "create or replace table quality.ltv_fits as select * from fits order by purpose desc, fit = 'pooled' desc, fit"
    )
    for temp in ("__ltv_summary", "__ltv_backtest_summary", "__ltv_combos", "__ltv_assign", "__ltv_backtest_combos"):
        con.execute(f"drop table if exists {temp}")
    ctx.document(list(TABLES))
    return int(scalar(con, "select count(*) from marts.customer_ltv_predicted"))


# --------------------------------------------------------------------------------------------- the summary
def _summarise(ctx: ModelContext, backtest_from: date) -> None:
    """__ltv_summary (the SQL file's select: both summaries in one pass) and __ltv_backtest_summary
    (its back-test columns under the forecast's names, for the customers acquired by then)."""
    con, query = ctx.con, ctx.sql
    con.execute(
        f"create or replace temp table __ltv_summary as {query}",
        ctx.bind(ctx.params | {"backtest_as_of": backtest_from}),
    )
    con.execute(
        """create or replace temp table __ltv_backtest_summary as
           select customer_key, first_purchase_date, acquisition_month, channel, frequency_cal as frequency,
                  recency_cal as recency, tenure_cal as tenure, monetary_value_cal as monetary_value,
                  holdout_orders, holdout_margin
           from __ltv_summary where tenure_cal is not null"""
    )


# ------------------------------------------------------------------------------------------------ the fits
class GroupFit:
    """The BG/NBD and Gamma-Gamma fits one group of customers (a channel, or all pooled) got."""

    def __init__(self, bg: Fit, gg: Fit):
        self.bg, self.gg = bg, gg

    @property
    def usable(self) -> bool:
        return self.bg.converged and self.gg.converged


def _fit_groups(con, summary: str, minimum: int, purpose: str, summary_as_of: date):
    """Fit every channel with enough customers and the pooled group. Returns the rows of quality.ltv_fits
    and {channel: (fit_used, GroupFit)} for every channel of the summary (fit_used = channel or 'pooled')."""
    histories = con.sql(
        f"""select channel, frequency::double as x, recency::double as t_x, tenure::double as T, count(*)::double as w
            from {summary} group by all order by all"""
    ).pl()
    values = con.sql(
        f"""select channel, frequency::double as x, monetary_value as m, count(*)::double as w
            from {summary} where frequency > 0 and monetary_value > 0 group by all order by all"""
    ).pl()
    sizes = con.sql(
        f"""select channel, count(*) as customers, count(*) filter (where frequency > 0) as repeat_customers,
                   count(*) filter (where frequency > 0 and monetary_value > 0) as value_customers
            from {summary} group by all order by channel"""
    ).pl()

    def fit(h: pl.DataFrame, v: pl.DataFrame, start: GroupFit | None = None) -> GroupFit:
        return GroupFit(
            fit_bgnbd(
                h["x"].to_numpy(),
                h["t_x"].to_numpy(),
                h["T"].to_numpy(),
                h["w"].to_numpy(),
                start=start.bg.params if start and start.bg.converged else None,
            ),
            fit_gamma_gamma(
                v["x"].to_numpy(),
                v["m"].to_numpy(),
                v["w"].to_numpy(),
                start=start.gg.params if start and start.gg.converged else None,
            ),
        )

    # pooled: the same rows over all channels, identical histories merged (fewer rows, same likelihood)
    pooled = fit(
        histories.group_by("x", "t_x", "T").agg(pl.col("w").sum()).sort("x", "t_x", "T"),
        values.group_by("x", "m").agg(pl.col("w").sum()).sort("x", "m"),
    )
    totals = sizes.select(pl.col("customers", "repeat_customers", "value_customers").sum()).row(0)
    rows = [
        _fit_row(purpose, summary_as_of, POOLED, totals, "fitted" if pooled.usable else "not_converged", POOLED, pooled)
    ]
    chosen: dict[str, tuple[str, GroupFit]] = {}
    for channel, customers, repeaters, valued in sizes.iter_rows():
        if customers < minimum:
            rows.append(
                _fit_row(
                    purpose,
                    summary_as_of,
                    channel,
                    (customers, repeaters, valued),
                    "too_small",
                    POOLED,
                    None,
                    f"{customers} customers < ltv.min_customers_per_fit = {minimum}: the pooled fit is used",
                )
            )
            chosen[channel] = (POOLED, pooled)
            continue
        # a channel's fit starts from the pooled optimum: fewer iterations, the same maximum
        own = fit(histories.filter(pl.col("channel") == channel), values.filter(pl.col("channel") == channel), pooled)
        used = channel if own.usable else POOLED
        rows.append(
            _fit_row(
                purpose,
                summary_as_of,
                channel,
                (customers, repeaters, valued),
                "fitted" if own.usable else "not_converged",
                used,
                own,
            )
        )
        chosen[channel] = (used, own if own.usable else pooled)
    return rows, chosen


def _fit_row(purpose, summary_as_of, name, counts, status, used, group: GroupFit | None, message: str | None = None):
    customers, repeaters, valued = counts
    bg = group.bg if group else None
    gg = group.gg if group else None

    def number(value) -> float | None:
        return float(value) if value is not None and np.isfinite(value) else None

    if message is None and group is not None:
        message = f"BG/NBD: {bg.message}; Gamma-Gamma: {gg.message}"
        if status == "not_converged" and name != POOLED:
            message += "; the pooled fit is used"
        if status == "not_converged" and name == POOLED:
            message += "; customers that need the pooled fit get no prediction"
    return {
        "purpose": purpose,
        "summary_as_of": summary_as_of,
        "fit": name,
        "customers": int(customers),
        "repeat_customers": int(repeaters),
        "value_customers": int(valued),
        "status": status,
        "fit_used": used,
        "bgnbd_converged": bg.converged if bg else None,
        "gamma_gamma_converged": gg.converged if gg else None,
        **{k: number(bg.params[k]) if bg else None for k in ("r", "alpha", "a", "b")},
        **{k: number(gg.params[k]) if gg else None for k in ("p", "q", "v")},
        "bgnbd_log_likelihood": number(bg.log_likelihood) if bg else None,
        "gamma_gamma_log_likelihood": number(gg.log_likelihood) if gg else None,
        "message": message,
    }


def _assign(con, fits: dict[str, tuple[str, GroupFit]]) -> None:
    """__ltv_assign(channel, fit_used, p, q, v): the Gamma-Gamma parameters each channel's customers use
    (NULL when that fit is unusable)."""
    rows = [
        {
            "channel": channel,
            "fit_used": used,
            **({k: g.gg.params[k] for k in ("p", "q", "v")} if g.usable else dict.fromkeys("pqv")),
        }
        for channel, (used, g) in sorted(fits.items())
    ]
    assign = pl.DataFrame(  # noqa: F841 (read by DuckDB)
        rows, schema={"channel": pl.String, "fit_used": pl.String, "p": pl.Float64, "q": pl.Float64, "v": pl.Float64}
    )
    con.execute("create or replace temp table __ltv_assign as select * from assign")


def _combos(con, summary: str) -> pl.DataFrame:
    return con.sql(f"select channel, frequency, recency, tenure from {summary} group by all order by all").pl()


def _per_fit(combos: pl.DataFrame, fits, compute) -> dict[str, np.ndarray]:
    """Evaluate `compute(params, x, t_x, T) -> {column: array}` on each fit's rows of `combos`, vectorised
    per fit (a handful of fits, never per row); NaN where the fit is unusable."""
    out: dict[str, np.ndarray] = {}
    channels = combos["channel"].to_numpy()
    x, t_x, T = (combos[c].to_numpy().astype(float) for c in ("frequency", "recency", "tenure"))
    for channel, (_, group) in fits.items():
        rows = channels == channel
        if not rows.any():
            continue
        values = compute(group.bg.params if group.usable else None, x[rows], t_x[rows], T[rows])
        for name, array in values.items():
            out.setdefault(name, np.full(len(combos), np.nan))[rows] = array
    return out


# ---------------------------------------------------------------------------------------------- forecast
def _forecast_combos(con, fits, as_of: date) -> None:
    _assign(con, fits)
    combos = _combos(con, "__ltv_summary")
    as_of_day = np.datetime64(as_of, "D")
    # t in days from the as-of date to the same day h months later (calendar months, as DuckDB adds them)
    ahead = {h: float((_add_months(as_of, h) - as_of).days) for h in HORIZONS}

    def compute(params, x, t_x, T):
        if params is None:
            return {}
        first_month = (as_of_day - T.astype("timedelta64[D]")).astype("datetime64[M]")
        out = {"p_alive": bgnbd_p_alive(params, x, t_x, T)}
        for h in HORIZONS:
            out[f"expected_orders_{h}m"] = bgnbd_expected_purchases(params, np.full_like(T, ahead[h]), x, t_x, T)
            # what is left of horizon h after the as-of date: to the last day of month h - 1 after acquisition
            end = (first_month + h).astype("datetime64[D]") - np.timedelta64(1, "D")
            left = np.maximum((end - as_of_day).astype(float), 0.0)
            out[f"orders_to_horizon_{h}"] = bgnbd_expected_purchases(params, left, x, t_x, T)
        return out

    columns = ["p_alive", *(f"expected_orders_{h}m" for h in HORIZONS), *(f"orders_to_horizon_{h}" for h in HORIZONS)]
    values = _per_fit(combos, fits, compute)
    frame = combos.with_columns(  # noqa: F841 (read by DuckDB)
        [
            pl.Series(name, values.get(name, np.full(len(combos), np.nan)), dtype=pl.Float64).fill_nan(None)
            for name in columns
        ]
    )
    con.execute("create or replace temp table __ltv_combos as select * from frame")


def _write_predictions(con) -> None:
    per_order = (
        "case when a.q > 1 then (1 - a.p * s.frequency / (a.p * s.frequency + a.q - 1)) * a.v * a.p / (a.q - 1) "
        "+ a.p * s.frequency / (a.p * s.frequency + a.q - 1) * coalesce(s.monetary_value, 0) end"
    )
    horizons = ",\n".join(
        [f"c.expected_orders_{h}m" for h in HORIZONS]
        + [f"c.expected_orders_{h}m * s.expected_margin_per_order as expected_margin_{h}m" for h in HORIZONS]
        + [f"c.orders_to_horizon_{h} * s.expected_margin_per_order as expected_margin_to_horizon_{h}" for h in HORIZONS]
    )
    con.execute(
        f"""create or replace table marts.customer_ltv_predicted as
            with base as (
                select s.*, a.fit_used, {per_order} as expected_margin_per_order
                from __ltv_summary s join __ltv_assign a using (channel)
            )
            select
                s.customer_key, s.first_purchase_date, s.acquisition_month, s.channel, s.fit_used,
                s.frequency, s.recency, s.tenure, s.monetary_value,
                c.p_alive, s.expected_margin_per_order,
                {horizons}
            from base s
            left join __ltv_combos c using (channel, frequency, recency, tenure)
            order by s.customer_key"""
    )


# ---------------------------------------------------------------------------------------------- back-test
def _backtest(con, fits, backtest_from: date, as_of: date) -> None:
    _assign(con, fits)
    combos = _combos(con, "__ltv_backtest_summary")
    horizon = float((as_of - backtest_from).days)

    def compute(params, x, t_x, T):
        if params is None:
            return {}
        return {"predicted_orders": bgnbd_expected_purchases(params, np.full_like(T, horizon), x, t_x, T)}

    values = _per_fit(combos, fits, compute)
    frame = combos.with_columns(  # noqa: F841 (read by DuckDB)
        pl.Series(
            "predicted_orders", values.get("predicted_orders", np.full(len(combos), np.nan)), dtype=pl.Float64
        ).fill_nan(None)
    )
    con.execute("create or replace temp table __ltv_backtest_combos as select * from frame")
    per_order = (
        "case when a.q > 1 then (1 - a.p * s.frequency / (a.p * s.frequency + a.q - 1)) * a.v * a.p / (a.q - 1) "
        "+ a.p * s.frequency / (a.p * s.frequency + a.q - 1) * coalesce(s.monetary_value, 0) end"
    )
    con.execute(
        f"""create or replace table quality.ltv_backtest as
            with customers as (
                select s.channel, a.fit_used, c.predicted_orders, c.predicted_orders * ({per_order}) as predicted_margin,
                       s.holdout_orders, s.holdout_margin
                from __ltv_backtest_summary s
                join __ltv_assign a using (channel)
                left join __ltv_backtest_combos c using (channel, frequency, recency, tenure)
            ),
            grouped as (
                select
                    coalesce(channel, 'all') as channel,
                    case when grouping(channel) = 0 then any_value(fit_used) end as fit_used,
                    count(*) as customers,
                    -- one unusable fit leaves its customers without a prediction: the sum is then unknown
                    case when count(predicted_orders) = count(*) then exact_sum(predicted_orders) end as predicted_orders,
                    exact_sum(holdout_orders) as actual_orders,
                    case when count(predicted_margin) = count(*) then exact_sum(predicted_margin) end as predicted_margin,
                    exact_sum(holdout_margin) as actual_margin
                from customers
                group by grouping sets ((channel), ())
                having count(*) > 0  -- no customers yet 6 months ago: no row (quality.ltv_fits says so)
            )
            select
                $backtest_from::date as calibration_end,
                ($backtest_from::date + 1) as holdout_start,
                $as_of::date as holdout_end,
                channel, fit_used, customers,
                predicted_orders, actual_orders,
                predicted_orders - actual_orders as orders_error,
                (predicted_orders - actual_orders) / nullif(actual_orders, 0) as orders_relative_error,
                predicted_margin, actual_margin,
                predicted_margin - actual_margin as margin_error,
                (predicted_margin - actual_margin) / nullif(actual_margin, 0) as margin_relative_error
            from grouped
            order by channel = 'all', channel""",
        {"backtest_from": backtest_from, "as_of": as_of},
    )


def _add_months(day: date, months: int) -> date:
    """`day` + `months` calendar months, clipped to the month's last day (as DuckDB's date + interval)."""
    month_index = day.month - 1 + months
    year, month = day.year + month_index // 12, month_index % 12 + 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))
