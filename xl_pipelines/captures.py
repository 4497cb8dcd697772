"""Detection metadata, per banner-day: GA/T 1400 POST logs and ONVIF documents → `silver.captures`.

Hour files are parsed, checked and pseudonymised a batch at a time (an hour of a busy banner), so the day is
never held as raw text; a batch's re-sends are judged against the keys accepted before it, so its accepted rows
can be let go (spilled) at once, and only the day's keys are held to the end. Personal data leaves here only as
keyed pseudonyms: plates (`plate_pseudonym`), ID numbers (`person_pseudonym`) and the IDs of face and person
captures (`capture_id`, which would fetch the face image). Names and image payloads are never decoded.
Quarantined captures keep their file, line, reason and the offending field's name, but never the line itself
nor any value a sender wrote (an unknown path is named only when it is a GA/T 1400 route).
"""

from __future__ import annotations

import os
import queue
from collections import deque
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing
from pathlib import Path

import polars as pl

from xl_pipelines.harvest_scope import HarvestScope
from xl_pipelines.landing import Listing, refused_rows
from xl_pipelines.parsers import gat1400, onvif
from xl_pipelines.pseudonym import PERSONAL_KINDS, plate_key, pseudonymise
from xl_pipelines.quarantine import Harvest, first_failure, split_by_reason

CAPTURE_COLUMNS = (  # silver.captures, in order
    "capture_id", "device_id", "code", "kind", "source", "shot_at", "received_at", "delay_s", "id_time_ok", "info_kind",
    "plate_pseudonym", "plate_color", "vehicle_color", "vehicle_class", "speed_kmh", "direction", "tollgate_id",
    "lane_no", "person_pseudonym", "images", "likelihood", "source_file", "item", "position",
)
RESENT = "re-sent: the same device, shot time and capture as an earlier record"
# What a quarantined object's detail names: the offending field, never its value (it may be personal data).
FIELD_DETAILS = {
    "gat1400": {"no_device_id": "DeviceID missing", "bad_device_id": "DeviceID is not 20 digits",
                "bad_object_id": "its ID field (MotorVehicleID, FaceID, PersonID or NonMotorVehicleID) is missing "
                                 "or not 48 digits",
                "bad_shot_time": "no time in " + ", ".join(
                    [*gat1400.TIME_FIELDS, "SubImageInfoObject.ShotTime", *gat1400.END_FIELDS])},
    "onvif": {"bad_device_id": "the channel folder's name is not 20 digits",
              "bad_object_id": "ObjectId missing or not an integer of up to 10 digits",
              "unknown_class": "tt:Class / tt:VehicleInfo type is none that is counted, and no plate",
              "bad_shot_time": "UtcTime is not an xs:dateTime"},
}
BATCH_BYTES = 64 * 2**20
DECODERS = 2  # batches decoded at once (_decoded)
KEY = ("device_id", "shot_at", "capture_id")  # DOMAIN.md: the same device, shot time and object is one capture
KEY_HASH = pl.struct(*KEY).hash()  # where two keys' hashes differ, the keys do (_resent)


def checked(objects: pl.DataFrame, scope: HarvestScope) -> pl.DataFrame:
    """A batch of pseudonymised objects with `reason` (every rule but duplicate) and its detail."""
    gat = pl.col("source") == "gat1400"
    rules = [
        ("bad_received_at", pl.col("received_at").is_null()),
        *scope.time_rules(pl.col("received_at")),
        ("no_device_id", pl.col("device_id").fill_null("").str.strip_chars() == ""),
        *scope.id_rules("device_id"),
        *scope.registration_rules("device_id", "unknown_device"),
        ("bad_object_id", pl.col("object_id").is_null() | pl.when(gat).then(~pl.col("object_id").str.contains(
            r"^\d{48}$")).otherwise(~pl.col("object_id").str.contains(r"^(\d{1,10}|event-\d+)$"))),
        ("unknown_class", pl.col("kind").is_null()),
        ("bad_shot_time", pl.col("shot_at").is_null()),
    ]
    frame = objects.with_columns(reason=pl.coalesce("line_reason", first_failure(rules)))
    field = pl.concat_str("source", "reason", separator="|").replace_strict(
        {f"{source}|{reason}": text for source, texts in FIELD_DETAILS.items() for reason, text in texts.items()},
        default=None)
    return frame.with_columns(line_detail=pl.coalesce("line_detail", pl.when(gat & field.is_not_null()).then(
        pl.format("object {} of the line: {}", "position", field)).otherwise(field))).drop("object_id", "shot_raw")


def onvif_objects(paths: list[Path], key: bytes) -> pl.DataFrame:
    """ONVIF documents' objects as `gat1400.objects` gives POST lines': a capture is named by its device, shot
    time and ObjectId (a camera's own count), and personal data is pseudonymised (few rows: per distinct value)."""
    frame = onvif.metadata_frame(paths).with_columns(
        capture_id=pl.concat_str(pl.col("device_id"), pl.col("shot_raw"), pl.col("object_id"), separator="-"),
        plate_pseudonym=plate_key(pl.col("plate")), person_pseudonym=pl.col("id_number"))
    frame = frame.with_columns(personal_id=pl.when(pl.col("kind").is_in(PERSONAL_KINDS)).then(pl.col("capture_id")))
    frame = pseudonymise(frame, ["personal_id", "plate_pseudonym", "person_pseudonym"], key)
    return frame.with_columns(capture_id=pl.coalesce("personal_id", "capture_id")).drop("personal_id", "plate", "id_number")


def shown_file(path: pl.Expr) -> pl.Expr:
    """The landing file as the lake may name it: a name the contract does not give (`<HH>.jsonl`,
    `<20-digit channel>/<recv>.xml`) is withheld, since a sender or a careless copy can put a plate or an ID
    number in it; the folder still leads a person to it."""
    conforming = path.str.contains(r"/viid/[^/]+/[^/]+/\d{2}\.jsonl$") | path.str.contains(
        r"/onvif/[^/]+/[^/]+/\d{20}(/\d{8}T\d{6}\.xml)?$")  # a channel folder refused whole
    withheld = pl.when(path.str.contains(r"/onvif/[^/]+/[^/]+/[^/]+/[^/]+$")).then(
        path.str.replace(r"[^/]+/[^/]+$", "(channel folder withheld)/(file name withheld)", literal=False)).otherwise(
        path.str.replace(r"[^/]+$", "(file name withheld)"))
    return pl.when(conforming).then(path).otherwise(withheld)


def _batches(paths: Iterable[Path]) -> Iterator[pl.DataFrame]:
    """POST lines in batches of about BATCH_BYTES: a quiet banner's hour files gathered (one pass, not 24), a busy
    hour's file cut into slices of lines, so neither the day nor a busy hour is decoded at once (memory)."""
    batch: list[Path] = []
    for path in sorted(paths):
        batch.append(path)
        if sum(p.stat().st_size for p in batch) >= BATCH_BYTES:
            yield from _sliced(batch)
            batch = []
    if batch:
        yield from _sliced(batch)


def _sliced(paths: list[Path]) -> Iterator[pl.DataFrame]:
    frame = pl.concat([gat1400.lines(path) for path in paths])
    size = sum(path.stat().st_size for path in paths)
    yield from frame.iter_slices(max(1, frame.height * BATCH_BYTES // max(size, 1)))


def harvest_captures(post_logs: Iterable[Path], documents: list[Path], scope: HarvestScope, key: bytes,
                     refused: Listing | None = None, spill: Path | None = None) -> Harvest:
    """The banner-day's captures: accepted ones as `silver.captures` rows, the rest quarantined.

    A POST line that does not decode, names an unknown path or carries no objects is one record; otherwise
    every object is one. A re-send of an accepted capture (DOMAIN.md's key) is quarantined as `duplicate`, the
    first received kept. The files the landing `refused` are quarantined one record each. Every file is named
    as `shown_file` allows, here and nowhere else. With a `spill` folder, each batch's accepted rows are written
    there as they are known and the accepted rows come as a LazyFrame over those pieces (streamed into the lake,
    never held whole: a city's busiest banner has millions).
    """
    # the batches closed before the connection: a failed check must not close it under a decoding thread
    with gat1400.session() as con, closing(_decoded(post_logs, sorted(documents), con, key)) as batches:
        return _harvested(batches, scope, refused, spill)


def _decoded(post_logs: Iterable[Path], documents: list[Path], con, key: bytes) -> Iterator[pl.DataFrame]:
    """The banner-day's objects, pseudonymised, a batch at a time and in order: the POST logs' (their lines read
    here), then the ONVIF documents'. DECODERS batches are decoded at once in threads, each on a cursor of its own,
    while the caller checks the batch before them: decoding is most of the work and DuckDB and Polars let go of
    the GIL (with one decoder the checking thread waited two thirds of the time; bench/profile.md)."""
    # the session's macros and settings are the database's: its cursors have them. Its threads are shared out
    # among the decoders (two queries of two threads each on two cores: 12 % more CPU, no less wall)
    con.execute(f"SET threads = {max(1, len(os.sched_getaffinity(0)) // DECODERS)}")
    cursors: queue.SimpleQueue = queue.SimpleQueue()
    for _ in range(DECODERS):
        cursors.put(con.cursor())

    def decode(lines: pl.DataFrame) -> pl.DataFrame:
        cursor = cursors.get()
        try:
            return gat1400.objects(lines, cursor, key)
        finally:
            cursors.put(cursor)

    pool, pending = ThreadPoolExecutor(DECODERS, thread_name_prefix="xl-captures"), deque()
    try:
        for lines in _batches(post_logs):
            pending.append(pool.submit(decode, lines))
            del lines
            while len(pending) > DECODERS:
                yield pending.popleft().result()
        pending.append(pool.submit(onvif_objects, documents, key))
        while pending:
            yield pending.popleft().result()
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
        while not cursors.empty():
            cursors.get().close()


def _harvested(batches: Iterable[pl.DataFrame], scope: HarvestScope, refused: Listing | None,
               spill: Path | None) -> Harvest:
    """`harvest_captures` of pseudonymised batches of objects."""
    # record_id names the camera; a DeviceID that is no camera ID may be anything a sender typed (an ID number)
    camera = pl.when(pl.col("device_id").str.contains(r"^\d{20}$")).then(pl.col("device_id"))
    seen: dict = {}  # shot hour → the keys of the captures accepted so far with shot times in that hour (_resent)
    accepted, quarantined, read = [], [], 0
    for number, objects in enumerate(batches):
        part = checked(objects, scope)
        del objects
        read += part.height
        resent = _resent(part, seen)
        part = _named(part.with_columns(
            reason=pl.when(resent).then(pl.lit("duplicate")).otherwise("reason"),
            line_detail=pl.when(resent).then(pl.lit(RESENT)).otherwise("line_detail"),
            raw=pl.lit(None, pl.String)))  # the line may hold personal data: it stays in landing
        good, bad = split_by_reason(part, "captures", record_id=camera, detail=pl.col("line_detail"))
        del part
        good = good.select(
            "capture_id", "device_id", pl.lit(scope.code).alias("code"), "kind", "source", "shot_at", "received_at",
            (pl.col("received_at") - pl.col("shot_at")).dt.total_microseconds().truediv(1e6).alias("delay_s"),
            *CAPTURE_COLUMNS[CAPTURE_COLUMNS.index("id_time_ok"):])
        if spill is not None:
            good.write_parquet(spill / f"accepted-{number:05d}.parquet", compression="lz4", statistics=False)
            good = pl.scan_parquet(spill / f"accepted-{number:05d}.parquet")
        accepted.append(good)
        quarantined.append(_compact(bad))
    if refused is not None and refused.refused.height:
        quarantined.append(_named(refused_rows(refused, "captures", quarantined[0].schema)))
        read += refused.refused.height
    return Harvest(pl.concat(accepted, how="vertical_relaxed"), pl.concat(quarantined, how="vertical_relaxed"), read)


def _resent(part: pl.DataFrame, seen: dict) -> pl.Series:
    """Whether each row re-sends a capture accepted before it, earlier in the batch or in an earlier batch; the
    keys of the rows it accepts are added to `seen` (shot hour → keys with their hash). A re-send keeps its shot
    time, so a row is looked up among its own shot hour's keys only (a day of batches is one pass over its keys,
    not one per batch), and only where a key's hash repeats are the keys themselves compared (exact: a hash
    collision costs a comparison, never a capture)."""
    good = part.get_column("reason").is_null()
    keys = part.select(*KEY, hour=pl.col("shot_at").dt.truncate("1h"), hashed=KEY_HASH,
                       row=pl.int_range(pl.len(), dtype=pl.UInt32)).filter(good)
    again = keys.filter(pl.col("hashed").is_duplicated()).filter(~pl.struct(*KEY).is_first_distinct())["row"]
    for (at,), rows in keys.partition_by("hour", as_dict=True).items():  # an hour file's captures: one or two hours
        if at in seen:
            before = pl.concat(seen[at])
            maybe = rows.filter(pl.col("hashed").is_in(before["hashed"].implode()))
            alike = before.filter(pl.col("hashed").is_in(maybe["hashed"].implode())).select(pl.struct(*KEY))
            again = again.append(maybe.filter(pl.struct(*KEY).is_in(alike.to_series().implode()))["row"])
    accepted = _compact(keys.filter(~pl.col("row").is_in(again.implode())).drop("row"))
    for (hour,), held in accepted.partition_by("hour", as_dict=True, include_key=False).items():
        seen.setdefault(hour, []).append(held)
    return pl.repeat(False, part.height, eager=True).scatter(again, True)


def _compact(frame: pl.DataFrame) -> pl.DataFrame:
    """A copy of a batch's few kept rows that does not keep the batch alive: Polars' string views point into
    the whole column's buffers (a day of kept keys held ~5× their own bytes)."""
    return pl.from_arrow(frame.to_arrow(compat_level=pl.CompatLevel.oldest()))


def _named(frame: pl.DataFrame) -> pl.DataFrame:
    """The frame with each `source_file` as `shown_file` names it, worked out once per distinct file."""
    files = frame.select(pl.col("source_file").unique()).with_columns(shown=shown_file(pl.col("source_file")))
    return frame.with_columns(pl.col("source_file").replace_strict(files["source_file"], files["shown"]))
