"""What follows every lake change: the analysts' DuckDB views and the quality report."""

import dagster as dg

from assets import automation
from xl_pipelines.resources import LakeResource, ReportsResource, WarehouseResource


def build(lake_assets: list[dg.AssetKey]) -> list[dg.AssetsDefinition]:
    """Both in one step: at each step's start Dagster lists every partition of every partitioned input it
    records provenance for (54 inputs × every banner-day since XL_START_DATE: seconds a step on two years of
    history, growing by the day), so a second step would pay it twice (bench/profile.md)."""
    def after_lake(key: str, kind: str, description: str) -> dg.AssetSpec:
        return dg.AssetSpec(key, deps=lake_assets, group_name="warehouse", kinds={kind}, description=description,
                            automation_condition=automation.AFTER_LAKE, skippable=True)

    @dg.multi_asset(specs=[
        after_lake("xl_duckdb", "duckdb", "`$XL_HOME/xl.duckdb`: one view per lake table (schemas bronze, silver, "
                                          "gold, quarantine), nothing else."),
        after_lake("quality_report", "html", "`$XL_HOME/reports/quality/index.html`: the latest result of every "
                                             "check per table, readable offline."),
    ], can_subset=True, name="warehouse_refresh")
    def warehouse_refresh(context: dg.AssetExecutionContext, lake: LakeResource, warehouse: WarehouseResource,
                          reports: ReportsResource):
        if dg.AssetKey("xl_duckdb") in context.selected_asset_keys:
            views = warehouse.refresh(lake.lake)
            yield dg.MaterializeResult(asset_key="xl_duckdb", metadata={
                "path": str(warehouse.path), "views": dg.MetadataValue.json(views)})
        if dg.AssetKey("quality_report") in context.selected_asset_keys:
            path = reports.render_quality()
            yield dg.MaterializeResult(asset_key="quality_report", metadata={"path": dg.MetadataValue.path(str(path))})

    return [warehouse_refresh]
