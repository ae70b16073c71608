"""Staging models: FX conversion, missing rates, UTM normalisation and channel rules, identity,
costs spread over days. Every expected number is worked out by hand from the rows inserted."""

from __future__ import annotations

from datetime import date, datetime

import pytest
from conftest import insert, run, table

from pipelines.core.db import rows
from pipelines.transform.fx import MissingRateError


def order(order_id: str, **values) -> dict:
    base = {
        "order_id": order_id,
        "customer_id": f"c-{order_id}",
        "created_at": datetime(2024, 3, 10, 12),
        "status": "paid",
        "revenue": 100.0,
        "currency": "RUB",
    }
    return base | values


# ------------------------------------------------------------------------------------------------ FX
def test_amounts_convert_at_the_latest_rate_on_or_before_their_own_date(warehouse):
    insert(
        warehouse,
        "raw.fx_rates",
        [
            {"date": date(2024, 3, 1), "currency": "USD", "rate": 90.0},
            {"date": date(2024, 3, 9), "currency": "USD", "rate": 92.0},
            {"date": date(2024, 3, 11), "currency": "USD", "rate": 95.0},
            {"date": date(2024, 3, 20), "currency": "USD", "rate": 99.0},
            {"date": date(2024, 3, 1), "currency": "EUR", "rate": 100.0},
        ],
    )
    insert(
        warehouse,
        "raw.orders",
        [
            # placed on the 10th: the rate of the 9th; refunded on the 20th: the rate of the 20th
            order(
                "usd",
                currency="usd ",
                revenue=10.0,
                cost_of_goods=4.0,
                refunded_amount=2.0,
                refunded_at=datetime(2024, 3, 20, 9),
            ),
            # the reporting currency needs no rate at all (there is none for RUB)
            order("rub", revenue=500.0),
        ],
    )
    insert(
        warehouse,
        "raw.ad_spend",
        [
            {"date": date(2024, 3, 11), "platform": "google_ads", "campaign_id": "g", "spend": 3.0, "currency": "USD"},
            {"date": date(2024, 3, 5), "platform": "vk_ads", "campaign_id": "v", "spend": 7.0, "currency": "RUB"},
        ],
    )
    # 2 USD a day: the 8th at the rate of the 1st (90), the 9th at the rate of the 9th (92)
    insert(
        warehouse,
        "raw.costs",
        [
            {
                "period_start": date(2024, 3, 8),
                "period_end": date(2024, 3, 9),
                "category": "salary",
                "amount": 4.0,
                "currency": "USD",
            },
        ],
    )
    run(warehouse)
    got = {
        r[0]: r[1:]
        for r in rows(
            warehouse,
            "select order_id, revenue, cost_of_goods, margin, refunded_amount, refund_margin from marts.orders",
        )
    }
    assert got["usd"] == pytest.approx((920.0, 368.0, 552.0, 198.0, 198.0 * 552.0 / 920.0))
    assert got["rub"][0] == 500.0
    spend = dict(rows(warehouse, "select platform, spend from staging.ad_spend"))
    assert spend == {"google_ads": pytest.approx(285.0), "vk_ads": 7.0}
    daily = rows(warehouse, "select date, amount from staging.costs_daily order by date")
    assert daily == [(date(2024, 3, 8), pytest.approx(180.0)), (date(2024, 3, 9), pytest.approx(184.0))]


def test_a_missing_rate_stops_the_run_naming_currency_and_date(warehouse):
    insert(warehouse, "raw.fx_rates", [{"date": date(2024, 3, 1), "currency": "USD", "rate": 90.0}])
    insert(
        warehouse,
        "raw.orders",
        [
            order("early", currency="USD", created_at=datetime(2024, 2, 14, 10)),
            order("fine", currency="USD"),
            # cancelled orders count nowhere, so their missing rate does not matter
            order("cancelled", currency="KZT", status="cancelled"),
        ],
    )
    insert(
        warehouse,
        "raw.ad_spend",
        [{"date": date(2024, 3, 2), "platform": "vk_ads", "campaign_id": "1", "spend": 1.0, "currency": "EUR"}],
    )
    with pytest.raises(MissingRateError) as caught:
        run(warehouse)
    message = str(caught.value)
    assert "USD on 2024-02-14" in message and "EUR on 2024-03-02" in message
    assert "KZT" not in message
    assert caught.value.total == 2
    # no mart was built from the half-converted data
    assert not rows(warehouse, "select 1 from information_schema.tables where table_schema = 'marts'")


# ------------------------------------------------------------------------------------ channel rules
CHANNEL_CASES = [
    # (utm_source, utm_medium, utm_campaign, referrer, click_id, channel)
    ("fb", "cpc", None, None, None, "meta_ads"),
    ("IG", "paid_social", None, None, None, "meta_ads"),
    ("l.facebook.com", "cpc", None, None, None, "meta_ads"),
    ("fb", None, None, None, None, "organic_social"),
    (" Google ", "CPC", None, None, None, "google_ads"),
    ("adwords", "ppc", None, None, None, "google_ads"),
    ("yandex", "cpc", None, None, None, "yandex_direct"),
    ("ya", "cpc", "%D0%BB%D0%B5%D1%82%D0%BE+2024", None, None, "yandex_direct"),
    ("vk", "cpc", None, None, None, "vk_ads"),
    ("vkontakte", "paid_social", None, None, None, "vk_ads"),
    ("tiktok", "paid", None, None, None, "tiktok_ads"),
    (None, None, None, None, "gclid=Cj0KCQjw", "google_ads"),
    (None, None, None, None, "yclid=123456789", "yandex_direct"),
    (None, None, None, None, "fbclid=IwAR0abc", "organic_social"),
    ("google", "cpc", None, None, "gclid=Cj0K", "google_ads"),
    ("newsletter", "email", None, None, None, "email"),
    ("mailchimp", "Newsletter", None, None, None, "email"),
    ("google", "organic", None, None, None, "organic_search"),
    (None, None, None, "https://www.google.com/search?q=shoes", None, "organic_search"),
    (None, None, None, "https://yandex.ru/search/?text=x", None, "organic_search"),
    (None, None, None, "https://l.facebook.com/l.php?u=x", None, "organic_social"),
    (None, None, None, "https://t.me/channel", None, "organic_social"),
    (None, None, None, "https://someblog.example.org/post/1", None, "referral"),
    ("partner_site", "affiliate", None, None, None, "referral"),
    ("partnerx", "banner", None, None, None, "other"),
    (None, None, None, None, None, "direct"),
    ("  ", "", None, "", None, "direct"),
    ("(direct)", "(none)", None, None, None, "direct"),
]


def test_channel_rules_map_utm_referrer_and_click_ids(warehouse):
    insert(
        warehouse,
        "raw.touchpoints",
        [
            {
                "visitor_id": f"v{i}",
                "customer_id": f"case{i}",
                "ts": datetime(2024, 3, 1, 10),
                "utm_source": s,
                "utm_medium": m,
                "utm_campaign": c,
                "referrer": r,
                "click_id": k,
            }
            for i, (s, m, c, r, k, _) in enumerate(CHANNEL_CASES)
        ],
    )
    run(warehouse)
    got = dict(rows(warehouse, "select customer_key, channel from staging.customer_touches"))
    expected = {f"crm:case{i}": case[-1] for i, case in enumerate(CHANNEL_CASES)}
    mismatches = {CHANNEL_CASES[int(k[8:])][:5]: (got.get(k), v) for k, v in expected.items() if got.get(k) != v}
    assert not mismatches


def test_utm_values_are_normalised_beside_the_raw_ones(warehouse):
    insert(
        warehouse,
        "raw.touchpoints",
        [
            {
                "visitor_id": "v1",
                "ts": datetime(2024, 3, 1),
                "utm_source": " FB ",
                "utm_medium": "Paid%5FSocial",
                "utm_campaign": "%D0%9B%D0%B5%D1%82%D0%BE+2024%2B",
                "utm_content": "Баннер",
                "referrer": "HTTPS://WWW.Example.com:8080/a?b",
                "click_id": "FBCLID=abc",
            },
        ],
    )
    run(warehouse)
    got = table(warehouse, "select * from staging.touchpoints").row(0, named=True)
    assert got["utm_source"] == " FB " and got["source"] == "facebook"
    assert got["medium"] == "paid_social"
    # '+' is a space, %2B a literal plus, Cyrillic lower-cased and kept
    assert got["utm_campaign"] == "%D0%9B%D0%B5%D1%82%D0%BE+2024%2B" and got["campaign"] == "лето 2024+"
    assert got["content"] == "баннер"
    assert got["referrer_host"] == "example.com"
    assert got["click_id_type"] == "fbclid"


def test_ad_spend_maps_by_platform_first_then_utm(warehouse):
    insert(
        warehouse,
        "raw.ad_spend",
        [
            {
                "date": date(2024, 3, 1),
                "platform": "google_ads",
                "campaign_id": "1",
                "utm_source": "vk",
                "utm_medium": "cpc",
                "spend": 1.0,
                "currency": "RUB",
            },
            {
                "date": date(2024, 3, 1),
                "platform": " Yandex_Direct",
                "campaign_id": "2",
                "spend": 1.0,
                "currency": "RUB",
            },
            {"date": date(2024, 3, 1), "platform": "meta_ads", "campaign_id": "3", "spend": 1.0, "currency": "RUB"},
            {
                "date": date(2024, 3, 1),
                "platform": None,
                "campaign_id": "4",
                "utm_source": "vk",
                "utm_medium": "cpc",
                "spend": 1.0,
                "currency": "RUB",
            },
            {"date": date(2024, 3, 1), "platform": "someads", "campaign_id": "5", "spend": 1.0, "currency": "RUB"},
        ],
    )
    run(warehouse)
    got = dict(
        rows(
            warehouse,
            """
        select s.campaign_id, m.channel from staging.ad_spend s join staging.channel_map m
          on m.source is not distinct from s.source and m.medium is not distinct from s.medium
         and m.campaign is not distinct from s.campaign and m.platform is not distinct from s.platform
         and m.referrer_host is null and m.click_id_type is null""",
        )
    )
    assert got == {"1": "google_ads", "2": "yandex_direct", "3": "meta_ads", "4": "vk_ads", "5": "other"}


# ------------------------------------------------------------------------------------------ identity
def test_customer_keys_and_visitor_links(warehouse):
    insert(
        warehouse,
        "raw.customers",
        [
            {"customer_id": "42", "email_key": "e42", "phone_key": "p42", "created_at": datetime(2024, 1, 1)},
            {"customer_id": "43", "email_key": None, "phone_key": "p43", "created_at": datetime(2024, 1, 1)},
        ],
    )
    insert(
        warehouse,
        "raw.orders",
        [
            order("a", customer_id="42", visitor_id="v1"),
            order("b", customer_id=None, email_key="e42"),  # the CRM customer through the e-mail
            order("c", customer_id=None, email_key="eX", phone_key="p43"),  # e-mail unknown, phone matches 43
            order("d", customer_id=None, email_key="e7", phone_key="p7"),  # no CRM record: the e-mail key
            order("e", customer_id=None, phone_key="p8", visitor_id="v2"),
            order("f", customer_id=None, visitor_id="v3"),
            order("g", customer_id=None),
            order("h", customer_id=None, phone_key="p7"),  # phone only, seen with e7 on "d"
        ],
    )
    insert(
        warehouse,
        "raw.touchpoints",
        [
            {"visitor_id": "v1", "ts": datetime(2024, 3, 1)},
            {"visitor_id": "v2", "ts": datetime(2024, 3, 1)},
            {"visitor_id": "v9", "customer_id": "43", "ts": datetime(2024, 3, 1)},  # the touch names its customer
            {"visitor_id": "v-unknown", "ts": datetime(2024, 3, 1)},  # never linked: not a customer touch
        ],
    )
    run(warehouse)
    keys = dict(rows(warehouse, "select order_id, customer_key from staging.orders"))
    assert keys == {
        "a": "crm:42",
        "b": "crm:42",
        "c": "crm:43",
        "d": "email:e7",
        "e": "phone:p8",
        "f": "visitor:v3",
        "g": "order:g",
        "h": "email:e7",
    }
    touches = sorted(rows(warehouse, "select visitor_id, customer_key from staging.customer_touches"))
    assert touches == [("v1", "crm:42"), ("v2", "phone:p8"), ("v9", "crm:43")]


# ------------------------------------------------------------------------------------------ costs
def test_costs_spread_evenly_over_their_days(warehouse):
    insert(
        warehouse,
        "raw.costs",
        [
            {
                "period_start": date(2024, 3, 1),
                "period_end": date(2024, 3, 31),
                "category": "salary",
                "channel": " SEO_x ",
                "amount": 3100.0,
                "currency": "RUB",
            },
            {
                "period_start": date(2024, 3, 30),
                "period_end": date(2024, 4, 2),
                "category": "software",
                "amount": 40.0,
                "currency": "RUB",
                "allocation": "",
            },
        ],
    )
    run(warehouse)
    got = rows(
        warehouse,
        """select channel, allocation, count(*), sum(amount), min(amount), max(amount)
                             from staging.costs_daily group by all order by all""",
    )
    assert got == [("seo_x", "orders", 31, 3100.0, 100.0, 100.0), (None, "orders", 4, 40.0, 10.0, 10.0)]
    by_month = rows(
        warehouse,
        "select date_trunc('month', date)::date, sum(amount) from staging.costs_daily where channel is null group by 1 order by 1",
    )
    assert by_month == [(date(2024, 3, 1), 20.0), (date(2024, 4, 1), 20.0)]
