"""The `xl` command answers wrong input with one clear line, not a traceback."""

import datetime as dt
import subprocess
import sys

import pytest

from xl_pipelines.cli import _Simulation, main
from xl_pipelines.settings import ConfigError


def run_xl(*args, env=None):
    return subprocess.run([sys.executable, "-m", "xl_pipelines.cli", *args], capture_output=True, text=True, env=env)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["materialize", "--start", "2026-11-20", "--end", "2026-11-19"], "is after"),
        (["materialize", "--start", "2020-01-01", "--end", "2020-01-02"], "days must lie within"),
        (["materialize", "--start", "2026-11-20", "--end", "2026-11-20", "--banner", "999999"], "not one of the nine"),
        (["sql", "select 1"], "run `xl materialize`"),
    ],
)
def test_wrong_use_is_one_line(xl_home, capsys, argv, message):
    (xl_home / "landing").mkdir(parents=True)
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and err.startswith("xl: error:") and "\n" not in err


def test_missing_landing_zone_is_explained(xl_home, capsys):
    assert main(["materialize", "--start", "2026-11-20", "--end", "2026-11-20"]) == 2
    assert "no landing zone" in capsys.readouterr().err


def test_bad_date_and_unknown_command_from_the_shell(tmp_path):
    bad = run_xl("materialize", "--start", "20-11-2026", "--end", "2026-11-20")
    assert bad.returncode == 2 and "is not a date like" in bad.stderr and "Traceback" not in bad.stderr
    unknown = run_xl("frobnicate")
    assert unknown.returncode == 2 and "invalid choice" in unknown.stderr and "Traceback" not in unknown.stderr


def test_bad_start_date_setting(xl_home, monkeypatch, capsys):
    monkeypatch.setenv("XL_START_DATE", "soon")
    (xl_home / "landing").mkdir(parents=True)
    assert main(["materialize", "--start", "2026-11-20", "--end", "2026-11-20"]) == 2
    assert "XL_START_DATE='soon'" in capsys.readouterr().err


@pytest.mark.parametrize("raw", ["soon", "2026-11-21T02:30:00"])  # not a time; a time of no known zone
def test_bad_now_setting(xl_home, monkeypatch, capsys, raw):
    monkeypatch.setenv("XL_NOW", raw)
    (xl_home / "landing").mkdir(parents=True)
    assert main(["materialize", "--start", "2026-11-20", "--end", "2026-11-20"]) == 2
    assert f"XL_NOW={raw!r} is not a time with its offset" in capsys.readouterr().err


def test_xl_now_fixes_the_harvest_clock_of_every_run_a_runs_own_now_first(monkeypatch):
    """XL_NOW is the clock of every run that is not given its own `now`; its local day is Shanghai's (16:00:01
    UTC is 00:00:01 there, the next day)."""
    from xl_pipelines.resources import ClockResource

    monkeypatch.setenv("XL_NOW", "2026-11-20T16:00:01+00:00")
    assert ClockResource().time() == dt.datetime(2026, 11, 20, 16, 0, 1, tzinfo=dt.UTC)
    assert ClockResource().today() == dt.date(2026, 11, 21)
    assert ClockResource(now="2026-11-20T23:59:59+08:00").today() == dt.date(2026, 11, 20)
    monkeypatch.delenv("XL_NOW")
    before = dt.datetime.now(dt.UTC)
    assert before <= ClockResource().time() <= dt.datetime.now(dt.UTC)


def test_demo_check_table_counts_each_outcome_per_check():
    from collections import Counter

    from xl_pipelines.cli import _check_table

    counts = Counter({("bronze.status_polls", "rejected_share", "passed"): 60,
                      ("bronze.status_polls", "rejected_share", "WARN"): 3,
                      ("bronze.catalog_items", "reconciled", "ERROR"): 1})
    assert _check_table(counts).rows() == [("bronze.catalog_items", "reconciled", 0, 0, 1),
                                           ("bronze.status_polls", "rejected_share", 60, 3, 0)]


def test_demo_prints_the_indicators_gold_holds_labelled_from_the_registry(tmp_path, capsys):
    """The demo computes nothing: the rates it prints are gold's (set here to values no sum would give)."""
    import datetime as dt

    import polars as pl

    from xl_pipelines.cli import _print_indicators
    from xl_pipelines.indicators import judged
    from xl_pipelines.lake import Lake
    from xl_pipelines.warehouse import connect_readonly, refresh_views

    lake, rates = Lake(str(tmp_path / "lake")), [i.name for i in judged()]
    lake.write("gold", "banner_monthly_kpis", {"month": "2026-11"}, pl.DataFrame([{
        "code": "150502", "banner_name_zh": "科尔沁区", "banner_name": "Horqin District", "days_in_month": 30, "days": 2,
        "cameras": 7, "targets_met": 1, "indicators_measured": 12, "rank": 1,
        **{name: 0.125 * (n % 8) for n, name in enumerate(rates)}}]))
    lake.write("gold", "city_daily_kpis", {"date": "2026-11-29"}, pl.DataFrame([{
        "banners_reporting": 9, "cameras": 63, "captures": 5, "volume_change": -0.25, **dict.fromkeys(rates, 0.5)}]))
    refresh_views(lake, tmp_path / "xl.duckdb")
    with connect_readonly(tmp_path / "xl.duckdb") as con:
        monthly = _print_indicators(con, "2026-11", dt.date(2026, 11, 29), dt.date(2026, 11, 30))
    out = capsys.readouterr().out
    assert monthly.columns[9:] == rates and monthly.row(0, named=True)["online_rate"] == 0.0
    assert monthly.row(0, named=True)["snapshot_online_rate"] == 0.125
    assert "online_rate 在线率 ≥ 99%" in out and "capture_uniqueness 数据唯一率 ≥ 99%" in out
    assert "0.875" in out and "-0.25" in out and "2026-11-29" in out


@pytest.mark.parametrize("command", [["simulate", "--days", "1"], ["receive"], ["privacy-scan"]])
def test_an_object_store_given_where_a_local_folder_is_written_is_one_line(xl_home, monkeypatch, capsys, command):
    """`xl simulate`, `xl receive` and `xl privacy-scan` write or scan local folders: an s3:// landing zone is
    refused before anything is written (one line, whether or not s3fs is installed)."""
    (xl_home / "landing").mkdir(parents=True)
    monkeypatch.setenv("XL_LANDING", "s3://xl-test/landing")
    assert main(command) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("xl: error:") and "s3://xl-test/landing" in err and "\n" not in err
    assert not list(xl_home.rglob("*.*"))  # nothing simulated, no log opened


def test_an_object_store_that_cannot_be_reached_is_one_line(xl_home, monkeypatch, capsys):
    """No credentials anywhere: `xl materialize` says which setting and what to check, in one line."""
    monkeypatch.setenv("XL_LANDING", "s3://xl-test/landing")
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(xl_home / "no-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(xl_home / "no-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    assert main(["materialize", "--start", "2026-11-20", "--end", "2026-11-20"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("xl: error:") and "s3://xl-test/landing" in err and "\n" not in err


def test_the_demos_simulator_says_each_banner_day_it_has_written(xl_home, capsys):
    """The simulator's own process says each banner-day it has written as (day, code), not in its line's words:
    each wait ends with that banner-day's files there, and a day it never writes is one clear error."""
    from xl_pipelines.banners import load_banners

    day, codes = dt.date(2026, 11, 20), load_banners().codes
    with _Simulation([day], cameras=200, seed=1) as simulation:
        for code in codes:
            simulation.banner_day(day, code)
            assert any((xl_home / "landing" / "status" / day.isoformat() / code).glob("*.csv"))
        simulation.complete()
        assert simulation.written == {(day, code) for code in codes}
        with pytest.raises(ConfigError, match=f"xl simulate wrote no 2026-11-21 {codes[0]}"):
            simulation.banner_day(dt.date(2026, 11, 21), codes[0])
    said = capsys.readouterr().err
    assert [line.split(":")[0] for line in said.splitlines()[:9]] == [f"{day} {code}" for code in codes]
