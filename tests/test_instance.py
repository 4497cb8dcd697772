"""`xl materialize` and the Dagster instance: which instance, and who executes its runs, is that instance's
configuration; SIGTERM, or Ctrl-C, while a run executes stops it at once, with one line, and leaves no process,
no run STARTED and no temporary or torn file behind."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import time
from pathlib import Path

import dagster as dg
import pyarrow.parquet as pq
import pytest
import yaml

from tests.conftest import camera_id, land_banner
from tests.test_crash_safety import BANNER, materialize
from xl_pipelines import fork_server
from xl_pipelines.lake import pid_alive
from xl_pipelines.runner import DEPLOYED, deployed, instance_for, submits_runs
from xl_pipelines.settings import ConfigError, get_settings

ROOT = Path(__file__).resolve().parent.parent
QUEUE = """
run_coordinator:
  module: dagster.core.run_coordinator
  class: QueuedRunCoordinator
"""
POSTGRES = """
storage:
  postgres:
    postgres_url: postgresql+psycopg2://xl@127.0.0.1:1/dagster
"""


def dagster_home(tmp_path: Path, config: str) -> Path:
    home = tmp_path / "instance"
    home.mkdir(parents=True)
    (home / "dagster.yaml").write_text(config, encoding="utf-8")
    return home


def test_xls_own_instance_executes_in_its_pool_even_where_make_points_dagster_home(xl_home, tmp_path, monkeypatch):
    """`make` exports DAGSTER_HOME=$XL_HOME/dagster of the repository; a test's (or a user's) XL_HOME is another:
    a DAGSTER_HOME holding xl's embedded configuration is not a deployment."""
    monkeypatch.setenv("DAGSTER_HOME", str(dagster_home(tmp_path, (ROOT / "dagster.yaml").read_text())))
    instance = instance_for(get_settings())
    assert Path(instance.root_directory) == xl_home / "dagster"
    assert not submits_runs(instance)  # though Dagster's default coordinator is a queue too


def test_a_dagster_home_that_names_a_run_coordinator_is_submitted_to(xl_home, tmp_path, monkeypatch):
    home = dagster_home(tmp_path, QUEUE)
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    instance = instance_for(get_settings())
    assert Path(instance.root_directory) == home and submits_runs(instance)
    assert not (xl_home / "dagster").exists()  # the embedded instance was not made


def test_a_deployment_is_what_its_dagster_yaml_configures_beyond_xls_own(tmp_path, monkeypatch):
    """xl's dagster.yaml names its own storage class: only a storage, launcher or coordinator other than that
    makes $DAGSTER_HOME a deployment's."""
    own = yaml.safe_load((ROOT / "dagster.yaml").read_text())
    cases = {"own": own, "queued": {**own, **yaml.safe_load(QUEUE)}, "postgres": {**own, **yaml.safe_load(POSTGRES)},
             "distributed": yaml.safe_load((ROOT / "deploy" / "dagster.distributed.yaml").read_text())}
    found = {}
    for name, config in cases.items():
        monkeypatch.setenv("DAGSTER_HOME", str(dagster_home(tmp_path / name, yaml.safe_dump(config))))
        found[name] = deployed() and deployed()[1] & DEPLOYED
    assert found == {"own": None, "queued": {"run_coordinator"}, "postgres": {"storage"},
                     "distributed": {"storage", "run_coordinator", "run_launcher"}}


@pytest.mark.parametrize(("config", "said"), [
    ("storage: [", "is not a Dagster instance configuration: .* \\(line 1, column 11\\)"),
    ("- run_launcher\n", "is not a Dagster instance configuration: a list, not a mapping"),
    ("run_launcher:\n  module: dagster_nowhere\n  class: RunLauncher\n", "Couldn't import module dagster_nowhere"),
])
def test_a_deployment_instance_that_cannot_be_made_is_one_line(xl_home, tmp_path, monkeypatch, config, said):
    monkeypatch.setenv("DAGSTER_HOME", str(dagster_home(tmp_path, config)))
    with pytest.raises(ConfigError, match=said) as error:
        instance_for(get_settings())
    assert "\n" not in str(error.value)

UNFINISHED = [dg.DagsterRunStatus.NOT_STARTED, dg.DagsterRunStatus.STARTING, dg.DagsterRunStatus.STARTED]


def in_group(pgid: int) -> list[int]:
    """The live processes of process group `pgid` (field 5 of /proc/PID/stat), zombies aside."""
    members = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
                if int(fields[2]) == pgid and fields[0] != "Z":
                    members.append(int(entry.name))
    return members


@pytest.mark.parametrize(("signum", "code", "kill"), [(signal.SIGTERM, 143, os.kill), (signal.SIGINT, 130, os.kill),
                                                      (signal.SIGINT, 130, os.killpg)])
def test_a_signal_mid_run_stops_xl_materialize_and_everything_it_started(tmp_path, monkeypatch, signum, code, kill):
    """`kill` sends a signal to xl alone; Ctrl-C in a terminal sends SIGINT to its whole group (`killpg`), the pool,
    its runs and the log tailers their runs start (whose tracebacks it once printed) included."""
    land_banner(tmp_path / "landing", BANNER, [camera_id(n) for n in range(1, 21)])
    run = materialize(tmp_path, start_new_session=True)  # a group of its own, as a terminal gives a command
    monkeypatch.setenv("XL_HOME", str(tmp_path))
    try:
        instance = instance_for(get_settings())
        deadline = time.monotonic() + 240
        while not (started := instance.get_runs(dg.RunsFilter(statuses=[dg.DagsterRunStatus.STARTED]))) \
                and time.monotonic() < deadline and run.poll() is None:
            time.sleep(0.1)
        assert len(started) == 1, "no run was caught executing"
        before = in_group(run.pid)
        assert run.pid in before and int(started[0].tags["xl/pid"]) in before  # xl, and the worker executing it
        kill(run.pid, signum)
        signalled = time.monotonic()
        out, err = run.communicate(timeout=60)
        took = time.monotonic() - signalled
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(run.pid, signal.SIGKILL)
    assert run.returncode == code, err
    assert took < 20, f"{took:.0f}s to stop"
    # one line, no traceback, and no progress line: the banner-day never finished
    assert len(err.splitlines()) == 1 and out == "", err
    assert err.startswith(f"xl: stopped by {signal.Signals(signum).name}: ") and "process(es) of its pool killed" in err
    ended = time.monotonic() + 10  # multiprocessing's resource tracker ends once it reads xl's end of its pipe
    while (left := [pid for pid in {*before, *in_group(run.pid)} if pid_alive(pid)]) and time.monotonic() < ended:
        time.sleep(0.1)
    assert not left
    assert not instance.get_runs(dg.RunsFilter(statuses=UNFINISHED))
    assert instance.get_run_by_id(started[0].run_id).status == dg.DagsterRunStatus.CANCELED
    assert not [p for p in tmp_path.rglob("*") if ".tmp" in p.name]
    for part in (tmp_path / "lake").rglob("*.parquet"):
        pq.read_metadata(part)  # a torn file fails here


def test_a_signal_inside_a_librarys_call_stops_the_command_once_the_call_is_done(tmp_path):
    """The distributed proof's SIGTERM once came while SQLAlchemy bound a parameter of Dagster's event log: raised
    there, Stopped was wrapped in SQLAlchemy's StatementError and xl exited 1 with a traceback instead of 143 with
    one line (other moments tore a code server's loading, or printed SQLAlchemy's own traceback). A signal outside
    a wait now stops the command when the call has finished: the statement is whole, the connection usable."""
    import sqlalchemy as sa

    from xl_pipelines.runner import _stoppable
    from xl_pipelines.settings import Stopped

    class SignalledWhileBound(sa.types.TypeDecorator):
        impl, cache_ok = sa.Integer, True

        def process_bind_param(self, value, dialect):
            os.kill(os.getpid(), signal.SIGTERM)  # the handler runs here, inside SQLAlchemy's execute
            return value

    engine = sa.create_engine(f"sqlite:///{tmp_path / 'events.db'}")
    with engine.begin() as connection:
        connection.execute(sa.text("CREATE TABLE events (n INTEGER)"))
    statement = sa.text("INSERT INTO events VALUES (:n)").bindparams(sa.bindparam("n", type_=SignalledWhileBound))
    before = signal.getsignal(signal.SIGTERM)
    with pytest.raises(Stopped) as stopped, _stoppable(), engine.begin() as connection:
        connection.execute(statement, {"n": 1})
    assert stopped.value.signum == signal.SIGTERM
    with engine.begin() as connection:
        connection.execute(sa.text("INSERT INTO events VALUES (2)"))
        assert connection.execute(sa.text("SELECT n FROM events ORDER BY n")).scalars().all() == [1, 2]
    assert signal.getsignal(signal.SIGTERM) == before  # the handler put back


def test_a_signal_during_a_wait_stops_the_command_at_once():
    import threading

    from xl_pipelines.runner import SIGNAL, _stoppable
    from xl_pipelines.settings import Stopped

    began = time.monotonic()
    with pytest.raises(Stopped) as stopped, _stoppable():
        threading.Timer(0.2, os.kill, (os.getpid(), signal.SIGINT)).start()
        SIGNAL.sleep(30)
    assert stopped.value.signum == signal.SIGINT and time.monotonic() - began < 5
    SIGNAL.check()  # the stop was its command's: the next command starts unstopped


@pytest.mark.parametrize(("moment", "signum", "kill", "cancelled"), [
    ("loading", signal.SIGTERM, os.kill, 0), ("queued", signal.SIGTERM, os.kill, 1),
    ("loading", signal.SIGINT, os.killpg, 0), ("queued", signal.SIGINT, os.killpg, 1)])
def test_a_signal_while_a_deployment_loads_or_is_submitted_to_is_one_line(tmp_path, monkeypatch, moment, signum, kill,
                                                                          cancelled):
    """Submitting to a deployment, `xl materialize` first loads the code location in a code server (seconds),
    then submits its run (which queues: no daemon here). Stopped while the server loads (0.5 s after it starts,
    before any run) or once its run is queued, by `kill` or by Ctrl-C to the whole group (the code server too),
    it says one line, with 128 + the signal, and leaves no process: the server was once torn mid-load, with its
    traceback and Dagster's on the terminal."""
    land_banner(tmp_path / "landing", BANNER, [camera_id(1)])
    monkeypatch.setenv("DAGSTER_HOME", str(dagster_home(tmp_path, QUEUE)))
    monkeypatch.setenv("XL_HOME", str(tmp_path))
    instance = instance_for(get_settings())
    run = materialize(tmp_path, start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        while not (instance.get_runs(dg.RunsFilter(statuses=[dg.DagsterRunStatus.QUEUED])) if moment == "queued" else
                   [pid for pid in in_group(run.pid) if b"grpc" in command_line(pid)]) \
                and time.monotonic() < deadline and run.poll() is None:
            time.sleep(0.01)
        time.sleep(0.5 if moment == "loading" else 0)
        group = in_group(run.pid)
        assert len(group) > 1 and run.poll() is None, f"not caught {moment}"
        kill(run.pid, signum)
        out, err = run.communicate(timeout=60)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(run.pid, signal.SIGKILL)
    assert run.returncode == 128 + signum and out == "" and len(err.splitlines()) == 1, err
    assert re.fullmatch(rf"xl: stopped by {signal.Signals(signum).name}: {cancelled} run\(s\) cancelled through the "
                        r"instance; .*\n", err), err
    ended = time.monotonic() + 10
    while (left := [pid for pid in group if pid_alive(pid)]) and time.monotonic() < ended:
        time.sleep(0.1)
    assert not left


def test_the_fork_server_is_started_early_only_where_xl_executes_the_runs(tmp_path, monkeypatch):
    """`xl materialize` starts its pool's fork server before it knows its instance, from the dagster.yaml alone:
    not where a deployment names who executes runs (runner.submits_runs), nor for a file it cannot read."""
    own = (ROOT / "dagster.yaml").read_text()
    cases = {"own": own, "queued": own + QUEUE, "postgres": own + POSTGRES, "broken": "storage: [",
             "distributed": (ROOT / "deploy" / "dagster.distributed.yaml").read_text()}
    found = {}
    for name, config in cases.items():
        monkeypatch.setenv("DAGSTER_HOME", str(dagster_home(tmp_path / name, config)))
        found[name] = fork_server.executed_elsewhere()
    monkeypatch.delenv("DAGSTER_HOME")
    found["unset"] = fork_server.executed_elsewhere()
    assert found == {"own": False, "queued": True, "postgres": False, "broken": False, "distributed": True,
                     "unset": False}


def test_xl_stopped_while_its_fork_server_loads_leaves_no_process(tmp_path):
    """The fork server starts loading (seconds) before `xl` can stop its pool: killed then, `xl` takes it along."""
    land_banner(tmp_path / "landing", BANNER, [camera_id(1)])
    run = materialize(tmp_path, start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        while not (server := [pid for pid in in_group(run.pid) if b"forkserver" in command_line(pid)]) \
                and time.monotonic() < deadline and run.poll() is None:
            time.sleep(0.01)
        assert server, "no fork server was started"
        time.sleep(0.5)  # loading now (Great Expectations alone takes seconds)
        group = in_group(run.pid)
        os.kill(run.pid, signal.SIGKILL)  # nothing `xl` could clean up after
        run.wait(timeout=10)
        ended = time.monotonic() + 3  # far less than the rest of its loading
        while (left := [pid for pid in group if pid_alive(pid)]) and time.monotonic() < ended:
            time.sleep(0.05)
        assert not left
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(run.pid, signal.SIGKILL)


def command_line(pid: int) -> bytes:
    with contextlib.suppress(OSError):
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    return b""


@pytest.mark.parametrize("tag", ["false", "never"])
def test_a_failed_run_is_followed_until_dagster_says_whether_it_is_retried(tmp_path, monkeypatch, tag):
    """Dagster stores a run's failure before it tags whether the run will be retried: followed in between, a run
    about to be retried was taken for the day's final word (the distributed proof's killed run, once). A failed
    run is final once tagged, or when the tag never comes within the grace period."""
    import threading

    from xl_pipelines import distributed

    monkeypatch.setattr(distributed, "RETRY_TAG_GRACE_S", 1.0)
    with dg.instance_for_test(temp_dir=str(tmp_path), overrides={"run_retries": {"enabled": True}}) as instance:
        run = dg.DagsterRun(job_name="banner_day", status=dg.DagsterRunStatus.FAILURE)
        instance.add_run(run)
        if tag != "never":
            threading.Timer(0.5, instance.add_run_tags, (run.run_id, {distributed.WILL_RETRY: tag})).start()
        began = time.monotonic()
        followed = distributed.follow(instance, [run.run_id], poll_s=0.05, timeout_s=60)[run.run_id]
        waited = time.monotonic() - began
    if tag == "never":
        assert waited >= 1.0 and distributed.WILL_RETRY not in followed.tags
    else:
        assert waited >= 0.5 and followed.tags[distributed.WILL_RETRY] == "false"
