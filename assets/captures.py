"""Detection metadata, per banner-day: GA/T 1400 POST logs and ONVIF documents → pseudonymised captures."""

import datetime as dt

import dagster as dg
import polars as pl

from assets.camera_health import CAMERAS, CATALOG_QUARANTINE, rejected_ids
from assets.lake_io import harvest_asset, harvested_spec, write_harvest
from xl_pipelines import captures
from xl_pipelines.banners import load_banners
from xl_pipelines.landing import Listing
from xl_pipelines.partitions import partition_keys
from xl_pipelines.pseudonym import is_development_key
from xl_pipelines.resources import LakeResource, LandingResource, PseudonymResource

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
                    pseudonyms: PseudonymResource):
    key = pseudonyms.key_for(lake.lake)  # refused before anything is read if it is not the lake's key
    keys = partition_keys(context)
    day = dt.date.fromisoformat(keys["date"])
    if is_development_key():
        context.log.info("pseudonyms made with the public DEVELOPMENT key: fine for the demo, never for real data")
    post_logs = landing.files("viid", day, keys["banner"], "*.jsonl")
    documents = landing.files("onvif", day, keys["banner"], "*/*.xml")
    harvest = captures.harvest_captures(
        post_logs.files, documents.files,
        keys["banner"], day, load_banners(), lake.lake.read("silver", "cameras", keys)["channel_id"],
        now=dt.datetime.now(dt.UTC), key=key, rejected=rejected_ids(lake.lake, keys))
    listing = post_logs + documents  # a refused file is named as the harvest names files: never a name off-contract
    listing = Listing(listing.files, listing.refused.with_columns(source_file=captures.shown_file(pl.col("source_file"))))
    yield from write_harvest(lake.lake, CAPTURES, CAPTURES_QUARANTINE, keys, "captures", harvest, listing)


ASSETS = [capture_harvest]
