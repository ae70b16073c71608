"""Pandera (polars) models of the six canonical inputs, checked after the explicit cast in ingest.

A row that fails any check is quarantined in quality.rejected_rows with the check's name; the
`reason` texts below are what people read there. Plausible dates and amounts are settings
(`quality.min_date`, `quality.max_date`, `quality.max_amount`) and are checked by ingest beside these
models (`pipelines/ingest/load.py` `bounds_failures`).
"""

from __future__ import annotations

import pandera.polars as pa
import polars as pl

CURRENCY = r"^[A-Z]{3}$"
EMAIL = r"^[^@\s]+@[^@\s]+\.[^@\s]+$"
PHONE = r"^\d{10,15}$"
STATUS = r"^[a-z_]+$"
# What a rejected row's reason says for each pattern: words a person acts on, never the regex.
PATTERN_REASONS = {
    CURRENCY: "not a three-letter currency code",
    EMAIL: "not an e-mail address (name@domain.tld)",
    PHONE: "phone must be 10–15 digits",
    STATUS: "status must be one word in lower case (paid, completed, cancelled, refunded, …)",
}
COST_CATEGORIES = ["salary", "software", "services", "overhead", "other"]
ALLOCATIONS = ["orders", "new_customers", "spend", "none"]


class AdSpend(pa.DataFrameModel):
    """Daily spend of one campaign on one ad platform."""

    date: pl.Date = pa.Field(nullable=False)
    platform: pl.String = pa.Field(nullable=False, str_length={"min_value": 1})
    account_id: pl.String = pa.Field(nullable=True)
    campaign_id: pl.String = pa.Field(nullable=False, str_length={"min_value": 1})
    campaign_name: pl.String = pa.Field(nullable=True)
    utm_source: pl.String = pa.Field(nullable=True)
    utm_medium: pl.String = pa.Field(nullable=True)
    utm_campaign: pl.String = pa.Field(nullable=True)
    impressions: pl.Int64 = pa.Field(nullable=True, ge=0)  # null: not reported by the export
    clicks: pl.Int64 = pa.Field(nullable=True, ge=0)
    spend: pl.Float64 = pa.Field(nullable=False, ge=0)
    currency: pl.String = pa.Field(nullable=False, str_matches=CURRENCY)

    class Config:
        name = "ad_spend"


class Costs(pa.DataFrameModel):
    """A non-ad acquisition cost over an inclusive date range; empty channel = shared."""

    period_start: pl.Date = pa.Field(nullable=False)
    period_end: pl.Date = pa.Field(nullable=False)
    category: pl.String = pa.Field(nullable=False, isin=COST_CATEGORIES)
    channel: pl.String = pa.Field(nullable=True)
    amount: pl.Float64 = pa.Field(nullable=False, ge=0)
    currency: pl.String = pa.Field(nullable=False, str_matches=CURRENCY)
    allocation: pl.String = pa.Field(nullable=True, isin=ALLOCATIONS)

    class Config:
        name = "costs"

    @pa.dataframe_check(error="period_end is before period_start")
    def period_end_not_before_start(cls, data: pa.PolarsData) -> pl.LazyFrame:
        return data.lazyframe.select(pl.col("period_end") >= pl.col("period_start"))


class Customers(pa.DataFrameModel):
    """A CRM customer; e-mail and phone arrive here normalised and are hashed before they land."""

    customer_id: pl.String = pa.Field(nullable=False, str_length={"min_value": 1})
    email: pl.String = pa.Field(nullable=True, str_matches=EMAIL)
    phone: pl.String = pa.Field(nullable=True, str_matches=PHONE)
    created_at: pl.Datetime = pa.Field(nullable=True)

    class Config:
        name = "customers"


class Orders(pa.DataFrameModel):
    """A UTM-tagged order; identity from CRM id, e-mail, phone or visitor id."""

    order_id: pl.String = pa.Field(nullable=False, str_length={"min_value": 1})
    customer_id: pl.String = pa.Field(nullable=True)
    email: pl.String = pa.Field(nullable=True, str_matches=EMAIL)
    phone: pl.String = pa.Field(nullable=True, str_matches=PHONE)
    visitor_id: pl.String = pa.Field(nullable=True)
    created_at: pl.Datetime = pa.Field(nullable=False)
    status: pl.String = pa.Field(nullable=False, str_matches=STATUS)
    revenue: pl.Float64 = pa.Field(nullable=False, ge=0)
    cost_of_goods: pl.Float64 = pa.Field(nullable=True, ge=0)
    refunded_amount: pl.Float64 = pa.Field(nullable=True, ge=0)
    refunded_at: pl.Datetime = pa.Field(nullable=True)
    currency: pl.String = pa.Field(nullable=False, str_matches=CURRENCY)
    utm_source: pl.String = pa.Field(nullable=True)
    utm_medium: pl.String = pa.Field(nullable=True)
    utm_campaign: pl.String = pa.Field(nullable=True)
    utm_content: pl.String = pa.Field(nullable=True)
    utm_term: pl.String = pa.Field(nullable=True)

    class Config:
        name = "orders"

    @pa.dataframe_check(error="order has no customer id, e-mail, phone or visitor id")
    def customer_identity(cls, data: pa.PolarsData) -> pl.LazyFrame:
        return data.lazyframe.select(
            pl.any_horizontal(pl.col("customer_id", "email", "phone", "visitor_id").is_not_null())
        )

    @pa.dataframe_check(error="refunded_at is before created_at")
    def refund_not_before_order(cls, data: pa.PolarsData) -> pl.LazyFrame:
        # by day: a refund exported as a bare date (midnight) on the order's own day is not before it
        return data.lazyframe.select(
            pl.col("refunded_at").is_null() | (pl.col("refunded_at").dt.date() >= pl.col("created_at").dt.date())
        )

    @pa.dataframe_check(error="refunded_amount exceeds revenue")
    def refunded_amount_within_revenue(cls, data: pa.PolarsData) -> pl.LazyFrame:
        return data.lazyframe.select(
            pl.col("refunded_amount").is_null() | (pl.col("refunded_amount") <= pl.col("revenue") + 0.005)
        )


class Touchpoints(pa.DataFrameModel):
    """A web visit with its UTM tags, referrer and click id."""

    visitor_id: pl.String = pa.Field(nullable=False, str_length={"min_value": 1})
    customer_id: pl.String = pa.Field(nullable=True)
    ts: pl.Datetime = pa.Field(nullable=False)
    utm_source: pl.String = pa.Field(nullable=True)
    utm_medium: pl.String = pa.Field(nullable=True)
    utm_campaign: pl.String = pa.Field(nullable=True)
    utm_content: pl.String = pa.Field(nullable=True)
    utm_term: pl.String = pa.Field(nullable=True)
    referrer: pl.String = pa.Field(nullable=True)
    click_id: pl.String = pa.Field(nullable=True)

    class Config:
        name = "touchpoints"


class FxRates(pa.DataFrameModel):
    """Reporting-currency units per one unit of `currency` on `date`."""

    date: pl.Date = pa.Field(nullable=False)
    currency: pl.String = pa.Field(nullable=False, str_matches=CURRENCY)
    rate: pl.Float64 = pa.Field(nullable=False, gt=0)

    class Config:
        name = "fx_rates"


INPUT_MODELS: dict[str, type[pa.DataFrameModel]] = {
    "ad_spend": AdSpend,
    "costs": Costs,
    "customers": Customers,
    "orders": Orders,
    "touchpoints": Touchpoints,
    "fx_rates": FxRates,
}

# A dataframe-wide check blames this column in quality.rejected_rows.
CHECK_COLUMNS = {
    "period_end_not_before_start": "period_end",
    "customer_identity": "customer_id",
    "refunded_amount_within_revenue": "refunded_amount",
    "refund_not_before_order": "refunded_at",
}

# The facts every stage derives from the models above, declared nowhere else: the list of sources,
# each source's canonical columns in order, the required ones (not nullable) and the numeric ones.
SOURCES: tuple[str, ...] = tuple(INPUT_MODELS)
_SCHEMAS = {s: m.to_schema() for s, m in INPUT_MODELS.items()}
COLUMNS: dict[str, tuple[str, ...]] = {s: tuple(schema.columns) for s, schema in _SCHEMAS.items()}
REQUIRED: dict[str, tuple[str, ...]] = {
    s: tuple(name for name, column in schema.columns.items() if not column.nullable) for s, schema in _SCHEMAS.items()
}
NUMERIC: dict[str, tuple[str, ...]] = {
    s: names
    for s, schema in _SCHEMAS.items()
    if (names := tuple(n for n, c in schema.columns.items() if c.dtype.type in (pl.Int64, pl.Float64)))
}
# e-mails and phones: read as text, stored only as keyed hashes in `<name>_key`
PERSONAL: tuple[str, ...] = ("email", "phone")
_SQL_TYPES = {pl.Date: "date", pl.String: "varchar", pl.Int64: "bigint", pl.Float64: "double", pl.Datetime: "timestamp"}


def raw_columns(source: str) -> dict[str, str]:
    """raw.<source>'s columns and DuckDB types: the model's, with e-mail and phone as their hash keys."""
    out = {}
    for name, column in _SCHEMAS[source].columns.items():
        key = f"{name}_key" if name in PERSONAL else name
        out[key] = "varchar" if name in PERSONAL else _SQL_TYPES[column.dtype.type.base_type()]
    return out
