"""`python -m pipelines report --html PATH`: the decision page, one self-contained HTML file to open or send.

Everything is inside the file: CSS inline, charts as inline SVG (text drawn as paths), no script, no
font, no network. Sections: the headline (observed LTV:CAC of the cohorts that lived 12 months beside
the predicted one of the window, with the customers behind each, intervals and back-test error), every
attribution model side by side, LTV:CAC chart, monthly spend / new customers / CAC per channel, payback
curves, cohort retention, where the costs went, data freshness per source, rejected rows with file and
line, and the build. Readable on a phone: numbers never wrap and wide tables scroll sideways.
"""

from __future__ import annotations

import html
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb

from pipelines.core.db import rows, table_exists
from pipelines.core.periods import EARLIEST, LATEST
from pipelines.reporting import charts
from pipelines.reporting.headline import HTML_COLUMNS, build_row, format_value, headline, reject_lines, rejects
from pipelines.reporting.incrementality import html_fragment as incrementality_html
from schemas.marts_acquisition import MODELS

CSS = """
body { font: 14px/1.45 -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif; color: #222;
       margin: 0 auto; max-width: 1280px; padding: 24px; }
h1 { font-size: 24px; margin: 0 0 4px; } h2 { font-size: 18px; margin: 32px 0 8px; border-bottom: 1px solid #ddd; }
h3 { font-size: 15px; margin: 16px 0 4px; }
.sub { color: #666; margin: 0 0 16px; } .note { color: #666; font-size: 12px; max-width: 900px; }
.scroll { overflow-x: auto; -webkit-overflow-scrolling: touch; max-width: 100%; }
table { border-collapse: collapse; margin: 8px 0; } th, td { padding: 4px 8px; border-bottom: 1px solid #eee; }
th { text-align: left; background: #f5f5f5; white-space: nowrap; } th.group { text-align: center; border-left: 2px solid #fff; }
td { white-space: nowrap; } td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
.band { padding: 1px 6px; border-radius: 3px; }
.band-loss { background: #f4cccc; } .band-break_even { background: #fce5cd; } .band-low { background: #fff2cc; }
.band-healthy { background: #d9ead3; } .band-excellent { background: #b6d7a8; }
.band-insufficient_data { background: #eeeeee; color: #666; }
figure { margin: 8px 0; } figure svg { width: 100%; height: auto; }
.wide svg { min-width: 720px; } .narrow { max-width: 860px; }
.scroll td:first-child, .scroll th:first-child { position: sticky; left: 0; background: #fff; z-index: 1; }
.scroll th:first-child { background: #f5f5f5; }
nav a { margin-right: 12px; white-space: nowrap; display: inline-block; }
td.heat { text-align: right; font-size: 12px; min-width: 34px; }
@media (max-width: 600px) { body { padding: 10px; font-size: 13px; } h1 { font-size: 20px; } }
"""


def _e(value) -> str:
    return html.escape("" if value is None else str(value))


def _table(headers: list[str], body: list[list], numeric: set[int] = frozenset(), table_id: str = "") -> str:
    head = "".join(
        f'<th class="num">{_e(h)}</th>' if i in numeric else f"<th>{_e(h)}</th>" for i, h in enumerate(headers)
    )
    lines = [f'<div class="scroll"><table{f" id={chr(34)}{table_id}{chr(34)}" if table_id else ""}>']
    lines.append(f"<thead><tr>{head}</tr></thead><tbody>")
    for row in body:
        cells = "".join(
            f'<td class="num">{_e(v)}</td>' if i in numeric else f"<td>{_e(v)}</td>" for i, v in enumerate(row)
        )
        lines.append(f"<tr>{cells}</tr>")
    lines.append("</tbody></table></div>")
    return "\n".join(lines)


def _band(value: str | None) -> str:
    if not value:
        return "–"
    words = "too few customers" if value == "insufficient_data" else value
    return f'<span class="band band-{_e(value)}">{_e(words)}</span>'


def headline_html(records: list[dict]) -> str:
    spans: list[list] = []
    for c in HTML_COLUMNS:
        if spans and spans[-1][0] == c.group:
            spans[-1][1] += 1
        else:
            spans.append([c.group, 1])
    groups = "".join(f'<th class="group" colspan="{n}">{_e(g)}</th>' for g, n in spans)
    head = "".join(f'<th class="{"" if c.fmt in ("text", "band") else "num"}">{_e(c.title)}</th>' for c in HTML_COLUMNS)
    body = []
    for record in records:
        cells = []
        for c in HTML_COLUMNS:
            text = _band(record[c.key]) if c.fmt == "band" else _e(format_value(record[c.key], c.fmt, record))
            cls = "" if c.fmt in ("text", "band") else "num"
            cells.append(f'<td class="{cls}" data-col="{c.key}">{text}</td>')
        body.append(f'<tr data-channel="{_e(record["channel"])}">{"".join(cells)}</tr>')
    return (
        f'<div class="scroll"><table id="headline"><thead><tr>{groups}</tr><tr>{head}</tr></thead>'
        f"<tbody>{''.join(body)}</tbody></table></div>"
    )


def models_html(con: duckdb.DuckDBPyConnection) -> str:
    """Every attribution model side by side: how the choice of model moves customers, CAC and LTV:CAC."""
    found = rows(
        con,
        """select channel, attribution_model, customers, cac_full, ltv_cac_12_predicted
           from marts.channel_summary order by channel""",
    )
    by = {(c, m): (n, cac, ratio) for c, m, n, cac, ratio in found}
    channels = sorted({c for c, *_ in found})
    models = [m for m in MODELS if any((c, m) in by for c in channels)]
    parts = []
    for title, index, fmt in (
        ("New customers", 0, "int"),
        ("Fully loaded CAC", 1, "int"),
        ("Predicted LTV:CAC", 2, "ratio"),
    ):
        body = [[c, *(format_value(by.get((c, m), (None,) * 3)[index], fmt) for m in models)] for c in channels]
        parts.append(f"<h3>{title}</h3>")
        parts.append(_table(["channel", *models], body, set(range(1, len(models) + 1)), f"models-{index}"))
    return "\n".join(parts)


def retention_html(con: duckdb.DuckDBPyConnection, model: str, cohorts: int = 24, months: int = 24) -> str:
    """Cohort retention heatmap: share of each acquisition month's customers ordering in month k."""
    found = rows(
        con,
        """with recent as (
               select cohort_month, month_index, sum(active_customers) / sum(cohort_customers) as retention,
                      sum(cohort_customers) as customers
               from marts.cohort_ltv
               where attribution_model = ? and month_complete and month_index < ?
               group by all
           )
           select * from recent
           where cohort_month in (select distinct cohort_month from recent order by cohort_month desc limit ?)
           order by cohort_month, month_index""",
        [model, months, cohorts],
    )
    if not found:
        return "<p>No complete cohort month yet.</p>"
    grid: dict[Any, dict[int, float]] = {}
    size: dict[Any, float] = {}
    for month, k, retention, customers in found:
        grid.setdefault(month, {})[k] = retention
        size[month] = customers if k == 0 else size.get(month, customers)
    width = max(k for *_, k in ((m, k) for m in grid for k in grid[m])) + 1
    later = [r for m in grid for k, r in grid[m].items() if k > 0] or [1.0]
    top = max(later) or 1.0
    head = "".join(f'<th class="num">{k}</th>' for k in range(width))
    body = []
    for month in sorted(grid):
        cells = []
        for k in range(width):
            value = grid[month].get(k)
            if value is None:
                cells.append('<td class="heat"></td>')
                continue
            alpha = 1.0 if k == 0 else min(value / top, 1.0)
            colour = f"rgba(60,120,216,{alpha * 0.85:.2f})"
            ink = "#fff" if alpha > 0.55 else "#222"
            cells.append(f'<td class="heat" style="background:{colour};color:{ink}">{value:.0%}</td>')
        body.append(
            f'<tr><td>{month:%Y-%m}</td><td class="num">{format_value(size[month], "int")}</td>{"".join(cells)}</tr>'
        )
    return (
        f'<div class="scroll"><table id="retention-table"><thead><tr><th>cohort</th><th class="num">customers</th>{head}'
        f"</tr></thead><tbody>{''.join(body)}</tbody></table></div>"
    )


def costs_html(con: duckdb.DuckDBPyConnection, window: tuple | None) -> str:
    """Where the money went each month of the window: ad spend, direct, allocated, retention, unallocated."""
    if window is None or not table_exists(con, "marts.blended_cac"):
        return "<p>No complete month yet.</p>"
    found = rows(
        con,
        """select period_start, ad_spend, direct_costs, allocated_costs, retention_costs, unallocated_costs,
                  total_cost, new_customers
           from marts.blended_cac
           where period_grain = 'month' and period_start between ? and ?
           order by period_start""",
        list(window),
    )
    body = [[f"{r[0]:%Y-%m}", *(format_value(v, "int") for v in r[1:])] for r in found]
    if found:
        body.append(["total", *(format_value(sum(r[i] or 0 for r in found), "int") for i in range(1, 8))])
    headers = [
        "month",
        "ad spend",
        "direct",
        "allocated",
        "retention",
        "unallocated",
        "acquisition total",
        "new customers",
    ]
    return _table(headers, body, set(range(1, 8)), "costs-table")


def freshness_html(con: duckdb.DuckDBPyConnection) -> str:
    """How far each dated source covers and which holds the as-of date; the files behind every source."""
    parts = []
    if table_exists(con, "quality.source_coverage"):
        found = rows(
            con,
            """select source, latest_row_date, complete_through, covers_through, days_behind, holds_as_of
               from quality.source_coverage order by source""",
        )
        body = [
            [s, latest, setting or "", through, behind, "yes" if held else ""]
            for s, latest, setting, through, behind, held in found
        ]
        headers = ["source", "latest row", "complete_through", "covers through", "days behind", "sets the as-of date"]
        parts.append(_table(headers, body, {4}, "freshness-table"))
    if table_exists(con, "quality.file_loads"):
        found = rows(
            con,
            """select source, count(*), max(latest_row_at)::date, max(loaded_at)::date
               from quality.file_loads group by source order by source""",
        )
        parts.append(_table(["source", "files", "latest row in a file", "last read"], [list(r) for r in found], {1}))
    return "\n".join(parts) or "<p>This build has no coverage table.</p>"


def quality_html(con: duckdb.DuckDBPyConnection) -> str:
    parts = []
    found = rejects(con)
    total = sum(n for *_, n in found)
    parts.append(f'<h3>Rejected rows: <span id="rejected-total">{total}</span></h3>')
    if found:
        parts.append(_table(["source", "reason", "rows"], [list(r) for r in found], {2}, "rejects"))
        lines = reject_lines(con)
        parts.append(
            _table(
                ["source", "file", "line", "column", "reason", "value"],
                [list(r) for r in lines],
                {2},
                "reject-lines",
            )
        )
        parts.append(
            f'<p class="note">{"The first 200 of " if total > 200 else "All "}rejected values, with the file and the line '
            "as a spreadsheet numbers it (e-mails and phones masked); every one is in quality.rejected_rows. Fix the "
            "export and run again.</p>"
        )
    if table_exists(con, "quality.file_loads"):
        files = rows(
            con,
            """select source, source_file, layout, encoding, rows_read, rows_loaded, duplicates_dropped,
                      rows_rejected, rows_skipped from quality.file_loads order by source, source_file""",
        )
        parts.append(f"<h3>Files read: {len(files)}</h3>")
        parts.append(
            _table(
                ["source", "file", "layout", "encoding", "read", "loaded", "duplicates", "rejected", "skipped"],
                [list(f) for f in files],
                {4, 5, 6, 7, 8},
                "files",
            )
        )
        parts.append(
            '<p class="note">Every file reconciles: read = loaded + duplicates + rejected + skipped '
            "(structural lines such as titles and totals).</p>"
        )
    if table_exists(con, "quality.identity_conflicts"):
        cursor = con.execute("select * from quality.identity_conflicts limit 200")
        names = [d[0] for d in cursor.description]
        conflicts = cursor.fetchall()
        parts.append(f"<h3>Identity conflicts: {len(conflicts)}</h3>")
        parts.append(
            _table(names, [list(c) for c in conflicts], table_id="identity-conflicts")
            if conflicts
            else "<p>None: no identifier was too common to link on and no two CRM ids merged.</p>"
        )
    return "\n".join(parts)


def _build_value(key: str, value) -> str:
    """The window's open ends as words, not the sentinel dates the table stores."""
    if key == "window_start" and value == EARLIEST:
        return "from the first month (every row)"
    if key == "window_end" and value == LATEST:
        return "to the last month (every row)"
    return "" if value is None else str(value)


SECTIONS = (
    ("channels", "Channels"),
    ("ltv-cac", "LTV:CAC"),
    ("models", "Attribution models"),
    ("trends", "Spend, customers, CAC"),
    ("payback", "Payback"),
    ("retention", "Retention"),
    ("incrementality", "Incremental CAC"),
    ("costs", "Costs"),
    ("freshness", "Data freshness"),
    ("quality", "Rejected rows"),
    ("build", "Build"),
)


def render(con: duckdb.DuckDBPyConnection, settings: dict[str, Any], model: str | None = None) -> str:
    build = build_row(con) or {}
    model = model or settings["default_model"]
    currency = settings["reporting_currency"]
    records = headline(con, model) if table_exists(con, "marts.channel_summary") else []
    span = (records[0]["window_start"], records[0]["window_end"]) if records else None
    window = f"{span[0]:%Y-%m} to {span[1]:%Y-%m}" if span else "no complete month"
    figures = charts.figures(con, settings["report_min_customers"], currency, model)
    svgs = {name: charts.svg(fig) for name, fig in figures.items()}
    built = f"{build['built_at']:%Y-%m-%d %H:%M} UTC" if build.get("built_at") else "unknown"
    info = [[key, _build_value(key, value)] for key, value in build.items() if key != "settings"]
    generated = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    months = settings["summary_months"]
    nav = "".join(f'<a href="#{anchor}">{_e(title)}</a>' for anchor, title in SECTIONS)
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Acquisition report, as of {_e(build.get("as_of_date"))}</title><style>{CSS}</style></head>
<body>
<h1>Acquisition report</h1>
<p class="sub">Data as of <b id="as-of">{_e(build.get("as_of_date"))}</b> · built {_e(built)} · attribution
<b id="model">{_e(model)}</b> · amounts in {_e(currency)}</p>
<nav>{nav}</nav>

<h2 id="channels">Channels, acquisition months {_e(window)}</h2>
{headline_html(records)}
<p class="note">Customers and CAC: the window's acquisition months (fractional under multi-touch models). Paid CAC =
ad spend / new customers; full CAC adds direct and allocated costs. LTV 12m = gross margin per customer in the first 12
months. <b>Observed</b>: the {months} acquisition months before the window, which have all lived 12 months, their LTV
over their own full CAC, with n = the customers behind it and a 90 % interval. <b>Predicted</b>: the window's cohorts,
observed so far plus the fitted expectation, over the window's CAC; the back-test error is how far that channel's fit
was off when it predicted 6 months it had not seen. A band (loss &lt; 1 ≤ break_even &lt; 2 ≤ low &lt; 3 ≤ healthy &lt; 4 ≤
excellent) is given only with at least {settings["min_customers_for_band"]} customers behind the ratio. Payback: the
month in which cumulative margin per customer reaches full CAC (observed; predicted from the fitted curve).</p>

<h2 id="ltv-cac">LTV:CAC, observed and predicted</h2>
<figure class="narrow">{svgs["ltv_cac"]}</figure>

<h2 id="models">Every attribution model</h2>
<p class="note">The same window under each model: rule models split each first purchase's credit by position or
time; markov and shapley learn channel weights from converting and non-converting journeys.</p>
{models_html(con) if records else "<p>No complete month yet.</p>"}

<h2 id="trends">Spend, new customers and CAC by month</h2>
<figure class="scroll wide">{svgs["cac_trend"]}</figure>
<p class="note">One row per channel, every channel included. Months where a channel won fewer than
{settings["report_min_customers"]} new customers have a hollow CAC marker, not joined into its line (setting
report.min_customers_for_cac).</p>

<h2 id="payback">Payback curves</h2>
<figure class="scroll wide">{svgs["payback_curves"]}</figure>
<p class="note">Month k adds the average margin per customer earned in month k by the cohorts that have lived month k
completely; grey bars are the customers of those cohorts, so the later months rest on fewer. The dashed line is the
channel's customer-weighted full CAC: where the curve crosses it, the channel has paid back.</p>

<h2 id="retention">Cohort retention</h2>
{retention_html(con, model)}
<p class="note">Share of each acquisition month's customers (all channels) who ordered in month k after it
(0 = the acquisition month); complete months only.</p>

{incrementality_html(con, currency)}

<h2 id="costs">Where the costs went</h2>
{costs_html(con, span)}
<p class="note">Ad spend + direct + allocated costs are the top of the channels' fully loaded CAC. Retention: the
share of shared costs that follows repeat orders (in no CAC); unallocated: shared costs allocated to no channel (in the
blended fully loaded CAC only). All costs = the five together.</p>

<h2 id="freshness">Data freshness</h2>
{freshness_html(con)}
<p class="note">The as-of date is the last day every dated source covers (orders, ad spend, touchpoints where
loaded); a source running ahead moves nothing, its later rows wait for the others.</p>

<h2 id="quality">Rejected rows and files</h2>
{quality_html(con)}

<h2 id="build">Build</h2>
{_table(["field", "value"], info, table_id="build-info")}
<p class="note">Report generated {_e(generated)} from the published warehouse, read-only.</p>
</body></html>
"""


def write_html(con: duckdb.DuckDBPyConnection, path: Path, settings: dict[str, Any], model: str | None = None) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(render(con, settings, model), encoding="utf-8")
    tmp.replace(path)  # a reader never sees half a report
    return path
