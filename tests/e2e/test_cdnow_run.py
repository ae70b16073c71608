"""Real history through the real CLI: the CDNOW transactions (1997-98, shipped in the `lifetimes`
package) as an orders export, `python -m pipelines run`, cohort sizes compared with a plain count from
the file.

The file is `customer_id date(yyyymmdd) number_of_cds dollar_value`, whitespace-separated; it becomes a
canonical orders CSV (order id = line number, every order paid, USD) without touching its dates. The
run is told that only orders exist (`--allow-missing`): no ad spend, costs or touches were recorded.
"""

from __future__ import annotations

import csv
import json
import subprocess
import sysconfig
from collections import Counter
from pathlib import Path

import pytest
from conftest import PYTHON, ROOT, assert_ok, make_site

pytestmark = pytest.mark.slow

CDNOW = Path(sysconfig.get_paths()["purelib"]) / "lifetimes" / "datasets" / "CDNOW_master.txt"


def _transactions() -> list[tuple[str, str, str]]:
    lines = CDNOW.read_text().splitlines()[1:]  # the first line names the columns
    return [tuple(line.split()[i] for i in (0, 1, 3)) for line in lines if line.strip()]


@pytest.mark.skipif(not CDNOW.exists(), reason=f"CDNOW data file not found at {CDNOW}")
def test_cdnow_loads_with_its_dates_and_cohort_sizes_equal_a_plain_count(tmp_path):
    site = make_site(tmp_path / "cdnow")
    orders = site.raw / "orders"
    orders.mkdir(parents=True)
    rows = _transactions()
    with (orders / "cdnow_orders.csv").open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["order_id", "customer_id", "created_at", "status", "revenue", "currency"])
        for line, (customer, day, dollars) in enumerate(rows, start=1):
            writer.writerow([f"{line:06d}", customer, day, "paid", dollars, "USD"])
    config = site.root / "settings.toml"
    config.write_text('[reporting]\ncurrency = "USD"\n[periods]\ngrains = ["month"]\n', encoding="utf-8")
    # `run` covers every month: its first partition reaches back to the earliest data
    result = site.cli("run", "--config", str(config), "--allow-missing", timeout=600)
    assert_ok(result)

    first = {}
    for customer, day, _ in rows:  # the file is sorted by customer, then date
        first.setdefault(customer, day[:4] + "-" + day[4:6])
    expected = sorted(Counter(first.values()).items())
    code = (
        "import duckdb, json, sys; con = duckdb.connect(sys.argv[1], read_only=True); "
        "print(json.dumps([con.sql(q).fetchall() for q in sys.argv[2:]], default=str))"
    )
    queries = [
        "select strftime(cohort_month, '%Y-%m'), round(sum(customers)) from marts.channel_ltv "
        "where attribution_model = 'last_non_direct' group by all order by 1",
        "select count(*), min(created_at)::date, max(created_at)::date from raw.orders",
        "select count(*) from quality.rejected_rows where source = 'orders'",
    ]
    out = subprocess.run(
        [PYTHON, "-c", code, str(site.warehouse), *queries], capture_output=True, text=True, timeout=120, cwd=ROOT
    )
    assert out.returncode == 0, out.stderr
    cohorts, loaded, rejected = json.loads(out.stdout)
    assert [tuple(r) for r in cohorts] == [(month, float(n)) for month, n in expected]
    assert loaded == [[len(rows), "1997-01-01", "1998-06-30"]]
    assert rejected == [[0]]
