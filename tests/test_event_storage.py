"""The project's Dagster storage (dagster.yaml `storage: custom`, pipelines/orchestration/storage.py): a
partitioned run through it leaves every event where Dagster's own SQLite storage finds it, and a wipe
leaves no connection on a deleted file. Real Dagster instances, in process."""

import shutil
import sqlite3
import time
from pathlib import Path

import dagster as dg
from dagster._core.storage.event_log.sqlite.sqlite_event_log import SqliteEventLogStorage

from pipelines.orchestration.progress import process_started
from pipelines.orchestration.storage import KeptSqliteEventLogStorage

ROOT = Path(__file__).resolve().parents[1]
MONTHS = dg.MonthlyPartitionsDefinition(start_date="2024-01-01", end_date="2024-07-01")


@dg.asset(partitions_def=MONTHS, backfill_policy=dg.BackfillPolicy.single_run())
def monthly_table(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
    return dg.MaterializeResult(metadata={"months": len(context.partition_keys)})


def _run_six_months(instance: dg.DagsterInstance) -> str:
    job = dg.Definitions(assets=[monthly_table]).resolve_implicit_global_asset_job_def()
    result = job.execute_in_process(
        instance=instance,
        tags={"dagster/asset_partition_range_start": "2024-01-01", "dagster/asset_partition_range_end": "2024-06-01"},
    )
    assert result.success
    return result.run_id


def test_a_run_through_the_kept_storage_reads_back_with_dagsters_own(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # dagster.yaml's storage paths are relative (the CLI chdirs to DAGSTER_HOME)
    shutil.copy(ROOT / "dagster.yaml", tmp_path / "dagster.yaml")
    with dg.DagsterInstance.from_config(str(tmp_path)) as instance:
        storage = instance.event_log_storage
        assert isinstance(storage, KeptSqliteEventLogStorage)  # dagster.yaml names the project's class
        run_id = _run_six_months(instance)
        base_dir = storage._base_dir  # noqa: SLF001
        assert base_dir.startswith(str(tmp_path))
        with storage.index_connection() as conn:  # the kept connection commits without a flush per event
            assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 1  # NORMAL

    # Dagster's own storage, a fresh reader of the same files (as the webserver would be)
    plain = SqliteEventLogStorage(base_dir)
    kinds = [r.dagster_event.event_type_value for r in plain.get_logs_for_run(run_id) if r.dagster_event]
    assert kinds.count("ASSET_MATERIALIZATION") == 6 and kinds.count("ASSET_MATERIALIZATION_PLANNED") == 6
    assert "PIPELINE_SUCCESS" in kinds
    materialized = plain.get_materialized_partitions(dg.AssetKey("monthly_table"))
    assert materialized == {f"2024-0{m}-01" for m in range(1, 7)}  # the index shard: what the UI shows per month
    plain.dispose()


def test_wipe_closes_the_kept_connections_before_deleting_run_files(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    shutil.copy(ROOT / "dagster.yaml", tmp_path / "dagster.yaml")
    with dg.DagsterInstance.from_config(str(tmp_path)) as instance:
        storage = instance.event_log_storage
        run_id = _run_six_months(instance)
        assert run_id in storage._engines  # noqa: SLF001 - the engines are kept between events
        storage.wipe()
        assert run_id not in storage._engines  # noqa: SLF001 - (the index is reopened to empty it)
        assert not Path(storage.path_for_shard(run_id)).exists()
        index = sqlite3.connect(storage.path_for_shard("index"))
        assert index.execute("select count(*) from event_logs").fetchone() == (0,)
        index.close()


def test_process_started_counts_the_time_before_the_first_import():
    import subprocess
    import sys

    code = (
        "import time; time.sleep(0.6)\n"
        "from pipelines.orchestration.progress import process_started\n"
        "print(time.monotonic() - process_started())"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert 0.6 <= float(out.stdout) < 60
    assert process_started() <= time.monotonic()
