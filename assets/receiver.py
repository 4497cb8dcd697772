"""The view-library receiver's own files, per banner-day: keepalives → capture devices' online intervals, and
the capture harvest reconciled with what the receiver acknowledged."""

import datetime as dt
import warnings

import dagster as dg
import polars as pl

from assets.camera_health import CAMERAS, CATALOG_QUARANTINE, harvest_scope
from assets.captures import CAPTURES, CAPTURES_QUARANTINE
from assets.lake_io import harvest_asset, harvested_spec, write_harvest, write_table
from quality.checks import check_result
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
    yield from write_harvest(lake.lake, KEEPALIVES, KEEPALIVES_QUARANTINE, keys, "keepalives", harvest, listing,
                             reports, unfinished)


@dg.asset(key=KEEPALIVE_INTERVALS, deps=[KEEPALIVES, CAMERAS], partitions_def=BANNER_DAY, group_name=GROUP,
          kinds={"parquet"})
def keepalive_intervals(context: dg.AssetExecutionContext, lake: LakeResource) -> dg.MaterializeResult:
    """Each capture camera's day as runs of online / offline from its keepalives, by the polls' rule (a round of
    keepalives is a poll), for the capture cameras heard that day; stretches in which the receiver heard no
    device of the banner are left out."""
    keys = partition_keys(context)
    keepalives = lake.lake.read("bronze", "keepalives", keys)
    polls = receiver_harvest.keepalive_polls(keepalives)
    devices = receiver_harvest.capture_devices(lake.lake.read("silver", "cameras", keys), keepalives)
    intervals = camera_health.status_intervals(polls, devices, keys["banner"], dt.date.fromisoformat(keys["date"]))
    return write_table(lake.lake, KEEPALIVE_INTERVALS, keys, intervals, rounds=polls["polled_at"].n_unique())


def _records_read(lake, keys: dict[str, str]) -> pl.DataFrame:
    """Records the capture harvest read per POST log (accepted and quarantined), from the lake."""
    tables = [lake.read(*key.path, keys).select("source_file") for key in (CAPTURES, CAPTURES_QUARANTINE)]
    return pl.concat(tables).group_by("source_file").agg(records=pl.len())


with warnings.catch_warnings():  # partitioned asset checks are a preview feature of Dagster 1.13 (pinned)
    warnings.simplefilter("ignore", dg.PreviewWarning)

    @dg.asset_check(asset=CAPTURES, name="acknowledged", blocking=True, partitions_def=BANNER_DAY,
                    description="Objects `xl receive` acknowledged into each finished hour file (its .acked counts) "
                                "= records the capture harvest read from it: an error naming the hour file when "
                                "fewer were read (a loss), a warning when more (lines a crash left unanswered).")
    def acknowledged(context: dg.AssetCheckExecutionContext, lake: LakeResource, landing: LandingResource,
                     clock: ClockResource, reports: ReportsResource) -> dg.AssetCheckResult:
        keys = partition_keys(context)
        scope = harvest_scope(lake.lake, keys, clock)
        logs, unfinished = scope.finished(landing.files("viid", scope.day, scope.code, "*.jsonl"))
        waiting = {path.with_suffix(".acked") for path in unfinished}
        sidecars = [p for p in landing.files("viid", scope.day, scope.code, "*.acked").files if p not in waiting]
        verdict, table = receiver_harvest.reconcile(logs.files, sidecars, _records_read(lake.lake, keys))
        return check_result(reports, CAPTURES, "acknowledged", keys, verdict, True,
                            {"hour_files": table.height}, {
                                "hour_files": table.height, "acknowledged": int(table["acknowledged"].sum()),
                                "read": int(table["read"].sum())})


ASSETS = [keepalive_harvest, keepalive_intervals]
CHECKS = [acknowledged]
