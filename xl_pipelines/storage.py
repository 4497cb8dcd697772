"""The embedded instance's run history (dagster.yaml `storage`): Dagster's own SQLite storages, same files and
schema, with one SQLAlchemy engine (and its pooled connection) per database file instead of one per statement.

Dagster's SQLite storages create an engine for every connection they open: a run's ~280 events cost ~1,700
engines, each with an empty statement cache (every insert compiled anew), each connection's close the last one
(the write-ahead log checkpointed, synced, deleted): ~1.5 CPU s a banner-day (bench/profile.md). Here an engine
lives as long as its file is in use: the run's own file until the run ends, the index and the runs' list for the
process. Every event is still its own committed transaction, in WAL mode with synchronous=NORMAL: other
processes (`dagster dev`, another `xl`) read and write the same files meanwhile, and a killed run leaves every
committed event and never a torn file (a power cut may lose a run's last events: `recover` marks it failed).
What Dagster asks again and again is answered from what does not change: a new run's file is a copy of the blank
one Dagster lays out (made once a process), and the schema's tables, columns and indexes are asked once there.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import tempfile
from collections import OrderedDict
from collections.abc import Iterator
from pathlib import Path

import sqlalchemy
from dagster._core.events import EVENT_TYPE_TO_PIPELINE_RUN_STATUS
from dagster._core.events.log import EventLogEntry
from dagster._core.storage.base_storage import DagsterStorage
from dagster._core.storage.dagster_run import FINISHED_STATUSES
from dagster._core.storage.event_log.sqlite.sqlite_event_log import (
    INDEX_SHARD_NAME,
    SqliteEventLogStorage,
    SqliteEventLogStorageWatchdog,
)
from dagster._core.storage.runs.sqlite.sqlite_run_storage import SqliteRunStorage
from dagster._core.storage.schedules.sqlite.sqlite_schedule_storage import SqliteScheduleStorage
from dagster._core.storage.sqlite import SQLITE_BUSY_TIMEOUT_SECONDS
from dagster._core.storage.sqlite_storage import (
    DagsterSqliteStorage,
    _event_logs_directory,
    _runs_directory,
    _schedule_directory,
)
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.pool import QueuePool
from watchdog.observers import Observer

from xl_pipelines.lake import written_beside

# What the embedded instance's dagster.yaml adds to the repository's (runner.instance_config): named there only,
# since its base_dir is $DAGSTER_HOME, which `dagster dev` run without one (a temporary instance) does not set.
CONFIG = f"""# The run history in $DAGSTER_HOME as Dagster's SQLite storage keeps it, one engine per file ({__name__}).
storage:
  custom:
    module: {__name__}
    class: LocalStorage
    config:
      base_dir:
        env: DAGSTER_HOME
"""

OPEN_RUNS = 8  # run files whose engines a reader (the webserver) keeps open at once; the oldest is closed first


def _without_sync_waits(connection, _record) -> None:
    """In WAL mode synchronous=NORMAL syncs at checkpoints, not at every commit, and still never corrupts the file
    (SQLite's documentation); a file still in rollback-journal mode keeps FULL."""
    if isinstance(connection, sqlite3.Connection) and \
            connection.execute("PRAGMA journal_mode").fetchone()[0] == "wal":
        connection.execute("PRAGMA synchronous=NORMAL")


def _opened_here(_connection, record) -> None:
    record.info["pid"] = os.getpid()


def _not_inherited(_connection, record, proxy) -> None:
    """A forked child never uses its parent's open connection (SQLite forbids it): it opens its own (SQLAlchemy's
    documented recipe for pools and os.fork)."""
    if record.info["pid"] != os.getpid():
        record.dbapi_connection = proxy.dbapi_connection = None
        raise sqlalchemy.exc.DisconnectionError("a connection of the parent process")


def engine(conn_string: str) -> Engine:
    """One file's engine: one connection kept open (more, closed after use, while several threads use the file at
    once: no limit, as Dagster's engine per connection had none), statements compiled once; waits as Dagster's own
    do for a writer of another process."""
    made = sqlalchemy.create_engine(conn_string, poolclass=QueuePool, pool_size=1, max_overflow=-1,
                                    connect_args={"timeout": SQLITE_BUSY_TIMEOUT_SECONDS, "check_same_thread": False})
    sqlalchemy.event.listen(made, "connect", _without_sync_waits)
    sqlalchemy.event.listen(made, "connect", _opened_here)
    sqlalchemy.event.listen(made, "checkout", _not_inherited)
    return made


class _OneEngine:
    """connect() of Dagster's single-file SQLite storages (runs, schedules), through one engine."""

    _conn_string: str
    _engine: Engine | None = None

    @contextlib.contextmanager
    def connect(self) -> Iterator[Connection]:
        if self._engine is None:
            self._engine = engine(self._conn_string)
        with self._engine.connect() as connection, connection.begin():
            yield connection

    def dispose(self) -> None:
        super().dispose()
        if self._engine is not None:
            self._engine.dispose()


class RunHistory(_OneEngine, SqliteRunStorage):
    """The list of runs ($DAGSTER_HOME/history/runs.db)."""

    def has_execution_plan_snapshot(self, execution_plan_snapshot_id: str) -> bool:
        """Asked at every run's creation; Dagster's reads and unpacks the whole stored plan to say whether it is
        there (~10 CPU ms a banner-day): here, whether its row is."""
        return self._has_snapshot_id(execution_plan_snapshot_id)


class Schedules(_OneEngine, SqliteScheduleStorage):
    """Schedule and sensor state ($DAGSTER_HOME/schedules/schedules.db)."""


class EventLog(SqliteEventLogStorage):
    """The events: a file per run and an index of asset and check events across runs ($DAGSTER_HOME/history/runs/).
    A run's engine is closed when its run ends: its write-ahead log checkpointed into the file once."""

    def __init__(self, base_dir: str, inst_data=None):
        self._engines: OrderedDict[str, Engine] = OrderedDict()
        self._there: set[tuple[str, str]] = set()  # tables, columns, secondary indexes known to exist (_once_there)
        self._blank: bytes | None = None
        super().__init__(base_dir, inst_data)

    @contextlib.contextmanager
    def _connect(self, shard: str) -> Iterator[Connection]:
        with self._db_lock:  # as Dagster's: one statement at a time per storage, the watcher threads included
            if shard not in self._engines:
                self._engines[shard] = engine(self.conn_string_for_shard(shard))
                self._close(*[s for s in self._engines if s != INDEX_SHARD_NAME][:-OPEN_RUNS])
            self._engines.move_to_end(shard)
            if shard not in self._initialized_dbs:
                if shard == INDEX_SHARD_NAME or not self._laid_out(shard):
                    self._initdb(self._engines[shard])
                    self._engines[shard].dispose()  # a new file turned WAL after its first connection opened
                self._initialized_dbs.add(shard)
            with self._engines[shard].connect() as connection, connection.begin():
                yield connection

    def _laid_out(self, shard: str) -> bool:
        """Lay out a new run's file as a copy of a blank one (_blank_run_file): Dagster's _initdb of every new run
        file (its tables created one statement and one sync at a time, alembic's scripts read twice) costs ~65 CPU
        ms. False if the file exists (another process made it first, or it holds a run): Dagster's _initdb then
        checks it, as before. Written beside and linked, so no reader ever sees a file half written."""
        path = self.path_for_shard(shard)
        if os.path.exists(path):
            return False
        if self._blank is None:
            self._blank = self._blank_run_file()
        try:
            with written_beside(Path(path), replace=False) as beside:  # linked in only if no file is there yet
                with open(beside, "wb") as file:
                    file.write(self._blank)
                    file.flush()
                    os.fsync(file.fileno())
                mine = os.stat(beside).st_ino
            if os.stat(path).st_ino != mine:  # another process made it meanwhile: Dagster's _initdb checks it
                return False
        except OSError:  # no hard links here: Dagster's _initdb makes it
            return False
        folder = os.open(os.path.dirname(path), os.O_RDONLY)
        try:
            os.fsync(folder)  # the new name durable too, as Dagster's _initdb's journal syncs made it
        finally:
            os.close(folder)
        return True

    def _blank_run_file(self) -> bytes:
        """A run's file as Dagster's _initdb leaves a new one (its tables, alembic's stamp of the head revision,
        WAL mode), made once a process in a folder of its own by this Dagster version."""
        with tempfile.TemporaryDirectory(prefix="xl-run-file-") as folder:
            path = os.path.join(folder, "blank.db")
            made = engine(f"sqlite:///{path}")
            try:
                self._initdb(made)
            finally:
                made.dispose()  # its last connection closed: the log checkpointed into the file, and removed
            with open(path, "rb") as file:
                return file.read()

    def _once_there(self, what: tuple[str, str], ask, *args) -> bool:
        """What Dagster asks of the schema before storing an event, answered by `ask` until it is there: a table, a
        column or a secondary index once there stays (migrations only add them; a wipe keeps them)."""
        if what not in self._there and ask(*args):
            self._there.add(what)
        return what in self._there

    def has_table(self, table_name: str) -> bool:
        """Asked before storing every asset event's tags and every check's result, each time through an engine of
        Dagster's own."""
        return self._once_there(("table", table_name), super().has_table, table_name)

    def _has_asset_key_col_on_connection(self, connection: Connection, column_name: str) -> bool:
        """Asked before storing every asset event (and whether an asset's status may be cached), each time by reading
        the table's columns."""
        return self._once_there(("column", column_name), super()._has_asset_key_col_on_connection, connection,
                                column_name)

    def has_secondary_index(self, name: str) -> bool:
        """Asked at every data-version lookup of a step's inputs, each time by a query (Dagster's consolidated SQLite
        storage keeps the answers too)."""
        return self._once_there(("index", name), super().has_secondary_index, name)

    def store_event(self, event: EventLogEntry) -> None:
        super().store_event(event)
        if EVENT_TYPE_TO_PIPELINE_RUN_STATUS.get(event.dagster_event_type) in FINISHED_STATUSES:
            with self._db_lock:
                self._close(event.run_id)

    def watch(self, run_id: str, cursor: str | None, callback) -> None:
        """As Dagster's (the webserver's live view of a run), through _Watchdog."""
        if not self._obs:
            self._obs = Observer()
            self._obs.start()
        watchdog = _Watchdog(self, run_id, callback, cursor)
        self._watchers[run_id][callback] = (watchdog, self._obs.schedule(watchdog, self._base_dir, recursive=True))

    def _close(self, *shards: str) -> None:
        for shard in shards:
            if shard in self._engines:
                self._engines.pop(shard).dispose()

    def wipe(self) -> None:
        """Dagster's wipe deletes the run files: their engines closed first, or the next connection would be an
        open handle on a deleted file."""
        with self._db_lock:
            self._close(*[shard for shard in self._engines if shard != INDEX_SHARD_NAME])
        super().wipe()

    def dispose(self) -> None:
        super().dispose()
        with self._db_lock:
            self._close(*list(self._engines))


class _Watchdog(SqliteEventLogStorageWatchdog):
    """Dagster's watcher of a run's file, woken by its write-ahead log too: a run's events are there while its
    writer's engine is open (Dagster's own writer checkpoints them into the file at every close)."""

    @property
    def patterns(self) -> list[str]:
        return [self._log_path, f"{self._log_path}-wal"]

    def on_modified(self, _event) -> None:
        self._process_log()


class LocalStorage(DagsterSqliteStorage):
    """The three storages in DagsterSqliteStorage's layout under base_dir ($DAGSTER_HOME)."""

    def __init__(self, base_dir: str, inst_data=None):
        self.base_dir = base_dir
        self._run_storage = RunHistory.from_local(_runs_directory(base_dir))
        self._event_log_storage = EventLog(_event_logs_directory(base_dir))
        self._schedule_storage = Schedules.from_local(_schedule_directory(base_dir))
        self._inst_data = inst_data
        DagsterStorage.__init__(self)

    @classmethod
    def from_config_value(cls, inst_data, config_value) -> LocalStorage:
        return cls.from_local(inst_data=inst_data, **config_value)
