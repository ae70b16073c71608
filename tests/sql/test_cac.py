"""CAC marts (marts.orders, marts.channel_period_cac, marts.blended_cac) on hand-computed data,
including docs/metrics.md worked examples 1, 2 and 5."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import pytest
from conftest import insert, make_config, run, table

from pipelines.core.db import rows

MARCH = date(2024, 3, 1)
MODELS = ("first_touch", "last_touch", "last_non_direct", "linear", "time_decay", "position_based")
MONTH_ONLY = make_config(grains=("month",))


def new_orders(prefix: str, n: int, day: date = date(2024, 3, 10), revenue: float = 1000.0, **values) -> list[dict]:
    """n first purchases by n different customers, spread over the day's hours."""
    return [
        {
            "order_id": f"{prefix}{i}",
            "customer_id": f"{prefix}{i}",
            "created_at": datetime.combine(day, datetime.min.time()) + timedelta(minutes=i),
            "status": "paid",
            "revenue": revenue,
            "currency": "RUB",
        }
        | values
        for i in range(n)
    ]


def spend(platform: str, amount: float, day: date = date(2024, 3, 5), **values) -> dict:
    return {
        "date": day,
        "platform": platform,
        "campaign_id": f"{platform}-1",
        "spend": amount,
        "currency": "RUB",
    } | values


def cost(
    amount: float,
    channel: str | None = None,
    allocation: str | None = None,
    category: str = "salary",
    start: date = MARCH,
    end: date = date(2024, 3, 31),
) -> dict:
    return {
        "period_start": start,
        "period_end": end,
        "category": category,
        "channel": channel,
        "amount": amount,
        "currency": "RUB",
        "allocation": allocation,
    }


def cac(con, grain: str = "month", start: date = MARCH, model: str = "last_non_direct") -> dict[str, dict]:
    frame = table(
        con,
        "select * from marts.channel_period_cac where period_grain = $g and period_start = $s and attribution_model = $m",
        {"g": grain, "s": start, "m": model},
    )
    return {row["channel"]: row for row in frame.iter_rows(named=True)}


def blended(con, grain: str = "month", start: date = MARCH) -> dict:
    frame = table(
        con, "select * from marts.blended_cac where period_grain = $g and period_start = $s", {"g": grain, "s": start}
    )
    assert frame.height == 1
    return frame.row(0, named=True)


# ------------------------------------------------------------------------------ worked examples
def test_example_1_paid_cac_per_channel_and_blended(warehouse):
    insert(
        warehouse,
        "raw.orders",
        new_orders("vk", 289, utm_source="vk", utm_medium="cpc")
        + new_orders("g", 409, utm_source="google", utm_medium="cpc"),
    )
    insert(warehouse, "raw.ad_spend", [spend("vk_ads", 57_000.0), spend("google_ads", 178_000.0)])
    run(warehouse, MONTH_ONLY)
    for model in MODELS:
        got = cac(warehouse, model=model)
        assert round(got["vk_ads"]["cac_paid"], 2) == 197.23
        assert round(got["google_ads"]["cac_paid"], 2) == 435.21
        assert got["vk_ads"]["new_customers"] == pytest.approx(289)
    total = blended(warehouse)
    assert (total["ad_spend"], total["new_customers"]) == (235_000.0, 698)
    assert round(total["cac_paid"], 2) == 336.68


def test_example_2_fully_loaded_cac_with_shared_costs_by_orders(warehouse):
    # 2 500 customers acquired in February (no tags) come back once each in March
    returning = new_orders("r", 2500, day=date(2024, 2, 10))
    repeat = [
        o | {"order_id": o["order_id"] + "-2", "created_at": o["created_at"] + timedelta(days=30)} for o in returning
    ]
    insert(
        warehouse,
        "raw.orders",
        new_orders("ctx", 400, utm_source="yandex", utm_medium="cpc")
        + new_orders("seo", 1250, utm_source="google", utm_medium="organic")
        + returning
        + repeat,
    )
    insert(warehouse, "raw.ad_spend", [spend("yandex_direct", 24_000.0, clicks=8_000, impressions=400_000)])
    insert(
        warehouse,
        "raw.costs",
        [
            cost(7_000.0, "yandex_direct"),
            cost(11_000.0, "organic_search"),
            cost(6_000.0, None, None, category="services"),
        ],
    )
    run(warehouse, MONTH_ONLY)
    assert rows(
        warehouse,
        "select customer_type, count(*) from marts.orders where order_month = '2024-03-01' group by 1 order by 1",
    ) == [("new", 1650), ("repeat", 2500)]
    for model in MODELS:
        got = cac(warehouse, model=model)
        context, organic = got["yandex_direct"], got["organic_search"]
        assert context["allocated_costs"] == pytest.approx(6_000 * 400 / 4_150)
        assert round(context["cac_full"], 2) == 78.95
        assert round(organic["cac_full"], 2) == 10.25
        assert context["cac_paid"] == pytest.approx(60.0)
        assert organic["cac_paid"] == 0.0  # organic: new customers, no spend
        assert context["cpc"] == pytest.approx(3.0) and context["conversion_rate"] == pytest.approx(0.05)
        assert context["ctr"] == pytest.approx(0.02) and context["cpm"] == pytest.approx(60.0)
    total = blended(warehouse)
    assert total["retention_costs"] == pytest.approx(6_000 * 2_500 / 4_150)
    assert total["allocated_costs"] == pytest.approx(6_000 * 1_650 / 4_150)
    assert total["total_cost"] == pytest.approx(24_000 + 7_000 + 11_000 + 6_000)
    assert total["cac_full"] == pytest.approx((48_000 - 6_000 * 2_500 / 4_150) / 1_650)


def test_example_5_first_order_roas(warehouse):
    insert(warehouse, "raw.orders", new_orders("g", 100, revenue=7_500.0, utm_source="google", utm_medium="cpc"))
    insert(warehouse, "raw.ad_spend", [spend("google_ads", 200_000.0)])
    run(warehouse, MONTH_ONLY)
    assert cac(warehouse)["google_ads"]["roas_first_order"] == pytest.approx(3.75)
    assert blended(warehouse)["roas_first_order"] == pytest.approx(3.75)


# ---------------------------------------------------------------------------- edge cases of CAC
def test_spend_without_customers_shows_with_null_cac_and_organic_has_zero_paid_cac(warehouse):
    insert(warehouse, "raw.orders", new_orders("s", 4, utm_source="google", utm_medium="organic"))
    insert(warehouse, "raw.ad_spend", [spend("tiktok_ads", 900.0, clicks=30, impressions=0)])
    insert(warehouse, "raw.costs", [cost(400.0, "organic_search")])
    run(warehouse, MONTH_ONLY)
    got = cac(warehouse)
    assert got["tiktok_ads"]["ad_spend"] == 900.0 and got["tiktok_ads"]["new_customers"] == 0
    assert got["tiktok_ads"]["cac_paid"] is None and got["tiktok_ads"]["cac_full"] is None
    assert got["tiktok_ads"]["ctr"] is None and got["tiktok_ads"]["cpc"] == 30.0
    assert got["organic_search"]["cac_paid"] == 0.0 and got["organic_search"]["cac_full"] == pytest.approx(100.0)
    assert got["organic_search"]["roas_first_order"] is None


def test_shared_costs_follow_their_allocation_rule(warehouse):
    # March: 3 new via vk (spend 300), 1 new via google (spend 100), 4 repeat orders of February customers
    feb = new_orders("f", 4, day=date(2024, 2, 3))
    insert(
        warehouse,
        "raw.orders",
        new_orders("vk", 3, utm_source="vk", utm_medium="cpc")
        + new_orders("g", 1, utm_source="google", utm_medium="cpc")
        + feb
        + [o | {"order_id": o["order_id"] + "-2", "created_at": o["created_at"] + timedelta(days=40)} for o in feb],
    )
    insert(warehouse, "raw.ad_spend", [spend("vk_ads", 300.0), spend("google_ads", 100.0)])
    insert(
        warehouse,
        "raw.costs",
        [
            cost(800.0, None, "orders"),  # vk 3/8, google 1/8, retention 4/8
            cost(400.0, None, "new_customers"),  # vk 3/4, google 1/4
            cost(200.0, None, "spend"),  # vk 3/4, google 1/4
            cost(50.0, None, "none"),  # no channel: unallocated
            cost(70.0, "vk_ads", "none"),  # direct: the allocation field is ignored
            cost(31.0, None, "orders", start=date(2024, 4, 1), end=date(2024, 4, 30)),  # April: no orders at all
        ],
    )
    run(warehouse, MONTH_ONLY)
    got = cac(warehouse)
    assert got["vk_ads"]["allocated_costs"] == pytest.approx(300 + 300 + 150)
    assert got["google_ads"]["allocated_costs"] == pytest.approx(100 + 100 + 50)
    assert got["vk_ads"]["direct_costs"] == pytest.approx(70.0)
    assert got["vk_ads"]["total_cost"] == pytest.approx(300 + 70 + 750)
    march = blended(warehouse)
    assert (march["retention_costs"], march["unallocated_costs"]) == (pytest.approx(400.0), pytest.approx(50.0))
    assert march["total_cost"] == pytest.approx(400 + 800 + 400 + 200 + 50 + 70)
    april = blended(warehouse, start=date(2024, 4, 1))
    assert (april["unallocated_costs"], april["total_cost"], april["cac_full"]) == (
        pytest.approx(31.0),
        pytest.approx(31.0),
        None,
    )


# ------------------------------------------------------------------ valid orders, refunds, margins
def test_refunds_cancellations_and_the_first_purchase(warehouse):
    insert(
        warehouse,
        "raw.orders",
        [
            # customer A: the first order is fully refunded, the cancelled one counts nowhere, so o3 is the first
            {
                "order_id": "o1",
                "customer_id": "A",
                "created_at": datetime(2024, 3, 1, 9),
                "status": "refunded",
                "revenue": 100.0,
                "currency": "RUB",
            },
            {
                "order_id": "o2",
                "customer_id": "A",
                "created_at": datetime(2024, 3, 2, 9),
                "status": "cancelled",
                "revenue": 100.0,
                "currency": "RUB",
            },
            {
                "order_id": "o3",
                "customer_id": "A",
                "created_at": datetime(2024, 3, 3, 9),
                "status": "paid",
                "revenue": 200.0,
                "cost_of_goods": 50.0,
                "refunded_amount": 40.0,
                "refunded_at": datetime(2024, 4, 2),
                "currency": "RUB",
                "utm_source": "vk",
                "utm_medium": "cpc",
            },
            {
                "order_id": "o4",
                "customer_id": "A",
                "created_at": datetime(2024, 3, 4, 9),
                "status": "completed",
                "revenue": 80.0,
                "currency": "RUB",
            },
            # paid but refunded in full: not valid either
            {
                "order_id": "o5",
                "customer_id": "B",
                "created_at": datetime(2024, 3, 1, 9),
                "status": "paid",
                "revenue": 60.0,
                "refunded_amount": 60.0,
                "refunded_at": datetime(2024, 3, 5),
                "currency": "RUB",
            },
            {
                "order_id": "o6",
                "customer_id": "B",
                "created_at": datetime(2024, 3, 6, 9),
                "status": "pending",
                "revenue": 60.0,
                "currency": "RUB",
            },
            # same time, same customer: the lower order id is the first
            {
                "order_id": "o8",
                "customer_id": "C",
                "created_at": datetime(2024, 3, 7, 9),
                "status": "paid",
                "revenue": 10.0,
                "currency": "RUB",
            },
            {
                "order_id": "o7",
                "customer_id": "C",
                "created_at": datetime(2024, 3, 7, 9),
                "status": "paid",
                "revenue": 10.0,
                "currency": "RUB",
            },
        ],
    )
    run(warehouse, MONTH_ONLY)
    got = {r["order_id"]: r for r in table(warehouse, "marts.orders").iter_rows(named=True)}
    assert sorted(got) == ["o3", "o4", "o7", "o8"]
    assert [got[o]["customer_type"] for o in ("o3", "o4", "o7", "o8")] == ["new", "repeat", "new", "repeat"]
    assert got["o3"]["margin"] == 150.0 and not got["o3"]["margin_estimated"]
    assert got["o3"]["refund_margin"] == pytest.approx(40 * 150 / 200) and got["o3"]["channel"] == "vk_ads"
    assert got["o4"]["margin"] == pytest.approx(80 * 0.35) and got["o4"]["margin_estimated"]
    assert got["o4"]["channel"] == "direct" and got["o4"]["refunded_amount"] == 0
    first = dict(rows(warehouse, "select customer_key, order_id from marts.first_purchases"))
    assert first == {"crm:A": "o3", "crm:C": "o7"}
    assert blended(warehouse)["new_customers"] == 2 and blended(warehouse)["orders"] == 4


# --------------------------------------------------------------------------- grains and windows
def test_every_configured_grain_and_an_incremental_window(warehouse):
    config = make_config(grains=("day", "week", "month", "quarter", "year"))
    insert(
        warehouse,
        "raw.orders",
        new_orders("a", 2, day=date(2024, 3, 3), utm_source="vk", utm_medium="cpc")
        + new_orders("b", 1, day=date(2024, 4, 2), utm_source="vk", utm_medium="cpc"),
    )
    insert(
        warehouse,
        "raw.ad_spend",
        [spend("vk_ads", 100.0, day=date(2024, 3, 3)), spend("vk_ads", 50.0, day=date(2024, 4, 2))],
    )
    run(warehouse, config)
    starts = rows(
        warehouse,
        """select period_grain, period_start, period_end, new_customers from marts.channel_period_cac
                                where channel = 'vk_ads' and attribution_model = 'linear' order by 1, 2""",
    )
    assert starts == [
        ("day", date(2024, 3, 3), date(2024, 3, 3), 2.0),
        ("day", date(2024, 4, 2), date(2024, 4, 2), 1.0),
        ("month", date(2024, 3, 1), date(2024, 3, 31), 2.0),
        ("month", date(2024, 4, 1), date(2024, 4, 30), 1.0),
        ("quarter", date(2024, 1, 1), date(2024, 3, 31), 2.0),
        ("quarter", date(2024, 4, 1), date(2024, 6, 30), 1.0),
        ("week", date(2024, 2, 26), date(2024, 3, 3), 2.0),
        ("week", date(2024, 4, 1), date(2024, 4, 7), 1.0),
        ("year", date(2024, 1, 1), date(2024, 12, 31), 3.0),
    ]
    # new April data, and a run over April only: April is rewritten, March month rows are left alone
    # (marked here, so a rewrite would show)
    warehouse.execute(
        "update marts.channel_period_cac set new_customers = -1 where period_grain = 'month' and period_start = '2024-03-01'"
    )
    insert(warehouse, "raw.orders", new_orders("c", 3, day=date(2024, 4, 20), utm_source="vk", utm_medium="cpc"))
    run(warehouse, config, window=(date(2024, 4, 1), date(2024, 5, 1)))
    got = dict(
        rows(
            warehouse,
            """select period_start, new_customers from marts.channel_period_cac
                                  where period_grain = 'month' and channel = 'vk_ads' and attribution_model = 'linear'""",
        )
    )
    assert got == {date(2024, 3, 1): -1, date(2024, 4, 1): 4.0}
    assert rows(
        warehouse,
        "select new_customers from marts.blended_cac where period_grain = 'month' and period_start = '2024-04-01'",
    ) == [(4,)]
    # first purchases of March arriving late: the April run recomputes March too, as attribution does
    insert(warehouse, "raw.orders", new_orders("late", 5, day=date(2024, 3, 20), utm_source="vk", utm_medium="cpc"))
    run(warehouse, config, window=(date(2024, 4, 1), date(2024, 5, 1)))
    got = dict(
        rows(
            warehouse,
            """select period_start, new_customers from marts.channel_period_cac
                                  where period_grain = 'month' and channel = 'vk_ads' and attribution_model = 'linear'""",
        )
    )
    assert got == {date(2024, 3, 1): 7.0, date(2024, 4, 1): 4.0}
    assert rows(
        warehouse,
        "select new_customers from marts.blended_cac where period_grain = 'month' and period_start = '2024-03-01'",
    ) == [(7,)]
    # changed settings (here the grains) leave no period computed the old way: everything is rebuilt
    run(warehouse, make_config(grains=("month",)), window=(date(2024, 4, 1), date(2024, 5, 1)))
    got = dict(
        rows(
            warehouse,
            """select period_start, new_customers from marts.channel_period_cac
                                  where period_grain = 'month' and channel = 'vk_ads' and attribution_model = 'linear'""",
        )
    )
    assert got == {date(2024, 3, 1): 7.0, date(2024, 4, 1): 4.0}
    assert rows(warehouse, "select distinct period_grain from marts.channel_period_cac") == [("month",)]


# ------------------------------------------------------------------------ contracts and comments
def test_marts_match_their_pandera_models_and_carry_comments(warehouse):
    from pipelines.core.table_comments import undocumented_columns
    from schemas.marts_acquisition import TABLES

    insert(
        warehouse,
        "raw.orders",
        new_orders("vk", 3, utm_source="vk", utm_medium="cpc", cost_of_goods=300.0)
        + new_orders("d", 2)
        + [
            {
                "order_id": "r1",
                "customer_id": "d0",
                "created_at": datetime(2024, 3, 20),
                "status": "paid",
                "revenue": 50.0,
                "refunded_amount": 10.0,
                "refunded_at": datetime(2024, 4, 1),
                "currency": "RUB",
            }
        ],
    )
    insert(
        warehouse,
        "raw.touchpoints",
        [{"visitor_id": "x", "customer_id": "d1", "ts": datetime(2024, 3, 1), "utm_source": "fb"}],
    )
    insert(warehouse, "raw.ad_spend", [spend("vk_ads", 300.0, clicks=10, impressions=100), spend("google_ads", 50.0)])
    insert(warehouse, "raw.costs", [cost(100.0), cost(10.0, "vk_ads"), cost(5.0, None, "none")])
    run(warehouse)
    for model in TABLES:
        name = model.to_schema().name
        frame = table(warehouse, name)
        assert frame.height > 0, name
        model.validate(frame, lazy=True)
        assert undocumented_columns(warehouse, name) == [], name
        assert set(frame.columns) == set(model.to_schema().columns), name
