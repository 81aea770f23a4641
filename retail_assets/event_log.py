"""The instance's event log: Dagster's SQLite storage, kept open and committed WAL-style.

``dagster.yaml`` (packaged, installed into ``DAGSTER_HOME`` by :mod:`retail_assets.instance`)
selects :class:`LocalSqliteEventLogStorage`. It reads and writes exactly the files and tables
of Dagster's default ``SqliteEventLogStorage`` (``history/runs/*.db``), so an instance can go
back to the default class by deleting the ``event_log_storage`` section.
"""

from __future__ import annotations

import os
from contextlib import contextmanager

import sqlalchemy as db
from dagster._core.storage.event_log.sqlite.sqlite_event_log import SqliteEventLogStorage
from dagster._core.storage.sqlite import SQLITE_BUSY_TIMEOUT_SECONDS


class LocalSqliteEventLogStorage(SqliteEventLogStorage):
    """Dagster's SQLite event log (the same files and tables), with two local-laptop settings.

    Dagster's own class opens and closes a new engine and connection for every event, and
    commits each with a full ``fsync``. A year's history run records one materialization per
    asset and day (4,745 events), and that bookkeeping cost about 9 ms an event here. This
    class keeps one engine per database file open (the index and the eight most recent runs)
    and sets ``PRAGMA synchronous=NORMAL`` on Dagster's WAL-mode databases: SQLite's own
    recommendation for WAL, durable across a crash of the process; a power cut can lose the
    last events, never corrupt a file. About 2.4 ms an event (benchmarks/RESULTS.md).

    Selected in the packaged ``dagster.yaml``; delete its ``event_log_storage`` section to get
    Dagster's default class on the same files.
    """

    #: Database files whose engine stays open: the index and recent runs.
    OPEN_ENGINES = 8

    def __init__(self, base_dir: str, inst_data=None) -> None:
        self._engines: dict[str, object] = {}
        self._engines_pid = os.getpid()
        super().__init__(base_dir, inst_data=inst_data)

    @classmethod
    def from_config_value(cls, inst_data, config_value):
        """From ``dagster.yaml``: ``base_dir`` absolute (as installed), or inside DAGSTER_HOME."""
        base_dir = config_value["base_dir"]
        if not os.path.isabs(base_dir):
            home = os.environ.get("DAGSTER_HOME")
            if not home:
                raise ValueError(
                    f"event_log_storage base_dir {base_dir!r} in dagster.yaml is relative and "
                    "DAGSTER_HOME is not set: write the folder's absolute path"
                )
            base_dir = os.path.join(home, base_dir)
        return cls(inst_data=inst_data, base_dir=base_dir)

    def _engine(self, shard: str):
        if self._engines_pid != os.getpid():  # a forked child: never share the parent's files
            self._engines, self._engines_pid = {}, os.getpid()
        engine = self._engines.pop(shard, None)
        if engine is None:
            engine = db.create_engine(
                self.conn_string_for_shard(shard),
                pool_size=1,
                max_overflow=2,
                connect_args={"timeout": SQLITE_BUSY_TIMEOUT_SECONDS, "check_same_thread": False},
            )
            db.event.listen(engine, "connect", _sqlite_pragmas)
            if shard not in self._initialized_dbs:
                self._initdb(engine)
                self._initialized_dbs.add(shard)
            while len(self._engines) >= self.OPEN_ENGINES:
                oldest = next(iter(self._engines))
                self._engines.pop(oldest).dispose()
        self._engines[shard] = engine  # most recently used last
        return engine

    @contextmanager
    def _connect(self, shard: str):
        with self._db_lock:
            engine = self._engine(shard)
            with engine.connect() as conn, conn.begin():
                yield conn

    def _close_engines(self) -> None:
        with self._db_lock:
            for engine in self._engines.values():
                engine.dispose()
            self._engines.clear()

    def wipe(self) -> None:
        """Close the open databases, then delete them as Dagster's class does."""
        self._close_engines()
        super().wipe()

    def dispose(self) -> None:
        """Close the open databases and stop Dagster's file watchers."""
        self._close_engines()
        super().dispose()


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    dbapi_connection.execute("PRAGMA synchronous=NORMAL")
