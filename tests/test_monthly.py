"""The monthly statistics behind the leadership report, on hand-built daily gold and hand-computed answers."""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest

from xl_pipelines.banners import load_banners
from xl_pipelines.image_faults import FAULT_NAMES
from xl_pipelines.lake import Lake
from xl_pipelines.sql_models import MODELS_DIR, parse_model, run_model

MONTH = {"month": "2026-11"}
A, B = "150502", "150581"
FIGURES = {"code": pl.String, "indicator": pl.String, "numerator": pl.Int64, "denominator": pl.Int64}
FULL = {"retention_compliance": (5, 5), "clock_accuracy": (4, 4), "image_quality_rate": (5, 5),
        "capture_activity": (2, 2), "captures": (100, None), "upload_timeliness": (100, 100),
        "capture_clock_accuracy": (100, 100), "capture_uniqueness": (100, 100)}


def day_figures(lake: Lake, day: str, code: str, **figures: tuple[int | None, int | None]) -> None:
    """One banner-day of gold.banner_daily_indicators: indicator=(numerator, denominator)."""
    rows = [{"code": code, "indicator": name, "numerator": n, "denominator": d} for name, (n, d) in figures.items()]
    lake.write("gold", "banner_daily_indicators", {"date": day, "banner": code}, pl.DataFrame(rows, schema=FIGURES))


@pytest.fixture
def lake(tmp_path) -> Lake:
    """Banner A on 29 and 30 November (its polls of the 30th did not land) and on 1 December, another month;
    banner B on the 30th only, with nothing to measure retention, image or captures on; the other seven
    banners have no day."""
    lake = Lake(str(tmp_path / "lake"))
    day_figures(lake, "2026-11-29", A, cameras=(10, None), online_rate=(900, 1000), snapshot_online_rate=(9, 10),
                intact_rate=(9, 10), recording_completeness=(950, 1000), annotation_accuracy=(10, 10), **FULL)
    day_figures(lake, "2026-11-30", A, cameras=(20, None), online_rate=(1980, 2000), snapshot_online_rate=(None, None),
                intact_rate=(20, 20), recording_completeness=(2000, 2000), annotation_accuracy=(20, 20), **FULL)
    day_figures(lake, "2026-12-01", A, cameras=(99, None), online_rate=(0, 1000), snapshot_online_rate=(0, 99))
    day_figures(lake, "2026-11-30", B, cameras=(5, None), online_rate=(500, 500), snapshot_online_rate=(5, 5),
                intact_rate=(5, 5), recording_completeness=(500, 500), annotation_accuracy=(5, 5),
                clock_accuracy=(1, 1), retention_compliance=(0, 0), image_quality_rate=(0, 0),
                capture_activity=(None, None), captures=(0, None), upload_timeliness=(0, 0))
    return lake


def run(lake: Lake, name: str, keys: dict[str, str]) -> dict:
    frame = run_model(parse_model(MODELS_DIR / f"{name}.sql"), lake, keys, load_banners())
    return {r.get("code") or str(r["date"]): r for r in frame.iter_rows(named=True)}


def test_banner_month_sums_the_days_numerators_and_ranks_by_share_of_targets_met(lake):
    rows = run(lake, "banner_monthly_kpis", MONTH)
    assert len(rows) == 9 and {r["days_in_month"] for r in rows.values()} == {30}
    a, b = rows[A], rows[B]
    assert (a["days"], a["first_day"], a["last_day"]) == (2, dt.date(2026, 11, 29), dt.date(2026, 11, 30))
    assert a["online_rate"] == pytest.approx(2880 / 3000)  # not the mean of 0.90 and 0.99 (0.945)
    # the 30th's unmeasured snapshot is out of numerator and denominator: 9 / 10, not 9 / 30
    assert a["cameras"] == 20 and a["snapshot_online_rate"] == pytest.approx(0.9)
    assert a["intact_rate"] == pytest.approx(29 / 30) and a["recording_completeness"] == pytest.approx(2950 / 3000)
    assert (a["retention_compliance"], a["clock_accuracy"], a["annotation_accuracy"], a["capture_activity"],
            a["upload_timeliness"], a["capture_uniqueness"], a["captures"]) == (1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 200)
    # A misses the online rate (0.96) and the snapshot rate (0.90), both under 0.99: 10 of 12. B measures 6 (no
    # storage, diagnosis or capture camera) and meets all six: B ranks first, though it meets fewer targets.
    assert (a["indicators_measured"], a["targets_met"], b["indicators_measured"], b["targets_met"]) == (12, 10, 6, 6)
    assert (b["retention_compliance"], b["image_quality_rate"], b["capture_activity"]) == (None, None, None)
    assert (b["rank"], a["rank"]) == (1, 2)
    others = [r for code, r in rows.items() if code not in (A, B)]
    assert {(r["days"], r["online_rate"], r["indicators_measured"], r["rank"]) for r in others} == {(0, None, 0, 3)}


def test_the_month_and_the_city_day_are_sums_of_the_banner_days(lake):
    """Two days, two banners: the daily table's counts, summed by hand, give the month's and the city's rates."""
    days = [run(lake, "banner_daily_kpis", {"date": d, "banner": c})[c]
            for d, c in (("2026-11-29", A), ("2026-11-30", A), ("2026-11-30", B))]
    assert [(d["online_s"], d["expected_s"], d["online_rate"]) for d in days] == [
        (900, 1000, 0.9), (1980, 2000, 0.99), (500, 500, 1.0)]
    assert [(d["online_at_last_poll"], d["cameras"], d["snapshot_online_rate"]) for d in days] == [
        (9, 10, 0.9), (None, 20, None), (5, 5, 1.0)]
    month = run(lake, "banner_monthly_kpis", MONTH)[A]
    assert month["online_rate"] == pytest.approx((days[0]["online_s"] + days[1]["online_s"])
                                                 / (days[0]["expected_s"] + days[1]["expected_s"]))
    city = run(lake, "city_daily_kpis", {"date": "2026-11-30"})["2026-11-30"]
    assert (city["banners_reporting"], city["cameras"], city["captures"]) == (2, 25, 100)
    assert city["online_rate"] == pytest.approx(2480 / 2500)  # (1980 + 500) / (2000 + 500)
    assert city["snapshot_online_rate"] == 1.0  # A unmeasured that day: 5 / 5, not 5 / 25
    assert city["upload_timeliness"] == 1.0 and city["volume_change"] is None


def test_worst_cameras_of_the_month(lake):
    day = {"online_s": 0, "expected_s": 0, "flaps": 0, "recorded_s": None, "scheduled_s": None, "gap_count": 0,
           "image_faults": None, "intact": False}
    rows = [  # (date, code, channel_id, name, changes)
        ("2026-11-29", A, "C1", "old", {"online_s": 50, "expected_s": 100, "recorded_s": 100, "scheduled_s": 100,
                                       "image_faults": [], "flaps": 2}),
        ("2026-11-30", A, "C1", "new", {"online_s": 100, "expected_s": 100, "recorded_s": 50, "scheduled_s": 100,
                                       "image_faults": ["blur"], "gap_count": 3}),
        ("2026-11-30", A, "C2", "c2", {"online_s": 75, "expected_s": 100, "recorded_s": 100, "scheduled_s": 100,
                                       "image_faults": ["blur", "noise"]}),
        ("2026-12-01", A, "C2", "c2", {"online_s": 0, "expected_s": 100, "image_faults": ["stripes"]}),
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

    kinds = run_model(parse_model(MODELS_DIR / "image_fault_monthly.sql"), lake, MONTH, load_banners())
    assert kinds.height == 9 * 12 and kinds["kind"].to_list()[:12] == list(FAULT_NAMES)  # every banner, every kind
    found = {(r["code"], r["kind"]): (r["cameras"], r["camera_days"], r["diagnosed_days"])
             for r in kinds.iter_rows(named=True) if r["cameras"] or r["diagnosed_days"]}
    # A: C1 diagnosed on the 29th (sound) and the 30th (blur), C2 on the 30th (blur, noise); C2's stripes fell on
    # 1 December. B: C3 and C5 never diagnosed (null, not "no fault"), so B's kinds count on nothing.
    assert found == {(A, kind): (cameras, days, 3) for kind, cameras, days in (
        ("blur", 2, 2), ("noise", 1, 1), *((k, 0, 0) for k in FAULT_NAMES if k not in ("blur", "noise")))}
    assert by_id["C5"]["online_rate"] is None
