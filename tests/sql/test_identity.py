"""The identity graph (docs/metrics.md "Customer identity") through the real SQL models: chains across guest
orders, CRM records and identified touches, a too-common phone, CRM records that are one person, key
stability, and a nightly run where a new order joins two customers. Every expectation is worked out by
hand from the rows inserted."""

from __future__ import annotations

import random
from datetime import date, datetime

import polars as pl
import pytest
from conftest import insert, make_config, new_warehouse, run, table

from pipelines.core.db import rows, scalar
from pipelines.transform.models import identity_graph
from schemas.marts_identity import Customers, IdentityConflicts


def order(order_id: str, day: int, month: int = 3, **values) -> dict:
    return {
        "order_id": order_id,
        "created_at": datetime(2024, month, day, 12),
        "status": "paid",
        "revenue": 100.0,
        "currency": "RUB",
    } | values


# A chain of six links, each record carrying exactly two identifiers, so the graph is a path:
# email:e1 - phone:p1 - crm:c1 - visitor:v1 - email:e2 - phone:p2 - visitor:v2
CHAIN = [
    ("raw.orders", order("o1", 1, email_key="e1", phone_key="p1")),  # guest order: e-mail and phone
    ("raw.customers", {"customer_id": "c1", "phone_key": "p1", "created_at": datetime(2024, 1, 1)}),  # CRM record
    ("raw.touchpoints", {"visitor_id": "v1", "customer_id": "c1", "ts": datetime(2024, 3, 2)}),  # analytics user id
    ("raw.orders", order("o2", 4, visitor_id="v1", email_key="e2")),  # guest order from that browser
    ("raw.orders", order("o3", 5, email_key="e2", phone_key="p2")),
    ("raw.orders", order("o4", 6, phone_key="p2", visitor_id="v2")),
]


@pytest.mark.parametrize("length", [2, 3, 4, 5, 6])
def test_a_chain_of_records_is_one_customer(warehouse, length):
    for table_name, row in CHAIN[:length]:
        insert(warehouse, table_name, [row])
    # bystanders: a guest of her own, and an anonymous visit of the chain's last visitor
    insert(warehouse, "raw.orders", [order("x", 2, email_key="ex")])
    insert(
        warehouse,
        "raw.touchpoints",
        [{"visitor_id": "v2", "ts": datetime(2024, 3, 3), "utm_source": "google", "utm_medium": "cpc"}],
    )
    run(warehouse)

    keys = dict(rows(warehouse, "select order_id, customer_key from staging.orders"))
    chain_orders = {row["order_id"] for t, row in CHAIN[:length] if t == "raw.orders"}
    assert {keys[o] for o in chain_orders} == {"crm:c1"}  # the CRM id is reached by every chain of 2 or more
    assert keys["x"] == "email:ex"
    first = rows(warehouse, "select customer_key, order_id from marts.first_purchases order by all")
    assert first == [("crm:c1", "o1"), ("email:ex", "x")]
    # (CRM ids, e-mails, phones, visitors) the first `length` links bring in
    expected_counts = {2: (1, 1, 1, 0), 3: (1, 1, 1, 1), 4: (1, 2, 1, 1), 5: (1, 2, 2, 1), 6: (1, 2, 2, 2)}[length]
    got = rows(
        warehouse,
        """select crm_id_count, email_count, phone_count, visitor_count, crm_ids
                             from marts.customers where customer_key = 'crm:c1'""",
    )
    assert got == [(*expected_counts, "c1")]
    # the anonymous visit belongs to the customer only once the chain reaches its visitor
    touch_owner = rows(warehouse, "select customer_key from staging.customer_touches where visitor_id = 'v2'")
    assert touch_owner == ([("crm:c1",)] if length == 6 else [])
    assert not rows(warehouse, "select * from quality.identity_conflicts")


def test_a_long_chain_settles_in_few_rounds(warehouse):
    # 200 guest orders, each sharing its phone with the next one's e-mail: a path of 400 identifiers.
    # Plain propagation needs one round per link; the jump to the label's label makes it logarithmic.
    links = 200
    insert(
        warehouse,
        "raw.orders",
        [order(f"o{i:03}", 1 + i % 28, email_key=f"e{i:03}", phone_key=f"p{i:03}") for i in range(links)]
        + [order(f"q{i:03}", 1 + i % 28, phone_key=f"p{i:03}", email_key=f"e{i + 1:03}") for i in range(links - 1)],
    )
    run(warehouse)
    assert rows(warehouse, "select distinct customer_key from staging.orders") == [("email:e000",)]
    assert 1 <= identity_graph.last_rounds <= 12  # the first labels do not settle a chain: rounds run


def test_a_call_centre_phone_merges_no_one(warehouse):
    # 40 CRM customers, each with an own e-mail, all given the shop's call-centre phone on CRM records
    # and orders; one order carries only that phone
    insert(
        warehouse,
        "raw.customers",
        [
            {
                "customer_id": f"c{i:02}",
                "email_key": f"e{i:02}",
                "phone_key": "shop",
                "created_at": datetime(2024, 1, 1),
            }
            for i in range(40)
        ],
    )
    insert(
        warehouse,
        "raw.orders",
        [order(f"o{i:02}", 1 + i % 28, email_key=f"e{i:02}", phone_key="shop") for i in range(40)]
        + [order("phone-only", 10, phone_key="shop")],
    )
    run(warehouse)
    keys = dict(rows(warehouse, "select order_id, customer_key from staging.orders"))
    assert len(set(keys.values())) == 41
    assert keys["o07"] == "crm:c07" and keys["phone-only"] == "order:phone-only"
    assert scalar(warehouse, "select count(*) from marts.customers") == 41
    conflicts = rows(
        warehouse,
        "select kind, identifier, identifier_kind, customer_key, linked_emails, linked_crm_ids, records from quality.identity_conflicts",
    )
    # 40 CRM records + 40 orders + the phone-only order carried it
    assert conflicts == [("too_common", "phone:shop", "phone", None, 40, 40, 81)]
    assert not rows(warehouse, "select 1 from staging.customer_identifiers where identifier = 'phone:shop'")


def test_max_links_is_the_configured_one():
    # the same phone with 40 e-mails is an ordinary link when identity.max_links allows 40
    con = new_warehouse()
    insert(
        con, "raw.orders", [order(f"o{i:02}", 1 + i % 28, email_key=f"e{i:02}", phone_key="shop") for i in range(40)]
    )
    run(con, make_config(identity_max_links=40))
    assert rows(con, "select distinct customer_key from staging.orders") == [("email:e00",)]
    run(con, make_config(identity_max_links=39))
    assert scalar(con, "select count(distinct customer_key) from staging.orders") == 40


def test_two_crm_records_of_one_person_are_merged_and_listed(warehouse):
    insert(
        warehouse,
        "raw.customers",
        [
            {"customer_id": "7", "email_key": "home", "created_at": datetime(2024, 1, 1)},
            {"customer_id": "3", "phone_key": "mobile", "created_at": datetime(2024, 2, 1)},
            {"customer_id": "9", "email_key": "other", "created_at": datetime(2024, 2, 1)},  # someone else
            {"customer_id": "5", "created_at": datetime(2024, 2, 1)},  # never bought
            {"customer_id": "6", "created_at": datetime(2024, 2, 1)},  # never bought
        ],
    )
    insert(
        warehouse,
        "raw.orders",
        [
            order("a", 5, customer_id="7"),
            order("b", 6, email_key="home", phone_key="mobile"),  # the guest order that shows they are one person
            order("c", 7, customer_id="3"),
            order("d", 8, customer_id="9"),
        ],
    )
    run(warehouse)
    got = rows(
        warehouse, "select order_id, customer_key, customer_id, customer_type from marts.orders order by order_id"
    )
    assert got == [
        ("a", "crm:3", "7", "new"),
        ("b", "crm:3", "3", "repeat"),
        ("c", "crm:3", "3", "repeat"),
        ("d", "crm:9", "9", "new"),
    ]
    conflicts = rows(
        warehouse,
        "select kind, identifier, customer_key, linked_crm_ids, crm_id_list, records from quality.identity_conflicts",
    )
    # records: two CRM records and three orders
    assert conflicts == [("crm_merge", "crm:3", "crm:3", 2, "3,7", 5)]
    customer = rows(
        warehouse,
        """select crm_ids, crm_id_count, email_count, phone_count, first_order_id, first_purchase_date
                                  from marts.customers where customer_key = 'crm:3'""",
    )
    assert customer == [("3,7", 2, 1, 1, "a", date(2024, 3, 5))]
    # the published contracts hold (a CRM customer who never bought has no first purchase)
    Customers.validate(table(warehouse, "marts.customers"), lazy=True)
    IdentityConflicts.validate(table(warehouse, "quality.identity_conflicts"), lazy=True)


def graph_rows() -> list[tuple[str, dict]]:
    """Several components of every shape, for the stability tests."""
    return [
        ("raw.customers", {"customer_id": "k2", "email_key": "m2", "created_at": datetime(2024, 1, 1)}),
        ("raw.customers", {"customer_id": "k1", "phone_key": "t1", "created_at": datetime(2024, 1, 1)}),
        ("raw.orders", order("g1", 3, email_key="m1", phone_key="t1", visitor_id="w1")),
        ("raw.orders", order("g2", 4, email_key="m3", visitor_id="w3")),
        ("raw.orders", order("g3", 5, phone_key="t4")),
        ("raw.orders", order("g4", 6, visitor_id="w5")),
        ("raw.orders", order("g5", 7, customer_id="k2", visitor_id="w2")),
        ("raw.touchpoints", {"visitor_id": "w6", "customer_id": "k1", "ts": datetime(2024, 3, 1)}),
    ]


def load(con, records) -> None:
    for table_name, row in records:
        insert(con, table_name, [row])


def test_keys_are_stable_across_runs_and_input_order():
    first = new_warehouse()
    load(first, graph_rows())
    run(first)
    keys = table(first, "select * from staging.customer_identifiers order by identifier")
    assert dict(rows(first, "select order_id, customer_key from staging.orders")) == {
        "g1": "crm:k1",
        "g2": "email:m3",
        "g3": "phone:t4",
        "g4": "visitor:w5",
        "g5": "crm:k2",
    }
    run(first)
    assert table(first, "select * from staging.customer_identifiers order by identifier").equals(keys)

    shuffled = graph_rows()
    random.Random(5).shuffle(shuffled)
    second = new_warehouse()
    load(second, shuffled)
    run(second)
    assert table(second, "select * from staging.customer_identifiers order by identifier").equals(keys)
    assert table(second, "select * from marts.customers").equals(table(first, "select * from marts.customers"))

    # a new order that joins two components re-keys only those two
    insert(first, "raw.orders", [order("join", 9, email_key="m3", phone_key="t4")])
    run(first)
    after = dict(rows(first, "select order_id, customer_key from staging.orders"))
    assert after == {
        "g1": "crm:k1",
        "g2": "email:m3",
        "g3": "email:m3",
        "g4": "visitor:w5",
        "g5": "crm:k2",
        "join": "email:m3",
    }


# ------------------------------------------------------------------------------------------ nightly runs
NIGHTLY = make_config(grains=("month",), lookback_days=60)
APRIL = (date(2024, 4, 1), date(2024, 5, 1))
SNAPSHOT = (
    "marts.orders",
    "marts.attribution",
    "marts.first_purchases",
    "marts.customers",
    "marts.cohort_members",
    "marts.cohort_ltv",
    "marts.channel_period_cac",
    "marts.blended_cac",
    "marts.channel_ltv",
)


def snapshot(con) -> dict[str, pl.DataFrame]:
    out = {}
    for name in SNAPSHOT:
        frame = table(con, name).with_columns(pl.col(pl.Float64).round(9))
        out[name] = frame.sort(frame.columns, nulls_last=True)
    return out


def last_write_start(con, table_name: str) -> date:
    return scalar(
        con,
        "select window_start from meta.model_writes where table_name = ? order by written_at desc limit 1",
        [table_name],
    )


SCENARIOS = {
    # a January guest and a March CRM customer; April's order shows they are one person: the CRM
    # customer's first purchase moves back to January, under the CRM key
    "first purchase moves to January": (
        [
            order("jan", 20, month=1, email_key="guest", visitor_id="vg"),
            order("mar", 10, customer_id="c2"),
            order("apr", 5, month=4, customer_id="c2", email_key="guest"),
        ],
        [
            {"visitor_id": "vg", "ts": datetime(2024, 1, 15), "utm_source": "newsletter", "utm_medium": "email"},
            {
                "visitor_id": "vc",
                "customer_id": "c2",
                "ts": datetime(2024, 3, 5),
                "utm_source": "google",
                "utm_medium": "cpc",
            },
        ],
        ("jan", date(2024, 1, 20)),
        "email",
    ),
    # a January CRM customer keeps key and first order when April links her to a March guest, but the
    # guest's browser visited before January's purchase: only the component's change says so
    "same key and order, new touches": (
        [
            order("jan", 20, month=1, customer_id="c1"),
            order("mar", 10, email_key="guest", visitor_id="vg"),
            order("apr", 5, month=4, customer_id="c1", email_key="guest"),
        ],
        [{"visitor_id": "vg", "ts": datetime(2024, 1, 10), "utm_source": "google", "utm_medium": "cpc"}],
        ("jan", date(2024, 1, 20)),
        "google_ads",
    ),
}


@pytest.mark.parametrize("scenario", list(SCENARIOS))
def test_a_nightly_run_follows_a_merge_into_an_older_month(scenario):
    orders, touches, (first_order, first_date), channel = SCENARIOS[scenario]
    nightly = new_warehouse(NIGHTLY)
    insert(nightly, "raw.orders", orders[:2])
    insert(nightly, "raw.touchpoints", touches)
    run(nightly, NIGHTLY)
    assert scalar(nightly, "select count(*) from marts.first_purchases") == 2

    # the night of April 5th: one new order, and a run of April only
    insert(nightly, "raw.orders", orders[2:])
    run(nightly, NIGHTLY, window=APRIL)
    key = "crm:c2" if first_order == "jan" and "moves" in scenario else "crm:c1"
    got = rows(nightly, "select customer_key, order_id, acquisition_date, channel from marts.first_purchases")
    assert got == [(key, first_order, first_date, channel)]
    # marts.attribution is the long view of marts.attribution_credits, whose writes are logged
    for name in ("marts.attribution_credits", "marts.cohort_members", "marts.channel_period_cac", "marts.blended_cac"):
        assert last_write_start(nightly, name) == date(2024, 1, 1), name

    full = new_warehouse(NIGHTLY)
    insert(full, "raw.orders", orders)
    insert(full, "raw.touchpoints", touches)
    run(full, NIGHTLY)
    got_tables, expected = snapshot(nightly), snapshot(full)
    for name in SNAPSHOT:
        assert got_tables[name].equals(expected[name]), name


def test_a_new_phone_of_a_known_customer_recomputes_only_the_run_months():
    # the component gains a phone, keeps its key, first order and touches: nothing before April changes
    orders = [
        order("jan", 20, month=1, customer_id="c1", visitor_id="v1"),
        order("apr", 5, month=4, customer_id="c1", visitor_id="v1", phone_key="p1"),
    ]
    touches = [{"visitor_id": "v1", "ts": datetime(2024, 1, 10), "utm_source": "google", "utm_medium": "cpc"}]
    nightly = new_warehouse(NIGHTLY)
    insert(nightly, "raw.orders", orders[:1])
    insert(nightly, "raw.touchpoints", touches)
    run(nightly, NIGHTLY)
    insert(nightly, "raw.orders", orders[1:])
    run(nightly, NIGHTLY, window=APRIL)
    assert last_write_start(nightly, "marts.attribution_credits") == date(2024, 4, 1)  # marts.attribution is its view
    assert rows(nightly, "select phone_count, first_order_id from marts.customers") == [(1, "jan")]
    full = new_warehouse(NIGHTLY)
    insert(full, "raw.orders", orders)
    insert(full, "raw.touchpoints", touches)
    run(full, NIGHTLY)
    got_tables, expected = snapshot(nightly), snapshot(full)
    for name in SNAPSHOT:
        assert got_tables[name].equals(expected[name]), name
