"""Dagster's SQLite storage with an event log that keeps its connections (dagster.yaml `storage: custom`).

Dagster's `SqliteEventLogStorage` creates an engine for every event and disposes of it afterwards. In
WAL mode each event then costs a commit flushed to disk and, as the last connection closes, a
checkpoint: two fsyncs. A run over every month writes ~2 750 events (a planned and a materialization
event per asset and month, mirrored into the index shard), which was most of the time a run spent
outside its steps (benchmarks/README.md, issue 29).

Here one engine per shard stays open (the index and the last few runs' shards) and commits use
`synchronous=NORMAL`, SQLite's advice for WAL: a killed process loses nothing, an operating-system
crash may lose the last events but never corrupts the file. Files, tables and readers are Dagster's own.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager

from dagster._core.storage.event_log.sqlite.sqlite_event_log import SqliteEventLogStorage
from dagster._core.storage.sqlite import SQLITE_BUSY_TIMEOUT_SECONDS, create_db_conn_string
from dagster._core.storage.sqlite_storage import DagsterSqliteStorage, _event_logs_directory
from sqlalchemy import create_engine, event
from sqlalchemy.engine import Connection, Engine

KEPT_SHARDS = 4  # the index shard and the shards of the runs a process writes now (one, usually)


def _pragmas(dbapi_connection, _record) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


class KeptSqliteEventLogStorage(SqliteEventLogStorage):
    """The same shards, tables and queries, with engines kept per shard instead of one per event."""

    def __init__(self, base_dir: str, inst_data=None) -> None:
        self._engines: OrderedDict[str, Engine] = OrderedDict()
        super().__init__(base_dir, inst_data=inst_data)

    def _engine(self, shard: str) -> Engine:
        engine = self._engines.pop(shard, None)
        if engine is None:
            engine = create_engine(
                create_db_conn_string(self._base_dir, shard), connect_args={"timeout": SQLITE_BUSY_TIMEOUT_SECONDS}
            )
            event.listen(engine, "connect", _pragmas)
        self._engines[shard] = engine  # most recently used last
        while len(self._engines) > KEPT_SHARDS:
            self._engines.popitem(last=False)[1].dispose()
        return engine

    @contextmanager
    def _connect(self, shard: str) -> Iterator[Connection]:
        with self._db_lock:
            engine = self._engine(shard)
            if shard not in self._initialized_dbs:
                self._initdb(engine)
                self._initialized_dbs.add(shard)
            with engine.connect() as conn, conn.begin():
                yield conn

    def _dispose_engines(self) -> None:
        with self._db_lock:
            while self._engines:
                self._engines.popitem()[1].dispose()

    def wipe(self) -> None:
        self._dispose_engines()  # wipe deletes the run shards' files: no connection may stay on them
        super().wipe()

    def dispose(self) -> None:
        self._dispose_engines()
        super().dispose()


class SqliteStorage(DagsterSqliteStorage):
    """`storage: sqlite` of dagster.yaml, with the event log above; runs and schedules as Dagster keeps them."""

    def __init__(self, base_dir: str, inst_data=None) -> None:
        super().__init__(base_dir, inst_data=inst_data)
        self._event_log_storage.dispose()
        self._event_log_storage = KeptSqliteEventLogStorage(_event_logs_directory(base_dir))

    @classmethod
    def from_config_value(cls, inst_data, config_value) -> SqliteStorage:
        return cls.from_local(inst_data=inst_data, **config_value)
