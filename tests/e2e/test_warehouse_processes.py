"""The warehouse file under real processes: readers, competing builders, kill -9 mid-publish.

These work at the level of pipelines/publish/warehouse.py (no Dagster), so they are quick; test_runs.py repeats
the important ones through the real CLI.
"""

from __future__ import annotations

import json
import os
import subprocess
import textwrap
import time
from pathlib import Path

import duckdb
import pytest
from conftest import PYTHON, ROOT, base_env, kill, wait_for_file

from pipelines.publish.warehouse import (
    PublishError,
    WarehouseBusy,
    WarehousePaths,
    build_lock,
    clean_leftovers,
    publish,
    rollback,
    start_build,
)


def make_db(path: Path, value: int) -> None:
    con = duckdb.connect(str(path))
    con.execute("create or replace table t as select ? as v, range as i from range(1000)", [value])
    con.close()


def value_seen_by_new_process(path: Path) -> int:
    code = f"import duckdb; print(duckdb.connect({str(path)!r}, read_only=True).sql('select max(v) from t').fetchall()[0][0])"
    out = subprocess.run([PYTHON, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    return int(out.stdout)


def build_and_publish(paths: WarehousePaths, run_id: str, value: int) -> None:
    with build_lock(paths, run_id=run_id):
        build = start_build(paths, run_id)
        make_db(build, value)
        publish(paths, build)


def python(code: str, env: dict | None = None) -> subprocess.Popen:
    return subprocess.Popen(
        [PYTHON, "-c", textwrap.dedent(code)],
        cwd=ROOT,
        env=env or base_env(),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )


READER = """
import duckdb, json, sys
con = duckdb.connect(sys.argv[1] if len(sys.argv) > 1 else {path!r}, read_only=True)
def look():
    return con.sql("select max(v), count(*) from t").fetchall()[0]
print(json.dumps(look()), flush=True)
for line in sys.stdin:
    print(json.dumps(look()), flush=True)
"""


def test_reader_process_never_blocks_publishes_and_keeps_its_snapshot(tmp_path):
    paths = WarehousePaths(tmp_path / "w.duckdb")
    build_and_publish(paths, "r1", 1)
    reader = python(READER.format(path=str(paths.published)))
    try:
        assert json.loads(reader.stdout.readline()) == [1, 1000]
        started = time.monotonic()
        build_and_publish(paths, "r2", 2)  # the reader holds the file: a writer on it would fail here
        build_and_publish(paths, "r3", 3)  # and again: the reader's file is now unlinked entirely
        assert time.monotonic() - started < 30
        reader.stdin.write("again\n")
        reader.stdin.flush()
        assert json.loads(reader.stdout.readline()) == [1, 1000]  # same consistent snapshot
        assert value_seen_by_new_process(paths.published) == 3  # a new connection sees the newest build
        assert value_seen_by_new_process(paths.previous) == 2
    finally:
        reader.stdin.close()
        reader.wait(timeout=30)
    assert reader.returncode == 0, reader.stderr.read()


def test_second_builder_process_fails_fast_or_waits(tmp_path):
    paths = WarehousePaths(tmp_path / "w.duckdb")
    holder = python(
        f"""
        import sys, time
        from pathlib import Path
        from pipelines.publish.warehouse import WarehousePaths, build_lock
        with build_lock(WarehousePaths(Path({str(paths.published)!r})), run_id="run-A"):
            print("locked", flush=True)
            time.sleep(float(sys.stdin.readline()))
        """
    )
    try:
        assert holder.stdout.readline().strip() == "locked"
        with (
            pytest.raises(WarehouseBusy, match=rf"another run is building .*process {holder.pid}, run run-A"),
            build_lock(paths),
        ):
            pass
        holder.stdin.write("1.5\n")
        holder.stdin.flush()
        started = time.monotonic()
        with build_lock(paths, wait_seconds=60) as previous:  # queues behind the running build
            assert time.monotonic() - started > 0.5
            assert (previous.pid, previous.run_id) == (holder.pid, "run-A")
    finally:
        holder.stdin.close()
        holder.wait(timeout=30)


def test_kill_9_releases_the_lock_and_the_next_build_cleans_up(tmp_path):
    paths = WarehousePaths(tmp_path / "w.duckdb")
    build_and_publish(paths, "r1", 1)
    marker = tmp_path / "marker"
    dying = python(
        f"""
        from pathlib import Path
        import duckdb
        from pipelines.core.faults import pause_point
        from pipelines.publish.warehouse import WarehousePaths, build_lock, start_build
        paths = WarehousePaths(Path({str(paths.published)!r}))
        with build_lock(paths, run_id="run-dead"):
            build = start_build(paths, "run-dead")
            con = duckdb.connect(str(build))
            con.execute("insert into t select 99, range from range(100000)")  # uncommitted work in the WAL
            pause_point("ingest")
        """,
        env=base_env(ACQ_PAUSE_AT="ingest", ACQ_PAUSE_MARKER=str(marker)),
    )
    wait_for_file(marker, dying, timeout=60)
    kill(dying)
    assert (paths.build_dir / "run-dead.duckdb").exists()  # the dead run's half build
    assert value_seen_by_new_process(paths.published) == 1  # published untouched and readable
    with build_lock(paths, run_id="r2") as previous:  # the kernel released the dead run's lock
        assert previous.run_id == "run-dead"
        build = start_build(paths, "r2")
        assert sorted(p.name for p in paths.build_dir.iterdir()) == ["r2.duckdb"]
        make_db(build, 2)
        publish(paths, build)
    assert list(paths.build_dir.iterdir()) == []
    assert value_seen_by_new_process(paths.published) == 2 and value_seen_by_new_process(paths.previous) == 1


def test_kill_9_in_the_middle_of_publish_keeps_published_and_previous(tmp_path):
    paths = WarehousePaths(tmp_path / "w.duckdb")
    build_and_publish(paths, "r1", 1)
    build_and_publish(paths, "r2", 2)  # published 2, previous 1
    marker = tmp_path / "marker"
    dying = python(
        f"""
        from pathlib import Path
        import duckdb
        from pipelines.publish.warehouse import WarehousePaths, build_lock, start_build, publish
        paths = WarehousePaths(Path({str(paths.published)!r}))
        with build_lock(paths, run_id="run-dead"):
            build = start_build(paths, "run-dead")
            con = duckdb.connect(str(build)); con.execute("update t set v = 3"); con.close()
            publish(paths, build)
        """,
        env=base_env(ACQ_PAUSE_AT="publish", ACQ_PAUSE_MARKER=str(marker)),
    )
    wait_for_file(marker, dying, timeout=60)
    kill(dying)
    assert paths.published.with_name("w.duckdb.previous.tmp").exists()  # died half-way through publish
    assert value_seen_by_new_process(paths.published) == 2
    assert value_seen_by_new_process(paths.previous) == 1  # the one-step rollback target survived too
    with build_lock(paths, run_id="r4"):
        start_build(paths, "r4")
    assert not list(tmp_path.glob("*.tmp")) and [p.name for p in paths.build_dir.iterdir()] == ["r4.duckdb"]
    assert value_seen_by_new_process(paths.previous) == 1


def test_dying_after_the_swap_but_before_renaming_previous_is_finished_on_cleanup(tmp_path):
    paths = WarehousePaths(tmp_path / "w.duckdb")
    build_and_publish(paths, "r1", 1)
    build_and_publish(paths, "r2", 2)
    # replay publish by hand up to the last step: second name made, build swapped in, then "killed"
    build = paths.build_file("r3")
    make_db(build, 3)
    keep = paths.published.with_name("w.duckdb.previous.tmp")
    os.link(paths.published, keep)
    os.replace(build, paths.published)
    clean_leftovers(paths)
    assert not keep.exists()
    assert value_seen_by_new_process(paths.published) == 3 and value_seen_by_new_process(paths.previous) == 2


def test_rollback_waits_for_a_running_build(tmp_path):
    paths = WarehousePaths(tmp_path / "w.duckdb")
    build_and_publish(paths, "r1", 1)
    build_and_publish(paths, "r2", 2)
    with build_lock(paths, run_id="r3"), pytest.raises(WarehouseBusy):
        rollback(paths)
    rollback(paths)
    assert value_seen_by_new_process(paths.published) == 1


def test_stale_wal_stops_a_build_before_it_copies(tmp_path):
    paths = WarehousePaths(tmp_path / "w.duckdb")
    build_and_publish(paths, "r1", 1)
    paths.wal.write_bytes(b"not a real log")
    with (
        build_lock(paths, run_id="r2"),
        pytest.raises(PublishError, match=r"w\.duckdb\.wal exists: something opened the published warehouse"),
    ):
        start_build(paths, "r2")
    assert not paths.build_file("r2").exists()
