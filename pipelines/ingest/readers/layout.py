"""Export layouts as data: layouts.toml loaded into `Layout` declarations the engine reads.

Nothing here reads a file. A layout says which labels name which canonical column in each interface
language, which lines are totals, how numbers, dates, currency and money units are written.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

from schemas.inputs import COLUMNS, REQUIRED, SOURCES

DECLARATIONS = Path(__file__).with_name("layouts.toml")
CURRENCY = "{currency}"
CANONICAL = "canonical"


def header_key(cell: str) -> str:
    """How header cells and labels are compared: case-, space- and underscore-blind, `ё` as `е`."""
    return " ".join(cell.lower().replace("ё", "е").replace("_", " ").split())


@dataclass(frozen=True)
class Label:
    column: str  # canonical column, or "" for a known column nothing is read from
    text: str  # as declared, for messages
    key: str  # header_key(text) without the currency mark
    with_currency: re.Pattern | None  # label with a `{currency}` mark: group 1 is the mark

    def match(self, cell_key: str) -> tuple[bool, str | None]:
        if self.with_currency is None:
            return cell_key == self.key, None
        found = self.with_currency.fullmatch(cell_key)
        return (True, found.group(1)) if found else (False, None)


@dataclass(frozen=True)
class Layout:
    name: str
    title: str
    sources: frozenset[str]
    platform: str | None
    header_within: int
    required: tuple[tuple[str, ...], ...]  # each: alternatives, the first found is used
    key: tuple[str, ...]
    summary: tuple[re.Pattern, ...]
    summary_if_empty: tuple[str, ...]
    zero: tuple[str, ...]
    empty_is_zero: bool
    decimal_comma: dict[str, bool | None]  # per language
    date_order: str
    currency: tuple[str, ...]
    money: str
    labels: dict[str, tuple[Label, ...]]  # language -> labels in priority order
    sources_of: str
    synonyms: dict[str, tuple[str, ...]] = field(default_factory=dict)
    derive: dict[str, dict] = field(default_factory=dict)  # column -> {from, extract}: filled where empty
    time_zone: str | None = None  # timestamps written in this zone (a `timezone` setting overrides)
    records: Records | None = None  # orders / customers: what a shop's or CRM's rows mean (records.py)

    def expected(self, language: str | None = None) -> str:
        """The required columns as the layout's own labels, e.g. `Day, Cost, Campaign ID or Campaign`."""
        language = language or next(iter(self.labels))
        return ", ".join(" or ".join(self.label_of(c, language) for c in group) for group in self.required)

    def label_of(self, column: str, language: str) -> str:
        for label in self.labels[language]:
            if label.column == column:
                return label.text
        return column


@dataclass(frozen=True)
class Records:
    """How a shop's or CRM's export becomes canonical orders or customers (declared per layout)."""

    status_from: tuple[str, ...] = ()  # helper/canonical columns whose value maps to a status, first mapped wins
    status_values: dict[str, str] = field(default_factory=dict)  # lower-case cell -> paid|refunded|cancelled|pending
    status_strip: str | None = None  # regex removed from a status cell first (Bitrix24's `C3:` pipeline prefix)
    status_other: str = "quarantine"  # an unknown value: "quarantine" (with its reason) or a status ("pending")
    cancelled_if: str | None = None  # a column whose value, when set, makes the order cancelled
    closed_at: str | None = None  # a column: a won/lost deal's order date (its close date)
    net_of: tuple[str, ...] = ()  # columns subtracted from revenue (taxes included in the export's total)
    line_items: bool = False  # one row per line item: rows grouped by order id, the first row's fields kept
    strip_prefix: dict[str, str] = field(default_factory=dict)  # column -> text removed from its start
    refunds_dated: bool = True  # False: the export dates no refund (booked in the order's month, said in notes)
    refuse: str | None = None  # a recognised export that cannot be loaded, and why


def _records(spec: dict) -> Records | None:
    rec = spec.get("records")
    if rec is None:
        return None
    status = rec.get("status", {})
    return Records(
        status_from=tuple(status.get("from", ())),
        status_values={k.lower(): v for k, v in status.get("values", {}).items()},
        status_strip=status.get("strip"),
        status_other=status.get("other", "quarantine"),
        cancelled_if=status.get("cancelled_if"),
        closed_at=rec.get("closed_at"),
        net_of=tuple(rec.get("net_of", ())),
        line_items=rec.get("line_items", False),
        strip_prefix=dict(rec.get("strip_prefix", {})),
        refunds_dated=rec.get("refunds_dated", True),
        refuse=rec.get("refuse"),
    )


def _label(column: str, text: str) -> Label:
    key = header_key(text)
    if CURRENCY not in text:
        return Label(column, text, key, None)
    before, after = (re.escape(part) for part in key.split(header_key(CURRENCY), 1))
    return Label(column, text, key.replace(header_key(CURRENCY), "").strip(), re.compile(f"{before}(.+?){after}"))


def _required(groups: list[str]) -> tuple[tuple[str, ...], ...]:
    return tuple(tuple(group.split("|")) for group in groups)


def _platform_layout(name: str, spec: dict) -> Layout:
    labels = {}
    for language, columns in spec["columns"].items():
        labels[language] = tuple(
            _label("" if column == "ignored" else column, text) for column, texts in columns.items() for text in texts
        )
        # `_name`: a helper column that derived columns read (e.g. the landing page URL)
        unknown = {c for c in columns if c != "ignored" and not c.startswith("_")} - set(COLUMNS[spec["source"]])
        if unknown:
            raise ValueError(
                f"layouts.toml [{name}.columns.{language}]: not {spec['source']} columns: {sorted(unknown)}"
            )
    base_comma = spec.get("decimal_comma")
    languages = spec.get("languages", {})
    return Layout(
        name=name,
        title=spec["title"],
        sources=frozenset([spec["source"]]),
        platform=spec.get("platform"),
        header_within=spec.get("header_within", 1),
        required=_required(spec["required"]),
        key=tuple(spec.get("key", ())),
        summary=tuple(re.compile(p) for p in spec.get("summary", ())),
        summary_if_empty=tuple(spec.get("summary_if_empty", ())),
        zero=tuple(spec.get("zero", ())),
        empty_is_zero=spec.get("empty_is_zero", False),
        decimal_comma={lang: languages.get(lang, {}).get("decimal_comma", base_comma) for lang in labels},
        date_order=spec.get("date_order", "dmy"),
        currency=tuple(spec.get("currency", ("column",))),
        money=spec.get("money", "units"),
        labels=labels,
        sources_of=spec["sources_of"],
        derive=spec.get("derive", {}),
        time_zone=spec.get("time_zone"),
        records=_records(spec),
    )


def canonical_layout(source: str) -> Layout:
    """Our own columns for one source; any canonical column name, written as people type it."""
    return _canonical()[source]


@cache
def _declarations() -> dict:
    return tomllib.loads(DECLARATIONS.read_text(encoding="utf-8"))


@cache
def _canonical() -> dict[str, Layout]:
    spec = _declarations()["canonical"]
    synonyms = {c: tuple(s) for c, s in spec.get("synonyms", {}).items()}
    out = {}
    for source in SOURCES:
        labels = tuple(
            _label(column, text) for column in COLUMNS[source] for text in (column, *synonyms.get(column, ()))
        )
        out[source] = Layout(
            name=CANONICAL,
            title="our canonical columns",
            sources=frozenset([source]),
            platform=None,
            header_within=spec["header_within"],
            required=tuple((c,) for c in REQUIRED[source]),
            key=(),
            summary=(),
            summary_if_empty=(),
            zero=(),
            empty_is_zero=False,
            decimal_comma={"": None},
            date_order="dmy",
            currency=("column",),
            money="units",
            labels={"": labels},
            sources_of=spec["sources_of"],
            synonyms={c: s for c, s in synonyms.items() if c in COLUMNS[source]},
        )
    return out


@cache
def platform_layouts() -> dict[str, Layout]:
    """Declared platform layouts in declaration order (ties in detection go to the earlier one)."""
    return {name: _platform_layout(name, spec) for name, spec in _declarations()["layouts"].items()}


@cache
def currency_marks() -> dict[str, str]:
    return {header_key(mark): code for mark, code in _declarations()["currency_marks"].items()}


def shared_currency_marks() -> dict[str, tuple[str, ...]]:
    return {header_key(mark): tuple(codes) for mark, codes in _declarations().get("currency_mark_shared", {}).items()}


def layout_names() -> list[str]:
    return [*platform_layouts(), *query_layouts(), CANONICAL]


@dataclass(frozen=True)
class QueryLayout:
    """A table-shaped export (Parquet, JSON) read by DuckDB with a query of its own."""

    name: str
    title: str
    source: str
    readers: dict[str, str]  # file suffix -> DuckDB table function
    fields: tuple[str, ...]  # top-level fields the file must have
    query: str  # the SQL text, {reader} standing for the table function
    sources_of: str


@cache
def query_layouts() -> dict[str, QueryLayout]:
    out = {}
    for name, spec in _declarations().get("queries", {}).items():
        sql = (DECLARATIONS.parent / "queries" / spec["query"]).read_text(encoding="utf-8")
        out[name] = QueryLayout(
            name, spec["title"], spec["source"], dict(spec["readers"]), tuple(spec["fields"]), sql, spec["sources_of"]
        )
    return out


def query_layout_for(path: Path) -> QueryLayout | None:
    suffix = Path(path).suffix.lower()
    return next((lay for lay in query_layouts().values() if suffix in lay.readers), None)
