"""School zones: a point and a radius each, and the school hours their cameras are judged in (configuration)."""

from __future__ import annotations

import datetime as dt
import os
from functools import cache
from pathlib import Path

import polars as pl
import yaml

from xl_pipelines.banners import load_banners
from xl_pipelines.settings import ConfigError

DEFAULT_FILE = Path(__file__).with_name("school_zones.yaml")
SCHEMA = {"zone_id": pl.String, "code": pl.String, "name_zh": pl.String, "name_en": pl.String,
          "longitude": pl.Float64, "latitude": pl.Float64, "radius_m": pl.Float64}


@cache
def load_school_zones(path: str | None = None) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(zones, hours) from `path`, `$XL_SCHOOL_ZONES` or the packaged file; hours as start/end times."""
    source = Path(path or os.environ.get("XL_SCHOOL_ZONES") or DEFAULT_FILE)
    try:
        raw = yaml.safe_load(source.read_text(encoding="utf-8"))
        zones = pl.DataFrame(raw["zones"], schema=SCHEMA)
        hours = pl.DataFrame([{"starts": dt.time.fromisoformat(a), "ends": dt.time.fromisoformat(b)}
                              for a, b in raw["hours"]], schema={"starts": pl.Time, "ends": pl.Time})
    except (OSError, KeyError, TypeError, ValueError, yaml.YAMLError, pl.exceptions.PolarsError) as exc:
        raise ConfigError(f"school zones {source}: {exc}") from None
    unknown = set(zones["code"]) - set(load_banners().codes)
    if unknown or zones["zone_id"].is_duplicated().any() or (hours["ends"] <= hours["starts"]).any():
        raise ConfigError(f"school zones {source}: zone codes must be banner codes (not {sorted(unknown)}), "
                          "zone_id unique, and every school-hours window must end after it starts")
    return zones, hours


def school_zones() -> pl.DataFrame:
    return load_school_zones()[0]


def school_hours() -> pl.DataFrame:
    return load_school_zones()[1]
