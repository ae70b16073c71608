"""Pictures of the published warehouse, for people who would rather look than read.

`python -m pipelines charts [--warehouse PATH] [--out DIR]` writes PNGs (default data/charts/):
  cac_trend.png       fully loaded CAC per channel and month (headline attribution model)
  payback_curves.png  cumulative margin per customer by month since acquisition, against CAC
  ltv_cac.png         LTV:CAC at 12 months per channel, with the bands
"""

from __future__ import annotations

from pathlib import Path

import duckdb
import matplotlib

matplotlib.use("Agg")  # files only, no screen
import matplotlib.pyplot as plt  # noqa: E402

MODEL = "last_non_direct"
BANDS = [(0, 1, "loss", "#f4cccc"), (1, 2, "break_even", "#fce5cd"), (2, 3, "low", "#fff2cc"),
         (3, 4, "healthy", "#d9ead3"), (4, 99, "excellent", "#b6d7a8")]


def cac_trend(con: duckdb.DuckDBPyConnection, out: Path) -> Path:
    frame = con.sql(
        """select period_start, channel, cac_full from marts.channel_period_cac
           where period_grain = 'month' and attribution_model = $model and cac_full is not null
             and channel not in ('unattributed', 'other') order by period_start""",
        params={"model": MODEL},
    ).pl()
    fig, ax = plt.subplots(figsize=(11, 5.5))
    for channel in sorted(frame["channel"].unique()):
        part = frame.filter(frame["channel"] == channel)
        ax.plot(part["period_start"].to_list(), part["cac_full"].to_list(), marker=".", label=channel)
    ax.set(title=f"Fully loaded CAC by month ({MODEL})", ylabel="CAC, reporting currency")
    ax.grid(alpha=0.3)
    ax.legend(ncol=3, fontsize=8)
    return _save(fig, out / "cac_trend.png")


def payback_curves(con: duckdb.DuckDBPyConnection, out: Path) -> Path:
    frame = con.sql(
        """select l.channel, l.month_index + 1 as month,
                  sum(l.cum_margin_per_customer * l.cohort_customers) / sum(l.cohort_customers) as cum_margin,
                  sum(c.cac_full * c.customers) / sum(c.customers) as cac
           from marts.cohort_ltv l join marts.channel_ltv c using (cohort_month, channel, attribution_model)
           where l.attribution_model = $model and l.month_complete and c.cac_full is not null
             and l.channel not in ('unattributed', 'other')
           group by all order by l.channel, month""",
        params={"model": MODEL},
    ).pl()
    channels = sorted(frame["channel"].unique())
    columns = 3
    rows = max(1, -(-len(channels) // columns))
    fig, axes = plt.subplots(rows, columns, figsize=(12, 3.2 * rows), squeeze=False, sharex=True)
    for ax, channel in zip(axes.flat, channels):
        part = frame.filter(frame["channel"] == channel)
        ax.plot(part["month"].to_list(), part["cum_margin"].to_list(), marker=".", label="cumulative margin / customer")
        ax.plot(part["month"].to_list(), part["cac"].to_list(), linestyle="--", label="fully loaded CAC")
        ax.set_title(channel, fontsize=10)
        ax.grid(alpha=0.3)
    for ax in list(axes.flat)[len(channels):]:
        ax.axis("off")
    axes.flat[0].legend(fontsize=7)
    fig.suptitle(f"Payback: months since acquisition (1 = acquisition month), cohorts pooled ({MODEL})")
    return _save(fig, out / "payback_curves.png")


def ltv_cac(con: duckdb.DuckDBPyConnection, out: Path) -> Path:
    frame = con.sql(
        """select channel, ltv_cac_12 from marts.channel_summary
           where attribution_model = $model and ltv_cac_12 is not null order by ltv_cac_12""",
        params={"model": MODEL},
    ).pl()
    fig, ax = plt.subplots(figsize=(9, 0.45 * max(frame.height, 4) + 1.5))
    top = max([4.5, *(frame["ltv_cac_12"].to_list() or [0])]) * 1.05
    for low, high, name, colour in BANDS:
        if low < top:
            ax.axvspan(low, min(high, top), color=colour, zorder=0)
            ax.text((low + min(high, top)) / 2, frame.height - 0.4 if frame.height else 0, name, ha="center", fontsize=8)
    ax.barh(frame["channel"].to_list(), frame["ltv_cac_12"].to_list(), color="#3c78d8", zorder=2)
    ax.set(xlim=(0, top), title=f"LTV (12 months, margin) : fully loaded CAC, last complete cohorts ({MODEL})", xlabel="LTV:CAC")
    return _save(fig, out / "ltv_cac.png")


def write_charts(warehouse: Path, out: Path) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        return [cac_trend(con, out), payback_curves(con, out), ltv_cac(con, out)]
    finally:
        con.close()


def _save(fig, path: Path) -> Path:
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
