"""docs/metrics.md worked examples 1, 2 and 5, end to end: export files on disk -> Dagster run of every
asset (ingest, Pandera, staging, marts, checks, publish) -> numbers read back from the published file."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import duckdb
import pytest
from pipeline_runs import materialize_everything

MARCH = date(2025, 3, 1)


def write_csv(path: Path, header: list[str], rows: list[list], delimiter: str = ",", encoding: str = "utf-8") -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = [delimiter.join(header)] + [delimiter.join("" if v is None else str(v) for v in row) for row in rows]
    path.write_bytes(("\n".join(lines) + "\n").encode(encoding))


def first_orders(
    prefix: str, n: int, source: str, medium: str, day: date = MARCH, revenue: float = 1000.0
) -> list[list]:
    """n new customers, each with one first order in `day`'s month carrying the channel's UTM tags."""
    return [
        [
            f"{prefix}-{i}",
            f"{prefix}-c{i}",
            f"{day + timedelta(days=i % 28)} 12:00",
            "paid",
            revenue,
            600,
            "RUB",
            source,
            medium,
        ]
        for i in range(n)
    ]


ORDER_HEADER = [
    "order_id",
    "customer_id",
    "created_at",
    "status",
    "revenue",
    "cost_of_goods",
    "currency",
    "utm_source",
    "utm_medium",
]
SPEND_HEADER = ["date", "platform", "campaign_id", "impressions", "clicks", "spend", "currency"]
COST_HEADER = ["period_start", "period_end", "category", "channel", "amount", "currency", "allocation"]


def publish(raw: Path, tmp_path: Path) -> duckdb.DuckDBPyConnection:
    for source in ("customers", "touchpoints", "fx_rates", "costs", "ad_spend", "orders"):
        (raw / source).mkdir(parents=True, exist_ok=True)
    warehouse = tmp_path / "warehouse.duckdb"
    assert materialize_everything(raw, warehouse).success
    return duckdb.connect(str(warehouse), read_only=True)


def cac(con, channel: str, column: str, model: str = "last_non_direct"):
    return con.execute(
        f"select {column} from marts.channel_period_cac where period_grain = 'month' and period_start = ? "
        "and channel = ? and attribution_model = ?",
        [MARCH, channel, model],
    ).fetchall()[0][0]


def test_example_1_paid_cac_and_blended(tmp_path):
    raw = tmp_path / "raw"
    write_csv(
        raw / "orders" / "march.csv",
        ORDER_HEADER,
        first_orders("vk", 289, "vk", "cpc") + first_orders("g", 409, "google", "cpc"),
    )
    # spend spread over days, one file per platform, the VK one as VK's tools write it (;, decimal comma)
    write_csv(
        raw / "ad_spend" / "vk.csv",
        SPEND_HEADER,
        [[f"{MARCH + timedelta(days=d)}", "vk_ads", "vk-1", 1000, 100, "1900,00", "RUB"] for d in range(30)],
        delimiter=";",
    )
    write_csv(
        raw / "ad_spend" / "google.csv",
        SPEND_HEADER,
        [[f"{MARCH + timedelta(days=d)}", "google_ads", "g-1", 1000, 100, 178000 / 2, "RUB"] for d in range(2)],
    )
    with publish(raw, tmp_path) as con:
        assert round(cac(con, "vk_ads", "cac_paid"), 2) == 197.23
        assert round(cac(con, "google_ads", "cac_paid"), 2) == 435.21
        blended = con.execute(
            "select ad_spend, new_customers, cac_paid from marts.blended_cac where period_grain = 'month' and period_start = ?",
            [MARCH],
        ).fetchall()[0]
        assert (round(blended[0], 2), round(blended[1], 6), round(blended[2], 2)) == (235000.0, 698, 336.68)


def test_example_2_fully_loaded_cac(tmp_path):
    raw = tmp_path / "raw"
    february = date(2025, 2, 1)
    # 500 customers acquired in February (no UTM) place 2 500 repeat orders in March
    earlier = [
        [f"old-{i}", f"old-c{i}", f"{february} 10:00", "completed", 500, 300, "RUB", None, None] for i in range(500)
    ]
    repeats = [
        [f"rep-{i}-{k}", f"old-c{i}", f"{MARCH + timedelta(days=k)} 10:00", "completed", 500, 300, "RUB", None, None]
        for i in range(500)
        for k in range(5)
    ]
    write_csv(
        raw / "orders" / "orders.csv",
        ORDER_HEADER,
        earlier + repeats + first_orders("ctx", 400, "google", "cpc") + first_orders("seo", 1250, "google", "organic"),
    )
    write_csv(
        raw / "ad_spend" / "context.csv",
        SPEND_HEADER,
        [[str(MARCH), "google_ads", "ctx-1", 100000, 8000, "24000.00", "RUB"]],
    )
    write_csv(
        raw / "costs" / "costs.csv",
        COST_HEADER,
        [
            ["2025-03-01", "2025-03-31", "salary", "google_ads", 7000, "RUB", None],
            ["2025-03-01", "2025-03-31", "salary", "organic_search", 11000, "RUB", None],
            ["2025-03-01", "2025-03-31", "salary", None, 6000, "RUB", "orders"],
        ],
    )
    with publish(raw, tmp_path) as con:
        assert round(cac(con, "google_ads", "cpc"), 2) == 3.00
        assert round(cac(con, "google_ads", "cac_full"), 2) == 78.95
        assert round(cac(con, "organic_search", "cac_full"), 2) == 10.25
        assert cac(con, "organic_search", "cac_paid") == 0
        # the repeat orders' share of the operator is retention cost, part of no CAC
        retention = con.execute(
            "select retention_costs from marts.blended_cac where period_grain = 'month' and period_start = ?", [MARCH]
        ).fetchall()[0][0]
        assert retention == pytest.approx(6000 * 2500 / 4150)


def test_example_5_first_order_roas(tmp_path):
    raw = tmp_path / "raw"
    write_csv(raw / "orders" / "orders.csv", ORDER_HEADER, first_orders("m", 300, "facebook", "cpc", revenue=2500))
    write_csv(
        raw / "ad_spend" / "meta.csv", SPEND_HEADER, [[str(MARCH), "meta_ads", "m-1", 50000, 2000, 200000, "RUB"]]
    )
    with publish(raw, tmp_path) as con:
        assert cac(con, "meta_ads", "first_order_revenue") == pytest.approx(750000)
        assert round(cac(con, "meta_ads", "roas_first_order"), 2) == 3.75
