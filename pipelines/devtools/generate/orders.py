"""Orders: each customer's first order, repeat orders along a channel-specific retention curve, and the
order attributes (revenue, cost of goods, status, refunds, currency)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pipelines.devtools.generate import channels as ch
from pipelines.devtools.generate.calendar import DAY, MONTH_SEASON, WEEKDAY, Calendar
from pipelines.devtools.generate.customers import Customers

STATUSES = ("paid", "completed", "cancelled", "refunded", "pending")
PAID_, COMPLETED, CANCELLED, REFUNDED, PENDING = range(5)
MONTH = 30.44 * DAY


@dataclass
class Orders:
    cust: np.ndarray  # int32 customer index
    ts: np.ndarray  # int64 created_at
    is_first: np.ndarray  # bool
    revenue: np.ndarray | None = None  # in the order currency
    cogs: np.ndarray | None = None  # NaN = missing
    status: np.ndarray | None = None  # index into STATUSES
    refunded: np.ndarray | None = None  # NaN = none
    refunded_ts: np.ndarray | None = None  # -1 = none
    has_visitor: np.ndarray | None = None  # the order carries the browser's visitor id

    @property
    def n(self) -> int:
        return self.ts.size


def simulate_order_times(cal: Calendar, cust: Customers, rng: np.random.Generator) -> Orders:
    """Repeat orders: a Poisson process while the customer is active (exponential lifetime, so retention
    decays exponentially), thinned by seasonality; a channel-dependent share never comes back."""
    c = cust.channel
    n = cust.n
    returns = rng.random(n) >= ch.ONE_TIME[c]
    life = rng.exponential(ch.LIFETIME_MONTHS[c]) * MONTH
    rate = ch.REPEAT_RATE[c] * rng.gamma(2.0, 0.5, n)  # heterogeneous purchase frequency
    begin = cust.first_ts + DAY
    stop = np.minimum(cust.first_ts + life, cal.end_ts)
    dur = np.maximum(stop - begin, 0)
    season = MONTH_SEASON[cal.month_of_day] * WEEKDAY[cal.weekday]
    smax = season.max()
    k = np.where(returns, rng.poisson(rate * dur / MONTH * smax), 0)
    owner = np.repeat(np.arange(n, dtype=np.int32), k)
    ts = (np.repeat(begin, k) + rng.random(owner.size) * np.repeat(dur, k)).astype(np.int64)
    day = np.clip(ts // DAY - cal.day0, 0, cal.n_days - 1)
    keep = rng.random(owner.size) < season[day] / smax
    owner, ts = owner[keep], ts[keep]

    all_cust = np.concatenate([np.arange(n, dtype=np.int32), owner])
    all_ts = np.concatenate([cust.first_ts, ts])
    first = np.concatenate([np.ones(n, bool), np.zeros(owner.size, bool)])
    order = np.lexsort((all_cust, all_ts))  # by time, then customer: the order-id sequence
    return Orders(all_cust[order], all_ts[order], first[order])


def simulate_order_values(
    cal: Calendar, cust: Customers, o: Orders, usd_rate: np.ndarray, rng: np.random.Generator
) -> None:
    """Fill revenue, cost of goods, status and refunds in place. usd_rate is indexed by day from start-7."""
    n = o.n
    chan = cust.channel[o.cust]
    rub = ch.AOV_RUB[chan] * rng.lognormal(-0.15, 0.55, n) * np.where(o.is_first, 1.0, 0.9)
    price = np.maximum(np.round(rub / 10) * 10 - np.where(rng.random(n) < 0.5, 10, 0), 190.0)
    discounted = rng.random(n) < 0.25
    rub = np.where(discounted, np.round(price * rng.uniform(0.85, 0.95, n), 2), price)
    day = (o.ts // DAY - cal.day0).astype(np.int64)
    usd = cust.usd[o.cust]
    revenue = np.where(usd, np.round(rub / usd_rate[day + 7], 2), rub)
    cogs = np.round(revenue * rng.uniform(0.42, 0.62, n), 2)
    cogs[rng.random(n) < 0.10] = np.nan  # ~10 % without cost: the estimated-margin path

    age_days = (cal.end_ts - o.ts) / DAY
    u = rng.random(n)
    status = np.where(age_days > 10, COMPLETED, PAID_)
    status = np.where((u < 0.12) & (age_days > 10), PAID_, status)  # some never get marked completed
    status = np.where((age_days < 4) & (u < 0.3), PENDING, status)
    status = np.where(u > 0.94, CANCELLED, status)
    full = (u > 0.91) & (u <= 0.94) & (age_days > 3)
    status = np.where(full, REFUNDED, status)

    delay = rng.uniform(1, 30, n) * DAY
    partial = (status == COMPLETED) & (rng.random(n) < 0.05)
    delay = np.where(partial, rng.uniform(3, 45, n) * DAY, delay)
    refunded_ts = (o.ts + delay).astype(np.int64)
    partial &= refunded_ts <= cal.end_ts  # a refund after the export date is not in the export
    refunded_ts = np.where(full, np.minimum(refunded_ts, cal.end_ts - 3600), refunded_ts)
    refunded_ts = np.where(full | partial, np.maximum(refunded_ts, o.ts + 600), -1)
    refunded = np.full(n, np.nan)
    refunded[full] = revenue[full]
    refunded[partial] = np.round(revenue[partial] * rng.uniform(0.1, 0.6, partial.sum()), 2)

    o.revenue, o.cogs, o.status = revenue, cogs, status.astype(np.int8)
    o.refunded, o.refunded_ts = refunded, refunded_ts
    o.has_visitor = rng.random(n) < 0.85  # phone and in-store orders carry no browser id
