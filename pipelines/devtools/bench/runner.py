"""Start an instrumented pipeline run in a subprocess and sample its memory while it runs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

from pipelines.core.paths import PROJECT_ROOT

SAMPLE_SECONDS = 0.05


def _rss_kb(pid: int) -> int | None:
    """Resident set of a process (psutil if installed, else /proc/<pid>/status)."""
    try:
        import psutil  # type: ignore[import-not-found]

        return psutil.Process(pid).memory_info().rss // 1024
    except ImportError:
        pass
    except Exception:  # noqa: BLE001 - the process ended between two samples
        return None
    try:
        with open(f"/proc/{pid}/status") as handle:
            for line in handle:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


class RssSampler(threading.Thread):
    def __init__(self, pid: int, every: float = SAMPLE_SECONDS):
        super().__init__(daemon=True)
        self.pid, self.every = pid, every
        self.samples: list[tuple[float, int]] = []
        self._halt = threading.Event()

    def run(self) -> None:
        while not self._halt.is_set():
            rss = _rss_kb(self.pid)
            if rss is not None:
                self.samples.append((time.time(), rss))
            self._halt.wait(self.every)

    def stop(self) -> None:
        self._halt.set()
        self.join()


def bench_env(dagster_home: Path) -> dict[str, str]:
    """The pipeline's environment for a bench run: its own Dagster home (run history and pool slots
    apart from the project's, so a bench never queues behind, or blocks, someone's real run)."""
    dagster_home.mkdir(parents=True, exist_ok=True)
    (dagster_home / "dagster.yaml").write_bytes((PROJECT_ROOT / "dagster.yaml").read_bytes())
    env = dict(os.environ)
    env["DAGSTER_HOME"] = str(dagster_home)
    env.setdefault("ACQ_HASH_SECRET", "bench")
    env["PYTHONPATH"] = str(PROJECT_ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    return env


def run_pipeline(cli_args: list[str], work: Path, label: str, dagster_home: Path, ignore_checks: bool = True) -> dict:
    """One `python -m pipelines <cli_args>` in a child process; returns the child's report plus the
    sampled RSS curve and the parent's wall clock."""
    work = work.resolve()  # the CLI changes directory to DAGSTER_HOME
    work.mkdir(parents=True, exist_ok=True)
    out = work / f"{label}.json"
    log = work / f"{label}.log"
    out.unlink(missing_ok=True)
    command = [sys.executable, "-m", "pipelines.devtools.bench.child", str(out)]
    command += ["--ignore-checks"] if ignore_checks else []
    command += ["--", *cli_args]
    rc, t0, t1, samples = run_sampled(command, log, bench_env(dagster_home))
    report = json.loads(out.read_text()) if out.exists() else {"rc": rc, "steps": [], "probes": [], "checks": []}
    report.update(
        {
            "exit_code": rc,
            "wall_start": t0,
            "wall_end": t1,
            "wall_seconds": t1 - t0,
            "rss_samples": samples,
            "log": str(log),
        }
    )
    if rc != 0:
        report["error_tail"] = log.read_text(errors="replace")[-3000:]
    return report


def run_sampled(command: list[str], log: Path, env: dict[str, str] | None = None) -> tuple[int, float, float, list]:
    """Run a command with output to `log`, sampling its RSS: (exit code, start, end, samples)."""
    t0 = time.time()
    with log.open("w") as handle:
        process = subprocess.Popen(command, cwd=PROJECT_ROOT, env=env, stdout=handle, stderr=subprocess.STDOUT)
        sampler = RssSampler(process.pid)
        sampler.start()
        rc = process.wait()
        sampler.stop()
    return rc, t0, time.time(), sampler.samples


def run_peer_process(raw_dir: Path, out_dir: Path) -> dict:
    """The pandas peer in its own process: seconds (its own timer and wall), peak RSS, result files."""
    import json

    out_dir = out_dir.resolve()
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "peer.json").unlink(missing_ok=True)
    env = dict(os.environ)
    env["PYTHONPATH"] = str(PROJECT_ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    rc, t0, t1, samples = run_sampled(
        [sys.executable, "-m", "pipelines.devtools.bench.peer", str(raw_dir), str(out_dir)], out_dir / "peer.log", env
    )
    info = json.loads((out_dir / "peer.json").read_text()) if rc == 0 else {}
    return {
        "exit_code": rc,
        "wall_seconds": t1 - t0,
        "seconds": info.get("seconds"),
        "timings": info.get("timings"),
        "as_of": info.get("as_of"),
        "peak_rss_mib": round(max((kb for _, kb in samples), default=0) / 1024, 1),
        "out_dir": str(out_dir),
        "log": str(out_dir / "peer.log"),
    }
