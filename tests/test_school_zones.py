"""School zones: the cameras within a zone's radius, and their availability at school hours, counted by hand."""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest

from xl_pipelines.banners import load_banners
from xl_pipelines.lake import Lake
from xl_pipelines.school_zones import load_school_zones
from xl_pipelines.settings import LOCAL_TZ, ConfigError
from xl_pipelines.sql_models import MODELS_DIR, parse_model, run_model

DAY = dt.date(2026, 11, 20)  # a Friday
KEYS = {"date": DAY.isoformat(), "banner": "150502"}
ZONE1, ZONE2 = (122.255, 43.628), (122.240, 43.612)  # S150502-01 and -02 of school_zones.yaml, 500 m each
METRES_PER_DEGREE_LAT = 111_195  # 2πR/360 with R = 6,371,008.8 m


def at(hour: int, minute: int = 0) -> dt.datetime:
    return dt.datetime.combine(DAY, dt.time(hour, minute), LOCAL_TZ)


def end_of_day() -> dt.datetime:
    return dt.datetime.combine(DAY + dt.timedelta(days=1), dt.time(), LOCAL_TZ)


@pytest.fixture
def lake(tmp_path) -> Lake:
    """C1 300 m north of zone 1, C2 489 m north (inside), C5 511 m north (outside), C3 with no coordinates,
    C4 at zone 2's point."""
    lake = Lake(str(tmp_path / "lake"))
    cameras = pl.DataFrame({
        "channel_id": ["C1", "C2", "C3", "C4", "C5"],
        "code": ["150502"] * 5,
        "longitude": [ZONE1[0], ZONE1[0], None, ZONE2[0], ZONE1[0]],
        "latitude": [ZONE1[1] + 300 / METRES_PER_DEGREE_LAT, ZONE1[1] + 0.0044, None, ZONE2[1], ZONE1[1] + 0.0046],
    })
    # C1: online, offline 08:00–16:30, online. C2: online all day. C3 online, C5 offline all day.
    # C4: online but for a harvester outage 07:30–08:00 (no interval: not observed).
    intervals = [
        ("C1", "online", at(0), at(8)), ("C1", "offline", at(8), at(16, 30)), ("C1", "online", at(16, 30), end_of_day()),
        ("C2", "online", at(0), end_of_day()), ("C3", "online", at(0), end_of_day()), ("C5", "offline", at(0), end_of_day()),
        ("C4", "online", at(0), at(7, 30)), ("C4", "online", at(8), end_of_day()),
    ]
    lake.write("silver", "cameras", KEYS, cameras)
    lake.write("silver", "status_intervals", KEYS, pl.DataFrame(
        intervals, schema={"channel_id": pl.String, "state": pl.String, "start_at": pl.Datetime("us", str(LOCAL_TZ)),
                           "end_at": pl.Datetime("us", str(LOCAL_TZ))}, orient="row"))
    return lake


def test_availability_at_school_hours_per_zone(lake):
    frame = run_model(parse_model(MODELS_DIR / "school_zone_availability.sql"), lake, KEYS, load_banners())
    rows = {r["zone_id"]: r for r in frame.iter_rows(named=True)}
    assert set(rows) == {"S150502-01", "S150502-02"}  # only the banner's own zones
    one, two = rows["S150502-01"], rows["S150502-02"]
    # zone 1: C1 and C2. Windows 07:00–08:30 and 16:00–18:00 = 12,600 s a camera.
    # C1 online 07:00–08:00 and 16:30–18:00 = 3,600 + 5,400 s; C2 online throughout.
    assert (one["cameras"], one["expected_s"], one["online_s"]) == (2, 25_200, 9_000 + 12_600)
    assert one["availability"] == pytest.approx(21_600 / 25_200)
    assert one["cameras_always_online"] == 1
    # zone 2: C4, not observed 07:30–08:00: 1,800 + 1,800 + 7,200 s observed, all online
    assert (two["cameras"], two["expected_s"], two["online_s"], two["availability"]) == (1, 10_800, 10_800, 1.0)
    assert one["school_day"] is True and one["date"] == DAY and one["name_en"] == "Tongliao No. 1 Middle School"


def test_a_zone_without_cameras_has_no_availability_not_zero(lake, tmp_path, monkeypatch):
    config = tmp_path / "zones.yaml"
    config.write_text('hours: [["07:00", "08:30"]]\nzones:\n  - {zone_id: Z, code: "150502", name_zh: 无, '
                      'name_en: nowhere, longitude: 122.9, latitude: 43.9, radius_m: 100}\n', encoding="utf-8")
    monkeypatch.setenv("XL_SCHOOL_ZONES", str(config))
    load_school_zones.cache_clear()
    try:
        frame = run_model(parse_model(MODELS_DIR / "school_zone_availability.sql"), lake, KEYS, load_banners())
    finally:
        load_school_zones.cache_clear()
    assert frame.select("zone_id", "cameras", "expected_s", "availability").rows() == [("Z", 0, 0, None)]


@pytest.mark.parametrize("zones", [
    'hours: [["08:30", "07:00"]]\nzones: []\n',
    'hours: [["07:00", "08:30"]]\nzones:\n'
    '  - {zone_id: Z, code: "999999", name_zh: a, name_en: a, longitude: 1, latitude: 1, radius_m: 1}\n',
    'hours: [["7 o\'clock", "08:30"]]\nzones: []\n',
    'zones: []\n',
])
def test_a_wrong_zone_file_is_one_clear_error(tmp_path, zones):
    path = tmp_path / "zones.yaml"
    path.write_text(zones, encoding="utf-8")
    with pytest.raises(ConfigError, match="school zones"):
        load_school_zones(str(path))
