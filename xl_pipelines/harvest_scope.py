"""What every harvest of one banner-day checks its records against, built once per banner-day.

The rules all harvests share live here once: a record's ID must be a GB/T 28181 ID of the banner, its time
must lie in the local day and not after the harvest, and its camera must be registered that day (one whose
catalog item was quarantined is `camera_rejected`, any other stranger unknown).
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field, replace
from pathlib import Path

import polars as pl

from xl_pipelines.banners import BannerConfig
from xl_pipelines.landing import Listing
from xl_pipelines.parsers import gb28181
from xl_pipelines.receiver_log import CLOSE_AFTER_S
from xl_pipelines.settings import LOCAL_TZ, day_bounds, local_day

HOUR_FILE = re.compile(r"^(\d{2})\.jsonl$")  # the receiver's logs: one file per local receive hour


def _no_ids() -> pl.Series:
    return pl.Series(dtype=pl.String)


def registered_devices(cameras: pl.DataFrame) -> pl.Series:
    """The IDs a DeviceStatus response may come from: each channel and the device it is recorded through."""
    return pl.concat([cameras["channel_id"], cameras["device_id"]]).unique().sort()


def device_pairs(cameras: pl.DataFrame) -> pl.Series:
    """`channel/device` for each channel recorded through another device (an NVR)."""
    return cameras.filter(pl.col("channel_id") != pl.col("device_id")).select(
        pl.concat_str("channel_id", "device_id", separator="/")).to_series().unique().sort()


@dataclass(frozen=True)
class HarvestScope:
    """One banner-day as the harvests see it: `code` the banner, `channels` its registered cameras,
    `devices` those and the devices they are recorded through, `pairs` the channel/device pairs
    (`device_pairs`), `rejected` the IDs whose catalog item was quarantined that day, `now` the harvest's
    time (nothing may lie after it) and `today` the local day of it (recording storage as it stands)."""

    code: str
    day: dt.date
    banners: BannerConfig
    now: dt.datetime
    channels: pl.Series = field(default_factory=_no_ids)
    devices: pl.Series = field(default_factory=_no_ids)
    pairs: pl.Series = field(default_factory=_no_ids)
    rejected: pl.Series = field(default_factory=_no_ids)

    @classmethod
    def of(cls, code: str, day: dt.date, banners: BannerConfig, cameras: pl.DataFrame, rejected: pl.Series,
           now: dt.datetime) -> HarvestScope:
        """The scope of a banner-day from its registry (silver.cameras) and quarantined catalog IDs."""
        return cls(code, day, banners, now, cameras["channel_id"], registered_devices(cameras), device_pairs(cameras),
                   rejected)

    @property
    def today(self) -> dt.date:
        return local_day(self.now)

    def recorded_through(self, channel: str, device: str) -> pl.Expr:
        """Whether column `device` names the NVR that records the channel column `channel` names (`pairs`)."""
        return pl.concat_str(channel, device, separator="/").is_in(self.pairs.implode())

    def id_rules(self, column: str) -> list[tuple[str, pl.Expr]]:
        return gb28181.id_rules(column, self.code, self.banners)

    def time_rules(self, at: pl.Expr, begins: pl.Expr | None = None) -> list[tuple[str, pl.Expr]]:
        """`future_timestamp` (after the harvest), then `outside_day`: `at` (a span's end when `begins` is
        given: the span must overlap the day) outside the local day."""
        start, end = day_bounds(self.day)
        outside = (at < start) | (at >= end) if begins is None else (at <= start) | (begins >= end)
        return [("future_timestamp", at > self.now.astimezone(LOCAL_TZ)), ("outside_day", outside)]

    def registration_rules(self, column: str, unknown: str, registered: pl.Series | None = None) -> list[tuple[str, pl.Expr]]:
        """`camera_rejected` (not registered, its catalog item quarantined), then `unknown` (not registered);
        registered means among `channels` unless said."""
        known = pl.col(column).is_in((self.channels if registered is None else registered).implode())
        return [("camera_rejected", ~known & pl.col(column).is_in(self.rejected.implode())), (unknown, ~known)]

    def finished(self, listing: Listing) -> tuple[Listing, list[Path]]:
        """The listing without the receiver's hour files still being written (their hour not yet over, or just
        over and not yet closed, at the harvest's time): those are read by the next run, and returned to say so."""
        start, _ = day_bounds(self.day)
        now = self.now.timestamp()

        def open_(path: Path) -> bool:
            hour = HOUR_FILE.match(path.name)
            return hour is not None and (start + dt.timedelta(hours=int(hour[1]) + 1)).timestamp() + CLOSE_AFTER_S > now

        unfinished = [path for path in listing.files if open_(path)]
        return replace(listing, files=[p for p in listing.files if p not in unfinished]), unfinished
