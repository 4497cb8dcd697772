"""Test helpers that write native landing files by hand (independently of the simulator)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from xl_pipelines.banners import load_banners
from xl_pipelines.settings import LOCAL_TZ

DAY = dt.date(2026, 11, 20)
BANNER = "150502"
POLL_TIMES = [dt.datetime.combine(DAY, dt.time(), LOCAL_TZ) + dt.timedelta(minutes=5 * i) for i in range(288)]


def camera_id(serial: int, prefix: str = "15050200", type_code: str = "132") -> str:
    return f"{prefix}00{type_code}0{serial:06d}"


def catalog_item(device_id: str, name: str = "科尔沁区建国路与明仁大街交叉口", lon: str | None = "122.25",
                 lat: str | None = "43.62", extra: str = "",
                 info: str = "<PointType>2</PointType><RecordSaveDays>30</RecordSaveDays>") -> str:
    coords = (f"<Longitude>{lon}</Longitude>" if lon is not None else "") + (
        f"<Latitude>{lat}</Latitude>" if lat is not None else "")
    return (f"<Item><DeviceID>{device_id}</DeviceID><Name>{name}</Name><CivilCode>150502</CivilCode>"
            f"<Status>ON</Status>{coords}<Info>{info}</Info>{extra}</Item>")


def catalog_page(items: list[str], sn: int = 7, sum_num: int | None = None, encoding: str = "GB2312") -> bytes:
    body = (f'<?xml version="1.0" encoding="{encoding}"?>\n<Response><CmdType>Catalog</CmdType><SN>{sn}</SN>'
            f"<DeviceID>15050200002000000001</DeviceID><SumNum>{len(items) if sum_num is None else sum_num}</SumNum>"
            f'<DeviceList Num="{len(items)}">{"".join(items)}</DeviceList></Response>')
    return body.encode(encoding)


def catalog_notify(items: list[str], sn: int = 900, encoding: str = "GB2312") -> bytes:
    """A catalog change notification; each item carries its <Event>."""
    body = (f'<?xml version="1.0" encoding="{encoding}"?>\n<Notify><CmdType>Catalog</CmdType><SN>{sn}</SN>'
            f"<DeviceID>15050200002000000001</DeviceID><SumNum>{len(items)}</SumNum>"
            f'<DeviceList Num="{len(items)}">{"".join(items)}</DeviceList></Notify>')
    return body.encode(encoding)


def write_catalog(landing: Path, pages: list[bytes], day: dt.date = DAY, banner: str = BANNER, sn: int = 7) -> list[Path]:
    folder = landing / "catalog" / day.isoformat() / banner
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for n, data in enumerate(pages, start=1):
        path = folder / f"{day:%Y%m%d}T020000-{sn}-{n}.xml"
        path.write_bytes(data)
        paths.append(path)
    return paths


def write_polls(landing: Path, rows_by_time: dict[dt.datetime, list[tuple[str, str]]], day: dt.date = DAY,
                banner: str = BANNER) -> list[Path]:
    """One CSV per poll time: {polled_at: [(channel_id, status), …]}."""
    folder = landing / "status" / day.isoformat() / banner
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for at, rows in rows_by_time.items():
        path = folder / f"{at:%H%M}.csv"
        path.write_text("channel_id,polled_at,status\n" + "".join(f"{c},{at.isoformat()},{s}\n" for c, s in rows))
        paths.append(path)
    return paths


def device_status(device_id: str, device_time: str | None, record: str = "ON", encoding: str = "GB2312",
                  result: str = "OK") -> bytes:
    """A DeviceStatus response; `device_time` like 2026-11-20T10:00:00 (None: left out, as an ERROR answer does)."""
    clock = f"<DeviceTime>{device_time}</DeviceTime>" if device_time is not None else ""
    return (f'<?xml version="1.0" encoding="{encoding}"?>\n<Response><CmdType>DeviceStatus</CmdType><SN>3</SN>'
            f"<DeviceID>{device_id}</DeviceID><Result>{result}</Result><Online>ONLINE</Online><Status>OK</Status>"
            f"<Encode>ON</Encode><Record>{record}</Record>{clock}</Response>").encode(encoding)


def write_device_status(landing: Path, responses: list[tuple[dt.datetime, str, bytes]], day: dt.date = DAY,
                        banner: str = BANNER) -> list[Path]:
    """One file per (receive time, device ID in the file name, response bytes)."""
    folder = landing / "devicestatus" / day.isoformat() / banner
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for received, device_id, data in responses:
        path = folder / f"{received:%Y%m%dT%H%M%S}-{device_id}.xml"
        path.write_bytes(data)
        paths.append(path)
    return paths


def land_banner(landing: Path, banner: str, cameras: list[str], status=lambda camera, at: "ON") -> None:
    """A banner-day with one complete catalog page, 288 polls, and an hourly DeviceStatus of each camera
    whose clock is right; `status(camera, at)` spells each poll row."""
    west, south, east, north = load_banners().by_code(banner).bbox  # each camera in the middle of its banner
    here = {"lon": f"{(west + east) / 2:.6f}", "lat": f"{(south + north) / 2:.6f}"}
    write_catalog(landing, [catalog_page([catalog_item(c, **here) for c in cameras])], banner=banner)
    write_polls(landing, {t: [(c, status(c, t)) for c in cameras] for t in POLL_TIMES}, banner=banner)
    hours = [dt.datetime.combine(DAY, dt.time(h, 0, 30)) for h in range(24)]
    write_device_status(landing, [(t, c, device_status(c, f"{t:%Y-%m-%dT%H:%M:%S}")) for t in hours for c in cameras],
                        banner=banner)


@pytest.fixture
def xl_home(tmp_path, monkeypatch) -> Path:
    """A private XL_HOME so tests never touch the developer's lake."""
    monkeypatch.setenv("XL_HOME", str(tmp_path / "xl"))
    monkeypatch.delenv("XL_LAKE_URL", raising=False)
    monkeypatch.delenv("XL_LANDING", raising=False)
    return tmp_path / "xl"
