"""The identity graph's incremental path (pipelines/transform/models/identity_graph.py): after every change
of its inputs, the patched tables equal a full rebuild of the same inputs in a fresh warehouse, and a run
with no change writes nothing. The graph runs through the real runner (run_model) on DuckDB."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime

import duckdb
import polars as pl
import pytest
from conftest import insert, make_config, new_warehouse

from pipelines.core.db import rows, scalar
from pipelines.ingest.load import create_quality_tables
from pipelines.transform.models import identity_graph
from pipelines.transform.params import EARLIEST, LATEST, model_params
from pipelines.transform.runner import discover_models, run_model

INPUTS = ("raw.orders", "raw.customers", "raw.touchpoints")
OUTPUTS = ("staging.customer_identifiers", "quality.identity_conflicts", identity_graph.STATE)
CONFIG = make_config(identity_max_links=3)  # low, so a few orders make a phone too common
MODELS = {m.table: m for m in discover_models()}


@pytest.fixture(autouse=True)
def patch_every_change(monkeypatch):
    # the fixtures are tiny: any change is more than 20 % of them, so the threshold is lifted here
    monkeypatch.setattr(identity_graph, "FULL_FRACTION", float("inf"))


def graph(con, config=CONFIG) -> str:
    """Run the identity graph (and the view it reads) through the runner; returns how it wrote."""
    params = model_params(config, (EARLIEST, LATEST), date(2024, 12, 31))
    for table in ("staging.customers", "staging.customer_identifiers"):
        run_model(con, MODELS[table], params)
    return identity_graph.last_mode


def order(order_id: str, **values) -> dict:
    return {"order_id": order_id, "created_at": datetime(2024, 3, 1), "status": "paid", "revenue": 1.0} | values


def crm(customer_id: str, **values) -> dict:
    return {"customer_id": customer_id, "created_at": datetime(2024, 1, 1)} | values


def snapshot(con) -> dict[str, pl.DataFrame]:
    out = {}
    for name in OUTPUTS:
        frame = con.sql(f"select * from {name}").pl()
        out[name] = frame.sort(frame.columns, nulls_last=True)
    return out


def rebuilt(con, config=CONFIG) -> dict[str, pl.DataFrame]:
    """The same inputs in a fresh warehouse, built whole."""
    full = new_warehouse(config)
    for name in INPUTS:
        frame = con.sql(f"select * from {name}").pl()  # noqa: F841 (read by DuckDB)
        full.execute(f"insert into {name} select * from frame")
    assert graph(full, config) == "full"
    return snapshot(full)


def assert_equals_full(con, config=CONFIG) -> None:
    got, expected = snapshot(con), rebuilt(con, config)
    for name in OUTPUTS:
        assert got[name].equals(expected[name]), f"{name}\n{got[name]}\n{expected[name]}"


def keys(con) -> dict[str, str]:
    return dict(rows(con, "select identifier, customer_key from staging.customer_identifiers"))


def writes(con) -> list[tuple]:
    """The runner's log of the graph's writes (older entries are pruned by the next write)."""
    return rows(con, "select * from meta.model_writes where table_name = 'staging.customer_identifiers' order by all")


def test_each_kind_of_change_equals_a_full_rebuild(warehouse):
    con = warehouse
    insert(con, "raw.customers", [crm("c1", email_key="m1"), crm("c2", phone_key="t2")])
    insert(
        con,
        "raw.orders",
        [
            order("o1", customer_id="c1", visitor_id="w1"),
            order("o2", email_key="m3", phone_key="t3"),
            order("o3", email_key="m4", phone_key="shop"),
            order("o4", email_key="m5", phone_key="shop"),
            order("o5", email_key="m6", phone_key="shop"),  # three e-mails: the phone still links them
        ],
    )
    insert(con, "raw.touchpoints", [{"visitor_id": "w2", "customer_id": "c2", "ts": datetime(2024, 3, 1)}])
    assert graph(con) == "full"
    assert keys(con)["email:m6"] == "email:m4"
    assert_equals_full(con)

    # nothing new: nothing rewritten, no bookkeeping written
    before, before_writes = snapshot(con), writes(con)
    state = rows(con, "select * from meta.model_state where table_name = 'staging.customer_identifiers'")
    assert graph(con) == "unchanged"
    assert writes(con) == before_writes
    assert rows(con, "select * from meta.model_state where table_name = 'staging.customer_identifiers'") == state
    after = snapshot(con)
    assert all(after[name].equals(before[name]) for name in OUTPUTS)

    steps = [
        # (a) a new customer
        ("insert", [order("a1", email_key="new", visitor_id="w9")], {"email:new": "email:new"}),
        # (b) an e-mail joins a CRM customer
        ("insert", [order("b1", customer_id="c2", email_key="m2")], {"email:m2": "crm:c2"}),
        # (c) two components merge: m3's is re-keyed to the CRM id
        ("insert", [order("c1", email_key="m1", phone_key="t3")], {"email:m3": "crm:c1", "phone:t3": "crm:c1"}),
        # (d) a fourth e-mail makes the phone too common: it links no one any more
        ("insert", [order("d1", email_key="m7", phone_key="shop")], {"email:m5": "email:m5", "email:m7": "email:m7"}),
        # (e) the order removed again: the phone links the three e-mails again
        ("delete", "d1", {"email:m5": "email:m4", "phone:shop": "email:m4"}),
        # (e) the merging order removed: the component splits
        ("delete", "c1", {"email:m3": "email:m3", "email:m1": "crm:c1"}),
        # a CRM record removed: its phone leaves the graph; the order naming the CRM id keeps it
        ("delete_crm", "c2", {"phone:t2": None, "email:m2": "crm:c2"}),
    ]
    for action, change, expected in steps:
        before_writes = writes(con)
        if action == "insert":
            insert(con, "raw.orders", change)
        elif action == "delete":
            con.execute("delete from raw.orders where order_id = ?", [change])
        else:
            con.execute("delete from raw.customers where customer_id = ?", [change])
        assert graph(con) == "incremental", (action, change)
        got = keys(con)
        assert {k: got.get(k) for k in expected} == expected, (action, change)
        assert writes(con)[-1][2] > before_writes[-1][2]  # the runner's bookkeeping follows an incremental write
        assert_equals_full(con)
    too_common = rows(con, "select identifier from quality.identity_conflicts where kind = 'too_common'")
    assert too_common == []


def test_a_too_common_phone_and_a_crm_merge_are_reported_like_a_full_rebuild(warehouse):
    con = warehouse
    insert(con, "raw.customers", [crm("c1", email_key="m1"), crm("c2", email_key="m2")])
    insert(con, "raw.orders", [order(f"p{i}", email_key=f"e{i}", phone_key="shop") for i in range(5)])
    assert graph(con) == "full"
    assert rows(con, "select kind, identifier, records from quality.identity_conflicts") == [
        ("too_common", "phone:shop", 5)
    ]
    # two CRM customers become one, and the phone gains a record
    insert(con, "raw.orders", [order("m", email_key="m1", phone_key="t1"), order("n", email_key="m2", phone_key="t1")])
    insert(con, "raw.orders", [order("p9", email_key="e0", phone_key="shop")])
    assert graph(con) == "incremental"
    assert rows(con, "select kind, identifier, crm_id_list, records from quality.identity_conflicts") == [
        ("too_common", "phone:shop", None, 6),
        ("crm_merge", "crm:c1", "c1,c2", 4),
    ]
    assert_equals_full(con)
    # one of the merging orders carries the same combination again: only a record count changes
    insert(con, "raw.orders", [order("n2", email_key="m2", phone_key="t1")])
    assert graph(con) == "incremental"
    assert scalar(con, "select records from quality.identity_conflicts where kind = 'crm_merge'") == 5
    assert_equals_full(con)


def test_a_changed_setting_or_a_large_change_rebuilds_whole(warehouse, monkeypatch):
    con = warehouse
    insert(con, "raw.orders", [order(f"o{i}", email_key=f"e{i}", phone_key="shop") for i in range(4)])
    assert graph(con) == "full"
    assert graph(con, make_config(identity_max_links=4)) == "full"  # the fingerprint holds the setting
    assert keys(con)["email:e3"] == "email:e0"
    monkeypatch.setattr(identity_graph, "FULL_FRACTION", 0.2)
    insert(con, "raw.orders", [order("x", email_key="x")])  # 1 combination new of 4: more than 20 %
    assert graph(con, make_config(identity_max_links=4)) == "full"
    con.execute(f"drop table {identity_graph.STATE}")
    insert(con, "raw.orders", [order("y", email_key="y")])
    assert graph(con, make_config(identity_max_links=4)) == "full"  # no stored combinations


def random_records(rng: random.Random, count: int, start: int) -> list[tuple[str, dict]]:
    """Orders (and now and then a CRM record or an identified touch) over small pools of identifiers, so
    components merge, chain and split, and a phone or an e-mail is sometimes too common."""
    out = []
    for i in range(start, start + count):
        kind = rng.random()
        if kind < 0.15:
            row = crm(f"c{rng.randrange(6)}")
            if rng.random() < 0.7:
                row["email_key"] = f"e{rng.randrange(14)}"
            if rng.random() < 0.4:
                row["phone_key"] = f"p{rng.randrange(5)}"
            out.append(("raw.customers", row))
        elif kind < 0.25:
            touch = {"visitor_id": f"v{rng.randrange(10)}", "customer_id": f"c{rng.randrange(6)}"}
            out.append(("raw.touchpoints", touch | {"ts": datetime(2024, 3, 1), "source_row": i}))
        else:
            values = {}
            for column, pool, chance in (
                ("customer_id", 6, 0.15),
                ("email_key", 14, 0.6),
                ("phone_key", 3, 0.35),
                ("visitor_id", 10, 0.3),
            ):
                if rng.random() < chance:
                    values[column] = f"{column[0]}{rng.randrange(pool)}"
            out.append(("raw.orders", order(f"o{i}", **values)))
    return out


def add(con, records) -> None:
    for table_name, row in records:
        insert(con, table_name, [row])


@pytest.mark.parametrize("seed", range(30))
def test_random_changes_equal_a_full_rebuild(seed):
    rng = random.Random(seed)
    con: duckdb.DuckDBPyConnection = new_warehouse(CONFIG)
    add(con, random_records(rng, 30, 0))
    assert graph(con) == "full"
    modes = []
    for step in range(4):
        add(con, random_records(rng, rng.randrange(0, 4), 100 * (step + 1)))
        for name, key in (("raw.orders", "order_id"), ("raw.customers", "customer_id")):
            present = [r[0] for r in rows(con, f"select {key} from {name} order by all")]
            for gone in rng.sample(present, min(len(present), rng.randrange(0, 3))):
                con.execute(f"delete from {name} where {key} = ?", [gone])
        modes.append(graph(con))
        assert_equals_full(con)
    assert set(modes) <= {"incremental", "unchanged"}


# ------------------------------------------------------------------------------------ records of new files
def add_file(con, name: str, records) -> None:
    """Records as the export `name` of their source, logged in quality.file_loads as loaded now (after the
    graph's last write), as ingest logs every file it loads."""
    create_quality_tables(con)
    sources = set()
    for table_name, row in records:
        source = table_name.split(".")[1]
        sources.add(source)
        insert(con, table_name, [row | {"source_file": f"{source}/{name}"}])
    loaded = datetime.now(UTC).replace(tzinfo=None)
    for source in sorted(sources):
        con.execute(
            "insert into quality.file_loads (source, source_file, loaded_at) values (?, ?, ?)",
            [source, f"{source}/{name}", loaded],
        )


def test_only_the_records_of_new_files_are_grouped_when_the_others_are_as_stored(warehouse):
    """identity_graph._new_records: with every load logged, a nightly groups the records of the files
    loaded since the graph was written, when the other records are exactly the stored combinations; a
    copy dropped from an older file or a reloaded source makes it group every record. Either way the
    result equals a full rebuild."""
    con = warehouse
    touch = {"visitor_id": "w2", "customer_id": "c1", "ts": datetime(2024, 3, 1)}
    add_file(
        con,
        "a.csv",
        [
            ("raw.customers", crm("c1", email_key="m1")),
            ("raw.orders", order("o1", customer_id="c1", visitor_id="w1")),
            ("raw.orders", order("o2", email_key="m3", phone_key="t3")),
            ("raw.touchpoints", touch),
        ],
    )
    assert graph(con) == "full"
    assert_equals_full(con)
    assert graph(con) == "unchanged" and identity_graph.last_input == "new records"  # no file since

    # a new file: two components merge, and a stored combination gains a record
    add_file(
        con,
        "b.csv",
        [
            ("raw.orders", order("o3", email_key="m1", phone_key="t3")),
            ("raw.orders", order("o4", email_key="m3", phone_key="t3")),
        ],
    )
    assert graph(con) == "incremental" and identity_graph.last_input == "new records"
    assert keys(con)["email:m3"] == "crm:c1"
    assert_equals_full(con)
    # a new touch file naming the CRM customer: the visitor joins it
    add_file(con, "c.csv", [("raw.touchpoints", touch | {"visitor_id": "w9"})])
    assert graph(con) == "incremental" and identity_graph.last_input == "new records"
    assert keys(con)["visitor:w9"] == "crm:c1"
    assert_equals_full(con)

    # a copy dropped from an older file (ingest keeps a newer export's): every record is grouped
    con.execute("delete from raw.orders where order_id = 'o2'")
    add_file(con, "d.csv", [("raw.orders", order("o2", email_key="m3"))])
    assert graph(con) == "incremental" and identity_graph.last_input == "all records"
    assert_equals_full(con)
    # an older file's record replaced by another (as many records as before, not the same ones): caught
    # by the sum of their hashes, every record is grouped
    con.execute("delete from raw.orders where order_id = 'o4'")
    insert(con, "raw.orders", [order("o4", email_key="m8", phone_key="t3", source_file="orders/b.csv")])
    assert graph(con) == "incremental" and identity_graph.last_input == "all records"
    assert keys(con)["email:m8"] == "crm:c1"
    assert_equals_full(con)
    # a source reloaded whole: its files are all new again, the records as they were
    con.execute(
        "update quality.file_loads set loaded_at = ? where source = 'orders'", [datetime.now(UTC).replace(tzinfo=None)]
    )
    assert graph(con) == "unchanged" and identity_graph.last_input == "all records"
    assert_equals_full(con)


@pytest.mark.parametrize("seed", range(20))
def test_random_files_equal_a_full_rebuild(seed):
    rng = random.Random(seed)
    con: duckdb.DuckDBPyConnection = new_warehouse(CONFIG)
    add_file(con, "first.csv", random_records(rng, 30, 0))
    assert graph(con) == "full"
    inputs = []
    for step in range(5):
        add_file(con, f"step{step}.csv", random_records(rng, rng.randrange(0, 5), 100 * (step + 1)))
        dropped = 0
        if rng.random() < 0.3:  # a copy dropped from an older file
            present = [r[0] for r in rows(con, "select order_id from raw.orders order by all")]
            for gone in rng.sample(present, min(len(present), 1)):
                con.execute("delete from raw.orders where order_id = ?", [gone])
                dropped += 1
        assert graph(con) in ("incremental", "unchanged")
        inputs.append(identity_graph.last_input)
        if dropped == 0 and identity_graph.last_mode == "incremental":
            # the run before wrote, so its files are old now: only this step's records are new
            assert identity_graph.last_input == "new records"
        assert_equals_full(con)
    assert "new records" in inputs  # every seed takes the short path at least once
