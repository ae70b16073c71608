"""Issue 26's file cases through the real CLI (`python -m pipelines validate`, which reads exactly as a run
does and touches no warehouse): each was a defect a user met, each now says what the file is."""

from __future__ import annotations

import subprocess

import pytest
import xlsxwriter
from conftest import PYTHON, ROOT

pytestmark = pytest.mark.slow


def validate(*paths, source: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [PYTHON, "-m", "pipelines", "validate", *map(str, paths), *(["--source", source] if source else [])],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_an_empty_file_an_xls_and_every_bad_file_of_a_source_are_named(tmp_path):
    folder = tmp_path / "orders"
    folder.mkdir()
    (folder / "empty.csv").write_bytes(b"")
    (folder / "old.xls").write_bytes(bytes.fromhex("d0cf11e0a1b11ae1") + b"\0" * 504)
    result = validate(folder)
    assert result.returncode == 1
    assert "empty.csv: ERROR" in result.stdout and "the file is empty (0 bytes)" in result.stdout
    assert "old.xls: ERROR" in result.stdout and "save it as .xlsx or CSV" in result.stdout
    assert "unrecognised layout" not in result.stdout and "cannot decode" not in result.stdout


def test_a_two_row_header_serial_dates_and_a_ragged_line(tmp_path):
    book_path = tmp_path / "orders.xlsx"
    book = xlsxwriter.Workbook(str(book_path))
    sheet = book.add_worksheet()
    for column, name in enumerate(("order_id", "customer_id", "created_at", "status", "revenue", "currency")):
        sheet.write(0, column, name)
    sheet.merge_range(0, 6, 0, 8, "UTM")
    for column, name in enumerate(("source", "medium", "campaign"), start=6):
        sheet.write(1, column, name)
    for column, value in enumerate(("A1", "c1", "2024-03-05 10:00", "paid", "990", "RUB", "google", "cpc", "brand")):
        sheet.write(2, column, value)
    book.close()
    csv_path = tmp_path / "orders.csv"
    csv_path.write_text(
        "order_id,customer_id,created_at,status,revenue,currency\n"
        "B1,c1,45356,paid,10,RUB\n"  # an Excel serial day: 5 March 2024
        "B2,Smith, John,2024-03-05,paid,20,RUB\n",  # an unquoted comma: more cells than the header
        encoding="utf-8",
    )
    result = validate(book_path, csv_path, source="orders")
    lines = result.stdout.splitlines()
    book_line = next(line for line in lines if line.startswith(str(book_path)))
    # the group row is a structural line, the sub-header row the header: one data row, nothing rejected
    assert "1 valid, 0 rejected, 1 structural lines skipped" in book_line
    csv_line = next(line for line in lines if line.startswith(str(csv_path)))
    assert "2 rows read, 1 valid, 1 rejected" in csv_line  # the serial date is read; the ragged line is not
    assert any("line 3" in line and "more cells than the header" in line for line in lines)


def test_an_empty_channel_rule_list_is_refused_naming_the_key(tmp_path):
    config = tmp_path / "settings.toml"
    config.write_text("[channels]\nrules = []\n", encoding="utf-8")
    result = subprocess.run(
        [PYTHON, "-m", "pipelines", "run", "--config", str(config), "--warehouse", str(tmp_path / "w.duckdb")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2
    assert "config error: " in result.stderr and "channels.rules = []: expected at least one" in result.stderr
    assert "Traceback" not in result.stderr
