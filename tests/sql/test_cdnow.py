"""Real data: the CDNOW transactions (23 570 customers acquired in Q1 1997, orders to June 1998).

The file ships inside the `lifetimes` package; it is read directly (the package is not imported).
CDNOW has no channels, costs or refunds, so every first purchase goes to `unattributed` with credit 1
under each attribution model, and margin is revenue x the default margin rate, as marts.orders
would estimate it without cost of goods. The upstream marts are built here from their contracts
(docs/data_contracts.md section 4), then this issue's models run, and their output is compared with a
plain pandas computation over the same file: cohort sizes, active customers per month and cumulative
revenue per customer. When the upstream SQL exists, the same file also goes through the whole chain
(raw.orders -> run_transforms) and must give the same cohorts.
"""

from __future__ import annotations

import sysconfig
from datetime import date
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from pipelines.core.config import ATTRIBUTION_MODELS
from pipelines.core.paths import SQL_DIR
from pipelines.transform.runner import discover_models, run_model

CDNOW = Path(sysconfig.get_paths()["purelib"]) / "lifetimes" / "datasets" / "CDNOW_master.txt"
MODELS = ("first_touch", "last_touch", "last_non_direct", "linear", "time_decay", "position_based")
LTV_MODELS = (
    "marts.cohort_members",
    "marts.customer_ltv_predicted",
    "marts.cohort_ltv",
    "marts.channel_ltv",
    "marts.channel_summary",
)
MARGIN_RATE = 0.35
AS_OF = date(1998, 6, 30)  # the latest date in the file

pytestmark = pytest.mark.skipif(not CDNOW.exists(), reason=f"CDNOW data file not found at {CDNOW}")


# ------------------------------------------------------------------------------ the file, read plainly
@pytest.fixture(scope="module")
def transactions() -> pd.DataFrame:
    """One row per line of the file = one order; order ids follow the file's line order."""
    frame = pd.read_csv(
        CDNOW,
        sep=r"\s+",
        header=None,
        skiprows=1,
        names=["customer", "day", "cds", "revenue"],
        dtype={"customer": str, "day": str},
    )
    frame["order_id"] = [f"{i:06d}" for i in range(1, len(frame) + 1)]
    frame["order_ts"] = pd.to_datetime(frame["day"], format="%Y%m%d")
    return frame


@pytest.fixture(scope="module")
def expected(transactions):
    """The independent computation: cohort sizes, active customers and cumulative revenue per customer."""
    t = transactions.copy()
    t["month"] = t["order_ts"].dt.to_period("M")
    first = t.groupby("customer")["month"].min().rename("cohort")
    t = t.join(first, on="customer")
    t["k"] = (t["month"] - t["cohort"]).apply(lambda offset: offset.n)
    sizes = first.value_counts().sort_index()
    last = pd.Period(AS_OF, "M")
    active, cum_revenue = {}, {}
    for cohort, size in sizes.items():
        rows = t[t["cohort"] == cohort]
        by_k_active = rows.groupby("k")["customer"].nunique()
        by_k_revenue = rows.groupby("k")["revenue"].sum()
        running = 0.0
        for k in range((last - cohort).n + 1):  # every month to the as-of month, zeros included
            running += float(by_k_revenue.get(k, 0.0))
            active[(cohort.start_time.date(), k)] = int(by_k_active.get(k, 0))
            cum_revenue[(cohort.start_time.date(), k)] = running / size
    return {
        "sizes": {c.start_time.date(): int(n) for c, n in sizes.items()},
        "active": active,
        "cum_revenue": cum_revenue,
        "customers": int(t["customer"].nunique()),
    }


# ----------------------------------------------------------------------------- upstream marts, by hand
def build_upstream_marts(con, transactions: pd.DataFrame) -> None:
    orders = transactions[["order_id", "customer", "order_ts", "revenue"]]  # noqa: F841  (scanned by DuckDB)
    con.execute("create schema marts")
    con.execute(
        """create table marts.orders as
           select order_id, customer as customer_key, order_ts, date_trunc('month', order_ts)::date as order_month,
                  revenue::double as revenue, null::double as cost_of_goods, revenue * $rate as margin,
                  true as margin_estimated, null::double as refunded_amount, null::timestamp as refunded_at,
                  null::double as refund_margin, null::varchar as customer_type,
                  row_number() over (partition by customer order by order_ts, order_id) as customer_order_number,
                  null::varchar as channel,
                  null::varchar as visitor_id
           from orders""",
        {"rate": MARGIN_RATE},
    )
    con.execute(
        """create table marts.first_purchases as
           select customer_key, order_id, order_ts as first_purchase_ts, order_month as acquisition_month,
                  revenue, margin, 'unattributed' as channel
           from marts.orders
           qualify row_number() over (partition by customer_key order by order_ts, order_id) = 1"""
    )
    # No touch at all: every first purchase gives credit 1 to `unattributed` under each model (the stored
    # credits have a column per model; marts.attribution is their long view).
    credit_columns = ", ".join(
        f"{'1.0' if model in MODELS else 'null'}::double as credit_{model}" for model in ATTRIBUTION_MODELS
    )
    con.execute(
        f"""create table marts.attribution_credits as
           select order_id, customer_key, first_purchase_ts, first_purchase_ts as touch_ts,
                  null::bigint as touch_position, null::bigint as touch_count, 'order' as touch_origin,
                  'unattributed' as channel, null::varchar as source, null::varchar as medium,
                  null::varchar as campaign, {credit_columns}
           from marts.first_purchases"""
    )
    run_model(con, {m.table: m for m in discover_models()}["marts.attribution"], {})
    con.execute(
        """create table marts.channel_period_cac (period_grain varchar, period_start date, channel varchar,
           attribution_model varchar, ad_spend double, total_cost double, new_customers double, cac_paid double,
           cac_full double)"""
    )


def run_ltv_models(con) -> None:
    params = {
        "as_of_date": AS_OF,
        "summary_months": 12,
        "min_customers_for_band": 30,
        "default_model": "last_non_direct",
        "range_end": date(2999, 12, 31),
        "attribution_rewrites_start": date(1900, 1, 1),  # all cohorts
    }
    models = {m.table: m for m in discover_models()}
    for table in LTV_MODELS:
        run_model(con, models[table], params)


def assert_matches(con, expected, model: str = "last_non_direct") -> None:
    got = con.execute(
        """select cohort_month, month_index, channel, cohort_customers, active_customers, cum_revenue_per_customer,
                  cum_margin_per_customer
           from marts.cohort_ltv where attribution_model = ? order by cohort_month, month_index""",
        [model],
    ).fetchall()
    assert {row[2] for row in got} == {"unattributed"}
    assert len(got) == len(expected["active"])  # no month missing, none invented beyond June 1998
    sizes = {row[0]: row[3] for row in got if row[1] == 0}
    assert sizes == expected["sizes"]
    for cohort_month, k, _, _size, active, cum_revenue, cum_margin in got:
        key = (cohort_month, k)
        assert active == expected["active"][key], key
        assert cum_revenue == pytest.approx(expected["cum_revenue"][key], rel=1e-9), key
        assert cum_margin == pytest.approx(MARGIN_RATE * expected["cum_revenue"][key], rel=1e-9), key


# ----------------------------------------------------------------------------------------------- tests
def test_cdnow_cohorts_match_an_independent_computation(transactions, expected):
    assert expected["customers"] == 23_570 and len(transactions) == 69_659
    assert set(expected["sizes"]) == {date(1997, 1, 1), date(1997, 2, 1), date(1997, 3, 1)}
    con = duckdb.connect()
    build_upstream_marts(con, transactions)
    run_ltv_models(con)

    for model in MODELS:  # credit 1 everywhere: every model gives the same cohorts
        assert_matches(con, expected, model)

    # channel_ltv reads its horizons off the same curve; every horizon up to 12 is complete by June 1998
    # for all three cohorts (March 1997 + 12 months ends February 1998), 24 is not for any.
    horizons = con.execute(
        """select cohort_month, customers, ltv_revenue_1, ltv_revenue_3, ltv_revenue_6, ltv_revenue_12,
                  ltv_revenue_24, ltv_margin_12, months_observed, cac_full, ltv_cac_12, payback_months_observed
           from marts.channel_ltv where attribution_model = 'last_non_direct' order by cohort_month"""
    ).fetchall()
    assert len(horizons) == 3
    for cohort_month, customers, r1, r3, r6, r12, r24, m12, observed, cac, ratio, payback in horizons:
        assert customers == expected["sizes"][cohort_month]
        for h, value in ((1, r1), (3, r3), (6, r6), (12, r12)):
            assert value == pytest.approx(expected["cum_revenue"][(cohort_month, h - 1)], rel=1e-9)
        assert r24 is None
        assert m12 == pytest.approx(MARGIN_RATE * r12, rel=1e-9)
        assert observed == 18 - (cohort_month.month - 1)
        assert cac is None and ratio is None and payback is None  # CDNOW has no costs

    # With an as-of date on 30 June 1998 the summary window is July 1997 .. June 1998: no CDNOW
    # customer was acquired then, so the summary is empty rather than filled with guesses.
    assert con.execute("select count(*) from marts.channel_summary").fetchall() == [(0,)]


UPSTREAM_SQL = [
    SQL_DIR / "marts" / f"{name}.sql" for name in ("orders", "first_purchases", "attribution", "channel_period_cac")
]


@pytest.mark.skipif(not all(p.exists() for p in UPSTREAM_SQL), reason="upstream mart SQL (issues 2-3) not written yet")
def test_cdnow_through_the_whole_chain(transactions, expected):
    """raw.orders -> staging -> marts: the real pipeline gives the same cohorts as the plain computation."""
    from pipelines.core.config import Config
    from pipelines.ingest.raw_tables import create_raw_tables
    from pipelines.transform.params import EARLIEST, LATEST, run_transforms

    con = duckdb.connect()
    create_raw_tables(con)
    raw = transactions[["order_id", "customer", "order_ts", "revenue"]]  # noqa: F841  (scanned by DuckDB)
    con.execute(
        """insert into raw.orders by name
           select order_id, customer as customer_id, order_ts as created_at, 'completed' as status,
                  revenue::double as revenue, 'RUB' as currency, 'CDNOW_master.txt' as source_file,
                  row_number() over (order by order_id) + 1 as source_row, 'canonical' as layout
           from raw"""
    )
    run_transforms(con, Config(as_of_date=AS_OF, default_margin_rate=MARGIN_RATE), (EARLIEST, LATEST))
    assert_matches(con, expected)
