"""The one Dagster resource: where the raw exports are, which warehouse to build, which settings.

For the duration of a run it holds the build lock and a private build file (pipelines/publish/warehouse.py);
every warehouse-writing asset opens its connection through `connect()`, and the publish asset swaps
the build in. The job runs with the in-process executor, so the run's steps share this one build.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import Any

import dagster as dg
import duckdb
from pydantic import PrivateAttr

from pipelines.core.config import Config, load_config
from pipelines.core.paths import PROJECT_ROOT
from pipelines.orchestration.pool import PoolWaitError, registered, wait_for_pool, watched
from pipelines.orchestration.preflight import permission_message
from pipelines.publish.warehouse import (
    LockHolder,
    PublishError,
    WarehouseBusy,
    WarehousePaths,
    build_lock,
    process_alive,
    start_build,
)
from pipelines.transform.params import write_config_tables


def _resolve(path: str) -> Path:
    p = Path(path).expanduser()
    return p if p.is_absolute() else PROJECT_ROOT / p


class WarehouseResource(dg.ConfigurableResource):
    raw_dir: str = "data/sample"
    warehouse_path: str = "data/warehouse.duckdb"
    config_path: str = ""  # "" = the project's acquisition.toml
    lock_wait_seconds: float = 0.0
    allow_missing: bool = False  # build without a source folder that is not there (else the run fails)
    allow_shrink: bool = False  # publish a source that shrank past quality.max_shrink_share
    engine: str = ""  # "" = [engine] kind of the settings; "duckdb" or "spark" overrides it
    spark_master: str = ""  # "" = [engine.spark] master of the settings
    recompute: bool = False  # recompute the run's months even where a model's inputs did not change

    _build: Path | None = PrivateAttr(default=None)
    _run_id: str = PrivateAttr(default="")
    _con: duckdb.DuckDBPyConnection | None = PrivateAttr(default=None)
    _spark: Any = PrivateAttr(default=None)  # pipelines.transform.engines.spark.SparkEngine, for a Spark run

    @property
    def paths(self) -> WarehousePaths:
        return WarehousePaths(_resolve(self.warehouse_path))

    @property
    def raw_path(self) -> Path:
        return _resolve(self.raw_dir)

    @property
    def config(self) -> Config:
        return load_config(_resolve(self.config_path) if self.config_path else None)

    @property
    def build_path(self) -> Path:
        if self._build is None:
            raise RuntimeError("no build in progress: the warehouse resource is used outside a run")
        return self._build

    @property
    def run_id(self) -> str:
        return self._run_id

    @contextmanager
    def yield_for_execution(self, context: dg.InitResourceContext) -> Iterator[WarehouseResource]:
        run_id = context.run.run_id if context.run else "adhoc"
        paths = self.paths

        def waiting(holder: LockHolder) -> None:
            context.log.info(
                f"another run is building {paths.published} (process {holder.pid}, run {holder.run_id}): "
                f"waiting up to {self.lock_wait_seconds:g}s for it to finish"
            )

        instance = context.instance
        try:
            with (
                registered(instance, run_id, str(paths.published)) if instance else nullcontext(),
                build_lock(paths, self.lock_wait_seconds, run_id, on_wait=waiting) as previous,
            ):
                if previous.run_id and previous.run_id != run_id and instance is not None:
                    release_dead_run(instance, previous, context.log)
                if instance is not None:  # a dead run of any warehouse of this Dagster home may hold the pool
                    wait_for_pool(instance, run_id, self.lock_wait_seconds, context.log)
                self._run_id = run_id
                self._build = start_build(paths, run_id)
                try:
                    with watched(instance, run_id, context.log) if instance is not None else nullcontext():
                        yield self
                finally:
                    if self._spark is not None:
                        self._spark.stop()
                        self._spark = None
                    if self._con is not None:  # a failed run: drop the connection, then the build
                        self._con.close()
                        self._con = None
                    # Published builds were renamed away; anything still here is an unpublished build.
                    self._build.unlink(missing_ok=True)
                    self._build.with_name(self._build.name + ".wal").unlink(missing_ok=True)
        except (WarehouseBusy, PublishError, PoolWaitError) as exc:
            # a Failure carries the message to the run's failure event (and the CLI prints it)
            raise dg.Failure(description=str(exc)) from exc
        except PermissionError as exc:  # the warehouse folder (lock, build) is not writable: say which and how
            raise dg.Failure(description=permission_message(exc, paths.published.parent)) from None

    @contextmanager
    def connect(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """The run's one connection to its build file, opened by the first step that needs it: reopening
        and checkpointing the file in every step cost more than many of the steps themselves."""
        if self._con is None:
            con = duckdb.connect(str(self.build_path))
            # bounded memory: DuckDB spills to disk (beside the build file) rather than grow past it
            con.execute(f"set memory_limit = '{os.environ.get('ACQ_DUCKDB_MEMORY_LIMIT', '4GB')}'")
            write_config_tables(con, self.config)
            self._con = con
        yield self._con

    def spark_engine(self, config: Config | None = None) -> Any:
        """The run's Spark engine when the engine is Spark (else None): one session for all the run's
        steps, started by the first model that needs it and stopped when the run ends."""
        if self.engine == "duckdb":
            return None  # no settings read at all
        config = config or self.config
        if self.engine not in ("", "duckdb", "spark"):
            raise dg.Failure(description=f"engine = {self.engine!r} (ACQ_ENGINE): expected 'duckdb' or 'spark'")
        if (self.engine or config.engine) != "spark":
            return None
        if self._spark is None:
            from pipelines.transform.engines.spark import SparkEngine  # deferred: pyspark, the optional `spark` extra

            self._spark = SparkEngine(
                _resolve(config.spark_root), self.spark_master or config.spark_master, config.spark_conf
            )
        return self._spark

    def close(self) -> None:
        """Checkpoint and close the build, as publishing needs (a file with an open log is not whole)."""
        if self._con is not None:
            try:
                self._con.execute("checkpoint")
            finally:
                self._con.close()
                self._con = None


def release_dead_run(instance: dg.DagsterInstance, holder: LockHolder, log=None) -> None:
    """The previous holder of the build lock has let go of it, so none of its steps runs any more: free
    the pool slots it may still hold (a run killed with -9 never frees them, and the next run would
    wait for them forever), and mark it failed if its process is gone but Dagster still has it running."""
    run_id = holder.run_id
    if not run_id or run_id in ("adhoc", "rollback"):
        return
    storage = instance.event_log_storage
    if storage.supports_global_concurrency_limits:
        storage.free_concurrency_slots_for_run(run_id)
    run = instance.get_run_by_id(run_id)
    if run is not None and not run.is_finished and not process_alive(holder.pid):
        message = (
            f"run {run_id} died while building the warehouse (process {holder.pid} is gone); "
            "its unpublished build was discarded and the published warehouse was never touched"
        )
        instance.report_run_failed(run, message=message)
        if log is not None:
            log.warning(message)
