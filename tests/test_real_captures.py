"""Captures as real devices and platforms send them: the fixtures in tests/fixtures/real/{gat1400,onvif}/.

Each fixture is a small landing zone written by hand from what public code, issue threads and the standards'
examples show (tests/fixtures/real/README.md says where each quirk was seen). Every expected value below is
read off the fixture by hand: times from its fields, pseudonyms by Python's own hmac (a second implementation).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
from pathlib import Path

import polars as pl
import pytest
from lxml import etree

from tests.conftest import DAY, TEST_KEY, camera_id, harvest_scope
from xl_pipelines.captures import harvest_captures
from xl_pipelines.settings import LOCAL_TZ

REAL = Path(__file__).parent / "fixtures" / "real"
A, B, C, D, E, F = (camera_id(n) for n in range(1, 7))  # A vehicles, B faces, C persons, D non-motor, E/F ONVIF
SCOPE = harvest_scope(channels=[A, B, C, D, E, F])


def h(value: str) -> str:
    return hmac.new(TEST_KEY.encode(), value.encode(), hashlib.sha256).hexdigest()[:32]


def t(clock: str) -> dt.datetime:
    return dt.datetime.combine(DAY, dt.time.fromisoformat(clock), LOCAL_TZ)


def harvest(standard: str, name: str):
    root = REAL / standard / name
    return harvest_captures(sorted(root.glob("viid/*/*/*.jsonl")), sorted(root.glob("onvif/*/*/*/*.xml")), SCOPE,
                            TEST_KEY.encode())


def rows(frame: pl.DataFrame, *columns: str) -> list[tuple]:
    return frame.sort("source_file", "item", "position").select(columns).rows()


# fixture → [(kind, device, shot_at, delay_s, plate pseudonym, person pseudonym), …] of its accepted captures
ACCEPTED = {
    ("gat1400", "vehicle_pass_time"): [("motor_vehicle", A, t("08:15:00"), 3.12, h("蒙G5A217"), None)],
    ("gat1400", "vehicle_subimage_time_only"): [("motor_vehicle", A, t("09:40:10"), 2, h("蒙GD0731"), None)],
    ("gat1400", "vehicle_epoch_placeholders"): [("motor_vehicle", A, t("10:02:30"), 1.5, h("吉A7K55Q"), None)],
    ("gat1400", "face_appear_time"): [("face", B, t("12:30:05"), 2, None, h("150502199203154417"))],
    ("gat1400", "face_16_17_digit_times"): [("face", B, t("16:11:20"), 3, None, None),
                                            ("face", B, t("16:11:21.320"), 1.68, None, None),
                                            ("face", B, t("16:11:22.045"), 0.955, None, None)],
    ("gat1400", "face_inv_placeholders"): [("face", B, t("13:52:37"), 3, None, None),
                                           ("face", B, t("13:52:39"), 1, None, None)],
    ("gat1400", "person_appear_time"): [("person", C, t("18:05:41"), 3, None, h("15052119850612301X"))],
    ("gat1400", "non_motor_appear_time"): [("non_motor", D, t("07:45:06"), 3, None, None)],
    ("gat1400", "subscription_notification"): [("motor_vehicle", A, t("11:20:00"), 4, h("蒙G5A217"), None),
                                               ("motor_vehicle", A, t("11:20:01"), 3, h("蒙GD0731"), None),
                                               ("face", B, t("11:20:00"), 4, None, None)],
    ("gat1400", "lone_object_not_list"): [("motor_vehicle", A, t("14:00:00"), 2, h("蒙G7Q2K9"), None)],
    ("gat1400", "no_plate_and_null_fields"): [("motor_vehicle", A, t("15:10:00"), 5, None, None),
                                              ("motor_vehicle", A, t("15:10:01"), 4, None, None)],
    ("gat1400", "malformed_objects"): [],
    ("onvif", "class_types_by_likelihood"): [("motor_vehicle", E, t("08:30:00.250"), 1.75, h("蒙G88531"), None)],
    ("onvif", "class_candidates_vehical"): [("motor_vehicle", E, t("08:31:03"), 2, None, None)],
    ("onvif", "type_outside_class"): [("motor_vehicle", E, t("08:32:04.5"), 0.5, None, None),
                                      ("face", E, t("08:32:04.5"), 0.5, None, None),
                                      ("person", E, t("08:32:04.5"), 0.5, None, None)],
    ("onvif", "plate_without_class"): [("motor_vehicle", E, t("08:33:08.432"), 1.568, h("蒙GA8814"), None)],
    ("onvif", "plate_child_with_parent"): [("motor_vehicle", F, t("08:59:59.800"), 1.2, h("吉A7K55Q"), None),
                                           ("non_motor", F, t("08:59:59.800"), 1.2, None, None)],
    ("onvif", "licenseplate_class_with_images"): [("motor_vehicle", F, t("09:01:03"), 2, h("蒙GD0731"), None)],
    ("onvif", "plate_reader_events"): [("motor_vehicle", F, t("09:10:04"), 2, h("蒙G7Q2K9"), None),
                                       ("motor_vehicle", F, t("09:10:05.5"), 0.5, h("辽A12345"), None)],
    ("onvif", "no_objects"): [],
}
# fixture → [(item, reason, record_id, detail), …] of its quarantined records
QUARANTINED = {
    ("gat1400", "subscription_notification"): [
        (2, "bad_envelope", None, "no objects under the envelope its path names (or, for a notification, in any "
                                  "of its MotorVehicle/Face/Person/NonMotorVehicle ObjectLists)")],
    ("gat1400", "malformed_objects"): [
        (1, "bad_object_id", B, "object 1 of the line: its ID field (MotorVehicleID, FaceID, PersonID or "
                                "NonMotorVehicleID) is missing or not 48 digits"),
        (1, "bad_device_id", None, "object 2 of the line: DeviceID is not 20 digits"),
        (1, "bad_shot_time", B, "object 3 of the line: no time in PassTime, FaceAppearTime, PersonAppearTime, "
                                "AppearTime, ShotTime, SubImageInfoObject.ShotTime, FaceDisAppearTime, "
                                "PersonDisAppearTime, DisappearTime")],
    ("onvif", "class_candidates_vehical"): [
        (2, "unknown_class", E, "tt:Class / tt:VehicleInfo type is none that is counted, and no plate")],
    ("onvif", "type_outside_class"): [
        (4, "unknown_class", E, "tt:Class / tt:VehicleInfo type is none that is counted, and no plate")],
    ("onvif", "no_objects"): [
        (1, "no_objects", F, "no tt:Object and no plate reading (2 frames, 1 other event messages)")],
}
FIXTURES = sorted(ACCEPTED)


def test_every_fixture_has_its_expectations():
    on_disk = {(p.parent.name, p.name) for p in REAL.glob("*/*")
               if p.is_dir() and p.parent.name in ("gat1400", "onvif")}
    assert on_disk == set(ACCEPTED)
    assert len(on_disk) >= 15


@pytest.mark.parametrize("fixture", FIXTURES, ids="/".join)
def test_each_fixture_gives_the_values_read_off_it_by_hand(fixture):
    got = harvest(*fixture)
    accepted = rows(got.accepted, "kind", "device_id", "shot_at", "delay_s", "plate_pseudonym", "person_pseudonym")
    assert [(*r[:3], pytest.approx(r[3]), *r[4:]) for r in accepted] == ACCEPTED[fixture]
    quarantined = got.quarantined.select("item", "reason", "record_id", "detail").rows()
    assert sorted(quarantined, key=str) == sorted(QUARANTINED.get(fixture, []), key=str)


def _records_by_hand(standard: str, name: str) -> int:
    """The capture records in a fixture, counted with the standard library's json and lxml's XPath: a POST
    line's objects (in any object list, a lone object counting one; a line without any counts one); an
    ONVIF document's objects that are no plate child of another, plus its plate-reader events (a document
    with neither counts one)."""
    root, total = REAL / standard / name, 0
    for path in root.glob("viid/*/*/*.jsonl"):
        for line in path.read_text(encoding="utf-8").splitlines():
            body = json.loads(line)["body"]
            notices = body.get("SubscribeNotificationListObject", {}).get("SubscribeNotificationObject", [])
            lists = [v for envelope in body.values() for k, v in envelope.items() if k.endswith("Object")
                     and k != "SubscribeNotificationObject"]
            lists += [v for n in notices for k, envelope in n.items() if k.endswith("ObjectList")
                      and k != "TollgateObjectList" for v in envelope.values()]
            total += max(1, sum(1 if isinstance(v, dict) else len(v) for v in lists))
    ns = {"tt": "http://www.onvif.org/ver10/schema"}
    for path in root.glob("onvif/*/*/*/*.xml"):
        doc = etree.parse(str(path))
        objects = doc.xpath("//tt:Frame/tt:Object[not(@Parent = ../tt:Object/@ObjectId)]", namespaces=ns)
        events = doc.xpath("//tt:Event//tt:Message[.//tt:SimpleItem[@Name='PlateNumber']]", namespaces=ns)
        total += max(1, len(objects) + len(events))
    return total


@pytest.mark.parametrize("fixture", FIXTURES, ids="/".join)
def test_no_record_read_is_neither_accepted_nor_quarantined(fixture):
    """Counted a second way, every record of a fixture is in the harvest, accepted or quarantined."""
    got = harvest(*fixture)
    assert got.read == got.accepted.height + got.quarantined.height == _records_by_hand(*fixture)


def test_all_fixtures_at_once_lose_nothing():
    """One harvest of every fixture together (the bisection and the per-kind explode see mixed files)."""
    posts = sorted(REAL.glob("gat1400/*/viid/*/*/*.jsonl"))
    docs = sorted(REAL.glob("onvif/*/onvif/*/*/*/*.xml"))
    got = harvest_captures(posts, docs, SCOPE, TEST_KEY.encode())
    expected_accepted = sum(len(v) for v in ACCEPTED.values())
    expected_quarantined = sum(len(v) for v in QUARANTINED.values())
    duplicates = got.quarantined.filter(pl.col("reason") == "duplicate").height
    assert got.accepted.height + duplicates == expected_accepted
    assert got.quarantined.height - duplicates == expected_quarantined
    assert got.read == sum(_records_by_hand(*f) for f in FIXTURES)


def test_gat1400_fields_beyond_the_time():
    """Numbers as JSON numbers and as strings, placeholders as missing, the sub-images counted."""
    first = harvest("gat1400", "vehicle_pass_time").accepted.row(0, named=True)
    assert (first["speed_kmh"], first["lane_no"], first["images"], first["tollgate_id"], first["vehicle_color"],
            first["plate_color"], first["vehicle_class"], first["direction"], first["info_kind"],
            first["id_time_ok"]) == (48.0, 1, 1, "15050200001210000001", "A", "2", "K33", "1", 1, True)
    strings = harvest("gat1400", "vehicle_subimage_time_only").accepted.row(0, named=True)
    assert (strings["speed_kmh"], strings["lane_no"], strings["images"], strings["info_kind"]) == (35.0, 2, 2, 1)
    nulls = harvest("gat1400", "no_plate_and_null_fields").accepted.sort("shot_at")
    assert nulls.select("tollgate_id", "vehicle_color", "speed_kmh", "lane_no", "plate_color").rows() == [
        (None, None, None, None, "99"), (None, None, None, None, "99")]


def test_the_time_inside_the_object_id_stays_a_cross_check():
    """16:11:20 in FaceAppearTime and in the ID (ShotTime's 00:16:45.32 is not taken); the second Inv face's
    time comes from FaceDisAppearTime (13:52:39) while its ID says 13:52:38."""
    assert harvest("gat1400", "face_16_17_digit_times").accepted.sort("shot_at")["id_time_ok"].to_list() == [True] * 3
    assert harvest("gat1400", "face_inv_placeholders").accepted.sort("shot_at")["id_time_ok"].to_list() == [True, False]


def test_onvif_likelihood_and_capture_ids():
    by_type = harvest("onvif", "class_types_by_likelihood").accepted.row(0, named=True)
    assert (by_type["likelihood"], by_type["capture_id"]) == (0.85, f"{E}-2026-11-20T00:30:00.250Z-12")
    candidates = harvest("onvif", "class_candidates_vehical").accepted.row(0, named=True)
    assert candidates["likelihood"] == 0.7
    events = harvest("onvif", "plate_reader_events").accepted.sort("shot_at")
    assert events.select("capture_id", "likelihood").rows() == [
        (f"{F}-2026-11-20T01:10:04Z-event-1", 0.91), (f"{F}-2026-11-20T01:10:05.500Z-event-2", 0.61)]


def test_faces_and_persons_capture_ids_are_pseudonymised():
    face = harvest("gat1400", "face_appear_time").accepted.row(0, named=True)
    assert face["capture_id"] == h(f"{B}06202611201230050001106" + "00011")
    person = harvest("gat1400", "person_appear_time").accepted.row(0, named=True)
    assert person["capture_id"] == h(f"{C}01202611201805410004101" + "00041")
