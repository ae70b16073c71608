"""Cohort, LTV and payback marts (issue 4) on tiny hand-built upstream marts.

marts.orders / first_purchases / attribution / channel_period_cac are created here from their
contracts (docs/data_contracts.md section 4) with rows whose results are worked out by hand, then
only this issue's models run on top of them.
"""

from __future__ import annotations

from datetime import date, datetime

import duckdb
import pytest
from scipy.stats import t as student

from pipelines.core.config import ATTRIBUTION_MODELS
from pipelines.core.table_comments import apply_comments, undocumented_columns
from pipelines.transform.runner import discover_models, run_model
from schemas import marts_ltv, marts_ltv_predicted

TABLES = [*marts_ltv.TABLES, *marts_ltv_predicted.TABLES]  # the LTV tables, observed and predicted

LTV_MODELS = (
    "marts.cohort_members",
    "marts.customer_ltv_predicted",
    "marts.cohort_ltv",
    "marts.channel_ltv",
    "marts.channel_summary",
)
LND = "last_non_direct"

UPSTREAM = {
    "orders": """order_id varchar, customer_key varchar, order_ts timestamp, order_month date, revenue double,
        cost_of_goods double, margin double, margin_estimated boolean, refunded_amount double,
        refunded_at timestamp, refund_margin double, customer_type varchar, customer_order_number bigint,
        channel varchar, visitor_id varchar""",
    "first_purchases": """customer_key varchar, order_id varchar, first_purchase_ts timestamp,
        acquisition_month date, revenue double, margin double, channel varchar""",
    # the stored credits, one row per touch with a credit column per model (marts.attribution is their long view)
    "attribution_credits": """order_id varchar, customer_key varchar, first_purchase_ts timestamp, touch_ts timestamp,
        touch_position bigint, touch_count bigint, touch_origin varchar, channel varchar, source varchar,
        medium varchar, campaign varchar, """
    + ", ".join(f"credit_{model} double" for model in ATTRIBUTION_MODELS),
    "channel_period_cac": """period_grain varchar, period_start date, channel varchar, attribution_model varchar,
        ad_spend double, total_cost double, new_customers double, cac_paid double, cac_full double""",
}


# ---------------------------------------------------------------------------------------------- helpers
def _ts(text: str) -> datetime:
    return datetime.fromisoformat(text if " " in text else text + " 12:00")


def build_upstream(con, orders, credits=None, cac=()):
    """Create the upstream marts from hand-made rows.

    orders:  (order_id, customer, 'YYYY-MM-DD', revenue, margin[, refunded_amount, 'refunded_at', refund_margin])
    credits: {customer: [(model, channel, credit), ...]} for the first purchase; customers left out get no
             attribution rows at all.
    cac:     (month 'YYYY-MM-01', channel, model, new_customers, ad_spend, total_cost), month grain; the CACs
             follow as in marts.channel_period_cac (NULL without new customers).
    """
    con.execute("create schema if not exists marts")
    for table, columns in UPSTREAM.items():
        con.execute(f"create or replace table marts.{table} ({columns})")
    for row in orders:
        order_id, customer, ts, revenue, margin, *refund = row + (None,) * (8 - len(row))
        refunded_amount, refunded_at, refund_margin = refund
        con.execute(
            """insert into marts.orders (order_id, customer_key, order_ts, order_month, revenue, cost_of_goods,
                   margin, margin_estimated, refunded_amount, refunded_at, refund_margin)
               values (?, ?, ?, date_trunc('month', ?::timestamp)::date, ?, ? - ?, ?, false, ?, ?, ?)""",
            [
                order_id,
                customer,
                _ts(ts),
                _ts(ts),
                revenue,
                revenue,
                margin,
                margin,
                refunded_amount,
                _ts(refunded_at) if refunded_at else None,
                refund_margin,
            ],
        )
    # First purchase = earliest valid order, ties broken by order id (docs/metrics.md).
    con.execute(
        """insert into marts.first_purchases
           select customer_key, order_id, order_ts, date_trunc('month', order_ts)::date, revenue, margin, null
           from marts.orders
           qualify row_number() over (partition by customer_key order by order_ts, order_id) = 1"""
    )
    con.execute(
        """update marts.orders o set customer_type = case when o.order_id = f.order_id then 'new' else 'repeat' end
           from marts.first_purchases f where f.customer_key = o.customer_key"""
    )
    con.execute(
        """update marts.orders o set customer_order_number = n.number
           from (select order_id, row_number() over (partition by customer_key order by order_ts, order_id) as number
                 from marts.orders) n
           where n.order_id = o.order_id"""
    )
    # each (model, channel, credit) is a touch credited under that model alone
    for customer, shares in (credits or {}).items():
        for model, channel, credit in shares:
            con.execute(
                f"""insert into marts.attribution_credits (order_id, customer_key, first_purchase_ts, touch_ts,
                       channel, credit_{model})
                   select order_id, customer_key, first_purchase_ts, first_purchase_ts, ?, ?
                   from marts.first_purchases where customer_key = ?""",
                [channel, credit, customer],
            )
    run_model(con, {m.table: m for m in discover_models()}["marts.attribution"], {})
    for month, channel, model, new_customers, ad_spend, total_cost in cac:
        cac_paid, cac_full = (ad_spend / new_customers, total_cost / new_customers) if new_customers else (None, None)
        con.execute(
            "insert into marts.channel_period_cac values ('month', ?, ?, ?, ?, ?, ?, ?, ?)",
            [date.fromisoformat(month), channel, model, ad_spend, total_cost, new_customers, cac_paid, cac_full],
        )


def run_ltv(
    con, as_of: str, summary_months: int = 12, default_model: str = LND, min_customers_for_band: int = 1
) -> None:
    """min_customers_for_band is 1 here: the hand-built cohorts are small, and the bands' thresholds are
    what most of these tests check (the threshold itself has its own tests)."""
    params = {
        "as_of_date": date.fromisoformat(as_of),
        "summary_months": summary_months,
        "min_customers_for_band": min_customers_for_band,
        "default_model": default_model,
        "ltv_horizons": [1, 3, 6, 12, 24],
        "window_start": date(1900, 1, 1),
        "window_end": date(2999, 12, 31),
        "range_end": date(2999, 12, 31),
        "attribution_rewrites_start": date(1900, 1, 1),  # all cohorts
    }
    models = {m.table: m for m in discover_models()}
    for table in LTV_MODELS:
        run_model(con, models[table], params)


def records(con, sql: str, params=None) -> list[dict]:
    cursor = con.execute(sql, params) if params is not None else con.execute(sql)
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, row, strict=False)) for row in cursor.fetchall()]


def one(con, sql: str, params=None) -> dict:
    found = records(con, sql, params)
    assert len(found) == 1, found
    return found[0]


def only(credits_channel: str, *customers: str, model: str = LND) -> dict:
    return {c: [(model, credits_channel, 1.0)] for c in customers}


@pytest.fixture
def con():
    connection = duckdb.connect()
    yield connection
    connection.close()


# ------------------------------------------------------------------------------- the hand-built cohort
# vk_ads, January 2024, two customers, fully loaded CAC 400; as-of date 2024-06-15 (June is partial).
#   A: Jan 1000 / margin 400, Mar 500 / 200          B: Jan 600 / 240, Feb 300 / 120, Jun 800 / 320
# margin by k: 640, 120, 200, 0, 0, 320 -> cumulative per customer 320, 380, 480, 480, 480, 640
HAND_ORDERS = [
    ("a1", "A", "2024-01-10", 1000.0, 400.0),
    ("b1", "B", "2024-01-20", 600.0, 240.0),
    ("b2", "B", "2024-02-03", 300.0, 120.0),
    ("a2", "A", "2024-03-05", 500.0, 200.0),
    ("b3", "B", "2024-06-02", 800.0, 320.0),
    ("c1", "C", "2024-05-30", 100.0, 30.0),  # google_ads, May: a young cohort
]
HAND_CAC = [("2024-01-01", "vk_ads", LND, 2.0, 500.0, 800.0), ("2024-05-01", "google_ads", LND, 1.0, 50.0, 60.0)]


@pytest.fixture
def hand(con):
    build_upstream(con, HAND_ORDERS, only("vk_ads", "A", "B") | only("google_ads", "C"), HAND_CAC)
    run_ltv(con, "2024-06-15")
    return con


def test_cohort_ltv_rows_run_to_the_as_of_month_with_observed_zeros(hand):
    got = records(
        hand,
        """select month_index, activity_month, month_complete, cohort_customers, active_customers, retention_rate,
                  orders, repeat_customers, revenue, margin, cum_revenue_per_customer, cum_margin_per_customer
           from marts.cohort_ltv where channel = 'vk_ads' order by month_index""",
    )
    assert [r["month_index"] for r in got] == [0, 1, 2, 3, 4, 5]
    assert [r["activity_month"] for r in got] == [date(2024, m, 1) for m in range(1, 7)]
    assert [r["month_complete"] for r in got] == [True] * 5 + [False]
    assert all(r["cohort_customers"] == 2 for r in got)
    assert [r["active_customers"] for r in got] == [2, 1, 1, 0, 0, 1]
    assert [r["retention_rate"] for r in got] == [1, 0.5, 0.5, 0, 0, 0.5]
    assert [r["orders"] for r in got] == [2, 1, 1, 0, 0, 1]
    # B's second order is in February (k = 1), A's in March (k = 2); the count is cumulative
    assert [r["repeat_customers"] for r in got] == [0, 1, 2, 2, 2, 2]
    assert [r["revenue"] for r in got] == [1600, 300, 500, 0, 0, 800]
    assert [r["margin"] for r in got] == [640, 120, 200, 0, 0, 320]
    assert [r["cum_revenue_per_customer"] for r in got] == pytest.approx([800, 950, 1200, 1200, 1200, 1600])
    assert [r["cum_margin_per_customer"] for r in got] == pytest.approx([320, 380, 480, 480, 480, 640])

    young = records(
        hand, "select month_index, month_complete from marts.cohort_ltv where channel = 'google_ads' order by 1"
    )
    assert young == [{"month_index": 0, "month_complete": True}, {"month_index": 1, "month_complete": False}]


def test_channel_ltv_horizons_payback_and_incomplete_horizons(hand):
    row = one(hand, "select * from marts.channel_ltv where channel = 'vk_ads'")
    assert row["cohort_month"] == date(2024, 1, 1)
    assert row["customers"] == 2
    assert (row["cac_paid"], row["cac_full"]) == (250, 400)
    assert row["ltv_margin_1"] == pytest.approx(320.00, abs=0.005)
    assert row["ltv_margin_3"] == pytest.approx(480.00, abs=0.005)
    assert row["ltv_revenue_1"] == pytest.approx(800.00, abs=0.005)
    assert row["ltv_revenue_3"] == pytest.approx(1200.00, abs=0.005)
    # k = 5 is June, still running on 2024-06-15: the 6-month horizon is incomplete, as are 12 and 24.
    for h in (6, 12, 24):
        assert row[f"ltv_margin_{h}"] is None and row[f"ltv_revenue_{h}"] is None
    # no 12-month LTV yet: no ratio, no customers behind it, no band (docs/metrics.md "The headline")
    assert row["ltv_cac_12"] is None and row["ltv_cac_band"] == "insufficient_data"
    assert row["ltv_12_customers"] == 0 and row["ltv_margin_12_low"] is None and row["ltv_cac_12_high"] is None
    # 320 < 400, 380 < 400, 480 >= 400 -> paid back in the third month.
    assert row["payback_months_observed"] == 3
    assert row["months_observed"] == 6
    # 400 / (Σ margin 1280 / Σ active customer-months 5 = 256)
    assert row["payback_months_simple"] == pytest.approx(1.5625)
    assert row["avg_order_value"] == pytest.approx(640)  # 3200 / 5 orders
    assert row["orders_per_customer"] == pytest.approx(2.5)
    assert row["repeat_purchase_rate"] == pytest.approx(1.0)
    assert row["margin_rate"] == pytest.approx(0.4)
    # complete transitions k = 1..4: Σ active 1+1+0+0 over Σ prior 2+1+1+0 -> retention 0.5, churn 0.5
    assert row["monthly_churn"] == pytest.approx(0.5)
    assert row["ltv_formula"] == pytest.approx(640 * 1.0 * 0.4 / 0.5)

    young = one(hand, "select * from marts.channel_ltv where channel = 'google_ads'")
    assert young["ltv_margin_1"] == pytest.approx(30)
    assert young["ltv_margin_3"] is None
    assert young["payback_months_observed"] is None  # 30 < 60 so far
    assert young["months_observed"] == 2
    assert young["monthly_churn"] is None and young["ltv_formula"] is None  # no complete month k >= 1 yet
    assert young["repeat_purchase_rate"] == 0


def test_tables_match_their_pandera_models_and_every_column_has_a_comment(hand):
    for model in TABLES:
        table = model.to_schema().name
        model.validate(hand.sql(f"select * from {table}").pl())
        apply_comments(hand, model)
        assert undocumented_columns(hand, table) == []
        schema, name = table.split(".")
        comment = one(
            hand, "select comment from duckdb_tables() where schema_name = ? and table_name = ?", [schema, name]
        )
        assert comment["comment"]


# ----------------------------------------------------------------------------------- worked examples
def test_metrics_example_3_formula_ltv():
    """10 000 per customer-period, 60 % margin, 15 % churn per period -> 10 000 x 0.6 / 0.15 = 40 000.

    docs/metrics.md states it on a yearly grain; the formula is the same on any grain, so the same inputs
    per month give the same 40 000: 20 customers in January, 17 of them (85 %) order again in February.
    """
    con = duckdb.connect()
    orders = [(f"j{i}", f"u{i}", "2024-01-05", 10_000.0, 6_000.0) for i in range(20)]
    orders += [(f"f{i}", f"u{i}", "2024-02-07", 10_000.0, 6_000.0) for i in range(17)]
    build_upstream(con, orders, only("email", *(f"u{i}" for i in range(20))))
    run_ltv(con, "2024-02-29")
    row = one(con, "select * from marts.channel_ltv")
    assert row["avg_order_value"] == pytest.approx(10_000)
    assert row["monthly_orders_per_active"] == pytest.approx(1)
    assert row["margin_rate"] == pytest.approx(0.6)
    assert row["monthly_churn"] == pytest.approx(0.15)
    assert round(row["ltv_formula"], 2) == 40_000.00


def test_metrics_example_4_simple_payback_and_payback_not_yet_reached():
    """CAC 2 500, monthly margin per active customer 390 -> 2 500 / 390 = 6.41 months."""
    con = duckdb.connect()
    orders = [(f"o{m}", "P", f"2024-0{m}-10", 1_000.0, 390.0) for m in (1, 2, 3)]
    build_upstream(
        con, orders, only("yandex_direct", "P"), [("2024-01-01", "yandex_direct", LND, 1.0, 2_000.0, 2_500.0)]
    )
    run_ltv(con, "2024-03-31")
    row = one(con, "select * from marts.channel_ltv")
    assert row["monthly_margin_per_active"] == pytest.approx(390)
    assert round(row["payback_months_simple"], 2) == 6.41
    # 390, 780, 1 170 so far: not paid back yet, after 3 observed months.
    assert row["payback_months_observed"] is None
    assert row["months_observed"] == 3
    assert row["ltv_margin_3"] == pytest.approx(1_170)
    assert row["ltv_margin_6"] is None


def test_ltv_cac_12_and_band_on_a_cohort_a_year_old():
    con = duckdb.connect()
    # Q bought for 300 margin in Jan 2023 and 700 in Dec 2023 (k = 11): LTV12 = 1 000; CAC 400 -> 2.5 'low'.
    orders = [("q1", "Q", "2023-01-15", 900.0, 300.0), ("q2", "Q", "2023-12-15", 2_000.0, 700.0)]
    build_upstream(con, orders, only("meta_ads", "Q"), [("2023-01-01", "meta_ads", LND, 1.0, 300.0, 400.0)])
    run_ltv(con, "2023-12-31")
    row = one(con, "select * from marts.channel_ltv")
    assert row["ltv_margin_12"] == pytest.approx(1_000)
    assert row["ltv_revenue_12"] == pytest.approx(2_900)
    assert row["ltv_margin_6"] == pytest.approx(300)
    assert row["ltv_margin_24"] is None
    assert row["ltv_cac_12"] == pytest.approx(2.5)
    assert row["ltv_cac_band"] == "low"
    assert row["payback_months_observed"] == 12


@pytest.mark.parametrize(
    ("ltv12", "band"),
    [
        (399.0, "loss"),
        (400.0, "break_even"),
        (799.0, "break_even"),
        (800.0, "low"),
        (1_200.0, "healthy"),
        (1_600.0, "excellent"),
    ],
)
def test_ltv_cac_band_edges(ltv12, band):
    con = duckdb.connect()
    build_upstream(
        con,
        [("r1", "R", "2023-01-15", ltv12 * 2, ltv12)],
        only("vk_ads", "R"),
        [("2023-01-01", "vk_ads", LND, 1.0, 400.0, 400.0)],
    )
    run_ltv(con, "2023-12-31")
    assert one(con, "select ltv_cac_band from marts.channel_ltv")["ltv_cac_band"] == band


# --------------------------------------------------------------------------------------------- refunds
def test_partial_refund_lowers_cumulative_margin_in_the_refund_month():
    con = duckdb.connect()
    # 1 000 revenue / 400 margin in January; 200 of it refunded on 10 March (margin share 80).
    orders = [("a1", "A", "2024-01-10", 1_000.0, 400.0, 200.0, "2024-03-10", 80.0)]
    build_upstream(con, orders, only("vk_ads", "A"))
    run_ltv(con, "2024-04-30")
    got = records(
        con,
        """select month_index, active_customers, orders, revenue, margin, cum_revenue_per_customer,
                  cum_margin_per_customer from marts.cohort_ltv order by month_index""",
    )
    assert [r["margin"] for r in got] == [400, 0, -80, 0]
    assert [r["revenue"] for r in got] == [1_000, 0, -200, 0]
    assert [r["cum_margin_per_customer"] for r in got] == [400, 400, 320, 320]
    assert [r["cum_revenue_per_customer"] for r in got] == [1_000, 1_000, 800, 800]
    assert [r["active_customers"] for r in got] == [1, 0, 0, 0]  # a refund is not an order
    assert [r["orders"] for r in got] == [1, 0, 0, 0]
    row = one(con, "select ltv_margin_1, ltv_margin_3, revenue, margin from marts.channel_ltv")
    assert (row["ltv_margin_1"], row["ltv_margin_3"]) == (400, 320)
    assert (row["revenue"], row["margin"]) == (800, 320)


def test_refund_after_the_as_of_date_is_not_seen_yet():
    con = duckdb.connect()
    build_upstream(con, [("a1", "A", "2024-01-10", 1_000.0, 400.0, 200.0, "2024-03-10", 80.0)], only("vk_ads", "A"))
    run_ltv(con, "2024-02-29")
    assert [r["margin"] for r in records(con, "select margin from marts.cohort_ltv order by month_index")] == [400, 0]


# ----------------------------------------------------------------------------------- credit weighting
def test_multi_touch_credits_weight_the_cohort_and_missing_credit_goes_to_unattributed():
    con = duckdb.connect()
    orders = [
        ("a1", "A", "2024-01-10", 1_000.0, 400.0),
        ("a2", "A", "2024-02-10", 500.0, 200.0),
        ("b1", "B", "2024-01-11", 300.0, 100.0),
        ("z1", "Z", "2024-01-12", 50.0, 10.0),  # no attribution rows at all
    ]
    credits = {
        "A": [
            ("linear", "vk_ads", 0.25),
            ("linear", "vk_ads", 0.25),
            ("linear", "google_ads", 0.5),
            (LND, "google_ads", 1.0),
        ],
        "B": [("linear", "vk_ads", 1.0), (LND, "vk_ads", 1.0)],
    }
    build_upstream(con, orders, credits)
    run_ltv(con, "2024-02-29")
    got = {
        (r["attribution_model"], r["channel"], r["month_index"]): r
        for r in records(con, "select * from marts.cohort_ltv")
    }
    vk = got[("linear", "vk_ads", 0)], got[("linear", "vk_ads", 1)]
    assert vk[0]["cohort_customers"] == pytest.approx(1.5)  # A's two vk touches add up to 0.5, plus B
    assert vk[0]["active_customers"] == pytest.approx(1.5)
    assert vk[0]["margin"] == pytest.approx(0.5 * 400 + 100)
    assert vk[1]["active_customers"] == pytest.approx(0.5)
    assert vk[1]["retention_rate"] == pytest.approx(0.5 / 1.5)
    assert vk[1]["cum_margin_per_customer"] == pytest.approx((300 + 100) / 1.5)
    # A orders again in February: half a repeat customer in vk_ads, half in google_ads; B never does
    assert (vk[0]["repeat_customers"], vk[1]["repeat_customers"]) == (0, pytest.approx(0.5))
    assert got[("linear", "google_ads", 1)]["repeat_customers"] == pytest.approx(0.5)
    google = got[("linear", "google_ads", 1)]
    assert google["cohort_customers"] == pytest.approx(0.5)
    assert google["cum_margin_per_customer"] == pytest.approx(600)  # per customer, A's full value
    # Each model's cohorts add up to the real number of customers; Z lands in `unattributed` under both.
    sizes = records(
        con,
        """select attribution_model, sum(cohort_customers) as customers from marts.cohort_ltv
           where month_index = 0 group by 1 order by 1""",
    )
    assert sizes == [{"attribution_model": LND, "customers": 3}, {"attribution_model": "linear", "customers": 3}]
    assert got[(LND, "unattributed", 0)]["cohort_customers"] == 1
    assert got[("linear", "unattributed", 0)]["margin"] == 10


def test_default_model_cohorts_exist_without_any_attribution_rows():
    con = duckdb.connect()
    build_upstream(con, [("a1", "A", "2024-01-10", 100.0, 40.0)])
    run_ltv(con, "2024-01-31")
    assert records(con, "select attribution_model, channel, customers from marts.channel_ltv") == [
        {"attribution_model": LND, "channel": "unattributed", "customers": 1}
    ]


def test_customers_acquired_after_the_as_of_date_are_left_out():
    con = duckdb.connect()
    build_upstream(
        con, [("a1", "A", "2024-01-10", 100.0, 40.0), ("b1", "B", "2024-03-10", 100.0, 40.0)], only("vk_ads", "A", "B")
    )
    run_ltv(con, "2024-02-15")
    assert records(con, "select cohort_month, count(*) as n from marts.cohort_ltv group by 1") == [
        {"cohort_month": date(2024, 1, 1), "n": 2}
    ]


# ------------------------------------------------------------------------------------ channel summary
# as-of 2024-06-15 -> last complete month May 2024 -> window Jun 2023 .. May 2024 (12 months).
SUMMARY_ORDERS = [
    ("p1", "P", "2023-05-10", 1_000.0, 500.0),  # May 2023: before the window
    ("x1", "X", "2023-06-10", 300.0, 100.0),
    ("x2", "X", "2023-08-10", 150.0, 50.0),
    ("y1", "Y", "2024-04-10", 100.0, 40.0),
    ("z1", "Z", "2024-04-12", 60.0, 20.0),
    ("y2", "Y", "2024-05-10", 90.0, 30.0),
    ("w1", "W", "2024-06-05", 40.0, 10.0),  # June 2024: the partial as-of month, not in the window
]
SUMMARY_CAC = [
    ("2023-05-01", "vk_ads", LND, 1.0, 999.0, 999.0),
    ("2023-06-01", "vk_ads", LND, 1.0, 60.0, 90.0),
    ("2024-03-01", "vk_ads", LND, 0.0, 30.0, 30.0),  # spend, no new customer: CAC NULL, cost still counts
    ("2024-04-01", "vk_ads", LND, 2.0, 60.0, 90.0),
    ("2024-06-01", "vk_ads", LND, 1.0, 999.0, 999.0),
]


def test_channel_summary_pools_the_last_complete_months():
    con = duckdb.connect()
    build_upstream(con, SUMMARY_ORDERS, only("vk_ads", "P", "X", "Y", "Z", "W"), SUMMARY_CAC)
    run_ltv(con, "2024-06-15")
    row = one(con, "select * from marts.channel_summary")
    assert (row["channel"], row["attribution_model"]) == ("vk_ads", LND)
    assert (row["window_start"], row["window_end"]) == (date(2023, 6, 1), date(2024, 5, 1))
    assert row["cohorts"] == 2
    assert row["customers"] == 3
    assert row["cac_paid"] == pytest.approx((60 + 30 + 60) / 3)  # total spend / total new customers
    assert row["cac_full"] == pytest.approx((90 + 30 + 90) / 3)  # = 70
    # h = 1: both cohorts complete -> (100 x 1 + 30 x 2) / 3; h = 3, 12: only June 2023 is complete.
    assert row["ltv_margin_1"] == pytest.approx(160 / 3)
    assert row["ltv_margin_3"] == pytest.approx(150)
    assert row["ltv_margin_12"] == pytest.approx(150)
    assert row["ltv_margin_24"] is None
    assert row["ltv_revenue_1"] == pytest.approx((300 + 160) / 3)
    # LTV:CAC pools the same cohorts top and bottom: only June 2023 has lived 12 months, so its LTV is
    # divided by June 2023's own CAC (90 / 1 customer), never the window's 70 (which would say "low")
    assert row["ltv_12_customers"] == 1 and row["cac_full_12"] == pytest.approx(90)
    assert row["ltv_cac_12"] == pytest.approx(150 / 90)
    assert row["ltv_cac_band"] == "break_even"
    assert row["ltv_margin_12_low"] is None and row["ltv_cac_12_low"] is None  # 1 customer: no interval
    # pooled curve: k0 (100 + 60) / 3 = 53.3 and k1 (100 + 90) / 3 = 63.3 are < 70; k2: only June 2023
    # has a complete third month (April 2024's is the partial June) -> 150 >= 70 -> month 3
    assert row["payback_months_observed"] == 3
    assert row["months_observed"] == 12
    assert row["avg_order_value"] == pytest.approx((300 + 150 + 100 + 60 + 90) / 5)
    assert row["orders_per_customer"] == pytest.approx(5 / 3)
    assert row["repeat_purchase_rate"] == pytest.approx(2 / 3)
    # margin 240 over active customer-months: X 2 (Jun, Aug 2023) + Y/Z 2 in Apr + Y 1 in May = 5
    assert row["payback_months_simple"] == pytest.approx(70 / (240 / 5))


def test_channel_summary_window_follows_summary_months_and_a_month_end_as_of_date():
    con = duckdb.connect()
    build_upstream(con, SUMMARY_ORDERS, only("vk_ads", "P", "X", "Y", "Z", "W"), SUMMARY_CAC)
    run_ltv(con, "2024-06-30", summary_months=2)  # June has ended: it is the window's last month
    row = one(con, "select * from marts.channel_summary")
    assert (row["window_start"], row["window_end"]) == (date(2024, 5, 1), date(2024, 6, 1))
    assert row["cohorts"] == 1 and row["customers"] == 1  # W; April 2024 is outside
    assert row["cac_full"] == pytest.approx(999)


# ------------------------------------------------------------------------- matched ratios and intervals
def test_the_interval_of_ltv_12_matches_a_hand_computation():
    """One cohort of six customers (Jan 2024, lived 12 months by 2025-01-31), 12-month margins 100..600,
    one with a refund inside its year and one order after it. By hand: x̄ = 350, Σ(x - x̄)² = 175 000,
    m = 6, SE² = 6/5 x 175 000 / 6² = 5 833.33, SE = 76.376, n_eff = 6, t(0.95, 5) = 2.015048 (tables):
    350 ± 153.90 -> [196.10, 503.90]; over CAC 100: [1.961, 5.039]."""
    con = duckdb.connect()
    orders = [
        ("a1", "A", "2024-01-05", 200.0, 100.0),
        ("b1", "B", "2024-01-06", 400.0, 200.0),
        ("c1", "C", "2024-01-07", 600.0, 300.0),
        ("d1", "D", "2024-01-08", 500.0, 250.0),
        ("d2", "D", "2024-06-08", 300.0, 150.0),  # D: 250 + 150 = 400
        ("e1", "E", "2024-01-09", 1_000.0, 600.0, 200.0, "2024-05-01", 100.0),  # E: 600 - 100 refunded = 500
        ("f1", "F", "2024-01-10", 1_200.0, 600.0),
        ("f2", "F", "2025-01-15", 1_000.0, 900.0),  # month 12: after F's first year (F stays at 600)
        ("g1", "G", "2024-06-10", 100.0, 40.0),  # G: in the summary window, so vk_ads has a summary row
    ]
    cac = [("2024-01-01", "vk_ads", LND, 6.0, 300.0, 600.0), ("2024-06-01", "vk_ads", LND, 1.0, 50.0, 80.0)]
    build_upstream(con, orders, only("vk_ads", *"ABCDEFG"), cac)
    run_ltv(con, "2025-01-31", min_customers_for_band=30)
    row = one(con, "select * from marts.channel_ltv where cohort_month = '2024-01-01'")
    assert row["ltv_margin_12"] == pytest.approx(350) and row["ltv_12_customers"] == 6
    assert (row["ltv_margin_12_low"], row["ltv_margin_12_high"]) == (
        pytest.approx(196.10, abs=0.01),
        pytest.approx(503.90, abs=0.01),
    )
    assert (row["ltv_cac_12_low"], row["ltv_cac_12_high"]) == (
        pytest.approx(1.9610, abs=1e-4),
        pytest.approx(5.0390, abs=1e-4),
    )
    assert row["ltv_cac_12"] == pytest.approx(3.5)
    assert row["ltv_cac_band"] == "insufficient_data"  # 6 customers < report.min_customers_for_band = 30
    # in the headline the cohort is an older one (window 2024-02..2025-01, older 2023-02..2024-01): the same
    # interval over its own CAC, 600 / 6 = 100
    summary = one(con, "select * from marts.channel_summary")
    assert summary["customers_older_cohorts"] == 6 and summary["cac_full_older_cohorts"] == pytest.approx(100)
    assert (summary["ltv_margin_12_older_cohorts_low"], summary["ltv_margin_12_older_cohorts_high"]) == (
        pytest.approx(196.10, abs=0.01),
        pytest.approx(503.90, abs=0.01),
    )
    assert summary["ltv_cac_12_older_cohorts_high"] == pytest.approx(5.0390, abs=1e-4)
    assert summary["ltv_cac_band_older_cohorts"] == "insufficient_data"


def test_fractional_credits_weigh_the_interval_by_effective_size():
    """Two customers at half credit count as one customer's weight; n_eff = (Σw)² / Σw². Eight customers at
    credit 1 and four at 0.5: Σw = 10, Σw² = 9, n_eff = 11.1; below 5 effective customers no interval."""
    con = duckdb.connect()
    margins = [100.0, 300.0, 200.0, 400.0, 250.0, 150.0, 350.0, 50.0, 500.0, 0.0, 450.0, 120.0]
    orders = [(f"o{i}", f"C{i}", f"2024-01-{i + 2:02d}", 2 * m, m) for i, m in enumerate(margins)]
    credits = {
        f"C{i}": [(LND, "vk_ads", 1.0 if i < 8 else 0.5)] + ([(LND, "email", 0.5)] if i >= 8 else []) for i in range(12)
    }
    build_upstream(con, orders, credits, [("2024-01-01", "vk_ads", LND, 10.0, 300.0, 600.0)])
    run_ltv(con, "2025-01-31")
    row = one(con, "select * from marts.channel_ltv where channel = 'vk_ads'")
    w = [1.0] * 8 + [0.5] * 4
    sw, sw2 = sum(w), sum(v * v for v in w)
    mean = sum(a * b for a, b in zip(w, margins, strict=True)) / sw
    spread = sum(a * a * (b - mean) ** 2 for a, b in zip(w, margins, strict=True))
    se = (12 / 11 * spread / sw**2) ** 0.5
    t = student.ppf(0.95, sw**2 / sw2 - 1)  # n_eff - 1 = 10.11 degrees of freedom
    assert row["ltv_margin_12"] == pytest.approx(mean)
    assert row["ltv_margin_12_high"] - row["ltv_margin_12"] == pytest.approx(t * se, rel=1e-4)
    # email: 4 customers at half credit -> n_eff = 4 < 5: a figure, no interval
    email = one(con, "select * from marts.channel_ltv where channel = 'email'")
    assert email["ltv_margin_12"] is not None and email["ltv_margin_12_low"] is None


def test_a_window_without_a_matured_cohort_has_no_ratio_and_a_small_channel_no_band():
    """summary_months = 2 on 2024-06-15: the window is 2024-04..05 and no cohort of it has lived 12 months ->
    ratio and interval NULL, 0 customers behind it, insufficient_data. The older cohorts (2024-02..03) hold
    nothing either. Then a channel with only 2 matured customers: a ratio, but no band and no interval."""
    con = duckdb.connect()
    build_upstream(con, SUMMARY_ORDERS, only("vk_ads", "P", "X", "Y", "Z", "W"), SUMMARY_CAC)
    run_ltv(con, "2024-06-15", summary_months=2, min_customers_for_band=30)
    row = one(con, "select * from marts.channel_summary")
    assert (row["window_start"], row["window_end"]) == (date(2024, 4, 1), date(2024, 5, 1))
    assert row["ltv_cac_12"] is None and row["ltv_margin_12"] is None and row["ltv_12_customers"] == 0
    assert row["ltv_cac_band"] == "insufficient_data" and row["ltv_cac_12_low"] is None
    assert row["customers_older_cohorts"] == 0 and row["ltv_cac_band_older_cohorts"] == "insufficient_data"
    # the window's predicted ratio rests on its 2 customers (Y, Z): a figure, but no band
    assert row["customers"] == 2 and row["ltv_cac_band_predicted"] == "insufficient_data"

    two = duckdb.connect()
    orders = [("x1", "X", "2023-06-10", 300.0, 100.0), ("y1", "Y", "2023-06-11", 500.0, 200.0)]
    build_upstream(two, orders, only("vk_ads", "X", "Y"), [("2023-06-01", "vk_ads", LND, 2.0, 60.0, 100.0)])
    run_ltv(two, "2024-06-15", min_customers_for_band=30)
    row = one(two, "select * from marts.channel_summary")
    assert row["ltv_12_customers"] == 2 and row["ltv_cac_12"] == pytest.approx(150 / 50)
    assert row["ltv_cac_band"] == "insufficient_data"
    assert row["ltv_margin_12_low"] is None and row["ltv_cac_12_high"] is None
