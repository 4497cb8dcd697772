"""Camera health, per banner-day: catalog → registry, status polls → intervals (GB/T 28181)."""

import datetime as dt
import functools
from collections.abc import Callable
from pathlib import Path

import dagster as dg
import polars as pl

from assets.lake_io import harvest_asset, harvested_spec, write_checked, write_harvest
from quality import checks
from xl_pipelines import camera_health
from xl_pipelines.banners import load_banners
from xl_pipelines.harvest_scope import HarvestScope
from xl_pipelines.lake import Lake
from xl_pipelines.partitions import BANNER_DAY, partition_keys
from xl_pipelines.quarantine import Harvest
from xl_pipelines.resources import ClockResource, LakeResource, LandingResource, ReportsResource

GROUP = "camera_health"
_spec = functools.partial(harvested_spec, group=GROUP)
CATALOG_ITEMS = dg.AssetKey(["bronze", "catalog_items"])
CATALOG_QUARANTINE = dg.AssetKey(["quarantine", "catalog"])
CAMERAS = dg.AssetKey(["silver", "cameras"])
STATUS_POLLS = dg.AssetKey(["bronze", "status_polls"])
POLLS_QUARANTINE = dg.AssetKey(["quarantine", "status_polls"])
STATUS_INTERVALS = dg.AssetKey(["silver", "status_intervals"])
CAMERA_CHANGES = dg.AssetKey(["silver", "camera_changes"])
DEVICE_STATUS = dg.AssetKey(["bronze", "device_status"])
DEVICE_STATUS_QUARANTINE = dg.AssetKey(["quarantine", "device_status"])


@harvest_asset(
    _spec(CATALOG_ITEMS, "Every item of the day's GB/T 28181 Catalog pages and change notifications "
                         "(GB2312/GBK/UTF-8 XML), parsed."),
    _spec(CATALOG_QUARANTINE, "Catalog pages and items that were rejected, with file, item and reason."),
)
def catalog_harvest(context: dg.AssetExecutionContext, lake: LakeResource, landing: LandingResource,
                    reports: ReportsResource):
    keys = partition_keys(context)
    listing = landing.files("catalog", dt.date.fromisoformat(keys["date"]), keys["banner"], "*.xml")
    with listing.reading():
        harvest = camera_health.harvest_catalog(listing.files, keys["banner"], load_banners())
    yield from write_harvest(context, lake.lake, CATALOG_ITEMS, CATALOG_QUARANTINE, keys, "catalog", harvest, listing,
                             reports)


def _previous_day(lake: Lake, keys: dict[str, str]) -> pl.DataFrame | None:
    """The banner's registry of the day before, if it was materialised."""
    previous = {**keys, "date": (dt.date.fromisoformat(keys["date"]) - dt.timedelta(days=1)).isoformat()}
    return lake.read("silver", "cameras", previous) if lake.exists("silver", "cameras", previous) else None


def harvest_scope(lake: Lake, keys: dict[str, str], clock: ClockResource) -> HarvestScope:
    """The banner-day as its harvests check it: the day's registry, the IDs whose catalog item was
    quarantined (their records are `camera_rejected`), and the harvest's time."""
    rejected = lake.read("quarantine", "catalog", keys)["record_id"].drop_nulls()
    return HarvestScope.of(keys["banner"], dt.date.fromisoformat(keys["date"]), load_banners(),
                           lake.read("silver", "cameras", keys), rejected, clock.time())


def harvest_landing(context: dg.AssetExecutionContext, lake: Lake, landing: LandingResource, clock: ClockResource,
                    reports: ReportsResource, folder: str, pattern: str,
                    harvest: Callable[[list[Path], HarvestScope], Harvest],
                    tables: tuple[dg.AssetKey, dg.AssetKey], source: str):
    """A banner-day's landing `folder` harvested against its scope, landed in the (bronze, quarantine) `tables`."""
    keys = partition_keys(context)
    scope = harvest_scope(lake, keys, clock)
    listing = landing.files(folder, scope.day, scope.code, pattern)
    with listing.reading():
        harvested = harvest(listing.files, scope)
    yield from write_harvest(context, lake, *tables, keys, source, harvested, listing, reports)


@dg.asset(key=CAMERAS, deps=[CATALOG_ITEMS], partitions_def=BANNER_DAY, group_name=GROUP, kinds={"parquet"},
          check_specs=checks.expectations(CAMERAS, BANNER_DAY))
def cameras(context: dg.AssetExecutionContext, lake: LakeResource, reports: ReportsResource):
    """The registered camera channels (types 131/132) of the banner as they stood at the end of the day.

    From the day's latest complete catalog and the ADD / UPDATE / DEL notifications after it, with each
    camera's annotation fault. Without a complete catalog, cameras missing from the pages that arrived
    are kept from the previous day's registry (if materialised), and the asset says so.
    """
    keys = partition_keys(context)
    items = lake.lake.read("bronze", "catalog_items", keys)
    complete = bool(items["catalog_complete"].any())
    previous = _previous_day(lake.lake, keys)
    registry = camera_health.registry(items, load_banners().by_code(keys["banner"]), previous)
    if not complete:
        context.log.warning(f"no complete catalog for {keys['date']} {keys['banner']}: "
                            f"registry from the pages that arrived{' and the previous day' if previous is not None else ''}")
    yield from write_checked(context, lake.lake, reports, CAMERAS, keys, registry, catalog_complete=complete,
                             annotation_faults=int(registry["annotation_fault"].is_not_null().sum()))


@dg.asset(key=CAMERA_CHANGES, deps=[CAMERAS, CATALOG_ITEMS], partitions_def=BANNER_DAY, group_name=GROUP,
          kinds={"parquet"}, check_specs=checks.expectations(CAMERA_CHANGES, BANNER_DAY))
def camera_changes(context: dg.AssetExecutionContext, lake: LakeResource, reports: ReportsResource):
    """The registry's history: each attribute that changed that day (name, coordinates, status, point
    class, …), before and after, when, and whether a notification or the next catalog said so."""
    keys = partition_keys(context)
    changes = camera_health.camera_changes(
        lake.lake.read("silver", "cameras", keys), _previous_day(lake.lake, keys),
        lake.lake.read("bronze", "catalog_items", keys), keys["banner"], dt.date.fromisoformat(keys["date"]))
    counted = changes.group_by("attribute").len().sort("attribute")
    yield from write_checked(context, lake.lake, reports, CAMERA_CHANGES, keys, changes,
                             changes=dg.MetadataValue.json(dict(zip(counted["attribute"], counted["len"], strict=True))))


@harvest_asset(
    _spec(DEVICE_STATUS, "One row per hourly DeviceStatus response: clock skew (DeviceTime − receive time), "
                         "Online / Status / Encode / Record flags.", deps=[CAMERAS, CATALOG_QUARANTINE]),
    _spec(DEVICE_STATUS_QUARANTINE, "DeviceStatus responses that were rejected, with file and reason."),
)
def device_status_harvest(context: dg.AssetExecutionContext, lake: LakeResource, landing: LandingResource,
                          clock: ClockResource, reports: ReportsResource):
    yield from harvest_landing(context, lake.lake, landing, clock, reports, "devicestatus", "*.xml",
                               camera_health.harvest_device_status, (DEVICE_STATUS, DEVICE_STATUS_QUARANTINE),
                               "device_status")


@harvest_asset(
    _spec(STATUS_POLLS, "One row per camera per 5-minute status poll, state normalised.",
          deps=[CAMERAS, CATALOG_QUARANTINE]),
    _spec(POLLS_QUARANTINE, "Poll lines that were rejected (malformed, unknown camera, duplicate…), with reason."),
)
def status_poll_harvest(context: dg.AssetExecutionContext, lake: LakeResource, landing: LandingResource,
                        clock: ClockResource, reports: ReportsResource):
    yield from harvest_landing(context, lake.lake, landing, clock, reports, "status", "*.csv", camera_health.harvest_status_polls,
                               (STATUS_POLLS, POLLS_QUARANTINE), "status_polls")


@dg.asset(key=STATUS_INTERVALS, deps=[STATUS_POLLS, CAMERAS], partitions_def=BANNER_DAY, group_name=GROUP,
          kinds={"parquet"}, check_specs=checks.expectations(STATUS_INTERVALS, BANNER_DAY))
def status_intervals(context: dg.AssetExecutionContext, lake: LakeResource, reports: ReportsResource):
    """Each camera's day as runs of one state (online, offline, video_lost, defect); outages left out."""
    keys = partition_keys(context)
    polls = lake.lake.read("bronze", "status_polls", keys)
    channels = lake.lake.read("silver", "cameras", keys)["channel_id"]
    intervals = camera_health.status_intervals(polls, channels, keys["banner"], dt.date.fromisoformat(keys["date"]))
    yield from write_checked(context, lake.lake, reports, STATUS_INTERVALS, keys, intervals,
                             polls=polls["polled_at"].n_unique())


ASSETS = [catalog_harvest, cameras, camera_changes, status_poll_harvest, status_intervals, device_status_harvest]
