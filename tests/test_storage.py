"""The embedded instance's history (xl_pipelines/storage.py): Dagster's SQLite files, written through one engine
per file, read by other processes while a run writes it, consistent after a run is killed."""

import contextlib
import json
import logging
import os
import signal
import sqlite3
import subprocess
import sys
import time
from contextlib import closing
from pathlib import Path

import dagster as dg
import sqlalchemy
from dagster._core.events.log import EventLogEntry

from xl_pipelines.runner import instance_for
from xl_pipelines.settings import get_settings
from xl_pipelines.storage import EventLog, RunHistory, Schedules, engine

ROOT = Path(__file__).resolve().parent.parent
# Run in another process with DAGSTER_HOME set: what a run wrote, as xl's instance (what `dagster dev` loads) and
# as Dagster's own SQLite storage read it; then one event written from there meanwhile.
READER = """
import json, sys
import dagster as dg
from dagster._core.storage.sqlite_storage import DagsterSqliteStorage
run_id, home = sys.argv[1], sys.argv[2]
instance = dg.DagsterInstance.get()
plain = DagsterSqliteStorage.from_local(home)
seen = {
    "storage": type(instance.event_log_storage).__name__,
    "status": instance.get_run_by_id(run_id).status.value,
    "events": [e.dagster_event_type.value for e in instance.all_logs(run_id) if e.is_dagster_event],
    "all": len(instance.all_logs(run_id)),
    "plain": len(plain.event_log_storage.get_records_for_run(run_id).records),
    "first": plain.event_log_storage.get_latest_materialization_events([dg.AssetKey("first")])[dg.AssetKey("first")]
             is not None,
}
instance.report_runless_asset_event(dg.AssetMaterialization("elsewhere"))
print(json.dumps(seen))
"""


class Probe(dg.Config):
    read_into: str = ""  # a file: the READER's view of this run, taken while it executes
    die: bool = False  # SIGKILL this process mid-run


@dg.asset
def first() -> dg.MaterializeResult:
    return dg.MaterializeResult(metadata={"rows": 3})


@dg.asset(deps=[first], check_specs=[dg.AssetCheckSpec("positive", asset="second")])
def second(context: dg.AssetExecutionContext, config: Probe):
    if config.die:
        os.kill(os.getpid(), signal.SIGKILL)
    if config.read_into:
        home = os.environ["DAGSTER_HOME"]
        read = subprocess.run([sys.executable, "-c", READER, context.run.run_id, home], capture_output=True, text=True,
                              check=True)
        Path(config.read_into).write_text(read.stdout)
    yield dg.MaterializeResult()
    yield dg.AssetCheckResult(check_name="positive", passed=True)


PROBE = dg.Definitions(assets=[first, second], jobs=[dg.define_asset_job("probe")]).resolve_job_def("probe")


def probe(instance: dg.DagsterInstance, **config) -> dg.ExecuteInProcessResult:
    return PROBE.execute_in_process(instance=instance, run_config={"ops": {"second": {"config": config}}})


def test_a_runs_history_is_written_through_one_engine_per_file_and_read_meanwhile_by_other_processes(xl_home,
                                                                                                     monkeypatch):
    monkeypatch.delenv("DAGSTER_HOME", raising=False)  # instance_for sets it: restored after the test
    instance = instance_for(get_settings())
    assert (type(instance.run_storage), type(instance.event_log_storage), type(instance.schedule_storage)) == \
        (RunHistory, EventLog, Schedules)
    opened: list[str] = []

    def count(connection, _record) -> None:
        opened.append(connection.execute("PRAGMA database_list").fetchone()[2])

    probe(instance)  # the index is opened, and Dagster's one-time checks of its tables made, by a first run
    sqlalchemy.event.listen(sqlalchemy.engine.Engine, "connect", count)
    try:
        result = probe(instance, read_into=str(xl_home / "seen.json"))
    finally:
        sqlalchemy.event.remove(sqlalchemy.engine.Engine, "connect", count)
    assert result.success
    history = xl_home / "dagster" / "history"
    run_file = history / "runs" / f"{result.run_id}.db"
    # Dagster opens a connection per statement (one per event at least: 20 here). Here the run's new file only,
    # once: laid out as a copy of a blank run file (no connection), its one pooled connection opened on it
    assert opened == [str(run_file)]
    assert not Path(f"{run_file}-wal").exists()  # the run's end closed its engine: its log checkpointed once
    for connect in (instance.event_log_storage.index_connection, instance.run_storage.connect):
        with connect() as connection:  # the pooled connections: NORMAL (1), not Dagster's FULL (2)
            assert connection.exec_driver_sql("PRAGMA synchronous").scalar() == 1

    seen = json.loads((xl_home / "seen.json").read_text())
    assert seen["storage"] == "EventLog" and seen["status"] == "STARTED"
    assert "PIPELINE_START" in seen["events"] and seen["events"][-1] == "STEP_START"  # second's, which reads
    assert seen["events"].count("ASSET_MATERIALIZATION") == 1 and seen["first"]  # first's: committed, indexed
    assert seen["plain"] == seen["all"]  # Dagster's own storage reads the same events
    # the reader's own write landed while this run kept its files open, and both are read back here
    assert instance.get_latest_materialization_event(dg.AssetKey("elsewhere")) is not None
    assert instance.get_run_by_id(result.run_id).status == dg.DagsterRunStatus.SUCCESS
    assert instance.get_latest_materialization_event(dg.AssetKey("second")).run_id == result.run_id
    evaluation = instance.event_log_storage.get_latest_asset_check_execution_by_key(
        [dg.AssetCheckKey(dg.AssetKey("second"), "positive")])
    assert [e.run_id for e in evaluation.values()] == [result.run_id]
    with closing(sqlite3.connect(run_file)) as connection:  # every event in the file itself
        assert connection.execute("SELECT count(*) FROM event_logs").fetchone()[0] == \
            len(instance.all_logs(result.run_id))
    # the run's plan, found stored (by its row, not unpacked), as Dagster's own run storage finds it
    from dagster._core.storage.runs.sqlite.sqlite_run_storage import SqliteRunStorage

    plan = instance.get_run_by_id(result.run_id).execution_plan_snapshot_id
    plain = SqliteRunStorage.from_local(str(history))
    assert [s.has_execution_plan_snapshot(i) for s in (instance.run_storage, plain) for i in (plan, "0" * 40)] == \
        [True, False] * 2


KILLED = """
from tests.test_storage import probe
from xl_pipelines.runner import instance_for
from xl_pipelines.settings import get_settings
probe(instance_for(get_settings()), die=True)
"""


def test_a_run_killed_mid_write_leaves_every_committed_event_and_sound_files(xl_home, monkeypatch):
    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    killed = subprocess.run([sys.executable, "-c", KILLED], cwd=ROOT, capture_output=True, text=True,
                            env={**os.environ, "XL_HOME": str(xl_home)})
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-2000:]
    databases = sorted((xl_home / "dagster").rglob("*.db"))
    assert len(databases) == 4  # runs.db, the run's file, the index, schedules.db
    for database in databases:
        with closing(sqlite3.connect(database)) as connection:
            assert connection.execute("PRAGMA integrity_check").fetchone() == ("ok",), database
    instance = instance_for(get_settings())
    [run] = instance.get_runs()
    assert run.status == dg.DagsterRunStatus.STARTED  # until `recover` marks it failed (test_crash_safety)
    events = [e.dagster_event_type.value for e in instance.all_logs(run.run_id) if e.is_dagster_event]
    assert events[-1] == "STEP_START" and events.count("STEP_SUCCESS") == 1  # first's step, then second's start
    assert instance.get_latest_materialization_event(dg.AssetKey("first")).run_id == run.run_id
    assert instance.get_latest_materialization_event(dg.AssetKey("second")) is None


def _layout(path: Path) -> tuple:
    with closing(sqlite3.connect(path)) as connection:
        return (sorted(connection.execute("SELECT type, name, tbl_name, sql FROM sqlite_master").fetchall()),
                connection.execute("SELECT version_num FROM alembic_version").fetchall(),
                connection.execute("PRAGMA journal_mode").fetchone()[0])


def test_a_new_runs_file_is_laid_out_as_dagsters_own_initdb_lays_it_out(tmp_path):
    """A new run's file is a copy of a blank one made once a process by Dagster's _initdb: the same tables, indexes
    and alembic revision as Dagster's own storage gives a new run, in WAL mode. A file that exists already (here
    the empty file a reader's open leaves) is checked by Dagster's _initdb instead, and holds the run's events."""
    from dagster._core.storage.event_log.sqlite.sqlite_event_log import SqliteEventLogStorage

    ours, theirs = EventLog(str(tmp_path / "ours")), SqliteEventLogStorage(str(tmp_path / "theirs"))
    runs = [f"0f0f0f0f-0000-4000-8000-{n:012d}" for n in range(3)]
    (tmp_path / "ours" / f"{runs[2]}.db").touch()
    try:
        for run_id in runs:
            ours.store_event(EventLogEntry(error_info=None, level=logging.INFO, user_message="x", run_id=run_id,
                                           timestamp=time.time()))
        with theirs.run_connection(runs[0]):
            pass
        laid_out = [_layout(tmp_path / "ours" / f"{run_id}.db") for run_id in runs]
        expected = _layout(tmp_path / "theirs" / f"{runs[0]}.db")
        assert expected[1] and expected[2] == "wal" and len(expected[0]) > 10  # tables, indexes, a stamped revision
        assert laid_out == [expected] * 3
        assert [len(ours.get_logs_for_run(run_id)) for run_id in runs] == [1, 1, 1]
        for run_id in runs:  # each run's pooled connection opened on a file already in WAL mode: NORMAL syncs
            with ours.run_connection(run_id) as connection:
                assert connection.exec_driver_sql("PRAGMA synchronous").scalar() == 1
        assert sorted(p.name for p in (tmp_path / "ours").iterdir() if not p.name.endswith(("-wal", "-shm"))) == \
            sorted([*(f"{run_id}.db" for run_id in runs), "index.db"])  # nothing left beside them
    finally:
        ours.dispose()
        theirs.dispose()


def test_what_dagster_asks_of_the_schema_is_answered_as_its_own_storage_answers(tmp_path):
    """Tables, asset_keys' columns and secondary indexes are asked once there (Dagster asks before every asset event),
    still asked until they are (here one migrated meanwhile by another storage)."""
    from dagster._core.storage.event_log.sqlite.sqlite_event_log import SqliteEventLogStorage

    ours, theirs = EventLog(str(tmp_path)), SqliteEventLogStorage(str(tmp_path))
    asked = [("has_table", "asset_check_executions"), ("has_table", "no_such_table"),
             ("has_asset_key_col", "last_materialization_timestamp"), ("has_asset_key_col", "no_such_column"),
             ("has_secondary_index", "xl_probe")]

    def answers(storage) -> list[bool]:
        return [getattr(storage, method)(name) for method, name in asked]

    try:
        assert answers(ours) == answers(theirs) == [True, False, True, False, False]
        theirs.enable_secondary_index("xl_probe")
        assert answers(ours) == answers(theirs) == [True, False, True, False, True]
    finally:
        ours.dispose()
        theirs.dispose()


def test_a_file_in_rollback_journal_mode_keeps_full_syncs(tmp_path):
    """synchronous=NORMAL is safe in WAL mode only: a file in the default journal mode keeps FULL (2)."""
    plain = engine(f"sqlite:///{tmp_path / 'plain.db'}")
    with plain.connect() as connection:
        assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "delete"
        assert connection.exec_driver_sql("PRAGMA synchronous").scalar() == 2
    plain.dispose()


def test_a_forked_child_writes_through_connections_of_its_own(xl_home, monkeypatch):
    """The parent's pooled connections stay the parent's: a child forked after a run opens its own, and both
    processes' runs are in the history."""
    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    instance = instance_for(get_settings())
    probe(instance)
    index = instance.event_log_storage.index_connection
    with index() as connection:
        parents = connection.connection.dbapi_connection
    child = os.fork()
    if child == 0:  # the child: exit status 0 only if its run succeeded on a connection not its parent's
        with index() as connection:
            own = connection.connection.dbapi_connection is not parents
        os._exit(0 if own and probe(instance).success else 1)
    assert os.waitpid(child, 0)[1] == 0
    probe(instance)
    assert len(instance.get_runs(dg.RunsFilter(statuses=[dg.DagsterRunStatus.SUCCESS]))) == 3


def test_a_process_touching_many_runs_keeps_the_last_eight_open_and_a_wipe_starts_afresh(tmp_path):
    """A process touching run after run (the webserver reading them, a writer): each run's file stays open (its log
    not yet checkpointed) until eight newer ones are, then closed (checkpointed, its log removed). Dagster's wipe
    deletes the run files: a run written after it is written and read whole, not through a deleted file's handle."""
    history = EventLog(str(tmp_path))
    runs = [f"0f0f0f0f-0000-4000-8000-{n:012d}" for n in range(10)]

    def event(run_id: str) -> EventLogEntry:
        return EventLogEntry(error_info=None, level=logging.INFO, user_message="x", run_id=run_id, timestamp=time.time())

    try:
        for run_id in runs:
            history.store_event(event(run_id))
        assert [(tmp_path / f"{r}.db-wal").exists() for r in runs] == [False] * 2 + [True] * 8
        assert all(len(history.get_logs_for_run(r)) == 1 for r in runs)
        history.wipe()
        assert not list(tmp_path.glob("0f0f*"))
        history.store_event(event(runs[-1]))
        assert len(history.get_logs_for_run(runs[-1])) == 1 and (tmp_path / f"{runs[-1]}.db").is_file()
    finally:
        history.dispose()
    assert not list(tmp_path.glob("*-wal"))


def test_the_repositorys_dagster_yaml_loads_without_dagster_home(tmp_path, monkeypatch):
    """`dagster dev` run without DAGSTER_HOME makes a temporary instance from ./dagster.yaml: the run history's storage,
    whose base_dir is $DAGSTER_HOME, is named only in the embedded copy (runner.instance_config)."""
    from dagster._core.instance.ref import InstanceRef

    from xl_pipelines.runner import instance_config

    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    with dg.DagsterInstance.from_ref(InstanceRef.from_dir(str(tmp_path), config_dir=str(ROOT))) as instance:
        assert instance.get_runs() == []
    assert "xl_pipelines.storage" in instance_config() and "xl_pipelines.storage" not in (ROOT / "dagster.yaml").read_text()


def test_the_webservers_live_view_of_a_run_sees_its_events_while_the_run_holds_its_file(tmp_path):
    """The UI follows a run by watching its file (EventLog.watch); here the events stay in the file's write-ahead
    log until the run ends, and the watch is woken by that log."""
    writer, viewer = EventLog(str(tmp_path)), EventLog(str(tmp_path))  # as `xl materialize` and the webserver
    run_id, seen = "0f0f0f0f-0000-4000-8000-000000000001", []

    def store(message: str) -> None:
        writer.store_event(EventLogEntry(error_info=None, level=logging.INFO, user_message=message, run_id=run_id,
                                         timestamp=time.time()))

    try:
        store("first")
        viewer.watch(run_id, None, lambda entry, _cursor: seen.append(entry.user_message))
        for message in ("second", "third"):
            store(message)
        deadline = time.monotonic() + 20
        while len(seen) < 3 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert seen == ["first", "second", "third"]
        assert (tmp_path / f"{run_id}.db-wal").exists()  # the writer's engine still open: nothing checkpointed yet
    finally:
        viewer.dispose()
        writer.dispose()


def test_a_run_file_made_by_another_process_while_ours_is_written_is_left_to_dagsters_initdb(tmp_path, monkeypatch):
    """The race past the existence check: another process's file appears while the blank copy is written
    beside. Ours is not linked over it, is not taken for laid out, and nothing is left beside it."""
    import xl_pipelines.storage as storage

    history = EventLog(str(tmp_path))
    path = Path(history.path_for_shard("0f0f0f0f-0000-4000-8000-000000000001"))
    theirs = b"another process's file"
    real = storage.written_beside

    @contextlib.contextmanager
    def raced(target, replace=True):
        with real(target, replace) as beside:
            yield beside
            target.write_bytes(theirs)  # made meanwhile, before the link

    monkeypatch.setattr(storage, "written_beside", raced)
    try:
        assert history._laid_out("0f0f0f0f-0000-4000-8000-000000000001") is False
        assert path.read_bytes() == theirs
        assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []
    finally:
        history.dispose()
