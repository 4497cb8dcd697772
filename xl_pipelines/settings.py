"""Where things live, chosen by environment variables only (so one code base serves dev, CI and prod)."""

from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass
from pathlib import Path
from zoneinfo import ZoneInfo

LOCAL_TZ = ZoneInfo("Asia/Shanghai")
DEFAULT_START_DATE = "2025-01-01"  # a year of monthly outcomes before the first demo month


class ConfigError(Exception):
    """A missing or wrong setting: shown to the user as one line, never as a traceback."""


@dataclass(frozen=True)
class Settings:
    home: Path
    lake_url: str
    landing: Path
    recordings: Path
    start_date: dt.date

    @property
    def warehouse_path(self) -> Path:
        return self.home / "xl.duckdb"

    @property
    def reports(self) -> Path:
        return self.home / "reports"

    @property
    def dagster_home(self) -> Path:
        return self.home / "dagster"


def get_settings() -> Settings:
    """Read XL_HOME (default ./.xl), XL_LAKE_URL, XL_LANDING, XL_RECORDINGS and XL_START_DATE."""
    home = Path(os.environ.get("XL_HOME") or ".xl").resolve()
    raw_start = os.environ.get("XL_START_DATE") or DEFAULT_START_DATE
    try:
        start = dt.date.fromisoformat(raw_start)
    except ValueError:
        raise ConfigError(f"XL_START_DATE={raw_start!r} is not a date like 2026-01-01") from None
    return Settings(
        home=home,
        lake_url=os.environ.get("XL_LAKE_URL") or str(home / "lake"),
        landing=Path(os.environ.get("XL_LANDING") or home / "landing"),
        recordings=Path(os.environ.get("XL_RECORDINGS") or home / "recordings"),
        start_date=start,
    )


def local_day(at: dt.datetime) -> dt.date:
    """The local calendar day of an aware time (the harvest's: recording storage is judged as it stands then)."""
    return at.astimezone(LOCAL_TZ).date()


def day_bounds(day: dt.date) -> tuple[dt.datetime, dt.datetime]:
    """[start, end) of a local calendar day as timezone-aware datetimes."""
    start = dt.datetime.combine(day, dt.time(), LOCAL_TZ)
    return start, start + dt.timedelta(days=1)
