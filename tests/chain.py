"""Run one banner-day through the harvest and refine functions and the SQL models, without Dagster.

The same steps the assets take, in their order, so hand-computed tests can check every table's figures.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import polars as pl

from tests.conftest import BANNER, DAY, TEST_KEY
from xl_pipelines import camera_health, captures, image_quality, recordings
from xl_pipelines.banners import load_banners
from xl_pipelines.lake import Lake
from xl_pipelines.quality import load_thresholds
from xl_pipelines.sql_models import load_models, run_model

NOW = dt.datetime(2030, 1, 1, tzinfo=dt.UTC)  # a harvest long after the day: nothing lies in the future
TODAY = DAY + dt.timedelta(days=1)  # the day the recording storage is looked at (retention)


def _files(landing: Path, source: str, day: dt.date, banner: str) -> list[Path]:
    return sorted((landing / source / day.isoformat() / banner).glob("*.*"))


def refine(landing: Path, lake: Lake, day: dt.date = DAY, banner: str = BANNER, storage: Path | None = None,
           today: dt.date = TODAY) -> dict[str, pl.DataFrame]:
    """Every table of the banner-day, written to `lake` (the previous day's registry is used when `lake` has
    it) and returned by name. Recording files are read under `storage` (default: none on storage)."""
    banners = load_banners()
    keys = {"date": day.isoformat(), "banner": banner}
    previous_keys = {**keys, "date": (day - dt.timedelta(days=1)).isoformat()}
    previous = lake.read("silver", "cameras", previous_keys) if lake.exists("silver", "cameras", previous_keys) else None
    catalog = camera_health.harvest_catalog(_files(landing, "catalog", day, banner), banner, banners)
    cameras = camera_health.registry(catalog.accepted, banners.by_code(banner), previous)
    rejected = catalog.quarantined["record_id"].drop_nulls()
    polls = camera_health.harvest_status_polls(_files(landing, "status", day, banner), banner, day, banners,
                                               cameras["channel_id"], NOW, rejected)
    status = camera_health.harvest_device_status(_files(landing, "devicestatus", day, banner), banner, day, banners,
                                                 camera_health.registered_devices(cameras), NOW, rejected,
                                                 camera_health.device_pairs(cameras))
    tables = {
        "bronze.catalog_items": catalog.accepted,
        "quarantine.catalog": catalog.quarantined,
        "silver.cameras": cameras,
        "silver.camera_changes": camera_health.camera_changes(cameras, previous, catalog.accepted, banner, day),
        "bronze.status_polls": polls.accepted,
        "quarantine.status_polls": polls.quarantined,
        "silver.status_intervals": camera_health.status_intervals(polls.accepted, cameras["channel_id"], banner, day),
        "bronze.device_status": status.accepted,
        "quarantine.device_status": status.quarantined,
    }
    limits = load_thresholds().limits
    storage = storage or landing / "no-storage"
    files = recordings.harvest_recording_files(recordings.segment_files(storage, banner, day).files, banner, day, banners,
                                               cameras["channel_id"], today, rejected, limits["gap_tolerance_s"])
    index = recordings.harvest_record_index(_files(landing, "recordinfo", day, banner), banner, day, banners,
                                            cameras["channel_id"], NOW, rejected, camera_health.device_pairs(cameras))
    stored = recordings.stored_channels(storage, banner)
    segments = recordings.recording_segments(files.accepted, index.accepted, stored["channel_id"], banner,
                                             limits["gap_tolerance_s"])
    tables |= {
        "bronze.recording_files": files.accepted,
        "quarantine.recordings": files.quarantined,
        "bronze.record_index": index.accepted,
        "quarantine.record_index": index.quarantined,
        "silver.recording_segments": segments,
        "silver.recording_coverage": recordings.recording_coverage(segments, index.accepted["channel_id"], cameras, stored,
                                                                   day, today, limits),
        "silver.image_diagnosis": image_quality.diagnose(files.accepted, banner, limits),
    }
    captured = captures.harvest_captures(_files(landing, "viid", day, banner), sorted((landing / "onvif" / day.isoformat()
                                         / banner).glob("*/*.xml")), banner, day, banners, cameras["channel_id"], NOW,
                                         TEST_KEY.encode(), rejected)
    tables |= {"silver.captures": captured.accepted, "quarantine.captures": captured.quarantined}
    for name, frame in tables.items():
        lake.write(*name.split("."), keys, frame)
    models = {m.name: m for m in load_models()}
    for name in ("camera_daily_health", "capture_daily", "road_traffic_hourly", "banner_daily_indicators",
                 "banner_daily_kpis"):
        tables[f"gold.{name}"] = run_model(models[name], lake, keys, banners)
        lake.write("gold", name, keys, tables[f"gold.{name}"])
    return tables
