"""The report's "Incremental vs attributed" section (docs/metrics.md "Incremental CAC"), self-contained so the
terminal report and the HTML page each call it once.

Per paid channel: the attributed paid CAC under the default model beside the incremental CAC with its
90 % interval, the ratio and the marginal CAC at today's spend; a channel without model numbers shows
its status instead. Then the response curves with today's spend marked. Read from
marts.channel_incrementality and marts.channel_response_curves; a build without them shows a note.
"""

from __future__ import annotations

import html

import duckdb
import polars as pl

from pipelines.core.db import table_exists
from pipelines.reporting import charts

TABLE = "marts.channel_incrementality"
CURVES = "marts.channel_response_curves"
_STATUS_WORDS = {
    "too_little_data": "too little data",
    "no_varying_spend": "no spend varies",
    "constant_spend": "spend never varies",
    "not_converged": "fit did not converge",
}


def frame(con: duckdb.DuckDBPyConnection) -> pl.DataFrame | None:
    if not table_exists(con, TABLE):
        return None
    return con.sql(f"select * from {TABLE} order by spend desc, channel").pl()


def _money(value) -> str:
    return "–" if value is None else f"{value:,.0f}".replace(",", " ")


def _range(low, high) -> str:
    if low is None:
        return "–"
    return f"{_money(low)}–{_money(high) if high is not None else '∞'}"


def _ratio(value) -> str:
    return "–" if value is None else f"{value:.2f}"


def rows(found: pl.DataFrame) -> list[list[str]]:
    """channel, spend, attributed CAC, incremental CAC, its 90 % interval, ratio, marginal CAC, note."""
    out = []
    for r in found.iter_rows(named=True):
        fitted = r["status"] == "fitted"
        note = "" if fitted else _STATUS_WORDS.get(r["status"], r["status"])
        if fitted and r["incremental_cac"] is None:
            note = "no effect found"
        elif fitted and r["incremental_cac_upper"] is None:
            note = "none not ruled out"
        out.append(
            [
                r["channel"],
                _money(r["spend"]),
                _money(r["attributed_cac"]),
                _money(r["incremental_cac"]),
                _range(r["incremental_cac_lower"], r["incremental_cac_upper"]) if fitted else "–",
                _ratio(r["incremental_to_attributed_cac"]),
                _money(r["marginal_cac"]),
                note,
            ]
        )
    return out


HEADERS = ["channel", "spend", "attributed CAC", "incremental CAC", "90 % interval", "incr/attr", "marginal CAC", ""]
TERMINAL_HEADERS = ["channel", "spend", "attributed", "incremental", "90 % interval", "ratio", "marginal"]


def terminal_text(con: duckdb.DuckDBPyConnection) -> str:
    """The section as lines for the terminal report."""
    found = frame(con)
    if found is None or found.is_empty():
        return "Incremental vs attributed: no paid channel in this build (marts.channel_incrementality)"
    first = found.row(0, named=True)
    lines = [
        f"Incremental vs attributed: weeks {first['window_start']}..{first['window_end']} ({first['weeks']}), "
        f"fitted as of {first['fitted_as_of']}",
        "(CAC: attributed by the default model; incremental = per customer the spend caused, 90 % interval;",
        " ratio = incremental / attributed; marginal = the next customer at today's weekly spend)",
        "",
    ]
    # each row starts with a bullet: a channel's first word is the headline table's line for it
    table = [["", *TERMINAL_HEADERS], *(["·", *r[:-1]] for r in rows(found))]
    notes = ["", *(r[-1] for r in rows(found))]
    widths = [max(len(str(row[i])) for row in table) for i in range(len(table[0]))]
    for row, note in zip(table, notes, strict=True):
        cells = [
            str(v).ljust(w) if i in (0, 1) else str(v).rjust(w)
            for i, (v, w) in enumerate(zip(row, widths, strict=True))
        ]
        lines.append(("  " + " ".join(cells) + "  " + note).rstrip())
    return "\n".join(lines)


def _looks():
    """One colour, dash and marker per channel, so coinciding curves stay apart."""
    colours = charts.plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for i in range(1000):
        yield {"color": colours[i % len(colours)], "linestyle": ("-", "--", "-.", ":")[i % 4], "marker": "osD^v"[i % 5]}


def curves_figure(con: duckdb.DuckDBPyConnection, currency: str = ""):
    """New customers per week against weekly spend per fitted channel, the 90 % band shaded, today's spend
    a filled marker on each curve; None without curves."""
    if not table_exists(con, CURVES):
        return None
    found = con.sql(f"select * from {CURVES} order by channel, weekly_spend").pl()
    if found.is_empty():
        return None
    fig, ax = charts.plt.subplots(figsize=(10, 4.8))
    for (channel, group), look in zip(found.group_by("channel", maintain_order=True), _looks(), strict=False):
        name = channel[0]
        ax.fill_between(
            group["weekly_spend"],
            group["new_customers_per_week_lower"],
            group["new_customers_per_week_upper"],
            color=look["color"],
            alpha=0.15,
        )
        ax.plot(
            group["weekly_spend"],
            group["new_customers_per_week"],
            color=look["color"],
            linestyle=look["linestyle"],
            label=name,
        )
        today = group.filter(pl.col("is_current_spend"))
        ax.plot(
            today["weekly_spend"],
            today["new_customers_per_week"],
            marker=look["marker"],
            color=look["color"],
            markersize=8,
            linestyle="none",
        )
    ax.set_xlabel(f"weekly spend{f' ({currency})' if currency else ''}")
    ax.set_ylabel("new customers per week caused")
    ax.set_xlim(left=0)
    ax.set_ylim(bottom=0)
    ax.legend(loc="upper left", fontsize=8)
    ax.set_title("Response curves (90 % band; marker = today's spend, mean of the last 4 weeks)")
    fig.tight_layout()
    return fig


def html_fragment(con: duckdb.DuckDBPyConnection, currency: str = "") -> str:
    """The section for the HTML report: heading, table, curves and what the numbers mean."""
    found = frame(con)
    head = '<h2 id="incrementality">Incremental vs attributed</h2>'
    if found is None or found.is_empty():
        return head + '<p class="note">No paid channel in this build (marts.channel_incrementality).</p>'
    first = found.row(0, named=True)
    body = "".join(
        "<tr>"
        + "".join(f"<td{'' if i in (0, 7) else ' class=num'}>{html.escape(v)}</td>" for i, v in enumerate(r))
        + "</tr>"
        for r in rows(found)
    )
    header = "".join(f"<th{'' if i in (0, 7) else ' class=num'}>{html.escape(h)}</th>" for i, h in enumerate(HEADERS))
    fig = curves_figure(con, currency)
    # the page's own classes: wide content scrolls sideways on a phone (pipelines/reporting/html.py CSS)
    figure = f'<figure class="scroll wide">{charts.svg(fig)}</figure>' if fig is not None else ""
    return f"""{head}
<p class="sub">Weeks {html.escape(str(first["window_start"]))} to {html.escape(str(first["window_end"]))}
({first["weeks"]}), marketing-mix model fitted as of {html.escape(str(first["fitted_as_of"]))}</p>
<div class="scroll"><table id="incrementality-table"><thead><tr>{header}</tr></thead><tbody>{body}</tbody></table></div>
<p class="note">Attributed CAC = spend / the new customers the default attribution model credits to the channel.
Incremental CAC = spend / the new customers the spend caused, estimated by the marketing-mix model from how weekly
new customers move with each channel's weekly spend; its 90 % interval is shown (∞: the data do not rule out that
the channel causes none). incr/attr above 1: attribution credits the channel with buyers who would have come
anyway. Marginal CAC: what one more customer costs at today's weekly spend.</p>
{figure}"""
