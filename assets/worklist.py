"""The governance team's daily worklist page (and the CSV of open faults beside it), one per day."""

import datetime as dt

import dagster as dg

from xl_pipelines import worklist
from xl_pipelines.partitions import ALL_BANNERS_OF_DAY, DAY
from xl_pipelines.resources import LakeResource
from xl_pipelines.settings import LOCAL_TZ, get_settings

WORKLIST_AT = dt.time(7, 0)  # local: after the harvest deadline (06:00) and the fault tables rebuilt


@dg.asset(key=["reports", "worklist"], partitions_def=DAY, group_name="faults", kinds={"html", "csv"},
          deps=[dg.AssetKey(["gold", "camera_faults"]),
                dg.AssetDep(dg.AssetKey(["gold", "banner_daily_kpis"]), partition_mapping=ALL_BANNERS_OF_DAY)])
def worklist_page(context: dg.AssetExecutionContext, lake: LakeResource) -> dg.MaterializeResult:
    """`$XL_HOME/reports/worklist/<day>.html` and `.csv`: the day's open faults by banner and maintenance unit,
    new and closed that day, the cameras that flap, 30 days of each banner's online rate and recording."""
    page, table = worklist.write_worklist(lake.lake, dt.date.fromisoformat(context.partition_key), get_settings().reports)
    return dg.MaterializeResult(metadata={"path": dg.MetadataValue.path(str(page)), "csv": dg.MetadataValue.path(str(table))})


worklist_job = dg.define_asset_job("worklist", selection=[worklist_page], partitions_def=DAY,
                                   description="A day's worklist page and the CSV of its open faults.")


@dg.schedule(job=worklist_job, cron_schedule=f"{WORKLIST_AT.minute} {WORKLIST_AT.hour} * * *",
             execution_timezone=str(LOCAL_TZ))
def daily_worklist(context: dg.ScheduleEvaluationContext):
    """Every morning at 07:00 local: yesterday's worklist, for the governance team's first look."""
    yesterday = context.scheduled_execution_time.astimezone(LOCAL_TZ).date() - dt.timedelta(days=1)
    return dg.RunRequest(run_key=yesterday.isoformat(), partition_key=yesterday.isoformat())
