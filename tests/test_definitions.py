"""The code location as Dagster's own tools and scheduler see it."""

import datetime as dt
import os
import shutil
import subprocess
import sys
from pathlib import Path

import dagster as dg

from tests.conftest import DAY, TEST_KEY, camera_id, land_banner
from xl_pipelines.definitions import daily_harvest, defs
from xl_pipelines.settings import LOCAL_TZ

ROOT = Path(__file__).resolve().parent.parent


def test_dagster_cli_validates_the_workspace(tmp_path):
    home = tmp_path / "dagster"
    home.mkdir()
    shutil.copy(ROOT / "dagster.yaml", home / "dagster.yaml")
    env = {**os.environ, "DAGSTER_HOME": str(home), "XL_HOME": str(tmp_path)}
    run = subprocess.run([Path(sys.executable).parent / "dagster", "definitions", "validate", "-w", "workspace.yaml"],
                         cwd=ROOT, env=env, capture_output=True, text=True)
    assert run.returncode == 0, run.stderr[-2000:]
    assert "All code locations passed validation" in run.stderr + run.stdout


def test_schedule_asks_for_yesterday_in_every_banner():
    at = dt.datetime(2026, 11, 21, 2, 30, tzinfo=LOCAL_TZ)
    requests = list(daily_harvest(dg.build_schedule_context(scheduled_execution_time=at)))
    keys = sorted(r.partition_key.keys_by_dimension["banner"] for r in requests)
    assert {r.partition_key.keys_by_dimension["date"] for r in requests} == {"2026-11-20"}
    assert len(keys) == 9 and keys[0] == "150502" and "150571" in keys


def test_lake_tables_are_grouped_by_layer():
    keys = {k.to_user_string() for k in defs.resolve_all_asset_keys()}
    assert {"bronze/catalog_items", "quarantine/catalog", "silver/cameras", "silver/status_intervals",
            "bronze/status_polls", "quarantine/status_polls", "gold/camera_daily_health", "gold/banner_daily_kpis",
            "gold/city_daily_kpis", "xl_duckdb"} <= keys


def test_two_materialize_processes_at_once_do_not_collide(tmp_path):
    landing = tmp_path / "landing"
    for banner, prefix in {"150502": "15050200", "150523": "15052300"}.items():
        land_banner(landing, banner, [camera_id(n, prefix=prefix) for n in range(1, 21)])
    env = {**os.environ, "XL_HOME": str(tmp_path), "XL_PSEUDONYM_KEY": TEST_KEY}
    xl = [sys.executable, "-m", "xl_pipelines.cli", "materialize", "--start", DAY.isoformat(), "--end", DAY.isoformat()]
    runs = [subprocess.Popen([*xl, "--banner", b], env=env, cwd=ROOT, stderr=subprocess.PIPE, text=True)
            for b in ("150502", "150523")]
    errors = [r.communicate(timeout=300)[1] for r in runs]
    assert [r.returncode for r in runs] == [0, 0], errors
    from xl_pipelines.lake import Lake

    lake = Lake(str(tmp_path / "lake"))
    for banner in ("150502", "150523"):
        kpis = lake.read("gold", "banner_daily_kpis", {"date": DAY.isoformat(), "banner": banner})
        assert kpis.select("cameras", "online_rate").row(0) == (20, 1.0)


def test_schedules_and_the_automation_sensor_run_as_soon_as_the_code_location_loads():
    """`make dev` harvests on schedule with nothing toggled in the UI: every schedule and both sensors (automation,
    notifications) start RUNNING, and the automation sensor evaluates every asset that has an automation condition."""
    repository = defs.get_repository_def()
    schedules = {s.name: s.default_status for s in repository.schedule_defs}
    assert schedules == dict.fromkeys(["daily_harvest", "monthly_cases", "monthly_report", "freshness_at_deadline",
                                       "daily_worklist"], dg.DefaultScheduleStatus.RUNNING)
    sensors = {s.name: s for s in repository.sensor_defs}
    assert sorted(sensors) == ["automation", "notify"]
    assert {s.default_status for s in sensors.values()} == {dg.DefaultSensorStatus.RUNNING}
    sensor = sensors["automation"]
    assert isinstance(sensor, dg.AutomationConditionSensorDefinition)
    graph = repository.asset_graph
    automated = {key for key in graph.get_all_asset_keys() if graph.get(key).automation_condition is not None}
    assert automated and automated <= sensor.asset_selection.resolve(graph)
