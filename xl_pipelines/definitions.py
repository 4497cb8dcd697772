"""The code location's one entry point: `dagster dev -w workspace.yaml`, `dg`, and `xl` all load `defs`."""

from __future__ import annotations

import datetime as dt

import dagster as dg

from assets import camera_health, gold, warehouse
from xl_pipelines.partitions import BANNER, banner_day_key
from xl_pipelines.resources import LakeResource, LandingResource
from xl_pipelines.settings import LOCAL_TZ

BANNER_DAY_ASSETS = [*camera_health.ASSETS, *gold.BANNER_DAY_ASSETS]
DAY_ASSETS = gold.DAY_ASSETS
LAKE_KEYS = [key for a in [*BANNER_DAY_ASSETS, *DAY_ASSETS] for key in a.keys]
WAREHOUSE = warehouse.build(LAKE_KEYS)

banner_day_job = dg.define_asset_job("banner_day", selection=BANNER_DAY_ASSETS,
                                     description="Harvest and refine one banner-day, bronze to gold.")
city_day_job = dg.define_asset_job("city_day", selection=DAY_ASSETS,
                                   description="City-wide rollups of one day over all nine banners.")
warehouse_job = dg.define_asset_job("warehouse", selection=[WAREHOUSE], description="Refresh the DuckDB views.")


@dg.schedule(job=banner_day_job, cron_schedule="30 2 * * *", execution_timezone="Asia/Shanghai")
def daily_harvest(context: dg.ScheduleEvaluationContext):
    """Every night at 02:30 local: harvest yesterday for all nine banners (city rollups follow by automation)."""
    yesterday = context.scheduled_execution_time.astimezone(LOCAL_TZ).date() - dt.timedelta(days=1)
    for banner in BANNER.get_partition_keys():
        key = banner_day_key(yesterday, banner)
        yield dg.RunRequest(run_key=str(key), partition_key=key)


defs = dg.Definitions(
    assets=[*BANNER_DAY_ASSETS, *DAY_ASSETS, WAREHOUSE],
    jobs=[banner_day_job, city_day_job, warehouse_job],
    schedules=[daily_harvest],
    resources={"lake": LakeResource(), "landing": LandingResource()},  # both follow the environment at run time
)
