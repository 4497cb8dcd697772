"""The distributed profile, proven on this machine (`make test-distributed`; `make test` never collects it).

PostgreSQL, Redis, the Ceph object gateway, the Dagster daemon and two Celery workers are started as separate
processes by deploy/services/services.sh, as they would run on separate machines. One simulated day of all
nine banners is materialised twice: with the embedded default (`xl materialize`, a local lake) and through the
distributed instance (runs queued in Postgres, taken by the workers, the lake, the landing zone and the
recordings on S3: the simulated folders are uploaded to the bucket and removed from disk, so the workers can
read them nowhere else). One worker is killed with all its processes while it executes a run.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import polars as pl
import pyarrow.parquet as pq
import pytest

from bench.distributed import STORED, exported, sizes, upload
from xl_pipelines.distributed import FINISHED

ROOT = Path(__file__).resolve().parent.parent
SERVICES = ROOT / "deploy" / "services" / "services.sh"
XL = Path(sys.executable).with_name("xl")
CAMERAS = 150  # a few per banner (the smallest still has enough for a case): every source, in minutes
# The proof's clock, fixed for both runs (XL_NOW): retention is counted to the harvest clock's local day, so a proof
# running across Shanghai's midnight judged its embedded and distributed days a day apart.
NOW = dt.datetime.now(dt.timezone(dt.timedelta(hours=8)))
DAY = NOW.date() - dt.timedelta(days=2)
BUCKET = "xl-proof"
KEY = "distributed-proof-pseudonym-key-0123456789"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"


def _gold(lake_url: str) -> dict[str, pl.DataFrame]:
    """Every gold table of a lake, all partitions, rows sorted by every column (partition columns included)."""
    from xl_pipelines.lake import Lake
    from xl_pipelines.warehouse import view_sql

    lake = Lake(lake_url)
    with lake.connect() as con:
        frames = {table: con.sql(view_sql(lake, layer, table)).pl() for layer, table in lake.tables() if layer == "gold"}
    return {table: frame.sort(frame.columns, nulls_last=True) for table, frame in frames.items()}


def _unequal(distributed: dict[str, pl.DataFrame], embedded: dict[str, pl.DataFrame]) -> str:
    """The gold tables that differ, each with its columns that differ and a few rows found on one side only, so a
    failure says what to look for (the lakes are gone once the proof ends)."""
    said = []
    for table, frame in embedded.items():
        other = distributed[table]
        if other.equals(frame):
            continue
        if other.columns != frame.columns:
            said.append(f"{table}: columns {other.columns} distributed, {frame.columns} embedded")
            continue
        columns = [c for c in frame.columns if not other[c].equals(frame[c])]
        keys = [c for c in ("date", "code", "channel_id", "device_id") if c in frame.columns]
        only = [a.join(b, on=frame.columns, how="anti", nulls_equal=True).select(keys + columns)
                for a, b in ((other, frame), (frame, other))]
        with pl.Config(tbl_cols=-1, tbl_rows=10, fmt_str_lengths=40):
            said.append(f"{table}: {other.height} rows distributed, {frame.height} embedded; columns that differ: "
                        f"{columns}\nonly distributed:\n{only[0]}\nonly embedded:\n{only[1]}")
    return "\n".join(said)


@pytest.fixture(scope="module")
def proof():
    folder = Path(tempfile.mkdtemp(prefix="xl-distributed-"))
    folder.chmod(0o711)  # PostgreSQL runs as its own user and must reach its folder inside
    common = {"XL_START_DATE": (DAY - dt.timedelta(days=7)).isoformat(), "XL_PSEUDONYM_KEY": KEY,
              "XL_NOW": NOW.isoformat()}
    embedded_env = {**os.environ, **common, "XL_HOME": str(folder / "embedded"),
                    "XL_LANDING": str(folder / "landing"), "XL_RECORDINGS": str(folder / "recordings")}
    embedded_env.pop("XL_LAKE_URL", None)
    subprocess.run([XL, "simulate", "--start", str(DAY), "--end", str(DAY), "--cameras", str(CAMERAS)],
                   env=embedded_env, check=True, capture_output=True)
    began = time.perf_counter()
    embedded = subprocess.run([XL, "materialize", "--start", str(DAY), "--end", str(DAY)], env=embedded_env,
                              capture_output=True, text=True)
    timings = {"embedded_s": time.perf_counter() - began}

    services = folder / "services"
    distributed_env = {**common, "XL_HOME": str(folder / "distributed"), "XL_LAKE_URL": f"s3://{BUCKET}/lake",
                       **{f"XL_{name.upper()}": f"s3://{BUCKET}/{name}" for name in STORED}}
    saved = dict(os.environ)
    began = time.perf_counter()
    try:
        subprocess.run([SERVICES, "start", services], env={**os.environ, **distributed_env}, check=True)
        timings["services_start_s"] = time.perf_counter() - began
        os.environ.update({**distributed_env, **exported(services / "env")})
        timings |= upload(folder, BUCKET)
        yield {"folder": folder, "services": services, "embedded": embedded, "timings": timings,
               **_distributed_day(services, timings)}
    finally:
        os.environ.clear()
        os.environ.update(saved)
        subprocess.run([SERVICES, "stop", services], check=False)
        shutil.rmtree(folder, ignore_errors=True)  # the services' data (the OSD's 10 GiB sparse file) too


def _distributed_day(services: Path, timings: dict) -> dict:
    """Submit the day's runs through the instance, kill worker w1 while it executes one, follow all to the end."""
    import dagster as dg

    from xl_pipelines import distributed
    from xl_pipelines.partitions import banner_day_key

    began = time.perf_counter()
    instance = dg.DagsterInstance.get()
    with distributed.workspace(instance) as context:
        from xl_pipelines.banners import load_banners

        banner_days = [distributed.submit(instance, context, "banner_day", banner_day_key(DAY, code))
                       for code in load_banners().codes]
        banner_days.append(distributed.submit(instance, context, "cases", DAY.strftime("%Y-%m")))
        killed = _kill_w1_mid_run(instance, services, banner_days)
        first = distributed.follow(instance, banner_days, timeout_s=1800)
        rest = {}
        # in xl materialize's order: the city day, the fault episodes over every day (not partitioned), the month
        for job, key in (("city_day", str(DAY)), ("faults", None), ("month", DAY.strftime("%Y-%m")),
                         ("warehouse", None)):
            run_id = distributed.submit(instance, context, job, key)
            rest |= distributed.follow(instance, [run_id], timeout_s=900)
    timings["distributed_s"] = time.perf_counter() - began
    return {"instance": instance, "runs": {**first, **rest}, "killed": killed, "sizes": sizes(BUCKET)}


def _kill_w1_mid_run(instance, services: Path, run_ids: list[str]) -> dict:
    """Once w1 has finished a run and executes another, and few runs are left (so w2 alone finishes the day in
    minutes), SIGKILL w1 and its pool (a machine lost): the run it held, and the worker's processes."""
    import dagster as dg

    from xl_pipelines.distributed import WORKER

    deadline = time.monotonic() + 1800
    while time.monotonic() < deadline:
        runs = instance.get_runs(dg.RunsFilter(run_ids=run_ids))
        on_w1 = [r for r in runs if r.tags.get(WORKER, "").startswith("w1@")]
        held = [r for r in on_w1 if r.status == dg.DagsterRunStatus.STARTED]
        left = [r for r in runs if r.status not in FINISHED]
        if held and any(r.status == dg.DagsterRunStatus.SUCCESS for r in on_w1) and len(left) <= 3:
            pids = subprocess.run([SERVICES, "kill-worker", services, "w1"], check=True, capture_output=True,
                                  text=True).stdout.split()
            return {"run_id": held[0].run_id, "pids": [int(p) for p in pids]}
        time.sleep(1)
    raise AssertionError("w1 never held a run near the end of the day within 30 minutes")


def test_embedded_reference_succeeded(proof):
    assert proof["embedded"].returncode == 0, proof["embedded"].stdout + proof["embedded"].stderr


def test_every_run_succeeded_and_runs_spread_over_both_workers(proof):
    import dagster as dg

    from xl_pipelines.distributed import WORKER

    runs, instance = proof["runs"], proof["instance"]
    failures = {r.job_name: [e.dagster_event.step_failure_data.error.to_string()
                               for e in instance.all_logs(r.run_id, of_type=dg.DagsterEventType.STEP_FAILURE)]
                for r in runs.values() if r.status != dg.DagsterRunStatus.SUCCESS}
    assert not failures, failures  # each failed run with its steps' errors, to mend without a rerun
    workers = {r.tags[WORKER].split("@")[0] for r in runs.values() if r.job_name == "banner_day"}
    on_w1 = [r for r in proof["instance"].get_runs() if r.tags.get(WORKER, "").startswith("w1@")
             and r.status == dg.DagsterRunStatus.SUCCESS]
    assert on_w1, "w1 executed no run to the end before it was killed"
    assert "w2" in workers


def test_the_killed_workers_run_was_failed_then_retried_elsewhere(proof):
    import dagster as dg

    from xl_pipelines.distributed import WORKER

    instance, killed = proof["instance"], proof["killed"]
    assert not any(_alive(pid) for pid in killed["pids"])
    lost = instance.get_run_by_id(killed["run_id"])
    assert lost.status == dg.DagsterRunStatus.FAILURE
    failure = instance.all_logs(lost.run_id, of_type=dg.DagsterEventType.RUN_FAILURE)
    assert "does not answer" in failure[-1].message  # failed by the daemon's health check, not by chance
    retry = proof["runs"][killed["run_id"]]
    assert retry.run_id != lost.run_id and retry.tags["dagster/parent_run_id"] == lost.run_id
    assert retry.status == dg.DagsterRunStatus.SUCCESS and retry.tags[WORKER].startswith("w2@")


def test_every_gold_table_equals_the_embedded_run_row_for_row(proof):
    embedded = _gold(str(proof["folder"] / "embedded" / "lake"))
    distributed = _gold(f"s3://{BUCKET}/lake")
    assert embedded and sorted(distributed) == sorted(embedded)
    assert all(frame.height > 0 for frame in embedded.values()), {t: f.height for t, f in embedded.items()}
    assert not (unequal := _unequal(distributed, embedded)), unequal


def test_the_workers_harvested_the_landing_zone_and_recordings_from_s3(proof):
    """Every landing file and segment file the distributed run read is named by its object's URL in bronze:
    nothing was read from disk (the folders were removed after the upload)."""
    from xl_pipelines.lake import Lake

    lake = Lake(f"s3://{BUCKET}/lake")
    roots = {}
    with lake.connect() as con:
        for table, column in (("catalog_items", "source_file"), ("status_polls", "source_file"),
                              ("recording_files", "path")):
            roots[table] = con.sql(f"SELECT DISTINCT regexp_extract({column}, '^s3://[^/]+/[^/]+/') "
                                   f"FROM read_parquet('{lake.url}/bronze/{table}/*/*/*.parquet')").fetchall()
    assert roots == {"catalog_items": [(f"s3://{BUCKET}/landing/",)], "status_polls": [(f"s3://{BUCKET}/landing/",)],
                     "recording_files": [(f"s3://{BUCKET}/recordings/",)]}
    assert not (proof["folder"] / "landing").exists() and not (proof["folder"] / "recordings").exists()


PROGRESS = re.compile(r"^\[(\d+/\d+)\] (.+?) +\d+\.\ds (.*)$")  # xl materialize's line per partition, less its time


def _progress(stdout: str) -> list[tuple[str, ...]]:
    return [m.groups() for line in stdout.splitlines() if (m := PROGRESS.match(line))]


def _runs_since(instance, before: set[str]) -> list:
    """The runs an `xl materialize` submitted since `before`; the daemon's automation sensor requests its own
    meanwhile (the city day, the fault history, the warehouse… once their inputs are in), as in any deployment."""
    from xl_pipelines.distributed import SUBMITTER

    return [r for r in instance.get_runs() if r.run_id not in before and SUBMITTER in r.tags]


def test_xl_materialize_submits_the_day_to_the_instance_and_follows_it(proof):
    """`xl materialize` itself, where $DAGSTER_HOME's instance names a run launcher and a queue: the day's runs
    go to the workers, it prints the embedded run's line per partition, and the gold (deleted first) comes back
    equal to the embedded run's."""
    import s3fs

    from xl_pipelines.distributed import WORKER

    s3fs.S3FileSystem().rm(f"{BUCKET}/lake/gold", recursive=True)
    instance = proof["instance"]
    before = {r.run_id for r in instance.get_runs()}
    began = time.perf_counter()
    done = subprocess.run([XL, "materialize", "--start", str(DAY), "--end", str(DAY)], capture_output=True, text=True,
                          timeout=1800)
    proof["timings"]["xl_materialize_s"] = time.perf_counter() - began
    assert done.returncode == 0, done.stdout + done.stderr
    lines = _progress(done.stderr)  # progress goes to stderr, as every line xl says
    assert len(lines) == 9 + 1 + 4  # banner-days, the month's cases, city day, faults, month, worklist
    assert lines == _progress(proof["embedded"].stderr)
    jobs = sorted(r.job_name for r in _runs_since(instance, before))
    assert jobs == sorted(["banner_day"] * 9 + ["cases", "city_day", "faults", "month", "worklist", "warehouse"])
    assert all(r.tags.get(WORKER) for r in _runs_since(instance, before))  # executed by a Celery worker, each
    embedded, distributed = _gold(str(proof["folder"] / "embedded" / "lake")), _gold(f"s3://{BUCKET}/lake")
    assert sorted(distributed) == sorted(embedded)
    assert not (unequal := _unequal(distributed, embedded)), unequal


def test_sigterm_on_xl_materialize_cancels_its_submitted_runs(proof):
    import dagster as dg

    from xl_pipelines.distributed import FINISHED

    instance = proof["instance"]
    before = {r.run_id for r in instance.get_runs()}
    run = subprocess.Popen([XL, "materialize", "--start", str(DAY), "--end", str(DAY)], stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        deadline = time.monotonic() + 600
        while not any(r.status == dg.DagsterRunStatus.STARTED for r in _runs_since(instance, before)) \
                and time.monotonic() < deadline and run.poll() is None:
            time.sleep(0.5)
        executing = [r.run_id for r in _runs_since(instance, before) if r.status == dg.DagsterRunStatus.STARTED]
        assert executing, "no run of xl materialize was caught executing"
        group = subprocess.run(["pgrep", "-g", str(run.pid)], capture_output=True, text=True).stdout.split()
        run.send_signal(signal.SIGTERM)
        _, err = run.communicate(timeout=120)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(run.pid, signal.SIGKILL)
    assert run.returncode == 143, err
    assert len(err.splitlines()) == 1 and re.match(r"xl: stopped by SIGTERM: \d+ run\(s\) cancelled through the "
                                                   r"instance; ", err), err
    assert not [pid for pid in group if _alive(int(pid))]  # xl and its code server
    time.sleep(12)  # two polls of run monitoring: a cancelled run is not failed, nor retried
    deadline = time.monotonic() + 90  # a run cancelled while its worker is busy in a step says so when it stops
    while not all(r.status in FINISHED for r in _runs_since(instance, before)) and time.monotonic() < deadline:
        time.sleep(1)
    mine = _runs_since(instance, before)
    assert all(r.status in FINISHED for r in mine), [(r.job_name, r.run_id[:8], r.status.value) for r in mine]
    assert all(instance.get_run_by_id(run_id).status == dg.DagsterRunStatus.CANCELED for run_id in executing)
    assert not [r for r in mine if r.tags.get("dagster/parent_run_id") in executing]


def test_no_partition_is_half_written(proof):
    """Every object under the lake is a whole Parquet file at a partition path (no temporary, no torn PUT),
    and the S3 lake holds exactly the partitions of the embedded one."""
    import s3fs

    fs = s3fs.S3FileSystem()
    objects = sorted(path.removeprefix(f"{BUCKET}/lake/") for path in fs.find(f"{BUCKET}/lake"))
    parts = [p for p in objects if p.endswith("/part-0.parquet")]
    for part in parts:
        with fs.open(f"{BUCKET}/lake/{part}", "rb") as fh:
            pq.ParquetFile(fh).metadata  # noqa: B018 (reads the footer: a torn file fails here)
    local = proof["folder"] / "embedded" / "lake"
    assert sorted(set(objects) - set(parts)) == ["_pseudonym_key.json"]
    assert parts == sorted(str(p.relative_to(local)) for p in local.rglob("part-0.parquet"))


def test_analysts_read_the_s3_lake_through_the_locked_connection(proof):
    """The views the warehouse run wrote over s3:// paths answer on `xl sql`'s read-only connection."""
    from xl_pipelines.warehouse import connect_readonly

    with connect_readonly(Path(os.environ["XL_HOME"]) / "xl.duckdb") as con:
        rows = con.execute("SELECT count(DISTINCT code) FROM gold.banner_daily_kpis").fetchall()
    assert rows == [(9,)]


def test_runs_past_their_retention_are_deleted_with_their_events(proof):
    """docs/deployment.md's retention recipe: finished runs created before a cut-off are deleted, and their
    event-log rows with them; later runs keep theirs."""
    import dagster as dg
    import psycopg2

    instance = proof["instance"]
    records = sorted(instance.get_run_records(), key=lambda r: r.create_timestamp)
    cutoff = records[1].create_timestamp  # the first run is older than it; every other run is not

    def events() -> dict[str, int]:
        with psycopg2.connect(os.environ["XL_POSTGRES_URL"].replace("+psycopg2", "")) as db, db.cursor() as cursor:
            cursor.execute("SELECT run_id, count(*) FROM event_logs GROUP BY run_id")
            return dict(cursor.fetchall())

    before = events()
    old = instance.get_run_records(dg.RunsFilter(created_before=cutoff, statuses=list(FINISHED)))
    for record in old:
        instance.delete_run(record.dagster_run.run_id)
    after = events()
    assert [r.dagster_run.run_id for r in old] == [records[0].dagster_run.run_id]
    assert before[records[0].dagster_run.run_id] > 0 and records[0].dagster_run.run_id not in after
    assert {run: n for run, n in before.items() if run != records[0].dagster_run.run_id} == after


def test_everything_stops_by_pid(proof):
    pids = [int(p.read_text()) for p in (proof["services"] / "pids").glob("*.pid")]
    assert len(pids) >= 10  # postgres, redis, mon, osd, mgr, gateway, daemon, two workers (+ their celery mains)
    subprocess.run([SERVICES, "stop", proof["services"]], check=True)
    assert not [pid for pid in pids if _alive(pid)]
    timings, sizes = proof["timings"], proof["sizes"]
    print(f"\nembedded day: {timings['embedded_s']:.0f}s; services up: {timings['services_start_s']:.0f}s; "
          f"upload: {timings['landing_objects']} landing and {timings['recordings_objects']} recording objects in "
          f"{timings['upload_s']:.0f}s; "
          f"distributed day (with one worker killed): {timings['distributed_s']:.0f}s; runs: {len(proof['runs'])}; "
          f"the day again by xl materialize through the instance: {timings.get('xl_materialize_s', 0):.0f}s; "
          f"event log: {sizes['events']} rows, {sizes['event_bytes'] / 2**20:.1f} MiB "
          f"(database {sizes['database_bytes'] / 2**20:.1f} MiB); lake: {sizes['objects']} objects, "
          f"{sizes['object_bytes'] / 2**20:.1f} MiB")
