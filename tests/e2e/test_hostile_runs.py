"""Runs never hang silently and fail saying why (issue 13), with real CLI processes: a pool slot held by
a run killed with -9 is freed for a run on another warehouse of the same Dagster home; a run waiting for
the pool says so at INFO, gives up after --wait, and stops on SIGTERM; an unwritable warehouse folder
is named with the fix on the last line.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import signal
import subprocess
import threading
import time

import pytest
from conftest import assert_ok, clone_site, kill, wait_for_file

pytestmark = pytest.mark.slow

MONTHS = ("--from", "2024-01", "--to", "2024-01")


def sha256(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def follow(process: subprocess.Popen, needle: str) -> tuple[threading.Event, list[str]]:
    seen, lines = threading.Event(), []

    def read() -> None:
        for line in process.stderr:
            lines.append(line)
            if needle in line:
                seen.set()

    threading.Thread(target=read, daemon=True).start()
    return seen, lines


def holding_the_pool(site) -> tuple[subprocess.Popen, str]:
    """A run of `site` paused inside a marts step, i.e. holding the pool's one slot."""
    marker = site.root / "paused"
    process = site.start("backfill", *MONTHS, env=site.env(ACQ_PAUSE_AT="marts", ACQ_PAUSE_MARKER=str(marker)))
    wait_for_file(marker, process)
    return process, site.paths.lock.read_text().split()[1]


def test_a_slot_held_by_a_killed_run_is_freed_for_another_warehouse(baseline, site, tmp_path):
    dying, dead_run = holding_the_pool(site)
    kill(dying)
    other = clone_site(baseline[0], tmp_path / "other")  # another warehouse, the same Dagster home
    result = other.cli("backfill", *MONTHS, env=site.env(), timeout=240)
    assert_ok(result)
    assert f"run {dead_run} held the 'warehouse' pool but its process is gone: its slot was freed" in result.stderr


def test_a_run_waiting_for_the_pool_says_so_gives_up_after_wait_and_stops_on_sigterm(baseline, site, tmp_path):
    holder, holder_run = holding_the_pool(site)
    other = clone_site(baseline[0], tmp_path / "other")
    before = sha256(other.warehouse)
    try:
        started = time.monotonic()
        result = other.cli("backfill", *MONTHS, "--wait", "3", env=site.env(), timeout=240)
        assert result.returncode == 1
        info = [
            line for line in result.stderr.splitlines() if "waiting up to 3s for the Dagster pool 'warehouse'" in line
        ]
        # an INFO of the warehouse resource: the terminal says it as a note, not a warning
        assert info and info[0].startswith("note: ") and f"held by run {holder_run} (process" in info[0]
        assert str(site.warehouse) in info[0]  # what it waits for: that run, building that warehouse
        assert "waited 3s. Wait for that run to finish, or pass --wait SECONDS" in result.stderr
        assert time.monotonic() - started < 120
        assert sha256(other.warehouse) == before

        patient = other.start("backfill", *MONTHS, "--wait", "300", env=site.env())
        waiting, lines = follow(patient, "waiting up to 300s for the Dagster pool")
        assert waiting.wait(timeout=180), "".join(lines)[-3000:]
        os.killpg(patient.pid, signal.SIGTERM)
        patient.wait(timeout=60)
        assert patient.returncode != 0
        time.sleep(0.5)
        assert "stopped by SIGTERM while waiting for the Dagster pool 'warehouse'" in "".join(lines)
        assert sha256(other.warehouse) == before
    finally:
        (site.root / "paused").unlink(missing_ok=True)  # let the holder finish
        out, err = holder.communicate(timeout=300)
        if holder.returncode != 0:
            kill(holder)
    assert holder.returncode == 0, err[-3000:]


def test_an_unwritable_warehouse_folder_is_named_with_the_fix(site, tmp_path):
    folder = tmp_path / "readonly"
    folder.mkdir()
    if os.geteuid() == 0:  # root writes through file modes: make the folder immutable instead
        if shutil.which("chattr") is None or subprocess.run(["chattr", "+i", str(folder)]).returncode != 0:
            pytest.skip("running as root on a file system without chattr +i: cannot make a folder unwritable")
    else:
        os.chmod(folder, 0o555)
    try:
        command = [a if a != str(site.warehouse) else str(folder / "warehouse.duckdb") for a in site.command("run")]
        result = subprocess.run(command, env=site.env(), capture_output=True, text=True, timeout=120)
    finally:
        if os.geteuid() == 0:
            subprocess.run(["chattr", "-i", str(folder)])
        else:
            os.chmod(folder, 0o755)
    assert result.returncode == 2, result.stderr[-3000:]
    last = result.stderr.strip().splitlines()[-1]
    assert f"cannot write in {folder}" in last and "chmod u+w" in last and "--warehouse PATH" in last
    assert "Traceback" not in result.stderr
