"""Partitions: the local (Asia/Shanghai) day × the banner code; city rollups by day alone; the case export,
the monthly statistics and the leadership report by local month (keys like 2026-11)."""

from __future__ import annotations

import datetime as dt
import warnings

import dagster as dg

from xl_pipelines.banners import load_banners
from xl_pipelines.settings import LOCAL_TZ, get_settings

DAY = dg.DailyPartitionsDefinition(start_date=get_settings().start_date.isoformat(), timezone=str(LOCAL_TZ))
MONTH = dg.MonthlyPartitionsDefinition(start_date=get_settings().start_date.strftime("%Y-%m"), fmt="%Y-%m",
                                       timezone=str(LOCAL_TZ), end_offset=1)  # the month under way too (partial)
BANNER = dg.StaticPartitionsDefinition(load_banners().codes)
HARVEST_AT = dt.time(2, 30)  # local time of the nightly harvest of yesterday
BANNER_DAY = dg.MultiPartitionsDefinition({"date": DAY, "banner": BANNER})

# A city-wide (day) asset reads every banner of its day. (Beta in Dagster 1.13; its use here is the documented one.)
with warnings.catch_warnings():
    warnings.simplefilter("ignore", dg.BetaWarning)
    ALL_BANNERS_OF_DAY = dg.MultiToSingleDimensionPartitionMapping(partition_dimension_name="date")


def harvest_time(day: dt.date) -> dt.datetime:
    """When the nightly schedule harvests `day`: HARVEST_AT local, the day after."""
    return dt.datetime.combine(day + dt.timedelta(days=1), HARVEST_AT, LOCAL_TZ)


def banner_day_key(day: dt.date, banner: str) -> dg.MultiPartitionKey:
    return dg.MultiPartitionKey({"date": day.isoformat(), "banner": banner})


def partition_keys(context: dg.AssetExecutionContext) -> dict[str, str]:
    """The lake keys of the running partition: {'date': …, 'banner': …}, {'date': …} or {'month': …}."""
    key = context.partition_key
    if isinstance(key, dg.MultiPartitionKey):
        dims = key.keys_by_dimension
        return {"date": dims["date"], "banner": dims["banner"]}
    return {"month" if len(key) == len("2026-11") else "date": key}  # MONTH keys are YYYY-MM, DAY's YYYY-MM-DD


def month_days(month: str) -> list[dt.date]:
    """The days of a month key such as 2026-11."""
    first = dt.date.fromisoformat(f"{month}-01")
    following = (first + dt.timedelta(days=32)).replace(day=1)
    return [first + dt.timedelta(days=i) for i in range((following - first).days)]
