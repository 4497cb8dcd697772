"""`xl.duckdb`: views (only views) over every lake table, one file per banner with its share, and the
read-only door analysts use.

Each file is rebuilt beside and swapped in, so a refresh never waits on, or breaks, a reader holding the
old file open, and nothing but the refresh ever opens one read-write.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import duckdb

from xl_pipelines.analyst_sql import nodes, parse_tree
from xl_pipelines.banners import load_banners
from xl_pipelines.lake import LAYERS, Lake, connect, reach, written_beside
from xl_pipelines.settings import LOCAL_TZ, ConfigError

GLOB_CHARACTERS = "*?["
HIVE_TYPES = {"date": "DATE", "month": "VARCHAR", "banner": "VARCHAR"}


def _glob(lake: Lake, layer: str, table: str, keys: list[str], only: Mapping[str, str]) -> str:
    path = str(lake.table_path(layer, table))
    if any(c in path for c in GLOB_CHARACTERS):  # DuckDB would read them as a pattern: no file, or others' files
        raise ConfigError(f"the lake path {path} has a character DuckDB reads as a file pattern "
                          f"({' '.join(GLOB_CHARACTERS)}): choose an XL_HOME (or XL_LAKE_URL) without them")
    return "/".join([path, *(f"{k}={only.get(k, '*')}" for k in keys), "*.parquet"])


def view_sql(lake: Lake, layer: str, table: str, only: Mapping[str, str] | None = None,
             keys: list[str] | None = None) -> str:
    """SELECT over one table's Parquet files, optionally `only` some partition values.

    Partition columns come from the path (`keys`, when the caller has listed them already); `banner` is left
    out since every row carries it as `code`.
    """
    keys = lake.partition_columns(layer, table) if keys is None else keys
    glob = _glob(lake, layer, table, keys, only or {})
    types = ", ".join(f"{sql_literal(k)}: {HIVE_TYPES.get(k, 'VARCHAR')}" for k in keys)
    leading = [k for k in keys if k != "banner"]
    select = ", ".join([*leading, f"* EXCLUDE ({', '.join(keys)})"]) if keys else "*"
    options = f", hive_partitioning = true, hive_types = {{{types}}}" if keys else ""
    return f"SELECT {select} FROM read_parquet({sql_literal(glob)}, union_by_name = true{options})"


def banner_path(warehouse: Path, code: str) -> Path:
    """The file of one banner's views: `banners/<code>.duckdb` beside the city's `xl.duckdb`."""
    return warehouse.parent / "banners" / f"{code}.duckdb"


def refresh_views(lake: Lake, path: Path) -> list[str]:
    """Write a fresh DuckDB file at `path` with one view per lake table, and one file per banner
    (`banner_path`) with the same views showing only that banner; return the view names.

    In a banner's file, tables partitioned by banner read only its partitions, tables with a `code` column
    keep its rows, and city-wide tables (neither, e.g. gold.city_daily_kpis) are shown whole: city figures
    are not confidential to any banner.
    """
    tables = {(layer, table): lake.partition_columns(layer, table) for layer, table in lake.tables()}
    with lake.connect() as con:  # one connection attaching each new file: far cheaper than one each
        with _swapped_in(con, path) as db:
            whole = {(layer, table): view_sql(lake, layer, table, keys=keys) for (layer, table), keys in tables.items()}
            for (layer, table), sql in whole.items():
                con.execute(f'CREATE OR REPLACE VIEW {db}.{layer}."{table}" AS {sql}')
            columns = {(layer, table): [] for layer, table in tables}
            for layer, table, name, type_ in con.execute(
                    "SELECT schema_name, table_name, column_name, data_type FROM duckdb_columns() "
                    "WHERE database_name = ? ORDER BY column_index", [db]).fetchall():
                columns[layer, table].append((name, type_))
            with_data = {(layer, table): _banners_with_data(con, _glob(lake, layer, table, keys, {}))
                         for (layer, table), keys in tables.items() if "banner" in keys}
        for code in load_banners().codes:
            with _swapped_in(con, banner_path(path, code)) as db:
                for (layer, table), keys in tables.items():
                    if "banner" in keys:
                        sql = (view_sql(lake, layer, table, {"banner": code}, keys) if code in with_data[layer, table]
                               else _no_rows(columns[layer, table]))
                    elif "code" in dict(columns[layer, table]):
                        sql = f"SELECT * FROM ({whole[layer, table]}) WHERE code = {sql_literal(code)}"
                    else:
                        sql = whole[layer, table]
                    con.execute(f'CREATE OR REPLACE VIEW {db}.{layer}."{table}" AS {sql}')
    return [f"{layer}.{table}" for layer, table in tables]


@contextmanager
def _swapped_in(con: duckdb.DuckDBPyConnection, path: Path) -> Iterator[str]:
    """Attach a new DuckDB file (with the lake's schemas) to `con` and yield its catalog name; it replaces
    `path` when the block ends without error, and on error `path` stays as it was."""
    with written_beside(path) as tmp:
        con.execute(f"ATTACH {sql_literal(str(tmp))} AS fresh")
        con.execute("BEGIN")  # one commit per file, not one per view: several times faster
        try:
            for layer in LAYERS:
                con.execute(f"CREATE SCHEMA IF NOT EXISTS fresh.{layer}")
            yield "fresh"
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise
        finally:
            con.execute("DETACH fresh")


def _banners_with_data(con: duckdb.DuckDBPyConnection, glob: str) -> set[str]:
    """Banner codes with at least one Parquet file under `glob` (one directory listing)."""
    files = con.execute("SELECT file FROM glob(?)", [glob]).fetchall()
    return {part.removeprefix("banner=") for (file,) in files for part in file.split("/")
            if part.startswith("banner=")}


def _no_rows(columns: list[tuple[str, str]]) -> str:
    """A SELECT with these (name, type) columns and no rows: a banner with no partition of the table yet."""
    return "SELECT " + ", ".join(f"CAST(NULL AS {type_}) AS {_identifier(name)}" for name, type_ in columns) + " LIMIT 0"


def connect_readonly(path: Path) -> duckdb.DuckDBPyConnection:
    """A read-only connection to the views, showing times in local time (Asia/Shanghai, as DOMAIN.md counts
    days and hours); a clear error if they have not been built yet.

    Locked down as a second guard behind xl sql's own check (analyst_sql): no file outside the table
    directories the views read (the landing zone keeps personal data in clear), no extension loading, no
    setting changed. Within those directories DuckDB would still let a query read another banner's
    partitions or COPY a file, so that check (which refuses every file read and every COPY) is the first guard. A lake on
    object storage keeps only the settings lock: DuckDB cannot reach it without external access.
    """
    if not path.exists():
        raise FileNotFoundError(f"{path} does not exist yet: run `xl materialize` (or `make demo`) first")
    con = connect(str(path), read_only=True)
    if con.execute("SELECT current_setting('lock_configuration')").fetchall()[0][0]:
        return con  # another connection to this file in this process shares its database, already locked
    con.execute(f"SET GLOBAL TimeZone = {sql_literal(str(LOCAL_TZ))}")  # global: a second connection shares this locked database
    directories = _view_directories(con)
    reach(con, directories)  # a lake on object storage: through its fsspec filesystem, before the lock
    if not any("://" in d for d in directories):
        con.execute(f"SET allowed_directories = [{', '.join(sql_literal(d) for d in directories)}]")
        con.execute("SET enable_external_access = false")
    con.execute("SET lock_configuration = true")
    return con


def _view_directories(con: duckdb.DuckDBPyConnection) -> list[str]:
    """The directories the views read: each read_parquet glob up to its first wildcard, from DuckDB's parse of
    the view definitions (`CREATE VIEW name AS query`)."""
    found = set()
    for (create,) in con.execute("SELECT sql FROM duckdb_views() WHERE NOT internal").fetchall():
        starts = [start for start, _ in duckdb.tokenize(create)]
        query = next(create[end:] for start, end in zip(starts, starts[1:])
                     if create[start:end].strip().upper() == "AS")
        for node in nodes(parse_tree(con, query)):
            if node.get("type") == "TABLE_FUNCTION" and node["function"]["function_name"] == "read_parquet":
                glob = node["function"]["arguments"][0]["expression"]["literal"]["text"]
                found.add(os.path.dirname(glob.split("*", 1)[0]))
    return sorted(found)


def sql_literal(text: str) -> str:
    """`text` as a DuckDB string literal (quotes doubled): for paths and values in SQL that is stored (a view's
    text) or cannot take parameters (SET, ATTACH), never spliced in bare. Elsewhere values go as parameters."""
    return "'" + text.replace("'", "''") + "'"


def _identifier(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'
