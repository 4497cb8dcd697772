"""A banner-day of detection metadata: GA/T 1400 POST logs from the checkpoint cameras, ONVIF documents.

The catalog's capture cameras (FunctionType 01 face, 02 person, 03 motor vehicle, 04 non-motor) capture
through the day on their road's rhythm: a mix of a commuter profile (peaks at 07–09 and 17–19) and a flat
one, per camera. Lasting traits per camera: its volume, its rhythm, a clock running ahead (3 %), batch
uploads minutes late (2 %), and ONVIF analytics instead of GA/T 1400 (5 %, smaller volumes). Each day some
cameras are silent (3 %) or drop to a fifth of their volume (3 %), and about one POST in 300 is re-sent.
Vehicles carry plates from the banner's own fleet (mostly 蒙G, Tongliao's prefix), a few faces carry a
name and an ID number, some images their bytes: the personal data the harvest must never let through.

Everything is drawn per column with NumPy and encoded to JSON by Polars (`struct.json_encode`), so a city
day of twenty million captures is written in minutes. Lines are written in the order they were received,
one file per receive hour; a capture received after midnight belongs to the next day's files and is not
written (each day is simulated on its own).
"""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import re
import zlib
from pathlib import Path

import numpy as np
import polars as pl

from xl_pipelines.settings import ConfigError
from xl_pipelines.simulator.city import UNREGISTERED_SERIALS, BannerRegistry
from xl_pipelines.simulator.faults import DayPlan
from xl_pipelines.simulator.seeding import stream

KINDS = {"01": "face", "02": "person", "03": "motor_vehicle", "04": "non_motor"}
# kind → (POST path, list envelope, object list, ID field, ID kind code, share of a checkpoint's volume)
ENVELOPES = {
    "motor_vehicle": ("/VIID/MotorVehicles", "MotorVehicleListObject", "MotorVehicleObject", "MotorVehicleID", "02", 1.0),
    "face": ("/VIID/Faces", "FaceListObject", "FaceObject", "FaceID", "06", 0.5),
    "person": ("/VIID/Persons", "PersonListObject", "PersonObject", "PersonID", "01", 0.3),
    "non_motor": ("/VIID/NonMotorVehicles", "NonMotorVehicleListObject", "NonMotorVehicleObject", "NonMotorVehicleID",
                  "03", 0.5),
}
ONVIF_CLASSES = {"motor_vehicle": "Vehicle", "face": "Face", "person": "Human", "non_motor": "Bike"}
CLOCK_AHEAD, LATE_UPLOADER, ONVIF_SHARE = 0.03, 0.02, 0.05
ONVIF_VOLUME, ONVIF_WINDOW_S = 0.1, 30  # ONVIF cameras see a tenth as much; one document per 30 s with objects
SILENT, DROP, DROP_FACTOR, RESENT = 0.03, 0.03, 0.2, 1 / 300
IDENTIFIED_FACES, IMAGES_WITH_DATA = 0.05, 0.02
CHUNK_CAPTURES = 250_000
COMMUTER = np.array([2, 1, 1, 1, 2, 5, 12, 20, 18, 12, 10, 10, 11, 10, 10, 11, 14, 20, 18, 12, 9, 7, 5, 3], float)
PROVINCES = ["蒙G"] * 17 + ["蒙A", "蒙B", "蒙K", "吉A", "辽A", "黑A"]  # Tongliao's own plates first
PLATE_LETTERS = np.array(list("ABCDEFGHJKLMNPQRSTUVWXYZ"))
SURNAMES = np.array(list("王李张刘陈杨赵黄周吴包白宝韩"))
GIVEN = np.array(["秀英", "桂兰", "建国", "金花", "志强", "海燕", "巴特尔", "其其格", "那仁", "玉兰"])


def capture_cameras(registry: BannerRegistry, seed: int) -> pl.DataFrame:
    """The banner's capture cameras with their lasting traits (drawn from the registry as first built)."""
    cams = [(c.device_id, KINDS[c.function_type]) for c in registry.channels if c.function_type in KINDS]
    rng = stream(seed, "capture_traits", registry.banner.code)
    n = len(cams)
    return pl.DataFrame({
        "device_id": [c for c, _ in cams], "kind": [k for _, k in cams],
        "volume": rng.lognormal(0, 0.6, n), "commuter": rng.uniform(0.2, 1, n), "shift": rng.integers(-1, 2, n),
        "clock_ahead_s": np.where(rng.random(n) < CLOCK_AHEAD, rng.uniform(90, 600, n), 0.0),
        "late_s": np.where(rng.random(n) < LATE_UPLOADER, rng.uniform(120, 1200, n), 0.0),
        "onvif": rng.random(n) < ONVIF_SHARE,
    }, schema_overrides={"device_id": pl.String, "kind": pl.String, "volume": pl.Float64, "commuter": pl.Float64,
                         "shift": pl.Int64, "clock_ahead_s": pl.Float64, "late_s": pl.Float64, "onvif": pl.Boolean})


def fleet(code: str, size: int, seed: int) -> np.ndarray:
    """The plates of the vehicles on the banner's roads (mostly its own)."""
    rng = stream(seed, "fleet", code)
    provinces = np.array(PROVINCES)[rng.integers(0, len(PROVINCES), size)]
    letters = PLATE_LETTERS[rng.integers(0, len(PLATE_LETTERS), (size, 2))]
    digits = rng.integers(0, 10, (size, 3)).astype(str)
    tail = np.char.add(np.char.add(letters[:, 0], digits[:, 0]), np.char.add(np.char.add(digits[:, 1], letters[:, 1]),
                                                                          digits[:, 2]))
    return np.char.add(provinces, tail)


def day_captures(registry: BannerRegistry, cameras: pl.DataFrame, day: dt.date, per_camera: float,
                 seed: int) -> pl.DataFrame:
    """One row per capture of the day: camera, kind, true time (s after midnight), shot and received seconds."""
    present = cameras.filter(pl.col("device_id").is_in([c.device_id for c in registry.channels]))
    rng = stream(seed, "captures", registry.banner.code, day)
    n = present.height
    share = present["kind"].replace_strict({k: v[-1] for k, v in ENVELOPES.items()}, return_dtype=pl.Float64).to_numpy()
    weekday = 0.85 if day.weekday() >= 5 else 1.0
    expected = per_camera * share * present["volume"].to_numpy() * weekday * np.where(present["onvif"], ONVIF_VOLUME, 1)
    today = np.where(rng.random(n) < SILENT, 0, np.where(rng.random(n) < DROP, DROP_FACTOR, 1.0))
    counts = rng.poisson(expected * today)
    cam = np.repeat(np.arange(n), counts)
    profiles = present["commuter"].to_numpy()[:, None] * COMMUTER / COMMUTER.sum() + (
        1 - present["commuter"].to_numpy()[:, None]) / 24
    profiles = np.stack([np.roll(p, s) for p, s in zip(profiles, present["shift"], strict=True)]) if n else profiles
    cdf = np.cumsum(profiles, axis=1)
    hour = (cdf[cam] < rng.random(cam.size)[:, None] * cdf[cam, -1:]).sum(axis=1)
    true_s = np.minimum(hour, 23) * 3600 + rng.uniform(0, 3600, cam.size)
    delay = 0.3 + rng.exponential(2.0, cam.size) + np.where(rng.random(cam.size) < 0.01, rng.uniform(30, 300, cam.size), 0)
    frame = pl.DataFrame({"cam": cam, "true_s": true_s, "received_s": true_s + delay + present["late_s"].to_numpy()[cam]})
    frame = frame.join(present.with_row_index("cam").with_columns(pl.col("cam").cast(pl.Int64)), on="cam",
                       maintain_order="left")
    frame = frame.with_columns(
        shot_s=(pl.col("true_s") + pl.col("clock_ahead_s")).floor(),
        serial=pl.int_range(pl.len()).over("cam") % 100_000,
    ).filter(pl.col("received_s") < 86_400).sort("received_s")
    return frame


def _text(*parts: str | pl.Expr) -> pl.Expr:
    """Literal text and columns joined (pl.format would read JSON's braces as placeholders)."""
    return pl.concat_str([pl.lit(p) if isinstance(p, str) else p for p in parts])


def _clock(day: dt.date, seconds: pl.Expr, fmt: str) -> pl.Expr:
    start = dt.datetime.combine(day, dt.time())
    return (pl.lit(start) + pl.duration(milliseconds=(seconds * 1000).cast(pl.Int64))).dt.strftime(fmt)


def post_lines(captures: pl.DataFrame, day: dt.date, code: str, faults: frozenset[str], plates: np.ndarray,
               rng: np.random.Generator) -> pl.DataFrame:
    """`received_s` and the JSON `line` of every POST (the objects a camera shot in the same second), with
    `faults` (the day's, in the hour that carries them)."""
    n = captures.height
    vehicle = np.minimum((rng.random(n) ** 2 * plates.size).astype(int), plates.size - 1)
    frame = captures.with_columns(
        shot=_clock(day, pl.col("shot_s"), "%Y%m%d%H%M%S"),
        plate=pl.Series(plates[vehicle]),
        identified=pl.Series(rng.random(n) < IDENTIFIED_FACES) & pl.col("kind").is_in(["face", "person"]),
        name=pl.Series(SURNAMES[rng.integers(0, SURNAMES.size, n)]) + pl.Series(GIVEN[rng.integers(0, GIVEN.size, n)]),
        id_number=pl.lit(code) + pl.Series(rng.integers(1950, 2006, n)).cast(pl.String)
        + pl.Series(rng.integers(10_000_000, 99_999_999, n)).cast(pl.String),
        data=pl.when(pl.Series(rng.random(n) < IMAGES_WITH_DATA)).then(pl.lit(base64.b64encode(bytes(range(48))).decode())),
        speed=pl.Series(rng.integers(15, 90, n)), lane=pl.Series(rng.integers(1, 4, n)),
        colour=pl.Series(rng.choice(["1", "2", "3", "5", "9"], n)),
    )
    if "id_time_mismatch" in faults and n:
        odd = captures["device_id"][int(rng.integers(n))]
        frame = frame.with_columns(id_shot=pl.when(pl.col("device_id") == odd).then(
            _clock(day, pl.col("shot_s") - 3, "%Y%m%d%H%M%S")).otherwise("shot"))
    else:
        frame = frame.with_columns(id_shot=pl.col("shot"))
    lines = []
    for kind, (path, envelope, listed, id_field, kind_code, _) in ENVELOPES.items():
        part = frame.filter(pl.col("kind") == kind)
        if part.is_empty():
            continue
        object_id = pl.concat_str("device_id", pl.lit(kind_code), "id_shot", pl.col("serial").cast(pl.String).str.zfill(5),
                                  pl.lit("01"), pl.col("serial").cast(pl.String).str.zfill(5))
        image = pl.struct(ImageID=object_id, Type=pl.lit("14"), StoragePath=pl.lit("http://10.15.0.8/viid/pic/") + object_id,
                          ShotTime="shot", Width=pl.lit(1920), Height=pl.lit(1080))
        fields = {id_field: object_id, "DeviceID": pl.col("device_id"), "InfoKind": pl.lit(1), "ShotTime": pl.col("shot")}
        if kind == "motor_vehicle":
            fields |= {"PlateNo": pl.col("plate"), "PlateColor": pl.lit("5"), "VehicleColor": pl.col("colour"),
                       "VehicleClass": pl.lit("K33"), "Speed": pl.col("speed"), "Direction": pl.lit("1"),
                       "TollgateID": pl.col("device_id"), "LaneNo": pl.col("lane")}
        plain = pl.struct(**fields, SubImageList=pl.struct(SubImageInfoObject=pl.concat_list(image)))
        with_data = pl.struct(**fields, SubImageList=pl.struct(SubImageInfoObject=pl.concat_list(
            image.struct.with_fields(Data=pl.col("data")))))
        identified = pl.struct(**fields, Name=pl.col("name"), IDNumber=pl.col("id_number"),
                               SubImageList=pl.struct(SubImageInfoObject=pl.concat_list(image)))
        encoded = (pl.when(pl.col("identified")).then(identified.struct.json_encode())
                   .when(pl.col("data").is_not_null()).then(with_data.struct.json_encode())
                   .otherwise(plain.struct.json_encode()))
        # one POST per camera and shot second: a frame's faces (or a convoy's plates) travel together
        posts = part.with_columns(object=encoded).group_by("cam", "shot_s").agg(
            pl.col("object").str.join(","), pl.col("received_s").max())
        lines.append(posts.select("received_s", path=pl.lit(path), body=_text(
            f'{{"{envelope}":{{"{listed}":[', pl.col("object"), "]}}")))
    posts = (pl.concat(lines) if lines else pl.DataFrame(schema={"received_s": pl.Float64, "path": pl.String,
                                                                 "body": pl.String})).sort("received_s", "body")
    cut = int(rng.integers(posts.height)) if "malformed_post_line" in faults and posts.height else -1
    posts = posts.with_columns(cut=pl.int_range(pl.len()) == cut)  # the receiver crashed while logging this one
    resent = posts.filter(pl.Series(rng.random(posts.height) < RESENT) & ~pl.col("cut"))
    resent = resent.with_columns(received_s=pl.col("received_s") + pl.Series(rng.uniform(5, 120, resent.height)))
    posts = pl.concat([posts, resent, _odd_posts(captures, day, code, faults, plates, rng)]).filter(pl.col("received_s") < 86_400)
    line = _text('{"received_at":"', _clock(day, pl.col("received_s"), "%Y-%m-%dT%H:%M:%S%.3f+08:00"), '","path":"',
                 pl.col("path"), '","body":', pl.col("body"), "}")
    return posts.sort("received_s", "body").select(
        "received_s", line=pl.when(pl.col("cut")).then(line.str.slice(0, line.str.len_chars() // 2)).otherwise(line))


def _odd_posts(captures: pl.DataFrame, day: dt.date, code: str, faults: frozenset[str], plates: np.ndarray,
               rng: np.random.Generator) -> pl.DataFrame:
    """The planned faults that add a POST of their own: an object without DeviceID, an unregistered camera,
    misrouted POSTs (a body under the wrong envelope; the search fields sent as a query string). Each carries
    a plate, and the query string an ID number and a name too: the quarantine must hold none of them in clear."""
    odd = []
    at = float(captures["received_s"].min()) if captures.height else 12 * 3600.0
    shot = (dt.datetime.combine(day, dt.time()) + dt.timedelta(seconds=int(at) - 2)).strftime("%Y%m%d%H%M%S")
    some = captures["device_id"][0] if captures.height else f"{code}0000132000000001"
    stranger = f"{some[:14]}{UNREGISTERED_SERIALS + int(rng.integers(1000)):06d}"
    plate = str(plates[rng.integers(plates.size)]) if plates.size else "蒙G00000"
    name = str(SURNAMES[rng.integers(SURNAMES.size)]) + str(GIVEN[rng.integers(GIVEN.size)])
    id_number = f"{code}{int(rng.integers(1950, 2006))}{int(rng.integers(10_000_000, 99_999_999))}"
    if "post_without_device" in faults:
        odd.append(("/VIID/MotorVehicles", '{"MotorVehicleListObject":{"MotorVehicleObject":[{"MotorVehicleID":"'
                    f'{some}02{shot}9999901999999","InfoKind":1,"ShotTime":"{shot}","PlateNo":"{plate}"}}]}}}}'))
    if "unregistered_capture_device" in faults:
        odd.append(("/VIID/MotorVehicles", '{"MotorVehicleListObject":{"MotorVehicleObject":[{"MotorVehicleID":"'
                    f'{stranger}02{shot}0000101000001","DeviceID":"{stranger}","InfoKind":1,"ShotTime":"{shot}",'
                    f'"PlateNo":"{plate}"}}]}}}}'))
    if "wrong_envelope" in faults:
        vehicle = ('{"MotorVehicleListObject":{"MotorVehicleObject":[{"MotorVehicleID":"'
                   f'{some}02{shot}0000201000002","DeviceID":"{some}","InfoKind":1,"ShotTime":"{shot}","PlateNo":"{plate}"}}]}}}}')
        odd += [("/VIID/Faces", vehicle), (f"/VIID/MotorVehicles?PlateNo={plate}&IDNumber={id_number}&Name={name}", vehicle)]
    return pl.DataFrame({"received_s": [at] * len(odd), "path": [p for p, _ in odd], "body": [b for _, b in odd],
                         "cut": [False] * len(odd)},
                        schema={"received_s": pl.Float64, "path": pl.String, "body": pl.String, "cut": pl.Boolean})


def onvif_documents(captures: pl.DataFrame, day: dt.date, plan: DayPlan, seed: int, code: str) -> pl.DataFrame:
    """One MetadataStream per camera and 30-s window with objects: `channel`, `received` name, `xml`."""
    rng = stream(seed, "onvif", code, day)
    utc = (pl.lit(dt.datetime.combine(day, dt.time()) - dt.timedelta(hours=8))
           + pl.duration(milliseconds=(pl.col("shot_s") * 1000).cast(pl.Int64))).dt.strftime("%Y-%m-%dT%H:%M:%S%.3fZ")
    plates = fleet(code, 2_000, seed)
    frames = captures.with_columns(
        window=(pl.col("true_s") // ONVIF_WINDOW_S).cast(pl.Int64),
        plate=pl.Series(plates[rng.integers(0, plates.size, captures.height)]),
        likelihood=pl.Series(rng.uniform(0.55, 0.99, captures.height)).round(2),
    ).with_columns(xml=_text(
        '<tt:Frame UtcTime="', utc, '"><tt:Object ObjectId="', pl.col("serial").cast(pl.String),
        '"><tt:Appearance><tt:Class><tt:Type Likelihood="', pl.col("likelihood").cast(pl.String), '">',
        pl.col("kind").replace_strict(ONVIF_CLASSES), "</tt:Type></tt:Class>",
        pl.when(pl.col("kind") == "motor_vehicle").then(_text(
            '<tt:LicensePlateInfo><tt:PlateNumber Likelihood="0.9">', pl.col("plate"),
            "</tt:PlateNumber></tt:LicensePlateInfo>")).otherwise(pl.lit("")),
        "</tt:Appearance></tt:Object></tt:Frame>"))
    docs = frames.sort("true_s").group_by("device_id", "window", maintain_order=True).agg(pl.col("xml").str.join(""))
    received = pl.lit(dt.datetime.combine(day, dt.time())) + pl.duration(
        seconds=(pl.col("window") + 1) * ONVIF_WINDOW_S + pl.Series(rng.integers(1, 4, docs.height)))
    docs = docs.with_columns(received=received).filter(pl.col("received").dt.date() == day).select(
        "device_id", pl.col("received").dt.strftime("%Y%m%dT%H%M%S"), xml=_text(
            '<?xml version="1.0" encoding="UTF-8"?>\n<tt:MetadataStream xmlns:tt="http://www.onvif.org/ver10/schema">'
            "<tt:VideoAnalytics>", pl.col("xml"), "</tt:VideoAnalytics></tt:MetadataStream>"))
    if "truncated_onvif" in plan.faults and docs.height:
        cut = int(rng.integers(docs.height))
        docs = docs.with_columns(xml=pl.when(pl.int_range(pl.len()) == cut).then(pl.col("xml").str.slice(0, 200))
                                 .otherwise("xml"))
    return docs


def _hour_chunks(captures: pl.DataFrame) -> list[list[int]]:
    """The day's 24 hours in consecutive runs of about CHUNK_CAPTURES captures (a quiet banner: one run)."""
    counts = captures.group_by("hour").len()
    per_hour = dict(zip(counts["hour"], counts["len"], strict=True))
    chunks, current, size = [], [], 0
    for hour in range(24):
        current.append(hour)
        size += per_hour.get(hour, 0)
        if size >= CHUNK_CAPTURES or hour == 23:
            chunks.append(current)
            current, size = [], 0
    return chunks


LINE = re.compile(r'^\{"received_at":"([^"]*)","path":"(.*?)","body":(.*?)\}?$', re.S)
DEVICE = re.compile(r'"DeviceID":"(\d+)"')
LANES = 16  # concurrent POSTs to a receiver; one camera's POSTs always go in order, on one lane


def post_via(url: str, lines: list[bytes], sender: str) -> None:
    """POST each log line's body to a receiver run with `xl receive --replay`, with the line's receive time, the
    way its camera would have (a camera's POSTs in their order, naming it in User-Identify; cameras side by side);
    `sender` stands for the camera of a POST that names none. A line in GBK bytes is sent so, declared."""
    import httpx

    lanes: list[list[tuple[str, str, bytes, bytes, str]]] = [[] for _ in range(LANES)]
    for raw in lines:
        charset = b"utf-8"
        try:
            text = raw.decode()
        except UnicodeDecodeError:
            text, charset = raw.decode("gb18030"), b"GBK"
        received, path, body = LINE.match(text).groups()
        device = DEVICE.search(body)
        device = device.group(1) if device else sender
        lanes[zlib.crc32(device.encode()) % LANES].append(
            (received, path, body.encode("gb18030" if charset == b"GBK" else "utf-8"), charset, device))

    async def lane(client: httpx.AsyncClient, posts) -> None:
        for received, path, body, charset, device in posts:
            answer = await client.post(path, content=body, headers={
                "X-XL-Received-At": received, "Content-Type": "application/json;charset=" + charset.decode(),
                "User-Identify": device})
            if answer.status_code >= 500 or answer.status_code in (401, 404):
                raise ConfigError(f"the receiver at {url} answered {answer.status_code} to a POST to {path.split('?')[0]}")

    async def run() -> None:
        async with httpx.AsyncClient(base_url=url, timeout=30) as client:
            await asyncio.gather(*(lane(client, posts) for posts in lanes if posts))

    try:
        asyncio.run(run())
    except httpx.HTTPError as exc:
        raise ConfigError(f"cannot post to the receiver at {url} ({type(exc).__name__}): is `xl receive --replay` "
                          "running there?") from None


def write_captures(viid: Path, onvif: Path, day: dt.date, registry: BannerRegistry, cameras: pl.DataFrame,
                   per_camera: float, plan: DayPlan, seed: int, via: str | None = None) -> dict[str, int]:
    """Write the banner-day's POST logs (`<HH>.jsonl` under `viid`) and ONVIF documents (`<channel>/<recv>.xml`
    under `onvif`); return counts. With `via` (a receiver's URL) the POSTs are sent to it instead, and it writes
    the logs."""
    code = registry.banner.code
    captures = day_captures(registry, cameras, day, per_camera, seed)
    posted = captures.filter(~pl.col("onvif")).with_columns(hour=(pl.col("received_s") // 3600).cast(pl.Int64))
    busiest = posted["hour"].mode().min() if posted.height else 12  # the hour that carries the day's faults
    plates = fleet(code, max(2_000, posted.height // 3), seed)
    written, carried = 0, pl.DataFrame(schema={"received_s": pl.Float64, "line": pl.String})
    for hours in _hour_chunks(posted):  # a busy banner an hour or two at a time: its day never sits in memory as text
        faults = plan.faults if busiest in hours else frozenset()
        lines = pl.concat([carried, post_lines(posted.filter(pl.col("hour").is_in(hours)), day, code, faults, plates,
                                               stream(seed, "capture_fields", code, day, hours[0]))])
        due = lines["received_s"] < (hours[-1] + 1) * 3600
        carried = lines.filter(~due)  # a POST or re-send received after the chunk's last hour goes to its own file
        by_hour = lines.filter(due).sort("received_s").group_by(
            (pl.col("received_s") // 3600).cast(pl.Int64).alias("hour"), maintain_order=True).agg(pl.col("line").str.join("\n"))
        if via:  # the chunk's hours in one go
            post_via(via, [line.encode() for _, text in by_hour.iter_rows() for line in text.split("\n")],
                     posted["device_id"][0])
        else:
            for hour, text in by_hour.iter_rows():
                (viid / f"{hour:02d}.jsonl").write_bytes(text.encode() + b"\n")
        written += int(due.sum())
    if "wrong_encoding_post" in plan.faults and posted.height:
        some = captures["device_id"][0]
        gbk = (('{"received_at":"' + f"{day}T{busiest:02d}:59:59.000+08:00" + '","path":"/VIID/Faces","body":'
                       '{"FaceListObject":{"FaceObject":[{"FaceID":"' + f"{some}06{day:%Y%m%d}{busiest:02d}5958000010100"
                       f'0001","DeviceID":"{some}","ShotTime":"{day:%Y%m%d}{busiest:02d}5958","Name":"王建国",'
                       f'"IDNumber":"{code}19780304{busiest:02d}17"}}]}}}}\n'
                       ).encode("gbk"))
        if via:  # a camera that sends GBK, declared (a receiver that logged it so, undeclared, in the file)
            post_via(via, [gbk.rstrip(b"\n")], some)
        else:
            with (viid / f"{busiest:02d}.jsonl").open("ab") as out:
                out.write(gbk)
    docs = onvif_documents(captures.filter(pl.col("onvif")), day, plan, seed, code)
    for device_id, received, xml in docs.iter_rows():
        folder = onvif / device_id
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"{received}.xml").write_text(xml, encoding="utf-8")
    return {"capture_objects": captures.height, "capture_posts": written, "onvif_documents": docs.height}


KEEPALIVE_S = 60  # GA/T 1400's default keepalive interval


def write_keepalives(folder: Path, day: dt.date, registry: BannerRegistry, cameras: pl.DataFrame, states: np.ndarray,
                     online: tuple[int, ...], poll_s: int, rng: np.random.Generator) -> dict[str, int]:
    """The keepalive logs `xl receive` would have written for the banner's GA/T 1400 capture cameras
    (`<HH>.jsonl` under `folder`): one keepalive a minute at the camera's own second while the status matrix
    says it is up (`online` states; `states` is polls × the registry's channels), a register after each time
    it was down."""
    index = {c.device_id: i for i, c in enumerate(registry.channels)}
    pushing = cameras.filter(~pl.col("onvif") & pl.col("device_id").is_in(list(index)))["device_id"].to_list()
    if not pushing:
        return {"keepalives": 0}
    columns = np.array([index[d] for d in pushing])
    phase = rng.uniform(0, KEEPALIVE_S, len(pushing))
    at = phase[None, :] + KEEPALIVE_S * np.arange(86_400 // KEEPALIVE_S)[:, None]  # minutes × cameras
    up = np.isin(states[(at // poll_s).astype(int), columns[None, :]], online)
    came_back = up & ~np.vstack([up[:1], up[:-1]])
    alive = np.nonzero(up.ravel())[0]
    start = dt.datetime.combine(day, dt.time())
    lines = pl.DataFrame({
        "at": pl.Series(at.ravel()[alive] * 1e6).cast(pl.Int64).cast(pl.Duration("us")) + start,
        "device_id": np.array(pushing)[alive % len(pushing)],
        "event": np.where(came_back.ravel()[alive], "register", "keepalive"),
    }).sort("at")
    lines = lines.with_columns(hour=pl.col("at").dt.hour(), line=pl.concat_str(
        pl.lit('{"received_at": "'), pl.col("at").dt.strftime("%Y-%m-%dT%H:%M:%S%.3f+08:00"),
        pl.lit('", "device_id": "'), "device_id", pl.lit('", "event": "'), "event", pl.lit('"}')))
    for (hour,), rows in lines.group_by("hour", maintain_order=True):
        (folder / f"{hour:02d}.jsonl").write_text("\n".join(rows["line"]) + "\n", encoding="utf-8")
    return {"keepalives": lines.height}
