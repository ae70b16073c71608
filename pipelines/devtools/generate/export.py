"""The file plan: which rows go to which file in which layout, with which quirks, bad rows and overlaps.
Big sources are written a chunk at a time (touchpoints per month, orders per quarter)."""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import polars as pl

from pipelines.devtools.generate import channels as ch
from pipelines.devtools.generate.calendar import DAY, Calendar, add_months
from pipelines.devtools.generate.customers import CRM, GUEST_EMAIL, GUEST_PHONE, Customers, visitor_ids
from pipelines.devtools.generate.journeys import Touches, anonymous_touches
from pipelines.devtools.generate.orders import Orders
from pipelines.devtools.generate.shop_writers import shopify_orders, write_shopify_orders
from pipelines.devtools.generate.text import (
    messy_email,
    orders_text,
    phone_text,
    timestamps,
    touches_text,
    typed_to_text,
)
from pipelines.devtools.generate.writers import (
    BadRow,
    FileRecord,
    Output,
    Quirks,
    write_analytics,
    write_canonical,
    write_native,
)


def _span(a: date, b: date) -> str:
    return f"{a:%Y-%m}_{b:%Y-%m}" if (a.year, a.month) != (b.year, b.month) else f"{a:%Y-%m}"


def _epoch(d: date) -> int:
    return (d - date(1970, 1, 1)).days * DAY


def write_ad_spend(out: Output, cal: Calendar, spend: pl.DataFrame) -> None:
    """Google: first year as a Google Ads UI report (.xlsx), second year canonical (+ a re-exported week);
    Meta: first year English default columns, second year Russian with ids; Yandex Direct API TSV; VK Ads CSV."""
    split = add_months(cal.start, 12) if cal.months > 12 else cal.end + timedelta(days=1)
    halves = (cal.start, split - timedelta(days=1)), (split, cal.end)
    plat = {p: spend.filter(pl.col("platform") == p) for p in ch.PAID}

    def part(p: str, i: int) -> pl.DataFrame:
        a, b = halves[i]
        return plat[p].filter(pl.col("date").is_between(a, b))

    g1, g2 = part("google_ads", 0), part("google_ads", 1)
    xlsx = out.layouts == "native"
    write_native(
        out,
        "google_ads_xlsx" if xlsx else "google_ads",
        f"ad_spend/google_ads_ui_{_span(*halves[0])}.{'xlsx' if xlsx else 'csv'}",
        g1,
        typed_to_text(g1, "ad_spend"),
        note="Google Ads UI report downloaded as .xlsx" if xlsx else "Google Ads UI report",
    )
    if g2.height:
        text = typed_to_text(g2, "ad_spend")
        h = text.height
        bad_row = {
            "campaign_id": "20813349999",
            "campaign_name": "Search | Test (deleted)",
            "utm_campaign": "search_test",
        }
        write_canonical(
            out,
            "ad_spend",
            f"ad_spend/google_ads_{_span(*halves[1])}.csv",
            text,
            bad=[
                (h // 5, "spend", "-1520.40", "negative spend", bad_row),
                (h // 2, "date", "2026-02-30", "unparseable date (30 February)", bad_row),
                (4 * h // 5, "currency", "RUBB", "unknown currency code", bad_row),
            ],
            note="canonical export from a reporting script",
        )
        # the same campaigns re-exported for a week that the file above already holds
        a = halves[1][0] + timedelta(days=150)
        dup = g2.filter(pl.col("date").is_between(a, a + timedelta(days=6)))
        if dup.height:
            rel = f"ad_spend/google_ads_{a:%Y-%m-%d}_reexport.csv"
            write_canonical(
                out,
                "ad_spend",
                rel,
                typed_to_text(dup, "ad_spend"),
                note="overlapping re-export: every row duplicates google_ads second-year file",
            )
            out.duplicates.append((rel, dup.height, f"ad_spend/google_ads_{_span(*halves[1])}.csv"))
    for i, lang, writer, how in (
        (0, "en", "meta_ads_default", "default columns (no campaign id)"),
        (1, "ru", "meta_ads", "chosen columns with campaign id"),
    ):
        m = part("meta_ads", i)
        if m.height:
            write_native(
                out,
                writer,
                f"ad_spend/meta_ads_{_span(*halves[i])}_{lang}.csv",
                m,
                typed_to_text(m, "ad_spend"),
                note=f"Meta Ads Manager export, {lang} headers, USD, {how}",
                language=lang,
            )
    y, v = plat["yandex_direct"], plat["vk_ads"]
    ext = "tsv" if out.layouts == "native" else "csv"
    write_native(
        out,
        "yandex_direct",
        f"ad_spend/yandex_direct_{_span(cal.start, cal.end)}.{ext}",
        y,
        typed_to_text(y, "ad_spend"),
        note="Yandex Direct Reports API TSV",
    )
    write_native(
        out,
        "vk_ads",
        f"ad_spend/vk_ads_{_span(cal.start, cal.end)}.csv",
        v,
        typed_to_text(v, "ad_spend"),
        note="VK Ads statistics CSV",
    )


def write_costs(out: Output, cal: Calendar, costs: pl.DataFrame) -> None:
    text = typed_to_text(costs, "costs")
    h = text.height
    write_canonical(
        out,
        "costs",
        f"costs/costs_{_span(cal.start, cal.end)}.csv",
        text,
        Quirks(trailing_blank=True),
        bad=[
            (h // 3, "currency", "RUBB", "unknown currency code", {"category": "other"}),
            (2 * h // 3, "amount", "n/a", "amount not a number", {"category": "other"}),
        ],
        note="monthly non-ad costs from accounting",
    )


def write_fx(out: Output, cal: Calendar, fx: dict[str, np.ndarray]) -> None:
    first = cal.start - timedelta(days=7)
    days = pl.date_range(first, cal.end, "1d", eager=True)
    frame = pl.concat([pl.DataFrame({"date": days, "currency": cur, "rate": rate}) for cur, rate in fx.items()])
    text = typed_to_text(frame.sort("date", "currency"), "fx_rates", style="ru")
    write_canonical(
        out,
        "fx_rates",
        "fx_rates/cbr_rates.csv",
        text,
        Quirks(delimiter=";", decimal_comma=True, dates="ru"),
        bad=[(text.height // 2, "rate", "n/a", "rate not a number", {"currency": "CNY"})],
        note="daily RUB per unit (central bank style)",
    )


def write_customers(out: Output, cal: Calendar, cust: Customers, rng: np.random.Generator) -> None:
    crm = np.flatnonzero(cust.kind == CRM)
    crm = crm[np.argsort(cust.customer_id.gather(crm).to_numpy(), kind="stable")]
    style = np.where(rng.random(crm.size) < 0.85, 0, rng.integers(1, 4, crm.size))
    text = pl.DataFrame(
        {
            "customer_id": cust.customer_id.gather(crm),
            "email": messy_email(cust.email.gather(crm), style),
            "phone": phone_text(cust.phone.gather(crm), rng.integers(0, 4, crm.size)),
            "created_at": timestamps(cust.created_ts[crm]),
        }
    )
    h = text.height
    write_canonical(
        out,
        "customers",
        "customers/crm_customers.csv",
        text,
        Quirks(bom=True),
        bad=[
            (h // 4, "created_at", "unknown", "unparseable timestamp", {"customer_id": "C9999901"}),
            (3 * h // 4, "customer_id", "", "empty customer_id", {}),
        ],
        note="CRM customer dump (Excel-style UTF-8 with BOM)",
    )


def order_extras(o: Orders, cust: Customers, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Per-order contact details drawn once, so an order exported twice is written identically."""
    kind = cust.kind[o.cust]
    n = o.n
    return {
        "email_on": ((kind == GUEST_EMAIL) | ((kind == CRM) & (rng.random(n) < 0.3)))
        & ~cust.email.is_null().to_numpy()[o.cust],
        "phone_on": ((kind == GUEST_PHONE) | ((kind == CRM) & (rng.random(n) < 0.2)))
        & ~cust.phone.is_null().to_numpy()[o.cust],
        "email_style": rng.choice(4, n, p=[0.55, 0.2, 0.1, 0.15]),
        "phone_fmt": rng.integers(0, 4, n),
    }


def order_utm(o: Orders, cust: Customers, t: Touches, last_touch: np.ndarray, rng: np.random.Generator) -> pl.DataFrame:
    """UTM columns of every order: the last touch's tags on some first (40 %) and repeat (30 %) orders."""
    carry = (last_touch >= 0) & (rng.random(o.n) < np.where(o.is_first, 0.4, 0.3))
    carry &= t.variant[np.maximum(last_touch, 0)] != len(ch.VARIANTS) - 1  # direct has no tags
    rows = last_touch[carry]
    tags = touches_text(
        t, rows, pl.Series([None] * rows.size, dtype=pl.String), pl.Series([None] * rows.size, dtype=pl.String), rng
    )
    tags = tags.select("utm_source", "utm_medium", "utm_campaign", "utm_content", "utm_term")
    full = pl.DataFrame({c: pl.Series([None] * o.n, dtype=pl.String) for c in tags.columns})
    idx = np.flatnonzero(carry)
    return full.with_columns([full[c].scatter(idx, tags[c]) for c in tags.columns])


def write_orders(out: Output, cal: Calendar, o: Orders, cust: Customers, extras: dict, utm: pl.DataFrame) -> None:
    """One file per calendar quarter with quirks spread over them, bad rows in several, and a re-export
    of ~11 days straddling two quarter files."""
    q_start = date(cal.start.year, 3 * ((cal.start.month - 1) // 3) + 1, 1)
    quarters = []
    while q_start <= cal.end:
        q_end = add_months(q_start, 3) - timedelta(days=1)
        quarters.append((max(q_start, cal.start), min(q_end, cal.end)))
        q_start = add_months(q_start, 3)
    quirk_by_index = {
        1: Quirks(delimiter=";", decimal_comma=True),
        3: Quirks(encoding="cp1251"),
        6: Quirks(dates="ru"),
        7: Quirks(trailing_blank=True),
    }
    next_id = o.n
    names = []
    for i, (a, b) in enumerate(quarters):
        rows = np.flatnonzero((o.ts >= _epoch(a)) & (o.ts < _epoch(b) + DAY))
        q = quirk_by_index.get(i, Quirks())
        text = orders_text(o, cust, rows, extras, utm, q.dates)
        if i == 0 and out.layouts != "canonical":  # the first quarter as the shop's own export
            names.append(_write_shopify(out, o, cust, rows, text, f"orders/shopify_orders_{a:%Y-%m}_{b:%Y-%m}.csv"))
            continue
        bad, next_id = _order_bad_rows(i, text, next_id, q.dates)
        rel = f"orders/orders_{a.year}Q{(a.month - 1) // 3 + 1}.csv"
        names.append(rel)
        write_canonical(out, "orders", rel, text, q, bad=bad, note=f"{a} .. {b}")
    if len(quarters) > 3:  # re-export around the end of the third quarter file
        end = quarters[2][1]
        a, b = end - timedelta(days=5), end + timedelta(days=5)
        rows = np.flatnonzero((o.ts >= _epoch(a)) & (o.ts < _epoch(b) + DAY))
        rel = f"orders/orders_{a:%Y-%m-%d}_{b:%Y-%m-%d}_reexport.csv"
        write_canonical(
            out,
            "orders",
            rel,
            orders_text(o, cust, rows, extras, utm),
            note="overlapping re-export: every row duplicates a quarter file",
        )
        out.duplicates.append((rel, rows.size, f"{names[2]} and {names[3]}"))


def _write_shopify(out: Output, o: Orders, cust: Customers, rows: np.ndarray, text: pl.DataFrame, rel: str) -> str:
    c = o.cust[rows]
    phone = cust.phone.gather(c)
    shop = shopify_orders(
        text, cust.email.gather(c), pl.select(pl.when(phone.is_not_null()).then("+7" + phone)).to_series()
    )
    path = out.root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    write_shopify_orders(shop, path)
    # an order of a customer known by CRM id only: Shopify's export has no column for it, so the order
    # names nobody and is quarantined (as a real shop's would be)
    nobody = shop.with_row_index("line").filter(
        pl.col("Financial Status").is_not_null() & pl.col("Email").is_null() & pl.col("Phone").is_null()
    )
    for line in nobody["line"].to_list():
        out.bad_rows.append(BadRow(rel, line + 2, "customer_id", "", "shop order without e-mail or phone: no identity"))
    note = f"Shopify's orders export: {text.height} orders in {shop.height} line-item rows"
    out.files.append(
        FileRecord(rel, "orders", "shopify_orders", text.height, "shop_writers.write_shopify_orders", "", note)
    )
    return rel


def _order_bad_rows(i: int, text: pl.DataFrame, next_id: int, style: str) -> tuple[list, int]:
    """Bad orders planted in some quarter files; each gets a fresh order id (except the empty one)."""
    h = text.height
    if h < 3:
        return [], next_id
    ts_bad = "31.13.2026 10:00:00" if style == "ru" else "2025-13-01 10:00:00"
    plan = {
        1: [("currency", "RUBB", "unknown currency code", {})],
        2: [("order_id", "", "empty order_id", {})],
        4: [("revenue", "abc", "revenue not a number", {})],
        5: [
            (
                "phone",
                "8 (912) 34-5",
                "phone-only order with a malformed phone (no usable identity)",
                {"customer_id": None, "email": None},
            )
        ],
        6: [("created_at", ts_bad, "unparseable created_at", {})],
    }.get(i, [])
    bad = []
    for k, (column, value, reason, over) in enumerate(plan):
        if column != "order_id":
            over = {"order_id": str(90_000_001 + next_id)} | over
            next_id += 1
        bad.append(((k + 1) * h // (len(plan) + 1), column, value, reason, over))
    return bad, next_id


def write_touchpoints(
    out: Output,
    cal: Calendar,
    t: Touches,
    cust: Customers,
    anonymous_ratio: float,
    campaign_w: np.ndarray,
    demand: np.ndarray,
    rng: np.random.Generator,
) -> None:
    """One file per month: the buyers' touches plus anonymous traffic generated month by month, so
    memory stays bounded at any scale."""
    order = np.argsort(t.ts, kind="stable")
    sorted_ts = t.ts[order]
    visitor_base = cust.n
    quirk_by_month = {2: Quirks(bom=True), 5: Quirks(trailing_blank=True)}
    bad_by_month = {
        4: ("ts", "not a date", "unparseable timestamp"),
        7: ("ts", "2025-06-31 12:00:00", "unparseable timestamp (31 June)"),
        14: ("visitor_id", "", "empty visitor_id"),
    }
    for i, m in enumerate(cal.month_starts()):
        a, b = max(m, cal.start), min(add_months(m, 1), cal.end + timedelta(days=1))
        lo, hi = np.searchsorted(sorted_ts, [_epoch(a), _epoch(b)])
        rows = order[lo:hi]
        c = t.cust[rows]
        own = touches_text(
            t, rows, cust.visitor.gather(c), cust.customer_id.gather(c).set(pl.Series(~t.logged_in[rows]), None), rng
        )
        own = own.with_columns(_sort_key=pl.Series(t.ts[rows]))
        parts = [own]
        count = int(round(anonymous_ratio * rows.size))
        if count:
            at, vis = anonymous_touches(
                cal, cal.day_index(a), cal.day_index(b), count, visitor_base, campaign_w, demand, rng
            )
            seen = np.full(vis.max() + 1 - visitor_base, np.iinfo(np.int64).max)
            np.minimum.at(seen, vis - visitor_base, at.ts)
            vstr = visitor_ids(vis, seen[vis - visitor_base])
            anon = touches_text(at, np.arange(at.n), vstr, pl.Series([None] * at.n, dtype=pl.String), rng)
            parts.append(anon.with_columns(_sort_key=pl.Series(at.ts)))
            visitor_base = int(vis.max()) + 1
        text = pl.concat(parts).sort("_sort_key", "visitor_id", maintain_order=True).drop("_sort_key")
        bad = []
        if i in bad_by_month and text.height:
            col, value, reason = bad_by_month[i]
            over = {"visitor_id": f"bad.{i}"} if col != "visitor_id" else {}
            bad.append((text.height // 2, col, value, reason, over))
        if i == cal.months - 1 and out.layouts == "native" and not bad:
            # the last month as the analytics tool exports it: a GA4 BigQuery events table in Parquet
            write_analytics(out, f"touchpoints/events_{m:%Y%m}.parquet", text, note=f"{a} .. {b - timedelta(days=1)}")
            continue
        write_canonical(
            out,
            "touchpoints",
            f"touchpoints/touchpoints_{m:%Y-%m}.csv",
            text,
            quirk_by_month.get(i, Quirks()),
            bad=bad,
            note=f"{a} .. {b - timedelta(days=1)}",
        )
