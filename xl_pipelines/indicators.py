"""The indicator registry (quality/indicators.yaml): each network indicator's name, labels, unit and target.

The one list the SQL models (`context.indicators`), the alert-level checks, the leadership report and
`xl demo` read; the formulas themselves are in dbt_like_sql/banner_daily_indicators.sql, once each.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

import polars as pl
import yaml

from xl_pipelines.gates import QUALITY_DIR
from xl_pipelines.settings import ConfigError

UNITS = ("rate", "change", "count")


@dataclass(frozen=True)
class Indicator:
    name: str
    zh: str
    en: str
    unit: str  # rate: Σ numerator / Σ denominator; change: that − 1; count: Σ numerator
    target: float | None = None  # a judged rate's national target (at or above meets it)
    alert: float | None = None  # below this the alert_levels check warns

    @property
    def judged(self) -> bool:
        return self.target is not None


@functools.cache
def load_indicators(path: Path = QUALITY_DIR / "indicators.yaml") -> dict[str, Indicator]:
    """name -> Indicator, in the file's order; a missing or malformed entry is a ConfigError naming it."""
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
        found = {name: Indicator(name, **entry) for name, entry in raw.items()}
    except (OSError, yaml.YAMLError, AttributeError, TypeError) as exc:
        raise ConfigError(f"{path}: cannot read the indicators ({exc})") from None
    for i in found.values():
        if i.unit not in UNITS:
            raise ConfigError(f"{path}: {i.name}.unit must be one of {', '.join(UNITS)}, not {i.unit!r}")
        if (i.target is None) != (i.alert is None) or (i.judged and i.unit != "rate"):
            raise ConfigError(f"{path}: {i.name} needs both target and alert, and only a rate has them")
        if i.judged and not 0 <= i.alert <= i.target <= 1:
            raise ConfigError(f"{path}: {i.name} needs 0 <= alert <= target <= 1, got {i.alert} and {i.target}")
    return found


def judged() -> list[Indicator]:
    """The rates with a target, in the registry's order: those the report shows and the ranking counts."""
    return [i for i in load_indicators().values() if i.judged]


def as_frame() -> pl.DataFrame:
    """The registry as the SQL models see it: `context.indicators` (indicator, zh, en, unit, target, alert)."""
    return pl.DataFrame([{"indicator": i.name, "zh": i.zh, "en": i.en, "unit": i.unit, "target": i.target,
                          "alert": i.alert} for i in load_indicators().values()],
                        schema={"indicator": pl.String, "zh": pl.String, "en": pl.String, "unit": pl.String,
                                "target": pl.Float64, "alert": pl.Float64})


def alerts() -> dict[str, float]:
    """name -> alert level of the judged rates: what the alert_levels check holds each day's figures against."""
    return {i.name: i.alert for i in judged()}
