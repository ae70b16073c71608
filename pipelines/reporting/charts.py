"""Pictures of the published warehouse, drawn so that they cannot mislead.

`python -m pipelines charts [--warehouse PATH] [--out DIR]` writes PNGs (default data/charts/); the HTML
report (pipelines/reporting/html.py) embeds the same figures as inline SVG.

  cac_trend       small multiples, one row per channel (every channel, unattributed included): monthly
                  ad spend, new customers and fully loaded CAC. A month's CAC is joined into the line
                  only when the channel won at least `report.min_customers_for_cac` new customers that
                  month (default 10); months with fewer are hollow, unjoined markers: a CAC from two
                  customers is noise, not news.
  payback_curves  per channel, the cumulative sum over months since acquisition of the average monthly
                  margin per customer, where month k averages only the cohorts that have lived month k
                  completely (Σ margin in month k / Σ customers of those cohorts). Each term is an
                  average of what a customer earns in that month, so the curve only rises while margin
                  is positive; pooling cumulative values instead mixes a different set of cohorts into
                  every month and makes a cumulative curve fall. The CAC line is flat: the customer-weighted
                  fully loaded CAC of the channel's cohorts. Grey bars: the customers behind each month.
  ltv_cac         per channel, the observed LTV:CAC of the cohorts that have lived 12 months with its 90 %
                  interval and the customers behind it (hollow: too few for a band), and the predicted
                  LTV:CAC of the window's cohorts, over the bands loss / break_even / low / healthy / excellent.

Every value axis starts at 0; lines that coincide stay visible (each channel has its own marker and dash).
"""

from __future__ import annotations

import io
import re
from pathlib import Path

import duckdb
import matplotlib
import polars as pl

matplotlib.use("Agg")  # files only, no screen
import matplotlib.pyplot as plt  # noqa: E402

from pipelines.core.config import load_config
from pipelines.reporting.headline import build_settings

MODEL = "last_non_direct"
BANDS = [
    (0, 1, "loss", "#f4cccc"),
    (1, 2, "break_even", "#fce5cd"),
    (2, 3, "low", "#fff2cc"),
    (3, 4, "healthy", "#d9ead3"),
    (4, 99, "excellent", "#b6d7a8"),
]


# -- the numbers ---------------------------------------------------------------------------------------
def cac_frame(con: duckdb.DuckDBPyConnection, model: str = MODEL, min_customers: float = 10) -> pl.DataFrame:
    """Month, channel, ad spend, new customers, fully loaded CAC and whether the month has enough customers,
    for every channel and complete month up to the as-of date."""
    return con.sql(
        """select period_start, channel, ad_spend, new_customers, cac_full, new_customers >= $min as enough
           from marts.channel_period_cac
           where period_grain = 'month' and attribution_model = $model and period_complete
           order by channel, period_start""",
        params={"model": model, "min": min_customers},
    ).pl()


def payback_frame(con: duckdb.DuckDBPyConnection, model: str = MODEL) -> pl.DataFrame:
    """Per channel and month since acquisition (1 = the acquisition month): the average margin per
    customer earned in that month over the cohorts that lived it completely, its cumulative sum, the
    cohorts and customers behind it, and the channel's customer-weighted fully loaded CAC."""
    return con.sql(
        """with months as (
               select channel, month_index + 1 as month, count(*) as cohorts, sum(cohort_customers) as customers,
                      sum(margin) / sum(cohort_customers) as margin_per_customer
               from marts.cohort_ltv
               where attribution_model = $model and month_complete
               group by all
           ), cac as (
               select channel, sum(cac_full * customers) / sum(customers) as cac_full
               from marts.channel_ltv
               where attribution_model = $model and cac_full is not null
               group by all
           )
           select m.channel, m.month, m.cohorts, m.customers, m.margin_per_customer,
                  sum(m.margin_per_customer) over (partition by m.channel order by m.month) as cum_margin_per_customer,
                  c.cac_full
           from months m left join cac c using (channel)
           order by m.channel, m.month""",
        params={"model": model},
    ).pl()


def ltv_cac_frame(con: duckdb.DuckDBPyConnection, model: str = MODEL) -> pl.DataFrame:
    """Per channel: the observed LTV:CAC of the older cohorts with interval, customers and band, and the
    predicted LTV:CAC of the window's cohorts with theirs."""
    return con.sql(
        """select channel, ltv_cac_12_older_cohorts as observed, ltv_cac_12_older_cohorts_low as low,
                  ltv_cac_12_older_cohorts_high as high, customers_older_cohorts as observed_customers,
                  ltv_cac_band_older_cohorts as observed_band, ltv_cac_12_predicted as predicted,
                  customers as predicted_customers, ltv_cac_band_predicted as predicted_band
           from marts.channel_summary
           where attribution_model = $model and (ltv_cac_12_older_cohorts is not null or ltv_cac_12_predicted is not null)
           order by coalesce(ltv_cac_12_predicted, ltv_cac_12_older_cohorts), channel""",
        params={"model": model},
    ).pl()


# -- the figures ---------------------------------------------------------------------------------------
def cac_figure(frame: pl.DataFrame, min_customers: float, currency: str = "", model: str = MODEL):
    """Small multiples: a row per channel, columns ad spend, new customers and fully loaded CAC by month."""
    channels = sorted(frame["channel"].unique().to_list())
    rows = max(1, len(channels))
    fig, axes = plt.subplots(rows, 3, figsize=(11, 1.55 * rows + 0.8), squeeze=False, sharex=True)
    money = f", {currency}" if currency else ""
    for row, channel in zip(axes, channels, strict=False):
        part = frame.filter(pl.col("channel") == channel)
        months = part["period_start"].to_list()
        spend = part["ad_spend"].fill_null(0).to_list()
        row[0].bar(months, spend, width=20, color="#9fc5e8")
        if not any(spend):
            row[0].text(0.5, 0.5, "no ad spend", transform=row[0].transAxes, ha="center", color="#888888", fontsize=8)
            row[0].set_yticks([])
        row[1].bar(months, part["new_customers"].fill_null(0).to_list(), width=20, color="#b6d7a8")
        enough = part["enough"].to_list()
        values = part["cac_full"].to_list()
        solid = [v if ok and v is not None else float("nan") for v, ok in zip(values, enough, strict=False)]
        row[2].plot(months, solid, color="#3c78d8", marker="o", markersize=3)
        few = [(m, v) for m, v, ok in zip(months, values, enough, strict=False) if v is not None and not ok]
        if few:
            row[2].plot(
                [m for m, _ in few],
                [v for _, v in few],
                linestyle="none",
                marker="o",
                markerfacecolor="none",
                markeredgecolor="#3c78d8",
                markersize=4,
                alpha=0.7,
            )
        row[0].set_ylabel(channel, fontsize=8, rotation=0, ha="right", va="center")
        for ax in row:
            ax.set_ylim(bottom=0)
            ax.grid(alpha=0.3)
            ax.tick_params(labelsize=7)
    for ax, title in zip(axes[0], (f"ad spend{money}", "new customers", f"fully loaded CAC{money}"), strict=False):
        ax.set_title(title, fontsize=9)
    fig.suptitle(
        f"By month ({model}); hollow CAC markers: fewer than {min_customers:g} new customers, not joined", fontsize=9
    )
    fig.autofmt_xdate()
    return fig


def payback_figure(frame: pl.DataFrame, currency: str = "", model: str = MODEL):
    channels = sorted(frame["channel"].unique().to_list())
    columns = 3
    rows = max(1, -(-len(channels) // columns))
    fig, axes = plt.subplots(rows, columns, figsize=(12, 3.2 * rows), squeeze=False, sharex=True)
    for ax, channel in zip(axes.flat, channels, strict=False):
        part = frame.filter(pl.col("channel") == channel)
        months = part["month"].to_list()
        behind = ax.twinx()  # the customers behind each month: the curve's later months rest on fewer
        behind.bar(months, part["customers"].to_list(), color="#dddddd", width=0.8, zorder=0)
        behind.set_ylim(0, max(part["customers"].max() or 1, 1) * 3)
        behind.tick_params(labelsize=7, colors="#888888")
        ax.set_zorder(behind.get_zorder() + 1)
        ax.patch.set_visible(False)
        ax.plot(months, part["cum_margin_per_customer"].to_list(), marker=".", label="cumulative margin / customer")
        cac = part["cac_full"][0]
        if cac is not None:
            ax.axhline(cac, color="#cc0000", linestyle="--", label="fully loaded CAC")
        ax.set_ylim(bottom=0)
        ax.set_xlim(left=0)
        ax.set_title(f"{channel} (n = {part['customers'][0]:,.0f} in month 1)", fontsize=9)
        ax.grid(alpha=0.3)
    for ax in list(axes.flat)[len(channels) :]:
        ax.axis("off")
    axes.flat[0].legend(fontsize=7)
    fig.suptitle(
        f"Payback: months since acquisition (1 = acquisition month); month k averages the cohorts that "
        f"lived it; grey bars (right axis): their customers ({model}{', ' + currency if currency else ''})",
        fontsize=10,
    )
    return fig


def ltv_cac_figure(frame: pl.DataFrame, model: str = MODEL):
    fig, ax = plt.subplots(figsize=(7.5, 0.5 * max(frame.height, 4) + 1.6))
    values = [v for c in ("observed", "high", "predicted") for v in frame[c].to_list() if v is not None]
    top = max([4.5, *values]) * 1.08
    for low, high, name, colour in BANDS:
        if low < top:
            ax.axvspan(low, min(high, top), color=colour, zorder=0)
            ax.text(
                (low + min(high, top)) / 2, frame.height - 0.3 if frame.height else 0, name, ha="center", fontsize=8
            )
    for y, row in enumerate(frame.iter_rows(named=True)):
        if row["observed"] is not None:
            sure = row["observed_band"] not in (None, "insufficient_data")
            if row["low"] is not None and row["high"] is not None:
                ax.plot([row["low"], row["high"]], [y + 0.12] * 2, color="#1c4587", linewidth=1.5, zorder=2)
            ax.plot(
                row["observed"],
                y + 0.12,
                marker="o",
                color="#1c4587",
                markerfacecolor="#1c4587" if sure else "white",
                zorder=3,
            )
            ax.text(
                row["observed"], y + 0.3, f" {row['observed']:.2f} (n={row['observed_customers']:,.0f})", fontsize=7
            )
        if row["predicted"] is not None:
            sure = row["predicted_band"] not in (None, "insufficient_data")
            ax.plot(
                row["predicted"],
                y - 0.18,
                marker="D",
                color="#b45f06",
                markerfacecolor="#b45f06" if sure else "white",
                zorder=3,
            )
            ax.text(
                row["predicted"], y - 0.42, f" {row['predicted']:.2f} (n={row['predicted_customers']:,.0f})", fontsize=7
            )
    ax.set_yticks(range(frame.height), frame["channel"].to_list())
    ax.plot([], [], marker="o", color="#1c4587", linestyle="-", label="observed, older cohorts (90 % interval)")
    ax.plot([], [], marker="D", color="#b45f06", linestyle="none", label="predicted, window's cohorts")
    ax.plot(
        [],
        [],
        marker="o",
        color="grey",
        markerfacecolor="white",
        linestyle="none",
        label="hollow: too few customers for a band",
    )
    ax.legend(fontsize=7, loc="lower right")
    ax.set(
        xlim=(0, top),
        ylim=(-0.8, max(frame.height, 1) - 0.1),
        xlabel=f"LTV (12 months, margin) : fully loaded CAC ({model})",
    )
    return fig


def figures(
    con: duckdb.DuckDBPyConnection, min_customers: float = 10, currency: str = "", model: str = MODEL
) -> dict[str, object]:
    return {
        "cac_trend": cac_figure(cac_frame(con, model, min_customers), min_customers, currency, model),
        "payback_curves": payback_figure(payback_frame(con, model), currency, model),
        "ltv_cac": ltv_cac_figure(ltv_cac_frame(con, model), model),
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


def write_charts(
    warehouse: Path, out: Path, min_customers: float | None = None, model: str | None = None
) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        settings = build_settings(con, load_config())  # the build's own settings, not today's file
        drawn = figures(
            con,
            settings["report_min_customers"] if min_customers is None else min_customers,
            settings["reporting_currency"],
            model or settings["default_model"],
        )
    finally:
        con.close()
    return [_save(fig, out / f"{name}.png") for name, fig in drawn.items()]


def _save(fig, path: Path) -> Path:
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
