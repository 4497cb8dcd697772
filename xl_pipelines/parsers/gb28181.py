"""GB/T 28181: 20-digit device IDs, Catalog pages and change notifications, DeviceStatus responses.

lxml (libxml2 with iconv) honours the encoding the XML declaration names; the standard library's parser
refuses multi-byte encodings such as GB2312.
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
    sum_num: int
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


def _command(root: etree._Element) -> tuple[str, str]:
    return root.tag, (root.findtext("CmdType") or "").strip()


def parse_catalog_page(data: bytes) -> CatalogPage:
    """One Catalog response page or change notification, or PageError saying why it cannot be read."""
    root = parse_xml(data)
    if _command(root) not in (("Response", "Catalog"), ("Notify", "Catalog")):
        raise PageError("not_catalog", f"not a Catalog response or notification (root <{root.tag}>, "
                                       f"CmdType {root.findtext('CmdType')!r})")
    sum_num = (root.findtext("SumNum") or "").strip()
    sn = (root.findtext("SN") or "").strip()
    if not sum_num.isdigit() or not sn:
        raise PageError("not_catalog", f"SN {sn!r} / SumNum {sum_num!r} missing or not numeric")
    items, raws = [], []
    for item in root.iterfind("DeviceList/Item"):
        row = {col: _text(item, tag) for col, tag in ITEM_FIELDS.items()}
        info = item.find("Info")
        row |= {col: _text(info, tag) if info is not None else None for col, tag in INFO_FIELDS.items()}
        row["event"] = _text(item, "Event")
        items.append(row)
        raws.append(etree.tostring(item, encoding="unicode"))
    message = "notify" if root.tag == "Notify" else "response"
    return CatalogPage(message, sn, int(sum_num), (root.findtext("DeviceID") or "").strip(), items, raws)


def _text(node: etree._Element, tag: str) -> str | None:
    value = node.findtext(tag)
    return value.strip() or None if value is not None else None


def status_state(raw: pl.Expr) -> pl.Expr:
    """online / offline / video_lost / defect from the platform's spelling; null when unknown."""
    return raw.str.to_uppercase().replace_strict(STATUS_WORDS, default=None, return_dtype=pl.String)


def local_time(raw: pl.Expr, fmt: str) -> pl.Expr:
    """A local time without zone (as the standard writes them) → Asia/Shanghai; null when unparsable."""
    return raw.str.to_datetime(fmt, strict=False).dt.replace_time_zone(str(LOCAL_TZ))


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


def id_rules(column: str, banner: str, banners: BannerConfig) -> list[tuple[str, pl.Expr]]:
    """Quarantine rules every 20-digit GB/T 28181 ID obeys, in order."""
    unit = unit_expr(column, banners)
    return [
        ("bad_device_id", ~pl.col(column).fill_null("").str.contains(r"^\d{20}$")),
        ("unknown_unit", unit.is_null()),
        ("wrong_banner", unit != banner),
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
    page = parse_catalog_page(data)
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
    root = parse_xml(data)
    if _command(root) != ("Response", "DeviceStatus"):
        raise PageError("not_device_status", f"not a DeviceStatus response (root <{root.tag}>, "
                                             f"CmdType {root.findtext('CmdType')!r})")
    row = {col: _text(root, tag) for col, tag in DEVICE_STATUS_FIELDS.items()}
    return [row | {"file_device_id": match["device"], "received_raw": match["recv"],
                   "raw": etree.tostring(root, encoding="unicode")}]


def device_status_frame(files: list[Path]) -> pl.DataFrame:
    """One row per DeviceStatus response file (unreadable ones carry their `page_reason`)."""
    schema = {c: pl.String for c in [*DEVICE_STATUS_FIELDS, "file_device_id"]}
    return _documents(files, DEVICE_STATUS_FILE, "<recv>-<device_id>.xml", _device_status_row, schema)


# RecordInfo: a channel's recording index, paged like the catalog: `<recv>-<SN>-<page>.xml`.
RECORD_FIELDS = {"device_id": "DeviceID", "name": "Name", "file_path": "FilePath", "start_raw": "StartTime",
                 "end_raw": "EndTime", "type": "Type", "file_size": "FileSize"}


def _record_info_rows(data: bytes, match: re.Match) -> list[dict]:
    root = parse_xml(data)
    if _command(root) != ("Response", "RecordInfo"):
        raise PageError("not_record_info", f"not a RecordInfo response (root <{root.tag}>, "
                                           f"CmdType {root.findtext('CmdType')!r})")
    sum_num, sn = (root.findtext("SumNum") or "").strip(), (root.findtext("SN") or "").strip()
    if not sum_num.isdigit() or not sn:
        raise PageError("not_record_info", f"SN {sn!r} / SumNum {sum_num!r} missing or not numeric")
    queried = (root.findtext("DeviceID") or "").strip()
    page = {"sn": sn, "sum_num": int(sum_num), "queried_id": queried, "received_raw": match["recv"]}
    items = [({col: _text(item, tag) for col, tag in RECORD_FIELDS.items()}, etree.tostring(item, encoding="unicode"))
             for item in root.iterfind("RecordList/Item")]
    if not items:  # "nothing recorded" is an answer too: one row naming the channel, with no times
        return [dict.fromkeys(RECORD_FIELDS) | page | {"device_id": queried, "raw": etree.tostring(root, encoding="unicode")}]
    return [row | page | {"raw": raw} for row, raw in items]


def record_info_frame(files: list[Path]) -> pl.DataFrame:
    """One row per listed recording of the given RecordInfo pages (unreadable pages: one row each)."""
    schema = {c: pl.String for c in [*RECORD_FIELDS, "sn", "queried_id"]} | {"sum_num": pl.Int64}
    return _documents(files, FILE_NAME, "<recv>-<SN>-<page>.xml", _record_info_rows, schema)
