"""Runs one `python -m pipelines run|backfill` in this process, instrumented, and writes what it saw.

    python -m pipelines.devtools.bench.child OUT.json [--ignore-checks] -- run --raw DIR --warehouse PATH

The bench starts this in a subprocess so that the pipeline's peak memory is its own. It changes no
code: it wraps a few functions of the pipeline's modules with timers ("probes"), calls the real CLI,
and reads the step timings (STEP_START / STEP_SUCCESS) from the run's Dagster event log.
"""

from __future__ import annotations

import functools
import json
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import pipelines.publish.checks as checks_module
from pipelines import cli
from pipelines.orchestration.resources import WarehouseResource

PROBES: list[tuple[str, float, float]] = []

# (module, attribute, probe name): module-level names the pipeline looks up at call time
PROBED = [
    ("pipelines.ingest.load", "read_export", "ingest.read_export"),
    ("pipelines.ingest.validate", "cast_frame", "ingest.cast_frame"),
    ("pipelines.ingest.validate", "validate_frame", "ingest.pandera_validate"),
    ("pipelines.ingest.load", "split_rows", "ingest.split_rows"),
    ("pipelines.ingest.load", "_insert_good", "ingest.insert_good"),
    ("pipelines.ingest.load", "_insert_rejects", "ingest.insert_rejects"),
    ("pipelines.ingest.load", "drop_duplicates", "ingest.drop_duplicates"),
    ("pipelines.ingest.load", "_sha256", "ingest.file_sha256"),
    ("pipelines.ingest.load", "_record_file_loads", "ingest.record_file_loads"),
    ("pipelines.orchestration.sql_assets", "run_model", "sql.run_model"),
    ("pipelines.orchestration.resources", "write_config_tables", "sql.write_config_tables"),
    ("pipelines.orchestration.sql_assets", "as_of_date", "sql.as_of_date"),
    ("pipelines.orchestration.sql_assets", "document_tables", "sql.document_tables"),
    ("pipelines.orchestration.sql_assets", "check_fx", "sql.check_fx"),
    ("pipelines.orchestration.publish_assets", "record_build_info", "publish.record_build_info"),
    ("pipelines.orchestration.publish_assets", "publish", "publish.atomic_publish"),
    ("pipelines.orchestration.resources", "load_config", "resource.load_config"),
    ("pipelines.orchestration.resources", "start_build", "resource.start_build_copy"),
]


def _probe(name: str, fn):
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        t0 = time.time()
        try:
            return fn(*args, **kwargs)
        finally:
            PROBES.append((name, t0, time.time()))

    return wrapper


def install_probes(ignore_checks: bool, checks_seen: list) -> None:
    import importlib

    for module_name, attr, name in PROBED:
        module = importlib.import_module(module_name)
        setattr(module, attr, _probe(name, getattr(module, attr)))  # a renamed function fails loudly here

    # the blocking checks run in the step of each asset they guard (pipelines/publish/checks.py: evaluate)
    import dataclasses

    real_evaluate = checks_module.evaluate

    def evaluate(con, table, *args, **kwargs):
        t0 = time.time()
        results = real_evaluate(con, table, *args, **kwargs)
        PROBES.append(("checks.evaluate", t0, time.time()))
        checks_seen.extend(
            {"name": f"{r.asset}:{r.name}", "passed": r.passed, "failures": r.failures, "detail": r.detail[:600]}
            for r in results
        )
        if ignore_checks:  # measure anyway: the failures are reported by the bench, loudly
            return [dataclasses.replace(r, passed=True) for r in results]
        return results

    for name in (
        "pipelines.orchestration.raw_assets",
        "pipelines.orchestration.sql_assets",
        "pipelines.orchestration.publish_assets",
    ):
        importlib.import_module(name).evaluate = evaluate

    # connection open, and close (which checkpoints) of every warehouse-writing step

    real_connect = WarehouseResource.connect

    @contextmanager
    def connect(self):
        t0 = time.time()
        manager = real_connect(self)
        con = manager.__enter__()
        PROBES.append(("resource.connect_open", t0, time.time()))
        try:
            yield con
        except BaseException:
            if not manager.__exit__(*sys.exc_info()):
                raise
        else:
            t1 = time.time()
            manager.__exit__(None, None, None)
            PROBES.append(("resource.connect_close_checkpoint", t1, time.time()))

    WarehouseResource.connect = connect


def _vm(field: str) -> int | None:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return None


def main(argv: list[str]) -> int:
    out = Path(argv[0])
    ignore_checks = "--ignore-checks" in argv[1 : argv.index("--")]
    cli_argv = argv[argv.index("--") + 1 :]
    started = time.time()
    import dagster as dg

    imported = time.time()
    checks_seen: list = []
    install_probes(ignore_checks, checks_seen)
    captured = {}
    real_execute = dg.JobDefinition.execute_in_process  # the CLI runs the refresh job in process

    def execute_in_process(self, *args, **kwargs):
        captured["start"] = time.time()
        result = real_execute(self, *args, **kwargs)
        captured["end"] = time.time()
        captured["result"] = result
        return result

    dg.JobDefinition.execute_in_process = execute_in_process
    rc = cli.main(cli_argv)
    ended = time.time()
    steps: dict[str, dict] = {}
    run_id = None
    if "result" in captured:
        result = captured["result"]
        run_id = result.run_id
        for record in dg.DagsterInstance.get().all_logs(run_id):
            event = record.dagster_event
            if event is None or not event.step_key:
                continue
            step = steps.setdefault(event.step_key, {"step": event.step_key})
            kind = event.event_type_value
            if kind == "STEP_START":
                step["start"] = record.timestamp
            elif kind in ("STEP_SUCCESS", "STEP_FAILURE"):
                step["end"] = record.timestamp
                step["status"] = "success" if kind == "STEP_SUCCESS" else "failure"
                if kind == "STEP_FAILURE":
                    error = event.step_failure_data.error
                    while error is not None and error.cause is not None:
                        error = error.cause
                    step["error"] = (error.message.strip() if error else "")[:2000]
    report = {
        "argv": cli_argv,
        "rc": rc,
        "run_id": run_id,
        "process_start": started,
        "imported": imported,
        "end": ended,
        "materialize_start": captured.get("start"),
        "materialize_end": captured.get("end"),
        "steps": sorted(steps.values(), key=lambda s: s.get("start", 0)),
        "probes": PROBES,
        "checks": checks_seen,
        "vm_hwm_kb": _vm("VmHWM"),
        "vm_rss_kb": _vm("VmRSS"),
    }
    out.write_text(json.dumps(report))
    return rc


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
