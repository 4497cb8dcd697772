"""GB/T 28181: 20-digit device IDs, Catalog pages and change notifications, DeviceStatus responses.

The bodies are decoded the way real platforms do (`decode_manscdp`), then parsed with lxml, many at a time
(`parse_many`); the standard library's parser refuses multi-byte encodings such as GB2312. Field values are
read leniently where devices are known to differ (`child_texts`, `_catalog_items`); what still cannot be read
goes to quarantine with a reason.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable

import polars as pl
from lxml import etree

from xl_pipelines import landing
from xl_pipelines.banners import BannerConfig
from xl_pipelines.settings import LOCAL_TZ, Where

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
    if rest.isascii():  # the same text in UTF-8 and in GB18030, and no Chinese to tell them apart
        return rest
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


# Many documents are parsed as one and their fields read as whole columns: libxml2 reads a city-day's 0.6 M
# small DeviceStatus answers far sooner in a few calls than in one call each, and a Python dict per document
# (or per item) was most of the rest of the time.
BATCH_BYTES = 1 << 20  # bodies parsed as one document, about this many bytes at a time
CHUNK_FILES = 4096  # files read, parsed and turned into columns at a time (their trees are let go after)
ONE_DOCUMENT = etree.XPath("*[count(*) != 1 or text()[normalize-space()]]")  # wrappers holding no single root


def parse_many(bodies: list[bytes]) -> list[etree._Element | PageError]:
    """The root of each decoded body (decode_manscdp's output), or the PageError parse_xml gives it alone.

    Bodies are parsed in batches, each inside a wrapper element named by a token none of them holds, so a
    body cannot open, close or hide a wrapper without changing their count. A batch that fails, or that holds
    a wrapper with no single root element or with text beside it, is halved until each bad body is parsed
    alone. Bodies that kept their declaration (an encoding left to lxml) or could hide text beside their root
    from that check (CDATA, a character reference) are parsed alone. So each answer is what parse_xml gives.
    """
    roots: list[etree._Element | PageError | None] = [None] * len(bodies)
    batch, size = [], 0
    for index, body in enumerate(bodies):
        if DECLARATION.match(body) or b"<![" in body or b"&#" in body:
            roots[index] = _parse_alone(body)
            continue
        batch.append(index)
        size += len(body)
        if size >= BATCH_BYTES:
            _parse_batch(bodies, batch, roots)
            batch, size = [], 0
    _parse_batch(bodies, batch, roots)
    return roots


def _parse_alone(body: bytes) -> etree._Element | PageError:
    try:
        return parse_xml(body)
    except PageError as exc:
        return exc


def _parse_batch(bodies: list[bytes], batch: list[int], roots: list) -> None:
    """parse_many for the bodies at `batch`, written into `roots`."""
    if len(batch) <= 1:
        for index in batch:
            roots[index] = _parse_alone(bodies[index])
        return
    while True:
        token = b"b" + secrets.token_hex(8).encode()
        start, end = b"<" + token + b">", b"</" + token + b">"
        text = b"<all>" + start + (end + start).join(bodies[i] for i in batch) + end + b"</all>"
        if text.count(token) == 2 * len(batch):  # no body holds the token
            break
    try:
        top = etree.fromstring(text, _PARSER)
    except (etree.XMLSyntaxError, ValueError):
        top = None
    if top is not None and len(top) == len(batch) and not ONE_DOCUMENT(top):
        for index, root in zip(batch, top.iterfind("*/*"), strict=True):
            roots[index] = root
        return
    half = len(batch) // 2
    _parse_batch(bodies, batch[:half], roots)
    _parse_batch(bodies, batch[half:], roots)


def child_texts(nodes: list[etree._Element | None], fields: dict[str, str]) -> pl.DataFrame:
    """One row per node, one column per field (column → tag): the text of the node's first child of that tag
    that has one, trimmed; empty texts and placeholders such as `null` read as missing, and so does every
    field of a None node. What `_texts` gives one node, for many at once."""
    tags = tuple(dict.fromkeys(fields.values()))
    found = [(position, child.tag, child.text) for position, node in enumerate(nodes) if node is not None
             for child in node.iterchildren(*tags)]
    text = pl.col("text").str.strip_chars()
    texts = (pl.DataFrame(found, schema={"node": pl.Int64, "tag": pl.String, "text": pl.String}, orient="row")
             .with_columns(text=text).filter(text != "", ~text.str.to_lowercase().is_in(list(PLACEHOLDERS)))
             .unique(["node", "tag"], keep="first", maintain_order=True))
    wide = pl.DataFrame({"node": range(len(nodes))}, schema={"node": pl.Int64}).join(
        texts.pivot("tag", index="node", values="text"), on="node", how="left")
    # a tag no node has is a column of nulls, one a node (so no nodes give no rows)
    missing = [pl.lit(None, pl.String).alias(tag) for tag in tags if tag not in wide.columns]
    return wide.with_columns(missing).select(pl.col(tag).alias(column) for column, tag in fields.items())


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


def _expect(root: etree._Element, tags: tuple[str, ...], command: str, reason: str, what: str) -> None:
    """PageError(reason) unless the root is one of `tags` carrying CmdType `command`."""
    # the first CmdType child, as findtext finds it (without its path parser: half the time)
    found = next(root.iterchildren("CmdType"), None)
    said = None if found is None else found.text or ""
    if root.tag not in tags or (said or "").strip() != command:
        raise PageError(reason, f"not {what} (root <{root.tag}>, CmdType {said!r})")


def _unreadable(number: int, path: Where, data: bytes, exc: PageError) -> dict:
    return {"file": number, "source_file": str(path), "item": 0, "page_reason": exc.reason, "page_error": str(exc),
            "raw": data[:2000].decode("utf-8", "replace")}


# A page judged: its own values (page_schema's columns) and its records, each a node (None: a record with no
# fields of its own) and the record's raw text.
Page = tuple[tuple, list[tuple[etree._Element | None, str]]]
COMMON = {"source_file": pl.String, "item": pl.Int64, "raw": pl.String, "received_raw": pl.String,
          "page_reason": pl.String, "page_error": pl.String}


def _documents(files: list[Where], name: re.Pattern, name_rule: str,
               page: Callable[[etree._Element, re.Match, bytes], Page], page_schema: dict,
               columns: Callable[[list], pl.DataFrame], schema: dict) -> pl.DataFrame:
    """Rows from each file, item 1 onwards: `page` judges a parsed document (PageError when it is not one of
    its kind) and gives its records, `columns` the records' fields, many documents at once. An unreadable
    file is one row (item 0) with its `page_reason` and `page_error`, so nothing is lost and read = accepted
    + quarantined holds. Rows come in file order, then item order."""
    ordered, frames, unreadable = sorted(files), [], []
    for start in range(0, len(ordered), CHUNK_FILES):
        named, bodies = [], []
        for number, path in enumerate(ordered[start:start + CHUNK_FILES], start):
            data = landing.read_bytes(path)
            try:
                if (match := name.match(path.name)) is None:
                    raise PageError("bad_file_name", f"file name is not {name_rule}")
                bodies.append(decode_manscdp(data))
            except PageError as exc:
                unreadable.append(_unreadable(number, path, data, exc))
                continue
            named.append((number, path, match, data))
        pages, owners, items, nodes, raws = [], [], [], [], []
        for (number, path, match, data), body, root in zip(named, bodies, parse_many(bodies), strict=True):
            try:
                if isinstance(root, PageError):
                    raise root
                values, found = page(root, match, body)
            except PageError as exc:
                unreadable.append(_unreadable(number, path, data, exc))
                continue
            owners += [len(pages)] * len(found)
            items += range(1, len(found) + 1)
            pages.append((number, str(path), *values))
            for node, raw in found:
                nodes.append(node)
                raws.append(raw)
        page_frame = pl.DataFrame(pages, schema={"file": pl.Int64, "source_file": pl.String} | page_schema, orient="row")
        frames.append(pl.concat([page_frame.select(pl.all().gather(owners)), columns(nodes),
                                 pl.DataFrame({"item": items, "raw": raws}, schema={"item": pl.Int64, "raw": pl.String})],
                                how="horizontal"))
    everything = COMMON | schema
    rows = pl.concat([pl.DataFrame(schema={"file": pl.Int64} | everything), *frames,
                      pl.DataFrame(unreadable, schema={"file": pl.Int64, **{c: COMMON[c] for c in (
                          "source_file", "item", "page_reason", "page_error", "raw")}})], how="diagonal")
    return rows.sort("file", "item").select(list(everything))


def _catalog_page(root: etree._Element, match: re.Match, body: bytes) -> Page:
    _expect(root, ("Response", "Notify"), "Catalog", "not_catalog", "a Catalog response or notification")
    envelope = _texts(root)
    sn, sum_num = _envelope(envelope, "not_catalog", match["sn"])
    message = "notify" if root.tag == "Notify" else "response"
    return ((match["recv"], int(match["page"]), message, sn, sum_num, envelope.get("DeviceID", "")),
            [(item, etree.tostring(item, encoding="unicode")) for item in root.iterfind("DeviceList/Item")])


def _catalog_items(items: list[etree._Element]) -> pl.DataFrame:
    """Each field where the standard puts it, then where devices are known to put it instead (Info fields
    such as PTZType directly under Item, Item fields inside Info)."""
    fields = ITEM_FIELDS | INFO_FIELDS | {"event": "Event"}
    own, info = child_texts(items, fields), child_texts([item.find("Info") for item in items], fields)
    # a virtual organisation's path "a/b/c": its parent is the last (as wvp-GB28181-pro reads it)
    parent = pl.col("parent_id").str.split("/").list.last().str.strip_chars()
    return pl.DataFrame([
        *(own[c].fill_null(info[c]) for c in ITEM_FIELDS), *(info[c].fill_null(own[c]) for c in INFO_FIELDS),
        own["event"]]).with_columns(parent_id=pl.when(parent != "").then(parent))


CATALOG_PAGE = {"received_raw": pl.String, "page": pl.Int64, "message": pl.String, "sn": pl.String,
                "sum_num": pl.Int64, "platform_id": pl.String}
CATALOG_SCHEMA = {c: pl.String for c in [*ITEM_FIELDS, *INFO_FIELDS, "event", "message", "sn", "platform_id"]} | {
    "sum_num": pl.Int64, "page": pl.Int64}


def catalog_frame(files: list[Where]) -> pl.DataFrame:
    """All items of the given Catalog pages and notifications as rows (unreadable pages: one row each)."""
    return _documents(files, FILE_NAME, "<recv>-<SN>-<page>.xml", _catalog_page, CATALOG_PAGE, _catalog_items,
                      CATALOG_SCHEMA)


# DeviceStatus: one response per file, `<recv>-<device_id>.xml`.
DEVICE_STATUS_FILE = re.compile(r"^(?P<recv>\d{8}T\d{6})-(?P<device>[^.]+)\.xml$")
DEVICE_STATUS_FIELDS = {
    "sn": "SN", "device_id": "DeviceID", "result": "Result", "online": "Online", "status_raw": "Status",
    "encode": "Encode", "record": "Record", "device_time_raw": "DeviceTime",
}


def _device_status_page(root: etree._Element, match: re.Match, body: bytes) -> Page:
    _expect(root, ("Response",), "DeviceStatus", "not_device_status", "a DeviceStatus response")
    return (match["recv"], match["device"]), [(root, body.decode("utf-8"))]


def device_status_frame(files: list[Where]) -> pl.DataFrame:
    """One row per DeviceStatus response file (unreadable ones carry their `page_reason`); `raw` is the
    response as decoded."""
    frame = _documents(files, DEVICE_STATUS_FILE, "<recv>-<device_id>.xml", _device_status_page,
                       {"received_raw": pl.String, "file_device_id": pl.String},
                       lambda roots: child_texts(roots, DEVICE_STATUS_FIELDS),
                       {c: pl.String for c in [*DEVICE_STATUS_FIELDS, "file_device_id"]})
    # an answer naming no device answers for the one asked (the file name's)
    return frame.with_columns(device_id=pl.coalesce("device_id", "file_device_id"))


# RecordInfo: a channel's recording index, paged like the catalog: `<recv>-<SN>-<page>.xml`.
RECORD_FIELDS = {"device_id": "DeviceID", "name": "Name", "file_path": "FilePath", "start_raw": "StartTime",
                 "end_raw": "EndTime", "type": "Type", "file_size": "FileSize"}


def _record_info_page(root: etree._Element, match: re.Match, body: bytes) -> Page:
    _expect(root, ("Response",), "RecordInfo", "not_record_info", "a RecordInfo response")
    envelope = _texts(root)
    sn, sum_num = _envelope(envelope, "not_record_info", match["sn"])
    items = [(item, etree.tostring(item, encoding="unicode")) for item in root.iterfind("RecordList/Item")]
    # "nothing recorded" is an answer too: one row naming the channel, with no times
    return (match["recv"], sn, sum_num, envelope.get("DeviceID")), items or [(None, body.decode("utf-8"))]


def record_info_frame(files: list[Where]) -> pl.DataFrame:
    """One row per listed recording of the given RecordInfo pages (unreadable pages: one row each)."""
    frame = _documents(files, FILE_NAME, "<recv>-<SN>-<page>.xml", _record_info_page,
                       {"received_raw": pl.String, "sn": pl.String, "sum_num": pl.Int64, "queried_id": pl.String},
                       lambda items: child_texts(items, RECORD_FIELDS),
                       {c: pl.String for c in [*RECORD_FIELDS, "sn", "queried_id"]} | {"sum_num": pl.Int64})
    # an entry naming no device (missing, or a placeholder such as null) is the queried channel's
    return frame.with_columns(device_id=pl.coalesce("device_id", "queried_id"))
