"""End-to-end helpers: isolated sites (raw folder, Dagster home, warehouse) and real CLI processes.

Every site has its own DAGSTER_HOME holding a copy of the project's dagster.yaml (the CLI chdirs to it,
so the yaml's relative storage paths land inside the site), its own raw folder and warehouse. One
baseline warehouse is built per session with `python -m pipelines run`; tests clone it.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(HERE))

from rawdata import write_raw  # noqa: E402

from pipelines.publish.warehouse import WarehousePaths  # noqa: E402

PYTHON = sys.executable
FULL_RANGE = ("2024-01", "2025-03")  # the months the test data covers


def base_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ACQ_PAUSE", "DAGSTER_HOME"))}
    env.setdefault("ACQ_HASH_SECRET", "test-secret")
    env["PYTHONWARNINGS"] = "ignore"
    env.update(extra)
    return env


@dataclass
class Site:
    root: Path

    @property
    def raw(self) -> Path:
        return self.root / "raw"

    @property
    def home(self) -> Path:
        return self.root / "home"

    @property
    def warehouse(self) -> Path:
        return self.root / "wh" / "warehouse.duckdb"

    @property
    def paths(self) -> WarehousePaths:
        return WarehousePaths(self.warehouse)

    def env(self, **extra: str) -> dict[str, str]:
        return base_env(DAGSTER_HOME=str(self.home), **extra)

    def command(self, *args: str) -> list[str]:
        cmd = [PYTHON, "-m", "pipelines", *args]
        if args and args[0] in ("run", "backfill"):
            cmd += ["--raw", str(self.raw), "--warehouse", str(self.warehouse)]
        if args and args[0] == "rollback":
            cmd += ["--warehouse", str(self.warehouse)]
        return cmd

    def cli(self, *args: str, env: dict[str, str] | None = None, timeout: float = 300) -> subprocess.CompletedProcess:
        return subprocess.run(
            self.command(*args), cwd=ROOT, env=env or self.env(), capture_output=True, text=True, timeout=timeout
        )

    def start(self, *args: str, env: dict[str, str] | None = None) -> subprocess.Popen:
        return subprocess.Popen(
            self.command(*args),
            cwd=ROOT,
            env=env or self.env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )

    def inspect(self, path: Path | None = None) -> dict:
        return inspect_file(path or self.warehouse)

    def build_leftovers(self) -> list[str]:
        found = sorted(p.name for p in self.paths.build_dir.iterdir()) if self.paths.build_dir.exists() else []
        return found + sorted(p.name for p in self.warehouse.parent.glob("*.tmp"))


def inspect_file(path: Path) -> dict:
    """Fingerprints of a warehouse as a new connection from another process sees it."""
    out = subprocess.run([PYTHON, str(HERE / "inspect_wh.py"), str(path)], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def make_site(root: Path) -> Site:
    site = Site(root)
    site.home.mkdir(parents=True, exist_ok=True)
    shutil.copy(ROOT / "dagster.yaml", site.home / "dagster.yaml")
    site.warehouse.parent.mkdir(parents=True, exist_ok=True)
    return site


def clone_site(source: Site, root: Path) -> Site:
    """A new site with the source's raw files (modification times kept) and published warehouse."""
    site = make_site(root)
    shutil.copytree(source.raw, site.raw, copy_function=shutil.copy2)
    shutil.copy2(source.warehouse, site.warehouse)
    return site


def assert_ok(result: subprocess.CompletedProcess) -> None:
    assert result.returncode == 0, (
        f"exit {result.returncode}\nstdout:\n{result.stdout[-3000:]}\nstderr:\n{_tail(result.stderr)}"
    )


def _tail(text: str, lines: int = 40) -> str:
    return "\n".join(line for line in text.splitlines() if "DEBUG" not in line)[-6000:]


def wait_for_file(path: Path, process: subprocess.Popen, timeout: float = 240) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists():
            return
        if process.poll() is not None:
            out, err = process.communicate()
            raise AssertionError(
                f"process ended (exit {process.returncode}) before {path.name} appeared:\n{_tail(err)}"
            )
        time.sleep(0.1)
    kill(process)
    raise AssertionError(f"{path} did not appear within {timeout}s")


def kill(process: subprocess.Popen) -> None:
    """SIGKILL the process (it runs in a session of its own; only its own group is signalled)."""
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGKILL)
    process.wait(timeout=30)


@pytest.fixture(scope="session")
def baseline(tmp_path_factory) -> tuple[Site, dict]:
    """The test data, published once, and its fingerprints. A backfill over the data's months does what
    `run` does (the first partition reaches back to the earliest data) with fewer partitions to record;
    test_two_runs_at_once runs `run` itself."""
    site = make_site(tmp_path_factory.mktemp("baseline"))
    write_raw(site.raw)
    assert_ok(site.cli("backfill", "--from", FULL_RANGE[0], "--to", FULL_RANGE[1]))
    return site, site.inspect()


@pytest.fixture
def site(baseline, tmp_path) -> Site:
    """A private copy of the baseline to run against."""
    return clone_site(baseline[0], tmp_path / "site")
