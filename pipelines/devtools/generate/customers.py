"""Customers: when each first buys, through which channel and campaign, and how they identify themselves.

Most are CRM customers (a customer id on every order); guests appear only by e-mail or only by phone
on their orders, so identity stitching has something to do.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl

from pipelines.devtools.generate import channels as ch
from pipelines.devtools.generate.calendar import DAY, Calendar

CRM, GUEST_EMAIL, GUEST_PHONE = 0, 1, 2
# (male, female) first and last names: e-mails are built from a matching pair
FIRST = (
    ("ivan", "sergey", "dmitry", "alexey", "pavel", "andrey", "mikhail", "nikolay", "artem", "kirill"),
    ("maria", "anna", "olga", "elena", "natalia", "ekaterina", "irina", "tatiana", "yulia", "svetlana"),
)
LAST = (
    ("petrov", "smirnov", "popov", "lebedev", "novikov", "volkov", "fedorov", "egorov"),
    ("ivanova", "kuznetsova", "sokolova", "kozlova", "morozova", "pavlova", "orlova", "zaitseva"),
)
DOMAINS = ("mail.ru", "yandex.ru", "gmail.com", "bk.ru", "inbox.ru", "list.ru", "rambler.ru")
DOMAIN_P = np.array([0.30, 0.25, 0.22, 0.08, 0.06, 0.05, 0.04])


@dataclass
class Customers:
    first_ts: np.ndarray  # int64 seconds: the first order
    channel: np.ndarray  # int8 acquisition channel index (ch.NONE = never touched)
    campaign: np.ndarray  # int16 index into ch.CAMPAIGNS, -1 unless paid
    kind: np.ndarray  # CRM / GUEST_EMAIL / GUEST_PHONE
    usd: np.ndarray  # bool: pays in USD
    created_ts: np.ndarray  # int64 CRM registration (meaningful for CRM only)
    customer_id: pl.Series  # "C0000001"…, null for guests
    email: pl.Series  # clean e-mail, null where unknown
    phone: pl.Series  # 10 digits after the country code, null where unknown
    visitor: pl.Series | None = None  # client id of the customer's browser, set once touches exist

    @property
    def n(self) -> int:
        return self.first_ts.size


def bijection(idx: np.ndarray, mult: int, add: int, mod: int) -> np.ndarray:
    """A scrambled but collision-free number per index (mult coprime with mod), so ids look random
    yet never repeat, at any scale."""
    return (idx.astype(np.uint64) * np.uint64(mult) + np.uint64(add)) % np.uint64(mod)


def visitor_ids(numbers: np.ndarray, first_seen: np.ndarray) -> pl.Series:
    """GA-style client ids "<random>.<first-seen epoch>"; numbers must be unique."""
    rnd = bijection(numbers, 2_654_435_761, 97_531, 2**32) + np.uint64(10**9)
    return pl.Series(rnd.astype(np.int64)).cast(pl.String) + "." + pl.Series(first_seen).cast(pl.String)


def simulate_customers(
    cal: Calendar, n: int, rng: np.random.Generator, demand: np.ndarray, campaign_w: np.ndarray
) -> Customers:
    day = np.sort(rng.choice(cal.n_days, size=n, p=demand / demand.sum()))
    first_ts = np.sort(cal.random_times(rng, day))
    day = (first_ts // DAY - cal.day0).astype(np.int32)

    # channel mix drifts linearly from the start shares to the end shares
    frac = (day / max(cal.n_days - 1, 1)).astype(np.float32)[:, None]
    shares = ch.ACQ_SHARE_START + (ch.ACQ_SHARE_END - ch.ACQ_SHARE_START) * frac
    channel = ch.pick(np.cumsum(shares / shares.sum(axis=1, keepdims=True), axis=1), rng.random(n))
    channel = channel.astype(np.int8)
    campaign = pick_campaign(channel, day, campaign_w, rng.random(n))

    kind = rng.choice(3, size=n, p=[0.88, 0.07, 0.05]).astype(np.int8)
    usd = rng.random(n) < 0.04
    idx = np.arange(n)
    # CRM registration: at checkout for most, days or weeks earlier for some
    early = rng.random(n) < 0.35
    lead = np.where(early, rng.exponential(10 * DAY, n), rng.uniform(30, 1800, n)).astype(np.int64)
    created_ts = first_ts - lead  # may precede the data: the CRM is older than the exports
    crm = kind == CRM
    rank = np.empty(n, np.int64)
    order = np.argsort(np.where(crm, created_ts, np.iinfo(np.int64).max), kind="stable")
    rank[order] = np.arange(n)
    customer_id = ("C" + pl.Series(rank + 1).cast(pl.String).str.zfill(7)).set(pl.Series(~crm), None)

    female = rng.random(n) < 0.55
    first = pl.Series(FIRST[0] + FIRST[1]).gather(rng.integers(0, 10, n) + 10 * female)
    last = pl.Series(LAST[0] + LAST[1]).gather(rng.integers(0, 8, n) + 8 * female)
    sep = pl.Series([".", "_", ""]).gather(rng.choice(3, n, p=[0.5, 0.2, 0.3]))
    domain = pl.Series(DOMAINS).gather(rng.choice(len(DOMAINS), n, p=DOMAIN_P))
    # the index in the local part keeps e-mails unique
    email = first + sep + last + pl.Series(idx + 1).cast(pl.String) + "@" + domain
    no_email = (crm & (rng.random(n) < 0.08)) | (kind == GUEST_PHONE)
    email = email.set(pl.Series(no_email), None)
    phone = pl.Series(bijection(idx, 387_420_489, 123_456_789, 10**9) + np.uint64(9 * 10**9)).cast(pl.String)
    no_phone = (crm & (rng.random(n) < 0.18)) | (kind == GUEST_EMAIL)
    phone = phone.set(pl.Series(no_phone), None)
    return Customers(first_ts, channel, campaign, kind, usd, created_ts, customer_id, email, phone)


def pick_campaign(channel: np.ndarray, day: np.ndarray, campaign_w: np.ndarray, u: np.ndarray) -> np.ndarray:
    """A campaign of the given (paid) channel active on that day, by the day's campaign weights."""
    out = np.full(channel.size, -1, np.int16)
    for name in ch.PAID:
        ci = ch.IDX[name]
        rows = np.flatnonzero(channel == ci)
        if rows.size == 0:
            continue
        cols = np.flatnonzero(ci == ch.CAMPAIGN_CHANNEL)
        cum = np.cumsum(campaign_w[day[rows]][:, cols], axis=1)
        out[rows] = cols[ch.pick(cum, u[rows])]
    return out
