"""The simulated calendar: days, demand intensity (growth, seasonality, weekdays), campaign activity, FX.

Times are carried as int64 seconds since 1970-01-01 of naive local (Moscow) time; days as int indices
from the start date.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np

from pipelines.devtools.generate import channels as ch

DAY = 86_400
# Month-of-year demand: January and summer dips, the November (11.11, Black Friday) and December peaks.
MONTH_SEASON = np.array([0.80, 0.88, 1.0, 1.0, 0.95, 0.85, 0.80, 0.86, 1.0, 1.05, 1.30, 1.28])
WEEKDAY = np.array([1.05, 1.04, 1.02, 1.0, 0.98, 0.92, 0.96])  # Monday first
# Share of a day's activity by hour (evenings are busiest).
HOURS = np.array(
    [
        0.6,
        0.3,
        0.2,
        0.15,
        0.15,
        0.2,
        0.4,
        0.8,
        1.2,
        1.6,
        1.9,
        2.0,
        2.0,
        2.0,
        1.9,
        1.9,
        2.0,
        2.1,
        2.3,
        2.6,
        2.8,
        2.6,
        1.9,
        1.1,
    ]
)


def add_months(d: date, months: int) -> date:
    m = d.month - 1 + months
    return date(d.year + m // 12, m % 12 + 1, 1)


@dataclass
class Calendar:
    start: date
    months: int

    def __post_init__(self) -> None:
        self.end = add_months(self.start.replace(day=1), self.months) - timedelta(days=1)
        if self.start.day != 1:  # a start mid-month still runs `months` whole months after it
            self.end = add_months(self.start, self.months) + timedelta(days=self.start.day - 2)
        self.n_days = (self.end - self.start).days + 1
        self.day0 = (self.start - date(1970, 1, 1)).days
        self.dates = np.arange(self.day0, self.day0 + self.n_days).astype("datetime64[D]")
        self.start_ts = self.day0 * DAY
        self.end_ts = (self.day0 + self.n_days) * DAY - 1  # last second of the last day
        self.month_of_day = self.dates.astype("datetime64[M]").astype(int) % 12  # 0 = January
        self.month_key = self.dates.astype("datetime64[M]")  # for grouping
        self.weekday = (self.dates.astype(int) + 3) % 7  # 0 = Monday

    def month_starts(self) -> list[date]:
        first = self.start.replace(day=1)
        out, d = [], first
        while d <= self.end:
            out.append(d)
            d = add_months(d, 1)
        return out

    def day_index(self, d: date) -> int:
        return (d - self.start).days

    def intensity(self, rng: np.random.Generator) -> np.ndarray:
        """Relative daily demand: growth ×1.8 over two years, seasonality, weekdays, promo spikes, noise."""
        t = np.arange(self.n_days) / 730.0
        level = (1 + 0.8 * t) * MONTH_SEASON[self.month_of_day] * WEEKDAY[self.weekday]
        years = np.unique(self.dates.astype("datetime64[Y]").astype(int) + 1970)
        for y in years:  # 11.11 sale and Black Friday (last Friday of November) weekend
            for spike_day, boost in ((date(y, 11, 11), 1.6), (_black_friday(y), 2.0)):
                for k, f in enumerate((1.0, 0.6, 0.3)):
                    i = self.day_index(spike_day + timedelta(days=k))
                    if 0 <= i < self.n_days:
                        level[i] *= 1 + (boost - 1) * f
        noise = np.zeros(self.n_days)  # AR(1) on the log scale: demand drifts, it does not flicker
        eps = rng.normal(0, 0.05, self.n_days)
        for i in range(1, self.n_days):
            noise[i] = 0.8 * noise[i - 1] + eps[i]
        return level * np.exp(noise)

    def campaign_weights(self) -> np.ndarray:
        """(days × campaigns) share of each campaign within its channel on each day (0 when paused)."""
        w = np.zeros((self.n_days, len(ch.CAMPAIGNS)))
        for k, c in enumerate(ch.CAMPAIGNS):
            active = np.ones(self.n_days, bool)
            if c.active_from:
                active &= np.arange(self.n_days) >= self.day_index(c.active_from)
            if c.active_months:
                active &= np.isin(self.month_of_day + 1, c.active_months)
            w[:, k] = np.where(active, c.weight, 0.0)
        for ci in set(ch.CAMPAIGN_CHANNEL):
            cols = ci == ch.CAMPAIGN_CHANNEL
            w[:, cols] /= w[:, cols].sum(axis=1, keepdims=True)
        return w

    def random_times(self, rng: np.random.Generator, day_idx: np.ndarray) -> np.ndarray:
        """A second within each given day, following the hourly profile."""
        hour = rng.choice(24, size=day_idx.size, p=HOURS / HOURS.sum())
        sec = rng.integers(0, 3600, size=day_idx.size)
        return (self.day0 + day_idx.astype(np.int64)) * DAY + hour * 3600 + sec


def _black_friday(year: int) -> date:
    d = date(year, 11, 30)
    return d - timedelta(days=(d.weekday() - 4) % 7)


def fx_rates(cal: Calendar, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Daily RUB per unit for USD and EUR, from a week before the start (the latest rate on or before a
    date is used) to the end: a mean-reverting log random walk."""
    n = cal.n_days + 7
    log_usd = np.empty(n)
    log_usd[0] = np.log(99.0)
    eps = rng.normal(0, 0.007, n)
    for i in range(1, n):
        log_usd[i] = log_usd[i - 1] + 0.01 * (np.log(90.0) - log_usd[i - 1]) + eps[i]
    usd = np.round(np.exp(log_usd), 4)
    eur = np.round(usd * (1.08 + np.cumsum(rng.normal(0, 0.002, n)).clip(-0.06, 0.06)), 4)
    return {"USD": usd, "EUR": eur}
