"""DOMAIN.md's online-rate rule on hand-computed cameras, from landing bytes through the gold SQL models."""

import datetime as dt

import polars as pl
import pytest

from tests.conftest import (
    BANNER,
    POLL_TIMES,
    camera_id,
    catalog_item,
    catalog_page,
    materialise,
    private_home,
    write_catalog,
    write_polls,
)
from xl_pipelines.lake import Lake

A, B, C, D, E, F, G, H = (camera_id(n) for n in range(1, 9))
OUTAGE = (dt.time(12, 0), dt.time(12, 55))  # no poll of the banner at all from 12:00 to 12:55 inclusive
# The 11:55 poll holds until 12:05 (10-minute cap); 12:05–13:00 is unknown: 55 minutes left out for everyone.
EXPECTED_S = 86400 - 55 * 60  # 83100


def state_at(camera: str, t: dt.time) -> str | None:
    """The hand-written story of each camera (None = absent from that poll)."""
    if camera == B and dt.time(3, 0) <= t < dt.time(9, 0):  # down 6 hours
        return "OFF"
    if camera == C and t in (dt.time(1, 0), dt.time(2, 0), dt.time(3, 0)):  # three one-poll blips
        return "OFFLINE"
    if camera == D and t >= dt.time(22, 0):  # video lost for the last 2 hours, incl. the last poll
        return "VLOST"
    if camera == E and dt.time(10, 0) <= t < dt.time(11, 0):  # missing from 12 polls others are in
        return None
    if camera == F:  # odd spellings of online
        return "ONLINE" if t.hour < 12 else "OK"
    if camera == G and t == dt.time(11, 55):  # defect at the poll before the outage: holds 10 minutes
        return "DEFECT"
    if camera == H:  # registered, never polled
        return None
    return "ON"


@pytest.fixture(scope="module")
def lake_with_day(tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp("online_rate")
    landing = tmp_path / "landing"
    cameras = [A, B, C, D, E, F, G, H]
    write_catalog(landing, [catalog_page([catalog_item(c) for c in cameras])])
    write_polls(landing, {
        t: [(c, s) for c in cameras if (s := state_at(c, t.time())) is not None]
        for t in POLL_TIMES if not (OUTAGE[0] <= t.time() <= OUTAGE[1])
    })
    with private_home(tmp_path / "xl"):
        tables = materialise(landing, Lake(str(tmp_path / "lake")))
    assert tables["quarantine.status_polls"].height == 0
    return tables["gold.camera_daily_health"], tables["gold.banner_daily_kpis"], tables["silver.status_intervals"]


def test_expected_seconds_leave_out_the_harvester_outage(lake_with_day):
    health, _, _ = lake_with_day
    assert health["expected_s"].to_list() == [EXPECTED_S] * 8


@pytest.mark.parametrize(
    ("camera", "online_s", "flaps"),
    [
        (A, EXPECTED_S, 0),
        (B, EXPECTED_S - 6 * 3600, 1),
        (C, EXPECTED_S - 3 * 300, 3),
        (D, EXPECTED_S - 2 * 3600, 1),
        (E, EXPECTED_S - 3600, 1),
        (F, EXPECTED_S, 0),
        (G, EXPECTED_S - 600, 1),
        (H, 0, 0),
    ],
    ids=["always-on", "down-6h", "flapping", "vlost", "missing-from-polls", "odd-spellings", "defect-before-outage",
         "never-polled"],
)
def test_camera_online_rate_and_flaps(lake_with_day, camera, online_s, flaps):
    health, _, _ = lake_with_day
    row = health.filter(pl.col("channel_id") == camera).row(0, named=True)
    assert row["online_s"] == online_s
    assert row["online_rate"] == pytest.approx(online_s / EXPECTED_S)
    assert row["flaps"] == flaps


def test_banner_rate_sums_seconds_and_snapshot_counts_last_poll(lake_with_day):
    _, kpis, _ = lake_with_day
    online = 83100 + 61500 + 82200 + 75900 + 79500 + 83100 + 82500 + 0  # the eight cameras above, by hand
    row = kpis.row(0, named=True)
    assert (row["code"], row["cameras"]) == (BANNER, 8)
    assert row["online_rate"] == pytest.approx(online / (8 * 83100))
    assert row["snapshot_online_rate"] == pytest.approx(6 / 8)  # D is VLOST and H absent at 23:55


def test_intervals_merge_runs_and_mark_absence(lake_with_day):
    _, _, intervals = lake_with_day
    e = intervals.filter(pl.col("channel_id") == E).sort("start_at")
    assert e["state"].to_list() == ["online", "offline", "online", "online"]  # split by the outage
    assert e["polled"].to_list() == [True, False, True, True]
    gap = e.row(1, named=True)
    assert (gap["start_at"].time(), gap["end_at"].time()) == (dt.time(10, 0), dt.time(11, 0))
    assert set(intervals["state"]) <= {"online", "offline", "video_lost", "defect"}
