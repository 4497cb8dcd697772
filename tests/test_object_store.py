"""A lake on an object store, read by DuckDB through the lake's fsspec filesystem (no httpfs, never fetched).

fsspec's in-memory filesystem stands in for S3 here (service-free); the real S3 server is in
tests_distributed/ (`make test-distributed`).
"""

from __future__ import annotations

import uuid

import duckdb
import polars as pl
import pytest

from xl_pipelines.lake import Lake, connect
from xl_pipelines.warehouse import connect_readonly, refresh_views, view_sql


@pytest.fixture()
def lake() -> Lake:
    lake = Lake(f"memory://xl-{uuid.uuid4().hex}/lake")
    lake.write("gold", "kpis", {"date": "2026-11-20", "banner": "150502"}, pl.DataFrame({"code": ["150502"], "n": [3]}))
    lake.write("gold", "kpis", {"date": "2026-11-21", "banner": "150521"}, pl.DataFrame({"code": ["150521"], "n": [4]}))
    return lake


def test_no_connection_installs_or_loads_an_extension_on_demand():
    with connect() as con:
        settings = con.execute("SELECT current_setting('autoinstall_known_extensions'), "
                               "current_setting('autoload_known_extensions')").fetchall()
    assert settings == [(False, False)]


def test_duckdb_reads_the_object_store_lake_through_its_registered_filesystem(lake):
    sql = view_sql(lake, "gold", "kpis") + " ORDER BY date"
    with duckdb.connect(config={"autoinstall_known_extensions": False}) as plain:
        with pytest.raises(duckdb.Error):  # a bare connection cannot reach memory:// (nor s3:// without httpfs)
            plain.sql(sql).fetchall()
    with lake.connect() as con:
        rows = con.sql(sql).fetchall()
    assert [(str(d), code, n) for d, code, n in rows] == [("2026-11-20", "150502", 3), ("2026-11-21", "150521", 4)]


def test_analysts_locked_connection_reaches_views_over_the_object_store(lake, tmp_path):
    refresh_views(lake, tmp_path / "xl.duckdb")
    with connect_readonly(tmp_path / "xl.duckdb") as con:
        assert con.execute("SELECT sum(n) FROM gold.kpis").fetchall() == [(7,)]
        with pytest.raises(duckdb.Error, match="lock"):  # still locked: no setting changes after registering
            con.execute("SET autoinstall_known_extensions = true")


def test_a_scratch_connection_reaches_the_object_store_lake_and_fetches_no_extension(lake):
    sql = view_sql(lake, "gold", "kpis") + " ORDER BY date"
    with lake.scratch() as con:
        rows = con.sql(sql).fetchall()
        settings = con.execute("SELECT current_setting('autoinstall_known_extensions'), "
                               "current_setting('autoload_known_extensions')").fetchall()
    assert [(str(d), code, n) for d, code, n in rows] == [("2026-11-20", "150502", 3), ("2026-11-21", "150521", 4)]
    assert settings == [(False, False)]


def test_a_scratch_connection_reaches_its_own_store_when_another_holds_the_protocol_name(lake, monkeypatch):
    with lake.scratch():  # the process's instance made
        pass
    from xl_pipelines import lake as lake_module

    _, registered = lake_module._SHARED[next(iter(lake_module._SHARED))]
    monkeypatch.setitem(registered, "memory", object())  # as if another memory filesystem were registered first
    with lake.scratch() as con:
        assert con.sql(view_sql(lake, "gold", "kpis")).fetchall() != []
        assert con.execute("SELECT current_database()").fetchone() == ("memory",)  # a connection of its own


@pytest.mark.parametrize("url", ["s3://xl-proof/lake", "memory://xl/lake", "/srv/xl/lake"])
def test_a_table_not_partitioned_lies_directly_in_its_folder_on_every_store(url):
    """S3 keeps an empty path part as `//`: gold/camera_faults//part-0.parquet was another object than the one the
    warehouse and the worklist read (the distributed run failed on it). No server: paths only."""
    lake = Lake(url)
    assert str(lake.partition_path("gold", "camera_faults", {})) == f"{url}/gold/camera_faults/part-0.parquet"
    assert str(lake.partition_path("gold", "kpis", {"date": "2026-11-20"})) == f"{url}/gold/kpis/date=2026-11-20/part-0.parquet"
