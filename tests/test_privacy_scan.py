"""`xl privacy-scan` finds the landing zone's personal values wherever else they sit under XL_HOME, even
inside compressed Parquet pages and zlib blobs, and never prints one in full."""

import sqlite3
import zlib

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tests.conftest import write_post_logs
from xl_pipelines.cli import main
from xl_pipelines.privacy_scan import Finder, sought_values, tokens

PLATE, ONVIF_PLATE = "蒙GA12B3", "吉AK7Q881"
ID_NUMBER, NAME = "150502197803041234", "包海燕"
FACE_ID = "150502000013200000010620261120081500000010100001"
FACE = ('{"received_at":"2026-11-20T08:15:01.000+08:00","path":"/VIID/Faces","body":{"FaceListObject":'
        f'{{"FaceObject":[{{"FaceID":"{FACE_ID}","DeviceID":"15050200001320000001","ShotTime":"20261120081500",'
        f'"Name":"{NAME}","IDNumber":"{ID_NUMBER}"}}]}}}}}}')
VEHICLES = ('{"received_at":"2026-11-20T08:16:01.000+08:00","path":"/VIID/MotorVehicles","body":{"MotorVehicleListObject":'
            f'{{"MotorVehicleObject":[{{"MotorVehicleID":"1","PlateNo":"{PLATE}"}},{{"MotorVehicleID":"2",'
            '"PlateNo":"无车牌"},{"MotorVehicleID":"3","PlateNo":"null","Name":""}]}}}')
GBK_FACE = FACE.replace(NAME, "王建国").replace(ID_NUMBER, "150502197803040917")  # a receiver that logged in GBK
ONVIF = ('<?xml version="1.0" encoding="UTF-8"?><tt:MetadataStream xmlns:tt="http://www.onvif.org/ver10/schema">'
         '<tt:Event><tt:Message><tt:Data><tt:SimpleItem Name="PlateNumber" Value="' + ONVIF_PLATE + '"/>'
         "</tt:Data></tt:Message></tt:Event></tt:MetadataStream>")


def landing_zone(home):
    write_post_logs(home / "landing", {8: [FACE, VEHICLES], 9: [GBK_FACE.encode("gbk")]})
    folder = home / "landing/onvif/2026-11-20/150502/15050200001320000002"
    folder.mkdir(parents=True)
    (folder / "20261120T081530.xml").write_text(ONVIF, encoding="utf-8")


def parquet(path, rows):
    """A lake file: dictionary pages compressed with zstd, as the lake writes them."""
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.table({"code": ["150502"] * len(rows), "detail": rows, "n": list(range(len(rows)))}), path,
                   compression="zstd")


def camera_rows(leak: str | None):
    return [f"object {i}: 科尔沁区建国路与明仁大街交叉口 {leak if i == 500 and leak else f'蒙G{i:05d}'}"
            for i in range(1000)]


def test_sought_values_are_the_landing_zones_personal_fields(xl_home):
    landing_zone(xl_home)
    assert sought_values(xl_home / "landing").rows() == sorted([
        ("capture_id", FACE_ID), ("id_number", ID_NUMBER), ("id_number", "150502197803040917"), ("name", NAME),
        ("name", "王建国"), ("plate", PLATE), ("plate", ONVIF_PLATE)])


def test_leaks_are_found_in_compressed_parquet_sqlite_blobs_and_text(xl_home, capsys):
    landing_zone(xl_home)
    lake_file = xl_home / "lake/quarantine/captures/date=2026-11-20/banner=150502/part-0.parquet"
    parquet(lake_file, camera_rows(PLATE))
    assert PLATE.encode() not in lake_file.read_bytes()  # a byte search would miss it
    (xl_home / "dagster").mkdir()
    con = sqlite3.connect(xl_home / "dagster/runs.db")
    con.execute("PRAGMA journal_mode=WAL")  # as Dagster keeps it
    with con:
        con.execute("CREATE TABLE snapshots (id INTEGER, body BLOB)")
        con.execute("INSERT INTO snapshots VALUES (1, ?)", [zlib.compress(f'{{"id": "{ID_NUMBER}"}}'.encode() * 50)])
    con.close()
    (xl_home / "reports").mkdir()
    (xl_home / "reports/index.html").write_text(f"<td>嫌疑人{NAME}已抓获</td>", encoding="utf-8")

    files = sorted(xl_home.rglob("*"))
    assert main(["privacy-scan"]) == 1
    assert sorted(xl_home.rglob("*")) == files  # the scan writes nothing (no -wal / -shm beside a database)
    out = capsys.readouterr().out
    lines = out.strip().splitlines()
    assert lines[:-1] == [
        "leak: dagster/runs.db (table snapshots column body): 1 ID numbers in clear (e.g. 1… (18 characters))",
        "leak: lake/quarantine/captures/date=2026-11-20/banner=150502/part-0.parquet (column detail): "
        "1 plates in clear (e.g. 蒙… (7 characters))",
        "leak: reports/index.html (bytes): 1 names in clear (e.g. 包… (3 characters))"]
    assert lines[-1].startswith("privacy scan: sought 2 plates, 2 ID numbers, 2 names, 1 face / person capture IDs, "
                                "0 image payloads") and lines[-1].endswith("; 3 leak(s)")
    assert not any(value in out for value in (PLATE, ID_NUMBER, NAME, "海燕"))


def test_a_clean_home_passes(xl_home, capsys):
    landing_zone(xl_home)
    parquet(xl_home / "lake/silver/captures/date=2026-11-20/banner=150502/part-0.parquet", camera_rows(None))
    (xl_home / "reports").mkdir()
    (xl_home / "reports/index.html").write_text("<td>建国路 海燕 包头 蒙GA12B</td>", encoding="utf-8")
    (xl_home / "recordings").mkdir()
    (xl_home / "recordings/note.txt").write_text(PLATE, encoding="utf-8")  # recordings are not searched
    assert main(["privacy-scan"]) == 0
    assert capsys.readouterr().out.strip().endswith("searched 2 files (0.0 MiB) outside the landing zone and "
                                                     "recordings; 0 leak(s)")


def test_no_landing_zone_is_one_line(xl_home, capsys):
    assert main(["privacy-scan"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("xl: error: no landing zone") and "\n" not in err


@pytest.mark.parametrize(("text", "found"), [
    (f"某某{NAME}先生", {NAME}),  # a name inside a longer run of Han characters
    (f"车{PLATE}X9", {PLATE}),  # a plate after a Han character and before more letters
    (f"id={ID_NUMBER};", {ID_NUMBER}),
    (f"{ID_NUMBER}7", set()),  # glued into a longer run of digits: not a token (the module says so)
    ("海燕 包 建国路", set()),
])
def test_tokens_cut_every_shaped_value(text, found):
    sought = pl.DataFrame({"kind": ["name", "plate", "id_number"], "value": [NAME, PLATE, ID_NUMBER]})
    texts = pl.DataFrame({"where": ["here"], "text": [text]})
    assert Finder(sought).found(texts).rows() == [("here", kind, value) for kind, value in sought.rows() if value in found]
    assert found <= set(tokens(texts)["value"])


def test_values_of_no_shape_are_searched_as_they_are():
    sought = pl.DataFrame({"kind": ["name", "plate"], "value": ["阿拉坦·其其格", "蒙G1234学"]})
    assert Finder(sought).odd.height == 2
    texts = pl.DataFrame({"where": ["a", "b"], "text": ["x阿拉坦·其其格y", "蒙G1234"]})
    assert Finder(sought).found(texts).rows() == [("a", "name", "阿拉坦·其其格")]


def test_a_file_no_decoder_can_read_is_no_clean_bill(xl_home, capsys):
    landing_zone(xl_home)
    broken = xl_home / "lake/silver/captures/date=2026-11-20/banner=150502/part-0.parquet"
    broken.parent.mkdir(parents=True)
    broken.write_bytes(b"PAR1" + bytes(range(200)))  # Parquet's magic, then no Parquet
    assert main(["privacy-scan"]) == 1
    out = capsys.readouterr().out.strip().splitlines()
    assert out[0] == ("not searched through (a decoder refused it): "
                      "lake/silver/captures/date=2026-11-20/banner=150502/part-0.parquet (ArrowInvalid)")
    assert out[1].endswith("; 0 leak(s), 1 file(s) not searched through")
