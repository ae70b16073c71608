"""The analysts' DuckDB file and how a run replaces it without ever blocking or breaking a reader.

DuckDB allows one writer and no readers beside it, so a run never writes the published file: it copies
it to a private build file under `.build/`, writes there, and publishes by atomic rename. A reader that
holds the old file keeps its snapshot until it reconnects. The previous file stays beside the published
one for one-step rollback. An exclusive lock (flock, released by the kernel even on kill -9) keeps two
runs from building at once.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator


class WarehouseBusy(RuntimeError):
    """Another run holds the build lock."""


class PublishError(RuntimeError):
    """The build cannot replace the published file; the published file is untouched."""


@dataclass(frozen=True)
class WarehousePaths:
    published: Path

    @property
    def build_dir(self) -> Path:
        return self.published.parent / ".build"

    @property
    def previous(self) -> Path:
        return self.published.with_name(self.published.stem + ".previous.duckdb")

    @property
    def lock(self) -> Path:
        return self.published.with_name(self.published.name + ".lock")

    @property
    def wal(self) -> Path:
        return self.published.with_name(self.published.name + ".wal")

    def build_file(self, run_id: str) -> Path:
        return self.build_dir / f"{run_id}.duckdb"


@contextmanager
def build_lock(paths: WarehousePaths, wait_seconds: float = 0.0) -> Iterator[None]:
    """Hold the exclusive build lock, waiting up to `wait_seconds` for a running build to finish."""
    paths.lock.parent.mkdir(parents=True, exist_ok=True)
    handle = paths.lock.open("a+")
    deadline = time.monotonic() + wait_seconds
    try:
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise WarehouseBusy(
                        f"another run is building {paths.published} (lock {paths.lock} is held); "
                        "wait for it to finish or start this one later"
                    ) from None
                time.sleep(0.2)
        handle.seek(0)
        handle.truncate()
        handle.write(f"{os.getpid()}\n")
        handle.flush()
        yield
    finally:
        handle.close()  # closing the descriptor releases the lock


def start_build(paths: WarehousePaths, run_id: str) -> Path:
    """A private copy of the published warehouse to build in. Call while holding the build lock:
    anything left in the build folder then belongs to a run that died, and is removed."""
    clean_leftovers(paths)
    build = paths.build_file(run_id)
    if paths.published.exists():
        _refuse_stale_wal(paths)
        shutil.copyfile(paths.published, build)
    return build


def clean_leftovers(paths: WarehousePaths) -> list[Path]:
    paths.build_dir.mkdir(parents=True, exist_ok=True)
    removed = [p for p in paths.build_dir.iterdir() if p.is_file()]
    for p in removed:
        p.unlink()
    for tmp in paths.published.parent.glob(paths.published.name + ".*.tmp"):
        tmp.unlink()
        removed.append(tmp)
    return removed


def publish(paths: WarehousePaths, build: Path) -> None:
    """Atomically make `build` (closed, checkpointed) the published file; keep the old one as previous."""
    if not build.exists():
        raise PublishError(f"nothing to publish: {build} does not exist")
    if build.with_name(build.name + ".wal").exists():
        raise PublishError(f"{build} still has a write-ahead log: close its connection before publishing")
    _refuse_stale_wal(paths)
    _fsync(build)
    if paths.published.exists():
        keep = paths.published.with_name(paths.published.name + ".previous.tmp")
        if keep.exists():
            keep.unlink()
        os.link(paths.published, keep)  # a second name for the old file: instant, no copy
        os.replace(keep, paths.previous)
    os.replace(build, paths.published)
    _fsync_dir(paths.published.parent)


def rollback(paths: WarehousePaths) -> None:
    """Swap the published and the previous file (so a second rollback undoes the first)."""
    if not paths.previous.exists():
        raise PublishError(f"no previous warehouse to roll back to ({paths.previous} is missing)")
    _refuse_stale_wal(paths)
    swap = paths.published.with_name(paths.published.name + ".rollback.tmp")
    if paths.published.exists():
        os.link(paths.published, swap)
    os.replace(paths.previous, paths.published)
    if swap.exists():
        os.replace(swap, paths.previous)
    _fsync_dir(paths.published.parent)


def _refuse_stale_wal(paths: WarehousePaths) -> None:
    if paths.wal.exists():
        raise PublishError(
            f"{paths.wal} exists: something opened the published warehouse for writing and did not close "
            "cleanly. Publishing over it could lose or corrupt data. Open the file once with DuckDB "
            "(read-write) to replay the log, or remove the .wal if you know it is stale, then re-run."
        )


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
