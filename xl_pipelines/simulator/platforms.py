"""Per-banner platform behaviour (edition, encoding, spelling, health, place names) read from platforms.yaml."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path

import yaml

from xl_pipelines.banners import Banner

PLATFORMS_FILE = Path(__file__).with_name("platforms.yaml")


@dataclass(frozen=True)
class Platform:
    edition: int
    encoding: str
    online_word: str
    newline: str
    health: float
    short: str
    owner: str
    roads: tuple[str, ...]
    places: tuple[str, ...]
    schools: tuple[str, ...]


@cache
def _raw() -> dict:
    return yaml.safe_load(PLATFORMS_FILE.read_text(encoding="utf-8"))


def platform_of(banner: Banner) -> Platform:
    """The defaults overlaid with the banner's own entry, if it has one."""
    raw = _raw()
    merged = {"short": banner.name_zh, **raw["default"], **(raw["units"].get(banner.code) or {})}
    if len(merged["roads"]) < 2 or not merged["places"] or not merged["schools"]:
        raise ValueError(f"platforms.yaml: {banner.code} needs two roads, a place and a school to name cameras")
    return Platform(
        edition=int(merged["edition"]),
        encoding=merged["encoding"],
        online_word=merged["online_word"],
        newline=merged["newline"],
        health=float(merged["health"]),
        short=merged["short"],
        owner=merged["owner"].format(name=banner.name_zh),
        roads=tuple(merged["roads"]),
        places=tuple(merged["places"]),
        schools=tuple(merged["schools"]),
    )
