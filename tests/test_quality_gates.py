"""Quality gates: suites as checks, blocking before gold, reconciliation, rejected share, freshness, report."""

import datetime as dt
import hashlib
import json

import dagster as dg
import polars as pl
import pytest

from quality import checks
from tests.conftest import (
    DAY,
    POLL_TIMES,
    camera_id,
    catalog_item,
    catalog_page,
    land_banner,
    private_home,
    run_job,
    write_catalog,
)
from xl_pipelines import gates
from xl_pipelines.banners import load_banners
from xl_pipelines.definitions import LAKE_ASSETS, defs
from xl_pipelines.lake import Lake
from xl_pipelines.partitions import banner_day_key
from xl_pipelines.runner import check_freshness, materialize
from xl_pipelines.settings import LOCAL_TZ, ConfigError, get_settings

BANNER = "150502"
CAMERAS = [camera_id(n) for n in (1, 2, 3)]
KEYS = {"date": DAY.isoformat(), "banner": BANNER}


def garble(landing, lines: int) -> None:
    """Append `lines` lines with the wrong separator to the first poll file (malformed_line each)."""
    with (landing / "status" / DAY.isoformat() / BANNER / "0000.csv").open("a") as f:
        f.writelines(f"{CAMERAS[0]};{POLL_TIMES[0].isoformat()};ON\n" for _ in range(lines))


def harvest():
    """The banner-day's job, in this process (as a worker of `xl materialize` runs it)."""
    return run_job("banner_day", banner_day_key(DAY, BANNER))[1]


FIRST = "150523"  # Kailu: a first day whose catalog never arrived, run beside BANNER
FIRST_CAMERAS = [camera_id(n, prefix="15052300") for n in (1, 2, 3)]
BEFORE = DAY - dt.timedelta(days=1)


def catalog_of(landing, code: str, cameras: list[str], day: dt.date) -> None:
    """One complete catalog page of `cameras`, each in the middle of banner `code`."""
    west, south, east, north = load_banners().by_code(code).bbox
    here = {"lon": f"{(west + east) / 2:.6f}", "lat": f"{(south + north) / 2:.6f}"}
    write_catalog(landing, [catalog_page([catalog_item(c, **here) for c in cameras])], day=day, code=code)


@pytest.fixture(scope="module")
def warned(tmp_path_factory):
    """One `xl materialize` (the runner, its pool and every job after the banner-days) of two banners, each with
    the day before's catalog, whose registries are harvested first (as the demo does). BANNER: 40 of 904 poll
    lines malformed: 4.4 %, above the warn level (3 %), below the block level (10 %). FIRST: its catalog of the
    day never arrived. Its home, outcome and progress lines; the tests only read them."""
    with private_home(tmp_path_factory.mktemp("warned") / "xl") as home:
        land_banner(home / "landing", BANNER, CAMERAS)
        garble(home / "landing", 40)
        land_banner(home / "landing", FIRST, FIRST_CAMERAS)
        for page in (home / "landing" / "catalog" / DAY.isoformat() / FIRST).glob("*.xml"):
            page.unlink()
        catalog_of(home / "landing", BANNER, CAMERAS, BEFORE)
        catalog_of(home / "landing", FIRST, FIRST_CAMERAS, BEFORE)
        said = []
        outcome = materialize([DAY], [BANNER, FIRST], get_settings(), say=said.append, registry_from=BEFORE)
    return home, outcome, said


# --- the pure verdicts, by hand ---------------------------------------------------------------------------


def test_reconciliation_names_what_is_unaccounted():
    assert gates.reconciliation(10, 7, 3).passed
    lost = gates.reconciliation(10, 6, 3)
    assert not lost.passed and lost.severity == "ERROR" and "+1 unaccounted" in lost.description


def test_due_day_follows_the_deadline():
    six = dt.time(6, 0)
    assert gates.due_day(dt.datetime(2026, 11, 24, 5, 59, tzinfo=LOCAL_TZ), six) == dt.date(2026, 11, 22)
    assert gates.due_day(dt.datetime(2026, 11, 24, 6, 0, tzinfo=LOCAL_TZ), six) == dt.date(2026, 11, 23)


def test_a_suite_names_each_failed_expectation_with_counts_and_samples():
    polls = pl.DataFrame({
        "channel_id": [CAMERAS[0], CAMERAS[0], "123"], "code": [BANNER] * 3,
        "polled_at": [POLL_TIMES[0], POLL_TIMES[0], POLL_TIMES[1]], "status_raw": ["ON", "ON", "ON"],
        "state": ["online", "online", "sleeping"], "source_file": ["a.csv"] * 3, "item": [1, 2, 3]})
    result = gates.validate(polls, gates.load_suite("bronze.status_polls"))
    failed = {(f.expectation, f.column): f for f in result.failures}
    assert set(failed) == {
        ("expect_compound_columns_to_be_unique", "channel_id,polled_at"),   # rows 1 and 2
        ("expect_column_values_to_match_regex", "channel_id"),              # "123"
        ("expect_column_values_to_be_in_set", "state"),                     # "sleeping"
        ("expect_column_unique_value_count_to_be_between", "polled_at"),    # 2 poll times, not 276
    }
    assert failed[("expect_column_values_to_match_regex", "channel_id")].unexpected == 1
    assert failed[("expect_column_values_to_match_regex", "channel_id")].sample == ["123"]
    assert failed[("expect_compound_columns_to_be_unique", "channel_id,polled_at")].unexpected == 2
    assert failed[("expect_column_values_to_be_in_set", "state")].sample == ["sleeping"]
    assert failed[("expect_column_unique_value_count_to_be_between", "polled_at")].severity == "WARN"
    assert result.severity == "ERROR"


def test_a_suites_configurations_are_reused_by_name_and_version_only():
    """Built once per suite name and version (its file's digest): another version of the same suite is built
    anew, never served the first one's expectations."""
    suite = gates.load_suite("silver.status_intervals")
    assert suite["version"] == hashlib.sha256(gates.suite_path("silver.status_intervals").read_bytes()).hexdigest()[:16]
    frame = pl.DataFrame({"channel_id": [CAMERAS[0]]})
    trimmed = {**suite, "expectations": suite["expectations"][:1], "version": "trimmed"}
    assert gates.validate(frame, suite).evaluated == len(suite["expectations"]) > 1
    assert gates.validate(frame, trimmed).evaluated == 1
    assert gates.validate(frame, suite).evaluated == len(suite["expectations"])


def test_a_missing_column_is_a_failure_not_a_crash():
    result = gates.validate(pl.DataFrame({"channel_id": [CAMERAS[0]]}), gates.load_suite("silver.status_intervals"))
    assert not result.passed
    assert any("does not exist" in (f.observed or "") for f in result.failures)


def test_every_suite_loads_and_only_tables_feeding_gold_block():
    """Worked out by hand from the models' inputs (dbt_like_sql/) and the assets' deps: a table blocks when a gold
    table is built from it, directly or through another table."""
    graph = defs.resolve_asset_graph()
    suites = {k.asset_key.to_user_string(): graph.get(k).blocking for k in graph.asset_check_keys
              if k.name == "expectations"}
    assert set(suites) == {t.replace(".", "/") for t in gates.suite_tables()}
    read_by_gold = {"bronze/device_status", "quarantine/catalog", "silver/cameras", "silver/status_intervals",
                    "silver/recording_coverage", "silver/image_diagnosis", "quarantine/captures", "silver/captures",
                    "silver/keepalive_intervals", "silver/cases",
                    "gold/camera_daily_health", "gold/capture_daily", "gold/banner_daily_indicators"}
    upstream = {"bronze/catalog_items",  # silver.cameras
                "bronze/status_polls",  # silver.status_intervals
                "silver/recording_segments", "bronze/recording_files", "bronze/record_index",  # the coverage
                "bronze/keepalives"}  # silver.keepalive_intervals
    feeds_nothing = {"silver/camera_changes", "quarantine/status_polls", "quarantine/device_status",
                     "quarantine/recordings", "quarantine/record_index", "quarantine/keepalives", "quarantine/cases",
                     "gold/banner_daily_kpis", "gold/city_daily_kpis", "gold/banner_monthly_kpis",
                     "gold/case_assistance_monthly", "gold/road_traffic_hourly", "gold/school_zone_availability"}
    assert suites == {**dict.fromkeys(read_by_gold | upstream, True), **dict.fromkeys(feeds_nothing, False)}


def test_blocking_follows_the_graph_and_a_suite_nobody_declares_stops_the_load():
    """camera_changes feeds no gold table: read by a gold table, its check blocks with nothing else changed;
    its suite's check not declared, the load says so."""
    from assets import camera_health as ch

    def redeclared(check_specs):
        @dg.asset(key=ch.CAMERA_CHANGES, deps=[ch.CAMERAS, ch.CATALOG_ITEMS], partitions_def=ch.BANNER_DAY,
                  check_specs=check_specs)
        def camera_changes():
            pass
        return [camera_changes if a.keys == ch.camera_changes.keys else a for a in LAKE_ASSETS]

    @dg.asset(key=["gold", "changes_read"], deps=[ch.CAMERA_CHANGES], partitions_def=ch.BANNER_DAY)
    def changes_read():
        pass

    def blocking(assets) -> bool:
        return next(s.blocking for a in assets for s in a.check_specs if s.key.asset_key == ch.CAMERA_CHANGES)

    [judged] = checks.judged_by_graph([LAKE_ASSETS])
    [read] = checks.judged_by_graph([[*LAKE_ASSETS, changes_read]])
    assert not blocking(judged) and blocking(read)
    with pytest.raises(ConfigError, match="the asset writing silver.camera_changes does not declare its expectations"):
        checks.judged_by_graph([redeclared([])])


def test_a_broken_thresholds_file_is_one_clear_error(tmp_path):
    path = tmp_path / "thresholds.yaml"
    path.write_text("indicators: {}\nquarantine:\n  catalog: {warn: 0.5, block: 0.1}\nfreshness: {}\nlimits: {}\n")
    with pytest.raises(ConfigError, match="warn <= block"):
        gates.load_thresholds(path)
    path.write_text("indicators: {}\nquarantine: {}\nfreshness: {}\nlimits: {clock_skew_s: sixty}\n")
    with pytest.raises(ConfigError, match="clock_skew_s must be a number"):
        gates.load_thresholds(path)
    with pytest.raises(ConfigError, match="cannot read"):
        gates.load_thresholds(tmp_path / "missing.yaml")


# --- in Dagster, on hand-written landing files --------------------------------------------------------------


def test_rejected_share_above_block_stops_gold_until_the_input_is_fixed(xl_home):
    landing = xl_home / "landing"
    land_banner(landing, BANNER, CAMERAS)
    garble(landing, 100)  # 100 of 3 × 288 + 100 = 964 lines: 10.4 %, above the 10 % block level
    lake = Lake(str(xl_home / "lake"))

    outcome = harvest()
    assert outcome.blocked == [f"{DAY} {BANNER}"] and not outcome.failed
    assert outcome.checks[("bronze.status_polls", "rejected_share", "ERROR")] == 1
    assert outcome.checks[("bronze.status_polls", "reconciled", "passed")] == 1
    assert lake.count("bronze", "status_polls", KEYS) == 864 and lake.count("quarantine", "status_polls", KEYS) == 100
    for layer, table in [("silver", "status_intervals"), ("gold", "camera_daily_health"), ("gold", "banner_daily_kpis")]:
        assert not lake.exists(layer, table, KEYS), table  # nothing built on the rejected partition
    stored = json.loads((xl_home / "reports/quality/results/bronze.status_polls/rejected_share"
                         / f"{DAY}_{BANNER}.json").read_text())
    assert stored["status"] == "ERROR" and stored["reasons"] == {"malformed_line": 100}

    land_banner(landing, BANNER, CAMERAS)  # the exporter re-sends the day, clean
    outcome = harvest()
    assert outcome.ok and outcome.checks[("bronze.status_polls", "rejected_share", "passed")] == 1
    assert lake.read("gold", "banner_daily_kpis", KEYS)["online_rate"].item() == 1.0


def test_rejected_share_above_warn_warns_and_gold_is_built(warned):
    home, outcome, _ = warned  # 40 / 904 = 4.4 %: above warn (3 %), below block (10 %)
    assert outcome.ok
    assert outcome.checks[("bronze.status_polls", "rejected_share", "WARN")] == 1
    assert Lake(str(home / "lake")).exists("gold", "banner_daily_kpis", KEYS)


def test_exact_resends_are_quarantined_but_do_not_weigh_on_the_share(xl_home):
    landing = xl_home / "landing"
    land_banner(landing, BANNER, CAMERAS)
    folder = landing / "status" / DAY.isoformat() / BANNER
    resent = [line for f in sorted(folder.glob("*.csv"))[:40] for line in f.read_text().splitlines()[1:]]
    (folder / "resend.csv").write_text("\n".join(resent) + "\n")  # 120 duplicates of 984 lines: 12 %
    outcome = harvest()
    assert outcome.ok and outcome.checks[("bronze.status_polls", "rejected_share", "passed")] == 1
    assert Lake(str(xl_home / "lake")).count("quarantine", "status_polls", KEYS) == 120


def test_records_of_a_camera_rejected_by_the_catalog_count_once_in_the_catalogs_share(xl_home):
    """Eleven cameras registered, the third with its coordinates swapped (outside the city): the catalog sets it
    aside (1 item of 11: a warning, the catalog's own share), and all 288 of its polls go to quarantine as
    camera_rejected. They are a third of the polls (only three cameras are polled), yet they do not stop the
    banner a second time."""
    landing = xl_home / "landing"
    land_banner(landing, BANNER, CAMERAS)
    west, south, east, north = load_banners().by_code(BANNER).bbox
    here, swapped = {"lon": f"{(west + east) / 2:.6f}", "lat": f"{(south + north) / 2:.6f}"}, {
        "lon": f"{(south + north) / 2:.6f}", "lat": f"{(west + east) / 2:.6f}"}
    registered = CAMERAS + [camera_id(n) for n in range(4, 12)]
    write_catalog(landing, [catalog_page([catalog_item(c, **(swapped if c == CAMERAS[2] else here)) for c in registered])])
    outcome = harvest()
    assert outcome.ok
    assert outcome.checks[("bronze.catalog_items", "rejected_share", "WARN")] == 1
    assert outcome.checks[("bronze.status_polls", "rejected_share", "passed")] == 1
    stored = json.loads((xl_home / "reports/quality/results/bronze.status_polls/rejected_share"
                         / f"{DAY}_{BANNER}.json").read_text())
    assert stored["reasons"] == {"camera_rejected": 288}


def test_a_missing_catalog_without_a_previous_registry_blocks_and_the_metadata_says_why(xl_home):
    land_banner(xl_home / "landing", BANNER, CAMERAS)
    for page in (xl_home / "landing" / "catalog").rglob("*.xml"):
        page.unlink()
    result = defs.resolve_job_def("banner_day").execute_in_process(
        partition_key=banner_day_key(DAY, BANNER), instance=dg.DagsterInstance.ephemeral(), raise_on_error=False)
    evaluations = {(e.asset_key.to_user_string(), e.check_name): e for e in result.get_asset_check_evaluations()}
    judged_in = {e.asset_check_evaluation_data.asset_key.to_user_string(): e.step_key for e in result.all_events
                 if e.event_type_value == "ASSET_CHECK_EVALUATION" and e.asset_check_evaluation_data.check_name == "expectations"}
    assert judged_in == {"bronze/catalog_items": "catalog_harvest", "quarantine/catalog": "catalog_harvest",
                         "silver/cameras": "silver__cameras"}  # each in the step that wrote its table: no step of its own
    assert result.get_step_success_events() and not result.is_node_success("silver__cameras")  # the blocked step failed
    catalog = evaluations[("bronze/catalog_items", "expectations")]  # no items: a warning, the registry may fall back
    assert not catalog.passed and catalog.severity == dg.AssetCheckSeverity.WARN
    assert evaluations[("bronze/catalog_items", "reconciled")].passed  # 0 read = 0 + 0
    registry = evaluations[("silver/cameras", "expectations")]  # but there is no previous day to fall back on
    assert not registry.passed and registry.severity == dg.AssetCheckSeverity.ERROR
    assert "| expect_table_row_count_to_be_between | (table) | ERROR |" in registry.metadata["failures"].value
    assert not any(key.startswith(("bronze/status", "gold")) for key, _ in evaluations)  # never got that far
    assert not Lake(str(xl_home / "lake")).exists("gold", "banner_daily_kpis", KEYS)


def test_the_registry_of_the_day_before_lets_a_first_day_with_a_missing_catalog_through(warned):
    """As the demo does: the day before's catalog is harvested alone first (registry job), so the first day,
    whose catalog never arrived, keeps the cameras registered the night before, and its polls land."""
    home, outcome, said = warned
    assert outcome.ok
    assert any(line.startswith(f"registries of {BEFORE} (the day before) harvested") for line in said)
    lake, keys = Lake(str(home / "lake")), {"date": DAY.isoformat(), "banner": FIRST}
    assert lake.read("silver", "cameras", keys)["channel_id"].sort().to_list() == sorted(FIRST_CAMERAS)
    assert lake.count("quarantine", "status_polls", keys) == 0
    assert lake.count("bronze", "status_polls", keys) == 3 * 288
    assert not lake.exists("silver", "status_intervals", {"date": BEFORE.isoformat(), "banner": FIRST})  # registry only


def test_each_banner_day_is_harvested_once_its_files_have_landed(xl_home):
    """As the demo harvests while it simulates: materialize asks for each banner-day's files before its run (here
    they are written only when asked), and for everything before it looks for the case exports."""
    landing, asked, said = xl_home / "landing", [], []

    class Arriving:
        def banner_day(self, day, banner):
            asked.append((day, banner))
            land_banner(landing, banner, CAMERAS)

        def complete(self):
            asked.append(("complete", len(said)))

    outcome = materialize([DAY], [BANNER], get_settings(), say=said.append, case_months=["2026-11"], arrivals=Arriving())
    assert outcome.ok and asked == [(DAY, BANNER), ("complete", 0)]
    assert Lake(str(xl_home / "lake")).read("gold", "banner_daily_kpis", KEYS)["online_rate"].item() == 1.0
    assert said[0].startswith("2026-11: no case export")  # looked for once everything had landed


def test_the_city_day_waits_for_all_nine_banners(warned):
    home, outcome, said = warned
    assert outcome.ok
    assert any("city" in line and "waiting for banner(s) 150521" in line for line in said)
    assert not Lake(str(home / "lake")).exists("gold", "city_daily_kpis", {"date": DAY.isoformat()})


def test_freshness_names_the_banners_missing_at_the_deadline(xl_home):
    lake = Lake(str(xl_home / "lake"))
    due = gates.due_day(dt.datetime.now(LOCAL_TZ), checks.deadline("bronze.status_polls"))
    for code in ["150502", "150521", "150522", "150523", "150524", "150525", "150526", "150571"]:  # not 150581
        lake.write("bronze", "status_polls", {"date": due.isoformat(), "banner": code}, pl.DataFrame({"x": [1]}))
    outcome = check_freshness(get_settings())
    assert outcome.checks[("bronze.status_polls", "yesterday_on_time", "WARN")] == 1
    assert outcome.checks[("bronze.catalog_items", "yesterday_on_time", "WARN")] == 1
    stored = json.loads((xl_home / "reports/quality/results/bronze.status_polls/yesterday_on_time"
                         / f"{due}.json").read_text())
    assert stored["description"].endswith("8 of 9 banners landed by 06:00; missing 150581")


def test_the_report_shows_the_latest_results_offline(warned):
    home, _, _ = warned  # 40 lines malformed
    page = (home / "reports" / "quality" / "index.html").read_text(encoding="utf-8")
    assert "bronze.status_polls" in page and "silver.cameras" in page
    assert "malformed_line</b> × 40" in page and "rejected_share" in page
    assert "<script" not in page and "http" not in page  # nothing to load: it opens offline


def test_every_quarantine_suite_allows_exactly_the_reasons_the_yaml_explains():
    for source, reasons in gates.quarantine_reasons().items():
        suite = gates.load_suite(f"quarantine.{source}")
        allowed = [e["kwargs"]["value_set"] for e in suite["expectations"] if e["kwargs"].get("column") == "reason"
                   and "value_set" in e["kwargs"]]
        assert allowed == [list(reasons)], source
