"""Pandera (polars) models of the acquisition marts: their descriptions become the warehouse comments
(pipelines.core.table_comments) and tests validate the built tables against them."""

from __future__ import annotations

import datetime as dt

import pandera.polars as pa

MODELS = ["first_touch", "last_touch", "last_non_direct", "linear", "time_decay", "position_based", "markov", "shapley"]
DATA_DRIVEN = ["markov", "shapley"]
_MODEL_LIST = "first_touch, last_touch, last_non_direct (default), linear, time_decay, position_based, markov, shapley"
GRAINS = ["day", "week", "month", "quarter", "year"]
_EPS = 1e-9  # floating-point slack on credits


class Orders(pa.DataFrameModel):
    order_id: str = pa.Field(unique=True, description="Order id from the shop/CRM export")
    customer_key: str = pa.Field(
        description="Customer identity: crm:<id>, else email:<hash>, else phone:<hash> (else visitor:<id> / order:<id> when the order names nobody)"
    )
    order_ts: dt.datetime = pa.Field(description="When the order was placed")
    order_date: dt.date = pa.Field(description="Date of order_ts")
    order_month: dt.date = pa.Field(description="First day of the order's month")
    revenue: float = pa.Field(
        description="Order revenue in the reporting currency at the order date's rate, before refunds"
    )
    cost_of_goods: float = pa.Field(
        nullable=True, description="Cost of goods in the reporting currency; NULL when the export had none"
    )
    margin: float = pa.Field(
        description="Gross margin: revenue - cost of goods, or revenue x the default margin rate when cost of goods is missing"
    )
    margin_estimated: bool = pa.Field(description="True when margin was estimated with the default margin rate")
    refunded_amount: float = pa.Field(
        ge=0,
        description="Partial refund in the reporting currency at the refund date's rate (0 = none); it lowers revenue in the refund's month",
    )
    refunded_at: dt.datetime = pa.Field(
        nullable=True,
        description="When the refund happened (the order time when the export gave no date); NULL = no refund",
    )
    refund_margin: float = pa.Field(
        description="Margin taken back by the refund: refunded_amount x the order's margin rate"
    )
    customer_type: str = pa.Field(
        isin=["new", "repeat"],
        description="new = the customer's first valid order (ties by order id); repeat = every later valid order",
    )
    customer_order_number: int = pa.Field(
        ge=1, description="1 for the first valid order of the customer, 2 for the next..."
    )
    channel: str = pa.Field(description="Channel of the order's own UTM tags (direct when it has none)")
    source: str = pa.Field(
        nullable=True, description="Normalised utm_source (trimmed, lower-case, URL-decoded, aliases applied)"
    )
    medium: str = pa.Field(nullable=True, description="Normalised utm_medium")
    campaign: str = pa.Field(nullable=True, description="Normalised utm_campaign")
    content: str = pa.Field(nullable=True, description="Normalised utm_content")
    term: str = pa.Field(nullable=True, description="Normalised utm_term")
    visitor_id: str = pa.Field(
        nullable=True, description="Web visitor id seen on the order; links the visitor's touchpoints to the customer"
    )
    customer_id: str = pa.Field(
        nullable=True, description="CRM customer id, given or found through the order's e-mail/phone key"
    )
    currency: str = pa.Field(nullable=True, description="Currency the order was exported in")
    fx_rate: float = pa.Field(
        nullable=True,
        description="Reporting-currency units per unit of currency used for the order (1 for the reporting currency)",
    )

    class Config:
        name = "marts.orders"
        description = (
            "Valid orders (paid/completed; cancelled and fully refunded ones left out), one row each, amounts in the "
            "reporting currency, marked new or repeat"
        )


class FirstPurchases(pa.DataFrameModel):
    customer_key: str = pa.Field(unique=True, description="Customer identity (see marts.orders)")
    order_id: str = pa.Field(unique=True, description="The customer's first valid order")
    first_purchase_ts: dt.datetime = pa.Field(description="When the first purchase was placed")
    acquisition_date: dt.date = pa.Field(description="Date of the first purchase")
    acquisition_month: dt.date = pa.Field(description="First day of the first purchase's month: the customer's cohort")
    revenue: float = pa.Field(description="First-order revenue in the reporting currency")
    margin: float = pa.Field(description="First-order gross margin in the reporting currency")
    channel: str = pa.Field(
        description="Channel credited by the default attribution model (the largest credit; ties to the later touch)"
    )
    order_channel: str = pa.Field(description="Channel of the first order's own UTM tags (direct when none)")
    touch_count: int = pa.Field(
        ge=0, description="Touches within the lookback window, the order's own tags included (0 = unattributed)"
    )

    class Config:
        name = "marts.first_purchases"
        description = "One row per new customer: the first valid order and its acquisition channel"


class Attribution(pa.DataFrameModel):
    order_id: str = pa.Field(description="First purchase being attributed")
    customer_key: str = pa.Field(description="Customer identity (see marts.orders)")
    attribution_model: str = pa.Field(isin=MODELS, description=_MODEL_LIST)
    touch_ts: dt.datetime = pa.Field(
        nullable=True, description="Time of the touch; NULL for an unattributed first purchase"
    )
    channel: str = pa.Field(description="Channel of the touch; unattributed when the first purchase had no touch")
    credit: float = pa.Field(
        gt=0,
        le=1 + _EPS,
        description="Share of the first purchase given to this touch; the credits of one purchase sum to 1 under each model",
    )
    first_purchase_ts: dt.datetime = pa.Field(description="When the first purchase was placed")
    touch_position: int = pa.Field(
        nullable=True, ge=1, description="1 = earliest touch of the journey (ties ordered by channel and UTM values)"
    )
    touch_count: int = pa.Field(ge=0, description="Touches in the journey within the lookback window")
    touch_origin: str = pa.Field(
        isin=["touchpoint", "order", "none"],
        description="touchpoint = a web visit; order = the order's own UTM tags; none = unattributed",
    )
    source: str = pa.Field(nullable=True, description="Normalised utm_source of the touch")
    medium: str = pa.Field(nullable=True, description="Normalised utm_medium of the touch")
    campaign: str = pa.Field(nullable=True, description="Normalised utm_campaign of the touch")

    class Config:
        name = "marts.attribution"
        description = (
            "Credits of each first purchase to its touches (lookback window before the purchase, plus the order's own UTM "
            "tags) under eight attribution models; touches a model gives nothing are left out. A view: the long form of "
            "marts.attribution_credits"
        )


def _credit(model: str, what: str) -> float:
    return pa.Field(ge=0, le=1 + _EPS, description=f"Credit of the touch under {model}: {what}")


class AttributionCredits(pa.DataFrameModel):
    order_id: str = pa.Field(description="First purchase being attributed")
    customer_key: str = pa.Field(description="Customer identity (see marts.orders)")
    touch_ts: dt.datetime = pa.Field(
        nullable=True, description="Time of the touch; NULL for an unattributed first purchase"
    )
    channel: str = pa.Field(description="Channel of the touch; unattributed when the first purchase had no touch")
    first_purchase_ts: dt.datetime = pa.Field(description="When the first purchase was placed")
    touch_position: int = pa.Field(
        nullable=True, ge=1, description="1 = earliest touch of the journey (ties ordered by channel and UTM values)"
    )
    touch_count: int = pa.Field(ge=0, description="Touches in the journey within the lookback window")
    touch_origin: str = pa.Field(
        isin=["touchpoint", "order", "none"],
        description="touchpoint = a web visit; order = the order's own UTM tags; none = unattributed",
    )
    source: str = pa.Field(nullable=True, description="Normalised utm_source of the touch")
    medium: str = pa.Field(nullable=True, description="Normalised utm_medium of the touch")
    campaign: str = pa.Field(nullable=True, description="Normalised utm_campaign of the touch")
    credit_first_touch: float = _credit("first_touch", "1 for the earliest touch, else 0")
    credit_last_touch: float = _credit("last_touch", "1 for the latest touch, else 0")
    credit_last_non_direct: float = _credit(
        "last_non_direct", "1 for the latest non-direct touch (the latest if all are direct), else 0"
    )
    credit_linear: float = _credit("linear", "1 / touches")
    credit_time_decay: float = _credit(
        "time_decay", "2^(-days before the purchase / half-life), normalised per purchase"
    )
    credit_position_based: float = _credit(
        "position_based", "40 % first, 40 % last, 20 % shared by the touches between"
    )
    credit_markov: float = _credit(
        "markov",
        "the purchase's credit split over its distinct channels by their Markov weights, equally "
        "over a channel's touches (linear when all its channels weigh 0)",
    )
    credit_shapley: float = _credit("shapley", "the same with the Shapley weights")
    weights_fit_end: dt.date = pa.Field(
        description="As-of date of the marts.channel_weights fit the markov and shapley credits were computed with (the run that last credited the purchase)"
    )

    class Config:
        name = "marts.attribution_credits"
        description = (
            "Credits of each first purchase under all eight attribution models, stored wide: one row per touch (one per "
            "unattributed first purchase) with a credit column per model, each column summing to 1 per purchase; "
            "marts.attribution is its long view"
        )


class ChannelWeights(pa.DataFrameModel):
    attribution_model: str = pa.Field(isin=DATA_DRIVEN, description="markov or shapley")
    fit_start: dt.date = pa.Field(
        description="First day of the fit window (attribution.data_driven_months months ending at fit_end)"
    )
    fit_end: dt.date = pa.Field(description="Last day of the fit window: the as-of date of the run that fitted it")
    markov_order: int = pa.Field(
        nullable=True,
        ge=1,
        description="markov: the chain's order (states = the last k channels, attribution.markov_order); NULL for shapley",
    )
    channel: str = pa.Field(description="Channel seen in the fit window's journeys")
    weight: float = pa.Field(
        ge=0,
        le=1 + _EPS,
        description="Share of credit the model gives the channel: its removal effect or Shapley value over the "
        "sum of all channels'; a purchase's credit is split over its own channels in proportion to "
        "these",
    )
    removal_effect: float = pa.Field(
        nullable=True, ge=0, le=1, description="markov: 1 - p_conversion_without / p_conversion; NULL for shapley"
    )
    shapley_value: float = pa.Field(
        nullable=True,
        ge=0,
        description="shapley: conversions the channel is worth (each converting journey shared equally by its distinct channels); NULL for markov",
    )
    journeys: int = pa.Field(
        ge=0, description="Journeys of the fit window (converting or not) that touched the channel"
    )
    conversions: int = pa.Field(
        ge=0, description="Converting journeys (first purchases) of the fit window that touched the channel"
    )
    p_conversion: float = pa.Field(
        nullable=True,
        ge=0,
        le=1 + _EPS,
        description="markov: probability of reaching conversion from start in the fitted chain; shapley: converting journeys / journeys",
    )
    p_conversion_without: float = pa.Field(
        nullable=True,
        ge=0,
        le=1 + _EPS,
        description="markov: the same with the channel removed (every transition into it sent to null); NULL for shapley",
    )
    fit_journeys: int = pa.Field(ge=0, description="All journeys of the fit window")
    fit_conversions: int = pa.Field(ge=0, description="Converting journeys of the fit window")

    class Config:
        name = "marts.channel_weights"
        description = (
            "Channel weights of the data-driven attribution models (markov, shapley) per fit: the current fit and every "
            "older fit stored credits still use (marts.attribution_credits.weights_fit_end)"
        )


class ChannelPeriodCac(pa.DataFrameModel):
    period_grain: str = pa.Field(isin=GRAINS, description="day, week (ISO, Monday), month, quarter or year")
    period_start: dt.date = pa.Field(description="First day of the period")
    period_end: dt.date = pa.Field(description="Last day of the period (inclusive)")
    period_complete: bool = pa.Field(description="True when the period ended on or before the as-of date")
    channel: str = pa.Field(description="Acquisition channel")
    attribution_model: str = pa.Field(isin=MODELS, description="Attribution model the new customers are counted by")
    impressions: int = pa.Field(ge=0, description="Ad impressions of the channel's campaigns in the period")
    clicks: int = pa.Field(ge=0, description="Ad clicks of the channel's campaigns in the period")
    ad_spend: float = pa.Field(description="Ad spend of the channel's campaigns in the period (reporting currency)")
    direct_costs: float = pa.Field(description="Non-ad costs the CRM assigns to the channel, spread over their days")
    allocated_costs: float = pa.Field(
        description="The channel's share of shared costs by each cost's rule (orders, new_customers, spend)"
    )
    total_cost: float = pa.Field(description="ad_spend + direct_costs + allocated_costs")
    new_customers: float = pa.Field(
        ge=0, description="Sum of the credits of first purchases in the period given to the channel (fractional)"
    )
    attributed_orders: float = pa.Field(
        ge=0, description="new_customers plus the period's repeat orders whose own UTM tags map to the channel"
    )
    first_order_revenue: float = pa.Field(description="Revenue of the credited first purchases, weighted by credit")
    cac_paid: float = pa.Field(nullable=True, ge=0, description="ad_spend / new_customers; NULL without new customers")
    cac_full: float = pa.Field(
        nullable=True, ge=0, description="Fully loaded CAC: total_cost / new_customers; NULL without new customers"
    )
    ctr: float = pa.Field(nullable=True, ge=0, description="clicks / impressions")
    cpc: float = pa.Field(nullable=True, ge=0, description="ad_spend / clicks")
    cpm: float = pa.Field(nullable=True, ge=0, description="ad_spend per 1000 impressions")
    conversion_rate: float = pa.Field(nullable=True, ge=0, description="new_customers / clicks")
    cpa: float = pa.Field(nullable=True, ge=0, description="ad_spend / attributed_orders")
    roas_first_order: float = pa.Field(nullable=True, ge=0, description="first_order_revenue / ad_spend")

    class Config:
        name = "marts.channel_period_cac"
        description = (
            "Customer acquisition cost per period grain, period, channel and attribution model, with the spend, costs, "
            "new customers and ad metrics behind it"
        )


class BlendedCac(pa.DataFrameModel):
    period_grain: str = pa.Field(isin=GRAINS, description="day, week (ISO, Monday), month, quarter or year")
    period_start: dt.date = pa.Field(description="First day of the period")
    period_end: dt.date = pa.Field(description="Last day of the period (inclusive)")
    period_complete: bool = pa.Field(description="True when the period ended on or before the as-of date")
    impressions: int = pa.Field(ge=0, description="All ad impressions in the period")
    clicks: int = pa.Field(ge=0, description="All ad clicks in the period")
    ad_spend: float = pa.Field(description="All ad spend in the period (reporting currency)")
    direct_costs: float = pa.Field(description="Non-ad costs assigned to a channel")
    allocated_costs: float = pa.Field(
        description="Shared costs allocated to channels (the sum over channels in marts.channel_period_cac)"
    )
    retention_costs: float = pa.Field(
        description="Repeat-order share of shared costs allocated by orders: part of no CAC"
    )
    unallocated_costs: float = pa.Field(
        description="Shared costs with rule none (or whose rule had nothing to divide by in the period)"
    )
    shared_by_orders: float = pa.Field(
        description="Shared costs (no channel) with allocation rule orders, before the split"
    )
    shared_by_new_customers: float = pa.Field(
        description="Shared costs (no channel) with allocation rule new_customers, before the split"
    )
    shared_by_spend: float = pa.Field(
        description="Shared costs (no channel) with allocation rule spend, before the split"
    )
    total_cost: float = pa.Field(
        description="Every cost of the period: ad_spend + direct + allocated + retention + unallocated"
    )
    orders: int = pa.Field(ge=0, description="Valid orders in the period, new and repeat")
    new_customers: int = pa.Field(ge=0, description="First purchases in the period")
    first_order_revenue: float = pa.Field(description="Revenue of the period's first purchases")
    cac_paid: float = pa.Field(
        nullable=True, ge=0, description="Blended paid CAC: ad_spend / new_customers; NULL without new customers"
    )
    cac_full: float = pa.Field(
        nullable=True, ge=0, description="Blended fully loaded CAC: (total_cost - retention_costs) / new_customers"
    )
    roas_first_order: float = pa.Field(nullable=True, ge=0, description="first_order_revenue / ad_spend")

    class Config:
        name = "marts.blended_cac"
        description = (
            "Blended CAC per period grain and period, independent of the attribution model, with every cost of the period "
            "accounted for exactly once"
        )


TABLES: list[type[pa.DataFrameModel]] = [
    Orders,
    FirstPurchases,
    Attribution,
    AttributionCredits,
    ChannelWeights,
    ChannelPeriodCac,
    BlendedCac,
]
