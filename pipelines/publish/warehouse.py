"""The analysts' DuckDB file and how a run replaces it without ever blocking or breaking a reader.

DuckDB allows one writer and no readers beside it, so a run never writes the published file: it copies
it to a private build file under `.build-<warehouse file name>/`, writes there, and publishes by atomic rename. A reader that
holds the old file keeps its snapshot until it reconnects. The previous file stays beside the published
one for one-step rollback. An exclusive lock (flock, released by the kernel even on kill -9) keeps two
runs from building at once.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from pipelines.core.faults import pause_point


class WarehouseBusy(RuntimeError):
    """Another run holds the build lock."""


class PublishError(RuntimeError):
    """The build cannot replace the published file; the published file is untouched."""


@dataclass(frozen=True)
class WarehousePaths:
    published: Path

    @property
    def build_dir(self) -> Path:
        """This warehouse's own build folder: another warehouse in the same folder cleans only its own."""
        return self.published.parent / f".build-{self.published.name}"

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


@dataclass(frozen=True)
class LockHolder:
    """Who held the build lock last (read from the lock file when the lock is taken)."""

    pid: int | None
    run_id: str | None


@contextmanager
def build_lock(
    paths: WarehousePaths,
    wait_seconds: float = 0.0,
    run_id: str = "",
    on_wait: Callable[[LockHolder], None] | None = None,
) -> Iterator[LockHolder]:
    """Hold the exclusive build lock, waiting up to `wait_seconds` for a running build to finish
    (`on_wait(holder)` is called once if it has to wait).

    Yields the previous holder as written in the lock file: if that run did not end cleanly (kill -9,
    power loss) the kernel released its lock, and the caller may clean up after it."""
    paths.lock.parent.mkdir(parents=True, exist_ok=True)
    handle = paths.lock.open("a+")
    deadline = time.monotonic() + wait_seconds
    waiting = False
    try:
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if not waiting and wait_seconds > 0 and on_wait is not None:
                    on_wait(_read_holder(paths))
                waiting = True
                if time.monotonic() >= deadline:
                    holder = _read_holder(paths)
                    who = (
                        f" by process {holder.pid}" + (f", run {holder.run_id}" if holder.run_id else "")
                        if holder.pid
                        else ""
                    )
                    raise WarehouseBusy(
                        f"another run is building {paths.published} (lock {paths.lock} is held{who}); "
                        f"waited {wait_seconds:g}s. Wait for it to finish, or pass --wait SECONDS to queue behind it"
                    ) from None
                time.sleep(0.2)
        previous = _read_holder(paths)
        handle.seek(0)
        handle.truncate()
        handle.write(f"{os.getpid()} {run_id}\n")
        handle.flush()
        yield previous
    finally:
        handle.close()  # closing the descriptor releases the lock


def _read_holder(paths: WarehousePaths) -> LockHolder:
    try:
        parts = paths.lock.read_text().split()
    except OSError:
        return LockHolder(None, None)
    pid = int(parts[0]) if parts and parts[0].isdigit() else None
    return LockHolder(pid, parts[1] if len(parts) > 1 else None)


def process_alive(pid: int | None) -> bool:
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def start_build(paths: WarehousePaths, run_id: str) -> Path:
    """A private copy of the published warehouse to build in. Call while holding the build lock:
    anything left in the build folder then belongs to a run that died, and is removed."""
    clean_leftovers(paths)
    build = paths.build_file(run_id)
    if paths.published.exists():
        _refuse_stale_wal(paths)
        try:
            copy_file(paths.published, build)
        except OSError as exc:  # a full disk: no half copy is left to fill it further
            build.unlink(missing_ok=True)
            raise PublishError(
                f"cannot copy the published warehouse to {build} to build in ({exc.strerror or exc}); "
                "free space in that folder and re-run (the published warehouse is unchanged)"
            ) from None
    return build


FICLONE = 0x40049409  # Linux ioctl: make `dst` share `src`'s blocks, copied only when either is written


def copy_file(src: Path, dst: Path) -> str:
    """Copy `src` to `dst`: a reflink where the file system shares blocks (XFS, Btrfs: instant whatever the
    size, which a nightly's copy of a large warehouse otherwise costs), else a plain copy (ext4, tmpfs).
    Returns which it was."""
    try:
        with open(src, "rb") as source, open(dst, "wb") as target:
            fcntl.ioctl(target.fileno(), FICLONE, source.fileno())
        return "reflink"
    except OSError:
        shutil.copyfile(src, dst)
        return "copy"


def clean_leftovers(paths: WarehousePaths) -> list[Path]:
    """Remove what a dead run left behind. Call only while holding the build lock.

    A second name of the published file (`.previous.tmp`, `.rollback.tmp`) means a publish or rollback
    died half-way: if it still names the published file the swap never happened and it is dropped;
    otherwise the swap did happen and it becomes the previous file, as the swap would have made it."""
    paths.build_dir.mkdir(parents=True, exist_ok=True)
    removed = [p for p in paths.build_dir.iterdir() if p.is_file()]
    for p in removed:
        p.unlink()
    for tmp in sorted(paths.published.parent.glob(paths.published.name + ".*.tmp")):
        second_name = tmp.name in (_keep_name(paths), _swap_name(paths))
        if second_name and not (paths.published.exists() and os.path.samefile(tmp, paths.published)):
            os.replace(tmp, paths.previous)
            continue
        tmp.unlink()
        removed.append(tmp)
    return removed


def _keep_name(paths: WarehousePaths) -> str:
    return paths.published.name + ".previous.tmp"


def _swap_name(paths: WarehousePaths) -> str:
    return paths.published.name + ".rollback.tmp"


def publish(paths: WarehousePaths, build: Path) -> None:
    """Atomically make `build` (closed, checkpointed) the published file; keep the old one as previous.

    Killed at any moment, this leaves a published file that is either the old one or the new one,
    whole; `clean_leftovers` finishes or drops the half-done bookkeeping of the previous file."""
    if not build.exists():
        raise PublishError(f"nothing to publish: {build} does not exist")
    if build.with_name(build.name + ".wal").exists():
        raise PublishError(f"{build} still has a write-ahead log: close its connection before publishing")
    _refuse_stale_wal(paths)
    _fsync(build)
    keep = paths.published.with_name(_keep_name(paths))
    if keep.exists():
        keep.unlink()
    if paths.published.exists():
        os.link(paths.published, keep)  # a second name for the old file: instant, no copy
    pause_point("publish")
    os.replace(build, paths.published)  # the moment readers' new connections switch to the new build
    if keep.exists():
        os.replace(keep, paths.previous)
    _fsync_dir(paths.published.parent)


def rollback(paths: WarehousePaths, wait_seconds: float = 0.0) -> None:
    """Swap the published and the previous file (so a second rollback undoes the first).

    Takes the build lock, so it never races a run's publish."""
    if not paths.previous.exists() and not paths.published.with_name(_keep_name(paths)).exists():
        raise PublishError(f"no previous warehouse to roll back to ({paths.previous} is missing)")
    with build_lock(paths, wait_seconds=wait_seconds, run_id="rollback"):
        clean_leftovers(paths)
        if not paths.previous.exists():
            raise PublishError(f"no previous warehouse to roll back to ({paths.previous} is missing)")
        _refuse_stale_wal(paths)
        swap = paths.published.with_name(_swap_name(paths))
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
            "cleanly. Publishing over it could lose or corrupt data. If a program still has the file open "
            "(a DuckDB session, a SQL client), close it: it writes its log back itself. Otherwise open the "
            "file once with DuckDB (read-write), which replays the log, then re-run. Do not delete the .wal: "
            "it holds writes that are not in the file yet."
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
