"""Pandera (polars) models of the cohort, LTV and payback marts (issue 4), one per published table.

They give the warehouse its table and column comments (pipelines.core.table_comments.apply_comments) and check
the built tables in tests. Definitions follow docs/metrics.md "Cohorts, LTV, payback"; where
docs/metrics.md is silent, the choice is written into the description so analysts see it in their client.
"""

from __future__ import annotations

import pandera.polars as pa
import polars as pl

BANDS = ["loss", "break_even", "low", "healthy", "excellent", "insufficient_data"]
# The LTV horizons in months: the published columns ltv_margin_{h}, ltv_revenue_{h} and their predictions
# (marts.channel_ltv, marts.channel_summary, marts.customer_ltv_predicted). Not a setting: a horizon is a column.
LTV_HORIZONS = (1, 3, 6, 12, 24)

_WEIGHTED = "weighted by attribution credit"

# Columns shared by channel_ltv (one cohort) and channel_summary (cohorts of the window, pooled).
_LTV = (
    "Historical margin LTV at {h} month(s): cumulative gross margin (net of partial refunds) of "
    "the cohort's valid orders with month index k < {h}, first purchase included, per weighted "
    "customer. NULL while month index {k} has not ended on or before the as-of date (horizon "
    "incomplete, never extrapolated)."
)
_LTV_REVENUE = "Historical revenue LTV at {h} month(s): as ltv_margin_{h} but on revenue net of partial refunds. NULL while the horizon is incomplete."
_PREDICTED = (
    "Predicted margin LTV at {h} month(s) (docs/metrics.md 'Predicted LTV'): ltv_margin_{h} "
    "once the horizon is lived; before, the margin observed so far (net of partial refunds) "
    "plus the credit-weighted expected margin of the cohort's customers from the as-of date to "
    "the end of month index {k} (marts.customer_ltv_predicted.expected_margin_to_horizon_{h}), "
    "per weighted customer. NULL when a customer of the cohort has no prediction (its fit did "
    "not converge: quality.ltv_fits)."
)
_PREDICTED_PAYBACK = (
    "Predicted payback in months: payback_months_observed once reached; else the month at which "
    "the predicted LTV curve - linear between its points at 0 (nothing), 1, 3, 6, 12 and 24 "
    "months (ltv_margin_h_predicted) - reaches cac_full, rounded up and never inside the months "
    "already complete. NULL when it does not within 24 months, or without cac_full."
)
_DOC = {
    "cac_paid": "Paid CAC = ad spend / new customers, from marts.channel_period_cac (period_grain 'month') "
    "of the acquisition month, channel and model. NULL when unknown or there were no new "
    "customers.",
    "cac_full": "Fully loaded CAC = (ad spend + direct costs + allocated shared costs) / new customers, "
    "from marts.channel_period_cac (period_grain 'month'). Used by LTV:CAC and both paybacks.",
    "ltv_cac_12": "LTV:CAC = ltv_margin_12 / cac_full of the same cohorts. NULL when the 12-month horizon is incomplete or cac_full is NULL or 0.",
    "ltv_cac_band": "Band of ltv_cac_12: < 1 loss, 1-2 break_even, 2-3 low, 3-4 healthy, >= 4 excellent (lower bound "
    "included); insufficient_data when fewer than report.min_customers_for_band (default 30) customers stand behind "
    "the ratio (ltv_12_customers). NULL when ltv_cac_12 is NULL with enough customers (no CAC).",
    "ltv_cac_12_predicted": "Predicted LTV:CAC = ltv_margin_12_predicted / cac_full (equal to ltv_cac_12 once 12 months "
    "are lived). NULL when either is NULL or cac_full is 0.",
    "ltv_cac_band_predicted": "Band of ltv_cac_12_predicted: < 1 loss, 1-2 break_even, 2-3 low, 3-4 healthy, >= 4 "
    "excellent (lower bound included); insufficient_data with fewer than report.min_customers_for_band customers. "
    "NULL when ltv_cac_12_predicted is NULL with enough customers.",
    "ltv_12_customers": "Customers behind ltv_margin_12 (Σ credits of the cohorts that have lived 12 months); 0 when none has.",
    "interval": "{bound} of the 90 % interval of {of}: credit-weighted mean ± t(0.95, n_eff - 1) x SE with "
    "SE² = m / (m - 1) x Σw²(x - x̄)² / (Σw)², n_eff = (Σw)² / Σw², x a customer's 12-month margin, w its credit. "
    "NULL with fewer than 5 effective customers.",
    "interval_ratio": "{bound} of the 90 % interval of {of}: the LTV interval's bound divided by the same CAC.",
    "payback_months_simple": "Simple payback in months = cac_full / monthly_margin_per_active (average monthly gross "
    "margin per active customer). NULL when either is missing or the margin is 0.",
    "ltv_formula": "Formula LTV = avg_order_value x monthly_orders_per_active x margin_rate x (1 / "
    "monthly_churn), i.e. expected margin per customer over the expected lifetime in months. "
    "NULL when monthly_churn is NULL (unknown) or <= 0.",
    "avg_order_value": "Average order value (average check) = revenue net of partial refunds / valid orders, to the as-of date, weighted by credit.",
    "orders_per_customer": "Valid orders per customer to the as-of date (first purchase included) = weighted orders / weighted customers.",
    "repeat_purchase_rate": "Share of the weighted customers with 2 or more valid orders up to the as-of date.",
    "margin_rate": "Gross margin / revenue, both net of partial refunds, over all observed months.",
    "monthly_orders_per_active": "Orders per active customer per month = Σ weighted orders / Σ weighted active customers, "
    "pooled over every observed month (acquisition month and the partial as-of month included).",
    "monthly_margin_per_active": "Average monthly gross margin per active customer = Σ weighted margin (net of refunds) / Σ "
    "weighted active customers, pooled over every observed month (acquisition month and the "
    "partial as-of month included). Denominator of payback_months_simple.",
    "monthly_churn": "Monthly churn = 1 - pooled month-over-month retention of activity = 1 - Σ active(k) / Σ "
    "active(k-1) over complete month indexes k >= 1 (the partial as-of month is left out). NULL "
    "while no complete month k >= 1 exists.",
}


class CohortMembers(pa.DataFrameModel):
    """Members of acquisition cohorts: one row per customer x attribution model x channel credited."""

    customer_key: pl.String = pa.Field(
        nullable=False, description="Stitched customer identity (marts.first_purchases.customer_key)."
    )
    cohort_month: pl.Date = pa.Field(
        nullable=False, description="Acquisition month: first day of the month of the customer's first valid purchase."
    )
    attribution_model: pl.String = pa.Field(
        nullable=False,
        description="Attribution model the credit comes from (first_touch, last_touch, last_non_direct, linear, time_decay, position_based, markov, shapley).",
    )
    channel: pl.String = pa.Field(
        nullable=False,
        description="Channel credited for the first purchase; credit a model leaves unassigned (no attribution rows) goes to 'unattributed'.",
    )
    credit: pl.Float64 = pa.Field(
        nullable=False,
        gt=0,
        le=1 + 1e-9,
        description="Attribution credit of this channel for the customer's first purchase (sums to 1 per "
        "customer and model); the customer's weight in the cohort.",
    )

    class Config:
        name = "marts.cohort_members"
        description = (
            "Acquisition cohort membership: each customer acquired up to the as-of date, per attribution model, "
            "with the credit each channel got for the first purchase as the customer's weight. Base of cohort_ltv, "
            "channel_ltv and channel_summary."
        )


class CohortLtv(pa.DataFrameModel):
    """One row per acquisition month x channel x attribution model x month index."""

    cohort_month: pl.Date = pa.Field(
        nullable=False, description="Acquisition month: first day of the month of the cohort's first purchases."
    )
    channel: pl.String = pa.Field(
        nullable=False, description="Channel credited for the first purchases ('unattributed' when there was no touch)."
    )
    attribution_model: pl.String = pa.Field(
        nullable=False, description="Attribution model whose credits weight the cohort."
    )
    month_index: pl.Int32 = pa.Field(
        nullable=False,
        ge=0,
        description="k = calendar months between activity_month and cohort_month; 0 = the acquisition month. "
        "Runs up to the as-of month, so young cohorts have fewer rows.",
    )
    activity_month: pl.Date = pa.Field(
        nullable=False, description="First day of the calendar month k months after cohort_month."
    )
    month_complete: pl.Boolean = pa.Field(
        nullable=False,
        description="True when activity_month ended on or before the as-of date; false for the partial as-of month.",
    )
    cohort_customers: pl.Float64 = pa.Field(
        nullable=False,
        gt=0,
        description=f"Customers acquired in cohort_month through this channel, {_WEIGHTED} (fractional under multi-touch models).",
    )
    active_customers: pl.Float64 = pa.Field(
        nullable=False, ge=0, description=f"Cohort customers with at least one valid order in month k, {_WEIGHTED}."
    )
    retention_rate: pl.Float64 = pa.Field(
        nullable=False,
        ge=0,
        le=1 + 1e-9,
        description="active_customers / cohort_customers: share of the cohort ordering in month k.",
    )
    orders: pl.Float64 = pa.Field(
        nullable=False, ge=0, description=f"Valid orders of the cohort placed in month k, {_WEIGHTED}."
    )
    repeat_customers: pl.Float64 = pa.Field(
        nullable=False,
        ge=0,
        description=f"Cohort customers whose second valid order was placed in month k or earlier, {_WEIGHTED}; "
        f"at the as-of month, the customers with 2 or more valid orders to date.",
    )
    revenue: pl.Float64 = pa.Field(
        nullable=False,
        description=f"Revenue of the cohort's valid orders placed in month k minus partial refunds whose "
        f"refunded_at falls in month k, {_WEIGHTED}; reporting currency. Can be negative in a month "
        f"with only refunds.",
    )
    margin: pl.Float64 = pa.Field(
        nullable=False,
        description=f"Gross margin of the cohort's valid orders placed in month k minus the margin of partial "
        f"refunds whose refunded_at falls in month k, {_WEIGHTED}; reporting currency.",
    )
    cum_revenue_per_customer: pl.Float64 = pa.Field(
        nullable=False, description="Σ revenue over month indexes 0..k / cohort_customers."
    )
    cum_margin_per_customer: pl.Float64 = pa.Field(
        nullable=False,
        description="Σ margin over month indexes 0..k / cohort_customers; at k = h - 1 on a complete month this is the historical margin LTV at h months.",
    )

    class Config:
        name = "marts.cohort_ltv"
        description = (
            "Acquisition cohorts month by month: one row per acquisition month x channel x attribution model x month "
            "index k (0 = acquisition month), weighted by attribution credit. Rows run to the as-of month (a month with "
            "no orders inside that span has zeros; nothing is filled in beyond it). Built whole from all history."
        )


class ChannelLtv(pa.DataFrameModel):
    """One row per acquisition month x channel x attribution model."""

    cohort_month: pl.Date = pa.Field(
        nullable=False, description="Acquisition month: first day of the month of the cohort's first purchases."
    )
    channel: pl.String = pa.Field(
        nullable=False, description="Channel credited for the first purchases ('unattributed' when there was no touch)."
    )
    attribution_model: pl.String = pa.Field(
        nullable=False, description="Attribution model whose credits weight the cohort."
    )
    customers: pl.Float64 = pa.Field(
        nullable=False, gt=0, description=f"Customers acquired (new customers), {_WEIGHTED}."
    )
    cac_paid: pl.Float64 = pa.Field(nullable=True, description=_DOC["cac_paid"])
    cac_full: pl.Float64 = pa.Field(nullable=True, description=_DOC["cac_full"])
    ltv_margin_1: pl.Float64 = pa.Field(nullable=True, description=_LTV.format(h=1, k=0))
    ltv_margin_3: pl.Float64 = pa.Field(nullable=True, description=_LTV.format(h=3, k=2))
    ltv_margin_6: pl.Float64 = pa.Field(nullable=True, description=_LTV.format(h=6, k=5))
    ltv_margin_12: pl.Float64 = pa.Field(nullable=True, description=_LTV.format(h=12, k=11))
    ltv_margin_24: pl.Float64 = pa.Field(nullable=True, description=_LTV.format(h=24, k=23))
    ltv_revenue_1: pl.Float64 = pa.Field(nullable=True, description=_LTV_REVENUE.format(h=1))
    ltv_revenue_3: pl.Float64 = pa.Field(nullable=True, description=_LTV_REVENUE.format(h=3))
    ltv_revenue_6: pl.Float64 = pa.Field(nullable=True, description=_LTV_REVENUE.format(h=6))
    ltv_revenue_12: pl.Float64 = pa.Field(nullable=True, description=_LTV_REVENUE.format(h=12))
    ltv_revenue_24: pl.Float64 = pa.Field(nullable=True, description=_LTV_REVENUE.format(h=24))
    ltv_cac_12: pl.Float64 = pa.Field(nullable=True, description=_DOC["ltv_cac_12"])
    ltv_cac_band: pl.String = pa.Field(nullable=True, isin=BANDS, description=_DOC["ltv_cac_band"])
    ltv_12_customers: pl.Float64 = pa.Field(nullable=False, ge=0, description=_DOC["ltv_12_customers"])
    ltv_margin_12_low: pl.Float64 = pa.Field(
        nullable=True, description=_DOC["interval"].format(bound="Lower bound", of="ltv_margin_12")
    )
    ltv_margin_12_high: pl.Float64 = pa.Field(
        nullable=True, description=_DOC["interval"].format(bound="Upper bound", of="ltv_margin_12")
    )
    ltv_cac_12_low: pl.Float64 = pa.Field(
        nullable=True, description=_DOC["interval_ratio"].format(bound="Lower bound", of="ltv_cac_12")
    )
    ltv_cac_12_high: pl.Float64 = pa.Field(
        nullable=True, description=_DOC["interval_ratio"].format(bound="Upper bound", of="ltv_cac_12")
    )
    ltv_12_members: pl.Int64 = pa.Field(
        nullable=False,
        ge=0,
        description="Customers with a credit > 0 in a cohort that has lived 12 months (m of the interval).",
    )
    ltv_12_sum_w2: pl.Float64 = pa.Field(
        nullable=True,
        description="Σ credit² over the cohort's customers (lived 12 months only): with ltv_12_sum_w2x "
        "and ltv_12_sum_w2x2, the sums that pool intervals over any set of cohorts.",
    )
    ltv_12_sum_w2x: pl.Float64 = pa.Field(
        nullable=True, description="Σ credit² x 12-month margin over the cohort's customers (lived 12 months only)."
    )
    ltv_12_sum_w2x2: pl.Float64 = pa.Field(
        nullable=True, description="Σ credit² x (12-month margin)² over the cohort's customers (lived 12 months only)."
    )
    payback_months_observed: pl.Int32 = pa.Field(
        nullable=True,
        ge=1,
        description="Observed payback: the smallest k + 1 (acquisition month = month 1) at which cumulative "
        "margin per customer >= cac_full; the partial as-of month counts. NULL while not yet "
        "reached or without cac_full - see months_observed.",
    )
    months_observed: pl.Int32 = pa.Field(
        nullable=False,
        ge=1,
        description="Months the cohort has been observed: month indexes 0 to the as-of month, the partial as-of "
        "month included (= its rows in marts.cohort_ltv).",
    )
    ltv_margin_1_predicted: pl.Float64 = pa.Field(nullable=True, description=_PREDICTED.format(h=1, k=0))
    ltv_margin_3_predicted: pl.Float64 = pa.Field(nullable=True, description=_PREDICTED.format(h=3, k=2))
    ltv_margin_6_predicted: pl.Float64 = pa.Field(nullable=True, description=_PREDICTED.format(h=6, k=5))
    ltv_margin_12_predicted: pl.Float64 = pa.Field(nullable=True, description=_PREDICTED.format(h=12, k=11))
    ltv_margin_24_predicted: pl.Float64 = pa.Field(nullable=True, description=_PREDICTED.format(h=24, k=23))
    ltv_cac_12_predicted: pl.Float64 = pa.Field(nullable=True, description=_DOC["ltv_cac_12_predicted"])
    ltv_cac_band_predicted: pl.String = pa.Field(nullable=True, isin=BANDS, description=_DOC["ltv_cac_band_predicted"])
    payback_months_predicted: pl.Int32 = pa.Field(nullable=True, ge=1, description=_PREDICTED_PAYBACK)
    payback_months_simple: pl.Float64 = pa.Field(nullable=True, description=_DOC["payback_months_simple"])
    ltv_formula: pl.Float64 = pa.Field(nullable=True, description=_DOC["ltv_formula"])
    avg_order_value: pl.Float64 = pa.Field(nullable=True, description=_DOC["avg_order_value"])
    orders_per_customer: pl.Float64 = pa.Field(nullable=False, description=_DOC["orders_per_customer"])
    repeat_purchase_rate: pl.Float64 = pa.Field(
        nullable=False, ge=0, le=1 + 1e-9, description=_DOC["repeat_purchase_rate"]
    )
    margin_rate: pl.Float64 = pa.Field(nullable=True, description=_DOC["margin_rate"])
    monthly_orders_per_active: pl.Float64 = pa.Field(nullable=True, description=_DOC["monthly_orders_per_active"])
    monthly_margin_per_active: pl.Float64 = pa.Field(nullable=True, description=_DOC["monthly_margin_per_active"])
    monthly_churn: pl.Float64 = pa.Field(nullable=True, description=_DOC["monthly_churn"])
    orders: pl.Float64 = pa.Field(
        nullable=False, ge=0, description=f"Valid orders of the cohort up to the as-of date, {_WEIGHTED}."
    )
    revenue: pl.Float64 = pa.Field(
        nullable=False, description=f"Revenue of the cohort up to the as-of date, net of partial refunds, {_WEIGHTED}."
    )
    margin: pl.Float64 = pa.Field(
        nullable=False,
        description=f"Gross margin of the cohort up to the as-of date, net of partial refunds, {_WEIGHTED}.",
    )
    active_customer_months: pl.Float64 = pa.Field(
        nullable=False,
        ge=0,
        description="Σ active_customers over the observed months (partial as-of month included): the denominator of the per-active-customer monthly rates.",
    )
    repeat_customers: pl.Float64 = pa.Field(
        nullable=False, ge=0, description=f"Customers with 2 or more valid orders up to the as-of date, {_WEIGHTED}."
    )

    class Config:
        name = "marts.channel_ltv"
        description = (
            "LTV, payback and LTV:CAC per acquisition cohort: one row per acquisition month x channel x attribution "
            "model. Historical LTV at 1/3/6/12/24 months is NULL where the cohort has not lived through the horizon; "
            "the *_predicted columns fill it with the observed margin so far plus the BG/NBD x Gamma-Gamma expectation "
            "(marts.customer_ltv_predicted). CAC comes from marts.channel_period_cac (month grain)."
        )


class ChannelSummary(pa.DataFrameModel):
    """One row per channel x attribution model over the summary window of cohorts."""

    channel: pl.String = pa.Field(
        nullable=False, description="Channel credited for the first purchases ('unattributed' when there was no touch)."
    )
    attribution_model: pl.String = pa.Field(
        nullable=False,
        description="Attribution model whose credits weight the cohorts; last_non_direct is the headline default.",
    )
    window_start: pl.Date = pa.Field(
        nullable=False,
        description="First acquisition month in the window (included): window_end minus summary_months - 1 months.",
    )
    window_end: pl.Date = pa.Field(
        nullable=False,
        description="Last acquisition month in the window (included): the last month that ended on or before the as-of date.",
    )
    cohorts: pl.Int32 = pa.Field(
        nullable=False, ge=1, description="Acquisition months in the window with customers for this channel and model."
    )
    customers: pl.Float64 = pa.Field(
        nullable=False, gt=0, description=f"New customers acquired in the window, {_WEIGHTED}."
    )
    cac_paid: pl.Float64 = pa.Field(
        nullable=True,
        description="New-customer-weighted paid CAC over the window = Σ ad_spend / Σ new_customers of the "
        "window's months in marts.channel_period_cac (month grain); spend of months without new "
        "customers included. NULL when the window has no new customers there.",
    )
    cac_full: pl.Float64 = pa.Field(
        nullable=True,
        description="New-customer-weighted fully loaded CAC over the window = Σ total_cost / Σ new_customers of "
        "the window's months in marts.channel_period_cac (month grain); costs of months without new "
        "customers included. Used by ltv_cac_12 and both paybacks.",
    )
    ltv_margin_1: pl.Float64 = pa.Field(
        nullable=True,
        description="Margin LTV at 1 month, customer-weighted over the window's cohorts complete at that horizon; NULL if none is.",
    )
    ltv_margin_3: pl.Float64 = pa.Field(
        nullable=True,
        description="Margin LTV at 3 months, customer-weighted over the window's cohorts complete at that horizon; NULL if none is.",
    )
    ltv_margin_6: pl.Float64 = pa.Field(
        nullable=True,
        description="Margin LTV at 6 months, customer-weighted over the window's cohorts complete at that horizon; NULL if none is.",
    )
    ltv_margin_12: pl.Float64 = pa.Field(
        nullable=True,
        description="Margin LTV at 12 months, customer-weighted over the window's cohorts complete at that horizon "
        "(ltv_12_customers behind it); NULL if none is.",
    )
    ltv_margin_24: pl.Float64 = pa.Field(
        nullable=True,
        description="Margin LTV at 24 months, customer-weighted over the window's cohorts complete at that "
        "horizon; NULL if none is (always so with a 12-month window).",
    )
    ltv_revenue_1: pl.Float64 = pa.Field(
        nullable=True,
        description="Revenue LTV at 1 month, customer-weighted over the window's cohorts complete at that horizon; NULL if none is.",
    )
    ltv_revenue_3: pl.Float64 = pa.Field(
        nullable=True,
        description="Revenue LTV at 3 months, customer-weighted over the window's cohorts complete at that horizon; NULL if none is.",
    )
    ltv_revenue_6: pl.Float64 = pa.Field(
        nullable=True,
        description="Revenue LTV at 6 months, customer-weighted over the window's cohorts complete at that horizon; NULL if none is.",
    )
    ltv_revenue_12: pl.Float64 = pa.Field(
        nullable=True,
        description="Revenue LTV at 12 months, customer-weighted over the window's cohorts complete at that horizon; NULL if none is.",
    )
    ltv_revenue_24: pl.Float64 = pa.Field(
        nullable=True,
        description="Revenue LTV at 24 months, customer-weighted over the window's cohorts complete at that horizon; NULL if none is.",
    )
    ltv_cac_12: pl.Float64 = pa.Field(nullable=True, description=_DOC["ltv_cac_12"])
    ltv_12_customers: pl.Float64 = pa.Field(
        nullable=False,
        ge=0,
        description="Customers behind ltv_margin_12 and ltv_cac_12: Σ credits of the window's "
        "cohorts that have lived 12 months (with the default 12-month window only its first month has); 0 when none has.",
    )
    cac_full_12: pl.Float64 = pa.Field(
        nullable=True,
        description="Fully loaded CAC of the same cohorts as ltv_margin_12 (the window's months that "
        "have lived 12 months; costs of months without new customers included): the bottom of ltv_cac_12.",
    )
    ltv_margin_12_low: pl.Float64 = pa.Field(
        nullable=True, description=_DOC["interval"].format(bound="Lower bound", of="ltv_margin_12")
    )
    ltv_margin_12_high: pl.Float64 = pa.Field(
        nullable=True, description=_DOC["interval"].format(bound="Upper bound", of="ltv_margin_12")
    )
    ltv_cac_12_low: pl.Float64 = pa.Field(
        nullable=True, description=_DOC["interval_ratio"].format(bound="Lower bound", of="ltv_cac_12")
    )
    ltv_cac_12_high: pl.Float64 = pa.Field(
        nullable=True, description=_DOC["interval_ratio"].format(bound="Upper bound", of="ltv_cac_12")
    )
    ltv_cac_band: pl.String = pa.Field(nullable=True, isin=BANDS, description=_DOC["ltv_cac_band"])
    payback_months_observed: pl.Int32 = pa.Field(
        nullable=True,
        ge=1,
        description="Observed payback on the pooled curve: smallest k + 1 at which the customer-weighted "
        "cumulative margin per customer of the window's cohorts whose month k is complete reaches "
        "cac_full. NULL while not reached.",
    )
    months_observed: pl.Int32 = pa.Field(
        nullable=True,
        ge=1,
        description="Length of the pooled curve: complete months observed of the window's oldest cohort (partial as-of month excluded).",
    )
    payback_months_simple: pl.Float64 = pa.Field(
        nullable=True, description=_DOC["payback_months_simple"] + " Pooled over the window's cohorts."
    )
    ltv_formula: pl.Float64 = pa.Field(
        nullable=True, description=_DOC["ltv_formula"] + " Inputs pooled over the window's cohorts."
    )
    avg_order_value: pl.Float64 = pa.Field(nullable=True, description=_DOC["avg_order_value"])
    orders_per_customer: pl.Float64 = pa.Field(
        nullable=False, description=_DOC["orders_per_customer"] + " Cohorts of different ages are pooled."
    )
    repeat_purchase_rate: pl.Float64 = pa.Field(
        nullable=False, ge=0, le=1 + 1e-9, description=_DOC["repeat_purchase_rate"]
    )
    margin_rate: pl.Float64 = pa.Field(nullable=True, description=_DOC["margin_rate"])
    monthly_orders_per_active: pl.Float64 = pa.Field(nullable=True, description=_DOC["monthly_orders_per_active"])
    monthly_margin_per_active: pl.Float64 = pa.Field(nullable=True, description=_DOC["monthly_margin_per_active"])
    monthly_churn: pl.Float64 = pa.Field(
        nullable=True, description=_DOC["monthly_churn"] + " Pooled over the window's cohorts."
    )
    ltv_margin_1_predicted: pl.Float64 = pa.Field(
        nullable=True,
        description="Predicted margin LTV at 1 month, customer-weighted over all the window's cohorts "
        "(marts.channel_ltv.ltv_margin_1_predicted: observed where lived, else observed so far + "
        "expected). NULL if one cohort's prediction is.",
    )
    ltv_margin_3_predicted: pl.Float64 = pa.Field(
        nullable=True,
        description="Predicted margin LTV at 3 months, customer-weighted over all the window's cohorts "
        "(marts.channel_ltv.ltv_margin_3_predicted). NULL if one cohort's prediction is.",
    )
    ltv_margin_6_predicted: pl.Float64 = pa.Field(
        nullable=True,
        description="Predicted margin LTV at 6 months, customer-weighted over all the window's cohorts "
        "(marts.channel_ltv.ltv_margin_6_predicted). NULL if one cohort's prediction is.",
    )
    ltv_margin_12_predicted: pl.Float64 = pa.Field(
        nullable=True,
        description="Predicted margin LTV at 12 months, customer-weighted over all the window's cohorts "
        "(marts.channel_ltv.ltv_margin_12_predicted): the figure to judge this year's acquisition "
        "by. NULL if one cohort's prediction is.",
    )
    ltv_margin_24_predicted: pl.Float64 = pa.Field(
        nullable=True,
        description="Predicted margin LTV at 24 months, customer-weighted over all the window's cohorts "
        "(marts.channel_ltv.ltv_margin_24_predicted). NULL if one cohort's prediction is.",
    )
    ltv_cac_12_predicted: pl.Float64 = pa.Field(
        nullable=True,
        description="Predicted LTV:CAC of the window = ltv_margin_12_predicted / cac_full. NULL when either is NULL or cac_full is 0.",
    )
    ltv_cac_band_predicted: pl.String = pa.Field(nullable=True, isin=BANDS, description=_DOC["ltv_cac_band_predicted"])
    ltv_backtest_error: pl.Float64 = pa.Field(
        nullable=True,
        description="How far this channel's LTV fit was off when it last predicted 6 months it had not seen "
        "(quality.ltv_backtest.margin_relative_error: predicted / actual margin - 1): the predicted figures' "
        "error bar. NULL where the channel had no back-test.",
    )
    payback_months_predicted: pl.Int32 = pa.Field(
        nullable=True,
        ge=1,
        description="Predicted payback of the window: payback_months_observed once reached; else where the "
        "pooled predicted LTV curve (linear between its points at 0, 1, 3, 6, 12 and 24 months) "
        "reaches cac_full, rounded up and after months_observed. NULL when not within 24 months, or "
        "without cac_full.",
    )
    customers_older_cohorts: pl.Float64 = pa.Field(
        nullable=False,
        ge=0,
        description=f"Customers acquired in the summary_months acquisition months before the window "
        f"(window_start - summary_months to window_start - 1 month), {_WEIGHTED}: the older cohorts "
        f"that have lived their 12 months. 0 when there were none.",
    )
    ltv_margin_12_older_cohorts: pl.Float64 = pa.Field(
        nullable=True,
        description="Observed margin LTV at 12 months of the older cohorts (see customers_older_cohorts), "
        "customer-weighted over those complete at 12 months: the lived figure to set beside "
        "ltv_margin_12_predicted. NULL if none is.",
    )
    cac_full_older_cohorts: pl.Float64 = pa.Field(
        nullable=True,
        description="New-customer-weighted fully loaded CAC of the older cohorts' acquisition months = Σ "
        "total_cost / Σ new_customers in marts.channel_period_cac (month grain).",
    )
    ltv_cac_12_older_cohorts: pl.Float64 = pa.Field(
        nullable=True,
        description="Observed LTV:CAC of the older cohorts = ltv_margin_12_older_cohorts / cac_full_older_cohorts; NULL when either is NULL or the CAC is 0.",
    )
    ltv_cac_band_older_cohorts: pl.String = pa.Field(
        nullable=True,
        isin=BANDS,
        description="Band of ltv_cac_12_older_cohorts, as ltv_cac_band (insufficient_data below "
        "report.min_customers_for_band customers_older_cohorts).",
    )
    ltv_margin_12_older_cohorts_low: pl.Float64 = pa.Field(
        nullable=True, description=_DOC["interval"].format(bound="Lower bound", of="ltv_margin_12_older_cohorts")
    )
    ltv_margin_12_older_cohorts_high: pl.Float64 = pa.Field(
        nullable=True, description=_DOC["interval"].format(bound="Upper bound", of="ltv_margin_12_older_cohorts")
    )
    ltv_cac_12_older_cohorts_low: pl.Float64 = pa.Field(
        nullable=True, description=_DOC["interval_ratio"].format(bound="Lower bound", of="ltv_cac_12_older_cohorts")
    )
    ltv_cac_12_older_cohorts_high: pl.Float64 = pa.Field(
        nullable=True, description=_DOC["interval_ratio"].format(bound="Upper bound", of="ltv_cac_12_older_cohorts")
    )

    class Config:
        name = "marts.channel_summary"
        description = (
            "Start here: per channel and attribution model, the cohorts acquired in the last summary_months complete "
            "months before the as-of date, pooled - customers, CAC, LTV at each horizon, LTV:CAC with its band, "
            "payback, AOV, orders per customer and repeat rate. Pooled figures are ratios of sums (large cohorts weigh more). "
            "Observed LTV covers only the cohorts that lived each horizon; the *_predicted columns cover every cohort of "
            "the window, and the *_older_cohorts columns give the observed 12-month figures of the year before it."
        )


TABLES = [CohortMembers, CohortLtv, ChannelLtv, ChannelSummary]
