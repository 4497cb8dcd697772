"""GA/T 1400 POST logs (`viid/<date>/<code>/<HH>.jsonl`): one line per HTTP POST the view library received.

A line is `{"received_at": ISO-8601 with offset, "path": "/VIID/MotorVehicles", "body": <envelope>}`. Whole
files are read as columns: Polars splits the lines and decodes every line's JSON against one schema in Rust,
then the object lists are exploded to one row per captured object. Only the fields the indicators need are
decoded; names, image payloads and the rest are never materialised. A file with a line that does not decode
is bisected until the bad lines stand alone, so one broken line costs its own record, not the file's.

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
from xl_pipelines.parsers.gb28181 import local_time
from xl_pipelines.parsers.viid_routes import NOTIFICATIONS, PATHS
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
# does not fail the line. `Name`, the image `Data` and all other fields are not in the schema: never read.
FIELDS = ("MotorVehicleID", "FaceID", "PersonID", "NonMotorVehicleID", "DeviceID", "InfoKind", *TIME_FIELDS,
          *END_FIELDS, "PlateNo", "HasPlate", "PlateColor", "VehicleColor", "VehicleClass", "Speed", "Direction",
          "TollgateID", "LaneNo", "IDNumber", "IdNumber")
OBJECT = pl.Struct({**dict.fromkeys(FIELDS, pl.String), "SubImageList": pl.Struct(
    {"SubImageInfoObject": pl.List(pl.Struct({"ShotTime": pl.String}))})})
POST = pl.Struct({"received_at": pl.String, "path": pl.String, "body": pl.Struct(
    {envelope: pl.Struct({objects: pl.List(OBJECT)}) for _, envelope, objects, _ in PATHS.values()})})
# A notification's lines are decoded a second time against this (the direct routes' fast path never sees it).
NOTICE = pl.Struct({f"{listed}List": pl.Struct({listed: pl.List(OBJECT)}) for _, _, listed, _ in PATHS.values()})
NOTICES = pl.Struct({"body": pl.Struct({"SubscribeNotificationListObject": pl.Struct(
    {"SubscribeNotificationObject": pl.List(NOTICE)})})})
# Keys whose value the standard makes a list; a lone object there is wrapped (decoded line by line, rare).
LIST_KEYS = frozenset({*(listed for _, _, listed, _ in PATHS.values()), "SubImageInfoObject",
                       "SubscribeNotificationObject"})
PLACEHOLDERS = ("", " ", "null", "NULL", "Null", "none", "None", "Inv", "INV", "inv", "-", "/")  # = no value
NO_PLATE = ("无车牌", "无牌", "未识别")  # what checkpoint systems write when no plate was read: not a plate
REPAIR_LIMIT = 16 * 2**20  # characters: a longer refused line is quarantined as it is, never parsed in Python
LINE_DETAIL = "not a JSON object shaped as a GA/T 1400 POST record (cut off, or a field of the wrong type)"
LINES_SCHEMA = {"source_file": pl.String, "item": pl.Int64, "raw": pl.String}


def lines(path: Path) -> pl.DataFrame:
    """The file's lines as one text column, numbered from 1 (blank lines dropped, numbers kept).

    Read as single-column CSV on a separator JSON never holds unescaped (0x1F), without quoting; bytes that
    are not UTF-8 become U+FFFD, which the harvest quarantines as a wrong encoding.
    """
    data = landing.read_bytes(path)
    if not data.strip():
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


def _one_line(frame: pl.DataFrame, schema: pl.Struct) -> pl.DataFrame:
    """A line the fast path refused: decoded again after wrapping lone objects in lists, else `post` null."""
    try:
        if len(frame["raw"][0]) > REPAIR_LIMIT:
            raise ValueError("too long to repair in Python")
        repaired = json.dumps(_listed(json.loads(frame["raw"][0])), ensure_ascii=False)
        return frame.with_columns(raw=pl.lit(repaired), post=pl.lit(repaired).str.json_decode(schema),
                                  undecodable=pl.lit(False))
    except (ValueError, RecursionError, pl.exceptions.PolarsError):
        return frame.with_columns(post=pl.lit(None, schema), undecodable=pl.lit(True))


def _decoded(frame: pl.DataFrame, schema: pl.Struct = POST) -> pl.DataFrame:
    """`post` decoded for every line that decodes; lines that do not are bisected out and tried alone."""
    try:
        return frame.with_columns(post=pl.col("raw").str.json_decode(schema), undecodable=pl.lit(False))
    except pl.exceptions.PolarsError:
        if frame.height == 1:
            return _one_line(frame, schema)
        half = frame.height // 2
        return pl.concat([_decoded(frame[:half], schema), _decoded(frame[half:], schema)])


def _notices(frame: pl.DataFrame) -> pl.DataFrame:
    """The notification lines' `notices` (a list of notifications), joined back by file and line."""
    lines_ = frame.filter(pl.col("path") == NOTIFICATIONS).select("source_file", "item", "raw")
    notices = _decoded(lines_, NOTICES).select("source_file", "item", notices=pl.col("post").struct.field("body").struct
                                               .field("SubscribeNotificationListObject")
                                               .struct.field("SubscribeNotificationObject"))
    return frame.join(notices, on=["source_file", "item"], how="left")


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
    frame = _decoded(frame) if frame.height else frame.with_columns(post=pl.lit(None, POST), undecodable=pl.lit(False))
    post = pl.col("post")
    path, body = post.struct.field("path"), post.struct.field("body")
    frame = _notices(frame.with_columns(path=path, received_raw=post.struct.field("received_at")))
    direct = pl.lit(None, pl.List(OBJECT))
    for route, (_, envelope, listed, _) in PATHS.items():
        direct = pl.when(pl.col("path") == route).then(body.struct.field(envelope).struct.field(listed)).otherwise(direct)
    notified = {kind: pl.col("notices").list.eval(pl.element().struct.field(f"{listed}List").struct.field(listed)
                                                  .explode()).list.drop_nulls() for kind, _, listed, _ in PATHS.values()}
    frame = frame.with_columns(direct=direct, **notified)
    count = pl.sum_horizontal(pl.col(c).list.len().fill_null(0) for c in ("direct", *KINDS))
    reason = (pl.when(pl.col("raw").str.contains("\ufffd", literal=True)).then(pl.lit("wrong_encoding"))
              .when(pl.col("undecodable") | pl.col("received_raw").is_null() | pl.col("path").is_null())
              .then(pl.lit("malformed_line"))
              .when(~pl.col("path").is_in([*PATHS, NOTIFICATIONS])).then(pl.lit("unknown_path"))
              .when(count == 0).then(pl.lit("bad_envelope")))
    frame = frame.with_columns(line_reason=reason, objects=count)
    frame = frame.with_columns(line_detail=pl.when(pl.col("line_reason") == "wrong_encoding")
                               .then(pl.lit("the line holds bytes that are not UTF-8"))
                               .when(pl.col("line_reason") == "malformed_line").then(pl.lit(LINE_DETAIL))
                               .when(pl.col("line_reason") == "unknown_path").then(path_detail(pl.col("path")))
                               .when(pl.col("line_reason") == "bad_envelope").then(pl.lit(
                                   "no objects under the envelope its path names (or, for a notification, "
                                   "in any of its MotorVehicle/Face/Person/NonMotorVehicle ObjectLists)")))
    line = ["source_file", "item", "line_reason", "line_detail", "received_raw"]
    kinds = pl.col("path").replace_strict({route: kind for route, (kind, *_) in PATHS.items()}, default=None)
    parts = [frame.select(*line, kinds.alias("kind"), pl.col("direct").alias("object"))]  # one explode: the fast path
    notices = frame.filter(pl.col("path") == NOTIFICATIONS)  # a notification may carry every kind at once
    parts += [notices.select(*line, pl.lit(kind).alias("kind"), pl.col(kind).alias("object")) for kind in KINDS]
    objects = pl.concat([part.explode("object").drop_nulls("object") for part in parts]).with_columns(
        position=pl.int_range(1, pl.len() + 1).over("source_file", "item"))
    alone = frame.filter(pl.col("objects") == 0).select(*line)  # a line without readable objects: one record
    frame = pl.concat([objects.unnest("object"), alone.with_columns(position=pl.lit(1, pl.Int64))], how="diagonal")
    return _columns(frame.sort("source_file", "item", "position"))


def _columns(frame: pl.DataFrame) -> pl.DataFrame:
    """The capture columns the harvest checks, from the objects' raw fields."""
    object_id = pl.lit(None, pl.String)
    for kind_name, *_, id_field in PATHS.values():
        object_id = pl.when(pl.col("kind") == kind_name).then(present(pl.col(id_field))).otherwise(object_id)
    images = pl.col("SubImageList").struct.field("SubImageInfoObject")
    candidates = [*(pl.col(f) for f in TIME_FIELDS), images.list.first().struct.field("ShotTime"),
                  *(pl.col(f) for f in END_FIELDS)]
    shot_raw = pl.coalesce([pl.when(_is_time(c)).then(c) for c in candidates])
    plate = present(pl.col("PlateNo"))
    no_plate = pl.col("HasPlate").is_in(("0", "false")) | plate.is_in(NO_PLATE)
    return frame.select(
        "source_file", "item", "position", "line_reason", "line_detail", pl.lit("gat1400").alias("source"),
        "kind", object_id.alias("object_id"), present(pl.col("DeviceID")).alias("device_id"),
        received_at(pl.col("received_raw")).alias("received_at"),
        shot_raw.alias("shot_raw"), capture_time(shot_raw).alias("shot_at"),
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
