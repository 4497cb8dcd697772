"""Outcomes, per month: the police case export → silver.cases, and the leadership report over the month's gold."""


import dagster as dg
import polars as pl

from assets import automation
from assets.lake_io import harvest_asset, harvested_spec, write_harvest
from xl_pipelines import cases
from xl_pipelines.banners import load_banners
from xl_pipelines.partitions import MONTH, partition_keys
from xl_pipelines.quarantine import no_records
from xl_pipelines.resources import ClockResource, LakeResource, LandingResource, ReportsResource

GROUP = "outcomes"
CASES = dg.AssetKey(["silver", "cases"])
CASES_QUARANTINE = dg.AssetKey(["quarantine", "cases"])
REPORT_INPUTS = [dg.AssetKey(["gold", t]) for t in ("banner_monthly_kpis", "case_assistance_monthly",
                                                     "camera_monthly_health", "fault_repairs", "image_fault_monthly")]


@harvest_asset(
    harvested_spec(CASES, "Every case of the month's case-management export (cases/<YYYY-MM>.csv), one row per "
                          "case opened that month: category, whether video assisted, cameras used, outcomes. "
                          "Case records name no persons.", GROUP),
    harvested_spec(CASES_QUARANTINE, "Export lines that were rejected (malformed, unknown banner or category, "
                                     "bad time, re-exported…), with file, line and reason.", GROUP),
    partitions_def=MONTH,
)
def case_harvest(context: dg.AssetExecutionContext, lake: LakeResource, landing: LandingResource,
                 reports: ReportsResource, clock: ClockResource):
    keys = partition_keys(context)
    listing = landing.case_files(keys["month"])
    if not listing.files and not listing.refused.height:
        raise dg.Failure(f"no case export for {keys['month']}: {landing.case_export(keys['month'])} has not arrived")
    with listing.reading():  # a refused export (a link, compressed…) gives no case: the listing's record is all
        harvest = (cases.harvest_cases(listing.files[0], keys["month"], load_banners(), now=clock.time())
                   if listing.files else no_records("cases", pl.DataFrame(schema=cases.SCHEMA), citywide=True))
    yield from write_harvest(context, lake.lake, CASES, CASES_QUARANTINE, keys, "cases", harvest, listing, reports)


@dg.asset(key=["reports", "leadership_monthly"], deps=REPORT_INPUTS + [dg.AssetKey(["gold", "city_daily_kpis"])],
          partitions_def=MONTH, group_name=GROUP, kinds={"html"}, automation_condition=automation.AFTER_INPUTS)
def leadership_report(context: dg.AssetExecutionContext, lake: LakeResource, reports: ReportsResource) -> dg.MaterializeResult:
    """`$XL_HOME/reports/leadership/<YYYY-MM>.html`: the month for leadership, in Chinese and English, offline:
    outcomes per banner, network indicators against targets with the ranking, trends, the worst cameras, repairs,
    image faults by kind."""
    path = reports.write_leadership(lake.lake, partition_keys(context)["month"])
    return dg.MaterializeResult(metadata={"path": dg.MetadataValue.path(str(path))})


ASSETS = [case_harvest]
