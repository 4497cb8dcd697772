"""GB/T 28181: 20-digit device IDs, Catalog pages and change notifications, DeviceStatus responses.

The bodies are decoded the way real platforms do (`decode_manscdp`), then parsed with lxml; the standard
library's parser refuses multi-byte encodings such as GB2312. Field values are read leniently where devices
are known to differ (`_text`, `_field`); what still cannot be read goes to quarantine with a reason.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import polars as pl
from lxml import etree

from xl_pipelines import landing
from xl_pipelines.banners import BannerConfig
from xl_pipelines.settings import LOCAL_TZ

CAMERA_TYPES = ("131", "132")  # camera, IP camera: the channels whose health is measured
ITEM_FIELDS = {
    "device_id": "DeviceID", "name": "Name", "manufacturer": "Manufacturer", "model": "Model",
    "owner": "Owner", "civil_code": "CivilCode", "address": "Address", "parental": "Parental",
    "parent_id": "ParentID", "status_raw": "Status", "longitude_raw": "Longitude", "latitude_raw": "Latitude",
}
INFO_FIELDS = {
    "ptz_type": "PTZType", "position_type": "PositionType", "room_type": "RoomType", "use_type": "UseType",
    "supply_light_type": "SupplyLightType", "direction_type": "DirectionType", "resolution": "Resolution",
    "point_type": "PointType", "function_type": "FunctionType", "install_time": "InstallTime",
    "management_unit": "ManagementUnit", "contact_info": "ContactInfo", "record_save_days": "RecordSaveDays",
}
EVENTS = ("ON", "OFF", "VLOST", "DEFECT", "ADD", "DEL", "UPDATE")  # a catalog change notification's <Event>
STATUS_EVENTS = {"ON": "online", "OFF": "offline", "VLOST": "video_lost", "DEFECT": "defect"}
STATUS_WORDS = {"ON": "online", "ONLINE": "online", "OK": "online", "OFF": "offline", "OFFLINE": "offline",
                "VLOST": "video_lost", "DEFECT": "defect"}
FILE_NAME = re.compile(r"^(?P<recv>\d{8}T\d{6})-(?P<sn>\d+)-(?P<page>\d+)\.xml$")
_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False)


ENCODING_ERRORS = {etree.ErrorTypes.ERR_INVALID_ENCODING, etree.ErrorTypes.ERR_UNSUPPORTED_ENCODING,
                   etree.ErrorTypes.ERR_UNKNOWN_ENCODING}


class PageError(ValueError):
    """A page that cannot be read at all: the whole page is quarantined with this reason and message."""

    def __init__(self, reason: str, message: str):
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True)
class CatalogPage:
    message: str  # "response" (a page of the catalog) or "notify" (a change notification)
    sn: str
    sum_num: int | None
    platform_id: str
    items: list[dict[str, str | None]]
    raws: list[str]


def parse_xml(data: bytes) -> etree._Element:
    """The document's root, honouring its declared encoding, or PageError (wrong_encoding / malformed_xml)."""
    try:
        return etree.fromstring(data, _PARSER)
    except etree.XMLSyntaxError as exc:
        raise PageError("wrong_encoding" if exc.code in ENCODING_ERRORS else "malformed_xml", str(exc)) from None
    except ValueError as exc:
        raise PageError("malformed_xml", str(exc)) from None


# GB2312 and GBK are subsets of GB18030: real platforms decode all three as GB18030, since devices declare
# GB2312 and still send names with characters only GBK has (萳, 堃, 喆 …).
GB_ENCODINGS = {"gb2312", "gb_2312", "gb-2312", "gb_2312-80", "gbk", "cp936", "gb18030"}
DECLARATION = re.compile(rb"^\s*<\?xml[^>]*?\?>")
DECLARED = re.compile(rb"""encoding\s*=\s*["']([^"']*)["']""")
UTF8 = {"utf-8", "utf8"}
NOT_CHINESE = re.compile("[\u0080-\u00b6\u00b8-\u07ff]")  # 2-byte UTF-8 letters, the middle dot · left out
PLACEHOLDERS = {"null"}  # what some devices write in an empty field, in any case


def decode_manscdp(data: bytes) -> bytes:
    """A MANSCDP body as UTF-8 bytes without its XML declaration, decoded as real platforms do, or
    PageError(wrong_encoding).

    A leading UTF-8 byte-order mark is dropped. A GB2312, GBK or GB18030 declaration, or none (the
    standard's signalling charset is GB2312), decodes as GB18030, unless the bytes read as UTF-8 into
    Chinese text: devices set to UTF-8 keep declaring GB2312, and UTF-8 text often decodes as GB18030 into
    wrong characters without error. GB text that happens to be valid UTF-8 (short names can be) reads as
    Latin or Greek letters (U+0080–U+07FF) there, which Chinese UTF-8 text has none of but the middle dot
    of transliterated names. A UTF-8 declaration is taken at its word; other declared encodings are left
    to lxml.
    """
    body = data.removeprefix(b"\xef\xbb\xbf")
    declaration = DECLARATION.match(body)
    named = DECLARED.search(declaration[0]) if declaration else None
    encoding = named[1].decode("ascii", "replace").strip().lower() if named else None
    if encoding not in {None, *UTF8, *GB_ENCODINGS}:
        return body
    rest = body[declaration.end():] if declaration else body
    try:
        text = rest.decode("utf-8")
        if encoding in UTF8 or not NOT_CHINESE.search(text):
            return text.encode("utf-8")
    except UnicodeDecodeError as exc:
        if encoding in UTF8:
            raise PageError("wrong_encoding", f"declared UTF-8 but is not: {exc}") from None
    try:
        return rest.decode("gb18030").encode("utf-8")
    except UnicodeDecodeError as exc:
        raise PageError("wrong_encoding",
                        f"neither UTF-8 nor GB18030 (declared {encoding or 'nothing'}): {exc}") from None


def parse_manscdp(data: bytes) -> etree._Element:
    """The root of a GB/T 28181 (MANSCDP) body, or PageError saying why it cannot be read."""
    return parse_xml(decode_manscdp(data))


def _command(root: etree._Element) -> tuple[str, str]:
    return root.tag, (root.findtext("CmdType") or "").strip()


def _envelope(fields: dict[str, str], reason: str, sn: str) -> tuple[str, int | None]:
    """SN (the file name's when the body has none) and SumNum (None when absent: a change notification
    needs none, and a page without it lands with its completeness unknown); a SumNum that is there but is
    no whole number makes the page unreadable."""
    sum_num = fields.get("SumNum")
    if sum_num is not None and not sum_num.isdigit():
        raise PageError(reason, f"SumNum {sum_num!r} is not a whole number")
    return fields.get("SN") or sn, int(sum_num) if sum_num is not None else None


def parse_catalog_page(data: bytes, sn: str) -> CatalogPage:
    """One Catalog response page or change notification, or PageError saying why it cannot be read.

    Each field is looked for where the standard puts it and then where devices are known to put it
    instead (Info fields such as PTZType directly under Item, Item fields inside Info). `sn` is the
    file name's, for bodies that carry none.
    """
    root = parse_manscdp(data)
    if _command(root) not in (("Response", "Catalog"), ("Notify", "Catalog")):
        raise PageError("not_catalog", f"not a Catalog response or notification (root <{root.tag}>, "
                                       f"CmdType {root.findtext('CmdType')!r})")
    envelope = _texts(root)
    sn, sum_num = _envelope(envelope, "not_catalog", sn)
    items, raws = [], []
    for item in root.iterfind("DeviceList/Item"):
        own, info = _texts(item), _texts(item.find("Info"))
        row = _pick(own, ITEM_FIELDS, info) | _pick(info, INFO_FIELDS, own)
        row["event"] = own.get("Event")
        # a virtual organisation's path "a/b/c": its parent is the last (as wvp-GB28181-pro reads it)
        row["parent_id"] = row["parent_id"].rsplit("/", 1)[-1].strip() or None if row["parent_id"] else None
        items.append(row)
        raws.append(etree.tostring(item, encoding="unicode"))
    message = "notify" if root.tag == "Notify" else "response"
    return CatalogPage(message, sn, sum_num, envelope.get("DeviceID", ""), items, raws)


def _pick(texts: dict[str, str], fields: dict[str, str], elsewhere: dict[str, str] | None = None) -> dict:
    """Column → text of each field, from `texts`, else from `elsewhere` (where some devices put it)."""
    return {col: texts.get(tag) or (elsewhere or {}).get(tag) for col, tag in fields.items()}


def _texts(node: etree._Element | None) -> dict[str, str]:
    """The texts of a node's child elements by tag (the first of a tag), trimmed; empty ones and
    placeholders such as `null` left out, so they read as missing."""
    texts: dict[str, str] = {}
    for child in node if node is not None else ():
        value = (child.text or "").strip() if isinstance(child.tag, str) else ""
        if value and value.lower() not in PLACEHOLDERS:
            texts.setdefault(child.tag, value)
    return texts


def status_state(raw: pl.Expr) -> pl.Expr:
    """online / offline / video_lost / defect from the platform's spelling (any case); null when unknown."""
    return raw.str.to_uppercase().replace_strict(STATUS_WORDS, default=None, return_dtype=pl.String)


def local_time(raw: pl.Expr, fmt: str) -> pl.Expr:
    """A local time without zone (as the standard writes them) → Asia/Shanghai; null when unparsable."""
    return raw.str.to_datetime(fmt, strict=False).dt.replace_time_zone(str(LOCAL_TZ))


# A device's time as devices write it: date and time joined by T (the standard) or a space, fields not
# always zero-padded, sometimes a fraction of a second and an offset (honoured).
DEVICE_TIME = (r"^(?P<y>\d{4})-(?P<mo>\d{1,2})-(?P<d>\d{1,2})[T ](?P<h>\d{1,2}):(?P<mi>\d{1,2}):(?P<s>\d{1,2})"
               r"(?P<f>\.\d+)?(?P<zone>Z|[+-]\d{2}:?\d{2})?$")


def iso_time(raw: pl.Expr, zone: str) -> pl.Expr:
    """A date-time as devices write it (DEVICE_TIME) as Asia/Shanghai time, to the microsecond; one without an
    offset is in `zone` (GB/T 28181 devices write local time, ONVIF UTC); null when it is no such time."""
    parts = raw.str.strip_chars().str.extract_groups(DEVICE_TIME)
    two = {name: parts.struct.field(name).str.zfill(2) for name in ("mo", "d", "h", "mi", "s")}
    text = pl.format("{}-{}-{}T{}:{}:{}{}", parts.struct.field("y"), *two.values(),
                     parts.struct.field("f").str.slice(0, 7).fill_null(""))  # microseconds at most
    offset = parts.struct.field("zone").str.replace("Z", "+00:00", literal=True).str.replace(":", "", literal=True)
    naive = text.str.to_datetime("%Y-%m-%dT%H:%M:%S%.f", strict=False, time_unit="us").dt.replace_time_zone(zone)
    zoned = pl.concat_str([text, offset]).str.to_datetime("%Y-%m-%dT%H:%M:%S%.f%z", strict=False, time_unit="us",
                                                          time_zone=str(LOCAL_TZ))
    return pl.when(offset.is_null()).then(naive.dt.convert_time_zone(str(LOCAL_TZ))).otherwise(zoned)


def device_time(raw: pl.Expr) -> pl.Expr:
    """A DeviceTime / StartTime / EndTime as Asia/Shanghai time (local when it has no offset), to the second
    (a fraction dropped); null when it is no such time."""
    return iso_time(raw, str(LOCAL_TZ)).dt.truncate("1s")


def received_at() -> pl.Expr:
    """The receive time a landing file's name carries (local, YYYYMMDDTHHMMSS)."""
    return local_time(pl.col("received_raw"), "%Y%m%dT%H%M%S")


def unit_expr(column: str, banners: BannerConfig) -> pl.Expr:
    """The reporting unit of each ID in `column` (null when unknown), by the configured prefixes."""
    expr = pl.when(pl.col(column).str.slice(0, 6).is_in(banners.codes)).then(pl.col(column).str.slice(0, 6))
    expr = expr.otherwise(pl.lit(None, dtype=pl.String))
    for prefix in sorted(banners.id_prefixes, key=len):
        expr = pl.when(pl.col(column).str.starts_with(prefix)).then(pl.lit(banners.id_prefixes[prefix])).otherwise(expr)
    return expr


def id_rules(column: str, code: str, banners: BannerConfig) -> list[tuple[str, pl.Expr]]:
    """Quarantine rules every 20-digit GB/T 28181 ID obeys, in order."""
    unit = unit_expr(column, banners)
    return [
        ("bad_device_id", ~pl.col(column).fill_null("").str.contains(r"^\d{20}$")),
        ("unknown_unit", unit.is_null()),
        ("wrong_banner", unit != code),
    ]


def _documents(files: list[Path], name: re.Pattern, name_rule: str,
               read: Callable[[bytes, re.Match], list[dict]], schema: dict) -> pl.DataFrame:
    """Rows from each file (`read` gives them, item 1 onwards); an unreadable file is one row (item 0) with
    its `page_reason` and `page_error`, so nothing is lost and read = accepted + quarantined holds."""
    rows: list[dict] = []
    for path in sorted(files):
        match = name.match(path.name)
        data = landing.read_bytes(path)
        try:
            if match is None:
                raise PageError("bad_file_name", f"file name is not {name_rule}")
            found = read(data, match)
        except PageError as exc:
            rows.append({"source_file": str(path), "item": 0, "page_reason": exc.reason, "page_error": str(exc),
                         "raw": data[:2000].decode("utf-8", "replace")})
            continue
        rows.extend(row | {"source_file": str(path), "item": index} for index, row in enumerate(found, start=1))
    common = {"source_file": pl.String, "item": pl.Int64, "raw": pl.String, "received_raw": pl.String,
              "page_reason": pl.String, "page_error": pl.String}
    return pl.DataFrame(rows, schema=common | schema)


def _catalog_rows(data: bytes, match: re.Match) -> list[dict]:
    page = parse_catalog_page(data, match["sn"])
    return [item | {"raw": raw, "message": page.message, "sn": page.sn, "sum_num": page.sum_num,
                    "page": int(match["page"]), "platform_id": page.platform_id, "received_raw": match["recv"]}
            for item, raw in zip(page.items, page.raws, strict=True)]


CATALOG_SCHEMA = {c: pl.String for c in [*ITEM_FIELDS, *INFO_FIELDS, "event", "message", "sn", "platform_id"]} | {
    "sum_num": pl.Int64, "page": pl.Int64}


def catalog_frame(files: list[Path]) -> pl.DataFrame:
    """All items of the given Catalog pages and notifications as rows (unreadable pages: one row each)."""
    return _documents(files, FILE_NAME, "<recv>-<SN>-<page>.xml", _catalog_rows, CATALOG_SCHEMA)


# DeviceStatus: one response per file, `<recv>-<device_id>.xml`.
DEVICE_STATUS_FILE = re.compile(r"^(?P<recv>\d{8}T\d{6})-(?P<device>[^.]+)\.xml$")
DEVICE_STATUS_FIELDS = {
    "sn": "SN", "device_id": "DeviceID", "result": "Result", "online": "Online", "status_raw": "Status",
    "encode": "Encode", "record": "Record", "device_time_raw": "DeviceTime",
}


def _device_status_row(data: bytes, match: re.Match) -> list[dict]:
    root = parse_manscdp(data)
    if _command(root) != ("Response", "DeviceStatus"):
        raise PageError("not_device_status", f"not a DeviceStatus response (root <{root.tag}>, "
                                             f"CmdType {root.findtext('CmdType')!r})")
    row = _pick(_texts(root), DEVICE_STATUS_FIELDS)
    # an answer naming no device answers for the one asked (the file name's)
    return [row | {"device_id": row["device_id"] or match["device"], "file_device_id": match["device"],
                   "received_raw": match["recv"], "raw": etree.tostring(root, encoding="unicode")}]


def device_status_frame(files: list[Path]) -> pl.DataFrame:
    """One row per DeviceStatus response file (unreadable ones carry their `page_reason`)."""
    schema = {c: pl.String for c in [*DEVICE_STATUS_FIELDS, "file_device_id"]}
    return _documents(files, DEVICE_STATUS_FILE, "<recv>-<device_id>.xml", _device_status_row, schema)


# RecordInfo: a channel's recording index, paged like the catalog: `<recv>-<SN>-<page>.xml`.
RECORD_FIELDS = {"device_id": "DeviceID", "name": "Name", "file_path": "FilePath", "start_raw": "StartTime",
                 "end_raw": "EndTime", "type": "Type", "file_size": "FileSize"}


def _record_info_rows(data: bytes, match: re.Match) -> list[dict]:
    root = parse_manscdp(data)
    if _command(root) != ("Response", "RecordInfo"):
        raise PageError("not_record_info", f"not a RecordInfo response (root <{root.tag}>, "
                                           f"CmdType {root.findtext('CmdType')!r})")
    envelope = _texts(root)
    sn, sum_num = _envelope(envelope, "not_record_info", match["sn"])
    queried = envelope.get("DeviceID")
    page = {"sn": sn, "sum_num": sum_num, "queried_id": queried, "received_raw": match["recv"]}
    items = [(_pick(_texts(item), RECORD_FIELDS), etree.tostring(item, encoding="unicode"))
             for item in root.iterfind("RecordList/Item")]
    if not items:  # "nothing recorded" is an answer too: one row naming the channel, with no times
        return [dict.fromkeys(RECORD_FIELDS) | page | {"device_id": queried, "raw": etree.tostring(root, encoding="unicode")}]
    # an entry naming no device (missing, or a placeholder such as null) is the queried channel's
    return [row | page | {"device_id": row["device_id"] or queried, "raw": raw} for row, raw in items]


def record_info_frame(files: list[Path]) -> pl.DataFrame:
    """One row per listed recording of the given RecordInfo pages (unreadable pages: one row each)."""
    schema = {c: pl.String for c in [*RECORD_FIELDS, "sn", "queried_id"]} | {"sum_num": pl.Int64}
    return _documents(files, FILE_NAME, "<recv>-<SN>-<page>.xml", _record_info_rows, schema)
