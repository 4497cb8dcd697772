"""Collisions, crashes and full disks: many writers of one file, a killed `xl materialize`, no space left."""

from __future__ import annotations

import contextlib
import os
import resource
import signal
import subprocess
import sys
import time
from pathlib import Path

import dagster as dg
import polars as pl

from tests.conftest import DAY, TEST_KEY, camera_id, land_banner, private_home, run_job
from xl_pipelines.banners import load_banners
from xl_pipelines.lake import STALE_AFTER_S, Lake, pid_alive, remove_stale_temps, temp_beside
from xl_pipelines.partitions import banner_day_key
from xl_pipelines.sql_models import MODELS_DIR, parse_model, run_model

ROOT = Path(__file__).resolve().parent.parent
BANNER = "150502"
KEYS = {"date": DAY.isoformat(), "banner": BANNER}


def xl(home: Path, *args: str, **kwargs) -> subprocess.Popen:
    env = {**os.environ, "XL_HOME": str(home), "XL_PSEUDONYM_KEY": TEST_KEY}
    for variable in ("XL_LANDING", "XL_RECORDINGS", "XL_LAKE_URL"):
        env.pop(variable, None)
    return subprocess.Popen([sys.executable, "-m", "xl_pipelines.cli", *args], env=env, cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kwargs)


def materialize(home: Path, **kwargs) -> subprocess.Popen:
    return xl(home, "materialize", "--start", DAY.isoformat(), "--end", DAY.isoformat(), "--banner", BANNER, **kwargs)


def dead_pid() -> int:
    """The PID of a process that has ended (and been reaped)."""
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_many_reports_of_one_month_at_once_all_succeed(tmp_path):
    lake = Lake(str(tmp_path / "lake"))
    month = {"month": "2026-11"}
    lake.write("gold", "banner_daily_indicators", {"date": "2026-11-20", "banner": BANNER}, pl.DataFrame(
        {"code": [BANNER] * 4, "indicator": ["cameras", "online_rate", "snapshot_online_rate", "recording_completeness"],
         "numerator": [10, 900, 9, 950], "denominator": [None, 1000, 10, 1000]}))
    lake.write("gold", "camera_daily_health", {"date": "2026-11-20", "banner": BANNER}, pl.DataFrame([{
        "code": BANNER, "channel_id": camera_id(1), "name": "c1", "online_s": 50, "expected_s": 100, "flaps": 0,
        "recorded_s": 100, "scheduled_s": 100, "gap_count": 0, "image_faults": [], "intact": False}],
        schema_overrides={"image_faults": pl.List(pl.String)}))
    for table in ("banner_monthly_kpis", "camera_monthly_health"):
        lake.write("gold", table, month, run_model(parse_model(MODELS_DIR / f"{table}.sql"), lake, month, load_banners()))
    # 8 processes, each running `xl report` 25 times from the same instant: 200 reports of one month, 8 at once
    start = time.time() + 8  # after every process has imported (most of them)
    script = ("import sys, time; from xl_pipelines.cli import main; time.sleep(max(0, float(sys.argv[1]) - time.time()));"
              "sys.exit(max(main(['report', '--month', '2026-11']) for _ in range(25)))")
    env = {**os.environ, "XL_HOME": str(tmp_path)}
    runs = [subprocess.Popen([sys.executable, "-c", script, str(start)], env=env, cwd=ROOT, stderr=subprocess.PIPE,
                             stdout=subprocess.DEVNULL, text=True) for _ in range(8)]
    outcomes = [(run.wait(timeout=300), run.stderr.read()) for run in runs]
    assert [code for code, _ in outcomes] == [0] * 8, [err for code, err in outcomes if code][:1]
    folder = tmp_path / "reports" / "leadership"
    assert [p.name for p in folder.iterdir()] == ["2026-11.html"]  # no temporary file left behind
    assert (folder / "2026-11.html").read_text(encoding="utf-8").endswith("</html>")


def test_temporary_files_of_dead_writers_are_removed_and_live_ones_kept(tmp_path):
    folder = tmp_path / "lake" / "bronze" / "status_polls" / f"date={DAY}" / f"banner={BANNER}"
    folder.mkdir(parents=True)
    target = folder / "part-0.parquet"
    live = temp_beside(target)  # this process's: being written
    dead = target.with_name(f".part-0.parquet.{dead_pid()}-0123456789ab.tmp")  # its writer was killed
    wal = tmp_path / f".xl.duckdb.{dead_pid()}-0123456789ab.tmp.wal"  # a killed view refresh's DuckDB log
    old = folder / ".part-0.parquet.5a1e9c0d2b3f4a5e6d7c8b9a0f1e2d3c.tmp"  # a writer's PID unknown: by age
    young = folder / ".part-0.parquet.0f1e2d3c4b5a69788796a5b4c3d2e1f0.tmp"
    exporter = tmp_path / "landing" / "status" / ".0000.csv.1-0123456789ab.tmp"  # the landing zone is not ours
    exporter.parent.mkdir(parents=True)
    for path in (live, dead, wal, old, young, exporter):
        path.write_bytes(b"PAR1")
    os.utime(old, (time.time() - STALE_AFTER_S - 60,) * 2)
    removed = remove_stale_temps([tmp_path], skip=(tmp_path / "landing",))
    assert sorted(removed) == sorted([dead, wal, old])
    assert live.exists() and young.exists() and exporter.exists()


def test_runs_left_started_by_a_killed_materialize_are_marked_failed_on_the_next_start(tmp_path):
    from xl_pipelines.runner import instance_for, recover
    from xl_pipelines.settings import get_settings

    land_banner(tmp_path / "landing", BANNER, [camera_id(n) for n in range(1, 21)])
    run = materialize(tmp_path, start_new_session=True)  # its own process group: kill -9 takes the workers too
    os.environ["XL_HOME"] = str(tmp_path)
    try:
        settings = get_settings()
        instance = instance_for(settings)
        started = dg.RunsFilter(statuses=[dg.DagsterRunStatus.STARTED])
        deadline = time.monotonic() + 240
        while not instance.get_runs(started) and time.monotonic() < deadline and run.poll() is None:
            time.sleep(0.2)
        assert recover(instance, settings) == []  # its process lives: its run is left alone
        os.killpg(run.pid, signal.SIGKILL)
        run.wait()
        stuck = instance.get_runs(started)
        assert len(stuck) == 1, "the run was not caught while STARTED"
        worker = int(stuck[0].tags["xl/pid"])
        while pid_alive(worker) and time.monotonic() < deadline:  # SIGKILL is delivered, not yet done
            time.sleep(0.05)
        assert recover(instance, settings) == ["marked 1 run(s) left STARTED by a killed xl failed"]
        after = instance.get_run_by_id(stuck[0].run_id)
        assert after.status == dg.DagsterRunStatus.FAILURE
        assert not instance.get_runs(started)
    finally:
        os.environ.pop("XL_HOME")
        with contextlib.suppress(ProcessLookupError):
            os.killpg(run.pid, signal.SIGKILL)


@contextlib.contextmanager
def small_disk(path: Path, megabytes: int):
    """A real small file system at `path` (tmpfs, when this process may mount one); else None, and the caller
    limits file sizes instead (RLIMIT_FSIZE: writes fail with EFBIG, as they fail with ENOSPC on a full disk)."""
    path.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={megabytes}m", "tmpfs", str(path)],
                             capture_output=True).returncode == 0 if os.geteuid() == 0 else False
    try:
        yield mounted
    finally:
        if mounted:
            subprocess.run(["umount", "-l", str(path)], check=True)


def fill(path: Path) -> None:
    """Write until the file system is full."""
    with open(path / "filler", "wb") as filler:
        with contextlib.suppress(OSError):
            while True:
                filler.write(b"\0" * 2**20)
                filler.flush()


def test_a_full_disk_ends_in_one_line_and_keeps_the_previous_version(tmp_path):
    home = tmp_path / "xl"
    with small_disk(home, 96) as mounted:
        land_banner(home / "landing", BANNER, [camera_id(n) for n in range(1, 21)])
        with private_home(home):  # the previous version: the banner-day and the views, in this process
            for job, key in (("banner_day", banner_day_key(DAY, BANNER)), ("warehouse", None)):
                assert run_job(job, key)[1].ok
        lake = Lake(str(home / "lake"))
        before = lake.read("gold", "banner_daily_kpis", KEYS)
        limit = None
        if mounted:
            fill(home)
        else:
            limit = lambda: resource.setrlimit(resource.RLIMIT_FSIZE, (4096, 4096))  # noqa: E731
        second = materialize(home, preexec_fn=limit)
        code, err = second.wait(timeout=300), second.stderr.read()
        assert code == 2, err[-3000:]
        assert "Traceback" not in err
        last = err.strip().splitlines()[-1]
        why = "no space left on the device" if mounted else "a file would exceed the file-size limit"
        assert last.startswith(f"xl: error: cannot write under {home}: {why}; make room and run again"), err[-3000:]
        assert lake.read("gold", "banner_daily_kpis", KEYS).equals(before)  # the previous version, readable
        query = xl(home, "sql", "select cameras, online_rate from gold.banner_daily_kpis", "--format", "csv")
        assert query.wait(timeout=120) == 0, query.stderr.read()
        assert query.stdout.read() == "cameras,online_rate\n20,1.0\n"  # the views answer as before
        (home / "filler").unlink(missing_ok=True)
