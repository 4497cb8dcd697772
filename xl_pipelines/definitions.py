"""The code location's one entry point: `dagster dev -w workspace.yaml`, `dg`, and `xl` all load `defs`."""

from __future__ import annotations

import datetime as dt

import dagster as dg

from assets import camera_health, captures, gold, outcomes, receiver, recordings, warehouse, worklist
from quality import checks
from xl_pipelines.dictionary import load_dictionary
from xl_pipelines.partitions import BANNER, HARVEST_AT, banner_day_key
from xl_pipelines.resources import (
    ClockResource,
    LakeResource,
    LandingResource,
    PseudonymResource,
    RecordingsResource,
    ReportsResource,
    WarehouseResource,
)
from xl_pipelines.settings import LOCAL_TZ

# Each suite's check blocks exactly where the whole graph says its table feeds gold (checks.judged_by_graph).
BANNER_DAY_ASSETS, DAY_ASSETS, MONTH_ASSETS, HISTORY_ASSETS = checks.judged_by_graph([
    [*camera_health.ASSETS, *recordings.ASSETS, *captures.ASSETS, *receiver.ASSETS, *gold.BANNER_DAY_ASSETS],
    gold.DAY_ASSETS, [*outcomes.ASSETS, *gold.MONTH_ASSETS], gold.HISTORY_ASSETS])
LAKE_ASSETS = [*BANNER_DAY_ASSETS, *DAY_ASSETS, *MONTH_ASSETS, *HISTORY_ASSETS]
LAKE_KEYS = [key for a in LAKE_ASSETS for key in a.keys]
WAREHOUSE = warehouse.build(LAKE_KEYS)
HARVESTED = [key for key in LAKE_KEYS if checks.deadline(checks.table_name(key))]
FRESHNESS = checks.freshness_check(HARVESTED)

# Each job runs its assets' checks, but the freshness check only at its deadline, in its own job.
banner_day_job = dg.define_asset_job("banner_day", selection=dg.AssetSelection.assets(*BANNER_DAY_ASSETS)
                                     - dg.AssetSelection.checks(FRESHNESS),
                                     description="Harvest and refine one banner-day, bronze to gold.")
registry_job = dg.define_asset_job(
    "registry", selection=dg.AssetSelection.assets(camera_health.catalog_harvest, camera_health.cameras)
    - dg.AssetSelection.checks(FRESHNESS),
    description="The registry of one banner-day alone (catalog → silver.cameras): the day before a first harvest, "
                "so that day has a previous registry to fall back on, as a running deployment has.")
city_day_job = dg.define_asset_job("city_day", selection=DAY_ASSETS,
                                   description="City-wide rollups of one day over all nine banners.")
faults_job = dg.define_asset_job("faults", selection=HISTORY_ASSETS,
                                 description="The fault episodes and repair figures, rebuilt from every day harvested.")
warehouse_job = dg.define_asset_job("warehouse", selection=WAREHOUSE,
                                    description="Refresh the DuckDB views and the quality report.")
cases_job = dg.define_asset_job("cases", selection=[*outcomes.ASSETS, gold.CASE_ASSISTANCE],
                                description="A month's case export and its outcome statistics.")
month_job = dg.define_asset_job("month", selection=[*gold.NETWORK_MONTH_ASSETS, outcomes.leadership_report],
                                description="A month's network statistics and the leadership report.")
freshness_job = dg.define_asset_job("freshness", selection=dg.AssetSelection.checks(FRESHNESS),
                                    description="Did yesterday's harvest of every banner land by its deadline?")


# Schedules and the automation sensor run as soon as `make dev` (or a deployed daemon) loads the code location.
RUNNING = dg.DefaultScheduleStatus.RUNNING


@dg.schedule(job=banner_day_job, cron_schedule=f"{HARVEST_AT.minute} {HARVEST_AT.hour} * * *",
             execution_timezone=str(LOCAL_TZ), default_status=RUNNING)
def daily_harvest(context: dg.ScheduleEvaluationContext):
    """Every night at 02:30 local: harvest yesterday for all nine banners (city rollups follow by automation)."""
    yesterday = context.scheduled_execution_time.astimezone(LOCAL_TZ).date() - dt.timedelta(days=1)
    for banner in BANNER.get_partition_keys():
        key = banner_day_key(yesterday, banner)
        yield dg.RunRequest(run_key=str(key), partition_key=key)


def _last_month(context: dg.ScheduleEvaluationContext) -> dg.RunRequest:
    key = (context.scheduled_execution_time.astimezone(LOCAL_TZ).date().replace(day=1) - dt.timedelta(days=1))
    return dg.RunRequest(run_key=key.strftime("%Y-%m"), partition_key=key.strftime("%Y-%m"))


monthly_cases = dg.ScheduleDefinition(
    name="monthly_cases", job=cases_job, cron_schedule="0 4 1 * *", execution_timezone=str(LOCAL_TZ),
    execution_fn=_last_month, description="On the 1st at 04:00 local: last month's case export and outcomes.",
    default_status=RUNNING)
monthly_report = dg.ScheduleDefinition(
    name="monthly_report", job=month_job, cron_schedule="0 7 1 * *", execution_timezone=str(LOCAL_TZ),
    execution_fn=_last_month, description="On the 1st at 07:00 local, after the harvest deadline of the month's last "
                                          "day: last month's statistics and leadership report.",
    default_status=RUNNING)


LATEST_DEADLINE = max(checks.deadline(checks.table_name(key)) for key in HARVESTED)
freshness_schedule = dg.ScheduleDefinition(
    name="freshness_at_deadline", job=freshness_job, execution_timezone=str(LOCAL_TZ),
    cron_schedule=f"{LATEST_DEADLINE.minute} {LATEST_DEADLINE.hour} * * *",
    description="At the harvest deadline (thresholds.yaml freshness): which banners' yesterday is missing.",
    default_status=RUNNING)
# The city day, the month under way, the fault history and the warehouse follow the lake by their automation
# conditions (assets/automation.py): evaluated by this sensor.
automation = dg.AutomationConditionSensorDefinition(
    "automation", target=dg.AssetSelection.all(), default_status=dg.DefaultSensorStatus.RUNNING,
    description="Materialise what the automation conditions ask for: a city day once its nine banners are in, "
                "the month under way and the fault history over the days there are, then the DuckDB views and "
                "the quality report once the lake's runs are done.")

DOCUMENTED = {t.qualified: t for t in load_dictionary()}


def _with_columns(spec: dg.AssetSpec) -> dg.AssetSpec:
    """The data dictionary's columns, shown in the UI beside each lake table (the same text as docs/)."""
    table = DOCUMENTED.get(checks.table_name(spec.key))
    if table is None:
        return spec
    schema = dg.TableSchema(columns=[dg.TableColumn(name, description=text) for name, text in table.columns])
    return spec.merge_attributes(metadata={"dagster/column_schema": schema})


defs = dg.Definitions(
    assets=dg.map_asset_specs(_with_columns, LAKE_ASSETS) + [
        outcomes.leadership_report, worklist.worklist_page, *WAREHOUSE],
    asset_checks=[FRESHNESS],
    jobs=[banner_day_job, registry_job, city_day_job, month_job, cases_job, warehouse_job, freshness_job, faults_job,
          worklist.worklist_job],
    schedules=[daily_harvest, monthly_cases, monthly_report, freshness_schedule, worklist.daily_worklist],
    sensors=[automation, worklist.notify],
    # all follow the environment at run time
    resources={"lake": LakeResource(), "landing": LandingResource(), "recording_storage": RecordingsResource(),
               "pseudonyms": PseudonymResource(), "reports": ReportsResource(), "warehouse": WarehouseResource(),
               "clock": ClockResource()},
)
