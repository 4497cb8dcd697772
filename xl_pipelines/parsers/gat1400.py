"""GA/T 1400 POST logs (`viid/<date>/<code>/<HH>.jsonl`): one line per HTTP POST the view library received.

A line is `{"received_at": ISO-8601 with offset, "path": "/VIID/MotorVehicles", "body": <envelope>}`. Whole
files are read as columns: Polars splits the lines and decodes every line's JSON against one schema in Rust,
then the object lists are exploded to one row per captured object. Only the fields the indicators need are
decoded; names, image payloads and the rest are never materialised. A file with a line that does not decode
is bisected until the bad lines stand alone, so one broken line costs its own record, not the file's.
"""

from __future__ import annotations

import io
from pathlib import Path

import polars as pl

from xl_pipelines import landing
from xl_pipelines.parsers.gb28181 import local_time
from xl_pipelines.settings import LOCAL_TZ

# path → (kind, list envelope, object list, object ID field)
PATHS = {
    "/VIID/MotorVehicles": ("motor_vehicle", "MotorVehicleListObject", "MotorVehicleObject", "MotorVehicleID"),
    "/VIID/Faces": ("face", "FaceListObject", "FaceObject", "FaceID"),
    "/VIID/Persons": ("person", "PersonListObject", "PersonObject", "PersonID"),
    "/VIID/NonMotorVehicles": ("non_motor", "NonMotorVehicleListObject", "NonMotorVehicleObject", "NonMotorVehicleID"),
}
KINDS = tuple(kind for kind, *_ in PATHS.values())
# Every leaf is read as text (JSON numbers included) and typed afterwards, so a number sent as a string
# does not fail the line. `Name`, the image `Data` and all other fields are not in the schema: never read.
FIELDS = ("MotorVehicleID", "FaceID", "PersonID", "NonMotorVehicleID", "DeviceID", "InfoKind", "ShotTime",
          "PassTime", "PlateNo", "PlateColor", "VehicleColor", "VehicleClass", "Speed", "Direction", "TollgateID",
          "LaneNo", "IDNumber")
OBJECT = pl.Struct({**dict.fromkeys(FIELDS, pl.String), "SubImageList": pl.Struct(
    {"SubImageInfoObject": pl.List(pl.Struct({"ImageID": pl.String}))})})
POST = pl.Struct({"received_at": pl.String, "path": pl.String, "body": pl.Struct(
    {envelope: pl.Struct({objects: pl.List(OBJECT)}) for _, envelope, objects, _ in PATHS.values()})})
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


def _decoded(frame: pl.DataFrame) -> pl.DataFrame:
    """`post` decoded for every line that decodes; lines that do not are bisected out with `post` null."""
    try:
        return frame.with_columns(post=pl.col("raw").str.json_decode(POST), undecodable=pl.lit(False))
    except pl.exceptions.PolarsError:
        if frame.height == 1:
            return frame.with_columns(post=pl.lit(None, POST), undecodable=pl.lit(True))
        half = frame.height // 2
        return pl.concat([_decoded(frame[:half]), _decoded(frame[half:])])


def post_log_frame(paths: list[Path]) -> pl.DataFrame:
    """One row per captured object of some POST logs, decoded together (a line without readable objects: one
    row, with its `line_reason`)."""
    frame = pl.concat([lines(path) for path in paths]) if paths else pl.DataFrame(schema=LINES_SCHEMA)
    frame = _decoded(frame) if frame.height else frame.with_columns(post=pl.lit(None, POST), undecodable=pl.lit(False))
    post = pl.col("post")
    kind = post.struct.field("path").replace_strict({p: k for p, (k, *_) in PATHS.items()}, default=None)
    objects = pl.lit(None, pl.List(OBJECT))
    for route, (_, envelope, listed, _) in PATHS.items():
        objects = pl.when(post.struct.field("path") == route).then(
            post.struct.field("body").struct.field(envelope).struct.field(listed)).otherwise(objects)
    count = objects.list.len().fill_null(0)
    reason = (pl.when(pl.col("raw").str.contains("\ufffd", literal=True)).then(pl.lit("wrong_encoding"))
              .when(pl.col("undecodable") | post.struct.field("received_at").is_null()
                    | post.struct.field("path").is_null()).then(pl.lit("malformed_line"))
              .when(kind.is_null()).then(pl.lit("unknown_path"))
              .when(count == 0).then(pl.lit("bad_envelope")))
    frame = frame.select(
        "source_file", "item", reason.alias("line_reason"),
        pl.when(reason == "wrong_encoding").then(pl.lit("the line holds bytes that are not UTF-8"))
        .when(reason == "malformed_line").then(pl.lit(LINE_DETAIL))
        .when(reason == "unknown_path").then(pl.lit("path ") + post.struct.field("path"))
        .when(reason == "bad_envelope").then(pl.lit("no objects under the envelope its path names"))
        .alias("line_detail"),
        post.struct.field("received_at").alias("received_raw"),
        kind.alias("kind"),
        objects.alias("object"),
    ).explode("object", empty_as_null=True)  # a line without objects stays one record
    frame = frame.with_columns(position=pl.int_range(1, pl.len() + 1).over("source_file", "item")).unnest("object")
    object_id = pl.lit(None, pl.String)
    for kind_name, *_, id_field in PATHS.values():
        object_id = pl.when(pl.col("kind") == kind_name).then(pl.col(id_field)).otherwise(object_id)
    shot_raw = pl.coalesce("ShotTime", "PassTime")
    return frame.select(
        "source_file", "item", "position", "line_reason", "line_detail", pl.lit("gat1400").alias("source"),
        "kind", object_id.alias("object_id"), pl.col("DeviceID").alias("device_id"),
        received_at(pl.col("received_raw")).alias("received_at"),
        shot_raw.alias("shot_raw"), local_time(shot_raw, "%Y%m%d%H%M%S").alias("shot_at"),
        (object_id.str.slice(22, 14) == shot_raw).alias("id_time_ok"),
        pl.col("InfoKind").cast(pl.Int8, strict=False).alias("info_kind"),
        pl.col("PlateNo").alias("plate"), pl.col("IDNumber").alias("id_number"),
        pl.col("PlateColor").alias("plate_color"), pl.col("VehicleColor").alias("vehicle_color"),
        pl.col("VehicleClass").alias("vehicle_class"), pl.col("Speed").cast(pl.Float64, strict=False).alias("speed_kmh"),
        pl.col("Direction").alias("direction"), pl.col("TollgateID").alias("tollgate_id"),
        pl.col("LaneNo").cast(pl.Int16, strict=False).alias("lane_no"),
        pl.col("SubImageList").struct.field("SubImageInfoObject").list.len().fill_null(0).cast(pl.Int16).alias("images"),
        pl.lit(None, pl.Float64).alias("likelihood"),
    )


def received_at(raw: pl.Expr) -> pl.Expr:
    """ISO-8601 with an offset (`+08:00` or `Z`) → Asia/Shanghai; null when it carries no offset or is not a time."""
    iso = raw.str.replace(r"Z$", "+00:00")
    return iso.str.to_datetime("%Y-%m-%dT%H:%M:%S%.f%:z", strict=False, time_unit="us").dt.convert_time_zone(
        str(LOCAL_TZ))
