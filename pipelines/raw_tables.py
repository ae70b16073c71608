"""The typed shape of every raw.* table (docs/data_contracts.md, section 2): ingest writes it, SQL reads it."""

from __future__ import annotations

import duckdb

LINEAGE = {"source_file": "varchar", "source_row": "bigint", "layout": "varchar"}

RAW_COLUMNS: dict[str, dict[str, str]] = {
    "ad_spend": {
        "date": "date", "platform": "varchar", "account_id": "varchar", "campaign_id": "varchar",
        "campaign_name": "varchar", "utm_source": "varchar", "utm_medium": "varchar",
        "utm_campaign": "varchar", "impressions": "bigint", "clicks": "bigint", "spend": "double",
        "currency": "varchar",
    },
    "costs": {
        "period_start": "date", "period_end": "date", "category": "varchar", "channel": "varchar",
        "amount": "double", "currency": "varchar", "allocation": "varchar",
    },
    "customers": {
        "customer_id": "varchar", "email_key": "varchar", "phone_key": "varchar", "created_at": "timestamp",
    },
    "orders": {
        "order_id": "varchar", "customer_id": "varchar", "email_key": "varchar", "phone_key": "varchar",
        "visitor_id": "varchar", "created_at": "timestamp", "status": "varchar", "revenue": "double",
        "cost_of_goods": "double", "refunded_amount": "double", "refunded_at": "timestamp",
        "currency": "varchar", "utm_source": "varchar", "utm_medium": "varchar", "utm_campaign": "varchar",
        "utm_content": "varchar", "utm_term": "varchar",
    },
    "touchpoints": {
        "visitor_id": "varchar", "customer_id": "varchar", "ts": "timestamp", "utm_source": "varchar",
        "utm_medium": "varchar", "utm_campaign": "varchar", "utm_content": "varchar", "utm_term": "varchar",
        "referrer": "varchar", "click_id": "varchar",
    },
    "fx_rates": {"date": "date", "currency": "varchar", "rate": "double"},
}
SOURCES = tuple(RAW_COLUMNS)


def create_raw_tables(con: duckdb.DuckDBPyConnection) -> None:
    """Empty raw.* tables with lineage columns, for a fresh warehouse or a test."""
    con.execute("create schema if not exists raw")
    for source, columns in RAW_COLUMNS.items():
        body = ", ".join(f'"{name}" {kind}' for name, kind in (columns | LINEAGE).items())
        con.execute(f"create table if not exists raw.{source} ({body})")
