"""Non-ad acquisition costs from the CRM/accounting: monthly salaries, tools and fees per channel,
shared overhead with an allocation rule, and a couple of quarterly rows."""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import polars as pl

from pipelines.devtools.generate.calendar import Calendar, add_months

# (category, channel or None = shared, monthly amount at 5 000 customers, currency, allocation, from)
MONTHLY = (
    ("salary", "google_ads", 45_000, "RUB", None, None),  # context specialist, half
    ("salary", "yandex_direct", 45_000, "RUB", None, None),  # context specialist, other half
    ("salary", "organic_search", 70_000, "RUB", None, None),  # SEO specialist
    ("salary", "organic_social", 55_000, "RUB", None, None),  # SMM manager
    ("salary", "vk_ads", 30_000, "RUB", None, None),  # targeting specialist
    ("salary", "meta_ads", 20_000, "RUB", None, None),
    ("salary", "email", 40_000, "RUB", None, date(2025, 3, 1)),  # e-mail marketer hired later
    ("software", "organic_search", 6_000, "RUB", None, None),  # SEO tools
    ("software", "email", 9_000, "RUB", None, None),  # e-mail service
    ("services", "meta_ads", 150, "USD", None, None),  # agency fee
    ("software", None, 18_000, "RUB", "spend", None),  # call tracking
    ("software", None, 40, "EUR", "spend", None),  # design tool
    ("software", None, 25_000, "RUB", "new_customers", None),  # CRM licence
    ("overhead", None, 60_000, "RUB", "orders", None),  # phone operator
    ("overhead", None, 90_000, "RUB", "", None),  # office share: empty = orders
    ("overhead", None, 30_000, "RUB", "none", None),  # accounting
    ("other", None, 8_000, "RUB", "orders", None),
)
QUARTERLY = (("services", None, 150_000, "RUB", "new_customers"),)  # PR agency, billed per quarter


def simulate_costs(cal: Calendar, n_customers: int, rng: np.random.Generator) -> pl.DataFrame:
    """Typed canonical cost rows. Amounts scale with the customer count so CAC does not depend on it;
    they grow 10 % a year and vary a little month to month (so no two rows are identical)."""
    scale = n_customers / 5000
    rows = []
    months = cal.month_starts()
    for m in months:
        end = min(add_months(m, 1) - timedelta(days=1), cal.end)
        years = (m - months[0]).days / 365
        for cat, channel, amount, cur, alloc, since in MONTHLY:
            if since and m < since:
                continue
            value = amount * scale * 1.1 ** int(years) * rng.uniform(0.97, 1.03)
            value = round(value, 2) if cur != "RUB" or cat != "salary" else round(value, -2)
            rows.append((m, end, cat, channel, value, cur, alloc))
        if m.month == 1 and add_months(m, 2) <= cal.end.replace(day=1):
            for cat, channel, amount, cur, alloc in QUARTERLY:
                q_end = add_months(m, 3) - timedelta(days=1)
                rows.append((m, q_end, cat, channel, round(amount * scale * rng.uniform(0.95, 1.05), -2), cur, alloc))
    return pl.DataFrame(
        rows,
        orient="row",
        schema={
            "period_start": pl.Date,
            "period_end": pl.Date,
            "category": pl.String,
            "channel": pl.String,
            "amount": pl.Float64,
            "currency": pl.String,
            "allocation": pl.String,
        },
    )
