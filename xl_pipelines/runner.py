"""Materialise partitions in-process against the real Dagster instance under $XL_HOME (runs show in the UI).

Banner-days are independent of each other, and of the months' case exports, so all of those run in parallel
worker processes (one per core, at most WORKERS); each day's city rollup runs after, once its nine banners are
in; then each month's statistics and leadership report. The workers are forked from one server that imported
the code location and Great Expectations once (fork_server.py: `xl` starts it first thing), and each keeps its
instance: a banner-day pays for its data and its run, not for start-up (bench/profile.md).

When the instance $DAGSTER_HOME selects is a deployment's (docs/deployment.md: a run launcher or a run
coordinator of its own), the same partitions are submitted to it as runs in the same order instead, and
followed to the end: who executes them is the instance's configuration. SIGTERM or Ctrl-C stops either way
cleanly: the pool's processes killed and their runs marked CANCELED, or the submitted runs cancelled.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import os
import signal
import socket
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import dagster as dg
import yaml
from dagster._core.errors import DagsterInvalidConfigError
from dagster_shared.check import CheckError

from xl_pipelines import fork_server
from xl_pipelines.lake import LOCAL_PROTOCOLS, Lake, pid_alive, remove_stale_temps
from xl_pipelines.settings import ConfigError, Settings, Stopped

INSTANCE_CONFIG = Path(__file__).resolve().parent.parent / "dagster.yaml"
WORKERS = 4
# One progress line per partition instead of step chatter: a failed step logs its traceback at ERROR, shown in
# the Dagster UI (and summed up in the line), never on the terminal.
QUIET = {"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}}
_INSTANCES: dict[Path, dg.DagsterInstance] = {}
# What a deployment's dagster.yaml configures (deploy/dagster.distributed.yaml) other than xl's own does; the
# last two name who executes runs (fork_server.EXECUTES).
DEPLOYED = {"storage", "run_storage", "event_log_storage", "schedule_storage", *fork_server.EXECUTES}


def instance_config() -> str:
    """The embedded instance's dagster.yaml: the repository's, and the run history's storage (storage.CONFIG)."""
    from xl_pipelines import storage

    return INSTANCE_CONFIG.read_text(encoding="utf-8") + storage.CONFIG


def deployed() -> tuple[Path, set[str]] | None:
    """$DAGSTER_HOME and what its dagster.yaml configures, when that is the instance's storage, run launcher or
    run coordinator other than xl's own dagster.yaml names (a deployment's instance); None when xl's embedded
    one is meant (unset, or the embedded copy `make` points at)."""
    try:
        found = fork_server.home_config()
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    if found is None:
        return None
    home, loaded = found
    own = yaml.safe_load(instance_config())
    keys = {key for key, value in loaded.items() if key not in own or value != own[key]}
    return (home, keys) if keys & DEPLOYED else None


def submits_runs(instance: dg.DagsterInstance) -> bool:
    """Whether the instance's configuration names who executes runs (a run launcher, a queue served by its
    daemon): then `xl` submits its partitions and follows them rather than executing them itself. (Dagster's
    default coordinator is a queue too, but with nothing configured `xl` is the executor.)"""
    deployment = deployed()
    return bool(deployment and deployment[1] & fork_server.EXECUTES and deployment[0] == Path(instance.root_directory))


def instance_for(settings: Settings) -> dg.DagsterInstance:
    """The instance runs go to, made once a process: a deployment's (deployed) as configured, else the
    persistent embedded one in $XL_HOME/dagster, configured by the repository's dagster.yaml.

    Creating the SQLite storages runs schema migrations, which two `xl` processes starting at once would race;
    an exclusive file lock lets the first create them and the second find them ready.
    """
    home = deployment[0] if (deployment := deployed()) else settings.dagster_home
    if home != settings.dagster_home:
        if home not in _INSTANCES:
            try:
                instance = dg.DagsterInstance.get()
                instance.run_launcher, instance.run_coordinator  # noqa: B018 (their modules import)
            except (ImportError, CheckError, DagsterInvalidConfigError) as exc:  # a module of another extra, a variable
                why = exc.errors[0].message if isinstance(exc, DagsterInvalidConfigError) else str(exc).splitlines()[0]
                raise ConfigError(f"the Dagster instance in {home} (DAGSTER_HOME) cannot be made: "
                                  f"{why.removeprefix('Failure condition: ')} (pip install '.[distributed]'? "
                                  "docs/deployment.md)") from None
            _INSTANCES[home] = instance
        return _INSTANCES[home]
    if home in _INSTANCES and os.environ.get("DAGSTER_HOME") == str(home):
        return _INSTANCES[home]
    home.mkdir(parents=True, exist_ok=True)
    with open(home / ".instance.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        config = home / "dagster.yaml"
        if not config.exists() or config.read_text(encoding="utf-8") != instance_config():
            config.write_text(instance_config(), encoding="utf-8")
        os.environ["DAGSTER_HOME"] = str(home)
        instance = dg.DagsterInstance.get()
        # build the run, event-log and schedule storages (and their tables) before the lock is released
        instance.get_runs(limit=1), instance.event_log_storage, instance.all_instigator_state()
    _INSTANCES[home] = instance
    return instance


def _this_process() -> dict[str, str]:
    """Tags naming the process that executes a run, so a later `xl materialize` can tell it died."""
    return {"xl/host": socket.gethostname(), "xl/pid": str(os.getpid())}


def recover(instance: dg.DagsterInstance, settings: Settings) -> list[str]:
    """Clear what a killed `xl materialize` left behind: its temporary files, and its runs still STARTED
    (marked failed, saying why). Runs of other machines, of live processes and of `make dev` are left alone."""
    temps = _remove_temps(settings)
    dead = _orphaned(instance)
    for run in dead:
        instance.report_run_failed(run, f"the xl process running it (pid {run.tags['xl/pid']}) ended without "
                                        "finishing it (killed?); marked failed by the next xl materialize")
    return ([f"removed {len(temps)} temporary file(s) left by a killed writer"] if temps else []) + (
        [f"marked {len(dead)} run(s) left STARTED by a killed xl failed"] if dead else [])


def _orphaned(instance: dg.DagsterInstance) -> list[dg.DagsterRun]:
    """This machine's runs not finished whose executing xl process is gone."""
    here = _this_process()["xl/host"]
    stuck = instance.get_runs(dg.RunsFilter(statuses=[dg.DagsterRunStatus.NOT_STARTED, dg.DagsterRunStatus.STARTING,
                                                      dg.DagsterRunStatus.STARTED], tags={"xl/host": here}))
    return [run for run in stuck if run.tags.get("xl/pid", "").isdigit() and not pid_alive(int(run.tags["xl/pid"]))]


def days_between(start: dt.date, end: dt.date, settings: Settings) -> list[dt.date]:
    """The days of [start, end], checked against the partitions that exist (complete local days)."""
    from xl_pipelines.partitions import DAY

    last = dt.date.fromisoformat(DAY.get_last_partition_key())
    if start > end:
        raise ConfigError(f"--start {start} is after --end {end}")
    if start < settings.start_date or end > last:
        raise ConfigError(f"days must lie within {settings.start_date} … {last} (XL_START_DATE … yesterday); got {start} … {end}")
    return [start + dt.timedelta(days=i) for i in range((end - start).days + 1)]


@dataclass
class Outcome:
    """What a materialisation came to: partitions failed or blocked by a check, and every check's status."""

    failed: list[str] = field(default_factory=list)
    blocked: list[str] = field(default_factory=list)
    checks: Counter = field(default_factory=Counter)  # (table, check, passed | WARN | ERROR) -> partitions

    @property
    def ok(self) -> bool:
        return not (self.failed or self.blocked)

    def add(self, other: Outcome) -> None:
        self.failed += other.failed
        self.blocked += other.blocked
        self.checks.update(other.checks)


def _run(job_name: str, instance: dg.DagsterInstance, outcome: Outcome, label: str, key=None) -> str:
    """Execute one job run in this process; count its checks; return its status line."""
    from xl_pipelines.definitions import defs

    result = defs.resolve_job_def(job_name).execute_in_process(
        partition_key=key, instance=instance, raise_on_error=False, run_config=QUIET, tags=_this_process())
    failures = [e.event_specific_data.error.message.strip().splitlines()[0] for e in result.all_events
                if e.event_type_value == "STEP_FAILURE" and e.event_specific_data.error]
    return _status(result.get_asset_check_evaluations(), result.success, failures, outcome, label)


def _status(evaluations, success: bool, failures: list[str], outcome: Outcome, label: str) -> str:
    """Count a run's checks; its status line (ok / BLOCKED by … / FAILED: …), wherever it was executed."""
    from quality.checks import table_name
    from xl_pipelines import gates

    stopped, empty = [], []
    warned = 0
    for evaluation in evaluations:
        status = "passed" if evaluation.passed else evaluation.severity.value
        outcome.checks[(table_name(evaluation.asset_key), evaluation.check_name, status)] += 1
        warned += status == "WARN"
        if status == "ERROR" and evaluation.blocking:
            stopped.append(f"{table_name(evaluation.asset_key)} {evaluation.check_name}")
        if gates.unlanded(evaluation.check_name, evaluation.passed):
            empty.append(evaluation.description)
    missing = "".join(f"; {text}" for text in sorted(empty))  # which landing folder was empty, and what it costs
    notes = f", {warned} warning{'s' * (warned != 1)}" if warned else ""
    if stopped:
        outcome.blocked.append(label)
        return f"BLOCKED by {'; '.join(stopped)}{missing}"
    if not success:
        outcome.failed.append(label)
        return f"FAILED: {failures[0] if failures else 'see the Dagster UI'}{missing}"
    return "ok" + notes + missing


def _adopt(environment: dict[str, str], folder: str) -> None:
    """A worker starts from the fork server's environment and folder: take the caller's (XL_HOME, the key, a
    relative XL_HOME's folder) instead. It dies with the fork server, which ends when `xl` does: a killed `xl`
    leaves no worker writing on, and Ctrl-C never reaches it (blocked there)."""
    os.environ.clear()
    os.environ.update(environment)
    os.chdir(folder)
    fork_server.die_with_parent()


def _in_worker(settings: Settings, job: str, label: str, key=None) -> tuple[str, float, Outcome]:
    """One run in a worker process (which has the code location and GX loaded): its status line, seconds taken,
    and what its checks said."""
    began, outcome = time.perf_counter(), Outcome()
    status = _run(job, instance_for(settings), outcome, label, key)
    return status, time.perf_counter() - began, outcome


def _missing(settings: Settings, dimensions: tuple[str, ...], keys: dict[str, str]) -> list[tuple[str, str]]:
    """The (layer.table, banner) inputs the models of `dimensions` wait for at `keys` (assets/gold.py
    missing_inputs), the models' own outputs aside."""
    from assets.gold import MODELS, missing_inputs

    lake, own = Lake(settings.lake_url), {f"gold.{m.name}" for m in MODELS if m.dimensions == dimensions}
    return [pair for m in MODELS if m.dimensions == dimensions for pair in missing_inputs(m, lake, keys) if pair[0] not in own]


class _Signal:
    """SIGTERM or SIGINT, noted by the handler and raised as Stopped only where the main thread can be left at
    any point: inside `waiting()` (a wait for workers, runs or files), or at the next `check()`. Raised anywhere
    else it would land inside a library (Dagster's instance mid-statement, its code server mid-load, SQLAlchemy
    closing a connection), which wraps it, prints it, or leaves its own work half done. A second signal before
    then is raised where it finds the command (a library's call that hangs is not waited for twice); once
    raised, further ones are ignored, so the stop itself completes."""

    def __init__(self):
        self.forget()

    def forget(self) -> None:
        self.signum, self.waits = 0, 0

    def handle(self, signum, _frame) -> None:
        if self.waits or self.signum:
            self._stop(signum)
        self.signum = signum

    def _stop(self, signum: int) -> None:
        for each in (signal.SIGTERM, signal.SIGINT):
            signal.signal(each, signal.SIG_IGN)
        raise Stopped(signum)

    def check(self) -> None:
        if self.signum:
            self._stop(self.signum)

    @contextlib.contextmanager
    def waiting(self) -> Iterator[None]:
        if threading.current_thread() is not threading.main_thread():  # no signal reaches it: nothing to wait for
            yield
            return
        self.waits += 1
        try:
            self.check()
            yield
        finally:
            self.waits -= 1

    def sleep(self, seconds: float) -> None:
        with self.waiting():
            time.sleep(seconds)


SIGNAL = _Signal()  # of the main thread, the only one Python hands signals to


@contextlib.contextmanager
def _stoppable() -> Iterator[None]:
    """SIGTERM and SIGINT raise Stopped in the main thread (SIGNAL says where), once; one that came after the
    last wait is raised at the end. Elsewhere (no signal reaches a thread) SIGNAL stays as it is, signalled by none."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {each: signal.signal(each, SIGNAL.handle) for each in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield
        SIGNAL.check()
    finally:
        for each, handler in previous.items():
            signal.signal(each, handler)
        SIGNAL.forget()  # a stop is its command's: none outlives it


def _descendants(pid: int) -> list[int]:
    """Every live process `pid` started, and those they started (from /proc)."""
    children: dict[int, list[int]] = {}
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            try:
                fields = Path(entry.path, "stat").read_text().rsplit(")", 1)[1].split()
            except (OSError, IndexError):
                continue  # ended meanwhile
            if fields[0] != "Z":
                children.setdefault(int(fields[1]), []).append(int(entry.name))
    found, todo = [], [pid]
    while todo:
        below = children.get(todo.pop(), [])
        found += below
        todo += below
    return found


def _kill_descendants() -> int:
    """Stop (SIGSTOP) every process this one started, and theirs, until a walk finds no new one (a stopped
    process forks no more), then SIGKILL them all; how many. multiprocessing's resource tracker is left to end
    with this process (killed, it is started again, and complains)."""
    from multiprocessing import resource_tracker

    frozen: set[int] = {resource_tracker._resource_tracker._pid}
    while new := set(_descendants(os.getpid())) - frozen:
        for pid in new:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGSTOP)
        frozen |= new
    frozen.discard(resource_tracker._resource_tracker._pid)
    for pid in frozen:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 10  # SIGKILL is delivered at once, acted on soon after
    while any(pid_alive(pid) for pid in frozen) and time.monotonic() < deadline:
        time.sleep(0.01)
    return len(frozen)


class _Pool:
    """Runs executed in this machine's worker processes, several at once (the embedded default)."""

    def __init__(self, settings: Settings, instance: dg.DagsterInstance, workers: int):
        self.settings, self.instance, self.workers = settings, instance, workers

    def __enter__(self) -> _Pool:
        self.pool = ProcessPoolExecutor(self.workers, mp_context=fork_server.context(), initializer=_adopt,
                                        initargs=(dict(os.environ), os.getcwd()))
        return self

    def start(self, job: str, label: str, key=None) -> Future:
        SIGNAL.check()
        return self.pool.submit(_in_worker, self.settings, job, label, key)

    def finish(self, started: Future) -> tuple[str, float, Outcome]:
        with SIGNAL.waiting():
            return started.result()

    def missing(self, dimensions: tuple[str, ...], keys: dict[str, str]) -> list[tuple[str, str]]:
        looked = self.pool.submit(_missing, self.settings, dimensions, keys)  # this process never loads GX
        with SIGNAL.waiting():
            return looked.result()

    def __exit__(self, _kind, error, _traceback) -> None:
        if error is None:
            self.pool.shutdown()
            return
        # stopped or failed: no worker may write on; the runs they executed end CANCELED (or failed), not STARTED
        killed = _kill_descendants()
        self.pool.shutdown(wait=False, cancel_futures=True)
        why = f"xl materialize (pid {os.getpid()}) was stopped ({error}) while this run executed"
        runs = _orphaned(self.instance)
        for run in runs:
            if isinstance(error, Stopped):
                self.instance.report_run_canceled(run, why)
            else:
                self.instance.report_run_failed(run, why)
        _remove_temps(self.settings)
        if isinstance(error, Stopped):
            error.stopped = f"{killed} process(es) of its pool killed, {len(runs)} run(s) marked CANCELED"


class _Submitted:
    """Runs submitted to the instance and followed to the end: whoever its configuration names executes them."""

    def __init__(self, settings: Settings, instance: dg.DagsterInstance):
        from xl_pipelines.distributed import SUBMITTER

        self.settings, self.instance = settings, instance
        self.tags = {SUBMITTER: f"{socket.gethostname()}/{os.getpid()}"}  # found by it even if stopped mid-submit

    def __enter__(self) -> _Submitted:
        from xl_pipelines import distributed

        self.workspace = distributed.workspace(self.instance)
        # Ctrl-C to the group would tear the code server it starts mid-load; not withheld where that server
        # launches runs itself (no queue), whose cancelling by Dagster is a SIGINT to the run's process
        queued = isinstance(self.instance.run_coordinator, dg.QueuedRunCoordinator)
        with fork_server.ctrl_c_withheld() if queued else contextlib.nullcontext():
            self.context = self.workspace.__enter__()
        return self

    def start(self, job: str, label: str, key=None) -> tuple[str, str]:
        from xl_pipelines import distributed

        SIGNAL.check()
        return distributed.submit(self.instance, self.context, job, key, self.tags), label

    def finish(self, started: tuple[str, str]) -> tuple[str, float, Outcome]:
        from xl_pipelines import distributed

        (run_id, label), outcome = started, Outcome()
        run = distributed.follow(self.instance, [run_id], poll_s=0.5, sleep=SIGNAL.sleep)[run_id]
        record = self.instance.get_run_record_by_id(run.run_id)
        seconds = record.end_time - record.start_time if record.start_time and record.end_time else 0.0
        evaluations, failures = distributed.run_events(self.instance, run.run_id)
        if run.status == dg.DagsterRunStatus.CANCELED:
            failures = ["cancelled in the Dagster instance"]
        success = run.status == dg.DagsterRunStatus.SUCCESS
        return _status(evaluations, success, failures, outcome, label), seconds, outcome

    def missing(self, dimensions: tuple[str, ...], keys: dict[str, str]) -> list[tuple[str, str]]:
        return _missing(self.settings, dimensions, keys)

    def __exit__(self, kind, error, traceback) -> None:
        from xl_pipelines import distributed

        if error is None:
            self.workspace.__exit__(None, None, None)
            return
        mine = [run.run_id for run in self.instance.get_runs(dg.RunsFilter(tags=self.tags))]
        cancelled = distributed.cancel(self.instance, mine, f"xl materialize (pid {os.getpid()}) that submitted "
                                       f"it was stopped ({error})")
        self.workspace.__exit__(kind, error, traceback)
        _kill_descendants()  # the code server, if it outlived its shutdown (it executes no run)
        if isinstance(error, Stopped):
            error.stopped = f"{cancelled} run(s) cancelled through the instance"


def _remove_temps(settings: Settings) -> list[Path]:
    """The temporary files killed writers left in $XL_HOME and a local lake, removed."""
    lake = Lake(settings.lake_url).root
    local = lake.protocol in LOCAL_PROTOCOLS and not Path(lake.path).is_relative_to(settings.home)
    roots = [settings.home] + ([Path(lake.path)] if local else [])  # the default lake lies under home: walked once
    return remove_stale_temps(roots, skip=(settings.landing, settings.recordings, settings.dagster_home))


class Arrivals(Protocol):
    """Landing files still being written while they are harvested (the demo simulates as it harvests)."""

    def banner_day(self, day: dt.date, banner: str) -> None:
        """Return once every landing file of the banner-day is written."""

    def complete(self) -> None:
        """Return once every landing file is written, the case exports included."""


def _said(runs: _Pool | _Submitted, started: list[tuple[str, object]], said: int, total: int, outcome: Outcome,
          say: Callable[[str], None]) -> int:
    """Each started run finished in order and said as `[n/total] label seconds status` after the `said` lines
    before it (a str in place of a run is why it was not started); how many lines are said then."""
    for n, (label, run) in enumerate(started, start=said + 1):
        status, seconds, part = (run, 0.0, Outcome()) if isinstance(run, str) else runs.finish(run)
        outcome.add(part)
        say(f"[{n}/{total}] {label:<18} {seconds:5.1f}s {status}")
    return said + len(started)


def materialize(
    days: list[dt.date], banners: list[str], settings: Settings, say: Callable[[str], None] = print,
    case_months: list[str] = (), registry_from: dt.date | None = None, arrivals: Arrivals | None = None,
) -> Outcome:
    """Run every banner-day and the case exports of the days' months (and of `case_months`), then each day's
    city rollups, then each month's statistics and report, then the views and the quality report: in worker
    processes here, or as runs of the instance when it has them executed elsewhere (submits_runs).

    With `registry_from` (the day before the first), that day's registries are harvested first, so the first
    day can fall back on them when its own catalog is incomplete. With `arrivals`, each banner-day starts once
    its files are written, and the case exports are looked for once all are. SIGTERM or SIGINT raise Stopped
    once what was running is stopped.
    """
    from xl_pipelines import landing
    from xl_pipelines.banners import load_banners
    from xl_pipelines.partitions import banner_day_key
    from xl_pipelines.resources import LandingResource

    instance = instance_for(settings)
    for line in recover(instance, settings):
        say(line)
    banner_days = [(d, b) for d in days for b in banners]
    every_banner = set(banners) == set(load_banners().codes)  # a month's statistics and report cover the city
    months = sorted({d.strftime("%Y-%m") for d in days}) if every_banner else []
    export_of = {m: LandingResource().case_export(m) for m in {*months, *case_months}}
    outcome = Outcome()
    workers = max(1, min(WORKERS, os.cpu_count() or 1, len(banner_days) + len(export_of)))
    runs = _Submitted(settings, instance) if submits_runs(instance) else _Pool(settings, instance, workers)

    def arrived(*banner_day) -> None:
        """Wait for the banner-day's landing files (for all of them, without one): a wait a signal stops."""
        if arrivals:
            with SIGNAL.waiting():
                arrivals.banner_day(*banner_day) if banner_day else arrivals.complete()

    with _stoppable(), runs:
        if registry_from:
            began = time.perf_counter()
            started = []
            for b in banners:
                arrived(registry_from, b)
                started.append(runs.start("registry", f"{registry_from} {b}", banner_day_key(registry_from, b)))
            for each in started:
                outcome.add(runs.finish(each)[2])
            say(f"registries of {registry_from} (the day before) harvested in {time.perf_counter() - began:.1f}s")
        done = []
        for day, banner in banner_days:
            arrived(day, banner)
            done.append((f"{day} {banner}", runs.start("banner_day", f"{day} {banner}", banner_day_key(day, banner))))
        arrived()
        exports = sorted(m for m, path in export_of.items() if landing.exists(path))  # a refused one is quarantined
        for month in sorted(export_of.keys() - set(exports)):
            say(f"{month}: no case export ({export_of[month]}) yet; its outcomes are left out")
        total = len(banner_days) + len(exports) + len(days) + 1 + len(months) + len(days)
        done += [(f"{month} cases", runs.start("cases", f"{month} cases", month)) for month in exports]
        n = _said(runs, done, 0, total, outcome, say)
        # then each group's runs, independent of each other, started together so that every worker takes some
        # (every day looked at first: a look is a job of the pool too, and would queue behind the cities started)
        unbuilt = {day: sorted({code for _, code in runs.missing(("date",), {"date": day.isoformat()})}) for day in days}
        # not a failure: a blocked banner is already reported, and --banner runs build no city day
        n = _said(runs, [(f"{day} city", f"waiting for banner(s) {', '.join(unbuilt[day])}" if unbuilt[day] else
                          runs.start("city_day", f"{day} city", day.isoformat())) for day in days], n, total, outcome, say)
        # the fault episodes span days: rebuilt once from every day harvested, before the months' reports and the
        # days' worklists that read them
        waiting = sorted({table for table, _ in runs.missing((), {})})
        n = _said(runs, [("faults", f"waiting for {', '.join(waiting)}" if waiting else runs.start("faults", "faults"))],
                  n, total, outcome, say)
        lake = Lake(settings.lake_url)
        later = [(f"{m} month", runs.start("month", f"{m} month", m)) for m in months]
        for day in days:
            ready = not waiting and any(lake.exists("gold", "banner_daily_kpis", {"date": day.isoformat(), "banner": b})
                                        for b in banners)
            later.append((f"{day} worklist", runs.start("worklist", f"{day} worklist", day.isoformat())
                          if ready else "nothing harvested"))
        _said(runs, later, n, total, outcome, say)
        status, _, part = runs.finish(runs.start("warehouse", "views and quality report"))
        outcome.add(part)
    say(f"views refreshed in {settings.warehouse_path}; quality report in {settings.reports / 'quality'}"
        if status.startswith("ok") else f"views and quality report {status}")
    return outcome


def check_freshness(settings: Settings) -> Outcome:
    """Run the freshness checks now (as their schedule does at the deadline)."""
    outcome = Outcome()
    _run("freshness", instance_for(settings), outcome, "freshness")
    return outcome
