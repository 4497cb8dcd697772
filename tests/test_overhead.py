"""Machinery kept off the data's path: `xl` starts without Dagster or GX; the run history writes without waits."""

import sqlite3
import subprocess
import sys
from contextlib import closing

import sqlalchemy
from sqlalchemy.pool import NullPool

from xl_pipelines import runner


def test_a_wal_history_skips_sync_waits_and_is_checkpointed_once_at_release(tmp_path):
    wal, plain = tmp_path / "wal.db", tmp_path / "plain.db"
    with closing(sqlite3.connect(wal)) as connection:
        connection.execute("PRAGMA journal_mode=WAL")
    target = (sqlalchemy.engine.Engine, "connect", runner._history_without_waits)
    ours = not sqlalchemy.event.contains(*target)  # instance_for may have listened already in this process
    if ours:
        sqlalchemy.event.listen(*target)
    try:
        synchronous = {}
        with runner._history_held():
            for path in (wal, plain):  # as Dagster writes an event: an engine, a connection, a commit, closed
                engine = sqlalchemy.create_engine(f"sqlite:///{path}", poolclass=NullPool)
                with engine.connect() as connection, connection.begin():
                    connection.exec_driver_sql("CREATE TABLE IF NOT EXISTS events (body TEXT)")
                    connection.exec_driver_sql("INSERT INTO events VALUES ('x')")
                    synchronous[path] = connection.exec_driver_sql("PRAGMA synchronous").scalar()
                engine.dispose()
            assert synchronous == {wal: 1, plain: 2}  # NORMAL in WAL mode; a rollback journal keeps FULL
            assert list(runner._HELD) == [str(wal)]
            assert (tmp_path / "wal.db-wal").exists()  # Dagster's close was not the last: no checkpoint yet
        assert runner._HELD is None and not (tmp_path / "wal.db-wal").exists()  # the last close checkpointed it
        with closing(sqlite3.connect(wal)) as connection:
            assert connection.execute("SELECT count(*) FROM events").fetchone() == (1,)
        engine = sqlalchemy.create_engine(f"sqlite:///{wal}", poolclass=NullPool)
        with engine.connect() as connection:  # outside a run nothing is held
            assert connection.exec_driver_sql("SELECT count(*) FROM events").scalar() == 1
        engine.dispose()
        assert runner._HELD is None and not (tmp_path / "wal.db-wal").exists()
    finally:
        if ours:
            sqlalchemy.event.remove(*target)

def test_the_command_line_starts_without_dagster_or_great_expectations():
    probe = ("import sys, xl_pipelines.cli as cli; cli.parser().format_help(); "
             "print(sorted(m for m in ('dagster', 'great_expectations', 'polars', 'duckdb') if m in sys.modules))")
    run = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert run.stdout.strip() == "[]"
