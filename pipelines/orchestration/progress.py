"""What `python -m pipelines run|backfill` prints: one line per stage, each warning once, a closing summary.

Dagster's event log (a DEBUG line per event, ~1 150 of them for the sample) always goes to the instance's
storage (`.dagster_home/`, the UI shows it); with `--verbose` it is also printed as Dagster prints it.
The terminal gets what a person needs, from the same events, through a Dagster logger (`Progress.logger`):

    raw        6 sources   52 311 rows loaded, 17 rejected           2.9 s
    staging   13 tables    61 043 rows (3 views)                     3.8 s
    ...
"""

from __future__ import annotations

import logging
import os
import re
import sys
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import dagster as dg
from dagster._core.events import DagsterEventType
from dagster._core.log_manager import LOG_RECORD_METADATA_ATTR

STAGES = ("raw", "staging", "marts", "publish")


def stage_of(asset: str) -> str:
    first = asset.split("/")[0]
    return first if first in ("raw", "staging", "marts") else "publish"


def _n(value: float) -> str:
    """12 345: thousands apart with a space, as the rest of the project writes them."""
    return f"{value:,.0f}".replace(",", " ")


@dataclass
class Step:
    asset: str
    seconds: float = 0.0
    rows: int | None = None
    metadata: dict = field(default_factory=dict)
    done: bool = False


class Progress:
    """Collects a run's events as they happen and prints each stage when its last step is done."""

    def __init__(
        self, assets: list[str], out=None, err=None, interactive: bool | None = None, started: float | None = None
    ) -> None:
        self.out = out or sys.stdout
        self.err = err or sys.stderr
        self.interactive = self.out.isatty() if interactive is None else interactive
        self.steps = {asset: Step(asset) for asset in assets}
        self.by_stage: dict[str, list[str]] = defaultdict(list)
        for asset in assets:
            self.by_stage[stage_of(asset)].append(asset)
        self.printed: set[str] = set()
        self.checks: list[tuple[str, str, bool, str, bool]] = []  # asset, check, passed, description, blocking
        self.failures: list[tuple[str, str]] = []
        self.said: set[str] = set()
        self.started = time.monotonic() if started is None else started  # time.monotonic() of the run's start
        self._status = False

    # -- the Dagster logger --------------------------------------------------------------------------
    @property
    def logger(self) -> dg.LoggerDefinition:
        progress = self

        class Handler(logging.Handler):
            def emit(self, record: logging.LogRecord) -> None:
                try:
                    progress.handle(record)
                except Exception as exc:  # the terminal must never fail a run
                    progress.warn(f"progress display: {exc!r}")

        def make(_init_context) -> logging.Logger:
            logger = logging.getLogger("pipelines.orchestration.progress.run")
            logger.handlers = [Handler()]
            logger.setLevel(logging.DEBUG)
            logger.propagate = False
            return logger

        return dg.LoggerDefinition(make, description="the CLI's terminal: stage lines, warnings once, summary")

    def handle(self, record: logging.LogRecord) -> None:
        meta = getattr(record, LOG_RECORD_METADATA_ATTR, None) or {}
        event = meta.get("dagster_event")
        if event is None:
            # a message of our own code (context.log...): warnings and errors, and what resources say
            # while they set up (e.g. waiting for another run's lock), each distinct text once
            text = meta.get("orig_message") or record.getMessage()
            if record.levelno >= logging.WARNING and not text.rstrip().endswith("Not executing."):
                # Dagster's "dependencies failed ... Not executing." per dependent step repeats the one
                # failure the summary names: it stays in the event log, off the terminal
                self.warn(text)
            elif meta.get("resource_name") and record.levelno >= logging.INFO:  # e.g. waiting for the pool
                self.note(text)
            return
        kind = event.event_type
        asset = event.asset_key.to_user_string() if event.asset_key else None
        step_asset = (meta.get("step_key") or "").replace("__", "/")
        if kind == DagsterEventType.STEP_START and step_asset in self.steps:
            stage = stage_of(step_asset)
            assets = self.by_stage[stage]
            done = sum(1 for a in assets if self.steps[a].done)
            bar = "#" * round(20 * done / len(assets))
            self.status(f"{stage:<8} [{bar:<20}] {done}/{len(assets)}  {step_asset} …")
        elif kind == DagsterEventType.ASSET_MATERIALIZATION and asset in self.steps:
            metadata = {k: v.value for k, v in event.event_specific_data.materialization.metadata.items()}
            self.steps[asset].metadata = metadata
            if "dagster/row_count" in metadata:
                self.steps[asset].rows = int(metadata["dagster/row_count"])
        elif kind == DagsterEventType.ASSET_CHECK_EVALUATION:
            evaluation = event.event_specific_data
            self.checks.append(
                (
                    evaluation.asset_key.to_user_string(),
                    evaluation.check_name,
                    evaluation.passed,
                    evaluation.description or "",
                    bool(evaluation.blocking),
                )
            )
        elif kind == DagsterEventType.STEP_SUCCESS and step_asset in self.steps:
            step = self.steps[step_asset]
            step.seconds, step.done = event.event_specific_data.duration_ms / 1000, True
            self._print_finished_stages()
        elif kind == DagsterEventType.STEP_FAILURE:
            self.failures.append((step_asset, root_cause(event.step_failure_data.error)))

    # -- output ----------------------------------------------------------------------------------------
    def status(self, text: str) -> None:
        """A transient line on an interactive terminal (overwritten by the next line), nothing elsewhere."""
        if self.interactive:
            self.out.write("\r\033[K  " + text[:96])
            self.out.flush()
            self._status = True

    def _clear_status(self) -> None:
        if self._status:
            self.out.write("\r\033[K")
            self._status = False

    def line(self, text: str) -> None:
        self._clear_status()
        print(text, file=self.out, flush=True)

    def note(self, text: str) -> None:
        """What the run is doing that a person should know (an INFO of a resource), said once."""
        text = " ".join(str(text).split())
        if text in self.said:
            return
        self.said.add(text)
        self._clear_status()
        print(f"note: {text}", file=self.err, flush=True)

    def warn(self, text: str) -> None:
        text = " ".join(str(text).split())
        if text in self.said:
            return
        self.said.add(text)
        self._clear_status()
        print(f"warning: {text}", file=self.err, flush=True)

    def _print_finished_stages(self) -> None:
        for stage in STAGES:
            assets = self.by_stage.get(stage, [])
            if stage in self.printed or not assets or not all(self.steps[a].done for a in assets):
                continue
            self.printed.add(stage)
            self.line(self.stage_line(stage))

    def stage_line(self, stage: str) -> str:
        steps = [self.steps[a] for a in self.by_stage[stage]]
        seconds = sum(s.seconds for s in steps)
        if stage == "raw":
            loaded = sum(int(s.metadata.get("rows_loaded", 0)) for s in steps)
            rejected = sum(int(s.metadata.get("rows_rejected", 0)) for s in steps)
            what = f"{len(steps):>2} sources  {_n(loaded):>11} rows loaded, {_n(rejected)} rejected"
        elif stage == "publish":
            published = next((s for s in steps if s.asset == "warehouse"), None)
            size = published.metadata.get("size_mb") if published else None
            what = f"{len(steps):>2} steps    build info, atomic rename" + (f" ({size:.1f} MB)" if size else "")
        else:
            views = sum(1 for s in steps if s.rows is None)
            rows = sum(s.rows or 0 for s in steps)
            kept = sum(1 for s in steps if s.metadata.get("unchanged"))
            what = f"{len(steps):>2} models   {_n(rows):>11} rows in {len(steps) - views} tables" + (
                f", {views} views" if views else ""
            )
            if kept:  # inputs as when last written: kept as they are, no row written (docs/incremental.md)
                what += f"; {kept} unchanged"
        return f"  {stage:<8} {what:<58} {seconds:>6.1f} s"

    def summary(self, warehouse: str, months: tuple[str, str, int], run_id: str, success: bool) -> list[str]:
        """The closing lines; the last one names the run (tests and scripts read it)."""
        self._print_finished_stages()
        elapsed = time.monotonic() - self.started
        raw = [self.steps[a] for a in self.by_stage.get("raw", []) if self.steps[a].done]
        blocking = [c for c in self.checks if c[4]]
        failed = [c for c in self.checks if not c[2]]
        as_of = next((s.metadata.get("as_of_date") for s in self.steps.values() if s.metadata.get("as_of_date")), None)
        lines = [""]
        lines.append(f"  months    {months[0]}..{months[1]} ({months[2]})" + (f", as of {as_of}" if as_of else ""))
        coverage = next((s.metadata.get("coverage") for s in self.steps.values() if s.metadata.get("coverage")), None)
        if coverage:
            lines.append(f"  covers    {coverage}")
        if raw:
            lines.append(
                "  rows      "
                + ", ".join(f"{s.asset.split('/')[1]} {_n(int(s.metadata.get('rows_loaded', 0)))}" for s in raw)
            )
            rejected = [(s.asset.split("/")[1], int(s.metadata.get("rows_rejected", 0))) for s in raw]
            total = sum(n for _, n in rejected)
            lines.append(
                f"  rejected  {_n(total)} rows"
                + (": " + ", ".join(f"{name} {n}" for name, n in rejected if n) if total else "")
            )
            if total:
                lines.append("            why: `python -m pipelines report`, or the table quality.rejected_rows")
        warned = [c for c in failed if not c[4]]  # a non-blocking check (a source's coverage) warns, never stops
        lines.append(
            f"  checks    {len(self.checks) - len(failed)} of {len(self.checks)} passed ({len(blocking)} blocking)"
            + (f", {len(warned)} warning{'s' if len(warned) > 1 else ''}" if warned else "")
            + "".join(
                f"\n  FAILED    {asset}:{name} — {description[:300]}"
                for asset, name, _, description, is_blocking in failed
                if is_blocking
            )
            + "".join(f"\n  warning   {name}: {description[:76]}" for _, name, _, description, _ in warned)
        )
        steps = sum(s.seconds for s in self.steps.values())
        lines.append(
            f"  time      {elapsed:.1f} s ({steps:.1f} s in the steps, the rest start-up and Dagster's bookkeeping)"
        )
        if success:
            lines.append(f"published {warehouse} (months {months[0]}..{months[1]}, run {run_id})")
        for line in lines:
            self.line(line)
        return lines


def process_started() -> float:
    """This process's start on the time.monotonic() clock, so that a run's time includes the interpreter's
    start and the imports (Linux: /proc/self/stat; elsewhere: now)."""
    try:
        ticks = int(Path("/proc/self/stat").read_text().rsplit(")", 1)[1].split()[19])  # field 22, starttime
        since_boot = time.clock_gettime(time.CLOCK_BOOTTIME) - ticks / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError, AttributeError):
        return time.monotonic()
    return time.monotonic() - since_boot


def root_cause(error) -> str:
    """The innermost error's message: what went wrong, not Dagster's wrapping of it."""
    while error is not None and error.cause is not None:
        error = error.cause
    if error is None:
        return "unknown error"
    # what failed, in words: Dagster's wrapper class (`dagster._core...Failure: `) adds nothing a person acts on
    return re.sub(r"^dagster\._core\.[\w.]+: ", "", error.message.strip())


class OnceHandler(logging.Handler):
    """Python warnings of the pipeline's own modules (e.g. the hashing secret), printed once each."""

    def __init__(self, progress: Progress) -> None:
        super().__init__(logging.WARNING)
        self.progress = progress

    def emit(self, record: logging.LogRecord) -> None:
        self.progress.warn(record.getMessage())
