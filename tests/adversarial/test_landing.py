"""Hostile landing zones: links out of it, FIFOs, folders named like files, compressed and oversize files.

One banner-day is landed with sound files and one hostile entry of each kind (each in its own place), then
`xl materialize` runs in a subprocess, as a user would run it (with a timeout: a FIFO read would block forever).
Every test asserts its entry was quarantined by name with its reason, that nothing of what it leads to reached
the lake, the views, the reports or the Dagster instance, and what each source read was accepted or quarantined.
"""

from __future__ import annotations

import bz2
import datetime as dt
import gzip
import io
import lzma
import os
import subprocess
import sys
import zipfile
import zlib
from pathlib import Path

import polars as pl
import pytest

from tests.conftest import (
    BANNER,
    DAY,
    TEST_KEY,
    camera_id,
    capture,
    encode_segment,
    land_banner,
    onvif_document,
    post,
    record_info,
    write_onvif,
    write_post_logs,
    write_record_info,
)
from xl_pipelines import landing
from xl_pipelines.lake import Lake
from xl_pipelines.settings import LOCAL_TZ

ROOT = Path(__file__).resolve().parents[2]
CAMERAS = [camera_id(n) for n in range(1, 41)]
STORED = CAMERAS[3:30]  # cameras with a sound segment on storage (the hostile entries are the first three's)
SECRET = "SECRET-OUTSIDE-THE-LANDING-ZONE-7f3a"  # written only outside the landing zone
PLATE = "蒙G7Q2K9"  # a careless exporter names a file after a plate
PASSWD = Path("/etc/passwd").read_text().splitlines()[0]  # e.g. root:x:0:0:root:/root:/bin/bash
KEYS = {"date": DAY.isoformat(), "banner": BANNER}
AT = dt.datetime.combine(DAY, dt.time(10), LOCAL_TZ)


def zstd_frame(data: bytes) -> bytes:
    """A real Zstandard frame holding `data` in one raw block (RFC 8878: magic, a single-segment header with a
    2-byte content size, a last raw block), made by hand; Polars inflates it (see the test below)."""
    assert 256 <= len(data) < 65536 + 256
    block = (1 | len(data) << 3).to_bytes(3, "little")  # last block, raw, its size
    return b"\x28\xb5\x2f\xfd" + bytes([0x60]) + (len(data) - 256).to_bytes(2, "little") + block + data


def _folder(home: Path, source: str) -> Path:
    return home / "landing" / source / DAY.isoformat() / BANNER


@pytest.fixture(scope="module")
def hostile(tmp_path_factory) -> dict:
    """The banner-day, its hostile entries (name → path) and the finished `xl materialize` run."""
    tmp = tmp_path_factory.mktemp("hostile")
    home, outside = tmp / "xl", tmp / "outside"
    landing_zone, storage = home / "landing", home / "recordings"
    outside.mkdir()
    (outside / "secret.xml").write_text(f"<{SECRET}/>")
    (outside / "channel").mkdir()  # an ONVIF channel folder elsewhere on the machine, holding a document
    (outside / "channel" / "20261120T100000.xml").write_text(f"<{SECRET}/>")
    encode_segment(outside / "day" / "03-00-00.mp4", 600)  # a day folder of recordings elsewhere

    land_banner(landing_zone, BANNER, CAMERAS)
    write_post_logs(landing_zone, {10: [post(AT + dt.timedelta(seconds=n), "motor_vehicle",
                                             [capture("motor_vehicle", c, AT, n)]) for n, c in enumerate(CAMERAS)]})
    write_onvif(landing_zone, CAMERAS[0], AT, onvif_document([("2026-11-20T02:00:00Z", [("1", "Vehicle", None)])]))
    write_record_info(landing_zone, [record_info(c, [("2026-11-20T01:00:00", "2026-11-20T01:10:00")]) for c in CAMERAS])
    for camera in STORED:
        encode_segment(storage / BANNER / camera / DAY.isoformat() / "01-00-00.mp4", 600)

    poll_lines = "".join(f"{c},{AT.isoformat()},ON\n" for c in CAMERAS).encode()
    entries = {
        "passwd": _folder(home, "catalog") / "20261120T030000-8-1.xml",
        "folder_outside": _folder(home, "onvif") / CAMERAS[1],
        "dangling": _folder(home, "recordinfo") / "20261121T000100-998-1.xml",
        "fifo": _folder(home, "status") / "9990.csv",
        "gzip_csv": _folder(home, "status") / "9991.csv",
        "gzip_jsonl": _folder(home, "viid") / "23.jsonl",
        "zstd_xml": _folder(home, "recordinfo") / "20261121T000100-999-1.xml",
        "oversize": _folder(home, "devicestatus") / f"20261120T110030-{CAMERAS[0]}.xml",
        "folder_named_xml": _folder(home, "catalog") / "20261120T040000-9-1.xml",
        "linked_segment": storage / BANNER / CAMERAS[1] / DAY.isoformat() / "02-00-00.mp4",
        "linked_day": storage / BANNER / CAMERAS[2] / DAY.isoformat(),
        "plate_named": _folder(home, "viid") / f"{PLATE}.jsonl",
    }
    entries["passwd"].symlink_to("/etc/passwd")
    entries["plate_named"].symlink_to("/etc/passwd")
    entries["folder_outside"].symlink_to(outside / "channel", target_is_directory=True)
    entries["dangling"].symlink_to(tmp / "gone" / "page.xml")
    os.mkfifo(entries["fifo"])
    # 10,000 copies of the poll lines: 20 MB inflated (a bomb would be larger; the rule is the same)
    entries["gzip_csv"].write_bytes(gzip.compress(b"channel_id,polled_at,status\n" + poll_lines * 10_000))
    entries["gzip_jsonl"].write_bytes(gzip.compress(
        (post(AT, "motor_vehicle", [capture("motor_vehicle", CAMERAS[0], AT, 999)]) + "\n").encode() * 1000))
    entries["zstd_xml"].write_bytes(zstd_frame(record_info(CAMERAS[0], [("2026-11-20T05:00:00", "2026-11-20T05:10:00")],
                                                           sn=999)))
    with entries["oversize"].open("wb") as sparse:  # one byte over the DeviceStatus limit, no disk used
        sparse.truncate(landing.limits()["devicestatus"] + 1)
    entries["folder_named_xml"].mkdir()
    entries["linked_segment"].parent.mkdir(parents=True)
    entries["linked_segment"].symlink_to(outside / "secret.xml")
    entries["linked_day"].parent.mkdir(parents=True)
    entries["linked_day"].symlink_to(outside / "day", target_is_directory=True)

    env = {**os.environ, "XL_HOME": str(home), "XL_PSEUDONYM_KEY": TEST_KEY}
    for variable in ("XL_LANDING", "XL_RECORDINGS", "XL_LAKE_URL"):
        env.pop(variable, None)
    run = subprocess.run([sys.executable, "-m", "xl_pipelines.cli", "materialize", "--start", DAY.isoformat(),
                          "--end", DAY.isoformat(), "--banner", BANNER], env=env, cwd=ROOT, capture_output=True,
                         text=True, timeout=600)
    return {"home": home, "lake": Lake(str(home / "lake")), "entries": entries, "run": run}


def quarantined(hostile: dict, source: str) -> pl.DataFrame:
    return hostile["lake"].read("quarantine", source, KEYS)


def leaked(home: Path, text: str) -> list[str]:
    """Every file under XL_HOME but the landing zone and storage whose content (Parquet: decoded) holds `text`."""
    found = []
    for path in home.rglob("*"):
        if not path.is_file() or path.is_symlink() or {"landing", "recordings"} & set(path.relative_to(home).parts):
            continue
        content = repr(pl.read_parquet(path).rows()) if path.suffix == ".parquet" else path.read_bytes().decode("latin-1")
        if text in content:
            found.append(str(path))
    return found


def assert_refused(hostile: dict, source: str, entry: str, reason: str) -> None:
    """Exactly one quarantine row names the entry, as a whole file (item 0), with `reason` and no raw text; and
    no row of any table came out of it (bronze, and silver.captures, which the capture harvests write)."""
    path = str(hostile["entries"][entry])
    rows = quarantined(hostile, source).filter(pl.col("source_file").str.starts_with(path))
    assert rows.select("source_file", "item", "reason").rows() == [(path, 0, reason)], hostile["run"].stderr[-3000:]
    assert rows["raw"].to_list() == [None]
    root = hostile["lake"].root
    for table in [*root.glob("bronze/*"), root / "silver" / "captures"]:
        frame = pl.read_parquet(table / f"date={DAY}" / f"banner={BANNER}" / "part-0.parquet")
        column = "path" if "path" in frame.columns else "source_file"
        if column in frame.columns:
            assert not frame[column].str.starts_with(path).any(), table.name


def test_a_refused_capture_file_named_after_a_plate_is_not_named_in_the_lake(hostile):
    withheld = str(_folder(hostile["home"], "viid") / "(file name withheld)")
    rows = quarantined(hostile, "captures").filter(pl.col("source_file") == withheld)
    assert rows.select("item", "reason", "raw").rows() == [(0, "symlink", None)]
    assert leaked(hostile["home"], PLATE) == []


def test_the_run_ends_cleanly_and_every_record_read_is_accounted_for(hostile):
    run = hostile["run"]
    assert run.returncode == 0, run.stderr[-3000:]
    assert "Traceback" not in run.stderr
    assert f"{DAY} {BANNER}" in run.stderr and " ok" in run.stderr
    results = (hostile["home"] / "reports" / "quality" / "results").glob(f"*/reconciled/{DAY}_{BANNER}.json")
    reconciled = {p.parent.parent.name: p.read_text() for p in results}  # read = accepted + quarantined, per source
    assert set(reconciled) == {"bronze.catalog_items", "bronze.status_polls", "bronze.device_status",
                               "bronze.record_index", "bronze.recording_files", "silver.captures",
                               "bronze.keepalives"}
    assert all('"passed": true' in text for text in reconciled.values()), reconciled


def test_a_link_to_etc_passwd_is_quarantined_by_name_and_never_read(hostile):
    assert_refused(hostile, "catalog", "passwd", "symlink")
    assert leaked(hostile["home"], PASSWD) == []


def test_a_linked_folder_leading_outside_is_one_record_and_never_entered(hostile):
    assert_refused(hostile, "captures", "folder_outside", "symlink")
    assert leaked(hostile["home"], SECRET) == []


@pytest.mark.parametrize("source, name, reason", [
    ("record_index", "dangling", "symlink"),  # a dangling link
    ("status_polls", "fifo", "not_regular_file"),  # a FIFO, without blocking the harvest
    ("catalog", "folder_named_xml", "not_regular_file"),  # a folder named like a file
    ("recordings", "linked_segment", "symlink"),  # a linked segment in recording storage is not probed
])
def test_what_is_not_a_regular_file_below_its_root_is_quarantined(hostile, source, name, reason):
    assert_refused(hostile, source, name, reason)


def test_gzip_under_a_csv_name_is_not_inflated(hostile):
    assert_refused(hostile, "status_polls", "gzip_csv", "compressed")
    detail = quarantined(hostile, "status_polls").filter(pl.col("reason") == "compressed")["detail"].item()
    assert detail.startswith("gzip")


def test_gzip_under_a_jsonl_name_is_not_inflated(hostile):
    assert_refused(hostile, "captures", "gzip_jsonl", "compressed")
    captured = hostile["lake"].read("silver", "captures", KEYS)
    assert captured["source"].value_counts().sort("source").rows() == [("gat1400", len(CAMERAS)), ("onvif", 1)]


def test_zstd_under_an_xml_name_is_not_inflated(hostile):
    assert_refused(hostile, "record_index", "zstd_xml", "compressed")
    assert hostile["lake"].read("bronze", "record_index", KEYS)["sn"].unique().to_list() == ["41"]


def test_a_file_over_its_folders_limit_is_not_read(hostile):
    assert_refused(hostile, "device_status", "oversize", "too_large")
    detail = quarantined(hostile, "device_status").filter(pl.col("reason") == "too_large")["detail"].item()
    assert detail == "16,777,217 bytes, over this source's limit of 16,777,216 (landing_max_mb in quality/thresholds.yaml)"


def test_a_linked_day_folder_in_recording_storage_is_one_record(hostile):
    assert_refused(hostile, "recordings", "linked_day", "symlink")
    files = hostile["lake"].read("bronze", "recording_files", KEYS)
    assert files["channel_id"].to_list() == STORED  # the sound segments, nothing else


def test_a_compressed_case_export_is_quarantined_and_its_month_says_so(xl_home):
    from tests.conftest import run_job

    export = xl_home / "landing" / "cases" / "2026-11.csv"
    export.parent.mkdir(parents=True)
    line = f"C1,2026-11-03T09:00:00+08:00,{BANNER},criminal,true,{CAMERAS[0]},1,0,0,\n"
    export.write_bytes(gzip.compress(b"case_id,opened_at,code,category,video_assisted,cameras,suspects_caught,"
                                     b"accident_replays,missing_found,closed_at\n" + line.encode()))
    status, outcome = run_job("cases", "2026-11", label="2026-11 cases")  # as `xl materialize` runs the month's cases
    lake = Lake(str(xl_home / "lake"))
    rows = lake.read("quarantine", "cases", {"month": "2026-11"})
    assert rows.select("source_file", "item", "reason", "raw").rows() == [(str(export), 0, "compressed", None)]
    assert lake.count("silver", "cases", {"month": "2026-11"}) == 0
    # one record read, one refused: the month's outcomes are unknown, and the run says so in one line
    assert outcome.blocked == ["2026-11 cases"]
    assert status == "BLOCKED by silver.cases rejected_share"


@pytest.mark.parametrize(("name", "pack"), [
    ("gzip", gzip.compress), ("bzip2", bz2.compress), ("xz", lzma.compress), ("zlib", zlib.compress),
    ("zstd", lambda data: zstd_frame(data.ljust(300))),
    ("zip", lambda data: _zipped(data)),
])
def test_each_compressed_format_is_recognised_from_real_bytes(tmp_path, name, pack):
    data = b"channel_id,polled_at,status\n" * 20
    assert landing.compression(pack(data)[:8]) == name
    path = tmp_path / "status" / "0000.csv"
    path.parent.mkdir()
    path.write_bytes(pack(data))
    listing = landing.list_files(tmp_path, path.parent, "*.csv", 2**20)
    assert listing.files == [] and listing.refused["reason"].to_list() == ["compressed"]


def test_plain_text_is_never_taken_for_compressed_data():
    for head in (b"channel_id", b"<?xml ver", b'{"receiv', b"x-y,z", b"\xef\xbb\xbfcase_id", b""):
        assert landing.compression(head) is None


def test_polars_would_inflate_the_handmade_zstd_frame():
    """The frame above is real Zstandard: the reader the harvest used before this rule inflates it."""
    frame = pl.read_csv(io.BytesIO(zstd_frame(b"a\n" + b"1\n" * 200)))
    assert frame["a"].to_list() == [1] * 200


def _zipped(data: bytes) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("0000.csv", data)
    return buffer.getvalue()


def test_a_file_swapped_for_a_fifo_after_listing_is_refused_at_once(tmp_path):
    path = tmp_path / "0000.csv"
    path.write_text("channel_id,polled_at,status\n")
    listing = landing.list_files(tmp_path, tmp_path, "*.csv", 2**20)
    path.unlink()
    os.mkfifo(path)  # no writer: a plain open() would wait forever
    with pytest.raises(landing.Refused, match="FIFO"):
        landing.read_bytes(listing.files[0])
    path.unlink()
    path.symlink_to("/etc/passwd")
    with pytest.raises(landing.Refused) as refused:
        landing.read_bytes(listing.files[0])
    assert refused.value.reason == "symlink"


def test_a_file_grown_after_listing_is_checked_against_its_own_sources_limit(tmp_path):
    """Listed under a 1,000-byte limit, then grown to 1,500 bytes: a harvest (Listing.reading) refuses it by that
    limit, not by the largest landing limit (which 1,500 bytes is far within)."""
    path = tmp_path / "0000.csv"
    path.write_bytes(b"x" * 900)
    listing = landing.list_files(tmp_path, tmp_path, "*.csv", 1000) + landing.list_files(tmp_path, tmp_path, "*.txt", 9)
    path.write_bytes(b"x" * 1500)
    assert len(landing.read_bytes(listing.files[0])) == 1500
    with listing.reading(), pytest.raises(landing.Refused) as refused:
        landing.read_bytes(listing.files[0])
    assert refused.value.reason == "too_large" and "1,500 bytes, over this source's limit of 1,000" in str(refused.value)


def test_a_folder_listed_by_its_entries_types_refuses_each_entry_in_its_own_words(tmp_path):
    """One folder of answers listed as a city-day's are (its entries' types taken from the folder's listing, no
    look at each file): every hostile entry gets the reason and words it gets when looked at one by one, the
    sound files come in name order, and dot-names and other patterns are left out."""
    folder = tmp_path / "devicestatus"
    folder.mkdir()
    for name in ("b.xml", "a.xml", "x.xml"):  # x: plain text starting with zlib's first byte
        (folder / name).write_text("x-y<Response/>" if name == "x.xml" else "<Response/>")
    (folder / "big.xml").write_bytes(b"<" * 1001)
    (folder / "gz.xml").write_bytes(gzip.compress(b"<Response/>"))
    (folder / "dir.xml").mkdir()
    (folder / "link.xml").symlink_to("/etc/passwd")
    os.mkfifo(folder / "fifo.xml")
    (folder / ".writing.xml").write_text("<Response/>")
    (folder / "notes.txt").write_text("<Response/>")
    listing = landing.list_files(tmp_path, folder, "*.xml", 1000)
    assert [p.name for p in listing.files] == ["a.xml", "b.xml", "x.xml"]
    assert listing.refused.rows() == [
        (str(folder / "big.xml"), "too_large", "1,001 bytes, over this source's limit of 1,000 "
                                               "(landing_max_mb in quality/thresholds.yaml)"),
        (str(folder / "dir.xml"), "not_regular_file", "a directory, not a regular file"),
        (str(folder / "fifo.xml"), "not_regular_file", "a FIFO, not a regular file"),
        (str(folder / "gz.xml"), "compressed", "gzip data: the contract names uncompressed files only"),
        (str(folder / "link.xml"), "symlink", landing.LINK),
    ]
    # the same as the general listing, which looks at each entry before opening it
    every = landing.vet(folder, sorted(folder.glob("[!.]*.xml")), 1000)
    assert every.files == listing.files and every.refused.equals(listing.refused)
    assert landing.list_files(tmp_path, folder, "*.xml", 1000, hidden=True).files[0].name == ".writing.xml"
    assert landing.list_files(tmp_path, folder / "absent", "*.xml", 1000).files == []
