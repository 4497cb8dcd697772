"""Materialise partitions in-process against the real Dagster instance under $XL_HOME (runs show in the UI).

Banner-days are independent of each other, and of the months' case exports, so all of those run in parallel
worker processes (one per core, at most WORKERS); each day's city rollup runs after, once its nine banners are
in; then each month's statistics and leadership report. The workers are forked from one server that imported
the code location and Great Expectations once, and each keeps its instance: a banner-day pays for its data and
its run, not for start-up (bench/profile.md).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import multiprocessing
import os
import shutil
import socket
import sqlite3
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import dagster as dg

from xl_pipelines.lake import LOCAL_PROTOCOLS, Lake, pid_alive, remove_stale_temps
from xl_pipelines.settings import ConfigError, Settings

INSTANCE_CONFIG = Path(__file__).resolve().parent.parent / "dagster.yaml"
WORKERS = 4
# One progress line per partition instead of step chatter: a failed step logs its traceback at ERROR, shown in
# the Dagster UI (and summed up in the line), never on the terminal.
QUIET = {"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}}
# What a worker imports before its first banner-day; the fork server imports it once for all of them.
PRELOAD = ["xl_pipelines.preload"]
_INSTANCES: dict[Path, dg.DagsterInstance] = {}
_HELD: dict[str, sqlite3.Connection] | None = None  # during a run: database file -> a connection kept open


def _history_without_waits(connection, _record) -> None:
    """Dagster writes each of a run's ~300 events by opening its SQLite history, committing and closing: each
    commit syncs the write-ahead log and each close of the last connection checkpoints it, ~20 ms of disk
    waits an event (bench/profile.md). In WAL mode synchronous=NORMAL keeps the history consistent through any
    crash (a power cut may lose a run's last events, never corrupt it; `recover` marks such a run failed), and
    during a run a connection held open per file means Dagster's close is never the last one."""
    if not isinstance(connection, sqlite3.Connection) or connection.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
        return
    connection.execute("PRAGMA synchronous=NORMAL")
    path = connection.execute("PRAGMA database_list").fetchone()[2]
    if _HELD is not None and path and path not in _HELD:
        _HELD[path] = held = sqlite3.connect(path, check_same_thread=False)
        held.execute("SELECT count(*) FROM sqlite_master").fetchone()  # opens the log, which it then keeps open


@contextlib.contextmanager
def _history_held() -> Iterator[None]:
    """Hold the history files a run writes open while it runs; closed after it, each is checkpointed once, not
    once an event."""
    global _HELD
    _HELD = {}
    try:
        yield
    finally:
        held, _HELD = _HELD, None
        for connection in held.values():
            connection.close()


def instance_for(settings: Settings) -> dg.DagsterInstance:
    """The persistent instance in $XL_HOME/dagster, configured by the repository's dagster.yaml; made once a
    process.

    Creating the SQLite storages runs schema migrations, which two `xl` processes starting at once would race;
    an exclusive file lock lets the first create them and the second find them ready.
    """
    home = settings.dagster_home
    if home in _INSTANCES and os.environ.get("DAGSTER_HOME") == str(home):
        return _INSTANCES[home]
    import sqlalchemy

    if not sqlalchemy.event.contains(sqlalchemy.engine.Engine, "connect", _history_without_waits):
        sqlalchemy.event.listen(sqlalchemy.engine.Engine, "connect", _history_without_waits)
    home.mkdir(parents=True, exist_ok=True)
    with open(home / ".instance.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        config = home / "dagster.yaml"
        if not config.exists() or config.read_bytes() != INSTANCE_CONFIG.read_bytes():
            shutil.copyfile(INSTANCE_CONFIG, config)
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
    lake = Lake(settings.lake_url).root
    local = lake.protocol in LOCAL_PROTOCOLS and not Path(lake.path).is_relative_to(settings.home)
    roots = [settings.home] + ([Path(lake.path)] if local else [])  # the default lake lies under home: walked once
    temps = remove_stale_temps(roots, skip=(settings.landing, settings.recordings, settings.dagster_home))
    here = _this_process()["xl/host"]
    stuck = instance.get_runs(dg.RunsFilter(statuses=[dg.DagsterRunStatus.NOT_STARTED, dg.DagsterRunStatus.STARTING,
                                                      dg.DagsterRunStatus.STARTED], tags={"xl/host": here}))
    dead = [run for run in stuck if run.tags.get("xl/pid", "").isdigit() and not pid_alive(int(run.tags["xl/pid"]))]
    for run in dead:
        instance.report_run_failed(run, f"the xl process running it (pid {run.tags['xl/pid']}) ended without "
                                        "finishing it (killed?); marked failed by the next xl materialize")
    return ([f"removed {len(temps)} temporary file(s) left by a killed writer"] if temps else []) + (
        [f"marked {len(dead)} run(s) left STARTED by a killed xl failed"] if dead else [])


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
    """Execute one job run; count its checks; return its status line (ok / BLOCKED by … / FAILED: …)."""
    from quality.checks import table_name
    from xl_pipelines import gates
    from xl_pipelines.definitions import defs

    with _history_held():
        result = defs.resolve_job_def(job_name).execute_in_process(
            partition_key=key, instance=instance, raise_on_error=False, run_config=QUIET, tags=_this_process())
    stopped, empty = [], []
    warned = 0
    for evaluation in result.get_asset_check_evaluations():
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
    if not result.success:
        outcome.failed.append(label)
        failures = [e.event_specific_data.error.message.strip().splitlines()[0] for e in result.all_events
                    if e.event_type_value == "STEP_FAILURE" and e.event_specific_data.error]
        return f"FAILED: {failures[0] if failures else 'see the Dagster UI'}{missing}"
    return "ok" + notes + missing


def _adopt(environment: dict[str, str], folder: str) -> None:
    """A worker starts from the fork server's environment and folder: take the caller's (XL_HOME, the key, a
    relative XL_HOME's folder) instead."""
    os.environ.clear()
    os.environ.update(environment)
    os.chdir(folder)


def _in_worker(settings: Settings, job: str, label: str, key=None) -> tuple[str, float, Outcome]:
    """One run in a worker process (which has the code location and GX loaded): its status line, seconds taken,
    and what its checks said."""
    began, outcome = time.perf_counter(), Outcome()
    status = _run(job, instance_for(settings), outcome, label, key)
    return status, time.perf_counter() - began, outcome


def _missing(settings: Settings, dimensions: tuple[str, ...], keys: dict[str, str]) -> list[tuple[str, str]]:
    """In a worker: the (layer.table, banner) inputs the models of `dimensions` wait for at `keys`
    (assets/gold.py missing_inputs), the models' own outputs aside."""
    from assets.gold import MODELS, missing_inputs

    lake, own = Lake(settings.lake_url), {f"gold.{m.name}" for m in MODELS if m.dimensions == dimensions}
    return [pair for m in MODELS if m.dimensions == dimensions for pair in missing_inputs(m, lake, keys) if pair[0] not in own]


def _banner_day(settings: Settings, day: dt.date, code: str, job: str = "banner_day") -> tuple[str, float, Outcome]:
    from xl_pipelines.partitions import banner_day_key

    return _in_worker(settings, job, f"{day} {code}", banner_day_key(day, code))


def materialize(
    days: list[dt.date], banners: list[str], settings: Settings, say: Callable[[str], None] = print,
    case_months: list[str] = (), registry_from: dt.date | None = None,
) -> Outcome:
    """Run every banner-day and the case exports of the days' months (and of `case_months`), then each day's
    city rollups, then each month's statistics and report, then the views and the quality report.

    With `registry_from` (the day before the first), that day's registries are harvested first, so the first
    day can fall back on them when its own catalog is incomplete.
    """
    from xl_pipelines.banners import load_banners
    from xl_pipelines.resources import LandingResource

    instance = instance_for(settings)
    for line in recover(instance, settings):
        say(line)
    banner_days = [(d, b) for d in days for b in banners]
    every_banner = set(banners) == set(load_banners().codes)  # a month's statistics and report cover the city
    months = sorted({d.strftime("%Y-%m") for d in days}) if every_banner else []
    export_of = {m: LandingResource().case_export(m) for m in {*months, *case_months}}
    exports = sorted(m for m, path in export_of.items() if os.path.lexists(path))  # a refused one is quarantined
    for month in sorted(export_of.keys() - set(exports)):
        say(f"{month}: no case export ({export_of[month]}) yet; its outcomes are left out")
    total = len(banner_days) + len(exports) + len(days) + 1 + len(months) + len(days)
    outcome = Outcome()
    workers = max(1, min(WORKERS, os.cpu_count() or 1, len(banner_days) + len(exports)))
    server = multiprocessing.get_context("forkserver")
    server.set_forkserver_preload(PRELOAD)
    with ProcessPoolExecutor(workers, mp_context=server, initializer=_adopt,
                             initargs=(dict(os.environ), os.getcwd())) as pool:
        if registry_from:
            began = time.perf_counter()
            for future in [pool.submit(_banner_day, settings, registry_from, b, "registry") for b in banners]:
                outcome.add(future.result()[2])
            say(f"registries of {registry_from} (the day before) harvested in {time.perf_counter() - began:.1f}s")
        done = [(f"{day} {banner}", pool.submit(_banner_day, settings, day, banner)) for day, banner in banner_days]
        done += [(f"{month} cases", pool.submit(_in_worker, settings, "cases", f"{month} cases", month))
                 for month in exports]
        for n, (label, future) in enumerate(done, start=1):
            status, seconds, part = future.result()
            outcome.add(part)
            say(f"[{n}/{total}] {label:<18} {seconds:5.1f}s {status}")
        # the rollups run in a worker too: this process never loads the code location or GX
        for n, day in enumerate(days, start=len(done) + 1):
            key, label = day.isoformat(), f"{day} city"
            waiting = sorted({code for _, code in pool.submit(_missing, settings, ("date",), {"date": key}).result()})
            if waiting:  # not a failure: a blocked banner is already reported, and --banner runs build no city day
                say(f"[{n}/{total}] {label:<18}   0.0s waiting for banner(s) {', '.join(waiting)}")
                continue
            status, seconds, part = pool.submit(_in_worker, settings, "city_day", label, key).result()
            outcome.add(part)
            say(f"[{n}/{total}] {label:<18} {seconds:5.1f}s {status}")
        # the fault episodes span days: rebuilt once from every day harvested
        waiting = sorted({table for table, _ in pool.submit(_missing, settings, (), {}).result()})
        status, seconds, part = (f"waiting for {', '.join(waiting)}", 0.0, Outcome()) if waiting else \
            pool.submit(_in_worker, settings, "faults", "faults").result()
        outcome.add(part)
        say(f"[{len(done) + len(days) + 1}/{total}] {'faults':<18} {seconds:5.1f}s {status}")
        for n, month in enumerate(months, start=len(done) + len(days) + 2):
            label = f"{month} month"
            status, seconds, part = pool.submit(_in_worker, settings, "month", label, month).result()
            outcome.add(part)
            say(f"[{n}/{total}] {label:<18} {seconds:5.1f}s {status}")
        lake = Lake(settings.lake_url)
        for n, day in enumerate(days, start=total - len(days) + 1):  # each day's worklist, once its faults are built
            label = f"{day} worklist"
            ready = not waiting and any(lake.exists("gold", "banner_daily_kpis", {"date": day.isoformat(), "banner": b})
                                        for b in banners)
            status, seconds, part = pool.submit(_in_worker, settings, "worklist", label, day.isoformat()).result() \
                if ready else ("nothing harvested", 0.0, Outcome())
            outcome.add(part)
            say(f"[{n}/{total}] {label:<18} {seconds:5.1f}s {status}")
        status, _, part = pool.submit(_in_worker, settings, "warehouse", "views and quality report").result()
        outcome.add(part)
    say(f"views refreshed in {settings.warehouse_path}; quality report in {settings.reports / 'quality'}"
        if status.startswith("ok") else f"views and quality report {status}")
    return outcome


def check_freshness(settings: Settings) -> Outcome:
    """Run the freshness checks now (as their schedule does at the deadline)."""
    outcome = Outcome()
    _run("freshness", instance_for(settings), outcome, "freshness")
    return outcome
