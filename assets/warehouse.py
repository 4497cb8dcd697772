"""The analysts' DuckDB file: views over every lake table, rebuilt whenever the lake changes."""

import dagster as dg

from xl_pipelines.resources import LakeResource
from xl_pipelines.settings import get_settings
from xl_pipelines.warehouse import refresh_views


def build(lake_assets: list[dg.AssetKey]) -> dg.AssetsDefinition:
    @dg.asset(
        key="xl_duckdb",
        deps=lake_assets,
        group_name="warehouse",
        kinds={"duckdb"},
        automation_condition=dg.AutomationCondition.eager(),
    )
    def xl_duckdb(lake: LakeResource) -> dg.MaterializeResult:
        """`$XL_HOME/xl.duckdb`: one view per lake table (schemas bronze, silver, gold, quarantine), nothing else."""
        path = get_settings().warehouse_path
        views = refresh_views(lake.lake, path)
        return dg.MaterializeResult(metadata={"path": str(path), "views": dg.MetadataValue.json(views)})

    return xl_duckdb
