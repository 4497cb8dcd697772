"""Test helpers that write native landing files by hand (independently of the simulator), and run the
banner-day's real assets on them."""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import fractions
import json
import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import av
import dagster as dg
import numpy as np
import polars as pl
import pytest

from xl_pipelines.banners import load_banners
from xl_pipelines.harvest_scope import HarvestScope
from xl_pipelines.lake import Lake
from xl_pipelines.partitions import banner_day_key, harvest_time
from xl_pipelines.resources import replay_resources
from xl_pipelines.settings import LOCAL_TZ

DAY = dt.date(2026, 11, 20)
BANNER = "150502"
TEST_KEY = "a test key, sixteen characters or more"  # XL_PSEUDONYM_KEY in every test
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


def write_landing(landing: Path, source: str, files: dict[str, bytes], day: dt.date = DAY,
                  code: str = BANNER) -> list[Path]:
    """Drop {file name: bytes} into a source's folder of the banner-day, as an exporter would."""
    folder = landing / source / day.isoformat() / code
    folder.mkdir(parents=True, exist_ok=True)
    for name, data in files.items():
        (folder / name).write_bytes(data)
    return [folder / name for name in files]


def write_catalog(landing: Path, pages: list[bytes], day: dt.date = DAY, code: str = BANNER, sn: int = 7) -> list[Path]:
    return write_landing(landing, "catalog", {f"{day:%Y%m%d}T020000-{sn}-{n}.xml": data
                                              for n, data in enumerate(pages, start=1)}, day, code)


def write_polls(landing: Path, rows_by_time: dict[dt.datetime, list[tuple[str, str]]], day: dt.date = DAY,
                code: str = BANNER) -> list[Path]:
    """One CSV per poll time: {polled_at: [(channel_id, status), …]}."""
    folder = landing / "status" / day.isoformat() / code
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
                        code: str = BANNER) -> list[Path]:
    """One file per (receive time, device ID in the file name, response bytes)."""
    return write_landing(landing, "devicestatus", {f"{received:%Y%m%dT%H%M%S}-{device_id}.xml": data
                                                   for received, device_id, data in responses}, day, code)


def land_banner(landing: Path, code: str, cameras: list[str], status=lambda camera, at: "ON") -> None:
    """A banner-day with one complete catalog page, 288 polls, and an hourly DeviceStatus of each camera
    whose clock is right; `status(camera, at)` spells each poll row."""
    west, south, east, north = load_banners().by_code(code).bbox  # each camera in the middle of its banner
    here = {"lon": f"{(west + east) / 2:.6f}", "lat": f"{(south + north) / 2:.6f}"}
    write_catalog(landing, [catalog_page([catalog_item(c, **here) for c in cameras])], code=code)
    write_polls(landing, {t: [(c, status(c, t)) for c in cameras] for t in POLL_TIMES}, code=code)
    hours = [dt.datetime.combine(DAY, dt.time(h, 0, 30)) for h in range(24)]
    write_device_status(landing, [(t, c, device_status(c, f"{t:%Y-%m-%dT%H:%M:%S}")) for t in hours for c in cameras],
                        code=code)


def harvest_scope(channels=(), devices=(), pairs=(), rejected=(), day: dt.date = DAY, code: str = BANNER,
                  now: dt.datetime | None = None) -> HarvestScope:
    """The scope a harvest function is called with, from lists of IDs; harvested the night after `day`."""
    ids = {name: pl.Series(list(values), dtype=pl.String) for name, values in
           {"channels": channels, "devices": devices, "pairs": pairs, "rejected": rejected}.items()}
    return HarvestScope(code, day, load_banners(), now or harvest_time(day), **ids)


def materialise(landing: Path, lake: Lake, day: dt.date = DAY, code: str = BANNER, storage: Path | None = None,
                now: dt.datetime | None = None) -> dict[str, pl.DataFrame]:
    """The banner-day materialised by the code location's own banner-day assets (with their checks, each table's
    suite included) from `landing` and recording `storage` (default: none) into `lake`; every table of
    the banner-day read back from the lake, by name. `now` is the harvest's time (default: the nightly
    schedule's). Needs XL_HOME and the key (`xl_home`, `private_home`)."""
    from xl_pipelines.definitions import BANNER_DAY_ASSETS

    now = now or harvest_time(day)
    resources = replay_resources(lake.url, landing, storage or landing / "no-storage", now)
    dg.materialize(BANNER_DAY_ASSETS, partition_key=banner_day_key(day, code), resources=resources)
    keys = {"date": day.isoformat(), "banner": code}
    return {".".join(key.path): lake.read(*key.path, keys) for a in BANNER_DAY_ASSETS for key in a.keys}


def run_job(job: str, key: dg.MultiPartitionKey | str | None = None, label: str = f"{DAY} {BANNER}"):
    """One job of the code location executed in this process, as `xl materialize` executes each of its runs
    (runner._run), on an ephemeral instance, with the resources of XL_HOME: its status line (ok / BLOCKED by … /
    FAILED: …) and `Outcome` (checks by status, blocked or failed under `label`). Cheaper than
    `runner.materialize`, which starts a pool of processes and runs every job after the banner-days."""
    from xl_pipelines.runner import Outcome, _run

    outcome = Outcome()
    return _run(job, dg.DagsterInstance.ephemeral(), outcome, label, key), outcome


@contextlib.contextmanager
def private_home(home: Path) -> Iterator[Path]:
    """XL_HOME at `home` (its lake and landing zone under it) and the test key, for the block's duration."""
    with pytest.MonkeyPatch.context() as env:
        env.setenv("XL_HOME", str(home))
        env.delenv("XL_LAKE_URL", raising=False)
        env.delenv("XL_LANDING", raising=False)
        env.setenv("XL_PSEUDONYM_KEY", TEST_KEY)
        yield home


def built_once(tmp_path_factory: pytest.TempPathFactory, name: str, build: Callable[[Path], None]) -> Path:
    """A folder `build` fills once per test session, by whichever xdist worker asks first (the others wait on a
    file lock in the session's shared temporary folder), then only read."""
    root = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        root = root.parent  # pytest-N/, shared by the session's workers (each has its own popen-gwK/ in it)
    folder, built = root / name, root / f"{name}.built"
    with open(root / f"{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not built.exists():
            shutil.rmtree(folder, ignore_errors=True)
            build(folder)
            built.touch()
    return folder


# `make test` hands whole files to two workers in collection order (--no-loadscope-reorder): the files that run
# `xl materialize` or build lakes come first, longest first (by --durations), so none starts last while the other
# worker idles.
LONGEST_FIRST = ("test_pipeline.py", "test_quality_gates.py", "test_definitions.py", "test_simulator.py",
                 "adversarial/test_landing.py", "test_crash_safety.py", "test_blocking.py", "test_instance.py",
                 "test_camera_health.py", "test_receiver.py")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    rank = {Path(__file__).parent / name: n for n, name in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.path, len(rank)))  # stable: each file's tests keep their order


@pytest.fixture
def xl_home(tmp_path) -> Iterator[Path]:
    """A private XL_HOME so tests never touch the developer's lake."""
    with private_home(tmp_path / "xl") as home:
        yield home


FRAME_EVERY_S, GOP = 20, 3  # test segments: one frame every 20 s, a keyframe every third frame


def scene(frame: int, moving: bool = True) -> np.ndarray:
    """A 64×48 test picture: 8×8 blocks of fixed colours, with a white block stepping 8 px a frame."""
    blocks = np.random.default_rng(3).integers(40, 216, (6, 8, 3))
    image = np.kron(blocks, np.ones((8, 8, 1))).astype(np.uint8)
    if moving:
        x = frame * 8 % 64
        image[16:24, x:x + 8] = 255
    return image


def encode_segment(path: Path, seconds: int, picture=scene, faststart: bool = False) -> Path:
    """A real H.264 segment made with PyAV (MP4, or MPEG-TS for a .ts path): `seconds // 20` frames."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), "w", format="mpegts" if path.suffix == ".ts" else "mp4",
                 options={"movflags": "+faststart"} if faststart else {}) as out:
        stream = out.add_stream("libx264", rate=fractions.Fraction(1, FRAME_EVERY_S))
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        stream.options = {"preset": "ultrafast", "crf": "20", "g": str(GOP), "bf": "0"}
        for index in range(seconds // FRAME_EVERY_S):
            frame = av.VideoFrame.from_ndarray(picture(index), format="rgb24")
            frame.pts, frame.time_base = index, fractions.Fraction(FRAME_EVERY_S)
            out.mux(stream.encode(frame))
        out.mux(stream.encode())
    return path


def record_info(channel: str, spans: list[tuple[str, str]], sn: int = 41, encoding: str = "GB2312") -> bytes:
    """A one-page RecordInfo response listing (start, end) recordings, times like 2026-11-20T01:00:00."""
    items = "".join(f"<Item><DeviceID>{channel}</DeviceID><Name>cam</Name><FilePath>/r/{n}.mp4</FilePath>"
                    f"<StartTime>{a}</StartTime><EndTime>{b}</EndTime><Secrecy>0</Secrecy><Type>time</Type>"
                    f"<FileSize>1000</FileSize></Item>" for n, (a, b) in enumerate(spans))
    return (f'<?xml version="1.0" encoding="{encoding}"?>\n<Response><CmdType>RecordInfo</CmdType><SN>{sn}</SN>'
            f"<DeviceID>{channel}</DeviceID><Name>cam</Name><SumNum>{len(spans)}</SumNum>"
            f'<RecordList Num="{len(spans)}">{items}</RecordList></Response>').encode(encoding)


def write_record_info(landing: Path, pages: list[bytes], day: dt.date = DAY, code: str = BANNER) -> list[Path]:
    """One-page answers received just after midnight, each with its own SN."""
    return write_landing(landing, "recordinfo", {f"{day + dt.timedelta(days=1):%Y%m%d}T000100-{100 + n}-1.xml": data
                                                 for n, data in enumerate(pages, start=1)}, day, code)


# GA/T 1400 and ONVIF, written with json.dumps and f-strings (independently of the simulator and parser).
KIND_OBJECTS = {"motor_vehicle": ("/VIID/MotorVehicles", "MotorVehicleListObject", "MotorVehicleObject", "MotorVehicleID", "02"),
                "face": ("/VIID/Faces", "FaceListObject", "FaceObject", "FaceID", "06")}


def capture(kind: str, device: str | None, shot: dt.datetime, serial: int, id_time: dt.datetime | None = None,
            **fields) -> dict:
    """One GA/T 1400 object: its 48-digit ID = device + kind + 14-digit time (`id_time`, default the shot
    time) + serial + type + serial; `device=None` leaves DeviceID out."""
    *_, id_field, kind_code = KIND_OBJECTS[kind]
    object_id = f"{device or '0' * 20}{kind_code}{id_time or shot:%Y%m%d%H%M%S}{serial:05d}01{serial:05d}"
    return {id_field: object_id, **({"DeviceID": device} if device else {}), "InfoKind": 1,
            "ShotTime": f"{shot:%Y%m%d%H%M%S}", **fields}


def post(received: dt.datetime, kind: str, objects: list[dict]) -> str:
    path, envelope, listed, *_ = KIND_OBJECTS[kind]
    return json.dumps({"received_at": received.isoformat(), "path": path, "body": {envelope: {listed: objects}}},
                      ensure_ascii=False)


def write_post_logs(landing: Path, lines_by_hour: dict[int, list[str | bytes]], day: dt.date = DAY,
                    code: str = BANNER) -> list[Path]:
    """`viid/<date>/<code>/<HH>.jsonl` files: {hour: [line, …]} (bytes lines are written as they are)."""
    return write_landing(landing, "viid", {f"{hour:02d}.jsonl": b"".join(
        (line if isinstance(line, bytes) else line.encode()) + b"\n" for line in lines) for hour, lines in lines_by_hour.items()},
        day, code)


def onvif_document(frames: list[tuple[str, list[tuple[str, str, str | None]]]]) -> bytes:
    """A MetadataStream: [(UtcTime, [(ObjectId, class Type, plate or None), …]), …]."""
    def obj(ref, cls, plate):
        plate_xml = (f"<tt:LicensePlateInfo><tt:PlateNumber Likelihood=\"0.9\">{plate}</tt:PlateNumber>"
                     "</tt:LicensePlateInfo>") if plate else ""
        return (f'<tt:Object ObjectId="{ref}"><tt:Appearance><tt:Class><tt:Type Likelihood="0.8">{cls}</tt:Type>'
                f"</tt:Class>{plate_xml}</tt:Appearance></tt:Object>")
    body = "".join(f'<tt:Frame UtcTime="{utc}">{"".join(obj(*o) for o in objects)}</tt:Frame>' for utc, objects in frames)
    return ('<?xml version="1.0" encoding="UTF-8"?>\n<tt:MetadataStream xmlns:tt="http://www.onvif.org/ver10/schema">'
            f"<tt:VideoAnalytics>{body}</tt:VideoAnalytics></tt:MetadataStream>").encode()


def write_onvif(landing: Path, channel: str, received: dt.datetime, document: bytes, day: dt.date = DAY,
                code: str = BANNER) -> Path:
    folder = landing / "onvif" / day.isoformat() / code / channel
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{received:%Y%m%dT%H%M%S}.xml").write_bytes(document)
    return folder / f"{received:%Y%m%dT%H%M%S}.xml"


def screenshot(page: Path, folder: Path, width: int, height: int) -> np.ndarray:
    """`page` drawn by Debian's Chromium, headless, with the network off (a proxy that does not exist): its pixels
    (height × width × RGB, int), read back from the PNG with PyAV."""
    import subprocess

    png = folder / "screenshot.png"
    subprocess.run(["chromium", "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-sync",
                    "--disable-background-networking", "--disable-component-update", "--disable-quic",
                    f"--user-data-dir={folder / 'profile'}", "--hide-scrollbars", f"--window-size={width},{height}",
                    "--proxy-server=127.0.0.1:9", f"--screenshot={png}", page.as_uri()],
                   check=True, capture_output=True, timeout=120)
    with av.open(str(png)) as container:
        return next(container.decode(video=0)).to_ndarray(format="rgb24").astype(int)
