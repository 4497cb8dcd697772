"""Recording completeness, per banner-day: segment files probed, RecordInfo index, both reconciled, image quality."""

import datetime as dt
import functools

import dagster as dg

from assets.camera_health import CAMERAS, CATALOG_QUARANTINE, harvest_landing, harvest_scope
from assets.lake_io import harvest_asset, harvested_spec, write_checked, write_harvest
from quality import checks
from xl_pipelines import image_quality, recordings
from xl_pipelines.gates import load_thresholds
from xl_pipelines.partitions import BANNER_DAY, partition_keys
from xl_pipelines.resources import ClockResource, LakeResource, LandingResource, RecordingsResource, ReportsResource

GROUP = "recordings"
_spec = functools.partial(harvested_spec, group=GROUP)
RECORDING_FILES = dg.AssetKey(["bronze", "recording_files"])
RECORDINGS_QUARANTINE = dg.AssetKey(["quarantine", "recordings"])
RECORD_INDEX = dg.AssetKey(["bronze", "record_index"])
RECORD_INDEX_QUARANTINE = dg.AssetKey(["quarantine", "record_index"])
SEGMENTS = dg.AssetKey(["silver", "recording_segments"])
COVERAGE = dg.AssetKey(["silver", "recording_coverage"])
DIAGNOSIS = dg.AssetKey(["silver", "image_diagnosis"])


@harvest_asset(
    _spec(RECORDING_FILES, "One row per recording segment file of the day, probed packet by packet without "
                           "decoding: packet span, keyframes, corrupt packets, problem (truncated, corrupt, "
                           "unfinished).", deps=[CAMERAS, CATALOG_QUARANTINE]),
    _spec(RECORDINGS_QUARANTINE, "Segment files that cannot be placed (bad name, unknown camera), with reason."),
)
def recording_file_harvest(context: dg.AssetExecutionContext, lake: LakeResource, recording_storage: RecordingsResource,
                           clock: ClockResource, reports: ReportsResource):
    keys = partition_keys(context)
    scope = harvest_scope(lake.lake, keys, clock)
    listing = recordings.segment_files(recording_storage.path, scope.code, scope.day)
    with listing.reading():
        harvest = recordings.harvest_recording_files(listing.files, scope, load_thresholds().limits["gap_tolerance_s"])
    yield from write_harvest(context, lake.lake, RECORDING_FILES, RECORDINGS_QUARANTINE, keys, "recordings", harvest,
                             listing, reports)


@harvest_asset(
    _spec(RECORD_INDEX, "One row per recording the devices' RecordInfo index lists for the day (a channel "
                        "that answered with none: one row without times).", deps=[CAMERAS, CATALOG_QUARANTINE]),
    _spec(RECORD_INDEX_QUARANTINE, "RecordInfo pages and items that were rejected, with file, item and reason."),
)
def record_index_harvest(context: dg.AssetExecutionContext, lake: LakeResource, landing: LandingResource,
                         clock: ClockResource, reports: ReportsResource):
    yield from harvest_landing(context, lake.lake, landing, clock, reports, "recordinfo", "*.xml",
                               recordings.harvest_record_index, (RECORD_INDEX, RECORD_INDEX_QUARANTINE), "record_index")


@dg.asset(key=SEGMENTS, deps=[RECORDING_FILES, RECORD_INDEX], partitions_def=BANNER_DAY, group_name=GROUP,
          kinds={"parquet"}, check_specs=checks.expectations(SEGMENTS, BANNER_DAY))
def recording_segments(context: dg.AssetExecutionContext, lake: LakeResource,
                       recording_storage: RecordingsResource, reports: ReportsResource):
    """Both stories of the day's recordings, files and device index, matched: each file's problem, index
    entries with no file (missing_file), files the index lacks (missing_index), lengths that disagree."""
    keys = partition_keys(context)
    segments = recordings.recording_segments(
        lake.lake.read("bronze", "recording_files", keys), lake.lake.read("bronze", "record_index", keys),
        recordings.stored_channels(recording_storage.path, keys["banner"])["channel_id"], keys["banner"],
        load_thresholds().limits["gap_tolerance_s"])
    counted = segments.group_by("problem").len().drop_nulls().sort("problem")
    yield from write_checked(context, lake.lake, reports, SEGMENTS, keys, segments,
                             problems=dg.MetadataValue.json(dict(zip(counted["problem"], counted["len"], strict=True))))


@dg.asset(key=COVERAGE, deps=[SEGMENTS, RECORD_INDEX, CAMERAS], partitions_def=BANNER_DAY, group_name=GROUP, kinds={"parquet"},
          check_specs=checks.expectations(COVERAGE, BANNER_DAY))
def recording_coverage(context: dg.AssetExecutionContext, lake: LakeResource, recording_storage: RecordingsResource,
                       clock: ClockResource, reports: ReportsResource):
    """Per registered camera: seconds recorded of the 7×24 schedule (from its files when storage holds
    them, else from its device's index), gaps, problem segments, and retention as storage stands today."""
    keys = partition_keys(context)
    coverage = recordings.recording_coverage(
        lake.lake.read("silver", "recording_segments", keys), lake.lake.read("bronze", "record_index", keys)["channel_id"],
        lake.lake.read("silver", "cameras", keys),
        recordings.stored_channels(recording_storage.path, keys["banner"]), dt.date.fromisoformat(keys["date"]), clock.today(),
        load_thresholds().limits)
    yield from write_checked(context, lake.lake, reports, COVERAGE, keys, coverage,
                             measured=int(coverage["source"].is_not_null().sum()), gaps=int(coverage["gap_count"].sum()))


@dg.asset(key=DIAGNOSIS, deps=[RECORDING_FILES], partitions_def=BANNER_DAY, group_name=GROUP, kinds={"parquet"},
          check_specs=checks.expectations(DIAGNOSIS, BANNER_DAY))
def image_diagnosis(context: dg.AssetExecutionContext, lake: LakeResource, reports: ReportsResource):
    """Video-quality diagnosis: a few keyframes decoded from one sound segment per camera, measured and
    judged for the twelve faults of image_quality.FAULTS; scene change and colour against the camera's own
    earlier sound days (this table's earlier partitions)."""
    keys, limits = partition_keys(context), load_thresholds().limits
    diagnosis = image_quality.diagnose(lake.lake.read("bronze", "recording_files", keys), keys["banner"], limits,
                                       image_quality.reference(lake.lake, keys, limits))
    faulty = diagnosis.filter(diagnosis["image_faults"].list.len() > 0).height
    yield from write_checked(context, lake.lake, reports, DIAGNOSIS, keys, diagnosis, diagnosed=diagnosis.height, faulty=faulty)


ASSETS = [recording_file_harvest, record_index_harvest, recording_segments, recording_coverage, image_diagnosis]
