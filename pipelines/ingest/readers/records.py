"""Shops' and CRMs' exports as canonical orders and customers: statuses, net revenue, close dates, line items.

What varies per export is declared in layouts.toml (`[layouts.NAME.records]`); this module applies it:
- status: the export's payment status or deal stage -> paid (valid) | refunded | cancelled (not valid) |
  pending (not yet an order), with a business's own stage names from the settings
  (`[sources.orders] won_stages`, `lost_stages`) taking precedence over the layout's defaults;
- revenue net of the taxes the export's total includes, refunds scaled the same way;
- a won or lost deal's order date is its close date;
- line-item exports grouped into one row per order (the first row carries the order's fields).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import polars as pl

from .base import ROW, ReadResult
from .layout import Layout

FINAL = ("paid", "refunded", "cancelled")  # a deal that is won or lost: dated by its close date
STATUSES = (*FINAL, "pending")


def refused(layout: Layout) -> str | None:
    """Why a recognised export cannot be loaded (None: it can)."""
    return layout.records.refuse if layout.records else None


def apply(
    layout: Layout,
    source: str,
    col: dict[str, pl.Expr],
    values: dict[str, pl.Expr],
    raw: pl.DataFrame,
    keep: pl.Expr,
    header_index: int,
    options: Mapping,
    number: Callable[[pl.Expr], pl.Expr],
    notes: list[str],
) -> dict[int, str]:
    """Rewrite `values` (canonical column -> expression) as the layout declares; returns the rows to
    quarantine whole (source_row -> reason), e.g. a payment status the layout does not know."""
    rec = layout.records
    if rec is None:
        return {}
    for column, prefix in rec.strip_prefix.items():  # Shopify writes ids as text: `'595909214328`
        if column in values:
            values[column] = values[column].str.strip_chars().str.strip_prefix(prefix)
    if source != "orders":
        return {}
    suspects = {}
    if rec.status_from:
        values["status"], suspects = _status(layout, col, raw, keep, header_index, options)
    if rec.net_of and "revenue" in values:
        _net_of(values, [number(col[c]) for c in rec.net_of if c in col], notes, rec.net_of)
    if rec.closed_at and rec.closed_at in col and "created_at" in values and "status" in values:
        closed = col[rec.closed_at]
        values["created_at"] = (
            pl.when(values["status"].is_in(FINAL) & closed.is_not_null()).then(closed).otherwise(values["created_at"])
        )
        notes.append("a won or lost deal is dated by its close date; one in progress by its creation")
    if not rec.refunds_dated and "refunded_amount" in values:
        notes.append("refunds carry no date in this export: booked in the order's month")
    return suspects


def _status(
    layout: Layout, col: dict[str, pl.Expr], raw: pl.DataFrame, keep: pl.Expr, header_index: int, options: Mapping
) -> tuple[pl.Expr, dict[int, str]]:
    rec = layout.records
    own = {str(s).strip().lower(): "paid" for s in options.get("won_stages", ())}
    own |= {str(s).strip().lower(): "cancelled" for s in options.get("lost_stages", ())}
    cells = []
    for name in rec.status_from:
        if name not in col:
            continue
        cell = col[name].str.strip_chars().str.to_lowercase()
        cells.append(cell.str.replace(rec.status_strip, "") if rec.status_strip else cell)
    if not cells:
        return pl.lit(None, pl.String), {}

    def mapped(mapping: dict[str, str]) -> list[pl.Expr]:
        if not mapping:
            return []
        return [c.replace_strict(mapping, default=None, return_dtype=pl.String) for c in cells]

    # the business's own stage names first, then the layout's values, in the order of the columns
    status = pl.coalesce(*mapped(own), *mapped(rec.status_values))
    present = pl.any_horizontal(c.is_not_null() for c in cells)
    suspects: dict[int, str] = {}
    if rec.status_other != "quarantine":  # a CRM: any stage that is neither won nor lost is in progress
        status = pl.coalesce(status, pl.when(present).then(pl.lit(rec.status_other)))
    else:
        unknown = raw.select(
            (pl.col(ROW).cast(pl.Int64) + header_index + 2).alias("row"),
            pl.coalesce(*cells).alias("cell"),
            (keep & present & status.is_null()).alias("unknown"),
        ).filter("unknown")
        known = ", ".join(sorted(rec.status_values))
        for row, cell in unknown.select("row", "cell").iter_rows():
            suspects[row] = f"status {cell!r} is not one {layout.name} knows ({known})"
        status = pl.coalesce(status, *cells)  # kept as written: the row is quarantined under that one reason
    if rec.cancelled_if and rec.cancelled_if in col:  # a cancellation date set: cancelled, whatever was paid
        status = pl.when(col[rec.cancelled_if].is_not_null()).then(pl.lit("cancelled")).otherwise(status)
    return status, suspects


def _net_of(values: dict[str, pl.Expr], taxes: list[pl.Expr], notes: list[str], names: tuple[str, ...]) -> None:
    """Revenue = the export's total minus the taxes in it; a refund of such a total holds the same share
    of tax, so it is scaled by net / total (a full refund stays equal to the order's revenue)."""
    total = values["revenue"].cast(pl.Float64, strict=False)
    tax = pl.sum_horizontal(t.cast(pl.Float64, strict=False).fill_null(0.0) for t in taxes) if taxes else pl.lit(0.0)
    net = (total - tax).round(2)
    values["revenue"] = pl.coalesce(net.cast(pl.String), values["revenue"])  # text that is no number stays
    if "refunded_amount" in values:
        refund = values["refunded_amount"].cast(pl.Float64, strict=False)
        scaled = pl.when(total > 0).then((refund * net / total).round(2)).otherwise(refund)
        values["refunded_amount"] = pl.coalesce(scaled.cast(pl.String), values["refunded_amount"])
    notes.append(f"revenue = total minus {', '.join(n.lstrip('_') for n in names)}; refunds net of tax likewise")


def group_line_items(layout: Layout, result: ReadResult) -> None:
    """One row per line item -> one row per order: the order's first row (where the export writes the
    order's fields) is kept with its line number; the other rows are counted as skipped lines."""
    if not (layout.records and layout.records.line_items):
        return
    frame = result.frame
    if frame.height == frame["order_id"].n_unique():
        return
    keyed = frame.filter(pl.col("order_id").is_not_null())
    grouped = keyed.group_by("order_id", maintain_order=True).agg(pl.all().first()).select(frame.columns)
    out = pl.concat([grouped, frame.filter(pl.col("order_id").is_null())]).sort("source_row")
    folded = frame.height - out.height
    result.frame = out
    result.skipped_lines += folded
    result.notes.append(f"{folded} line-item row(s) folded into their orders ({grouped.height} orders)")
