"""Which faults hit a banner-day: malformed input for the quarantine, harvester outages, and cameras broken for days.

Each kind strikes about one banner-day in twenty at random (an hour of garbled export: one in fifty). On top
of that, a schedule keyed by the calendar date forces every kind onto one banner on one date in seven, and an
outage onto one banner on one date in three, so any 7 consecutive days (3 for outages) of the nine banners
show each of them at least once. The plan depends only on seed, date and banner, never on which other days
are simulated in the same run.

Cameras also break and stay broken (`broken_cameras`): offline all day, or online but recording nothing,
until their maintenance unit repairs them days later; each unit has its own pace, and a few faults are left
for weeks, so the worklist and the repair figures have a story to tell.
"""

from __future__ import annotations

import datetime as dt
import functools
from dataclasses import dataclass

import numpy as np

from xl_pipelines.simulator.seeding import stream

CATALOG_FAULTS = (
    "truncated_page",  # one page cut off in the middle of an element
    "short_device_id",  # an extra item whose DeviceID has 19 digits
    "unknown_unit",  # an extra item whose DeviceID starts with a unit code nobody knows
    "bad_longitude",  # one camera's Longitude is "abc"
    "wrong_encoding_page",  # one page's bytes in another encoding than its declaration names
    "resent_page",  # one page arrives twice (same SN and page number, a second later)
    "stray_response",  # a DeviceStatus response filed among the catalog pages
    "foreign_item",  # an extra item of a camera of another banner (a cascaded platform's sub-catalog)
)
STATUS_FAULTS = (
    "bad_polled_at",  # one row's polled_at is unparsable (replaces that row)
    "unknown_status",  # one row's status is UNKNOWN (replaces that row)
    "short_channel_id",  # an extra row with a 19-digit channel ID
    "truncated_line",  # a file ends in a bare channel-ID prefix, no commas, no newline
    "unregistered_channel",  # an extra row for a well-formed ID the catalog does not know
    "duplicate_row",  # an extra copy of a row
    "future_polled_at",  # one row stamped ten years ahead (a device clock reset)
    "previous_day_row",  # an extra row stamped the day before (a late line from yesterday's export)
    "garbled_export",  # an hour of poll files written with ';' between fields: a warning-level quarantine share
)
DEVICE_STATUS_FAULTS = (
    "truncated_device_status",  # a response cut off mid-element
    "bad_device_time",  # a DeviceTime without seconds and with a space: 2026-11-20 21:30
    "unregistered_device_status",  # an extra response from a device the catalog does not know
)
RECORDING_FAULTS = (
    "moov_missing",  # an MP4 segment cut before its index atom (the media server crashed)
    "faststart_cut",  # a fast-start MP4 (index first) cut short: the index promises more than the file holds
    "ts_cut",  # an MPEG-TS segment cut mid-packet
    "unfinished_segment",  # a dot-file left behind: the segment was never finished
    "zero_byte_segment",  # a segment with no bytes (a full disk)
    "no_video_segment",  # a segment with an audio stream only
    "overlapping_segment",  # a second file inside an hour's segment (a restart)
    "file_lost",  # a segment deleted from storage that the device's index still lists
    "index_missing_entry",  # the device's index lacks one segment the files hold
    "index_wrong_end",  # the index says a segment ended ten minutes before its file does
    "bad_record_time",  # an index StartTime without seconds and with a space
    "truncated_record_page",  # a RecordInfo page cut off mid-element
)
CAPTURE_FAULTS = (
    "malformed_post_line",  # a POST line cut off mid-object (the receiver crashed while logging)
    "post_without_device",  # an object without DeviceID
    "unregistered_capture_device",  # captures from a camera the catalog does not know
    "wrong_encoding_post",  # a POST line whose name is in GBK bytes, not UTF-8
    "wrong_envelope",  # misrouted POSTs: /VIID/Faces holding a MotorVehicleListObject; a path with a query string
    "id_time_mismatch",  # a camera whose object IDs carry a time three seconds off ShotTime
    "truncated_onvif",  # an ONVIF document cut off mid-element
)
FAULTS = CATALOG_FAULTS + STATUS_FAULTS + DEVICE_STATUS_FAULTS + RECORDING_FAULTS + CAPTURE_FAULTS
FAULT_CHANCE = 0.05
FAULT_CHANCES = {"garbled_export": 0.02}  # rarer than the rest; the forced schedule still shows it weekly
GARBLED_POLLS = 12  # one hour of 5-minute polls
OUTAGE_CHANCE = 0.07  # plus the forced one in three days of nine banners: about one banner-day in ten
OUTAGE_POLLS = (6, 18)  # 30 to 90 minutes without any poll file
FORCED_FAULT_EVERY, FORCED_OUTAGE_EVERY = 7, 3


@dataclass(frozen=True)
class DayPlan:
    faults: frozenset[str]
    outage: range  # indexes of the day's polls that have no file (empty: none)


def plan_day(seed: int, day: dt.date, code: str, banner_index: int, banners: int, polls: int) -> DayPlan:
    """The faults of banner `code` (number `banner_index` of `banners`) on `day`, which has `polls` polls."""
    ordinal = day.toordinal()
    rng = stream(seed, "faults", code, day)
    chosen = rng.random(len(FAULTS)) < [FAULT_CHANCES.get(kind, FAULT_CHANCE) for kind in FAULTS]
    faults = {
        kind
        for k, kind in enumerate(FAULTS)
        if chosen[k] or _forced(seed, ordinal, kind, FORCED_FAULT_EVERY, banners) == banner_index
    }
    outage = range(0)
    length = int(rng.integers(OUTAGE_POLLS[0], OUTAGE_POLLS[1] + 1))
    start = int(rng.integers(0, polls - length + 1))
    if rng.random() < OUTAGE_CHANCE or _forced(seed, ordinal, "outage", FORCED_OUTAGE_EVERY, banners) == banner_index:
        outage = range(start, start + length)
    return DayPlan(frozenset(faults), outage)


def _forced(seed: int, ordinal: int, kind: str, every: int, banners: int) -> int | None:
    """The banner index `kind` is forced onto on this date, if the date is one of every `every`."""
    phase = int(stream(seed, "phase", kind).integers(every))
    if ordinal % every != phase:
        return None
    return int(stream(seed, "forced", kind, ordinal).integers(banners))


BREAK_CHANCE = 0.004  # a camera breaks on a given day (about one in 250): a few a day in each banner
SILENT_SHARE = 0.35  # of those, the recording stops while the camera stays online; the rest go offline
NEGLECTED_SHARE = 0.08  # left broken for two to six weeks, whoever maintains them
UNIT_PACE = (1.0, 6.0)  # a maintenance unit's mean days to repair, drawn once per unit
LONGEST_LIFE = 42  # days


@dataclass(frozen=True)
class Broken:
    offline: np.ndarray  # per camera: broken, offline all day
    silent: np.ndarray  # per camera: broken, online, recording nothing


@functools.lru_cache(maxsize=4096)
def unit_pace(seed: int, unit: str | None) -> float:
    """The mean days a maintenance unit takes to repair a camera (the same for the whole run)."""
    return float(stream(seed, "unit_pace", unit or "").uniform(*UNIT_PACE))


def broken_cameras(seed: int, code: str, day: dt.date, units: list[str | None]) -> Broken:
    """Which of the banner's cameras (their maintenance units, in registry order) are broken on `day`.

    A camera that broke on an earlier day is still broken while its life lasts; each start day draws from its
    own stream, so a day's answer never depends on which other days are simulated.
    """
    n = len(units)
    pace = np.array([unit_pace(seed, unit) for unit in units])
    offline, silent = np.zeros(n, dtype=bool), np.zeros(n, dtype=bool)
    for back in range(LONGEST_LIFE):
        rng = stream(seed, "fault_lives", code, day - dt.timedelta(days=back))
        breaks, quiet, neglected = (rng.random(n) < BREAK_CHANCE, rng.random(n) < SILENT_SHARE,
                                    rng.random(n) < NEGLECTED_SHARE)
        life = np.where(neglected, rng.integers(14, LONGEST_LIFE + 1, size=n), 1 + rng.poisson(pace - 1))
        alive = breaks & (life > back)
        offline |= alive & ~quiet
        silent |= alive & quiet
    return Broken(offline, silent & ~offline)
