"""Bad input is set aside with a reason, the rest of the file lands, and read = accepted + quarantined."""

import datetime as dt

import polars as pl

from tests.conftest import BANNER, DAY, camera_id, catalog_item, catalog_page, harvest_scope, write_catalog
from xl_pipelines import camera_health
from xl_pipelines.banners import load_banners
from xl_pipelines.settings import LOCAL_TZ

NOW = dt.datetime(2026, 11, 21, 3, 0, tzinfo=LOCAL_TZ)
GOOD = [camera_id(n) for n in range(1, 4)]


def reasons(frame: pl.DataFrame) -> dict[int, str]:
    return dict(zip(frame["item"], frame["reason"], strict=True))


def test_catalog_each_kind_of_bad_item_and_page(tmp_path):
    items = [catalog_item(c) for c in GOOD] + [
        catalog_item("1505020000132000001"),                      # 4 19 digits
        catalog_item("15059900001320000001"),                     # 5 unknown unit 150599
        catalog_item("15052300001320000001"),                     # 6 Kailu camera filed under Horqin
        catalog_item(camera_id(9), lon="abc"),                    # 7 longitude is not a number
        catalog_item(camera_id(10), lon="0", lat="0"),            # 8 zero coordinates
        catalog_item(camera_id(11), lon="43.62", lat="122.25"),   # 9 latitude and longitude swapped
        catalog_item(camera_id(12), lon="116.40", lat="39.90"),   # 10 Beijing, far outside the city
        catalog_item(GOOD[0]),                                    # 11 the same item twice
    ]
    good_page = catalog_page(items, sum_num=len(items) + 1)
    broken_page = catalog_page([catalog_item(camera_id(7))])[:-40]  # cut mid-element
    # 0xFF is a byte neither UTF-8 nor GB18030 has (UTF-8 under a GB2312 declaration is read as UTF-8)
    undecodable = catalog_page([catalog_item(camera_id(8), name="站前")]).replace("站前".encode("gb2312"), b"\xff\xfe")
    device_status = b'<?xml version="1.0"?><Response><CmdType>DeviceStatus</CmdType><SN>9</SN></Response>'
    files = write_catalog(tmp_path, [good_page, broken_page, undecodable, device_status])
    stray = files[0].with_name("catalog copy.xml")
    stray.write_bytes(good_page)

    harvest = camera_health.harvest_catalog([*files, stray], BANNER, load_banners())

    assert harvest.accepted["device_id"].to_list() == GOOD  # the rest of the page lands
    assert reasons(harvest.quarantined.filter(pl.col("source_file") == str(files[0]))) == {
        4: "bad_device_id", 5: "unknown_unit", 6: "wrong_banner", 7: "bad_coordinate", 8: "outside_city",
        9: "outside_city", 10: "outside_city", 11: "duplicate"}
    pages = harvest.quarantined.filter(pl.col("item") == 0)
    assert dict(zip(pages["source_file"], pages["reason"], strict=True)) == {
        str(files[1]): "malformed_xml", str(files[2]): "wrong_encoding", str(files[3]): "not_catalog",
        str(stray): "bad_file_name"}
    assert "neither UTF-8 nor GB18030" in pages.filter(pl.col("reason") == "wrong_encoding")["detail"].item()
    assert harvest.quarantined.filter(pl.col("item") == 10)["record_id"].item() == camera_id(12)
    assert harvest.read == 11 + 4  # items of the readable page + one record per unreadable page
    assert harvest.read == harvest.accepted.height + harvest.quarantined.height
    # 10 distinct items of SumNum 11 arrived: the catalog is incomplete, and says so
    assert not harvest.accepted["catalog_complete"].any()


def test_a_resent_page_is_quarantined_as_duplicates_and_the_catalog_stays_complete(tmp_path):
    page = catalog_page([catalog_item(c) for c in GOOD])
    files = write_catalog(tmp_path, [page])
    resent = files[0].with_name(files[0].name.replace("T020000", "T020001"))
    resent.write_bytes(page)
    harvest = camera_health.harvest_catalog([*files, resent], BANNER, load_banners())
    assert harvest.accepted["device_id"].to_list() == GOOD
    assert harvest.quarantined["reason"].to_list() == ["duplicate"] * 3
    assert harvest.accepted["catalog_complete"].all()


def test_catalog_encodings_are_honoured(tmp_path):
    name = "霍林郭勒市可汗山大街东口"
    files = write_catalog(tmp_path, [catalog_page([catalog_item(camera_id(1), name=name)], encoding="GBK")])
    files += write_catalog(tmp_path, [catalog_page([catalog_item(camera_id(2), name=name)], sn=8, encoding="UTF-8")], sn=8)
    harvest = camera_health.harvest_catalog(files, BANNER, load_banners())
    assert harvest.accepted["name"].to_list() == [name, name]
    assert harvest.accepted["catalog_complete"].all()


def test_development_zone_ids_map_to_their_own_banner(tmp_path):
    zone_camera = camera_id(1, prefix="15050271")
    files = write_catalog(tmp_path, [catalog_page([catalog_item(zone_camera)])], code="150571")
    assert camera_health.harvest_catalog(files, "150571", load_banners()).accepted["device_id"].to_list() == [zone_camera]
    assert reasons(camera_health.harvest_catalog(files, BANNER, load_banners()).quarantined) == {1: "wrong_banner"}


def test_poll_lines_each_kind_of_fault(tmp_path):
    folder = tmp_path / "status" / DAY.isoformat() / BANNER
    folder.mkdir(parents=True)
    at = "2026-11-20T08:05:00+08:00"
    lines = [
        "channel_id,polled_at,status",
        f"{GOOD[0]},{at},ON",                            # 2 ok
        f"{GOOD[1]},2026-11-2T8:5,ON",                   # 3 unparsable time
        f"{GOOD[2]},{at},UNKNOWN",                       # 4 unknown status
        f"1505020000132000001,{at},ON",                  # 5 19-digit ID
        f"15059900001320000001,{at},ON",                 # 6 unknown unit code
        f"{camera_id(99)},{at},ON",                      # 7 well-formed but not registered
        f"{GOOD[0]},{at},OFF",                           # 8 the same camera and time again
        f"{GOOD[1]},2026-11-27T08:05:00+08:00,ON",       # 9 a week in the future
        f"{GOOD[1]},2026-11-19T08:05:00+08:00,ON",       # 10 belongs to another day
        "",                                              # blank: not a row
        f"{GOOD[1]},2026-11-20T08:05:00,OFF",            # 12 no offset: local time, ok
        f"15052300001320000001,{at},ON",                 # 13 a Kailu camera in Horqin's export
        f"{camera_id(98)},{at},ON",                      # 14 its catalog item was quarantined today
        f"{GOOD[2]};{at};ON",                            # 15 wrong separator
        f"{GOOD[2][:12]}",                               # 16 truncated last line
    ]
    (folder / "0805.csv").write_text("\n".join(lines))
    harvest = camera_health.harvest_status_polls(
        [folder / "0805.csv"], harvest_scope(channels=GOOD, rejected=[camera_id(98)], now=NOW))

    assert reasons(harvest.quarantined) == {
        3: "bad_timestamp", 4: "unknown_status", 5: "bad_device_id", 6: "unknown_unit", 7: "unknown_channel",
        8: "duplicate", 9: "future_timestamp", 10: "outside_day", 13: "wrong_banner", 14: "camera_rejected",
        15: "malformed_line", 16: "malformed_line"}
    assert harvest.accepted["item"].to_list() == [2, 12]
    assert harvest.accepted["state"].to_list() == ["online", "offline"]
    assert harvest.read == 14 == harvest.accepted.height + harvest.quarantined.height
    # a line of another shape keeps no text (it may hold anything); one of the poll's shape keeps its text
    assert harvest.quarantined.filter(pl.col("item") == 16).select("raw", "detail").row(0) == (None, "1 fields, expected 3")
    assert harvest.quarantined.filter(pl.col("item") == 4)["raw"].item() == lines[3]
    assert harvest.quarantined.filter(pl.col("item") == 5)["record_id"].item() == "1505020000132000001"


def test_lost_page_keeps_the_previous_days_cameras(tmp_path):
    banners = load_banners()
    horqin = banners.by_code(BANNER)
    yesterday = camera_health.registry(camera_health.harvest_catalog(
        write_catalog(tmp_path / "d1", [catalog_page([catalog_item(c) for c in GOOD])]), BANNER, banners).accepted, horqin)
    today_files = write_catalog(tmp_path / "d2", [
        catalog_page([catalog_item(GOOD[0], name="renamed")], sum_num=3),
        catalog_page([catalog_item(GOOD[1]), catalog_item(GOOD[2])], sum_num=3)[:-30],  # this page is lost
    ])
    items = camera_health.harvest_catalog(today_files, BANNER, banners).accepted
    registry = camera_health.registry(items, horqin, previous=yesterday)
    assert registry["channel_id"].to_list() == GOOD
    assert registry["name"].to_list()[0] == "renamed"  # what arrived today wins
    assert camera_health.registry(items, horqin)["channel_id"].to_list() == GOOD[:1]  # nothing to fall back on
