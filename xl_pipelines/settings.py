"""Where things live, chosen by environment variables only (so one code base serves dev, CI and prod)."""

from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass
from pathlib import Path
from zoneinfo import ZoneInfo

from fsspec.core import split_protocol
from upath import UPath

LOCAL_TZ = ZoneInfo("Asia/Shanghai")
DEFAULT_START_DATE = "2025-01-01"  # a year of monthly outcomes before the first demo month


class ConfigError(Exception):
    """A missing or wrong setting: shown to the user as one line, never as a traceback."""


class Stopped(BaseException):
    """SIGTERM or SIGINT (Ctrl-C) stopped a command; `stopped` says what was stopped with it (one line). Not an
    Exception, as KeyboardInterrupt is not: a library's `except Exception` neither swallows it nor wraps it in its
    own error (SQLAlchemy did, mid-statement, when it was raised wherever the signal found the command)."""

    def __init__(self, signum: int):
        import signal

        super().__init__(signal.Signals(signum).name)
        self.signum, self.stopped = signum, "nothing was running"


LOCAL_PROTOCOLS = ("", "file", "local")
Where = Path | UPath  # a local path, or a place in an object store (s3://bucket/prefix)


def location(raw: str | Path) -> Where:
    """A folder setting as xl reads it: an object-store URL (`s3://bucket/prefix`, credentials and endpoint
    from the environment: AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_ENDPOINT_URL) as a UPath, anything
    else as an absolute local Path."""
    protocol, path = split_protocol(str(raw))
    if (protocol or "") in LOCAL_PROTOCOLS:
        return Path(os.path.abspath(path))
    try:
        where = UPath(str(raw))
        where.fs  # noqa: B018 (the filesystem's package is imported here: a missing one is one line)
    except (ImportError, ValueError) as exc:
        raise ConfigError(f"{raw}: cannot reach this object store ({exc}); the distributed extra "
                          "(pip install '.[distributed]') brings s3fs") from None
    return where


def is_folder(where: Where, variable: str) -> bool:
    """Whether `where` is a folder (on an object store: keys lie below the prefix); one line, not a traceback,
    when the store cannot be reached (no credentials, no endpoint)."""
    if isinstance(where, Path):
        return where.is_dir()
    try:
        return where.is_dir()
    except Exception as exc:  # botocore's errors (NoCredentialsError…) are no OSError, and botocore is optional
        raise ConfigError(f"{variable}={where}: the object store cannot be reached ({type(exc).__name__}: {exc}); "
                          "check AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and AWS_ENDPOINT_URL") from None


def local_folder(where: Where, variable: str, command: str) -> Path:
    """`where` if it is a local folder; one line if it is an object store `command` cannot write or scan."""
    if not isinstance(where, Path):
        raise ConfigError(f"{variable}={where} is an object store; {command} works on a local folder "
                          f"(set {variable} to one, then copy it to the store)")
    return where


@dataclass(frozen=True)
class Settings:
    home: Path
    lake_url: str
    landing: Where
    recordings: Where
    start_date: dt.date
    now: dt.datetime | None = None  # XL_NOW: the harvest's clock, fixed for every run (None: the wall clock)

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
    """Read XL_HOME (default ./.xl), XL_LAKE_URL, XL_LANDING, XL_RECORDINGS (paths or URLs), XL_START_DATE and
    XL_NOW."""
    home = Path(os.environ.get("XL_HOME") or ".xl").resolve()
    raw_start = os.environ.get("XL_START_DATE") or DEFAULT_START_DATE
    try:
        start = dt.date.fromisoformat(raw_start)
    except ValueError:
        raise ConfigError(f"XL_START_DATE={raw_start!r} is not a date like 2026-01-01") from None
    return Settings(
        now=_fixed_now(os.environ.get("XL_NOW") or ""),
        home=home,
        lake_url=os.environ.get("XL_LAKE_URL") or str(home / "lake"),
        landing=location(os.environ.get("XL_LANDING") or home / "landing"),
        recordings=location(os.environ.get("XL_RECORDINGS") or home / "recordings"),
        start_date=start,
    )


def _fixed_now(raw: str) -> dt.datetime | None:
    """XL_NOW read: a time with its offset (a time without one names no instant), or None when unset."""
    if not raw:
        return None
    try:
        at = dt.datetime.fromisoformat(raw)
    except ValueError:
        at = None
    if at is None or at.tzinfo is None:
        raise ConfigError(f"XL_NOW={raw!r} is not a time with its offset like 2026-11-21T02:30:00+08:00")
    return at


def local_day(at: dt.datetime) -> dt.date:
    """The local calendar day of an aware time (the harvest's: recording storage is judged as it stands then)."""
    return at.astimezone(LOCAL_TZ).date()


def day_bounds(day: dt.date) -> tuple[dt.datetime, dt.datetime]:
    """[start, end) of a local calendar day as timezone-aware datetimes."""
    start = dt.datetime.combine(day, dt.time(), LOCAL_TZ)
    return start, start + dt.timedelta(days=1)
