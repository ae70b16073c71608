"""Hostile files through the real CLI, the readers' rows of issue 13's table: a cut-off last line, a
Latin-1 file, an unbalanced quote, headers typed by a person. Each run's published warehouse is read
back (or proved byte-identical when the run is refused)."""

from __future__ import annotations

import hashlib
import json
import subprocess

import pytest
from conftest import FULL_RANGE, PYTHON, assert_ok

pytestmark = pytest.mark.slow


def backfill(site) -> subprocess.CompletedProcess:
    return site.cli("backfill", "--from", FULL_RANGE[0], "--to", FULL_RANGE[1])


def query(site, sql: str) -> list:
    code = (
        "import duckdb, json, sys; con = duckdb.connect(sys.argv[1], read_only=True); "
        "print(json.dumps(con.execute(sys.argv[2]).fetchall(), default=str))"
    )
    out = subprocess.run([PYTHON, "-c", code, str(site.warehouse), sql], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def test_a_cut_off_last_line_is_quarantined_not_loaded_as_a_rate(site):
    # `31.10.2024;EUR;9` where the download stopped inside `99.1234`
    (site.raw / "fx_rates" / "cbr_tail.csv").write_bytes(
        b"date;currency;rate\n29.10.2024;EUR;99,0012\n30.10.2024;EUR;99,0456\n31.10.2024;EUR;9"
    )
    assert_ok(backfill(site))
    assert query(site, "select date, rate from raw.fx_rates where currency = 'EUR' order by date") == [
        ["2024-10-29", 99.0012],
        ["2024-10-30", 99.0456],
    ]
    rejected = query(
        site, "select source_file, source_row, check_name, reason from quality.rejected_rows where source = 'fx_rates'"
    )
    assert [r[:3] for r in rejected] == [["fx_rates/cbr_tail.csv", 4, "whole_line"]]
    assert "cut off" in rejected[0][3]
    assert query(site, "select notes from quality.file_loads where source_file = 'fx_rates/cbr_tail.csv'") == [
        ["line 4 looks cut off"]
    ]


def test_a_latin1_file_is_read_as_latin1_and_the_guess_is_recorded(site):
    (site.raw / "orders" / "orders_fr.csv").write_bytes(
        "order_id,customer_id,created_at,status,revenue,currency,utm_source,utm_campaign\n"
        "FR-1,C0001,2024-05-02 10:00,paid,100,RUB,newsletter,café crème\n"
        "FR-2,C0002,2024-05-03 10:00,paid,100,RUB,newsletter,déjà vu\n".encode("latin-1")
    )
    assert_ok(backfill(site))
    assert query(site, "select utm_campaign from raw.orders where order_id like 'FR-%' order by order_id") == [
        ["café crème"],
        ["déjà vu"],
    ]
    encoding, notes = query(
        site, "select encoding, notes from quality.file_loads where source_file = 'orders/orders_fr.csv'"
    )[0]
    assert encoding in ("cp1252", "iso8859-15") and notes.startswith("encoding guessed (confidence ")


def test_an_unbalanced_quote_is_named_at_its_line_with_a_masked_excerpt(site):
    before = hashlib.sha256(site.warehouse.read_bytes()).hexdigest()
    path = site.raw / "customers" / "customers.csv"
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    lines[9] = 'C9999,"ann.smith@example.com,+7 912 345-67-89,2024-03-01 09:00:00\n'  # line 10 of the file
    path.write_text("".join(lines), encoding="utf-8")
    result = backfill(site)
    assert result.returncode == 1
    message = next(line for line in result.stderr.splitlines() if "cannot parse as CSV" in line)
    assert "customers/customers.csv:10:" in message and "from line 10 on" in message
    assert "a***@e***" in message and "ann.smith" not in message and "912 345-67-89" not in message
    assert len(message) < 600
    assert hashlib.sha256(site.warehouse.read_bytes()).hexdigest() == before


def test_headers_as_people_type_them_load_and_a_typo_is_named(site):
    (site.raw / "orders" / "orders_typed.csv").write_text(
        "Order ID,Customer ID,Created At,Status,Revenue,Cost of goods,Currency,UTM Source,UTM_Medium,UTM Campain\n"
        "T-1,C0001,2024-05-04 10:00,paid,1000,600,RUB,google,cpc,brand\n",
        encoding="utf-8",
    )
    assert_ok(backfill(site))
    assert query(
        site, "select cost_of_goods, utm_source, utm_medium, utm_campaign from raw.orders where order_id = 'T-1'"
    ) == [[600.0, "google", "cpc", None]]
    assert query(site, "select notes from quality.file_loads where source_file = 'orders/orders_typed.csv'") == [
        ["column 'UTM Campain' is not read: did you mean utm_campaign?"]
    ]
