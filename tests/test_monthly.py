"""The monthly statistics behind the leadership report, on hand-built daily gold and hand-computed answers."""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest

from xl_pipelines.banners import load_banners
from xl_pipelines.lake import Lake
from xl_pipelines.sql_models import MODELS_DIR, parse_model, run_model

MONTH = {"month": "2026-11"}
A, B = "150502", "150581"
COUNTS = ("cameras", "online_s", "expected_s", "snapshot_online_rate", "intact_cameras", "recorded_s", "scheduled_s",
          "retention_compliant", "retention_measured", "clock_accurate_devices", "clock_devices", "annotated_cameras",
          "cameras_outside_city", "image_ok", "image_diagnosed", "active_capture_cameras", "capture_cameras",
          "timely_captures", "captures", "clock_ok_captures", "resent_captures")


def day_kpis(lake: Lake, day: str, code: str, *values) -> None:
    row = dict(zip(COUNTS, values, strict=True))
    lake.write("gold", "banner_daily_kpis", {"date": day, "banner": code}, pl.DataFrame([{"code": code, **row}]))


@pytest.fixture
def lake(tmp_path) -> Lake:
    """Banner A on 29 and 30 November (and 1 December, which is another month); banner B on the 30th only,
    with nothing to measure retention, image or captures on; the other seven banners have no day."""
    lake = Lake(str(tmp_path / "lake"))
    #                          cams onl   exp   snap int rec   sch   ret    clock  ann out img    capcams timely cap  clk re
    day_kpis(lake, "2026-11-29", A, 10, 900, 1000, 0.9, 9, 950, 1000, 5, 5, 4, 4, 10, 0, 5, 5, 2, 2, 100, 100, 100, 0)
    day_kpis(lake, "2026-11-30", A, 20, 1980, 2000, 1.0, 20, 2000, 2000, 5, 5, 4, 4, 20, 0, 5, 5, 2, 2, 100, 100, 100, 0)
    day_kpis(lake, "2026-12-01", A, 99, 0, 1000, 0.0, 0, 0, 1000, 0, 5, 0, 4, 0, 0, 0, 5, 0, 2, 0, 100, 0, 50)
    day_kpis(lake, "2026-11-30", B, 5, 500, 500, 1.0, 5, 500, 500, 0, 0, 1, 1, 5, 0, 0, 0, 0, 0, 0, 0, 0, 0)
    return lake


def test_banner_month_sums_the_days_counts_and_ranks_by_share_of_targets_met(lake):
    frame = run_model(parse_model(MODELS_DIR / "banner_monthly_kpis.sql"), lake, MONTH, load_banners())
    rows = {r["code"]: r for r in frame.iter_rows(named=True)}
    assert len(rows) == 9 and frame["days_in_month"].unique().to_list() == [30]
    a, b = rows[A], rows[B]
    assert (a["days"], a["first_day"], a["last_day"]) == (2, dt.date(2026, 11, 29), dt.date(2026, 11, 30))
    assert a["online_rate"] == pytest.approx(2880 / 3000)  # not the mean of 0.90 and 0.99 (0.945)
    assert a["cameras"] == 20 and a["snapshot_online_rate"] == 1.0  # the last day's
    assert a["intact_rate"] == pytest.approx(29 / 30) and a["recording_completeness"] == pytest.approx(2950 / 3000)
    assert (a["retention_compliance"], a["clock_accuracy"], a["annotation_accuracy"], a["capture_activity"],
            a["upload_timeliness"], a["capture_uniqueness"], a["captures"]) == (1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 200)
    # A misses only the online rate (0.96 < 0.99): 11 of 12. B measures 6 (no storage, diagnosis or capture
    # camera) and meets all six: B ranks first, though it meets fewer targets.
    assert (a["indicators_measured"], a["targets_met"], b["indicators_measured"], b["targets_met"]) == (12, 11, 6, 6)
    assert (b["retention_compliance"], b["image_quality_rate"], b["capture_activity"]) == (None, None, None)
    assert (b["rank"], a["rank"]) == (1, 2)
    others = [r for code, r in rows.items() if code not in (A, B)]
    assert {(r["days"], r["online_rate"], r["indicators_measured"], r["rank"]) for r in others} == {(0, None, 0, 3)}


def test_worst_cameras_of_the_month(lake):
    day = {"online_s": 0, "expected_s": 0, "flaps": 0, "recorded_s": None, "scheduled_s": None, "gap_count": 0,
           "image_faults": None, "intact": False}
    rows = [  # (date, code, channel_id, name, changes)
        ("2026-11-29", A, "C1", "old", {"online_s": 50, "expected_s": 100, "recorded_s": 100, "scheduled_s": 100,
                                       "image_faults": [], "flaps": 2}),
        ("2026-11-30", A, "C1", "new", {"online_s": 100, "expected_s": 100, "recorded_s": 50, "scheduled_s": 100,
                                       "image_faults": ["blur"], "gap_count": 3}),
        ("2026-11-30", A, "C2", "c2", {"online_s": 75, "expected_s": 100, "recorded_s": 100, "scheduled_s": 100}),
        ("2026-12-01", A, "C2", "c2", {"online_s": 0, "expected_s": 100}),
        ("2026-11-30", B, "C3", "c3", {"online_s": 100, "expected_s": 100, "intact": True}),
        ("2026-11-30", B, "C5", "c5", {}),  # never observed: online rate unknown, worst of all
    ]
    for (date, code), group in pl.DataFrame(
            [{"date": d, "code": c, "channel_id": ch, "name": n, **{**day, **changes}} for d, c, ch, n, changes in rows],
            schema_overrides={"image_faults": pl.List(pl.String)}).group_by("date", "code"):
        lake.write("gold", "camera_daily_health", {"date": date, "banner": code}, group.drop("date"))
    frame = run_model(parse_model(MODELS_DIR / "camera_monthly_health.sql"), lake, MONTH, load_banners())
    by_id = {r["channel_id"]: r for r in frame.iter_rows(named=True)}
    assert frame["channel_id"].to_list() == ["C5", "C1", "C2", "C3"]  # worst_rank order
    assert frame["worst_rank"].to_list() == [1, 2, 3, 4]
    c1 = by_id["C1"]
    assert (c1["name"], c1["days"], c1["online_rate"], c1["recording_completeness"], c1["flaps"], c1["gaps"],
            c1["image_fault_days"], c1["intact_days"]) == ("new", 2, 0.75, 0.75, 2, 3, 1, 0)
    assert (by_id["C2"]["days"], by_id["C2"]["online_rate"]) == (1, 0.75)  # 1 December is not November
    assert (by_id["C3"]["recording_completeness"], by_id["C3"]["intact_days"]) == (None, 1)
    assert by_id["C5"]["online_rate"] is None
