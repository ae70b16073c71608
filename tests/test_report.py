"""The report people open: the terminal headline table, the self-contained HTML file rendered by a real
headless Chromium, and charts that cannot mislead (payback curves never fall, small CAC counts marked)."""

from __future__ import annotations

import json
import shutil
import struct
import subprocess
import sys
import zlib
from html.parser import HTMLParser
from pathlib import Path

import duckdb
import pytest
from pipeline_runs import materialize_everything

from pipelines.core.config import load_config, parse_config
from pipelines.core.paths import PROJECT_ROOT
from pipelines.reporting import charts
from pipelines.reporting.headline import HEADLINE_COLUMNS, HTML_COLUMNS, build_settings, format_value, headline
from pipelines.reporting.html import write_html

SAMPLE = PROJECT_ROOT / "data" / "sample"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("report") / "warehouse.duckdb"
    assert materialize_everything(SAMPLE, path).success
    return path


@pytest.fixture()
def con(warehouse):
    connection = duckdb.connect(str(warehouse), read_only=True)
    yield connection
    connection.close()


def _report(*args: str) -> subprocess.CompletedProcess:
    result = subprocess.run(
        [sys.executable, "-m", "pipelines", "report", *args],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert result.returncode == 0, result.stderr
    return result


def test_the_terminal_report_is_the_headline_table_rounded_in_100_columns(warehouse, con, tmp_path):
    page = tmp_path / "out" / "report.html"
    out = _report("--warehouse", str(warehouse), "--html", str(page)).stdout
    assert page.exists() and f"wrote {page}" in out
    assert all(len(line) <= 100 for line in out.splitlines()), out
    assert "…" not in out  # nothing hidden in an elided column, as a select * printed it
    records = headline(con, "last_non_direct")
    assert len(records) >= 8
    lines = out.splitlines()
    for record in records:
        [line] = [line for line in lines if line.split() and line.split()[0] == record["channel"]]
        for key in ("cac_full", "ltv_cac_12_older_cohorts", "customers_older_cohorts", "ltv_cac_12_predicted"):
            fmt = next(c.fmt for c in HEADLINE_COLUMNS if c.key == key)
            assert format_value(record[key], fmt).replace("\u202f", " ") in line, (record["channel"], key)
        for key in ("ltv_cac_band_older_cohorts", "ltv_cac_band_predicted"):
            assert {"insufficient_data": "too few", None: "–"}.get(record[key], record[key]) in line
    assert "Rejected rows: 16" in out  # the sample's planted bad rows
    assert "sets the as-of date" in out  # which source holds the as-of date back


def test_the_report_follows_the_builds_settings_and_takes_a_model(warehouse, con):
    """Built with the default model, the report says so; --model shows another model's figures; `| head`
    closes the pipe early and the report exits quietly (no BrokenPipeError traceback)."""
    settings = con.execute("select settings from meta.build_info order by built_at desc limit 1").fetchall()[0][0]
    assert '"default_model": "last_non_direct"' in settings and '"min_customers_for_band": 30' in settings
    out = _report("--warehouse", str(warehouse), "--model", "markov").stdout
    assert "attribution markov" in out
    [record] = [r for r in headline(con, "markov") if r["channel"] == "google_ads"]
    [line] = [line for line in out.splitlines() if line.startswith("google_ads ")]
    assert format_value(record["cac_full"], "int").replace("\u202f", " ") in line
    piped = subprocess.run(
        f"{sys.executable} -m pipelines report --warehouse {warehouse} | head -3",
        shell=True,
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert len(piped.stdout.splitlines()) == 3 and "Traceback" not in piped.stderr and "BrokenPipe" not in piped.stderr


class _Dom(HTMLParser):
    """The headline table's cells, the section headings and every external reference of a page."""

    def __init__(self) -> None:
        super().__init__()
        self.cells: dict[tuple[str, str], str] = {}
        self.ids: dict[str, str] = {}
        self.external: list[str] = []
        self.scripts = 0
        self.layout, self.dom = "{}", ""
        self.svgs = 0
        self._row = None
        self._col = None
        self._id = None
        self._text: list[str] = []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        for name in ("src", "href"):
            if attrs.get(name) and not attrs[name].startswith(("#", "data:")):
                self.external.append(attrs[name])
        self.scripts += tag == "script"
        self.svgs += tag == "svg"
        if tag == "tr" and "data-channel" in attrs:
            self._row = attrs["data-channel"]
        if tag == "td" and self._row and "data-col" in attrs:
            self._col, self._text = attrs["data-col"], []
        if attrs.get("id"):
            self._id, self._text = attrs["id"], []
        if tag == "body" and attrs.get("data-layout"):
            self.layout, self.dom = attrs["data-layout"], attrs["data-dom"]

    def handle_data(self, data):
        self._text.append(data)

    def handle_endtag(self, tag):
        if tag == "td" and self._col:
            self.cells[(self._row, self._col)] = "".join(self._text).strip()
            self._col = None
        if self._id and tag in ("h2", "b", "span", "table", "div"):
            self.ids.setdefault(self._id, "".join(self._text).strip())
            self._id = None


def _png_size_and_colours(path: Path) -> tuple[int, int, int]:
    """Width, height and the number of distinct byte values in the image data (a blank page has ~1)."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])
    chunks, pos = [], 8
    while pos < len(data):
        length = struct.unpack(">I", data[pos : pos + 4])[0]
        if data[pos + 4 : pos + 8] == b"IDAT":
            chunks.append(data[pos + 8 : pos + 8 + length])
        pos += 12 + length
    raw = zlib.decompress(b"".join(chunks))
    return width, height, len(set(raw[:4_000_000]))


# A test page around the report (which itself has no script): the report in a frame exactly `width` pixels
# wide (headless Chromium will not open a window under 500 px), and a probe that writes the real browser's
# layout of it and the rendered DOM into the outer page for --dump-dom to return. A number wraps when its
# text spans two line boxes.
PROBE_PAGE = """<!DOCTYPE html><html><head><meta charset="utf-8"><script>
function probe(frame) {
  const doc = frame.contentDocument, win = frame.contentWindow;
  const out = {scrollWidth: doc.documentElement.scrollWidth, viewport: win.innerWidth, wrapped: []};
  for (const td of doc.querySelectorAll("td.num")) {
    const range = doc.createRange();
    range.selectNodeContents(td);
    const tops = new Set(Array.from(range.getClientRects()).map((r) => Math.round(r.top)));
    if (tops.size > 1) out.wrapped.push(td.textContent);
  }
  document.body.setAttribute("data-layout", JSON.stringify(out));
  document.body.setAttribute("data-dom", doc.documentElement.outerHTML);
}
</script></head><body style="margin:0"><iframe src="report.html" onload="probe(this)"
 style="width: WIDTHpx; height: 2400px; border: 0"></iframe></body></html>"""
SECTIONS = ("channels", "ltv-cac", "models", "trends", "payback", "retention", "costs", "freshness", "quality", "build")


def _chromium(page: Path, width: int, tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    browser = [
        CHROMIUM,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--hide-scrollbars",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={tmp_path / f'profile-{width}'}",
        "--allow-file-access-from-files",  # the probe page reads the report's frame
        f"--window-size={max(width, 500)},2400",
    ]
    result = subprocess.run([*browser, *args, page.as_uri()], capture_output=True, text=True, timeout=180)
    assert result.returncode == 0, result.stderr[-2000:]
    return result


@pytest.mark.skipif(
    CHROMIUM is None,
    reason="NO BROWSER: chromium is not installed, so the HTML report was NOT "
    "checked in a real browser; install it with `apt-get install -y chromium` (.ci/run does)",
)
@pytest.mark.parametrize("width", [1400, 390])
def test_the_html_report_renders_in_chromium_and_shows_the_warehouse_figures(warehouse, con, tmp_path, width):
    """At desktop and phone width: every section, the headline figures equal to the warehouse's, no
    number wrapped, nothing wider than the screen but the tables and charts that scroll inside their box."""
    settings = build_settings(con, load_config())
    page = write_html(con, tmp_path / "report.html", settings)
    text = page.read_text(encoding="utf-8")
    # no network needed: no script, stylesheet link, remote image or font (xmlns URIs are names, not fetches)
    assert not any(bad in text for bad in ("<script", "<link", 'src="http', "url(http", "@import")), text[:500]
    probe = tmp_path / "probe.html"
    probe.write_text(PROBE_PAGE.replace("WIDTH", str(width)), encoding="utf-8")
    outer = _Dom()
    outer.feed(_chromium(probe, width, tmp_path, "--dump-dom").stdout)
    dom = outer.dom
    parsed = _Dom()
    parsed.feed(dom)
    assert parsed.external == [] and parsed.scripts == 0
    assert parsed.svgs >= 3  # LTV:CAC, spend / customers / CAC by month, payback curves
    for section in SECTIONS:
        assert section in parsed.ids, section
    layout = json.loads(outer.layout)
    assert layout["viewport"] == width
    assert layout["scrollWidth"] <= width, layout  # wide tables and charts scroll in their own box
    assert layout["wrapped"] == [], layout["wrapped"][:10]  # "1 612" never becomes "1" over "612"
    records = headline(con, settings["default_model"])
    assert records
    for record in records:  # every headline figure on the page equals the warehouse's, rounded
        for column in HTML_COLUMNS:
            if column.fmt == "band":
                continue
            want = format_value(record[column.key], column.fmt, record)
            assert parsed.cells[(record["channel"], column.key)] == want, (record["channel"], column.key)
        for key in ("ltv_cac_band_older_cohorts", "ltv_cac_band_predicted"):
            words = {"insufficient_data": "too few customers", None: "–"}.get(record[key], record[key])
            assert parsed.cells[(record["channel"], key)] == words
    channels = {r["channel"] for r in records}
    assert "unattributed" in channels
    rejected = con.execute("select count(*) from quality.rejected_rows").fetchall()[0][0]
    assert parsed.ids["rejected-total"] == str(rejected)
    assert "ad_spend/google_ads_2025-11_2026-10.csv" in dom  # a rejected value's file, with its line
    as_of = con.execute("select max(as_of_date) from meta.build_info").fetchall()[0][0]
    assert parsed.ids["as-of"] == str(as_of)
    assert parsed.ids["model"] == settings["default_model"]

    shot = tmp_path / "report.png"
    _chromium(probe, width, tmp_path, f"--screenshot={shot}")
    got_width, height, colours = _png_size_and_colours(shot)
    assert (got_width, height) == (max(width, 500), 2400) and colours > 50  # drawn, not a blank page
    keep = PROJECT_ROOT / "data" / f"report-screenshot-{width}.png"  # for people to look at (git-ignored)
    shutil.copy(shot, keep)


def test_payback_curves_never_decrease(con):
    """Each step adds one month's average margin per customer, so the curve can fall only in a month whose
    booked refunds outweigh its orders' margin: a true loss, shown as such. The sample has one such
    month (meta_ads, month 12: -2.24 per customer, against ~1 900 earned by then); every other step rises."""
    frame = charts.payback_frame(con)
    assert frame.height > 0
    falls = []
    for channel in frame["channel"].unique().to_list():
        part = frame.filter(frame["channel"] == channel).sort("month")
        values = part["cum_margin_per_customer"].to_list()
        monthly = part["margin_per_customer"].to_list()
        assert part["month"].to_list() == list(range(1, len(values) + 1)), channel
        assert values[0] == pytest.approx(monthly[0]) and values[0] > 0, channel
        for k in range(1, len(values)):  # each month adds that month's average margin per customer
            assert values[k] == pytest.approx(values[k - 1] + monthly[k]), (channel, k)
            if values[k] < values[k - 1]:
                falls.append((channel, k + 1, monthly[k]))
        assert len(set(part["cac_full"].to_list())) == 1, channel  # the CAC line does not move
    assert all(margin < 0 for *_, margin in falls)  # never by pooling, only by a month's net refunds
    assert len(falls) <= 1 and all(abs(margin) < 10 for *_, margin in falls), falls


def test_payback_pools_monthly_margins_not_cumulative_values():
    """Two cohorts: an old one of low earners lived 3 months, a young one of high earners 1. Pooling the
    cohorts' cumulative margins per month index falls from month 1 to 2 (the high earners leave the
    pool); the cumulative sum of pooled monthly margins does not."""
    con = duckdb.connect()
    con.execute("create schema marts")
    con.execute("""create table marts.cohort_ltv as select * from (values
        (date '2024-01-01', 'email', 'last_non_direct', 0, true, 10.0, 100.0, 100.0),
        (date '2024-01-01', 'email', 'last_non_direct', 1, true, 10.0, 10.0, 110.0),
        (date '2024-01-01', 'email', 'last_non_direct', 2, true, 10.0, 10.0, 120.0),
        (date '2024-03-01', 'email', 'last_non_direct', 0, true, 10.0, 900.0, 900.0)
    ) t(cohort_month, channel, attribution_model, month_index, month_complete, cohort_customers, margin, cum_margin)""")
    con.execute("""create table marts.channel_ltv as select * from (values
        (date '2024-01-01', 'email', 'last_non_direct', 10.0, 30.0), (date '2024-03-01', 'email', 'last_non_direct', 10.0, 50.0)
    ) t(cohort_month, channel, attribution_model, customers, cac_full)""")
    pooled_cumulative = [
        row[0]
        for row in con.execute(
            """select sum(cum_margin) / sum(cohort_customers) from marts.cohort_ltv group by month_index order by month_index"""
        ).fetchall()
    ]
    assert pooled_cumulative[1] < pooled_cumulative[0]  # the misleading curve the charts used to draw
    frame = charts.payback_frame(con)
    assert frame["cum_margin_per_customer"].to_list() == pytest.approx([50.0, 51.0, 52.0])
    assert frame["cac_full"].to_list() == pytest.approx([40.0] * 3)  # customer-weighted, one value


def test_cac_is_drawn_only_from_enough_new_customers(con):
    config = parse_config({"report": {"min_customers_for_cac": 25}})
    assert config.report_min_customers == 25 and load_config().report_min_customers == 10
    frame = charts.cac_frame(con, min_customers=25)
    assert frame.filter(frame["enough"]).height > 0 and frame.filter(~frame["enough"]).height > 0
    assert (frame.filter(frame["enough"])["new_customers"] >= 25).all()
    assert (frame.filter(~frame["enough"])["new_customers"] < 25).all()
    fig = charts.cac_figure(frame, 25)
    channels = sorted(frame["channel"].unique().to_list())
    assert "unattributed" in channels  # every channel has its row of panels, spend or not
    assert len(fig.axes) == 3 * len(channels)
    for row, channel in enumerate(channels):
        cac_axis = fig.axes[3 * row + 2]
        assert cac_axis.get_ylim()[0] == 0 and fig.axes[3 * row].get_ylim()[0] == 0
        joined, *hollow = cac_axis.get_lines()
        few = frame.filter((frame["channel"] == channel) & ~frame["enough"] & frame["cac_full"].is_not_null())
        drawn = [y for y in joined.get_ydata() if y == y]  # NaN breaks the line where a month has too few
        assert (
            len(drawn)
            == frame.filter((frame["channel"] == channel) & frame["enough"] & frame["cac_full"].is_not_null()).height
        )
        assert (few.height > 0) == bool(hollow)
        assert all(line.get_markerfacecolor() == "none" and line.get_linestyle() in ("None", "none") for line in hollow)
    import matplotlib.pyplot as plt

    plt.close(fig)


def test_charts_command_writes_the_three_pictures(warehouse, tmp_path):
    written = charts.write_charts(warehouse, tmp_path)
    assert sorted(p.name for p in written) == ["cac_trend.png", "ltv_cac.png", "payback_curves.png"]
    assert all(p.stat().st_size > 10_000 for p in written)
