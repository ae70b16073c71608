"""Copies of one record (docs/metrics.md, issue 26): decided by content, never by file modification times
or listing order; every differing copy listed with both values and both files; a tie decided by the file
name is said. The same bytes, copied in any order with any timestamps, give the same tables."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import duckdb
from hypothesis import given, settings
from hypothesis import strategies as st

from pipelines.core.db import rows
from pipelines.ingest.load import ingest_source

SECRET = "s3cret"
HEADER = "order_id,customer_id,created_at,status,revenue,currency\n"
# three exports of overlapping orders: the March export, a re-download with a corrected amount (its rows
# reach 5 March), and a file with the same last date as the March export (a tie, decided by name)
FILES = {
    "orders/2024-03.csv": HEADER + "o1,c1,2024-03-01 10:00,paid,100,RUB\no2,c2,2024-03-03 11:00,paid,70,RUB\n",
    "orders/redownload.csv": HEADER + "o1,c1,2024-03-01 10:00,paid,120,RUB\no3,c3,2024-03-05 09:00,paid,30,RUB\n",
    "orders/crm-dump.csv": HEADER + "o2,c2,2024-03-03 11:00,completed,70,RUB\n",
}


def ingest(raw: Path) -> tuple[list, list, int]:
    con = duckdb.connect()
    try:
        load = ingest_source(con, "orders", raw, "run", SECRET)
        orders = rows(con, "select order_id, status, revenue, source_file, source_row from raw.orders order by 1")
        conflicts = rows(con, "select * exclude (run_id) from quality.conflicts order by all")
        return orders, conflicts, load.tied_conflicts
    finally:
        con.close()


def write_all(raw: Path, order: list[str], mtimes: list[int]) -> None:
    for name, mtime in zip(order, mtimes, strict=True):
        path = raw / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(FILES[name], encoding="utf-8")
        os.utime(path, (mtime, mtime))


def test_differing_copies_are_decided_by_content_and_listed(tmp_path):
    write_all(tmp_path, list(FILES), [1_700_000_300, 1_700_000_100, 1_700_000_200])
    orders, conflicts, tied = ingest(tmp_path)
    assert orders == [
        ("o1", "paid", 120.0, "orders/redownload.csv", 2),  # its rows reach 5 March: the later export
        ("o2", "completed", 70.0, "orders/crm-dump.csv", 2),  # both end 3 March: the larger name wins
        ("o3", "paid", 30.0, "orders/redownload.csv", 3),
    ]
    assert conflicts == [
        (
            "orders",
            "o1",
            "orders/redownload.csv",
            2,
            "orders/2024-03.csv",
            2,
            "revenue",
            "revenue=120.0",
            "revenue=100.0",
            "latest row date",
        ),
        (
            "orders",
            "o2",
            "orders/crm-dump.csv",
            2,
            "orders/2024-03.csv",
            3,
            "status",
            "status=completed",
            "status=paid",
            "file name",
        ),
    ]
    assert tied == 1  # the run's summary warns about it (pipelines/orchestration/raw_assets.py)


@settings(max_examples=12, deadline=None)
@given(
    order=st.permutations(list(FILES)),
    mtimes=st.lists(st.integers(1_600_000_000, 1_800_000_000), min_size=3, max_size=3),
)
def test_the_same_bytes_in_any_order_with_any_timestamps_give_the_same_tables(tmp_path_factory, order, mtimes):
    reference = tmp_path_factory.mktemp("reference")
    write_all(reference, list(FILES), [1_700_000_000] * 3)
    expected = ingest(reference)
    raw = tmp_path_factory.mktemp("permuted")
    write_all(raw, order, mtimes)
    assert ingest(raw) == expected
    # a plain `cp -r` (new timestamps, the file system's own listing order) changes nothing either
    copied = tmp_path_factory.mktemp("copied") / "raw"
    shutil.copytree(raw, copied)
    assert ingest(copied) == expected
