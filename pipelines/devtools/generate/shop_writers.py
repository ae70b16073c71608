"""A shop's own export in the sample: orders as Shopify's Admin > Orders > Export writes them.

Column names and order as Shopify Help Center "Exporting orders" lists them (and public code mapping
that export); one row per line item with the order's fields on its first row only; times with the
shop's offset (` +0300`, Moscow); what Shopify's export has no column for is not written: the CRM
customer id, the visitor id, cost of goods, the refund's date and the UTM tags (so these orders are
matched to customers by e-mail or phone, margins are estimated, and refunds fall in the order's month).
"""

from __future__ import annotations

from pathlib import Path

import polars as pl

HEADER = [
    "Name", "Email", "Financial Status", "Paid at", "Fulfillment Status", "Fulfilled at", "Accepts Marketing",
    "Currency", "Subtotal", "Shipping", "Taxes", "Total", "Discount Code", "Discount Amount", "Shipping Method",
    "Created at", "Lineitem quantity", "Lineitem name", "Lineitem price", "Lineitem compare at price",
    "Lineitem sku", "Lineitem requires shipping", "Lineitem taxable", "Lineitem fulfillment status",
    "Billing Name", "Billing Street", "Billing Address1", "Billing Address2", "Billing Company", "Billing City",
    "Billing Zip", "Billing Province", "Billing Country", "Billing Phone", "Shipping Name", "Shipping Street",
    "Shipping Address1", "Shipping Address2", "Shipping Company", "Shipping City", "Shipping Zip",
    "Shipping Province", "Shipping Country", "Shipping Phone", "Notes", "Note Attributes", "Cancelled at",
    "Payment Method", "Payment Reference", "Refunded Amount", "Vendor", "Outstanding Balance", "Employee",
    "Location", "Device ID", "Id", "Tags", "Risk Level", "Source", "Lineitem discount", "Tax 1 Name",
    "Tax 1 Value", "Tax 2 Name", "Tax 2 Value", "Tax 3 Name", "Tax 3 Value", "Tax 4 Name", "Tax 4 Value",
    "Tax 5 Name", "Tax 5 Value", "Phone", "Receipt Number", "Duties", "Billing Province Name",
    "Shipping Province Name", "Payment ID", "Payment Terms Name", "Next Payment Due At", "Payment References",
]  # fmt: skip
OFFSET = " +0300"  # Moscow: no daylight-saving time since 2014, so the generator's local times are exact


def shopify_orders(text: pl.DataFrame, email: pl.Series, phone: pl.Series) -> pl.DataFrame:
    """Canonical order text -> Shopify's export rows (all text). `email` / `phone`: the customer's, which
    a shop's order always carries (the canonical row may leave them out for a CRM id)."""
    revenue = pl.col("revenue")
    refunded = pl.col("refunded_amount").cast(pl.Float64, strict=False).fill_null(0.0)
    status = pl.col("status")
    financial = (
        pl.when(status == "refunded")
        .then(pl.lit("refunded"))
        .when(status == "cancelled")
        .then(pl.lit("voided"))
        .when(status == "pending")
        .then(pl.lit("pending"))
        .when(refunded > 0)
        .then(pl.lit("partially_refunded"))
        .otherwise(pl.lit("paid"))
    )
    created = pl.col("created_at")
    first = text.with_columns(email.alias("__email"), phone.alias("__phone")).select(
        ("#" + pl.col("order_id")).alias("Name"),
        pl.col("__email").alias("Email"),
        financial.alias("Financial Status"),
        pl.when(financial != "pending").then(created + OFFSET).alias("Paid at"),
        pl.col("currency").alias("Currency"),
        revenue.alias("Subtotal"),
        pl.lit("0.00").alias("Shipping"),
        pl.lit("0.00").alias("Taxes"),  # a shop on the simplified tax system: no VAT in the total
        revenue.alias("Total"),
        (created + OFFSET).alias("Created at"),
        pl.when(status == "cancelled").then(created + OFFSET).alias("Cancelled at"),
        pl.when(status == "refunded")
        .then(revenue)
        .otherwise(pl.col("refunded_amount").fill_null("0.00"))
        .alias("Refunded Amount"),
        pl.col("__phone").alias("Phone"),
        pl.col("order_id").alias("Id"),
        (pl.col("order_id").cast(pl.Int64) % 3 + 1).alias("__items"),
    )
    # 1 to 3 line items per order (by its id): the first row is the order's, the others repeat its name
    rows = first.with_columns(pl.int_ranges(0, pl.col("__items")).alias("__item")).explode("__item")
    order_level = [c for c in first.columns if c not in ("Name", "__items")]
    rows = rows.with_columns(
        pl.when(pl.col("__item") == 0).then(pl.col(c)).otherwise(None).alias(c) for c in order_level
    ).with_columns(
        pl.lit("1").alias("Lineitem quantity"),
        ("Item " + (pl.col("__item") + 1).cast(pl.String)).alias("Lineitem name"),
    )
    return rows.select(pl.col(c) if c in rows.columns else pl.lit(None, pl.String).alias(c) for c in HEADER)


def write_shopify_orders(rows: pl.DataFrame, path: Path) -> None:
    """Shopify's "CSV for Excel": UTF-8 with a byte order mark, comma-separated."""
    Path(path).write_bytes(b"\xef\xbb\xbf" + rows.write_csv(quote_style="necessary").encode("utf-8"))
