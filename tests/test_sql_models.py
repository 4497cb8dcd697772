"""SQL model inputs are found by a real parser: joins, CTEs, subqueries; CTE names are not inputs. Each
indicator of the registry has its formula once, and models name only registered indicators."""

import re

import pytest

from xl_pipelines.indicators import load_indicators
from xl_pipelines.settings import ConfigError
from xl_pipelines.sql_models import MODELS_DIR, load_models, model_inputs, parse_model


def test_joins_ctes_and_subqueries():
    sql = """
    WITH recent AS (SELECT * FROM silver.status_intervals WHERE state = 'online'),
         cams AS (SELECT c.* FROM silver.cameras c JOIN bronze.catalog_items i ON i.device_id = c.channel_id)
    SELECT * FROM recent
    JOIN cams USING (channel_id)
    WHERE channel_id IN (SELECT channel_id FROM gold.camera_daily_health WHERE flaps > 3)
      AND code NOT IN (SELECT code FROM context.banners)
    """
    assert model_inputs(sql) == (
        ("bronze", "catalog_items"), ("gold", "camera_daily_health"), ("silver", "cameras"), ("silver", "status_intervals"))


def test_a_cte_shadowing_a_table_name_is_not_an_input():
    assert model_inputs("WITH cameras AS (SELECT 1 AS x) SELECT * FROM cameras") == ()


def test_leading_comment_is_description_and_partitions_line_is_read(tmp_path):
    path = tmp_path / "m.sql"
    path.write_text("-- Cameras per day\n-- for the city.\n-- partitions: day\nSELECT 1 FROM gold.x\n")
    model = parse_model(path)
    assert (model.name, model.description, model.dimensions, model.inputs) == (
        "m", "Cameras per day for the city.", ("date",), (("gold", "x"),))


def test_shipped_models_form_the_expected_chain():
    models = {m.name: m for m in load_models()}
    assert models["banner_daily_indicators"].inputs == (
        ("bronze", "device_status"), ("gold", "camera_daily_health"), ("gold", "capture_daily"), ("quarantine", "catalog"),
        ("silver", "cameras"))
    assert models["banner_daily_kpis"].inputs == (("gold", "banner_daily_indicators"),)
    assert models["capture_daily"].inputs == (("quarantine", "captures"), ("silver", "cameras"), ("silver", "captures"),
                                              ("silver", "keepalive_intervals"))
    assert models["capture_daily"].week_before == (("silver", "captures"),)
    assert models["road_traffic_hourly"].inputs == (("silver", "captures"),)
    assert models["camera_daily_health"].inputs == (
        ("bronze", "device_status"), ("silver", "cameras"), ("silver", "image_diagnosis"),
        ("silver", "recording_coverage"), ("silver", "status_intervals"))
    assert models["city_daily_kpis"].inputs == (("gold", "banner_daily_indicators"),)
    assert models["city_daily_kpis"].dimensions == ("date",)
    assert models["banner_daily_kpis"].checks == models["city_daily_kpis"].checks == ("alert_levels",)
    assert models["camera_daily_health"].checks == ()
    assert models["school_zone_availability"].inputs == (("silver", "cameras"), ("silver", "status_intervals"))
    assert models["case_assistance_monthly"].inputs == (("silver", "cases"),)
    assert models["banner_monthly_kpis"].inputs == (("gold", "banner_daily_indicators"),)
    assert models["camera_monthly_health"].inputs == models["image_fault_monthly"].inputs == (
        ("gold", "camera_daily_health"),)
    assert {name for name, m in models.items() if m.dimensions == ("month",)} == {
        "case_assistance_monthly", "banner_monthly_kpis", "camera_monthly_health", "image_fault_monthly"}


def test_partitions_must_be_a_known_kind(tmp_path):
    path = tmp_path / "m.sql"
    path.write_text("-- A model by week.\n-- partitions: week\nSELECT 1 FROM gold.x\n")
    with pytest.raises(ValueError, match="partitions must be 'day, banner', 'day', 'month' or 'none', not week"):
        parse_model(path)


def test_every_registered_indicator_has_its_formula_once():
    sql = (MODELS_DIR / "banner_daily_indicators.sql").read_text(encoding="utf-8")
    formulas = re.findall(r"^    \('(\w+)', ", sql, flags=re.MULTILINE)
    assert sorted(formulas) == sorted(load_indicators()) and len(formulas) == len(set(formulas)) == 18


def test_a_model_naming_an_unregistered_indicator_is_refused(tmp_path):
    path = tmp_path / "m.sql"
    path.write_text("-- A typo.\n-- partitions: day\nSELECT rate_of(figures, 'online_rates') AS r FROM gold.x\n")
    with pytest.raises(ValueError, match="m.sql: no indicator online_rates in quality/indicators.yaml"):
        parse_model(path)


@pytest.mark.parametrize(("text", "message"), [
    ("online_rate: {zh: 在线率, en: online rate, unit: percent}", "online_rate.unit must be one of rate, change, count"),
    ("online_rate: {zh: 在线率, en: online rate, unit: rate, target: 0.99}", "needs both target and alert"),
    ("captures: {zh: 抓拍量, en: captures, unit: count, target: 1, alert: 1}", "only a rate has them"),
    ("online_rate: {zh: 在线率, en: online rate, unit: rate, target: 0.9, alert: 0.95}", "0 <= alert <= target <= 1"),
    ("online_rate: {zh: 在线率, unit: rate}", "cannot read the indicators"),
    ("- online_rate", "cannot read the indicators"),
])
def test_a_malformed_registry_is_one_clear_error(tmp_path, text, message):
    path = tmp_path / "indicators.yaml"
    path.write_text(text + "\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=re.escape(message)):
        load_indicators(path)


def test_inputs_are_read_as_the_assets_making_them_are_partitioned(tmp_path):
    """Partitioning comes from each input's asset: a harvested table by banner-day, the case table by month, a
    model's by its own line; an input no asset makes is an error. A city day waits for every banner of its
    inputs' banner dimension; a month only for an input with nothing in the month."""
    import dagster as dg
    import polars as pl

    from assets import gold
    from xl_pipelines.lake import Lake
    from xl_pipelines.partitions import ALL_BANNERS_OF_DAY, BANNER, BANNER_DAY, DAY, MONTH, lake_keys

    assert (gold.partitions_of("bronze", "status_polls"), gold.partitions_of("silver", "cases"),
            gold.partitions_of("gold", "city_daily_kpis")) == (BANNER_DAY, MONTH, DAY)
    with pytest.raises(ValueError, match="no asset makes silver.nothing"):
        gold.partitions_of("silver", "nothing")
    city = next(a for a in gold.DAY_ASSETS if a.key == dg.AssetKey(["gold", "city_daily_kpis"]))
    assert city.get_partition_mapping(dg.AssetKey(["gold", "banner_daily_indicators"])) == ALL_BANNERS_OF_DAY
    assert (lake_keys(MONTH, "2026-11"), lake_keys(DAY, "2026-11-20"),
            lake_keys(BANNER_DAY, dg.MultiPartitionKey({"date": "2026-11-20", "banner": "150502"}))) == (
        {"month": "2026-11"}, {"date": "2026-11-20"}, {"date": "2026-11-20", "banner": "150502"})
    lake, models = Lake(str(tmp_path)), {m.name: m for m in load_models()}
    banners = BANNER.get_partition_keys()
    for code in banners[:-1]:
        lake.write("gold", "banner_daily_indicators", {"date": "2026-11-20", "banner": code},
                   pl.DataFrame({"code": [code], "indicator": ["cameras"], "numerator": [1], "denominator": [None]}))
    assert gold.missing_inputs(models["city_daily_kpis"], lake, {"date": "2026-11-20"}) == [
        ("gold.banner_daily_indicators", banners[-1])]
    assert gold.missing_inputs(models["banner_monthly_kpis"], lake, {"month": "2026-11"}) == []
    assert gold.missing_inputs(models["banner_monthly_kpis"], lake, {"month": "2026-12"}) == [
        ("gold.banner_daily_indicators", "all")]
