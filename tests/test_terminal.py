"""The run's terminal output, from a real in-process Dagster run of small assets: one line per stage
once its last step is done, each warning once, a live status line only on an interactive terminal."""

import io

import dagster as dg

from pipelines.orchestration.progress import Progress


class Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def _assets():
    @dg.asset(key=["raw", "orders"])
    def raw_orders(context: dg.AssetExecutionContext):
        context.log.warning("the same warning")
        return dg.MaterializeResult(metadata={"rows_loaded": 1200, "rows_rejected": 3, "dagster/row_count": 1200})

    @dg.asset(key=["raw", "costs"])
    def raw_costs(context: dg.AssetExecutionContext):
        context.log.warning("the same warning")
        context.log.info("an info line stays in the event log")
        return dg.MaterializeResult(metadata={"rows_loaded": 10, "rows_rejected": 0, "dagster/row_count": 10})

    @dg.asset(
        key=["staging", "orders"],
        deps=[raw_orders, raw_costs],
        check_specs=[dg.AssetCheckSpec("matches_model", asset=["staging", "orders"], blocking=True)],
    )
    def staging_orders():
        return dg.MaterializeResult(
            metadata={"dagster/row_count": 1197},
            check_results=[dg.AssetCheckResult(check_name="matches_model", passed=True)],
        )

    @dg.asset(key=["warehouse"], deps=[staging_orders])
    def warehouse():
        return dg.MaterializeResult(metadata={"size_mb": 1.5})

    return [raw_orders, raw_costs, staging_orders, warehouse]


def _run(progress: Progress, assets) -> dg.ExecuteInProcessResult:
    # resolved inside the entered instance: Dagster's definitions loading reads the current instance,
    # whatever instance an earlier test left behind (see tests/pipeline_runs.py)
    with dg.DagsterInstance.ephemeral() as instance:
        job = dg.Definitions(assets=assets, jobs=[dg.define_asset_job("refresh")]).resolve_job_def("refresh")
        return job.with_logger_defs({"progress": progress.logger}).execute_in_process(
            instance=instance, run_config={"loggers": {"progress": {}}}, raise_on_error=False
        )


def test_one_line_per_stage_each_warning_once_and_a_summary():
    assets = _assets()
    out, err = io.StringIO(), io.StringIO()
    progress = Progress([k.to_user_string() for a in assets for k in a.keys], out=out, err=err)
    result = _run(progress, assets)
    assert result.success
    lines = out.getvalue().splitlines()
    assert [line.split()[0] for line in lines] == ["raw", "staging", "publish"]
    assert "1 210 rows loaded, 3 rejected" in lines[0] and "1 197 rows in 1 tables" in lines[1]
    assert "\r" not in out.getvalue()  # not a terminal: no status line
    assert err.getvalue() == "warning: the same warning\n"  # twice in the run, once on the screen
    assert "STEP_START" not in out.getvalue() + err.getvalue() and "info line" not in err.getvalue()
    summary = progress.summary("/tmp/w.duckdb", ("2024-01", "2024-02", 2), result.run_id, True)
    assert "  rows      orders 1 200, costs 10" in summary or "  rows      costs 10, orders 1 200" in summary
    assert "  checks    1 of 1 passed (1 blocking)" in summary
    assert summary[-1] == f"published /tmp/w.duckdb (months 2024-01..2024-02, run {result.run_id})"


def test_a_live_status_line_on_an_interactive_terminal_and_failed_checks_named():
    assets = _assets()

    @dg.asset(
        key=["marts", "bad"],
        deps=[assets[2]],
        check_specs=[dg.AssetCheckSpec("credits_sum_to_one", asset=["marts", "bad"], blocking=True)],
    )
    def bad():
        return dg.MaterializeResult(
            check_results=[
                dg.AssetCheckResult(
                    check_name="credits_sum_to_one", passed=False, description="3 failing, e.g. [('A-1', 'linear')]"
                )
            ]
        )

    assets = [*assets[:3], bad]
    out, err = Tty(), io.StringIO()
    progress = Progress([k.to_user_string() for a in assets for k in a.keys], out=out, err=err)
    result = _run(progress, assets)
    assert not result.success  # a failed blocking check fails its step
    assert "\r\033[K  raw" in out.getvalue()  # the status line, overwritten by the next line
    summary = "\n".join(progress.summary("/tmp/w.duckdb", ("2024-01", "2024-01", 1), result.run_id, False))
    assert "FAILED    marts/bad:credits_sum_to_one — 3 failing" in summary
    assert "published" not in summary
