"""marts.attribution and marts.first_purchases on hand-built journeys with credits worked out by hand."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timedelta

import pytest
from conftest import insert, make_config, new_warehouse, run, table

from pipelines.core.db import rows
from schemas.marts_acquisition import MODELS

P = datetime(2024, 3, 31, 12)  # every first purchase here happens at P


def purchase(customer: str, visitor: str | None = None, **values) -> dict:
    return {
        "order_id": f"o-{customer}",
        "customer_id": customer,
        "visitor_id": visitor,
        "created_at": P,
        "status": "paid",
        "revenue": 100.0,
        "currency": "RUB",
    } | values


def touch(visitor: str, days_before: float, **values) -> dict:
    return {"visitor_id": visitor, "ts": P - timedelta(days=days_before)} | values


GOOGLE_CPC = {"utm_source": "google", "utm_medium": "cpc"}
VK_CPC = {"utm_source": "vk", "utm_medium": "cpc"}
ORGANIC = {"referrer": "https://www.google.com/"}
EMAIL = {"utm_source": "newsletter", "utm_medium": "email"}

JOURNEYS = {
    # J: a touch outside the 60-day lookback, then vk, organic search, direct
    "J": [
        touch("vJ", 70, **GOOGLE_CPC),
        touch("vJ", 10, **VK_CPC),
        touch("vJ", 5, **ORGANIC),
        touch("vJ", 1),
        touch("vJ", -1, **EMAIL),
    ],  # after the purchase: not a touch of it
    # K: two direct touches only
    "K": [touch("vK", 3), touch("vK", 2)],
    # L: one touch, exactly on the lookback boundary
    "L": [touch("vL", 60, **EMAIL)],
    # M: no touch at all
    "M": [],
    # N: google, direct, then the order's own UTM tags (vk) at order time
    "N": [touch("vN", 3, **GOOGLE_CPC), touch("vN", 1)],
    # O: a direct last touch after a paid one
    "O": [touch("vO", 3, **GOOGLE_CPC), touch("vO", 1)],
    # T: two touches at the same moment: ordered by channel name, not by input order
    "T": [touch("vT", 2, **VK_CPC), touch("vT", 2, **GOOGLE_CPC)],
}


def decay(*days: float, half_life: float = 7.0) -> list[float]:
    weights = [2 ** (-d / half_life) for d in days]
    return [w / sum(weights) for w in weights]


J_DECAY = decay(10, 5, 1)
N_DECAY = decay(3, 1, 0)
EXPECTED = {
    "J": {
        "first_touch": {"vk_ads": 1},
        "last_touch": {"direct": 1},
        "last_non_direct": {"organic_search": 1},
        "linear": {"vk_ads": 1 / 3, "organic_search": 1 / 3, "direct": 1 / 3},
        "time_decay": {"vk_ads": J_DECAY[0], "organic_search": J_DECAY[1], "direct": J_DECAY[2]},
        "position_based": {"vk_ads": 0.4, "organic_search": 0.2, "direct": 0.4},
    },
    "K": {
        "first_touch": {"direct": 1},
        "last_touch": {"direct": 1},
        "last_non_direct": {"direct": 1},
        "linear": {"direct": 1},
        "time_decay": {"direct": 1},
        "position_based": {"direct": 1},
    },
    "L": {model: {"email": 1} for model in MODELS},
    "M": {model: {"unattributed": 1} for model in MODELS},
    "N": {
        "first_touch": {"google_ads": 1},
        "last_touch": {"vk_ads": 1},
        "last_non_direct": {"vk_ads": 1},
        "linear": {"google_ads": 1 / 3, "direct": 1 / 3, "vk_ads": 1 / 3},
        "time_decay": {"google_ads": N_DECAY[0], "direct": N_DECAY[1], "vk_ads": N_DECAY[2]},
        "position_based": {"google_ads": 0.4, "direct": 0.2, "vk_ads": 0.4},
    },
    "O": {
        "first_touch": {"google_ads": 1},
        "last_touch": {"direct": 1},
        "last_non_direct": {"google_ads": 1},
        "linear": {"google_ads": 0.5, "direct": 0.5},
        "time_decay": dict(zip(["google_ads", "direct"], decay(3, 1), strict=False)),
        "position_based": {"google_ads": 0.5, "direct": 0.5},
    },
    "T": {
        "first_touch": {"google_ads": 1},
        "last_touch": {"vk_ads": 1},
        "last_non_direct": {"vk_ads": 1},
        "linear": {"google_ads": 0.5, "vk_ads": 0.5},
        "time_decay": {"google_ads": 0.5, "vk_ads": 0.5},
        "position_based": {"google_ads": 0.5, "vk_ads": 0.5},
    },
}


def load_journeys(con, reverse: bool = False) -> None:
    orders = [purchase(c, f"v{c}", **(VK_CPC if c == "N" else {})) for c in JOURNEYS]
    # a later repeat order: never attributed
    orders.append(purchase("J", "vJ", order_id="o-J-2", created_at=P + timedelta(days=3), **EMAIL))
    touches = [t for journey in JOURNEYS.values() for t in journey]
    insert(con, "raw.orders", orders[::-1] if reverse else orders)
    insert(con, "raw.touchpoints", touches[::-1] if reverse else touches)


def credits(con) -> dict[str, dict[str, dict[str, float]]]:
    got: dict = defaultdict(lambda: defaultdict(lambda: defaultdict(float)))
    for customer, model, channel, credit in rows(
        con, "select customer_key, attribution_model, channel, credit from marts.attribution"
    ):
        got[customer.removeprefix("crm:")][model][channel] += credit
    return {c: {m: dict(ch) for m, ch in models.items()} for c, models in got.items()}


def test_six_models_on_hand_built_journeys(warehouse):
    load_journeys(warehouse)
    run(warehouse)
    got = credits(warehouse)
    assert set(got) == set(EXPECTED)
    for customer, models in EXPECTED.items():
        assert set(got[customer]) == set(MODELS), customer
        for model, expected in models.items():
            assert got[customer][model] == pytest.approx(expected), (customer, model)


def test_unattributed_and_journey_details(warehouse):
    load_journeys(warehouse)
    run(warehouse)
    m = table(warehouse, "select * from marts.attribution where customer_key = 'crm:M'")
    assert (
        m.height == len(MODELS)
        and m["touch_ts"].null_count() == len(MODELS)
        and m["touch_count"].to_list() == [0] * len(MODELS)
    )
    n_touch = table(
        warehouse,
        "select touch_ts, touch_origin, touch_position, touch_count from marts.attribution where customer_key = 'crm:N' and attribution_model = 'last_touch'",
    )
    assert n_touch.rows() == [(P, "order", 3, 3)]
    first = {r["customer_key"]: r for r in table(warehouse, "marts.first_purchases").iter_rows(named=True)}
    # channel = the default model's (last_non_direct); order_channel = the order's own tags
    assert {k: v["channel"] for k, v in first.items()} == {
        "crm:J": "organic_search",
        "crm:K": "direct",
        "crm:L": "email",
        "crm:M": "unattributed",
        "crm:N": "vk_ads",
        "crm:O": "google_ads",
        "crm:T": "vk_ads",
    }
    assert first["crm:N"]["order_channel"] == "vk_ads" and first["crm:J"]["order_channel"] == "direct"
    assert first["crm:J"]["touch_count"] == 3 and first["crm:J"]["order_id"] == "o-J"


def test_input_order_changes_nothing(warehouse):
    load_journeys(warehouse)
    run(warehouse)
    forward = table(warehouse, "select * from marts.attribution order by all")
    other = new_warehouse()
    load_journeys(other, reverse=True)
    run(other)
    assert table(other, "select * from marts.attribution order by all").equals(forward)


def test_lookback_and_half_life_are_configurable(warehouse):
    load_journeys(warehouse)
    run(warehouse, make_config(lookback_days=7, half_life_days=2.0))
    got = credits(warehouse)
    # a 7-day lookback drops J's vk touch (10 days before) and keeps organic (5) and direct (1)
    assert got["J"]["first_touch"] == {"organic_search": 1}
    assert got["J"]["time_decay"] == pytest.approx(
        dict(zip(["organic_search", "direct"], decay(5, 1, half_life=2.0), strict=False))
    )
    assert got["L"]["linear"] == {"unattributed": 1}
