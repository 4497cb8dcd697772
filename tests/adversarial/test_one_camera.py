"""One camera's fault is that camera's problem: a segment whose video timescale lies (its packets span 91 hours)
and a device listing a 36-hour recording are counted against their camera and stop no banner-day."""

from pathlib import Path

from tests.conftest import (
    DAY,
    camera_id,
    encode_segment,
    harvest_scope,
    land_banner,
    record_info,
    run_job,
    write_record_info,
)
from xl_pipelines import recordings
from xl_pipelines.lake import Lake
from xl_pipelines.partitions import banner_day_key

BANNER = "150502"
KEYS = {"date": DAY.isoformat(), "banner": BANNER}
LIAR, SOUND, LISTER = (camera_id(n) for n in (1, 2, 3))


def lying_segment(path: Path) -> Path:
    """A real 900 s H.264 MP4 whose media header (mdhd) claims 45 ticks a second instead of 16384, written by a
    muxer that leaves out the edit list: its 14,745,600 ticks of packets then span 14,745,600 / 45 = 327,680 s,
    91 h."""
    data = bytearray(encode_segment(path, 900).read_bytes())
    at = data.index(b"mdhd") + 4  # version 0: version/flags, creation, modification, then the timescale
    assert data[at] == 0 and int.from_bytes(data[at + 12:at + 16], "big") == 16384
    data[at + 12:at + 16] = (45).to_bytes(4, "big")
    edits = data.index(b"edts")
    data[edits:edits + 4] = b"free"  # the edit list box becomes padding: no edit list
    path.write_bytes(bytes(data))
    return path


def test_a_segment_spanning_more_than_a_day_is_corrupt_and_covers_nothing(tmp_path):
    found = recordings.probe(lying_segment(tmp_path / "00-00-00.mp4"))
    assert (found["problem"], found["span_s"], found["packets"]) == ("corrupt", None, 45)
    assert found["detail"] == "packets span 91 h, more than a day: its timescale is wrong"


def test_a_recording_listed_for_36_hours_is_quarantined_as_too_long(tmp_path):
    pages = write_record_info(tmp_path, [record_info(LISTER, [("2026-11-20T00:00:00", "2026-11-21T12:00:00"),
                                                              ("2026-11-20T01:00:00", "2026-11-20T02:00:00")])])
    harvest = recordings.harvest_record_index(pages, harvest_scope(channels=[LISTER]))
    assert harvest.read == 2 and harvest.accepted["duration_s"].to_list() == [3600.0]
    bad = harvest.quarantined.row(0, named=True)
    assert (bad["reason"], bad["record_id"], bad["detail"]) == ("too_long", LISTER, "lasts 36.0 h")


def test_one_lying_segment_and_one_36_hour_entry_stop_no_banner_day(xl_home):
    """Three cameras polled all day. On storage: LIAR's one segment lies about its timescale, SOUND's 900 s
    segment is sound (and its device lists it). LISTER has no storage; its device lists 01:00–02:00 and a
    36-hour recording. Today each fault blocked the whole banner-day through a table-level critical
    expectation (span_s, duration_s ≤ 86400); now each camera carries its own fault."""
    landing, storage = xl_home / "landing", xl_home / "recordings"
    land_banner(landing, BANNER, [LIAR, SOUND, LISTER])
    lying_segment(storage / BANNER / LIAR / DAY.isoformat() / "00-00-00.mp4")
    encode_segment(storage / BANNER / SOUND / DAY.isoformat() / "00-00-00.mp4", 900)
    write_record_info(landing, [
        record_info(SOUND, [("2026-11-20T00:00:00", "2026-11-20T00:15:00")]),
        record_info(LISTER, [("2026-11-20T00:00:00", "2026-11-21T12:00:00"), ("2026-11-20T01:00:00", "2026-11-20T02:00:00")]),
    ])

    _, outcome = run_job("banner_day", banner_day_key(DAY, BANNER))
    assert outcome.ok, outcome
    # 1 of 3 index entries rejected: 33 %, above the block level, but one record is no flood: a warning
    assert outcome.checks[("bronze.record_index", "rejected_share", "WARN")] == 1
    assert outcome.checks[("bronze.recording_files", "expectations", "passed")] == 1
    assert outcome.checks[("silver.recording_segments", "expectations", "passed")] == 1
    lake = Lake(str(xl_home / "lake"))
    rejected = lake.read("quarantine", "record_index", KEYS)
    assert rejected.select("record_id", "reason").rows() == [(LISTER, "too_long")]
    health = {r["channel_id"]: r for r in lake.read("gold", "camera_daily_health", KEYS).iter_rows(named=True)}
    # LIAR: on storage, its one file corrupt and covering nothing; SOUND: 900 s; LISTER: its index's hour
    assert (health[LIAR]["recording_source"], health[LIAR]["recorded_s"], health[LIAR]["corrupt_segments"]) == ("file", 0, 1)
    assert (health[SOUND]["recorded_s"], health[SOUND]["corrupt_segments"]) == (900, 0)
    assert (health[LISTER]["recording_source"], health[LISTER]["recorded_s"]) == ("index", 3600)
    kpis = lake.read("gold", "banner_daily_kpis", KEYS).row(0, named=True)
    assert (kpis["recorded_s"], kpis["scheduled_s"]) == (0 + 900 + 3600, 3 * 86_400)
    assert kpis["online_rate"] == 1.0
