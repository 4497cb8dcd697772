"""The check wiring: suites become asset checks per partition, harvests reconcile, harvested tables are due.

- Every `suites/<layer.table>.json` becomes the check `expectations` on that table, run per partition in the
  step that writes it. It blocks (ERROR) when the table feeds a gold table and a critical expectation fails;
  otherwise it warns.
- Every harvest checks its own partition in the same step: `reconciled` (read = accepted + quarantined,
  counted in the files that landed) and `rejected_share` (against thresholds.yaml), both blocking, and
  `landed` (a warning naming an empty landing folder and what goes unmeasured: a missing source stops nobody).
- Harvested tables declare by when yesterday's partition must exist (thresholds.yaml `freshness`): as a
  Dagster freshness policy, and as the check `yesterday_on_time` naming the banners that are missing.
Every result is also kept for the static quality report, through the `reports` resource (ReportsResource).
"""

import datetime as dt
import functools
import warnings
from collections.abc import Iterable, Iterator, Mapping

import dagster as dg
import polars as pl

from xl_pipelines import gates
from xl_pipelines.lake import Lake
from xl_pipelines.partitions import BANNER, HARVEST_AT, partition_keys
from xl_pipelines.resources import LakeResource, ReportsResource
from xl_pipelines.settings import LOCAL_TZ, ConfigError

SEVERITY = {gates.ERROR: dg.AssetCheckSeverity.ERROR, gates.WARN: dg.AssetCheckSeverity.WARN}
FRESHNESS_CHECK = "yesterday_on_time"
EXPECTATIONS = "expectations"


def table_name(key: dg.AssetKey) -> str:
    return ".".join(key.path)


def check_result(reports: ReportsResource, key: dg.AssetKey, check: str, keys: dict[str, str],
                 verdict: gates.Verdict, blocking: bool, details: dict | None = None,
                 metadata: dict | None = None) -> dg.AssetCheckResult:
    """The Dagster result of a check, once `reports` has kept it for the quality report."""
    reports.keep_check(table_name(key), check, keys, verdict, blocking, details)
    return dg.AssetCheckResult(asset_key=key, check_name=check, passed=verdict.passed,
                               severity=SEVERITY[verdict.severity], description=verdict.description,
                               metadata=metadata or {})


# --- Great Expectations suites -------------------------------------------------------------------------


def feeds_gold(assets: Iterable[dg.AssetsDefinition]) -> set[dg.AssetKey]:
    """The tables some gold table is built from, directly or not: their failed checks must block."""
    parents: dict[dg.AssetKey, set[dg.AssetKey]] = {}
    for a in assets:
        for key, deps in a.asset_deps.items():
            parents.setdefault(key, set()).update(deps)
    found: set[dg.AssetKey] = set()
    todo = [key for key in parents if key.path[0] == "gold"]
    while todo:
        for parent in parents.get(todo.pop(), ()):
            if parent not in found:
                found.add(parent)
                todo.append(parent)
    return found


def expectations(key: dg.AssetKey, partitions_def: dg.PartitionsDefinition | None) -> list[dg.AssetCheckSpec]:
    """The check `expectations` of `key`'s suite (none without one), for the asset that writes `key` to declare and
    run in its own step, after the write (`validated`): a separate check step would cost a step's machinery and
    event-log writes per table and partition (bench/profile.md). Whether it blocks is the graph's to say, once the
    graph is whole (`judged_by_graph`)."""
    table = table_name(key)
    if not gates.suite_path(table).is_file():
        return []
    suite = gates.load_suite(table)
    with warnings.catch_warnings():  # partitioned asset checks are a preview feature of Dagster 1.13 (pinned)
        warnings.simplefilter("ignore", dg.PreviewWarning)
        return [dg.AssetCheckSpec(EXPECTATIONS, asset=key, partitions_def=partitions_def,
                                  description=f"quality/suites/{table}.json ({len(suite['expectations'])} "
                                              f"expectations): {suite['meta']['notes']}")]


def judged_by_graph(groups: list[list[dg.AssetsDefinition]]) -> list[list[dg.AssetsDefinition]]:
    """The lake's assets (in `groups`, returned in the same shape) with each `expectations` check blocking exactly
    when its table feeds a gold table (feeds_gold): an error (ERROR) then stops what is built from the partition,
    otherwise it warns. A suite file no asset declares stops the load."""
    assets = [a for group in groups for a in group]
    declared = {spec.asset_key for a in assets for spec in a.check_specs if spec.name == EXPECTATIONS}
    written = {key for a in assets for key in a.keys}
    for table in gates.suite_tables():
        key = dg.AssetKey(table.split("."))
        if key not in written:
            raise ConfigError(f"{gates.suite_path(table)}: there is no table {table} to check")
        if key not in declared:
            raise ConfigError(f"{gates.suite_path(table)}: the asset writing {table} does not declare its "
                              "expectations (quality.checks.expectations)")
    blocking = feeds_gold(assets)
    return [[_blocking_where(a, blocking) for a in group] for group in groups]


def _blocking_where(asset: dg.AssetsDefinition, blocking: set[dg.AssetKey]) -> dg.AssetsDefinition:
    """`asset` with its `expectations` checks blocking on the tables in `blocking`. Dagster 1.13 (pinned) can change
    a check spec's metadata only (with_attributes), so this rebuilds the definition as with_attributes does."""
    specs = {name: spec._replace(blocking=spec.asset_key in blocking) if spec.name == EXPECTATIONS else spec
             for name, spec in asset.node_check_specs_by_output_name.items()}
    return dg.AssetsDefinition.dagster_internal_init(**{**asset.get_attributes_dict(), "check_specs_by_output_name": specs})


def validated(context: dg.AssetExecutionContext, lake: Lake, reports: ReportsResource,
              written: Mapping[dg.AssetKey, pl.DataFrame | pl.LazyFrame]) -> Iterator[dg.AssetCheckResult]:
    """The `expectations` checks of the tables the step has just `written` (Lake.write's frames), judged on what
    was written: a frame held as it is, a LazyFrame (streamed to the lake, never held) read back from the lake,
    only the columns its suite reads."""
    keys = partition_keys(context) if context.has_partition_key else {}
    for spec in context.assets_def.check_specs:
        if spec.name == EXPECTATIONS and spec.key in context.selected_asset_check_keys and spec.asset_key in written:
            frame, suite = written[spec.asset_key], gates.load_suite(table_name(spec.asset_key))
            result = gates.validate(frame, suite) if isinstance(frame, pl.DataFrame) else gates.validate_columns(
                lake.columns(*spec.asset_key.path, keys), functools.partial(lake.read, *spec.asset_key.path, keys), suite)
            yield _suite_result(reports, spec.asset_key, keys, result, spec.blocking)


def _suite_result(reports: ReportsResource, key: dg.AssetKey, keys: dict[str, str], result: gates.SuiteResult,
                  blocking: bool) -> dg.AssetCheckResult:
    severity = result.severity if blocking else gates.WARN
    failed = ", ".join(f"{f.expectation}({f.column or 'table'})" for f in result.failures)
    verdict = gates.Verdict(result.passed, severity, f"{result.evaluated - len(result.failures)} of "
                              f"{result.evaluated} expectations met" + (f"; failed: {failed}" if failed else ""))
    return check_result(reports, key, EXPECTATIONS, keys, verdict, blocking, details=result.as_dict(), metadata={
        "evaluated": result.evaluated, "failed": len(result.failures),
        "failures": dg.MetadataValue.md(_failure_table(result)) if result.failures else "none",
    })


def _failure_table(result: gates.SuiteResult) -> str:
    lines = ["| expectation | column | severity | unexpected | sample values |", "|---|---|---|---|---|"]
    for f in result.failures:
        count = f"{f.unexpected} of {f.elements}" if f.unexpected is not None else (f.observed or "")
        sample = ", ".join(str(v) for v in f.sample).replace("|", "/")
        lines.append(f"| {f.expectation} | {f.column or '(table)'} | {f.severity} | {count} | {sample} |")
    return "\n".join(lines)


# --- Harvest reconciliation and rejected share ---------------------------------------------------------


def harvest_check_specs(bronze: dg.AssetKey) -> list[dg.AssetCheckSpec]:
    return [
        dg.AssetCheckSpec("reconciled", asset=bronze, blocking=True,
                          description="Records read from the landing = rows landed in bronze + rows in quarantine "
                                      "(both counted in the Parquet that was written)."),
        dg.AssetCheckSpec(gates.LANDED, asset=bronze, blocking=False,
                          description="The source's landing folder held records; if not, a warning naming the "
                                      "folder and what the partition's figures leave unmeasured (null, not 0)."),
        dg.AssetCheckSpec("rejected_share", asset=bronze, blocking=True,
                          description="Quarantined / read (exact re-sends not counted): a warning above `warn`, "
                                      "blocking above `block` once `min_count` records are counted "
                                      "(quality/thresholds.yaml)."),
    ]


def harvest_checks(lake: Lake, reports: ReportsResource, bronze: dg.AssetKey, quarantine: dg.AssetKey,
                   keys: dict[str, str], source: str, read: int, reasons: dict[str, int],
                   unfinished: list[str] = ()) -> Iterator[dg.AssetCheckResult]:
    """Both harvest checks of one partition, from what the lake now holds; `landed` warns of `unfinished` files
    (hour files still being written, left for the next run)."""
    counts = {"read": read, "accepted": lake.count(*bronze.path, keys),
              "quarantined": lake.count(*quarantine.path, keys)}
    yield check_result(reports, bronze, "reconciled", keys, gates.reconciliation(**counts), True, counts, counts)
    landed = gates.landed(source, keys, read)
    if unfinished:
        landed = gates.Verdict(False, gates.WARN, f"{landed.description}; {', '.join(unfinished)} still being "
                                                  "written (the receiver's current hour): read the next run")
    yield check_result(reports, bronze, gates.LANDED, keys, landed, False, {"source": source})
    levels = gates.load_thresholds().quarantine[source]
    counted = counts["quarantined"] - sum(reasons.get(r, 0) for r in levels.get("not_counted", []))
    verdict = gates.rejected_share(read, counted, levels["warn"], levels["block"], levels["min_count"])
    yield check_result(reports, bronze, "rejected_share", keys, verdict, True, {**counts, "source": source, "reasons": reasons},
                       {**counts, "counted": counted, "share": counted / read if read else 0.0,
                        "warn": levels["warn"], "block": levels["block"], "min_count": levels["min_count"],
                        "reasons": dg.MetadataValue.json(reasons)})


# --- Freshness -----------------------------------------------------------------------------------------


def deadline(table: str) -> dt.time | None:
    """By when (local) yesterday's partition of `table` must exist, if thresholds.yaml says."""
    text = gates.load_thresholds().freshness.get(table)
    try:
        return None if text is None else dt.time.fromisoformat(text)
    except ValueError:
        raise ConfigError(f"thresholds.yaml freshness.{table}: {text!r} is not a time like 06:00") from None


def freshness_policy(key: dg.AssetKey) -> dg.FreshnessPolicy | None:
    """Shown in the UI: the table is fresh when it was materialised between the nightly run and the deadline."""
    due = deadline(table_name(key))
    if due is None:
        return None
    window = dt.datetime.combine(dt.date.min, due) - dt.datetime.combine(dt.date.min, HARVEST_AT)
    return dg.FreshnessPolicy.cron(deadline_cron=f"{due.minute} {due.hour} * * *", lower_bound_delta=window,
                                   timezone=str(LOCAL_TZ))


def freshness_check(keys: list[dg.AssetKey]) -> dg.AssetChecksDefinition:
    """`yesterday_on_time` on each harvested table: did all nine banners of the due day land in time?"""
    specs = [dg.AssetCheckSpec(FRESHNESS_CHECK, asset=key, description=(
        f"Yesterday's partition of all nine banners exists by {deadline(table_name(key))} local time.")) for key in keys]

    @dg.multi_asset_check(specs=specs, name="harvest_freshness")
    def _check(lake: LakeResource, reports: ReportsResource) -> Iterator[dg.AssetCheckResult]:
        now = dt.datetime.now(LOCAL_TZ)
        for key in keys:
            due = deadline(table_name(key))
            day = gates.due_day(now, due)
            banners = BANNER.get_partition_keys()
            missing = [b for b in banners if not lake.lake.exists(*key.path, {"date": day.isoformat(), "banner": b})]
            verdict = gates.Verdict(not missing, gates.WARN,
                                      f"{day}: {len(banners) - len(missing)} of {len(banners)} banners landed by "
                                      f"{due:%H:%M}" + (f"; missing {', '.join(missing)}" if missing else ""))
            yield check_result(reports, key, FRESHNESS_CHECK, {"date": day.isoformat()}, verdict, False,
                               metadata={"day": day.isoformat(), "missing": dg.MetadataValue.json(missing)})

    return _check
