"""Camera health beyond the online rate, on hand-written landing bytes with hand-computed answers:
clock skew and clock accuracy, DeviceStatus bad input, annotation faults, catalog change notifications,
and the registry's history across days."""

import datetime as dt

import polars as pl
import pytest

from tests.conftest import (
    BANNER,
    DAY,
    camera_id,
    catalog_item,
    catalog_notify,
    catalog_page,
    device_status,
    harvest_scope,
    materialise,
    private_home,
    write_catalog,
    write_device_status,
)
from xl_pipelines import camera_health, gates, indicators
from xl_pipelines.banners import load_banners
from xl_pipelines.lake import Lake
from xl_pipelines.settings import LOCAL_TZ

A, B, C, D, E, F, H = (camera_id(n) for n in (1, 2, 3, 4, 5, 6, 8))
NVR = camera_id(90, type_code="118")
G = camera_id(7, type_code="131")  # a channel recorded through NVR


def at(hour: int, minute: int = 0, second: int = 0, day: dt.date = DAY) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(hour, minute, second))


def answer(device: str, received: dt.datetime, skew_s: int | None, record: str = "ON"):
    clock = None if skew_s is None else f"{received + dt.timedelta(seconds=skew_s):%Y-%m-%dT%H:%M:%S}"
    return received, device, device_status(device, clock, record=record, result="OK" if clock else "ERROR")


def by_camera(frame: pl.DataFrame, column: str) -> dict:
    return dict(zip(frame["channel_id"], frame[column], strict=True))


@pytest.fixture(scope="module")
def clocks(tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp("clocks")
    landing = tmp_path / "landing"
    nvr_item = f"<Item><DeviceID>{NVR}</DeviceID><Name>NVR</Name><Status>ON</Status></Item>"
    items = [catalog_item(c) for c in (A, B, C, D, E, F, H)] + [nvr_item, catalog_item(G, extra=f"<ParentID>{NVR}</ParentID>")]
    write_catalog(landing, [catalog_page(items)])
    write_device_status(landing, [
        answer(A, at(10), +60), answer(B, at(10), -60), answer(C, at(10), +61), answer(D, at(10), -61),
        answer(E, at(9), +10), answer(E, at(10), +100, record="OFF"), answer(E, at(11), +20),
        answer(F, at(10), None),  # answered ERROR, without DeviceTime
        answer(NVR, at(10, 0, 5), -5),  # H never answers
    ])
    with private_home(tmp_path / "xl"):
        return materialise(landing, Lake(str(tmp_path / "lake")))


def test_clock_skew_is_device_time_minus_receive_time_median_of_the_day(clocks):
    health = clocks["gold.camera_daily_health"]
    assert by_camera(health, "clock_skew_s") == {A: 60, B: -60, C: 61, D: -61, E: 20, F: None, G: -5, H: None}
    assert by_camera(health, "status_responses") == {A: 1, B: 1, C: 1, D: 1, E: 3, F: 1, G: 1, H: 0}
    assert by_camera(health, "record_on_rate")[E] == pytest.approx(2 / 3)


def test_clock_accuracy_counts_devices_within_60_s_inclusive(clocks):
    kpis = clocks["gold.banner_daily_kpis"].row(0, named=True)
    # measured: A, B, C, D, E and the NVR (F answered without a time, H not at all); within ±60 s: A, B, E, NVR
    assert (kpis["clock_devices"], kpis["clock_accurate_devices"]) == (6, 4)
    assert kpis["clock_accuracy"] == pytest.approx(4 / 6)


def test_device_status_each_kind_of_bad_input(tmp_path):
    landing = tmp_path / "landing"
    good = device_status(A, "2026-11-20T10:00:03")
    catalog = catalog_page([catalog_item(A)])
    files = write_device_status(landing, [
        (at(10), A, good),                                                    # 1 accepted
        (at(10, 1), B, device_status(B, "2026-11-20T10:01:00")[:-40]),        # 2 cut off
        (at(10, 2), B, device_status(B, "2026-11-20T10:02:00").replace(
            b"</Response>", b"<Reason>\xff\xfe</Reason></Response>")),     # 3 bytes neither UTF-8 nor GB18030
        (at(10, 3), B, catalog),                                              # 4 a catalog page
        (at(10, 4), C, device_status(B, "2026-11-20T10:04:00")),              # 5 B's answer filed under C
        (at(10, 5), H, device_status(H, "2026-11-20T10:05:00")),              # 6 not registered
        (at(10, 6), D, device_status(D, "2026-11-20T10:06:00")),              # 7 its catalog item was quarantined
        (at(10, 7), B, device_status(B, "2026-11-20 10:07")),                 # 8 not a DeviceTime
        (at(10, 8), B, device_status(B, "2026-11-20T10:08:00", record="MAYBE")),  # 9 no such Record value
        (at(10, 9), A, good),                                                 # 10 the answer of line 1, re-sent
        (dt.datetime(2031, 1, 1), B, device_status(B, "2031-01-01T00:00:00")),  # 11 received in the future
        (at(23, day=DAY - dt.timedelta(days=1)), B, device_status(B, "2026-11-19T23:00:00")),  # 12 yesterday
        (at(10, 12), "15052300001320000001", device_status("15052300001320000001", "2026-11-20T10:12:00")),  # 13
        (at(10, 13), A[:-1], device_status(A[:-1], "2026-11-20T10:13:00")),   # 14 19 digits
    ])
    (landing / "devicestatus" / DAY.isoformat() / BANNER / "status.xml").write_bytes(good)  # 15 bad name
    files.append(landing / "devicestatus" / DAY.isoformat() / BANNER / "status.xml")
    harvest = camera_health.harvest_device_status(files, harvest_scope(devices=[A, B, C], rejected=[D]))
    by_file = dict(zip(harvest.quarantined["source_file"], harvest.quarantined["reason"], strict=True))
    assert [by_file.get(str(f)) for f in files] == [
        None, "malformed_xml", "wrong_encoding", "not_device_status", "device_mismatch", "unknown_device",
        "camera_rejected", "bad_device_time", "unknown_value", "duplicate", "future_timestamp", "outside_day",
        "wrong_banner", "bad_device_id", "bad_file_name"]
    assert harvest.read == 15 == harvest.accepted.height + harvest.quarantined.height
    assert harvest.accepted["clock_skew_s"].to_list() == [3]


def test_each_annotation_fault(xl_home, tmp_path):
    landing = tmp_path / "landing"
    class_one = "<PointType>1</PointType><InstallTime>2019-05-01T00:00:00</InstallTime><RecordSaveDays>90</RecordSaveDays>"
    p = [camera_id(n) for n in range(1, 9)]
    nvr = camera_id(90, type_code="118")
    write_catalog(landing, [catalog_page([
        catalog_item(p[0]),                                               # class two, inside Horqin: right
        catalog_item(p[1], lon=None),                                     # no longitude
        catalog_item(p[2], lon="120.50", lat="44.80"),                    # in Jarud, not Horqin
        catalog_item(p[3], info=class_one),                               # class one without ContactInfo
        catalog_item(p[4], info=class_one + "<ContactInfo>0475-8000001</ContactInfo>"),  # class one, complete
        catalog_item(p[5], info="<PTZType>3</PTZType>"),                  # 2016 edition: no PointType to judge
        catalog_item(p[6], lon="0", lat="0"),                             # zero: quarantined
        catalog_item(p[7], lon="43.62", lat="122.25"),                    # swapped: quarantined
        f"<Item><DeviceID>{nvr}</DeviceID><Name>NVR</Name><Longitude>0</Longitude><Latitude>0</Latitude></Item>",
    ])])
    tables = materialise(landing, Lake(str(tmp_path / "lake")))
    faults = by_camera(tables["silver.cameras"], "annotation_fault")
    assert faults == {p[0]: None, p[1]: "no_coordinates", p[2]: "outside_banner", p[3]: "class_one_fields",
                      p[4]: None, p[5]: None}
    assert by_camera(tables["gold.camera_daily_health"], "annotation_ok") == {c: f is None for c, f in faults.items()}
    outside = tables["quarantine.catalog"].sort("item")
    assert outside["record_id"].to_list() == [p[6], p[7], nvr]
    assert outside["detail"].to_list()[:2] == ["zero coordinates", "longitude and latitude swapped"]
    kpis = tables["gold.banner_daily_kpis"].row(0, named=True)
    # three right of six registered cameras plus the two quarantined ones (the NVR is not a camera)
    assert (kpis["annotated_cameras"], kpis["cameras"], kpis["cameras_outside_city"]) == (3, 6, 2)
    assert kpis["annotation_accuracy"] == pytest.approx(3 / 8)


def test_a_camera_moved_mid_week_is_reported_where_it_was_each_day(xl_home, tmp_path):
    landing, lake = tmp_path / "landing", Lake(str(tmp_path / "lake"))
    first, second, third = (DAY - dt.timedelta(days=2), DAY - dt.timedelta(days=1), DAY)
    write_catalog(landing, [catalog_page([catalog_item(A, lon="122.25", lat="43.62"), catalog_item(B)])], day=first)
    write_catalog(landing, [catalog_page([catalog_item(A, lon="122.25", lat="43.62"), catalog_item(B)])], day=second)
    moved = catalog_item(A, lon="122.30", lat="43.70", extra="<Event>UPDATE</Event>")
    (landing / "catalog" / second.isoformat() / BANNER / f"{second:%Y%m%d}T143000-900-1.xml").write_bytes(
        catalog_notify([moved]))
    write_catalog(landing, [catalog_page([catalog_item(A, lon="122.30", lat="43.70"),
                                          catalog_item(B, name="科尔沁区胜利路")])], day=third)
    days = {day: materialise(landing, lake, day=day) for day in (first, second, third)}

    where = {day: by_camera(t["gold.camera_daily_health"], "longitude")[A] for day, t in days.items()}
    assert where == {first: 122.25, second: 122.30, third: 122.30}
    assert days[first]["silver.camera_changes"].height == 0  # no history before the first day
    moves = days[second]["silver.camera_changes"]
    assert moves.select("channel_id", "attribute", "before", "after", "source").rows() == [
        (A, "latitude", "43.62", "43.7", "UPDATE"), (A, "longitude", "122.25", "122.3", "UPDATE")]
    assert set(moves["changed_at"].dt.time()) == {dt.time(14, 30)}
    renamed = days[third]["silver.camera_changes"]  # A is unchanged; B's new name came with the catalog
    assert renamed.select("channel_id", "attribute", "after", "source").rows() == [(B, "name", "科尔沁区胜利路", "catalog")]
    assert days[third]["silver.cameras"]["first_seen"].dt.date().to_list() == [first, first]


def test_notifications_add_delete_and_report_status(tmp_path):
    landing = tmp_path / "landing"
    write_catalog(landing, [catalog_page([catalog_item(A), catalog_item(B)])])
    folder = landing / "catalog" / DAY.isoformat() / BANNER
    notes = {
        "T090000-901-1": [f"<Item><DeviceID>{A}</DeviceID><Event>OFF</Event></Item>"],
        "T093000-902-1": [f"<Item><DeviceID>{A}</DeviceID><Event>ON</Event></Item>",
                          f"<Item><DeviceID>{B}</DeviceID><Event>VLOST</Event></Item>"],
        "T120000-903-1": [catalog_item(C, extra="<Event>ADD</Event>")],
        "T180000-904-1": [f"<Item><DeviceID>{B}</DeviceID><Event>DEL</Event></Item>",
                          f"<Item><DeviceID>{A}</DeviceID><Event>REBOOT</Event></Item>"],
    }
    for name, items in notes.items():
        (folder / f"{DAY:%Y%m%d}{name}.xml").write_bytes(catalog_notify(items, sn=int(name[8:11])))
    harvest = camera_health.harvest_catalog(sorted(folder.glob("*.xml")), BANNER, load_banners())
    assert harvest.quarantined.select("record_id", "reason").rows() == [(A, "unknown_event")]
    assert harvest.accepted.filter(pl.col("message") == "response")["catalog_complete"].all()

    cameras = camera_health.registry(harvest.accepted, load_banners().by_code(BANNER))
    assert cameras["channel_id"].to_list() == [A, B, C]
    assert by_camera(cameras, "removed_at") == {A: None, B: at(18).replace(tzinfo=LOCAL_TZ), C: None}
    assert by_camera(cameras, "first_seen")[C].time() == dt.time(12)
    status = camera_health.camera_changes(cameras, None, harvest.accepted, BANNER, DAY).filter(
        pl.col("attribute") == "status")
    assert status.select("channel_id", "before", "after", "source").rows() == [
        (A, None, "offline", "OFF"), (A, "offline", "online", "ON"), (B, None, "video_lost", "VLOST")]


@pytest.mark.parametrize(("figures", "passed", "text"), [
    ({"online_rate": 0.95, "clock_accuracy": 0.95}, True, "2 indicators at or above"),  # exactly at the alert level
    ({"online_rate": 0.9499, "clock_accuracy": 1.0}, False, "online_rate 94.99% < 95%"),
    ({"online_rate": None, "cameras": 3.0}, True, "0 indicators"),  # nothing measured; cameras is no indicator
])
def test_alert_levels(figures, passed, text):
    verdict = gates.alert_levels(figures, indicators.alerts())
    assert (verdict.passed, verdict.severity) == (passed, gates.WARN)
    assert text in verdict.description


def test_a_catalog_missing_a_page_is_reported_incomplete_and_the_previous_day_fills_in(xl_home, tmp_path):
    landing, lake = tmp_path / "landing", Lake(str(tmp_path / "lake"))
    yesterday = DAY - dt.timedelta(days=1)
    write_catalog(landing, [catalog_page([catalog_item(A), catalog_item(B)], sn=5, sum_num=3),
                            catalog_page([catalog_item(C)], sn=5, sum_num=3)], day=yesterday)
    write_catalog(landing, [catalog_page([catalog_item(A, name="科尔沁区和平路"), catalog_item(B)], sn=6, sum_num=3)])
    materialise(landing, lake, day=yesterday)  # complete: A, B, C
    today = materialise(landing, lake)  # page 2 of SN 6, with C, never arrived
    assert not today["bronze.catalog_items"]["catalog_complete"].any()
    assert today["silver.cameras"]["channel_id"].to_list() == [A, B, C]
    assert by_camera(today["silver.cameras"], "name")[A] == "科尔沁区和平路"  # what arrived today wins
    # C was not removed: only A's new name is a change
    assert today["silver.camera_changes"].select("channel_id", "attribute").rows() == [(A, "name")]


def test_poll_files_read_in_one_scan_keep_each_files_line_numbers(tmp_path):
    """Files joined for one CSV scan still give every line its own file and number: CRLF endings, a blank
    line, a last line without a newline, an empty file and a header only on the first line of a file."""
    from xl_pipelines.parsers import status_polls

    (tmp_path / "a.csv").write_bytes(b"channel_id,polled_at,status\r\nL1\r\n\r\nL3")
    (tmp_path / "b.csv").write_bytes(b"")
    (tmp_path / "c.csv").write_bytes(b"X1\nchannel_id,polled_at,status\n")
    lines = status_polls.read_poll_lines([tmp_path / n for n in ("c.csv", "b.csv", "a.csv")])
    a, c = str(tmp_path / "a.csv"), str(tmp_path / "c.csv")
    assert lines.select("source_file", "item", "raw").rows() == [
        (a, 2, "L1"), (a, 4, "L3"), (c, 1, "X1"), (c, 2, "channel_id,polled_at,status")]


def test_poll_fields_are_stripped_and_counted_on_the_line_as_sent():
    """Spaces and tabs around a field or the line are not part of any value; commas are counted as sent."""
    from xl_pipelines.parsers import status_polls

    lines = pl.DataFrame({"raw": ["  A ,\t2026-11-20T08:00:00+08:00 , ON\t ", "A,T,ON,", " A ", "\t,,"]})
    assert status_polls.split_fields(lines).select("fields", "channel_id", "polled_at_raw", "status_raw").rows() == [
        (3, "A", "2026-11-20T08:00:00+08:00", "ON"), (4, "A", "T", "ON"), (1, "A", None, None), (3, "", "", "")]
