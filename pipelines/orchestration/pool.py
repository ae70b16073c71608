"""The `warehouse` concurrency pool across every run of one Dagster home, whatever warehouse it builds.

Dagster keeps pool slots (and queued claims) in its storage, and a run killed with -9 never gives its
back: the next run on *any* warehouse of the same Dagster home would wait for them forever, silently
(Dagster logs the wait at DEBUG). So every run registers itself for its lifetime in a file under the
Dagster home, holding an flock on it (the kernel releases it when the process dies, however it dies).
A run about to use the pool frees the slots and queued claims of every run that is not registered alive,
marks such runs failed, and, if a live run holds the pool, says so at INFO and waits at most its
`--wait` budget, stopping at once on SIGTERM.
"""

from __future__ import annotations

import fcntl
import os
import signal
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import dagster as dg

from pipelines.orchestration.partitions import POOL

LIVE_FOLDER = ".acq_live_runs"


class PoolWaitError(RuntimeError):
    """The pool stayed held by a live run past the wait budget, or the wait was stopped."""


def _folder(instance: dg.DagsterInstance) -> Path | None:
    root = getattr(instance, "root_directory", None)
    return Path(root) / LIVE_FOLDER if root else None


@contextmanager
def registered(instance: dg.DagsterInstance, run_id: str, what: str) -> Iterator[None]:
    """Mark this run alive (pid and what it builds) for as long as the block runs."""
    folder = _folder(instance)
    if folder is None or not run_id:
        yield
        return
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{run_id}.live"
    handle = path.open("a+")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        handle.seek(0)
        handle.truncate()
        handle.write(f"{os.getpid()} {what}\n")
        handle.flush()
    except BlockingIOError:
        pass  # the same run id already registered by a live process (a retry in the same run): keep it
    try:
        yield
    finally:
        path.unlink(missing_ok=True)
        handle.close()


def _holder(folder: Path | None, run_id: str) -> str | None:
    """'process P building W' if the run is registered and its process alive, else None (dead)."""
    if folder is None:
        return "unknown process"  # no place to register: never free anything
    path = folder / f"{run_id}.live"
    try:
        handle = path.open("r+")
    except FileNotFoundError:
        return None
    try:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            pid, _, what = handle.read().strip().partition(" ")
            return f"process {pid} building {what}"
        path.unlink(missing_ok=True)  # its process died: the flock was free
        return None
    finally:
        handle.close()


def free_dead_runs(instance: dg.DagsterInstance, own_run_id: str, log=None) -> list[str]:
    """Free the pool slots and queued claims of runs whose process is gone; mark those runs failed."""
    storage = instance.event_log_storage
    if not storage.supports_global_concurrency_limits:
        return []
    folder = _folder(instance)
    info = storage.get_concurrency_info(POOL)
    run_ids = {s.run_id for s in info.claimed_slots} | {p.run_id for p in info.pending_steps}
    freed = []
    for run_id in sorted(run_ids - {own_run_id}):
        if _holder(folder, run_id) is not None:
            continue
        storage.free_concurrency_slots_for_run(run_id)
        freed.append(run_id)
        run = instance.get_run_by_id(run_id)
        message = f"run {run_id} held the '{POOL}' pool but its process is gone: its slot was freed"
        if run is not None and not run.is_finished:
            instance.report_run_failed(run, message=message + " and the run marked failed")
        if log is not None:
            log.warning(message)
    return freed


def wait_for_pool(instance: dg.DagsterInstance, own_run_id: str, wait_seconds: float, log=None) -> None:
    """Return once no live run of another id holds every slot of the pool; else wait up to
    `wait_seconds`, saying what for, and raise PoolWaitError after it (or on SIGTERM)."""
    storage = instance.event_log_storage
    if not storage.supports_global_concurrency_limits:
        return
    folder = _folder(instance)
    deadline = time.monotonic() + wait_seconds
    told = False
    stop = _TermFlag()
    with stop:
        while True:
            if stop.received:
                raise PoolWaitError(f"stopped by SIGTERM while waiting for the Dagster pool '{POOL}'")
            free_dead_runs(instance, own_run_id, log)
            info = storage.get_concurrency_info(POOL)
            limit = info.limit if info.limit is not None else info.slot_count
            others = [s for s in info.claimed_slots if s.run_id != own_run_id]
            if not limit or len(others) < limit:
                return
            held = "; ".join(
                f"run {s.run_id} ({_holder(folder, s.run_id) or 'ended'}), step {s.step_key}" for s in others
            )
            if time.monotonic() >= deadline:
                raise PoolWaitError(
                    f"the Dagster pool '{POOL}' (limit {limit}, shared by every run of this Dagster home) is held by "
                    f"{held}; waited {wait_seconds:g}s. Wait for that run to finish, or pass --wait SECONDS to queue behind it"
                )
            if not told and log is not None:
                log.info(f"waiting up to {wait_seconds:g}s for the Dagster pool '{POOL}': held by {held}")
                told = True
            time.sleep(0.5)


class _TermFlag:
    """While entered (main thread only), SIGTERM sets a flag instead of whatever handler was there."""

    def __init__(self) -> None:
        self.received = False
        self._previous = None

    def __enter__(self) -> _TermFlag:
        if threading.current_thread() is threading.main_thread():
            self._previous = signal.signal(signal.SIGTERM, self._handle)
        return self

    def _handle(self, signum, frame) -> None:
        self.received = True

    def __exit__(self, *exc) -> None:
        if self._previous is not None:
            signal.signal(signal.SIGTERM, self._previous)


@contextmanager
def watched(instance: dg.DagsterInstance, own_run_id: str, log=None) -> Iterator[None]:
    """For the run's lifetime, every ACQ_POOL_WATCH_SECONDS (default 5): free the pool of runs that die
    meanwhile (a run killed while this one is between steps would otherwise hold the slot it waits for
    forever), and say at INFO what this run's queued steps wait for, once per holder."""
    if not instance.event_log_storage.supports_global_concurrency_limits:
        yield
        return
    interval = float(os.environ.get("ACQ_POOL_WATCH_SECONDS", "5"))
    folder = _folder(instance)
    stop = threading.Event()
    told: set[str] = set()

    def watch() -> None:
        while not stop.wait(interval):
            try:
                free_dead_runs(instance, own_run_id, log)
                info = instance.event_log_storage.get_concurrency_info(POOL)
                queued = [
                    p.step_key for p in info.pending_steps if p.run_id == own_run_id and p.assigned_timestamp is None
                ]
                for slot in info.claimed_slots:
                    if queued and slot.run_id != own_run_id and slot.run_id not in told and log is not None:
                        told.add(slot.run_id)
                        log.info(
                            f"step {queued[0]} waits for the Dagster pool '{POOL}': held by run {slot.run_id} "
                            f"({_holder(folder, slot.run_id) or 'ended'}), step {slot.step_key}"
                        )
            except Exception:  # housekeeping must never break the run it watches
                continue

    thread = threading.Thread(target=watch, name="acq-pool-watch", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=interval + 10)
