"""Turn one instrumented run (pipelines.devtools.bench.runner) into per-stage figures."""

from __future__ import annotations

from collections import defaultdict


def stage_of(step_key: str) -> str:
    if step_key.startswith("raw__"):
        return "ingest:" + step_key.removeprefix("raw__")
    if step_key.startswith("staging__"):
        return "staging"
    if step_key.startswith("marts__"):
        return "marts"
    if step_key in ("warehouse", "meta__build_info"):  # build info and its checks belong to publishing
        return "publish"
    return "other:" + step_key


def _peak(samples: list, intervals: list[tuple[float, float]]) -> int | None:
    values = [kb for t, kb in samples if any(a <= t <= b for a, b in intervals)]
    return max(values) if values else None


def analyse(report: dict, rows_by_source: dict[str, int]) -> dict:
    """Per stage: seconds (sum of its steps), rows/s, peak RSS (MiB) sampled during its steps; per step;
    per probe (time inside instrumented functions, summed); overheads."""
    samples = report.get("rss_samples", [])
    steps = [s for s in report.get("steps", []) if "start" in s and "end" in s]
    stages: dict[str, dict] = {}
    intervals: dict[str, list] = defaultdict(list)
    for s in steps:
        name = stage_of(s["step"])
        stage = stages.setdefault(name, {"seconds": 0.0, "steps": 0, "failed": []})
        stage["seconds"] += s["end"] - s["start"]
        stage["steps"] += 1
        if s.get("status") == "failure":
            stage["failed"].append(s["step"])
        intervals[name].append((s["start"], s["end"]))
    total_rows = sum(rows_by_source.values())
    for name, stage in stages.items():
        rows = rows_by_source.get(name.split(":", 1)[1], 0) if name.startswith("ingest:") else total_rows
        stage["rows"] = rows
        stage["rows_per_second"] = rows / stage["seconds"] if stage["seconds"] > 0 else None
        peak = _peak(samples, intervals[name])
        stage["peak_rss_mib"] = round(peak / 1024, 1) if peak else None
    ingest = [v for k, v in stages.items() if k.startswith("ingest:")]
    if ingest:
        stages["ingest (all)"] = {
            "seconds": sum(v["seconds"] for v in ingest),
            "rows": sum(v["rows"] for v in ingest),
            "peak_rss_mib": max((v["peak_rss_mib"] or 0) for v in ingest) or None,
            "steps": sum(v["steps"] for v in ingest),
            "failed": [f for v in ingest for f in v["failed"]],
        }
        stages["ingest (all)"]["rows_per_second"] = (
            stages["ingest (all)"]["rows"] / stages["ingest (all)"]["seconds"]
            if stages["ingest (all)"]["seconds"]
            else None
        )
    probes: dict[str, float] = defaultdict(float)
    probe_calls: dict[str, int] = defaultdict(int)
    for name, a, b in report.get("probes", []):
        probes[name] += b - a
        probe_calls[name] += 1
    step_seconds = sum(s["end"] - s["start"] for s in steps)
    per_step = [
        {
            "step": s["step"],
            "seconds": round(s["end"] - s["start"], 3),
            "status": s.get("status"),
            "peak_rss_mib": round((_peak(samples, [(s["start"], s["end"])]) or 0) / 1024, 1),
            "probes": _probes_within(report.get("probes", []), s["start"], s["end"]),
        }
        for s in steps
    ]
    wall = report.get("wall_seconds") or 0.0
    overhead = {
        "process_start_to_imports": _diff(report.get("imported"), report.get("wall_start")),
        "imports_to_materialize": _diff(report.get("materialize_start"), report.get("imported")),
        "materialize_outside_steps": (
            _diff(report.get("materialize_end"), report.get("materialize_start")) - step_seconds
            if report.get("materialize_end") and report.get("materialize_start")
            else None
        ),
        "after_materialize": _diff(report.get("wall_end"), report.get("materialize_end")),
    }
    return {
        "wall_seconds": wall,
        # the child from its start until the CLI returned: without the bench's own read of the event log
        "process_seconds": _diff(report.get("end"), report.get("wall_start")),
        "steps_seconds": step_seconds,
        "peak_rss_mib": round(max((kb for _, kb in samples), default=0) / 1024, 1),
        "vm_hwm_mib": round(report["vm_hwm_kb"] / 1024, 1) if report.get("vm_hwm_kb") else None,
        "stages": stages,
        "per_step": per_step,
        "probes": {
            k: {"seconds": round(v, 3), "calls": probe_calls[k]}
            for k, v in sorted(probes.items(), key=lambda kv: -kv[1])
        },
        "overhead": overhead,
        "success": report.get("exit_code") == 0,
        "failed_checks": [c for c in report.get("checks", []) if not c["passed"]],
        "checks_run": len(report.get("checks", [])),
    }


def run_seconds(run: dict) -> float:
    """A pipeline run's time: the child process until the CLI returned (the bench's own read of the event
    log afterwards is no part of it), else, for an older record or a run that wrote no report, its wall time."""
    return run.get("process_seconds") or run.get("wall_seconds") or 0.0


def _probes_within(probes: list, start: float, end: float) -> dict[str, float]:
    out: dict[str, float] = defaultdict(float)
    for name, a, b in probes:
        if a >= start - 1e-3 and b <= end + 1e-3:
            out[name] += b - a
    return {k: round(v, 3) for k, v in out.items()}


def _diff(a, b):
    return (a - b) if a is not None and b is not None else None
