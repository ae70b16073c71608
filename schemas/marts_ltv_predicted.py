"""Pandera (polars) models of the predicted-LTV marts: per-customer predictions, the fits behind them and
their back-test (docs/metrics.md "Predicted LTV"); they give the warehouse its table and column comments."""

from __future__ import annotations

import pandera.polars as pa
import polars as pl

_EXPECTED_ORDERS = (
    "Expected repeat purchase days in the {h} calendar month(s) after the as-of date "
    "(as_of_date + 1 day to as_of_date + {h} months): the BG/NBD conditional expectation E[X(t) "
    "| frequency, recency, tenure] of the customer's fit, t in days. NULL when the fit used did "
    "not converge (quality.ltv_fits)."
)
_EXPECTED_MARGIN = (
    "Expected gross margin in the {h} calendar month(s) after the as-of date = "
    "expected_orders_{h}m x expected_margin_per_order; reporting currency. NULL when the fit "
    "used did not converge."
)
_TO_HORIZON = (
    "Expected gross margin from the as-of date to the end of month index {k} after the "
    "acquisition month (the part of horizon {h} not yet lived) = E[X(t)] x "
    "expected_margin_per_order with t = days from the as-of date to that month's last day; 0 "
    "once the horizon is lived. The per-customer term of "
    "marts.channel_ltv.ltv_margin_{h}_predicted."
)


class CustomerLtvPredicted(pa.DataFrameModel):
    """One row per customer acquired up to the as-of date."""

    customer_key: pl.String = pa.Field(
        nullable=False, unique=True, description="Stitched customer identity (marts.first_purchases.customer_key)."
    )
    first_purchase_date: pl.Date = pa.Field(
        nullable=False, description="Day of the first valid purchase (UTC): day 0 of recency and tenure."
    )
    acquisition_month: pl.Date = pa.Field(
        nullable=False, description="First day of the month of the first valid purchase (the cohort month)."
    )
    channel: pl.String = pa.Field(
        nullable=False,
        description="Acquisition channel the customer is fitted with: marts.first_purchases.channel, i.e. the "
        "channel with the largest credit of the first purchase under the default attribution model "
        "(ties: the later touch, then the name); 'unattributed' when none. A customer whose credit "
        "several channels share is fitted once, with that channel, and weighted by credit in each "
        "channel's cohorts.",
    )
    fit_used: pl.String = pa.Field(
        nullable=False,
        description="Which fit predicts this customer: the channel's own (its name) when the channel has at "
        "least ltv.min_customers_per_fit customers and both its fits converged, else 'pooled' (all "
        "customers). See quality.ltv_fits.",
    )
    frequency: pl.Int32 = pa.Field(
        nullable=False,
        ge=0,
        description="Repeat purchase days up to the as-of date: distinct days with a valid order, minus the first (lifetimes' frequency with freq='D').",
    )
    recency: pl.Int32 = pa.Field(
        nullable=False,
        ge=0,
        description="Days from the first purchase day to the last purchase day (0 without repeat purchases).",
    )
    tenure: pl.Int32 = pa.Field(
        nullable=False, ge=0, description="Days from the first purchase day to the as-of date (lifetimes' T)."
    )
    monetary_value: pl.Float64 = pa.Field(
        nullable=True,
        description="Mean gross margin per repeat purchase day (the first day left out), net of partial refunds "
        "known at the as-of date; NULL without repeat purchases. The Gamma-Gamma input (fitted on "
        "customers where it is > 0).",
    )
    p_alive: pl.Float64 = pa.Field(
        nullable=True,
        ge=0,
        le=1 + 1e-9,
        description="BG/NBD probability that the customer is still active at the as-of date (1 without repeat "
        "purchases: BG/NBD dropout happens at a purchase). NULL when the fit used did not converge.",
    )
    expected_margin_per_order: pl.Float64 = pa.Field(
        nullable=True,
        description="Gamma-Gamma expected margin per future purchase day = (1 - w) x population mean p v / (q - "
        "1) + w x monetary_value, w = p x frequency / (p x frequency + q - 1); the population mean "
        "without repeat purchases. NULL when the fit used did not converge.",
    )
    expected_orders_1m: pl.Float64 = pa.Field(nullable=True, ge=0, description=_EXPECTED_ORDERS.format(h=1))
    expected_orders_3m: pl.Float64 = pa.Field(nullable=True, ge=0, description=_EXPECTED_ORDERS.format(h=3))
    expected_orders_6m: pl.Float64 = pa.Field(nullable=True, ge=0, description=_EXPECTED_ORDERS.format(h=6))
    expected_orders_12m: pl.Float64 = pa.Field(nullable=True, ge=0, description=_EXPECTED_ORDERS.format(h=12))
    expected_orders_24m: pl.Float64 = pa.Field(nullable=True, ge=0, description=_EXPECTED_ORDERS.format(h=24))
    expected_margin_1m: pl.Float64 = pa.Field(nullable=True, description=_EXPECTED_MARGIN.format(h=1))
    expected_margin_3m: pl.Float64 = pa.Field(nullable=True, description=_EXPECTED_MARGIN.format(h=3))
    expected_margin_6m: pl.Float64 = pa.Field(nullable=True, description=_EXPECTED_MARGIN.format(h=6))
    expected_margin_12m: pl.Float64 = pa.Field(nullable=True, description=_EXPECTED_MARGIN.format(h=12))
    expected_margin_24m: pl.Float64 = pa.Field(nullable=True, description=_EXPECTED_MARGIN.format(h=24))
    expected_margin_to_horizon_1: pl.Float64 = pa.Field(nullable=True, description=_TO_HORIZON.format(h=1, k=0))
    expected_margin_to_horizon_3: pl.Float64 = pa.Field(nullable=True, description=_TO_HORIZON.format(h=3, k=2))
    expected_margin_to_horizon_6: pl.Float64 = pa.Field(nullable=True, description=_TO_HORIZON.format(h=6, k=5))
    expected_margin_to_horizon_12: pl.Float64 = pa.Field(nullable=True, description=_TO_HORIZON.format(h=12, k=11))
    expected_margin_to_horizon_24: pl.Float64 = pa.Field(nullable=True, description=_TO_HORIZON.format(h=24, k=23))

    class Config:
        name = "marts.customer_ltv_predicted"
        description = (
            "Predicted LTV per customer (docs/metrics.md 'Predicted LTV'): BG/NBD for repeat purchase days and Gamma-Gamma "
            "for margin per purchase, fitted by maximum likelihood on the daily summary of valid orders up to the fit "
            "date (the last ltv.cadence boundary on or before the as-of date), per acquisition channel with at least "
            "ltv.min_customers_per_fit customers, else pooled (pipelines/transform/models/ltv_predict.py; fits in "
            "quality.ltv_fits, back-test in quality.ltv_backtest); every customer scored at the as-of date. Rebuilt whole "
            "every run."
        )


class LtvFits(pa.DataFrameModel):
    """One row per fit attempted or skipped: forecast and back-test, pooled and per channel."""

    purpose: pl.String = pa.Field(
        nullable=False,
        isin=["forecast", "backtest"],
        description="'forecast': the fits behind marts.customer_ltv_predicted (data to the fit date); "
        "'backtest': those behind quality.ltv_backtest (data to the fit date - 6 months).",
    )
    summary_as_of: pl.Date = pa.Field(
        nullable=False,
        description="The date the customers' summary was taken at: the fit date (the last ltv.cadence boundary on or "
        "before the as-of date), or 6 months before it for the back-test.",
    )
    fit: pl.String = pa.Field(
        nullable=False,
        description="'pooled' (all customers) or the acquisition channel (marts.customer_ltv_predicted.channel).",
    )
    customers: pl.Int64 = pa.Field(
        nullable=False, ge=0, description="Customers acquired up to summary_as_of in this group."
    )
    repeat_customers: pl.Int64 = pa.Field(
        nullable=False, ge=0, description="Of them, customers with at least one repeat purchase day."
    )
    value_customers: pl.Int64 = pa.Field(
        nullable=False,
        ge=0,
        description="Of them, repeat customers with a positive mean margin per repeat day: the Gamma-Gamma sample.",
    )
    status: pl.String = pa.Field(
        nullable=False,
        isin=["fitted", "too_small", "not_converged"],
        description="'fitted': both models converged; 'too_small': fewer customers than "
        "ltv.min_customers_per_fit, not fitted; 'not_converged': BG/NBD or Gamma-Gamma did not "
        "converge (see message). A channel that is too small or did not converge uses the pooled "
        "fit; when the pooled fit did not converge, the customers that need it get NULL "
        "predictions.",
    )
    fit_used: pl.String = pa.Field(
        nullable=False, description="The fit this group's customers are predicted with: the channel itself or 'pooled'."
    )
    bgnbd_converged: pl.Boolean = pa.Field(
        nullable=True,
        description="BG/NBD maximum likelihood converged (scipy L-BFGS-B success or a vanishing gradient, no parameter on its bound). NULL when not fitted.",
    )
    gamma_gamma_converged: pl.Boolean = pa.Field(
        nullable=True,
        description="Gamma-Gamma maximum likelihood converged and q > 1 (a finite mean margin). NULL when not fitted.",
    )
    r: pl.Float64 = pa.Field(nullable=True, description="BG/NBD r: shape of the gamma distribution of purchase rates.")
    alpha: pl.Float64 = pa.Field(
        nullable=True, description="BG/NBD alpha: scale of the gamma distribution of purchase rates, in days."
    )
    a: pl.Float64 = pa.Field(
        nullable=True,
        description="BG/NBD a: first parameter of the beta distribution of the dropout probability after a purchase.",
    )
    b: pl.Float64 = pa.Field(
        nullable=True,
        description="BG/NBD b: second parameter of the beta distribution of the dropout probability after a purchase.",
    )
    p: pl.Float64 = pa.Field(
        nullable=True, description="Gamma-Gamma p: shape of the gamma distribution of a purchase's margin."
    )
    q: pl.Float64 = pa.Field(
        nullable=True, description="Gamma-Gamma q: shape of the gamma distribution of the customers' scale parameters."
    )
    v: pl.Float64 = pa.Field(
        nullable=True,
        description="Gamma-Gamma v: scale of that distribution, in the reporting currency; mean margin per purchase = p v / (q - 1).",
    )
    bgnbd_log_likelihood: pl.Float64 = pa.Field(
        nullable=True, description="BG/NBD log-likelihood per customer at the fitted parameters."
    )
    gamma_gamma_log_likelihood: pl.Float64 = pa.Field(
        nullable=True, description="Gamma-Gamma log-likelihood per customer of the sample at the fitted parameters."
    )
    message: pl.String = pa.Field(
        nullable=True,
        description="The optimiser's messages (with the largest gradient at the end), or why the group was not fitted.",
    )
    fit_key: pl.String = pa.Field(
        nullable=False,
        description="SHA-256 of the fit's inputs (the orders and first purchases up to the fit date that the summary "
        "reads, the dates, the SQL, the settings): a run whose key matches keeps these fits and only rescores.",
    )

    class Config:
        name = "quality.ltv_fits"
        description = (
            "Every BG/NBD and Gamma-Gamma fit of the predicted LTV, for the forecast and the back-test: the pooled fit "
            "and one row per acquisition channel, fitted or not (too small, not converged) and which fit its customers use. "
            "Nothing is dropped silently. Refitted as of the last ltv.cadence boundary when the fit's inputs changed "
            "(fit_key), else kept."
        )


class LtvBacktest(pa.DataFrameModel):
    """One row per acquisition channel plus 'all'."""

    calibration_end: pl.Date = pa.Field(
        nullable=False,
        description="The fit date - 6 months: the fits see valid orders up to this day and customers acquired by then.",
    )
    holdout_start: pl.Date = pa.Field(nullable=False, description="First day predicted: calibration_end + 1 day.")
    holdout_end: pl.Date = pa.Field(
        nullable=False, description="Last day predicted: the fit date (quality.ltv_fits.summary_as_of, 'forecast')."
    )
    channel: pl.String = pa.Field(
        nullable=False,
        description="Acquisition channel (as in marts.customer_ltv_predicted), or 'all' for every customer.",
    )
    fit_used: pl.String = pa.Field(
        nullable=True,
        description="The fit the channel's customers were predicted with: the channel or 'pooled' "
        "(quality.ltv_fits, purpose 'backtest'); NULL on the 'all' row.",
    )
    customers: pl.Int64 = pa.Field(nullable=False, ge=1, description="Customers acquired up to calibration_end.")
    predicted_orders: pl.Float64 = pa.Field(
        nullable=True,
        ge=0,
        description="Σ BG/NBD expected repeat purchase days in the holdout. NULL when a customer's fit did not converge.",
    )
    actual_orders: pl.Float64 = pa.Field(
        nullable=False, ge=0, description="Σ distinct days with a valid order in the holdout."
    )
    orders_error: pl.Float64 = pa.Field(nullable=True, description="predicted_orders - actual_orders.")
    orders_relative_error: pl.Float64 = pa.Field(
        nullable=True, description="orders_error / actual_orders; NULL when actual_orders is 0."
    )
    predicted_margin: pl.Float64 = pa.Field(
        nullable=True,
        description="Σ expected repeat purchase days x Gamma-Gamma expected margin per purchase day, for the holdout; reporting currency.",
    )
    actual_margin: pl.Float64 = pa.Field(
        nullable=False,
        description="Σ gross margin of the valid orders in the holdout, net of their partial refunds known at the fit date.",
    )
    margin_error: pl.Float64 = pa.Field(nullable=True, description="predicted_margin - actual_margin.")
    margin_relative_error: pl.Float64 = pa.Field(
        nullable=True, description="margin_error / actual_margin; NULL when actual_margin is 0."
    )

    class Config:
        name = "quality.ltv_backtest"
        description = (
            "Back-test of the predicted LTV, rebuilt with every refit: the models refitted on the data up to the fit date - 6 "
            "months predict the next 6 months of the customers acquired by then; predicted against actual repeat purchase "
            "days and margin per acquisition channel, with the errors. The fits are in quality.ltv_fits (purpose 'backtest')."
        )


TABLES = [CustomerLtvPredicted, LtvFits, LtvBacktest]
