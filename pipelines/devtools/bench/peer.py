"""The peer: the headline tables in plain pandas, the way an analyst would write them in a notebook.

Reads the same export folder, cleans it by the same rules (docs/data_contracts.md, docs/metrics.md), and
computes, under last-touch attribution:
  - monthly paid CAC per channel (ad spend / new customers), and
  - cohort LTV (margin) at 3, 6 and 12 months per acquisition month and channel.
Canonical CSVs are read with pandas; the ad-platform exports (UTF-16 Google UI report, cp1251 VK,
Yandex micros, Meta's localised headers) go through the project's own readers, as an analyst would
copy that parsing rather than rewrite it. Everything after that is pandas.
"""

from __future__ import annotations

import re
import time
from pathlib import Path
from urllib.parse import unquote

import numpy as np
import pandas as pd

from pipelines.core.config import Config, load_config
from pipelines.ingest.readers import detect_layout, read_export

PLACEHOLDERS = {"(direct)", "(none)", "(not set)"}
CURRENCY = r"^[A-Z]{3}$"
EMAIL = r"^[^@\s]+@[^@\s]+\.[^@\s]+$"
PHONE = r"^\d{10,15}$"
LOW, HIGH = pd.Timestamp("2000-01-01"), pd.Timestamp("2100-01-01")


# ------------------------------------------------------------------ reading and cleaning


def _read_csv(path: Path) -> pd.DataFrame:
    raw = path.read_bytes()
    if raw.startswith(b"\xef\xbb\xbf"):
        encoding = "utf-8-sig"
    else:
        try:
            raw.decode("utf-8")
            encoding = "utf-8"
        except UnicodeDecodeError:
            encoding = "cp1251"
    header = raw.split(b"\n", 1)[0]
    sep = max([b";", b",", b"\t"], key=header.count).decode()
    frame = pd.read_csv(path, sep=sep, dtype=str, encoding=encoding, keep_default_na=False, na_values=[""])
    frame["source_file"] = path.name
    frame["source_row"] = np.arange(2, len(frame) + 2)
    frame["file_mtime"] = path.stat().st_mtime
    return frame


def _text(s: pd.Series) -> pd.Series:
    s = s.str.strip()
    return s.mask(s == "")


def _number(s: pd.Series) -> tuple[pd.Series, pd.Series]:
    """(value, failed): '1 234,56', '1,234.56', '1234.56' -> float; text that is not a number fails."""
    t = _text(s)
    plain = t.str.replace("\u00a0", "", regex=False).str.replace(" ", "", regex=False)
    both = plain.str.contains(",", regex=False) & plain.str.contains(".", regex=False)
    plain = plain.where(~both, plain.str.replace(",", "", regex=False)).str.replace(",", ".", regex=False)
    value = pd.to_numeric(plain, errors="coerce")
    return value, t.notna() & value.isna()


def _timestamp(s: pd.Series) -> tuple[pd.Series, pd.Series]:
    t = _text(s)
    value = pd.to_datetime(t, format="%Y-%m-%d %H:%M:%S", errors="coerce")
    for fmt in ("%d.%m.%Y %H:%M:%S", "%Y-%m-%d", "%d.%m.%Y", "%Y-%m-%dT%H:%M:%S"):
        missing = value.isna() & t.notna()
        if not missing.any():
            break
        value = value.where(~missing, pd.to_datetime(t.where(missing), format=fmt, errors="coerce"))
    failed = t.notna() & value.isna()
    out_of_range = value.notna() & ((value < LOW) | (value > HIGH))
    return value, failed | out_of_range


def _phone(s: pd.Series) -> pd.Series:
    t = _text(s)
    digits = t.str.replace(r"\D", "", regex=True)
    ten = digits.str.len() == 10
    eight = (digits.str.len() == 11) & digits.str.startswith("8")
    out = digits.where(~ten, "7" + digits).where(~eight, "7" + digits.str[1:])
    return out.where(digits != "", t)


def _dedupe(frame: pd.DataFrame, key: list[str], dates: list[str]) -> pd.DataFrame:
    """Same fact exported twice: the copy from the file whose valid rows reach the latest date, then the
    larger file name, then its last line (never the file's modification time)."""
    latest = frame.groupby("source_file")[dates].max().max(axis=1)
    frame = frame.assign(file_latest=frame["source_file"].map(latest))
    frame = frame.sort_values(["file_latest", "source_file", "source_row"], na_position="first")
    return frame.drop_duplicates(subset=key, keep="last")


def load_source(raw_dir: Path, source: str) -> pd.DataFrame:
    files = sorted(
        p
        for p in (raw_dir / source).rglob("*")
        if p.is_file() and not p.name.startswith(".") and p.suffix.lower() != ".md"
    )
    if source == "ad_spend":
        parts = []
        for p in files:
            frame = read_export(p, source).frame.to_pandas()
            frame["source_file"], frame["file_mtime"] = p.name, p.stat().st_mtime
            parts.append(frame)
        return pd.concat(parts, ignore_index=True)
    return pd.concat(
        [
            _read_ga4(p)
            if p.suffix == ".parquet"
            else _read_csv(p)
            if detect_layout(p, source) == "canonical"
            else _read_export(p, source)
            for p in files
        ],
        ignore_index=True,
    )


def _read_export(path: Path, source: str) -> pd.DataFrame:
    """A shop's or CRM's export (Shopify's orders: line items grouped, revenue net of taxes) as its
    canonical columns, through the project's reader as an analyst's script would call a parser; times
    with an offset become the business's local time, the pipeline's rule (METRICS.md, Local time)."""
    frame = read_export(path, source).frame.to_pandas()
    tz = load_config().local_timezone
    for column in ("created_at", "refunded_at"):
        if column in frame:
            text = _text(frame[column])
            offset = text.str.contains(r"[+-]\d{2}:?\d{2}$", na=False)
            local = pd.to_datetime(text.where(offset), utc=True, errors="coerce", format="mixed")
            frame[column] = text.where(~offset, local.dt.tz_convert(tz).dt.strftime("%Y-%m-%d %H:%M:%S"))
    frame["source_file"], frame["file_mtime"] = path.name, path.stat().st_mtime
    return frame


def _read_ga4(path: Path) -> pd.DataFrame:
    """A GA4 export flattened as an analyst would: one row per session_start event (the generator writes
    one a touch), the UTM fields of collected_traffic_source, the event parameters by key."""
    events = pd.read_parquet(path)
    params = events["event_params"].map(lambda ps: {p["key"]: p["value"]["string_value"] for p in ps})
    cts = pd.DataFrame(events["collected_traffic_source"].tolist())
    location = params.map(lambda p: p.get("page_location") or "")
    frame = pd.DataFrame(
        {
            "visitor_id": events["user_pseudo_id"],
            "customer_id": events["user_id"],
            # microseconds since the epoch in UTC, as the business's local time (the pipeline's rule)
            "ts": pd.to_datetime(events["event_timestamp"], unit="us", utc=True)
            .dt.tz_convert(load_config().local_timezone)
            .dt.strftime("%Y-%m-%d %H:%M:%S"),
            "utm_source": cts["manual_source"],
            "utm_medium": cts["manual_medium"],
            "utm_campaign": cts["manual_campaign_name"],
            "utm_content": cts["manual_content"],
            "utm_term": cts["manual_term"],
            "referrer": params.map(lambda p: p.get("page_referrer")),
            "click_id": ("gclid=" + cts["gclid"]).where(cts["gclid"].notna(), location.str.extract(r"\?(.*)$")[0]),
        }
    )
    frame["source_file"] = path.name
    frame["source_row"] = np.arange(1, len(frame) + 1)
    frame["file_mtime"] = path.stat().st_mtime
    return frame


def clean_fx(frame: pd.DataFrame) -> pd.DataFrame:
    date, bad_date = _timestamp(frame["date"])
    rate, bad_rate = _number(frame["rate"])
    currency = _text(frame["currency"]).str.upper()
    ok = ~bad_date & ~bad_rate & date.notna() & (rate > 0) & currency.str.match(CURRENCY, na=False)
    out = frame.assign(date=date.dt.normalize(), rate=rate, currency=currency)[ok]
    return _dedupe(out, ["date", "currency"], ["date"])[["date", "currency", "rate"]]


def clean_customers(frame: pd.DataFrame) -> pd.DataFrame:
    created, bad_created = _timestamp(frame["created_at"])
    customer_id = _text(frame["customer_id"])
    email = _text(frame["email"]).str.lower()
    phone = _phone(frame["phone"])
    ok = (
        customer_id.notna()
        & ~bad_created
        & (email.isna() | email.str.match(EMAIL, na=False))
        & (phone.isna() | phone.str.match(PHONE, na=False))
    )
    out = frame.assign(customer_id=customer_id, email=email, phone=phone, created_at=created)[ok]
    return _dedupe(out, ["customer_id"], ["created_at"])[["customer_id", "email", "phone"]]


def clean_orders(frame: pd.DataFrame) -> pd.DataFrame:
    out = pd.DataFrame(
        {
            c: _text(frame[c])
            for c in (
                "order_id",
                "customer_id",
                "visitor_id",
                "utm_source",
                "utm_medium",
                "utm_campaign",
                "utm_content",
                "utm_term",
            )
        }
    )
    out["email"] = _text(frame["email"]).str.lower()
    out["phone"] = _phone(frame["phone"])
    out["status"] = _text(frame["status"]).str.lower()
    out["currency"] = _text(frame["currency"]).str.upper()
    bad = pd.Series(False, index=frame.index)
    for c in ("created_at", "refunded_at"):
        out[c], failed = _timestamp(frame[c])
        bad |= failed
    for c in ("revenue", "cost_of_goods", "refunded_amount"):
        out[c], failed = _number(frame[c])
        bad |= failed | (out[c] < 0)
    ok = (
        ~bad
        & out.order_id.notna()
        & out.created_at.notna()
        & out.revenue.notna()
        & out.status.str.match(r"^[a-z_]+$", na=False)
        & out.currency.str.match(CURRENCY, na=False)
        & (out.email.isna() | out.email.str.match(EMAIL, na=False))
        & (out.phone.isna() | out.phone.str.match(PHONE, na=False))
        & out[["customer_id", "email", "phone", "visitor_id"]].notna().any(axis=1)
        & (out.refunded_amount.isna() | (out.refunded_amount <= out.revenue + 0.005))
    )
    out[["source_file", "source_row", "file_mtime"]] = frame[["source_file", "source_row", "file_mtime"]]
    return _dedupe(out[ok], ["order_id"], ["created_at", "refunded_at"])


def clean_touchpoints(frame: pd.DataFrame) -> pd.DataFrame:
    columns = (
        "visitor_id",
        "customer_id",
        "utm_source",
        "utm_medium",
        "utm_campaign",
        "utm_content",
        "utm_term",
        "referrer",
        "click_id",
    )
    out = pd.DataFrame({c: _text(frame[c]) for c in columns})
    out["ts"], bad = _timestamp(frame["ts"])
    out[["source_file", "source_row", "file_mtime"]] = frame[["source_file", "source_row", "file_mtime"]]
    out = out[~bad & out.visitor_id.notna() & out.ts.notna()]
    return _dedupe(
        out, ["visitor_id", "ts", "utm_source", "utm_medium", "utm_campaign", "utm_content", "utm_term"], ["ts"]
    )


def clean_ad_spend(frame: pd.DataFrame) -> pd.DataFrame:
    out = pd.DataFrame({c: _text(frame[c]) for c in ("campaign_id", "utm_source", "utm_medium", "utm_campaign")})
    out["platform"] = _text(frame["platform"]).str.lower()
    out["currency"] = _text(frame["currency"]).str.upper()
    date, bad = _timestamp(frame["date"])
    out["date"] = date.dt.normalize()
    out["spend"], failed = _number(frame["spend"])
    bad |= failed
    for c in ("impressions", "clicks"):
        value, failed = _number(frame[c])
        bad |= failed | (value < 0) | (value.notna() & (value.round() != value))
    ok = (
        ~bad
        & out.date.notna()
        & out.platform.notna()
        & out.campaign_id.notna()
        & out.spend.notna()
        & (out.spend >= 0)
        & out.currency.str.match(CURRENCY, na=False)
    )
    out["source_file"], out["file_mtime"] = frame["source_file"], frame["file_mtime"]
    out["source_row"] = frame["source_row"].astype("int64")
    return _dedupe(out[ok], ["date", "platform", "campaign_id"], ["date"])


# ------------------------------------------------------------------ channels


def _utm(s: pd.Series) -> pd.Series:
    """Lower-case, trimmed, URL-decoded ('+' is a space); placeholders and empty text are missing."""

    def one(v):
        if not isinstance(v, str):
            return None
        v = unquote(v.replace("+", " ")).lower().strip()
        return None if v == "" or v in PLACEHOLDERS else v

    uniques = s.dropna().unique()
    return s.map(dict(zip(uniques, [one(v) for v in uniques], strict=False)))


def _referrer_host(s: pd.Series) -> pd.Series:
    host = s.str.strip().str.lower().str.extract(r"^(?:[a-z][a-z0-9+.-]*://)?([^/?#:@]+)", expand=False)
    host = host.str.replace(r"^www\.", "", regex=True)
    return host.mask(host == "")


def _click_id_type(s: pd.Series) -> pd.Series:
    t = s.str.strip()
    name = t.str.split("=", n=1).str[0].str.lstrip("?&").str.strip().str.lower()
    out = pd.Series(
        np.where(t.str.contains("=", regex=False, na=False), name.where(name != "", "unknown"), "unknown"),
        index=s.index,
    )
    return out.where(t.notna() & (t != ""), None)


def channel_of(frame: pd.DataFrame, config: Config) -> pd.Series:
    """Channel per row by the configured ordered rules, matched once per distinct combination."""
    keys = ["source", "medium", "campaign", "referrer_host", "click_id_type", "platform"]
    combos = frame[keys].drop_duplicates()

    def match(row) -> str:
        for rule in sorted(config.channel_rules, key=lambda r: r.priority):
            fields = {
                "source": rule.source,
                "medium": rule.medium,
                "campaign": rule.campaign,
                "referrer_host": rule.referrer,
                "click_id_type": rule.click_id,
                "platform": rule.platform,
            }
            if all(p is None or (isinstance(row[k], str) and re.search(p, row[k])) for k, p in fields.items()):
                return rule.channel
        if all(not isinstance(row[k], str) for k in ("source", "medium", "referrer_host", "click_id_type", "platform")):
            return "direct"
        return "other"

    combos = combos.assign(channel=[match(r) for r in combos.to_dict("records")])
    return frame[keys].merge(combos, on=keys, how="left")["channel"].set_axis(frame.index)


def _normalise_utm(frame: pd.DataFrame, config: Config) -> pd.DataFrame:
    source = _utm(frame["utm_source"])
    frame["source"] = source.map(lambda v: config.source_aliases.get(v, v) if isinstance(v, str) else None)
    frame["medium"] = _utm(frame["utm_medium"])
    frame["campaign"] = _utm(frame["utm_campaign"])
    for c in ("content", "term"):
        if f"utm_{c}" in frame:
            frame[c] = _utm(frame[f"utm_{c}"])
    return frame


# ------------------------------------------------------------------ the headline tables


def _asof_rate(frame: pd.DataFrame, day: str, fx: pd.DataFrame, reporting: str) -> pd.Series:
    """Latest rate on or before the row's date; 1 for the reporting currency."""
    left = frame[[day, "currency"]].assign(
        _i=np.arange(len(frame)), _d=frame[day].dt.normalize().astype("datetime64[us]")
    )
    has = left["_d"].notna()
    merged = pd.merge_asof(
        left[has].sort_values("_d"),
        fx.rename(columns={"date": "_d"}).astype({"_d": "datetime64[us]"}).sort_values("_d"),
        on="_d",
        by="currency",
        direction="backward",
    )
    rate = pd.Series(np.nan, index=range(len(frame)))
    rate[merged["_i"].to_numpy()] = merged["rate"].to_numpy()
    rate = pd.Series(rate.to_numpy(), index=frame.index)
    return rate.where(frame["currency"] != reporting, 1.0)


def resolve_identities(
    customers: pd.DataFrame, orders: pd.DataFrame, touches: pd.DataFrame, max_links: int
) -> pd.Series:
    """identifier ('crm:<id>', 'email:..', 'phone:..', 'visitor:..') -> its component's smallest identifier.
    Identifiers seen on a record with more than `max_links` distinct e-mails or CRM ids link nothing."""
    records = pd.concat(
        [
            orders[["customer_id", "email", "phone", "visitor_id"]],
            customers[["customer_id", "email", "phone"]].assign(visitor_id=None),
            touches.loc[touches["customer_id"].notna(), ["customer_id", "visitor_id"]].assign(email=None, phone=None),
        ],
        ignore_index=True,
    )
    parts = []
    for kind, column in (("crm", "customer_id"), ("email", "email"), ("phone", "phone"), ("visitor", "visitor_id")):
        values = records[column].dropna().astype(str)
        parts.append(pd.DataFrame({"record": values.index, "kind": kind, "node": kind + ":" + values}))
    links = pd.concat(parts, ignore_index=True)
    pairs = links.merge(links[links["kind"].isin(["email", "crm"])], on="record")
    pairs = pairs[pairs["node_x"] != pairs["node_y"]]
    seen = pairs.groupby(["node_x", "kind_y"])["node_y"].nunique()
    common = set(seen[seen > max_links].index.get_level_values(0))
    links = links[~links["node"].isin(common)].copy()
    links["hub"] = links.groupby("record")["node"].transform("min")
    edges = pd.concat(
        [links[["node", "hub"]].set_axis(["a", "b"], axis=1), links[["hub", "node"]].set_axis(["a", "b"], axis=1)]
    ).drop_duplicates()
    label = links.groupby("node")["hub"].min()
    while True:  # plain minimum-label propagation, until no label changes
        proposed = edges["b"].map(label).groupby(edges["a"].values).min()
        new = pd.concat([label, proposed]).groupby(level=0).min().reindex(label.index)
        if new.equals(label):
            return label
        label = new


def compute(raw_dir: Path, config: Config | None = None) -> dict:
    config = config or load_config()
    timings = {}
    t = time.perf_counter()
    fx = clean_fx(load_source(raw_dir, "fx_rates"))
    customers = clean_customers(load_source(raw_dir, "customers"))
    orders = clean_orders(load_source(raw_dir, "orders"))
    touches = clean_touchpoints(load_source(raw_dir, "touchpoints"))
    spend = clean_ad_spend(load_source(raw_dir, "ad_spend"))
    timings["read_and_clean"] = time.perf_counter() - t
    t = time.perf_counter()

    # identity: a customer is a connected component of the identifiers records share (docs/metrics.md)
    key_of = resolve_identities(customers, orders, touches, config.identity_max_links)
    orders["customer_key"] = (
        ("crm:" + orders["customer_id"])
        .map(key_of)
        .fillna(("email:" + orders["email"]).map(key_of))
        .fillna(("phone:" + orders["phone"]).map(key_of))
        .fillna(("visitor:" + orders["visitor_id"]).map(key_of))
        .fillna("order:" + orders["order_id"])
    )

    reporting = config.reporting_currency
    orders["rate"] = _asof_rate(orders, "created_at", fx, reporting)
    refund = orders["refunded_amount"].fillna(0)
    orders["refunded_at"] = orders["refunded_at"].where(refund <= 0, orders["refunded_at"].fillna(orders["created_at"]))
    orders["refunded_at"] = orders["refunded_at"].where(refund > 0)
    orders["refund_rate"] = _asof_rate(orders, "refunded_at", fx, reporting)
    orders["valid"] = orders["status"].isin(["paid", "completed"]) & ~((refund > 0) & (refund >= orders["revenue"]))
    orders["revenue_rep"] = orders["revenue"] * orders["rate"]
    orders["margin"] = (orders["revenue"] - orders["cost_of_goods"]) * orders["rate"]
    orders["margin"] = orders["margin"].fillna(orders["revenue_rep"] * config.default_margin_rate)
    orders["refund_rep"] = np.where(refund > 0, refund * orders["refund_rate"], 0.0)
    orders["refund_margin"] = np.where(
        orders["revenue_rep"] > 0, orders["refund_rep"] * orders["margin"] / orders["revenue_rep"], 0.0
    )
    orders = _normalise_utm(orders, config)
    orders["referrer_host"] = orders["click_id_type"] = orders["platform"] = None
    orders["channel"] = channel_of(orders, config)

    touches = _normalise_utm(touches, config)
    touches["referrer_host"] = _referrer_host(touches["referrer"])
    touches["click_id_type"] = _click_id_type(touches["click_id"])
    touches["platform"] = None
    touches["channel"] = channel_of(touches, config)
    touches["customer_key"] = (
        ("crm:" + touches["customer_id"]).map(key_of).fillna(("visitor:" + touches["visitor_id"]).map(key_of))
    )
    touches = touches.dropna(subset=["customer_key"])

    valid = orders[orders["valid"]].sort_values(["customer_key", "created_at", "order_id"])
    firsts = valid.drop_duplicates("customer_key")

    # last touch: the latest touch within the lookback before the first purchase; the order's own tags
    # are a touch at order time and come last among equal times; no touch at all -> unattributed
    window = firsts[["order_id", "customer_key", "created_at"]].merge(touches, on="customer_key")
    lookback = pd.Timedelta(days=config.lookback_days)
    window = window[(window["ts"] <= window["created_at"]) & (window["ts"] >= window["created_at"] - lookback)]
    cols = [
        "order_id",
        "ts",
        "origin",
        "channel",
        "source",
        "medium",
        "campaign",
        "content",
        "term",
        "referrer_host",
        "click_id_type",
    ]
    web = window.assign(origin=0)[cols]
    own = firsts[firsts[["source", "medium", "campaign"]].notna().any(axis=1)].assign(
        ts=lambda f: f["created_at"], origin=1, referrer_host=None, click_id_type=None
    )[cols]
    candidates = pd.concat([web, own], ignore_index=True).sort_values(cols, na_position="first")
    last = candidates.drop_duplicates("order_id", keep="last")[["order_id", "channel"]]
    firsts = firsts.merge(last, on="order_id", how="left", suffixes=("_order", ""))
    firsts["channel"] = firsts["channel"].fillna("unattributed")
    firsts["month"] = firsts["created_at"].dt.to_period("M").dt.start_time

    # as-of date: the latest date in orders and ad spend
    as_of = max(orders["created_at"].max().normalize(), spend["date"].max())

    spend["rate"] = _asof_rate(spend, "date", fx, reporting)
    spend["spend_rep"] = spend["spend"] * spend["rate"]
    spend = spend.rename(
        columns={"utm_source": "utm_source", "utm_medium": "utm_medium", "utm_campaign": "utm_campaign"}
    )
    spend = _normalise_utm(spend, config)
    spend["referrer_host"] = spend["click_id_type"] = None
    spend["channel"] = channel_of(spend, config)
    spend["month"] = spend["date"].dt.to_period("M").dt.start_time
    spend_m = spend.groupby(["month", "channel"])["spend_rep"].sum()
    new_m = firsts.groupby(["month", "channel"]).size()
    cac = pd.concat([spend_m.rename("ad_spend"), new_m.rename("new_customers")], axis=1).fillna(0).reset_index()
    cac["cac_paid"] = np.where(
        cac["new_customers"] > 0, cac["ad_spend"] / cac["new_customers"].where(cac["new_customers"] > 0), np.nan
    )

    # cohort LTV: margin of valid orders (refunds in their own month) by month index, per customer
    members = firsts[firsts["created_at"].dt.normalize() <= as_of][["customer_key", "month", "channel"]]
    o = valid[valid["created_at"].dt.normalize() <= as_of]
    order_part = pd.DataFrame(
        {
            "customer_key": o["customer_key"],
            "activity": o["created_at"].dt.to_period("M").dt.start_time,
            "margin": o["margin"],
        }
    )
    r = o[o["refunded_at"].notna() & (o["refunded_at"].dt.normalize() <= as_of)]
    refund_part = pd.DataFrame(
        {
            "customer_key": r["customer_key"],
            "activity": r["refunded_at"].dt.to_period("M").dt.start_time,
            "margin": -r["refund_margin"],
        }
    )
    activity = pd.concat([order_part, refund_part]).merge(members, on="customer_key")
    activity = activity[activity["activity"] >= activity["month"]]
    activity["k"] = (
        (activity["activity"].dt.year - activity["month"].dt.year) * 12
        + activity["activity"].dt.month
        - activity["month"].dt.month
    )
    size = members.groupby(["month", "channel"]).size().rename("customers")
    ltv = size.reset_index()
    as_of_month = as_of.to_period("M")
    for h in (3, 6, 12):
        margin_h = activity[activity["k"] < h].groupby(["month", "channel"])["margin"].sum().rename("m")
        ltv = ltv.merge(margin_h, on=["month", "channel"], how="left")
        complete = (ltv["month"].dt.to_period("M") + (h - 1)).dt.end_time.dt.normalize() <= as_of
        ltv[f"ltv_margin_{h}"] = (ltv["m"].fillna(0) / ltv["customers"]).where(complete)
        ltv = ltv.drop(columns="m")
    del as_of_month
    timings["compute"] = time.perf_counter() - t
    return {"cac": cac, "ltv": ltv, "as_of": as_of, "timings": timings}


def run_peer(raw_dir: Path) -> dict:
    t0 = time.perf_counter()
    result = compute(raw_dir)
    result["seconds"] = time.perf_counter() - t0
    return result


def main(argv: list[str]) -> int:
    """`python -m pipelines.devtools.bench.peer RAW_DIR OUT_DIR`: run the peer in its own process (so its
    memory is measured apart) and leave cac.parquet, ltv.parquet and peer.json in OUT_DIR."""
    import json

    raw_dir, out_dir = Path(argv[0]), Path(argv[1])
    out_dir.mkdir(parents=True, exist_ok=True)
    result = run_peer(raw_dir)
    result["cac"].to_parquet(out_dir / "cac.parquet")
    result["ltv"].to_parquet(out_dir / "ltv.parquet")
    (out_dir / "peer.json").write_text(
        json.dumps({"seconds": result["seconds"], "timings": result["timings"], "as_of": str(result["as_of"].date())})
    )
    return 0


if __name__ == "__main__":
    import sys

    sys.exit(main(sys.argv[1:]))
