"""The view-library receiver's own files, per banner-day: keepalives → capture devices' online intervals (the
capture harvest's reconciliation with what the receiver acknowledged is checked in the harvest's own step)."""

import datetime as dt

import dagster as dg

from assets.camera_health import CAMERAS, CATALOG_QUARANTINE, harvest_scope
from assets.lake_io import harvest_asset, harvested_spec, write_checked, write_harvest
from quality import checks
from xl_pipelines import camera_health, receiver_harvest
from xl_pipelines.partitions import BANNER_DAY, partition_keys
from xl_pipelines.resources import ClockResource, LakeResource, LandingResource, ReportsResource

GROUP = "captures"
KEEPALIVES = dg.AssetKey(["bronze", "keepalives"])
KEEPALIVES_QUARANTINE = dg.AssetKey(["quarantine", "keepalives"])
KEEPALIVE_INTERVALS = dg.AssetKey(["silver", "keepalive_intervals"])


@harvest_asset(
    harvested_spec(KEEPALIVES, "One row per registration, keepalive and unregistration a capture device sent to "
                               "`xl receive` (GA/T 1400 System routes).", GROUP, deps=[CAMERAS, CATALOG_QUARANTINE]),
    harvested_spec(KEEPALIVES_QUARANTINE, "Keepalive log lines that were rejected (torn, unknown device, re-sent…), "
                                          "with file, line and reason.", GROUP),
)
def keepalive_harvest(context: dg.AssetExecutionContext, lake: LakeResource, landing: LandingResource,
                      clock: ClockResource, reports: ReportsResource):
    keys = partition_keys(context)
    scope = harvest_scope(lake.lake, keys, clock)
    listing, unfinished = scope.finished(landing.files("viid_keepalive", scope.day, scope.code, "*.jsonl"))
    harvest = receiver_harvest.harvest_keepalives(listing.files, scope)
    yield from write_harvest(context, lake.lake, KEEPALIVES, KEEPALIVES_QUARANTINE, keys, "keepalives", harvest, listing,
                             reports, unfinished)


@dg.asset(key=KEEPALIVE_INTERVALS, deps=[KEEPALIVES, CAMERAS], partitions_def=BANNER_DAY, group_name=GROUP,
          kinds={"parquet"}, check_specs=checks.expectations(KEEPALIVE_INTERVALS, BANNER_DAY))
def keepalive_intervals(context: dg.AssetExecutionContext, lake: LakeResource, reports: ReportsResource):
    """Each capture camera's day as runs of online / offline from its keepalives, by the polls' rule (a round of
    keepalives is a poll), for the capture cameras heard that day; stretches in which the receiver heard no
    device of the banner are left out."""
    keys = partition_keys(context)
    keepalives = lake.lake.read("bronze", "keepalives", keys, columns=receiver_harvest.POLLED)
    polls = receiver_harvest.keepalive_polls(keepalives)
    devices = receiver_harvest.capture_devices(lake.lake.read("silver", "cameras", keys), keepalives)
    intervals = camera_health.status_intervals(polls, devices, keys["banner"], dt.date.fromisoformat(keys["date"]))
    yield from write_checked(context, lake.lake, reports, KEEPALIVE_INTERVALS, keys, intervals,
                             rounds=polls["polled_at"].n_unique())


ASSETS = [keepalive_harvest, keepalive_intervals]
