"""The governance team's daily worklist page (and the CSV of open faults beside it), one per day."""

import datetime as dt
import json

import dagster as dg

from xl_pipelines import notifications, worklist
from xl_pipelines.partitions import ALL_BANNERS_OF_DAY, DAY
from xl_pipelines.resources import LakeResource, ReportsResource
from xl_pipelines.settings import LOCAL_TZ

WORKLIST_AT = dt.time(7, 0)  # local: after the harvest deadline (06:00) and the fault tables rebuilt


@dg.asset(key=["reports", "worklist"], partitions_def=DAY, group_name="faults", kinds={"html", "csv"},
          deps=[dg.AssetKey(["gold", "camera_faults"]),
                dg.AssetDep(dg.AssetKey(["gold", "banner_daily_kpis"]), partition_mapping=ALL_BANNERS_OF_DAY)])
def worklist_page(context: dg.AssetExecutionContext, lake: LakeResource, reports: ReportsResource) -> dg.MaterializeResult:
    """`<reports>/worklist/<day>.html` and `.csv`: the day's open faults by banner and maintenance unit,
    new and closed that day, the cameras that flap, 30 days of each banner's online rate and recording."""
    page, table = worklist.write_worklist(lake.lake, dt.date.fromisoformat(context.partition_key), reports.path)
    return dg.MaterializeResult(metadata={"path": dg.MetadataValue.path(str(page)), "csv": dg.MetadataValue.path(str(table))})


worklist_job = dg.define_asset_job("worklist", selection=[worklist_page],
                                   description="A day's worklist page and the CSV of its open faults.")


@dg.schedule(job=worklist_job, cron_schedule=f"{WORKLIST_AT.minute} {WORKLIST_AT.hour} * * *",
             execution_timezone=str(LOCAL_TZ), default_status=dg.DefaultScheduleStatus.RUNNING)
def daily_worklist(context: dg.ScheduleEvaluationContext):
    """Every morning at 07:00 local: yesterday's worklist, for the governance team's first look."""
    yesterday = context.scheduled_execution_time.astimezone(LOCAL_TZ).date() - dt.timedelta(days=1)
    return dg.RunRequest(run_key=yesterday.isoformat(), partition_key=yesterday.isoformat())


SENT_KEPT = 5000  # (channel, event) pairs remembered in the cursor; events older than the lookback never recur


@dg.sensor(minimum_interval_seconds=600, default_status=dg.DefaultSensorStatus.RUNNING)
def notify(context: dg.SensorEvaluationContext, lake: LakeResource):
    """Sends each new event (a banner's rate under its alert level, a key-site fault open past its limit) once to
    each channel of notifications.yaml (XL_NOTIFICATIONS); both are off by default. A channel that fails is
    logged and tried again at the next evaluation; it never fails a run."""
    channels = notifications.load_channels()
    if not channels.any:
        return dg.SkipReason("no notification channel is enabled (XL_NOTIFICATIONS, notifications.yaml)")
    sent = json.loads(context.cursor or "[]")
    done = {tuple(pair) for pair in sent}
    delivered, failed = 0, []
    for event in notifications.events(lake.lake):
        reached, failures = notifications.send(channels, event, frozenset(c for c, k in done if k == event.key))
        sent += [[channel, event.key] for channel in reached]
        delivered, failed = delivered + len(reached), failed + failures
    for line in failed:
        context.log.warning(f"notification not sent, tried again next time: {line}")
    context.update_cursor(json.dumps(sent[-SENT_KEPT:]))
    return dg.SkipReason(f"{delivered} message(s) sent, {len(failed)} failed")
