"""What follows every lake change: the analysts' DuckDB views and the quality report."""

import dagster as dg

from xl_pipelines.resources import LakeResource, ReportsResource, WarehouseResource


def build(lake_assets: list[dg.AssetKey]) -> list[dg.AssetsDefinition]:
    def after_lake(key: str, kind: str):
        return dg.asset(key=key, deps=lake_assets, group_name="warehouse", kinds={kind},
                        automation_condition=dg.AutomationCondition.eager())

    @after_lake("xl_duckdb", "duckdb")
    def xl_duckdb(lake: LakeResource, warehouse: WarehouseResource) -> dg.MaterializeResult:
        """`$XL_HOME/xl.duckdb`: one view per lake table (schemas bronze, silver, gold, quarantine), nothing else."""
        views = warehouse.refresh(lake.lake)
        return dg.MaterializeResult(metadata={"path": str(warehouse.path), "views": dg.MetadataValue.json(views)})

    @after_lake("quality_report", "html")
    def quality_report_html(reports: ReportsResource) -> dg.MaterializeResult:
        """`$XL_HOME/reports/quality/index.html`: the latest result of every check per table, readable offline."""
        path = reports.render_quality()
        return dg.MaterializeResult(metadata={"path": dg.MetadataValue.path(str(path))})

    return [xl_duckdb, quality_report_html]
