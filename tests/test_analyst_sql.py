"""`xl sql` only reads the views: every other kind of statement is refused with one clear line and nothing
changes; the read-only connection refuses files and settings by itself too; each banner's own file shows
only that banner (city-wide tables whole)."""

import csv
import io
import json

import duckdb
import polars as pl
import pytest

from xl_pipelines.banners import load_banners
from xl_pipelines.cli import main
from xl_pipelines.lake import Lake
from xl_pipelines.settings import get_settings
from xl_pipelines.warehouse import banner_path, connect_readonly, refresh_views

DAY = {"date": "2026-11-20"}
HORQIN, HUOLINGUOLE, KAILU = "150502", "150581", "150523"  # two banners with data, one without
CAMERAS = {HORQIN: ["c-a1", "c-a2"], HUOLINGUOLE: ["c-b1"]}
ONLINE = {HORQIN: 0.75, HUOLINGUOLE: 0.5}
CASES = {HORQIN: 4, HUOLINGUOLE: 1}


@pytest.fixture
def lake(xl_home) -> Lake:
    """Two banners' cameras and KPIs (partitioned by banner), a monthly table with a code column and a
    city-wide table (neither), with the views built over them."""
    lake = Lake(get_settings().lake_url)
    for code, channels in CAMERAS.items():
        keys = {**DAY, "banner": code}
        lake.write("silver", "cameras", keys, pl.DataFrame({"channel_id": channels, "code": code}))
        lake.write("gold", "banner_daily_kpis", keys, pl.DataFrame(
            {"code": [code], "cameras": [len(channels)], "online_rate": [ONLINE[code]]}))
    lake.write("gold", "case_assistance_monthly", {"month": "2026-11"}, pl.DataFrame(
        {"code": list(CASES), "criminal_cases_assisted": list(CASES.values())}))
    lake.write("gold", "city_daily_kpis", DAY, pl.DataFrame({"banners_reporting": [2], "cameras": [3]}))
    refresh_views(lake, get_settings().warehouse_path)
    return lake


def sql(capsys, *argv) -> tuple[int, str, str]:
    code = main(["sql", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def rows(capsys, query, *argv) -> list[dict]:
    code, out, err = sql(capsys, query, "--format", "json", *argv)
    assert code == 0, err
    return json.loads(out)


def files(root) -> dict:
    return {p: p.read_bytes() for p in root.rglob("*") if p.is_file()}


WRITE = "would write (analysts may only read; the lake is written by the pipeline)"
VIEWS_ONLY = "is refused: only the views in xl.duckdb are open to analysts"
FILES = "is refused: query the views (e.g. gold.banner_daily_kpis)"
MOVES = "is refused: it moves data to or from files; take results away with --format csv or json"


@pytest.mark.parametrize(("query", "message"), [
    ("insert into silver.cameras values ('2026-11-20', 'c-x', '150502')", f"INSERT {WRITE}"),
    ("update silver.cameras set code = '150581'", f"UPDATE {WRITE}"),
    ("delete from silver.cameras", f"DELETE {WRITE}"),
    ("truncate silver.cameras", f"TRUNCATE {WRITE}"),
    ("create table gold.mine as select 1 as x", f"CREATE {WRITE}"),
    ("create view gold.mine as select 1 as x", f"CREATE {WRITE}"),
    ("drop view gold.city_daily_kpis", f"DROP {WRITE}"),
    ("alter view gold.city_daily_kpis rename to x", f"ALTER {WRITE}"),
    ("checkpoint", f"CHECKPOINT {WRITE}"),
    ("explain analyze delete from silver.cameras", f"DELETE {WRITE}"),
    ("select count(*) from silver.cameras; drop view silver.cameras", f"DROP {WRITE}"),
    ("attach '{tmp}/other.duckdb' as other", f"ATTACH {VIEWS_ONLY}"),
    ("detach xl", f"DETACH {VIEWS_ONLY}"),
    ("use memory", f"USE {VIEWS_ONLY}"),
    ("copy (select * from silver.cameras where false) to '{lake_file}' (format parquet)", f"COPY {MOVES}"),
    ("copy silver.cameras from '{tmp}/in.csv'", f"COPY {MOVES}"),
    ("export database '{tmp}/export'", f"EXPORT {MOVES}"),
    ("import database '{tmp}/export'", f"IMPORT {MOVES}"),
    ("select * from read_csv('/etc/passwd')", f"reading files (read_csv) {FILES}"),
    ("from '/etc/passwd'", f"reading files ('/etc/passwd') {FILES}"),
    ("select * from read_parquet('{lake_file}')", f"reading files (read_parquet) {FILES}"),
    ("with f as (select * from glob('{tmp}/**')) select count(*) from f", f"reading files (glob) {FILES}"),
    ("select code from silver.cameras where code in (select content from read_text('/etc/passwd'))",
     f"reading files (read_text) {FILES}"),
    ("set threads = 1", "changing settings (SET) is refused"),
    ("reset TimeZone", "changing settings (RESET) is refused"),
    ("pragma enable_profiling", "changing settings (PRAGMA) is refused"),
    ("install httpfs", "changing settings (INSTALL) is refused"),
    ("load httpfs", "changing settings (LOAD) is refused"),
    ("call pragma_version()", "changing settings (CALL) is refused"),
    ("pivot gold.banner_daily_kpis on code using sum(cameras)",
     "PIVOT … ON a column without an IN list runs several statements (it creates a type first): "
     "name the values, PIVOT … ON code IN ('150502', '150521') …"),
])
def test_everything_but_reading_the_views_is_refused_and_changes_nothing(lake, tmp_path, capsys, query, message):
    (tmp_path / "in.csv").write_text("date,channel_id,code\n2026-11-20,c-x,150502\n")
    lake_file = lake.partition_path("silver", "cameras", {**DAY, "banner": HORQIN})
    before = files(tmp_path)
    code, out, err = sql(capsys, query.format(tmp=tmp_path, lake_file=lake_file))
    assert code == 2 and out == ""
    assert err == f"xl: error: xl sql is read-only: {message}\n"
    assert files(tmp_path) == before


@pytest.mark.parametrize("query", [
    "select c.channel_id, k.online_rate from silver.cameras c join gold.banner_daily_kpis k using (date, code) "
    "order by c.channel_id",
    "with k as (select code, online_rate from gold.banner_daily_kpis) select c.channel_id, k.online_rate "
    "from silver.cameras c, k where c.code = k.code order by 1",
    "select channel_id, (select online_rate from gold.banner_daily_kpis k where k.code = c.code) as online_rate "
    "from silver.cameras c order by channel_id",
])
def test_joins_ctes_and_subqueries_run(lake, capsys, query):
    assert rows(capsys, query) == [{"channel_id": c, "online_rate": ONLINE[code]}
                                   for code, channels in CAMERAS.items() for c in channels]


def test_pivot_with_its_values_named_runs(lake, capsys):
    values = ", ".join(f"'{code}'" for code in CAMERAS)
    pivoted = rows(capsys, f"pivot (select code, cameras from gold.banner_daily_kpis) on code in ({values}) "
                           "using sum(cameras)")
    assert len(pivoted) == 1 and set(pivoted[0]) == set(CAMERAS)


def test_describe_show_summarize_and_explain_run(lake, capsys):
    assert [r["column_name"] for r in rows(capsys, "describe gold.city_daily_kpis")] == \
        ["date", "banners_reporting", "cameras"]
    assert {"schema": "gold", "name": "city_daily_kpis"} in [
        {"schema": r["schema"], "name": r["name"]} for r in rows(capsys, "show all tables")]
    summary = {r["column_name"]: r for r in rows(capsys, "summarize gold.banner_daily_kpis")}
    assert (summary["online_rate"]["min"], summary["online_rate"]["max"]) == ("0.5", "0.75")
    [plan] = rows(capsys, "explain select count(*) from silver.cameras")
    assert "Function: READ_PARQUET" in plan["explain_value"]


def test_csv_json_and_table_output_hold_the_values_written(lake, capsys):
    query = "select code, channel_id, online_rate, date from silver.cameras join gold.banner_daily_kpis " \
            "using (date, code) order by channel_id"
    expected = [{"code": code, "channel_id": c, "online_rate": ONLINE[code], "date": DAY["date"]}
                for code, channels in CAMERAS.items() for c in channels]
    code, out, _ = sql(capsys, query, "--format", "csv")
    assert code == 0
    assert [{**r, "online_rate": float(r["online_rate"])} for r in csv.DictReader(io.StringIO(out))] == expected
    assert rows(capsys, query) == expected
    code, out, _ = sql(capsys, query)
    assert code == 0
    lines = out.splitlines()
    assert all(name in lines[1] for name in expected[0])
    assert [line for line in lines if "c-a2" in line and "0.75" in line and HORQIN in line]


def test_a_banner_file_shows_only_that_banner_and_the_city_whole(lake, capsys):
    city = rows(capsys, "select * from gold.city_daily_kpis")
    assert city == [{"date": DAY["date"], "banners_reporting": 2, "cameras": 3}]
    for code in CAMERAS:
        assert [r["channel_id"] for r in rows(capsys, "select channel_id from silver.cameras order by 1",
                                              "--banner", code)] == CAMERAS[code]
        assert rows(capsys, "select code, online_rate from gold.banner_daily_kpis", "--banner", code) == \
            [{"code": code, "online_rate": ONLINE[code]}]
        assert rows(capsys, "select code, criminal_cases_assisted from gold.case_assistance_monthly",
                    "--banner", code) == [{"code": code, "criminal_cases_assisted": CASES[code]}]
        assert rows(capsys, "select * from gold.city_daily_kpis", "--banner", code) == city


def test_a_banner_without_data_has_the_same_views_with_no_rows(lake, capsys):
    describe = "select column_name, column_type from (describe silver.cameras)"
    assert rows(capsys, describe, "--banner", KAILU) == rows(capsys, describe)
    for table in ("silver.cameras", "gold.banner_daily_kpis", "gold.case_assistance_monthly"):
        assert rows(capsys, f"select * from {table}", "--banner", KAILU) == []
    assert rows(capsys, "select cameras from gold.city_daily_kpis", "--banner", KAILU) == [{"cameras": 3}]


def test_unknown_banner_is_one_line_naming_the_nine(lake, capsys):
    code, out, err = sql(capsys, "select 1", "--banner", "999999")
    assert code == 2 and err.count("\n") == 1
    assert err.startswith("xl: error: --banner 999999 is not one of the nine codes: 150502, ")
    assert len(err.split(": ", 2)[2].split(", ")) == 9


def test_banner_files_are_swapped_in_whole(lake, monkeypatch):
    """A refresh that fails half-way leaves each file either new or as it was, and no half-written file."""
    import xl_pipelines.warehouse as warehouse

    def views(path):
        with connect_readonly(path) as con:
            return {name for (name,) in con.sql("select view_name from duckdb_views() where not internal").fetchall()}

    def broken(columns):
        raise RuntimeError("disk full")

    city, first_without_data = get_settings().warehouse_path, banner_path(get_settings().warehouse_path, "150521")
    before = first_without_data.read_bytes()
    lake.write("gold", "school_zone_availability", DAY, pl.DataFrame({"zones": [1]}))
    monkeypatch.setattr(warehouse, "_no_rows", broken)  # only a banner without data needs it
    with pytest.raises(RuntimeError, match="disk full"):
        refresh_views(lake, city)
    assert "school_zone_availability" in views(city) & views(banner_path(city, HORQIN))  # built before the failure
    assert first_without_data.read_bytes() == before and "school_zone_availability" not in views(first_without_data)
    banners = sorted(p.name for p in first_without_data.parent.iterdir())
    assert banners == sorted(f"{code}.duckdb" for code in load_banners().codes)  # no half-written file left
    assert sorted(p.name for p in city.parent.iterdir()) == ["banners", "lake", "xl.duckdb"]


@pytest.mark.parametrize("banner", [None, HORQIN])
def test_the_connection_alone_refuses_files_and_settings(lake, xl_home, tmp_path, banner):
    """Without xl sql's check: a file the views do not read stays out of reach (the landing zone holds
    personal data in clear), and no setting can be changed; the views still read the lake."""
    path = get_settings().warehouse_path
    path = banner_path(path, banner) if banner else path
    landed = xl_home / "landing" / "cases" / "2026-11.csv"
    landed.parent.mkdir(parents=True)
    landed.write_text("case_id,code\nK1,150502\n")
    with duckdb.connect(str(path), read_only=True) as plain:  # readable without the guard
        assert plain.sql(f"select case_id from read_csv('{landed}')").fetchall() == [("K1",)]
    with connect_readonly(path) as con:
        for query in ("select * from read_csv('/etc/passwd')", f"select * from read_csv('{landed}')",
                      f"from '{landed}'", f"copy (select 1) to '{tmp_path}/out.csv'"):
            with pytest.raises(duckdb.PermissionException):
                con.sql(query).fetchall()
        for query in ("set threads = 1", "set enable_external_access = true", "reset TimeZone"):
            with pytest.raises(duckdb.InvalidInputException, match="locked"):
                con.execute(query)
        assert not (tmp_path / "out.csv").exists()
        channels = con.sql("select channel_id from silver.cameras order by 1").fetchall()
        assert [c for (c,) in channels] == (CAMERAS[banner] if banner else CAMERAS[HORQIN] + CAMERAS[HUOLINGUOLE])
        assert con.sql("select current_setting('TimeZone')").fetchall() == [("Asia/Shanghai",)]


def test_two_connections_to_one_file_at_once(lake):
    path = get_settings().warehouse_path
    with connect_readonly(path) as first, connect_readonly(path) as second:
        assert first.sql("select count(*) from silver.cameras").fetchall() == [(3,)]
        assert second.sql("select count(*) from silver.cameras").fetchall() == [(3,)]
        for con in (first, second):  # local days and hours on both, not UTC on the second
            assert con.sql("select current_setting('TimeZone')").fetchall() == [("Asia/Shanghai",)]
