"""Recording completeness on segment files made by PyAV and RecordInfo pages written by hand.

Test segments hold one frame every 20 s and a keyframe every third frame, so a 600 s segment has 30
packets, 10 keyframes, and its packets span 600 s.
"""

import datetime as dt
from pathlib import Path

import av
import numpy as np
import polars as pl
import pytest

from tests.conftest import (
    BANNER,
    DAY,
    camera_id,
    catalog_item,
    catalog_page,
    encode_segment,
    harvest_scope,
    materialise,
    private_home,
    record_info,
    write_catalog,
    write_record_info,
)
from xl_pipelines import recordings
from xl_pipelines.gates import load_thresholds
from xl_pipelines.lake import Lake
from xl_pipelines.settings import LOCAL_TZ

LIMITS = load_thresholds().limits


@pytest.mark.parametrize("name, seconds, faststart", [("a.mp4", 600, False), ("b.mp4", 600, True), ("c.ts", 600, False)])
def test_a_sound_segment_is_read_to_its_last_packet(tmp_path, name, seconds, faststart):
    found = recordings.probe(encode_segment(tmp_path / name, seconds, faststart=faststart))
    assert (found["problem"], found["packets"], found["keyframes"], found["corrupt_packets"]) == (None, 30, 10, 0)
    assert found["span_s"] == pytest.approx(600)


def cut(path: Path, share: float, extra: int = 0) -> Path:
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * share) + extra])
    return path


def test_each_broken_file_gets_its_problem(tmp_path):
    audio_only = tmp_path / "audio.mp4"  # an MP4 with sound and no picture
    with av.open(str(audio_only), "w") as out:
        stream = out.add_stream("aac", rate=8000)
        frame = av.AudioFrame.from_ndarray(np.zeros((1, 1024), dtype=np.float32), format="fltp", layout="mono")
        frame.sample_rate, frame.pts = 8000, 0
        out.mux(stream.encode(frame))
        out.mux(stream.encode())
    (tmp_path / "empty.mp4").write_bytes(b"")
    (tmp_path / "noise.mp4").write_bytes(np.random.default_rng(0).bytes(5000))
    cases = {
        "moov": recordings.probe(cut(encode_segment(tmp_path / "moov.mp4", 3600), 0.5)),
        "faststart": recordings.probe(cut(encode_segment(tmp_path / "fast.mp4", 3600, faststart=True), 0.6)),
        "ts": recordings.probe(cut(encode_segment(tmp_path / "cut.ts", 3600), 0.5, extra=100)),
        "empty": recordings.probe(tmp_path / "empty.mp4"),
        "audio": recordings.probe(audio_only),
        "noise": recordings.probe(tmp_path / "noise.mp4"),
    }
    assert {k: v["problem"] for k, v in cases.items()} == {
        "moov": "truncated", "faststart": "truncated", "ts": "truncated",
        "empty": "corrupt", "audio": "corrupt", "noise": "corrupt"}
    assert cases["moov"]["span_s"] is None and "moov" in cases["moov"]["detail"]
    assert cases["faststart"]["nominal_s"] == pytest.approx(3600)  # its index promises the hour …
    assert 0 < cases["faststart"]["span_s"] < 3600  # … its packets stop early: it covers what it holds
    assert 0 < cases["ts"]["span_s"] < 3600 and "188" in cases["ts"]["detail"]
    assert (cases["empty"]["detail"], cases["audio"]["detail"]) == ("empty file", "no video stream")
    # FFmpeg's own words (AVERROR_INVALIDDATA is -FFERRTAG('I','N','D','A') = -0x41444E49), naming no descriptor
    assert cases["noise"]["detail"].startswith("[Errno 1094995529] Invalid data found when processing input")
    assert "/proc" not in cases["noise"]["detail"] and "'" not in cases["noise"]["detail"]


def test_files_that_cannot_be_placed_are_quarantined_and_a_dot_file_is_a_crash_only_once_the_day_is_over(tmp_path):
    good, stranger = camera_id(1), camera_id(999)
    day_folder = tmp_path / BANNER / good / DAY.isoformat()
    encode_segment(day_folder / "00-00-00.mp4", 600)
    encode_segment(day_folder / ".01-00-00.mp4", 600)
    encode_segment(day_folder / "1am.mp4", 600)
    encode_segment(tmp_path / BANNER / stranger / DAY.isoformat() / "00-00-00.mp4", 600)
    files = recordings.segment_files(tmp_path, BANNER, DAY).files
    harvest = recordings.harvest_recording_files(files, harvest_scope(channels=[good]))  # the night after
    assert harvest.read == 4 == harvest.accepted.height + harvest.quarantined.height
    assert dict(zip(harvest.quarantined["record_id"], harvest.quarantined["reason"])) == {
        good: "bad_file_name", stranger: "unknown_channel"}
    assert harvest.accepted["problem"].to_list() == [None, "unfinished"]
    noon = dt.datetime.combine(DAY, dt.time(12), LOCAL_TZ)
    still_writing = recordings.harvest_recording_files(files, harvest_scope(channels=[good], now=noon))
    assert still_writing.read == 3 and still_writing.accepted["problem"].to_list() == [None]


A, B, C, D = (camera_id(n) for n in range(1, 5))


def at(clock: str) -> str:
    return f"{DAY.isoformat()}T{clock}"


@pytest.fixture(scope="module")
def recorded_day(tmp_path_factory):
    """Camera A on storage (files), B and C only in their devices' index, D neither.

    A's files: 00:00 (3600 s), 01:00:03 (600 s), 01:05:00 (600 s, overlapping), 03:00 cut before its index,
    04:00 empty, 12:00 (3600 s). Covered: [0, 3600) ∪ [3603, 4500) ∪ [43200, 46800) = 3600 + 897 + 3600 =
    8097 s. Uncovered: 3 s at 01:00 (tolerated), 01:15–12:00 (38700 s) and 13:00–24:00 (39600 s): two
    gaps, the longest 39600 s. A's index lists 00:00–01:00, 12:00–12:50 (its file is 10 minutes longer) and
    20:00–21:00 (no file): one missing_file, two files it lacks (01:00:03, 01:05:00), one length mismatch.
    B's index: 00:00–06:00, 06:00:04–12:00, 18:00–24:00 → 21600 + 21596 + 21600 = 64796 s, one gap (6 h).
    C answers with an empty list: 0 s recorded, the whole day one gap.
    """
    tmp_path = tmp_path_factory.mktemp("recordings")
    landing, storage = tmp_path / "landing", tmp_path / "storage"
    write_catalog(landing, [catalog_page([
        catalog_item(A, info="<PointType>1</PointType><RecordSaveDays>45</RecordSaveDays>"),
        *(catalog_item(c) for c in (B, C, D))])])
    folder = storage / BANNER / A / DAY.isoformat()
    for name, seconds in (("00-00-00.mp4", 3600), ("01-00-03.mp4", 600), ("01-05-00.mp4", 600), ("12-00-00.mp4", 3600)):
        encode_segment(folder / name, seconds)
    cut(encode_segment(folder / "03-00-00.mp4", 3600), 0.5)
    (folder / "04-00-00.mp4").write_bytes(b"")
    encode_segment(storage / BANNER / A / (DAY - dt.timedelta(days=40)).isoformat() / "00-00-00.mp4", 600)
    write_record_info(landing, [
        record_info(A, [(at("00:00:00"), at("01:00:00")), (at("12:00:00"), at("12:50:00")), (at("20:00:00"), at("21:00:00"))]),
        record_info(B, [(at("00:00:00"), at("06:00:00")), (at("06:00:04"), at("12:00:00")),
                        (at("18:00:00"), f"{(DAY + dt.timedelta(days=1)).isoformat()}T00:00:00")]),
        record_info(C, []),
    ])
    with private_home(tmp_path / "xl"):
        return materialise(landing, Lake(str(tmp_path / "lake")), storage=storage)


def test_completeness_gaps_and_disagreements_per_camera(recorded_day):
    coverage = {r["channel_id"]: r for r in recorded_day["silver.recording_coverage"].iter_rows(named=True)}
    assert {c: (r["source"], r["recorded_s"], r["gap_count"]) for c, r in coverage.items()} == {
        A: ("file", 8097, 2), B: ("index", 64796, 1), C: ("index", 0, 1), D: (None, None, None)}
    assert coverage[A]["longest_gap_s"] == 39600 and coverage[B]["longest_gap_s"] == 21600
    assert (coverage[A]["corrupt_segments"], coverage[A]["missing_files"], coverage[A]["missing_index"],
            coverage[A]["duration_mismatches"]) == (2, 1, 2, 1)
    segments = recorded_day["silver.recording_segments"].filter(pl.col("channel_id") == A)
    problems = segments.filter(pl.col("problem").is_not_null()).select("source", "problem", "start_at").rows()
    assert sorted((s, p, t.strftime("%H:%M:%S")) for s, p, t in problems) == [
        ("file", "corrupt", "04:00:00"), ("file", "missing_index", "01:00:03"), ("file", "missing_index", "01:05:00"),
        ("file", "truncated", "03:00:00"), ("index", "missing_file", "20:00:00")]
    assert segments.filter(pl.col("mismatch_s").abs() > 5)["mismatch_s"].to_list() == [600.0]


def test_retention_and_completeness_reach_gold(recorded_day):
    coverage = recorded_day["silver.recording_coverage"].filter(pl.col("channel_id") == A).row(0, named=True)
    # Class-one point declaring 45 days: it must keep max(30, 90, 45) = 90; its oldest file is 41 days old.
    assert (coverage["required_days"], coverage["retained_days"]) == (90, 41)
    health = {r["channel_id"]: r for r in recorded_day["gold.camera_daily_health"].iter_rows(named=True)}
    assert health[A]["recording_completeness"] == pytest.approx(8097 / 86400)
    assert health[A]["retention_ok"] is False and health[B]["retention_ok"] is None
    kpis = recorded_day["gold.banner_daily_kpis"].row(0, named=True)
    assert kpis["recording_completeness"] == pytest.approx((8097 + 64796 + 0) / (3 * 86400))
    assert kpis["retention_compliance"] == 0.0
