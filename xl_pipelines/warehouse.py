"""`xl.duckdb`: views (only views) over every lake table, and the read-only door analysts use.

The file is rebuilt beside and swapped in, so a refresh never waits on, or breaks, a reader holding the
old file open, and nothing but the refresh ever opens it read-write.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Mapping
from pathlib import Path

import duckdb

from xl_pipelines.lake import LAYERS, Lake
from xl_pipelines.settings import LOCAL_TZ

HIVE_TYPES = {"date": "DATE", "month": "VARCHAR", "banner": "VARCHAR"}


def view_sql(lake: Lake, layer: str, table: str, only: Mapping[str, str] | None = None) -> str:
    """SELECT over one table's Parquet files, optionally `only` some partition values.

    Partition columns come from the path; `banner` is left out since every row carries it as `code`.
    """
    keys = lake.partition_columns(layer, table)
    only = only or {}
    glob = "/".join([str(lake.table_path(layer, table)), *(f"{k}={only.get(k, '*')}" for k in keys), "*.parquet"])
    types = ", ".join(f"'{k}': {HIVE_TYPES.get(k, 'VARCHAR')}" for k in keys)
    leading = [k for k in keys if k != "banner"]
    select = ", ".join([*leading, f"* EXCLUDE ({', '.join(keys)})"]) if keys else "*"
    options = f", hive_partitioning = true, hive_types = {{{types}}}" if keys else ""
    return f"SELECT {select} FROM read_parquet('{glob}', union_by_name = true{options})"


def refresh_views(lake: Lake, path: Path) -> list[str]:
    """Write a fresh DuckDB file at `path` with one view per lake table; return the view names."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    names = []
    try:
        with duckdb.connect(str(tmp)) as con:
            for layer in LAYERS:
                con.execute(f"CREATE SCHEMA IF NOT EXISTS {layer}")
            for layer, table in lake.tables():
                con.execute(f'CREATE OR REPLACE VIEW {layer}."{table}" AS {view_sql(lake, layer, table)}')
                names.append(f"{layer}.{table}")
        os.replace(tmp, path)
    finally:
        for leftover in (tmp, tmp.with_name(tmp.name + ".wal")):
            if leftover.exists():
                leftover.unlink()
    return names


def connect_readonly(path: Path) -> duckdb.DuckDBPyConnection:
    """A read-only connection to the views, showing times in local time (Asia/Shanghai, as DOMAIN.md counts
    days and hours); a clear error if they have not been built yet."""
    if not path.exists():
        raise FileNotFoundError(f"{path} does not exist yet: run `xl materialize` (or `make demo`) first")
    con = duckdb.connect(str(path), read_only=True)
    con.execute(f"SET TimeZone = '{LOCAL_TZ}'")
    return con
