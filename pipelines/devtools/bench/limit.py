"""The limit: how fast could it possibly be? DuckDB reads every raw file once, then one plain query
computes last-touch CAC per channel and month. No validation, no quarantine, no lineage, no dedup,
simplified identity and channel mapping: a floor for the pipeline, not a second implementation."""

from __future__ import annotations

import time
from pathlib import Path

import duckdb
import polars as pl

from pipelines.ingest.readers import detect_layout, read_export

# channel of a touch: a condensed version of acquisition.toml's rules (good enough for a cost floor)
CHANNEL_SQL = """
case
    when click_id like 'gclid=%' or click_id like 'gbraid=%' or click_id like 'wbraid=%' then 'google_ads'
    when click_id like 'yclid=%' then 'yandex_direct'
    when src in ('google', 'adwords') and med in ('cpc', 'ppc', 'paid', 'cpm', 'display') then 'google_ads'
    when src in ('yandex', 'ya', 'direct') and med in ('cpc', 'ppc', 'paid', 'cpm', 'display') then 'yandex_direct'
    when src in ('vk', 'vkontakte', 'mytarget') and med in ('cpc', 'ppc', 'paid', 'cpm', 'ads', 'paid_social') then 'vk_ads'
    when src in ('facebook', 'fb', 'instagram', 'ig', 'meta') then 'meta_ads'
    when src in ('tiktok') then 'tiktok_ads'
    when med in ('email', 'e-mail', 'newsletter') then 'email'
    when med = 'organic' then 'organic_search'
    when src is null and med is null then 'direct'
    else 'other'
end
"""


def _encoding(path: Path) -> str:
    head = path.read_bytes()[: 1 << 20] if path.stat().st_size < (1 << 20) else path.open("rb").read(1 << 20)
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        return "utf-16"
    try:
        head.decode("utf-8")
        return "utf-8"
    except UnicodeDecodeError as exc:
        return "utf-8" if exc.start > len(head) - 4 else "latin-1"  # a character cut at the 1 MB edge


def _csv(path: Path, **options) -> str:
    opts = {"all_varchar": "true", "header": "true", "null_padding": "true", "encoding": f"'{_encoding(path)}'"}
    opts |= {k: str(v) for k, v in options.items()}
    return f"read_csv('{path.as_posix()}', " + ", ".join(f"{k}={v}" for k, v in opts.items()) + ")"


NUM = "try_cast(replace(replace(replace({0}, chr(160), ''), ' ', ''), ',', '.') as double)"
TS = "coalesce(try_strptime({0}, '%Y-%m-%d %H:%M:%S'), try_strptime({0}, '%d.%m.%Y %H:%M:%S'), try_strptime({0}, '%Y-%m-%d'), try_strptime({0}, '%d.%m.%Y'))"
DATE = "(" + TS + ")::date"


def _spend_select(path: Path, con: duckdb.DuckDBPyConnection) -> str:
    """(date, platform, spend, currency) from one ad-spend export, whatever its layout. A workbook
    (DuckDB's excel extension is not installable offline) is read by polars' calamine engine and
    handed to DuckDB as a view."""
    layout = detect_layout(path, "ad_spend")
    if path.suffix.lower() == ".xlsx":
        view = f"xlsx_{abs(hash(path.as_posix()))}"
        con.register(view, pl.read_excel(path, engine="calamine", has_header=False, infer_schema_length=0).to_arrow())
        spend = "try_cast(column_6 as double)" if layout == "google_ads_ui" else None
        if spend is None:
            raise ValueError(f"{path}: no limit reader for layout {layout} as .xlsx")
        return (
            f"select try_strptime(left(column_0, 10), '%Y-%m-%d')::date as date, 'google_ads' as platform, "
            f"{spend} as spend, column_3 as currency from {view} where try_strptime(left(column_0, 10), '%Y-%m-%d') is not null"
        )
    if layout == "meta_ads_manager" and detect_layout_default_meta(path):
        return (
            f"select {DATE.format('#1')} as date, 'meta_ads' as platform, {NUM.format('#10')} as spend, 'USD' as currency "
            f"from {_csv(path)} where #2 is not null"
        )
    if layout == "canonical":
        return f"select {DATE.format('date')} as date, platform, {NUM.format('spend')} as spend, currency from {_csv(path)}"
    if layout == "google_ads_ui":
        return (
            f"select {DATE.format('#1')} as date, 'google_ads' as platform, {NUM.format('#7')} as spend, #4 as currency "
            f"from {_csv(path, skip=2, delim=chr(39) + chr(92) + 't' + chr(39))}"
        )
    if layout == "meta_ads_manager":
        return (
            f"select {DATE.format('#1')} as date, 'meta_ads' as platform, {NUM.format('#7')} as spend, 'USD' as currency "
            f"from {_csv(path)} where #4 is not null"
        )
    if layout == "yandex_direct_api":
        return (
            f"select {DATE.format('#1')} as date, 'yandex_direct' as platform, {NUM.format('#6')} / 1e6 as spend, "
            f"'RUB' as currency from {_csv(path, skip=1, delim=chr(39) + chr(92) + 't' + chr(39))}"
        )
    if layout == "vk_ads_stats":
        return (
            f"select {DATE.format('#1')} as date, 'vk_ads' as platform, {NUM.format('#6')} as spend, 'RUB' as currency "
            f"from {_csv(path, delim=chr(39) + ';' + chr(39))}"
        )
    raise ValueError(f"{path}: no limit reader for layout {layout}")


def _orders_from(path: Path, con: duckdb.DuckDBPyConnection) -> str:
    """What an orders file is read from: the CSV itself in our layout; a shop's or CRM's export (grouped
    line items, statuses, taxes; issue 28) through the project's reader, its canonical text handed to
    DuckDB as a view with local times cut to seconds (the limit does not repeat those rules)."""
    if detect_layout(path, "orders") == "canonical":
        return _csv(path)
    view = f"orders_{abs(hash(path.as_posix()))}"
    frame = read_export(path, "orders").frame.drop("source_row")
    con.register(view, frame.with_columns(pl.col("created_at", "refunded_at").str.slice(0, 19)).to_arrow())
    return view


# a GA4 export (Parquet) as the touch columns: the generator writes one session_start event a touch
GA4_SELECT = (
    "select user_pseudo_id as visitor_id, user_id as customer_id, make_timestamp(event_timestamp) as ts, "
    "collected_traffic_source.manual_source as utm_source, collected_traffic_source.manual_medium as utm_medium, "
    "collected_traffic_source.manual_campaign_name as utm_campaign, collected_traffic_source.manual_content as utm_content, "
    "collected_traffic_source.manual_term as utm_term, "
    "list_filter(event_params, lambda e: e.key = 'page_referrer')[1].value.string_value as referrer, "
    "coalesce('gclid=' || collected_traffic_source.gclid, nullif(regexp_extract("
    "list_filter(event_params, lambda e: e.key = 'page_location')[1].value.string_value, '[?&](.*)$', 1), '')) as click_id "
    "from read_parquet('{path}')"
)


def detect_layout_default_meta(path: Path) -> bool:
    """Meta's default columns (Day, Campaign name, …, Amount spent) rather than the id layout."""
    with path.open(encoding="utf-8-sig") as handle:
        return handle.readline().startswith("Day,Campaign name,")


def run_store_floor(files: dict[str, list[Path]], path: Path) -> dict:
    """Seconds for DuckDB alone to copy every raw file into a table of a database file (text columns,
    timestamps parsed; no validation, lineage or dedup): the floor of any pipeline that keeps its raw
    rows in a warehouse, which the limit (an in-memory read) is not. The file is removed afterwards."""
    for stale in path.parent.glob(path.name + "*"):
        stale.unlink()
    con = duckdb.connect(str(path))
    rows: dict[str, int] = {}
    per_source: dict[str, float] = {}
    started = time.perf_counter()
    for source, paths in files.items():
        t0 = time.perf_counter()
        if source == "ad_spend":  # the platform layouts need their own positions
            parts = [_spend_select(p, con) for p in paths]
        else:
            stamped = {"touchpoints": "ts", "orders": "created_at", "customers": "created_at"}.get(source)
            typed = f" replace ({TS.format(stamped)} as {stamped})" if stamped else ""
            parts = [
                f"select * from ({GA4_SELECT.format(path=p.as_posix())})"
                if p.suffix == ".parquet"
                else f"select *{typed} from {_orders_from(p, con) if source == 'orders' else _csv(p)}"
                for p in paths
            ]
        con.execute(f"create table {source} as " + " union all by name ".join(parts))
        con.execute("checkpoint")  # per source, so each source's floor includes its write
        per_source[source] = time.perf_counter() - t0
        rows[source] = con.execute(f"select count(*) from {source}").fetchall()[0][0]
    seconds = time.perf_counter() - started
    size = path.stat().st_size
    con.close()
    for written in path.parent.glob(path.name + "*"):
        written.unlink()
    return {"seconds": seconds, "seconds_per_source": per_source, "rows": rows, "file_bytes": size}


def run_limit(raw_dir: Path, files: dict[str, list[Path]], threads: int | None = None) -> dict:
    """Seconds to read all files (per source) and to run the CAC query, rows read, and the result."""
    con = duckdb.connect()
    if threads:
        con.execute(f"set threads = {int(threads)}")
    timings: dict[str, float] = {}
    rows: dict[str, int] = {}
    t_all = time.perf_counter()
    for source, paths in files.items():
        t0 = time.perf_counter()
        if source == "ad_spend":
            parts = [_spend_select(p, con) for p in paths]
        elif source == "touchpoints":
            parts = [
                f"select visitor_id, customer_id, ts, lower(trim(utm_source)) as src, lower(trim(utm_medium)) as med, "
                f"click_id from ({GA4_SELECT.format(path=p.as_posix())})"
                if p.suffix == ".parquet"
                else f"select visitor_id, customer_id, {TS.format('ts')} as ts, lower(trim(utm_source)) as src, "
                f"lower(trim(utm_medium)) as med, click_id from {_csv(p)}"
                for p in paths
            ]
        elif source == "orders":
            parts = [
                f"select order_id, customer_id, lower(trim(email)) as email, regexp_replace(phone, '[^0-9]', '', 'g') as phone, "
                f"visitor_id, {TS.format('created_at')} as created_at, lower(status) as status, "
                f"{NUM.format('revenue')} as revenue, {NUM.format('refunded_amount')} as refunded_amount, "
                f"upper(currency) as currency, lower(trim(utm_source)) as src, lower(trim(utm_medium)) as med "
                f"from {_orders_from(p, con)}"
                for p in paths
            ]
        elif source == "customers":
            parts = [f"select customer_id, lower(trim(email)) as email from {_csv(p)}" for p in paths]
        elif source == "fx_rates":
            parts = [
                f"select {DATE.format('date')} as date, upper(currency) as currency, {NUM.format('rate')} as rate "
                f"from {_csv(p)}"
                for p in paths
            ]
        else:  # costs: read once, not used by the CAC query
            parts = [f"select * from {_csv(p)}" for p in paths]
        con.execute(f"create table {source} as " + " union all by name ".join(parts))
        rows[source] = con.execute(f"select count(*) from {source}").fetchall()[0][0]
        timings[f"read:{source}"] = time.perf_counter() - t0
    read_seconds = time.perf_counter() - t_all
    t0 = time.perf_counter()
    result = con.execute(LIMIT_QUERY.format(channel=CHANNEL_SQL)).fetchall()
    query_seconds = time.perf_counter() - t0
    con.close()
    return {
        "seconds": read_seconds + query_seconds,
        "read_seconds": read_seconds,
        "query_seconds": query_seconds,
        "per_source_read_seconds": timings,
        "rows": rows,
        "cac_rows": len(result),
    }


LIMIT_QUERY = """
with fx as (select currency, date, rate from fx_rates where rate > 0),
crm as (select email, min(customer_id) as customer_id from customers where email is not null group by email),
valid as (
    select o.*, coalesce(o.customer_id, crm.customer_id, o.email, o.phone, o.visitor_id, o.order_id) as ck
    from orders o left join crm using (email)
    where o.status in ('paid', 'completed') and coalesce(o.refunded_amount, 0) < o.revenue and o.created_at is not null
),
firsts as (
    select ck, arg_min(order_id, (created_at, order_id)) as order_id, min(created_at) as ts,
           arg_min(src, (created_at, order_id)) as src, arg_min(med, (created_at, order_id)) as med
    from valid group by ck
),
visitor_ck as (select visitor_id, min(ck) as ck from valid where visitor_id is not null group by visitor_id),
touches as (
    select coalesce(t.customer_id, v.ck) as ck, t.ts, t.src, t.med, t.click_id
    from touchpoints t left join visitor_ck v using (visitor_id)
    where coalesce(t.customer_id, v.ck) is not null
),
candidates as (
    select f.order_id, f.ts as fp_ts, t.ts, 0 as is_order, t.src, t.med, t.click_id
    from firsts f join touches t on t.ck = f.ck and t.ts <= f.ts and t.ts >= f.ts - interval 60 day
    union all
    select order_id, ts, ts, 1, src, med, null from firsts where coalesce(src, med) is not null
),
last_touch as (
    select order_id, date_trunc('month', any_value(fp_ts))::date as month,
           {channel} as channel
    from (select order_id, fp_ts, arg_max(src, (ts, is_order)) as src, arg_max(med, (ts, is_order)) as med,
                 arg_max(click_id, (ts, is_order)) as click_id
          from candidates group by order_id, fp_ts)
    group by order_id, src, med, click_id
),
new_customers as (
    select month, channel, count(*) as n from last_touch group by all
),
spend as (
    select date_trunc('month', s.date)::date as month, s.platform as channel,
           sum(s.spend * case when s.currency = 'RUB' then 1.0 else fx.rate end) as spend
    from ad_spend s asof left join fx on fx.currency = s.currency and s.date >= fx.date
    where s.spend >= 0
    group by all
)
select month, channel, spend, n, spend / nullif(n, 0) as cac_paid
from spend full join new_customers using (month, channel)
order by month, channel
"""
