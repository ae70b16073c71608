"""The report people open: the terminal headline table, the self-contained HTML file rendered by a real
headless Chromium, and charts that cannot mislead (payback curves never fall, small CAC counts marked)."""

from __future__ import annotations

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
from pipelines.reporting.headline import HEADLINE_COLUMNS, format_value, headline
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
        cells = line.split()
        assert cells[1] == format_value(record["customers"], "int").split()[0] or " ".join(cells[1:3]).startswith(
            format_value(record["customers"], "int")
        )
        assert format_value(record["cac_full"], "int") in line and format_value(record["ltv_cac_12"], "ratio") in line
        assert (record["ltv_cac_band"] or "–") in line
    assert "Rejected rows: 16" in out  # the sample's planted bad rows


class _Dom(HTMLParser):
    """The headline table's cells, the section headings and every external reference of a page."""

    def __init__(self) -> None:
        super().__init__()
        self.cells: dict[tuple[str, str], str] = {}
        self.ids: dict[str, str] = {}
        self.external: list[str] = []
        self.scripts = 0
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

    def handle_data(self, data):
        self._text.append(data)

    def handle_endtag(self, tag):
        if tag == "td" and self._col:
            self.cells[(self._row, self._col)] = "".join(self._text).strip()
            self._col = None
        if self._id and tag in ("h2", "b", "span", "table"):
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


@pytest.mark.skipif(
    CHROMIUM is None,
    reason="NO BROWSER: chromium is not installed, so the HTML report was NOT "
    "checked in a real browser; install it with `apt-get install -y chromium` (.ci/run does)",
)
def test_the_html_report_renders_in_chromium_and_shows_the_warehouse_figures(warehouse, con, tmp_path):
    page = write_html(con, tmp_path / "report.html", load_config())
    text = page.read_text(encoding="utf-8")
    # no network needed: no script, stylesheet link, remote image or font (xmlns URIs are names, not fetches)
    assert not any(bad in text for bad in ("<script", "<link", 'src="http', "url(http", "@import")), text[:500]
    profile = tmp_path / "profile"
    browser = [
        CHROMIUM,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--hide-scrollbars",
        "--no-first-run",
        f"--user-data-dir={profile}",
        "--window-size=1280,2400",
    ]
    dom = subprocess.run([*browser, "--dump-dom", page.as_uri()], capture_output=True, text=True, timeout=120)
    assert dom.returncode == 0 and "<table" in dom.stdout, dom.stderr[-2000:]
    parsed = _Dom()
    parsed.feed(dom.stdout)
    assert parsed.external == [] and parsed.scripts == 0
    assert parsed.svgs >= 3  # CAC trend, payback curves, LTV:CAC bands
    for section in ("channels", "cac", "payback", "ltv-cac", "quality", "build"):
        assert section in parsed.ids, section
    records = headline(con, "last_non_direct")
    assert records
    for record in records:  # every headline figure on the page equals the warehouse's, rounded
        for column in HEADLINE_COLUMNS:
            assert parsed.cells[(record["channel"], column.key)] == format_value(record[column.key], column.fmt), (
                record["channel"],
                column.key,
            )
    rejected = con.execute("select count(*) from quality.rejected_rows").fetchall()[0][0]
    assert parsed.ids["rejected-total"] == str(rejected)
    as_of = con.execute("select max(as_of_date) from meta.build_info").fetchall()[0][0]
    assert parsed.ids["as-of"] == str(as_of)

    shot = tmp_path / "report.png"
    result = subprocess.run(
        [*browser, f"--screenshot={shot}", page.as_uri()], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0 and shot.exists(), result.stderr[-2000:]
    width, height, colours = _png_size_and_colours(shot)
    assert (width, height) == (1280, 2400) and colours > 50  # something was drawn, not a blank page
    keep = PROJECT_ROOT / "data" / "report-screenshot.png"  # for people to look at (git-ignored)
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
    ax = fig.axes[0]
    assert ax.get_ylim()[0] == 0
    joined = [line for line in ax.get_lines() if line.get_linestyle() not in ("None", "none", "")]
    styles = {(line.get_marker(), line.get_linestyle(), line.get_color()) for line in joined}
    assert len(styles) == len(joined)  # every channel's line is told apart by marker, dash and colour
    hollow = [line for line in ax.get_lines() if line.get_linestyle() in ("None", "none") and line.get_xdata().size]
    assert hollow and all(line.get_markerfacecolor() == "none" for line in hollow)
    import matplotlib.pyplot as plt

    plt.close(fig)


def test_charts_command_writes_the_three_pictures(warehouse, tmp_path):
    written = charts.write_charts(warehouse, tmp_path)
    assert sorted(p.name for p in written) == ["cac_trend.png", "ltv_cac.png", "payback_curves.png"]
    assert all(p.stat().st_size > 10_000 for p in written)
