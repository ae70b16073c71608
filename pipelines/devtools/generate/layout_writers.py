"""Writers of the platform layouts, for the sample generator and the benchmark data: each writes
typed ad_spend rows the way that platform's tool does. The readers never use them; the reader tests
use fixtures written byte by byte instead (tests/fixtures/exports/make_fixtures.py)."""

from __future__ import annotations

import codecs
import re
from datetime import datetime
from pathlib import Path

import polars as pl

from pipelines.ingest.readers.values import date_column, format_number, number_column, parse_timestamp, text_frame
from schemas.inputs import COLUMNS

_KNOWN = {name for names in COLUMNS.values() for name in names}


def with_all_columns(frame: pl.DataFrame, source: str) -> pl.DataFrame:
    """The frame plus any canonical column it lacks, as nulls (writers accept partial frames)."""
    missing = [pl.lit(None, pl.String).alias(c) for c in COLUMNS[source] if c not in frame.columns]
    return frame.with_columns(missing)


def quote_field(expr: pl.Expr, specials: str) -> pl.Expr:
    """CSV-quote text containing a quote, line break or one of `specials`."""
    pattern = '["\r\n' + re.escape(specials) + "]"
    quoted = pl.lit('"') + expr.str.replace_all('"', '""', literal=True) + pl.lit('"')
    return pl.when(expr.str.contains(pattern)).then(quoted).otherwise(expr)


def write_lines(path: Path, lines: list[str], encoding: str, bom: bytes = b"", newline: str = "\n") -> None:
    """Join lines (few preamble lines plus the already-formatted data rows) and write them encoded."""
    Path(path).write_bytes(bom + (newline.join(lines) + newline).encode(encoding))


# ------------------------------------------------------------------------------------------ canonical
def write_canonical(
    frame: pl.DataFrame,
    path: Path,
    delimiter: str = ",",
    encoding: str = "utf-8",
    decimal_comma: bool = False,
    bom: bool = False,
    line_terminator: str = "\n",
) -> None:
    """Write the frame's canonical columns (any source; `source_row` and unknown columns dropped)."""
    columns = [c for c in frame.columns if c in _KNOWN]
    text = text_frame(frame.select(columns), decimal_comma).write_csv(
        separator=delimiter, line_terminator=line_terminator, quote_style="necessary"
    )
    data = text.encode(encoding)
    if bom:
        data = _bom(encoding) + data
    Path(path).write_bytes(data)


def _bom(encoding: str) -> bytes:
    name = codecs.lookup(encoding).name
    boms = {"utf-8": codecs.BOM_UTF8, "utf-16-le": codecs.BOM_UTF16_LE, "utf-16-be": codecs.BOM_UTF16_BE}
    if name not in boms:
        raise ValueError(f"no byte order mark for {encoding}")
    return boms[name]


# ------------------------------------------------------------------------------ Google Ads UI
def _google_rows(frame: pl.DataFrame) -> pl.DataFrame:
    """The columns a Google Ads campaign report shows, typed (both the CSV and the .xlsx download)."""
    frame = with_all_columns(frame, "ad_spend")
    return frame.select(
        date_column(frame, "date").alias("date"),
        pl.col("campaign_name").cast(pl.String).fill_null(""),
        pl.col("campaign_id").cast(pl.String),
        pl.col("currency").cast(pl.String),
        *(number_column(frame, c).fill_null(0).alias(c) for c in ("impressions", "clicks", "spend")),
    )


def write_google_ads(frame: pl.DataFrame, path: Path, title: str = "Campaign report") -> None:
    """Write ad_spend rows as the UI does: UTF-16 LE + BOM, CRLF, tabs, quoted thousands, ` --`, totals."""
    typed = _google_rows(frame)
    rows = typed.select(
        pl.concat_str(
            pl.col("date").dt.strftime("%Y-%m-%d"),
            quote_field(pl.col("campaign_name"), "\t"),
            pl.col("campaign_id"),
            pl.col("currency"),
            _count_text(pl.col("impressions")),
            _count_text(pl.col("clicks")),
            _money_text(pl.col("spend")),
            separator="\t",
        )
    ).to_series()
    sums = typed.select(
        _count_text(pl.col("impressions").sum()).alias("impressions"),
        _count_text(pl.col("clicks").sum()).alias("clicks"),
        _money_text(pl.col("spend").sum()).alias("spend"),
    ).row(0)
    start, end = typed["date"].min(), typed["date"].max()
    lines = [
        title,
        f"{start.day} {start:%B %Y} - {end.day} {end:%B %Y}" if start else "",
        "Day\tCampaign\tCampaign ID\tCurrency code\tImpressions\tClicks\tCost",
        *rows.to_list(),
        "Total: Campaigns\t\t\t\t" + "\t".join(sums),
    ]
    write_lines(path, lines, "utf-16-le", codecs.BOM_UTF16_LE, "\r\n")


def write_google_ads_xlsx(frame: pl.DataFrame, path: Path, title: str = "Campaign report") -> None:
    """The same report downloaded as .xlsx: real date and number cells, title lines, a Total row."""
    import xlsxwriter  # what polars' write_excel uses; only the generator writes workbooks

    typed = _google_rows(frame)
    workbook = xlsxwriter.Workbook(str(path))
    # a fixed creation time: same arguments, same bytes (the sample is committed)
    workbook.set_properties({"created": datetime(2024, 1, 1)})
    sheet = workbook.add_worksheet("Campaign report")
    day = workbook.add_format({"num_format": "yyyy-mm-dd"})
    start, end = typed["date"].min(), typed["date"].max()
    sheet.write_row(0, 0, [title])
    sheet.write_row(1, 0, [f"{start.day} {start:%B %Y} - {end.day} {end:%B %Y}" if start else ""])
    sheet.write_row(2, 0, ["Day", "Campaign", "Campaign ID", "Currency code", "Impr.", "Clicks", "Cost"])
    for i, (d, name, cid, cur, imp, clk, cost) in enumerate(typed.iter_rows(), start=3):
        sheet.write_datetime(i, 0, d, day)
        sheet.write_row(i, 1, [name, cid, cur, int(imp), int(clk), round(cost, 2)])
    last = typed.height + 3
    sheet.write_row(
        last,
        0,
        [
            "Total: Campaigns",
            "",
            "",
            "",
            int(typed["impressions"].sum()),
            int(typed["clicks"].sum()),
            round(typed["spend"].sum(), 2),
        ],
    )
    workbook.close()


def _quoted_if_grouped(text: pl.Expr) -> pl.Expr:
    return pl.when(text.str.contains(",", literal=True)).then('"' + text + '"').otherwise(text)


def _count_text(value: pl.Expr) -> pl.Expr:
    grouped = _quoted_if_grouped(format_number(value, 0, ","))
    return pl.when(value == 0).then(pl.lit(" --")).otherwise(grouped)


def _money_text(value: pl.Expr) -> pl.Expr:
    return _quoted_if_grouped(format_number(value, 2, ","))


# ------------------------------------------------------------------------------- Meta Ads Manager
META_HEADERS = {
    "en": (
        "Reporting starts",
        "Reporting ends",
        "Campaign name",
        "Campaign ID",
        "Impressions",
        "Link clicks",
        "Amount spent ({})",
    ),
    "ru": (
        "Начало отчетности",
        "Конец отчетности",
        "Название кампании",
        "ID кампании",
        "Показы",
        "Клики по ссылке",
        "Потраченная сумма ({})",
    ),
}
# Ads Manager's default columns of the Campaigns tab (no campaign id), with the Day breakdown added
META_DEFAULT = {
    "en": (
        "Day",
        "Campaign name",
        "Campaign delivery",
        "Attribution setting",
        "Results",
        "Result indicator",
        "Reach",
        "Impressions",
        "Cost per results",
        "Amount spent ({})",
        "Ends",
        "Reporting starts",
        "Reporting ends",
    ),
    "ru": (
        "День",
        "Название кампании",
        "Показ кампании",
        "Настройка атрибуции",
        "Результаты",
        "Индикатор результатов",
        "Охват",
        "Показы",
        "Цена за результат",
        "Потраченная сумма ({})",
        "Окончание",
        "Начало отчетности",
        "Конец отчетности",
    ),
}


def write_meta_default(frame: pl.DataFrame, path: Path, language: str = "en") -> None:
    """Ads Manager's default export: no campaign id, no clicks, results and reach beside spend."""
    frame = with_all_columns(frame, "ad_spend")
    (currency,) = frame["currency"].unique().to_list()
    header = [h.format(currency) for h in META_DEFAULT[language]]
    date = date_column(frame, "date").dt.strftime("%Y-%m-%d")
    spend = number_column(frame, "spend").fill_null(0)
    clicks = number_column(frame, "clicks").fill_null(0)
    impressions = number_column(frame, "impressions").fill_null(0)
    results = (clicks // 20).cast(pl.Int64)
    rows = frame.select(
        pl.concat_str(
            date,
            quote_field(pl.col("campaign_name").cast(pl.String), ","),
            pl.lit("active" if language == "en" else "активна"),
            pl.lit("7-day click or 1-day view"),
            pl.when(results > 0).then(results.cast(pl.String)).otherwise(pl.lit("")),
            pl.lit("actions:link_click"),
            format_number((impressions * 0.8).floor(), 0),
            format_number(impressions, 0),
            format_number(spend / pl.when(results > 0).then(results), 6).fill_null(""),
            format_number(spend, 2),
            pl.lit("ongoing" if language == "en" else "постоянно"),
            date,
            date,
            separator=",",
        )
    ).to_series()
    write_lines(path, [",".join(header), *rows.to_list()], "utf-8", codecs.BOM_UTF8)


def write_meta_ads(frame: pl.DataFrame, path: Path, language: str = "en") -> None:
    """Write ad_spend rows of one currency as Ads Manager does (BOM, comma, empty zero clicks, totals)."""
    frame = with_all_columns(frame, "ad_spend")
    currencies = frame["currency"].unique().to_list()
    if len(currencies) != 1:
        raise ValueError(f"a Meta export has one currency, got {currencies}")
    header = [*META_HEADERS[language][:-1], META_HEADERS[language][-1].format(currencies[0])]
    date = date_column(frame, "date").dt.strftime("%Y-%m-%d")
    typed = frame.select(
        date.alias("date"),
        pl.col("campaign_name").cast(pl.String).fill_null(""),
        pl.col("campaign_id").cast(pl.String),
        *(number_column(frame, c).fill_null(0).alias(c) for c in ("impressions", "clicks", "spend")),
    )
    rows = typed.select(
        pl.concat_str(
            pl.col("date"),
            pl.col("date"),
            quote_field(pl.col("campaign_name"), ","),
            pl.col("campaign_id"),
            format_number(pl.col("impressions"), 0),
            pl.when(pl.col("clicks") == 0).then(pl.lit("")).otherwise(format_number(pl.col("clicks"), 0)),
            format_number(pl.col("spend"), 2),
            separator=",",
        )
    ).to_series()
    totals = typed.select(
        pl.col("date").min(),
        pl.col("date").max().alias("end"),
        format_number(pl.col("impressions").sum(), 0).alias("impressions"),
        format_number(pl.col("clicks").sum(), 0).alias("clicks"),
        format_number(pl.col("spend").sum(), 2).alias("spend"),
    ).row(0)
    start, end, impressions, clicks, spend = (t or "" for t in totals)
    # Ads Manager puts the summary row (no campaign) right under the header
    totals_line = ",".join([start, end, "", "", impressions, clicks, spend])
    lines = [",".join(header), totals_line, *rows.to_list()]
    write_lines(path, lines, "utf-8", codecs.BOM_UTF8)


# ------------------------------------------------------------------------- Yandex Direct API
RUB = "RUB"


def write_yandex_direct(
    frame: pl.DataFrame, path: Path, report_name: str = "Campaign performance", money_in_micros: bool = True
) -> None:
    """Write ad_spend rows as the Reports API returns them (UTF-8, tabs, micros, `--` for 0, summary)."""
    frame = with_all_columns(frame, "ad_spend")
    with_currency = frame["currency"].drop_nulls().unique().to_list() != [RUB]
    spend = number_column(frame, "spend").fill_null(0)
    columns = [
        date_column(frame, "date").dt.strftime("%Y-%m-%d"),
        pl.col("campaign_id").cast(pl.String),
        quote_field(pl.col("campaign_name").cast(pl.String).fill_null(""), "\t"),
        *(_yandex_count_text(number_column(frame, c)) for c in ("impressions", "clicks")),
        format_number(spend * 1_000_000, 0) if money_in_micros else format_number(spend, 2),
    ]
    header = ["Date", "CampaignId", "CampaignName", "Impressions", "Clicks", "Cost"]
    if with_currency:
        columns.append(pl.col("currency").cast(pl.String))
        header.append("Currency")
    rows = frame.select(pl.concat_str(columns, separator="\t")).to_series()
    lines = [report_name, "\t".join(header), *rows.to_list(), f"Total rows: {frame.height}"]
    write_lines(path, lines, "utf-8")


def _yandex_count_text(value: pl.Expr) -> pl.Expr:
    value = value.fill_null(0)
    return pl.when(value == 0).then(pl.lit("--")).otherwise(format_number(value, 0))


# ------------------------------------------------------------------------------------ VK Ads
VK_HEADERS = {
    "ru": ("Дата", "ID кампании", "Кампания", "Показы", "Клики", "Потрачено, {}"),
    "en": ("Date", "Campaign ID", "Campaign", "Impressions", "Clicks", "Spent, {}"),
}
RUB = "RUB"


def write_vk_ads(frame: pl.DataFrame, path: Path, language: str = "ru", encoding: str = "cp1251") -> None:
    """Write RUB ad_spend rows as VK Ads does: `;`, CRLF, dd.mm.yyyy, NBSP thousands, decimal comma, Итого."""
    frame = with_all_columns(frame, "ad_spend")
    if frame["currency"].drop_nulls().unique().to_list() not in ([], [RUB]):
        raise ValueError("VK Ads statistics are written in RUB only")
    header = list(VK_HEADERS[language])
    header[-1] = header[-1].format("₽" if _encodes("₽", encoding) else "руб.")
    typed = frame.select(
        date_column(frame, "date").dt.strftime("%d.%m.%Y").alias("date"),
        pl.col("campaign_id").cast(pl.String),
        pl.col("campaign_name").cast(pl.String).fill_null(""),
        *(number_column(frame, c).fill_null(0).alias(c) for c in ("impressions", "clicks", "spend")),
    )
    rows = typed.select(
        pl.concat_str(
            pl.col("date"),
            pl.col("campaign_id"),
            quote_field(pl.col("campaign_name"), ";"),
            _grouped(pl.col("impressions"), 0),
            _grouped(pl.col("clicks"), 0),
            _grouped(pl.col("spend"), 2),
            separator=";",
        )
    ).to_series()
    sums = typed.select(
        _grouped(pl.col(c).sum(), 2 if c == "spend" else 0) for c in ("impressions", "clicks", "spend")
    ).row(0)
    total_word = "Итого" if language == "ru" else "Total"
    lines = [";".join(header), *rows.to_list(), ";".join([total_word, "", "", *sums])]
    write_lines(path, lines, encoding, newline="\r\n")


def _grouped(value: pl.Expr, decimals: int) -> pl.Expr:
    return format_number(value, decimals, thousands="\u00a0", decimal_sep=",")


def _encodes(text: str, encoding: str) -> bool:
    try:
        text.encode(encoding)
        return True
    except UnicodeEncodeError:
        return False


# -------------------------------------------------------------------------- GA4 BigQuery export
GA4_CTS = (
    "manual_campaign_id",
    "manual_campaign_name",
    "manual_source",
    "manual_medium",
    "manual_term",
    "manual_content",
    "manual_source_platform",
    "manual_creative_format",
    "manual_marketing_tactic",
    "gclid",
    "dclid",
    "srsltid",
)


GA4_PROPERTY_ZONE = "Europe/Moscow"  # the sample business's time zone (acquisition.toml [schedule] timezone)


def write_ga4_parquet(touches: pl.DataFrame, path: Path, site: str = "https://shop.example/") -> None:
    """Canonical touchpoint text as a GA4 BigQuery export table (events_*) in Parquet: one session a
    touch, its session_start event carrying the UTM tags in collected_traffic_source, a gclid there
    too, other click ids in the page URL, the referrer in page_referrer, the customer id as user_id.
    DuckDB builds the nested records and streams the file (polars' nested columns cost ~4 GB per
    million rows here)."""
    import duckdb

    # the simulated times are the business's local time (Moscow); GA4's event_timestamp is UTC and its
    # event_date the property's local day, as BigQuery exports them
    local = parse_timestamp(pl.col("ts"))
    typed = touches.with_columns(
        local.dt.replace_time_zone(GA4_PROPERTY_ZONE)
        .dt.convert_time_zone("UTC")
        .dt.epoch("us")
        .alias("event_timestamp"),
        local.dt.strftime("%Y%m%d").alias("event_date"),
    )
    value = "struct_pack(string_value := {s}::varchar, int_value := {i}::bigint, float_value := null::double, double_value := null::double)"
    cts = ", ".join(
        f"{name} := null::varchar"
        for name in GA4_CTS
        if name
        not in ("manual_campaign_name", "manual_source", "manual_medium", "manual_term", "manual_content", "gclid")
    )
    con = duckdb.connect()
    try:
        con.register("touches", typed.to_arrow())
        con.execute(
            f"""
            copy (
                select
                    event_date,
                    event_timestamp,
                    'session_start' as event_name,
                    [
                        struct_pack(key := 'ga_session_id', value := {value.format(s="null", i="1700000000 + n")}),
                        struct_pack(key := 'page_location', value := {value.format(s="$site || coalesce('?' || other_click, '')", i="null")}),
                        struct_pack(key := 'page_referrer', value := {value.format(s="referrer", i="null")})
                    ] as event_params,
                    customer_id as user_id,
                    visitor_id as user_pseudo_id,
                    struct_pack(
                        manual_campaign_name := utm_campaign, manual_source := utm_source, manual_medium := utm_medium,
                        manual_term := utm_term, manual_content := utm_content,
                        gclid := case when click_id like 'gclid=%' then click_id[7:] end, {cts}
                    ) as collected_traffic_source,
                    'WEB' as platform
                from (
                    select *, row_number() over () - 1 as n,
                           case when click_id not like 'gclid=%' then click_id end as other_click
                    from touches
                )
                order by n
            ) to '{path.as_posix()}' (format parquet)
            """,
            {"site": site},
        )
    finally:
        con.close()
