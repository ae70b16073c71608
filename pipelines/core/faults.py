"""Test-only fault injection: stop a run at a named moment so a test can kill it there.

With the environment variable `ACQ_PAUSE_AT=<name>` set, `pause_point(name)` writes a marker file (path
in `ACQ_PAUSE_MARKER`, holding the process id) and then sleeps until `ACQ_PAUSE_SECONDS` (default 600)
have passed or the marker file is deleted, so the test knows the process is at that point and can
SIGKILL it there, or let it go on by deleting the marker. Without the variable it does nothing, at the
cost of one dictionary lookup. Names used by the pipeline:

- `ingest`  — in the raw stage, after a source was loaded into the build file (connection still open)
- `marts`   — before a marts model runs (connection to the build file open)
- `publish` — inside `warehouse.publish`, after the old file got its second name and before the build
  replaces the published file: the worst moment to die
"""

from __future__ import annotations

import os
import time
from pathlib import Path

PAUSE_AT = "ACQ_PAUSE_AT"
PAUSE_MARKER = "ACQ_PAUSE_MARKER"
PAUSE_SECONDS = "ACQ_PAUSE_SECONDS"


_paused: set[str] = set()


def pause_point(name: str) -> None:
    """Pause here (once per process and name) if the environment asks for it; see the module doc."""
    if os.environ.get(PAUSE_AT) != name or name in _paused:
        return
    _paused.add(name)
    marker = os.environ.get(PAUSE_MARKER)
    path = Path(marker) if marker else None
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".part")
        tmp.write_text(f"{os.getpid()} {name}\n")
        os.replace(tmp, path)  # the marker appears whole
    deadline = time.monotonic() + float(os.environ.get(PAUSE_SECONDS, "600"))
    while time.monotonic() < deadline:
        if path is not None and not path.exists():
            return  # the test lets the process go on
        time.sleep(0.05)
