"""The one Dagster resource: where the raw exports are, which warehouse to build, which settings.

For the duration of a run it holds the build lock and a private build file (pipelines/warehouse.py);
every warehouse-writing asset opens its connection through `connect()`, and the publish asset swaps
the build in. The job runs with the in-process executor, so the run's steps share this one build.
"""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import dagster as dg
import duckdb
from pydantic import PrivateAttr

from pipelines.config import PROJECT_ROOT, Config, load_config
from pipelines.warehouse import WarehousePaths, build_lock, start_build


def _resolve(path: str) -> Path:
    p = Path(path).expanduser()
    return p if p.is_absolute() else PROJECT_ROOT / p


class WarehouseResource(dg.ConfigurableResource):
    raw_dir: str = "data/sample"
    warehouse_path: str = "data/warehouse.duckdb"
    config_path: str = ""  # "" = the project's acquisition.toml
    lock_wait_seconds: float = 0.0

    _build: Path | None = PrivateAttr(default=None)
    _run_id: str = PrivateAttr(default="")

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

    def yield_for_execution(self, context: dg.InitResourceContext) -> Iterator["WarehouseResource"]:
        run_id = context.run_id or "adhoc"
        paths = self.paths
        with build_lock(paths, wait_seconds=self.lock_wait_seconds):
            self._run_id = run_id
            self._build = start_build(paths, run_id)
            try:
                yield self
            finally:
                # Published builds were renamed away; anything still here is an unpublished build.
                self._build.unlink(missing_ok=True)
                self._build.with_name(self._build.name + ".wal").unlink(missing_ok=True)

    @contextmanager
    def connect(self) -> Iterator[duckdb.DuckDBPyConnection]:
        con = duckdb.connect(str(self.build_path))
        try:
            yield con
            con.execute("checkpoint")
        finally:
            con.close()
