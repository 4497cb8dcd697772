"""The data dictionary is read from the models' own comments and tables.yaml, and the docs hold what it says.

(That every column of a real lake is in it, and nothing more, is checked in test_pipeline.py on its lake.)
"""

import pytest

from xl_pipelines import dictionary
from xl_pipelines.dictionary import DOCS_FILE, DictionaryError, load_dictionary, main, model_columns, render_markdown
from xl_pipelines.sql_models import parse_model

MODEL = """\
-- Cameras online per banner.
-- partitions: day, banner
WITH online AS (
    SELECT channel_id, sum(seconds) AS online_s  -- an inner comment, not an output column's
    FROM silver.status_intervals
    WHERE state = 'online'
    GROUP BY channel_id
)
SELECT
    cameras.code,  -- the banner
    cameras.channel_id AS camera,  -- the camera's channel ID
    coalesce(
        online.online_s,  -- a comment inside an expression
        0
    ) AS online_s,  -- seconds online
    (SELECT count(*) FROM silver.cameras) AS registered,  -- cameras registered
    CASE WHEN online.online_s > 0 THEN 'yes' END AS seen  -- online at all
FROM silver.cameras AS cameras
LEFT JOIN online USING (channel_id)
WHERE cameras.channel_id IN (SELECT channel_id FROM bronze.status_polls)
"""


def model(tmp_path, sql: str):
    path = tmp_path / "m.sql"
    path.write_text(sql, encoding="utf-8")
    return parse_model(path)


def test_the_docs_are_what_the_models_and_tables_yaml_say_now():
    assert DOCS_FILE.read_text(encoding="utf-8") == render_markdown(), "docs/data_dictionary.md is stale: run `make docs`"


def test_check_fails_on_stale_docs_with_the_command_to_run(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(dictionary, "ROOT", tmp_path)
    monkeypatch.setattr(dictionary, "DOCS_FILE", tmp_path / "docs" / "data_dictionary.md")
    assert main([]) == 0 and main(["--check"]) == 0
    dictionary.DOCS_FILE.write_text("# edited by hand\n", encoding="utf-8")
    capsys.readouterr()
    assert main(["--check"]) == 1
    message = capsys.readouterr().err
    assert "docs/data_dictionary.md is stale" in message and "run `make docs`" in message


def test_columns_are_the_outermost_select_items_with_their_trailing_comments(tmp_path):
    assert model_columns(model(tmp_path, MODEL)) == [
        ("code", "the banner"), ("camera", "the camera's channel ID"), ("online_s", "seconds online"),
        ("registered", "cameras registered"), ("seen", "online at all")]


@pytest.mark.parametrize(("select", "refused"), [
    ("SELECT code,  -- the banner\n    channel_id\nFROM silver.cameras", "output column channel_id needs one trailing"),
    ("SELECT *\nFROM silver.cameras", "list the columns"),
    ("SELECT cameras.* EXCLUDE (name),  -- all but the name\n    1 AS one  -- one\nFROM silver.cameras AS cameras",
     "list the columns"),
    ("SELECT count(*)  -- cameras\nFROM silver.cameras", "give it an alias"),
])
def test_an_undescribed_or_hidden_output_column_is_refused(tmp_path, select, refused):
    with pytest.raises(DictionaryError, match="m.sql: .*" + refused):
        model_columns(model(tmp_path, f"-- A model.\n{select}\n"))


def test_a_model_table_shows_its_partition_column_as_the_view_does(tmp_path):
    """road_traffic_hourly-like: no `date` in the SELECT, yet its view has one, from the lake path."""
    (empty := tmp_path / "tables.yaml").write_text("", encoding="utf-8")
    (table,) = load_dictionary([model(tmp_path, MODEL)], tables_file=empty)
    assert [name for name, _ in table.columns] == ["date", "code", "camera", "online_s", "registered", "seen"]


def test_the_shipped_dictionary_covers_every_layer_with_domain_names():
    tables = {t.qualified: t for t in load_dictionary()}
    assert {t.layer for t in tables.values()} == {"bronze", "silver", "gold", "quarantine"}
    assert dict(tables["gold.banner_daily_kpis"].columns)["online_rate"].startswith("online rate (在线率)")
