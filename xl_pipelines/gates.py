"""Quality gates as pure functions: the thresholds file, Great Expectations suites, the harvest verdicts.

Suites and thresholds are data in `quality/` that governance edits; nothing here knows about Dagster.
Great Expectations (1.x, its pandas execution engine) is imported on first use: about 3 CPU s, which the
runner's fork server pays once for all its workers. It judges every expectation; what it prepares for that
from the suite alone is prepared once per process (bench/profile.md, fifth session, helper gx).
"""

from __future__ import annotations

import copy
import datetime as dt
import functools
import hashlib
import json
import os
import traceback
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl
import yaml

from xl_pipelines.settings import ConfigError

QUALITY_DIR = Path(__file__).resolve().parent.parent / "quality"
SAMPLE_VALUES = 5  # unexpected values shown per failed expectation
ERROR, WARN = "ERROR", "WARN"


@dataclass(frozen=True)
class Thresholds:
    quarantine: dict[str, dict]  # source -> {warn, block, min_count, not_counted}
    freshness: dict[str, str]  # layer.table -> "HH:MM" local
    limits: dict[str, float]  # name -> value the SQL models compute indicators with (context.limits)


@functools.cache
def load_thresholds(path: Path = QUALITY_DIR / "thresholds.yaml") -> Thresholds:
    """The one thresholds file; a missing or incomplete file is a ConfigError naming what is wrong."""
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
        thresholds = Thresholds(raw["quarantine"], raw["freshness"], raw["limits"])
    except (OSError, yaml.YAMLError, KeyError, TypeError) as exc:
        raise ConfigError(f"{path}: cannot read the thresholds ({exc})") from None
    for source, levels in thresholds.quarantine.items():
        if not 0 <= levels.get("warn", -1) <= levels.get("block", -1) <= 1:
            raise ConfigError(f"{path}: quarantine.{source} needs 0 <= warn <= block <= 1, got {levels}")
        if type(levels.get("min_count")) is not int or levels["min_count"] < 1:
            raise ConfigError(f"{path}: quarantine.{source}.min_count must be a whole number >= 1, "
                              f"got {levels.get('min_count')!r}")
    for name, value in thresholds.limits.items():
        if not isinstance(value, int | float) or value < 0:
            raise ConfigError(f"{path}: limits.{name} must be a number >= 0, got {value!r}")
    return thresholds


@functools.cache
def quarantine_reasons(path: Path = QUALITY_DIR / "quarantine_reasons.yaml") -> dict[str, dict[str, str]]:
    """source -> reason -> what it means, as governance reads it."""
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def suite_path(table: str) -> Path:
    return QUALITY_DIR / "suites" / f"{table}.json"


def suite_tables() -> list[str]:
    """`layer.table` of every suite file."""
    return sorted(p.stem for p in (QUALITY_DIR / "suites").glob("*.json"))


@functools.cache
def load_suite(table: str) -> dict:
    """The suite file, with its `version`: the digest of its text (what the GX configurations are cached by)."""
    try:
        text = suite_path(table).read_text(encoding="utf-8")
        return {**json.loads(text), "version": hashlib.sha256(text.encode()).hexdigest()[:16]}
    except (OSError, json.JSONDecodeError) as exc:
        raise ConfigError(f"{suite_path(table)}: cannot read the suite ({exc})") from None


@dataclass(frozen=True)
class Failure:
    expectation: str
    column: str | None
    severity: str  # ERROR or WARN
    unexpected: int | None
    elements: int | None
    sample: list
    observed: str | None = None  # for table-level expectations: what was seen instead


@dataclass(frozen=True)
class SuiteResult:
    table: str
    evaluated: int
    failures: list[Failure] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return not self.failures

    @property
    def severity(self) -> str:
        """ERROR when any critical expectation failed, else WARN."""
        return ERROR if any(f.severity == ERROR for f in self.failures) else WARN

    def as_dict(self) -> dict:
        return {"table": self.table, "evaluated": self.evaluated, "passed": self.passed,
                "failures": [f.__dict__ for f in self.failures]}


BATCH_ID = "xl-partition"  # the id each partition is loaded under; the metric graphs built once name it
BOOLEAN = {"result_format": {"result_format": "BOOLEAN_ONLY"}}  # pass or fail alone
SUMMARY = {"result_format": {"result_format": "SUMMARY", "partial_unexpected_count": SAMPLE_VALUES}}


@functools.cache
def _validator():
    """One GX Validator for the process, on a pandas execution engine of its own without GX's metric cache.

    Each partition is loaded into it under BATCH_ID and every metric graph is resolved anew on it: the cache
    never served a new partition, and only kept the last value of every suite's metrics (a boolean series per
    condition of a table's last partition) alive for the life of the process. No data context: validating
    needs none.
    """
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")
    from great_expectations.execution_engine import PandasExecutionEngine
    from great_expectations.validator.validator import Validator

    validator = Validator(execution_engine=PandasExecutionEngine(caching=False))
    validator.metrics_calculator.show_progress_bars = False
    return validator


_CONFIGURATIONS: dict[tuple[str, str], list] = {}  # (suite name, version) → its GX configurations


def _suite_configurations(suite: dict) -> list:
    """A suite's expectations as GX validates them, built once per process and version of the suite: each made an
    Expectation (an invalid one raises here, naming itself) and held by an ExpectationSuite, as GX's own are."""
    import great_expectations as gx
    from great_expectations.expectations.expectation_configuration import ExpectationConfiguration

    key = (suite["name"], suite["version"])
    if key not in _CONFIGURATIONS:
        domain = [ExpectationConfiguration(**e).to_domain_obj() for e in suite["expectations"]]
        _CONFIGURATIONS[key] = gx.ExpectationSuite(name=suite["name"], expectations=domain).expectation_configurations
    return _CONFIGURATIONS[key]


@dataclass
class _Plan:
    """One expectation made ready once for every partition of one schema, as `Validator.graph_validate` and
    `Expectation.metrics_validate` make it ready on each call (GX rebuilds the expectation's configuration
    hundreds of times doing so): its configuration naming the batch, its Expectation, the metrics it is judged
    on and their graph, or the error GX met building that graph."""

    configuration: object  # ExpectationConfiguration
    expectation: object  # Expectation
    dependencies: object  # ValidationDependencies: its metrics by name, its parsed result format
    graph: object | None  # ExpectationValidationGraph
    error: object | None = None  # ExceptionInfo


# (identity of a configuration held in _CONFIGURATIONS, schema, result format) → its plan. By schema, as GX
# prepares on the loaded batch: its column-type expectations choose their metrics from the column types. A plan
# must depend on nothing else of the batch (no values): true of every kind the suites use, each compared with a
# fresh GX validation on frames of other values in tests/test_gates_reuse.py; a kind added must be too. The
# identity holds: the configurations live as long as the process in _CONFIGURATIONS, and GX's ordering hands the
# same objects back (tested).
_PLANS: dict[tuple[int, tuple, str], _Plan] = {}


def _plan(configuration, schema: tuple, runtime: dict) -> _Plan:
    key = (id(configuration), schema, json.dumps(runtime, sort_keys=True))
    if key not in _PLANS:
        from great_expectations.validator.validation_graph import ExpectationValidationGraph

        validator = _validator()
        named = copy.deepcopy(configuration)
        named.kwargs.update({"batch_id": BATCH_ID})
        expectation = named.to_domain_obj()
        dependencies = expectation.get_validation_dependencies(execution_engine=validator.execution_engine,
                                                               runtime_configuration=runtime)
        try:
            graph = validator.metrics_calculator.build_metric_dependency_graph(
                metric_configurations=dependencies.get_metric_configurations(), runtime_configuration=runtime)
            graph = ExpectationValidationGraph(configuration=named, graph=graph)
            _PLANS[key] = _Plan(named, expectation, dependencies, graph)
        except Exception as exc:  # as graph_validate: the expectation fails with it, the others are judged
            _PLANS[key] = _Plan(named, expectation, dependencies, None, _exception_info(exc))
    return _PLANS[key]


def _judge(plan: _Plan, metrics: dict, runtime: dict):
    """`Expectation.metrics_validate` with the dependencies found once: the expectation's own `_validate` (what
    every GX expectation implements) judges the metrics it names, its result trimmed to the result format."""
    from great_expectations.expectations.expectation import _validate_dependencies_against_available_metrics

    runtime = copy.deepcopy({**runtime, "result_format": plan.dependencies.result_format})
    _validate_dependencies_against_available_metrics(plan.dependencies.get_metric_configurations(), metrics)
    named = {name: metrics[metric.id] for name, metric in plan.dependencies.metric_configurations.items()}
    result = plan.expectation._validate(metrics=named, runtime_configuration=runtime,
                                        execution_engine=_validator().execution_engine)
    if runtime["result_format"]["result_format"] == "BOOLEAN_ONLY":  # no unexpected_index_query is asked for
        if isinstance(result, dict):
            result["result"] = {}
        else:
            result.result = {}
    return plan.expectation._build_evr(raw_response=result)


def _exception_info(exc: Exception):
    from great_expectations.validator.exception_info import ExceptionInfo

    return ExceptionInfo(exception_traceback=traceback.format_exc(), exception_message=str(exc))


def _failed(plan: _Plan, info):
    """The result of an expectation GX could not judge: failed, with what went wrong."""
    from great_expectations.core.expectation_validation_result import ExpectationValidationResult

    return ExpectationValidationResult(success=False, exception_info=info, expectation_config=plan.configuration)


def _run_suite(data, configurations: list, runtime: dict) -> list[tuple[object, object]]:
    """`Validator.graph_validate` on plans built once: only the metrics are computed on the new partition.

    The same steps in the same order, each GX's own: the Validator orders the expectations (by column) and
    substitutes suite parameters; an expectation whose graph could not be built fails with that error; one graph
    of all metrics is resolved; an expectation whose metric failed fails with it; GX judges every other from the
    metrics. Each configuration given, with its result.
    """
    from great_expectations.validator.validation_graph import ValidationGraph

    validator = _validator()
    engine = validator.execution_engine
    engine.load_batch_data(BATCH_ID, data)
    schema = tuple(zip(data.columns, map(str, data.dtypes), strict=True))
    plans = [(c, _plan(c, schema, runtime)) for c in validator.process_expectations_for_validation(configurations)]
    results = [(c, _failed(p, p.error))
               for c, p in plans if p.error]
    ready = [(c, p) for c, p in plans if not p.error]
    try:
        metrics, aborted = validator.metrics_calculator.resolve_validation_graph(
            ValidationGraph(engine, edges=[edge for _, p in ready for edge in p.graph.graph.edges]), runtime)
    except Exception as exc:  # a failure no metric is named for: every expectation fails with it
        info = _exception_info(exc)
        return results + [(c, _failed(p, info))
                          for c, p in ready]
    rejected = set()  # plans whose metrics failed
    for c, p in ready if aborted else []:
        if info := p.graph.get_exception_info(metric_info=aborted):
            results.append((c, _failed(p, info)))
            rejected.add(id(p))
    for c, p in ready:
        if id(p) in rejected:
            continue
        try:
            result = _judge(p, metrics, runtime)
        except Exception as exc:
            result = _failed(p, _exception_info(exc))
        results.append((c, result))
    return results


# Expectations that read a table's column names and length, never its values: a column no other expectation of
# the suite names reaches them as a placeholder (`_batch`). Any other kind that names no column may read every one.
NAMES_ONLY = frozenset({"expect_table_row_count_to_be_between", "expect_table_row_count_to_equal",
                        "expect_table_columns_to_match_set", "expect_table_columns_to_match_ordered_list",
                        "expect_table_column_count_to_equal", "expect_table_column_count_to_be_between"})


def _named(kwargs: dict) -> list[str]:
    """The columns an expectation's kwargs name."""
    return [kwargs[k] for k in ("column", "column_A", "column_B") if k in kwargs] + list(kwargs.get("column_list", []))


def read_columns(suite: dict) -> set[str] | None:
    """The columns whose values the suite's expectations read, or None when one of them may read any (a kind not
    known to read names only, or a row condition)."""
    read: set[str] = set()
    for expectation in suite["expectations"]:
        kwargs, named = expectation["kwargs"], _named(expectation["kwargs"])
        if "row_condition" in kwargs or not (named or expectation["type"] in NAMES_ONLY):
            return None
        read.update(named)
    return read


def validate(frame: pl.DataFrame, suite: dict) -> SuiteResult:
    """`validate_columns` of a frame held whole."""
    return validate_columns(frame.columns, frame.select, suite)


def validate_columns(names: list[str], read: Callable[[list[str]], pl.DataFrame], suite: dict) -> SuiteResult:
    """Run a suite over one partition with columns `names`, a group of columns at a time (`_groups`: each read by
    `read(columns)` when its expectations are judged, let go before the next is read); name each failed expectation,
    in the suite's order, with its count and a few values.

    Every expectation is first judged pass/fail alone (GX's BOOLEAN_ONLY, about half the work of counting); only
    those that failed are run again to count and sample what they found, so a clean partition pays for no lists.
    """
    import pandas as pd

    configurations = _suite_configurations(suite)
    described = []
    try:
        with warnings.catch_warnings():  # GX 1.24 reads tz-aware columns through an API pandas 3.1 deprecates
            warnings.filterwarnings("ignore", message=".*drops timezone information.*")
            for columns, group in _groups(configurations, names, read_columns(suite) is None):
                data = _batch(names, read, columns)
                failed = [configuration for configuration, result in _run_suite(data, group, BOOLEAN)
                          if not result.success]
                described += _run_suite(data, failed, SUMMARY) if failed else []
                del data  # the engine still holds it: released when the next group's batch is loaded
                _validator().execution_engine.load_batch_data(BATCH_ID, pd.DataFrame())
    finally:  # the engine keeps its batch until the next is loaded: not the partition, for the rest of the step
        _validator().execution_engine.load_batch_data(BATCH_ID, pd.DataFrame())
    order = {id(configuration): position for position, configuration in enumerate(configurations)}
    described.sort(key=lambda judged: order[id(judged[0])])
    return SuiteResult(suite["name"], len(configurations), [_failure(result) for _, result in described])


def _groups(configurations: list, names: list[str], any_column: bool) -> list[tuple[set[str] | None, list]]:
    """The suite's expectations in groups that read no column of the table (`names`) in common, each with the
    columns it reads: a city banner's captures held as one pandas frame (2 GB) while GX judged its compound key on
    it (+1.8 GB) came near 4 GiB; judged group by group, at most the key's three columns are held. Expectations
    that read no column of the table (its names or length alone, or a column it lacks) join the first group; when
    one may read `any_column`, all are one group reading all (None)."""
    if any_column:
        return [(None, configurations)]
    groups: list[tuple[set[str], list]] = []
    alone = []
    for configuration in configurations:
        named = set(_named(configuration.kwargs)).intersection(names)
        if not named:
            alone.append(configuration)
            continue
        joined = [g for g in groups if g[0] & named]
        groups = [g for g in groups if all(g is not j for j in joined)] + [
            (named.union(*(g[0] for g in joined)), [c for g in joined for c in g[1]] + [configuration])]
    first, *rest = groups or [(set(), [])]
    return [(first[0], first[1] + alone), *rest]


def _batch(names: list[str], read: Callable[[list[str]], pl.DataFrame], columns: set[str] | None):
    """The pandas frame GX judges: the `columns` read (all `names` when None), each alone and converted before the
    next is read, and the frame made of them without a copy (read whole, converted whole and copied again into the
    frame, a city banner's captures held three copies at once), and each other column a placeholder of no values
    (an empty category: a byte a row), so that GX, which copies every column of the frame at each column's null
    filter, copies little beside what it judges."""
    import numpy as np
    import pandas as pd

    # at least one column is read, for the length of a table judged by its names alone
    wanted = [n for n in names if columns is None or n in columns] or names[:1]
    converted = {name: read([name]).to_series().to_pandas() for name in wanted}
    height = len(converted[wanted[0]])
    return pd.DataFrame({name: converted.pop(name) if name in converted else
                         pd.Categorical.from_codes(np.full(height, -1, np.int8), categories=[]) for name in names},
                        copy=False)  # a frame built from a dict copies each column unless told not to


def _failure(described) -> Failure:
    """A failed expectation's SUMMARY result, as the report names it."""
    config, result = described.expectation_config, described.result or {}
    observed = _exception_message(described.exception_info) or result.get("observed_value")
    return Failure(
        expectation=config.type,
        column=config.kwargs.get("column") or ",".join(config.kwargs.get("column_list") or []) or None,
        severity=ERROR if str(config.severity).lower().endswith("critical") else WARN,
        unexpected=result.get("unexpected_count"),
        elements=result.get("element_count"),
        sample=[_plain(v) for v in (result.get("partial_unexpected_list") or [])][:SAMPLE_VALUES],
        observed=None if observed is None else str(observed)[:300],
    )


def _exception_message(info: dict | None) -> str | None:
    """GX nests exceptions by metric; the first message says what went wrong (e.g. a missing column)."""
    if not info:
        return None
    if "exception_message" in info:
        return info["exception_message"]
    return next((v.get("exception_message") for v in info.values() if isinstance(v, dict)), None)


def _plain(value) -> object:
    """A JSON-safe form of a sample value (timestamps, numpy scalars)."""
    return value if isinstance(value, (str, int, float, bool)) or value is None else str(value)


@dataclass(frozen=True)
class Verdict:
    """The outcome of one rule check: passed, or failed with a severity and a one-line reason."""

    passed: bool
    severity: str
    description: str


def due_day(now: dt.datetime, deadline: dt.time) -> dt.date:
    """The latest day whose partition must exist at local time `now`: yesterday once today's deadline passed."""
    return now.date() - dt.timedelta(days=1 if now.time() >= deadline else 2)


def reconciliation(read: int, accepted: int, quarantined: int) -> Verdict:
    """Nothing lost, nothing invented: records read = rows accepted + rows quarantined."""
    if read == accepted + quarantined:
        return Verdict(True, ERROR, f"{read} read = {accepted} accepted + {quarantined} quarantined")
    return Verdict(False, ERROR, f"{read} read but {accepted} accepted + {quarantined} quarantined "
                                 f"= {accepted + quarantined}: {read - accepted - quarantined:+d} unaccounted")


def rejected_share(read: int, counted: int, warn: float, block: float, min_count: int) -> Verdict:
    """Counted quarantined records / read against the source's warn and block levels (above a level fires).

    The share blocks only when at least `min_count` records were counted: fewer are one incident (a file, a
    camera), not a rate, and a share of a handful says nothing about the source; they may still warn.
    """
    share = counted / read if read else 0.0
    text = (f"{counted} of {read} records rejected ({share:.2%}; warn above {warn:.0%}, block above {block:.0%} "
            f"from {min_count} records)")
    if share > block and counted >= min_count:
        return Verdict(False, ERROR, text)
    if share > warn:
        return Verdict(False, WARN, text)
    return Verdict(True, WARN, text)


# Where each harvested source lands, and what the figures lose when nothing landed there (the `landed` check).
LANDING = {
    "catalog": ("catalog/{date}/{banner}", "no registry of its own: the previous day's is kept; without one nothing is placed"),
    "status_polls": ("status/{date}/{banner}", "online rate unmeasured"),
    "device_status": ("devicestatus/{date}/{banner}", "clock accuracy, Record and Encode unmeasured"),
    "record_index": ("recordinfo/{date}/{banner}", "recording completeness from storage alone"),
    "recordings": ("recordings {banner}/*/{date}", "recording completeness from the devices' index alone"),
    "captures": ("viid/{date}/{banner} and onvif/{date}/{banner}", "capture figures unmeasured"),
    "keepalives": ("viid_keepalive/{date}/{banner}", "capture devices' online rate unmeasured"),
    "cases": ("cases/{month}.csv", "case outcomes unmeasured"),
}


LANDED = "landed"  # the check each harvested source carries (quality/checks.py)


def unlanded(check: str, passed: bool) -> bool:
    """Whether a check's result says a source's landing folder was empty (the run's line and the quality
    report name those first)."""
    return check == LANDED and not passed


def landed(source: str, keys: dict[str, str], read: int) -> Verdict:
    """Did the source's landing folder of the partition hold any record? If not, say what goes unmeasured."""
    folder, unmeasured = LANDING[source]
    folder = folder.format(**keys)
    if read:
        return Verdict(True, WARN, f"{read} records read from {folder}")
    return Verdict(False, WARN, f"{folder} empty: {unmeasured}")


def alert_levels(figures: dict[str, float | None], alerts: dict[str, float]) -> Verdict:
    """A warning when any indicator in `figures` is under its alert level (`alerts`: name -> level; at the
    level is not under).

    Indicators with no value (nothing measured that day) are neither under nor above and are skipped.
    """
    measured = {name: value for name, value in figures.items() if name in alerts and value is not None}
    under = [f"{name} {value:.2%} < {alerts[name]:.0%}" for name, value in measured.items() if value < alerts[name]]
    if under:
        return Verdict(False, WARN, "under the alert level: " + "; ".join(under))
    return Verdict(True, WARN, f"{len(measured)} indicators at or above their alert levels")
