"""GA/T 1400 POST logs (`viid/<date>/<code>/<HH>.jsonl`): one line per HTTP POST the view library received.

A line is `{"received_at": ISO-8601 with offset, "path": "/VIID/MotorVehicles", "body": <envelope>}`. Whole
files are read as columns: Polars splits the lines, DuckDB decodes every line's JSON against one structure
(`json_transform`, a line that is not JSON giving null on its own, so one broken line costs its own record,
not the file's), then the object lists are exploded to one row per captured object. Only the fields the
indicators need are decoded; names, image payloads and the rest are never materialised. DuckDB is about three
times cheaper than Polars' own JSON decoding here (bench/profile.md).

Besides the four capture routes, a cascaded platform delivers captures as subscription notifications
(`/VIID/SubscribeNotifications`), one notification carrying several kinds (`MotorVehicleObjectList`,
`FaceObjectList`, …). What real senders do beyond the standard, and how it is read (tests/fixtures/real/README.md):
the capture time sits in the kind's own field (`PassTime`, `FaceAppearTime`, …) or only in the sub-images,
times carry 16 or 17 digits, placeholders (`""`, `"null"`, `"Inv"`, 1970) stand for missing values, numbers
come as strings and strings as numbers, and a lone object stands where a list belongs.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import polars as pl

from xl_pipelines import landing
from xl_pipelines.lake import connect
from xl_pipelines.parsers.gb28181 import local_time
from xl_pipelines.parsers.viid_routes import NOTIFICATIONS, PATHS
from xl_pipelines.quarantine import per_distinct
from xl_pipelines.settings import LOCAL_TZ

KINDS = tuple(kind for kind, *_ in PATHS.values())
# Routes GA/T 1400 defines that carry no captures: named in a quarantine detail. Any other path is withheld
# there, since a sender can put anything in it (a query string with a plate, a name).
OTHER_ROUTES = frozenset({
    "/VIID/System/Register", "/VIID/System/UnRegister", "/VIID/System/Keepalive", "/VIID/System/Time",
    "/VIID/Images", "/VIID/VideoSlices", "/VIID/Files", "/VIID/Things", "/VIID/Scenes", "/VIID/Tollgates",
    "/VIID/Lanes", "/VIID/APEs", "/VIID/Dispositions", "/VIID/DispositionNotifications", "/VIID/Subscribes",
    "/VIID/Cases", "/VIID/AnalysisRules", "/VIID/VideoLabels", "/VIID/ImageInfos"})
# The capture time, first that reads as a time: the kind's own field in GA/T 1400.3 (a vehicle's PassTime, a
# face's FaceAppearTime, …), then ShotTime on the object (non-standard, but what most senders write), then the
# first sub-image's ShotTime (some checkpoints put it nowhere else), then the end of the appearance.
TIME_FIELDS = ("PassTime", "FaceAppearTime", "PersonAppearTime", "AppearTime", "ShotTime")
END_FIELDS = ("FaceDisAppearTime", "PersonDisAppearTime", "DisappearTime")
# Every leaf is read as text (JSON numbers included) and typed afterwards, so a number sent as a string
# does not fail the line. `Name`, the image `Data` and all other fields are not in the structure: never read.
FIELDS = ("MotorVehicleID", "FaceID", "PersonID", "NonMotorVehicleID", "DeviceID", "InfoKind", *TIME_FIELDS,
          *END_FIELDS, "PlateNo", "HasPlate", "PlateColor", "VehicleColor", "VehicleClass", "Speed", "Direction",
          "TollgateID", "LaneNo", "IDNumber", "IdNumber")
# DuckDB's struct field names ignore case, so `IdNumber` (sent by some platforms beside the standard's
# `IDNumber`) is renamed in the text before decoding, and back after.
ID_NUMBER_ALIAS = "xl:IdNumber"
_OBJECT = {**{f: "VARCHAR" for f in FIELDS if f != "IdNumber"}, ID_NUMBER_ALIAS: "VARCHAR",
           "SubImageList": {"SubImageInfoObject": [{"ShotTime": "VARCHAR"}]}}
POST = {"received_at": "VARCHAR", "path": "VARCHAR",
        "body": {envelope: {listed: [_OBJECT]} for _, envelope, listed, _ in PATHS.values()}}
# A notification's lines are decoded a second time against this (the direct routes never see it).
NOTICES = {"body": {"SubscribeNotificationListObject": {"SubscribeNotificationObject": [
    {f"{listed}List": {listed: [_OBJECT]} for _, _, listed, _ in PATHS.values()}]}}}
# Keys whose value the standard makes a list; a line with a lone object there is repaired in Python (rare).
LIST_KEYS = frozenset({*(listed for _, _, listed, _ in PATHS.values()), "SubImageInfoObject",
                       "SubscribeNotificationObject"})
LONE_OBJECT = r'"(?:' + "|".join(sorted(LIST_KEYS)) + r')"\s*:\s*\{'
PLACEHOLDERS = ("", " ", "null", "NULL", "Null", "none", "None", "Inv", "INV", "inv", "-", "/")  # = no value
NO_PLATE = ("无车牌", "无牌", "未识别")  # what checkpoint systems write when no plate was read: not a plate
REPAIR_LIMIT = 16 * 2**20  # characters: a longer line with a lone object is quarantined, never parsed in Python
LINE_DETAIL = "not a JSON object shaped as a GA/T 1400 POST record (cut off, or not JSON)"
LINES_SCHEMA = {"source_file": pl.String, "item": pl.Int64, "raw": pl.String}


def lines(path: Path) -> pl.DataFrame:
    """The file's lines as one text column, numbered from 1 (blank lines dropped, numbers kept).

    Read as single-column CSV on a separator JSON never holds unescaped (0x1F), without quoting; bytes that
    are not UTF-8 become U+FFFD, which the harvest quarantines as a wrong encoding.
    """
    data = landing.read_bytes(path)
    if not data or data.isspace():  # (strip would copy the whole file)
        return pl.DataFrame(schema=LINES_SCHEMA)
    frame = pl.read_csv(io.BytesIO(data), has_header=False, separator="\x1f", quote_char=None,
                        schema={"raw": pl.String}, encoding="utf8-lossy", truncate_ragged_lines=True)
    return frame.with_row_index("item", offset=1).select(
        pl.lit(str(path)).alias("source_file"), pl.col("item").cast(pl.Int64),
        pl.col("raw").str.strip_chars_end("\r")).filter(pl.col("raw") != "")


def _listed(value):
    """The JSON value with a lone object wrapped in a list wherever the standard puts a list."""
    if isinstance(value, dict):
        return {k: [_listed(v)] if k in LIST_KEYS and isinstance(v, dict) else _listed(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_listed(v) for v in value]
    return value


def _relisted(text: str) -> str | None:
    """A line with a lone object where a list belongs, the object wrapped; None if it is no JSON to repair."""
    try:
        if len(text) > REPAIR_LIMIT:
            raise ValueError("too long to repair in Python")
        return json.dumps(_listed(json.loads(text)), ensure_ascii=False)
    except (ValueError, RecursionError):
        return None


def decoded(frame: pl.DataFrame, structure: dict, **columns: str) -> pl.DataFrame:
    """The frame with `columns` (name → a DuckDB expression over `post`, the line's JSON decoded against
    `structure`, null where the line is not JSON); with none named, `post` itself.

    DuckDB's non-strict transform reads numbers as text and nulls what does not fit, but it would also null a
    lone object where a list belongs: such lines (found in the text) are repaired first, in Python.
    """
    text = frame["raw"]
    lone = text.str.contains(LONE_OBJECT).fill_null(False).arg_true()
    if lone.len():
        text = text.scatter(lone, [_relisted(line) for line in text.gather(lone)])
    renamed = (f"""CASE WHEN contains(text, '"IdNumber"') THEN regexp_replace(text, '"IdNumber"(\\s*):', """
               f"""'"{ID_NUMBER_ALIAS}"\\1:', 'g') ELSE text END""")
    picked = ", ".join(f'{expression} AS "{name}"' for name, expression in (columns or {"post": "post"}).items())
    with connect() as con:
        con.register("lines", text.alias("text").to_frame())
        got = con.sql(f"SELECT {picked} FROM (SELECT TRY(json_transform({renamed}, $structure)) AS post FROM lines)",
                      params={"structure": json.dumps(structure)}).pl()
    return pl.concat([frame, got], how="horizontal")


def _notices(frame: pl.DataFrame) -> pl.DataFrame:
    """The notification lines, with one object list per kind (what each notification carries of it)."""
    notified = frame.filter(pl.col("path") == NOTIFICATIONS)
    if not notified.height:  # most logs hold none: no second decode
        return notified.with_columns(pl.col("direct").alias(kind) for kind in KINDS)
    notices = decoded(notified.select("source_file", "item", "raw"), NOTICES,
                      notices="post.body.SubscribeNotificationListObject.SubscribeNotificationObject")
    kinds = {kind: pl.col("notices").list.eval(pl.element().struct.field(f"{listed}List").struct.field(listed)
                                               .explode()).list.drop_nulls() for kind, _, listed, _ in PATHS.values()}
    return notified.join(notices.select("source_file", "item", **kinds), on=["source_file", "item"], how="left")


def present(value: pl.Expr) -> pl.Expr:
    """The text, or null where a sender wrote a placeholder for 'no value' (`""`, `null`, `Inv`, …)."""
    return pl.when(value.is_in(PLACEHOLDERS)).then(None).otherwise(value)


def _is_time(raw: pl.Expr) -> pl.Expr:
    """yyyyMMddHHmmss, with 2 or 3 more digits (hundredths, milliseconds), a real date from 2000 on (the 1970
    epoch and the like are a device's 'unset')."""
    return (raw.str.contains(r"^(19|20)\d{12}(\d{2,3})?$") & (raw.str.slice(0, 4) >= "2000")
            & raw.str.slice(0, 14).str.to_datetime("%Y%m%d%H%M%S", strict=False).is_not_null())


def capture_time(raw: pl.Expr) -> pl.Expr:
    """A time `_is_time` accepts → local time, to the millisecond; null otherwise."""
    fraction = raw.str.slice(14).str.pad_end(3, "0").cast(pl.Int64, strict=False).fill_null(0)
    at = local_time(raw.str.slice(0, 14), "%Y%m%d%H%M%S") + pl.duration(milliseconds=fraction)
    return pl.when(_is_time(raw)).then(at)


def post_log_frame(paths: list[Path]) -> pl.DataFrame:
    """One row per captured object of some POST logs, decoded together (a line without readable objects: one
    row, with its `line_reason`)."""
    frame = pl.concat([lines(path) for path in paths]) if paths else pl.DataFrame(schema=LINES_SCHEMA)
    direct = " ".join(f"WHEN '{route}' THEN post.body.{envelope}.{listed}" for route, (_, envelope, listed, _)
                      in PATHS.items())
    frame = decoded(frame, POST, undecodable="post IS NULL", path="post.path", received_raw="post.received_at",
                    direct=f"CASE post.path {direct} END")
    notices = _notices(frame)  # a notification may carry every kind at once
    counted = notices.select("source_file", "item", notified=pl.sum_horizontal(pl.col(KINDS).list.len().fill_null(0)))
    count = pl.col("direct").list.len().fill_null(0) + pl.col("notified").fill_null(0)
    frame = frame.join(counted, on=["source_file", "item"], how="left", maintain_order="left")
    reason = (pl.when(pl.col("raw").str.contains("\ufffd", literal=True)).then(pl.lit("wrong_encoding"))
              .when(pl.col("undecodable") | pl.col("received_raw").is_null() | pl.col("path").is_null())
              .then(pl.lit("malformed_line"))
              .when(~pl.col("path").is_in([*PATHS, NOTIFICATIONS])).then(pl.lit("unknown_path"))
              .when(count == 0).then(pl.lit("bad_envelope")))
    detail = (pl.when(pl.col("line_reason") == "wrong_encoding").then(pl.lit("the line holds bytes that are not UTF-8"))
              .when(pl.col("line_reason") == "malformed_line").then(pl.lit(LINE_DETAIL))
              .when(pl.col("line_reason") == "unknown_path").then(path_detail(pl.col("path")))
              .when(pl.col("line_reason") == "bad_envelope").then(pl.lit(
                  "no objects under the envelope its path names (or, for a notification, in any of its "
                  "MotorVehicle/Face/Person/NonMotorVehicle ObjectLists)")))
    frame = frame.with_columns(line_reason=reason, objects=count).with_columns(line_detail=detail)
    line = ["source_file", "item", "line_reason", "line_detail", "received_raw"]
    reasons = frame.select("source_file", "item", "line_reason", "line_detail")
    kinds = pl.col("path").replace_strict({route: kind for route, (kind, *_) in PATHS.items()}, default=None)
    parts = [frame.select(*line, kinds.alias("kind"), object="direct",  # one explode: the fast path
                          position=pl.int_ranges(1, pl.col("direct").list.len() + 1))]
    notices = notices.drop("line_reason", "line_detail", strict=False).join(reasons, on=["source_file", "item"])
    for number, kind in enumerate(KINDS):  # a notification's objects numbered on across its kinds
        before = pl.sum_horizontal(pl.lit(0, pl.UInt32), *(pl.col(k).list.len().fill_null(0) for k in KINDS[:number]))
        parts.append(notices.select(*line, pl.lit(kind).alias("kind"), object=kind,
                                    position=pl.int_ranges(before + 1, before + pl.col(kind).list.len() + 1)))
    objects = pl.concat([part.explode("object", "position").drop_nulls("object") for part in parts])
    alone = frame.filter(pl.col("objects") == 0).select(*line, position=pl.lit(1, pl.Int64))  # one record a line
    frame = pl.concat([objects.unnest("object").rename({ID_NUMBER_ALIAS: "IdNumber"}), alone], how="diagonal_relaxed")
    return _columns(frame.sort("source_file", "item", "position"))


def _columns(frame: pl.DataFrame) -> pl.DataFrame:
    """The capture columns the harvest checks, from the objects' raw fields."""
    object_id = pl.lit(None, pl.String)
    for kind_name, *_, id_field in PATHS.values():
        object_id = pl.when(pl.col("kind") == kind_name).then(present(pl.col(id_field))).otherwise(object_id)
    images = pl.col("SubImageList").struct.field("SubImageInfoObject")
    # Each distinct text of the time fields is judged once (a day's captures share their seconds), then the
    # first field holding a time is taken and read, again once per distinct text.
    frame = frame.with_columns(image_time=images.list.first().struct.field("ShotTime"))
    candidates = [*TIME_FIELDS, "image_time", *END_FIELDS]
    texts = pl.concat([frame.get_column(c) for c in candidates]).drop_nulls().unique().alias("text").to_frame()
    times = texts.filter(_is_time(pl.col("text")))["text"].implode()
    frame = frame.with_columns(shot_raw=pl.coalesce([pl.when(pl.col(c).is_in(times)).then(pl.col(c))
                                                     for c in candidates]))
    frame = per_distinct(frame, "shot_raw", shot_at=capture_time(pl.col("shot_raw")))
    shot_raw = pl.col("shot_raw")
    plate = present(pl.col("PlateNo"))
    no_plate = pl.col("HasPlate").is_in(("0", "false")) | plate.is_in(NO_PLATE)
    return frame.select(
        "source_file", "item", "position", "line_reason", "line_detail", pl.lit("gat1400").alias("source"),
        "kind", object_id.alias("object_id"), present(pl.col("DeviceID")).alias("device_id"),
        received_at(pl.col("received_raw")).alias("received_at"),
        "shot_raw", "shot_at",
        (object_id.str.slice(22, 14) == shot_raw.str.slice(0, 14)).alias("id_time_ok"),
        pl.col("InfoKind").cast(pl.Int8, strict=False).alias("info_kind"),
        pl.when(~no_plate.fill_null(False)).then(plate).alias("plate"),
        pl.coalesce(present(pl.col("IDNumber")), present(pl.col("IdNumber"))).alias("id_number"),
        *(present(pl.col(f)).alias(c) for f, c in (("PlateColor", "plate_color"), ("VehicleColor", "vehicle_color"),
                                                   ("VehicleClass", "vehicle_class"), ("Direction", "direction"),
                                                   ("TollgateID", "tollgate_id"))),
        pl.col("Speed").cast(pl.Float64, strict=False).alias("speed_kmh"),
        pl.col("LaneNo").cast(pl.Int16, strict=False).alias("lane_no"),
        images.list.len().fill_null(0).cast(pl.Int16).alias("images"),
        pl.lit(None, pl.Float64).alias("likelihood"),
    ).select("source_file", "item", "position", "line_reason", "line_detail", "source", "kind", "object_id",
             "device_id", "received_at", "shot_raw", "shot_at", "id_time_ok", "info_kind", "plate", "id_number",
             "plate_color", "vehicle_color", "vehicle_class", "speed_kmh", "direction", "tollgate_id", "lane_no",
             "images", "likelihood")


def path_detail(path: pl.Expr) -> pl.Expr:
    """What a quarantine may say of an unknown path: a GA/T 1400 route by name, anything else withheld (a
    sender can put a plate or an ID number in a path or its query string)."""
    route = path.str.replace(r"[?#].*$", "")
    named = pl.when(route.is_in(OTHER_ROUTES | set(PATHS) | {NOTIFICATIONS})).then(
        pl.lit("path ") + route).otherwise(pl.lit("a path that is no GA/T 1400 route (withheld)"))
    return named + pl.when(path.str.contains("?", literal=True)).then(
        pl.lit(" with a query string (withheld: it may hold personal data)")).otherwise(pl.lit(""))


def received_at(raw: pl.Expr) -> pl.Expr:
    """ISO-8601 with an offset (`+08:00` or `Z`) → Asia/Shanghai; null when it carries no offset or is not a time."""
    iso = raw.str.replace(r"Z$", "+00:00")
    return iso.str.to_datetime("%Y-%m-%dT%H:%M:%S%.f%:z", strict=False, time_unit="us").dt.convert_time_zone(
        str(LOCAL_TZ))
