"""The real Dagster code location, run on hand-written landing files under a private XL_HOME."""

import datetime as dt
import json
import shutil
from collections import Counter
from pathlib import Path

import polars as pl
import pytest

from tests.conftest import (
    DAY,
    built_once,
    camera_id,
    capture,
    land_banner,
    materialise,
    onvif_document,
    post,
    private_home,
    write_onvif,
    write_post_logs,
)
from xl_pipelines.banners import load_banners
from xl_pipelines.lake import Lake
from xl_pipelines.runner import materialize
from xl_pipelines.settings import LOCAL_TZ, get_settings
from xl_pipelines.simulator.cases import write_cases
from xl_pipelines.simulator.city import build_city
from xl_pipelines.warehouse import connect_readonly

BANNERS = {code: f"{code}00" for code in load_banners().codes}  # all nine: the city day needs every banner


# Personal data seeded into every banner's captures: none of it may leave the landing zone in clear.
PLATES, NAMES, ID_NUMBERS = ("蒙G7Q2K9", "蒙GA8814"), ("王秀英", "包金花"), ("150502198807154321", "15052119920304002X")
SEEDED = [*PLATES, *NAMES, *ID_NUMBERS]


def land_captures(landing, code, cams):
    """Vehicles with plates, faces with names and ID numbers, and bound for quarantine, holding them too: a
    cut-off line, a GBK line, a query-string path, a DeviceID that is an ID number; an ONVIF document with a plate."""
    shot = dt.datetime.combine(DAY, dt.time(8), LOCAL_TZ)
    late = shot + dt.timedelta(seconds=3)
    vehicles = post(late, "motor_vehicle", [capture("motor_vehicle", cams[0], shot, n, PlateNo=plate)
                                            for n, plate in enumerate(PLATES)])
    faces = post(late, "face", [capture("face", cams[1], shot, n, Name=name, IDNumber=number)
                                for n, (name, number) in enumerate(zip(NAMES, ID_NUMBERS, strict=True))])
    gbk = faces.replace(ID_NUMBERS[0], ID_NUMBERS[1]).encode("gbk")
    traffic = post(late, "motor_vehicle", [capture("motor_vehicle", cams[0], shot, n) for n in range(10, 50)])
    query = json.dumps(json.loads(vehicles) | {"path": f"/VIID/MotorVehicles?PlateNo={PLATES[0]}&IDNumber={ID_NUMBERS[0]}"
                                                        f"&Name={NAMES[0]}"}, ensure_ascii=False)
    stranger = post(late, "face", [capture("face", ID_NUMBERS[1], shot, 7, Name=NAMES[1])])  # an ID number as DeviceID
    write_post_logs(landing, {8: [vehicles, faces, faces[:-20], gbk, query, stranger], 9: [traffic]}, code=code)
    write_onvif(landing, cams[2], late, onvif_document([(f"{DAY}T00:00:00Z", [("5", "Car", PLATES[1])])]), code=code)


def land(landing):
    """Nine banners, three cameras each, polled every 5 minutes; camera 3 is off all afternoon."""
    for code, prefix in BANNERS.items():
        cams = [camera_id(n, prefix=prefix) for n in (1, 2, 3)]
        land_banner(landing, code, cams, lambda c, at, off=cams[2]: "OFF" if c == off and at.hour >= 12 else "ON")
        (landing / "status" / DAY.isoformat() / code / "0000.csv").open("a").write("garbage line\n")
        land_captures(landing, code, cams)


def land_cases(landing):
    """The simulator's case export for DAY's month: a month of real-shaped outcomes for the report."""
    config = load_banners()
    write_cases(landing, build_city(config, 300, seed=5), [b.weight for b in config.banners], DAY.replace(day=1),
                DAY, seed=5)


def build_home(root):
    with private_home(root):
        land(root / "landing")
        land_cases(root / "landing")
        assert materialize([DAY], list(BANNERS), get_settings(), say=lambda _: None).ok


@pytest.fixture(scope="module")
def home(tmp_path_factory):
    """The nine banners' day, materialised once per test session (whichever worker comes first), then only read."""
    root = built_once(tmp_path_factory, "nine_banners", build_home)
    with private_home(root):
        yield root


def query(home, sql):
    with connect_readonly(home / "xl.duckdb") as con:
        return con.sql(sql).pl()


def test_gold_kpis_for_each_banner(home):
    kpis = query(home, "select code, cameras, online_rate, snapshot_online_rate from gold.banner_daily_kpis order by code")
    assert kpis["code"].to_list() == sorted(BANNERS)
    assert kpis["cameras"].to_list() == [3] * 9
    assert kpis["online_rate"].to_list() == pytest.approx([2.5 / 3] * 9)  # two full days + half a day, of three
    assert kpis["snapshot_online_rate"].to_list() == pytest.approx([2 / 3] * 9)


def test_city_rollup_reads_every_banner_of_the_day(home):
    city = query(home, "select banners_reporting, cameras, online_rate, clock_accuracy, annotation_accuracy "
                       "from gold.city_daily_kpis")
    assert city.rows() == [(9, 27, pytest.approx(2.5 / 3), 1.0, 1.0)]  # every clock right, every camera annotated


def test_online_rate_under_its_alert_level_warns_per_banner_day(home):
    """2.5 of 3 cameras' days online is 83 % < 95 %: each banner-day's check warns, and the figure is metadata."""
    results = sorted((home / "reports" / "quality" / "results" / "gold.banner_daily_kpis" / "alert_levels").glob("*.json"))
    assert [r.stem for r in results] == [f"{DAY}_{code}" for code in sorted(BANNERS)]
    stored = json.loads(results[0].read_text())
    assert (stored["passed"], stored["status"]) == (False, "WARN")
    assert "online_rate 83.33% < 95%" in stored["description"] and "clock_accuracy" not in stored["description"]


def test_quarantine_reconciles_and_run_succeeds(home):
    q = query(home, "select code, reason, count(*) n from quarantine.status_polls group by all order by code")
    assert q.rows() == [(code, "malformed_line", 1) for code in sorted(BANNERS)]
    bronze = query(home, "select count(*) n from bronze.status_polls")["n"].item()
    assert bronze == 9 * 3 * 288


def test_views_only_in_the_duckdb_file(home):
    kinds = query(home, "select distinct table_type from information_schema.tables where table_schema <> 'information_schema'")
    assert kinds["table_type"].to_list() == ["VIEW"]


def test_rematerialising_gives_identical_rows(home, tmp_path):
    copy = Path(shutil.copytree(home, tmp_path / "xl"))  # the shared day is only read (its landing zone too)
    lake = Lake(str(copy / "lake"))
    keys = {"date": DAY.isoformat(), "banner": "150502"}
    before = {t: lake.read(*t.split("."), keys)
              for t in ("bronze.status_polls", "silver.status_intervals", "gold.banner_daily_kpis")}
    with private_home(copy):
        materialise(home / "landing", lake, code="150502")  # the banner-day's assets again, in-process
    for table, frame in before.items():
        assert lake.read(*table.split("."), keys).equals(frame), table
    assert sum(lake.count("silver", "cameras", {"date": DAY.isoformat(), "banner": code}) for code in BANNERS) == 27


def _texts(home):
    """Everything a person could read outside the landing zone, as text: every lake Parquet file's rows and
    raw bytes, every DuckDB view's rows, every report file, and the Dagster instance's storage."""
    for path in sorted((home / "lake").rglob("*.parquet")):
        yield str(path), pl.read_parquet(path).write_ndjson()
    with connect_readonly(home / "xl.duckdb") as con:
        views = con.sql("select table_schema, table_name from information_schema.tables "
                        "where table_schema <> 'information_schema'").fetchall()
        assert ("silver", "captures") in views
        for schema, name in views:
            yield f"{schema}.{name}", con.sql(f'select * from {schema}."{name}"').pl().write_ndjson()
    for folder in (home / "reports", home / "dagster", home / "lake"):
        for path in sorted(p for p in folder.rglob("*") if p.is_file()):
            yield str(path), path.read_bytes().decode("utf-8", "replace")


def test_no_plate_name_or_id_number_leaves_the_landing_zone_in_clear(home):
    landed = "".join(p.read_bytes().decode("utf-8", "replace") for p in (home / "landing").rglob("*.*"))
    assert all(value in landed for value in SEEDED)  # they were there to leak
    seen = query(home, "select kind, count(plate_pseudonym) plates, count(person_pseudonym) people, count(*) n "
                       "from silver.captures group by kind order by kind")
    assert seen.rows() == [("face", 0, 9 * 2, 9 * 2), ("motor_vehicle", 9 * 3, 0, 9 * 43)]
    reasons = query(home, "select reason, count(*) n from quarantine.captures group by reason order by reason")
    assert reasons.rows() == [("bad_device_id", 9), ("malformed_line", 9), ("unknown_path", 9), ("wrong_encoding", 9 * 2)]
    leaks = [(where, value) for where, text in _texts(home) for value in SEEDED if value in text]
    assert leaks == []


def test_every_column_analysts_see_is_in_the_data_dictionary_and_nothing_more(home):
    """Each view of the lake against the dictionary, both ways: a new table or column must be documented (its
    model's comments, or xl_pipelines/tables.yaml) and a documented one must exist. Tables of the dictionary
    that this lake lacks are not judged."""
    from xl_pipelines.dictionary import load_dictionary

    documented = {t.qualified: {name for name, _ in t.columns} for t in load_dictionary()}
    rows = query(home, "select table_schema || '.' || table_name as qualified, column_name from information_schema.columns "
                       "where table_schema in ('bronze', 'silver', 'gold', 'quarantine')")
    seen: dict[str, set[str]] = {}
    for qualified, column in rows.iter_rows():
        seen.setdefault(qualified, set()).add(column)
    assert len(seen) >= 20  # the whole lake: every harvest, refine and model ran
    problems = [f"{table}: not in the data dictionary" for table in sorted(seen.keys() - documented.keys())]
    for table in sorted(seen.keys() & documented.keys()):
        problems += [f"{table}.{c}: not documented" for c in sorted(seen[table] - documented[table])]
        problems += [f"{table}.{c}: documented but not in the lake" for c in sorted(documented[table] - seen[table])]
    assert not problems, "\n".join(["update the model's comments or xl_pipelines/tables.yaml, then `make docs`:",
                                     *problems])


def _figure(text: str) -> float | None:
    """A figure as the report prints it: 98.76% or 1,234 or – (none)."""
    text = text.strip()
    if text == "–":
        return None
    return float(text.removesuffix("%").replace(",", "")) / (100 if text.endswith("%") else 1)


def test_every_figure_of_the_leadership_report_equals_gold(home):
    """Each figure cell names its gold table, row and column; read that value back from the views, one by one."""
    from lxml import html

    page = html.parse(str(home / "reports" / "leadership" / f"{DAY:%Y-%m}.html"))
    cells = page.xpath("//td[@data-gold]")
    keys = {"banner_monthly_kpis": "code", "case_assistance_monthly": "code", "city_daily_kpis": "date",
            "camera_monthly_health": "channel_id", "fault_repairs": "code || '/' || maintenance_unit",
            "image_fault_monthly": "code || '/' || kind"}
    checked = Counter()
    with connect_readonly(home / "xl.duckdb") as con:  # one connection for the ~340 look-ups
        for cell in cells:
            table, row, column = cell.get("data-gold").split("|")
            where = f"month = '{DAY:%Y-%m}'" if table != "city_daily_kpis" else f"date = '{row}'"
            if row != "total" and table != "city_daily_kpis":
                where += f" and {keys[table]} = '{row}'"
            expected = con.execute(f"select {'sum' if row == 'total' else 'any_value'}({column}) as v from gold.{table} "
                                   f"where {where}").fetchone()[0]
            shown = _figure(cell.text_content())
            if expected is None:
                assert shown is None, cell.get("data-gold")
            else:  # rates are shown to 0.01 %, counts exactly
                tolerance = 0.00005 if "%" in cell.text_content() else 0
                assert shown == pytest.approx(float(expected), abs=tolerance), cell.get("data-gold")
            checked[table] += 1
    # 9 banners × (12 indicators + rank + cameras + targets met + measured); 9 × 6 outcomes + 6 totals;
    # 1 day × 3 trends; 10 worst cameras × 5
    # the maintenance units' ranking: each banner's one unit (no ManagementUnit or Owner: "(none)"), camera 3
    # offline all afternoon: 9 units × (rank + 8 figures); 9 banners × (12 image-fault kinds + camera-days diagnosed)
    assert checked == {"banner_monthly_kpis": 9 * 16, "case_assistance_monthly": 9 * 6 + 6, "city_daily_kpis": 3,
                       "camera_monthly_health": 10 * 5, "fault_repairs": 9 * 9, "image_fault_monthly": 9 * 13}
    outcomes = query(home, "select sum(criminal_cases_assisted + administrative_cases_assisted) n from "
                           "gold.case_assistance_monthly")["n"][0]
    assert outcomes > 0  # the simulated month had cases to show
    text = page.getroot().text_content()
    assert "1 of 30 days" in text and "partial month" in text and "非完整月" in text


def test_the_report_renders_in_a_real_browser(home, tmp_path):
    """Debian's Chromium, headless, opens the file with the network off and draws it: a PNG that is not blank,
    with the report's colours (red and green target cells, blue bars) in it."""
    import numpy as np

    from tests.conftest import screenshot

    pixels = screenshot(home / "reports" / "leadership" / f"{DAY:%Y-%m}.html", tmp_path, 1400, 2400)
    assert pixels.shape == (2400, 1400, 3)
    ink = (pixels.sum(axis=2) < 600).mean()  # anything clearly darker than white
    assert ink > 0.02
    red, green, blue = (pixels[..., 0] > pixels[..., 1] + 15), (pixels[..., 1] > pixels[..., 0] + 10), \
        (pixels[..., 2] > pixels[..., 0] + 60)
    assert red.mean() > 0.001 and green.mean() > 0.001 and blue.mean() > 0.001
    assert len(np.unique(pixels.reshape(-1, 3), axis=0)) > 200  # text, tables and charts, not a flat page


def test_assets_read_and_write_where_their_resources_say(tmp_path, monkeypatch):
    """No path from the environment inside an asset: with the lake, reports and DuckDB file given as resources,
    a banner-day's KPIs, its alert-level check result, the views and the quality page land there and nothing
    under XL_HOME. The banner-day's online rate, 94 of 100 seconds, is under its 95 % alert level."""
    import dagster as dg

    from assets import gold, warehouse
    from xl_pipelines.partitions import banner_day_key
    from xl_pipelines.resources import LakeResource, ReportsResource, WarehouseResource

    monkeypatch.setenv("XL_HOME", str(tmp_path / "home"))
    lake, code = Lake(str(tmp_path / "lake")), load_banners().codes[0]
    lake.write("gold", "banner_daily_indicators", {"date": DAY.isoformat(), "banner": code}, pl.DataFrame(
        {"code": [code] * 2, "indicator": ["online_rate", "cameras"], "numerator": [94, 3], "denominator": [100, None]}))
    resources = {"lake": LakeResource(url=lake.url), "reports": ReportsResource(root=str(tmp_path / "reports")),
                 "warehouse": WarehouseResource(file=str(tmp_path / "views" / "xl.duckdb"))}
    kpis = next(a for a in gold.BANNER_DAY_ASSETS if a.key == dg.AssetKey(["gold", "banner_daily_kpis"]))
    assert dg.materialize([kpis], partition_key=banner_day_key(DAY, code), resources=resources).success
    assert dg.materialize(warehouse.build([kpis.key]), resources=resources).success
    row = lake.read("gold", "banner_daily_kpis", {"date": DAY.isoformat(), "banner": code}).row(0, named=True)
    assert (row["online_s"], row["expected_s"], row["online_rate"], row["cameras"]) == (94, 100, 0.94, 3)
    kept = json.loads((tmp_path / "reports" / "quality" / "results" / "gold.banner_daily_kpis" / "alert_levels"
                       / f"{DAY}_{code}.json").read_text(encoding="utf-8"))
    assert (kept["passed"], kept["description"]) == (False, "under the alert level: online_rate 94.00% < 95%")
    assert (tmp_path / "reports" / "quality" / "index.html").is_file() and (tmp_path / "views" / "xl.duckdb").is_file()
    assert not (tmp_path / "home").exists()
