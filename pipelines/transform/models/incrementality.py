"""Incremental CAC (docs/metrics.md "Incremental CAC"): marts.channel_incrementality,
marts.channel_response_curves and quality.incrementality_fit.

1. The fit date is the last cadence boundary on or before the as-of date (`incrementality.cadence`:
   weekly = the last Sunday, monthly = the last month end, daily = the as-of date); the fit window is the
   last `incrementality.weeks` complete Monday-to-Sunday weeks ending on or before it. A nightly run and
   a full rebuild at the same as-of date therefore fit on the same weeks.
2. sql/marts/channel_incrementality.sql gives the window's weekly spend per paid channel, new customers
   and attributed new customers. Its spend and new customers, the fit date, the SQL and the settings make
   the fit's key: when the stored quality.incrementality_fit carries the same key, the stored results are
   the ones a refit would write, and only the attributed columns are recomputed (attribution may change
   without the spend or the new customers changing). Otherwise the model is refitted
   (pipelines/transform/models/mmm.py) and all three tables are rewritten.
3. Fewer than MIN_WEEKS weeks, or a channel whose weekly spend never varies, is published as a status
   with no model number; a channel with constant spend is left out of the fit (the baseline absorbs it).
"""

from __future__ import annotations

import hashlib
from datetime import date, timedelta

import numpy as np
import polars as pl
from threadpoolctl import threadpool_limits

from pipelines.core.db import scalar, table_exists
from pipelines.core.periods import EARLIEST, fit_date
from pipelines.transform.context import ModelContext
from pipelines.transform.models import mmm

TABLES = ("marts.channel_incrementality", "marts.channel_response_curves", "quality.incrementality_fit")
MIN_WEEKS = 52  # a year: the yearly season cannot be told from the channels with less
HOLDOUT_WEEKS = 8
CURRENT_WEEKS = 4  # "current spend" = the mean weekly spend of the window's last weeks
NO_EFFECT_SHARE = 0.01  # contribution's 5 % quantile at or below this share of new customers: no upper bound
CURVE_POINTS = 25  # response curve points from 0 to CURVE_REACH x the largest weekly spend
CURVE_REACH = 1.5
# how the asset is materialised, in its Dagster description (pipelines/orchestration/sql_assets.py)
MATERIALISED = (
    "Refitted as of the last incrementality.cadence boundary (weekly: the last Sunday) when the fit's inputs "
    "changed; other runs keep the stored fit and recompute only the attributed columns."
)
VERSION = f"mmm-1|{mmm.L_MAX}|{mmm.SEASON_ORDER}|{mmm.BOOTSTRAP}|{mmm.REFIT_FTOL}|{mmm.SEED}"  # in the fit key


def fit_window(as_of: date, cadence: str, weeks: int) -> tuple[date, date, date]:
    """(fit date, first day, last day) of the fit window: `weeks` Monday-to-Sunday weeks."""
    fitted = fit_date(as_of, cadence)
    end = fitted - timedelta(days=fitted.isoweekday() % 7)
    return fitted, end - timedelta(days=7 * weeks - 1), end


def materialize(ctx: ModelContext) -> int:
    con, params = ctx.con, ctx.params
    weeks = int(params.get("incrementality_weeks", 104))
    cadence = str(params.get("incrementality_cadence", "weekly"))
    fitted, start, end = fit_window(params["as_of_date"], cadence, weeks)
    bound = ctx.bind(params | {"fit_start": start, "fit_end": end})
    frame = con.sql(ctx.sql, params=bound).pl()
    key = _fit_key(ctx.fingerprint, frame, fitted, start, end)
    con.execute("create schema if not exists quality")
    if not _stored_fit_is(con, key):
        _refit(con, frame, fitted, start, end, key)
        ctx.store_state(TABLES[0], fitted, EARLIEST)  # meta.model_state: when it was last fitted, and as of when
    _write_attributed(con, frame)
    ctx.document(list(TABLES))
    return int(scalar(con, "select count(*) from marts.channel_incrementality"))


def _fit_key(fingerprint: str, frame: pl.DataFrame, fitted: date, start: date, end: date) -> str:
    data = frame.select("week_start", "channel", "spend", "new_customers").write_csv()
    text = f"{VERSION}|{fingerprint}|{fitted}|{start}|{end}|{data}"
    return hashlib.sha256(text.encode()).hexdigest()


def _stored_fit_is(con, key: str) -> bool:
    if not all(table_exists(con, t) for t in TABLES):
        return False
    return scalar(con, "select count(*) from quality.incrementality_fit where fit_key = ?", [key]) > 0


# ------------------------------------------------------------------------------------------------ the fit
def _refit(con, frame: pl.DataFrame, fitted: date, start: date, end: date, key: str) -> None:
    # OpenBLAS's threads cost ~10x in these small fits on a busy 2-core machine (measured: 8 s -> 0.7 s)
    with threadpool_limits(limits=1, user_api="blas"):
        _fit_and_write(con, frame, fitted, start, end, key)


def _fit_and_write(con, frame: pl.DataFrame, fitted: date, start: date, end: date, key: str) -> None:
    channels = sorted(frame["channel"].unique().to_list())
    weeks = sorted(frame["week_start"].unique().to_list())
    window = (weeks[0], weeks[-1] + timedelta(days=6)) if weeks else (start, end)
    spend = np.array([frame.filter(pl.col("channel") == c).sort("week_start")["spend"].to_numpy() for c in channels])
    y = (
        frame.group_by("week_start").agg(pl.col("new_customers").first()).sort("week_start")["new_customers"].to_numpy()
        if weeks
        else np.zeros(0)
    )
    new_total = float(y.sum())
    base = {
        "fitted_as_of": fitted,
        "window_start": window[0],
        "window_end": window[1],
        "weeks": len(weeks),
        "new_customers": new_total,
    }
    rows, curves = [], []
    fits = []
    varying = [c for c, s in zip(channels, spend, strict=True) if np.ptp(s) > 0] if len(weeks) else []
    if len(weeks) < MIN_WEEKS or not varying:
        reason = (
            "no channel has ad spend in the window"
            if not channels
            else f"{len(weeks)} complete weeks of data in the window: the model needs at least {MIN_WEEKS}"
            if len(weeks) < MIN_WEEKS
            else "no paid channel's weekly spend varies in the window: the model cannot tell spend from baseline"
        )
        status = "too_little_data" if len(weeks) < MIN_WEEKS else "no_varying_spend"
        for c, s in zip(channels, spend, strict=True):
            rows.append(_channel_row(base, c, float(s.sum()), status, reason))
        fits.append(_fit_row(base, "fit", len(channels), 0, status, reason, key))
        _write(con, rows, curves, fits)
        return

    for c, s in zip(channels, spend, strict=True):
        if c not in varying:
            rows.append(
                _channel_row(
                    base,
                    c,
                    float(s.sum()),
                    "constant_spend",
                    f"the weekly spend is {s[0]:,.2f} every week of the window: its effect cannot be told from the baseline",
                )
            )
    index = [channels.index(c) for c in varying]
    day_of_year = np.array([w.timetuple().tm_yday for w in weeks], dtype=float)
    series = mmm.Series(y, spend[index], day_of_year)
    result = mmm.fit_with_intervals(series)
    model, params = result.model, result.fit.params
    fits.append(_fit_row(base, "fit", len(channels), len(varying), "fitted", result.fit.message, key, result))
    fits.append(_holdout_row(base, series, key, params))
    if not result.fit.converged:
        for c, s in zip(varying, spend[index], strict=True):
            rows.append(_channel_row(base, c, float(s.sum()), "not_converged", result.fit.message))
        fits[0]["status"] = "not_converged"
        _write(con, rows, curves, fits)
        return

    contribution = mmm.contributions(model, params)
    draws = np.array([mmm.contributions(model, p) for p in result.replicates])
    low, high = mmm.interval(draws)
    current = spend[index][:, -CURRENT_WEEKS:].mean(axis=1)
    slope = mmm.slope(model, params, current[:, None])[:, 0]
    slope_low, slope_high = mmm.interval(
        np.array([mmm.slope(model, p, current[:, None])[:, 0] for p in result.replicates])
    )
    for i, c in enumerate(varying):
        total = float(spend[index][i].sum())
        bounded = high[i] > 0 and low[i] > NO_EFFECT_SHARE * new_total
        row = _channel_row(base, c, total, "fitted", None)
        row |= {
            "incremental_new_customers": float(contribution[i]),
            "incremental_new_customers_lower": float(low[i]),
            "incremental_new_customers_upper": float(high[i]),
            "incremental_cac": total / contribution[i] if contribution[i] >= 1 else None,
            "incremental_cac_lower": total / high[i] if high[i] > 0 else None,
            "incremental_cac_upper": total / low[i] if bounded else None,
            "current_weekly_spend": float(current[i]),
            "marginal_cac": 1 / slope[i] if slope[i] > 0 and contribution[i] >= 1 else None,
            "marginal_cac_lower": 1 / slope_high[i] if slope_high[i] > 0 else None,
            "marginal_cac_upper": 1 / slope_low[i] if bounded and slope_low[i] > 0 else None,
        }
        if contribution[i] < 1:
            row["message"] = "the fit finds no measurable effect: under one new customer caused in the window"
        elif not bounded:
            row["message"] = (
                f"the 5 % quantile of the contribution is at most {NO_EFFECT_SHARE:.0%} of the window's new "
                "customers: the data do not rule out that the channel causes none, so no upper bound"
            )
        rows.append(row)
        curves += _curve(model, result, i, c, fitted, float(spend[index][i].max()), float(current[i]))
    rows.sort(key=lambda r: r["channel"])
    _write(con, rows, curves, fits)


def _channel_row(base: dict, channel: str, spend: float, status: str, message: str | None) -> dict:
    row = {name: None for name in _CHANNEL_SCHEMA}
    row |= {k: base[k] for k in ("fitted_as_of", "window_start", "window_end", "weeks", "new_customers")}
    return row | {"channel": channel, "status": status, "message": message, "spend": spend}


def _curve(model, result, i: int, channel: str, fitted: date, largest: float, current: float) -> list[dict]:
    points = np.unique(np.append(np.linspace(0.0, CURVE_REACH * largest, CURVE_POINTS), current))
    at = points[None, :].repeat(model.C, axis=0)
    mean = mmm.response(model, result.fit.params, at)[i]
    low, high = mmm.interval(np.array([mmm.response(model, p, at)[i] for p in result.replicates]))
    slope = mmm.slope(model, result.fit.params, at)[i]
    return [
        {
            "fitted_as_of": fitted,
            "channel": channel,
            "weekly_spend": float(x),
            "new_customers_per_week": float(m),
            "new_customers_per_week_lower": float(lo),
            "new_customers_per_week_upper": float(hi),
            "marginal_cac": float(1 / s) if s > 0 else None,
            "is_current_spend": bool(x == current),
        }
        for x, m, lo, hi, s in zip(points, mean, low, high, slope, strict=True)
    ]


def _fit_row(base, purpose, paid, fitted_channels, status, message, key, result=None) -> dict:
    row = {name: None for name in _FIT_SCHEMA} | {
        k: base[k] for k in ("fitted_as_of", "window_start", "window_end", "weeks", "new_customers")
    }
    row |= {
        "purpose": purpose,
        "paid_channels": paid,
        "channels_fitted": fitted_channels,
        "status": status,
        "message": message,
        "fit_key": key,
    }
    if result is not None:
        model, params = result.model, result.fit.params
        mu = model.mean(params)
        row |= _errors(model.y, mu) | {
            "converged": result.fit.converged,
            "log_likelihood": result.fit.log_likelihood,
            "dispersion": float(np.exp(model.unpack(params)[1])),
            "baseline_new_customers": float(model.parts(params)[0].sum()),
            "bootstrap_draws": len(result.replicates),
            "seed": mmm.SEED,
        }
    return row


def _holdout_row(base: dict, series: mmm.Series, key: str, start: np.ndarray) -> dict:
    """Refit (from the full fit's estimate) without the last HOLDOUT_WEEKS weeks and predict them, their
    spend known, as in a plan."""
    head = series.weeks - HOLDOUT_WEEKS
    model = mmm.Model(series.head(head))
    fit = model.fit(start)
    full = mmm.Model(series, scale=model.scale)  # the held-out weeks keep the carry-over of earlier spend
    y, mu = full.y[head:], full.mean(fit.params)[head:]
    start = base["window_end"] - timedelta(days=7 * HOLDOUT_WEEKS - 1)
    holdout = base | {"window_start": start, "weeks": HOLDOUT_WEEKS, "new_customers": float(y.sum())}
    row = _fit_row(holdout, "holdout", series.channels, series.channels, "fitted", fit.message, key)
    row |= _errors(y, mu) | {
        "converged": fit.converged,
        "log_likelihood": fit.log_likelihood,
        "dispersion": float(np.exp(model.unpack(fit.params)[1])),
        "seed": mmm.SEED,
    }
    if not fit.converged:
        row["status"] = "not_converged"
    return row


def _errors(y: np.ndarray, mu: np.ndarray) -> dict:
    positive = y > 0
    residual = y - mu
    total = float(np.sum((y - y.mean()) ** 2))
    return {
        "predicted_new_customers": float(mu.sum()),
        "mean_absolute_error": float(np.mean(np.abs(residual))),
        "mean_error": float(np.mean(mu - y)),
        "mape": float(np.mean(np.abs(residual[positive]) / y[positive])) if positive.any() else None,
        "r_squared": 1 - float(np.sum(residual**2)) / total if total > 0 else None,
    }


# ---------------------------------------------------------------------------------------------- the tables
_CHANNEL_SCHEMA = {
    "fitted_as_of": pl.Date,
    "window_start": pl.Date,
    "window_end": pl.Date,
    "weeks": pl.Int32,
    "channel": pl.String,
    "status": pl.String,
    "message": pl.String,
    "spend": pl.Float64,
    "new_customers": pl.Float64,
    "incremental_new_customers": pl.Float64,
    "incremental_new_customers_lower": pl.Float64,
    "incremental_new_customers_upper": pl.Float64,
    "incremental_cac": pl.Float64,
    "incremental_cac_lower": pl.Float64,
    "incremental_cac_upper": pl.Float64,
    "current_weekly_spend": pl.Float64,
    "marginal_cac": pl.Float64,
    "marginal_cac_lower": pl.Float64,
    "marginal_cac_upper": pl.Float64,
    # from this run's credits (_write_attributed), also on nights that keep the stored fit
    "attributed_new_customers": pl.Float64,
    "attributed_cac": pl.Float64,
    "incremental_to_attributed_cac": pl.Float64,
    "incremental_to_attributed_cac_lower": pl.Float64,
    "incremental_to_attributed_cac_upper": pl.Float64,
}
_CURVE_SCHEMA = {
    "fitted_as_of": pl.Date,
    "channel": pl.String,
    "weekly_spend": pl.Float64,
    "new_customers_per_week": pl.Float64,
    "new_customers_per_week_lower": pl.Float64,
    "new_customers_per_week_upper": pl.Float64,
    "marginal_cac": pl.Float64,
    "is_current_spend": pl.Boolean,
}
_FIT_SCHEMA = {
    "fitted_as_of": pl.Date,
    "purpose": pl.String,
    "window_start": pl.Date,
    "window_end": pl.Date,
    "weeks": pl.Int32,
    "paid_channels": pl.Int32,
    "channels_fitted": pl.Int32,
    "status": pl.String,
    "message": pl.String,
    "converged": pl.Boolean,
    "new_customers": pl.Float64,
    "predicted_new_customers": pl.Float64,
    "baseline_new_customers": pl.Float64,
    "mean_absolute_error": pl.Float64,
    "mean_error": pl.Float64,
    "mape": pl.Float64,
    "r_squared": pl.Float64,
    "log_likelihood": pl.Float64,
    "dispersion": pl.Float64,
    "bootstrap_draws": pl.Int32,
    "seed": pl.Int32,
    "fit_key": pl.String,
}


def _write(con, rows: list[dict], curves: list[dict], fits: list[dict]) -> None:
    channel = pl.DataFrame(rows, schema=_CHANNEL_SCHEMA)  # noqa: F841 (read by DuckDB)
    curve = pl.DataFrame(curves, schema=_CURVE_SCHEMA)  # noqa: F841
    fit = pl.DataFrame(fits, schema=_FIT_SCHEMA)  # noqa: F841
    con.execute("create or replace table marts.channel_incrementality as select * from channel order by channel")
    con.execute(
        "create or replace table marts.channel_response_curves as select * from curve order by channel, weekly_spend"
    )
    con.execute("create or replace table quality.incrementality_fit as select * from fit order by purpose")


def _write_attributed(con, frame: pl.DataFrame) -> None:
    """The attributed columns, from this run's credits: paid CAC under the default model over the same
    weeks, and incremental CAC / attributed CAC = attributed new customers / incremental new customers
    (monotone in the contribution, so its interval follows from the contribution's)."""
    attributed = frame.group_by("channel").agg(  # noqa: F841 (read by DuckDB)
        pl.col("attributed_new_customers").sum().alias("attributed_new_customers")
    )
    con.execute(
        """update marts.channel_incrementality as c set
               attributed_new_customers = a.attributed_new_customers,
               attributed_cac = c.spend / nullif(a.attributed_new_customers, 0),
               incremental_to_attributed_cac = case when c.incremental_cac is not null
                   then a.attributed_new_customers / c.incremental_new_customers end,
               incremental_to_attributed_cac_lower = case when c.incremental_cac_lower is not null
                   then a.attributed_new_customers / c.incremental_new_customers_upper end,
               incremental_to_attributed_cac_upper = case when c.incremental_cac_upper is not null
                   then a.attributed_new_customers / c.incremental_new_customers_lower end
           from attributed as a
           where a.channel = c.channel"""
    )
