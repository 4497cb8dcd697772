"""GB/T 28181 bodies as real devices and platforms send them (tests/fixtures/real/gb28181; the README beside
them says where each quirk was seen): what xl must extract from each, worked out by hand from the bytes.

The fixtures are copied into a landing layout and read by the harvests the assets run."""

import datetime as dt
import shutil
from pathlib import Path

import polars as pl
import pytest
from lxml import etree

from tests.conftest import materialise
from xl_pipelines import camera_health, recordings
from xl_pipelines.banners import load_banners
from xl_pipelines.harvest_scope import HarvestScope
from xl_pipelines.lake import Lake
from xl_pipelines.parsers import gb28181
from xl_pipelines.settings import LOCAL_TZ

FIXTURES = Path(__file__).parent / "fixtures" / "real" / "gb28181"
DAY, BANNER = dt.date(2026, 11, 20), "150502"
NOW = dt.datetime(2026, 11, 21, 3, 0, tzinfo=LOCAL_TZ)
NVR, CH11, CH12 = "15050200001180000001", "15050200001310000011", "15050200001310000012"
IPC = {n: f"150502000013200000{n}" for n in range(21, 31)}


def at(hour: int, minute: int = 0, second: int = 0, microsecond: int = 0) -> dt.datetime:
    return dt.datetime(2026, 11, 20, hour, minute, second, microsecond, tzinfo=LOCAL_TZ)


@pytest.fixture(scope="module")
def landing(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("real") / "landing"
    shutil.copytree(FIXTURES, root)
    return root


def files(landing: Path, source: str) -> list[Path]:
    return sorted((landing / source / DAY.isoformat() / BANNER).glob("*.xml"))


def fixture(source: str, name: str) -> bytes:
    return (FIXTURES / source / DAY.isoformat() / BANNER / name).read_bytes()


@pytest.fixture(scope="module")
def catalog(landing):
    return camera_health.harvest_catalog(files(landing, "catalog"), BANNER, load_banners())


@pytest.fixture(scope="module")
def cameras(catalog):
    return camera_health.registry(catalog.accepted, load_banners().by_code(BANNER))


@pytest.fixture(scope="module")
def scope(cameras):
    return HarvestScope.of(BANNER, DAY, load_banners(), cameras, pl.Series(dtype=pl.String), NOW)


@pytest.fixture(scope="module")
def device_status(landing, scope):
    return camera_health.harvest_device_status(files(landing, "devicestatus"), scope)


@pytest.fixture(scope="module")
def record_index(landing, scope):
    return recordings.harvest_record_index(files(landing, "recordinfo"), scope)


def responses(catalog) -> pl.DataFrame:
    return catalog.accepted.filter(pl.col("message") == "response")


def test_the_fixtures_carry_the_quirks_they_claim():
    """A second look at the bytes, independent of the parser: each encoding quirk is really in its file."""
    hikvision = fixture("catalog", "20261120T020000-3001-1.xml")
    assert hikvision.startswith(b'<?xml version="1.0" encoding="GB2312"?>\r\n')
    with pytest.raises(UnicodeDecodeError):
        hikvision.decode("gb2312")  # 萳 and 堃 are GBK characters, outside GB2312
    assert "萳苑小区东门" in hikvision.decode("gbk")
    utf8_under_gb2312 = fixture("catalog", "20261120T020500-3002-1.xml")
    assert utf8_under_gb2312.startswith(b'\xef\xbb\xbf<?xml version="1.0" encoding="GB2312"?>')
    assert "和平路与永清大街交叉口" in utf8_under_gb2312.decode("utf-8-sig")
    gb_after_bom = fixture("catalog", "20261120T021000-3003-1.xml")
    assert gb_after_bom.startswith(b"\xef\xbb\xbf") and "喆" in gb_after_bom[3:].decode("gb18030")
    with pytest.raises(UnicodeDecodeError):
        gb_after_bom.decode("utf-8-sig")
    assert fixture("catalog", "20261120T022500-3006-1.xml").startswith(b"<Response>")
    with pytest.raises(UnicodeDecodeError):
        fixture("catalog", "20261120T024500-3012-1.xml").decode("gb18030")


def test_names_read_whatever_the_page_declares(catalog):
    names = dict(zip(responses(catalog)["device_id"], responses(catalog)["name"], strict=True))
    assert names == {
        # GB2312 declared, GBK characters
        NVR: "明仁大街萳苑小区NVR", CH11: "萳苑小区东门", CH12: "萳苑小区西门",
        IPC[21]: "和平路与永清大街交叉口",  # BOM, GB2312 declared, UTF-8 bytes
        IPC[22]: "霍林河大街喆园北门",      # BOM before a GB2312 declaration, GB bytes
        IPC[23]: "西拉木伦大街东段",        # BOM before a UTF-8 declaration
        IPC[24]: "红星美凯龙南门",          # declaration without encoding, GB bytes
        IPC[25]: "通辽站广场",              # no declaration, UTF-8
        IPC[26]: "建国路学校北门",
        IPC[27]: "霍林郭勒市可汗山大街卡口",  # wrapped in newlines and spaces
    }
    address = responses(catalog).filter(pl.col("device_id") == CH11)["address"].item()
    assert address == "科尔沁区堃泰路12号东门"


def test_status_words_in_every_spelling(catalog):
    rows = responses(catalog).select("device_id", "status_raw", "status").rows()
    assert sorted(rows) == sorted([
        (NVR, "ON", "online"), (CH11, "ON", "online"), (CH12, "OFF", "offline"), (IPC[21], "ONLINE", "online"),
        (IPC[22], "On", "online"), (IPC[23], "OK", "online"), (IPC[24], "ON", "online"), (IPC[25], "ON", "online"),
        (IPC[26], "ON", "online"), (IPC[27], "ON", "online")])


def test_placeholders_are_missing_values(catalog, cameras):
    item = responses(catalog).filter(pl.col("device_id") == IPC[26]).row(0, named=True)
    for column in ("model", "owner", "address", "parent_id", "longitude_raw", "latitude_raw", "ptz_type",
                   "install_time", "contact_info"):
        assert item[column] is None, column
    assert (item["point_type"], item["record_save_days"], item["manufacturer"]) == ("1", "90", "Dahua")
    camera = cameras.filter(pl.col("channel_id") == IPC[26]).row(0, named=True)
    # no coordinates (not zero ones: the camera is registered, its annotation is wrong); ParentID null → itself
    assert (camera["device_id"], camera["annotation_fault"], camera["point_class"]) == (IPC[26], "no_coordinates", 1)


def test_fields_outside_the_element_the_standard_puts_them_in(catalog, cameras):
    ptz = dict(zip(responses(catalog)["device_id"], responses(catalog)["ptz_type"], strict=True))
    assert (ptz[CH11], ptz[CH12], ptz[IPC[27]]) == ("1", "3", "3")  # under Item (Hikvision); in Info
    item = responses(catalog).filter(pl.col("device_id") == IPC[27]).row(0, named=True)
    assert (item["point_type"], item["function_type"], item["install_time"], item["contact_info"],
            item["record_save_days"], item["management_unit"]) == (
        "1", "03", "2024-05-17T00:00:00", "0475-8888888", "90", "科尔沁区公安分局")
    assert (item["longitude"], item["latitude"]) == (122.2705, 43.6311)  # inside Info, padded with newlines
    camera = cameras.filter(pl.col("channel_id") == IPC[27]).row(0, named=True)
    assert (camera["point_class"], camera["function_type"], camera["install_date"], camera["record_save_days"],
            camera["annotation_fault"]) == (1, "03", dt.date(2024, 5, 17), 90, None)


def test_notifications_without_sn_sumnum_or_num(catalog, cameras):
    notes = catalog.accepted.filter(pl.col("message") == "notify").sort("received_at", "item")
    assert notes.select("device_id", "event", "sn", "sum_num").rows() == [
        (CH11, "OFF", "7001", None), (IPC[21], "ON", "7001", None),  # no SN in the body: the file name's
        (IPC[28], "ADD", "7002", 2), (IPC[25], "DEL", "7002", 2), (IPC[23], "UPDATE", "7003", 3)]
    assert notes["catalog_complete"].is_null().all()
    # ParentID "platform/business group": the last is the parent, no device (type 215), so IPC 28 stands alone
    assert notes.filter(pl.col("device_id") == IPC[28])["parent_id"].item() == "15050200002150000001"
    registered = dict(zip(cameras["channel_id"], cameras["device_id"], strict=True))
    # the NVR (type 118) is no camera; its channels are recorded through it; IPC 28 was added, 25 deleted at 09:30
    assert registered == {CH11: NVR, CH12: NVR} | {IPC[n]: IPC[n] for n in range(21, 29)}
    removed = cameras.filter(pl.col("removed_at").is_not_null())
    assert removed.select("channel_id", "removed_at").rows() == [(IPC[25], at(9, 30))]
    assert cameras.filter(pl.col("channel_id") == IPC[23])["name"].item() == "西拉木伦大街东段（改）"


def test_catalog_pages_complete_by_their_own_sumnum(catalog):
    assert responses(catalog)["catalog_complete"].all()


def test_what_cannot_be_read_in_a_catalog_is_quarantined(catalog):
    got = {(Path(f).name, item): reason for f, item, reason in catalog.quarantined.select(
        "source_file", "item", "reason").rows()}
    assert got == {
        ("20261120T024000-3011-1.xml", 0): "malformed_xml",   # cut off mid-element
        ("20261120T024500-3012-1.xml", 0): "wrong_encoding",  # 0xFF: neither UTF-8 nor GB18030
        ("20261120T100000-7003-1.xml", 2): "unknown_event",   # a notification item without Event
        ("20261120T100000-7003-1.xml", 3): "bad_device_id",   # DeviceID null
    }


def test_clock_skew_from_every_device_time_spelling(device_status):
    skew = {Path(f).name: (d, s) for d, s, f in device_status.accepted.select(
        "device_id", "clock_skew_s", "source_file").rows()}
    assert skew == {
        f"20261120T100000-{IPC[21]}.xml": (IPC[21], 7),        # 10:00:07, the standard's shape
        f"20261120T100458-{IPC[22]}.xml": (IPC[22], 2),        # "2026-11-20 10:05:00", a space
        f"20261120T101000-{IPC[23]}.xml": (IPC[23], 3),        # 10:10:03.517, the fraction dropped
        f"20261120T101500-{IPC[24]}.xml": (IPC[24], 30),       # 10:15:30+08:00
        f"20261120T102000-{IPC[26]}.xml": (IPC[26], -28800),   # a camera left on UTC: 02:20:00 at 10:20 local
        f"20261120T090500-{IPC[27]}.xml": (IPC[27], 7),        # 2026-11-20T9:5:7, unpadded
        f"20261120T110000-{CH11}.xml": (NVR, -4),              # asked the channel, the NVR answered for it
        f"20261120T110500-{NVR}.xml": (CH12, 9),               # asked the NVR, its channel answered
        f"20261120T111500-{IPC[28]}.xml": (IPC[28], None),     # ERROR, no DeviceTime, no DeviceID: the asked one
    }


def test_device_status_flags_in_every_spelling(device_status):
    flags = {d: row for d, *row in device_status.accepted.select(
        "device_id", "result_ok", "online", "status_ok", "encode_on", "record_on").rows()}
    assert flags[IPC[22]] == [True, True, True, True, True]    # Online "Online"
    assert flags[IPC[23]] == [True, True, True, True, True]    # Status "ONLINE"
    assert flags[IPC[27]] == [True, True, True, True, False]   # Record "off"
    assert flags[CH12] == [True, False, True, True, True]      # OFFLINE
    assert flags[IPC[28]] == [False, True, False, True, True]  # Result ERROR, Status ERROR


def test_what_cannot_be_read_in_device_status_is_quarantined(device_status):
    got = {Path(f).name: (r, reason) for f, r, reason in device_status.quarantined.select(
        "source_file", "record_id", "reason").rows()}
    assert got == {
        f"20261120T111000-{IPC[21]}.xml": (IPC[22], "device_mismatch"),  # two unrelated cameras
        f"20261120T112000-{IPC[23]}.xml": (IPC[23], "bad_device_time"),  # epoch seconds
        f"20261120T112500-{IPC[24]}.xml": (None, "not_device_status"),   # a keepalive
    }


def test_record_index_entries(record_index):
    entries = record_index.accepted.select(
        "channel_id", "start_at", "end_at", "duration_s", "record_type", "file_size", "index_complete").rows()
    assert entries == [
        (CH11, at(0), at(1), 3600.0, "time", None, True),                  # listed under the NVR's ID
        (CH11, at(1), at(2), 3600.0, "time", None, True),
        (IPC[21], None, None, None, None, None, True),                     # SumNum 0: answered, nothing recorded
        (IPC[22], at(0, 5), at(0, 10, 3), 303.0, None, 6245911, True),     # DeviceID / Type null
        (IPC[22], at(0, 10, 3), at(0, 15, 2), 299.0, None, 6198004, True),
        (IPC[23], at(8), at(9), 3600.0, "time", None, True),               # times with a space; Type "Time"
        (IPC[23], at(9), at(9, 59, 58), 3598.0, "alarm", None, True),
        (IPC[24], at(12), at(12, 30), 1800.0, "time", None, None),         # no SumNum: completeness unknown
        (IPC[26], at(13), at(14), 3600.0, "time", None, True),
    ]


def test_what_cannot_be_read_in_record_info_is_quarantined(record_index):
    got = {(Path(f).name, item): reason for f, item, reason in record_index.quarantined.select(
        "source_file", "item", "reason").rows()}
    assert got == {
        ("20261120T230500-5006-1.xml", 2): "bad_time",       # ends before it starts
        ("20261120T230500-5006-1.xml", 3): "bad_time",       # 25:00:00
        ("20261120T230600-5007-1.xml", 0): "malformed_xml",  # cut off
    }


GB2312 = '<?xml version="1.0" encoding="GB2312"?>\n'


@pytest.mark.parametrize(("body", "text"), [
    ((GB2312 + "<a>学校</a>").encode("gb2312"), "学校"),        # GB bytes that are valid UTF-8 too ("ѧУ")
    ("<a>医院</a>".encode("gb2312"), "医院"),                   # the same ("ҽԺ") without a declaration
    ((GB2312 + "<a>巴特尔·朝鲁</a>").encode("utf-8"), "巴特尔·朝鲁"),  # UTF-8 under GB2312, a middle dot
    (b"\xef\xbb\xbf" + (GB2312 + "<a>萳</a>").encode("gb18030"), "萳"),
    ('<?xml version="1.0" encoding="UTF-8"?><a>é</a>'.encode(), "é"),
])
def test_decoding_as_platforms_do(body, text):
    assert gb28181.parse_manscdp(body).text == text


@pytest.mark.parametrize("body", [
    '<?xml version="1.0" encoding="UTF-8"?><a>时钟</a>'.encode("gb2312"),  # declared UTF-8: taken at its word
    (GB2312 + "<a>站前</a>").encode("gb2312") + b"\xff",                 # neither UTF-8 nor GB18030
])
def test_undecodable_bodies_are_wrong_encoding(body):
    with pytest.raises(gb28181.PageError) as raised:
        gb28181.parse_manscdp(body)
    assert raised.value.reason == "wrong_encoding"


GOOD = [b"<Response><SN>1</SN></Response>", b"<!--c--><R>x</R>\n<?p?>", b"<R xmlns:a='u'><a:X/></R>",
        b'<?xml version="1.0" encoding="ISO-8859-1"?><R>\xe9</R>']
# bodies that alone are no document, but inside a batch could pass for one or swallow a neighbour: an open
# comment and its end in the next body, a stray end tag, a character reference or CDATA beside the root (blank
# inside a batch), two roots, none, text before the root, an unclosed root
BAD = [b"<R><!--", b"--></R>", b"<R/></b><b><R/>", b"&#32;<R/>", b"<R/><![CDATA[ ]]>", b"<R/><R/>", b"", b"text<R/>",
       b"<R>"]


@pytest.mark.parametrize("batch_bytes", [40, 1 << 20])
def test_many_bodies_read_as_each_alone(monkeypatch, batch_bytes):
    """parse_many parses bodies in batches (small ones here, so bad bodies share batches with good ones):
    each still gets what parsing it alone gives, a root or the same error."""
    monkeypatch.setattr(gb28181, "BATCH_BYTES", batch_bytes)
    bodies = [GOOD[0], BAD[0], BAD[1], GOOD[1], *BAD[2:5], GOOD[2], *BAD[5:], GOOD[3]]
    roots = gb28181.parse_many(bodies)
    assert [isinstance(root, gb28181.PageError) for root in roots] == [body in BAD for body in bodies]
    read = [root for root in roots if not isinstance(root, gb28181.PageError)]
    assert [(root.tag, root.text) for root in read] == [("Response", None), ("R", "x"), ("R", None), ("R", "é")]
    assert read[0].findtext("SN") == "1" and read[2][0].tag == "{u}X"
    for body, root in zip(bodies, roots, strict=True):
        try:
            alone = etree.tostring(gb28181.parse_xml(body))
        except gb28181.PageError as exc:
            alone = (exc.reason, str(exc))
        assert (etree.tostring(root, with_tail=False) if isinstance(root, etree._Element) else (root.reason, str(root))) == alone


@pytest.mark.parametrize(("body", "message"), [
    (b"<Response><CmdType>Catalog</CmdType></Response>", "CmdType 'Catalog'"),
    (b"<Response><SN>1</SN></Response>", "CmdType None"),  # none at all
    (b"<Response><CmdType/><CmdType>DeviceStatus</CmdType></Response>", "CmdType ''"),  # the first one counts
    (b"<Response xmlns='urn:x'><CmdType>DeviceStatus</CmdType></Response>", "CmdType None"),  # another namespace's
    (b"<Response><Info><CmdType>DeviceStatus</CmdType></Info></Response>", "CmdType None"),  # not a child
    (b"<Notify><CmdType>DeviceStatus</CmdType></Notify>", "root <Notify>, CmdType 'DeviceStatus'"),
])
def test_a_body_of_another_command_is_named_by_its_root_and_first_cmdtype(body, message):
    with pytest.raises(gb28181.PageError) as refused:
        gb28181._expect(gb28181.parse_xml(body), ("Response",), "DeviceStatus", "not_device_status", "an answer")
    assert refused.value.reason == "not_device_status" and message in str(refused.value)
    gb28181._expect(gb28181.parse_xml(b"<Response><!--c--><CmdType> DeviceStatus\n</CmdType></Response>"),
                    ("Response",), "DeviceStatus", "not_device_status", "an answer")  # trimmed: no error


def test_fields_of_no_nodes_or_of_nodes_without_them_are_missing():
    fields = {"sn": "SN", "name": "Name"}
    assert gb28181.child_texts([], fields).rows() == []
    assert gb28181.child_texts([None, etree.fromstring(b"<R><X>1</X></R>")], fields).rows() == [(None, None)] * 2
    nodes = [etree.fromstring(b"<R><SN> </SN><SN>7</SN><Name>NULL</Name></R>"), None]
    assert gb28181.child_texts(nodes, fields).rows() == [("7", None), (None, None)]


def test_a_chunk_of_only_unreadable_answers_is_one_quarantined_row_each(tmp_path):
    """Every file of a chunk unreadable: no answer's fields to read, and still one row a file (this failed
    once: no nodes gave one row of nulls, which did not fit the chunk's zero pages)."""
    names = ["20261120T000000-15050200001310000011.xml", "20261120T000100-15050200001310000012.xml"]
    for name, body in zip(names, [b"<Response>", b"<Response><CmdType>Catalog</CmdType></Response>"], strict=True):
        (tmp_path / name).write_bytes(body)
    frame = gb28181.device_status_frame(sorted(tmp_path.iterdir()))
    assert frame.select("item", "page_reason", "device_id").rows() == [
        (0, "malformed_xml", None), (0, "not_device_status", None)]


@pytest.mark.parametrize(("raw", "expected"), [
    ("2026-11-20T21:30:15", at(21, 30, 15)), ("2026-11-20 21:30:15", at(21, 30, 15)),
    (" 2026-11-20T21:30:15.999 ", at(21, 30, 15)), ("2026-11-20T13:30:15Z", at(21, 30, 15)),
    ("2026-11-20T21:30:15+0800", at(21, 30, 15)), ("2026-11-20T22:30:15+09:00", at(21, 30, 15)),
    ("2026-11-20T9:5:7", at(9, 5, 7)), ("1795147200", None), ("2026-11-20T21:30", None),
    ("2026-13-01T00:00:00", None), ("2026-11-20T24:00:00", None), ("20261120T213015", None), ("", None),
])
def test_device_time_spellings(raw, expected):
    assert pl.select(gb28181.device_time(pl.lit(raw))).item() == expected


@pytest.mark.parametrize(("raw", "expected"), [
    ("2026-11-20T13:30:15.120Z", at(21, 30, 15, 120_000)), ("2026-11-20T13:30:15", at(21, 30, 15)),  # naked: UTC
    ("2026-11-20T21:30:15.5+08:00", at(21, 30, 15, 500_000)), ("2026-11-20T08:30:15.25-05:00", at(21, 30, 15, 250_000)),
    ("2026-11-20T13:30:15.1234567Z", at(21, 30, 15, 123_456)), ("2026-11-20T13:30Z", None), ("Z", None),
])
def test_onvif_times_are_read_by_the_same_parser_with_utc_for_a_naked_time_and_the_fraction_kept(raw, expected):
    assert pl.select(gb28181.iso_time(pl.lit(raw), "UTC")).item() == expected


def test_every_record_read_is_accepted_or_quarantined(catalog, device_status, record_index):
    """Counted by hand from the fixtures: a readable page gives one record per item (a RecordInfo page
    with none gives one), an unreadable file one; each (file, item) lands exactly once."""
    expected = {
        "catalog": {"3001": 3, "3002": 1, "3003": 1, "3004": 1, "3005": 1, "3006": 1, "3007": 1, "3008": 1,
                    "3011": 1, "3012": 1, "7001": 2, "7002": 2, "7003": 3},
        "recordinfo": {"5001": 1, "5002": 2, "5003": 2, "5004": 2, "5005": 1, "5006": 3, "5007": 1},
    }
    for harvest, counts in ((catalog, expected["catalog"]), (record_index, expected["recordinfo"])):
        assert harvest.read == sum(counts.values())
        keys = [(Path(f).name.split("-")[1], i) for f, i in pl.concat(
            [harvest.accepted.select("source_file", "item"), harvest.quarantined.select("source_file", "item")]).rows()]
        unreadable = {"3011", "3012", "5007"}  # the pages cut off or in no encoding: one record each
        assert sorted(keys) == sorted((sn, 0) if sn in unreadable else (sn, i)
                                      for sn, n in counts.items() for i in range(1, n + 1))
    landed = [*device_status.accepted["source_file"], *device_status.quarantined["source_file"]]
    assert device_status.read == 12 and sorted(landed) == sorted(str(f) for f in files(
        Path(landed[0]).parents[3], "devicestatus"))


def test_the_field_answers_reach_the_clock_indicators(landing, xl_home, tmp_path):
    """Through the banner-day's assets: a channel without answers of its own takes the skew its NVR reported
    for it (CH11), and clock accuracy counts the eight devices that answered with a time."""
    tables = materialise(landing, Lake(str(tmp_path / "lake")))
    health = tables["gold.camera_daily_health"]
    assert dict(zip(health["channel_id"], health["clock_skew_s"], strict=True)) == {
        CH11: -4, CH12: 9, IPC[21]: 7, IPC[22]: 2, IPC[23]: 3, IPC[24]: 30, IPC[25]: None, IPC[26]: -28800,
        IPC[27]: 7, IPC[28]: None}
    kpis = tables["gold.banner_daily_kpis"].row(0, named=True)
    # NVR, CH12 and IPC 21 22 23 24 26 27 answered with a time; all but IPC 26 (8 h off) within ±60 s
    assert (kpis["clock_devices"], kpis["clock_accurate_devices"]) == (8, 7)
