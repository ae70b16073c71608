"""Predicted LTV (docs/metrics.md "Predicted LTV"): marts.customer_ltv_predicted, quality.ltv_fits, quality.ltv_backtest.

sql/marts/customer_ltv_predicted.sql computes, in DuckDB and in one pass, every customer's daily summary
(frequency, recency, tenure in days, mean margin per repeat purchase day) at a date and at that date
- 6 months, with what followed. Here:

1. the fit date is the last `ltv.cadence` boundary on or before the as-of date (monthly, the default:
   the last month end; weekly: the last Sunday; daily: the as-of date), so a nightly run and a full
   rebuild at the same as-of date fit on the same data;
2. the select taken at the fit date (and the fit date - 6 months) is the fit's input. The select's own
   inputs up to the fit date (the columns it reads of marts.orders and marts.first_purchases), the fit
   date, the SQL, the settings and ltv.min_customers_per_fit make the fit's key: when quality.ltv_fits
   carries the same key the stored fits are the ones a refit would write, and the summary at the fit
   date and 3-4 are skipped (a late or corrected order up to the fit date changes the key and refits);
3. refit: the summary's distinct (channel, frequency, recency, tenure) rows, with their customer counts as
   weights, are fitted with BG/NBD per channel that has at least `ltv.min_customers_per_fit`
   customers, and once pooled over all customers (pipelines/transform/models/ltv_models.py); Gamma-Gamma is fitted on
   the same groups' repeat customers with a positive mean margin per repeat day. A channel below the
   minimum, or whose own fit did not converge, uses the pooled fit; every fit and every channel's choice
   is published in quality.ltv_fits (nothing is dropped silently); if the pooled fit itself does not
   converge, the customers that need it get NULL predictions and the table says why;
4. the back-test repeats 3 on the summary at the fit date - 6 months and compares the next 6 months'
   predicted repeat purchase days and margin with what the customers did up to the fit date
   (quality.ltv_backtest);
5. every run scores every customer on their summary at the as-of date with the stored parameters of the
   fit quality.ltv_fits names for their channel (pooled for a channel the fit did not see): the
   conditional expectations (p_alive, expected repeat purchase days) once per distinct summary row,
   vectorised per fit, the Gamma-Gamma expected margin per purchase and the products per customer in SQL.

Inputs are read in a fixed order and the optimiser is deterministic, so a re-run on the same data writes
identical tables; the parameters are stored as DOUBLE, so a stored fit scores exactly as a fresh one.
"""

from __future__ import annotations

import calendar
import hashlib
from datetime import date

import numpy as np
import polars as pl

from pipelines.core.db import scalar, table_exists
from pipelines.core.periods import EARLIEST, fit_date
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
BG, GG = ("r", "alpha", "a", "b"), ("p", "q", "v")
# how the asset is materialised, in its Dagster description (pipelines/orchestration/sql_assets.py)
MATERIALISED = (
    "Refitted as of the last ltv.cadence boundary (monthly: the last month end) when the fit's inputs changed; "
    "every run rescores every customer at the as-of date with the stored fits."
)
# Gamma-Gamma expected margin per future purchase day of a summary row s with the parameters a (SQL)
PER_ORDER = (
    "case when a.q > 1 then (1 - a.p * s.frequency / (a.p * s.frequency + a.q - 1)) * a.v * a.p / (a.q - 1) "
    "+ a.p * s.frequency / (a.p * s.frequency + a.q - 1) * coalesce(s.monetary_value, 0) end"
)
VERSION = "ltv-2"  # in the fit key: change it when the fitting or the back-test changes

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
    "fit_key": pl.String,
}

# (used, BG/NBD parameters, Gamma-Gamma parameters) per channel: the fit its customers are predicted with,
# its parameters None when that fit is unusable
Assignment = dict[str, tuple[str, dict[str, float] | None, dict[str, float] | None]]


def materialize(ctx: ModelContext) -> int:
    con, params = ctx.con, ctx.params
    as_of: date = params["as_of_date"]
    minimum = int(params.get("ltv_min_customers_per_fit", 500))
    fitted = fit_date(as_of, str(params.get("ltv_cadence", "monthly")))
    con.execute("create schema if not exists quality")
    backtest_from = scalar(con, "select ($d::date - to_months($m::integer))::date", {"d": fitted, "m": BACKTEST_MONTHS})

    key = _fit_key(ctx, minimum, fitted, backtest_from)
    refit = not _stored_fit_is(con, key)
    if refit:
        # the fit's input: the summary at the fit date and at the fit date - 6 months, with what followed
        _summarise(ctx, "__ltv_fit_summary", fitted, backtest_from)
        _refit(con, minimum, fitted, backtest_from, key)
        ctx.store_state(TABLES[1], fitted, EARLIEST)  # meta.model_state: when it was last fitted, and as of when
    if as_of == fitted and refit:
        con.execute("alter table __ltv_fit_summary rename to __ltv_summary")
    else:  # the as-of date's summary (with the back-test columns at the fit date, not read)
        _summarise(ctx, "__ltv_summary", as_of, fitted)
    _score(con, as_of)
    for temp in ("summary", "fit_summary", "backtest_summary", "combos", "assign", "backtest_combos"):
        con.execute(f"drop table if exists __ltv_{temp}")
    ctx.document(list(TABLES))
    return int(scalar(con, "select count(*) from marts.customer_ltv_predicted"))


# --------------------------------------------------------------------------------------------- the summary
def _summarise(ctx: ModelContext, name: str, as_of: date, backtest_from: date) -> None:
    """`name`: the SQL file's select at `as_of`, its back-test columns at `backtest_from` (one pass)."""
    ctx.con.execute(
        f"create or replace temp table {name} as {ctx.sql}",
        ctx.bind(ctx.params | {"as_of_date": as_of, "backtest_as_of": backtest_from}),
    )


def _fit_key(ctx: ModelContext, minimum: int, fitted: date, backtest_from: date) -> str:
    """The stored fit is this run's when this is its key: the select's inputs up to the fit date (every
    column it reads of marts.orders and marts.first_purchases there, refunds as known at the fit date
    and at the back-test date, as order-free sums of their rows' hashes, and counted; the summary at
    the fit date is a function of them), the dates, the SQL and the settings. Hashing the inputs, not
    the summary, spares a night between boundaries a pass of the select (~1 s at medium)."""
    orders, first_purchases = ctx.con.execute(
        """select
               (select count(*) || ':' || coalesce(sum(hash(customer_key, order_ts::date, margin,
                       case when refunded_at::date <= $fitted then refund_margin end,
                       case when refunded_at::date <= $backtest then refund_margin end)), 0)
                from marts.orders where order_ts::date <= $fitted),
               (select count(*) || ':' || coalesce(sum(hash(customer_key, first_purchase_ts::date, acquisition_month,
                       channel)), 0)
                from marts.first_purchases where first_purchase_ts::date <= $fitted)""",
        {"fitted": fitted, "backtest": backtest_from},
    ).fetchall()[0]
    text = f"{VERSION}|{ctx.fingerprint}|{minimum}|{fitted}|{backtest_from}|{orders}|{first_purchases}"
    return hashlib.sha256(text.encode()).hexdigest()


def _stored_fit_is(con, key: str) -> bool:
    if not all(table_exists(con, t) for t in TABLES[1:]):
        return False
    columns = {name for (name,) in con.execute("select column_name from (describe quality.ltv_fits)").fetchall()}
    if "fit_key" not in columns:  # written before fits were kept
        return False
    return scalar(
        con, "select count(*) = count(*) filter (where fit_key = ?) and count(*) > 0 from quality.ltv_fits", [key]
    )


def _refit(con, minimum: int, fitted: date, backtest_from: date, key: str) -> None:
    """quality.ltv_fits and quality.ltv_backtest from __ltv_fit_summary."""
    forecast_rows, _ = _fit_groups(con, "__ltv_fit_summary", minimum, "forecast", fitted)
    con.execute(
        """create or replace temp table __ltv_backtest_summary as
           select customer_key, first_purchase_date, acquisition_month, channel, frequency_cal as frequency,
                  recency_cal as recency, tenure_cal as tenure, monetary_value_cal as monetary_value,
                  holdout_orders, holdout_margin
           from __ltv_fit_summary where tenure_cal is not null"""
    )
    backtest_rows, backtest_fits = _fit_groups(con, "__ltv_backtest_summary", minimum, "backtest", backtest_from)
    _backtest(con, _assignment(backtest_fits), backtest_from, fitted)
    fits = pl.DataFrame(  # noqa: F841 (read by DuckDB)
        [row | {"fit_key": key} for row in forecast_rows + backtest_rows], schema=_FIT_SCHEMA
    )
    con.execute(
        "create or replace table quality.ltv_fits as select * from fits order by purpose desc, fit = 'pooled' desc, fit"
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


def _assignment(fits: dict[str, tuple[str, GroupFit]]) -> Assignment:
    return {
        channel: (used, dict(g.bg.params), dict(g.gg.params)) if g.usable else (used, None, None)
        for channel, (used, g) in fits.items()
    }


def _stored_assignment(con, channels: list[str]) -> Assignment:
    """Each channel's fit as the stored forecast fits decided it (quality.ltv_fits: a channel they did not
    see uses the pooled fit), with the stored parameters, as float64 exactly as they were fitted."""
    rows = con.execute(
        f"select fit, fit_used, status = 'fitted', {', '.join(BG + GG)} from quality.ltv_fits where purpose = 'forecast'"
    ).fetchall()
    fits = {row[0]: row for row in rows}
    out: Assignment = {}
    for channel in channels:
        used = fits[channel][1] if channel in fits else POOLED
        found = fits.get(used)
        if found is None or not found[2]:
            out[channel] = (used, None, None)
            continue
        values = [np.float64(v) for v in found[3:]]
        out[channel] = (used, dict(zip(BG, values[:4], strict=True)), dict(zip(GG, values[4:], strict=True)))
    return out


def _assign(con, fits: Assignment) -> None:
    """__ltv_assign(channel, fit_used, p, q, v): the Gamma-Gamma parameters each channel's customers use
    (NULL when that fit is unusable)."""
    rows = [
        {"channel": channel, "fit_used": used, **(gg if gg is not None else dict.fromkeys(GG))}
        for channel, (used, _, gg) in sorted(fits.items())
    ]
    assign = pl.DataFrame(  # noqa: F841 (read by DuckDB)
        rows, schema={"channel": pl.String, "fit_used": pl.String, "p": pl.Float64, "q": pl.Float64, "v": pl.Float64}
    )
    con.execute("create or replace temp table __ltv_assign as select * from assign")


def _combos(con, summary: str) -> pl.DataFrame:
    return con.sql(f"select channel, frequency, recency, tenure from {summary} group by all order by all").pl()


def _per_fit(combos: pl.DataFrame, fits: Assignment, compute) -> dict[str, np.ndarray]:
    """Evaluate `compute(params, x, t_x, T) -> {column: array}` on each channel's rows of `combos`,
    vectorised per channel (a handful, never per row); NaN where the channel's fit is unusable."""
    out: dict[str, np.ndarray] = {}
    channels = combos["channel"].to_numpy()
    x, t_x, T = (combos[c].to_numpy().astype(float) for c in ("frequency", "recency", "tenure"))
    for channel, (_, bg, _) in fits.items():
        rows = channels == channel
        if not rows.any():
            continue
        values = compute(bg, x[rows], t_x[rows], T[rows])
        for name, array in values.items():
            out.setdefault(name, np.full(len(combos), np.nan))[rows] = array
    return out


# ---------------------------------------------------------------------------------------------- scoring
def _score(con, as_of: date) -> None:
    """marts.customer_ltv_predicted: __ltv_summary (the as-of date's) scored with the stored forecast fits."""
    channels = [c for (c,) in con.execute("select distinct channel from __ltv_summary order by channel").fetchall()]
    fits = _stored_assignment(con, channels)
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
    _write_predictions(con)


def _write_predictions(con) -> None:
    horizons = ",\n".join(
        [f"c.expected_orders_{h}m" for h in HORIZONS]
        + [f"c.expected_orders_{h}m * s.expected_margin_per_order as expected_margin_{h}m" for h in HORIZONS]
        + [f"c.orders_to_horizon_{h} * s.expected_margin_per_order as expected_margin_to_horizon_{h}" for h in HORIZONS]
    )
    con.execute(
        f"""create or replace table marts.customer_ltv_predicted as
            with base as (
                select s.*, a.fit_used, {PER_ORDER} as expected_margin_per_order
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
def _backtest(con, fits: Assignment, backtest_from: date, fitted: date) -> None:
    _assign(con, fits)
    combos = _combos(con, "__ltv_backtest_summary")
    horizon = float((fitted - backtest_from).days)

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
    con.execute(
        f"""create or replace table quality.ltv_backtest as
            with customers as (
                select s.channel, a.fit_used, c.predicted_orders, c.predicted_orders * ({PER_ORDER}) as predicted_margin,
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
                $fitted::date as holdout_end,
                channel, fit_used, customers,
                predicted_orders, actual_orders,
                predicted_orders - actual_orders as orders_error,
                (predicted_orders - actual_orders) / nullif(actual_orders, 0) as orders_relative_error,
                predicted_margin, actual_margin,
                predicted_margin - actual_margin as margin_error,
                (predicted_margin - actual_margin) / nullif(actual_margin, 0) as margin_relative_error
            from grouped
            order by channel = 'all', channel""",
        {"backtest_from": backtest_from, "fitted": fitted},
    )


def _add_months(day: date, months: int) -> date:
    """`day` + `months` calendar months, clipped to the month's last day (as DuckDB's date + interval)."""
    month_index = day.month - 1 + months
    year, month = day.year + month_index // 12, month_index % 12 + 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))
