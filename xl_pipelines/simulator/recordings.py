"""A banner-day of recordings: segment files made by PyAV on the media server, and RecordInfo index pages.

A camera records while it is online (not while its video is lost) and its device's recording plan is on
(devicestatus.py's Record flag). The media server cuts one segment per hour, or per stretch of the hour
the camera recorded, as `<channel>/<date>/HH-MM-SS.mp4` (ZLMediaKit's layout); a few cameras' platforms
write MPEG-TS. Only a share of the cameras are recorded on the media server the harvester reads (at least
two per banner); every device answers the nightly RecordInfo query for each channel, from its own index.

Segments are small (160×90, one frame every 20 s, a keyframe every ten minutes) and made once per (length,
container, picture): every camera-hour of the same kind is a copy of the same bytes. A camera with an
image fault (one of the twelve kinds, made by degradations.py as the benchmark makes them) shows it every
day, except the two the diagnosis sees only against the camera's own earlier sound days: a colour cast and
a turned view (scene change) come each Thursday and are put right each Monday. Storage keeps each camera's
recordings for a number of days (some keep fewer than they must): the oldest day still kept holds its first
segment, and older days are deleted.
"""

from __future__ import annotations

import datetime as dt
import fractions
import functools
import shutil
import tempfile
from pathlib import Path

import av
import numpy as np

from xl_pipelines.image_faults import FAULTS
from xl_pipelines.simulator.city import BannerRegistry
from xl_pipelines.simulator.degradations import DEGRADE, STRENGTH, view
from xl_pipelines.simulator.faults import DayPlan
from xl_pipelines.simulator.status import ONLINE, POLL_MINUTES

WIDTH, HEIGHT, BLOCK = 160, 90, 8
FRAME_INTERVAL_S, GOP_FRAMES = 20, 30
STORED_SHARE, STORED_MIN = 0.04, 2  # cameras recorded on the harvested media server: 4 %, at least 2 a banner
TS_SHARE = 0.1  # of those, written as MPEG-TS
SHORT_RETENTION = 0.15  # storage keeps less than the camera must
IMAGE_FAULT_SHARE = 0.03  # cameras with a lasting image fault, beyond one of each kind …
GUARANTEED_FAULTS_FROM = 14  # … in a banner with at least this many cameras on storage
ONSET_FAULTS, ONSET_WEEKDAY = ("colour_cast", "scene_change"), 3  # shown from Thursdays, put right on Mondays
WINDOWS_PER_HOUR = 60 // POLL_MINUTES
INDEX_PAGE_ITEMS = 20


@functools.cache
def world() -> np.ndarray:
    """The scene every camera looks at, larger than its framing (so a turned camera sees more of it): a
    brightness ramp under small rectangles of random colours and sizes: sharp, colourful, textured
    everywhere, nothing periodic."""
    rng = np.random.default_rng(7)
    h, w = round(HEIGHT * 1.6), round(WIDTH * 1.6)
    image = np.broadcast_to(np.linspace(50, 190, w, dtype=np.float32)[None, :, None], (h, w, 3)).copy()
    for _ in range(h * w // 150):
        y, x = rng.integers(0, h - 2), rng.integers(0, w - 2)
        image[y:y + rng.integers(3, 16), x:x + rng.integers(3, 16)] = rng.integers(30, 226, 3)
    return image


def picture(fault: str | None, frame: int) -> np.ndarray:
    """Frame `frame` of a camera's picture: its framing of the world (another one after a scene change), a
    white block stepping across it once a minute (standing still when frozen), degraded as the fault says
    (degradations.py, at its STRENGTH; noise in the same pattern every frame, so it costs few bytes)."""
    return _picture(fault, 0 if fault == "frozen" else frame // 3 % ((WIDTH - BLOCK) // BLOCK))


@functools.cache
def _picture(fault: str | None, step: int) -> np.ndarray:
    image = view(world(), (HEIGHT, WIDTH), *(STRENGTH[fault] if fault == "scene_change" else ()))
    image[HEIGHT // 3:HEIGHT // 3 + BLOCK, step * BLOCK:(step + 1) * BLOCK] = 255
    if fault in DEGRADE:
        image = DEGRADE[fault](image, STRENGTH[fault], np.random.default_rng(0))
    return np.clip(image, 0, 255).round().astype(np.uint8)


@functools.cache
def segment_bytes(seconds: int, container: str = "mp4", fault: str | None = None, faststart: bool = False,
                  video: bool = True) -> bytes:
    """A segment of `seconds` as the media server writes it (MP4 with its index at the end unless
    `faststart`, or MPEG-TS); `video=False` gives a file with an audio stream only."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"segment.{container}"
        options = {"pat_period": "600", "sdt_period": "600"} if container == "ts" else (
            {"movflags": "+faststart"} if faststart else {})  # tables once a segment, not 10 times a second
        with av.open(str(path), "w", format="mpegts" if container == "ts" else "mp4", options=options) as out:
            if video:
                stream = out.add_stream("libx264", rate=fractions.Fraction(1, FRAME_INTERVAL_S))
                stream.width, stream.height, stream.pix_fmt = WIDTH, HEIGHT, "yuv420p"
                stream.options = {"preset": "ultrafast", "crf": "23", "g": str(GOP_FRAMES), "bf": "0"}
                for index in range(seconds // FRAME_INTERVAL_S):
                    frame = av.VideoFrame.from_ndarray(picture(fault, index), format="rgb24")
                    frame.pts, frame.time_base = index, fractions.Fraction(FRAME_INTERVAL_S)
                    out.mux(stream.encode(frame))
            else:
                stream = out.add_stream("aac", rate=8000)
                samples = 1024
                for index in range(seconds * 8000 // samples // 60):  # a minute of sound a hour is plenty
                    frame = av.AudioFrame.from_ndarray(np.zeros((1, samples), dtype=np.float32), format="fltp",
                                                       layout="mono")
                    frame.sample_rate, frame.pts = 8000, index * samples
                    out.mux(stream.encode(frame))
            out.mux(stream.encode())
        return path.read_bytes()


class StoredCameras:
    """Which cameras the media server records, and what holds for each across days."""

    def __init__(self, registry: BannerRegistry, lasting: np.random.Generator):
        n = len(registry.channels)
        pick = lasting.permutation(n)[: max(STORED_MIN, round(STORED_SHARE * n))] if n else np.array([], dtype=int)
        self.index = np.sort(pick)
        k = self.index.size
        self.container = np.where(lasting.random(k) < TS_SHARE, "ts", "mp4")
        faults = np.full(k, None, dtype=object)
        order = lasting.permutation(k)
        if k >= GUARANTEED_FAULTS_FROM:  # a banner with enough stored cameras shows every fault kind
            faults[order[:len(FAULTS)]] = FAULTS
        extra = (lasting.random(k) < IMAGE_FAULT_SHARE) & np.array([f is None for f in faults], dtype=bool)
        faults[extra] = lasting.choice(FAULTS, size=k)[extra]
        self.fault = faults
        channels = [registry.channels[i] for i in self.index]
        required = np.array([max(30, 90 if c.point_type == 1 else 0, c.record_save_days or 0) for c in channels],
                            dtype=int)
        short = lasting.random(k) < SHORT_RETENTION
        self.depth = np.where(short, np.maximum(15, required * 2 // 3), required + lasting.integers(0, 20, k))


def shown(fault: str | None, day: dt.date) -> str | None:
    """The image fault a camera's picture shows on `day`: its own, but a colour cast or a turned view only
    from Thursday to Sunday (so the diagnosis has the camera's earlier sound days to compare with)."""
    return None if fault in ONSET_FAULTS and day.weekday() < ONSET_WEEKDAY else fault


def recorded_runs(states: np.ndarray, record_on: np.ndarray) -> list[list[tuple[int, int]]]:
    """Per camera, the stretches it recorded, as (first 5-minute window, windows), cut at each hour."""
    recording = (states == ONLINE) & record_on[None, :]
    runs: list[list[tuple[int, int]]] = []
    for camera in range(recording.shape[1]):
        column = np.concatenate(([False], recording[:, camera], [False]))
        edges = np.flatnonzero(column[1:] != column[:-1])
        found = []
        for start, stop in zip(edges[::2], edges[1::2], strict=True):
            for hour_start in range(start - start % WINDOWS_PER_HOUR, stop, WINDOWS_PER_HOUR):
                first, last = max(start, hour_start), min(stop, hour_start + WINDOWS_PER_HOUR)
                found.append((int(first), int(last - first)))
        runs.append(found)
    return runs


def _name(window: int, container: str, dot: bool = False) -> str:
    hours, minutes = divmod(window * POLL_MINUTES, 60)
    return f"{'.' if dot else ''}{hours:02d}-{minutes:02d}-00.{container}"


def write_recordings(root: Path, day: dt.date, registry: BannerRegistry, stored: StoredCameras,
                     runs: list[list[tuple[int, int]]], plan: DayPlan, rng: np.random.Generator) -> dict[str, int]:
    """The stored cameras' segment files of the day, the planned file faults, and the oldest kept day.

    Returns counts, and the planned index disagreements under `index_faults` (for write_record_index).
    """
    for old in (root / registry.banner.code).glob(f"*/{day.isoformat()}"):  # a rerun leaves exactly its own
        shutil.rmtree(old)
    files: dict[Path, bytes] = {}
    full_hours: list[Path] = []  # where the file faults strike: whole-hour MP4 segments
    for k, camera in enumerate(stored.index):
        channel = registry.channels[camera].device_id
        folder = root / registry.banner.code / channel / day.isoformat()
        container = str(stored.container[k])
        fault = shown(stored.fault[k], day)
        for window, windows in runs[camera]:
            path = folder / _name(window, container)
            files[path] = segment_bytes(windows * POLL_MINUTES * 60, container, fault)
            if windows == WINDOWS_PER_HOUR and container == "mp4":
                full_hours.append(path)
        _keep_days(root / registry.banner.code / channel, day, int(stored.depth[k]), container)
    _inject_file_faults(files, full_hours, plan, rng)
    for path, data in files.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return {"recording_files": len(files)}


def _keep_days(channel_folder: Path, day: dt.date, depth: int, container: str) -> None:
    """Storage's cleanup as of `day`: the oldest kept day holds its first segment; older days are gone."""
    oldest = day - dt.timedelta(days=depth - 1)
    for folder in channel_folder.glob("*"):
        if folder.is_dir() and folder.name < oldest.isoformat():
            shutil.rmtree(folder)
    first = channel_folder / oldest.isoformat() / f"00-00-00.{container}"
    if oldest < day and not first.exists():
        first.parent.mkdir(parents=True, exist_ok=True)
        first.write_bytes(segment_bytes(3600, container))


def _inject_file_faults(files: dict[Path, bytes], hours: list[Path], plan: DayPlan, rng: np.random.Generator) -> None:
    """Planned faults, each on its own segment (a whole-hour MP4 where there is one): what a crash, a full
    disk or a bad encoder leaves. A struck segment keeps its start; its bytes (and suffix) are the fault's."""
    hours = hours or sorted(files)
    if not hours:
        return
    order = iter(rng.permutation(len(hours)).tolist() * 2)

    def strike(suffix: str = ".mp4", dot: bool = False) -> Path:
        path = hours[next(order)]
        files.pop(path, None)
        return path.with_name(("." if dot else "") + path.stem + suffix)

    whole, faststart, ts = segment_bytes(3600), segment_bytes(3600, faststart=True), segment_bytes(3600, "ts")
    if "moov_missing" in plan.faults:
        files[strike()] = whole[: len(whole) // 2]
    if "faststart_cut" in plan.faults:
        files[strike()] = faststart[: len(faststart) * 3 // 5]
    if "zero_byte_segment" in plan.faults:
        files[strike()] = b""
    if "no_video_segment" in plan.faults:
        files[strike()] = segment_bytes(3600, video=False)
    if "ts_cut" in plan.faults:
        files[strike(".ts")] = ts[: len(ts) // 2 + 100]
    if "unfinished_segment" in plan.faults:
        files[strike(dot=True)] = whole[: len(whole) // 3]
    if "file_lost" in plan.faults:  # deleted from storage; the device's index still lists it
        strike()
    if "overlapping_segment" in plan.faults:  # a restart: a second file two minutes into a segment
        path = hours[next(order)]
        files[path.with_name(path.name[:2] + "-02-30.mp4")] = segment_bytes(300)


def write_record_index(folder: Path, day: dt.date, registry: BannerRegistry, runs: list[list[tuple[int, int]]],
                       answering: np.ndarray, stored: StoredCameras, plan: DayPlan,
                       rng: np.random.Generator) -> dict[str, int]:
    """The nightly RecordInfo answers for the day, one query per channel, received just after midnight;
    `answering[c]` says whether camera c's device was online to answer. Pages of twenty items, in the
    platform's encoding; the planned index faults change one answer each."""
    start = dt.datetime.combine(day, dt.time())
    items: dict[int, list[list[str]]] = {}
    for camera in np.flatnonzero(answering):
        channel = registry.channels[camera]
        items[int(camera)] = [
            [channel.device_id, channel.name, f"/{channel.device_id}/{day.isoformat()}/{_name(w, 'mp4')}",
             f"{start + dt.timedelta(minutes=w * POLL_MINUTES):%Y-%m-%dT%H:%M:%S}",
             f"{start + dt.timedelta(minutes=(w + n) * POLL_MINUTES):%Y-%m-%dT%H:%M:%S}", "time", str(n * 4000)]
            for w, n in runs[camera]]
    _inject_index_faults(items, stored, plan, rng)
    encoding, nl = registry.platform.encoding, registry.platform.newline
    sn = int(rng.integers(1, 1_000_000))
    received = start + dt.timedelta(days=1, minutes=1)
    pages = 0
    for order, (camera, listed) in enumerate(sorted(items.items())):
        sn += 1
        channel = registry.channels[camera]
        chunks = [listed[i:i + INDEX_PAGE_ITEMS] for i in range(0, len(listed), INDEX_PAGE_ITEMS)] or [[]]
        for page, chunk in enumerate(chunks, start=1):
            recv = received + dt.timedelta(seconds=order // 5)
            body = nl.join([
                f'<?xml version="1.0" encoding="{encoding}"?>', "<Response>", "<CmdType>RecordInfo</CmdType>",
                f"<SN>{sn}</SN>", f"<DeviceID>{channel.device_id}</DeviceID>", f"<Name>{channel.name}</Name>",
                f"<SumNum>{len(listed)}</SumNum>", f'<RecordList Num="{len(chunk)}">',
                *(_item(row, nl) for row in chunk), "</RecordList>", "</Response>", ""])
            data = body.encode(encoding)
            if page == 1 and order == 0 and "truncated_record_page" in plan.faults:
                data = data[: len(data) * 2 // 3]
            (folder / f"{recv:%Y%m%dT%H%M%S}-{sn}-{page}.xml").write_bytes(data)
            pages += 1
    return {"record_index_pages": pages}


def _item(row: list[str], nl: str) -> str:
    device_id, name, path, begin, end, kind, size = row
    return nl.join(["<Item>", f"<DeviceID>{device_id}</DeviceID>", f"<Name>{name}</Name>",
                    f"<FilePath>{path}</FilePath>", f"<StartTime>{begin}</StartTime>", f"<EndTime>{end}</EndTime>",
                    "<Secrecy>0</Secrecy>", f"<Type>{kind}</Type>", f"<FileSize>{size}</FileSize>", "</Item>"])


def _inject_index_faults(items: dict[int, list[list[str]]], stored: StoredCameras, plan: DayPlan,
                         rng: np.random.Generator) -> None:
    """Index faults on stored cameras' answers (so the files can contradict them), and one bad time."""
    candidates = [c for c in map(int, stored.index) if len(items.get(c, [])) > 1]
    if not candidates:
        return
    if "index_missing_entry" in plan.faults:  # the device lost one entry: its file is missing_index
        listed = items[candidates[int(rng.integers(len(candidates)))]]
        del listed[int(rng.integers(len(listed)))]
    long_rows = [row for c in candidates for row in items[c] if dt.datetime.fromisoformat(row[4])
                 - dt.datetime.fromisoformat(row[3]) >= dt.timedelta(minutes=30)]
    if "index_wrong_end" in plan.faults and long_rows:  # the index ends ten minutes early
        row = long_rows[int(rng.integers(len(long_rows)))]
        end = dt.datetime.fromisoformat(row[4]) - dt.timedelta(minutes=10)
        row[4] = f"{end:%Y-%m-%dT%H:%M:%S}"
    if "bad_record_time" in plan.faults:
        row = items[candidates[int(rng.integers(len(candidates)))]][-1]
        row[3] = row[3].replace("T", " ")[:16]
