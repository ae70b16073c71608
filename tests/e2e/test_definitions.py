"""The Dagster code location loads, every warehouse step is partitioned, single-run and in one pool,
and the instance settings in dagster.yaml are accepted by Dagster."""

from __future__ import annotations

import json
import shutil
import subprocess
import textwrap
from datetime import datetime, timezone

import dagster as dg

from conftest import PYTHON, ROOT, base_env
from pipelines.definitions import all_assets, defs
from pipelines.partitions import POOL, monthly


def test_definitions_load():
    dg.Definitions.validate_loadable(defs)
    jobs = {job.name for job in defs.resolve_all_job_defs()}
    assert "refresh" in jobs
    keys = {key.to_user_string() for a in all_assets for key in a.keys}
    assert {"raw/orders", "staging/orders", "marts/channel_period_cac", "marts/cohort_ltv", "warehouse"} <= keys


def test_every_asset_is_monthly_single_run_and_in_the_warehouse_pool():
    for asset in all_assets:
        assert asset.partitions_def == monthly, asset.key
        assert asset.backfill_policy == dg.BackfillPolicy.single_run(), asset.key
        assert all(node.pool == POOL for node in asset.node_def.iterate_op_defs()), asset.key


def test_partitions_start_at_config_and_include_the_current_month():
    keys = monthly.get_partition_keys()
    assert keys[0] == "2024-01-01"
    assert keys[-1] == datetime.now(timezone.utc).strftime("%Y-%m-01")


def test_dagster_accepts_the_instance_settings(tmp_path):
    shutil.copy(ROOT / "dagster.yaml", tmp_path / "dagster.yaml")
    code = textwrap.dedent(
        """
        import json, dagster as dg
        instance = dg.DagsterInstance.get()
        settings = instance.get_concurrency_config()
        print(json.dumps({
            "retries": instance.run_retries_enabled, "max_retries": instance.run_retries_max_retries,
            "default_limit": instance.global_op_concurrency_default_limit,
            "granularity": str(settings.pool_config.pool_granularity),
            "max_runs": settings.run_queue_config.max_concurrent_runs,
            "telemetry": instance.telemetry_enabled,
            "monitoring": instance.run_monitoring_settings,
        }))
        """
    )
    out = subprocess.run([PYTHON, "-c", code], cwd=tmp_path, env=base_env(DAGSTER_HOME=str(tmp_path)),
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    got = json.loads(out.stdout.strip().splitlines()[-1])
    assert got["retries"] is True and got["max_retries"] == 1
    assert got["default_limit"] == 1 and got["granularity"].lower().endswith("op")
    assert got["max_runs"] == 2 and got["telemetry"] is False
    assert got["monitoring"]["enabled"] is True and got["monitoring"]["max_runtime_seconds"] > 3600
    assert (tmp_path / ".dagster_home" / "storage").is_dir()  # storage lands under DAGSTER_HOME/.dagster_home
