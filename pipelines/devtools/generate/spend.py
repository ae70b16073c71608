"""Daily ad spend per campaign, derived from the customers each campaign is expected to bring, so CAC
stays realistic at any customer count."""

from __future__ import annotations

import numpy as np
import polars as pl

from pipelines.devtools.generate import channels as ch
from pipelines.devtools.generate.calendar import Calendar


def simulate_spend(
    cal: Calendar, n_customers: int, demand: np.ndarray, campaign_w: np.ndarray, rng: np.random.Generator
) -> pl.DataFrame:
    """Canonical ad_spend rows (typed) for every active campaign-day, sorted by date, platform, campaign."""
    p_day = demand / demand.sum()
    frac = np.arange(cal.n_days) / max(cal.n_days - 1, 1)
    share = ch.ACQ_SHARE_START + (ch.ACQ_SHARE_END - ch.ACQ_SHARE_START) * frac[:, None]
    share /= share.sum(axis=1, keepdims=True)
    frames = []
    for k, c in enumerate(ch.CAMPAIGNS):
        active = campaign_w[:, k] > 0
        expected = n_customers * p_day * share[:, ch.IDX[c.channel]] * campaign_w[:, k]
        # day-to-day efficiency noise and a slow drift: CAC is not constant
        drift = np.exp(np.cumsum(rng.normal(0, 0.02, cal.n_days)).clip(-0.4, 0.4))
        spend = np.round(expected * c.cac * drift * rng.lognormal(0, 0.2, cal.n_days), 2)
        clicks = np.maximum(np.round(spend / (c.cpc * rng.lognormal(0, 0.1, cal.n_days))), 1)
        impressions = np.round(clicks / (c.ctr * rng.lognormal(0, 0.15, cal.n_days)))
        account, currency = ch.ACCOUNTS[c.channel]
        frames.append(
            pl.DataFrame(
                {
                    "date": cal.dates[active],
                    "platform": c.channel,
                    "account_id": account,
                    "campaign_id": c.campaign_id,
                    "campaign_name": c.name,
                    "utm_source": _utm_source(c.channel),
                    "utm_medium": "paid" if c.campaign_id == "1455002" else "cpc",
                    "utm_campaign": c.utm_campaign,
                    "impressions": impressions[active].astype(np.int64),
                    "clicks": clicks[active].astype(np.int64),
                    "spend": spend[active],
                    "currency": currency,
                }
            )
        )
    return pl.concat(frames).sort("date", "platform", "campaign_id")


def _utm_source(channel: str) -> str:
    return {"google_ads": "google", "yandex_direct": "yandex", "vk_ads": "vk", "meta_ads": "facebook"}[channel]
