"""Turning simulated arrays into all-text canonical frames: fixed decimals, date styles, messy contact
fields, UTM strings. Pure functions of their inputs (random choices are drawn beforehand), so a row
re-exported in a second file comes out byte-identical."""

from __future__ import annotations

import base64

import numpy as np
import polars as pl

from pipelines.devtools.generate import channels as ch
from pipelines.devtools.generate.customers import Customers
from pipelines.devtools.generate.journeys import Touches
from pipelines.devtools.generate.orders import STATUSES, Orders
from schemas.inputs import COLUMNS

# the amounts the generator writes in the messy number formats (the rest stay plain)
NUMERIC = {
    "ad_spend": ("spend",),
    "costs": ("amount",),
    "orders": ("revenue", "cost_of_goods", "refunded_amount"),
    "fx_rates": ("rate",),
}
DATE_FMT = {"iso": "%Y-%m-%d", "ru": "%d.%m.%Y"}
TS_FMT = {"iso": "%Y-%m-%d %H:%M:%S", "ru": "%d.%m.%Y %H:%M:%S"}


def lookup(values, idx: np.ndarray) -> pl.Series:
    """values[idx] as a String series; idx -1 gives null."""
    table = pl.Series([*values, None], dtype=pl.String)
    return table.gather(np.where(idx < 0, len(values), idx))


def fixed(x: np.ndarray, decimals: int = 2) -> pl.Series:
    """Numbers as plain text with a fixed number of decimals (NaN -> null), identical on every platform."""
    scale = 10**decimals
    units = np.round(np.nan_to_num(np.asarray(x, float)) * scale).astype(np.int64)
    mag = np.abs(units)
    s = (
        pl.Series(np.where(units < 0, "-", ""))
        + pl.Series(mag // scale).cast(pl.String)
        + "."
        + pl.Series(mag % scale).cast(pl.String).str.zfill(decimals)
    )
    return s.set(pl.Series(np.isnan(np.asarray(x, float))), None)


def timestamps(ts: np.ndarray, style: str = "iso") -> pl.Series:
    s = pl.from_epoch(pl.Series(np.maximum(ts, 0)), "s").dt.strftime(TS_FMT[style])
    return s.set(pl.Series(ts < 0), None)


def dates_text(d: pl.Series, style: str = "iso") -> pl.Series:
    return d.dt.strftime(DATE_FMT[style])


def typed_to_text(frame: pl.DataFrame, source: str, style: str = "iso") -> pl.DataFrame:
    """A typed canonical frame (ad_spend, costs, fx_rates) as text in canonical column order."""
    out = {}
    for name in COLUMNS[source]:
        col = frame[name]
        if col.dtype == pl.Date:
            out[name] = dates_text(col, style)
        elif col.dtype.is_float():
            out[name] = fixed(col.to_numpy(), 4 if source == "fx_rates" else 2)
        else:
            out[name] = col.cast(pl.String)
    return pl.DataFrame(out)


def messy_email(email: pl.Series, style: np.ndarray) -> pl.Series:
    """How people type e-mails: as is, capitalised, all caps, with stray spaces."""
    cap = email.str.slice(0, 1).str.to_uppercase() + email.str.slice(1)
    s = pl.select(
        pl.when(pl.lit(style == 1))
        .then(cap)
        .when(pl.lit(style == 2))
        .then(email.str.to_uppercase())
        .when(pl.lit(style == 3))
        .then(" " + email + " ")
        .otherwise(email)
    ).to_series()
    return s


def phone_text(digits: pl.Series, fmt: np.ndarray) -> pl.Series:
    """10 national digits in one of the usual Russian formats."""
    a, b, c, d = (digits.str.slice(0, 3), digits.str.slice(3, 3), digits.str.slice(6, 2), digits.str.slice(8, 2))
    return pl.select(
        pl.when(pl.lit(fmt == 0))
        .then("+7 (" + a + ") " + b + "-" + c + "-" + d)
        .when(pl.lit(fmt == 1))
        .then("8 " + a + " " + b + " " + c + " " + d)
        .when(pl.lit(fmt == 2))
        .then("7" + digits)
        .otherwise("+7 " + a + " " + b + "-" + c + "-" + d)
    ).to_series()


def click_tokens(names: np.ndarray, rng: np.random.Generator) -> pl.Series:
    """Click ids in each platform's look: gclid base64-ish, yclid numeric, fbclid IwAR…"""
    n = names.size
    raw = np.frombuffer(base64.urlsafe_b64encode(rng.bytes(12 * n)), dtype="S16").astype("U16")
    token = pl.Series(raw, dtype=pl.String)
    yclid = pl.Series(rng.integers(10**16, 10**17, n)).cast(pl.String)
    value = pl.select(
        pl.when(pl.lit(names == "yclid"))
        .then(yclid)
        .when(pl.lit(names == "fbclid"))
        .then("IwAR" + token)
        .otherwise("Cj0KCQ" + token)
    ).to_series()
    fmt = ch.CLICK_ID_FORMAT
    prefix, suffix = fmt.split("{value}")
    return pl.Series(names, dtype=pl.String) + prefix.replace("{name}", "") + value + suffix


def touches_text(
    t: Touches,
    rows: np.ndarray,
    visitor: pl.Series,
    customer_id: pl.Series,
    rng: np.random.Generator,
    style: str = "iso",
) -> pl.DataFrame:
    """Canonical touchpoint rows for t[rows]; visitor / customer_id already aligned with rows."""
    v = t.variant[rows]
    camp = t.campaign[rows]
    extra = t.extra[rows]
    kind = np.array([x.campaign for x in ch.VARIANTS])[v]
    utm_campaign = lookup([c.utm_campaign for c in ch.CAMPAIGNS], camp)
    email = lookup(ch.EMAIL_CAMPAIGNS, np.where(kind == "email", extra, -1))
    social = lookup(ch.SOCIAL_CAMPAIGNS, np.where(kind == "social", extra, -1))
    utm_campaign = utm_campaign.fill_null(email).fill_null(social)
    term = lookup(ch.SEARCH_TERMS, np.where(camp >= 0, extra, -1))
    content = ("ad_" + pl.Series(t.content[rows]).cast(pl.String)).set(pl.Series(t.content[rows] == 0), None)
    click = t.click[rows]
    names = np.array([x.click_name or "" for x in ch.VARIANTS])[v]
    click_id = pl.Series([None] * rows.size, dtype=pl.String)
    if click.any():
        click_id = click_id.scatter(np.flatnonzero(click), click_tokens(names[click], rng))
    return pl.DataFrame(
        {
            "visitor_id": visitor,
            "customer_id": customer_id,
            "ts": timestamps(t.ts[rows], style),
            "utm_source": lookup([x.source for x in ch.VARIANTS], v),
            "utm_medium": lookup([x.medium for x in ch.VARIANTS], v),
            "utm_campaign": utm_campaign,
            "utm_content": content,
            "utm_term": term,
            "referrer": lookup([x.referrer for x in ch.VARIANTS], v),
            "click_id": click_id,
        }
    )


def order_id(i: np.ndarray) -> pl.Series:
    return pl.Series(i + 10_000_001).cast(pl.String)


def orders_text(
    o: Orders, cust: Customers, rows: np.ndarray, extras: dict[str, np.ndarray], utm: pl.DataFrame, style: str = "iso"
) -> pl.DataFrame:
    """Canonical order rows o[rows]. extras: per-order draws (contact styles); utm: utm columns of all
    orders (null where the order carries none)."""
    c = o.cust[rows]
    email_on = extras["email_on"][rows]
    phone_on = extras["phone_on"][rows]
    email = messy_email(cust.email.gather(c), extras["email_style"][rows]).set(pl.Series(~email_on), None)
    phone = phone_text(cust.phone.gather(c), extras["phone_fmt"][rows]).set(pl.Series(~phone_on), None)
    visitor = cust.visitor.gather(c).set(pl.Series(~o.has_visitor[rows]), None)
    status = lookup(STATUSES, o.status[rows])
    currency = pl.Series(np.where(cust.usd[c], "USD", "RUB"))
    frame = pl.DataFrame(
        {
            "order_id": order_id(rows),
            "customer_id": cust.customer_id.gather(c),
            "email": email,
            "phone": phone,
            "visitor_id": visitor,
            "created_at": timestamps(o.ts[rows], style),
            "status": status,
            "revenue": fixed(o.revenue[rows]),
            "cost_of_goods": fixed(o.cogs[rows]),
            "refunded_amount": fixed(o.refunded[rows]),
            "refunded_at": timestamps(o.refunded_ts[rows], style),
            "currency": currency,
        }
    )
    return pl.concat([frame, utm[rows]], how="horizontal")


def decimal_comma(frame: pl.DataFrame, source: str) -> pl.DataFrame:
    cols = [c for c in NUMERIC.get(source, ()) if c in frame.columns]
    return frame.with_columns(pl.col(cols).str.replace(".", ",", literal=True))
