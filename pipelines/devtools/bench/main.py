"""`python -m pipelines bench --scale small|medium|large [--repeat N]`: the pipeline at scale.

Per round, on the same cached files: a full build from scratch (instrumented, in a subprocess), three
nightlies on top of it — no new data (the last month again; checked to rewrite no row), two months
recomputed (`backfill --recompute` of the data's last two months) and, last, one new day of every source
(nightly.py) — the *limit* (DuckDB reads each file once + one plain last-touch CAC query) and, at small
and medium, the pandas *peer*, whose last-touch CAC and LTV must equal the warehouse's. Every run is
split into its stages, the copy of the published file into the build, and start-up and bookkeeping. Figures are medians over the rounds; ratios are
taken between figures measured in the same invocation. Targets are reported, never asserted.
Results: benchmarks/results/bench-<scale>-<timestamp>.json; logs and warehouses under benchmarks/cache.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import time
from datetime import date
from pathlib import Path

from pipelines.core.config import load_config
from pipelines.core.paths import PROJECT_ROOT
from pipelines.devtools.bench import incrementality as mmm_bench
from pipelines.devtools.bench import scales
from pipelines.devtools.bench.data import data_files, ensure_data
from pipelines.devtools.bench.limit import run_limit, run_store_floor
from pipelines.devtools.bench.nightly import (
    breakdown,
    cadence_refits,
    remove_new_day,
    rows_rewritten,
    warehouse_state,
    write_new_day,
)
from pipelines.devtools.bench.runner import run_peer_process, run_pipeline
from pipelines.devtools.bench.scales import SCALES
from pipelines.devtools.bench.stages import analyse, run_seconds
from pipelines.devtools.bench.xlsx import measure
from pipelines.devtools.generate.sample import DEFAULT_START

GIB = 1024.0  # MiB per GiB


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--scale", choices=list(SCALES), default="small")
    parser.add_argument("--repeat", type=int, default=1, help="rounds; figures are medians over them (default 1)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--no-peer", action="store_true", help="skip the pandas peer")
    parser.add_argument("--no-backfill", action="store_true", help="skip the three nightlies")
    parser.add_argument("--no-xlsx", action="store_true", help="skip the .xlsx-against-its-CSV-twin measurement")
    parser.add_argument(
        "--spark",
        action="store_true",
        help="also run the full build on the Spark engine (ACQ_ENGINE=spark, [engine.spark] master) beside DuckDB",
    )
    parser.add_argument(
        "--strict-checks",
        action="store_true",
        help="let failing blocking checks stop the publish (default: report them and publish anyway, "
        "so the rest can be measured)",
    )
    parser.add_argument(
        "--mmm-sampler",
        action="store_true",
        help="also fit PyMC-Marketing's NUTS sampler on the marketing-mix model's data beside ours "
        "(needs requirements-mmm.lock installed; skipped, saying so, without it)",
    )
    parser.add_argument("--cache-dir", type=Path, default=None, help="default benchmarks/cache")
    parser.add_argument("--results-dir", type=Path, default=None, help="default benchmarks/results")


def run(args: argparse.Namespace) -> int:
    result = bench(
        args.scale,
        repeat=args.repeat,
        seed=args.seed,
        peer=not args.no_peer,
        backfill=not args.no_backfill,
        spark=args.spark,
        ignore_checks=not args.strict_checks,
        cache_dir=args.cache_dir,
        results_dir=args.results_dir,
        xlsx=not args.no_xlsx,
        mmm_sampler=args.mmm_sampler,
    )
    print(format_report(result))
    print(f"\nresults: {result['results_file']}")
    return 0 if result["pipeline_ok"] else 1


def _median(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def _ratio(a, b):
    return a / b if a is not None and b else None


def _months_of_data(scale) -> tuple[str, str]:
    """The data's last two months (YYYY-MM), the range a nightly refresh recomputes at most."""

    index = DEFAULT_START.year * 12 + DEFAULT_START.month - 1 + scale.months - 1
    last = date(index // 12, index % 12 + 1, 1)
    prev = date((index - 1) // 12, (index - 1) % 12 + 1, 1)
    return prev.strftime("%Y-%m"), last.strftime("%Y-%m")


def _reset_warehouse(warehouse: Path) -> None:
    for p in warehouse.parent.glob(warehouse.stem + "*"):
        if p.is_file():
            p.unlink()
    shutil.rmtree(warehouse.parent / ".build", ignore_errors=True)


def bench(
    scale_name: str,
    repeat: int = 1,
    seed: int = 7,
    peer: bool = True,
    backfill: bool = True,
    ignore_checks: bool = True,
    cache_dir: Path | None = None,
    results_dir: Path | None = None,
    log=None,
    xlsx: bool = True,
    spark: bool = False,
    mmm_sampler: bool = False,
) -> dict:
    log = log or (lambda text: print(text, file=sys.stderr, flush=True))
    scale = scales.SCALES[scale_name]
    cache_dir = (cache_dir or scales.CACHE_DIR).resolve()
    results_dir = (results_dir or scales.RESULTS_DIR).resolve()
    raw_dir, data_info = ensure_data(scale, seed, cache_dir, log=log)
    remove_new_day(raw_dir)  # left by an interrupted bench
    files = data_files(raw_dir)
    rows_by_source = data_info["rows"]
    work = cache_dir / f"work-{scale.name}"
    warehouse = work / "warehouse.duckdb"
    dagster_home = cache_dir / "dagster_home"
    months = _months_of_data(scale)
    run_peer = peer and scale.peer
    rounds = []
    for i in range(repeat):
        r: dict = {"round": i + 1, "loadavg_1m": {"start": _load()}}
        _reset_warehouse(warehouse)
        log(f"[{scale.name} round {i + 1}/{repeat}] full build ...")
        full = run_pipeline(
            ["run", "--raw", str(raw_dir), "--warehouse", str(warehouse)],
            work,
            f"full-{i + 1}",
            dagster_home,
            ignore_checks=ignore_checks,
        )
        r["full"] = analyse(full, rows_by_source)
        r["full"]["exit_code"] = full["exit_code"]
        r["loadavg_1m"]["after_full"] = _load()
        r["full"]["log"] = full["log"]
        if full["exit_code"] != 0:
            r["full"]["error_tail"] = full.get("error_tail", "")[-1500:]
        log(
            f"  full: {r['full']['wall_seconds']:.1f}s, peak {r['full']['peak_rss_mib']:.0f} MiB, exit {full['exit_code']}"
        )

        def nightly(name: str, first: str, last: str, round_no: int = i + 1, recompute: bool = False) -> dict:
            log(f"  nightly, {name}: backfill {first}..{last}{' --recompute' if recompute else ''} ...")
            run = run_pipeline(
                ["backfill", "--from", first, "--to", last, "--raw", str(raw_dir), "--warehouse", str(warehouse)]
                + (["--recompute"] if recompute else []),
                work,
                f"{name.replace(' ', '-')}-{round_no}",
                dagster_home,
                ignore_checks=ignore_checks,
            )
            out = analyse(run, rows_by_source) | {"exit_code": run["exit_code"], "months": [first, last]}
            log(f"  {name}: {out['wall_seconds']:.1f}s, exit {run['exit_code']}")
            return out

        if backfill and full["exit_code"] == 0:
            before = warehouse_state(warehouse)
            r["no_new_data"] = nightly("no new data", months[1], months[1])
            r["no_new_data"]["rewritten"] = rows_rewritten(before, warehouse_state(warehouse))
            # forced: with nothing new, a plain backfill would keep every table as it is
            r["backfill"] = nightly("two months", months[0], months[1], recompute=True)
        if spark:
            spark_warehouse = work / "warehouse-spark.duckdb"
            _reset_warehouse(spark_warehouse)
            log("  full build on the Spark engine ...")
            os.environ["ACQ_ENGINE"] = "spark"
            try:
                sp = run_pipeline(
                    ["run", "--raw", str(raw_dir), "--warehouse", str(spark_warehouse)],
                    work,
                    f"spark-full-{i + 1}",
                    dagster_home,
                    ignore_checks=ignore_checks,
                )
            finally:
                os.environ.pop("ACQ_ENGINE", None)
            r["spark_full"] = analyse(sp, rows_by_source)
            r["spark_full"]["exit_code"] = sp["exit_code"]
            if sp["exit_code"] != 0:
                r["spark_full"]["error_tail"] = sp.get("error_tail", "")[-1500:]
            log(
                f"  spark full: {r['spark_full']['wall_seconds']:.1f}s (DuckDB {r['full']['wall_seconds']:.1f}s), "
                f"peak {r['spark_full']['peak_rss_mib']:.0f} MiB (driver process; the JVM is a child), exit {sp['exit_code']}"
            )
        log("  limit (DuckDB read + one query) ...")
        r["limit"] = run_limit(raw_dir, files)
        log(f"  limit: {r['limit']['seconds']:.1f}s")
        log("  storage floor (DuckDB copies every file into a database file) ...")
        r["store_floor"] = run_store_floor(files, work / "store-floor.duckdb")
        log(f"  storage floor: {r['store_floor']['seconds']:.1f}s")
        if run_peer:
            log("  pandas peer ...")
            r["peer"] = run_peer_process(raw_dir, work / f"peer-{i + 1}")
            log(
                f"  peer: {r['peer']['wall_seconds']:.1f}s, peak {r['peer']['peak_rss_mib']:.0f} MiB, exit {r['peer']['exit_code']}"
            )
            if i == 0 and r["peer"]["exit_code"] == 0 and full["exit_code"] == 0:
                r["comparison"] = _compare(warehouse, Path(r["peer"]["out_dir"]))
        if backfill and full["exit_code"] == 0:
            try:
                _, new_day = write_new_day(warehouse, raw_dir)
                r["one_new_day"] = nightly("one new day", months[1], new_day.strftime("%Y-%m"))
                r["one_new_day"]["day"] = new_day.isoformat()
                r["one_new_day"]["refit_steps"] = cadence_refits(new_day, load_config())
            finally:
                remove_new_day(raw_dir)  # the cached exports stay as generated
        r["loadavg_1m"]["end"] = _load()
        rounds.append(r)

    summary = summarise(scale, rounds, data_info)
    summary["incrementality"] = mmm_bench.summarise(rounds)  # issue 30: refit day and other nights
    if mmm_sampler and rounds[-1]["full"]["exit_code"] == 0:
        log("  marketing-mix model: PyMC-Marketing's sampler beside our fit ...")
        summary["incrementality"]["sampler"] = mmm_bench.compare_sampler(warehouse)
    if xlsx:
        log(".xlsx against its CSV twin ...")
        summary["xlsx_vs_csv"] = measure(cache_dir)
    summary["vs_smaller_scale"] = _vs_smaller_scale(scale.name, summary, results_dir)
    failed = [i + 1 for i, r in enumerate(rounds) if r["full"]["exit_code"] != 0]
    # a build that failed measured nothing: no figure of it may meet (or miss) a target
    summary["targets"] = (
        {"full_build": {"value": None, "target": f"exit 0 (round(s) {failed} failed)", "met": False}}
        if failed
        else targets(summary, results_dir)
    )
    results_dir.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%dT%H%M%S")
    out = results_dir / f"bench-{scale.name}-{stamp}.json"
    document = {
        "scale": scale.name,
        "seed": seed,
        "repeat": repeat,
        "data": data_info,
        "raw_dir": str(raw_dir),
        "backfill_months": months,
        "summary": summary,
        "rounds": rounds,
        "comparison": next((r["comparison"] for r in rounds if "comparison" in r), None),
        "machine": _machine(),
        "code": _code_state(),
    }
    out.write_text(json.dumps(document, indent=1, default=str))
    document["results_file"] = str(out)
    document["pipeline_ok"] = all(r["full"]["exit_code"] == 0 for r in rounds)
    return document


def _load() -> float | None:
    """1-minute load average: above the core count, something else competed for the CPU (noisy figures)."""
    import os

    try:
        return round(os.getloadavg()[0], 2)
    except OSError:
        return None


def _compare(warehouse: Path, peer_dir: Path) -> dict:
    import pandas as pd

    peer = {"cac": pd.read_parquet(peer_dir / "cac.parquet"), "ltv": pd.read_parquet(peer_dir / "ltv.parquet")}
    # deferred: pandas, which only the bench's peer comparison needs (a test dependency, not the product's)
    from pipelines.devtools.bench.compare import compare

    return compare(warehouse, peer)


def summarise(scale, rounds: list[dict], data_info: dict) -> dict:
    full = [r["full"] for r in rounds]
    stage_names = list(dict.fromkeys(name for f in full for name in f["stages"]))
    stages = {}
    for name in stage_names:
        present = [f["stages"][name] for f in full if name in f["stages"]]
        seconds = _median([s["seconds"] for s in present])
        stages[name] = {
            "seconds": seconds,
            "rows": present[0]["rows"],
            "rows_per_second": _ratio(present[0]["rows"], seconds),
            "peak_rss_mib": _median([s["peak_rss_mib"] for s in present]),
            "failed_steps": sorted({x for s in present for x in s["failed"]}),
        }
    probes = {}
    for name in dict.fromkeys(k for f in full for k in f["probes"]):
        probes[name] = _median([f["probes"][name]["seconds"] for f in full if name in f["probes"]])
    per_step = {}
    for f in full:
        for s in f["per_step"]:
            per_step.setdefault(s["step"], []).append(s["seconds"])
    # every run as the child's time until the CLI returned, as the nightlies (nightly.breakdown): the bench's
    # own read of Dagster's event log afterwards (2.5 s of a medium full build) is no part of the pipeline
    full_wall = _median([run_seconds(f) for f in full])
    limit = _median([r["limit"]["seconds"] for r in rounds])
    store_floor = _median([r["store_floor"]["seconds"] for r in rounds if "store_floor" in r])
    peers = [r["peer"] for r in rounds if r.get("peer") and r["peer"]["exit_code"] == 0]
    peer = _median([p["wall_seconds"] for p in peers])
    backfills = [r["backfill"] for r in rounds if r.get("backfill") and r["backfill"]["exit_code"] == 0]
    backfill = _median([run_seconds(b) for b in backfills])
    ingest = stages.get("ingest (all)", {}).get("seconds")
    floor_per_source = {
        source: _median(
            [r["store_floor"].get("seconds_per_source", {}).get(source) for r in rounds if "store_floor" in r]
        )
        for source in data_info["rows"]
    }
    ingest_over_floor = {
        source: _ratio(stages.get(f"ingest:{source}", {}).get("seconds"), floor)
        for source, floor in floor_per_source.items()
    }
    runs = {"full": _breakdowns(full)} | {
        key: _breakdowns([r[key] for r in rounds if r.get(key) and r[key]["exit_code"] == 0]) for key in NIGHTLIES
    }
    quiet = runs["no_new_data"]
    new_days = [r["one_new_day"] for r in rounds if r.get("one_new_day") and r["one_new_day"]["exit_code"] == 0]
    refit_seconds = _median(
        [sum(s["seconds"] for s in n["per_step"] if s["step"] in n.get("refit_steps", [])) for n in new_days]
    )
    rewritten = [r["no_new_data"]["rewritten"] for r in rounds if "rewritten" in r.get("no_new_data", {})]
    per_step_median = {k: _median(v) for k, v in per_step.items()}
    # the stages added since the storage-floor targets were set: each may add at most 10 % to the full build
    new_stages = {step: _ratio(per_step_median.get(step), full_wall) for step in NEW_STAGES if step in per_step_median}
    return {
        "rows": data_info["rows"],
        "data_bytes": data_info["bytes"],
        "full_wall_seconds": full_wall,
        "full_wall_seconds_all": [run_seconds(f) for f in full],
        "full_wall_seconds_with_bench_read": _median([f["wall_seconds"] for f in full]),
        "full_steps_seconds": _median([f["steps_seconds"] for f in full]),
        "full_peak_rss_mib": _median([f["vm_hwm_mib"] or f["peak_rss_mib"] for f in full]),
        "stages": stages,
        "per_step_seconds": {k: _median(v) for k, v in sorted(per_step.items(), key=lambda kv: -_median(kv[1]))},
        "probes_seconds": dict(sorted(probes.items(), key=lambda kv: -(kv[1] or 0))),
        "overhead_seconds": {k: _median([f["overhead"][k] for f in full]) for k in full[0]["overhead"]},
        "limit_seconds": limit,
        "limit_read_seconds": _median([r["limit"]["read_seconds"] for r in rounds]),
        "limit_query_seconds": _median([r["limit"]["query_seconds"] for r in rounds]),
        "store_floor_seconds": store_floor,
        "peer_seconds": peer,
        "peer_peak_rss_mib": _median([p["peak_rss_mib"] for p in peers]),
        "backfill_seconds": backfill,
        "backfill_stages": {
            name: _median([b["stages"][name]["seconds"] for b in backfills if name in b["stages"]])
            for name in (backfills[0]["stages"] if backfills else {})
        },
        "store_floor_seconds_per_source": floor_per_source,
        "ratio_ingest_over_store_floor": ingest_over_floor,
        "ratio_full_over_store_floor": _ratio(full_wall, store_floor),
        "new_stage_share_of_full": new_stages,
        "ratio_pipeline_over_limit": _ratio(full_wall, limit),
        "ratio_peer_over_pipeline": _ratio(peer, full_wall),
        "ratio_store_floor_over_limit": _ratio(store_floor, limit),
        "ratio_backfill_over_full": _ratio(backfill, full_wall),
        "runs": runs,
        # both as the child's time until the CLI returned (nightly.breakdown)
        "ratio_one_new_day_over_full": _ratio(
            runs["one_new_day"] and runs["one_new_day"]["wall_seconds"], runs["full"] and runs["full"]["wall_seconds"]
        ),
        # a refit on its cadence is measured on its own: the new day with the steps that refitted that night
        # taken out (the bench's new day follows the data's last day; a Sunday refits the weekly model)
        "one_new_day_refit_steps": new_days[0].get("refit_steps") if new_days else None,
        "one_new_day_refit_seconds": refit_seconds,
        "ratio_one_new_day_without_refits_over_full": _ratio(
            runs["one_new_day"] and refit_seconds is not None and runs["one_new_day"]["wall_seconds"] - refit_seconds,
            runs["full"] and runs["full"]["wall_seconds"],
        ),
        "no_new_data_rewritten": rewritten,
        "no_new_data_rewrote_nothing": all(x["none"] for x in rewritten) if rewritten else None,
        # a run with nothing new should cost its start-up and its file copy, and little else
        "no_new_data_beyond_startup_and_copy": (
            quiet["wall_seconds"] - quiet["seconds"]["start-up and bookkeeping"] - quiet["seconds"]["file copy"]
            if quiet
            else None
        ),
        "no_new_data_startup_seconds": quiet["seconds"]["start-up and bookkeeping"] if quiet else None,
        "pandera_share_of_ingest": _ratio(probes.get("ingest.pandera_validate"), ingest),
        "failed_checks": full[0]["failed_checks"],
        "all_ok": all(f["success"] for f in full),
    }


# the nightlies, by their key in a round, as the report names them
NIGHTLIES = {"no_new_data": "no new data", "backfill": "two months recomputed", "one_new_day": "one new day"}


def _breakdowns(runs: list[dict]) -> dict | None:
    """Median seconds of each part of a run (nightly.breakdown) over the rounds, and its share of the
    median wall time."""
    if not runs:
        return None
    parts = [breakdown(run) for run in runs]
    wall = _median([p["wall_seconds"] for p in parts])
    seconds = {k: _median([p["seconds"][k] for p in parts]) for k in parts[0]["seconds"]}
    return {"wall_seconds": wall, "seconds": seconds, "share": {k: _ratio(v, wall) for k, v in seconds.items()}}


SMALLER = {"medium": "small", "large": "medium"}


def _vs_smaller_scale(scale_name: str, summary: dict, results_dir: Path) -> dict | None:
    """End-to-end time ÷ the latest result of the next smaller scale (a different invocation: noisier)."""
    smaller = SMALLER.get(scale_name)
    previous = sorted(results_dir.glob(f"bench-{smaller}-*.json")) if smaller else []
    if not previous:
        return None
    other = json.loads(previous[-1].read_text())["summary"]
    return {
        "scale": smaller,
        "results_file": str(previous[-1]),
        "ratio_full_wall": _ratio(summary["full_wall_seconds"], other["full_wall_seconds"]),
        "ratio_rows": _ratio(sum(summary["rows"].values()), sum(other["rows"].values())),
    }


# steps added after the storage-floor targets were set (identity graph, predicted LTV, data-driven weights)
NEW_STAGES = (
    "staging__customer_identifiers",
    "marts__customers",
    "marts__customer_ltv_predicted",
    "marts__channel_weights",
)


def targets(summary: dict, results_dir: Path, scale: str = "") -> dict:
    """Issue 29's targets, evaluated where this scale can say something (None = not measured here: no
    peer at large). Medium: full ≤ 3.5 × the storage floor, ≥ 2.5 × faster than the pandas peer, two
    months ≤ 0.15 of full, one new day ≤ 0.10, no new data within its start-up + file copy + 3 s with
    start-up ≤ 5 s and no row rewritten; large: full ≤ 3.5 × the floor, one new day ≤ 0.10, peak < 6 GiB."""
    rewrote_nothing = summary.get("no_new_data_rewrote_nothing")
    out = {
        "full_within_3_5x_store_floor": _check(summary.get("ratio_full_over_store_floor"), "<=", 3.5),
        "pipeline_2_5x_faster_than_peer": _check(summary["ratio_peer_over_pipeline"], ">=", 2.5),
        "two_months_within_15pct_of_full": _check(summary["ratio_backfill_over_full"], "<=", 0.15),
        "one_new_day_within_10pct_of_full": _check(summary.get("ratio_one_new_day_over_full"), "<=", 0.10),
        "no_new_data_within_startup_copy_plus_3s": _check(summary.get("no_new_data_beyond_startup_and_copy"), "<=", 3),
        "no_new_data_startup_within_5s": _check(summary.get("no_new_data_startup_seconds"), "<=", 5),
        "no_new_data_rewrites_no_row": {
            "value": rewrote_nothing,
            "target": "no row rewritten",
            "met": rewrote_nothing,
        },
        "peak_memory_below_6_gib": _check((summary["full_peak_rss_mib"] or 0) / GIB, "<", 6),
    }
    for step, share in (summary.get("new_stage_share_of_full") or {}).items():
        out[f"{step}_within_10pct_of_full"] = _check(share, "<=", 0.10)
    out |= mmm_bench.targets(summary.get("incrementality") or {}, _check)  # refit ≤ 10 min, other nights ≤ 2 %
    return out


def _check(value, op: str, bound: float) -> dict:
    if value is None:
        return {"value": None, "target": f"{op} {bound}", "met": None}
    met = {"<=": value <= bound, "<": value < bound, ">=": value >= bound}[op]
    return {"value": round(value, 4), "target": f"{op} {bound}", "met": met}


def _code_state() -> dict:
    """Which code was measured: HEAD, and a digest of the SQL and Python it ran (work in progress counts)."""
    import hashlib
    import subprocess

    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=PROJECT_ROOT, capture_output=True, text=True, check=True
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        head = "unknown"
    digest = hashlib.sha256()
    for folder, pattern in (("sql", "**/*.sql"), ("pipelines", "**/*.py"), ("schemas", "**/*.py")):
        for path in sorted((PROJECT_ROOT / folder).glob(pattern)):
            digest.update(path.as_posix().encode())
            digest.update(path.read_bytes())
    return {"git_head": head, "source_digest": digest.hexdigest()[:12]}


def _machine() -> dict:
    import os
    import platform

    import duckdb
    import polars

    mem = None
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem = round(int(line.split()[1]) / 2**20, 1)
    except OSError:
        pass
    return {
        "cpus": os.cpu_count(),
        "mem_gib": mem,
        "python": platform.python_version(),
        "duckdb": duckdb.__version__,
        "polars": polars.__version__,
    }


def _fmt(value, digits=1, suffix=""):
    if value is None:
        return "-"
    if isinstance(value, float) and abs(value) >= 1000:
        return f"{value:,.0f}{suffix}"
    return f"{value:.{digits}f}{suffix}"


PARTS = {
    "ingest": "ingest",
    "staging": "staging",
    "marts": "marts",
    "publish": "publish",
    "file copy": "file copy",
    "start-up and bookkeeping": "start-up",
}


def _run_lines(doc: dict) -> list[str]:
    """The full build and each nightly: wall time, each part's share, then start-up and the file copy
    on lines of their own, and whether the run with no new data rewrote any row."""
    s = doc["summary"]
    runs = s.get("runs") or {}
    first = next((r for r in doc.get("rounds", [])), {})
    names = {"full": "full build"} | {
        key: f"{label} ({'..'.join(dict.fromkeys(first[key]['months']))})" if key in first else label
        for key, label in NIGHTLIES.items()
    }
    lines = [
        "",
        f"{'run (process until the CLI returned)':42s} {'s':>8s} "
        + " ".join(f"{short:>9s}" for short in PARTS.values()),
    ]
    for key, name in names.items():
        run = runs.get(key)
        if run is None:
            lines.append(f"{name:42s} {'-':>8s}")
            continue
        lines.append(
            f"{name:42s} {_fmt(run['wall_seconds'], 2):>8s} "
            + " ".join(f"{_fmt(100 * (run['share'][part] or 0), 0, '%'):>9s}" for part in PARTS)
        )
    for part, what in (
        ("start-up and bookkeeping", "start-up and bookkeeping (interpreter, imports, Dagster outside the steps)"),
        ("file copy", "warehouse file copy (the published file into the build)"),
    ):
        lines.append(
            f"{what}: "
            + ", ".join(f"{names[k]} {_fmt(run['seconds'][part], 2)}s" for k, run in runs.items() if run is not None)
        )
    lines.append(
        f"two months / full = {_fmt(s['ratio_backfill_over_full'], 3)}   one new day / full = "
        f"{_fmt(s.get('ratio_one_new_day_over_full'), 3)} ({_fmt(s.get('ratio_one_new_day_without_refits_over_full'), 3)} "
        f"without the {_fmt(s.get('one_new_day_refit_seconds'), 2)}s of models refitted on their cadence that night)   "
        "no new data beyond start-up and file copy = "
        f"{_fmt(s.get('no_new_data_beyond_startup_and_copy'), 2)}s"
    )
    for rewritten in s.get("no_new_data_rewritten") or []:
        lines.append(
            "no new data: rewrote no row (meta.model_writes +0, no table's row count moved)"
            if rewritten["none"]
            else f"no new data REWROTE ROWS: meta.model_writes +{rewritten['model_writes_added']}, row counts moved "
            + ", ".join(f"{t} {a}->{b}" for t, (a, b) in list(rewritten["tables_changed"].items())[:8])
        )
    return lines


def format_report(doc: dict) -> str:
    s = doc["summary"]
    loads = [v for r in doc.get("rounds", []) for v in r.get("loadavg_1m", {}).values() if v is not None]
    lines = [
        f"bench {doc['scale']}: rows "
        + ", ".join(f"{k} {v:,}" for k, v in s["rows"].items())
        + f"; {doc['repeat']} round(s), medians"
        + (f"; max 1-min load {max(loads):.1f} on {doc.get('machine', {}).get('cpus')} CPUs" if loads else ""),
        "",
    ]
    lines.append(f"{'stage':24s} {'seconds':>9s} {'rows/s':>11s} {'peak MiB':>9s}")
    for name, st in s["stages"].items():
        flag = f"  FAILED {st['failed_steps']}" if st["failed_steps"] else ""
        lines.append(
            f"{name:24s} {_fmt(st['seconds'], 2):>9s} {_fmt(st['rows_per_second'], 0):>11s} "
            f"{_fmt(st['peak_rss_mib'], 0):>9s}{flag}"
        )
    lines.append(
        f"{'end to end (process)':24s} {_fmt(s['full_wall_seconds'], 2):>9s} "
        f"{_fmt(sum(s['rows'].values()) / s['full_wall_seconds'] if s['full_wall_seconds'] else None, 0):>11s} "
        f"{_fmt(s['full_peak_rss_mib'], 0):>9s}"
    )
    lines += [
        "",
        f"limit (DuckDB read {_fmt(s['limit_read_seconds'], 2)}s + query {_fmt(s['limit_query_seconds'], 2)}s): "
        f"{_fmt(s['limit_seconds'], 2)}s   pipeline / limit = {_fmt(s['ratio_pipeline_over_limit'], 1)}x",
    ]
    if s.get("store_floor_seconds"):
        lines.append(
            f"storage floor (DuckDB copies every file into a database file): {_fmt(s['store_floor_seconds'], 2)}s "
            f"= {_fmt(s['ratio_store_floor_over_limit'], 1)}x the limit   full / floor = "
            f"{_fmt(s.get('ratio_full_over_store_floor'), 2)}x"
        )
        lines.append(
            "ingest / its floor per source: "
            + ", ".join(
                f"{k} {_fmt(v, 2)}x ({_fmt(s['store_floor_seconds_per_source'].get(k), 1)}s)"
                for k, v in (s.get("ratio_ingest_over_store_floor") or {}).items()
            )
        )
    if s.get("new_stage_share_of_full"):
        lines.append(
            "new stages, share of the full build: "
            + ", ".join(f"{k} {_fmt(100 * v, 1)}%" for k, v in s["new_stage_share_of_full"].items() if v is not None)
        )
    if s.get("xlsx_vs_csv"):
        x = s["xlsx_vs_csv"]
        lines.append(
            f".xlsx vs its CSV twin ({x['rows']:,} rows, read + cast + validate): {_fmt(x['xlsx_seconds'], 2)}s vs "
            f"{_fmt(x['csv_seconds'], 2)}s = {_fmt(x['ratio'], 2)}x per row"
        )
    lines.append(
        f"pandas peer: {_fmt(s['peer_seconds'], 2)}s (peak {_fmt(s['peer_peak_rss_mib'], 0)} MiB)   "
        f"peer / pipeline = {_fmt(s['ratio_peer_over_pipeline'], 2)}x"
    )
    lines += _run_lines(doc)
    lines.append(f"Pandera validate / ingest = {_fmt(s['pandera_share_of_ingest'], 3)}")
    lines += mmm_bench.report_lines(s.get("incrementality"))
    if s.get("vs_smaller_scale"):
        v = s["vs_smaller_scale"]
        lines.append(
            f"end to end vs latest {v['scale']} result (another invocation): {_fmt(v['ratio_full_wall'], 2)}x "
            f"for {_fmt(v['ratio_rows'], 1)}x the rows"
        )
    spark_runs = [r["spark_full"] for r in doc.get("rounds", []) if "spark_full" in r]
    if spark_runs:
        spark_wall = _median([run_seconds(r) for r in spark_runs])
        ok = all(r["exit_code"] == 0 for r in spark_runs)
        stages = {
            name: _median([r["stages"][name]["seconds"] for r in spark_runs if name in r["stages"]])
            for name in dict.fromkeys(n for r in spark_runs for n in r["stages"])
        }
        lines += [
            "",
            f"Spark engine full build: {_fmt(spark_wall, 2)}s{'' if ok else ' (FAILED)'}   "
            f"Spark / DuckDB = {_fmt(_ratio(spark_wall, s['full_wall_seconds']), 2)}x; stages: "
            + ", ".join(f"{k} {_fmt(v, 1)}s" for k, v in stages.items()),
        ]
    top = list(s["per_step_seconds"].items())[:8]
    lines += ["", "slowest steps: " + ", ".join(f"{k} {v:.1f}s" for k, v in top)]
    lines.append("time inside probes: " + ", ".join(f"{k} {v:.1f}s" for k, v in list(s["probes_seconds"].items())[:10]))
    if s["failed_checks"]:
        lines += [
            "",
            "BLOCKING CHECKS FAILED (published anyway for measurement): "
            + "; ".join(f"{c['name']} ({c['failures']})" for c in s["failed_checks"]),
        ]
    cmp_ = doc.get("comparison")
    if cmp_ is not None:
        lines += [
            "",
            f"peer vs pipeline: {'EQUAL' if cmp_['equal'] else 'MISMATCH'} "
            f"(CAC rows {cmp_['cac_rows_compared']}, LTV rows {cmp_['ltv_rows_compared']}; "
            f"{len(cmp_['cac_mismatches'])} CAC and {len(cmp_['ltv_mismatches'])} LTV differences)",
        ]
        for m in (cmp_["cac_mismatches"] + cmp_["ltv_mismatches"])[:12]:
            lines.append(
                f"  {m['month']} {m['channel']:15s} {m['column']:14s} pipeline {m['pipeline']}  peer {m['peer']}  ({m['row_in']})"
            )
    lines += [
        "",
        "targets (reported, not asserted): "
        + ", ".join(
            f"{k}={'-' if v['met'] is None else ('met' if v['met'] else 'NOT met')} ({v['value']})"
            for k, v in doc["summary"]["targets"].items()
        ),
    ]
    return "\n".join(lines)
