"""The data-driven attribution models (markov, shapley) on a hand-built journey set, against computations
written here: the Markov chain's absorption probabilities by plain value iteration (no linear algebra)
and by hand, the Shapley values by enumerating every order in which the channels can join.

The journeys (all in March 2024; the fit window is the 12 months up to the as-of date, 20 March, the last order):

    converting (first purchases)       non-converting (visitors who never bought)
    A: google, google, vk  -> google>vk      X: google           -> google
    B: vk                  -> vk             Y: vk, email        -> vk>email
    C: email, google       -> email>google   Z: google, vk, vk   -> google>vk

(consecutive repeats of a channel count once: A's two google visits are one step, Z's two vk visits too).

Markov, first order. Transition counts: start -> google 3 (A, X, Z), -> vk 2 (B, Y), -> email 1 (C);
google -> vk 2 (A, Z), -> conversion 1 (C), -> null 1 (X); vk -> conversion 2 (A, B), -> email 1 (Y),
-> null 1 (Z); email -> google 1 (C), -> null 1 (Y). With p(s) the probability of converting from s:
    p(vk) = 2/4 + 1/4 p(email),  p(email) = 1/2 p(google),  p(google) = 2/4 p(vk) + 1/4
    => p(google) = 8/15, p(vk) = 17/30, p(email) = 4/15,
    P(conversion) = 3/6 * 8/15 + 2/6 * 17/30 + 1/6 * 4/15 = 1/2.
Removing google (p(google) = 0): p(email) = 0, p(vk) = 1/2, P = 2/6 * 1/2 = 1/6, removal effect 2/3.
Removing vk: p(google) = 1/4, p(email) = 1/8, P = 3/6 * 1/4 + 1/6 * 1/8 = 7/48, effect 1 - 7/24 = 17/24.
Removing email: p(vk) = 1/2, p(google) = 1/2, P = 5/12, effect 1/6.
Sum of effects 37/24: weights google 16/37, vk 17/37, email 4/37.
Credits: A gets google 16/33 (8/33 per visit), vk 17/33; B vk 1; C email 4/20, google 16/20.
"""

from __future__ import annotations

import itertools
from datetime import UTC, date, datetime, timedelta
from fractions import Fraction

import pytest
from conftest import insert, make_config, new_warehouse, run, table

from pipelines.core.db import rows
from pipelines.publish.checks import run_checks
from pipelines.transform import runner
from pipelines.transform.models import data_driven

P = datetime(2024, 3, 20, 12)
GOOGLE = {"utm_source": "google", "utm_medium": "cpc"}
VK = {"utm_source": "vk", "utm_medium": "cpc"}
EMAIL = {"utm_source": "newsletter", "utm_medium": "email"}
CHANNEL = {"google": "google_ads", "vk": "vk_ads", "email": "email"}
JOURNEYS = {  # identity -> (converted, channels of its touches in time order)
    "A": (True, ["google", "google", "vk"]),
    "B": (True, ["vk"]),
    "C": (True, ["email", "google"]),
    "X": (False, ["google"]),
    "Y": (False, ["vk", "email"]),
    "Z": (False, ["google", "vk", "vk"]),
}
TAGS = {"google": GOOGLE, "vk": VK, "email": EMAIL}
CONFIG = make_config(grains=("month",))


def paid_order(who: str, created_at: datetime, visitor: str | None = None, revenue: float = 100.0) -> dict:
    """A paid order `o-<who>` of CRM customer `who`, from visitor `v<who>` unless another is given."""
    return {
        "order_id": f"o-{who}",
        "customer_id": who,
        "visitor_id": visitor or f"v{who}",
        "created_at": created_at,
        "status": "paid",
        "revenue": revenue,
        "currency": "RUB",
    }


def load(con, journeys=JOURNEYS, day: datetime = P) -> None:
    orders, touches = [], []
    for who, (converted, channels) in journeys.items():
        for i, name in enumerate(channels):
            touches.append({"visitor_id": f"v{who}", "ts": day - timedelta(days=len(channels) - i), **TAGS[name]})
        if converted:
            orders.append(paid_order(who, day))
    insert(con, "raw.orders", orders)
    insert(con, "raw.touchpoints", touches)


def collapsed(channels: list[str]) -> list[str]:
    return [c for i, c in enumerate(channels) if i == 0 or channels[i - 1] != c]


def conversion_probability(journeys, removed: str | None = None, sweeps: int = 400) -> float:
    """P(conversion) from start by value iteration on the transition counts (independent of the code's solve)."""
    counts: dict[str, dict[str, int]] = {}
    for converted, channels in journeys.values():
        path = ["start", *collapsed(channels), "conversion" if converted else "null"]
        for a, b in zip(path, path[1:], strict=False):
            counts.setdefault(a, {}).setdefault(b, 0)
            counts[a][b] += 1
    p = {s: 0.0 for s in counts} | {"conversion": 1.0, "null": 0.0}
    for _ in range(sweeps):
        for s, out in counts.items():
            total = sum(out.values())
            p[s] = sum(n / total * (0.0 if b == removed else p[b]) for b, n in out.items())
    return p["start"]


def weights(con, model: str) -> dict[str, dict]:
    return {
        r["channel"]: r
        for r in table(con, "select * from marts.channel_weights where attribution_model = $m", {"m": model}).iter_rows(
            named=True
        )
    }


def credits(con, model: str) -> dict[str, dict[str, float]]:
    got: dict[str, dict[str, float]] = {}
    for order_id, channel, credit in rows(
        con,
        "select order_id, channel, sum(credit) from marts.attribution where attribution_model = ? group by all",
        [model],
    ):
        got.setdefault(order_id, {})[channel] = credit
    return got


def test_markov_weights_credits_and_cac_match_the_hand_computed_chain():
    con = new_warehouse(CONFIG)
    load(con)
    insert(
        con,
        "raw.ad_spend",
        [
            {
                "date": date(2024, 3, 5),
                "platform": "google",
                "campaign_id": "g-1",
                "spend": 3300.0,
                "currency": "RUB",
                "utm_source": "google",
                "utm_medium": "cpc",
            }
        ],
    )
    run(con, CONFIG)

    # the code's chain against value iteration, and both against the fractions worked out by hand
    assert conversion_probability(JOURNEYS) == pytest.approx(0.5, abs=1e-12)
    effects = {c: 1 - conversion_probability(JOURNEYS, c) / conversion_probability(JOURNEYS) for c in CHANNEL}
    assert effects == pytest.approx({"google": 2 / 3, "vk": 17 / 24, "email": 1 / 6}, abs=1e-12)
    got = weights(con, "markov")
    assert set(got) == {"google_ads", "vk_ads", "email"}
    for name, channel in CHANNEL.items():
        row = got[channel]
        assert row["removal_effect"] == pytest.approx(effects[name], abs=1e-12), channel
        assert row["weight"] == pytest.approx(effects[name] / sum(effects.values()), abs=1e-12), channel
        assert row["p_conversion"] == pytest.approx(0.5, abs=1e-12)
        assert row["p_conversion_without"] == pytest.approx(conversion_probability(JOURNEYS, name), abs=1e-12)
        assert (row["fit_journeys"], row["fit_conversions"], row["fit_end"]) == (6, 3, date(2024, 3, 20))
    assert {c: (r["journeys"], r["conversions"]) for c, r in got.items()} == {
        "google_ads": (4, 2),
        "vk_ads": (4, 2),
        "email": (2, 1),
    }
    assert got["google_ads"]["weight"] == pytest.approx(16 / 37, abs=1e-12)

    # per-purchase credits: own channels in proportion to the weights, a channel's share equal over its visits
    expected = {
        "o-A": {"google_ads": 16 / 33, "vk_ads": 17 / 33},
        "o-B": {"vk_ads": 1.0},
        "o-C": {"email": 4 / 20, "google_ads": 16 / 20},
    }
    got_credits = credits(con, "markov")
    assert set(got_credits) == set(expected)
    for order_id, shares in expected.items():
        assert got_credits[order_id] == pytest.approx(shares, abs=1e-12), order_id
    visits = rows(
        con,
        "select credit from marts.attribution where order_id = 'o-A' and attribution_model = 'markov' "
        "and channel = 'google_ads'",
    )
    assert [c for (c,) in visits] == pytest.approx([8 / 33, 8 / 33], abs=1e-12)

    # CAC under markov: google's 3300 over its 16/33 + 16/20 new customers
    google = table(
        con,
        "select * from marts.channel_period_cac where period_grain = 'month' and period_start = '2024-03-01' "
        "and attribution_model = 'markov' and channel = 'google_ads'",
    ).row(0, named=True)
    new_google = Fraction(16, 33) + Fraction(16, 20)
    assert google["new_customers"] == pytest.approx(float(new_google), abs=1e-9)
    assert google["cac_paid"] == pytest.approx(float(3300 / new_google), abs=1e-6)  # 2568.40
    assert round(google["cac_paid"], 2) == 2568.40
    # the models flow into the cohorts, and every blocking check passes (credits sum to 1 under all eight)
    sizes = dict(rows(con, "select attribution_model, sum(credit) from marts.cohort_members group by all"))
    assert sizes["markov"] == pytest.approx(3) and sizes["shapley"] == pytest.approx(3) and len(sizes) == 8
    assert [r.name for r in run_checks(con) if not r.passed] == []


@pytest.mark.parametrize("chunk_touches", [1, 4])
def test_journeys_split_into_chunks_of_identities_give_the_same_weights(monkeypatch, chunk_touches):
    """The journeys are built one chunk of identities at a time (pipelines/transform/models/data_driven.py, CHUNK_TOUCHES;
    at large one pass ran out of memory). Every identity's touches and first purchase fall in one chunk, so
    the counts, and so the weights of both models, equal those of one pass, here up to one chunk per touch."""

    # and a first purchase whose only step is the order's own UTM tags (no web touch)
    tagged = paid_order("T", P) | EMAIL
    con = new_warehouse(CONFIG)
    load(con)
    insert(con, "raw.orders", [tagged])
    run(con, CONFIG)
    one_pass = {
        m: {c: (r["weight"], r["journeys"], r["conversions"], r["fit_journeys"]) for c, r in weights(con, m).items()}
        for m in ("markov", "shapley")
    }
    assert one_pass["markov"]["email"][1:] == (3, 2, 7)  # C, Y and T's own order: 7 journeys, 4 converting

    monkeypatch.setattr(data_driven, "CHUNK_TOUCHES", chunk_touches)
    chunked = new_warehouse(CONFIG)
    load(chunked)
    insert(chunked, "raw.orders", [tagged])
    run(chunked, CONFIG)
    for model, expected in one_pass.items():
        got = {
            c: (r["weight"], r["journeys"], r["conversions"], r["fit_journeys"])
            for c, r in weights(chunked, model).items()
        }
        assert got.keys() == expected.keys()
        for channel, (weight, *counts) in expected.items():
            assert got[channel][0] == pytest.approx(weight, abs=1e-12), (model, channel)
            assert list(got[channel][1:]) == counts, (model, channel)


def shapley_by_permutations(coalition_counts: dict[frozenset, int], players: list[str]) -> dict[str, Fraction]:
    """Shapley values by definition: the average marginal worth over every order of joining."""

    def worth(s: set) -> int:
        return sum(n for members, n in coalition_counts.items() if members <= s)

    values = dict.fromkeys(players, Fraction(0))
    orders = list(itertools.permutations(players))
    for order in orders:
        joined: set = set()
        for player in order:
            values[player] += worth(joined | {player}) - worth(joined)
            joined.add(player)
    return {p: v / len(orders) for p, v in values.items()}


def test_shapley_on_three_channels_worked_by_hand():
    """Converting journeys' channel sets: A {google, vk}, B {vk}, C {email, google} (the non-converting
    ones are worth nothing). Worth v(S) = converting journeys whose channels all lie in S:
        v({g}) = 0, v({v}) = 1, v({e}) = 0, v({g,v}) = 2, v({e,g}) = 1, v({e,v}) = 1, v({e,g,v}) = 3.
    Marginal worth of google in each of the 6 orders (e,g,v), (e,v,g), (g,e,v), (g,v,e), (v,e,g), (v,g,e):
        1, 2, 0, 0, 2, 1  -> Shapley value 6/6 = 1
    vk: 2, 1, 2, 2, 1, 1 -> 9/6 = 1.5;   email: 3 - 1 - 1.5 = 0.5 (0, 0, 1, 1, 0, 0 -> 3/6).
    Weights: google 1/3, vk 1/2, email 1/6. Credits: A google 2/5 (1/5 per visit), vk 3/5; B vk 1;
    C email (1/6) / (1/6 + 1/3) = 1/3, google 2/3.
    """
    con = new_warehouse(CONFIG)
    load(con)
    run(con, CONFIG)
    by_definition = shapley_by_permutations(
        {frozenset({"google", "vk"}): 1, frozenset({"vk"}): 1, frozenset({"email", "google"}): 1},
        ["email", "google", "vk"],
    )
    assert by_definition == {"google": 1, "vk": Fraction(3, 2), "email": Fraction(1, 2)}
    got = weights(con, "shapley")
    for name, channel in CHANNEL.items():
        assert got[channel]["shapley_value"] == pytest.approx(float(by_definition[name]), abs=1e-12)
    assert {c: r["weight"] for c, r in got.items()} == pytest.approx(
        {"google_ads": 1 / 3, "vk_ads": 1 / 2, "email": 1 / 6}
    )
    expected = {
        "o-A": {"google_ads": 2 / 5, "vk_ads": 3 / 5},
        "o-B": {"vk_ads": 1.0},
        "o-C": {"email": 1 / 3, "google_ads": 2 / 3},
    }
    got_credits = credits(con, "shapley")
    assert set(got_credits) == set(expected)
    for order_id, shares in expected.items():
        assert got_credits[order_id] == pytest.approx(shares, abs=1e-12), order_id


def test_a_purchase_whose_channels_all_weigh_nothing_is_credited_linearly():
    # F bought 14 months earlier, outside the fit window, after an organic visit and a direct one: neither
    # channel is in the fit, so both weigh 0 and the credit falls back to linear
    con = new_warehouse(CONFIG)
    load(con)
    insert(
        con,
        "raw.orders",
        [paid_order("F", datetime(2023, 1, 10))],
    )
    insert(
        con,
        "raw.touchpoints",
        [
            {"visitor_id": "vF", "ts": datetime(2023, 1, 5), "referrer": "https://www.google.com/"},
            {"visitor_id": "vF", "ts": datetime(2023, 1, 8)},
        ],
    )
    run(con, CONFIG)
    assert "organic_search" not in weights(con, "markov") and "direct" not in weights(con, "shapley")
    for model in ("markov", "shapley"):
        assert credits(con, model)["o-F"] == pytest.approx({"organic_search": 0.5, "direct": 0.5}), model


def test_higher_order_and_fit_window_are_settings():
    con = new_warehouse(CONFIG)
    load(con)
    second = make_config(grains=("month",), markov_order=2)
    run(con, second)
    got = weights(con, "markov")
    assert {r["markov_order"] for r in got.values()} == {2}
    assert sum(r["weight"] for r in got.values()) == pytest.approx(1)
    assert {r["fit_journeys"] for r in got.values()} == {6}


def test_a_nightly_run_recredits_the_fit_window_when_the_weights_change(monkeypatch):
    """F bought in January 2023 after google and vk visits, outside the fit window (the 12 months up to
    20 March 2024) but credited with its weights: google 16/33, vk 17/33. In April a new converting
    journey through email moves the weights: a run of April re-credits the fit window's first purchases
    from the month of the earliest one (March 2024) with the new fit, as a full rebuild would; F keeps its
    credits and the fit they came from. March's touches did not change: its purchases are re-credited
    from their stored rows (sql/marts/restated/attribution_credits.sql), April's from the touches."""
    plans = []
    plan_write = runner.plan_write

    def spy(con, model, params):
        plan = plan_write(con, model, params)
        if model.table == "marts.attribution_credits":
            plans.append(plan.restated)
        return plan

    monkeypatch.setattr(runner, "plan_write", spy)
    con = new_warehouse(CONFIG)
    load(con)
    load(con, {"F": (True, ["google", "vk"])}, day=datetime(2023, 1, 10, 12))
    run(con, CONFIG)
    first = credits(con, "markov")
    assert first["o-F"] == pytest.approx({"google_ads": 16 / 33, "vk_ads": 17 / 33}, abs=1e-12)

    april = {"D": (True, ["email"])}
    load(con, april, day=datetime(2024, 4, 10, 12))
    run(con, CONFIG, window=(date(2024, 4, 1), date(2024, 5, 1)))
    assert rows(
        con,
        "select window_start from meta.model_writes where table_name = 'marts.attribution_credits' "
        "order by written_at desc limit 1",
    ) == [(date(2024, 3, 1),)]
    assert plans[-1] == (date(2024, 3, 1), date(2024, 4, 1))  # March restated, April from the touches
    nightly = credits(con, "markov")
    assert nightly["o-F"] == first["o-F"]
    assert rows(con, "select distinct weights_fit_end from marts.attribution_credits where order_id = 'o-F'") == [
        (date(2024, 3, 20),)
    ]
    assert rows(con, "select distinct fit_end from marts.channel_weights order by 1") == [
        (date(2024, 3, 20),),
        (date(2024, 4, 10),),
    ]

    full = new_warehouse(CONFIG)
    load(full)
    load(full, {"F": (True, ["google", "vk"])}, day=datetime(2023, 1, 10, 12))
    load(full, april, day=datetime(2024, 4, 10, 12))
    run(full, CONFIG)
    rebuilt = credits(full, "markov")
    assert set(rebuilt) == set(nightly)
    for order_id in ("o-A", "o-B", "o-C", "o-D"):
        assert nightly[order_id] == pytest.approx(rebuilt[order_id], abs=1e-12), order_id
    # every stored column of the window's credits as a full rebuild writes them
    window_rows = "select * from marts.attribution_credits where order_id <> 'o-F' order by order_id, touch_position"
    assert rows(con, window_rows) == rows(full, window_rows)
    assert nightly["o-A"] != pytest.approx(first["o-A"])  # the weights did move
    assert [r.name for r in run_checks(con, (date(2024, 4, 1), date(2024, 5, 1))) if not r.passed] == []

    # a night without new data leaves every credit as it is: only the run's month is rewritten
    run(con, CONFIG, window=(date(2024, 4, 1), date(2024, 5, 1)))
    assert rows(
        con,
        "select window_start from meta.model_writes where table_name = 'marts.attribution_credits' "
        "order by written_at desc limit 1",
    ) == [(date(2024, 4, 1),)]
    assert rows(con, "select distinct fit_end from marts.channel_weights order by 1") == [
        (date(2024, 3, 20),),
        (date(2024, 4, 10),),
    ]


@pytest.mark.parametrize("order", [1, 2])
def test_a_nightly_refit_rebuilds_only_the_journeys_new_data_reached_and_equals_a_full_fit(monkeypatch, order):
    """The journeys are kept between runs (meta.journey_steps, counted per day in meta.journey_counts); a nightly run rebuilds those of the identities new
    data reached and keeps the others. After a run of March (the six journeys above), April brings:
    X, who never bought, buys (its non-converting journey goes, a converting one with its March visit
    comes); Y visits again (its journey ends later); W, a visitor seen only in March, is tied to customer C
    by C's repeat order (W's visit joins C's March purchase's journey, W's own journey goes); E, a new
    visitor. A, B and Z see nothing new and are not rebuilt. The stored steps and counts and both models'
    weights must equal a full fit on the same data."""

    config = make_config(grains=("month",), markov_order=order)

    april = datetime(2024, 4, 10, 12)
    late = {"W": (False, ["vk"])}

    def march(con):
        load(con)
        load(con, late, day=datetime(2024, 3, 18, 12))

    def april_data(con):
        insert(
            con,
            "raw.touchpoints",
            [
                {"visitor_id": "vX", "ts": april - timedelta(days=1), **EMAIL},
                {"visitor_id": "vY", "ts": april - timedelta(days=2), **GOOGLE},
                {"visitor_id": "vE", "ts": april - timedelta(days=3), **VK},
            ],
        )
        insert(
            con,
            "raw.orders",
            [paid_order("X", april), paid_order("C2", april, visitor="vW", revenue=50.0) | {"customer_id": "C"}],
        )

    scopes = record_scopes(monkeypatch)
    nightly = new_warehouse(config)
    march(nightly)
    run(nightly, config)
    april_data(nightly)
    run(nightly, config, window=(date(2024, 4, 1), date(2024, 5, 1)))
    assert scopes[0] is None  # the first run builds every journey
    assert scopes[1] == ["crm:C", "crm:X", "vE", "vW", "vX", "vY"]

    full = new_warehouse(config)
    march(full)
    april_data(full)
    run(full, config)
    for stored in ("meta.journey_steps", "meta.journey_counts"):
        assert table(nightly, f"select * from {stored} order by all").equals(
            table(full, f"select * from {stored} order by all")
        )
    paths = {
        r[0]: r[1]
        for r in rows(full, "select journey_id, list(channel order by step) from meta.journey_steps group by 1")
    }
    assert paths["o-X"] == ["google_ads", "email"] and "crm:X" not in paths and "vX" not in paths
    assert paths["o-C"] == ["vk_ads", "email", "google_ads"] and "vW" not in paths  # W's visit of 17 March
    assert paths["vY"] == ["vk_ads", "email", "google_ads"]
    fit = "select * exclude (fit_start) from marts.channel_weights where fit_end = '2024-04-10' order by all"
    got, expected = table(nightly, fit), table(full, fit)
    assert got.drop("weight", "removal_effect", "shapley_value", "p_conversion", "p_conversion_without").equals(
        expected.drop("weight", "removal_effect", "shapley_value", "p_conversion", "p_conversion_without")
    )
    for column in ("weight", "p_conversion"):
        assert got[column].to_list() == pytest.approx(expected[column].to_list(), abs=1e-12)


def test_where_loads_are_logged_a_nightly_refit_rebuilds_only_what_new_exports_reached(monkeypatch):
    """With quality.file_loads, touches are new from the oldest touch of an export loaded since the journeys
    were stored (or dated after their as-of date), not from the run's first month. The first run sees
    March (the six journeys above) and the visits of Z on 2 April and of W on 6 April; the nightly run of
    April brings an export with X's visit and purchase and E's visit (7 and 8 April), and a late export
    holding a visit of Y on 3 April. Z's visit is in the run's month but older than every new touch: Z is
    not rebuilt; Y is (and W, whose journey ends after 3 April). The stored steps, counts and inputs and
    both models' weights must equal a full fit on the same data."""
    from pipelines.ingest.load import create_quality_tables

    def log_loads(con, *files):
        create_quality_tables(con)
        now = datetime.now(UTC).replace(tzinfo=None)
        con.executemany(
            """insert into quality.file_loads (source, source_file, file_sha256, load_signature, loaded_at)
               values ('touchpoints', ?, ?, 'test', ?)""",
            [[f, f, now] for f in files],
        )

    def before(con):
        load(con)
        insert(
            con,
            "raw.touchpoints",
            [
                {"visitor_id": "vZ", "ts": datetime(2024, 4, 2, 9), "source_file": "april-1.csv", **VK},
                {"visitor_id": "vW", "ts": datetime(2024, 4, 6, 9), "source_file": "april-1.csv", **GOOGLE},
            ],
        )
        # a repeat order: the first run's as-of date is 6 April
        repeat = {"order_id": "o-A2", "customer_id": "A", "visitor_id": "vA", "created_at": datetime(2024, 4, 6, 12)}
        insert(con, "raw.orders", [repeat | {"status": "paid", "revenue": 10.0, "currency": "RUB"}])
        log_loads(con, "test/export.csv", "april-1.csv")

    def after(con):
        april = datetime(2024, 4, 8, 12)
        insert(
            con,
            "raw.touchpoints",
            [
                {"visitor_id": "vX", "ts": april - timedelta(days=1), "source_file": "april-2.csv", **EMAIL},
                {"visitor_id": "vE", "ts": april - timedelta(hours=1), "source_file": "april-2.csv", **VK},
                {"visitor_id": "vY", "ts": datetime(2024, 4, 3, 9), "source_file": "late-april.csv", **GOOGLE},
            ],
        )
        insert(
            con,
            "raw.orders",
            [paid_order("X", april)],
        )
        log_loads(con, "april-2.csv", "late-april.csv")

    scopes = record_scopes(monkeypatch)
    nightly = new_warehouse(CONFIG)
    before(nightly)
    run(nightly, CONFIG)
    after(nightly)
    run(nightly, CONFIG, window=(date(2024, 4, 1), date(2024, 5, 1)))
    assert scopes == [None, ["crm:X", "vE", "vW", "vX", "vY"]]

    full = new_warehouse(CONFIG)
    before(full)
    after(full)
    run(full, CONFIG)
    for stored in ("meta.journey_steps", "meta.journey_counts", "meta.journey_inputs"):
        assert table(nightly, f"select * from {stored} order by all").equals(
            table(full, f"select * from {stored} order by all")
        ), stored
    paths = {
        r[0]: r[1]
        for r in rows(full, "select journey_id, list(channel order by step) from meta.journey_steps group by 1")
    }
    assert paths["vY"] == ["vk_ads", "email", "google_ads"]  # the late visit of 3 April
    fit = "select * from marts.channel_weights where fit_end = '2024-04-08' order by all"
    assert table(nightly, fit).equals(table(full, fit))


def test_first_order_removal_effects_match_channelattribution():
    """ChannelAttribution (PyPI 2.2.5) estimates the same first-order chain by simulation: its removal
    effects must agree with the exact ones within its simulation error."""
    ca = pytest.importorskip("ChannelAttribution", reason="ChannelAttribution is not installed (the test extra has it)")
    import pandas as pd

    paths: dict[str, list[int]] = {}
    for converted, channels in JOURNEYS.values():
        counts = paths.setdefault(">".join(CHANNEL[c] for c in collapsed(channels)), [0, 0])
        counts[0 if converted else 1] += 1
    data = pd.DataFrame([(p, c, n) for p, (c, n) in paths.items()], columns=["path", "conversions", "nulls"])
    # By default it cuts every simulated path at the longest observed one (2 channels here), which drops the
    # chain's google > vk > email > google loop and gives e.g. email 0.11; the exact absorption probability
    # counts paths of any length, so the cap is lifted far beyond where the loop's weight vanishes.
    result = ca.markov_model(
        data,
        "path",
        "conversions",
        var_null="nulls",
        order=1,
        out_more=True,
        verbose=False,
        flg_pro=False,
        seed=7,
        nsim_start=1e6,
        max_step=50,
    )
    theirs = dict(
        zip(result["removal_effects"]["channel_name"], result["removal_effects"]["removal_effect"], strict=False)
    )

    con = new_warehouse(CONFIG)
    load(con)
    run(con, CONFIG)
    ours = {c: r["removal_effect"] for c, r in weights(con, "markov").items()}
    assert set(theirs) == set(ours)
    for channel, effect in ours.items():
        assert theirs[channel] == pytest.approx(effect, abs=0.01), channel  # 1e6 simulated paths: error ~0.001


def record_scopes(monkeypatch) -> list:
    """Per run of the weights, the identities whose journeys it rebuilt (None: every journey)."""
    scopes = []
    store = data_driven._store_journeys

    def spy(con, query, params, order):
        scoped = params["journeys_scoped"]
        scopes.append(sorted(r[0] for r in rows(con, "select identity from __dd_identities")) if scoped else None)
        store(con, query, params, order)

    monkeypatch.setattr(data_driven, "_store_journeys", spy)
    return scopes
