"""Captures (GA/T 1400 POST logs, ONVIF metadata) → silver.captures, gold.capture_daily, road traffic, KPIs.

Every figure below is counted by hand from the lines written in the fixture's docstring.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import threading

import polars as pl
import pytest

from tests.conftest import (
    BANNER,
    DAY,
    TEST_KEY,
    camera_id,
    capture,
    catalog_item,
    catalog_page,
    harvest_scope,
    materialise,
    onvif_document,
    post,
    private_home,
    write_catalog,
    write_onvif,
    write_post_logs,
)
from xl_pipelines.banners import load_banners
from xl_pipelines.captures import harvest_captures
from xl_pipelines.lake import Lake, connect
from xl_pipelines.parsers import gat1400
from xl_pipelines.pseudonym import PLAIN_PLATE, hmac_params, hmac_sql, plate_key, plate_key_sql
from xl_pipelines.settings import LOCAL_TZ

A, B, C, D, E, STRANGER = (camera_id(n) for n in (1, 2, 3, 4, 5, 99))
FUNCTIONS = {A: "03", B: "01", C: "03", D: "03", E: None}  # E is no capture camera; STRANGER is not registered
WEEK_BEFORE = DAY - dt.timedelta(days=7)


def at(day: dt.date, clock: str) -> dt.datetime:
    return dt.datetime.combine(day, dt.time.fromisoformat(clock), LOCAL_TZ)


def land_catalog(landing, day=DAY):
    west, south, east, north = load_banners().by_code(BANNER).bbox
    here = {"lon": f"{(west + east) / 2:.6f}", "lat": f"{(south + north) / 2:.6f}"}
    items = [catalog_item(c, info="<PointType>2</PointType>" + (f"<FunctionType>{f}</FunctionType>" if f else ""), **here)
             for c, f in FUNCTIONS.items()]
    write_catalog(landing, [catalog_page(items)], day=day)


def t(clock: str) -> dt.datetime:
    return at(DAY, clock)


PLATE, PLATE_SPELT_APART, ID_NUMBER, NAME = "蒙G12345", "蒙G·12345", "150502199001011234", "张三丰"


@pytest.fixture(scope="module")
def day_tables(tmp_path_factory):
    """Camera A (vehicles, GA/T 1400), shot → received:
      1  08:00:00 → 08:01:00  delay 60 s: timely (the boundary)
      2  08:10:00 → 08:11:01  delay 61 s: late
      3  08:20:00 → 08:19:00  shot 60 s after receipt: clock still right (the boundary)
      4  08:30:01 → 08:29:00  shot 61 s after receipt: clock ahead (timely, since not late)
      5  capture 1 re-sent at 08:05:00: duplicate
      6  an object with no DeviceID, in A's POST: quarantined
      7  09:00:00 → 09:00:05, its ID carrying 08:59:59: accepted, id_time_ok false
      a malformed (cut-off) line; a capture from an unregistered camera.
    Camera B (faces): 12:00:00 and 12:00:30, received 2 s later, one with a name and an ID number.
    Camera C: registered for vehicles, sends nothing. Camera D (ONVIF): a frame at 16:00:05Z the day before
    = 00:00:05 local today, received 00:00:08, with a vehicle (plate) and a human. E: no capture function.
    The week before: A sent 12, B 2, C 4 captures; D none.
    """
    tmp_path = tmp_path_factory.mktemp("captures")
    landing = tmp_path / "landing"
    lake = Lake(str(tmp_path / "lake"))
    for day in (WEEK_BEFORE, DAY):
        land_catalog(landing, day)
    write_post_logs(landing, {8: [post(at(WEEK_BEFORE, "08:00:30"), "motor_vehicle", [
        capture("motor_vehicle", A, at(WEEK_BEFORE, "08:00:00"), n) for n in range(12)] + [
        capture("motor_vehicle", C, at(WEEK_BEFORE, "08:00:00"), n) for n in range(4)]),
        post(at(WEEK_BEFORE, "08:00:30"), "face", [capture("face", B, at(WEEK_BEFORE, "08:00:00"), n) for n in range(2)])]},
        day=WEEK_BEFORE)
    with private_home(tmp_path / "xl"):
        materialise(landing, lake, WEEK_BEFORE)
    one = capture("motor_vehicle", A, t("08:00:00"), 1, PlateNo=PLATE)
    write_post_logs(landing, {
        8: [post(t("08:01:00"), "motor_vehicle", [one]),
            post(t("08:05:00"), "motor_vehicle", [one]),
            post(t("08:11:01"), "motor_vehicle", [capture("motor_vehicle", A, t("08:10:00"), 2, PlateNo=PLATE_SPELT_APART),
                                                  capture("motor_vehicle", None, t("08:10:00"), 6)]),
            post(t("08:19:00"), "motor_vehicle", [capture("motor_vehicle", A, t("08:20:00"), 3)]),
            post(t("08:29:00"), "motor_vehicle", [capture("motor_vehicle", A, t("08:30:01"), 4)])[:-30],
            post(t("08:29:00"), "motor_vehicle", [capture("motor_vehicle", A, t("08:30:01"), 4)]),
            post(t("08:40:00"), "motor_vehicle", [capture("motor_vehicle", STRANGER, t("08:39:58"), 8)])],
        9: [post(t("09:00:05"), "motor_vehicle", [capture("motor_vehicle", A, t("09:00:00"), 7, id_time=t("08:59:59"))])],
        12: [post(t("12:00:02"), "face", [capture("face", B, t("12:00:00"), 1, Name=NAME, IDNumber=ID_NUMBER)]),
             post(t("12:00:32"), "face", [capture("face", B, t("12:00:30"), 2)])],
    })
    write_onvif(landing, D, t("00:00:08"), onvif_document([
        ("2026-11-19T16:00:05Z", [("17", "Vehicle", PLATE), ("18", "Human", None)])]))
    with private_home(tmp_path / "xl"):
        return materialise(landing, lake), landing, lake


def test_each_capture_lands_once_with_its_delay_and_reason(day_tables):
    tables, _, _ = day_tables
    captures = tables["silver.captures"]
    a = captures.filter(pl.col("device_id") == A).sort("shot_at")
    assert a["delay_s"].to_list() == [60, 61, -60, -61, 5]
    assert a["id_time_ok"].to_list() == [True, True, True, True, False]
    quarantined = tables["quarantine.captures"].sort("item")
    assert sorted(quarantined["reason"].to_list()) == ["duplicate", "malformed_line", "no_device_id", "unknown_device"]
    assert quarantined.filter(pl.col("reason") == "duplicate")["item"].item() == 2  # the re-send, not the first
    assert quarantined["raw"].null_count() == quarantined.height  # the lines never leave the landing zone
    assert captures.height == 5 + 2 + 2  # read 13 = 9 accepted + 4 quarantined
    assert set(captures.group_by("device_id", "kind").len().rows()) == {
        (A, "motor_vehicle", 5), (B, "face", 2), (D, "motor_vehicle", 1), (D, "person", 1)}


def test_onvif_utc_frame_near_midnight_belongs_to_the_next_local_day(day_tables):
    tables, _, _ = day_tables
    onvif = tables["silver.captures"].filter(pl.col("source") == "onvif").sort("kind")
    assert onvif["shot_at"].to_list() == [t("00:00:05")] * 2  # 16:00:05Z on the 19th
    assert onvif["delay_s"].to_list() == [3, 3]
    traffic = tables["gold.road_traffic_hourly"]
    assert traffic.filter(pl.col("device_id") == D).select("hour", "vehicles").rows() == [(t("00:00:00"), 1)]


def test_capture_indicators_per_device(day_tables):
    tables, _, _ = day_tables
    daily = {row["device_id"]: row for row in tables["gold.capture_daily"].to_dicts()}
    assert set(daily) == {A, B, C, D}  # E has no capture function and sent nothing; STRANGER was quarantined
    a = daily[A]
    assert (a["captures"], a["resent"], a["timely_captures"], a["clock_ok_captures"]) == (5, 1, 4, 4)
    assert (a["upload_timeliness"], a["capture_clock_accuracy"], a["capture_uniqueness"]) == (4 / 5, 4 / 5, 5 / 6)
    assert a["id_time_mismatches"] == 1
    assert (a["captures_week_before"], a["volume_change"], a["volume_alarm"]) == (12, pytest.approx(5 / 12 - 1), "drop")
    assert (daily[B]["volume_change"], daily[B]["volume_alarm"]) == (0, None)
    assert (daily[C]["active"], daily[C]["captures"], daily[C]["volume_alarm"]) == (False, 0, "drop")
    assert (daily[D]["captures_week_before"], daily[D]["volume_alarm"]) == (0, "rise")


def test_capture_indicators_per_banner(day_tables):
    tables, _, _ = day_tables
    kpis = tables["gold.banner_daily_kpis"].row(0, named=True)
    assert (kpis["capture_cameras"], kpis["active_capture_cameras"], kpis["capture_activity"]) == (4, 3, 3 / 4)
    assert (kpis["captures"], kpis["resent_captures"]) == (9, 1)
    assert kpis["upload_timeliness"] == 8 / 9  # A 4 of 5, B 2, D 2
    assert kpis["capture_clock_accuracy"] == 8 / 9
    assert kpis["capture_uniqueness"] == 9 / 10
    assert kpis["volume_change"] == pytest.approx(9 / 18 - 1)
    assert kpis["volume_alarms"] == 3


def test_road_traffic_counts_distinct_vehicles_per_hour(day_tables):
    tables, _, _ = day_tables
    traffic = tables["gold.road_traffic_hourly"].filter(pl.col("device_id") == A)
    assert traffic.select("hour", "vehicles").rows() == [(t("08:00:00"), 4), (t("09:00:00"), 1)]


def test_without_last_weeks_data_volume_change_is_unknown_not_zero(day_tables, xl_home, tmp_path):
    _, landing, _ = day_tables
    alone = materialise(landing, Lake(str(tmp_path / "fresh-lake")))
    daily = alone["gold.capture_daily"]
    assert daily["captures_week_before"].null_count() == daily.height
    assert daily["volume_alarm"].null_count() == daily.height


def test_pseudonyms_are_hmac_sha256_of_the_normalised_value(day_tables):
    """Checked against Python's own hmac module: a second implementation of RFC 2104."""
    tables, _, _ = day_tables
    expected = lambda value: hmac.new(TEST_KEY.encode(), value.encode(), hashlib.sha256).hexdigest()[:32]  # noqa: E731
    a = tables["silver.captures"].filter(pl.col("device_id") == A).sort("shot_at")
    assert a["plate_pseudonym"].to_list()[:2] == [expected(PLATE)] * 2  # 蒙G·12345 is the same plate
    faces = tables["silver.captures"].filter(pl.col("kind") == "face").sort("shot_at")
    assert faces["person_pseudonym"].to_list() == [expected(ID_NUMBER), None]
    face_id = capture("face", B, t("12:00:00"), 1)["FaceID"]
    assert faces["capture_id"][0] == expected(face_id)
    onvif_plate = tables["silver.captures"].filter((pl.col("source") == "onvif") & (pl.col("kind") == "motor_vehicle"))
    assert onvif_plate["plate_pseudonym"].item() == expected(PLATE)



@pytest.mark.parametrize("key", [TEST_KEY.encode(), "密钥".encode() * 40])  # and one longer than SHA-256's block
def test_pseudonyms_in_sql_are_pythons_hmac(key):
    """`hmac_sql` (what the capture query hashes with) against Python's hmac, on empty, ASCII, Chinese, emoji,
    control and long values; null stays null."""
    values = ["", " ", "蒙G12345", "150502199001011234", "0" * 48, "张三丰", "é\u0301", "😀", "\x00\x01\n", "ß" * 500,
              *(chr(c) for c in range(1, 0x3000, 37))]
    with connect() as con:
        con.register("v", pl.DataFrame({"value": [*values, None]}))
        got = con.sql(f"SELECT {hmac_sql('value')} AS h FROM v", params=hmac_params(key)).pl()["h"].to_list()
    assert got == [hmac.new(key, v.encode(), hashlib.sha256).hexdigest()[:32] for v in values] + [None]


def test_plate_key_in_sql_is_polars_on_every_plain_plate():
    """`plate_key_sql` = `plate_key` for every code point PLAIN_PLATE allows, alone and between separators; the
    others are left to `plate_key`."""
    chars = [chr(c) for c in range(0x110000) if not 0xD800 <= c < 0xE000]
    plates = pl.Series("plate", [*chars, *(f" {c}·{c}-{c}.\t\x0b{c} " for c in chars[::97])])
    with connect() as con:
        con.register("p", plates.to_frame())
        got = con.sql(f"SELECT regexp_full_match(plate, '{PLAIN_PLATE}') AS plain, {plate_key_sql('plate')} AS key "
                      "FROM p").pl()
    expected = plates.to_frame().select(plate_key(pl.col("plate")))["plate"]
    plain = got["plain"]
    is_plain = lambda c: ord(c) < 128 or 0x4E00 <= ord(c) <= 0x9FFF or c == "·"  # noqa: E731
    assert plain.sum() == 128 + (0x9FFF - 0x4E00 + 1) + 1 + sum(map(is_plain, chars[::97]))
    assert got["key"].filter(plain).to_list() == expected.filter(plain).to_list()


def test_odd_plates_are_keyed_with_unicode_case_folding(tmp_path):
    """A plate beyond ASCII and CJK (never on a real plate) is keyed by `plate_key` beside the SQL: ß → SS."""
    expected = lambda value: hmac.new(TEST_KEY.encode(), value.encode(), hashlib.sha256).hexdigest()[:32]  # noqa: E731
    vehicle = capture("motor_vehicle", A, t("08:00:00"), 1)
    lines = [post(t("08:00:05"), "motor_vehicle", [vehicle | {"PlateNo": plate}]) for plate in ("蒙gß 12", "蒙g·12")]
    files = write_post_logs(tmp_path, {8: lines})
    frame = gat1400.post_log_frame(files, TEST_KEY.encode())
    assert frame["plate_pseudonym"].to_list() == [expected("蒙GSS12"), expected("蒙G12")]
    assert "plate" not in frame.columns and "id_number" not in frame.columns  # nothing in clear leaves the query


def test_no_post_logs_decode_to_no_rows_with_every_column(tmp_path):
    """No files (nothing landed in an hour range): an empty frame with the columns a decoded file has."""
    files = write_post_logs(tmp_path, {8: [post(t("08:00:05"), "face", [capture("face", A, t("08:00:00"), 1)])]})
    empty, one = (gat1400.post_log_frame(paths, TEST_KEY.encode()) for paths in ([], files))
    assert empty.height == 0 and one.height == 1 and empty.schema == one.schema


def test_the_quick_search_for_lone_objects_misses_none():
    """Every lone object LONE_OBJECT finds (each list key, any spacing) is among MAYBE_LONE's lines; an envelope
    (`…ListObject`, on every line) is not."""
    keys = sorted(gat1400.LIST_KEYS)
    lone = pl.Series([f'{{"{key}"{gap}:{gap2}{{"A":1}}}}' for key in keys for gap in ("", " ", "\t")
                      for gap2 in ("", "  ")])
    assert lone.str.contains(gat1400.LONE_OBJECT).all() and lone.str.contains(gat1400.MAYBE_LONE).all()
    listed = pl.Series([post(t("08:00:05"), kind, [capture(kind, A, t("08:00:00"), 1)]) for kind in ("face", "motor_vehicle")])
    assert not listed.str.contains(gat1400.MAYBE_LONE).any()


SHANGHAI = dt.timezone(dt.timedelta(hours=8))
RECEIVED = {  # a line's received_at → the instant it names (worked out by hand), or None: no offset, or no time
    "2026-11-20T08:00:05+08:00": dt.datetime(2026, 11, 20, 8, 0, 5, tzinfo=SHANGHAI),
    "2026-11-20T08:00:05Z": dt.datetime(2026, 11, 20, 16, 0, 5, tzinfo=SHANGHAI),
    "2026-11-20T08:00:05.5-05:30": dt.datetime(2026, 11, 20, 21, 30, 5, 500000, tzinfo=SHANGHAI),
    "2026-11-20T08:00:05.123456789+0800": dt.datetime(2026, 11, 20, 8, 0, 5, 123456, tzinfo=SHANGHAI),
    "2026-11-20T23:59:59.999+08:00": dt.datetime(2026, 11, 20, 23, 59, 59, 999000, tzinfo=SHANGHAI),
    "2026-11-20T08:00:05": None,  # a time of no known zone
    "2026-11-20 08:00:05+08:00": None, "2026-11-20": None, "2026-11-20T08:00+08:00": None,
    "2026-11-20T08:00:05+08": None, "2026-02-30T08:00:05+08:00": None, "2026-11-20T24:00:00+08:00": None,
    " 2026-11-20T08:00:05+08:00": None, "20261120080005": None, "": None,
}


def test_a_receive_time_is_read_only_with_its_offset():
    """`received_at` as keepalive and capture lines carry it: ISO-8601 with `Z` or an offset, in local time; a
    time without an offset, a date alone, an impossible date or another layout reads as no time."""
    sent = list(RECEIVED)
    lines = pl.DataFrame({"source_file": "x", "item": range(1, len(sent) + 1),
                          "raw": [f'{{"received_at": "{at}", "device_id": "{A}", "event": "keepalive"}}' for at in sent]})
    keepalives = gat1400.decoded(lines, {"received_at": "VARCHAR", "device_id": "VARCHAR"})
    one = post(t("08:00:05"), "face", [capture("face", A, t("08:00:00"), 1)])
    posts = lines.with_columns(raw=pl.Series([one.replace(t("08:00:05").isoformat(), at) for at in sent]))
    with gat1400.session() as con:
        captures = gat1400.objects(posts, con, TEST_KEY.encode())
    for read in (keepalives, captures):
        assert read["received_at"].dtype == pl.Datetime("us", str(LOCAL_TZ))
        assert dict(zip(sent, read["received_at"].to_list())) == RECEIVED


BAD_LINES = {
    "wrong_encoding": '{"received_at":"2026-11-20T08:00:05+08:00","path":"/VIID/Faces","body":{"FaceListObject":'
                      '{"FaceObject":[{"Name":"X"}]}}}'.replace("X", "张").encode("gbk"),
    "malformed_line": "[1, 2, 3]",
    "unknown_path": post(t("08:00:05"), "face", [capture("face", A, t("08:00:00"), 1)]).replace("/VIID/Faces", "/VIID/Cats"),
    "bad_envelope": post(t("08:00:05"), "face", []),
    "bad_received_at": post(t("08:00:05"), "face", [capture("face", A, t("08:00:00"), 1)]).replace("+08:00", ""),
    "outside_day": post(t("08:00:05") - dt.timedelta(days=1), "face", [capture("face", A, t("08:00:00"), 1)]),
    "no_device_id": post(t("08:00:05"), "face", [None]),  # a null where the object belongs: a record, not lost
    "bad_device_id": post(t("08:00:05"), "face", [capture("face", "12345", t("08:00:00"), 1)]),
    "wrong_banner": post(t("08:00:05"), "face", [capture("face", camera_id(1, prefix="15052300"), t("08:00:00"), 1)]),
    "bad_object_id": post(t("08:00:05"), "face", [{"FaceID": "short", "DeviceID": A, "ShotTime": "20261120080000"}]),
    "bad_shot_time": post(t("08:00:05"), "face", [capture("face", A, t("08:00:00"), 1) | {"ShotTime": "2026-11-20"}]),
}


@pytest.mark.parametrize("reason", BAD_LINES)
def test_a_bad_line_is_quarantined_with_its_reason_and_the_rest_lands(tmp_path, reason):
    good = post(t("09:00:05"), "face", [capture("face", A, t("09:00:00"), 9)])
    files = write_post_logs(tmp_path, {8: [good, BAD_LINES[reason], good.replace("09:00:05+", "09:00:06+")]})
    harvest = harvest_captures(files, [], harvest_scope(channels=[A]), TEST_KEY.encode())
    assert harvest.quarantined.select("item", "reason").rows() == [(2, reason), (3, "duplicate")]
    assert harvest.accepted.height == 1 and harvest.read == 3


def test_a_broken_onvif_document_is_one_quarantined_record(tmp_path):
    good = onvif_document([("2026-11-20T01:00:00Z", [("1", "Vehicle", None), ("2", "Animal", None)])])
    files = [write_onvif(tmp_path, D, t("09:00:01"), good), write_onvif(tmp_path, D, t("09:00:02"), good[:-40])]
    harvest = harvest_captures([], files, harvest_scope(channels=[D]), TEST_KEY.encode())
    assert sorted(harvest.quarantined["reason"].to_list()) == ["malformed_xml", "unknown_class"]
    assert harvest.accepted["shot_at"].to_list() == [t("09:00:00")] and harvest.read == 3


def test_the_simulators_rejected_posts_carry_personal_data_and_the_quarantine_none(tmp_path):
    """A banner-day simulated with every capture fault: the POSTs bound for quarantine (a query-string path,
    a body under the wrong envelope, an object without DeviceID, a GBK line, a cut line) carry plates, ID
    numbers and names, read here off the landing lines themselves; none of them is in any column of the
    harvest's quarantine, and the plates are in no accepted row in clear either."""
    import re

    from xl_pipelines.simulator.captures import capture_cameras, write_captures
    from xl_pipelines.simulator.city import build_city
    from xl_pipelines.simulator.faults import CAPTURE_FAULTS, DayPlan

    registry = build_city(load_banners(), 300, 3)[0]
    viid, onvif = (tmp_path / source / str(DAY) / registry.banner.code for source in ("viid", "onvif"))
    viid.mkdir(parents=True)
    onvif.mkdir(parents=True)
    every_fault = DayPlan(frozenset(CAPTURE_FAULTS), range(0))
    write_captures(viid, onvif, DAY, registry, capture_cameras(registry, 3), 40, every_fault, 3)
    scope = harvest_scope(channels=[c.device_id for c in registry.channels], code=registry.banner.code)
    harvest = harvest_captures(sorted(viid.glob("*.jsonl")), sorted(onvif.glob("*/*.xml")), scope, TEST_KEY.encode())
    line_level = harvest.quarantined.filter(pl.col("reason").is_in(["unknown_path", "bad_envelope", "wrong_encoding",
                                                                    "malformed_line", "no_device_id"]))
    wanted = set(line_level.select("source_file", "item").rows())
    seeded = set()
    for path in viid.glob("*.jsonl"):
        for item, raw in enumerate(path.read_bytes().splitlines(), start=1):
            if (str(path), item) in wanted:
                text = _text(raw)
                seeded |= set(re.findall(r'(?:"(?:PlateNo|IDNumber|Name)":"|[?&](?:PlateNo|IDNumber|Name)=)([^"&]{2,})',
                                         text))
    kinds = {"plate": any(re.match(r"^[\u4e00-\u9fff][A-Z]", v) for v in seeded),
             "id_number": any(re.fullmatch(r"\d{17}[\dX]", v) for v in seeded),
             "name": any(re.fullmatch(r"[\u4e00-\u9fff]{2,4}", v) for v in seeded)}
    assert kinds == {"plate": True, "id_number": True, "name": True}, seeded  # they were there to leak
    assert {"unknown_path", "bad_envelope", "wrong_encoding", "no_device_id"} <= set(line_level["reason"])
    quarantine_text = harvest.quarantined.write_ndjson()
    accepted_text = harvest.accepted.write_ndjson()
    assert [v for v in seeded if v in quarantine_text or v in accepted_text] == []


def _text(raw: bytes) -> str:
    """A landing line as text: UTF-8, or the GBK of the simulator's wrong-encoding fault."""
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("gbk")


def test_a_resend_in_a_later_batch_is_a_duplicate_and_spilled_pieces_hold_the_same_rows(tmp_path, monkeypatch):
    """Every line its own batch (BATCH_BYTES of 1): capture 1 lands at 08:00 and is re-sent at 09:00 (a
    duplicate judged against the earlier batch); capture 2's first copy has no offset in received_at
    (bad_received_at), so its re-send at 09:00 is the first accepted one and lands. Spilled to pieces (as the
    asset does), the accepted rows are the same as held in memory, one piece a batch (four lines, the ONVIF part)."""
    import xl_pipelines.captures as captures

    monkeypatch.setattr(captures, "BATCH_BYTES", 1)
    one, two = (capture("face", A, t("08:00:00"), n) for n in (1, 2))
    files = write_post_logs(tmp_path, {8: [post(t("08:00:05"), "face", [one]),
                                           post(t("08:00:06"), "face", [two]).replace("+08:00", "")],
                                       9: [post(t("09:00:05"), "face", [one]), post(t("09:00:06"), "face", [two])]})
    scope = harvest_scope(channels=[A])
    held = harvest_captures(files, [], scope, TEST_KEY.encode())
    (tmp_path / "spill").mkdir()
    spilled = harvest_captures(files, [], scope, TEST_KEY.encode(), spill=tmp_path / "spill")
    assert held.quarantined.select(pl.col("source_file").str.slice(-8), "item", "reason").rows() == [
        ("08.jsonl", 2, "bad_received_at"), ("09.jsonl", 1, "duplicate")]
    assert held.accepted.select("received_at").to_series().to_list() == [t("08:00:05"), t("09:00:06")]
    assert held.read == 4
    assert isinstance(spilled.accepted, pl.LazyFrame) and len(list((tmp_path / "spill").glob("*.parquet"))) == 5
    assert spilled.accepted.collect().equals(held.accepted) and spilled.quarantined.equals(held.quarantined)


def test_keys_whose_hashes_collide_are_still_told_apart(tmp_path, monkeypatch):
    """Re-sends are looked for where keys' hashes repeat, then the keys compared: with every hash the same (each
    key a collision), three distinct captures of one device and second, two of them re-sent (one in the same
    batch, one in a later batch), give the same verdicts as with real hashes: only the two re-sends quarantined."""
    import xl_pipelines.captures as captures

    monkeypatch.setattr(captures, "BATCH_BYTES", 1)
    one, two, three = (capture("face", A, t("08:00:00"), n) for n in (1, 2, 3))
    files = write_post_logs(tmp_path, {8: [post(t("08:00:05"), "face", [one, two, one]), post(t("08:00:06"), "face", [three])],
                                       9: [post(t("09:00:05"), "face", [two, three])]})
    scope = harvest_scope(channels=[A])
    verdicts = []
    for hashed in (captures.KEY_HASH, pl.lit(7, pl.UInt64)):
        monkeypatch.setattr(captures, "KEY_HASH", hashed)
        got = harvest_captures(files, [], scope, TEST_KEY.encode())
        verdicts.append((got.quarantined.select(pl.col("source_file").str.slice(-8), "item", "reason").rows(),
                         got.accepted.select("item", "position").rows()))
    assert verdicts[0] == verdicts[1] == (
        [("08.jsonl", 1, "duplicate"), ("09.jsonl", 1, "duplicate"), ("09.jsonl", 1, "duplicate")],
        [(1, 1), (1, 2), (2, 1)])


def test_a_check_failing_mid_harvest_raises_itself_after_the_decoding_thread(tmp_path, monkeypatch):
    """Batches are decoded ahead in threads: when checking the second of four batches fails, that error is what
    the harvest raises (not one of the threads', whose session closes after them), and no later batch is
    checked."""
    import xl_pipelines.captures as captures

    monkeypatch.setattr(captures, "BATCH_BYTES", 1)
    files = write_post_logs(tmp_path, {h: [post(t(f"{h:02d}:00:05"), "face", [capture("face", A, t(f"{h:02d}:00:00"), 1)])]
                                       for h in (8, 9, 10, 11)})
    decoded, checked = [], captures.checked

    def failing(objects, scope):
        if decoded.append(objects["source_file"][0][-8:]) or len(decoded) == 2:
            raise RuntimeError("a check failed")
        return checked(objects, scope)

    monkeypatch.setattr(captures, "checked", failing)
    with pytest.raises(RuntimeError, match="a check failed"):
        harvest_captures(files, [], harvest_scope(channels=[A]), TEST_KEY.encode())
    assert decoded == ["08.jsonl", "09.jsonl"]
    assert not [t for t in threading.enumerate() if t.name.startswith("xl-captures")]  # the decoding threads ended


def test_batches_decoded_at_once_are_checked_in_their_order(tmp_path, monkeypatch):
    """Two batches decode at once: the first, slowed down, finishes after the second, yet batches reach the
    checks in file order (a re-send is judged against what came before it, so the order is the verdict)."""
    import time

    import xl_pipelines.captures as captures
    import xl_pipelines.parsers.gat1400 as gat1400

    monkeypatch.setattr(captures, "BATCH_BYTES", 1)
    files = write_post_logs(tmp_path, {h: [post(t(f"{h:02d}:00:05"), "face", [capture("face", A, t(f"{h:02d}:00:00"), 1)])]
                                       for h in (8, 9, 10)})
    finished, seen, objects, checked = [], [], gat1400.objects, captures.checked

    def slow_first(lines, con, key):
        if lines["source_file"][0].endswith("08.jsonl"):
            time.sleep(0.5)
        got = objects(lines, con, key)
        finished.append(lines["source_file"][0][-8:])
        return got

    def in_order(found, scope):
        seen.extend(found["source_file"].str.slice(-8).unique(maintain_order=True))  # (the ONVIF batch: none)
        return checked(found, scope)

    monkeypatch.setattr(gat1400, "objects", slow_first)
    monkeypatch.setattr(captures, "checked", in_order)
    harvest_captures(files, [], harvest_scope(channels=[A]), TEST_KEY.encode())
    assert finished.index("09.jsonl") < finished.index("08.jsonl")  # decoded at once, the second first
    assert seen == ["08.jsonl", "09.jsonl", "10.jsonl"]
