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
LAKE_KEY = {"date": DAY, "month": MONTH}  # the lake path's key of each single-dimension partitioning


def harvest_time(day: dt.date) -> dt.datetime:
    """When the nightly schedule harvests `day`: HARVEST_AT local, the day after."""
    return dt.datetime.combine(day + dt.timedelta(days=1), HARVEST_AT, LOCAL_TZ)


def banner_day_key(day: dt.date, code: str) -> dg.MultiPartitionKey:
    return dg.MultiPartitionKey({"date": day.isoformat(), "banner": code})


def reads_every_banner(downstream: dg.PartitionsDefinition | None, upstream: dg.PartitionsDefinition) -> bool:
    """Whether a partition of `downstream` reads every banner of an `upstream` input (a city day or a month
    over banner-days): a city day is built over all of them or waits (assets/gold.py missing_inputs)."""
    return upstream == BANNER_DAY and downstream not in (BANNER_DAY, None)


def dependency_mapping(downstream: dg.PartitionsDefinition | None,
                       upstream: dg.PartitionsDefinition) -> dg.PartitionMapping | None:
    """How a partition of `downstream` reads an `upstream` input: every banner of its day(s), else Dagster's
    default (the same partition, or the days of a month)."""
    return ALL_BANNERS_OF_DAY if reads_every_banner(downstream, upstream) else None


def lake_keys(partitions_def: dg.PartitionsDefinition, key: str | dg.MultiPartitionKey) -> dict[str, str]:
    """The lake keys of one partition, named by its partitions definition: {'date': …, 'banner': …},
    {'date': …} or {'month': …}."""
    if partitions_def == BANNER_DAY:
        dims = key.keys_by_dimension
        return {"date": dims["date"], "banner": dims["banner"]}
    return {next(name for name, known in LAKE_KEY.items() if known == partitions_def): key}


def partition_keys(context: dg.AssetExecutionContext | dg.AssetCheckExecutionContext) -> dict[str, str]:
    """The lake keys of the running partition (of an asset, or of a partitioned check)."""
    return lake_keys(context.op_execution_context.assets_def.partitions_def, context.partition_key)


def month_days(month: str) -> list[dt.date]:
    """The days of a month key such as 2026-11."""
    first = dt.date.fromisoformat(f"{month}-01")
    following = (first + dt.timedelta(days=32)).replace(day=1)
    return [first + dt.timedelta(days=i) for i in range((following - first).days)]
