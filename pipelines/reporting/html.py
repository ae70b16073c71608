"""`python -m pipelines report --html PATH`: one self-contained HTML file to open or send.

Everything is inside the file: CSS inline, charts as inline SVG (text drawn as paths), no script, no
font, no network. Sections: the headline table, CAC trend, payback curves, LTV:CAC bands, data quality
(rejected rows, files read, identity conflicts when the build has that table) and build info.
"""

from __future__ import annotations

import html
from datetime import UTC, datetime
from pathlib import Path

import duckdb

from pipelines.core.config import Config
from pipelines.core.db import rows, table_exists
from pipelines.core.periods import EARLIEST, LATEST
from pipelines.reporting import charts
from pipelines.reporting.headline import HEADLINE_COLUMNS, build_row, format_value, headline, rejects
from pipelines.reporting.incrementality import html_fragment as incrementality_html

CSS = """
body { font: 14px/1.45 -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif; color: #222;
       margin: 0 auto; max-width: 1200px; padding: 24px; }
h1 { font-size: 24px; margin: 0 0 4px; } h2 { font-size: 18px; margin: 32px 0 8px; border-bottom: 1px solid #ddd; }
.sub { color: #666; margin: 0 0 16px; } .note { color: #666; font-size: 12px; }
table { border-collapse: collapse; margin: 8px 0; } th, td { padding: 4px 10px; border-bottom: 1px solid #eee; }
th { text-align: left; background: #f5f5f5; } td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
.band { padding: 1px 6px; border-radius: 3px; }
.band-loss { background: #f4cccc; } .band-break_even { background: #fce5cd; } .band-low { background: #fff2cc; }
.band-healthy { background: #d9ead3; } .band-excellent { background: #b6d7a8; }
figure { margin: 8px 0; } figure svg { max-width: 100%; height: auto; }
nav a { margin-right: 14px; }
"""


def _e(value) -> str:
    return html.escape("" if value is None else str(value))


def _table(headers: list[str], body: list[list], numeric: set[int] = frozenset(), table_id: str = "") -> str:
    head = "".join(
        f'<th class="num">{_e(h)}</th>' if i in numeric else f"<th>{_e(h)}</th>" for i, h in enumerate(headers)
    )
    lines = [f"<table{f' id={chr(34)}{table_id}{chr(34)}' if table_id else ''}><thead><tr>{head}</tr></thead><tbody>"]
    for row in body:
        cells = "".join(
            f'<td class="num">{_e(v)}</td>' if i in numeric else f"<td>{_e(v)}</td>" for i, v in enumerate(row)
        )
        lines.append(f"<tr>{cells}</tr>")
    lines.append("</tbody></table>")
    return "\n".join(lines)


def headline_html(records: list[dict]) -> str:
    head = "".join(f'<th class="{"" if c.fmt == "text" else "num"}">{_e(c.title)}</th>' for c in HEADLINE_COLUMNS)
    body = []
    for record in records:
        cells = []
        for c in HEADLINE_COLUMNS:
            text = _e(format_value(record[c.key], c.fmt))
            if c.key == "ltv_cac_band" and record[c.key]:
                text = f'<span class="band band-{_e(record[c.key])}">{text}</span>'
            cls = "" if c.fmt == "text" else "num"
            cells.append(f'<td class="{cls}" data-col="{c.key}">{text}</td>')
        body.append(f'<tr data-channel="{_e(record["channel"])}">{"".join(cells)}</tr>')
    return f'<table id="headline"><thead><tr>{head}</tr></thead><tbody>{"".join(body)}</tbody></table>'


def quality_html(con: duckdb.DuckDBPyConnection) -> str:
    parts = []
    found = rejects(con)
    total = sum(n for *_, n in found)
    parts.append(f'<h3>Rejected rows: <span id="rejected-total">{total}</span></h3>')
    if found:
        parts.append(_table(["source", "reason", "rows"], [list(r) for r in found], {2}, "rejects"))
        parts.append(
            '<p class="note">Each rejected value is in quality.rejected_rows with its file, line, column '
            "and value (e-mails and phones masked). Fix the export and run again.</p>"
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
    else:
        parts.append(
            '<h3>Identity conflicts</h3><p class="note">This build has no quality.identity_conflicts table.</p>'
        )
    return "\n".join(parts)


def _build_value(key: str, value) -> str:
    """The window's open ends as words, not the sentinel dates the table stores."""

    if key == "window_start" and value == EARLIEST:
        return "from the first month (every row)"
    if key == "window_end" and value == LATEST:
        return "to the last month (every row)"
    return "" if value is None else str(value)


def render(con: duckdb.DuckDBPyConnection, config: Config) -> str:
    build = build_row(con) or {}
    model = config.default_model
    records = headline(con, model) if table_exists(con, "marts.channel_summary") else []
    window = (
        f"{records[0]['window_start']:%Y-%m} to {records[0]['window_end']:%Y-%m}" if records else "no complete month"
    )
    figures = charts.figures(con, config.report_min_customers, config.reporting_currency)
    svgs = {name: charts.svg(fig) for name, fig in figures.items()}
    built = f"{build['built_at']:%Y-%m-%d %H:%M} UTC" if build.get("built_at") else "unknown"
    info = [[key, _build_value(key, value)] for key, value in build.items()]
    generated = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Acquisition report, as of {_e(build.get("as_of_date"))}</title><style>{CSS}</style></head>
<body>
<h1>Acquisition report</h1>
<p class="sub">Data as of <b id="as-of">{_e(build.get("as_of_date"))}</b> · built {_e(built)} · attribution
<b>{_e(model)}</b> · amounts in {_e(config.reporting_currency)}</p>
<nav><a href="#channels">Channels</a><a href="#cac">CAC trend</a><a href="#payback">Payback</a>
<a href="#ltv-cac">LTV:CAC</a><a href="#incrementality">Incremental</a><a href="#quality">Data quality</a><a href="#build">Build</a></nav>

<h2 id="channels">Channels, acquisition months {_e(window)}</h2>
{headline_html(records)}
<p class="note">Customers acquired in the window (fractional under multi-touch models). Paid CAC = ad spend / new
customers; full CAC adds direct and allocated costs. LTV 12m = gross margin per customer in the first 12 months,
over the cohorts that have lived 12 months. LTV:CAC = LTV 12m / full CAC (loss &lt; 1 ≤ break_even &lt; 2 ≤ low &lt; 3 ≤
healthy &lt; 4 ≤ excellent). Payback: the month in which cumulative margin per customer reached full CAC (observed;
– while not reached), and full CAC / monthly margin per active customer (simple).</p>

<h2 id="cac">CAC trend</h2>
<figure>{svgs["cac_trend"]}</figure>
<p class="note">Months where a channel won fewer than {config.report_min_customers} new customers are hollow
markers, not joined into its line (setting report.min_customers_for_cac).</p>

<h2 id="payback">Payback curves</h2>
<figure>{svgs["payback_curves"]}</figure>
<p class="note">Month k adds the average margin per customer earned in month k by the cohorts that have lived
month k completely; the dashed line is the channel's customer-weighted full CAC. Where the curve crosses the line,
the channel has paid back.</p>

<h2 id="ltv-cac">LTV:CAC bands</h2>
<figure>{svgs["ltv_cac"]}</figure>

{incrementality_html(con, config.reporting_currency)}

<h2 id="quality">Data quality</h2>
{quality_html(con)}

<h2 id="build">Build</h2>
{_table(["field", "value"], info, table_id="build-info")}
<p class="note">Report generated {_e(generated)} from the published warehouse, read-only.</p>
</body></html>
"""


def write_html(con: duckdb.DuckDBPyConnection, path: Path, config: Config) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(render(con, config), encoding="utf-8")
    tmp.replace(path)  # a reader never sees half a report
    return path
