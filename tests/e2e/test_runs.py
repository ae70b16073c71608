"""End-to-end runs through the real CLI (`python -m pipelines ...`) and Dagster's own entry points, on
a temporary raw folder, Dagster home and warehouse. Each test clones the session's published baseline.
"""

from __future__ import annotations

import json
import subprocess
import threading
from datetime import date, timedelta
from pathlib import Path

import dagster as dg
import pytest
from conftest import PYTHON, ROOT, Site, assert_ok, kill, make_site, wait_for_file
from dagster._core.storage.tags import ASSET_PARTITION_RANGE_END_TAG, ASSET_PARTITION_RANGE_START_TAG
from rawdata import build_rows, write_raw

from pipelines.core.periods import covering_periods
from pipelines.transform.runner import discover_models

pytestmark = pytest.mark.slow

RANGE = ("2024-01", "2024-06")


def query(path: Path, sql: str) -> list:
    """Rows of `sql` on the warehouse, read by a new connection in another process."""
    code = (
        "import duckdb, json, sys; con = duckdb.connect(sys.argv[1], read_only=True); "
        "print(json.dumps(con.execute(sys.argv[2]).fetchall(), default=str))"
    )
    out = subprocess.run([PYTHON, "-c", code, str(path), sql], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def overlaps(period_key: str, first: str, last: str) -> bool:
    """Does the period (key `grain|YYYY-MM-DD`) share a day with the months first..last?"""
    grain, start_text = period_key.split("|")
    start = date.fromisoformat(start_text)
    end = covering_periods(start, start + timedelta(days=1), grain)[1]  # exclusive end of the period
    range_start = date.fromisoformat(first + "-01")
    range_end = covering_periods(date.fromisoformat(last + "-01"), date.fromisoformat(last + "-02"), "month")[1]
    return start < range_end and range_start < end


def run_id_of(result: subprocess.CompletedProcess) -> str:
    return result.stdout.strip().rsplit("run ", 1)[1].rstrip(")")


def without(tables: dict, *names: str) -> dict:
    return {k: v for k, v in tables.items() if k not in names}


def test_rerun_of_a_range_on_the_same_inputs_gives_identical_tables(baseline, site):
    _, before = baseline
    assert_ok(site.cli("backfill", "--from", RANGE[0], "--to", RANGE[1], "--recompute"))
    first = site.inspect()
    writes = query(site.warehouse, "select count(*), max(written_at) from meta.model_writes")
    again = site.cli("backfill", "--from", RANGE[0], "--to", RANGE[1])
    assert_ok(again)
    second = site.inspect()
    # every table, without run ids and load times: the same bytes (marts sum money exactly, so the
    # order DuckDB's threads add rows in cannot change a last bit)
    assert second["tables"] == first["tables"]
    # nothing new: no model was recomputed and no row rewritten; the recomputing run above wrote rows
    assert query(site.warehouse, "select count(*), max(written_at) from meta.model_writes") == writes
    assert unchanged_models(site, run_id_of(again)) == MODELS
    assert len(second["build_runs"]) == 3 and len(set(second["build_runs"])) == 3  # three real runs
    # and the same as the full run that built the baseline from these inputs (whose window differs)
    assert without(first["tables"], "meta.build_info") == without(before["tables"], "meta.build_info")
    assert site.build_leftovers() == []


def test_backfill_recomputes_its_range_only_while_a_reader_keeps_its_snapshot(baseline, site):
    _, before = baseline
    data = build_rows()
    # inside the range: a new customer in March 2024
    data["customers"].append(
        {"customer_id": "C9001", "email": "new@example.com", "phone": "", "created_at": "2024-03-14 09:00:00"}
    )
    data["touchpoints"].append(
        {
            "visitor_id": "v9001",
            "ts": "2024-03-14 10:00:00",
            "utm_source": "google",
            "utm_medium": "cpc",
            "utm_campaign": "brand_search",
        }
    )
    data["orders"].append(
        {
            "order_id": "O9001a",
            "customer_id": "C9001",
            "email": "new@example.com",
            "visitor_id": "v9001",
            "created_at": "2024-03-15 12:00:00",
            "status": "paid",
            "revenue": "5000.00",
            "currency": "RUB",
        }
    )
    # outside it (February 2025): doubled ad spend, and a repeat order of a customer acquired in 2024-01
    for row in data["ad_spend"]:
        if row["date"].startswith("2025-02"):
            row["spend"] = f"{2 * float(row['spend']):.2f}"
    data["orders"].append(
        {
            "order_id": "O9002b",
            "customer_id": "C0001",
            "email": "user1@example.com",
            "created_at": "2025-02-10 12:00:00",
            "status": "paid",
            "revenue": "7000.00",
            "cost_of_goods": "3000.00",
            "currency": "RUB",
        }
    )
    write_raw(site.raw, data)

    reader = subprocess.Popen(
        [PYTHON, "-c", READER, str(site.warehouse)],
        cwd=ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        snapshot = json.loads(reader.stdout.readline())
        result = site.cli("backfill", "--from", RANGE[0], "--to", RANGE[1])
        assert_ok(result)  # the reader's open connection did not block the run
        reader.stdin.write("again\n")
        reader.stdin.flush()
        assert json.loads(reader.stdout.readline()) == snapshot  # its snapshot is unchanged and consistent
    finally:
        reader.stdin.close()
        reader.wait(timeout=30)
    after = site.inspect()  # a new connection from another process sees the new build
    assert after["build_runs"][-1] == run_id_of(result) and snapshot["runs"] == before["build_runs"]

    periods_before, periods_after = before["cac_periods"], after["cac_periods"]
    # Rows of periods that share no day with the range are byte-for-byte the same, though February
    # 2025's inputs changed: each grain's window covers only its own periods the range touches (the
    # year 2024 and the first two quarters are recomputed; July..December 2024 are not).
    untouched = [k for k in periods_before if not overlaps(k, *RANGE)]
    assert {"month|2025-02-01", "month|2024-07-01", "month|2024-12-01", "quarter|2024-07-01"} <= set(untouched)
    assert "year|2024-01-01" not in untouched
    assert [k for k in untouched if periods_after.get(k) != periods_before[k]] == []
    assert periods_after["month|2024-03-01"] != periods_before["month|2024-03-01"]
    new_in_march = query(
        site.warehouse,
        """
        select sum(new_customers) from marts.channel_period_cac
        where period_grain = 'month' and period_start = '2024-03-01' and attribution_model = 'last_non_direct'""",
    )
    assert new_in_march == [[3.0]]  # two from the baseline data, one added
    # cohort tables are rebuilt whole: the 2024-01 cohort now shows its repeat order of February 2025
    cohort = query(
        site.warehouse,
        """
        select sum(orders) from marts.cohort_ltv where cohort_month = '2024-01-01'
        and activity_month = '2025-02-01' and attribution_model = 'last_non_direct'""",
    )
    assert cohort == [[1]]
    assert after["tables"]["marts.cohort_ltv"] != before["tables"]["marts.cohort_ltv"]
    assert site.build_leftovers() == []


READER = """
import duckdb, json, sys
sys.path.insert(0, "tests/e2e")
from inspect_wh import fingerprint
con = duckdb.connect(sys.argv[1], read_only=True)
def look():
    return {"runs": [r[0] for r in con.execute("select run_id from meta.build_info order by built_at").fetchall()],
            "cac": fingerprint(con, "select * from marts.channel_period_cac"),
            "orders": fingerprint(con, "select * from raw.orders")}
print(json.dumps(look()), flush=True)
for line in sys.stdin:
    print(json.dumps(look()), flush=True)
"""


def test_a_month_whose_sources_are_gone_is_cleared_and_rollback_brings_it_back(baseline, site):
    _, before = baseline
    refused = site.cli("rollback")  # nothing to roll back to yet
    assert refused.returncode == 1 and "no previous warehouse to roll back to" in refused.stderr
    data = build_rows()
    # April 2024 in files of its own; its customers have no orders elsewhere
    april_customers = {row["customer_id"] for row in data["customers"] if row["_month"] == "2024-04"}
    data["orders"] = [r for r in data["orders"] if r["_month"] == "2024-04" or r["customer_id"] not in april_customers]
    write_raw(site.raw, data, own_file_month="2024-04")
    april_orders = site.raw / "orders" / "orders_2024-04.csv"
    april_orders.write_text(april_orders.read_text().splitlines()[0] + "\n")  # now empty: a header only
    for source in ("ad_spend", "costs", "touchpoints", "customers"):
        (site.raw / source / f"{source}_2024-04.csv").unlink()  # gone
    assert_ok(site.cli("backfill", "--from", "2024-04", "--to", "2024-04"))

    april = query(
        site.warehouse,
        """
        select count(*), coalesce(sum(ad_spend), 0), coalesce(sum(new_customers), 0), coalesce(sum(total_cost), 0)
        from marts.channel_period_cac where period_grain = 'month' and period_start = '2024-04-01'""",
    )
    rows, spend, new, cost = april[0]
    assert (spend, new, cost) == (0, 0, 0), april  # gone, or all zero: nothing stale is left
    assert query(
        site.warehouse, "select count(*) from raw.orders where created_at >= '2024-04-01' and created_at < '2024-05-01'"
    ) == [[0]]
    cleared = site.inspect()

    # the CLI's one-step rollback puts the baseline back, and a second rollback undoes the first
    result = site.cli("rollback")
    assert result.returncode == 0, result.stderr
    assert site.inspect()["tables"] == before["tables"]
    assert site.inspect(site.paths.previous)["tables"] == cleared["tables"]
    assert site.cli("rollback").returncode == 0
    assert site.inspect()["tables"] == cleared["tables"]


def test_stale_wal_beside_the_published_file_stops_the_run(baseline, site):
    _, before = baseline
    site.paths.wal.write_bytes(b"left by a crashed writer")
    result = site.cli("backfill", "--from", "2024-01", "--to", "2024-01")
    assert result.returncode == 1
    assert "warehouse.duckdb.wal exists: something opened the published warehouse for writing" in result.stderr
    assert "was not changed" in result.stderr
    site.paths.wal.unlink()
    assert site.inspect()["tables"] == before["tables"]
    assert site.build_leftovers() == []


@pytest.mark.parametrize("moment", ["ingest", "marts", "publish"])
def test_a_run_killed_at_any_moment_leaves_the_published_warehouse_intact(baseline, site, moment):
    _, before = baseline
    marker = site.root / "paused"
    env = site.env(ACQ_PAUSE_AT=moment, ACQ_PAUSE_MARKER=str(marker))
    dying = site.start("backfill", "--from", "2024-01", "--to", "2024-03", env=env)
    wait_for_file(marker, dying)
    kill(dying)
    dead_run = site.paths.lock.read_text().split()[1]

    assert site.build_leftovers() != []  # it did die half-way
    assert site.inspect()["tables"] == before["tables"]  # and the published file is the last good one

    # the next run is not held up by what the dead one left (build file, lock, pool slot) and cleans up
    assert_ok(site.cli("backfill", "--from", "2024-01", "--to", "2024-03", timeout=300))
    assert site.build_leftovers() == []
    after = site.inspect()
    assert without(after["tables"], "meta.build_info") == without(before["tables"], "meta.build_info")
    assert dead_run not in after["build_runs"]
    assert site.inspect(site.paths.previous)["tables"] == before["tables"]  # rollback target: the last good build
    assert run_status(site, dead_run) == "FAILURE"  # Dagster no longer shows the dead run as running


MODELS = sorted(m.table for m in discover_models())


def unchanged_models(site: Site, run_id: str) -> list[str]:
    """The models whose materialization in the run says `unchanged` (inputs as when last written)."""
    code = (
        "import dagster as dg, json, sys; instance = dg.DagsterInstance.get(); "
        "records = instance.get_records_for_run(sys.argv[1], of_type=dg.DagsterEventType.ASSET_MATERIALIZATION).records; "
        "print(json.dumps(sorted({'.'.join(r.event_log_entry.asset_materialization.asset_key.path) for r in records "
        "if 'unchanged' in r.event_log_entry.asset_materialization.metadata})))"
    )
    out = subprocess.run(
        [PYTHON, "-c", code, run_id], cwd=site.home, env=site.env(), capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def run_status(site: Site, run_id: str) -> str:
    code = f"import dagster as dg; print(dg.DagsterInstance.get().get_run_by_id({run_id!r}).status.value)"
    out = subprocess.run(
        [PYTHON, "-c", code], cwd=site.home, env=site.env(), capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr
    return out.stdout.strip().splitlines()[-1]


def test_two_runs_at_once_never_build_together(baseline, site):
    marker = site.root / "paused"
    first = site.start("run", env=site.env(ACQ_PAUSE_AT="marts", ACQ_PAUSE_MARKER=str(marker)))
    try:
        wait_for_file(marker, first)  # the first run holds the build lock, half-way through its marts
        impatient = site.start("run")
        patient = site.start("backfill", "--from", "2024-01", "--to", "2024-01", "--wait", "300")
        waiting = threading.Event()
        patient_err: list[str] = []

        def follow() -> None:
            for line in patient.stderr:
                patient_err.append(line)
                if "waiting up to 300s" in line:
                    waiting.set()

        follower = threading.Thread(target=follow, daemon=True)
        follower.start()
        out, err = impatient.communicate(timeout=300)
        assert impatient.returncode == 1
        assert "another run is building" in err and "--wait" in err  # fails at once, saying why
        assert waiting.wait(timeout=240), "".join(patient_err)[-3000:]  # the patient one queues
        marker.unlink()  # let the first run go on
        first_out, first_err = first.communicate(timeout=300)
        assert first.returncode == 0, first_err[-3000:]
        patient_out = patient.stdout.read()
        assert patient.wait(timeout=300) == 0, "".join(patient_err)[-3000:]
        follower.join(timeout=30)
    finally:
        for process in (first,):
            if process.poll() is None:
                kill(process)
    runs = site.inspect()["build_runs"]
    first_run = first_out.strip().rsplit("run ", 1)[1].rstrip(")")
    patient_run = patient_out.strip().rsplit("run ", 1)[1].rstrip(")")
    # the waiting run built on top of the first one's published file: one after the other, never together
    assert runs[-2:] == [first_run, patient_run] and len(runs) == 3
    assert site.build_leftovers() == []


def test_dagster_cli_materializes_a_partition_range(baseline, site):
    _, before = baseline
    dagster = Path(PYTHON).with_name("dagster")
    env = site.env(ACQ_RAW_DIR=str(site.raw), ACQ_WAREHOUSE=str(site.warehouse), ACQ_LOCK_WAIT_SECONDS="0")
    result = subprocess.run(
        [
            str(dagster),
            "asset",
            "materialize",
            "-m",
            "pipelines.orchestration.definitions",
            "-d",
            str(ROOT),
            "--select",
            "*",
            "--partition-range",
            "2024-01-01...2024-06-01",
        ],
        cwd=site.home,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-4000:]
    after = site.inspect()
    assert len(after["build_runs"]) == 2
    assert without(after["tables"], "meta.build_info") == without(before["tables"], "meta.build_info")
    window = query(
        site.warehouse, "select window_start, window_end from meta.build_info order by built_at desc limit 1"
    )
    assert window == [["1900-01-01", "2024-07-01"]]  # the first partition reaches back to the earliest data


def test_materialize_a_partition_range_in_process(tmp_path, monkeypatch):
    from pipelines.orchestration.definitions import all_assets
    from pipelines.orchestration.resources import WarehouseResource

    monkeypatch.setenv("ACQ_HASH_SECRET", "test-secret")
    site = make_site(tmp_path / "site")
    write_raw(site.raw)
    resource = WarehouseResource(raw_dir=str(site.raw), warehouse_path=str(site.warehouse))
    with dg.instance_for_test(temp_dir=str(site.home)) as instance:
        result = dg.materialize(
            all_assets,
            instance=instance,
            resources={"warehouse": resource},
            tags={ASSET_PARTITION_RANGE_START_TAG: "2024-02-01", ASSET_PARTITION_RANGE_END_TAG: "2024-04-01"},
        )
        assert result.success
        assert instance.get_materialized_partitions(dg.AssetKey(["marts", "channel_period_cac"])) == {
            "2024-02-01",
            "2024-03-01",
            "2024-04-01",
        }
    assert site.build_leftovers() == []
    window = query(site.warehouse, "select window_start, window_end from meta.build_info")
    assert window == [["2024-02-01", "2024-05-01"]]
    # a first build creates each incremental table whole; later runs replace only their window
    assert query(site.warehouse, "select max(period_start) from marts.channel_period_cac") == [["2025-03-31"]]
    assert query(site.warehouse, "select count(*) from marts.orders where order_ts >= '2025-01-01'")[0][0] > 0  # whole


def test_a_run_reads_like_a_tool_and_goes_through_the_refresh_job(baseline, site):
    env = {k: v for k, v in site.env().items() if k != "ACQ_HASH_SECRET"}  # so the secret warning is due
    result = site.cli("backfill", "--from", "2024-02", "--to", "2024-03", env=env)
    assert_ok(result)
    out = result.stdout.splitlines()
    stages = [
        line.split()[0]
        for line in out
        if line.startswith("  ")
        and line.rstrip().endswith(" s")
        and line.split()[0] in ("raw", "staging", "marts", "publish")
    ]
    assert stages == ["raw", "staging", "marts", "publish"], result.stdout
    assert all(len(line) <= 100 for line in out if line.startswith("  ")), result.stdout  # paths aside
    assert "DEBUG" not in result.stdout + result.stderr  # the event log went to storage only
    assert result.stderr.count("ACQ_HASH_SECRET is not set") == 1, result.stderr  # once, not once per source
    summary = "\n".join(out)
    assert "months    2024-02..2024-03 (2)" in summary and "rows      ad_spend" in summary
    from pipelines.orchestration.publish_assets import BLOCKING_CHECKS

    assert " of " in summary and f"passed ({BLOCKING_CHECKS} blocking)" in summary
    assert out[-1].startswith(f"published {site.warehouse} (months 2024-02..2024-03, run ")
    run_id = run_id_of(result)
    code = f"import dagster as dg; r = dg.DagsterInstance.get().get_run_by_id({run_id!r}); print(r.job_name)"
    job = subprocess.run(
        [PYTHON, "-c", code], cwd=site.home, env=site.env(), capture_output=True, text=True, timeout=120
    )
    assert job.stdout.strip().splitlines()[-1] == "refresh", job.stderr
    # what the assets reported: row counts and column schemas of every table, no placeholder windows
    code = (
        "import json, dagster as dg; from dagster._core.events import DagsterEventType\n"
        f"records = dg.DagsterInstance.get().all_logs({run_id!r}, of_type=DagsterEventType.ASSET_MATERIALIZATION)\n"
        "out = {}\n"
        "for r in records:\n"
        "    m = r.dagster_event.event_specific_data.materialization\n"
        "    out.setdefault(m.asset_key.to_user_string(), {k: str(v.value) for k, v in m.metadata.items()})\n"
        "print(json.dumps(out))"
    )
    found = subprocess.run(
        [PYTHON, "-c", code], cwd=site.home, env=site.env(), capture_output=True, text=True, timeout=120
    )
    metadata = json.loads(found.stdout.strip().splitlines()[-1])
    tables = [key for key in metadata if key.startswith(("raw/", "staging/", "marts/", "meta/"))]
    assert len(tables) >= 28
    from pipelines.transform.runner import discover_models

    views = {f"{m.schema}/{m.name}" for m in discover_models() if m.is_view}  # no row count: never written
    assert [k for k in tables if "dagster/column_schema" not in metadata[k]] == []
    assert [k for k in tables if k not in views and "dagster/row_count" not in metadata[k]] == []
    reported = {
        asset: {k: v for k, v in values.items() if k != "dagster/column_schema"}  # (column docs name the sentinels)
        for asset, values in metadata.items()
    }
    assert not any(
        bad in value
        for values in reported.values()
        for value in values.values()
        for bad in ("1900-01-01", "2999-12-31")
    ), reported
    assert metadata["marts/channel_period_cac"]["months"] == "2024-02..2024-03"
    verbose = site.cli("backfill", "--from", "2024-03", "--to", "2024-03", "--verbose")
    assert_ok(verbose)
    assert "STEP_START" in verbose.stderr and "ASSET_CHECK_EVALUATION" in verbose.stderr  # --verbose: the event log
