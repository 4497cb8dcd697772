"""SQL model inputs are found by a real parser: joins, CTEs, subqueries; CTE names are not inputs."""

import pytest

from xl_pipelines.sql_models import load_models, model_inputs, parse_model


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
    assert models["banner_daily_kpis"].inputs == (
        ("bronze", "device_status"), ("gold", "camera_daily_health"), ("gold", "capture_daily"), ("quarantine", "catalog"),
        ("silver", "cameras"))
    assert models["capture_daily"].inputs == (("quarantine", "captures"), ("silver", "cameras"), ("silver", "captures"))
    assert models["capture_daily"].week_before == (("silver", "captures"),)
    assert models["road_traffic_hourly"].inputs == (("silver", "captures"),)
    assert models["camera_daily_health"].inputs == (
        ("bronze", "device_status"), ("silver", "cameras"), ("silver", "image_diagnosis"),
        ("silver", "recording_coverage"), ("silver", "status_intervals"))
    assert models["city_daily_kpis"].inputs == (("gold", "banner_daily_kpis"),)
    assert models["city_daily_kpis"].dimensions == ("date",)
    assert models["banner_daily_kpis"].checks == models["city_daily_kpis"].checks == ("alert_levels",)
    assert models["camera_daily_health"].checks == ()
    assert models["school_zone_availability"].inputs == (("silver", "cameras"), ("silver", "status_intervals"))
    assert models["case_assistance_monthly"].inputs == (("silver", "cases"),)
    assert models["banner_monthly_kpis"].inputs == (("gold", "banner_daily_kpis"),)
    assert models["camera_monthly_health"].inputs == (("gold", "camera_daily_health"),)
    assert {name for name, m in models.items() if m.dimensions == ("month",)} == {
        "case_assistance_monthly", "banner_monthly_kpis", "camera_monthly_health"}


def test_partitions_must_be_a_known_kind(tmp_path):
    path = tmp_path / "m.sql"
    path.write_text("-- A model by week.\n-- partitions: week\nSELECT 1 FROM gold.x\n")
    with pytest.raises(ValueError, match="partitions must be 'day, banner', 'day', 'month' or 'none', not week"):
        parse_model(path)
