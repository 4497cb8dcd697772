"""A deterministic simulator of what the city's video platforms drop into the landing zone.

`simulate` draws the camera registry once from the seed (city.py), then for every banner-day the registry as
revised that day (revisions.py), a fault plan (faults.py), the cameras' states over the day's polls
(status.py), the nightly catalog and the day's change notifications (catalog.py), the status poll files and
the hourly DeviceStatus responses (devicestatus.py), the recording segments on the media server and the
devices' RecordInfo index (recordings.py), the checkpoints' GA/T 1400 POST logs and ONVIF documents
(captures.py); and the case-management export of the year up to the last day (cases.py). Same arguments,
same bytes: every random draw comes from a stream keyed by its purpose, banner and day (seeding.py), so a
banner-day's files do not depend on which other days are simulated.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Callable, Collection
from pathlib import Path

import numpy as np

from xl_pipelines.banners import load_banners
from xl_pipelines.simulator.captures import capture_cameras, write_captures, write_keepalives
from xl_pipelines.simulator.cases import months_back, write_cases
from xl_pipelines.simulator.catalog import write_catalog, write_notifications
from xl_pipelines.simulator.city import build_city
from xl_pipelines.simulator.devicestatus import device_traits, write_device_status
from xl_pipelines.simulator.faults import broken_cameras, plan_day
from xl_pipelines.simulator.recordings import StoredCameras, recorded_runs, write_record_index, write_recordings
from xl_pipelines.simulator.revisions import registry_on
from xl_pipelines.simulator.seeding import stream
from xl_pipelines.simulator.status import OFFLINE, ONLINE, POLL_MINUTES, POLLS_PER_DAY, VIDEO_LOST, day_states, write_polls

DEFAULT_SEED = 20261124
CATALOG_POLL = 2 * 60 // POLL_MINUTES  # the 02:00 poll: the state cameras report to the nightly catalog query
COUNTS = ("catalog_pages", "catalog_items", "catalog_notifications", "status_files", "status_rows",
          "device_status_files", "recording_files", "record_index_pages", "capture_objects", "capture_posts",
          "onvif_documents", "keepalives", "case_files", "case_rows")
CASE_MONTHS = 12  # months of case export written, ending with the last day's month: a year of outcomes
DEMO_CAPTURES = 300  # a checkpoint's mean captures a day in the demo (a real one sends thousands: see bench/)


def simulate(
    landing: Path,
    recordings: Path,
    days: list[dt.date],
    cameras: int = 1500,
    seed: int = DEFAULT_SEED,
    progress: Callable[[dt.date, str, str], None] | None = None,
    captures_per_camera: float = DEMO_CAPTURES,
    via: str | None = None,
    registry_only: Collection[dt.date] = (),
) -> dict[str, int]:
    """Write catalogs, change notifications, status polls, DeviceStatus responses and RecordInfo pages for
    every banner and day into `landing`, the recording segments under `recordings`, and the case export of the
    twelve months up to the last day; return counts of files/rows written.

    A banner-day's folders are emptied of earlier simulator files first, so a rerun leaves exactly its own.
    With `via` (the URL of `xl receive --replay`) the GA/T 1400 POSTs go to that receiver, which writes their logs.
    `status_rows` counts every data line written, the malformed ones included. `progress(day, code, line)` is told
    each banner-day once its files are written, with a line to show. Of the days in `registry_only` only the
    catalog and its change notifications are written: the day before a first harvest, read for its registry alone
    (its other folders are left as they are: nothing harvests them).
    """
    landing, recordings = Path(landing), Path(recordings)
    config = load_banners()
    city = build_city(config, cameras, seed)
    stored = [StoredCameras(registered, stream(seed, "storage", registered.banner.code)) for registered in city]
    checkpoints = [capture_cameras(registered, seed) for registered in city]
    counts: Counter[str] = Counter()
    for day in sorted(set(days)):
        for index, registered in enumerate(city):
            code = registered.banner.code
            registry, revised, updates = registry_on(registered, day, seed)
            plan = plan_day(seed, day, code, index, len(city), POLLS_PER_DAY)
            states = day_states(stream(seed, "status", code, day), len(registry.channels), registry.platform.health)
            broken = broken_cameras(seed, code, day, [c.management_unit for c in registry.channels])
            states[:, broken.offline] = OFFLINE  # broken for days: offline all day, or (silent) recording nothing
            online_at_catalog = np.isin(states[CATALOG_POLL], (ONLINE, VIDEO_LOST))  # lost video: device still online
            catalog = _fresh(landing / "catalog" / day.isoformat() / code, "*.xml")
            counts.update(write_catalog(catalog, config, registry, day, plan, online_at_catalog,
                                        stream(seed, "catalog", code, day)))
            counts.update(write_notifications(catalog, revised, day, states, updates,
                                              stream(seed, "notifications", code, day)))
            if day in registry_only:
                if progress:
                    progress(day, code, f"{day} {code}: {len(registry.channels)} cameras, the registry alone")
                continue
            counts.update(write_device_status(
                _fresh(landing / "devicestatus" / day.isoformat() / code, "*.xml"), day, revised, states, plan,
                stream(seed, "devicestatus", code, day), stream(seed, "clocks", code)))
            _, owner, _, record, _ = device_traits(revised, stream(seed, "clocks", code))
            runs = recorded_runs(states, (record[owner] == "ON") & ~broken.silent)
            counts.update(write_recordings(recordings, day, revised, stored[index], runs, plan,
                                           stream(seed, "recordings", code, day)))
            awake = np.isin(states[-1], (ONLINE, VIDEO_LOST))
            answering = np.zeros(owner.max() + 1 if owner.size else 0, dtype=bool)
            np.logical_or.at(answering, owner, awake)
            counts.update(write_record_index(
                _fresh(landing / "recordinfo" / day.isoformat() / code, "*.xml"), day, revised, runs,
                answering[owner], stored[index], plan, stream(seed, "recordinfo", code, day)))
            counts.update(write_captures(
                _fresh(_fresh(landing / "viid" / day.isoformat() / code, "*.jsonl"), "*.acked"),  # a receiver's counts too
                _fresh(landing / "onvif" / day.isoformat() / code, "*/*.xml"), day, revised, checkpoints[index],
                captures_per_camera, plan, seed, via))
            counts.update(write_keepalives(
                _fresh(landing / "viid_keepalive" / day.isoformat() / code, "*.jsonl"), day, registry,
                checkpoints[index], states, (ONLINE, VIDEO_LOST), POLL_MINUTES * 60, stream(seed, "keepalives", code, day)))
            written = write_polls(
                _fresh(landing / "status" / day.isoformat() / code, "*.csv"), day,
                [c.device_id for c in registry.channels], states, registry.platform.online_word, plan,
                stream(seed, "polls", code, day),
            )
            counts.update(written)
            if progress:
                progress(day, code, f"{day} {code}: {len(registry.channels)} cameras, {written['status_files']} polls, "
                         f"faults: {', '.join(sorted(plan.faults)) or 'none'}")
    if days:
        until = max(days)
        for month in months_back(until, CASE_MONTHS):
            counts.update(write_cases(landing, city, [b.weight for b in config.banners], month, until, seed))
    return {key: counts[key] for key in COUNTS}


def _fresh(folder: Path, pattern: str) -> Path:
    """The folder, created, without the files a previous simulation left in it."""
    folder.mkdir(parents=True, exist_ok=True)
    for stale in folder.glob(pattern):
        stale.unlink()
    return folder
