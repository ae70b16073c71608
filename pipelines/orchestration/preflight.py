"""Checks a run makes before Dagster starts: the folders it reads and writes, named with the fix.

A missing raw folder or an unwritable warehouse folder would otherwise surface as six step failures
or a raw PermissionError traceback; here it is one line that says what to do.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from pipelines.ingest.folders import raw_folder_warnings, source_folders
from pipelines.ingest.raw_tables import SOURCES


def not_writable(folder: Path) -> str | None:
    """Why the warehouse cannot be written in `folder` (or its first existing parent), else None."""
    probe = folder
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    try:
        with tempfile.NamedTemporaryFile(dir=probe, prefix=".acq-write-test-"):
            pass  # a real write: os.access says yes to root even on a read-only mount
    except OSError as exc:
        return (
            f"cannot write in {probe} ({exc.strerror or exc}): a run needs to create files beside the warehouse "
            f"(the build, the lock). Make the folder writable (e.g. chmod u+w {probe}, or run as its owner), "
            "or pass --warehouse PATH in a folder you can write"
        )
    return None


def preflight(raw: Path, warehouse: Path, allow_missing: bool = False) -> tuple[list[str], list[str]]:
    """(errors that stop the run before it starts, warnings for the run summary)."""
    errors = []
    if not raw.is_dir():
        errors.append(f"raw folder {raw} does not exist: check --raw (nothing was built, the warehouse is unchanged)")
    elif not allow_missing:
        missing = [s for s in SOURCES if not source_folders(raw, s)]
        if len(missing) == len(SOURCES):
            errors.append(
                f"raw folder {raw} holds none of the source folders ({', '.join(s + '/' for s in SOURCES)}): "
                "check --raw, or pass --allow-missing to build from nothing"
            )
    problem = not_writable(warehouse.parent)
    if problem:
        errors.append(problem)
    return errors, raw_folder_warnings(raw, SOURCES)


def permission_message(exc: OSError, fallback: Path) -> str:
    where = Path(exc.filename) if getattr(exc, "filename", None) else fallback
    folder = where if where.is_dir() else where.parent
    return (
        f"permission denied on {where}: make {folder} writable (e.g. chmod u+w {folder}, or run as its owner), "
        "or pass --warehouse PATH in a folder you can write"
    )


__all__ = ["not_writable", "permission_message", "preflight"]
