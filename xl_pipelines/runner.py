"""Materialise partitions in-process against the real Dagster instance under $XL_HOME (runs show in the UI)."""

from __future__ import annotations

import datetime as dt
import fcntl
import os
import shutil
import time
from collections.abc import Callable
from pathlib import Path

import dagster as dg

from xl_pipelines.settings import ConfigError, Settings

INSTANCE_CONFIG = Path(__file__).resolve().parent.parent / "dagster.yaml"
QUIET = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}  # progress lines instead of step chatter


def instance_for(settings: Settings) -> dg.DagsterInstance:
    """The persistent instance in $XL_HOME/dagster, configured by the repository's dagster.yaml.

    Creating the SQLite storages runs schema migrations, which two `xl` processes starting at once would race;
    an exclusive file lock lets the first create them and the second find them ready.
    """
    home = settings.dagster_home
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
    return instance


def days_between(start: dt.date, end: dt.date, settings: Settings) -> list[dt.date]:
    """The days of [start, end], checked against the partitions that exist (complete local days)."""
    from xl_pipelines.partitions import DAY

    last = dt.date.fromisoformat(DAY.get_last_partition_key())
    if start > end:
        raise ConfigError(f"--start {start} is after --end {end}")
    if start < settings.start_date or end > last:
        raise ConfigError(f"days must lie within {settings.start_date} … {last} (XL_START_DATE … yesterday); got {start} … {end}")
    return [start + dt.timedelta(days=i) for i in range((end - start).days + 1)]


def materialize(
    days: list[dt.date], banners: list[str], settings: Settings, say: Callable[[str], None] = print
) -> list[str]:
    """Run every banner-day, then each day's city rollups, then the views; return failed partition names."""
    from xl_pipelines.definitions import defs
    from xl_pipelines.partitions import banner_day_key

    instance = instance_for(settings)
    steps = [("banner_day", banner_day_key(d, b), f"{d} {b}") for d in days for b in banners]
    steps += [("city_day", d.isoformat(), f"{d} city") for d in days]
    failed = []
    for n, (job_name, key, label) in enumerate(steps, start=1):
        began = time.perf_counter()
        result = defs.resolve_job_def(job_name).execute_in_process(
            partition_key=key, instance=instance, raise_on_error=False, run_config=QUIET)
        status = "ok" if result.success else "FAILED"
        if not result.success:
            failed.append(label)
        say(f"[{n}/{len(steps)}] {label:<18} {status} {time.perf_counter() - began:5.1f}s")
    result = defs.resolve_job_def("warehouse").execute_in_process(instance=instance, raise_on_error=False, run_config=QUIET)
    if not result.success:
        failed.append("warehouse views")
    say(f"views refreshed in {settings.warehouse_path}" if result.success else "views FAILED")
    return failed
