"""Pandera (polars) models of incremental CAC (docs/metrics.md "Incremental CAC"): per paid channel, the
response curves and the fit's diagnostics; they give the warehouse its table and column comments."""

from __future__ import annotations

import pandera.polars as pa
import polars as pl

STATUSES = ["fitted", "too_little_data", "no_varying_spend", "constant_spend", "not_converged"]
_WINDOW = "the marketing-mix model's fit window"
_INTERVAL = "{} of the 90 % interval of {} (5 % / 95 % quantile over 200 parametric bootstrap refits)"
_NO_UPPER = (
    "; NULL where the 5 % quantile of incremental_new_customers is at most 1 % of new_customers (the data do not "
    "rule out that the channel causes none)"
)


def _number(text: str, nullable: bool = True, ge: float | None = None) -> pl.Float64:
    return pa.Field(nullable=nullable, ge=ge, description=text)


class ChannelIncrementality(pa.DataFrameModel):
    """One row per paid channel (a channel with ad spend in the fit window)."""

    fitted_as_of: pl.Date = pa.Field(
        nullable=False,
        description="The date the model was fitted as of: the last incrementality.cadence boundary on or before the "
        "as-of date (weekly: the last Sunday). Between refits the stored fit is kept.",
    )
    window_start: pl.Date = pa.Field(nullable=False, description=f"First day (a Monday) of {_WINDOW}.")
    window_end: pl.Date = pa.Field(
        nullable=False, description=f"Last day (a Sunday) of {_WINDOW}: the last Sunday on or before fitted_as_of."
    )
    weeks: pl.Int32 = pa.Field(
        nullable=False,
        ge=0,
        description="Complete weeks in the window: the last incrementality.weeks (104) weeks, fewer when sales "
        "started later. Under 52: status too_little_data.",
    )
    channel: pl.String = pa.Field(nullable=False, unique=True, description="Paid channel (of its ad spend).")
    status: pl.String = pa.Field(
        nullable=False,
        isin=STATUSES,
        description="fitted; too_little_data (fewer than 52 weeks); no_varying_spend (no channel's spend varies); "
        "constant_spend (this channel's weekly spend never varies: its effect cannot be told from the baseline, "
        "it is left out of the fit); not_converged. Only fitted rows carry model numbers.",
    )
    message: pl.String = pa.Field(nullable=True, description="Why a number is missing, in words.")
    spend: pl.Float64 = _number("Ad spend of the channel in the window (reporting currency).", False, 0)
    new_customers: pl.Float64 = _number("All new customers (first purchases) in the window, every channel.", False, 0)
    incremental_new_customers: pl.Float64 = _number(
        "New customers the channel's spend caused in the window: the sum over the window's weeks of its term "
        "saturation(adstock(spend)) in the fitted model (its contribution). NULL unless fitted.",
        ge=0,
    )
    incremental_new_customers_lower: pl.Float64 = _number(
        _INTERVAL.format("Lower bound", "incremental_new_customers") + ".", ge=0
    )
    incremental_new_customers_upper: pl.Float64 = _number(
        _INTERVAL.format("Upper bound", "incremental_new_customers") + ".", ge=0
    )
    incremental_cac: pl.Float64 = _number(
        "Incremental CAC = spend / incremental_new_customers: what one caused new customer cost. NULL unless "
        "fitted, and when the fit finds under one caused customer.",
        ge=0,
    )
    incremental_cac_lower: pl.Float64 = _number(
        _INTERVAL.format("Lower bound", "incremental_cac") + " = spend / incremental_new_customers_upper.", ge=0
    )
    incremental_cac_upper: pl.Float64 = _number(
        _INTERVAL.format("Upper bound", "incremental_cac")
        + " = spend / incremental_new_customers_lower"
        + _NO_UPPER
        + ".",
        ge=0,
    )
    current_weekly_spend: pl.Float64 = _number(
        "Today's spend: the mean weekly spend of the window's last 4 weeks. NULL unless fitted.", ge=0
    )
    marginal_cac: pl.Float64 = _number(
        "Marginal CAC at today's spend: the cost of one more new customer = 1 / slope of the response curve at "
        "current_weekly_spend held steady. NULL unless fitted.",
        ge=0,
    )
    marginal_cac_lower: pl.Float64 = _number(_INTERVAL.format("Lower bound", "marginal_cac") + ".", ge=0)
    marginal_cac_upper: pl.Float64 = _number(_INTERVAL.format("Upper bound", "marginal_cac") + _NO_UPPER + ".", ge=0)
    attributed_new_customers: pl.Float64 = _number(
        "New customers credited to the channel in the window by the default attribution model (fractional).", ge=0
    )
    attributed_cac: pl.Float64 = _number(
        "Attributed paid CAC over the same weeks = spend / attributed_new_customers; NULL without credits.", ge=0
    )
    incremental_to_attributed_cac: pl.Float64 = _number(
        "incremental_cac / attributed_cac = attributed_new_customers / incremental_new_customers: above 1, "
        "attribution credits the channel with buyers its spend did not cause. NULL where either CAC is.",
        ge=0,
    )
    incremental_to_attributed_cac_lower: pl.Float64 = _number(
        _INTERVAL.format("Lower bound", "incremental_to_attributed_cac") + ".", ge=0
    )
    incremental_to_attributed_cac_upper: pl.Float64 = _number(
        _INTERVAL.format("Upper bound", "incremental_to_attributed_cac") + _NO_UPPER + ".", ge=0
    )

    class Config:
        name = "marts.channel_incrementality"
        description = (
            "Incremental CAC per paid channel (docs/metrics.md 'Incremental CAC'): what each channel's spend caused, "
            "from a weekly marketing-mix model (baseline with trend and yearly season + per channel logistic "
            "saturation of geometric adstock, negative binomial, MAP fit, 90 % intervals from a fixed-seed parametric "
            "bootstrap), beside the attributed paid CAC of the default model over the same weeks. Refitted on the "
            "incrementality.cadence; the attributed columns every run (pipelines/transform/models/incrementality.py)."
        )


class ChannelResponseCurves(pa.DataFrameModel):
    """One row per fitted channel and weekly spend level."""

    fitted_as_of: pl.Date = pa.Field(nullable=False, description="As marts.channel_incrementality.fitted_as_of.")
    channel: pl.String = pa.Field(nullable=False, description="Paid channel with status fitted.")
    weekly_spend: pl.Float64 = _number(
        "A weekly spend held steady: 25 levels from 0 to 1.5 x the channel's largest weekly spend in the window, "
        "and today's (current_weekly_spend).",
        False,
        0,
    )
    new_customers_per_week: pl.Float64 = _number(
        "New customers per week that spend causes once its carry-over has built up (the fitted response).", False, 0
    )
    new_customers_per_week_lower: pl.Float64 = _number(
        _INTERVAL.format("Lower bound", "new_customers_per_week") + ".", False, 0
    )
    new_customers_per_week_upper: pl.Float64 = _number(
        _INTERVAL.format("Upper bound", "new_customers_per_week") + ".", False, 0
    )
    marginal_cac: pl.Float64 = _number(
        "Cost of one more new customer at that spend: 1 / the curve's slope; NULL where the curve is flat.", ge=0
    )
    is_current_spend: pl.Boolean = pa.Field(
        nullable=False,
        description="True on the row of today's spend (marts.channel_incrementality.current_weekly_spend).",
    )

    class Config:
        name = "marts.channel_response_curves"
        description = (
            "Response curve per fitted paid channel: new customers per week caused by a steady weekly spend, with "
            "its 90 % interval and the marginal CAC, today's spend marked (the model of marts.channel_incrementality)."
        )


class IncrementalityFit(pa.DataFrameModel):
    """One row for the fit, one for its holdout (or one saying why there is no fit)."""

    fitted_as_of: pl.Date = pa.Field(nullable=False, description="As marts.channel_incrementality.fitted_as_of.")
    purpose: pl.String = pa.Field(
        nullable=False,
        isin=["fit", "holdout"],
        description="fit: the model published, on the whole window; holdout: refitted without the window's last 8 "
        "weeks, which it then predicts from their spend.",
    )
    window_start: pl.Date = pa.Field(nullable=False, description="First day of the weeks compared (fit: the window).")
    window_end: pl.Date = pa.Field(nullable=False, description="Last day of the weeks compared.")
    weeks: pl.Int32 = pa.Field(nullable=False, ge=0, description="Weeks compared.")
    paid_channels: pl.Int32 = pa.Field(nullable=False, ge=0, description="Channels with ad spend in the window.")
    channels_fitted: pl.Int32 = pa.Field(
        nullable=False, ge=0, description="Of them, in the model (their weekly spend varies)."
    )
    status: pl.String = pa.Field(
        nullable=False, isin=STATUSES, description="As marts.channel_incrementality.status, for the whole model."
    )
    message: pl.String = pa.Field(nullable=True, description="The optimiser's last word, or why there is no fit.")
    converged: pl.Boolean = pa.Field(nullable=True, description="The optimiser reported convergence.")
    new_customers: pl.Float64 = _number("New customers in the weeks compared.", False, 0)
    predicted_new_customers: pl.Float64 = _number("The model's expected new customers in those weeks.", ge=0)
    baseline_new_customers: pl.Float64 = _number(
        "Of them, the baseline's (trend + season): the customers no paid channel caused (fit row).", ge=0
    )
    mean_absolute_error: pl.Float64 = _number("Mean over the weeks of |actual - predicted| new customers.", ge=0)
    mean_error: pl.Float64 = _number("Mean over the weeks of predicted - actual: above 0, the model overpredicts.")
    mape: pl.Float64 = _number("Mean absolute percentage error over the weeks with new customers (0.1 = 10 %).", ge=0)
    r_squared: pl.Float64 = _number("1 - residual / total sum of squares of weekly new customers.")
    log_likelihood: pl.Float64 = _number("Negative binomial log-likelihood at the estimate.")
    dispersion: pl.Float64 = _number(
        "Negative binomial dispersion phi: variance = mean + mean^2 / phi (large: Poisson-like).", ge=0
    )
    bootstrap_draws: pl.Int32 = pa.Field(
        nullable=True, ge=0, description="Bootstrap refits behind the 90 % intervals (fit row)."
    )
    seed: pl.Int32 = pa.Field(nullable=True, description="Seed of the bootstrap's draws: re-runs are identical.")
    fit_key: pl.String = pa.Field(
        nullable=False,
        description="Hash of what the fit saw (weekly spend and new customers, fit date, SQL, settings): a run "
        "whose key matches keeps the stored fit instead of refitting.",
    )

    class Config:
        name = "quality.incrementality_fit"
        description = (
            "The marketing-mix model behind marts.channel_incrementality: its window, fit diagnostics and the error "
            "of its prediction of the last 8 weeks when refitted without them."
        )


TABLES = [ChannelIncrementality, ChannelResponseCurves, IncrementalityFit]
