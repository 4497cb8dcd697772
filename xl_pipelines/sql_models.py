"""Gold tables as plain DuckDB SQL files in `dbt_like_sql/`, one per table.

A model's leading comment is its description; a `-- partitions: day`, `-- partitions: day, banner` or
`-- partitions: month` line says how it is partitioned; a `-- checks: alert_levels` line adds the check of its rates against the
alert levels of quality/indicators.yaml. Its inputs are the `layer.table` names it reads, found with sqlglot (CTE names
are not inputs). It runs in an in-memory DuckDB where each input is a view over just the partitions in
scope (a month model sees the days of its month), plus `context.banner_days` (date, code, banner names;
every day of the month for a month model), `context.banners` (all nine), `context.limits` (one row: the
`limits` of quality/thresholds.yaml), `context.indicators` (the registry, quality/indicators.yaml: indicator,
zh, en, unit, target, alert), `context.school_zones` and `context.school_hours` (xl_pipelines/school_zones.yaml)
and `context.image_faults` (the twelve image-fault kinds in order, with their names: image_faults.FAULT_NAMES).

Figures are summed one way everywhere: a model gathers rows of gold.banner_daily_indicators into a list
`figures` of {indicator, numerator, denominator} per group (a banner-day, a city day, a banner's month), and
`rate_of(figures, name)` (Σ numerator / Σ denominator), `change_of` (that − 1), `numerator_of`,
`denominator_of` and `count_of` (Σ numerator) read one indicator from it. A model naming an indicator the
registry lacks is refused when loaded.
A model with `-- partitions: none` is one file, rebuilt from the whole history of its inputs each time (fault
episodes span days and months), with no banner-day in scope.

A banner-day model may also read a table as it stood on the same weekday a week before, as
`<layer>_week_before.<table>` (e.g. `silver_week_before.captures`), beside the table itself; when that
partition was never materialised the view is empty and `context.week_before.available` is false.
"""

from __future__ import annotations

import datetime as dt
import functools
import re
from dataclasses import dataclass
from pathlib import Path

import polars as pl
import sqlglot
from sqlglot import exp

from xl_pipelines.banners import BannerConfig
from xl_pipelines.gates import load_thresholds
from xl_pipelines.image_faults import FAULT_NAMES
from xl_pipelines.indicators import as_frame, load_indicators
from xl_pipelines.lake import LAYERS, Lake
from xl_pipelines.partitions import month_days
from xl_pipelines.school_zones import school_hours, school_zones
from xl_pipelines.settings import LOCAL_TZ
from xl_pipelines.warehouse import sql_literal, view_sql

MODELS_DIR = Path(__file__).resolve().parent.parent / "dbt_like_sql"
PARTITIONS_LINE = re.compile(r"^--\s*partitions:\s*(?P<dims>[\w ,]+)$")
CHECKS_LINE = re.compile(r"^--\s*checks:\s*(?P<checks>[\w ,]+)$")
NAMED_INDICATOR = re.compile(r"\b(?:rate|change|numerator|denominator|count)_of\(\s*[\w.]+\s*,\s*'(?P<name>\w+)'")
# The one way a group's figures are summed (see the module's docstring).
MACROS = (
    "numerator_of(figures, name) AS list_sum([f.numerator FOR f IN figures IF f.indicator = name])::BIGINT",
    "denominator_of(figures, name) AS list_sum([f.denominator FOR f IN figures IF f.indicator = name])::BIGINT",
    "count_of(figures, name) AS numerator_of(figures, name)",
    "rate_of(figures, name) AS numerator_of(figures, name) / nullif(denominator_of(figures, name), 0)",
    "change_of(figures, name) AS rate_of(figures, name) - 1",
)


@dataclass(frozen=True)
class SqlModel:
    name: str
    sql: str
    description: str
    dimensions: tuple[str, ...]  # ("date", "banner"), ("date",), ("month",) or () (not partitioned)
    inputs: tuple[tuple[str, str], ...]  # (layer, table) pairs it reads from the lake
    checks: tuple[str, ...] = ()  # named checks on its result, e.g. ("alert_levels",)
    week_before: tuple[tuple[str, str], ...] = ()  # inputs also read as of the same weekday a week before


WEEK_BEFORE = "_week_before"


@functools.cache
def parsed(sql: str) -> exp.Expression:
    """A model's syntax tree, parsed once a process (its inputs, week-before inputs and documented columns all
    read it; parsing is most of the code location's import otherwise). Read it, never change it."""
    return sqlglot.parse_one(sql, read="duckdb")


def model_inputs(sql: str, suffix: str = "") -> tuple[tuple[str, str], ...]:
    """The lake tables a query reads: qualified table references that are not its own CTEs (with `suffix`:
    the tables it reads under `<layer><suffix>`, e.g. as of a week before)."""
    tree = parsed(sql)
    ctes = {cte.alias_or_name for cte in tree.find_all(exp.CTE)}
    found = {
        (table.db.removesuffix(suffix), table.name)
        for table in tree.find_all(exp.Table)
        if table.db in {layer + suffix for layer in LAYERS} and table.name not in ctes
    }
    return tuple(sorted(found))


def parse_model(path: Path) -> SqlModel:
    sql = path.read_text(encoding="utf-8")
    description, dimensions, checks = [], ("date", "banner"), ()
    for line in sql.splitlines():
        if not line.startswith("--"):
            break
        if match := PARTITIONS_LINE.match(line.strip()):
            dimensions = tuple("date" if d.strip() == "day" else d.strip() for d in match["dims"].split(",")
                               if d.strip() != "none")
        elif match := CHECKS_LINE.match(line.strip()):
            checks = tuple(c.strip() for c in match["checks"].split(","))
        else:
            description.append(line.removeprefix("--").strip())
    if dimensions not in {("date", "banner"), ("date",), ("month",), ()}:
        raise ValueError(f"{path.name}: partitions must be 'day, banner', 'day', 'month' or 'none', "
                         f"not {', '.join(dimensions)}")
    if unknown := sorted({m["name"] for m in NAMED_INDICATOR.finditer(sql)} - set(load_indicators())):
        raise ValueError(f"{path.name}: no indicator {', '.join(unknown)} in quality/indicators.yaml")
    inputs, week_before = model_inputs(sql), model_inputs(sql, WEEK_BEFORE)
    if set(week_before) - set(inputs) or (week_before and dimensions != ("date", "banner")):
        raise ValueError(f"{path.name}: a table read as of a week before must also be read as of the day, "
                         "in a day-and-banner model")
    return SqlModel(path.stem, sql, " ".join(description), dimensions, inputs, checks, week_before)


def load_models(directory: Path = MODELS_DIR) -> list[SqlModel]:
    return [parse_model(p) for p in sorted(directory.glob("*.sql"))]


def _input_view(lake: Lake, layer: str, table: str, keys: dict[str, str]) -> str:
    """The view of one input in scope: the partition itself, or for a month the days of that month."""
    if "month" in keys and "month" not in lake.partition_columns(layer, table):
        days = month_days(keys["month"])
        span = f"date BETWEEN {sql_literal(str(days[0]))} AND {sql_literal(str(days[-1]))}"
        return f"SELECT * FROM ({view_sql(lake, layer, table)}) WHERE {span}"
    return view_sql(lake, layer, table, keys)


def run_model(model: SqlModel, lake: Lake, keys: dict[str, str], banners: BannerConfig) -> pl.DataFrame:
    """Run one model for one partition (`keys`: {'date': …}, {'date': …, 'banner': …}, {'month': …}, or {}
    for a model not partitioned, which reads its inputs whole and has no banner-days in scope)."""
    codes = [keys["banner"]] if "banner" in keys else banners.codes
    days = (month_days(keys["month"]) if "month" in keys else [dt.date.fromisoformat(keys["date"])] if keys
            else [])
    scope = pl.DataFrame(
        [{"date": day, "code": b.code, "banner_name": b.name_en, "banner_name_zh": b.name_zh}
         for day in days for b in banners.banners if b.code in codes],
        schema={"date": pl.Date, "code": pl.String, "banner_name": pl.String, "banner_name_zh": pl.String},
    )
    every = pl.DataFrame([{"code": b.code, "name_en": b.name_en, "name_zh": b.name_zh} for b in banners.banners])
    thresholds = load_thresholds()
    limits = pl.DataFrame([thresholds.limits])
    week_ago = days[0] - dt.timedelta(days=7) if days else None  # none for a model of all history
    earlier = {**keys, "date": str(week_ago)}
    available = all(lake.exists(layer, table, earlier) for layer, table in model.week_before)
    week_before = pl.DataFrame({"date": [week_ago], "available": [available]}, schema={"date": pl.Date, "available": pl.Boolean})
    image_faults = pl.DataFrame([{"position": i, "kind": kind, "name_zh": zh, "name_en": en}
                                 for i, (kind, (zh, en)) in enumerate(FAULT_NAMES.items())])
    context = {"banner_days": scope, "banners": every, "limits": limits, "indicators": as_frame(),
               "week_before": week_before, "school_zones": school_zones(), "school_hours": school_hours(),
               "image_faults": image_faults}
    with lake.scratch() as con:  # its schemas, tables and views its own: 1 CPU ms, not a new database's 15
        con.execute(f"SET TimeZone = {sql_literal(str(LOCAL_TZ))}")  # local days and hours, as DOMAIN.md counts them
        con.execute("CREATE SCHEMA context")
        for macro in MACROS:
            con.execute(f"CREATE MACRO {macro}")
        for name, frame in context.items():
            con.register(f"{name}_frame", frame)
            con.execute(f"CREATE TABLE context.{name} AS SELECT * FROM {name}_frame")
        for layer in {layer for layer, _ in model.inputs}:
            con.execute(f"CREATE SCHEMA IF NOT EXISTS {layer}")
        for layer, table in model.inputs:
            con.execute(f'CREATE VIEW {layer}."{table}" AS {_input_view(lake, layer, table, keys)}')
        for layer, table in model.week_before:
            con.execute(f"CREATE SCHEMA IF NOT EXISTS {layer}{WEEK_BEFORE}")
            source = view_sql(lake, layer, table, earlier) if available else f'SELECT * FROM {layer}."{table}" WHERE false'
            con.execute(f'CREATE VIEW {layer}{WEEK_BEFORE}."{table}" AS {source}')
        return con.sql(model.sql).pl()
