"""GA/T 1400 POST logs (`viid/<date>/<code>/<HH>.jsonl`): one line per HTTP POST the view library received.

A line is `{"received_at": ISO-8601 with offset, "path": "/VIID/MotorVehicles", "body": <envelope>}`. Whole
files are read as columns: Polars splits the lines, then one DuckDB query decodes every line's JSON against one
structure (`json_transform`, a line that is not JSON giving null on its own, so one broken line costs its own
record, not the file's), unnests the object lists to one row per captured object, reads and types their
fields and keys the personal ones (`pseudonym.hmac_sql`), so no nested value and no plate or ID number in clear
is handed to Polars. Only the fields the indicators need are decoded; names, image
payloads and the rest are never materialised. DuckDB is about three times cheaper than Polars' own JSON
decoding here (bench/profile.md, bench/captures.md).

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

import duckdb
import polars as pl
import pyarrow as pa

from xl_pipelines import landing
from xl_pipelines.lake import connect
from xl_pipelines.parsers.gb28181 import local_time
from xl_pipelines.parsers.viid_routes import NOTIFICATIONS, PATHS
from xl_pipelines.pseudonym import PERSONAL_KINDS, PLAIN_PLATE, hmac_params, hmac_sql, plate_key, plate_key_sql, pseudonymise
from xl_pipelines.quarantine import per_distinct
from xl_pipelines.settings import LOCAL_TZ

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
# `IDNumber`) is renamed in the text before decoding (RENAMED) and read under this name.
ID_NUMBER_ALIAS = "xl:IdNumber"
_OBJECT = {**{f: "VARCHAR" for f in FIELDS if f != "IdNumber"}, ID_NUMBER_ALIAS: "VARCHAR",
           "SubImageList": {"SubImageInfoObject": [{"ShotTime": "VARCHAR"}]}}
# A notification (a platform's cascade) carries every kind at once, each in its own `<Object>List`.
NOTIFIED = {"SubscribeNotificationListObject": {"SubscribeNotificationObject": [
    {f"{listed}List": {listed: [_OBJECT]} for _, _, listed, _ in PATHS.values()}]}}
POST = {"received_at": "VARCHAR", "path": "VARCHAR",
        "body": {**{envelope: {listed: [_OBJECT]} for _, envelope, listed, _ in PATHS.values()}, **NOTIFIED}}
# Keys whose value the standard makes a list; a line with a lone object there is repaired in Python (rare).
LIST_KEYS = frozenset({*(listed for _, _, listed, _ in PATHS.values()), "SubImageInfoObject",
                       "SubscribeNotificationObject"})
LONE_OBJECT = r'"(?:' + "|".join(sorted(LIST_KEYS)) + r')"\s*:\s*\{'
# What every LONE_OBJECT match holds (no list key ends in `tObject`, which every envelope, `…ListObject`, does): a
# search for its literal `Object"` skips almost every line five times faster than the alternation (0.07 s vs
# 0.36 s a 290 MB hour file), which then runs on the few lines left.
MAYBE_LONE = r'[^t]Object"\s*:\s*\{'
PLACEHOLDERS = ("", " ", "null", "NULL", "Null", "none", "None", "Inv", "INV", "inv", "-", "/")  # = no value
NO_PLATE = ("无车牌", "无牌", "未识别")  # what checkpoint systems write when no plate was read: not a plate
REPAIR_LIMIT = 16 * 2**20  # characters: a longer line with a lone object is quarantined, never parsed in Python
LINE_DETAIL = "not a JSON object shaped as a GA/T 1400 POST record (cut off, or not JSON)"
LINES_SCHEMA = {"source_file": pl.String, "item": pl.Int64, "raw": pl.String}
SCAN_ROWS = 2**14  # lines a DuckDB thread takes at a time


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
    raw = pl.col("raw").str.strip_chars_end("\r") if b"\r" in data else pl.col("raw")  # (the strip copies every line)
    return frame.with_row_index("item", offset=1).select(
        pl.lit(str(path)).alias("source_file"), pl.col("item").cast(pl.Int64), raw).filter(pl.col("raw") != "")


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


def _repaired(text: pl.Series) -> pl.Series:
    """The lines with a lone object where a list belongs wrapped in a list (in Python: such lines are rare), since
    DuckDB's non-strict transform would null the object silently."""
    maybe = text.str.contains(MAYBE_LONE).fill_null(False).arg_true()
    lone = maybe.filter(text.gather(maybe).str.contains(LONE_OBJECT))
    return text.scatter(lone, [_relisted(line) for line in text.gather(lone)]) if lone.len() else text


# The line's text as DuckDB decodes it: DuckDB's struct field names ignore case, so `IdNumber` is renamed. The
# lines are first searched for `IdNumber"` without its opening quote: a search whose first byte is a quote stops
# at every quote of a JSON line (three times the CPU, a tenth of the query's decoding).
RENAMED = (f"""CASE WHEN contains(text, 'IdNumber"') THEN regexp_replace(text, '"IdNumber"(\\s*):', """
           f"""'"{ID_NUMBER_ALIAS}"\\1:', 'g') ELSE text END""")


def decoded(frame: pl.DataFrame, structure: dict) -> pl.DataFrame:
    """The frame with `post`, each line's JSON decoded against `structure` (null where the line is not JSON), and
    `received_at`, its `received_at` field read as a time (`received_time`).

    DuckDB's non-strict transform reads numbers as text and nulls what does not fit; lone objects where a list
    belongs are repaired first (`_repaired`).
    """
    with session() as con:
        con.register("lines", _repaired(frame["raw"]).alias("text").to_frame())
        got = con.sql(f"SELECT post, received_time(post.received_at) AS received_at FROM (SELECT TRY(json_transform("
                      f"{RENAMED}, $structure)) AS post FROM lines)", params={"structure": json.dumps(structure)}).pl()
    return pl.concat([frame, got.with_columns(RECEIVED_AT)], how="horizontal")


def _sql_list(values) -> str:
    return ", ".join("'" + value.replace("'", "''") + "'" for value in values)


def _objects_sql() -> tuple[str, str, str]:
    """A line's objects, the kind of a direct route's objects, and the kinds of a notification's (DuckDB expressions
    over `post`): a direct route's list is the one under the envelope its path names, a notification's lists come
    kind after kind, its objects numbered on across kinds. Kinds are not put in a struct around each object: that
    would copy every object (a third of the query's time)."""
    direct = " ".join(f"WHEN '{route}' THEN post.body.{envelope}.{listed}"
                      for route, (_, envelope, listed, _) in PATHS.items())
    notices = "post.body.SubscribeNotificationListObject.SubscribeNotificationObject"
    lists = {kind: f"flatten(list_transform({notices}, lambda n: n.{listed}List.{listed}))"
             for kind, _, listed, _ in PATHS.values()}
    objects = f"CASE post.path {direct} WHEN '{NOTIFICATIONS}' THEN flatten([{', '.join(lists.values())}]) END"
    route_kind = "CASE post.path " + " ".join(f"WHEN '{route}' THEN '{kind}'" for route, (kind, *_) in PATHS.items()) + " END"
    notified = ", ".join(f"list_transform({objects_of}, lambda o: '{kind}')" for kind, objects_of in lists.items())
    return objects, route_kind, f"CASE post.path WHEN '{NOTIFICATIONS}' THEN flatten([{notified}]) END"


def _capture_sql() -> str:
    """One row per object of a line (a line without objects: one row), its fields read, placeholders nulled and
    typed, in one DuckDB query over the lines (`lines`: i, text), so no nested value leaves DuckDB."""
    object_id = " ".join(f"WHEN '{kind}' THEN o.{field}" for kind, *_, field in PATHS.values())
    image = "o.SubImageList.SubImageInfoObject"
    times = [f"o.{f}" for f in TIME_FIELDS] + [f"{image}[1].ShotTime"] + [f"o.{f}" for f in END_FIELDS]
    shot = ", ".join(f"CASE WHEN is_time({t}) THEN {t} END" for t in times)
    present = {f: f"present(o.{f})" for f in ("PlateColor", "VehicleColor", "VehicleClass", "Direction", "TollgateID")}
    objects, route_kind, kinds = _objects_sql()
    # A null where an object belongs is one record too (with no fields, it fails the first object rule).
    return f"""
    WITH posts AS (
        SELECT i, contains(text, '\ufffd') AS wrong, TRY(json_transform({RENAMED}, $structure)) AS post FROM lines),
    listed AS (
        SELECT i, wrong, post IS NULL AS undecodable, post.path AS path, post.received_at AS received_raw,
               received_time(received_raw) AS received_at, {objects} AS objects, coalesce(len(objects), 0) AS n,
               {route_kind} AS route_kind, {kinds} AS kinds
        FROM posts),
    exploded AS (
        SELECT i, received_raw, received_at, n, route_kind,
               CASE WHEN wrong THEN 'wrong_encoding'
                    WHEN undecodable OR received_raw IS NULL OR path IS NULL THEN 'malformed_line'
                    WHEN path NOT IN ({_sql_list([*PATHS, NOTIFICATIONS])}) THEN 'unknown_path'
                    WHEN n = 0 THEN 'bad_envelope' END AS line_reason,
               CASE WHEN line_reason = 'unknown_path' THEN path END AS path,
               unnest(CASE WHEN n > 0 THEN objects ELSE [NULL] END) AS o, unnest(kinds) AS notified_kind,
               generate_subscripts(CASE WHEN n > 0 THEN objects ELSE [NULL] END, 1) AS position
        FROM listed),
    kinds AS (
        SELECT *, CASE WHEN n > 0 THEN coalesce(notified_kind, route_kind) END AS kind FROM exploded),
    fields AS (
        SELECT *, present(CASE kind {object_id} END) AS object_id, coalesce({shot}) AS shot_raw,
               present(o.PlateNo) AS plate_no FROM kinds),
    plates AS (
        SELECT *, CASE WHEN NOT coalesce(o.HasPlate IN ('0', 'false') OR plate_no IN ({_sql_list(NO_PLATE)}), false)
                       THEN plate_no END AS plate FROM fields),
    keyed AS (SELECT *, regexp_full_match(plate, '{PLAIN_PLATE}') AS plain FROM plates)
    SELECT i, position, line_reason, path, received_at, kind, object_id, present(o.DeviceID) AS device_id, shot_raw,
           object_id[23:36] = shot_raw[1:14] AS id_time_ok, TRY_CAST(o.InfoKind AS TINYINT) AS info_kind,
           CASE WHEN kind IN ({_sql_list(PERSONAL_KINDS)}) THEN {hmac_sql('object_id')} ELSE object_id END AS capture_id,
           CASE WHEN plain THEN {hmac_sql(plate_key_sql('plate'))} END AS plate_pseudonym,
           CASE WHEN NOT plain THEN plate END AS odd_plate,
           {hmac_sql(f'coalesce(present(o.IDNumber), present(o."{ID_NUMBER_ALIAS}"))')} AS person_pseudonym,
           {present["PlateColor"]} AS plate_color, {present["VehicleColor"]} AS vehicle_color,
           {present["VehicleClass"]} AS vehicle_class, TRY_CAST(o.Speed AS DOUBLE) AS speed_kmh,
           {present["Direction"]} AS direction, {present["TollgateID"]} AS tollgate_id,
           TRY_CAST(o.LaneNo AS SMALLINT) AS lane_no, coalesce(len({image}), 0)::SMALLINT AS images
    FROM keyed"""


# `present`: the text, or null where a sender wrote a placeholder for 'no value'; `is_time`: yyyyMMddHHmmss with 2
# or 3 more digits (hundredths, milliseconds), a real date from 2000 on (the 1970 epoch and the like are a
# device's 'unset'); `received_time`: a line's receive time, ISO-8601's extended form with its offset (`Z`,
# `+08:00` or `+0800`), as an instant; null without an offset (a time of no known zone) or when it is no real time.
# DuckDB's cast is lenient (a space for the `T`, a date alone, no offset, hour 24), hence the pattern before it.
MACROS = (f"CREATE MACRO present(x) AS CASE WHEN x IN ({_sql_list(PLACEHOLDERS)}) THEN NULL ELSE x END;"
          "CREATE MACRO is_time(x) AS regexp_full_match(x, '(19|20)[0-9]{12}([0-9]{2,3})?') AND x >= '2000' "
          "AND try_strptime(x[1:14], '%Y%m%d%H%M%S') IS NOT NULL;"
          "CREATE MACRO received_time(x) AS CASE WHEN regexp_full_match(x, '[0-9]{4}-[0-9]{2}-[0-9]{2}T([01][0-9]|2[0-3])"
          ":[0-5][0-9]:[0-5][0-9](\\.[0-9]+)?(Z|[+-][0-9]{2}:?[0-9]{2})') THEN TRY_CAST(x AS TIMESTAMPTZ) END;")

RECEIVED_AT = pl.col("received_at").dt.convert_time_zone(str(LOCAL_TZ))  # received_time's instant, in local time


def capture_time(raw: pl.Expr) -> pl.Expr:
    """A time `is_time` accepted (yyyyMMddHHmmss, maybe hundredths or milliseconds) → local time, to the millisecond."""
    fraction = raw.str.slice(14).str.pad_end(3, "0").cast(pl.Int64, strict=False).fill_null(0)
    return local_time(raw.str.slice(0, 14), "%Y%m%d%H%M%S") + pl.duration(milliseconds=fraction)


def post_log_frame(paths: list[Path], key: bytes) -> pl.DataFrame:
    """One row per captured object of some POST logs, decoded together (a line without readable objects: one
    row, with its `line_reason`), personal data pseudonymised with `key`."""
    with session() as con:
        return objects(pl.concat([lines(path) for path in paths]) if paths else pl.DataFrame(schema=LINES_SCHEMA),
                       con, key)


def session() -> duckdb.DuckDBPyConnection:
    """A DuckDB connection for `objects`, its macros made: one per harvest, not one per batch."""
    con = connect()
    con.execute(MACROS)
    con.execute("SET produce_arrow_string_view = true")  # results as Polars holds text (a fifth cheaper to take)
    return con


def objects(frame: pl.DataFrame, con: duckdb.DuckDBPyConnection, key: bytes) -> pl.DataFrame:
    """`post_log_frame` of some POST lines (as `lines` gives them), decoded on a `session`.

    The capture IDs of faces and persons, plates and ID numbers are pseudonymised in the same query (`hmac_sql`):
    only the pseudonyms of plates and ID numbers leave DuckDB, and the clear capture ID only for the rules, which
    drop it. A plate that is not a PLAIN_PLATE (never seen on a real one) is keyed here by `plate_key`.
    """
    text = pl.DataFrame({"i": pl.int_range(frame.height, dtype=pl.UInt32, eager=True), "text": _repaired(frame["raw"])})
    # in record batches, so that DuckDB's threads share the scan (which then hands rows back out of order); as
    # Arrow string views, Polars' own buffers (the default copies every line: 0.18 s a 290 MB hour file)
    table = text.to_arrow(compat_level=pl.CompatLevel.newest())
    con.register("lines", pa.Table.from_batches(table.to_batches(max_chunksize=SCAN_ROWS), schema=table.schema))
    del text, table
    got = con.sql(_capture_sql(), params={"structure": json.dumps(POST), **hmac_params(key)}).pl().sort("i", "position")
    con.unregister("lines")
    if got["odd_plate"].is_not_null().any():
        got = pseudonymise(got.with_columns(odd_plate=plate_key(pl.col("odd_plate"))), ["odd_plate"], key)
    files, items = frame["source_file"], frame["item"]
    del frame  # the raw lines: let go before the columns are typed
    detail = (pl.when(pl.col("line_reason") == "wrong_encoding").then(pl.lit("the line holds bytes that are not UTF-8"))
              .when(pl.col("line_reason") == "malformed_line").then(pl.lit(LINE_DETAIL))
              .when(pl.col("line_reason") == "unknown_path").then(path_detail(pl.col("path")))
              .when(pl.col("line_reason") == "bad_envelope").then(pl.lit(
                  "no objects under the envelope its path names (or, for a notification, in any of its "
                  "MotorVehicle/Face/Person/NonMotorVehicle ObjectLists)")))
    got = per_distinct(got, "shot_raw", shot_at=capture_time(pl.col("shot_raw")))  # a day's captures share seconds
    return got.select(
        files.gather(got["i"]).alias("source_file"), items.gather(got["i"]).alias("item"),
        pl.col("position").cast(pl.Int64), "line_reason", detail.alias("line_detail"),
        pl.lit("gat1400").alias("source"), "kind", "object_id", "device_id",
        RECEIVED_AT, "shot_raw", "shot_at",
        "id_time_ok", "info_kind", "capture_id", pl.coalesce("plate_pseudonym", "odd_plate").alias("plate_pseudonym"),
        "person_pseudonym", "plate_color", "vehicle_color", "vehicle_class", "speed_kmh", "direction", "tollgate_id",
        "lane_no", "images", pl.lit(None, pl.Float64).alias("likelihood"))


def path_detail(path: pl.Expr) -> pl.Expr:
    """What a quarantine may say of an unknown path: a GA/T 1400 route by name, anything else withheld (a
    sender can put a plate or an ID number in a path or its query string)."""
    route = path.str.replace(r"[?#].*$", "")
    named = pl.when(route.is_in(OTHER_ROUTES | set(PATHS) | {NOTIFICATIONS})).then(
        pl.lit("path ") + route).otherwise(pl.lit("a path that is no GA/T 1400 route (withheld)"))
    return named + pl.when(path.str.contains("?", literal=True)).then(
        pl.lit(" with a query string (withheld: it may hold personal data)")).otherwise(pl.lit(""))

