"""Registry changes over time: each camera is revised about once a year (moved, renamed or re-classed).

A camera revised on day D is in D's 02:00 catalog as it was; the platform sends an UPDATE notification
at the hour of the change, and the catalogs from D+1 on show the revised camera. The revision day of
each camera comes from the seed and the banner only, so every day agrees on the registry's history.
"""

from __future__ import annotations

import dataclasses
import datetime as dt

from xl_pipelines.simulator.city import BannerRegistry, Device
from xl_pipelines.simulator.seeding import stream

EPOCH = dt.date(2026, 1, 1)
EVERY_DAYS = 365  # a camera's revision falls on one day of the year after EPOCH (a few a day in a city)
WORKING_HOURS = (8 * 3600, 18 * 3600)
MOVE = (0.0012, -0.0009)  # degrees: the camera re-annotated at the other corner of its site
MOVE_KIND, RENAME_KIND, RECLASS_KIND = range(3)


@dataclasses.dataclass(frozen=True)
class Update:
    device: Device  # as revised
    at: dt.datetime  # local, when the notification was received


def registry_on(registry: BannerRegistry, day: dt.date, seed: int) -> tuple[BannerRegistry, BannerRegistry, list[Update]]:
    """(the registry at the 02:00 catalog, the registry at the end of the day, the day's UPDATEs)."""
    n = len(registry.channels)
    rng = stream(seed, "revisions", registry.banner.code)
    revised_on = EPOCH.toordinal() + rng.integers(0, EVERY_DAYS, size=n)
    seconds = rng.integers(*WORKING_HOURS, size=n)
    kind = rng.integers(3, size=n)
    today = day.toordinal()
    before = {c.device_id: _revise(c, int(k)) for c, r, k in zip(registry.channels, revised_on.tolist(), kind.tolist())
              if r < today}
    updates = [Update(_revise(c, int(k)), dt.datetime.combine(day, dt.time()) + dt.timedelta(seconds=int(s)))
               for c, r, k, s in zip(registry.channels, revised_on.tolist(), kind.tolist(), seconds.tolist()) if r == today]
    after = before | {u.device.device_id: u.device for u in updates}
    return _with(registry, before), _with(registry, after), sorted(updates, key=lambda u: u.at)


def _revise(device: Device, kind: int) -> Device:
    if kind == RECLASS_KIND and device.point_type in (2, 3):
        return dataclasses.replace(device, point_type=device.point_type - 1)
    if kind == MOVE_KIND and device.longitude is not None and device.latitude is not None:
        return dataclasses.replace(device, longitude=round(device.longitude + MOVE[0], 6),
                                   latitude=round(device.latitude + MOVE[1], 6))
    return dataclasses.replace(device, name=device.name + "新")


def _with(registry: BannerRegistry, revised: dict[str, Device]) -> BannerRegistry:
    if not revised:
        return registry
    return dataclasses.replace(registry, devices=tuple(revised.get(d.device_id, d) for d in registry.devices),
                               channels=tuple(revised.get(c.device_id, c) for c in registry.channels))
