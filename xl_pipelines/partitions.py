"""Partitions: the local (Asia/Shanghai) day × the banner code; city rollups by day alone."""

from __future__ import annotations

import datetime as dt
import warnings

import dagster as dg

from xl_pipelines.banners import load_banners
from xl_pipelines.settings import get_settings

DAY = dg.DailyPartitionsDefinition(start_date=get_settings().start_date.isoformat(), timezone="Asia/Shanghai")
BANNER = dg.StaticPartitionsDefinition(load_banners().codes)
HARVEST_AT = dt.time(2, 30)  # local time of the nightly harvest of yesterday
BANNER_DAY = dg.MultiPartitionsDefinition({"date": DAY, "banner": BANNER})

# A city-wide (day) asset reads every banner of its day. (Beta in Dagster 1.13; its use here is the documented one.)
with warnings.catch_warnings():
    warnings.simplefilter("ignore", dg.BetaWarning)
    ALL_BANNERS_OF_DAY = dg.MultiToSingleDimensionPartitionMapping(partition_dimension_name="date")


def banner_day_key(day: dt.date, banner: str) -> dg.MultiPartitionKey:
    return dg.MultiPartitionKey({"date": day.isoformat(), "banner": banner})


def partition_keys(context: dg.AssetExecutionContext) -> dict[str, str]:
    """The lake keys of the running partition: {'date': …, 'banner': …} or {'date': …}, date first."""
    key = context.partition_key
    if isinstance(key, dg.MultiPartitionKey):
        dims = key.keys_by_dimension
        return {"date": dims["date"], "banner": dims["banner"]}
    return {"date": key}
