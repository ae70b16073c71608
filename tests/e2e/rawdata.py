"""A small, deterministic raw folder in the canonical layouts (docs/data_contracts.md).

Three acquisition channels (google_ads, yandex_direct, email), months 2024-01 .. 2025-03, two new
customers a month (each with one touch, linked through the order's visitor id), repeat orders from
older customers, ad spend twice a month per platform, a monthly channel salary and a shared overhead
cost, and a few orders in USD (so staging needs fx_rates).
"""

from __future__ import annotations

import csv
from datetime import date, timedelta
from pathlib import Path

FIRST_MONTH = date(2024, 1, 1)
MONTHS = 15  # 2024-01 .. 2025-03

HEADERS = {
    "ad_spend": [
        "date",
        "platform",
        "account_id",
        "campaign_id",
        "campaign_name",
        "utm_source",
        "utm_medium",
        "utm_campaign",
        "impressions",
        "clicks",
        "spend",
        "currency",
    ],
    "costs": ["period_start", "period_end", "category", "channel", "amount", "currency", "allocation"],
    "customers": ["customer_id", "email", "phone", "created_at"],
    "orders": [
        "order_id",
        "customer_id",
        "email",
        "phone",
        "visitor_id",
        "created_at",
        "status",
        "revenue",
        "cost_of_goods",
        "refunded_amount",
        "refunded_at",
        "currency",
        "utm_source",
        "utm_medium",
        "utm_campaign",
        "utm_content",
        "utm_term",
    ],
    "touchpoints": [
        "visitor_id",
        "customer_id",
        "ts",
        "utm_source",
        "utm_medium",
        "utm_campaign",
        "utm_content",
        "utm_term",
        "referrer",
        "click_id",
    ],
    "fx_rates": ["date", "currency", "rate"],
}

CHANNEL_UTM = {
    "google_ads": ("google", "cpc", "brand_search"),
    "yandex_direct": ("yandex", "cpc", "generic_search"),
    "email": ("newsletter", "email", "weekly_digest"),
}


def month_start(i: int) -> date:
    return date(FIRST_MONTH.year + (FIRST_MONTH.month - 1 + i) // 12, (FIRST_MONTH.month - 1 + i) % 12 + 1, 1)


def month_key(i: int) -> str:
    return month_start(i).isoformat()[:7]


def build_rows() -> dict[str, list[dict]]:
    """Every source's rows, each row tagged with `_month` (its YYYY-MM) so tests can drop a month."""
    data: dict[str, list[dict]] = {source: [] for source in HEADERS}
    n = 0
    for i in range(MONTHS):
        start = month_start(i)
        month = month_key(i)
        end = (start + timedelta(days=32)).replace(day=1) - timedelta(days=1)
        # two new customers a month; the channel alternates so every channel gets customers
        for j in range(2):
            n += 1
            cid = f"C{n:04d}"
            channel = ["google_ads", "yandex_direct", "email"][(i * 2 + j) % 3]
            source, medium, campaign = CHANNEL_UTM[channel]
            day = start + timedelta(days=3 + 9 * j)
            visitor = f"v{n:04d}"
            data["customers"].append(
                {
                    "_month": month,
                    "customer_id": cid,
                    "email": f"user{n}@example.com",
                    "phone": f"7900{n:07d}",
                    "created_at": f"{day} 09:00:00",
                }
            )
            data["touchpoints"].append(
                {
                    "_month": month,
                    "visitor_id": visitor,
                    "customer_id": "",
                    "ts": f"{day} 10:00:00",
                    "utm_source": source,
                    "utm_medium": medium,
                    "utm_campaign": campaign,
                    "utm_content": "",
                    "utm_term": "",
                    "referrer": "",
                    "click_id": "",
                }
            )
            currency = "USD" if (i, j) in ((4, 1), (12, 0)) else "RUB"
            revenue = 30.0 + i if currency == "USD" else 2000.0 + 100 * i + 50 * j
            data["orders"].append(
                order(
                    f"O{n:04d}a",
                    cid,
                    n,
                    visitor,
                    f"{day} 12:00:00",
                    revenue,
                    revenue * 0.5 if j == 0 else None,
                    currency,
                    ("", "", ""),
                    month,
                )
            )
            # a repeat order two months later (if inside the data range)
            if i + 2 < MONTHS:
                later = month_start(i + 2) + timedelta(days=7 + j)
                data["orders"].append(
                    order(
                        f"O{n:04d}b",
                        cid,
                        n,
                        "",
                        f"{later} 15:30:00",
                        1500.0 + 10 * i,
                        600.0,
                        "RUB",
                        ("", "", ""),
                        month_key(i + 2),
                    )
                )
        # ad spend: google and yandex, on the 5th and the 20th
        for platform, (source, medium, campaign) in (
            ("google_ads", CHANNEL_UTM["google_ads"]),
            ("yandex_direct", CHANNEL_UTM["yandex_direct"]),
        ):
            for k, d in enumerate((5, 20)):
                data["ad_spend"].append(
                    {
                        "_month": month,
                        "date": start.replace(day=d).isoformat(),
                        "platform": platform,
                        "account_id": "acc1",
                        "campaign_id": f"{platform[:1]}{k}",
                        "campaign_name": campaign,
                        "utm_source": source,
                        "utm_medium": medium,
                        "utm_campaign": campaign,
                        "impressions": str(10000 + 100 * i),
                        "clicks": str(300 + 5 * i),
                        "spend": f"{1000 + 25 * i + 7 * k:.2f}",
                        "currency": "RUB",
                    }
                )
        data["costs"].append(
            {
                "_month": month,
                "period_start": start.isoformat(),
                "period_end": end.isoformat(),
                "category": "salary",
                "channel": "google_ads",
                "amount": "5000.00",
                "currency": "RUB",
                "allocation": "",
            }
        )
        data["costs"].append(
            {
                "_month": month,
                "period_start": start.isoformat(),
                "period_end": end.isoformat(),
                "category": "overhead",
                "channel": "",
                "amount": "3000.00",
                "currency": "RUB",
                "allocation": "orders",
            }
        )
    # daily USD rates over the whole range (plus a few days before it)
    day = FIRST_MONTH - timedelta(days=5)
    last = month_start(MONTHS)
    while day < last:
        data["fx_rates"].append(
            {
                "_month": day.isoformat()[:7],
                "date": day.isoformat(),
                "currency": "USD",
                "rate": f"{90 + (day - FIRST_MONTH).days / 100:.4f}",
            }
        )
        day += timedelta(days=1)
    return data


def order(order_id, cid, n, visitor, ts, revenue, cogs, currency, utm, month) -> dict:
    return {
        "_month": month,
        "order_id": order_id,
        "customer_id": cid,
        "email": f"user{n}@example.com",
        "phone": "",
        "visitor_id": visitor,
        "created_at": ts,
        "status": "paid",
        "revenue": f"{revenue:.2f}",
        "cost_of_goods": "" if cogs is None else f"{cogs:.2f}",
        "refunded_amount": "",
        "refunded_at": "",
        "currency": currency,
        "utm_source": utm[0],
        "utm_medium": utm[1],
        "utm_campaign": utm[2],
        "utm_content": "",
        "utm_term": "",
    }


def write_raw(root: Path, data: dict[str, list[dict]] | None = None, own_file_month: str | None = None) -> Path:
    """Write one canonical CSV per source under root/<source>/ (replacing what was there); the rows of
    `own_file_month` (YYYY-MM), if given, go to a file of their own, <source>/<source>_<month>.csv."""
    data = data if data is not None else build_rows()
    for source, header in HEADERS.items():
        folder = root / source
        folder.mkdir(parents=True, exist_ok=True)
        for old in folder.iterdir():
            old.unlink()
        rows = data[source]
        files = {f"{source}.csv": [r for r in rows if r.get("_month") != own_file_month or own_file_month is None]}
        if own_file_month is not None:
            files[f"{source}_{own_file_month}.csv"] = [r for r in rows if r.get("_month") == own_file_month]
        for name, file_rows in files.items():
            with (folder / name).open("w", newline="", encoding="utf-8") as handle:
                writer = csv.DictWriter(handle, fieldnames=header, extrasaction="ignore", lineterminator="\n")
                writer.writeheader()
                writer.writerows(file_rows)
    return root
