"""Detection metadata, per banner-day: GA/T 1400 POST logs and ONVIF documents → pseudonymised captures."""

import tempfile
import warnings
from pathlib import Path

import dagster as dg
import polars as pl

from assets.camera_health import CAMERAS, CATALOG_QUARANTINE, harvest_scope
from assets.lake_io import harvest_asset, harvested_spec, write_harvest
from quality import checks
from xl_pipelines import captures, receiver_harvest
from xl_pipelines.harvest_scope import HarvestScope
from xl_pipelines.landing import Listing
from xl_pipelines.partitions import BANNER_DAY, partition_keys
from xl_pipelines.pseudonym import is_development_key
from xl_pipelines.quarantine import Harvest
from xl_pipelines.resources import ClockResource, LakeResource, LandingResource, PseudonymResource, ReportsResource

GROUP = "captures"
CAPTURES = dg.AssetKey(["silver", "captures"])
CAPTURES_QUARANTINE = dg.AssetKey(["quarantine", "captures"])
with warnings.catch_warnings():  # partitioned asset checks are a preview feature of Dagster 1.13 (pinned)
    warnings.simplefilter("ignore", dg.PreviewWarning)
    ACKNOWLEDGED = dg.AssetCheckSpec(
        "acknowledged", asset=CAPTURES, blocking=True, partitions_def=BANNER_DAY,
        description="Objects `xl receive` acknowledged into each finished hour file (its .acked counts) = records the "
                    "capture harvest read from it: an error naming the hour file when fewer were read (a loss), a "
                    "warning when more (lines a crash left unanswered).")


@harvest_asset(
    harvested_spec(CAPTURES, "Every distinct capture of the day (vehicles, faces, persons, non-motor vehicles) "
                             "from GA/T 1400 POST logs and ONVIF metadata, plates and person identifiers as "
                             "keyed pseudonyms, names and images dropped.", GROUP, deps=[CAMERAS, CATALOG_QUARANTINE]),
    harvested_spec(CAPTURES_QUARANTINE, "Captures and POST lines that were rejected (malformed, unknown device, "
                                        "re-sent…), with file, line and reason, never the line itself.", GROUP),
    more_checks=(ACKNOWLEDGED,),
)
def capture_harvest(context: dg.AssetExecutionContext, lake: LakeResource, landing: LandingResource,
                    pseudonyms: PseudonymResource, clock: ClockResource, reports: ReportsResource):
    key = pseudonyms.key_for(lake.lake)  # refused before anything is read if it is not the lake's key
    if is_development_key():
        context.log.info("pseudonyms made with the public DEVELOPMENT key: fine for the demo, never for real data")
    keys = partition_keys(context)
    scope = harvest_scope(lake.lake, keys, clock)
    post_logs, unfinished = scope.finished(landing.files("viid", scope.day, scope.code, "*.jsonl"))
    documents = landing.files("onvif", scope.day, scope.code, "*/*.xml")
    listing = post_logs + documents
    with tempfile.TemporaryDirectory(prefix="xl-captures-") as spill:  # the accepted rows, batch by batch
        with listing.reading():
            harvest = captures.harvest_captures(post_logs.files, documents.files, scope, key, listing, Path(spill))
        yield from write_harvest(context, lake.lake, CAPTURES, CAPTURES_QUARANTINE, keys, "captures", harvest, Listing(),
                                 reports, unfinished)
        yield _acknowledged(harvest, landing, scope, post_logs, unfinished, keys, reports)


def _acknowledged(harvest: Harvest, landing: LandingResource, scope: HarvestScope, logs: Listing,
                  unfinished: list[Path], keys: dict[str, str], reports: ReportsResource) -> dg.AssetCheckResult:
    """The check `acknowledged`: each finished hour file's .acked count against the records read from it (the rows
    of both tables the harvest wrote: the accepted ones counted in its spilled pieces, `source_file` alone); the
    hour files still being written wait for the next run."""
    waiting = {path.with_suffix(".acked") for path in unfinished}
    sidecars = [p for p in landing.files("viid", scope.day, scope.code, "*.acked").files if p not in waiting]
    read = pl.concat([frame.lazy().select("source_file") for frame in (harvest.accepted, harvest.quarantined)])
    verdict, table = receiver_harvest.reconcile(logs.files, sidecars,
                                                read.group_by("source_file").agg(records=pl.len()).collect())
    return checks.check_result(reports, CAPTURES, "acknowledged", keys, verdict, True, {"hour_files": table.height}, {
        "hour_files": table.height, "acknowledged": int(table["acknowledged"].sum()), "read": int(table["read"].sum())})


ASSETS = [capture_harvest]
