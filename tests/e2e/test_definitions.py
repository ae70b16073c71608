"""The Dagster code location loads, every warehouse step is partitioned, single-run and in one pool,
and the instance settings in dagster.yaml are accepted by Dagster."""

from __future__ import annotations

import json
import shutil
import subprocess
import textwrap
from datetime import UTC, datetime

import dagster as dg
import pytest
from conftest import PYTHON, ROOT, base_env

from pipelines.orchestration.definitions import all_assets, defs
from pipelines.orchestration.partitions import POOL, monthly


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
    assert keys[-1] == datetime.now(UTC).strftime("%Y-%m-01")


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
    out = subprocess.run(
        [PYTHON, "-c", code],
        cwd=tmp_path,
        env=base_env(DAGSTER_HOME=str(tmp_path)),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    got = json.loads(out.stdout.strip().splitlines()[-1])
    assert got["retries"] is True and got["max_retries"] == 1
    assert got["default_limit"] == 1 and got["granularity"].lower().endswith("op")
    assert got["max_runs"] == 2 and got["telemetry"] is False
    assert got["monitoring"]["enabled"] is True and got["monitoring"]["max_runtime_seconds"] > 3600
    assert (tmp_path / ".dagster_home" / "storage").is_dir()  # storage lands under DAGSTER_HOME/.dagster_home


def test_every_blocking_check_is_an_asset_check_on_the_asset_it_guards():
    from pipelines.publish.checks import CHECKS, SCHEMA_CHECKS

    specs = {(spec.asset_key.to_user_string(), spec.name): spec for a in all_assets for spec in a.check_specs}
    expected = {(table.replace(".", "/"), c.name) for c in CHECKS for table in c.guards}
    expected |= {(c.guards.replace(".", "/"), c.name) for c in SCHEMA_CHECKS}
    assert len(expected) >= 25  # 4 SQL checks (one per raw source for the reconciliation), 10 schema checks
    assert expected <= specs.keys()
    assert all(specs[key].blocking for key in expected)
    # the Pandera contract of every published mart is checked by the mart's own asset
    assert {("marts/channel_summary", "matches_model"), ("marts/attribution", "credits_sum_to_one")} <= expected


def test_no_phantom_asset_and_every_dependency_is_a_real_asset():
    from pipelines.core.paths import SQL_DIR
    from pipelines.ingest.raw_tables import SOURCES

    graph = defs.resolve_asset_graph()
    keys = {key.to_user_string() for key in graph.get_all_asset_keys()}
    files = {f"{p.parent.name}/{p.stem}" for p in SQL_DIR.glob("*/*.sql")}
    assert keys == {f"raw/{s}" for s in SOURCES} | files | {"meta/build_info", "warehouse"}
    assert "staging/touch_tag_key" not in keys and "staging/click_id_type" not in keys  # macros, not tables
    for asset in all_assets:
        for dep in asset.dependency_keys:
            assert dep.to_user_string() in keys, (asset.key, dep)


def test_a_macro_call_is_never_a_table_and_an_unknown_table_is_refused(tmp_path):
    from pipelines.transform.runner import discover_models

    (tmp_path / "staging").mkdir()
    (tmp_path / "marts").mkdir()
    (tmp_path / "staging" / "a.sql").write_text(
        "-- materialized: table\nselect staging.touch_tag_key (utm_source, 1, 2, 3, 4, 5, 6, ts) as k from raw.touchpoints\n"
    )
    [model] = discover_models(tmp_path)
    assert model.refs == {"raw.touchpoints"}
    (tmp_path / "marts" / "b.sql").write_text(
        "-- materialized: table\nselect * from staging.a join staging.nothing using (k)\n"
    )
    with pytest.raises(ValueError, match=r"staging\.nothing"):
        discover_models(tmp_path)


def test_assets_describe_themselves_and_carry_their_column_schema():
    for asset in all_assets:
        for key in asset.keys:
            text = asset.specs_by_key[key].description or ""
            assert len(text) > 40 and not text.startswith(("sql/", "staging.", "marts.")), (key, text)
    spec = next(a for a in all_assets if a.key == dg.AssetKey(["marts", "channel_summary"])).specs_by_key[
        dg.AssetKey(["marts", "channel_summary"])
    ]
    schema = spec.metadata["dagster/column_schema"]
    schema = getattr(schema, "schema", schema)  # TableSchemaMetadataValue or TableSchema
    columns = {c.name: c for c in schema.columns}
    assert "ltv_cac_12" in columns and columns["ltv_cac_12"].description
    assert all(c.description for c in schema.columns)
    raw = next(a for a in all_assets if a.key == dg.AssetKey(["raw", "orders"])).specs_by_key[
        dg.AssetKey(["raw", "orders"])
    ]
    raw_schema = raw.metadata["dagster/column_schema"]
    raw_schema = getattr(raw_schema, "schema", raw_schema)
    assert {"order_id", "revenue", "source_file"} <= {c.name for c in raw_schema.columns}
    assert all(c.description for c in raw_schema.columns)


def test_dg_checks_the_project_definitions(tmp_path):
    """The project is a `dg` project ([tool.dg] in pyproject.toml): `dg check defs` loads its definitions."""
    from pathlib import Path

    venv = Path(PYTHON).parent.parent
    home = tmp_path / "home"
    home.mkdir()
    shutil.copy(ROOT / "dagster.yaml", home / "dagster.yaml")
    done = subprocess.run(
        [str(venv / "bin" / "dg"), "check", "defs"],
        cwd=ROOT,
        env=base_env(DAGSTER_HOME=str(home), VIRTUAL_ENV=str(venv)),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "All definitions loaded successfully" in done.stdout + done.stderr


def test_every_asset_has_an_owner():
    for asset in all_assets:
        for key in asset.keys:
            assert asset.specs_by_key[key].owners == ["team:acquisition-analytics"], key
