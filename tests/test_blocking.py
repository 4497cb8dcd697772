"""Blocking is for floods: the rejected share blocks only from a minimum count, and a source that did not land
stops nobody (its figures are unmeasured, and one line says which folder was empty)."""

import datetime as dt
import json
import shutil

import pytest

from tests.conftest import (
    DAY,
    POLL_TIMES,
    camera_id,
    catalog_item,
    catalog_page,
    device_status,
    land_banner,
    private_home,
    run_job,
    write_catalog,
    write_device_status,
    write_polls,
)
from xl_pipelines import gates
from xl_pipelines.banners import load_banners
from xl_pipelines.cli import main
from xl_pipelines.lake import Lake
from xl_pipelines.partitions import banner_day_key
from xl_pipelines.runner import Outcome
from xl_pipelines.settings import ConfigError

BANNER = "150502"
KEYS = {"date": DAY.isoformat(), "banner": BANNER}


# --- the pure verdicts, by hand ---------------------------------------------------------------------------


@pytest.mark.parametrize(("read", "counted", "passed", "severity"), [
    (5, 1, False, "WARN"),      # one bad file among five: 20 % > block 10 %, but 1 < min_count 5: a warning
    (6, 2, False, "WARN"),      # two bad catalog items among six: 33 %, 2 < 5
    (5, 5, False, "ERROR"),     # all five bad: 100 % and 5 >= 5, a flood
    (40, 5, False, "ERROR"),    # 12.5 % > 10 % with 5 counted
    (50, 5, False, "WARN"),     # exactly 10 %: not above block; above warn 3 %
    (1000, 4, True, "WARN"),    # 0.4 %: under warn
    (100, 0, True, "WARN"), (100, 3, True, "WARN"),     # 3 of 100 is exactly the warn level: not above it
    (100, 4, False, "WARN"), (100, 10, False, "WARN"),  # above warn; at block (and 4 is under the minimum count)
    (100, 11, False, "ERROR"),                          # above block
])
def test_the_share_blocks_only_from_the_minimum_count(read, counted, passed, severity):
    verdict = gates.rejected_share(read, counted, warn=0.03, block=0.10, min_count=5)
    assert (verdict.passed, verdict.severity) == (passed, severity)
    assert f"{counted} of {read} records rejected" in verdict.description and "from 5 records" in verdict.description


def test_every_source_has_a_minimum_count_and_a_broken_one_is_one_clear_error(tmp_path):
    levels = gates.load_thresholds().quarantine
    assert {source: level["min_count"] for source, level in levels.items() if level["min_count"] != 5} == {"cases": 1}
    path = tmp_path / "thresholds.yaml"
    for bad in ("", "min_count: 0, ", "min_count: 2.5, ", "min_count: five, "):
        path.write_text("indicators: {}\nquarantine:\n  catalog: {warn: 0.03, block: 0.1, " + bad +
                        "not_counted: []}\nfreshness: {}\nlimits: {}\n")
        with pytest.raises(ConfigError, match="quarantine.catalog.min_count must be a whole number >= 1"):
            gates.load_thresholds(path)


def test_an_empty_folder_says_which_and_what_goes_unmeasured():
    keys = {"date": "2026-11-20", "banner": "150502"}
    empty = gates.landed("status_polls", keys, 0)
    assert (empty.passed, empty.severity) == (False, "WARN")
    assert empty.description == "status/2026-11-20/150502 empty: online rate unmeasured"
    assert gates.landed("captures", keys, 0).description == (
        "viid/2026-11-20/150502 and onvif/2026-11-20/150502 empty: capture figures unmeasured")
    assert gates.landed("recordings", keys, 0).description.startswith("recordings 150502/*/2026-11-20 empty")
    assert gates.landed("cases", {"month": "2026-11"}, 0).description.startswith("cases/2026-11.csv empty")
    assert gates.landed("status_polls", keys, 864).passed
    assert set(gates.LANDING) == set(gates.load_thresholds().quarantine)  # every harvested source says it


# --- in Dagster, on hand-written landing files --------------------------------------------------------------

SMALL, POLLER_DOWN = BANNER, "150521"  # two banners of one day
SMALL_CAMERAS = [camera_id(n) for n in range(1, 7)]
DOWN_CAMERAS = [camera_id(n, prefix="15052100") for n in (1, 2, 3)]


@pytest.fixture(scope="module")
def two_banners(tmp_path_factory):
    """Horqin: six cameras in the catalog, two with coordinates swapped (outside the city); five DeviceStatus
    answers of the first camera, one with a DeviceTime that is no time. Horqin Left Middle: a sound banner-day
    but for its poller and DeviceStatus, which were down all day (their folders are empty). Each banner-day's
    job, then the views and quality report's, in this process."""
    home = tmp_path_factory.mktemp("blocking") / "xl"
    landing = home / "landing"
    west, south, east, north = load_banners().by_code(SMALL).bbox
    here = {"lon": f"{(west + east) / 2:.6f}", "lat": f"{(south + north) / 2:.6f}"}
    swapped = {"lon": here["lat"], "lat": here["lon"]}
    good = SMALL_CAMERAS[:4]
    write_catalog(landing, [catalog_page([catalog_item(c, **(here if c in good else swapped)) for c in SMALL_CAMERAS])])
    write_polls(landing, {t: [(c, "ON") for c in good] for t in POLL_TIMES})
    hours = [dt.datetime.combine(DAY, dt.time(h, 0, 30)) for h in range(5)]
    write_device_status(landing, [(t, good[0], device_status(good[0], "garbage" if t.hour == 2 else f"{t:%Y-%m-%dT%H:%M:%S}"))
                                  for t in hours])
    land_banner(landing, POLLER_DOWN, DOWN_CAMERAS)
    shutil.rmtree(landing / "status" / DAY.isoformat() / POLLER_DOWN)
    shutil.rmtree(landing / "devicestatus" / DAY.isoformat() / POLLER_DOWN)
    outcome, said = Outcome(), []
    with private_home(home):
        for code in (SMALL, POLLER_DOWN):
            status, part = run_job("banner_day", banner_day_key(DAY, code), f"{DAY} {code}")
            outcome.add(part)
            said.append(f"{DAY} {code} {status}")  # the progress line's label and status
        assert run_job("warehouse", label="views and quality report")[0] == "ok"
    return home, outcome, said


def test_one_bad_file_among_five_and_two_bad_items_among_six_stop_no_small_banner(two_banners):
    """Each source rejects far more than 10 % (2 of 6, 1 of 5), but below 5 records: warnings, and the four
    good cameras are registered and measured."""
    home, outcome, _ = two_banners
    assert outcome.ok, outcome
    assert outcome.checks[("bronze.catalog_items", "rejected_share", "WARN")] == 1
    assert outcome.checks[("bronze.device_status", "rejected_share", "WARN")] == 1
    lake = Lake(str(home / "lake"))
    assert sorted(lake.read("silver", "cameras", KEYS)["channel_id"]) == SMALL_CAMERAS[:4]
    kpis = lake.read("gold", "banner_daily_kpis", KEYS).row(0, named=True)
    assert (kpis["cameras"], kpis["online_rate"], kpis["clock_devices"], kpis["clock_accuracy"]) == (4, 1.0, 1, 1.0)
    stored = json.loads((home / "reports/quality/results/bronze.device_status/rejected_share"
                         / f"{DAY}_{BANNER}.json").read_text())
    assert stored["reasons"] == {"bad_device_time": 1} and stored["blocking"]


def test_a_poller_down_all_day_leaves_the_online_rate_unmeasured_and_stops_nothing_else(two_banners):
    """No status poll landed (and no DeviceStatus): the registry lands, the online, snapshot and intact rates
    and clock accuracy are null (not 0), and the progress line and the quality report say which folders were
    empty and what that costs."""
    home, outcome, said = two_banners
    assert outcome.ok, said
    line = next(s for s in said if f"{DAY} {POLLER_DOWN}" in s)
    assert line.count("\n") == 0 and "ok, " in line
    assert f"status/{DAY}/{POLLER_DOWN} empty: online rate unmeasured" in line
    assert f"devicestatus/{DAY}/{POLLER_DOWN} empty: clock accuracy, Record and Encode unmeasured" in line
    assert f"catalog/{DAY}/{POLLER_DOWN} empty" not in line
    lake = Lake(str(home / "lake"))
    keys = {"date": DAY.isoformat(), "banner": POLLER_DOWN}
    assert sorted(lake.read("silver", "cameras", keys)["channel_id"]) == DOWN_CAMERAS
    kpis = lake.read("gold", "banner_daily_kpis", keys).row(0, named=True)
    assert kpis["cameras"] == 3 and kpis["annotation_accuracy"] == 1.0
    for rate in ("online_rate", "snapshot_online_rate", "intact_rate", "clock_accuracy", "capture_activity"):
        assert kpis[rate] is None, rate
    health = lake.read("gold", "camera_daily_health", keys)
    assert health["online_rate"].null_count() == 3 and health["online_at_last_poll"].null_count() == 3
    page = (home / "reports" / "quality" / "index.html").read_text(encoding="utf-8")
    assert "Sources that did not land" in page and f"status/{DAY}/{POLLER_DOWN} empty: online rate unmeasured" in page


def test_a_flood_blocks_in_one_line_without_a_traceback(xl_home, capfd):
    """100 malformed poll lines among 964 (10.4 %, 100 >= 5): a flood, blocked; the terminal says so in one line
    per partition, and the step's error (a DagsterAssetCheckFailedError with its traceback) stays in the UI."""
    landing = xl_home / "landing"
    cameras = [camera_id(n) for n in (1, 2, 3)]
    land_banner(landing, BANNER, cameras)
    with (landing / "status" / DAY.isoformat() / BANNER / "0000.csv").open("a") as f:
        f.writelines(f"{cameras[0]};{POLL_TIMES[0].isoformat()};ON\n" for _ in range(100))
    code = main(["materialize", "--start", DAY.isoformat(), "--end", DAY.isoformat(), "--banner", BANNER])
    out, err = capfd.readouterr()
    assert code == 1
    assert "Traceback" not in out + err and "DagsterAssetCheckFailedError" not in out + err
    lines = [line for line in err.splitlines() if line.startswith("[") and f"{DAY} {BANNER}" in line]
    assert len(lines) == 1 and lines[0].endswith("BLOCKED by bronze.status_polls rejected_share; "
                                                 f"recordinfo/{DAY}/{BANNER} empty: recording completeness from "
                                                 "storage alone; recordings 150502/*/2026-11-20 empty: recording "
                                                 "completeness from the devices' index alone; viid/2026-11-20/150502 "
                                                 "and onvif/2026-11-20/150502 empty: capture figures unmeasured; "
                                                 "viid_keepalive/2026-11-20/150502 empty: capture devices' online "
                                                 "rate unmeasured")
