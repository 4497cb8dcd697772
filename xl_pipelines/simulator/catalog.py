"""A banner-day's GB/T 28181 Catalog response: pages of XML text, encoded as their declaration says."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable
from pathlib import Path
from xml.sax.saxutils import escape

import numpy as np

from xl_pipelines.banners import BannerConfig
from xl_pipelines.simulator.city import CHANNEL_TYPES, DIRECTORY, NVR, BannerRegistry, Device
from xl_pipelines.simulator.devicestatus import device_status_xml
from xl_pipelines.simulator.faults import DayPlan
from xl_pipelines.simulator.revisions import Update
from xl_pipelines.simulator.status import DEFECT, OFFLINE, ONLINE, POLL_MINUTES, VIDEO_LOST

ITEMS_PER_PAGE = 40
RECEIVED_AT = dt.time(2, 0)  # the nightly catalog query; pages arrive within ten minutes of it
STATUS_DIALECTS = (("ON", "OFF"), ("ONLINE", "OFFLINE"), ("OK", "OFF"))  # (online, offline) as devices spell it
INFO_2016 = (
    ("PTZType", "ptz_type"), ("PositionType", "position_type"), ("RoomType", "room_type"), ("UseType", "use_type"),
    ("SupplyLightType", "supply_light_type"), ("DirectionType", "direction_type"), ("Resolution", "resolution"),
)
INFO_2022 = INFO_2016 + (
    ("PointType", "point_type"), ("FunctionType", "function_type"), ("InstallTime", "install_time"),
    ("ManagementUnit", "management_unit"), ("ContactInfo", "contact_info"), ("RecordSaveDays", "record_save_days"),
)


def write_catalog(
    folder: Path, config: BannerConfig, registry: BannerRegistry, day: dt.date, plan: DayPlan,
    online: np.ndarray, rng: np.random.Generator,
) -> dict[str, int]:
    """Write the day's catalog pages; `online` says, per channel, whether it was online at query time."""
    platform = registry.platform
    online_of = dict(zip((c.device_id for c in registry.channels), online.tolist(), strict=True))
    nvr_online = {c.parent_id for c in registry.channels if online_of[c.device_id]}
    items = [
        _item(d, online_of.get(d.device_id, d.device_id in nvr_online), platform.edition)
        for d in registry.devices
    ]
    _inject_item_faults(items, config, registry, plan, online_of, rng)

    sn = int(rng.integers(1, 1_000_000))
    pages = [items[i : i + ITEMS_PER_PAGE] for i in range(0, len(items), ITEMS_PER_PAGE)]
    truncated = int(rng.integers(len(pages))) if "truncated_page" in plan.faults else None
    misencoded = int(rng.integers(len(pages))) if "wrong_encoding_page" in plan.faults else None
    resent = int(rng.integers(len(pages))) if "resent_page" in plan.faults else None
    received = dt.datetime.combine(day, RECEIVED_AT) + dt.timedelta(seconds=int(rng.integers(600)))
    nl = platform.newline
    for number, page in enumerate(pages, start=1):
        text = nl.join(
            [
                f'<?xml version="1.0" encoding="{platform.encoding}"?>',
                "<Response>",
                "<CmdType>Catalog</CmdType>",
                f"<SN>{sn}</SN>",
                f"<DeviceID>{registry.platform_id}</DeviceID>",
                f"<SumNum>{len(items)}</SumNum>",
                f'<DeviceList Num="{len(page)}">',
                *page,
                "</DeviceList>",
                "</Response>",
                "",
            ]
        )
        if number - 1 == truncated:
            text = text[: text.rindex("<Name>") + len("<Na")]  # the connection dropped mid-element
        encoding = platform.encoding
        if number - 1 == misencoded and number - 1 != truncated:  # a gateway re-encoded the body, not the declaration
            encoding = "UTF-8" if platform.encoding.upper() in ("GB2312", "GBK") else "GBK"
        data = text.encode(encoding)
        (folder / f"{received:%Y%m%dT%H%M%S}-{sn}-{number}.xml").write_bytes(data)
        if number - 1 == resent:  # no response came in time, so the page was asked for and sent again
            (folder / f"{received + dt.timedelta(seconds=1):%Y%m%dT%H%M%S}-{sn}-{number}.xml").write_bytes(data)
        received += dt.timedelta(seconds=int(rng.integers(2)) + 2)
    written = len(pages) + (resent is not None)
    if "stray_response" in plan.faults:
        stray = device_status_xml(registry.channels[int(rng.integers(len(registry.channels)))].device_id, 1,
                                  f"{received:%Y-%m-%dT%H:%M:%S}", nl)
        (folder / f"{received:%Y%m%dT%H%M%S}-{sn + 1}-1.xml").write_bytes(stray.encode(platform.encoding))
        written += 1
    return {"catalog_pages": written, "catalog_items": len(items)}


EVENT_WORDS = {ONLINE: "ON", OFFLINE: "OFF", VIDEO_LOST: "VLOST", DEFECT: "DEFECT"}  # by the state a camera enters


def write_notifications(folder: Path, registry: BannerRegistry, day: dt.date, states: np.ndarray,
                        updates: list[Update], rng: np.random.Generator) -> dict[str, int]:
    """The day's catalog change notifications: a status Event when a camera's state changes (one Notify
    per 5-minute stretch, received before the poll that sees the change), and one UPDATE per revision."""
    platform = registry.platform
    nl = platform.newline
    changed = (states[1:] != states[:-1]) & np.isin(states[1:], list(EVENT_WORDS))
    midnight = dt.datetime.combine(day, dt.time())
    sn = int(rng.integers(1, 1_000_000))
    notes: list[tuple[dt.datetime, list[str]]] = []
    for poll in np.flatnonzero(changed.any(axis=1)).tolist():
        cameras = np.flatnonzero(changed[poll]).tolist()
        at = midnight + dt.timedelta(minutes=(poll + 1) * POLL_MINUTES) - dt.timedelta(seconds=int(rng.integers(1, 300)))
        notes.append((at, [f"<Item><DeviceID>{registry.channels[c].device_id}</DeviceID>"
                           f"<Event>{EVENT_WORDS[int(states[poll + 1, c])]}</Event></Item>" for c in cameras]))
    for update in updates:
        notes.append((update.at, [_item(update.device, True, platform.edition, {"Event": "UPDATE"})]))
    for serial, (at, items) in enumerate(sorted(notes), start=sn):
        text = nl.join([
            f'<?xml version="1.0" encoding="{platform.encoding}"?>', "<Notify>", "<CmdType>Catalog</CmdType>",
            f"<SN>{serial}</SN>", f"<DeviceID>{registry.platform_id}</DeviceID>", f"<SumNum>{len(items)}</SumNum>",
            f'<DeviceList Num="{len(items)}">', *items, "</DeviceList>", "</Notify>", ""])
        (folder / f"{at:%Y%m%dT%H%M%S}-{serial}-1.xml").write_bytes(text.encode(platform.encoding))
    return {"catalog_notifications": len(notes)}


def _inject_item_faults(
    items: list[str], config: BannerConfig, registry: BannerRegistry, plan: DayPlan,
    online_of: dict[str, bool], rng: np.random.Generator,
) -> None:
    """Planned item faults: bad IDs arrive as extra items, a bad Longitude replaces one camera's item."""
    if not registry.channels:
        return
    edition = registry.platform.edition

    def victim_item(change: Callable[[str], dict[str, str]]) -> tuple[str, str]:
        """(ID of a random camera, its item with `change(its ID)` applied)."""
        device = registry.channels[int(rng.integers(len(registry.channels)))]
        return device.device_id, _item(device, online_of[device.device_id], edition, change(device.device_id))

    if "bad_longitude" in plan.faults:
        device_id, item = victim_item(lambda _: {"Longitude": "abc"})
        items[next(i for i, d in enumerate(registry.devices) if d.device_id == device_id)] = item
    extras = []
    if "short_device_id" in plan.faults:
        extras.append(victim_item(lambda device_id: {"DeviceID": device_id[:-1]})[1])
    if "unknown_unit" in plan.faults:
        extras.append(victim_item(lambda device_id: {"DeviceID": _foreign_id(config, device_id)})[1])
    if "foreign_item" in plan.faults:
        neighbour = next(code for code in config.codes if code != registry.banner.code)
        extras.append(victim_item(lambda device_id: {"DeviceID": neighbour + device_id[6:]})[1])
    for extra in extras:
        items.insert(int(rng.integers(len(items) + 1)), extra)


def _foreign_id(config: BannerConfig, device_id: str) -> str:
    """The ID with its unit code swapped for an unknown one of the same province prefix (150599 first)."""
    candidates = (f"{device_id[:4]}{k:02d}{device_id[6:]}" for k in range(99, -1, -1))
    return next(c for c in candidates if config.unit_of(c) is None)


def _item(device: Device, online: bool, edition: int, overrides: dict[str, str] | None = None) -> str:
    """One `<Item>` on one line; fields the device does not have are left out, as platforms do."""
    fields: dict[str, object] = {"DeviceID": device.device_id, "Name": device.name}
    if device.type_code == DIRECTORY:
        fields["ParentID"] = device.parent_id
    else:
        fields |= {
            "Manufacturer": device.manufacturer,
            "Model": device.model,
            "Owner": device.owner,
            "CivilCode": device.civil_code,
            "Address": device.address,
            "Parental": int(device.type_code == NVR),
            "ParentID": device.parent_id,
            "RegisterWay": 1,
            "Secrecy": 0,
            "Status": STATUS_DIALECTS[device.status_dialect][0 if online else 1],
            "Longitude": None if device.longitude is None else f"{device.longitude:.6f}",
            "Latitude": None if device.latitude is None else f"{device.latitude:.6f}",
        }
    fields |= overrides or {}
    info = ""
    if device.type_code in CHANNEL_TYPES:
        info_fields = INFO_2022 if edition >= 2022 else INFO_2016
        info = "<Info>" + _elements((tag, getattr(device, attr)) for tag, attr in info_fields) + "</Info>"
    return f"<Item>{_elements(fields.items())}{info}</Item>"


def _elements(pairs: Iterable[tuple[str, object]]) -> str:
    return "".join(f"<{tag}>{escape(str(value))}</{tag}>" for tag, value in pairs if value is not None)
