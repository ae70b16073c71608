"""Channel and campaign tables the simulation draws from.

Everything here is plain data: acquisition shares, retention, how each channel's touches look (UTM,
referrer, click id) and the paid campaigns. Indices into these tuples are what the simulation carries
around in numpy arrays; strings are only looked up when files are written.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import numpy as np

# Channel order is the index used everywhere; NONE marks a customer with no touches at all.
CHANNELS = (
    "google_ads",
    "yandex_direct",
    "vk_ads",
    "meta_ads",
    "organic_search",
    "organic_social",
    "email",
    "referral",
    "direct",
)
IDX = {name: i for i, name in enumerate(CHANNELS)}
NONE = len(CHANNELS)
PAID = ("google_ads", "yandex_direct", "vk_ads", "meta_ads")

# Share of new customers acquired by each channel (+ a last entry for "no touch at all"): start and end
# of the period, interpolated linearly, so the mix drifts (VK and Yandex grow, Meta shrinks).
ACQ_SHARE_START = np.array([0.21, 0.18, 0.08, 0.09, 0.15, 0.06, 0.05, 0.05, 0.08, 0.05])
ACQ_SHARE_END = np.array([0.19, 0.22, 0.12, 0.05, 0.15, 0.07, 0.05, 0.05, 0.05, 0.05])

# Repeat behaviour by acquisition channel: share of one-time buyers, repeat orders per month while
# active, mean active lifetime in months. Email/organic customers retain better than paid social.
ONE_TIME = np.array([0.50, 0.50, 0.60, 0.58, 0.42, 0.48, 0.35, 0.42, 0.45, 0.55])
REPEAT_RATE = np.array([0.30, 0.30, 0.25, 0.25, 0.38, 0.32, 0.45, 0.38, 0.36, 0.28])
LIFETIME_MONTHS = np.array([7.0, 7.0, 4.5, 5.0, 11.0, 8.0, 15.0, 11.0, 10.0, 6.0])
AOV_RUB = np.array([3600, 3500, 2600, 3000, 3300, 2900, 3400, 3800, 3700, 3200], dtype=float)

# Channels of touches that are not the acquiring one: assists early in a journey and touches that
# precede repeat orders.
ASSIST_MIX = np.array([0.10, 0.10, 0.05, 0.04, 0.18, 0.07, 0.08, 0.04, 0.34])
REPEAT_MIX = np.array([0.05, 0.05, 0.04, 0.03, 0.15, 0.03, 0.35, 0.02, 0.28])
# Traffic of visitors who never buy is mostly paid clicks.
ANONYMOUS_MIX = np.array([0.22, 0.22, 0.14, 0.10, 0.12, 0.06, 0.03, 0.03, 0.08])

# How a click id is written in touchpoints.click_id: "<parameter>=<value>", so the parameter name the
# channel rules match on (gclid / yclid / fbclid) travels with the id.
CLICK_ID_FORMAT = "{name}={value}"


@dataclass(frozen=True)
class Variant:
    """One way a touch of a channel shows up in web analytics."""

    channel: str
    weight: float
    source: str | None = None
    medium: str | None = None
    referrer: str | None = None
    click_name: str | None = None  # gclid / yclid / fbclid
    click_share: float = 0.0  # share of these touches that carry the click id
    campaign: str = "none"  # none | paid (the campaign's utm_campaign) | email | social


VARIANTS = (
    Variant("google_ads", 0.80, "google", "cpc", None, "gclid", 0.92, "paid"),
    Variant("google_ads", 0.20, "google", "cpc", "https://www.google.com/", "gclid", 0.92, "paid"),
    Variant("yandex_direct", 0.85, "yandex", "cpc", None, "yclid", 0.90, "paid"),
    Variant("yandex_direct", 0.15, "yandex", "cpc", "https://yandex.ru/", "yclid", 0.90, "paid"),
    Variant("vk_ads", 0.60, "vk", "cpc", None, None, 0, "paid"),
    Variant("vk_ads", 0.40, "vk", "paid", "https://vk.com/", None, 0, "paid"),
    Variant("meta_ads", 0.40, "facebook", "cpc", None, "fbclid", 0.5, "paid"),
    Variant("meta_ads", 0.15, "fb", "paid_social", "https://l.facebook.com/", "fbclid", 0.5, "paid"),
    Variant("meta_ads", 0.30, "instagram", "paid_social", None, "fbclid", 0.5, "paid"),
    Variant("meta_ads", 0.15, "ig", "cpc", "https://l.instagram.com/", "fbclid", 0.5, "paid"),
    Variant("organic_search", 0.30, "google", "organic"),
    Variant("organic_search", 0.25, "yandex", "organic"),
    Variant("organic_search", 0.25, None, None, "https://www.google.com/"),
    Variant("organic_search", 0.20, None, None, "https://yandex.ru/"),
    Variant("organic_social", 0.35, None, None, "https://vk.com/"),
    Variant("organic_social", 0.30, None, None, "https://t.me/"),
    Variant("organic_social", 0.20, "vk", "social", None, None, 0, "social"),
    Variant("organic_social", 0.15, "telegram", "social", "https://t.me/", None, 0, "social"),
    Variant("email", 0.70, "newsletter", "email", None, None, 0, "email"),
    Variant("email", 0.30, "mindbox", "email", "https://e.mail.ru/", None, 0, "email"),
    Variant("referral", 0.30, None, None, "https://habr.com/ru/articles/812345/"),
    Variant("referral", 0.25, None, None, "https://pikabu.ru/story/podborka_1234567"),
    Variant("referral", 0.25, None, None, "https://otzovik.com/reviews/shop/"),
    Variant("referral", 0.20, "partner_blog", "referral", "https://partner-blog.ru/obzor/"),
    Variant("direct", 1.0),
)

# E-mail campaigns: some Cyrillic, some URL-encoded as browsers send them.
EMAIL_CAMPAIGNS = (
    "weekly_digest",
    "abandoned_cart",
    "welcome_series",
    "black_friday",
    "new_year_sale",
    "распродажа",
    "%D0%BD%D0%BE%D0%B2%D0%B8%D0%BD%D0%BA%D0%B8",
    "reactivation_90d",
)
SOCIAL_CAMPAIGNS = ("post", "stories", "giveaway")
SEARCH_TERMS = (
    "купить кроссовки",
    "кроссовки женские",
    "магазин обуви",
    "кеды мужские",
    "brand name",
    "обувь доставка",
    "sneakers",
    "кроссовки распродажа",
)


@dataclass(frozen=True)
class Campaign:
    channel: str
    campaign_id: str
    name: str
    utm_campaign: str
    cac: float  # target ad cost per acquired customer, in the account currency
    cpc: float  # average cost per click, account currency
    ctr: float  # clicks / impressions
    weight: float  # share of the channel's customers
    active_from: date | None = None
    active_months: tuple[int, ...] = ()  # empty = every month
    search: bool = False  # touches carry a utm_term keyword


ACCOUNTS = {
    "google_ads": ("123-456-7890", "RUB"),
    "yandex_direct": ("shop-direct-main", "RUB"),
    "vk_ads": ("vk_cab_5512", "RUB"),
    "meta_ads": ("act_1029384756", "USD"),
}

CAMPAIGNS = (
    Campaign("google_ads", "20813344501", "Search | Brand", "search_brand", 675, 18, 0.09, 0.25, search=True),
    Campaign("google_ads", "20813344502", "Search | Generic", "search_generic", 2250, 42, 0.05, 0.35, search=True),
    Campaign(
        "google_ads",
        "20813344503",
        "Performance Max | All",
        "pmax_all",
        1725,
        25,
        0.012,
        0.25,
        active_from=date(2025, 3, 1),
    ),
    Campaign(
        "google_ads", "20813344504", "YouTube | Awareness", "yt_awareness", 4500, 9, 0.004, 0.15, active_months=(11, 12)
    ),
    Campaign("yandex_direct", "84512301", "Поиск | Бренд", "brand_search", 600, 16, 0.10, 0.25, search=True),
    Campaign("yandex_direct", "84512302", "Поиск | Общие запросы", "generic_search", 2025, 38, 0.05, 0.35, search=True),
    Campaign("yandex_direct", "84512303", "РСЯ | Ретаргетинг", "rsya_retargeting", 1350, 12, 0.008, 0.25),
    Campaign(
        "yandex_direct",
        "84512304",
        "Мастер кампаний",
        "master_campaign",
        1800,
        20,
        0.02,
        0.15,
        active_from=date(2025, 6, 1),
    ),
    Campaign("vk_ads", "1455001", "Лид-формы | Женщины 25-45", "vk_leadform_w25", 1275, 14, 0.007, 0.45),
    Campaign("vk_ads", "1455002", "Ретаргетинг | Корзина", "vk_retarget_cart", 825, 11, 0.011, 0.35),
    Campaign("vk_ads", "1455003", "Охват | Бренд", "vk_reach_brand", 2625, 7, 0.003, 0.20),
    Campaign("meta_ads", "120210000000001", "Prospecting | Lookalike 1%", "fb_lal1", 24, 0.45, 0.011, 0.45),
    Campaign("meta_ads", "120210000000002", "Retargeting | 30d", "fb_rt30", 13.5, 0.30, 0.016, 0.35),
    Campaign("meta_ads", "120210000000003", "Instagram | Reels", "ig_reels", 30, 0.35, 0.008, 0.20),
)
CAMPAIGN_CHANNEL = np.array([IDX[c.channel] for c in CAMPAIGNS])


def variant_table() -> tuple[np.ndarray, np.ndarray]:
    """Per channel: variant indices padded to a common width and their cumulative weights (padding 1.0)."""
    width = max(sum(v.channel == c for v in VARIANTS) for c in CHANNELS)
    index = np.zeros((len(CHANNELS), width), dtype=np.int16)
    cum = np.ones((len(CHANNELS), width))
    for ci, name in enumerate(CHANNELS):
        rows = [i for i, v in enumerate(VARIANTS) if v.channel == name]
        w = np.array([VARIANTS[i].weight for i in rows])
        index[ci, : len(rows)] = rows
        index[ci, len(rows) :] = rows[-1]
        cum[ci, : len(rows)] = np.cumsum(w / w.sum())
        cum[ci, len(rows) - 1 :] = 1.0
    return index, cum


def pick(cum_rows: np.ndarray, u: np.ndarray) -> np.ndarray:
    """Vectorised categorical draw: index of the first cumulative weight above u, row by row."""
    return np.minimum((u[:, None] >= cum_rows).sum(axis=1), cum_rows.shape[1] - 1)
