"""Pictures of the published warehouse, drawn so that they cannot mislead.

`python -m pipelines charts [--warehouse PATH] [--out DIR]` writes PNGs (default data/charts/); the HTML
report (pipelines/reporting/html.py) embeds the same figures as inline SVG.

  cac_trend       fully loaded CAC per channel and month (headline attribution model). A month's CAC is
                  joined into the line only when the channel won at least `report.min_customers_for_cac`
                  new customers that month (default 10); months with fewer are hollow, unjoined markers:
                  a CAC from two customers is noise, not news.
  payback_curves  per channel, the cumulative sum over months since acquisition of the average monthly
                  margin per customer, where month k averages only the cohorts that have lived month k
                  completely (Σ margin in month k / Σ customers of those cohorts). Each term is an
                  average of what a customer earns in that month, so the curve only rises while margin
                  is positive; pooling cumulative values instead mixes a different set of cohorts into
                  every month and makes a cumulative curve fall. The CAC line is flat: the customer-weighted
                  fully loaded CAC of the channel's cohorts.
  ltv_cac         LTV:CAC at 12 months per channel, over the bands loss / break_even / low / healthy / excellent.

Every value axis starts at 0; lines that coincide stay visible (each channel has its own marker and dash).
"""

from __future__ import annotations

import io
import re
from itertools import cycle
from pathlib import Path

import duckdb
import matplotlib
import polars as pl

matplotlib.use("Agg")  # files only, no screen
import matplotlib.pyplot as plt  # noqa: E402

from pipelines.core.config import load_config

MODEL = "last_non_direct"
BANDS = [
    (0, 1, "loss", "#f4cccc"),
    (1, 2, "break_even", "#fce5cd"),
    (2, 3, "low", "#fff2cc"),
    (3, 4, "healthy", "#d9ead3"),
    (4, 99, "excellent", "#b6d7a8"),
]
HIDDEN_CHANNELS = ("unattributed", "other")
MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*", "h", "<", ">")
DASHES = ("-", "--", "-.", ":")
COLOURS = plt.rcParams["axes.prop_cycle"].by_key()["color"]


def styles(channels: list[str]) -> dict[str, dict]:
    """One colour, marker and dash per channel, stable for a given set of channels."""
    marker, dash, colour = cycle(MARKERS), cycle(DASHES), cycle(COLOURS)
    return {c: {"color": next(colour), "marker": next(marker), "linestyle": next(dash)} for c in sorted(channels)}


# -- the numbers ---------------------------------------------------------------------------------------
def cac_frame(con: duckdb.DuckDBPyConnection, model: str = MODEL, min_customers: float = 10) -> pl.DataFrame:
    """Month, channel, new customers, fully loaded CAC and whether the month has enough customers."""
    return con.sql(
        """select period_start, channel, new_customers, cac_full, new_customers >= $min as enough
           from marts.channel_period_cac
           where period_grain = 'month' and attribution_model = $model and cac_full is not null
             and channel not in ('unattributed', 'other')
           order by channel, period_start""",
        params={"model": model, "min": min_customers},
    ).pl()


def payback_frame(con: duckdb.DuckDBPyConnection, model: str = MODEL) -> pl.DataFrame:
    """Per channel and month since acquisition (1 = the acquisition month): the average margin per
    customer earned in that month over the cohorts that lived it completely, its cumulative sum, the
    number of cohorts behind it, and the channel's customer-weighted fully loaded CAC."""
    return con.sql(
        """with months as (
               select channel, month_index + 1 as month, count(*) as cohorts,
                      sum(margin) / sum(cohort_customers) as margin_per_customer
               from marts.cohort_ltv
               where attribution_model = $model and month_complete and channel not in ('unattributed', 'other')
               group by all
           ), cac as (
               select channel, sum(cac_full * customers) / sum(customers) as cac_full
               from marts.channel_ltv
               where attribution_model = $model and cac_full is not null
               group by all
           )
           select m.channel, m.month, m.cohorts, m.margin_per_customer,
                  sum(m.margin_per_customer) over (partition by m.channel order by m.month) as cum_margin_per_customer,
                  c.cac_full
           from months m left join cac c using (channel)
           order by m.channel, m.month""",
        params={"model": model},
    ).pl()


def ltv_cac_frame(con: duckdb.DuckDBPyConnection, model: str = MODEL) -> pl.DataFrame:
    return con.sql(
        """select channel, ltv_cac_12, ltv_cac_band from marts.channel_summary
           where attribution_model = $model and ltv_cac_12 is not null order by ltv_cac_12""",
        params={"model": model},
    ).pl()


# -- the figures ---------------------------------------------------------------------------------------
def cac_figure(frame: pl.DataFrame, min_customers: float, currency: str = ""):
    fig, ax = plt.subplots(figsize=(11, 5.5))
    style = styles(frame["channel"].unique().to_list())
    solid_values = frame.filter(pl.col("enough"))["cac_full"]
    # the scale follows the months with enough customers; a small-count month above it sits on the top edge
    top = float(solid_values.max()) * 1.3 if solid_values.len() else None
    above = 0
    for channel, s in style.items():
        part = frame.filter(pl.col("channel") == channel)
        months = part["period_start"].to_list()
        enough = part["enough"].to_list()
        solid = [v if ok else None for v, ok in zip(part["cac_full"].to_list(), enough, strict=False)]
        ax.plot(months, [float("nan") if v is None else v for v in solid], label=channel, markersize=5, **s)
        few = part.filter(~pl.col("enough"))
        if few.height:
            values = few["cac_full"].to_list()
            above += sum(1 for v in values if top is not None and v > top)
            shown = [min(v, top) if top is not None else v for v in values]
            ax.plot(
                few["period_start"].to_list(),
                shown,
                linestyle="none",
                marker=s["marker"],
                clip_on=False,
                markerfacecolor="none",
                markeredgecolor=s["color"],
                markersize=6,
                alpha=0.7,
            )
    label = f"fewer than {min_customers:g} new customers (not joined)"
    if above:
        label += f"; {above} above the scale, drawn on its top edge"
    ax.plot([], [], linestyle="none", marker="o", markerfacecolor="none", markeredgecolor="grey", label=label)
    ax.set_ylim(bottom=0, top=top)
    ax.set(
        title=f"Fully loaded CAC by month ({MODEL})",
        ylabel=f"CAC per new customer{', ' + currency if currency else ''}",
    )
    ax.grid(alpha=0.3)
    ax.legend(ncol=3, fontsize=8)
    return fig


def payback_figure(frame: pl.DataFrame, currency: str = ""):
    channels = sorted(frame["channel"].unique().to_list())
    columns = 3
    rows = max(1, -(-len(channels) // columns))
    fig, axes = plt.subplots(rows, columns, figsize=(12, 3.2 * rows), squeeze=False, sharex=True)
    for ax, channel in zip(axes.flat, channels, strict=False):
        part = frame.filter(pl.col("channel") == channel)
        months = part["month"].to_list()
        ax.plot(months, part["cum_margin_per_customer"].to_list(), marker=".", label="cumulative margin / customer")
        cac = part["cac_full"][0]
        if cac is not None:
            ax.axhline(cac, color="#cc0000", linestyle="--", label="fully loaded CAC")
        ax.set_ylim(bottom=0)
        ax.set_xlim(left=0)
        ax.set_title(channel, fontsize=10)
        ax.grid(alpha=0.3)
    for ax in list(axes.flat)[len(channels) :]:
        ax.axis("off")
    axes.flat[0].legend(fontsize=7)
    fig.suptitle(
        f"Payback: months since acquisition (1 = acquisition month); month k averages the cohorts that "
        f"lived it ({MODEL}{', ' + currency if currency else ''})",
        fontsize=10,
    )
    return fig


def ltv_cac_figure(frame: pl.DataFrame):
    fig, ax = plt.subplots(figsize=(9, 0.45 * max(frame.height, 4) + 1.5))
    top = max([4.5, *(frame["ltv_cac_12"].to_list() or [0])]) * 1.05
    for low, high, name, colour in BANDS:
        if low < top:
            ax.axvspan(low, min(high, top), color=colour, zorder=0)
            ax.text(
                (low + min(high, top)) / 2, frame.height - 0.4 if frame.height else 0, name, ha="center", fontsize=8
            )
    ax.barh(frame["channel"].to_list(), frame["ltv_cac_12"].to_list(), color="#3c78d8", zorder=2)
    for y, value in enumerate(frame["ltv_cac_12"].to_list()):
        ax.text(value, y, f" {value:.2f}", va="center", fontsize=8, zorder=3)
    ax.set(
        xlim=(0, top),
        title=f"LTV (12 months, margin) : fully loaded CAC, last complete cohorts ({MODEL})",
        xlabel="LTV:CAC",
    )
    return fig


def figures(con: duckdb.DuckDBPyConnection, min_customers: float = 10, currency: str = "") -> dict[str, object]:
    return {
        "cac_trend": cac_figure(cac_frame(con, MODEL, min_customers), min_customers, currency),
        "payback_curves": payback_figure(payback_frame(con, MODEL), currency),
        "ltv_cac": ltv_cac_figure(ltv_cac_frame(con, MODEL)),
    }


def svg(fig) -> str:
    """The figure as an inline <svg> element (fonts as paths: no font or network needed to view it)."""
    buffer = io.StringIO()
    fig.tight_layout()
    with plt.rc_context({"svg.fonttype": "path"}):
        fig.savefig(buffer, format="svg")
    plt.close(fig)
    text = buffer.getvalue()
    text = re.sub(r"<metadata>.*?</metadata>", "", text, flags=re.S)  # creator and date: noise in a report
    return text[text.index("<svg") :]


def write_charts(warehouse: Path, out: Path, min_customers: float | None = None) -> list[Path]:
    config = load_config()
    out.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        drawn = figures(
            con, config.report_min_customers if min_customers is None else min_customers, config.reporting_currency
        )
    finally:
        con.close()
    return [_save(fig, out / f"{name}.png") for name, fig in drawn.items()]


def _save(fig, path: Path) -> Path:
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
