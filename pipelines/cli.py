"""`python -m pipelines COMMAND`: the people's entry points (run, backfill, validate, rollback, report, generate)."""

from __future__ import annotations

import argparse
import os
import sys
from datetime import date
from pathlib import Path

from pipelines.core.config import ATTRIBUTION_MODELS, ConfigError, load_config
from pipelines.core.paths import PROJECT_ROOT
from pipelines.devtools.bench.main import add_arguments as bench_arguments
from pipelines.devtools.bench.main import run as bench_run
from pipelines.devtools.generate.sample import add_arguments as generate_arguments
from pipelines.devtools.generate.sample import run as generate_run
from pipelines.ingest.validate_files import validate_paths
from pipelines.publish.warehouse import PublishError, WarehouseBusy, WarehousePaths, rollback
from schemas.inputs import SOURCES

DEFAULT_RAW = "data/sample"
DEFAULT_WAREHOUSE = "data/warehouse.duckdb"


def _absolute(path: str | None) -> str | None:
    return str(Path(path).expanduser().resolve()) if path else None


def _add_target(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--raw", default=None, help=f"folder of exports, one subfolder per source (default {DEFAULT_RAW})"
    )
    parser.add_argument("--warehouse", default=None, help=f"the DuckDB file to publish (default {DEFAULT_WAREHOUSE})")
    parser.add_argument("--config", default=None, help="settings file (default acquisition.toml)")
    parser.add_argument(
        "--wait", type=float, default=0.0, help="seconds to wait for a running build (default: fail at once)"
    )
    parser.add_argument("--allow-missing", action="store_true", help="build even if a source folder is missing")
    parser.add_argument(
        "--allow-shrink", action="store_true", help="publish even if a source shrank past quality.max_shrink_share"
    )
    parser.add_argument(
        "--verbose", action="store_true", help="also print Dagster's event log (always kept in its storage)"
    )


def _month(text: str) -> date:
    try:
        return date.fromisoformat(text + "-01" if len(text) == 7 else text).replace(day=1)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a month like 2024-01") from None


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m pipelines", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    run = commands.add_parser("run", help="ingest everything, rebuild every period, check, publish")
    _add_target(run)

    backfill = commands.add_parser("backfill", help="recompute a range of months (and what depends on them)")
    backfill.add_argument("--from", dest="start", type=_month, required=True, help="first month, e.g. 2024-01")
    backfill.add_argument("--to", dest="end", type=_month, required=True, help="last month, e.g. 2024-06")
    backfill.add_argument(
        "--recompute",
        action="store_true",
        help="recompute the months even where no input, setting or code changed (by default such tables are kept)",
    )
    _add_target(backfill)

    validate = commands.add_parser("validate", help="check export files without touching the warehouse")
    validate.add_argument("paths", nargs="+", help="files, or folders of <source>/ subfolders")
    validate.add_argument("--source", default=None, help="source of the files (default: the parent folder's name)")
    validate.add_argument("--config", default=None, help="settings file whose [sources.*] reader options apply")

    rollback = commands.add_parser("rollback", help="put the previous published warehouse back")
    rollback.add_argument("--warehouse", default=None)

    report = commands.add_parser(
        "report", help="print the headline table of the published warehouse; --html writes a file"
    )
    report.add_argument("--warehouse", default=None)
    report.add_argument(
        "--html", default=None, metavar="PATH", help="also write a self-contained HTML report (e.g. data/report.html)"
    )
    report.add_argument(
        "--model",
        default=None,
        choices=ATTRIBUTION_MODELS,
        help="attribution model (default: the build's default_model)",
    )

    charts = commands.add_parser("charts", help="draw CAC trend, payback curves and LTV:CAC as PNG files")
    charts.add_argument("--warehouse", default=None)
    charts.add_argument("--out", default=None, help="folder for the PNGs (default data/charts)")
    charts.add_argument(
        "--model",
        default=None,
        choices=ATTRIBUTION_MODELS,
        help="attribution model (default: the build's default_model)",
    )

    commands.add_parser("docs", help="rewrite docs/tables.md from the table models in schemas/")

    generate = commands.add_parser("generate", help="write a deterministic set of sample exports")
    generate_arguments(generate)

    bench = commands.add_parser("bench", help="benchmark the pipeline at scale against DuckDB and pandas references")
    bench_arguments(bench)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if args.command in ("run", "backfill"):
            return _materialize(args)
        if args.command == "validate":
            config = load_config(args.config)
            options = {source: config.ingest_options(source) for source in SOURCES}
            return validate_paths([Path(p) for p in args.paths], args.source, options=options)
        if args.command == "rollback":
            try:
                rollback(WarehousePaths(Path(_absolute(args.warehouse) or PROJECT_ROOT / DEFAULT_WAREHOUSE)))
            except (PublishError, WarehouseBusy) as exc:
                print(f"rollback refused: {exc}", file=sys.stderr)
                return 1
            print("rolled back: the previous warehouse is published again (run rollback again to undo)")
            return 0
        if args.command == "report":
            from pipelines.reporting.report import print_report  # deferred: matplotlib (~0.6 s), for report only

            html = Path(_absolute(args.html)) if args.html else None
            return print_report(Path(_absolute(args.warehouse) or PROJECT_ROOT / DEFAULT_WAREHOUSE), html, args.model)
        if args.command == "charts":
            from pipelines.reporting.charts import write_charts  # deferred: matplotlib, for charts only

            written = write_charts(
                Path(_absolute(args.warehouse) or PROJECT_ROOT / DEFAULT_WAREHOUSE),
                Path(_absolute(args.out) or PROJECT_ROOT / "data" / "charts"),
                model=args.model,
            )
            print("wrote " + ", ".join(str(p) for p in written))
            return 0
        if args.command == "docs":
            from pipelines.publish.table_docs import render_markdown  # deferred: the SQL models and scipy

            (PROJECT_ROOT / "docs" / "tables.md").write_text(render_markdown(), encoding="utf-8")
            print("wrote docs/tables.md")
            return 0
        if args.command == "generate":
            return generate_run(args) or 0
        if args.command == "bench":
            return bench_run(args)
    except ConfigError as exc:
        print(f"config error: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:
        # `report | head`: the reader has what it wanted; say nothing, and keep Python's exit-time flush quiet too
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except KeyboardInterrupt:
        # Ctrl-C: one line, no traceback; a run never writes the published file, so it stands as it was
        print("interrupted: the published warehouse was not changed", file=sys.stderr)
        return 130
    return 1


def _materialize(args: argparse.Namespace) -> int:
    import logging
    import warnings

    import dagster as dg
    from dagster._core.storage.tags import ASSET_PARTITION_RANGE_END_TAG, ASSET_PARTITION_RANGE_START_TAG

    # deferred to the commands that run the pipeline: Dagster and the definitions load in ~2 s, which
    # validate, report, rollback and generate do not need
    from pipelines.orchestration.progress import OnceHandler, Progress, process_started, root_cause

    load_config(args.config)  # fail early, with the key named, before Dagster starts
    raw = _absolute(args.raw) or str(PROJECT_ROOT / DEFAULT_RAW)
    warehouse = _absolute(args.warehouse) or str(PROJECT_ROOT / DEFAULT_WAREHOUSE)
    config = _absolute(args.config) or ""
    from pipelines.orchestration.preflight import preflight  # deferred with Dagster (see above)

    errors, notices = preflight(Path(raw), Path(warehouse), args.allow_missing)
    for line in errors:
        print(line, file=sys.stderr)
    if errors:
        return 2
    if not os.environ.get("DAGSTER_HOME"):
        os.environ["DAGSTER_HOME"] = str(PROJECT_ROOT)  # keep run history (dagster.yaml is there)
    home = Path(os.environ["DAGSTER_HOME"]).resolve()
    home.mkdir(parents=True, exist_ok=True)
    os.environ["DAGSTER_HOME"] = str(home)
    os.chdir(home)  # dagster.yaml's storage paths are relative to it
    if not args.verbose:
        warnings.filterwarnings("ignore", module=r"dagster(\..*)?$")  # Dagster's own notices: --verbose shows them

    from pipelines.orchestration.definitions import all_assets, build_defs  # deferred with Dagster (see above)
    from pipelines.orchestration.partitions import monthly
    from pipelines.orchestration.resources import WarehouseResource

    keys = monthly.get_partition_keys()
    if args.command == "run":
        first, last = keys[0], keys[-1]
    else:
        first, last = args.start.isoformat(), args.end.isoformat()
        if args.start > args.end:
            print(f"--from {first} is after --to {last}", file=sys.stderr)
            return 2
        missing = [k for k in (first, last) if k not in keys]
        if missing:
            print(
                f"month(s) {missing} outside the partitions {keys[0]}..{keys[-1]} (periods.partitions_start)",
                file=sys.stderr,
            )
            return 2
    months = (first[:7], last[:7], keys.index(last) - keys.index(first) + 1)
    progress = Progress([key.to_user_string() for asset in all_assets for key in asset.keys], started=process_started())
    ours = logging.getLogger("pipelines")  # warnings of our modules (e.g. the hashing secret): once each
    ours.addHandler(OnceHandler(progress))
    ours.propagate = False
    loggers = {"progress": progress.logger}
    if args.verbose:
        loggers["console"] = dg.colored_console_logger
    resource = WarehouseResource(
        raw_dir=raw,
        warehouse_path=warehouse,
        config_path=config,
        lock_wait_seconds=args.wait,
        allow_missing=args.allow_missing,
        allow_shrink=args.allow_shrink,
        # [engine] of the settings unless ACQ_ENGINE=duckdb|spark says otherwise
        engine=os.environ.get("ACQ_ENGINE", ""),
        spark_master=os.environ.get("ACQ_SPARK_MASTER", ""),
        recompute=getattr(args, "recompute", False),
    )
    job = build_defs(resource).resolve_job_def("refresh").with_logger_defs(loggers)
    relative = os.path.relpath(raw, PROJECT_ROOT) if raw.startswith(str(PROJECT_ROOT)) else raw
    progress.line(f"{args.command} {months[0]}..{months[1]}: {relative} -> {warehouse}")
    with dg.DagsterInstance.get() as instance:
        result = job.execute_in_process(
            instance=instance,
            # a logger runs only when the run config names it
            run_config={
                "loggers": {"progress": {}} | ({"console": {"config": {"log_level": "DEBUG"}}} if args.verbose else {})
            },
            tags={ASSET_PARTITION_RANGE_START_TAG: first, ASSET_PARTITION_RANGE_END_TAG: last},
            raise_on_error=False,
        )
    for line in notices:  # what under the raw folder was not read (preflight): said, never silent
        print(f"warning: {line}", file=sys.stderr)
    progress.summary(warehouse, months, result.run_id, result.success)
    if not result.success:
        said = set()
        for event in result.all_events:  # the run's own events: also failures before any step began
            if event.is_step_failure or event.event_type_value in ("RESOURCE_INIT_FAILURE", "RUN_FAILURE"):
                data = event.event_specific_data
                error = getattr(data, "error", None)
                message = root_cause(error) if error is not None else (event.message or "")
                if message.endswith("DagsterExecutionInterruptedError"):  # Ctrl-C reached the steps
                    said.add("interrupted")
                    continue
                if message and message not in said:
                    said.add(message)
                    print(f"FAILED {event.step_key or 'run'}: {message}", file=sys.stderr)
        if "interrupted" in said:
            print(
                f"interrupted: run {result.run_id} stopped; the published warehouse {warehouse} was not changed",
                file=sys.stderr,
            )
            return 130
        print(f"run {result.run_id} failed; the published warehouse {warehouse} was not changed", file=sys.stderr)
        return 1
    return 0
