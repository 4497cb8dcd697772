"""One asset per SQL model in dbt_like_sql/: its inputs become deps, its leading comment the description."""

import dagster as dg

from assets import outcomes
from assets.lake_io import write_table
from quality import checks
from xl_pipelines import quality
from xl_pipelines.banners import load_banners
from xl_pipelines.partitions import ALL_BANNERS_OF_DAY, BANNER_DAY, DAY, MONTH, partition_keys
from xl_pipelines.resources import LakeResource
from xl_pipelines.sql_models import SqlModel, load_models, missing_inputs, run_model

PARTITIONS = {("date", "banner"): BANNER_DAY, ("date",): DAY, ("month",): MONTH, (): None}
HARVESTED_BY_MONTH = {tuple(key.path) for a in outcomes.ASSETS for key in a.keys}


def _mapping(model: SqlModel, layer: str, table: str) -> dg.PartitionMapping | None:
    """How a city-wide model reads a banner-day input: every banner of its day(s); otherwise Dagster's default
    (the same partition, or the days of a month)."""
    upstream = next((m.dimensions for m in MODELS if layer == "gold" and m.name == table),
                    ("month",) if (layer, table) in HARVESTED_BY_MONTH else ("date", "banner"))
    city_wide = model.dimensions == ("date",)  # a model not partitioned reads every partition (Dagster's default)
    return ALL_BANNERS_OF_DAY if city_wide and upstream == ("date", "banner") else None


def _model_asset(model: SqlModel) -> dg.AssetsDefinition:
    key = dg.AssetKey(["gold", model.name])
    check_specs = [dg.AssetCheckSpec("alert_levels", asset=key, description=(
        "A warning when a rate is under its alert level in quality/thresholds.yaml `indicators`."))
        ] if "alert_levels" in model.checks else []

    @dg.asset(
        key=key,
        description=model.description,
        deps=[dg.AssetDep(dg.AssetKey([layer, table]), partition_mapping=_mapping(model, layer, table))
              for layer, table in model.inputs],
        partitions_def=PARTITIONS[model.dimensions],
        group_name="gold",
        kinds={"duckdb", "parquet"},
        # city days and months follow their inputs (a late or re-run banner-day updates its month too)
        automation_condition=dg.AutomationCondition.eager() if "banner" not in model.dimensions else None,
        check_specs=check_specs,
    )
    def _asset(context: dg.AssetExecutionContext, lake: LakeResource):
        keys = partition_keys(context) if context.has_partition_key else {}  # {}: a model of all history
        missing = missing_inputs(model, lake.lake, keys, load_banners())
        if missing:
            raise dg.Failure(f"{model.name} {' '.join(keys.values())} not built: missing "
                             f"{', '.join(f'{table} {code}' for table, code in missing)} "
                             "(blocked by a check, or not materialised yet)")
        frame = run_model(model, lake.lake, keys, load_banners())
        # A one-row result (a banner-day's or the city's KPIs) goes to metadata, so the UI plots it over time.
        row = frame.row(0, named=True) if frame.height == 1 else {}
        figures = {c: float(v) for c, v in row.items() if frame.schema[c].is_numeric() and v is not None}
        yield write_table(lake.lake, key, keys, frame, **figures)
        if check_specs:
            verdict = quality.alert_levels(figures, quality.load_thresholds().indicators)
            yield checks.check_result(key, "alert_levels", keys, verdict, False, details=figures)

    return _asset


MODELS = load_models()
BANNER_DAY_ASSETS = [_model_asset(m) for m in MODELS if m.dimensions == ("date", "banner")]
DAY_ASSETS = [_model_asset(m) for m in MODELS if m.dimensions == ("date",)]
MONTH_ASSETS = [_model_asset(m) for m in MODELS if m.dimensions == ("month",)]
CASE_ASSISTANCE = next(a for a in MONTH_ASSETS if a.key == dg.AssetKey(["gold", "case_assistance_monthly"]))
NETWORK_MONTH_ASSETS = [a for a in MONTH_ASSETS if a is not CASE_ASSISTANCE]
HISTORY_ASSETS = [_model_asset(m) for m in MODELS if m.dimensions == ()]  # rebuilt from all days: fault episodes
