"""One asset per SQL model in dbt_like_sql/: its inputs become deps, its leading comment the description.

How a model reads each input follows from the partitions definitions: the model's own (its `-- partitions:`
line) and the asset that makes the input (a harvest, a refinement, or another model), never from names.
"""

import dagster as dg

from assets import automation, camera_health, captures, outcomes, receiver, recordings
from assets.lake_io import write_checked
from quality import checks
from xl_pipelines import gates, indicators
from xl_pipelines.banners import load_banners
from xl_pipelines.lake import Lake
from xl_pipelines.partitions import BANNER_DAY, DAY, MONTH, dependency_mapping, partition_keys, reads_every_banner
from xl_pipelines.resources import LakeResource, ReportsResource
from xl_pipelines.sql_models import SqlModel, load_models, run_model

PARTITIONS = {("date", "banner"): BANNER_DAY, ("date",): DAY, ("month",): MONTH, (): None}  # (): all history
MODELS = load_models()
MADE_BY_PYTHON = {tuple(key.path): a.partitions_def for module in (camera_health, recordings, captures, receiver, outcomes)
                  for a in module.ASSETS for key in a.keys}


MADE = {("gold", m.name): PARTITIONS[m.dimensions] for m in MODELS} | MADE_BY_PYTHON


def partitions_of(layer: str, table: str) -> dg.PartitionsDefinition | None:
    """The partitions definition of the asset that makes `layer.table` (a model's own for gold; None: all history)."""
    if (layer, table) not in MADE:
        raise ValueError(f"no asset makes {layer}.{table}, which a model in dbt_like_sql/ reads")
    return MADE[layer, table]


def missing_inputs(model: SqlModel, lake: Lake, keys: dict[str, str]) -> list[tuple[str, str]]:
    """The (layer.table, banner) partitions the model's partition `keys` waits for.

    A model reading every banner of an input (a city day) is never built over fewer than all of them: a banner
    whose harvest was blocked by a check, or has not run, leaves its partition missing, and the model waits. A
    month model is built over the days of its month that exist (a month under way is partial, and says how
    many days it covers), so it waits only for an input with nothing in the month (banner "all").
    """
    own = PARTITIONS[model.dimensions]
    if own is None:  # a model of all history needs only that each input has something
        return [(f"{layer}.{table}", "all") for layer, table in model.inputs
                if not lake.table_path(layer, table).exists()]
    if own == MONTH:
        return [(f"{layer}.{table}", "all") for layer, table in model.inputs
                if not _any_in_month(lake, layer, table, keys["month"])]
    return [(f"{layer}.{table}", code) for layer, table in model.inputs
            if reads_every_banner(own, upstream := partitions_of(layer, table))
            for code in upstream.get_partitions_def_for_dimension("banner").get_partition_keys()
            if not lake.exists(layer, table, {**keys, "banner": code})]


def _any_in_month(lake: Lake, layer: str, table: str, month: str) -> bool:
    """Whether `layer.table` holds the month itself (a month table), any day of it, or (a table of all history)
    anything."""
    partitions = partitions_of(layer, table)
    pattern = "*.parquet" if partitions is None else f"month={month}/*.parquet" if partitions == MONTH else f"date={month}-*"
    return next(iter(lake.table_path(layer, table).glob(pattern)), None) is not None


def _model_asset(model: SqlModel) -> dg.AssetsDefinition:
    key = dg.AssetKey(["gold", model.name])
    own = PARTITIONS[model.dimensions]
    alerts = "alert_levels" in model.checks
    check_specs = [dg.AssetCheckSpec("alert_levels", asset=key, description=(
        "A warning when a rate is under its alert level in quality/indicators.yaml."))] if alerts else []
    check_specs += checks.expectations(key, own)

    @dg.asset(
        key=key,
        description=model.description,
        deps=[dg.AssetDep(dg.AssetKey([layer, table]), partition_mapping=dependency_mapping(own, partitions_of(layer, table)))
              for layer, table in model.inputs],
        partitions_def=own,
        group_name="gold",
        kinds={"duckdb", "parquet"},
        # city days, months and history follow their inputs (a re-run banner-day updates the month under way too)
        automation_condition=None if own == BANNER_DAY else automation.CITY_DAY if own == DAY else automation.OVER_WHAT_EXISTS,
        check_specs=check_specs,
    )
    def _asset(context: dg.AssetExecutionContext, lake: LakeResource, reports: ReportsResource):
        keys = partition_keys(context) if context.has_partition_key else {}  # {}: a model of all history
        missing = missing_inputs(model, lake.lake, keys)
        if missing:
            raise dg.Failure(f"{model.name} {' '.join(keys.values())} not built: missing "
                             f"{', '.join(f'{table} {code}' for table, code in missing)} "
                             "(blocked by a check, or not materialised yet)")
        frame = run_model(model, lake.lake, keys, load_banners())
        # A one-row result (a banner-day's or the city's KPIs) goes to metadata, so the UI plots it over time.
        row = frame.row(0, named=True) if frame.height == 1 else {}
        figures = {c: float(v) for c, v in row.items() if frame.schema[c].is_numeric() and v is not None}
        yield from write_checked(context, lake.lake, reports, key, keys, frame, **figures)
        if alerts:
            verdict = gates.alert_levels(figures, indicators.alerts())
            yield checks.check_result(reports, key, "alert_levels", keys, verdict, False, details=figures)

    return _asset


BANNER_DAY_ASSETS = [_model_asset(m) for m in MODELS if m.dimensions == ("date", "banner")]
DAY_ASSETS = [_model_asset(m) for m in MODELS if m.dimensions == ("date",)]
MONTH_ASSETS = [_model_asset(m) for m in MODELS if m.dimensions == ("month",)]
CASE_ASSISTANCE = next(a for a in MONTH_ASSETS if a.key == dg.AssetKey(["gold", "case_assistance_monthly"]))
NETWORK_MONTH_ASSETS = [a for a in MONTH_ASSETS if a is not CASE_ASSISTANCE]
HISTORY_ASSETS = [_model_asset(m) for m in MODELS if m.dimensions == ()]  # rebuilt from all days: fault episodes
