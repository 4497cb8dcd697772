"""Hostile captures: a camera or receiver that puts plates, ID numbers and names where the quarantine looks.

Each case lands one hostile input beside a sound one, harvests, and searches every column of the quarantine
and of the accepted rows for the personal values it planted. Quarantine keeps file, line, reason and the
offending field's name; never a value a sender wrote.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import polars as pl
import pytest

from tests.conftest import (
    DAY,
    TEST_KEY,
    camera_id,
    capture,
    harvest_scope,
    onvif_document,
    post,
    write_onvif,
    write_post_logs,
)
from xl_pipelines.captures import harvest_captures
from xl_pipelines.landing import Listing
from xl_pipelines.settings import LOCAL_TZ

PLATE, ID_NUMBER, NAME = "蒙G7Q2K9", "150502198807154321", "王秀英"
A = camera_id(1)
AT = dt.datetime.combine(DAY, dt.time(8), LOCAL_TZ)


def _harvest(posts: list[Path], documents: list[Path] = ()) -> tuple[str, pl.DataFrame, pl.DataFrame]:
    got = harvest_captures(posts, list(documents), harvest_scope(channels=[A]), TEST_KEY.encode())
    assert got.read == got.accepted.height + got.quarantined.height
    return got.quarantined.write_ndjson() + got.accepted.write_ndjson(), got.accepted, got.quarantined


def _vehicles(path: str, **fields) -> str:
    line = json.loads(post(AT + dt.timedelta(seconds=2), "motor_vehicle",
                           [capture("motor_vehicle", A, AT, 1, PlateNo=PLATE, **fields)]))
    return json.dumps(line | {"path": path}, ensure_ascii=False)


@pytest.mark.parametrize("path", [
    f"/VIID/MotorVehicles?PlateNo={PLATE}&IDNumber={ID_NUMBER}&Name={NAME}",  # the search fields as a query
    f"/VIID/MotorVehicles#{ID_NUMBER}",
    f"/VIID/{PLATE}",  # a route named after a plate
    f"/VIID/Persons/{NAME}/{ID_NUMBER}",
])
def test_an_unknown_path_is_quarantined_without_its_values(tmp_path, path):
    text, accepted, quarantined = _harvest(write_post_logs(tmp_path, {8: [_vehicles(path)]}))
    assert quarantined.select("reason", "record_id", "raw").rows() == [("unknown_path", None, None)]
    assert [v for v in (PLATE, ID_NUMBER, NAME) if v in text] == []
    assert accepted.height == 0


def test_a_query_string_on_a_capture_route_names_the_route_and_withholds_the_rest(tmp_path):
    query = _vehicles(f"/VIID/MotorVehicles?IDNumber={ID_NUMBER}")
    _, _, quarantined = _harvest(write_post_logs(tmp_path, {8: [query]}))
    assert quarantined["detail"].to_list() == [
        "path /VIID/MotorVehicles with a query string (withheld: it may hold personal data)"]


def test_a_device_id_holding_an_id_number_is_not_kept_as_the_record_id(tmp_path):
    """record_id names a camera; an 18-digit DeviceID is no camera ID, whatever else it may be."""
    face = post(AT + dt.timedelta(seconds=2), "face", [capture("face", ID_NUMBER, AT, 1, Name=NAME)])
    text, _, quarantined = _harvest(write_post_logs(tmp_path, {8: [face]}))
    assert quarantined.select("reason", "record_id", "detail").rows() == [
        ("bad_device_id", None, "object 1 of the line: DeviceID is not 20 digits")]
    assert ID_NUMBER not in text and NAME not in text


def test_a_time_field_holding_an_id_number_is_named_not_quoted(tmp_path):
    vehicles = _vehicles("/VIID/MotorVehicles").replace(f'"ShotTime": "{AT:%Y%m%d%H%M%S}"',
                                                         f'"ShotTime": "{ID_NUMBER}"')
    text, _, quarantined = _harvest(write_post_logs(tmp_path, {8: [vehicles]}))
    assert quarantined["reason"].to_list() == ["bad_shot_time"] and ID_NUMBER not in text and PLATE not in text


def test_a_cut_line_and_a_gbk_line_holding_personal_data_leave_only_file_line_and_reason(tmp_path):
    whole = _vehicles("/VIID/MotorVehicles", IDNumber=ID_NUMBER, Name=NAME)
    lines = [whole[:-25], whole.encode("gbk"), "{" + f'"PlateNo":"{PLATE}"']
    text, _, quarantined = _harvest(write_post_logs(tmp_path, {8: lines}))
    assert quarantined.select("item", "reason").rows() == [(1, "malformed_line"), (2, "wrong_encoding"),
                                                           (3, "malformed_line")]
    assert quarantined["raw"].null_count() == 3
    assert [v for v in (PLATE, ID_NUMBER, NAME) if v in text] == []


def test_a_post_log_named_after_a_person_is_not_named_in_the_lake(tmp_path):
    """Any *.jsonl in the folder is read; its name, not the contract's <HH>.jsonl, is withheld everywhere."""
    folder = write_post_logs(tmp_path, {8: [_vehicles("/VIID/MotorVehicles")]})[0].parent
    odd = folder / f"{NAME}-{ID_NUMBER}.jsonl"
    odd.write_text(_vehicles("/VIID/MotorVehicles") + "\n{broken\n", encoding="utf-8")
    text, accepted, quarantined = _harvest(sorted(folder.glob("*.jsonl")))
    assert NAME not in text and ID_NUMBER not in text
    assert sorted(accepted["source_file"].to_list() + quarantined["source_file"].to_list()) == sorted([
        str(folder / "08.jsonl"), str(folder / "(file name withheld)"), str(folder / "(file name withheld)")])


def test_a_file_the_landing_refused_is_quarantined_by_the_harvest_under_a_withheld_name(tmp_path):
    """A refused file (here a link named after a plate) is one record of the harvest, its name withheld by the
    same rule as a read file's, in the harvest itself (the asset only hands over the listing)."""
    folder = write_post_logs(tmp_path, {8: [_vehicles("/VIID/MotorVehicles")]})[0].parent
    refused = Listing(refused=pl.DataFrame({"source_file": [str(folder / f"{PLATE}.jsonl"), str(folder / "09.jsonl")],
                                            "reason": ["symlink", "too_large"], "detail": ["a link", "too large"]}))
    got = harvest_captures([folder / "08.jsonl"], [], harvest_scope(channels=[A]), TEST_KEY.encode(), refused)
    assert got.read == 3 == got.accepted.height + got.quarantined.height
    assert got.quarantined.select("source_file", "item", "reason", "raw").rows() == [
        (str(folder / "(file name withheld)"), 0, "symlink", None), (str(folder / "09.jsonl"), 0, "too_large", None)]


def test_an_onvif_channel_folder_or_file_named_after_a_person_is_withheld(tmp_path):
    document = onvif_document([("2026-11-20T00:00:00Z", [("5", "Car", PLATE)])])
    by_id = write_onvif(tmp_path, ID_NUMBER, AT, document)
    by_name = write_onvif(tmp_path, A, AT, document).with_name(f"{NAME}.xml")
    by_name.write_bytes(document)
    text, _, quarantined = _harvest([], [by_id, by_name])
    assert sorted(quarantined.select("reason", "record_id").rows(), key=str) == [
        ("bad_device_id", None), ("bad_file_name", A)]
    assert [v for v in (PLATE, ID_NUMBER, NAME) if v in text] == []


@pytest.mark.parametrize(("document", "reason"), [
    (f'<tt:MetadataStream xmlns:tt="http://www.onvif.org/ver10/schema"><{NAME}>{PLATE}</tt:MetadataStream>'.encode(),
     "malformed_xml"),  # the tag named after a person is never closed
    (f'<{NAME} xmlns:tt="http://www.onvif.org/ver10/schema"><tt:Frame/></{NAME}>'.encode(), "not_metadata"),
    (f'<?xml version="1.0" encoding="GB2312"?><tt:MetadataStream xmlns:tt="x">{ID_NUMBER}\xff'.encode("latin-1"),
     "wrong_encoding"),  # 0xFF begins no GB2312 (nor GB18030) character
], ids=["tag_named_after_a_person", "root_named_after_a_person", "bad_bytes_after_an_id_number"])
def test_an_unreadable_onvif_document_is_described_not_quoted(tmp_path, document, reason):
    """lxml's own messages quote tag names; the quarantine says what is wrong in words of its own."""
    text, _, quarantined = _harvest([], [write_onvif(tmp_path, A, AT, document)])
    assert quarantined["reason"].item() == reason
    assert [v for v in (PLATE, ID_NUMBER, NAME) if v in text] == []


def test_an_onvif_object_id_holding_a_plate_or_an_id_number_is_quarantined(tmp_path):
    """ObjectId is an integer (a track number); anything else would reach silver inside the capture ID."""
    objects = [(PLATE, "Car", None), (ID_NUMBER, "Car", None), ("7", "Car", None)]
    document = onvif_document([("2026-11-20T00:00:00Z", objects)])
    text, accepted, quarantined = _harvest([], [write_onvif(tmp_path, A, AT, document)])
    assert quarantined["reason"].to_list() == ["bad_object_id", "bad_object_id"]
    assert accepted["capture_id"].to_list() == [f"{A}-2026-11-20T00:00:00Z-7"]
    assert PLATE not in text and ID_NUMBER not in text


def test_a_plate_reader_event_keeps_its_plate_only_as_a_pseudonym(tmp_path):
    document = (f'<tt:MetadataStream xmlns:tt="http://www.onvif.org/ver10/schema"><tt:Event><tt:Message '
                f'UtcTime="2026-11-20T00:00:00Z"><tt:Data><tt:SimpleItem Name="PlateNumber" Value="{PLATE}"/>'
                f'</tt:Data></tt:Message></tt:Event></tt:MetadataStream>').encode()
    text, accepted, _ = _harvest([], [write_onvif(tmp_path, A, AT, document)])
    assert accepted.height == 1 and accepted["plate_pseudonym"].item() is not None and PLATE not in text
