"""The nine reporting units and the mapping of a device ID to its unit (configuration, not code)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import yaml

DEFAULT_FILE = Path(__file__).with_name("banners.yaml")

CITY_MARGIN = 0.1  # degrees (about 10 km) around the banners' approximate boxes


@dataclass(frozen=True)
class Banner:
    code: str
    name_zh: str
    name_en: str
    bbox: tuple[float, float, float, float]  # lon_min, lat_min, lon_max, lat_max
    weight: float


@dataclass(frozen=True)
class BannerConfig:
    banners: tuple[Banner, ...]
    id_prefixes: dict[str, str]

    @property
    def codes(self) -> list[str]:
        return [b.code for b in self.banners]

    @property
    def city_bbox(self) -> tuple[float, float, float, float]:
        """The box around all nine banners, widened by CITY_MARGIN: coordinates outside it are not in Tongliao."""
        boxes = [b.bbox for b in self.banners]
        return (min(b[0] for b in boxes) - CITY_MARGIN, min(b[1] for b in boxes) - CITY_MARGIN,
                max(b[2] for b in boxes) + CITY_MARGIN, max(b[3] for b in boxes) + CITY_MARGIN)

    def by_code(self, code: str) -> Banner:
        for b in self.banners:
            if b.code == code:
                return b
        raise KeyError(f"unknown banner code {code!r}; known: {', '.join(self.codes)}")

    def unit_of(self, device_id: str) -> str | None:
        """The reporting unit of a 20-digit ID: the longest configured prefix, else its first six digits."""
        for prefix in sorted(self.id_prefixes, key=len, reverse=True):
            if device_id.startswith(prefix):
                return self.id_prefixes[prefix]
        head = device_id[:6]
        return head if head in self.codes else None


@cache
def load_banners(path: str | None = None) -> BannerConfig:
    """Read the banner file named by `path`, `$XL_BANNERS`, or the packaged default."""
    source = Path(path or os.environ.get("XL_BANNERS") or DEFAULT_FILE)
    raw = yaml.safe_load(source.read_text(encoding="utf-8"))
    banners = tuple(
        Banner(str(u["code"]), u["name_zh"], u["name_en"], tuple(float(v) for v in u["bbox"]), float(u["weight"]))
        for u in raw["units"]
    )
    return BannerConfig(banners, {str(k): str(v) for k, v in (raw.get("id_prefixes") or {}).items()})
