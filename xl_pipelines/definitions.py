"""The code location's one entry point: `dagster dev -w workspace.yaml`, `dg`, and `xl` all load `defs`."""

from __future__ import annotations

import datetime as dt

import dagster as dg

from assets import camera_health, captures, gold, recordings, warehouse
from quality import checks
from xl_pipelines.partitions import BANNER, HARVEST_AT, banner_day_key
from xl_pipelines.resources import LakeResource, LandingResource, PseudonymResource, RecordingsResource
from xl_pipelines.settings import LOCAL_TZ

BANNER_DAY_ASSETS = [*camera_health.ASSETS, *recordings.ASSETS, *captures.ASSETS, *gold.BANNER_DAY_ASSETS]
DAY_ASSETS = gold.DAY_ASSETS
LAKE_KEYS = [key for a in [*BANNER_DAY_ASSETS, *DAY_ASSETS] for key in a.keys]
WAREHOUSE = warehouse.build(LAKE_KEYS)
SUITE_CHECKS = checks.suite_checks([*BANNER_DAY_ASSETS, *DAY_ASSETS])
HARVESTED = [key for key in LAKE_KEYS if checks.deadline(checks.table_name(key))]
FRESHNESS = checks.freshness_check(HARVESTED)

# Each job runs its assets' checks, but the freshness check only at its deadline, in its own job.
banner_day_job = dg.define_asset_job("banner_day", selection=dg.AssetSelection.assets(*BANNER_DAY_ASSETS)
                                     - dg.AssetSelection.checks(FRESHNESS),
                                     description="Harvest and refine one banner-day, bronze to gold.")
city_day_job = dg.define_asset_job("city_day", selection=DAY_ASSETS,
                                   description="City-wide rollups of one day over all nine banners.")
warehouse_job = dg.define_asset_job("warehouse", selection=WAREHOUSE,
                                    description="Refresh the DuckDB views and the quality report.")
freshness_job = dg.define_asset_job("freshness", selection=dg.AssetSelection.checks(FRESHNESS),
                                    description="Did yesterday's harvest of every banner land by its deadline?")


@dg.schedule(job=banner_day_job, cron_schedule=f"{HARVEST_AT.minute} {HARVEST_AT.hour} * * *", execution_timezone="Asia/Shanghai")
def daily_harvest(context: dg.ScheduleEvaluationContext):
    """Every night at 02:30 local: harvest yesterday for all nine banners (city rollups follow by automation)."""
    yesterday = context.scheduled_execution_time.astimezone(LOCAL_TZ).date() - dt.timedelta(days=1)
    for banner in BANNER.get_partition_keys():
        key = banner_day_key(yesterday, banner)
        yield dg.RunRequest(run_key=str(key), partition_key=key)


LATEST_DEADLINE = max(checks.deadline(checks.table_name(key)) for key in HARVESTED)
freshness_schedule = dg.ScheduleDefinition(
    name="freshness_at_deadline", job=freshness_job, execution_timezone=str(LOCAL_TZ),
    cron_schedule=f"{LATEST_DEADLINE.minute} {LATEST_DEADLINE.hour} * * *",
    description="At the harvest deadline (thresholds.yaml freshness): which banners' yesterday is missing.")

defs = dg.Definitions(
    assets=[*BANNER_DAY_ASSETS, *DAY_ASSETS, *WAREHOUSE],
    asset_checks=[*SUITE_CHECKS, FRESHNESS],
    jobs=[banner_day_job, city_day_job, warehouse_job, freshness_job],
    schedules=[daily_harvest, freshness_schedule],
    # all follow the environment at run time
    resources={"lake": LakeResource(), "landing": LandingResource(), "storage": RecordingsResource(),
               "pseudonyms": PseudonymResource()},
)
