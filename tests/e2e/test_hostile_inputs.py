"""Hostile but realistic inputs through the real CLI (issue 13): nothing wrong is published, every
doubtful row is quarantined with its reason, messages name what and where and never show personal data.

Each test clones the session's published baseline and asserts the published file is byte-identical
after a refused run, or correctly updated after an accepted one.
"""

from __future__ import annotations

import csv
import hashlib
import shutil
import subprocess
from datetime import date
from pathlib import Path

import pytest
from conftest import FULL_RANGE, PYTHON, ROOT, assert_ok
from rawdata import HEADERS

pytestmark = pytest.mark.slow


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def query(path: Path, sql: str) -> list:
    code = (
        "import duckdb, json, sys; con = duckdb.connect(sys.argv[1], read_only=True); "
        "print(json.dumps(con.execute(sys.argv[2]).fetchall(), default=str))"
    )
    out = subprocess.run([PYTHON, "-c", code, str(path), sql], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    import json

    return json.loads(out.stdout)


def backfill(site, *extra: str) -> subprocess.CompletedProcess:
    """One month: ingest reads every file whatever the range, and the marts of one month are the quickest."""
    return site.cli("backfill", "--from", FULL_RANGE[0], "--to", FULL_RANGE[0], *extra)


def last_line(result: subprocess.CompletedProcess) -> str:
    return result.stderr.strip().splitlines()[-1]


def append_rows(path: Path, source: str, rows: list[dict]) -> None:
    with path.open("a", newline="", encoding="utf-8") as handle:
        csv.DictWriter(handle, fieldnames=HEADERS[source], lineterminator="\n").writerows(rows)


def order(order_id: str, created_at: str, revenue: str = "1000.00", **extra: str) -> dict:
    return {
        "order_id": order_id,
        "customer_id": "C0001",
        "created_at": created_at,
        "status": "paid",
        "revenue": revenue,
        "currency": "RUB",
        **extra,
    }


@pytest.mark.parametrize("case", ["typo", "empty"])
def test_a_wrong_raw_folder_is_refused_before_anything_runs(site, tmp_path, case):
    before = sha256(site.warehouse)
    raw = tmp_path / "typo"
    if case == "empty":
        raw.mkdir()
    command = [a if a != str(site.raw) else str(raw) for a in site.command("run")]
    result = subprocess.run(command, env=site.env(), capture_output=True, text=True, timeout=120)
    assert result.returncode == 2, result.stderr
    expected = "does not exist: check --raw" if case == "typo" else "holds none of the source folders"
    assert expected in last_line(result) and str(raw) in last_line(result)
    assert "Traceback" not in result.stderr
    assert sha256(site.warehouse) == before


def test_a_missing_source_folder_fails_naming_it(site, tmp_path):
    before = sha256(site.warehouse)
    orders = query(site.warehouse, "select count(*) from raw.orders")[0][0]
    (site.raw / "orders").rename(tmp_path / "orders")
    result = backfill(site)
    assert result.returncode == 1
    assert (
        f"orders: no orders/ folder in {site.raw}; the published warehouse holds {orders} orders rows from 1 file(s)"
    ) in result.stderr
    assert "--allow-missing" in result.stderr and "Traceback" not in result.stderr
    assert sha256(site.warehouse) == before
    # --allow-missing is tested with --allow-shrink below (one accepted run for both)


def test_a_source_that_shrank_sharply_is_refused_and_both_are_allowed_when_said(site):
    before = sha256(site.warehouse)
    published = query(site.warehouse, "select count(*) from raw.touchpoints")[0][0]
    path = site.raw / "touchpoints" / "touchpoints.csv"
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    path.write_text("".join(lines[:6]), encoding="utf-8")  # a partial copy: the header and five visits
    result = backfill(site)
    assert result.returncode == 1
    assert (
        f"touchpoints: 5 data rows in 1 file(s) now, against {published} in 1 file(s) in the published warehouse"
    ) in result.stderr
    assert "quality.max_shrink_share 50%" in result.stderr and "--allow-shrink" in result.stderr
    assert sha256(site.warehouse) == before

    # said explicitly: published and reconciled; and a folder allowed to be missing takes its rows with it
    orders = query(site.warehouse, "select count(*) from raw.orders")[0][0]
    shutil.rmtree(site.raw / "costs")
    result = backfill(site, "--allow-shrink", "--allow-missing")
    assert_ok(result)
    assert query(
        site.warehouse, "select rows_read, rows_loaded from quality.file_loads where source = 'touchpoints'"
    ) == [[5, 5]]
    assert query(site.warehouse, "select count(*) from raw.touchpoints") == [[5]]
    assert f"costs: no costs/ folder in {site.raw}; built without it (--allow-missing)" in result.stderr
    assert query(site.warehouse, "select count(*) from raw.costs") == [[0]]
    assert query(site.warehouse, "select count(*) from raw.orders") == [[orders]]


def test_implausible_and_contradictory_rows_are_quarantined_and_folders_match_case_blind(baseline, site):
    _, fingerprints = baseline
    published_as_of = query(site.warehouse, "select max(as_of_date) from meta.build_info")[0][0]
    orders = site.raw / "orders" / "orders.csv"
    lines = orders.read_text(encoding="utf-8").splitlines()
    n = len(lines)
    next_year = date.today().year + 1
    append_rows(
        orders,
        "orders",
        [
            order("X-placeholder", "2099-12-31"),  # line n+1
            order("X-next-year", f"{next_year}-06-01 10:00"),  # n+2
            order("X-huge", "2024-05-05 10:00", revenue="1e30"),  # n+3
            order("X-early-refund", "2024-05-05 10:00", refunded_amount="100", refunded_at="2024-05-01"),  # n+4
            order("X-twice", "2024-05-06 10:00", revenue="100.00"),  # n+5
            order("X-twice", "2024-05-06 10:00", revenue="900.00"),  # n+6
            order("X-1997", "1997-01-01 10:00", revenue="10.00"),  # n+7: CDNOW era, plausible
        ],
    )
    # a folder as a person names it, and folders/files the pipeline does not know
    (site.raw / "costs").rename(site.raw / "Costs")
    (site.raw / "refunds").mkdir()
    (site.raw / "refunds" / "r.csv").write_text("order_id,amount\nO1,5\n", encoding="utf-8")
    (site.raw / "notes.txt").write_text("exports of March\n", encoding="utf-8")
    (site.raw / "orders" / "invoice.pdf").write_bytes(b"%PDF-1.4 not an export")
    (site.raw / "orders" / "orders_next.csv.crdownload").write_bytes(b"order_id,created_at\nhalf-down")

    # the test data holds ~60 orders: six rejects are over the default 5 % threshold
    config = site.root / "lenient.toml"
    config.write_text(
        (ROOT / "acquisition.toml")
        .read_text(encoding="utf-8")
        .replace("max_reject_share = 0.05", "max_reject_share = 0.5"),
        encoding="utf-8",
    )
    result = backfill(site, "--config", str(config))
    assert_ok(result)
    rejected = query(
        site.warehouse,
        """
        select source_row, column_name, check_name, raw_value, reason from quality.rejected_rows
        where source = 'orders' order by source_row""",
    )
    max_date = query(site.warehouse, "select current_date + 1")[0][0]  # the day after the run's date
    assert rejected == [
        [n + 1, "created_at", "max_date", "2099-12-31", f"in the future: after quality.max_date {max_date}"],
        [
            n + 2,
            "created_at",
            "max_date",
            f"{next_year}-06-01 10:00",
            f"in the future: after quality.max_date {max_date}",
        ],
        [n + 3, "revenue", "max_amount", "1e30", "over quality.max_amount 1e12"],
        [n + 4, "refunded_at", "refund_not_before_order", "2024-05-01", "refunded_at is before created_at"],
        [n + 5, "order_id", "conflicting_duplicate", "X-twice", f"conflicting duplicate of line {n + 6}"],
        [n + 6, "order_id", "conflicting_duplicate", "X-twice", f"conflicting duplicate of line {n + 5}"],
    ]
    # the placeholder never moved the as-of date; the 1997 order is in
    assert query(site.warehouse, "select max(as_of_date) from meta.build_info")[0][0] == published_as_of
    assert query(site.warehouse, "select count(*) from marts.orders where order_id = 'X-1997'") == [[1]]
    assert query(
        site.warehouse,
        """select rows_read, rows_loaded, rows_rejected, duplicates_dropped
                                    from quality.file_loads where source = 'orders'""",
    ) == [[n - 1 + 7, n - 1 + 1, 6, 0]]
    # Costs/ is costs/: every cost still loaded (from its new path)
    assert query(site.warehouse, "select count(*), min(source_file) from raw.costs") == [
        [
            fingerprints["tables"]["raw.costs"].split(":")[1]
            and int(fingerprints["tables"]["raw.costs"].split(":")[1]),
            "Costs/costs.csv",
        ]
    ]
    # what was not read is said in the run summary
    assert f"warning: unknown folder refunds/ in {site.raw} was not read" in result.stderr
    assert f"warning: file notes.txt in {site.raw} is outside a source folder and was not read" in result.stderr
    assert "warning: orders/invoice.pdf is not an export (.pdf file) and was not read" in result.stderr
    assert "warning: orders/orders_next.csv.crdownload is not an export (.crdownload file)" in result.stderr


def test_a_channel_rule_duckdb_cannot_compile_is_a_config_error_naming_rule_and_key(site, tmp_path):
    before = sha256(site.warehouse)
    config = tmp_path / "bad.toml"
    config.write_text(
        '[[channels.rules]]\nchannel = "google_ads"\nplatform = "^google"\n'
        '[[channels.rules]]\nchannel = "paid_other"\nmedium = "^(?!organic)"\n',
        encoding="utf-8",
    )
    result = backfill(site, "--config", str(config))
    assert result.returncode == 2
    assert last_line(result).startswith(
        f"config error: {config}: channels.rules[2].medium = '^(?!organic)' (paid_other)"
    )
    assert "RE2" in last_line(result)
    assert sha256(site.warehouse) == before


def test_failure_messages_and_dagster_storage_carry_no_personal_data(site):
    before = sha256(site.warehouse)
    path = site.raw / "customers" / "customers.csv"
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    lines[9] = 'C9999,"broken@example.com,+7 912 345-67-89,2024-03-01 09:00:00\n'  # an unbalanced quote
    path.write_text("".join(lines), encoding="utf-8")
    result = backfill(site)
    assert result.returncode == 1
    assert "customers" in result.stderr
    emails = [line.split(",")[1].strip('"') for line in lines[1:]]
    leaked = [e for e in emails if e in result.stderr] + ["912 345-67-89"] * ("912 345-67-89" in result.stderr)
    assert leaked == []
    assert max(len(line) for line in result.stderr.splitlines()) < 2500
    stored = b"".join(p.read_bytes() for p in site.home.rglob("*") if p.is_file())
    assert b"@example.com" not in stored and b"912 345-67-89" not in stored
    assert sha256(site.warehouse) == before
