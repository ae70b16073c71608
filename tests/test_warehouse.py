"""Build-and-publish of the analysts' file: atomic, never blocked by readers, one build at a time."""

from __future__ import annotations

import subprocess
import sys

import duckdb
import pytest

from pipelines.core.db import scalar
from pipelines.publish.warehouse import (
    PublishError,
    WarehouseBusy,
    WarehousePaths,
    build_lock,
    clean_leftovers,
    copy_file,
    publish,
    rollback,
    start_build,
)


def make_db(path, value: int) -> None:
    con = duckdb.connect(str(path))
    con.execute("create or replace table t as select ? as v", [value])
    con.close()


def value_of(path) -> int:
    con = duckdb.connect(str(path), read_only=True)
    try:
        return scalar(con, "select v from t")
    finally:
        con.close()


def value_in_other_process(path) -> int:
    code = (
        f"import duckdb; print(duckdb.connect({str(path)!r}, read_only=True).sql('select v from t').fetchall()[0][0])"
    )
    return int(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout)


def build_and_publish(paths: WarehousePaths, run_id: str, value: int) -> None:
    with build_lock(paths):
        build = start_build(paths, run_id)
        make_db(build, value)
        publish(paths, build)


def test_publish_replaces_and_keeps_previous(tmp_path):
    paths = WarehousePaths(tmp_path / "w.duckdb")
    build_and_publish(paths, "r1", 1)
    build_and_publish(paths, "r2", 2)
    assert value_of(paths.published) == 2 and value_of(paths.previous) == 1
    assert list(paths.build_dir.iterdir()) == []
    rollback(paths)
    assert value_of(paths.published) == 1 and value_of(paths.previous) == 2
    rollback(paths)
    assert value_of(paths.published) == 2


def test_reader_keeps_its_snapshot_and_never_blocks_a_publish(tmp_path):
    paths = WarehousePaths(tmp_path / "w.duckdb")
    build_and_publish(paths, "r1", 1)
    reader = duckdb.connect(str(paths.published), read_only=True)
    try:
        build_and_publish(paths, "r2", 2)  # would fail if the run wrote the file the reader holds
        assert scalar(reader, "select v from t") == 1  # the old snapshot, consistent
        # a new connection from another process (an analyst's client) sees the new build; in this
        # process DuckDB would hand back the instance it already has open for the path
        assert value_in_other_process(paths.published) == 2
    finally:
        reader.close()


def test_build_starts_from_published_content(tmp_path):
    paths = WarehousePaths(tmp_path / "w.duckdb")
    build_and_publish(paths, "r1", 7)
    with build_lock(paths):
        build = start_build(paths, "r2")
        assert value_of(build) == 7


def test_second_build_is_refused_while_one_runs(tmp_path):
    paths = WarehousePaths(tmp_path / "w.duckdb")
    with (
        build_lock(paths),
        pytest.raises(WarehouseBusy, match="another run is building"),
        build_lock(paths, wait_seconds=0.3),
    ):
        pass
    with build_lock(paths):  # released when the first run ended
        pass


def test_stale_wal_stops_publish_and_leaves_file(tmp_path):
    paths = WarehousePaths(tmp_path / "w.duckdb")
    build_and_publish(paths, "r1", 1)
    paths.wal.write_bytes(b"junk")
    with build_lock(paths):
        build = paths.build_file("r2")
        paths.build_dir.mkdir(exist_ok=True)
        make_db(build, 2)
        with pytest.raises(PublishError, match=r"\.wal exists"):
            publish(paths, build)
    paths.wal.unlink()
    assert value_of(paths.published) == 1


def test_leftovers_of_a_dead_run_are_cleaned(tmp_path):
    paths = WarehousePaths(tmp_path / "w.duckdb")
    paths.build_dir.mkdir(parents=True)
    (paths.build_dir / "dead-run.duckdb").write_bytes(b"half a build")
    with build_lock(paths):
        start_build(paths, "r1")
    assert [p.name for p in paths.build_dir.iterdir()] == []


def test_two_warehouses_in_one_folder_keep_their_builds_apart(tmp_path):
    """issue 26: `.build/` was shared by every warehouse of a folder, and a run on one deleted the running
    build of the other ("nothing to publish"). Each warehouse file now has its own build folder."""
    first, second = WarehousePaths(tmp_path / "a.duckdb"), WarehousePaths(tmp_path / "b.duckdb")
    assert first.build_dir != second.build_dir
    first.build_dir.mkdir(parents=True)
    running = first.build_dir / "run-a.duckdb"
    running.write_bytes(b"a build in progress")
    with build_lock(second):
        clean_leftovers(second)  # what a run on b.duckdb does when it starts
    assert running.exists()


def test_a_copy_that_fails_half_way_leaves_no_partial_build(tmp_path, monkeypatch):
    """issue 26: a disk-full copy left a partial build behind. The half copy is removed and the run is told."""
    import shutil

    paths = WarehousePaths(tmp_path / "w.duckdb")
    make_db(paths.published, 1)

    def full_disk(source, target):
        with open(target, "wb") as handle:
            handle.write(b"half a copy")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(shutil, "copyfile", full_disk)
    with build_lock(paths), pytest.raises(PublishError, match="No space left on device.*free space"):
        start_build(paths, "r1")
    assert list(paths.build_dir.iterdir()) == []


def test_the_build_copy_is_the_published_file_byte_for_byte(tmp_path):
    # a reflink on XFS or Btrfs, a plain copy elsewhere (ext4, tmpfs): the same bytes, and the copy is
    # the build's own (writing it leaves the published file as it was)
    published, build = tmp_path / "warehouse.duckdb", tmp_path / "build.duckdb"
    make_db(published, 7)
    how = copy_file(published, build)
    assert how in ("reflink", "copy")
    assert build.read_bytes() == published.read_bytes()
    con = duckdb.connect(str(build))
    con.execute("update t set v = 8")
    con.close()
    assert value_of(build) == 8 and value_of(published) == 7
