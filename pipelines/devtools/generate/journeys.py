"""Touchpoints: multi-touch journeys before first orders, a few touches before repeat orders, and the
traffic of visitors who never buy. Returned as index arrays; strings come in at write time."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pipelines.devtools.generate import channels as ch
from pipelines.devtools.generate.calendar import DAY, Calendar
from pipelines.devtools.generate.customers import CRM, Customers, pick_campaign, visitor_ids
from pipelines.devtools.generate.orders import Orders

JOURNEY_LEN_P = np.array([0.28, 0.25, 0.19, 0.13, 0.09, 0.06])  # 1..6 touches before a first order
REPEAT_LEN_P = np.array([0.45, 0.35, 0.20])  # 0..2 touches before a repeat order


@dataclass
class Touches:
    ts: np.ndarray  # int64
    cust: np.ndarray  # int32 customer index, -1 = anonymous visitor
    variant: np.ndarray  # int16 index into ch.VARIANTS
    campaign: np.ndarray  # int16 index into ch.CAMPAIGNS, -1 when not paid
    extra: np.ndarray  # int8: e-mail / social campaign index, search term index (-1 none)
    content: np.ndarray  # int8: ad number for utm_content, 0 = none
    click: np.ndarray  # bool: carries the click id of its variant
    logged_in: np.ndarray  # bool: the analytics hit has the customer id

    @property
    def n(self) -> int:
        return self.ts.size


def _variants_etc(
    cal: Calendar,
    channel: np.ndarray,
    ts: np.ndarray,
    campaign: np.ndarray,
    campaign_w: np.ndarray,
    rng: np.random.Generator,
) -> tuple[np.ndarray, ...]:
    """How each touch of a given channel looks: variant, campaign, content, term/extra, click id."""
    n = channel.size
    vidx, vcum = ch.variant_table()
    variant = vidx[channel, ch.pick(vcum[channel], rng.random(n))].astype(np.int16)
    day = np.clip(ts // DAY - cal.day0, 0, cal.n_days - 1)
    todo = (campaign < 0) & np.isin(channel, [ch.IDX[p] for p in ch.PAID])
    campaign = campaign.copy()
    campaign[todo] = pick_campaign(channel[todo], day[todo], campaign_w, rng.random(todo.sum()))
    kind = np.array([v.campaign for v in ch.VARIANTS])[variant]
    extra = np.full(n, -1, np.int8)
    email = kind == "email"
    extra[email] = rng.integers(0, len(ch.EMAIL_CAMPAIGNS), email.sum())
    social = (kind == "social") & (rng.random(n) < 0.6)
    extra[social] = rng.integers(0, len(ch.SOCIAL_CAMPAIGNS), social.sum())
    search = np.array([c.search for c in ch.CAMPAIGNS] + [False])[campaign] & (rng.random(n) < 0.6)
    extra[search] = rng.integers(0, len(ch.SEARCH_TERMS), search.sum())
    content = np.where((campaign >= 0) & (rng.random(n) < 0.7), rng.integers(1, 13, n), 0).astype(np.int8)
    share = np.array([v.click_share for v in ch.VARIANTS])[variant]
    click = rng.random(n) < share
    return variant, campaign, extra, content, click


def simulate_touches(
    cal: Calendar, cust: Customers, o: Orders, campaign_w: np.ndarray, rng: np.random.Generator
) -> tuple[Touches, np.ndarray]:
    """Touches of buying customers, and for every order the index of its latest touch (-1 none)."""
    first = o.is_first
    acq = cust.channel[o.cust]
    n_touch = np.where(first, rng.choice(6, o.n, p=JOURNEY_LEN_P) + 1, rng.choice(3, o.n, p=REPEAT_LEN_P))
    n_touch[first & (acq == ch.NONE)] = 0
    # journey span: mostly days, some up to the 60-day lookback, a few beyond it
    u = rng.random(o.n)
    span = np.minimum(rng.exponential(8, o.n), 60)
    span = np.where(u < 0.05, rng.uniform(40, 60, o.n), span)
    span = np.where(u > 0.98, rng.uniform(60, 90, o.n), span)
    span = np.where(first, span, rng.uniform(0, 5, o.n)) * DAY
    last_gap = np.maximum(rng.exponential(5400, o.n), 60)
    last_gap = np.minimum(last_gap, span)

    order_of = np.repeat(np.arange(o.n), n_touch)
    starts = np.cumsum(n_touch) - n_touch
    j = np.arange(order_of.size) - np.repeat(starts, n_touch)
    nt = n_touch[order_of]
    is_last = j == nt - 1
    s, g = span[order_of], last_gap[order_of]
    offset = np.where(is_last, g, np.where(j == 0, s, g + rng.random(order_of.size) * (s - g)))
    ts = (o.ts[order_of] - offset).astype(np.int64)

    # channels: the acquiring channel owns the last touch (or the one before a final direct visit)
    f = first[order_of]
    a = acq[order_of]
    nn = order_of.size
    assist = ch.pick(np.cumsum(ch.ASSIST_MIX)[None, :], rng.random(nn))
    channel = np.where(rng.random(nn) < 0.5, a, assist)
    direct_last = is_last & (nt > 1) & (rng.random(nn) < 0.2)
    channel = np.where(is_last, np.where(direct_last, ch.IDX["direct"], a), channel)
    before_direct_last = np.zeros(nn, bool)
    before_direct_last[:-1] = direct_last[1:] & (j[:-1] == nt[:-1] - 2)
    channel = np.where(before_direct_last, a, channel)
    repeat_ch = ch.pick(np.cumsum(ch.REPEAT_MIX)[None, :], rng.random(nn))
    channel = np.where(f, channel, repeat_ch).astype(np.int8)

    campaign = np.where(f & (channel == a), cust.campaign[o.cust[order_of]], -1).astype(np.int16)
    variant, campaign, extra, content, click = _variants_etc(cal, channel, ts, campaign, campaign_w, rng)
    crm = cust.kind[o.cust[order_of]] == CRM
    logged_in = crm & (rng.random(nn) < np.where(f, 0.05, 0.6))
    # touches before the start of the data are not in any export
    keep = ts >= cal.start_ts
    touches = Touches(
        ts[keep],
        o.cust[order_of][keep],
        variant[keep],
        campaign[keep],
        extra[keep],
        content[keep],
        click[keep],
        logged_in[keep],
    )
    last_touch = np.full(o.n, -1, np.int64)
    kept_last = is_last[keep]
    last_touch[order_of[keep][kept_last]] = np.flatnonzero(kept_last)

    # each customer's browser id: first seen at (or a little before) their earliest touch or order
    seen = cust.first_ts.copy()
    np.minimum.at(seen, touches.cust, touches.ts)
    seen -= rng.exponential(DAY, cust.n).astype(np.int64)
    cust.visitor = visitor_ids(np.arange(cust.n), seen)
    return touches, last_touch


def anonymous_touches(
    cal: Calendar,
    month_lo: int,
    month_hi: int,
    count: int,
    visitor_base: int,
    campaign_w: np.ndarray,
    demand: np.ndarray,
    rng: np.random.Generator,
) -> tuple[Touches, np.ndarray]:
    """Touches of visitors who never buy, within days [month_lo, month_hi); about two per visitor.
    Returns the touches and the visitor number of each (unique across the whole run)."""
    n_vis = max(count // 2, 1)
    p = demand[month_lo:month_hi] / demand[month_lo:month_hi].sum()
    day = month_lo + rng.choice(month_hi - month_lo, size=count, p=p)
    ts = np.sort(cal.random_times(rng, day))
    visitor = visitor_base + rng.integers(0, n_vis, count)
    channel = ch.pick(np.cumsum(ch.ANONYMOUS_MIX)[None, :], rng.random(count)).astype(np.int8)
    variant, campaign, extra, content, click = _variants_etc(
        cal, channel, ts, np.full(count, -1, np.int16), campaign_w, rng
    )
    t = Touches(ts, np.full(count, -1, np.int32), variant, campaign, extra, content, click, np.zeros(count, bool))
    return t, visitor
