"""Recording completeness from the segment files themselves and from the devices' own index.

A segment file is probed by reading its packets without decoding them (PyAV): it covers [the start its
file name says, + the seconds its packets really span] (DOMAIN.md). A file that cannot be opened covers
nothing; a truncated file covers what it holds; an unfinished dot-file from a past day covers nothing and
counts as a crash. The RecordInfo index tells the device's story; where both exist they are matched, and
every disagreement is kept: a file the index lacks (missing_index), an index entry with no file
(missing_file), durations that differ.
"""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path
from typing import BinaryIO

import av
import polars as pl

from xl_pipelines import landing
from xl_pipelines.harvest_scope import HarvestScope
from xl_pipelines.parsers import gb28181
from xl_pipelines.quarantine import Harvest, first_failure, per_distinct, split_by_reason
from xl_pipelines.settings import LOCAL_TZ, Where, day_bounds, location

# HH-MM-SS.mp4 or .ts; a leading dot marks a segment still being written (or left by a crash)
SEGMENT_NAME = r"^(?P<dot>\.?)(?P<clock>(?P<h>[01]\d|2[0-3])-(?P<m>[0-5]\d)-(?P<s>[0-5]\d))\.(?P<ext>mp4|ts)$"
TS_PACKET_BYTES = 188
PROBE_SCHEMA = {"size_bytes": pl.Int64, "packets": pl.Int64, "keyframes": pl.Int64, "corrupt_packets": pl.Int64,
                "span_s": pl.Float64, "nominal_s": pl.Float64, "problem": pl.String, "detail": pl.String}
FILE_PROBLEMS = ("truncated", "corrupt", "unfinished")  # a file's own problems; the index adds missing_*
# Storage opens a new day folder every day, so no segment (and no index entry) lasts longer than a day: one
# that claims to has a lying timescale or clock. It is that camera's fault, counted, never a banner's stop.
MAX_SPAN_S = 86_400
# Linux names each open descriptor here: FFmpeg opens the very file checked by that name and reads it itself,
# with no Python call a read (6 % of a probe's CPU) and without holding the GIL.
DESCRIPTORS = "/proc/self/fd"
BY_DESCRIPTOR = os.path.isdir(DESCRIPTORS)


def probe(path: Where, tolerance_s: float = 5.0) -> dict:
    """What a segment file holds, from its packets, never decoded: packets, keyframes, corrupt packets, the
    seconds its packets span, the duration its header claims, and its problem (null, truncated, corrupt).

    An MP4 cut before its index (no moov atom) cannot be opened: truncated, covering nothing. A fast-start
    MP4 cut short opens with its full nominal duration but its packets stop early: truncated. A TS cut
    mid-packet (size not a multiple of 188 bytes) is truncated. Zero bytes, no video stream, corrupt
    packets in a file of full length, data FFmpeg refuses, or packets spanning more than a day (a lying
    timescale: its span is unknown, so it covers nothing): corrupt.

    The file is opened once (landing.open_file: never through a link, never blocked on a FIFO; refused: the
    step fails), a local one by its descriptor (FFmpeg reads it by the descriptor's name, DESCRIPTORS), an
    object in a store as a file object PyAV reads and seeks. FFmpeg's errors name no file (the row has it).
    """
    with landing.open_file(path) as file:
        by_name = isinstance(path, Path) and BY_DESCRIPTOR
        return _probe_open(file, f"{DESCRIPTORS}/{file.fileno()}" if by_name else file, path.suffix, tolerance_s)


def _probe_open(file: BinaryIO, source: str | BinaryIO, suffix: str, tolerance_s: float) -> dict:
    """probe, on the open `file` of a segment named with `suffix`, which FFmpeg reads as `source`."""
    size = file.seek(0, os.SEEK_END)
    file.seek(0)
    row = dict.fromkeys(PROBE_SCHEMA) | {"size_bytes": size, "packets": 0, "keyframes": 0, "corrupt_packets": 0}
    if size == 0:
        return row | {"problem": "corrupt", "detail": "empty file"}
    try:
        container = av.open(source)
    except av.error.FFmpegError as exc:
        boxes = _mp4_boxes(file) if suffix == ".mp4" else []
        if boxes and "moov" not in boxes:
            return row | {"problem": "truncated", "detail": "no index atom (moov): cut before it was written"}
        return row | {"problem": "corrupt", "detail": _said(exc)}
    with container:
        if not container.streams.video:
            return row | {"problem": "corrupt", "detail": "no video stream"}
        stream = container.streams.video[0]
        packets, failure = [], None
        try:
            packets = [(p.pts, p.duration, p.is_keyframe, p.is_corrupt) for p in container.demux(stream)
                       if p.pts is not None]
        except av.error.FFmpegError as exc:
            failure = _said(exc)
        nominal = container.duration / av.time_base if container.duration else None
        base = stream.time_base
    times, lengths, keys, corrupt = zip(*packets, strict=True) if packets else ((), (), (), ())  # as columns
    row |= {"packets": len(packets), "keyframes": sum(keys), "corrupt_packets": sum(corrupt), "nominal_s": nominal}
    if not packets:
        return row | {"problem": "corrupt", "detail": failure or "no video packets"}
    row["span_s"] = span = _span(times, lengths) * float(base)
    short = nominal is not None and nominal - span > tolerance_s
    if failure:
        return row | {"problem": "corrupt", "detail": failure}
    if span > MAX_SPAN_S:
        return row | {"span_s": None, "problem": "corrupt",
                      "detail": f"packets span {span / 3600:.0f} h, more than a day: its timescale is wrong"}
    if suffix == ".ts" and size % TS_PACKET_BYTES:
        return row | {"problem": "truncated", "detail": f"cut mid-packet: {size} bytes is not a multiple of 188"}
    if short:
        return row | {"problem": "truncated", "detail": f"packets span {span:.0f} s of the {nominal:.0f} s its header claims"}
    if row["corrupt_packets"]:
        return row | {"problem": "corrupt", "detail": f"{row['corrupt_packets']} corrupt packets"}
    return row


def _said(error: av.error.FFmpegError) -> str:
    """FFmpeg's error in words, without the name it opened (a descriptor's: the same file's differs by run)."""
    return str(error).replace(f": {error.filename!r}", "", 1) if error.filename else str(error)


def _mp4_boxes(file: BinaryIO) -> list[str]:
    """The types of an MP4's top-level boxes, read from their 8-byte headers (empty if it is no MP4)."""
    boxes, offset = [], 0
    file.seek(0)
    while header := file.read(8):
        if len(header) < 8:
            break
        size, kind = int.from_bytes(header[:4], "big"), header[4:].decode("latin-1")
        if size == 1:
            size = int.from_bytes(file.read(8), "big")
        if size < 8 or not kind.isprintable():
            break
        boxes.append(kind)
        offset += size
        file.seek(offset)
    return boxes if boxes[:1] == ["ftyp"] else []


def _span(starts: tuple[int, ...], lengths: tuple[int | None, ...]) -> int:
    """Time-base units from the first packet's start to the last one's end (the packets' `starts` and
    `lengths` in demux order). A container that stores no packet durations (TS) gets the typical spacing
    between packets for the last one."""
    times = sorted(starts)
    last = lengths[starts.index(times[-1])]  # the first packet demuxed of those starting last
    if not last:
        steps = sorted(b - a for a, b in zip(times, times[1:], strict=False) if b > a)
        last = steps[len(steps) // 2] if steps else 0
    return times[-1] + last - times[0]


def segment_files(root: Where, code: str, day: dt.date) -> landing.Listing:
    """Every file in the banner's `<channel>/<date>` folders, dot-files (unfinished) included, vetted: links,
    FIFOs, folders and files over the limit are refused by name, never probed."""
    return landing.list_files(root, root / code, f"*/{day.isoformat()}/*", landing.limits()["recordings"], hidden=True)


def stored_channels(root: Where, code: str) -> pl.DataFrame:
    """Each channel folder of the banner on storage, with the oldest day that still holds a finished segment."""
    rows = []
    for folder in landing.folders(root / code):
        days = [d.name for d in landing.folders(folder) if any(not f.name.startswith(".") for f in d.iterdir())]
        rows.append({"channel_id": folder.name, "oldest_day": days[0] if days else None})
    frame = pl.DataFrame(rows, schema={"channel_id": pl.String, "oldest_day": pl.String})
    return frame.with_columns(pl.col("oldest_day").str.to_date(strict=False))


def harvest_recording_files(files: list[Where], scope: HarvestScope, tolerance_s: float = 5.0) -> Harvest:
    """Segment files → one row per file, probed. Files the pipeline cannot place (a name that is not
    HH-MM-SS.mp4/.ts, a folder that is no registered camera of the banner) are quarantined.

    A dot-file of the scope's `today` is still being written and is left alone (not read); one of a past day
    is `unfinished`. A file's own problems are recording facts, not bad input: they land with the file.
    """
    listed = pl.DataFrame({"source_file": [str(p) for p in files],
                           "channel_id": [p.parent.parent.name for p in files],
                           "file_name": [p.name for p in files]}, schema={c: pl.String for c in
                                                                          ("source_file", "channel_id", "file_name")})
    name = pl.col("file_name").str.extract_groups(SEGMENT_NAME)
    listed = listed.with_columns(name=name).unnest("name").filter(
        ~((pl.col("dot") == ".").fill_null(False) & (scope.day >= scope.today)))
    read = listed.height
    listed = listed.with_columns(item=pl.lit(0, pl.Int64), raw=pl.col("file_name"), reason=first_failure([
        ("bad_file_name", pl.col("clock").is_null()),
        *scope.id_rules("channel_id"),
        *scope.registration_rules("channel_id", "unknown_channel"),
    ]))
    detail = pl.when(pl.col("reason") == "bad_file_name").then(pl.lit("file name is not HH-MM-SS.mp4 or HH-MM-SS.ts"))
    accepted, quarantined = split_by_reason(listed, "recordings", record_id=pl.col("channel_id"), detail=detail)
    unfinished = accepted["dot"] == "."  # accepted names matched, so `dot` is "" or "."
    probes = [dict.fromkeys(PROBE_SCHEMA) | {"problem": "unfinished", "detail": "dot-file left from a past day: a crash"}
              if dot else probe(location(path), tolerance_s)
              for path, dot in zip(accepted["source_file"], unfinished, strict=True)]
    accepted = pl.concat([accepted, pl.DataFrame(probes, schema=PROBE_SCHEMA)], how="horizontal").select(
        "channel_id", pl.lit(scope.code).alias("code"), pl.col("source_file").alias("path"),
        pl.col("ext").alias("container"),
        gb28181.local_time(pl.lit(f"{scope.day} ") + pl.col("clock"), "%Y-%m-%d %H-%M-%S").alias("start_at"),
        *PROBE_SCHEMA,
    ).sort("channel_id", "start_at", "path")
    return Harvest(accepted, quarantined.sort("source_file"), read=read)


RECORD_TYPES = ("time", "alarm", "manual", "all")


def harvest_record_index(files: list[Where], scope: HarvestScope) -> Harvest:
    """RecordInfo pages → one row per recording the device lists (a response listing none: one row with no
    times, so "answered, nothing recorded" is not mistaken for "did not answer").

    An entry naming the NVR that records the queried channel (the scope's `pairs`) is
    that channel's recording: the NVR answered for it with its own ID. Times are read as
    `gb28181.device_time` reads them (T or a space, offset honoured).
    """
    docs = gb28181.record_info_frame(files)
    nvr_for_channel = scope.recorded_through("queried_id", "device_id")
    docs = docs.with_columns(device_id=pl.when(nvr_for_channel).then("queried_id").otherwise("device_id"))
    # each distinct time text read once, as DeviceStatus's are: a city-day's index entries share their hours
    docs = per_distinct(docs, "start_raw", start_time=gb28181.device_time(pl.col("start_raw")))
    docs = per_distinct(docs, "end_raw", end_time=gb28181.device_time(pl.col("end_raw")))
    begins, ends = pl.col("start_time"), pl.col("end_time")
    listed = pl.col("start_raw").is_not_null() | pl.col("end_raw").is_not_null()
    rules = [
        *scope.id_rules("device_id"),
        ("bad_time", listed & (begins.is_null() | ends.is_null() | (ends < begins))),
        ("too_long", listed & ((ends - begins).dt.total_seconds() > MAX_SPAN_S)),
        *((reason, listed & rule) for reason, rule in scope.time_rules(ends, begins)),
        ("unknown_value", pl.col("type").is_not_null() & ~pl.col("type").str.to_lowercase().is_in(RECORD_TYPES)),
        *scope.registration_rules("device_id", "unknown_channel"),
        ("duplicate", pl.int_range(pl.len()).over(pl.col("device_id"), begins, ends) > 0),
    ]
    docs = docs.with_columns(
        index_complete=pl.col("device_id").count().over("queried_id", "sn") >= pl.col("sum_num"),
        reason=pl.coalesce("page_reason", first_failure(rules)))
    lasts = pl.format("lasts {} h", ((ends - begins).dt.total_seconds() / 3600).round(1))
    accepted, quarantined = split_by_reason(docs, "record_index", record_id=pl.col("device_id"), detail=pl.coalesce(
        "page_error", pl.when(pl.col("reason") == "too_long").then(lasts)))
    accepted = accepted.select(
        pl.col("device_id").alias("channel_id"), pl.lit(scope.code).alias("code"),
        begins.alias("start_at"), ends.alias("end_at"),
        (ends - begins).dt.total_seconds().cast(pl.Float64).alias("duration_s"),
        pl.col("type").str.to_lowercase().alias("record_type"), "file_path",
        pl.col("file_size").cast(pl.Int64, strict=False), "sn", "index_complete",
        gb28181.received_at().alias("received_at"), "source_file", "item",
    ).sort("channel_id", "start_at", "source_file", "item", nulls_last=True)
    return Harvest(accepted, quarantined.sort("source_file", "item"), read=docs.height)


SEGMENTS_SCHEMA = {"channel_id": pl.String, "code": pl.String, "path": pl.String,
                   "start_at": pl.Datetime("us", str(LOCAL_TZ)), "end_at": pl.Datetime("us", str(LOCAL_TZ)),
                   "duration_s": pl.Float64, "source": pl.String, "problem": pl.String, "detail": pl.String,
                   "mismatch_s": pl.Float64}


def recording_segments(files: pl.DataFrame, index: pl.DataFrame, stored: pl.Series, code: str,
                       tolerance_s: float = 5.0) -> pl.DataFrame:
    """silver.recording_segments: both stories, files (`source` file) and index (`source` index), matched.

    A file and an index entry of one channel match when their starts are within `tolerance_s`. A file
    keeps its own problem; otherwise, if its channel's device answered RecordInfo and listed nothing
    there, it is `missing_index`. An index entry of a channel on storage with no file is `missing_file`.
    `mismatch_s` is a matched file's duration minus its index entry's (the disagreement in length).
    """
    on_file = files.select(
        "channel_id", "path", "start_at",
        end_at=pl.col("start_at") + pl.duration(microseconds=(pl.col("span_s") * 1e6).round().cast(pl.Int64)),
        duration_s="span_s", problem="problem", detail="detail")
    listed = index.filter(pl.col("start_at").is_not_null()).select(
        "channel_id", path="file_path", start_at="start_at", end_at="end_at", duration_s="duration_s")
    tolerance = dt.timedelta(seconds=tolerance_s)

    def nearest(left: pl.DataFrame, right: pl.DataFrame, **extra: pl.Expr) -> pl.DataFrame:
        keys = right.select("channel_id", matched_at="start_at", other_s="duration_s").sort("matched_at")
        return left.sort("start_at").join_asof(keys, left_on="start_at", right_on="matched_at", by="channel_id",
                                               strategy="nearest", tolerance=tolerance,
                                               check_sortedness=False)  # sorted by time: within each channel too

    answered = index["channel_id"].unique().implode()
    files_side = nearest(on_file, listed).with_columns(
        source=pl.lit("file"),
        mismatch_s=pl.col("duration_s") - pl.col("other_s"),
        problem=pl.coalesce("problem", pl.when(pl.col("channel_id").is_in(answered) & pl.col("matched_at").is_null())
                            .then(pl.lit("missing_index"))),
    )
    index_side = nearest(listed, on_file).with_columns(
        source=pl.lit("index"), detail=pl.lit(None, pl.String), mismatch_s=pl.lit(None, pl.Float64),
        problem=pl.when(pl.col("channel_id").is_in(stored.implode()) & pl.col("matched_at").is_null())
        .then(pl.lit("missing_file")),
    )
    columns = [c for c in SEGMENTS_SCHEMA if c != "code"]
    return (pl.concat([files_side.select(columns), index_side.select(columns)], how="vertical_relaxed")
            .with_columns(code=pl.lit(code)).select(list(SEGMENTS_SCHEMA)).cast(SEGMENTS_SCHEMA)
            .sort("channel_id", "start_at", "source", "path", nulls_last=True))


def retention_required(point_class: pl.Expr, record_save_days: pl.Expr, limits: dict[str, float]) -> pl.Expr:
    """Days a camera's recordings must be kept: max(general, key site for class-one points, its own
    declared RecordSaveDays). Class-one monitoring points are the key sites (DOMAIN.md)."""
    key_site = pl.when(point_class == 1).then(pl.lit(int(limits["retention_days_key_site"])))
    return pl.max_horizontal(pl.lit(int(limits["retention_days"])), key_site, record_save_days).cast(pl.Int32)


def recording_coverage(segments: pl.DataFrame, answered: pl.Series, cameras: pl.DataFrame, stored: pl.DataFrame,
                       day: dt.date, today: dt.date, limits: dict[str, float]) -> pl.DataFrame:
    """silver.recording_coverage: one row per registered camera and day.

    A camera's story is its files when storage holds a folder for it (`source` file), else its device's
    index when it answered RecordInfo (`answered`, even with an empty list: `source` index), else
    unmeasured (null). recorded_s is the union
    of its segments within the day (7×24 schedule); a gap is an uncovered stretch longer than the
    tolerance (the start and end of the day included). Retention is storage as it stands `today` (the
    only time it can be seen): the age in days of the oldest recording kept, against what the camera
    must keep.
    """
    start, end = day_bounds(day)
    gap = pl.duration(seconds=limits["gap_tolerance_s"])
    measured = cameras.select("channel_id", "code", "point_class", "record_save_days").join(
        stored, on="channel_id", how="left").with_columns(
        source=pl.when(pl.col("channel_id").is_in(stored["channel_id"].implode())).then(pl.lit("file"))
        .when(pl.col("channel_id").is_in(answered.implode())).then(pl.lit("index")))
    covering = (
        segments.join(measured.select("channel_id", "source"), on=["channel_id", "source"])
        .filter(pl.col("end_at").is_not_null())
        .with_columns(start_at=pl.max_horizontal("start_at", pl.lit(start)), end_at=pl.min_horizontal("end_at", pl.lit(end)))
        .filter(pl.col("end_at") > pl.col("start_at"))
        .sort("channel_id", "start_at")
        .with_columns(reach=pl.col("end_at").cum_max().over("channel_id"))
        .with_columns(run=(pl.col("start_at") > pl.col("reach").shift().over("channel_id")).fill_null(True)
                      .cum_sum().over("channel_id"))
        .group_by("channel_id", "run").agg(pl.col("start_at").min(), pl.col("end_at").max())
        .sort("channel_id", "start_at")
        .with_columns(gap_before=pl.col("start_at") - pl.col("end_at").shift().over("channel_id").fill_null(pl.lit(start)))
    )
    runs = covering.group_by("channel_id").agg(
        recorded_s=(pl.col("end_at") - pl.col("start_at")).dt.total_seconds().sum(),
        gaps=(pl.col("gap_before") > gap).sum() + (pl.lit(end) - pl.col("end_at").max() > gap).cast(pl.UInt32),
        longest_gap=pl.max_horizontal(pl.col("gap_before").max(), pl.lit(end) - pl.col("end_at").max()),
    )
    problems = segments.filter(pl.col("problem").is_not_null()).group_by("channel_id").agg(
        corrupt_segments=pl.col("problem").is_in(FILE_PROBLEMS).sum(),
        missing_files=(pl.col("problem") == "missing_file").sum(),
        missing_index=(pl.col("problem") == "missing_index").sum())
    mismatches = segments.filter(pl.col("mismatch_s").abs() > limits["gap_tolerance_s"]).group_by("channel_id").agg(
        duration_mismatches=pl.len())
    day_s = int((end - start).total_seconds())
    is_measured = pl.col("source").is_not_null()
    return (
        measured.join(runs, on="channel_id", how="left").join(problems, on="channel_id", how="left")
        .join(mismatches, on="channel_id", how="left")
        .select(
            "channel_id", "code", "source",
            pl.when(is_measured).then(pl.lit(day_s)).alias("scheduled_s"),
            pl.when(is_measured).then(pl.col("recorded_s").fill_null(0)).cast(pl.Int64).alias("recorded_s"),
            pl.when(is_measured).then(pl.col("gaps").fill_null(1)).cast(pl.Int32).alias("gap_count"),
            pl.when(is_measured).then(pl.col("longest_gap").dt.total_seconds().fill_null(day_s)).cast(pl.Int64)
            .alias("longest_gap_s"),
            *(pl.col(c).fill_null(0).cast(pl.Int32) for c in ("corrupt_segments", "missing_files", "missing_index",
                                                                "duration_mismatches")),
            "oldest_day", (pl.lit(today) - pl.col("oldest_day")).dt.total_days().cast(pl.Int32).alias("retained_days"),
            retention_required(pl.col("point_class"), pl.col("record_save_days"), limits).alias("required_days"),
        )
        .sort("channel_id")
    )
