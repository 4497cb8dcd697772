"""The few lines every lake-writing asset shares: write a partition, describe it in metadata."""

from pathlib import Path

import dagster as dg
import polars as pl

from quality import checks
from xl_pipelines.lake import Lake
from xl_pipelines.landing import Listing, refused_rows
from xl_pipelines.partitions import BANNER_DAY
from xl_pipelines.quarantine import Harvest
from xl_pipelines.resources import ReportsResource


def harvested_spec(key: dg.AssetKey, description: str, group: str, deps=()) -> dg.AssetSpec:
    """A table a harvest lands (bronze or quarantine): Parquet, in its domain's group, due by its deadline."""
    return dg.AssetSpec(key, description=description, group_name=group, kinds={"parquet"}, deps=deps,
                        freshness_policy=checks.freshness_policy(key))


def harvest_asset(table: dg.AssetSpec, quarantine: dg.AssetSpec, partitions_def: dg.PartitionsDefinition = BANNER_DAY,
                  more_checks: tuple[dg.AssetCheckSpec, ...] = ()):
    """The decorator of a harvest: a table and its quarantine per partition (a banner-day unless said), both
    checked as they land (reconciled, rejected share, and their suites' expectations, `checks.validated`)."""
    return dg.multi_asset(specs=[table, quarantine], partitions_def=partitions_def, check_specs=[
        *checks.harvest_check_specs(table.key), *more_checks, *checks.expectations(table.key, partitions_def),
        *checks.expectations(quarantine.key, partitions_def)])


def rows(frame: pl.DataFrame | pl.LazyFrame) -> int:
    """Rows of a frame, or of a harvest's spilled pieces (from their footers)."""
    return frame.height if isinstance(frame, pl.DataFrame) else frame.select(pl.len()).collect().item()


def write_table(lake: Lake, key: dg.AssetKey, keys: dict[str, str], frame: pl.DataFrame | pl.LazyFrame,
                **metadata) -> tuple[dg.MaterializeResult, pl.DataFrame | pl.LazyFrame]:
    """Replace the partition of the table named by the asset key (layer/table); its report, and what was written."""
    layer, table = key.path
    written = lake.write(layer, table, keys, frame)
    return dg.MaterializeResult(asset_key=key, metadata={
        "rows": rows(written), "path": str(lake.partition_path(layer, table, keys)), **metadata}), written


def write_checked(context: dg.AssetExecutionContext, lake: Lake, reports: ReportsResource, key: dg.AssetKey,
                  keys: dict[str, str], frame: pl.DataFrame, **metadata):
    """Write the step's partition of the table (write_table), then judge what was written against its suite."""
    result, written = write_table(lake, key, keys, frame, **metadata)
    yield result
    yield from checks.validated(context, lake, reports, {key: written})


def with_refused(harvest: Harvest, listing: Listing, source: str) -> Harvest:
    """The harvest with the files its listing refused (links, FIFOs, too large, compressed…) read and
    quarantined, one record each: the parsers never see them, and read = accepted + quarantined still holds."""
    if not listing.refused.height:
        return harvest
    rows = refused_rows(listing, source, harvest.quarantined.schema)
    return Harvest(harvest.accepted, pl.concat([harvest.quarantined, rows]), harvest.read + rows.height)


def write_harvest(context: dg.AssetExecutionContext, lake: Lake, bronze: dg.AssetKey, quarantine: dg.AssetKey,
                  keys: dict[str, str], source: str, harvest: Harvest, listing: Listing, reports: ReportsResource,
                  unfinished: list[Path] = ()):
    """Land the step's harvest (and the files its listing refused): accepted rows in bronze, rejected rows in
    quarantine, then check what landed and judge both tables against their suites, keeping the checks' results
    through `reports` (the asset's resource). `unfinished`: hour files left for the next run
    (HarvestScope.finished), named by the `landed` check."""
    harvest = with_refused(harvest, listing, source)
    counted = harvest.quarantined.group_by("reason").len().sort("reason")
    reasons = dict(zip(counted["reason"], counted["len"], strict=True))
    counts = {"read": harvest.read, "accepted": rows(harvest.accepted), "quarantined": harvest.quarantined.height}
    result, accepted = write_table(lake, bronze, keys, harvest.accepted, **counts)
    yield result
    rejected = (harvest.quarantined if "code" in harvest.quarantined.columns  # a city-wide source names its own
                else harvest.quarantined.select(pl.lit(keys["banner"]).alias("code"), pl.all()))
    result, rejected = write_table(lake, quarantine, keys, rejected, **counts, reasons=dg.MetadataValue.json(reasons))
    yield result
    yield from checks.harvest_checks(lake, reports, bronze, quarantine, keys, source,
                                     harvest.read, reasons, [path.name for path in unfinished])
    yield from checks.validated(context, lake, reports, {bronze: accepted, quarantine: rejected})
