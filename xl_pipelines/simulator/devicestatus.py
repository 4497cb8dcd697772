"""A banner-day of hourly DeviceStatus responses: one XML file per device that answered the hourly query.

IP cameras answer for themselves, NVRs for their channels. A device offline at query time does not answer.
Most clocks are NTP-synchronised (a second or two off); a few drift through the day, and a very few were
reset to 2000-01-01. Some devices report Record OFF (the recording plan stopped) or Encode OFF. Which
devices are like that holds across days (nobody fixes them overnight); how far off a drifting clock is
changes every day.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np

from xl_pipelines.simulator.city import IP_CAMERA, UNREGISTERED_SERIALS, BannerRegistry
from xl_pipelines.simulator.faults import DayPlan
from xl_pipelines.simulator.status import DEFECT, ONLINE, POLL_MINUTES, VIDEO_LOST

HOURLY_POLLS = np.arange(24) * (60 // POLL_MINUTES)  # the 5-minute poll at each full hour
QUERY_SPREAD_S = 600  # the hourly round of queries takes up to ten minutes
DRIFTING, RESET = 0.03, 0.003  # shares of devices whose clock drifts / was reset to 2000-01-01
DRIFT_OFFSET_S, DRIFT_RATE_S = 300, 25  # a drifting clock: up to ±5 min off at midnight, ±25 s more per hour
RECORD_OFF, ENCODE_OFF = 0.02, 0.005  # shares of devices reporting Record OFF / Encode OFF
RESET_TO = dt.datetime(2000, 1, 1)


def device_status_xml(device_id: str, sn: int, device_time: str, newline: str = "\n", status: str = "OK",
                      encode: str = "ON", record: str = "ON") -> str:
    """A DeviceStatus response as devices send it (GB2312 declared; the content is ASCII)."""
    return newline.join([
        '<?xml version="1.0" encoding="GB2312"?>', "<Response>", "<CmdType>DeviceStatus</CmdType>", f"<SN>{sn}</SN>",
        f"<DeviceID>{device_id}</DeviceID>", "<Result>OK</Result>", "<Online>ONLINE</Online>",
        f"<Status>{status}</Status>", f"<Encode>{encode}</Encode>", f"<Record>{record}</Record>",
        f"<DeviceTime>{device_time}</DeviceTime>", '<Alarmstatus Num="0"></Alarmstatus>', "</Response>", ""])


def device_traits(registry: BannerRegistry, lasting: np.random.Generator) -> tuple[np.ndarray, ...]:
    """The banner's answering devices (IP cameras and NVRs), each channel's device, and what holds for each
    device across days: its clock (0 synchronised, 1 drifting, 2 reset) and its Record and Encode flags."""
    owners = [c.device_id if c.type_code == IP_CAMERA else c.parent_id for c in registry.channels]
    devices, owner = np.unique(np.array(owners), return_inverse=True)
    n = devices.size
    clock = lasting.choice(3, size=n, p=(1 - DRIFTING - RESET, DRIFTING, RESET))
    record = np.where(lasting.random(n) < RECORD_OFF, "OFF", "ON")
    encode = np.where(lasting.random(n) < ENCODE_OFF, "OFF", "ON")
    return devices, owner, clock, record, encode


def write_device_status(folder: Path, day: dt.date, registry: BannerRegistry, states: np.ndarray, plan: DayPlan,
                        rng: np.random.Generator, lasting: np.random.Generator) -> dict[str, int]:
    """Write the day's responses; `states` is the day's polls × cameras matrix (status.py), `lasting` the
    banner's stream for what holds across days."""
    if not registry.channels:
        return {"device_status_files": 0}
    devices, owner, clock, record, encode = device_traits(registry, lasting)
    hourly = states[HOURLY_POLLS]  # 24 × cameras
    online = np.zeros((24, devices.size), dtype=bool)
    np.logical_or.at(online, (slice(None), owner), np.isin(hourly, (ONLINE, VIDEO_LOST)))
    defect = np.zeros((24, devices.size), dtype=bool)
    np.logical_or.at(defect, (slice(None), owner), hourly == DEFECT)

    n = devices.size
    offset = np.where(clock == 1, rng.uniform(-DRIFT_OFFSET_S, DRIFT_OFFSET_S, n), rng.normal(0, 1.5, n))
    rate = np.where(clock == 1, rng.uniform(-DRIFT_RATE_S, DRIFT_RATE_S, n), 0.0)
    order = rng.permutation(n)  # the platform queries devices in its own order, spread over ten minutes
    delay = np.empty(n, dtype=int)
    delay[order] = np.arange(n) * QUERY_SPREAD_S // max(n, 1)

    midnight = dt.datetime.combine(day, dt.time())
    nl = registry.platform.newline
    responses: dict[str, bytes] = {}
    sn = int(rng.integers(1, 1_000_000))
    for hour, device in zip(*np.nonzero(online)):
        hour, device = int(hour), int(device)
        received = midnight + dt.timedelta(hours=hour, seconds=int(delay[device]))
        if clock[device] == 2:
            device_time = RESET_TO + dt.timedelta(hours=hour, seconds=int(delay[device]))
        else:
            device_time = received + dt.timedelta(seconds=round(float(offset[device] + rate[device] * hour)))
        sn += 1
        name = f"{received:%Y%m%dT%H%M%S}-{devices[device]}.xml"
        responses[name] = device_status_xml(
            str(devices[device]), sn, f"{device_time:%Y-%m-%dT%H:%M:%S}", nl, "ERROR" if defect[hour, device] else "OK",
            str(encode[device]), str(record[device])).encode("ascii")
    _inject_faults(responses, registry, plan, rng)
    for name, data in responses.items():
        (folder / name).write_bytes(data)
    return {"device_status_files": len(responses)}


def _inject_faults(responses: dict[str, bytes], registry: BannerRegistry, plan: DayPlan, rng: np.random.Generator) -> None:
    """Planned faults, each on one response: cut short, an unregistered device, an unreadable DeviceTime."""
    if not responses:
        return
    names = sorted(responses)

    def victim() -> str:
        return names[int(rng.integers(len(names)))]

    if "truncated_device_status" in plan.faults:
        name = victim()
        responses[name] = responses[name][: responses[name].index(b"<DeviceTime>") + 8]
    if "bad_device_time" in plan.faults:
        name = victim()
        text = responses[name].decode("ascii")
        stamp = text[text.index("<DeviceTime>") + 12 : text.index("</DeviceTime>")]
        responses[name] = text.replace(stamp, stamp[:16].replace("T", " ")).encode("ascii")
    if "unregistered_device_status" in plan.faults:
        name = victim()
        device_id = name[16:36]
        stranger = f"{device_id[:14]}{UNREGISTERED_SERIALS + int(rng.integers(1000)):06d}"
        responses[name[:16] + stranger + ".xml"] = responses[name].replace(device_id.encode(), stranger.encode())
