"""Detection metadata, per banner-day: GA/T 1400 POST logs and ONVIF documents → pseudonymised captures."""

import tempfile
from pathlib import Path

import dagster as dg

from assets.camera_health import CAMERAS, CATALOG_QUARANTINE, harvest_scope
from assets.lake_io import harvest_asset, harvested_spec, write_harvest
from xl_pipelines import captures
from xl_pipelines.landing import Listing
from xl_pipelines.partitions import partition_keys
from xl_pipelines.pseudonym import is_development_key
from xl_pipelines.resources import ClockResource, LakeResource, LandingResource, PseudonymResource, ReportsResource

GROUP = "captures"
CAPTURES = dg.AssetKey(["silver", "captures"])
CAPTURES_QUARANTINE = dg.AssetKey(["quarantine", "captures"])


@harvest_asset(
    harvested_spec(CAPTURES, "Every distinct capture of the day (vehicles, faces, persons, non-motor vehicles) "
                             "from GA/T 1400 POST logs and ONVIF metadata, plates and person identifiers as "
                             "keyed pseudonyms, names and images dropped.", GROUP, deps=[CAMERAS, CATALOG_QUARANTINE]),
    harvested_spec(CAPTURES_QUARANTINE, "Captures and POST lines that were rejected (malformed, unknown device, "
                                        "re-sent…), with file, line and reason, never the line itself.", GROUP),
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
        yield from write_harvest(lake.lake, CAPTURES, CAPTURES_QUARANTINE, keys, "captures", harvest, Listing(),
                                 reports, unfinished)


ASSETS = [capture_harvest]
