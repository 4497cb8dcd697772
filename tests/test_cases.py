"""The case-management export: parsed from hand-written CSV bytes, bad lines quarantined, outcomes counted by hand."""

from __future__ import annotations

import csv
import datetime as dt
from pathlib import Path

import pytest

from xl_pipelines.banners import load_banners
from xl_pipelines.cases import harvest_cases
from xl_pipelines.lake import Lake
from xl_pipelines.simulator.cases import CASE_FAULTS, FAULT_ROWS, month_faults, months_back, write_cases
from xl_pipelines.simulator.city import build_city
from xl_pipelines.sql_models import MODELS_DIR, parse_model, run_model

HEADER = "case_id,opened_at,code,category,video_assisted,cameras,suspects_caught,accident_replays,missing_found,closed_at"
NOW = dt.datetime(2026, 12, 2, 12, tzinfo=dt.UTC)
CAM = "15050200001320000001"

# Good cases of November 2026, by hand:
#   150502: criminal assisted (2 suspects), criminal NOT assisted (5 suspects: not counted),
#           administrative assisted (1 suspect), accident assisted (2 replays), missing person assisted (found),
#           assistance assisted
#   150523: criminal assisted (0 suspects, still open), accident NOT assisted (1 replay: not counted)
GOOD = [
    f"A1,2026-11-01T00:00:00+08:00,150502,criminal,true,{CAM};{CAM[:-1]}2,2,0,0,2026-11-03T10:00:00+08:00",
    "A2,2026-11-02T09:00:00+08:00,150502,criminal,false,,5,0,0,2026-11-04T10:00:00+08:00",
    f"A3,2026-11-03T09:00:00+08:00,150502,administrative,TRUE,{CAM},1,0,0,",
    f"A4,2026-11-04T09:00:00+08:00,150502,traffic_accident,1,{CAM},0,2,0,2026-11-04T12:00:00+08:00",
    f"A5,2026-11-05T09:00:00+08:00,150502,missing_person,true,{CAM},0,0,1,2026-11-05T13:00:00+08:00",
    f'"A6","2026-11-06T09:00:00+08:00","150502","assistance","true","{CAM}","0","0","0",""',
    f"A7,2026-11-30T23:59:59+08:00,150523,criminal,true,{CAM},0,0,0,",
    "A8,2026-11-07T09:00:00+08:00,150523,traffic_accident,false,,0,1,0,",
]
BAD = {  # line → reason
    "A9,2026-11-07T09:00:00+08:00,150523,criminal": "malformed_line",
    ",2026-11-07T09:00:00+08:00,150523,criminal,true,,0,0,0,": "no_case_id",
    "B1,2026-11-07T09:00:00+08:00,150599,criminal,true,,0,0,0,": "unknown_banner",
    "B2,2026-11-07T09:00:00+08:00,150502,盗窃,true,,0,0,0,": "unknown_category",
    "B3,2026/11/07 09:00,150502,criminal,true,,0,0,0,": "bad_timestamp",
    "B4,2026-11-07T09:00:00+08:00,150502,criminal,true,,0,0,0,soon": "bad_timestamp",
    "B5,2026-11-07T09:00:00+08:00,150502,criminal,true,,0,0,0,2036-11-07T09:00:00+08:00": "future_timestamp",
    "B6,2026-10-31T23:59:59+08:00,150502,criminal,true,,0,0,0,": "outside_month",
    "B7,2026-11-30T16:00:00Z,150502,criminal,true,,0,0,0,": "outside_month",  # 00:00 on 1 December, local
    "B8,2026-11-07T09:00:00+08:00,150502,criminal,true,,0,0,0,2026-11-06T09:00:00+08:00": "closed_before_opened",
    "B9,2026-11-07T09:00:00+08:00,150502,criminal,maybe,,0,0,0,": "bad_flag",
    "C1,2026-11-07T09:00:00+08:00,150502,criminal,true,,-1,0,0,": "bad_count",
    "C2,2026-11-07T09:00:00+08:00,150502,criminal,true,,two,0,0,": "bad_count",
    "A1,2026-11-08T09:00:00+08:00,150502,criminal,true,,9,0,0,": "duplicate",
}


@pytest.fixture
def export(tmp_path) -> Path:
    path = tmp_path / "cases" / "2026-11.csv"
    path.parent.mkdir()
    body = "\n".join([HEADER, *GOOD, *BAD, ""]).encode("utf-8")
    gbk = "C3,2026-11-07T09:00:00+08:00,150502,criminal,true,,0,0,0,\n".replace("C3", "C3盗窃").encode("gbk")
    path.write_bytes(b"\xef\xbb\xbf" + body.replace(b"\n", b"\r\n") + gbk + b"\n\n")
    return path


def test_every_line_is_accepted_or_quarantined_with_its_reason(export):
    harvest = harvest_cases(export, "2026-11", load_banners(), NOW)
    assert harvest.read == len(GOOD) + len(BAD) + 1
    assert harvest.accepted["case_id"].to_list() == [f"A{n}" for n in range(1, 9)]
    # lines are numbered from the header (1); the bad ones follow the good ones, then the GBK line
    reasons = dict(zip(harvest.quarantined["item"], harvest.quarantined["reason"], strict=True))
    first_bad = len(GOOD) + 2
    assert reasons == {**{first_bad + n: reason for n, reason in enumerate(BAD.values())},
                       first_bad + len(BAD): "wrong_encoding"}
    raws = dict(zip(harvest.quarantined["item"], harvest.quarantined["raw"], strict=True))
    assert raws[first_bad + 1] == list(BAD)[1]  # a line of the export's shape keeps its text …
    assert raws[first_bad] is None  # … a line of another shape (4 fields) keeps none
    assert set(harvest.quarantined["code"].drop_nulls()) <= {"150502", "150523", "150599"}


def test_fields_are_typed_quotes_dropped_and_times_local(export):
    cases = harvest_cases(export, "2026-11", load_banners(), NOW).accepted
    first = cases.row(0, named=True)
    assert first["cameras"] == [CAM, CAM[:-1] + "2"]
    assert first["video_assisted"] is True and first["suspects_caught"] == 2
    assert first["opened_at"] == dt.datetime(2026, 11, 1, tzinfo=dt.timezone(dt.timedelta(hours=8)))
    assert cases.filter(cases["case_id"] == "A6")["category"].to_list() == ["assistance"]
    assert cases.filter(cases["case_id"] == "A3")["closed_at"].to_list() == [None]
    assert cases.filter(cases["case_id"] == "A2")["cameras"].to_list() == [[]]


def test_case_assistance_monthly_counts_video_assisted_cases_only(export, tmp_path):
    lake = Lake(str(tmp_path / "lake"))
    lake.write("silver", "cases", {"month": "2026-11"}, harvest_cases(export, "2026-11", load_banners(), NOW).accepted)
    model = parse_model(MODELS_DIR / "case_assistance_monthly.sql")
    frame = run_model(model, lake, {"month": "2026-11"}, load_banners())
    assert frame.height == 9 and frame["month"].unique().to_list() == ["2026-11"]
    rows = {r["code"]: r for r in frame.iter_rows(named=True)}
    columns = ("criminal_cases_assisted", "administrative_cases_assisted", "suspects_caught", "accident_replays",
               "missing_persons_found", "assistance_served")
    assert tuple(rows["150502"][c] for c in columns) == (1, 1, 3, 2, 1, 1)
    assert tuple(rows["150523"][c] for c in columns) == (1, 0, 0, 0, 0, 0)
    assert all(rows[code][c] == 0 for code in rows if code not in {"150502", "150523"} for c in columns)


def test_the_report_of_a_month_not_built_is_one_clear_line(xl_home, capsys):
    from xl_pipelines.cli import main

    assert main(["report", "--month", "2026-11"]) == 2
    assert capsys.readouterr().err.startswith("xl: error: no network statistics for 2026-11 yet")
    with pytest.raises(SystemExit) as usage:
        main(["report", "--month", "November"])
    assert usage.value.code == 2 and "'November' is not a month like 2026-11" in capsys.readouterr().err


def test_simulated_year_is_at_the_scale_of_domain_md_and_carries_its_planned_faults(tmp_path):
    city = build_city(load_banners(), 1500, 7)
    until = dt.date(2026, 11, 30)
    seen = {}
    for month in months_back(until, 12):
        write_cases(tmp_path, city, [b.weight for b in load_banners().banners], month, until, seed=7)
        seen[month] = month_faults(7, month)
    rows = [r for f in sorted((tmp_path / "cases").glob("*.csv")) for r in list(csv.reader(f.open()))[1:]]
    assisted = [r for r in rows if len(r) == 10 and r[4] == "true" and r[0].endswith(tuple("0123456789"))]
    cases = sum(r[3] in ("criminal", "administrative") for r in assisted)
    assert 50 <= cases <= 110  # DOMAIN.md: 78 criminal and administrative cases assisted in a year
    assert 30 <= sum(int(r[6]) for r in assisted) <= 80  # 52 suspects
    assert 70 <= sum(int(r[7]) for r in assisted) <= 130  # 90+ accident scenes
    assert {f for faults in seen.values() for f in faults} <= set(CASE_FAULTS)
    short_rows = sum(len(r) != 10 for r in rows)
    assert short_rows == sum("short_row" in faults for faults in seen.values())
    unknown = sum(len(r) == 10 and r[2] == "150599" for r in rows)
    assert unknown == sum("unknown_banner_case" in faults for faults in seen.values())


def test_the_first_days_of_a_month_carry_no_planned_fault_its_end_does(tmp_path):
    """A month's export on its first day holds a few cases: one planned bad row among them would block the whole
    month (cases block above 10 %); it is written once the export holds FAULT_ROWS good rows a fault."""
    city, weights, month = build_city(load_banners(), 1500, 7), [b.weight for b in load_banners().banners], dt.date(2026, 12, 1)
    assert month_faults(7, month)
    for until, faulty in ((month, False), (dt.date(2026, 12, 31), True)):
        write_cases(tmp_path, city, weights, month, until, seed=7)
        rows = list(csv.reader((tmp_path / "cases" / "2026-12.csv").open()))[1:]
        good = {r[0] for r in rows if len(r) == 10 and not r[0].endswith("X")}  # a re-sent case repeats its ID
        assert (len(rows) > len(good)) == faulty, (until, len(rows), len(good))
        assert (len(good) >= FAULT_ROWS * len(month_faults(7, month))) == faulty, (until, len(good))
