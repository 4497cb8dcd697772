"""Gold tables as plain DuckDB SQL files in `dbt_like_sql/`, one per table.

A model's leading comment is its description; a `-- partitions: day` or `-- partitions: day, banner` line
says how it is partitioned; a `-- checks: alert_levels` line adds the check of its rates against the
alert levels of quality/thresholds.yaml. Its inputs are the `layer.table` names it reads, found with sqlglot (CTE names
are not inputs). It runs in an in-memory DuckDB where each input is a view over just the partitions in
scope, plus `context.banner_days` (date, code, banner names), `context.banners` (all nine) and
`context.limits` (one row: the `limits` of quality/thresholds.yaml).
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from pathlib import Path

import duckdb
import polars as pl
import sqlglot
from sqlglot import exp

from xl_pipelines.banners import BannerConfig
from xl_pipelines.lake import LAYERS, Lake
from xl_pipelines.quality import load_thresholds
from xl_pipelines.warehouse import view_sql

MODELS_DIR = Path(__file__).resolve().parent.parent / "dbt_like_sql"
PARTITIONS_LINE = re.compile(r"^--\s*partitions:\s*(?P<dims>[\w ,]+)$")
CHECKS_LINE = re.compile(r"^--\s*checks:\s*(?P<checks>[\w ,]+)$")


@dataclass(frozen=True)
class SqlModel:
    name: str
    sql: str
    description: str
    dimensions: tuple[str, ...]  # ("date", "banner") or ("date",)
    inputs: tuple[tuple[str, str], ...]  # (layer, table) pairs it reads from the lake
    checks: tuple[str, ...] = ()  # named checks on its result, e.g. ("alert_levels",)


def model_inputs(sql: str) -> tuple[tuple[str, str], ...]:
    """The lake tables a query reads: qualified table references that are not its own CTEs."""
    tree = sqlglot.parse_one(sql, read="duckdb")
    ctes = {cte.alias_or_name for cte in tree.find_all(exp.CTE)}
    found = {
        (table.db, table.name)
        for table in tree.find_all(exp.Table)
        if table.db in LAYERS and table.name not in ctes
    }
    return tuple(sorted(found))


def parse_model(path: Path) -> SqlModel:
    sql = path.read_text(encoding="utf-8")
    description, dimensions, checks = [], ("date", "banner"), ()
    for line in sql.splitlines():
        if not line.startswith("--"):
            break
        if match := PARTITIONS_LINE.match(line.strip()):
            dimensions = tuple("date" if d.strip() == "day" else d.strip() for d in match["dims"].split(","))
        elif match := CHECKS_LINE.match(line.strip()):
            checks = tuple(c.strip() for c in match["checks"].split(","))
        else:
            description.append(line.removeprefix("--").strip())
    return SqlModel(path.stem, sql, " ".join(description), dimensions, model_inputs(sql), checks)


def load_models(directory: Path = MODELS_DIR) -> list[SqlModel]:
    return [parse_model(p) for p in sorted(directory.glob("*.sql"))]


def missing_inputs(
    model: SqlModel, lake: Lake, keys: dict[str, str], banners: BannerConfig
) -> list[tuple[str, str]]:
    """For a city-wide (day) model, the (layer.table, banner) partitions of its day that its inputs lack.

    A city figure is never built over fewer than nine banners: a banner whose harvest was blocked by a
    check, or has not run, leaves its partition missing, and the model waits for it.
    """
    if "banner" in keys:
        return []
    return [(f"{layer}.{table}", code) for layer, table in model.inputs for code in banners.codes
            if not lake.exists(layer, table, {**keys, "banner": code})]


def run_model(model: SqlModel, lake: Lake, keys: dict[str, str], banners: BannerConfig) -> pl.DataFrame:
    """Run one model for one partition (`keys`: {'date': …} or {'date': …, 'banner': …})."""
    codes = [keys["banner"]] if "banner" in keys else banners.codes
    day = dt.date.fromisoformat(keys["date"])
    scope = pl.DataFrame(
        [{"date": day, "code": b.code, "banner_name": b.name_en, "banner_name_zh": b.name_zh}
         for b in banners.banners if b.code in codes]
    )
    every = pl.DataFrame([{"code": b.code, "name_en": b.name_en, "name_zh": b.name_zh} for b in banners.banners])
    limits = pl.DataFrame([load_thresholds().limits])
    with duckdb.connect() as con:
        con.execute("CREATE SCHEMA context")
        for name, frame in (("banner_days", scope), ("banners", every), ("limits", limits)):
            con.register(f"{name}_frame", frame)
            con.execute(f"CREATE TABLE context.{name} AS SELECT * FROM {name}_frame")
        for layer in {layer for layer, _ in model.inputs}:
            con.execute(f"CREATE SCHEMA IF NOT EXISTS {layer}")
        for layer, table in model.inputs:
            con.execute(f'CREATE VIEW {layer}."{table}" AS {view_sql(lake, layer, table, keys)}')
        return con.sql(model.sql).pl()
