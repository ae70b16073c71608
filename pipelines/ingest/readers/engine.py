"""The one reader: find the header of any declared layout in a file, map it, shape canonical columns.

    match = identify(sheet, source)        # which layout, language, header line, columns
    result = read(path, source, options)   # ReadResult with canonical text columns

Detection scores every declared layout (and the canonical columns) on each of the first lines: a
layout fits a line when all its required columns are found there; the fitting layout that names
the most header cells wins (declaration order breaks ties). A file no layout fits gets an error
naming the header it has and, for the closest layouts, which required columns are missing.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from schemas.inputs import NUMERIC

from . import records
from .base import EXTRA, ROW, ExportError, ReadResult, blank, finish
from .layout import (
    CANONICAL,
    Layout,
    canonical_layout,
    currency_marks,
    header_key,
    platform_layouts,
    query_layout_for,
    shared_currency_marks,
)
from .query import read_query
from .sheet import Sheet, open_sheet, other_sheets
from .text import cut_last_line, header_names
from .values import excel_serial_date, normalise_date, normalise_number

MICROS = 1_000_000
DATE_LIKE = re.compile(r"^\d{1,4}[-./]\d{1,2}[-./]\d{1,4}$")
# In micros every amount is a whole multiple of 10 000: the API returns amounts to the kopeck/cent.
MICROS_STEP = 10_000


@dataclass
class Match:
    layout: Layout
    language: str
    header_index: int
    cells: list[str]
    columns: dict[str, int]  # canonical column -> cell index
    currency_mark: str | None  # from a `{currency}` label
    named: int  # header cells the layout knows (read or ignored)
    missing: list[tuple[str, ...]] = field(default_factory=list)  # required groups not found

    @property
    def fits(self) -> bool:
        return not self.missing


def _match_line(layout: Layout, language: str, cells: list[str], index: int, options: Mapping) -> Match:
    keys = [header_key(c) for c in cells]
    used: set[int] = set()
    columns: dict[str, int] = {}
    mark = None
    named = 0
    for label in layout.labels[language]:
        if label.column and label.column in columns:
            continue
        for i, key in enumerate(keys):
            if i in used:
                continue
            hit, found_mark = label.match(key)
            if hit:
                used.add(i)
                named += 1
                if label.column:
                    columns[label.column] = i
                    if label.column in ("spend", "revenue") and found_mark:  # `Amount spent (USD)`, `Бюджет ₽`
                        mark = found_mark
                break
    match = Match(layout, language, index, cells, columns, mark, named)
    match.missing = [group for group in layout.required if not any(_has(match, c, options) for c in group)]
    return match


def _has(match: Match, column: str, options: Mapping) -> bool:
    if column in match.columns:
        return True
    if column != "currency":
        return False
    for way in match.layout.currency:
        if (way == "header" and match.currency_mark) or (way == "option" and options.get("currency")):
            return True
        if way not in ("column", "header", "option"):  # a literal default, e.g. "RUB"
            return True
    return False


def candidates(sheet: Sheet, source: str, options: Mapping) -> list[Match]:
    """Every layout of the source matched against each of its header lines, best first."""
    layouts = [lay for lay in platform_layouts().values() if source in lay.sources] + [canonical_layout(source)]
    found = []
    for order, layout in enumerate(layouts):
        for index, cells in enumerate(sheet.head[: layout.header_within]):
            if not any(cells):
                continue
            lines = [(cells, index)]
            grouped = _grouped_header(cells, sheet.head[index + 1] if index + 1 < len(sheet.head) else [])
            if grouped is not None:  # a two-row header: the sub-header row is the header line, data follows it
                lines.append((grouped, index + 1))
            for line, at in lines:
                for language in layout.labels:
                    match = _match_line(layout, language, line, at, options)
                    if match.named:
                        found.append((order, match))
    # fitting first, then most named cells, then the fewest missing, then declaration order and line
    found.sort(key=lambda om: (not om[1].fits, -om[1].named, len(om[1].missing), om[0], om[1].header_index))
    return [m for _, m in found]


def _grouped_header(cells: list[str], below: list[str]) -> list[str] | None:
    """A header over two rows, as a sheet with a merged group cell writes it (`UTM` over `source`,
    `medium`, ...: the merged cell's text sits in its first column, the rest of its row is empty): one
    line of "<group> <sub>" names, e.g. `UTM source`, that the layouts' labels match. None unless the row
    below names columns the header row leaves empty, and holds only text (a data row holds values)."""
    width = max(len(cells), len(below))
    top = [*cells, *[""] * (width - len(cells))]
    sub = [*below, *[""] * (width - len(below))]
    if not any(s and not t for t, s in zip(top, sub, strict=True)):
        return None
    if any(s and (any(c.isdigit() for c in s) or len(s) > 60) for s in sub):
        return None
    names, group = [], ""
    for t_cell, s_cell in zip(top, sub, strict=True):
        if t_cell:
            group = t_cell if s_cell else ""  # a group starts where its own column has a sub-header
        if t_cell and not s_cell:
            names.append(t_cell)
        elif s_cell:
            names.append(f"{group} {s_cell}".strip() if not t_cell or t_cell == group else s_cell)
        else:
            names.append("")
    return names


def identify(path: Path, source: str, options: Mapping | None = None) -> tuple[Sheet, Match]:
    """The sheet and the layout match a file is read with; ExportError when nothing fits."""
    options = options or {}
    sheet = open_sheet(path, options.get("encoding"))
    tried = []
    for candidate_sheet in [sheet, *other_sheets(sheet)]:
        found = candidates(candidate_sheet, source, options)
        if found and found[0].fits:
            _unambiguous(path, found)
            return candidate_sheet, found[0]
        tried += found
    no_currency = _lacks_only_currency(tried)
    if no_currency is not None:
        raise ExportError(path, no_currency.header_index + 1, _currency_message(no_currency, source))
    for other in {lay.sources for lay in platform_layouts().values()} - {frozenset([source])}:
        (other_source,) = other
        found = candidates(sheet, other_source, options)
        if found and found[0].fits and found[0].layout.name != CANONICAL:
            raise ExportError(
                path, found[0].header_index + 1, f"layout {found[0].layout.name} holds {other_source}, not {source}"
            )
    raise ExportError(path, 1, unrecognised(sheet, source, tried))


def _lacks_only_currency(tried: list[Match]) -> Match | None:
    """A header every required column of a layout fits but its currency, where the settings may name
    it (Google Ads, Microsoft): the layout is recognised, the file just names no currency."""
    fits = [
        m
        for m in tried
        if m.missing == [("currency",)] and m.layout.name != CANONICAL and "option" in m.layout.currency
    ]
    return max(fits, key=lambda m: m.named) if fits else None


def _currency_message(match: Match, source: str) -> str:
    label = match.layout.label_of("currency", match.language)
    return (
        f"recognised as {match.layout.name} ({match.language} interface), but the file names no currency: "
        f"add the {label!r} column to the report, or set the account currency in the settings: "
        f'[sources.{source}] currency = "RUB" (the three-letter code of the account)'
    )


def _unambiguous(path: Path, found: list[Match]) -> None:
    """Two platforms whose labels fit one header equally well: the rows' platform (and so their
    channel) would be a coin toss, so the file is refused instead."""
    best = found[0]
    for other in found[1:]:
        if not other.fits or other.named < best.named:
            return
        if other.layout.platform != best.layout.platform:
            raise ExportError(
                path,
                best.header_index + 1,
                (
                    f"the header {best.cells} fits both {best.layout.name} and {other.layout.name} equally: "
                    "add a column that tells them apart (e.g. the campaign id) or put the file in a folder of its own"
                ),
            )


def unrecognised(sheet: Sheet, source: str, tried: list[Match]) -> str:
    header = next((cells for cells in sheet.head if any(cells)), [])
    closest, seen = [], set()
    for match in sorted(tried, key=lambda m: (len(m.missing), -m.named)):
        if match.layout.name in seen:
            continue
        seen.add(match.layout.name)
        missing = ", ".join(" or ".join(match.layout.label_of(c, match.language) for c in g) for g in match.missing)
        where = f" (line {match.header_index + 1})" if match.header_index else ""
        closest.append(f"{match.layout.name}{where} lacks {missing}")
        if len(closest) == 3:
            break
    canonical = canonical_layout(source)
    expected = f"canonical {source} columns (required: {', '.join(c for (c,) in canonical.required)})"
    message = f"unrecognised layout; header found: {header}; "
    if header and DATE_LIKE.match(header[0]):
        message += "the first line holds data, not column names: export with the column header; "
    if closest:
        return message + f"closest layouts: {' | '.join(closest)}; or {expected}"
    return message + f"expected {expected} or one of the layouts in pipelines/ingest/readers/layouts.toml"


# ------------------------------------------------------------------------------------------- read


def read(path: Path, source: str, options: Mapping | None = None) -> ReadResult:
    """Read one export file. options: `currency` (the account currency, for layouts that may take
    it from the settings), `yandex_money_in_micros` (True / False; absent = told apart per file),
    `encoding` (overrides detection for text files), `timezone` (of local timestamps),
    `reporting_timezone` (the business's: timestamps are given in its local time; absent: UTC)."""
    options = options or {}
    query = query_layout_for(path)
    if query is not None:
        return read_query(path, source, query, options.get("reporting_timezone") or "UTC")
    sheet, match = identify(path, source, options)
    layout = match.layout
    if records.refused(layout):
        raise ExportError(path, match.header_index + 1, f"recognised as {layout.name}: {records.refused(layout)}")
    names = header_names(match.cells)
    # a shop's export is wide (Shopify's orders: 79 columns, a dozen read): only the declared columns are
    # parsed, and a line is blank when they are (a line with values in other columns only has no order)
    read = [names[i] for i in sorted(set(match.columns.values()))] if layout.records else names
    raw, encoding = sheet.body(match.header_index, names, read)
    ragged = _ragged_lines(raw, match.header_index)
    raw = raw.drop(EXTRA, strict=False)
    col = {column: pl.col(names[i]) for column, i in match.columns.items()}
    notes = []
    if sheet.kind == "text" and sheet.text.how.startswith(("guessed", "set")):
        notes.append(f"encoding {sheet.text.how}")
    if sheet.sheet_name:
        notes.append(f"sheet {sheet.sheet_name!r}")

    comma = layout.decimal_comma.get(match.language)
    if layout.name == CANONICAL and sheet.kind == "text" and sheet.delimiters[match.header_index] == ";":
        comma = True  # `;` files are written where the comma is the decimal mark
    if sheet.kind == "xlsx":
        comma = None  # number cells arrive as `1234.5`; text cells may still be written either way

    def number(expr: pl.Expr) -> pl.Expr:
        if layout.zero:
            expr = pl.when(expr.is_in(list(layout.zero))).then(pl.lit("0")).otherwise(expr)
        value = normalise_number(expr, comma)
        return value.fill_null("0") if layout.empty_is_zero else value

    values: dict[str, pl.Expr] = {}
    for column, expr in col.items():
        if column.startswith("_"):
            continue
        if column in NUMERIC.get(source, ()):
            values[column] = number(expr)
        elif column in DATE_COLUMNS.get(source, ()) and layout.name != CANONICAL:
            values[column] = _date(expr, layout.date_order, sheet.kind)
        elif column in (*DATE_COLUMNS.get(source, ()), *TIME_COLUMNS.get(source, ())):
            # an Excel serial day (`45356`): from a workbook, or a CSV saved from one with the cells unformatted
            values[column] = pl.coalesce(excel_serial_date(expr), expr)
        else:
            values[column] = expr
    for column, rules in layout.derive.items():
        for rule in rules if isinstance(rules, list) else [rules]:
            if rule["from"] not in col:
                continue
            found = col[rule["from"]]  # e.g. another phone column, or utm_source from a landing page's URL
            if "extract" in rule:
                found = found.str.extract(rule["extract"], 1).str.replace_all("%20", " ")
            values[column] = pl.coalesce(values[column], found) if column in values else found
    if source in ("orders", "customers") and layout.name != CANONICAL:
        if source == "orders":
            values["currency"] = _currency(layout, match, col, options, path)
        suspects = records.apply(
            layout, source, col, values, raw, ~blank(read), match.header_index, options, number, notes
        )
    else:
        suspects = {}
    zone, local = options.get("timezone") or layout.time_zone, options.get("reporting_timezone") or "UTC"
    if zone and zone != local:
        for column in TIME_COLUMNS.get(source, ()):
            if column in values:
                values[column] = _to_zone(values[column], zone, local)
                notes.append(f"{column} converted from {zone} to {local}")
    if layout.platform:
        values["platform"] = pl.lit(layout.platform)
    keep = ~blank(read)
    if layout.summary:
        first = pl.coalesce(pl.col(n) for n in names).str.to_lowercase()
        keep &= ~pl.any_horizontal(first.str.contains(p.pattern) for p in layout.summary).fill_null(False)
    if layout.summary_if_empty:
        present = [col[c] for c in layout.summary_if_empty if c in col]
        if present:
            keep &= ~pl.all_horizontal(c.is_null() for c in present)
    if source == "ad_spend":
        _ad_spend(layout, match, values, col, raw, keep, options, notes, path)
    if layout.money != "micros_or_units":  # an API's amounts are bare numbers
        _unmark_money(source, values, col, raw, comma, notes)
    result = finish(
        layout.name, source, raw, keep, values, match.header_index, encoding, sheet.delimiters[match.header_index]
    )
    result.language = match.language or None
    if "_until" in col and "date" in values:
        _days_covered(
            raw,
            keep,
            values["date"],
            _date(col["_until"], layout.date_order, sheet.kind),
            match.header_index,
            result,
            notes,
        )
    notes += _lookalikes(layout, match)
    if sheet.kind == "text":
        cut = cut_last_line(sheet.text)
        if cut is not None and cut in set(result.frame["source_row"].tail(1).to_list()):
            result.suspects[cut] = (
                "the file ends inside this line (no line break, shorter than every line "
                "before it): cut off in the download or copy"
            )
            notes.append(f"line {cut} looks cut off")
    for row in ragged:
        result.suspects.setdefault(
            row,
            "more cells than the header: a value with an unquoted separator shifts the ones after it, so "
            "none of them can be trusted (quote the value, or check the export's separator)",
        )
    if ragged:
        notes.append(f"{len(ragged)} line(s) with more cells than the header: quarantined")
    for row, reason in suspects.items():
        result.suspects.setdefault(row, reason)
    result.notes = notes
    records.group_line_items(layout, result)
    return result


def _ragged_lines(raw: pl.DataFrame, header_index: int) -> list[int]:
    """The file lines (1-based) that carry a non-empty cell past the header's last column."""
    if EXTRA not in raw.columns:
        return []
    extra = raw.filter(pl.col(EXTRA).str.strip_chars().str.len_bytes() > 0)
    return [int(r) + header_index + 2 for r in extra.get_column(ROW).to_list()]


def _days_covered(
    raw: pl.DataFrame, keep: pl.Expr, start: pl.Expr, until: pl.Expr, header_index: int, result: ReadResult, notes: list
) -> None:
    """Rows covering several days (Meta's `Reporting starts`..`Reporting ends` without the day breakdown)
    cannot be dated: each is quarantined (ingest's whole-line check), never put on its first day."""
    day = lambda e: e.str.strptime(pl.Date, "%Y-%m-%d", strict=False)  # noqa: E731 - both are ISO text here
    wide = raw.select(
        (pl.col(ROW).cast(pl.Int64) + header_index + 2).alias("row"),
        start.alias("start"),
        until.alias("until"),
        keep.alias("keep"),
    ).filter(pl.col("keep") & (day(pl.col("until")) > day(pl.col("start"))).fill_null(False))
    for row, first, last in wide.select("row", "start", "until").iter_rows():  # the rows of a report without days
        result.suspects[row] = (
            f"covers {first} to {last}, not one day: export the report with a day breakdown (Breakdown > By time > Day)"
        )
    if wide.height:
        notes.append(f"{wide.height} row(s) cover several days (no day breakdown): quarantined")


def _lookalikes(layout: Layout, match: Match) -> list[str]:
    """Header cells that read nothing but look like a column the layout knows (`UTM Sorce`,
    `cost_of_good`): said in the file's notes, so a typo never silently empties a column."""
    used = set(match.columns.values())
    known = {label.key: label.column for labels in layout.labels.values() for label in labels if label.column}
    found = []
    for i, cell in enumerate(match.cells):
        key = header_key(cell)
        if i in used or not key or key in known:
            continue
        close = difflib.get_close_matches(key, list(known), n=1, cutoff=0.85)
        if close and known[close[0]] not in match.columns:
            found.append(f"column {cell!r} is not read: did you mean {known[close[0]]}?")
    return found


DATE_COLUMNS = {"ad_spend": ("date",), "costs": ("period_start", "period_end"), "fx_rates": ("date",)}
TIME_COLUMNS = {"orders": ("created_at", "refunded_at"), "customers": ("created_at",), "touchpoints": ("ts",)}


def _to_zone(expr: pl.Expr, zone: str, target: str) -> pl.Expr:
    """`2024-03-05 14:03:00` in `zone` -> the same instant as naive text in `target` (the business's
    time zone, or UTC)."""
    local = expr.str.to_datetime("%Y-%m-%d %H:%M:%S", strict=False)
    moved = local.dt.replace_time_zone(zone, ambiguous="earliest", non_existent="null").dt.convert_time_zone(target)
    return pl.coalesce(moved.dt.replace_time_zone(None).dt.strftime("%Y-%m-%d %H:%M:%S"), expr)


def _date(expr: pl.Expr, order: str, kind: str) -> pl.Expr:
    if order == "mdy":  # 3/5/2024 is 5 March in a US interface
        expr = expr.str.replace(r"^(\d{1,2})/(\d{1,2})/(\d{4})", "$3-$1-$2")
    if kind == "xlsx":  # a date cell arrives as `2024-03-05 00:00:00`: its date, without the general parser
        cell = expr.str.strptime(pl.Datetime("us"), "%Y-%m-%d %H:%M:%S", strict=False).dt.strftime("%Y-%m-%d")
        expr = pl.coalesce(cell, excel_serial_date(expr), expr)
    else:  # a CSV saved from Excel with unformatted date cells carries the serial day (`45356`)
        expr = pl.coalesce(excel_serial_date(expr), expr)
    return normalise_date(expr)


def _ad_spend(layout, match, values, col, raw, keep, options, notes, path) -> None:
    """Campaign key, currency and money units: the parts of an ad report that vary by platform."""
    key = next((c for c in layout.key if c in col), None)
    if key and key != "campaign_id":
        # Meta exports no campaign id unless the column is added: the name is the campaign's key
        values["campaign_id"] = col[key]
        notes.append(f"campaign key: {key} (the export has no campaign id column)")
    values["currency"] = _currency(layout, match, col, options, path)
    if layout.money == "micros_or_units" and "spend" in values:
        in_micros = _money_in_micros(raw.filter(keep), values["spend"], options, path, notes)
        if in_micros:
            units = (values["spend"].cast(pl.Float64, strict=False) / MICROS).cast(pl.String)
            values["spend"] = pl.coalesce(units, values["spend"])  # text that is no number stays for validation


# Money columns, and a cell that carries its currency's mark: `167,52 $`, `1 234,56 ₽`, `€1.234,56`,
# `1,234.56 USD` (what a spreadsheet writes when currency-formatted cells are saved as CSV)
MONEY = {"ad_spend": ("spend",), "costs": ("amount",), "orders": ("revenue", "cost_of_goods", "refunded_amount")}
MARKED = (
    r"^(?P<pre>[^\d\s+\-\u2212.,']{1,4})?\s*(?P<number>[-+\u2212]?\d[\d\s\u00a0.,']*?)\s*(?P<post>[^\d\s.,']{1,5}\.?)?$"
)
NOT_NUMBER_TEXT = r"[^\d\s.,+\-\u2212'\u00a0]"


def _unmark_money(source: str, values: dict, col: dict, raw: pl.DataFrame, comma: bool | None, notes: list) -> None:
    """Money cells written with a currency mark read as their number when the mark names the row's
    currency (the marks of the headers, `currency_marks`, or one several currencies share); a mark of
    another currency leaves the cell as it is, so validation rejects it with its text (an amount in the
    wrong currency must not be counted in the row's). Only files whose money columns hold such text pay
    for the pattern, and each distinct mark is looked up once."""
    currency = values.get("currency")
    if currency is None:
        return
    row_code = currency.cast(pl.String).str.strip_chars().str.to_uppercase()
    shared = shared_currency_marks()
    for column in MONEY.get(source, ()):
        if column not in values or column not in col:
            continue
        if not raw.select(col[column].str.contains(NOT_NUMBER_TEXT).any()).item():
            continue
        parts = col[column].str.strip_chars().str.extract_groups(MARKED)
        pre, post = parts.struct.field("pre"), parts.struct.field("post")
        pre, post = pl.when(pre != "").then(pre), pl.when(post != "").then(post)
        mark = pl.when(pre.is_null() | post.is_null()).then(pl.coalesce(pre, post))
        fits = {  # "mark|currency" for every currency each mark of the file may stand for
            f"{m}|{code}"
            for m in raw.select(mark.drop_nulls().unique()).to_series().to_list()
            for code in shared.get(header_key(m), (mark_code(m),))
            if code
        }
        same = pl.concat_str(mark, pl.lit("|"), row_code).is_in(list(fits)).fill_null(False)
        values[column] = (
            pl.when(same).then(normalise_number(parts.struct.field("number"), comma)).otherwise(values[column])
        )
        read, other = raw.select(same.sum().alias("read"), (mark.is_not_null() & ~same).sum().alias("other")).row(0)
        if read or other:
            notes.append(
                f"{column}: {read} amount(s) written with the row's currency mark read as numbers"
                + (f", {other} with another currency's mark left to be rejected" if other else "")
            )


def _currency(layout: Layout, match: Match, col: dict, options: Mapping, path: Path) -> pl.Expr:
    for way in layout.currency:
        if way == "column" and "currency" in col:
            return col["currency"]
        if way == "header" and match.currency_mark:
            return pl.lit(currency_code(match.currency_mark, path, match.header_index))
        if way == "option" and options.get("currency"):
            return pl.lit(str(options["currency"]).upper())
        if way not in ("column", "header", "option"):
            return pl.lit(way)
    raise ExportError(path, match.header_index + 1, f"{layout.name}: no currency column, mark or setting")


def mark_code(mark: str) -> str | None:
    """The ISO code a currency mark names (`₽`, `руб.`, `$`, `usd`), else None."""
    key = header_key(mark).strip(" .")
    marks = currency_marks()
    for candidate in (key, key + ".", header_key(mark)):
        if candidate in marks:
            return marks[candidate]
    return key.upper() if len(key) == 3 and key.isalpha() else None


def currency_code(mark: str, path: Path, line: int) -> str:
    code = mark_code(mark)
    if code is None:
        raise ExportError(path, line + 1, f"unknown currency mark {mark!r} in the header")
    return code


def _money_in_micros(rows: pl.DataFrame, spend: pl.Expr, options: Mapping, path: Path, notes: list) -> bool:
    """Yandex's returnMoneyInMicros, told apart per file, never guessed silently: in micros every
    amount is a whole multiple of 10 000; in units amounts have decimals or are not such multiples.
    A file where both readings fit (no amount, or too few to tell) needs the setting."""
    amounts = rows.select(spend.cast(pl.Float64, strict=False).alias("v")).get_column("v").drop_nulls()
    nonzero = amounts.filter(amounts != 0)
    whole_steps = bool(nonzero.len()) and bool(((nonzero % MICROS_STEP) == 0).all())
    setting = options.get("yandex_money_in_micros")
    if setting is not None:
        if setting and nonzero.len() and not whole_steps:
            raise ExportError(
                path,
                1,
                "yandex_money_in_micros is set, but Cost holds amounts that are not "
                "whole multiples of 10 000 (money in currency units): set it to false",
            )
        notes.append(f"money in {'micros' if setting else 'currency units'} (set in the settings)")
        return bool(setting)
    if nonzero.len() == 0:
        notes.append("money: no non-zero amount, units and micros read the same")
        return False
    if not whole_steps:
        notes.append("money in currency units (amounts with decimals or not multiples of 10 000)")
        return False
    if nonzero.len() >= 2 or float(nonzero.min()) >= MICROS:
        notes.append(f"money in micros (all {nonzero.len()} non-zero Cost values are whole multiples of 10 000)")
        return True
    raise ExportError(
        path,
        1,
        f"cannot tell whether Cost is in micros or in currency units from "
        f"{nonzero.len()} amount(s) {nonzero.to_list()}: set yandex_money_in_micros "
        "for ad_spend in the settings",
    )
