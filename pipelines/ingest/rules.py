"""What each source's rows are: natural keys, casing, amount columns, chunk sizes, and the records of a load."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime

from pipelines.core.config import Config

PERSONAL = ("email", "phone")
LOWER_CASE = ("status", "category", "allocation", "channel", "platform")
UPPER_CASE = ("currency",)
# Two rows with the same natural key are the same fact exported twice: one is kept (FILE_DATES decides).
NATURAL_KEYS: dict[str, tuple[str, ...] | None] = {
    "ad_spend": ("date", "platform", "campaign_id"),
    "orders": ("order_id",),
    "customers": ("customer_id",),
    "fx_rates": ("date", "currency"),
    "touchpoints": ("visitor_id", "ts", "utm_source", "utm_medium", "utm_campaign", "utm_content", "utm_term"),
    "costs": None,  # None: the whole row is the key
}
# What dates a file's own rows (docs/metrics.md "Copies of one record"): of two copies of one record that
# differ, the one from the file whose rows reach later wins, then the byte-wise larger file name; never
# the file's modification time, which a copy or a download resets.
FILE_DATES: dict[str, tuple[str, ...]] = {
    "ad_spend": ("date",),
    "costs": ("period_end",),
    "customers": ("created_at",),
    "orders": ("created_at", "refunded_at"),  # an export that knows of a later refund is the later one
    "touchpoints": ("ts",),
    "fx_rates": ("date",),
}
# Costs carry no id: two equal rows in one file are two costs; only an older file's copy is a re-export.
COPIES_WITHIN_A_FILE_ARE_DISTINCT = {"costs"}
# Two rows of one file under one key with different content contradict each other (two orders under
# one id, two spends for one campaign-day): both are quarantined. Not for touchpoints: a tracker that
# logs one visit twice (same visitor, time and tags) often loses the referrer or click id on the copy,
# and that is still one visit. Costs have no key.
CONFLICTS_QUARANTINED = {"ad_spend", "orders", "customers", "fx_rates"}
# The key's time column: a copy of a new row lies in the new rows' time range, so the duplicate search
# reads only the row groups of that range (raw tables are appended file by file, so time clusters).
KEY_TIME = {"touchpoints": "ts", "ad_spend": "date", "fx_rates": "date"}
# Sources whose search narrows further, to where files' time ranges overlap (plus files that repeat a
# key themselves): monthly exports overlap at most at their edges, so a full build of 100 M touchpoints
# hashes the few rows there instead of all of them. Not ad_spend: its keys change after loading
# (campaigns keyed by name take their ids), and its platforms' files all span the same days.
SPANNED = {"touchpoints", "fx_rates"}
# Money columns bounded by quality.max_amount. Compared in the row's own currency, before FX: the
# ceiling (1e12 by default) exists so that no sum can overflow DECIMAL(38, 10) later, and it is
# orders of magnitude beyond any real amount in any currency, so where the rate would put it does not
# matter for telling a real amount from junk (1e30, a concatenated id, a misplaced column).
AMOUNT_COLUMNS = {
    "ad_spend": ("spend",),
    "costs": ("amount",),
    "orders": ("revenue", "cost_of_goods", "refunded_amount"),
    "fx_rates": ("rate",),  # not an amount, but a rate past the ceiling would carry any amount past it
}
# Rows cast and validated at a time: bounds memory for exports of many millions of rows.
CHUNK_ROWS = 1_000_000
# Validated rows, of one file or several, gathered into one insert: DuckDB writes an insert of this
# size straight into compressed row groups, while one of 1 M rows or fewer goes through the
# transaction's local storage and costs ~1.6 x as much (medium touchpoints, 0.3 M-row files: 2.5 s
# against 1.15 s per 1.9 M rows, checkpoint included; chunks of 1.25 M rows already take the fast path).
INSERT_ROWS = 2_000_000
# Bump when a change to reading or casting must reload every file. 4: timestamps with an offset in the
# business's time zone (issue 28); 3: free text stored with e-mails and phones as keys (issue 26)
INGEST_VERSION = "4"


class IngestError(RuntimeError):
    """The run cannot go on: an unreadable file, a missing column, or too many rejected rows."""


@dataclass(frozen=True)
class Bounds:
    """Plausible values (docs/metrics.md): rows outside are quarantined with the setting named."""

    min_date: date
    max_date: date
    max_amount: float

    @classmethod
    def from_config(cls, config: Config, today: date | None = None) -> Bounds:
        return cls(config.min_date, config.plausible_max_date(today), config.max_amount)


@dataclass
class FileLoad:
    source: str
    source_file: str
    layout: str
    encoding: str
    delimiter: str
    language: str | None
    notes: str
    rows_read: int
    rows_loaded: int
    rows_rejected: int
    rows_skipped: int
    duplicates_dropped: int
    file_sha256: str
    file_size: int
    file_mtime: datetime
    latest_row_at: datetime | None  # the latest date of the file's valid rows (FILE_DATES): it decides copies
    load_signature: str
    span: Span | None = field(default=None, repr=False, compare=False)  # this run's files only


@dataclass
class SourceLoad:
    source: str
    files: list[FileLoad] = field(default_factory=list)
    reasons: dict[str, int] = field(default_factory=dict)
    reused_files: int = 0  # loaded by an earlier run and unchanged since
    tied_conflicts: int = 0  # differing copies whose files date alike: decided by file name (quality.conflicts)

    @property
    def rows_loaded(self) -> int:
        return sum(f.rows_loaded for f in self.files)

    @property
    def rows_rejected(self) -> int:
        return sum(f.rows_rejected for f in self.files)

    @property
    def data_rows(self) -> int:
        return sum(f.rows_read - f.rows_skipped for f in self.files)

    @property
    def reject_share(self) -> float:
        return self.rows_rejected / self.data_rows if self.data_rows else 0.0


# ---------------------------------------------------------------- cast and validate (pure, no I/O)


@dataclass(frozen=True)
class Span:
    low: object  # the key time's min and max over the file's loaded rows (None: no row)
    high: object
    repeats: bool  # some key occurs twice in the file
    # the key times of the keys the file repeats (the key holds its time, so every copy of such a key lies
    # at one of them); None: not listed, the file's whole range is searched
    repeat_times: object = None
